/*
 * oponn-worker — one FastCGI worker process of the pool.
 *
 * spawn-fcgi creates the unix socket and multiwatch forks N of these, each
 * inheriting the listening socket as fd 0 and each replaced by multiwatch if
 * it dies. A worker is single-threaded: lib/fcgi_server.c waits on the socket
 * and on the connections nginx keeps open to this worker and hands it one
 * request at a time. Its connections (MongoDB, Redis) are made here, after
 * fork, and reused by every request.
 *
 * Signals are only read between requests (fcgi_server blocks them and reads
 * a signalfd), so a request in flight is always finished: SIGTERM, SIGINT
 * and SIGHUP stop the worker; SIGUSR2 checks its L1 for `oponn cache
 * verify`. OPONN_WORKER_MAX_REQUESTS recycles a worker after that many
 * requests (multiwatch starts a fresh one).
 */
#include "app.h"
#include "arena.h"
#include "err.h"
#include "fcgi_server.h"
#include "http.h"
#include "metrics.h"

#include <errno.h>
#include <mongoc/mongoc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void worker_l1_line(void *ud, const char *line)
{
    fprintf(ud, "%s\n", line);
}

/* Checks this worker's L1 against Redis (cache_l1_check) and writes the
 * mismatch lines and a last line "entries=N mismatches=M" (or "error=...")
 * to $OPONN_RUN_DIR/l1verify.<pid>, renamed into place when complete: what
 * `oponn cache verify` reads. */
static void worker_l1_verify(app_t *app)
{
    char path[1100], tmp[1110];
    snprintf(path, sizeof path, "%s/l1verify.%ld", app->cfg.run_dir, (long)getpid());
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) return;
    long entries = 0, mismatches = 0;
    err_t e = {0};
    if (app->cache == NULL) {
        fprintf(f, "entries=0 mismatches=0\n");
    } else if (cache_l1_check(app->cache, worker_l1_line, f, &entries, &mismatches, &e) != 0) {
        fprintf(f, "error=%s\n", e.msg);
    } else {
        fprintf(f, "entries=%ld mismatches=%ld\n", entries, mismatches);
    }
    if (fclose(f) == 0) rename(tmp, path);
}

/* The FastCGI params a request reads, found in one pass over them (each
 * FCGX_GetParam would walk them all again). Absent ones are "". */
typedef struct {
    const char *method, *uri, *query, *ctype, *clen, *accept, *auth, *addr, *debug;
} worker_params_t;

static void worker_params(const buf_t *env, worker_params_t *p)
{
    static const struct {
        const char *name;
        size_t len;
        size_t off;
    } want[] = {
#define WP(n, f) {n "=", sizeof n, offsetof(worker_params_t, f)}
        WP("REQUEST_METHOD", method),   WP("DOCUMENT_URI", uri),    WP("QUERY_STRING", query),
        WP("CONTENT_TYPE", ctype),      WP("CONTENT_LENGTH", clen), WP("HTTP_ACCEPT", accept),
        WP("HTTP_AUTHORIZATION", auth), WP("REMOTE_ADDR", addr),    WP("HTTP_X_OPONN_DEBUG", debug),
#undef WP
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        *(const char **)((char *)p + want[i].off) = "";
    for (const char *e = env->data, *end = env->data + env->len; e < end; e += strlen(e) + 1) {
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            if (e[0] == want[i].name[0] && strncmp(e, want[i].name, want[i].len) == 0) {
                *(const char **)((char *)p + want[i].off) = e + want[i].len;
                break;
            }
        }
    }
}

static const char *worker_status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 503:
        return "Service Unavailable";
    default:
        return status >= 500 ? "Internal Server Error" : "Error";
    }
}

static double worker_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The CGI response head, written piece by piece: snprintf cost more than
 * the rest of an answer from the near cache. */
