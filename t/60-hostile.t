#!/usr/bin/python3
# Hostile requests (t/hostile/*.json, one case a file) replayed through nginx
# against a running pool. Each case names its request and the answer it must
# get: an HTTP status and a GraphQL error code. After the corpus: the same
# worker pids (none died), MongoDB's documents unchanged, Redis keys still
# there, and no memory leaked by the corpus: on the normal build worker RSS
# flat over 3 more passes once warm-up passes reached a steady state; on the
# sanitizer build (where RSS measures ASan's own bookkeeping, not the
# program) LeakSanitizer's check at the workers' exit. Also: a refused
# mutation never reveals whether the record exists.
#
# Case format (JSON):
#   name, method (POST), path (/graphql), headers {name: value},
#   body (a string, sent as UTF-8) | body_b64 (raw bytes) |
#   parts [[string, times], ...] (concatenated; for huge bodies) |
#   stream {bytes, chunked} (a body of that size streamed over a raw socket;
#     the answer must arrive before the body is sent, i.e. unread),
#   status (int or list of ints),
#   code: "A|B" (errors[0].extensions.code is one of them), "null" (no
#     errors), "any" (the status alone is checked),
#   todo (optional): a known gap, reported as a TAP TODO until fixed.
import base64
import glob
import json
import os
import select
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import taplib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(HERE, "hostile", "*.json")))]
RSS_GROWTH_KB = 2048  # over 3 passes of the corpus, per worker
STEADY_KB = 256  # a warm-up pass growing a worker's RSS less than this: steady
WARM_MIN, WARM_MAX = 2, 8  # warm-up passes
ASAN = "asan" in os.environ.get("OPONN_BUILD_DIR", "")

t = taplib.Tap()


def body_of(case):
    if case.get("body_b64") is not None:
        return base64.b64decode(case["body_b64"])
    if case.get("parts"):
        return "".join(s * n for s, n in case["parts"]).encode()
    if case.get("body") is None:
        return None
    return case["body"].encode("utf-8")


