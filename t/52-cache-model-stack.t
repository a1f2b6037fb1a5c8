#!/usr/bin/python3
# The normalized cache through the real stack:
#  - an update touching K = 1, 10, 100 cached batches costs exactly ONE
#    EVALSHA (Redis INFO commandstats) and one Redis round trip
#    (X-Oponn-Debug), whatever K;
#  - the model-based randomized test (issue 6) against MongoDB: seeded
#    random creates/updates/moves/deletes of books, stores and fruit mixed
#    with every cached query kind with random arguments, each query's
#    GraphQL answer (through the cache) compared with MongoDB (pymongo) at
#    that moment; then `oponn cache verify`; the share of affected batches
#    patched in place (vs dropped) is reported from `oponn cache stats`.
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import cachestack  # noqa: E402
import pymongo  # noqa: E402
import taplib  # noqa: E402

t = taplib.Tap()
SEED = int(os.environ.get("OPONN_TEST_SEED", random.randrange(1 << 30)))
OPS = int(os.environ.get("OPONN_TEST_OPS", 3000 if cachestack.QUICK else 10000))
t.diag("seed %d, %d operations (OPONN_TEST_SEED / OPONN_TEST_OPS reproduce)" % (SEED, OPS))
rng = random.Random(SEED)


def evalsha_calls(port):
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", "commandstats"],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("cmdstat_evalsha:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


def stats(s):
    out = {}
    for line in s.oponn("cache", "stats").stdout.splitlines():
        k, _, v = line.partition("=")
        out[k.strip()] = v.strip()
    return out


BREEDS = ["Braeburn", "Fuji", "Gala", "Navel", "Valencia", "Blood"]
COLOURS = ["red", "green", "yellow"]
FF = cachestack.FRUIT_FIELDS


