/*
 * cache.c — entity and batch cache over one Redis connection (see cache.h).
 *
 * Owns: the script SHA of lib/cache_lua/cache.lua on the current server and
 * the token generator for epochs and leases. Whether the cache is trusted (a
 * write-through write could not reach Redis: every call starts a new epoch
 * until one succeeds) is pool-wide state in the shared page (metrics.h).
 * The near cache's side of the reads (L1, issue 23) is lib/cache_near.c,
 * its verify lib/cache_l1check.c; they share lib/cache_int.h.
 */
#include "cache.h"

#include "buf.h"
#include "cache_int.h"
#include "metrics.h"

#include "cache_lua.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Arguments of one EVALSHA: bytes live in one buffer, found by offset. */
typedef struct {
    buf_t data;
    size_t off[64 + 1];
    size_t len[64 + 1];
    size_t n;
    size_t *xoff, *xlen; /* beyond 64 arguments */
    size_t xcap;
} cache__args_t;

static void cache__arg(cache__args_t *a, const char *p, size_t n)
{
    size_t i = a->n++;
    size_t off = a->data.len;
    buf_append(&a->data, p, n);
    if (i < 64) {
        a->off[i] = off;
        a->len[i] = n;
        return;
    }
    if (i - 64 >= a->xcap) {
        a->xcap = a->xcap ? a->xcap * 2 : 64;
        a->xoff = realloc(a->xoff, a->xcap * sizeof *a->xoff);
        a->xlen = realloc(a->xlen, a->xcap * sizeof *a->xlen);
        if (a->xoff == NULL || a->xlen == NULL) abort();
    }
    a->xoff[i - 64] = off;
    a->xlen[i - 64] = n;
}

static void cache__args_free(cache__args_t *a)
{
    buf_free(&a->data);
    free(a->xoff);
    free(a->xlen);
}

/* -------------------------------------------------------------- tokens */

