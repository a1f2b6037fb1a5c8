/*
 * repo_cache.c — the Redis cache inside the repositories (see lib/cache.h):
 * read-through of entities and of the declared batches (cache_query.c),
 * write-through after each MongoDB write, and the kind <-> record helpers
 * the write-behind applier and `oponn cache verify` share.
 *
 * With r->cache NULL every function here is plain MongoDB. With Redis down
 * every read goes to MongoDB and every write-through write still succeeds
 * (MongoDB has it; the cache marked itself dirty, so its next successful
 * call starts a new epoch and nothing cached before is served again). A
 * MongoDB write that failed but may have been applied purges its record
 * (repo__write_failed). A cache error never reaches the caller's err_t:
 * each call uses its own.
 *
 * The cached value of a record is exactly its *_to_json text, so a hit
 * parses back into the same struct a MongoDB read gives.
 */
#include "repo_int.h"

#include "cache_admin.h"
#include "cache_queue.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const fruit_kind_t repo__apple = FRUIT_APPLE, repo__orange = FRUIT_ORANGE;

/* ---- kinds */

const char *repo__coll(cache_kind_t k)
{
    return cache_kind_name(k); /* the collection names are the kind names */
}

repo__parse_fn repo__parser(cache_kind_t k, const void **arg)
{
    *arg = NULL;
    switch (k) {
    case CACHE_BOOKS:
        return repo__parse_book;
    case CACHE_BOOKSTORES:
        return repo__parse_bookstore;
    case CACHE_APPLES:
        *arg = &repo__apple;
        return repo__parse_fruit;
    default:
        *arg = &repo__orange;
        return repo__parse_fruit;
    }
}

cache_kind_t repo__fruit_kind(fruit_kind_t k)
{
    return k == FRUIT_APPLE ? CACHE_APPLES : CACHE_ORANGES;
}

const char *repo__to_json(repo_t *r, cache_kind_t k, const void *rec)
{
    buf_t b = BUF_INIT;
    switch (k) {
    case CACHE_BOOKS:
        book_to_json(rec, &b);
        break;
    case CACHE_BOOKSTORES:
        bookstore_to_json(rec, &b);
        break;
    default:
        fruit_to_json(rec, &b);
        break;
    }
    const char *s = arena_strndup(r->arena, b.data, b.len);
    buf_free(&b);
    return s;
}

void *repo__from_json(repo_t *r, cache_kind_t k, const char *json, err_t *e)
{
    size_t len = strlen(json);
    switch (k) {
    case CACHE_BOOKS: {
        book_t *b = arena_alloc(r->arena, sizeof *b);
        return book_from_json(r->arena, json, len, b, e) == 0 ? b : NULL;
    }
    case CACHE_BOOKSTORES: {
        bookstore_t *s = arena_alloc(r->arena, sizeof *s);
        return bookstore_from_json(r->arena, json, len, s, e) == 0 ? s : NULL;
    }
    default: {
        fruit_t *f = arena_alloc(r->arena, sizeof *f);
        if (fruit_from_json(r->arena, json, len, f, e) != 0) return NULL;
        if (repo__fruit_kind(f->kind) != k) {
            err_set(e, ERR_INTERNAL, "cached %s holds a %s", cache_kind_name(k),
                    fruit_kind_name(f->kind));
            return NULL;
        }
        return f;
    }
    }
}

int64_t repo__version_of(cache_kind_t k, const void *rec)
{
    switch (k) {
    case CACHE_BOOKS:
        return ((const book_t *)rec)->version;
    case CACHE_BOOKSTORES:
        return ((const bookstore_t *)rec)->version;
    default:
        return ((const fruit_t *)rec)->version;
    }
}

static const char *repo__id_of(const void *rec)
{
    return *(const char *const *)rec; /* every record starts with its id */
}

static cache_doc_t repo__doc(repo_t *r, cache_kind_t k, const void *rec)
{
    cache_doc_t d = {k, repo__id_of(rec), repo__version_of(k, rec), repo__to_json(r, k, rec)};
    return d;
}

/* ---- entities: read-through */

/* One id: cache_get (1 round trip); a miss reads MongoDB (1 command) and,
 * holding the lease, fills the cache (a negative entry for an unknown id). */
