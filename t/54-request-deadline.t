#!/usr/bin/python3
# OPONN_REQUEST_DEADLINE_MS: a MongoDB that accepts connections and never
# answers (a black-hole proxy in front of the stack's MongoDB) while the URI
# asks for 60 s socket/connect/selection timeouts. The worker caps every
# MongoDB timeout at the deadline and calls no resolver past it, so queries,
# mutations and /healthz answer (UNAVAILABLE / 503) near the deadline instead
# of hanging; once MongoDB answers again the service is healthy by itself.
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import cachestack  # noqa: E402
import faultproxy  # noqa: E402
import taplib  # noqa: E402

_stack = taplib._stack

t = taplib.Tap()
DEADLINE_MS = 1500
# What "near the deadline" allows: the deadline plus scheduling on a busy
# machine (a sanitizer build under load), still a tenth of the URI's 60 s.
SLACK_S = 4.5
code_of = cachestack.code_of

with taplib.stack(workers=2, services=("redis", "mongo"),
                  env={"OPONN_REQUEST_DEADLINE_MS": str(DEADLINE_MS)}) as s:
    up = urllib.parse.urlparse(s.mongo_uri).port
    proxy = faultproxy.FaultProxy(up)
    try:
        s.mongo_uri = ("mongodb://127.0.0.1:%d/?connectTimeoutMS=60000&socketTimeoutMS=60000"
                       "&serverSelectionTimeoutMS=60000" % proxy.port)
        s.start(services=("pool", "nginx"))
        tok = s.write_token()
        t.is_(s.oponn("migrate").returncode, 0, "oponn migrate through the proxy")

        def healthz():
            st, _, body = s.http("GET", "/healthz")
            return st, body

        t.is_(healthz()[0], 200, "healthz 200 through the proxy")
        st, b, _ = taplib.gql(s, 'mutation{ createBookstore(input:{name:"Deadline Store"}) { id } }',
                              token=tok)
        sid = b["data"]["createBookstore"]["id"]
        t.is_(s.oponn("cache", "flush").returncode, 0, "cache flushed (reads go to MongoDB)")

        proxy.hang = True
        Q = 'query($id:ID!){ bookstore(id:$id) { id name } }'
        for what, run in (
                ("query", lambda: taplib.gql(s, Q, {"id": sid})),
                ("mutation", lambda: taplib.gql(
                    s, 'mutation{ createBookstore(input:{name:"Never Stored"}) { id } }',
                    token=tok))):
            t0 = time.monotonic()
            st, b, raw = run()
            el = time.monotonic() - t0
            t.is_(code_of(b), "UNAVAILABLE", "hung MongoDB: %s answers UNAVAILABLE" % what)
            # near the deadline, far below the URI's 60 s
            t.ok(el < DEADLINE_MS / 1000 + SLACK_S,
                 "hung MongoDB: %s answered in %.2f s (deadline %.1f s, URI timeouts 60 s)"
                 % (what, el, DEADLINE_MS / 1000), raw)
        t0 = time.monotonic()
        st, body = healthz()
        el = time.monotonic() - t0
        t.ok(st == 503 and b'"mongodb":"down"' in body and el < DEADLINE_MS / 1000 + SLACK_S,
             "hung MongoDB: healthz 503 mongodb down in %.2f s" % el, body)

        proxy.hang = False

        def answers():
            st, b, raw = taplib.gql(s, 'query{ a: bookstoreByName(name:"Deadline Store") { id } '
                                    'b: bookstoreByName(name:"Never Stored") { id } }')
            return healthz()[0] == 200 and (b or {}).get("data") == {"a": {"id": sid}, "b": None}
        # every worker: each must have reconnected (libmongoc waits 5 s before
        # it checks a failed server again)
        _stack.wait_until(lambda: all(answers() for _ in range(4)),
                          "healthy after MongoDB answers again", timeout=30)
        t.ok(True, "healthz 200 and queries answer again, by themselves")
        st, b, raw = taplib.gql(s, Q, {"id": sid})
        t.is_(((b or {}).get("data") or {}).get("bookstore"), {"id": sid, "name": "Deadline Store"},
              "the bookstore read during the hang answers")
        st, b, raw = taplib.gql(s, 'query{ bookstoreByName(name:"Never Stored") { id } }')
        t.ok(b and b.get("data") == {"bookstoreByName": None} and not b.get("errors"),
             "the mutation refused during the hang was not stored", raw)
    finally:
        proxy.stop()
t.done()
