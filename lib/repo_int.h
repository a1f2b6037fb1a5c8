/*
 * repo_int.h — helpers shared by the repository files (lib/repo*.c) only.
 * Not part of the repository API (repo.h).
 */
#ifndef OPONN_REPO_INT_H
#define OPONN_REPO_INT_H

#include "cache.h"
#include "repo.h"

#define REPO_BOOKS      "books"
#define REPO_BOOKSTORES "bookstores"

int64_t repo__now_ms(void);
/* A new 24-hex id (ObjectId), copied into the arena. */
const char *repo__new_id(repo_t *r);

/* Parses one stored document into an arena record whose first member is its
 * `const char *id` (book_t, bookstore_t and fruit_t all start so). */
typedef void *(*repo__parse_fn)(repo_t *r, const bson_t *doc, const void *arg, err_t *e);
void *repo__parse_book(repo_t *r, const bson_t *doc, const void *arg, err_t *e);
void *repo__parse_bookstore(repo_t *r, const bson_t *doc, const void *arg, err_t *e);
void *repo__parse_fruit(repo_t *r, const bson_t *doc, const void *arg, err_t *e);
/* Any kind: arg is its row (const kind_t *, kind.h). */
void *repo__parse_kind(repo_t *r, const bson_t *doc, const void *arg, err_t *e);

/* One find `{_id: {$in: unique ids}}`; out[i] for ids[i] or NULL. */
int repo__get_many(repo_t *r, const char *coll, const char *const *ids, size_t n,
                   repo__parse_fn parse, const void *arg, void **out, err_t *e);
/* One find with filter (caller's conditions) + `_id > after`, ordered by id. */
int repo__page(repo_t *r, const char *coll, const bson_t *filter, int64_t first, const char *after,
               repo__parse_fn parse, const void *arg, repo_page_t *out, err_t *e);
/* Every record matching filter, ordered by id, into *items (arena, *n of
 * them): a whole list for the cache (its pages are cut from it). */
int repo__find_all(repo_t *r, const char *coll, const bson_t *filter, repo__parse_fn parse,
                   const void *arg, void ***items, size_t *n, err_t *e);
/* find_one: *out NULL when nothing matches. */
int repo__find_one(repo_t *r, const char *coll, const bson_t *filter, repo__parse_fn parse,
                   const void *arg, void **out, err_t *e);
/* findAndModify (new: true) parsed into *out; NOT_FOUND naming `what` and id
 * when nothing matched. update NULL removes. */
int repo__modify(repo_t *r, const char *coll, const char *what, const char *id, const bson_t *query,
                 const bson_t *update, repo__parse_fn parse, const void *arg, void **out, bool *dup,
                 err_t *e);
/* The update document {$set: set + updated_at, $unset: unset (if any), $inc: {version: 1}}. */
void repo__update_doc(bson_t *update, const bson_t *set, const bson_t *unset, int64_t now);
/* Checks an id argument: non-empty, at most MODEL_ID_MAX bytes. */
int repo__check_id(const char *id, const char *field, err_t *e);

/* Sorted array of the distinct strings of v[0..n) (arena). */
const char **repo__distinct(repo_t *r, const char *const *v, size_t n, size_t *out_n);
/* Appends `key: {$in: [v...]}` to doc. */
void repo__append_in(bson_t *doc, const char *key, const char *const *v, size_t n);

/* ---- the cache inside the repositories (repo_cache.c) */

/* Collection and parser (with its arg) of a kind, from its row (kind.h). */
const char *repo__coll(cache_kind_t k);
repo__parse_fn repo__parser(cache_kind_t k, const void **arg);
/* The record's *_to_json text, in the arena. */
const char *repo__to_json(repo_t *r, cache_kind_t k, const void *rec);
/* Parses a cached value into an arena record; NULL (e filled) if unreadable. */
void *repo__from_json(repo_t *r, cache_kind_t k, const char *json, err_t *e);
/* The record as the cache stores it: kind, id, version, JSON (arena). */
cache_doc_t repo__doc(repo_t *r, cache_kind_t k, const void *rec);

/* repo__get_many through the cache: one id = cache_get with a lease; more =
 * one multi-get; misses in ONE `$in`, then filled (unknown ids as negative
 * entries). Plain MongoDB when r->cache is NULL or Redis is down. */
int repo__cached_get_many(repo_t *r, cache_kind_t k, const char *const *ids, size_t n, void **out,
                          err_t *e);

/* Write-through, after MongoDB took the write: the record's new version
 * (entity + every cached batch of its kind, one script call), or a delete
 * (version = the deleted record's version + 1; 0 = unknown). A cache
 * failure is not an error here (the cache goes dirty: new epoch). */
void repo__cache_put(repo_t *r, cache_kind_t k, const void *rec);
void repo__cache_del(repo_t *r, cache_kind_t k, const char *id, int64_t version);
/* Write-through, after a MongoDB write whose outcome is unknown (it may
 * have been applied: reply lost, write-concern error, server gone
 * mid-command): makes the record unservable from the cache before the
 * mutation answers — cache_purge drops the entity, its lease and every
 * cached batch of its table (a create's lists too); if Redis cannot take
 * that, the whole pool distrusts the cache (cache_mark_dirty). */
void repo__cache_unknown(repo_t *r, cache_kind_t k, const char *const *ids, size_t n);
/* After a failed MongoDB write of records ids (e filled by it): calls
 * repo__cache_unknown unless e is a definite refusal (the one place that
 * rule lives). Returns -1, e untouched, so callers can
 * `return repo__write_failed(r, k, id, e);`. */
