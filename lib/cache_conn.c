/*
 * cache_conn.c — Redis connection with back-off (see cache_conn.h).
 */
#include "cache_conn.h"

#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cache_conn {
    redisContext *ctx;
    char host[256];
    char unix_path[256];
    char user[128]; /* ACL user (Redis 6+); empty = the default user */
    char pass[256]; /* AUTH password; never copied into a message or a log */
    int port;
    int db;
    int tls;              /* rediss://: parsed, but this hiredis cannot speak TLS */
    char last_error[300]; /* why the last connect failed, quoted during the back-off */
    struct timeval timeout;
    int64_t down_until_ms; /* monotonic; no reconnect before this */
    int64_t backoff_ms;
    uint64_t roundtrips;
    uint64_t connects;
    uint64_t failures;
    cache_conn_connect_fn on_connect;
    void *on_connect_ud;
};

static int64_t cache_conn__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cache_conn__hex(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out (a password may hold any byte but NUL as
 * %XX). -1 when it does not fit or an escape is malformed. */
static int cache_conn__decode(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            if (i + 2 >= n) return -1;
            int hi = cache_conn__hex(s[i + 1]), lo = cache_conn__hex(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi | lo) == 0) return -1;
            ch = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= cap) return -1;
        out[o++] = ch;
    }
    out[o] = '\0';
    return 0;
}

/* The '@' that ends the userinfo of a URL ([user[:password]@]host...): the
 * last one, since neither host, port nor database may hold one. So a
 * password may even hold '@' or '/' unencoded; NULL when there is none. */
static const char *cache_conn__userinfo_end(const char *authority)
{
    return strrchr(authority, '@');
}

void cache_conn_url_redacted(const char *url, char *out, size_t cap)
{
    if (cap == 0) return;
    /* Any scheme: a message may quote a URL with a misspelt one. */
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : NULL;
    const char *at = auth ? cache_conn__userinfo_end(auth) : NULL;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon == NULL) {
        snprintf(out, cap, "%s", url);
        return;
    }
    snprintf(out, cap, "%.*s:***%s", (int)(colon - url), url, at);
}

