/*
 * gql_vars_fuzz.c — libFuzzer target over the request-decoding edge of
 * gql_http_handle that gql_fuzz reaches only by luck: the variables JSON
 * (coercion of every input type of t/gql/schema.graphql: scalars, enums,
 * nested lists, non-null, input objects with defaults, the JSON scalar) and
 * the percent-decoding of GET query strings.
 *
 * Input: byte 0 picks a mode and one of the operations in fz_ops; the rest R:
 *   mode 0  variables_json = R straight into gql_execute
 *   mode 1  POST {"query": <op>, "variables": R}
 *   mode 2  GET ?query=<op percent-encoded>&variables=R  (R percent-decoded)
 *   mode 3  GET ?R then &query=<op>  (R: any query string; a query=, variables=
 *           or operationName= in R wins, being first)
 * Mode 0 also reads R with the arena JSON reader (lib/json_in.c) and
 * with cJSON_Parse and aborts unless both refuse it or both print the same.
 * Seeds: fuzz/regress/gql_vars_fuzz/. `make fuzz` runs it; t/25 replays
 * fuzz/regress/gql_vars_fuzz/ through t/prog/gql_vars_fuzz_replay.c.
 */
#include "fuzz_schema.h"
#include "gql_exec_int.h"

#include "cJSON.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gql_schema_t *fz_schema;
static arena_t fz_arena;
static buf_t fz_out;

/* Every variable type the schema's echo fields accept, in two operations
 * per kind so operation selection and defaults are walked too. */
static const char *const fz_ops[] = {
    "query Q($s: String, $i: Int, $f: Float, $b: Boolean, $id: ID, $e: Episode, $l: [Int],"
    " $ll: [[String!]], $nn: Int!, $in: ReviewInput, $ins: [ReviewInput!], $j: JSON) {"
    " echo(s: $s, i: $i, f: $f, b: $b, id: $id, e: $e, l: $l, ll: $ll, nn: $nn, input: $in,"
    " inputs: $ins, j: $j) }",
    "query D($i: Int = 3, $e: Episode = JEDI, $in: ReviewInput = {stars: 1, tags: [\"a\"]},"
    " $l: [Int] = [1, null]) { echo(i: $i, e: $e, input: $in, l: $l) reviews(episode: $e) {"
    " stars } }",
    "mutation M($r: ReviewInput!, $e: Episode) { createReview(episode: $e, review: $r) {"
    " stars commentary } echo(input: $r) }",
    "query S($t: String!, $skip: Boolean!, $id: ID!) { search(text: $t) { __typename }"
    " human(id: $id) @skip(if: $skip) { name } }",
};
#define FZ_NOPS (sizeof fz_ops / sizeof fz_ops[0])

/* Appends s percent-encoded (every byte but unreserved ones). */
static void fz__pct(buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            buf_append(b, s, 1);
        } else {
            char t[3] = {'%', hex[c >> 4], hex[c & 15]};
            buf_append(b, t, 3);
        }
    }
}

static void fz__http(const char *method, const char *qs, const char *body, size_t body_len)
{
    static http_resp_t resp;
    http_req_t req = {.method = method,
                      .path = "/graphql",
                      .query_string = qs,
                      .content_type = "application/json",
                      .accept = "application/graphql-response+json",
                      .authorization = "",
                      .remote_addr = "127.0.0.1",
                      .body = body,
                      .body_len = body_len,
                      .arena = &fz_arena};
    gql_http_t h = {.schema = fz_schema};
    gql_http_handle(&h, &req, &resp);
    buf_free(&resp.body);
}

/* ours and theirs read the same text the same way (both refuse it, or
 * both print the same JSON); aborts otherwise. */
static void fz__agree(const char *what, const char *text, const cJSON *ours, cJSON *theirs)
{
    char *a = ours ? cJSON_PrintUnformatted(ours) : NULL;
    char *b = theirs ? cJSON_PrintUnformatted(theirs) : NULL;
    if ((ours == NULL) != (theirs == NULL) || (a && b && strcmp(a, b) != 0) || (!a != !b)) {
        fprintf(stderr, "gql_vars_fuzz: %s differ on %s\n%s\n%s\n", what, text, a ? a : "(refused)",
                b ? b : "(refused)");
        abort();
    }
    free(a);
    free(b);
    cJSON_Delete(theirs);
}

/* json_in_read and cJSON_Parse agree on text, and json_in_read_whole and
 * cJSON_ParseWithOpts(require_null_terminated) too (GET parameters). */
static void fz__same_json(const char *text)
{
    fz__agree("json_in_read and cJSON_Parse", text, json_in_read(&fz_arena, text, strlen(text)),
              cJSON_Parse(text));
    fz__agree("json_in_read_whole and cJSON_ParseWithOpts", text,
              json_in_read_whole(&fz_arena, text, strlen(text)),
              cJSON_ParseWithOpts(text, NULL, true));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fz_schema == NULL) fz_schema = fz_schema_load(&fz_arena);
    if (size < 1) return 0;
    unsigned mode = data[0] & 3;
    const char *op = fz_ops[(data[0] >> 2) % FZ_NOPS];
    /* the rest, NUL-terminated (a NUL inside ends the C-string paths early,
     * as it would in a FastCGI parameter) */
    size_t n = size - 1;
    char *rest = malloc(n + 1);
    memcpy(rest, data + 1, n);
    rest[n] = '\0';
    buf_t b = BUF_INIT;
    if (mode == 0) {
        gql_limits_t lim = GQL_LIMITS_DEFAULT;
        gql_request_t req = {.query = op,
                             .query_len = strlen(op),
                             .variables_json = rest,
                             .arena = &fz_arena,
                             .limits = &lim};
        buf_reset(&fz_out);
        gql_execute(fz_schema, NULL, &req, &fz_out);
        arena_reset(&fz_arena);
        fz__same_json(rest);
    } else if (mode == 1) {
        buf_puts(&b, "{\"query\":");
        buf_put_json_str(&b, op, strlen(op));
        buf_puts(&b, ",\"variables\":");
        buf_append(&b, rest, n); /* raw bytes, NULs included: cJSON gets a length */
        buf_puts(&b, "}");
        fz__http("POST", "", b.data, b.len);
    } else {
        if (mode == 2) {
            buf_puts(&b, "query=");
            fz__pct(&b, op);
            buf_puts(&b, "&variables=");
            buf_puts(&b, rest);
        } else {
            buf_puts(&b, rest);
            buf_puts(&b, "&query=");
            fz__pct(&b, op);
        }
        fz__http("GET", b.data, NULL, 0);
    }
    buf_free(&b);
    arena_reset(&fz_arena);
    free(rest);
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
