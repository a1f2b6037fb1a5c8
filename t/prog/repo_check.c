/*
 * t/prog/repo_check.c — the repositories (lib/repo.h) against a real MongoDB
 * endpoint (MONGODB_URI; the stand-in in tests), printing TAP lines that
 * t/20-repo.t relays.
 *
 *   repo_check all            every check below, on a migrated empty database
 *   repo_check race NAME      create bookstore NAME: prints "won <id>" (exit 0)
 *                             or "taken <code> <existing id>" (exit 1)
 *   repo_check down           MONGODB_URI points at nothing: every call UNAVAILABLE
 */
#include "cache_queue.h"
#include "model.h"
#include "repo.h"
#include "tap.h"

#include <math.h>
#include <mongoc/mongoc.h>
#include <stdlib.h>
#include <string.h>

static repo_t R;
static arena_t A;

#define check_code(rc, e, want, ...)                                                               \
    do {                                                                                           \
        int c__ok = (rc) == -1 && (e).code == (want);                                              \
        if (!ok(c__ok, __VA_ARGS__)) {                                                             \
            printf("#   rc %d, code %s (want %s): %s\n", (rc), err_code_name((e).code),            \
                   err_code_name(want), (e).msg);                                                  \
        }                                                                                          \
    } while (0)

#define check_ok(rc, e, ...)                                                                       \
    do {                                                                                           \
        if (!ok((rc) == 0, __VA_ARGS__)) printf("#   %s: %s\n", err_code_name((e).code), (e).msg); \
    } while (0)

static bookstore_t *mkstore(const char *name, const char *city)
{
    bookstore_t in = {.name = name, .city = city}, *out = NULL;
    err_t e = {0};
    if (repo_bookstore_create(&R, &in, &out, &e) != 0) printf("# mkstore %s: %s\n", name, e.msg);
    return out;
}

static book_t *mkbook(const char *title, const char *isbn, const char *store)
{
    static const char *authors[] = {"A. Author"};
    book_t in = {
        .title = title, .isbn = isbn, .authors = authors, .n_authors = 1, .bookstore_id = store};
    book_t *out = NULL;
    err_t e = {0};
    if (repo_book_create(&R, &in, &out, &e) != 0) printf("# mkbook %s: %s\n", title, e.msg);
    return out;
}

