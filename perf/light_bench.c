/*
 * light_bench — what a cached list read and a write cost Redis (issue 22),
 * through the cache API only, so the same source measures any version of
 * lib/cache* (perf/run.py builds it here; the lead can build it on another
 * commit to compare).
 *
 *   OPONN_REDIS_URL=redis://127.0.0.1:PORT build/perf/light_bench [WRITES] [READS] [reads]
 *
 * (a third argument "reads": the read measurements only)
 *
 * Redis time is INFO commandstats' usec of the commands the client sent (a
 * script's inner commands are also listed there, inside the script's time,
 * so when the phase ran a script only EVALSHA counts). Each phase runs on its
 * own key prefix, so phases do not see each other's batches. Prints one JSON
 * object per measurement on stdout:
 *
 *   read   fruitBySize(limit 100) and bookstoresForBooks(100 ids), warm:
 *          Redis µs, commands and client round trips per read
 *   write  updateFruit-like puts (acidity changes) with 0, 100 and 1,000
 *          cached fruitBySize lists of the table (10 sizes x 10 or 100
 *          limits), for a random apple and for an apple at the head of its
 *          size (a member of every list of its size); and updateBook-like
 *          puts with 0, 100 and 1,000 cached bookstoresForBooks(100) lists.
 *
 * Loopback only; bounded by WRITES (default 200) and READS (default 2,000).
 */
#include "arena.h"
#include "buf.h"
#include "cache.h"
#include "cfg.h"
#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LB_FRUIT  2000 /* apples, and as many oranges */
#define LB_BOOKS  2000
#define LB_STORES 1000 /* as perf/run.py's data set: ~100 distinct per list */
#define LB_IDS    100

static cfg_t LB_cfg;
static arena_t LB_arena;

static void lb_die(const char *what, const err_t *e)
{
    fprintf(stderr, "light_bench: %s: %s\n", what, e ? e->msg : "");
    exit(1);
}

static uint64_t lb_rng = 0x5eed22;

static unsigned lb_rand(unsigned n)
{
    lb_rng = lb_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)((lb_rng >> 33) % n);
}

static double lb_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static cache_t *lb_open(const char *prefix)
{
    cfg_t cfg = LB_cfg;
    cfg.cache_prefix = prefix;
    cache_t *c;
    err_t e;
    if (cache_open(&c, &cfg, &e) != 0) lb_die("cache_open", &e);
    redisReply *r =
        cache_conn_command(cache_connection(c), &e, "EVAL %s 0 %s",
                           "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1] .. ':*')) do "
                           "redis.call('DEL', k) n = n + 1 end return n",
                           prefix);
    if (r == NULL) lb_die("flush", &e);
    freeReplyObject(r);
    return c;
}

/* ---- INFO commandstats */

typedef struct {
    long long calls[8], usec[8];
} lb_stats_t;

static const char *const LB_CMDS[8] = {"evalsha", "hmget", "mget", "get",
                                       "zrange",  "hget",  "info", "eval"};

static void lb_stats(cache_t *c, lb_stats_t *s)
{
    err_t e;
    memset(s, 0, sizeof *s);
    redisReply *r = cache_conn_command(cache_connection(c), &e, "INFO commandstats");
    if (r == NULL || r->type != REDIS_REPLY_STRING) lb_die("INFO", &e);
    for (int i = 0; i < 8; i++) {
        char pat[64];
        snprintf(pat, sizeof pat, "cmdstat_%s:calls=", LB_CMDS[i]);
        const char *p = strstr(r->str, pat);
        if (p == NULL) continue;
        s->calls[i] = atoll(p + strlen(pat));
        const char *u = strstr(p, "usec=");
        if (u) s->usec[i] = atoll(u + 5);
    }
    freeReplyObject(r);
}

/* Redis µs of what the client sent between a and b: EVALSHA when it ran
 * (its inner commands are inside it), else the plain read commands. */
static void lb_delta(const lb_stats_t *a, const lb_stats_t *b, long n, buf_t *out)
{
    long long ev = b->calls[0] - a->calls[0];
    double us = ev ? (double)(b->usec[0] - a->usec[0])
                   : (double)(b->usec[1] - a->usec[1] + b->usec[2] - a->usec[2]);
    buf_printf(out, "\"redis_usec\":%.2f,\"evalsha\":%.2f,\"hmget\":%.2f,\"mget\":%.2f",
               us / (double)n, (double)ev / (double)n,
               (double)(b->calls[1] - a->calls[1]) / (double)n,
               (double)(b->calls[2] - a->calls[2]) / (double)n);
    if (ev)
        buf_printf(out, ",\"evalsha_usec_per_call\":%.2f", (double)(b->usec[0] - a->usec[0]) / ev);
}

/* ---- records */

