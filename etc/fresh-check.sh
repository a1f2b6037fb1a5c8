#!/usr/bin/env bash
# make fresh-check: a newcomer's first minutes, for real. In a clean Debian 12
# container that holds only make, git and ca-certificates, clone this
# checkout's commit, then `make run` must succeed the first time and print the
# URL, /healthz must answer 200, `make stop`, and `make test` must pass.
# Uncommitted changes are not part of the check (it clones HEAD).
#
# FRESH_CACHE=<dir> keeps the downloaded .deb and npm tarballs between runs
# (default ~/.cache/oponn-fresh; empty: download everything again). Every
# package is still installed from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
. etc/container.sh

t0=$(date +%s)
base=$(container_base)
commit=$(git rev-parse HEAD)
gitdir=$(cd "$(git rev-parse --git-common-dir)" && pwd)
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "fresh-check: uncommitted changes are not checked; cloning $commit" >&2
fi
mapfile -t ca < <(container_ca_args run)
cache=()
FRESH_CACHE=${FRESH_CACHE-$HOME/.cache/oponn-fresh}
if [ -n "$FRESH_CACHE" ]; then
  mkdir -p "$FRESH_CACHE/apt" "$FRESH_CACHE/npm"
  cache=(-v "$FRESH_CACHE/apt:/var/cache/apt/archives" -v "$FRESH_CACHE/npm:/root/.npm")
fi
name=oponn-fresh-$$
trap 'container_podman rm -f -i "$name" >/dev/null 2>&1 || true' EXIT

# The host's network (no other is set up here): the stack takes free ports,
# not the defaults someone's `make run` may hold.
container_podman run --rm --name "$name" --network host "${ca[@]}" "${cache[@]}" \
  -v "$gitdir:/host/repo.git:ro" -e COMMIT="$commit" \
  -e OPONN_HTTP_PORT="$(container_free_port)" -e OPONN_REDIS_PORT="$(container_free_port)" \
  "$base" bash -c '
set -euo pipefail
t0=$(date +%s)
step() { echo "fresh-check: [$(( $(date +%s) - t0 ))s] $*" >&2; }
step "git clone, commit $COMMIT"
# The mounted repository belongs to the host user; cloning it is the point.
git config --global --add safe.directory /host/repo.git
git clone -q --no-checkout /host/repo.git /src
cd /src
git checkout -q --detach "$COMMIT"
# The container is thrown away: dpkg need not fsync every file it unpacks.
# No other setting differs from a fresh machine.
echo force-unsafe-io > /etc/dpkg/dpkg.cfg.d/fresh-check-unsafe-io
step "make run (first time)"
make run 2>&1 | tee /tmp/run.log
url="http://127.0.0.1:$OPONN_HTTP_PORT"
grep -q "GraphQL  *$url/graphql" /tmp/run.log || { step "make run did not print $url/graphql"; exit 1; }
code=$(curl -s -o /dev/null -w "%{http_code}" "$url/healthz")
[ "$code" = 200 ] || { step "/healthz answered $code, not 200"; exit 1; }
step "/healthz 200"
make stop
step "make test"
# The failing assertions with their diagnostics in the log (there is no
# container left to look into afterwards).
make test PROVE_FLAGS="--failures --comments"
step "passed"
'
echo "fresh-check: passed in $(( $(date +%s) - t0 ))s (commit $commit, base $base)"
