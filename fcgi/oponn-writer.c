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
 * The MongoDB applier belongs to the repository layer: writer_apply() below
 * is the hook. Until the repositories provide it, every write is answered
 * UNAVAILABLE, which the queue treats as "MongoDB down": writes wait in the
 * stream (never dead-lettered, never lost).
 */
#include "cache.h"
#include "cache_queue.h"
#include "cfg.h"
#include "err.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t writer_stop;

static void writer_on_signal(int sig)
{
    (void)sig;
    writer_stop = 1;
}

/* HOOK(repo): replace with the repository layer's apply function, e.g.
 * `return repo_queue_apply(ud, w, e);` (upsert where version < w->version,
 * delete where version < w->version). */
static int writer_apply(void *ud, const cache_write_t *w, err_t *e)
{
    (void)ud;
    return err_set(e, ERR_UNAVAILABLE, "no MongoDB applier linked yet for %s %s v%lld",
                   cache_kind_name(w->kind), w->id, (long long)w->version);
}

int main(void)
{
    cfg_t cfg;
    err_t e;
    if (cfg_load(&cfg, &e) != 0) {
        fprintf(stderr, "oponn-writer: %s\n", e.msg);
        return 1;
    }
    cache_t *c;
    if (cache_open(&c, &cfg, &e) != 0) {
        fprintf(stderr, "oponn-writer: %s\n", e.msg);
        return 1;
    }
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
    fprintf(stderr, "oponn-writer: consumer %s on %s\n", consumer, cfg.redis_url);
    cache_queue_run(c, &o, writer_apply, NULL);
    cache_close(c);
    return 0;
}
