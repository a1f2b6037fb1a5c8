"""t/lib/taplib.py — TAP output and the local stack for Python integration tests.

    import taplib
    t = taplib.Tap()
    with taplib.stack(workers=2) as s:       # redis, MongoDB endpoint, pool, nginx
        t.ok(cond, "name"); t.is_(got, want, "name")
    t.done()                                  # prints the plan, exits 0/1

The stack runs on free loopback ports in a temporary directory and is stopped
at the end, on an exception, or on SIGTERM/SIGINT (never left behind).
"""
import contextlib
import json
import os
import secrets
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "etc"))

import stack as _stack  # noqa: E402

Stack = _stack.Stack
wait_until = _stack.wait_until


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        print("%sok %d - %s" % ("" if cond else "not ", self.n, name), flush=True)
        if not cond:
            self.failed += 1
            if diag is not None:
                for line in str(diag).splitlines()[:40]:
                    print("#   " + line)
        return bool(cond)

    def is_(self, got, want, name):
        return self.ok(got == want, name, "got:  %r\nwant: %r" % (got, want))

    def skip(self, name, reason):
        """A test not run here, counted as skipped (never as passed)."""
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, reason), flush=True)

    def diag(self, msg):
        for line in str(msg).splitlines():
            print("# " + line, flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


@contextlib.contextmanager
def stack(services=_stack.SERVICES, keep=False, **kw):
    d = tempfile.mkdtemp(prefix="oponn-t-")
    # Load tests send thousands of requests a second from 127.0.0.1, which the
    # per-client rate limit (OPONN_RATE_LIMIT, default 200/s) would refuse; the
    # tests of the limit itself (t/60, t/61) pass OPONN_RATE_LIMIT explicitly.
    env = dict(kw.pop("env", None) or {})
    if "OPONN_RATE_LIMIT" not in env and "OPONN_RATE_LIMIT" not in os.environ:
        env["OPONN_RATE_LIMIT"] = "0"
    # A database of this stack only (MONGODB_URI may name a MongoDB that
    # other tests, or other runs, use at the same time); dropped at the end.
    if "OPONN_MONGODB_DB" not in env:
        env["OPONN_MONGODB_DB"] = unique_db_name()
    s = Stack(d, env=env, **kw)
    _stack.cleanup_on_signals(s)
    # Only an outside MongoDB outlives the stack; a local endpoint's data
    # goes with the temporary directory. Kept now: tests may point
    # s.mongo_uri at a fault proxy that is gone by the end.
    outside_uri = None if s.own_mongo else s.mongo_uri
    try:
        s.start(services=services)
        yield s
    except Exception:
        for log in sorted(os.listdir(os.path.join(d, "logs"))) if os.path.isdir(os.path.join(d, "logs")) else []:
            print("# --- %s ---" % log)
            with open(os.path.join(d, "logs", log), errors="replace") as f:
                for line in f.readlines()[-20:]:
                    print("# " + line.rstrip())
        raise
    finally:
        if outside_uri:
            _drop_db(outside_uri, s.mongo_db)
        s.stop()
        reports = _sanitizer_reports(d)
        if not keep:
            shutil.rmtree(d, ignore_errors=True)
        if reports:
            # A sanitizer report from any service fails the test file.
            print("not ok - sanitizer report in a service log")
            for line in reports[:60]:
                print("#   " + line)
            sys.exit(1)


def unique_db_name():
    """oponn_t<test number>_<pid>_<random>: unique on a shared MongoDB, and
    says which test file left it behind if a run is killed."""
    test = os.path.basename(sys.argv[0]).split("-")[0]
    return "oponn_t%s_%d_%s" % ("".join(c for c in test if c.isalnum())[:8], os.getpid(),
                                secrets.token_hex(3))


def _drop_db(uri, name):
    import pymongo
    try:
        c = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
        try:
            c.drop_database(name)
        finally:
            c.close()
    except Exception as e:  # the test's verdict stands; say what was left behind
        print("# could not drop MongoDB database %s: %s" % (name, e), flush=True)


def need_own_mongo():
    """For a test that stops or restarts MongoDB (it then runs a stack with
    own_mongo=True): when this machine cannot run an endpoint of its own,
    the whole file is skipped with the reason (TAP `1..0 # SKIP`), never
    counted as passed. Call before any test is printed."""
    why = _stack.own_mongo_unavailable()
    if why:
        print("1..0 # SKIP stops MongoDB, so needs an endpoint of its own: %s" % why, flush=True)
        sys.exit(0)


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def _sanitizer_reports(d):
    """Lines of ASan/LSan/UBSan reports in the stack's logs (empty when clean)."""
    out = []
    logs = os.path.join(d, "logs")
    for name in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
        with open(os.path.join(logs, name), errors="replace") as f:
            lines = f.read().splitlines()
        for i, line in enumerate(lines):
            if any(m in line for m in SANITIZER_MARKS):
                out += ["%s: %s" % (name, x) for x in lines[i:i + 25]]
                break
    return out


def gql(s, query, variables=None, headers=None, token=None, timeout=10):
    """POSTs a GraphQL request; returns (status, parsed JSON or None, raw body)."""
    h = {"content-type": "application/json"}
    if token:
        h["authorization"] = "Bearer " + token
    h.update(headers or {})
    body = {"query": query}
    if variables is not None:
        body["variables"] = variables
    status, _, raw = s.http("POST", "/graphql", json.dumps(body).encode(), h, timeout=timeout)
    try:
        return status, json.loads(raw), raw
    except ValueError:
        return status, None, raw


NODE_MODULES = os.path.join(ROOT, "node_modules")


def run_node(t, script, args, timeout=180):
    """Runs a Node.js test helper (t/lib/*.mjs) that prints one JSON object a
    line, {"ok": bool, "name": str, "diag": str?} or {"skip": str}, and reports
    each as a TAP test through t. Returns the parsed lines."""
    import subprocess
    p = subprocess.run(["node", os.path.join(HERE, script)] + list(args), cwd=ROOT,
                       capture_output=True, text=True, timeout=timeout)
    lines = []
    for line in p.stdout.splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            t.diag(line)
            continue
        lines.append(r)
        if "name" in r:
            t.ok(r.get("ok"), r["name"], r.get("diag"))
    t.ok(p.returncode == 0, "%s exited 0" % script,
         "exit %d\n%s" % (p.returncode, p.stderr[-3000:]))
    return lines
