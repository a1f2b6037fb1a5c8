#!/usr/bin/python3
"""t/36-cache-queue.t — write-behind queue. First the single-process checks
(back-pressure, read-your-writes, dead letters, replay); then 3,000 writes
produced while the writer is killed with SIGKILL at random moments (4 times)
and restarted: after the drain the fake MongoDB holds exactly the last
acknowledged version of every record, applies never went backwards, and
nothing is left pending or dead."""
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cachetest import Redis, Tap, prog  # noqa: E402

from stack import wait_until  # noqa: E402


def rcli(r, *args):
    out = subprocess.run(["redis-cli", "-p", str(r.stack.redis_port)] + list(args),
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    return out.strip()


def applied(r):
    return int(rcli(r, "LLEN", "fake:log") or 0)


def drained(r):
    length = int(rcli(r, "XLEN", "oponn:queue") or 0)
    pending = rcli(r, "XPENDING", "oponn:queue", "writers").split("\n")[0]
    return length == 0 and pending in ("0", "")


seed = int(os.environ.get("OPONN_TEST_SEED") or random.randrange(1, 2**31))
rng = random.Random(seed)
print("# seed %d" % seed)
tap = Tap()
prc = -1
with Redis() as r, tempfile.TemporaryDirectory() as tmp:
    env = dict(r.env, OPONN_WRITE_MODE="behind", OPONN_QUEUE_CLAIM_MS="200",
               OPONN_FAKE_APPLY_US="200", OPONN_QUEUE_MAX="100000")
    tap.run([prog("cache_qt"), "misc"], env, timeout=60)

    ack = os.path.join(tmp, "acked")
    writer = subprocess.Popen([prog("cache_qt"), "writer"], env=env)
    producer = subprocess.Popen([prog("cache_qt"), "produce", "3000", ack], env=env)
    kills = 0
    try:
        for _ in range(4):
            target = applied(r) + rng.randrange(100, 400)
            wait_until(lambda: applied(r) >= target or producer.poll() is not None,
                       "writer progress", timeout=60)
            writer.send_signal(signal.SIGKILL)
            writer.wait()
            kills += 1
            writer = subprocess.Popen([prog("cache_qt"), "writer"], env=env)
        prc = producer.wait(timeout=120)
        tap.ok(prc == 0, "producer finished (exit %d); writer killed -9 %d times" % (prc, kills))
        t0 = time.monotonic()
        wait_until(lambda: drained(r), "queue drained", timeout=60)
        print("# drained %.1fs after the producer finished" % (time.monotonic() - t0))
    finally:
        writer.send_signal(signal.SIGTERM)
        writer.wait(timeout=10)
        if producer.poll() is None:
            producer.kill()
            producer.wait()
    tap.ok(writer.returncode == 0, "writer stopped on SIGTERM")
    tap.run([prog("cache_qt"), "check", ack], env, timeout=60)
sys.exit(tap.done())
