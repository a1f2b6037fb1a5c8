/*
 * store.c — libmongoc client, command monitoring, errors (see store.h).
 */
#include "store.h"

#include "metrics.h"

#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store {
    mongoc_client_t *client;
    char *db_name;
    uint64_t commands;
    uint64_t failures;
};

static void store__on_started(const mongoc_apm_command_started_t *ev)
{
    store_t *s = mongoc_apm_command_started_get_context(ev);
    s->commands++;
    metrics_inc(METRIC_MONGO_COMMANDS);
}

static void store__on_failed(const mongoc_apm_command_failed_t *ev)
{
    store_t *s = mongoc_apm_command_failed_get_context(ev);
    s->failures++;
    metrics_inc(METRIC_MONGO_FAILURES);
}

int store_open(store_t **out, const cfg_t *cfg, err_t *e)
{
    return store_open_capped(out, cfg, 0, e);
}

/* Sets a timeout option of the URI: ours unless the URI sets its own, and
 * never above cap_ms (when cap_ms > 0), whoever set it. */
static void store__timeout(mongoc_uri_t *uri, const char *opt, long long ours, long long cap_ms)
{
    int32_t v = mongoc_uri_has_option(uri, opt)
                    ? mongoc_uri_get_option_as_int32(uri, opt, (int32_t)ours)
                    : (int32_t)ours;
    if (cap_ms > 0 && (v <= 0 || v > cap_ms)) v = (int32_t)cap_ms;
    mongoc_uri_set_option_as_int32(uri, opt, v);
}

int store_open_capped(store_t **out, const cfg_t *cfg, long long cap_ms, err_t *e)
{
    *out = NULL;
    if (cfg->mongodb_uri == NULL) {
        return err_set(e, ERR_UNAVAILABLE,
                       "MONGODB_URI is not set: point it at Atlas or a mongod (`make run` "
                       "starts a local one)");
    }
    bson_error_t berr;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(cfg->mongodb_uri, &berr);
    if (uri == NULL) {
        /* Never echo the URI: it may hold a password. */
        return err_set(e, ERR_BAD_INPUT, "MONGODB_URI is not a valid MongoDB URI: %s",
                       berr.message);
    }
    /* Our timeouts unless the URI sets its own; a worker caps them at its
     * request deadline so no single MongoDB call outlives a request. */
    store__timeout(uri, MONGOC_URI_CONNECTTIMEOUTMS, cfg->mongo_connect_timeout_ms, cap_ms);
    store__timeout(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, cfg->mongo_selection_timeout_ms,
                   cap_ms);
    store__timeout(uri, MONGOC_URI_SOCKETTIMEOUTMS, cfg->mongo_socket_timeout_ms, cap_ms);
    mongoc_uri_set_appname(uri, "oponn");
    mongoc_client_t *client = mongoc_client_new_from_uri_with_error(uri, &berr);
    mongoc_uri_destroy(uri);
    if (client == NULL) {
        return err_set(e, ERR_UNAVAILABLE, "cannot create a MongoDB client: %s", berr.message);
    }
    mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);

    store_t *s = calloc(1, sizeof *s);
    if (s == NULL) abort();
    s->client = client;
    s->db_name = strdup(cfg->mongodb_db);
    if (s->db_name == NULL) abort();
    mongoc_apm_callbacks_t *cbs = mongoc_apm_callbacks_new();
    mongoc_apm_set_command_started_cb(cbs, store__on_started);
    mongoc_apm_set_command_failed_cb(cbs, store__on_failed);
    mongoc_client_set_apm_callbacks(client, cbs, s);
    mongoc_apm_callbacks_destroy(cbs);
    *out = s;
    return 0;
}

void store_close(store_t *s)
{
    if (s == NULL) return;
    mongoc_client_destroy(s->client);
    free(s->db_name);
    free(s);
}

