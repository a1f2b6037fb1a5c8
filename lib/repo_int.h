/*
 * repo_int.h — helpers shared by the repository files (lib/repo*.c) only.
 * Not part of the repository API (repo.h).
 */
#ifndef OPONN_REPO_INT_H
#define OPONN_REPO_INT_H

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

/* One find `{_id: {$in: unique ids}}`; out[i] for ids[i] or NULL. */
int repo__get_many(repo_t *r, const char *coll, const char *const *ids, size_t n,
                   repo__parse_fn parse, const void *arg, void **out, err_t *e);
/* One find with filter (caller's conditions) + `_id > after`, ordered by id. */
int repo__page(repo_t *r, const char *coll, const bson_t *filter, int64_t first, const char *after,
               repo__parse_fn parse, const void *arg, repo_page_t *out, err_t *e);
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

#endif
