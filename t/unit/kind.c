/*
 * t/unit/kind.c — every row of the kind table (lib/kind.h) is complete and
 * consistent: names parse back, the TTL knob is set, a record of each kind
 * survives JSON and BSON byte for byte, tags tell shared record types
 * apart, and every cached query the cache declares has a MongoDB run in the
 * repositories. A new kind without a row, or with a hole in it, fails here.
 */
#include "cache_lua.h" /* build/gen: lib/cache_lua/cache.lua as a C string */
#include "cache_query.h"
#include "cfg.h"
#include "kind.h"
#include "repo_int.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

/* A valid record of the row's type, as the cache stores it. A new record
 * type needs its sample here. */
static const char *sample_json(const kind_t *row, arena_t *a)
{
    if (row->fields == &model_book_table) {
        return "{\"id\":\"x1\",\"isbn\":\"9780441478125\",\"title\":\"T\",\"authors\":[\"A\"],"
               "\"year\":1969,\"price\":12.5,\"bookstore_id\":\"s1\",\"version\":3,"
               "\"created_at\":1700000000123,\"updated_at\":1700000000456}";
    }
    if (row->fields == &model_bookstore_table) {
        return "{\"id\":\"x1\",\"name\":\"N\",\"name_key\":\"n\",\"city\":\"Oslo\",\"version\":3,"
               "\"created_at\":1700000000123,\"updated_at\":1700000000456}";
    }
    if (row->fields == &model_fruit_table) {
        return arena_printf(a,
                            "{\"id\":\"x1\",\"kind\":\"%s\",\"breed\":\"B\",\"size\":5,"
                            "\"colour\":\"red\",\"acidity\":3.5,\"version\":3,"
                            "\"created_at\":1700000000123,\"updated_at\":1700000000456}",
                            fruit_kind_name((fruit_kind_t)row->tag));
    }
    return NULL;
}

static void walk_kind(cache_kind_t k, const cfg_t *cfg, arena_t *a)
{
    const kind_t *row = kind_get(k);
    err_t e = {0};
    ok(row->kind == k && row->name && row->what && row->fields, "kind %d: a complete row (%s)",
       (int)k, row->name ? row->name : "(none)");
    if (!row->name || !row->fields) return;
    cache_kind_t back;
    ok(cache_kind_parse(row->name, &back, &e) == 0 && back == k && kind_find(row->name) == row,
       "%s: the name parses back", row->name);
    for (int j = 0; j < (int)k; j++) {
        ok(strcmp(kind_get((cache_kind_t)j)->name, row->name) != 0, "%s: name unique vs %s",
           row->name, kind_get((cache_kind_t)j)->name);
    }
    size_t size = model_record_size(row->fields);
    ok(row->version_off + sizeof(int64_t) <= size &&
           row->updated_at_off + sizeof(int64_t) <= size && row->version_off != row->updated_at_off,
       "%s: version and update time inside the record", row->name);
    ok(row->ttl_knob + sizeof(long long) <= sizeof(cfg_t) && kind_ttl_s(k, cfg) >= 1,
       "%s: a TTL knob with a default (%lld s; 0 would never expire)", row->name,
       kind_ttl_s(k, cfg));

    const char *json = sample_json(row, a);
    ok(json != NULL, "%s: t/unit/kind.c has a sample of its record type", row->name);
    if (json == NULL) return;
    void *rec = kind_from_json(k, a, json, strlen(json), &e);
    ok(rec != NULL, "%s: sample parses (%s)", row->name, rec ? "ok" : e.msg);
    if (rec == NULL) return;
    check_str(kind_id(rec), "x1", "%s: id first", row->name);
    ok(kind_version(k, rec) == 3, "%s: version read through the row", row->name);
    buf_t b = BUF_INIT;
    kind_to_json(k, rec, &b);
    check_str(b.data, json, "%s: JSON round trip is byte-identical", row->name);
    bson_t doc = BSON_INITIALIZER, unset = BSON_INITIALIZER;
    kind_to_bson(k, rec, &doc);
    kind_unset_absent(k, rec, &unset);
    ok(bson_empty(&unset), "%s: nothing to unset when every field is present", row->name);
    void *rec2 = kind_from_bson(k, a, &doc, &e);
    buf_reset(&b);
    if (rec2) kind_to_json(k, rec2, &b);
    ok(rec2 && strcmp(b.data, json) == 0, "%s: BSON round trip (tag from the row)", row->name);
    kind_stamp(k, rec, 9, 42);
    ok(kind_version(k, rec) == 9 && *(int64_t *)((char *)rec + row->updated_at_off) == 42,
       "%s: stamp sets version and update time", row->name);
    if (row->tag_off != KIND_NO_TAG) {
        for (int j = 0; j < CACHE__KINDS; j++) {
            const kind_t *o = kind_get((cache_kind_t)j);
            if (o == row || o->fields != row->fields) continue;
            ok(o->tag != row->tag && kind_from_json(o->kind, a, json, strlen(json), &e) == NULL,
               "%s: a record of %s is refused as one of %s", row->name, row->name, o->name);
        }
    }
    bson_destroy(&doc);
    bson_destroy(&unset);
    buf_free(&b);
}

