#!/usr/bin/python3
# The worker's near cache (L1, issue 23) through the real stack, L1 on by
# default, 2 workers: a read L1 answers costs 0 Redis round trips and 0
# MongoDB commands (X-Oponn-Debug: l1Hits, "l1":"on") for book(id), books(ids),
# a batch (fruitBySize) and a batch with its join (bookstoresForBooks); a
# write answered by one worker is seen by the very next read on the OTHER
# worker, whose L1 held the old value (the write fence makes it sync its
# invalidation link first), and so is a store rename by the next
# bookstoresForBooks (the list and its stores are separate L1 entries);
# /metrics carries the oponn_l1_* series; FLUSHALL empties every L1; `oponn
# cache verify` checks every worker's L1, and an entry whose Redis TTL runs
# out under the check (the check's read drops it) is no mismatch; with
# OPONN_L1_BYTES=0 the answers say "l1":"off".
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import taplib  # noqa: E402

t = taplib.Tap()
MAX_TRIES = 400  # requests spent to reach a given worker (the kernel picks it)
# One request at a time reaches a given worker only if each request takes a new
# connection (the kernel hands it to a waiting worker): with upstream keep-alive
# (the default) nginx sends a lone client's requests down the one connection it
# keeps, to one worker. The storms (t/64, t/65) run with keep-alive.
NEW_CONN = {"OPONN_NGINX_KEEPALIVE": "0"}


def run(s):
    tok = s.write_token()

    def q(query, variables=None):
        st, b, raw = taplib.gql(s, query, variables, headers={"X-Oponn-Debug": "1"})
        assert b is not None, raw
        return b.get("data"), b.get("errors"), b.get("extensions", {})

    def m(query, variables=None):
        st, b, raw = taplib.gql(s, query, variables, token=tok, headers={"X-Oponn-Debug": "1"})
        assert b is not None, raw
        return b

    t.is_(s.oponn("migrate").returncode, 0, "oponn migrate")
    store = m('mutation{ createBookstore(input:{name:"L1 Store"}) { id } }')
    store = store["data"]["createBookstore"]["id"]
    doc = "mutation{" + " ".join(
        'b%d: createBook(input:{title:"T%d", authors:["A"], bookstoreId:"%s"}) { id }'
        % (i, i, store) for i in range(10)) + "}"
    b = m(doc)
    books = [b["data"]["b%d" % i]["id"] for i in range(10)]
    for i in range(6):
        m('mutation($s:Int!){ createFruit(kind:APPLE, input:{breed:"B", size:$s, colour:"red", '
          'acidity:3.5}) { id } }', {"s": 3 + i % 2})
    return q, m, books, store


def vals_of(s, name):
    st, _, raw = s.http("GET", "/metrics", b"", {})
    text = raw.decode() if isinstance(raw, bytes) else raw
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split(" ")[1])
    return None


def l1_hit_everywhere(q, query, variables, want_pids, name, check=None):
    """Reads until every worker in want_pids answered from L1 alone; returns
    the pids seen with an L1 answer (each checked: 0 round trips)."""
    seen, bad = set(), []
    for _ in range(MAX_TRIES):
        d, err, ext = q(query, variables)
        if err or (check and not check(d)):
            bad.append((d, err))
            break
        if ext.get("l1Hits", 0) > 0 and ext.get("l1Misses", 1) == 0:
            if ext.get("redisRoundTrips") != 0 or ext.get("mongodbCommands") != 0 \
                    or ext.get("l1") != "on":
                bad.append(ext)
                break
            seen.add(ext["workerPid"])
            if want_pids <= seen:
                break
    t.ok(not bad and want_pids <= seen, name, (bad, seen, want_pids))
    return seen


