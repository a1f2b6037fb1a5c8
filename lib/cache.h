/*
 * cache.h — the Redis cache in front of MongoDB: what the repositories call.
 *
 * One cache_t per worker process (after fork), owning its Redis connection
 * (cache_conn). Every call is one Redis round trip (a lease wait on a hot
 * miss adds a few), and every write goes through lib/cache_lua/cache.lua by
 * EVALSHA, so it is atomic and never replaces a newer version with an older.
 *
 * Entities are (kind, id) -> the entity's JSON text, which carries "id" and
 * "version" (the caller passes the version too). Values are tagged with the
 * cache epoch: when a write could not reach Redis (outage, timeout), this
 * process starts a new epoch on its next successful call, and nothing cached
 * before it is served again.
 *
 * Redis down: every call returns -1 with ERR_UNAVAILABLE at once (the
 * connection backs off); the caller goes to MongoDB. In write-through mode a
 * failed cache_put/cache_delete is recorded (the epoch is bumped later), so
 * the caller may ignore that error: MongoDB already has the write. In
 * write-behind mode the error means the write was NOT accepted: fail the
 * mutation with UNAVAILABLE.
 *
 * Read-through (a repository's get by id):
 *
 *     cache_entry_t ce;
 *     if (cache_get(c, arena, CACHE_BOOKS, id, &ce, &e) == 0) {
 *         if (ce.status == CACHE_HIT) return parse(ce.json);       // 0 MongoDB
 *         if (ce.status == CACHE_NEGATIVE) return NOT_FOUND;
 *     }                                     // else: miss, or Redis down
 *     doc = mongo_find(id);                 // 1 MongoDB command
 *     if (ce.lease[0]) cache_fill(c, CACHE_BOOKS, id, &ce, doc ? json : NULL, version, &e);
 *
 * Write-through: update MongoDB (version N+1); then
 *     cache_put(c, CACHE_BOOKS, id, N + 1, json, NULL, &e);   // entity + every batch
 * Delete: cache_delete(c, kind, id, version_of_the_delete, NULL, &e).
 *
 * Batches (cache_query.h declares them):
 *
 *     cache_batch_t b;
 *     if (cache_batch_get(c, arena, "fruitBySize", "{\"size\":5,\"limit\":10}", &b, &e) == 0
 *         && b.status == CACHE_HIT) {
 *         // b.members in order; those with json == NULL (and joins with
 *         // join_json == NULL) are fetched from MongoDB in ONE query ($in),
 *         // then cache_fill_docs(c, b.epoch, ...); unknown ones are skipped.
 *     } else {
 *         // query MongoDB with limit+1 (when b.query.limit >= 0), then
 *         cache_batch_fill(c, &b, docs, n_first_limit_docs, got_more ? 0 : 1, &e);
 *     }
 */
#ifndef OPONN_CACHE_H
#define OPONN_CACHE_H

#include "arena.h"
#include "cache_conn.h"
#include "cache_key.h"
#include "cache_query.h"
#include "cfg.h"
#include "err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cache cache_t;

/* Reads the cache knobs of cfg (prefix, TTLs, lease, write mode, queue) and
 * makes the connection (not connected yet). Caller frees with cache_close(). */
int cache_open(cache_t **out, const cfg_t *cfg, err_t *e);
void cache_close(cache_t *c);

/* The connection (round trips for X-Oponn-Debug, PING for /healthz). */
cache_conn_t *cache_connection(cache_t *c);
const cache_keys_t *cache_keys(const cache_t *c);
/* 1 when OPONN_WRITE_MODE=behind. */
int cache_write_behind(const cache_t *c);

/* ------------------------------------------------------------- entities */

typedef enum { CACHE_HIT, CACHE_NEGATIVE, CACHE_MISS } cache_status_t;

typedef struct {
    cache_status_t status;
    const char *json;  /* HIT: the entity JSON, in the caller's arena */
    char lease[40];    /* MISS: non-empty when this caller holds the fill lease */
    const char *epoch; /* cache_get_many: the epoch it read (cache_fill_docs' token) */
} cache_entry_t;

