#!/usr/bin/python3
"""etc/image-check.py IMAGE — run the oponn image (role `all`) the way a user
would, against a Redis and a MongoDB endpoint started here on free loopback
ports (etc/stack.py: redis-server, and mongod or the stand-in), and check what
the deployment relies on. Called by etc/image-check.sh after the build.

The container shares the host's network (podman --network host; no other is
set up on these machines), so "from outside" for /metrics means a request
whose source is one of the host's non-loopback addresses: nginx sees that
address, as it would see a load balancer's, and must refuse it.
"""
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "etc"))
from stack import Stack, free_port, port_open, wait_until  # noqa: E402

PODMAN = ["podman", "--runtime", "runc"]
failures = []


def check(ok, what, detail=None):
    print("image-check: %s %s%s" % ("ok  " if ok else "FAIL", what,
                                     "" if ok or detail is None else " -- %r" % (detail,)))
    if not ok:
        failures.append(what)


def http(url, data=None, headers=None, source=None, method=None):
    """(status, body bytes); source binds the client socket to that address."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    if source:
        class Src(urllib.request.HTTPHandler):
            def http_open(self, r):
                import http.client

                def conn(host, **kw):
                    return http.client.HTTPConnection(host, source_address=(source, 0), **kw)
                return self.do_open(conn, r)
        opener = urllib.request.build_opener(Src)
    else:
        opener = urllib.request.build_opener()
    try:
        with opener.open(req, timeout=15) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def gql(base, query, token=None):
    h = {"content-type": "application/json"}
    if token:
        h["authorization"] = "Bearer " + token
    st, body = http(base + "/graphql", json.dumps({"query": query}).encode(), h)
    try:
        return st, json.loads(body)
    except ValueError:
        return st, body


def outside_address():
    """A non-loopback IPv4 address of this host, or None."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    for a in out:
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", a) and not a.startswith("127."):
            try:
                with socket.socket() as s:
                    s.bind((a, 0))
                return a
            except OSError:
                continue
    return None


def stop_timeout():
    """The smallest StopTimeout of the task's containers (infra/service.yaml)."""
    with open(os.path.join(ROOT, "infra", "service.yaml")) as f:
        found = [int(v) for v in re.findall(r"^\s*StopTimeout:\s*(\d+)\s*$", f.read(), re.M)]
    return min(found) if found else 30


