/*
 * repo.h — the domain API: books, bookstores, fruit. The only library code
 * that reads and writes records, in MongoDB (store.h) and in the cache
 * (cache.h, through lib/repo_cache.c); resolvers see neither.
 *
 * Every function takes a repo_t: the store, a slot for the cache, the arena
 * results are allocated from, and per-request counters. Calls are shaped for
 * batch resolvers: arrays in, arrays out, in input order, NULL for what does
 * not exist. Records returned (and every string in them) live in r->arena
 * until the request's arena is reset; nothing returned needs freeing.
 *
 * Errors (err_t codes, named as in ../shared/API.md): BAD_USER_INPUT (validation, with the
 * field named), NOT_FOUND (the id of a mutation's target is unknown),
 * BOOKSTORE_NAME_TAKEN (r->conflict_id holds the existing store's id),
 * FOREIGN_KEY_VIOLATION, BOOKSTORE_HAS_BOOKS, UNAVAILABLE (MongoDB down),
 * INTERNAL. Reads of an unknown id are not errors: they give NULL.
 *
 * Referential integrity without transactions (a standalone mongod has
 * none): a book write that sets bookstore_id writes first and then checks
 * the store; a store delete marks the store `deleting` first and then checks
 * its books. Whichever runs second sees the other, so a book can never be
 * left pointing at a deleted store: the book write is undone (FK violation),
 * or the delete is refused (BOOKSTORE_HAS_BOOKS) or reassigns the book too.
 * A delete interrupted half-way leaves the mark; re-running it finishes it.
 */
#ifndef OPONN_REPO_H
#define OPONN_REPO_H

#include "arena.h"
#include "err.h"
#include "model.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    store_t *store;
    struct cache *cache; /* the worker's cache (cache.h); NULL = no cache */
    arena_t *arena;      /* results are allocated here */
    uint64_t store_base;
    /* Set with BOOKSTORE_NAME_TAKEN: the id of the store holding the name. */
    char conflict_id[MODEL_ID_MAX + 1];
} repo_t;

/* Most ids one batch call takes (a bigger request is BAD_USER_INPUT). */
#define REPO_BATCH_MAX 10000
/* Largest page (`first`) and fruit `limit`. */
#define REPO_PAGE_MAX 1000

void repo_init(repo_t *r, store_t *s, arena_t *a);
/* Starts a request: zeroes the per-request counters. */
void repo_begin(repo_t *r);
/* MongoDB commands sent since repo_begin (X-Oponn-Debug extensions). */
uint64_t repo_store_commands(const repo_t *r);

/* ---- books */

/* *out is NULL when there is no such book. */
int repo_book_get(repo_t *r, const char *id, book_t **out, err_t *e);
/* One `$in` query; out[i] is the book of ids[i] or NULL. Duplicates fine. */
int repo_books_get_many(repo_t *r, const char *const *ids, size_t n, book_t **out, err_t *e);
/* Validates in (every writable field), checks the bookstore, inserts with a
 * new id and version 1. BAD_USER_INPUT also when another book has the ISBN. */
int repo_book_create(repo_t *r, const book_t *in, book_t **out, err_t *e);
/* Applies the fields of `patch` that `mask` names (MODEL_BIT(BOOK_F_x));
 * a masked optional field left NULL/unset clears it. Setting bookstore_id
 * is a move (FK checked). */
int repo_book_update(repo_t *r, const char *id, const book_t *patch, model_mask_t mask,
                     book_t **out, err_t *e);
int repo_book_move(repo_t *r, const char *id, const char *bookstore_id, book_t **out, err_t *e);
/* NOT_FOUND when there is no such book. */
int repo_book_delete(repo_t *r, const char *id, err_t *e);

/* ---- the mission's batch FK lookup */

typedef struct {
    const char *book_id;
    book_t *book;           /* NULL: unknown book */
    bookstore_t *bookstore; /* NULL: unknown book or dangling bookstore_id */
    err_code_t code;        /* ERR_OK, ERR_NOT_FOUND (book) or ERR_FK (dangling) */
    const char *message;    /* NULL when code is ERR_OK; in r->arena */
} repo_book_store_t;

/* out[i] answers ids[i]. Exactly one MongoDB command for the books and one
 * for their stores, whatever n (none for the stores when no book exists). */
int repo_bookstores_for_books(repo_t *r, const char *const *ids, size_t n, repo_book_store_t *out,
                              err_t *e);

/* ---- bookstores */

int repo_bookstore_get(repo_t *r, const char *id, bookstore_t **out, err_t *e);
int repo_bookstores_get_many(repo_t *r, const char *const *ids, size_t n, bookstore_t **out,
                             err_t *e);
/* Matched on the normalized name (namekey.h). BAD_USER_INPUT when the name
 * normalizes to nothing. */
int repo_bookstore_by_name(repo_t *r, const char *name, bookstore_t **out, err_t *e);
/* name_key is computed here (in->name_key is ignored). The unique index on
 * name_key decides races: of two concurrent creates exactly one wins. */
int repo_bookstore_create(repo_t *r, const bookstore_t *in, bookstore_t **out, err_t *e);
int repo_bookstore_update(repo_t *r, const char *id, const bookstore_t *patch, model_mask_t mask,
                          bookstore_t **out, err_t *e);
/* reassign_to NULL: BOOKSTORE_HAS_BOOKS when the store has books. Else its
 * books move to reassign_to (FOREIGN_KEY_VIOLATION if that store does not
 * exist, BAD_USER_INPUT if it is the same store) and the store is deleted.
 * Idempotent: an interrupted call can be repeated. */
