#!/usr/bin/python3
# Every read behind the cache, proven from the schema (issue 20, item 2).
#
# Reads schema/schema.graphql and, for EVERY field of Query and of every
# object type reachable from it, builds requests that select it: the field
# itself at the end of every simple path from Query to its type (Book.bookstore
# through book(id), books(ids), bookstoresForBooks { book }, a store's books
# edges, ...), with each argument set of ARGS below (ids, names and cursors of
# the data this test loads). Each request is sent twice with X-Oponn-Debug: 1;
# the field fails, named, if the second answer cost any MongoDB command
# (extensions.mongodbCommands), differs from the first, has errors, or holds
# a null where the loaded data has a value (every optional field of the
# loaded data is set; only the argument sets marked NEG ask for a record that
# does not exist).
#
# A field whose required arguments have no entry in ARGS fails, named, so a
# field added to the schema can never pass unseen; so does an ARGS entry that
# names a field or argument the schema does not have, and an object type no
# path from Query reaches.
#
# Mutation fields are out of scope: they write (t/50, t/52 check that writes
# keep the cache true). They are listed as not walked.
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import cachestack  # noqa: E402
import pymongo  # noqa: E402
import taplib  # noqa: E402

t = taplib.Tap()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA = os.path.join(ROOT, "schema", "schema.graphql")
BIG = 1001  # books in one store: more than the 1,000 a store's cached list once stopped at
MAX_PATH = 8  # a guard: the schema's simple paths from Query are at most 6 fields long


# ---- a small SDL reader: types, their fields, each field's arguments
TOKEN = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|#[^\n]*|[\s,]+'
                   r'|\.\.\.|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[A-Za-z_][A-Za-z0-9_]*|[!:=@()\[\]{}|&$]')


def tokens(text):
    out, pos = [], 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise ValueError("schema.graphql: cannot read at offset %d: %r" % (pos, text[pos:pos + 30]))
        tok = m.group(0)
        pos = m.end()
        if tok.startswith("#") or tok.strip(" \t\r\n,") == "":
            continue
        out.append(tok)
    return out


