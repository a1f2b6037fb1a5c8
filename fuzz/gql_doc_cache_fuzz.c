/*
 * gql_doc_cache_fuzz.c — libFuzzer target over the document cache: the same
 * document twice with different variables, through a cache that lives
 * across inputs (small, so entries are evicted), each answer checked byte
 * for byte against the same request without the cache. A difference aborts:
 * a cached document must answer exactly as a freshly parsed one.
 *
 * Input: a document, optionally followed by a line "#vars:" and variables
 * JSON for the first run, and another "#vars:" line for the second (else
 * the second runs with {}). The corpus t/gql/corpus is its seed set.
 * `make fuzz` runs it; t/33 replays fuzz/regress/gql_doc_cache_fuzz/ and the
 * seeds through t/prog/gql_doc_cache_fuzz_replay.c, which includes this file.
 */
#include "fuzz_schema.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gql_schema_t *fz_schema;
static gql_doc_cache_t *fz_cache;
static arena_t fz_arena;
static buf_t fz_cached, fz_plain;

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
    gql_status_t st1 = gql_execute(fz_schema, NULL, &req, &fz_cached);
    arena_reset(&fz_arena);
    gql_request_t plain = {
        .query = doc, .query_len = len, .variables_json = vars, .arena = &fz_arena, .limits = &lim};
    buf_reset(&fz_plain);
    gql_status_t st2 = gql_execute(fz_schema, NULL, &plain, &fz_plain);
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
        gql_schema_free(fz_schema);
        arena_destroy(&fz_arena);
        buf_free(&fz_cached);
        buf_free(&fz_plain);
    }
}