static int cache_conn__parse(cache_conn_t *c, const char *url, err_t *e)
{
    char shown[512]; /* the URL as messages may quote it: no password */
    cache_conn_url_redacted(url, shown, sizeof shown);
    if (strncmp(url, "unix://", 7) == 0) {
        if (strlen(url + 7) >= sizeof c->unix_path || url[7] == '\0') {
            return err_set(e, ERR_BAD_INPUT, "OPONN_REDIS_URL %s: bad unix socket path", shown);
        }
        strcpy(c->unix_path, url + 7);
        return 0;
    }
    const char *p;
    if (strncmp(url, "redis://", 8) == 0) {
        p = url + 8;
    } else if (strncmp(url, "rediss://", 9) == 0) {
        p = url + 9;
        c->tls = 1;
    } else {
        return err_set(e, ERR_BAD_INPUT,
                       "OPONN_REDIS_URL=%s: expected redis://[user:password@]host:port[/db], "
                       "rediss://... or unix:///path",
                       shown);
    }
    const char *at = cache_conn__userinfo_end(p);
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *user_end = colon ? colon : at;
        if (cache_conn__decode(c->user, sizeof c->user, p, (size_t)(user_end - p)) != 0) {
            return err_set(e, ERR_BAD_INPUT, "OPONN_REDIS_URL=%s: bad user name", shown);
        }
        if (colon &&
            cache_conn__decode(c->pass, sizeof c->pass, colon + 1, (size_t)(at - colon - 1)) != 0) {
            return err_set(e, ERR_BAD_INPUT,
                           "OPONN_REDIS_URL=%s: bad password (too long, or a %% not followed by "
                           "two hex digits)",
                           shown);
        }
        p = at + 1;
    }
    const char *colon = strchr(p, ':');
    const char *slash = strchr(p, '/');
    if (colon && slash && colon > slash) colon = NULL;
    const char *host_end = colon ? colon : (slash ? slash : p + strlen(p));
    size_t hlen = (size_t)(host_end - p);
    if (hlen == 0 || hlen >= sizeof c->host) {
        return err_set(e, ERR_BAD_INPUT, "OPONN_REDIS_URL=%s: missing host", shown);
    }
    memcpy(c->host, p, hlen);
    c->host[hlen] = '\0';
    c->port = 6379;
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || port < 1 || port > 65535 || (*end != '\0' && *end != '/')) {
            return err_set(e, ERR_BAD_INPUT, "OPONN_REDIS_URL=%s: bad port", shown);
        }
        c->port = (int)port;
    }
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end != '\0' || db < 0 || db > 15) {
            return err_set(e, ERR_BAD_INPUT, "OPONN_REDIS_URL=%s: bad database number", shown);
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
        cache_conn_close(c);
        return -1;
    }
    if (c->tls) {
        char shown[512];
        cache_conn_url_redacted(cfg->redis_url, shown, sizeof shown);
        err_set(e, ERR_BAD_INPUT,
                "OPONN_REDIS_URL=%s: TLS, which this build's hiredis (0.14) cannot speak; "
                "etc/redis-tls.sh starts the local tunnel that carries it (the container and "
                "the ansible run scripts source it)",
                shown);
        cache_conn_close(c);
        return -1;
    }
    /* The password from the environment (ECS injects it from Secrets
     * Manager) when the URL has none: the URL itself stays non-secret. */
    if (c->pass[0] == '\0' && cfg->redis_password) {
        if (strlen(cfg->redis_password) >= sizeof c->pass) {
            err_set(e, ERR_BAD_INPUT, "OPONN_REDIS_PASSWORD: longer than %zu bytes",
                    sizeof c->pass - 1);
            cache_conn_close(c);
            return -1;
        }
        strcpy(c->pass, cfg->redis_password);
    }
    if (c->user[0] && c->pass[0] == '\0') {
        err_set(e, ERR_BAD_INPUT,
                "OPONN_REDIS_URL names the user %s but no password is given (in the URL or "
                "OPONN_REDIS_PASSWORD)",
                c->user);
        cache_conn_close(c);
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
    explicit_bzero(c->pass, sizeof c->pass);
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

/* cache_conn_failed, remembering e's message for the back-off's errors. */
static void cache_conn__failed_because(cache_conn_t *c, const err_t *e)
{
    size_t n = strnlen(e->msg, sizeof c->last_error - 1);
    memcpy(c->last_error, e->msg, n);
    c->last_error[n] = '\0';
    cache_conn_failed(c);
}

/* AUTH on the fresh connection c->ctx: "AUTH pass" (the default user, an
 * ElastiCache auth token) or "AUTH user pass" (an ACL user). The message on
 * failure quotes Redis' answer, which never contains the password. */
static int cache_conn__auth(cache_conn_t *c, err_t *e)
{
    redisReply *r = c->user[0] ? redisCommand(c->ctx, "AUTH %s %s", c->user, c->pass)
                               : redisCommand(c->ctx, "AUTH %s", c->pass);
    cache_conn_count_roundtrip(c);
    int ok = r && r->type == REDIS_REPLY_STATUS;
    const char *where = c->unix_path[0] ? c->unix_path : c->host;
    if (r == NULL) {
        err_set(e, ERR_UNAVAILABLE, "Redis at %s: AUTH: %s", where,
                c->ctx->errstr[0] ? c->ctx->errstr : "no reply");
    } else if (!ok) {
        err_set(e, ERR_UNAVAILABLE,
                "Redis at %s refused the credentials%s%s (check OPONN_REDIS_PASSWORD or the "
                "URL's user:password): %.200s",
                where, c->user[0] ? " of user " : "", c->user,
                r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    }
    if (r) freeReplyObject(r);
    if (!ok) cache_conn__failed_because(c, e);
    return ok ? 0 : -1;
}

redisContext *cache_conn_get(cache_conn_t *c, err_t *e)
{
    if (c->ctx) return c->ctx;
    if (cache_conn__now_ms() < c->down_until_ms) {
        err_set(e, ERR_UNAVAILABLE, "Redis is down (retrying shortly)%s%s",
                c->last_error[0] ? ": " : "", c->last_error);
        return NULL;
    }
    redisContext *ctx = c->unix_path[0] ? redisConnectUnixWithTimeout(c->unix_path, c->timeout)
                                        : redisConnectWithTimeout(c->host, c->port, c->timeout);
    if (ctx == NULL || ctx->err) {
        err_set(e, ERR_UNAVAILABLE, "Redis unreachable at %s:%d: %s",
                c->unix_path[0] ? c->unix_path : c->host, c->unix_path[0] ? 0 : c->port,
                ctx ? ctx->errstr : "out of memory");
        if (ctx) redisFree(ctx);
        cache_conn__failed_because(c, e);
        return NULL;
    }
    redisSetTimeout(ctx, c->timeout);
    c->ctx = ctx;
    if (c->pass[0] && cache_conn__auth(c, e) != 0) return NULL;
    if (c->db) {
        redisReply *r = redisCommand(ctx, "SELECT %d", c->db);
        c->roundtrips++;
        metrics_inc(METRIC_REDIS_ROUNDTRIPS);
        int ok = r && r->type == REDIS_REPLY_STATUS;
        if (r) freeReplyObject(r);
        if (!ok) {
            err_set(e, ERR_UNAVAILABLE, "Redis: SELECT %d failed", c->db);
            cache_conn__failed_because(c, e);
            return NULL;
        }
    }
    c->backoff_ms = 0;
    c->last_error[0] = '\0';
    c->connects++;
    if (c->on_connect) c->on_connect(c->on_connect_ud, c, ctx);
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
    } else if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOAUTH", 6) == 0) {
        /* A server that wants a password we were not given: every command
         * would fail the same way, so it counts as down, with the fix. */
        err_set(e, ERR_UNAVAILABLE,
                "Redis at %s wants a password (%.100s): set OPONN_REDIS_PASSWORD or put it in "
                "OPONN_REDIS_URL (redis://:password@host)",
                c->unix_path[0] ? c->unix_path : c->host, r->str);
        freeReplyObject(r);
        r = NULL;
        cache_conn__failed_because(c, e);
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

redisReply *cache_conn_command_argv_long(cache_conn_t *c, err_t *e, int argc, const char **argv,
                                         const size_t *lens)
{
    redisContext *ctx = cache_conn_get(c, e);
    if (ctx == NULL) return NULL;
    int64_t us = ((int64_t)c->timeout.tv_sec * 1000000 + c->timeout.tv_usec) * CACHE_CONN_LONG;
    struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
    redisSetTimeout(ctx, tv);
    redisReply *r = cache_conn__reply(c, ctx, redisCommandArgv(ctx, argc, argv, lens), e);
    if (c->ctx) redisSetTimeout(c->ctx, c->timeout); /* NULL: dropped on failure */
    return r;
}

int cache_conn_pipeline(cache_conn_t *c, err_t *e, int n, const int *argc,
                        const char *const *const *argv, const size_t *const *lens, redisReply **out)
{
    for (int i = 0; i < n; i++) out[i] = NULL;
    redisContext *ctx = cache_conn_get(c, e);
    if (ctx == NULL) return -1;
    for (int i = 0; i < n; i++) {
        if (redisAppendCommandArgv(ctx, argc[i], (const char **)argv[i], lens[i]) != REDIS_OK) {
            err_set(e, ERR_UNAVAILABLE, "Redis: %s",
                    ctx->errstr[0] ? ctx->errstr : "out of memory");
            cache_conn_failed(c);
            return -1;
        }
    }
    cache_conn_count_roundtrip(c);
    for (int i = 0; i < n; i++) {
        void *r = NULL;
        if (redisGetReply(ctx, &r) != REDIS_OK || r == NULL) {
            err_set(e, ERR_UNAVAILABLE, "Redis: %s", ctx->errstr[0] ? ctx->errstr : "no reply");
            for (int j = 0; j < i; j++) {
                freeReplyObject(out[j]);
                out[j] = NULL;
            }
            cache_conn_failed(c);
            return -1;
        }
        out[i] = r;
    }
    return 0;
}

int cache_conn_ping(cache_conn_t *c, err_t *e)
{
    redisReply *r = cache_conn_command(c, e, "PING");
    if (r == NULL) return -1;
    int ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (!ok) {
        /* e.g. NOAUTH: the server wants a password and none was given */
        err_set(e, ERR_UNAVAILABLE, "Redis answered PING with %.200s",
                r->type == REDIS_REPLY_ERROR ? r->str : "something else");
    }
    freeReplyObject(r);
    return ok ? 0 : -1;
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

void cache_conn_on_connect(cache_conn_t *c, cache_conn_connect_fn fn, void *ud)
{
    c->on_connect = fn;
    c->on_connect_ud = ud;
}

redisContext *cache_conn_current(const cache_conn_t *c)
{
    return c->ctx;
}

void cache_conn_drop_closed(cache_conn_t *c)
{
    if (c->ctx == NULL) return;
    snprintf(c->last_error, sizeof c->last_error, "Redis closed the connection");
    cache_conn_failed(c);
}