static const char *const LB_BREEDS[20] = {
    "Ambrosia", "Braeburn",   "Cameo", "Cortland", "Empire",    "Envy", "Fuji",
    "Gala",     "Honeycrisp", "Jazz",  "Jonagold", "McIntosh",  "Opal", "Pink Lady",
    "Rome",     "SweeTango",  "Navel", "Valencia", "Cara Cara", "Blood"};

typedef struct {
    char id[16];
    int apple, size, version;
    const char *breed;
    double acidity;
} lb_fruit_t;

static lb_fruit_t LB_fruit[2 * LB_FRUIT];

static const char *lb_fruit_json(const lb_fruit_t *f)
{
    return arena_printf(&LB_arena,
                        "{\"id\":\"%s\",\"kind\":\"%s\",\"breed\":\"%s\",\"size\":%d,"
                        "\"colour\":\"red\",\"acidity\":%.2f,\"version\":%d}",
                        f->id, f->apple ? "APPLE" : "ORANGE", f->breed, f->size, f->acidity,
                        f->version);
}

static int lb_fruit_cmp(const void *a, const void *b)
{
    const lb_fruit_t *x = *(const lb_fruit_t *const *)a, *y = *(const lb_fruit_t *const *)b;
    int c = strcmp(x->breed, y->breed);
    return c ? c : strcmp(x->id, y->id);
}

static void lb_fruit_init(void)
{
    for (int i = 0; i < 2 * LB_FRUIT; i++) {
        lb_fruit_t *f = &LB_fruit[i];
        f->apple = i < LB_FRUIT;
        snprintf(f->id, sizeof f->id, "%c%05d", f->apple ? 'a' : 'o', i);
        f->size = 1 + i % 10;
        f->breed = LB_BREEDS[(unsigned)(i * 7919) % 20];
        f->acidity = 3 + (i % 100) / 100.0;
        f->version = 1;
    }
}

/* Fruit of size s in (breed, id) order; returns how many. */
static int lb_fruit_of_size(int s, lb_fruit_t **out)
{
    int n = 0;
    for (int i = 0; i < 2 * LB_FRUIT; i++) {
        if (LB_fruit[i].size == s) out[n++] = &LB_fruit[i];
    }
    qsort(out, (size_t)n, sizeof *out, lb_fruit_cmp);
    return n;
}

static void lb_fill_fruit_list(cache_t *c, int s, int limit)
{
    err_t e;
    cache_batch_t b;
    const char *args = arena_printf(&LB_arena, "{\"size\":%d,\"limit\":%d}", s, limit);
    if (cache_batch_get(c, &LB_arena, "fruitBySize", args, &b, &e) != 0) lb_die("batch get", &e);
    if (b.status != CACHE_MISS) return;
    lb_fruit_t *of[2 * LB_FRUIT];
    int n = lb_fruit_of_size(s, of);
    int take = n < limit ? n : limit;
    cache_doc_t *docs = arena_alloc(&LB_arena, (size_t)(take ? take : 1) * sizeof *docs);
    for (int i = 0; i < take; i++) {
        docs[i] = (cache_doc_t){of[i]->apple ? CACHE_APPLES : CACHE_ORANGES, of[i]->id,
                                of[i]->version, lb_fruit_json(of[i])};
    }
    if (cache_batch_fill(c, &b, docs, (size_t)take, n <= limit, &e) != 1)
        lb_die("batch fill refused", &e);
}

static void lb_put_fruit(cache_t *c, lb_fruit_t *f)
{
    err_t e;
    f->version++;
    f->acidity = f->acidity >= 4.5 ? 3.0 : f->acidity + 0.01;
    if (cache_put(c, f->apple ? CACHE_APPLES : CACHE_ORANGES, f->id, f->version, lb_fruit_json(f),
                  NULL, &e) != 1)
        lb_die("put", &e);
}

/* ---- fruit: writes with 0, 100, 1,000 lists; reads of limit-100 lists */

static void lb_fruit_writes(int nlists, int writes)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "lbw%d", nlists);
    cache_t *c = lb_open(prefix);
    int per = nlists / 10;
    for (int s = 1; s <= 10 && per; s++) {
        for (int k = 1; k <= per; k++) {
            lb_fill_fruit_list(c, s, per == 100 ? k : 10 * k);
            arena_reset(&LB_arena);
        }
    }
    for (int hot = 0; hot < 2; hot++) {
        lb_stats_t a, b;
        lb_stats(c, &a);
        double t0 = lb_now_us();
        for (int w = 0; w < writes; w++) {
            lb_fruit_t *f;
            if (hot) { /* the head of its size: a member of every list of it */
                lb_fruit_t *of[2 * LB_FRUIT];
                lb_fruit_of_size(1 + w % 10, of);
                f = of[0];
                if (!f->apple) f = of[1]->apple ? of[1] : of[2];
            } else {
                f = &LB_fruit[lb_rand(LB_FRUIT)];
            }
            lb_put_fruit(c, f);
            arena_reset(&LB_arena);
        }
        double t1 = lb_now_us();
        lb_stats(c, &b);
        buf_t out = BUF_INIT;
        buf_printf(&out,
                   "{\"what\":\"write\",\"table\":\"apples\",\"lists\":%d,\"apple\":\"%s\","
                   "\"writes\":%d,\"client_usec\":%.1f,",
                   nlists, hot ? "head of its size" : "random", writes, (t1 - t0) / writes);
        lb_delta(&a, &b, writes, &out);
        printf("%s}\n", out.data);
        buf_free(&out);
    }
    cache_close(c);
}

