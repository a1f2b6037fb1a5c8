#!/usr/bin/python3
# Issue 3's acceptance through nginx and the pool: `{ __schema { queryType {
# name } } }` and graphql-js's getIntrospectionQuery() answer what graphql-js
# would (the introspection JSON goes through buildClientSchema -> printSchema
# and must equal graphql-js's own, by t/gql/roundtrip.js). A second request
# of the same document is a document-cache hit, counted in /metrics.
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import taplib  # noqa: E402

t = taplib.Tap()
root = taplib.ROOT
sdl = os.path.join(root, "schema", "schema.graphql")
qfile = os.path.join(root, "t", "gql", "introspection-query.graphql")
with open(qfile) as f:
    iq = f.read()
with taplib.stack(workers=1) as s:
    st, b, _ = taplib.gql(s, "{ __schema { queryType { name } mutationType { name } } }")
    t.is_((st, b), (200, {"data": {"__schema": {"queryType": {"name": "Query"},
                                                "mutationType": {"name": "Mutation"}}}}),
          "__schema through nginx")
    st, b, _ = taplib.gql(s, iq)
    t.ok(st == 200 and "errors" not in b, "the introspection query through nginx")
    # the worker's document cache: the same document again is a hit with
    # the same answer, and /metrics counts hits and misses
    st2, b2, _ = taplib.gql(s, iq)
    t.ok(st2 == 200 and b2 == b, "the introspection query again (document cache): same answer")
    _, _, raw = s.http("GET", "/metrics")
    m = {}
    for line in raw.decode().splitlines():
        if line.startswith("oponn_graphql_document_cache_total{"):
            m[line.split('"')[1]] = int(float(line.split()[-1]))
    t.ok(m.get("hit", 0) >= 1 and m.get("miss", 0) >= 2,
         "/metrics counts document cache hits and misses", repr(m))
chk = subprocess.run(["node", os.path.join(root, "t", "gql", "roundtrip.js")], cwd=root,
                     input=json.dumps({"sdl": sdl, "query": qfile, "introspection": b}),
                     capture_output=True, text=True, timeout=60)
t.ok(chk.returncode == 0, "graphql-js: same schema and same introspection JSON",
     chk.stdout + chk.stderr)
t.done()
