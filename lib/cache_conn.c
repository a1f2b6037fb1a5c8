/*
 * cache_conn.c — Redis connection with back-off (see cache_conn.h).
 */
#include "cache_conn.h"

#include "metrics.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cache_conn {
    redisContext *ctx;
    char host[256];
    char unix_path[256];
    int port;
    int db;
    struct timeval timeout;
    int64_t down_until_ms; /* monotonic; no reconnect before this */
    int64_t backoff_ms;
    uint64_t roundtrips;
    uint64_t connects;
    uint64_t failures;
};

static int64_t cache_conn__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cache_conn__parse(cache_conn_t *c, const char *url, err_t *e)
{
    if (strncmp(url, "unix://", 7) == 0) {
        if (strlen(url + 7) >= sizeof c->unix_path || url[7] == '\0') {
            return err_set(e, ERR_BAD_INPUT, "OPONN_REDIS_URL %s: bad unix socket path", url);
        }
        strcpy(c->unix_path, url + 7);
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        return err_set(e, ERR_BAD_INPUT,
                       "OPONN_REDIS_URL=%s: expected redis://host:port[/db] or unix:///path "
                       "(TLS: terminate it in a local stunnel, see infra/README.md)",
                       url);
    }
    const char *p = url + 8;
    const char *colon = strchr(p, ':');
    const char *slash = strchr(p, '/');
    const char *host_end = colon ? colon : (slash ? slash : p + strlen(p));
    size_t hlen = (size_t)(host_end - p);
    if (hlen == 0 || hlen >= sizeof c->host) {
        return err_set(e, ERR_BAD_INPUT, "OPONN_REDIS_URL=%s: missing host", url);
    }
    memcpy(c->host, p, hlen);
    c->host[hlen] = '\0';
    c->port = 6379;
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || port < 1 || port > 65535 || (*end != '\0' && *end != '/')) {
            return err_set(e, ERR_BAD_INPUT, "OPONN_REDIS_URL=%s: bad port", url);
        }
        c->port = (int)port;
    }
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end != '\0' || db < 0 || db > 15) {
            return err_set(e, ERR_BAD_INPUT, "OPONN_REDIS_URL=%s: bad database number", url);
        }
        c->db = (int)db;
    }
    return 0;
}

int cache_conn_open(cache_conn_t **out, const cfg_t *cfg, err_t *e)
{
    *out = NULL;
    cache_conn_t *c = calloc(1, sizeof *c);
    if (c == NULL) abort();
    if (cache_conn__parse(c, cfg->redis_url, e) != 0) {
        free(c);
        return -1;
    }
    c->timeout.tv_sec = cfg->redis_timeout_ms / 1000;
    c->timeout.tv_usec = (cfg->redis_timeout_ms % 1000) * 1000;
    *out = c;
    return 0;
}

void cache_conn_close(cache_conn_t *c)
{
    if (c == NULL) return;
    if (c->ctx) redisFree(c->ctx);
    free(c);
}

void cache_conn_failed(cache_conn_t *c)
{
    if (c->ctx) {
        redisFree(c->ctx);
        c->ctx = NULL;
    }
    metrics_inc(METRIC_REDIS_ERRORS);
    c->failures++;
    /* Back-off doubles from 50 ms to 1 s while Redis stays down. */
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : 50;
    if (c->backoff_ms > 1000) c->backoff_ms = 1000;
    c->down_until_ms = cache_conn__now_ms() + c->backoff_ms;
}

void cache_conn_retry_now(cache_conn_t *c)
{
    c->down_until_ms = 0;
}

redisContext *cache_conn_get(cache_conn_t *c, err_t *e)
{
    if (c->ctx) return c->ctx;
    if (cache_conn__now_ms() < c->down_until_ms) {
        err_set(e, ERR_UNAVAILABLE, "Redis is down (retrying shortly)");
        return NULL;
    }
    redisContext *ctx = c->unix_path[0] ? redisConnectUnixWithTimeout(c->unix_path, c->timeout)
                                        : redisConnectWithTimeout(c->host, c->port, c->timeout);
    if (ctx == NULL || ctx->err) {
        err_set(e, ERR_UNAVAILABLE, "Redis unreachable at %s:%d: %s",
                c->unix_path[0] ? c->unix_path : c->host, c->unix_path[0] ? 0 : c->port,
                ctx ? ctx->errstr : "out of memory");
        if (ctx) redisFree(ctx);
        cache_conn_failed(c);
        return NULL;
    }
    redisSetTimeout(ctx, c->timeout);
    c->ctx = ctx;
    if (c->db) {
        redisReply *r = redisCommand(ctx, "SELECT %d", c->db);
        c->roundtrips++;
        metrics_inc(METRIC_REDIS_ROUNDTRIPS);
        int ok = r && r->type == REDIS_REPLY_STATUS;
        if (r) freeReplyObject(r);
        if (!ok) {
            err_set(e, ERR_UNAVAILABLE, "Redis: SELECT %d failed", c->db);
            cache_conn_failed(c);
            return NULL;
        }
    }
    c->backoff_ms = 0;
    c->connects++;
    return c->ctx;
}

void cache_conn_count_roundtrip(cache_conn_t *c)
{
    c->roundtrips++;
    metrics_inc(METRIC_REDIS_ROUNDTRIPS);
}

/* Counts the round trip of a command just sent on ctx; a NULL reply is an
 * I/O failure: the connection is dropped and the back-off starts. */
static redisReply *cache_conn__reply(cache_conn_t *c, redisContext *ctx, redisReply *r, err_t *e)
{
    cache_conn_count_roundtrip(c);
    if (r == NULL) {
        err_set(e, ERR_UNAVAILABLE, "Redis: %s", ctx->errstr[0] ? ctx->errstr : "no reply");
        cache_conn_failed(c);
    }
    return r;
}

redisReply *cache_conn_command(cache_conn_t *c, err_t *e, const char *fmt, ...)
{
    redisContext *ctx = cache_conn_get(c, e);
    if (ctx == NULL) return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    return cache_conn__reply(c, ctx, r, e);
}

redisReply *cache_conn_command_argv(cache_conn_t *c, err_t *e, int argc, const char **argv,
                                    const size_t *lens)
{
    redisContext *ctx = cache_conn_get(c, e);
    if (ctx == NULL) return NULL;
    return cache_conn__reply(c, ctx, redisCommandArgv(ctx, argc, argv, lens), e);
}

int cache_conn_ping(cache_conn_t *c, err_t *e)
{
    redisReply *r = cache_conn_command(c, e, "PING");
    if (r == NULL) return -1;
    int ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    freeReplyObject(r);
    if (!ok) return err_set(e, ERR_UNAVAILABLE, "Redis answered PING with something else");
    return 0;
}

uint64_t cache_conn_roundtrips(const cache_conn_t *c)
{
    return c ? c->roundtrips : 0;
}

uint64_t cache_conn_connects(const cache_conn_t *c)
{
    return c ? c->connects : 0;
}

uint64_t cache_conn_failures(const cache_conn_t *c)
{
    return c ? c->failures : 0;
}
