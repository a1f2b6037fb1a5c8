#!/usr/bin/python3
"""perf/run.py — oponn's load tests (`make perf`); perf/report.py writes the report.

One command, bounded (full: about 23 minutes; PERF_QUICK=1: about 3), loopback
only. It brings up its own stack on free ports in a temporary directory
(etc/stack.py: Redis, the MongoDB endpoint — MONGODB_URI if set, else the
development stand-in —, the spawn-fcgi pool, nginx), plus, in the same run:

  ceilings   nginx serving a static file of the size of a book(id) answer (a
             location added only to this stack's rendered nginx.conf); nginx →
             a pool of build/perf/fcgi_constant (the FastCGI path answering a
             constant body, touching nothing); redis-benchmark GET on the same
             Redis
  peers      Apollo Server (perf/peers/apollo/server.js, what most teams
             pick) and Fastify + Mercurius with graphql-jit
             (perf/peers/mercurius/server.js, the fast one) on the same Redis,
             MongoDB and data, each with as many node processes as oponn has
             workers; they run (1), (3) and (5) in the same rounds as oponn

then: `oponn migrate`, build/perf/gen_data (a deterministic data set), a
read-back check of a sample through GraphQL, backend-cost probes
(X-Oponn-Debug), ROUNDS rounds of every scenario (configurations alternate
inside a round; the report takes medians), a connection sweep and a pool-size
sweep for (1) and (5), a `perf record` profile of the workers under (1), and
the workers' resident size along the way. Everything lands in perf/results/
(CSV + meta.json); perf/report.py turns that into perf/REPORT.md and PNGs.

Scenarios (issue 8):
  1  book(id), random ids of a working set (PERF_HOT, 20,000 of the books,
     drawn at random), all cache hits (the working set is warmed first)
  2  book(id) misses: cache flushed, every id asked once (a shuffled walk);
     the ids all exist, so negative entries never come into play
  3  bookstoresForBooks with 100 ids (a fixed pool of 1,000 lists, warmed)
  4  fruitBySize, a cached batch (sizes 1..10, limit 100, warmed)
  5  90 % book(id) / 10 % updateBook, write-through
  6  the same with OPONN_WRITE_MODE=behind and oponn-writer; queue lag
  7  updateFruit while 100 fruitBySize batches are cached (each write is
     reconciled against all of them)
A scenario whose feature is not in this build (no cache, no write-behind) is
still run where it means something, and the report says what it measured.

Knobs: PERF_QUICK=1, PERF_DURATION (s per run), PERF_ROUNDS, PERF_CONNS (32),
OPONN_WORKERS (default: cores), PERF_BOOKS / PERF_BOOKSTORES / PERF_FRUIT, PERF_HOT,
PERF_SWEEPS=0, PERF_PROFILE=0, PERF_RESULTS (default perf/results), PERF_KEEP=1
(keep the temporary run directory: service logs, data set, ids),
MONGODB_URI (a real MongoDB instead of the stand-in; the data set is loaded
into OPONN_MONGODB_DB, default oponn_perf), PERF_DRAIN_S (30: (6)'s watch
window), PERF_DRAIN_WRITES (3000: writes per drain measurement of (6)),
PERF_WALK_DRAIN_S (40: how long a warm-up walk waits for the answers to
the items it sent before it gives up on them), PERF_ONLY=6 ((6) alone on the same stack and data set, about 5 minutes under load;
results in a temporary directory unless PERF_RESULTS is set). Issue 22
(light_bench, below): PERF_ONLY=light (only the ceilings, (3), (4) and
light_bench), PERF_LIGHT_BASE (a commit to measure "before" on; default e8b1d9b,
the commit before issue 22; empty: "after" only),
PERF_LIGHT_WRITES (100), PERF_LIGHT_READS (2000). Issue 23 (L1 near cache, below:
l1_scenarios): PERF_ONLY=l1 (only the ceilings and the L1 scenarios, results
and an L1.md in a temporary directory unless PERF_RESULTS is set),
PERF_L1_TARGET (0.99: the L1 share the warm-up reaches before a measured run),
PERF_L1_MAX_AGE_MS (empty: the pools' default OPONN_L1_MAX_AGE_MS, 300000; set it
to measure another backstop).
"""
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "etc"))
sys.path.insert(0, HERE)
from stack import Stack, free_port  # noqa: E402
import perflib as P  # noqa: E402

QUICK = os.environ.get("PERF_QUICK") == "1"
CORES = os.cpu_count() or 1


def knob(name, full, quick):
    v = os.environ.get(name)
    return type(full)(v) if v else (quick if QUICK else full)


CFG = {
    "quick": QUICK,
    "books": knob("PERF_BOOKS", 100000, 20000),
    "bookstores": knob("PERF_BOOKSTORES", 1000, 1000),
    "fruit": knob("PERF_FRUIT", 50000, 10000),
    # (1), (5), (6): ids drawn from a working set of this many books, picked
    # at random (seeded) from the data set, all cached by the warm-up.
    "hot": knob("PERF_HOT", 20000, 5000),
    "duration": knob("PERF_DURATION", 5, 2),
    "rounds": knob("PERF_ROUNDS", 3, 1),
    "conns": knob("PERF_CONNS", 32, 32),
    "threads": 2,
    "workers": int(os.environ.get("OPONN_WORKERS") or 0) or CORES,
    "nginx_workers": int(os.environ.get("OPONN_NGINX_WORKERS") or 0) or CORES,
    "sweeps": os.environ.get("PERF_SWEEPS", "1") != "0",
    "sweep_rounds": knob("PERF_SWEEP_ROUNDS", 2, 1),
    "sweep_duration": knob("PERF_SWEEP_DURATION", 3, 1),
    "conns_sweep": [1, 8, 32, 128],
    "pool_sweep": [1, 2, 4, 8],
    "profile": os.environ.get("PERF_PROFILE", "1") != "0",
    "lists": 1000,
    "list_ids": 100,
    "write_pct": 10,
    "fruit_limits": "10,20,30,40,50,60,70,80,90,100",
    "mongodb_db": os.environ.get("OPONN_MONGODB_DB", "oponn_perf"),
    "real_mongodb": bool(os.environ.get("MONGODB_URI")),
}
# PERF_ONLY=6: scenario (6) alone (after the same stack, data set and
# checks), its results in a temporary directory unless PERF_RESULTS names one,
# so perf/results/ keeps the last whole run.
ONLY = os.environ.get("PERF_ONLY") or ""
RESULTS = os.environ.get("PERF_RESULTS") or (
    tempfile.mkdtemp(prefix="oponn-perf-only-") if ONLY in ("6", "l1")
    else os.path.join(HERE, "results"))
# The L1 scenarios (issue 23: about 9 minutes quiet) come on top of the 16.
BUDGET = float(os.environ.get("PERF_BUDGET_S") or 25 * 60)
WRK = os.path.join(HERE, "wrk")
BUILD = os.path.join(ROOT, "build")

Q_BOOK = "query($id:ID!){book(id:$id){id title authors year price version}}"


