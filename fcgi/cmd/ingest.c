/*
 * oponn ingest — books from the Open Library search API, bookstores from a
 * list, fruit from a generator, into MongoDB through the repositories.
 *
 * Order: the bookstore list is loaded and ensured (by normalized name), then
 * each search page is fetched (with retries), parsed as a whole, its books
 * assigned to stores (ingest_assign) and upserted by natural key. A page that
 * cannot be fetched or parsed stops the run before anything of it is
 * written; the pages before it stay, and a re-run (which changes nothing
 * already loaded) resumes. Progress on stderr, summary on stdout.
 */
#include "cmd.h"

#include "cache.h"

#include "ingest.h"
#include "repo.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *base_url, *query, *stores;
    long pages, page_size, fruit;
    long timeout_ms, connect_timeout_ms, retries, backoff_ms, max_body;
} ingest__args_t;

static void ingest__usage(FILE *f)
{
    fprintf(f, "usage: oponn ingest [--base-url URL] [--query Q] [--pages N] [--page-size N]\n"
               "                    [--bookstores FILE|URL] [--fruit N] [--timeout-ms N]\n"
               "                    [--connect-timeout-ms N] [--retries N] [--backoff-ms N]\n"
               "                    [--max-body BYTES]\n"
               "Loads bookstores (default etc/bookstores.json, OPONN_INGEST_BOOKSTORES), then N\n"
               "pages (default 3) of Open Library search results for Q (default \"science\n"
               "fiction\") from --base-url (default https://openlibrary.org,\n"
               "OPONN_INGEST_BASE_URL), then N apples and N oranges (default 0). Books are\n"
               "upserted by ISBN, else Open Library work key: a re-run changes nothing.\n"
               "Each book goes to store FNV-1a(natural key) mod (number of distinct stores),\n"
               "stores ordered by normalized name. Exit 0 ok, 1 failed, 2 bad usage.\n");
}

static int ingest__num(const char *opt, const char *v, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v ? v : "", &end, 10);
    if (v == NULL || errno || *end || end == v || n < min || n > max) {
        fprintf(stderr, "oponn ingest: %s needs a number in %ld..%ld\n", opt, min, max);
        return -1;
    }
    *out = n;
    return 0;
}

static int ingest__parse_args(int argc, char **argv, const cfg_t *cfg, ingest__args_t *a)
{
    *a = (ingest__args_t){cfg->ingest_base_url,
                          "science fiction",
                          cfg->ingest_bookstores,
                          3,
                          100,
                          0,
                          (long)cfg->ingest_timeout_ms,
                          (long)cfg->ingest_connect_timeout_ms,
                          (long)cfg->ingest_retries,
                          (long)cfg->ingest_backoff_ms,
                          (long)cfg->ingest_max_body_bytes};
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(o, "--base-url") == 0 && v) {
            a->base_url = v;
        } else if (strcmp(o, "--query") == 0 && v) {
            a->query = v;
        } else if (strcmp(o, "--bookstores") == 0 && v) {
            a->stores = v;
        } else if (strcmp(o, "--pages") == 0) {
            rc = ingest__num(o, v, 0, 1000, &a->pages);
        } else if (strcmp(o, "--page-size") == 0) {
            rc = ingest__num(o, v, 1, 1000, &a->page_size);
        } else if (strcmp(o, "--fruit") == 0) {
            rc = ingest__num(o, v, 0, 100000, &a->fruit);
        } else if (strcmp(o, "--timeout-ms") == 0) {
            rc = ingest__num(o, v, 1, 600000, &a->timeout_ms);
        } else if (strcmp(o, "--connect-timeout-ms") == 0) {
            rc = ingest__num(o, v, 1, 600000, &a->connect_timeout_ms);
        } else if (strcmp(o, "--retries") == 0) {
            rc = ingest__num(o, v, 0, 20, &a->retries);
        } else if (strcmp(o, "--backoff-ms") == 0) {
            rc = ingest__num(o, v, 1, 600000, &a->backoff_ms);
        } else if (strcmp(o, "--max-body") == 0) {
            rc = ingest__num(o, v, 1024, 1073741824, &a->max_body);
        } else {
            fprintf(stderr, "oponn ingest: unknown option or missing value: %s (try --help)\n", o);
            return -1;
        }
        if (rc != 0) return -1;
    }
    return 0;
}

static double ingest__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The bookstore list from a file or an http(s) URL. */
static int ingest__load_stores(ingest_http_t *h, const char *src, buf_t *body,
                               ingest_http_stats_t *st, err_t *e)
{
    if (strncmp(src, "http://", 7) == 0 || strncmp(src, "https://", 8) == 0) {
        return ingest_http_get(h, src, body, st, e);
    }
    FILE *f = fopen(src, "rb");
    if (f == NULL) return err_set(e, ERR_BAD_INPUT, "%s: %s", src, strerror(errno));
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(body, chunk, n);
    fclose(f);
    return 0;
}

