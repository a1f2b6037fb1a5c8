#!/usr/bin/python3
# ansible/: `ansible-playbook --syntax-check` and `ansible-lint` (production
# profile) are clean; yamllint is clean on the CloudFormation templates and
# buildspec.yml; the roles have the standard layout and document every
# pool-tuning knob the issue names.
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "lib"))
import taplib  # noqa: E402

t = taplib.Tap()
ANSIBLE = os.path.join(ROOT, "ansible")
tmp = tempfile.mkdtemp(prefix="oponn-t-72-")
env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ANSIBLE, "ansible.cfg"), ANSIBLE_LOCAL_TEMP=tmp,
           ANSIBLE_HOME=os.path.join(tmp, "home"), ANSIBLE_NOCOLOR="1", NO_COLOR="1", HOME=tmp)


def run(argv, cwd=ANSIBLE):
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


try:
    for tool in ("ansible-playbook", "ansible-lint", "yamllint"):
        t.ok(shutil.which(tool), "%s installed (etc/install-deps.sh)" % tool)

    r = run(["ansible-playbook", "--syntax-check", "-i", "inventory.example.ini", "site.yml"])
    t.ok(r.returncode == 0, "ansible-playbook --syntax-check site.yml", r.stdout + r.stderr)

    r = run(["ansible-lint", "--offline", "-p", "site.yml", "roles"])
    t.ok(r.returncode == 0 and "production" in r.stdout + r.stderr,
         "ansible-lint: passes the production profile", r.stdout[-3000:] + r.stderr[-3000:])

    yl = [os.path.join("infra", f) for f in sorted(os.listdir(os.path.join(ROOT, "infra"))) if f.endswith(".yaml")]
    r = run(["yamllint", "-s", "-c", "infra/yamllint.yml"] + yl + ["buildspec.yml"], cwd=ROOT)
    t.ok(r.returncode == 0, "yamllint: CloudFormation templates and buildspec.yml", r.stdout + r.stderr)

    roles = sorted(os.listdir(os.path.join(ANSIBLE, "roles")))
    layout = [(ro, d) for ro in roles for d in ("defaults", "tasks", "meta")
              if not os.path.exists(os.path.join(ANSIBLE, "roles", ro, d, "main.yml"))]
    t.is_(layout, [], "roles %s have defaults/, tasks/, meta/" % ", ".join(roles))
    t.ok(all(os.path.isdir(os.path.join(ANSIBLE, "roles", ro, "handlers")) and os.path.isdir(os.path.join(ANSIBLE, "roles", ro, "templates"))
             for ro in roles if ro != "oponn_common"), "service roles have handlers/ and templates/")

    defaults = {}
    for ro in roles:
        with open(os.path.join(ANSIBLE, "roles", ro, "defaults", "main.yml")) as f:
            text = f.read()
        # a knob is documented when a comment sits right above it
        for m in re.finditer(r"((?:^#.*\n)+)?^(\w+):", text, re.M):
            defaults[m.group(2)] = bool(m.group(1))
    knobs = ["oponn_workers", "oponn_backlog", "oponn_worker_max_requests", "oponn_nginx_worker_processes",
             "oponn_nginx_worker_connections", "oponn_nginx_keepalive", "oponn_nginx_rate_limit"]
    t.is_([k for k in knobs if not defaults.get(k)], [], "pool knobs have documented defaults: " + ", ".join(knobs))

    with open(os.path.join(ANSIBLE, "roles", "oponn_nginx", "handlers", "main.yml")) as f:
        h = f.read()
    t.ok(h.index("nginx -t") < h.index("-s reload"), "nginx handler runs nginx -t before the reload")
    with open(os.path.join(ANSIBLE, "roles", "oponn_nginx", "tasks", "main.yml")) as f:
        t.ok("validate: /usr/sbin/nginx -t" in f.read(), "nginx config is validated with nginx -t before it is installed")

    # systemd units (oponn_service_manager=systemd cannot run here: systemd is
    # not pid 1): render each role's unit from the same template and service
    # definition the roles use, and have systemd-analyze verify them.
    if not shutil.which("systemd-analyze"):
        t.ok(True, "# SKIP systemd-analyze not installed")
    else:
        roles_dir = os.path.join(ANSIBLE, "roles")
        prefix = os.path.join(tmp, "prefix")
        os.makedirs(os.path.join(prefix, "libexec"))
        services = {"redis": "oponn_redis_service", "pool": "oponn_pool_service",
                    "writer": "oponn_writer_service", "nginx": "oponn_nginx_service"}
        for name in services:
            p = os.path.join(prefix, "libexec", "run-" + name)
            with open(p, "w") as f:
                f.write("#!/bin/sh\n")
            os.chmod(p, 0o755)
        play = os.path.join(tmp, "units.yml")
        with open(play, "w") as f:
            f.write('''- hosts: localhost
  connection: local
  gather_facts: false
  vars_files:
    - %(r)s/oponn_common/defaults/main.yml
    - %(r)s/oponn_app/defaults/main.yml
    - %(r)s/oponn_app/vars/main.yml
    - %(r)s/oponn_redis/vars/main.yml
    - %(r)s/oponn_nginx/vars/main.yml
  tasks:
    - ansible.builtin.template:
        src: %(r)s/oponn_common/templates/oponn.service.j2
        dest: %(t)s/oponn-{{ oponn_svc.name }}.service
        mode: "0644"
      loop: [%(svcs)s]
      loop_control:
        loop_var: oponn_svc
''' % {"r": roles_dir, "t": tmp,
       "svcs": ", ".join("'{{ %s }}'" % v for v in services.values())})
        r = run(["ansible-playbook", "-i", "localhost,", "-e", "oponn_prefix=" + prefix, play], cwd=tmp)
        units = [os.path.join(tmp, "oponn-%s.service" % n) for n in services]
        t.ok(r.returncode == 0 and all(os.path.exists(u) for u in units), "systemd units render",
             r.stdout[-2000:] + r.stderr[-2000:])
        if all(os.path.exists(u) for u in units):
            v = subprocess.run(["systemd-analyze", "verify"] + units, capture_output=True, text=True, timeout=60)
            t.ok(v.returncode == 0 and v.stderr.strip() == "", "systemd-analyze verify: units clean", v.stderr)
            with open(units[3]) as f:
                nginx_unit = f.read()
            t.ok(re.search(r"^ExecReload=/usr/sbin/nginx -t .*\nExecReload=/usr/sbin/nginx .*-s reload$", nginx_unit, re.M)
                 and "User=" not in nginx_unit, "oponn-nginx: reload runs nginx -t first; master starts as root")
            with open(units[1]) as f:
                pool_unit = f.read()
            t.ok("User=oponn\n" in pool_unit and "After=network-online.target oponn-redis.service" in pool_unit,
                 "oponn-pool runs as oponn, after the local Redis")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
t.done()
