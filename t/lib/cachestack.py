"""t/lib/cachestack.py — helpers of the t/5x cache-through-the-stack tests.

A small keep-alive GraphQL client (one per process), data seeding, and the
independent check: every record and every fruit query kind read through
GraphQL (so through the cache) compared with MongoDB read by pymongo.
"""
import http.client
import json
import os

QUICK = "asan" in (os.environ.get("OPONN_BUILD_DIR") or "")  # sanitizer build: shorter runs


class Client:
    """POSTs GraphQL to the stack over one keep-alive connection."""

    def __init__(self, port, token=None):
        self.port = port
        self.token = token
        self.conn = None
        self.status = None  # HTTP status of the last answer (502 from nginx is JSON too)

    def __call__(self, query, variables=None, debug=False, write=False):
        body = json.dumps({"query": query, "variables": variables or {}})
        h = {"content-type": "application/json"}
        if debug:
            h["X-Oponn-Debug"] = "1"
        if write:
            h["authorization"] = "Bearer " + self.token
        for attempt in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.conn.request("POST", "/graphql", body, h)
                r = self.conn.getresponse()
                raw = r.read()
                self.status = r.status
                try:
                    return json.loads(raw)
                except ValueError:
                    return {"errors": [{"message": raw.decode(errors="replace")}]}
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt == 2:
                    raise
        return None


def code_of(body, i=0):
    try:
        return body["errors"][i]["extensions"]["code"]
    except (KeyError, IndexError, TypeError):
        return None


def seed(c, nstores=3, nbooks=20, nfruit=20):
    """Creates stores, books and fruit; returns (stores, books, [(kind, id)])."""
    stores = [c('mutation($n:String!){ createBookstore(input:{name:$n}) { id } }',
                {"n": "Hot Store %d" % i}, write=True)["data"]["createBookstore"]["id"]
              for i in range(nstores)]
    books = [c('mutation($t:String!,$s:ID!){ createBook(input:{title:$t, authors:["A"], '
               'bookstoreId:$s}) { id } }', {"t": "Hot %d" % i, "s": stores[i % nstores]},
               write=True)["data"]["createBook"]["id"] for i in range(nbooks)]
    fruit = []
    for i in range(nfruit):
        kind = "APPLE" if i % 2 else "ORANGE"
        b = c('mutation($k:FruitKind!,$b:String!,$s:Int!,$c:String!,$a:Float!){ createFruit('
              'kind:$k, input:{breed:$b, size:$s, colour:$c, acidity:$a}) { id } }',
              {"k": kind, "b": "B%d" % (i % 5), "s": 1 + i % 4, "c": COLOURS[i % 3],
               "a": float(i % 7)}, write=True)
        fruit.append((kind, b["data"]["createFruit"]["id"]))
    return stores, books, fruit


COLOURS = ("red", "green", "yellow")
FRUIT_FIELDS = "id kind breed size colour acidity version"


def fruit_queries():
    """Every fruit query kind over the hot set's values: (query, variables)."""
    out = []
    for size in range(1, 5):
        for limit in (3, 100):
            out.append(('query($s:Int!,$l:Int!){ r: fruitBySize(size:$s, limit:$l) { %s } }'
                        % FRUIT_FIELDS, {"s": size, "l": limit}))
    for colour in COLOURS:
        out.append(('query($c:String!){ r: fruitByColour(colour:$c, limit:4) { %s } }'
                    % FRUIT_FIELDS, {"c": colour}))
    out.append(('query{ r: fruitByAcidity(min:1, max:4.5, limit:5) { %s } }' % FRUIT_FIELDS, {}))
    return out


def _fruit_truth(db, flt, limit):
    docs = []
    for coll, kind in (("apples", "APPLE"), ("oranges", "ORANGE")):
        for d in db[coll].find(flt):
            docs.append({"id": d["_id"], "kind": kind, "breed": d["breed"], "size": d["size"],
                         "colour": d["colour"], "acidity": float(d["acidity"]),
                         "version": d["version"]})
    docs.sort(key=lambda d: (d["breed"].encode(), d["id"].encode()))
    return docs[:limit]


