/*
 * cache_near.c — the worker's near cache (L1) inside the cache's reads: the
 * store (lib/cache_l1.h) filled with what Redis answered, its invalidation
 * link (lib/cache_inval.h), the rule for when L1 may answer, and its verify.
 * docs/cache.md, "The near cache in each worker", says why each rule is.
 */
#include "cache_int.h"

#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An invalidation reported by the link: the epoch key (a new epoch) or
 * "everything" (key NULL) empties L1, any other key drops what read it. */
void cache__l1_inval(void *ud, const char *key, size_t klen)
{
    cache_t *c = ud;
    if (key == NULL || (klen == c->epoch_key.len && memcmp(key, c->epoch_key.data, klen) == 0)) {
        cache_l1_stats_t st;
        cache_l1_stats(c->l1, &st);
        cache_l1_flush(c->l1);
        if (st.entries) metrics_inc(METRIC_L1_FLUSHES);
        return;
    }
    size_t n = cache_l1_invalidate(c->l1, key, klen);
    if (n) metrics_add(METRIC_L1_INVALIDATIONS, n);
}

int cache_l1_enable(cache_t *c, const cfg_t *cfg, err_t *e)
{
    if (cfg->l1_bytes == 0 || c->l1) return 0;
    cache_key_fixed(&c->keys, &c->epoch_key, "epoch");
    c->l1 = cache_l1_new((size_t)cfg->l1_bytes, cfg->l1_max_age_ms);
    c->l1_bytes_shown = UINT64_MAX; /* the first request writes the gauge (and its pid) */
    if (cache_inval_open(&c->link, cfg, c->conn, cfg->l1_lease_ms, cache__l1_inval, c, e) != 0) {
        cache_l1_free(c->l1);
        c->l1 = NULL;
        return err_wrap(e, "L1 off: its invalidation link");
    }
    return 0;
}

/* 1 when L1 may answer now: trusted cache, link ready, and proven alive
 * since the last write of this instance (the fence) and within the lease.
 * May block on one PING/PONG. */
static int cache__l1_usable(cache_t *c)
{
    if (metrics_cache_distrusted(NULL)) {
        cache__l1_inval(c, NULL, 0);
        return 0;
    }
    if (!cache_inval_ready(c->link)) return 0;
    uint64_t fence = metrics_fence();
    int64_t now = cache_l1_now_ms();
    if (fence != c->fence_seen || !cache_inval_leased(c->link, now)) {
        err_t e = {0};
        if (cache_inval_sync(c->link, &e) != 0) return 0;
        c->fence_seen = fence; /* read before the sync: a later write moves it again */
    }
    return cache_inval_leased(c->link, cache_l1_now_ms());
}

void cache_request_begin(cache_t *c)
{
    c->req_hits = c->req_misses = 0;
    if (c->l1 == NULL) {
        c->l1_state = CACHE_L1_OFF;
        return;
    }
    cache_inval_tick(c->link, cache_l1_now_ms());
    /* No sync here: a mutation, or a request L1 cannot answer, would pay
     * its round trip for nothing. The first L1 lookup syncs when needed. */
    int on = cache_inval_ready(c->link) && !metrics_cache_distrusted(NULL);
    c->l1_state = on ? CACHE_L1_ON : CACHE_L1_BYPASS;
    cache_l1_stats_t st;
    cache_l1_stats(c->l1, &st);
    if (st.bytes != c->l1_bytes_shown) { /* the gauge is shared memory: write on change */
        metrics_l1_bytes(st.bytes);
        c->l1_bytes_shown = st.bytes;
    }
}

void cache_request_l1(const cache_t *c, cache_l1_req_t *out)
{
    static const char *const names[] = {"off", "on", "bypass"};
    out->hits = c->req_hits;
    out->misses = c->req_misses;
    out->state = names[c->l1_state];
}

uint64_t cache_roundtrips(const cache_t *c)
{
    return cache_conn_roundtrips(c->conn) + cache_inval_roundtrips(c->link);
}

/* Looks the L1 key (tag, key) up when L1 may answer: 1 and *val on a hit.
 * Counts the read as a hit, a miss or a bypass. */
