/*
 * repo_bookstore.c — bookstores: unique normalized names, deletion with the
 * books check or reassignment, book counts and pages (see repo.h), and the
 * MongoDB half of three cached queries (cache_query.c): `bookstoreBooks` (a
 * store's books: its pages and bookCount), `bookstores` (every store: the
 * connection's pages) and `bookstoreByName` (a normalized name's store).
 *
 * Stored bookstores may carry `deleting: true` while a delete is under way
 * (repo.h): book writes refuse such a store, reads ignore the mark.
 */
#include "repo_int.h"

#include "namekey.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int repo_bookstore_get(repo_t *r, const char *id, bookstore_t **out, err_t *e)
{
    return repo_bookstores_get_many(r, &id, 1, out, e);
}

int repo_bookstores_get_many(repo_t *r, const char *const *ids, size_t n, bookstore_t **out,
                             err_t *e)
{
    return repo__cached_get_many(r, CACHE_BOOKSTORES, ids, n, (void **)out, e);
}

/* The key of name, copied into the arena. */
static const char *bookstore__key(repo_t *r, const char *name, err_t *e)
{
    char *k;
    if (namekey_make(name, strlen(name), "name", &k, e) != 0) return NULL;
    const char *a = arena_strdup(r->arena, k);
    free(k);
    return a;
}

static int bookstore__find_by_key(repo_t *r, const char *key, bookstore_t **out, err_t *e)
{
    bson_t f = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&f, "name_key", key);
    int rc = repo__find_one(r, REPO_BOOKSTORES, &f, repo__parse_bookstore, NULL, (void **)out, e);
    bson_destroy(&f);
    return rc;
}

/* The `bookstoreByName` batch (cache_query.c): the stores whose name_key
 * is the argument, 0 or 1 of them (the unique index). */
static int bookstore__run_by_name(repo_t *r, const void *arg, long long limit, repo__batch_t *out,
                                  err_t *e)
{
    (void)limit;
    bookstore_t *s = NULL;
    if (bookstore__find_by_key(r, arg, &s, e) != 0) return -1;
    out->recs = arena_alloc(r->arena, sizeof *out->recs);
    out->kinds = arena_alloc(r->arena, sizeof *out->kinds);
    out->recs[0] = s;
    out->kinds[0] = CACHE_BOOKSTORES;
    out->n = s ? 1 : 0;
    return 0;
}

/* The one string argument `name` of a batch's arguments ("" when absent). */
static const void *bookstore__string_arg(arena_t *a, const cJSON *args, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    return cJSON_IsString(v) ? arena_strdup(a, v->valuestring) : "";
}

static const void *bookstore__by_name_arg(arena_t *a, const cJSON *args, long long limit)
{
    (void)limit;
    return bookstore__string_arg(a, args, "nameKey");
}

const repo__query_t repo__q_bookstore_by_name = {
    .name = "bookstoreByName", .run = bookstore__run_by_name, .arg_of = bookstore__by_name_arg};

/* {"<name>":"<value>"} in the arena: the arguments of a one-string batch. */
static const char *bookstore__arg_json(repo_t *r, const char *name, const char *value)
{
    buf_t a = BUF_INIT;
    buf_printf(&a, "{\"%s\":", name);
    buf_put_json_str(&a, value, strlen(value));
    buf_putc(&a, '}');
    const char *s = arena_strndup(r->arena, a.data, a.len);
    buf_free(&a);
    return s;
}

/* Through the cached `bookstoreByName` batch of the name's key: a known
 * name and an unknown one (an empty batch) alike cost one round trip when
 * cached; create, rename and delete patch the batches by reconciliation. */
int repo_bookstore_by_name(repo_t *r, const char *name, bookstore_t **out, err_t *e)
{
    *out = NULL;
    if (name == NULL) return err_set(e, ERR_BAD_INPUT, "name: required");
    const char *key = bookstore__key(r, name, e);
    if (key == NULL) return -1;
    if (r->cache == NULL) return bookstore__find_by_key(r, key, out, e);
    repo__batch_t b;
    if (repo__cached_batch(r, &repo__q_bookstore_by_name, bookstore__arg_json(r, "nameKey", key),
                           -1, key, &b, e) != 0) {
        return -1;
    }
    *out = b.n ? b.recs[0] : NULL;
    return 0;
}

