/*
 * cache_queue.c — the write-behind consumer and queue admin (see
 * cache_queue.h). Stream reads are plain commands; every change to the
 * stream together with the cache (ack+delete, dead-letter+invalidate,
 * replay) is one cache.lua operation, so it is atomic.
 */
#include "cache_queue.h"

#include "buf.h"
#include "metrics.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_QUEUE__GROUP "writers"

void cache_queue_opts(cache_queue_opts_t *o, const cfg_t *cfg)
{
    memset(o, 0, sizeof *o);
    o->max_tries = cfg->queue_max_tries;
    o->claim_ms = cfg->queue_claim_ms;
    o->backoff_ms = cfg->queue_backoff_ms;
    o->block_ms = 500;
    o->batch = (int)cfg->queue_batch;
}

static int cache_queue__batch(const cache_queue_opts_t *o)
{
    return o->batch > 0 ? o->batch : 1;
}

static void cache_queue__key(cache_t *c, buf_t *b, const char *what)
{
    buf_reset(b);
    cache_key_fixed(cache_keys(c), b, what);
}

int cache_queue_init(cache_t *c, err_t *e)
{
    buf_t q = BUF_INIT;
    cache_queue__key(c, &q, "queue");
    redisReply *r = cache_conn_command(cache_connection(c), e, "XGROUP CREATE %s %s 0 MKSTREAM",
                                       q.data, CACHE_QUEUE__GROUP);
    buf_free(&q);
    if (r == NULL) return -1;
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0) {
        rc = err_set(e, ERR_INTERNAL, "XGROUP CREATE: %s", r->str);
    }
    freeReplyObject(r);
    return rc;
}

/* Sleeps ms in slices, returning early (1) when asked to stop. */
static int cache_queue__sleep(const cache_queue_opts_t *o, long long ms)
{
    while (ms > 0) {
        if (o->stop && *o->stop) return 1;
        long long d = ms < 50 ? ms : 50;
        struct timespec ts = {(time_t)(d / 1000), (long)(d % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= d;
    }
    return o->stop && *o->stop;
}

static const char *cache_queue__field(const redisReply *fields, const char *name)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        if (fields->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(fields->element[i]->str, name) == 0 &&
            fields->element[i + 1]->type == REDIS_REPLY_STRING) {
            return fields->element[i + 1]->str;
        }
    }
    return NULL;
}

/* Acknowledges (op "qdone") or dead-letters (op "qdead") one entry. */
static int cache_queue__finish(cache_t *c, const char *op, const char *msg, const char *kind,
                               const char *tail, const char *why, err_t *e)
{
    const char *args[4] = {msg, kind, tail, why ? why : ""};
    redisReply *r;
    if (cache_script_run(c, op, 0, NULL, why ? 4 : 3, args, NULL, 0, &r, e) != 0) return -1;
    freeReplyObject(r);
    return 0;
}

/* Reads stream entry `entry` into *w (pointing into the reply), *kind and
 * *tail. 1: a write; 0: a deleted entry (nil fields), nothing to do; -1:
 * malformed (*kind and *tail as far as they were read). */
static int cache_queue__parse(const redisReply *entry, cache_write_t *w, const char **kind,
                              const char **tail)
{
    *kind = NULL;
    *tail = NULL;
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        entry->element[0]->type != REDIS_REPLY_STRING ||
        entry->element[1]->type != REDIS_REPLY_ARRAY) {
        return 0;
    }
    const redisReply *f = entry->element[1];
    const char *id = cache_queue__field(f, "id"), *ver = cache_queue__field(f, "version");
    const char *op = cache_queue__field(f, "op"), *doc = cache_queue__field(f, "doc");
    *kind = cache_queue__field(f, "kind");
    *tail = cache_queue__field(f, "tail");
    *w = (cache_write_t){.msg_id = entry->element[0]->str, .id = id, .json = doc ? doc : ""};
    err_t ae;
    if (!*kind || !id || !*tail || !ver || !op || cache_kind_parse(*kind, &w->kind, &ae) != 0) {
        return -1;
    }
    w->version = strtoll(ver, NULL, 10);
    w->op = strcmp(op, "del") == 0 ? CACHE_WRITE_DEL : CACHE_WRITE_PUT;
    return 1;
}

/* Applies one stream entry with retries. Returns 1 finished, 0 stopped
 * before finishing (left pending), -1 Redis error. */
