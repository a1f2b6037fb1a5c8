#!/usr/bin/python3
"""t/31-cache-lua.t — cache: the script's predicate evaluation, sort order and patch decisions (table-driven, real Lua in a real Redis)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cachetest import Redis, prog, run_tap  # noqa: E402

rc = 0
with Redis() as r:
    rc = run_tap([prog("cache_t")] + "lua".split(), r.env, timeout=120)
sys.exit(rc)
