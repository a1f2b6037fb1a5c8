#!/usr/bin/env bash
# The one list of what oponn needs from Debian (and, for tooling, npm).
# Every place that installs packages calls this script: README, .ci/run, the
# Dockerfile, ansible and buildspec.yml. Idempotent; fast when all is present.
#
#   etc/install-deps.sh              build + run + test dependencies
#   etc/install-deps.sh --runtime    only what the deployed service needs
#   etc/install-deps.sh --build      only what compiling the three executables
#                                    and the GraphiQL page needs (image build stage)
#   etc/install-deps.sh --containers podman and a local Debian 12 base image
#                                    (make fresh-check, make image-check); prints
#                                    the image's name on stdout
#   etc/install-deps.sh --containers plain
#                                    the same, but the image is a bare Debian 12
#                                    (no make, git or CA bundle), standing in for
#                                    Docker's debian:bookworm (make buildspec-check)
#   etc/install-deps.sh --print      print the package list and exit
set -euo pipefail

# What the deployed service needs at run time.
RUNTIME_PKGS=(
  nginx spawn-fcgi multiwatch redis-server redis-tools
  libhiredis0.14 libmongoc-1.0-0 libbson-1.0-0 libcurl4 libcjson1
  libunistring2 ca-certificates curl python3
  stunnel4
)
# What compiling needs: the three executables, the tests' programs and (with
# NODE_PKGS and npm ci) the GraphiQL page.
COMPILE_PKGS=(
  build-essential pkg-config make
  libhiredis-dev libmongoc-dev libbson-dev libcurl4-openssl-dev
  libcjson-dev libunistring-dev
)
# What testing needs on top (chromium: the GraphiQL browser test).
BUILD_PKGS=(
  "${COMPILE_PKGS[@]}"
  python3-mockupdb python3-mongomock
  clang libclang-rt-14-dev valgrind
  wrk gnuplot-nox jq perl git
  ansible-core ansible-lint yamllint python3-yaml
  chromium
)
# Node.js for the npm tooling: Debian's nodejs+npm, unless a node with npm is
# already present (a machine image may ship its own build; the two conflict).
NODE_PKGS=(nodejs npm)
# Containers for make fresh-check and make image-check: Debian's podman with
# runc, and mmdebstrap to make the base image locally (no registry needed).
CONTAINER_PKGS=(podman runc mmdebstrap uidmap slirp4netns)
# The base image: what a newcomer's Debian 12 has before reading the README.
BASE_SUITE=bookworm
BASE_INCLUDE=ca-certificates,make,git
BASE_IMAGE=localhost/oponn-base:$BASE_SUITE

mode=all
case "${1:-}" in
  --runtime) mode=runtime ;;
  --build) mode=build ;;
  --containers)
    mode=containers
    if [ "${2:-}" = plain ]; then
      BASE_INCLUDE=""
      BASE_IMAGE=localhost/oponn-debian:$BASE_SUITE
    fi
    ;;
  --print) printf '%s\n' "${RUNTIME_PKGS[@]}" "${BUILD_PKGS[@]}" "${NODE_PKGS[@]}"; exit 0 ;;
  "" ) ;;
  *) echo "usage: $0 [--runtime|--build|--containers [plain]|--print]" >&2; exit 2 ;;
esac

case "$mode" in
  runtime) pkgs=("${RUNTIME_PKGS[@]}") ;;
  build) pkgs=("${COMPILE_PKGS[@]}") ;;
  containers) pkgs=("${CONTAINER_PKGS[@]}") ;;
  all) pkgs=("${RUNTIME_PKGS[@]}" "${BUILD_PKGS[@]}") ;;
esac
case "$mode" in build | all)
  if ! { command -v node && command -v npm; } >/dev/null 2>&1; then
    pkgs+=("${NODE_PKGS[@]}")
  fi
esac
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Package lists may be absent on a fresh machine or image.
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A system nginx/redis started by the package's post-install would hold the
# default ports; oponn runs its own on other ports, so leave them, but say so.

if [ "$mode" = containers ]; then
  # Rootful podman in a VM or container: the default ulimits and the systemd
  # cgroup manager are what fail there. Written once; an existing file is left
  # alone (say so, the admin may have reasons).
  conf=/etc/containers/containers.conf
  if [ ! -e "$conf" ]; then
    echo "install-deps: writing $conf" >&2
    $sudo mkdir -p /etc/containers
    printf '%s\n' '# Written by oponn etc/install-deps.sh --containers.' \
      '[containers]' 'default_ulimits = []' '' '[engine]' 'cgroup_manager = "cgroupfs"' |
      $sudo tee "$conf" >/dev/null
  elif ! grep -q '^cgroup_manager *= *"cgroupfs"' "$conf"; then
    echo "install-deps: $conf exists without cgroup_manager = \"cgroupfs\"; left as it is" >&2
  fi
  # The base image, made once and then found by its tag.
  if ! $sudo podman image exists "$BASE_IMAGE"; then
    echo "install-deps: making $BASE_IMAGE (mmdebstrap $BASE_SUITE, minbase${BASE_INCLUDE:+ + $BASE_INCLUDE})" >&2
    tmp=$(mktemp -d)
    trap '$sudo rm -rf "$tmp"' EXIT
    # The same archive as a fresh install: main, updates and security.
    m=http://deb.debian.org
    $sudo mmdebstrap --quiet --variant=minbase ${BASE_INCLUDE:+--include="$BASE_INCLUDE"} "$BASE_SUITE" "$tmp/base.tar" \
      "deb $m/debian $BASE_SUITE main" "deb $m/debian $BASE_SUITE-updates main" \
      "deb $m/debian-security $BASE_SUITE-security main" </dev/null >&2
    $sudo podman import --quiet "$tmp/base.tar" "$BASE_IMAGE" >/dev/null
  fi
  echo "$BASE_IMAGE"
  exit 0
fi

# npm tooling (tests, load peers, infra validation, the GraphiQL bundles): only
# when the lock file's packages are not yet installed.
if [ "$mode" = all ] || [ "$mode" = build ]; then
  here=$(cd "$(dirname "$0")/.." && pwd)
  if [ -f "$here/package.json" ]; then
    if [ ! -d "$here/node_modules" ] || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
      echo "install-deps: npm ci (test tooling)" >&2
      (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
    fi
  fi
fi
exit 0
