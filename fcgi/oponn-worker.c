/*
 * oponn-worker — one FastCGI worker process of the pool.
 *
 * spawn-fcgi creates the unix socket and multiwatch forks N of these, each
 * inheriting the listening socket as fd 0 (FCGI_LISTENSOCK_FILENO) and each
 * replaced by multiwatch if it dies. A worker is single-threaded: it accepts
 * one connection, answers it, and accepts the next. Its connections (MongoDB,
 * Redis) are made here, after fork, and reused by every request.
 *
 * Stop: SIGTERM (or SIGINT/SIGHUP) is only delivered while the worker waits in
 * accept(); during a request it is blocked, so the request in flight is always
 * finished before the worker exits. OPONN_WORKER_MAX_REQUESTS recycles a worker
 * after that many requests (multiwatch starts a fresh one).
 */
#include "app.h"
#include "arena.h"
#include "err.h"
#include "http.h"
#include "metrics.h"

#include <errno.h>
#include <fcgiapp.h>
#include <mongoc/mongoc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t worker_stop;

static void worker_on_signal(int sig)
{
    (void)sig;
    worker_stop = 1;
}

static app_t *worker_app; /* for the SIGUSR2 handler */

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

/* `oponn cache verify` checks each worker's L1 with SIGUSR2. The check talks
 * to Redis and allocates, so it must not interrupt the worker anywhere but
 * in accept(): a request blocks the signal, but FCGX_Accept_r also frees and
 * allocates around its accept() with the signal open. So libfcgi's accept()
 * is this file's (below): from the moment it sets worker_in_accept, the
 * handler runs the check itself (it then interrupts only this file's flag
 * tests or the accept4 system call); before, it leaves the check pending,
 * and accept() runs it before waiting. No system call of its own: this is
 * on every request's path. */
static volatile sig_atomic_t worker_in_accept, worker_verify_pending;

static void worker_on_verify(int sig)
{
    (void)sig;
    if (!worker_in_accept) {
        worker_verify_pending = 1;
        return;
    }
    int saved = errno;
    if (worker_app) worker_l1_verify(worker_app);
    errno = saved;
}

/* libfcgi's accept() (the executable's definition comes first for the
 * shared library too). SA_RESTART on SIGUSR2 makes accept4 go on waiting
 * after a check; a stop signal (no SA_RESTART) still interrupts it. */
int accept(int fd, __SOCKADDR_ARG addr, socklen_t *restrict len)
{
    for (;;) {
        worker_in_accept = 1;
        if (!worker_verify_pending) break;
        worker_in_accept = 0; /* a signal now leaves it pending: the loop runs it again */
        worker_verify_pending = 0;
        if (worker_app) worker_l1_verify(worker_app);
    }
    if (worker_stop) { /* stopped while FCGX_Accept_r prepared: do not wait */
        worker_in_accept = 0;
        errno = EINTR;
        return -1;
    }
    int s = accept4(fd, addr, len, 0);
    int saved = errno;
    worker_in_accept = 0;
    errno = saved;
    return s;
}

/* The FastCGI params a request reads, found in one pass over them (each
 * FCGX_GetParam would walk them all again). Absent ones are "". */
typedef struct {
    const char *method, *uri, *query, *ctype, *clen, *accept, *auth, *addr, *debug;
} worker_params_t;

