/*
 * repo_load.c — bulk loading for ingestion: bookstores ensured by name,
 * books upserted by natural key, fruit seeded by id. Each is a fixed number
 * of MongoDB commands per call, and a repeated call with the same input
 * writes nothing (see repo.h).
 */
#include "repo_int.h"

#include "namekey.h"

#include <stdlib.h>
#include <string.h>

/* Adds "insert doc unless a document with field == value exists" to b. */
static void load__insert_if_absent(store_bulk_t *b, const char *field, const char *value,
                                   const bson_t *doc)
{
    bson_t q = BSON_INITIALIZER, u = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&q, field, value);
    BSON_APPEND_DOCUMENT(&u, "$setOnInsert", doc);
    store_bulk_update_one(b, &q, &u, true);
    bson_destroy(&q);
    bson_destroy(&u);
}

/* ---- bookstores */

typedef struct {
    repo_t *r;
    const char **keys;
    bookstore_t **stores;
    size_t n;
} load__stores_t;

static int load__store_cb(void *ctx, const bson_t *doc, err_t *e)
{
    load__stores_t *c = ctx;
    bookstore_t *s = repo__parse_bookstore(c->r, doc, NULL, e);
    if (s == NULL) return -1;
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->keys[i], s->name_key) == 0) c->stores[i] = s;
    }
    return 0;
}

int repo_bookstores_ensure(repo_t *r, const bookstore_t *in, size_t n, bookstore_t **out,
                           repo_upsert_counts_t *c, err_t *e)
{
    memset(c, 0, sizeof *c);
    if (n == 0) return 0;
    const char **keys = arena_alloc(r->arena, n * sizeof *keys);
    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
        if (bookstore_validate(&in[i], MODEL_ALL, e) != 0) return err_wrap(e, "bookstore %zu", i);
        char *k;
        if (namekey_make(in[i].name, strlen(in[i].name), "name", &k, e) != 0) {
            return err_wrap(e, "bookstore %zu", i);
        }
        keys[i] = arena_strdup(r->arena, k);
        free(k);
    }
    store_bulk_t *b = store_bulk_new(r->store, REPO_BOOKSTORES);
    int64_t now = repo__now_ms();
    for (size_t i = 0; i < n; i++) {
        bool first = true;
        for (size_t j = 0; j < i && first; j++) first = strcmp(keys[j], keys[i]) != 0;
        if (!first) {
            c->duplicates++;
            continue;
        }
        bookstore_t s = in[i];
        s.id = repo__new_id(r);
        s.name_key = keys[i];
        s.version = 1;
        s.created_at = s.updated_at = now;
        bson_t doc = BSON_INITIALIZER;
        bookstore_to_bson(&s, &doc);
        load__insert_if_absent(b, "name_key", keys[i], &doc);
        bson_destroy(&doc);
    }
    store_bulk_result_t res;
    if (store_bulk_run(b, &res, NULL, e) != 0) return -1;
    c->inserted = res.upserted;
    c->unchanged = (int64_t)n - c->duplicates - res.upserted;
    /* Read them back: the ids of stores that already existed are theirs. */
    size_t u;
    const char **uniq = repo__distinct(r, keys, n, &u);
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    repo__append_in(&filter, "name_key", uniq, u);
    BSON_APPEND_INT64(&opts, "batchSize", (int64_t)u);
    load__stores_t ctx = {r, keys, out, n};
    int rc = store_find(r->store, REPO_BOOKSTORES, &filter, &opts, load__store_cb, &ctx, e);
    bson_destroy(&filter);
    bson_destroy(&opts);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (out[i] == NULL)
            rc = err_set(e, ERR_INTERNAL, "bookstore %s vanished while loading", keys[i]);
    }
    /* New stores into the cache (a name looked up before may be cached as
     * unknown; equal versions are re-put harmlessly). */
    for (size_t i = 0; rc == 0 && c->inserted && i < n; i++) {
        bool first = true;
        for (size_t j = 0; j < i && first; j++) first = out[j] != out[i];
        if (first) repo__cache_put(r, CACHE_BOOKSTORES, out[i]);
    }
    return rc;
}

/* ---- books */

typedef struct {
    repo_t *r;
    book_t **items;
    size_t n, cap;
} load__list_t;

static int load__list_cb(void *ctx, const bson_t *doc, err_t *e)
{
    load__list_t *l = ctx;
    book_t *b = repo__parse_book(l->r, doc, NULL, e);
    if (b == NULL) return -1;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        l->items =
            arena_realloc(l->r->arena, l->items, l->cap * sizeof *l->items, cap * sizeof *l->items);
        l->cap = cap;
    }
    l->items[l->n++] = b;
    return 0;
}