static void check_bookstores(void)
{
    err_t e = {0};
    bookstore_t *s = mkstore("The Book Nook", "Leeds"), *got;
    ok(s && s->version == 1 && strcmp(s->name_key, "the book nook") == 0, "create bookstore");
    const char *variants[] = {"the  book nook", "THE BOOK NOOK!",
                              "\xef\xbc\xb4\xef\xbd\x88\xef\xbd\x85\xe3\x80\x80\xef\xbc\xa2\xef"
                              "\xbd\x8f\xef\xbd\x8f\xef\xbd\x8b\xe3\x80\x80\xef\xbc\xae\xef\xbd"
                              "\x8f\xef\xbd\x8f\xef\xbd\x8b",
                              "the book-nook"};
    for (size_t i = 0; i < 4; i++) {
        bookstore_t in = {.name = variants[i]}, *out;
        int rc = repo_bookstore_create(&R, &in, &out, &e);
        check_code(rc, e, ERR_NAME_TAKEN, "near-duplicate %zu refused: %s", i, e.msg);
        ok(s && strcmp(R.conflict_id, s->id) == 0 && strstr(e.msg, s->id),
           "error names the existing store %s", R.conflict_id);
    }
    check_ok(repo_bookstore_by_name(&R, "  the BOOK nook ", &got, &e), e, "by name");
    ok(got && s && strcmp(got->id, s->id) == 0, "by name finds it through normalization");
    check_ok(repo_bookstore_by_name(&R, "No Such Store", &got, &e), e, "by name, absent");
    ok(got == NULL, "unknown name gives NULL");
    bookstore_t bad = {.name = "!!!"};
    bookstore_t *out;
    check_code(repo_bookstore_create(&R, &bad, &out, &e), e, ERR_BAD_INPUT,
               "punctuation-only name refused: %s", e.msg);
    bad.name = "";
    check_code(repo_bookstore_create(&R, &bad, &out, &e), e, ERR_BAD_INPUT, "empty name refused");

    /* renames re-check */
    bookstore_t *other = mkstore("Other Books", NULL);
    bookstore_t patch = {.name = "The Book-Nook"};
    check_code(repo_bookstore_update(&R, other->id, &patch, MODEL_BIT(BOOKSTORE_F_NAME), &out, &e),
               e, ERR_NAME_TAKEN, "rename onto a taken name refused");
    patch.name = "the book nook (renamed)";
    patch.city = NULL;
    check_ok(repo_bookstore_update(&R, other->id, &patch,
                                   MODEL_BIT(BOOKSTORE_F_NAME) | MODEL_BIT(BOOKSTORE_F_CITY), &out,
                                   &e),
             e, "rename");
    ok(out && out->version == 2 && strcmp(out->name_key, "the book nook renamed") == 0 &&
           out->city == NULL,
       "rename: version 2, new key");
    patch.name = "THE BOOK NOOK (RENAMED)";
    check_ok(repo_bookstore_update(&R, other->id, &patch, MODEL_BIT(BOOKSTORE_F_NAME), &out, &e), e,
             "rename to a spelling of its own name");
    ok(out && out->version == 3, "version 3");
    check_code(repo_bookstore_update(&R, "nope", &patch, MODEL_BIT(BOOKSTORE_F_NAME), &out, &e), e,
               ERR_NOT_FOUND, "update of unknown store");
    patch.name = NULL;
    check_code(repo_bookstore_update(&R, other->id, &patch, MODEL_BIT(BOOKSTORE_F_NAME), &out, &e),
               e, ERR_BAD_INPUT, "name cannot be cleared: %s", e.msg);

    /* operator-looking names are literal */
    bookstore_t *w = mkstore("$where", "{\"$gt\": \"\"}");
    ok(w && strcmp(w->name, "$where") == 0, "store named $where created");
    check_ok(repo_bookstore_by_name(&R, "$where", &got, &e), e, "find $where");
    ok(got && w && strcmp(got->id, w->id) == 0 && strcmp(got->city, "{\"$gt\": \"\"}") == 0,
       "stored and matched literally");
    check_ok(repo_bookstore_get(&R, "{\"$gt\": \"\"}", &got, &e), e, "get by operator-like id");
    ok(got == NULL, "operator-like id matches nothing");
}

