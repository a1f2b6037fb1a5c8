#!/usr/bin/python3
# Workers killed (SIGKILL) with requests in flight, through the real stack.
# GET queries: nginx retries a request whose worker died on another worker
# (fastcgi_next_upstream error), so clients see 0 failures. Mutations (POST,
# never retried): createBookstore with unique names while workers are killed;
# afterwards each name exists at most once in MongoDB and every mutation
# answered 200 with data exists exactly once. Then the pool is back to full
# strength by itself (multiwatch), /healthz 200 and `oponn cache verify`
# finds 0 mismatches.
import json
import os
import signal
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import pymongo  # noqa: E402
import taplib  # noqa: E402

_stack = taplib._stack
t = taplib.Tap()
WORKERS = 2
KILLS = 6
CLIENTS = 8


def kill_workers(s, stop, kills):
    """Kills one worker at a time, each after the pool is whole again."""
    for _ in range(KILLS):
        pids = s.worker_pids()
        victim = pids[len(kills) % len(pids)]
        os.kill(victim, signal.SIGKILL)
        kills.append(victim)
        _stack.wait_until(lambda: len(s.worker_pids()) == WORKERS
                          and victim not in s.worker_pids(), "worker %d replaced" % victim)
        time.sleep(0.05)  # let the clients load the new worker (pacing, not sync)
    stop.set()


def load(s, stop, work):
    """CLIENTS threads calling work(i, n) until stop is set."""
    def client(i):
        n = 0
        while not stop.is_set():
            work(i, n)
            n += 1
    ths = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for th in ths:
        th.start()
    return ths


def retried_in_log(s):
    """Requests nginx saw a worker die under (each then retried or failed)."""
    with open(os.path.join(s.run_dir, "logs", "nginx-error.log"), errors="replace") as f:
        text = f.read()
    return text.count("prematurely closed") + text.count("Connection reset by peer")


with taplib.stack(workers=WORKERS) as s:
    tok = s.write_token()
    t.is_(s.oponn("migrate").returncode, 0, "oponn migrate")
    st, b, raw = taplib.gql(s, 'mutation{ createBookstore(input:{name:"Kill Store"}) { id } }',
                            token=tok)
    sid = b["data"]["createBookstore"]["id"]

    # ---- GET queries while workers die
    q = urllib.parse.urlencode({"query": '{ bookstore(id:"%s") { id name } '
                                         'bookstores(first:5) { edges { node { id } } } }' % sid})
    gets = []
    lock = threading.Lock()

    def get(i, n):
        st, _, body = s.http("GET", "/graphql?" + q, headers={"accept": "application/json"})
        try:
            good = st == 200 and not json.loads(body).get("errors")
        except ValueError:
            good = False
        with lock:
            gets.append((good, st, body[:200]))

    stop = threading.Event()
    kills = []
    ths = load(s, stop, get)
    kill_workers(s, stop, kills)
    for th in ths:
        th.join()
    bad = [g for g in gets if not g[0]]
    t.ok(len(kills) == KILLS and len(gets) > 100,
         "%d GET queries while %d workers were killed" % (len(gets), len(kills)))
    t.ok(not bad, "0 GET queries failed (%d failed)" % len(bad), repr(bad[:3]))
    get_hits = retried_in_log(s)
    t.diag("nginx saw %d GET requests lose their worker (each retried on another)" % get_hits)

    # ---- mutations while workers die
    results = {}

    def create(i, n):
        name = "Killed %d-%d" % (i, n)
        st, b, raw = taplib.gql(s, 'mutation($n:String!){ createBookstore(input:{name:$n}) '
                                   '{ id name } }', {"n": name}, token=tok)
        ok = st == 200 and b is not None and not b.get("errors") and \
            (b.get("data") or {}).get("createBookstore", {}).get("name") == name
        with lock:
            results[name] = (ok, st, (b or {}).get("data"))

    stop = threading.Event()
    kills = []
    ths = load(s, stop, create)
    kill_workers(s, stop, kills)
    for th in ths:
        th.join()
    acked = [n for n, r in results.items() if r[0]]
    failed = [(n, r[1]) for n, r in results.items() if not r[0]]
    t.ok(len(results) > 50, "%d createBookstore mutations while %d workers were killed "
         "(%d acknowledged, %d failed)" % (len(results), len(kills), len(acked), len(failed)))
    mongo = pymongo.MongoClient(s.mongo_uri)
    db = mongo[s.env().get("OPONN_MONGODB_DB") or "oponn"]
    counts = {}
    for d in db.bookstores.find({"name": {"$regex": "^Killed "}}, {"name": 1}):
        counts[d["name"]] = counts.get(d["name"], 0) + 1
    t.is_([n for n, c in counts.items() if c > 1], [], "no mutation applied twice")
    t.is_([n for n in acked if counts.get(n) != 1], [],
          "every acknowledged mutation stored exactly once")
    t.ok(set(counts) <= set(results), "nothing stored that was not sent")
    t.diag("%d failed mutations stored anyway (worker died after the write), %d not stored"
           % (sum(1 for n, _ in failed if n in counts), sum(1 for n, _ in failed if n not in counts)))
    mongo.close()
    t.ok(get_hits + len(failed) > 0, "the kills hit requests in flight (%d GET, %d mutations)"
         % (get_hits, len(failed)))

    # ---- healthy by itself
    _stack.wait_until(lambda: len(s.worker_pids()) == WORKERS, "%d workers" % WORKERS)
    t.is_(s.http("GET", "/healthz")[0], 200, "healthz 200 after the kills")
    r = s.oponn("cache", "verify")
    t.ok(r.returncode == 0 and "0 mismatches" in r.stderr, "oponn cache verify: 0 mismatches",
         r.stdout + r.stderr)
t.done()
