/*
 * cache_query.c — the query declaration table and argument normalization
 * (see cache_query.h).
 */
#include "cache_query.h"

#include "buf.h"
#include "json_in.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* THE declaration table. One row per cached query kind. */
static const cache_query_decl_t cache_query__decls[] = {
    {.name = "fruitBySize",
     .tables = {CACHE_APPLES, CACHE_ORANGES},
     .ntables = 2,
     .filters = {{"size", CACHE_OP_EQ, "size", NULL, CACHE_ARG_INT}},
     .nfilters = 1,
     .sort = {"breed"},
     .nsort = 1,
     .limit_arg = "limit",
     .limit_default = 100,
     .limit_max = 1000},
    {.name = "fruitByColour",
     .tables = {CACHE_APPLES, CACHE_ORANGES},
     .ntables = 2,
     .filters = {{"colour", CACHE_OP_EQ, "colour", NULL, CACHE_ARG_STR}},
     .nfilters = 1,
     .sort = {"breed"},
     .nsort = 1,
     .limit_arg = "limit",
     .limit_default = 100,
     .limit_max = 1000},
    {.name = "fruitByAcidity",
     .tables = {CACHE_APPLES, CACHE_ORANGES},
     .ntables = 2,
     .filters = {{"acidity", CACHE_OP_RANGE, "min", "max", CACHE_ARG_NUM}},
     .nfilters = 1,
     .sort = {"breed"},
     .nsort = 1,
     .limit_arg = "limit",
     .limit_default = 100,
     .limit_max = 1000},
    /* The one-to-many: a bookstore's book ids (count = members). */
    {.name = "bookstoreBooks",
     .tables = {CACHE_BOOKS},
     .ntables = 1,
     .filters = {{"bookstore_id", CACHE_OP_EQ, "bookstoreId", NULL, CACHE_ARG_STR}},
     .nfilters = 1},
    /* Every bookstore, by id: the `bookstores` connection's pages. */
    {.name = "bookstores", .tables = {CACHE_BOOKSTORES}, .ntables = 1, .nfilters = 0},
    /* The store of a normalized name (namekey.h): 0 or 1 member. The empty
     * batch of an unknown name is its negative entry; the create (or
     * rename) that takes the name inserts the store by reconciliation. */
    {.name = "bookstoreByName",
     .tables = {CACHE_BOOKSTORES},
     .ntables = 1,
     .filters = {{"name_key", CACHE_OP_EQ, "nameKey", NULL, CACHE_ARG_STR}},
     .nfilters = 1},
    {.name = "books",
     .tables = {CACHE_BOOKS},
     .ntables = 1,
     .filters = {{"id", CACHE_OP_IN, "ids", NULL, CACHE_ARG_STR}},
     .nfilters = 1},
    {.name = "bookstoresForBooks",
     .tables = {CACHE_BOOKS},
     .ntables = 1,
     .filters = {{"id", CACHE_OP_IN, "bookIds", NULL, CACHE_ARG_STR}},
     .nfilters = 1,
     .join_field = "bookstore_id",
     .join_kind = CACHE_BOOKSTORES},
};

#define CACHE_QUERY__N ((int)(sizeof cache_query__decls / sizeof cache_query__decls[0]))

const cache_query_decl_t *cache_query_find(const char *name)
{
    for (int i = 0; i < CACHE_QUERY__N; i++) {
        if (strcmp(cache_query__decls[i].name, name) == 0) return &cache_query__decls[i];
    }
    return NULL;
}

const cache_query_decl_t *cache_query_all(int *n)
{
    *n = CACHE_QUERY__N;
    return cache_query__decls;
}

static const char *const cache_query__ops[] = {"eq", "range", "in"};