class Sdl:
    """kinds {name: 'type'|'interface'|'input'|'enum'|'union'|'scalar'},
    fields {type: {field: (return type string, {arg: (type string, has default)})}},
    implements {interface: [object types]}, roots {'query': name, ...}."""

    def __init__(self, text):
        self.toks, self.i = tokens(text), 0
        self.kinds, self.fields, self.implements = {}, {}, {}
        self.roots = {"query": "Query", "mutation": "Mutation"}
        while self.i < len(self.toks):
            self.definition()

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, want=None):
        tok = self.peek()
        if tok is None or (want is not None and tok != want):
            raise ValueError("schema.graphql: expected %r, found %r" % (want, tok))
        self.i += 1
        return tok

    def skip_strings(self):
        while self.peek() and self.peek().startswith('"'):
            self.i += 1

    def skip_value(self):
        tok = self.take()
        if tok in ("[", "{"):
            close = "]" if tok == "[" else "}"
            while self.peek() != close:
                if tok == "{":
                    self.take()
                    self.take(":")
                self.skip_value()
            self.take(close)

    def skip_directives(self):
        while self.peek() == "@":
            self.take("@")
            self.take()
            if self.peek() == "(":
                self.take("(")
                while self.peek() != ")":
                    self.take()
                    self.take(":")
                    self.skip_value()
                self.take(")")

    def type_ref(self):
        if self.peek() == "[":
            self.take("[")
            inner = self.type_ref()
            self.take("]")
            s = "[" + inner + "]"
        else:
            s = self.take()
        if self.peek() == "!":
            self.take("!")
            s += "!"
        return s

    def definition(self):
        self.skip_strings()
        kw = self.take()
        if kw == "extend":
            kw = self.take()
        if kw == "schema":
            self.skip_directives()
            self.take("{")
            while self.peek() != "}":
                op = self.take()
                self.take(":")
                self.roots[op] = self.take()
            self.take("}")
            return
        if kw == "directive":
            while self.peek() != "on":
                self.take()
            self.take("on")
            self.take()
            while self.peek() == "|":
                self.take("|")
                self.take()
            return
        name = self.take()
        if kw not in ("type", "interface", "input", "enum", "union", "scalar"):
            raise ValueError("schema.graphql: unknown definition %r %r" % (kw, name))
        self.kinds.setdefault(name, kw)
        if kw == "scalar":
            self.skip_directives()
            return
        if self.peek() == "implements":
            self.take()
            while self.peek() not in ("{", "@"):
                tok = self.take()
                if tok != "&":
                    self.implements.setdefault(tok, []).append(name)
        self.skip_directives()
        if kw == "union":
            self.take("=")
            while True:
                if self.peek() == "|":
                    self.take("|")
                self.implements.setdefault(name, []).append(self.take())
                if self.peek() != "|":
                    return
        if self.peek() != "{":
            return
        self.take("{")
        fields = self.fields.setdefault(name, {})
        while self.peek() != "}":
            self.skip_strings()
            fname = self.take()
            if kw == "enum":
                self.skip_directives()
                continue
            args = {}
            if self.peek() == "(":
                self.take("(")
                while self.peek() != ")":
                    self.skip_strings()
                    aname = self.take()
                    self.take(":")
                    atype = self.type_ref()
                    default = self.peek() == "="
                    if default:
                        self.take("=")
                        self.skip_value()
                    self.skip_directives()
                    args[aname] = (atype, default)
                self.take(")")
            self.take(":")
            fields[fname] = (self.type_ref(), args)
            if kw == "input" and self.peek() == "=":
                self.take("=")
                self.skip_value()
            self.skip_directives()
        self.take("}")


def named(tref):
    return tref.strip("[]!")


