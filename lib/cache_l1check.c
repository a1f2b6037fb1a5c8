/*
 * cache_l1check.c — `oponn cache verify` for a worker's near cache (L1):
 * every entry against what Redis holds now (see cache_l1_check in cache.h).
 * Apart from lib/cache.c and lib/cache_near.c, which serve reads, so that
 * neither depends on the other both ways.
 */
#include "cache_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What Redis holds now for an L1 entity key ek: "h" JSON, "n", or NULL
 * (absent, of another epoch, held), in the arena. */
static const char *cache__l1_truth_entity(cache_t *c, arena_t *a, const char *ek, const char *epoch,
                                          err_t *e)
{
    redisReply *r = cache_conn_command(c->conn, e, "MGET %s", ek);
    if (r == NULL) return NULL;
    const char *out = NULL;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_STRING) {
        const char *j = cache__entity_json(a, r->element[0], epoch);
        if (j) {
            out = arena_printf(a, "h%s", j);
        } else {
            /* negative: "epoch|version|1|" */
            size_t el = strlen(epoch);
            const char *v = r->element[0]->str;
            const char *bar = r->element[0]->len > el
                                  ? memchr(v + el + 1, '|', r->element[0]->len - el - 1)
                                  : NULL;
            if (memcmp(v, epoch, el) == 0 && v[el] == '|' && bar && bar[1] == '1') out = "n";
        }
    }
    freeReplyObject(r);
    return out;
}

typedef struct {
    buf_t keys, vals;
    size_t n;
} cache__l1_copy_t;

static void cache__l1_copy(void *ud, const char *key, size_t klen, const char *val, size_t vlen)
{
    cache__l1_copy_t *cp = ud;
    uint32_t kl = (uint32_t)klen, vl = (uint32_t)vlen;
    buf_append(&cp->keys, &kl, sizeof kl);
    buf_append(&cp->keys, key, klen);
    buf_append(&cp->vals, &vl, sizeof vl);
    buf_append(&cp->vals, val, vlen);
    cp->n++;
}

/* Checks one batch entry (L1 key after the tag: batch key, NUL, canonical
 * arguments) against Redis: same exhaustiveness and value (its join
 * targets are entity entries, checked as such). */
static int cache__l1_check_batch(cache_t *c, arena_t *a, const char *k, size_t klen, const char *v,
                                 size_t vlen, const char *epoch, err_t *e)
{
    const char *bk = k, *canon = k + strlen(k) + 1;
    if (canon > k + klen) return 0;
    cache_batch_t got = {0};
    const char *p = v, *end = v + vlen;
    uint32_t len;
    if (vlen < 1 + sizeof len) return 0;
    got.exhaustive = *p++ == '1';
    memcpy(&len, p, sizeof len);
    p += sizeof len;
    if ((size_t)(end - p) < len || cache__batch_value(a, p, len, &got, e) != 0) return 0;
    const char *gv = p;
    size_t gvlen = len;
    redisReply *r = cache_conn_command(c->conn, e, "HMGET %s g c x v", bk);
    if (r == NULL) return -1;
    int same = r->type == REDIS_REPLY_ARRAY && r->elements == 4 && cache__str_el(r, 0) &&
               cache__str_el(r, 1) && cache__str_el(r, 3) &&
               strcmp(r->element[0]->str, epoch) == 0 && strcmp(r->element[1]->str, canon) == 0 &&
               (cache__str_el(r, 2) && strcmp(r->element[2]->str, "1") == 0) == got.exhaustive &&
               r->element[3]->len == gvlen && memcmp(r->element[3]->str, gv, gvlen) == 0;
    freeReplyObject(r);
    return same;
}

/* 1 when L1 still holds val under key after a sync of the link, 0 when
 * an invalidation since dropped or replaced it. A sync that fails leaves
 * the entry counted (1). */
static int cache__l1_still_held(cache_t *c, const char *key, size_t klen, const char *val,
                                size_t vlen)
{
    err_t se = {0};
    if (cache_inval_sync(c->link, &se) != 0) return 1;
    const char *v;
    size_t n;
    if (!cache_l1_get(c->l1, key, klen, cache_l1_now_ms(), &v, &n)) return 0;
    return n == vlen && memcmp(v, val, vlen) == 0;
}

int cache_l1_check(cache_t *c, cache_l1_report_fn fn, void *ud, long *entries, long *mismatches,
                   err_t *e)
{
    *entries = *mismatches = 0;
    if (c->l1 == NULL) return 0;
    /* Invalidations in flight first: what they drop is not a mismatch. A
     * link that cannot sync (Redis just restarted, say) means L1 serves
     * nothing until it is back; it is emptied, so nothing is left to check. */
    err_t le = {0};
    if (cache_inval_sync(c->link, &le) != 0) {
        cache__l1_inval(c, NULL, 0);
        char line[700];
        snprintf(line, sizeof line, "L1 worker %ld: %s: emptied, serving nothing until it is back",
                 (long)getpid(), le.msg);
        fn(ud, line);
        return 0;
    }
    cache__l1_copy_t cp = {BUF_INIT, BUF_INIT, 0};
    cache_l1_each(c->l1, cache__l1_copy, &cp);
    arena_t a;
    arena_init(&a, 64 * 1024);
    int rc = 0;
    redisReply *r = cache_conn_command(c->conn, e, "GET %s", c->epoch_key.data);
    const char *epoch = NULL;
    if (r == NULL) {
        rc = -1;
    } else {
        epoch = r->type == REDIS_REPLY_STRING ? arena_strndup(&a, r->str, r->len) : "";
        freeReplyObject(r);
    }
    const char *kp = cp.keys.data, *vp = cp.vals.data;
    for (size_t i = 0; i < cp.n && rc == 0; i++) {
        uint32_t kl, vl;
        memcpy(&kl, kp, sizeof kl);
        memcpy(&vl, vp, sizeof vl);
        const char *k = kp + sizeof kl, *v = vp + sizeof vl;
        kp = k + kl;
        vp = v + vl;
        char *key = arena_strndup(&a, k + 1, kl - 1);
        int same;
        if (k[0] == 'e') {
            const char *t = cache__l1_truth_entity(c, &a, key, epoch, e);
            same = t && strlen(t) == vl && memcmp(t, v, vl) == 0;
        } else {
            same = cache__l1_check_batch(c, &a, key, kl - 1, v, vl, epoch, e);
        }
        if (same < 0) {
            rc = -1;
            break;
        }
        /* Our own read can make Redis drop a key whose TTL just ran out
         * (lazily, reporting it as it does so): sync again, and an entry
         * the report dropped is no mismatch. */
        if (!same && cache__l1_still_held(c, k, kl, v, vl) == 0) same = 1;
        (*entries)++;
        if (!same) {
            (*mismatches)++;
            char line[600];
            snprintf(line, sizeof line, "MISMATCH L1 worker %ld %s %.400s: not what Redis holds",
                     (long)getpid(), k[0] == 'e' ? "entity" : "batch", key);
            fn(ud, line);
        }
    }
    arena_destroy(&a);
    buf_free(&cp.keys);
    buf_free(&cp.vals);
    return rc;
}