const char *repo_book_natural_key(arena_t *a, const book_t *b, const char *work_key)
{
    char isbn[14];
    if (b->isbn && book_isbn_normalize(b->isbn, isbn, NULL) == 0) {
        return arena_printf(a, "isbn:%s", isbn);
    }
    return b->isbn == NULL && work_key ? arena_printf(a, "ol:%s", work_key) : NULL;
}

typedef struct {
    const char *key;
    book_t *book; /* stored version, NULL = new */
} load__existing_t;

typedef struct {
    repo_t *r;
    load__existing_t *ex; /* sorted by key */
    size_t n;
} load__books_t;

static int load__ex_cmp(const void *a, const void *b)
{
    return strcmp(((const load__existing_t *)a)->key, ((const load__existing_t *)b)->key);
}

static load__existing_t *load__lookup(load__books_t *c, const char *key)
{
    load__existing_t k = {key, NULL};
    return bsearch(&k, c->ex, c->n, sizeof *c->ex, load__ex_cmp);
}

static int load__book_cb(void *ctx, const bson_t *doc, err_t *e)
{
    load__books_t *c = ctx;
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "nkey") || !BSON_ITER_HOLDS_UTF8(&it)) return 0;
    load__existing_t *x = load__lookup(c, bson_iter_utf8(&it, NULL));
    if (x == NULL) return 0;
    x->book = repo__parse_book(c->r, doc, NULL, e);
    return x->book ? 0 : -1;
}

#define LOAD__BOOK_FIELDS                                                                          \
    (MODEL_BIT(BOOK_F_ISBN) | MODEL_BIT(BOOK_F_TITLE) | MODEL_BIT(BOOK_F_AUTHORS) |                \
     MODEL_BIT(BOOK_F_YEAR) | MODEL_BIT(BOOK_F_PRICE) | MODEL_BIT(BOOK_F_BOOKSTORE_ID))

static bool load__same(const book_t *stored, const book_t *in)
{
    book_t next = *stored;
    book_patch_apply(&next, in, LOAD__BOOK_FIELDS);
    buf_t a = BUF_INIT, b = BUF_INIT;
    book_to_json(stored, &a);
    book_to_json(&next, &b);
    bool same = strcmp(a.data, b.data) == 0;
    buf_free(&a);
    buf_free(&b);
    return same;
}

/* Write-through of a bulk load: reads back the books it inserted or changed
 * (one command) and puts each into the cache, patching the cached lists.
 * If the read fails, those books are purged from the cache instead. */
static void load__cache_books(repo_t *r, const char *const *nkeys, size_t n)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    repo__append_in(&filter, "nkey", nkeys, n);
    BSON_APPEND_INT64(&opts, "batchSize", (int64_t)n);
    load__list_t l = {r, NULL, 0, 0};
    err_t e;
    int rc = store_find(r->store, REPO_BOOKS, &filter, &opts, load__list_cb, &l, &e);
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (rc != 0) {
        cache_mark_dirty(r->cache); /* changed books may be cached: a new epoch, */
        cache_purge(r->cache, CACHE_BOOKS, NULL, &e); /* started by this call */
        return;
    }
    for (size_t i = 0; i < l.n; i++) repo__cache_put(r, CACHE_BOOKS, l.items[i]);
}