static int repo__get_one(repo_t *r, cache_kind_t k, const char *id, void **out, err_t *e)
{
    const void *arg;
    repo__parse_fn parse = repo__parser(k, &arg);
    cache_entry_t ce;
    err_t ie;
    *out = NULL;
    int cached = cache_get(r->cache, r->arena, k, id, &ce, &ie) == 0;
    if (cached && ce.status == CACHE_HIT) {
        *out = repo__from_json(r, k, ce.json, &ie);
        if (*out) return 0; /* an unreadable value: read MongoDB, do not fill */
    }
    if (cached && ce.status == CACHE_NEGATIVE) return 0;
    if (repo__get_many(r, repo__coll(k), &id, 1, parse, arg, out, e) != 0) return -1;
    if (ce.lease[0]) {
        cache_fill(r->cache, k, id, &ce, *out ? repo__to_json(r, k, *out) : NULL,
                   *out ? repo__version_of(k, *out) : 0, &ie);
    }
    return 0;
}

int repo__cached_get_many(repo_t *r, cache_kind_t k, const char *const *ids, size_t n, void **out,
                          err_t *e)
{
    const void *arg;
    repo__parse_fn parse = repo__parser(k, &arg);
    bool plain = r->cache == NULL || n == 0 || n > REPO_BATCH_MAX;
    for (size_t i = 0; i < n && !plain; i++) plain = ids[i] == NULL || ids[i][0] == '\0';
    /* No cache, or an argument repo__get_many refuses or answers without asking. */
    if (plain) return repo__get_many(r, repo__coll(k), ids, n, parse, arg, out, e);
    if (n == 1) return repo__get_one(r, k, ids[0], out, e);

    cache_entry_t *ce = arena_alloc(r->arena, n * sizeof *ce);
    err_t ie;
    int cached = cache_get_many(r->cache, r->arena, k, ids, n, ce, &ie) == 0;
    const char **miss = arena_alloc(r->arena, n * sizeof *miss);
    size_t *miss_at = arena_alloc(r->arena, n * sizeof *miss_at);
    size_t nmiss = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
        if (ce[i].status == CACHE_NEGATIVE) continue;
        if (ce[i].status == CACHE_HIT && (out[i] = repo__from_json(r, k, ce[i].json, &ie)))
            continue;
        miss_at[nmiss] = i;
        miss[nmiss++] = ids[i];
    }
    if (nmiss == 0) return 0;
    void **got = arena_alloc(r->arena, nmiss * sizeof *got);
    if (repo__get_many(r, repo__coll(k), miss, nmiss, parse, arg, got, e) != 0) return -1;
    cache_doc_t *docs = arena_alloc(r->arena, nmiss * sizeof *docs);
    for (size_t j = 0; j < nmiss; j++) {
        out[miss_at[j]] = got[j];
        docs[j] = got[j] ? repo__doc(r, k, got[j]) : (cache_doc_t){k, miss[j], 0, NULL};
    }
    if (cached) cache_fill_docs(r->cache, docs, nmiss, &ie);
    return 0;
}

/* ---- write-through */

/* A write-through cache write failed (the cache is dirty): start the new
 * epoch before the mutation answers, so no worker serves the old value. */
static void repo__cache_failed(repo_t *r)
{
    err_t ie;
    cache_sync(r->cache, &ie);
}

void repo__cache_put(repo_t *r, cache_kind_t k, const void *rec)
{
    if (r->cache == NULL || rec == NULL) return;
    err_t ie;
    if (cache_put(r->cache, k, repo__id_of(rec), repo__version_of(k, rec), repo__to_json(r, k, rec),
                  NULL, &ie) < 0) {
        repo__cache_failed(r);
    }
}

void repo__cache_del(repo_t *r, cache_kind_t k, const char *id, int64_t version)
{
    if (r->cache == NULL) return;
    err_t ie;
    if (cache_delete(r->cache, k, id, version, NULL, &ie) < 0) repo__cache_failed(r);
}

/* Which failed MongoDB writes may have been applied, decided here only:
 * every failure but a definite refusal (bad input or duplicate key, not
 * found, name taken, FK violation, store still has books) and a request
 * that never left the process (err_t.unsent: MongoDB down, no server
 * selected). The rest, UNAVAILABLE after the send included, may have been
 * applied; a purge too many holds the record out of the cache for
 * OPONN_CACHE_HOLD_MS, one too few serves an old version for a day. */
