/*
 * buf.c — growable byte buffer and JSON string writer (see buf.h).
 */
#include "buf.h"

#include "err.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_free(buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void buf_reset(buf_t *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void buf_reserve(buf_t *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        err_log("out of memory in buf");
        abort();
    }
    b->data = p;
    b->cap = cap;
}

void buf_append(buf_t *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void buf_puts(buf_t *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_putc(buf_t *b, char c)
{
    buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        buf_append(b, small, (size_t)n);
        return;
    }
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void buf_put_i64(buf_t *b, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
    buf_append(b, tmp, (size_t)n);
}

void buf_put_double(buf_t *b, double v)
{
    if (!isfinite(v)) {
        buf_append(b, "null", 4);
        return;
    }
    if (v == (double)(int64_t)v && fabs(v) < 1e15) {
        /* graphql-js prints integral floats without a fraction: 2.0 -> 2 */
        buf_put_i64(b, (int64_t)v);
        return;
    }
    char tmp[32];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    buf_puts(b, tmp);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t buf__utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned min;
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        min = 0x80;
        c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        min = 0x800;
        c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        min = 0x10000;
        c &= 0x07;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    return len;
}

/* 1 when the 8 bytes at s are printable ASCII other than '"' and '\\'
 * (nothing to escape or validate): tested a word at a time, because most
 * of an answer's bytes are such strings. */
static int buf__json_plain8(const unsigned char *s)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t x;
    memcpy(&x, s, sizeof x);
    uint64_t q = x ^ (ones * '"'), bs = x ^ (ones * '\\');
    uint64_t bad = x | ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((bs - ones) & ~bs);
    return (bad & highs) == 0;
}

void buf_put_json_str(buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    buf_reserve(b, n + 2);
    buf_putc(b, '"');
    size_t run = 0; /* start of a run of bytes that need no escaping */
    size_t i = 0;
    while (i < n) {
        while (i + 8 <= n && buf__json_plain8(p + i)) i += 8;
        if (i == n) break;
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        size_t ulen = c >= 0x80 ? buf__utf8_len(p + i, n - i) : 1;
        if (c >= 0x80 && ulen > 0) {
            i += ulen;
            continue;
        }
        buf_append(b, s + run, i - run);
        if (c >= 0x80) {
            buf_append(b, "\\ufffd", 6);
        } else if (c == '"') {
            buf_append(b, "\\\"", 2);
        } else if (c == '\\') {
            buf_append(b, "\\\\", 2);
        } else if (c == '\n') {
            buf_append(b, "\\n", 2);
        } else if (c == '\r') {
            buf_append(b, "\\r", 2);
        } else if (c == '\t') {
            buf_append(b, "\\t", 2);
        } else if (c == '\b') {
            buf_append(b, "\\b", 2);
        } else if (c == '\f') {
            buf_append(b, "\\f", 2);
        } else {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_append(b, u, 6);
        }
        i++;
        run = i;
    }
    buf_append(b, s + run, n - run);
    buf_putc(b, '"');
}