/* The natural keys loaded so far in this run (open addressing, malloc'd
 * strings): a record whose key an earlier page already had is a duplicate
 * (first wins), so two records sharing an ISBN cannot flip-flop. */
typedef struct {
    char **slot;
    size_t cap, n;
} ingest__seen_t;

static uint64_t ingest__hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Adds key; returns false when it was there already. */
static bool ingest__seen_add(ingest__seen_t *t, const char *key)
{
    if (2 * (t->n + 1) > t->cap) {
        ingest__seen_t g = {calloc(t->cap ? t->cap * 2 : 1024, sizeof(char *)),
                            t->cap ? t->cap * 2 : 1024, 0};
        if (g.slot == NULL) abort();
        for (size_t i = 0; i < t->cap; i++) {
            if (t->slot[i] == NULL) continue;
            size_t j = ingest__hash(t->slot[i]) & (g.cap - 1);
            while (g.slot[j]) j = (j + 1) & (g.cap - 1);
            g.slot[j] = t->slot[i];
            g.n++;
        }
        free(t->slot);
        *t = g;
    }
    size_t j = ingest__hash(key) & (t->cap - 1);
    for (; t->slot[j]; j = (j + 1) & (t->cap - 1)) {
        if (strcmp(t->slot[j], key) == 0) return false;
    }
    t->slot[j] = strdup(key);
    if (t->slot[j] == NULL) abort();
    t->n++;
    return true;
}

static void ingest__seen_free(ingest__seen_t *t)
{
    for (size_t i = 0; i < t->cap; i++) free(t->slot[i]);
    free(t->slot);
}

typedef struct {
    repo_upsert_counts_t books, stores, apples, oranges;
    long pages, records, skipped;
} ingest__totals_t;

static void ingest__summary(const ingest__totals_t *t, const ingest_http_stats_t *st)
{
    printf("ingest: pages: %ld loaded, %ld records, %ld skipped (invalid), %ld HTTP requests, "
           "%ld retries\n",
           t->pages, t->records, t->skipped, st->requests, st->retries);
    printf("ingest: books: %lld inserted, %lld modified, %lld unchanged, %lld duplicates\n",
           (long long)t->books.inserted, (long long)t->books.modified,
           (long long)t->books.unchanged, (long long)t->books.duplicates);
    printf("ingest: bookstores: %lld inserted, %lld unchanged, %lld near-duplicate names merged\n",
           (long long)t->stores.inserted, (long long)t->stores.unchanged,
           (long long)t->stores.duplicates);
    printf("ingest: fruit: %lld inserted, %lld unchanged\n",
           (long long)(t->apples.inserted + t->oranges.inserted),
           (long long)(t->apples.unchanged + t->oranges.unchanged));
}

static void ingest__add(repo_upsert_counts_t *sum, const repo_upsert_counts_t *c)
{
    sum->inserted += c->inserted;
    sum->modified += c->modified;
    sum->unchanged += c->unchanged;
    sum->duplicates += c->duplicates;
}

