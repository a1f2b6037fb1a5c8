/*
 * cache_int.h — what lib/cache.c, lib/cache_near.c and lib/cache_l1check.c
 * share: the cache_t itself and the internal (cache__) helpers. cache.c
 * calls cache_near.c's; cache_l1check.c calls both; nothing calls back. Not
 * for other modules: they use cache.h.
 */
#ifndef OPONN_CACHE_INT_H
#define OPONN_CACHE_INT_H

#include "cache.h"
#include "cache_inval.h"
#include "cache_l1.h"

struct cache {
    cache_conn_t *conn;
    cache_keys_t keys;
    long long ttl[CACHE__KINDS];
    long long batch_ttl, neg_ttl, lease_ms, lease_wait_ms, hold_ms, queue_max;
    int behind;
    char sha[41]; /* "" until SCRIPT LOAD on this server */
    uint64_t rng;
    cache_hook_fn hook;
    void *hook_ud;
    /* The near cache (cache_l1_enable; NULL: off) and its invalidation link. */
    cache_l1_t *l1;
    cache_inval_t *link;
    buf_t epoch_key;         /* its invalidation empties L1 */
    uint64_t fence_seen;     /* metrics_fence() at the last sync of the link */
    uint64_t l1_bytes_shown; /* the oponn_l1_bytes gauge as last written */
    int l1_state;            /* at the request's start: CACHE_L1_OFF/ON/BYPASS */
    uint64_t req_hits, req_misses;
    /* The epoch the last Redis read saw: an L1 hit reports it as its read's
     * epoch (any epoch read before a fill's MongoDB read is a sound token:
     * an older one only makes the fill more likely refused). */
    buf_t last_epoch;
};

/* lib/cache.c (for lib/cache_l1check.c) */
int cache__str_el(const redisReply *r, size_t i);
/* The JSON of an entity value "epoch|version|n|JSON" when it is of epoch
 * `epoch` and a live record (not negative, not held); else NULL. */
const char *cache__entity_json(arena_t *a, const redisReply *v, const char *epoch);
/* Parses a batch value (cache.lua's value_of) into out->members. */
int cache__batch_value(arena_t *a, const char *v, size_t vlen, cache_batch_t *out, err_t *e);

/* lib/cache_near.c: the L1 side of the reads (see cache.h, "near cache") */
void cache__l1_inval(void *ud, const char *key, size_t klen);
/* The snapshot a fill takes before its Redis read. */
void cache__l1_snap(const cache_t *c, cache_l1_snap_t *snap);
/* Looks the L1 key (tag, key) up when L1 may answer: 1 and *val on a hit.
 * Counts the read as a hit, a miss or a bypass. */
int cache__l1_get(cache_t *c, char tag, const char *key, size_t klen, const char **val,
                  size_t *vlen);
/* An entity answer from L1 (key ek): 1 and *out filled (json in a). */
int cache__l1_entity(cache_t *c, arena_t *a, const buf_t *ek, cache_entry_t *out);
/* A HIT or NEGATIVE answer Redis gave for ek, read after snap, into L1. */
void cache__l1_put_entity(cache_t *c, const cache_l1_snap_t *snap, const buf_t *ek,
                          const cache_entry_t *ce);
/* A batch hit Redis gave (its materialised value v), read after snap, into
 * L1, depending on the batch key (join targets are L1 entities of their
 * own). */
void cache__l1_put_batch(cache_t *c, const cache_l1_snap_t *snap, const buf_t *lk, const char *v,
                         size_t vlen, int exhaustive, const char *bkey);

#endif
