/*
 * app.c — routing and the non-GraphQL endpoints (/healthz, /metrics).
 */
#include "app.h"

#include "metrics.h"

#include <cJSON.h>
#include <string.h>

int app_open(app_t *app, err_t *e)
{
    memset(app, 0, sizeof *app);
    if (cfg_load(&app->cfg, e) != 0) return -1;
    if (cache_conn_open(&app->redis, &app->cfg, e) != 0) return -1;
    if (store_open(&app->store, &app->cfg, e) != 0) {
        app_close(app);
        return -1;
    }
    return 0;
}

void app_close(app_t *app)
{
    store_close(app->store);
    cache_conn_close(app->redis);
    app->store = NULL;
    app->redis = NULL;
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

/* GET /healthz: 200 when Redis and MongoDB both answer, else 503 naming what
 * is down. A human-readable reason goes with each failure. */
static void app__healthz(app_t *app, http_resp_t *resp)
{
    err_t re = {0}, me = {0};
    int redis_ok = cache_conn_ping(app->redis, &re) == 0;
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

/* Until the GraphQL engine is wired in, /graphql answers `{ __typename }`. */
static void app__graphql(app_t *app, const http_req_t *req, http_resp_t *resp)
{
    (void)app;
    if (strcmp(req->method, "POST") != 0) {
        app__error(resp, 405, ERR_BAD_INPUT, "use POST with a JSON body");
        resp->allow = "POST";
        return;
    }
    cJSON *body = cJSON_ParseWithLength(req->body, req->body_len);
    if (body == NULL || !cJSON_IsObject(body)) {
        cJSON_Delete(body);
        app__error(resp, 400, ERR_BAD_INPUT, "the request body is not a JSON object");
        return;
    }
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(body, "query");
    int typename_only = cJSON_IsString(q) && strcmp(q->valuestring, "{ __typename }") == 0;
    cJSON_Delete(body);
    if (!typename_only) {
        app__error(resp, 400, ERR_PARSE, "only { __typename } is served until the engine lands");
        return;
    }
    resp->status = 200;
    resp->content_type = "application/json";
    buf_puts(&resp->body, "{\"data\":{\"__typename\":\"Query\"}}");
}

void app_handle(app_t *app, const http_req_t *req, http_resp_t *resp)
{
    buf_reset(&resp->body);
    resp->allow = NULL;
    if (strcmp(req->path, "/graphql") == 0) {
        app__graphql(app, req, resp);
    } else if (strcmp(req->path, "/healthz") == 0) {
        app__healthz(app, resp);
    } else if (strcmp(req->path, "/metrics") == 0) {
        resp->status = 200;
        resp->content_type = "text/plain; version=0.0.4";
        metrics_render(&resp->body);
    } else {
        app__error(resp, 404, ERR_NOT_FOUND,
                   "not found: oponn serves /graphql, /healthz, /metrics");
    }
}