static uint64_t cache__next(cache_t *c)
{
    /* splitmix64: tokens only need to be unique, not secret. */
    uint64_t z = (c->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void cache__token(cache_t *c, char out[40])
{
    uint64_t a = cache__next(c), b = cache__next(c);
    snprintf(out, 40, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}

/* ------------------------------------------------------------ lifecycle */

int cache_open(cache_t **out, const cfg_t *cfg, err_t *e)
{
    *out = NULL;
    cache_t *c = calloc(1, sizeof *c);
    if (c == NULL) abort();
    if (cache_key_init(&c->keys, cfg->cache_prefix, e) != 0) {
        free(c);
        return -1;
    }
    if (strcmp(cfg->write_mode, "through") == 0) {
        c->behind = 0;
    } else if (strcmp(cfg->write_mode, "behind") == 0) {
        c->behind = 1;
    } else {
        free(c);
        return err_set(e, ERR_BAD_INPUT, "OPONN_WRITE_MODE=%s: expected through or behind",
                       cfg->write_mode);
    }
    for (int k = 0; k < CACHE__KINDS; k++) c->ttl[k] = kind_ttl_s((cache_kind_t)k, cfg);
    c->batch_ttl = cfg->cache_ttl_batch_s;
    c->neg_ttl = cfg->negative_ttl_s;
    c->lease_ms = cfg->cache_lease_ms;
    c->hold_ms = cfg->cache_hold_ms;
    c->lease_wait_ms = cfg->cache_lease_wait_ms;
    c->queue_max = cfg->queue_max;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->rng = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40);
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        uint64_t r;
        if (read(fd, &r, sizeof r) == (ssize_t)sizeof r) c->rng ^= r;
        close(fd);
    }
    if (cache_conn_open(&c->conn, cfg, e) != 0) {
        free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void cache_close(cache_t *c)
{
    if (c == NULL) return;
    cache_inval_close(c->link);
    cache_l1_free(c->l1);
    buf_free(&c->epoch_key);
    buf_free(&c->last_epoch);
    cache_conn_close(c->conn);
    free(c);
}

cache_conn_t *cache_connection(cache_t *c)
{
    return c->conn;
}

const cache_keys_t *cache_keys(const cache_t *c)
{
    return &c->keys;
}

int cache_write_behind(const cache_t *c)
{
    return c->behind;
}

void cache_set_hook(cache_t *c, cache_hook_fn fn, void *ud)
{
    c->hook = fn;
    c->hook_ud = ud;
}

void cache_mark_dirty(cache_t *c)
{
    (void)c; /* the state is the pool's, not this handle's */
    metrics_cache_distrust();
    metrics_fence_bump();
}

int cache_sync(cache_t *c, err_t *e)
{
    if (!metrics_cache_distrusted(NULL)) return 0;
    cache_conn_retry_now(c->conn);
    const char *args[1] = {""};
    redisReply *r;
    /* Any script call carries the bump; "esc" writes nothing else. */
    if (cache_script_run(c, "esc", 0, NULL, 1, args, NULL, 1, &r, e) != 0) return -1;
    freeReplyObject(r);
    return 0;
}

int cache_probe(cache_t *c, err_t *e)
{
    cache_conn_retry_now(c->conn);
    char token[40];
    cache__token(c, token);
    const char *args[1] = {token};
    redisReply *r;
    if (cache_script_run(c, "probe", 0, NULL, 1, args, NULL, 0, &r, e) != 0) return -1;
    freeReplyObject(r);
    return 0;
}

/* ------------------------------------------------------------ scripting */

static int cache__load(cache_t *c, err_t *e)
{
    redisReply *r = cache_conn_command(c->conn, e, "SCRIPT LOAD %s", cache_lua_cache);
    if (r == NULL) return -1;
    int ok = r->type == REDIS_REPLY_STRING && r->len == 40;
    if (ok)
        memcpy(c->sha, r->str, 41);
    else
        err_set(e, ERR_INTERNAL, "Redis refused cache.lua: %s", r->str ? r->str : "?");
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* A write-through write that did not reach Redis: the old value may still
 * be cached, so no worker may trust the cache until a new epoch starts.
 * (In write-behind the caller refuses the write instead: nothing missed.) */
static void cache__missed_write(const cache_t *c)
{
    if (!c->behind) metrics_cache_distrust();
}

/* Errors of a Redis that is up but takes no writes: disk full or failing
 * (MISCONF: AOF or RDB write error), out of memory under noeviction (OOM),
 * a replica (READONLY). Reads still work there, which is why a missed write
 * must stop them (cache__missed_write). */
static int cache__refuses_writes(const char *msg)
{
    static const char *const prefixes[] = {"MISCONF", "OOM", "READONLY", "NOREPLICAS"};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(msg, prefixes[i], n) == 0 && (msg[n] == ' ' || msg[n] == '\0')) return 1;
    }
    return 0;
}

/* The scripts whose Redis time grows with their input (members filled,
 * lists reconciled): see cache_conn_command_argv_long. */
static int cache__long_op(const char *op)
{
    static const char *const ops[] = {"bfill", "fillmany", "put", "del"};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        if (strcmp(op, ops[i]) == 0) return 1;
    }
    return 0;
}

int cache_script_run(cache_t *c, const char *op, int nkeys, const char **keys, int nargs,
                     const char **args, const size_t *alens, int is_write, redisReply **reply,
                     err_t *e)
{
    *reply = NULL;
    if (cache_conn_get(c->conn, e) == NULL) {
        metrics_inc(METRIC_CACHE_DEGRADED);
        if (is_write) cache__missed_write(c);
        return -1;
    }
    cache__args_t a = {0};
    char nk[16], bump[40] = "", fresh[40];
    cache__arg(&a, "EVALSHA", 7);
    cache__arg(&a, "", 0); /* sha, filled below */
    snprintf(nk, sizeof nk, "%d", nkeys + 1);
    cache__arg(&a, nk, strlen(nk));
    buf_t k = BUF_INIT;
    cache_key_fixed(&c->keys, &k, "epoch");
    cache__arg(&a, k.data, k.len);
    buf_free(&k);
    for (int i = 0; i < nkeys; i++) cache__arg(&a, keys[i], strlen(keys[i]));
    uint64_t failures;
    metrics_reap_writers(); /* a worker killed mid-mutation: distrust first */
    int was_dirty = metrics_cache_distrusted(&failures);
    if (was_dirty) cache__token(c, bump);
    cache__token(c, fresh);
    cache__arg(&a, op, strlen(op));
    cache__arg(&a, c->keys.prefix, strlen(c->keys.prefix));
    cache__arg(&a, bump, strlen(bump));
    cache__arg(&a, fresh, strlen(fresh));
    for (int i = 0; i < nargs; i++) cache__arg(&a, args[i], alens ? alens[i] : strlen(args[i]));

    const char **argv = malloc(a.n * sizeof *argv);
    size_t *lens = malloc(a.n * sizeof *lens);
    if (argv == NULL || lens == NULL) abort();
    int rc = -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->sha[0] == '\0' && cache__load(c, e) != 0) break;
        for (size_t i = 0; i < a.n; i++) {
            size_t off = i < 64 ? a.off[i] : a.xoff[i - 64];
            lens[i] = i < 64 ? a.len[i] : a.xlen[i - 64];
            argv[i] = a.data.data + off;
        }
        argv[1] = c->sha;
        lens[1] = 40;
        redisReply *r = cache__long_op(op)
                            ? cache_conn_command_argv_long(c->conn, e, (int)a.n, argv, lens)
                            : cache_conn_command_argv(c->conn, e, (int)a.n, argv, lens);
        if (r == NULL) {
            c->sha[0] = '\0'; /* a restarted server has no scripts */
            metrics_inc(METRIC_CACHE_DEGRADED);
            if (is_write) cache__missed_write(c);
            break;
        }
        if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
            freeReplyObject(r);
            c->sha[0] = '\0';
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            /* A script error may leave part of a write applied: distrust. */
            if (is_write) cache__missed_write(c);
            if (cache__refuses_writes(r->str)) {
                metrics_inc(METRIC_CACHE_DEGRADED);
                err_set(e, ERR_UNAVAILABLE,
                        "Redis refuses writes (%s): the cache is bypassed "
                        "until it takes them again",
                        r->str);
            } else {
                err_set(e, ERR_INTERNAL, "cache.lua %s: %s", op, r->str);
            }
            freeReplyObject(r);
            break;
        }
        if (was_dirty) {
            metrics_cache_trust(failures);
            metrics_inc(METRIC_CACHE_EPOCH_BUMPS);
        }
        *reply = r;
        rc = 0;
        break;
    }
    free(argv);
    free(lens);
    cache__args_free(&a);
    /* After Redis answered (or not), before the caller answers its client:
     * readers of this instance sync their invalidation link first. */
    if (is_write) metrics_fence_bump();
    return rc;
}

static const char *cache__ll(char *buf, size_t n, long long v)
{
    snprintf(buf, n, "%lld", v);
    return buf;
}

static int cache__is(const redisReply *r, size_t i, const char *s)
{
    return r->type == REDIS_REPLY_ARRAY && i < r->elements &&
           r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, s) == 0;
}

int cache__str_el(const redisReply *r, size_t i)
{
    return i < r->elements && r->element[i]->type == REDIS_REPLY_STRING;
}

/* ------------------------------------------------------------- entities */

static int cache__check_id(const char *id, err_t *e)
{
    if (id == NULL || id[0] == '\0') return err_set(e, ERR_BAD_INPUT, "empty id");
    return 0;
}

