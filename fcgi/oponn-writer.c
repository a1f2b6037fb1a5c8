/*
 * oponn-writer — the write-behind writer (OPONN_WRITE_MODE=behind).
 *
 * Reads the Redis Stream of writes with the consumer group "writers" and
 * applies each to MongoDB, idempotently by version (lib/cache_queue.h says
 * the contract). Several writers may run; one killed mid-stream loses
 * nothing: its pending writes are reclaimed by the others (or by itself
 * when restarted) after OPONN_QUEUE_CLAIM_MS. Stops on SIGTERM/SIGINT after
 * the write in hand.
 *
 * Each step reads up to OPONN_QUEUE_BATCH writes, applies them with one bulk
 * write per collection and acknowledges them in one Redis call; a write the
 * bulk did not apply is then applied alone, with its retries.
 *
 * The MongoDB applier belongs to the repository layer: repo_queue_apply()
 * with a repository of its own (a MongoDB client and an arena, no cache).
 * MongoDB down: the apply answers UNAVAILABLE, which the queue retries with
 * back-off (never dead-lettered, never lost).
 *
 * Every OPONN_QUEUE_STATS_S it logs one JSON line,
 *   {"oponn_queue":{"length":L,"pending":P,"dead":D,"lag_ms":A}}
 * which CloudWatch metric filters on the task's log group turn into the
 * QueueLength and DeadLetters metrics the alarms watch (infra/alarms.yaml).
 */
#include "cache.h"
#include "cache_conn.h"
#include "cache_queue.h"
#include "cfg.h"
#include "err.h"
#include "repo.h"
#include "store.h"

#include <mongoc/mongoc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t writer_stop;

typedef struct {
    cache_t *cache;
    long long every_ms; /* 0 = never */
    long long next_ms;  /* monotonic */
} writer_stats_t;

static long long writer_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The stats line, for the metric filters of infra/alarms.yaml. While Redis is
 * down there is none: the alarms treat missing data as "not breaching", and
 * Redis being down has alarms of its own. */
static void writer_tick(void *ud)
{
    writer_stats_t *ws = ud;
    if (ws->every_ms == 0 || writer_now_ms() < ws->next_ms) return;
    ws->next_ms = writer_now_ms() + ws->every_ms;
    cache_queue_stats_t st;
    err_t e;
    if (cache_queue_stats(ws->cache, &st, &e) != 0) return;
    fprintf(stderr,
            "{\"oponn_queue\":{\"length\":%lld,\"pending\":%lld,\"dead\":%lld,\"lag_ms\":%lld}}\n",
            st.length, st.pending, st.dead, st.lag_ms);
}

static void writer_on_signal(int sig)
{
    (void)sig;
    writer_stop = 1;
}

static void writer_log(const char *line)
{
    fprintf(stderr, "oponn-writer[%ld]: %s\n", (long)getpid(), line);
}

int main(void)
{
    cfg_t cfg;
    err_t e;
    err_log_set(writer_log);
    if (cfg_load(&cfg, &e) != 0) {
        fprintf(stderr, "oponn-writer: %s\n", e.msg);
        return 1;
    }
    cache_t *c;
    if (cache_open(&c, &cfg, &e) != 0) {
        fprintf(stderr, "oponn-writer: %s\n", e.msg);
        return 1;
    }
    mongoc_init();
    store_t *store;
    if (store_open(&store, &cfg, &e) != 0) {
        fprintf(stderr, "oponn-writer: %s\n", e.msg);
        cache_close(c);
        mongoc_cleanup();
        return 1;
    }
    arena_t arena;
    arena_init(&arena, 1 << 14);
    repo_t repo; /* no cache: the writer writes MongoDB only */
    repo_init(&repo, store, &arena);
    struct sigaction sa = {0};
    sa.sa_handler = writer_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char host[64] = "host", consumer[96];
    gethostname(host, sizeof host - 1);
    snprintf(consumer, sizeof consumer, "%s-%d", host, (int)getpid());
    cache_queue_opts_t o;
    cache_queue_opts(&o, &cfg);
    o.consumer = consumer;
    o.stop = &writer_stop;
    o.apply_batch = repo_queue_apply_batch;
    writer_stats_t ws = {c, cfg.queue_stats_s * 1000, 0};
    o.tick = writer_tick;
    o.tick_ud = &ws;
    char shown[512];
    cache_conn_url_redacted(cfg.redis_url, shown, sizeof shown);
    fprintf(stderr, "oponn-writer: consumer %s on %s\n", consumer, shown);
    cache_queue_run(c, &o, repo_queue_apply, &repo);
    arena_destroy(&arena);
    store_close(store);
    cache_close(c);
    mongoc_cleanup();
    return 0;
}
