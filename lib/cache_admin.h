/*
 * cache_admin.h — what `oponn cache ...` does: stats, verify, flush,
 * rehydrate. Verify and rehydrate need MongoDB, which only the repository
 * layer reads: it passes a cache_source_t (two callbacks).
 */
#ifndef OPONN_CACHE_ADMIN_H
#define OPONN_CACHE_ADMIN_H

#include "arena.h"
#include "cache.h"

/* MongoDB as the repository layer sees it (repo_cache_source()). */
typedef struct cache_source {
    void *ud;
    /* The current document of (k, id) as entity JSON, byte-identical to what
     * the repository caches (*json = NULL: no such record). */
    int (*fetch)(void *ud, arena_t *a, cache_kind_t k, const char *id, const char **json, err_t *e);
    /* Runs query q on MongoDB: documents in the declared order, at most
     * q->limit of them (when >= 0), *exhaustive = 1 when no further record
     * matches. */
    int (*query)(void *ud, arena_t *a, const cache_query_t *q, cache_doc_t **docs, size_t *n,
                 int *exhaustive, err_t *e);
} cache_source_t;

/* One line per mismatch (verify) or per action; the CLI prints them. */
typedef void (*cache_report_fn)(void *ud, const char *line);

/* name=value lines: the P:stats counters, cached batches per table, the
 * epoch, and the queue. */
int cache_stats_report(cache_t *c, cache_report_fn fn, void *ud, err_t *e);

typedef struct {
    long entities, batches, mismatches;
} cache_verify_t;

/* Compares every cached entity (current epoch) with src->fetch and every
 * cached batch's members with src->query; reports each mismatch. */
int cache_verify(cache_t *c, const cache_source_t *src, cache_report_fn fn, void *ud,
                 cache_verify_t *out, err_t *e);

/* Deletes every key of the namespace except the write-behind queue and its
 * dead letters (which hold writes MongoDB may not have yet). Returns keys
 * deleted. */
long cache_flush(cache_t *c, err_t *e);

/* Re-fills the batches reconciliation dropped (P:dropped) from src->query.
 * Returns how many were refilled. */
long cache_rehydrate(cache_t *c, const cache_source_t *src, cache_report_fn fn, void *ud, err_t *e);

#endif
