/*
 * app.h — one worker's application: its connections and the request router.
 *
 * An app_t is made once per worker process, after fork, and owns the
 * long-lived handles (MongoDB client, Redis connection). app_handle() answers
 * one request from an http_req_t; it never fails: every problem becomes an
 * HTTP status and a GraphQL-shaped JSON body.
 */
#ifndef OPONN_APP_H
#define OPONN_APP_H

#include "cache_conn.h"
#include "cfg.h"
#include "err.h"
#include "http.h"
#include "store.h"

typedef struct {
    cfg_t cfg;
    store_t *store;
    cache_conn_t *redis;
} app_t;

/* Reads the configuration and makes the connections' handles (connecting is
 * lazy). On failure everything made so far is freed. Caller frees with
 * app_close(). */
int app_open(app_t *app, err_t *e);
void app_close(app_t *app);

void app_handle(app_t *app, const http_req_t *req, http_resp_t *resp);

/* Appends a GraphQL-shaped error body {"errors":[{message, extensions.code}]}. */
void app_error_body(buf_t *out, err_code_t code, const char *message);

#endif
