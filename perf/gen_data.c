/*
 * gen_data — the load tests' data set, generated deterministically and
 * written straight into MongoDB (`make perf` runs it after `oponn migrate`).
 *
 *   build/perf/gen_data --books N --bookstores N --fruit N --out DIR
 *
 * Every record is a pure function of its index: fixed 24-hex ids
 * ("5eed5700…" bookstores, "5eedb00c…" books; apples and oranges from
 * ingest_fruit_make), names, titles, authors, years, prices, ISBNs and the
 * book → bookstore assignment from a hash of the index, timestamps fixed at
 * 2026-01-01. Documents are built by the model's own *_to_bson (plus the
 * books' `nkey` and the stores' `name_key`, as lib/repo_load.c writes them),
 * so they are exactly what the repositories read, and inserted with
 * unordered bulk upserts keyed on `_id` ($setOnInsert): a re-run inserts
 * nothing. Fruit is split half apples, half oranges.
 *
 * Writes into DIR: books.ids, bookstores.ids, apples.ids, oranges.ids (one
 * id a line, in index order) and sample.json (the expected GraphQL view of a
 * few books, which perf/run.py reads back through /graphql to check the
 * load). Prints a one-line summary on stdout. Exit 0, or 1 with a message.
 *
 * This is a load-test tool: it bypasses the cache (the stack's cache is
 * flushed by the caller) and the repositories' referential checks (every
 * bookstore_id it writes names a store it writes first).
 */
#include "arena.h"
#include "buf.h"
#include "cfg.h"
#include "err.h"
#include "ingest.h"
#include "model.h"
#include "namekey.h"
#include "store.h"

#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GEN_CHUNK   5000
#define GEN_TIME_MS 1767225600000LL /* 2026-01-01T00:00:00Z */
#define GEN_SAMPLE  20

typedef struct {
    store_t *store;
    arena_t arena;
    size_t n_books, n_stores, n_fruit;
    const char *out_dir;
    long long inserted;
} gen_t;

static uint64_t gen_hash(uint64_t i, uint64_t salt)
{
    uint64_t h = (i + 1) * 0x9E3779B97F4A7C15ULL ^ salt;
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 27;
    return h;
}

static const char *gen_store_id(arena_t *a, size_t i)
{
    return arena_printf(a, "5eed5700%016llx", (unsigned long long)i);
}

static const char *gen_book_id(arena_t *a, size_t i)
{
    return arena_printf(a, "5eedb00c%016llx", (unsigned long long)i);
}

static void gen_store(arena_t *a, size_t i, bookstore_t *s)
{
    static const char *words[] = {"Corner", "Lantern", "Harbour", "Attic",  "Meadow",
                                  "Quill",  "Compass", "Orchard", "Willow", "Beacon"};
    static const char *cities[] = {"Lisbon", "Porto",  "Dublin", "Leeds",  "Lyon",
                                   "Ghent",  "Bergen", "Turin",  "Krakow", "Graz"};
    uint64_t h = gen_hash(i, 0x5700);
    memset(s, 0, sizeof *s);
    s->id = gen_store_id(a, i);
    s->name = arena_printf(a, "%s Books %04zu", words[h % 10], i);
    s->city = cities[(h >> 8) % 10];
    s->version = 1;
    s->created_at = s->updated_at = GEN_TIME_MS;
}

static void gen_book(arena_t *a, const gen_t *g, size_t i, book_t *b)
{
    static const char *adj[] = {"Silent", "Crimson", "Hidden", "Distant", "Golden",
                                "Broken", "Endless", "Quiet",  "Wild",    "Paper"};
    static const char *noun[] = {"River",  "Garden", "Empire", "Winter", "Mirror",
                                 "Island", "Letter", "Forest", "Signal", "Harvest"};
    static const char *people[] = {"Ada Moreno", "Ben Okafor",    "Chen Wei",    "Dana Novak",
                                   "Eli Haddad", "Fay Lindqvist", "Gus Pereira", "Hana Sato"};
    uint64_t h = gen_hash(i, 0xb00c);
    memset(b, 0, sizeof *b);
    b->id = gen_book_id(a, i);
    b->isbn = arena_printf(a, "978%010llu", (unsigned long long)i);
    b->title = arena_printf(a, "The %s %s, volume %zu", adj[h % 10], noun[(h >> 4) % 10], i);
    size_t na = 1 + (h >> 8) % 3;
    const char **authors = arena_calloc(a, na, sizeof *authors);
    for (size_t k = 0; k < na; k++) authors[k] = people[((h >> 12) + k * 3) % 8];
    b->authors = authors;
    b->n_authors = na;
    b->has_year = true;
    b->year = 1900 + (int64_t)((h >> 16) % 126);
    b->has_price = true;
    b->price = (double)(5 + (h >> 24) % 60) + 0.99;
    b->bookstore_id = gen_store_id(a, (size_t)((h >> 32) % g->n_stores));
    b->version = 1;
    b->created_at = b->updated_at = GEN_TIME_MS;
}

