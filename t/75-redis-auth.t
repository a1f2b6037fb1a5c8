#!/usr/bin/python3
# Redis AUTH (issue 17): a redis-server with --requirepass and an ACL user.
#   - the right password (OPONN_REDIS_PASSWORD, or in the URL, percent-encoded,
#     or an ACL user's user:password) works end to end: a query through
#     nginx -> worker is cached (second read: 0 MongoDB commands), /healthz
#     200, the write-behind writer applies a mutation and logs its queue stats
#     line (the CloudWatch metric filters' input, infra/alarms.yaml);
#   - a wrong or missing password gives a clear error (CLI exit status and
#     message; /healthz 503 naming redis and the refused credentials) while
#     queries still answer from MongoDB;
#   - rediss:// and malformed URLs are refused with a message that names the fix;
#   - no password ever appears in a log of either stack, in `oponn config`, in
#     a CLI's output or error, or in a /healthz body.
import json
import os
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import taplib  # noqa: E402

t = taplib.Tap()

PW = "pw-Q7c2-correct-horse"          # the default user's (requirepass)
ACL_PW = "acl@pw/Z9:x"                # an ACL user's; @ / : must be %-encoded in a URL
ACL_PW_URL = "acl%40pw%2FZ9%3Ax"
WRONG = "pw-W4rong-battery-staple"
SECRETS = (PW, ACL_PW, ACL_PW_URL, WRONG)
seen = []  # every text the tests saw: checked for the passwords at the end


def leaks(text):
    return [p for p in SECRETS if p in text]


def redis_cmd(port, *args):
    """One command per connection, RESP-encoded, after AUTH with PW."""
    def enc(*a):
        return b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in
                                                 (s.encode() for s in a))
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(enc("AUTH", PW) + enc(*args))
        data = b""
        while data.count(b"\r\n") < 2:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace").split("\r\n")[1]


def cli(s, url=None, password=None, *args):
    env = s.env()
    env.pop("OPONN_REDIS_PASSWORD", None)
    if url is not None:
        env["OPONN_REDIS_URL"] = url
    if password is not None:
        env["OPONN_REDIS_PASSWORD"] = password
    r = subprocess.run([os.path.join(s.build_dir, "oponn")] + list(args or ("cache", "stats")),
                       env=env, capture_output=True, text=True, timeout=30)
    seen.append(r.stdout + r.stderr)
    return r


def stack_logs(s):
    out = []
    logs = os.path.join(s.run_dir, "logs")
    for name in sorted(os.listdir(logs)):
        with open(os.path.join(logs, name), errors="replace") as f:
            out.append((name, f.read()))
    return out


def debug_query(s, doc, variables=None):
    st, b, raw = taplib.gql(s, doc, variables, headers={"X-Oponn-Debug": "1"})
    seen.append(raw.decode(errors="replace"))
    return st, b


