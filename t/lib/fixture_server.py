#!/usr/bin/python3
"""t/lib/fixture_server.py — a stand-in for the Open Library search API.

Serves the pages of t/fixtures/openlibrary/*.json (every doc of every file,
in file order, sliced by the request's page and limit as the real
/search.json does), extra files (--file /bookstores.json=etc/bookstores.json),
gzip when the client asks for it, and injected faults. Loopback only.

    from fixture_server import FixtureServer
    with FixtureServer() as fx:                 # a thread in this process
        fx.fault("500", page=2, times=1)        # first request of page 2 fails
        ... fx.base_url ... fx.log()            # requests seen (path, page, status, headers)

    /usr/bin/python3 t/lib/fixture_server.py [--port N] [--port-file F]   # a process (make run)

Faults (fault(kind, page=None, times=1, **kw); page None = any page,
times -1 = every request):
    500        status 500, then (after `times`) the page
    429        status 429 with Retry-After: kw retry_after (seconds, default 1)
    cut        Content-Length of the whole page, half of it sent, connection closed
    badjson    a body that is not JSON
    badutf8    the page with an invalid UTF-8 byte inside a title
    slow       the page after kw delay seconds (default 5): longer than a short timeout
    big        a valid page padded to kw bytes (default 2 MiB): over a small cap
"""
import argparse
import gzip
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(ROOT, "t", "fixtures", "openlibrary")


def load_docs(directory):
    docs, q = [], ""
    for name in sorted(os.listdir(directory)):
        if name.endswith(".json"):
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                page = json.load(f)
            docs.extend(page["docs"])
            q = page.get("q", q)
    return docs, q


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fixture-openlibrary/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _send(self, status, body, ctype="application/json", headers=None, cut=False):
        gz = "gzip" in (self.headers.get("Accept-Encoding") or "") and not cut
        if gz:
            body = gzip.compress(body)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if gz:
            self.send_header("Content-Encoding", "gzip")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if cut:
            self.send_header("Connection", "close")
        self.end_headers()
        if cut:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def do_POST(self):
        fx = self.server.fx
        n = int(self.headers.get("Content-Length") or 0)
        data = json.loads(self.rfile.read(n) or b"[]")
        if self.path == "/_faults":
            with fx.lock:
                fx.faults = [dict(f, seen=0) for f in data]
            self._send(200, b"{}")
        else:
            self._send(404, b'{"error":"not found"}')

    def do_GET(self):
        fx = self.server.fx
        url = urllib.parse.urlsplit(self.path)
        qs = urllib.parse.parse_qs(url.query)
        if url.path == "/_log":
            with fx.lock:
                body = json.dumps(fx.requests).encode()
            self._send(200, body)
            return
        page = int((qs.get("page") or ["1"])[0])
        limit = int((qs.get("limit") or ["100"])[0])
        entry = {"path": url.path, "page": page, "limit": limit, "t": time.monotonic(),
                 "user_agent": self.headers.get("User-Agent"),
                 "accept_encoding": self.headers.get("Accept-Encoding"), "fault": None}
        fault = None
        with fx.lock:
            fx.requests.append(entry)
            for f in fx.faults:
                if f.get("path", "/search.json") != url.path:
                    continue
                if f.get("page") is not None and f["page"] != page:
                    continue
                if f.get("times", 1) != -1 and f["seen"] >= f.get("times", 1):
                    continue
                f["seen"] += 1
                fault = f
                entry["fault"] = f["kind"]
                break
        if url.path in fx.files:
            with open(fx.files[url.path], "rb") as f:
                body = f.read()
            if fault and fault["kind"] == "500":
                self._send(500, b'{"error":"injected"}')
            else:
                self._send(200, body)
            return
        if url.path != "/search.json":
            self._send(404, b'{"error":"not found"}')
            return
        lo = (page - 1) * limit
        docs = fx.docs[lo: lo + limit]
        body = json.dumps({"numFound": len(fx.docs), "start": lo, "numFoundExact": True,
                           "docs": docs, "num_found": len(fx.docs),
                           "q": (qs.get("q") or [fx.q])[0], "offset": None},
                          ensure_ascii=False).encode("utf-8")
        kind = fault["kind"] if fault else None
        if kind == "500":
            self._send(500, b'{"error":"Internal Server Error (injected)"}')
        elif kind == "429":
            self._send(429, b'{"error":"Too Many Requests (injected)"}',
                       headers={"Retry-After": str(fault.get("retry_after", 1))})
        elif kind == "cut":
            self._send(200, body, cut=True)
        elif kind == "badjson":
            self._send(200, body[: len(body) // 2] + b"<html>oops</html>")
        elif kind == "badutf8":
            i = body.index(b'"title": "') + len(b'"title": "')
            self._send(200, body[:i] + b"\xff\xfe" + body[i:])
        elif kind == "slow":
            time.sleep(fault.get("delay", 5))
            try:
                self._send(200, body)
            except OSError:
                pass  # the client gave up, as it should
        elif kind == "big":
            pad = fault.get("bytes", 2 * 1024 * 1024)
            page_obj = json.loads(body)
            page_obj["padding"] = "x" * pad
            self._send(200, json.dumps(page_obj, ensure_ascii=False).encode("utf-8"))
        else:
            self._send(200, body)


class FixtureServer:
    def __init__(self, directory=FIXTURES, files=None, port=0):
        self.docs, self.q = load_docs(directory)
        self.files = dict(files or {"/bookstores.json": os.path.join(ROOT, "etc",
                                                                      "bookstores.json")})
        self.faults = []
        self.requests = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.fx = self
        self.port = self.httpd.server_address[1]
        self.base_url = "http://127.0.0.1:%d" % self.port
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def fault(self, kind, page=None, times=1, path="/search.json", **kw):
        """Replaces the fault list with this one fault (or none: kind None)."""
        with self.lock:
            self.faults = [] if kind is None else [dict(kw, kind=kind, page=page, times=times,
                                                        path=path, seen=0)]

    def log(self, clear=True):
        with self.lock:
            out = list(self.requests)
            if clear:
                self.requests.clear()
        return out


def main():
    ap = argparse.ArgumentParser(description="Open Library search API fixture server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--dir", default=FIXTURES)
    args = ap.parse_args()
    fx = FixtureServer(args.dir, port=args.port)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % fx.port)
        os.rename(tmp, args.port_file)
    print("fixture server on %s" % fx.base_url, flush=True)
    try:
        fx.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
