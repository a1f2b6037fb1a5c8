#!/usr/bin/python3
# The ../shared/API.md operations through npm graphql-request, as a JavaScript user runs
# them (t/lib/graphql-request-client.mjs): introspection into buildClientSchema,
# queries and mutations with variables, the token, null for unknown ids, error
# codes and HTTP 400 for invalid documents.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import taplib  # noqa: E402

t = taplib.Tap()
with taplib.stack(workers=2) as s:
    # Validators and the unique name index, as `make run` applies them.
    r = s.oponn("migrate")
    t.is_(r.returncode, 0, "oponn migrate")
    taplib.run_node(t, "graphql-request-client.mjs", [s.url, s.write_token()])
t.done()