static void check_books(void)
{
    err_t e = {0};
    bookstore_t *s1 = mkstore("Books One", NULL), *s2 = mkstore("Books Two", NULL);
    static const char *authors[] = {"Le Guin", "{\"$gt\": \"\"}"};
    book_t in = {.title = "{\"$gt\": \"\"}",
                 .isbn = "978-0-441-47812-5",
                 .authors = authors,
                 .n_authors = 2,
                 .has_year = true,
                 .year = 1969,
                 .has_price = true,
                 .price = 9.99,
                 .bookstore_id = s1->id};
    book_t *b, *got;
    check_ok(repo_book_create(&R, &in, &b, &e), e, "create book");
    ok(b && b->version == 1 && strcmp(b->isbn, "9780441478125") == 0 && strlen(b->id) == 24,
       "new book: version 1, ISBN normalized, 24-hex id");
    check_ok(repo_book_get(&R, b->id, &got, &e), e, "get book");
    ok(got && strcmp(got->title, "{\"$gt\": \"\"}") == 0 && got->n_authors == 2 &&
           strcmp(got->authors[1], "{\"$gt\": \"\"}") == 0 && got->price == 9.99,
       "operator-looking title and author stored literally");
    book_t *dup;
    check_code(repo_book_create(&R, &in, &dup, &e), e, ERR_BAD_INPUT, "same ISBN twice refused: %s",
               e.msg);
    ok(strstr(e.msg, b->id) != NULL, "names the book that has it");
    in.isbn = NULL;
    in.bookstore_id = "no-such-store";
    check_code(repo_book_create(&R, &in, &dup, &e), e, ERR_FK, "create into unknown store");
    in.bookstore_id = "{\"$ne\": null}";
    check_code(repo_book_create(&R, &in, &dup, &e), e, ERR_FK, "operator-looking FK is literal");
    in.bookstore_id = s1->id;
    in.has_price = true;
    in.price = NAN;
    check_code(repo_book_create(&R, &in, &dup, &e), e, ERR_BAD_INPUT, "NaN price: %s", e.msg);
    in.has_price = false;
    in.title = "";
    check_code(repo_book_create(&R, &in, &dup, &e), e, ERR_BAD_INPUT, "empty title: %s", e.msg);

    /* update */
    book_t p = {.title = "Renamed", .has_year = false};
    book_t *u;
    check_ok(
        repo_book_update(&R, b->id, &p, MODEL_BIT(BOOK_F_TITLE) | MODEL_BIT(BOOK_F_YEAR), &u, &e),
        e, "update book");
    ok(u && u->version == 2 && strcmp(u->title, "Renamed") == 0 && !u->has_year && u->has_price &&
           strcmp(u->isbn, "9780441478125") == 0,
       "update: version 2, year cleared, rest kept");
    p.isbn = "0441478123";
    check_ok(repo_book_update(&R, b->id, &p, MODEL_BIT(BOOK_F_ISBN), &u, &e), e, "change ISBN");
    book_t *b2 = mkbook("Second", "9780441478125", s1->id);
    ok(b2 != NULL, "the old ISBN is free again");
    p.isbn = "0441478123";
    check_code(repo_book_update(&R, b2->id, &p, MODEL_BIT(BOOK_F_ISBN), &u, &e), e, ERR_BAD_INPUT,
               "update onto a taken ISBN");
    p.year = 5000;
    p.has_year = true;
    check_code(repo_book_update(&R, b->id, &p, MODEL_BIT(BOOK_F_YEAR), &u, &e), e, ERR_BAD_INPUT,
               "year out of range: %s", e.msg);
    p.title = NULL;
    check_code(repo_book_update(&R, b->id, &p, MODEL_BIT(BOOK_F_TITLE), &u, &e), e, ERR_BAD_INPUT,
               "title cannot be cleared");
    check_code(repo_book_update(&R, "000000000000000000000000", &p, 0, &u, &e), e, ERR_NOT_FOUND,
               "update of unknown book");

    /* move */
    check_ok(repo_book_move(&R, b->id, s2->id, &u, &e), e, "move book");
    ok(u && strcmp(u->bookstore_id, s2->id) == 0 && u->version == 4, "moved, version 4");
    check_code(repo_book_move(&R, b->id, "gone", &u, &e), e, ERR_FK, "move to unknown store");
    check_ok(repo_book_get(&R, b->id, &got, &e), e, "get after refused move");
    ok(got && strcmp(got->bookstore_id, s2->id) == 0 && got->version == 4,
       "refused move changed nothing");
    check_code(repo_book_move(&R, "nope", s1->id, &u, &e), e, ERR_NOT_FOUND, "move unknown book");

    /* delete */
    check_ok(repo_book_delete(&R, b2->id, &e), e, "delete book");
    check_code(repo_book_delete(&R, b2->id, &e), e, ERR_NOT_FOUND, "delete twice: NOT_FOUND");

    /* get_many: input order, duplicates, unknown */
    const char *ids[] = {b->id, "unknown", b->id, "{\"$gt\": \"\"}"};
    book_t *many[4];
    uint64_t c0 = repo_store_commands(&R);
    check_ok(repo_books_get_many(&R, ids, 4, many, &e), e, "get many");
    check_int(repo_store_commands(&R) - c0, 1, "get many: one command");
    ok(many[0] && many[2] == many[0] && !many[1] && !many[3], "input order, dups, NULL unknown");
}