/* Adds "insert doc unless _id exists" (idempotent) to the bulk. */
static void gen_add(store_bulk_t *bulk, const char *id, const bson_t *doc)
{
    bson_t q = BSON_INITIALIZER, u = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&q, "_id", id);
    BSON_APPEND_DOCUMENT(&u, "$setOnInsert", doc);
    store_bulk_update_one(bulk, &q, &u, true);
    bson_destroy(&q);
    bson_destroy(&u);
}

static int gen_run(gen_t *g, store_bulk_t *bulk, err_t *e)
{
    store_bulk_result_t res;
    if (store_bulk_run(bulk, &res, NULL, e) != 0) return -1;
    g->inserted += res.upserted;
    return 0;
}

static FILE *gen_open(const gen_t *g, const char *name, err_t *e)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", g->out_dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL) err_set(e, ERR_INTERNAL, "cannot write %s", path);
    return f;
}

/* Builds document i of a collection into doc (initialised by the caller)
 * and sets *id; strings live in g->arena until the chunk is written. */
typedef int (*gen_make_fn)(gen_t *g, void *ctx, size_t i, bson_t *doc, const char **id, err_t *e);

/* Writes n documents of coll in bulks of GEN_CHUNK, and their ids, in
 * index order, to <out>/<ids_name>. */
static int gen_collection(gen_t *g, const char *coll, const char *ids_name, size_t n,
                          gen_make_fn make, void *ctx, err_t *e)
{
    FILE *ids = gen_open(g, ids_name, e);
    if (ids == NULL) return -1;
    int rc = 0;
    for (size_t lo = 0; lo < n && rc == 0; lo += GEN_CHUNK) {
        store_bulk_t *bulk = store_bulk_new(g->store, coll);
        for (size_t i = lo; i < n && i < lo + GEN_CHUNK && rc == 0; i++) {
            bson_t doc = BSON_INITIALIZER;
            const char *id = NULL;
            rc = make(g, ctx, i, &doc, &id, e);
            if (rc == 0) {
                gen_add(bulk, id, &doc);
                fprintf(ids, "%s\n", id);
            }
            bson_destroy(&doc);
        }
        if (rc == 0) {
            rc = gen_run(g, bulk, e);
        } else {
            store_bulk_run(bulk, NULL, NULL, NULL); /* frees it */
        }
        arena_reset(&g->arena);
    }
    if (fclose(ids) != 0 && rc == 0) rc = err_set(e, ERR_INTERNAL, "writing %s failed", ids_name);
    return rc;
}

static int gen_make_store(gen_t *g, void *ctx, size_t i, bson_t *doc, const char **id, err_t *e)
{
    (void)ctx;
    bookstore_t s;
    gen_store(&g->arena, i, &s);
    char *key;
    if (namekey_make(s.name, strlen(s.name), "name", &key, e) != 0) return -1;
    s.name_key = arena_strdup(&g->arena, key);
    free(key);
    bookstore_to_bson(&s, doc);
    *id = s.id;
    return 0;
}

static int gen_make_book(gen_t *g, void *ctx, size_t i, bson_t *doc, const char **id, err_t *e)
{
    (void)ctx;
    (void)e;
    book_t b;
    gen_book(&g->arena, g, i, &b);
    book_to_bson(&b, doc);
    /* The natural key repo_load.c writes beside every book. */
    BSON_APPEND_UTF8(doc, "nkey", arena_printf(&g->arena, "isbn:%s", b.isbn));
    *id = b.id;
    return 0;
}

static int gen_make_fruit(gen_t *g, void *ctx, size_t i, bson_t *doc, const char **id, err_t *e)
{
    (void)g;
    (void)e;
    fruit_t f = ((const fruit_t *)ctx)[i];
    f.version = 1;
    f.created_at = f.updated_at = GEN_TIME_MS;
    fruit_to_bson(&f, doc);
    *id = f.id;
    return 0;
}

static int gen_fruit(gen_t *g, fruit_kind_t kind, size_t n, err_t *e)
{
    char name[64];
    snprintf(name, sizeof name, "%s.ids", fruit_kind_collection(kind));
    fruit_t *all = calloc(n ? n : 1, sizeof *all);
    arena_t fa; /* the fruit's strings, alive for the whole collection */
    arena_init(&fa, 1 << 20);
    ingest_fruit_make(&fa, kind, n, all);
    int rc = gen_collection(g, fruit_kind_collection(kind), name, n, gen_make_fruit, all, e);
    arena_destroy(&fa);
    free(all);
    return rc;
}

