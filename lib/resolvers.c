/*
 * resolvers.c — Query, Mutation and object fields of schema/schema.graphql
 * (see resolvers.h).
 *
 * Domain objects handed to the engine (gql_obj) are the repository's structs
 * (book_t, bookstore_t, fruit_t, repo_book_store_t) or the small page/edge
 * structs below, all in the request arena. Scalar fields of a type are served
 * by one "Type.*" resolver, called once per batch, which compares the field
 * name (a strcmp chain) once per parent.
 */
#include "resolvers.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EACH(i) for (size_t i = 0; i < n; i++)

static repo_t *res__repo(gql_call_t *call)
{
    return ((resolvers_ctx_t *)call->ctx)->repo;
}

static gql_value_t res__str(const char *s)
{
    return s ? gql_str(s, strlen(s)) : gql_null();
}

/* The details the client does not get go to the worker's log (err_log;
 * the worker prefixes "oponn-worker[pid]: "): every
 * INTERNAL (a bug or an unexpected backend answer), and UNAVAILABLE at most
 * once a second with the count of those left out. */
static void res__log(gql_call_t *call, const err_t *e)
{
    resolvers_ctx_t *rc = call->ctx;
    if (e->code == ERR_UNAVAILABLE) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec == rc->log_second) {
            rc->log_skipped++;
            return;
        }
        rc->log_second = now.tv_sec;
    }
    char more[64] = "";
    if (e->code == ERR_UNAVAILABLE && rc->log_skipped) {
        snprintf(more, sizeof more, " (%u more UNAVAILABLE since the last line)", rc->log_skipped);
        rc->log_skipped = 0;
    }
    err_log("%s.%s: %s: %s%s", call->type_name, call->field_name, err_code_name(e->code), e->msg,
            more);
}

/* A repository error as a field error. INTERNAL and UNAVAILABLE never carry
 * details (host names, driver messages) to the client: they are logged. */
static gql_value_t res__error(gql_call_t *call, const err_t *e)
{
    if (e->code == ERR_INTERNAL || e->code == ERR_UNAVAILABLE) res__log(call, e);
    switch (e->code) {
    case ERR_INTERNAL:
        return gql_error(ERR_INTERNAL, "internal error");
    case ERR_UNAVAILABLE:
        return gql_error(ERR_UNAVAILABLE, "a backing service is unavailable; retry shortly");
    default:
        return gql_errorf(call->arena, e->code, "%s", e->msg);
    }
}

static void res__fill_error(gql_call_t *call, size_t n, gql_value_t *out, const err_t *e)
{
    gql_value_t v = res__error(call, e);
    EACH(i) out[i] = v;
}

static const char *res__arg_str(gql_call_t *call, const char *name)
{
    const gql_value_t *v = gql_arg(call, name);
    if (v == NULL || (v->kind != GQL_STRING && v->kind != GQL_ENUM)) return NULL;
    return arena_strndup(call->arena, v->u.s.ptr, v->u.s.len);
}

static int64_t res__arg_int(gql_call_t *call, const char *name, int64_t def)
{
    const gql_value_t *v = gql_arg(call, name);
    return v && v->kind == GQL_INT ? v->u.i : def;
}

static double res__arg_float(gql_call_t *call, const char *name)
{
    const gql_value_t *v = gql_arg(call, name);
    if (v == NULL) return NAN;
    return v->kind == GQL_FLOAT ? v->u.f : v->kind == GQL_INT ? (double)v->u.i : NAN;
}

/* A [ID!]! argument as a C array in the arena. */
static const char **res__arg_ids(gql_call_t *call, const char *name, size_t *count)
{
    const gql_value_t *v = gql_arg(call, name);
    *count = 0;
    if (v == NULL || v->kind != GQL_LIST) return NULL;
    const char **ids = arena_alloc(call->arena, (v->u.list.n + 1) * sizeof *ids);
    for (size_t i = 0; i < v->u.list.n; i++) {
        const gql_value_t *it = &v->u.list.items[i];
        ids[i] = arena_strndup(call->arena, it->u.s.ptr, it->u.s.len);
    }
    *count = v->u.list.n;
    return ids;
}

/* ---- input objects -> model structs with masks */

static const gql_value_t *res__field(const gql_value_t *input, const char *name, int *present)
{
    const gql_value_t *v = input ? gql_input_field(input, name) : NULL;
    *present = v != NULL;
    return v;
}

