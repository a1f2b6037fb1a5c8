/*
 * t/prog/cache_qt.c — write-behind queue helper for t/36-cache-queue.t.
 *
 *   cache_qt writer              consume with a fake MongoDB applier until SIGTERM
 *   cache_qt produce N ACKFILE   N write-behind puts; acknowledged ones to ACKFILE
 *   cache_qt check ACKFILE       TAP: the fake store holds exactly the last
 *                                acknowledged version of every record
 *   cache_qt misc                TAP: back-pressure, read-your-writes, dead
 *                                letters (invalidation) and replay
 *
 * The fake applier keeps "MongoDB" in the same Redis under fake:<kind>:<id>
 * (hash v, d) and logs every apply to the list fake:log; like the real one
 * it applies a write only if it is newer than what it holds. A document
 * holding "poison" fails (BAD_USER_INPUT) every time. OPONN_FAKE_APPLY_US
 * slows each apply so a kill -9 lands mid-stream.
 */
#include "arena.h"
#include "cache.h"
#include "cache_queue.h"
#include "cfg.h"
#include "tap.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static cfg_t Q_cfg;
static volatile sig_atomic_t Q_stop;
static redisContext *Q_fake; /* the fake MongoDB's connection */

static void q_on_signal(int sig)
{
    (void)sig;
    Q_stop = 1;
}

static void q_connect_fake(void)
{
    const char *url = Q_cfg.redis_url; /* redis://127.0.0.1:PORT */
    const char *colon = strrchr(url, ':');
    Q_fake = redisConnect("127.0.0.1", colon ? atoi(colon + 1) : 6379);
    if (Q_fake == NULL || Q_fake->err) {
        printf("Bail out! fake store: cannot connect\n");
        exit(1);
    }
}

static const char *Q_apply_lua =
    "local cur = tonumber(redis.call('HGET', KEYS[1], 'v') or '0') "
    "if tonumber(ARGV[1]) <= cur then return 0 end "
    "redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2]) "
    "redis.call('RPUSH', 'fake:log', ARGV[3] .. ' ' .. ARGV[1]) return 1";

static int q_apply(void *ud, const cache_write_t *w, err_t *e)
{
    (void)ud;
    const char *us = getenv("OPONN_FAKE_APPLY_US");
    if (us) usleep((useconds_t)atoi(us));
    if (strstr(w->json, "poison")) return err_set(e, ERR_BAD_INPUT, "poison document");
    char key[160], rec[140], ver[24];
    snprintf(rec, sizeof rec, "%s:%s", cache_kind_name(w->kind), w->id);
    snprintf(key, sizeof key, "fake:%s", rec);
    snprintf(ver, sizeof ver, "%lld", (long long)w->version);
    redisReply *r = redisCommand(Q_fake, "EVAL %s 1 %s %s %s %s", Q_apply_lua, key, ver,
                                 w->op == CACHE_WRITE_DEL ? "" : w->json, rec);
    if (r == NULL) return err_set(e, ERR_UNAVAILABLE, "fake store down");
    int bad = r->type == REDIS_REPLY_ERROR;
    freeReplyObject(r);
    return bad ? err_set(e, ERR_INTERNAL, "fake store script failed") : 0;
}

/* Like an ordered bulk write: the newest write of each record in the batch
 * stands for the older ones, applied in order until one fails; the rest are
 * left to q_apply one at a time. Each batch is logged to fake:batches. */
static void q_apply_batch(void *ud, const cache_write_t *ws, size_t n, unsigned char *ok)
{
    size_t *last = calloc(n, sizeof *last);
    for (size_t i = n; i-- > 0;) {
        last[i] = i;
        for (size_t j = i + 1; j < n; j++) {
            if (ws[j].kind == ws[i].kind && strcmp(ws[j].id, ws[i].id) == 0) {
                last[i] = last[j];
                break;
            }
        }
    }
    unsigned char *done = calloc(n, 1);
    for (size_t i = 0; i < n; i++) {
        err_t e;
        if (last[i] != i) continue;
        if (q_apply(ud, &ws[i], &e) != 0) break;
        done[i] = 1;
    }
    for (size_t i = 0; i < n; i++) ok[i] = done[last[i]];
    redisReply *r = redisCommand(Q_fake, "RPUSH fake:batches %d", (int)n);
    freeReplyObject(r);
    free(done);
    free(last);
}