static void cache__sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int cache_get(cache_t *c, arena_t *a, cache_kind_t k, const char *id, cache_entry_t *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    out->status = CACHE_MISS;
    if (cache__check_id(id, e) != 0) return -1;
    buf_t ek = BUF_INIT, lk = BUF_INIT;
    cache_key_entity(&c->keys, &ek, k, id);
    if (cache__l1_entity(c, a, &ek, out)) {
        buf_free(&ek);
        return 0;
    }
    cache_l1_snap_t snap;
    cache__l1_snap(c, &snap);
    cache_key_lease(&c->keys, &lk, k, id);
    const char *keys[2] = {ek.data, lk.data};
    char token[40], ms[24];
    cache__token(c, token);
    const char *args[2] = {token, cache__ll(ms, sizeof ms, c->lease_ms)};
    long waited = 0, step = 2;
    int rc = -1;
    for (;;) {
        redisReply *r;
        if (cache_script_run(c, "get", 2, keys, 2, args, NULL, 0, &r, e) != 0) break;
        rc = 0;
        if (cache__is(r, 0, "hit") && r->elements == 2) {
            out->status = CACHE_HIT;
            out->json = arena_strndup(a, r->element[1]->str, r->element[1]->len);
            metrics_inc(METRIC_CACHE_HITS);
        } else if (cache__is(r, 0, "neg")) {
            out->status = CACHE_NEGATIVE;
            metrics_inc(METRIC_CACHE_NEG_HITS);
        } else if (cache__is(r, 0, "lease")) {
            memcpy(out->lease, token, sizeof out->lease);
            metrics_inc(METRIC_CACHE_MISSES);
        } else if (waited < c->lease_wait_ms) {
            /* Another worker is reading MongoDB for this key: give it a
             * moment, then look again (single flight). */
            freeReplyObject(r);
            if (waited == 0) metrics_inc(METRIC_CACHE_LEASE_WAITS);
            long d = step < c->lease_wait_ms - waited ? step : c->lease_wait_ms - waited;
            cache__sleep_ms(d);
            waited += d;
            step *= 2;
            continue;
        } else {
            metrics_inc(METRIC_CACHE_MISSES); /* read through, no fill */
        }
        freeReplyObject(r);
        break;
    }
    if (rc == 0) cache__l1_put_entity(c, &snap, &ek, out);
    buf_free(&ek);
    buf_free(&lk);
    return rc;
}

int cache_fill(cache_t *c, cache_kind_t k, const char *id, const cache_entry_t *miss,
               const char *json, int64_t version, err_t *e)
{
    if (cache__check_id(id, e) != 0) return -1;
    if (miss == NULL || miss->lease[0] == '\0') return 0; /* no lease: never fill */
    if (c->hook) c->hook(c->hook_ud, "fill", k, id);
    buf_t ek = BUF_INIT, lk = BUF_INIT;
    cache_key_entity(&c->keys, &ek, k, id);
    cache_key_lease(&c->keys, &lk, k, id);
    const char *keys[2] = {ek.data, lk.data};
    char v[24], ttl[24], nttl[24];
    const char *args[5] = {miss->lease, cache__ll(v, sizeof v, json ? version : 0),
                           json ? json : "", cache__ll(ttl, sizeof ttl, c->ttl[k]),
                           cache__ll(nttl, sizeof nttl, c->neg_ttl)};
    redisReply *r;
    int rc = cache_script_run(c, "fill", 2, keys, 5, args, NULL, 0, &r, e);
    if (rc == 0) {
        rc = r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING
                 ? strcmp(r->str, "stored") == 0
                 : 0;
        if (rc == 0) metrics_inc(METRIC_CACHE_STALE_REFUSED);
        freeReplyObject(r);
    }
    buf_free(&ek);
    buf_free(&lk);
    return rc;
}

/* Appends (tail, version) of each doc to pool; offs gets their offsets. */
static void cache__doc_args(buf_t *pool, size_t *offs, const cache_doc_t *docs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        offs[2 * i] = pool->len;
        cache_key_tail(pool, docs[i].kind, docs[i].id);
        buf_putc(pool, '\0');
        offs[2 * i + 1] = pool->len;
        buf_printf(pool, "%lld", (long long)docs[i].version);
        buf_putc(pool, '\0');
    }
}

/* Runs op with fixed args first, then (tail, version, JSON) triples of
 * docs. allow_neg: a doc without JSON is sent as "" (a negative entry). */
static int cache__run_docs(cache_t *c, const char *op, int nkeys, const char **keys, int nfixed,
                           const char **fixed, const cache_doc_t *docs, size_t n, int allow_neg,
                           redisReply **r, err_t *e)
{
    for (size_t i = 0; i < n; i++) {
        if (cache__check_id(docs[i].id, e) != 0 || (docs[i].json == NULL && !allow_neg)) {
            return err_set(e, ERR_BAD_INPUT, "document %zu has no id or no JSON", i);
        }
    }
    buf_t pool = BUF_INIT;
    size_t *offs = malloc((2 * n + 1) * sizeof *offs);
    const char **args = malloc(((size_t)nfixed + 3 * n + 1) * sizeof *args);
    if (offs == NULL || args == NULL) abort();
    cache__doc_args(&pool, offs, docs, n);
    for (int i = 0; i < nfixed; i++) args[i] = fixed[i];
    for (size_t i = 0; i < n; i++) {
        args[nfixed + 3 * i] = pool.data + offs[2 * i];
        args[nfixed + 3 * i + 1] = pool.data + offs[2 * i + 1];
        args[nfixed + 3 * i + 2] = docs[i].json ? docs[i].json : "";
    }
    int rc = cache_script_run(c, op, nkeys, keys, nfixed + 3 * (int)n, args, NULL, 0, r, e);
    free(offs);
    free(args);
    buf_free(&pool);
    return rc;
}

