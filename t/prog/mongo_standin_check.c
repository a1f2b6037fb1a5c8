/*
 * mongo_standin_check — what oponn needs from its MongoDB endpoint, checked
 * through libmongoc and printed as TAP. Driven by t/05-mongo-standin.t against
 * the development stand-in (etc/dev/mongo-standin.py), and meant to pass
 * unchanged against a real mongod or Atlas:
 *
 *   MONGODB_URI=mongodb://127.0.0.1:27017/ build/t/prog/mongo_standin_check
 *   ... --bench N     also time N sequential find-by-_id reads (one connection)
 *
 * Nothing here relies on stand-in-only behaviour: where a standalone mongod, a
 * replica set and the stand-in legitimately differ (transactions, collation),
 * each accepted outcome is asserted and a silently wrong one fails. Works in
 * its own database (oponn_check_<pid>), dropped at the end.
 */
#include <mongoc/mongoc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

static mongoc_client_t *check__client;
static mongoc_database_t *check__db;
static bool check__replset; /* sessions with transactions are legal */
static bool check__standin; /* buildInfo says oponnStandin */

/* A fresh, empty collection; caller destroys it. */
static mongoc_collection_t *check__coll(const char *name)
{
    mongoc_collection_t *c = mongoc_database_get_collection(check__db, name);
    bson_error_t e = {0};
    mongoc_collection_drop(c, &e); /* "ns not found" is fine */
    return c;
}

static int64_t check__int(const bson_t *doc, const char *path)
{
    bson_iter_t it;
    if (!doc || !bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, path, &it))
        return -999;
    return bson_iter_as_int64(&it);
}

static const char *check__str(const bson_t *doc, const char *path)
{
    bson_iter_t it;
    if (!doc || !bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, path, &it) ||
        !BSON_ITER_HOLDS_UTF8(&it))
        return NULL;
    return bson_iter_utf8(&it, NULL);
}

/* Runs filter on coll and returns the number of documents; *err gets the
 * cursor error (code 0 when none). */
static int check__find_count(mongoc_collection_t *c, const bson_t *filter, const bson_t *opts,
                             bson_error_t *err)
{
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, filter, opts, NULL);
    const bson_t *d;
    int n = 0;
    while (mongoc_cursor_next(cur, &d)) n++;
    memset(err, 0, sizeof *err);
    mongoc_cursor_error(cur, err);
    mongoc_cursor_destroy(cur);
    return n;
}

static void check_crud(void)
{
    mongoc_collection_t *c = check__coll("crud");
    bson_error_t e = {0};
    bson_t reply;
    bson_t *doc = BCON_NEW("_id", BCON_INT32(1), "name", "a", "n", BCON_INT32(1));
    ok(mongoc_collection_insert_one(c, doc, NULL, NULL, &e), "insert_one (%s)", e.message);
    bson_destroy(doc);

    bson_t *q = BCON_NEW("_id", BCON_INT32(1));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, q, NULL, NULL);
    const bson_t *got = NULL;
    ok(mongoc_cursor_next(cur, &got), "find by _id returns the document");
    check_str(check__str(got, "name"), "a", "found document has the inserted field");
    mongoc_cursor_destroy(cur);

    bson_t *u = BCON_NEW("$set", "{", "name", "b", "}", "$inc", "{", "n", BCON_INT32(1), "}");
    ok(mongoc_collection_update_one(c, q, u, NULL, &reply, &e), "update_one (%s)", e.message);
    check_int(check__int(&reply, "matchedCount"), 1, "update matched 1");
    check_int(check__int(&reply, "modifiedCount"), 1, "update modified 1");
    bson_destroy(&reply);
    bson_destroy(u);

    cur = mongoc_collection_find_with_opts(c, q, NULL, NULL);
    ok(mongoc_cursor_next(cur, &got), "find after update");
    check_str(check__str(got, "name"), "b", "$set applied");
    check_int(check__int(got, "n"), 2, "$inc applied");
    mongoc_cursor_destroy(cur);

    ok(mongoc_collection_delete_one(c, q, NULL, &reply, &e), "delete_one (%s)", e.message);
    check_int(check__int(&reply, "deletedCount"), 1, "deleted 1");
    bson_destroy(&reply);
    bson_t empty = BSON_INITIALIZER;
    check_int(mongoc_collection_count_documents(c, &empty, NULL, NULL, NULL, &e), 0,
              "collection empty after delete");
    bson_destroy(q);
    mongoc_collection_destroy(c);
}