static const char *res__in_str(gql_call_t *call, const gql_value_t *input, const char *name,
                               int *present)
{
    const gql_value_t *v = res__field(input, name, present);
    if (v == NULL || v->kind == GQL_NULL) return NULL;
    return arena_strndup(call->arena, v->u.s.ptr, v->u.s.len);
}

static void res__book_input(gql_call_t *call, const gql_value_t *in, book_t *b, model_mask_t *mask)
{
    int p;
    memset(b, 0, sizeof *b);
    *mask = 0;
    b->isbn = res__in_str(call, in, "isbn", &p);
    if (p) *mask |= MODEL_BIT(BOOK_F_ISBN);
    b->title = res__in_str(call, in, "title", &p);
    if (p) *mask |= MODEL_BIT(BOOK_F_TITLE);
    const gql_value_t *v = res__field(in, "authors", &p);
    if (p) {
        *mask |= MODEL_BIT(BOOK_F_AUTHORS);
        if (v->kind == GQL_LIST) {
            b->authors = arena_alloc(call->arena, (v->u.list.n + 1) * sizeof *b->authors);
            for (size_t i = 0; i < v->u.list.n; i++) {
                const gql_value_t *a = &v->u.list.items[i];
                b->authors[i] = arena_strndup(call->arena, a->u.s.ptr, a->u.s.len);
            }
            b->n_authors = v->u.list.n;
        }
    }
    v = res__field(in, "year", &p);
    if (p) {
        *mask |= MODEL_BIT(BOOK_F_YEAR);
        b->has_year = v->kind == GQL_INT;
        b->year = b->has_year ? v->u.i : 0;
    }
    v = res__field(in, "price", &p);
    if (p) {
        *mask |= MODEL_BIT(BOOK_F_PRICE);
        b->has_price = v->kind == GQL_FLOAT || v->kind == GQL_INT;
        b->price = v->kind == GQL_FLOAT ? v->u.f : v->kind == GQL_INT ? (double)v->u.i : 0;
    }
    b->bookstore_id = res__in_str(call, in, "bookstoreId", &p);
    if (p) *mask |= MODEL_BIT(BOOK_F_BOOKSTORE_ID);
}

static void res__bookstore_input(gql_call_t *call, const gql_value_t *in, bookstore_t *s,
                                 model_mask_t *mask)
{
    int p;
    memset(s, 0, sizeof *s);
    *mask = 0;
    s->name = res__in_str(call, in, "name", &p);
    if (p) *mask |= MODEL_BIT(BOOKSTORE_F_NAME);
    s->city = res__in_str(call, in, "city", &p);
    if (p) *mask |= MODEL_BIT(BOOKSTORE_F_CITY);
}

static void res__fruit_input(gql_call_t *call, const gql_value_t *in, fruit_t *f,
                             model_mask_t *mask)
{
    int p;
    memset(f, 0, sizeof *f);
    *mask = 0;
    f->breed = res__in_str(call, in, "breed", &p);
    if (p) *mask |= MODEL_BIT(FRUIT_F_BREED);
    f->colour = res__in_str(call, in, "colour", &p);
    if (p) *mask |= MODEL_BIT(FRUIT_F_COLOUR);
    const gql_value_t *v = res__field(in, "size", &p);
    if (p) {
        *mask |= MODEL_BIT(FRUIT_F_SIZE);
        f->has_size = v->kind == GQL_INT;
        f->size = f->has_size ? v->u.i : 0;
    }
    v = res__field(in, "acidity", &p);
    if (p) {
        *mask |= MODEL_BIT(FRUIT_F_ACIDITY);
        f->has_acidity = v->kind == GQL_FLOAT || v->kind == GQL_INT;
        f->acidity = v->kind == GQL_FLOAT ? v->u.f : v->kind == GQL_INT ? (double)v->u.i : 0;
    }
}

static int res__fruit_kind(gql_call_t *call, fruit_kind_t *kind, err_t *e)
{
    const char *k = res__arg_str(call, "kind");
    return fruit_kind_parse(k ? k : "", kind, e);
}

/* ---- connections (cursor pages) */

typedef struct {
    repo_page_t page;
    const char *node_type; /* "Book" or "Bookstore" */
} res_page_t;

typedef struct {
    const char *cursor;
    void *node;
    const char *node_type;
} res_edge_t;

static gql_value_t res__page_value(gql_call_t *call, const repo_page_t *pg, const char *node_type,
                                   const char *conn_type)
{
    res_page_t *p = arena_alloc(call->arena, sizeof *p);
    p->page = *pg;
    p->node_type = node_type;
    return gql_obj(p, conn_type);
}

