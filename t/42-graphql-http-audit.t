#!/usr/bin/python3
# GraphQL-over-HTTP conformance through nginx: npm graphql-http's
# serverAudits (t/lib/graphql-http-audit.mjs) against the stack. Every MUST
# and SHOULD audit is a test, and so are the four "{extensions} parameter"
# MAYs (API.md: an extensions that is not an object is answered 400); the
# other MAYs are printed as diagnostics and never fail the file. Last, the
# counts per level, as the issue quotes them.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import taplib  # noqa: E402

# graphql-http 1.23.1's suite; a new pin that changes these is a reason to
# read the new audits, not to pass silently.
TOTALS = {"MUST": 13, "SHOULD": 23}

t = taplib.Tap()
with taplib.stack(workers=2) as s:
    lines = taplib.run_node(t, "graphql-http-audit.mjs", [s.url])
counts = next((r["counts"] for r in lines if "counts" in r), None)
t.ok(counts is not None, "the audit printed its counts")
counts = counts or {}
t.diag(", ".join("%s %d/%d" % (lvl, *counts.get(lvl, (0, 0))) for lvl in ("MUST", "SHOULD", "MAY")))
for lvl, total in TOTALS.items():
    t.is_(counts.get(lvl), [total, total], "%s: %d/%d audits pass" % (lvl, total, total))
t.done()
