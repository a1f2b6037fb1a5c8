/*
 * fcgi_proto: a request as nginx frames it, fed whole and one byte at a
 * time; two requests back to back on a kept connection; a body over the
 * limit; params split over records and with 4-byte lengths; the refusals the
 * spec asks for (a second request at once, another role, a management
 * record); broken records; and an answer's framing (STDOUT records of at
 * most 65535 bytes, the empty STDOUT, END_REQUEST) read back.
 */
#include "fcgi_proto.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static void rec(buf_t *b, int type, int id, const void *p, size_t n)
{
    unsigned char h[8] = {1,
                          (unsigned char)type,
                          (unsigned char)(id >> 8),
                          (unsigned char)id,
                          (unsigned char)(n >> 8),
                          (unsigned char)n,
                          (unsigned char)(n % 3),
                          0};
    buf_append(b, h, 8);
    buf_append(b, p, n);
    buf_append(b, "\0\0", n % 3); /* padding, which the reader must skip */
}

static void nv(buf_t *b, const char *name, const char *val, size_t vlen)
{
    size_t nl = strlen(name);
    unsigned char l[4];
    buf_putc(b, (char)nl);
    if (vlen < 128) {
        buf_putc(b, (char)vlen);
    } else {
        l[0] = (unsigned char)(0x80 | (vlen >> 24));
        l[1] = (unsigned char)(vlen >> 16);
        l[2] = (unsigned char)(vlen >> 8);
        l[3] = (unsigned char)vlen;
        buf_append(b, l, 4);
    }
    buf_append(b, name, nl);
    buf_append(b, val, vlen);
}

/* A whole request: BEGIN (responder, keep_conn), params in two records,
 * body in records of at most 1000 bytes. */
static void request(buf_t *b, int id, int keep, const char *method, const char *body)
{
    unsigned char begin[8] = {0, 1, (unsigned char)keep};
    rec(b, 1, id, begin, 8);
    buf_t p = BUF_INIT;
    nv(&p, "REQUEST_METHOD", method, strlen(method));
    nv(&p, "DOCUMENT_URI", "/graphql", 8);
    size_t half = p.len / 2;
    rec(b, 4, id, p.data, half);
    rec(b, 4, id, p.data + half, p.len - half);
    rec(b, 4, id, "", 0);
    size_t n = strlen(body);
    for (size_t off = 0; off < n; off += 1000)
        rec(b, 5, id, body + off, n - off < 1000 ? n - off : 1000);
    rec(b, 5, id, "", 0);
    buf_free(&p);
}

static const char *env_get(const fcgi_conn_t *c, const char *name)
{
    size_t nl = strlen(name);
    for (const char *e = c->env.data, *end = c->env.data + c->env.len; e < end; e += strlen(e) + 1)
        if (strncmp(e, name, nl) == 0 && e[nl] == '=') return e + nl + 1;
    return NULL;
}

static void feed(fcgi_conn_t *c, const buf_t *b, size_t from, size_t n)
{
    memcpy(fcgi_conn_space(c, n), b->data + from, n);
    c->in.len += n;
}

/* A fresh connection that has received all of b. */
static void received(fcgi_conn_t *c, const buf_t *b)
{
    fcgi_conn_init(c);
    feed(c, b, 0, b->len);
}

static void test_whole_and_bytewise(void)
{
    buf_t b = BUF_INIT;
    request(&b, 1, 1, "POST", "{\"query\":\"{ a }\"}");
    request(&b, 2, 0, "GET", "");
    fcgi_conn_t c;
    err_t e = {0};
    received(&c, &b);
    check_int(fcgi_conn_feed(&c, 1024, &e), FCGI_READY, "whole: first request ready");
    check_int(c.id, 1, "its id");
    check_int(c.keep_conn, 1, "FCGI_KEEP_CONN seen");
    check_str(env_get(&c, "REQUEST_METHOD"), "POST", "params across two records decoded");
    check_str(env_get(&c, "DOCUMENT_URI"), "/graphql", "second param");
    check_str(c.body.data, "{\"query\":\"{ a }\"}", "body");
    fcgi_conn_next(&c);
    check_int(fcgi_conn_feed(&c, 1024, &e), FCGI_READY, "second request on the same connection");
    check_int(c.id, 2, "its id");
    check_int(c.keep_conn, 0, "no keep_conn");
    check_int(c.body.len, 0, "empty body");
    ok(c.body.data != NULL, "an empty body is still a string");
    fcgi_conn_next(&c);
    check_int(fcgi_conn_feed(&c, 1024, &e), FCGI_MORE, "then nothing more");
    check_int(c.out.len, 0, "nothing owed to the peer");
    fcgi_conn_free(&c);

    fcgi_conn_init(&c);
    int ready = 0, early = 0;
    for (size_t i = 0; i < b.len; i++) {
        feed(&c, &b, i, 1);
        int rc = fcgi_conn_feed(&c, 1024, &e);
        if (rc == FCGI_READY) {
            ready++;
            if (ready == 1 && strcmp(c.body.data, "{\"query\":\"{ a }\"}") != 0) early++;
            fcgi_conn_next(&c);
        }
    }
    check_int(ready, 2, "byte by byte: both requests, each once");
    check_int(early, 0, "byte by byte: the body complete when ready");
    fcgi_conn_free(&c);
    buf_free(&b);
}

