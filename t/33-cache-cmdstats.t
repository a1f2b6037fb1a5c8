#!/usr/bin/python3
"""t/33-cache-cmdstats.t — cache: one EVALSHA per write whatever the number of cached batches (K = 1, 10, 100)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cachetest import Redis, prog, run_tap  # noqa: E402

rc = 0
with Redis() as r:
    rc = run_tap([prog("cache_t")] + "cmdstats".split(), r.env, timeout=120)
sys.exit(rc)
