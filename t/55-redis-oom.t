#!/usr/bin/python3
# Redis out of memory (the disk-full of a cache): `CONFIG SET maxmemory` tiny
# with maxmemory-policy noeviction, so Redis refuses every write with OOM.
#  - write-through: mutations still succeed (MongoDB has them), reads answer
#    the new values, and after maxmemory is restored `oponn cache verify`
#    finds 0 mismatches;
#  - write-behind: mutations are refused UNAVAILABLE (the queue cannot take
#    them), nothing acknowledged is lost (MongoDB has every acknowledged
#    write after the drain).
# After each: maxmemory restored, /healthz 200 by itself.
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import cachestack  # noqa: E402
import taplib  # noqa: E402

mongo_names = cachestack.mongo_names

t = taplib.Tap()
code_of = cachestack.code_of
CREATE = 'mutation($n:String!){ createBookstore(input:{name:$n}) { id name } }'
UPDATE = 'mutation($id:ID!,$n:String!){ updateBookstore(id:$id, input:{name:$n}) { id name } }'
READ = 'query($id:ID!){ bookstore(id:$id) { id name } }'


def rcli(s, *args):
    r = subprocess.run(["redis-cli", "-p", str(s.redis_port)] + list(args),
                       capture_output=True, text=True)
    return r.stdout.strip()


def oom_on(s):
    rcli(s, "CONFIG", "SET", "maxmemory-policy", "noeviction")
    rcli(s, "CONFIG", "SET", "maxmemory", "1")
    return rcli(s, "SET", "oom-probe", "x")


def oom_off(s):
    rcli(s, "CONFIG", "SET", "maxmemory", "0")


def healthy(s):
    taplib._stack.wait_until(lambda: s.http("GET", "/healthz")[0] == 200, "healthz 200")
    return True


# ---- write-through
with taplib.stack(workers=2) as s:
    tok = s.write_token()
    t.is_(s.oponn("migrate").returncode, 0, "through: oponn migrate")
    ids = [taplib.gql(s, CREATE, {"n": "OOM T%d" % i}, token=tok)[1]["data"]["createBookstore"]["id"]
           for i in range(4)]
    for i in ids:  # cached
        taplib.gql(s, READ, {"id": i})
    t.ok("OOM" in oom_on(s), "through: Redis refuses writes (OOM)")
    ok_w = []
    for k, i in enumerate(ids[:2]):
        st, b, raw = taplib.gql(s, UPDATE, {"id": i, "n": "OOM T%d renamed" % k}, token=tok)
        ok_w.append(st == 200 and not b.get("errors"))
    st, b, raw = taplib.gql(s, CREATE, {"n": "OOM T new"}, token=tok)
    ok_w.append(st == 200 and not b.get("errors"))
    t.ok(all(ok_w), "through: mutations succeed while Redis is out of memory", raw)
    reads = [taplib.gql(s, READ, {"id": i})[1] for i in ids[:2] for _ in range(2)]
    names = [((b or {}).get("data") or {}).get("bookstore", {}).get("name") for b in reads]
    t.is_(names, ["OOM T0 renamed"] * 2 + ["OOM T1 renamed"] * 2,
          "through: reads answer the new names during the OOM (no stale cache)")
    oom_off(s)
    r = s.oponn("cache", "verify")
    t.ok(r.returncode == 0 and "0 mismatches" in r.stderr,
         "through: oponn cache verify 0 mismatches after maxmemory is restored",
         r.stdout + r.stderr)
    t.ok(healthy(s), "through: healthz 200 after")
    names = [taplib.gql(s, READ, {"id": i})[1]["data"]["bookstore"]["name"] for i in ids]
    t.is_(names, ["OOM T0 renamed", "OOM T1 renamed", "OOM T2", "OOM T3"],
          "through: reads after the OOM are right")

# ---- write-behind
env = {"OPONN_WRITE_MODE": "behind", "OPONN_QUEUE_BACKOFF_MS": "20"}
with taplib.stack(workers=2, env=env) as s:
    tok = s.write_token()
    t.is_(s.oponn("migrate").returncode, 0, "behind: oponn migrate")
    acked = {}
    for i in range(3):
        b = taplib.gql(s, CREATE, {"n": "OOM B%d" % i}, token=tok)[1]
        acked["OOM B%d" % i] = b["data"]["createBookstore"]["id"]
    t.ok("OOM" in oom_on(s), "behind: Redis refuses writes (OOM)")
    codes = []
    for i in range(6):
        n = "OOM B during %d" % i
        b = taplib.gql(s, CREATE, {"n": n}, token=tok)[1]
        if b and b.get("data") and b["data"].get("createBookstore"):
            acked[n] = b["data"]["createBookstore"]["id"]
        else:
            codes.append(code_of(b))
    b = taplib.gql(s, UPDATE, {"id": acked["OOM B0"], "n": "OOM B0 renamed"}, token=tok)[1]
    if b and b.get("data") and b["data"].get("updateBookstore"):
        acked["OOM B0 renamed"] = acked.pop("OOM B0")
    else:
        codes.append(code_of(b))
    t.is_(codes, ["UNAVAILABLE"] * 7, "behind: mutations refused UNAVAILABLE while Redis is OOM")
    oom_off(s)
    taplib._stack.wait_until(lambda: all(mongo_names(s).get(n) == i for n, i in acked.items()),
                             "every acknowledged write in MongoDB", timeout=30)
    got = mongo_names(s)
    t.is_({n: got.get(n) for n in acked}, acked, "behind: nothing acknowledged lost (%d writes)"
          % len(acked))
    t.ok(not any(n.startswith("OOM B during") for n in got) and "OOM B0 renamed" not in got,
         "behind: nothing refused was applied")
    t.ok(healthy(s), "behind: healthz 200 after")
    b = taplib.gql(s, CREATE, {"n": "OOM B after"}, token=tok)[1]
    t.ok(b and b.get("data") and b["data"]["createBookstore"]["name"] == "OOM B after",
         "behind: mutations accepted again", b)
t.done()
