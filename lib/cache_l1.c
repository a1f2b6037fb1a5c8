/*
 * cache_l1.c — the near cache store (see cache_l1.h).
 *
 * Owns its entries: each is one allocation holding the entry, its
 * dependency nodes, its key, its value and its dependencies' key bytes, so
 * dropping an entry is one free. Two chained hash tables: entries by lookup
 * key, dependency nodes by Redis key (a node links its entry, so an
 * invalidation finds every entry that read the key). An LRU list orders the
 * entries for eviction by bytes.
 */
#include "cache_l1.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_L1__RING 512 /* recent invalidations a fill is checked against */

typedef struct cache_l1__entry cache_l1__entry_t;

typedef struct cache_l1__dep {
    struct cache_l1__dep *next, **pprev; /* chain of the dependency table */
    cache_l1__entry_t *owner;
    uint64_t hash;
    const char *key;
    size_t klen;
} cache_l1__dep_t;

struct cache_l1__entry {
    cache_l1__entry_t *next, **pprev; /* chain of the entry table */
    cache_l1__entry_t *newer, *older; /* LRU list */
    uint64_t hash;
    int64_t born_ms;
    size_t klen, vlen, size, ndeps;
    const char *key, *val;
    cache_l1__dep_t deps[];
};

struct cache_l1 {
    size_t max_bytes;
    int64_t max_age_ms;
    cache_l1__entry_t **tab; /* entries by key */
    size_t tab_n;            /* buckets, a power of two */
    cache_l1__dep_t **dtab;  /* dependency nodes by Redis key */
    size_t dtab_n, ndeps;
    cache_l1__entry_t *newest, *oldest;
    uint64_t seq, ring[CACHE_L1__RING];
    cache_l1_stats_t st;
};

static uint64_t cache_l1__hash(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

int64_t cache_l1_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

cache_l1_t *cache_l1_new(size_t max_bytes, int64_t max_age_ms)
{
    if (max_bytes == 0) return NULL;
    cache_l1_t *l = calloc(1, sizeof *l);
    if (l == NULL) abort();
    l->max_bytes = max_bytes;
    l->max_age_ms = max_age_ms;
    l->tab_n = l->dtab_n = 64;
    l->tab = calloc(l->tab_n, sizeof *l->tab);
    l->dtab = calloc(l->dtab_n, sizeof *l->dtab);
    if (l->tab == NULL || l->dtab == NULL) abort();
    return l;
}

/* Unlinks e from both tables and the LRU list and frees it. */
static void cache_l1__drop(cache_l1_t *l, cache_l1__entry_t *e)
{
    if ((*e->pprev = e->next) != NULL) e->next->pprev = e->pprev;
    for (size_t i = 0; i < e->ndeps; i++) {
        cache_l1__dep_t *d = &e->deps[i];
        if ((*d->pprev = d->next) != NULL) d->next->pprev = d->pprev;
    }
    l->ndeps -= e->ndeps;
    if (e->newer)
        e->newer->older = e->older;
    else
        l->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        l->oldest = e->newer;
    l->st.bytes -= e->size;
    l->st.entries--;
    free(e);
}

void cache_l1_flush(cache_l1_t *l)
{
    if (l == NULL) return;
    while (l->oldest) cache_l1__drop(l, l->oldest);
    l->st.flushes++;
}

void cache_l1_free(cache_l1_t *l)
{
    if (l == NULL) return;
    cache_l1_flush(l);
    free(l->tab);
    free(l->dtab);
    free(l);
}

void cache_l1_snapshot(const cache_l1_t *l, int64_t now_ms, cache_l1_snap_t *out)
{
    out->seq = l ? l->seq : 0;
    out->flushes = l ? l->st.flushes : 0;
    out->ms = now_ms;
}

static cache_l1__entry_t *cache_l1__find(const cache_l1_t *l, const char *key, size_t klen,
                                         uint64_t h)
{
    for (cache_l1__entry_t *e = l->tab[h & (l->tab_n - 1)]; e; e = e->next) {
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0) return e;
    }
    return NULL;
}

int cache_l1_get(cache_l1_t *l, const char *key, size_t klen, int64_t now_ms, const char **val,
                 size_t *vlen)
{
    cache_l1__entry_t *e = cache_l1__find(l, key, klen, cache_l1__hash(key, klen));
    if (e && now_ms - e->born_ms > l->max_age_ms) {
        cache_l1__drop(l, e);
        l->st.expired++;
        e = NULL;
    }
    if (e == NULL) {
        l->st.misses++;
        return 0;
    }
    if (e != l->newest) { /* move to the front of the LRU list */
        e->newer->older = e->older;
        if (e->older)
            e->older->newer = e->newer;
        else
            l->oldest = e->newer;
        e->newer = NULL;
        e->older = l->newest;
        l->newest->newer = e;
        l->newest = e;
    }
    l->st.hits++;
    *val = e->val;
    *vlen = e->vlen;
    return 1;
}

/* Doubles a chained table whose load passed 1 (pprev links re-threaded). */
static void cache_l1__grow_entries(cache_l1_t *l)
{
    size_t n = l->tab_n * 2;
    cache_l1__entry_t **t = calloc(n, sizeof *t);
    if (t == NULL) abort();
    for (size_t i = 0; i < l->tab_n; i++) {
        cache_l1__entry_t *e = l->tab[i];
        while (e) {
            cache_l1__entry_t *next = e->next;
            cache_l1__entry_t **b = &t[e->hash & (n - 1)];
            if ((e->next = *b) != NULL) e->next->pprev = &e->next;
            *b = e;
            e->pprev = b;
            e = next;
        }
    }
    free(l->tab);
    l->tab = t;
    l->tab_n = n;
}

