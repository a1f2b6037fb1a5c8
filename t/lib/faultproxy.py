"""A TCP proxy for fault tests: forwards 127.0.0.1:<port> to an upstream
port, and on demand turns into a black hole (connections are accepted, what
the client sends is swallowed, nothing is ever answered) — a backend that
hangs without closing anything. With drop_write_replies set (MongoDB only),
a write command (insert, update, delete, findAndModify) is forwarded and
applied, but its reply is thrown away and the client's connection closed:
a write whose outcome the client cannot know. Threads only; stop() closes
every socket. pool_behind() runs a test stack's pool and nginx with their
MongoDB behind one."""
import contextlib
import socket
import struct
import threading
import urllib.parse

OP_MSG = 2013
WRITE_COMMANDS = {"insert", "update", "delete", "findAndModify", "findandmodify"}


def _command_name(msg):
    """The command name (first key of the body document) of one OP_MSG, or
    None for anything else."""
    if len(msg) < 21 or struct.unpack_from("<i", msg, 12)[0] != OP_MSG:
        return None
    at = 20  # header (16) + flagBits (4)
    while at < len(msg):
        kind = msg[at]
        if kind == 0:  # body: one BSON document; its first element's name
            key = at + 1 + 4 + 1
            end = msg.find(b"\0", key)
            return msg[key:end].decode(errors="replace") if end > 0 else None
        if kind == 1:  # document sequence: int32 size (itself included)
            at += 1 + struct.unpack_from("<i", msg, at + 1)[0]
            continue
        return None
    return None



def upstream(port):
    """A blocking connection to 127.0.0.1:port (the proxied server), or None."""
    try:
        u = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        return None
    u.settimeout(None)
    return u

class _Conn:
    """What the proxy knows of one client connection."""

    def __init__(self):
        self.pending = b""  # bytes of a client message not complete yet
        self.drop_reply = False


class FaultProxy:
    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.hang = False
        self.drop_write_replies = False
        self.dropped = []  # command names whose reply was dropped, in order
        # While hanging: the client-side port (the worker's end) of each
        # connection whose bytes were swallowed, in order — which process
        # is now waiting on MongoDB (t/62 kills exactly that worker).
        self.held = []
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.socks = []
        self.lock = threading.Lock()
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _keep(self, s):
        with self.lock:
            self.socks.append(s)

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            self._keep(c)
            if self.hang:
                threading.Thread(target=self._swallow, args=(c,), daemon=True).start()
                continue
            u = upstream(self.upstream_port)
            if u is None:
                c.close()
                continue
            self._keep(u)
            st = _Conn()
            threading.Thread(target=self._pump, args=(c, u, st, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, st, False), daemon=True).start()

    def _held(self, c):
        try:
            port = c.getpeername()[1]
        except OSError:
            return
        with self.lock:
            self.held.append(port)

    def _swallow(self, c):
        try:
            while c.recv(65536):
                self._held(c)
        except OSError:
            pass

    def _watch(self, st, data):
        """Client to server: marks the connection when a complete write
        command goes by (before it is forwarded, so before any reply)."""
        st.pending += data
        while len(st.pending) >= 16:
            n = struct.unpack_from("<i", st.pending, 0)[0]
            if n < 16 or len(st.pending) < n:
                break
            name = _command_name(st.pending[:n])
            st.pending = st.pending[n:]
            if self.drop_write_replies and name in WRITE_COMMANDS:
                st.drop_reply = name

    def _pump(self, src, dst, st=None, to_server=True):
        """Copies src to dst; while hanging, drops what it reads instead.
        A reply to a marked write is dropped and both sides closed."""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if st is not None and to_server:
                    self._watch(st, data)
                if st is not None and not to_server and st.drop_reply:
                    with self.lock:
                        self.dropped.append(st.drop_reply)
                    break  # the write was applied; its client never hears so
                if not self.hang:
                    dst.sendall(data)
                elif to_server:
                    self._held(src)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        self.stopped = True
        with self.lock:
            socks, self.socks = self.socks, []
        for s in [self.lsock] + socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


@contextlib.contextmanager
def pool_behind(s):
    """Starts the stack's pool and nginx with MongoDB behind a FaultProxy and
    yields (proxy, the direct MongoDB URI). On the way out the workers stop
    before the proxy: they end their MongoDB sessions through it."""
    direct = s.mongo_uri
    up = urllib.parse.urlparse(direct)
    proxy = FaultProxy(up.port)
    try:
        s.mongo_uri = "mongodb://127.0.0.1:%d/?%s" % (proxy.port, up.query)
        s.start(services=("pool", "nginx"))
        yield proxy, direct
    finally:
        for name in ("nginx", "pool"):
            s.stop_service(name)
        proxy.stop()