/* Looks (kind, id) up. On a miss the first caller gets the lease; others
 * wait up to OPONN_CACHE_LEASE_WAIT_MS for its fill, then get MISS without a
 * lease (read MongoDB, do not fill). -1: ERR_UNAVAILABLE (Redis down) or
 * ERR_BAD_INPUT (empty id); out->status is MISS then. */
int cache_get(cache_t *c, arena_t *a, cache_kind_t k, const char *id, cache_entry_t *out, err_t *e);

/* Fills the cache after a miss with what MongoDB returned: json NULL (and
 * version 0) caches a short negative entry. Returns 1 stored, 0 refused (the
 * lease is gone or stale, or something as new is cached: correct either
 * way), -1 error. */
int cache_fill(cache_t *c, cache_kind_t k, const char *id, const cache_entry_t *miss,
               const char *json, int64_t version, err_t *e);

/* Looks up n ids of one kind in ONE round trip (no leases: fill what
 * MongoDB returns with cache_fill_docs, which is version guarded). out[i]
 * answers ids[i]: HIT (json in the arena), NEGATIVE or MISS. -1:
 * ERR_UNAVAILABLE (Redis down) or ERR_BAD_INPUT (an empty id); every entry
 * is MISS then. */
int cache_get_many(cache_t *c, arena_t *a, cache_kind_t k, const char *const *ids, size_t n,
                   cache_entry_t *out, err_t *e);

typedef struct {
    cache_kind_t kind;
    const char *id;
    int64_t version;
    const char *json;
} cache_doc_t;

/* Stores documents read from MongoDB without a lease (members of a cached
 * batch that were missing, misses of cache_get_many), each only if nothing
 * as new is cached, and none if the cache epoch is no longer `epoch`, the
 * one the read before the MongoDB query saw (cache_entry_t.epoch of
 * cache_get_many, cache_batch_t.epoch): a write-through write whose cache
 * call failed in between started a new epoch, and what was read before it
 * must not be cached in it. A doc with json NULL (version 0) caches a short
 * negative entry: MongoDB has no such id. Returns how many were stored, or
 * -1. */
int cache_fill_docs(cache_t *c, const char *epoch, const cache_doc_t *docs, size_t n, err_t *e);

/* What one write did to the cached batches. */
typedef struct {
    int patched;  /* member still matches (updated in place / re-positioned) */
    int inserted; /* now matches: inserted in sort position */
    int removed;  /* no longer matches: removed */
    int dropped;  /* could not be patched exactly: dropped (refilled on read) */
    int visited;  /* cached batches the write looked at: those it could change
                     (docs/cache.md, "Which batches a write visits") */
} cache_reconcile_t;

/* A write of (kind, id) at `version` with its new JSON: sets the entity and
 * reconciles every cached batch of the kind it could change (the batches
 * that may hold the record or that its new version may enter), in ONE
 * script call. Also
 * cancels outstanding leases. In write-behind mode it also enqueues the
 * write for oponn-writer (same call). Returns 1 done (also when this very
 * version is cached already: a fill may have brought it, and the batches
 * still need this reconciliation), 0 refused as stale (a newer version is
 * cached; its own put reconciles), -1 error (ERR_UNAVAILABLE: Redis down, or the
 * write-behind queue is full). rc may be NULL. */
int cache_put(cache_t *c, cache_kind_t k, const char *id, int64_t version, const char *json,
              cache_reconcile_t *rc, err_t *e);

/* A delete: a tombstone (negative entry at `version`, which should be the
 * deleted record's version + 1; 0 = unknown: blocks every fill until the
 * tombstone expires) and the record leaves every batch. Same returns. */
int cache_delete(cache_t *c, cache_kind_t k, const char *id, int64_t version, cache_reconcile_t *rc,
                 err_t *e);

/* -------------------------------------------------------------- batches */

