/*
 * json_in.c — JSON text read into cJSON-shaped nodes in an arena (see
 * json_in.h).
 */
#include "json_in.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p, *end;
    arena_t *a;
    int depth;
} json_in__t;

static void json_in__ws(json_in__t *r)
{
    while (r->p < r->end && (unsigned char)*r->p <= 32) r->p++;
}

static cJSON *json_in__node(json_in__t *r, int type)
{
    cJSON *n = arena_calloc(r->a, 1, sizeof *n);
    n->type = type;
    return n;
}

static unsigned json_in__hex4(const char *p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return 0; /* as cJSON's parse_hex4: an invalid digit reads as 0 */
    }
    return v;
}

/* \uXXXX (and a following low surrogate) at p as UTF-8 into out; the
 * bytes read, or 0 when invalid (cJSON's utf16_literal_to_utf8). */
static size_t json_in__utf16(const char *p, const char *end, char *out, size_t *olen)
{
    if (end - p < 6) return 0;
    unsigned long cp, first = json_in__hex4(p + 2);
    size_t seq = 6;
    if (first >= 0xDC00 && first <= 0xDFFF) return 0;
    if (first >= 0xD800 && first <= 0xDBFF) {
        if (end - p < 12 || p[6] != '\\' || p[7] != 'u') return 0;
        unsigned long second = json_in__hex4(p + 8);
        if (second < 0xDC00 || second > 0xDFFF) return 0;
        cp = 0x10000 + (((first & 0x3FF) << 10) | (second & 0x3FF));
        seq = 12;
    } else {
        cp = first;
    }
    size_t n;
    unsigned char lead;
    if (cp < 0x80) {
        n = 1;
        lead = 0;
    } else if (cp < 0x800) {
        n = 2;
        lead = 0xC0;
    } else if (cp < 0x10000) {
        n = 3;
        lead = 0xE0;
    } else {
        n = 4;
        lead = 0xF0;
    }
    for (size_t i = n - 1; i > 0; i--) {
        out[i] = (char)((cp | 0x80) & 0xBF);
        cp >>= 6;
    }
    out[0] = (char)(n > 1 ? (cp | lead) : cp);
    *olen = n;
    return seq;
}

/* A string at r->p ('"'): NUL-terminated in the arena, or NULL. */
static char *json_in__string(json_in__t *r)
{
    const char *s = r->p + 1, *q = memchr(s, '"', (size_t)(r->end - s));
    if (q && memchr(s, '\\', (size_t)(q - s)) == NULL) { /* most strings: no escape */
        char *out = arena_alloc(r->a, (size_t)(q - s) + 1);
        memcpy(out, s, (size_t)(q - s));
        out[q - s] = '\0';
        r->p = q + 1;
        return out;
    }
    q = s;
    size_t escapes = 0;
    while (q < r->end && *q != '"') {
        if (*q == '\\') {
            if (q + 1 >= r->end) return NULL;
            escapes++;
            q++;
        }
        q++;
    }
    if (q >= r->end) return NULL;
    char *out = arena_alloc(r->a, (size_t)(q - s) - escapes + 1), *w = out;
    for (const char *p = s; p < q;) {
        if (*p != '\\') {
            *w++ = *p++;
            continue;
        }
        size_t n = 2;
        switch (p[1]) {
        case 'b':
            *w++ = '\b';
            break;
        case 'f':
            *w++ = '\f';
            break;
        case 'n':
            *w++ = '\n';
            break;
        case 'r':
            *w++ = '\r';
            break;
        case 't':
            *w++ = '\t';
            break;
        case '"':
        case '\\':
        case '/':
            *w++ = p[1];
            break;
        case 'u': {
            size_t len;
            n = json_in__utf16(p, q, w, &len);
            if (n == 0) return NULL;
            w += len;
            break;
        }
        default:
            return NULL;
        }
        p += n;
    }
    *w = '\0';
    r->p = q + 1;
    return out;
}

static cJSON *json_in__value(json_in__t *r);

