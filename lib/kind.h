/*
 * kind.h — the kinds of record oponn stores and caches, in ONE table.
 *
 * A kind is a MongoDB collection of one record type and the Redis entities
 * cached from it. Everything that differs from one kind to the next is a
 * field of its row in kind.c (name, record type and field table, version and
 * timestamp members, TTL knob, the fields MongoDB stores beside the record);
 * the per-kind code of the cache (cache.c, cache_key.c) and of the
 * repositories (repo_cache.c, repo_queue.c, repo_verify.c) reads the row and
 * never switches on a kind. A new kind is a new enum value here and a new row
 * in kind.c (README: "Adding a type"); t/unit/kind.c walks every row.
 *
 * Rows are static and immutable: nothing to free.
 */
#ifndef OPONN_KIND_H
#define OPONN_KIND_H

#include "arena.h"
#include "buf.h"
#include "cfg.h"
#include "err.h"
#include "model.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The kinds. Their order is the rows' order; CACHE__KINDS counts them. */
typedef enum {
    CACHE_BOOKS,
    CACHE_BOOKSTORES,
    CACHE_APPLES,
    CACHE_ORANGES,
    CACHE__KINDS
} cache_kind_t;

/* KIND_NO_TAG: the kind has its record type to itself. */
#define KIND_NO_TAG ((size_t)-1)

typedef struct {
    cache_kind_t kind;
    const char *name; /* Redis key segment (P:<name>:<id>) and MongoDB collection */
    const char *what; /* one record, in messages: "book" */
    /* The record type: its field table (model.c: validation, JSON, BSON) and
     * its int64_t version and update time. Every record starts with its
     * `const char *id`. */
    const model_table_t *fields;
    size_t version_off, updated_at_off;
    /* Kinds that share a record type (apples and oranges: fruit_t) differ in
     * one int-sized enum member, which MongoDB does not store (the collection
     * says it): at tag_off it holds tag. KIND_NO_TAG: none. */
    size_t tag_off;
    int tag;
    /* offsetof(cfg_t, the OPONN_CACHE_TTL_*_S knob of its entities). */
    size_t ttl_knob;
    /* Derived fields MongoDB stores beside the record (the API never shows
     * them), for a writer that stores the whole record (repo_queue.c):
     * appended to doc; insert: the record is new. NULL: none. */
    void (*stored_extra)(arena_t *a, const void *rec, bool insert, bson_t *doc);
} kind_t;

/* The row of k (k < CACHE__KINDS). */
const kind_t *kind_get(cache_kind_t k);
/* The kind whose name is s; NULL for anything else. */
const kind_t *kind_find(const char *s);

/* "books", "bookstores", "apples", "oranges"; "?" outside the enum. */
const char *cache_kind_name(cache_kind_t k);
/* Parses a kind name; -1 with ERR_BAD_INPUT (listing the names) otherwise. */
int cache_kind_parse(const char *s, cache_kind_t *out, err_t *e);

/* ---- any record of a kind, through its row */

const char *kind_id(const void *rec);
int64_t kind_version(cache_kind_t k, const void *rec);
/* Sets the version and update time (ms) of a record. */
void kind_stamp(cache_kind_t k, void *rec, int64_t version, int64_t now_ms);
/* The entity TTL (seconds) cfg gives k. */
long long kind_ttl_s(cache_kind_t k, const cfg_t *cfg);
/* The kind of a fruit record kind. */
cache_kind_t kind_of_fruit(fruit_kind_t f);

/* The record's JSON (the cache's format), appended to out. */
void kind_to_json(cache_kind_t k, const void *rec, buf_t *out);
/* Parses a cached value into a new arena record; NULL (e: ERR_INTERNAL) if
 * it is not a record of k. */
void *kind_from_json(cache_kind_t k, arena_t *a, const char *json, size_t len, err_t *e);
/* Every stored field (`_id` first, absent optionals left out) into doc. */
void kind_to_bson(cache_kind_t k, const void *rec, bson_t *doc);
/* Parses a stored document into a new arena record (NULL, e filled, when
 * it is not one). */
void *kind_from_bson(cache_kind_t k, arena_t *a, const bson_t *doc, err_t *e);
/* The stored names of the record's absent optional fields into unset. */
void kind_unset_absent(cache_kind_t k, const void *rec, bson_t *unset);

#endif
