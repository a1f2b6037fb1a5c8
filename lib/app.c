/*
 * app.c — routing and the non-GraphQL endpoints (/healthz, /metrics).
 */
#include "app.h"

#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads a whole file into a malloc'd NUL-terminated buffer the caller frees. */
static char *app__read_file(const char *path, size_t *len, err_t *e)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        err_set(e, ERR_INTERNAL, "cannot read %s: %s (set OPONN_SCHEMA)", path, strerror(errno));
        return NULL;
    }
    buf_t b = BUF_INIT;
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&b, chunk, got);
    fclose(f);
    buf_reserve(&b, 0);
    *len = b.len;
    return b.data;
}

static int app__load_schema(app_t *app, err_t *e)
{
    size_t len;
    char *sdl = app__read_file(app->cfg.schema_path, &len, e);
    if (sdl == NULL) return -1;
    int rc = gql_schema_load(sdl, len, &app->schema, e);
    free(sdl);
    if (rc != 0) return err_wrap(e, "%s", app->cfg.schema_path);
    size_t n;
    const gql_resolver_def_t *defs = resolvers_table(&n);
    if (gql_resolvers_new(app->schema, defs, n, &app->resolvers, e) != 0) {
        return err_wrap(e, "binding resolvers to %s", app->cfg.schema_path);
    }
    return 0;
}

/* The MongoDB timeouts of a worker: a third of the request deadline, since
 * one failing call can wait three times (the call, the driver's retried
 * read or write, and its retried server check). */
static long long app__mongo_cap_ms(const cfg_t *cfg)
{
    return cfg->request_deadline_ms / 3;
}

static int app__doc_cache_open(app_t *app, err_t *e)
{
    if (app->cfg.doc_cache_bytes == 0) return 0;
    app->doc_cache = gql_doc_cache_new(app->schema, (size_t)app->cfg.doc_cache_bytes);
    return app->doc_cache ? 0 : err_set(e, ERR_INTERNAL, "out of memory (document cache)");
}

int app_open(app_t *app, err_t *e)
{
    memset(app, 0, sizeof *app);
    if (cfg_load(&app->cfg, e) != 0) return -1;
    gql_limits_t limits = {(int)app->cfg.gql_max_depth, (int)app->cfg.gql_max_fields,
                           (int)app->cfg.gql_max_aliases, (int)app->cfg.gql_max_cost};
    app->limits = limits;
    if (app__load_schema(app, e) != 0 || app__doc_cache_open(app, e) != 0 ||
        store_open_capped(&app->store, &app->cfg, app__mongo_cap_ms(&app->cfg), e) != 0) {
        app_close(app);
        return -1;
    }
    /* A cache that cannot be opened (bad OPONN_CACHE_PREFIX or write mode)
     * is no cache: the worker serves from MongoDB and /healthz says why. */
    err_t ce = {0};
    if (cache_open(&app->cache, &app->cfg, &ce) != 0) {
        app->cache = NULL;
        snprintf(app->cache_error, sizeof app->cache_error, "cache disabled: %s", ce.msg);
        err_log("%s", app->cache_error);
    } else if (cache_l1_enable(app->cache, &app->cfg, &ce) != 0) {
        err_log("%s", ce.msg);
    }
    repo_init(&app->repo, app->store, NULL);
    app->repo.cache = app->cache;
    app->rctx.repo = &app->repo;
    app->rctx.app = app;
    return 0;
}

void app_close(app_t *app)
{
    gql_doc_cache_free(app->doc_cache);
    app->doc_cache = NULL;
    gql_resolvers_free(app->resolvers);
    gql_schema_free(app->schema);
    store_close(app->store);
    cache_close(app->cache);
    app->resolvers = NULL;
    app->schema = NULL;
    app->store = NULL;
    app->cache = NULL;
}

void app_error_body(buf_t *out, err_code_t code, const char *message)
{
    buf_puts(out, "{\"errors\":[{\"message\":");
    buf_put_json_str(out, message, strlen(message));
    buf_printf(out, ",\"extensions\":{\"code\":\"%s\"}}]}", err_code_name(code));
}

static void app__error(http_resp_t *resp, int status, err_code_t code, const char *message)
{
    resp->status = status;
    resp->content_type = "application/json";
    buf_reset(&resp->body);
    app_error_body(&resp->body, code, message);
}

/* Round trips of the worker's Redis connection (0 without a cache). */
static uint64_t app__redis_roundtrips(const app_t *app)
{
    return app->cache ? cache_roundtrips(app->cache) : 0;
}

/* GET /healthz: 200 when Redis takes writes and MongoDB answers, else 503
 * naming what is down. A human-readable reason goes with each failure. 503 with Redis
 * down means degraded, not out: queries and mutations go to MongoDB
 * directly (write-behind mode refuses mutations then). */
static void app__healthz(app_t *app, http_resp_t *resp)
{
    err_t re = {0}, me = {0};
    int redis_ok = 0;
    if (app->cache) {
        /* A write, not a PING: a Redis whose disk is full answers PING but
         * refuses writes. It also starts the new epoch when a worker missed
         * a cache write (health checks reach idle workers too). */
        redis_ok = cache_probe(app->cache, &re) == 0;
    } else {
        err_set(&re, ERR_UNAVAILABLE, "%s", app->cache_error);
    }
    int mongo_ok = store_ping(app->store, &me) == 0;
    resp->status = redis_ok && mongo_ok ? 200 : 503;
    resp->content_type = "application/json";
    buf_printf(&resp->body, "{\"status\":\"%s\",\"redis\":\"%s\",\"mongodb\":\"%s\"",
               resp->status == 200 ? "ok" : "degraded", redis_ok ? "ok" : "down",
               mongo_ok ? "ok" : "down");
    if (!redis_ok || !mongo_ok) {
        buf_puts(&resp->body, ",\"errors\":{");
        if (!redis_ok) {
            buf_puts(&resp->body, "\"redis\":");
            buf_put_json_str(&resp->body, re.msg, strlen(re.msg));
        }
        if (!mongo_ok) {
            if (!redis_ok) buf_putc(&resp->body, ',');
            buf_puts(&resp->body, "\"mongodb\":");
            buf_put_json_str(&resp->body, me.msg, strlen(me.msg));
        }
        buf_putc(&resp->body, '}');
    }
    buf_putc(&resp->body, '}');
}

