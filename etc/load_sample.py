#!/usr/bin/python3
"""etc/load_sample.py — loads oponn's sample data set, offline.

`make run` calls load_sample(stack.env()) once the stack is up
(`from load_sample import load_sample`, etc/ on sys.path), or run it by
hand: `etc/load_sample.py` uses the environment of the stack in
$OPONN_RUN_DIR, default run/). It applies the MongoDB schema (`oponn
migrate`), then runs `oponn ingest` against the fixture Open Library server
(t/lib/fixture_server.py, started here on a free loopback port, serving the
hand-written pages in t/fixtures/openlibrary/) with the bookstore list
etc/bookstores.json, and seeds FRUIT apples and FRUIT oranges. The result:
29 books in 14 bookstores and the fruit, the same every time; running it
again changes nothing (the ingest prints 0 inserted, 0 modified).

For real data instead: `build/oponn ingest --pages 5` (Open Library itself).
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "t", "lib"))
sys.path.insert(0, os.path.join(ROOT, "etc"))

FRUIT = 50


def load_sample(env, build_dir=None, fruit=FRUIT, quiet=False):
    """Migrates and loads; raises RuntimeError with oponn's message on failure."""
    from fixture_server import FixtureServer
    oponn = os.path.join(build_dir or os.path.join(ROOT, "build"), "oponn")
    out = subprocess.DEVNULL if quiet else None
    r = subprocess.run([oponn, "migrate"], env=env, cwd=ROOT, stdout=out,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError("oponn migrate failed: " + r.stderr.strip())
    with FixtureServer() as fx:
        r = subprocess.run([oponn, "ingest", "--base-url", fx.base_url, "--page-size", "10",
                            "--pages", "10", "--fruit", str(fruit),
                            "--bookstores", os.path.join(ROOT, "etc", "bookstores.json")],
                           env=env, cwd=ROOT, stdout=out, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError("oponn ingest failed: " + r.stderr.strip())


def main():
    from stack import Stack
    run_dir = os.environ.get("OPONN_RUN_DIR", os.path.join(ROOT, "run"))
    try:
        load_sample(Stack(run_dir).env())
    except RuntimeError as e:
        print("load-sample: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
