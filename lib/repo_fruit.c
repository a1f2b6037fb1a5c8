/*
 * repo_fruit.c — apples and oranges: two collections, one API; queries by
 * size, colour or acidity range across both, ordered by breed then id.
 */
#include "repo_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

bool fruit_query_match(const fruit_query_t *q, const fruit_t *f)
{
    switch (q->by) {
    case FRUIT_BY_SIZE:
        return f->size == q->size;
    case FRUIT_BY_COLOUR:
        return q->colour && strcmp(f->colour, q->colour) == 0;
    case FRUIT_BY_ACIDITY:
        return f->acidity >= q->min && f->acidity <= q->max;
    }
    return false;
}

/* MongoDB compares strings bytewise without a collation; strcmp does too. */
int fruit_order_cmp(const fruit_t *a, const fruit_t *b)
{
    int c = strcmp(a->breed, b->breed);
    return c ? c : strcmp(a->id, b->id);
}

int repo_fruit_get(repo_t *r, fruit_kind_t kind, const char *id, fruit_t **out, err_t *e)
{
    return repo_fruit_get_many(r, kind, &id, 1, out, e);
}

int repo_fruit_get_many(repo_t *r, fruit_kind_t kind, const char *const *ids, size_t n,
                        fruit_t **out, err_t *e)
{
    return repo__cached_get_many(r, kind_of_fruit(kind), ids, n, (void **)out, e);
}

int repo_fruit_create(repo_t *r, fruit_kind_t kind, const fruit_t *in, fruit_t **out, err_t *e)
{
    *out = NULL;
    if (fruit_validate(in, MODEL_ALL, e) != 0) return -1;
    fruit_t *f = arena_alloc(r->arena, sizeof *f);
    *f = *in;
    f->kind = kind;
    f->id = repo__new_id(r);
    f->version = 1;
    f->created_at = f->updated_at = repo__now_ms();
    if (repo__behind(r)) {
        if (repo__behind_create(r, kind_of_fruit(kind), f, e) != 0) return -1;
        *out = f;
        return 0;
    }
    bson_t doc = BSON_INITIALIZER;
    fruit_to_bson(f, &doc);
    int rc = store_insert_one(r->store, fruit_kind_collection(kind), &doc, NULL, e);
    bson_destroy(&doc);
    if (rc != 0) return repo__write_failed(r, kind_of_fruit(kind), &f->id, 1, e);
    repo__cache_put(r, kind_of_fruit(kind), f);
    *out = f;
    return 0;
}

typedef struct {
    const fruit_t *p;
    model_mask_t mask;
} fruit__patch_t;

static void *fruit__next(repo_t *r, const void *cur, const void *ctx, err_t *e)
{
    (void)e;
    const fruit__patch_t *c = ctx;
    fruit_t *nx = arena_alloc(r->arena, sizeof *nx);
    *nx = *(const fruit_t *)cur;
    fruit_patch_apply(nx, c->p, c->mask);
    return nx;
}

int repo_fruit_update(repo_t *r, fruit_kind_t kind, const char *id, const fruit_t *patch,
                      model_mask_t mask, fruit_t **out, err_t *e)
{
    *out = NULL;
    if (repo__check_id(id, "id", e) != 0) return -1;
    mask &= MODEL_BIT(FRUIT_F_BREED) | MODEL_BIT(FRUIT_F_SIZE) | MODEL_BIT(FRUIT_F_COLOUR) |
            MODEL_BIT(FRUIT_F_ACIDITY);
    if (fruit_validate(patch, mask, e) != 0) return -1;
    const char *what = kind_get(kind_of_fruit(kind))->what;
    if (mask == 0) {
        if (repo_fruit_get(r, kind, id, out, e) != 0) return -1;
        return *out ? 0 : err_set(e, ERR_NOT_FOUND, "%s %s not found", what, id);
    }
    if (repo__behind(r)) {
        fruit__patch_t ctx = {patch, mask};
        return repo__behind_update(r, kind_of_fruit(kind), id, fruit__next, &ctx, (void **)out, e);
    }
    bson_t set = BSON_INITIALIZER, unset = BSON_INITIALIZER, update = BSON_INITIALIZER;
    bson_t query = BSON_INITIALIZER;
    fruit_patch_append(patch, mask, &set, &unset);
    repo__update_doc(&update, &set, &unset, repo__now_ms());
    BSON_APPEND_UTF8(&query, "_id", id);
    int rc = repo__modify(r, fruit_kind_collection(kind), what, id, &query, &update,
                          repo__parse_fruit, &kind, (void **)out, NULL, e);
    bson_destroy(&set);
    bson_destroy(&unset);
    bson_destroy(&update);
    bson_destroy(&query);
    if (rc != 0) return repo__write_failed(r, kind_of_fruit(kind), &id, 1, e);
    repo__cache_put(r, kind_of_fruit(kind), *out);
    return 0;
}

