#!/usr/bin/python3
"""perf/writer_bench.py — the write-behind writer against write-through, side
by side in one run on one stack (issue 24 part 3; `make perf` scenario (6)
runs the writer inside the whole suite, this measures only it).

One stack (etc/stack.py: MongoDB or its stand-in, Redis, the worker pool,
nginx), BENCH_BOOKS (50,000) books from build/perf/gen_data, then, with the
same BENCH_CLIENTS (8) threads sending BENCH_WRITES (2,000) updateBook each
time, every thread its own books (so every write is acknowledged):

  through    OPONN_WRITE_MODE=through: mutations/s (each a MongoDB
             findAndModify + cache update), the rate to match;
  drain W    OPONN_WRITE_MODE=behind, no writer: the writes fill the queue;
             then W oponn-writer processes start and the time until the
             queue is empty gives the drain rate (applies/s with the queue
             full) and its ratio to `through`; W = 1, 2, 4;
  lag        behind, 1 writer running while the writes arrive: the time from
             the last acknowledged mutation until the queue is empty (the
             last write is in MongoDB).

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
WAIT_S = float(os.environ.get("BENCH_WAIT_S", "300"))
WRITER = os.environ.get("BENCH_WRITER") or os.path.join(BUILD, "oponn-writer")
MUT = 'mutation($id:ID!,$t:String!){ updateBook(id:$id, input:{title:$t}) { version } }'


def log(msg):
    print("# %s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


class Bench:
    def __init__(self, s, ids, writer):
        self.s = s
        self.writer = writer
        self.ids = ids
        self.token = s.write_token()
        self.round = 0
        self.qkey = "%s:queue" % s.env().get("OPONN_CACHE_PREFIX", "oponn")

    def xlen(self):
        return P.redis_cmd(self.s.redis_port, "XLEN", self.qkey) or 0

    def writes(self):
        """WRITES updateBook from CLIENTS threads; -> (seconds, acked, time of the last ack)."""
        self.round += 1
        rng = random.Random(self.round)
        picked = rng.sample(self.ids, CLIENTS * 50)
        acked, last = [0], [0.0]
        lock = threading.Lock()

        def client(k):
            c = cachestack.Client(self.s.http_port, self.token)
            mine = picked[k::CLIENTS]
            for i in range(k, WRITES, CLIENTS):
                b = c(MUT, {"id": mine[i % len(mine)], "t": "r%d-%d" % (self.round, i)},
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

    def wait_empty(self, t0):
        """Until the queue is empty or WAIT_S: -> (seconds since t0, left)."""
        left = self.xlen()
        while left and time.monotonic() - t0 < WAIT_S:
            time.sleep(0.05)
            left = self.xlen()
        return time.monotonic() - t0, left


def measure(s, ids, writer=None, writes=None, say=log):
    """The measurements above on a running stack s (its pool is restarted in
    behind mode, and left in through mode) with books ids. -> a dict of
    numbers (keys wb_*), and the printable rows."""
    global WRITES
    WRITES = writes or WRITES
    writer = writer or WRITER
    b = Bench(s, ids, writer)
    res, rows = {}, []
    b.pool("through")
    secs, acked, _ = b.writes()
    through = acked / secs
    say("through: %d acknowledged in %.2f s" % (acked, secs))
    res["wb_through_per_s"] = round(through, 1)
    rows.append(("write-through", "mutations/s", "%.1f" % through, "", ""))
    b.pool("behind")
    try:
        for n in (1, 2, 4):
            secs, acked, _ = b.writes()
            full = b.xlen()
            say("behind, no writer: %d acknowledged in %.2f s (%.1f/s), queue %d" % (
                acked, secs, acked / secs, full))
            t0 = time.monotonic()
            procs = b.writers(n)
            took, left = b.wait_empty(t0)
            b.stop(procs)
            rate = (full - left) / took
            res["wb_drain_%d_per_s" % n] = round(rate, 1)
            res["wb_ratio_%d" % n] = round(rate / through, 2)
            res["wb_drained_%d" % n] = not left
            rows.append(("drain, %d writer%s" % (n, "" if n == 1 else "s"), "applies/s",
                         "%.1f" % rate, "%.2f" % (rate / through),
                         "queue %d drained in %.2f s" % (full, took) if not left else
                         "queue %d: %d left after %.0f s" % (full, left, took)))
        procs = b.writers(1)
        time.sleep(0.5)  # the writer's consumer joins the group before the writes
        secs, acked, last = b.writes()
        took, left = b.wait_empty(last)
        b.stop(procs)
        res["wb_lag_s"] = round(took, 2) if not left else ""
        rows.append(("lag, 1 writer", "s", "%.2f" % took, "",
                     "last of %d writes (%.1f/s acknowledged) in MongoDB %.2f s after its "
                     "acknowledgement%s" % (acked, acked / secs, took,
                                            "" if not left else ", %d still queued" % left)))
    finally:
        b.pool("through")
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
                           env=s.env(), capture_output=True, text=True)
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
