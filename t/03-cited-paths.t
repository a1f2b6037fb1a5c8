#!/usr/bin/python3
# Every file a comment or a document cites exists, so a reference cannot
# outlive a rename. Checked: comments of lib/, fcgi/, t/, etc/, perf/ (C:
# /* */ and //; Python, shell, Lua, .t: # and -- lines), and the whole text
# of README.md, docs/*.md, perf/README.md, infra/README.md,
# ansible/README.md, SECURITY.md.
#
# What counts as a cited path (the rule):
#   - a token of [A-Za-z0-9_./-] that has a directory part starting with a
#     top-level directory of the repository (lib/cache.c, t/lib/taplib.py,
#     docs/, etc/nginx/) or ../shared/ (resolved against ../shared, the
#     design documents beside the repository); or
#   - a test by number, t/35 or t/3x: some t/35-*.t (t/3?-*.t) must exist;
#   - a bare file name of a source or document kind (.c .h .t .py .md .sh
#     .lua: cache.h, README.md): some file of the repository has that name.
#   Not paths: tokens holding * ? < > { } $ % = @ (patterns, placeholders),
#   URLs, absolute paths, names whose stem is upper-case letters only
#   (placeholders: lib/X.c, CASE.graphql; README, API and the like excepted),
#   what builds or runs create (build/, run/, node_modules/, perf/results/),
#   and the few files the text says the reader creates or that live on a
#   deployed host (EXEMPT below, each with its reason).
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import taplib  # noqa: E402

ROOT = taplib.ROOT
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
BARE_EXT = ("c", "h", "t", "py", "md", "sh", "lua")
DOC_STEMS = ("README", "SECURITY", "API", "DESIGN", "STYLE", "REPORT", "LICENSE")
TOP = sorted(d for d in os.listdir(ROOT) if os.path.isdir(os.path.join(ROOT, d)) and not d.startswith("."))
GENERATED = ("build/", "run/", "node_modules/", "perf/results/")
# Not in the repository on purpose.
EXEMPT = {
    ("README.md", "lib/repo_pear.c"): "the example of 'Adding a type'",
    ("README.md", "schema/pears.json"): "the example of 'Adding a type'",
    ("ansible/README.md", "ansible/inventory.ini"): "the reader copies it from inventory.example.ini",
    ("ansible/README.md", "ansible/group_vars/oponn/vault.yml"): "the reader creates it (ansible-vault)",
    ("ansible/README.md", "etc/oponn.env"): "on the host, in the app directory",
    ("ansible/README.md", "etc/nginx.conf"): "on the host, in the app directory",
}
# Citations let through, one a line (none: keep it so).
ALLOWED = set()

TOKEN = re.compile(r"(?<![A-Za-z0-9_./-])((?:\.\./shared/|[A-Za-z0-9_.-]+/)?[A-Za-z0-9_./-]*[A-Za-z0-9_/])")


def comments(path, text):
    if path.endswith((".c", ".h")):
        out = re.findall(r"/\*.*?\*/", text, re.S)
        out += re.findall(r"//[^\n]*", text)
        return "\n".join(out)
    lines = [ln for ln in text.splitlines() if re.match(r"\s*(#|--)", ln)]
    return "\n".join(lines)


def cited(text):
    for raw in re.split(r"[\s`'\"(),;:\[\]|]+", text):
        tok = raw.rstrip(".")
        if not tok or re.search(r"[*?<>{}$%=@\\]", tok) or "://" in tok or tok.startswith("/"):
            continue
        if not re.fullmatch(r"[A-Za-z0-9_./-]+", tok):
            continue
        stem = tok.rsplit("/", 1)[-1].split(".", 1)[0]
        if re.fullmatch(r"[A-Z]+", stem) and stem not in DOC_STEMS:
            continue
        if tok.startswith("../shared/"):
            yield tok
            continue
        first = tok.split("/", 1)[0]
        if "/" in tok and first in TOP:
            if not tok.startswith(GENERATED):
                yield tok
        elif "/" not in tok and "." in tok and tok.rsplit(".", 1)[1] in BARE_EXT and not tok.startswith("."):
            yield tok


NAMES = set()
for dirpath, dirs, files in os.walk(ROOT):
    dirs[:] = [x for x in dirs if not x.startswith(".") and x not in ("build", "run", "node_modules")]
    NAMES.update(files)


def exists(tok, citing):
    if tok.startswith("../shared/"):
        return os.path.exists(os.path.join(SHARED, tok[len("../shared/"):]))
    m = re.fullmatch(r"t/(\d)(\d|x)", tok)
    if m:
        pat = re.compile(r"%s%s-.*\.t$" % (m.group(1), r"\d" if m.group(2) == "x" else m.group(2)))
        return any(pat.match(f) for f in os.listdir(os.path.join(ROOT, "t")))
    if "/" in tok:
        return os.path.exists(os.path.join(ROOT, tok))
    return tok in NAMES


t = taplib.Tap()
t.ok(list(cited("see lib/nope.c, docs/ and t/lib/x.py; not build/oponn, t/NN-*.t or http://a/b.md")) ==
     ["lib/nope.c", "docs/", "t/lib/x.py"], "rule: picks the cited paths out of a sentence")
t.ok(not exists("lib/nope.c", "README.md") and exists("cache.h", "lib/cache.c")
     and not exists("API.md", "lib/err.h") and exists("t/3x", "x") and not exists("t/09", "x"),
     "rule: a missing file is missing")

sources = []
for d in ("lib", "fcgi", "t", "etc", "perf"):
    for dirpath, dirs, files in os.walk(os.path.join(ROOT, d)):
        dirs[:] = [x for x in dirs if x not in ("fixtures", "corpus", "expected", "results", "hostile", "node_modules")]
        for f in files:
            if f.endswith((".c", ".h", ".py", ".t", ".sh", ".lua")):
                sources.append(os.path.relpath(os.path.join(dirpath, f), ROOT))
docs = ["README.md", "SECURITY.md", "perf/README.md", "infra/README.md", "ansible/README.md"]
docs += ["docs/" + f for f in sorted(os.listdir(os.path.join(ROOT, "docs"))) if f.endswith(".md")]

bad, bad_shared = [], []
n = 0
for rel in sorted(sources) + docs:
    with open(os.path.join(ROOT, rel), errors="replace") as f:
        text = f.read()
    body = text if rel in docs else comments(rel, text)
    for tok in cited(body):
        n += 1
        if (rel, tok) not in ALLOWED and (rel, tok) not in EXEMPT and not exists(tok, rel):
            (bad_shared if tok.startswith("../shared/") else bad).append("%s cites %s" % (rel, tok))
t.diag("%d citations checked in %d files" % (n, len(sources) + len(docs)))
t.is_(sorted(set(bad)), [], "every cited path in the repository exists")
# ../shared (the design, the contract) sits beside the team's checkout and
# CI's clone, not beside a newcomer's clone: there it is skipped, and said so.
if os.path.isdir(SHARED):
    t.is_(sorted(set(bad_shared)), [], "every cited ../shared path exists")
else:
    t.skip("every cited ../shared path exists", "no %s beside this checkout" % SHARED)

# "t/NN" cites one file only while each number names one test.
numbers = {}
for name in os.listdir(os.path.join(ROOT, "t")):
    m = re.match(r"(\d+)-.*\.t$", name)
    if m:
        numbers.setdefault(m.group(1), []).append(name)
t.is_(sorted(v for v in numbers.values() if len(v) > 1), [], "every test number is used once")
t.done()