/* Appends one argument value, checked against its declared type, as JSON. */
static int cache_query__value(buf_t *out, const cJSON *v, cache_arg_type_t t, const char *name,
                              err_t *e)
{
    switch (t) {
    case CACHE_ARG_INT:
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
            fabs(v->valuedouble) > 9007199254740992.0) {
            return err_set(e, ERR_BAD_INPUT, "argument %s must be a whole number", name);
        }
        buf_put_i64(out, (int64_t)v->valuedouble);
        return 0;
    case CACHE_ARG_NUM:
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
            return err_set(e, ERR_BAD_INPUT, "argument %s must be a number", name);
        }
        buf_put_double(out, v->valuedouble);
        return 0;
    case CACHE_ARG_STR:
    case CACHE_ARG_STR_LIST:
        if (!cJSON_IsString(v))
            return err_set(e, ERR_BAD_INPUT, "argument %s must be a string", name);
        buf_put_json_str(out, v->valuestring, strlen(v->valuestring));
        return 0;
    }
    return err_set(e, ERR_INTERNAL, "cache_query: bad argument type");
}

static int cache_query__strcmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A sorted, de-duplicated JSON array of the strings in list. */
static int cache_query__list(buf_t *out, const cJSON *list, const char *name, err_t *e)
{
    if (!cJSON_IsArray(list)) return err_set(e, ERR_BAD_INPUT, "argument %s must be a list", name);
    int n = cJSON_GetArraySize(list);
    if (n > 10000) return err_set(e, ERR_BAD_INPUT, "argument %s: at most 10000 ids", name);
    const char **v = malloc(sizeof *v * (size_t)(n ? n : 1));
    if (v == NULL) abort();
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, list)
    {
        if (!cJSON_IsString(it)) {
            free(v);
            return err_set(e, ERR_BAD_INPUT, "argument %s must hold strings", name);
        }
        v[i++] = it->valuestring;
    }
    qsort(v, (size_t)n, sizeof *v, cache_query__strcmp);
    buf_putc(out, '[');
    for (i = 0; i < n; i++) {
        if (i > 0 && strcmp(v[i], v[i - 1]) == 0) continue;
        if (out->data[out->len - 1] != '[') buf_putc(out, ',');
        buf_put_json_str(out, v[i], strlen(v[i]));
    }
    buf_putc(out, ']');
    free(v);
    return 0;
}

/* out += a b c val */
static void cache_query__put3(buf_t *out, const char *a, const char *b, const char *c,
                              const buf_t *val)
{
    buf_puts(out, a);
    buf_puts(out, b);
    buf_puts(out, c);
    buf_append(out, val->data, val->len);
}

static const cJSON *cache_query__arg(const cJSON *args, const char *name, err_t *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    if (v == NULL || cJSON_IsNull(v)) {
        err_set(e, ERR_BAD_INPUT, "argument %s is required", name);
        return NULL;
    }
    return v;
}

