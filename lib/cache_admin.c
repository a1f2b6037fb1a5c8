/*
 * cache_admin.c — stats, verify, flush and rehydrate over SCAN (see
 * cache_admin.h). Admin-only: these walk the whole namespace.
 */
#include "cache_admin.h"

#include "buf.h"
#include "cache_queue.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Calls fn(key) for every key matching P:<pattern>. */
typedef int (*cache_admin__key_fn)(cache_t *c, const char *key, size_t len, void *ud, err_t *e);

static int cache_admin__scan(cache_t *c, const char *pattern, cache_admin__key_fn fn, void *ud,
                             err_t *e)
{
    buf_t pat = BUF_INIT;
    cache_key_fixed(cache_keys(c), &pat, pattern);
    char cursor[32] = "0";
    int rc = 0;
    do {
        redisReply *r = cache_conn_command(cache_connection(c), e, "SCAN %s MATCH %s COUNT 500",
                                           cursor, pat.data);
        if (r == NULL) {
            rc = -1;
            break;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            rc = err_set(e, ERR_INTERNAL, "SCAN: unexpected reply");
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements && rc == 0; i++) {
            const redisReply *k = r->element[1]->element[i];
            rc = fn(c, k->str, k->len, ud, e);
        }
        freeReplyObject(r);
    } while (rc == 0 && strcmp(cursor, "0") != 0);
    buf_free(&pat);
    return rc;
}

static void cache_admin__report(cache_report_fn fn, void *ud, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cache_admin__report(cache_report_fn fn, void *ud, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (fn) fn(ud, line);
}

/* ---------------------------------------------------------------- stats */

int cache_stats_report(cache_t *c, cache_report_fn fn, void *ud, err_t *e)
{
    cache_conn_t *conn = cache_connection(c);
    buf_t k = BUF_INIT;
    cache_key_fixed(cache_keys(c), &k, "stats");
    redisReply *r = cache_conn_command(conn, e, "HGETALL %s", k.data);
    if (r == NULL) goto fail;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        cache_admin__report(fn, ud, "%s=%s", r->element[i]->str, r->element[i + 1]->str);
    }
    freeReplyObject(r);
    buf_reset(&k);
    cache_key_fixed(cache_keys(c), &k, "tables");
    for (int t = 0; t < CACHE__KINDS; t++) {
        const char *name = cache_kind_name((cache_kind_t)t);
        r = cache_conn_command(conn, e, "ZLEXCOUNT %s [%s: (%s;", k.data, name, name);
        if (r == NULL) goto fail;
        cache_admin__report(fn, ud, "batches_reading_%s=%lld", name, r->integer);
        freeReplyObject(r);
    }
    buf_reset(&k);
    cache_key_fixed(cache_keys(c), &k, "epoch");
    r = cache_conn_command(conn, e, "GET %s", k.data);
    if (r == NULL) goto fail;
    cache_admin__report(fn, ud, "epoch=%s", r->str ? r->str : "(none)");
    freeReplyObject(r);
    cache_queue_stats_t qs;
    if (cache_queue_stats(c, &qs, e) != 0) goto fail;
    cache_admin__report(fn, ud, "queue_length=%lld", qs.length);
    cache_admin__report(fn, ud, "queue_pending=%lld", qs.pending);
    cache_admin__report(fn, ud, "queue_lag_ms=%lld", qs.lag_ms);
    cache_admin__report(fn, ud, "dead_letters=%lld", qs.dead);
    buf_free(&k);
    return 0;
fail:
    buf_free(&k);
    return -1;
}

/* ---------------------------------------------------------------- flush */

typedef struct {
    long n;
    size_t plen;
} cache_admin__flush_t;

static int cache_admin__flush_one(cache_t *c, const char *key, size_t len, void *ud, err_t *e)
{
    cache_admin__flush_t *f = ud;
    const char *rest = key + f->plen + 1;
    if (len > f->plen && (strcmp(rest, "queue") == 0 || strcmp(rest, "dead") == 0 ||
                          strncmp(rest, "pend", 4) == 0)) {
        return 0; /* write-behind state: never flushed */
    }
    redisReply *r = cache_conn_command(cache_connection(c), e, "UNLINK %b", key, len);
    if (r == NULL) return -1;
    f->n += r->type == REDIS_REPLY_INTEGER ? (long)r->integer : 0;
    freeReplyObject(r);
    return 0;
}

