/*
 * gql_engine.c — unit tests of the GraphQL engine's public interface:
 * schema errors, batching (one resolver call per field per level), missing
 * resolvers, operation types, limits, serial mutations, resolver errors,
 * extensions. The conformance corpus (t/22-gql-corpus.t) covers the spec.
 */
#include "gql.h"
#include "tap.h"

#include <stdlib.h>

static const char sdl[] =
    "type Query { books(ids: [ID!]!): [Book]! book(id: ID!): Book deep: Deep\n"
    "  big: Int  nothing: String }\n"
    "type Deep { d: Deep n: Int }\n"
    "type Book { id: ID! title: String bookstore: Bookstore }\n"
    "type Bookstore { id: ID! name: String! }\n"
    "type Mutation { a: Int b: Int c: Int! }\n";

typedef struct {
    int calls_books, calls_bookstore, calls_bookstore_fields;
    size_t last_n_bookstore, last_n_fields;
    char order[16];
    int norder;
    int nselected;
} ctx_t;

static int r_books(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    ctx_t *c = call->ctx;
    (void)parents;
    c->calls_books++;
    const gql_value_t *a = gql_arg(call, "ids");
    for (size_t i = 0; i < n; i++) {
        out[i] = gql_list(call->arena, a->u.list.n);
        for (size_t k = 0; k < a->u.list.n; k++) {
            const gql_value_t *id = &a->u.list.items[k];
            /* id "9" is unknown: null */
            out[i].u.list.items[k] =
                id->u.s.ptr[0] == '9'
                    ? gql_null()
                    : gql_obj(arena_strndup(call->arena, id->u.s.ptr, id->u.s.len), NULL);
        }
    }
    size_t nsel;
    gql_selected(call, &nsel);
    c->nselected = (int)nsel;
    return 0;
}

static int r_book_root(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    (void)parents;
    const gql_value_t *id = gql_arg(call, "id");
    for (size_t i = 0; i < n; i++)
        out[i] = gql_obj(arena_strndup(call->arena, id->u.s.ptr, id->u.s.len), NULL);
    return 0;
}

static int r_book_any(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    ctx_t *c = call->ctx;
    if (strcmp(call->field_name, "bookstore") == 0) {
        c->calls_bookstore++;
        c->last_n_bookstore = n;
        for (size_t i = 0; i < n; i++) out[i] = gql_obj(parents[i], NULL);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const char *id = parents[i];
        out[i] = strcmp(call->field_name, "id") == 0
                     ? gql_str(id, strlen(id))
                     : gql_errorf(call->arena, ERR_NOT_FOUND, "no title for %s", id);
    }
    return 0;
}

static int r_bookstore_any(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    ctx_t *c = call->ctx;
    size_t nsel;
    const char *const *sel = gql_selected(call, &nsel);
    (void)sel;
    c->calls_bookstore_fields++;
    c->last_n_fields = n;
    for (size_t i = 0; i < n; i++) {
        const char *id = parents[i];
        if (strcmp(call->field_name, "name") == 0 && id[0] == '3')
            out[i] = gql_null(); /* non-null violation */
        else
            out[i] = gql_str(id, strlen(id));
    }
    if (strcmp(call->field_name, "id") == 0 && n > 0)
        gql_call_error(call, 0, ERR_UNAVAILABLE, "cache degraded");
    return 0;
}

static int r_big(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    (void)call;
    (void)parents;
    for (size_t i = 0; i < n; i++) out[i] = gql_int(1LL << 40);
    return 0;
}

static int r_fail(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    (void)n;
    (void)parents;
    (void)out;
    return err_set(&call->err, ERR_UNAVAILABLE, "MongoDB is down");
}

static int r_mut(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    ctx_t *c = call->ctx;
    (void)parents;
    c->order[c->norder++] = call->field_name[0];
    for (size_t i = 0; i < n; i++)
        out[i] = call->field_name[0] == 'c' ? gql_null() : gql_int(c->norder);
    return 0;
}

static void ext(void *ctx, buf_t *out)
{
    ctx_t *c = ctx;
    buf_printf(out, "{\"calls\":%d}", c->calls_bookstore);
}

