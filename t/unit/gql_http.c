/*
 * gql_http.c — unit tests of GraphQL over HTTP (lib/gql_http.c): methods,
 * media types, status codes by media type (the GraphQL-over-HTTP rules),
 * GET decoding, mutation over GET, the write hook, bad bodies and bad
 * variables/extensions.
 */
#include "gql.h"
#include "tap.h"

static int r_any(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    (void)parents;
    for (size_t i = 0; i < n; i++) {
        const gql_value_t *x = gql_arg(call, "x");
        out[i] = x ? *x : gql_str(call->field_name, strlen(call->field_name));
    }
    return 0;
}

static int refuse(void *ctx, const http_req_t *req, err_t *e)
{
    (void)ctx;
    if (strcmp(req->authorization, "Bearer good") == 0) return 0;
    return err_set(e, ERR_UNAUTH, "a write token is needed");
}

static http_req_t mkreq(arena_t *a, const char *method, const char *qs, const char *ct,
                        const char *accept, const char *body)
{
    http_req_t r = {.method = method,
                    .path = "/graphql",
                    .query_string = qs,
                    .content_type = ct,
                    .accept = accept,
                    .authorization = "",
                    .remote_addr = "127.0.0.1",
                    .body = body,
                    .body_len = strlen(body),
                    .arena = a};
    return r;
}

