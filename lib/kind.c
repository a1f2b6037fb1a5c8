/*
 * kind.c — THE kind table (see kind.h) and the code that reads it.
 */
#include "kind.h"

#include <stdlib.h>
#include <string.h>

/* Books carry `nkey`, their natural key under a unique index (repo_book.c):
 * "isbn:<isbn>", else (a new book) "id:<_id>"; an update without an ISBN
 * keeps the stored one ("ol:<work key>" of ingested books). */
static void kind__book_extra(arena_t *a, const void *rec, bool insert, bson_t *doc)
{
    const book_t *b = rec;
    if (b->isbn) {
        BSON_APPEND_UTF8(doc, "nkey", arena_printf(a, "isbn:%s", b->isbn));
    } else if (insert) {
        BSON_APPEND_UTF8(doc, "nkey", arena_printf(a, "id:%s", b->id));
    }
}

#define KIND__TIMES(T)                                                                             \
    .version_off = offsetof(T, version), .updated_at_off = offsetof(T, updated_at)

static const kind_t kind__rows[] = {
    [CACHE_BOOKS] = {.kind = CACHE_BOOKS,
                     .name = "books",
                     .what = "book",
                     .fields = &model_book_table,
                     KIND__TIMES(book_t),
                     .tag_off = KIND_NO_TAG,
                     .ttl_knob = offsetof(cfg_t, cache_ttl_books_s),
                     .stored_extra = kind__book_extra},
    [CACHE_BOOKSTORES] = {.kind = CACHE_BOOKSTORES,
                          .name = "bookstores",
                          .what = "bookstore",
                          .fields = &model_bookstore_table,
                          KIND__TIMES(bookstore_t),
                          .tag_off = KIND_NO_TAG,
                          .ttl_knob = offsetof(cfg_t, cache_ttl_bookstores_s)},
    [CACHE_APPLES] = {.kind = CACHE_APPLES,
                      .name = "apples",
                      .what = "apple",
                      .fields = &model_fruit_table,
                      KIND__TIMES(fruit_t),
                      .tag_off = offsetof(fruit_t, kind),
                      .tag = FRUIT_APPLE,
                      .ttl_knob = offsetof(cfg_t, cache_ttl_fruit_s)},
    [CACHE_ORANGES] = {.kind = CACHE_ORANGES,
                       .name = "oranges",
                       .what = "orange",
                       .fields = &model_fruit_table,
                       KIND__TIMES(fruit_t),
                       .tag_off = offsetof(fruit_t, kind),
                       .tag = FRUIT_ORANGE,
                       .ttl_knob = offsetof(cfg_t, cache_ttl_fruit_s)},
};

/* A kind without a row fails the build; a hole in the middle fails t/unit/kind.c. */
_Static_assert(sizeof kind__rows / sizeof kind__rows[0] == CACHE__KINDS, "one row per kind");
/* The tag is stored as an int-sized enum. */
_Static_assert(sizeof(fruit_kind_t) == sizeof(int), "tags are int-sized");

const kind_t *kind_get(cache_kind_t k)
{
    return &kind__rows[k];
}

const kind_t *kind_find(const char *s)
{
    for (int i = 0; s && i < CACHE__KINDS; i++) {
        if (strcmp(s, kind__rows[i].name) == 0) return &kind__rows[i];
    }
    return NULL;
}

const char *cache_kind_name(cache_kind_t k)
{
    return (unsigned)k < CACHE__KINDS ? kind__rows[k].name : "?";
}

int cache_kind_parse(const char *s, cache_kind_t *out, err_t *e)
{
    const kind_t *row = kind_find(s);
    if (row) {
        *out = row->kind;
        return 0;
    }
    buf_t names = BUF_INIT;
    for (int i = 0; i < CACHE__KINDS; i++)
        buf_printf(&names, "%s%s", i ? ", " : "", kind__rows[i].name);
    err_set(e, ERR_BAD_INPUT, "unknown cache kind '%s' (%s)", s ? s : "(null)", names.data);
    buf_free(&names);
    return -1;
}

#define KIND__AT(rec, off, T) ((T *)((char *)(rec) + (off)))

const char *kind_id(const void *rec)
{
    return *(const char *const *)rec; /* every record starts with its id */
}

int64_t kind_version(cache_kind_t k, const void *rec)
{
    return *(const int64_t *)((const char *)rec + kind__rows[k].version_off);
}

void kind_stamp(cache_kind_t k, void *rec, int64_t version, int64_t now_ms)
{
    *KIND__AT(rec, kind__rows[k].version_off, int64_t) = version;
    *KIND__AT(rec, kind__rows[k].updated_at_off, int64_t) = now_ms;
}

long long kind_ttl_s(cache_kind_t k, const cfg_t *cfg)
{
    return *(const long long *)((const char *)cfg + kind__rows[k].ttl_knob);
}

cache_kind_t kind_of_fruit(fruit_kind_t f)
{
    for (int i = 0; i < CACHE__KINDS; i++) {
        const kind_t *row = &kind__rows[i];
        if (row->fields == &model_fruit_table && row->tag == (int)f) return row->kind;
    }
    /* A fruit kind without a row is a bug t/unit/kind.c catches; never
     * guess one (that is how a new kind used to be cached as another). */
    err_log("kind.c: no row for fruit kind %d", (int)f);
    abort();
}

void kind_to_json(cache_kind_t k, const void *rec, buf_t *out)
{
    model_to_json(kind__rows[k].fields, rec, out);
}

static void *kind__new(const kind_t *row, arena_t *a)
{
    void *rec = arena_calloc(a, 1, model_record_size(row->fields));
    if (row->tag_off != KIND_NO_TAG) *KIND__AT(rec, row->tag_off, int) = row->tag;
    return rec;
}

void *kind_from_json(cache_kind_t k, arena_t *a, const char *json, size_t len, err_t *e)
{
    const kind_t *row = &kind__rows[k];
    void *rec = arena_calloc(a, 1, model_record_size(row->fields));
    if (model_from_json(row->fields, a, json, len, rec, e) != 0) return NULL;
    if (row->tag_off != KIND_NO_TAG && *KIND__AT(rec, row->tag_off, int) != row->tag) {
        err_set(e, ERR_INTERNAL, "cached %s holds a record of another kind", row->name);
        return NULL;
    }
    return rec;
}

void kind_to_bson(cache_kind_t k, const void *rec, bson_t *doc)
{
    model_to_bson(kind__rows[k].fields, rec, doc);
}

void *kind_from_bson(cache_kind_t k, arena_t *a, const bson_t *doc, err_t *e)
{
    const kind_t *row = &kind__rows[k];
    void *rec = kind__new(row, a);
    return model_from_bson(row->fields, a, doc, rec, e) == 0 ? rec : NULL;
}

void kind_unset_absent(cache_kind_t k, const void *rec, bson_t *unset)
{
    model_unset_absent(kind__rows[k].fields, rec, unset);
}