/* After a duplicate name_key: BOOKSTORE_NAME_TAKEN naming the holder. */
static int bookstore__taken(repo_t *r, const char *name, const char *key, err_t *e)
{
    bookstore_t *other = NULL;
    err_t e2;
    bookstore__find_by_key(r, key, &other, &e2);
    snprintf(r->conflict_id, sizeof r->conflict_id, "%s", other ? other->id : "");
    return err_set(e, ERR_NAME_TAKEN, "name: \"%s\" is taken by bookstore %s (\"%s\")", name,
                   other ? other->id : "(unknown)", other ? other->name : key);
}

/* Write-behind: the normalized name is free in MongoDB (queued renames and
 * creates are not seen: the unique index refuses such a write later, and it
 * is dead-lettered). */
static int bookstore__name_free(repo_t *r, const char *name, const char *key, const char *self,
                                err_t *e)
{
    bookstore_t *other = NULL;
    if (bookstore__find_by_key(r, key, &other, e) != 0) return -1;
    if (other && (self == NULL || strcmp(other->id, self) != 0)) {
        snprintf(r->conflict_id, sizeof r->conflict_id, "%s", other->id);
        return err_set(e, ERR_NAME_TAKEN, "name: \"%s\" is taken by bookstore %s (\"%s\")", name,
                       other->id, other->name);
    }
    return 0;
}

typedef struct {
    const bookstore_t *p;
    model_mask_t mask;
} bookstore__patch_t;

static void *bookstore__next(repo_t *r, const void *cur, const void *ctx, err_t *e)
{
    const bookstore__patch_t *c = ctx;
    bookstore_t *nx = arena_alloc(r->arena, sizeof *nx);
    *nx = *(const bookstore_t *)cur;
    bookstore_patch_apply(nx, c->p, c->mask);
    if (c->mask & MODEL_BIT(BOOKSTORE_F_NAME)) {
        nx->name_key = c->p->name_key;
        if (bookstore__name_free(r, nx->name, nx->name_key, nx->id, e) != 0) return NULL;
    }
    return nx;
}

int repo_bookstore_create(repo_t *r, const bookstore_t *in, bookstore_t **out, err_t *e)
{
    *out = NULL;
    if (bookstore_validate(in, MODEL_ALL, e) != 0) return -1;
    bookstore_t *s = arena_alloc(r->arena, sizeof *s);
    *s = *in;
    if ((s->name_key = bookstore__key(r, in->name, e)) == NULL) return -1;
    s->id = repo__new_id(r);
    s->version = 1;
    s->created_at = s->updated_at = repo__now_ms();
    if (repo__behind(r)) {
        if (bookstore__name_free(r, s->name, s->name_key, NULL, e) != 0 ||
            repo__behind_create(r, CACHE_BOOKSTORES, s, e) != 0) {
            return -1;
        }
        *out = s;
        return 0;
    }
    bson_t doc = BSON_INITIALIZER;
    bookstore_to_bson(s, &doc);
    bool dup = false;
    /* No read first: the unique index on name_key decides, so of two
     * concurrent creates of one name exactly one succeeds. */
    int rc = store_insert_one(r->store, REPO_BOOKSTORES, &doc, &dup, e);
    bson_destroy(&doc);
    if (rc != 0) {
        return dup ? bookstore__taken(r, in->name, s->name_key, e)
                   : repo__write_failed(r, CACHE_BOOKSTORES, &s->id, 1, e);
    }
    repo__cache_put(r, CACHE_BOOKSTORES, s);
    *out = s;
    return 0;
}

