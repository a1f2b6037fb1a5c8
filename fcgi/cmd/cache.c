/*
 * oponn cache stats|verify|flush|purge|rehydrate — the cache's admin side.
 *
 * verify and rehydrate read MongoDB through the repository layer's
 * cache_source_t (repo_cache_source(): a repository without a cache).
 */
#include "cmd.h"

#include "cache.h"
#include "cache_admin.h"
#include "cfg.h"
#include "metrics.h"
#include "repo.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* MongoDB for verify and rehydrate: a store and a repository without a
 * cache. cmd_cache__source_close() frees it. */
typedef struct {
    store_t *store;
    arena_t arena;
    repo_t repo;
    cache_source_t src;
} cmd_cache__mongo_t;

static const cache_source_t *cmd_cache__source(cfg_t *cfg, cmd_cache__mongo_t *m)
{
    if (cmd_store_open("cache", cfg, &m->store) != CMD_OK) {
        m->store = NULL;
        return NULL;
    }
    arena_init(&m->arena, 1 << 14);
    repo_init(&m->repo, m->store, &m->arena);
    repo_cache_source(&m->repo, &m->src);
    return &m->src;
}

static void cmd_cache__source_close(cmd_cache__mongo_t *m)
{
    if (m->store) {
        arena_destroy(&m->arena);
        cmd_store_close(m->store);
    }
}

static void cmd_cache__print(void *ud, const char *line)
{
    fprintf(ud, "%s\n", line);
}

void cmd_join_pool(const cfg_t *cfg)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/metrics.shm", cfg->run_dir);
    err_t e;
    if (access(path, R_OK | W_OK) == 0 && metrics_open(path, &e) != 0) {
        fprintf(stderr, "oponn: %s\n", e.msg);
    }
}

struct cache *cmd_cache_open(const char *who)
{
    cfg_t cfg;
    err_t e;
    cache_t *c = NULL;
    if (cfg_load(&cfg, &e) != 0 || cache_open(&c, &cfg, &e) != 0) {
        fprintf(stderr, "%s: %s\n", who, e.msg);
        return NULL;
    }
    cmd_join_pool(&cfg);
    /* What the pool's next call would do: start the new epoch if a write
     * missed the cache, so verify and stats see the cache the pool serves. */
    if (cache_sync(c, &e) != 0) {
        fprintf(stderr,
                "%s: a write did not reach Redis and the new cache epoch cannot start yet (%s); "
                "the pool serves nothing cached until it does\n",
                who, e.msg);
    }
    return c;
}

static void cmd_cache__usage(FILE *f)
{
    fprintf(f, "usage: oponn cache stats              counters, batches per table, epoch, queue\n"
               "       oponn cache verify             every cached entity and batch against "
               "MongoDB;\n"
               "                                      prints each mismatch, exit 3 if any\n"
               "       oponn cache flush              delete the namespace's cache keys (not "
               "the\n"
               "                                      write-behind queue or dead letters)\n"
               "       oponn cache purge TYPE [ID]    drop one record, or a whole type, and "
               "every\n"
               "                                      cached batch of that type\n"
               "       oponn cache rehydrate          re-fill the batches dropped by "
               "reconciliation\n"
               "TYPE:");
    for (int k = 0; k < CACHE__KINDS; k++) {
        fprintf(f, "%s %s", k ? "," : "", cache_kind_name((cache_kind_t)k));
    }
    fprintf(f, ". Uses OPONN_REDIS_URL and OPONN_CACHE_PREFIX.\n");
}

/* Each worker's L1 (issue 23): SIGUSR2 to every live worker that has one
 * (pids from the shared metrics page); each writes its findings to
 * run_dir/l1verify.<pid> (worker_l1_verify in fcgi/oponn-worker.c). A worker that does not answer
 * within 5 s (a long request) is named, not counted. Returns the status. */
