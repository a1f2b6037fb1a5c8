/*
 * t/unit/ingest.c — Open Library page parsing, the bookstore list, the
 * assignment rule and the fruit generator (lib/ingest.h), without network.
 */
#include "ingest.h"
#include "repo.h"
#include "tap.h"

#include <string.h>

#define S(x) x, strlen(x)

int main(void)
{
    arena_t a;
    arena_init(&a, 0);
    err_t e = {0};
    ingest_page_t pg;

    const char *page =
        "{\"numFound\": 5, \"start\": 0, \"docs\": ["
        "{\"key\": \"/works/OL1W\", \"title\": \"Dune\", \"author_name\": [\"Frank Herbert\"],"
        " \"isbn\": [\"0441013597\", \"9780441013593\", \"9780340960196\", \"bogus\"],"
        " \"first_publish_year\": 1965},"
        "{\"key\": \"/works/OL2W\", \"title\": \"\\u041f\\u0438\\u043a\\u043d\\u0438\\u043a\"},"
        "{\"key\": \"/works/OL3W\", \"author_name\": [\"No Title\"]},"
        "{\"key\": \"/works/OL4W\", \"title\": \"Odd\", \"first_publish_year\": 1965.5},"
        "{\"key\": \"/authors/OL5A\", \"title\": \"Not a work\"},"
        "{\"key\": \"/works/OL6W\", \"title\": \"Only ten\", \"isbn\": [\"0-441-47812-3\"]}"
        "]}";
    ok(ingest_ol_parse(&a, S(page), &pg, &e) == 0, "page parses: %s", e.msg);
    check_int(pg.docs, 6, "6 records");
    check_int(pg.num_found, 5, "numFound read");
    {
        arena_t b;
        arena_init(&b, 0);
        ingest_page_t junk;
        const char *huge = "{\"numFound\": 3.28889e+118, \"docs\": []}";
        ok(ingest_ol_parse(&b, S(huge), &junk, &e) == 0 && junk.num_found == -1,
           "a numFound no int64 holds reads as unknown (-1)");
        const char *neg = "{\"numFound\": -5, \"docs\": []}";
        ok(ingest_ol_parse(&b, S(neg), &junk, &e) == 0 && junk.num_found == -1,
           "a negative numFound reads as unknown (-1)");
        arena_destroy(&b);
    }
    check_int(pg.n, 3, "3 valid");
    check_int(pg.n_skipped, 3, "3 skipped");
    check_str(pg.books[0].isbn, "9780340960196", "smallest ISBN-13 chosen");
    check_str(pg.books[0].authors[0], "Frank Herbert", "author");
    ok(pg.books[0].has_year && pg.books[0].year == 1965, "year");
    check_str(pg.books[1].title, "\xd0\x9f\xd0\xb8\xd0\xba\xd0\xbd\xd0\xb8\xd0\xba",
              "Unicode title");
    ok(pg.books[1].isbn == NULL && pg.books[1].n_authors == 0 && !pg.books[1].has_year,
       "no ISBN, authors or year: absent");
    check_str(pg.work_keys[1], "/works/OL2W", "work key kept");
    check_str(pg.books[2].isbn, "0441478123", "ISBN-10 normalized");
    ok(strstr(pg.skipped[0], "record 2 (/works/OL3W): title: required") != NULL, "%s",
       pg.skipped[0]);
    ok(strstr(pg.skipped[1], "first_publish_year: not a whole number") != NULL, "%s",
       pg.skipped[1]);
    ok(strstr(pg.skipped[2], "key: not an Open Library work key") != NULL, "%s", pg.skipped[2]);

    /* whole-page failures */
    ok(ingest_ol_parse(&a, S("{\"docs\": [{\"key\": \"/works/OL1W\", \"title\": \"a\xff\"}]}"), &pg,
                       &e) == -1 &&
           strstr(e.msg, "not valid UTF-8 (byte 44)"),
       "invalid UTF-8 fails the page: %s", e.msg);
    ok(ingest_ol_parse(&a, S("{\"docs\": [{\"key\": "), &pg, &e) == -1 && strstr(e.msg, "not JSON"),
       "truncated JSON fails the page: %s", e.msg);
    ok(ingest_ol_parse(&a, S("{\"error\": \"x\"}"), &pg, &e) == -1 && strstr(e.msg, "no \"docs\""),
       "no docs fails the page: %s", e.msg);
    ok(ingest_ol_parse(&a, S("[1,2]"), &pg, &e) == -1, "an array is not a page");
    ok(ingest_ol_parse(&a, S("{\"docs\": []}"), &pg, &e) == 0 && pg.n == 0 && pg.docs == 0,
       "an empty page is fine");

    /* URL */
    check_str(ingest_ol_url(&a, "http://h:1/", "science fiction & more", 2, 50),
              "http://h:1/search.json?q=science%20fiction%20%26%20more&page=2&limit=50"
              "&fields=key,title,author_name,isbn,first_publish_year",
              "search URL escapes the query");

    /* bookstores */
    bookstore_t *st;
    size_t n;
    ok(ingest_stores_parse(&a, S("[{\"name\": \"A\", \"city\": \"X\"}, {\"name\": \"B\"}]"), &st,
                           &n, &e) == 0 &&
           n == 2 && strcmp(st[1].name, "B") == 0 && st[1].city == NULL,
       "store list");
    ok(ingest_stores_parse(&a, S("[{\"city\": \"X\"}]"), &st, &n, &e) == -1 &&
           strstr(e.msg, "entry 0 needs a \"name\""),
       "store without name: %s", e.msg);
    ok(ingest_stores_parse(&a, S("[]"), &st, &n, &e) == -1, "empty list refused");

    bookstore_t s3[3] = {{.name_key = "b"}, {.name_key = "a"}, {.name_key = "b"}};
    bookstore_t *sp[3] = {&s3[0], &s3[1], &s3[2]};
    check_int(ingest_stores_order(sp, 3), 2, "ordered, repeated keys dropped");
    ok(sp[0] == &s3[1] && sp[1] == &s3[0], "order by name_key, first of equal keys kept");

    /* the assignment rule: FNV-1a 64 of the natural key */
    check_int(ingest_assign("", 1000), 14695981039346656037ULL % 1000, "FNV offset basis for \"\"");
    check_int(ingest_assign("a", 1ULL << 32), 0xaf63dc4c8601ec8cULL % (1ULL << 32),
              "FNV-1a(\"a\")");
    book_t b = {.isbn = "978-0-340-96019-6"};
    check_str(repo_book_natural_key(&a, &b, "/works/OL1W"), "isbn:9780340960196",
              "natural key: ISBN first");
    b.isbn = NULL;
    check_str(repo_book_natural_key(&a, &b, "/works/OL1W"), "ol:/works/OL1W",
              "natural key: else the work key");

    /* fruit */
    fruit_t f1[20], f2[20];
    ingest_fruit_make(&a, FRUIT_APPLE, 20, f1);
    ingest_fruit_make(&a, FRUIT_APPLE, 20, f2);
    int same = 1, valid = 1;
    for (int i = 0; i < 20; i++) {
        same &= strcmp(f1[i].id, f2[i].id) == 0 && strcmp(f1[i].breed, f2[i].breed) == 0 &&
                f1[i].size == f2[i].size && f1[i].acidity == f2[i].acidity;
        valid &= fruit_validate(&f1[i], MODEL_ALL, &e) == 0 && strlen(f1[i].id) == 24;
    }
    ok(same, "fruit generator is deterministic");
    ok(valid, "generated fruit is valid, 24-hex ids");
    check_str(f1[17].id, "5eed000a0000000000000011", "apple id");
    ingest_fruit_make(&a, FRUIT_ORANGE, 1, f2);
    check_str(f2[0].id, "5eed000b0000000000000000", "orange id");
    arena_destroy(&a);
    return tap_done();
}