long cache_flush(cache_t *c, err_t *e)
{
    cache_admin__flush_t f = {0, strlen(cache_keys(c)->prefix)};
    if (cache_admin__scan(c, "*", cache_admin__flush_one, &f, e) != 0) return -1;
    return f.n;
}

/* --------------------------------------------------------------- verify */

typedef struct {
    const cache_source_t *src;
    cache_report_fn fn;
    void *ud;
    cache_verify_t *out;
    arena_t arena;
    char epoch[64];
} cache_admin__verify_t;

/* An entity value "epoch|version|n|JSON" (the layout cache.lua's
 * entity_set writes): 1 when it belongs to epoch, with *json the record's
 * JSON or NULL for a negative entry (n = "1"); 0 otherwise (also for a hold,
 * n = "h", which makes readers go to MongoDB). */
static int cache_admin__entity_current(const redisReply *r, const char *epoch, const char **json)
{
    if (r->type != REDIS_REPLY_STRING) return 0;
    const char *s = r->str, *end = r->str + r->len;
    const char *bar1 = memchr(s, '|', r->len);
    const char *bar2 = bar1 ? memchr(bar1 + 1, '|', (size_t)(end - bar1 - 1)) : NULL;
    if (bar2 == NULL || end - bar2 < 3 || bar2[2] != '|') return 0;
    if ((size_t)(bar1 - s) != strlen(epoch) || memcmp(s, epoch, (size_t)(bar1 - s)) != 0) return 0;
    if (bar2[1] == 'h') return 0; /* a hold caches nothing */
    *json = bar2[1] == '1' ? NULL : bar2 + 3;
    return 1;
}

static int cache_admin__verify_entity(cache_t *c, cache_admin__verify_t *v, const char *key,
                                      size_t len, err_t *e)
{
    size_t plen = strlen(cache_keys(c)->prefix);
    cache_kind_t k;
    buf_t id = BUF_INIT;
    err_t ignore;
    if (cache_key_parse_tail(key + plen + 1, len - plen - 1, &k, &id, &ignore) != 0) {
        buf_free(&id);
        return 0; /* not an entity key */
    }
    /* MGET: nil, not an error, for a key of another type. */
    redisReply *r = cache_conn_command(cache_connection(c), e, "MGET %b", key, len);
    if (r == NULL) {
        buf_free(&id);
        return -1;
    }
    const char *cached = NULL;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        cache_admin__entity_current(r->element[0], v->epoch, &cached)) {
        v->out->entities++;
        const char *truth = NULL;
        arena_reset(&v->arena);
        if (v->src->fetch(v->src->ud, &v->arena, k, id.data, &truth, e) != 0) {
            freeReplyObject(r);
            buf_free(&id);
            return -1;
        }
        if ((cached == NULL) != (truth == NULL) || (cached && strcmp(cached, truth) != 0)) {
            v->out->mismatches++;
            cache_admin__report(v->fn, v->ud, "MISMATCH %s %s: cached %s, MongoDB %s",
                                cache_kind_name(k), id.data, cached ? cached : "(not found)",
                                truth ? truth : "(not found)");
        }
    }
    freeReplyObject(r);
    buf_free(&id);
    return 0;
}

/* The query name and normalized arguments ("a") of a stored predicate,
 * in the arena. */
static int cache_admin__args(arena_t *a, const char *pred_json, const char **name,
                             const char **args_json, err_t *e)
{
    cJSON *p = cJSON_Parse(pred_json);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(p, "n");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(p, "a");
    char *aj = args ? cJSON_PrintUnformatted(args) : NULL;
    int rc = 0;
    if (!cJSON_IsString(n) || aj == NULL) {
        rc = err_set(e, ERR_INTERNAL, "cached batch with an unreadable predicate");
    } else {
        *name = arena_strdup(a, n->valuestring);
        *args_json = arena_strdup(a, aj);
    }
    free(aj);
    cJSON_Delete(p);
    return rc;
}

/* Re-runs the query of a predicate on MongoDB. */
static int cache_admin__rerun(const cache_source_t *src, arena_t *a, const char *pred_json,
                              cache_query_t *q, cache_doc_t **docs, size_t *n, int *exhaustive,
                              err_t *e)
{
    const char *name, *args;
    if (cache_admin__args(a, pred_json, &name, &args, e) != 0) return -1;
    const cache_query_decl_t *d = cache_query_find(name);
    if (d == NULL) return err_set(e, ERR_INTERNAL, "cached batch of unknown query %s", name);
    if (cache_query_canon(a, d, args, q, e) != 0) return -1;
    return src->query(src->ud, a, q, docs, n, exhaustive, e);
}

