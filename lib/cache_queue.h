/*
 * cache_queue.h — the write-behind queue (OPONN_WRITE_MODE=behind).
 *
 * In write-behind mode cache_put / cache_delete append each write to the
 * Redis Stream P:queue in the same script call that updates the cache, and
 * the mutation answers at once. A writer process (fcgi/oponn-writer.c) reads
 * the stream with the consumer group "writers" and applies each write to
 * MongoDB through a callback the data layer provides, then acknowledges and
 * deletes it (so XLEN is the backlog and nothing acknowledged is ever
 * trimmed: when the backlog reaches OPONN_QUEUE_MAX, writes are refused with
 * UNAVAILABLE instead).
 *
 * Delivery is at-least-once: a writer killed between applying and
 * acknowledging leaves the entry pending; another writer claims it
 * (XAUTOCLAIM after OPONN_QUEUE_CLAIM_MS idle) and applies it again. So the
 * apply callback MUST be idempotent by version: apply only if MongoDB holds
 * an older version of the record (or none). With that, an older write never
 * overwrites a newer one, which is "in order per record" in effect.
 *
 * Failures: ERR_UNAVAILABLE (MongoDB down) is retried with back-off forever
 * and not counted; any other error counts, and after OPONN_QUEUE_MAX_TRIES
 * the entry moves to P:dead, and the cached entity and every cached batch of
 * its table are invalidated (the cache showed a write MongoDB never got).
 * `oponn queue dead-letters` lists them, `oponn queue replay` re-queues.
 */
#ifndef OPONN_CACHE_QUEUE_H
#define OPONN_CACHE_QUEUE_H

#include "arena.h"
#include "cache.h"

#include <signal.h>

typedef enum { CACHE_WRITE_PUT, CACHE_WRITE_DEL } cache_write_op_t;

typedef struct cache_write {
    const char *msg_id; /* stream entry id */
    cache_kind_t kind;
    const char *id;
    int64_t version;
    cache_write_op_t op;
    const char *json; /* PUT: the whole new document; DEL: "" */
} cache_write_t;

/* Applies one write to MongoDB, idempotently by version (see above).
 * 0: applied, or MongoDB already has this version or a newer one.
 * -1: failed; e->code ERR_UNAVAILABLE = retry later, anything else counts
 * towards the dead letters. */
typedef int (*cache_queue_apply_fn)(void *ud, const cache_write_t *w, err_t *e);

/* Applies writes ws[0..n) (stream order) to MongoDB with as few round trips
 * as it can, with the same idempotence as cache_queue_apply_fn, and sets
 * ok[i] = 1 for each write it applied (or MongoDB already had). A write left
 * at 0 is applied again on its own by the cache_queue_apply_fn, with its
 * retries and dead letter: a batch never dead-letters a good write. */
typedef void (*cache_queue_apply_batch_fn)(void *ud, const cache_write_t *ws, size_t n,
                                           unsigned char *ok);

typedef struct {
    const char *consumer;                   /* unique per writer process, e.g. "host-pid" */
    long long max_tries;                    /* OPONN_QUEUE_MAX_TRIES */
    long long claim_ms;                     /* OPONN_QUEUE_CLAIM_MS */
    long long backoff_ms;                   /* OPONN_QUEUE_BACKOFF_MS */
    int batch;                              /* OPONN_QUEUE_BATCH: entries read per step */
    cache_queue_apply_batch_fn apply_batch; /* NULL: one write at a time */
    int block_ms;                           /* XREADGROUP BLOCK; also the stop-flag latency */
    volatile sig_atomic_t *stop;            /* set by a signal handler: return soon */
    /* cache_queue_run calls tick(tick_ud) before every round, i.e. at least
     * every block_ms (or back-off step while Redis is down); NULL = none.
     * oponn-writer logs its queue stats from it. */
    void (*tick)(void *tick_ud);
    void *tick_ud;
} cache_queue_opts_t;

/* Fills opts from cfg (consumer stays NULL: the caller names it). */
void cache_queue_opts(cache_queue_opts_t *o, const cfg_t *cfg);

/* Creates the consumer group (and the stream) if missing. */
int cache_queue_init(cache_t *c, err_t *e);

/* One round: reclaim entries idle past claim_ms, then read new ones
 * (blocking up to block_ms), applying each in stream order. Returns the
 * number of entries finished (applied or dead-lettered), -1 on a Redis
 * error (the caller backs off and calls again). */
int cache_queue_step(cache_t *c, const cache_queue_opts_t *o, cache_queue_apply_fn fn, void *ud,
                     err_t *e);

/* Steps until *o->stop. Redis errors are waited out (back-off), not fatal. */
void cache_queue_run(cache_t *c, const cache_queue_opts_t *o, cache_queue_apply_fn fn, void *ud);

typedef struct {
    long long length;  /* entries not yet applied */
    long long pending; /* delivered to a writer, not yet acknowledged */
    long long dead;    /* dead letters */
    long long lag_ms;  /* age of the oldest entry not yet applied */
} cache_queue_stats_t;

int cache_queue_stats(cache_t *c, cache_queue_stats_t *out, err_t *e);

typedef struct {
    const char *dead_id; /* id in P:dead */
    const char *orig_id; /* its id in P:queue */
    const char *kind, *id, *version, *op, *error;
} cache_dead_letter_t;

/* Lists up to max dead letters (arena). */
int cache_queue_dead_letters(cache_t *c, arena_t *a, size_t max, cache_dead_letter_t **out,
                             size_t *n, err_t *e);

/* Re-queues dead letter dead_id, or all of them when dead_id is NULL.
 * Returns how many. */
int cache_queue_replay(cache_t *c, const char *dead_id, err_t *e);

#endif
