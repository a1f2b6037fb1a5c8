#!/usr/bin/python3
# Library code never prints (../shared/STYLE.md, lib/err.h): what it must report goes
# to err_t or to err_log(), whose function the executable installs
# (fcgi/*.c). Checked on the code of lib/*.c with comments and string
# literals removed: no stdio output call, no stdout/stderr, no exit().
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import taplib  # noqa: E402

LIB = os.path.join(taplib.ROOT, "lib")
CALL = re.compile(r"\b(printf|fprintf|vfprintf|puts|fputs|fputc|putc|putchar|perror|fwrite|exit|_exit)\s*\(|\b(stdout|stderr)\b")


def code_only(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return re.sub(r'"(\\.|[^"\\\n])*"', '""', text)


t = taplib.Tap()
t.ok(CALL.search(code_only('x; fprintf(stderr, "a");')) and not CALL.search(code_only('/* fprintf(stderr) */ s = "puts(";')),
     "checker: finds a print in code, not in a comment or string")
bad = []
for f in sorted(os.listdir(LIB)):
    if not f.endswith(".c"):
        continue
    with open(os.path.join(LIB, f)) as fh:
        for i, line in enumerate(code_only(fh.read()).splitlines(), 1):
            if CALL.search(line):
                bad.append("lib/%s:%d: %s" % (f, i, line.strip()))
t.is_(bad, [], "no lib/*.c prints or exits")
t.done()
