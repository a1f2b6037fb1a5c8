/*
 * gql_bench.c — microbenchmark of the GraphQL engine: parse + validate +
 * execute (+ variable JSON parsing and response writing) of a 37-field query
 * with fragments and variables against schema/schema.graphql and static
 * in-memory resolvers, on one core. Not a test; `make bench-gql` runs it.
 *
 *   build/perf/gql_bench [SCHEMA] [SECONDS] [off|on|both]
 *
 * For each mode (document cache off, on) it prints one line,
 *   "gql_bench: document cache off: N ops/s/core (median of 5 runs, CPU time)"
 * where each run lasts SECONDS (default 1) of this process's CPU time
 * (CLOCK_PROCESS_CPUTIME_ID: what one core does when it is ours, on a shared
 * machine). The five rates go to stderr. GQL_BENCH_OPS=N instead runs
 * exactly N operations per mode once and prints no rate (for callgrind).
 */
#include "gql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char query[] =
    "query Bench($ids: [ID!]!, $size: Int!, $first: Int) {\n"
    "  books(ids: $ids) { ...BookFields bookstore { ...StoreFields } }\n"
    "  fruitBySize(size: $size, limit: 10) { __typename ...FruitFields ... on Apple { breed } }\n"
    "  bookstores(first: $first) {\n"
    "    edges { cursor node { ...StoreFields } }\n"
    "    pageInfo { hasNextPage endCursor }\n"
    "  }\n"
    "}\n"
    "fragment BookFields on Book { id isbn title authors year price version }\n"
    "fragment StoreFields on Bookstore { id name city bookCount version }\n"
    "fragment FruitFields on Fruit { id kind breed size colour acidity version }\n";
static const char variables[] = "{\"ids\": [\"b1\", \"b2\", \"b3\"], \"size\": 7, \"first\": 2}";

typedef struct {
    const char *id, *title, *store;
    int year;
} book_t;
static const book_t books[] = {
    {"b1", "Dune", "s1", 1965}, {"b2", "Emma", "s2", 1815}, {"b3", "Ulysses", "s1", 1922}};
static const char *const authors[] = {"A. Author", "B. Writer"};

static int r_books(gql_call_t *c, size_t n, void *const *p, gql_value_t *out)
{
    (void)p;
    const gql_value_t *ids = gql_arg(c, "ids");
    for (size_t i = 0; i < n; i++) {
        out[i] = gql_list(c->arena, ids->u.list.n);
        for (size_t k = 0; k < ids->u.list.n; k++)
            out[i].u.list.items[k] = gql_obj((void *)&books[k % 3], NULL);
    }
    return 0;
}

static int r_book(gql_call_t *c, size_t n, void *const *p, gql_value_t *out)
{
    const char *f = c->field_name;
    for (size_t i = 0; i < n; i++) {
        const book_t *b = p[i];
        switch (f[0]) {
        case 'i':
            out[i] = f[1] == 'd' ? gql_str(b->id, 2) : gql_str("978-0", 5);
            break;
        case 't':
            out[i] = gql_str(b->title, strlen(b->title));
            break;
        case 'a':
            out[i] = gql_list(c->arena, 2);
            out[i].u.list.items[0] = gql_str(authors[0], 9);
            out[i].u.list.items[1] = gql_str(authors[1], 9);
            break;
        case 'y':
            out[i] = gql_int(b->year);
            break;
        case 'p':
            out[i] = gql_float(9.5);
            break;
        case 'v':
            out[i] = gql_int(1);
            break;
        case 'b':
            out[i] = gql_obj((void *)b->store, NULL);
            break;
        default:
            out[i] = gql_null();
        }
    }
    return 0;
}

static int r_store(gql_call_t *c, size_t n, void *const *p, gql_value_t *out)
{
    const char *f = c->field_name;
    for (size_t i = 0; i < n; i++) {
        const char *id = p[i];
        switch (f[0]) {
        case 'i':
            out[i] = gql_str(id, 2);
            break;
        case 'n':
            out[i] = gql_str("The Book Nook", 13);
            break;
        case 'c':
            out[i] = gql_str("Dublin", 6);
            break;
        case 'b':
            out[i] = gql_int(42);
            break;
        case 'v':
            out[i] = gql_int(3);
            break;
        default:
            out[i] = gql_null();
        }
    }
    return 0;
}

static int r_fruit(gql_call_t *c, size_t n, void *const *p, gql_value_t *out)
{
    (void)p;
    for (size_t i = 0; i < n; i++) {
        out[i] = gql_list(c->arena, 2);
        out[i].u.list.items[0] = gql_obj("apple", "Apple");
        out[i].u.list.items[1] = gql_obj("orange", "Orange");
    }
    return 0;
}

static int r_fruit_fields(gql_call_t *c, size_t n, void *const *p, gql_value_t *out)
{
    const char *f = c->field_name;
    for (size_t i = 0; i < n; i++) {
        const char *kind = p[i];
        switch (f[0]) {
        case 'i':
            out[i] = gql_str(kind, 2);
            break;
        case 'k':
            out[i] = kind[0] == 'a' ? gql_enum("APPLE", 5) : gql_enum("ORANGE", 6);
            break;
        case 'b':
            out[i] = gql_str("Braeburn", 8);
            break;
        case 's':
            out[i] = gql_int(7);
            break;
        case 'c':
            out[i] = gql_str("red", 3);
            break;
        case 'a':
            out[i] = gql_float(3.3);
            break;
        case 'v':
            out[i] = gql_int(1);
            break;
        default:
            out[i] = gql_null();
        }
    }
    return 0;
}

