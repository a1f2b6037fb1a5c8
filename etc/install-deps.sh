#!/usr/bin/env bash
# The one list of what oponn needs from Debian (and, for tooling, npm).
# Every place that installs packages calls this script: README, .ci/run, the
# Dockerfile, ansible and buildspec.yml. Idempotent; fast when all is present.
#
#   etc/install-deps.sh            build + run + test dependencies
#   etc/install-deps.sh --runtime  only what the deployed service needs
#   etc/install-deps.sh --print    print the package list and exit
set -euo pipefail

# What the deployed service needs at run time.
RUNTIME_PKGS=(
  nginx spawn-fcgi multiwatch redis-server redis-tools
  libfcgi0ldbl libhiredis0.14 libmongoc-1.0-0 libbson-1.0-0 libcurl4 libcjson1
  libunistring2 ca-certificates curl python3
  stunnel4
)
# What building and testing need on top (chromium: the GraphiQL browser test).
BUILD_PKGS=(
  build-essential pkg-config make
  libfcgi-dev libhiredis-dev libmongoc-dev libbson-dev libcurl4-openssl-dev
  libcjson-dev libunistring-dev
  python3-mockupdb python3-mongomock
  clang libclang-rt-14-dev valgrind
  wrk gnuplot-nox jq perl git
  ansible-core ansible-lint yamllint python3-yaml
  chromium
)
# Node.js for the npm tooling: Debian's nodejs+npm, unless a node with npm is
# already present (a machine image may ship its own build; the two conflict).
NODE_PKGS=(nodejs npm)

mode=all
case "${1:-}" in
  --runtime) mode=runtime ;;
  --print) printf '%s\n' "${RUNTIME_PKGS[@]}" "${BUILD_PKGS[@]}" "${NODE_PKGS[@]}"; exit 0 ;;
  "" ) ;;
  *) echo "usage: $0 [--runtime|--print]" >&2; exit 2 ;;
esac

pkgs=("${RUNTIME_PKGS[@]}")
[ "$mode" = all ] && pkgs+=("${BUILD_PKGS[@]}")
if [ "$mode" = all ] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
  pkgs+=("${NODE_PKGS[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # Package lists may be absent on a fresh machine or image.
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A system nginx/redis started by the package's post-install would hold the
# default ports; oponn runs its own on other ports, so leave them, but say so.

# npm tooling (tests, load peers, infra validation): only in the full mode, and
# only when the lock file's packages are not yet installed.
if [ "$mode" = all ]; then
  here=$(cd "$(dirname "$0")/.." && pwd)
  if [ -f "$here/package.json" ]; then
    if [ ! -d "$here/node_modules" ] || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
      echo "install-deps: npm ci (test tooling)" >&2
      (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
    fi
  fi
fi
exit 0
