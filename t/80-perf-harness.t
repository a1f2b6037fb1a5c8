#!/usr/bin/python3
# The load tests' own parts, small and fast (the load tests themselves are
# `make perf`, not part of `make test`):
#   - perf/perflib.py reads wrk's report (text and the Lua PERF_JSON line);
#   - build/perf/gen_data writes a deterministic data set into MongoDB that the
#     worker reads back exactly through GraphQL, and a re-run inserts nothing;
#   - perf/wrk/*.lua run against the stack: a walk asks every id once and
#     stops, and GraphQL errors are counted;
#   - scenario (6)'s writer measurement (measure() in perf/writer_bench.py) runs on
#     the small stack: write-through acknowledges mutations, each drain (1, 2,
#     4 writers) empties the queue it filled, nothing reaches the dead
#     letters, the lag is measured, and the pool is left in through mode;
#   - the peers (perf/peers/apollo, perf/peers/mercurius) come up in 2 node
#     processes on the same data and answer the scenarios' queries: the
#     sample read back, cache-aside cost of a cold and a warm read (their
#     counters), bookstoresForBooks in input order, updateBook write-through.
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "perf"))
import taplib  # noqa: E402
import perflib  # noqa: E402

t = taplib.Tap()

WRK_TEXT = """Running 2s test @ http://127.0.0.1:1/graphql
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.50ms  400.00us  12.30ms   90.00%
    Req/Sec    10.00k     1.00k   12.00k    70.00%
  Latency Distribution
     50%    1.20ms
     75%    1.60ms
     90%    2.10ms
     99%    4.50ms
  40000 requests in 2.00s, 8.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:  20000.50
Transfer/sec:      4.00MB
"""
r = perflib.parse_wrk(WRK_TEXT)
t.is_((r["rps"], r["requests"], r["p50"], r["p90"], r["p99"], r["max"]),
      (20000.5, 40000, 1.2, 2.1, 4.5, 12.3), "parse_wrk: rate, count, percentiles, max (ms)")
t.is_(r["errors"], 5 + 3, "parse_wrk: errors = non-2xx + socket errors")
lua = WRK_TEXT + ('PERF_JSON {"requests":39990,"duration_us":2000000,"bytes":1,"gql_errors":7,'
                  '"connect_errors":0,"read_errors":2,"write_errors":0,"timeouts":1,'
                  '"status_errors":5,"p50_us":1234,"p90_us":2100,"p99_us":4567,"max_us":12300,'
                  '"mean_us":1500.0}\n')
r = perflib.parse_wrk(lua)
t.is_((r["requests"], r["p50"], r["p99"], r["gql_errors"], r["errors"]),
      (39990, 1.234, 4.567, 7, 7 + 3), "parse_wrk: the Lua line gives exact percentiles and "
      "GraphQL errors")

GEN = os.path.join(taplib.ROOT, "build", "perf", "gen_data")
Q_BOOK = "query($id:ID!){book(id:$id){id title authors year price version}}"


def settled(peer, limit=5.0):
    """The peer's counters once two readings 0.3 s apart agree (each worker
    publishes its counters every 200 ms)."""
    t0, prev = time.monotonic(), peer.counters()
    while time.monotonic() - t0 < limit:
        time.sleep(0.3)
        cur = peer.counters()
        if cur == prev:
            break
        prev = cur
    return prev


def counted(peer, before, want, limit=5.0):
    """The peer's counters once they show `want` more than `before` (each
    worker publishes its counters every 200 ms), or what they showed last."""
    t0 = time.monotonic()
    while True:
        now = peer.counters()
        got = {k: now[k] - before[k] for k in now}
        if got == want or time.monotonic() - t0 > limit:
            return got
        time.sleep(0.05)