# ---- GraphQL literals for the argument values of ARGS
def literal(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(literal(x) for x in v) + "]"
    raise TypeError(v)


def args_text(a):
    return "(" + ", ".join("%s: %s" % (k, literal(v)) for k, v in a.items()) + ")" if a else ""


class Neg(dict):
    """An argument set that names a record that does not exist: the answer is
    null (a negative entry), which is then the value to get twice."""


def nulls(v, path="data"):
    """Paths of the nulls in an answer."""
    if v is None:
        return [path]
    if isinstance(v, dict):
        return [p for k, x in v.items() for p in nulls(x, path + "." + k)]
    if isinstance(v, list):
        return [p for i, x in enumerate(v) for p in nulls(x, "%s[%d]" % (path, i))]
    return []


sdl = Sdl(open(SCHEMA).read())
QUERY = sdl.roots["query"]
MUTATION = sdl.roots.get("mutation")
OBJECTS = [n for n, k in sdl.kinds.items() if k == "type" and n != MUTATION]
t.ok(QUERY in sdl.fields and len(OBJECTS) > 1, "schema.graphql read: %d object types (%s), "
     "Mutation not walked: it writes" % (len(OBJECTS), ", ".join(OBJECTS)))


def leaf_kind(name):
    return sdl.kinds.get(name, "scalar") in ("scalar", "enum")


def minimal(tname, depth=0):
    """The smallest selection inside a field of this type: its id when it has
    one (an entity), else each of its own fields (a connection, an edge, a
    page's info, a join row)."""
    if leaf_kind(tname):
        return ""
    fields = sdl.fields.get(tname, {})
    if "id" in fields:
        return "{ id }"
    if depth > 3 or not fields:  # a union has no fields of its own
        return "{ __typename }"
    parts = []
    for f, (ft, fargs) in fields.items():
        if any(at.endswith("!") and not d for at, d in fargs.values()):
            continue
        parts.append((f + " " + minimal(named(ft), depth + 1)).strip())
    return "{ " + " ".join(parts) + " }"


def paths_to():
    """({object type: [path]}, [paths cut at MAX_PATH]); a path is a list of
    (field, parent type, type condition or None) from Query, simple (no type
    twice). Interfaces and unions are entered with `... on T`."""
    out = {QUERY: [[]]}
    frontier = [(QUERY, [], {QUERY})]
    cut = []
    while frontier:
        nxt = []
        for tname, path, seen in frontier:
            if len(path) >= MAX_PATH:
                if any(not leaf_kind(named(ft)) for ft, _ in sdl.fields.get(tname, {}).values()):
                    cut.append(".".join(f for f, _, _ in path))
                continue
            for f, (ft, _) in sdl.fields.get(tname, {}).items():
                child = named(ft)
                if leaf_kind(child):
                    continue
                concrete = [(c, c) for c in sdl.implements.get(child, [])] \
                    if sdl.kinds.get(child) in ("interface", "union") else [(child, None)]
                for ctype, cond in concrete:
                    if ctype in seen:
                        continue
                    p = path + [(f, tname, cond)]
                    out.setdefault(ctype, []).append(p)
                    nxt.append((ctype, p, seen | {ctype}))
        frontier = nxt
    return out, cut


with taplib.stack(workers=2) as s:
    token = s.write_token()
    t.is_(s.oponn("migrate").returncode, 0, "oponn migrate")
    c = cachestack.Client(s.http_port, token)

    def write(doc, v=None):
        b = c(doc, v, write=True)
        if not b or b.get("errors"):
            raise RuntimeError("loading the data failed: %r" % b)
        return b["data"]

    # ---- the data: every optional field set, so a null is never the data's
    # 4 stores with 6 books each, one store with BIG books, apples and oranges
    names = ["Walk Store %d" % i for i in range(4)] + ["Walk Big Store"]
    stores = [write('mutation($n:String!,$c:String){ createBookstore(input:{name:$n, city:$c}) '
                    '{ id } }', {"n": n, "c": "City %d" % i})["createBookstore"]["id"]
              for i, n in enumerate(names)]
    big = stores[-1]
    plan = [stores[i % 4] for i in range(24)] + [big] * BIG
    books = []
    for k in range(0, len(plan), 100):
        doc = "mutation{" + " ".join(
            'b%d: createBook(input:{isbn:"978-%010d", title:"Walk %d", authors:["A%d", "B"], year:%d, '
            'price:%d.5, bookstoreId:"%s"}) { id }' % (i, i, i, i % 3, 1900 + i % 120, i % 50,
                                                       plan[i])
            for i in range(k, min(k + 100, len(plan)))) + "}"
        d = write(doc)
        books += [d["b%d" % i]["id"] for i in range(k, min(k + 100, len(plan)))]
    fruit = {"APPLE": [], "ORANGE": []}
    for i in range(12):
        kind = "APPLE" if i % 2 else "ORANGE"
        d = write('mutation($k:FruitKind!,$i:FruitInput!){ createFruit(kind:$k, input:$i) { id } }',
                  {"k": kind, "i": {"breed": "Breed%d" % (i % 4), "size": 3 + i % 2,
                                    "colour": ["red", "green"][(i // 2) % 2],
                                    "acidity": 2.5 + (i % 5) / 2}})
        fruit[kind].append(d["createFruit"]["id"])
    # the claim the null check rests on, read back from MongoDB itself
    db = pymongo.MongoClient(s.mongo_uri)[s.mongo_db]
    unset = ["book %s: %s" % (d["_id"], f) for d in db.books.find({})
             for f in ("isbn", "year", "price", "bookstore_id") if d.get(f) is None]
    unset += ["store %s: city" % d["_id"] for d in db.bookstores.find({}) if d.get("city") is None]
    t.ok(len(books) == 24 + BIG and not unset, "loaded: %d stores (one with %d books), %d books, "
         "%d fruit, every optional field set (MongoDB)" % (len(stores), BIG, len(books), 12), unset[:5])

    # Cursors taken from the loaded data: the first store's smallest book id
    # (so every store's page after it is not empty: each has books after it
    # in id order, the big one too) and the first page of the stores.
    first_book = min(books, key=lambda x: x.encode())
    home = plan[books.index(first_book)]
    d = c('query($id:ID!){ bookstore(id:$id) { books(first:1) { pageInfo { endCursor } } } }',
          {"id": home})
    books_cursor = d["data"]["bookstore"]["books"]["pageInfo"]["endCursor"]
    d = c('{ bookstores(first:1) { pageInfo { endCursor } } }')
    stores_cursor = d["data"]["bookstores"]["pageInfo"]["endCursor"]
    t.ok(books_cursor and stores_cursor, "cursors read from the loaded data", d)

    # ---- the argument table: "Type.field" -> argument sets. A field with
    # required arguments must have an entry; the first set that is not Neg is
    # the one used when the field is a step on the way to another field.
    ARGS = {
        "Query.book": [{"id": books[0]}, Neg(id="no-such-book")],
        "Query.books": [{"ids": [books[0], books[5], books[-1]]}],
        "Query.bookstore": [{"id": stores[0]}, {"id": big}, Neg(id="no-such-store")],
        "Query.bookstoreByName": [{"name": names[1]}, {"name": "  WALK   store 1 "},
                                  {"name": names[-1]}, Neg(name="No Such Walk Store")],
        "Query.bookstores": [{}, {"first": 2}, {"first": 2, "after": stores_cursor},
                             {"first": 100}],
        "Query.bookstoresForBooks": [{"bookIds": [books[0], books[7], books[-1]]}],
        "Query.apple": [{"id": fruit["APPLE"][0]}, Neg(id="no-such-apple")],
        "Query.orange": [{"id": fruit["ORANGE"][0]}, Neg(id="no-such-orange")],
        "Query.fruitBySize": [{"size": 3}, {"size": 4, "limit": 2}],
        "Query.fruitByColour": [{"colour": "red"}, {"colour": "green", "limit": 3}],
        "Query.fruitByAcidity": [{"min": 2.5, "max": 4.0}, {"min": 0, "max": 9, "limit": 4}],
        "Bookstore.books": [{}, {"first": 2}, {"first": 2, "after": books_cursor}],
    }

    # ---- the table against the schema
    bad = []
    for key, sets in ARGS.items():
        tname, _, fname = key.partition(".")
        if fname not in sdl.fields.get(tname, {}):
            bad.append("%s: in the argument table, not in the schema" % key)
            continue
        declared = sdl.fields[tname][fname][1]
        for a in sets:
            bad += ["%s: argument %r is not in the schema" % (key, k) for k in a if k not in declared]
    t.ok(not bad, "every argument table entry names a field and arguments of the schema", "\n".join(bad))

    def arg_sets(tname, fname):
        """(argument sets, missing required arguments)."""
        declared = sdl.fields[tname][fname][1]
        required = [a for a, (at, dflt) in declared.items() if at.endswith("!") and not dflt]
        sets = ARGS.get("%s.%s" % (tname, fname)) or [{}]
        missing = sorted({r for a in sets for r in required if r not in a})
        return sets, missing

    def step_args(tname, fname):
        sets, _ = arg_sets(tname, fname)
        return next((a for a in sets if not isinstance(a, Neg)), sets[0])

    def build(path, fname, a, sel, root=None):
        """The request selecting `fname` with arguments `a` at the end of
        `path`; `root`: the arguments of the path's first field, if not the
        default step ones."""
        inner = ("%s%s %s" % (fname, args_text(a), sel)).strip()
        for k in range(len(path) - 1, -1, -1):
            f, parent, cond = path[k]
            if cond:
                inner = "... on %s { %s }" % (cond, inner)
            pa = root if k == 0 and root is not None else step_args(parent, f)
            inner = "%s%s { %s }" % (f, args_text(pa), inner)
        return "{ " + inner + " }"

    def roots_of(path):
        """A field one step below Query is asked under each of the root
        field's argument sets that name a record (the big store's bookCount
        and books too); deeper, under the default step arguments."""
        if len(path) != 1:
            return [None]
        return [a for a in arg_sets(QUERY, path[0][0])[0] if not isinstance(a, Neg)]

    paths, cut = paths_to()
    unreached = [o for o in OBJECTS if o not in paths]
    t.ok(not unreached, "every object type is reached from %s" % QUERY, unreached)
    t.ok(not cut, "every simple path from %s walked (none cut at %d fields)" % (QUERY, MAX_PATH),
         cut[:5])
    t.diag("paths from %s: %s" % (QUERY, ", ".join("%s %d" % (o, len(paths.get(o, [])))
                                                    for o in OBJECTS if o != QUERY)))

    def twice(doc, fname, neg):
        """Sends doc twice; what is wrong with the answers (empty if nothing)."""
        b1, b2 = c(doc, debug=True) or {}, c(doc, debug=True) or {}
        why = []
        if b1.get("errors") or b2.get("errors"):
            why.append("errors %r" % (b1.get("errors") or b2.get("errors")))
        mc = (b2.get("extensions") or {}).get("mongodbCommands")
        if mc != 0:
            why.append("second answer cost %r MongoDB commands" % mc)
        if b1.get("data") != b2.get("data"):
            why.append("second answer differs: %r then %r" % (b1.get("data"), b2.get("data")))
        if neg:
            if (b2.get("data") or {}).get(fname) is not None:
                why.append("a record that does not exist answered %r" % b2["data"])
        else:
            nl = nulls(b2.get("data"))
            if nl:
                why.append("null where the loaded data has a value: %s" % ", ".join(nl[:3]))
        return why

    checked, requests = [], 0
    for tname in [QUERY] + [o for o in OBJECTS if o != QUERY]:
        for fname, (ftype, _) in sdl.fields.get(tname, {}).items():
            key = "%s.%s" % (tname, fname)
            sets, missing = arg_sets(tname, fname)
            if missing:
                t.ok(False, "%s: required argument(s) %s missing from the test's argument table"
                     % (key, ", ".join(missing)))
                continue
            sel = minimal(named(ftype))
            fails, n = [], 0
            for path in paths.get(tname, []):
                for root in roots_of(path):
                    # a Neg set is asked at the root only: deeper, the
                    # parent's record exists and so does its value
                    for a in [a for a in sets if not (isinstance(a, Neg) and path)]:
                        doc = build(path, fname, a, sel, root)
                        n += 1
                        why = twice(doc, fname, isinstance(a, Neg))
                        if why:
                            fails.append(("%s\n    %s" % (doc, "; ".join(why)))[:700])
            requests += n
            if n == 0:
                t.ok(False, "%s: no request selects it (no path from %s)" % (key, QUERY))
                continue
            checked.append(key)
            t.ok(not fails, "%s: %d request(s), each sent twice: the second cost 0 MongoDB commands, "
                 "same data, no null" % (key, n), "\n".join(fails[:6]) + (
                     "\n... %d more" % (len(fails) - 6) if len(fails) > 6 else ""))
    if MUTATION:
        t.diag("not walked (they write): %s" % ", ".join(
            "%s.%s" % (MUTATION, f) for f in sdl.fields.get(MUTATION, {})))
    t.diag("fields checked (%d, %d requests sent twice): %s"
           % (len(checked), requests, ", ".join(checked)))
    want = sum(len(sdl.fields.get(o, {})) for o in OBJECTS)
    t.is_(len(checked), want, "every field of %s and of every object type checked" % QUERY)
t.done()
