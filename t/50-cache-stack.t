#!/usr/bin/python3
# The cache inside the repositories, through the real stack (nginx -> pool ->
# worker -> Redis + MongoDB endpoint), measured per request with
# X-Oponn-Debug: 1 (mongodbCommands, redisRoundTrips):
#   book(id) miss 1 MongoDB command, hit 0 + 1 Redis round trip; unknown ids
#   cached as negative entries; books(ids), bookstoresForBooks (100 ids: cold
#   2 MongoDB commands, warm 0 + 2 round trips), fruitBy*, a store's books and
#   bookCount from cached batches; every write patches what is cached (read
#   back with 0 MongoDB commands and compared with MongoDB itself via
#   pymongo); `oponn cache verify` finds 0 mismatches; Redis stopped: the
#   service answers from MongoDB (healthz 503 naming redis) and nothing stale
#   is served after Redis returns; MongoDB stopped: cached reads answer,
#   writes fail UNAVAILABLE fast, all works after its restart.
import datetime
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import cachestack  # noqa: E402
import pymongo  # noqa: E402
import taplib  # noqa: E402

t = taplib.Tap()

BOOK = "id title version bookstore { id }"


code_of = cachestack.code_of


# The MongoDB outage below needs an endpoint this test can stop: its own,
# whatever MONGODB_URI says. When none can run here, the rest runs against
# MONGODB_URI and the outage's tests are reported skipped.
NO_OWN_MONGO = taplib._stack.own_mongo_unavailable()
OUTAGE_TESTS = ("MongoDB down: a cached book answers", "MongoDB down: a cached batch answers",
                "MongoDB down: a write answers UNAVAILABLE",
                "the client gets no details, the worker's log has them",
                "MongoDB back: writes work again", "and are read back (write-through)",
                "oponn cache verify after the MongoDB outage: 0 mismatches")

