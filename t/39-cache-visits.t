#!/usr/bin/python3
"""t/39-cache-visits.t — cache: a write visits only the lists it could change (its old and new filter values, the id lists naming it, the unindexed ones), whatever the number of cached lists of its table, and moves the record between them right."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cachetest import Redis, prog, run_tap  # noqa: E402

rc = 0
with Redis() as r:
    rc = run_tap([prog("cache_t")] + "visits".split(), r.env, timeout=120)
sys.exit(rc)