/* Mutations need `Authorization: Bearer <OPONN_WRITE_TOKEN>`. The comparison
 * takes the same time wherever the first difference is, so the token cannot
 * be guessed byte by byte; a server without a token refuses every mutation. */
static int app__authorize(void *user_ctx, const http_req_t *req, err_t *e)
{
    const app_t *app = ((const resolvers_ctx_t *)user_ctx)->app;
    const char *token = app->cfg.write_token;
    if (token == NULL || token[0] == '\0') {
        return err_set(e, ERR_UNAUTH,
                       "mutations are disabled: the server has no "
                       "OPONN_WRITE_TOKEN configured");
    }
    const char *auth = req->authorization;
    if (strncmp(auth, "Bearer ", 7) != 0) {
        return err_set(e, ERR_UNAUTH, "mutations need an Authorization: Bearer <token> header");
    }
    const char *given = auth + 7;
    size_t tlen = strlen(token), glen = strlen(given);
    unsigned char diff = (unsigned char)(tlen != glen);
    for (size_t i = 0; i < tlen; i++) {
        diff |= (unsigned char)(token[i] ^ (i < glen ? given[i] : 0));
    }
    if (diff != 0) return err_set(e, ERR_UNAUTH, "the write token is not valid");
    /* Write-through: if this worker dies between a MongoDB write and its
     * cache write, the pool distrusts the cache (metrics.h). Write-behind
     * writes the cache first: nothing to guard. */
    if (app->cache && !cache_write_behind(app->cache)) metrics_write_begin();
    return 0;
}

/* X-Oponn-Debug: 1 adds what the request cost the backends. */
static void app__extensions(void *user_ctx, buf_t *out)
{
    resolvers_ctx_t *rc = user_ctx;
    if (!rc->debug) return;
    app_t *app = rc->app;
    cache_l1_req_t l1 = {0, 0, "off"};
    if (app->cache) cache_request_l1(app->cache, &l1);
    buf_printf(out,
               "{\"mongodbCommands\":%llu,\"redisRoundTrips\":%llu,\"workerPid\":%ld,"
               "\"l1Hits\":%llu,\"l1Misses\":%llu,\"l1\":\"%s\"}",
               (unsigned long long)repo_store_commands(&app->repo),
               (unsigned long long)(app__redis_roundtrips(app) - app->redis_base), (long)getpid(),
               (unsigned long long)l1.hits, (unsigned long long)l1.misses, l1.state);
}

static void app__graphql(app_t *app, const http_req_t *req, http_resp_t *resp)
{
    app->repo.arena = req->arena;
    repo_begin(&app->repo);
    app->redis_base = app__redis_roundtrips(app);
    /* Pending invalidations first; their reading waits for nothing, and a
     * sync it may need (a write answered since) is this request's cost. */
    if (app->cache) cache_request_begin(app->cache);
    app->rctx.debug = req->debug;
    gql_http_t h = {
        .schema = app->schema,
        .resolvers = app->resolvers,
        .limits = &app->limits,
        .authorize_mutation = app__authorize,
        .user_ctx = &app->rctx,
        .extensions = app__extensions,
        .deadline_ns = gql_now_ns() + (int64_t)app->cfg.request_deadline_ms * 1000000,
        .doc_cache = app->doc_cache,
    };
    gql_http_handle(&h, req, resp);
    metrics_write_end();
    if (app->doc_cache) {
        gql_doc_cache_stats_t st;
        gql_doc_cache_stats(app->doc_cache, &st);
        metrics_add(METRIC_GQL_DOC_CACHE_HITS, st.hits - app->doc_seen.hits);
        metrics_add(METRIC_GQL_DOC_CACHE_MISSES, st.misses - app->doc_seen.misses);
        app->doc_seen = st;
    }
}

void app_handle(app_t *app, const http_req_t *req, http_resp_t *resp)
{
    buf_reset(&resp->body);
    resp->allow = NULL;
    if (strcmp(req->path, "/graphql") == 0) {
        app__graphql(app, req, resp);
    } else if (strcmp(req->path, "/healthz") == 0) {
        app__healthz(app, resp);
    } else if (strcmp(req->path, "/livez") == 0) {
        /* Liveness for the load balancer: this worker took the request and
         * answers, whatever Redis and MongoDB say. Touching neither keeps a
         * dependency outage from failing every task's check at once. */
        resp->status = 200;
        resp->content_type = "application/json";
        buf_puts(&resp->body, "{\"status\":\"ok\"}");
    } else if (strcmp(req->path, "/metrics") == 0) {
        resp->status = 200;
        resp->content_type = "text/plain; version=0.0.4";
        metrics_render(&resp->body);
    } else {
        app__error(resp, 404, ERR_NOT_FOUND,
                   "not found: oponn serves /graphql, /healthz, /livez, /metrics");
    }
}
