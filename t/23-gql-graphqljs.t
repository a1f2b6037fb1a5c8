#!/usr/bin/python3
"""The corpus expectations are still graphql-js's answers: re-runs
t/gql/gen.js with the installed graphql-js into a temporary directory and
compares with the checked-in t/gql/expected/ (skipped without node_modules)."""
import filecmp, os, shutil, subprocess, sys, tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if not os.path.isdir(os.path.join(root, "node_modules", "graphql")) or not shutil.which("node"):
    print("1..0 # SKIP graphql-js not installed (npm ci)")
    sys.exit(0)
exp = os.path.join(root, "t", "gql", "expected")
with tempfile.TemporaryDirectory() as tmp:
    r = subprocess.run(["node", os.path.join(root, "t", "gql", "gen.js"), tmp], cwd=root,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        print("1..1\nnot ok 1 - gen.js failed: %s" % r.stderr.strip())
        sys.exit(1)
    names = sorted(set(os.listdir(exp)) | set(os.listdir(tmp)))
    print("1..%d" % len(names))
    bad = 0
    for i, n in enumerate(names, 1):
        a, b = os.path.join(exp, n), os.path.join(tmp, n)
        same = os.path.exists(a) and os.path.exists(b) and filecmp.cmp(a, b, shallow=False)
        bad += not same
        print("%s %d - %s%s" % ("ok" if same else "not ok", i, n,
                                "" if same else " (regenerate: node t/gql/gen.js)"))
sys.exit(1 if bad else 0)
