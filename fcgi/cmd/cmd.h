/*
 * cmd.h — the admin CLI's subcommands (build/oponn).
 *
 * Each subcommand is `int cmd_<name>(int argc, char **argv)` with argv[0] the
 * subcommand's name; it handles its own --help, prints its own progress on
 * stderr and results on stdout, and returns the process exit status:
 *   0 success, 1 the work failed (message on stderr), 2 bad usage,
 *   3 a check found mismatches (cache verify).
 * Files: fcgi/cmd/<name>.c, linked into build/oponn only.
 */
#ifndef OPONN_CMD_H
#define OPONN_CMD_H

#define CMD_OK       0
#define CMD_FAILED   1
#define CMD_USAGE    2
#define CMD_MISMATCH 3

int cmd_config(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_ingest(int argc, char **argv);

/* Loads the configuration, opens and pings MongoDB (fcgi/cmd/migrate.c);
 * prints the problem and returns the exit status on failure. */
#include "cfg.h"
#include "store.h"
int cmd_store_open(const char *cmd, cfg_t *cfg, store_t **out);
void cmd_store_close(store_t *s);
int cmd_cache(int argc, char **argv);
/* Loads the configuration and opens the cache for cmd_cache / cmd_queue;
 * NULL (message printed, prefixed by who) on failure. cache_close() it. */
struct cache;
struct cache *cmd_cache_open(const char *who);
/* Maps the pool's shared page ($OPONN_RUN_DIR/metrics.shm) when a pool on
 * this host has one (never creates it), so the CLI shares the pool's cache
 * trust state (lib/metrics.h): a `cache verify` after a missed write starts
 * the new epoch a worker would, and ingestion's new epoch reaches the pool.
 * The CLI's own cache calls then count in the pool's metrics too. */
void cmd_join_pool(const cfg_t *cfg);
int cmd_queue(int argc, char **argv);
int cmd_pool(int argc, char **argv);

#endif
