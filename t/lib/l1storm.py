"""t/lib/l1storm.py — the stale-read storm of the L1 near-cache tests (issue 23).

Writers and readers are processes (multiprocessing, "spawn": the test's own
fault proxy runs threads, which a fork would copy half-way). They share, per
record of the hot set, what the writers had acknowledged:

    ver[i]      the highest version of record i whose write was answered
    attr[i]     the record's list attribute at that version: a book's store
                (index into the hot stores), a fruit's size
    ackt[i, v]  time.monotonic() (system-wide on Linux) when version v was
                acknowledged
    inflight[i] writes of record i sent and not answered yet
    dirty[i]    1 after a write of record i failed (it may have been applied:
                its attribute is unknown) until a write started later is
                acknowledged

A reader snapshots these just before sending a read and after its answer.
A read is stale when some record in the answer has a version lower than the
snapshot's (a write answered before the read started is missing), or, for a
record with no write in flight, none failing and the same acknowledged
version before and after the read, when a list holds it although its
attribute says otherwise, or leaves it out although it says it belongs
(fruitBySize), or gives another store (bookstoresForBooks).
"""
import http.client
import json
import multiprocessing as mp
import os
import random
import sys
import time

import cachestack
import pymongo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "perf"))
import perflib  # noqa: E402

VMAX = 4096  # versions tracked per record (a storm writes far fewer per record)
CTX = mp.get_context("spawn")

Q_BOOK = 'query($id:ID!){ book(id:$id) { id title version bookstore { id } } }'
Q_BFB = ('query($ids:[ID!]!){ bookstoresForBooks(bookIds:$ids) { bookId book { version } '
         'bookstore { id } } }')
Q_FBS = 'query($s:Int!){ fruitBySize(size:$s, limit:100) { id kind size version } }'
M_TITLE = ('mutation($id:ID!,$t:String!){ updateBook(id:$id, input:{title:$t}) { id version '
           'bookstore { id } } }')
M_MOVE = ('mutation($id:ID!,$s:ID!){ moveBook(id:$id, bookstoreId:$s) { id version '
          'bookstore { id } } }')
M_FRUIT = ('mutation($k:FruitKind!,$id:ID!,$s:Int!){ updateFruit(kind:$k, id:$id, '
           'input:{size:$s}) { id version size } }')
SIZES = (1, 2, 3, 4)


