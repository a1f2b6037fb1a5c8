#!/usr/bin/python3
"""perf/writer_bench.py — the write-behind writer against write-through, side
by side in one run on one stack (issue 24 part 3; `make perf` scenario (6)
runs the writer inside the whole suite, this measures only it).

One stack (etc/stack.py: MongoDB or its stand-in, Redis, the worker pool,
nginx), BENCH_BOOKS (50,000) books from build/perf/gen_data, then:

  through    OPONN_WRITE_MODE=through: wrk, BENCH_CONNS (32) connections,
             BENCH_THROUGH_S (4) seconds of updateBook only (perf/wrk/mixed.lua,
             PERF_WRITE_PCT=100) on random books of the whole collection: the
             mutations/s write-through sustains (each a MongoDB findAndModify
             + cache update), the rate to match. wrk, not the Python clients
             below, so the client does not hold the rate down. Measured
             before and after the rest; the faster of the two counts;
  drain W    OPONN_WRITE_MODE=behind, no writer: BENCH_CLIENTS (8) threads
             send BENCH_WRITES (2,000) updateBook, each to a book of its own
             not written before in the run (so every write is acknowledged
             and no two fold into one apply): the queue fills; then W
             oponn-writer processes start; from the first applied batch
             (their start-up excluded, and reported) until the queue is
             empty gives the drain rate (applies/s with the queue full) and
             its ratio to `through`; W = 1, 2, 4;
  lag        behind, 1 writer running while the same clients send the same
             number of writes: the time from the last acknowledged mutation
             until the queue is empty (the last write is in MongoDB).

BENCH_WRITER names another oponn-writer binary; BENCH_BEFORE a second one
measured the same way after the first, on the same stack and books (e.g. an
older build: before/after in one run). Loopback only, bounded: every wait has a
BENCH_WAIT_S (300 s) limit and a drain that does not finish is reported as
such, with the rate it reached.

  nice -n 5 /usr/bin/python3 perf/writer_bench.py
"""
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "etc"))
sys.path.insert(0, os.path.join(ROOT, "t", "lib"))
sys.path.insert(0, os.path.join(ROOT, "perf"))
import cachestack  # noqa: E402
import perflib as P  # noqa: E402
import stack as _stack  # noqa: E402