static void worker_params(char **envp, worker_params_t *p)
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
    for (char **e = envp; e && *e; e++) {
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            if ((*e)[0] == want[i].name[0] && strncmp(*e, want[i].name, want[i].len) == 0) {
                *(const char **)((char *)p + want[i].off) = *e + want[i].len;
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

/* Reads the request body into buf, refusing more than max bytes. Returns 0,
 * or 413 when the body is over the limit. */
static int worker_read_body(FCGX_Request *r, const char *cl, buf_t *body, size_t max)
{
    buf_reset(body);
    if (*cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (*end != '\0' || n > max) return 413;
        buf_reserve(body, (size_t)n);
    }
    char chunk[16384];
    int got;
    while ((got = FCGX_GetStr(chunk, sizeof chunk, r->in)) > 0) {
        if (body->len + (size_t)got > max) return 413;
        buf_append(body, chunk, (size_t)got);
    }
    if (body->data == NULL) buf_reserve(body, 0);
    return 0;
}

static double worker_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The CGI response head, written piece by piece: snprintf cost more than
 * the rest of an answer from the near cache. */
static void worker_put_head(FCGX_Stream *out, const http_resp_t *resp)
{
    char num[24];
    int n = 0;
    FCGX_PutStr("Status: ", 8, out);
    for (int v = resp->status; n < 3; v /= 10) num[2 - n++] = (char)('0' + v % 10);
    num[n++] = ' ';
    FCGX_PutStr(num, n, out);
    FCGX_PutS(worker_status_text(resp->status), out);
    FCGX_PutStr("\r\nContent-Type: ", 16, out);
    FCGX_PutS(resp->content_type, out);
    if (resp->allow) {
        FCGX_PutStr("\r\nAllow: ", 9, out);
        FCGX_PutS(resp->allow, out);
    }
    FCGX_PutStr("\r\nContent-Length: ", 18, out);
    size_t len = resp->body.len;
    n = sizeof num;
    do {
        num[--n] = (char)('0' + len % 10);
        len /= 10;
    } while (len);
    FCGX_PutStr(num + n, (int)sizeof num - n, out);
    FCGX_PutStr("\r\n\r\n", 4, out);
}

static void worker_serve(app_t *app, FCGX_Request *r, arena_t *arena, buf_t *body,
                         http_resp_t *resp)
{
    double t0 = worker_now();
    worker_params_t p;
    worker_params(r->envp, &p);
    http_req_t req = {
        .method = p.method,
        .path = p.uri,
        .query_string = p.query,
        .content_type = p.ctype,
        .accept = p.accept,
        .authorization = p.auth,
        .remote_addr = p.addr,
        .debug = strcmp(p.debug, "1") == 0,
        .arena = arena,
    };
    buf_reset(&resp->body);
    resp->allow = NULL;
    if (worker_read_body(r, p.clen, body, (size_t)app->cfg.max_body_bytes) == 413) {
        resp->status = 413;
        resp->content_type = "application/json";
        app_error_body(&resp->body, ERR_BAD_INPUT, "request body too large");
    } else {
        req.body = body->data;
        req.body_len = body->len;
        app_handle(app, &req, resp);
    }
    worker_put_head(r->out, resp);
    FCGX_PutStr(resp->body.data, (int)resp->body.len, r->out);
    metrics_inc(resp->status < 300   ? METRIC_HTTP_2XX
                : resp->status < 500 ? METRIC_HTTP_4XX
                                     : METRIC_HTTP_5XX);
    metrics_observe_request(worker_now() - t0);
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

    struct sigaction sa = {0};
    sa.sa_handler = worker_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: accept() must return on a stop signal */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    worker_app = &app;
    struct sigaction sv = {0};
    sv.sa_handler = worker_on_verify;
    sigemptyset(&sv.sa_mask);
    sv.sa_flags = SA_RESTART; /* accept() goes on waiting afterwards */
    sigaction(SIGUSR2, &sv, NULL);
    sigset_t stop_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGHUP);
    sigaddset(&stop_set, SIGUSR2);

    FCGX_Init();
    FCGX_Request r;
    FCGX_InitRequest(&r, 0, FCGI_FAIL_ACCEPT_ON_INTR);
    arena_t arena;
    arena_init(&arena, 64 * 1024);
    buf_t body = BUF_INIT;
    http_resp_t resp = {.body = BUF_INIT};
    long long served = 0;

    while (!worker_stop) {
        if (FCGX_Accept_r(&r) < 0) break; /* interrupted by a stop signal, or the socket closed */
        sigprocmask(SIG_BLOCK, &stop_set, NULL);
        worker_serve(&app, &r, &arena, &body, &resp);
        FCGX_Finish_r(&r);
        arena_reset(&arena);
        sigprocmask(SIG_UNBLOCK, &stop_set, NULL); /* a pending stop is delivered here */
        served++;
        if (app.cfg.worker_max_requests > 0 && served >= app.cfg.worker_max_requests) break;
    }
    sigprocmask(SIG_BLOCK, &stop_set, NULL);
    worker_app = NULL;
    FCGX_Free(&r, 1);
    buf_free(&body);
    buf_free(&resp.body);
    arena_destroy(&arena);
    app_close(&app);
    metrics_close();
    mongoc_cleanup();
    return 0;
}
