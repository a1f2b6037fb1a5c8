/*
 * gql.h — the public face of oponn's GraphQL engine.
 *
 * The engine knows nothing about books, Redis or MongoDB. It owns: the lexer
 * and parser (executable documents and SDL), the schema built from SDL,
 * validation, breadth-first batched execution through a resolver table,
 * introspection, the JSON response writer and GraphQL over HTTP. Every other
 * gql_* header is internal to lib/gql*.c.
 *
 * Memory: a schema and a resolver table are long-lived (made once per worker,
 * freed with gql_schema_free / gql_resolvers_free). Everything a request
 * makes comes from the request's arena; the response is written into a
 * caller-owned buf_t.
 */
#ifndef OPONN_GQL_H
#define OPONN_GQL_H

#include "arena.h"
#include "buf.h"
#include "err.h"
#include "http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gql_schema gql_schema_t;
typedef struct gql_resolvers gql_resolvers_t;

/* ---- schema ---------------------------------------------------------------- */

/* Parses SDL and builds a schema (which keeps its own copy of the text). On
 * failure returns -1 and e->msg says "line:column: what is wrong". The caller
 * frees *out with gql_schema_free. */
int gql_schema_load(const char *sdl, size_t len, gql_schema_t **out, err_t *e);
void gql_schema_free(gql_schema_t *s);

/* ---- values ---------------------------------------------------------------- */

typedef enum {
    GQL_NULL = 0,
    GQL_BOOL,
    GQL_INT, /* int64 here; GraphQL Int output is checked against int32 */
    GQL_FLOAT,
    GQL_STRING, /* u.s: bytes, not NUL-terminated necessarily */
    GQL_ENUM,   /* u.s: the enum value's name */
    GQL_LIST,
    GQL_INPUT_OBJECT, /* ordered name/value pairs (arguments, input objects) */
    GQL_OBJECT,       /* a domain object: opaque pointer + concrete type name */
    GQL_ERROR,        /* a field error at this value's path */
} gql_kind_t;

typedef struct gql_value gql_value_t;

struct gql_value {
    gql_kind_t kind;
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *ptr;
            size_t len;
        } s;
        struct {
            gql_value_t *items;
            size_t n;
        } list;
        struct {
            const char **names; /* NUL-terminated */
            gql_value_t *values;
            size_t n;
        } obj;
        struct {
            void *ptr;
            const char
                *type; /* concrete type; may be NULL when the field's type is an object type */
        } object;
        struct {
            err_code_t code;
            const char *msg; /* arena or static */
        } err;
    } u;
};

