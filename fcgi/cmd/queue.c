/*
 * oponn queue dead-letters|replay — the write-behind queue's admin side.
 */
#include "cmd.h"

#include "arena.h"
#include "cache.h"
#include "cache_queue.h"

#include <stdio.h>
#include <string.h>

static void cmd_queue__usage(FILE *f)
{
    fprintf(f, "usage: oponn queue dead-letters       list writes the writer gave up on\n"
               "       oponn queue replay ID|--all    put dead letters back on the queue\n"
               "Uses OPONN_REDIS_URL and OPONN_CACHE_PREFIX.\n");
}

int cmd_queue(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        cmd_queue__usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CMD_USAGE : CMD_OK;
    }
    int list = strcmp(argv[1], "dead-letters") == 0 && argc == 2;
    int replay = strcmp(argv[1], "replay") == 0 && argc == 3;
    if (!list && !replay) {
        fprintf(stderr, "oponn queue: bad usage\n");
        cmd_queue__usage(stderr);
        return CMD_USAGE;
    }
    err_t e;
    err_clear(&e);
    cache_t *c = cmd_cache_open("oponn queue");
    if (c == NULL) return CMD_FAILED;
    int status = CMD_OK;
    if (list) {
        arena_t a;
        arena_init(&a, 1 << 14);
        cache_dead_letter_t *dl;
        size_t n;
        if (cache_queue_dead_letters(c, &a, 100000, &dl, &n, &e) != 0) {
            status = CMD_FAILED;
        } else {
            for (size_t i = 0; i < n; i++) {
                printf("%s\t%s %s %s v%s\t%s\n", dl[i].dead_id, dl[i].op, dl[i].kind, dl[i].id,
                       dl[i].version, dl[i].error);
            }
            fprintf(stderr, "oponn queue: %zu dead letters\n", n);
        }
        arena_destroy(&a);
    } else {
        const char *id = strcmp(argv[2], "--all") == 0 ? NULL : argv[2];
        int n = cache_queue_replay(c, id, &e);
        if (n < 0) {
            status = CMD_FAILED;
        } else {
            fprintf(stderr, "oponn queue replay: %d writes re-queued\n", n);
            if (n == 0 && id) {
                fprintf(stderr, "oponn queue replay: no dead letter %s\n", id);
                status = CMD_FAILED;
            }
        }
    }
    if (status == CMD_FAILED && e.msg[0]) fprintf(stderr, "oponn queue: %s\n", e.msg);
    cache_close(c);
    return status;
}
