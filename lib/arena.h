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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct arena_block arena_block_t;

typedef struct {
    arena_block_t *head;      /* block being filled */
    arena_block_t *blocks;    /* all blocks, newest first */
    size_t block_size;        /* default size of a new block */
    size_t used_total;        /* bytes handed out since the last reset */
    unsigned char *cur, *end; /* free space of head (inline fast path) */
    unsigned char *last;      /* the latest allocation (grown in place by arena_realloc) */
} arena_t;

void arena_init(arena_t *a, size_t block_size);
/* Frees every block. The arena can be reused after arena_init(). */
void arena_destroy(arena_t *a);
/* Forgets every allocation; keeps at most the first block for reuse. */
void arena_reset(arena_t *a);

/* The slow path of arena_alloc: a new block. */
void *arena__alloc_block(arena_t *a, size_t n);

/* 16-byte aligned, uninitialised. Never returns NULL. Inline: a request
 * makes about a thousand of these, and the call cost more than the bump. */
static inline void *arena_alloc(arena_t *a, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    if (need >= n && (size_t)(a->end - a->cur) >= need) {
        unsigned char *p = a->cur;
        a->cur += need;
        a->used_total += need;
        a->last = p;
        return p;
    }
    return arena__alloc_block(a, n);
}
static inline void *arena_calloc(arena_t *a, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) abort();
    void *p = arena_alloc(a, count * size);
    memset(p, 0, count * size);
    return p;
}
char *arena_strndup(arena_t *a, const char *s, size_t n);
char *arena_strdup(arena_t *a, const char *s);
char *arena_printf(arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The slow path of arena_realloc: a copy. */
void *arena__realloc_copy(arena_t *a, void *old, size_t old_n, size_t new_n);
/* Grows an array allocated from the arena: in place when it is the latest
 * allocation and the block has room, else a copy (the old one stays until
 * reset). */
static inline void *arena_realloc(arena_t *a, void *old, size_t old_n, size_t new_n)
{
    size_t old_need = (old_n + 15) & ~(size_t)15, new_need = (new_n + 15) & ~(size_t)15;
    unsigned char *o = old;
    if (o == NULL) return arena_alloc(a, new_n);
    if (o == a->last && a->cur == o + old_need && new_need >= new_n && new_need >= old_need &&
        (size_t)(a->end - o) >= new_need) {
        a->cur = o + new_need;
        a->used_total += new_need - old_need;
        return old;
    }
    return arena__realloc_copy(a, old, old_n, new_n);
}

#endif