# ---- 1. the right password ------------------------------------------------------
env = {"OPONN_REDIS_PASSWORD": PW, "OPONN_WRITE_MODE": "behind", "OPONN_QUEUE_STATS_S": "1"}
with taplib.stack(workers=2, env=env, redis_args=["--requirepass", PW]) as s:
    port = s.redis_port
    t.is_(redis_cmd(port, "ACL", "SETUSER", "oponn", "on", ">" + ACL_PW, "~*", "&*", "+@all"), "+OK",
          "ACL user oponn created")
    r = subprocess.run([os.path.join(s.build_dir, "oponn"), "config"], env=s.env(),
                       capture_output=True, text=True, timeout=30)
    seen.append(r.stdout + r.stderr)
    t.ok(r.returncode == 0 and "OPONN_REDIS_PASSWORD" in r.stdout and not leaks(r.stdout + r.stderr),
         "oponn config lists OPONN_REDIS_PASSWORD without its value")
    t.is_(s.oponn("migrate").returncode, 0, "oponn migrate")

    st, body, raw = taplib.gql(s, 'mutation{ createBookstore(input:{name:"Auth Store"}) { id } }',
                               token=s.write_token())
    sid = ((body or {}).get("data") or {}).get("createBookstore", {}).get("id")
    t.ok(st == 200 and sid, "a mutation (write-behind, queued in Redis) answers", raw)
    q = "query($id:ID!){ bookstore(id:$id) { id name } }"
    debug_query(s, q, {"id": sid})
    st, b = debug_query(s, q, {"id": sid})
    ext = (b or {}).get("extensions", {})
    # A hit from Redis, or from the worker's L1, which holds only what Redis
    # gave it over the authenticated connection (with upstream keep-alive the
    # same worker answers both reads, so it is usually L1).
    t.ok(st == 200 and b["data"]["bookstore"]["name"] == "Auth Store" and ext.get("mongodbCommands") == 0
         and (ext.get("redisRoundTrips", 0) >= 1 or ext.get("l1Hits", 0) >= 1),
         "through the stack with AUTH, the second read is a cache hit (0 MongoDB commands)", b)
    st, _, hz = s.http("GET", "/healthz")
    seen.append(hz.decode(errors="replace"))
    t.ok(st == 200 and json.loads(hz)["redis"] == "ok", "/healthz 200, redis ok", hz)

    # the writer applied the queued write and logs the stats line
    writer_log = os.path.join(s.run_dir, "logs", "writer.log")

    def stats_line():
        with open(writer_log, errors="replace") as f:
            for line in f:
                if line.startswith('{"oponn_queue":'):
                    d = json.loads(line)["oponn_queue"]
                    if d["length"] == 0:
                        return d
        return None
    taplib.wait_until(lambda: stats_line() is not None, "writer stats line with an empty queue",
                      timeout=20)
    d = stats_line()
    t.ok(set(d) == {"length", "pending", "dead", "lag_ms"} and d["dead"] == 0,
         "oponn-writer logs {\"oponn_queue\":{length, pending, dead, lag_ms}} (queue drained)", d)

    url = "redis://127.0.0.1:%d" % port
    r = cli(s, url, PW)
    t.ok(r.returncode == 0, "CLI: OPONN_REDIS_PASSWORD", r.stderr)
    r = cli(s, "redis://:%s@127.0.0.1:%d/0" % (PW, port))
    t.ok(r.returncode == 0, "CLI: redis://:password@host:port/0", r.stderr)
    r = cli(s, "redis://oponn:%s@127.0.0.1:%d" % (ACL_PW_URL, port))
    t.ok(r.returncode == 0, "CLI: ACL user, redis://user:%%-encoded password@host:port", r.stderr)
    r = cli(s, "redis://oponn:%s@127.0.0.1:%d/1" % (ACL_PW, port))
    t.ok(r.returncode == 0, "CLI: ACL user, the same password unencoded (@ / : in it; the last @ ends it)", r.stderr)
    r = cli(s, "http://:%s@127.0.0.1:%d" % (PW, port))
    t.ok(r.returncode != 0 and "expected redis://" in r.stderr and "http://:***@127.0.0.1" in r.stderr,
         "CLI: another scheme is refused, its password redacted too", r.stderr)
    r = cli(s, "redis://oponn@127.0.0.1:%d" % port, ACL_PW)
    t.ok(r.returncode == 0, "CLI: ACL user in the URL, its password from OPONN_REDIS_PASSWORD", r.stderr)

    r = cli(s, url, WRONG)
    t.ok(r.returncode != 0 and "refused the credentials" in r.stderr and "OPONN_REDIS_PASSWORD" in r.stderr,
         "CLI: a wrong password fails with a clear error", r.stderr)
    r = cli(s, "redis://oponn:%s@127.0.0.1:%d" % (WRONG, port))
    t.ok(r.returncode != 0 and "refused the credentials of user oponn" in r.stderr,
         "CLI: an ACL user's wrong password fails, naming the user", r.stderr)
    r = cli(s, url)
    t.ok(r.returncode != 0 and "NOAUTH" in r.stderr, "CLI: no password: Redis' NOAUTH is shown", r.stderr)
    r = cli(s, "redis://oponn@127.0.0.1:%d" % port)
    t.ok(r.returncode != 0 and "no password is given" in r.stderr, "CLI: a user without a password is refused",
         r.stderr)
    r = cli(s, "rediss://:%s@127.0.0.1:%d" % (PW, port))
    t.ok(r.returncode != 0 and "etc/redis-tls.sh" in r.stderr and "rediss://:***@127.0.0.1" in r.stderr,
         "CLI: rediss:// is parsed and refused, naming the TLS tunnel, password redacted", r.stderr)
    r = cli(s, "redis://:%s%%zz@127.0.0.1:%d" % (PW, port))
    t.ok(r.returncode != 0 and "bad password" in r.stderr, "CLI: a malformed %-escape is refused", r.stderr)
    r = cli(s, "redis://:%s@127.0.0.1:99999" % PW)
    t.ok(r.returncode != 0 and "bad port" in r.stderr, "CLI: a bad port is refused (password redacted)",
         r.stderr)
    logs = stack_logs(s)

