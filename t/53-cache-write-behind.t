#!/usr/bin/python3
# Write-behind (OPONN_WRITE_MODE=behind) through the real stack, with
# oponn-writer started by the stack helper:
#  - a mutation answers from the cache (read your writes, 0 MongoDB
#    commands), MongoDB gets it when the writer drains the queue;
#  - 4 producer processes update books (each its own, plus one shared hot
#    book: compare-and-set on the cached version) while the writer is
#    kill -9'ed at random moments and restarted; after the drain MongoDB
#    holds exactly the last acknowledged write of every record (its title
#    and version), 0 lost, no dead letters; `oponn cache verify` agrees;
#  - Redis stopped: mutations are refused (UNAVAILABLE), not lost.
import multiprocessing as mp
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import cachestack  # noqa: E402
import pymongo  # noqa: E402
import taplib  # noqa: E402

xlen = cachestack.xlen

t = taplib.Tap()
SEED = int(os.environ.get("OPONN_TEST_SEED", random.randrange(1 << 30)))
KILLS = 3  # the writer is kill -9'ed this many times while producers write
MIN_ACKS = 120  # acknowledged writes over the run, at least 30 between two kills
rng = random.Random(SEED)
t.diag("seed %d (OPONN_TEST_SEED reproduces the kill moments)" % SEED)


def producer(port, token, mine, hot, seed, stop, cap, acked, out):
    random.seed(seed)
    c = cachestack.Client(port, token)
    acks, refused = [], 0
    i = 0
    while not stop.is_set() and time.time() < cap:
        bid = hot if random.random() < 0.2 else random.choice(mine)
        title = "s%d-%d" % (seed, i)
        i += 1
        b = c('mutation($id:ID!,$t:String!){ updateBook(id:$id, input:{title:$t}) { version } }',
              {"id": bid, "t": title}, write=True)
        if b.get("data") and b["data"].get("updateBook"):
            acks.append((bid, b["data"]["updateBook"]["version"], title))
            with acked.get_lock():
                acked.value += 1
        else:
            refused += 1
    out.put((acks, refused))


env = {"OPONN_WRITE_MODE": "behind", "OPONN_QUEUE_CLAIM_MS": "300",
       "OPONN_QUEUE_BACKOFF_MS": "20"}