int cache_query_canon(arena_t *a, const cache_query_decl_t *q, const char *args_json,
                      cache_query_t *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    /* the request's arena holds the parse: a batch read of 100 ids parses
     * 100 strings here on every read */
    const char *text = args_json ? args_json : "{}";
    const cJSON *args = json_in_read(a, text, strlen(text));
    if (args == NULL || !cJSON_IsObject(args)) {
        return err_set(e, ERR_BAD_INPUT, "%s: arguments are not a JSON object", q->name);
    }
    buf_t canon = BUF_INIT, pred = BUF_INIT, val = BUF_INIT, norm = BUF_INIT;
    int rc = -1;
    buf_printf(&canon, "%s(", q->name);
    buf_puts(&pred, "{\"n\":");
    buf_put_json_str(&pred, q->name, strlen(q->name));
    buf_puts(&pred, ",\"t\":[");
    for (int i = 0; i < q->ntables; i++) {
        buf_printf(&pred, "%s\"%s\"", i ? "," : "", cache_kind_name(q->tables[i]));
    }
    buf_puts(&pred, "],\"f\":[");
    for (int i = 0; i < q->nfilters; i++) {
        const cache_filter_decl_t *f = &q->filters[i];
        buf_printf(&pred, "%s{\"k\":", i ? "," : "");
        buf_put_json_str(&pred, f->field, strlen(f->field));
        buf_printf(&pred, ",\"o\":\"%s\"", cache_query__ops[f->op]);
        const cJSON *v = cache_query__arg(args, f->arg, e);
        if (v == NULL) goto out;
        buf_reset(&val);
        if (f->op == CACHE_OP_IN) {
            if (cache_query__list(&val, v, f->arg, e) != 0) goto out;
        } else if (cache_query__value(&val, v, f->type, f->arg, e) != 0) {
            goto out;
        }
        /* appends, not buf_printf: val is 100 ids of a batch read */
        cache_query__put3(&canon, i ? ";" : "", f->arg, "=", &val);
        cache_query__put3(&norm, norm.len ? ",\"" : "{\"", f->arg, "\":", &val);
        cache_query__put3(&pred, ",\"", f->op == CACHE_OP_RANGE ? "lo" : "v", "\":", &val);
        if (f->op == CACHE_OP_RANGE) {
            const cJSON *hi = cache_query__arg(args, f->arg_hi, e);
            if (hi == NULL) goto out;
            buf_reset(&val);
            if (cache_query__value(&val, hi, f->type, f->arg_hi, e) != 0) goto out;
            cache_query__put3(&canon, ";", f->arg_hi, "=", &val);
            cache_query__put3(&norm, ",\"", f->arg_hi, "\":", &val);
            cache_query__put3(&pred, ",\"", "hi", "\":", &val);
        }
        buf_putc(&pred, '}');
    }
    buf_puts(&pred, "],\"s\":[");
    for (int i = 0; i < q->nsort; i++) {
        if (i) buf_putc(&pred, ',');
        buf_put_json_str(&pred, q->sort[i], strlen(q->sort[i]));
    }
    buf_putc(&pred, ']');
    out->limit = -1;
    if (q->limit_arg) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(args, q->limit_arg);
        long long limit = q->limit_default;
        if (l != NULL && !cJSON_IsNull(l)) {
            if (!cJSON_IsNumber(l) || l->valuedouble != floor(l->valuedouble) ||
                l->valuedouble < 0 || l->valuedouble > (double)q->limit_max) {
                err_set(e, ERR_BAD_INPUT, "argument %s must be a whole number in 0..%lld",
                        q->limit_arg, q->limit_max);
                goto out;
            }
            limit = (long long)l->valuedouble;
        }
        out->limit = limit;
        buf_printf(&canon, ";%s=%lld", q->limit_arg, limit);
        buf_printf(&norm, "%s\"%s\":%lld", norm.len ? "," : "{", q->limit_arg, limit);
        buf_printf(&pred, ",\"l\":%lld", limit);
    }
    if (q->join_field) {
        buf_puts(&pred, ",\"j\":[");
        buf_put_json_str(&pred, q->join_field, strlen(q->join_field));
        buf_printf(&pred, ",\"%s\"]", cache_kind_name(q->join_kind));
    }
    buf_putc(&canon, ')');
    buf_puts(&norm, norm.len ? "}" : "{}");
    buf_puts(&pred, ",\"a\":");
    buf_append(&pred, norm.data, norm.len);
    buf_puts(&pred, ",\"c\":");
    buf_put_json_str(&pred, canon.data, canon.len);
    buf_putc(&pred, '}');

    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < canon.len; i++) {
        h ^= (unsigned char)canon.data[i];
        h *= 0x100000001b3ull;
    }
    out->decl = q;
    out->canon = arena_strndup(a, canon.data, canon.len);
    out->hash = arena_printf(a, "%016llx", (unsigned long long)h);
    out->pred_json = arena_strndup(a, pred.data, pred.len);
    rc = 0;
out:
    buf_free(&canon);
    buf_free(&pred);
    buf_free(&val);
    buf_free(&norm);
    return rc;
}