int repo_bookstore_update(repo_t *r, const char *id, const bookstore_t *patch, model_mask_t mask,
                          bookstore_t **out, err_t *e)
{
    *out = NULL;
    if (repo__check_id(id, "id", e) != 0) return -1;
    mask &= MODEL_BIT(BOOKSTORE_F_NAME) | MODEL_BIT(BOOKSTORE_F_CITY);
    if (bookstore_validate(patch, mask, e) != 0) return -1;
    if (mask == 0) {
        if (repo_bookstore_get(r, id, out, e) != 0) return -1;
        return *out ? 0 : err_set(e, ERR_NOT_FOUND, "bookstore %s not found", id);
    }
    bookstore_t p = *patch;
    if (mask & MODEL_BIT(BOOKSTORE_F_NAME)) {
        if ((p.name_key = bookstore__key(r, patch->name, e)) == NULL) return -1;
    }
    if (repo__behind(r)) {
        bookstore__patch_t ctx = {&p, mask};
        return repo__behind_update(r, CACHE_BOOKSTORES, id, bookstore__next, &ctx, (void **)out, e);
    }
    bson_t set = BSON_INITIALIZER, unset = BSON_INITIALIZER, update = BSON_INITIALIZER;
    bson_t query = BSON_INITIALIZER;
    bookstore_patch_append(&p, mask, &set, &unset);
    if (mask & MODEL_BIT(BOOKSTORE_F_NAME)) BSON_APPEND_UTF8(&set, "name_key", p.name_key);
    repo__update_doc(&update, &set, &unset, repo__now_ms());
    BSON_APPEND_UTF8(&query, "_id", id);
    bool dup = false;
    int rc = repo__modify(r, REPO_BOOKSTORES, "bookstore", id, &query, &update,
                          repo__parse_bookstore, NULL, (void **)out, &dup, e);
    bson_destroy(&set);
    bson_destroy(&unset);
    bson_destroy(&update);
    bson_destroy(&query);
    if (rc != 0) {
        return dup ? bookstore__taken(r, patch->name, p.name_key, e)
                   : repo__write_failed(r, CACHE_BOOKSTORES, &id, 1, e);
    }
    repo__cache_put(r, CACHE_BOOKSTORES, *out);
    return 0;
}

/* ---- deletion */

static int bookstore__count_books(repo_t *r, const char *id, int64_t *n, err_t *e)
{
    bson_t f = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&f, "bookstore_id", id);
    int rc = store_count(r->store, REPO_BOOKS, &f, 0, n, e);
    bson_destroy(&f);
    return rc;
}

/* Sets or clears the `deleting` mark (not a visible change: no version bump). */
static int bookstore__mark(repo_t *r, const char *id, bool on, err_t *e)
{
    bson_t q = BSON_INITIALIZER, u = BSON_INITIALIZER, s;
    BSON_APPEND_UTF8(&q, "_id", id);
    BSON_APPEND_DOCUMENT_BEGIN(&u, on ? "$set" : "$unset", &s);
    if (on) {
        BSON_APPEND_BOOL(&s, "deleting", true);
    } else {
        BSON_APPEND_UTF8(&s, "deleting", "");
    }
    bson_append_document_end(&u, &s);
    int rc = store_update_many(r->store, REPO_BOOKSTORES, &q, &u, NULL, NULL, e);
    bson_destroy(&q);
    bson_destroy(&u);
    return rc;
}

/* Moves every book of `from` to `to` (version + 1 each). With a cache, the
 * books to move are listed first and only those are moved, then read back
 * and put, so every cached copy and list (both stores') is patched. */
static int bookstore__move_chunk(repo_t *r, const char *from, const char *to, size_t *moved_n,
                                 err_t *e)
{
    *moved_n = 0;
    bson_t q = BSON_INITIALIZER, set = BSON_INITIALIZER, u = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&q, "bookstore_id", from);
    const char **ids = NULL;
    size_t n = 0;
    if (r->cache) {
        repo_page_t all;
        int rc =
            repo__page(r, REPO_BOOKS, &q, REPO_PAGE_MAX, NULL, repo__parse_book, NULL, &all, e);
        if (rc != 0) {
            bson_destroy(&q);
            return -1;
        }
        n = all.n;
        ids = arena_alloc(r->arena, (n ? n : 1) * sizeof *ids);
        for (size_t i = 0; i < n; i++) ids[i] = ((book_t *)all.items[i])->id;
        if (n) repo__append_in(&q, "_id", ids, n);
    }
    BSON_APPEND_UTF8(&set, "bookstore_id", to);
    repo__update_doc(&u, &set, NULL, repo__now_ms());
    int rc =
        r->cache && n == 0 ? 0 : store_update_many(r->store, REPO_BOOKS, &q, &u, NULL, NULL, e);
    bson_destroy(&q);
    bson_destroy(&set);
    bson_destroy(&u);
    if (rc != 0) {
        /* Some of the listed books may have moved (reply lost). */
        repo__write_failed(r, CACHE_BOOKS, ids, n, e);
        return -1;
    }
    if (n == 0) return 0;
    *moved_n = n;
    void **moved = arena_alloc(r->arena, n * sizeof *moved);
    err_t e2;
    if (repo__get_many(r, REPO_BOOKS, ids, n, repo__parse_book, NULL, moved, &e2) != 0) {
        /* MongoDB took the move but we cannot read it back: drop the cached
         * books (and every cached list of books). */
        repo__cache_unknown(r, CACHE_BOOKS, ids, n);
        return 0;
    }
    for (size_t i = 0; i < n; i++) repo__cache_put(r, CACHE_BOOKS, moved[i]);
    return 0;
}

