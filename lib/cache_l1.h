/*
 * cache_l1.h — the worker's near cache (L1): a bounded, LRU map of byte
 * strings, each depending on a few Redis keys.
 *
 * Knows nothing of Redis or of what the values mean: lib/cache.c stores the
 * answers Redis gave (entity reads, batch reads) under a lookup key, with
 * the Redis keys each answer was read from as its dependencies, and calls
 * cache_l1_invalidate() for every key the invalidation link reports
 * (lib/cache_inval.h). An entry goes when any key it depends on is
 * invalidated, when it is older than max_age_ms, when the LRU needs its
 * bytes, or on cache_l1_flush().
 *
 * The fill race. A value read from Redis before a write, stored in L1 after
 * that write's invalidation was processed, would stay stale. So a fill
 * carries a snapshot taken BEFORE its Redis read, and cache_l1_put refuses it
 * when, since the snapshot, one of its dependencies was invalidated or the
 * store was flushed (the recent invalidations are remembered in a ring; a
 * snapshot older than the ring is refused too).
 *
 * One store per worker process, single-threaded. cache_l1_new / cache_l1_free.
 */
#ifndef OPONN_CACHE_L1_H
#define OPONN_CACHE_L1_H

#include <stddef.h>
#include <stdint.h>

typedef struct cache_l1 cache_l1_t;

typedef struct {
    uint64_t seq;     /* invalidations processed */
    uint64_t flushes; /* cache_l1_flush calls */
    int64_t ms;       /* when (the entry's age counts from here) */
} cache_l1_snap_t;

typedef struct {
    uint64_t hits, misses, invalidations, flushes, refused, evicted, expired;
    size_t bytes, entries;
} cache_l1_stats_t;

/* max_bytes bounds the memory of the entries (their bookkeeping included);
 * max_age_ms: no entry is served older than this. NULL when max_bytes is 0. */
cache_l1_t *cache_l1_new(size_t max_bytes, int64_t max_age_ms);
void cache_l1_free(cache_l1_t *l);

/* The snapshot a fill needs, taken before its Redis read; now_ms is a
 * monotonic clock (cache_l1_now_ms). */
void cache_l1_snapshot(const cache_l1_t *l, int64_t now_ms, cache_l1_snap_t *out);
int64_t cache_l1_now_ms(void);

/* Looks key up: 1 and the value in *val and *vlen (valid until the next call that changes
 * the store) when present and younger than the max age, else 0. A hit makes
 * the entry the most recently used. */
int cache_l1_get(cache_l1_t *l, const char *key, size_t klen, int64_t now_ms, const char **val,
                 size_t *vlen);

/* Stores a copy of (key, val) depending on deps[0..ndeps) (copied too).
 * Returns 1 stored, 0 refused: the snapshot is stale (see above), or the
 * entry alone is larger than a quarter of the store. Replaces an entry of
 * the same key. */
int cache_l1_put(cache_l1_t *l, const cache_l1_snap_t *snap, const char *key, size_t klen,
                 const char *val, size_t vlen, const char *const *deps, const size_t *dlens,
                 size_t ndeps);

/* Drops every entry that depends on key, and remembers the invalidation so
 * that a fill whose snapshot predates it is refused. Returns entries
 * dropped. */
size_t cache_l1_invalidate(cache_l1_t *l, const char *key, size_t klen);

/* Drops every entry; every fill snapshotted before is refused. */
void cache_l1_flush(cache_l1_t *l);

void cache_l1_stats(const cache_l1_t *l, cache_l1_stats_t *out);

/* Calls fn for every entry (cache verify); fn must not change the store. */
typedef void (*cache_l1_each_fn)(void *ud, const char *key, size_t klen, const char *val,
                                 size_t vlen);
void cache_l1_each(const cache_l1_t *l, cache_l1_each_fn fn, void *ud);

#endif