static int cache_queue__one(cache_t *c, const cache_queue_opts_t *o, cache_queue_apply_fn fn,
                            void *ud, const redisReply *entry, err_t *e)
{
    cache_write_t w;
    const char *kind, *tail;
    int pr = cache_queue__parse(entry, &w, &kind, &tail);
    if (pr == 0) return 1;
    const char *msg = w.msg_id;
    err_t ae;
    if (pr < 0) {
        metrics_inc(METRIC_QUEUE_DEAD);
        return cache_queue__finish(c, "qdead", msg, kind ? kind : "books", tail ? tail : "",
                                   "malformed queue entry", e) == 0
                   ? 1
                   : -1;
    }
    long long tries = 0, waits = 0;
    for (;;) {
        err_clear(&ae);
        if (fn(ud, &w, &ae) == 0) {
            if (cache_queue__finish(c, "qdone", msg, kind, tail, NULL, e) != 0) return -1;
            metrics_inc(METRIC_QUEUE_APPLIED);
            return 1;
        }
        metrics_inc(METRIC_QUEUE_RETRIED);
        long long shift = ae.code == ERR_UNAVAILABLE ? waits++ : tries++;
        if (ae.code != ERR_UNAVAILABLE && tries >= o->max_tries) {
            if (cache_queue__finish(c, "qdead", msg, kind, tail, ae.msg, e) != 0) return -1;
            metrics_inc(METRIC_QUEUE_DEAD);
            return 1;
        }
        long long d = o->backoff_ms << (shift < 10 ? shift : 10);
        if (d > 5000) d = 5000;
        if (cache_queue__sleep(o, d)) return 0;
    }
}

/* Acknowledges the entries of list marked in acked, in one round trip. */
static int cache_queue__done_many(cache_t *c, const redisReply *list, const unsigned char *acked,
                                  size_t n_acked, err_t *e)
{
    if (n_acked == 0) return 0;
    const char **args = calloc(n_acked * 3, sizeof *args);
    if (args == NULL) abort();
    size_t k = 0;
    for (size_t i = 0; i < list->elements; i++) {
        if (!acked[i]) continue;
        cache_write_t w;
        const char *kind, *tail;
        cache_queue__parse(list->element[i], &w, &kind, &tail);
        args[k++] = w.msg_id;
        args[k++] = kind;
        args[k++] = tail;
    }
    redisReply *r;
    int rc = cache_script_run(c, "qdonen", 0, NULL, (int)k, args, NULL, 0, &r, e);
    free(args);
    if (rc != 0) return -1;
    freeReplyObject(r);
    metrics_add(METRIC_QUEUE_APPLIED, n_acked);
    return 0;
}

/* Processes an array of entries in order; returns finished count or -1.
 * With a batch applier, the well-formed entries go to MongoDB together and
 * those it applied are acknowledged together; each other one (malformed, or
 * not applied by the batch) then goes through cache_queue__one alone. */
static int cache_queue__entries(cache_t *c, const cache_queue_opts_t *o, cache_queue_apply_fn fn,
                                void *ud, const redisReply *list, err_t *e)
{
    if (list == NULL || list->type != REDIS_REPLY_ARRAY || list->elements == 0) return 0;
    size_t n = list->elements;
    unsigned char *acked = calloc(n, 1);
    if (acked == NULL) abort();
    int done = 0;
    if (o->apply_batch && n > 1) {
        cache_write_t *ws = calloc(n, sizeof *ws);
        size_t *at = calloc(n, sizeof *at);
        unsigned char *ok = calloc(n, 1);
        if (ws == NULL || at == NULL || ok == NULL) abort();
        size_t m = 0, n_acked = 0;
        for (size_t i = 0; i < n; i++) {
            const char *kind, *tail;
            if (cache_queue__parse(list->element[i], &ws[m], &kind, &tail) == 1) at[m++] = i;
        }
        o->apply_batch(ud, ws, m, ok);
        for (size_t j = 0; j < m; j++) {
            if (ok[j]) {
                acked[at[j]] = 1;
                n_acked++;
            }
        }
        free(ws);
        free(at);
        free(ok);
        if (cache_queue__done_many(c, list, acked, n_acked, e) != 0) {
            free(acked);
            return -1;
        }
        done = (int)n_acked;
    }
    for (size_t i = 0; i < n; i++) {
        if (acked[i]) continue;
        int rc = cache_queue__one(c, o, fn, ud, list->element[i], e);
        if (rc < 0) {
            done = -1;
            break;
        }
        if (rc == 0) break;
        done++;
    }
    free(acked);
    return done;
}