int store_ping(store_t *s, err_t *e)
{
    bson_t cmd = BSON_INITIALIZER;
    BSON_APPEND_INT32(&cmd, "ping", 1);
    bson_error_t berr;
    bool ok = mongoc_client_command_simple(s->client, s->db_name, &cmd, NULL, NULL, &berr);
    bson_destroy(&cmd);
    if (!ok) return err_set(e, ERR_UNAVAILABLE, "MongoDB unreachable: %s", berr.message);
    return 0;
}

uint64_t store_commands(const store_t *s)
{
    return s ? s->commands : 0;
}

/* ---- operations */

/* Server error codes that say the server is going away or changing role,
 * not that the request was wrong: a mongod shutting down (a restart, an Atlas
 * maintenance) answers InterruptedAtShutdown / ShutdownInProgress, a primary
 * stepping down NotWritablePrimary and kin. The driver specifications' "state
 * change" and "retryable" codes. The request may be retried. */
static bool store__transient_code(uint32_t code)
{
    switch (code) {
    case 6:     /* HostUnreachable */
    case 7:     /* HostNotFound */
    case 89:    /* NetworkTimeout */
    case 91:    /* ShutdownInProgress */
    case 189:   /* PrimarySteppedDown */
    case 262:   /* ExceededTimeLimit */
    case 9001:  /* SocketException */
    case 10058: /* LegacyNotPrimary */
    case 10107: /* NotWritablePrimary */
    case 11600: /* InterruptedAtShutdown */
    case 11602: /* InterruptedDueToReplStateChange */
    case 13435: /* NotPrimaryNoSecondaryOk */
    case 13436: /* NotPrimaryOrSecondary */
        return true;
    default:
        return false;
    }
}

/* Turns a libmongoc error into ours. Network and server-selection problems
 * and a server going away (store__transient_code) are UNAVAILABLE (the
 * caller may retry later); anything else is INTERNAL. */
static int store__err(err_t *e, const bson_error_t *b, const char *op, const char *coll, bool *dup)
{
    /* A socket timeout during the handshake comes in the client domain. */
    bool net =
        (b->domain == MONGOC_ERROR_CLIENT || b->domain == MONGOC_ERROR_STREAM) &&
        (b->code == MONGOC_ERROR_STREAM_NAME_RESOLUTION || b->code == MONGOC_ERROR_STREAM_SOCKET ||
         b->code == MONGOC_ERROR_STREAM_CONNECT || b->code == MONGOC_ERROR_STREAM_NOT_ESTABLISHED);
    bool going = (b->domain == MONGOC_ERROR_SERVER || b->domain == MONGOC_ERROR_WRITE_CONCERN ||
                  b->domain == MONGOC_ERROR_QUERY) &&
                 store__transient_code(b->code);
    /* libmongoc reports a failed connection handshake (hello answered ok: 0,
     * e.g. ShutdownInProgress from a server going away) as an authentication
     * error, which a wrong password also is: either way no usable MongoDB
     * behind the endpoint, as store_ping (and so /healthz) says too. */
    bool handshake =
        b->domain == MONGOC_ERROR_CLIENT && b->code == MONGOC_ERROR_CLIENT_AUTHENTICATE;
    if (net || going || handshake || b->domain == MONGOC_ERROR_SERVER_SELECTION ||
        b->domain == MONGOC_ERROR_STREAM) {
        err_set(e, ERR_UNAVAILABLE, "MongoDB unreachable during %s on %s: %s", op, coll,
                b->message);
        /* No server to send to, or no connection: nothing can have been
         * applied. (A socket error after the send is not this: the reply
         * may be what was lost.) */
        if (e) {
            e->unsent = b->domain == MONGOC_ERROR_SERVER_SELECTION || handshake ||
                        b->code == MONGOC_ERROR_STREAM_NAME_RESOLUTION ||
                        b->code == MONGOC_ERROR_STREAM_CONNECT;
        }
        return -1;
    }
    if (b->code == 11000 || b->code == 11001) {
        if (dup) *dup = true;
        return err_set(e, ERR_BAD_INPUT, "%s on %s: duplicate key: %s", op, coll, b->message);
    }
    if (b->code == 121) {
        return err_set(e, ERR_INTERNAL,
                       "%s on %s: the document failed the collection's validator (schema/%s.json): "
                       "%s",
                       op, coll, coll, b->message);
    }
    return err_set(e, ERR_INTERNAL, "MongoDB %s on %s failed (domain %u, code %u): %s", op, coll,
                   b->domain, b->code, b->message);
}

