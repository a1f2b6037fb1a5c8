/*
 * fcgi_constant — a FastCGI worker that answers every request with the same
 * 120-byte JSON body and touches nothing else. It is the ceiling of the
 * nginx → FastCGI pool path: what oponn-worker could reach if answering cost
 * nothing. It runs oponn-worker's own loop (lib/fcgi_server.c), so the ceiling
 * moves with the transport. Used by perf/keepalive.py and `make perf`.
 */
#include "fcgi_server.h"

#include <signal.h>
#include <stdio.h>

/* 120 bytes, about the size of a book(id) answer. */
static const char constant_body[] =
    "{\"data\":{\"book\":{\"id\":\"65f0c0ffee0000000000abcd\","
    "\"title\":\"A constant body, 120B\",\"year\":2024,\"price\":12.5,"
    "\"version\":1}}}";

static int constant_serve(void *ud, const fcgi_conn_t *req, fcgi_answer_t *ans)
{
    (void)req;
    const buf_t *head = ud;
    *ans = (fcgi_answer_t){head->data, head->len, constant_body, sizeof constant_body - 1};
    return 0;
}

static int constant_on_signal(void *ud, int signo)
{
    (void)ud;
    (void)signo;
    return 1;
}

int main(void)
{
    buf_t head = BUF_INIT;
    buf_printf(&head,
               "Status: 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
               sizeof constant_body - 1);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    signal(SIGPIPE, SIG_IGN);
    fcgi_server_t srv = {
        .listen_fd = 0,
        .signals = &sigs,
        .max_body = 1 << 20,
        .serve = constant_serve,
        .on_signal = constant_on_signal,
        .ud = &head,
    };
    err_t e = {0};
    int rc = fcgi_server_run(&srv, &e);
    if (rc != 0) fprintf(stderr, "fcgi_constant: %s\n", e.msg);
    buf_free(&head);
    return rc == 0 ? 0 : 1;
}