static bool repo__maybe_applied(const err_t *e)
{
    if (e->unsent) return false;
    switch (e->code) {
    case ERR_PARSE:
    case ERR_VALIDATION:
    case ERR_BAD_INPUT:
    case ERR_NOT_FOUND:
    case ERR_NAME_TAKEN:
    case ERR_FK:
    case ERR_HAS_BOOKS:
    case ERR_TOO_COMPLEX:
    case ERR_UNAUTH:
        return false;
    default:
        return true;
    }
}

void repo__cache_unknown(repo_t *r, cache_kind_t k, const char *const *ids, size_t n)
{
    if (r->cache == NULL || repo__behind(r)) return;
    err_t ie;
    for (size_t i = 0; i < n; i++) {
        if (cache_purge(r->cache, k, ids[i], &ie) < 0) {
            cache_mark_dirty(r->cache); /* pool-wide: a new epoch at the next call */
            repo__cache_failed(r);
            return; /* nothing cached is served now: the other ids need nothing */
        }
    }
}

int repo__write_failed(repo_t *r, cache_kind_t k, const char *const *ids, size_t n, err_t *e)
{
    if (repo__maybe_applied(e)) repo__cache_unknown(r, k, ids, n);
    return -1;
}

/* ---- write-behind (OPONN_WRITE_MODE=behind) */

bool repo__behind(const repo_t *r)
{
    return r->cache && cache_write_behind(r->cache);
}

/* Sets the version and update time of a record about to be queued. */
static void repo__stamp(cache_kind_t k, void *rec, int64_t version, int64_t now)
{
    switch (k) {
    case CACHE_BOOKS:
        ((book_t *)rec)->version = version;
        ((book_t *)rec)->updated_at = now;
        break;
    case CACHE_BOOKSTORES:
        ((bookstore_t *)rec)->version = version;
        ((bookstore_t *)rec)->updated_at = now;
        break;
    default:
        ((fruit_t *)rec)->version = version;
        ((fruit_t *)rec)->updated_at = now;
        break;
    }
}

/* A cache error of a write-behind write: the write was not accepted, which
 * the client sees as UNAVAILABLE (retry). */
static int repo__behind_err(err_t *e)
{
    if (e->code == ERR_UNAVAILABLE) return -1;
    char msg[sizeof e->msg];
    snprintf(msg, sizeof msg, "%s", e->msg);
    return err_set(e, ERR_UNAVAILABLE, "write-behind: %s", msg);
}

/* A new record (version 1) into the cache and its queue. */
int repo__behind_create(repo_t *r, cache_kind_t k, const void *rec, err_t *e)
{
    int rc = cache_put(r->cache, k, repo__id_of(rec), repo__version_of(k, rec),
                       repo__to_json(r, k, rec), NULL, e);
    if (rc == 1) return 0;
    if (rc == 0) return err_set(e, ERR_INTERNAL, "write-behind: new id already cached");
    return repo__behind_err(e);
}

/* Bounded retries of a compare-and-set that lost a race. */
#define REPO__BEHIND_TRIES 8

static int repo__behind_raced(cache_kind_t k, const char *id, err_t *e)
{
    return err_set(e, ERR_UNAVAILABLE,
                   "%s %s: concurrent writes (or queued writes not in MongoDB yet and not "
                   "cached); retry shortly",
                   cache_kind_name(k), id);
}

int repo__behind_update(repo_t *r, cache_kind_t k, const char *id, const char *what,
                        repo__next_fn next, const void *ctx, void **out, err_t *e)
{
    *out = NULL;
    for (int attempt = 0; attempt < REPO__BEHIND_TRIES; attempt++) {
        void *cur = NULL;
        if (repo__cached_get_many(r, k, &id, 1, &cur, e) != 0) return -1;
        if (cur == NULL) return err_set(e, ERR_NOT_FOUND, "%s %s not found", what, id);
        void *nx = next(r, cur, ctx, e);
        if (nx == NULL) return -1;
        repo__stamp(k, nx, repo__version_of(k, cur) + 1, repo__now_ms());
        int rc =
            cache_put(r->cache, k, id, repo__version_of(k, nx), repo__to_json(r, k, nx), NULL, e);
        if (rc == 1) {
            *out = nx;
            return 0;
        }
        if (rc < 0) return repo__behind_err(e);
    }
    return repo__behind_raced(k, id, e);
}