static void cache_l1__grow_deps(cache_l1_t *l)
{
    size_t n = l->dtab_n * 2;
    cache_l1__dep_t **t = calloc(n, sizeof *t);
    if (t == NULL) abort();
    for (size_t i = 0; i < l->dtab_n; i++) {
        cache_l1__dep_t *d = l->dtab[i];
        while (d) {
            cache_l1__dep_t *next = d->next;
            cache_l1__dep_t **b = &t[d->hash & (n - 1)];
            if ((d->next = *b) != NULL) d->next->pprev = &d->next;
            *b = d;
            d->pprev = b;
            d = next;
        }
    }
    free(l->dtab);
    l->dtab = t;
    l->dtab_n = n;
}

/* 1 when a dependency (hashes dh[0..n)) was invalidated since snap, or
 * when the snapshot is too old to tell. */
static int cache_l1__raced(const cache_l1_t *l, const cache_l1_snap_t *snap, const uint64_t *dh,
                           size_t n)
{
    if (snap->flushes != l->st.flushes || snap->seq > l->seq) return 1;
    if (l->seq - snap->seq > CACHE_L1__RING) return 1;
    for (uint64_t s = snap->seq + 1; s <= l->seq; s++) {
        uint64_t h = l->ring[s % CACHE_L1__RING];
        for (size_t i = 0; i < n; i++) {
            if (dh[i] == h) return 1;
        }
    }
    return 0;
}

int cache_l1_put(cache_l1_t *l, const cache_l1_snap_t *snap, const char *key, size_t klen,
                 const char *val, size_t vlen, const char *const *deps, const size_t *dlens,
                 size_t ndeps)
{
    size_t size = sizeof(cache_l1__entry_t) + ndeps * sizeof(cache_l1__dep_t) + klen + vlen;
    for (size_t i = 0; i < ndeps; i++) size += dlens[i];
    uint64_t dh_small[16];
    uint64_t *dh = ndeps <= 16 ? dh_small : malloc(ndeps * sizeof *dh);
    if (dh == NULL) abort();
    for (size_t i = 0; i < ndeps; i++) dh[i] = cache_l1__hash(deps[i], dlens[i]);
    int refuse = size > l->max_bytes / 4 || cache_l1__raced(l, snap, dh, ndeps) ||
                 cache_l1_now_ms() - snap->ms > l->max_age_ms;
    if (refuse) {
        if (dh != dh_small) free(dh);
        l->st.refused++;
        return 0;
    }
    uint64_t h = cache_l1__hash(key, klen);
    cache_l1__entry_t *old = cache_l1__find(l, key, klen, h);
    if (old) cache_l1__drop(l, old);
    while (l->oldest && l->st.bytes + size > l->max_bytes) {
        cache_l1__drop(l, l->oldest);
        l->st.evicted++;
    }
    cache_l1__entry_t *e = malloc(size);
    if (e == NULL) abort();
    char *p = (char *)&e->deps[ndeps];
    memcpy(p, key, klen);
    e->key = p;
    p += klen;
    memcpy(p, val, vlen);
    e->val = p;
    p += vlen;
    e->hash = h;
    e->born_ms = snap->ms;
    e->klen = klen;
    e->vlen = vlen;
    e->size = size;
    e->ndeps = ndeps;
    for (size_t i = 0; i < ndeps; i++) {
        cache_l1__dep_t *d = &e->deps[i];
        memcpy(p, deps[i], dlens[i]);
        d->key = p;
        d->klen = dlens[i];
        p += dlens[i];
        d->hash = dh[i];
        d->owner = e;
        cache_l1__dep_t **b = &l->dtab[d->hash & (l->dtab_n - 1)];
        if ((d->next = *b) != NULL) d->next->pprev = &d->next;
        *b = d;
        d->pprev = b;
    }
    if (dh != dh_small) free(dh);
    l->ndeps += ndeps;
    cache_l1__entry_t **b = &l->tab[h & (l->tab_n - 1)];
    if ((e->next = *b) != NULL) e->next->pprev = &e->next;
    *b = e;
    e->pprev = b;
    e->older = l->newest;
    e->newer = NULL;
    if (l->newest)
        l->newest->newer = e;
    else
        l->oldest = e;
    l->newest = e;
    l->st.bytes += size;
    l->st.entries++;
    if (l->st.entries > l->tab_n) cache_l1__grow_entries(l);
    if (l->ndeps > l->dtab_n) cache_l1__grow_deps(l);
    return 1;
}

size_t cache_l1_invalidate(cache_l1_t *l, const char *key, size_t klen)
{
    uint64_t h = cache_l1__hash(key, klen);
    l->seq++;
    l->ring[l->seq % CACHE_L1__RING] = h;
    size_t n = 0;
    cache_l1__dep_t *d = l->dtab[h & (l->dtab_n - 1)];
    while (d) {
        if (d->hash == h && d->klen == klen && memcmp(d->key, key, klen) == 0) {
            /* Dropping the owner unlinks its nodes, maybe d->next too:
             * restart the chain. */
            cache_l1__drop(l, d->owner);
            n++;
            d = l->dtab[h & (l->dtab_n - 1)];
            continue;
        }
        d = d->next;
    }
    l->st.invalidations += n;
    return n;
}

void cache_l1_stats(const cache_l1_t *l, cache_l1_stats_t *out)
{
    if (l == NULL) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = l->st;
}

void cache_l1_each(const cache_l1_t *l, cache_l1_each_fn fn, void *ud)
{
    for (const cache_l1__entry_t *e = l->newest; e; e = e->older) {
        fn(ud, e->key, e->klen, e->val, e->vlen);
    }
}
