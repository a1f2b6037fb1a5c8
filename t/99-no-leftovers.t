#!/usr/bin/python3
# Runs last: no process started by a test is still alive. Every test stack
# lives in a temporary directory named oponn-t-*, which appears in the command
# line of what it starts, and runs its services from this checkout (their
# working directory), so stacks of other checkouts on the machine are not ours.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import taplib  # noqa: E402

t = taplib.Tap()
left = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        cwd = os.readlink("/proc/%s/cwd" % pid)
    except OSError:
        continue
    ours = cwd == taplib.ROOT or cwd.startswith(taplib.ROOT + "/")
    if int(pid) != os.getpid() and ours and "oponn-t-" in cmd:
        left.append("%s %s" % (pid, cmd.strip()))
t.is_(left, [], "no test process left behind")
t.done()
