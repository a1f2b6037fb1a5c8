/*
 * repo_book.c — books: reads, writes with the bookstore FK, and the batch
 * "bookstore of each book" lookup (see repo.h for the FK protocol).
 *
 * Stored books carry one field the API does not show: `nkey`, the natural
 * key with a unique index — "isbn:<isbn>", else "ol:<work key>" (ingested
 * books), else "id:<_id>" — so one ISBN is one book and ingestion can
 * upsert by it.
 */
#include "repo_int.h"

#include <cjson/cJSON.h>
#include <string.h>

static const char *book__nkey(repo_t *r, const char *isbn, const char *id)
{
    return isbn ? arena_printf(r->arena, "isbn:%s", isbn) : arena_printf(r->arena, "id:%s", id);
}

/* ---- the FK check: the store exists and is not being deleted */

typedef struct {
    bool found, deleting;
} book__store_state_t;

static int book__store_state_cb(void *ctx, const bson_t *doc, err_t *e)
{
    (void)e;
    book__store_state_t *st = ctx;
    bson_iter_t it;
    st->found = true;
    st->deleting = bson_iter_init_find(&it, doc, "deleting") && bson_iter_as_bool(&it);
    return 0;
}

static int book__check_store(repo_t *r, const char *store_id, err_t *e)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, proj;
    BSON_APPEND_UTF8(&filter, "_id", store_id);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
    BSON_APPEND_INT32(&proj, "deleting", 1);
    bson_append_document_end(&opts, &proj);
    BSON_APPEND_INT32(&opts, "limit", 1);
    book__store_state_t st = {false, false};
    int rc = store_find(r->store, REPO_BOOKSTORES, &filter, &opts, book__store_state_cb, &st, e);
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (rc != 0) return -1;
    if (!st.found) {
        return err_set(e, ERR_FK, "bookstoreId: there is no bookstore %s", store_id);
    }
    if (st.deleting) {
        return err_set(e, ERR_FK, "bookstoreId: bookstore %s is being deleted", store_id);
    }
    return 0;
}

/* A duplicate nkey: say which book already has the ISBN. */
static int book__isbn_taken(repo_t *r, const char *isbn, err_t *e)
{
    if (isbn == NULL) return err_set(e, ERR_INTERNAL, "book: duplicate natural key without ISBN");
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "nkey", arena_printf(r->arena, "isbn:%s", isbn));
    void *other = NULL;
    err_t e2;
    repo__find_one(r, REPO_BOOKS, &filter, repo__parse_book, NULL, &other, &e2);
    bson_destroy(&filter);
    return err_set(e, ERR_BAD_INPUT, "isbn: a book with ISBN %s already exists (id %s)", isbn,
                   other ? ((book_t *)other)->id : "unknown");
}

/* ---- write-behind checks (answered before the write is queued) */

/* The store exists as the cache (else MongoDB) sees it: a store created or
 * deleted by a queued write counts. */
static int book__store_exists(repo_t *r, const char *store_id, err_t *e)
{
    void *s =
        NULL; /* as repo_bookstore_get, which repo_bookstore.c (the caller of this file) owns */
    if (repo__cached_get_many(r, CACHE_BOOKSTORES, &store_id, 1, &s, e) != 0) return -1;
    return s ? 0 : err_set(e, ERR_FK, "bookstoreId: there is no bookstore %s", store_id);
}

/* No other book in MongoDB has the ISBN (queued writes are not seen: the
 * unique index refuses such a write later, and it is dead-lettered). */
static int book__isbn_free(repo_t *r, const char *isbn, const char *self, err_t *e)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "nkey", arena_printf(r->arena, "isbn:%s", isbn));
    void *other = NULL;
    int rc = repo__find_one(r, REPO_BOOKS, &filter, repo__parse_book, NULL, &other, e);
    bson_destroy(&filter);
    if (rc != 0) return -1;
    if (other && (self == NULL || strcmp(((book_t *)other)->id, self) != 0)) {
        return err_set(e, ERR_BAD_INPUT, "isbn: a book with ISBN %s already exists (id %s)", isbn,
                       ((book_t *)other)->id);
    }
    return 0;
}

typedef struct {
    const book_t *p;
    model_mask_t mask;
} book__patch_t;

static void *book__next(repo_t *r, const void *cur, const void *ctx, err_t *e)
{
    const book__patch_t *c = ctx;
    const book_t *old = cur;
    book_t *nx = arena_alloc(r->arena, sizeof *nx);
    *nx = *old;
    book_patch_apply(nx, c->p, c->mask);
    if ((c->mask & MODEL_BIT(BOOK_F_BOOKSTORE_ID)) &&
        strcmp(old->bookstore_id, nx->bookstore_id) != 0 &&
        book__store_exists(r, nx->bookstore_id, e) != 0) {
        return NULL;
    }
    if ((c->mask & MODEL_BIT(BOOK_F_ISBN)) && nx->isbn &&
        book__isbn_free(r, nx->isbn, nx->id, e) != 0) {
        return NULL;
    }
    return nx;
}

