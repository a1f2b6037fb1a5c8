#!/usr/bin/python3
# L1 near cache (issue 23), across instances: two stacks (A and B: each its
# own nginx and pool of 2 workers) share one Redis and one MongoDB database.
# 4 writer processes write on A, 8 reader processes read on B (t/lib/l1storm.py:
# per-record acknowledged versions, a read that starts after a write's answer
# must see it). Printed: the stale reads and their window, the time from the
# missed write's acknowledgement to the end of the stale read.
#
# The bound. A's write reaches Redis before A answers; Redis queues the
# invalidation for B's subscriber before it replies to A. B's worker drains
# its invalidations before each request, and L1 answers only while the link
# proved alive (a PONG read) within OPONN_L1_LEASE_MS. A PONG read at time p
# was sent by Redis after everything queued before it, so a worker whose
# last PONG came after the write also has the invalidation: L1 can serve the
# old value only while its last proof of life is older than the write, and
# only for OPONN_L1_LEASE_MS after that proof. So a stale answer is produced
# at most LEASE after the write's acknowledgement (invalidation delivery
# being faster than the lease when the link is alive); the window measured
# here ends when the client has the whole answer, so it adds the answer's
# own time after the worker chose L1 (execution, FastCGI, nginx, the
# client) — that is SLACK_MS, generous because the machine is shared.
#   storm 1: the link alive: stale reads are rare and short (delivery);
#   storm 2: B's invalidation connections stalled (a proxy holds what Redis
#            sends them, PONGs included) for 4 leases: B must stop using L1
#            once the lease runs out; every stale read within LEASE + SLACK.
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import cachestack  # noqa: E402
import l1storm  # noqa: E402
import redisproxy  # noqa: E402
import taplib  # noqa: E402

SEED = int(os.environ.get("OPONN_TEST_SEED", 0) or int(time.time()) % 100000)
PHASE_S = 3.0 if cachestack.QUICK else 5.0
MIN_W, MIN_R = 60, 240
LEASE_MS = 250  # OPONN_L1_LEASE_MS, given to both pools explicitly
SLACK_MS = float(os.environ.get("OPONN_TEST_L1_SLACK_MS", "750"))


def main():
    t = taplib.Tap()
    t.diag("seed %d; lease %d ms, slack %.0f ms: every stale window must be <= %.0f ms"
           % (SEED, LEASE_MS, SLACK_MS, LEASE_MS + SLACK_MS))
    env = {"OPONN_L1_LEASE_MS": str(LEASE_MS)}
    with taplib.stack(workers=2, env=env) as a:
        proxy = redisproxy.RedisProxy(a.redis_port)
        bdir = tempfile.mkdtemp(prefix="oponn-t-b-")
        b = taplib.Stack(bdir, workers=2, mongo_uri=a.mongo_uri,
                         env=dict(env, OPONN_MONGODB_DB=a.mongo_db, OPONN_RATE_LIMIT="0",
                                  OPONN_WRITE_TOKEN=a.write_token(),
                                  OPONN_REDIS_URL=proxy.url))
        stop_both = taplib._stack.Stack.stop

        class Both:  # SIGTERM/SIGINT/SIGHUP stop B too, then A
            def stop(self):
                stop_both(b)
                stop_both(a)
        taplib._stack.cleanup_on_signals(Both())
        try:
            b.start(services=("pool", "nginx"))
            storms(t, a, b, proxy)
        finally:
            b.stop()
            proxy.stop()
            shutil.rmtree(bdir, ignore_errors=True)
    t.done()


def storms(t, a, b, proxy):
    token, c, sh, db, has_l1 = l1storm.seeded(t, a, b)
    bound = LEASE_MS + SLACK_MS

    def storm(name, middle=None, seed=0):
        tot, m = l1storm.measured(t, a, b, token, sh, SEED + seed, PHASE_S, MIN_W, MIN_R, name,
                                  middle)
        w = tot["windows"]
        t.diag("%s: %d stale reads of %d on B; window max %s ms (bound: lease %d + slack %.0f = "
               "%.0f ms)" % (name, tot["stale"], tot["reads"],
                             "%.1f" % max(w) if w else "-", LEASE_MS, SLACK_MS, bound))
        t.ok(tot["reads"] >= MIN_R and tot["writes"] >= MIN_W and not tot["missing"],
             "%s: the storm ran (%d writes on A, %d reads on B)" % (name, tot["writes"],
                                                                    tot["reads"]), tot["error"])
        t.ok(all(x <= bound for x in w) and len(w) == tot["stale"],
             "%s: every stale read (%d) within lease + slack (%.0f ms) of the write it missed"
             % (name, tot["stale"], bound), "windows %s; stale %d" % (sorted(w)[-10:],
                                                                       tot["stale"]))
        return tot, m

    tot, m = storm("link alive")
    t.ok(tot["write_errors"] == 0 and tot["read_errors"] == 0, "link alive: no errors",
         (tot["write_errors"], tot["read_errors"]))
    if has_l1:
        t.ok(m.get("oponn_l1_hits_total", 0) > 0, "link alive: B's L1 answered reads "
             "(oponn_l1_hits_total +%d)" % m.get("oponn_l1_hits_total", 0))
    else:
        t.skip("link alive: B's L1 answered reads", "no L1 in this build")
        t.is_(tot["stale"], 0, "link alive, no L1: 0 stale reads")

    stalled = {}

    def stall(progress):
        taplib.wait_until(lambda: progress()[1] >= MIN_R // 4, "reads", timeout=240)
        n0, subs = progress()[1], proxy.subscribers()
        proxy.stall()
        t0 = time.monotonic()
        # The stall's length (a fault's duration, not a synchronisation).
        taplib.wait_until(lambda: progress()[1] >= n0 + MIN_R // 2
                          and time.monotonic() - t0 >= 4 * LEASE_MS / 1000.0,
                          "reads while stalled", timeout=240)
        stalled.update(reads=progress()[1] - n0, seconds=time.monotonic() - t0,
                       held=proxy.held_bytes, subscribers=subs)
        proxy.release()
    tot, m = storm("B's subscriber stalled", stall, 1000)
    t.diag("B's subscriber stalled: %(reads)d reads on B in %(seconds).2f s while %(subscribers)d "
           "subscriber connection(s) were stalled; %(held)d bytes from Redis held back" % stalled)
    if has_l1:
        t.ok(stalled["held"] > 0, "B's subscriber stalled: the proxy held back %d bytes of "
             "invalidations and PONGs" % stalled["held"])
        t.ok(m.get("oponn_l1_lease_bypasses_total", 0) > 0,
             "B's subscriber stalled: B's L1 bypassed itself once the lease ran out "
             "(oponn_l1_lease_bypasses_total +%d)" % m.get("oponn_l1_lease_bypasses_total", 0))
    else:
        t.skip("B's subscriber stalled: invalidations held back", "no L1 in this build: no "
               "subscriber")
        t.skip("B's subscriber stalled: L1 bypassed itself", "no L1 in this build")
        t.is_(tot["stale"], 0, "B's subscriber stalled, no L1: 0 stale reads")

    v = b.oponn("cache", "verify")
    t.ok(v.returncode == 0 and "0 mismatches" in v.stderr,
         "after the storms, oponn cache verify (B) finds 0 mismatches",
         v.stdout[-2000:] + v.stderr)
    t.diag(v.stderr.strip())
    bad = cachestack.independent_check(cachestack.Client(b.http_port), db)
    t.ok(not bad, "GraphQL on B == MongoDB (pymongo) for every record, store list and fruit "
         "query", "\n".join(bad[:10]))


if __name__ == "__main__":
    main()