def check_peer(name, s, out, sample, bid):
    peer = perflib.Peer(name, s.env(), taplib._stack.free_port(), 2, out)
    why = peer.missing()
    if why:
        t.ok(False, "%s peer can run" % name, why)
        return
    pids = []
    try:
        try:
            peer.start()
            pids = peer.pids()
            t.is_(len(peer.worker_pids()), 2, "%s peer: 2 node workers, all listening" % name)
        except RuntimeError as e:
            t.ok(False, "%s peer starts" % name, e)
            return
        q = "query($id:ID!){book(id:$id){id title authors year price bookstore{id name}}}"
        bad = [w["id"] for w in sample
               if perflib.gql(peer.url, q, {"id": w["id"]}, debug=False).get("data", {})
               .get("book") != w]
        t.ok(not bad, "%s peer: the 20 sample books read back exactly" % name, bad)
        # A book no one read or wrote yet: a miss (MGET, one find, SET), then
        # a hit (MGET).
        for case, want in (("cold", {"mongo": 1, "redis": 2, "requests": 1}),
                           ("warm", {"mongo": 0, "redis": 1, "requests": 1})):
            c0 = settled(peer)
            d = perflib.gql(peer.url, Q_BOOK, {"id": bid}, debug=False)
            got = counted(peer, c0, want)
            t.ok(d.get("data", {}).get("book", {}).get("id") == bid and got == want,
                 "%s peer: %s book(id) costs %d MongoDB command(s), %d Redis round trip(s)" % (
                     name, case, want["mongo"], want["redis"]), {"answer": d, "counters": got})
        ids = [sample[3]["id"], "no-such-book", sample[1]["id"]]
        d = perflib.gql(peer.url, "query($ids:[ID!]!){bookstoresForBooks(bookIds:$ids)"
                        "{bookId book{id} bookstore{id name}}}", {"ids": ids}, debug=False)
        got = [(r["bookId"], (r["book"] or {}).get("id"), r["bookstore"])
               for r in (d.get("data") or {}).get("bookstoresForBooks") or []]
        t.is_(got, [(ids[0], ids[0], sample[3]["bookstore"]), (ids[1], None, None),
                    (ids[2], ids[2], sample[1]["bookstore"])],
              "%s peer: bookstoresForBooks in input order, null for an unknown id" % name)
        w = "mutation($id:ID!,$p:Float){updateBook(id:$id,input:{price:$p}){id price version}}"
        d = perflib.gql(peer.url, w, {"id": bid, "p": 7.25}, token="wrong", debug=False)
        t.ok(d.get("errors") and not (d.get("data") or {}).get("updateBook"),
             "%s peer: updateBook with a wrong token is refused" % name, d)
        v0 = perflib.gql(peer.url, Q_BOOK, {"id": bid}, debug=False)["data"]["book"]["version"]
        d = perflib.gql(peer.url, w, {"id": bid, "p": 7.25}, token=s.write_token(), debug=False)
        after = perflib.gql(peer.url, Q_BOOK, {"id": bid}, debug=False)["data"]["book"]
        t.ok(not d.get("errors") and (after["price"], after["version"]) == (7.25, v0 + 1),
             "%s peer: updateBook writes through (the next read sees price and version)" % name,
             {"update": d, "read": after})
    finally:
        peer.stop()
    t.ok(pids and not [p for p in pids if perflib.alive(p)],
         "%s peer stopped: none of its %d processes is left" % (name, len(pids)))

