#!/usr/bin/python3
# No function in lib/ is longer than 120 lines unless t/long-functions.txt
# lists it with a reason (at most 3 entries). A function is counted from the
# line of its name to its closing brace; clang-format puts a definition's
# braces in column 0, which is what this relies on.
import glob
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import taplib  # noqa: E402

LIMIT = 120
MAX_LISTED = 3

t = taplib.Tap()
root = taplib.ROOT


def functions(path):
    """(name, lines) of every function definition in a C file."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out = []
    i = 0
    while i < len(lines):
        if lines[i] == "{":
            # the signature starts at the last line in column 0 that names a
            # function: "type name(" possibly wrapped over several lines
            j = i - 1
            while j >= 0 and not re.match(r"^[A-Za-z_].*\(", lines[j]):
                j -= 1
            m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", lines[j]) if j >= 0 else None
            k = i + 1
            while k < len(lines) and lines[k] != "}":
                k += 1
            if m:
                out.append((m.group(1), k - j + 1))
            i = k
        i += 1
    return out


listed = {}
with open(os.path.join(root, "t", "long-functions.txt"), encoding="utf-8") as f:
    for raw in f:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition(" ")
        listed[name] = reason.strip()
        t.ok(len(reason.strip()) >= 20, "%s is listed with a reason" % name)
t.ok(len(listed) <= MAX_LISTED,
     "t/long-functions.txt lists at most %d functions (has %d)" % (MAX_LISTED, len(listed)))

found = {}
over = []
for path in sorted(glob.glob(os.path.join(root, "lib", "*.c"))):
    for name, n in functions(path):
        found[name] = max(found.get(name, 0), n)
        if n > LIMIT and name not in listed:
            over.append("%s (%s) is %d lines" % (name, os.path.relpath(path, root), n))
t.ok(len(found) > 100, "found the functions of lib/ (%d)" % len(found))
for name in sorted(listed):
    t.ok(found.get(name, 0) > LIMIT,
         "%s is still longer than %d lines (else drop it from the list)" % (name, LIMIT),
         "%s: %d lines" % (name, found.get(name, 0)))
t.ok(not over, "no unlisted function in lib/ is over %d lines (split it, or list it with a "
     "reason in t/long-functions.txt)" % LIMIT, "\n".join(over))
t.done()
