#!/usr/bin/python3
"""etc/stack.py — start and stop oponn's local stack.

One implementation used by `make run` / `make stop` (CLI below) and by every
integration test (`from stack import Stack`). It owns the processes it starts:

    redis-server        own port, directory and pid file (never the system one)
    MongoDB endpoint    MONGODB_URI if set; else `mongod` if on PATH; else the
                        development stand-in etc/dev/mongo-standin.py
    FastCGI pool        spawn-fcgi -n -> multiwatch -f N -> build/oponn-worker
    writer              build/oponn-writer, only when OPONN_WRITE_MODE=behind
    nginx               etc/nginx/oponn.conf.in rendered into the run directory

Each service runs in its own session (process group) so `stop` can end it and
everything it forked; its pid is recorded in <run_dir>/pids/<name>.pid so a
second `start` does not start a second copy and `stop` stops exactly what
`start` started. Readiness is a condition (a port accepts, a socket answers),
polled with a deadline, never a fixed sleep.

Run with Debian's /usr/bin/python3: the stand-in needs Debian's modules.
"""

import argparse
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICES = ("redis", "mongo", "pool", "writer", "nginx")  # start order; stop is reversed


def nginx_real_ip_lines(proxies):
    """nginx lines trusting X-Forwarded-For from these CIDRs (space-separated);
    empty when there are none. The container entrypoint renders the same."""
    cidrs = (proxies or "").split()
    if not cidrs:
        return ""
    return " ".join("set_real_ip_from %s;" % c for c in cidrs) + \
        " real_ip_header X-Forwarded-For; real_ip_recursive on;"


def nginx_rate_lines(rate, burst):
    """The http-level and location-level nginx lines of the per-client rate
    limit (OPONN_RATE_LIMIT, OPONN_RATE_BURST); both empty when rate is 0.
    infra/docker/oponn-container renders the same two lines."""
    if rate <= 0:
        return "", ""
    return ("limit_req_zone $binary_remote_addr zone=oponn_per_client:10m rate=%dr/s; "
            "limit_req_status 429;" % rate,
            "limit_req zone=oponn_per_client burst=%d nodelay;" % burst)


