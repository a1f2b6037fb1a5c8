#!/usr/bin/python3
"""The GraphQL conformance corpus: every t/gql/corpus/*.graphql runs through
our engine (build/t/prog/gql_run) and is compared with graphql-js's answer
checked in under t/gql/expected/ (made by t/gql/gen.js). Compared: the phase
(parse / validate / execute), data, error paths and error locations;
messages may differ in wording. GQL_RUN=path overrides the driver (the
ASan build uses it)."""
import json, os, subprocess, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
gql = os.path.join(root, "t", "gql")
runners = [os.environ.get("GQL_RUN", os.path.join(root, "build", "t", "prog", "gql_run"))]
asan = os.path.join(root, "build", "asan", "t", "prog", "gql_run")
if "GQL_RUN" not in os.environ and os.path.exists(asan):
    runners.append(asan)   # the same corpus under ASan/UBSan
cases = sorted(f for f in os.listdir(os.path.join(gql, "corpus")) if f.endswith(".graphql"))
only = sys.argv[1:]
if only: cases = [c for c in cases if any(o in c for o in only)]

def run(runner):
  proc = subprocess.run([runner, os.path.join(gql, "schema.graphql"), os.path.join(gql, "data.json")]
                      + [os.path.join(gql, "corpus", c) for c in cases],
                      capture_output=True, text=True, timeout=600)
  if proc.returncode != 0 or proc.stderr.strip():
    return None, "%s exited %d: %s" % (runner, proc.returncode, proc.stderr.strip()[:3000])
  res = {}
  for line in proc.stdout.splitlines():
    r = json.loads(line)
    res[r["case"]] = r
  return res, None

def locs(errors):
    return sorted({(l["line"], l["column"]) for e in errors for l in e.get("locations", [])})

def err_paths(errors):
    return sorted((json.dumps(e.get("path")), json.dumps(sorted((l["line"], l["column"]) for l in e.get("locations", []))))
                  for e in errors)

def same(a, b):
    if isinstance(a, bool) or isinstance(b, bool): return a is b if isinstance(a, bool) and isinstance(b, bool) else False
    if isinstance(a, (int, float)) and isinstance(b, (int, float)): return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a.keys()) == list(b.keys()) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b

def check(case):
    global ours
    exp = json.load(open(os.path.join(gql, "expected", case[:-8] + ".json")))
    r = ours.get(case)
    if r is None: return "no output"
    got, phase, want = r["response"], exp["phase"], exp["result"]
    gerr = got.get("errors", [])
    if phase in ("parse", "validate"):
        code = "GRAPHQL_PARSE_FAILED" if phase == "parse" else "GRAPHQL_VALIDATION_FAILED"
        if "data" in got or r["status"] != 1: return "expected a %s failure, got %s" % (phase, json.dumps(got)[:300])
        if not gerr or any(e["extensions"]["code"] != code for e in gerr):
            return "expected code %s: %s" % (code, json.dumps(gerr)[:300])
        if locs(gerr) != locs(want["errors"]):
            return "locations differ: ours %s, graphql-js %s (%s)" % (locs(gerr), locs(want["errors"]), json.dumps(want["errors"])[:600])
        return None
    if "data" not in want:   # a request error found while executing (variables, operation name)
        if "data" in got or r["status"] != 1: return "expected a request error, got %s" % json.dumps(got)[:300]
        if not gerr: return "no errors"
        if locs(gerr) != locs(want["errors"]):
            return "locations differ: ours %s, graphql-js %s" % (locs(gerr), locs(want["errors"]))
        return None
    if r["status"] != 0 or "data" not in got: return "expected data, got %s" % json.dumps(got)[:300]
    if not same(got["data"], want["data"]):
        return "data differ:\n#   ours %s\n#   want %s" % (json.dumps(got["data"])[:1500], json.dumps(want["data"])[:1500])
    if err_paths(gerr) != err_paths(want.get("errors", [])):
        return "errors differ:\n#   ours %s\n#   want %s" % (err_paths(gerr), err_paths(want.get("errors", [])))
    return None

print("1..%d" % (len(cases) * len(runners) + len(runners)))
failed, n = 0, 0
for runner in runners:
    ours, err = run(runner)
    n += 1
    print(("ok %d - %s ran cleanly" % (n, runner)) if err is None else ("not ok %d - %s" % (n, err.replace("\n", "\n# "))))
    failed += err is not None
    ours = ours or {}
    for c in cases:
        n += 1
        why = check(c)
        print(("ok %d - %s" % (n, c)) if why is None else ("not ok %d - %s\n#   %s" % (n, c, why)))
        failed += why is not None
sys.exit(1 if failed else 0)
