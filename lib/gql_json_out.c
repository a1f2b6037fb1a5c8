/*
 * gql_json_out.c — the response as JSON: the result tree, leaf values,
 * "extensions", and the request-error shape. Numbers are written without
 * printf where they can be (this is the response path's hottest code).
 */
#include "gql_exec_int.h"

#include <math.h>

/* Room for n more bytes (and the NUL buf_t keeps): the common case is one
 * compare, not a call. The writers below leave the NUL to their caller. */
static inline char *gql__room(buf_t *b, size_t n)
{
    if (b->len + n + 1 > b->cap) buf_reserve(b, n);
    return b->data + b->len;
}

static inline void gql__putc(buf_t *b, char c)
{
    *gql__room(b, 1) = c;
    b->len++;
}

/* memcpy for the short names and values of a response: fixed-size moves
 * the compiler inlines, where a libc call costs more than the copy. */
static inline void gql__copy(char *d, const char *s, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t x, y;
        memcpy(&x, s, 8);
        memcpy(&y, s + n - 8, 8);
        memcpy(d, &x, 8);
        memcpy(d + n - 8, &y, 8);
    } else if (n >= 4 && n < 8) {
        uint32_t x, y;
        memcpy(&x, s, 4);
        memcpy(&y, s + n - 4, 4);
        memcpy(d, &x, 4);
        memcpy(d + n - 4, &y, 4);
    } else if (n < 4) {
        for (size_t i = 0; i < n; i++) d[i] = s[i];
    } else {
        memcpy(d, s, n);
    }
}

/* A gql_cfield_t.okey's n bytes at kp, in 16-byte moves (both sides
 * have the room: the key's slack, the caller's room check). */
static inline void gql__copy_key(char *d, const char *kp, size_t n)
{
    memcpy(d, kp, 16); /* most keys */
    if (__builtin_expect(n > 16, 0))
        for (size_t o = 16; o < n; o += 16) memcpy(d + o, kp + o, 16);
}

/* `,"key":` of f at w (room for its length + 20); returns the end. */
static inline char *gql__key_at(char *w, const gql_cfield_t *f)
{
    if (f->okey.p) {
        size_t kn = f->okey.len + 4;
        gql__copy_key(w, f->okey.p - 2, kn);
        return w + kn;
    }
    *w++ = ',';
    *w++ = '"';
    gql__copy(w, f->key.p, f->key.len);
    w += f->key.len;
    *w++ = '"';
    *w++ = ':';
    return w;
}

static inline void gql__put(buf_t *b, const char *p, size_t n)
{
    gql__copy(gql__room(b, n), p, n);
    b->len += n;
}

/* v in decimal at w (room for 20 bytes); returns the length. */
static size_t gql__int_text_slow(char *w, int64_t v)
{
    static const char pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    if (v >= 10 && v < 10000) { /* years, counts: two digit pairs at most */
        unsigned u = (unsigned)v, hi = u / 100, lo = u % 100;
        size_t n = u >= 1000 ? 4 : u >= 100 ? 3 : 2;
        char *q = w;
        if (n == 4) *q++ = pairs[hi * 2];
        if (n >= 3) *q++ = pairs[hi * 2 + 1];
        q[0] = pairs[lo * 2];
        q[1] = pairs[lo * 2 + 1];
        return n;
    }
    char tmp[24], *e = tmp + sizeof tmp, *p = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    while (u >= 100) { /* two digits a division */
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        *--p = pairs[d + 1];
        *--p = pairs[d];
    }
    if (u >= 10) {
        *--p = pairs[u * 2 + 1];
        *--p = pairs[u * 2];
    } else {
        *--p = (char)('0' + u);
    }
    if (v < 0) *--p = '-';
    size_t n = (size_t)(e - p);
    memcpy(w, p, n);
    return n;
}

/* The same, one digit (counts, flags, versions: most integers) without a
 * call. */
static inline size_t gql__int_text(char *w, int64_t v)
{
    if (v >= 0 && v < 10) {
        *w = (char)('0' + v);
        return 1;
    }
    return gql__int_text_slow(w, v);
}

/* Integers without printf (the response writer's hottest path). */
void gql_json_put_int(buf_t *b, int64_t v)
{
    b->len += gql__int_text(gql__room(b, 21), v);
    b->data[b->len] = '\0';
}