static int bookstore__move_books(repo_t *r, const char *from, const char *to, err_t *e)
{
    size_t n;
    do {
        if (bookstore__move_chunk(r, from, to, &n, e) != 0) return -1;
    } while (r->cache && n == REPO_PAGE_MAX);
    return 0;
}

/* The reassignment target exists and is not itself being deleted. */
static int bookstore__check_target(repo_t *r, const char *to, err_t *e)
{
    bson_t f = BSON_INITIALIZER, ne;
    BSON_APPEND_UTF8(&f, "_id", to);
    BSON_APPEND_DOCUMENT_BEGIN(&f, "deleting", &ne);
    BSON_APPEND_BOOL(&ne, "$ne", true);
    bson_append_document_end(&f, &ne);
    int64_t n = 0;
    int rc = store_count(r->store, REPO_BOOKSTORES, &f, 1, &n, e);
    bson_destroy(&f);
    if (rc != 0) return -1;
    return n ? 0
             : err_set(e, ERR_FK, "reassignTo: there is no bookstore %s (or it is being deleted)",
                       to);
}

static int bookstore__books(repo_t *r, const char *id, repo__batch_t *b, err_t *e);

/* Write-behind delete: the store's books as the cache (else MongoDB) lists
 * them are refused or moved (each a queued book write), then the store's
 * delete is queued. Weaker than write-through: a book write into the store
 * still queued while its list is not cached is not seen (the book is then
 * left pointing at a deleted store: bookstoresForBooks reports it as
 * FOREIGN_KEY_VIOLATION). */
static int bookstore__delete_behind(repo_t *r, const char *id, const char *reassign_to, err_t *e)
{
    if (reassign_to) {
        bookstore_t *to = NULL;
        if (repo_bookstore_get(r, reassign_to, &to, e) != 0) return -1;
        if (to == NULL) {
            return err_set(e, ERR_FK, "reassignTo: there is no bookstore %s", reassign_to);
        }
    }
    for (int round = 0; round < 5; round++) {
        repo__batch_t b;
        if (bookstore__books(r, id, &b, e) != 0) return -1;
        if (b.n == 0) return repo__behind_delete(r, CACHE_BOOKSTORES, id, e);
        if (reassign_to == NULL) {
            return err_set(e, ERR_HAS_BOOKS,
                           "bookstore %s still has %zu book(s): move them, or delete with "
                           "reassignTo naming the store that takes them",
                           id, b.n);
        }
        for (size_t i = 0; i < b.n; i++) {
            book_t *moved;
            if (repo_book_move(r, ((book_t *)b.recs[i])->id, reassign_to, &moved, e) != 0 &&
                e->code != ERR_NOT_FOUND) {
                return -1;
            }
        }
    }
    return err_set(e, ERR_UNAVAILABLE,
                   "bookstore %s: books keep arriving while reassigning; try again", id);
}

