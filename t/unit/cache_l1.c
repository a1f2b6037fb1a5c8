/*
 * t/unit/cache_l1.c — the near cache store (lib/cache_l1.h) without Redis:
 * LRU by bytes, invalidation by dependency, max age, and the refusal of a
 * fill whose snapshot predates an invalidation of one of its keys or a
 * flush.
 */
#include "cache_l1.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int put1(cache_l1_t *l, const cache_l1_snap_t *s, const char *key, const char *val,
                const char *dep)
{
    const char *deps[1] = {dep};
    size_t dl[1] = {strlen(dep)};
    return cache_l1_put(l, s, key, strlen(key), val, strlen(val), deps, dl, 1);
}

static int has(cache_l1_t *l, const char *key, int64_t now, const char *want)
{
    const char *v;
    size_t n;
    if (!cache_l1_get(l, key, strlen(key), now, &v, &n)) return 0;
    return want == NULL || (n == strlen(want) && memcmp(v, want, n) == 0);
}

static void t_basic(void)
{
    ok(cache_l1_new(0, 1000) == NULL, "0 bytes: no store (L1 off)");
    cache_l1_t *l = cache_l1_new(1 << 20, 10000);
    int64_t now = cache_l1_now_ms();
    cache_l1_snap_t s;
    cache_l1_snapshot(l, now, &s);
    check_int(put1(l, &s, "e:a", "A1", "P:books:a"), 1, "a fill with a fresh snapshot is stored");
    ok(has(l, "e:a", now, "A1"), "and read back");
    ok(!has(l, "e:b", now, NULL), "an absent key misses");
    check_int(put1(l, &s, "e:a", "A2", "P:books:a"), 1, "the same key again replaces");
    ok(has(l, "e:a", now, "A2"), "the new value is served");
    cache_l1_stats_t st;
    cache_l1_stats(l, &st);
    check_int(st.entries, 1, "one entry");
    check_int(cache_l1_invalidate(l, "P:books:x", 9), 0, "an unrelated key drops nothing");
    check_int(cache_l1_invalidate(l, "P:books:a", 9), 1, "its dependency's invalidation drops it");
    ok(!has(l, "e:a", now, NULL), "gone");
    cache_l1_stats(l, &st);
    check_int(st.bytes, 0, "no bytes left");
    cache_l1_free(l);
}

/* A batch entry depends on several keys: any one drops it; entries sharing
 * a key all go. */
static void t_deps(void)
{
    cache_l1_t *l = cache_l1_new(1 << 20, 10000);
    int64_t now = cache_l1_now_ms();
    cache_l1_snap_t s;
    cache_l1_snapshot(l, now, &s);
    const char *deps[3] = {"P:q:list:1", "P:bookstores:s1", "P:bookstores:s2"};
    size_t dl[3] = {10, 15, 15};
    check_int(cache_l1_put(l, &s, "b:1", 3, "LIST", 4, deps, dl, 3), 1, "a batch with 3 keys");
    check_int(put1(l, &s, "e:s2", "S2", "P:bookstores:s2"), 1, "an entity sharing one");
    check_int(cache_l1_invalidate(l, "P:bookstores:s2", 15), 2, "that key drops both");
    ok(!has(l, "b:1", now, NULL) && !has(l, "e:s2", now, NULL), "both gone");
    cache_l1_snapshot(l, now, &s);
    check_int(cache_l1_put(l, &s, "b:1", 3, "LIST", 4, deps, dl, 3), 1, "stored again");
    check_int(cache_l1_invalidate(l, "P:q:list:1", 10), 1, "its own key drops it too");
    /* many entries on one key, and chains that grow the tables */
    char key[32], val[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "e:%d", i);
        snprintf(val, sizeof val, "v%d", i);
        cache_l1_snapshot(l, now, &s);
        put1(l, &s, key, val, i % 2 ? "P:odd" : "P:even");
    }
    cache_l1_stats_t st;
    cache_l1_stats(l, &st);
    check_int(st.entries, 1000, "1000 entries");
    ok(has(l, "e:998", now, "v998"), "a late one is there");
    check_int(cache_l1_invalidate(l, "P:odd", 5), 500, "one key drops its 500");
    ok(!has(l, "e:999", now, NULL) && has(l, "e:998", now, "v998"), "the others stay");
    cache_l1_free(l);
}

