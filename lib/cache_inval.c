/*
 * cache_inval.c — the invalidation link (see cache_inval.h).
 *
 * Owns the subscriber connection (a cache_conn_t of its own, so it connects,
 * authenticates and backs off as the cache connection does) and the lease
 * state. After SUBSCRIBE the subscriber only carries pushes ("message" on
 * __redis__:invalidate) and the answers to our PINGs (["pong", nonce]), read
 * straight from hiredis' reader.
 */
#include "cache_inval.h"

#include "metrics.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_INVAL__CHANNEL "__redis__:invalidate"

struct cache_inval {
    cache_conn_t *sub;
    cache_conn_t *tracked;
    cache_inval_fn fn;
    void *ud;
    long lease_ms;
    long long sub_id;       /* CLIENT ID of the subscriber */
    uint64_t sub_gen;       /* the subscriber's connects when it subscribed; 0: not */
    uint64_t tracked_gen;   /* the tracked connection's connects when tracking went on */
    uint64_t tracked_sub;   /* ... redirecting to this sub_gen */
    uint64_t nonce;         /* of the last PING sent */
    int64_t ping_ms;        /* when it was sent */
    int ping_out;           /* its PONG is still to come */
    int64_t leased_from_ms; /* sending time of the last answered PING; 0: none */
    int64_t drained_ms;     /* when cache_inval_drain last ran */
    uint64_t rts;
    cache_inval_stats_t st;
};

static int64_t cache_inval__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void cache_inval__rt(cache_inval_t *l)
{
    l->rts++;
    metrics_inc(METRIC_REDIS_ROUNDTRIPS);
}

static void cache_inval__forget(cache_inval_t *l)
{
    l->st.flushes++;
    l->fn(l->ud, NULL, 0);
}

/* The subscriber failed: drop it, lose the lease, forget everything (the
 * invalidations sent meanwhile are lost). */
static void cache_inval__lost(cache_inval_t *l)
{
    if (cache_conn_current(l->sub)) cache_conn_failed(l->sub);
    l->sub_gen = 0;
    l->ping_out = 0;
    l->leased_from_ms = 0;
    l->st.drops++;
    cache_inval__forget(l);
}

/* CLIENT TRACKING on the tracked connection's context ctx; 0 when on. */
static int cache_inval__track_ctx(cache_inval_t *l, redisContext *ctx)
{
    redisReply *r = redisCommand(ctx, "CLIENT TRACKING on REDIRECT %lld", l->sub_id);
    cache_conn_count_roundtrip(l->tracked);
    int ok = r && r->type == REDIS_REPLY_STATUS;
    if (r) freeReplyObject(r);
    if (r == NULL) {
        cache_conn_failed(l->tracked);
        return -1;
    }
    if (!ok) return -1;
    l->tracked_gen = cache_conn_connects(l->tracked);
    l->tracked_sub = l->sub_gen;
    return 0;
}

/* Connects and subscribes the subscriber (blocking; after its back-off).
 * 0 when subscribed. */
static int cache_inval__connect(cache_inval_t *l)
{
    err_t e = {0};
    redisReply *r = cache_conn_command(l->sub, &e, "CLIENT ID");
    if (r == NULL) return -1;
    long long id = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    if (id < 0) {
        cache_conn_failed(l->sub);
        return -1;
    }
    r = cache_conn_command(l->sub, &e, "SUBSCRIBE %s", CACHE_INVAL__CHANNEL);
    if (r == NULL) return -1;
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 3;
    freeReplyObject(r);
    if (!ok) {
        cache_conn_failed(l->sub);
        return -1;
    }
    l->sub_id = id;
    l->sub_gen = cache_conn_connects(l->sub);
    l->ping_out = 0;
    l->leased_from_ms = 0;
    return 0;
}

/* The tracked connection just connected: tracking goes on before its first
 * command, and what was read on the previous connection is forgotten (its
 * keys are no longer tracked for us). */
static void cache_inval__on_connect(void *ud, cache_conn_t *c, redisContext *ctx)
{
    (void)c;
    cache_inval_t *l = ud;
    cache_inval__forget(l);
    if (l->sub_gen == 0 && cache_inval__connect(l) != 0) return;
    cache_inval__track_ctx(l, ctx);
}

int cache_inval_open(cache_inval_t **out, const cfg_t *cfg, cache_conn_t *tracked, long lease_ms,
                     cache_inval_fn fn, void *ud, err_t *e)
{
    *out = NULL;
    cache_inval_t *l = calloc(1, sizeof *l);
    if (l == NULL) abort();
    if (cache_conn_open(&l->sub, cfg, e) != 0) {
        free(l);
        return -1;
    }
    l->tracked = tracked;
    l->fn = fn;
    l->ud = ud;
    l->lease_ms = lease_ms;
    cache_conn_on_connect(tracked, cache_inval__on_connect, l);
    *out = l;
    return 0;
}

void cache_inval_close(cache_inval_t *l)
{
    if (l == NULL) return;
    cache_conn_on_connect(l->tracked, NULL, NULL);
    cache_conn_close(l->sub);
    free(l);
}

/* One reply read from the subscriber: an invalidation or a PONG. */
static void cache_inval__handle(cache_inval_t *l, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "pong") == 0) {
        const redisReply *n = r->element[1];
        char want[24];
        snprintf(want, sizeof want, "%llu", (unsigned long long)l->nonce);
        if (l->ping_out && n->type == REDIS_REPLY_STRING && strcmp(n->str, want) == 0) {
            l->ping_out = 0;
            l->leased_from_ms = l->ping_ms;
        }
        return;
    }
    if (strcmp(kind, "message") != 0 || r->elements != 3) return;
    const redisReply *keys = r->element[2];
    if (keys->type == REDIS_REPLY_NIL) { /* FLUSHALL, FLUSHDB */
        cache_inval__forget(l);
        return;
    }
    if (keys->type != REDIS_REPLY_ARRAY) return;
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        if (k->type != REDIS_REPLY_STRING) continue;
        l->st.keys++;
        l->fn(l->ud, k->str, k->len);
    }
}

