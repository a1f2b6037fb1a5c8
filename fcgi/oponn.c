/*
 * oponn — the admin CLI: one executable, one subcommand per task.
 *
 *   oponn <command> [options]      oponn <command> --help
 *
 * Exit status: 0 success, 1 failure, 2 bad usage, 3 a check found mismatches.
 */
#include "cmd/cmd.h"
#include "err.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} oponn_commands[] = {
    {"config", cmd_config, "print every configuration variable and its default"},
    {"migrate", cmd_migrate, "apply schema/ specs: collections, validators, indexes"},
    {"ingest", cmd_ingest, "load books (Open Library), bookstores and fruit into MongoDB"},
    {"cache", cmd_cache, "cache stats|verify|flush|purge|rehydrate"},
    {"queue", cmd_queue, "write-behind queue: dead-letters|replay"},
    {"pool", cmd_pool, "pool status: the FastCGI workers on this host and their socket"},
};

static void oponn_usage(FILE *f)
{
    fprintf(f, "usage: oponn <command> [options]   (oponn <command> --help)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof oponn_commands / sizeof oponn_commands[0]; i++) {
        fprintf(f, "  %-12s %s\n", oponn_commands[i].name, oponn_commands[i].summary);
    }
    fprintf(f, "\nexit status: 0 ok, 1 failed, 2 bad usage, 3 a check found mismatches\n");
}

static void oponn_log(const char *line)
{
    fprintf(stderr, "oponn: %s\n", line);
}

int main(int argc, char **argv)
{
    err_log_set(oponn_log);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        oponn_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CMD_USAGE : CMD_OK;
    }
    for (size_t i = 0; i < sizeof oponn_commands / sizeof oponn_commands[0]; i++) {
        if (strcmp(argv[1], oponn_commands[i].name) == 0) {
            return oponn_commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "oponn: unknown command '%s'\n", argv[1]);
    oponn_usage(stderr);
    return CMD_USAGE;
}