bad = [(n, leaks(text)) for n, text in logs if leaks(text)]
t.is_(bad, [], "no password in any log of the stack (%s)" % ", ".join(n for n, _ in logs))

# ---- 2. the workers have the wrong password, in the URL -----------------------------
# (the writer, write-behind, logs the URL it uses: redacted)
rport = taplib._stack.free_port()
env = {"OPONN_REDIS_URL": "redis://:%s@127.0.0.1:%d" % (WRONG, rport), "OPONN_WRITE_MODE": "behind"}
with taplib.stack(workers=1, env=env, redis_port=rport, redis_args=["--requirepass", PW]) as s:
    t.is_(s.oponn("migrate").returncode, 0, "oponn migrate (MongoDB only)")
    writer_log = os.path.join(s.run_dir, "logs", "writer.log")
    taplib.wait_until(lambda: "consumer" in open(writer_log).read(), "writer start line")
    t.ok("on redis://:***@127.0.0.1:%d" % rport in open(writer_log).read(),
         "oponn-writer logs the Redis URL with the password redacted")
    st, _, hz = s.http("GET", "/healthz")
    seen.append(hz.decode(errors="replace"))
    h = json.loads(hz)
    t.ok(st == 503 and h["redis"] == "down" and "refused the credentials" in h["errors"]["redis"],
         "wrong password: /healthz 503, redis down, saying the credentials were refused", hz)
    st, b = debug_query(s, "{ bookstores(first: 1) { edges { node { id } } } }")
    t.ok(st == 200 and not (b or {}).get("errors"), "queries still answer (from MongoDB)", b)
    st, _, hz = s.http("GET", "/healthz")  # during the back-off: the reason is kept
    seen.append(hz.decode(errors="replace"))
    t.ok(st == 503 and "refused the credentials" in json.loads(hz)["errors"]["redis"],
         "the next /healthz (back-off) still says why", hz)
    logs = stack_logs(s)
bad = [(n, leaks(text)) for n, text in logs if leaks(text)]
t.is_(bad, [], "no password in any log of the wrong-password stack")

# ---- 3. etc/redis-tls.sh keeps user, password and database out of stunnel ------------
# (a stand-in stunnel records its config; t/74 runs the real one)
with tempfile.TemporaryDirectory(prefix="oponn-t-tls-") as d:
    os.mkdir(os.path.join(d, "bin"))
    with open(os.path.join(d, "bin", "stunnel"), "w") as f:
        f.write("#!/bin/sh\ncp \"$1\" \"$TMPDIR/seen.conf\"\n")
    os.chmod(os.path.join(d, "bin", "stunnel"), 0o755)
    for url, want in (("rediss://oponn:%s@cache.example:6390/2" % ACL_PW_URL,
                       "redis://oponn:%s@127.0.0.1:6399/2" % ACL_PW_URL),
                      ("rediss://cache.example", "redis://127.0.0.1:6399")):
        env = dict(os.environ, PATH=os.path.join(d, "bin") + ":" + os.environ["PATH"], TMPDIR=d,
                   OPONN_REDIS_URL=url, OPONN_REDIS_TLS_LOCAL_PORT="6399")
        r = subprocess.run(["sh", "-c", '. "$1"; oponn_redis_tls; echo "$OPONN_REDIS_URL"', "sh",
                            os.path.join(taplib.ROOT, "etc", "redis-tls.sh")],
                           env=env, capture_output=True, text=True, timeout=30)
        with open(os.path.join(d, "seen.conf")) as f:
            conf = f.read()
        t.ok(r.stdout.strip() == want and "connect = cache.example:%s" % ("6390" if "6390" in url else "6379")
             in conf and "checkHost = cache.example" in conf and not leaks(conf),
             "redis-tls.sh: %s -> %s, stunnel gets host:port only" % (url.replace(ACL_PW_URL, "***"),
                                                                     want.replace(ACL_PW_URL, "***")),
             r.stdout + r.stderr + conf)

bad = [x[:200] for x in seen if leaks(x)]
t.is_(bad, [], "no password in any CLI output, error, GraphQL answer or /healthz body (%d texts)" % len(seen))
t.done()