static char *run(gql_schema_t *s, gql_resolvers_t *r, ctx_t *c, arena_t *a, const char *q,
                 const gql_limits_t *lim, gql_status_t *st)
{
    static buf_t out = BUF_INIT;
    buf_reset(&out);
    gql_request_t req = {.query = q, .query_len = strlen(q), .arena = a, .ctx = c, .limits = lim};
    *st = gql_execute(s, r, &req, &out);
    return out.data;
}

int main(void)
{
    err_t e;
    gql_schema_t *s = NULL;

    /* schema errors point at line:column */
    ok(gql_schema_load("type Query { a: Nope }", 22, &s, &e) == -1 && s == NULL,
       "unknown type refused");
    check_str(e.msg, "1:17: Unknown type \"Nope\".", "message names line:column");
    ok(gql_schema_load("type Query {\n  a: Int\n  b Int }", 31, &s, &e) == -1,
       "SDL syntax error refused");
    ok(strncmp(e.msg, "3:5: Syntax Error", 17) == 0, "syntax error at 3:5 (%s)", e.msg);
    ok(gql_schema_load("type Foo { a: Int }", 19, &s, &e) == -1, "schema without Query refused");
    ok(gql_schema_load("type Query { a: Int }\ntype Query { b: Int }", 43, &s, &e) == -1 &&
           strncmp(e.msg, "2:1:", 4) == 0,
       "duplicate type at 2:1 (%s)", e.msg);

    if (gql_schema_load(sdl, strlen(sdl), &s, &e) != 0) {
        printf("# %s\n", e.msg);
        ok(0, "test schema loads");
        return tap_done();
    }
    gql_resolvers_t *r = NULL;
    gql_resolver_def_t bad[] = {{"Book.nope", r_books}};
    ok(gql_resolvers_new(s, bad, 1, &r, &e) == -1 && strstr(e.msg, "nope"),
       "unknown resolver field refused");
    gql_resolver_def_t defs[] = {{"Query.books", r_books}, {"Query.book", r_book_root},
                                 {"Query.big", r_big},     {"Query.deep", r_fail},
                                 {"Book.*", r_book_any},   {"Bookstore.*", r_bookstore_any},
                                 {"Mutation.*", r_mut}};
    ok(gql_resolvers_new(s, defs, sizeof defs / sizeof *defs, &r, &e) == 0, "resolvers bind");

    arena_t a;
    arena_init(&a, 0);
    ctx_t c;
    gql_status_t st;
    char *res;

    /* batching: one Book.bookstore call with all parents, one Bookstore.name call */
    memset(&c, 0, sizeof c);
    res = run(s, r, &c, &a, "{ books(ids: [\"1\",\"2\",\"9\",\"4\"]) { id bookstore { name } } }",
              NULL, &st);
    check_int(st, GQL_EXECUTED, "batched query executes");
    check_int(c.calls_books, 1, "Query.books called once");
    check_int(c.calls_bookstore, 1, "Book.bookstore called once for the whole list");
    check_int(c.last_n_bookstore, 3, "... with the 3 non-null books");
    check_int(c.calls_bookstore_fields, 1, "Bookstore.name called once");
    check_int(c.last_n_fields, 3, "... with 3 parents");
    check_int(c.nselected, 2, "resolver sees the 2 selected sub-fields");
    check_str(res,
              "{\"data\":{\"books\":[{\"id\":\"1\",\"bookstore\":{\"name\":\"1\"}},{\"id\":\"2\","
              "\"bookstore\":"
              "{\"name\":\"2\"}},null,{\"id\":\"4\",\"bookstore\":{\"name\":\"4\"}}]}}",
              "batched result in input order");
    arena_reset(&a);

    /* the same field under different selections, same arguments: one call,
     * projection sees the union of what they select */
    memset(&c, 0, sizeof c);
    res =
        run(s, r, &c, &a,
            "{ a: book(id: \"1\") { bookstore { name } } b: book(id: \"2\") { bookstore { id } } }",
            NULL, &st);
    check_int(c.calls_bookstore, 1, "Book.bookstore batched across two selections");
    check_int(c.last_n_bookstore, 2, "... with both parents");
    check_str(
        res,
        "{\"errors\":[{\"message\":\"cache degraded\",\"locations\":[{\"line\":1,\"column\":"
        "74}],\"path\":[\"b\",\"bookstore\",\"id\"],\"extensions\":{\"code\":\"UNAVAILABLE\"}}],"
        "\"data\":{\"a\":{\"bookstore\":{\"name\":\"1\"}},\"b\":{\"bookstore\":{\"id\":\"2\"}}}}",
        "results land in their own selections");
    arena_reset(&a);

    /* non-null violation nulls the nearest nullable parent; per-item errors keep their path */
    memset(&c, 0, sizeof c);
    res = run(s, r, &c, &a, "{ books(ids: [\"3\"]) { title bookstore { id name } } }", NULL, &st);
    ok(strstr(res, "\"path\":[\"books\",0,\"bookstore\",\"name\"]") != NULL,
       "non-null error path (%s)", res);
    ok(strstr(res, "\"code\":\"NOT_FOUND\"") && strstr(res, "\"path\":[\"books\",0,\"title\"]"),
       "per-item error value keeps its code and path");
    ok(strstr(res, "\"bookstore\":null") != NULL, "bookstore nulled");
    ok(strstr(res, "cache degraded") && strstr(res, "UNAVAILABLE"), "gql_call_error adds an error");
    arena_reset(&a);

    /* missing resolver: INTERNAL at the path, not a crash; whole-batch failure */
    res = run(s, r, &c, &a, "{ nothing deep { n } big }", NULL, &st);
    ok(strstr(res, "No resolver for Query.nothing") && strstr(res, "\"path\":[\"nothing\"]") &&
           strstr(res, "\"code\":\"INTERNAL\""),
       "missing resolver is an INTERNAL field error (%s)", res);
    ok(strstr(res, "MongoDB is down") && strstr(res, "\"code\":\"UNAVAILABLE\""),
       "resolver -1 fails the batch");
    ok(strstr(res, "\"big\":null") && strstr(res, "32-bit"), "Int out of 32-bit range refused");
    arena_reset(&a);

    /* operation types before execution */
    gql_request_t req = {.query = "mutation { a }", .query_len = 14, .arena = &a};
    check_int(gql_prepare(s, &req), GQL_OP_MUTATION, "prepare says mutation");
    gql_request_t req2 = {.query = "{ big }", .query_len = 7, .arena = &a};
    check_int(gql_prepare(s, &req2), GQL_OP_QUERY, "prepare says query");
    gql_request_t req3 = {.query = "{ nope }", .query_len = 8, .arena = &a};
    check_int(gql_prepare(s, &req3), GQL_OP_NONE, "invalid document: none");
    gql_request_t req4 = {.query = "subscription { big }", .query_len = 20, .arena = &a};
    check_int(gql_prepare(s, &req4), GQL_OP_SUBSCRIPTION, "prepare says subscription");
    arena_reset(&a);

    /* serial mutation: a, b, c in order, c's null propagates to data */
    memset(&c, 0, sizeof c);
    res = run(s, r, &c, &a, "mutation { b: b a: a c: c }", NULL, &st);
    c.order[c.norder] = '\0';
    check_str(c.order, "bac", "mutation fields run one after the other in document order");
    ok(strstr(res, "\"data\":null") != NULL, "non-null mutation field nulls data (%s)", res);
    arena_reset(&a);

    /* limits */
    gql_limits_t lim = {3, 1000, 1, 100000};
    res = run(s, r, &c, &a, "{ deep { d { d { n } } } }", &lim, &st);
    ok(st == GQL_REQUEST_ERROR && strstr(res, "QUERY_TOO_COMPLEX"), "depth limit (%s)", res);
    res = run(s, r, &c, &a, "{ x: big y: big }", &lim, &st);
    ok(st == GQL_REQUEST_ERROR && strstr(res, "QUERY_TOO_COMPLEX"), "alias limit");
    gql_limits_t lim2 = {15, 3, 100, 100000};
    res = run(s, r, &c, &a, "{ a: big b: big c: big d: big }", &lim2, &st);
    ok(st == GQL_REQUEST_ERROR && strstr(res, "QUERY_TOO_COMPLEX") && strstr(res, "fields"),
       "field limit");
    gql_limits_t lim3 = {15, 1000, 100, 25};
    res = run(s, r, &c, &a, "{ books(ids: []) { id bookstore { id name } } }", &lim3, &st);
    ok(st == GQL_REQUEST_ERROR && strstr(res, "cost"), "cost limit: lists multiply");
    arena_reset(&a);

    /* parse errors carry line:column; extensions are appended */
    res = run(s, r, &c, &a, "{\n  big\n  ?\n}", NULL, &st);
    ok(st == GQL_REQUEST_ERROR && strstr(res, "{\"line\":3,\"column\":3}") &&
           strstr(res, "GRAPHQL_PARSE_FAILED"),
       "parse error location (%s)", res);
    {
        buf_t out = BUF_INIT;
        memset(&c, 0, sizeof c);
        gql_request_t rq = {
            .query = "{ big }", .query_len = 7, .arena = &a, .ctx = &c, .extensions = ext};
        gql_execute(s, r, &rq, &out);
        ok(strstr(out.data, ",\"extensions\":{\"calls\":0}}") != NULL, "extensions appended (%s)",
           out.data);
        buf_free(&out);
    }
    arena_reset(&a);

    /* variables as raw JSON text */
    {
        buf_t out = BUF_INIT;
        const char *q = "query Q($ids: [ID!]!) { books(ids: $ids) { id } }";
        gql_request_t rq = {.query = q,
                            .query_len = strlen(q),
                            .arena = &a,
                            .ctx = &c,
                            .variables_json = "{\"ids\": [\"2\", 4]}"};
        gql_execute(s, r, &rq, &out);
        check_str(out.data, "{\"data\":{\"books\":[{\"id\":\"2\"},{\"id\":\"4\"}]}}",
                  "variables from JSON text");
        buf_reset(&out);
        gql_request_t rq2 = {
            .query = q, .query_len = strlen(q), .arena = &a, .variables_json = "{\"ids\": [true]}"};
        ok(gql_execute(s, r, &rq2, &out) == GQL_REQUEST_ERROR && strstr(out.data, "BAD_USER_INPUT"),
           "bad variable is a request error (%s)", out.data);
        buf_free(&out);
    }

    /* a request past its deadline calls no resolver: what is left answers
     * UNAVAILABLE (a deadline still ahead changes nothing) */
    {
        buf_t out = BUF_INIT;
        memset(&c, 0, sizeof c);
        const char *q = "{ books(ids: [\"1\"]) { id bookstore { name } } }";
        gql_request_t rq = {.query = q,
                            .query_len = strlen(q),
                            .arena = &a,
                            .ctx = &c,
                            .deadline_ns = gql_now_ns() - 1};
        gql_execute(s, r, &rq, &out);
        ok(c.calls_books == 0 && strstr(out.data, "\"UNAVAILABLE\"") &&
               strstr(out.data, "deadline"),
           "past the deadline: no resolver runs, UNAVAILABLE (%s)", out.data);
        buf_reset(&out);
        rq.prepared_ = NULL;
        rq.deadline_ns = gql_now_ns() + 60000000000LL;
        gql_execute(s, r, &rq, &out);
        ok(c.calls_books == 1 && c.calls_bookstore == 1 && !strstr(out.data, "errors"),
           "a deadline ahead changes nothing (%s)", out.data);
        buf_free(&out);
    }
    arena_reset(&a);

    /* the document cache: the same document with other variables is a hit
     * and answers for those variables; an invalid document is not kept and
     * still reports its errors; the byte bound evicts the least recently
     * used */
    {
        buf_t out = BUF_INIT, plain = BUF_INIT;
        gql_doc_cache_t *dc = gql_doc_cache_new(s, 1 << 20);
        gql_doc_cache_stats_t st;
        const char *q = "query Q($ids: [ID!]!, $n: Boolean!) { books(ids: $ids) { id "
                        "bookstore @include(if: $n) { name } } }";
        const char *vars[] = {"{\"ids\": [\"1\"], \"n\": true}",
                              "{\"ids\": [\"2\", \"3\"], \"n\": false}",
                              "{\"ids\": [\"1\"], \"n\": true}", "{\"ids\": 5}"};
        bool same = true;
        for (int i = 0; i < 4; i++) {
            buf_reset(&out);
            buf_reset(&plain);
            arena_reset(&a);
            gql_request_t rq = {.query = q,
                                .query_len = strlen(q),
                                .arena = &a,
                                .ctx = &c,
                                .variables_json = vars[i],
                                .doc_cache = dc};
            gql_execute(s, r, &rq, &out);
            gql_request_t rp = rq;
            rp.doc_cache = NULL;
            rp.prepared_ = NULL;
            gql_execute(s, r, &rp, &plain);
            if (strcmp(out.data, plain.data) != 0) {
                same = false;
                printf("# cached %s\n# plain  %s\n", out.data, plain.data);
            }
        }
        ok(same, "cached answers equal uncached ones, for each set of variables");
        gql_doc_cache_stats(dc, &st);
        ok(st.hits == 3 && st.misses == 1 && st.entries == 1,
           "one miss, then hits (hits %llu misses %llu entries %zu)", (unsigned long long)st.hits,
           (unsigned long long)st.misses, st.entries);
        const char *badq = "{ books(ids: [\"1\"]) { nope } }";
        for (int i = 0; i < 2; i++) {
            buf_reset(&out);
            arena_reset(&a);
            gql_request_t rq = {
                .query = badq, .query_len = strlen(badq), .arena = &a, .doc_cache = dc};
            ok(gql_execute(s, r, &rq, &out) == GQL_REQUEST_ERROR && strstr(out.data, "nope"),
               "invalid document still reports its error (%s)", out.data);
        }
        gql_doc_cache_stats(dc, &st);
        ok(st.entries == 1 && st.misses == 3, "invalid document not kept");
        const char *ops = "query A { big } query B { books(ids: [\"1\"]) { id } }";
        buf_reset(&out);
        arena_reset(&a);
        gql_request_t ra = {.query = ops,
                            .query_len = strlen(ops),
                            .arena = &a,
                            .ctx = &c,
                            .operation_name = "B",
                            .doc_cache = dc};
        gql_execute(s, r, &ra, &out);
        check_str(out.data, "{\"data\":{\"books\":[{\"id\":\"1\"}]}}", "operation name chosen");
        buf_reset(&out);
        arena_reset(&a);
        ra.prepared_ = NULL;
        ra.operation_name = "A";
        gql_execute(s, r, &ra, &out);
        gql_doc_cache_stats(dc, &st);
        ok(strstr(out.data, "\"big\"") && st.entries == 3,
           "the operation name is part of the key (%s)", out.data);
        /* kept under looser limits, the document still answers to the request's */
        gql_limits_t tight = {15, 1, 100, 50000};
        buf_reset(&out);
        arena_reset(&a);
        ra.prepared_ = NULL;
        ra.limits = &tight;
        ok(gql_execute(s, r, &ra, &out) == GQL_REQUEST_ERROR && strstr(out.data, "too complex"),
           "a cached document over the request's field limit is refused (%s)", out.data);
        gql_doc_cache_free(dc);
        /* a bound that holds about one document */
        dc = gql_doc_cache_new(s, st.bytes / 3 + 1);
        for (int i = 0; i < 3; i++) {
            char qq[64];
            snprintf(qq, sizeof qq, "{ big a%d: big }", i);
            buf_reset(&out);
            arena_reset(&a);
            gql_request_t rq = {.query = qq, .query_len = strlen(qq), .arena = &a, .doc_cache = dc};
            gql_execute(s, r, &rq, &out);
        }
        gql_doc_cache_stats(dc, &st);
        ok(st.entries >= 1 && st.evictions >= 1 && st.bytes <= (size_t)-1,
           "bounded by bytes: evicts (entries %zu evictions %llu)", st.entries,
           (unsigned long long)st.evictions);
        gql_doc_cache_free(dc);
        dc = gql_doc_cache_new(s, 0);
        buf_reset(&out);
        arena_reset(&a);
        gql_request_t rz = {.query = "{ big }", .query_len = 7, .arena = &a, .doc_cache = dc};
        gql_execute(s, r, &rz, &out);
        gql_doc_cache_stats(dc, &st);
        ok(strstr(out.data, "\"big\"") && st.entries == 0, "a 0-byte cache keeps nothing (%s)",
           out.data);
        gql_doc_cache_free(dc);
        buf_free(&out);
        buf_free(&plain);
    }
    arena_reset(&a);

    arena_destroy(&a);
    gql_resolvers_free(r);
    gql_schema_free(s);
    return tap_done();
}
