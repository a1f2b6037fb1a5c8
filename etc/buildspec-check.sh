#!/usr/bin/env bash
# make buildspec-check: the pipeline's test step, run here. CodeBuild runs the
# first command of buildspec.yml's build phase: a Debian 12 container that
# installs with etc/install-deps.sh and runs `make test` against the MongoDB
# that pre_build started. This runs THAT command line, read from
# buildspec.yml (not a copy of it), with:
#   docker            → podman (runc, host network, the host's CAs: etc/container.sh)
#   $DEBIAN_IMAGE     → a bare Debian 12 made locally (no registry here)
#   the mongo service → the MongoDB stand-in started separately on the host:
#                       MONGODB_URI points at it, as buildspec.yml's does at
#                       its container (or set MONGODB_URI to any server)
#   the source        → `git archive` of HEAD, as CodePipeline's CODE_ZIP
#                       artifact (no .git)
# The package caches are the buildspec's: APT_CACHE_DIR and NPM_CACHE_DIR
# (default under ~/.cache/oponn-fresh, shared with make fresh-check).
set -euo pipefail
cd "$(dirname "$0")/.."
. etc/container.sh

t0=$(date +%s)
commit=$(git rev-parse HEAD)
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "buildspec-check: uncommitted changes are not checked; exporting $commit" >&2
fi
DEBIAN_IMAGE=$(container_plain_base)
cmd=$(/usr/bin/python3 -c '
import sys, yaml
spec = yaml.safe_load(open("buildspec.yml"))
cmds = [c for c in spec["phases"]["build"]["commands"] if "make test" in c]
if len(cmds) != 1:
    sys.exit("buildspec-check: expected one build command running make test, found %d" % len(cmds))
print(cmds[0])')
case "$cmd" in
  "docker run "*) ;;
  *) echo "buildspec-check: the test command does not start with docker run: $cmd" >&2; exit 1 ;;
esac

work=$(mktemp -d)
standin=""
cleanup() {
  [ -z "$standin" ] || kill "$standin" 2>/dev/null || true
  # The container wrote the build as (mapped) root: remove it the same way.
  container_podman unshare rm -rf "$work" 2>/dev/null || rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${MONGODB_URI:-}" ]; then
  /usr/bin/python3 etc/dev/mongo-standin.py --host 127.0.0.1 --port 0 \
    --port-file "$work/mongo.port" >"$work/mongo.log" 2>&1 &
  standin=$!
  for _ in $(seq 100); do
    [ -s "$work/mongo.port" ] && break
    kill -0 "$standin" 2>/dev/null || { cat "$work/mongo.log" >&2; exit 1; }
    sleep 0.1
  done
  [ -s "$work/mongo.port" ] || { echo "buildspec-check: the stand-in did not start" >&2; exit 1; }
  MONGODB_URI="mongodb://127.0.0.1:$(cat "$work/mongo.port")/?directConnection=true"
fi
export DEBIAN_IMAGE MONGODB_URI
FRESH_CACHE=${FRESH_CACHE:-$HOME/.cache/oponn-fresh}
export APT_CACHE_DIR=$FRESH_CACHE/apt NPM_CACHE_DIR=$FRESH_CACHE/npm
mkdir -p "$APT_CACHE_DIR/partial" "$NPM_CACHE_DIR"

mkdir "$work/src"
git archive "$commit" | tar -x -C "$work/src"

mapfile -t ca < <(container_ca_args run)
docker() {
  if [ "$1" = run ]; then
    shift
    container_podman run "${ca[@]}" "$@"
  else
    container_podman "$@"
  fi
}
echo "buildspec-check: commit $commit, $DEBIAN_IMAGE, MONGODB_URI=$MONGODB_URI" >&2
echo "buildspec-check: running: $cmd" >&2
(cd "$work/src" && eval "$cmd")
echo "buildspec-check: passed in $(($(date +%s) - t0))s (commit $commit)"
