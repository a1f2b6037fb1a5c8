/*
 * store.h — MongoDB through libmongoc: the one place that talks to MongoDB.
 *
 * A store_t owns one mongoc_client_t, made in the worker process after fork
 * and reused by every request. Command monitoring counts the commands sent, so
 * a request can report how many MongoDB commands it cost (X-Oponn-Debug) and
 * /metrics can total them. Only repositories call store_ functions.
 */
#ifndef OPONN_STORE_H
#define OPONN_STORE_H

#include "cfg.h"
#include "err.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct store store_t;

/* Creates the client (no I/O yet: libmongoc connects on first use). The URI
 * comes from cfg->mongodb_uri; timeouts from the OPONN_MONGO_* knobs unless
 * the URI sets them. Caller frees with store_close(). Call mongoc_init()
 * once per process before. */
int store_open(store_t **out, const cfg_t *cfg, err_t *e);
/* store_open whose MongoDB connect, server-selection and socket timeouts are
 * at most cap_ms (0 = no cap), even when MONGODB_URI sets them: the worker
 * passes a third of OPONN_REQUEST_DEADLINE_MS so no call outlives a request. */
int store_open_capped(store_t **out, const cfg_t *cfg, long long cap_ms, err_t *e);
void store_close(store_t *s);

/* Round trip to the server ("ping"). ERR_UNAVAILABLE when it cannot be reached. */
int store_ping(store_t *s, err_t *e);

/* Commands started by this process since store_open (monotonic). */
uint64_t store_commands(const store_t *s);

/*
 * Operations. `coll` is a collection name in the configured database. Every
 * filter and update is built by the caller with typed bson appends: nothing
 * here parses text into a query. Errors: ERR_UNAVAILABLE when MongoDB cannot
 * be reached (server selection, network, timeout), ERR_INTERNAL otherwise
 * (the message says which operation on which collection failed and why).
 * A duplicate-key error sets *dup (when dup is not NULL) besides returning -1,
 * so a repository can turn it into its own error (BOOKSTORE_NAME_TAKEN).
 */

/* Called once per document; doc is only valid during the call. Return 0 to
 * go on, -1 (with e filled) to stop the find with that error. */
typedef int (*store_doc_fn)(void *ctx, const bson_t *doc, err_t *e);

/* find with opts (sort, limit, batchSize, projection as mongoc takes them).
 * One `find` command, plus `getMore`s only when the results exceed the first
 * batch: callers that must cost one command set batchSize = limit. */
int store_find(store_t *s, const char *coll, const bson_t *filter, const bson_t *opts,
               store_doc_fn fn, void *ctx, err_t *e);

/* aggregate; same callback contract as store_find. */
int store_aggregate(store_t *s, const char *coll, const bson_t *pipeline, const bson_t *opts,
                    store_doc_fn fn, void *ctx, err_t *e);

/* count command: documents matching filter, at most limit (0 = no limit). */
int store_count(store_t *s, const char *coll, const bson_t *filter, int64_t limit, int64_t *n,
                err_t *e);

int store_insert_one(store_t *s, const char *coll, const bson_t *doc, bool *dup, err_t *e);

/* findAndModify returning the document after the change (new: true), or the
 * removed document when update is NULL (remove: true). *found is false when
 * nothing matched (and out is left empty). out is initialised here whatever
 * happens; the caller bson_destroy()s it. */
int store_find_and_modify(store_t *s, const char *coll, const bson_t *query, const bson_t *update,
                          bson_t *out, bool *found, bool *dup, err_t *e);

int store_delete_one(store_t *s, const char *coll, const bson_t *filter, int64_t *deleted,
                     err_t *e);

int store_update_many(store_t *s, const char *coll, const bson_t *filter, const bson_t *update,
                      int64_t *matched, int64_t *modified, err_t *e);

/* Unordered bulk write (one command per 100,000 operations or 48 MB).
 * Build with store_bulk_new, add operations, then either run it once
 * (store_bulk_run frees the bulk whatever happens) or drop it unrun with
 * store_bulk_free. Counts may be NULL. */
typedef struct store_bulk store_bulk_t;
store_bulk_t *store_bulk_new(store_t *s, const char *coll);
/* An ordered bulk: MongoDB applies the operations in order and stops at the
 * first that fails (store_bulk_result_t.failed_at says which). */
store_bulk_t *store_bulk_new_ordered(store_t *s, const char *coll);
void store_bulk_update_one(store_bulk_t *b, const bson_t *filter, const bson_t *update,
                           bool upsert);
void store_bulk_delete_one(store_bulk_t *b, const bson_t *filter);
size_t store_bulk_size(const store_bulk_t *b);
typedef struct {
    int64_t inserted, upserted, matched, modified, deleted;
    /* -1 after a successful run; after a failed one, the index of the first
     * operation that failed (ordered: those before it were applied), 0 when
     * MongoDB reported no write error (network: nothing known applied). */
    int64_t failed_at;
} store_bulk_result_t;
int store_bulk_run(store_bulk_t *b, store_bulk_result_t *res, bool *dup, err_t *e);
/* Frees a bulk without running it (NULL: nothing). */
void store_bulk_free(store_bulk_t *b);

/* A database command (create, collMod, createIndexes); reply may be NULL,
 * else initialised here and destroyed by the caller. */
int store_command(store_t *s, const bson_t *cmd, bson_t *reply, err_t *e);

/* Whether the collection exists (listCollections). */
int store_has_collection(store_t *s, const char *coll, bool *exists, err_t *e);

/* Drops the whole database (tests and `oponn migrate --reset` only). */
int store_drop_database(store_t *s, err_t *e);

#endif
