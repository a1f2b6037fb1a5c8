/*
 * cache_query.h — the declarations of every cached batch query.
 *
 * A query kind is declared ONCE, as a row of data (cache_query.c): the tables
 * it reads, its filter (field, operator, the argument that supplies the
 * value), its sort (fields before the id tie-breaker) and its limit argument.
 * From that row come both halves of the normalized cache:
 *   - the read path: the batch key is the query name + a hash of the
 *     canonical arguments (cache_query_canon), and
 *   - the reconciliation: the predicate JSON stored beside each cached batch,
 *     which cache.lua evaluates against every written record.
 * Adding a query kind (fruitByAcidity was added this way) is one row.
 *
 * Operators: EQ (field == arg), RANGE (arg <= field <= arg_hi, inclusive;
 * MongoDB {$gte, $lte}), IN (field in the list arg; MongoDB $in). Values
 * compare without type conversion (5 == 5.0, "5" != 5), like MongoDB.
 * Sort: byte order of the string fields, then id; missing/null first.
 */
#ifndef OPONN_CACHE_QUERY_H
#define OPONN_CACHE_QUERY_H

#include "arena.h"
#include "cache_key.h"
#include "err.h"

typedef enum { CACHE_OP_EQ, CACHE_OP_RANGE, CACHE_OP_IN } cache_op_t;
typedef enum { CACHE_ARG_INT, CACHE_ARG_NUM, CACHE_ARG_STR, CACHE_ARG_STR_LIST } cache_arg_type_t;

typedef struct {
    const char *field; /* document field */
    cache_op_t op;
    const char *arg;       /* argument with the value (RANGE: the low bound) */
    const char *arg_hi;    /* RANGE: the high bound */
    cache_arg_type_t type; /* of the argument(s); IN takes a list of this */
} cache_filter_decl_t;

#define CACHE_QUERY_MAX_TABLES  2
#define CACHE_QUERY_MAX_FILTERS 3
#define CACHE_QUERY_MAX_SORT    2

typedef struct {
    const char *name; /* the GraphQL field it caches, e.g. "fruitBySize" */
    cache_kind_t tables[CACHE_QUERY_MAX_TABLES];
    int ntables;
    cache_filter_decl_t filters[CACHE_QUERY_MAX_FILTERS];
    int nfilters;
    const char *sort[CACHE_QUERY_MAX_SORT]; /* before the id tie-breaker */
    int nsort;
    const char *limit_arg; /* NULL: unlimited */
    long long limit_default, limit_max;
    const char *join_field; /* NULL: no join; else members' field naming ... */
    cache_kind_t join_kind; /* ... an entity of this kind, read with them */
} cache_query_decl_t;

/* The declaration named name, or NULL. */
const cache_query_decl_t *cache_query_find(const char *name);
/* Every declaration (for tests and `cache verify`). */
const cache_query_decl_t *cache_query_all(int *n);

/* A query's normalized form, allocated in the arena. */
typedef struct {
    const cache_query_decl_t *decl;
    const char *canon;     /* e.g. fruitBySize(size=5;limit=100) */
    const char *hash;      /* 16 hex digits of a 64-bit FNV-1a of canon */
    const char *pred_json; /* the predicate cache.lua evaluates; its "a" holds
                            * the normalized arguments (re-run by verify) */
    long long limit;       /* -1: unlimited */
} cache_query_t;

/* Normalizes args_json (a JSON object with the declared argument names;
 * limit may be absent: default) into *out. ERR_BAD_INPUT names the bad
 * argument. Lists are sorted and de-duplicated, numbers printed shortest. */
int cache_query_canon(arena_t *a, const cache_query_decl_t *q, const char *args_json,
                      cache_query_t *out, err_t *e);

#endif
