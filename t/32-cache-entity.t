#!/usr/bin/python3
"""t/32-cache-entity.t — cache: leases, negative entries, the forced stale-set interleaving, epochs; batch reads, fills, joins, races."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cachetest import Redis, prog, run_tap  # noqa: E402

rc = 0
with Redis() as r:
    rc = run_tap([prog("cache_t")] + "entity batch".split(), r.env, timeout=120)
sys.exit(rc)