with taplib.stack(workers=2) as s:
    token = s.write_token()
    t.is_(s.oponn("migrate").returncode, 0, "oponn migrate")
    c = cachestack.Client(s.http_port, token)
    db = pymongo.MongoClient(s.mongo_uri)[s.mongo_db]

    # ---- one update, K cached batches, one script call
    x = c('mutation{ createFruit(kind:APPLE, input:{breed:"K", size:999, colour:"k", acidity:1}) '
          '{ id } }', write=True)["data"]["createFruit"]["id"]
    for k in (1, 10, 100):
        for limit in range(1, k + 1):  # K distinct cached batches holding x
            c('query($l:Int!){ fruitBySize(size:999, limit:$l) { id } }', {"l": limit})
            c('query($l:Int!){ fruitBySize(size:999, limit:$l) { id } }', {"l": limit})
        before = evalsha_calls(s.redis_port)
        b = c('mutation($id:ID!,$b:String!){ updateFruit(kind:APPLE, id:$id, input:{breed:$b}) '
              '{ version } }', {"id": x, "b": "K%d" % k}, debug=True, write=True)
        after = evalsha_calls(s.redis_port)
        t.ok(after - before == 1 and b["extensions"]["redisRoundTrips"] == 1,
             "an update touching %d cached batches: exactly 1 EVALSHA, 1 Redis round trip" % k,
             (after - before, b))
        d = c('{ fruitBySize(size:999, limit:1) { breed } }', debug=True)
        t.ok(d["data"]["fruitBySize"] == [{"breed": "K%d" % k}]
             and d["extensions"]["mongodbCommands"] == 0, "and the cached batch shows it "
             "(0 MongoDB commands)", d)
    c('mutation($id:ID!){ deleteFruit(kind:APPLE, id:$id) }', {"id": x}, write=True)

    # ---- the model-based randomized test against MongoDB
    st0 = stats(s)
    stores = [c('mutation($n:String!){ createBookstore(input:{name:$n}) { id } }',
                {"n": "Model %d" % i}, write=True)["data"]["createBookstore"]["id"]
              for i in range(4)]
    books, fruit = [], []
    mismatches = []
    counts = {"writes": 0, "queries": 0, "errors": 0}

    def truth_fruit(flt, limit):
        return cachestack._fruit_truth(db, flt, limit)

    def expect(name, got, want, args):
        if got != want:
            mismatches.append("%s %r: graphql %r, mongodb %r" % (name, args, got, want))

    def rand_fruit_input():
        return {"breed": rng.choice(BREEDS), "size": rng.randint(1, 5),
                "colour": rng.choice(COLOURS), "acidity": rng.randint(0, 14) / 2}

    t0 = time.monotonic()
    for op in range(OPS):
        r = rng.random()
        if r < 0.5:  # ---- a write
            counts["writes"] += 1
            w = rng.random()
            if w < 0.15 or len(books) < 5:
                b = c('mutation($t:String!,$s:ID!){ createBook(input:{title:$t, authors:["A"], '
                      'bookstoreId:$s}) { id } }', {"t": "m%d" % op, "s": rng.choice(stores)},
                      write=True)
                books.append(b["data"]["createBook"]["id"])
            elif w < 0.3 or len(fruit) < 5:
                kind = rng.choice(["APPLE", "ORANGE"])
                b = c('mutation($k:FruitKind!,$i:FruitInput!){ createFruit(kind:$k, input:$i) '
                      '{ id } }', {"k": kind, "i": rand_fruit_input()}, write=True)
                fruit.append((kind, b["data"]["createFruit"]["id"]))
            elif w < 0.55:
                kind, fid = rng.choice(fruit)
                patch = {k: v for k, v in rand_fruit_input().items() if rng.random() < 0.5}
                b = c('mutation($k:FruitKind!,$id:ID!,$i:FruitPatch!){ updateFruit(kind:$k, '
                      'id:$id, input:$i) { id } }', {"k": kind, "id": fid, "i": patch}, write=True)
            elif w < 0.62:
                kind, fid = fruit.pop(rng.randrange(len(fruit)))
                b = c('mutation($k:FruitKind!,$id:ID!){ deleteFruit(kind:$k, id:$id) }',
                      {"k": kind, "id": fid}, write=True)
            elif w < 0.75:
                b = c('mutation($id:ID!,$t:String!){ updateBook(id:$id, input:{title:$t}) { id } }',
                      {"id": rng.choice(books), "t": "u%d" % op}, write=True)
            elif w < 0.9:
                b = c('mutation($id:ID!,$s:ID!){ moveBook(id:$id, bookstoreId:$s) { id } }',
                      {"id": rng.choice(books), "s": rng.choice(stores)}, write=True)
            elif w < 0.98:
                b = c('mutation($id:ID!){ deleteBook(id:$id) }',
                      {"id": books.pop(rng.randrange(len(books)))}, write=True)
            else:  # a store goes, its books reassigned; a new one comes
                gone = stores.pop(rng.randrange(len(stores)))
                b = c('mutation($id:ID!,$to:ID!){ deleteBookstore(id:$id, reassignTo:$to) }',
                      {"id": gone, "to": rng.choice(stores)}, write=True)
                stores.append(c('mutation($n:String!){ createBookstore(input:{name:$n}) { id } }',
                                {"n": "Model %d" % (op + 10)}, write=True)
                              ["data"]["createBookstore"]["id"])
            if b.get("errors"):
                counts["errors"] += 1
                mismatches.append("write failed: %r" % b["errors"])
            continue
        # ---- a query, compared with MongoDB now
        counts["queries"] += 1
        k = rng.random()
        if k < 0.2:
            size, limit = rng.randint(1, 5), rng.choice([1, 2, 3, 5, 100])
            got = c('query($s:Int!,$l:Int!){ r: fruitBySize(size:$s, limit:$l) { %s } }' % FF,
                    {"s": size, "l": limit})["data"]["r"]
            expect("fruitBySize", got, truth_fruit({"size": size}, limit), (size, limit))
        elif k < 0.35:
            colour, limit = rng.choice(COLOURS), rng.choice([1, 2, 4, 100])
            got = c('query($c:String!,$l:Int!){ r: fruitByColour(colour:$c, limit:$l) { %s } }'
                    % FF, {"c": colour, "l": limit})["data"]["r"]
            expect("fruitByColour", got, truth_fruit({"colour": colour}, limit), (colour, limit))
        elif k < 0.45:
            lo = rng.randint(0, 14) / 2
            hi = lo + rng.randint(0, 6) / 2
            limit = rng.choice([2, 5, 100])
            got = c('query($a:Float!,$b:Float!,$l:Int!){ r: fruitByAcidity(min:$a, max:$b, '
                    'limit:$l) { %s } }' % FF, {"a": lo, "b": hi, "l": limit})["data"]["r"]
            expect("fruitByAcidity", got,
                   truth_fruit({"acidity": {"$gte": lo, "$lte": hi}}, limit), (lo, hi, limit))
        elif k < 0.6 and books:
            ids = rng.sample(books, min(len(books), rng.randint(1, 6)))
            if rng.random() < 0.2:
                ids.append("gone-%d" % rng.randrange(3))
            got = c('query($ids:[ID!]!){ bookstoresForBooks(bookIds:$ids) { bookId book { title '
                    'version } bookstore { id } } }', {"ids": ids})["data"]["bookstoresForBooks"]
            want = []
            for i in ids:
                d = db.books.find_one({"_id": i})
                want.append({"bookId": i, "book": d and {"title": d["title"], "version": d["version"]},
                             "bookstore": d and {"id": d["bookstore_id"]}})
            expect("bookstoresForBooks", got, want, ids)
        elif k < 0.7 and books:
            ids = rng.sample(books, min(len(books), rng.randint(1, 6))) + ["gone"]
            got = c('query($ids:[ID!]!){ books(ids:$ids) { id title version } }',
                    {"ids": ids})["data"]["books"]
            want = []
            for i in ids:
                d = db.books.find_one({"_id": i})
                want.append(d and {"id": i, "title": d["title"], "version": d["version"]})
            expect("books", got, want, ids)
        elif k < 0.85:
            sid = rng.choice(stores)
            got = c('query($id:ID!){ bookstore(id:$id) { bookCount books(first:1000) { edges { '
                    'node { id version } } } } }', {"id": sid})["data"]["bookstore"]
            docs = sorted(db.books.find({"bookstore_id": sid}), key=lambda d: d["_id"].encode())
            want = {"bookCount": len(docs), "books": {"edges": [
                {"node": {"id": d["_id"], "version": d["version"]}} for d in docs]}}
            expect("bookstore books", got, want, sid)
        elif books:
            bid = rng.choice(books)
            got = c('query($id:ID!){ book(id:$id) { title version bookstore { id } } }',
                    {"id": bid})["data"]["book"]
            d = db.books.find_one({"_id": bid})
            expect("book", got, {"title": d["title"], "version": d["version"],
                                 "bookstore": {"id": d["bookstore_id"]}}, bid)
        if len(mismatches) > 20:
            break
    took = time.monotonic() - t0
    t.diag("%d operations in %.1f s: %d writes, %d queries compared with MongoDB"
           % (OPS, took, counts["writes"], counts["queries"]))
    if mismatches:  # on stderr too: prove shows it, so a failure in `make test` explains itself
        print("t/52 seed %d: %s" % (SEED, "\n".join(m[:600] for m in mismatches[:10])),
              file=sys.stderr)
    t.ok(not mismatches, "model test: %d operations, 0 mismatches between the cached answers and "
         "MongoDB (seed %d)" % (OPS, SEED), "\n".join(mismatches[:20]))
    v = s.oponn("cache", "verify")
    t.ok(v.returncode == 0 and "0 mismatches" in v.stderr, "then oponn cache verify: 0 mismatches",
         v.stdout[-2000:] + v.stderr)
    t.diag(v.stderr.strip())
    st1 = stats(s)

    def delta(name):
        return int(st1.get(name, 0) or 0) - int(st0.get(name, 0) or 0)

    p, i, rm, dr = delta("patched"), delta("inserted"), delta("removed"), delta("dropped")
    total = p + i + rm + dr
    share = 100.0 * (total - dr) / total if total else 0.0
    t.diag("batch reconciliations: %d (patched %d, inserted-into %d, removed-from %d, dropped %d): "
           "%.1f%% kept right in place, %.1f%% dropped" % (total, p, i, rm, dr, share, 100 - share))
    t.ok(total > 0 and share >= 90.0, "at least 90%% of affected batches patched in place "
         "(%.1f%%)" % share, st1)
t.done()