static void check_find_and_modify(void)
{
    mongoc_collection_t *c = check__coll("fam");
    bson_error_t e = {0};
    bson_t reply;
    bson_t *doc = BCON_NEW("_id", "k", "v", BCON_INT32(1));
    mongoc_collection_insert_one(c, doc, NULL, NULL, &e);
    bson_destroy(doc);

    bson_t *q = BCON_NEW("_id", "k");
    bson_t *u = BCON_NEW("$inc", "{", "v", BCON_INT32(1), "}");
    ok(mongoc_collection_find_and_modify(c, q, NULL, u, NULL, false, false, true, &reply, &e),
       "findAndModify new:true (%s)", e.message);
    check_int(check__int(&reply, "value.v"), 2, "findAndModify returns the new document");
    bson_destroy(&reply);
    bson_destroy(q);
    bson_destroy(u);

    q = BCON_NEW("_id", "k2");
    u = BCON_NEW("$set", "{", "v", BCON_INT32(5), "}");
    ok(mongoc_collection_find_and_modify(c, q, NULL, u, NULL, false, true, true, &reply, &e),
       "findAndModify upsert (%s)", e.message);
    check_int(check__int(&reply, "value.v"), 5, "upserted document returned");
    check_str(check__str(&reply, "lastErrorObject.upserted"), "k2", "lastErrorObject.upserted");
    bson_destroy(&reply);
    bson_destroy(q);
    bson_destroy(u);
    mongoc_collection_destroy(c);
}

static void check_unique_index(void)
{
    mongoc_collection_t *c = check__coll("uniq");
    bson_error_t e = {0};
    bson_t *cmd =
        BCON_NEW("createIndexes", "uniq", "indexes", "[", "{", "key", "{", "email", BCON_INT32(1),
                 "}", "name", "email_1", "unique", BCON_BOOL(true), "}", "{", "key", "{", "a",
                 BCON_INT32(1), "b", BCON_INT32(-1), "}", "name", "a_1_b_-1", "}", "]");
    ok(mongoc_collection_write_command_with_opts(c, cmd, NULL, NULL, &e),
       "createIndexes unique + compound (%s)", e.message);
    bson_destroy(cmd);

    bson_t *d1 = BCON_NEW("email", "x@example.org");
    bson_t *d2 = BCON_NEW("email", "x@example.org");
    ok(mongoc_collection_insert_one(c, d1, NULL, NULL, &e), "first insert (%s)", e.message);
    ok(!mongoc_collection_insert_one(c, d2, NULL, NULL, &e), "duplicate insert fails");
    check_int(e.code, 11000, "duplicate key -> code 11000");
    ok(strstr(e.message, "email_1") != NULL, "message names the index: %s", e.message);
    bson_destroy(d1);
    bson_destroy(d2);

    mongoc_cursor_t *cur = mongoc_collection_find_indexes_with_opts(c, NULL);
    const bson_t *ix;
    int n = 0;
    while (mongoc_cursor_next(cur, &ix)) n++;
    mongoc_cursor_destroy(cur);
    check_int(n, 3, "listIndexes: _id_, email_1, a_1_b_-1");
    mongoc_collection_destroy(c);
}