int cache_fill_docs(cache_t *c, const char *epoch, const cache_doc_t *docs, size_t n, err_t *e)
{
    if (n == 0) return 0;
    if (epoch == NULL) return err_set(e, ERR_BAD_INPUT, "cache_fill_docs needs the read's epoch");
    char ttl[24], nttl[24];
    /* One TTL per call: use the longest kind's (the entities expire on their
     * own TTL at the next write anyway). */
    long long t = 0;
    for (size_t i = 0; i < n; i++) t = c->ttl[docs[i].kind] > t ? c->ttl[docs[i].kind] : t;
    const char *fixed[3] = {epoch, cache__ll(ttl, sizeof ttl, t),
                            cache__ll(nttl, sizeof nttl, c->neg_ttl)};
    redisReply *r;
    if (cache__run_docs(c, "fillmany", 0, NULL, 3, fixed, docs, n, 1, &r, e) != 0) return -1;
    int stored = r->type == REDIS_REPLY_INTEGER ? (int)r->integer : 0;
    freeReplyObject(r);
    if ((size_t)stored < n) metrics_add(METRIC_CACHE_STALE_REFUSED, n - (size_t)stored);
    return stored;
}

int cache_get_many(cache_t *c, arena_t *a, cache_kind_t k, const char *const *ids, size_t n,
                   cache_entry_t *out, err_t *e)
{
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].status = CACHE_MISS;
    }
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        if (cache__check_id(ids[i], e) != 0) return -1;
    }
    /* L1 first; Redis reads the rest (want[0..nw) indexes into ids). */
    size_t *want = malloc(n * sizeof *want), nw = 0;
    if (want == NULL) abort();
    buf_t ek = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        buf_reset(&ek);
        cache_key_entity(&c->keys, &ek, k, ids[i]);
        if (!cache__l1_entity(c, a, &ek, &out[i])) want[nw++] = i;
    }
    if (nw == 0) {
        const char *epoch =
            arena_strndup(a, c->last_epoch.data ? c->last_epoch.data : "", c->last_epoch.len);
        for (size_t i = 0; i < n; i++) out[i].epoch = epoch;
        free(want);
        buf_free(&ek);
        return 0;
    }
    cache_l1_snap_t snap;
    cache__l1_snap(c, &snap);
    buf_t pool = BUF_INIT;
    size_t *offs = malloc(nw * sizeof *offs);
    const char **args = malloc(nw * sizeof *args);
    if (offs == NULL || args == NULL) abort();
    for (size_t i = 0; i < nw; i++) {
        offs[i] = pool.len;
        cache_key_tail(&pool, k, ids[want[i]]);
        buf_putc(&pool, '\0');
    }
    for (size_t i = 0; i < nw; i++) args[i] = pool.data + offs[i];
    redisReply *r;
    int rc = cache_script_run(c, "mget", 0, NULL, (int)nw, args, NULL, 0, &r, e);
    free(offs);
    free(args);
    buf_free(&pool);
    if (rc == 0 &&
        (r->type != REDIS_REPLY_ARRAY || r->elements != 2 * nw + 1 || !cache__str_el(r, 2 * nw))) {
        freeReplyObject(r);
        rc = err_set(e, ERR_INTERNAL, "cache.lua mget: unexpected reply");
    }
    if (rc == 0) {
        /* The epoch of this read: a later cache_fill_docs of the misses
         * passes it back (L1 hits among them share it: L1 empties on a new
         * epoch). */
        const char *epoch = arena_strndup(a, r->element[2 * nw]->str, r->element[2 * nw]->len);
        for (size_t i = 0; i < n; i++) out[i].epoch = epoch;
        buf_reset(&c->last_epoch);
        buf_append(&c->last_epoch, r->element[2 * nw]->str, r->element[2 * nw]->len);
    }
    for (size_t j = 0; rc == 0 && j < nw; j++) {
        cache_entry_t *o = &out[want[j]];
        if (cache__is(r, 2 * j, "h") && r->element[2 * j + 1]->type == REDIS_REPLY_STRING) {
            o->status = CACHE_HIT;
            o->json = arena_strndup(a, r->element[2 * j + 1]->str, r->element[2 * j + 1]->len);
            metrics_inc(METRIC_CACHE_HITS);
        } else if (cache__is(r, 2 * j, "n")) {
            o->status = CACHE_NEGATIVE;
            metrics_inc(METRIC_CACHE_NEG_HITS);
        } else {
            metrics_inc(METRIC_CACHE_MISSES);
            continue;
        }
        buf_reset(&ek);
        cache_key_entity(&c->keys, &ek, k, ids[want[j]]);
        cache__l1_put_entity(c, &snap, &ek, o);
    }
    if (rc == 0) freeReplyObject(r);
    free(want);
    buf_free(&ek);
    if (rc != 0) {
        for (size_t i = 0; i < n; i++) out[i].status = CACHE_MISS; /* as documented */
    }
    return rc;
}

