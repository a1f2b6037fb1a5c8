/*
 * fcgi_proto.h — the FastCGI responder protocol on one connection, without I/O.
 *
 * nginx keeps its FastCGI connections to the pool open (upstream keepalive +
 * fastcgi_keep_conn), which halves what a request costs nginx and the worker
 * (perf/keepalive.md). A single-threaded worker must then serve many open
 * connections, each whenever it has a request; libfcgi reads one connection
 * with blocking calls and cannot. So this module owns the framing: it turns
 * the bytes a connection received into complete requests (params decoded,
 * body gathered) and frames answers. fcgi/oponn-worker.c owns the sockets
 * and the poll loop; perf/fcgi_constant.c (the ceiling) uses the same code.
 *
 * One request at a time per connection: nginx never multiplexes requests on
 * a connection, and one that tries gets FCGI_CANT_MPX_CONN, as the spec asks.
 * Roles other than responder get FCGI_UNKNOWN_ROLE; management records get
 * FCGI_GET_VALUES_RESULT or FCGI_UNKNOWN_TYPE. Those replies are queued on
 * the connection's out buffer for the caller to send.
 */
#ifndef OPONN_FCGI_PROTO_H
#define OPONN_FCGI_PROTO_H

#include "buf.h"
#include "err.h"

#include <stddef.h>
#include <stdint.h>

/* What nginx may hold in one request's params (names and values): more is
 * refused as a broken peer, so a connection's memory stays bounded. */
#define FCGI_MAX_PARAMS_BYTES (64 * 1024)

typedef struct {
    buf_t in;        /* bytes received and not consumed yet */
    size_t in_off;   /* consumed prefix of in (compacted before each read) */
    uint16_t id;     /* the request being assembled; 0 when none */
    int keep_conn;   /* its FCGI_KEEP_CONN flag */
    int params_done; /* its empty PARAMS record arrived */
    int ready;       /* its empty STDIN record arrived: it can be served */
    int body_over;   /* its body was longer than the limit and was dropped */
    buf_t env;       /* its params as "NAME=VALUE\0" strings, one after another */
    buf_t body;      /* its body (STDIN) */
    buf_t out;       /* protocol replies owed to the peer, to send as they are */
} fcgi_conn_t;

enum { FCGI_MORE = 0, FCGI_READY = 1, FCGI_BROKEN = -1 };

void fcgi_conn_init(fcgi_conn_t *c);
void fcgi_conn_free(fcgi_conn_t *c);

/* Makes room for at least `want` more bytes at c->in's end (dropping the
 * consumed prefix first) and returns where to read them to; the caller adds
 * what it read to c->in.len. */
char *fcgi_conn_space(fcgi_conn_t *c, size_t want);

/* Consumes complete records from c->in. FCGI_READY: a whole request is
 * assembled (c->env, c->body; c->body_over when its body passed max_body);
 * serve it, then call fcgi_conn_next. FCGI_MORE: more bytes are needed.
 * FCGI_BROKEN: the peer broke the protocol (e says how); close the
 * connection. Replies owed (refusals) are appended to c->out either way. */
int fcgi_conn_feed(fcgi_conn_t *c, size_t max_body, err_t *e);

/* Forgets the served request; the connection then assembles the next one. */
void fcgi_conn_next(fcgi_conn_t *c);

/* Appends a complete answer for request id to out: the CGI head and the body
 * as FCGI_STDOUT records, the empty FCGI_STDOUT, and FCGI_END_REQUEST. */
void fcgi_put_answer(buf_t *out, uint16_t id, const char *head, size_t head_len, const char *body,
                     size_t body_len);

#endif
