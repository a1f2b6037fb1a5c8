#!/usr/bin/python3
# The worker's FastCGI loop (lib/fcgi_server.c), talked to straight on the
# pool's socket as nginx does, one worker: three requests on one kept
# connection get three answers on it; an idle kept connection does not pin
# the worker (a request on a second connection is answered while the first
# stays open); a request sent in pieces, the first alone, does not hold up a
# whole request on another connection; a broken record closes only its own
# connection and the worker lives on; without FCGI_KEEP_CONN the worker
# answers and closes; a body over OPONN_MAX_BODY_BYTES gets 413 and the
# connection serves the next request; SIGTERM with connections open stops
# the worker cleanly (multiwatch starts another, which answers).
import os
import select
import signal
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import taplib  # noqa: E402

t = taplib.Tap()
TIMEOUT_S = 10


def rec(rtype, rid, content=b""):
    return struct.pack(">BBHHBB", 1, rtype, rid, len(content), 0, 0) + content


def nv(name, value):
    def ln(x):
        return bytes([len(x)]) if len(x) < 128 else struct.pack(">I", len(x) | 0x80000000)
    return ln(name) + ln(value) + name + value


def request(rid, path=b"/livez", keep=True, body=b"", method=b"GET"):
    params = (nv(b"REQUEST_METHOD", method) + nv(b"DOCUMENT_URI", path) +
              nv(b"SCRIPT_NAME", path) + nv(b"QUERY_STRING", b"") +
              nv(b"CONTENT_TYPE", b"application/json") +
              nv(b"CONTENT_LENGTH", str(len(body)).encode()) + nv(b"REMOTE_ADDR", b"127.0.0.1"))
    out = rec(1, rid, struct.pack(">HB5x", 1, 1 if keep else 0))
    out += rec(4, rid, params) + rec(4, rid)
    for i in range(0, len(body), 32768):
        out += rec(5, rid, body[i:i + 32768])
    return out + rec(5, rid)


class Conn:
    """A connection to the pool's socket, as nginx holds one."""

    def __init__(self, s):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT_S)
        self.sock.connect(s.socket_path)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def answer(self):
        """The next answer: (request id, stdout bytes, protocol status), or
        None when the worker closed the connection first."""
        stdout = b""
        while True:
            while len(self.buf) >= 8:
                _, rtype, rid, clen, plen, _ = struct.unpack(">BBHHBB", self.buf[:8])
                if len(self.buf) < 8 + clen + plen:
                    break
                content = self.buf[8:8 + clen]
                self.buf = self.buf[8 + clen + plen:]
                if rtype == 6:
                    stdout += content
                elif rtype == 3:
                    return rid, stdout, content[4]
            got = self.sock.recv(65536)
            if not got:
                return None
            self.buf += got

    def eof(self):
        """True when the worker closed it (a read gives b"" within the timeout)."""
        r, _, _ = select.select([self.sock], [], [], TIMEOUT_S)
        return bool(r) and self.sock.recv(1) == b""

    def close(self):
        self.sock.close()


def status_of(stdout):
    head = stdout.split(b"\r\n", 1)[0]
    return int(head.split()[1]) if head.startswith(b"Status:") else None


with taplib.stack(workers=1, services=("redis", "mongo", "pool"),
                  env={"OPONN_MAX_BODY_BYTES": "2048"}) as s:
    pid = s.worker_pids()[0]

    a = Conn(s)
    a.send(request(1) + request(2) + request(3))
    answers = [a.answer() for _ in range(3)]
    t.is_([(x[0], status_of(x[1]), x[2]) for x in answers], [(i, 200, 0) for i in (1, 2, 3)],
          "three requests on one kept connection: three answers on it, in order")

    b = Conn(s)
    b.send(request(7))
    got = b.answer()
    t.ok(got and status_of(got[1]) == 200, "an idle kept connection does not pin the worker: "
         "a second connection is answered while the first stays open", got)

    c = Conn(s)
    whole = request(9)
    c.send(whole[:5])  # the first bytes of a record header only
    b.send(request(8))
    got = b.answer()
    t.ok(got and got[0] == 8 and status_of(got[1]) == 200,
         "a request sent in pieces does not hold up a whole one on another connection", got)
    c.send(whole[5:])
    got = c.answer()
    t.ok(got and got[0] == 9 and status_of(got[1]) == 200, "and it is answered once complete", got)

    d = Conn(s)
    d.send(b"\x02" + request(1)[1:])  # version 2
    t.ok(d.eof(), "a broken record: the worker closes that connection")
    a.send(request(4))
    got = a.answer()
    t.ok(got and got[0] == 4 and status_of(got[1]) == 200 and s.worker_pids() == [pid],
         "and the worker lives on, its other connections served", (got, s.worker_pids(), pid))

    e = Conn(s)
    e.send(request(5, keep=False))
    got = e.answer()
    t.ok(got and status_of(got[1]) == 200 and e.eof(),
         "without FCGI_KEEP_CONN: answered, then the worker closes the connection", got)

    f = Conn(s)
    f.send(request(6, path=b"/graphql", method=b"POST", body=b"x" * 5000) + request(7))
    over, nxt = f.answer(), f.answer()
    t.ok(over and status_of(over[1]) == 413 and b"request body too large" in over[1],
         "a body over OPONN_MAX_BODY_BYTES: 413", over)
    t.ok(nxt and nxt[0] == 7 and status_of(nxt[1]) == 200,
         "and the same connection serves the next request", nxt)

    os.kill(pid, signal.SIGTERM)
    t.ok(a.eof() and b.eof(), "SIGTERM with kept connections open: the worker closes them")
    g = Conn(s)  # waits in the socket's backlog for the worker multiwatch starts
    g.send(request(1))
    got = g.answer()
    t.ok(got and status_of(got[1]) == 200 and s.worker_pids() not in ([], [pid]),
         "a new worker answers after it", (got, s.worker_pids()))
    with open(os.path.join(s.run_dir, "logs", "pool.log"), errors="replace") as lf:
        log = lf.read()
    t.ok("fcgi: closing a connection: FastCGI record version 2, expected 1" in log,
         "the broken record is in the pool's log, with what was wrong", log[-2000:])
    for x in (a, b, c, d, e, f, g):
        x.close()

t.done()