/* Bounded by bytes: the least recently used goes first; a read refreshes. */
static void t_lru(void)
{
    cache_l1_t *l = cache_l1_new(4096, 10000);
    int64_t now = cache_l1_now_ms();
    cache_l1_snap_t s;
    char key[32], val[200];
    memset(val, 'x', sizeof val - 1);
    val[sizeof val - 1] = '\0';
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "e:%d", i);
        cache_l1_snapshot(l, now, &s);
        put1(l, &s, key, val, key);
        if (i >= 1) has(l, "e:0", now, NULL); /* keep e:0 hot */
    }
    cache_l1_stats_t st;
    cache_l1_stats(l, &st);
    ok(st.bytes <= 4096, "never over its bytes (%zu <= 4096)", st.bytes);
    ok(st.evicted > 0, "entries were evicted (%llu)", (unsigned long long)st.evicted);
    ok(has(l, "e:0", now, NULL), "the one read all along stayed");
    ok(has(l, "e:99", now, NULL), "the newest is there");
    ok(!has(l, "e:1", now, NULL), "an old one never read again went");
    char big[2048];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cache_l1_snapshot(l, now, &s);
    check_int(put1(l, &s, "e:big", big, "k"), 0, "an entry over a quarter of the store: refused");
    cache_l1_free(l);
}

static void t_max_age(void)
{
    cache_l1_t *l = cache_l1_new(1 << 20, 100);
    int64_t now = cache_l1_now_ms();
    cache_l1_snap_t s;
    cache_l1_snapshot(l, now, &s);
    put1(l, &s, "e:a", "A", "P:a");
    ok(has(l, "e:a", now + 100, "A"), "served up to its max age");
    ok(!has(l, "e:a", now + 101, NULL), "not a millisecond after");
    cache_l1_stats_t st;
    cache_l1_stats(l, &st);
    check_int(st.entries, 0, "and dropped");
    check_int(st.expired, 1, "counted as expired");
    cache_l1_snapshot(l, now - 1000, &s);
    check_int(put1(l, &s, "e:old", "A", "P:a"), 0, "a fill read longer ago than the max age");
    cache_l1_free(l);
}

/* The fill race: snapshot, (Redis read), invalidation, fill -> refused. */
static void t_refusal(void)
{
    cache_l1_t *l = cache_l1_new(1 << 20, 10000);
    int64_t now = cache_l1_now_ms();
    cache_l1_snap_t s;
    cache_l1_snapshot(l, now, &s);
    cache_l1_invalidate(l, "P:books:a", 9);
    check_int(put1(l, &s, "e:a", "old", "P:books:a"), 0,
              "invalidated between snapshot and fill: refused");
    ok(!has(l, "e:a", now, NULL), "nothing stored");
    check_int(put1(l, &s, "e:b", "B", "P:books:b"), 1, "another key's fill with it is fine");
    cache_l1_snapshot(l, now, &s);
    check_int(put1(l, &s, "e:a", "new", "P:books:a"), 1, "a snapshot after it: stored");
    cache_l1_snapshot(l, now, &s);
    cache_l1_flush(l);
    check_int(put1(l, &s, "e:c", "C", "P:books:c"), 0, "a flush between: refused");
    cache_l1_stats_t st;
    cache_l1_stats(l, &st);
    check_int(st.entries, 0, "the flush emptied it");
    cache_l1_snapshot(l, now, &s);
    char k[32];
    for (int i = 0; i < 600; i++) {
        snprintf(k, sizeof k, "P:other:%d", i);
        cache_l1_invalidate(l, k, strlen(k));
    }
    check_int(put1(l, &s, "e:d", "D", "P:books:d"), 0,
              "more invalidations than it remembers since the snapshot: refused");
    cache_l1_free(l);
}

int main(void)
{
    t_basic();
    t_deps();
    t_lru();
    t_max_age();
    t_refusal();
    return tap_done();
}