static void check_store_delete(void)
{
    err_t e = {0};
    bookstore_t *a = mkstore("Delete Me", NULL), *b = mkstore("Takes Books", NULL);
    book_t *bk[3];
    for (int i = 0; i < 3; i++) bk[i] = mkbook("del", NULL, a->id);
    check_code(repo_bookstore_delete(&R, a->id, NULL, &e), e, ERR_HAS_BOOKS, "has books: %s",
               e.msg);
    book_t *x;
    ok(mkbook("still open", NULL, a->id) != NULL, "a refused delete leaves the store usable");
    check_code(repo_bookstore_delete(&R, a->id, "nowhere", &e), e, ERR_FK, "reassign to unknown");
    check_code(repo_bookstore_delete(&R, a->id, a->id, &e), e, ERR_BAD_INPUT, "reassign to self");
    check_code(repo_bookstore_delete(&R, "nope", NULL, &e), e, ERR_NOT_FOUND, "delete unknown");
    check_ok(repo_bookstore_delete(&R, a->id, b->id, &e), e, "delete with reassignTo");
    bookstore_t *gone;
    repo_bookstore_get(&R, a->id, &gone, &e);
    ok(gone == NULL, "store deleted");
    repo_book_get(&R, bk[0]->id, &x, &e);
    ok(x && strcmp(x->bookstore_id, b->id) == 0 && x->version == 2, "books reassigned, version+1");
    int64_t counts[2];
    const char *ids[] = {b->id, a->id};
    check_ok(repo_bookstore_book_counts(&R, ids, 2, counts, &e), e, "book counts");
    ok(counts[0] == 4 && counts[1] == 0, "counts 4 and 0 (got %lld, %lld)", (long long)counts[0],
       (long long)counts[1]);

    /* an interrupted delete (marked, books half moved) is finished by a re-run */
    bookstore_t *c = mkstore("Interrupted", NULL);
    for (int i = 0; i < 2; i++) mkbook("half", NULL, c->id);
    bson_t q = BSON_INITIALIZER, u = BSON_INITIALIZER, s;
    BSON_APPEND_UTF8(&q, "_id", c->id);
    BSON_APPEND_DOCUMENT_BEGIN(&u, "$set", &s);
    BSON_APPEND_BOOL(&s, "deleting", true);
    bson_append_document_end(&u, &s);
    store_update_many(R.store, "bookstores", &q, &u, NULL, NULL, &e);
    bson_destroy(&q);
    bson_destroy(&u);
    check_code(repo_book_move(&R, bk[0]->id, c->id, &x, &e), e, ERR_FK,
               "no move into a store being deleted: %s", e.msg);
    check_ok(repo_bookstore_delete(&R, c->id, b->id, &e), e, "re-run finishes the delete");
    const char *ids2[] = {b->id, c->id};
    repo_bookstore_book_counts(&R, ids2, 2, counts, &e);
    ok(counts[0] == 6 && counts[1] == 0, "all books moved (%lld)", (long long)counts[0]);
    check_ok(repo_bookstore_delete(&R, b->id, NULL, &e) == -1 ? 0 : -1, e,
             "store with books refused again (HAS_BOOKS)");
}

