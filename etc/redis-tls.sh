# etc/redis-tls.sh — sourced (sh/bash) by whatever starts an oponn process that
# talks to Redis: the container entrypoint (infra/docker/oponn-container) and
# the ansible run scripts. Defines oponn_redis_tls.
#
# ElastiCache encrypts in transit (rediss://), and Debian's hiredis (0.14) has
# no TLS: a local stunnel (Debian's stunnel4) carries the connection, and the
# process is pointed at it with plain redis://127.0.0.1. Each container that
# talks to Redis (pool, writer) runs its own tunnel, so no network mode of the
# task matters. The server certificate is verified against the system CAs
# (OPONN_REDIS_TLS_CA overrides the bundle). FOREGROUND=yes keeps stunnel in
# the foreground (role redis-tunnel).
oponn_redis_tls() {
    case "${OPONN_REDIS_URL:-}" in
    rediss://*) ;;
    *) return 0 ;;
    esac
    # rediss://[user[:password]@]host[:port][/db]: stunnel gets host:port
    # only; the user, password and database stay in the plain URL the
    # process gets (the password never lands in stunnel.conf).
    local rest authority path userinfo=""
    rest=${OPONN_REDIS_URL#rediss://}
    authority=${rest%%/*}
    path=${rest#"$authority"}
    case "$authority" in
    *@*) userinfo=${authority%@*}@; authority=${authority##*@} ;;
    esac
    case "$authority" in
    *:*) hostport=$authority ;;
    *) hostport=$authority:6379 ;;
    esac
    host=${hostport%:*}; local_port=${OPONN_REDIS_TLS_LOCAL_PORT:-6380}
    local dir=${TMPDIR:-/tmp}/oponn-stunnel
    mkdir -p "$dir"
    cat >"$dir/stunnel.conf" <<CONF
foreground = ${FOREGROUND:-no}
pid = $dir/stunnel.pid
output = /dev/stderr
[redis]
client = yes
accept = 127.0.0.1:$local_port
connect = $hostport
verifyChain = yes
CAfile = ${OPONN_REDIS_TLS_CA:-/etc/ssl/certs/ca-certificates.crt}
checkHost = $host
sslVersionMin = TLSv1.2
CONF
    if [ "${FOREGROUND:-no}" = yes ]; then
        exec stunnel "$dir/stunnel.conf"
    fi
    stunnel "$dir/stunnel.conf"
    export OPONN_REDIS_URL="redis://${userinfo}127.0.0.1:$local_port$path"
}