typedef struct {
    cache_kind_t kind;
    const char *id;
    const char *json; /* NULL: not in the entity cache: fetch from MongoDB */
    int has_join;     /* the declaration joins and the member names a target */
    cache_kind_t join_kind;
    const char *join_id;
    const char *join_json; /* NULL: fetch */
} cache_member_t;

typedef struct {
    cache_status_t status;   /* CACHE_HIT or CACHE_MISS */
    cache_query_t query;     /* normalized query (limit: -1 unlimited) */
    cache_member_t *members; /* HIT: in order (arena) */
    size_t n;
    int exhaustive;    /* HIT: every matching record is a member */
    const char *epoch; /* the epoch read ("" none): cache_fill_docs' token */
    const char *token; /* MISS: fill token (the epoch and table write counters) */
} cache_batch_t;

/* Reads a cached batch with plain commands, no script: HMGET of the
 * batch's materialised value and MGET of the epoch and table write counters
 * in one round trip (a declaration with a join: one more, an MGET of the
 * distinct join targets). query is a declared name,
 * args_json its arguments. -1: ERR_BAD_INPUT (bad arguments), ERR_UNAVAILABLE
 * (Redis down: out->query is still filled, so the caller can run it). */
int cache_batch_get(cache_t *c, arena_t *a, const char *query, const char *args_json,
                    cache_batch_t *out, err_t *e);

/* The member counts of n cached batches of one declared query (args_json[i]
 * their arguments) in ONE round trip, without reading their members:
 * counts[i] = the count when batch i is cached and exhaustive, else -1 (read
 * it with cache_batch_get, which also fills it). -1: ERR_BAD_INPUT (bad
 * arguments) or ERR_UNAVAILABLE; every count is -1 then. */
int cache_batch_counts(cache_t *c, arena_t *a, const char *query, const char *const *args_json,
                       size_t n, int64_t *counts, err_t *e);

/* One member of a batch's materialised value (cache.lua's value_of:
 * "\1" tail "\2" JSON "\2" join tail, per member). */
typedef struct {
    const char *tail, *json, *join;
    size_t tail_len, json_len, join_len;
} cache_value_member_t;

/* The next member of a batch value at *p: 1 and *m set; 0 at the end; -1
 * malformed. For cache verify. */
int cache_batch_value_next(const char **p, const char *end, cache_value_member_t *m);

/* Caches MongoDB's answer to a missed batch: docs in MongoDB's order (at
 * most limit of them), exhaustive = 1 when MongoDB has no further matching
 * record (ask for limit+1 to know). The member entities are stored too.
 * Returns 1 stored, 0 refused (a write raced the read: the next read
 * refills), -1 error. */
int cache_batch_fill(cache_t *c, const cache_batch_t *miss, const cache_doc_t *docs, size_t n,
                     int exhaustive, err_t *e);

/* cache_batch_fill, and stores `extra` entities read with the batch (a
 * join's targets: bookstoresForBooks' bookstores) in the same script call,
 * each only if nothing as new is cached. */
int cache_batch_fill_ex(cache_t *c, const cache_batch_t *miss, const cache_doc_t *docs, size_t n,
                        int exhaustive, const cache_doc_t *extra, size_t nextra, err_t *e);

/* ------------------------------------------------------ near cache (L1) */

/* Turns on the worker's near cache (OPONN_L1_BYTES; 0 leaves it off): a
 * bounded LRU of the entity and batch answers Redis gave, kept coherent by
 * an invalidation link (lib/cache_inval.h) and served only while that link
 * is proven alive (OPONN_L1_LEASE_MS) and synced since the last cache write
 * of this instance (metrics_fence). Only the FastCGI worker calls it; the
 * CLI and the writer read Redis directly. -1: the link could not be made
 * (L1 stays off, the cache works). */
int cache_l1_enable(cache_t *c, const cfg_t *cfg, err_t *e);

typedef enum { CACHE_L1_OFF, CACHE_L1_ON, CACHE_L1_BYPASS } cache_l1_state_t;

