# etc/container.sh — sourced by etc/fresh-check.sh, etc/image-check.sh and
# etc/buildspec-check.sh.
# The container set-up of these machines in one place: Debian's podman with
# runc on the host network, a local Debian 12 base image (made by
# etc/install-deps.sh --containers, which holds the package lists), and the
# host's certificate authorities, which a TLS-intercepting proxy between this
# machine and the npm registry makes necessary (else npm fails with
# SELF_SIGNED_CERT_IN_CHAIN).

# The host's bundle, mounted read-only beside (not over) the image's own.
CONTAINER_HOST_CA=/etc/ssl/certs/ca-certificates.crt
CONTAINER_CA=/usr/local/share/oponn-host-ca.crt
CONTAINER_CA_ENV=(NODE_EXTRA_CA_CERTS GIT_SSL_CAINFO CURL_CA_BUNDLE)

container_podman() {
  podman --runtime runc "$@"
}

# Prints the base image's name; installs podman and makes the image if missing.
container_base() {
  etc/install-deps.sh --containers | tail -n 1
}

# A bare Debian 12 image (no make, git or CA bundle), as Docker's
# debian:bookworm: what buildspec.yml's test container starts from.
container_plain_base() {
  etc/install-deps.sh --containers plain | tail -n 1
}

# Arguments of `podman run` (run) or `podman build` (build, where the
# Dockerfile declares the variables as ARGs of its build stage) that make the
# container trust the host's CAs: the mount and the variables node (npm), git
# and curl read. One argument a line (mapfile).
container_ca_args() {
  local v flag=-e
  [ "$1" = build ] && flag=--build-arg
  [ -f "$CONTAINER_HOST_CA" ] || return 0
  printf '%s\n' -v "$CONTAINER_HOST_CA:$CONTAINER_CA:ro"
  for v in "${CONTAINER_CA_ENV[@]}"; do
    printf '%s\n' "$flag" "$v=$CONTAINER_CA"
  done
}

# A loopback TCP port that was free a moment ago (the containers use the
# host's network, so their servers must not take a port someone else holds).
container_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
