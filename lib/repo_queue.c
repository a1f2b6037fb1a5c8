/*
 * repo_queue.c — the write-behind writer's MongoDB side: repo_queue_apply,
 * the cache_queue_apply_fn oponn-writer runs over the queue (cache_queue.h).
 * Every kind is applied alike from its row (kind.h): the whole record as
 * $set (plus its derived stored fields), its absent optionals as $unset,
 * where MongoDB's version is older; an insert when the record is new.
 */
#include "repo_int.h"

#include "cache_queue.h"

#include <string.h>

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
    const kind_t *row = kind_get(w->kind);
    bson_t doc = BSON_INITIALIZER, unset = BSON_INITIALIZER, update = BSON_INITIALIZER, set;
    kind_to_bson(w->kind, rec, &doc);
    kind_unset_absent(w->kind, rec, &unset);
    /* {$set: every field but _id (+ derived ones), $unset: absent optionals}
     * where version < v */
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    bson_iter_t it;
    if (bson_iter_init(&it, &doc)) {
        while (bson_iter_next(&it)) {
            if (strcmp(bson_iter_key(&it), "_id") != 0) {
                bson_append_iter(&set, bson_iter_key(&it), -1, &it);
            }
        }
    }
    if (row->stored_extra) row->stored_extra(r->arena, rec, false, &set);
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
    bson_destroy(&unset);
    bson_destroy(&update);
    return rc;
}
