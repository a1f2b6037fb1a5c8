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

    def diag(self, msg):
        for line in str(msg).splitlines():
            print("# " + line, flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


@contextlib.contextmanager
def stack(services=_stack.SERVICES, keep=False, **kw):
    d = tempfile.mkdtemp(prefix="oponn-t-")
    s = Stack(d, **kw)
    _stack.cleanup_on_signals(s)
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
        s.stop()
        if not keep:
            shutil.rmtree(d, ignore_errors=True)


def gql(s, query, variables=None, headers=None, token=None):
    """POSTs a GraphQL request; returns (status, parsed JSON or None, raw body)."""
    h = {"content-type": "application/json"}
    if token:
        h["authorization"] = "Bearer " + token
    h.update(headers or {})
    body = {"query": query}
    if variables is not None:
        body["variables"] = variables
    status, _, raw = s.http("POST", "/graphql", json.dumps(body).encode(), h)
    try:
        return status, json.loads(raw), raw
    except ValueError:
        return status, None, raw