int repo_fruit_delete(repo_t *r, fruit_kind_t kind, const char *id, err_t *e)
{
    if (repo__check_id(id, "id", e) != 0) return -1;
    if (repo__behind(r)) {
        return repo__behind_delete(r, kind_of_fruit(kind), id, e);
    }
    bson_t f = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&f, "_id", id);
    void *gone = NULL;
    int rc = repo__modify(r, fruit_kind_collection(kind), kind_get(kind_of_fruit(kind))->what, id,
                          &f, NULL, repo__parse_fruit, &kind, &gone, NULL, e);
    bson_destroy(&f);
    if (rc != 0) return repo__write_failed(r, kind_of_fruit(kind), &id, 1, e);
    repo__cache_del(r, kind_of_fruit(kind), id, ((fruit_t *)gone)->version + 1);
    return 0;
}

typedef struct {
    repo_t *r;
    fruit_kind_t kind;
    fruit_t **items;
    size_t n;
} fruit__list_t;

static int fruit__collect(void *ctx, const bson_t *doc, err_t *e)
{
    fruit__list_t *l = ctx;
    fruit_t *f = repo__parse_fruit(l->r, doc, &l->kind, e);
    if (f == NULL) return -1;
    l->items[l->n++] = f;
    return 0;
}

static void fruit__filter(const fruit_query_t *q, bson_t *f)
{
    bson_t range;
    switch (q->by) {
    case FRUIT_BY_SIZE:
        BSON_APPEND_INT64(f, "size", q->size);
        break;
    case FRUIT_BY_COLOUR:
        BSON_APPEND_UTF8(f, "colour", q->colour);
        break;
    case FRUIT_BY_ACIDITY:
        BSON_APPEND_DOCUMENT_BEGIN(f, "acidity", &range);
        BSON_APPEND_DOUBLE(&range, "$gte", q->min);
        BSON_APPEND_DOUBLE(&range, "$lte", q->max);
        bson_append_document_end(f, &range);
        break;
    }
}

/* The query on MongoDB: `limit` of each collection, merged in order. */
static int fruit__run(repo_t *r, const void *arg, long long limit, repo__batch_t *out, err_t *e)
{
    const fruit_query_t *q = arg;
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
    fruit__filter(q, &filter);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "breed", 1);
    BSON_APPEND_INT32(&sort, "_id", 1);
    bson_append_document_end(&opts, &sort);
    BSON_APPEND_INT64(&opts, "limit", limit);
    BSON_APPEND_INT64(&opts, "batchSize", limit);
    fruit__list_t lists[2];
    int rc = 0;
    for (int k = 0; k < 2 && rc == 0; k++) {
        lists[k] = (fruit__list_t){r, (fruit_kind_t)k, NULL, 0};
        lists[k].items = arena_alloc(r->arena, (size_t)limit * sizeof(fruit_t *));
        rc = store_find(r->store, fruit_kind_collection((fruit_kind_t)k), &filter, &opts,
                        fruit__collect, &lists[k], e);
    }
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (rc != 0) return -1;
    /* Merge the two sorted lists, keep the first `limit`. */
    fruit_t **m = arena_alloc(r->arena, (size_t)limit * sizeof *m);
    out->kinds = arena_alloc(r->arena, (size_t)limit * sizeof *out->kinds);
    size_t i = 0, j = 0, k = 0;
    while (k < (size_t)limit && (i < lists[0].n || j < lists[1].n)) {
        bool take_a =
            j >= lists[1].n ||
            (i < lists[0].n && fruit_order_cmp(lists[0].items[i], lists[1].items[j]) <= 0);
        m[k] = take_a ? lists[0].items[i++] : lists[1].items[j++];
        out->kinds[k] = kind_of_fruit(m[k]->kind);
        k++;
    }
    out->recs = (void **)m;
    out->n = k;
    return 0;
}

