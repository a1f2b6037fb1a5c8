#!/usr/bin/python3
# ElastiCache speaks TLS (rediss://) and Debian's hiredis 0.14 does not: the
# container entrypoint carries it through a local stunnel. Here: a TLS-only
# redis-server with a throwaway CA, the entrypoint's redis-tunnel role, and a
# plain PING through the tunnel; a wrong CA must be refused. Then every role
# that talks to Redis, given the rediss:// URL as ECS gives it: pool + nginx
# + writer as the task runs them (a write-behind mutation queued through the
# pool's tunnel, applied by the writer through its own), the admin CLI (oponn
# role, whose tunnel ends with the command), all; and the nginx role's
# readiness probe logging "not ready" once Redis is gone.
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

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


def role(name, args, env, log):
    p = subprocess.Popen([ENTRY, name] + args, env=env, stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True)
    procs.append(p)
    return p


def tunnel_pids(tmp):
    """Pid of the stunnel an entrypoint started with TMPDIR=tmp, if it runs."""
    try:
        with open(os.path.join(tmp, "oponn-stunnel", "stunnel.pid")) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
        return [pid]
    except (OSError, ValueError):
        return []


def eventually(cond, what, timeout=30, **kw):
    """True once cond() holds (polled by wait_until), False after timeout."""
    try:
        taplib.wait_until(cond, what, timeout=timeout, **kw)
        return True
    except Exception as e:  # wait_until's timeout: reported by the caller's not ok
        print("# " + str(e).replace("\n", "\n# "))
        return False


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


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

    def start_tls_redis():
        p = subprocess.Popen(
            ["redis-server", "--port", "0", "--tls-port", str(tls_port), "--bind", "127.0.0.1",
             "--tls-cert-file", os.path.join(d, "srv.pem"), "--tls-key-file", os.path.join(d, "srv.key"),
             "--tls-ca-cert-file", os.path.join(d, "ca.pem"), "--tls-auth-clients", "no",
             "--save", "", "--dir", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        taplib.wait_until(lambda: taplib._stack.port_open(tls_port), "TLS redis", proc=p)
        return p
    redis_tls = start_tls_redis()

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

    # ---- every role, as the task runs them (one tunnel per role: own port, own TMPDIR)
    build = os.path.join(taplib.ROOT, "build")
    with taplib.stack(services=("mongo",)) as s:
        http_port = taplib._stack.free_port()
        sock = os.path.join(d, "oponn.sock")
        base = dict(s.env(), OPONN_REDIS_URL="rediss://localhost:%d" % tls_port,
                    OPONN_REDIS_TLS_CA=os.path.join(d, "ca.pem"), OPONN_SHARE_DIR=taplib.ROOT,
                    OPONN_BIN_DIR=build, OPONN_SOCKET=sock, OPONN_HTTP_PORT=str(http_port),
                    OPONN_HTTP_LISTEN="127.0.0.1", OPONN_WORKERS="1", OPONN_NGINX_WORKERS="1",
                    OPONN_WRITE_MODE="behind", OPONN_RATE_LIMIT="0", OPONN_READINESS_INTERVAL="1")
        tmps = {}

        def env_of(name):
            tmps[name] = os.path.join(d, name)
            os.makedirs(tmps[name], exist_ok=True)
            return dict(base, TMPDIR=tmps[name], OPONN_NGINX_DIR=os.path.join(tmps[name], "nginx"),
                        OPONN_REDIS_TLS_LOCAL_PORT=str(taplib._stack.free_port()))

        logs = {n: open(os.path.join(d, n + ".log"), "w") for n in ("pool", "nginx", "writer", "all")}

        def admin(*args):
            env = env_of("oponn")
            r = subprocess.run([ENTRY, "oponn"] + list(args), env=env, capture_output=True, text=True, timeout=60)
            stats = dict(ln.split("=", 1) for ln in r.stdout.splitlines() if "=" in ln)
            return r, stats, int(env["OPONN_REDIS_TLS_LOCAL_PORT"])

        r, stats, admin_port = admin("cache", "stats")
        t.ok(r.returncode == 0 and stats.get("queue_length") == "0",
             "oponn role: the admin CLI reaches a rediss:// Redis (cache stats)", r.stdout + r.stderr)
        t.ok(not taplib._stack.port_open(admin_port) and not os.path.exists(os.path.join(tmps["oponn"], "oponn-stunnel")),
             "oponn role: its tunnel ends with the command")
        r, _, admin_port = admin("cache", "purge", "no-such-type")
        t.ok(r.returncode == 2 and not taplib._stack.port_open(admin_port),
             "oponn role: the command's exit status is the role's (2: bad usage), tunnel ended too",
             (r.returncode, r.stderr))

        pool = role("pool", [], env_of("pool"), logs["pool"])
        taplib.wait_until(lambda: os.path.exists(sock), "pool socket", proc=pool, log=logs["pool"].name)
        nginx = role("nginx", [], env_of("nginx"), logs["nginx"])
        taplib.wait_until(lambda: taplib._stack.port_open(http_port), "nginx", proc=nginx, log=logs["nginx"].name)
        def get(path, body=None, headers=None):
            req = urllib.request.Request("http://127.0.0.1:%d%s" % (http_port, path), data=body,
                                         headers=headers or {}, method="POST" if body else "GET")
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    return resp.status, json.loads(resp.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())
        t.is_(get("/healthz"), (200, {"status": "ok", "redis": "ok", "mongodb": "ok"}),
              "pool role: the workers reach Redis through the pool's tunnel (/healthz)")
        st, b = get("/graphql", json.dumps({"query": 'mutation { createBookstore(input:{name:"Over TLS"}) { id name } }'}).encode(),
                    {"content-type": "application/json", "authorization": "Bearer " + base["OPONN_WRITE_TOKEN"]})
        t.ok(st == 200 and b.get("data", {}).get("createBookstore", {}).get("name") == "Over TLS",
             "write-behind mutation acknowledged (queued in Redis)", b)
        r, stats, _ = admin("cache", "stats")
        t.is_(stats.get("queue_length"), "1", "one write queued, no writer yet")
        wenv = env_of("writer")
        writer = role("writer", [], wenv, logs["writer"])

        def drained():
            _, st_, _ = admin("cache", "stats")
            return st_.get("queue_length") == "0" and st_.get("dead_letters") == "0"
        t.ok(eventually(drained, "the writer to apply the queued write", proc=writer)
             and "on redis://127.0.0.1:%s" % wenv["OPONN_REDIS_TLS_LOCAL_PORT"] in read(logs["writer"].name),
             "writer role: applied the write through its own tunnel", read(logs["writer"].name))

        # Readiness probe (nginx role): Redis gone -> logged, the task keeps /livez.
        redis_tls.terminate()
        redis_tls.wait(timeout=10)
        t.ok(eventually(lambda: "oponn-readiness: not ready: 503" in read(logs["nginx"].name),
                        "the readiness probe to log Redis down", timeout=20),
             "nginx role: the readiness probe logs 'not ready' while /healthz is 503", read(logs["nginx"].name))
        t.is_(get("/livez")[0], 200, "and /livez stays 200 (liveness)")
        for p in (nginx, writer, pool):
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=30)
        left = [pid for n in ("pool", "writer") for pid in tunnel_pids(tmps[n])]
        for pid in left:
            os.kill(pid, signal.SIGTERM)  # a container's tunnel dies with the container
        t.ok(len(left) == 2, "pool and writer roles each started a tunnel", left)

        # Role all, against a new TLS Redis on the same port.
        redis_tls = start_tls_redis()
        env = env_of("all")
        allp = role("all", [], env, logs["all"])
        taplib.wait_until(lambda: taplib._stack.port_open(http_port), "all", proc=allp, log=logs["all"].name)
        hz = get("/healthz")
        os.kill(allp.pid, signal.SIGTERM)
        rc = allp.wait(timeout=30)
        t.ok(hz == (200, {"status": "ok", "redis": "ok", "mongodb": "ok"}) and rc == 0
             and not tunnel_pids(tmps["all"]) and not taplib._stack.port_open(int(env["OPONN_REDIS_TLS_LOCAL_PORT"])),
             "all role: Redis through its tunnel; SIGTERM stops it, tunnel included", (hz, rc))
        for f in logs.values():
            f.close()
finally:
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                p.kill()
            p.wait(timeout=10)
    for n in ("pool", "writer", "all", "oponn"):
        for pid in tunnel_pids(os.path.join(d, n)):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(d, ignore_errors=True)
t.done()
