"""t/lib/redisproxy.py — a TCP proxy in front of Redis that can stall the
subscriber connections only (the L1 tests, issue 23).

Every connection is forwarded both ways. A connection whose client has sent
SUBSCRIBE (the worker's invalidation link: `__redis__:invalidate`) is a
subscriber; while `stall()` is in force, what Redis sends on a subscriber
(invalidation messages, PONGs) is held in the proxy instead of forwarded, and
`release()` forwards it all, in order. The other connections (the worker's
commands and scripts) are untouched: writes succeed and their invalidations
are queued, but no worker hears of them — the link is alive as TCP, silent
as a lease. Threads only; stop() closes every socket.
"""
import socket
import threading

from faultproxy import upstream


class _Pair:
    def __init__(self, client, upstream):
        self.client, self.upstream = client, upstream
        self.subscriber = False
        self.held = []  # bytes from Redis not forwarded yet (while stalled)
        self.lock = threading.Lock()


class RedisProxy:
    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.stalled = False
        self.held_bytes = 0  # bytes held on subscribers since the last stall()
        self.lock = threading.Lock()
        self.pairs = []
        self.socks = []
        self.stopped = False
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def subscribers(self):
        with self.lock:
            return sum(1 for p in self.pairs if p.subscriber)

    def stall(self):
        with self.lock:
            self.stalled = True
            self.held_bytes = 0

    def release(self):
        with self.lock:
            self.stalled = False
            pairs = list(self.pairs)
        for p in pairs:
            with p.lock:
                held, p.held = p.held, []
                try:
                    for data in held:
                        p.client.sendall(data)
                except OSError:
                    pass

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            u = upstream(self.upstream_port)
            if u is None:
                c.close()
                continue
            p = _Pair(c, u)
            with self.lock:
                self.socks += [c, u]
                self.pairs.append(p)
            threading.Thread(target=self._up, args=(p,), daemon=True).start()
            threading.Thread(target=self._down, args=(p,), daemon=True).start()

    def _up(self, p):
        """Client to Redis; marks the connection when it subscribes."""
        tail = b""
        try:
            while True:
                data = p.client.recv(65536)
                if not data:
                    break
                if not p.subscriber and b"SUBSCRIBE" in (tail + data).upper():
                    p.subscriber = True
                tail = data[-16:]
                p.upstream.sendall(data)
        except OSError:
            pass
        self._close(p)

    def _down(self, p):
        """Redis to client; held on a subscriber while stalled."""
        try:
            while True:
                data = p.upstream.recv(65536)
                if not data:
                    break
                with p.lock:
                    if self.stalled and p.subscriber:
                        p.held.append(data)
                        with self.lock:
                            self.held_bytes += len(data)
                        continue
                    p.client.sendall(data)
        except OSError:
            pass
        self._close(p)

    def _close(self, p):
        for s in (p.client, p.upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with self.lock:
            if p in self.pairs:
                self.pairs.remove(p)

    def stop(self):
        self.stopped = True
        with self.lock:
            socks, self.socks = self.socks, []
            self.pairs = []
        for s in [self.lsock] + socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
