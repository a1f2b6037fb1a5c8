#!/usr/bin/python3
"""perf/peer_versions.py — does the Mercurius peer's version pair change its speed?

The committed peer (perf/peers/mercurius/server.js) runs on Fastify 4 +
Mercurius 14, the newest pair that runs on Debian 12's Node.js 18; issue 19's
first measurement used Fastify 5 + Mercurius 16 on Node 20. This script runs
the same peer files on both pairs, side by side in one run, on scenario (1)
of `make perf` (cached book(id), random ids of a working set) and prints each
round's req/s and the ratio of the two.

  PEER_V4=/tmp/peer-v4 PEER_V5=/tmp/peer-v5 nice -n 5 /usr/bin/python3 perf/peer_versions.py

PEER_V4 and PEER_V5 are npm prefixes holding node_modules with the peer's
packages (fastify, mercurius, graphql, ioredis, mongodb, dataloader), e.g.

  npm ci --prefix /tmp/peer-v4      # with this repo's package.json + lock copied there
  npm install --prefix /tmp/peer-v5 fastify@5 mercurius@16 graphql@16.9.0 \
      ioredis@5.9.2 mongodb@6.22.0 dataloader@2.2.3

Neither touches the repo's package.json or node_modules. The peer's two files
(perf/peers/common.js, perf/peers/mercurius/server.js) are copied unchanged
into <prefix>/perf/peers/ so that `require` resolves from that prefix first
(NODE_PATH would lose to a node_modules in the repo); the script checks where
`fastify` and `mercurius` resolve and stops if it is not the prefix.

Like `make perf`: its own Redis and MongoDB endpoint (etc/stack.py, free
loopback ports, a temporary directory), `oponn migrate`, build/perf/gen_data,
a working set of PERF_HOT ids drawn with perf/run.py's seed, each peer in as
many node cluster workers as oponn has workers (OPONN_WORKERS, default:
cores), warmed by a walk over the working set, then PERF_ROUNDS rounds of
wrk -t2 -cPERF_CONNS for PERF_DURATION s per run. Inside a round the two
pairs run one after the other; the order swaps every round (v4 first in odd
rounds, v5 first in even ones) so that a load that drifts favours neither.
Both peers use the same Redis keys ("mercurius:"): they read the same cached
documents. Bounded: PERF_BUDGET_S (default 900) stops starting new rounds.

Knobs: PERF_ROUNDS (3), PERF_DURATION (5), PERF_CONNS (32), PERF_BOOKS
(100000), PERF_HOT (20000), OPONN_WORKERS, PERF_BUDGET_S, PERF_KEEP=1.
Needs `make` (build/oponn, build/perf/gen_data) and wrk. Loopback only.
"""
import json
import os
import random
import shutil
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

ROUNDS = int(os.environ.get("PERF_ROUNDS") or 3)
DURATION = int(os.environ.get("PERF_DURATION") or 5)
CONNS = int(os.environ.get("PERF_CONNS") or 32)
BOOKS = int(os.environ.get("PERF_BOOKS") or 100000)
HOT = int(os.environ.get("PERF_HOT") or 20000)
WORKERS = int(os.environ.get("OPONN_WORKERS") or 0) or os.cpu_count() or 1
BUDGET = float(os.environ.get("PERF_BUDGET_S") or 900)
BUILD = os.path.join(ROOT, "build")
WRK = os.path.join(HERE, "wrk")
PEER_FILES = ("common.js", os.path.join("mercurius", "server.js"))
PACKAGES = ("fastify", "mercurius", "graphql-jit", "graphql", "ioredis", "mongodb", "dataloader")

T0 = time.monotonic()


def log(msg):
    print("peer_versions [%4.0fs]: %s" % (time.monotonic() - T0, msg), file=sys.stderr,
          flush=True)


def versions(prefix):
    out = {}
    for name in PACKAGES:
        try:
            with open(os.path.join(prefix, "node_modules", name, "package.json")) as f:
                out[name] = json.load(f)["version"]
        except (OSError, ValueError, KeyError):
            out[name] = "absent"
    return out