int repo__behind_delete(repo_t *r, cache_kind_t k, const char *id, const char *what, err_t *e)
{
    for (int attempt = 0; attempt < REPO__BEHIND_TRIES; attempt++) {
        void *cur = NULL;
        if (repo__cached_get_many(r, k, &id, 1, &cur, e) != 0) return -1;
        if (cur == NULL) return err_set(e, ERR_NOT_FOUND, "%s %s not found", what, id);
        int rc = cache_delete(r->cache, k, id, repo__version_of(k, cur) + 1, NULL, e);
        if (rc == 1) return 0;
        if (rc < 0) return repo__behind_err(e);
    }
    return repo__behind_raced(k, id, e);
}

/* ---- batches */

/* A missed batch's records as documents for cache_batch_fill_ex; the join
 * targets (distinct, non-NULL) as extra documents. */
static int repo__batch_fill(repo_t *r, const cache_batch_t *miss, const repo__batch_t *b)
{
    cache_doc_t *docs = arena_alloc(r->arena, (b->n ? b->n : 1) * sizeof *docs);
    cache_doc_t *extra = arena_alloc(r->arena, (b->n ? b->n : 1) * sizeof *extra);
    size_t nextra = 0;
    for (size_t i = 0; i < b->n; i++) {
        docs[i] = repo__doc(r, b->kinds[i], b->recs[i]);
        if (b->joins && b->joins[i]) {
            bool seen = false;
            for (size_t j = 0; j < nextra && !seen; j++) {
                seen = strcmp(extra[j].id, repo__id_of(b->joins[i])) == 0;
            }
            if (!seen) extra[nextra++] = repo__doc(r, b->join_kind, b->joins[i]);
        }
    }
    err_t ie;
    return cache_batch_fill_ex(r->cache, miss, docs, b->n, b->exhaustive, extra, nextra, &ie);
}

/* A cached batch: member records from their cached JSON; members missing
 * from the entity cache read from MongoDB in one query per collection (and
 * put back), members MongoDB no longer has left out; join targets likewise. */
static int repo__batch_hit(repo_t *r, const cache_batch_t *cb, repo__join_fn join,
                           repo__batch_t *out, err_t *e)
{
    size_t n = cb->n;
    err_t ie;
    out->recs = arena_calloc(r->arena, n ? n : 1, sizeof *out->recs);
    out->kinds = arena_calloc(r->arena, n ? n : 1, sizeof *out->kinds);
    out->joins = join ? arena_calloc(r->arena, n ? n : 1, sizeof *out->joins) : NULL;
    out->exhaustive = cb->exhaustive;
    const char **miss = arena_alloc(r->arena, (n ? n : 1) * sizeof *miss);
    size_t *miss_at = arena_alloc(r->arena, (n ? n : 1) * sizeof *miss_at);
    cache_doc_t *fill = arena_alloc(r->arena, 2 * (n ? n : 1) * sizeof *fill);
    size_t nfill = 0;
    for (size_t i = 0; i < n; i++) {
        const cache_member_t *m = &cb->members[i];
        out->kinds[i] = m->kind;
        if (m->json) out->recs[i] = repo__from_json(r, m->kind, m->json, &ie);
        if (join && m->has_join && m->join_json) {
            out->joins[i] = repo__from_json(r, m->join_kind, m->join_json, &ie);
        }
    }
    for (int k = 0; k < CACHE__KINDS; k++) {
        size_t nmiss = 0;
        for (size_t i = 0; i < n; i++) {
            if (out->recs[i] == NULL && out->kinds[i] == (cache_kind_t)k) {
                miss_at[nmiss] = i;
                miss[nmiss++] = cb->members[i].id;
            }
        }
        if (nmiss == 0) continue;
        const void *arg;
        repo__parse_fn parse = repo__parser((cache_kind_t)k, &arg);
        void **got = arena_alloc(r->arena, nmiss * sizeof *got);
        if (repo__get_many(r, repo__coll((cache_kind_t)k), miss, nmiss, parse, arg, got, e) != 0) {
            return -1;
        }
        for (size_t j = 0; j < nmiss; j++) {
            out->recs[miss_at[j]] = got[j];
            if (got[j]) fill[nfill++] = repo__doc(r, (cache_kind_t)k, got[j]);
        }
    }
    /* Leave out members MongoDB does not have (keeping the order). */
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (out->recs[i] == NULL) continue;
        out->recs[w] = out->recs[i];
        out->kinds[w] = out->kinds[i];
        if (join) out->joins[w] = out->joins[i];
        w++;
    }
    out->n = w;
    if (join) {
        bool *had = arena_alloc(r->arena, (w ? w : 1) * sizeof *had);
        for (size_t i = 0; i < w; i++) had[i] = out->joins[i] != NULL;
        if (join(r, out, e) != 0) return -1;
        for (size_t i = 0; i < w; i++) {
            if (!had[i] && out->joins[i]) {
                fill[nfill++] = repo__doc(r, out->join_kind, out->joins[i]);
            }
        }
    }
    if (nfill) cache_fill_docs(r->cache, fill, nfill, &ie);
    return 0;
}