/* The GraphQL view of the first GEN_SAMPLE books (spread over the set):
 * [{"id","title","authors","year","price","version","bookstore":{"id","name"}}]. */
static int gen_sample(gen_t *g, err_t *e)
{
    FILE *f = gen_open(g, "sample.json", e);
    if (f == NULL) return -1;
    buf_t out = BUF_INIT;
    buf_putc(&out, '[');
    size_t step = g->n_books / GEN_SAMPLE ? g->n_books / GEN_SAMPLE : 1;
    for (size_t k = 0, i = 0; k < GEN_SAMPLE && i < g->n_books; k++, i += step) {
        book_t b;
        bookstore_t s;
        gen_book(&g->arena, g, i, &b);
        size_t si = (size_t)strtoull(b.bookstore_id + 8, NULL, 16);
        gen_store(&g->arena, si, &s);
        if (k) buf_putc(&out, ',');
        buf_puts(&out, "{\"id\":");
        buf_put_json_str(&out, b.id, strlen(b.id));
        buf_puts(&out, ",\"title\":");
        buf_put_json_str(&out, b.title, strlen(b.title));
        buf_puts(&out, ",\"authors\":[");
        for (size_t j = 0; j < b.n_authors; j++) {
            if (j) buf_putc(&out, ',');
            buf_put_json_str(&out, b.authors[j], strlen(b.authors[j]));
        }
        buf_puts(&out, "],\"year\":");
        buf_put_i64(&out, b.year);
        buf_puts(&out, ",\"price\":");
        buf_put_double(&out, b.price);
        buf_puts(&out, ",\"bookstore\":{\"id\":");
        buf_put_json_str(&out, s.id, strlen(s.id));
        buf_puts(&out, ",\"name\":");
        buf_put_json_str(&out, s.name, strlen(s.name));
        buf_puts(&out, "}}");
    }
    buf_puts(&out, "]\n");
    int rc = fwrite(out.data, 1, out.len, f) == out.len ? 0 : -1;
    if (fclose(f) != 0 || rc != 0) rc = err_set(e, ERR_INTERNAL, "writing sample.json failed");
    buf_free(&out);
    arena_reset(&g->arena);
    return rc;
}

static int gen_usage(void)
{
    fprintf(stderr, "usage: gen_data --books N --bookstores N --fruit N --out DIR\n"
                    "  MongoDB from MONGODB_URI / OPONN_MONGODB_DB (run `oponn migrate` first)\n");
    return 2;
}

static int gen_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v > 100000000ULL) return -1;
    *out = (size_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    gen_t g = {.n_books = 100000, .n_stores = 1000, .n_fruit = 50000};
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = v == NULL;
        if (strcmp(a, "--books") == 0 && v) {
            bad = gen_size(v, &g.n_books);
        } else if (strcmp(a, "--bookstores") == 0 && v) {
            bad = gen_size(v, &g.n_stores);
        } else if (strcmp(a, "--fruit") == 0 && v) {
            bad = gen_size(v, &g.n_fruit);
        } else if (strcmp(a, "--out") == 0 && v) {
            g.out_dir = v;
        } else {
            bad = 1;
        }
        if (bad) return gen_usage();
    }
    if (g.out_dir == NULL || g.n_stores == 0) return gen_usage();

    err_t e = {0};
    cfg_t cfg;
    if (cfg_load(&cfg, &e) != 0) {
        fprintf(stderr, "gen_data: %s\n", e.msg);
        return 2;
    }
    mongoc_init();
    arena_init(&g.arena, 1 << 20);
    int rc = store_open(&g.store, &cfg, &e);
    if (rc == 0) rc = store_ping(g.store, &e);
    if (rc == 0) {
        rc = gen_collection(&g, "bookstores", "bookstores.ids", g.n_stores, gen_make_store, NULL,
                            &e);
    }
    if (rc == 0) rc = gen_collection(&g, "books", "books.ids", g.n_books, gen_make_book, NULL, &e);
    if (rc == 0) rc = gen_fruit(&g, FRUIT_APPLE, g.n_fruit / 2, &e);
    if (rc == 0) rc = gen_fruit(&g, FRUIT_ORANGE, g.n_fruit - g.n_fruit / 2, &e);
    if (rc == 0) rc = gen_sample(&g, &e);
    if (rc == 0) {
        printf("gen_data: %zu bookstores, %zu books, %zu fruit; %lld inserted\n", g.n_stores,
               g.n_books, g.n_fruit, g.inserted);
    } else {
        fprintf(stderr, "gen_data: %s\n", e.msg);
    }
    store_close(g.store);
    arena_destroy(&g.arena);
    mongoc_cleanup();
    return rc == 0 ? 0 : 1;
}