/* Doubles: most have a few decimals, which this prints without printf (the
 * printf path costs ~3000 instructions). v*10^k integral and (v*10^k)/10^k
 * == v means the k-digit decimal reads back as v, and the smallest such k
 * is the shortest form, as JavaScript prints it. Otherwise buf_put_double. */
static void gql__put_double(buf_t *b, double v)
{
    if (!isfinite(v)) {
        buf_put_double(b, v);
        return;
    }
    /* (double)(int64_t)x == x: x is integral (|x| < 9e15; no libm call) */
    if (fabs(v) < 1e15 && v == (double)(int64_t)v) {
        gql_json_put_int(b, (int64_t)v);
        return;
    }
    double p = 10;
    for (int k = 1; k <= 8; k++, p *= 10) {
        double x = v * p;
        if (fabs(x) < 9e15 && x == (double)(int64_t)x && x / p == v) {
            uint64_t u = (uint64_t)fabs(x), scale = (uint64_t)p;
            char *w = gql__room(b, 32), *w0 = w; /* sign, 15 digits, '.' */
            if (v < 0) *w++ = '-';
            w += gql__int_text(w, (int64_t)(u / scale));
            *w++ = '.';
            uint64_t f = u % scale;
            for (int i = k - 1; i >= 0; i--, f /= 10) w[i] = (char)('0' + f % 10);
            b->len += (size_t)(w - w0) + (size_t)k;
            return;
        }
    }
    buf_put_double(b, v);
}

/* Whether 8 bytes hold a control byte, '"', '\\' or a byte >= 0x80. */
static inline bool gql__word_special(const unsigned char *p)
{
    uint64_t w, ones = 0x0101010101010101u, high = 0x8080808080808080u;
    memcpy(&w, p, 8);
    uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
    return (((w - ones * 0x20) | (q - ones) | (bs - ones) | w) & high) != 0;
}

/* The same test on 4 bytes (strings of 4 to 7 bytes). */
static inline bool gql__word4_special(const unsigned char *p)
{
    uint32_t w, ones = 0x01010101u, high = 0x80808080u;
    memcpy(&w, p, 4);
    uint32_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
    return (((w - ones * 0x20) | (q - ones) | (bs - ones) | w) & high) != 0;
}

/* 1 for the bytes a JSON string cannot hold as they are (and >= 0x80,
 * which buf_put_json_str checks for UTF-8). */
static const unsigned char gql__special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* Whether s needs escaping (or UTF-8 checking) in a JSON string. */
static inline bool gql__str_special(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    bool special = false;
    if (n >= 8) { /* 8 bytes a step, the last step overlapping */
        for (size_t i = 0; i + 8 <= n && !special; i += 8) special = gql__word_special(p + i);
        special = special || gql__word_special(p + n - 8);
    } else if (n >= 4) { /* two 4-byte steps, overlapping */
        special = gql__word4_special(p) || gql__word4_special(p + n - 4);
    } else {
        unsigned char any = 0;
        for (size_t i = 0; i < n; i++) any |= gql__special[p[i]];
        special = any;
    }
    return special;
}

/* A string: printable ASCII (nearly every value) is copied in one go,
 * anything else goes through buf_put_json_str's escaping. */
static void gql__put_str(buf_t *b, const char *s, size_t n)
{
    if (gql__str_special(s, n)) {
        buf_put_json_str(b, s, n);
        return;
    }
    char *w = gql__room(b, n + 2);
    *w++ = '"';
    gql__copy(w, s, n);
    w[n] = '"';
    b->len += n + 2;
}