static int cmd_cache__verify_l1(const cfg_t *cfg, int status, err_t *e)
{
    int pids[256];
    int n = metrics_l1_pids(pids, 256);
    char path[1100];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/l1verify.%d", cfg->run_dir, pids[i]);
        unlink(path);
        if (kill(pids[i], SIGUSR2) != 0) pids[i] = 0;
    }
    long entries = 0, mismatches = 0;
    int answered = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        if (pids[i] == 0) continue;
        snprintf(path, sizeof path, "%s/l1verify.%d", cfg->run_dir, pids[i]);
        FILE *f = NULL;
        for (int waited = 0; waited < 5000 && (f = fopen(path, "r")) == NULL; waited += 10) {
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (f == NULL) {
            fprintf(stderr, "oponn cache verify: worker %d did not answer (its L1 not checked)\n",
                    pids[i]);
            continue;
        }
        answered++;
        char line[1024];
        while (fgets(line, sizeof line, f)) {
            long en, mm;
            if (sscanf(line, "entries=%ld mismatches=%ld", &en, &mm) == 2) {
                entries += en;
                mismatches += mm;
            } else if (strncmp(line, "error=", 6) == 0) {
                failed++;
                fprintf(stderr, "oponn cache verify: L1 of worker %d: %s", pids[i], line + 6);
            } else {
                fputs(line, stdout);
            }
        }
        fclose(f);
        unlink(path);
    }
    fprintf(stderr, "oponn cache verify: L1 of %d workers: %ld entries, %ld mismatches\n", answered,
            entries, mismatches);
    if (mismatches) return CMD_MISMATCH;
    if (failed && status == CMD_OK) {
        err_set(e, ERR_UNAVAILABLE, "the L1 of %d worker(s) could not be checked", failed);
        return CMD_FAILED;
    }
    return status;
}

int cmd_cache(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        cmd_cache__usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CMD_USAGE : CMD_OK;
    }
    const char *sub = argv[1];
    int known = strcmp(sub, "stats") == 0 || strcmp(sub, "verify") == 0 ||
                strcmp(sub, "flush") == 0 || strcmp(sub, "purge") == 0 ||
                strcmp(sub, "rehydrate") == 0;
    if (!known || (strcmp(sub, "purge") == 0 ? (argc < 3 || argc > 4) : argc != 2)) {
        fprintf(stderr, "oponn cache: bad usage\n");
        cmd_cache__usage(stderr);
        return CMD_USAGE;
    }
    cfg_t cfg;
    err_t e = {0};
    cache_t *c = cmd_cache_open("oponn cache");
    if (c == NULL || cfg_load(&cfg, &e) != 0) {
        cache_close(c);
        return CMD_FAILED;
    }
    int status = CMD_OK;
    if (strcmp(sub, "stats") == 0) {
        if (cache_stats_report(c, cmd_cache__print, stdout, &e) != 0) status = CMD_FAILED;
    } else if (strcmp(sub, "verify") == 0) {
        cache_verify_t v;
        cmd_cache__mongo_t m = {0};
        const cache_source_t *src = cmd_cache__source(&cfg, &m);
        if (src == NULL) {
            status = CMD_FAILED;
            err_set(&e, ERR_UNAVAILABLE, "MongoDB cannot be reached");
        } else if (cache_verify(c, src, cmd_cache__print, stdout, &v, &e) != 0) {
            status = CMD_FAILED;
        } else {
            fprintf(stderr, "oponn cache verify: %ld entities, %ld batches, %ld mismatches\n",
                    v.entities, v.batches, v.mismatches);
            if (v.mismatches) status = CMD_MISMATCH;
            status = cmd_cache__verify_l1(&cfg, status, &e);
        }
        cmd_cache__source_close(&m);
    } else if (strcmp(sub, "flush") == 0) {
        long n = cache_flush(c, &e);
        if (n < 0)
            status = CMD_FAILED;
        else
            fprintf(stderr, "oponn cache flush: %ld keys deleted\n", n);
    } else if (strcmp(sub, "purge") == 0) {
        cache_kind_t k;
        int n = -1;
        if (cache_kind_parse(argv[2], &k, &e) == 0) {
            n = cache_purge(c, k, argc == 4 ? argv[3] : NULL, &e);
        }
        if (n < 0)
            status = e.code == ERR_BAD_INPUT ? CMD_USAGE : CMD_FAILED;
        else
            fprintf(stderr, "oponn cache purge: %d cached batches dropped\n", n);
    } else {
        cmd_cache__mongo_t m = {0};
        const cache_source_t *src = cmd_cache__source(&cfg, &m);
        long n = src ? cache_rehydrate(c, src, cmd_cache__print, stdout, &e)
                     : err_set(&e, ERR_UNAVAILABLE, "MongoDB cannot be reached");
        if (n < 0)
            status = CMD_FAILED;
        else
            fprintf(stderr, "oponn cache rehydrate: %ld batches refilled\n", n);
        cmd_cache__source_close(&m);
    }
    if (status == CMD_FAILED || status == CMD_USAGE)
        fprintf(stderr, "oponn cache %s: %s\n", sub, e.msg);
    cache_close(c);
    return status;
}
