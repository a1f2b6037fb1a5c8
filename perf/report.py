#!/usr/bin/python3
"""perf/report.py — perf/results/ (from perf/run.py) → perf/REPORT.md + PNG plots.

Reads runs.csv, probes.csv, memory.csv, meta.json and profile-*.txt, takes
the median of every configuration over its rounds, fills the template
perf/REPORT.md.in (@NAME@ placeholders) and draws the plots with gnuplot
(perf/results/*.png). Nothing here measures: rerunning it on the same
results gives the same report.

  perf/report.py [RESULTS_DIR] [REPORT_PATH]
"""
import csv
import json
import re
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = sys.argv[1] if len(sys.argv) > 1 else (os.environ.get("PERF_RESULTS") or
                                                 os.path.join(HERE, "results"))
REPORT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "REPORT.md")

SCENARIOS = {
    "1": "book(id), all cache hits",
    "2": "book(id), cache misses",
    "3": "bookstoresForBooks, 100 ids",
    "4": "fruitBySize, cached batch",
    "5": "90 % reads / 10 % updateBook, write-through",
    "5b": "the same as (5) with the 1,000 lists of (3) cached",
    "6": "90 % reads / 10 % updateBook, write-behind",
    "7": "updateFruit, 100 cached batches",
}

# The systems compared in (1), (3) and (5): oponn and the peers (perf/peers/).
PEERS = ("apollo", "mercurius")
SYSTEMS = ("oponn",) + PEERS
LABEL = {"oponn": "oponn", "apollo": "Apollo", "mercurius": "Mercurius"}
PEER_DESC = {"apollo": "Apollo Server {@apollo/server}",
             "mercurius": "Fastify {fastify} + Mercurius {mercurius} with graphql-jit {graphql-jit}"}
COLOUR = {"oponn": "#1f5fa8", "apollo": "#c8741a", "mercurius": "#2f8f4e"}
COMPARED = ("1", "3", "5")


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def load_csv(name):
    path = os.path.join(RESULTS, name)
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def med(rows, key):
    xs = [num(r.get(key)) for r in rows]
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, digits=0, unit=""):
    if v is None:
        return "–"
    if digits == 0:
        return "{:,.0f}{}".format(v, unit)
    return "{:,.{d}f}{}".format(v, unit, d=digits)


def group(rows, **match):
    return [r for r in rows if all(str(r.get(k)) == str(v) for k, v in match.items())]