/* 1 when a batch value (cache.lua's value_of) does not hold exactly docs,
 * in order, with their JSON. */
static int cache_admin__value_differs(const char *val, size_t vlen, const cache_doc_t *docs,
                                      size_t n, buf_t *tail)
{
    const char *p = val, *end = val + vlen;
    cache_value_member_t m;
    for (size_t i = 0; i < n; i++) {
        buf_reset(tail);
        cache_key_tail(tail, docs[i].kind, docs[i].id);
        if (cache_batch_value_next(&p, end, &m) != 1 || m.tail_len != tail->len ||
            memcmp(m.tail, tail->data, m.tail_len) != 0 || docs[i].json == NULL ||
            m.json_len != strlen(docs[i].json) || memcmp(m.json, docs[i].json, m.json_len) != 0)
            return 1;
    }
    return p != end;
}

/* Is the batch filed where the writes of its tables look for it (cache.lua's
 * bindex)? One that is not would miss a write's reconciliation and serve
 * the old value from then on. */
static int cache_admin__verify_index(cache_t *c, cache_admin__verify_t *v, const char *key,
                                     size_t len, const char *canon, err_t *e)
{
    const char *keys[1] = {arena_strndup(&v->arena, key, len)};
    redisReply *r;
    if (cache_script_run(c, "bindex", 1, keys, 0, NULL, NULL, 0, &r, e) != 0) return -1;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        v->out->mismatches++;
        cache_admin__report(v->fn, v->ud,
                            "MISMATCH batch %s: not filed where writes look for it: %s", canon,
                            r->element[i]->str ? r->element[i]->str : "?");
    }
    freeReplyObject(r);
    return 0;
}

static int cache_admin__verify_batch(cache_t *c, cache_admin__verify_t *v, const char *key,
                                     size_t len, err_t *e)
{
    if (len > 2 && memcmp(key + len - 2, ":z", 2) == 0) return 0;
    cache_conn_t *conn = cache_connection(c);
    redisReply *r = cache_conn_command(conn, e, "HMGET %b g p m v", key, len);
    if (r == NULL) return -1;
    if (r->type != REDIS_REPLY_ARRAY || !r->element[0]->str || !r->element[1]->str ||
        strcmp(r->element[0]->str, v->epoch) != 0) {
        freeReplyObject(r);
        return 0;
    }
    long long m = r->element[2]->str ? atoll(r->element[2]->str) : -1;
    redisReply *zc = cache_conn_command(conn, e, "ZCARD %b:z", key, len);
    if (zc == NULL) {
        freeReplyObject(r);
        return -1;
    }
    int evicted = zc->type != REDIS_REPLY_INTEGER || zc->integer != m;
    freeReplyObject(zc);
    int has_value = r->elements > 3 && r->element[3]->type == REDIS_REPLY_STRING;
    if (evicted && !has_value) { /* nothing a reader would serve */
        freeReplyObject(r);
        return 0;
    }
    arena_reset(&v->arena);
    char *pred = arena_strdup(&v->arena, r->element[1]->str);
    const char *val = NULL; /* readers serve this: no value, a miss */
    size_t vlen = 0;
    if (has_value) {
        vlen = r->element[3]->len;
        val = arena_strndup(&v->arena, r->element[3]->str, vlen);
    }
    freeReplyObject(r);
    v->out->batches++;
    cache_query_t q;
    cache_doc_t *docs = NULL;
    size_t n = 0;
    int exhaustive = 0;
    if (cache_admin__rerun(v->src, &v->arena, pred, &q, &docs, &n, &exhaustive, e) != 0) return -1;
    /* The member list (what writes reconcile) unless evicted, which the
     * next write of the table meets by dropping the batch; and the value
     * (what reads serve). */
    r = cache_conn_command(conn, e, "ZRANGE %b:z 0 -1", key, len);
    if (r == NULL) return -1;
    int same = evicted || r->elements == n;
    buf_t tail = BUF_INIT;
    for (size_t i = 0; !evicted && same && i < n; i++) {
        buf_reset(&tail);
        cache_key_tail(&tail, docs[i].kind, docs[i].id);
        const char *m = r->element[i]->str;
        size_t ml = r->element[i]->len, j = ml;
        while (j > 0 && m[j - 1] != '\0') j--; /* the tail follows the last NUL */
        same = ml - j == tail.len && memcmp(m + j, tail.data, tail.len) == 0;
    }
    if (!same) {
        v->out->mismatches++;
        cache_admin__report(v->fn, v->ud, "MISMATCH batch %s: %zu cached members, MongoDB %zu",
                            q.canon, r->elements, n);
    }
    if (same && val && cache_admin__value_differs(val, vlen, docs, n, &tail)) {
        v->out->mismatches++;
        cache_admin__report(v->fn, v->ud,
                            "MISMATCH batch %s: its materialised value (what reads serve) differs "
                            "from MongoDB",
                            q.canon);
    }
    buf_free(&tail);
    freeReplyObject(r);
    return cache_admin__verify_index(c, v, key, len, q.canon, e);
}