static int cache__write(cache_t *c, int is_del, cache_kind_t k, const char *id, int64_t version,
                        const char *json, cache_reconcile_t *rc, err_t *e)
{
    if (rc) memset(rc, 0, sizeof *rc);
    if (cache__check_id(id, e) != 0) return -1;
    if (!is_del && json == NULL) return err_set(e, ERR_BAD_INPUT, "cache_put without JSON");
    buf_t tail = BUF_INIT;
    cache_key_tail(&tail, k, id);
    char v[24], ttl[24], nttl[24], bttl[24], qmax[24];
    const char *args[10] = {tail.data,
                            cache_kind_name(k),
                            cache__ll(v, sizeof v, version),
                            is_del ? "" : json,
                            cache__ll(ttl, sizeof ttl, c->ttl[k]),
                            cache__ll(nttl, sizeof nttl, c->neg_ttl),
                            cache__ll(bttl, sizeof bttl, c->batch_ttl),
                            c->behind ? "behind" : "",
                            cache__ll(qmax, sizeof qmax, c->queue_max),
                            id};
    redisReply *r;
    int ret = cache_script_run(c, is_del ? "del" : "put", 0, NULL, 10, args, NULL, 1, &r, e);
    buf_free(&tail);
    if (ret != 0) {
        if (c->behind) err_wrap(e, "write-behind: write not accepted");
        return -1;
    }
    if (cache__is(r, 0, "ok") && r->elements == 6) {
        cache_reconcile_t got = {(int)r->element[1]->integer, (int)r->element[2]->integer,
                                 (int)r->element[3]->integer, (int)r->element[4]->integer,
                                 (int)r->element[5]->integer};
        metrics_add(METRIC_BATCH_PATCHED, (uint64_t)got.patched);
        metrics_add(METRIC_BATCH_INSERTED, (uint64_t)got.inserted);
        metrics_add(METRIC_BATCH_REMOVED, (uint64_t)got.removed);
        metrics_add(METRIC_BATCH_DROPPED, (uint64_t)got.dropped);
        if (c->behind) metrics_inc(METRIC_QUEUE_ENQUEUED);
        if (rc) *rc = got;
        ret = 1;
    } else if (cache__is(r, 0, "full")) {
        metrics_inc(METRIC_QUEUE_FULL);
        ret = err_set(e, ERR_UNAVAILABLE,
                      "write-behind queue is full (OPONN_QUEUE_MAX=%lld): is oponn-writer "
                      "running and MongoDB reachable?",
                      c->queue_max);
    } else {
        metrics_inc(METRIC_CACHE_STALE_REFUSED);
        ret = 0;
    }
    freeReplyObject(r);
    return ret;
}

int cache_put(cache_t *c, cache_kind_t k, const char *id, int64_t version, const char *json,
              cache_reconcile_t *rc, err_t *e)
{
    return cache__write(c, 0, k, id, version, json, rc, e);
}

int cache_delete(cache_t *c, cache_kind_t k, const char *id, int64_t version, cache_reconcile_t *rc,
                 err_t *e)
{
    return cache__write(c, 1, k, id, version, NULL, rc, e);
}

/* -------------------------------------------------------------- batches */

int cache_batch_value_next(const char **p, const char *end, cache_value_member_t *m)
{
    const char *q = *p;
    if (q >= end) return 0;
    if (*q != '\1') return -1;
    const char *f[3];
    size_t n[3];
    f[0] = ++q;
    for (int i = 0; i < 3; i++) {
        const char *stop =
            i < 2 ? memchr(q, '\2', (size_t)(end - q)) : memchr(q, '\1', (size_t)(end - q));
        if (stop == NULL) {
            if (i < 2) return -1;
            stop = end;
        }
        n[i] = (size_t)(stop - f[i]);
        q = stop;
        if (i < 2) f[i + 1] = ++q;
    }
    m->tail = f[0];
    m->tail_len = n[0];
    m->json = f[1];
    m->json_len = n[1];
    m->join = f[2];
    m->join_len = n[2];
    *p = q;
    return 1;
}

/* The JSON of an entity value "epoch|version|n|JSON" when it is of epoch
 * `epoch` and a live record (not negative, not held); else NULL. */
const char *cache__entity_json(arena_t *a, const redisReply *v, const char *epoch)
{
    if (v->type != REDIS_REPLY_STRING) return NULL;
    size_t el = strlen(epoch);
    const char *s = v->str, *end = v->str + v->len;
    if (v->len < el + 1 || memcmp(s, epoch, el) != 0 || s[el] != '|') return NULL;
    const char *p = memchr(s + el + 1, '|', (size_t)(end - s - el - 1));
    if (p == NULL || end - p < 3 || p[1] != '0' || p[2] != '|') return NULL;
    return arena_strndup(a, p + 3, (size_t)(end - p - 3));
}

/* Parses a batch value (cache.lua's value_of) into out->members. */
int cache__batch_value(arena_t *a, const char *v, size_t vlen, cache_batch_t *out, err_t *e)
{
    const char *end = v + vlen;
    size_t count = 0; /* members end in \1; memchr skips their JSON fast */
    for (const char *p = v; (p = memchr(p, '\1', (size_t)(end - p))) != NULL; p++) count++;
    out->n = count;
    out->members = arena_calloc(a, count ? count : 1, sizeof *out->members);
    buf_t id = BUF_INIT;
    const char *p = v;
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        cache_member_t *m = &out->members[i];
        cache_value_member_t vm;
        buf_reset(&id);
        if (cache_batch_value_next(&p, end, &vm) != 1 ||
            cache_key_parse_tail(vm.tail, vm.tail_len, &m->kind, &id, e) != 0) {
            rc = err_set(e, ERR_INTERNAL, "cached batch: bad value");
            break;
        }
        m->id = arena_strndup(a, id.data, id.len);
        m->json = arena_strndup(a, vm.json, vm.json_len);
        if (vm.join_len == 0) continue;
        buf_reset(&id);
        if (cache_key_parse_tail(vm.join, vm.join_len, &m->join_kind, &id, e) != 0) {
            rc = err_set(e, ERR_INTERNAL, "cached batch: bad join");
            break;
        }
        m->has_join = 1;
        m->join_id = arena_strndup(a, id.data, id.len);
    }
    buf_free(&id);
    return rc;
}

