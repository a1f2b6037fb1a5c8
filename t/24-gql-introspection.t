#!/usr/bin/python3
"""Introspection round trip through graphql-js: for schema/schema.graphql and
the corpus schema, our answer to getIntrospectionQuery() goes through
buildClientSchema() -> printSchema() and must equal
printSchema(buildSchema(sdl)); the JSON must equal graphql-js's own."""
import json, os, shutil, subprocess, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if not os.path.isdir(os.path.join(root, "node_modules", "graphql")) or not shutil.which("node"):
    print("1..0 # SKIP graphql-js not installed (npm ci)")
    sys.exit(0)
runner = os.environ.get("GQL_RUN", os.path.join(root, "build", "t", "prog", "gql_run"))
query = os.path.join(root, "t", "gql", "introspection-query.graphql")
schemas = [os.path.join(root, "schema", "schema.graphql"), os.path.join(root, "t", "gql", "schema.graphql")]
print("1..%d" % len(schemas))
failed = 0
for i, sdl in enumerate(schemas, 1):
    out = subprocess.run([runner, sdl, "-", query], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        print("not ok %d - %s: gql_run: %s" % (i, sdl, out.stderr.strip()))
        failed += 1
        continue
    resp = json.loads(out.stdout.splitlines()[0])["response"]
    chk = subprocess.run(["node", os.path.join(root, "t", "gql", "roundtrip.js")], cwd=root,
                         input=json.dumps({"sdl": sdl, "query": query, "introspection": resp}),
                         capture_output=True, text=True, timeout=60)
    rel = os.path.relpath(sdl, root)
    if chk.returncode == 0:
        print("ok %d - introspection round trip of %s" % (i, rel))
    else:
        failed += 1
        print("not ok %d - introspection round trip of %s\n# %s" % (i, rel, (chk.stdout + chk.stderr).replace("\n", "\n# ")))
sys.exit(1 if failed else 0)