static const char *book__norm_isbn(repo_t *r, const char *isbn)
{
    char n[14];
    if (isbn == NULL || book_isbn_normalize(isbn, n, NULL) != 0) return isbn;
    return arena_strdup(r->arena, n);
}

/* ---- reads */

int repo_book_get(repo_t *r, const char *id, book_t **out, err_t *e)
{
    return repo__cached_get_many(r, CACHE_BOOKS, &id, 1, (void **)out, e);
}

/* The books among a set of ids, sorted by id (the `books` batch's order). */
static int book__run_ids(repo_t *r, const void *arg, long long limit, repo__batch_t *out, err_t *e)
{
    (void)limit;
    const repo__idset_t *s = arg;
    size_t u;
    const char **uniq = repo__distinct(r, s->ids, s->n, &u);
    void **got = arena_alloc(r->arena, (u ? u : 1) * sizeof *got);
    if (repo__get_many(r, REPO_BOOKS, uniq, u, repo__parse_book, NULL, got, e) != 0) return -1;
    out->recs = got;
    out->kinds = arena_alloc(r->arena, (u ? u : 1) * sizeof *out->kinds);
    out->n = 0;
    for (size_t i = 0; i < u; i++) {
        if (got[i] == NULL) continue;
        out->kinds[out->n] = CACHE_BOOKS;
        got[out->n++] = got[i];
    }
    return 0;
}

/* An id set from the normalized argument `name` (a list of strings). */
static const void *book__idset_of(arena_t *a, const cJSON *args, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    size_t n = (size_t)(cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0);
    const char **ids = arena_alloc(a, (n ? n : 1) * sizeof *ids);
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        if (cJSON_IsString(it)) ids[i++] = arena_strdup(a, it->valuestring);
    }
    repo__idset_t *s = arena_alloc(a, sizeof *s);
    *s = (repo__idset_t){ids, i};
    return s;
}

static const void *book__ids_arg(arena_t *a, const cJSON *args, long long limit)
{
    (void)limit;
    return book__idset_of(a, args, "ids");
}

const repo__query_t repo__q_books = {
    .name = "books", .run = book__run_ids, .arg_of = book__ids_arg};

int repo_books_get_many(repo_t *r, const char *const *ids, size_t n, book_t **out, err_t *e)
{
    if (n < 2 || r->cache == NULL || !repo__ids_ok(ids, n)) {
        return repo__cached_get_many(r, CACHE_BOOKS, ids, n, (void **)out, e);
    }
    /* The cached `books(ids)` batch: one round trip when cached. */
    repo__idset_t s = {ids, n};
    repo__batch_t b = {0};
    if (repo__cached_batch(r, &repo__q_books, repo__ids_json(r, "ids", ids, n), -1, &s, &b, e) !=
        0) {
        return -1;
    }
    repo__by_id(r, b.recs, b.n, ids, n, (void **)out, NULL);
    return 0;
}

/* ---- writes */

int repo_book_create(repo_t *r, const book_t *in, book_t **out, err_t *e)
{
    *out = NULL;
    if (book_validate(in, MODEL_ALL, e) != 0) return -1;
    book_t *b = arena_alloc(r->arena, sizeof *b);
    *b = *in;
    b->isbn = book__norm_isbn(r, in->isbn);
    if (repo__behind(r)) {
        if (book__store_exists(r, b->bookstore_id, e) != 0) return -1;
        if (b->isbn && book__isbn_free(r, b->isbn, NULL, e) != 0) return -1;
        b->id = repo__new_id(r);
        b->version = 1;
        b->created_at = b->updated_at = repo__now_ms();
        if (repo__behind_create(r, CACHE_BOOKS, b, e) != 0) return -1;
        *out = b;
        return 0;
    }
    if (book__check_store(r, b->bookstore_id, e) != 0) return -1;
    b->id = repo__new_id(r);
    b->version = 1;
    b->created_at = b->updated_at = repo__now_ms();
    bson_t doc = BSON_INITIALIZER;
    book_to_bson(b, &doc);
    BSON_APPEND_UTF8(&doc, "nkey", book__nkey(r, b->isbn, b->id));
    bool dup = false;
    int rc = store_insert_one(r->store, REPO_BOOKS, &doc, &dup, e);
    bson_destroy(&doc);
    /* A new id is cached nowhere, but the store's cached book list is. */
    if (rc != 0) {
        return dup ? book__isbn_taken(r, b->isbn, e)
                   : repo__write_failed(r, CACHE_BOOKS, &b->id, 1, e);
    }
    /* Written first, checked second: a concurrent delete of the store either
     * sees this book or is seen here (repo.h). */
    if (book__check_store(r, b->bookstore_id, e) != 0) {
        bson_t f = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&f, "_id", b->id);
        err_t e2;
        /* Not taken back for sure: the book may stay, unseen by cached lists. */
        if (store_delete_one(r->store, REPO_BOOKS, &f, NULL, &e2) != 0) {
            repo__cache_unknown(r, CACHE_BOOKS, &b->id, 1);
        }
        bson_destroy(&f);
        return -1;
    }
    repo__cache_put(r, CACHE_BOOKS, b);
    *out = b;
    return 0;
}