int cache_queue_step(cache_t *c, const cache_queue_opts_t *o, cache_queue_apply_fn fn, void *ud,
                     err_t *e)
{
    cache_conn_t *conn = cache_connection(c);
    buf_t q = BUF_INIT;
    cache_queue__key(c, &q, "queue");
    int done = 0;
    /* 1. Entries a dead (or stuck) writer left pending. */
    redisReply *r =
        cache_conn_command(conn, e, "XAUTOCLAIM %s %s %s %lld 0-0 COUNT %d", q.data,
                           CACHE_QUEUE__GROUP, o->consumer, o->claim_ms, cache_queue__batch(o));
    if (r == NULL) goto fail;
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOGROUP", 7) == 0) {
        freeReplyObject(r);
        if (cache_queue_init(c, e) != 0) goto fail;
        buf_free(&q);
        return 0;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
        int n = cache_queue__entries(c, o, fn, ud, r->element[1], e);
        if (n < 0) {
            freeReplyObject(r);
            goto fail;
        }
        done += n;
    }
    freeReplyObject(r);
    if (o->stop && *o->stop) goto out;
    /* 2. New entries. */
    r = cache_conn_command(conn, e, "XREADGROUP GROUP %s %s COUNT %d BLOCK %d STREAMS %s >",
                           CACHE_QUEUE__GROUP, o->consumer, cache_queue__batch(o), o->block_ms,
                           q.data);
    if (r == NULL) goto fail;
    if (r->type == REDIS_REPLY_ERROR) {
        int nogroup = strncmp(r->str, "NOGROUP", 7) == 0;
        err_set(e, ERR_INTERNAL, "XREADGROUP: %s", r->str);
        freeReplyObject(r);
        if (nogroup && cache_queue_init(c, e) == 0) goto out;
        goto fail;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2) {
        int n = cache_queue__entries(c, o, fn, ud, r->element[0]->element[1], e);
        if (n < 0) {
            freeReplyObject(r);
            goto fail;
        }
        done += n;
    }
    freeReplyObject(r);
out:
    buf_free(&q);
    return done;
fail:
    buf_free(&q);
    return -1;
}

void cache_queue_run(cache_t *c, const cache_queue_opts_t *o, cache_queue_apply_fn fn, void *ud)
{
    long long backoff = 50;
    while (!(o->stop && *o->stop)) {
        err_t e;
        if (o->tick) o->tick(o->tick_ud);
        if (cache_queue_step(c, o, fn, ud, &e) < 0) {
            if (cache_queue__sleep(o, backoff)) break; /* Redis down: wait it out */
            backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
        } else {
            backoff = 50;
        }
    }
}

int cache_queue_stats(cache_t *c, cache_queue_stats_t *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    cache_conn_t *conn = cache_connection(c);
    buf_t q = BUF_INIT, d = BUF_INIT;
    cache_queue__key(c, &q, "queue");
    cache_queue__key(c, &d, "dead");
    int rc = -1;
    redisReply *r = cache_conn_command(conn, e, "XLEN %s", q.data);
    if (r == NULL) goto out;
    out->length = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    r = cache_conn_command(conn, e, "XLEN %s", d.data);
    if (r == NULL) goto out;
    out->dead = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    r = cache_conn_command(conn, e, "XPENDING %s %s", q.data, CACHE_QUEUE__GROUP);
    if (r == NULL) goto out;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_INTEGER)
        out->pending = r->element[0]->integer;
    freeReplyObject(r);
    r = cache_conn_command(conn, e, "XRANGE %s - + COUNT 1", q.data);
    if (r == NULL) goto out;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        long long first_ms = atoll(r->element[0]->element[0]->str);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        out->lag_ms = now_ms > first_ms ? now_ms - first_ms : 0;
    }
    freeReplyObject(r);
    rc = 0;
out:
    buf_free(&q);
    buf_free(&d);
    return rc;
}

int cache_queue_dead_letters(cache_t *c, arena_t *a, size_t max, cache_dead_letter_t **out,
                             size_t *n, err_t *e)
{
    *out = NULL;
    *n = 0;
    buf_t d = BUF_INIT;
    cache_queue__key(c, &d, "dead");
    redisReply *r = cache_conn_command(cache_connection(c), e, "XRANGE %s - + COUNT %lld", d.data,
                                       (long long)max);
    buf_free(&d);
    if (r == NULL) return -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        *out = arena_calloc(a, r->elements, sizeof **out);
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *en = r->element[i];
            if (en->type != REDIS_REPLY_ARRAY || en->elements != 2) continue;
            cache_dead_letter_t *dl = &(*out)[(*n)++];
            const redisReply *f = en->element[1];
#define CACHE_QUEUE__DUP(field)                                                                    \
    (cache_queue__field(f, field) ? arena_strdup(a, cache_queue__field(f, field)) : "")
            dl->dead_id = arena_strdup(a, en->element[0]->str);
            dl->orig_id = CACHE_QUEUE__DUP("orig");
            dl->kind = CACHE_QUEUE__DUP("kind");
            dl->id = CACHE_QUEUE__DUP("id");
            dl->version = CACHE_QUEUE__DUP("version");
            dl->op = CACHE_QUEUE__DUP("op");
            dl->error = CACHE_QUEUE__DUP("error");
#undef CACHE_QUEUE__DUP
        }
    }
    freeReplyObject(r);
    return 0;
}

int cache_queue_replay(cache_t *c, const char *dead_id, err_t *e)
{
    const char *args[1] = {dead_id ? dead_id : "all"};
    redisReply *r;
    if (cache_script_run(c, "qreplay", 0, NULL, 1, args, NULL, 1, &r, e) != 0) return -1;
    int n = r->type == REDIS_REPLY_INTEGER ? (int)r->integer : 0;
    freeReplyObject(r);
    return n;
}