int repo_bookstore_delete(repo_t *r, const char *id, const char *reassign_to, err_t *e)
{
    if (repo__check_id(id, "id", e) != 0) return -1;
    if (reassign_to && repo__check_id(reassign_to, "reassignTo", e) != 0) return -1;
    if (reassign_to && strcmp(reassign_to, id) == 0) {
        return err_set(e, ERR_BAD_INPUT, "reassignTo: cannot be the bookstore being deleted");
    }
    bookstore_t *s;
    if (repo_bookstore_get(r, id, &s, e) != 0) return -1;
    if (s == NULL) return err_set(e, ERR_NOT_FOUND, "bookstore %s not found", id);
    if (repo__behind(r)) return bookstore__delete_behind(r, id, reassign_to, e);
    if (reassign_to && bookstore__check_target(r, reassign_to, e) != 0) return -1;
    /* Mark first, then look at the books: a concurrent book write into this
     * store either is seen below or sees the mark and undoes itself. */
    if (bookstore__mark(r, id, true, e) != 0) return -1;
    err_t e2;
    int64_t n = 0;
    for (int round = 0;; round++) {
        if (bookstore__count_books(r, id, &n, e) != 0) return -1;
        if (n == 0) break;
        if (reassign_to == NULL) {
            bookstore__mark(r, id, false, &e2);
            return err_set(e, ERR_HAS_BOOKS,
                           "bookstore %s still has %lld book(s): move them, or delete with "
                           "reassignTo naming the store that takes them",
                           id, (long long)n);
        }
        if (round == 5) {
            return err_set(e, ERR_UNAVAILABLE,
                           "bookstore %s: books keep arriving while reassigning; try again", id);
        }
        if (bookstore__move_books(r, id, reassign_to, e) != 0) return -1;
        if (bookstore__check_target(r, reassign_to, e) != 0) {
            /* The target vanished meanwhile: bring its books here, where a
             * store still exists, and give up. */
            bookstore__move_books(r, reassign_to, id, &e2);
            bookstore__mark(r, id, false, &e2);
            return -1;
        }
    }
    bson_t f = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&f, "_id", id);
    void *gone = NULL;
    int rc = repo__modify(r, REPO_BOOKSTORES, "bookstore", id, &f, NULL, repo__parse_bookstore,
                          NULL, &gone, NULL, e);
    bson_destroy(&f);
    if (rc != 0) return repo__write_failed(r, CACHE_BOOKSTORES, &id, 1, e);
    repo__cache_del(r, CACHE_BOOKSTORES, id, ((bookstore_t *)gone)->version + 1);
    return 0;
}

/* ---- counts and pages */

typedef struct {
    const char *const *ids;
    size_t n;
    int64_t *counts;
} bookstore__counts_t;

static int bookstore__count_cb(void *ctx, const bson_t *doc, err_t *e)
{
    (void)e;
    bookstore__counts_t *c = ctx;
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&it)) return 0;
    const char *id = bson_iter_utf8(&it, NULL);
    int64_t n = bson_iter_init_find(&it, doc, "n") ? bson_iter_as_int64(&it) : 0;
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->ids[i], id) == 0) c->counts[i] = n;
    }
    return 0;
}

static int bookstore__counts_mongo(repo_t *r, const char *const *ids, size_t n, int64_t *counts,
                                   err_t *e)
{
    for (size_t i = 0; i < n; i++) counts[i] = 0;
    if (n == 0) return 0;
    if (n > REPO_BATCH_MAX) {
        return err_set(e, ERR_BAD_INPUT, "ids: %zu given, at most %d per call", n, REPO_BATCH_MAX);
    }
    size_t u;
    const char **uniq = repo__distinct(r, ids, n, &u);
    bson_t pipeline = BSON_INITIALIZER, stage, match, group, sum;
    BSON_APPEND_DOCUMENT_BEGIN(&pipeline, "0", &stage);
    BSON_APPEND_DOCUMENT_BEGIN(&stage, "$match", &match);
    repo__append_in(&match, "bookstore_id", uniq, u);
    bson_append_document_end(&stage, &match);
    bson_append_document_end(&pipeline, &stage);
    BSON_APPEND_DOCUMENT_BEGIN(&pipeline, "1", &stage);
    BSON_APPEND_DOCUMENT_BEGIN(&stage, "$group", &group);
    BSON_APPEND_UTF8(&group, "_id", "$bookstore_id");
    BSON_APPEND_DOCUMENT_BEGIN(&group, "n", &sum);
    BSON_APPEND_INT32(&sum, "$sum", 1);
    bson_append_document_end(&group, &sum);
    bson_append_document_end(&stage, &group);
    bson_append_document_end(&pipeline, &stage);
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_INT64(&opts, "batchSize", (int64_t)u);
    bookstore__counts_t c = {ids, n, counts};
    int rc = store_aggregate(r->store, REPO_BOOKS, &pipeline, &opts, bookstore__count_cb, &c, e);
    bson_destroy(&pipeline);
    bson_destroy(&opts);
    return rc;
}

