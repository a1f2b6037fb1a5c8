#!/usr/bin/python3
# ElastiCache speaks TLS (rediss://) and Debian's hiredis 0.14 does not: the
# container entrypoint carries it through a local stunnel. Here: a TLS-only
# redis-server with a throwaway CA, the entrypoint's redis-tunnel role, and a
# plain PING through the tunnel; a wrong CA must be refused.
import os
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import taplib  # noqa: E402

t = taplib.Tap()
ENTRY = os.path.join(taplib.ROOT, "infra", "docker", "oponn-container")
d = tempfile.mkdtemp(prefix="oponn-t-tls-")
procs = []


def ssl(*args):
    subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True)


def ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16)
    except OSError:
        return b""


try:
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "1", "-subj", "/CN=oponn test CA")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
        "-subj", "/CN=localhost")
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost\n")
    ssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "srv.pem", "-days", "1", "-extfile", "ext")
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out",
        "other.pem", "-days", "1", "-subj", "/CN=another CA")

    tls_port = taplib._stack.free_port()
    procs.append(subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(tls_port), "--bind", "127.0.0.1",
         "--tls-cert-file", os.path.join(d, "srv.pem"), "--tls-key-file", os.path.join(d, "srv.key"),
         "--tls-ca-cert-file", os.path.join(d, "ca.pem"), "--tls-auth-clients", "no",
         "--save", "", "--dir", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    taplib.wait_until(lambda: taplib._stack.port_open(tls_port), "TLS redis")

    for ca, want, name in (("ca.pem", b"+PONG", "PING through the tunnel with the right CA"),
                           ("other.pem", b"", "a server certificate from another CA is refused")):
        local = taplib._stack.free_port()
        env = dict(os.environ, OPONN_REDIS_URL="rediss://localhost:%d" % tls_port,
                   OPONN_SHARE_DIR=taplib.ROOT,
                   OPONN_REDIS_TLS_LOCAL_PORT=str(local), OPONN_REDIS_TLS_CA=os.path.join(d, ca),
                   TMPDIR=d)
        tun = subprocess.Popen([ENTRY, "redis-tunnel"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        procs.append(tun)
        taplib.wait_until(lambda: taplib._stack.port_open(local), "tunnel", proc=tun)
        t.ok(ping(local).startswith(want) and (want or not ping(local).startswith(b"+")), name)
        tun.terminate()
        tun.wait(timeout=10)
finally:
    for p in procs:
        if p.poll() is None:
            p.terminate()
            p.wait(timeout=10)
    shutil.rmtree(d, ignore_errors=True)
t.done()
