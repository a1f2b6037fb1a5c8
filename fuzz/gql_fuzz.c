/*
 * gql_fuzz.c — libFuzzer target over the GraphQL engine: lexer, parser,
 * validation, limits, variable coercion and execution (without resolvers,
 * so every field is an INTERNAL field error, which still walks the
 * executor), against the corpus schema t/gql/schema.graphql.
 *
 * Input: a document, optionally followed by a line "#vars:" and variables
 * JSON; or, starting with "HTTP ", a request for gql_http_handle:
 * "HTTP <method> <content-type>\n<query string>\n<body>". `make fuzz` runs it (FUZZ_SECONDS);
 * inputs that crashed are kept in fuzz/regress/gql_fuzz/ and replayed by t/25-gql-fuzz-regress.t
 * through t/prog/gql_fuzz_replay.c, which includes this file.
 */
#include "fuzz_schema.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gql_schema_t *fz_schema;
static arena_t fz_arena;
static buf_t fz_out;

static void fz_http(char *doc, size_t size)
{
    static http_resp_t resp;
    char *nl1 = strchr(doc, '\n');
    char *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
    if (nl2 == NULL) return;
    *nl1 = *nl2 = '\0';
    char *method = doc + 5, *ct = strchr(method, ' ');
    if (ct) *ct++ = '\0';
    http_req_t req = {.method = method,
                      .path = "/graphql",
                      .query_string = nl1 + 1,
                      .content_type = ct ? ct : "",
                      .accept = "application/graphql-response+json",
                      .authorization = "",
                      .remote_addr = "127.0.0.1",
                      .body = nl2 + 1,
                      .body_len = size - (size_t)(nl2 + 1 - doc),
                      .arena = &fz_arena};
    gql_http_t h = {.schema = fz_schema};
    gql_http_handle(&h, &req, &resp);
    buf_free(&resp.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fz_schema == NULL) fz_schema = fz_schema_load(&fz_arena);
    if (size > 5 && memcmp(data, "HTTP ", 5) == 0) {
        char *req = malloc(size + 1);
        memcpy(req, data, size);
        req[size] = '\0';
        fz_http(req, size);
        arena_reset(&fz_arena);
        free(req);
        return 0;
    }
    /* a NUL-terminated copy; split off "#vars:" */
    char *doc = malloc(size + 1);
    memcpy(doc, data, size);
    doc[size] = '\0';
    size_t qlen = size;
    const char *vars = NULL;
    char *mark = strstr(doc, "\n#vars:");
    if (mark) {
        qlen = (size_t)(mark - doc);
        vars = mark + 7;
    }
    gql_limits_t lim = GQL_LIMITS_DEFAULT;
    gql_request_t req = {.query = doc,
                         .query_len = qlen,
                         .variables_json = vars,
                         .arena = &fz_arena,
                         .limits = &lim};
    buf_reset(&fz_out);
    gql_execute(fz_schema, NULL, &req, &fz_out);
    arena_reset(&fz_arena);
    free(doc);
    return 0;
}

/* Frees what the target keeps between inputs (the replay program calls it). */
void fuzz_replay_done(void)
{
    if (fz_schema) {
        gql_schema_free(fz_schema);
        arena_destroy(&fz_arena);
        buf_free(&fz_out);
    }
}