static cache_t *q_open(void)
{
    cache_t *c;
    err_t e;
    if (cache_open(&c, &Q_cfg, &e) != 0) {
        printf("Bail out! %s\n", e.msg);
        exit(1);
    }
    return c;
}

static int q_writer(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = q_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    q_connect_fake();
    cache_t *c = q_open();
    char consumer[64];
    snprintf(consumer, sizeof consumer, "test-%d", (int)getpid());
    cache_queue_opts_t o;
    cache_queue_opts(&o, &Q_cfg);
    o.consumer = consumer;
    o.stop = &Q_stop;
    o.block_ms = 100;
    o.apply_batch = q_apply_batch;
    cache_queue_run(c, &o, q_apply, NULL);
    cache_close(c);
    return 0;
}

#define Q_RECORDS 16

static const char *q_doc(arena_t *a, int rec, long long v)
{
    return arena_printf(a,
                        "{\"id\":\"r %d\",\"kind\":\"APPLE\",\"breed\":\"B%d\",\"size\":%lld,"
                        "\"colour\":\"red\",\"acidity\":3,\"version\":%lld}",
                        rec, rec % 3, v % 7, v);
}

static int q_produce(long n, const char *ackfile)
{
    cache_t *c = q_open();
    FILE *f = fopen(ackfile, "w");
    if (f == NULL) return 1;
    arena_t a;
    arena_init(&a, 1 << 14);
    long long version[Q_RECORDS] = {0};
    long refused = 0;
    for (long i = 0; i < n; i++) {
        int rec = (int)(i % Q_RECORDS);
        long long v = ++version[rec];
        char id[16];
        snprintf(id, sizeof id, "r %d", rec);
        err_t e;
        arena_reset(&a);
        for (int tries = 0;; tries++) {
            int rc = cache_put(c, CACHE_APPLES, id, v, q_doc(&a, rec, v), NULL, &e);
            if (rc == 1) {
                fprintf(f, "apples:%s %lld\n", id, v);
                fflush(f);
                break;
            }
            if (rc == -1 && e.code == ERR_UNAVAILABLE && tries < 5000) {
                refused++; /* queue full or Redis blip: the client retries */
                usleep(1000);
                continue;
            }
            fprintf(stderr, "produce: write %s v%lld failed: %s\n", id, v, e.msg);
            fclose(f);
            return 1;
        }
    }
    fclose(f);
    fprintf(stderr, "produce: %ld writes acknowledged, %ld refusals retried\n", n, refused);
    arena_destroy(&a);
    cache_close(c);
    return 0;
}