static void check_batch(void)
{
    err_t e = {0};
    enum { NS = 50, NB = 1000 };
    bookstore_t in[NS], *stores[NS];
    char names[NS][32];
    for (int i = 0; i < NS; i++) {
        snprintf(names[i], sizeof names[i], "Batch Store %02d", i);
        in[i] = (bookstore_t){.name = names[i]};
    }
    repo_upsert_counts_t c;
    check_ok(repo_bookstores_ensure(&R, in, NS, stores, &c, &e), e, "ensure 50 stores");
    check_int(c.inserted, NS, "50 inserted");
    static book_t books[NB];
    static const char *wk[NB];
    static char titles[NB][32], keys[NB][32];
    for (int i = 0; i < NB; i++) {
        snprintf(titles[i], 32, "Batch %04d", i);
        snprintf(keys[i], 32, "/works/OL%dW", 900000 + i);
        books[i] = (book_t){.title = titles[i], .bookstore_id = stores[i % NS]->id};
        wk[i] = keys[i];
    }
    check_ok(repo_books_upsert(&R, books, wk, NB, &c, &e), e, "upsert 1000 books");
    check_int(c.inserted, NB, "1000 inserted");
    check_ok(repo_books_upsert(&R, books, wk, NB, &c, &e), e, "upsert again");
    ok(c.inserted == 0 && c.modified == 0 && c.unchanged == NB, "re-run is a no-op");

    /* their ids, via pages of 1000 over every book */
    repo_page_t pg;
    const char **ids = arena_alloc(&A, (NB + 3) * sizeof *ids);
    size_t n = 0;
    const char *after = NULL;
    do {
        check_ok(repo_bookstore_books_page(&R, stores[7]->id, 7, after, &pg, &e), e, "page");
        after = pg.end_cursor;
        n += pg.n;
    } while (pg.has_next && n < 100);
    check_int(n, NB / NS, "store 7's books paged 7 at a time: 20");

    /* a book with a dangling FK, written behind the repository's back */
    bson_t doc = BSON_INITIALIZER;
    book_t dangling = {
        .id = "dangling-book", .title = "Orphan", .bookstore_id = "deleted-store", .version = 1};
    book_to_bson(&dangling, &doc);
    BSON_APPEND_UTF8(&doc, "nkey", "id:dangling-book");
    store_insert_one(R.store, "books", &doc, NULL, &e);
    bson_destroy(&doc);

    /* all book ids (in reverse id order, to check input order) */
    repo_page_t all;
    n = 0;
    check_ok(repo_bookstores_page(&R, 1000, NULL, &all, &e), e, "bookstores page");
    ok(all.n >= NS, "bookstores page has the stores (%zu)", all.n);
    for (int i = 0; i < NS; i++) {
        after = NULL;
        do {
            repo_bookstore_books_page(&R, stores[i]->id, 1000, after, &pg, &e);
            for (size_t j = 0; j < pg.n; j++) ids[n++] = ((book_t *)pg.items[j])->id;
            after = pg.end_cursor;
        } while (pg.has_next);
    }
    check_int(n, NB, "1000 book ids collected");
    for (size_t i = 0; i < n / 2; i++) {
        const char *t = ids[i];
        ids[i] = ids[n - 1 - i];
        ids[n - 1 - i] = t;
    }
    ids[n++] = "no-such-book";
    ids[n++] = ids[0]; /* duplicate */
    ids[n++] = "dangling-book";
    repo_book_store_t *res = arena_alloc(&A, n * sizeof *res);
    repo_begin(&R);
    check_ok(repo_bookstores_for_books(&R, ids, n, res, &e), e, "bookstores_for_books(1003 ids)");
    check_int(repo_store_commands(&R), 2,
              "exactly 2 MongoDB commands for 1,003 ids over 50 stores");
    int right = 0;
    for (size_t i = 0; i < NB; i++) {
        if (res[i].book && res[i].bookstore && strcmp(res[i].book_id, ids[i]) == 0 &&
            strcmp(res[i].book->id, ids[i]) == 0 &&
            strcmp(res[i].bookstore->id, res[i].book->bookstore_id) == 0 && res[i].code == ERR_OK)
            right++;
    }
    check_int(right, NB, "every known book has its own store, in input order");
    ok(res[NB].book == NULL && res[NB].bookstore == NULL && res[NB].code == ERR_NOT_FOUND,
       "unknown book: NOT_FOUND: %s", res[NB].message ? res[NB].message : "");
    ok(res[NB + 1].book && res[NB + 1].bookstore == res[0].bookstore,
       "duplicate id answered twice");
    ok(res[NB + 2].book && res[NB + 2].bookstore == NULL && res[NB + 2].code == ERR_FK,
       "dangling FK: FOREIGN_KEY_VIOLATION: %s", res[NB + 2].message ? res[NB + 2].message : "");
    repo_begin(&R);
    check_ok(repo_bookstores_for_books(&R, NULL, 0, res, &e), e, "empty input");
    check_int(repo_store_commands(&R), 0, "no command for no ids");

    int64_t counts[NS];
    const char *sids[NS];
    for (int i = 0; i < NS; i++) sids[i] = stores[i]->id;
    repo_begin(&R);
    check_ok(repo_bookstore_book_counts(&R, sids, NS, counts, &e), e, "counts of 50 stores");
    int twenty = 0;
    for (int i = 0; i < NS; i++) twenty += counts[i] == NB / NS;
    ok(twenty == NS && repo_store_commands(&R) == 1, "each has 20 books, one command");
    check_code(repo_bookstore_books_page(&R, stores[0]->id, 5, "garbage!", &pg, &e), e,
               ERR_BAD_INPUT, "bad cursor refused");
    check_code(repo_bookstores_page(&R, 5000, NULL, &pg, &e), e, ERR_BAD_INPUT, "first too big");
}