static void check_in_sort_getmore(void)
{
    mongoc_collection_t *c = check__coll("many");
    bson_error_t e = {0};
    enum { N = 500 };
    bson_t *docs[N];
    for (int i = 0; i < N; i++) docs[i] = BCON_NEW("_id", BCON_INT32(i), "g", BCON_INT32(i % 5));
    ok(mongoc_collection_insert_many(c, (const bson_t **)docs, N, NULL, NULL, &e),
       "insert_many %d (%s)", N, e.message);
    for (int i = 0; i < N; i++) bson_destroy(docs[i]);

    bson_t *f = BCON_NEW("g", "{", "$in", "[", BCON_INT32(1), BCON_INT32(3), "]", "}");
    bson_t *o = BCON_NEW("sort", "{", "_id", BCON_INT32(-1), "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, f, o, NULL);
    const bson_t *d;
    int n = 0, prev = N, ordered = 1;
    while (mongoc_cursor_next(cur, &d)) {
        int id = (int)check__int(d, "_id");
        ordered &= id < prev;
        prev = id;
        n++;
    }
    ok(!mongoc_cursor_error(cur, &e), "cursor without error (%s)", e.message);
    mongoc_cursor_destroy(cur);
    check_int(n, 200, "$in matches 200 (> one 101-document batch: getMore)");
    ok(ordered, "sorted by _id descending across batches");
    bson_destroy(o);

    o = BCON_NEW("batchSize", BCON_INT32(7), "limit", BCON_INT64(150), "skip", BCON_INT64(5));
    check_int(check__find_count(c, f, o, &e), 150, "batchSize 7 + skip + limit 150");
    bson_destroy(o);
    bson_destroy(f);
    mongoc_collection_destroy(c);
}

static void check_bulk_upserts(void)
{
    mongoc_collection_t *c = check__coll("bulk");
    bson_error_t e = {0};
    bson_t reply;
    bson_t *d = BCON_NEW("_id", BCON_INT32(1), "x", BCON_INT32(0));
    mongoc_collection_insert_one(c, d, NULL, NULL, &e);
    bson_destroy(d);

    mongoc_bulk_operation_t *b = mongoc_collection_create_bulk_operation_with_opts(c, NULL);
    bson_t *up = BCON_NEW("upsert", BCON_BOOL(true));
    bson_t *q1 = BCON_NEW("_id", BCON_INT32(1)), *q2 = BCON_NEW("_id", BCON_INT32(2));
    bson_t *q3 = BCON_NEW("_id", BCON_INT32(3));
    bson_t *set = BCON_NEW("$set", "{", "x", BCON_INT32(9), "}");
    bson_t *rep = BCON_NEW("x", BCON_INT32(3));
    bson_t *ins = BCON_NEW("_id", BCON_INT32(4));
    ok(mongoc_bulk_operation_update_one_with_opts(b, q1, set, up, &e), "bulk: update existing");
    mongoc_bulk_operation_update_one_with_opts(b, q2, set, up, &e);
    mongoc_bulk_operation_replace_one_with_opts(b, q3, rep, up, &e);
    mongoc_bulk_operation_insert_with_opts(b, ins, NULL, &e);
    ok(mongoc_bulk_operation_execute(b, &reply, &e), "bulk execute (%s)", e.message);
    check_int(check__int(&reply, "nInserted"), 1, "bulk nInserted");
    check_int(check__int(&reply, "nMatched"), 1, "bulk nMatched");
    check_int(check__int(&reply, "nModified"), 1, "bulk nModified");
    check_int(check__int(&reply, "nUpserted"), 2, "bulk nUpserted");
    bson_destroy(&reply);
    mongoc_bulk_operation_destroy(b);
    bson_t *all = bson_new();
    check_int(mongoc_collection_count_documents(c, all, NULL, NULL, NULL, &e), 4,
              "4 documents after bulk");
    bson_t *x9 = BCON_NEW("x", BCON_INT32(9));
    check_int(mongoc_collection_count_documents(c, x9, NULL, NULL, NULL, &e), 2,
              "both upserts applied $set");
    bson_destroy(x9);
    bson_destroy(all);
    bson_destroy(up), bson_destroy(q1), bson_destroy(q2), bson_destroy(q3);
    bson_destroy(set), bson_destroy(rep), bson_destroy(ins);
    mongoc_collection_destroy(c);
}

static void check_aggregate(void)
{
    mongoc_collection_t *authors = check__coll("authors"), *books = check__coll("books");
    bson_error_t e = {0};
    const char *names[] = {"Ann", "Bob"};
    for (int i = 0; i < 2; i++) {
        bson_t *d = BCON_NEW("_id", BCON_INT32(i + 1), "name", names[i]);
        mongoc_collection_insert_one(authors, d, NULL, NULL, &e);
        bson_destroy(d);
    }
    int books_author[] = {1, 1, 2, 1}, pages[] = {100, 50, 300, 10};
    for (int i = 0; i < 4; i++) {
        bson_t *d = BCON_NEW("_id", BCON_INT32(10 + i), "author", BCON_INT32(books_author[i]),
                             "pages", BCON_INT32(pages[i]));
        mongoc_collection_insert_one(books, d, NULL, NULL, &e);
        bson_destroy(d);
    }
    bson_t *p = BCON_NEW("pipeline", "[", "{", "$match", "{", "pages", "{", "$gte", BCON_INT32(20),
                         "}", "}", "}", "{", "$lookup", "{", "from", "authors", "localField",
                         "author", "foreignField", "_id", "as", "a", "}", "}", "{", "$unwind", "$a",
                         "}", "{", "$group", "{", "_id", "$a.name", "total", "{", "$sum", "$pages",
                         "}", "titles", "{", "$push", "$_id", "}", "first", "{", "$first", "$_id",
                         "}", "}", "}", "{", "$sort", "{", "_id", BCON_INT32(1), "}", "}", "]");
    mongoc_cursor_t *cur = mongoc_collection_aggregate(books, MONGOC_QUERY_NONE, p, NULL, NULL);
    const bson_t *d;
    int n = 0;
    while (mongoc_cursor_next(cur, &d)) {
        if (n == 0) {
            check_str(check__str(d, "_id"), "Ann", "group 1 is Ann (sorted)");
            check_int(check__int(d, "total"), 150, "Ann: $sum of pages over $match");
        } else if (n == 1) {
            check_str(check__str(d, "_id"), "Bob", "group 2 is Bob");
            check_int(check__int(d, "total"), 300, "Bob: $sum of pages");
        }
        n++;
    }
    ok(!mongoc_cursor_error(cur, &e), "aggregate without error (%s)", e.message);
    check_int(n, 2, "$match/$lookup/$unwind/$group gives 2 groups");
    mongoc_cursor_destroy(cur);
    bson_destroy(p);

    bson_t *f = BCON_NEW("author", BCON_INT32(1));
    check_int(mongoc_collection_count_documents(books, f, NULL, NULL, NULL, &e), 3,
              "count_documents (an aggregate) = 3");
    bson_destroy(f);
    mongoc_collection_destroy(authors);
    mongoc_collection_destroy(books);
}

/* A standalone mongod (and the stand-in) refuses transaction numbers with
 * code 20; a replica set must commit. */
static void check_transactions(void)
{
    mongoc_collection_t *c = check__coll("txn");
    bson_error_t e = {0};
    bson_t opts = BSON_INITIALIZER;
    mongoc_client_session_t *s = mongoc_client_start_session(check__client, NULL, &e);
    ok(s != NULL, "start session (%s)", e.message);
    if (!s) return;
    bool started = mongoc_client_session_start_transaction(s, NULL, &e);
    bool ins = false;
    if (started) {
        mongoc_client_session_append(s, &opts, NULL);
        bson_t *d = BCON_NEW("_id", BCON_INT32(1));
        ins = mongoc_collection_insert_one(c, d, &opts, NULL, &e);
        bson_destroy(d);
    }
    if (check__replset) {
        ok(started && ins && mongoc_client_session_commit_transaction(s, NULL, &e),
           "replica set: transaction commits (%s)", e.message);
    } else {
        ok(started && !ins, "standalone: write in a transaction refused");
        check_int(e.code, 20, "txnNumber -> code 20 IllegalOperation (%s)", e.message);
        mongoc_client_session_abort_transaction(s, NULL);
    }
    bson_destroy(&opts);
    mongoc_client_session_destroy(s);
    mongoc_collection_destroy(c);
}

/* Collation must be honoured (mongod) or refused loudly (stand-in), never
 * silently ignored. */
static void check_collation(void)
{
    mongoc_collection_t *c = check__coll("coll");
    bson_error_t e = {0};
    bson_t *d = BCON_NEW("name", "Alpha");
    mongoc_collection_insert_one(c, d, NULL, NULL, &e);
    bson_destroy(d);
    bson_t *f = BCON_NEW("name", "alpha");
    bson_t *o = BCON_NEW("collation", "{", "locale", "en", "strength", BCON_INT32(2), "}");
    int n = check__find_count(c, f, o, &e);
    bool refused = e.code != 0 && strstr(e.message, "collation") != NULL;
    ok(refused || (n == 1 && e.code == 0), "collation honoured (n=%d) or refused (%d: %s)", n,
       e.code, e.code ? e.message : "-");
    if (check__standin) ok(refused, "stand-in refuses collation loudly");
    bson_destroy(f);
    bson_destroy(o);
    mongoc_collection_destroy(c);
}

static void check_unknown_command(void)
{
    bson_error_t e = {0};
    bson_t *cmd = BCON_NEW("oponnNoSuchCommand", BCON_INT32(1));
    ok(!mongoc_database_command_simple(check__db, cmd, NULL, NULL, &e), "unknown command fails");
    check_int(e.code, 59, "unknown command -> code 59 (%s)", e.message);
    bson_destroy(cmd);
}

/* N sequential find-by-_id round trips on one connection; prints reads/s. */
static void check_bench(int n)
{
    mongoc_collection_t *c = check__coll("bench");
    bson_error_t e = {0};
    for (int i = 0; i < 1000; i++) {
        bson_t *d = BCON_NEW("_id", BCON_INT32(i), "title", "some book title", "year",
                             BCON_INT32(1900 + i % 120));
        mongoc_collection_insert_one(c, d, NULL, NULL, &e);
        bson_destroy(d);
    }
    bson_t *o = BCON_NEW("limit", BCON_INT64(1));
    struct timespec t0, t1;
    int found = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        bson_t *q = BCON_NEW("_id", BCON_INT32(i % 1000));
        mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, q, o, NULL);
        const bson_t *d;
        found += mongoc_cursor_next(cur, &d);
        mongoc_cursor_destroy(cur);
        bson_destroy(q);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    check_int(found, n, "bench: every read found its document");
    tap_diag("find by _id: %d reads in %.3f s = %.0f reads/s (one connection, sequential)", n, s,
             n / s);
    bson_destroy(o);
    mongoc_collection_destroy(c);
}