static void test_limits(void)
{
    char *big = malloc(5001);
    memset(big, 'x', 5000);
    big[5000] = '\0';
    buf_t b = BUF_INIT;
    request(&b, 7, 1, "POST", big);
    request(&b, 8, 1, "POST", "ok");
    fcgi_conn_t c;
    err_t e = {0};
    received(&c, &b);
    check_int(fcgi_conn_feed(&c, 4096, &e), FCGI_READY, "a body over the limit: still a request");
    check_int(c.body_over, 1, "marked over the limit");
    check_int(c.body.len, 0, "and nothing kept");
    fcgi_conn_next(&c);
    check_int(fcgi_conn_feed(&c, 4096, &e), FCGI_READY, "the next request after it is intact");
    check_int(c.body_over, 0, "not over");
    check_str(c.body.data, "ok", "its body");
    fcgi_conn_free(&c);
    buf_reset(&b);

    /* A value of 300 bytes takes a 4-byte length. */
    memset(big, 'v', 300);
    unsigned char begin[8] = {0, 1, 1};
    rec(&b, 1, 3, begin, 8);
    buf_t p = BUF_INIT;
    nv(&p, "QUERY_STRING", big, 300);
    rec(&b, 4, 3, p.data, p.len);
    rec(&b, 4, 3, "", 0);
    rec(&b, 5, 3, "", 0);
    received(&c, &b);
    check_int(fcgi_conn_feed(&c, 4096, &e), FCGI_READY, "4-byte length: ready");
    ok(env_get(&c, "QUERY_STRING") && strlen(env_get(&c, "QUERY_STRING")) == 300,
       "4-byte length: 300-byte value");
    fcgi_conn_free(&c);
    buf_reset(&b);

    /* Params over FCGI_MAX_PARAMS_BYTES: a broken peer. */
    buf_t many = BUF_INIT;
    char chunk[60000];
    memset(chunk, 'p', sizeof chunk);
    rec(&many, 1, 3, begin, 8);
    rec(&many, 4, 3, chunk, sizeof chunk);
    rec(&many, 4, 3, chunk, sizeof chunk);
    received(&c, &many);
    check_int(fcgi_conn_feed(&c, 4096, &e), FCGI_BROKEN, "params over the limit: broken");
    ok(strstr(e.msg, "params over") != NULL, "says so: %s", e.msg);
    fcgi_conn_free(&c);
    buf_free(&many);

    /* A pair whose length runs past the params' end. */
    buf_reset(&b);
    rec(&b, 1, 3, begin, 8);
    rec(&b, 4, 3, "\x05\x7fNAMEShort", 11);
    rec(&b, 4, 3, "", 0);
    received(&c, &b);
    check_int(fcgi_conn_feed(&c, 4096, &e), FCGI_BROKEN, "a pair past its end: broken");
    fcgi_conn_free(&c);
    buf_free(&p);
    buf_free(&b);
    free(big);
}