int repo__cached_batch(repo_t *r, const char *query, const char *args_json, long long limit,
                       repo__run_fn run, repo__join_fn join, const void *arg, repo__batch_t *out,
                       err_t *e)
{
    cache_kind_t join_kind = out->join_kind;
    memset(out, 0, sizeof *out);
    out->join_kind = join_kind;
    cache_batch_t cb;
    err_t ie;
    int cached = r->cache && cache_batch_get(r->cache, r->arena, query, args_json, &cb, &ie) == 0;
    if (cached && cb.status == CACHE_HIT) return repo__batch_hit(r, &cb, join, out, e);
    if (run(r, arg, limit >= 0 ? limit + 1 : -1, out, e) != 0) return -1;
    out->exhaustive = 1;
    if (limit >= 0 && out->n > (size_t)limit) {
        out->n = (size_t)limit;
        out->exhaustive = 0;
    }
    if (join) {
        out->joins = arena_calloc(r->arena, out->n ? out->n : 1, sizeof *out->joins);
        if (join(r, out, e) != 0) return -1;
    }
    if (cached && !out->nocache) repo__batch_fill(r, &cb, out);
    return 0;
}

/* ---- argument JSON */

int repo__ids_ok(const char *const *ids, size_t n)
{
    if (n > REPO_BATCH_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == NULL || ids[i][0] == '\0') return 0;
    }
    return 1;
}

const char *repo__ids_json(repo_t *r, const char *name, const char *const *ids, size_t n)
{
    buf_t b = BUF_INIT;
    buf_printf(&b, "{\"%s\":[", name);
    for (size_t i = 0; i < n; i++) {
        if (i) buf_putc(&b, ',');
        buf_put_json_str(&b, ids[i], strlen(ids[i]));
    }
    buf_puts(&b, "]}");
    const char *s = arena_strndup(r->arena, b.data, b.len);
    buf_free(&b);
    return s;
}

typedef struct {
    void *rec;
    size_t pos;
} repo__pos_t;

static int repo__pos_cmp(const void *a, const void *b)
{
    return strcmp(repo__id_of(((const repo__pos_t *)a)->rec),
                  repo__id_of(((const repo__pos_t *)b)->rec));
}

void repo__by_id(repo_t *r, void *const *recs, size_t nrecs, const char *const *ids, size_t n,
                 void **out, size_t *at)
{
    repo__pos_t *sorted = arena_alloc(r->arena, (nrecs ? nrecs : 1) * sizeof *sorted);
    for (size_t i = 0; i < nrecs; i++) sorted[i] = (repo__pos_t){recs[i], i};
    if (nrecs > 1) qsort(sorted, nrecs, sizeof *sorted, repo__pos_cmp);
    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
        if (at) at[i] = (size_t)-1;
        size_t lo = 0, hi = nrecs;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            int c = strcmp(repo__id_of(sorted[mid].rec), ids[i]);
            if (c == 0) {
                out[i] = sorted[mid].rec;
                if (at) at[i] = sorted[mid].pos;
                break;
            }
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
}

