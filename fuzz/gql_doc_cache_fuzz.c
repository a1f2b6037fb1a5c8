/*
 * gql_doc_cache_fuzz.c — libFuzzer target over the document cache: the same
 * document twice with different variables, through a cache that lives
 * across inputs (small, so entries are evicted), each answer checked byte
 * for byte against the same request without the cache. A difference aborts:
 * a cached document must answer exactly as a freshly parsed one.
 *
 * The resolvers make data up from the field's type (lists of 0-2 items,
 * every concrete type of an abstract field, nulls and errors, a null for
 * a non-null field now and then), deterministic in (parent, field), so the
 * whole depth of a document executes: the frozen plan's sets for every
 * concrete type, batching, and null propagation.
 *
 * Input: a document, optionally followed by a line "#vars:" and variables
 * JSON for the first run, and another "#vars:" line for the second (else
 * the second runs with {}). The corpus t/gql/corpus is its seed set.
 * `make fuzz` runs it; t/25 replays fuzz/regress/gql_doc_cache_fuzz/ and the
 * seeds through t/prog/gql_doc_cache_fuzz_replay.c, which includes this file.
 */
#include "fuzz_schema.h"
#include "gql_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gql_schema_t *fz_schema;
static gql_doc_cache_t *fz_cache;
static arena_t fz_arena;
static buf_t fz_cached, fz_plain;

static gql_resolvers_t *fz_resolvers;

static gql_value_t fz__make(gql_call_t *c, const gql_typeref_t *t, uintptr_t h)
{
    h = h * 0x9e3779b97f4a7c15u + 1;
    uintptr_t r = h >> 17;
    if (t->kind == GQL_TR_NONNULL) return r % 29 == 0 ? gql_null() : fz__make(c, t->of, h);
    if (r % 11 == 0) return gql_null();
    if (r % 23 == 0) return gql_error(ERR_INTERNAL, "made-up failure");
    if (t->kind == GQL_TR_LIST) {
        gql_value_t v = gql_list(c->arena, r % 3);
        for (size_t i = 0; i < v.u.list.n; i++) v.u.list.items[i] = fz__make(c, t->of, h + i);
        return v;
    }
    const gql_type_t *nt = t->type;
    const gql_schema_t *s = c->schema;
    switch (nt->kind) {
    case GQL_T_OBJECT:
        return gql_obj((void *)(h | 1), NULL);
    case GQL_T_INTERFACE:
    case GQL_T_UNION:
        return nt->npossible ? gql_obj((void *)(h | 1), nt->possible[r % nt->npossible]->name)
                             : gql_null();
    case GQL_T_ENUM:
        return nt->nevals
                   ? gql_enum(nt->evals[r % nt->nevals].name, nt->evals[r % nt->nevals].name_len)
                   : gql_null();
    case GQL_T_INPUT:
        return gql_null();
    case GQL_T_SCALAR:
        if (nt == s->t_int) return gql_int((int64_t)(r % 1000) - 500);
        if (nt == s->t_float) return gql_float((double)(r % 1000) / 8);
        if (nt == s->t_boolean) return gql_bool(r & 1);
        return gql_str("made-up", 7);
    }
    return gql_null();
}

/* Every field of every object type: data made up from its type. */
static int fz__any(gql_call_t *c, size_t n, void *const *parents, gql_value_t *out)
{
    const gql_type_t *t = gql_schema_type(c->schema, c->type_name, strlen(c->type_name));
    const gql_field_t *f = t ? gql_type_field(t, c->field_name, strlen(c->field_name)) : NULL;
    size_t nsel;
    gql_selected(c, &nsel); /* walked for the sanitizers; the answer does not depend on it */
    uintptr_t fh = 0;
    for (const char *p = c->field_name; *p; p++) fh = fh * 31 + (unsigned char)*p;
    for (size_t i = 0; i < n; i++)
        out[i] = f ? fz__make(c, f->type, (uintptr_t)parents[i] ^ fh) : gql_null();
    return 0;
}

static void fz__run(const char *doc, size_t len, const char *vars)
{
    gql_limits_t lim = GQL_LIMITS_DEFAULT;
    gql_request_t req = {.query = doc,
                         .query_len = len,
                         .variables_json = vars,
                         .arena = &fz_arena,
                         .limits = &lim,
                         .doc_cache = fz_cache};
    buf_reset(&fz_cached);
    gql_status_t st1 = gql_execute(fz_schema, fz_resolvers, &req, &fz_cached);
    arena_reset(&fz_arena);
    gql_request_t plain = {
        .query = doc, .query_len = len, .variables_json = vars, .arena = &fz_arena, .limits = &lim};
    buf_reset(&fz_plain);
    gql_status_t st2 = gql_execute(fz_schema, fz_resolvers, &plain, &fz_plain);
    arena_reset(&fz_arena);
    if (st1 != st2 || fz_cached.len != fz_plain.len ||
        memcmp(fz_cached.data, fz_plain.data, fz_cached.len) != 0) {
        fprintf(stderr, "gql_doc_cache_fuzz: cached and uncached answers differ\n%s\n%s\n",
                fz_cached.data, fz_plain.data);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fz_schema == NULL) {
        fz_schema = fz_schema_load(&fz_arena);
        fz_cache = gql_doc_cache_new(fz_schema, 256 * 1024);
        gql_resolver_def_t defs[64];
        size_t nd = 0;
        for (uint32_t i = 0; i < fz_schema->norder && nd < 64; i++)
            if (fz_schema->order[i]->kind == GQL_T_OBJECT && !fz_schema->order[i]->builtin)
                defs[nd++] = (gql_resolver_def_t){
                    arena_printf(&fz_schema->arena, "%s.*", fz_schema->order[i]->name), fz__any};
        err_t e;
        if (gql_resolvers_new(fz_schema, defs, nd, &fz_resolvers, &e)) abort();
    }
    char *doc = malloc(size + 1);
    memcpy(doc, data, size);
    doc[size] = '\0';
    char *v1 = strstr(doc, "\n#vars:"), *v2 = NULL;
    size_t len = v1 ? (size_t)(v1 - doc) : size;
    if (v1) {
        *v1 = '\0';
        v1 += 7;
        v2 = strstr(v1, "\n#vars:");
        if (v2) {
            *v2 = '\0';
            v2 += 7;
        }
    }
    fz__run(doc, len, v1);
    fz__run(doc, len, v2 ? v2 : "{}");
    free(doc);
    return 0;
}

/* Frees what the target keeps between inputs (the replay program calls it). */
void fuzz_replay_done(void)
{
    if (fz_schema) {
        gql_doc_cache_free(fz_cache);
        gql_resolvers_free(fz_resolvers);
        gql_schema_free(fz_schema);
        arena_destroy(&fz_arena);
        buf_free(&fz_cached);
        buf_free(&fz_plain);
    }
}