/* A hit's join targets: each distinct one read once, from L1 or else with
 * one MGET (a second round trip; see docs/cache.md). Targets not cached, of
 * another epoch, negative or held keep join_json NULL: the repository reads
 * them. The targets the MGET found go into L1 as entities (read after
 * snap): a few hundred stores serve every cached list, so a worker's next
 * lists need no MGET, whether their own batch comes from L1 or Redis. */
static int cache__batch_joins(cache_t *c, arena_t *a, cache_batch_t *out, const char *epoch,
                              const cache_l1_snap_t *snap, err_t *e)
{
    size_t n = out->n, nk = 0;
    const char **argv = arena_alloc(a, (n + 1) * sizeof *argv);
    size_t *slot = arena_alloc(a, (n ? n : 1) * sizeof *slot);
    argv[0] = "MGET";
    buf_t k = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        cache_member_t *m = &out->members[i];
        slot[i] = (size_t)-1;
        if (!m->has_join) continue;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) {
            if (out->members[j].has_join && out->members[j].join_kind == m->join_kind &&
                strcmp(out->members[j].join_id, m->join_id) == 0) {
                slot[i] = slot[j];
                m->join_json = out->members[j].join_json;
                seen = 1;
            }
        }
        if (seen) continue;
        buf_reset(&k);
        cache_key_entity(&c->keys, &k, m->join_kind, m->join_id);
        /* A target L1 holds needs no MGET (and a fully L1-held join no
         * second round trip). */
        cache_entry_t ce;
        if (cache__l1_entity(c, a, &k, &ce)) {
            m->join_json = ce.status == CACHE_HIT ? ce.json : NULL;
            continue;
        }
        argv[1 + nk] = arena_strndup(a, k.data, k.len);
        slot[i] = nk++;
    }
    if (nk == 0) {
        buf_free(&k);
        return 0;
    }
    redisReply *r = cache_conn_command_argv(c->conn, e, (int)nk + 1, argv, NULL);
    if (r == NULL) {
        buf_free(&k);
        metrics_inc(METRIC_CACHE_DEGRADED);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != nk) {
        buf_free(&k);
        freeReplyObject(r);
        return err_set(e, ERR_INTERNAL, "cached batch: unexpected MGET reply");
    }
    const char **got = arena_alloc(a, nk * sizeof *got);
    for (size_t j = 0; j < nk; j++) {
        got[j] = cache__entity_json(a, r->element[j], epoch);
        if (got[j] == NULL) continue;
        cache_entry_t ce = {.status = CACHE_HIT, .json = got[j]};
        buf_reset(&k);
        buf_puts(&k, argv[1 + j]);
        cache__l1_put_entity(c, snap, &k, &ce);
    }
    for (size_t i = 0; i < n; i++) {
        if (slot[i] != (size_t)-1) out->members[i].join_json = got[slot[i]];
    }
    buf_free(&k);
    freeReplyObject(r);
    return 0;
}

/* A batch answer from L1 (key lk): 1 and out's members filled. */
static int cache__l1_batch(cache_t *c, arena_t *a, const buf_t *lk, cache_batch_t *out)
{
    const char *v;
    size_t vlen;
    if (!cache__l1_get(c, 'b', lk->data, lk->len, &v, &vlen)) return 0;
    const char *p = v, *end = v + vlen;
    uint32_t len;
    if (vlen < 1 + sizeof len) return 0;
    out->exhaustive = *p++ == '1';
    memcpy(&len, p, sizeof len);
    p += sizeof len;
    err_t e = {0};
    if ((size_t)(end - p) < len || cache__batch_value(a, p, len, out, &e) != 0) return 0;
    out->epoch = arena_strndup(a, c->last_epoch.data ? c->last_epoch.data : "", c->last_epoch.len);
    out->status = CACHE_HIT;
    return 1;
}