int repo_bookstore_delete(repo_t *r, const char *id, const char *reassign_to, err_t *e);
/* counts[i] = number of books of ids[i] (0 for unknown ids); one command. */
int repo_bookstore_book_counts(repo_t *r, const char *const *ids, size_t n, int64_t *counts,
                               err_t *e);

/* ---- pages (cursor pagination, ordered by id) */

typedef struct {
    void **items;         /* book_t * or bookstore_t * */
    const char **cursors; /* opaque cursor of each item */
    size_t n;
    bool has_next;
    const char *end_cursor; /* NULL when n == 0 */
} repo_page_t;

/* first in 0..REPO_PAGE_MAX; after NULL or a cursor from an earlier page
 * (BAD_USER_INPUT when it is not one). */
int repo_bookstores_page(repo_t *r, int64_t first, const char *after, repo_page_t *out, err_t *e);
int repo_bookstore_books_page(repo_t *r, const char *bookstore_id, int64_t first, const char *after,
                              repo_page_t *out, err_t *e);

/* ---- fruit */

typedef enum { FRUIT_BY_SIZE, FRUIT_BY_COLOUR, FRUIT_BY_ACIDITY } fruit_by_t;

/* A fruit query across apples and oranges; ordered by breed, then id. */
typedef struct {
    fruit_by_t by;
    int64_t size;       /* FRUIT_BY_SIZE */
    const char *colour; /* FRUIT_BY_COLOUR: exact, case-sensitive */
    double min, max;    /* FRUIT_BY_ACIDITY: inclusive */
    int64_t limit;      /* 1..REPO_PAGE_MAX */
} fruit_query_t;

/* Whether f belongs in the query's result (ignoring the limit), and the
 * result's order: for the cache, which patches cached results in place. */
bool fruit_query_match(const fruit_query_t *q, const fruit_t *f);
int fruit_order_cmp(const fruit_t *a, const fruit_t *b);

int repo_fruit_get(repo_t *r, fruit_kind_t kind, const char *id, fruit_t **out, err_t *e);
int repo_fruit_get_many(repo_t *r, fruit_kind_t kind, const char *const *ids, size_t n,
                        fruit_t **out, err_t *e);
int repo_fruit_create(repo_t *r, fruit_kind_t kind, const fruit_t *in, fruit_t **out, err_t *e);
int repo_fruit_update(repo_t *r, fruit_kind_t kind, const char *id, const fruit_t *patch,
                      model_mask_t mask, fruit_t **out, err_t *e);
int repo_fruit_delete(repo_t *r, fruit_kind_t kind, const char *id, err_t *e);
/* Two commands (one per collection); *out is an array of *n fruit. */
int repo_fruit_find(repo_t *r, const fruit_query_t *q, fruit_t ***out, size_t *n, err_t *e);

/* ---- the cache's view of MongoDB (`oponn cache verify|rehydrate`; lib/repo_verify.c) */

struct cache_source; /* cache_admin.h */
/* Fills *src with callbacks reading MongoDB through r (whose cache must be
 * NULL: the truth, not the cache): fetch gives a record's *_to_json text
 * (byte-identical to what the repositories cache), query re-runs a declared
 * batch query. r must outlive *src. */
void repo_cache_source(repo_t *r, struct cache_source *src);

/* ---- write-behind: the writer's MongoDB side (lib/repo_queue.c) */

struct cache_write; /* cache_queue.h */
/* Applies one queued write to MongoDB idempotently by version (a
 * cache_queue_apply_fn; ud is a repo_t without a cache whose arena it
 * resets): a put updates the record where MongoDB's version is older, or
 * inserts it when absent; a delete removes it where the version is older.
 * 0 also when MongoDB already has this version or a newer one. */
int repo_queue_apply(void *ud, const struct cache_write *w, err_t *e);
/* The same for writes ws[0..n) in stream order, in one ordered bulk write
 * per collection (a cache_queue_apply_batch_fn): ok[i] = 1 for each write
 * applied; the others are left for repo_queue_apply. */
void repo_queue_apply_batch(void *ud, const struct cache_write *ws, size_t n, unsigned char *ok);

/* ---- bulk loading (ingestion) */

typedef struct {
    int64_t inserted, modified, unchanged, duplicates;
} repo_upsert_counts_t;

/* Makes sure a store with each name exists: by name_key, first name wins,
 * existing stores are left as they are. out[i] is the stored store whose
 * name_key equals that of in[i]. Two commands. */
int repo_bookstores_ensure(repo_t *r, const bookstore_t *in, size_t n, bookstore_t **out,
                           repo_upsert_counts_t *c, err_t *e);
/* The natural key of a book (arena): "isbn:<normalized isbn>" when it has
 * an ISBN, else "ol:<work_key>"; NULL when it has neither. */
const char *repo_book_natural_key(arena_t *a, const book_t *b, const char *work_key);

/* Upserts books by natural key: "isbn:<isbn>" when the book has one, else
 * "ol:<work_keys[i]>". New keys are inserted, changed records updated
 * (version + 1), identical ones left alone, so a re-run writes nothing.
 * Within one call a repeated key counts as a duplicate (first wins). Inputs
 * must be valid (book_validate) with bookstore_id of existing stores. Two
 * commands (one find, one bulk write). */
int repo_books_upsert(repo_t *r, const book_t *in, const char *const *work_keys, size_t n,
                      repo_upsert_counts_t *c, err_t *e);
/* Seeds fruit with fixed ids (in[i].id): inserted when absent, never changed. */
int repo_fruit_seed(repo_t *r, fruit_kind_t kind, const fruit_t *in, size_t n,
                    repo_upsert_counts_t *c, err_t *e);

#endif
