/*
 * gql_run.c — runs GraphQL documents against a schema with static JSON data,
 * for the conformance corpus (t/22-gql-corpus.t) and by hand.
 *
 *   gql_run SCHEMA.graphql DATA.json|- CASE.graphql...
 *
 * Prints one JSON line per case: {"case":..., "status":0|1, "response":{...}}
 * (status 1 = request error, HTTP 400). A case file may start with comment
 * lines "# variables: {json}" and "# operationName: Name".
 *
 * The resolvers are the same rules t/gql/gen.js gives graphql-js: a field's
 * value is the parent JSON object's member of that name; {"__error": msg}
 * is a field error; {"__arg": "a", "cases": {...}} picks the case named by
 * argument a ("null" when absent); {"__echo": true} returns the coerced
 * arguments; objects name their concrete type in "__typename".
 *
 * Each case also runs twice through a document cache (a miss, then a hit
 * on the frozen plan); an answer that differs from the plain one goes to
 * stderr, which fails t/22.
 */
#include "gql.h"
#include "gql_int.h"

#include "cJSON.h"

#include <stdio.h>
#include <stdlib.h>

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    buf_t b = BUF_INIT;
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) buf_append(&b, tmp, n);
    fclose(f);
    if (b.data == NULL) buf_append(&b, "", 0);
    *len = b.len;
    return b.data;
}

static const cJSON *g_root;

static gql_value_t from_json(arena_t *a, const cJSON *j, const gql_value_t *args);

static const char *arg_key(arena_t *a, const gql_value_t *v)
{
    if (v == NULL || v->kind == GQL_NULL) return "null";
    switch (v->kind) {
    case GQL_STRING:
    case GQL_ENUM:
        return arena_strndup(a, v->u.s.ptr, v->u.s.len);
    case GQL_INT:
        return arena_printf(a, "%lld", (long long)v->u.i);
    case GQL_BOOL:
        return v->u.b ? "true" : "false";
    default:
        return "?";
    }
}

static gql_value_t from_json(arena_t *a, const cJSON *j, const gql_value_t *args)
{
    if (j == NULL || cJSON_IsNull(j)) return gql_null();
    if (cJSON_IsBool(j)) return gql_bool(cJSON_IsTrue(j));
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == (double)(long long)d) return gql_int((long long)d);
        return gql_float(d);
    }
    if (cJSON_IsString(j)) return gql_str(j->valuestring, strlen(j->valuestring));
    if (cJSON_IsArray(j)) {
        gql_value_t v = gql_list(a, (size_t)cJSON_GetArraySize(j));
        size_t i = 0;
        for (const cJSON *it = j->child; it; it = it->next)
            v.u.list.items[i++] = from_json(a, it, NULL);
        return v;
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "__error");
    if (cJSON_IsString(e)) return gql_error(ERR_INTERNAL, e->valuestring);
    const cJSON *sel = cJSON_GetObjectItemCaseSensitive(j, "__arg");
    if (cJSON_IsString(sel)) {
        const char *key = arg_key(a, args ? gql_input_field(args, sel->valuestring) : NULL);
        const cJSON *cases = cJSON_GetObjectItemCaseSensitive(j, "cases");
        return from_json(a, cJSON_GetObjectItemCaseSensitive(cases, key), NULL);
    }
    if (cJSON_GetObjectItemCaseSensitive(j, "__echo")) return args ? *args : gql_null();
    const cJSON *tn = cJSON_GetObjectItemCaseSensitive(j, "__typename");
    return gql_obj((void *)j, cJSON_IsString(tn) ? tn->valuestring : NULL);
}

static int resolve_any(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    for (size_t i = 0; i < n; i++) {
        const cJSON *p = parents[i] ? parents[i] : g_root;
        out[i] = from_json(call->arena, cJSON_GetObjectItemCaseSensitive(p, call->field_name),
                           call->args);
    }
    return 0;
}

static void header(const char *src, const char *key, char *out, size_t cap)
{
    out[0] = '\0';
    size_t kl = strlen(key);
    for (const char *p = src; p && *p == '#'; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p + 2, key, kl) == 0) {
            const char *v = p + 2 + kl, *end = strchr(v, '\n');
            size_t n = end ? (size_t)(end - v) : strlen(v);
            if (n >= cap) n = cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s SCHEMA.graphql DATA.json CASE.graphql...\n", argv[0]);
        return 2;
    }
    size_t len;
    char *sdl = slurp(argv[1], &len);
    if (sdl == NULL) {
        perror(argv[1]);
        return 2;
    }
    err_t e;
    gql_schema_t *s;
    if (gql_schema_load(sdl, len, &s, &e)) {
        fprintf(stderr, "%s:%s\n", argv[1], e.msg);
        return 1;
    }
    char *data = strcmp(argv[2], "-") == 0 ? strdup("{}") : slurp(argv[2], &len);
    cJSON *root = data ? cJSON_Parse(data) : NULL;
    if (root == NULL) {
        fprintf(stderr, "%s: cannot read JSON\n", argv[2]);
        return 2;
    }
    g_root = root;
    gql_resolver_def_t defs[64];
    size_t nd = 0;
    for (uint32_t i = 0; i < s->norder && nd < 64; i++)
        if (s->order[i]->kind == GQL_T_OBJECT && !s->order[i]->builtin)
            defs[nd++] = (gql_resolver_def_t){arena_printf(&s->arena, "%s.*", s->order[i]->name),
                                              resolve_any};
    gql_resolvers_t *r;
    if (gql_resolvers_new(s, defs, nd, &r, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    arena_t arena;
    arena_init(&arena, 0);
    buf_t out = BUF_INIT, cached = BUF_INIT;
    gql_doc_cache_t *dc = gql_doc_cache_new(s, 1 << 20);
    for (int i = 3; i < argc; i++) {
        char *q = slurp(argv[i], &len);
        if (q == NULL) {
            perror(argv[i]);
            return 2;
        }
        char vars[8192], opname[256];
        header(q, "variables: ", vars, sizeof vars);
        header(q, "operationName: ", opname, sizeof opname);
        gql_request_t req = {.query = q,
                             .query_len = len,
                             .variables_json = vars[0] ? vars : NULL,
                             .operation_name = opname,
                             .arena = &arena};
        buf_reset(&out);
        gql_status_t st = gql_execute(s, r, &req, &out);
        const char *name = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
        for (int k = 0; k < 2; k++) {
            gql_request_t rc = req;
            rc.prepared_ = NULL;
            rc.doc_cache = dc;
            buf_reset(&cached);
            gql_status_t cst = gql_execute(s, r, &rc, &cached);
            if (cst != st || strcmp(cached.data, out.data) != 0)
                fprintf(stderr, "%s: with the document cache (%s): %s\n", name, k ? "hit" : "miss",
                        cached.data);
        }
        printf("{\"case\":\"%s\",\"status\":%d,\"response\":%s}\n", name, (int)st, out.data);
        free(q);
        arena_reset(&arena);
    }
    buf_free(&out);
    buf_free(&cached);
    gql_doc_cache_free(dc);
    arena_destroy(&arena);
    cJSON_Delete(root);
    free(data);
    free(sdl);
    gql_resolvers_free(r);
    gql_schema_free(s);
    return 0;
}