int main(void)
{
    const char *sdl =
        "type Query { hello(x: String): String }\ntype Mutation { set(x: String): String }";
    gql_schema_t *s;
    gql_resolvers_t *r;
    err_t e;
    if (gql_schema_load(sdl, strlen(sdl), &s, &e)) {
        ok(0, "schema: %s", e.msg);
        return tap_done();
    }
    gql_resolver_def_t defs[] = {{"Query.*", r_any}, {"Mutation.*", r_any}};
    gql_resolvers_new(s, defs, 2, &r, &e);
    gql_http_t h = {.schema = s, .resolvers = r, .authorize_mutation = refuse};
    arena_t a;
    arena_init(&a, 0);
    http_resp_t resp = {0};
    http_req_t q;

    q = mkreq(&a, "POST", "", "application/json", "", "{\"query\":\"{ hello }\"}");
    gql_http_handle(&h, &q, &resp);
    check_int(resp.status, 200, "POST query 200");
    check_str(resp.content_type, "application/json", "application/json by default");
    check_str(resp.body.data, "{\"data\":{\"hello\":\"hello\"}}", "POST body");

    q = mkreq(&a, "POST", "", "application/json; charset=utf-8",
              "application/graphql-response+json, application/json",
              "{\"query\":\"query Q($v: String) { hello(x: $v) }\",\"variables\":{\"v\":\"hi\"},"
              "\"operationName\":\"Q\"}");
    gql_http_handle(&h, &q, &resp);
    check_str(resp.content_type, "application/graphql-response+json",
              "graphql-response+json when accepted");
    check_str(resp.body.data, "{\"data\":{\"hello\":\"hi\"}}", "variables and operationName");

    /* The body check reads 8 bytes at a time: one bad byte at every offset
     * of a 44-byte body (a raw control character, a byte of invalid UTF-8)
     * is found, and a tab or a valid 2-byte character there is not. */
    {
        static const char base[] = "{\"query\":\"{ hello(x: \\\"abcdefghij\\\") }\"}";
        size_t len = sizeof base - 1, found_ctl = 0, found_u8 = 0, fine = 0;
        char body[64];
        for (size_t at = 0; at < len; at++) {
            static const char *const subs[] = {"\x01", "\xff", "\t", "\xc3\xa9"};
            for (int k = 0; k < 4; k++) {
                size_t sl = strlen(subs[k]);
                memcpy(body, base, at);
                memcpy(body + at, subs[k], sl);
                memcpy(body + at + sl, base + at + 1, len - at); /* NUL included */
                q = mkreq(&a, "POST", "", "application/json", "", body);
                gql_http_handle(&h, &q, &resp);
                int ctl = resp.status == 400 && strstr(resp.body.data, "raw control character");
                int u8 = resp.status == 400 && strstr(resp.body.data, "not valid UTF-8");
                found_ctl += k == 0 && ctl;
                found_u8 += k == 1 && u8;
                fine += k >= 2 && !ctl && !u8;
                arena_reset(&a);
            }
        }
        check_int(found_ctl, len, "a raw control character at every offset is refused");
        check_int(found_u8, len, "invalid UTF-8 at every offset is refused");
        check_int(fine, 2 * len, "a tab or a valid 2-byte character at any offset is not");
    }

    q = mkreq(&a, "POST", "", "application/json", "", "{\"query\": ");
    gql_http_handle(&h, &q, &resp);
    check_int(resp.status, 400, "bad JSON 400");
    ok(strstr(resp.body.data, "{\"errors\":[{\"message\":") == resp.body.data,
       "GraphQL-shaped error");

    q = mkreq(&a, "POST", "", "application/json", "", "{\"query\": 5}");
    gql_http_handle(&h, &q, &resp);
    check_int(resp.status, 400, "query not a string 400");

    q = mkreq(&a, "POST", "", "text/plain", "", "{ hello }");
    gql_http_handle(&h, &q, &resp);
    check_int(resp.status, 415, "text/plain POST 415");

    /* A document or variables the engine refuses: 200 to a client that
     * accepts only application/json (or says nothing), 400 to one that
     * accepts application/graphql-response+json; {"errors"} and no "data". */
    static const struct {
        const char *body, *code, *what;
    } refused[] = {
        {"{\"query\":\"{ nope }\"}", "GRAPHQL_VALIDATION_FAILED", "validation failure"},
        {"{\"query\":\"{ hello \"}", "GRAPHQL_PARSE_FAILED", "parse failure"},
        {"{\"query\":\"query($v: String!) { hello(x: $v) }\",\"variables\":{\"v\":null}}",
         "BAD_USER_INPUT", "variable coercion failure"},
        {"{\"query\":\"query A { hello } query B { hello }\",\"operationName\":\"C\"}",
         "BAD_USER_INPUT", "unknown operationName"},
    };
    static const struct {
        const char *accept;
        int status;
        const char *ct;
    } clients[] = {
        {"", 200, "application/json"},
        {"application/json", 200, "application/json"},
        {"*/*", 200, "application/json"},
        {"application/graphql-response+json", 400, "application/graphql-response+json"},
        {"application/graphql-response+json, application/json;q=0.9", 400,
         "application/graphql-response+json"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        for (size_t j = 0; j < sizeof clients / sizeof clients[0]; j++) {
            q = mkreq(&a, "POST", "", "application/json", clients[j].accept, refused[i].body);
            gql_http_handle(&h, &q, &resp);
            check_int(resp.status, clients[j].status, "POST %s, Accept \"%s\": %d", refused[i].what,
                      clients[j].accept, clients[j].status);
            check_str(resp.content_type, clients[j].ct, "... as %s", clients[j].ct);
            ok(strstr(resp.body.data, refused[i].code) != NULL &&
                   strstr(resp.body.data, "\"data\"") == NULL,
               "... %s, no data: %s", refused[i].code, resp.body.data);
        }
    }

    /* extensions that is not an object is a malformed request: 400 whatever
     * the client accepts; null or an object is taken (and ignored). */
    static const char *bad_ext[] = {"\"string\"", "0", "false", "[\"array\"]"};
    for (size_t i = 0; i < sizeof bad_ext / sizeof bad_ext[0]; i++) {
        char b[128];
        snprintf(b, sizeof b, "{\"query\":\"{ hello }\",\"extensions\":%s}", bad_ext[i]);
        q = mkreq(&a, "POST", "", "application/json", "application/json", b);
        gql_http_handle(&h, &q, &resp);
        ok(resp.status == 400 && strstr(resp.body.data, "extensions\\\" must be an object"),
           "POST extensions %s: 400 to an application/json client (%s)", bad_ext[i],
           resp.body.data);
    }
    q = mkreq(&a, "POST", "", "application/json", "",
              "{\"query\":\"{ hello }\",\"extensions\":{\"some\":\"value\"},\"variables\":null,"
              "\"operationName\":null}");
    gql_http_handle(&h, &q, &resp);
    check_int(resp.status, 200, "POST extensions {}, variables and operationName null: 200");
    check_str(resp.body.data, "{\"data\":{\"hello\":\"hello\"}}", "... answered");
    q = mkreq(&a, "POST", "", "application/json", "application/graphql-response+json",
              "{\"query\":\"{ hello }\",\"variables\":[1]}");
    gql_http_handle(&h, &q, &resp);
    check_int(resp.status, 400, "POST variables an array: 400");

    q = mkreq(&a, "GET", "query=%7B%20hello(x%3A%20%22a%2Bb%22)%20%7D&variables=", "", "", "");
    gql_http_handle(&h, &q, &resp);
    check_int(resp.status, 200, "GET 200");
    check_str(resp.body.data, "{\"data\":{\"hello\":\"a+b\"}}", "GET percent-decoding");

    q = mkreq(&a, "GET", "query=query+Q($v:String){hello(x:$v)}&variables=%7B%22v%22%3A%22z%22%7D",
              "", "", "");
    gql_http_handle(&h, &q, &resp);
    check_str(resp.body.data, "{\"data\":{\"hello\":\"z\"}}", "GET variables, '+' is a space");

    /* The same rules over GET. */
    q = mkreq(&a, "GET", "query=%7B+nope+%7D", "", "", "");
    gql_http_handle(&h, &q, &resp);
    ok(resp.status == 200 && strstr(resp.body.data, "GRAPHQL_VALIDATION_FAILED"),
       "GET validation failure, no Accept: 200 GRAPHQL_VALIDATION_FAILED");
    q = mkreq(&a, "GET", "query=%7B+nope+%7D", "", "application/graphql-response+json", "");
    gql_http_handle(&h, &q, &resp);
    check_int(resp.status, 400, "GET validation failure, graphql-response+json: 400");
    q = mkreq(&a, "GET", "query=%7B+hello", "", "application/json", "");
    gql_http_handle(&h, &q, &resp);
    ok(resp.status == 200 && strstr(resp.body.data, "GRAPHQL_PARSE_FAILED"),
       "GET parse failure, application/json: 200 GRAPHQL_PARSE_FAILED");
    q = mkreq(&a, "GET", "query=query+Q($v:String!){hello(x:$v)}&variables=%7B%7D", "",
              "application/graphql-response+json", "");
    gql_http_handle(&h, &q, &resp);
    ok(resp.status == 400 && strstr(resp.body.data, "BAD_USER_INPUT"),
       "GET variable coercion failure, graphql-response+json: 400 BAD_USER_INPUT");
    q = mkreq(&a, "GET", "query=query+Q($v:String!){hello(x:$v)}&variables=%7B%7D", "", "", "");
    gql_http_handle(&h, &q, &resp);
    check_int(resp.status, 200, "GET variable coercion failure, no Accept: 200");
    static const char *bad_get[] = {"variables=%5B1%5D",  "variables=5",        "variables=%7Bnope",
                                    "variables=%7B%7D+x", "extensions=%22s%22", "extensions=%5B%5D",
                                    "extensions=false"};
    for (size_t i = 0; i < sizeof bad_get / sizeof bad_get[0]; i++) {
        char qs[128];
        snprintf(qs, sizeof qs, "query=%%7Bhello%%7D&%s", bad_get[i]);
        q = mkreq(&a, "GET", qs, "", "application/json", "");
        gql_http_handle(&h, &q, &resp);
        ok(resp.status == 400 && strstr(resp.body.data, "must be a JSON object"),
           "GET %s: 400 to an application/json client (%s)", bad_get[i], resp.body.data);
    }
    q = mkreq(&a, "GET", "query=%7Bhello%7D&variables=null&extensions=%7B%22a%22%3A1%7D", "",
              "application/json", "");
    gql_http_handle(&h, &q, &resp);
    check_str(resp.body.data, "{\"data\":{\"hello\":\"hello\"}}",
              "GET variables=null and an extensions object are taken");

    q = mkreq(&a, "GET", "query=mutation%7Bset%7D", "", "", "");
    gql_http_handle(&h, &q, &resp);
    check_int(resp.status, 405, "mutation over GET 405");
    check_str(resp.allow, "POST", "Allow: POST");

    q = mkreq(&a, "POST", "", "application/json", "",
              "{\"query\":\"mutation { set(x: \\\"v\\\") }\"}");
    gql_http_handle(&h, &q, &resp);
    check_int(resp.status, 401, "mutation without token 401");
    ok(strstr(resp.body.data, "UNAUTHENTICATED") != NULL, "UNAUTHENTICATED");
    q.authorization = "Bearer good";
    gql_http_handle(&h, &q, &resp);
    check_int(resp.status, 200, "mutation with token 200");
    check_str(resp.body.data, "{\"data\":{\"set\":\"v\"}}", "mutation result");

    q = mkreq(&a, "PUT", "", "application/json", "", "{}");
    gql_http_handle(&h, &q, &resp);
    check_int(resp.status, 405, "PUT 405");
    check_str(resp.allow, "GET, POST", "Allow: GET, POST");

    q = mkreq(&a, "GET", "", "", "text/html,application/xhtml+xml", "");
    gql_http_handle(&h, &q, &resp);
    ok(resp.status == 400 && strstr(resp.body.data, "GraphiQL") == NULL,
       "a browser reaching the worker directly gets the JSON error (nginx serves GraphiQL)");

    q = mkreq(&a, "GET", "", "", "application/json", "");
    gql_http_handle(&h, &q, &resp);
    check_int(resp.status, 400, "GET without query 400");

    buf_free(&resp.body);
    arena_destroy(&a);
    gql_resolvers_free(r);
    gql_schema_free(s);
    return tap_done();
}
