"""perf/perflib.py — what the load-test scripts share.

  wrk(...)          runs wrk (optionally with a perf/wrk/*.lua script) and
                    parses its report: req/s, p50/p90/p99/max, errors
  ProcSet           CPU seconds (utime+stime from /proc/<pid>/stat) of named
                    groups of processes, for CPU per request and CPU share
  metrics(url)      oponn's /metrics as {"name{labels}": value}
  gql(url, ...)     one GraphQL POST (with X-Oponn-Debug) -> parsed JSON
  Peer              a load-test peer (perf/peers/<name>/server.js): start,
                    readiness, its counters, stop
  machine()         cores, memory, kernel, versions of the tools in the path
  median(xs)

Used by perf/run.py (`make perf`) and perf/keepalive.py. Debian python3 only
(no third-party modules).
"""
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")

_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(value, unit):
    return float(value) * _UNIT_MS[unit]


def parse_wrk(out):
    """wrk's text report (with --latency) -> dict. A PERF_JSON line printed by
    perf/wrk/common.lua's done() adds exact percentiles and GraphQL errors."""
    r = {"rps": 0.0, "p50": None, "p90": None, "p99": None, "max": None,
         "requests": 0, "errors": 0, "gql_errors": 0, "socket_errors": 0, "non2xx": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if m:
        r["requests"] = int(m.group(1))
        r["seconds"] = _ms(m.group(2), m.group(3)) / 1e3
    for p in ("50", "90", "99"):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s|m)\b" % p, out, re.M)
        if m:
            r["p" + p] = _ms(m.group(1), m.group(2))
    m = re.search(r"^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)\b", out, re.M)
    if m:
        r["max"] = _ms(m.group(1), m.group(2))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["socket_errors"] = sum(int(x) for x in m.groups())
    m = re.search(r"^PERF_JSON (\{.*\})$", out, re.M)
    if m:
        j = json.loads(m.group(1))
        r["requests"] = j["requests"]
        r["seconds"] = j["duration_us"] / 1e6
        r["gql_errors"] = j["gql_errors"]
        for p in ("50", "90", "99"):
            r["p" + p] = j["p%s_us" % p] / 1e3
        r["max"] = j["max_us"] / 1e3
        r["walk_items"], r["walk_answered"] = j.get("walk_items"), j.get("walk_answered")
    # A GraphQL error already counts non-200 answers; socket errors on top.
    r["errors"] = max(r["gql_errors"], r["non2xx"]) + r["socket_errors"]
    return r


def wrk(url, script=None, conns=32, threads=2, duration=5, env=None, timeout_s=5,
        walk_dir=None):
    """Runs wrk against url; returns parse_wrk's dict plus "raw" (the report)
    and "cpu_wrk" (CPU seconds wrk used). env adds PERF_* variables for the
    Lua script. threads is capped at conns. walk_dir (an empty directory):
    the script walks its items once (PERF_WALK=1) and wrk is stopped when all
    threads are done; duration is then only the bound."""
    threads = max(1, min(threads, conns))
    argv = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % duration, "--latency",
            "--timeout", "%ds" % timeout_s]
    if script:
        argv += ["-s", script]
    argv.append(url)
    e = dict(os.environ)
    e.update(env or {})
    e["PERF_THREADS"] = str(threads)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if walk_dir is None:
        p = subprocess.run(argv, capture_output=True, text=True, env=e, timeout=duration + 60)
        out, err, rc = p.stdout, p.stderr, p.returncode
    else:
        # A walk: stop wrk (SIGINT ends its sleep and prints the report) once
        # every thread has marked its share done, or at the -d bound.
        e["PERF_DONE_DIR"] = walk_dir
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=e)
        while p.poll() is None and len(os.listdir(walk_dir)) < threads:
            time.sleep(0.05)
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        rc = p.returncode
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if rc != 0 or "Requests/sec" not in out:
        raise RuntimeError("wrk failed (%d): %s %s" % (rc, out[-500:], err[-500:]))
    r = parse_wrk(out)
    r["raw"] = out
    r["stderr"] = err
    r["conns"], r["threads"] = conns, threads
    r["cpu_wrk"] = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return r


# ---- processes