static int store__drain(mongoc_cursor_t *cur, store_doc_fn fn, void *ctx, const char *op,
                        const char *coll, err_t *e)
{
    const bson_t *doc;
    int rc = 0;
    while (rc == 0 && mongoc_cursor_next(cur, &doc)) {
        if (fn(ctx, doc, e) != 0) rc = -1;
    }
    bson_error_t berr;
    if (rc == 0 && mongoc_cursor_error(cur, &berr)) rc = store__err(e, &berr, op, coll, NULL);
    mongoc_cursor_destroy(cur);
    return rc;
}

int store_find(store_t *s, const char *coll, const bson_t *filter, const bson_t *opts,
               store_doc_fn fn, void *ctx, err_t *e)
{
    mongoc_collection_t *c = mongoc_client_get_collection(s->client, s->db_name, coll);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, filter, opts, NULL);
    int rc = store__drain(cur, fn, ctx, "find", coll, e);
    mongoc_collection_destroy(c);
    return rc;
}

int store_aggregate(store_t *s, const char *coll, const bson_t *pipeline, const bson_t *opts,
                    store_doc_fn fn, void *ctx, err_t *e)
{
    mongoc_collection_t *c = mongoc_client_get_collection(s->client, s->db_name, coll);
    mongoc_cursor_t *cur = mongoc_collection_aggregate(c, MONGOC_QUERY_NONE, pipeline, opts, NULL);
    int rc = store__drain(cur, fn, ctx, "aggregate", coll, e);
    mongoc_collection_destroy(c);
    return rc;
}

int store_count(store_t *s, const char *coll, const bson_t *filter, int64_t limit, int64_t *n,
                err_t *e)
{
    bson_t cmd = BSON_INITIALIZER, reply;
    BSON_APPEND_UTF8(&cmd, "count", coll);
    BSON_APPEND_DOCUMENT(&cmd, "query", filter);
    if (limit > 0) BSON_APPEND_INT64(&cmd, "limit", limit);
    bson_error_t berr;
    bool ok = mongoc_client_read_command_with_opts(s->client, s->db_name, &cmd, NULL, NULL, &reply,
                                                   &berr);
    bson_destroy(&cmd);
    bson_iter_t it;
    int rc = 0;
    if (!ok) {
        rc = store__err(e, &berr, "count", coll, NULL);
    } else if (bson_iter_init_find(&it, &reply, "n")) {
        *n = bson_iter_as_int64(&it);
    } else {
        rc = err_set(e, ERR_INTERNAL, "count on %s: reply without n", coll);
    }
    bson_destroy(&reply);
    return rc;
}

int store_insert_one(store_t *s, const char *coll, const bson_t *doc, bool *dup, err_t *e)
{
    mongoc_collection_t *c = mongoc_client_get_collection(s->client, s->db_name, coll);
    bson_error_t berr;
    bool ok = mongoc_collection_insert_one(c, doc, NULL, NULL, &berr);
    mongoc_collection_destroy(c);
    return ok ? 0 : store__err(e, &berr, "insert", coll, dup);
}