int cache_batch_get(cache_t *c, arena_t *a, const char *query, const char *args_json,
                    cache_batch_t *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    out->status = CACHE_MISS;
    const cache_query_decl_t *q = cache_query_find(query);
    if (q == NULL) return err_set(e, ERR_BAD_INPUT, "no cached query named %s", query);
    if (cache_query_canon(a, q, args_json, &out->query, e) != 0) return -1;
    /* A distrusted cache serves nothing until its new epoch starts (the
     * script calls carry the bump; this read is plain commands). */
    if (cache_sync(c, e) != 0) return -1;
    /* One round trip, two plain commands: the batch, then the epoch and the
     * table write counters (the fill token of a miss). Reading the epoch
     * after the batch makes a hit safe: the batch was current then. */
    buf_t bk = BUF_INIT, kk = BUF_INIT, lk = BUF_INIT;
    cache_key_batch(&c->keys, &bk, q->name, out->query.hash);
    /* L1 holds it under the batch key and the canonical arguments (which a
     * Redis hit checks too: the hash alone could collide). */
    buf_append(&lk, bk.data, bk.len + 1);
    buf_puts(&lk, out->query.canon);
    cache_l1_snap_t snap;
    if (cache__l1_batch(c, a, &lk, out)) {
        buf_free(&bk);
        buf_free(&lk);
        if (!q->join_field) return 0;
        /* L1 holds the batch, not its join targets (entities of their own
         * in L1, each dropped by its own key): the targets L1 lacks come
         * from Redis. */
        cache__l1_snap(c, &snap);
        if (cache__batch_joins(c, a, out, out->epoch, &snap, e) == 0) return 0;
        out->status = CACHE_MISS;
        out->members = NULL;
        out->n = 0;
        return -1;
    }
    cache__l1_snap(c, &snap);
    size_t koff[1 + CACHE_QUERY_MAX_TABLES];
    koff[0] = 0;
    cache_key_fixed(&c->keys, &kk, "epoch");
    buf_putc(&kk, '\0');
    for (int i = 0; i < q->ntables; i++) {
        koff[1 + i] = kk.len;
        cache_key_table_version(&c->keys, &kk, q->tables[i]);
        buf_putc(&kk, '\0');
    }
    const char *hv[6] = {"HMGET", bk.data, "g", "c", "x", "v"};
    const char *mv[2 + CACHE_QUERY_MAX_TABLES] = {"MGET"};
    for (int i = 0; i <= q->ntables; i++) mv[1 + i] = kk.data + koff[i];
    const char *const *argv[2] = {hv, mv};
    const size_t *lens[2] = {NULL, NULL};
    int argc[2] = {6, 2 + q->ntables};
    redisReply *r[2];
    int rc = cache_conn_pipeline(c->conn, e, 2, argc, argv, lens, r);
    buf_free(&kk);
    if (rc != 0) {
        buf_free(&bk);
        buf_free(&lk);
        metrics_inc(METRIC_CACHE_DEGRADED);
        return -1;
    }
    redisReply *b = r[0], *m = r[1];
    if (b->type != REDIS_REPLY_ARRAY || b->elements != 4 || m->type != REDIS_REPLY_ARRAY ||
        m->elements != (size_t)q->ntables + 1) {
        rc = err_set(e, ERR_INTERNAL, "cached batch read: unexpected reply (%s)",
                     b->type == REDIS_REPLY_ERROR   ? b->str
                     : m->type == REDIS_REPLY_ERROR ? m->str
                                                    : "?");
        freeReplyObject(b);
        freeReplyObject(m);
        return rc;
    }
    out->epoch =
        cache__str_el(m, 0) ? arena_strndup(a, m->element[0]->str, m->element[0]->len) : "";
    buf_reset(&c->last_epoch);
    buf_puts(&c->last_epoch, out->epoch);
    if (cache__str_el(m, 0) && cache__str_el(b, 0) && cache__str_el(b, 1) && cache__str_el(b, 3) &&
        strcmp(b->element[0]->str, m->element[0]->str) == 0 &&
        strcmp(b->element[1]->str, out->query.canon) == 0) {
        out->exhaustive = cache__str_el(b, 2) && strcmp(b->element[2]->str, "1") == 0;
        rc = cache__batch_value(a, b->element[3]->str, b->element[3]->len, out, e);
        if (rc == 0 && q->join_field) rc = cache__batch_joins(c, a, out, out->epoch, &snap, e);
        if (rc == 0) {
            out->status = CACHE_HIT;
            metrics_inc(METRIC_BATCH_HITS);
            cache__l1_put_batch(c, &snap, &lk, b->element[3]->str, b->element[3]->len,
                                out->exhaustive, bk.data);
        } else {
            out->members = NULL;
            out->n = 0;
        }
    } else {
        /* The epoch too: a write-through write whose cache call failed
         * moves no counter, it starts a new epoch (cache.lua's bfill). */
        buf_t tok = BUF_INIT;
        buf_puts(&tok, out->epoch);
        buf_putc(&tok, ';');
        for (size_t i = 1; i < m->elements; i++) {
            if (i > 1) buf_putc(&tok, ',');
            if (cache__str_el(m, i))
                buf_append(&tok, m->element[i]->str, m->element[i]->len);
            else
                buf_putc(&tok, '0');
        }
        out->token = arena_strndup(a, tok.data, tok.len);
        buf_free(&tok);
        metrics_inc(METRIC_BATCH_MISSES);
    }
    freeReplyObject(b);
    freeReplyObject(m);
    buf_free(&bk);
    buf_free(&lk);
    return rc;
}

int cache_batch_counts(cache_t *c, arena_t *a, const char *query, const char *const *args_json,
                       size_t n, int64_t *counts, err_t *e)
{
    for (size_t i = 0; i < n; i++) counts[i] = -1;
    if (n == 0) return 0;
    const cache_query_decl_t *q = cache_query_find(query);
    if (q == NULL) return err_set(e, ERR_BAD_INPUT, "no cached query named %s", query);
    if (n > INT_MAX / 2) return err_set(e, ERR_BAD_INPUT, "cache_batch_counts: too many batches");
    buf_t pool = BUF_INIT;
    size_t *offs = malloc(n * sizeof *offs);
    const char **keys = malloc(n * sizeof *keys);
    const char **preds = malloc(n * sizeof *preds);
    if (offs == NULL || keys == NULL || preds == NULL) abort();
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        cache_query_t cq;
        rc = cache_query_canon(a, q, args_json[i], &cq, e);
        if (rc != 0) break;
        preds[i] = cq.pred_json;
        offs[i] = pool.len;
        cache_key_batch(&c->keys, &pool, q->name, cq.hash);
        buf_putc(&pool, '\0');
    }
    for (size_t i = 0; i < n && rc == 0; i++) keys[i] = pool.data + offs[i];
    redisReply *r = NULL;
    if (rc == 0) rc = cache_script_run(c, "bcount", (int)n, keys, (int)n, preds, NULL, 0, &r, e);
    free(offs);
    free(keys);
    free(preds);
    buf_free(&pool);
    if (rc != 0) return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
        freeReplyObject(r);
        return err_set(e, ERR_INTERNAL, "cache.lua bcount: unexpected reply");
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *el = r->element[i];
        if (el->type == REDIS_REPLY_INTEGER && el->integer >= 0) counts[i] = el->integer;
        metrics_inc(counts[i] >= 0 ? METRIC_BATCH_HITS : METRIC_BATCH_MISSES);
    }
    freeReplyObject(r);
    return 0;
}

int cache_batch_fill(cache_t *c, const cache_batch_t *miss, const cache_doc_t *docs, size_t n,
                     int exhaustive, err_t *e)
{
    return cache_batch_fill_ex(c, miss, docs, n, exhaustive, NULL, 0, e);
}

