"""A TCP proxy for fault tests: forwards 127.0.0.1:<port> to an upstream
port, and on demand turns into a black hole (connections are accepted, what
the client sends is swallowed, nothing is ever answered) — a backend that
hangs without closing anything. Threads only; stop() closes every socket."""
import socket
import threading


class FaultProxy:
    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.hang = False
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
            try:
                u = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            self._keep(u)
            threading.Thread(target=self._pump, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c), daemon=True).start()

    def _swallow(self, c):
        try:
            while c.recv(65536):
                pass
        except OSError:
            pass

    def _pump(self, src, dst):
        """Copies src to dst; while hanging, drops what it reads instead."""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not self.hang:
                    dst.sendall(data)
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