int store_find_and_modify(store_t *s, const char *coll, const bson_t *query, const bson_t *update,
                          bson_t *out, bool *found, bool *dup, err_t *e)
{
    *found = false;
    mongoc_collection_t *c = mongoc_client_get_collection(s->client, s->db_name, coll);
    mongoc_find_and_modify_opts_t *o = mongoc_find_and_modify_opts_new();
    if (update) {
        mongoc_find_and_modify_opts_set_update(o, update);
        mongoc_find_and_modify_opts_set_flags(o, MONGOC_FIND_AND_MODIFY_RETURN_NEW);
    } else {
        mongoc_find_and_modify_opts_set_flags(o, MONGOC_FIND_AND_MODIFY_REMOVE);
    }
    bson_t reply;
    bson_error_t berr;
    bool ok = mongoc_collection_find_and_modify_with_opts(c, query, o, &reply, &berr);
    mongoc_find_and_modify_opts_destroy(o);
    mongoc_collection_destroy(c);
    bson_init(out);
    int rc = 0;
    bson_iter_t it;
    if (!ok) {
        rc = store__err(e, &berr, "findAndModify", coll, dup);
    } else if (bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        uint32_t len;
        const uint8_t *data;
        bson_iter_document(&it, &len, &data);
        bson_t v;
        if (bson_init_static(&v, data, len)) {
            bson_concat(out, &v);
            *found = true;
        }
    }
    bson_destroy(&reply);
    return rc;
}

int store_delete_one(store_t *s, const char *coll, const bson_t *filter, int64_t *deleted, err_t *e)
{
    mongoc_collection_t *c = mongoc_client_get_collection(s->client, s->db_name, coll);
    bson_t reply;
    bson_error_t berr;
    bool ok = mongoc_collection_delete_one(c, filter, NULL, &reply, &berr);
    mongoc_collection_destroy(c);
    bson_iter_t it;
    if (ok && deleted) {
        *deleted = bson_iter_init_find(&it, &reply, "deletedCount") ? bson_iter_as_int64(&it) : 0;
    }
    bson_destroy(&reply);
    return ok ? 0 : store__err(e, &berr, "delete", coll, NULL);
}

int store_update_many(store_t *s, const char *coll, const bson_t *filter, const bson_t *update,
                      int64_t *matched, int64_t *modified, err_t *e)
{
    mongoc_collection_t *c = mongoc_client_get_collection(s->client, s->db_name, coll);
    bson_t reply;
    bson_error_t berr;
    bool ok = mongoc_collection_update_many(c, filter, update, NULL, &reply, &berr);
    mongoc_collection_destroy(c);
    bson_iter_t it;
    if (ok && matched) {
        *matched = bson_iter_init_find(&it, &reply, "matchedCount") ? bson_iter_as_int64(&it) : 0;
    }
    if (ok && modified) {
        *modified = bson_iter_init_find(&it, &reply, "modifiedCount") ? bson_iter_as_int64(&it) : 0;
    }
    bson_destroy(&reply);
    return ok ? 0 : store__err(e, &berr, "update", coll, NULL);
}

struct store_bulk {
    store_t *s;
    mongoc_collection_t *c;
    mongoc_bulk_operation_t *op;
    char *coll;
    size_t n;
};

static store_bulk_t *store__bulk_new(store_t *s, const char *coll, bool ordered)
{
    store_bulk_t *b = calloc(1, sizeof *b);
    if (b == NULL) abort();
    b->s = s;
    b->c = mongoc_client_get_collection(s->client, s->db_name, coll);
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&opts, "ordered", ordered);
    b->op = mongoc_collection_create_bulk_operation_with_opts(b->c, &opts);
    bson_destroy(&opts);
    b->coll = strdup(coll);
    if (b->coll == NULL) abort();
    return b;
}

store_bulk_t *store_bulk_new(store_t *s, const char *coll)
{
    return store__bulk_new(s, coll, false);
}

store_bulk_t *store_bulk_new_ordered(store_t *s, const char *coll)
{
    return store__bulk_new(s, coll, true);
}

void store_bulk_delete_one(store_bulk_t *b, const bson_t *filter)
{
    bson_error_t berr;
    if (!mongoc_bulk_operation_remove_one_with_opts(b->op, filter, NULL, &berr)) {
        err_log("store_bulk_delete_one: %s", berr.message);
        abort();
    }
    b->n++;
}