static inline gql_value_t gql_null(void)
{
    gql_value_t v = {.kind = GQL_NULL};
    return v;
}
static inline gql_value_t gql_bool(bool b)
{
    gql_value_t v = {.kind = GQL_BOOL, .u.b = b};
    return v;
}
static inline gql_value_t gql_int(int64_t i)
{
    gql_value_t v = {.kind = GQL_INT, .u.i = i};
    return v;
}
static inline gql_value_t gql_float(double f)
{
    gql_value_t v = {.kind = GQL_FLOAT, .u.f = f};
    return v;
}
/* The bytes must outlive the request (arena, static or the domain object). */
static inline gql_value_t gql_str(const char *p, size_t len)
{
    gql_value_t v = {.kind = GQL_STRING, .u.s = {p, len}};
    return v;
}
static inline gql_value_t gql_enum(const char *name, size_t len)
{
    gql_value_t v = {.kind = GQL_ENUM, .u.s = {name, len}};
    return v;
}
static inline gql_value_t gql_obj(void *ptr, const char *type)
{
    gql_value_t v = {.kind = GQL_OBJECT, .u.object = {ptr, type}};
    return v;
}
static inline gql_value_t gql_error(err_code_t code, const char *msg)
{
    gql_value_t v = {.kind = GQL_ERROR, .u.err = {code, msg}};
    return v;
}
/* A list of n items (uninitialised) from the arena. */
gql_value_t gql_list(arena_t *a, size_t n);
/* An error value with a formatted message copied into the arena. */
gql_value_t gql_errorf(arena_t *a, err_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The field of an input object by name, or NULL. */
const gql_value_t *gql_input_field(const gql_value_t *obj, const char *name);

/* ---- resolvers ------------------------------------------------------------- */

typedef struct gql_call gql_call_t;

/*
 * A batch resolver. The executor runs breadth-first and calls a field's
 * resolver once per level with every parent object that selects the field
 * with the same arguments (parents[i] is the domain pointer of parent i; NULL
 * for root fields). It fills out[0..n-1]: scalars, lists, objects (gql_obj)
 * or gql_error for a per-item field error. Returning -1 with call->err set
 * makes every item of the batch that error.
 */
typedef int (*gql_resolve_fn)(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out);

struct gql_call {
    const char *type_name;   /* "Book" */
    const char *field_name;  /* "bookstore" */
    arena_t *arena;          /* the request's arena */
    void *ctx;               /* gql_request_t.ctx */
    const gql_value_t *args; /* coerced arguments, GQL_INPUT_OBJECT (defaults applied) */
    err_t err;               /* filled by a resolver that returns -1 */
    void *internal_;
};

/* A coerced argument by name, or NULL when absent (and without a default). */
const gql_value_t *gql_arg(const gql_call_t *call, const char *name);
/* The names of the sub-fields selected under this field (deduplicated,
 * across fragments; @skip/@include ignored), for projection. Computed on the
 * first call per field; *n gets the count. Arena memory. */
const char *const *gql_selected(gql_call_t *call, size_t *n);
/* Adds a field error at parent i's path of this field without changing the
 * value (e.g. a warning next to partial data). */
void gql_call_error(gql_call_t *call, size_t i, err_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

typedef struct {
    const char *key; /* "Type.field" or "Type.*" */
    gql_resolve_fn fn;
} gql_resolver_def_t;

/* Binds resolver definitions to a schema. Unknown types or fields are an
 * error (a typo would otherwise surface as INTERNAL at run time). The table
 * refers to the schema, which must outlive it. Free with gql_resolvers_free. */
int gql_resolvers_new(const gql_schema_t *s, const gql_resolver_def_t *defs, size_t n,
                      gql_resolvers_t **out, err_t *e);
void gql_resolvers_free(gql_resolvers_t *r);

/* ---- requests -------------------------------------------------------------- */

/* Refused before execution with QUERY_TOO_COMPLEX (a request error, see
 * gql_status_t). The worker fills them from the configuration:
 * {cfg.gql_max_depth, cfg.gql_max_fields, cfg.gql_max_aliases, cfg.gql_max_cost}. */
typedef struct {
    int max_depth;   /* deepest selection nesting; default 15 */
    int max_fields;  /* fields, in the document and after fragment expansion; default 1000 */
    int max_aliases; /* aliased fields; default 100 */
    int max_cost;    /* estimated resolved fields: each list multiplies what is under it by
                        10; __schema/__type subtrees count 0; default 50000 */
} gql_limits_t;

#define GQL_LIMITS_DEFAULT                                                                         \
    {                                                                                              \
        15, 1000, 100, 50000                                                                       \
    }

typedef enum {
    GQL_OP_NONE = 0, /* the document did not parse or validate */
    GQL_OP_QUERY,
    GQL_OP_MUTATION,
    GQL_OP_SUBSCRIPTION,
} gql_op_t;

typedef struct gql_prepared gql_prepared_t;

/* One request. Every pointer must stay valid until gql_execute returns (the
 * parsed document points into query). */
typedef struct {
    const char *query; /* the document text */
    size_t query_len;
    const void *variables;      /* a cJSON * (object or NULL), or NULL */
    const char *variables_json; /* used when variables is NULL: raw JSON text, or NULL */
    const char *operation_name; /* NULL or "" = the only operation */
    arena_t *arena;
    void *ctx;                  /* handed to resolvers as call->ctx */
    const gql_limits_t *limits; /* NULL = GQL_LIMITS_DEFAULT */
    /* Called after execution to append one JSON value (an object) as the
     * response's "extensions" (e.g. per-request debug counts); writing
     * nothing leaves the key out. NULL = no extensions. */
    void (*extensions)(void *ctx, buf_t *out);
    /* CLOCK_MONOTONIC nanoseconds (gql_now_ns) past which no resolver is
     * called: the fields left answer UNAVAILABLE. 0 = no deadline. */
    int64_t deadline_ns;
    gql_prepared_t *prepared_; /* internal: set by gql_prepare */
} gql_request_t;

/*
 * Parses, validates and checks the limits once (gql_execute reuses it), and
 * says which kind of operation would run, so HTTP can refuse a mutation over
 * GET or ask for the write token. GQL_OP_NONE: the request has errors that
 * gql_execute will write.
 */
gql_op_t gql_prepare(const gql_schema_t *s, gql_request_t *req);

typedef enum {
    GQL_EXECUTED = 0,      /* data present (maybe partial, maybe with errors) */
    GQL_REQUEST_ERROR = 1, /* parse/validation/variables/limits: errors only (gql_http.c: status) */
} gql_status_t;

/* CLOCK_MONOTONIC now, in nanoseconds (for gql_request_t.deadline_ns). */
int64_t gql_now_ns(void);

/* Runs the request and writes the whole JSON response into *out (appended).
 * Never fails otherwise: every problem is an entry of "errors". */
gql_status_t gql_execute(const gql_schema_t *s, const gql_resolvers_t *r, gql_request_t *req,
                         buf_t *out);

/* Writes {"errors":[{"message":msg,"extensions":{"code":...}}]} into *out. */
void gql_write_error(buf_t *out, err_code_t code, const char *msg);

/* ---- GraphQL over HTTP ----------------------------------------------------- */

/* Decides whether a mutation may run; return 0 to allow, -1 with e set (code
 * ERR_UNAUTH) to refuse. NULL = mutations allowed. */
typedef int (*gql_authorize_fn)(void *user_ctx, const http_req_t *req, err_t *e);

typedef struct {
    const gql_schema_t *schema;
    const gql_resolvers_t *resolvers;
    const gql_limits_t *limits; /* NULL = defaults */
    gql_authorize_fn authorize_mutation;
    void *user_ctx; /* handed to resolvers and to authorize_mutation */
    void (*extensions)(void *user_ctx, buf_t *out); /* see gql_request_t */
    int64_t deadline_ns;                            /* see gql_request_t; 0 = none */
} gql_http_t;

/*
 * Answers one /graphql request (POST JSON or GET ?query=) into *resp: status,
 * content type, Allow for 405, body. Returns 0; -1 only for a programming
 * error (NULL arguments). The body size limit (413) is the worker's, before
 * the body is read.
 */
int gql_http_handle(const gql_http_t *h, const http_req_t *req, http_resp_t *resp);

#endif