static int q_check(const char *ackfile)
{
    q_connect_fake();
    cache_t *c = q_open();
    FILE *f = fopen(ackfile, "r");
    if (f == NULL) return 1;
    long long last[Q_RECORDS] = {0};
    long acked = 0;
    char rec[64];
    long long v;
    while (fscanf(f, "apples:r %63s %lld\n", rec, &v) == 2) {
        int i = atoi(rec);
        if (i >= 0 && i < Q_RECORDS && v > last[i]) last[i] = v;
        acked++;
    }
    fclose(f);
    ok(acked > 0, "%ld acknowledged writes to check", acked);
    int exact = 0;
    arena_t a;
    arena_init(&a, 1 << 12);
    for (int i = 0; i < Q_RECORDS; i++) {
        char key[48];
        snprintf(key, sizeof key, "fake:apples:r %d", i);
        redisReply *r = redisCommand(Q_fake, "HMGET %s v d", key);
        long long have = r->element[0]->str ? atoll(r->element[0]->str) : 0;
        int same = have == last[i] &&
                   (last[i] == 0 ||
                    (r->element[1]->str && strcmp(r->element[1]->str, q_doc(&a, i, last[i])) == 0));
        if (!same)
            printf("# record r %d: store has v%lld, last acknowledged v%lld\n", i, have, last[i]);
        exact += same;
        freeReplyObject(r);
    }
    check_int(exact, Q_RECORDS, "the store holds the last acknowledged version of every record");
    /* Per record, the applied versions only grow (never an older over a newer). */
    redisReply *r = redisCommand(Q_fake, "LRANGE fake:log 0 -1");
    long long seen[Q_RECORDS] = {0};
    int ordered = 1;
    for (size_t i = 0; i < r->elements; i++) {
        int rec_i;
        long long ver;
        if (sscanf(r->element[i]->str, "apples:r %d %lld", &rec_i, &ver) != 2) continue;
        if (ver <= seen[rec_i]) ordered = 0;
        seen[rec_i] = ver;
    }
    ok(ordered, "applies per record in increasing version order (%zu applies)", r->elements);
    freeReplyObject(r);
    cache_queue_stats_t st;
    err_t e;
    ok(cache_queue_stats(c, &st, &e) == 0 && st.length == 0 && st.pending == 0 && st.dead == 0,
       "queue drained: 0 left, 0 pending, 0 dead (got %lld/%lld/%lld)", st.length, st.pending,
       st.dead);
    arena_destroy(&a);
    cache_close(c);
    return tap_done();
}

