/*
 * metrics.h — Prometheus counters and histograms shared by the whole pool.
 *
 * Every worker is a separate process (multiwatch execs them), and a /metrics
 * request reaches one of them, so the numbers live in one file-backed shared
 * mapping ($OPONN_RUN_DIR/metrics.shm) that every worker maps and updates with
 * relaxed atomic adds; /metrics renders the sums. If the file cannot be
 * mapped the worker keeps process-local counters (and says so in /metrics).
 *
 * Adding a counter is one line in METRICS_COUNTERS. Names follow Prometheus
 * conventions: counters end in _total, durations are _seconds histograms.
 *
 * The page also carries the one piece of pool state that is not a number to
 * export but must be seen by every worker at once: whether the cache missed a
 * write (see "cache trust" below and lib/cache.c).
 */
#ifndef OPONN_METRICS_H
#define OPONN_METRICS_H

#include "buf.h"
#include "err.h"

#include <stdint.h>

/* X(id, metric name, labels (without braces, may be ""), help) */
#define METRICS_COUNTERS(X)                                                                        \
    X(HTTP_2XX, "oponn_http_responses_total", "class=\"2xx\"", "HTTP responses by status class")   \
    X(HTTP_4XX, "oponn_http_responses_total", "class=\"4xx\"", "HTTP responses by status class")   \
    X(HTTP_5XX, "oponn_http_responses_total", "class=\"5xx\"", "HTTP responses by status class")   \
    X(GQL_ERRORS, "oponn_graphql_errors_total", "", "GraphQL responses that carried errors")       \
    X(MONGO_COMMANDS, "oponn_mongodb_commands_total", "", "MongoDB commands sent")                 \
    X(MONGO_FAILURES, "oponn_mongodb_failures_total", "", "MongoDB commands that failed")          \
    X(REDIS_ROUNDTRIPS, "oponn_redis_roundtrips_total", "", "Redis round trips")                   \
    X(REDIS_ERRORS, "oponn_redis_errors_total", "", "Redis connection or command errors")          \
    X(CACHE_HITS, "oponn_cache_hits_total", "", "entity reads answered by Redis")                  \
    X(CACHE_MISSES, "oponn_cache_misses_total", "", "entity reads Redis could not answer")         \
    X(CACHE_NEG_HITS, "oponn_cache_negative_hits_total", "", "reads answered by a negative entry") \
    X(CACHE_STALE_REFUSED, "oponn_cache_stale_writes_refused_total", "",                           \
      "cache writes refused as older than the cached version or without a lease")                  \
    X(CACHE_LEASE_WAITS, "oponn_cache_lease_waits_total", "", "misses that waited for a lease")    \
    X(CACHE_DEGRADED, "oponn_cache_degraded_total", "", "cache calls skipped: Redis down")         \
    X(CACHE_EPOCH_BUMPS, "oponn_cache_epoch_bumps_total", "",                                      \
      "cache epochs started after outages")                                                        \
    X(BATCH_HITS, "oponn_cache_batch_hits_total", "", "batch reads answered by Redis")             \
    X(BATCH_MISSES, "oponn_cache_batch_misses_total", "", "batch reads Redis could not answer")    \
    X(BATCH_PATCHED, "oponn_cache_batches_total", "action=\"patched\"",                            \
      "cached batches reconciled on writes, by action")                                            \
    X(BATCH_INSERTED, "oponn_cache_batches_total", "action=\"inserted\"",                          \
      "cached batches reconciled on writes, by action")                                            \
    X(BATCH_REMOVED, "oponn_cache_batches_total", "action=\"removed\"",                            \
      "cached batches reconciled on writes, by action")                                            \
    X(BATCH_DROPPED, "oponn_cache_batches_total", "action=\"dropped\"",                            \
      "cached batches reconciled on writes, by action")                                            \
    X(BATCH_REFILLED, "oponn_cache_batches_total", "action=\"refilled\"",                          \
      "cached batches reconciled on writes, by action")                                            \
    X(QUEUE_ENQUEUED, "oponn_queue_writes_total", "state=\"enqueued\"", "write-behind writes")     \
    X(QUEUE_APPLIED, "oponn_queue_writes_total", "state=\"applied\"", "write-behind writes")       \
    X(QUEUE_RETRIED, "oponn_queue_writes_total", "state=\"retried\"", "write-behind writes")       \
    X(QUEUE_DEAD, "oponn_queue_writes_total", "state=\"dead\"", "write-behind writes")             \
    X(QUEUE_FULL, "oponn_queue_writes_total", "state=\"refused_full\"", "write-behind writes")     \
    X(WORKER_STARTS, "oponn_worker_starts_total", "", "worker processes started")                  \
    X(L1_HITS, "oponn_l1_hits_total", "", "cache reads answered by a worker's near cache (L1)")    \
    X(L1_MISSES, "oponn_l1_misses_total", "", "cache reads L1 could not answer (Redis did)")       \
    X(L1_INVALIDATIONS, "oponn_l1_invalidations_total", "",                                        \
      "L1 entries dropped because Redis reported a key they were read from as changed")            \
    X(L1_LEASE_BYPASSES, "oponn_l1_lease_bypasses_total", "",                                      \
      "cache reads that skipped L1: its invalidation link was not proven alive (or no trust)")     \
    X(L1_FLUSHES, "oponn_l1_flushes_total", "",                                                    \
      "L1 emptied whole: link lost or reconnected, new epoch, FLUSHALL, purge")                    \
    X(GQL_DOC_CACHE_HITS, "oponn_graphql_document_cache_total", "result=\"hit\"",                  \
      "GraphQL documents found parsed and validated in the worker's document cache")               \
    X(GQL_DOC_CACHE_MISSES, "oponn_graphql_document_cache_total", "result=\"miss\"",               \
      "GraphQL documents found parsed and validated in the worker's document cache")