class Client:
    """One keep-alive connection; (status, parsed JSON or None). A broken
    connection is retried once, on a new connection, only for reads."""

    def __init__(self, port, token=None):
        self.port, self.token, self.conn = port, token, None

    def __call__(self, query, variables, write=False):
        body = json.dumps({"query": query, "variables": variables})
        h = {"content-type": "application/json", "X-Oponn-Debug": "1"}
        if write:
            h["authorization"] = "Bearer " + self.token
        for attempt in range(1 if write else 2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.conn.request("POST", "/graphql", body, h)
                r = self.conn.getresponse()
                raw = r.read()
                try:
                    return r.status, json.loads(raw)
                except ValueError:
                    return r.status, None
            except (OSError, http.client.HTTPException):
                self.conn = None
        return 0, None


class Shared:
    """The acknowledged state of the hot set, shared by every process."""

    def __init__(self, hot, truth):
        # hot: {"stores": [id], "books": [id], "fruit": [(kind, id)]};
        # truth: {record id: (version, attribute)} read from MongoDB.
        self.hot = hot
        n = len(hot["books"]) + len(hot["fruit"])
        self.lock = CTX.Lock()
        self.ver = CTX.Array("q", n, lock=False)
        self.attr = CTX.Array("q", n, lock=False)
        self.inflight = CTX.Array("q", n, lock=False)
        self.dirty = CTX.Array("q", n, lock=False)
        self.errseq = CTX.Array("q", n, lock=False)
        self.seq = CTX.Value("q", 0, lock=False)
        self.ackt = CTX.Array("d", n * VMAX, lock=False)
        for i, rid in enumerate(self.ids()):
            v, a = truth[rid]
            self.ver[i], self.attr[i] = v, a

    def ids(self):
        return list(self.hot["books"]) + [fid for _, fid in self.hot["fruit"]]

    def nbooks(self):
        return len(self.hot["books"])

    def begin(self, i):
        with self.lock:
            self.inflight[i] += 1
            self.seq.value += 1
            return self.seq.value

    def ack(self, i, start, version, attr, now):
        with self.lock:
            self.inflight[i] -= 1
            if start > self.errseq[i]:
                self.dirty[i] = 0
            if version > self.ver[i]:
                self.ver[i], self.attr[i] = version, attr
            if 0 <= version < VMAX and not self.ackt[i * VMAX + version]:
                self.ackt[i * VMAX + version] = now

    def fail(self, i):
        with self.lock:
            self.inflight[i] -= 1
            self.dirty[i] = 1
            self.seq.value += 1
            self.errseq[i] = self.seq.value

    def snap(self, idx):
        with self.lock:
            return {i: (self.ver[i], self.attr[i], self.inflight[i], self.dirty[i]) for i in idx}

    def first_missed(self, i, got, want):
        """Acknowledgement time of the first version in (got, want] (the
        oldest acknowledged write the stale answer missed)."""
        for v in range(max(got + 1, 0), min(want, VMAX - 1) + 1):
            t = self.ackt[i * VMAX + v]
            if t:
                return t
        return None


def writer(port, token, sh, seed, stop, cap, count, out):
    rng = random.Random(seed)
    c = Client(port, token)
    nb = sh.nbooks()
    stores = sh.hot["stores"]
    n = errs = 0
    while not stop.is_set() and time.time() < cap:
        r = rng.random()
        if r < 0.3:
            i = rng.randrange(nb)
            q, v = M_TITLE, {"id": sh.hot["books"][i], "t": "t%d" % rng.randrange(100000)}
        elif r < 0.55:
            i = rng.randrange(nb)
            q, v = M_MOVE, {"id": sh.hot["books"][i], "s": rng.choice(stores)}
        else:
            j = rng.randrange(len(sh.hot["fruit"]))
            i = nb + j
            kind, fid = sh.hot["fruit"][j]
            q, v = M_FRUIT, {"k": kind, "id": fid, "s": rng.choice(SIZES)}
        start = sh.begin(i)
        st, b = c(q, v, write=True)
        now = time.monotonic()
        d = ((b or {}).get("data") or {})
        rec = d.get("updateBook") or d.get("moveBook") or d.get("updateFruit")
        if st == 200 and rec and not b.get("errors"):
            # Every write answers its record's attribute at its own version (a
            # rename too: an older move may still be in flight).
            attr = rec["size"] if "size" in rec else stores.index(rec["bookstore"]["id"])
            sh.ack(i, start, rec["version"], attr, now)
        else:
            sh.fail(i)
            errs += 1
        n += 1
        with count.get_lock():
            count.value += 1
    out.put({"role": "w", "n": n, "errors": errs})


def _ext(b):
    return (b or {}).get("extensions") or {}


def reader(port, sh, seed, stop, cap, count, out):
    rng = random.Random(seed)
    c = Client(port)
    nb = sh.nbooks()
    books, stores, fruit = sh.hot["books"], sh.hot["stores"], sh.hot["fruit"]
    fidx = {fid: nb + j for j, (_, fid) in enumerate(fruit)}
    res = {"role": "r", "n": 0, "errors": 0, "stale": 0, "kinds": {}, "examples": [],
           "windows": [], "l1_reads": 0, "l1_only": 0, "l1_hits": 0, "pids": set(),
           "l1_states": {}}

    def stale(kind, what, t0, i=None, got=None, want=None):
        res["stale"] += 1
        res["kinds"][kind] = res["kinds"].get(kind, 0) + 1
        if i is not None and got is not None:
            ta = sh.first_missed(i, got, want)
            if ta is not None:
                res["windows"].append(1000.0 * (time.monotonic() - ta))
        if len(res["examples"]) < 5:
            res["examples"].append("%s: %s (%.3f s into the read)" % (kind, what,
                                                                     time.monotonic() - t0))

    while not stop.is_set() and time.time() < cap:
        r = rng.random()
        t0 = time.monotonic()
        if r < 0.5:
            kind = "book(id)"
            i = rng.randrange(nb)
            before = sh.snap([i])
            st, b = c(Q_BOOK, {"id": books[i]})
            got = ((b or {}).get("data") or {}).get("book")
            if st != 200 or not got or (b or {}).get("errors"):
                res["errors"] += 1
            elif got["version"] < before[i][0]:
                stale(kind, "book %s version %d, %d acknowledged before the read"
                      % (books[i], got["version"], before[i][0]), t0, i, got["version"],
                      before[i][0])
        elif r < 0.75:
            kind = "bookstoresForBooks"
            idx = rng.sample(range(nb), 5)
            before = sh.snap(idx)
            st, b = c(Q_BFB, {"ids": [books[i] for i in idx]})
            after = sh.snap(idx)
            got = ((b or {}).get("data") or {}).get("bookstoresForBooks")
            if st != 200 or got is None or (b or {}).get("errors") or len(got) != len(idx):
                res["errors"] += 1
            else:
                for i, g in zip(idx, got):
                    v0, a0, f0, d0 = before[i]
                    gv = (g.get("book") or {}).get("version", -1)
                    if gv < v0:
                        stale(kind, "book %s version %d, %d acknowledged" % (books[i], gv, v0),
                              t0, i, gv, v0)
                        break
                    settled = f0 == 0 and d0 == 0 and after[i][0] == v0 and after[i][2] == 0
                    sid = (g.get("bookstore") or {}).get("id")
                    if settled and sid != stores[a0]:
                        stale(kind, "book %s (version %d settled) in store %s, acknowledged %s"
                              % (books[i], v0, sid, stores[a0]), t0, i, v0 - 1, v0)
                        break
        else:
            kind = "fruitBySize"
            size = rng.choice(SIZES)
            idx = list(fidx.values())
            before = sh.snap(idx)
            st, b = c(Q_FBS, {"s": size})
            after = sh.snap(idx)
            got = ((b or {}).get("data") or {}).get("fruitBySize")
            if st != 200 or got is None or (b or {}).get("errors"):
                res["errors"] += 1
            else:
                seen = {}
                for f in got:
                    seen[f["id"]] = f
                bad = None
                for fid, i in fidx.items():
                    v0, a0, f0, d0 = before[i]
                    settled = f0 == 0 and d0 == 0 and after[i][0] == v0 and after[i][2] == 0
                    f = seen.get(fid)
                    if f is not None and f["version"] < v0:
                        bad = ("fruit %s version %d in size %d, %d acknowledged"
                               % (fid, f["version"], size, v0), i, f["version"], v0)
                    elif settled and f is None and a0 == size:
                        bad = ("fruit %s (version %d, size %d, settled) missing from size %d"
                               % (fid, v0, a0, size), i, v0 - 1, v0)
                    elif settled and f is not None and a0 != size:
                        bad = ("fruit %s (version %d, size %d, settled) listed in size %d"
                               % (fid, v0, a0, size), i, v0 - 1, v0)
                    if bad:
                        break
                if bad:
                    stale(kind, *bad[:1], t0, *bad[1:])
        res["n"] += 1
        ext = _ext(b)
        h = ext.get("l1Hits") or 0
        res["l1_hits"] += h
        res["l1_reads"] += 1 if h else 0
        if h and not ext.get("redisRoundTrips") and not ext.get("mongodbCommands"):
            res["l1_only"] += 1
        if "l1" in ext:
            res["l1_states"][ext["l1"]] = res["l1_states"].get(ext["l1"], 0) + 1
        if ext.get("workerPid"):
            res["pids"].add(ext["workerPid"])
        with count.get_lock():
            count.value += 1
    out.put(res)


def run(wport, rport, token, sh, seed, min_s, min_w, min_r, middle=None, writers=4, readers=8,
        limit_s=240):
    """One storm: `writers` writer processes on wport, `readers` reader
    processes on rport, until min_s seconds passed and min_w writes and min_r
    reads were answered (progress, not a duration, ends it; at most limit_s
    more). middle(progress) runs in this process meanwhile; progress() gives
    (writes, reads) so far. Returns the summed counts."""
    t0 = time.monotonic()
    stop = CTX.Event()
    cap = time.time() + min_s + limit_s + 60  # children stop by themselves if we die
    wn, rn = CTX.Value("q", 0), CTX.Value("q", 0)
    out = CTX.Queue()
    procs = [CTX.Process(target=writer, args=(wport, token, sh, seed + k, stop, cap, wn, out))
             for k in range(writers)]
    procs += [CTX.Process(target=reader, args=(rport, sh, seed + 100 + k, stop, cap, rn, out))
              for k in range(readers)]
    for p in procs:
        p.start()
    err = None
    try:
        if middle:
            middle(lambda: (wn.value, rn.value))
        deadline = time.monotonic() + min_s + limit_s
        while not (time.monotonic() - t0 >= min_s and wn.value >= min_w and rn.value >= min_r):
            if time.monotonic() > deadline:
                err = "only %d writes and %d reads in %.0f s" % (wn.value, rn.value,
                                                                  time.monotonic() - t0)
                break
            time.sleep(0.05)  # polling progress, not synchronising
    finally:
        stop.set()
        res = []
        for _ in procs:
            try:
                res.append(out.get(timeout=120))
            except Exception:
                break
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    tot = {"writes": 0, "write_errors": 0, "reads": 0, "read_errors": 0, "stale": 0, "kinds": {},
           "examples": [], "windows": [], "l1_reads": 0, "l1_only": 0, "l1_hits": 0,
           "pids": set(), "l1_states": {}, "seconds": time.monotonic() - t0, "error": err,
           "missing": len(procs) - len(res)}
    for r in res:
        if r["role"] == "w":
            tot["writes"] += r["n"]
            tot["write_errors"] += r["errors"]
            continue
        tot["reads"] += r["n"]
        tot["read_errors"] += r["errors"]
        for k in ("stale", "l1_reads", "l1_only", "l1_hits"):
            tot[k] += r[k]
        for k, v in r["kinds"].items():
            tot["kinds"][k] = tot["kinds"].get(k, 0) + v
        for k, v in r["l1_states"].items():
            tot["l1_states"][k] = tot["l1_states"].get(k, 0) + v
        tot["examples"] += r["examples"]
        tot["windows"] += r["windows"]
        tot["pids"] |= r["pids"]
    return tot


def truth(db, hot):
    """{record id: (version, attribute)} straight from MongoDB (pymongo)."""
    out = {}
    for d in db.books.find({"_id": {"$in": list(hot["books"])}}):
        out[d["_id"]] = (d["version"], hot["stores"].index(d["bookstore_id"]))
    for coll in ("apples", "oranges"):
        for d in db[coll].find({}):
            out[d["_id"]] = (d["version"], d["size"])
    return out


def metrics(s):
    """The stack's /metrics as {"name{labels}": float} (buckets left out)."""
    st, _, raw = s.http("GET", "/metrics")
    return perflib.parse_metrics(raw) if st == 200 else {}


delta = perflib.metrics_delta


def measured(t, w, r, token, sh, seed, phase_s, min_w, min_r, name, middle=None):
    """One storm (writes through stack w, reads through r) with the /metrics
    delta of r around it, its summary lines printed: (totals, delta)."""
    m0 = metrics(r)
    tot = run(w.http_port, r.http_port, token, sh, seed, phase_s, min_w, min_r, middle=middle)
    m = delta(m0, metrics(r))
    for line in summary(name, tot, m):
        t.diag(line)
    return tot, m


def seeded(t, w, r):
    """The hot set written through stack w (migrated first), the shared
    record of acknowledged writes, MongoDB; and the check that stack r runs
    with L1 (on by default: the storms are its proof)."""
    token = w.write_token()
    t.is_(w.oponn("migrate").returncode, 0, "oponn migrate")
    c = cachestack.Client(w.http_port, token)
    stores, books, fruit = cachestack.seed(c)
    db = pymongo.MongoClient(w.mongo_uri)[w.mongo_db]
    hot = {"stores": stores, "books": books, "fruit": fruit}
    sh = Shared(hot, truth(db, hot))
    has_l1 = "oponn_l1_hits_total" in metrics(r)
    t.ok(has_l1, "L1 is on (oponn_l1_hits_total in /metrics) with the default knobs")
    return token, c, sh, db, has_l1


def summary(name, tot, m=None):
    """The lines a test prints for one storm."""
    w = tot["windows"]
    lines = ["%s: %d writes (%d errors), %d reads (%d errors) in %.1f s by 4 + 8 processes, "
             "%d worker(s) answered reads" % (name, tot["writes"], tot["write_errors"],
                                              tot["reads"], tot["read_errors"], tot["seconds"],
                                              len(tot["pids"])),
             "%s: stale reads %d %s%s" % (name, tot["stale"], tot["kinds"] or "",
                                          "; window max %.1f ms, median %.1f ms over %d"
                                          % (max(w), sorted(w)[len(w) // 2], len(w)) if w else ""),
             "%s: X-Oponn-Debug: %d reads had l1Hits > 0 (%d l1Hits in all), %d served by L1 "
             "alone (0 Redis round trips, 0 MongoDB commands); l1 state at start %s"
             % (name, tot["l1_reads"], tot["l1_hits"], tot["l1_only"], tot["l1_states"] or
                "(no \"l1\" in extensions: no L1 in this build)")]
    if m is not None:
        ks = sorted(k for k in m if k.startswith("oponn_l1_"))
        lines.append("%s: /metrics %s" % (name, ", ".join("%s +%d" % (k, m[k]) for k in ks)
                                          if ks else "has no oponn_l1_* (no L1 in this build)"))
    for e in tot["examples"]:
        lines.append("%s: stale: %s" % (name, e))
    if tot["error"]:
        lines.append("%s: %s" % (name, tot["error"]))
    return lines