static int res_connection(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    int edges = strcmp(call->field_name, "edges") == 0;
    EACH(i)
    {
        const res_page_t *p = parents[i];
        if (!edges) { /* pageInfo: the page itself answers PageInfo's fields */
            out[i] = gql_obj(parents[i], "PageInfo");
            continue;
        }
        gql_value_t list = gql_list(call->arena, p->page.n);
        const char *edge_type = strcmp(p->node_type, "Book") == 0 ? "BookEdge" : "BookstoreEdge";
        for (size_t k = 0; k < p->page.n; k++) {
            res_edge_t *ed = arena_alloc(call->arena, sizeof *ed);
            ed->cursor = p->page.cursors[k];
            ed->node = p->page.items[k];
            ed->node_type = p->node_type;
            list.u.list.items[k] = gql_obj(ed, edge_type);
        }
        out[i] = list;
    }
    return 0;
}

static int res_edge(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    int cursor = strcmp(call->field_name, "cursor") == 0;
    EACH(i)
    {
        const res_edge_t *ed = parents[i];
        out[i] = cursor ? res__str(ed->cursor) : gql_obj(ed->node, ed->node_type);
    }
    return 0;
}

static int res_page_info(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    int has_next = strcmp(call->field_name, "hasNextPage") == 0;
    EACH(i)
    {
        const res_page_t *p = parents[i];
        out[i] = has_next ? gql_bool(p->page.has_next) : res__str(p->page.end_cursor);
    }
    return 0;
}

/* ---- Query */

static int res_query_book(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    (void)parents;
    err_t e = {0};
    book_t *b = NULL;
    if (repo_book_get(res__repo(call), res__arg_str(call, "id"), &b, &e) != 0) {
        res__fill_error(call, n, out, &e);
        return 0;
    }
    EACH(i) out[i] = b ? gql_obj(b, "Book") : gql_null();
    return 0;
}

static int res_query_books(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    (void)parents;
    err_t e = {0};
    size_t count;
    const char **ids = res__arg_ids(call, "ids", &count);
    book_t **books = arena_calloc(call->arena, count + 1, sizeof *books);
    if (repo_books_get_many(res__repo(call), ids, count, books, &e) != 0) {
        res__fill_error(call, n, out, &e);
        return 0;
    }
    gql_value_t list = gql_list(call->arena, count);
    for (size_t k = 0; k < count; k++) {
        list.u.list.items[k] = books[k] ? gql_obj(books[k], "Book") : gql_null();
    }
    EACH(i) out[i] = list;
    return 0;
}

static int res_query_bookstore(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    (void)parents;
    err_t e = {0};
    bookstore_t *s = NULL;
    int rc = strcmp(call->field_name, "bookstoreByName") == 0
                 ? repo_bookstore_by_name(res__repo(call), res__arg_str(call, "name"), &s, &e)
                 : repo_bookstore_get(res__repo(call), res__arg_str(call, "id"), &s, &e);
    if (rc != 0) {
        res__fill_error(call, n, out, &e);
        return 0;
    }
    EACH(i) out[i] = s ? gql_obj(s, "Bookstore") : gql_null();
    return 0;
}

static int res_query_bookstores(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    (void)parents;
    err_t e = {0};
    repo_page_t pg;
    if (repo_bookstores_page(res__repo(call), res__arg_int(call, "first", 20),
                             res__arg_str(call, "after"), &pg, &e) != 0) {
        res__fill_error(call, n, out, &e);
        return 0;
    }
    gql_value_t v = res__page_value(call, &pg, "Bookstore", "BookstoreConnection");
    EACH(i) out[i] = v;
    return 0;
}

/* The mission's batch FK lookup: one query for the books, one for their
 * stores, answers in input order; an unknown book is an entry whose `book`
 * is null with an error at its path (BookBookstore.book below). */
static int res_query_bookstores_for_books(gql_call_t *call, size_t n, void *const *parents,
                                          gql_value_t *out)
{
    (void)parents;
    err_t e = {0};
    size_t count;
    const char **ids = res__arg_ids(call, "bookIds", &count);
    repo_book_store_t *rows = arena_calloc(call->arena, count + 1, sizeof *rows);
    if (repo_bookstores_for_books(res__repo(call), ids, count, rows, &e) != 0) {
        res__fill_error(call, n, out, &e);
        return 0;
    }
    gql_value_t list = gql_list(call->arena, count);
    for (size_t k = 0; k < count; k++) list.u.list.items[k] = gql_obj(&rows[k], "BookBookstore");
    EACH(i) out[i] = list;
    return 0;
}