def children(pid):
    """Every descendant of pid (from /proc/<pid>/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for t in tasks:
            try:
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    kids = [int(x) for x in f.read().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def tree(pid):
    return [pid] + children(pid) if pid else []


def cpu_seconds(pid):
    """utime + stime of one process, seconds (0 when it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_busy():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


class ProcSet:
    """Named groups of pids; snapshot() before and after a run, then
    delta() gives CPU seconds per group (processes that came and went
    between the snapshots are missed, which a pool without restarts avoids)."""

    def __init__(self, groups):
        self.groups = groups  # name -> callable returning the pids now

    def snapshot(self):
        snap = {"t": time.monotonic(), "machine": machine_busy(), "cpu": {}}
        for name, fn in self.groups.items():
            snap["cpu"][name] = {p: cpu_seconds(p) for p in fn()}
        return snap

    @staticmethod
    def delta(a, b):
        out = {"wall": b["t"] - a["t"]}
        for name in b["cpu"]:
            before = a["cpu"].get(name, {})
            out[name] = sum(max(0.0, v - before.get(p, 0.0)) for p, v in b["cpu"][name].items())
        busy = b["machine"][0] - a["machine"][0]
        out["machine"] = busy / CLK_TCK
        return out


# ---- HTTP

def http(method, url, body=None, headers=None, timeout=30):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def gql(url, query, variables=None, token=None, debug=True, timeout=60):
    headers = {"Content-Type": "application/json"}
    if debug:
        headers["X-Oponn-Debug"] = "1"
    if token:
        headers["Authorization"] = "Bearer " + token
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    status, data = http("POST", url, body, headers, timeout)
    try:
        doc = json.loads(data)
    except ValueError:
        raise RuntimeError("%s answered %d with non-JSON: %r" % (url, status, data[:200]))
    doc["_status"] = status
    return doc


def metrics(base_url):
    """oponn's /metrics -> {"name{labels}": float}; histogram buckets skipped."""
    status, data = http("GET", base_url + "/metrics")
    if status != 200:
        raise RuntimeError("/metrics answered %d" % status)
    return parse_metrics(data)


def parse_metrics(data):
    """Prometheus text (bytes) -> {"name{labels}": float}; histogram buckets skipped."""
    out = {}
    for line in data.decode(errors="replace").splitlines():
        if not line or line.startswith("#") or "_bucket{" in line:
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out


def metrics_delta(a, b):
    return {k: b[k] - a.get(k, 0.0) for k in b}


# ---- the machine

def _version(argv, pattern=r"(\d+\.\d+(?:\.\d+)?)"):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "absent"
    m = re.search(pattern, p.stdout + p.stderr)
    return m.group(1) if m else (p.stdout + p.stderr).strip()[:40]


def machine():
    info = {"cores": os.cpu_count()}
    with open("/proc/meminfo") as f:
        info["mem_gib"] = round(int(f.readline().split()[1]) / 1048576, 1)
    with open("/proc/cpuinfo") as f:
        m = re.search(r"model name\s*:\s*(.*)", f.read())
        info["cpu"] = m.group(1).strip() if m else "unknown"
    info["kernel"] = os.uname().release
    try:
        with open("/etc/debian_version") as f:
            info["debian"] = f.read().strip()
    except OSError:
        info["debian"] = "unknown"
    info["nginx"] = _version(["nginx", "-v"])
    info["redis"] = _version(["redis-server", "--version"], r"v=(\S+)")
    info["wrk"] = _version(["wrk", "-v"], r"wrk (\S+)")
    info["node"] = _version(["node", "--version"])
    info["peer_packages"] = peer_packages()
    info["nice"] = os.nice(0)
    info["gcc"] = _version(["cc", "--version"])
    info["libmongoc"] = _version(["pkg-config", "--modversion", "libmongoc-1.0"])
    info["hiredis"] = _version(["pkg-config", "--modversion", "hiredis"])
    info["load_before"] = open("/proc/loadavg").read().split()[:3]
    return info


def peer_packages():
    """Installed versions of the peers' npm packages ({name: version})."""
    out = {}
    for name in ("@apollo/server", "fastify", "mercurius", "graphql-jit", "graphql", "ioredis",
                 "mongodb", "dataloader"):
        try:
            with open(os.path.join(ROOT, "node_modules", name, "package.json")) as f:
                out[name] = json.load(f).get("version", "?")
        except (OSError, ValueError):
            pass
    return out


# ---- the load-test peers (perf/peers/)

PEERS = {
    # name: (label, server, npm package that must be installed, GraphQL path)
    "apollo": ("Apollo", "apollo/server.js", "@apollo/server", "/"),
    "mercurius": ("Mercurius", "mercurius/server.js", "mercurius", "/graphql"),
}


class Peer:
    """One peer server: `node perf/peers/<name>/server.js` in PEER_PROCS
    cluster workers, on a port of its own, with the stack's environment
    (Redis, MongoDB, database, write token). Each worker publishes its
    counters (MongoDB commands, Redis round trips, requests) in a directory
    of the peer's own."""

    def __init__(self, name, env, port, procs, workdir):
        self.name = name
        self.label, server, self.package, path = PEERS[name]
        self.server = os.path.join(HERE, "peers", server)
        self.port, self.procs = port, procs
        self.url = "http://127.0.0.1:%d%s" % (port, path)
        self.counters_dir = os.path.join(workdir, name + "-counters")
        self.log = os.path.join(workdir, name + ".log")
        self.env = dict(env)
        self.env.update({"PEER_PORT": str(port), "PEER_PROCS": str(procs),
                         "PEER_COUNTERS_DIR": self.counters_dir, "NODE_ENV": "production"})
        self.proc = None

    def missing(self):
        """Why this peer cannot run here (None when it can)."""
        if not os.path.isdir(os.path.join(ROOT, "node_modules", self.package)):
            return "node_modules/%s is missing (run etc/install-deps.sh)" % self.package
        if shutil.which("node") is None:
            return "node is missing (run etc/install-deps.sh)"
        return None

    def start(self, timeout=60.0):
        os.makedirs(self.counters_dir, exist_ok=True)
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(["node", self.server], stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=logf, env=self.env, cwd=ROOT,
                                         start_new_session=True)
        # Ready when every worker has published its counters (each does so
        # once it listens) and a query is answered.
        deadline = time.monotonic() + timeout
        while not (self._published() >= self.procs and self.ready()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = ""
                try:
                    with open(self.log, errors="replace") as f:
                        tail = "".join(f.readlines()[-15:])
                except OSError:
                    pass
                self.stop()
                raise RuntimeError("%s peer did not come up within %.0f s:\n%s" % (
                    self.label, timeout, tail))
            time.sleep(0.2)
        return self

    def _published(self):
        try:
            return sum(1 for f in os.listdir(self.counters_dir) if f.endswith(".json"))
        except OSError:
            return 0

    def ready(self):
        try:
            d = gql(self.url, "{__typename}", debug=False, timeout=5)
            return d.get("data", {}).get("__typename") == "Query"
        except (OSError, RuntimeError):
            return False

    def counters(self):
        tot = {"mongo": 0, "redis": 0, "requests": 0}
        for f in os.listdir(self.counters_dir):
            if f.endswith(".json"):
                try:
                    with open(os.path.join(self.counters_dir, f)) as fh:
                        c = json.load(fh)
                except (OSError, ValueError):
                    continue
                for k in tot:
                    tot[k] += c.get(k, 0)
        return tot

    def pids(self):
        return tree(self.proc.pid) if self.proc and self.proc.poll() is None else []

    def worker_pids(self):
        """The processes that serve (the cluster's workers, or the one)."""
        if not self.proc or self.proc.poll() is not None:
            return []
        return children(self.proc.pid) or [self.proc.pid]

    def stop(self, timeout=10):
        """SIGTERM to the peer's process group; SIGKILL to what is left
        after `timeout`. Returns once none of its processes is alive."""
        p, self.proc = self.proc, None
        if p is None:
            return
        pids = tree(p.pid) if p.poll() is None else []
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if p.poll() is not None and not [q for q in pids if alive(q)]:
                return
            time.sleep(0.05)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(timeout=5)


def alive(pid):
    """Whether pid runs (a zombie, exited but not yet reaped, does not)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# ---- Redis (a minimal RESP client: the load tests' few admin commands)

def redis_cmd(port, *args, host="127.0.0.1", timeout=10):
    """Sends one command; returns the reply (str, int, list, None). Raises
    RuntimeError on an error reply."""
    import socket
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(out)
        f = s.makefile("rb")
        return _resp(f)


def _resp(f):
    line = f.readline()
    if not line:
        raise RuntimeError("redis closed the connection")
    t, rest = line[:1], line[1:-2]
    if t == b"+":
        return rest.decode()
    if t == b"-":
        raise RuntimeError("redis: " + rest.decode())
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode(errors="replace")
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [_resp(f) for _ in range(n)]
    raise RuntimeError("redis: unexpected reply %r" % line)


def redis_commandstats(port, usec=False):
    """INFO commandstats -> {"evalsha": calls, ...}, or with usec=True
    {"evalsha": (calls, microseconds spent), ...}. Commands a Lua script runs
    are counted too (their time is also inside the script's)."""
    out = {}
    for line in redis_cmd(port, "INFO", "commandstats").splitlines():
        m = re.match(r"cmdstat_([^:]+):calls=(\d+),usec=(\d+)", line)
        if m:
            out[m.group(1)] = (int(m.group(2)), int(m.group(3))) if usec else int(m.group(2))
    return out