int cache__l1_get(cache_t *c, char tag, const char *key, size_t klen, const char **val,
                  size_t *vlen)
{
    if (c->l1 == NULL) return 0;
    if (!cache__l1_usable(c)) {
        metrics_inc(METRIC_L1_LEASE_BYPASSES);
        return 0;
    }
    char small[256];
    char *k = klen + 1 <= sizeof small ? small : malloc(klen + 1);
    if (k == NULL) abort();
    k[0] = tag;
    memcpy(k + 1, key, klen);
    int hit = cache_l1_get(c->l1, k, klen + 1, cache_l1_now_ms(), val, vlen);
    if (k != small) free(k);
    if (hit) {
        c->req_hits++;
        metrics_inc(METRIC_L1_HITS);
    } else {
        c->req_misses++;
        metrics_inc(METRIC_L1_MISSES);
    }
    return hit;
}

/* The snapshot a fill takes before its Redis read. */
void cache__l1_snap(const cache_t *c, cache_l1_snap_t *snap)
{
    cache_l1_snapshot(c->l1, cache_l1_now_ms(), snap);
}

/* Stores what Redis answered, read after snap, under (tag, key), depending
 * on deps: only while the link tracks the connection that read it. */
static void cache__l1_put(cache_t *c, const cache_l1_snap_t *snap, char tag, const char *key,
                          size_t klen, const char *val, size_t vlen, const char *const *deps,
                          const size_t *dlens, size_t ndeps)
{
    if (c->l1 == NULL || !cache_inval_ready(c->link) || metrics_cache_distrusted(NULL)) return;
    char small[256];
    char *k = klen + 1 <= sizeof small ? small : malloc(klen + 1);
    if (k == NULL) abort();
    k[0] = tag;
    memcpy(k + 1, key, klen);
    cache_l1_put(c->l1, snap, k, klen + 1, val, vlen, deps, dlens, ndeps);
    if (k != small) free(k);
}

/* An entity answer into L1: "h" JSON or "n" (negative). */
void cache__l1_put_entity(cache_t *c, const cache_l1_snap_t *snap, const buf_t *ek,
                          const cache_entry_t *ce)
{
    if (c->l1 == NULL || ce->status == CACHE_MISS) return;
    buf_t v = BUF_INIT;
    buf_putc(&v, ce->status == CACHE_HIT ? 'h' : 'n');
    if (ce->status == CACHE_HIT) buf_puts(&v, ce->json);
    const char *deps[1] = {ek->data};
    size_t dlens[1] = {ek->len};
    cache__l1_put(c, snap, 'e', ek->data, ek->len, v.data, v.len, deps, dlens, 1);
    buf_free(&v);
}

/* An entity answer from L1 (key ek): 1 and *out filled. */
int cache__l1_entity(cache_t *c, arena_t *a, const buf_t *ek, cache_entry_t *out)
{
    const char *v;
    size_t vlen;
    if (!cache__l1_get(c, 'e', ek->data, ek->len, &v, &vlen)) return 0;
    if (vlen >= 1 && v[0] == 'h') {
        out->status = CACHE_HIT;
        out->json = arena_strndup(a, v + 1, vlen - 1);
    } else {
        out->status = CACHE_NEGATIVE;
    }
    return 1;
}

/* -------------------------------------------------------------- batches */

/* A batch answer in L1: "x" exhaustive, the materialised value's length and
 * bytes; it depends on the batch key only. Its join targets are not copied
 * in: they are L1 entities of their own (cache__batch_joins), so a store
 * held once serves every list that joins it, and a list entry is about the
 * size of its value (1,000 lists of 100 books fit the default L1 nearly
 * whole, where copies of their stores did not). */
void cache__l1_put_batch(cache_t *c, const cache_l1_snap_t *snap, const buf_t *lk, const char *v,
                         size_t vlen, int exhaustive, const char *bkey)
{
    if (c->l1 == NULL || vlen > UINT32_MAX) return;
    buf_t val = BUF_INIT;
    buf_putc(&val, exhaustive ? '1' : '0');
    uint32_t len = (uint32_t)vlen;
    buf_append(&val, (const char *)&len, sizeof len);
    buf_append(&val, v, vlen);
    const char *deps[1] = {bkey};
    size_t dlens[1] = {strlen(bkey)};
    cache__l1_put(c, snap, 'b', lk->data, lk->len, val.data, val.len, deps, dlens, 1);
    buf_free(&val);
}
