/*
 * gql_http.c — GraphQL over HTTP on top of the engine (http_req_t in,
 * http_resp_t out), as the GraphQL-over-HTTP spec and ../shared/API.md say.
 *
 * Owns: POST application/json bodies (read into the request's arena),
 * GET ?query=&variables=&operationName=&extensions= with percent-decoding,
 * the response media type (application/graphql-response+json when the
 * client accepts it, else application/json) and the status codes, by the
 * GraphQL-over-HTTP spec:
 *   - 400 for a request that is not well-formed whatever the client accepts
 *     (body not JSON, query missing or not a string, variables, extensions
 *     or operationName of the wrong type, a bad GET parameter);
 *   - a document that does not parse or validate, is over the limits, or
 *     whose variables do not coerce: 400 to a client that accepts
 *     application/graphql-response+json, 200 to one that accepts only
 *     application/json (the spec's rule for legacy clients, which read the
 *     errors from the body); both with {"errors": [...]};
 *   - 405 for other methods and for a mutation over GET, 415 for a POST
 *     that is not JSON, 401 when the caller's hook refuses a mutation.
 * Browsers get GraphiQL from nginx (etc/nginx, static files from npm; no
 * CDN), never from here.
 * The body size limit (413) is enforced by the worker before the body is
 * read, so it is not here.
 */
#include "gql.h"

#include "json_in.h"

#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <unistr.h>

/* Case-insensitive search for a media type in an Accept header. */
static bool gql__accepts(const char *accept, const char *type)
{
    size_t n = strlen(type);
    for (const char *p = accept; p && *p; p++)
        if (strncasecmp(p, type, n) == 0) return true;
    return false;
}