int main(void)
{
    arena_t a;
    arena_init(&a, 0);
    cfg_t cfg;
    err_t e = {0};
    ok(cfg_load(&cfg, &e) == 0, "default configuration loads");
    for (int k = 0; k < CACHE__KINDS; k++) walk_kind((cache_kind_t)k, &cfg, &a);
    ok(kind_find("pears") == NULL && strcmp(cache_kind_name(CACHE__KINDS), "?") == 0,
       "no row outside the enum");
    ok(kind_of_fruit(FRUIT_APPLE) == CACHE_APPLES && kind_of_fruit(FRUIT_ORANGE) == CACHE_ORANGES,
       "fruit kinds map to their rows");

    /* Books store a derived natural key beside the record. */
    const kind_t *books = kind_get(CACHE_BOOKS);
    book_t bk = {.id = "b1"};
    bson_t d = BSON_INITIALIZER;
    books->stored_extra(&a, &bk, true, &d);
    bson_iter_t it;
    ok(bson_iter_init_find(&it, &d, "nkey") && strcmp(bson_iter_utf8(&it, NULL), "id:b1") == 0,
       "a new book without ISBN stores nkey id:<id>");
    bson_destroy(&d);

    /* cache.lua refuses a write of a kind its KINDS table lacks. */
    const char *kl = strstr(cache_lua_cache, "local KINDS = {");
    const char *ke = kl ? strchr(kl, '}') : NULL;
    int listed = 0, entries = 0;
    for (const char *p = kl; ke && p < ke; p++)
        entries += p[0] == '=' && p[1] == ' ' && p[2] == '1';
    for (int k = 0; ke && k < CACHE__KINDS; k++) {
        const char *name = cache_kind_name((cache_kind_t)k);
        for (const char *p = kl; p && p < ke && (p = strstr(p, name)) && p < ke; p++) {
            if ((p[-1] == '{' || p[-1] == ' ') && strncmp(p + strlen(name), " = 1", 4) == 0) {
                listed++;
                break;
            }
        }
    }
    ok(ke && listed == CACHE__KINDS && entries == CACHE__KINDS,
       "cache.lua's KINDS lists exactly the %d kinds (%d listed, %d entries)", CACHE__KINDS, listed,
       entries);

    int nq;
    const cache_query_decl_t *q = cache_query_all(&nq);
    for (int i = 0; i < nq; i++) {
        int tables_ok = q[i].ntables >= 1;
        for (int t = 0; t < q[i].ntables; t++) tables_ok &= (unsigned)q[i].tables[t] < CACHE__KINDS;
        const repo__query_t *rq = repo__query_find(q[i].name);
        ok(tables_ok && rq && rq->run && rq->arg_of,
           "cached query %s: known tables and a MongoDB run (repo__query_t)", q[i].name);
        ok(rq && (q[i].join_field != NULL) == (rq->join != NULL) &&
               (!rq->join || rq->join_kind == q[i].join_kind),
           "cached query %s: the repository joins what the declaration joins", q[i].name);
    }
    arena_destroy(&a);
    return tap_done();
}
