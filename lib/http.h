/*
 * http.h — the HTTP request and response as the worker sees them.
 *
 * fcgi/oponn-worker.c fills an http_req_t from the FastCGI parameters and the
 * body, and writes an http_resp_t back. Everything between (routing,
 * GraphQL-over-HTTP framing) works on these two structs only, so it can be
 * unit-tested and fuzzed without FastCGI. All strings in http_req_t are owned
 * by the request arena and are never NULL (empty when absent).
 */
#ifndef OPONN_HTTP_H
#define OPONN_HTTP_H

#include "arena.h"
#include "buf.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *method;        /* "GET", "POST", ... */
    const char *path;          /* DOCUMENT_URI without the query: "/graphql" */
    const char *query_string;  /* raw, still percent-encoded */
    const char *content_type;  /* CONTENT_TYPE */
    const char *accept;        /* HTTP_ACCEPT */
    const char *authorization; /* HTTP_AUTHORIZATION */
    const char *remote_addr;   /* REMOTE_ADDR */
    bool debug;                /* X-Oponn-Debug: 1 */
    const char *body;          /* NUL-terminated; may contain NULs before body_len */
    size_t body_len;
    arena_t *arena; /* request memory, freed when the request ends */
} http_req_t;

typedef struct {
    int status;               /* 200, 400, ... */
    const char *content_type; /* static string */
    const char *allow;        /* Allow header for 405, else NULL */
    buf_t body;               /* owned by the worker, reused across requests */
} http_resp_t;

#endif
