/*
 * fcgi_server.h — one single-threaded FastCGI server process: the loop that
 * waits on the pool's listening socket, the connections nginx keeps open to
 * this process, and the signals it is sent, and answers each request in turn.
 *
 * Owns the sockets and the waiting; fcgi_proto owns the framing; the caller
 * answers requests (oponn-worker: the GraphQL app; perf/fcgi_constant.c: a
 * constant body, the ceiling). Requests are answered one at a time, to the
 * end, so a request in flight is always finished: the signals given are
 * blocked for the whole life of the loop and read from a signalfd while it
 * waits. A connection that sends a broken record, or that does not take its
 * answer within FCGI_SERVER_SEND_TIMEOUT_MS, is closed; nothing else closes a
 * connection but the peer (nginx), because a request may already be on its
 * way on an idle one.
 */
#ifndef OPONN_FCGI_SERVER_H
#define OPONN_FCGI_SERVER_H

#include "err.h"
#include "fcgi_proto.h"

#include <signal.h>
#include <stddef.h>

#define FCGI_SERVER_MAX_CONNS       1024
#define FCGI_SERVER_SEND_TIMEOUT_MS 10000

typedef struct {
    const char *head; /* the CGI head, "Status: ...\r\n...\r\n\r\n" */
    size_t head_len;
    const char *body;
    size_t body_len;
} fcgi_answer_t;

typedef struct {
    int listen_fd;           /* the pool's socket (fd 0 under spawn-fcgi) */
    const sigset_t *signals; /* read by on_signal; blocked while the loop runs */
    size_t max_body;         /* longer bodies reach serve as req->body_over */
    /* Answers req (its env strings and body) into *ans, which must stay
     * valid until the next call. Returns 1 to stop once it is sent. */
    int (*serve)(void *ud, const fcgi_conn_t *req, fcgi_answer_t *ans);
    /* A signal from the set arrived; returns 1 to stop. */
    int (*on_signal)(void *ud, int signo);
    void *ud;
} fcgi_server_t;

/* Runs until serve or on_signal asks to stop; then closes every connection
 * and returns 0, the signals still blocked (a second stop signal must not
 * cut the caller's clean-up short). -1 (e set) when the socket or signals
 * cannot be set up. */
int fcgi_server_run(const fcgi_server_t *s, err_t *e);

#endif