#define BOOK__WRITABLE                                                                             \
    (MODEL_BIT(BOOK_F_ISBN) | MODEL_BIT(BOOK_F_TITLE) | MODEL_BIT(BOOK_F_AUTHORS) |                \
     MODEL_BIT(BOOK_F_YEAR) | MODEL_BIT(BOOK_F_PRICE) | MODEL_BIT(BOOK_F_BOOKSTORE_ID))

int repo_book_update(repo_t *r, const char *id, const book_t *patch, model_mask_t mask,
                     book_t **out, err_t *e)
{
    *out = NULL;
    if (repo__check_id(id, "id", e) != 0) return -1;
    mask &= BOOK__WRITABLE;
    if (book_validate(patch, mask, e) != 0) return -1;
    book_t p = *patch;
    p.isbn = book__norm_isbn(r, patch->isbn);
    if (repo__behind(r) && mask != 0) {
        book__patch_t ctx = {&p, mask};
        return repo__behind_update(r, CACHE_BOOKS, id, book__next, &ctx, (void **)out, e);
    }
    bool moving = mask & MODEL_BIT(BOOK_F_BOOKSTORE_ID);
    book_t *old = NULL;
    if (moving) {
        if (repo_book_get(r, id, &old, e) != 0) return -1;
        if (old == NULL) return err_set(e, ERR_NOT_FOUND, "book %s not found", id);
        if (book__check_store(r, p.bookstore_id, e) != 0) return -1;
    }
    if (mask == 0) {
        if (repo_book_get(r, id, out, e) != 0) return -1;
        return *out ? 0 : err_set(e, ERR_NOT_FOUND, "book %s not found", id);
    }
    bson_t set = BSON_INITIALIZER, unset = BSON_INITIALIZER, update = BSON_INITIALIZER;
    bson_t query = BSON_INITIALIZER;
    book_patch_append(&p, mask, &set, &unset);
    if (mask & MODEL_BIT(BOOK_F_ISBN)) BSON_APPEND_UTF8(&set, "nkey", book__nkey(r, p.isbn, id));
    repo__update_doc(&update, &set, &unset, repo__now_ms());
    BSON_APPEND_UTF8(&query, "_id", id);
    bool dup = false;
    int rc = repo__modify(r, REPO_BOOKS, "book", id, &query, &update, repo__parse_book, NULL,
                          (void **)out, &dup, e);
    bson_destroy(&set);
    bson_destroy(&unset);
    bson_destroy(&update);
    bson_destroy(&query);
    if (rc != 0) {
        return dup ? book__isbn_taken(r, p.isbn, e) : repo__write_failed(r, CACHE_BOOKS, &id, 1, e);
    }
    if (moving && book__check_store(r, p.bookstore_id, e) != 0) {
        /* The store went away meanwhile: put the book back where it was,
         * unless someone moved it again since. */
        bson_t q = BSON_INITIALIZER, s2 = BSON_INITIALIZER, u = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&q, "_id", id);
        BSON_APPEND_UTF8(&q, "bookstore_id", p.bookstore_id);
        BSON_APPEND_UTF8(&s2, "bookstore_id", old->bookstore_id);
        repo__update_doc(&u, &s2, NULL, repo__now_ms());
        err_t e2;
        int64_t m;
        store_update_many(r->store, REPO_BOOKS, &q, &u, &m, NULL, &e2);
        bson_destroy(&q);
        bson_destroy(&s2);
        bson_destroy(&u);
        /* A reader may have cached the moved version meanwhile: cache what
         * MongoDB holds now (the revert is a newer version). */
        void *now = NULL;
        if (r->cache &&
            repo__get_many(r, REPO_BOOKS, &id, 1, repo__parse_book, NULL, &now, &e2) == 0 && now) {
            repo__cache_put(r, CACHE_BOOKS, now);
        } else {
            repo__cache_unknown(r, CACHE_BOOKS, &id, 1); /* moved, reverted or not: unknown */
        }
        *out = NULL;
        return -1;
    }
    repo__cache_put(r, CACHE_BOOKS, *out);
    return 0;
}

