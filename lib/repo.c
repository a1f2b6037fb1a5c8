/*
 * repo.c — the repository context, ids, cursors and the generic reads every
 * record type shares (see repo.h, repo_int.h).
 */
#include "repo_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void repo_init(repo_t *r, store_t *s, arena_t *a)
{
    memset(r, 0, sizeof *r);
    r->store = s;
    r->arena = a;
    r->store_base = store_commands(s);
}

void repo_begin(repo_t *r)
{
    r->store_base = store_commands(r->store);
    r->conflict_id[0] = '\0';
}

uint64_t repo_store_commands(const repo_t *r)
{
    return store_commands(r->store) - r->store_base;
}

int64_t repo__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *repo__new_id(repo_t *r)
{
    bson_oid_t oid;
    char hex[25];
    bson_oid_init(&oid, NULL);
    bson_oid_to_string(&oid, hex);
    return arena_strdup(r->arena, hex);
}

int repo__check_id(const char *id, const char *field, err_t *e)
{
    if (id == NULL || id[0] == '\0')
        return err_set(e, ERR_BAD_INPUT, "%s: must not be empty", field);
    if (strlen(id) > MODEL_ID_MAX) {
        return err_set(e, ERR_BAD_INPUT, "%s: longer than %d bytes", field, MODEL_ID_MAX);
    }
    return 0;
}

/* ---- parsing into the arena */

void *repo__parse_book(repo_t *r, const bson_t *doc, const void *arg, err_t *e)
{
    (void)arg;
    book_t *b = arena_alloc(r->arena, sizeof *b);
    return book_from_bson(r->arena, doc, b, e) == 0 ? b : NULL;
}

void *repo__parse_bookstore(repo_t *r, const bson_t *doc, const void *arg, err_t *e)
{
    (void)arg;
    bookstore_t *s = arena_alloc(r->arena, sizeof *s);
    return bookstore_from_bson(r->arena, doc, s, e) == 0 ? s : NULL;
}

void *repo__parse_fruit(repo_t *r, const bson_t *doc, const void *arg, err_t *e)
{
    fruit_t *f = arena_alloc(r->arena, sizeof *f);
    return fruit_from_bson(r->arena, doc, f, *(const fruit_kind_t *)arg, e) == 0 ? f : NULL;
}

void *repo__parse_kind(repo_t *r, const bson_t *doc, const void *arg, err_t *e)
{
    return kind_from_bson(((const kind_t *)arg)->kind, r->arena, doc, e);
}

/* ---- id sets */

static int repo__strcmp_p(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **repo__distinct(repo_t *r, const char *const *v, size_t n, size_t *out_n)
{
    const char **u = arena_alloc(r->arena, (n ? n : 1) * sizeof *u);
    if (n == 0) {
        *out_n = 0;
        return u;
    }
    memcpy(u, v, n * sizeof *u);
    qsort(u, n, sizeof *u, repo__strcmp_p);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k == 0 || strcmp(u[k - 1], u[i]) != 0) u[k++] = u[i];
    }
    *out_n = k;
    return u;
}

void repo__append_in(bson_t *doc, const char *key, const char *const *v, size_t n)
{
    bson_t cond, arr;
    BSON_APPEND_DOCUMENT_BEGIN(doc, key, &cond);
    BSON_APPEND_ARRAY_BEGIN(&cond, "$in", &arr);
    for (size_t i = 0; i < n; i++) {
        char idx[24];
        const char *k;
        bson_uint32_to_string((uint32_t)i, &k, idx, sizeof idx);
        BSON_APPEND_UTF8(&arr, k, v[i]);
    }
    bson_append_array_end(&cond, &arr);
    bson_append_document_end(doc, &cond);
}

/* ---- reads */

typedef struct {
    repo_t *r;
    repo__parse_fn parse;
    const void *arg;
    void **items;
    size_t n, cap;
} repo__collect_t;

static int repo__collect(void *ctx, const bson_t *doc, err_t *e)
{
    repo__collect_t *c = ctx;
    void *item = c->parse(c->r, doc, c->arg, e);
    if (item == NULL) return -1;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        c->items =
            arena_realloc(c->r->arena, c->items, c->cap * sizeof *c->items, cap * sizeof *c->items);
        c->cap = cap;
    }
    c->items[c->n++] = item;
    return 0;
}