static int q_misc(void)
{
    q_connect_fake();
    err_t e;
    arena_t a;
    arena_init(&a, 1 << 14);
    cfg_t small = Q_cfg;
    small.queue_max = 5;
    small.cache_prefix = "qmisc";
    cache_t *c;
    cache_open(&c, &small, &e);
    redisReply *z = redisCommand(Q_fake, "EVAL %s 0", /* start from nothing */
                                 "for _, k in ipairs(redis.call('KEYS', 'qmisc:*')) do "
                                 "redis.call('DEL', k) end redis.call('DEL', 'fake:apples:p')");
    freeReplyObject(z);
    cache_queue_init(c, &e);

    /* Back-pressure: no writer, the queue fills, writes are refused. */
    int accepted = 0, rc = 0;
    for (int v = 1; v <= 8; v++) {
        rc = cache_put(c, CACHE_APPLES, "p", v, q_doc(&a, 99, v), NULL, &e);
        if (rc == 1)
            accepted++;
        else
            break;
    }
    check_int(accepted, 5, "the queue takes OPONN_QUEUE_MAX=5 writes");
    ok(rc == -1 && e.code == ERR_UNAVAILABLE, "then refuses with UNAVAILABLE: %s", e.msg);
    cache_queue_stats_t st;
    cache_queue_stats(c, &st, &e);
    check_int(st.length, 5, "nothing was trimmed");

    /* Read your writes: the cache has v5 while the store has nothing. */
    cache_entry_t ce;
    ok(cache_get(c, &a, CACHE_APPLES, "p", &ce, &e) == 0 && ce.status == CACHE_HIT &&
           strstr(ce.json, "\"version\":5") != NULL,
       "reads see the newest write before MongoDB has it");
    cache_batch_t b;
    cache_batch_get(c, &a, "fruitByColour", "{\"colour\":\"red\"}", &b, &e);
    ok(b.status == CACHE_MISS && cache_batch_fill(c, &b, NULL, 0, 1, &e) == 0,
       "a batch fill from MongoDB is refused while writes of its table are queued");

    /* Drain with a writer (in-process steps). */
    cache_queue_opts_t o;
    cache_queue_opts(&o, &small);
    o.consumer = "misc";
    o.block_ms = 10;
    o.backoff_ms = 1;
    o.max_tries = 3;
    for (int i = 0; i < 20 && cache_queue_stats(c, &st, &e) == 0 && st.length > 0; i++) {
        cache_queue_step(c, &o, q_apply, NULL, &e);
    }
    redisReply *r = redisCommand(Q_fake, "HGET fake:apples:p v");
    ok(st.length == 0 && r->str && atoi(r->str) == 5, "writer applied the queue (store at v5)");
    freeReplyObject(r);

    /* Dead letters: a poison write with a cached batch that shows it. */
    cache_batch_get(c, &a, "fruitByColour", "{\"colour\":\"red\"}", &b, &e);
    cache_doc_t d = {CACHE_APPLES, "p", 5, q_doc(&a, 99, 5)};
    ok(cache_batch_fill(c, &b, &d, 1, 1, &e) == 1, "batch cached after the drain");
    const char *poison = "{\"id\":\"p\",\"kind\":\"APPLE\",\"breed\":\"B0\",\"size\":1,"
                         "\"colour\":\"red\",\"acidity\":3,\"version\":6,\"poison\":1}";
    ok(cache_put(c, CACHE_APPLES, "p", 6, poison, NULL, &e) == 1, "poison write accepted");
    for (int i = 0; i < 5 && cache_queue_stats(c, &st, &e) == 0 && st.length > 0; i++) {
        cache_queue_step(c, &o, q_apply, NULL, &e);
    }
    cache_queue_stats(c, &st, &e);
    ok(st.length == 0 && st.dead == 1, "after 3 failed tries it is a dead letter");
    ok(cache_get(c, &a, CACHE_APPLES, "p", &ce, &e) == 0 && ce.status == CACHE_MISS,
       "the dead-lettered write's entity is invalidated");
    cache_batch_get(c, &a, "fruitByColour", "{\"colour\":\"red\"}", &b, &e);
    ok(b.status == CACHE_MISS, "and the batches of its table are dropped");
    cache_dead_letter_t *dl;
    size_t n;
    ok(cache_queue_dead_letters(c, &a, 10, &dl, &n, &e) == 0 && n == 1 &&
           strcmp(dl[0].id, "p") == 0 && strcmp(dl[0].version, "6") == 0 &&
           strstr(dl[0].error, "poison") != NULL,
       "dead letters list it with its error");
    ok(cache_queue_replay(c, dl[0].dead_id, &e) == 1, "replay re-queues it");
    cache_queue_stats(c, &st, &e);
    ok(st.length == 1 && st.dead == 0, "back in the queue, gone from the dead letters");

    /* A batch with a poison write between good ones: the good ones are
     * applied and acknowledged, only the poison one is dead-lettered. */
    o.apply_batch = q_apply_batch;
    for (int i = 0; i < 5 && cache_queue_stats(c, &st, &e) == 0 && st.length > 0; i++) {
        cache_queue_step(c, &o, q_apply, NULL, &e);
    }
    z = redisCommand(Q_fake, "DEL fake:apples:g1 fake:apples:g2 fake:batches");
    freeReplyObject(z);
    const char *poison2 = "{\"id\":\"q\",\"kind\":\"APPLE\",\"breed\":\"B0\",\"size\":1,"
                          "\"colour\":\"red\",\"acidity\":3,\"version\":1,\"poison\":1}";
    ok(cache_put(c, CACHE_APPLES, "g1", 1, q_doc(&a, 1, 1), NULL, &e) == 1 &&
           cache_put(c, CACHE_APPLES, "g1", 2, q_doc(&a, 1, 2), NULL, &e) == 1 &&
           cache_put(c, CACHE_APPLES, "q", 1, poison2, NULL, &e) == 1 &&
           cache_put(c, CACHE_APPLES, "g2", 1, q_doc(&a, 2, 1), NULL, &e) == 1,
       "queued: g1 v1, g1 v2, poison, g2 v1");
    cache_queue_step(c, &o, q_apply, NULL, &e);
    cache_queue_stats(c, &st, &e);
    ok(st.length == 0 && st.pending == 0 && st.dead == 2,
       "one step: the queue is empty, the poison write is the one new dead letter (%lld/%lld)",
       st.length, st.dead);
    redisReply *g1 = redisCommand(Q_fake, "HGET fake:apples:g1 v");
    redisReply *g2 = redisCommand(Q_fake, "HGET fake:apples:g2 v");
    ok(g1->str && atoi(g1->str) == 2 && g2->str && atoi(g2->str) == 1,
       "the good writes are applied (g1 at v2, g2 at v1)");
    freeReplyObject(g1);
    freeReplyObject(g2);
    redisReply *lb = redisCommand(Q_fake, "LRANGE fake:batches 0 -1");
    ok(lb->type == REDIS_REPLY_ARRAY && lb->elements == 1 && atoi(lb->element[0]->str) == 4,
       "read and offered as one batch of 4");
    freeReplyObject(lb);
    redisReply *lg = redisCommand(Q_fake, "LRANGE fake:log -3 -1");
    ok(lg->type == REDIS_REPLY_ARRAY && lg->elements == 3 &&
           strcmp(lg->element[0]->str, "apples:p 5") == 0 &&
           strcmp(lg->element[1]->str, "apples:g1 2") == 0 &&
           strcmp(lg->element[2]->str, "apples:g2 1") == 0,
       "g1 folded to one apply of v2; g2 applied alone after the poison failed");
    freeReplyObject(lg);

    /* A batch read that missed while a write of its table was queued, and
     * read MongoDB before the writer applied it, is not stored after the
     * writer acknowledged it: g3 turns green, the green list misses, the
     * "MongoDB" read has no green fruit yet, the writer applies and
     * acknowledges, then the fill comes (bfill saw pend:apples == 0). */
    const char *g3v1 = "{\"id\":\"g3\",\"kind\":\"APPLE\",\"breed\":\"B0\",\"size\":1,"
                       "\"colour\":\"yellow\",\"acidity\":3,\"version\":1}";
    const char *g3v2 = "{\"id\":\"g3\",\"kind\":\"APPLE\",\"breed\":\"B0\",\"size\":1,"
                       "\"colour\":\"green\",\"acidity\":3,\"version\":2}";
    ok(cache_put(c, CACHE_APPLES, "g3", 1, g3v1, NULL, &e) == 1, "g3 v1 (yellow) queued");
    for (int i = 0; i < 5 && cache_queue_stats(c, &st, &e) == 0 && st.length > 0; i++) {
        cache_queue_step(c, &o, q_apply, NULL, &e);
    }
    ok(cache_put(c, CACHE_APPLES, "g3", 2, g3v2, NULL, &e) == 1, "g3 v2 (green) queued");
    cache_batch_get(c, &a, "fruitByColour", "{\"colour\":\"green\"}", &b, &e);
    ok(b.status == CACHE_MISS, "the green list misses while g3 v2 is queued");
    for (int i = 0; i < 5 && cache_queue_stats(c, &st, &e) == 0 && st.length > 0; i++) {
        cache_queue_step(c, &o, q_apply, NULL, &e);
    }
    check_int(st.length, 0, "the writer applied and acknowledged g3 v2");
    ok(cache_batch_fill(c, &b, NULL, 0, 1, &e) == 0,
       "the fill of what MongoDB held before the writer applied g3 v2 (no green fruit) is "
       "refused");
    cache_close(c);
    arena_destroy(&a);
    return tap_done();
}

int main(int argc, char **argv)
{
    err_t e;
    setenv("OPONN_WRITE_MODE", "behind", 1);
    if (cfg_load(&Q_cfg, &e) != 0) {
        printf("Bail out! %s\n", e.msg);
        return 1;
    }
    if (argc >= 2 && strcmp(argv[1], "writer") == 0) return q_writer();
    if (argc >= 4 && strcmp(argv[1], "produce") == 0) return q_produce(atol(argv[2]), argv[3]);
    if (argc >= 3 && strcmp(argv[1], "check") == 0) return q_check(argv[2]);
    if (argc >= 2 && strcmp(argv[1], "misc") == 0) return q_misc();
    fprintf(stderr, "usage: cache_qt writer | produce N ACKFILE | check ACKFILE | misc\n");
    return 2;
}
