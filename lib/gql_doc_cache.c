/*
 * gql_doc_cache.c — the document cache of gql.h: parsed and validated
 * documents keyed by (query text, operation name), bounded by bytes, LRU.
 *
 * Each entry owns an arena holding its copy of the query text (the AST's
 * names point into it), the AST, and what validation left on it. An entry's
 * size is its arena's bytes plus the entry and one block of slack. A hash
 * table (chained, power-of-two buckets) finds an entry; a doubly linked list
 * orders them by use. gql_prepare.c is the only caller of the internal half.
 */
#include "gql_exec_int.h"

#include <stdlib.h>

#define GQL__DC_BLOCK 4096

struct gql_doc_cache {
    const gql_schema_t *schema;
    size_t max_bytes, bytes, entries;
    uint64_t hits, misses, evictions;
    gql_doc_entry_t **buckets;
    size_t nbuckets;              /* power of two */
    gql_doc_entry_t *head, *tail; /* most, least recently used */
};

gql_doc_cache_t *gql_doc_cache_new(const gql_schema_t *s, size_t max_bytes)
{
    gql_doc_cache_t *c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    c->schema = s;
    c->max_bytes = max_bytes;
    c->nbuckets = 256;
    c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
    if (c->buckets == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

static void gql__dc_entry_free(gql_doc_entry_t *e)
{
    arena_destroy(&e->arena);
    free(e);
}

void gql_doc_cache_free(gql_doc_cache_t *c)
{
    if (c == NULL) return;
    for (gql_doc_entry_t *e = c->head, *next; e; e = next) {
        next = e->next;
        gql__dc_entry_free(e);
    }
    free(c->buckets);
    free(c);
}

void gql_doc_cache_stats(const gql_doc_cache_t *c, gql_doc_cache_stats_t *out)
{
    out->hits = c->hits;
    out->misses = c->misses;
    out->evictions = c->evictions;
    out->bytes = c->bytes;
    out->entries = c->entries;
}

/* A multiply-xorshift hash over the query, 8 bytes a step (a byte at a
 * time cost more than the rest of a hit), then the operation name. */
static uint64_t gql__dc_hash(const char *q, size_t qlen, const char *op)
{
    uint64_t h = 0xcbf29ce484222325u ^ qlen, h2 = 0x84222325cbf29ce4u;
    size_t i = 0;
    for (; i + 16 <= qlen; i += 16) { /* two independent lanes: every hit hashes the query */
        uint64_t w, w2;
        memcpy(&w, q + i, 8);
        memcpy(&w2, q + i + 8, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15u;
        h2 = (h2 ^ w2) * 0xc2b2ae3d27d4eb4fu;
        h ^= h >> 29;
        h2 ^= h2 >> 31;
    }
    h ^= h2 * 0x165667b19e3779f9u;
    for (; i + 8 <= qlen; i += 8) {
        uint64_t w;
        memcpy(&w, q + i, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15u;
        h ^= h >> 29;
    }
    for (; i < qlen; i++) h = (h ^ (unsigned char)q[i]) * 0x100000001b3u;
    h = (h ^ 0xff) * 0x100000001b3u;
    for (; op && *op; op++) h = (h ^ (unsigned char)*op) * 0x100000001b3u;
    return h;
}

static bool gql__dc_same(const gql_doc_entry_t *e, uint64_t h, const char *q, size_t qlen,
                         const char *op)
{
    return e->hash == h && e->qlen == qlen && strcmp(e->opname, op ? op : "") == 0 &&
           memcmp(e->query, q, qlen) == 0;
}

static void gql__dc_unlink(gql_doc_cache_t *c, gql_doc_entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void gql__dc_push_front(gql_doc_cache_t *c, gql_doc_entry_t *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head) c->head->prev = e;
    c->head = e;
    if (c->tail == NULL) c->tail = e;
}

gql_doc_entry_t *gql_doc_cache_lookup(gql_doc_cache_t *c, const gql_schema_t *s, const char *q,
                                      size_t qlen, const char *op)
{
    if (c->schema != s) return NULL;
    uint64_t h = gql__dc_hash(q, qlen, op);
    for (gql_doc_entry_t *e = c->buckets[h & (c->nbuckets - 1)]; e; e = e->hnext)
        if (gql__dc_same(e, h, q, qlen, op)) {
            c->hits++;
            if (c->head != e) {
                gql__dc_unlink(c, e);
                gql__dc_push_front(c, e);
            }
            return e;
        }
    c->misses++;
    return NULL;
}

gql_doc_entry_t *gql_doc_cache_begin(gql_doc_cache_t *c, const char *q, size_t qlen, const char *op)
{
    gql_doc_entry_t *e = calloc(1, sizeof *e);
    if (e == NULL) return NULL;
    arena_init(&e->arena, GQL__DC_BLOCK);
    e->hash = gql__dc_hash(q, qlen, op);
    e->query = arena_strndup(&e->arena, q, qlen);
    e->qlen = qlen;
    e->opname = arena_strdup(&e->arena, op ? op : "");
    (void)c;
    return e;
}

void gql_doc_cache_discard(gql_doc_entry_t *e)
{
    if (e) gql__dc_entry_free(e);
}

static void gql__dc_remove(gql_doc_cache_t *c, gql_doc_entry_t *e)
{
    gql_doc_entry_t **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != e) pp = &(*pp)->hnext;
    *pp = e->hnext;
    gql__dc_unlink(c, e);
    c->bytes -= e->bytes;
    c->entries--;
}

static void gql__dc_grow(gql_doc_cache_t *c)
{
    size_t n = c->nbuckets * 2;
    gql_doc_entry_t **b = calloc(n, sizeof *b);
    if (b == NULL) return; /* longer chains, still correct */
    for (gql_doc_entry_t *e = c->head; e; e = e->next) {
        e->hnext = b[e->hash & (n - 1)];
        b[e->hash & (n - 1)] = e;
    }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = n;
}

int gql_doc_cache_commit(gql_doc_cache_t *c, gql_doc_entry_t *e)
{
    e->bytes = e->arena.used_total + sizeof *e + GQL__DC_BLOCK;
    if (e->bytes > c->max_bytes) return -1;
    while (c->bytes + e->bytes > c->max_bytes && c->tail) {
        gql_doc_entry_t *old = c->tail;
        gql__dc_remove(c, old);
        gql__dc_entry_free(old);
        c->evictions++;
    }
    if (c->entries + 1 > c->nbuckets) gql__dc_grow(c);
    gql_doc_entry_t **bucket = &c->buckets[e->hash & (c->nbuckets - 1)];
    e->hnext = *bucket;
    *bucket = e;
    gql__dc_push_front(c, e);
    c->bytes += e->bytes;
    c->entries++;
    return 0;
}