static int res_book_bookstore_row(gql_call_t *call, size_t n, void *const *parents,
                                  gql_value_t *out)
{
    const char *f = call->field_name;
    EACH(i)
    {
        const repo_book_store_t *row = parents[i];
        if (strcmp(f, "bookId") == 0) {
            out[i] = res__str(row->book_id);
        } else if (strcmp(f, "book") == 0) {
            out[i] = row->book ? gql_obj(row->book, "Book")
                     : row->code == ERR_NOT_FOUND
                         ? gql_errorf(call->arena, ERR_NOT_FOUND, "%s", row->message)
                         : gql_null();
        } else { /* bookstore */
            out[i] = row->bookstore        ? gql_obj(row->bookstore, "Bookstore")
                     : row->code == ERR_FK ? gql_errorf(call->arena, ERR_FK, "%s", row->message)
                                           : gql_null();
        }
    }
    return 0;
}

static int res_query_fruit(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    (void)parents;
    err_t e = {0};
    fruit_kind_t kind = strcmp(call->field_name, "apple") == 0 ? FRUIT_APPLE : FRUIT_ORANGE;
    fruit_t *f = NULL;
    if (repo_fruit_get(res__repo(call), kind, res__arg_str(call, "id"), &f, &e) != 0) {
        res__fill_error(call, n, out, &e);
        return 0;
    }
    EACH(i) out[i] = f ? gql_obj(f, kind == FRUIT_APPLE ? "Apple" : "Orange") : gql_null();
    return 0;
}

static gql_value_t res__fruit_value(fruit_t *f)
{
    return gql_obj(f, f->kind == FRUIT_APPLE ? "Apple" : "Orange");
}

static int res_query_fruit_by(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    (void)parents;
    err_t e = {0};
    fruit_query_t q = {.limit = res__arg_int(call, "limit", 100)};
    const char *f = call->field_name;
    if (strcmp(f, "fruitBySize") == 0) {
        q.by = FRUIT_BY_SIZE;
        q.size = res__arg_int(call, "size", 0);
    } else if (strcmp(f, "fruitByColour") == 0) {
        q.by = FRUIT_BY_COLOUR;
        q.colour = res__arg_str(call, "colour");
    } else {
        q.by = FRUIT_BY_ACIDITY;
        q.min = res__arg_float(call, "min");
        q.max = res__arg_float(call, "max");
    }
    fruit_t **found = NULL;
    size_t count = 0;
    if (repo_fruit_find(res__repo(call), &q, &found, &count, &e) != 0) {
        res__fill_error(call, n, out, &e);
        return 0;
    }
    gql_value_t list = gql_list(call->arena, count);
    for (size_t k = 0; k < count; k++) list.u.list.items[k] = res__fruit_value(found[k]);
    EACH(i) out[i] = list;
    return 0;
}

/* ---- Book */

static int res_book_field(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    /* One field for every parent of the call: pick it once, then loop. */
    const char *f = call->field_name;
#define BOOK(i) ((const book_t *)parents[i])
    if (strcmp(f, "id") == 0) {
        EACH(i) out[i] = res__str(BOOK(i)->id);
    } else if (strcmp(f, "isbn") == 0) {
        EACH(i) out[i] = res__str(BOOK(i)->isbn);
    } else if (strcmp(f, "title") == 0) {
        EACH(i) out[i] = res__str(BOOK(i)->title);
    } else if (strcmp(f, "authors") == 0) {
        EACH(i)
        {
            const book_t *b = BOOK(i);
            out[i] = gql_list(call->arena, b->n_authors);
            for (size_t k = 0; k < b->n_authors; k++) {
                out[i].u.list.items[k] = res__str(b->authors[k]);
            }
        }
    } else if (strcmp(f, "year") == 0) {
        EACH(i) out[i] = BOOK(i)->has_year ? gql_int(BOOK(i)->year) : gql_null();
    } else if (strcmp(f, "price") == 0) {
        EACH(i) out[i] = BOOK(i)->has_price ? gql_float(BOOK(i)->price) : gql_null();
    } else if (strcmp(f, "version") == 0) {
        EACH(i) out[i] = gql_int(BOOK(i)->version);
    } else {
        EACH(i) out[i] = gql_errorf(call->arena, ERR_INTERNAL, "no resolver for Book.%s", f);
    }
#undef BOOK
    return 0;
}