/* find with limit = batchSize = limit, so the answer is one command. */
static int repo__find(repo_t *r, const char *coll, const bson_t *filter, const bson_t *sort,
                      int64_t limit, repo__collect_t *c, err_t *e)
{
    bson_t opts = BSON_INITIALIZER;
    if (sort) BSON_APPEND_DOCUMENT(&opts, "sort", sort);
    if (limit > 0) {
        BSON_APPEND_INT64(&opts, "limit", limit);
        BSON_APPEND_INT64(&opts, "batchSize", limit);
    }
    int rc = store_find(r->store, coll, filter, &opts, repo__collect, c, e);
    bson_destroy(&opts);
    return rc;
}

static const char *repo__id_of(const void *item)
{
    return *(const char *const *)item; /* every record starts with its id */
}

static int repo__item_cmp(const void *a, const void *b)
{
    return strcmp(repo__id_of(*(void *const *)a), repo__id_of(*(void *const *)b));
}

int repo__get_many(repo_t *r, const char *coll, const char *const *ids, size_t n,
                   repo__parse_fn parse, const void *arg, void **out, err_t *e)
{
    for (size_t i = 0; i < n; i++) out[i] = NULL;
    if (n == 0) return 0;
    if (n > REPO_BATCH_MAX) {
        return err_set(e, ERR_BAD_INPUT, "ids: %zu given, at most %d per call", n, REPO_BATCH_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == NULL) return err_set(e, ERR_BAD_INPUT, "ids[%zu]: null", i);
    }
    size_t u;
    const char **uniq = repo__distinct(r, ids, n, &u);
    bson_t filter = BSON_INITIALIZER;
    repo__append_in(&filter, "_id", uniq, u);
    repo__collect_t c = {r, parse, arg, NULL, 0, 0};
    int rc = repo__find(r, coll, &filter, NULL, (int64_t)u, &c, e);
    bson_destroy(&filter);
    if (rc != 0) return -1;
    if (c.n > 1) qsort(c.items, c.n, sizeof *c.items, repo__item_cmp);
    for (size_t i = 0; i < n; i++) {
        size_t lo = 0, hi = c.n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            int cmp = strcmp(repo__id_of(c.items[mid]), ids[i]);
            if (cmp == 0) {
                out[i] = c.items[mid];
                break;
            }
            if (cmp < 0) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
    }
    return 0;
}

int repo__find_one(repo_t *r, const char *coll, const bson_t *filter, repo__parse_fn parse,
                   const void *arg, void **out, err_t *e)
{
    repo__collect_t c = {r, parse, arg, NULL, 0, 0};
    *out = NULL;
    if (repo__find(r, coll, filter, NULL, 1, &c, e) != 0) return -1;
    if (c.n) *out = c.items[0];
    return 0;
}

/* ---- cursors: base64url("c1:" + id), opaque to clients */

static const char repo__b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static const char *repo__cursor_encode(repo_t *r, const char *id)
{
    char *raw = arena_printf(r->arena, "c1:%s", id);
    size_t n = strlen(raw);
    char *out = arena_alloc(r->arena, (n + 2) / 3 * 4 + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)raw[i] << 16;
        if (i + 1 < n) v |= (uint32_t)(unsigned char)raw[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)raw[i + 2];
        out[k++] = repo__b64[(v >> 18) & 63];
        out[k++] = repo__b64[(v >> 12) & 63];
        if (i + 1 < n) out[k++] = repo__b64[(v >> 6) & 63];
        if (i + 2 < n) out[k++] = repo__b64[v & 63];
    }
    out[k] = '\0';
    return out;
}

static int repo__cursor_decode(repo_t *r, const char *cur, const char **id, err_t *e)
{
    size_t n = strlen(cur);
    char *raw = arena_alloc(r->arena, n + 1);
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = strchr(repo__b64, cur[i]);
        if (p == NULL || cur[i] == '\0') goto bad;
        acc = (acc << 6) | (uint32_t)(p - repo__b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            raw[k++] = (char)((acc >> bits) & 0xff);
        }
    }
    raw[k] = '\0';
    if (k < 4 || strncmp(raw, "c1:", 3) != 0 || strlen(raw) != k) goto bad;
    *id = raw + 3;
    return 0;
bad:
    return err_set(e, ERR_BAD_INPUT, "after: not a cursor returned by this API");
}

/* Checks `first` and decodes `after` (NULL: from the start). */
static int repo__page_args(repo_t *r, int64_t first, const char *after, const char **after_id,
                           err_t *e)
{
    *after_id = NULL;
    if (first < 0 || first > REPO_PAGE_MAX) {
        return err_set(e, ERR_BAD_INPUT, "first: %lld is out of range (0..%d)", (long long)first,
                       REPO_PAGE_MAX);
    }
    return after ? repo__cursor_decode(r, after, after_id, e) : 0;
}

