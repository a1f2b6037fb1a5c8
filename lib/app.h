/*
 * app.h — one worker's application: its connections and the request router.
 *
 * An app_t is made once per worker process, after fork, and owns the
 * long-lived handles: the MongoDB client and the cache (which owns the one
 * Redis connection of the worker; /healthz and X-Oponn-Debug use it too). app_handle() answers
 * one request from an http_req_t; it never fails: every problem becomes an
 * HTTP status and a GraphQL-shaped JSON body.
 */
#ifndef OPONN_APP_H
#define OPONN_APP_H

#include "cache.h"
#include "cfg.h"
#include "err.h"
#include "gql.h"
#include "http.h"
#include "repo.h"
#include "resolvers.h"
#include "store.h"

typedef struct app {
    cfg_t cfg;
    store_t *store;
    cache_t *cache;             /* NULL: the cache could not be opened (no cache) */
    char cache_error[600];      /* why, when cache is NULL (for /healthz) */
    gql_schema_t *schema;       /* parsed from cfg.schema_path at start */
    gql_resolvers_t *resolvers; /* resolvers.c's table bound to the schema */
    gql_limits_t limits;
    gql_doc_cache_t *doc_cache;     /* NULL when OPONN_DOC_CACHE_BYTES is 0 */
    gql_doc_cache_stats_t doc_seen; /* its counters already added to /metrics */
    repo_t repo;                    /* re-begun for every request */
    resolvers_ctx_t rctx;
    uint64_t redis_base; /* round trips before the current request */
} app_t;

/* Reads the configuration, parses the schema (an invalid SDL is an error
 * naming file:line:column) and makes the connections' handles (connecting is
 * lazy). On failure everything made so far is freed. Caller frees with
 * app_close(). */
int app_open(app_t *app, err_t *e);
void app_close(app_t *app);

void app_handle(app_t *app, const http_req_t *req, http_resp_t *resp);

/* Appends a GraphQL-shaped error body {"errors":[{message, extensions.code}]}. */
void app_error_body(buf_t *out, err_code_t code, const char *message);

#endif
