#!/usr/bin/python3
# README's configuration table is the one `oponn config --markdown` prints
# (lib/cfg.h is the single source): every knob documented, none stale.
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import taplib  # noqa: E402

t = taplib.Tap()
root = taplib.ROOT
out = subprocess.run([os.path.join(root, "build", "oponn"), "config", "--markdown"],
                     capture_output=True, text=True)
t.is_(out.returncode, 0, "oponn config --markdown exits 0")
with open(os.path.join(root, "README.md")) as f:
    readme = f.read()
m = re.search(r"<!-- config:begin -->\n(.*?)<!-- config:end -->", readme, re.S)
t.ok(m is not None, "README has the configuration block")
t.ok(m is not None and m.group(1) == out.stdout,
     "README's table matches lib/cfg.h (regenerate with `make readme-config`)",
     out.stdout if m else None)
for line in out.stdout.splitlines()[2:]:
    name = line.split("`")[1]
    t.ok(name in readme, "README documents %s" % name)
t.done()
