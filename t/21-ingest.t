#!/usr/bin/python3
# `oponn ingest` against the fixture Open Library server (t/lib/fixture_server.py)
# and the MongoDB stand-in: the happy path with exact content, the re-run no-op,
# the assignment rule, and every fault — after each, what MongoDB holds (count
# and content), the exit status and the message.
import json
import os
import re
import subprocess
import sys
import time
import unicodedata

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import taplib  # noqa: E402
from fixture_server import FixtureServer, FIXTURES  # noqa: E402
import pymongo  # noqa: E402

t = taplib.Tap()
OPONN = os.environ.get("OPONN_BIN") or os.path.join(taplib.ROOT, "build", "oponn")
PAGE = 10
FAST = ["--page-size", str(PAGE), "--pages", "5", "--retries", "2", "--backoff-ms", "20"]


def isbn_norm(s):
    s = s.replace("-", "").replace(" ", "")
    if re.fullmatch(r"[0-9]{13}|[0-9]{9}[0-9Xx]", s):
        return s.upper()
    return None


def expected_books(ndocs):
    """The books the first ndocs fixture records must give: the reference
    implementation of the rules in lib/ingest.h, written independently."""
    docs = []
    for name in sorted(os.listdir(FIXTURES)):
        with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
            docs.extend(json.load(f)["docs"])
    out = {}
    for d in docs[:ndocs]:
        title = d.get("title")
        year = d.get("first_publish_year")
        if not title or (year is not None and not -3000 <= year <= 2100):
            continue
        isbns = [i for i in (isbn_norm(x) for x in d.get("isbn", [])) if i]
        i13 = sorted(i for i in isbns if len(i) == 13)
        i10 = sorted(i for i in isbns if len(i) == 10)
        isbn = (i13 or i10 or [None])[0]
        key = "isbn:" + isbn if isbn else "ol:" + d["key"]
        if key in out:
            continue  # first wins
        out[key] = {"title": title, "authors": d.get("author_name", []), "year": year,
                    "isbn": isbn}
    return out


def fnv1a(s):
    h = 14695981039346656037
    for b in s.encode():
        h = ((h ^ b) * 1099511628211) % (1 << 64)
    return h


class Run:
    dbs = []

    def __init__(self, stack, fx, db):
        # Databases of this run only (MONGODB_URI may be a real, shared MongoDB).
        db = "t21_%d_%s" % (os.getpid(), db)
        Run.dbs.append(db)
        self.env = dict(stack.env(), OPONN_MONGODB_DB=db)
        self.fx = fx
        self.db = pymongo.MongoClient(stack.mongo_uri)[db]
        r = subprocess.run([OPONN, "migrate"], env=self.env, capture_output=True, text=True,
                           cwd=taplib.ROOT)
        assert r.returncode == 0, r.stderr

    def ingest(self, *args, base=None):
        t0 = time.monotonic()
        r = subprocess.run([OPONN, "ingest", "--base-url", base or self.fx.base_url] + FAST
                           + list(args), env=self.env, capture_output=True, text=True,
                           cwd=taplib.ROOT, timeout=120)
        r.elapsed = time.monotonic() - t0
        return r

    def books(self):
        return {b["nkey"]: b for b in self.db.books.find()}

    def content_is(self, ndocs, what):
        want = expected_books(ndocs)
        got = self.books()
        same = set(got) == set(want) and all(
            got[k]["title"] == w["title"] and got[k]["authors"] == w["authors"]
            and got[k].get("year") == w["year"] and got[k].get("isbn") == w["isbn"]
            and got[k]["version"] == 1 for k, w in want.items())
        t.ok(same, "%s: MongoDB holds exactly the %d books of the first %d records"
             % (what, len(want), ndocs),
             "missing %s\nextra %s" % (sorted(set(want) - set(got)), sorted(set(got) - set(want))))


def summary(r, what):
    m = re.search(r"books: (\d+) inserted, (\d+) modified", r.stdout)
    return (int(m.group(1)), int(m.group(2))) if m else None


