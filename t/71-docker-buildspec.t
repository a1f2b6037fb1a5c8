#!/usr/bin/python3
# buildspec.yml and the Dockerfile, checked as far as this machine can
# (no docker daemon, no AWS): buildspec parses and every repository file and
# make target it runs exists; imagedefinitions.json names the task's
# containers; the Dockerfile's sources exist and its stages use the install
# script; and the image's entrypoint really serves: infra/docker/oponn-container
# starts the pool and nginx exactly as the container does (binaries from
# build/, etc/nginx/oponn.conf.in), a GraphQL query goes through, its health
# checks pass, and SIGTERM stops both.
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(ROOT, "infra", "tools"))
import taplib  # noqa: E402
import cfn_template as cfn  # noqa: E402
import yaml  # noqa: E402
from stack import free_port, port_open, wait_until  # noqa: E402

t = taplib.Tap()


def read(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()


makefile = read("Makefile")
make_targets = set(re.findall(r"^([a-zA-Z][\w-]*):", makefile, re.M))
built = {os.path.basename(p)[:-2] for p in os.listdir(os.path.join(ROOT, "fcgi")) if p.endswith(".c")}

# ---- buildspec.yml ---------------------------------------------------------------
bs = yaml.safe_load(read("buildspec.yml"))
t.ok(bs.get("version") == 0.2 and set(bs["phases"]) == {"pre_build", "build", "post_build"},
     "buildspec.yml parses: version 0.2, pre_build/build/post_build")
t.ok(all(p.get("on-failure") == "ABORT" for p in bs["phases"].values()),
     "every phase aborts on failure (no push after a failed test)")
commands = [c for p in ("pre_build", "build", "post_build") for c in bs["phases"][p]["commands"]]
text = "\n".join(commands)

# Every repository path and make target a command names must exist.
missing = []
for c in commands:
    words = []
    for w in shlex.split(c, posix=True):
        words += re.split(r"\s*(?:&&|\|\||;)\s*|\s+", w)  # inside bash -c '...'
    for i, w in enumerate(words):
        if re.fullmatch(r"(\./)?(etc|infra|t|ansible|schema|fcgi|lib)/[\w./-]+", w):
            if not os.path.exists(os.path.join(ROOT, w)):
                missing.append(w)
        if w == "make" and i + 1 < len(words) and re.fullmatch(r"[a-z][\w-]*", words[i + 1]):
            if words[i + 1] not in make_targets:
                missing.append("make " + words[i + 1])
t.is_(missing, [], "every repository file and make target buildspec runs exists")
t.ok("etc/install-deps.sh && make test" in text, "build installs through etc/install-deps.sh, then make test")
t.ok(re.search(r"docker run -d --name mongo .*\$MONGO_IMAGE", text) and "-e MONGODB_URI=" in text
     and bs["env"]["variables"]["MONGODB_URI"].startswith("mongodb://127.0.0.1:27017")
     and text.index("--name mongo") < text.index("make test"),
     "a real MongoDB container starts before make test, which gets MONGODB_URI")
push = re.search(r'docker push "\$REPOSITORY_URI:\$IMAGE_TAG"', text)
t.ok(push and "CODEBUILD_RESOLVED_SOURCE_VERSION" in text
     and re.search(r'docker build .*-t "\$REPOSITORY_URI:\$IMAGE_TAG" \.$', text, re.M),
     "image built from the Dockerfile and pushed tagged with the commit")

# imagedefinitions.json: run the printf with sample values; it must name
# every container of the task definition, all on the pushed image.
printf = [c for c in commands if "imagedefinitions.json" in c and c.startswith("printf")][0]
env = dict(os.environ, REPOSITORY_URI="123456789012.dkr.ecr.eu-west-1.amazonaws.com/oponn", IMAGE_TAG="0123abcd4567")
with tempfile.TemporaryDirectory() as d:
    subprocess.run(["sh", "-c", printf], cwd=d, env=env, check=True)
    with open(os.path.join(d, "imagedefinitions.json")) as f:
        defs = json.load(f)
td = cfn.load(os.path.join(ROOT, "infra", "service.yaml"))["Resources"]["TaskDefinition"]["Properties"]
names = sorted(c["Name"] for c in td["ContainerDefinitions"])
t.ok(sorted(d["name"] for d in defs) == names
     and {d["imageUri"] for d in defs} == {env["REPOSITORY_URI"] + ":" + env["IMAGE_TAG"]},
     "imagedefinitions.json names every task container (%s) with the pushed image" % ", ".join(names), defs)
t.ok(bs["artifacts"]["files"] == ["imagedefinitions.json", "image-tag.txt"],
     "the build's artifacts: imagedefinitions.json (ECS deploy), image-tag.txt (the SSM record)")
tagcmd = [c for c in commands if "image-tag.txt" in c and c.startswith("printf")]
with tempfile.TemporaryDirectory() as d:
    subprocess.run(["sh", "-c", tagcmd[0] if tagcmd else "false"], cwd=d, env=env)
    got = open(os.path.join(d, "image-tag.txt")).read() if os.path.exists(os.path.join(d, "image-tag.txt")) else None
t.is_(got, env["IMAGE_TAG"] + "\n", "image-tag.txt holds the pushed tag")

# ---- the cache: CodeBuild's local cache (infra/pipeline.yaml) keeps docker
# layers and the directories of cache.paths, which the test container mounts
# for apt's archives and npm's cache.
bp = cfn.load(os.path.join(ROOT, "infra", "pipeline.yaml"))["Resources"]["BuildProject"]["Properties"]
cache = bp.get("Cache", {})
t.ok(cache.get("Type") == "LOCAL" and {"LOCAL_DOCKER_LAYER_CACHE", "LOCAL_CUSTOM_CACHE"} <= set(cache.get("Modes", [])),
     "CodeBuild project: local cache of docker layers and custom paths", cache)
bvars = bs["env"]["variables"]
dirs = {k: bvars.get(k) for k in ("APT_CACHE_DIR", "NPM_CACHE_DIR")}
t.ok(all(v and v.startswith("/") for v in dirs.values())
     and sorted(bs.get("cache", {}).get("paths", [])) == sorted(v + "/**/*" for v in dirs.values()),
     "cache.paths are the apt and npm cache directories", (dirs, bs.get("cache")))
test_run = [c for c in commands if "make test" in c][0]
t.ok('-v "$APT_CACHE_DIR:/var/cache/apt/archives"' in test_run and '-v "$NPM_CACHE_DIR:/root/.npm"' in test_run
     and "rm -f /etc/apt/apt.conf.d/docker-clean && etc/install-deps.sh" in test_run
     and re.search(r'mkdir -p "\$APT_CACHE_DIR/partial" "\$NPM_CACHE_DIR"', text)
     and text.index("$APT_CACHE_DIR/partial") < text.index("make test"),
     "the test container mounts them (apt keeps its .debs: docker-clean removed)")

# ---- Dockerfile -------------------------------------------------------------------------
df = read("Dockerfile")
stages = re.findall(r"^FROM \S+ AS (\w+)$", df, re.M)
t.is_(stages, ["build", "runtime"], "multi-stage: build, then runtime")
build_part, runtime_part = df.split("FROM ${BASE_IMAGE} AS runtime")
t.ok(re.search(r"^RUN etc/install-deps.sh --build$", build_part, re.M) and re.search(r"^RUN make clean && make", build_part, re.M)
     and "install-deps.sh --runtime" in runtime_part,
     "stages install through etc/install-deps.sh (--build to build, --runtime to run) and build with make")
# The GraphiQL page comes from npm packages that install-deps.sh's npm ci puts
# in node_modules, which .dockerignore keeps out of COPY . .: the lock must be
# in the image before that step, and the build fails if the page is missing.
npm_files = re.search(r"^COPY (package\.json package-lock\.json \.npmrc) \./$", build_part, re.M)
install_at = build_part.find("RUN etc/install-deps.sh --build")
t.ok(npm_files and npm_files.start() < install_at < build_part.index("COPY . .")
     and re.search(r"test -s build/graphiql/graphiql\.min\.js", build_part),
     "package.json, the lock and .npmrc are copied before install-deps.sh --build (npm ci), "
     "and the build stage fails without build/graphiql")
ignored = [ln.strip() for ln in read(".dockerignore").splitlines() if ln.strip() and not ln.startswith("#")]
srcs = []
for m in re.finditer(r"^COPY (?!--from)(.+) (\S+)$", df, re.M):
    srcs += m.group(1).split()
t.ok(all(os.path.exists(os.path.join(ROOT, s)) for s in srcs) and not any(s.split("/")[0] in ignored for s in srcs if s != "."),
     "every COPY source exists and is not excluded by .dockerignore", srcs)
from_build = re.findall(r"/src/build/([\w-]+)", runtime_part)
# build/graphiql is the GraphiQL page `make` assembles from npm packages.
t.ok({"oponn-worker", "oponn"} <= set(from_build) <= {b for b in built} | {"oponn-writer", "graphiql"},
     "runtime copies the executables the Makefile builds (and the GraphiQL page)", from_build)
if "oponn-writer" not in built:
    t.n += 1
    print("not ok %d - fcgi/oponn-writer.c exists (the image copies build/oponn-writer) # TODO the writer is not on main yet" % t.n)
user = re.findall(r"^USER (\S+)$", runtime_part, re.M)
t.ok(user and user[-1] not in ("root", "0") and re.search(r'^HEALTHCHECK [^\n]*\\\n\s+CMD \["/usr/local/bin/oponn-container", "healthcheck"\]$', runtime_part, re.M),
     "runtime runs as a non-root user and has a HEALTHCHECK")
schema_env = re.search(r"OPONN_SCHEMA=(\S+)", df).group(1)
t.ok(schema_env.startswith("/usr/local/share/oponn/schema/") and "COPY --from=build /src/schema /usr/local/share/oponn/schema" in df
     and "COPY etc/nginx /usr/local/share/oponn/etc/nginx" in df,
     "OPONN_SCHEMA and the nginx template are where the Dockerfile copies them")

# The container renders etc/nginx/oponn.conf.in itself (sed): it must fill
# every variable the template has.
tpl_vars = set(re.findall(r"@[A-Z_]+@", "\n".join(ln for ln in read("etc", "nginx", "oponn.conf.in").splitlines()
                                                 if not ln.lstrip().startswith("#"))))
entry_src = read("infra", "docker", "oponn-container")
t.is_(sorted(v for v in tpl_vars if "s|%s|" % v not in entry_src), [],
      "oponn-container fills every @VAR@ of etc/nginx/oponn.conf.in")

# ---- the entrypoint, for real ---------------------------------------------------------------------
entry = os.path.join(ROOT, "infra", "docker", "oponn-container")
cmds = {c["Name"]: c["Command"] for c in td["ContainerDefinitions"]}
t.ok(os.access(entry, os.X_OK) and cmds == {"pool": ["pool"], "nginx": ["nginx"], "writer": ["writer"]},
     "task containers run the entrypoint's pool, nginx and writer roles")

if not os.access(os.path.join(ROOT, "build", "oponn-worker"), os.X_OK):
    t.ok(False, "build/oponn-worker exists (run make)")
    t.done()

with taplib.stack(services=("redis", "mongo")) as s, tempfile.TemporaryDirectory(prefix="oponn-t-71-") as d:
    port = free_port()
    cenv = dict(os.environ, **{k: v for k, v in s.env().items() if k in ("OPONN_REDIS_URL", "MONGODB_URI", "OPONN_MONGODB_DB")})
    cenv.update(OPONN_BIN_DIR=os.path.join(ROOT, "build"), OPONN_SHARE_DIR=ROOT,
                OPONN_SCHEMA=os.path.join(ROOT, "schema", "schema.graphql"),
                OPONN_SOCKET=os.path.join(d, "oponn.sock"), OPONN_HTTP_PORT=str(port),
                OPONN_HTTP_LISTEN="127.0.0.1", OPONN_WORKERS="2", OPONN_NGINX_DIR=os.path.join(d, "nginx"),
                OPONN_NGINX_WORKERS="1", OPONN_NGINX_ACCESS_LOG="off", TMPDIR=d)
    log = open(os.path.join(d, "container.log"), "w")
    proc = subprocess.Popen([entry, "all"], env=cenv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: port_open(port), "nginx from oponn-container all", proc=proc,
                   log=os.path.join(d, "container.log"))
        req = urllib.request.Request("http://127.0.0.1:%d/graphql" % port, method="POST",
                                     data=json.dumps({"query": "{ __typename }"}).encode(),
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            got = (r.status, json.loads(r.read()))
        t.is_(got, (200, {"data": {"__typename": "Query"}}), "GraphQL through the container's nginx and pool")
        hc = {role: subprocess.run([entry, "healthcheck", role], env=cenv, capture_output=True).returncode
              for role in ("all", "pool", "nginx")}
        t.is_(hc, {"all": 0, "pool": 0, "nginx": 0}, "entrypoint health checks pass (all, pool, nginx)")
        t.is_(subprocess.run([entry, "healthcheck"], env=cenv).returncode, 0,
              "HEALTHCHECK without a role checks the role the container started with")
        os.kill(proc.pid, signal.SIGTERM)
        rc = proc.wait(timeout=30)

        def group_gone():
            try:
                os.killpg(proc.pid, 0)
                return False
            except ProcessLookupError:
                return True
        wait_until(group_gone, "nginx, multiwatch and the workers to exit", timeout=15)
        t.ok(rc == 0 and not port_open(port), "SIGTERM stops nginx, the pool and its workers; exit 0")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
t.done()
