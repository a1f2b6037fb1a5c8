#!/usr/bin/python3
# Concurrency through the real stack: 4 writer and 8 reader processes over a
# small hot set (3 stores, 20 books, 20 fruit) for a bounded time, every
# query kind read while books are renamed and moved and fruit change size,
# colour and breed. After quiescence `oponn cache verify` finds 0
# mismatches and an independent check (GraphQL vs MongoDB via pymongo)
# agrees. Then the same with Redis killed and restarted in the middle.
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

t = taplib.Tap()
SEED = int(os.environ.get("OPONN_TEST_SEED", random.randrange(1 << 30)))
PHASE_S = 4.0 if cachestack.QUICK else 9.0
# The load each phase must carry, however slow the machine: a phase lasts
# PHASE_S and then until this many writes and reads were answered.
MIN_W, MIN_R = 100, 200
t.diag("seed %d (OPONN_TEST_SEED=%d reproduces the op mix), %.0f s per phase"
       % (SEED, SEED, PHASE_S))


def writer(port, token, hot, seed, stop, cap, done, out):
    random.seed(seed)
    c = cachestack.Client(port, token)
    stores, books, fruit = hot
    n = errs = 0
    while not stop.is_set() and time.time() < cap:
        r = random.random()
        if r < 0.3:
            b = c('mutation($id:ID!,$t:String!){ updateBook(id:$id, input:{title:$t}) { id } }',
                  {"id": random.choice(books), "t": "t%d" % random.randrange(1000)}, write=True)
        elif r < 0.5:
            b = c('mutation($id:ID!,$s:ID!){ moveBook(id:$id, bookstoreId:$s) { id } }',
                  {"id": random.choice(books), "s": random.choice(stores)}, write=True)
        else:
            kind, fid = random.choice(fruit)
            b = c('mutation($k:FruitKind!,$id:ID!,$s:Int!,$b:String!,$c:String!){ updateFruit('
                  'kind:$k, id:$id, input:{size:$s, breed:$b, colour:$c}) { id } }',
                  {"k": kind, "id": fid, "s": random.randint(1, 4), "b": "B%d" % random.randrange(5),
                   "c": random.choice(cachestack.COLOURS)}, write=True)
        n += 1
        errs += 1 if b.get("errors") else 0
        with done.get_lock():
            done.value += 1
    out.put(("w", n, errs))


def reader(port, hot, seed, stop, cap, done, out):
    random.seed(seed)
    c = cachestack.Client(port)
    stores, books, fruit = hot
    fq = cachestack.fruit_queries()
    n = errs = 0
    while not stop.is_set() and time.time() < cap:
        r = random.random()
        if r < 0.3:
            b = c('query($id:ID!){ book(id:$id) { title version bookstore { id } } }',
                  {"id": random.choice(books)})
        elif r < 0.45:
            b = c('query($ids:[ID!]!){ bookstoresForBooks(bookIds:$ids) { bookstore { id } } }',
                  {"ids": random.sample(books, 5)})
        elif r < 0.55:
            b = c('query($ids:[ID!]!){ books(ids:$ids) { id version } }',
                  {"ids": random.sample(books, 4)})
        elif r < 0.7:
            b = c('query($id:ID!){ bookstore(id:$id) { bookCount books(first:5) { edges { node '
                  '{ id } } } } }', {"id": random.choice(stores)})
        else:
            q, v = random.choice(fq)
            b = c(q, v)
        n += 1
        errs += 1 if b.get("errors") else 0
        with done.get_lock():
            done.value += 1
    out.put(("r", n, errs))


def phase(s, token, hot, seed, name, middle=None):
    t0 = time.monotonic()
    stop = mp.Event()
    cap = time.time() + PHASE_S + 300  # the children stop by themselves if we die
    wn, rn = mp.Value("i", 0), mp.Value("i", 0)
    out = mp.Queue()
    procs = [mp.Process(target=writer, args=(s.http_port, token, hot, seed + i, stop, cap, wn, out))
             for i in range(4)]
    procs += [mp.Process(target=reader, args=(s.http_port, hot, seed + 100 + i, stop, cap, rn, out))
              for i in range(8)]
    for p in procs:
        p.start()
    if middle:
        middle()
    try:  # progress, not a duration, ends the phase (a slow machine just takes longer)
        taplib.wait_until(lambda: time.monotonic() - t0 >= PHASE_S and wn.value >= MIN_W
                          and rn.value >= MIN_R, "%d writes and %d reads" % (MIN_W, MIN_R),
                          timeout=PHASE_S + 240)
    except RuntimeError as e:
        t.diag(str(e))
    stop.set()
    took = time.monotonic() - t0
    res = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    w = sum(n for k, n, _ in res if k == "w")
    we = sum(e for k, _, e in res if k == "w")
    r = sum(n for k, n, _ in res if k == "r")
    re_ = sum(e for k, _, e in res if k == "r")
    t.diag("%s: %d writes (%d errors), %d reads (%d errors) in %.1f s by 4 + 8 processes"
           % (name, w, we, r, re_, took))
    return w, we, r, re_


def check(s, c, db, name):
    v = s.oponn("cache", "verify")
    t.ok(v.returncode == 0 and "0 mismatches" in v.stderr,
         "%s: oponn cache verify finds 0 mismatches" % name, v.stdout[-2000:] + v.stderr)
    t.diag(v.stderr.strip())
    bad = cachestack.independent_check(c, db)
    t.ok(not bad, "%s: GraphQL (cached) == MongoDB (pymongo) for every record, store list and "
         "fruit query" % name, "\n".join(bad[:10]))


with taplib.stack(workers=2) as s:
    token = s.write_token()
    t.is_(s.oponn("migrate").returncode, 0, "oponn migrate")
    c = cachestack.Client(s.http_port, token)
    hot = cachestack.seed(c)
    db = pymongo.MongoClient(s.mongo_uri)[s.mongo_db]

    w, we, r, re_ = phase(s, token, hot, SEED, "phase 1")
    t.ok(w >= MIN_W and r >= MIN_R and we == 0 and re_ == 0, "phase 1: writes and reads all answered "
         "without errors", (w, we, r, re_))
    check(s, c, db, "phase 1")

    def kill_redis():
        time.sleep(PHASE_S / 3)  # the outage's place in the phase, not a synchronisation
        pid = s._pid("redis")
        os.killpg(pid, signal.SIGKILL)
        taplib.wait_until(lambda: not s.running("redis"), "redis killed")
        time.sleep(PHASE_S / 3)
        s.stop_service("redis")
        s.start_redis()

    w, we, r, re_ = phase(s, token, hot, SEED + 1000, "phase 2 (Redis killed mid-way)",
                          middle=kill_redis)
    t.ok(w >= MIN_W and r >= MIN_R and we == 0 and re_ == 0, "phase 2: every write and read answered "
         "although Redis was down for a third of the phase", (w, we, r, re_))
    # Each worker's next Redis call starts a new epoch if it skipped a write.
    taplib.wait_until(lambda: s.http("GET", "/healthz")[0] == 200, "healthz 200")
    check(s, c, db, "phase 2")
t.done()
