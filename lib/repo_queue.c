/*
 * repo_queue.c — the write-behind writer's MongoDB side: repo_queue_apply,
 * the cache_queue_apply_fn oponn-writer runs over the queue (cache_queue.h).
 * Every kind is applied alike from its row (kind.h): the whole record as
 * $set (plus its derived stored fields), its absent optionals as $unset,
 * where MongoDB's version is older; an insert when the record is new.
 *
 * repo_queue_apply_batch (the writer's usual path) applies a whole step of
 * the queue with one ordered bulk write per collection: several writes of
 * one id fold into the newest (applying only it leaves MongoDB as applying
 * all in order would, since each is guarded by version), a put is an
 * upsert guarded by version, a delete a deleteOne guarded by version.
 */
#include "repo_int.h"

#include "cache_queue.h"

#include <stdlib.h>
#include <string.h>

/* {$set: every field but _id (+ derived ones), $unset: absent optionals}
 * of record rec, into update (initialised by the caller). With on_insert,
 * also {$setOnInsert: the derived fields only an insert sets}. */
static void repo_queue__update(repo_t *r, cache_kind_t kind, const void *rec, bool on_insert,
                               bson_t *update)
{
    const kind_t *row = kind_get(kind);
    bson_t doc = BSON_INITIALIZER, unset = BSON_INITIALIZER, set;
    kind_to_bson(kind, rec, &doc);
    kind_unset_absent(kind, rec, &unset);
    BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set);
    bson_iter_t it;
    if (bson_iter_init(&it, &doc)) {
        while (bson_iter_next(&it)) {
            if (strcmp(bson_iter_key(&it), "_id") != 0) {
                bson_append_iter(&set, bson_iter_key(&it), -1, &it);
            }
        }
    }
    if (row->stored_extra) row->stored_extra(r->arena, rec, false, &set);
    bson_append_document_end(update, &set);
    if (!bson_empty(&unset)) BSON_APPEND_DOCUMENT(update, "$unset", &unset);
    if (on_insert && row->stored_extra) {
        /* Only what $set does not set: MongoDB refuses a path in both. */
        bson_t ins = BSON_INITIALIZER, upd = BSON_INITIALIZER, soi;
        row->stored_extra(r->arena, rec, true, &ins);
        row->stored_extra(r->arena, rec, false, &upd);
        bool any = false;
        if (bson_iter_init(&it, &ins)) {
            while (bson_iter_next(&it)) {
                if (!bson_has_field(&upd, bson_iter_key(&it))) any = true;
            }
        }
        if (any) {
            BSON_APPEND_DOCUMENT_BEGIN(update, "$setOnInsert", &soi);
            bson_iter_init(&it, &ins);
            while (bson_iter_next(&it)) {
                if (!bson_has_field(&upd, bson_iter_key(&it))) {
                    bson_append_iter(&soi, bson_iter_key(&it), -1, &it);
                }
            }
            bson_append_document_end(update, &soi);
        }
        bson_destroy(&ins);
        bson_destroy(&upd);
    }
    bson_destroy(&doc);
    bson_destroy(&unset);
}

/* {_id: id, version: {$lt: v}} */
static void repo_queue__older(const cache_write_t *w, bson_t *q)
{
    bson_t lt;
    BSON_APPEND_UTF8(q, "_id", w->id);
    BSON_APPEND_DOCUMENT_BEGIN(q, "version", &lt);
    BSON_APPEND_INT64(&lt, "$lt", w->version);
    bson_append_document_end(q, &lt);
}

int repo_queue_apply(void *ud, const cache_write_t *w, err_t *e)
{
    repo_t *r = ud;
    arena_reset(r->arena);
    const char *coll = repo__coll(w->kind);
    bson_t q = BSON_INITIALIZER;
    repo_queue__older(w, &q);
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
    const kind_t *row = kind_get(w->kind);
    bson_t doc = BSON_INITIALIZER, update = BSON_INITIALIZER;
    kind_to_bson(w->kind, rec, &doc);
    repo_queue__update(r, w->kind, rec, false, &update);
    int64_t matched = 0, n = 0;
    rc = store_update_many(r->store, coll, &q, &update, &matched, NULL, e);
    if (rc == 0 && matched == 0) {
        /* Not older in MongoDB: either it holds this version or a newer one
         * (applied before: done), or the record is new: insert it. */
        bson_t f = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&f, "_id", w->id);
        rc = store_count(r->store, coll, &f, 1, &n, e);
        if (rc == 0 && n == 0) {
            if (row->stored_extra) row->stored_extra(r->arena, rec, true, &doc);
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
    bson_destroy(&update);
    return rc;
}

void repo_queue_apply_batch(void *ud, const cache_write_t *ws, size_t n, unsigned char *ok)
{
    repo_t *r = ud;
    arena_reset(r->arena);
    /* last[i]: the newest write of ws[i]'s record in the batch (itself when
     * none is newer), which alone is sent; op[i]: its index in its
     * collection's bulk, -1 when not sent (folded, or unreadable). */
    size_t *last = calloc(n ? n : 1, sizeof *last);
    long *op = calloc(n ? n : 1, sizeof *op);
    if (last == NULL || op == NULL) abort();
    for (size_t i = n; i-- > 0;) {
        last[i] = i;
        op[i] = -1;
        for (size_t j = i + 1; j < n; j++) {
            if (ws[j].kind == ws[i].kind && strcmp(ws[j].id, ws[i].id) == 0) {
                last[i] = last[j];
                break;
            }
        }
    }
    for (int k = 0; k < CACHE__KINDS; k++) {
        store_bulk_t *b = NULL;
        long nops = 0;
        for (size_t i = 0; i < n; i++) {
            const cache_write_t *w = &ws[i];
            if ((int)w->kind != k || last[i] != i) continue;
            bson_t q = BSON_INITIALIZER;
            repo_queue__older(w, &q);
            if (w->op == CACHE_WRITE_DEL) {
                if (b == NULL) b = store_bulk_new_ordered(r->store, repo__coll(w->kind));
                store_bulk_delete_one(b, &q);
                op[i] = nops++;
            } else {
                err_t e;
                void *rec = repo__from_json(r, w->kind, w->json, &e);
                if (rec != NULL) {
                    /* An upsert: where the record exists with this version
                     * or a newer one, it fails on the duplicate _id, and the
                     * writes from there are applied one at a time. */
                    bson_t update = BSON_INITIALIZER;
                    repo_queue__update(r, w->kind, rec, true, &update);
                    if (b == NULL) b = store_bulk_new_ordered(r->store, repo__coll(w->kind));
                    store_bulk_update_one(b, &q, &update, true);
                    bson_destroy(&update);
                    op[i] = nops++;
                }
            }
            bson_destroy(&q);
        }
        if (b == NULL) continue;
        store_bulk_result_t res;
        err_t e;
        long applied = nops; /* ordered: every operation before failed_at */
        if (store_bulk_run(b, &res, NULL, &e) != 0) {
            applied = (long)res.failed_at;
            err_log("write-behind: bulk write on %s stopped at %ld of %ld (%s); the rest one at a "
                    "time",
                    repo__coll((cache_kind_t)k), applied, nops, e.msg);
        }
        for (size_t i = 0; i < n; i++) {
            if ((int)ws[i].kind == k && op[last[i]] >= 0 && op[last[i]] < applied) ok[i] = 1;
        }
    }
    free(last);
    free(op);
}