static void check_fruit(void)
{
    err_t e = {0};
    const char *breeds[] = {"Cox", "Braeburn", "Valencia", "Navel", "Cox", "Gala"};
    fruit_t *made[6];
    for (int i = 0; i < 6; i++) {
        fruit_t in = {.breed = breeds[i],
                      .has_size = true,
                      .size = 5 + i % 2,
                      .colour = i % 3 ? "red" : "{\"$gt\": \"\"}",
                      .has_acidity = true,
                      .acidity = 3.0 + i * 0.25};
        check_ok(
            repo_fruit_create(&R, i < 2 || i > 3 ? FRUIT_APPLE : FRUIT_ORANGE, &in, &made[i], &e),
            e, "create fruit %d", i);
    }
    fruit_t **list;
    size_t n;
    fruit_query_t q = {.by = FRUIT_BY_SIZE, .size = 5, .limit = 100};
    repo_begin(&R);
    check_ok(repo_fruit_find(&R, &q, &list, &n, &e), e, "fruit by size");
    check_int(repo_store_commands(&R), 2, "two commands (apples, oranges)");
    ok(n == 3 && strcmp(list[0]->breed, "Cox") == 0 && strcmp(list[1]->breed, "Cox") == 0 &&
           strcmp(list[0]->id, list[1]->id) < 0 && strcmp(list[2]->breed, "Valencia") == 0 &&
           list[2]->kind == FRUIT_ORANGE,
       "size 5: Cox, Cox (by id), Valencia across both tables (n=%zu)", n);
    q = (fruit_query_t){.by = FRUIT_BY_COLOUR, .colour = "{\"$gt\": \"\"}", .limit = 100};
    check_ok(repo_fruit_find(&R, &q, &list, &n, &e), e, "fruit by operator-looking colour");
    ok(n == 2, "matched literally: 2 (n=%zu)", n);
    q = (fruit_query_t){.by = FRUIT_BY_ACIDITY, .min = 3.25, .max = 4.0, .limit = 2};
    check_ok(repo_fruit_find(&R, &q, &list, &n, &e), e, "fruit by acidity, limit 2");
    ok(n == 2 && strcmp(list[0]->breed, "Braeburn") == 0 && strcmp(list[1]->breed, "Cox") == 0,
       "acidity 3.25..4.0 limit 2: Braeburn, Cox");
    for (size_t i = 0; i < n; i++) ok(fruit_query_match(&q, list[i]), "predicate agrees %zu", i);
    q.min = 5;
    check_code(repo_fruit_find(&R, &q, &list, &n, &e), e, ERR_BAD_INPUT, "min > max refused");
    q = (fruit_query_t){.by = FRUIT_BY_SIZE, .size = 5, .limit = 0};
    check_code(repo_fruit_find(&R, &q, &list, &n, &e), e, ERR_BAD_INPUT, "limit 0 refused");

    fruit_t p = {.has_size = true, .size = 9, .colour = "green"};
    fruit_t *u;
    check_ok(repo_fruit_update(&R, FRUIT_ORANGE, made[2]->id, &p,
                               MODEL_BIT(FRUIT_F_SIZE) | MODEL_BIT(FRUIT_F_COLOUR), &u, &e),
             e, "update orange");
    ok(u && u->size == 9 && strcmp(u->colour, "green") == 0 && u->version == 2 &&
           u->kind == FRUIT_ORANGE,
       "orange updated, version 2");
    check_code(repo_fruit_update(&R, FRUIT_APPLE, made[2]->id, &p, MODEL_BIT(FRUIT_F_SIZE), &u, &e),
               e, ERR_NOT_FOUND, "an orange is not an apple");
    p.size = 0;
    check_code(
        repo_fruit_update(&R, FRUIT_ORANGE, made[2]->id, &p, MODEL_BIT(FRUIT_F_SIZE), &u, &e), e,
        ERR_BAD_INPUT, "size 0 refused: %s", e.msg);
    fruit_t bad = {.breed = "X",
                   .has_size = true,
                   .size = 3,
                   .colour = "red",
                   .has_acidity = true,
                   .acidity = INFINITY};
    check_code(repo_fruit_create(&R, FRUIT_APPLE, &bad, &u, &e), e, ERR_BAD_INPUT,
               "infinite acidity refused");
    fruit_t *g;
    check_ok(repo_fruit_get(&R, FRUIT_ORANGE, made[2]->id, &g, &e), e, "get orange");
    ok(g && g->version == 2, "got it");
    check_ok(repo_fruit_delete(&R, FRUIT_ORANGE, made[2]->id, &e), e, "delete orange");
    check_code(repo_fruit_delete(&R, FRUIT_ORANGE, made[2]->id, &e), e, ERR_NOT_FOUND,
               "delete again");
}