static void worker_put_head(buf_t *out, const http_resp_t *resp)
{
    char num[24];
    int n = 0;
    buf_append(out, "Status: ", 8);
    for (int v = resp->status; n < 3; v /= 10) num[2 - n++] = (char)('0' + v % 10);
    num[n++] = ' ';
    buf_append(out, num, (size_t)n);
    buf_puts(out, worker_status_text(resp->status));
    buf_append(out, "\r\nContent-Type: ", 16);
    buf_puts(out, resp->content_type);
    if (resp->allow) {
        buf_append(out, "\r\nAllow: ", 9);
        buf_puts(out, resp->allow);
    }
    buf_append(out, "\r\nContent-Length: ", 18);
    size_t len = resp->body.len;
    n = sizeof num;
    do {
        num[--n] = (char)('0' + len % 10);
        len /= 10;
    } while (len);
    buf_append(out, num + n, sizeof num - (size_t)n);
    buf_append(out, "\r\n\r\n", 4);
}

/* What a worker keeps from request to request. */
typedef struct {
    app_t *app;
    arena_t arena;
    buf_t head;
    http_resp_t resp;
    long long served;
} worker_t;

/* fcgi_server's serve: one request, answered into w->head and w->resp. */
static int worker_serve(void *ud, const fcgi_conn_t *r, fcgi_answer_t *ans)
{
    worker_t *w = ud;
    app_t *app = w->app;
    http_resp_t *resp = &w->resp;
    double t0 = worker_now();
    arena_reset(&w->arena);
    worker_params_t p;
    worker_params(&r->env, &p);
    http_req_t req = {
        .method = p.method,
        .path = p.uri,
        .query_string = p.query,
        .content_type = p.ctype,
        .accept = p.accept,
        .authorization = p.auth,
        .remote_addr = p.addr,
        .debug = strcmp(p.debug, "1") == 0,
        .arena = &w->arena,
    };
    buf_reset(&resp->body);
    resp->allow = NULL;
    if (r->body_over) {
        resp->status = 413;
        resp->content_type = "application/json";
        app_error_body(&resp->body, ERR_BAD_INPUT, "request body too large");
    } else {
        req.body = r->body.data;
        req.body_len = r->body.len;
        app_handle(app, &req, resp);
    }
    buf_reset(&w->head);
    worker_put_head(&w->head, resp);
    *ans = (fcgi_answer_t){w->head.data, w->head.len, resp->body.data, resp->body.len};
    metrics_inc(resp->status < 300   ? METRIC_HTTP_2XX
                : resp->status < 500 ? METRIC_HTTP_4XX
                                     : METRIC_HTTP_5XX);
    metrics_observe_request(worker_now() - t0);
    w->served++;
    return app->cfg.worker_max_requests > 0 && w->served >= app->cfg.worker_max_requests;
}

/* fcgi_server's on_signal: SIGUSR2 checks L1 (between requests, so the check
 * may talk to Redis and allocate); the others stop the worker. */
static int worker_on_signal(void *ud, int signo)
{
    worker_t *w = ud;
    if (signo != SIGUSR2) return 1;
    worker_l1_verify(w->app);
    return 0;
}

/* The library's log (err_log): the pool's log, one line per report. */
static void worker_log(const char *line)
{
    fprintf(stderr, "oponn-worker[%ld]: %s\n", (long)getpid(), line);
}

int main(void)
{
    err_t e = {0};
    app_t app;
    err_log_set(worker_log);
    mongoc_init();
    if (app_open(&app, &e) != 0) {
        fprintf(stderr, "oponn-worker: %s\n", e.msg);
        mongoc_cleanup();
        return 1;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/metrics.shm", app.cfg.run_dir);
    if (metrics_open(path, &e) != 0) fprintf(stderr, "oponn-worker: %s\n", e.msg);
    metrics_inc(METRIC_WORKER_STARTS);

    signal(SIGPIPE, SIG_IGN);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGUSR2);
    worker_t w = {.app = &app, .resp = {.body = BUF_INIT}, .head = BUF_INIT};
    arena_init(&w.arena, 64 * 1024);
    fcgi_server_t srv = {
        .listen_fd = 0,
        .signals = &sigs,
        .max_body = (size_t)app.cfg.max_body_bytes,
        .serve = worker_serve,
        .on_signal = worker_on_signal,
        .ud = &w,
    };
    int rc = fcgi_server_run(&srv, &e);
    if (rc != 0) fprintf(stderr, "oponn-worker: %s\n", e.msg);
    buf_free(&w.head);
    buf_free(&w.resp.body);
    arena_destroy(&w.arena);
    app_close(&app);
    metrics_close();
    mongoc_cleanup();
    return rc == 0 ? 0 : 1;
}
