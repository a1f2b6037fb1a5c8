#!/usr/bin/python3
"""t/35-cache-model.t — cache: model-based randomized test. 10,000 random
operations (create/update/delete/move of apples, oranges, books, bookstores,
evictions, and every cached query kind with random arguments) against an
in-memory ground truth; after every write each known cached batch and the
written entity are compared with the model. Seeded: OPONN_TEST_SEED=N
reproduces a run (the seed is printed on failure); OPONN_TEST_OPS sets the
length. Reports the share of affected batches patched in place vs dropped."""
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from cachetest import Redis, prog, run_tap  # noqa: E402

seed = os.environ.get("OPONN_TEST_SEED") or str(random.randrange(1, 2**31))
print("# seed %s" % seed)
with Redis() as r:
    env = dict(r.env, OPONN_TEST_SEED=seed)
    env.setdefault("OPONN_TEST_OPS", "10000")
    # The model checks what is cached after each write, not how fast Redis
    # answers: a 200 ms Redis timeout missed on a loaded machine would read
    # as a mismatch. 10,000 operations can take minutes there.
    env.setdefault("OPONN_REDIS_TIMEOUT_MS", "10000")
    rc = run_tap([prog("cache_t"), "model"], env, timeout=1800)
sys.exit(rc)