static int ingest__run(const ingest__args_t *a, repo_t *r, arena_t *arena, ingest_http_t *h,
                       ingest__seen_t *seen, ingest__totals_t *t, ingest_http_stats_t *st, err_t *e)
{
    buf_t body = BUF_INIT;
    int rc = -1;
    bookstore_t *list, **stores;
    size_t n;
    /* Stores live for the whole run: their arena is not reset. */
    if (ingest__load_stores(h, a->stores, &body, st, e) != 0 ||
        ingest_stores_parse(arena, body.data ? body.data : "", body.len, &list, &n, e) != 0) {
        err_wrap(e, "bookstores (%s)", a->stores);
        goto out;
    }
    stores = arena_alloc(arena, n * sizeof *stores);
    if (repo_bookstores_ensure(r, list, n, stores, &t->stores, e) != 0) goto out;
    size_t ns = ingest_stores_order(stores, n);
    fprintf(stderr, "ingest: bookstores: %zu names, %zu distinct stores\n", n, ns);

    arena_t page_arena;
    arena_init(&page_arena, 0);
    repo_t pr = *r;
    pr.arena = &page_arena;
    double t0 = ingest__now();
    for (long p = 1; p <= a->pages; p++) {
        arena_reset(&page_arena);
        const char *url =
            ingest_ol_url(&page_arena, a->base_url, a->query, (int)p, (int)a->page_size);
        ingest_page_t pg;
        if (ingest_http_get(h, url, &body, st, e) != 0 ||
            ingest_ol_parse(&page_arena, body.data, body.len, &pg, e) != 0) {
            err_wrap(e, "page %ld", p);
            arena_destroy(&page_arena);
            goto out;
        }
        for (size_t i = 0; i < pg.n_skipped; i++) {
            fprintf(stderr, "ingest: page %ld: skipped %s\n", p, pg.skipped[i]);
        }
        size_t k = 0, dups = 0;
        for (size_t i = 0; i < pg.n; i++) {
            const char *key = repo_book_natural_key(&page_arena, &pg.books[i], pg.work_keys[i]);
            if (!ingest__seen_add(seen, key)) {
                fprintf(stderr, "ingest: page %ld: %s (%s) repeats %s: kept the first\n", p,
                        pg.work_keys[i], pg.books[i].title, key);
                dups++;
                continue;
            }
            pg.books[k] = pg.books[i];
            pg.work_keys[k] = pg.work_keys[i];
            pg.books[k++].bookstore_id = stores[ingest_assign(key, ns)]->id;
        }
        pg.n = k;
        t->books.duplicates += (int64_t)dups;
        repo_upsert_counts_t c;
        if (repo_books_upsert(&pr, pg.books, pg.work_keys, pg.n, &c, e) != 0) {
            err_wrap(e, "page %ld", p);
            arena_destroy(&page_arena);
            goto out;
        }
        ingest__add(&t->books, &c);
        t->pages++;
        t->records += (long)pg.docs;
        t->skipped += (long)pg.n_skipped;
        double dt = ingest__now() - t0;
        fprintf(stderr,
                "ingest: page %ld/%ld: %zu records (%zu skipped), %lld inserted, %lld modified; "
                "total %ld records, %.1f records/s, %ld retries\n",
                p, a->pages, pg.docs, pg.n_skipped, (long long)c.inserted, (long long)c.modified,
                t->records, dt > 0 ? (double)t->records / dt : 0.0, st->retries);
        if (pg.docs < (size_t)a->page_size) break; /* the last page */
    }
    arena_destroy(&page_arena);

    if (a->fruit > 0) {
        fruit_t *f = arena_alloc(arena, (size_t)a->fruit * sizeof *f);
        ingest_fruit_make(arena, FRUIT_APPLE, (size_t)a->fruit, f);
        if (repo_fruit_seed(r, FRUIT_APPLE, f, (size_t)a->fruit, &t->apples, e) != 0) goto out;
        ingest_fruit_make(arena, FRUIT_ORANGE, (size_t)a->fruit, f);
        if (repo_fruit_seed(r, FRUIT_ORANGE, f, (size_t)a->fruit, &t->oranges, e) != 0) goto out;
    }
    rc = 0;
out:
    buf_free(&body);
    return rc;
}

int cmd_ingest(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            ingest__usage(stdout);
            return CMD_OK;
        }
    }
    cfg_t cfg;
    err_t e = {0};
    if (cfg_load(&cfg, &e) != 0) {
        fprintf(stderr, "oponn ingest: %s\n", e.msg);
        return CMD_USAGE;
    }
    ingest__args_t a;
    if (ingest__parse_args(argc, argv, &cfg, &a) != 0) return CMD_USAGE;
    cmd_join_pool(&cfg);
    store_t *s;
    int rc = cmd_store_open("ingest", &cfg, &s);
    if (rc != CMD_OK) return rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ingest_http_opts_t ho = {"oponn-ingest/1.0 (+https://github.com/oponn; template app)",
                             a.connect_timeout_ms,
                             a.timeout_ms,
                             (int)a.retries,
                             a.backoff_ms,
                             60000,
                             (size_t)a.max_body};
    ingest_http_t *h = ingest_http_open(&ho);
    arena_t arena;
    arena_init(&arena, 0);
    repo_t r;
    repo_init(&r, s, &arena);
    /* Write-through: what ingestion changes is put into the cache (or, for
     * big loads, a new cache epoch starts). No cache if it cannot be opened. */
    cache_t *cache = NULL;
    err_t ce;
    if (cache_open(&cache, &cfg, &ce) != 0) {
        fprintf(stderr, "oponn ingest: no cache (%s)\n", ce.msg);
        cache = NULL;
    }
    r.cache = cache;
    ingest__totals_t t = {0};
    ingest_http_stats_t st = {0};
    ingest__seen_t seen = {NULL, 0, 0};
    rc = ingest__run(&a, &r, &arena, h, &seen, &t, &st, &e) == 0 ? CMD_OK : CMD_FAILED;
    ingest__seen_free(&seen);
    ingest__summary(&t, &st);
    if (rc != CMD_OK) {
        fprintf(stderr, "oponn ingest: failed: %s\n", e.msg);
        fprintf(stderr, "oponn ingest: what was loaded before stays; run again to resume\n");
    }
    arena_destroy(&arena);
    cache_close(cache);
    ingest_http_close(h);
    curl_global_cleanup();
    cmd_store_close(s);
    return rc;
}