def stream(s, case):
    """Sends the headers and then the body in 64 KiB chunks, stopping as soon
    as nginx answers. Returns (status, body bytes, bytes of body sent)."""
    total, chunked = case["stream"]["bytes"], case["stream"]["chunked"]
    sk = socket.create_connection(("127.0.0.1", s.http_port), timeout=10)
    head = "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" % (
        case.get("path", "/graphql"))
    head += "Transfer-Encoding: chunked\r\n" if chunked else "Content-Length: %d\r\n" % total
    sk.sendall((head + "Connection: close\r\n\r\n").encode())
    chunk, sent = b"[" * 65536, 0
    try:
        while sent < total:
            if select.select([sk], [], [], 0)[0]:
                break
            sk.sendall(b"10000\r\n" + chunk + b"\r\n" if chunked else chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    raw = b""
    try:
        while True:
            d = sk.recv(65536)
            if not d:
                break
            raw += d
    except (ConnectionResetError, socket.timeout):
        pass
    sk.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/") else 0
    if b"chunked" in head.lower():
        out, rest = b"", body
        while rest:
            n, _, rest = rest.partition(b"\r\n")
            n = int(n, 16) if n.strip() else 0
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    return status, body, sent


def run(s, case):
    """(status, parsed JSON or None, raw, extra diagnostics)."""
    if case.get("stream"):
        st, raw, sent = stream(s, case)
        extra = {"body_sent": sent}
    else:
        st, _, raw = s.http(case.get("method", "POST"), case.get("path", "/graphql"),
                            body_of(case), case.get("headers") or {})
        extra = {}
    try:
        return st, json.loads(raw), raw, extra
    except ValueError:
        return st, None, raw, extra


def code_of(b):
    try:
        return b["errors"][0]["extensions"]["code"]
    except (KeyError, IndexError, TypeError):
        return None


def verdict(case, st, b, extra):
    want_st = case["status"] if isinstance(case["status"], list) else [case["status"]]
    if st not in want_st:
        return False
    want = case["code"]
    if want == "any":
        return True
    if want == "null":
        return b is not None and not b.get("errors") and "data" in b
    if case.get("stream") and extra["body_sent"] >= case["stream"]["bytes"]:
        return False  # refused only after the whole body was sent
    return code_of(b) in want.split("|") or ("null" in want.split("|") and b is not None
                                              and not b.get("errors") and "data" in b)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def redis_cli(s, *args):
    return subprocess.run(["redis-cli", "-p", str(s.redis_port), "--raw"] + list(args),
                          capture_output=True, text=True, timeout=10).stdout


# The default rate limit (200/s, burst 400) stays on: the corpus's passes
# (some cases wait on nginx's timeouts) must not meet it.
stack_env = {"OPONN_RATE_LIMIT": "200", "OPONN_RATE_BURST": "400"}
if ASAN:
    # atexit=1: each worker prints "AddressSanitizer exit stats" when it
    # exits through exit(), where LeakSanitizer's check runs too: the proof
    # that the check ran (a SIGKILLed worker prints neither).
    stack_env["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "detect_leaks=1") + ":atexit=1"
with taplib.stack(workers=2, env=stack_env) as s:
    import pymongo
    tok = s.write_token()
    t.is_(s.oponn("migrate").returncode, 0, "oponn migrate")
    st, b, _ = taplib.gql(s, 'mutation{ createBookstore(input:{name:"Hostile Books"}) { id } }', token=tok)
    sid = b["data"]["createBookstore"]["id"]
    st, b, _ = taplib.gql(s, 'mutation($s:ID!){ createBook(input:{title:"T", authors:["A"], '
                          'bookstoreId:$s}) { id } }', {"s": sid}, token=tok)
    bid = b["data"]["createBook"]["id"]
    st, b, _ = taplib.gql(s, '{ book(id:"%s") { id title bookstore { name } } }' % bid)
    t.ok(b and b["data"]["book"], "a book and its store exist (and are cached)", b)

    # ---- refusal never reveals existence: the same answer for a known and an
    # unknown id when the token is missing or wrong
    answers = []
    for tk in (None, "wrong-token"):
        for rid in (bid, "0123456789abcdef01234567"):
            st, b, raw = taplib.gql(s, 'mutation($i:ID!){ deleteBook(id:$i) }', {"i": rid}, token=tk)
            answers.append((tk, st, raw))
            t.is_((st, code_of(b)), (401, "UNAUTHENTICATED"),
                  "deleteBook(%s) with %s: UNAUTHENTICATED" % (
                      "known id" if rid == bid else "unknown id", "no token" if tk is None else "a wrong token"))
    t.is_(len(set(answers)), 2, "known and unknown ids get byte-identical refusals (per token case)")

    mc = pymongo.MongoClient(s.mongo_uri, serverSelectionTimeoutMS=5000)
    db = mc[s.mongo_db]

    def snapshot():
        return {c: sorted((repr(sorted(d.items())) for d in db[c].find({})))
                for c in sorted(db.list_collection_names())}

    redis_cli(s, "SET", "oponn-hostile-canary", "1")
    mongo_before = snapshot()
    keys_before = set(redis_cli(s, "KEYS", "*").split())
    pids = sorted(s.worker_pids())
    t.ok(len(pids) == 2, "two workers", pids)

    # ---- the corpus, pass 1 checks every answer
    for case in CASES:
        st, b, raw, extra = run(s, case)
        todo = " # TODO " + case["todo"] if case.get("todo") else ""
        t.ok(verdict(case, st, b, extra), "%s: %s %s%s" % (case["name"], case["status"], case["code"], todo),
             "got %s %s %r" % (st, extra, raw[:300]))
    t.ok(len(CASES) >= 40, "corpus has %d cases" % len(CASES))

    t.is_(sorted(s.worker_pids()), pids, "no worker died (same pids)")

    def corpus_pass():
        for case in CASES:
            run(s, case)

    if ASAN:
        # Under ASan RSS holds the quarantine and shadow memory, which grow
        # and shrink on their own: leaks are found by LeakSanitizer instead,
        # when the workers exit gracefully (the pool's stop signal).
        corpus_pass()
        t.is_(sorted(s.worker_pids()), pids, "no worker died over one more pass")
        s.stop_service("pool", timeout=60)  # LeakSanitizer runs at exit: let it finish
        with open(s._path("logs", "pool.log"), errors="replace") as f:
            log = f.read()
        exits = log.count("AddressSanitizer exit stats")
        t.ok(exits >= len(pids) and "ERROR: LeakSanitizer" not in log
             and "ERROR: AddressSanitizer" not in log,
             "LeakSanitizer at the %d workers' exit (%d exits seen): nothing leaked by the corpus"
             % (len(pids), exits), log[log.find("ERROR: ") - 200:][:3000])
        s.start(services=("pool",))
    else:
        # Warm-up until steady: a worker keeps the capacity of the largest
        # body and answer it has handled (reused buffers), and requests
        # spread unevenly over the workers, so RSS first grows to each
        # worker's working set; only growth after that is a leak.
        rss = {p: rss_kb(p) for p in pids}
        warm, steady = 0, False
        while warm < WARM_MAX and not (steady and warm >= WARM_MIN):
            corpus_pass()
            warm += 1
            now = {p: rss_kb(p) for p in pids}
            steady = all(now[p] - rss[p] < STEADY_KB for p in pids)
            rss = now
        t.ok(steady, "worker RSS steady after %d warm-up passes (last pass < %d kB growth)"
             % (warm, STEADY_KB), rss)
        rss_warm = rss
        for _ in range(3):
            corpus_pass()
        rss_after = {p: rss_kb(p) for p in pids}
        t.is_(sorted(s.worker_pids()), pids, "no worker died over the warm-up and 3 more passes")
        t.diag("worker VmRSS kB after warm-up %s, after 3 passes %s" % (rss_warm, rss_after))
        t.ok(all(rss_after[p] - rss_warm[p] < RSS_GROWTH_KB for p in pids),
             "worker RSS flat over 3 passes (< %d kB growth)" % RSS_GROWTH_KB,
             (rss_warm, rss_after))

    t.ok(snapshot() == mongo_before, "MongoDB documents unchanged")
    keys_after = set(redis_cli(s, "KEYS", "*").split())
    t.ok(keys_before <= keys_after, "every Redis key still there (%d)" % len(keys_before),
         sorted(keys_before - keys_after)[:20])
    t.is_(redis_cli(s, "GET", "oponn-hostile-canary").strip(), "1", "Redis canary key intact")
    st, b, _ = taplib.gql(s, '{ book(id:"%s") { id title bookstore { name } } }' % bid)
    t.ok(b and b["data"]["book"]["bookstore"]["name"] == "Hostile Books", "the book still reads back", b)
    mc.close()

t.done()
