#!/usr/bin/env bash
# make image-check: build the Dockerfile's image with podman on the local
# Debian 12 base (--format docker, so that HEALTHCHECK is kept), print the
# build time and the runtime image's size, then run it and check it
# (etc/image-check.py). Runs on the host, from .ci/run; not part of make test.
#
# IMAGE_CHECK_NO_CACHE=1 builds without podman's layer cache (a cold build).
set -euo pipefail
cd "$(dirname "$0")/.."
. etc/container.sh

base=$(container_base)
image=localhost/oponn:image-check
mapfile -t ca < <(container_ca_args build)
nocache=()
[ "${IMAGE_CHECK_NO_CACHE:-0}" = 1 ] && nocache=(--no-cache)

old=$(container_podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
t0=$(date +%s)
container_podman build --format docker --network host "${nocache[@]}" "${ca[@]}" \
  --build-arg BASE_IMAGE="$base" -t "$image" . >&2
t1=$(date +%s)
size=$(container_podman image inspect --format '{{.Size}}' "$image")
echo "image-check: built $image in $((t1 - t0))s${nocache:+ (no cache)}; runtime image size $size bytes ($((size / 1024 / 1024)) MiB), base $base"
# The previous build under this tag, now untagged, would pile up (only ours:
# other images on this machine are not this script's to remove).
new=$(container_podman image inspect --format '{{.Id}}' "$image")
if [ -n "$old" ] && [ "$old" != "$new" ]; then
  container_podman rmi "$old" >/dev/null 2>&1 || true
fi

exec /usr/bin/python3 etc/image-check.py "$image"
