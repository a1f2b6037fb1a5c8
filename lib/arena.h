/*
 * arena.h — per-request memory.
 *
 * Everything a request allocates comes from one arena and is freed at once by
 * arena_reset() when the request ends (the nginx pool idea). Allocation never
 * fails silently: on out-of-memory the arena aborts the process, because a
 * worker that cannot allocate a few KiB cannot answer anything and multiwatch
 * replaces it. Blocks are kept across resets so a worker's steady state does
 * no malloc at all. Not thread-safe: one arena per worker.
 */
#ifndef OPONN_ARENA_H
#define OPONN_ARENA_H

#include <stddef.h>

typedef struct arena_block arena_block_t;

typedef struct {
    arena_block_t *head;   /* block being filled */
    arena_block_t *blocks; /* all blocks, newest first */
    size_t block_size;     /* default size of a new block */
    size_t used_total;     /* bytes handed out since the last reset */
} arena_t;

void arena_init(arena_t *a, size_t block_size);
/* Frees every block. The arena can be reused after arena_init(). */
void arena_destroy(arena_t *a);
/* Forgets every allocation; keeps at most the first block for reuse. */
void arena_reset(arena_t *a);

/* 16-byte aligned, uninitialised. Never returns NULL. */
void *arena_alloc(arena_t *a, size_t n);
void *arena_calloc(arena_t *a, size_t count, size_t size);
char *arena_strndup(arena_t *a, const char *s, size_t n);
char *arena_strdup(arena_t *a, const char *s);
char *arena_printf(arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Grows an array allocated from the arena (copy; the old one stays until reset). */
void *arena_realloc(arena_t *a, void *old, size_t old_n, size_t new_n);

#endif