with taplib.stack(workers=2, env=NEW_CONN) as s:
    q, m, books, store = run(s)
    BOOK = 'query($id:ID!){ book(id:$id) { id title version } }'
    pids = set()
    for _ in range(MAX_TRIES):
        pids.add(q(BOOK, {"id": books[0]})[2]["workerPid"])
        if len(pids) == 2:
            break
    t.is_(len(pids), 2, "both workers answered")
    l1_hit_everywhere(q, BOOK, {"id": books[0]}, pids,
                      "book(id) from L1 on both workers: 0 round trips, 0 MongoDB commands")
    l1_hit_everywhere(q, 'query($ids:[ID!]!){ books(ids:$ids) { id title } }',
                      {"ids": books}, pids, "books(10 ids) from L1: 0 round trips")
    l1_hit_everywhere(q, '{ fruitBySize(size:3) { id size } }', None, pids,
                      "fruitBySize (a batch) from L1: 0 round trips")
    l1_hit_everywhere(q, 'query($ids:[ID!]!){ bookstoresForBooks(bookIds:$ids) '
                      '{ bookId bookstore { id name } } }', {"ids": books[:5]}, pids,
                      "bookstoresForBooks (a batch and its join) from L1: 0 round trips")

    # A write answered by one worker; the next read on the other one (whose
    # L1 holds the old title) sees it.
    stale, other_reads, version = [], 0, None
    for k in range(5):
        title = "New title %d" % k
        b = m('mutation($id:ID!,$t:String!){ updateBook(id:$id, input:{title:$t}) { version } }',
              {"id": books[0], "t": title})
        writer = b["extensions"]["workerPid"]
        version = b["data"]["updateBook"]["version"]
        for _ in range(MAX_TRIES):
            d, err, ext = q(BOOK, {"id": books[0]})
            if d["book"]["title"] != title or d["book"]["version"] != version:
                stale.append((k, ext["workerPid"], writer, d))
            if ext["workerPid"] != writer:
                other_reads += 1
                break
        # and the other worker's L1 is warm again before the next write
        l1_hit_everywhere(q, BOOK, {"id": books[0]}, pids, "L1 warm again after write %d" % k,
                          check=lambda d, title=title: d["book"]["title"] == title)
    t.ok(not stale and other_reads == 5,
         "5 writes: each seen by the next read on the other worker (0 stale reads)",
         (stale, other_reads))

    # A store renamed by one worker; the next bookstoresForBooks on the other
    # one (whose L1 holds the list, and the store as an entity of its own)
    # names it anew. Each read is checked to come from L1 alone first.
    BFB = 'query($ids:[ID!]!){ bookstoresForBooks(bookIds:$ids) { bookId bookstore { id name } } }'
    stale, other_reads = [], 0
    for k in range(3):
        name = "L1 Store renamed %d" % k
        b = m('mutation($id:ID!,$n:String!){ updateBookstore(id:$id, input:{name:$n}) { name } }',
              {"id": store, "n": name})
        writer = b["extensions"]["workerPid"]
        for _ in range(MAX_TRIES):
            d, err, ext = q(BFB, {"ids": books[:5]})
            names_seen = {x["bookstore"]["name"] for x in d["bookstoresForBooks"]}
            if err or names_seen != {name}:
                stale.append((k, ext["workerPid"], writer, d, err))
            if ext["workerPid"] != writer:
                other_reads += 1
                break
        l1_hit_everywhere(q, BFB, {"ids": books[:5]}, pids,
                          "bookstoresForBooks from L1 again after store rename %d" % k,
                          check=lambda d, name=name: {x["bookstore"]["name"] for x in
                                                      d["bookstoresForBooks"]} == {name})
    t.ok(not stale and other_reads == 3,
         "3 store renames: each seen by the next bookstoresForBooks on the other worker "
         "(0 stale reads)", (stale, other_reads))

    st, _, raw = s.http("GET", "/metrics", b"", {})
    text = raw.decode() if isinstance(raw, bytes) else raw
    names = ["oponn_l1_hits_total", "oponn_l1_misses_total", "oponn_l1_invalidations_total",
             "oponn_l1_lease_bypasses_total", "oponn_l1_flushes_total", "oponn_l1_bytes"]
    vals = {}
    for line in text.splitlines():
        parts = line.split(" ")
        if len(parts) == 2 and parts[0] in names:
            vals[parts[0]] = float(parts[1])
    t.ok(set(vals) == set(names), "/metrics has every oponn_l1_* series", vals)
    t.ok(vals.get("oponn_l1_hits_total", 0) > 0 and vals.get("oponn_l1_bytes", 0) > 0
         and vals.get("oponn_l1_invalidations_total", 0) > 0,
         "hits, bytes and invalidations were counted", vals)

    starts = vals_of(s, "oponn_worker_starts_total")
    r = s.oponn("cache", "verify")
    t.ok(r.returncode == 0 and "0 mismatches" in r.stderr and "L1 of 2 workers" in r.stderr,
         "oponn cache verify checks each worker's L1: 0 mismatches", r.stdout + r.stderr)
    for _ in range(10):
        q(BOOK, {"id": books[0]})
    t.is_(vals_of(s, "oponn_worker_starts_total"), starts,
          "the workers go on serving after the check (none restarted)")

    # FLUSHALL: Redis reports "everything"; no worker answers from L1 after.
    subprocess.run(["redis-cli", "-p", str(s.redis_port), "FLUSHALL"], check=True,
                   stdout=subprocess.DEVNULL)
    hits = 0
    for _ in range(20):
        d, err, ext = q(BOOK, {"id": books[0]})
        if ext.get("l1Hits", 0) > 0 and ext.get("mongodbCommands") == 0 \
                and ext.get("redisRoundTrips") == 0:
            hits += 1
        if ext.get("mongodbCommands", 0) > 0:
            break
    t.ok(d["book"]["version"] == version, "after FLUSHALL: the current version", d)
    t.is_(hits, 0, "after FLUSHALL: no L1 answer before the first refill")

