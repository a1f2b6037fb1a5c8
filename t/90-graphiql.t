#!/usr/bin/python3
# GraphiQL, as a person meets it: nginx serves the page for a browser's
# GET /graphql and the static files under /graphiql/, everything else goes to
# the worker; then Debian's headless Chromium (playwright-core) opens the page,
# runs the pre-filled bookstores -> books query, sees a bookstore's name in the
# result pane, runs a mutation with a token typed into the header editor, and
# leaves a screenshot in build/artifacts/graphiql.png.
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import taplib  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SHOT = os.path.join(taplib.ROOT, "build", "artifacts", "graphiql.png")

t = taplib.Tap()
with taplib.stack(workers=2) as s:
    # Validators and the unique name index, as `make run` applies them.
    r = s.oponn("migrate")
    t.is_(r.returncode, 0, "oponn migrate")
    st, h, body = s.http("GET", "/graphql", headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    t.ok(st == 200 and h.get("Content-Type", "").startswith("text/html") and b"graphiql.min.js" in body,
         "GET /graphql, Accept: text/html -> the GraphiQL page", (st, h, body[:200]))
    t.ok("script-src 'self'" in h.get("Content-Security-Policy", ""), "the page is same-origin only (CSP)", h)
    for path, ctype in (("/graphiql/graphiql.min.js", "application/javascript"),
                        ("/graphiql/graphiql.min.css", "text/css"),
                        ("/graphiql/react.production.min.js", "application/javascript"),
                        ("/graphiql/react-dom.production.min.js", "application/javascript"),
                        ("/graphiql/oponn-graphiql.js", "application/javascript")):
        st, h, body = s.http("GET", path)
        t.ok(st == 200 and h.get("Content-Type", "").startswith(ctype) and len(body) > 100,
             "%s served as %s" % (path, ctype), (st, h.get("Content-Type")))
    st, h, body = s.http("GET", "/graphql?query=%7B__typename%7D", headers={"accept": "application/json"})
    t.ok(h.get("Content-Type", "").startswith("application/") and not body.lstrip().startswith(b"<"),
         "GET /graphql, Accept: application/json -> the worker (JSON)", (st, body[:200]))
    st, h, body = s.http("POST", "/graphql", json.dumps({"query": "{ __typename }"}).encode(),
                         {"content-type": "application/json", "accept": "text/html"})
    t.ok(h.get("Content-Type", "").startswith("application/") and not body.lstrip().startswith(b"<"),
         "POST /graphql, even with Accept: text/html -> the worker (JSON)", (st, body[:200]))

    # Data through the API (the stack starts empty).
    token = s.write_token()
    names = ["Corner Books", "The Reading Room", "Paper Lantern"]
    for i, name in enumerate(names):
        st, r, raw = taplib.gql(s, "mutation($i: BookstoreInput!) { createBookstore(input: $i) { id } }",
                                {"i": {"name": name, "city": "Lyon"}}, token=token)
        ok = st == 200 and r and r.get("data") and r["data"].get("createBookstore")
        t.ok(ok, "createBookstore %s" % name, raw)
        if ok:
            sid = r["data"]["createBookstore"]["id"]
            for title in ("Book %d.1" % i, "Book %d.2" % i, "Book %d.3" % i):
                st, r, raw = taplib.gql(
                    s, "mutation($i: BookInput!) { createBook(input: $i) { id } }",
                    {"i": {"title": title, "authors": ["A. Writer"], "bookstoreId": sid}}, token=token)
                t.ok(st == 200 and r and r.get("data"), "createBook %s" % title, raw)

    if not os.access(CHROMIUM, os.X_OK):
        print("ok %d # skip %s is not installed (etc/install-deps.sh installs Debian's chromium)"
              % (t.n + 1, CHROMIUM))
        t.n += 1
    else:
        os.makedirs(os.path.dirname(SHOT), exist_ok=True)
        if os.path.exists(SHOT):
            os.unlink(SHOT)
        # A fresh profile inside the stack's temp dir (removed with it).
        taplib.run_node(t, "graphiql-browser.mjs",
                        [s.base_url, os.path.join(s.run_dir, "chromium-profile"), SHOT,
                         names[0], token])
        t.ok(os.path.exists(SHOT) and os.path.getsize(SHOT) > 10000, "screenshot saved: " + SHOT)
t.done()
