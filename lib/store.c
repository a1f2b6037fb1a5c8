/*
 * store.c — libmongoc client, command monitoring, errors (see store.h).
 */
#include "store.h"

#include "metrics.h"

#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>

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
    /* Our timeouts unless the URI sets its own. */
    if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS)) {
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS,
                                       (int32_t)cfg->mongo_connect_timeout_ms);
    }
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS)) {
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
                                       (int32_t)cfg->mongo_selection_timeout_ms);
    }
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SOCKETTIMEOUTMS)) {
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS,
                                       (int32_t)cfg->mongo_socket_timeout_ms);
    }
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