/* Handles every reply already in hiredis' buffer; -1 on a protocol error. */
static int cache_inval__consume(cache_inval_t *l, redisContext *ctx)
{
    for (;;) {
        void *r = NULL;
        if (redisReaderGetReply(ctx->reader, &r) != REDIS_OK) return -1;
        if (r == NULL) return 0;
        cache_inval__handle(l, r);
        freeReplyObject(r);
    }
}

static int cache_inval__send_ping(cache_inval_t *l, redisContext *ctx, int64_t now_ms)
{
    l->nonce++;
    if (redisAppendCommand(ctx, "PING %llu", (unsigned long long)l->nonce) != REDIS_OK) return -1;
    int done = 0;
    do {
        if (redisBufferWrite(ctx, &done) != REDIS_OK) return -1;
    } while (!done);
    l->ping_ms = now_ms;
    l->ping_out = 1;
    return 0;
}

/* Turns tracking on for the tracked connection's live context when it
 * redirects to an older subscriber (or none). */
static void cache_inval__retrack(cache_inval_t *l)
{
    redisContext *ctx = cache_conn_current(l->tracked);
    if (ctx == NULL || l->sub_gen == 0) return;
    if (l->tracked_gen == cache_conn_connects(l->tracked) && l->tracked_sub == l->sub_gen) return;
    /* Reads since the old subscriber went were tracked for nobody. */
    cache_inval__forget(l);
    cache_inval__track_ctx(l, ctx);
}

void cache_inval_drain(cache_inval_t *l, int64_t now_ms)
{
    l->drained_ms = now_ms;
    /* One poll watches both sockets: the tracked connection is idle between
     * requests, so its socket is readable only when Redis closed it. */
    redisContext *tctx = cache_conn_current(l->tracked);
    redisContext *sctx = l->sub_gen ? cache_conn_current(l->sub) : NULL;
    struct pollfd p[2] = {{.fd = tctx ? tctx->fd : -1, .events = POLLIN},
                          {.fd = sctx ? sctx->fd : -1, .events = POLLIN}};
    if (poll(p, 2, 0) > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
        cache_conn_drop_closed(l->tracked);
        cache_inval__forget(l);
    }
    if (l->sub_gen == 0 || sctx == NULL) {
        if (l->sub_gen) cache_inval__lost(l);
        if (cache_inval__connect(l) != 0) return;
        p[1].revents = 0; /* a new subscriber: read at the next drain */
    }
    cache_inval__retrack(l);
    redisContext *ctx = cache_conn_current(l->sub);
    if (p[1].revents) {
        if (redisBufferRead(ctx) != REDIS_OK || cache_inval__consume(l, ctx) != 0) {
            cache_inval__lost(l);
            return;
        }
    }
    if (!l->ping_out && now_ms - l->ping_ms >= l->lease_ms / 4) {
        if (cache_inval__send_ping(l, ctx, now_ms) != 0) cache_inval__lost(l);
    }
}

void cache_inval_tick(cache_inval_t *l, int64_t now_ms)
{
    if (now_ms - l->drained_ms >= CACHE_INVAL_TICK_MS) cache_inval_drain(l, now_ms);
}

int cache_inval_sync(cache_inval_t *l, err_t *e)
{
    int64_t now = cache_inval__now_ms();
    cache_inval_drain(l, now);
    redisContext *ctx = cache_conn_current(l->sub);
    if (l->sub_gen == 0 || ctx == NULL) {
        return err_set(e, ERR_UNAVAILABLE, "invalidation link down");
    }
    if (cache_inval__send_ping(l, ctx, now) != 0) {
        /* The message first: losing the link frees ctx (and its errstr). */
        err_set(e, ERR_UNAVAILABLE, "invalidation link: %s",
                ctx->errstr[0] ? ctx->errstr : "PING not sent");
        cache_inval__lost(l);
        return -1;
    }
    cache_inval__rt(l);
    while (l->ping_out) {
        void *r = NULL;
        if (redisGetReply(ctx, &r) != REDIS_OK || r == NULL) {
            err_set(e, ERR_UNAVAILABLE, "invalidation link: %s",
                    ctx->errstr[0] ? ctx->errstr : "no reply");
            cache_inval__lost(l);
            return -1;
        }
        cache_inval__handle(l, r);
        freeReplyObject(r);
    }
    return 0;
}

int cache_inval_ready(const cache_inval_t *l)
{
    return l->sub_gen != 0 && cache_conn_current(l->sub) != NULL &&
           cache_conn_current(l->tracked) != NULL &&
           l->tracked_gen == cache_conn_connects(l->tracked) && l->tracked_sub == l->sub_gen;
}

int cache_inval_leased(const cache_inval_t *l, int64_t now_ms)
{
    return cache_inval_ready(l) && l->leased_from_ms != 0 &&
           now_ms - l->leased_from_ms < l->lease_ms;
}

uint64_t cache_inval_roundtrips(const cache_inval_t *l)
{
    return l ? l->rts + cache_conn_roundtrips(l->sub) : 0;
}

void cache_inval_stats(const cache_inval_t *l, cache_inval_stats_t *out)
{
    *out = l->st;
}
