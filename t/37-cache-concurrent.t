#!/usr/bin/python3
"""t/37-cache-concurrent.t — cache under concurrency: 8 processes miss the
same hot key at once (one MongoDB read: the lease); then 8 processes (6 s
each, OPONN_TEST_SECONDS) write a hot set of 40 fruit through a shared
ground truth and read every fruit query kind through the cache at once;
after they stop, cache_verify compares every cached entity and batch with
the truth: 0 mismatches."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cachetest import Redis, prog, run_tap  # noqa: E402

with Redis() as r:
    rc = run_tap([prog("cache_t"), "herd", "concurrent"], r.env, timeout=120)
sys.exit(rc)
