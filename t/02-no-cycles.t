#!/usr/bin/python3
# No dependency cycle among the library's files (lib/*.c): a file that calls
# into another must not be called back by it, directly or around a loop, so
# each file can be read, tested and replaced from the bottom up.
#
# A module is lib/X.c with its header lib/X.h. X depends on Y when
#   - lib/X.c or lib/X.h has `#include "Y.h"` and lib/Y.c exists, or
#   - X's object refers to a global symbol (a call, or a function or table
#     taken by address) that Y's object defines (nm over build/lib/*.o, so
#     `make` first; `make test` does).
# Headers without a .c of their own (repo_int.h, gql_int.h, http.h) add no
# edge; the symbols they declare are counted where they are defined.
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import taplib  # noqa: E402

LIB = os.path.join(taplib.ROOT, "lib")
OBJ = os.path.join(taplib.ROOT, os.environ.get("OPONN_BUILD_DIR", "build"), "lib")

# Known cycles let through, one edge a line (none: keep it so).
ALLOWED = set()


def find_cycle(graph):
    """A list of modules forming a cycle (first == last), or None."""
    state = {}
    stack = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                c = visit(m)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


t = taplib.Tap()

# The checker itself finds a cycle, and accepts a DAG.
t.ok(find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"], "checker: finds a 3-cycle")
t.ok(find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None, "checker: a DAG passes")

mods = sorted(f[:-2] for f in os.listdir(LIB) if f.endswith(".c"))
graph = {m: set() for m in mods}
edge_why = {}

inc = re.compile(r'^\s*#\s*include\s+"([A-Za-z0-9_]+)\.h"', re.M)
for m in mods:
    for src in (m + ".c", m + ".h"):
        p = os.path.join(LIB, src)
        if not os.path.exists(p):
            continue
        with open(p) as f:
            for y in inc.findall(f.read()):
                if y != m and y in graph:
                    graph[m].add(y)
                    edge_why.setdefault((m, y), "lib/%s includes %s.h" % (src, y))

missing = []
defined, used = {}, {}
for m in mods:
    o = os.path.join(OBJ, m + ".o")
    if not os.path.exists(o) or os.path.getmtime(o) < os.path.getmtime(os.path.join(LIB, m + ".c")):
        missing.append(m)
        continue
    out = subprocess.run(["nm", o], capture_output=True, text=True, check=True).stdout
    used[m] = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            used[m].add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDRB":
            defined[parts[2]] = m
t.ok(not missing, "every lib/*.c has an up-to-date object in %s (run make)" % OBJ, ", ".join(missing))

for m, syms in used.items():
    for s in sorted(syms):
        y = defined.get(s)
        if y and y != m:
            graph[m].add(y)
            edge_why.setdefault((m, y), "%s uses %s" % (m, s))

allowed_used = []
for a, b in sorted(ALLOWED):
    if b in graph.get(a, ()):
        graph[a].discard(b)
        allowed_used.append("%s -> %s (%s)" % (a, b, edge_why.get((a, b))))
for line in allowed_used:
    t.diag("allowed for now: " + line)

c = find_cycle(graph)
why = "\n".join("%s -> %s: %s" % (a, b, edge_why.get((a, b))) for a, b in zip(c, c[1:])) if c else None
t.ok(c is None, "no cycle among lib/*.c" + (": " + " -> ".join(c) if c else ""), why)

# The repository files in layers: the kinds' files call repo_cache.c and
# repo.c, never the other way round; the verify source and the writer's
# applier are on top, called by no other library file.
t.ok("repo_book" not in graph["repo_cache"] and "repo_fruit" not in graph["repo_cache"]
     and "repo_bookstore" not in graph["repo_cache"], "repo_cache.c calls no kind's file")
callers = sorted(m for m in mods if m not in ("repo_verify", "repo_queue")
                 and graph[m] & {"repo_verify", "repo_queue"})
t.is_(callers, [], "nothing in lib/ calls repo_verify.c or repo_queue.c")
t.done()