def free_port(host="127.0.0.1"):
    """A TCP port that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(cond, what, timeout=60.0, proc=None, log=None):
    """Polls cond() until it is true; fails with a message (and the tail of the
    service's log) when the deadline passes or the process died first."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s: process exited with %s%s" % (what, proc.returncode, _tail(log)))
        if time.monotonic() > deadline:
            raise RuntimeError("%s: not ready after %.0fs%s" % (what, timeout, _tail(log)))
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _tail(path, n=15):
    if not path or not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        lines = f.readlines()[-n:]
    return "\n--- %s ---\n%s" % (path, "".join(lines))


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def unix_open(path):
    if not os.path.exists(path):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            s.connect(path)
            return True
    except OSError:
        return False


def redis_ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            # -NOAUTH: up, and wants a password (redis_args --requirepass, t/75)
            return s.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not alive.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class Stack:
    """The local stack in one run directory. Ports default to free ones (tests);
    `make run` passes OPONN_HTTP_PORT and OPONN_REDIS_PORT."""

    def __init__(self, run_dir, http_port=None, redis_port=None, workers=None,
                 build_dir=None, env=None, mongo_uri=None, quiet=True,
                 default_http_port=None, default_redis_port=None, worker=None,
                 worker_wrapper=None, redis_wrapper=None, redis_args=None,
                 mongo_shutdown_ms=0, mongo_db=None, own_mongo=False):
        self.run_dir = os.path.abspath(run_dir)
        # OPONN_BUILD_DIR=build/asan runs the stack on the sanitizer build.
        self.build_dir = os.path.abspath(build_dir or os.environ.get("OPONN_BUILD_DIR")
                                         or os.path.join(ROOT, "build"))
        self.extra_env = dict(env or {})
        self.quiet = quiet
        self.state = self._load_state()
        self.http_port = int(http_port or self.state.get("http_port")
                             or default_http_port or free_port())
        self.redis_port = int(redis_port or self.state.get("redis_port")
                              or default_redis_port or free_port())
        self.workers = int(workers or os.environ.get("OPONN_WORKERS") or 0) or os.cpu_count() or 1
        # own_mongo: a test that stops or restarts MongoDB runs an endpoint
        # of its own whatever MONGODB_URI says: an outside server cannot be
        # stopped from here (an outage test would then test nothing), and
        # must not be.
        self.own_mongo = bool(own_mongo)
        self.mongo_uri = mongo_uri or (None if own_mongo else os.environ.get("MONGODB_URI")) \
            or self.state.get("mongo_uri")
        # The database every process of the stack uses (OPONN_MONGODB_DB):
        # tests give each stack its own, so stacks sharing one MongoDB never
        # see each other's data.
        if mongo_db:
            self.extra_env["OPONN_MONGODB_DB"] = mongo_db
        self.socket_path = os.path.join(self.run_dir, "oponn.sock")
        # The FastCGI program the pool runs (perf swaps in a constant one).
        self.worker = worker or os.path.join(self.build_dir, "oponn-worker")
        # A command the pool runs each worker under (t/63: valgrind), as an
        # argv list or, from OPONN_WORKER_WRAPPER, a shell-quoted string.
        wrapper = worker_wrapper
        if wrapper is None and os.environ.get("OPONN_WORKER_WRAPPER"):
            wrapper = shlex.split(os.environ["OPONN_WORKER_WRAPPER"])
        self.worker_wrapper = list(wrapper or [])
        if self.worker_wrapper and os.sep not in self.worker_wrapper[0]:
            # multiwatch execs without a PATH search
            self.worker_wrapper[0] = shutil.which(self.worker_wrapper[0]) or self.worker_wrapper[0]
        # The stand-in, when stopped, first refuses requests this long as a
        # mongod shutting down does (t/56: the errors clients see then).
        self.mongo_shutdown_ms = int(mongo_shutdown_ms)
        # redis-server's data directory is given to redis_wrapper as its
        # first argument, before redis-server's argv (t/57 runs it on a tiny
        # filesystem); redis_args are added to redis-server's own.
        self.redis_wrapper = list(redis_wrapper or [])
        self.redis_args = list(redis_args or [])
        self.procs = {}

    # ----- state kept in the run directory, so `stop` and a second `start` know
    # what is running

    def _path(self, *parts):
        return os.path.join(self.run_dir, *parts)

    def _load_state(self):
        state = {}
        try:
            with open(os.path.join(os.path.abspath(self.run_dir), "stack.env")) as f:
                for line in f:
                    k, _, v = line.strip().partition("=")
                    if k:
                        state[k] = v
        except OSError:
            pass
        return state

    def _save_state(self):
        with open(self._path("stack.env"), "w") as f:
            for k in ("http_port", "redis_port", "mongo_uri"):
                v = getattr(self, k)
                if v:
                    f.write("%s=%s\n" % (k, v))
            if self.state.get("mongo_local"):
                f.write("mongo_local=1\n")

    def _pid(self, name):
        try:
            with open(self._path("pids", name + ".pid")) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def running(self, name):
        return self._pid(name) is not None

    # ----- the environment every oponn process gets

    @property
    def url(self):
        return "http://127.0.0.1:%d/graphql" % self.http_port

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.http_port

    @property
    def redis_url(self):
        return "redis://127.0.0.1:%d" % self.redis_port

    @property
    def mongo_db(self):
        """The database name the stack's processes use (OPONN_MONGODB_DB)."""
        return self.env().get("OPONN_MONGODB_DB") or "oponn"

    def mongo_client(self, uri=None, **kw):
        """A pymongo client on the stack's MongoDB, or on uri (tests; Debian's
        pymongo)."""
        import pymongo
        kw.setdefault("serverSelectionTimeoutMS", 5000)
        return pymongo.MongoClient(uri or self.mongo_uri, **kw)

    def drop_mongo_db(self):
        """Drops the stack's database (a test stack's teardown on a shared
        MongoDB)."""
        c = self.mongo_client()
        try:
            c.drop_database(self.mongo_db)
        finally:
            c.close()

    def write_token(self):
        token = os.environ.get("OPONN_WRITE_TOKEN") or self.extra_env.get("OPONN_WRITE_TOKEN")
        if token:
            return token
        path = self._path("write-token")
        if os.path.exists(path):
            with open(path) as f:
                return f.read().strip()
        token = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        return token

    def env(self):
        env = dict(os.environ)
        env.update({
            "OPONN_RUN_DIR": self.run_dir,
            "OPONN_SOCKET": self.socket_path,
            "OPONN_REDIS_URL": self.redis_url,
            "MONGODB_URI": self.mongo_uri or "",
            "OPONN_SCHEMA": os.path.join(ROOT, "schema", "schema.graphql"),
            "OPONN_WRITE_TOKEN": self.write_token(),
        })
        env.update(self.extra_env)
        return env

    # ----- starting

    def _spawn(self, name, argv, env=None, cwd=None):
        os.makedirs(self._path("logs"), exist_ok=True)
        os.makedirs(self._path("pids"), exist_ok=True)
        log = open(self._path("logs", name + ".log"), "ab")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=env or self.env(), cwd=cwd or ROOT, start_new_session=True)
        log.close()
        self.procs[name] = proc
        with open(self._path("pids", name + ".pid"), "w") as f:
            f.write("%d\n" % proc.pid)
        return proc

    def _log(self, msg):
        if not self.quiet:
            print("stack: " + msg, file=sys.stderr)

    def start(self, services=SERVICES):
        os.makedirs(self.run_dir, exist_ok=True)
        os.chmod(self.run_dir, 0o755)
        try:
            for name in SERVICES:
                if name in services:
                    if self.running(name):
                        self._log("%s already running (pid %d)" % (name, self._pid(name)))
                        continue
                    getattr(self, "start_" + name)()
        except BaseException:
            self.stop()
            raise
        self._save_state()
        return self

    def _check_port_free(self, port, knob):
        if port_open(port):
            raise RuntimeError("port %d is already in use (another server?): choose another "
                               "with %s=<port>" % (port, knob))

    def start_redis(self):
        self._check_port_free(self.redis_port, "OPONN_REDIS_PORT")
        data = self._path("redis")
        os.makedirs(data, exist_ok=True)
        argv = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                "--dir", data, "--pidfile", self._path("redis", "redis.pid"),
                "--daemonize", "no", "--save", "", "--appendonly", "no",
                "--protected-mode", "yes", "--loglevel", "warning"] + self.redis_args
        if self.redis_wrapper:
            argv = self.redis_wrapper + [data] + argv
        proc = self._spawn("redis", argv)
        wait_until(lambda: redis_ping(self.redis_port), "redis on port %d" % self.redis_port,
                   proc=proc, log=self._path("logs", "redis.log"))
        self._log("redis on 127.0.0.1:%d" % self.redis_port)

    def start_mongo(self, port=None):
        """port: restart a local MongoDB endpoint on the port it had (tests)."""
        if self.mongo_uri and not self.state.get("mongo_local"):
            self._log("MongoDB: using MONGODB_URI")
            return
        fixed = port
        port = port or free_port()
        log = self._path("logs", "mongo.log")
        if shutil.which("mongod"):
            data = self._path("mongod")
            os.makedirs(data, exist_ok=True)
            proc = self._spawn("mongo", ["mongod", "--dbpath", data, "--port", str(port),
                                         "--bind_ip", "127.0.0.1", "--quiet"])
            what = "mongod"
        else:
            port_file = self._path("mongo.port")
            if os.path.exists(port_file):
                os.unlink(port_file)
            proc = self._spawn("mongo", ["/usr/bin/python3",
                                         os.path.join(ROOT, "etc", "dev", "mongo-standin.py"),
                                         "--host", "127.0.0.1", "--port", str(fixed or 0),
                                         "--port-file", port_file,
                                         "--data-file", self._path("mongo-data.json"),
                                         "--shutdown-ms", str(self.mongo_shutdown_ms)])
            wait_until(lambda: os.path.exists(port_file), "MongoDB stand-in", proc=proc, log=log)
            with open(port_file) as f:
                port = int(f.read().strip())
            what = "MongoDB stand-in (development only)"
        wait_until(lambda: port_open(port), what, proc=proc, log=log)
        self.mongo_uri = "mongodb://127.0.0.1:%d/?serverSelectionTimeoutMS=2000" % port
        self.state["mongo_local"] = "1"
        self._log("%s on 127.0.0.1:%d" % (what, port))

    def start_pool(self):
        worker = self.worker
        if not os.access(worker, os.X_OK):
            raise RuntimeError("%s is missing: run `make` first" % worker)
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        retries = os.environ.get("OPONN_WORKER_RETRIES", "100")
        # `-s INT`, not TERM: multiwatch 1.0.0 sends the signal numbered by the
        # name's place in its list (TERM -> SIGQUIT, which kills the worker
        # without app_close; INT -> SIGHUP). The worker stops gracefully on
        # HUP, INT and TERM, so a fixed multiwatch works the same (t/63).
        argv = ["spawn-fcgi", "-n", "-s", self.socket_path, "-M", "0666",
                "-b", os.environ.get("OPONN_BACKLOG", "1024"), "--",
                "/usr/bin/multiwatch", "-f", str(self.workers), "-r", retries, "-s", "INT",
                "--"] + self.worker_wrapper + [worker]
        proc = self._spawn("pool", argv)
        wait_until(lambda: unix_open(self.socket_path), "FastCGI pool", proc=proc,
                   log=self._path("logs", "pool.log"))
        wait_until(lambda: len(self.worker_pids()) == self.workers, "%d workers" % self.workers,
                   proc=proc, log=self._path("logs", "pool.log"))
        self._log("pool: %d workers on %s" % (self.workers, self.socket_path))

    def write_behind(self):
        return self.env().get("OPONN_WRITE_MODE", "through") == "behind"

    def start_writer(self):
        """The write-behind writer (only in OPONN_WRITE_MODE=behind): applies
        the queued writes to MongoDB. Ready when its consumer line is logged."""
        if not self.write_behind():
            return
        writer = os.path.join(self.build_dir, "oponn-writer")
        if not os.access(writer, os.X_OK):
            raise RuntimeError("%s is missing: run `make` first" % writer)
        log = self._path("logs", "writer.log")
        start = os.path.getsize(log) if os.path.exists(log) else 0
        proc = self._spawn("writer", [writer])

        def ready():
            with open(log, errors="replace") as f:
                f.seek(start)
                return "consumer" in f.read()
        wait_until(ready, "oponn-writer", proc=proc, log=log)
        self._log("writer: oponn-writer (write-behind)")

    def render_nginx_conf(self):
        nginx_dir = self._path("nginx")
        os.makedirs(nginx_dir, exist_ok=True)
        with open(os.path.join(ROOT, "etc", "nginx", "oponn.conf.in")) as f:
            conf = f.read()
        user = ""
        if os.geteuid() == 0:
            # Local stack only: workers run as the invoking user so they can
            # reach the socket and temp dirs in the run directory. Production
            # (ansible, Docker) runs them as www-data.
            user = "user root root;"
        subst = {
            "@USER_LINE@": user,
            "@RUN_DIR@": self.run_dir,
            "@ROOT@": ROOT,
            # GraphiQL's static files, copied there by `make` (Makefile: graphiql).
            "@GRAPHIQL_DIR@": os.path.join(self.build_dir, "graphiql"),
            "@LISTEN@": os.environ.get("OPONN_HTTP_LISTEN", "127.0.0.1"),
            "@HTTP_PORT@": str(self.http_port),
            "@SOCKET@": self.socket_path,
            "@MAX_BODY@": os.environ.get("OPONN_MAX_BODY_BYTES", "1048576"),
            "@NGINX_WORKERS@": os.environ.get("OPONN_NGINX_WORKERS", "1"),
            "@ACCESS_LOG@": os.environ.get("OPONN_NGINX_ACCESS_LOG", "off"),
            "@UPSTREAM_KEEPALIVE@": "",
            "@KEEP_CONN@": "",
        }
        rate = int(self.extra_env.get("OPONN_RATE_LIMIT", os.environ.get("OPONN_RATE_LIMIT", "200")))
        burst = int(self.extra_env.get("OPONN_RATE_BURST", os.environ.get("OPONN_RATE_BURST", "400")))
        subst["@RATE_ZONE@"], subst["@RATE_LIMIT_REQ@"] = nginx_rate_lines(rate, burst)
        subst["@REAL_IP@"] = nginx_real_ip_lines(
            self.extra_env.get("OPONN_TRUSTED_PROXIES", os.environ.get("OPONN_TRUSTED_PROXIES")))
        keepalive = int(self.extra_env.get("OPONN_NGINX_KEEPALIVE",
                                            os.environ.get("OPONN_NGINX_KEEPALIVE", "32")))
        if keepalive > 0:
            subst["@UPSTREAM_KEEPALIVE@"] = "keepalive %d;" % keepalive
            subst["@KEEP_CONN@"] = "fastcgi_keep_conn on;"
        for k, v in subst.items():
            conf = conf.replace(k, v)
        path = os.path.join(nginx_dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        return path

    def start_nginx(self):
        self._check_port_free(self.http_port, "OPONN_HTTP_PORT")
        conf = self.render_nginx_conf()
        test = subprocess.run(["nginx", "-t", "-q", "-p", self._path("nginx"), "-c", conf],
                              capture_output=True, text=True)
        if test.returncode != 0:
            raise RuntimeError("nginx -t failed:\n" + test.stderr)
        proc = self._spawn("nginx", ["nginx", "-p", self._path("nginx"), "-c", conf,
                                     "-g", "daemon off;"])
        wait_until(lambda: port_open(self.http_port), "nginx on port %d" % self.http_port,
                   proc=proc, log=self._path("logs", "nginx-error.log"))
        self._log("nginx on 127.0.0.1:%d" % self.http_port)

    # ----- inspecting

    def worker_pids(self):
        """Pids of the worker processes (children of multiwatch)."""
        pool = self._pid("pool")
        if pool is None:
            return []
        try:
            with open("/proc/%d/task/%d/children" % (pool, pool)) as f:
                kids = [int(p) for p in f.read().split()]
        except OSError:
            return []
        return [p for p in kids if pid_alive(p)]

    def http(self, method, path, body=None, headers=None, timeout=10):
        """(status, headers, body bytes) — never raises on HTTP errors."""
        req = urllib.request.Request(self.base_url + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def oponn(self, *args, **kw):
        """Runs the admin CLI build/oponn with the stack's environment."""
        return subprocess.run([os.path.join(self.build_dir, "oponn")] + list(args),
                              env=self.env(), capture_output=True, text=True, **kw)

    # ----- stopping

    def stop_service(self, name, timeout=10.0):
        pid = self._pid(name)
        pidfile = self._path("pids", name + ".pid")
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            proc = self.procs.get(name)
            deadline = time.monotonic() + timeout
            while pid_alive(pid) and time.monotonic() < deadline:
                if proc is not None:
                    try:
                        proc.wait(timeout=0.05)
                    except subprocess.TimeoutExpired:
                        pass
                else:
                    time.sleep(0.02)
            try:
                os.killpg(pid, signal.SIGKILL)  # anything left in the group
            except ProcessLookupError:
                pass
            if name in self.procs:
                try:
                    self.procs[name].wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        self.procs.pop(name, None)
        if os.path.exists(pidfile):
            os.unlink(pidfile)

    def stop(self):
        for name in reversed(SERVICES):
            self.stop_service(name)
        # Ports of a local MongoDB change at each start; forget them.
        if os.path.exists(self._path("stack.env")):
            os.unlink(self._path("stack.env"))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def own_mongo_unavailable():
    """Why this machine cannot run a MongoDB endpoint of its own (no
    `mongod`, and the stand-in does not start), or None when it can."""
    if shutil.which("mongod"):
        return None
    try:
        r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "etc", "dev", "mongo-standin.py"),
                            "--help"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "no mongod, and the stand-in does not run: %s" % e
    if r.returncode != 0:
        return "no mongod, and the stand-in does not run: %s" % (
            r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1]
    return None


def cleanup_on_signals(stack):
    """Tests: stop the stack on SIGTERM/SIGINT/SIGHUP too, not only on normal exit."""
    def handler(signum, frame):
        stack.stop()
        sys.exit(128 + signum)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, handler)