/* The write-behind applier (lib/repo_queue.c) on a batch: folding, inserts
 * and deletes, an unreadable write and a stale one left to the per-write
 * path without costing the good ones. */
static void q_log(const char *line)
{
    printf("# %s\n", line);
}

static arena_t QA; /* the writes' text: the applier resets R's arena */

static const char *q_apple(const char *id, int64_t v, int64_t size)
{
    fruit_t f = {.id = id,
                 .kind = FRUIT_APPLE,
                 .breed = "Queue",
                 .has_size = true,
                 .size = size,
                 .colour = "red",
                 .has_acidity = true,
                 .acidity = 3.5,
                 .version = v,
                 .created_at = 1,
                 .updated_at = v};
    buf_t b = BUF_INIT;
    fruit_to_json(&f, &b);
    const char *json = arena_strdup(&QA, b.data);
    buf_free(&b);
    return json;
}

static void check_queue_batch(void)
{
    err_t e = {0};
    arena_init(&QA, 0);
    err_log_set(q_log);
    const char *bad = "{\"id\":\"qc\",";
    cache_write_t ws[] = {
        {.id = "qa", .kind = CACHE_APPLES, .version = 1, .op = CACHE_WRITE_PUT},
        {.id = "qb", .kind = CACHE_APPLES, .version = 1, .op = CACHE_WRITE_PUT},
        {.id = "qa", .kind = CACHE_APPLES, .version = 2, .op = CACHE_WRITE_PUT},
        {.id = "qc", .kind = CACHE_APPLES, .version = 1, .op = CACHE_WRITE_PUT, .json = bad},
        {.id = "qb", .kind = CACHE_APPLES, .version = 2, .op = CACHE_WRITE_DEL, .json = ""},
        {.id = "qd", .kind = CACHE_APPLES, .version = 1, .op = CACHE_WRITE_PUT},
        {.id = "qa", .kind = CACHE_APPLES, .version = 3, .op = CACHE_WRITE_PUT},
    };
    ws[0].json = q_apple("qa", 1, 1);
    ws[1].json = q_apple("qb", 1, 1);
    ws[2].json = q_apple("qa", 2, 2);
    ws[5].json = q_apple("qd", 1, 4);
    ws[6].json = q_apple("qa", 3, 3);
    unsigned char okv[7] = {0};
    repo_begin(&R);
    repo_queue_apply_batch(&R, ws, 7, okv);
    uint64_t cmds = repo_store_commands(&R);
    ok(okv[0] && okv[1] && okv[2] && !okv[3] && okv[4] && okv[5] && okv[6],
       "batch: every write applied but the unreadable one (%d%d%d%d%d%d%d)", okv[0], okv[1], okv[2],
       okv[3], okv[4], okv[5], okv[6]);
    ok(cmds <= 3, "one bulk write: %llu commands for 7 writes (3 folded into 1, 2 into 1)",
       (unsigned long long)cmds);
    fruit_t *f;
    check_ok(repo_fruit_get(&R, FRUIT_APPLE, "qa", &f, &e), e, "qa read");
    ok(f && f->version == 3 && f->size == 3 && strcmp(f->breed, "Queue") == 0,
       "qa holds its newest write (v3) only");
    ok(repo_fruit_get(&R, FRUIT_APPLE, "qb", &f, &e) == 0 && f == NULL,
       "qb (put then delete in one batch) absent");
    check_ok(repo_fruit_get(&R, FRUIT_APPLE, "qd", &f, &e), e, "qd read");
    ok(f && f->version == 1 && f->size == 4, "qd as written");
    ok(repo_queue_apply(&R, &ws[3], &e) == -1 && e.code != ERR_UNAVAILABLE,
       "the unreadable write fails alone too (towards its dead letter)");

    /* A stale write (MongoDB has v3) in the middle: the ordered bulk stops
     * there; the write before it is applied, the rest left to the per-write
     * path, where the stale one is a no-op and the next one applies. */
    cache_write_t w2[] = {
        {.id = "qe", .kind = CACHE_APPLES, .version = 1, .op = CACHE_WRITE_PUT},
        {.id = "qa", .kind = CACHE_APPLES, .version = 2, .op = CACHE_WRITE_PUT},
        {.id = "qd", .kind = CACHE_APPLES, .version = 2, .op = CACHE_WRITE_PUT},
    };
    w2[0].json = q_apple("qe", 1, 5);
    w2[1].json = q_apple("qa", 2, 9);
    w2[2].json = q_apple("qd", 2, 6);
    unsigned char ok2[3] = {0};
    repo_queue_apply_batch(&R, w2, 3, ok2);
    ok(ok2[0] && !ok2[1], "stale write: the write before it applied, it is left over");
    int left = 0;
    for (int i = 0; i < 3; i++) {
        if (!ok2[i] && repo_queue_apply(&R, &w2[i], &e) != 0) left++;
    }
    ok(left == 0, "the left-over writes apply one at a time");
    check_ok(repo_fruit_get(&R, FRUIT_APPLE, "qa", &f, &e), e, "qa read");
    ok(f && f->version == 3 && f->size == 3, "the stale write changed nothing");
    check_ok(repo_fruit_get(&R, FRUIT_APPLE, "qd", &f, &e), e, "qd read");
    ok(f && f->version == 2 && f->size == 6, "qd at v2");
    check_ok(repo_fruit_get(&R, FRUIT_APPLE, "qe", &f, &e), e, "qe read");
    ok(f && f->version == 1 && f->size == 5, "qe inserted");
    arena_destroy(&QA);
}