/* Book.bookstore for every book of the level in one repository call. */
static int res_book_bookstore(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    err_t e = {0};
    const char **ids = arena_alloc(call->arena, (n + 1) * sizeof *ids);
    EACH(i) ids[i] = ((const book_t *)parents[i])->bookstore_id;
    bookstore_t **stores = arena_calloc(call->arena, n + 1, sizeof *stores);
    if (repo_bookstores_get_many(res__repo(call), ids, n, stores, &e) != 0) {
        res__fill_error(call, n, out, &e);
        return 0;
    }
    EACH(i) out[i] = stores[i] ? gql_obj(stores[i], "Bookstore") : gql_null();
    return 0;
}

/* ---- Bookstore */

static int res_bookstore_field(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    /* One field for every parent of the call: pick it once, then loop. */
    const char *f = call->field_name;
#define STORE(i) ((const bookstore_t *)parents[i])
    if (strcmp(f, "id") == 0) {
        EACH(i) out[i] = res__str(STORE(i)->id);
    } else if (strcmp(f, "name") == 0) {
        EACH(i) out[i] = res__str(STORE(i)->name);
    } else if (strcmp(f, "city") == 0) {
        EACH(i) out[i] = res__str(STORE(i)->city);
    } else if (strcmp(f, "version") == 0) {
        EACH(i) out[i] = gql_int(STORE(i)->version);
    } else {
        EACH(i) out[i] = gql_errorf(call->arena, ERR_INTERNAL, "no resolver for Bookstore.%s", f);
    }
#undef STORE
    return 0;
}

static int res_bookstore_book_count(gql_call_t *call, size_t n, void *const *parents,
                                    gql_value_t *out)
{
    err_t e = {0};
    const char **ids = arena_alloc(call->arena, (n + 1) * sizeof *ids);
    EACH(i) ids[i] = ((const bookstore_t *)parents[i])->id;
    int64_t *counts = arena_calloc(call->arena, n + 1, sizeof *counts);
    if (repo_bookstore_book_counts(res__repo(call), ids, n, counts, &e) != 0) {
        res__fill_error(call, n, out, &e);
        return 0;
    }
    EACH(i) out[i] = gql_int(counts[i]);
    return 0;
}

static int res_bookstore_books(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    int64_t first = res__arg_int(call, "first", 20);
    const char *after = res__arg_str(call, "after");
    EACH(i)
    {
        err_t e = {0};
        repo_page_t pg;
        const bookstore_t *s = parents[i];
        if (repo_bookstore_books_page(res__repo(call), s->id, first, after, &pg, &e) != 0) {
            out[i] = res__error(call, &e);
        } else {
            out[i] = res__page_value(call, &pg, "Book", "BookConnection");
        }
    }
    return 0;
}

/* ---- Fruit (Apple, Orange) */

static int res_fruit_field(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    /* One field for every parent of the call: pick it once, then loop. */
    const char *f = call->field_name;
#define FRUIT(i) ((const fruit_t *)parents[i])
    if (strcmp(f, "id") == 0) {
        EACH(i) out[i] = res__str(FRUIT(i)->id);
    } else if (strcmp(f, "kind") == 0) {
        EACH(i)
        {
            const char *k = fruit_kind_name(FRUIT(i)->kind);
            out[i] = gql_enum(k, strlen(k));
        }
    } else if (strcmp(f, "breed") == 0) {
        EACH(i) out[i] = res__str(FRUIT(i)->breed);
    } else if (strcmp(f, "size") == 0) {
        EACH(i) out[i] = gql_int(FRUIT(i)->size);
    } else if (strcmp(f, "colour") == 0) {
        EACH(i) out[i] = res__str(FRUIT(i)->colour);
    } else if (strcmp(f, "acidity") == 0) {
        EACH(i) out[i] = gql_float(FRUIT(i)->acidity);
    } else if (strcmp(f, "version") == 0) {
        EACH(i) out[i] = gql_int(FRUIT(i)->version);
    } else {
        EACH(i)
        out[i] = gql_errorf(call->arena, ERR_INTERNAL, "no resolver for %s.%s", call->type_name, f);
    }
#undef FRUIT
    return 0;
}

/* ---- Mutation (top-level fields run one at a time; n is 1) */

