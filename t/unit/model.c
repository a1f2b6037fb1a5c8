/*
 * t/unit/model.c — validation and BSON/JSON round trips of lib/model.h.
 */
#include "model.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>

static book_t sample_book(void)
{
    static const char *authors[] = {"Ursula K. Le Guin", "{\"$gt\": \"\"}"};
    book_t b = {0};
    b.id = "65f0c0ffee0000000000abcd";
    b.isbn = "9780441478125";
    b.title = "The Left Hand of Darkness";
    b.authors = authors;
    b.n_authors = 2;
    b.has_year = true;
    b.year = 1969;
    b.has_price = true;
    b.price = 12.5;
    b.bookstore_id = "$where";
    b.version = 3;
    b.created_at = 1700000000123;
    b.updated_at = 1700000000456;
    return b;
}

static void check_bad(int rc, const err_t *e, const char *want_prefix, const char *what)
{
    ok(rc == -1 && e->code == ERR_BAD_INPUT &&
           strncmp(e->msg, want_prefix, strlen(want_prefix)) == 0,
       "%s refused: %s", what, e->msg);
}

int main(void)
{
    arena_t a;
    arena_init(&a, 0);
    err_t e = {0};

    /* validation */
    book_t b = sample_book();
    ok(book_validate(&b, MODEL_ALL, &e) == 0, "sample book valid");
    b.title = "   ";
    check_bad(book_validate(&b, MODEL_ALL, &e), &e, "title: must not be empty", "blank title");
    b = sample_book();
    b.title = NULL;
    check_bad(book_validate(&b, MODEL_ALL, &e), &e, "title: required", "missing title");
    ok(book_validate(&b, MODEL_BIT(BOOK_F_YEAR), &e) == 0, "patch of year ignores title");
    b = sample_book();
    b.year = 99999;
    check_bad(book_validate(&b, MODEL_ALL, &e), &e, "year: 99999 is out of range", "year range");
    b = sample_book();
    b.price = NAN;
    check_bad(book_validate(&b, MODEL_ALL, &e), &e, "price: must be a finite number", "NaN price");
    b.price = INFINITY;
    check_bad(book_validate(&b, MODEL_ALL, &e), &e, "price: must be a finite number", "inf price");
    b.price = -1;
    check_bad(book_validate(&b, MODEL_ALL, &e), &e, "price: -1 is out of range", "negative price");
    b = sample_book();
    b.isbn = "12345";
    check_bad(book_validate(&b, MODEL_ALL, &e), &e, "isbn:", "short isbn");
    b.isbn = "{\"$gt\": \"\"}";
    check_bad(book_validate(&b, MODEL_ALL, &e), &e, "isbn:", "operator isbn");
    b = sample_book();
    const char *bad_authors[] = {"ok", ""};
    b.authors = bad_authors;
    check_bad(book_validate(&b, MODEL_ALL, &e), &e, "authors[1]: must not be empty",
              "empty author");
    b = sample_book();
    b.title = "bad \xff utf8";
    check_bad(book_validate(&b, MODEL_ALL, &e), &e, "title: not valid UTF-8", "invalid UTF-8");
    b.title = "tab\there";
    check_bad(book_validate(&b, MODEL_ALL, &e), &e, "title: control character", "control char");
    b = sample_book();
    b.bookstore_id = "";
    check_bad(book_validate(&b, MODEL_ALL, &e), &e, "bookstore_id: must not be empty", "empty FK");
    char isbn[14];
    ok(book_isbn_normalize("0-441-47812-x", isbn, &e) == 0 && strcmp(isbn, "044147812X") == 0,
       "ISBN-10 normalized: %s", isbn);
    ok(book_isbn_normalize("978 0 441 47812 5", isbn, &e) == 0 &&
           strcmp(isbn, "9780441478125") == 0,
       "ISBN-13 normalized: %s", isbn);

    fruit_t f = {.breed = "Cox",
                 .has_size = true,
                 .size = 7,
                 .colour = "red",
                 .has_acidity = true,
                 .acidity = 3.4,
                 .kind = FRUIT_ORANGE};
    ok(fruit_validate(&f, MODEL_ALL, &e) == 0, "fruit valid");
    f.size = 0;
    check_bad(fruit_validate(&f, MODEL_ALL, &e), &e, "size: 0 is out of range", "fruit size");
    f.size = 7;
    f.acidity = 15;
    check_bad(fruit_validate(&f, MODEL_ALL, &e), &e, "acidity: 15 is out of range", "acidity");
    f.has_acidity = false;
    check_bad(fruit_validate(&f, MODEL_ALL, &e), &e, "acidity: required", "acidity missing");
    fruit_kind_t k;
    ok(fruit_kind_parse("ORANGE", &k, &e) == 0 && k == FRUIT_ORANGE, "kind ORANGE");
    check_bad(fruit_kind_parse("PEAR", &k, &e), &e, "kind:", "kind PEAR");

    bookstore_t s = {.name = "A", .name_key = "a"};
    ok(bookstore_validate(&s, MODEL_ALL, &e) == 0, "bookstore without city valid");
    char longname[BOOKSTORE_NAME_MAX + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    s.name = longname;
    check_bad(bookstore_validate(&s, MODEL_ALL, &e), &e, "name: 201 bytes, at most 200",
              "long name");

    /* JSON round trip */
    b = sample_book();
    buf_t j = BUF_INIT, j2 = BUF_INIT;
    book_to_json(&b, &j);
    check_str(
        j.data,
        "{\"id\":\"65f0c0ffee0000000000abcd\",\"isbn\":\"9780441478125\",\"title\":\"The Left "
        "Hand of Darkness\",\"authors\":[\"Ursula K. Le Guin\",\"{\\\"$gt\\\": \\\"\\\"}\"],"
        "\"year\":1969,\"price\":12.5,\"bookstore_id\":\"$where\",\"version\":3,"
        "\"created_at\":1700000000123,\"updated_at\":1700000000456}",
        "book JSON");
    book_t b2;
    ok(book_from_json(&a, j.data, j.len, &b2, &e) == 0, "book JSON parses back");
    book_to_json(&b2, &j2);
    check_str(j2.data, j.data, "book JSON round trip");
    buf_reset(&j);
    buf_reset(&j2);
    b.isbn = NULL;
    b.has_year = b.has_price = false;
    b.n_authors = 0;
    book_to_json(&b, &j);
    ok(strstr(j.data, "\"isbn\":null") && strstr(j.data, "\"year\":null") &&
           strstr(j.data, "\"price\":null") && strstr(j.data, "\"authors\":[]"),
       "absent fields are null: %s", j.data);
    ok(book_from_json(&a, j.data, j.len, &b2, &e) == 0 && b2.isbn == NULL && !b2.has_year &&
           !b2.has_price,
       "nulls parse back as absent");
    ok(book_from_json(&a, "{\"id\":1}", 8, &b2, &e) == -1 && e.code == ERR_INTERNAL,
       "wrong JSON refused: %s", e.msg);

    f = (fruit_t){.id = "x",
                  .kind = FRUIT_ORANGE,
                  .breed = "Valencia",
                  .has_size = true,
                  .size = 8,
                  .colour = "orange",
                  .has_acidity = true,
                  .acidity = 3.25,
                  .version = 1,
                  .created_at = 5,
                  .updated_at = 6};
    buf_reset(&j);
    fruit_to_json(&f, &j);
    check_str(j.data,
              "{\"id\":\"x\",\"kind\":\"ORANGE\",\"breed\":\"Valencia\",\"size\":8,\"colour\":"
              "\"orange\",\"acidity\":3.25,\"version\":1,\"created_at\":5,\"updated_at\":6}",
              "fruit JSON");
    fruit_t f2;
    ok(fruit_from_json(&a, j.data, j.len, &f2, &e) == 0 && f2.kind == FRUIT_ORANGE &&
           f2.acidity == 3.25 && f2.size == 8,
       "fruit JSON parses back");

    /* The direct reader's decimal fast path (up to 15 digits) and its
     * strtod fallback: what book_to_json writes reads back to the same
     * double, for decimals of 1 to 15 digits and for any double. */
    {
        uint64_t x = 88172645463325252ull;
        int same = 0, total = 200000;
        for (int i = 0; i < total; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            uint64_t m = (x >> 16) % 1000000000000000ull;
            for (int k = 1 + (int)((x >> 8) % 15); k < 15; k++) m /= 10;
            double v = (double)m / pow(10, (double)(x % 15));
            if (i % 4 == 3) {
                memcpy(&v, &x, sizeof v);
                if (!isfinite(v)) v = (double)m / 7.0;
            }
            b = sample_book();
            b.n_authors = 1; /* no escapes: the direct reader takes it, not json_in */
            b.price = v;
            buf_reset(&j);
            book_to_json(&b, &j);
            book_t got;
            if (book_from_json(&a, j.data, j.len, &got, &e) == 0 && got.has_price &&
                memcmp(&got.price, &v, sizeof v) == 0)
                same++;
            else if (total - same < 3)
                tap_diag("differs: %s", j.data);
        }
        check_int(same, total, "200000 prices read back to the same double");
    }

    s = (bookstore_t){.id = "s1", .name = "The Nook", .name_key = "the nook", .version = 2};
    buf_reset(&j);
    bookstore_to_json(&s, &j);
    check_str(j.data,
              "{\"id\":\"s1\",\"name\":\"The Nook\",\"name_key\":\"the nook\",\"city\":null,"
              "\"version\":2,\"created_at\":0,\"updated_at\":0}",
              "bookstore JSON");

    /* The cache's own JSON is read by a direct reader; anything else (spacing,
     * order, escapes, errors) by the general one: both must agree. */
    static const char *own[] = {
        "{\"id\":\"b1\",\"isbn\":null,\"title\":\"Пикник на "
        "обочине\",\"authors\":[\"А\",\"Б\",\"В\","
        "\"Г\",\"Д\"],\"year\":-300,\"price\":1e2,\"bookstore_id\":\"s\",\"version\":9,"
        "\"created_at\":123456789012345,\"updated_at\":0}",
        "{\"id\":\"b1\", \"isbn\":null,\"title\":\"Пикник на "
        "обочине\",\"authors\":[\"А\",\"Б\",\"В\","
        "\"Г\",\"Д\"],\"year\":-300,\"price\":100,\"bookstore_id\":\"s\",\"version\":9,"
        "\"created_at\":123456789012345,\"updated_at\":0}",
        "{\"isbn\":null,\"id\":\"b1\",\"title\":\"Пикник на "
        "\\u043eбочине\",\"authors\":[\"А\",\"Б\","
        "\"В\",\"Г\",\"Д\"],\"year\":-300.0,\"price\":100.0,\"bookstore_id\":\"s\",\"version\":9,"
        "\"created_at\":123456789012345,\"updated_at\":0,\"extra\":1}",
    };
    buf_reset(&j);
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        ok(book_from_json(&a, own[i], strlen(own[i]), &b2, &e) == 0, "book JSON %zu read: %s", i,
           e.msg);
        buf_reset(&j2);
        book_to_json(&b2, &j2);
        if (i == 0) buf_puts(&j, j2.data);
        check_str(j2.data, j.data, "book JSON read the same, whatever its spacing and order");
    }
    ok(b2.n_authors == 5 && strcmp(b2.authors[4], "Д") == 0 && b2.year == -300 && b2.price == 100 &&
           b2.isbn == NULL,
       "book JSON fields");
    static const char *refused[] = {
        "{\"id\":null,\"isbn\":null,\"title\":\"t\",\"authors\":[],\"year\":1,\"price\":1,"
        "\"bookstore_id\":\"s\",\"version\":9,\"created_at\":1,\"updated_at\":0}",
        "{\"id\":\"b\",\"isbn\":null,\"title\":\"t\",\"authors\":null,\"year\":1,\"price\":1,"
        "\"bookstore_id\":\"s\",\"version\":9,\"created_at\":1,\"updated_at\":0}",
        "{\"id\":\"b\",\"isbn\":null,\"title\":\"t\",\"authors\":[],\"year\":1.5,\"price\":1,"
        "\"bookstore_id\":\"s\",\"version\":9,\"created_at\":1,\"updated_at\":0}",
        "{\"id\":\"b\",\"isbn\":null,\"title\":\"t\",\"authors\":[],\"year\":1,\"price\":1,"
        "\"bookstore_id\":\"s\",\"version\":99999999999999999,\"created_at\":1,\"updated_at\":0}",
        "{\"id\":\"b\",\"isbn\":null,\"title\":\"t\",\"authors\":[1],\"year\":1,\"price\":1,"
        "\"bookstore_id\":\"s\",\"version\":9,\"created_at\":1,\"updated_at\":0}",
        "{\"id\":\"b\",\"isbn\":null,\"title\":\"t\",\"authors\":[],\"year\":1,\"price\":\"1\","
        "\"bookstore_id\":\"s\",\"version\":9,\"created_at\":1,\"updated_at\":0}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        ok(book_from_json(&a, refused[i], strlen(refused[i]), &b2, &e) == -1 &&
               e.code == ERR_INTERNAL,
           "wrong book JSON %zu refused: %s", i, e.msg);
    }
    static const char *fruit_own =
        "{\"id\":\"x\",\"kind\":\"APPLE\",\"breed\":\"Gala\",\"size\":7,\"colour\":\"red\","
        "\"acidity\":3.0100000000000002,\"version\":1,\"created_at\":5,\"updated_at\":6}";
    ok(fruit_from_json(&a, fruit_own, strlen(fruit_own), &f2, &e) == 0 && f2.kind == FRUIT_APPLE &&
           f2.size == 7 && strcmp(f2.colour, "red") == 0 && f2.acidity == 3.0100000000000002,
       "fruit JSON read directly: %s", e.msg);
    ok(fruit_from_json(&a, "{\"id\":\"x\",\"kind\":\"PEAR\"}", 26, &f2, &e) == -1,
       "unknown fruit kind refused: %s", e.msg);

    /* BSON round trip */
    b = sample_book();
    bson_t doc = BSON_INITIALIZER;
    book_to_bson(&b, &doc);
    char *rel = bson_as_relaxed_extended_json(&doc, NULL);
    ok(strstr(rel, "\"_id\" : \"65f0c0ffee0000000000abcd\"") && strstr(rel, "\"$date\""),
       "book BSON: %s", rel);
    bson_free(rel);
    ok(book_from_bson(&a, &doc, &b2, &e) == 0, "book BSON parses back");
    buf_reset(&j);
    buf_reset(&j2);
    book_to_json(&b, &j);
    book_to_json(&b2, &j2);
    check_str(j2.data, j.data, "book BSON round trip");
    bson_destroy(&doc);

    /* int32 version / year written by other tools read as int64 */
    bson_t d2 = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&d2, "_id", "i");
    BSON_APPEND_UTF8(&d2, "name", "N");
    BSON_APPEND_UTF8(&d2, "name_key", "n");
    BSON_APPEND_INT32(&d2, "version", 7);
    BSON_APPEND_DATE_TIME(&d2, "created_at", 1);
    BSON_APPEND_DATE_TIME(&d2, "updated_at", 2);
    BSON_APPEND_UTF8(&d2, "deleting", "x");
    ok(bookstore_from_bson(&a, &d2, &s, &e) == 0 && s.version == 7 && s.city == NULL,
       "int32 version read, unknown fields ignored");
    bson_destroy(&d2);
    bson_t d3 = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&d3, "_id", "i");
    ok(bookstore_from_bson(&a, &d3, &s, &e) == -1 && strstr(e.msg, "lacks name"),
       "incomplete document refused: %s", e.msg);
    bson_destroy(&d3);

    /* patches */
    b = (book_t){.title = "New", .isbn = NULL, .has_year = true, .year = 2001};
    bson_t set = BSON_INITIALIZER, unset = BSON_INITIALIZER;
    book_patch_append(&b,
                      MODEL_BIT(BOOK_F_TITLE) | MODEL_BIT(BOOK_F_ISBN) | MODEL_BIT(BOOK_F_YEAR) |
                          MODEL_BIT(BOOK_F_ID),
                      &set, &unset);
    char *js = bson_as_relaxed_extended_json(&set, NULL),
         *ju = bson_as_relaxed_extended_json(&unset, NULL);
    check_str(js, "{ \"title\" : \"New\", \"year\" : 2001 }", "patch $set");
    check_str(ju, "{ \"isbn\" : \"\" }", "patch $unset");
    bson_free(js);
    bson_free(ju);
    bson_destroy(&set);
    bson_destroy(&unset);

    buf_free(&j);
    buf_free(&j2);
    arena_destroy(&a);
    return tap_done();
}