# A negative entry whose TTL runs out during the check: the check's own read
# makes Redis drop the key (lazily, reporting it as it does), which is no
# mismatch. Active expiry off (DEBUG, which Redis refuses unless enabled), so
# the key outlives its TTL (1 s) until that read; Redis's clock says when it
# has run out.
with taplib.stack(workers=1, env={"OPONN_NEGATIVE_TTL_S": "1"},
                  redis_args=["--enable-debug-command", "local"]) as s:
    def rcli(*args):
        return subprocess.run(["redis-cli", "-p", str(s.redis_port)] + list(args),
                              capture_output=True, text=True).stdout.strip()

    t.is_(s.oponn("migrate").returncode, 0, "oponn migrate")
    t.is_(rcli("DEBUG", "SET-ACTIVE-EXPIRE", "0"), "OK", "Redis's active expiry off")
    unknown = "0123456789abcdef01234567"
    BOOK = 'query($id:ID!){ book(id:$id) { id title version } }'

    def q1(query, variables=None):
        st, b, raw = taplib.gql(s, query, variables, headers={"X-Oponn-Debug": "1"})
        assert b is not None, raw
        return b.get("data"), b.get("errors"), b.get("extensions", {})

    pid = q1(BOOK, {"id": unknown})[2]["workerPid"]
    l1_hit_everywhere(q1, BOOK, {"id": unknown}, {pid}, "an unknown id: a negative entry in L1",
                      check=lambda d: d["book"] is None)
    keys = rcli("--scan", "--pattern", "*%s*" % unknown).split()
    until = int(rcli("PEXPIRETIME", keys[0])) if len(keys) == 1 else 0
    t.ok(until > 0, "its Redis entry has a TTL", keys)
    for _ in range(1000):  # about 5 ms a call: bounded well past the 1 s
        sec, usec = rcli("TIME").split()
        if int(sec) * 1000 + int(usec) // 1000 > until:
            break
    # the worker's own check (what `oponn cache verify` signals after its
    # Redis-against-MongoDB pass, whose reads would drop the key first)
    out = os.path.join(s.run_dir, "l1verify.%d" % pid)
    os.kill(pid, signal.SIGUSR2)
    for _ in range(500):  # the worker renames the file into place when done
        if os.path.exists(out):
            break
        time.sleep(0.01)
    got = open(out).read().strip() if os.path.exists(out) else "(no answer in 5 s)"
    t.is_(got.splitlines()[-1], "entries=1 mismatches=0",
          "a TTL running out under the check is no mismatch")
    t.is_(rcli("EXISTS", keys[0] if keys else "-"), "0", "the entry is gone from Redis")

with taplib.stack(workers=1, env={"OPONN_L1_BYTES": "0"}) as s:
    q, m, books, store = run(s)
    d, err, ext = q('query($id:ID!){ book(id:$id) { id } }', {"id": books[0]})
    d, err, ext = q('query($id:ID!){ book(id:$id) { id } }', {"id": books[0]})
    t.ok(ext.get("l1") == "off" and ext.get("l1Hits") == 0 and ext.get("redisRoundTrips") == 1,
         "OPONN_L1_BYTES=0: L1 off, a hit is 1 Redis round trip", ext)

t.done()
