/*
 * ingest.h — pulling records from outside into structs: HTTP with retries
 * (libcurl), Open Library search pages and the bookstore list (cJSON), the
 * book → bookstore assignment rule and the fruit generator. Writing them to
 * MongoDB is the repositories' job (repo_books_upsert & co.); the
 * `oponn ingest` command (fcgi/cmd/ingest.c) drives both.
 */
#ifndef OPONN_INGEST_H
#define OPONN_INGEST_H

#include "arena.h"
#include "buf.h"
#include "err.h"
#include "model.h"

#include <stddef.h>
#include <stdint.h>

/* ---- HTTP */

typedef struct {
    const char *user_agent;
    long connect_timeout_ms;
    long timeout_ms;     /* whole request */
    int retries;         /* after the first attempt */
    long backoff_ms;     /* first delay; doubles per retry; jittered */
    long max_backoff_ms; /* longest wait, Retry-After included */
    size_t max_body;     /* decoded bytes; more is a failure, not retried */
} ingest_http_opts_t;

typedef struct {
    long requests, retries;
    long last_status; /* HTTP status of the last response, 0 if none */
} ingest_http_stats_t;

typedef struct ingest_http ingest_http_t;

/* One libcurl handle (connections are reused across requests). Caller frees
 * with ingest_http_close(). curl_global_init must have been called. */
ingest_http_t *ingest_http_open(const ingest_http_opts_t *o);
void ingest_http_close(ingest_http_t *h);

/* GETs url into out (reset first), asking for gzip. Retries, with
 * exponential backoff and jitter, timeouts, connection failures, bodies cut
 * short, 429 and 5xx; a Retry-After header sets the wait (a wait longer than
 * max_backoff_ms is a failure rather than an early retry). Anything else
 * that is not a 2xx fails at once, as does a body over max_body.
 * ERR_UNAVAILABLE with what happened on the last attempt. */
int ingest_http_get(ingest_http_t *h, const char *url, buf_t *out, ingest_http_stats_t *st,
                    err_t *e);

/* ---- Open Library search.json */

typedef struct {
    book_t *books;          /* valid records; bookstore_id not yet set */
    const char **work_keys; /* "/works/OL…W" of each */
    size_t n;
    size_t docs;          /* records in the page */
    int64_t num_found;    /* the API's numFound */
    const char **skipped; /* one reason per skipped record */
    size_t n_skipped;
} ingest_page_t;

/* Parses one response of /search.json into books (strings in a). The whole
 * page fails (-1, nothing returned) when the body is not valid UTF-8, not
 * JSON or has no docs array: a page is loaded entirely or not at all. A
 * record that fails validation is skipped with its reason. Fields used:
 * key (work key), title, author_name[], isbn[] (the smallest ISBN-13, else
 * the smallest ISBN-10), first_publish_year. Open Library has no prices:
 * price stays null. */
int ingest_ol_parse(arena_t *a, const char *body, size_t len, ingest_page_t *out, err_t *e);

/* The search URL of one page (arena): base/search.json?q=…&page=…&limit=…&fields=… */
const char *ingest_ol_url(arena_t *a, const char *base, const char *query, int page, int page_size);

/* ---- bookstores */

/* Parses the bookstore list: a JSON array of {"name": "...", "city": "..."}
 * (city optional). Near-duplicate names are kept: the repository merges
 * them by name_key. */
int ingest_stores_parse(arena_t *a, const char *body, size_t len, bookstore_t **out, size_t *n,
                        err_t *e);

/* The assignment rule: the stores are ordered by name_key (distinct keys
 * only), and a book goes to store number FNV-1a-64(natural key) mod count,
 * the natural key being repo_book_natural_key() ("isbn:<isbn>" or
 * "ol:<work key>"). It depends only on the book and the set of stores, not
 * on page order or timing, so a re-run assigns every book to the same store.
 * The stores must be sorted by name_key and distinct (ingest_stores_order). */
size_t ingest_assign(const char *natural_key, size_t n_stores);
/* Sorts by name_key and drops repeated keys; returns the new count. */
size_t ingest_stores_order(bookstore_t **stores, size_t n);

/* ---- fruit */

/* Fills out[0..n) with a deterministic sample of apples or oranges: fixed
 * 24-hex ids ("5eed000a" or "5eed000b", then the index in 16 hex digits),
 * breeds, sizes, colours and acidities from small tables and a hash of the
 * index, so a re-run seeds the same records. */
void ingest_fruit_make(arena_t *a, fruit_kind_t kind, size_t n, fruit_t *out);

#endif
