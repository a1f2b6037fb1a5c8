#!/usr/bin/python3
# A real run of ansible/site.yml against localhost (connection local) into a
# temporary prefix, with its own ports and oponn_service_manager=direct (no
# systemd): Redis, the FastCGI pool and nginx as the roles configure them.
# A GraphQL query through that nginx must succeed; a second run must change
# nothing; then everything it started is stopped and the prefix removed.
import getpass
import grp
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import taplib  # noqa: E402
from stack import free_port, port_open  # noqa: E402

ROOT = taplib.ROOT
ANSIBLE = os.path.join(ROOT, "ansible")
t = taplib.Tap()

if not shutil.which("ansible-playbook"):
    print("1..0 # SKIP ansible-playbook not installed (etc/install-deps.sh installs it)")
    sys.exit(0)
if not os.access(os.path.join(ROOT, "build", "oponn-worker"), os.X_OK):
    print("1..0 # SKIP build/oponn-worker missing (run make)")
    sys.exit(0)

tmp = None  # set once the MongoDB endpoint is up; removed at the end
prefix = None
http_port, redis_port = free_port(), free_port()
services = ["nginx", "writer", "pool", "redis"]  # stop order


def http(method, path, body=None, headers=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (http_port, path), data=body,
                                 method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:  # nothing listening: a failed assertion, not a crash
        return None, str(e).encode()


def playbook(extra_vars_file):
    env = dict(os.environ,
               ANSIBLE_CONFIG=os.path.join(ANSIBLE, "ansible.cfg"),
               ANSIBLE_LOCAL_TEMP=os.path.join(tmp, "ansible-tmp"),
               ANSIBLE_REMOTE_TEMP=os.path.join(tmp, "ansible-tmp"),
               ANSIBLE_HOME=os.path.join(tmp, "ansible-home"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    inv = os.path.join(tmp, "inventory.ini")
    with open(inv, "w") as f:
        f.write("[oponn]\nlocalhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n")
    return subprocess.run(["ansible-playbook", "-i", inv, "-e", "@" + extra_vars_file,
                           os.path.join(ANSIBLE, "site.yml")],
                          cwd=ANSIBLE, env=env, capture_output=True, text=True, timeout=1200)


# The MongoDB endpoint comes from the local stack (MONGODB_URI if set, else
# the development stand-in): ansible does not provision MongoDB (Atlas).
with taplib.stack(services=("mongo",)) as mongo:
    tmp = tempfile.mkdtemp(prefix="oponn-t-73-")
    prefix = os.path.join(tmp, "prefix")
    try:
        token = secrets.token_hex(16)
        user = getpass.getuser()
        extra = {
            "oponn_prefix": prefix,
            "oponn_service_manager": "direct",
            "oponn_manage_user": False,
            "oponn_user": user,
            "oponn_group": grp.getgrgid(os.getgid()).gr_name,
            "oponn_source_dir": ROOT,
            "oponn_http_port": http_port,
            "oponn_http_listen": "127.0.0.1",
            "oponn_redis_port": redis_port,
            "oponn_workers": 2,
            "oponn_nginx_worker_processes": 1,
            "oponn_nginx_rate_limit": 1000,
            "mongodb_uri": mongo.env()["MONGODB_URI"],
            "oponn_write_token": token,
            "oponn_writer_enabled": os.access(os.path.join(ROOT, "build", "oponn-writer"), os.X_OK),
        }
        vars_file = os.path.join(tmp, "vars.json")
        with open(vars_file, "w") as f:
            json.dump(extra, f)

        r = playbook(vars_file)
        t.ok(r.returncode == 0, "ansible-playbook site.yml against localhost (direct services)",
             r.stdout[-3000:] + r.stderr[-2000:])

        status, body = http("POST", "/graphql", json.dumps({"query": "{ __typename }"}).encode(),
                            {"content-type": "application/json"})
        t.is_((status, json.loads(body) if status == 200 else body),
              (200, {"data": {"__typename": "Query"}}), "GraphQL query through the nginx ansible configured")

        status, body = http("GET", "/healthz")
        t.is_((status, json.loads(body) if body.startswith(b"{") else body),
              (200, {"status": "ok", "redis": "ok", "mongodb": "ok"}),
              "/healthz: the local Redis ansible started and MongoDB answer")

        status, body = http("GET", "/nope")
        t.ok(status == 404 and b'"NOT_FOUND"' in body, "unknown path: JSON 404 from the role's nginx")

        with open(os.path.join(prefix, "etc", "oponn.env")) as f:
            envfile = f.read()
        t.ok("OPONN_WORKERS=2\n" in envfile and "OPONN_REDIS_URL=redis://127.0.0.1:%d\n" % redis_port in envfile,
             "environment file carries the pool knobs and the local Redis URL")
        t.is_(oct(os.stat(os.path.join(prefix, "etc", "oponn.env")).st_mode & 0o777), "0o640",
              "environment file (secrets) is not world-readable")

        r2 = playbook(vars_file)
        recap = [ln for ln in r2.stdout.splitlines() if ln.startswith("localhost")]
        t.ok(r2.returncode == 0 and recap and "changed=0" in recap[-1],
             "second run changes nothing (idempotent)", "\n".join(recap) + r2.stdout[-2000:])

        # A tuning change: nginx -t, then reload; still serving.
        nginx_pid = open(os.path.join(prefix, "run", "nginx.pid")).read().strip()
        extra.update(oponn_nginx_keepalive=4, oponn_nginx_worker_connections=512)
        with open(vars_file, "w") as f:
            json.dump(extra, f)
        r3 = playbook(vars_file)
        with open(os.path.join(prefix, "etc", "nginx.conf")) as f:
            conf = f.read()
        t.ok(r3.returncode == 0 and "RUNNING HANDLER [oponn_nginx : Reload nginx]" in r3.stdout
             and "keepalive 4;" in conf and "worker_connections 512;" in conf,
             "changed knobs: config rewritten, nginx -t and reload ran",
             "\n".join(ln for ln in r3.stdout.splitlines() if "HANDLER" in ln or "changed" in ln))
        status, _ = http("POST", "/graphql", json.dumps({"query": "{ __typename }"}).encode(),
                         {"content-type": "application/json"})
        t.ok(status == 200 and open(os.path.join(prefix, "run", "nginx.pid")).read().strip() == nginx_pid,
             "reloaded in place (same master) and still answering")

        # A config nginx rejects never replaces the running one.
        extra.update(oponn_nginx_worker_processes="lots")
        with open(vars_file, "w") as f:
            json.dump(extra, f)
        r4 = playbook(vars_file)
        with open(os.path.join(prefix, "etc", "nginx.conf")) as f:
            after = f.read()
        status, _ = http("GET", "/healthz")
        t.ok(r4.returncode != 0 and "failed to validate" in r4.stdout + r4.stderr and after == conf and status == 200,
             "a config failing nginx -t is refused; the old one keeps serving",
             (r4.stdout + r4.stderr)[-2000:])
    finally:
        helper = os.path.join(prefix, "bin", "oponn-service")
        for name in services:
            if os.path.exists(os.path.join(prefix, "libexec", "run-" + name)):
                subprocess.run([helper, "stop", name], capture_output=True, timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)
    t.ok(not port_open(http_port) and not port_open(redis_port), "teardown: nginx and Redis stopped")
t.done()