def independent_check(c, db):
    """Mismatches between GraphQL (through the cache) and MongoDB (pymongo):
    every book (title, version, store), every fruit, every store's book list
    and count, every fruit query kind. Returns a list of descriptions."""
    bad = []
    for d in db.books.find({}):
        got = c('query($id:ID!){ book(id:$id) { title version bookstore { id } } }',
                {"id": d["_id"]})["data"]["book"]
        want = {"title": d["title"], "version": d["version"], "bookstore": {"id": d["bookstore_id"]}}
        if got != want:
            bad.append("book %s: graphql %r, mongodb %r" % (d["_id"], got, want))
    for coll, kind in (("apples", "apple"), ("oranges", "orange")):
        for d in db[coll].find({}):
            got = c('query($id:ID!){ f: %s(id:$id) { breed size colour version } }' % kind,
                    {"id": d["_id"]})["data"]["f"]
            want = {"breed": d["breed"], "size": d["size"], "colour": d["colour"],
                    "version": d["version"]}
            if got != want:
                bad.append("%s %s: graphql %r, mongodb %r" % (kind, d["_id"], got, want))
    for s in db.bookstores.find({}):
        got = c('query($id:ID!){ bookstore(id:$id) { bookCount books(first:1000) { edges { node '
                '{ id } } } } }', {"id": s["_id"]})["data"]["bookstore"]
        ids = sorted((b["_id"] for b in db.books.find({"bookstore_id": s["_id"]})),
                     key=lambda x: x.encode())
        if got["bookCount"] != len(ids) or [e["node"]["id"] for e in got["books"]["edges"]] != ids:
            bad.append("store %s: graphql %r, mongodb %r" % (s["_id"], got, ids))
    for query, v in fruit_queries():
        got = c(query, v)["data"]["r"]
        if "fruitBySize" in query:
            want = _fruit_truth(db, {"size": v["s"]}, v["l"])
        elif "fruitByColour" in query:
            want = _fruit_truth(db, {"colour": v["c"]}, 4)
        else:
            want = _fruit_truth(db, {"acidity": {"$gte": 1, "$lte": 4.5}}, 5)
        if got != want:
            bad.append("%s %r: graphql %r, mongodb %r" % (query.split("{")[1][:30], v, got, want))
    return bad


def over_every_worker(s, query, variables, field, clients=4, rounds=50):
    """Reads `field` until every worker of the pool has answered at least
    once (`clients` requests at a time, so more than one worker is busy;
    at most `rounds` rounds). Returns ({worker pid: [answers]}, pids)."""
    import concurrent.futures
    pids = set(s.worker_pids())
    got = {}
    cs = [Client(s.http_port) for _ in range(clients)]
    with concurrent.futures.ThreadPoolExecutor(clients) as ex:
        for _ in range(rounds):
            for b in ex.map(lambda c: c(query, variables, debug=True), cs):
                pid = ((b or {}).get("extensions") or {}).get("workerPid")
                got.setdefault(pid, []).append(((b or {}).get("data") or {}).get(field))
            if pids <= set(got):
                break
    return got, pids


def mongo_names(s):
    """{bookstore name: id} straight from MongoDB (pymongo), for the
    "nothing acknowledged lost" checks."""
    import pymongo
    m = pymongo.MongoClient(s.mongo_uri)
    try:
        db = m[s.mongo_db]
        return {d["name"]: str(d["_id"]) for d in db.bookstores.find({}, {"name": 1})}
    finally:
        m.close()


def xlen(s):
    """Length of the write-behind queue (writes not yet in MongoDB), -1 if
    Redis does not answer."""
    import subprocess
    r = subprocess.run(["redis-cli", "-p", str(s.redis_port), "XLEN", "oponn:queue"],
                       capture_output=True, text=True)
    try:
        return int(r.stdout.strip())
    except ValueError:
        return -1