/* The page of the first `first` of items[0..n) (n may be first + 1). */
static void repo__page_fill(repo_t *r, void **items, size_t n, int64_t first, repo_page_t *out)
{
    out->has_next = n > (size_t)first;
    out->n = out->has_next ? (size_t)first : n;
    out->items = items;
    out->cursors = arena_alloc(r->arena, (out->n ? out->n : 1) * sizeof *out->cursors);
    for (size_t i = 0; i < out->n; i++) {
        out->cursors[i] = repo__cursor_encode(r, repo__id_of(items[i]));
    }
    out->end_cursor = out->n ? out->cursors[out->n - 1] : NULL;
}

int repo__page(repo_t *r, const char *coll, const bson_t *filter, int64_t first, const char *after,
               repo__parse_fn parse, const void *arg, repo_page_t *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    const char *after_id;
    if (repo__page_args(r, first, after, &after_id, e) != 0) return -1;
    bson_t f = BSON_INITIALIZER, sort = BSON_INITIALIZER, gt;
    bson_concat(&f, filter);
    if (after_id) {
        BSON_APPEND_DOCUMENT_BEGIN(&f, "_id", &gt);
        BSON_APPEND_UTF8(&gt, "$gt", after_id);
        bson_append_document_end(&f, &gt);
    }
    BSON_APPEND_INT32(&sort, "_id", 1);
    repo__collect_t c = {r, parse, arg, NULL, 0, 0};
    int rc = repo__find(r, coll, &f, &sort, first + 1, &c, e);
    bson_destroy(&f);
    bson_destroy(&sort);
    if (rc != 0) return -1;
    repo__page_fill(r, c.items, c.n, first, out);
    return 0;
}

int repo__find_all(repo_t *r, const char *coll, const bson_t *filter, repo__parse_fn parse,
                   const void *arg, void ***items, size_t *n, err_t *e)
{
    *items = NULL;
    *n = 0;
    bson_t opts = BSON_INITIALIZER, sort;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "_id", 1);
    bson_append_document_end(&opts, &sort);
    /* Big batches: a list of a few thousand records in one or two commands
     * (the server still caps each batch at 16 MiB). */
    BSON_APPEND_INT64(&opts, "batchSize", REPO_BATCH_MAX);
    repo__collect_t c = {r, parse, arg, NULL, 0, 0};
    int rc = store_find(r->store, coll, filter, &opts, repo__collect, &c, e);
    bson_destroy(&opts);
    if (rc != 0) return -1;
    *items = c.items;
    *n = c.n;
    return 0;
}

int repo__page_from(repo_t *r, void *const *items, size_t n, int64_t first, const char *after,
                    repo_page_t *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    const char *after_id;
    if (repo__page_args(r, first, after, &after_id, e) != 0) return -1;
    size_t from = 0;
    while (after_id && from < n && strcmp(repo__id_of(items[from]), after_id) <= 0) from++;
    size_t left = n - from;
    size_t take = left > (size_t)first ? (size_t)first + 1 : left;
    void **page = arena_alloc(r->arena, (take ? take : 1) * sizeof *page);
    for (size_t i = 0; i < take; i++) page[i] = items[from + i];
    repo__page_fill(r, page, take, first, out);
    return 0;
}

/* ---- writes */

void repo__update_doc(bson_t *update, const bson_t *set, const bson_t *unset, int64_t now)
{
    bson_t s, inc;
    BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &s);
    if (set) bson_concat(&s, set);
    BSON_APPEND_DATE_TIME(&s, "updated_at", now);
    bson_append_document_end(update, &s);
    if (unset && !bson_empty(unset)) BSON_APPEND_DOCUMENT(update, "$unset", unset);
    BSON_APPEND_DOCUMENT_BEGIN(update, "$inc", &inc);
    BSON_APPEND_INT64(&inc, "version", 1);
    bson_append_document_end(update, &inc);
}

int repo__modify(repo_t *r, const char *coll, const char *what, const char *id, const bson_t *query,
                 const bson_t *update, repo__parse_fn parse, const void *arg, void **out, bool *dup,
                 err_t *e)
{
    bson_t doc;
    bool found;
    int rc = store_find_and_modify(r->store, coll, query, update, &doc, &found, dup, e);
    if (rc == 0 && !found) rc = err_set(e, ERR_NOT_FOUND, "%s %s not found", what, id);
    if (rc == 0 && out) {
        *out = parse(r, &doc, arg, e);
        if (*out == NULL) rc = -1;
    }
    bson_destroy(&doc);
    return rc;
}