class Report:
    def __init__(self):
        self.runs = load_csv("runs.csv")
        self.probes = load_csv("probes.csv")
        self.memory = load_csv("memory.csv")
        with open(os.path.join(RESULTS, "meta.json")) as f:
            self.meta = json.load(f)
        self.cfg = self.meta["config"]
        self.cores = self.meta["machine"]["cores"]

    def m(self, scenario, system, key="rps", phase="main", **kw):
        return med(group(self.runs, phase=phase, scenario=scenario, system=system, **kw), key)

    def ratio(self, a, b):
        return a / b if a and b else None

    # ---- tables

    def scenario_table(self):
        out = ["| scenario | system | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | "
               "server CPU µs/req | Redis+MongoDB CPU µs/req | MongoDB cmds/req | "
               "Redis round trips/req | cache hit ratio |",
               "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        order = [("1", "static"), ("1", "fcgi_constant"), ("redis GET", "redis-benchmark")]
        order += [(s, sys_) for s in ("1", "2", "3", "4", "5", "5b", "6", "7")
                  for sys_ in SYSTEMS]
        for sc, system in order:
            rows = group(self.runs, phase="main", scenario=sc, system=system)
            if not rows:
                continue
            name = {"static": "ceiling: nginx static file", "apollo": "Apollo peer",
                    "mercurius": "Mercurius peer",
                    "fcgi_constant": "ceiling: nginx → FastCGI constant",
                    "redis-benchmark": "ceiling: redis-benchmark GET"}.get(system, system)
            label = "(%s) %s" % (sc, SCENARIOS[sc]) if sc in SCENARIOS else sc
            label += self.caveat(sc, system)
            hits, misses = med(rows, "cache_hits"), med(rows, "cache_misses")
            bh, bm = med(rows, "batch_hits"), med(rows, "batch_misses")
            ratio = "–"
            tot_h = (hits or 0) + (bh or 0)
            tot = tot_h + (misses or 0) + (bm or 0)
            if tot:
                ratio = "%.1f %%" % (100.0 * tot_h / tot)
            errors = sum(int(num(r["errors"]) or 0) for r in rows)
            out.append("| %s | %s | %s | %s | %s | %s | %s | %d | %s | %s | %s | %s | %s |" % (
                label, name, fmt(med(rows, "rps")), fmt(med(rows, "p50_ms"), 2),
                fmt(med(rows, "p90_ms"), 2), fmt(med(rows, "p99_ms"), 2),
                fmt(med(rows, "max_ms"), 1), errors, fmt(med(rows, "cpu_server_us_per_req"), 0),
                fmt(med(rows, "cpu_backend_us_per_req"), 0),
                fmt(med(rows, "mongo_per_req"), 2), fmt(med(rows, "redis_per_req"), 2), ratio))
        return "\n".join(out)

    def caveat(self, sc, system):
        """What a row measured instead, when this build lacks the feature."""
        f = self.meta["features"]
        if system != "oponn":
            return ""
        if sc in ("1", "3", "4", "5b", "7") and not f.get("cache"):
            return " — *no cache serving reads in this build: measures MongoDB*"
        if sc == "6" and not f.get("write_behind_active"):
            return " — *write-behind not active in this build: measures write-through*"
        return ""

    def queue_table(self):
        rows = group(self.runs, phase="main", scenario="6", system="oponn")
        if not rows:
            return "(6) was not run: see the notes below."
        out = ["| req/s | p99 ms | writes enqueued | queue max (entries) | queued at the end of "
               "the run | drained after (s) | writer applies/s | lag of the last write (s) |",
               "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            kept_up = str(r.get("queue_left_at_end")) == "0"
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                fmt(num(r["rps"])), fmt(num(r["p99_ms"]), 2),
                fmt(num(r.get("queue_enqueued"))), r.get("queue_max", ""),
                r.get("queue_left_at_end", ""),
                "empty when the run ended" if kept_up else
                r.get("queue_drain_s") or "not within the watch",
                "kept up with the workers" if kept_up else r.get("queue_apply_per_s", ""),
                "under one writer step (the queue was empty)" if kept_up else
                r.get("queue_lag_s", "") + ("" if r.get("queue_drain_s") else " (estimated)")))
        wb = [r for r in rows if r.get("wb_through_per_s")]
        for r in wb:
            books = num(r.get("wb_books")) or 0
            wait = num(r.get("wb_wait_s")) or 0

            def drain(n):
                done = str(r.get("wb_drained_%d" % n)) == "True"
                return "%s (**%sx**); %s queued (%s), %s" % (
                    fmt(num(r.get("wb_drain_%d_per_s" % n)), 1), r.get("wb_ratio_%d" % n, ""),
                    fmt(num(r.get("wb_queue_%d" % n))),
                    "first batch applied %s s after the start" % r["wb_startup_%d_s" % n]
                    if r.get("wb_startup_%d_s" % n) else "one batch, start-up included",
                    "drained in %s s" % r.get("wb_drain_%d_s" % n) if done else
                    "**not drained** within %.0f s" % wait)
            ratio = num(r.get("wb_ratio_1")) or 0
            met = ratio >= 0.8 and str(r.get("wb_drained_1")) == "True"
            out += ["", "The writer alone on the same endpoint (perf/writer_bench.py), on the "
                    "whole collection of %s books%s: write-through is wrk, updateBook only, on "
                    "random books; each drain fills the queue with %s updateBook, each to a "
                    "book not written before (no two fold into one apply), then starts the "
                    "writers and times the queue from their first applied batch (the time "
                    "until then, writer start-up, is shown and excluded) until it is empty. "
                    "Target: 1 writer drains at >= 0.8x write-through, within "
                    "the %.0f s watch window: **%s** (%sx)." % (
                        fmt(books), "" if books >= 50000 else
                        " (**fewer than a production-sized 50,000**)",
                        fmt(num(r.get("wb_writes"))), wait, "met" if met else "not met",
                        r.get("wb_ratio_1", "")), "",
                    "| write-through mutations/s | drain, 1 writer: applies/s (ratio) | "
                    "2 writers | 4 writers | lag of the last write, 1 writer (s) |",
                    "|---:|---:|---:|---:|---:|",
                    "| %s | %s | %s | %s | %s |" % (
                        fmt(num(r.get("wb_through_per_s")), 1) + (
                            " (the faster of %s, before / after the drains)" %
                            r["wb_through_runs"] if r.get("wb_through_runs") else ""),
                        drain(1), drain(2), drain(4),
                        ("%s (writes acknowledged at %s/s)" % (
                            r.get("wb_lag_s"), fmt(num(r.get("wb_lag_ack_per_s")), 1))
                         if r.get("wb_lag_s") else "not drained"))]
            if r.get("wb_scenario_s"):
                out += ["", "(6) took %s s of the run." % r["wb_scenario_s"]]
        return "\n".join(out)

    def ratios(self):
        o1 = self.m("1", "oponn")
        rows = []

        def add(name, a, b, target=None, ok=None):
            r = self.ratio(a, b)
            rows.append("| %s | %s | %s | %s |" % (
                name, "%.2f" % r if r is not None else "–", target or "",
                "" if ok is None or r is None else ("met" if ok(r) else "**missed**")))
        add("(1) oponn / FastCGI-constant ceiling", o1, self.m("1", "fcgi_constant"), "≥ 0.50",
            lambda r: r >= 0.5)
        add("(1) oponn / nginx static file", o1, self.m("1", "static"))
        add("(1) oponn / redis-benchmark GET", o1, self.m("redis GET", "redis-benchmark"))
        for sc in COMPARED:
            for peer in PEERS:
                add("(%s) oponn / %s peer" % (sc, LABEL[peer]), self.m(sc, "oponn"),
                    self.m(sc, peer), *(("≥ 3", lambda r: r >= 3) if sc == "1" and
                                        peer == "apollo" else ()))
        for sc in COMPARED:
            for peer in PEERS:
                add("(%s) %s / oponn server CPU per request" % (sc, LABEL[peer]),
                    self.m(sc, peer, "cpu_server_us_per_req"),
                    self.m(sc, "oponn", "cpu_server_us_per_req"))
        return ["| ratio (medians) | value | target | |", "|---|---:|---|---|"] + rows

    def targets(self):
        out = ["| target | measured | |", "|---|---|---|"]
        o1, c1, a1 = self.m("1", "oponn"), self.m("1", "fcgi_constant"), self.m("1", "apollo")
        p99 = self.m("1", "oponn", "p99_ms")
        err1 = sum(int(num(r["errors"]) or 0) for r in group(self.runs, scenario="1",
                                                               system="oponn"))
        r = self.ratio(o1, a1)
        out.append("| (1) ≥ 3 × Apollo peer req/s | %s | %s |" % (
            "%.2f ×" % r if r else "–", "met" if r and r >= 3 else "**missed**"))
        r = self.ratio(o1, c1)
        out.append("| (1) ≥ 50 %% of the FastCGI-constant ceiling | %s | %s |" % (
            "%.0f %%" % (100 * r) if r else "–", "met" if r and r >= 0.5 else "**missed**"))
        out.append("| (1) p99 < 5 ms at 32 connections | %s ms | %s |" % (
            fmt(p99, 2), "met" if p99 is not None and p99 < 5 else "**missed**"))
        out.append("| (1) 0 errors | %d | %s |" % (err1, "met" if err1 == 0 else "**missed**"))
        cold = [p for p in self.probes if p["scenario"] == "3" and p["system"] == "oponn"
                and p["case"] in ("cold", "warm")]

        def rt(p):
            return (num(p["mongodb_commands"]) or 0) + (num(p["redis_round_trips"]) or 0)
        if not self.meta["features"].get("cache"):
            out.append("| (3) 2 backend round trips cold, 1 warm; (7) one Redis round trip | "
                       "not measurable: this build has no cache | **missed** |")
            return "\n".join(out)
        for case, want in (("cold", 2), ("warm", 1)):
            ps = sorted((int(p["ids"]), num(p["mongodb_commands"]) or 0,
                         num(p["redis_round_trips"]) or 0) for p in cold if p["case"] == case)
            ok_all = ps and all(m + r == want for _, m, r in ps)
            ok_mongo = ps and all(m <= want for _, m, r in ps)
            verdict = "met" if ok_all else (
                "met for MongoDB commands, **missed** counting Redis too" if ok_mongo
                else "**missed**")
            out.append("| (3) %d backend round trip%s %s, at any id count | %s | %s |" % (
                want, "s" if want > 1 else "", case,
                ", ".join("%d ids: %g MongoDB + %g Redis" % x for x in ps) or "–", verdict))
        p7 = [p for p in self.probes if p["scenario"] == "7"]
        if p7:
            v = num(p7[0]["redis_round_trips"])
            out.append("| (7) one Redis round trip for the reconciliation | %s round trip, %s "
                       "EVALSHA (commands the script ran: %s) | %s |" % (
                           fmt(v, 0), p7[0].get("evalsha", "?"), p7[0].get("redis_commands", ""),
                           "met" if v == 1 else "**missed**"))
        return "\n".join(out)

    def light(self):
        """Issue 22 (Redis-light reads): its targets, the Redis time per
        request of every scenario, and light_bench's read and write costs
        (results/light.csv; "before" rows when run with PERF_LIGHT_BASE)."""
        out = ["| target (issue 22) | measured | |", "|---|---|---|"]

        def verdict(ok):
            return "–" if ok is None else ("met" if ok else "**missed**")
        for sc, name in (("4", "fruitBySize (100 members)"), ("3", "bookstoresForBooks(100)")):
            us = self.m(sc, "oponn", "redis_usec_per_req")
            out.append("| (%s) %s: ≤ 60 µs of Redis time per cached read | %s µs | %s |" % (
                sc, name, fmt(us, 1), verdict(None if us is None else us <= 60)))
        r = self.ratio(self.m("4", "oponn"), self.m("1", "fcgi_constant"))
        out.append("| (4) ≥ 0.27 × the FastCGI-constant ceiling | %s | %s |" % (
            "%.3f ×" % r if r else "–", verdict(None if r is None else r >= 0.27)))
        p99 = self.m("4", "oponn", "p99_ms")
        out.append("| (4) p99 < 10 ms at %s connections | %s ms | %s |" % (
            self.cfg["conns"], fmt(p99, 2), verdict(None if p99 is None else p99 < 10)))
        r = self.ratio(self.m("3", "oponn"), self.m("3", "apollo"))
        out.append("| (3) ≥ 3 × Apollo | %s | %s |" % (
            "%.2f ×" % r if r else "–", verdict(None if r is None else r >= 3)))
        out += ["", "Redis time per request (INFO commandstats: µs of the commands oponn "
                "sent, medians), every scenario:", "",
                "| scenario | Redis µs/req | Redis round trips/req | EVALSHA/req |",
                "|---|---:|---:|---:|"]
        for sc in ["1", "2", "3", "4", "5", "5b", "6", "7"]:
            rows = group(self.runs, phase="main", scenario=sc, system="oponn")
            if rows:
                out.append("| (%s) | %s | %s | %s |" % (
                    sc, fmt(med(rows, "redis_usec_per_req"), 1), fmt(med(rows, "redis_per_req"), 2),
                    fmt(med(rows, "evalsha_per_req"), 2)))
        rows = load_csv("light.csv")
        if not rows:
            return "\n".join(out + ["", "(light_bench did not run)"])
        out += ["", "`build/perf/light_bench` (perf/light_bench.c: the cache API straight to "
                "Redis, no HTTP; Redis µs = commandstats of the commands sent, per call):", "",
                "| version | measured | lists of the table | Redis µs | round trips | "
                "client µs |", "|---|---|---:|---:|---:|---:|"]
        for r in rows:
            what = ("read %s (%s members)" % (r["query"], fmt(num(r["members"]), 0))
                    if r["what"] == "read" else
                    "write %s (%s)" % (r["table"], r.get("apple") or r.get("book") or ""))
            out.append("| %s | %s | %s | %s | %s | %s |" % (
                r["version"], what, r.get("lists") or "", fmt(num(r["redis_usec"]), 1),
                fmt(num(r.get("round_trips")), 2) if r.get("round_trips") else "",
                fmt(num(r["client_usec"]), 1)))
        out += self.light_before_after(rows)
        return "\n".join(out)

    @staticmethod
    def light_before_after(rows):
        """With PERF_LIGHT_BASE: each light_bench line before and after side
        by side, and issue 22's rule for writes: a write may not get slower
        by more than the read gained, weighted by the 90/10 mix (9 reads per
        write: apples writes against fruitBySize reads, books writes against
        bookstoresForBooks reads)."""
        before = [r for r in rows if r["version"].startswith("before")]
        after = [r for r in rows if r["version"] == "after"]
        if not before or not after:
            return []

        def key(r):
            return (r["what"], r.get("query") or r.get("table"), r.get("apple") or r.get("book")
                    or "", r.get("lists") or "")
        b = {key(r): num(r["redis_usec"]) for r in before}
        a = {key(r): num(r["redis_usec"]) for r in after}
        gain = {}
        for q in ("fruitBySize", "bookstoresForBooks"):
            k = ("read", q, "", "")
            if b.get(k) is not None and a.get(k) is not None:
                gain[q] = b[k] - a[k]
        read_of = {"apples": "fruitBySize", "books": "bookstoresForBooks"}
        out = ["", "Before (%s) and after, side by side (Redis µs per call, the same run); "
               "a write's rule (issue 22): it may get slower by at most 9 × what the read of "
               "its table gained (90 %% reads / 10 %% writes: 9 reads per write; apples "
               "writes against fruitBySize, books writes against bookstoresForBooks):"
               % before[0]["version"][len("before "):].strip("()"), "",
               "| measured | lists of the table | before µs | after µs | after − before | "
               "allowed: 9 × read gain | |", "|---|---:|---:|---:|---:|---:|---|"]
        for k in sorted(set(a) & set(b), key=lambda k: (k[0], k[1], k[2], int(k[3] or -1))):
            what, q, which, lists = k
            d = a[k] - b[k]
            if what == "read":
                out.append("| read %s | | %s | %s | %s | | |" % (
                    q, fmt(b[k], 1), fmt(a[k], 1), fmt(d, 1)))
                continue
            g = gain.get(read_of.get(q))
            allowed = 9 * g if g is not None else None
            verdict = "–" if allowed is None else ("holds" if d <= allowed else "**does not hold**")
            out.append("| write %s (%s) | %s | %s | %s | %s | %s | %s |" % (
                q, which, lists, fmt(b[k], 1), fmt(a[k], 1), fmt(d, 1),
                fmt(allowed, 1) if allowed is not None else "–", verdict))
        return out

    def l1(self):
        """Issue 23 (L1 near cache): its targets, (1) with L1 on and off
        against the ceiling and the peers, Redis time per request with L1 on
        and off, and the scale-out scenario (rows of phase l1 / l1scale)."""
        rows = group(self.runs, phase="l1")
        if not rows:
            return "(the L1 scenarios did not run in this run: see the notes)"

        def m(sc, system, key="rps", **kw):
            return med(group(rows, scenario=sc, system=system, **kw), key)

        def verdict(ok):
            return "–" if ok is None else ("met" if ok else "**missed**")
        ceil, apo, mer = m("1", "fcgi_constant"), m("1", "apollo"), m("1", "mercurius")
        on, off = m("1", "oponn", l1="on"), m("1", "oponn", l1="off")
        n_on = len(group(rows, scenario="1", system="oponn", l1="on"))
        shares = [num(r.get("l1_share")) for r in group(rows, scenario="1", system="oponn",
                                                        l1="on")]
        shares = [x for x in shares if x is not None]
        age = self.cfg.get("l1_max_age_ms", "default")
        out = ["Medians of %d round(s), each with its own FastCGI-constant ceiling and peers; "
               "before each L1-on run the cache was flushed, Redis warmed by a walk and every "
               "worker's L1 by more walks until L1 answered ≥ 99 %% of a walk's cache reads. "
               "L1 off = the pool restarted with `OPONN_L1_BYTES=0`; L1 on = the default size "
               "with `OPONN_L1_MAX_AGE_MS` %s%s." % (
                   n_on, "at its default (5 min)" if age == "default" else "= %s" % age,
                   "" if age == "default" else " (PERF_L1_MAX_AGE_MS)"), "",
               "| target (issue 23) | measured | |", "|---|---|---|"]
        r = self.ratio(on, ceil)
        out.append("| (1) book(id), L1 on: ≥ 0.75 × the FastCGI-constant ceiling | %s | %s |" % (
            "%.3f ×" % r if r else "–", verdict(None if r is None else r >= 0.75)))
        r = self.ratio(on, apo)
        out.append("| (1) L1 on: ≥ 4 × Apollo | %s | %s |" % (
            "%.2f ×" % r if r else "–", verdict(None if r is None else r >= 4)))
        r = self.ratio(on, mer)
        out.append("| (1) L1 on: ratio to Mercurius (reported) | %s | |" % (
            "%.2f ×" % r if r else "–"))
        out.append("| L1 answered ≥ 99 %% of every measured L1-on (1) round | %s | %s |" % (
            ", ".join("%.2f %%" % (100 * x) for x in shares) or "– (no L1 counters: no L1 in "
            "this build)", verdict(None if not shares else min(shares) >= 0.99)))
        out += ["", "| (1) book(id) | req/s | ÷ ceiling | ÷ Apollo | ÷ Mercurius | p99 ms | "
                "Redis µs/req | Redis round trips/req | L1 share |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for label, v, kw in (("oponn, L1 on", on, {"system": "oponn", "l1": "on"}),
                             ("oponn, L1 off", off, {"system": "oponn", "l1": "off"}),
                             ("Apollo", apo, {"system": "apollo"}),
                             ("Mercurius", mer, {"system": "mercurius"}),
                             ("FastCGI-constant ceiling", ceil, {"system": "fcgi_constant"}),
                             ("nginx static file", m("1", "static"), {"system": "static"})):
            g = group(rows, scenario="1", **kw)
            if not g:
                continue

            def rr(b):
                x = self.ratio(v, b)
                return "%.2f" % x if x else "–"
            share = med(g, "l1_share")
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                label, fmt(v), rr(ceil), rr(apo), rr(mer), fmt(med(g, "p99_ms"), 2),
                fmt(med(g, "redis_usec_per_req"), 1) if kw["system"] == "oponn" else "",
                fmt(med(g, "redis_per_req"), 3) if "redis_per_req" in g[0] and
                g[0].get("redis_per_req") not in ("", None) else "",
                "%.4f" % share if share is not None else ""))
        out += ["", "Redis time per request (INFO commandstats: µs of the commands oponn sent, "
                "scripts once) with L1 on and off (one run each for (3), (4), (5)):", "",
                "| scenario | L1 | req/s | Redis µs/req | Redis round trips/req | L1 share |",
                "|---|---|---:|---:|---:|---:|"]
        for sc in ("1", "3", "4", "5"):
            for mode in ("on", "off"):
                g = group(rows, scenario=sc, system="oponn", l1=mode)
                if g:
                    share = med(g, "l1_share")
                    out.append("| (%s) %s | %s | %s | %s | %s | %s |" % (
                        sc, SCENARIOS.get(sc, ""), mode, fmt(med(g, "rps")),
                        fmt(med(g, "redis_usec_per_req"), 1), fmt(med(g, "redis_per_req"), 3),
                        "%.4f" % share if share is not None else "–"))
        sc_rows = group(self.runs, phase="l1scale")
        if sc_rows:
            out += ["", "Scale-out: 2 hosts (each its own nginx + pool of %s workers) sharing one "
                    "Redis, (1) on both at once (%s connections each). Redis CPU is the "
                    "redis-server process's utime + stime over the run divided by both hosts' "
                    "requests; one Redis primary (one core: Redis runs commands on one thread) "
                    "then carries about 10⁶ ÷ that many requests/s, if nothing else limits it." %
                    (sc_rows[0].get("workers"), int(num(sc_rows[0].get("conns")) or 0) // 2), "",
                    "| L1 | req/s (both hosts) | Redis CPU µs/req | Redis command µs/req | Redis "
                    "round trips/req | one Redis primary could carry (req/s) | L1 share |",
                    "|---|---:|---:|---:|---:|---:|---:|"]
            for r in sc_rows:
                floor = str(r.get("redis_cpu_floor")) == "True"
                share = num(r.get("l1_share"))
                out.append("| %s | %s | %s%s | %s | %s | %s%s | %s |" % (
                    r["l1"], fmt(num(r["rps"])), "≤ " if floor else "",
                    fmt(num(r["redis_cpu_us_per_req"]), 2), fmt(num(r["redis_usec_per_req"]), 2),
                    fmt(num(r.get("redis_per_req")), 3), "≥ " if floor else "",
                    fmt(num(r["redis_primary_rps"])), "%.4f" % share if share is not None
                    else "–"))
        return "\n".join(out)

    def probe_table(self):
        out = ["| scenario | case | ids | system | MongoDB commands | Redis round trips |",
               "|---|---|---:|---|---:|---:|"]
        for p in self.probes:
            out.append("| (%s) | %s | %s | %s | %s | %s |" % (
                p["scenario"], p["case"], p["ids"], p["system"], p["mongodb_commands"],
                p["redis_round_trips"]))
        return "\n".join(out)

    # ---- what limits each scenario

    def limiter(self, rows, system):
        wall = med(rows, "wall_s")
        if not wall:
            return {}, "–"
        share = {}
        for g in ("nginx", "workers", "redis", "mongo", "c_nginx", "c_pool",
                  "writer") + PEERS:
            v = med(rows, "cpu_%s_s" % g)
            if v:
                share[g] = v / wall
        share["wrk"] = (med(rows, "cpu_wrk_s") or 0) / wall
        machine = (med(rows, "cpu_machine_s") or 0) / wall
        share["other"] = max(0.0, machine - sum(share.values()))
        workers = num(rows[0].get("workers")) or 1
        caps = {"redis": 1, "mongo": 1 if not self.meta["config"]["real_mongodb"] else
                self.cores, "nginx": min(self.cfg["nginx_workers"], self.cores),
                "workers": min(workers, self.cores), "apollo": min(workers, self.cores),
                "mercurius": min(workers, self.cores),
                "c_nginx": min(self.cfg["nginx_workers"], self.cores),
                "c_pool": min(workers, self.cores)}
        names = {"mongo": "the MongoDB endpoint", "redis": "Redis", "nginx": "nginx",
                 "workers": "the oponn workers", "apollo": "the Apollo processes",
                 "mercurius": "the Mercurius processes",
                 "c_nginx": "nginx", "c_pool": "the constant workers", "wrk": "wrk",
                 "other": "other processes on the shared machine", "writer": "oponn-writer"}
        standin = not self.meta["config"]["real_mongodb"]
        # A backend the requests do not use (the writer's MongoDB traffic in
        # (6)) cannot be what limits them.
        used = {"mongo": (med(rows, "mongo_per_req") or 0) > 0.05,
                "redis": (med(rows, "redis_per_req") or 0) > 0.05}
        single = [g for g in ("mongo", "redis")
                  if used[g] and share.get(g, 0) >= 0.8 * caps[g]]
        if single:
            g = single[0]
            why = "%s: %.0f %% of its %s" % (names[g], 100 * share[g] / caps[g],
                                              "one core (single-threaded)" if caps[g] == 1
                                              else "%d cores" % caps[g])
        elif (standin and used["mongo"] and share.get("mongo", 0) >= 0.6
              and machine < 0.85 * self.cores):
            # A serial server: busy most of the time, the rest is the round
            # trip between one answer and the next request it takes.
            why = ("the MongoDB stand-in, which serves one request at a time: busy %.0f %% "
                   "of the run with the machine's cores not saturated (%.2f of %d)" % (
                       100 * share["mongo"], machine, self.cores))
        elif machine >= 0.85 * self.cores:
            top = sorted(((v, k) for k, v in share.items() if v >= 0.05), reverse=True)
            why = "the machine's CPU: %.2f of %d cores busy (%s)" % (
                machine, self.cores, ", ".join("%s %.2f" % (names[k], v) for v, k in top))
        else:
            busy = max(share.get(g, 0) / caps.get(g, 1) for g in share if g in caps) \
                if any(g in caps for g in share) else 0
            why = ("no CPU resource saturated (machine %.2f of %d cores, busiest component "
                   "%.0f %% of its capacity): waiting (I/O, queueing), latency-bound" % (
                       machine, self.cores, 100 * busy))
        return share, why

    def per_req(self, sc, system, group_):
        rows = group(self.runs, phase="main", scenario=sc, system=system)
        per = [1e6 * num(r.get("cpu_%s_s" % group_)) /
               max(1.0, num(r.get("served")) or num(r.get("requests")) or 1.0)
               for r in rows if num(r.get("cpu_%s_s" % group_))]
        return statistics.median(per) if per else 0.0

    def kernel_share(self, sc):
        p = os.path.join(RESULTS, "profile-%s.txt" % sc)
        if not os.path.exists(p):
            return None
        with open(p) as f:
            for line in f:
                if "[kernel.kallsyms]" in line and "[k]" not in line:
                    return float(line.split("%")[0])
        return None

    def findings(self):
        """Why targets are missed and what bounds each scenario, computed from
        the CPU per request and Redis command times of this run."""
        out = []
        cache = self.meta["features"].get("cache")
        o = {g: self.per_req("1", "oponn", g) for g in ("workers", "nginx", "redis", "mongo",
                                                       "wrk")}
        c = {g: self.per_req("1", "fcgi_constant", g) for g in ("c_pool", "c_nginx", "wrk")}
        so, sc_ = sum(o.values()), sum(c.values())
        r1 = self.ratio(self.m("1", "oponn"), self.m("1", "fcgi_constant"))
        if so and sc_ and r1:
            k = self.kernel_share("1")
            out.append(
                "- **(1) against the FastCGI-constant ceiling.** The machine's cores are the "
                "shared resource (see the CPU table), so the throughput ratio is bounded by the "
                "inverse ratio of CPU spent per request, everything on the machine included: "
                "oponn's book(id) costs %.0f µs (workers %.0f, nginx %.0f, Redis %.0f, MongoDB "
                "%.0f, wrk %.0f), the constant path %.0f µs (workers %.0f, nginx %.0f, wrk %.0f). "
                "That bounds oponn at about %.0f %% of the ceiling; measured %.0f %%%s. The extra "
                "cost is %s and the GraphQL work in the worker%s." % (
                    so, o["workers"], o["nginx"], o["redis"], o["mongo"], o["wrk"], sc_,
                    c["c_pool"], c["c_nginx"], c["wrk"], 100 * sc_ / so, 100 * r1,
                    " (well below that bound: something other than CPU limits it — see the "
                    "table below)" if r1 < 0.8 * sc_ / so else "",
                    "the Redis round trip (Redis's own CPU plus the worker's socket calls)"
                    if cache else "the MongoDB read (this build has no cache serving reads)",
                    "; %.0f %% of the worker's own time is in the kernel (FastCGI socket and "
                    "Redis I/O, per the profile below)" % k if k is not None else ""))
        for sc in ("3", "4", "5b", "7"):
            rows = group(self.runs, phase="main", scenario=sc, system="oponn")
            e = med(rows, "evalsha_usec_per_call")
            epr = med(rows, "evalsha_per_req")
            rps = med(rows, "rps")
            if e and epr and rps:
                bound = 1e6 / (e * epr)
                out.append(
                    "- **(%s) %s.** Its EVALSHA calls take %s µs of Redis time on average (%.2f "
                    "per request): Redis runs scripts one at a time, so this alone caps oponn "
                    "at about %s req/s; measured %s req/s." % (
                        sc, SCENARIOS[sc], fmt(e), epr, fmt(bound), fmt(rps)))
        r5, r5b = self.m("5", "oponn"), self.m("5b", "oponn")
        if r5 and r5b and cache:
            e5 = med(group(self.runs, phase="main", scenario="5", system="oponn"),
                     "evalsha_usec_per_call")
            e5b = med(group(self.runs, phase="main", scenario="5b", system="oponn"),
                      "evalsha_usec_per_call")
            e1 = med(group(self.runs, phase="main", scenario="1", system="oponn"),
                     "evalsha_usec_per_call")
            w = self.cfg.get("write_pct", 10) / 100.0
            write_cost = ""
            if e1 and e5 and e5b:
                # Reads cost what (1)'s do; the rest of the average is the writes'.
                write_cost = (" — a write's script about %s µs without batches and %s µs with "
                              "them (the average less 90 %% reads at (1)'s %s µs)" % (
                                  fmt(max(0.0, (e5 - (1 - w) * e1) / w)),
                                  fmt(max(0.0, (e5b - (1 - w) * e1) / w)), fmt(e1)))
            out.append(
                "- **Writes and cached batches.** A write reconciles every cached batch of its "
                "table in its one script call. With no batch cached, (5) runs at %s req/s "
                "(EVALSHA %s µs on average); with the 1,000 bookstoresForBooks lists of (3) "
                "cached, (5b) runs at %s req/s (EVALSHA %s µs on average)%s. Cached batches of "
                "a table with frequent writes cost every writer; keep such lists few or "
                "short-lived (`OPONN_CACHE_TTL_BATCH_S`)." % (
                    fmt(r5), fmt(e5), fmt(r5b), fmt(e5b), write_cost))
        return "\n".join(out) if out else "(not enough data in this run)"

    def per_request_table(self):
        """CPU per request of each process group: where a request's time goes."""
        cols = ("workers", "nginx", "redis", "mongo") + PEERS + ("c_pool", "c_nginx", "wrk")
        out = ["| scenario | system | %s | Redis time in commands µs/req | EVALSHA/req | "
               "µs per EVALSHA |" % " | ".join(
                   {"workers": "oponn workers", "mongo": "MongoDB", "c_pool": "constant workers",
                    "c_nginx": "nginx (constant)"}.get(c, c) for c in cols),
               "|---|---|" + "---:|" * (len(cols) + 3)]
        for sc in ["1", "2", "3", "4", "5", "5b", "6", "7"]:
            for system in SYSTEMS + ("fcgi_constant", "static"):
                rows = group(self.runs, phase="main", scenario=sc, system=system)
                if not rows:
                    continue
                cells = []
                for c in cols:
                    per = [1e6 * num(r.get("cpu_%s_s" % c)) /
                           max(1.0, num(r.get("served")) or num(r.get("requests")) or 1.0)
                           for r in rows if num(r.get("cpu_%s_s" % c))]
                    cells.append(fmt(statistics.median(per), 1) if per else "–")
                out.append("| (%s) | %s | %s | %s | %s | %s |" % (
                    sc, system, " | ".join(cells), fmt(med(rows, "redis_usec_per_req"), 1),
                    fmt(med(rows, "evalsha_per_req"), 2),
                    fmt(med(rows, "evalsha_usec_per_call"), 0)))
        return "\n".join(out)

    def limits_table(self):
        cols = ("workers", "nginx", "redis", "mongo") + PEERS + ("writer", "wrk", "other")
        out = ["| scenario | system | %s | machine | limited by |" % " | ".join(
            {"workers": "oponn workers", "mongo": "MongoDB"}.get(c, c) for c in cols),
            "|---|---|" + "---:|" * (len(cols) + 1) + "---|"]
        for sc in ["1", "2", "3", "4", "5", "5b", "6", "7"]:
            for system in SYSTEMS + ("fcgi_constant", "static"):
                rows = group(self.runs, phase="main", scenario=sc, system=system)
                if not rows:
                    continue
                share, why = self.limiter(rows, system)
                if system == "fcgi_constant":
                    share = dict(share, workers=share.get("c_pool", 0),
                                 nginx=share.get("c_nginx", 0))
                machine = (med(rows, "cpu_machine_s") or 0) / (med(rows, "wall_s") or 1)
                out.append("| (%s) | %s | %s | %.2f | %s |" % (
                    sc, system, " | ".join("%.2f" % share.get(c, 0) for c in cols), machine, why))
        return "\n".join(out)

    # ---- sweeps

    def sweep_table(self, phase, key, values, series):
        head = "| %s | " % key + " | ".join("%s req/s | %s p99 ms" % (n, n) for n, _ in series)
        out = [head + " |", "|---:|" + "---:|---:|" * len(series)]
        for v in values:
            cells = []
            for _, match in series:
                rows = group(self.runs, phase=phase, **dict(match, **{key: v}))
                cells += [fmt(med(rows, "rps")), fmt(med(rows, "p99_ms"), 2)]
            out.append("| %s | %s |" % (v, " | ".join(cells)))
        return "\n".join(out)

    def pool_guidance(self):
        lines = []
        for sc in ("1", "5"):
            pts = []
            for w in self.cfg["pool_sweep"]:
                rows = group(self.runs, phase="pool", scenario=sc, system="oponn", workers=w)
                if rows:
                    wall = med(rows, "wall_s") or 1
                    busy = (med(rows, "cpu_workers_s") or 0) / wall
                    pts.append((w, med(rows, "rps"), med(rows, "p99_ms"), busy,
                                (med(rows, "cpu_machine_s") or 0) / wall))
            if not pts:
                continue
            best = max(p[1] or 0 for p in pts)
            enough = min(p[0] for p in pts if (p[1] or 0) >= 0.95 * best)
            desc = "; ".join("%d workers: %s req/s, p99 %s ms, workers use %.2f cores, machine "
                             "%.2f" % (w, fmt(r), fmt(p, 2), b, mach)
                             for w, r, p, b, mach in pts)
            lines.append("- (%s) %s — %s. The smallest pool within 5 %% of the best "
                         "throughput: **%d workers**." % (sc, SCENARIOS[sc], desc, enough))
        return "\n".join(lines) if lines else "(the pool sweep was not run)"

    # ---- memory

    def memory_table(self):
        if not self.memory:
            return "(no memory samples)"
        labels = []
        for r in self.memory:
            if r["label"] not in labels:
                labels.append(r["label"])
        out = ["| when | worker pid: RSS KiB |", "|---|---|"]
        for lb in labels:
            rows = [r for r in self.memory if r["label"] == lb]
            rounds = sorted({r["round"] for r in rows})
            for rd in rounds:
                rr = [r for r in rows if r["round"] == rd]
                out.append("| %s%s | %s |" % (lb, "" if rd in ("0", "") else " (round %s)" % rd,
                                              ", ".join("%s: %s" % (r["pid"], r["rss_kb"])
                                                        for r in rr)))
        return "\n".join(out)

    def memory_verdict(self):
        out = []
        for sc in ("1", "3", "4", "5"):
            rows = [r for r in self.memory if r["label"].startswith("(%s) " % sc)]
            if not rows:
                continue
            by = {}
            for r in rows:
                by.setdefault(r["pid"], {})[r["label"].split(" ", 1)[1]] = int(r["rss_kb"])
            grow = [v.get("after run 2", 0) - v.get("after run 1", 0) for v in by.values()]
            first = [v.get("after run 1", 0) - v.get("before", 0) for v in by.values()]
            out.append("- (%s): first run %s KiB per worker, second run %s KiB per worker" % (
                sc, "/".join("%+d" % g for g in first), "/".join("%+d" % g for g in grow)))
        return "\n".join(out) if out else "(no repeated runs)"

    # ---- plots

    def plots(self):
        made = []
        d = tempfile.mkdtemp(prefix="oponn-plot-")
        try:
            return self._plots(d, made)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def _plots(self, d, made):
        def series(phase, key, values, match, path):
            with open(path, "w") as f:
                for v in values:
                    rows = group(self.runs, phase=phase, **dict(match, **{key: v}))
                    rps, p99 = med(rows, "rps"), med(rows, "p99_ms")
                    if rps is not None:
                        f.write("%s %f %f\n" % (v, rps, p99 or 0))
            return os.path.getsize(path) > 0

        conns = self.cfg["conns_sweep"]
        cs = self.conns_series()
        files = []
        for i, (name, match) in enumerate(cs):
            p = os.path.join(d, "conns-%d.dat" % i)
            if series("conns", "conns", conns, match, p):
                files.append((p, name))
        if files:
            self.gnuplot("conns.png", "requests/s by client connections (wrk, medians)",
                         "connections", "requests/s", files, 2, logx=True, logy=True)
            self.gnuplot("conns-p99.png", "p99 latency by client connections", "connections",
                         "p99 latency, ms", files, 3, logx=True, logy=True)
            made += ["conns.png", "conns-p99.png"]
        files = []
        for i, (name, match) in enumerate([("(1) book(id) hits", {"scenario": "1",
                                                                   "system": "oponn"}),
                                           ("(5) 90/10 read/write", {"scenario": "5",
                                                                      "system": "oponn"})]):
            p = os.path.join(d, "pool-%d.dat" % i)
            if series("pool", "workers", self.cfg["pool_sweep"], match, p):
                files.append((p, name))
        if files:
            self.gnuplot("pool.png", "oponn requests/s by FastCGI pool size (32 connections)",
                         "workers", "requests/s", files, 2, logx=True)
            self.gnuplot("pool-p99.png", "oponn p99 latency by pool size (32 connections)",
                         "workers", "p99 latency, ms", files, 3, logx=True)
            made += ["pool.png", "pool-p99.png"]
        for png in self.compare_plots(d):
            made.append(png)
        return made

    def conns_series(self):
        return [("(%s) %s" % (sc, LABEL[sy]), {"scenario": sc, "system": sy})
                for sc in ("1", "5") for sy in SYSTEMS] + [
                    ("FastCGI constant", {"scenario": "1", "system": "fcgi_constant"})]

    def ceilings(self, sc):
        """Upper bounds for oponn in scenario sc: the ceilings measured in
        the same run, and the Redis-script cap derived from its EVALSHA time
        (Redis runs scripts one at a time)."""
        out = []
        if sc == "1":
            out += [("nginx static file", self.m("1", "static")),
                    ("redis-benchmark GET", self.m("redis GET", "redis-benchmark"))]
        out.append(("nginx → FastCGI constant", self.m("1", "fcgi_constant")))
        rows = group(self.runs, phase="main", scenario=sc, system="oponn")
        e, epr = med(rows, "evalsha_usec_per_call"), med(rows, "evalsha_per_req")
        if e and epr:
            out.append(("Redis-script cap (derived)", 1e6 / (e * epr)))
        return [(n, v) for n, v in out if v]

    def compare_plots(self, d):
        """The systems side by side: req/s and server CPU per request in
        (1), (3), (5), one panel each (linear scales), and every scenario on
        one log-scale chart."""
        made = []
        panels, cpu = [], []
        for sc in COMPARED:
            o = self.m(sc, "oponn")
            oc = self.m(sc, "oponn", "cpu_server_us_per_req")
            bars, cbars = [], []
            for sy in SYSTEMS:
                v = self.m(sc, sy)
                if v:
                    r = self.ratio(o, v)
                    bars.append((LABEL[sy], v, COLOUR[sy], fmt(v),
                                 "" if sy == "oponn" or r is None else "%.2f" % r))
                c = self.m(sc, sy, "cpu_server_us_per_req")
                if c:
                    r = self.ratio(c, oc)
                    cbars.append((LABEL[sy], c, COLOUR[sy], fmt(c) + " µs",
                                  "" if sy == "oponn" or r is None else "%.2f ×" % r))
            if bars:
                panels.append(("(%s) %s" % (sc, SCENARIOS[sc]), bars, self.ceilings(sc)))
            if cbars:
                cpu.append(("(%s) %s" % (sc, SCENARIOS[sc]), cbars, []))
        if panels:
            self.gnuplot_panels("peers.png", "requests/s, medians over rounds (32 connections). "
                                "On a peer's bar: oponn's req/s ÷ that peer's (above 1: oponn "
                                "serves more).\\nDashed: ceilings for oponn, measured in the "
                                "same run (the Redis-script cap is derived from EVALSHA time)",
                                "requests/s", panels, d)
            made.append("peers.png")
        if cpu:
            self.gnuplot_panels("cpu.png", "server CPU per request, µs, medians (oponn: nginx + "
                                "workers; a peer: its node processes; Redis and MongoDB not "
                                "included).\\nOn a peer's bar: its CPU per request ÷ oponn's",
                                "CPU µs per request", cpu, d)
            made.append("cpu.png")
        if self.scenarios_plot(d):
            made.append("scenarios.png")
        return made

    @staticmethod
    def _q(text):
        return '"%s"' % text.replace('"', "'")

    def gnuplot_panels(self, png, title, ylabel, panels, d):
        """One panel per scenario: a bar per system (its colour, its value
        above, a ratio inside), ceilings as dashed lines; a ceiling more than
        3.5 × the tallest bar would flatten the bars, so it is named at the
        top instead."""
        lines = ["set terminal pngcairo size %d,620 font ',10'" % (420 * len(panels) + 60),
                 "set output '%s'" % os.path.join(RESULTS, png),
                 "set multiplot layout 1,%d title %s font ',12'" % (len(panels), self._q(title)),
                 "set style fill solid 0.85 border -1", "set boxwidth 0.7", "set grid y",
                 "unset key", "set format y \"%.0f\"", "set xrange [-0.6:2.6]",
                 "set ylabel %s" % self._q(ylabel), "set bmargin 3", "set tmargin 7"]
        most_off = max(sum(1 for _, v in c if v > 3.5 * max(b[1] for b in bars))
                       for _, bars, c in panels)
        for i, (ptitle, bars, ceilings) in enumerate(panels):
            top = max(v for _, v, _, _, _ in bars)
            shown = [(n, v) for n, v in ceilings if v <= 3.5 * top]
            off = [(n, v) for n, v in ceilings if v > 3.5 * top]
            ymax = 1.22 * max([top] + [v for _, v in shown])
            data = os.path.join(d, "%s-%d.dat" % (png, i))
            with open(data, "w") as f:
                for x, (label, v, colour, above, inside) in enumerate(bars):
                    # A ratio goes inside its bar, or on top of the value
                    # when the bar is too short to hold it.
                    over = ""
                    if v < 0.12 * ymax:
                        over, inside = inside, ""
                    f.write('%d %f %d %s %s %s %s\n' % (
                        x, v, int(colour[1:], 16), self._q(above), self._q(inside),
                        self._q(label), self._q(over)))
            lines += ["unset arrow", "unset label",
                      "set title %s offset 0,%d" % (self._q(ptitle), most_off),
                      "set yrange [0:%f]" % ymax]
            for k, (n, v) in enumerate(shown):
                lines += ["set arrow from graph 0, first %f to graph 1, first %f nohead "
                          "dt 2 lw 2 lc rgb '#444444' front" % (v, v),
                          "set label %s at graph 0.99, first %f right offset 0,0.6 "
                          "font ',8' tc rgb '#333333' front" % (self._q("%s %s" % (n, fmt(v))), v)]
            if off:
                text = "above the scale: " + "\\n".join("%s %s" % (n, fmt(v)) for n, v in off)
                lines.append("set label %s at graph 0.5, graph %f center font ',8' "
                             "tc rgb '#333333'" % (self._q(text), 1.025 + 0.03 * (len(off) - 1)))
            lines.append("plot '{0}' using 1:2:3:xtic(6) with boxes lc rgb variable, "
                         "'' using 1:2:4 with labels offset 0,1 font ',9', "
                         "'' using 1:2:7 with labels offset 0,2.3 font ',11' tc rgb '#222222', "
                         "'' using 1:($2/2):5 with labels tc rgb 'white' font ',11'".format(data))
        lines.append("unset multiplot")
        subprocess.run(["gnuplot"], input="\n".join(lines) + "\n", text=True, check=True)

    def scenarios_plot(self, d):
        """Every scenario's median req/s, the systems in their colours, the
        peers' bars marked with oponn's ratio to them, the measured ceilings
        as lines (log scale: ceilings to misses)."""
        scs = [sc for sc in ("1", "2", "3", "4", "5", "5b", "6", "7")
               if any(self.m(sc, sy) for sy in SYSTEMS)]
        if not scs:
            return False
        files = {}
        width = 0.8 / len(SYSTEMS)
        for j, sy in enumerate(SYSTEMS):
            p = os.path.join(d, "scen-%s.dat" % sy)
            with open(p, "w") as f:
                for i, sc in enumerate(scs):
                    v = self.m(sc, sy)
                    if v:
                        r = self.ratio(self.m(sc, "oponn"), v)
                        f.write("%f %f %s\n" % (i + (j - (len(SYSTEMS) - 1) / 2) * width, v,
                                                self._q("" if sy == "oponn" or r is None
                                                        else "%.2f×" % r)))
            if os.path.getsize(p):
                files[sy] = p
        lines = ["set terminal pngcairo size 1100,600 font ',10'",
                 "set output '%s'" % os.path.join(RESULTS, "scenarios.png"),
                 "set title %s" % self._q("median requests/s per scenario (log scale); above "
                                          "a peer's bar: oponn ÷ that peer; dashed: ceilings "
                                          "measured in the same run"),
                 "set style fill solid 0.85 border -1", "set boxwidth %f" % (0.95 * width),
                 "set logscale y", "set grid y", "set ylabel 'requests/s'",
                 "set key outside right top", "set xrange [-0.6:%f]" % (len(scs) - 0.4),
                 "set yrange [%f:%f]" % (
                     0.5 * min(self.m(sc, sy) for sc in scs for sy in SYSTEMS
                               if self.m(sc, sy)),
                     2.5 * max([v for _, v in self.ceilings("1")] +
                               [self.m(sc, sy) or 0 for sc in scs for sy in SYSTEMS])),
                 "set xtics (%s)" % ", ".join('%s %d' % (self._q("(%s)" % sc), i)
                                              for i, sc in enumerate(scs)),
                 "set xlabel %s" % self._q("  ".join("(%s) %s" % (sc, SCENARIOS[sc])
                                                    for sc in scs if sc in COMPARED))]
        for n, v in [c for c in self.ceilings("1") if "derived" not in c[0]]:
            lines += ["set arrow from graph 0, first %f to graph 1, first %f nohead dt 2 lw 2 "
                      "lc rgb '#444444' front" % (v, v),
                      "set label %s at graph 0.01, first %f left offset 0,0.6 font ',8' "
                      "front" % (self._q("%s %s" % (n, fmt(v))), v)]
        plots = []
        for sy, p in files.items():
            plots.append("'%s' using 1:2 with boxes lc rgb '%s' title '%s'" % (
                p, COLOUR[sy], LABEL[sy]))
            plots.append("'%s' using 1:2:3 with labels rotate by 90 left offset 0,0.5 "
                         "font ',9' notitle" % p)
        lines.append("plot " + ", ".join(plots))
        subprocess.run(["gnuplot"], input="\n".join(lines) + "\n", text=True, check=True)
        return True

    @staticmethod
    def style(name):
        """A series' line style: the system's colour, solid for (1), dashed
        for (5); the ceilings dark grey."""
        for sy in SYSTEMS:
            if name.endswith(" " + LABEL[sy]):
                return "lc rgb '%s' dt %d pt %d" % (COLOUR[sy], 2 if name.startswith("(5)")
                                                    else 1, 7 if name.startswith("(5)") else 5)
        return "lc rgb '#444444' dt 3 pt 2" if "constant" in name else ""

    def gnuplot(self, png, title, xl, yl, files, col, logx=False, logy=False):
        plots = ", ".join("'%s' using 1:%d with linespoints lw 2 %s title '%s'" % (
            f, col, self.style(n), n) for f, n in files)
        script = ("set terminal pngcairo size 900,540 font ',10'\nset output '%s'\n"
                  "set title '%s'\nset xlabel '%s'\nset ylabel '%s'\nset grid\n"
                  "set key outside right\n%s%s"
                  "plot %s\n") % (os.path.join(RESULTS, png), title, xl, yl,
                                  "set logscale x 2\n" if logx else "",
                                  "set logscale y\n" if logy else "", plots)
        subprocess.run(["gnuplot"], input=script, text=True, check=True)

    # ---- assembling

    def profile_text(self):
        out = []
        for sc in ("1", "3"):
            p = os.path.join(RESULTS, "profile-%s.txt" % sc)
            if os.path.exists(p):
                with open(p) as f:
                    lines = f.read().splitlines()
                out.append("Scenario (%s) (%s):\n\n```\n%s\n```" % (
                    sc, lines[0].lstrip("# "), "\n".join(lines[1:36]).strip("\n")))
        return "\n\n".join(out) if out else "(no profile in this run)"

    def summary(self):
        o1, c1 = self.m("1", "oponn"), self.m("1", "fcgi_constant")
        p99 = self.m("1", "oponn", "p99_ms")
        parts = ["(1) book(id) hits: oponn %s req/s" % fmt(o1)]
        if c1 and o1:
            parts.append("%.0f %% of the nginx → FastCGI constant ceiling (%s req/s)" % (
                100 * o1 / c1, fmt(c1)))
        for peer in PEERS:
            v = self.m("1", peer)
            if v and o1:
                parts.append("%.2f × the %s peer (%s req/s)" % (o1 / v, LABEL[peer], fmt(v)))
        parts.append("p99 %s ms at %d connections" % (fmt(p99, 2), self.cfg["conns"]))
        s = "; ".join(parts) + "."
        for sc in ("3", "5"):
            o = self.m(sc, "oponn")
            peers = [(LABEL[p], self.m(sc, p)) for p in PEERS if self.m(sc, p)]
            if o and peers:
                s += " (%s) %s: oponn %s req/s, %s." % (sc, SCENARIOS[sc], fmt(o), ", ".join(
                    "%s %s req/s (oponn/%s %.2f)" % (n, fmt(v), n, o / v) for n, v in peers))
        return s

    @staticmethod
    def verdict(r):
        if r is None:
            return "–"
        return "faster" if r >= 1.05 else ("slower" if r <= 0.95 else "on par")

    def peers_table(self):
        """oponn and each peer in (1), (3), (5): throughput, the ratios,
        latency and the CPU each system spends per request."""
        present = [p for p in PEERS if any(self.m(sc, p) for sc in COMPARED)]
        if not present:
            return "(no peer ran: see the notes below)"
        names = " · ".join(LABEL[s_] for s_ in ("oponn",) + tuple(present))
        out = ["| scenario | %s | %s | p99 ms (%s) | server CPU µs/req (%s) | "
               "Redis+MongoDB CPU µs/req (%s) |" % (
                   " | ".join("%s req/s" % LABEL[s_] for s_ in ("oponn",) + tuple(present)),
                   " | ".join("oponn / %s" % LABEL[p] for p in present), names, names, names),
               "|---|" + "---:|" * (1 + 2 * len(present)) + "---:|---:|---:|"]
        for sc in COMPARED:
            o = self.m(sc, "oponn")
            if not o:
                continue
            syss = ("oponn",) + tuple(present)
            out.append("| (%s) %s | %s | %s | %s | %s | %s |" % (
                sc, SCENARIOS[sc], " | ".join(fmt(self.m(sc, s_)) for s_ in syss),
                " | ".join("**%.2f**" % r if r else "–"
                           for r in (self.ratio(o, self.m(sc, p)) for p in present)),
                " · ".join(fmt(self.m(sc, s_, "p99_ms"), 2) for s_ in syss),
                " · ".join(fmt(self.m(sc, s_, "cpu_server_us_per_req")) for s_ in syss),
                " · ".join(fmt(self.m(sc, s_, "cpu_backend_us_per_req")) for s_ in syss)))
        return "\n".join(out)

    def peer_desc(self, peer):
        versions = self.meta["machine"].get("peer_packages") or {}
        try:
            return PEER_DESC[peer].format(**versions)
        except KeyError:  # an older run: no versions recorded
            return re.sub(r" \{[^}]*\}", "", PEER_DESC[peer])

    def standing(self):
        """Where oponn stands against each peer, in plain words, from this
        run's medians."""
        out = []
        for peer in PEERS:
            by = {}
            for sc in COMPARED:
                r = self.ratio(self.m(sc, "oponn"), self.m(sc, peer))
                if r is not None:
                    by.setdefault(self.verdict(r), []).append("(%s) %.2f" % (sc, r))
            if not by:
                continue
            cpu = []
            for sc in COMPARED:
                r = self.ratio(self.m(sc, peer, "cpu_server_us_per_req"),
                               self.m(sc, "oponn", "cpu_server_us_per_req"))
                if r:
                    cpu.append("(%s) %.2f ×" % (sc, r))
            words = []
            for v, what in (("faster", "**oponn serves more requests/s**"),
                            ("on par", "**on par** (within 5 %)"),
                            ("slower", "**oponn serves fewer requests/s**")):
                if v in by:
                    words.append("%s in %s" % (what, ", ".join(by[v])))
            out.append("- **Against %s** (%s; the numbers are oponn / %s req/s): %s. %s's "
                       "server spends %s the CPU per request that oponn's nginx + workers "
                       "spend." % (LABEL[peer], self.peer_desc(peer), LABEL[peer],
                                   "; ".join(words), LABEL[peer], ", ".join(cpu) or "–"))
        if not out:
            return "(no peer ran: see the notes below)"
        return "**Where oponn stands**, from this run's medians:\n\n" + "\n".join(out)

    def render(self):
        made = self.plots()
        mach = self.meta["machine"]
        features = self.meta["features"]
        subst = {
            "GENERATED": "%s, %.1f min, commit %s%s" % (
                self.meta["started"], self.meta["minutes"], self.meta["git"],
                " — **PERF_QUICK smoke run, not the full measurement**" if self.cfg["quick"]
                else ""),
            "SUMMARY": self.summary(),
            "PEERS_TABLE": self.peers_table(),
            "STANDING": self.standing(),
            "FINDINGS": self.findings(),
            "TARGETS": self.targets(),
            "LIGHT": self.light(),
            "L1": self.l1(),
            "MACHINE": "\n".join("| %s | %s |" % (k, v) for k, v in [
                ("CPU", "%s, %d cores (shared with other work: see *other* below)" % (
                    mach["cpu"], mach["cores"])),
                ("memory", "%s GiB" % mach["mem_gib"]),
                ("OS", "Debian %s, Linux %s" % (mach["debian"], mach["kernel"])),
                ("load average before / after", "%s / %s%s" % (
                    " ".join(mach["load_before"]), " ".join(self.meta["load_after"]),
                    " — **the machine was shared with other load while measuring**"
                    if max(float(x) for x in mach["load_before"] + self.meta["load_after"])
                    > 0.5 * mach["cores"] else "")),
                ("niceness of the run", "%s%s" % (mach.get("nice", "not recorded"),
                                                  " (every measured process inherits it)"
                                                  if mach.get("nice") else "")),
                ("nginx / Redis / wrk", "%s / %s / %s" % (mach["nginx"], mach["redis"],
                                                          mach["wrk"])),
                ("compiler, libmongoc, hiredis", "gcc %s, %s, %s" % (
                    mach["gcc"], mach["libmongoc"], mach["hiredis"])),
                ("Node.js (peers)", "%s; %s" % (mach["node"], ", ".join(
                    "%s %s" % kv for kv in sorted((mach.get("peer_packages") or {}).items()))
                    or "package versions not recorded")),
                ("MongoDB endpoint", self.meta["mongodb"]),
            ]),
            "CONFIG": ("%d FastCGI workers, %d nginx workers, Apollo and Mercurius with %d node "
                       "processes each (node cluster); "
                       "data set %s books in %s bookstores, %s fruit (loaded in %s s, %d sample "
                       "books read back exactly); (1), (5), (6) draw from a working set of %s "
                       "random books; wrk -t%d -c%d, %d s per run, %d rounds "
                       "(medians); sweeps %d s per point, %d rounds; book(id) answer %s bytes" % (
                           self.cfg["workers"], self.cfg["nginx_workers"], self.cfg["workers"],
                           fmt(self.cfg["books"]), fmt(self.cfg["bookstores"]),
                           fmt(self.cfg["fruit"]), self.meta["load_seconds"],
                           self.meta.get("sample_checked") or 0, fmt(self.cfg.get("hot")),
                           self.cfg["threads"],
                           self.cfg["conns"], self.cfg["duration"], self.cfg["rounds"],
                           self.cfg["sweep_duration"], self.cfg["sweep_rounds"],
                           self.cfg.get("book_body_bytes", "?"))),
            "FEATURES": ", ".join("%s: %s" % (k, "yes" if v else "**no**")
                                  for k, v in features.items()),
            "SCENARIO_TABLE": self.scenario_table(),
            "RATIOS": "\n".join(self.ratios()),
            "PROBES": self.probe_table(),
            "QUEUE": self.queue_table(),
            "LIMITS": self.limits_table(),
            "PER_REQUEST": self.per_request_table(),
            "CONNS_TABLE": self.sweep_table("conns", "conns", self.cfg["conns_sweep"],
                                            self.conns_series()),
            "POOL_TABLE": self.sweep_table("pool", "workers", self.cfg["pool_sweep"], [
                ("(1)", {"scenario": "1", "system": "oponn"}),
                ("(5)", {"scenario": "5", "system": "oponn"})]),
            "POOL_GUIDANCE": self.pool_guidance(),
            "MEMORY": self.memory_table(),
            "MEMORY_VERDICT": self.memory_verdict(),
            "PROFILE": self.profile_text(),
            "NOTES": "\n".join("- " + n for n in self.meta["notes"]) or "- none",
            "PLOTS": " ".join("![%s](results/%s)" % (p, p) for p in made
                              if p not in ("peers.png", "cpu.png")),
            "PEERS_PLOTS": " ".join("![%s](results/%s)" % (p, p) for p in made
                                    if p in ("peers.png", "cpu.png")),
        }
        with open(os.path.join(HERE, "REPORT.md.in")) as f:
            text = f.read()
        for k, v in subst.items():
            text = text.replace("@%s@" % k, v)
        with open(REPORT, "w") as f:
            f.write(text)
        print("report: %s" % REPORT, file=sys.stderr)


if __name__ == "__main__":
    Report().render()
