"""t/cachetest.py — shared by the t/3x-cache-*.t tests: a private redis-server
(etc/stack.py, free port, temp dir, always stopped) and a runner that passes a
t/prog TAP program's output through."""

import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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
