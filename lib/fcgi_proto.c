/*
 * fcgi_proto.c — FastCGI framing for one connection (see fcgi_proto.h).
 * Record layout, types and status codes: the FastCGI 1.0 specification.
 */
#include "fcgi_proto.h"

#include <string.h>

enum {
    FCGI_HEADER_LEN = 8,
    FCGI_VERSION_1 = 1,
    FCGI_BEGIN_REQUEST = 1,
    FCGI_ABORT_REQUEST = 2,
    FCGI_END_REQUEST = 3,
    FCGI_PARAMS = 4,
    FCGI_STDIN = 5,
    FCGI_STDOUT = 6,
    FCGI_DATA = 8,
    FCGI_GET_VALUES = 9,
    FCGI_GET_VALUES_RESULT = 10,
    FCGI_UNKNOWN_TYPE = 11,
    FCGI_RESPONDER = 1,
    FCGI_KEEP_CONN = 1,
    FCGI_REQUEST_COMPLETE = 0,
    FCGI_CANT_MPX_CONN = 1,
    FCGI_UNKNOWN_ROLE = 3,
    /* An STDOUT record's content, kept a multiple of 8 so no padding is due. */
    FCGI_STDOUT_CHUNK = 65528,
};

void fcgi_conn_init(fcgi_conn_t *c)
{
    memset(c, 0, sizeof *c);
}

void fcgi_conn_free(fcgi_conn_t *c)
{
    buf_free(&c->in);
    buf_free(&c->env);
    buf_free(&c->body);
    buf_free(&c->out);
    memset(c, 0, sizeof *c);
}

char *fcgi_conn_space(fcgi_conn_t *c, size_t want)
{
    if (c->in_off > 0) {
        memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
        c->in.len -= c->in_off;
        c->in_off = 0;
    }
    buf_reserve(&c->in, want);
    return c->in.data + c->in.len;
}

static void fcgi_put_header(buf_t *out, int type, uint16_t id, size_t len)
{
    unsigned char h[FCGI_HEADER_LEN] = {FCGI_VERSION_1,
                                        (unsigned char)type,
                                        (unsigned char)(id >> 8),
                                        (unsigned char)id,
                                        (unsigned char)(len >> 8),
                                        (unsigned char)len,
                                        0,
                                        0};
    buf_append(out, h, sizeof h);
}

static void fcgi_put_end(buf_t *out, uint16_t id, int protocol_status)
{
    unsigned char body[8] = {0, 0, 0, 0, (unsigned char)protocol_status, 0, 0, 0};
    fcgi_put_header(out, FCGI_END_REQUEST, id, sizeof body);
    buf_append(out, body, sizeof body);
}

void fcgi_put_answer(buf_t *out, uint16_t id, const char *head, size_t head_len, const char *body,
                     size_t body_len)
{
    buf_reserve(out, head_len + body_len + 48 + (body_len / FCGI_STDOUT_CHUNK) * FCGI_HEADER_LEN);
    const char *parts[2] = {head, body};
    size_t lens[2] = {head_len, body_len};
    for (int i = 0; i < 2; i++) {
        for (size_t off = 0; off < lens[i]; off += FCGI_STDOUT_CHUNK) {
            size_t n = lens[i] - off < FCGI_STDOUT_CHUNK ? lens[i] - off : FCGI_STDOUT_CHUNK;
            fcgi_put_header(out, FCGI_STDOUT, id, n);
            buf_append(out, parts[i] + off, n);
        }
    }
    fcgi_put_header(out, FCGI_STDOUT, id, 0);
    fcgi_put_end(out, id, FCGI_REQUEST_COMPLETE);
}

/* A name-value pair length: one byte below 128, else four with the top bit
 * set. Returns the bytes it took, 0 when p..end is too short. */