BUILD = os.path.join(ROOT, "build")
BOOKS = int(os.environ.get("BENCH_BOOKS", "50000"))
WRITES = int(os.environ.get("BENCH_WRITES", "2000"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
CONNS = int(os.environ.get("BENCH_CONNS", "32"))
THROUGH_S = int(os.environ.get("BENCH_THROUGH_S", "4"))
WAIT_S = float(os.environ.get("BENCH_WAIT_S", "300"))
WRITER = os.environ.get("BENCH_WRITER") or os.path.join(BUILD, "oponn-writer")
MUT = 'mutation($id:ID!,$t:String!){ updateBook(id:$id, input:{title:$t}) { version } }'


def log(msg):
    print("# %s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


class Bench:
    def __init__(self, s, ids, writer):
        self.s = s
        self.writer = writer
        self.token = s.write_token()
        self.round = 0
        self.used = 0  # books[:used] were written in this run
        # The order the writes take the books in: random, fixed.
        self.ids = list(ids)
        random.Random(24).shuffle(self.ids)
        self.qkey = "%s:queue" % s.env().get("OPONN_CACHE_PREFIX", "oponn")

    def xlen(self):
        return P.redis_cmd(self.s.redis_port, "XLEN", self.qkey) or 0

    def writes(self):
        """WRITES updateBook from CLIENTS threads, each write to a book not
        written before in this run while the collection has enough (so no
        two writes fold into one apply and none waits on another's record);
        -> (seconds, acked, time of the last ack)."""
        self.round += 1
        fresh = self.ids[self.used:self.used + WRITES]
        if len(fresh) == WRITES:
            self.used += WRITES
            picked = fresh
        else:  # a small collection: books again, still one set per thread
            picked = random.Random(self.round).sample(self.ids, min(len(self.ids), WRITES))
        acked, last = [0], [0.0]
        lock = threading.Lock()

        def client(k):
            c = cachestack.Client(self.s.http_port, self.token)
            mine = picked[k::CLIENTS]
            for j, i in enumerate(range(k, WRITES, CLIENTS)):
                b = c(MUT, {"id": mine[j % len(mine)], "t": "r%d-%d" % (self.round, i)},
                      write=True)
                if b.get("data") and b["data"].get("updateBook"):
                    with lock:
                        acked[0] += 1
                        last[0] = time.monotonic()
        th = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        t0 = time.monotonic()
        for t in th:
            t.start()
        for t in th:
            t.join()
        return time.monotonic() - t0, acked[0], last[0]

    def through(self):
        """wrk, updateBook only, on random books of the whole collection: ->
        (acknowledged mutations/s, wrk's result)."""
        path = os.path.join(self.s.run_dir, "bench-books.ids")
        with open(path, "w") as f:
            f.write("\n".join(self.ids) + "\n")
        r = P.wrk(self.s.url, os.path.join(ROOT, "perf", "wrk", "mixed.lua"), conns=CONNS,
                  threads=2, duration=THROUGH_S,
                  env={"PERF_IDS": path, "PERF_WRITE_PCT": "100", "PERF_TOKEN": self.token,
                       "PERF_SEED": str(self.round)})
        ok = max(0, r["requests"] - r["errors"])  # errors counts GraphQL errors too
        return r["rps"] * ok / max(1, r["requests"]), r

    def pool(self, mode):
        self.s.stop_service("pool")
        self.s.extra_env["OPONN_WRITE_MODE"] = mode
        self.s.start_pool()

    def writers(self, n):
        env = dict(self.s.env(), OPONN_WRITE_MODE="behind")
        logs = os.path.join(self.s.run_dir, "logs")
        os.makedirs(logs, exist_ok=True)
        logf = open(os.path.join(logs, "bench-writers.log"), "a")
        procs = [subprocess.Popen([self.writer], env=env, stdout=logf, stderr=logf)
                 for _ in range(n)]
        logf.close()
        return procs

    def drain(self, n, limit):
        """n writers on the full queue: -> (processes, the queue length once
        the first batch was applied, the seconds until then (None: one batch
        emptied it), the queue length left, the seconds from then until the
        queue was empty or the limit, limit counted from the start). The rate is timed from the first applied batch: a writer's
        start-up (exec, connecting to Redis and MongoDB) is not its apply
        rate, and on a loaded machine it is a large part of a few seconds'
        drain. A queue that one batch empties is timed from the start."""
        full = self.xlen()
        t_start = time.monotonic()
        procs = self.writers(n)
        q0 = full
        while q0 == full and time.monotonic() - t_start < limit:
            time.sleep(0.01)
            q0 = self.xlen()
        t0 = time.monotonic()
        startup = t0 - t_start
        if q0 == 0:  # one batch took it all: no steady state to time
            q0, t0, startup = full, t_start, None
        took, left = self.wait_empty(t0, limit - (t0 - t_start))
        return procs, q0, startup, left, took

    @staticmethod
    def stop(procs):
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def wait_empty(self, t0, limit):
        """Until the queue is empty or limit seconds: -> (seconds since t0, left)."""
        left = self.xlen()
        while left and time.monotonic() - t0 < limit:
            time.sleep(0.05)
            left = self.xlen()
        return time.monotonic() - t0, left


def measure(s, ids, writer=None, writes=None, say=log, wait_s=None):
    """The measurements above on a running stack s (its pool is restarted in
    behind mode, and left in through mode) with books ids; every wait for
    the queue is bounded by wait_s (default BENCH_WAIT_S). Write-through is
    measured before and after the drains, and the ratios are taken against
    the faster of the two: on a shared machine the rates move, and the
    target must not be met by a slow moment of write-through. -> a dict of
    numbers (keys wb_*), and the printable rows."""
    global WRITES
    WRITES = writes or WRITES
    writer = writer or WRITER
    wait_s = wait_s or WAIT_S
    b = Bench(s, ids, writer)
    res = {"wb_books": len(ids), "wb_writes": WRITES, "wb_wait_s": wait_s}
    drains, lag_row, throughs = [], None, []

    def through():
        b.pool("through")
        rate, r = b.through()
        throughs.append(rate)
        say("through: wrk -c%d %d s, updateBook only: %d requests, %d errors, "
            "%.1f acknowledged/s" % (CONNS, THROUGH_S, r["requests"], r["errors"], rate))
    through()
    b.pool("behind")
    try:
        for n in (1, 2, 4):
            secs, acked, _ = b.writes()
            full = b.xlen()
            say("behind, no writer: %d acknowledged in %.2f s (%.1f/s), queue %d" % (
                acked, secs, acked / secs, full))
            procs, q0, startup, left, took = b.drain(n, wait_s)
            b.stop(procs)
            rate = (q0 - left) / took if took > 0 else 0.0
            res["wb_startup_%d_s" % n] = "" if startup is None else round(startup, 2)
            res["wb_drain_%d_per_s" % n] = round(rate, 1)
            res["wb_drained_%d" % n] = not left
            res["wb_queue_%d" % n] = full
            res["wb_drain_%d_s" % n] = round(took, 2)
            note = ("queue %d in one batch, start-up included: drained in %.2f s" % (
                        full, took) if startup is None else
                    "queue %d (%d after the first batch, %.2f s after the start) drained in "
                    "%.2f s" % (full, q0, startup, took) if not left else
                    "queue %d (%d after the first batch): %d left after %.0f s" % (
                        full, q0, left, took))
            drains.append((n, rate, note))
            say("drain, %d writer%s: %s (%.1f applies/s)" % (n, "" if n == 1 else "s", note,
                                                            rate))
        # The writer starts with the writes; its start-up is over long before
        # the last of them (BENCH_WRITES at the clients' pace).
        procs = b.writers(1)
        secs, acked, last = b.writes()
        took, left = b.wait_empty(last, wait_s)
        b.stop(procs)
        res["wb_lag_s"] = round(took, 2) if not left else ""
        res["wb_lag_ack_per_s"] = round(acked / secs, 1)
        lag_row = ("lag, 1 writer", "s", "%.2f" % took, "",
                   "last of %d writes (%.1f/s acknowledged) in MongoDB %.2f s after its "
                   "acknowledgement%s" % (acked, acked / secs, took,
                                          "" if not left else ", %d still queued" % left))
        say(lag_row[0] + ": " + lag_row[-1])
    finally:
        through()
    tp = max(throughs)
    res["wb_through_per_s"] = round(tp, 1)
    res["wb_through_runs"] = " / ".join("%.1f" % x for x in throughs)
    rows = [("write-through", "mutations/s", "%.1f" % tp, "",
             "wrk -c%d, %d s, updateBook on random books of %d; the faster of %s (before / "
             "after the drains)" % (CONNS, THROUGH_S, len(ids), res["wb_through_runs"]))]
    for n, rate, note in drains:
        res["wb_ratio_%d" % n] = round(rate / tp, 2) if tp else ""
        rows.append(("drain, %d writer%s" % (n, "" if n == 1 else "s"), "applies/s",
                     "%.1f" % rate, "%.2f" % (rate / tp) if tp else "", note))
    if lag_row:
        rows.append(lag_row)
    return res, rows


def main():
    for exe in ("oponn", "oponn-worker", "perf/gen_data"):
        if not os.access(os.path.join(BUILD, exe), os.X_OK):
            sys.exit("writer_bench: build/%s is missing: run `make` first" % exe)
    if not os.access(WRITER, os.X_OK):
        sys.exit("writer_bench: %s is not executable" % WRITER)
    d = tempfile.mkdtemp(prefix="oponn-wbench-")
    s = _stack.Stack(d, workers=int(os.environ.get("BENCH_WORKERS", "2")),
                     env={"OPONN_RATE_LIMIT": "0", "OPONN_WRITE_MODE": "through"})
    _stack.cleanup_on_signals(s)
    try:
        s.start()
        if s.oponn("migrate").returncode != 0:
            sys.exit("writer_bench: oponn migrate failed")
        data = os.path.join(d, "data")
        os.makedirs(data, exist_ok=True)
        t = time.monotonic()
        p = subprocess.run([os.path.join(BUILD, "perf", "gen_data"), "--books", str(BOOKS),
                            "--bookstores", "200", "--fruit", "0", "--out", data],
                           # a bulk of upserts can outlast the 5 s socket
                           # timeout on a busy machine (as in perf/run.py)
                           env=dict(s.env(), OPONN_MONGO_SOCKET_TIMEOUT_MS="120000"),
                           capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit("writer_bench: gen_data: " + p.stderr.strip())
        log("%s (%.1f s)" % (p.stdout.strip(), time.monotonic() - t))
        with open(os.path.join(data, "books.ids")) as f:
            ids = f.read().split()
        log("writer %s; %d books, %d updateBook from %d clients per measurement" % (
            WRITER, len(ids), WRITES, CLIENTS))
        runs = [(WRITER, measure(s, ids)[1])]
        if os.environ.get("BENCH_BEFORE"):
            runs.append((os.environ["BENCH_BEFORE"],
                         measure(s, ids, writer=os.environ["BENCH_BEFORE"])[1]))
    finally:
        s.stop()
    for writer, rows in runs:
        print("# %s" % writer)
        print("%-20s %-12s %10s %8s  %s" % ("measure", "unit", "value", "ratio", "note"))
        for r in rows:
            print("%-20s %-12s %10s %8s  %s" % r)


if __name__ == "__main__":
    main()
