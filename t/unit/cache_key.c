/*
 * t/unit/cache_key.c — key names, id escaping and query normalization.
 */
#include "arena.h"
#include "buf.h"
#include "cache_key.h"
#include "cache_query.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static const char *esc(buf_t *b, const char *id, size_t n)
{
    buf_reset(b);
    cache_key_escape(b, id, n);
    return b->data ? b->data : "";
}

static void test_escape(void)
{
    buf_t b = BUF_INIT;
    check_str(esc(&b, "abc-1_2.3", 9), "abc-1_2.3", "plain ids are unchanged");
    check_str(esc(&b, "a:b", 3), "a%3Ab", "':' is escaped");
    check_str(esc(&b, "*?[]\\", 5), "%2A%3F%5B%5D%5C", "glob characters and '\\' are escaped");
    check_str(esc(&b, "a b", 3), "a%20b", "space is escaped");
    check_str(esc(&b, "%41", 3), "%2541", "'%%' is escaped, so '%%41' is not 'A'");
    check_str(esc(&b, "\xc3\xa9", 2), "%C3%A9", "bytes over 0x7f are escaped");
    check_str(esc(&b, "a\0b", 3), "a%00b", "NUL is escaped");
    check_str(esc(&b, "~!", 2), "%7E%21", "everything outside [A-Za-z0-9._-] is escaped");

    /* Every byte value: output only from the safe set, and round trip. */
    char all[256];
    for (int i = 0; i < 256; i++) all[i] = (char)i;
    esc(&b, all, 256);
    int safe = 1;
    for (size_t i = 0; i < b.len; i++) {
        char c = b.data[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '%'))
            safe = 0;
    }
    ok(safe, "escaped output holds only [A-Za-z0-9._%%-]");
    ok(memchr(b.data, ':', b.len) == NULL && memchr(b.data, '*', b.len) == NULL,
       "no ':' or '*' can appear in an escaped id");
    buf_t back = BUF_INIT;
    err_t e;
    ok(cache_key_unescape(&back, b.data, b.len, &e) == 0 && back.len == 256 &&
           memcmp(back.data, all, 256) == 0,
       "unescape(escape(x)) == x for all 256 byte values");

    /* Injective: distinct ids that naive schemes confuse stay distinct. */
    const char *pairs[][2] = {{"a:b", "a%3Ab"}, {"a b", "a_b"}, {"x*", "x%2A"}, {"é", "%C3%A9"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        buf_t x = BUF_INIT, y = BUF_INIT;
        cache_key_escape(&x, pairs[i][0], strlen(pairs[i][0]));
        cache_key_escape(&y, pairs[i][1], strlen(pairs[i][1]));
        ok(strcmp(x.data, y.data) != 0, "'%s' and '%s' do not collide", pairs[i][0], pairs[i][1]);
        buf_free(&x);
        buf_free(&y);
    }

    buf_reset(&back);
    ok(cache_key_unescape(&back, "%4", 2, &e) == -1 && e.code == ERR_BAD_INPUT,
       "truncated escape is rejected");
    buf_reset(&back);
    ok(cache_key_unescape(&back, "%4a", 3, &e) == -1,
       "lower-case hex is rejected (never produced)");
    buf_reset(&back);
    ok(cache_key_unescape(&back, "a:b", 3, &e) == -1, "a raw ':' is rejected");
    buf_free(&back);
    buf_free(&b);
}

static void test_keys(void)
{
    cache_keys_t ks;
    err_t e;
    ok(cache_key_init(&ks, "oponn", &e) == 0, "prefix 'oponn' accepted");
    ok(cache_key_init(&ks, "a:b", &e) == -1 && e.code == ERR_BAD_INPUT, "prefix with ':' refused");
    ok(cache_key_init(&ks, "a*", &e) == -1, "prefix with '*' refused");
    ok(cache_key_init(&ks, "", &e) == -1, "empty prefix refused");
    cache_key_init(&ks, "t1", &e);
    buf_t b = BUF_INIT;
    cache_key_entity(&ks, &b, CACHE_BOOKS, "id:1*");
    check_str(b.data, "t1:books:id%3A1%2A", "entity key");
    buf_reset(&b);
    cache_key_lease(&ks, &b, CACHE_APPLES, "x y");
    check_str(b.data, "t1:lease:apples:x%20y", "lease key");
    buf_reset(&b);
    cache_key_recidx(&ks, &b, CACHE_ORANGES, "o");
    check_str(b.data, "t1:rb:oranges:o", "record index key");
    buf_reset(&b);
    cache_key_batch(&ks, &b, "fruitBySize", "00ff");
    check_str(b.data, "t1:q:fruitBySize:00ff", "batch key");
    buf_reset(&b);
    cache_key_fixed(&ks, &b, "*");
    check_str(b.data, "t1:*", "namespace SCAN pattern");
    buf_reset(&b);
    cache_key_table_version(&ks, &b, CACHE_BOOKSTORES);
    check_str(b.data, "t1:tv:bookstores", "table counter key");

    buf_reset(&b);
    cache_key_tail(&b, CACHE_ORANGES, "a:b%");
    cache_kind_t k;
    buf_t id = BUF_INIT;
    ok(cache_key_parse_tail(b.data, b.len, &k, &id, &e) == 0 && k == CACHE_ORANGES &&
           strcmp(id.data, "a:b%") == 0,
       "tail round trip (kind and raw id)");
    buf_reset(&id);
    ok(cache_key_parse_tail("pears:x", 7, &k, &id, &e) == -1, "unknown kind in a tail refused");
    ok(cache_kind_parse("apples", &k, &e) == 0 && k == CACHE_APPLES, "kind parse");
    ok(cache_kind_parse("apple", &k, &e) == -1, "kind parse refuses 'apple'");
    buf_free(&id);
    buf_free(&b);
}

