"""t/lib/cachetest.py — shared by the t/3x-cache-*.t tests: a private redis-server
(etc/stack.py, free port, temp dir, always stopped) and a runner that passes a
t/prog TAP program's output through."""

import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "etc"))

from stack import Stack, cleanup_on_signals  # noqa: E402

BUILD = os.environ.get("OPONN_BUILD", os.path.join(ROOT, "build"))


def prog(name):
    return os.path.join(BUILD, "t", "prog", name)


class Redis:
    """`with Redis() as r:` a redis-server on a free loopback port."""

    def __enter__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="oponn-cache-")
        self.stack = Stack(self.tmp.name)
        cleanup_on_signals(self.stack)
        self.stack.start(services=("redis",))
        self.env = dict(os.environ, OPONN_REDIS_URL=self.stack.redis_url,
                        OPONN_RUN_DIR=self.tmp.name)
        return self

    def __exit__(self, *exc):
        self.stack.stop()
        self.tmp.cleanup()


def run_tap(args, env, timeout=300):
    """Runs a TAP program, copies its output, returns its exit status."""
    p = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    sys.stdout.write(p.stdout.decode(errors="replace"))
    sys.stdout.flush()
    return p.returncode


class Tap:
    """One TAP stream out of several programs: their test numbers are
    renumbered and their plans dropped; done() prints the one plan."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def _emit(self, passed, rest):
        self.n += 1
        if not passed:
            self.failed += 1
        print("%sok %d%s" % ("" if passed else "not ", self.n, rest))
        sys.stdout.flush()

    def ok(self, passed, name):
        self._emit(passed, " - " + name)

    def line(self, line):
        import re
        m = re.match(r"^(not )?ok \d+(.*)$", line)
        if m:
            self._emit(m.group(1) is None, m.group(2))
        elif re.match(r"^1\.\.\d+", line):
            pass
        else:
            sys.stdout.write(line if line.endswith("\n") else line + "\n")
            sys.stdout.flush()

    def run(self, args, env, timeout=300):
        p = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        for line in p.stdout.decode(errors="replace").splitlines():
            self.line(line)
        self.ok(p.returncode == 0, "%s exited 0" % " ".join(os.path.basename(a) for a in args[:2]))
        return p.returncode

    def done(self):
        print("1..%d" % self.n)
        return 1 if self.failed else 0