/* ---- `oponn cache verify|rehydrate`: MongoDB as the truth */

static int repo__src_fetch(void *ud, arena_t *a, cache_kind_t k, const char *id, const char **json,
                           err_t *e)
{
    repo_t *r = ud;
    r->arena = a;
    const void *arg;
    repo__parse_fn parse = repo__parser(k, &arg);
    void *rec = NULL;
    *json = NULL;
    if (repo__get_many(r, repo__coll(k), &id, 1, parse, arg, &rec, e) != 0) return -1;
    if (rec) *json = repo__to_json(r, k, rec);
    return 0;
}

/* The string list of a normalized argument, in the arena. */
static const char **repo__src_list(arena_t *a, const cJSON *v, size_t *n)
{
    *n = (size_t)(cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0);
    const char **ids = arena_alloc(a, (*n ? *n : 1) * sizeof *ids);
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        if (cJSON_IsString(it)) ids[i++] = arena_strdup(a, it->valuestring);
    }
    *n = i;
    return ids;
}

static int repo__src_query(void *ud, arena_t *a, const cache_query_t *q, cache_doc_t **docs,
                           size_t *n, int *exhaustive, err_t *e)
{
    repo_t *r = ud;
    r->arena = a;
    cJSON *pred = cJSON_Parse(q->pred_json);
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(pred, "a");
    const char *name = q->decl->name;
    repo__batch_t b = {0};
    repo__idset_t ids = {0};
    fruit_query_t fq = {.limit = q->limit};
    int rc;
    if (strncmp(name, "fruitBy", 7) == 0) {
        const cJSON *v;
        if (strcmp(name, "fruitBySize") == 0) {
            fq.by = FRUIT_BY_SIZE;
            v = cJSON_GetObjectItemCaseSensitive(args, "size");
            fq.size = cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
        } else if (strcmp(name, "fruitByColour") == 0) {
            fq.by = FRUIT_BY_COLOUR;
            v = cJSON_GetObjectItemCaseSensitive(args, "colour");
            fq.colour = cJSON_IsString(v) ? arena_strdup(a, v->valuestring) : "";
        } else {
            fq.by = FRUIT_BY_ACIDITY;
            v = cJSON_GetObjectItemCaseSensitive(args, "min");
            fq.min = cJSON_IsNumber(v) ? v->valuedouble : 0;
            v = cJSON_GetObjectItemCaseSensitive(args, "max");
            fq.max = cJSON_IsNumber(v) ? v->valuedouble : 0;
        }
        rc = repo__fruit_run(r, &fq, q->limit + 1, &b, e);
    } else if (strcmp(name, "bookstoreBooks") == 0) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, "bookstoreId");
        rc = repo__bookstore_run_books(r, cJSON_IsString(v) ? arena_strdup(a, v->valuestring) : "",
                                       -1, &b, e);
    } else if (strcmp(name, "books") == 0 || strcmp(name, "bookstoresForBooks") == 0) {
        const cJSON *v =
            cJSON_GetObjectItemCaseSensitive(args, strcmp(name, "books") == 0 ? "ids" : "bookIds");
        ids.ids = repo__src_list(a, v, &ids.n);
        rc = repo__books_run_ids(r, &ids, -1, &b, e);
    } else {
        rc = err_set(e, ERR_INTERNAL, "no MongoDB run for cached query %s", name);
    }
    cJSON_Delete(pred);
    if (rc != 0) return -1;
    *exhaustive = 1;
    if (q->limit >= 0 && b.n > (size_t)q->limit) {
        b.n = (size_t)q->limit;
        *exhaustive = 0;
    }
    *docs = arena_alloc(a, (b.n ? b.n : 1) * sizeof **docs);
    for (size_t i = 0; i < b.n; i++) (*docs)[i] = repo__doc(r, b.kinds[i], b.recs[i]);
    *n = b.n;
    return 0;
}

void repo_cache_source(repo_t *r, cache_source_t *src)
{
    src->ud = r;
    src->fetch = repo__src_fetch;
    src->query = repo__src_query;
}

/* ---- the write-behind writer's MongoDB side */

/* The stored document of rec: every field (`_id` first; absent optionals
 * left out) into doc, the absent optionals' names into unset. */