/* The cached queries' arg from their normalized arguments (cache verify). */
static fruit_query_t *fruit__query_of(arena_t *a, fruit_by_t by, long long limit)
{
    fruit_query_t *q = arena_calloc(a, 1, sizeof *q);
    q->by = by;
    q->limit = limit;
    return q;
}

static double fruit__num(const cJSON *args, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const void *fruit__size_arg(arena_t *a, const cJSON *args, long long limit)
{
    fruit_query_t *q = fruit__query_of(a, FRUIT_BY_SIZE, limit);
    q->size = (int64_t)fruit__num(args, "size");
    return q;
}

static const void *fruit__colour_arg(arena_t *a, const cJSON *args, long long limit)
{
    fruit_query_t *q = fruit__query_of(a, FRUIT_BY_COLOUR, limit);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, "colour");
    q->colour = cJSON_IsString(v) ? arena_strdup(a, v->valuestring) : "";
    return q;
}

static const void *fruit__acidity_arg(arena_t *a, const cJSON *args, long long limit)
{
    fruit_query_t *q = fruit__query_of(a, FRUIT_BY_ACIDITY, limit);
    q->min = fruit__num(args, "min");
    q->max = fruit__num(args, "max");
    return q;
}

const repo__query_t repo__q_fruit_by_size = {
    .name = "fruitBySize", .run = fruit__run, .arg_of = fruit__size_arg};
const repo__query_t repo__q_fruit_by_colour = {
    .name = "fruitByColour", .run = fruit__run, .arg_of = fruit__colour_arg};
const repo__query_t repo__q_fruit_by_acidity = {
    .name = "fruitByAcidity", .run = fruit__run, .arg_of = fruit__acidity_arg};

int repo_fruit_find(repo_t *r, const fruit_query_t *q, fruit_t ***out, size_t *n, err_t *e)
{
    *out = NULL;
    *n = 0;
    if (q->limit < 1 || q->limit > REPO_PAGE_MAX) {
        return err_set(e, ERR_BAD_INPUT, "limit: %lld is out of range (1..%d)", (long long)q->limit,
                       REPO_PAGE_MAX);
    }
    if (q->by == FRUIT_BY_COLOUR && q->colour == NULL) {
        return err_set(e, ERR_BAD_INPUT, "colour: required");
    }
    if (q->by == FRUIT_BY_ACIDITY && (!isfinite(q->min) || !isfinite(q->max))) {
        return err_set(e, ERR_BAD_INPUT, "min/max: must be finite numbers");
    }
    if (q->by == FRUIT_BY_ACIDITY && q->min > q->max) {
        return err_set(e, ERR_BAD_INPUT, "min: %g is greater than max %g", q->min, q->max);
    }
    /* The cached batch of the declared query (cache_query.c). */
    static const repo__query_t *const decls[] = {
        [FRUIT_BY_SIZE] = &repo__q_fruit_by_size,
        [FRUIT_BY_COLOUR] = &repo__q_fruit_by_colour,
        [FRUIT_BY_ACIDITY] = &repo__q_fruit_by_acidity,
    };
    buf_t a = BUF_INIT;
    switch (q->by) {
    case FRUIT_BY_SIZE:
        buf_printf(&a, "{\"size\":%lld", (long long)q->size);
        break;
    case FRUIT_BY_COLOUR:
        buf_puts(&a, "{\"colour\":");
        buf_put_json_str(&a, q->colour, strlen(q->colour));
        break;
    case FRUIT_BY_ACIDITY:
        buf_puts(&a, "{\"min\":");
        buf_put_double(&a, q->min);
        buf_puts(&a, ",\"max\":");
        buf_put_double(&a, q->max);
        break;
    }
    buf_printf(&a, ",\"limit\":%lld}", (long long)q->limit);
    const char *args = arena_strndup(r->arena, a.data, a.len);
    buf_free(&a);
    repo__batch_t b = {0};
    if (repo__cached_batch(r, decls[q->by], args, q->limit, q, &b, e) != 0) {
        return -1;
    }
    *out = (fruit_t **)b.recs;
    *n = b.n;
    return 0;
}