with taplib.stack(workers=2, env=env) as s:
    token = s.write_token()
    t.is_(s.oponn("migrate").returncode, 0, "oponn migrate")
    t.ok(s.running("writer"), "the stack started oponn-writer (write-behind mode)")
    c = cachestack.Client(s.http_port, token)
    db = pymongo.MongoClient(s.mongo_uri)[s.mongo_db]

    sid = c('mutation{ createBookstore(input:{name:"Behind"}) { id } }',
            write=True)["data"]["createBookstore"]["id"]
    b = c('mutation($s:ID!){ createBook(input:{title:"first", authors:["A"], bookstoreId:$s}) '
          '{ id version } }', {"s": sid}, write=True)
    bid = b["data"]["createBook"]["id"]
    d = c('query($id:ID!){ book(id:$id) { title bookstore { id } } }', {"id": bid}, debug=True)
    t.ok(d["data"]["book"] == {"title": "first", "bookstore": {"id": sid}}
         and d["extensions"]["mongodbCommands"] == 0,
         "read your writes: the new book and its new store from the cache, 0 MongoDB commands", d)
    taplib.wait_until(lambda: xlen(s) == 0, "queue drained", timeout=30)
    doc = db.books.find_one({"_id": bid})
    t.ok(doc and doc["title"] == "first" and doc["version"] == 1 and db.bookstores.find_one(
        {"_id": sid}), "after the drain MongoDB has the store and the book", doc)
    b = c('mutation{ createBook(input:{title:"x", authors:["A"], bookstoreId:"nope"}) { id } }',
          write=True)
    t.is_(cachestack.code_of(b), "FOREIGN_KEY_VIOLATION", "the FK is checked before queueing")
    b = c('mutation{ createBookstore(input:{name:"behind"}) { id } }', write=True)
    t.is_(cachestack.code_of(b), "BOOKSTORE_NAME_TAKEN", "a name taken in MongoDB is refused")

    # ---- producers while the writer is killed at random moments
    books = [c('mutation($s:ID!,$t:String!){ createBook(input:{title:$t, authors:["A"], '
               'bookstoreId:$s}) { id } }', {"s": sid, "t": "b%d" % i},
               write=True)["data"]["createBook"]["id"] for i in range(20)]
    hot = books[0]
    stop, acked = mp.Event(), mp.Value("i", 0)
    cap = time.time() + 600  # the children stop by themselves if we die
    out = mp.Queue()
    procs = [mp.Process(target=producer, args=(s.http_port, token, books[1 + 5 * i:1 + 5 * i + 4]
                                              if i < 3 else books[16:], hot, SEED + i, stop, cap,
                                              acked, out))
             for i in range(4)]
    for p in procs:
        p.start()
    # Each kill once the producers have written more since the writer's last
    # (re)start, so every kill lands in a stream of writes whatever the
    # machine's speed; the random part only varies the moment.
    kills = 0
    try:
        for _ in range(KILLS + 1):
            at = acked.value
            time.sleep(rng.uniform(0.3, 1.5))  # a random kill moment (not a synchronisation)
            taplib.wait_until(lambda: acked.value >= at + MIN_ACKS // (KILLS + 1),
                              "writes acknowledged", timeout=120)
            if kills == KILLS:
                break
            pid = s._pid("writer")
            os.killpg(pid, signal.SIGKILL)
            kills += 1
            taplib.wait_until(lambda: not s.running("writer"), "writer killed")
            time.sleep(rng.uniform(0.0, 0.4))  # the writer stays down a random while (not a sync)
            s.stop_service("writer")
            s.start_writer()
    except RuntimeError as e:
        t.diag(str(e))
    stop.set()
    res = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    acks = [a for r in res for a in r[0]]
    refused = sum(r[1] for r in res)
    backlog = xlen(s)
    t0 = time.monotonic()
    taplib.wait_until(lambda: xlen(s) == 0, "queue drained after the run", timeout=90)
    t.diag("%d writes acknowledged, %d refused (lost compare-and-set races on the hot book), "
           "writer kill -9'ed %d times, backlog %d drained in %.1f s"
           % (len(acks), refused, kills, backlog, time.monotonic() - t0))
    t.ok(len(acks) >= MIN_ACKS and kills == KILLS, "producers acknowledged %d writes while the "
         "writer was killed %d times" % (len(acks), kills), (len(acks), kills))
    last = {}
    for bid_, version, title in acks:
        if bid_ not in last or version > last[bid_][0]:
            last[bid_] = (version, title)
    per_book = {}
    for bid_, version, _ in acks:
        per_book.setdefault(bid_, []).append(version)
    dup_versions = sum(len(v) - len(set(v)) for v in per_book.values())
    t.is_(dup_versions, 0, "no version acknowledged twice for a record (compare-and-set)")
    wrong = []
    for bid_, (version, title) in last.items():
        d = db.books.find_one({"_id": bid_})
        if not d or d["version"] != version or d["title"] != title:
            wrong.append((bid_, (version, title), d and (d["version"], d["title"])))
    t.ok(not wrong, "after the drain MongoDB holds exactly the last acknowledged write of every "
         "record (%d records): 0 lost, in order" % len(last), wrong[:5])
    gaps = [b_ for b_, v in per_book.items() if b_ != hot and sorted(v) != list(range(2, 2 + len(v)))]
    t.ok(not gaps, "each producer's own records: versions 2, 3, ... without gaps (every "
         "acknowledged write applied once, in order)", gaps[:3])
    dead = s.oponn("queue", "dead-letters")
    t.ok(dead.returncode == 0 and dead.stdout.strip() == "", "no dead letters",
         dead.stdout + dead.stderr)
    v = s.oponn("cache", "verify")
    t.ok(v.returncode == 0 and "0 mismatches" in v.stderr, "oponn cache verify: 0 mismatches",
         v.stdout[-2000:] + v.stderr)
    bad = cachestack.independent_check(c, db)
    t.ok(not bad, "GraphQL (cached) == MongoDB (pymongo) after the drain", "\n".join(bad[:5]))
    st, _, body = s.http("GET", "/healthz")
    t.ok(st == 200, "/healthz 200 after the kills (the test restarts the writer as its "
         "supervisor would: ECS, systemd)", body)

    # ---- Redis down: write-behind refuses writes rather than losing them
    s.stop_service("redis")
    b = c('mutation($id:ID!){ updateBook(id:$id, input:{title:"lost?"}) { title } }', {"id": hot},
          write=True)
    t.is_(cachestack.code_of(b), "UNAVAILABLE", "Redis down: a mutation is refused (UNAVAILABLE)")
    s.start_redis()
t.done()
