#!/usr/bin/python3
# API.md through the real stack (nginx -> pool -> worker -> MongoDB endpoint):
# every mutation's happy path and the error codes it can return, the batch FK
# lookup (1,000 books over 50 stores in exactly 2 MongoDB commands), strings
# that look like MongoDB operators kept literal, versions, HTTP rules.
import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import taplib  # noqa: E402

t = taplib.Tap()


def code_of(body, i=0):
    try:
        return body["errors"][i]["extensions"]["code"]
    except (KeyError, IndexError, TypeError):
        return None


with taplib.stack(workers=2) as s:
    tok = s.write_token()

    def q(query, variables=None, debug=False, token=None):
        h = {"X-Oponn-Debug": "1"} if debug else None
        return taplib.gql(s, query, variables, headers=h, token=token)

    def m(query, variables=None):
        return taplib.gql(s, query, variables, token=tok)

    r = s.oponn("migrate")
    t.is_(r.returncode, 0, "oponn migrate")

    # ---- bookstores
    st, b, _ = m('mutation($n:String!){ createBookstore(input:{name:$n, city:"Paris"}) '
                 '{ id name city version bookCount } }', {"n": "Shakespeare and Company"})
    store = b["data"]["createBookstore"] if b and b.get("data") else {}
    t.ok(st == 200 and store.get("version") == 1 and store.get("bookCount") == 0
         and store.get("city") == "Paris", "createBookstore: version 1, no books", b)
    sid = store.get("id")

    for variant in ("shakespeare  and company", "SHAKESPEARE AND COMPANY!",
                    "\uff33hakespeare and \uff23ompany"):
        st, b, _ = m('mutation($n:String!){ createBookstore(input:{name:$n}) { id } }', {"n": variant})
        t.ok(code_of(b) == "BOOKSTORE_NAME_TAKEN" and sid in b["errors"][0]["message"],
             "name %r collides, error names the existing store" % variant, b)

    st, b, _ = m('mutation{ createBookstore(input:{name:"Second Store"}) { id } }')
    sid2 = b["data"]["createBookstore"]["id"]
    st, b, _ = m('mutation($id:ID!){ updateBookstore(id:$id, input:{name:"shakespeare and company"}) '
                 '{ id } }', {"id": sid2})
    t.is_(code_of(b), "BOOKSTORE_NAME_TAKEN", "rename re-checks the normalized name")
    st, b, _ = m('mutation($id:ID!){ updateBookstore(id:$id, input:{city:"Lyon"}) { city version } }',
                 {"id": sid2})
    t.is_(b["data"]["updateBookstore"], {"city": "Lyon", "version": 2}, "updateBookstore: version + 1")
    st, b, _ = q('{ bookstoreByName(name:"  SECOND   store ") { id } }')
    t.is_(b["data"]["bookstoreByName"], {"id": sid2}, "bookstoreByName matches the normalized name")

    # ---- books and the foreign key
    book_in = {"title": "Ulysses", "authors": ["James Joyce"], "year": 1922, "price": 9.5,
               "isbn": "9780199535675", "bookstoreId": sid}
    st, b, _ = m('mutation($i:BookInput!){ createBook(input:$i){ id title version bookstore { id } } }',
                 {"i": book_in})
    book = b["data"]["createBook"]
    t.ok(book["version"] == 1 and book["bookstore"]["id"] == sid, "createBook with its store", b)
    bid = book["id"]
    st, b, _ = m('mutation($i:BookInput!){ createBook(input:$i){ id } }',
                 {"i": dict(book_in, bookstoreId="000000000000000000000000", isbn=None)})
    t.is_(code_of(b), "FOREIGN_KEY_VIOLATION", "createBook with an unknown store")
    st, b, _ = m('mutation($i:BookInput!){ createBook(input:$i){ id } }',
                 {"i": dict(book_in, year=99999, isbn=None)})
    t.is_(code_of(b), "BAD_USER_INPUT", "createBook with a year out of range")
    st, b, _ = m('mutation($id:ID!){ updateBook(id:$id, input:{price: 12.25}){ price version } }',
                 {"id": bid})
    t.is_(b["data"]["updateBook"], {"price": 12.25, "version": 2}, "updateBook: version + 1")
    st, b, _ = m('mutation($id:ID!,$s:ID!){ moveBook(id:$id, bookstoreId:$s){ version bookstore { id } } }',
                 {"id": bid, "s": "nope"})
    t.is_(code_of(b), "FOREIGN_KEY_VIOLATION", "moveBook to an unknown store")
    st, b, _ = m('mutation($id:ID!,$s:ID!){ moveBook(id:$id, bookstoreId:$s){ version bookstore { id } } }',
                 {"id": bid, "s": sid2})
    t.is_(b["data"]["moveBook"], {"version": 3, "bookstore": {"id": sid2}}, "moveBook")
    st, b, _ = q('query($a:ID!,$b:ID!){ a: bookstore(id:$a){ bookCount } b: bookstore(id:$b){ bookCount } }',
                 {"a": sid, "b": sid2})
    t.is_(b["data"], {"a": {"bookCount": 0}, "b": {"bookCount": 1}}, "counts follow the move")

    st, b, _ = m('mutation($id:ID!){ deleteBookstore(id:$id) }', {"id": sid2})
    t.is_(code_of(b), "BOOKSTORE_HAS_BOOKS", "deleting a store with books is refused")
    st, b, _ = m('mutation($id:ID!,$to:ID!){ deleteBookstore(id:$id, reassignTo:$to) }',
                 {"id": sid2, "to": sid})
    t.is_(b.get("data"), {"deleteBookstore": True}, "deleteBookstore with reassignTo")
    st, b, _ = q('query($id:ID!){ book(id:$id){ bookstore { id } } }', {"id": bid})
    t.is_(b["data"]["book"]["bookstore"]["id"], sid, "the book was reassigned")
    st, b, _ = m('mutation($id:ID!){ deleteBookstore(id:$id) }', {"id": sid2})
    t.is_(code_of(b), "NOT_FOUND", "deleting it again: NOT_FOUND")
    st, b, _ = m('mutation($id:ID!){ deleteBook(id:$id) }', {"id": bid})
    t.is_(b.get("data"), {"deleteBook": True}, "deleteBook")
    st, b, _ = q('query($id:ID!){ book(id:$id){ id } }', {"id": bid})
    t.is_(b, {"data": {"book": None}}, "a deleted book reads as null")
    st, b, _ = m('mutation($id:ID!){ deleteBook(id:$id) }', {"id": bid})
    t.is_(code_of(b), "NOT_FOUND", "deleteBook of an unknown id: NOT_FOUND")

    # ---- strings that look like MongoDB operators are data
    for name in ('{"$gt": ""}', "$where", "$ne"):
        st, b, _ = m('mutation($n:String!){ createBookstore(input:{name:$n}) { id name } }', {"n": name})
        t.ok(b.get("data") and b["data"]["createBookstore"]["name"] == name,
             "operator-like name %r stored literally" % name, b)
        st, b, _ = q('query($n:String!){ bookstoreByName(name:$n){ name } }', {"n": name})
        t.is_(b["data"]["bookstoreByName"], {"name": name}, "and matched literally: %r" % name)
    st, b, _ = q('query($id:ID!){ book(id:$id){ id } }', {"id": '{"$gt": ""}'})
    t.is_(b, {"data": {"book": None}}, "an operator-like id matches nothing")

    # ---- fruit
    st, b, _ = m('mutation{ createFruit(kind:APPLE, input:{breed:"Gala", size:7, colour:"red", '
                 'acidity:3.5}) { __typename id kind version } }')
    apple = b["data"]["createFruit"]
    t.ok(apple["__typename"] == "Apple" and apple["kind"] == "APPLE" and apple["version"] == 1,
         "createFruit APPLE", b)
    st, b, _ = m('mutation($id:ID!){ updateFruit(kind:APPLE, id:$id, input:{size:8}) { size version } }',
                 {"id": apple["id"]})
    t.is_(b["data"]["updateFruit"], {"size": 8, "version": 2}, "updateFruit")
    st, b, _ = m('mutation($id:ID!){ updateFruit(kind:ORANGE, id:$id, input:{size:8}) { size } }',
                 {"id": apple["id"]})
    t.is_(code_of(b), "NOT_FOUND", "updateFruit of the wrong kind: NOT_FOUND")
    st, b, _ = q('{ fruitBySize(size:8) { id } }')
    t.ok(b.get("data") and {"id": apple["id"]} in b["data"]["fruitBySize"], "fruitBySize finds it", b)
    st, b, _ = m('mutation($id:ID!){ deleteFruit(kind:APPLE, id:$id) }', {"id": apple["id"]})
    t.is_(b.get("data"), {"deleteFruit": True}, "deleteFruit")

    # ---- auth and HTTP rules
    st, b, _ = taplib.gql(s, 'mutation{ createBookstore(input:{name:"No Token"}) { id } }')
    t.ok(st == 401 and code_of(b) == "UNAUTHENTICATED", "a mutation without the token: 401")
    st, b, _ = taplib.gql(s, 'mutation{ deleteBook(id:"x") }', token="wrong")
    t.ok(code_of(b) == "UNAUTHENTICATED", "a wrong token: UNAUTHENTICATED (and no NOT_FOUND leak)")
    st, h, raw = s.http("GET", "/graphql?" + urllib.parse.urlencode(
        {"query": 'mutation{ deleteBook(id:"x") }'}))
    t.ok(st == 405 and "POST" in h.get("Allow", ""), "a mutation over GET: 405 Allow: POST")
    st, h, raw = s.http("GET", "/graphql?" + urllib.parse.urlencode({"query": "{ __typename }"}))
    t.is_((st, json.loads(raw)), (200, {"data": {"__typename": "Query"}}), "a query over GET")
    # Request errors by media type (GraphQL-over-HTTP): 400 to a client that
    # accepts application/graphql-response+json, 200 with {"errors"} and no
    # "data" to one that accepts only application/json (or sends no Accept).
    modern = {"accept": "application/graphql-response+json, application/json"}
    for doc, vars_, code in (("{ book(id: 1 }", None, "GRAPHQL_PARSE_FAILED"),
                             ('{ book(id:"1") { nope } }', None, "GRAPHQL_VALIDATION_FAILED"),
                             ("query($id:ID!){ book(id:$id){ id } }", {"id": None}, "BAD_USER_INPUT")):
        st, b, _ = taplib.gql(s, doc, vars_, headers=modern)
        t.ok(st == 400 and code_of(b) == code and "data" not in b,
             "%s, accepting graphql-response+json: 400" % code, (st, b))
        for accept in (None, "application/json"):
            st, b, _ = taplib.gql(s, doc, vars_, headers={"accept": accept} if accept else None)
            t.ok(st == 200 and code_of(b) == code and "data" not in b,
                 "%s, accepting %s: 200 with errors" % (code, accept or "(no Accept)"), (st, b))
        st, h, raw = s.http("GET", "/graphql?" + urllib.parse.urlencode(
            dict({"query": doc}, **({"variables": json.dumps(vars_)} if vars_ else {}))),
            headers={"accept": "application/json"})
        t.ok(st == 200 and code_of(json.loads(raw)) == code, "%s over GET, application/json: 200" % code,
             (st, raw))
        st, h, raw = s.http("GET", "/graphql?" + urllib.parse.urlencode(
            dict({"query": doc}, **({"variables": json.dumps(vars_)} if vars_ else {}))),
            headers={"accept": "application/graphql-response+json"})
        t.ok(st == 400 and code_of(json.loads(raw)) == code
             and h.get("Content-Type", "").startswith("application/graphql-response+json"),
             "%s over GET, graphql-response+json: 400" % code, (st, h, raw))
    for ext in ('"s"', "0", "false", "[1]"):
        st, h, raw = s.http("POST", "/graphql", ('{"query":"{ __typename }","extensions":%s}' % ext).encode(),
                            {"content-type": "application/json", "accept": "application/json"})
        t.ok(st == 400 and code_of(json.loads(raw)) == "BAD_USER_INPUT",
             "extensions %s (not an object): 400 even to application/json" % ext, (st, raw))
    st, h, raw = s.http("GET", "/graphql?" + urllib.parse.urlencode(
        {"query": "{ __typename }", "variables": "[1]"}), headers={"accept": "application/json"})
    t.ok(st == 400 and code_of(json.loads(raw)) == "BAD_USER_INPUT",
         "GET variables not an object: 400 even to application/json", (st, raw))
    st, h, raw = s.http("POST", "/graphql", b"{not json", {"content-type": "application/json"})
    t.ok(st == 400 and "errors" in json.loads(raw), "a body that is not JSON: 400, GraphQL-shaped")

    # ---- the mission's test: 1,000 books over 50 stores, 2 MongoDB commands
    stores = []
    for k in range(0, 50, 25):
        doc = "mutation{" + " ".join(
            's%d: createBookstore(input:{name:"Batch Store %d"}) { id }' % (i, i)
            for i in range(k, k + 25)) + "}"
        st, b, _ = m(doc)
        stores += [b["data"]["s%d" % i]["id"] for i in range(k, k + 25)]
    t.is_(len(stores), 50, "50 stores created")
    books = []
    for k in range(0, 1000, 100):
        doc = "mutation{" + " ".join(
            'b%d: createBook(input:{title:"Book %d", authors:["A%d"], bookstoreId:"%s"}) { id }'
            % (i, i, i % 7, stores[i % 50]) for i in range(k, k + 100)) + "}"
        st, b, _ = m(doc)
        books += [b["data"]["b%d" % i]["id"] for i in range(k, k + 100)]
    t.is_(len(books), 1000, "1,000 books created")
    ids = list(reversed(books)) + [books[0], "unknown-book"]
    st, b, raw = q('query($ids:[ID!]!){ bookstoresForBooks(bookIds:$ids){ bookId book { title } '
                   'bookstore { id } } }', {"ids": ids}, debug=True)
    rows = b["data"]["bookstoresForBooks"]
    want = [stores[books.index(i) % 50] for i in ids[:-1]]
    t.ok([r["bookId"] for r in rows] == ids, "answers in input order, duplicates kept")
    t.ok([r["bookstore"]["id"] for r in rows[:-1]] == want, "each book's own store")
    t.ok(rows[-1]["book"] is None and rows[-1]["bookstore"] is None
         and b["errors"][0]["path"] == ["bookstoresForBooks", len(ids) - 1, "book"]
         and code_of(b) == "NOT_FOUND", "an unknown book: null with an error at its path")
    t.is_(b["extensions"]["mongodbCommands"], 2, "exactly 2 MongoDB commands for 1,002 ids")

    st, b, _ = q('query($ids:[ID!]!){ books(ids:$ids){ title bookstore { id } } }',
                 {"ids": books[:200]}, debug=True)
    t.is_(b["extensions"]["mongodbCommands"], 1,
          "200 books with their stores: 1 command (the books; Book.bookstore is batched per "
          "level, and the stores are cached since their creation: write-through)")
    st, h, raw = s.http("GET", "/metrics")
    t.ok(b"oponn_mongodb_commands_total" in raw, "MongoDB commands totalled in /metrics")
t.done()