/* The members of an array or object at r->p ('[' or '{'). */
static cJSON *json_in__container(json_in__t *r, bool object)
{
    if (++r->depth > CJSON_NESTING_LIMIT) return NULL;
    cJSON *c = json_in__node(r, object ? cJSON_Object : cJSON_Array), *tail = NULL;
    char close = object ? '}' : ']';
    r->p++;
    json_in__ws(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        r->depth--;
        return c;
    }
    for (;;) {
        char *key = NULL;
        if (object) {
            json_in__ws(r);
            if (r->p >= r->end || *r->p != '"' || (key = json_in__string(r)) == NULL) return NULL;
            json_in__ws(r);
            if (r->p >= r->end || *r->p != ':') return NULL;
            r->p++;
        }
        json_in__ws(r);
        cJSON *v = json_in__value(r);
        if (v == NULL) return NULL;
        v->string = key;
        if (tail) {
            tail->next = v;
            v->prev = tail;
        } else {
            c->child = v;
        }
        tail = v;
        json_in__ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == close) break;
        return NULL;
    }
    c->child->prev = tail; /* as cJSON links it */
    r->p++;
    r->depth--;
    return c;
}

static cJSON *json_in__number(json_in__t *r)
{
    char buf[64];
    size_t n = 0;
    const char *p = r->p;
    while (p + n < r->end && ((p[n] >= '0' && p[n] <= '9') || p[n] == '+' || p[n] == '-' ||
                              p[n] == '.' || p[n] == 'e' || p[n] == 'E'))
        n++;
    /* the whole run, however long, as Debian's cJSON reads it */
    char *tmp = n < sizeof buf ? memcpy(buf, p, n) : arena_strndup(r->a, p, n);
    tmp[n] = '\0';
    char *stop = tmp;
    double d = 0;
    size_t neg = tmp[0] == '-', k = neg;
    uint64_t u = 0;
    while (k < n && k - neg < 15 && tmp[k] >= '0' && tmp[k] <= '9')
        u = u * 10 + (uint64_t)(tmp[k++] - '0');
    if (k == n && k > neg) { /* an integer below 10^15: exact as a double, as strtod reads it */
        d = neg ? -(double)u : (double)u;
        stop = tmp + n;
    } else {
        d = strtod(tmp, &stop);
    }
    if (stop == tmp) return NULL;
    cJSON *v = json_in__node(r, cJSON_Number);
    v->valuedouble = d;
    v->valueint = d >= INT32_MAX ? INT32_MAX : d <= (double)INT32_MIN ? INT32_MIN : (int)d;
    r->p += stop - tmp;
    return v;
}

static bool json_in__lit(json_in__t *r, const char *lit, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0) return false;
    r->p += n;
    return true;
}

static cJSON *json_in__value(json_in__t *r)
{
    if (r->p >= r->end) return NULL;
    switch (*r->p) {
    case 'n':
        return json_in__lit(r, "null", 4) ? json_in__node(r, cJSON_NULL) : NULL;
    case 'f':
        return json_in__lit(r, "false", 5) ? json_in__node(r, cJSON_False) : NULL;
    case 't':
        if (!json_in__lit(r, "true", 4)) return NULL;
        cJSON *t = json_in__node(r, cJSON_True);
        t->valueint = 1;
        return t;
    case '"': {
        char *s = json_in__string(r);
        if (s == NULL) return NULL;
        cJSON *v = json_in__node(r, cJSON_String);
        v->valuestring = s;
        return v;
    }
    case '[':
        return json_in__container(r, false);
    case '{':
        return json_in__container(r, true);
    default:
        return *r->p == '-' || (*r->p >= '0' && *r->p <= '9') ? json_in__number(r) : NULL;
    }
}

static const cJSON *json_in__read(arena_t *a, const char *text, size_t len, bool whole)
{
    json_in__t r = {text, text + len, a, 0};
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        r.p += 3; /* a byte order mark, as cJSON */
    json_in__ws(&r);
    const cJSON *v = json_in__value(&r);
    if (v == NULL || !whole) return v;
    json_in__ws(&r);
    return r.p == r.end ? v : NULL;
}

const cJSON *json_in_read(arena_t *a, const char *text, size_t len)
{
    return json_in__read(a, text, len, false);
}

const cJSON *json_in_read_whole(arena_t *a, const char *text, size_t len)
{
    return json_in__read(a, text, len, true);
}