/* Every record of coll matching f, by id, as a batch of kind k. */
static int bookstore__run_all(repo_t *r, const char *coll, cache_kind_t k, const bson_t *f,
                              repo__parse_fn parse, repo__batch_t *out, err_t *e)
{
    if (repo__find_all(r, coll, f, parse, NULL, &out->recs, &out->n, e) != 0) return -1;
    out->kinds = arena_alloc(r->arena, (out->n ? out->n : 1) * sizeof *out->kinds);
    for (size_t i = 0; i < out->n; i++) out->kinds[i] = k;
    return 0;
}

/* The one-to-many `bookstoreBooks` batch of one store: all its books, by
 * id, whatever their number (its pages and its count come from it). */
static int bookstore__run_books(repo_t *r, const void *arg, long long limit, repo__batch_t *out,
                                err_t *e)
{
    (void)limit;
    bson_t f = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&f, "bookstore_id", (const char *)arg);
    int rc = bookstore__run_all(r, REPO_BOOKS, CACHE_BOOKS, &f, repo__parse_book, out, e);
    bson_destroy(&f);
    return rc;
}

/* The `bookstores` batch: every store, by id (the connection's pages). */
static int bookstore__run_stores(repo_t *r, const void *arg, long long limit, repo__batch_t *out,
                                 err_t *e)
{
    (void)arg;
    (void)limit;
    bson_t f = BSON_INITIALIZER;
    int rc =
        bookstore__run_all(r, REPO_BOOKSTORES, CACHE_BOOKSTORES, &f, repo__parse_bookstore, out, e);
    bson_destroy(&f);
    return rc;
}

static const void *bookstore__stores_arg(arena_t *a, const cJSON *args, long long limit)
{
    (void)a;
    (void)args;
    (void)limit;
    return NULL;
}

const repo__query_t repo__q_bookstores = {
    .name = "bookstores", .run = bookstore__run_stores, .arg_of = bookstore__stores_arg};

static const void *bookstore__books_arg(arena_t *a, const cJSON *args, long long limit)
{
    (void)limit;
    return bookstore__string_arg(a, args, "bookstoreId");
}

const repo__query_t repo__q_bookstore_books = {
    .name = "bookstoreBooks", .run = bookstore__run_books, .arg_of = bookstore__books_arg};

/* *b = the store's books through the cached `bookstoreBooks` batch. */
static int bookstore__books(repo_t *r, const char *id, repo__batch_t *b, err_t *e)
{
    memset(b, 0, sizeof *b);
    return repo__cached_batch(r, &repo__q_bookstore_books,
                              bookstore__arg_json(r, "bookstoreId", id), -1, id, b, e);
}

/* The index of id in the sorted v[0..n), or n. */
static size_t bookstore__find_sorted(const char *const *v, size_t n, const char *id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(v[mid], id);
        if (c == 0) return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return n;
}

/* The book lists of stores whose lists are not cached, read with ONE
 * MongoDB find for all of them and filled each into its `bookstoreBooks`
 * batch (the batch read before the find holds the fill token, so a write
 * that raced the find gets the fill refused). counts[i] < 0 marks the
 * stores to do; each gets its list's length. */
