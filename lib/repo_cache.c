/*
 * repo_cache.c — the Redis cache inside the repositories (see lib/cache.h):
 * read-through of entities and of the declared batches (cache_query.c),
 * write-through after each MongoDB write, write-behind into the queue, and
 * the record <-> cache helpers (from the kind table, kind.h) that the
 * write-behind applier (repo_queue.c) and `oponn cache verify`
 * (repo_verify.c) share. It calls no other repository file but repo.c.
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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- kinds: the row (kind.h) says everything that differs */

const char *repo__coll(cache_kind_t k)
{
    return kind_get(k)->name; /* a kind's collection is named as the kind */
}

repo__parse_fn repo__parser(cache_kind_t k, const void **arg)
{
    *arg = kind_get(k);
    return repo__parse_kind;
}

const char *repo__to_json(repo_t *r, cache_kind_t k, const void *rec)
{
    buf_t b = BUF_INIT;
    kind_to_json(k, rec, &b);
    const char *s = arena_strndup(r->arena, b.data, b.len);
    buf_free(&b);
    return s;
}

void *repo__from_json(repo_t *r, cache_kind_t k, const char *json, err_t *e)
{
    return kind_from_json(k, r->arena, json, strlen(json), e);
}

cache_doc_t repo__doc(repo_t *r, cache_kind_t k, const void *rec)
{
    cache_doc_t d = {k, kind_id(rec), kind_version(k, rec), repo__to_json(r, k, rec)};
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
                   *out ? kind_version(k, *out) : 0, &ie);
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
    if (cached) cache_fill_docs(r->cache, ce[0].epoch, docs, nmiss, &ie);
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
    if (cache_put(r->cache, k, kind_id(rec), kind_version(k, rec), repo__to_json(r, k, rec), NULL,
                  &ie) < 0) {
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
    int rc = cache_put(r->cache, k, kind_id(rec), kind_version(k, rec), repo__to_json(r, k, rec),
                       NULL, e);
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

int repo__behind_update(repo_t *r, cache_kind_t k, const char *id, repo__next_fn next,
                        const void *ctx, void **out, err_t *e)
{
    *out = NULL;
    for (int attempt = 0; attempt < REPO__BEHIND_TRIES; attempt++) {
        void *cur = NULL;
        if (repo__cached_get_many(r, k, &id, 1, &cur, e) != 0) return -1;
        if (cur == NULL) return err_set(e, ERR_NOT_FOUND, "%s %s not found", kind_get(k)->what, id);
        void *nx = next(r, cur, ctx, e);
        if (nx == NULL) return -1;
        kind_stamp(k, nx, kind_version(k, cur) + 1, repo__now_ms());
        int rc = cache_put(r->cache, k, id, kind_version(k, nx), repo__to_json(r, k, nx), NULL, e);
        if (rc == 1) {
            *out = nx;
            return 0;
        }
        if (rc < 0) return repo__behind_err(e);
    }
    return repo__behind_raced(k, id, e);
}

int repo__behind_delete(repo_t *r, cache_kind_t k, const char *id, err_t *e)
{
    for (int attempt = 0; attempt < REPO__BEHIND_TRIES; attempt++) {
        void *cur = NULL;
        if (repo__cached_get_many(r, k, &id, 1, &cur, e) != 0) return -1;
        if (cur == NULL) return err_set(e, ERR_NOT_FOUND, "%s %s not found", kind_get(k)->what, id);
        int rc = cache_delete(r->cache, k, id, kind_version(k, cur) + 1, NULL, e);
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
                seen = strcmp(extra[j].id, kind_id(b->joins[i])) == 0;
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
    if (nfill) cache_fill_docs(r->cache, cb->epoch, fill, nfill, &ie);
    return 0;
}

int repo__cached_batch(repo_t *r, const repo__query_t *q, const char *args_json, long long limit,
                       const void *arg, repo__batch_t *out, err_t *e)
{
    repo__join_fn join = q->join;
    memset(out, 0, sizeof *out);
    out->join_kind = q->join_kind;
    cache_batch_t cb;
    err_t ie;
    int cached = r->cache && cache_batch_get(r->cache, r->arena, q->name, args_json, &cb, &ie) == 0;
    if (cached && cb.status == CACHE_HIT) return repo__batch_hit(r, &cb, join, out, e);
    if (q->run(r, arg, limit >= 0 ? limit + 1 : -1, out, e) != 0) return -1;
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
    return strcmp(kind_id(((const repo__pos_t *)a)->rec), kind_id(((const repo__pos_t *)b)->rec));
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
            int c = strcmp(kind_id(sorted[mid].rec), ids[i]);
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