def num_or0(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


T0 = time.monotonic()


def log(msg):
    print("perf [%4.0fs]: %s" % (time.monotonic() - T0, msg), file=sys.stderr, flush=True)


class PerfStack(Stack):
    """The stack plus one nginx location for the static-file ceiling, in this
    stack's rendered configuration only (never in etc/nginx or ansible)."""

    STATIC = "perf-static.json"

    def render_nginx_conf(self):
        path = super().render_nginx_conf()
        with open(path) as f:
            conf = f.read()
        loc = ("        # perf only: the static-file ceiling (perf/run.py)\n"
               "        location = /%s {\n"
               "            default_type application/json;\n"
               "            alias %s;\n"
               "        }\n\n        location / {" % (self.STATIC, self._path(self.STATIC)))
        if "        location / {" not in conf:
            raise RuntimeError("nginx template changed: no `location / {` to add the static "
                               "ceiling before")
        conf = conf.replace("        location / {", loc, 1)
        with open(path, "w") as f:
            f.write(conf)
        return path


class Bench:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="oponn-perf-")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.data)
        self.rows, self.probes, self.memory, self.notes = [], [], [], []
        self.writer = None
        self.peers = {}  # name -> perflib.Peer, for the peers that run
        env = {"OPONN_NGINX_WORKERS": str(CFG["nginx_workers"]),
               "OPONN_MONGODB_DB": CFG["mongodb_db"]}
        os.environ["OPONN_NGINX_WORKERS"] = str(CFG["nginx_workers"])
        # Load from one loopback address: the per-client rate limit would cap it.
        os.environ["OPONN_RATE_LIMIT"] = "0"
        self.s = PerfStack(os.path.join(self.dir, "oponn"), workers=CFG["workers"], env=env)
        self.c = Stack(os.path.join(self.dir, "constant"), workers=CFG["workers"],
                       worker=os.path.join(BUILD, "perf", "fcgi_constant"),
                       mongo_uri="mongodb://unused")
        os.makedirs(self.s.run_dir)
        self.token = self.s.write_token()
        self.features = {}
        self.t0 = time.monotonic()

    # ---- services

    def start(self):
        log("run directory %s" % self.dir)
        self.s.start()
        with open(self.s._path(PerfStack.STATIC), "w") as f:
            f.write("{}")
        self.c.start(services=("pool", "nginx"))
        log("oponn on %s (%d workers, nginx %d), constant pool on %s" % (
            self.s.url, CFG["workers"], CFG["nginx_workers"], self.c.url))

    def stop(self):
        for peer in self.peers.values():
            peer.stop()
        self.stop_writer()
        for st in (self.c, self.s):
            try:
                st.stop()
            except Exception as e:  # keep stopping the rest
                log("stopping %s: %s" % (st.run_dir, e))

    def _spawn(self, name, argv, env):
        logf = open(os.path.join(self.dir, name + ".log"), "ab")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env,
                             cwd=ROOT, start_new_session=True)
        logf.close()
        return p

    @staticmethod
    def _kill(p, timeout=10):
        if p is None or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=5)

    def start_peers(self):
        """Every peer of perflib.PEERS whose packages are installed, with the
        pool's environment (Redis, MongoDB, database, write token)."""
        for name in P.PEERS:
            peer = P.Peer(name, self.s.env(), free_port(), CFG["workers"], self.dir)
            why = peer.missing()
            if why:
                self.notes.append("%s peer skipped: %s" % (peer.label, why))
                log(self.notes[-1])
                continue
            self.peers[name] = peer.start()
            log("%s peer on %s (%d node processes)" % (peer.label, peer.url, CFG["workers"]))

    def url_of(self, system):
        return self.peers[system].url if system in self.peers else self.s.url

    def start_writer(self):
        """oponn-writer with the pool's environment (OPONN_WRITE_MODE=behind):
        the stack's writer service where etc/stack.py has one, else ours."""
        if hasattr(self.s, "start_writer"):
            self.s.start_writer()
            return
        self.writer = self._spawn("writer", [os.path.join(BUILD, "oponn-writer")],
                                  self.s.env())

    def stop_writer(self):
        if hasattr(self.s, "start_writer"):
            self.s.stop_service("writer")
        self._kill(self.writer)
        self.writer = None

    def writer_pids(self):
        if self.writer:
            return P.tree(self.writer.pid)
        return P.tree(self.s._pid("writer")) if hasattr(self.s, "start_writer") else []

    def restart_pool(self, workers=None, extra_env=None):
        """The pool again, with another size or environment (nginx stays)."""
        self.s.stop_service("pool")
        if workers:
            self.s.workers = workers
        for k in ("OPONN_WRITE_MODE", "OPONN_L1_BYTES", "OPONN_L1_MAX_AGE_MS"):
            self.s.extra_env.pop(k, None)
        self.s.extra_env.update(extra_env or {})
        self.s.start_pool()

    # ---- the data set

    def load(self):
        r = self.s.oponn("migrate")
        if r.returncode != 0:
            raise RuntimeError("oponn migrate: " + r.stderr.strip())
        t = time.monotonic()
        # A bulk of 5,000 upserts can outlast the workers' 5 s socket timeout
        # on the stand-in when the machine is busy; the loader may wait.
        env = dict(self.s.env(), OPONN_MONGO_SOCKET_TIMEOUT_MS="120000")
        p = subprocess.run([os.path.join(BUILD, "perf", "gen_data"), "--books", str(CFG["books"]),
                            "--bookstores", str(CFG["bookstores"]), "--fruit", str(CFG["fruit"]),
                            "--out", self.data], env=env, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("gen_data: " + p.stderr.strip())
        self.load_seconds = time.monotonic() - t
        log("%s (%.1f s)" % (p.stdout.strip(), self.load_seconds))
        self.ids = {k: os.path.join(self.data, k + ".ids")
                    for k in ("books", "bookstores", "apples", "oranges")}
        with open(self.ids["books"]) as f:
            books = f.read().split()
        import random
        hot = random.Random(20261122).sample(books, min(CFG["hot"], len(books)))
        # (5): oponn writes the even ids, the peers the odd ones (Apollo
        # 1, 5, 9 ..., Mercurius 3, 7, 11 ...), so no system writes a record
        # behind another's cache.
        for name, part in (("hot", hot), ("writes_oponn", hot[0::2]),
                           ("writes_apollo", hot[1::4]), ("writes_mercurius", hot[3::4])):
            self.ids[name] = os.path.join(self.data, name + ".ids")
            with open(self.ids[name], "w") as f:
                f.write("\n".join(part) + "\n")
        self.flush()

    def check_sample(self, url, who):
        """The generated sample reads back through GraphQL, field for field."""
        with open(os.path.join(self.data, "sample.json")) as f:
            sample = json.load(f)
        q = "query($id:ID!){book(id:$id){id title authors year price bookstore{id name}}}"
        bad = 0
        for want in sample:
            got = P.gql(url, q, {"id": want["id"]}, debug=False).get("data", {}).get("book")
            if got != want:
                bad += 1
                if bad == 1:
                    log("%s sample mismatch: want %s got %s" % (who, want, got))
        if bad:
            raise RuntimeError("%s: %d of %d sample books read back wrong" % (who, bad,
                                                                            len(sample)))
        log("%s: %d sample books read back exactly" % (who, len(sample)))
        return len(sample)

    # ---- features of this build (the cache and write-behind land later)

    def detect(self):
        """What this build can do, from its CLI and, after the load, from how
        it behaves (a feature compiled in but not wired counts as absent)."""
        m = P.metrics(self.s.base_url)
        cfg = self.s.oponn("config").stdout
        self.features = {
            "cache_flush": self.s.oponn("cache", "flush").returncode == 0,
            "write_behind_active": False,
            "write_behind": ("oponn_queue_writes_total{state=\"enqueued\"}" in m
                             and "OPONN_WRITE_MODE" in cfg
                             and os.access(os.path.join(BUILD, "oponn-writer"), os.X_OK)),
        }

    def detect_reads(self):
        """Whether a repeated read is answered without MongoDB (entity cache)
        and a repeated bookstoresForBooks too (batch cache)."""
        with open(self.ids["books"]) as f:
            ids = [f.readline().strip() for _ in range(3)]
        q3 = "query($ids:[ID!]!){bookstoresForBooks(bookIds:$ids){bookId bookstore{id}}}"
        for name, q, v in (("cache", Q_BOOK, {"id": ids[0]}),
                           ("batch_cache", q3, {"ids": ids[1:]})):
            P.gql(self.s.url, q, v)
            d = P.gql(self.s.url, q, v)
            self.features[name] = (d.get("extensions") or {}).get("mongodbCommands") == 0
        self.flush()
        log("features: %s" % self.features)
        if not self.features["cache"]:
            self.notes.append("this build answers repeated reads from MongoDB (X-Oponn-Debug "
                              "shows MongoDB commands on a second identical book(id)): the "
                              "cache is not serving reads, so (1), (3), (4) and (7) measure "
                              "MongoDB (the stand-in), not cache hits")

    def flush(self):
        """Empties oponn's cache (its namespace only: the peers' keys stay).
        The CLI's Redis timeout is the workers' 200 ms; deleting a namespace
        of 100,000s of keys on a busy machine may take longer, so the flush
        gets 30 s per call and three tries (it is idempotent)."""
        if not self.features.get("cache_flush"):
            return
        env = dict(self.s.env(), OPONN_REDIS_TIMEOUT_MS="30000")
        for attempt in range(3):
            r = subprocess.run([os.path.join(BUILD, "oponn"), "cache", "flush"], env=env,
                               capture_output=True, text=True)
            if r.returncode == 0:
                return
            log("oponn cache flush (try %d of 3): %s" % (attempt + 1, r.stderr.strip()))
        raise RuntimeError("oponn cache flush: " + r.stderr.strip())

    # ---- measuring

    def procset(self):
        s, c = self.s, self.c
        groups = {
            "nginx": lambda: P.tree(s._pid("nginx")),
            "workers": lambda: P.tree(s._pid("pool")),
            "redis": lambda: P.tree(s._pid("redis")),
            "mongo": lambda: P.tree(s._pid("mongo")),
            "c_nginx": lambda: P.tree(c._pid("nginx")),
            "c_pool": lambda: P.tree(c._pid("pool")),
            "writer": self.writer_pids,
        }
        for name in P.PEERS:
            groups[name] = self.peers[name].pids if name in self.peers else list
        return P.ProcSet(groups)

    def measure(self, phase, scenario, system, rnd, script=None, env=None, conns=None,
                duration=None, url=None, extra=None):
        conns = conns or CFG["conns"]
        duration = duration or CFG["duration"]
        if url is None:
            url = self.url_of(system)
        e = {"PERF_SEED": str(1000 * rnd + conns), "PERF_TOKEN": self.token}
        e.update(env or {})
        ps = self.procset()
        # Requests of an earlier step (a warm-up's last ones) may still be in
        # the server: start once its counters are still.
        m0 = a0 = None
        if system == "oponn":
            m0, _ = self.settle_metrics()
            cs0 = P.redis_commandstats(self.s.redis_port, usec=True)
        elif system in self.peers:
            counters = self.peers[system].counters
            a0 = self.settle(counters, lambda c: c["requests"], 0.25)
        snap0 = ps.snapshot()
        r = P.wrk(url, os.path.join(WRK, script) if script else None, conns=conns,
                  threads=CFG["threads"], duration=duration, env=e)
        # wrk stops with requests in flight; the server finishes them. Wait
        # until its counters settle, then count what the server served, so
        # CPU and backend cost are both divided by the requests they paid for.
        served = r["requests"]
        if m0 is not None:
            m1, scrapes = self.settle_metrics()
            d = P.metrics_delta(m0, m1)
            served = self.http_count(d) - scrapes
        elif a0 is not None:
            a1 = self.settle(counters, lambda c: c["requests"], 0.25)
            d = {k: a1[k] - a0[k] for k in a1}
            served = d["requests"]
        snap1 = ps.snapshot()
        cpu = P.ProcSet.delta(snap0, snap1)
        row = {"phase": phase, "scenario": scenario, "system": system, "round": rnd,
               "conns": conns, "workers": self.s.workers, "duration": duration,
               "requests": r["requests"], "served": served, "rps": r["rps"],
               "p50_ms": r["p50"], "p90_ms": r["p90"], "p99_ms": r["p99"], "max_ms": r["max"],
               "errors": r["errors"], "wall_s": cpu["wall"], "cpu_wrk_s": r["cpu_wrk"],
               "cpu_machine_s": cpu["machine"]}
        for g in ps.groups:
            row["cpu_%s_s" % g] = cpu.get(g, 0.0)
        front, app = {"oponn": ("nginx", "workers"), "static": ("nginx", None),
                      "fcgi_constant": ("c_nginx", "c_pool")}.get(system, (None, system))
        server = (cpu.get(front, 0.0) if front else 0.0) + (cpu.get(app, 0.0) if app else 0.0)
        n = max(1, served)
        row["cpu_server_us_per_req"] = 1e6 * server / n
        row["cpu_backend_us_per_req"] = 1e6 * (cpu["redis"] + cpu["mongo"]) / n
        if m0 is not None:
            row["mongo_per_req"] = d.get("oponn_mongodb_commands_total", 0) / n
            row["redis_per_req"] = d.get("oponn_redis_roundtrips_total", 0) / n
            for k, name in (("cache_hits", "oponn_cache_hits_total"),
                            ("cache_misses", "oponn_cache_misses_total"),
                            ("batch_hits", "oponn_cache_batch_hits_total"),
                            ("batch_misses", "oponn_cache_batch_misses_total"),
                            ("gql_errors_metric", "oponn_graphql_errors_total"),
                            ("l1_hits", "oponn_l1_hits_total"),
                            ("l1_misses", "oponn_l1_misses_total"),
                            ("l1_bypasses", "oponn_l1_lease_bypasses_total"),
                            ("queue_enqueued",
                             'oponn_queue_writes_total{state="enqueued"}')):
                row[k] = d.get(name, "")
            row["rss_workers_kb"] = sum(P.rss_kb(p) for p in self.s.worker_pids())
            # Time Redis spent in commands (scripts included once: the
            # commands a script runs are inside its time).
            cs1 = P.redis_commandstats(self.s.redis_port, usec=True)
            top = {k: (v[0] - cs0.get(k, (0, 0))[0], v[1] - cs0.get(k, (0, 0))[1])
                   for k, v in cs1.items() if k in ("evalsha", "eval", "get", "mget", "hmget",
                                                    "xadd", "set", "info")}
            usec = sum(u for k, (c, u) in top.items() if k != "info")
            row["redis_usec_per_req"] = usec / n
            ev = top.get("evalsha", (0, 0))
            row["evalsha_per_req"] = ev[0] / n
            row["evalsha_usec_per_call"] = ev[1] / ev[0] if ev[0] else ""
        if a0 is not None:
            row["mongo_per_req"] = d["mongo"] / n
            row["redis_per_req"] = d["redis"] / n
            row["rss_workers_kb"] = sum(P.rss_kb(p) for p in self.peers[system].worker_pids())
        row.update(extra or {})
        self.rows.append(row)
        log("%-5s %-2s %-13s r%d c%-3d w%d %8.0f req/s  p50 %6.2f  p99 %7.2f ms  err %d"
            "  cpu %.0f us/req  mongo %.2f redis %.2f /req" % (
                phase, scenario, system, rnd, conns, self.s.workers, r["rps"], r["p50"] or 0,
                r["p99"] or 0, r["errors"], row["cpu_server_us_per_req"],
                row.get("mongo_per_req", 0) or 0, row.get("redis_per_req", 0) or 0))
        if r["errors"] and os.environ.get("PERF_VERBOSE"):
            log(r["raw"] + r["stderr"])
        return row

    @staticmethod
    def http_count(m):
        return sum(v for k, v in m.items() if k.startswith("oponn_http_responses_total"))

    def settle_metrics(self, limit=5.0):
        """/metrics once the server has finished what it was doing: read until
        only our own scrape (each one counts as a response) was answered in
        between. Returns (metrics, scrapes whose responses are not in the
        previous settled reading: the earlier reading's own request plus
        the reads before the last one here)."""
        t0 = time.monotonic()
        prev, n = P.metrics(self.s.base_url), 1
        while time.monotonic() - t0 < limit:
            time.sleep(0.1)
            cur = P.metrics(self.s.base_url)
            n += 1
            if self.http_count(cur) - self.http_count(prev) <= 1:
                return cur, n
            prev = cur
        return prev, n

    @staticmethod
    def settle(read, key, pause, limit=5.0):
        """read() until key(reading) stops changing (or limit seconds)."""
        t0 = time.monotonic()
        prev = read()
        while time.monotonic() - t0 < limit:
            time.sleep(pause)
            cur = read()
            if key(cur) == key(prev):
                return cur
            prev = cur
        return prev

    def walk(self, url, script, env, bound=180, conns=32):
        """Sends every item of the script's list once (cache warm-up). A walk
        of slow misses (batches over the stand-in's collection scans) uses
        fewer connections: the misses queue in MongoDB, and at 32 at once the
        last ones outwait wrk's timeout though nothing is wrong."""
        d = tempfile.mkdtemp(dir=self.dir, prefix="walk-")
        e = {"PERF_WALK": "1", "PERF_TOKEN": self.token}
        e.update(env)
        t = time.monotonic()
        # Nothing is measured here: a slow answer on a loaded machine must not
        # fail the warm-up (wrk's default timeout is 5 s).
        r = P.wrk(url, os.path.join(WRK, script), conns=conns, threads=CFG["threads"],
                  duration=bound, env=e, walk_dir=d, timeout_s=30)
        shutil.rmtree(d, ignore_errors=True)
        if r["errors"]:
            # A warm-up that lost a few answers (timeouts, request deadlines
            # on a busy machine) leaves a few entries cold: the run goes on
            # and the report says so.
            self.notes.append("warm-up %s against %s: %d of %d requests failed (%s); the "
                              "scenario after it started with those entries cold" % (
                                  script, url, r["errors"], r["requests"], ", ".join(
                                      "%s %s" % (k, v) for k, v in sorted(r.items())
                                      if ("err" in k or "timeout" in k) and v)))
            log(self.notes[-1])
            if os.environ.get("PERF_VERBOSE"):
                log(r.get("raw", "")[-1500:] + r.get("stderr", "")[-1500:])
        return r["requests"], time.monotonic() - t

    # ---- scenario preparation

    def env_books(self):
        return {"PERF_IDS": self.ids["hot"]}

    def env_lists(self):
        return {"PERF_IDS": self.ids["books"], "PERF_N": str(CFG["list_ids"]),
                "PERF_LISTS": str(CFG["lists"])}

    def env_mixed(self, system):
        return {"PERF_IDS": self.ids["hot"], "PERF_WRITE_PCT": str(CFG["write_pct"]),
                "PERF_WRITE_IDS": self.ids["writes_" + system]}

    def warm_entities(self):
        n, t = self.walk(self.s.url, "book.lua", self.env_books())
        log("warm: %d book(id) through oponn in %.1f s" % (n, t))
        for peer in self.peers.values():
            n, t = self.walk(peer.url, "book.lua", self.env_books())
            log("warm: %d book(id) through %s in %.1f s" % (n, peer.label, t))

    # ---- probes: exact backend cost of single requests (X-Oponn-Debug)

    def probe(self, scenario, case, query, variables, token=None, n=""):
        d = P.gql(self.s.url, query, variables, token=token)
        ext = d.get("extensions") or {}
        row = {"scenario": scenario, "case": case, "system": "oponn", "ids": n,
               "mongodb_commands": ext.get("mongodbCommands", ""),
               "redis_round_trips": ext.get("redisRoundTrips", ""),
               "errors": len(d.get("errors") or [])}
        self.probes.append(row)
        return row

    def probe_peers(self, scenario, case, query, variables, token=None, n=""):
        for name, peer in self.peers.items():
            time.sleep(0.45)  # counters of earlier requests reach their files
            a0 = peer.counters()
            d = P.gql(peer.url, query, variables, token=token, debug=False)
            time.sleep(0.45)
            a1 = peer.counters()
            self.probes.append({"scenario": scenario, "case": case, "system": name, "ids": n,
                                "mongodb_commands": a1["mongo"] - a0["mongo"],
                                "redis_round_trips": a1["redis"] - a0["redis"],
                                "errors": len(d.get("errors") or [])})

    def probes_run(self):
        import random
        rng = random.Random(8)
        with open(self.ids["books"]) as f:
            books = f.read().split()
        with open(self.ids["apples"]) as f:
            apples = f.read().split()
        rng.shuffle(books)
        pool = iter(books)
        self.flush()
        bid = next(pool)
        for case in ("cold", "warm"):
            self.probe("1", case, Q_BOOK, {"id": bid})
            self.probe_peers("1", case, Q_BOOK, {"id": bid})
        q3 = ("query($ids:[ID!]!){bookstoresForBooks(bookIds:$ids)"
              "{bookId book{id title} bookstore{id name}}}")
        for n in (1, 10, 100, 1000):
            ids = [next(pool) for _ in range(n)]
            for case in ("cold", "warm"):
                self.probe("3", case, q3, {"ids": ids}, n=n)
                self.probe_peers("3", case, q3, {"ids": ids}, n=n)
        # A new list of ids whose books and stores are cached: a batch miss.
        warm_ids = [next(pool) for _ in range(100)]
        for i in warm_ids:
            P.gql(self.s.url, Q_BOOK, {"id": i}, debug=False)
        self.probe("3", "new list, entities cached", q3, {"ids": warm_ids}, n=100)
        q4 = ("query($s:Int!,$l:Int){fruitBySize(size:$s,limit:$l)"
              "{id kind breed size colour acidity version}}")
        for case in ("cold", "warm"):
            self.probe("4", case, q4, {"s": 3, "l": 100})
        q5 = "mutation($id:ID!,$p:Float){updateBook(id:$id,input:{price:$p}){id price version}}"
        self.probe("5", "updateBook", q5, {"id": next(pool), "p": 12.5}, token=self.token)
        self.probe_peers("5", "updateBook", q5, {"id": next(pool), "p": 12.5},
                         token=self.token)
        # (7): 100 cached batches (10 sizes x 10 limits), then one update.
        for s_ in range(1, 11):
            for lim in range(10, 101, 10):
                P.gql(self.s.url, q4, {"s": s_, "l": lim}, debug=False)
        cs0 = P.redis_commandstats(self.s.redis_port)
        q7 = ("mutation($id:ID!,$a:Float){updateFruit(kind:APPLE,id:$id,input:{acidity:$a})"
              "{id acidity version}}")
        row = self.probe("7", "updateFruit, 100 batches cached", q7,
                         {"id": rng.choice(apples), "a": 3.33}, token=self.token)
        cs1 = P.redis_commandstats(self.s.redis_port)
        cmds = {k: cs1[k] - cs0.get(k, 0) for k in cs1 if cs1[k] != cs0.get(k, 0) and k != "info"}
        row["evalsha"] = cmds.get("evalsha", 0)
        row["redis_commands"] = " ".join("%s=%d" % kv for kv in sorted(cmds.items()))
        for r in self.probes:
            log("probe (%s) %-34s %-6s ids=%-4s mongo %s redis %s%s" % (
                r["scenario"], r["case"], r["system"], r["ids"], r["mongodb_commands"],
                r["redis_round_trips"], "  ERRORS %d" % r["errors"] if r["errors"] else ""))

    # ---- the scenarios, one round

    def ceilings(self, rnd):
        self.measure("main", "1", "static", rnd, url=self.s.base_url + "/" + PerfStack.STATIC)
        self.measure("main", "1", "fcgi_constant", rnd, url=self.c.url)
        self.redis_benchmark(rnd)

    def redis_benchmark(self, rnd):
        n = 40000 * CFG["duration"]
        ps = self.procset()
        s0 = ps.snapshot()
        p = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(self.s.redis_port),
                            "--dbnum", "1", "-t", "set,get", "-n", str(n), "-c", str(CFG["conns"]),
                            "-r", "100000", "-d", "200", "--csv"],
                           capture_output=True, text=True, timeout=300)
        s1 = ps.snapshot()
        cpu = P.ProcSet.delta(s0, s1)
        rows = list(csv.reader(p.stdout.splitlines()))
        if p.returncode != 0 or len(rows) < 2:
            self.notes.append("redis-benchmark failed: %s" % p.stderr.strip()[:200])
            return
        h = rows[0]
        got = [dict(zip(h, r)) for r in rows[1:] if r and r[0] == "GET"]
        if not got:
            self.notes.append("redis-benchmark printed no GET row: %s" % p.stdout[:200])
            return
        v = got[0]
        self.rows.append({"phase": "main", "scenario": "redis GET", "system": "redis-benchmark",
                          "round": rnd, "conns": CFG["conns"], "workers": "",
                          "duration": cpu["wall"], "requests": n, "rps": float(v["rps"]),
                          "p50_ms": float(v.get("p50_latency_ms", 0)), "p90_ms": "",
                          "p99_ms": float(v.get("p99_latency_ms", 0)),
                          "max_ms": float(v.get("max_latency_ms", 0)), "errors": 0,
                          "wall_s": cpu["wall"], "cpu_redis_s": cpu["redis"],
                          "cpu_machine_s": cpu["machine"],
                          "cpu_server_us_per_req": 1e6 * cpu["redis"] / n})
        log("main  redis GET (redis-benchmark) r%d %8.0f req/s  p50 %s  p99 %s ms" % (
            rnd, float(v["rps"]), v.get("p50_latency_ms"), v.get("p99_latency_ms")))

    def pair(self, rnd, scenario, script, env_of, phase="main", conns=None, duration=None):
        # The order rotates every round: with 3 rounds, each system runs
        # first, second and last once.
        systems = ["oponn"] + list(self.peers)
        k = rnd % len(systems)
        for system in systems[k:] + systems[:k]:
            self.measure(phase, scenario, system, rnd, script, env_of(system), conns=conns,
                         duration=duration)

    def memory_sample(self, label, rnd):
        for p in self.s.worker_pids():
            self.memory.append({"label": label, "round": rnd, "pid": p, "rss_kb": P.rss_kb(p)})

    def round(self, rnd):
        log("---- round %d of %d" % (rnd, CFG["rounds"]))
        self.ceilings(rnd)
        self.flush()
        self.warm_entities()
        self.memory_sample("after warm-up", rnd)
        self.pair(rnd, "1", "book.lua", lambda s: self.env_books())
        self.memory_sample("after (1)", rnd)
        self.pair(rnd, "5", "mixed.lua", self.env_mixed)
        # (4): the 10 batches of limit 100, warmed, then random sizes.
        warm_fruit(self)
        self.measure("main", "4", "oponn", rnd, "fruit_by_size.lua", {"PERF_LIMITS": "100"})
        self.memory_sample("after (4)", rnd)
        # (7): 100 batches (10 sizes x 10 limits), warmed, then updates.
        n, t = self.walk(self.s.url, "fruit_by_size.lua", {"PERF_LIMITS": CFG["fruit_limits"]},
                         conns=4)
        log("warm: %d fruitBySize batches in %.1f s" % (n, t))
        self.measure("main", "7", "oponn", rnd, "fruit_update.lua",
                     {"PERF_IDS": self.ids["apples"]})
        # (3): the pool of lists, warmed through both, then random lists.
        self.walk(self.s.url, "bookstores_for_books.lua", self.env_lists())
        for peer in self.peers.values():
            self.walk(peer.url, "bookstores_for_books.lua", self.env_lists())
        self.pair(rnd, "3", "bookstores_for_books.lua", lambda s: self.env_lists())
        self.memory_sample("after (3)", rnd)
        # (5) again, now that (3)'s lists are cached batches of the books
        # table: every updateBook reconciles all of them.
        self.measure("main", "5b", "oponn", rnd, "mixed.lua", self.env_mixed("oponn"))
        # (2): misses. Flushed; every request asks an id not asked since.
        self.flush()
        self.measure("main", "2", "oponn", rnd, "book.lua",
                     {"PERF_IDS": self.ids["books"], "PERF_WALK": "1",
                      "PERF_SEED": str(rnd)})
        self.memory_sample("after (2)", rnd)

    def write_behind(self):
        """(6), once, last: the (5) mix with OPONN_WRITE_MODE=behind and
        oponn-writer, in (5)'s cache state (entities cached, no batches); it
        runs after everything else so that queued writes cannot change how
        the cache fills in the other scenarios. The queue is watched for
        PERF_DRAIN_S (30) seconds after the mixed run: drained (the lag of
        the last acknowledged write), or its apply rate and estimated lag.
        Then the writer alone against write-through on the same endpoint and
        the whole collection (perf/writer_bench.measure): the write-through
        mutation rate, the drain rate with the queue full for 1, 2 and 4
        writers and its ratio to write-through (target >= 0.8, drained within
        the same watch window), and the lag of the last write."""
        if not self.features.get("write_behind"):
            self.notes.append("(6) write-behind skipped: this build has no write-behind "
                              "(no oponn_queue_writes_total in /metrics, no "
                              "OPONN_WRITE_MODE knob or no build/oponn-writer)")
            return
        t_start = time.monotonic()
        self.flush()
        # oponn's entities only: the peers take no part in (6).
        n, t = self.walk(self.s.url, "book.lua", self.env_books())
        log("warm: %d book(id) through oponn in %.1f s" % (n, t))
        self.restart_pool(extra_env={"OPONN_WRITE_MODE": "behind"})
        try:
            self.start_writer()
        except RuntimeError as e:
            self.notes.append("(6) skipped: oponn-writer did not start: %s" % e)
            self.restart_pool()
            return
        qkey = "%s:queue" % os.environ.get("OPONN_CACHE_PREFIX", "oponn")
        lens, stop = [], [False]

        def sample():
            while not stop[0]:
                try:
                    lens.append(P.redis_cmd(self.s.redis_port, "XLEN", qkey) or 0)
                except (OSError, RuntimeError):
                    pass
                time.sleep(0.2)
        import threading
        th = threading.Thread(target=sample, daemon=True)
        th.start()
        try:
            row = self.measure("main", "6", "oponn", 1, "mixed.lua", self.env_mixed("oponn"))
        finally:
            stop[0] = True
            th.join()
        limit = float(os.environ.get("PERF_DRAIN_S", "30"))
        t0 = time.monotonic()
        at_end = left = P.redis_cmd(self.s.redis_port, "XLEN", qkey) or 0
        while left and time.monotonic() - t0 < limit:
            time.sleep(0.05)
            left = P.redis_cmd(self.s.redis_port, "XLEN", qkey) or 0
        watched = time.monotonic() - t0
        applied = at_end - left
        rate = applied / watched if watched > 0 else 0
        row["queue_max"] = max(lens + [at_end])
        row["queue_left_at_end"] = at_end
        row["queue_drain_s"] = round(watched, 2) if not left else ""
        row["queue_apply_per_s"] = round(rate, 1)
        # The last acknowledged write waits behind the whole queue.
        row["queue_lag_s"] = round(watched if not left else (at_end / rate if rate else -1), 2)
        self.features["write_behind_active"] = bool(row.get("queue_enqueued"))
        log("(6) mixed run: %s writes enqueued, %s queued at the end, %s" % (
            row.get("queue_enqueued"), at_end,
            "empty when the run ended (the writer kept up)" if not at_end else
            "drained in %.2f s" % watched if not left else
            "%d left after %.0f s (%.1f applied/s: lag of the last write about %s s)" % (
                left, watched, rate, row["queue_lag_s"])))
        if not row.get("queue_enqueued"):
            self.notes.append("(6): no write was queued (oponn_queue_writes_total"
                              "{state=\"enqueued\"} did not grow): OPONN_WRITE_MODE=behind "
                              "is not wired into the worker's writes in this build, so (6) "
                              "measured write-through")
        elif left:
            self.notes.append(
                "(6): the writer applied %.1f writes/s while the workers enqueued about %.0f/s: "
                "the queue (%d at the end of the run) would take about %s s to drain." % (
                    rate, (num_or0(row.get("queue_enqueued")) / max(row["wall_s"], 1e-9)),
                    at_end, row["queue_lag_s"]))
        self.stop_writer()
        try:
            import writer_bench
            with open(self.ids["books"]) as f:
                books = f.read().split()
            wb, _ = writer_bench.measure(self.s, books,
                                         writes=int(os.environ.get("PERF_DRAIN_WRITES", "3000")),
                                         say=lambda m: log("(6) " + m), wait_s=limit)
            row.update(wb)
            ok = (num_or0(wb.get("wb_ratio_1")) >= 0.8 and wb.get("wb_drained_1"))
            log("(6) drain, 1 writer: %s applies/s = %sx write-through (%s mutations/s), "
                "%s; target >= 0.8x and drained within %.0f s: %s" % (
                    wb.get("wb_drain_1_per_s"), wb.get("wb_ratio_1"),
                    wb.get("wb_through_per_s"),
                    "drained" if wb.get("wb_drained_1") else "not drained",
                    limit, "met" if ok else "NOT met"))
            if not ok:
                self.notes.append("(6): the drain target (1 writer >= 0.8x write-through, the "
                                  "queue drained within %.0f s) is not met: %s" % (limit, wb))
            if len(books) < 50000:
                self.notes.append("(6): the drain was measured on %d books, fewer than a "
                                  "production-sized collection (50,000)" % len(books))
        except Exception as e:  # reported, never fatal to the rest of the run
            self.notes.append("(6) the drain measurement failed: %s" % e)
            log(self.notes[-1])
        self.restart_pool()
        row["wb_scenario_s"] = round(time.monotonic() - t_start, 1)
        log("(6) took %.0f s" % row["wb_scenario_s"])

    def memory_runs(self):
        """The same scenario twice on the same workers, RSS before and after
        each: the first run may grow a worker (arena blocks, buffers); a
        second run that grows it again would be a leak."""
        d = CFG["sweep_duration"]
        if not self.time_for(8 * (d + 1) + 30, "the memory runs"):
            return
        for sc, script, env in (("1", "book.lua", self.env_books()),
                                ("3", "bookstores_for_books.lua", self.env_lists()),
                                ("4", "fruit_by_size.lua", {"PERF_LIMITS": "100"}),
                                ("5", "mixed.lua", self.env_mixed("oponn"))):
            self.memory_sample("(%s) before" % sc, 0)
            for k in (1, 2):
                self.measure("memory", sc, "oponn", k, script, env, duration=d)
                self.memory_sample("(%s) after run %d" % (sc, k), 0)

    # ---- sweeps and the profile

    def sweeps(self):
        if not CFG["sweeps"]:
            return
        self.flush()
        self.warm_entities()
        d = CFG["sweep_duration"]
        # One sweep round: 4 x 5 runs, then 4 pool sizes x 2 runs (+ restarts).
        per_round = len(CFG["conns_sweep"]) * 5 * (d + 0.8) + \
            len(CFG["pool_sweep"]) * (2 * (d + 0.8) + 2)
        for rnd in range(1, CFG["sweep_rounds"] + 1):
            if rnd > 1 and not self.time_for(per_round + 90, "sweep round %d" % rnd):
                break
            for c in CFG["conns_sweep"]:
                self.pair(rnd, "1", "book.lua", lambda s: self.env_books(), phase="conns",
                          conns=c, duration=d)
                self.pair(rnd, "5", "mixed.lua", self.env_mixed, phase="conns", conns=c,
                          duration=d)
                self.measure("conns", "1", "fcgi_constant", rnd, url=self.c.url, conns=c,
                             duration=d)
        base = self.s.workers
        for rnd in range(1, CFG["sweep_rounds"] + 1):
            if not any(r["phase"] == "conns" and r["round"] == rnd for r in self.rows):
                break  # that sweep round was skipped for time
            order = CFG["pool_sweep"] if rnd % 2 else list(reversed(CFG["pool_sweep"]))
            for w in order:
                self.restart_pool(workers=w)
                self.measure("pool", "1", "oponn", rnd, "book.lua", self.env_books(),
                             duration=d)
                self.measure("pool", "5", "oponn", rnd, "mixed.lua", self.env_mixed("oponn"),
                             duration=d)
        self.restart_pool(workers=base)

    def time_for(self, seconds, what):
        """Whether `what` (about `seconds`) fits in the run's time budget
        (PERF_BUDGET_S, default 25 minutes), keeping room for (6) and the
        shutdown; records a note when it does not."""
        # (6) takes about 2.5 min on a loaded machine (warm-up, mixed run,
        # five write measurements and their drains).
        left = BUDGET - (time.monotonic() - self.t0) - 150 - 2 * CFG["duration"]
        if seconds <= left:
            return True
        self.notes.append("%s skipped: the run's time budget (%d s, PERF_BUDGET_S) had %d s "
                          "left" % (what, BUDGET, max(0, left)))
        log(self.notes[-1])
        return False

    def profile(self):
        """perf record of the workers while (1) runs: where their time goes."""
        if not CFG["profile"] or shutil.which("perf") is None:
            self.notes.append("profile skipped (PERF_PROFILE=0 or no `perf`)")
            return
        if not self.time_for(2 * (CFG["duration"] + 3), "the profile"):
            return
        for scenario, script, env, who in (
                ("1", "book.lua", self.env_books(), "workers"),
                ("3", "bookstores_for_books.lua", self.env_lists(), "workers")):
            pids = ",".join(str(p) for p in self.s.worker_pids())
            data = os.path.join(self.dir, "perf-%s.data" % scenario)
            rec = subprocess.Popen(["perf", "record", "-q", "-F", "499", "-g", "-o", data,
                                    "-p", pids], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            try:
                self.measure("profile", scenario, "oponn", 1, script, env)
            finally:
                rec.send_signal(signal.SIGINT)
                rec.wait(timeout=60)
            out = os.path.join(RESULTS, "profile-%s.txt" % scenario)
            with open(out, "w") as f:
                f.write("# perf record -F 499 -g of the oponn workers during scenario (%s): "
                        "self time by library, then by symbol (>= 1 %%)\n" % scenario)
                for sort, most in (("dso", 10), ("dso,symbol", 30)):
                    rep = subprocess.run(["perf", "report", "-i", data, "--stdio",
                                          "--no-children", "--sort", sort, "--percent-limit",
                                          "1", "-g", "none"], capture_output=True, text=True)
                    lines = [re.sub(r"(\s+-)*\s*$", "", ln) for ln in rep.stdout.splitlines()
                             if ln.strip() and not ln.startswith("#")]
                    f.write("\n".join(lines[:most]) + "\n\n")
            log("profile (%s): %s" % (scenario, out))

    # ---- output

    def write(self, started):
        os.makedirs(RESULTS, exist_ok=True)
        for name, rows in (("runs", self.rows), ("probes", self.probes),
                           ("memory", self.memory)):
            keys = []
            for r in rows:
                for k in r:
                    if k not in keys:
                        keys.append(k)
            with open(os.path.join(RESULTS, name + ".csv"), "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
                w.writeheader()
                for r in rows:
                    w.writerow({k: ("%.6g" % v if isinstance(v, float) else v)
                                for k, v in r.items()})
        meta = {"machine": self.machine, "config": CFG, "features": self.features,
                "notes": self.notes, "load_seconds": round(self.load_seconds, 1),
                "sample_checked": self.sample_checked,
                "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)),
                "minutes": round((time.time() - started) / 60, 1),
                "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                      capture_output=True, text=True).stdout.strip(),
                "mongodb": "MONGODB_URI (real MongoDB)" if CFG["real_mongodb"] else
                           "development stand-in (etc/dev/mongo-standin.py)",
                "load_after": open("/proc/loadavg").read().split()[:3]}
        with open(os.path.join(RESULTS, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
        log("results in %s" % RESULTS)


# ---- issue 22 (Redis-light reads): what a cached list read and a write cost
# Redis. PERF_ONLY=light runs only the ceilings, (4) and (3) and the bench
# below, ROUNDS times (a few minutes), for work on the cache.

LIGHT_ONLY = os.environ.get("PERF_ONLY") == "light"


LIGHT_BASE_DEFAULT = "e8b1d9b"


def light_bench(b):
    """build/perf/light_bench against the stack's Redis (its own key
    prefixes): Redis µs per cached list read, and per write with 0, 100 and
    1,000 cached lists of the table, into results/light.csv. With
    PERF_LIGHT_BASE=<commit> the same bench is also built on that commit's
    library (a `git archive` in the run directory) and run first, as
    "before"."""
    writes = os.environ.get("PERF_LIGHT_WRITES", "100")
    reads = os.environ.get("PERF_LIGHT_READS", "2000")
    env = dict(b.s.env(), OPONN_REDIS_TIMEOUT_MS="20000")
    rows = []
    runs = [("after", os.path.join(BUILD, "perf", "light_bench"))]
    # The commit before issue 22 (Redis-light reads) by default, so that a
    # plain `make perf` shows what moving work onto writes cost them;
    # PERF_LIGHT_BASE= (empty) measures "after" only.
    base = os.environ.get("PERF_LIGHT_BASE", LIGHT_BASE_DEFAULT)
    if base:
        tree = os.path.join(b.dir, "light-base")
        os.makedirs(tree, exist_ok=True)
        arch = subprocess.run(["git", "-C", ROOT, "archive", base], capture_output=True)
        ok = arch.returncode == 0 and subprocess.run(
            ["tar", "-x", "-C", tree], input=arch.stdout).returncode == 0
        if ok:
            shutil.copy(os.path.join(HERE, "light_bench.c"), os.path.join(tree, "perf"))
            ok = subprocess.run(["make", "-C", tree, "-j%d" % CORES, "build/perf/light_bench"],
                                capture_output=True).returncode == 0
        if ok:
            runs.insert(0, ("before (%s)" % base, os.path.join(tree, "build", "perf",
                                                               "light_bench")))
        else:
            b.notes.append("light_bench: could not build PERF_LIGHT_BASE=%s" % base)
    for label, exe in runs:
        t = time.monotonic()
        p = subprocess.run([exe, writes, reads], env=env, capture_output=True, text=True,
                           timeout=900)
        if p.returncode != 0:
            b.notes.append("light_bench %s failed: %s" % (label, p.stderr.strip()[:200]))
            continue
        for line in p.stdout.splitlines():
            r = json.loads(line)
            r["version"] = label
            rows.append(r)
            log("light %-22s %-5s %-18s lists=%-4s %-16s redis %9.1f us  client %9.1f us" % (
                label, r["what"], r.get("query") or r.get("table"), r.get("lists", ""),
                r.get("apple") or r.get("book") or "", r["redis_usec"], r["client_usec"]))
        log("light_bench %s: %.0f s" % (label, time.monotonic() - t))
    if rows:
        keys = sorted({k for r in rows for k in r})
        with open(os.path.join(RESULTS, "light.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)


def warm_fruit(b, limits="100"):
    """(4)'s batches filled in Redis before a measured run: two walks. Right
    after a flush there is no epoch yet, and of the misses that saw none only
    the fill that creates it is stored (cache.lua's same_epoch: the others
    cannot tell it from a bump); the second walk fills what the first could
    not (its misses see the epoch), or answers from the cache. A batch left
    cold was filled from MongoDB inside the measured run, stalling workers."""
    for k in (1, 2):
        n, t = b.walk(b.s.url, "fruit_by_size.lua", {"PERF_LIMITS": limits}, conns=4)
        log("warm %d: %d fruitBySize requests in %.1f s" % (k, n, t))


def light_only(b, started):
    for rnd in range(1, CFG["rounds"] + 1):
        b.ceilings(rnd)
        b.flush()
        warm_fruit(b)
        b.measure("main", "4", "oponn", rnd, "fruit_by_size.lua", {"PERF_LIMITS": "100"})
        b.walk(b.s.url, "bookstores_for_books.lua", b.env_lists())
        for peer in b.peers.values():
            b.walk(peer.url, "bookstores_for_books.lua", b.env_lists())
        b.pair(rnd, "3", "bookstores_for_books.lua", lambda s: b.env_lists())
    light_bench(b)
    b.notes.append("PERF_ONLY=light: only the ceilings, (3), (4) and light_bench ran")
    b.write(started)


# ---- issue 23 (L1 near cache in every worker): book(id) hits with L1 on and
# off in the same run, as ratios to the FastCGI-constant ceiling, Apollo and
# Mercurius; Redis time per request of (1), (3), (4), (5) with L1 on and off;
# and a scale-out scenario: 2 "hosts" (each its own nginx + pool) sharing one
# Redis, the Redis CPU per request and the requests/s one Redis primary could
# carry. The switch is the pool's environment: OPONN_L1_BYTES=0 (off) or
# unset (on, the default size and max age; PERF_L1_MAX_AGE_MS overrides the age).
# PERF_ONLY=l1 runs only this (and its ceilings); PERF_L1_TARGET (0.99) is the
# L1 share the warm-up must reach before a measured L1-on run.

L1_ESTIMATE_S = 9 * 60  # about 9 minutes quiet; 20 on a loaded 2-core machine
L1_TARGET = float(os.environ.get("PERF_L1_TARGET", "0.99"))
L1_HITS, L1_MISSES = "oponn_l1_hits_total", "oponn_l1_misses_total"
L1_MAX_AGE = os.environ.get("PERF_L1_MAX_AGE_MS", "")  # "" keeps the default


def l1_share(d):
    """L1's share of the cache reads in a /metrics delta (None without L1)."""
    h, m = d.get(L1_HITS), d.get(L1_MISSES)
    if h is None or m is None:
        return None
    return h / (h + m) if h + m else 0.0


def l1_env(on):
    """L1 off: OPONN_L1_BYTES=0. L1 on: the default size and max age (5 min:
    each worker re-reads a hot entry from Redis once per max age, so a much
    shorter backstop keeps L1 from answering 99 % of a run over a 20,000-book
    working set), or PERF_L1_MAX_AGE_MS; the report says which age was used."""
    if not on:
        return {"OPONN_L1_BYTES": "0"}
    return {"OPONN_L1_MAX_AGE_MS": L1_MAX_AGE} if L1_MAX_AGE else {}


def l1_set(b, on, host2=None):
    """The pool(s) restarted with L1 on or off (l1_env); nginx stays."""
    b.restart_pool(extra_env=l1_env(on))
    if host2 is not None:
        host2.stop_service("pool")
        for k in ("OPONN_L1_BYTES", "OPONN_L1_MAX_AGE_MS"):
            host2.extra_env.pop(k, None)
        host2.extra_env.update(l1_env(on))
        host2.start_pool()


def l1_warm(b, base_url, url, script, env, walk_conns=32, tries=12, walk=True, bound_s=240):
    """Redis warmed by a walk (unless walk is False: Redis is warm already),
    then (L1 on) every worker's L1 by more walks until L1 answers
    PERF_L1_TARGET of a walk's cache reads. Each request lands on one worker
    (they race for the FastCGI socket), so a walk leaves an item out of a
    given worker's L1 with a chance of about (1 - 1/workers): with 2 workers
    99 % takes about 8 walks; random picks would take far more requests.
    Returns the last walk's L1 share (None without L1)."""
    if walk:
        b.walk(url, script, env, conns=walk_conns)
    share = None
    if L1_HITS not in P.metrics(base_url):
        return None
    t0 = time.monotonic()
    for k in range(tries):
        m0 = P.metrics(base_url)
        b.walk(url, script, env, conns=walk_conns)
        share = l1_share(P.metrics_delta(m0, P.metrics(base_url)))
        if share is not None and share >= L1_TARGET or time.monotonic() - t0 > bound_s:
            break
    log("warm L1 (%s): share %.4f in walk %d (%.0f s)" % (script, share or 0, k + 1,
                                                          time.monotonic() - t0))
    return share


def l1_row_share(row):
    h, m = num_or0(row.get("l1_hits")), num_or0(row.get("l1_misses"))
    return h / (h + m) if h + m else None


def l1_measure(b, rnd, scenario, on, script, env, warm_env=None, walk_conns=32, flush=True,
               warm_script=None):
    """One measured run with L1 on or off (the pool already restarted so).
    L1 on: flushed (unless flush is False), Redis and every L1 warmed. L1
    off: Redis warmed only when flushed (the pool's restart emptied L1)."""
    if flush:
        b.flush()
    # (5) warms with book.lua: a walk of mixed.lua would write too.
    ws = warm_script or script
    warm = l1_warm(b, b.s.base_url, b.s.url, ws, warm_env or env, walk_conns,
                   walk=flush) if on else None
    if not on and flush:
        b.walk(b.s.url, ws, warm_env or env, conns=walk_conns)
    row = b.measure("l1", scenario, "oponn", rnd, script, env,
                    extra={"l1": "on" if on else "off"})
    row["l1_share"] = l1_row_share(row)
    row["l1_warm_share"] = warm
    log("L1 %-3s (%s) r%d: %.0f req/s, Redis %.1f us/req, L1 share of the run %s" % (
        row["l1"], scenario, rnd, row["rps"], row.get("redis_usec_per_req") or 0,
        "%.4f" % row["l1_share"] if row["l1_share"] is not None else "- (no L1 counters)"))
    # (5) writes: its L1 share is below 99 % by design.
    if on and scenario != "5" and row["l1_share"] is not None and row["l1_share"] < L1_TARGET:
        b.notes.append("L1 (%s) round %d: L1 answered %.2f %% of the run's cache reads, below "
                       "the %.0f %% the warm-up aims at" % (scenario, rnd, 100 * row["l1_share"],
                                                             100 * L1_TARGET))
    return row


def l1_round(b, rnd):
    """(1) with L1 on and off, the peers and the ceilings, in an order that
    rotates every round."""
    log("---- L1 round %d of %d" % (rnd, CFG["rounds"]))
    b.measure("l1", "1", "static", rnd, url=b.s.base_url + "/" + PerfStack.STATIC)
    b.measure("l1", "1", "fcgi_constant", rnd, url=b.c.url)
    items = ["on", "off"] + list(b.peers)
    warm = [False]
    k = rnd % len(items)
    for it in items[k:] + items[:k]:
        if it in ("on", "off"):
            # Flushed and warmed afresh for L1 on; L1 off reads the Redis
            # entities the same walk (or an earlier one) left warm.
            l1_set(b, it == "on")
            l1_measure(b, rnd, "1", it == "on", "book.lua", b.env_books(),
                       flush=it == "on" or not warm[0])
            warm[0] = True
        else:
            b.measure("l1", "1", it, rnd, "book.lua", b.env_books())


def l1_redis_time(b):
    """(3), (4), (5) once each with L1 on and off: Redis time per request.
    Redis is warmed by one walk per scenario first; the pool's restart
    empties L1 between the modes."""
    b.flush()
    b.walk(b.s.url, "bookstores_for_books.lua", b.env_lists())
    b.walk(b.s.url, "fruit_by_size.lua", {"PERF_LIMITS": "100"}, conns=4)
    b.walk(b.s.url, "book.lua", b.env_books())
    for on in (True, False):
        l1_set(b, on)
        l1_measure(b, 1, "3", on, "bookstores_for_books.lua", b.env_lists(), flush=False)
        l1_measure(b, 1, "4", on, "fruit_by_size.lua", {"PERF_LIMITS": "100"}, walk_conns=4,
                   flush=False)
        l1_measure(b, 1, "5", on, "mixed.lua", b.env_mixed("oponn"), warm_env=b.env_books(),
                   flush=False, warm_script="book.lua")


def l1_scaleout(b):
    """Two hosts (this stack's nginx + pool, and a second nginx + pool)
    sharing the one Redis and MongoDB, (1) on both at once: Redis CPU per
    request (its process's utime + stime over the run, both hosts'
    requests) and the requests/s one Redis primary (one core) could carry
    at that cost, with L1 on and off."""
    import threading
    h2 = Stack(os.path.join(b.dir, "host2"), workers=CFG["workers"], mongo_uri=b.s.mongo_uri,
               env={"OPONN_NGINX_WORKERS": str(CFG["nginx_workers"]),
                    "OPONN_MONGODB_DB": CFG["mongodb_db"], "OPONN_REDIS_URL": b.s.redis_url,
                    "OPONN_WRITE_TOKEN": b.token, "OPONN_RATE_LIMIT": "0"})
    os.makedirs(h2.run_dir, exist_ok=True)
    try:
        h2.start(services=("pool", "nginx"))
        hosts = ((b.s.base_url, b.s.url), (h2.base_url, h2.url))
        # One Redis: one walk warms it for both hosts and both modes (the
        # pools' restarts empty their L1s, warmed again per host).
        b.flush()
        b.walk(b.s.url, "book.lua", b.env_books())
        for on in (True, False):
            l1_set(b, on, h2)
            for base, url in hosts:
                if on:
                    l1_warm(b, base, url, "book.lua", b.env_books(), walk=False)
            ps = P.ProcSet({"redis": lambda: P.tree(b.s._pid("redis")),
                            "host1": lambda: P.tree(b.s._pid("pool")) + P.tree(b.s._pid("nginx")),
                            "host2": lambda: P.tree(h2._pid("pool")) + P.tree(h2._pid("nginx"))})
            m0 = [P.metrics(base) for base, _ in hosts]
            cs0 = P.redis_commandstats(b.s.redis_port, usec=True)
            s0 = ps.snapshot()
            res = [None, None]

            def run(i, url):
                res[i] = P.wrk(url, os.path.join(WRK, "book.lua"), conns=CFG["conns"] // 2,
                               threads=1, duration=CFG["duration"],
                               env=dict(b.env_books(), PERF_SEED=str(500 + i)))
            ths = [threading.Thread(target=run, args=(i, u)) for i, (_, u) in enumerate(hosts)]
            for th in ths:
                th.start()
            for th in ths:
                th.join()
            s1 = ps.snapshot()
            cs1 = P.redis_commandstats(b.s.redis_port, usec=True)
            d = [P.metrics_delta(m0[i], P.metrics(base)) for i, (base, _) in enumerate(hosts)]
            cpu = P.ProcSet.delta(s0, s1)
            n = sum(r["requests"] for r in res)
            usec = sum(v[1] - cs0.get(k, (0, 0))[1] for k, v in cs1.items() if k != "info")
            # /proc counts CPU in clock ticks: a Redis that used less than
            # one tick over the run is reported at one tick (a floor).
            tick = 1.0 / os.sysconf("SC_CLK_TCK")
            rcpu = max(cpu["redis"], tick)
            row = {"phase": "l1scale", "scenario": "1", "system": "oponn x2", "round": 1,
                   "l1": "on" if on else "off", "conns": CFG["conns"], "workers": CFG["workers"],
                   "duration": CFG["duration"], "requests": n,
                   "rps": sum(r["rps"] for r in res), "rps_host1": res[0]["rps"],
                   "rps_host2": res[1]["rps"], "errors": sum(r["errors"] for r in res),
                   "p99_ms": max(r["p99"] or 0 for r in res), "wall_s": cpu["wall"],
                   "cpu_redis_s": cpu["redis"], "cpu_host1_s": cpu["host1"],
                   "cpu_host2_s": cpu["host2"],
                   "redis_cpu_floor": cpu["redis"] < tick,
                   "redis_cpu_us_per_req": 1e6 * rcpu / max(1, n),
                   "redis_usec_per_req": usec / max(1, n),
                   "redis_per_req": sum(x.get("oponn_redis_roundtrips_total", 0) for x in d)
                   / max(1, n),
                   "redis_primary_rps": n / rcpu,
                   "l1_hits": sum(x.get(L1_HITS, 0) for x in d),
                   "l1_misses": sum(x.get(L1_MISSES, 0) for x in d)}
            row["l1_share"] = l1_row_share(row)
            b.rows.append(row)
            log("L1 %-3s scale-out, 2 hosts: %.0f req/s (%.0f + %.0f), Redis CPU %.2f us/req "
                "(commands %.2f us/req) -> one Redis primary carries about %.0f req/s%s; "
                "L1 share %s" % (row["l1"], row["rps"], row["rps_host1"], row["rps_host2"],
                                 row["redis_cpu_us_per_req"], row["redis_usec_per_req"],
                                 row["redis_primary_rps"],
                                 " (at least: Redis used under one clock tick)"
                                 if row["redis_cpu_floor"] else "",
                                 "%.4f" % row["l1_share"] if row["l1_share"] is not None
                                 else "-"))
    finally:
        h2.stop()
    l1_set(b, True)


def l1_scenarios(b):
    """Everything of issue 23, ROUNDS rounds of (1) then the rest once."""
    t = time.monotonic()
    if L1_HITS not in P.metrics(b.s.base_url):
        b.notes.append("L1: this build has no L1 (no %s in /metrics): the L1 scenarios ran "
                       "with OPONN_L1_BYTES=0 and unset alike, so 'on' and 'off' measure the "
                       "same thing" % L1_HITS)
        log(b.notes[-1])
    b.features["l1"] = L1_HITS in P.metrics(b.s.base_url)
    CFG["l1_max_age_ms"] = L1_MAX_AGE or "default"
    if L1_MAX_AGE:
        b.notes.append("L1 scenarios: the L1-on pools ran with OPONN_L1_MAX_AGE_MS=%s "
                       "(PERF_L1_MAX_AGE_MS), not the default 300000" % L1_MAX_AGE)
    b.flush()
    b.warm_entities()  # the peers' caches (oponn's is flushed and warmed per run)
    for rnd in range(1, CFG["rounds"] + 1):
        l1_round(b, rnd)
    l1_redis_time(b)
    l1_scaleout(b)
    b.features["l1_scenarios_s"] = round(time.monotonic() - t)
    log("L1 scenarios took %.0f s" % (time.monotonic() - t))


def l1_only(b, started):
    l1_scenarios(b)
    b.notes.append("PERF_ONLY=l1: only the ceilings and the L1 scenarios ran")
    b.write(started)
    os.environ["PERF_RESULTS"] = RESULTS
    import report
    path = os.path.join(RESULTS, "L1.md")
    with open(path, "w") as f:
        f.write(report.Report().l1() + "\n")
    log("L1 section of the report: %s" % path)


def main():
    for exe in ("oponn", "oponn-worker", "perf/gen_data", "perf/fcgi_constant"):
        if not os.access(os.path.join(BUILD, exe), os.X_OK):
            print("perf: build/%s is missing: run `make` first" % exe, file=sys.stderr)
            return 2
    for tool in ("wrk", "redis-benchmark", "nginx", "spawn-fcgi", "multiwatch"):
        if shutil.which(tool) is None:
            print("perf: %s is missing: run etc/install-deps.sh" % tool, file=sys.stderr)
            return 2
    if ONLY not in ("", "6", "light", "l1"):
        print("perf: PERF_ONLY=%s: PERF_ONLY=6 runs scenario 6 alone, PERF_ONLY=light"
              " the issue-22 measurements, PERF_ONLY=l1 the issue-23 (L1 near cache) ones"
              % ONLY, file=sys.stderr)
        return 2
    started = time.time()
    os.makedirs(RESULTS, exist_ok=True)
    for f in os.listdir(RESULTS):  # a run replaces every result of the last one
        if f.endswith((".csv", ".txt", ".png", ".json")):
            os.unlink(os.path.join(RESULTS, f))
    b = Bench()
    b.machine = P.machine()

    def on_signal(signum, frame):
        b.stop()
        sys.exit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        b.start()
        b.detect()
        b.load()
        b.detect_reads()
        if ONLY == "6":  # (6) alone, on the same data set: no peers, no other scenario
            b.sample_checked = b.check_sample(b.s.url, "oponn")
            b.write_behind()
            b.write(started)
            log("PERF_ONLY=6 done in %.1f min" % ((time.time() - started) / 60))
            return 0
        b.start_peers()
        b.sample_checked = b.check_sample(b.s.url, "oponn")
        for peer in b.peers.values():
            b.check_sample(peer.url, "%s peer" % peer.label)
        # The static ceiling serves a real (1) answer's bytes.
        with open(b.ids["books"]) as f:
            first = f.readline().strip()
        st, body = P.http("POST", b.s.url, json.dumps({"query": Q_BOOK, "variables":
                                                       {"id": first}}).encode(),
                          {"Content-Type": "application/json"})
        with open(b.s._path(PerfStack.STATIC), "wb") as f:
            f.write(body)
        b.static_bytes = len(body)
        CFG["book_body_bytes"] = len(body)
        if ONLY == "l1":
            return l1_only(b, started)
        b.probes_run()
        if LIGHT_ONLY:
            return light_only(b, started)
        for rnd in range(1, CFG["rounds"] + 1):
            t = time.monotonic()
            if rnd > 1 and not b.time_for(round_s, "round %d" % rnd):
                break
            b.round(rnd)
            round_s = time.monotonic() - t
        if b.time_for(L1_ESTIMATE_S, "the L1 scenarios (issue 23)"):
            l1_scenarios(b)
        light_bench(b)
        b.sweeps()
        if b.time_for(60, "the memory runs and the profile"):
            b.flush()
            b.warm_entities()
            b.walk(b.s.url, "bookstores_for_books.lua", b.env_lists())
            b.walk(b.s.url, "fruit_by_size.lua", {"PERF_LIMITS": "100"})
            b.memory_runs()
        b.profile()
        b.memory_sample("end", 0)
        b.write_behind()
        b.write(started)
    finally:
        b.stop()
        if os.environ.get("PERF_KEEP") == "1":
            log("kept %s (PERF_KEEP=1): logs, data set, ids" % b.dir)
        else:
            shutil.rmtree(b.dir, ignore_errors=True)
    log("done in %.1f min" % ((time.time() - started) / 60))
    return 0


if __name__ == "__main__":
    sys.exit(main())