int repo_books_upsert(repo_t *r, const book_t *in, const char *const *work_keys, size_t n,
                      repo_upsert_counts_t *c, err_t *e)
{
    memset(c, 0, sizeof *c);
    if (n == 0) return 0;
    const char **keys = arena_alloc(r->arena, n * sizeof *keys);
    book_t *books = arena_alloc(r->arena, n * sizeof *books);
    for (size_t i = 0; i < n; i++) {
        books[i] = in[i];
        char isbn[14];
        if (in[i].isbn && book_isbn_normalize(in[i].isbn, isbn, e) != 0) {
            return err_wrap(e, "book %zu", i);
        }
        if (in[i].isbn) books[i].isbn = arena_strdup(r->arena, isbn);
        keys[i] = repo_book_natural_key(r->arena, &books[i], work_keys ? work_keys[i] : NULL);
        if (keys[i] == NULL) {
            return err_set(e, ERR_BAD_INPUT, "book %zu: neither an ISBN nor a work key", i);
        }
    }
    size_t u;
    const char **uniq = repo__distinct(r, keys, n, &u);
    load__books_t ctx = {r, arena_calloc(r->arena, u, sizeof(load__existing_t)), u};
    for (size_t i = 0; i < u; i++) ctx.ex[i].key = uniq[i];
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    repo__append_in(&filter, "nkey", uniq, u);
    BSON_APPEND_INT64(&opts, "batchSize", (int64_t)u);
    int rc = store_find(r->store, REPO_BOOKS, &filter, &opts, load__book_cb, &ctx, e);
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (rc != 0) return -1;

    bool *done = arena_calloc(r->arena, u, sizeof *done);
    const char **changed = arena_alloc(r->arena, n * sizeof *changed);
    size_t nchanged = 0;
    store_bulk_t *b = store_bulk_new(r->store, REPO_BOOKS);
    int64_t now = repo__now_ms();
    for (size_t i = 0; i < n; i++) {
        load__existing_t *x = load__lookup(&ctx, keys[i]);
        size_t xi = (size_t)(x - ctx.ex);
        if (done[xi]) {
            c->duplicates++;
            continue;
        }
        done[xi] = true;
        bson_t q = BSON_INITIALIZER, upd = BSON_INITIALIZER;
        if (x->book == NULL) {
            book_t nb = books[i];
            nb.id = repo__new_id(r);
            nb.version = 1;
            nb.created_at = nb.updated_at = now;
            bson_t doc = BSON_INITIALIZER;
            book_to_bson(&nb, &doc);
            BSON_APPEND_UTF8(&doc, "nkey", keys[i]);
            load__insert_if_absent(b, "nkey", keys[i], &doc);
            bson_destroy(&doc);
            changed[nchanged++] = keys[i];
        } else if (!load__same(x->book, &books[i])) {
            changed[nchanged++] = keys[i];
            bson_t set = BSON_INITIALIZER, unset = BSON_INITIALIZER;
            book_patch_append(&books[i], LOAD__BOOK_FIELDS, &set, &unset);
            repo__update_doc(&upd, &set, &unset, now);
            /* Only the version we compared against: a concurrent edit wins. */
            BSON_APPEND_UTF8(&q, "_id", x->book->id);
            BSON_APPEND_INT64(&q, "version", x->book->version);
            store_bulk_update_one(b, &q, &upd, false);
            bson_destroy(&set);
            bson_destroy(&unset);
        } else {
            c->unchanged++;
        }
        bson_destroy(&q);
        bson_destroy(&upd);
    }
    store_bulk_result_t res;
    if (store_bulk_run(b, &res, NULL, e) != 0) return -1;
    c->inserted = res.upserted;
    c->modified = res.modified;
    if (r->cache && nchanged > REPO_PAGE_MAX) {
        err_t e2; /* too many to put one by one: start a new cache epoch */
        cache_mark_dirty(r->cache);
        cache_purge(r->cache, CACHE_BOOKS, NULL, &e2);
    } else if (r->cache && nchanged) {
        load__cache_books(r, changed, nchanged);
    }
    return 0;
}

/* ---- fruit */

int repo_fruit_seed(repo_t *r, fruit_kind_t kind, const fruit_t *in, size_t n,
                    repo_upsert_counts_t *c, err_t *e)
{
    memset(c, 0, sizeof *c);
    store_bulk_t *b = store_bulk_new(r->store, fruit_kind_collection(kind));
    int64_t now = repo__now_ms();
    for (size_t i = 0; i < n; i++) {
        if (fruit_validate(&in[i], MODEL_ALL, e) != 0 || repo__check_id(in[i].id, "id", e) != 0) {
            store_bulk_free(b); /* all or nothing: what was added is not run */
            return err_wrap(e, "fruit %zu", i);
        }
        fruit_t f = in[i];
        f.kind = kind;
        f.version = 1;
        f.created_at = f.updated_at = now;
        bson_t doc = BSON_INITIALIZER;
        fruit_to_bson(&f, &doc);
        load__insert_if_absent(b, "_id", f.id, &doc);
        bson_destroy(&doc);
    }
    store_bulk_result_t res;
    if (store_bulk_run(b, &res, NULL, e) != 0) return -1;
    c->inserted = res.upserted;
    c->unchanged = (int64_t)n - res.upserted;
    if (r->cache && res.upserted) {
        /* Seeded fruit into the cache (their ids may be cached as unknown). */
        const char **ids = arena_alloc(r->arena, n * sizeof *ids);
        for (size_t i = 0; i < n; i++) ids[i] = in[i].id;
        void **got = arena_alloc(r->arena, n * sizeof *got);
        err_t e2;
        if (n <= REPO_PAGE_MAX && repo__get_many(r, fruit_kind_collection(kind), ids, n,
                                                 repo__parse_fruit, &kind, got, &e2) == 0) {
            for (size_t i = 0; i < n; i++) repo__cache_put(r, kind_of_fruit(kind), got[i]);
        } else { /* too many (or unreadable): start a new cache epoch */
            cache_mark_dirty(r->cache);
            cache_purge(r->cache, kind_of_fruit(kind), NULL, &e2);
        }
    }
    return 0;
}