static int r_conn(gql_call_t *c, size_t n, void *const *p, gql_value_t *out)
{
    (void)p;
    for (size_t i = 0; i < n; i++) out[i] = gql_obj("conn", NULL);
    (void)c;
    return 0;
}

static int r_conn_fields(gql_call_t *c, size_t n, void *const *p, gql_value_t *out)
{
    const char *f = c->field_name;
    (void)p;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(f, "edges") == 0) {
            out[i] = gql_list(c->arena, 2);
            out[i].u.list.items[0] = gql_obj("s1", NULL);
            out[i].u.list.items[1] = gql_obj("s2", NULL);
        } else {
            out[i] = gql_obj("page", NULL);
        }
    }
    return 0;
}

static int r_edge(gql_call_t *c, size_t n, void *const *p, gql_value_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = c->field_name[0] == 'c' ? gql_str("Y3Vyc29y", 8) : gql_obj(p[i], NULL);
    return 0;
}

static int r_page(gql_call_t *c, size_t n, void *const *p, gql_value_t *out)
{
    (void)p;
    for (size_t i = 0; i < n; i++)
        out[i] = c->field_name[0] == 'h' ? gql_bool(true) : gql_str("czI=", 4);
    return 0;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
    const gql_schema_t *s;
    const gql_resolvers_t *r;
    arena_t a;
    buf_t out;
    gql_doc_cache_t *cache; /* NULL = off */
} bench_t;

static gql_status_t one(bench_t *b)
{
    arena_reset(&b->a);
    buf_reset(&b->out);
    gql_request_t rq = {.query = query,
                        .query_len = sizeof query - 1,
                        .variables_json = variables,
                        .arena = &b->a,
                        .doc_cache = b->cache};
    return gql_execute(b->s, b->r, &rq, &b->out);
}

/* One run: operations per CPU-second over at least `seconds` of CPU time,
 * or exactly `fixed` operations when fixed > 0. */
static double run(bench_t *b, double seconds, long fixed)
{
    long ops = 0;
    double c0 = cpu_now(), c;
    do {
        for (int i = 0; i < 100 && (fixed == 0 || ops < fixed); i++, ops++) one(b);
        c = cpu_now() - c0;
    } while (fixed ? ops < fixed : c < seconds);
    return (double)ops / c;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "schema/schema.graphql";
    double seconds = argc > 2 ? atof(argv[2]) : 1.0;
    const char *modes = argc > 3 ? argv[3] : "both";
    const char *fixed_env = getenv("GQL_BENCH_OPS");
    long fixed = fixed_env ? atol(fixed_env) : 0;
    if (seconds <= 0) seconds = 1.0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 2;
    }
    static char sdl[1 << 16];
    size_t len = fread(sdl, 1, sizeof sdl - 1, f);
    fclose(f);
    gql_schema_t *s;
    gql_resolvers_t *r;
    err_t e;
    if (gql_schema_load(sdl, len, &s, &e)) {
        fprintf(stderr, "%s:%s\n", path, e.msg);
        return 1;
    }
    gql_resolver_def_t defs[] = {
        {"Query.books", r_books},     {"Book.*", r_book},
        {"Bookstore.*", r_store},     {"Query.fruitBySize", r_fruit},
        {"Apple.*", r_fruit_fields},  {"Orange.*", r_fruit_fields},
        {"Query.bookstores", r_conn}, {"BookstoreConnection.*", r_conn_fields},
        {"BookstoreEdge.*", r_edge},  {"PageInfo.*", r_page},
    };
    if (gql_resolvers_new(s, defs, sizeof defs / sizeof *defs, &r, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    bench_t b = {.s = s, .r = r, .out = BUF_INIT};
    arena_init(&b.a, 0);
    /* one run to show (and check) the answer; the cached path must give
     * the same bytes */
    if (one(&b) != GQL_EXECUTED || strstr(b.out.data, "\"errors\"")) {
        fprintf(stderr, "gql_bench: unexpected response: %s\n", b.out.data);
        return 1;
    }
    fprintf(stderr, "gql_bench: response (%zu bytes): %.200s...\n", b.out.len, b.out.data);
    char *expect = strdup(b.out.data);
    int rc = 0;
    for (int on = 0; on < 2; on++) {
        if (strcmp(modes, "both") != 0 && strcmp(modes, on ? "on" : "off") != 0) continue;
        b.cache = on ? gql_doc_cache_new(s, 1 << 20) : NULL;
        for (int k = 0; k < 2; k++) one(&b); /* the miss, then a hit */
        if (strcmp(b.out.data, expect) != 0) {
            fprintf(stderr, "gql_bench: document cache %s: different response: %s\n",
                    on ? "on" : "off", b.out.data);
            rc = 1;
        }
        if (fixed) {
            run(&b, 0, fixed);
            fprintf(stderr, "gql_bench: document cache %s: ran %ld operations\n", on ? "on" : "off",
                    fixed);
        } else {
            double rates[5];
            for (int i = 0; i < 5; i++) rates[i] = run(&b, seconds, 0);
            fprintf(stderr, "gql_bench: document cache %s: runs %.0f %.0f %.0f %.0f %.0f\n",
                    on ? "on" : "off", rates[0], rates[1], rates[2], rates[3], rates[4]);
            qsort(rates, 5, sizeof *rates, cmp_double);
            printf("gql_bench: document cache %s: %.0f ops/s/core (median of 5 runs of %g s CPU "
                   "time)\n",
                   on ? "on" : "off", rates[2], seconds);
        }
        gql_doc_cache_free(b.cache);
        b.cache = NULL;
    }
    free(expect);
    buf_free(&b.out);
    arena_destroy(&b.a);
    gql_resolvers_free(r);
    gql_schema_free(s);
    return rc;
}