with taplib.stack(services=("mongo",)) as s, FixtureServer() as fx:
    # ---- happy path, exact content, the assignment rule, re-run no-op
    run = Run(s, fx, "ingest_ok")
    r = run.ingest("--fruit", "20")
    t.is_(r.returncode, 0, "ingest exits 0" + (": " + r.stderr if r.returncode else ""))
    t.is_(summary(r, "first"), (29, 0), "first run: 29 inserted, 0 modified")
    t.ok("ingest: books:" in r.stdout and "ingest: page 4/5" in r.stderr
         and "records/s" in r.stderr, "summary on stdout, progress lines on stderr")
    t.ok("skipped record 2 (/works/OL59727W): title: required" in r.stderr
         and "year: 99999 is out of range" in r.stderr,
         "invalid records skipped with the reason")
    t.ok("repeats isbn:9780451524935: kept the first" in r.stderr,
         "a record repeating an earlier natural key is reported, the first kept")
    run.content_is(32, "full run")
    stores = sorted(run.db.bookstores.find(), key=lambda d: d["name_key"].encode())
    t.is_(len(stores), 14, "22 listed bookstore names give 14 stores (8 near-duplicates merged)")
    t.ok(any(st["name"] == "The Book Nook" for st in stores)
         and not any(st["name"] == "THE BOOK NOOK!" for st in stores),
         "the first spelling of a store wins")
    by_id = {st["_id"]: i for i, st in enumerate(stores)}
    t.ok(all(by_id.get(b["bookstore_id"]) == fnv1a(k) % len(stores)
             for k, b in run.books().items()),
         "every book is in store FNV-1a(natural key) mod 14, stores by name_key")
    lit = run.books().get("ol:/works/OL15413843W")
    t.ok(lit and lit["title"] == '{"$gt": ""}' and lit["authors"] == ["$where"],
         "operator-looking title and author stored literally")
    t.ok(run.db.apples.count_documents({}) == 20 and run.db.oranges.count_documents({}) == 20,
         "--fruit 20: 20 apples and 20 oranges")
    log = fx.log()
    t.ok(log and all("gzip" in (e["accept_encoding"] or "") and
                     (e["user_agent"] or "").startswith("oponn-ingest/") for e in log),
         "requests ask for gzip and carry a User-Agent")
    t.is_([e["page"] for e in log], [1, 2, 3, 4], "pages 1..4 fetched, stopped at the short page")
    r = run.ingest("--fruit", "20")
    t.is_((r.returncode, summary(r, "again")), (0, (0, 0)), "re-run: 0 inserted, 0 modified")
    t.ok("fruit: 0 inserted, 40 unchanged" in r.stdout and "bookstores: 0 inserted" in r.stdout,
         "re-run: stores and fruit unchanged too")
    run.content_is(32, "after the re-run")

    # ---- the bookstore list from a URL
    run = Run(s, fx, "ingest_url")
    r = run.ingest("--pages", "1", "--bookstores", fx.base_url + "/bookstores.json")
    t.ok(r.returncode == 0 and run.db.bookstores.count_documents({}) == 14,
         "--bookstores URL: 14 stores", r.stderr)
    fx.log()

    # ---- transient faults: retried, then the whole data set
    for kind, kw, what in [("500", {}, "a 500 then 200"),
                           ("cut", {}, "a body cut half-way, then whole"),
                           ("429", {"retry_after": 1}, "a 429 with Retry-After: 1")]:
        run = Run(s, fx, "ingest_%s" % kind)
        fx.fault(kind, page=2, times=1, **kw)
        r = run.ingest()
        t.is_(r.returncode, 0, "%s: exit 0" % what + (": " + r.stderr if r.returncode else ""))
        t.ok("1 retries" in r.stdout, "%s: one retry counted" % what, r.stdout)
        run.content_is(32, what)
        p2 = [e for e in fx.log() if e["page"] == 2]
        t.is_([e["fault"] for e in p2], [kind, None], "%s: page 2 asked twice" % what)
        if kind == "429":
            gap = p2[1]["t"] - p2[0]["t"]
            t.ok(gap >= 1.0, "Retry-After honoured: retried after %.2f s" % gap)
        fx.fault(None)

    # ---- faults that stop the run: nothing of the failed page is written
    cases = [
        ("cut", 2, {"times": -1}, [], r"page 2: GET .*(transfer closed|Partial|partial).*gave up "
         r"after 3 attempts", 10, "a body always cut half-way"),
        ("badjson", 2, {}, [], r"page 2: response is not JSON", 10, "invalid JSON"),
        ("badutf8", 3, {}, [], r"page 3: response is not valid UTF-8 \(byte \d+\)", 20,
         "invalid UTF-8"),
        ("slow", 2, {"times": -1, "delay": 3}, ["--timeout-ms", "300", "--retries", "1"],
         r"page 2: GET .*(timed out|Timeout).*gave up after 2 attempts", 10,
         "a response slower than the timeout"),
        ("big", 2, {"bytes": 200000}, ["--max-body", "65536"],
         r"page 2: GET .*: response body over 65536 bytes", 10, "a body over the cap"),
        ("500", 2, {"times": -1}, [], r"page 2: GET .*HTTP status 500 \(gave up after 3 attempts\)",
         10, "a 500 that persists"),
    ]
    for kind, page, kw, extra, msg, ndocs, what in cases:
        run = Run(s, fx, "ingest_fail_%s" % kind)
        times = kw.pop("times", 1)
        fx.fault(kind, page=page, times=times, **kw)
        r = run.ingest(*extra)
        t.is_(r.returncode, 1, "%s: exit 1" % what)
        t.ok(re.search(r"oponn ingest: failed: " + msg, r.stderr),
             "%s: message says what failed" % what, r.stderr[-600:])
        t.ok("run again to resume" in r.stderr, "%s: says a re-run resumes" % what)
        run.content_is(ndocs, what)
        if kind in ("badjson", "badutf8", "big"):
            t.is_(len([e for e in fx.log() if e["page"] == page]), 1,
                  "%s: not retried (a server that answered wrongly will again)" % what)
        elif kind == "slow":
            t.ok(r.elapsed < 10, "%s: gave up in %.1f s, bounded by the timeout" % (what, r.elapsed))
        fx.log()
        fx.fault(None)
        if kind == "badjson":
            r = run.ingest()
            t.is_((r.returncode, summary(r, "resume")), (0, (19, 0)),
                  "re-run after the failure resumes: 19 inserted, 0 modified")
            run.content_is(32, "resumed run")
            fx.log()

    # ---- usage and an unreachable source
    r = subprocess.run([OPONN, "ingest", "--pages", "abc"], env=run.env, capture_output=True,
                       text=True)
    t.ok(r.returncode == 2 and "--pages needs a number" in r.stderr, "bad option: exit 2")
    closed = taplib._stack.free_port()
    run = Run(s, fx, "ingest_down")
    r = run.ingest("--retries", "0", base="http://127.0.0.1:%d" % closed)
    t.ok(r.returncode == 1 and re.search(r"page 1: GET .*(connect|Connection refused)", r.stderr),
         "unreachable API: exit 1 naming the page and the connection", r.stderr[-400:])
    t.is_(run.db.books.count_documents({}), 0, "unreachable API: no book written")
    r = subprocess.run([OPONN, "ingest", "--bookstores", "/nonexistent.json"], env=run.env,
                       capture_output=True, text=True)
    t.ok(r.returncode == 1 and "bookstores (/nonexistent.json)" in r.stderr,
         "missing bookstore file: exit 1 naming it", r.stderr)
    # The ASan/UBSan build of oponn (when `make test` built it): a full run,
    # the re-run and a failed page, exit statuses intact (a leak would change them).
    asan = os.path.join(taplib.ROOT, "build", "asan", "oponn")
    if os.access(asan, os.X_OK) and not os.environ.get("OPONN_BIN"):
        OPONN = asan
        run = Run(s, fx, "ingest_asan")
        r1 = run.ingest("--fruit", "5")
        r2 = run.ingest("--fruit", "5")
        fx.fault("badutf8", page=2)
        run3 = Run(s, fx, "ingest_asan_fail")
        r3 = run3.ingest()
        fx.fault(None)
        t.ok(r1.returncode == 0 and summary(r1, "") == (29, 0) and r2.returncode == 0
             and summary(r2, "") == (0, 0) and r3.returncode == 1
             and "page 2: response is not valid UTF-8" in r3.stderr,
             "ASan build: full run, no-op re-run, failed page", r1.stderr[-800:] + r3.stderr[-800:])
        run.content_is(32, "ASan build")
        run3.content_is(10, "ASan build, failed page 2")

    for db in Run.dbs:
        run.db.client.drop_database(db)
t.done()