static int res_mutation(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    (void)parents;
    repo_t *r = res__repo(call);
    const char *f = call->field_name;
    const gql_value_t *input = gql_arg(call, "input");
    const char *id = res__arg_str(call, "id");
    err_t e = {0};
    gql_value_t v = gql_null();
    int rc = 0;

    if (strcmp(f, "createBookstore") == 0 || strcmp(f, "updateBookstore") == 0) {
        bookstore_t in, *s = NULL;
        model_mask_t mask;
        res__bookstore_input(call, input, &in, &mask);
        rc = f[0] == 'c' ? repo_bookstore_create(r, &in, &s, &e)
                         : repo_bookstore_update(r, id, &in, mask, &s, &e);
        if (rc == 0) v = gql_obj(s, "Bookstore");
    } else if (strcmp(f, "deleteBookstore") == 0) {
        rc = repo_bookstore_delete(r, id, res__arg_str(call, "reassignTo"), &e);
        v = gql_bool(true);
    } else if (strcmp(f, "createBook") == 0 || strcmp(f, "updateBook") == 0) {
        book_t in, *b = NULL;
        model_mask_t mask;
        res__book_input(call, input, &in, &mask);
        rc = f[0] == 'c' ? repo_book_create(r, &in, &b, &e)
                         : repo_book_update(r, id, &in, mask, &b, &e);
        if (rc == 0) v = gql_obj(b, "Book");
    } else if (strcmp(f, "moveBook") == 0) {
        book_t *b = NULL;
        rc = repo_book_move(r, id, res__arg_str(call, "bookstoreId"), &b, &e);
        if (rc == 0) v = gql_obj(b, "Book");
    } else if (strcmp(f, "deleteBook") == 0) {
        rc = repo_book_delete(r, id, &e);
        v = gql_bool(true);
    } else if (strcmp(f, "createFruit") == 0 || strcmp(f, "updateFruit") == 0) {
        fruit_kind_t kind;
        fruit_t in, *x = NULL;
        model_mask_t mask;
        rc = res__fruit_kind(call, &kind, &e);
        if (rc == 0) {
            res__fruit_input(call, input, &in, &mask);
            in.kind = kind;
            rc = f[0] == 'c' ? repo_fruit_create(r, kind, &in, &x, &e)
                             : repo_fruit_update(r, kind, id, &in, mask, &x, &e);
        }
        if (rc == 0) v = res__fruit_value(x);
    } else if (strcmp(f, "deleteFruit") == 0) {
        fruit_kind_t kind;
        rc = res__fruit_kind(call, &kind, &e);
        if (rc == 0) rc = repo_fruit_delete(r, kind, id, &e);
        v = gql_bool(true);
    } else {
        rc = err_set(&e, ERR_INTERNAL, "no resolver for Mutation.%s", f);
    }
    if (rc != 0) v = res__error(call, &e);
    EACH(i) out[i] = v;
    return 0;
}

/* ---- Fruit interface: the concrete type is carried by the value
 * (gql_obj(ptr, "Apple"|"Orange")), so no resolver is needed for it. */

static const gql_resolver_def_t resolvers__table[] = {
    {"Query.book", res_query_book},
    {"Query.books", res_query_books},
    {"Query.bookstore", res_query_bookstore},
    {"Query.bookstoreByName", res_query_bookstore},
    {"Query.bookstores", res_query_bookstores},
    {"Query.bookstoresForBooks", res_query_bookstores_for_books},
    {"Query.apple", res_query_fruit},
    {"Query.orange", res_query_fruit},
    {"Query.fruitBySize", res_query_fruit_by},
    {"Query.fruitByColour", res_query_fruit_by},
    {"Query.fruitByAcidity", res_query_fruit_by},
    {"Mutation.*", res_mutation},
    {"Book.*", res_book_field},
    {"Book.bookstore", res_book_bookstore},
    {"Bookstore.*", res_bookstore_field},
    {"Bookstore.books", res_bookstore_books},
    {"Bookstore.bookCount", res_bookstore_book_count},
    {"BookBookstore.*", res_book_bookstore_row},
    {"Apple.*", res_fruit_field},
    {"Orange.*", res_fruit_field},
    {"BookConnection.*", res_connection},
    {"BookstoreConnection.*", res_connection},
    {"BookEdge.*", res_edge},
    {"BookstoreEdge.*", res_edge},
    {"PageInfo.*", res_page_info},
};

const gql_resolver_def_t *resolvers_table(size_t *n)
{
    *n = sizeof resolvers__table / sizeof resolvers__table[0];
    return resolvers__table;
}