int cache_batch_fill_ex(cache_t *c, const cache_batch_t *miss, const cache_doc_t *docs, size_t n,
                        int exhaustive, const cache_doc_t *extra, size_t nextra, err_t *e)
{
    if (miss == NULL || miss->status != CACHE_MISS || miss->token == NULL) {
        return err_set(e, ERR_BAD_INPUT, "cache_batch_fill needs the miss of cache_batch_get");
    }
    const cache_query_t *q = &miss->query;
    if (q->limit >= 0 && (long long)n > q->limit) n = (size_t)q->limit;
    if (c->hook) c->hook(c->hook_ud, "batch_fill", q->decl->tables[0], q->canon);
    buf_t bk = BUF_INIT;
    cache_key_batch(&c->keys, &bk, q->decl->name, q->hash);
    const char *keys[1] = {bk.data};
    char bttl[24], ettl[24];
    long long t = 0;
    for (int i = 0; i < q->decl->ntables; i++) {
        long long kt = c->ttl[q->decl->tables[i]];
        t = kt > t ? kt : t;
    }
    char nm[24];
    const char *fixed[6] = {q->pred_json,
                            exhaustive ? "1" : "0",
                            miss->token,
                            cache__ll(bttl, sizeof bttl, c->batch_ttl),
                            cache__ll(ettl, sizeof ettl, t),
                            cache__ll(nm, sizeof nm, (long long)n)};
    /* Members, then the extra entities, in one argument list. */
    const cache_doc_t *all = docs;
    cache_doc_t *joined = NULL;
    if (nextra) {
        joined = malloc((n + nextra) * sizeof *joined);
        if (joined == NULL) abort();
        if (n) memcpy(joined, docs, n * sizeof *joined);
        memcpy(joined + n, extra, nextra * sizeof *joined);
        all = joined;
    }
    redisReply *r;
    int rc = cache__run_docs(c, "bfill", 1, keys, 6, fixed, all, n + nextra, 0, &r, e);
    free(joined);
    buf_free(&bk);
    if (rc != 0) return -1;
    int refilled = (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING) &&
                   strcmp(r->str, "refilled") == 0;
    rc = refilled || ((r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING) &&
                      strcmp(r->str, "stored") == 0);
    freeReplyObject(r);
    if (refilled) metrics_inc(METRIC_BATCH_REFILLED);
    if (rc == 0) metrics_inc(METRIC_CACHE_STALE_REFUSED);
    return rc;
}

/* ---------------------------------------------------------------- admin */

/* Unlinks every entity key of a kind (P:<kind>:*), SCAN by SCAN, so a large
 * type never blocks Redis in one long command. Readers that miss meanwhile
 * refill from MongoDB, which is the point of a purge. */
static int cache__unlink_kind(cache_t *c, cache_kind_t k, err_t *e)
{
    buf_t match = BUF_INIT;
    buf_printf(&match, "%s:%s:*", cache_keys(c)->prefix, cache_kind_name(k));
    char cursor[32] = "0";
    int rc = 0;
    do {
        redisReply *r = cache_conn_command(cache_connection(c), e, "SCAN %s MATCH %s COUNT 1000",
                                           cursor, match.data);
        if (r == NULL) {
            rc = -1;
            break;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING) {
            freeReplyObject(r);
            rc = err_set(e, ERR_INTERNAL, "cache purge: unexpected SCAN reply");
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *keys = r->element[1];
        if (keys->elements > 0) {
            const char **argv = malloc((keys->elements + 1) * sizeof *argv);
            if (argv == NULL) abort();
            argv[0] = "UNLINK";
            for (size_t i = 0; i < keys->elements; i++) argv[i + 1] = keys->element[i]->str;
            redisReply *u = cache_conn_command_argv(cache_connection(c), e, (int)keys->elements + 1,
                                                    argv, NULL);
            free(argv);
            if (u == NULL)
                rc = -1;
            else
                freeReplyObject(u);
        }
        freeReplyObject(r);
    } while (rc == 0 && strcmp(cursor, "0") != 0);
    buf_free(&match);
    return rc;
}

int cache_purge(cache_t *c, cache_kind_t k, const char *id, err_t *e)
{
    buf_t tail = BUF_INIT;
    if (id) cache_key_tail(&tail, k, id);
    char hold[24];
    /* Write-behind: the cache is the truth, a hold would hide it. */
    const char *args[3] = {cache_kind_name(k), id ? tail.data : "",
                           cache__ll(hold, sizeof hold, c->behind ? 0 : c->hold_ms)};
    redisReply *r;
    int rc = cache_script_run(c, "purge", 0, NULL, 3, args, NULL, 1, &r, e);
    buf_free(&tail);
    if (rc != 0) return -1;
    rc = r->type == REDIS_REPLY_INTEGER ? (int)r->integer : 0;
    freeReplyObject(r);
    /* A whole type: its entities go too, not only the batches that read it. */
    if (id == NULL && cache__unlink_kind(c, k, e) != 0) rc = -1;
    /* Other workers drop what the purge changed as its invalidations come
     * (the fence makes them sync first); this one starts empty. */
    if (c->l1) cache__l1_inval(c, NULL, 0);
    metrics_fence_bump();
    return rc;
}

int cache_script_call(cache_t *c, arena_t *a, const char *op, int nargs, const char **args,
                      const char **out, err_t *e)
{
    redisReply *r;
    if (cache_script_run(c, op, 0, NULL, nargs, args, NULL, 0, &r, e) != 0) return -1;
    if (r->type == REDIS_REPLY_INTEGER) {
        *out = arena_printf(a, "%lld", r->integer);
    } else if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
        *out = arena_strndup(a, r->str, r->len);
    } else {
        *out = arena_strdup(a, "");
    }
    freeReplyObject(r);
    return 0;
}