db = "t80_%d" % os.getpid()
# No per-client rate limit: (6)'s measurement sends a burst from one address.
with taplib.stack(workers=2, env={"OPONN_MONGODB_DB": db, "OPONN_RATE_LIMIT": "0"}) as s:
    out = tempfile.mkdtemp(prefix="oponn-t80-")
    try:
        r = s.oponn("migrate")
        t.is_(r.returncode, 0, "oponn migrate" + (": " + r.stderr if r.returncode else ""))
        argv = [GEN, "--books", "300", "--bookstores", "7", "--fruit", "41", "--out", out]
        r = subprocess.run(argv, env=s.env(), capture_output=True, text=True, timeout=120)
        t.is_(r.returncode, 0, "gen_data exits 0" + (": " + r.stderr if r.returncode else ""))
        t.ok("348 inserted" in r.stdout, "gen_data inserted 7 + 300 + 41 records", r.stdout)
        r = subprocess.run(argv, env=s.env(), capture_output=True, text=True, timeout=120)
        t.ok(r.returncode == 0 and "0 inserted" in r.stdout, "a re-run inserts nothing", r.stdout)

        def lines(name):
            with open(os.path.join(out, name)) as f:
                return f.read().split()
        books = lines("books.ids")
        t.is_((len(books), len(lines("bookstores.ids")), len(lines("apples.ids")),
               len(lines("oranges.ids"))), (300, 7, 20, 21), "ids files: one line per record")
        t.is_((books[0], books[299]), ("5eedb00c0000000000000000", "5eedb00c000000000000012b"),
              "book ids are fixed (a pure function of the index)")

        with open(os.path.join(out, "sample.json")) as f:
            sample = json.load(f)
        q = "query($id:ID!){book(id:$id){id title authors year price bookstore{id name}}}"
        bad = [w["id"] for w in sample
               if taplib.gql(s, q, {"id": w["id"]})[1].get("data", {}).get("book") != w]
        t.ok(len(sample) == 20 and not bad, "the 20 sample books read back exactly through "
             "GraphQL", bad)
        st, body, _ = taplib.gql(s, "{fruitBySize(size:3,limit:100){id kind size}}")
        fruit = body["data"]["fruitBySize"]
        t.ok(fruit and all(f["size"] == 3 for f in fruit) and
             {f["kind"] for f in fruit} <= {"APPLE", "ORANGE"}, "generated fruit is queryable",
             body)

        # A walk through book.lua: each id sent once and answered, then wrk is
        # stopped (idle requests fill the wait for the last answers; wrk's
        # own call of thread 0's request() before connecting takes no id).
        walk = tempfile.mkdtemp(dir=out)
        r = perflib.wrk(s.url, os.path.join(taplib.ROOT, "perf", "wrk", "book.lua"), conns=4,
                        threads=2, duration=60, walk_dir=walk,
                        env={"PERF_IDS": os.path.join(out, "books.ids"), "PERF_WALK": "1"})
        t.ok(r["seconds"] < 30 and r["errors"] == 0 and r["walk_items"] == 300 and
             r["walk_answered"] == 300 and r["requests"] >= 300,
             "book.lua walk: every id sent once and answered, no errors, stops early",
             {k: r[k] for k in ("seconds", "requests", "errors", "walk_items", "walk_answered")})
        # Random reads of unknown ids answer null, not errors; a mutation without
        # a token is an error the Lua script counts.
        with open(os.path.join(out, "ids.bad"), "w") as f:
            f.write("no-such-book\n")
        r = perflib.wrk(s.url, os.path.join(taplib.ROOT, "perf", "wrk", "mixed.lua"), conns=2,
                        threads=1, duration=1,
                        env={"PERF_IDS": os.path.join(out, "ids.bad"), "PERF_WRITE_PCT": "100",
                             "PERF_TOKEN": "wrong"})
        t.ok(r["requests"] > 0 and r["gql_errors"] == r["requests"],
             "mixed.lua: refused mutations count as GraphQL errors",
             {k: r[k] for k in ("requests", "gql_errors")})

        fresh = [b for b in books if b not in {w["id"] for w in sample}]
        # (6): the writer alone, on the books no other check here uses.
        import writer_bench
        writer_bench.THROUGH_S = 1
        # Small writer steps, so a drain takes several batches (as the 3,000
        # of `make perf` do) and is timed from the first one.
        s.extra_env["OPONN_QUEUE_BATCH"] = "4"
        try:
            wb, rows = writer_bench.measure(s, fresh[2:], writes=48, wait_s=30, say=t.diag)
        except Exception as e:  # a failure is a result, not the end of the test
            wb, rows = {"error": repr(e)}, []
        t.ok((wb.get("wb_through_per_s") or 0) > 0,
             "(6) write-through acknowledges updateBook (wrk, mixed.lua at 100 %)", wb)
        t.ok(all(wb.get("wb_drained_%d" % n) is True and wb.get("wb_queue_%d" % n) == 48
                 and wb.get("wb_drain_%d_per_s" % n, 0) > 0 for n in (1, 2, 4)),
             "(6) 1, 2 and 4 writers each drain the 48 queued writes, with a rate", wb)
        t.ok(isinstance(wb.get("wb_lag_s"), float) and
             isinstance(wb.get("wb_ratio_1"), float),
             "(6) the lag of the last write and the drain/through ratio are numbers", wb)
        s.extra_env.pop("OPONN_QUEUE_BATCH")
        qkey = "%s:" % s.env().get("OPONN_CACHE_PREFIX", "oponn")
        t.is_((perflib.redis_cmd(s.redis_port, "XLEN", qkey + "queue") or 0,
               perflib.redis_cmd(s.redis_port, "XLEN", qkey + "dead") or 0,
               s.extra_env.get("OPONN_WRITE_MODE")), (0, 0, "through"),
              "(6) queue empty, no dead letter, the pool back in through mode")
        for i, name in enumerate(("apollo", "mercurius")):
            check_peer(name, s, out, sample, fresh[i])
    finally:
        import shutil
        shutil.rmtree(out, ignore_errors=True)
        try:
            import pymongo
            pymongo.MongoClient(s.mongo_uri).drop_database(db)
        except Exception as e:  # the stand-in goes away with the stack anyway
            t.diag("dropping %s: %s" % (db, e))
t.done()