int repo__write_failed(repo_t *r, cache_kind_t k, const char *const *ids, size_t n, err_t *e);

/* Write-behind (OPONN_WRITE_MODE=behind with a cache): mutations change
 * the cache and append to its queue (cache_put, one script call); the
 * writer applies them to MongoDB (repo_queue_apply, repo_queue.c). */
bool repo__behind(const repo_t *r);
/* Queues a new record (version 1). */
int repo__behind_create(repo_t *r, cache_kind_t k, const void *rec, err_t *e);
/* Builds the next state of cur (an arena copy; checks what must hold:
 * validation, FK, unique keys); NULL with e filled to refuse. */
typedef void *(*repo__next_fn)(repo_t *r, const void *cur, const void *ctx, err_t *e);
/* Reads the current record (cache, else MongoDB), builds the next one with
 * version + 1, and queues it as a compare-and-set on the cached version;
 * a lost race re-reads (bounded, then UNAVAILABLE). *out: the new record. */
int repo__behind_update(repo_t *r, cache_kind_t k, const char *id, repo__next_fn next,
                        const void *ctx, void **out, err_t *e);
/* Queues the delete of the current record (tombstone at its version + 1). */
int repo__behind_delete(repo_t *r, cache_kind_t k, const char *id, err_t *e);

/* The records of a declared batch query (cache_query.c), in its order. */
typedef struct {
    void **recs;
    cache_kind_t *kinds;
    size_t n;
    int exhaustive;         /* every matching record is in recs */
    int nocache;            /* set by a run: too big to cache, answer only */
    void **joins;           /* join declarations: joins[i] = target of recs[i] or NULL */
    cache_kind_t join_kind; /* of joins[i]: the query's (repo__query_t) */
} repo__batch_t;

/* Runs the query on MongoDB: at most `limit` records (-1: all) into out
 * (recs, kinds, n; nocache when the answer must not be cached). */
typedef int (*repo__run_fn)(repo_t *r, const void *arg, long long limit, repo__batch_t *out,
                            err_t *e);
/* Sets out->joins[i] for every i where it is NULL, from MongoDB (one query). */
typedef int (*repo__join_fn)(repo_t *r, repo__batch_t *out, err_t *e);

/* A cached query as the repositories run it: its declaration in
 * cache_query.c (tables, filter, sort, limit: the cache's half) and its
 * MongoDB half. Each is defined beside its run, in the kind's file
 * (repo_fruit.c, repo_book.c, repo_bookstore.c); repo_verify.c lists them
 * all for `oponn cache verify|rehydrate`. */
struct cJSON;
typedef struct {
    const char *name; /* the cache_query.c declaration */
    repo__run_fn run;
    repo__join_fn join;     /* NULL: none */
    cache_kind_t join_kind; /* the kind join reads */
    /* The run's arg from the normalized arguments (a predicate's "a", see
     * cache_query.h), in the arena: how `cache verify` re-runs a cached batch. */
    const void *(*arg_of)(arena_t *a, const struct cJSON *args, long long limit);
} repo__query_t;

extern const repo__query_t repo__q_fruit_by_size, repo__q_fruit_by_colour,
    repo__q_fruit_by_acidity;                            /* arg: fruit_query_t */
extern const repo__query_t repo__q_books;                /* arg: repo__idset_t */
extern const repo__query_t repo__q_bookstores_for_books; /* arg: repo__idset_t */
extern const repo__query_t repo__q_bookstore_books;      /* arg: the store id */
extern const repo__query_t repo__q_bookstores;           /* arg: none (NULL) */
extern const repo__query_t repo__q_bookstore_by_name;    /* arg: the name_key */

/* The repository query named as a cache_query.c declaration; NULL when the
 * repositories do not run it (repo_verify.c). */
const repo__query_t *repo__query_find(const char *name);

/* A declared batch through the cache: a hit is one round trip (members the
 * entity cache lacks: one query per collection, then put back); a miss runs
 * q->run with limit + 1 (to know whether the batch is exhaustive) and fills
 * the batch (with the join targets) in one call. limit: the query's limit,
 * -1 for none; arg: q->run's. */
int repo__cached_batch(repo_t *r, const repo__query_t *q, const char *args_json, long long limit,
                       const void *arg, repo__batch_t *out, err_t *e);

/* A list of ids (the arg of id-set runs). */
typedef struct {
    const char *const *ids;
    size_t n;
} repo__idset_t;
/* 1 when every id is non-NULL, non-empty and n <= REPO_BATCH_MAX. */
int repo__ids_ok(const char *const *ids, size_t n);

/* {"<name>":["id",...]} in the arena. */
const char *repo__ids_json(repo_t *r, const char *name, const char *const *ids, size_t n);
/* out[i] = the record of recs whose id is ids[i] (NULL: none); at[i] its
 * index in recs ((size_t)-1: none) when at is not NULL. */
void repo__by_id(repo_t *r, void *const *recs, size_t nrecs, const char *const *ids, size_t n,
                 void **out, size_t *at);

/* A page (repo_page_t) of a whole result sorted by id, as repo__page
 * would have read it: first, after a cursor. */
int repo__page_from(repo_t *r, void *const *items, size_t n, int64_t first, const char *after,
                    repo_page_t *out, err_t *e);

#endif
