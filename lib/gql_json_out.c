/*
 * gql_json_out.c — the response as JSON: the result tree, leaf values,
 * "extensions", and the request-error shape. Numbers are written without
 * printf where they can be (this is the response path's hottest code).
 */
#include "gql_exec_int.h"

#include <math.h>

/* Integers without printf (the response writer's hottest path). */
void gql_json_put_int(buf_t *b, int64_t v)
{
    char tmp[24], *e = tmp + sizeof tmp, *p = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    buf_append(b, p, (size_t)(e - p));
}

/* Doubles: most have a few decimals, which this prints without printf (the
 * printf path costs ~3000 instructions). v*10^k integral and (v*10^k)/10^k
 * == v means the k-digit decimal reads back as v, and the smallest such k
 * is the shortest form, as JavaScript prints it. Otherwise buf_put_double. */
static void gql__put_double(buf_t *b, double v)
{
    if (isfinite(v) && v == floor(v) && fabs(v) < 1e15) {
        gql_json_put_int(b, (int64_t)v);
        return;
    }
    double p = 10;
    for (int k = 1; k <= 8 && isfinite(v); k++, p *= 10) {
        double x = v * p;
        if (fabs(x) < 9e15 && x == floor(x) && x / p == v) {
            uint64_t u = (uint64_t)fabs(x), scale = (uint64_t)p;
            char frac[16];
            uint64_t f = u % scale;
            for (int i = k - 1; i >= 0; i--, f /= 10) frac[i] = (char)('0' + f % 10);
            if (v < 0) buf_putc(b, '-');
            gql_json_put_int(b, (int64_t)(u / scale));
            buf_putc(b, '.');
            buf_append(b, frac, (size_t)k);
            return;
        }
    }
    buf_put_double(b, v);
}

static void gql__write_value(buf_t *b, const gql_value_t *v)
{
    switch (v->kind) {
    case GQL_NULL:
        buf_append(b, "null", 4);
        break;
    case GQL_BOOL:
        v->u.b ? buf_append(b, "true", 4) : buf_append(b, "false", 5);
        break;
    case GQL_INT:
        gql_json_put_int(b, v->u.i);
        break;
    case GQL_FLOAT:
        gql__put_double(b, v->u.f);
        break;
    case GQL_STRING:
    case GQL_ENUM:
        buf_put_json_str(b, v->u.s.ptr, v->u.s.len);
        break;
    case GQL_LIST:
        buf_putc(b, '[');
        for (size_t i = 0; i < v->u.list.n; i++) {
            if (i) buf_putc(b, ',');
            gql__write_value(b, &v->u.list.items[i]);
        }
        buf_putc(b, ']');
        break;
    case GQL_INPUT_OBJECT:
        buf_putc(b, '{');
        for (size_t i = 0; i < v->u.obj.n; i++) {
            if (i) buf_putc(b, ',');
            buf_put_json_str(b, v->u.obj.names[i], strlen(v->u.obj.names[i]));
            buf_putc(b, ':');
            gql__write_value(b, &v->u.obj.values[i]);
        }
        buf_putc(b, '}');
        break;
    default:
        buf_append(b, "null", 4);
        break;
    }
}

void gql_json_write_node(buf_t *b, const gql_rnode_t *n)
{
    switch (n->kind) {
    case GQL_RN_LEAF:
        gql__write_value(b, &n->u.leaf);
        break;
    case GQL_RN_LIST:
        buf_putc(b, '[');
        for (uint32_t i = 0; i < n->u.list.n; i++) {
            if (i) buf_putc(b, ',');
            gql_json_write_node(b, &n->u.list.items[i]);
        }
        buf_putc(b, ']');
        break;
    case GQL_RN_OBJ:
        buf_putc(b, '{');
        for (uint32_t i = 0; i < n->u.obj.n; i++) {
            const gql_rnode_t *c = &n->u.obj.vals[i];
            /* ,"key": in one go; names need no escaping */
            buf_reserve(b, c->key.len + 4);
            char *w = b->data + b->len;
            if (i) *w++ = ',';
            *w++ = '"';
            memcpy(w, c->key.p, c->key.len);
            w += c->key.len;
            *w++ = '"';
            *w++ = ':';
            b->len = (size_t)(w - b->data);
            b->data[b->len] = '\0';
            gql_json_write_node(b, c);
        }
        buf_putc(b, '}');
        break;
    default:
        buf_append(b, "null", 4);
        break;
    }
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