static void gql__write_value(buf_t *b, const gql_value_t *v)
{
    switch (v->kind) {
    case GQL_BOOL:
        v->u.b ? gql__put(b, "true", 4) : gql__put(b, "false", 5);
        break;
    case GQL_INT:
        gql_json_put_int(b, v->u.i);
        break;
    case GQL_FLOAT:
        gql__put_double(b, v->u.f);
        break;
    case GQL_STRING:
    case GQL_ENUM:
        gql__put_str(b, v->u.s.ptr, v->u.s.len);
        break;
    case GQL_LIST:
        gql__putc(b, '[');
        for (size_t i = 0; i < v->u.list.n; i++) {
            if (i) gql__putc(b, ',');
            gql__write_value(b, &v->u.list.items[i]);
        }
        gql__putc(b, ']');
        break;
    case GQL_INPUT_OBJECT:
        gql__putc(b, '{');
        for (size_t i = 0; i < v->u.obj.n; i++) {
            if (i) gql__putc(b, ',');
            gql__put_str(b, v->u.obj.names[i], strlen(v->u.obj.names[i]));
            gql__putc(b, ':');
            gql__write_value(b, &v->u.obj.values[i]);
        }
        gql__putc(b, '}');
        break;
    default: /* GQL_NULL, and what cannot be output */
        gql__put(b, "null", 4);
        break;
    }
}

/* A leaf, the common kinds without a call. */
static inline void gql__write_leaf(buf_t *b, const gql_value_t *v)
{
    if (v->kind == GQL_STRING || v->kind == GQL_ENUM)
        gql__put_str(b, v->u.s.ptr, v->u.s.len);
    else if (v->kind == GQL_INT)
        gql_json_put_int(b, v->u.i);
    else
        gql__write_value(b, v);
}

static void gql__write_node(buf_t *b, const gql_rnode_t *n)
{
    switch (n->kind) {
    case GQL_RN_LEAF:
        gql__write_value(b, &n->u.leaf);
        break;
    case GQL_RN_LIST:
        gql__putc(b, '[');
        for (uint32_t i = 0; i < n->u.list.n; i++) {
            if (i) gql__putc(b, ',');
            gql__write_node(b, &n->u.list.items[i]);
        }
        gql__putc(b, ']');
        break;
    case GQL_RN_OBJ: {
        /* every field as ,"key":value; the first ',' becomes the '{' */
        size_t open = b->len;
        for (uint32_t i = 0; i < n->u.obj.n; i++) {
            const gql_rnode_t *c = &n->u.obj.vals[i];
            const gql_value_t *lv = &c->u.leaf;
            const gql_cfield_t *f = &n->u.obj.set->fields[i];
            if (c->kind == GQL_RN_LEAF && (lv->kind == GQL_STRING || lv->kind == GQL_ENUM) &&
                !gql__str_special(lv->u.s.ptr, lv->u.s.len)) {
                /* ,"key":"value" with one room check (most fields) */
                char *w = gql__room(b, f->key.len + 20 + lv->u.s.len + 2);
                w = gql__key_at(w, f);
                *w++ = '"';
                gql__copy(w, lv->u.s.ptr, lv->u.s.len);
                w += lv->u.s.len;
                *w++ = '"';
                b->len = (size_t)(w - b->data);
                continue;
            }
            char *w = gql__key_at(gql__room(b, f->key.len + 20 + 21), f);
            if (c->kind == GQL_RN_LEAF && lv->kind == GQL_INT) { /* ,"key":digits likewise */
                b->len = (size_t)(w - b->data) + gql__int_text(w, lv->u.i);
                continue;
            }
            b->len = (size_t)(w - b->data);
            if (c->kind == GQL_RN_LEAF)
                gql__write_leaf(b, &c->u.leaf);
            else
                gql__write_node(b, c);
        }
        if (b->len == open)
            gql__putc(b, '{');
        else
            b->data[open] = '{';
        gql__putc(b, '}');
        break;
    }
    default:
        gql__put(b, "null", 4);
        break;
    }
}

void gql_json_write_node(buf_t *b, const gql_rnode_t *n)
{
    gql__write_node(b, n);
    b->data[b->len] = '\0';
}

void gql_json_write_extensions(gql_request_t *req, buf_t *out)
{
    if (req->extensions == NULL) return;
    size_t mark = out->len;
    buf_puts(out, ",\"extensions\":");
    size_t body = out->len;
    req->extensions(req->ctx, out);
    if (out->len == body) {
        out->len = mark;
        out->data[mark] = '\0';
    }
}

void gql_write_error(buf_t *out, err_code_t code, const char *msg)
{
    buf_puts(out, "{\"errors\":[{\"message\":");
    buf_put_json_str(out, msg, strlen(msg));
    buf_puts(out, ",\"extensions\":{\"code\":\"");
    buf_puts(out, err_code_name(code));
    buf_puts(out, "\"}}]}");
}
