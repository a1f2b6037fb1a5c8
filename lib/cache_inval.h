/*
 * cache_inval.h — the invalidation link: Redis client-side caching for one
 * tracked connection.
 *
 * A second Redis connection (the subscriber) SUBSCRIBEs to
 * __redis__:invalidate; the tracked connection (the worker's cache
 * connection) runs CLIENT TRACKING on REDIRECT <subscriber id>, re-issued
 * after every reconnect of either one (RESP2 is enough; a key read inside
 * EVALSHA is tracked for the script's caller). Redis then reports on the
 * subscriber every key the tracked connection read that anyone changed
 * (written, deleted, expired, evicted; FLUSHALL reports "everything"), and
 * the link hands each one to a callback.
 *
 * Liveness (the lease). cache_inval_drain(), called before each request
 * (at most once a millisecond: cache_inval_tick), reads what arrived
 * without blocking and, now and then, sends a PING
 * without waiting; its PONG, read at a later drain, proves that every
 * invalidation Redis sent before it has been handed over: the link is then
 * "leased" for lease_ms from the PING's sending. cache_inval_sync() does the
 * same with a blocking PING/PONG (a write on this instance just answered:
 * its invalidation was queued before its reply, so before this PONG).
 *
 * Losing it. A subscriber that fails (EOF, error, timeout), or a tracked
 * connection that reconnects or is found dead, calls the callback with key
 * NULL ("forget everything": keys read before were tracked for a connection
 * or a redirect that no longer exists). A reader serves from its near cache
 * only while cache_inval_ready() and cache_inval_leased() hold.
 *
 * Independent of what is cached: lib/cache.c uses it for the worker's L1; a
 * later nginx-side cache may use it for its own. cache_inval_open /
 * cache_inval_close; single-threaded.
 */
#ifndef OPONN_CACHE_INVAL_H
#define OPONN_CACHE_INVAL_H

#include "cache_conn.h"
#include "cfg.h"
#include "err.h"

#include <stdint.h>

typedef struct cache_inval cache_inval_t;

/* key/klen: a Redis key someone changed; key NULL: forget everything. */
typedef void (*cache_inval_fn)(void *ud, const char *key, size_t klen);

/* Makes the link for `tracked` (not connected yet; the caller keeps owning
 * tracked, which must outlive the link) and hooks tracked's connects, so
 * each new connection turns tracking on first. Subscriber timeouts are
 * cfg's Redis ones. Caller frees with cache_inval_close(). */
int cache_inval_open(cache_inval_t **out, const cfg_t *cfg, cache_conn_t *tracked, long lease_ms,
                     cache_inval_fn fn, void *ud, err_t *e);
void cache_inval_close(cache_inval_t *l);

/* Reads the invalidations that arrived, without blocking; (re)connects a
 * lost subscriber (after its back-off) and re-issues tracking; sends a PING
 * when none is outstanding and the last one is older than a quarter of the
 * lease. Finds a tracked connection that Redis closed (EOF waiting on its
 * socket) and drops it. */
void cache_inval_drain(cache_inval_t *l, int64_t now_ms);

/* cache_inval_drain() when CACHE_INVAL_TICK_MS or more passed since the
 * last one: what a busy reader calls before each request. A drain is a
 * system call; at thousands of requests a second per worker, draining once
 * a millisecond costs a fraction of one, and delays what it reads (other
 * instances' writes; this instance's are fenced, cache_inval_sync) by at
 * most that millisecond. */
#define CACHE_INVAL_TICK_MS 1
void cache_inval_tick(cache_inval_t *l, int64_t now_ms);

/* A blocking PING/PONG on the subscriber: every invalidation Redis queued
 * before is handled on return 0. -1 (ERR_UNAVAILABLE): the link failed and
 * was dropped (callback with NULL). */
int cache_inval_sync(cache_inval_t *l, err_t *e);

/* 1 when the subscriber is up and the tracked connection's current
 * connection redirects to it: reads made now are tracked. */
int cache_inval_ready(const cache_inval_t *l);

/* 1 when ready and a PONG answered a PING sent less than lease_ms ago. */
int cache_inval_leased(const cache_inval_t *l, int64_t now_ms);

/* Round trips the caller waited for on the subscriber (connects, syncs). */
uint64_t cache_inval_roundtrips(const cache_inval_t *l);

typedef struct {
    uint64_t keys;    /* keys reported */
    uint64_t flushes; /* "forget everything" calls */
    uint64_t drops;   /* subscriber failures */
} cache_inval_stats_t;
void cache_inval_stats(const cache_inval_t *l, cache_inval_stats_t *out);

#endif