static void lb_fruit_reads(int reads)
{
    cache_t *c = lb_open("lbr");
    for (int s = 1; s <= 10; s++) lb_fill_fruit_list(c, s, 100);
    arena_reset(&LB_arena);
    lb_stats_t a, b;
    uint64_t rt0 = cache_conn_roundtrips(cache_connection(c));
    lb_stats(c, &a);
    double t0 = lb_now_us();
    size_t members = 0;
    for (int i = 0; i < reads; i++) {
        err_t e;
        cache_batch_t bt;
        const char *args = arena_printf(&LB_arena, "{\"size\":%d,\"limit\":100}", 1 + lb_rand(10));
        if (cache_batch_get(c, &LB_arena, "fruitBySize", args, &bt, &e) != 0 ||
            bt.status != CACHE_HIT)
            lb_die("fruitBySize read: not a hit", &e);
        members += bt.n;
        arena_reset(&LB_arena);
    }
    double t1 = lb_now_us();
    lb_stats(c, &b);
    uint64_t rt = cache_conn_roundtrips(cache_connection(c)) - rt0 - 2; /* the INFOs */
    buf_t out = BUF_INIT;
    buf_printf(&out,
               "{\"what\":\"read\",\"query\":\"fruitBySize\",\"members\":%.1f,\"reads\":%d,"
               "\"client_usec\":%.1f,\"round_trips\":%.2f,",
               (double)members / reads, reads, (t1 - t0) / reads, (double)rt / reads);
    lb_delta(&a, &b, reads, &out);
    printf("%s}\n", out.data);
    buf_free(&out);
    cache_close(c);
}

/* ---- books: bookstoresForBooks(100) lists */

static int LB_book_version[LB_BOOKS];

static const char *lb_book_json(int i)
{
    return arena_printf(&LB_arena,
                        "{\"id\":\"b%05d\",\"title\":\"Title %d\",\"authors\":[\"A\"],"
                        "\"bookstore_id\":\"s%03d\",\"price\":%d,\"version\":%d}",
                        i, i, i % LB_STORES, LB_book_version[i] % 100, LB_book_version[i]);
}

static const char *lb_store_json(int s)
{
    return arena_printf(&LB_arena,
                        "{\"id\":\"s%03d\",\"name\":\"Store %d\",\"name_key\":\"store "
                        "%d\",\"version\":1}",
                        s, s, s);
}

static int lb_int_cmp(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* The ids of list k (deterministic, sorted, distinct). */
static void lb_list_ids(int k, int *ids)
{
    uint64_t save = lb_rng;
    lb_rng = 0x1157 + (uint64_t)k * 7919;
    for (int i = 0; i < LB_IDS; i++) {
        int v, dup;
        do {
            v = (int)lb_rand(LB_BOOKS);
            dup = 0;
            for (int j = 0; j < i; j++) dup |= ids[j] == v;
        } while (dup);
        ids[i] = v;
    }
    qsort(ids, LB_IDS, sizeof *ids, lb_int_cmp);
    lb_rng = save;
}

static const char *lb_list_args(const int *ids)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"bookIds\":[");
    for (int i = 0; i < LB_IDS; i++) buf_printf(&b, "%s\"b%05d\"", i ? "," : "", ids[i]);
    buf_puts(&b, "]}");
    const char *s = arena_strndup(&LB_arena, b.data, b.len);
    buf_free(&b);
    return s;
}