static int cache_admin__verify_one(cache_t *c, const char *key, size_t len, void *ud, err_t *e)
{
    size_t plen = strlen(cache_keys(c)->prefix);
    if (len > plen + 3 && memcmp(key + plen, ":q:", 3) == 0) {
        return cache_admin__verify_batch(c, ud, key, len, e);
    }
    return cache_admin__verify_entity(c, ud, key, len, e);
}

int cache_verify(cache_t *c, const cache_source_t *src, cache_report_fn fn, void *ud,
                 cache_verify_t *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    if (src == NULL || src->fetch == NULL || src->query == NULL) {
        return err_set(e, ERR_UNAVAILABLE,
                       "cache verify needs the repository layer's MongoDB source "
                       "(cache_source_t), which is not linked into this build yet");
    }
    cache_admin__verify_t v = {.src = src, .fn = fn, .ud = ud, .out = out};
    buf_t k = BUF_INIT;
    cache_key_fixed(cache_keys(c), &k, "epoch");
    redisReply *r = cache_conn_command(cache_connection(c), e, "GET %s", k.data);
    buf_free(&k);
    if (r == NULL) return -1;
    snprintf(v.epoch, sizeof v.epoch, "%s", r->str ? r->str : "");
    freeReplyObject(r);
    arena_init(&v.arena, 1 << 14);
    int rc = cache_admin__scan(c, "*", cache_admin__verify_one, &v, e);
    arena_destroy(&v.arena);
    return rc;
}

/* ------------------------------------------------------------ rehydrate */

long cache_rehydrate(cache_t *c, const cache_source_t *src, cache_report_fn fn, void *ud, err_t *e)
{
    if (src == NULL || src->query == NULL) {
        return err_set(e, ERR_UNAVAILABLE,
                       "cache rehydrate needs the repository layer's MongoDB source "
                       "(cache_source_t), which is not linked into this build yet");
    }
    buf_t k = BUF_INIT;
    cache_key_fixed(cache_keys(c), &k, "dropped");
    redisReply *r = cache_conn_command(cache_connection(c), e, "HGETALL %s", k.data);
    buf_free(&k);
    if (r == NULL) return -1;
    arena_t a;
    arena_init(&a, 1 << 14);
    long refilled = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        arena_reset(&a);
        const char *name, *args;
        cache_batch_t b;
        cache_doc_t *docs = NULL;
        size_t n = 0;
        int exhaustive = 0;
        err_t qe;
        if (cache_admin__args(&a, r->element[i + 1]->str, &name, &args, &qe) != 0 ||
            cache_batch_get(c, &a, name, args, &b, &qe) != 0) {
            cache_admin__report(fn, ud, "skip %s: %s", r->element[i]->str, qe.msg);
            continue;
        }
        if (b.status == CACHE_HIT) continue; /* refilled by a read meanwhile */
        if (src->query(src->ud, &a, &b.query, &docs, &n, &exhaustive, &qe) != 0 ||
            cache_batch_fill(c, &b, docs, n, exhaustive, &qe) < 0) {
            cache_admin__report(fn, ud, "skip %s: %s", b.query.canon, qe.msg);
            continue;
        }
        cache_admin__report(fn, ud, "refilled %s (%zu members)", b.query.canon, n);
        refilled++;
    }
    freeReplyObject(r);
    arena_destroy(&a);
    return refilled;
}