int main(int argc, char **argv)
{
    mongoc_init();
    cfg_t cfg;
    err_t e = {0};
    store_t *s = NULL;
    if (cfg_load(&cfg, &e) != 0 || store_open(&s, &cfg, &e) != 0) {
        printf("Bail out! %s\n", e.msg);
        return 1;
    }
    arena_init(&A, 0);
    repo_init(&R, s, &A);
    int rc = 0;
    if (argc == 3 && strcmp(argv[1], "race") == 0) {
        bookstore_t in = {.name = argv[2]}, *out;
        if (repo_bookstore_create(&R, &in, &out, &e) == 0) {
            printf("won %s\n", out->id);
        } else {
            printf("taken %s %s\n", err_code_name(e.code), R.conflict_id);
            rc = 1;
        }
    } else if (argc == 2 && strcmp(argv[1], "down") == 0) {
        book_t *b;
        bookstore_t in = {.name = "Down"}, *out;
        repo_book_store_t res[1];
        const char *id = "x";
        check_code(repo_book_get(&R, "x", &b, &e), e, ERR_UNAVAILABLE, "read: %s", e.msg);
        check_code(repo_bookstore_create(&R, &in, &out, &e), e, ERR_UNAVAILABLE, "write: %s",
                   e.msg);
        check_code(repo_bookstores_for_books(&R, &id, 1, res, &e), e, ERR_UNAVAILABLE,
                   "batch lookup: %s", e.msg);
        ok(strstr(e.msg, "MongoDB unreachable") != NULL, "the message says MongoDB is unreachable");
        rc = tap_done();
    } else {
        check_bookstores();
        check_books();
        check_store_delete();
        check_batch();
        check_fruit();
        check_queue_batch();
        rc = tap_done();
    }
    arena_destroy(&A);
    store_close(s);
    mongoc_cleanup();
    return rc;
}