int repo_book_move(repo_t *r, const char *id, const char *bookstore_id, book_t **out, err_t *e)
{
    book_t p = {0};
    p.bookstore_id = bookstore_id;
    return repo_book_update(r, id, &p, MODEL_BIT(BOOK_F_BOOKSTORE_ID), out, e);
}

int repo_book_delete(repo_t *r, const char *id, err_t *e)
{
    if (repo__check_id(id, "id", e) != 0) return -1;
    if (repo__behind(r)) return repo__behind_delete(r, CACHE_BOOKS, id, e);
    bson_t f = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&f, "_id", id);
    /* findAndModify remove: one command, and it tells the deleted version
     * (the cache's tombstone is that version + 1). */
    void *gone = NULL;
    int rc =
        repo__modify(r, REPO_BOOKS, "book", id, &f, NULL, repo__parse_book, NULL, &gone, NULL, e);
    bson_destroy(&f);
    if (rc != 0) return repo__write_failed(r, CACHE_BOOKS, &id, 1, e);
    repo__cache_del(r, CACHE_BOOKS, id, ((book_t *)gone)->version + 1);
    return 0;
}

/* ---- the batch FK lookup */

/* The bookstores of a batch's books (joins[i] still NULL): one `$in`. */
static int book__join_stores(repo_t *r, repo__batch_t *b, err_t *e)
{
    const char **sids = arena_alloc(r->arena, (b->n ? b->n : 1) * sizeof *sids);
    size_t *at = arena_alloc(r->arena, (b->n ? b->n : 1) * sizeof *at);
    size_t ns = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (b->joins[i] == NULL) {
            at[ns] = i;
            sids[ns++] = ((book_t *)b->recs[i])->bookstore_id;
        }
    }
    if (ns == 0) return 0;
    void **stores = arena_alloc(r->arena, ns * sizeof *stores);
    if (repo__get_many(r, REPO_BOOKSTORES, sids, ns, repo__parse_bookstore, NULL, stores, e) != 0) {
        return -1;
    }
    for (size_t j = 0; j < ns; j++) b->joins[at[j]] = stores[j];
    return 0;
}

static const void *book__book_ids_arg(arena_t *a, const cJSON *args, long long limit)
{
    (void)limit;
    return book__idset_of(a, args, "bookIds");
}

const repo__query_t repo__q_bookstores_for_books = {
    .name = "bookstoresForBooks",
    .run = book__run_ids,
    .join = book__join_stores,
    .join_kind = CACHE_BOOKSTORES,
    .arg_of = book__book_ids_arg,
};

int repo_bookstores_for_books(repo_t *r, const char *const *ids, size_t n, repo_book_store_t *out,
                              err_t *e)
{
    if (n > REPO_BATCH_MAX) {
        return err_set(e, ERR_BAD_INPUT, "ids: %zu given, at most %d per call", n, REPO_BATCH_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == NULL) return err_set(e, ERR_BAD_INPUT, "ids[%zu]: null", i);
    }
    book_t **books = arena_calloc(r->arena, n ? n : 1, sizeof *books);
    bookstore_t **stores = arena_calloc(r->arena, n ? n : 1, sizeof *stores);
    if (n) {
        /* The cached `bookstoresForBooks` batch: the books and, joined in the
         * same round trip, their stores. Cold: one query each. */
        repo__idset_t s = {ids, n};
        repo__batch_t b;
        if (repo__cached_batch(r, &repo__q_bookstores_for_books,
                               repo__ids_json(r, "bookIds", ids, n), -1, &s, &b, e) != 0) {
            return -1;
        }
        size_t *at = arena_alloc(r->arena, n * sizeof *at);
        repo__by_id(r, b.recs, b.n, ids, n, (void **)books, at);
        for (size_t i = 0; i < n; i++) {
            if (books[i]) stores[i] = b.joins[at[i]];
        }
    }
    for (size_t i = 0; i < n; i++) {
        repo_book_store_t *o = &out[i];
        memset(o, 0, sizeof *o);
        o->book_id = ids[i];
        o->book = books[i];
        if (books[i] == NULL) {
            o->code = ERR_NOT_FOUND;
            o->message = arena_printf(r->arena, "book %s not found", ids[i]);
            continue;
        }
        o->bookstore = stores[i];
        if (o->bookstore == NULL || strcmp(o->bookstore->id, books[i]->bookstore_id) != 0) {
            o->bookstore = NULL;
            o->code = ERR_FK;
            o->message =
                arena_printf(r->arena, "book %s points at bookstore %s, which does not exist",
                             ids[i], books[i]->bookstore_id);
        }
    }
    return 0;
}