def load_sample_hook(st):
    """`make run`: migrate and load the sample data set (idempotent: a second
    run changes nothing). OPONN_LOAD_SAMPLE=0 skips it, e.g. with an Atlas URI
    whose database should stay as it is."""
    if os.environ.get("OPONN_LOAD_SAMPLE", "1") == "0":
        return
    from load_sample import load_sample
    print("stack: migrating and loading the sample data set", file=sys.stderr)
    try:
        load_sample(st.env(), build_dir=st.build_dir, quiet=True)
    except RuntimeError as e:
        raise RuntimeError("loading the sample data failed: %s" % e)


# Steps run after the services are up; each takes the Stack and raises
# RuntimeError on failure.
post_start_hooks = [load_sample_hook]


def main():
    ap = argparse.ArgumentParser(description="Start or stop oponn's local stack.")
    ap.add_argument("command", choices=["start", "stop", "status", "env"])
    ap.add_argument("--run-dir", default=os.environ.get("OPONN_RUN_DIR", os.path.join(ROOT, "run")))
    args = ap.parse_args()

    # An explicit variable wins; else the ports of the stack already running
    # in this run directory; else the documented defaults.
    st = Stack(args.run_dir, http_port=os.environ.get("OPONN_HTTP_PORT"),
               redis_port=os.environ.get("OPONN_REDIS_PORT"), quiet=False,
               default_http_port=8080, default_redis_port=6389)
    if args.command == "start":
        already = all(st.running(n) for n in SERVICES
                      if (n != "mongo" or not st.mongo_uri) and (n != "writer" or st.write_behind()))
        try:
            st.start()
            for hook in post_start_hooks:
                hook(st)
        except (RuntimeError, subprocess.CalledProcessError) as e:
            print("stack: %s" % e, file=sys.stderr)
            return 1
        token_note = "" if os.environ.get("OPONN_WRITE_TOKEN") else \
            "   (generated; kept in %s)" % st._path("write-token")
        print("""
oponn is %s
  GraphQL      %s          (POST JSON, or GET ?query=)
  health       %s/healthz
  metrics      %s/metrics          (loopback only)
  write token  %s%s
               mutations need: Authorization: Bearer <token>
  try it       curl -s -X POST %s -H 'content-type: application/json' \\
                 -d '{"query":"{ __typename }"}'
  logs         %s/logs/
  stop         make stop
""" % ("already running" if already else "running", st.url, st.base_url, st.base_url,
       st.write_token(), token_note, st.url, st.run_dir))
        return 0
    if args.command == "stop":
        st.stop()
        print("stack: stopped", file=sys.stderr)
        return 0
    if args.command == "env":
        env = st.env()
        for k in ("OPONN_RUN_DIR", "OPONN_SOCKET", "OPONN_REDIS_URL", "MONGODB_URI",
                  "OPONN_SCHEMA", "OPONN_WRITE_TOKEN"):
            print("export %s=%s" % (k, env[k]))
        return 0
    for name in SERVICES:
        pid = st._pid(name)
        print("%-6s %s" % (name, "running (pid %d)" % pid if pid else "stopped"))
    print("workers %d" % len(st.worker_pids()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