static size_t fcgi_nv_len(const unsigned char *p, const unsigned char *end, size_t *len)
{
    if (p >= end) return 0;
    if (!(p[0] & 0x80)) {
        *len = p[0];
        return 1;
    }
    if (end - p < 4) return 0;
    *len = ((size_t)(p[0] & 0x7f) << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
    return 4;
}

/* Decodes the gathered PARAMS stream (held in c->env until now) into
 * "NAME=VALUE\0" strings. A name or value holding a NUL is cut there: CGI
 * variables are C strings. */
static int fcgi_decode_params(fcgi_conn_t *c, err_t *e)
{
    buf_t raw = c->env;
    c->env = (buf_t)BUF_INIT;
    /* A pair's lengths take at least 2 bytes, its '=' and NUL 2: the
     * strings never outgrow the encoding, so they are written in place. */
    buf_reserve(&c->env, raw.len + 1);
    char *w = c->env.data;
    const unsigned char *p = (const unsigned char *)raw.data, *end = p + raw.len;
    int rc = 0;
    while (p < end) {
        size_t nl, vl, a, b;
        if ((a = fcgi_nv_len(p, end, &nl)) == 0 || (b = fcgi_nv_len(p + a, end, &vl)) == 0 ||
            nl > (size_t)(end - p - a - b) || vl > (size_t)(end - p - a - b) - nl) {
            rc = err_set(e, ERR_BAD_INPUT, "FastCGI params: a name-value pair runs past its end");
            break;
        }
        p += a + b;
        size_t n1 = strnlen((const char *)p, nl), n2 = strnlen((const char *)p + nl, vl);
        memcpy(w, p, n1);
        w += n1;
        *w++ = '=';
        memcpy(w, p + nl, n2);
        w += n2;
        *w++ = '\0';
        p += nl + vl;
    }
    c->env.len = (size_t)(w - c->env.data);
    *w = '\0';
    buf_free(&raw);
    return rc;
}

/* A refusal for a request this connection will not serve. */
static void fcgi_refuse(fcgi_conn_t *c, uint16_t id, int protocol_status)
{
    fcgi_put_end(&c->out, id, protocol_status);
}

/* FCGI_GET_VALUES: answers FCGI_MPXS_CONNS=0 (one request per connection)
 * and FCGI_MAX_REQS=1; names it does not know are left out, as the spec
 * says. */
static void fcgi_get_values(fcgi_conn_t *c, const unsigned char *p, size_t n)
{
    buf_t r = BUF_INIT;
    const unsigned char *end = p + n;
    while (p < end) {
        size_t nl, vl, a, b;
        if ((a = fcgi_nv_len(p, end, &nl)) == 0 || (b = fcgi_nv_len(p + a, end, &vl)) == 0 ||
            nl > (size_t)(end - p - a - b) || vl > (size_t)(end - p - a - b) - nl)
            break;
        const char *name = (const char *)p + a + b;
        const char *val = NULL;
        if (nl == 15 && memcmp(name, "FCGI_MPXS_CONNS", 15) == 0) val = "0";
        if (nl == 13 && memcmp(name, "FCGI_MAX_REQS", 13) == 0) val = "1";
        if (nl == 14 && memcmp(name, "FCGI_MAX_CONNS", 14) == 0) val = "1024";
        if (val) {
            unsigned char l[2] = {(unsigned char)nl, (unsigned char)strlen(val)};
            buf_append(&r, l, 2);
            buf_append(&r, name, nl);
            buf_append(&r, val, l[1]);
        }
        p += a + b + nl + vl;
    }
    fcgi_put_header(&c->out, FCGI_GET_VALUES_RESULT, 0, r.len);
    buf_append(&c->out, r.data, r.len);
    buf_free(&r);
}

int fcgi_conn_feed(fcgi_conn_t *c, size_t max_body, err_t *e)
{
    while (!c->ready) {
        size_t avail = c->in.len - c->in_off;
        if (avail < FCGI_HEADER_LEN) return FCGI_MORE;
        const unsigned char *h = (const unsigned char *)c->in.data + c->in_off;
        size_t clen = ((size_t)h[4] << 8) | h[5], plen = h[6];
        if (h[0] != FCGI_VERSION_1)
            return err_set(e, ERR_BAD_INPUT, "FastCGI record version %d, expected 1", h[0]),
                   FCGI_BROKEN;
        if (avail < FCGI_HEADER_LEN + clen + plen) return FCGI_MORE;
        int type = h[1];
        uint16_t id = (uint16_t)((h[2] << 8) | h[3]);
        const unsigned char *p = h + FCGI_HEADER_LEN;
        c->in_off += FCGI_HEADER_LEN + clen + plen;

        if (id == 0) { /* a management record */
            if (type == FCGI_GET_VALUES) {
                fcgi_get_values(c, p, clen);
            } else {
                unsigned char body[8] = {(unsigned char)type};
                fcgi_put_header(&c->out, FCGI_UNKNOWN_TYPE, 0, sizeof body);
                buf_append(&c->out, body, sizeof body);
            }
            continue;
        }
        if (type == FCGI_BEGIN_REQUEST) {
            if (clen < 8)
                return err_set(e, ERR_BAD_INPUT, "FastCGI BEGIN_REQUEST of %zu bytes", clen),
                       FCGI_BROKEN;
            int role = (p[0] << 8) | p[1];
            if (role != FCGI_RESPONDER) {
                fcgi_refuse(c, id, FCGI_UNKNOWN_ROLE);
            } else if (c->id != 0) {
                fcgi_refuse(c, id, FCGI_CANT_MPX_CONN);
            } else {
                c->id = id;
                c->keep_conn = p[2] & FCGI_KEEP_CONN;
                c->params_done = 0;
                c->body_over = 0;
                buf_reset(&c->env);
                buf_reset(&c->body);
            }
            continue;
        }
        if (id != c->id) continue; /* a refused request's records */
        switch (type) {
        case FCGI_PARAMS:
            if (c->params_done) break;
            if (clen == 0) {
                c->params_done = 1;
                if (fcgi_decode_params(c, e) != 0) return FCGI_BROKEN;
            } else if (c->env.len + clen > FCGI_MAX_PARAMS_BYTES) {
                return err_set(e, ERR_BAD_INPUT, "FastCGI params over %d bytes",
                               FCGI_MAX_PARAMS_BYTES),
                       FCGI_BROKEN;
            } else {
                buf_append(&c->env, p, clen);
            }
            break;
        case FCGI_STDIN:
            if (!c->params_done)
                return err_set(e, ERR_BAD_INPUT, "FastCGI STDIN before the params ended"),
                       FCGI_BROKEN;
            if (clen == 0) {
                if (c->body.data == NULL) buf_append(&c->body, "", 0); /* "" not NULL */
                c->ready = 1;
            } else if (c->body_over || c->body.len + clen > max_body) {
                c->body_over = 1; /* read on to the end, keep nothing */
                buf_reset(&c->body);
            } else {
                buf_append(&c->body, p, clen);
            }
            break;
        case FCGI_ABORT_REQUEST:
            fcgi_put_end(&c->out, id, FCGI_REQUEST_COMPLETE);
            c->id = 0;
            break;
        case FCGI_DATA: /* only for the filter role, refused above */
        default:
            break;
        }
    }
    return FCGI_READY;
}

void fcgi_conn_next(fcgi_conn_t *c)
{
    c->id = 0;
    c->ready = 0;
    c->params_done = 0;
    c->body_over = 0;
    buf_reset(&c->env);
    buf_reset(&c->body);
}