def main():
    image = sys.argv[1]
    name = "oponn-image-check-%d" % os.getpid()
    token = secrets.token_hex(16)
    insp = json.loads(subprocess.run(PODMAN + ["image", "inspect", image], check=True,
                                     capture_output=True, text=True).stdout)[0]
    hc = insp.get("Healthcheck") or (insp.get("Config") or {}).get("Healthcheck") or {}
    check(hc.get("Test", [])[-1:] == ["healthcheck"], "the image keeps its HEALTHCHECK", hc)

    with tempfile.TemporaryDirectory(prefix="oponn-image-check-") as d:
        st = Stack(d).start(services=("redis", "mongo"))
        try:
            port = free_port()
            base = "http://127.0.0.1:%d" % port
            env = {"OPONN_HTTP_PORT": str(port), "OPONN_REDIS_URL": st.redis_url,
                   "MONGODB_URI": st.mongo_uri, "OPONN_WRITE_TOKEN": token,
                   "OPONN_WORKERS": "2", "OPONN_NGINX_WORKERS": "1"}
            # No health timer (podman would run it through systemd, absent
            # here); the check itself is run once below.
            argv = PODMAN + ["run", "-d", "--name", name, "--network", "host", "--health-interval", "disable"]
            for k, v in env.items():
                argv += ["-e", "%s=%s" % (k, v)]
            # podman 4.3 says on stderr that it cannot reach systemd for a
            # health timer, even with the timer disabled: shown only on failure.
            r = subprocess.run(argv + [image, "all"], capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError("podman run failed: " + r.stderr)
            try:
                def up():
                    r = subprocess.run(PODMAN + ["inspect", "--format", "{{.State.Running}}", name],
                                       capture_output=True, text=True).stdout.strip()
                    if r != "true":
                        raise RuntimeError("container stopped:\n" + logs(name))
                    return port_open(port)
                wait_until(up, "the container's nginx on port %d" % port, timeout=60)
                checks(base, token, name, port)
            finally:
                if failures:
                    print(logs(name)[-4000:], file=sys.stderr)
                subprocess.run(PODMAN + ["rm", "-f", "-i", name], capture_output=True)
        finally:
            st.stop()
    if failures:
        print("image-check: FAILED: %s" % "; ".join(failures))
        return 1
    print("image-check: passed")
    return 0


def logs(name):
    return subprocess.run(PODMAN + ["logs", name], capture_output=True, text=True).stdout


def checks(base, token, name, port):
    st, body = gql(base, "{ __typename }")
    check((st, body) == (200, {"data": {"__typename": "Query"}}), "a GraphQL query", (st, body))

    m = 'mutation { createBookstore(input: {name: "Image Check", city: "Oslo"}) { id name } }'
    st, body = gql(base, m)
    check(st in (200, 401, 403) and isinstance(body, dict) and body.get("errors")
          and not (body.get("data") or {}).get("createBookstore"),
          "a mutation without the token is refused", (st, body))
    st, body = gql(base, m, token)
    made = isinstance(body, dict) and (body.get("data") or {}).get("createBookstore") or {}
    check(st == 200 and made.get("name") == "Image Check" and made.get("id") and not body.get("errors"),
          "a mutation with the token", (st, body))
    if made.get("id"):
        st, body = gql(base, '{ bookstore(id: "%s") { name } }' % made["id"])
        check(st == 200 and isinstance(body, dict) and body.get("data", {}).get("bookstore") == {"name": "Image Check"},
              "the mutation's record reads back", (st, body))

    st, page = http(base + "/graphql", headers={"accept": "text/html"})
    check(st == 200 and b"graphiql" in page.lower(), "the GraphiQL page (GET /graphql, Accept: text/html)", st)
    assets = re.findall(rb'(?:src|href)="(/graphiql/[^"]+)"', page)
    bad = [(a.decode(), http(base + a.decode())[0]) for a in assets]
    bad = [b for b in bad if b[1] != 200]
    check(assets and not bad, "the page's %d GraphiQL assets answer 200" % len(assets), bad or assets)

    st, body = http(base + "/healthz")
    check(st == 200, "/healthz answers 200", (st, body[:200]))

    st, body = http(base + "/metrics")
    check(st == 200 and b"oponn_" in body, "/metrics answers on loopback", (st, body[:200]))
    src = outside_address()
    if src is None:
        check(False, "/metrics refused from outside: this host has no non-loopback address to test from")
    else:
        st, body = http("http://%s:%d/metrics" % (src, port), source=src)
        check(st == 403, "/metrics refused from outside (from %s: %d)" % (src, st), (st, body[:200]))
        st, body = http("http://%s:%d/healthz" % (src, port), source=src)
        check(st == 200, "while /healthz answers that same address", (st, body[:200]))

    r = subprocess.run(PODMAN + ["healthcheck", "run", name], capture_output=True, text=True)
    check(r.returncode == 0, "podman healthcheck run (the image's HEALTHCHECK) passes", r.stdout + r.stderr)

    limit = stop_timeout()
    t0 = time.monotonic()
    subprocess.run(PODMAN + ["kill", "--signal", "TERM", name], check=True, capture_output=True)
    try:
        rc = subprocess.run(PODMAN + ["wait", name], capture_output=True, text=True,
                            timeout=limit + 5).stdout.strip()
    except subprocess.TimeoutExpired:
        rc = "still running"
    took = time.monotonic() - t0
    check(rc == "0" and took < limit,
          "SIGTERM stops the container cleanly: exit %s in %.1fs (task stopTimeout %ds)" % (rc, took, limit))
    check(not port_open(port), "nothing listens on the port after the stop")


if __name__ == "__main__":
    sys.exit(main())