void store_bulk_update_one(store_bulk_t *b, const bson_t *filter, const bson_t *update, bool upsert)
{
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&opts, "upsert", upsert);
    /* Only fails on a malformed update, which is a programming error here. */
    bson_error_t berr;
    if (!mongoc_bulk_operation_update_one_with_opts(b->op, filter, update, &opts, &berr)) {
        err_log("store_bulk_update_one: %s", berr.message);
        abort();
    }
    bson_destroy(&opts);
    b->n++;
}

size_t store_bulk_size(const store_bulk_t *b)
{
    return b->n;
}

static int64_t store__reply_int(const bson_t *reply, const char *key)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, reply, key) ? bson_iter_as_int64(&it) : 0;
}

int store_bulk_run(store_bulk_t *b, store_bulk_result_t *res, bool *dup, err_t *e)
{
    int rc = 0;
    if (res) {
        memset(res, 0, sizeof *res);
        res->failed_at = -1;
    }
    if (b->n > 0) {
        bson_t reply;
        bson_error_t berr;
        uint32_t ok = mongoc_bulk_operation_execute(b->op, &reply, &berr);
        if (res) {
            res->inserted = store__reply_int(&reply, "nInserted");
            res->upserted = store__reply_int(&reply, "nUpserted");
            res->matched = store__reply_int(&reply, "nMatched");
            res->modified = store__reply_int(&reply, "nModified");
            res->deleted = store__reply_int(&reply, "nRemoved");
            bson_iter_t it, ix;
            if (!ok) {
                res->failed_at = bson_iter_init(&it, &reply) &&
                                         bson_iter_find_descendant(&it, "writeErrors.0.index", &ix)
                                     ? bson_iter_as_int64(&ix)
                                     : 0;
            }
        }
        if (!ok) rc = store__err(e, &berr, "bulk write", b->coll, dup);
        bson_destroy(&reply);
    }
    store_bulk_free(b);
    return rc;
}

void store_bulk_free(store_bulk_t *b)
{
    if (b == NULL) return;
    mongoc_bulk_operation_destroy(b->op);
    mongoc_collection_destroy(b->c);
    free(b->coll);
    free(b);
}

int store_command(store_t *s, const bson_t *cmd, bson_t *reply, err_t *e)
{
    bson_error_t berr;
    bson_t local;
    bool ok = mongoc_client_write_command_with_opts(s->client, s->db_name, cmd, NULL,
                                                    reply ? reply : &local, &berr);
    if (!reply) bson_destroy(&local);
    bson_iter_t it;
    const char *name = bson_iter_init(&it, cmd) && bson_iter_next(&it) ? bson_iter_key(&it) : "?";
    const char *coll = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : s->db_name;
    return ok ? 0 : store__err(e, &berr, name, coll, NULL);
}

int store_has_collection(store_t *s, const char *coll, bool *exists, err_t *e)
{
    mongoc_database_t *db = mongoc_client_get_database(s->client, s->db_name);
    bson_t opts = BSON_INITIALIZER, filter;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "filter", &filter);
    BSON_APPEND_UTF8(&filter, "name", coll);
    bson_append_document_end(&opts, &filter);
    mongoc_cursor_t *cur = mongoc_database_find_collections_with_opts(db, &opts);
    bson_destroy(&opts);
    const bson_t *doc;
    *exists = false;
    while (mongoc_cursor_next(cur, &doc)) *exists = true;
    bson_error_t berr;
    int rc = 0;
    if (mongoc_cursor_error(cur, &berr)) rc = store__err(e, &berr, "listCollections", coll, NULL);
    mongoc_cursor_destroy(cur);
    mongoc_database_destroy(db);
    return rc;
}

int store_drop_database(store_t *s, err_t *e)
{
    mongoc_database_t *db = mongoc_client_get_database(s->client, s->db_name);
    bson_error_t berr;
    bool ok = mongoc_database_drop(db, &berr);
    mongoc_database_destroy(db);
    return ok ? 0 : store__err(e, &berr, "dropDatabase", s->db_name, NULL);
}