/* Before each request: reads pending invalidations without blocking, and
 * decides whether L1 may answer (a blocking PING/PONG when this instance
 * wrote since the last sync or the lease ran out). */
void cache_request_begin(cache_t *c);

typedef struct {
    uint64_t hits, misses; /* cache reads answered by L1 / not, this request */
    const char *state;     /* "on", "bypass" or "off" at the request's start */
} cache_l1_req_t;
void cache_request_l1(const cache_t *c, cache_l1_req_t *out);

/* cache verify of this worker's L1: after syncing its invalidation link,
 * compares every entry with what Redis holds now (an entity's value, a
 * batch's exhaustiveness, value and join targets) and reports each
 * mismatch as a "MISMATCH L1 ..." line. -1: Redis or the link failed. */
typedef void (*cache_l1_report_fn)(void *ud, const char *line);
int cache_l1_check(cache_t *c, cache_l1_report_fn fn, void *ud, long *entries, long *mismatches,
                   err_t *e);

/* Round trips waited for on Redis: the cache connection and the
 * invalidation link (X-Oponn-Debug). */
uint64_t cache_roundtrips(const cache_t *c);

/* ------------------------------------------------------ admin and tests */

/* Drops a record (id given) or a whole kind (id NULL) from the cache and
 * every cached batch of that kind (`oponn cache purge`, and a write-through
 * write whose outcome is unknown). In write-through a purged record is held
 * for OPONN_CACHE_HOLD_MS: read from MongoDB, never filled (a fill that read
 * the old version before the purge would otherwise store it), a write on it
 * drops its table's batches. Returns batches dropped, or -1. */
int cache_purge(cache_t *c, cache_kind_t k, const char *id, err_t *e);

/* Runs a raw operation of cache.lua (tests only: "esc", "match", "member",
 * "decide"); returns the reply as a string in the arena. */
int cache_script_call(cache_t *c, arena_t *a, const char *op, int nargs, const char **args,
                      const char **out, err_t *e);

/* A test pause point: fn is called just before cache_fill / cache_batch_fill
 * send their script (point "fill" / "batch_fill"), so a test can run a
 * competing writer exactly there. NULL (the default) disables it. */
typedef void (*cache_hook_fn)(void *ud, const char *point, cache_kind_t k, const char *id);
void cache_set_hook(cache_t *c, cache_hook_fn fn, void *ud);

/* When a write could not reach Redis (dirty), starts the new epoch now: one
 * round trip, connecting at once even during the connection's back-off.
 * Write-through callers use it right after a failed cache_put/cache_delete,
 * so other workers stop serving the old value before the mutation answers
 * (if Redis is really down, it fails fast and the bump waits). 0 when clean. */
int cache_sync(cache_t *c, err_t *e);

/* /healthz: one small write through cache.lua (so it also starts the new
 * epoch when the cache is distrusted, like cache_sync). 0 when Redis is up
 * and takes writes; -1 with ERR_UNAVAILABLE and Redis's own reason ("Redis
 * refuses writes (MISCONF ...)") when it answers but refuses them. */
int cache_probe(cache_t *c, err_t *e);

/* Marks the cache as possibly stale (as after a failed write), so the next
 * successful call starts a new epoch. Pool-wide: every worker sharing the
 * metrics page (metrics.h) distrusts the cache until then. Exposed for tests
 * and callers that skipped the cache on a write. */
void cache_mark_dirty(cache_t *c);

/* Runs operation `op` of cache.lua: keys after P:epoch, then args (alens
 * may be NULL for C strings). is_write: a failure marks the cache dirty.
 * For cache_queue.c and the admin CLI. *reply is freed by the caller with
 * freeReplyObject(); a Redis error reply is turned into -1 (ERR_INTERNAL). */
int cache_script_run(cache_t *c, const char *op, int nkeys, const char **keys, int nargs,
                     const char **args, const size_t *alens, int is_write, redisReply **reply,
                     err_t *e);

#endif