static void repo__doc_bson(cache_kind_t k, const void *rec, bson_t *doc, bson_t *unset)
{
    switch (k) {
    case CACHE_BOOKS: {
        const book_t *b = rec;
        book_to_bson(b, doc);
        if (b->isbn == NULL) BSON_APPEND_UTF8(unset, "isbn", "");
        if (!b->has_year) BSON_APPEND_UTF8(unset, "year", "");
        if (!b->has_price) BSON_APPEND_UTF8(unset, "price", "");
        break;
    }
    case CACHE_BOOKSTORES: {
        const bookstore_t *s = rec;
        bookstore_to_bson(s, doc);
        if (s->city == NULL) BSON_APPEND_UTF8(unset, "city", "");
        break;
    }
    default:
        fruit_to_bson(rec, doc);
        break;
    }
}

int repo_queue_apply(void *ud, const cache_write_t *w, err_t *e)
{
    repo_t *r = ud;
    arena_reset(r->arena);
    const char *coll = repo__coll(w->kind);
    bson_t q = BSON_INITIALIZER, lt;
    BSON_APPEND_UTF8(&q, "_id", w->id);
    BSON_APPEND_DOCUMENT_BEGIN(&q, "version", &lt);
    BSON_APPEND_INT64(&lt, "$lt", w->version);
    bson_append_document_end(&q, &lt);
    int rc;
    if (w->op == CACHE_WRITE_DEL) {
        /* Only an older version is deleted: a replay after a newer write
         * (there is none for a deleted id) changes nothing. */
        rc = store_delete_one(r->store, coll, &q, NULL, e);
        bson_destroy(&q);
        return rc;
    }
    void *rec = repo__from_json(r, w->kind, w->json, e);
    if (rec == NULL) {
        bson_destroy(&q);
        return -1; /* unreadable: counts towards the dead letters */
    }
    bson_t doc = BSON_INITIALIZER, unset = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
    repo__doc_bson(w->kind, rec, &doc, &unset);
    const char *nkey = NULL;
    if (w->kind == CACHE_BOOKS) {
        const book_t *b = rec;
        nkey = b->isbn ? arena_printf(r->arena, "isbn:%s", b->isbn) : NULL;
    }
    /* {$set: every field but _id, $unset: absent optionals} where version < v */
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    bson_iter_t it;
    if (bson_iter_init(&it, &doc)) {
        while (bson_iter_next(&it)) {
            if (strcmp(bson_iter_key(&it), "_id") != 0) {
                bson_append_iter(&set, bson_iter_key(&it), -1, &it);
            }
        }
    }
    if (nkey) BSON_APPEND_UTF8(&set, "nkey", nkey);
    bson_append_document_end(&update, &set);
    if (!bson_empty(&unset)) BSON_APPEND_DOCUMENT(&update, "$unset", &unset);
    int64_t matched = 0, n = 0;
    rc = store_update_many(r->store, coll, &q, &update, &matched, NULL, e);
    if (rc == 0 && matched == 0) {
        /* Not older in MongoDB: either it holds this version or a newer one
         * (applied before: done), or the record is new: insert it. */
        bson_t f = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&f, "_id", w->id);
        rc = store_count(r->store, coll, &f, 1, &n, e);
        if (rc == 0 && n == 0) {
            if (w->kind == CACHE_BOOKS) {
                BSON_APPEND_UTF8(&doc, "nkey",
                                 nkey ? nkey : arena_printf(r->arena, "id:%s", w->id));
            }
            bool dup = false;
            rc = store_insert_one(r->store, coll, &doc, &dup, e);
            if (rc != 0 && dup) {
                err_t e2; /* inserted meanwhile by another writer: done */
                if (store_count(r->store, coll, &f, 1, &n, &e2) == 0 && n == 1) {
                    rc = 0;
                } else {
                    rc = err_set(e, ERR_BAD_INPUT,
                                 "%s %s: a unique key (ISBN or bookstore name) is taken in MongoDB",
                                 cache_kind_name(w->kind), w->id);
                }
            }
        }
        bson_destroy(&f);
    }
    bson_destroy(&q);
    bson_destroy(&doc);
    bson_destroy(&unset);
    bson_destroy(&update);
    return rc;
}