static int bookstore__fill_lists(repo_t *r, const char *const *ids, size_t n, int64_t *counts,
                                 err_t *e)
{
    const char **todo = arena_alloc(r->arena, (n ? n : 1) * sizeof *todo);
    size_t ntodo = 0, u;
    for (size_t i = 0; i < n; i++) {
        if (counts[i] < 0) todo[ntodo++] = ids[i];
    }
    const char **uniq = repo__distinct(r, todo, ntodo, &u);
    if (u == 0) return 0;
    cache_batch_t *cb = arena_calloc(r->arena, u, sizeof *cb);
    int *ok = arena_calloc(r->arena, u, sizeof *ok);
    size_t hits = 0;
    for (size_t i = 0; i < u; i++) {
        err_t ie;
        ok[i] = cache_batch_get(r->cache, r->arena, "bookstoreBooks",
                                bookstore__arg_json(r, "bookstoreId", uniq[i]), &cb[i], &ie) == 0;
        hits += ok[i] && cb[i].status == CACHE_HIT;
    }
    void **all = NULL;
    size_t nall = 0;
    /* A list the count op passed over can still be served (its value is
     * there, its member ZSET was evicted): no find when all of them are. */
    if (hits < u) {
        bson_t f = BSON_INITIALIZER;
        repo__append_in(&f, "bookstore_id", uniq, u);
        int rc = repo__find_all(r, REPO_BOOKS, &f, repo__parse_book, NULL, &all, &nall, e);
        bson_destroy(&f);
        if (rc != 0) return -1;
    }
    /* Each store's books, still in id order. */
    size_t *of = arena_alloc(r->arena, (nall ? nall : 1) * sizeof *of);
    int64_t *got = arena_calloc(r->arena, u, sizeof *got);
    for (size_t j = 0; j < nall; j++) {
        of[j] = bookstore__find_sorted(uniq, u, ((book_t *)all[j])->bookstore_id);
        if (of[j] < u) got[of[j]]++;
    }
    cache_doc_t *docs = arena_alloc(r->arena, (nall ? nall : 1) * sizeof *docs);
    for (size_t i = 0; i < u; i++) {
        if (cb[i].status == CACHE_HIT) { /* filled meanwhile by another reader */
            got[i] = (int64_t)cb[i].n;
            continue;
        }
        if (!ok[i]) continue;
        size_t k = 0;
        for (size_t j = 0; j < nall; j++) {
            if (of[j] == i) docs[k++] = repo__doc(r, CACHE_BOOKS, all[j]);
        }
        err_t ie;
        cache_batch_fill(r->cache, &cb[i], docs, k, 1, &ie);
    }
    for (size_t i = 0; i < n; i++) {
        if (counts[i] < 0) counts[i] = got[bookstore__find_sorted(uniq, u, ids[i])];
    }
    return 0;
}

int repo_bookstore_book_counts(repo_t *r, const char *const *ids, size_t n, int64_t *counts,
                               err_t *e)
{
    if (r->cache == NULL || !repo__ids_ok(ids, n))
        return bookstore__counts_mongo(r, ids, n, counts, e);
    /* Each count is the member count of the store's cached book list, all
     * read in ONE round trip without the members (cache_batch_counts). The
     * stores whose lists are not cached get them read (ONE find for all)
     * and filled, so their pages and later counts come from the cache; with
     * Redis down, ONE aggregate. */
    const char **args = arena_alloc(r->arena, (n ? n : 1) * sizeof *args);
    for (size_t i = 0; i < n; i++) args[i] = bookstore__arg_json(r, "bookstoreId", ids[i]);
    err_t ie;
    if (cache_batch_counts(r->cache, r->arena, "bookstoreBooks", args, n, counts, &ie) != 0)
        return bookstore__counts_mongo(r, ids, n, counts, e);
    return bookstore__fill_lists(r, ids, n, counts, e);
}

int repo_bookstores_page(repo_t *r, int64_t first, const char *after, repo_page_t *out, err_t *e)
{
    if (r->cache && first >= 0 && first <= REPO_PAGE_MAX) {
        /* Every page is cut from the cached list of all stores, in the same
         * order (by id) and with the same cursors as a MongoDB page, so a
         * cursor handed out before still works. */
        repo__batch_t b;
        if (repo__cached_batch(r, &repo__q_bookstores, "{}", -1, NULL, &b, e) != 0) return -1;
        return repo__page_from(r, b.recs, b.n, first, after, out, e);
    }
    bson_t f = BSON_INITIALIZER;
    int rc = repo__page(r, REPO_BOOKSTORES, &f, first, after, repo__parse_bookstore, NULL, out, e);
    bson_destroy(&f);
    return rc;
}

int repo_bookstore_books_page(repo_t *r, const char *bookstore_id, int64_t first, const char *after,
                              repo_page_t *out, err_t *e)
{
    if (repo__check_id(bookstore_id, "bookstoreId", e) != 0) return -1;
    if (r->cache && first >= 0 && first <= REPO_PAGE_MAX) {
        /* Every page, of a store of any size, is cut from its book list. */
        repo__batch_t b;
        if (bookstore__books(r, bookstore_id, &b, e) != 0) return -1;
        return repo__page_from(r, b.recs, b.n, first, after, out, e);
    }
    bson_t f = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&f, "bookstore_id", bookstore_id);
    int rc = repo__page(r, REPO_BOOKS, &f, first, after, repo__parse_book, NULL, out, e);
    bson_destroy(&f);
    return rc;
}