static void test_refusals(void)
{
    buf_t b = BUF_INIT;
    unsigned char begin[8] = {0, 1, 1}, filter[8] = {0, 3, 1};
    rec(&b, 1, 1, begin, 8);
    rec(&b, 1, 2, begin, 8);  /* a second request at once */
    rec(&b, 1, 9, filter, 8); /* the filter role */
    rec(&b, 9, 0,
        "\x0f\x00"
        "FCGI_MPXS_CONNS",
        17);
    rec(&b, 42, 0, "", 0);          /* an unknown management type */
    rec(&b, 4, 2, "\x01\x01XY", 4); /* the refused request's params: ignored */
    rec(&b, 4, 1, "\x01\x01QR", 4);
    rec(&b, 4, 1, "", 0);
    rec(&b, 5, 1, "", 0);
    fcgi_conn_t c;
    err_t e = {0};
    received(&c, &b);
    check_int(fcgi_conn_feed(&c, 4096, &e), FCGI_READY, "refusals: request 1 still served");
    check_str(env_get(&c, "Q"), "R", "its params only");
    ok(env_get(&c, "X") == NULL, "not the refused request's");
    const unsigned char *o = (const unsigned char *)c.out.data;
    size_t at = 0;
    int types[4], statuses[4], n = 0;
    while (at + 8 <= c.out.len && n < 4) {
        size_t len = ((size_t)o[at + 4] << 8) | o[at + 5];
        types[n] = o[at + 1];
        statuses[n] = o[at + 1] == 3 ? o[at + 8 + 4] : -1;
        n++;
        at += 8 + len + o[at + 6];
    }
    check_int(n, 4, "four replies owed");
    check_int(types[0] * 10 + statuses[0], 31, "END_REQUEST CANT_MPX_CONN for the second request");
    check_int(types[1] * 10 + statuses[1], 33, "END_REQUEST UNKNOWN_ROLE for the filter");
    check_int(types[2], 10, "GET_VALUES_RESULT");
    ok(memmem(c.out.data, c.out.len, "FCGI_MPXS_CONNS0", 16) != NULL, "FCGI_MPXS_CONNS is 0");
    check_int(types[3], 11, "UNKNOWN_TYPE for type 42");
    fcgi_conn_free(&c);

    buf_reset(&b);
    rec(&b, 1, 1, begin, 8);
    b.data[0] = 2;
    received(&c, &b);
    check_int(fcgi_conn_feed(&c, 4096, &e), FCGI_BROKEN, "version 2: broken");
    fcgi_conn_free(&c);
    buf_reset(&b);
    rec(&b, 1, 1, begin, 8);
    rec(&b, 5, 1, "body", 4);
    received(&c, &b);
    check_int(fcgi_conn_feed(&c, 4096, &e), FCGI_BROKEN, "STDIN before the params ended: broken");
    fcgi_conn_free(&c);
    buf_free(&b);
}

static void test_answer(void)
{
    size_t n = 200000;
    char *body = malloc(n);
    for (size_t i = 0; i < n; i++) body[i] = (char)('a' + i % 26);
    buf_t out = BUF_INIT, got = BUF_INIT;
    const char head[] = "Status: 200 OK\r\n\r\n";
    fcgi_put_answer(&out, 513, head, sizeof head - 1, body, n);
    const unsigned char *o = (const unsigned char *)out.data;
    size_t at = 0, over = 0, records = 0;
    int ended = 0, empty = 0, ids = 1;
    while (at + 8 <= out.len) {
        size_t len = ((size_t)o[at + 4] << 8) | o[at + 5];
        if (((o[at + 2] << 8) | o[at + 3]) != 513) ids = 0;
        if (o[at + 1] == 6 && len == 0) empty++;
        if (o[at + 1] == 6) buf_append(&got, o + at + 8, len);
        if (o[at + 1] == 3) ended = at + 8 + len == out.len && o[at + 8 + 4] == 0;
        if (len > 65535) over++;
        records++;
        at += 8 + len + o[at + 6];
    }
    check_int(at, out.len, "answer: records fill it exactly");
    ok(records > 4, "a 200 kB body takes several records (%zu)", records);
    check_int(over, 0, "none longer than 65535");
    check_int(ids, 1, "all with the request's id");
    check_int(empty, 1, "one empty STDOUT");
    check_int(ended, 1, "END_REQUEST last, REQUEST_COMPLETE");
    ok(got.len == sizeof head - 1 + n && memcmp(got.data, head, sizeof head - 1) == 0 &&
           memcmp(got.data + sizeof head - 1, body, n) == 0,
       "head and body read back");
    buf_free(&out);
    buf_free(&got);
    free(body);
}

int main(void)
{
    test_whole_and_bytewise();
    test_limits();
    test_refusals();
    test_answer();
    return tap_done();
}
