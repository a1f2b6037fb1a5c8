#!/usr/bin/python3
# The repositories (lib/repo.h) through the real MongoDB endpoint (the
# stand-in unless MONGODB_URI is set): every mutation's happy path and error
# codes, operator-looking strings stored literally, the batch FK lookup with
# 1,000 books over 50 stores in exactly 2 MongoDB commands, and the
# concurrent-create race on one normalized name (two processes, one wins).
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import taplib  # noqa: E402
import pymongo  # noqa: E402

PROG = os.path.join(taplib.ROOT, "build", "t", "prog", "repo_check")


def relay(t, out):
    """Re-numbers the TAP lines of a helper program into this test's stream."""
    for line in out.splitlines():
        m = re.match(r"(not )?ok \d+ - (.*)", line)
        if m:
            t.ok(m.group(1) is None, m.group(2))
        elif line.startswith("#") or line.startswith("Bail out"):
            print(line if line.startswith("#") else "# " + line, flush=True)


t = taplib.Tap()
with taplib.stack(services=("mongo",)) as s:
    # Databases of this run only (MONGODB_URI may be a real, shared MongoDB).
    dbs = ["t20_%d_%d" % (os.getpid(), i) for i in range(3)]
    client = pymongo.MongoClient(s.mongo_uri)
    # A 1,000-document bulk write to the stand-in takes seconds on a loaded
    # machine, past the 5 s default socket timeout; this test is about the
    # results (the "down" case below has its own URI and timeouts).
    env = dict(s.env(), OPONN_MONGODB_DB=dbs[2], OPONN_MONGO_SOCKET_TIMEOUT_MS="120000")
    r = subprocess.run([os.path.join(taplib.ROOT, "build", "oponn"), "migrate"], env=env,
                       capture_output=True, text=True, cwd=taplib.ROOT)
    t.is_(r.returncode, 0, "oponn migrate" + (": " + r.stderr.strip() if r.returncode else ""))
    # The normal build, and the ASan/UBSan one when `make test` has built it.
    asan = os.path.join(taplib.ROOT, "build", "asan", "t", "prog", "repo_check")
    for i, prog in enumerate([PROG] + ([asan] if os.access(asan, os.X_OK) else [])):
        e = dict(env, OPONN_MONGODB_DB=dbs[i])
        subprocess.run([os.path.join(taplib.ROOT, "build", "oponn"), "migrate"], env=e,
                       capture_output=True, cwd=taplib.ROOT)
        r = subprocess.run([prog, "all"], env=e, capture_output=True, text=True, timeout=300)
        relay(t, r.stdout)
        t.is_(r.returncode, 0, "%s exits 0%s" % (os.path.relpath(prog, taplib.ROOT),
                                                 ": " + r.stderr[-800:] if r.returncode else ""))

    # The race: pairs of processes create spellings of one name at the same
    # time; the unique index lets exactly one of each pair win.
    for i in range(5):
        names = ["Race Store %d" % i, "  RACE store %d!" % i]
        procs = [subprocess.Popen([PROG, "race", n], env=env, stdout=subprocess.PIPE, text=True)
                 for n in names]
        outs = [p.communicate(timeout=60)[0].split() for p in procs]
        won = [o for o in outs if o and o[0] == "won"]
        lost = [o for o in outs if o and o[0] == "taken"]
        t.ok(len(won) == 1 and len(lost) == 1 and lost[0][1] == "BOOKSTORE_NAME_TAKEN"
             and lost[0][2] == won[0][1],
             "race %d: exactly one create wins, the other names the winner" % i, outs)
    # MongoDB down: every repository call is UNAVAILABLE with a message, quickly.
    closed = taplib._stack.free_port()
    e = dict(env, MONGODB_URI="mongodb://127.0.0.1:%d/?serverSelectionTimeoutMS=300" % closed)
    r = subprocess.run([PROG, "down"], env=e, capture_output=True, text=True, timeout=60)
    relay(t, r.stdout)
    t.is_(r.returncode, 0, "repo_check down exits 0")

    for db in dbs:
        client.drop_database(db)
t.done()