static int gql__hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes [s, s+n) into the arena ('+' is a space in a query string). */
static char *gql__urldecode(arena_t *a, const char *s, size_t n, size_t *outlen)
{
    char *out = arena_alloc(a, n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            *o++ = ' ';
        } else if (s[i] == '%' && i + 2 < n && gql__hexval((unsigned char)s[i + 1]) >= 0 &&
                   gql__hexval((unsigned char)s[i + 2]) >= 0) {
            *o++ = (char)(gql__hexval((unsigned char)s[i + 1]) * 16 +
                          gql__hexval((unsigned char)s[i + 2]));
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    *outlen = (size_t)(o - out);
    return out;
}

/* Why a request body cannot be JSON text, or NULL. The reader (as cJSON) is
 * lenient where RFC 8259 is not: it takes invalid UTF-8 (which then reaches
 * MongoDB as invalid BSON) and raw control characters (a raw NUL cut the
 * query short).
 * Outside strings only tab, LF and CR may appear below 0x20, and inside a
 * string none may, so one pass over the bytes is enough. */
static const char *gql__json_text_bad(const char *p, size_t n)
{
    bool ascii = true;
    size_t i = 0;
    /* 8 bytes at a time while all are printable ASCII (0x20-0x7f): a byte
     * below 0x20 borrows into its top bit, one from 0x80 has it set. The
     * first word that is not goes to the exact loop below, from its start. */
    for (uint64_t w; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        if (((w - 0x2020202020202020ull) | w) & 0x8080808080808080ull) break;
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return "The request body has a raw control character; escape it (\\u00XX).";
        ascii &= c < 0x80;
    }
    /* most bodies are ASCII, which is valid UTF-8 */
    if (!ascii && u8_check((const uint8_t *)p, n) != NULL)
        return "The request body is not valid UTF-8.";
    return NULL;
}

/* Why a decoded GET parameter cannot be taken, or NULL: the same bytes a
 * POST body may not carry (%00 would cut a C string short, %FF would reach
 * cJSON and MongoDB as it would from a body). */
static const char *gql__param_bad(arena_t *a, const char *name, const char *p, size_t n)
{
    if (p == NULL || gql__json_text_bad(p, n) == NULL) return NULL;
    const char *what = u8_check((const uint8_t *)p, n) != NULL
                           ? "is not valid UTF-8 after percent-decoding"
                           : "has a control character (%00-%1F other than tab, LF, CR)";
    size_t len = strlen(name) + strlen(what) + 48;
    char *msg = arena_alloc(a, len);
    snprintf(msg, len, "The query string parameter \"%s\" %s.", name, what);
    return msg;
}

/* The decoded value of parameter name in a query string, or NULL. */
static const char *gql__param(arena_t *a, const char *qs, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    const char *p = qs;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t seg = amp ? (size_t)(amp - p) : strlen(p);
        if (seg > nl && strncmp(p, name, nl) == 0 && p[nl] == '=')
            return gql__urldecode(a, p + nl + 1, seg - nl - 1, len);
        if (seg == nl && strncmp(p, name, nl) == 0) {
            *len = 0;
            return "";
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

/* Parses a GET parameter that must hold a JSON object (variables,
 * extensions): NULL and "" mean absent (*out = NULL), as does JSON null.
 * Returns NULL with *out set (in the arena), or why the parameter cannot be
 * taken (in the arena). The text is NUL-terminated and free of %00
 * (gql__param_bad ran first), so the whole string must be one JSON value. */
static const char *gql__param_object(arena_t *a, const char *name, const char *p, const cJSON **out)
{
    *out = NULL;
    if (p == NULL || p[0] == '\0') return NULL;
    const cJSON *v = json_in_read_whole(a, p, strlen(p));
    if (v != NULL && (cJSON_IsObject(v) || cJSON_IsNull(v))) {
        if (cJSON_IsObject(v)) *out = v;
        return NULL;
    }
    size_t len = strlen(name) + 64;
    char *msg = arena_alloc(a, len);
    snprintf(msg, len, "The query string parameter \"%s\" must be a JSON object.", name);
    return msg;
}

static void gql__respond_error(http_resp_t *resp, int status, err_code_t code, const char *msg)
{
    resp->status = status;
    buf_reset(&resp->body);
    gql_write_error(&resp->body, code, msg);
}

int gql_http_handle(const gql_http_t *h, const http_req_t *req, http_resp_t *resp)
{
    if (h == NULL || req == NULL || resp == NULL) return -1;
    resp->allow = NULL;
    bool modern = gql__accepts(req->accept, "application/graphql-response+json");
    resp->content_type = modern ? "application/graphql-response+json" : "application/json";
    buf_reset(&resp->body);
    arena_t *a = req->arena;
    gql_request_t gr = {.arena = a,
                        .ctx = h->user_ctx,
                        .limits = h->limits,
                        .extensions = h->extensions,
                        .deadline_ns = h->deadline_ns,
                        .doc_cache = h->doc_cache};
    /* the parsed POST body, or a GET's variables (in the arena) */
    const cJSON *json = NULL;
    bool is_get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    if (is_get) {
        size_t qlen = 0, vlen = 0, olen = 0, elen = 0;
        const char *q = gql__param(a, req->query_string, "query", &qlen);
        if (q == NULL) {
            gql__respond_error(resp, 400, ERR_BAD_INPUT, "Must provide query string.");
            return 0;
        }
        gr.query = q;
        gr.query_len = qlen;
        const char *vars = gql__param(a, req->query_string, "variables", &vlen);
        const char *ext = gql__param(a, req->query_string, "extensions", &elen);
        gr.operation_name = gql__param(a, req->query_string, "operationName", &olen);
        const char *bad = gql__param_bad(a, "query", q, qlen);
        if (bad == NULL) bad = gql__param_bad(a, "variables", vars, vlen);
        if (bad == NULL) bad = gql__param_bad(a, "operationName", gr.operation_name, olen);
        if (bad == NULL) bad = gql__param_bad(a, "extensions", ext, elen);
        /* Parsed here, not by the engine, so that variables which are not a
         * JSON object are a malformed request (400 for every client), like
         * the same mistake in a POST body. extensions is only checked: no
         * extension is implemented. */
        if (bad == NULL) bad = gql__param_object(a, "variables", vars, &json);
        if (bad == NULL) {
            const cJSON *e = NULL;
            bad = gql__param_object(a, "extensions", ext, &e);
        }
        if (bad) {
            gql__respond_error(resp, 400, ERR_BAD_INPUT, bad);
            return 0;
        }
        gr.variables = json;
    } else if (strcmp(req->method, "POST") == 0) {
        const char *ct = req->content_type;
        if (strncasecmp(ct, "application/json", 16) != 0 ||
            (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
            gql__respond_error(resp, 415, ERR_BAD_INPUT,
                               "Content-Type must be application/json for a GraphQL POST.");
            return 0;
        }
        const char *why = gql__json_text_bad(req->body, req->body_len);
        if (why) {
            gql__respond_error(resp, 400, ERR_BAD_INPUT, why);
            return 0;
        }
        json = json_in_read(a, req->body, req->body_len);
        if (json == NULL || !cJSON_IsObject(json)) {
            gql__respond_error(resp, 400, ERR_BAD_INPUT,
                               "The request body is not a JSON object: send "
                               "{\"query\": \"...\", \"variables\": {...}}.");
            return 0;
        }
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(json, "query");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, "variables");
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(json, "operationName");
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(json, "extensions");
        const char *bad =
            !cJSON_IsString(q)                            ? "\"query\" must be a string."
            : v && !cJSON_IsObject(v) && !cJSON_IsNull(v) ? "\"variables\" must be an object."
            : o && !cJSON_IsString(o) && !cJSON_IsNull(o) ? "\"operationName\" must be a string."
            : x && !cJSON_IsObject(x) && !cJSON_IsNull(x) ? "\"extensions\" must be an object."
                                                          : NULL;
        if (bad) {
            gql__respond_error(resp, 400, ERR_BAD_INPUT, bad);
            return 0;
        }
        gr.query = q->valuestring;
        gr.query_len = strlen(q->valuestring);
        gr.variables = cJSON_IsObject(v) ? v : NULL;
        gr.operation_name = cJSON_IsString(o) ? o->valuestring : NULL;
    } else {
        resp->allow = "GET, POST";
        gql__respond_error(resp, 405, ERR_BAD_INPUT, "Use GET or POST for GraphQL.");
        return 0;
    }
    gql_op_t op = gql_prepare(h->schema, &gr);
    if (op == GQL_OP_MUTATION && is_get) {
        resp->allow = "POST";
        gql__respond_error(resp, 405, ERR_BAD_INPUT, "Mutations are only allowed over POST.");
        return 0;
    }
    if (op == GQL_OP_MUTATION && h->authorize_mutation) {
        err_t e = {.code = ERR_OK};
        if (h->authorize_mutation(h->user_ctx, req, &e) != 0) {
            gql__respond_error(resp, 401, e.code == ERR_OK ? ERR_UNAUTH : e.code,
                               e.msg[0] ? e.msg : "This mutation needs a valid write token.");
            return 0;
        }
    }
    gql_status_t st = gql_execute(h->schema, h->resolvers, &gr, &resp->body);
    /* A request error has no "data": a client that accepts the new media
     * type reads that from the status, a legacy application/json client
     * from the body (and many treat any 4xx as a transport failure). */
    resp->status = st == GQL_REQUEST_ERROR && modern ? 400 : 200;
    return 0;
}