typedef enum {
#define METRICS__ENUM(id, name, labels, help) METRIC_##id,
    METRICS_COUNTERS(METRICS__ENUM)
#undef METRICS__ENUM
        METRIC__COUNT
} metric_t;

/* Request-duration histogram buckets, seconds. */
#define METRICS_BUCKETS 12

/* Maps the shared file (created if missing; resized if its layout is from an
 * older build). On failure falls back to local memory and returns -1 with a
 * message; metrics keep working either way. */
int metrics_open(const char *path, err_t *e);
void metrics_close(void);

void metrics_add(metric_t m, uint64_t n);
static inline void metrics_inc(metric_t m)
{
    metrics_add(m, 1);
}
void metrics_observe_request(double seconds);
uint64_t metrics_get(metric_t m);

/* Cache trust. A write-through worker that could not update Redis after a
 * MongoDB write (Redis down, or up but refusing writes: disk full, out of
 * memory) leaves an old value cached that *other* workers would still serve.
 * So the failure is recorded here, pool-wide, and every worker distrusts the
 * cache (each call first starts a new epoch, and reads fall back to MongoDB
 * while Redis refuses that) until one new epoch has been started after the
 * last failure. Two generation numbers, so that a failure racing with a new
 * epoch is never cleared by it. */
void metrics_cache_distrust(void);
/* 1 when the cache is not trusted; *failures gets the value to hand to
 * metrics_cache_trust() once a new epoch is started. */
int metrics_cache_distrusted(uint64_t *failures);
void metrics_cache_trust(uint64_t failures);

/* Write-through mutations in flight, pool-wide. A mutation writes MongoDB,
 * then Redis: a worker killed between the two leaves Redis without the write
 * (a cached list, or the entity, stays old until its TTL). So a mutation is
 * marked here, by pid, while it runs; metrics_reap_writers(), called before
 * each cache call, finds a mark whose process is gone and distrusts the
 * cache (metrics_cache_distrust): the next cache call starts a new epoch, and
 * nothing cached before the lost write is served again. */
void metrics_write_begin(void);
void metrics_write_end(void);
void metrics_reap_writers(void);

/* The write fence: a pool-wide counter every cache write moves after Redis
 * answered it (before the mutation's HTTP answer). A worker that sees it
 * moved since its last look syncs its invalidation link before serving from
 * L1 (lib/cache.c), so no worker serves a value older than an answered
 * write. */
void metrics_fence_bump(void);
uint64_t metrics_fence(void);

/* This worker's L1 size, for the pool-wide gauge oponn_l1_bytes (a slot per
 * live process; a dead one's slot is not counted and is reused). */
void metrics_l1_bytes(uint64_t bytes);
/* The pids of the live workers that reported an L1 (cache verify signals
 * them): up to cap, returns how many. */
int metrics_l1_pids(int *pids, int cap);

/* Appends the Prometheus text exposition of every metric. */
void metrics_render(buf_t *out);

#endif