static void lb_fill_book_list(cache_t *c, int k)
{
    int ids[LB_IDS];
    lb_list_ids(k, ids);
    err_t e;
    cache_batch_t b;
    if (cache_batch_get(c, &LB_arena, "bookstoresForBooks", lb_list_args(ids), &b, &e) != 0)
        lb_die("batch get", &e);
    if (b.status != CACHE_MISS) return;
    cache_doc_t docs[LB_IDS], extra[LB_IDS];
    static int seen[LB_STORES];
    memset(seen, 0, sizeof seen);
    size_t nextra = 0;
    for (int i = 0; i < LB_IDS; i++) {
        docs[i] = (cache_doc_t){CACHE_BOOKS, arena_printf(&LB_arena, "b%05d", ids[i]),
                                LB_book_version[ids[i]], lb_book_json(ids[i])};
        int s = ids[i] % LB_STORES;
        if (!seen[s]++) {
            extra[nextra++] = (cache_doc_t){CACHE_BOOKSTORES, arena_printf(&LB_arena, "s%03d", s),
                                            1, lb_store_json(s)};
        }
    }
    if (cache_batch_fill_ex(c, &b, docs, LB_IDS, 1, extra, nextra, &e) != 1)
        lb_die("bookstoresForBooks fill refused", &e);
}

static void lb_book_writes(int nlists, int writes)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "lbb%d", nlists);
    cache_t *c = lb_open(prefix);
    for (int k = 0; k < nlists; k++) {
        lb_fill_book_list(c, k);
        arena_reset(&LB_arena);
    }
    lb_stats_t a, b;
    lb_stats(c, &a);
    double t0 = lb_now_us();
    for (int w = 0; w < writes; w++) {
        err_t e;
        int i = (int)lb_rand(LB_BOOKS);
        LB_book_version[i]++;
        if (cache_put(c, CACHE_BOOKS, arena_printf(&LB_arena, "b%05d", i), LB_book_version[i],
                      lb_book_json(i), NULL, &e) != 1)
            lb_die("book put", &e);
        arena_reset(&LB_arena);
    }
    double t1 = lb_now_us();
    lb_stats(c, &b);
    buf_t out = BUF_INIT;
    buf_printf(&out,
               "{\"what\":\"write\",\"table\":\"books\",\"lists\":%d,\"book\":\"random\","
               "\"writes\":%d,\"client_usec\":%.1f,",
               nlists, writes, (t1 - t0) / writes);
    lb_delta(&a, &b, writes, &out);
    printf("%s}\n", out.data);
    buf_free(&out);
    cache_close(c);
}

static void lb_book_reads(int reads)
{
    cache_t *c = lb_open("lbbr");
    for (int k = 0; k < 100; k++) {
        lb_fill_book_list(c, k);
        arena_reset(&LB_arena);
    }
    lb_stats_t a, b;
    uint64_t rt0 = cache_conn_roundtrips(cache_connection(c));
    lb_stats(c, &a);
    double t0 = lb_now_us();
    size_t members = 0, joined = 0;
    for (int i = 0; i < reads; i++) {
        err_t e;
        cache_batch_t bt;
        int ids[LB_IDS];
        lb_list_ids((int)lb_rand(100), ids);
        if (cache_batch_get(c, &LB_arena, "bookstoresForBooks", lb_list_args(ids), &bt, &e) != 0 ||
            bt.status != CACHE_HIT)
            lb_die("bookstoresForBooks read: not a hit", &e);
        members += bt.n;
        for (size_t j = 0; j < bt.n; j++) joined += bt.members[j].join_json != NULL;
        arena_reset(&LB_arena);
    }
    double t1 = lb_now_us();
    lb_stats(c, &b);
    uint64_t rt = cache_conn_roundtrips(cache_connection(c)) - rt0 - 2;
    buf_t out = BUF_INIT;
    buf_printf(&out,
               "{\"what\":\"read\",\"query\":\"bookstoresForBooks\",\"members\":%.1f,"
               "\"joined\":%.1f,\"reads\":%d,\"client_usec\":%.1f,\"round_trips\":%.2f,",
               (double)members / reads, (double)joined / reads, reads, (t1 - t0) / reads,
               (double)rt / reads);
    lb_delta(&a, &b, reads, &out);
    printf("%s}\n", out.data);
    buf_free(&out);
    cache_close(c);
}

int main(int argc, char **argv)
{
    int writes = argc > 1 ? atoi(argv[1]) : 200;
    int reads = argc > 2 ? atoi(argv[2]) : 2000;
    if (writes <= 0 || reads <= 0) {
        fprintf(stderr, "usage: light_bench [WRITES] [READS] (positive counts)\n");
        return 2;
    }
    err_t e;
    if (cfg_load(&LB_cfg, &e) != 0) lb_die("configuration", &e);
    arena_init(&LB_arena, 1 << 16);
    lb_fruit_init();
    for (int i = 0; i < LB_BOOKS; i++) LB_book_version[i] = 1;
    lb_fruit_reads(reads);
    lb_book_reads(reads);
    if (argc > 3 && strcmp(argv[3], "reads") == 0) return 0;
    for (int n = 0; n <= 1000; n = n ? n * 10 : 100) lb_fruit_writes(n, writes);
    for (int n = 0; n <= 1000; n = n ? n * 10 : 100) lb_book_writes(n, writes);
    arena_destroy(&LB_arena);
    return 0;
}