def install_peer(prefix):
    """Copies the committed peer files into prefix/perf/peers/ and returns
    the server's path there; raises when fastify or mercurius would not be
    loaded from prefix/node_modules."""
    for rel in PEER_FILES:
        dst = os.path.join(prefix, "perf", "peers", rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(os.path.join(HERE, "peers", rel), dst)
    server = os.path.join(prefix, "perf", "peers", "mercurius", "server.js")
    want = os.path.realpath(os.path.join(prefix, "node_modules")) + os.sep
    for pkg in ("fastify", "mercurius", "graphql", "ioredis", "mongodb", "dataloader"):
        p = subprocess.run(["node", "-e", "process.stdout.write(require('node:module')"
                            ".createRequire(process.argv[1]).resolve(process.argv[2]))",
                            server, pkg], capture_output=True, text=True, timeout=30)
        got = os.path.realpath(p.stdout) if p.returncode == 0 else p.stderr.strip()[-200:]
        if not got.startswith(want):
            raise RuntimeError("%s: %s does not resolve from %s (got %s): install it there "
                               "(see the header of perf/peer_versions.py)" % (
                                   server, pkg, want, got))
    return server


class Run:
    def __init__(self, pairs):
        self.dir = tempfile.mkdtemp(prefix="oponn-peerver-")
        self.st = Stack(os.path.join(self.dir, "stack"), workers=WORKERS,
                        env={"OPONN_MONGODB_DB": "oponn_perf"})
        os.makedirs(self.st.run_dir)
        self.pairs = pairs  # [(label, prefix)]
        self.peers = {}
        self.rows = []

    def start(self):
        log("run directory %s" % self.dir)
        self.st.start(services=("redis", "mongo"))
        r = self.st.oponn("migrate")
        if r.returncode != 0:
            raise RuntimeError("oponn migrate: " + r.stderr.strip())
        data = os.path.join(self.dir, "data")
        os.makedirs(data)
        env = dict(self.st.env(), OPONN_MONGO_SOCKET_TIMEOUT_MS="120000")
        t = time.monotonic()
        p = subprocess.run([os.path.join(BUILD, "perf", "gen_data"), "--books", str(BOOKS),
                            "--bookstores", "1000", "--fruit", "2", "--out", data],
                           env=env, capture_output=True, text=True, timeout=900)
        if p.returncode != 0:
            raise RuntimeError("gen_data: " + p.stderr.strip())
        log("%s (%.1f s)" % (p.stdout.strip(), time.monotonic() - t))
        with open(os.path.join(data, "books.ids")) as f:
            books = f.read().split()
        # perf/run.py's working set: the same seed, the same draw.
        hot = random.Random(20261122).sample(books, min(HOT, len(books)))
        self.hot = os.path.join(data, "hot.ids")
        with open(self.hot, "w") as f:
            f.write("\n".join(hot) + "\n")
        with open(os.path.join(data, "sample.json")) as f:
            self.sample = json.load(f)
        for label, prefix in self.pairs:
            server = install_peer(prefix)
            workdir = os.path.join(self.dir, label.replace("/", "-"))
            os.makedirs(workdir)
            peer = P.Peer("mercurius", self.st.env(), free_port(), WORKERS, workdir)
            peer.server = server
            peer.label = label
            self.peers[label] = peer.start()
            log("%s (%s) on %s, %d node workers" % (
                label, " ".join("%s %s" % kv for kv in versions(prefix).items()), peer.url,
                WORKERS))
            self.check_sample(peer)

    def check_sample(self, peer):
        q = "query($id:ID!){book(id:$id){id title authors year price bookstore{id name}}}"
        bad = [w for w in self.sample
               if P.gql(peer.url, q, {"id": w["id"]}, debug=False).get("data", {}).get("book")
               != w]
        if bad:
            raise RuntimeError("%s: %d of %d sample books read back wrong" % (
                peer.label, len(bad), len(self.sample)))

    def warm(self):
        # The first walk fills the shared cache; each walk also runs every
        # peer's code 20,000 times (graphql-jit compiles on the first).
        for label, peer in self.peers.items():
            d = tempfile.mkdtemp(dir=self.dir, prefix="walk-")
            t = time.monotonic()
            r = P.wrk(peer.url, os.path.join(WRK, "book.lua"), conns=CONNS, threads=2,
                      duration=180, env={"PERF_WALK": "1", "PERF_IDS": self.hot},
                      walk_dir=d, timeout_s=30)
            log("warm: %d book(id) through %s in %.1f s, %d errors" % (
                r["requests"], label, time.monotonic() - t, r["errors"]))

    def measure(self, label, rnd):
        peer = self.peers[label]
        ps = P.ProcSet({"peer": peer.pids})
        c0 = settle(peer.counters)
        s0 = ps.snapshot()
        r = P.wrk(peer.url, os.path.join(WRK, "book.lua"), conns=CONNS, threads=2,
                  duration=DURATION, env={"PERF_IDS": self.hot, "PERF_SEED": str(1000 * rnd
                                                                                  + CONNS)})
        c1 = settle(peer.counters)
        s1 = ps.snapshot()
        cpu = P.ProcSet.delta(s0, s1)
        served = max(1, c1["requests"] - c0["requests"])
        row = {"round": rnd, "pair": label, "rps": r["rps"], "p50": r["p50"] or 0,
               "p99": r["p99"] or 0, "errors": r["errors"],
               "cpu_us": 1e6 * cpu["peer"] / served,
               "busy": cpu["machine"] / (cpu["wall"] * (os.cpu_count() or 1)),
               "mongo": (c1["mongo"] - c0["mongo"]) / served,
               "redis": (c1["redis"] - c0["redis"]) / served}
        self.rows.append(row)
        print("round %d  %-6s %8.0f req/s  p50 %6.2f ms  p99 %7.2f ms  err %d  "
              "cpu %4.0f us/req  mongo %.2f redis %.2f /req  machine busy %3.0f %%" % (
                  rnd, label, row["rps"], row["p50"], row["p99"], row["errors"], row["cpu_us"],
                  row["mongo"], row["redis"], 100 * row["busy"]), flush=True)
        return row

    def rounds(self):
        labels = [label for label, _ in self.pairs]
        ratios = []
        for rnd in range(1, ROUNDS + 1):
            if time.monotonic() - T0 > BUDGET:
                print("budget PERF_BUDGET_S=%.0f s spent: rounds %d..%d not run" % (
                    BUDGET, rnd, ROUNDS), flush=True)
                break
            order = labels if rnd % 2 else labels[::-1]
            got = {label: self.measure(label, rnd) for label in order}
            a, b = got[labels[0]], got[labels[1]]
            ratio = b["rps"] / a["rps"] if a["rps"] else float("nan")
            cpu = b["cpu_us"] / a["cpu_us"] if a["cpu_us"] else float("nan")
            ratios.append((ratio, cpu))
            print("round %d  %s / %s: req/s %.3f  cpu/req %.3f  (load avg %s)" % (
                rnd, labels[1], labels[0], ratio, cpu,
                " ".join(open("/proc/loadavg").read().split()[:3])), flush=True)
        if ratios:
            med = {label: P.median([r["rps"] for r in self.rows if r["pair"] == label])
                   for label in labels}
            print("median over %d rounds: %s %.0f req/s, %s %.0f req/s; %s / %s req/s %.3f "
                  "(median of the per-round ratios), cpu/req %.3f" % (
                      len(ratios), labels[0], med[labels[0]], labels[1], med[labels[1]],
                      labels[1], labels[0], P.median([r for r, _ in ratios]),
                      P.median([c for _, c in ratios])), flush=True)

    def stop(self):
        for peer in self.peers.values():
            peer.stop()
        self.st.stop()
        if os.environ.get("PERF_KEEP") == "1":
            log("kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def settle(read, pause=0.25, limit=5.0):
    """read() until its request count stops changing: requests of the step
    before (wrk stops with requests in flight) are still being served."""
    t0 = time.monotonic()
    prev = read()
    while time.monotonic() - t0 < limit:
        time.sleep(pause)
        cur = read()
        if cur["requests"] == prev["requests"]:
            return cur
        prev = cur
    return prev


def main():
    pairs = [("v4/14", os.environ.get("PEER_V4") or "/tmp/peer-v4"),
             ("v5/16", os.environ.get("PEER_V5") or "/tmp/peer-v5")]
    for label, prefix in pairs:
        if not os.path.isdir(os.path.join(prefix, "node_modules", "mercurius")):
            sys.exit("peer_versions: %s has no node_modules/mercurius (%s): see the header of "
                     "perf/peer_versions.py" % (prefix, label))
    for tool in ("node", "wrk"):
        if shutil.which(tool) is None:
            sys.exit("peer_versions: %s is missing" % tool)
    for b in ("oponn", os.path.join("perf", "gen_data")):
        if not os.access(os.path.join(BUILD, b), os.X_OK):
            sys.exit("peer_versions: build/%s is missing: run `make`" % b)
    print("peer_versions: node %s, %d cores, %d node workers per peer, wrk -t2 -c%d, %d s per "
          "run, %d rounds, %d books, working set %d; load avg %s" % (
              subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip(),
              os.cpu_count(), WORKERS, CONNS, DURATION, ROUNDS, BOOKS, HOT,
              " ".join(open("/proc/loadavg").read().split()[:3])), flush=True)
    for label, prefix in pairs:
        print("  %s = %s: %s" % (label, prefix, ", ".join(
            "%s %s" % kv for kv in versions(prefix).items())), flush=True)
    run = Run(pairs)
    try:
        run.start()
        run.warm()
        run.rounds()
    finally:
        run.stop()


if __name__ == "__main__":
    main()