# The exact Redis round trips below are the Redis tier's: the workers' near
# cache (L1, on by default) would answer some reads with 0 and add a sync
# round trip after writes, depending on which worker the kernel picks. So
# this pool runs without it; t/38 checks L1's costs, and the race, model and
# fault tests (t/51 to t/62) run with it on.
with taplib.stack(workers=2, own_mongo=not NO_OWN_MONGO, env={"OPONN_L1_BYTES": "0"}) as s:
    tok = s.write_token()

    def q(query, variables=None):
        """(data, errors, mongodb commands, redis round trips) of one request."""
        st, b, raw = taplib.gql(s, query, variables, headers={"X-Oponn-Debug": "1"})
        if b is None:
            return None, [{"message": raw}], -1, -1
        ext = b.get("extensions", {})
        return b.get("data"), b.get("errors"), ext.get("mongodbCommands"), ext.get("redisRoundTrips")

    def m(query, variables=None):
        st, b, _ = taplib.gql(s, query, variables, token=tok)
        return b

    def flush():
        r = s.oponn("cache", "flush")
        assert r.returncode == 0, r.stderr

    def verify(name):
        r = s.oponn("cache", "verify")
        t.ok(r.returncode == 0 and "0 mismatches" in r.stderr, name, r.stdout + r.stderr)
        return r

    t.is_(s.oponn("migrate").returncode, 0, "oponn migrate")
    mongo = pymongo.MongoClient(s.mongo_uri)
    db = mongo[s.mongo_db]

    # ---- data: 2 stores, 120 books, 30 fruit
    stores = []
    for name in ("Cache Store A", "Cache Store B", "Cache Store C"):
        stores.append(m('mutation($n:String!){ createBookstore(input:{name:$n}) { id } }',
                        {"n": name})["data"]["createBookstore"]["id"])
    books = []
    for k in range(0, 120, 60):
        doc = "mutation{" + " ".join(
            'b%d: createBook(input:{title:"T%d", authors:["A"], bookstoreId:"%s"}) { id }'
            % (i, i, stores[0] if i < 100 else stores[1]) for i in range(k, k + 60)) + "}"
        b = m(doc)
        books += [b["data"]["b%d" % i]["id"] for i in range(k, k + 60)]
    t.is_(len(books), 120, "120 books created")
    fruit = []
    for i in range(30):
        kind = "APPLE" if i % 2 else "ORANGE"
        b = m('mutation($k:FruitKind!,$b:String!,$s:Int!,$c:String!,$a:Float!){ createFruit('
              'kind:$k, input:{breed:$b, size:$s, colour:$c, acidity:$a}) { id } }',
              {"k": kind, "b": "Breed%d" % (i % 7), "s": 3 + i % 3, "c": ["red", "green"][i % 2],
               "a": 2.5 + (i % 5) / 2})
        fruit.append((kind, b["data"]["createFruit"]["id"]))

    # ---- entities: miss, hit, negative
    flush()
    d, err, mc, rt = q('query($id:ID!){ book(id:$id) { id title } }', {"id": books[0]})
    t.ok(d["book"]["id"] == books[0] and mc == 1, "book(id) miss: 1 MongoDB command",
         (d, err, mc, rt))
    d, err, mc, rt = q('query($id:ID!){ book(id:$id) { %s } }' % BOOK, {"id": books[0]})
    t.ok(d["book"]["id"] == books[0] and mc == 1 and rt == 3, "book(id) { bookstore } with the "
         "book cached: 1 MongoDB command (its store's miss), 3 round trips (hit; miss, fill)",
         (d, err, mc, rt))
    d, err, mc, rt = q('query($id:ID!){ book(id:$id) { id title version } }', {"id": books[0]})
    t.ok(d["book"]["title"] == "T0" and mc == 0 and rt == 1,
         "book(id) hit: 0 MongoDB commands, exactly 1 Redis round trip", (mc, rt))
    d, err, mc, rt = q('{ book(id:"no-such-book") { id } }')
    t.ok(d["book"] is None and mc == 1, "unknown id: 1 MongoDB command", (mc, rt))
    d, err, mc, rt = q('{ book(id:"no-such-book") { id } }')
    t.ok(d["book"] is None and mc == 0 and rt == 1, "unknown id again: a negative entry, "
         "0 MongoDB commands, 1 round trip", (mc, rt))

    # ---- books(ids) and bookstoresForBooks (100 ids)
    ids = books[:100][::-1] + ["nope"]
    d, err, mc, rt = q('query($ids:[ID!]!){ books(ids:$ids) { id } }', {"ids": ids})
    t.ok([x and x["id"] for x in d["books"]] == books[:100][::-1] + [None] and mc == 1,
         "books(101 ids) cold: input order, null for unknown, 1 MongoDB command", (mc, rt))
    d, err, mc, rt = q('query($ids:[ID!]!){ books(ids:$ids) { id } }', {"ids": ids})
    t.ok(len(d["books"]) == 101 and mc == 0 and rt == 1,
         "books(101 ids) warm: 0 MongoDB commands, 1 round trip", (mc, rt))
    flush()
    fk = 'query($ids:[ID!]!){ bookstoresForBooks(bookIds:$ids) { bookId book { id } bookstore { id } } }'
    d, err, mc, rt = q(fk, {"ids": books[:100]})
    rows = d["bookstoresForBooks"]
    t.ok(len(rows) == 100 and all(r["bookstore"]["id"] == stores[0] for r in rows),
         "bookstoresForBooks(100 ids): each book's store")
    t.ok(mc == 2 and rt == 2, "bookstoresForBooks cold: 2 MongoDB commands (books, stores) + 2 "
         "Redis round trips (batch read, batch fill with the stores)", (mc, rt))
    cold = (mc, rt)
    d, err, mc, rt = q(fk, {"ids": books[:100]})
    t.ok(d["bookstoresForBooks"] == rows and mc == 0 and rt == 2,
         "bookstoresForBooks warm: 0 MongoDB commands, 2 Redis round trips (the batch's value; "
         "one MGET of its stores)", (mc, rt))
    t.diag("bookstoresForBooks 100 ids: cold %d MongoDB + %d Redis, warm %d + %d" % (cold + (mc, rt)))

    # ---- fruit batches
    fb = 'query($s:Int!){ fruitBySize(size:$s, limit:5) { id kind breed size version } }'
    d, err, mc, rt = q(fb, {"s": 4})
    first = d["fruitBySize"]
    t.ok(len(first) == 5 and mc == 2, "fruitBySize cold: 2 MongoDB commands (apples, oranges)",
         (mc, rt))
    d, err, mc, rt = q(fb, {"s": 4})
    t.ok(d["fruitBySize"] == first and mc == 0 and rt == 1,
         "fruitBySize warm: same answer, 0 MongoDB commands, 1 round trip", (mc, rt))
    fc = '{ fruitByColour(colour:"red") { id } fruitByAcidity(min:2.5, max:3.0) { id } }'
    q(fc)
    d2, err, mc, rt = q(fc)
    t.ok(mc == 0 and rt == 2, "fruitByColour + fruitByAcidity warm: 0 MongoDB, 2 round trips",
         (mc, rt))

    # ---- a store's books and bookCount
    sb = ('query($id:ID!){ bookstore(id:$id) { bookCount books(first:10) { edges { node { id } } '
          'pageInfo { hasNextPage endCursor } } } }')
    d, err, mc, rt = q(sb, {"id": stores[0]})
    d, err, mc, rt = q(sb, {"id": stores[0]})
    bs = d["bookstore"]
    t.ok(bs["bookCount"] == 100 and [e["node"]["id"] for e in bs["books"]["edges"]]
         == sorted(books[:100])[:10] and bs["books"]["pageInfo"]["hasNextPage"],
         "a store's first page (by id) and count")
    t.ok(mc == 0 and rt == 3, "store + first page + bookCount warm: 0 MongoDB, 3 round trips",
         (mc, rt))
    d, err, mc, rt = q('query($id:ID!,$a:String){ bookstore(id:$id) { books(first:1000, after:$a) '
                       '{ edges { node { id } } } } }',
                       {"id": stores[0], "a": bs["books"]["pageInfo"]["endCursor"]})
    t.ok([e["node"]["id"] for e in d["bookstore"]["books"]["edges"]] == sorted(books[:100])[10:]
         and mc == 0, "the next page from the cached list too", mc)

    # ---- every read is cached: the bookstores connection, bookstoreByName,
    # bookCount asked alone, a store of more than 1,000 books (issue 20).
    # Each is asked twice; the second answer must cost 0 MongoDB commands.
    cold = {}

    def twice(query, variables=None, name=None):
        _, _, cmc, crt = q(query, variables)
        if name:
            cold[name] = (cmc, crt)
        return q(query, variables)

    def mongo_store_ids():
        return sorted(doc["_id"] for doc in db.bookstores.find({}, {"_id": 1}))

    def store_ids(d):
        return [e["node"]["id"] for e in d["bookstores"]["edges"]]

    warm = {}
    conn = ('query($a:String){ bookstores(first:3, after:$a) { edges { cursor node { id name } } '
            'pageInfo { hasNextPage endCursor } } }')
    big = m('mutation{ createBookstore(input:{name:"Cache Big Store"}) { id } }')
    big = big["data"]["createBookstore"]["id"]
    # its 1,050 books, inserted straight into MongoDB before anything of the
    # store is read (so nothing the cache could know of goes stale)
    now = datetime.datetime.now(datetime.timezone.utc)
    many = ["bigbook-%04d" % i for i in range(1050)]
    db.books.insert_many([{"_id": i, "title": "Big " + i, "authors": ["A"], "bookstore_id": big,
                           "nkey": "id:" + i, "version": 1, "created_at": now, "updated_at": now}
                          for i in many])
    d, err, mc, rt = twice(conn, name="bookstores(first: 3)")
    first_page = d
    t.ok(store_ids(d) == mongo_store_ids()[:3] and d["bookstores"]["pageInfo"]["hasNextPage"]
         and mc == 0, "bookstores(first: 3) warm: MongoDB's first page (by id), 0 MongoDB "
         "commands", (d, err, mc, rt))
    warm["bookstores(first: 3)"] = (mc, rt)
    cur = d["bookstores"]["pageInfo"]["endCursor"]
    d, err, mc, rt = twice(conn, {"a": cur}, name="bookstores(first: 3, after: ...)")
    t.ok(store_ids(d) == mongo_store_ids()[3:6] and mc == 0,
         "bookstores(first: 3, after: ...) warm: the next page, 0 MongoDB commands", (d, mc, rt))
    warm["bookstores(first: 3, after: ...)"] = (mc, rt)
    d, err, mc, rt = q(conn, {"a": "bm90LWEtY3Vyc29y"})
    t.ok(code_of({"errors": err}) == "BAD_USER_INPUT", "bookstores(after: a bad cursor): "
         "BAD_USER_INPUT", err)
    byname = 'query($n:String!){ bookstoreByName(name:$n) { id name } }'
    d, err, mc, rt = twice(byname, {"n": "  CACHE store-a "},
                           name='bookstoreByName(name: "cache store a")')
    t.ok(d["bookstoreByName"] == {"id": stores[0], "name": "Cache Store A"} and mc == 0,
         "bookstoreByName (normalized name) warm: 0 MongoDB commands", (d, err, mc, rt))
    warm['bookstoreByName(name: "cache store a")'] = (mc, rt)
    d, err, mc, rt = twice(byname, {"n": "Cache Store Z"}, name="bookstoreByName(name: unknown)")
    t.ok(d["bookstoreByName"] is None and not err and mc == 0,
         "bookstoreByName (unknown name) warm: a negative entry, 0 MongoDB commands",
         (d, err, mc, rt))
    warm['bookstoreByName(name: unknown)'] = (mc, rt)
    cnt = 'query($id:ID!){ bookstore(id:$id) { bookCount } }'  # store B's list: not cached yet
    d, err, mc, rt = twice(cnt, {"id": stores[1]}, name="bookstore(id) { bookCount } alone")
    t.ok(d["bookstore"]["bookCount"] == db.books.count_documents({"bookstore_id": stores[1]})
         and mc == 0, "bookstore(id) { bookCount } alone warm: 0 MongoDB commands",
         (d, err, mc, rt))
    warm["bookstore(id) { bookCount } alone"] = (mc, rt)
    d, err, mc, rt = q('query($id:ID!){ bookstore(id:$id) { books(first:5) { edges { node '
                       '{ id } } } } }', {"id": stores[1]})
    t.ok(len(d["bookstore"]["books"]["edges"]) == 5 and mc == 0,
         "bookCount alone filled the store's list: its first page costs 0 MongoDB commands",
         (d, mc))

    multi = '{ bookstores(first:100) { edges { node { id bookCount } } } }'
    d, err, mc, rt = q(multi)
    cold["bookstores(first: 100) { bookCount }"] = (mc, rt)
    want = {sid: db.books.count_documents({"bookstore_id": sid}) for sid in mongo_store_ids()}
    t.ok({e["node"]["id"]: e["node"]["bookCount"] for e in d["bookstores"]["edges"]} == want
         and mc == 1, "bookCount of every store, 2 of them (one of 1,050 books) with lists "
         "not cached: ONE MongoDB find for both", (d, err, mc, rt))
    d, err, mc, rt = q(multi)
    t.ok(len(d["bookstores"]["edges"]) == len(want) and mc == 0,
         "bookCount of every store warm: 0 MongoDB commands", (mc, rt))
    warm["bookstores(first: 100) { bookCount } of %d stores" % len(want)] = (mc, rt)

    # the 1,050-book store: pages and count
    bp = ('query($id:ID!,$a:String){ bookstore(id:$id) { books(first:1000, after:$a) { edges '
          '{ node { id } } pageInfo { hasNextPage endCursor } } } }')
    d, err, mc, rt = twice(bp, {"id": big})
    pg = d["bookstore"]["books"]
    t.ok([e["node"]["id"] for e in pg["edges"]] == many[:1000] and pg["pageInfo"]["hasNextPage"]
         and mc == 0, "a store of 1,050 books: first page of 1,000 warm, 0 MongoDB commands",
         (mc, rt, err))
    warm["bookstore(id) { books(first: 1000) } of 1,050"] = (mc, rt)
    d, err, mc, rt = twice(bp, {"id": big, "a": pg["pageInfo"]["endCursor"]})
    t.ok([e["node"]["id"] for e in d["bookstore"]["books"]["edges"]] == many[1000:] and mc == 0,
         "and its second page (50 books) warm, 0 MongoDB commands", (mc, rt, err))
    warm["bookstore(id) { books(first: 1000, after: ...) } of 1,050"] = (mc, rt)
    d, err, mc, rt = twice(cnt, {"id": big})
    t.ok(d["bookstore"]["bookCount"] == 1050 and mc == 0,
         "its bookCount alone warm: 1050, 0 MongoDB commands", (d, mc, rt))
    warm["bookstore(id) { bookCount } of 1,050"] = (mc, rt)
    nb = m('mutation($s:ID!){ createBook(input:{title:"Big+1", authors:["A"], bookstoreId:$s}) '
           '{ id } }', {"s": big})["data"]["createBook"]["id"]
    d, err, mc, rt = q(cnt, {"id": big})
    t.ok(d["bookstore"]["bookCount"] == 1051 and mc == 0,
         "a book created in it: its cached count is patched (1051, 0 MongoDB commands)", (d, mc))
    d, err, mc, rt = q(bp, {"id": big})
    d2, err, mc2, rt = q(bp, {"id": big, "a": d["bookstore"]["books"]["pageInfo"]["endCursor"]})
    got = [e["node"]["id"] for e in d["bookstore"]["books"]["edges"] +
           d2["bookstore"]["books"]["edges"]]
    t.ok(got == sorted(many + [nb]) and mc == 0 and mc2 == 0,
         "and the book is in its cached pages, in id order", (mc, mc2))

    # writes patch the cached connection and name lookups in place
    twice(conn)
    twice(byname, {"n": "Cache Store Z"})
    twice(byname, {"n": "Cache Store C"})
    twice(byname, {"n": "Cache Store Renamed"})
    z = m('mutation{ createBookstore(input:{name:"Cache Store Z"}) { id } }')
    z = z["data"]["createBookstore"]["id"]
    d, err, mc, rt = q(byname, {"n": "cache store z"})
    t.ok(d["bookstoreByName"] == {"id": z, "name": "Cache Store Z"} and mc == 0,
         "createBookstore replaces the cached negative entry of its name (0 MongoDB commands)",
         (d, mc))
    d, err, mc, rt = q(conn)
    t.ok(store_ids(d) == mongo_store_ids()[:3] and mc == 0,
         "createBookstore: the cached connection's first page is MongoDB's (0 MongoDB commands)",
         (d, mc))
    d, err, mc, rt = q(conn, {"a": first_page["bookstores"]["edges"][0]["cursor"]})
    t.ok(store_ids(d) == mongo_store_ids()[1:4] and mc == 0,
         "a cursor handed out before the write still pages from the cached list", (d, mc))
    m('mutation($id:ID!){ updateBookstore(id:$id, input:{name:"Cache Store Renamed"}) { id } }',
      {"id": stores[2]})
    d, err, mc, rt = q(byname, {"n": "Cache Store C"})
    d2, err2, mc2, rt2 = q(byname, {"n": "cache store renamed"})
    t.ok(d["bookstoreByName"] is None and d2["bookstoreByName"]["id"] == stores[2]
         and mc == 0 and mc2 == 0, "updateBookstore (rename): the old name finds nothing, the "
         "new one the store (0 MongoDB commands)", (d, d2, mc, mc2))
    d, err, mc, rt = q('{ bookstores(first:100) { edges { node { id name } } } }')
    t.ok({"id": stores[2], "name": "Cache Store Renamed"} in [e["node"] for e in
                                                               d["bookstores"]["edges"]]
         and mc == 0, "and the cached connection holds the new name", (mc,))
    m('mutation($id:ID!){ deleteBookstore(id:$id) }', {"id": z})
    d, err, mc, rt = q(byname, {"n": "Cache Store Z"})
    d2, err2, mc2, rt2 = q('{ bookstores(first:100) { edges { node { id } } } }')
    t.ok(d["bookstoreByName"] is None and store_ids(d2) == mongo_store_ids() and mc == 0
         and mc2 == 0, "deleteBookstore: gone from the name lookup and the connection "
         "(0 MongoDB commands)", (d, mc, mc2))
    verify("oponn cache verify with the new cached reads: 0 mismatches")
    for name, (wmc, wrt) in warm.items():
        t.diag("warm %s: mongodbCommands %s, redisRoundTrips %s" % (name, wmc, wrt))
    for name, (cmc, crt) in cold.items():
        t.diag("cold %s: mongodbCommands %s, redisRoundTrips %s" % (name, cmc, crt))

    # ---- write-through: every write patches what is cached
    b = m('mutation($id:ID!){ updateBook(id:$id, input:{title:"Renamed"}) { version } }',
          {"id": books[0]})
    d, err, mc, rt = q('query($id:ID!){ book(id:$id) { title version } }', {"id": books[0]})
    t.ok(d["book"] == {"title": "Renamed", "version": 2} and mc == 0,
         "updateBook: the cached book is the new version (0 MongoDB commands)", (d, mc))
    qa = 'query($a:ID!,$b:ID!){ a: bookstore(id:$a) { bookCount } b: bookstore(id:$b) { bookCount ' \
         'books(first:100) { edges { node { id } } } } }'
    q(qa, {"a": stores[0], "b": stores[1]})  # both stores' lists cached
    b = m('mutation($id:ID!,$s:ID!){ moveBook(id:$id, bookstoreId:$s) { version } }',
          {"id": books[5], "s": stores[1]})
    d, err, mc, rt = q(qa, {"a": stores[0], "b": stores[1]})
    t.ok(d["a"]["bookCount"] == 99 and d["b"]["bookCount"] == 21 and books[5] in
         [e["node"]["id"] for e in d["b"]["books"]["edges"]] and mc == 0,
         "moveBook patches both stores' cached lists and counts (0 MongoDB commands)", (d, mc))
    d, err, mc, rt = q(fk, {"ids": books[:100]})
    t.ok(d["bookstoresForBooks"][5]["bookstore"]["id"] == stores[1] and mc == 0,
         "and the cached bookstoresForBooks batch joins the new store", mc)
    kind, fid = fruit[1]
    before = [f["id"] for f in q(fb, {"s": 4})[0]["fruitBySize"]]
    m('mutation($k:FruitKind!,$id:ID!){ updateFruit(kind:$k, id:$id, input:{size:4, breed:"AAA"}) '
      '{ version } }', {"k": kind, "id": fid})
    d, err, mc, rt = q(fb, {"s": 4})
    t.ok(d["fruitBySize"][0]["id"] == fid and d["fruitBySize"][0]["breed"] == "AAA" and mc == 0,
         "updateFruit into a cached batch: inserted in sort position (0 MongoDB commands)",
         (before, d, mc))
    m('mutation($id:ID!){ deleteBook(id:$id) }', {"id": books[1]})
    d, err, mc, rt = q('query($id:ID!){ book(id:$id) { id } }', {"id": books[1]})
    t.ok(d["book"] is None and mc == 0, "deleteBook: a tombstone (0 MongoDB commands)", mc)
    d, err, mc, rt = q(fk, {"ids": books[:3]})
    t.ok(d["bookstoresForBooks"][1]["book"] is None and code_of({"errors": err}) == "NOT_FOUND",
         "deleted book: NOT_FOUND in bookstoresForBooks")
    b = m('mutation($id:ID!,$to:ID!){ deleteBookstore(id:$id, reassignTo:$to) }',
          {"id": stores[1], "to": stores[2]})
    d, err, mc, rt = q('query($c:ID!,$b:ID!){ c: bookstore(id:$c) { bookCount } b: bookstore(id:$b) '
                       '{ id } }', {"c": stores[2], "b": stores[1]})
    t.ok(b.get("data", {}).get("deleteBookstore") is True and d["c"]["bookCount"] == 21
         and d["b"] is None, "deleteBookstore with reassignment: the target's count, the store "
         "gone", (b, d))

    # ---- the cache agrees with MongoDB
    verify("oponn cache verify: 0 mismatches after the writes")

    def independent(name):
        """Each record through GraphQL (cache) vs straight from MongoDB."""
        bad = []
        for doc in db.books.find({}):
            d, _, _, _ = q('query($id:ID!){ book(id:$id) { title version bookstore { id } } }',
                           {"id": doc["_id"]})
            if d["book"] != {"title": doc["title"], "version": doc["version"],
                             "bookstore": {"id": doc["bookstore_id"]}}:
                bad.append((doc["_id"], d["book"]))
        for coll, kind in (("apples", "apple"), ("oranges", "orange")):
            for doc in db[coll].find({}):
                d, _, _, _ = q('query($id:ID!){ %s(id:$id) { size breed version } }' % kind,
                               {"id": doc["_id"]})
                if d[kind] != {"size": doc["size"], "breed": doc["breed"], "version": doc["version"]}:
                    bad.append((doc["_id"], d[kind]))
        t.ok(not bad, name, bad[:5])

    independent("every book and fruit: GraphQL (cached) == MongoDB (pymongo)")

    # ---- MongoDB stopped: cached reads answer, writes fail fast
    if NO_OWN_MONGO:
        for name in OUTAGE_TESTS:
            t.skip(name, "needs a MongoDB endpoint of its own: %s" % NO_OWN_MONGO)
    else:
        for _ in range(2):  # cached in both workers
            q('query($id:ID!){ book(id:$id) { title } }', {"id": books[3]})
            q(fb, {"s": 4})
        port = urllib.parse.urlparse(s.mongo_uri).port
        s.stop_service("mongo")
        d, err, mc, rt = q('query($id:ID!){ book(id:$id) { title } }', {"id": books[3]})
        t.ok(d and d["book"] == {"title": "T3"} and not err, "MongoDB down: a cached book answers",
             (d, err))
        d, err, mc, rt = q(fb, {"s": 4})
        t.ok(d and len(d["fruitBySize"]) == 5 and not err, "MongoDB down: a cached batch answers")
        t0 = time.monotonic()
        b = m('mutation($id:ID!){ updateBook(id:$id, input:{title:"x"}) { title } }', {"id": books[3]})
        took = time.monotonic() - t0
        # Fast: refused at once, not after the 10 s request deadline (the
        # bound leaves room for a busy machine).
        t.ok(code_of(b) == "UNAVAILABLE" and took < 8.0, "MongoDB down: a write answers UNAVAILABLE "
             "in %.1f s" % took, b)
        with open(s._path("logs", "pool.log"), errors="replace") as f:
            logged = [ln for ln in f if "Mutation.updateBook: UNAVAILABLE: MongoDB" in ln]
        t.ok(logged and "retry shortly" in b["errors"][0]["message"],
             "the client gets no details, the worker's log has them", logged[-1:])
        s.start_mongo(port=port)
        ok = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not ok:
            b = m('mutation($id:ID!){ updateBook(id:$id, input:{title:"After"}) { title } }',
                  {"id": books[3]})
            ok = bool(b.get("data") and b["data"]["updateBook"])
        t.ok(ok, "MongoDB back: writes work again", b)
        d, err, mc, rt = q('query($id:ID!){ book(id:$id) { title } }', {"id": books[3]})
        # The failed write may have reached MongoDB before it went (its reply
        # lost): then the record is held out of the cache for OPONN_CACHE_HOLD_MS
        # and read from MongoDB meanwhile; either way the new title is served.
        t.ok(d["book"]["title"] == "After" and mc in (0, 1), "and are read back (write-through)",
             (d, mc))
        verify("oponn cache verify after the MongoDB outage: 0 mismatches")

    # ---- Redis stopped: answers from MongoDB; nothing stale afterwards
    s.stop_service("redis")
    st, h, raw = s.http("GET", "/healthz")
    t.ok(st == 503 and b'"redis":"down"' in raw and b'"mongodb":"ok"' in raw,
         "healthz: 503 naming redis", raw)
    t0 = time.monotonic()
    d, err, mc, rt = q('query($id:ID!){ book(id:$id) { title } }', {"id": books[2]})
    took = time.monotonic() - t0
    # Promptly: one refused connect, no waiting on Redis timeouts; the bound
    # leaves room for a busy machine.
    t.ok(d["book"]["title"] == "T2" and mc == 1 and took < 3.0,
         "Redis down: book(id) from MongoDB, promptly (%.2f s)" % took, (d, err, mc))
    b = m('mutation($id:ID!){ updateBook(id:$id, input:{title:"While Redis was down"}) '
          '{ title version } }', {"id": books[2]})
    t.ok(b.get("data") and b["data"]["updateBook"]["title"] == "While Redis was down",
         "Redis down: mutations still work (write-through to MongoDB)", b)
    d, err, mc, rt = q(fk, {"ids": books[2:4]})
    t.ok(d and d["bookstoresForBooks"][0]["book"]["id"] == books[2] and mc == 2,
         "Redis down: bookstoresForBooks from MongoDB", (d, mc))
    s.start_redis()
    taplib.wait_until(lambda: s.http("GET", "/healthz")[0] == 200, "healthz back to 200")
    for _ in range(4):  # each worker reconnects (and starts a new epoch if it skipped a write)
        d, err, mc, rt = q('query($id:ID!){ book(id:$id) { title } }', {"id": books[2]})
        t.ok(d["book"]["title"] == "While Redis was down", "after Redis returns: the write made "
             "while it was down is what is served", d)

    verify("oponn cache verify at the end: 0 mismatches")

    # ---- purge: a change made outside oponn, then `oponn cache purge`
    # (a new client: MongoDB was restarted above, closing the old connection)
    db = pymongo.MongoClient(s.mongo_uri)[s.mongo_db]
    # Warm: until 4 reads in a row are hits, i.e. every worker is back on Redis
    # (a worker still in its reconnect back-off from the outage above reads
    # MongoDB, which is correct but would not show what purge is for).
    hits = [0]

    def warm():
        d, err, mc, rt = q('query($id:ID!){ book(id:$id) { title } }', {"id": books[5]})
        hits[0] = hits[0] + 1 if mc == 0 else 0
        return hits[0] >= 4

    taplib.wait_until(warm, "every worker reading book %s from the cache" % books[5], timeout=30)
    db.books.update_one({"_id": books[5]}, {"$set": {"title": "Changed outside"},
                                            "$inc": {"version": 1}})
    d, err, mc, rt = q('query($id:ID!){ book(id:$id) { title } }', {"id": books[5]})
    t.ok(d["book"]["title"] != "Changed outside" and mc == 0,
         "a change outside oponn is not seen by the cache (why purge exists)", d)
    r = s.oponn("cache", "purge", "books", books[5])
    d, err, mc, rt = q('query($id:ID!){ book(id:$id) { title } }', {"id": books[5]})
    t.ok(r.returncode == 0 and d["book"]["title"] == "Changed outside" and mc == 1,
         "cache purge books <id>: the record is read from MongoDB again", (r.stderr, d, mc))
    db.books.update_many({}, {"$set": {"year": 1999}, "$inc": {"version": 1}})
    r = s.oponn("cache", "purge", "books")
    d, err, mc, rt = q('query($id:ID!){ book(id:$id) { year } }', {"id": books[6]})
    t.ok(r.returncode == 0 and d["book"]["year"] == 1999 and mc == 1,
         "cache purge books: every cached book is dropped, not only the lists", (r.stderr, d, mc))
    verify("oponn cache verify after the purges: 0 mismatches")
t.done()
