/*
 * arena.c — bump allocator with a block list (see arena.h).
 */
#include "arena.h"

#include "err.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_block {
    arena_block_t *next;
    size_t size; /* usable bytes in data[] */
    _Alignas(16) unsigned char data[];
};

static arena_block_t *arena__block_new(size_t size)
{
    arena_block_t *b = malloc(sizeof *b + size);
    if (b == NULL) {
        err_log("out of memory in arena");
        abort();
    }
    b->next = NULL;
    b->size = size;
    return b;
}

void arena_init(arena_t *a, size_t block_size)
{
    a->head = NULL;
    a->blocks = NULL;
    a->block_size = block_size ? block_size : 64 * 1024;
    a->used_total = 0;
    a->cur = a->end = a->last = NULL;
}

void arena_destroy(arena_t *a)
{
    arena_block_t *b = a->blocks;
    while (b) {
        arena_block_t *next = b->next;
        free(b);
        b = next;
    }
    a->head = a->blocks = NULL;
    a->used_total = 0;
    a->cur = a->end = a->last = NULL;
}

void arena_reset(arena_t *a)
{
    /* Keep the oldest block of the default size (the last in the list); a
     * request that needed more gets fresh blocks next time, so one huge
     * request does not pin its memory for the worker's lifetime. */
    arena_block_t *keep = NULL;
    arena_block_t *b = a->blocks;
    while (b) {
        arena_block_t *next = b->next;
        if (next == NULL && b->size == a->block_size) {
            keep = b;
        } else {
            free(b);
        }
        b = next;
    }
    if (keep) keep->next = NULL;
    a->blocks = a->head = keep;
    a->used_total = 0;
    a->cur = keep ? keep->data : NULL;
    a->end = keep ? keep->data + keep->size : NULL;
    a->last = NULL;
}

void *arena__alloc_block(arena_t *a, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n) abort(); /* overflow */
    size_t size = need > a->block_size ? need : a->block_size;
    arena_block_t *b = arena__block_new(size);
    b->next = a->blocks;
    a->blocks = b;
    a->head = b;
    a->cur = b->data + need;
    a->end = b->data + size;
    a->used_total += need;
    a->last = b->data;
    return b->data;
}

char *arena_strndup(arena_t *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(arena_t *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    char *p = arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void *arena__realloc_copy(arena_t *a, void *old, size_t old_n, size_t new_n)
{
    void *p = arena_alloc(a, new_n);
    if (old && old_n) memcpy(p, old, old_n < new_n ? old_n : new_n);
    return p;
}
