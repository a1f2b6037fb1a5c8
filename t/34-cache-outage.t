#!/usr/bin/python3
"""t/34-cache-outage.t — cache: Redis outage. A value is cached (v1) and
saved to disk; Redis stops; a write (v2) cannot reach the cache and a read
fails fast (callers go to MongoDB); Redis restarts WITH the saved v1; the
cache must not serve v1 (the worker starts a new epoch), and refills v2."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cachetest import Redis, prog  # noqa: E402

with Redis() as r:
    p = subprocess.Popen([prog("cache_t"), "outage"], env=r.env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    for line in p.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        if line.startswith("# STEP saved-stop-redis"):
            subprocess.run(["redis-cli", "-p", str(r.stack.redis_port), "SAVE"], check=True,
                           stdout=subprocess.DEVNULL)
            r.stack.stop_service("redis")
            p.stdin.write("go\n")
            p.stdin.flush()
        elif line.startswith("# STEP start-redis"):
            r.stack.start_redis()
            p.stdin.write("go\n")
            p.stdin.flush()
    rc = p.wait(timeout=60)
sys.exit(rc)