static void check__topology(void)
{
    bson_t reply;
    bson_error_t e = {0};
    bson_t *cmd = BCON_NEW("hello", BCON_INT32(1));
    if (mongoc_client_command_simple(check__client, "admin", cmd, NULL, &reply, &e)) {
        const char *msg = check__str(&reply, "msg");
        check__replset = check__str(&reply, "setName") || (msg && !strcmp(msg, "isdbgrid"));
    }
    bson_destroy(&reply);
    bson_destroy(cmd);
    cmd = BCON_NEW("buildInfo", BCON_INT32(1));
    ok(mongoc_client_command_simple(check__client, "admin", cmd, NULL, &reply, &e),
       "buildInfo (%s)", e.message);
    bson_iter_t it;
    check__standin = bson_iter_init_find(&it, &reply, "oponnStandin") && bson_iter_as_bool(&it);
    tap_diag("server %s, %s%s", check__str(&reply, "version") ? check__str(&reply, "version") : "?",
             check__replset ? "replica set/mongos" : "standalone",
             check__standin ? " (oponn stand-in)" : "");
    bson_destroy(&reply);
    bson_destroy(cmd);
}

int main(int argc, char **argv)
{
    const char *uri_s = getenv("MONGODB_URI");
    int bench = argc == 3 && !strcmp(argv[1], "--bench") ? atoi(argv[2]) : 0;
    if (!uri_s || !*uri_s) {
        tap_skip_all("MONGODB_URI not set");
        return 0;
    }
    mongoc_init();
    bson_error_t e = {0};
    mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_s, &e);
    if (!uri) {
        printf("Bail out! bad MONGODB_URI: %s\n", e.message);
        return 1;
    }
    check__client = mongoc_client_new_from_uri(uri);
    mongoc_client_set_error_api(check__client, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_set_appname(check__client, "oponn-mongo-check");
    bson_t *ping = BCON_NEW("ping", BCON_INT32(1));
    if (!mongoc_client_command_simple(check__client, "admin", ping, NULL, NULL, &e)) {
        printf("Bail out! cannot reach MongoDB at %s: %s\n", uri_s, e.message);
        return 1;
    }
    bson_destroy(ping);
    char dbname[64];
    snprintf(dbname, sizeof dbname, "oponn_check_%ld", (long)getpid());
    check__db = mongoc_client_get_database(check__client, dbname);

    check__topology();
    check_crud();
    check_find_and_modify();
    check_unique_index();
    check_in_sort_getmore();
    check_bulk_upserts();
    check_aggregate();
    check_transactions();
    check_collation();
    check_unknown_command();
    if (bench > 0) check_bench(bench);

    ok(mongoc_database_drop(check__db, &e), "drop test database (%s)", e.message);
    mongoc_database_destroy(check__db);
    mongoc_client_destroy(check__client);
    mongoc_uri_destroy(uri);
    mongoc_cleanup();
    return tap_done();
}
