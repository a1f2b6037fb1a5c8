#!/usr/bin/python3
# A MongoDB write whose outcome the worker cannot know must not leave a stale
# cache entry (write-through). The worker reaches MongoDB through a fault
# proxy that forwards a write command (MongoDB applies it) and then drops the
# reply and closes the connection: the client gets UNAVAILABLE, MongoDB has
# the new version. Before answering, the worker purges the record from the
# cache (entity, lease, every cached batch of its table); so afterwards every
# worker serves MongoDB's version and both stores' book lists are right.
# Then the same with Redis stopped at the moment of the lost reply: the purge
# cannot reach Redis, so the whole pool distrusts the cache and, once Redis
# is back (with its old data: append-only file), nothing stale is served.
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import cachestack  # noqa: E402
import faultproxy  # noqa: E402
import pymongo  # noqa: E402
import taplib  # noqa: E402

t = taplib.Tap()
code_of = cachestack.code_of
AOF = ["--appendonly", "yes", "--appendfsync", "always"]  # cached data survives a restart

CREATE_STORE = 'mutation($n:String!){ createBookstore(input:{name:$n}) { id } }'
CREATE_BOOK = ('mutation($t:String!,$s:ID!){ createBook(input:{title:$t, authors:["A"], '
               'bookstoreId:$s}) { id } }')
UPDATE = 'mutation($id:ID!,$t:String!){ updateBook(id:$id, input:{title:$t}) { id title } }'
MOVE = 'mutation($id:ID!,$s:ID!){ moveBook(id:$id, bookstoreId:$s) { id } }'
BOOK = 'query($id:ID!){ book(id:$id) { title bookstore { id } } }'
LIST = ('query($id:ID!){ bookstore(id:$id) { bookCount books(first:10) { edges { node { id } } '
        '} } }')


def data(b, field):
    return ((b or {}).get("data") or {}).get(field)


def cached(c, query, variables):
    """Read twice: the second answer comes from Redis (0 MongoDB commands)."""
    c(query, variables)
    b = c(query, variables, debug=True)
    return (b.get("extensions") or {}).get("mongodbCommands") == 0


def cached_value(s, kind, rid):
    """The stored value of entity kind:rid (any epoch), read with redis-cli."""
    def cli(*args):
        return subprocess.run(["redis-cli", "-p", str(s.redis_port)] + list(args),
                              capture_output=True, text=True, timeout=10).stdout
    keys = [k for k in cli("--scan", "--pattern", "*:%s:%s" % (kind, rid)).split()
            if k.count(":") == 2]  # P:kind:id, not a lease or an index
    return "".join(cli("GET", k) for k in keys)  # "epoch|version|n|JSON"


def lists(b):
    return (b or {}).get("bookCount"), [e["node"]["id"] for e in
                                        ((b or {}).get("books") or {}).get("edges", [])]


with taplib.stack(workers=2, services=("redis", "mongo"), redis_args=AOF) as s:
    with faultproxy.pool_behind(s) as (proxy, direct):
        tok = s.write_token()
        t.is_(s.oponn("migrate").returncode, 0, "oponn migrate through the proxy")
        mongo = pymongo.MongoClient(direct)
        db = mongo[s.mongo_db]
        c = cachestack.Client(s.http_port, tok)
        sa, sb = [c(CREATE_STORE, {"n": "Ambiguous %s" % n}, write=True)
                  ["data"]["createBookstore"]["id"] for n in "AB"]
        b1, b2, b3 = [c(CREATE_BOOK, {"t": "Old %d" % i, "s": sa}, write=True)
                      ["data"]["createBook"]["id"] for i in (1, 2, 3)]

        # ---- the reply of a write lost, Redis up
        t.ok(all(cached(c, q, v) for q, v in ((BOOK, {"id": b1}), (LIST, {"id": sa}),
                                              (LIST, {"id": sb}))),
             "book and both stores' lists cached (second read: 0 MongoDB commands)")
        proxy.drop_write_replies = True
        bu = c(UPDATE, {"id": b1, "t": "New 1"}, write=True)
        bm = c(MOVE, {"id": b1, "s": sb}, write=True)
        proxy.drop_write_replies = False
        t.is_(proxy.dropped, ["findAndModify", "findAndModify"],
              "the proxy forwarded both writes and dropped their replies")
        t.is_([code_of(bu), code_of(bm)], ["UNAVAILABLE", "UNAVAILABLE"],
              "updateBook and moveBook answer UNAVAILABLE (not INTERNAL)")
        d = db.books.find_one({"_id": b1})
        t.is_((d["title"], d["bookstore_id"]), ("New 1", sb),
              "MongoDB has the new title and store (the writes were applied)")
        got, pids = cachestack.over_every_worker(s, BOOK, {"id": b1}, "book")
        stale = [(p, a) for p, ans in got.items() for a in ans
                 if a != {"title": "New 1", "bookstore": {"id": sb}}]
        t.ok(pids <= set(got) and not stale, "every worker (%d pids, %d reads) answers the new "
             "title and store" % (len(pids), sum(map(len, got.values()))), (pids, got.keys(), stale[:4]))
        for sid, want in ((sa, (2, sorted([b2, b3]))), (sb, (1, [b1]))):
            got, pids = cachestack.over_every_worker(s, LIST, {"id": sid}, "bookstore")
            bad = [lists(a) for ans in got.values() for a in ans if lists(a) != want]
            t.ok(pids <= set(got) and not bad, "store %s's book list is right on every worker"
                 % ("A" if sid == sa else "B"), bad[:4])
        r = s.oponn("cache", "verify")
        t.ok(r.returncode == 0 and "0 mismatches" in r.stderr, "oponn cache verify: 0 mismatches",
             r.stdout + r.stderr)

        # ---- the reply of a write lost while Redis is down
        t.ok(cached(c, BOOK, {"id": b2}) and cached(c, LIST, {"id": sa}),
             "book 2 and store A's list cached")
        s.stop_service("redis")
        proxy.drop_write_replies = True
        bu = c(UPDATE, {"id": b2, "t": "New 2"}, write=True)
        proxy.drop_write_replies = False
        t.is_((code_of(bu), proxy.dropped[2:]), ("UNAVAILABLE", ["findAndModify"]),
              "Redis down: updateBook's reply lost, UNAVAILABLE")
        t.is_(db.books.find_one({"_id": b2})["title"], "New 2", "MongoDB has the new title")
        s.start(services=("redis",))
        taplib.wait_until(lambda: s.http("GET", "/healthz")[0] == 200, "healthz 200 with Redis back",
                          timeout=20)
        t.ok("Old 2" in cached_value(s, "books", b2),
             "Redis is back with its old data: book 2's old version still stored")
        got, pids = cachestack.over_every_worker(s, BOOK, {"id": b2}, "book")
        stale = [(p, a) for p, ans in got.items() for a in ans
                 if a != {"title": "New 2", "bookstore": {"id": sa}}]
        t.ok(pids <= set(got) and not stale, "Redis back: every worker (%d reads) answers the new "
             "title, nothing stale served" % sum(map(len, got.values())), (pids, stale[:4]))
        r = s.oponn("cache", "verify")
        t.ok(r.returncode == 0 and "0 mismatches" in r.stderr,
             "oponn cache verify after Redis is back: 0 mismatches", r.stdout + r.stderr)
        mongo.close()
t.done()
