#!/usr/bin/python3
# Per-client rate limit in nginx (OPONN_RATE_LIMIT, OPONN_RATE_BURST): a
# client over it gets GraphQL-shaped JSON 429s (code UNAVAILABLE), /healthz is
# never limited, and the rendered default (200/s, burst 400) is in the config.
import json
import math
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import taplib  # noqa: E402

t = taplib.Tap()
# What nginx's limit_req guarantees at any speed: the first 1 + burst requests
# pass, and over T seconds at most 1 + burst + rate * T do. With 1 request/s
# the 40 requests below see 429s unless they take over 30 s.
RATE, BURST = 1, 5
with taplib.stack(workers=1, env={"OPONN_RATE_LIMIT": str(RATE),
                                  "OPONN_RATE_BURST": str(BURST)}) as s:
    conf = open(os.path.join(s.run_dir, "nginx", "nginx.conf")).read()
    t.ok("rate=1r/s" in conf and "burst=5 nodelay" in conf, "OPONN_RATE_LIMIT/BURST rendered")
    body = json.dumps({"query": "{ __typename }"}).encode()
    got = []

    def hit():
        for _ in range(10):
            got.append(s.http("POST", "/graphql", body, {"content-type": "application/json"},
                              timeout=60))
    threads = [threading.Thread(target=hit) for _ in range(4)]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    took = time.monotonic() - t0
    statuses = [g[0] for g in got]
    limited = [g for g in got if g[0] == 429]
    passed = statuses.count(200)
    most = 1 + BURST + math.ceil(RATE * took)
    t.ok(1 + BURST <= passed <= most, "the burst passes, no more than the rate allows (%d x 200 in "
         "%.2f s, at most %d)" % (passed, took, most), statuses)
    t.ok(len(limited) == len(got) - passed and limited, "40 requests at once: the rest refused "
         "(%d x 429)" % len(limited), statuses)
    try:
        b = json.loads(limited[0][2]) if limited else {}
    except ValueError:
        b = {}
    t.is_((b.get("errors") or [{}])[0].get("extensions", {}).get("code"), "UNAVAILABLE",
          "the 429 is GraphQL JSON with code UNAVAILABLE")
    t.ok(limited and limited[0][1].get("Content-Type", "").startswith("application/json"),
         "429 Content-Type is application/json")
    st, _, _ = s.http("GET", "/healthz")
    t.is_(st, 200, "/healthz is not rate limited")

# Behind a load balancer: with OPONN_TRUSTED_PROXIES covering it, each
# X-Forwarded-For client has its own budget instead of sharing the balancer's.
with taplib.stack(workers=1, env={"OPONN_RATE_LIMIT": "1", "OPONN_RATE_BURST": "2",
                                  "OPONN_TRUSTED_PROXIES": "127.0.0.1/32"}) as s:
    body = json.dumps({"query": "{ __typename }"}).encode()

    # 1 request/s, burst 2: 12 requests in a row see a 429 unless they take
    # over 9 s; a fresh client's first 3 always pass.
    def burst(client):
        h = {"content-type": "application/json", "X-Forwarded-For": client}
        return [s.http("POST", "/graphql", body, h, timeout=60)[0] for _ in range(12)]
    a, b2 = burst("203.0.113.7"), burst("198.51.100.9")
    t.ok(a[:3] == [200] * 3 and 429 in a and b2[:3] == [200] * 3,
         "per forwarded client: the second client is not limited by the first's burst", (a, b2))

d = __import__("tempfile").mkdtemp(prefix="oponn-t-61-")
conf = taplib.Stack(d, env={}).render_nginx_conf() if "OPONN_RATE_LIMIT" not in os.environ else None
if conf:
    text = open(conf).read()
    t.ok("rate=200r/s" in text and "burst=400 nodelay" in text, "default: 200 requests/s, burst 400")
    t.ok(taplib.Stack(d, env={"OPONN_RATE_LIMIT": "0"}).render_nginx_conf() and
         "limit_req" not in open(conf).read(), "OPONN_RATE_LIMIT=0: no limit_req at all")
__import__("shutil").rmtree(d, ignore_errors=True)
t.done()