static void test_query(void)
{
    arena_t a;
    arena_init(&a, 4096);
    err_t e;
    cache_query_t q1, q2;
    const cache_query_decl_t *d = cache_query_find("fruitBySize");
    ok(d != NULL, "fruitBySize declared");
    ok(cache_query_canon(&a, d, "{\"limit\":10,\"size\":5}", &q1, &e) == 0, "canon ok");
    check_str(q1.canon, "fruitBySize(size=5;limit=10)", "canonical form");
    ok(cache_query_canon(&a, d, "{\"size\":5.0,\"limit\":10}", &q2, &e) == 0 &&
           strcmp(q1.hash, q2.hash) == 0,
       "5.0 and 5, argument order: same batch key");
    ok(cache_query_canon(&a, d, "{\"size\":5}", &q2, &e) == 0 && q2.limit == 100,
       "default limit 100");
    ok(strcmp(q1.hash, q2.hash) != 0, "different limit, different key");
    ok(cache_query_canon(&a, d, "{\"size\":5.5}", &q2, &e) == -1 && e.code == ERR_BAD_INPUT,
       "size must be whole");
    ok(cache_query_canon(&a, d, "{\"size\":\"5\"}", &q2, &e) == -1, "size must be a number");
    ok(cache_query_canon(&a, d, "{}", &q2, &e) == -1 && strstr(e.msg, "size") != NULL,
       "missing argument named in the error");
    ok(cache_query_canon(&a, d, "{\"size\":1,\"limit\":-1}", &q2, &e) == -1, "negative limit");
    check_str(q1.pred_json,
              "{\"n\":\"fruitBySize\",\"t\":[\"apples\",\"oranges\"],\"f\":[{\"k\":\"size\",\"o\":"
              "\"eq\",\"v\":5}],\"s\":[\"breed\"],\"l\":10,\"a\":{\"size\":5,\"limit\":10},"
              "\"c\":\"fruitBySize(size=5;limit=10)\"}",
              "predicate JSON");

    d = cache_query_find("fruitByAcidity");
    ok(d != NULL, "fruitByAcidity declared (by a table row only)");
    ok(cache_query_canon(&a, d, "{\"min\":0.1,\"max\":3}", &q1, &e) == 0, "acidity canon");
    check_str(q1.canon, "fruitByAcidity(min=0.1;max=3;limit=100)", "range canonical form");

    d = cache_query_find("books");
    ok(cache_query_canon(&a, d, "{\"ids\":[\"b\",\"a\",\"b\"]}", &q1, &e) == 0 &&
           cache_query_canon(&a, d, "{\"ids\":[\"a\",\"b\"]}", &q2, &e) == 0,
       "books(ids) canon");
    check_str(q1.canon, "books(ids=[\"a\",\"b\"])", "ids sorted and de-duplicated");
    ok(strcmp(q1.hash, q2.hash) == 0 && q1.limit == -1, "same key; unlimited");
    d = cache_query_find("bookstoresForBooks");
    ok(d && d->join_field && cache_query_canon(&a, d, "{\"bookIds\":[\"x\"]}", &q1, &e) == 0 &&
           strstr(q1.pred_json, "\"j\":[\"bookstore_id\",\"bookstores\"]") != NULL,
       "join declared in the predicate");
    ok(cache_query_find("nope") == NULL, "unknown query");
    ok(cache_query_canon(&a, cache_query_find("fruitByColour"), "[1]", &q1, &e) == -1,
       "arguments must be an object");
    arena_destroy(&a);
}

int main(void)
{
    test_escape();
    test_keys();
    test_query();
    return tap_done();
}
