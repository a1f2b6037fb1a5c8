/*
 * gql_exec.c — preparing and executing a request, and writing its JSON.
 *
 * Owns: operation selection, request limits (depth, fields, aliases, cost),
 * variable coercion (from cJSON), argument coercion (literals + variables),
 * field collection with @skip/@include and fragments, breadth-first batched
 * execution (one resolver call per field per level for every parent that
 * selects it with the same arguments), result coercion, null propagation,
 * partial results, field errors with path and locations, and the streaming
 * JSON writer. Everything is allocated from the request arena.
 *
 * Why breadth-first: it is what makes DataLoader-style batching natural in C
 * (no promises): `books(ids){ bookstore { name } }` makes one
 * Book.bookstore call with N parents. Errors are the same as graphql-js's
 * except in one corner: graphql-js resolves depth-first and, when a
 * non-null error nulls a parent, never runs that parent's later siblings'
 * subtrees; here a sibling at the same level already ran, so its own errors
 * may also be listed.
 */
#include "gql_int.h"

#include "cJSON.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define GQL__GROW(a, arr, n, cap)                                                                  \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            size_t gql__nc = (cap) ? (size_t)(cap)*2 : 8;                                          \
            (arr) =                                                                                \
                arena_realloc((a), (arr), (size_t)(cap) * sizeof *(arr), gql__nc * sizeof *(arr)); \
            (cap) = (uint32_t)gql__nc;                                                             \
        }                                                                                          \
    } while (0)

/* ---- public value helpers ------------------------------------------------------- */

gql_value_t gql_list(arena_t *a, size_t n)
{
    gql_value_t v = {.kind = GQL_LIST};
    v.u.list.items = arena_alloc(a, (n ? n : 1) * sizeof *v.u.list.items);
    v.u.list.n = n;
    return v;
}

gql_value_t gql_errorf(arena_t *a, err_code_t code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gql_error(code, arena_strdup(a, msg));
}

const gql_value_t *gql_input_field(const gql_value_t *obj, const char *name)
{
    if (obj == NULL || obj->kind != GQL_INPUT_OBJECT) return NULL;
    for (size_t i = 0; i < obj->u.obj.n; i++)
        if (strcmp(obj->u.obj.names[i], name) == 0) return &obj->u.obj.values[i];
    return NULL;
}

const gql_value_t *gql_arg(const gql_call_t *call, const char *name)
{
    return gql_input_field(call->args, name);
}

/* ---- resolver table ------------------------------------------------------------ */

struct gql_resolvers {
    const gql_schema_t *s;
    gql_resolve_fn *by_field; /* gql_field_t.index */
    gql_resolve_fn *by_type;  /* gql_type_t.index: "Type.*" */
};

int gql_resolvers_new(const gql_schema_t *s, const gql_resolver_def_t *defs, size_t n,
                      gql_resolvers_t **out, err_t *e)
{
    gql_resolvers_t *r = calloc(1, sizeof *r);
    if (r) r->by_field = calloc(s->nfields_total + 1, sizeof *r->by_field);
    if (r) r->by_type = calloc(s->ntype_slots + 1, sizeof *r->by_type);
    if (r == NULL || r->by_field == NULL || r->by_type == NULL) {
        gql_resolvers_free(r);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    r->s = s;
    for (size_t i = 0; i < n; i++) {
        const char *key = defs[i].key, *dot = strchr(key, '.');
        gql_type_t *t = dot ? gql_schema_type(s, key, (size_t)(dot - key)) : NULL;
        if (t == NULL || (t->kind != GQL_T_OBJECT)) {
            gql_resolvers_free(r);
            return err_set(e, ERR_INTERNAL,
                           "resolver \"%s\": no object type \"%.*s\" in the schema", key,
                           dot ? (int)(dot - key) : (int)strlen(key), key);
        }
        if (strcmp(dot + 1, "*") == 0) {
            r->by_type[t->index] = defs[i].fn;
            continue;
        }
        gql_field_t *f = gql_type_field(t, dot + 1, strlen(dot + 1));
        if (f == NULL) {
            gql_resolvers_free(r);
            return err_set(e, ERR_INTERNAL, "resolver \"%s\": type %s has no field \"%s\"", key,
                           t->name, dot + 1);
        }
        r->by_field[f->index] = defs[i].fn;
    }
    *out = r;
    return 0;
}

void gql_resolvers_free(gql_resolvers_t *r)
{
    if (r == NULL) return;
    free(r->by_field);
    free(r->by_type);
    free(r);
}

/* ---- prepared request ---------------------------------------------------------- */

typedef struct gql__cset gql__cset_t;

typedef struct {
    gql_name_t key;
    const gql_ast_sel_t **nodes;
    uint32_t n, cap;
    uint32_t index; /* in its gql__cset_t */
    const gql_field_t *def;
    gql__cset_t *sub; /* collected sub-fields, one per concrete type (list) */
    uint32_t stamp, group;
    const char **selected;
    size_t nselected;
    bool selected_done;
    const char *argsig; /* arguments as written, for grouping; "" when none */
} gql__cfield_t;

struct gql__cset {
    const gql_type_t *type;
    gql__cfield_t *fields;
    uint32_t n, cap;
    gql__cset_t *next;
};

struct gql_prepared {
    gql_doc_t *doc;
    gql_ast_def_t *op;
    gql_op_t op_type;
    gql_errors_t errors;
    bool request_error;
    gql_value_t vars; /* GQL_INPUT_OBJECT of the provided/defaulted variables */
};

static void gql__req_error(gql_prepared_t *p, err_code_t code, const gql_loc_t *loc, uint32_t nloc,
                           const char *msg)
{
    gql_errors_add(&p->errors, code, loc, nloc, "%s", msg);
    p->request_error = true;
}

/* ---- limits ---------------------------------------------------------------------- */

typedef struct {
    gql_doc_t *doc;
    long fields, aliases, cost;
    long work; /* selections visited, fragments re-walked at each spread */
    int max_depth_seen;
    const gql_limits_t *lim;
    bool over;
} gql__lim_t;

static gql_ast_def_t *gql__frag(gql_doc_t *doc, gql_name_t name)
{
    for (uint32_t i = 0; i < doc->ndefs; i++)
        if (doc->defs[i].kind == GQL_DEF_FRAGMENT && gql_names_eq(doc->defs[i].name, name))
            return &doc->defs[i];
    return NULL;
}

static void gql__limits_walk(gql__lim_t *l, const gql_ast_selset_t *ss, int depth, long mult,
                             int frag_depth)
{
    for (uint32_t i = 0; i < ss->n && !l->over; i++) {
        const gql_ast_sel_t *s = ss->items[i];
        /* spreads of spreads can double at each level without adding fields */
        if (++l->work > 100L * l->lim->max_fields + 10000) {
            l->over = true;
            return;
        }
        if (s->kind == GQL_SEL_FIELD) {
            l->fields++;
            if (s->alias.len) l->aliases++;
            l->cost += mult;
            if (depth > l->max_depth_seen) l->max_depth_seen = depth;
            if (l->fields > l->lim->max_fields || l->aliases > l->lim->max_aliases ||
                l->cost > l->lim->max_cost || depth > l->lim->max_depth) {
                l->over = true;
                return;
            }
            if (s->selset) {
                bool list = false;
                if (s->def)
                    for (const gql_typeref_t *t = s->def->type; t->kind != GQL_TR_NAMED; t = t->of)
                        if (t->kind == GQL_TR_LIST) list = true;
                long m = list ? mult * 10 : mult;
                if (m > 1000000000L) m = 1000000000L;
                /* introspection is bounded by the schema (and its depth rule) */
                if (gql_name_eq(s->name, "__schema") || gql_name_eq(s->name, "__type")) m = 0;
                gql__limits_walk(l, s->selset, depth + 1, m, frag_depth);
            }
        } else if (s->kind == GQL_SEL_INLINE) {
            gql__limits_walk(l, s->selset, depth, mult, frag_depth);
        } else {
            gql_ast_def_t *f = gql__frag(l->doc, s->name);
            if (f && frag_depth < 64) gql__limits_walk(l, f->selset, depth, mult, frag_depth + 1);
        }
    }
}

/* ---- input coercion ----------------------------------------------------------------- */

typedef struct {
    arena_t *a;
    const gql_schema_t *s;
    const gql_value_t *vars; /* coerced variables; NULL while coercing variables */
    char err[300];
} gql__co_t;

static int gql__co_fail(gql__co_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int gql__co_fail(gql__co_t *c, const char *fmt, ...)
{
    if (c->err[0]) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *gql__typestr(arena_t *a, const gql_typeref_t *t)
{
    buf_t b = BUF_INIT;
    gql_typeref_print(&b, t);
    const char *s = arena_strndup(a, b.data, b.len);
    buf_free(&b);
    return s;
}

static const gql_value_t *gql__var(const gql_value_t *vars, gql_name_t name)
{
    if (vars == NULL) return NULL;
    for (size_t i = 0; i < vars->u.obj.n; i++)
        if (strlen(vars->u.obj.names[i]) == name.len &&
            memcmp(vars->u.obj.names[i], name.p, name.len) == 0)
            return &vars->u.obj.values[i];
    return NULL;
}

/* Untyped literal → value (custom scalars). */
static int gql__untyped(gql__co_t *c, const gql_ast_value_t *v, gql_value_t *out)
{
    switch (v->kind) {
    case GQL_AV_VAR: {
        const gql_value_t *x = gql__var(c->vars, v->s);
        *out = x ? *x : gql_null();
        return 0;
    }
    case GQL_AV_INT:
        *out = gql_int(strtoll(arena_strndup(c->a, v->s.p, v->s.len), NULL, 10));
        return 0;
    case GQL_AV_FLOAT:
        *out = gql_float(strtod(arena_strndup(c->a, v->s.p, v->s.len), NULL));
        return 0;
    case GQL_AV_STRING:
        *out = gql_str(v->s.p, v->s.len);
        return 0;
    case GQL_AV_ENUM:
        *out = gql_str(v->s.p, v->s.len);
        return 0;
    case GQL_AV_BOOL:
        *out = gql_bool(v->b);
        return 0;
    case GQL_AV_NULL:
        *out = gql_null();
        return 0;
    case GQL_AV_LIST:
        *out = gql_list(c->a, v->n);
        for (uint32_t i = 0; i < v->n; i++)
            if (gql__untyped(c, v->items[i], &out->u.list.items[i])) return -1;
        return 0;
    case GQL_AV_OBJECT:
        out->kind = GQL_INPUT_OBJECT;
        out->u.obj.n = v->n;
        out->u.obj.names = arena_alloc(c->a, (v->n + 1) * sizeof *out->u.obj.names);
        out->u.obj.values = arena_alloc(c->a, (v->n + 1) * sizeof *out->u.obj.values);
        for (uint32_t i = 0; i < v->n; i++) {
            out->u.obj.names[i] = arena_strndup(c->a, v->fields[i].name.p, v->fields[i].name.len);
            if (gql__untyped(c, v->fields[i].value, &out->u.obj.values[i])) return -1;
        }
        return 0;
    }
    return -1;
}

/* valueFromAST(): a literal (maybe holding variables) of type t. -1 = invalid. */
static int gql__from_ast(gql__co_t *c, const gql_ast_value_t *v, const gql_typeref_t *t,
                         gql_value_t *out);

/* An input-object field the value leaves out: its default (appended to out),
 * an error for a required one (required_fmt: field name, type), else nothing.
 * Shared by literal (AST) and variable (JSON) coercion; only the wording of
 * the error differs, as in graphql-js. */
static int gql__absent_field(gql__co_t *c, const gql_ivalue_t *f, gql_value_t *out,
                             const char *required_fmt)
{
    if (f->def) {
        gql__co_t dc = {c->a, c->s, NULL, ""};
        size_t k = out->u.obj.n++;
        out->u.obj.names[k] = f->name;
        return gql__from_ast(&dc, f->def, f->type, &out->u.obj.values[k]);
    }
    if (f->type->kind == GQL_TR_NONNULL) {
        return gql__co_fail(c, required_fmt, f->name, gql__typestr(c->a, f->type));
    }
    return 0;
}

static int gql__from_ast(gql__co_t *c, const gql_ast_value_t *v, const gql_typeref_t *t,
                         gql_value_t *out)
{
    if (v->kind == GQL_AV_VAR) {
        const gql_value_t *x = gql__var(c->vars, v->s);
        if (x == NULL)
            return gql__co_fail(c, "variable \"$%.*s\" was not provided", (int)v->s.len, v->s.p);
        if (x->kind == GQL_NULL && t->kind == GQL_TR_NONNULL)
            return gql__co_fail(c, "variable \"$%.*s\" is null where a non-null value is required",
                                (int)v->s.len, v->s.p);
        *out = *x;
        return 0;
    }
    if (t->kind == GQL_TR_NONNULL) {
        if (v->kind == GQL_AV_NULL)
            return gql__co_fail(c, "null where a non-null value is required");
        return gql__from_ast(c, v, t->of, out);
    }
    if (v->kind == GQL_AV_NULL) {
        *out = gql_null();
        return 0;
    }
    if (t->kind == GQL_TR_LIST) {
        if (v->kind != GQL_AV_LIST) {
            *out = gql_list(c->a, 1);
            return gql__from_ast(c, v, t->of, &out->u.list.items[0]);
        }
        *out = gql_list(c->a, v->n);
        for (uint32_t i = 0; i < v->n; i++) {
            const gql_ast_value_t *it = v->items[i];
            if (it->kind == GQL_AV_VAR && gql__var(c->vars, it->s) == NULL) {
                if (t->of->kind == GQL_TR_NONNULL) return gql__co_fail(c, "missing list item");
                out->u.list.items[i] = gql_null();
                continue;
            }
            if (gql__from_ast(c, it, t->of, &out->u.list.items[i])) return -1;
        }
        return 0;
    }
    const gql_type_t *nt = t->type;
    if (nt->kind == GQL_T_INPUT) {
        if (v->kind != GQL_AV_OBJECT) return gql__co_fail(c, "expected an input object");
        out->kind = GQL_INPUT_OBJECT;
        out->u.obj.n = 0;
        out->u.obj.names = arena_alloc(c->a, (nt->nifields + 1) * sizeof *out->u.obj.names);
        out->u.obj.values = arena_alloc(c->a, (nt->nifields + 1) * sizeof *out->u.obj.values);
        for (uint32_t i = 0; i < nt->nifields; i++) {
            const gql_ivalue_t *f = &nt->ifields[i];
            const gql_ast_value_t *fv = NULL;
            for (uint32_t j = 0; j < v->n && !fv; j++)
                if (gql_name_eq(v->fields[j].name, f->name)) fv = v->fields[j].value;
            if (fv == NULL || (fv->kind == GQL_AV_VAR && gql__var(c->vars, fv->s) == NULL)) {
                if (gql__absent_field(c, f, out,
                                      "field \"%s\" of required type \"%s\" was not provided"))
                    return -1;
                continue;
            }
            size_t k = out->u.obj.n++;
            out->u.obj.names[k] = f->name;
            if (gql__from_ast(c, fv, f->type, &out->u.obj.values[k])) return -1;
        }
        return 0;
    }
    if (nt->kind == GQL_T_ENUM) {
        if (v->kind != GQL_AV_ENUM || !gql_enum_find(nt, v->s.p, v->s.len))
            return gql__co_fail(c, "not a value of enum \"%s\"", nt->name);
        const gql_enumval_t *ev = gql_enum_find(nt, v->s.p, v->s.len);
        *out = gql_enum(ev->name, strlen(ev->name));
        return 0;
    }
    /* scalars */
    if (!nt->builtin) return gql__untyped(c, v, out);
    const char *txt = v->s.p ? arena_strndup(c->a, v->s.p, v->s.len) : "";
    if (nt == c->s->t_int) {
        if (v->kind != GQL_AV_INT)
            return gql__co_fail(c, "Int cannot represent a non-integer value");
        errno = 0;
        long long x = strtoll(txt, NULL, 10);
        if (errno || x < INT32_MIN || x > INT32_MAX)
            return gql__co_fail(c, "Int cannot represent non 32-bit signed integer value: %s", txt);
        *out = gql_int(x);
    } else if (nt == c->s->t_float) {
        if (v->kind != GQL_AV_INT && v->kind != GQL_AV_FLOAT)
            return gql__co_fail(c, "Float cannot represent a non numeric value");
        *out = gql_float(strtod(txt, NULL));
    } else if (nt == c->s->t_boolean) {
        if (v->kind != GQL_AV_BOOL)
            return gql__co_fail(c, "Boolean cannot represent a non boolean value");
        *out = gql_bool(v->b);
    } else if (nt == c->s->t_string) {
        if (v->kind != GQL_AV_STRING)
            return gql__co_fail(c, "String cannot represent a non string value");
        *out = gql_str(v->s.p, v->s.len);
    } else { /* ID */
        if (v->kind != GQL_AV_STRING && v->kind != GQL_AV_INT)
            return gql__co_fail(c, "ID cannot represent a non-string and non-integer value");
        *out = gql_str(v->s.p, v->s.len);
    }
    return 0;
}

/* coerceInputValue(): a JSON variable value of type t. */
static int gql__from_json(gql__co_t *c, const cJSON *j, const gql_typeref_t *t, gql_value_t *out)
{
    if (t->kind == GQL_TR_NONNULL) {
        if (cJSON_IsNull(j))
            return gql__co_fail(c, "Expected non-nullable type \"%s\" not to be null.",
                                gql__typestr(c->a, t));
        return gql__from_json(c, j, t->of, out);
    }
    if (cJSON_IsNull(j)) {
        *out = gql_null();
        return 0;
    }
    if (t->kind == GQL_TR_LIST) {
        if (!cJSON_IsArray(j)) {
            *out = gql_list(c->a, 1);
            return gql__from_json(c, j, t->of, &out->u.list.items[0]);
        }
        int n = cJSON_GetArraySize(j), i = 0;
        *out = gql_list(c->a, (size_t)n);
        for (const cJSON *it = j->child; it; it = it->next, i++)
            if (gql__from_json(c, it, t->of, &out->u.list.items[i])) return -1;
        return 0;
    }
    const gql_type_t *nt = t->type;
    switch (nt->kind) {
    case GQL_T_INPUT: {
        if (!cJSON_IsObject(j))
            return gql__co_fail(c, "Expected type \"%s\" to be an object.", nt->name);
        for (const cJSON *it = j->child; it; it = it->next)
            if (!gql_ivalue_find(nt->ifields, nt->nifields, it->string, strlen(it->string)))
                return gql__co_fail(c, "Field \"%s\" is not defined by type \"%s\".", it->string,
                                    nt->name);
        out->kind = GQL_INPUT_OBJECT;
        out->u.obj.n = 0;
        out->u.obj.names = arena_alloc(c->a, (nt->nifields + 1) * sizeof *out->u.obj.names);
        out->u.obj.values = arena_alloc(c->a, (nt->nifields + 1) * sizeof *out->u.obj.values);
        for (uint32_t i = 0; i < nt->nifields; i++) {
            const gql_ivalue_t *f = &nt->ifields[i];
            const cJSON *fv = cJSON_GetObjectItemCaseSensitive(j, f->name);
            if (fv == NULL) {
                if (gql__absent_field(c, f, out,
                                      "Field \"%s\" of required type \"%s\" was not provided."))
                    return -1;
                continue;
            }
            size_t k = out->u.obj.n++;
            out->u.obj.names[k] = f->name;
            if (gql__from_json(c, fv, f->type, &out->u.obj.values[k])) return -1;
        }
        return 0;
    }
    case GQL_T_ENUM:
        if (!cJSON_IsString(j) || !gql_enum_find(nt, j->valuestring, strlen(j->valuestring)))
            return gql__co_fail(c, "Value is not a valid value of enum \"%s\".", nt->name);
        {
            const gql_enumval_t *ev = gql_enum_find(nt, j->valuestring, strlen(j->valuestring));
            *out = gql_enum(ev->name, strlen(ev->name));
        }
        return 0;
    case GQL_T_SCALAR:
        if (!nt->builtin) {
            /* custom scalar: the JSON as a value */
            if (cJSON_IsBool(j))
                *out = gql_bool(cJSON_IsTrue(j));
            else if (cJSON_IsNumber(j))
                *out = (j->valuedouble == floor(j->valuedouble) && fabs(j->valuedouble) < 9e15)
                           ? gql_int((int64_t)j->valuedouble)
                           : gql_float(j->valuedouble);
            else if (cJSON_IsString(j))
                *out = gql_str(arena_strdup(c->a, j->valuestring), strlen(j->valuestring));
            else if (cJSON_IsArray(j)) {
                int n = cJSON_GetArraySize(j), i = 0;
                *out = gql_list(c->a, (size_t)n);
                for (const cJSON *it = j->child; it; it = it->next, i++)
                    if (gql__from_json(c, it, t, &out->u.list.items[i])) return -1;
            } else {
                int n = cJSON_GetArraySize(j), i = 0;
                out->kind = GQL_INPUT_OBJECT;
                out->u.obj.n = (size_t)n;
                out->u.obj.names = arena_alloc(c->a, ((size_t)n + 1) * sizeof *out->u.obj.names);
                out->u.obj.values = arena_alloc(c->a, ((size_t)n + 1) * sizeof *out->u.obj.values);
                for (const cJSON *it = j->child; it; it = it->next, i++) {
                    out->u.obj.names[i] = arena_strdup(c->a, it->string);
                    if (gql__from_json(c, it, t, &out->u.obj.values[i])) return -1;
                }
            }
            return 0;
        }
        if (nt == c->s->t_int) {
            if (!cJSON_IsNumber(j) || j->valuedouble != floor(j->valuedouble))
                return gql__co_fail(c, "Int cannot represent non-integer value.");
            if (j->valuedouble < INT32_MIN || j->valuedouble > INT32_MAX)
                return gql__co_fail(c, "Int cannot represent non 32-bit signed integer value.");
            *out = gql_int((int64_t)j->valuedouble);
        } else if (nt == c->s->t_float) {
            if (!cJSON_IsNumber(j))
                return gql__co_fail(c, "Float cannot represent non numeric value.");
            *out = gql_float(j->valuedouble);
        } else if (nt == c->s->t_boolean) {
            if (!cJSON_IsBool(j))
                return gql__co_fail(c, "Boolean cannot represent a non boolean value.");
            *out = gql_bool(cJSON_IsTrue(j));
        } else if (nt == c->s->t_string) {
            if (!cJSON_IsString(j))
                return gql__co_fail(c, "String cannot represent a non string value.");
            *out = gql_str(arena_strdup(c->a, j->valuestring), strlen(j->valuestring));
        } else {
            if (cJSON_IsString(j)) {
                *out = gql_str(arena_strdup(c->a, j->valuestring), strlen(j->valuestring));
            } else if (cJSON_IsNumber(j) && j->valuedouble == floor(j->valuedouble) &&
                       fabs(j->valuedouble) < 9e15) {
                const char *s = arena_printf(c->a, "%lld", (long long)j->valuedouble);
                *out = gql_str(s, strlen(s));
            } else {
                return gql__co_fail(c, "ID cannot represent value.");
            }
        }
        return 0;
    default:
        return gql__co_fail(c, "not an input type");
    }
}

static const gql_typeref_t *gql__ast_typeref(const gql_schema_t *s, arena_t *a,
                                             const gql_ast_type_t *t)
{
    if (t->kind == GQL_AT_NAMED) {
        gql_type_t *nt = gql_schema_type(s, t->name.p, t->name.len);
        return nt ? &nt->named : NULL;
    }
    const gql_typeref_t *of = gql__ast_typeref(s, a, t->of);
    if (of == NULL) return NULL;
    gql_typeref_t *r = arena_calloc(a, 1, sizeof *r);
    r->kind = t->kind == GQL_AT_LIST ? GQL_TR_LIST : GQL_TR_NONNULL;
    r->of = (gql_typeref_t *)of;
    return r;
}

static void gql__coerce_vars(const gql_schema_t *s, gql_request_t *req, gql_prepared_t *p,
                             const cJSON *vars)
{
    arena_t *a = req->arena;
    gql_ast_def_t *op = p->op;
    p->vars.kind = GQL_INPUT_OBJECT;
    p->vars.u.obj.n = 0;
    p->vars.u.obj.names = arena_alloc(a, (op->nvars + 1) * sizeof *p->vars.u.obj.names);
    p->vars.u.obj.values = arena_alloc(a, (op->nvars + 1) * sizeof *p->vars.u.obj.values);
    for (uint32_t i = 0; i < op->nvars; i++) {
        gql_ast_vardef_t *vd = &op->vars[i];
        const gql_typeref_t *t = gql__ast_typeref(s, a, vd->type);
        const char *name = arena_strndup(a, vd->name.p, vd->name.len);
        const cJSON *j = cJSON_IsObject(vars) ? cJSON_GetObjectItemCaseSensitive(vars, name) : NULL;
        gql__co_t c = {a, s, NULL, ""};
        gql_value_t v;
        if (t == NULL) continue; /* validation reported it */
        if (j == NULL) {
            if (vd->def) {
                if (gql__from_ast(&c, vd->def, t, &v) == 0) {
                    size_t k = p->vars.u.obj.n++;
                    p->vars.u.obj.names[k] = name;
                    p->vars.u.obj.values[k] = v;
                }
            } else if (t->kind == GQL_TR_NONNULL) {
                gql__req_error(
                    p, ERR_BAD_INPUT, &vd->loc, 1,
                    arena_printf(a, "Variable \"$%s\" of required type \"%s\" was not provided.",
                                 name, gql__typestr(a, t)));
            }
            continue;
        }
        if (cJSON_IsNull(j) && t->kind == GQL_TR_NONNULL) {
            gql__req_error(
                p, ERR_BAD_INPUT, &vd->loc, 1,
                arena_printf(a, "Variable \"$%s\" of non-null type \"%s\" must not be null.", name,
                             gql__typestr(a, t)));
            continue;
        }
        if (gql__from_json(&c, j, t, &v)) {
            gql__req_error(p, ERR_BAD_INPUT, &vd->loc, 1,
                           arena_printf(a, "Variable \"$%s\" got invalid value; %s", name, c.err));
            continue;
        }
        size_t k = p->vars.u.obj.n++;
        p->vars.u.obj.names[k] = name;
        p->vars.u.obj.values[k] = v;
    }
}

/* ---- prepare --------------------------------------------------------------------------- */

gql_op_t gql_prepare(const gql_schema_t *s, gql_request_t *req)
{
    if (req->prepared_)
        return req->prepared_->request_error ? GQL_OP_NONE : req->prepared_->op_type;
    arena_t *a = req->arena;
    gql_prepared_t *p = arena_calloc(a, 1, sizeof *p);
    req->prepared_ = p;
    p->errors.arena = a;
    static const gql_limits_t defaults = GQL_LIMITS_DEFAULT;
    const gql_limits_t *lim = req->limits ? req->limits : &defaults;
    err_t e;
    gql_loc_t loc = {0, 0};
    if (req->query == NULL) {
        gql__req_error(p, ERR_BAD_INPUT, NULL, 0, "Must provide query string.");
        return GQL_OP_NONE;
    }
    p->doc = gql_parse(a, req->query, req->query_len, &e, &loc);
    if (p->doc == NULL) {
        gql__req_error(p, ERR_PARSE, &loc, 1, e.msg);
        return GQL_OP_NONE;
    }
    /* bounds validation's work (some rules compare fields pairwise) */
    if ((long)p->doc->nfields > (long)lim->max_fields) {
        gql__req_error(p, ERR_TOO_COMPLEX, NULL, 0,
                       arena_printf(a,
                                    "Query is too complex: %u fields in the document (limit %d).",
                                    p->doc->nfields, lim->max_fields));
        return GQL_OP_NONE;
    }
    if (gql_validate(s, p->doc, &p->errors)) {
        p->request_error = true;
        return GQL_OP_NONE;
    }
    const char *opname = req->operation_name && req->operation_name[0] ? req->operation_name : NULL;
    for (uint32_t i = 0; i < p->doc->ndefs; i++) {
        gql_ast_def_t *d = &p->doc->defs[i];
        if (d->kind != GQL_DEF_OP) continue;
        if (opname == NULL) {
            if (p->op) {
                gql__req_error(
                    p, ERR_BAD_INPUT, NULL, 0,
                    "Must provide operation name if query contains multiple operations.");
                return GQL_OP_NONE;
            }
            p->op = d;
        } else if (gql_name_eq(d->name, opname)) {
            p->op = d;
        }
    }
    if (p->op == NULL) {
        gql__req_error(p, ERR_BAD_INPUT, NULL, 0,
                       opname ? arena_printf(a, "Unknown operation named \"%s\".", opname)
                              : "Must provide an operation.");
        return GQL_OP_NONE;
    }
    p->op_type = p->op->op;
    gql__lim_t l = {.doc = p->doc, .lim = lim};
    gql__limits_walk(&l, p->op->selset, 1, 1, 0);
    if (l.over) {
        const char *why = l.fields > lim->max_fields || l.work > 100L * lim->max_fields + 10000
                              ? "too many fields"
                          : l.aliases > lim->max_aliases ? "too many aliases"
                          : l.cost > lim->max_cost       ? "estimated cost too high"
                                                         : "nested too deeply";
        gql__req_error(p, ERR_TOO_COMPLEX, &p->op->loc, 1,
                       arena_printf(a,
                                    "Query is too complex: %s (limits: depth %d, fields %d, "
                                    "aliases %d, cost %d).",
                                    why, lim->max_depth, lim->max_fields, lim->max_aliases,
                                    lim->max_cost));
        return GQL_OP_NONE;
    }
    cJSON *parsed = NULL;
    const cJSON *vars = req->variables;
    if (vars == NULL && req->variables_json && req->variables_json[0]) {
        parsed = cJSON_Parse(req->variables_json);
        if (parsed == NULL || !(cJSON_IsObject(parsed) || cJSON_IsNull(parsed))) {
            cJSON_Delete(parsed);
            gql__req_error(p, ERR_BAD_INPUT, NULL, 0,
                           "Variables are invalid JSON or not an object.");
            return GQL_OP_NONE;
        }
        vars = parsed;
    }
    gql__coerce_vars(s, req, p, vars);
    cJSON_Delete(parsed);
    return p->request_error ? GQL_OP_NONE : p->op_type;
}

/* ---- execution ---------------------------------------------------------------------------- */

typedef enum { GQL_RN_PENDING, GQL_RN_NULL, GQL_RN_LEAF, GQL_RN_LIST, GQL_RN_OBJ } gql__rkind_t;

typedef struct gql__rnode gql__rnode_t;
struct gql__rnode {
    uint8_t kind;
    bool nonnull;
    int32_t index; /* in a list; -1 for a field */
    gql_name_t key;
    gql__rnode_t *parent;
    union {
        gql_value_t leaf;
        struct {
            gql__rnode_t *items;
            uint32_t n;
        } list;
        struct {
            gql__rnode_t *vals;
            uint32_t n;
        } obj;
    } u;
};

typedef struct {
    const gql_type_t *type;
    void *obj;
    gql__rnode_t *node;
    gql__cfield_t *src; /* the field whose sub-selection this object answers; NULL = root */
} gql__witem_t;

/* One resolver call: every (item, field) of a level with the same parent
 * type, field and arguments as written, even from different selections. */
typedef struct {
    const gql_type_t *ptype;
    const gql_field_t *def;
    const char *argsig;
    gql__cfield_t *cf0;  /* arguments are coerced from its first node */
    uint32_t *items;     /* level item indexes */
    gql__cfield_t **cfs; /* the field selection of each item */
    uint32_t n, cap;
    gql__cfield_t **ucfs; /* distinct selections, for gql_selected() */
    uint32_t nucfs, capucfs;
    const char **selected;
    size_t nselected;
    bool selected_done;
} gql__group_t;

typedef struct {
    const gql_schema_t *s;
    const gql_resolvers_t *r;
    gql_request_t *req;
    gql_prepared_t *p;
    arena_t *a;
    gql_errors_t *errors;
    gql__rnode_t root;
    gql__cset_t *root_sets;
    uint32_t stamp;
    bool fatal;
} gql__ex_t;

typedef struct {
    gql__ex_t *ex;
    gql__rnode_t **slots;
    gql__cfield_t **cfs; /* per slot */
    gql__group_t *g;
} gql__callinfo_t;

static const gql_typeref_t *gql__nullable(const gql_typeref_t *t)
{
    return t->kind == GQL_TR_NONNULL ? t->of : t;
}

static char *gql__path_json(gql__ex_t *ex, const gql__rnode_t *n)
{
    const gql__rnode_t *chain[512];
    int k = 0;
    for (; n && n->parent && k < 512; n = n->parent) chain[k++] = n;
    buf_t b = BUF_INIT;
    buf_putc(&b, '[');
    for (int i = k - 1; i >= 0; i--) {
        if (i != k - 1) buf_putc(&b, ',');
        if (chain[i]->index >= 0)
            buf_printf(&b, "%d", chain[i]->index);
        else
            buf_put_json_str(&b, chain[i]->key.p, chain[i]->key.len);
    }
    buf_putc(&b, ']');
    char *s = arena_strndup(ex->a, b.data, b.len);
    buf_free(&b);
    return s;
}

static void gql__field_error(gql__ex_t *ex, const gql__rnode_t *at, const gql__cfield_t *cf,
                             err_code_t code, const char *msg)
{
    gql_loc_t locs[4];
    uint32_t n = 0;
    for (uint32_t i = 0; cf && i < cf->n && n < 4; i++) locs[n++] = cf->nodes[i]->loc;
    gql_error_t *e = gql_errors_add(ex->errors, code, locs, n, "%s", msg);
    e->path_json = gql__path_json(ex, at);
}

static void gql__set_null(gql__rnode_t *n)
{
    for (;;) {
        n->kind = GQL_RN_NULL;
        if (!n->nonnull || n->parent == NULL) return;
        n = n->parent;
    }
}

static bool gql__alive(const gql__rnode_t *n)
{
    for (; n; n = n->parent)
        if (n->kind == GQL_RN_NULL) return false;
    return true;
}

void gql_call_error(gql_call_t *call, size_t i, err_code_t code, const char *fmt, ...)
{
    gql__callinfo_t *ci = call->internal_;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gql__field_error(ci->ex, ci->slots[i], ci->cfs[i], code, msg);
}

const gql_schema_t *gql_call_schema(const gql_call_t *call)
{
    return ((const gql__callinfo_t *)call->internal_)->ex->s;
}

static void gql__selected_names(gql__ex_t *ex, gql__cfield_t *cf, const gql_ast_selset_t *ss,
                                int depth, uint32_t *cap, long *budget);

static void gql__cf_selected(gql__ex_t *ex, gql__cfield_t *cf)
{
    if (cf->selected_done) return;
    uint32_t cap = 0;
    long budget = 10000;
    cf->selected_done = true;
    for (uint32_t k = 0; k < cf->n; k++)
        if (cf->nodes[k]->selset)
            gql__selected_names(ex, cf, cf->nodes[k]->selset, 0, &cap, &budget);
}

const char *const *gql_selected(gql_call_t *call, size_t *n)
{
    gql__callinfo_t *ci = call->internal_;
    gql__group_t *g = ci->g;
    if (!g->selected_done) {
        g->selected_done = true;
        /* the union over the selections batched into this call */
        uint32_t cap = 0;
        for (uint32_t u = 0; u < g->nucfs; u++) {
            gql__cfield_t *cf = g->ucfs[u];
            gql__cf_selected(ci->ex, cf);
            if (g->nucfs == 1) {
                g->selected = cf->selected;
                g->nselected = cf->nselected;
                break;
            }
            for (size_t k = 0; k < cf->nselected; k++) {
                bool have = false;
                for (size_t j = 0; j < g->nselected && !have; j++)
                    have = strcmp(g->selected[j], cf->selected[k]) == 0;
                if (have) continue;
                GQL__GROW(ci->ex->a, g->selected, g->nselected, cap);
                g->selected[g->nselected++] = cf->selected[k];
            }
        }
    }
    *n = g->nselected;
    return g->selected;
}

/* @skip / @include */
static bool gql__included(gql__ex_t *ex, const gql_ast_dir_t *dirs, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        bool skip = gql_name_eq(dirs[i].name, "skip");
        if (!skip && !gql_name_eq(dirs[i].name, "include")) continue;
        for (uint32_t j = 0; j < dirs[i].nargs; j++) {
            if (!gql_name_eq(dirs[i].args[j].name, "if")) continue;
            const gql_ast_value_t *v = dirs[i].args[j].value;
            bool b = false;
            if (v->kind == GQL_AV_BOOL)
                b = v->b;
            else if (v->kind == GQL_AV_VAR) {
                const gql_value_t *x = gql__var(&ex->p->vars, v->s);
                b = x && x->kind == GQL_BOOL && x->u.b;
            }
            if (skip && b) return false;
            if (!skip && !b) return false;
        }
    }
    return true;
}

static bool gql__cond_matches(const gql_type_t *ct, const gql_type_t *t)
{
    if (ct == NULL) return false;
    if (ct == t) return true;
    return gql_type_abstract(ct) && gql_type_possible(ct, t);
}

static void gql__collect(gql__ex_t *ex, const gql_type_t *t, const gql_ast_selset_t *ss,
                         gql__cset_t *set, const gql_ast_def_t **visited, uint32_t *nvisited)
{
    for (uint32_t i = 0; i < ss->n; i++) {
        const gql_ast_sel_t *s = ss->items[i];
        if (!gql__included(ex, s->dirs, s->ndirs)) continue;
        if (s->kind == GQL_SEL_FIELD) {
            gql_name_t key = gql_sel_key(s);
            gql__cfield_t *cf = NULL;
            for (uint32_t k = 0; k < set->n; k++)
                if (gql_names_eq(set->fields[k].key, key)) {
                    cf = &set->fields[k];
                    break;
                }
            if (cf == NULL) {
                GQL__GROW(ex->a, set->fields, set->n, set->cap);
                cf = &set->fields[set->n];
                memset(cf, 0, sizeof *cf);
                cf->index = set->n++;
                cf->key = key;
                cf->def = s->def && s->def->owner == t
                              ? s->def
                              : gql_field_lookup(ex->s, t, s->name, t == ex->s->query);
            }
            GQL__GROW(ex->a, cf->nodes, cf->n, cf->cap);
            cf->nodes[cf->n++] = s;
        } else if (s->kind == GQL_SEL_INLINE) {
            if (s->type_cond.len == 0 || gql__cond_matches(gql_cond_type(ex->s, s), t))
                gql__collect(ex, t, s->selset, set, visited, nvisited);
        } else {
            bool seen = false;
            const gql_ast_def_t *f = gql__frag(ex->p->doc, s->name);
            for (uint32_t k = 0; k < *nvisited && !seen; k++) seen = visited[k] == f;
            if (seen || f == NULL || *nvisited >= 256) continue;
            visited[(*nvisited)++] = f;
            if (gql__cond_matches(gql_def_cond_type(ex->s, f), t))
                gql__collect(ex, t, f->selset, set, visited, nvisited);
        }
    }
}

/* Collected fields of concrete type t for the sub-selection of src (root when NULL). Cached. */
static gql__cset_t *gql__fields_for(gql__ex_t *ex, const gql_type_t *t, gql__cfield_t *src)
{
    gql__cset_t **head = src ? &src->sub : &ex->root_sets;
    for (gql__cset_t *c = *head; c; c = c->next)
        if (c->type == t) return c;
    gql__cset_t *set = arena_calloc(ex->a, 1, sizeof *set);
    set->type = t;
    const gql_ast_def_t *visited[256];
    uint32_t nvisited = 0;
    if (src == NULL) {
        gql__collect(ex, t, ex->p->op->selset, set, visited, &nvisited);
    } else {
        for (uint32_t i = 0; i < src->n; i++)
            if (src->nodes[i]->selset)
                gql__collect(ex, t, src->nodes[i]->selset, set, visited, &nvisited);
    }
    set->next = *head;
    *head = set;
    return set;
}

static void gql__selected_names(gql__ex_t *ex, gql__cfield_t *cf, const gql_ast_selset_t *ss,
                                int depth, uint32_t *cap, long *budget)
{
    if (depth > 32) return;
    for (uint32_t i = 0; i < ss->n && --*budget > 0; i++) {
        const gql_ast_sel_t *s = ss->items[i];
        if (s->kind == GQL_SEL_FIELD) {
            bool have = false;
            for (size_t k = 0; k < cf->nselected && !have; k++)
                have = gql_name_eq(s->name, cf->selected[k]);
            if (have) continue;
            GQL__GROW(ex->a, cf->selected, cf->nselected, *cap);
            cf->selected[cf->nselected++] = arena_strndup(ex->a, s->name.p, s->name.len);
        } else if (s->kind == GQL_SEL_INLINE) {
            gql__selected_names(ex, cf, s->selset, depth + 1, cap, budget);
        } else {
            const gql_ast_def_t *f = gql__frag(ex->p->doc, s->name);
            if (f) gql__selected_names(ex, cf, f->selset, depth + 1, cap, budget);
        }
    }
}

/* JS Number#toString for the String serializer. */
static const char *gql__js_number(arena_t *a, double d)
{
    if (d == floor(d) && fabs(d) < 1e21) return arena_printf(a, "%.0f", d);
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d) break;
    }
    char *e = strchr(tmp, 'e');
    if (e == NULL) return arena_strdup(a, tmp);
    int exp = atoi(e + 1);
    *e = '\0';
    return arena_printf(a, "%se%c%d", tmp, exp < 0 ? '-' : '+', abs(exp));
}

/* Result coercion of a leaf; -1 with *msg on failure. */
static int gql__serialize(gql__ex_t *ex, const gql_type_t *t, const gql_value_t *v,
                          gql_value_t *out, const char **msg)
{
    arena_t *a = ex->a;
    const gql_schema_t *s = ex->s;
    if (t->kind == GQL_T_ENUM) {
        if ((v->kind == GQL_ENUM || v->kind == GQL_STRING)) {
            const gql_enumval_t *ev = gql_enum_find(t, v->u.s.ptr, v->u.s.len);
            if (ev) {
                *out = gql_str(ev->name, strlen(ev->name));
                return 0;
            }
        }
        *msg = arena_printf(a, "Enum \"%s\" cannot represent value.", t->name);
        return -1;
    }
    if (!t->builtin) {
        if (v->kind == GQL_OBJECT) {
            *msg = arena_printf(a, "Scalar \"%s\" cannot represent an object.", t->name);
            return -1;
        }
        *out = *v;
        return 0;
    }
    double d = 0;
    bool isnum = false;
    if (v->kind == GQL_INT)
        d = (double)v->u.i, isnum = true;
    else if (v->kind == GQL_FLOAT)
        d = v->u.f, isnum = true;
    if (t == s->t_string) {
        if (v->kind == GQL_STRING || v->kind == GQL_ENUM)
            *out = gql_str(v->u.s.ptr, v->u.s.len);
        else if (v->kind == GQL_BOOL)
            *out = v->u.b ? gql_str("true", 4) : gql_str("false", 5);
        else if (v->kind == GQL_INT) {
            const char *x = arena_printf(a, "%lld", (long long)v->u.i);
            *out = gql_str(x, strlen(x));
        } else if (isnum && isfinite(d)) {
            const char *x = gql__js_number(a, d);
            *out = gql_str(x, strlen(x));
        } else {
            *msg = "String cannot represent value.";
            return -1;
        }
        return 0;
    }
    if (t == s->t_boolean) {
        if (v->kind == GQL_BOOL)
            *out = *v;
        else if (isnum && isfinite(d))
            *out = gql_bool(d != 0);
        else {
            *msg = "Boolean cannot represent a non boolean value.";
            return -1;
        }
        return 0;
    }
    if (t == s->t_id) {
        if (v->kind == GQL_STRING)
            *out = *v;
        else if (v->kind == GQL_INT) {
            const char *x = arena_printf(a, "%lld", (long long)v->u.i);
            *out = gql_str(x, strlen(x));
        } else if (isnum && d == floor(d) && fabs(d) < 9e15) {
            const char *x = arena_printf(a, "%.0f", d);
            *out = gql_str(x, strlen(x));
        } else {
            *msg = "ID cannot represent value.";
            return -1;
        }
        return 0;
    }
    if (v->kind == GQL_BOOL)
        d = v->u.b ? 1 : 0, isnum = true;
    else if (v->kind == GQL_STRING && v->u.s.len) {
        char *txt = arena_strndup(a, v->u.s.ptr, v->u.s.len), *end;
        d = strtod(txt, &end);
        isnum = *end == '\0';
    }
    if (t == s->t_int) {
        if (!isnum || d != floor(d) || !isfinite(d)) {
            *msg = "Int cannot represent non-integer value.";
            return -1;
        }
        if (d < INT32_MIN || d > INT32_MAX) {
            *msg = "Int cannot represent non 32-bit signed integer value.";
            return -1;
        }
        *out = gql_int((int64_t)d);
        return 0;
    }
    /* Float */
    if (!isnum || !isfinite(d)) {
        *msg = "Float cannot represent non numeric value.";
        return -1;
    }
    *out = gql_float(d);
    return 0;
}

static void gql__complete(gql__ex_t *ex, gql__cfield_t *cf, const gql_typeref_t *t,
                          const gql_value_t *v, gql__rnode_t *slot, gql__witem_t **next,
                          uint32_t *nnext, uint32_t *capnext);

static void gql__fail(gql__ex_t *ex, gql__rnode_t *slot, const gql__cfield_t *cf, err_code_t code,
                      const char *msg)
{
    gql__field_error(ex, slot, cf, code, msg);
    gql__set_null(slot);
}

static void gql__complete(gql__ex_t *ex, gql__cfield_t *cf, const gql_typeref_t *t,
                          const gql_value_t *v, gql__rnode_t *slot, gql__witem_t **next,
                          uint32_t *nnext, uint32_t *capnext)
{
    slot->nonnull = t->kind == GQL_TR_NONNULL;
    t = gql__nullable(t);
    const char *owner = cf->def && cf->def->owner ? cf->def->owner->name : "Query";
    if (v->kind == GQL_ERROR) {
        gql__fail(ex, slot, cf, v->u.err.code, v->u.err.msg ? v->u.err.msg : "error");
        return;
    }
    if (v->kind == GQL_NULL) {
        if (slot->nonnull)
            gql__fail(ex, slot, cf, ERR_INTERNAL,
                      arena_printf(ex->a, "Cannot return null for non-nullable field %s.%s.", owner,
                                   cf->def ? cf->def->name : "?"));
        else
            slot->kind = GQL_RN_NULL;
        return;
    }
    if (t->kind == GQL_TR_LIST) {
        if (v->kind != GQL_LIST) {
            gql__fail(ex, slot, cf, ERR_INTERNAL,
                      arena_printf(ex->a,
                                   "Expected Iterable, but did not find one for field \"%s.%s\".",
                                   owner, cf->def ? cf->def->name : "?"));
            return;
        }
        slot->kind = GQL_RN_LIST;
        slot->u.list.n = (uint32_t)v->u.list.n;
        slot->u.list.items =
            arena_calloc(ex->a, v->u.list.n ? v->u.list.n : 1, sizeof *slot->u.list.items);
        for (uint32_t i = 0; i < slot->u.list.n; i++) {
            gql__rnode_t *it = &slot->u.list.items[i];
            it->parent = slot;
            it->index = (int32_t)i;
            gql__complete(ex, cf, t->of, &v->u.list.items[i], it, next, nnext, capnext);
            if (slot->kind == GQL_RN_NULL) return; /* a non-null item nulled the list */
        }
        return;
    }
    const gql_type_t *nt = t->type;
    if (nt->kind == GQL_T_SCALAR || nt->kind == GQL_T_ENUM) {
        const char *msg = NULL;
        gql_value_t out;
        if (gql__serialize(ex, nt, v, &out, &msg)) {
            gql__fail(ex, slot, cf, ERR_INTERNAL, msg);
            return;
        }
        slot->kind = GQL_RN_LEAF;
        slot->u.leaf = out;
        return;
    }
    if (v->kind != GQL_OBJECT) {
        gql__fail(ex, slot, cf, ERR_INTERNAL,
                  arena_printf(ex->a, "Expected an object of type \"%s\" for field \"%s.%s\".",
                               nt->name, owner, cf->def ? cf->def->name : "?"));
        return;
    }
    const gql_type_t *rt = nt;
    if (gql_type_abstract(nt)) {
        const char *tn = v->u.object.type;
        rt = tn ? gql_schema_type(ex->s, tn, strlen(tn)) : NULL;
        if (tn == NULL) {
            gql__fail(ex, slot, cf, ERR_INTERNAL,
                      arena_printf(ex->a,
                                   "Abstract type \"%s\" must resolve to an Object type at "
                                   "runtime for field \"%s.%s\".",
                                   nt->name, owner, cf->def ? cf->def->name : "?"));
            return;
        }
        if (rt == NULL || rt->kind != GQL_T_OBJECT || !gql_type_possible(nt, rt)) {
            gql__fail(ex, slot, cf, ERR_INTERNAL,
                      arena_printf(ex->a,
                                   "Runtime Object type \"%s\" is not a possible type for \"%s\".",
                                   tn, nt->name));
            return;
        }
    }
    slot->kind = GQL_RN_OBJ;
    GQL__GROW(ex->a, *next, *nnext, *capnext);
    (*next)[(*nnext)++] = (gql__witem_t){rt, v->u.object.ptr, slot, cf};
}

static gql_resolve_fn gql__resolver(gql__ex_t *ex, const gql_field_t *f, const gql_type_t *t)
{
    gql_resolve_fn fn = gql_introspect_resolver(ex->s, f);
    if (fn) return fn;
    if (ex->r == NULL) return NULL;
    fn = ex->r->by_field[f->index];
    if (fn == NULL && f->owner) fn = ex->r->by_type[f->owner->index];
    if (fn == NULL) fn = ex->r->by_type[t->index];
    return fn;
}

static int gql__coerce_args(gql__ex_t *ex, const gql_field_t *f, const gql_ast_sel_t *node,
                            gql_value_t *out, const char **msg)
{
    gql__co_t c; /* err[] is only read after a failure */
    c.a = ex->a;
    c.s = ex->s;
    c.vars = &ex->p->vars;
    c.err[0] = '\0';
    out->kind = GQL_INPUT_OBJECT;
    out->u.obj.n = 0;
    out->u.obj.names = arena_alloc(ex->a, (f->nargs + 1) * sizeof *out->u.obj.names);
    out->u.obj.values = arena_alloc(ex->a, (f->nargs + 1) * sizeof *out->u.obj.values);
    for (uint32_t i = 0; i < f->nargs; i++) {
        const gql_ivalue_t *ad = &f->args[i];
        const gql_ast_value_t *av = NULL;
        for (uint32_t j = 0; j < node->nargs && !av; j++)
            if (gql_name_eq(node->args[j].name, ad->name)) av = node->args[j].value;
        if (av && av->kind == GQL_AV_VAR && gql__var(&ex->p->vars, av->s) == NULL) av = NULL;
        gql_value_t v;
        if (av == NULL) {
            if (ad->def) {
                gql__co_t dc = {ex->a, ex->s, NULL, ""};
                if (gql__from_ast(&dc, ad->def, ad->type, &v)) {
                    *msg = arena_printf(ex->a, "Argument \"%s\" has an invalid default.", ad->name);
                    return -1;
                }
            } else if (ad->type->kind == GQL_TR_NONNULL) {
                *msg =
                    arena_printf(ex->a, "Argument \"%s\" of required type \"%s\" was not provided.",
                                 ad->name, gql__typestr(ex->a, ad->type));
                return -1;
            } else {
                continue;
            }
        } else if (gql__from_ast(&c, av, ad->type, &v)) {
            *msg = arena_printf(ex->a, "Argument \"%s\" has invalid value: %s.", ad->name, c.err);
            return -1;
        }
        size_t k = out->u.obj.n++;
        out->u.obj.names[k] = ad->name;
        out->u.obj.values[k] = v;
    }
    return 0;
}

/* The arguments of a field selection as written ("" when none): two
 * selections with the same text get the same coerced values. */
static const char *gql__argsig(gql__ex_t *ex, const gql__cfield_t *cf)
{
    const gql_ast_sel_t *n = cf->nodes[0];
    if (n->nargs == 0) return "";
    buf_t b = BUF_INIT;
    for (uint32_t i = 0; i < n->nargs; i++) {
        buf_append(&b, n->args[i].name.p, n->args[i].name.len);
        buf_putc(&b, ':');
        gql_ast_value_print(&b, n->args[i].value);
        buf_putc(&b, ',');
    }
    const char *s = arena_strndup(ex->a, b.data, b.len);
    buf_free(&b);
    return s;
}

/* One level: every item's fields, grouped into one resolver call per
 * (parent type, field, arguments). */
static void gql__level(gql__ex_t *ex, gql__witem_t *items, uint32_t n, int only_field,
                       gql__witem_t **next, uint32_t *nnext, uint32_t *capnext)
{
    arena_t *a = ex->a;
    gql__group_t *groups = NULL;
    uint32_t ngroups = 0, capgroups = 0;
    uint32_t stamp = ++ex->stamp;
    for (uint32_t i = 0; i < n; i++) {
        gql__witem_t *it = &items[i];
        gql__cset_t *set = gql__fields_for(ex, it->type, it->src);
        if (it->node->kind != GQL_RN_OBJ) continue;
        if (it->node->u.obj.vals == NULL) {
            it->node->u.obj.n = set->n;
            it->node->u.obj.vals =
                arena_calloc(a, set->n ? set->n : 1, sizeof *it->node->u.obj.vals);
            for (uint32_t j = 0; j < set->n; j++) {
                gql__rnode_t *c = &it->node->u.obj.vals[j];
                c->parent = it->node;
                c->index = -1;
                c->key = set->fields[j].key;
            }
        }
        for (uint32_t j = 0; j < set->n; j++) {
            if (only_field >= 0 && (uint32_t)only_field != j) continue;
            gql__cfield_t *cf = &set->fields[j];
            if (cf->stamp != stamp) {
                /* first time this level: join a group with the same parent
                 * type, field and arguments, or start one */
                cf->stamp = stamp;
                if (cf->argsig == NULL) cf->argsig = gql__argsig(ex, cf);
                uint32_t gi = 0;
                for (; gi < ngroups; gi++)
                    if (groups[gi].def == cf->def && groups[gi].ptype == it->type && cf->def &&
                        strcmp(groups[gi].argsig, cf->argsig) == 0)
                        break;
                if (gi == ngroups) {
                    GQL__GROW(a, groups, ngroups, capgroups);
                    memset(&groups[ngroups], 0, sizeof *groups);
                    groups[ngroups].ptype = it->type;
                    groups[ngroups].def = cf->def;
                    groups[ngroups].argsig = cf->argsig;
                    groups[ngroups].cf0 = cf;
                    ngroups++;
                }
                gql__group_t *g = &groups[gi];
                GQL__GROW(a, g->ucfs, g->nucfs, g->capucfs);
                g->ucfs[g->nucfs++] = cf;
                cf->group = gi;
            }
            gql__group_t *g = &groups[cf->group];
            if (g->n == g->cap) {
                uint32_t nc = g->cap ? g->cap * 2 : 8;
                g->items =
                    arena_realloc(a, g->items, g->cap * sizeof *g->items, nc * sizeof *g->items);
                g->cfs = arena_realloc(a, g->cfs, g->cap * sizeof *g->cfs, nc * sizeof *g->cfs);
                g->cap = nc;
            }
            g->cfs[g->n] = cf;
            g->items[g->n++] = i;
        }
    }
    for (uint32_t gi = 0; gi < ngroups; gi++) {
        gql__group_t *g = &groups[gi];
        gql__cfield_t *cf = g->cf0;
        const gql_field_t *f = cf->def;
        /* the parents still alive, and the result slot of this field in each */
        void **parents = arena_alloc(a, g->n * sizeof *parents);
        gql__rnode_t **slots = arena_alloc(a, g->n * sizeof *slots);
        gql__cfield_t **cfs = arena_alloc(a, g->n * sizeof *cfs);
        size_t m = 0;
        for (uint32_t k = 0; k < g->n; k++) {
            gql__witem_t *it = &items[g->items[k]];
            if (!gql__alive(it->node)) continue;
            parents[m] = it->obj;
            cfs[m] = g->cfs[k];
            slots[m] = &it->node->u.obj.vals[g->cfs[k]->index];
            m++;
        }
        if (m == 0) continue;
        const gql_type_t *ptype = items[g->items[0]].type;
        gql_value_t *out = arena_calloc(a, m, sizeof *out);
        if (f == NULL) {
            for (size_t k = 0; k < m; k++) out[k] = gql_error(ERR_INTERNAL, "unknown field");
        } else if (f == &ex->s->f_typename) {
            for (size_t k = 0; k < m; k++) out[k] = gql_str(ptype->name, ptype->name_len);
        } else {
            gql_value_t args;
            const char *msg = NULL;
            gql_resolve_fn fn = gql__resolver(ex, f, ptype);
            if (gql__coerce_args(ex, f, cf->nodes[0], &args, &msg)) {
                for (size_t k = 0; k < m; k++) out[k] = gql_error(ERR_BAD_INPUT, msg);
            } else if (fn == NULL) {
                for (size_t k = 0; k < m; k++)
                    out[k] =
                        gql_errorf(a, ERR_INTERNAL, "No resolver for %s.%s.", ptype->name, f->name);
            } else if (ex->req->deadline_ns && gql_now_ns() >= ex->req->deadline_ns) {
                /* Past the request's deadline: answer what is left at once
                 * instead of starting more backend work nobody waits for. */
                for (size_t k = 0; k < m; k++)
                    out[k] = gql_error(ERR_UNAVAILABLE,
                                       "request deadline exceeded (OPONN_REQUEST_DEADLINE_MS): "
                                       "a backend is too slow; retry later");
            } else {
                gql__callinfo_t ci = {ex, slots, cfs, g};
                gql_call_t call; /* not zero-initialised: err.msg is 512 bytes */
                call.type_name = ptype->name;
                call.field_name = f->name;
                call.arena = a;
                call.ctx = ex->req->ctx;
                call.args = &args;
                call.internal_ = &ci;
                call.err.code = ERR_OK;
                call.err.msg[0] = '\0';
                if (fn(&call, m, parents, out) != 0) {
                    err_code_t code = call.err.code == ERR_OK ? ERR_INTERNAL : call.err.code;
                    const char *em =
                        arena_strdup(a, call.err.msg[0] ? call.err.msg : "resolver failed");
                    for (size_t k = 0; k < m; k++) out[k] = gql_error(code, em);
                }
            }
        }
        const gql_typeref_t *rt = f ? f->type : &ex->s->t_string->named;
        for (size_t k = 0; k < m; k++) {
            if (!gql__alive(slots[k]->parent)) continue; /* nulled by a sibling in this batch */
            gql__complete(ex, cfs[k], rt, &out[k], slots[k], next, nnext, capnext);
        }
    }
}

int64_t gql_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void gql__run(gql__ex_t *ex, gql__witem_t *items, uint32_t n, int only_field)
{
    while (n) {
        gql__witem_t *next = NULL;
        uint32_t nnext = 0, capnext = 0;
        gql__level(ex, items, n, only_field, &next, &nnext, &capnext);
        only_field = -1;
        items = next;
        n = nnext;
    }
}

/* ---- JSON writer -------------------------------------------------------------------------- */

/* Integers without printf (the response writer's hottest path). */
static void gql__put_int(buf_t *b, int64_t v)
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
        gql__put_int(b, (int64_t)v);
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
            gql__put_int(b, (int64_t)(u / scale));
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
        gql__put_int(b, v->u.i);
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

static void gql__write_node(buf_t *b, const gql__rnode_t *n)
{
    switch (n->kind) {
    case GQL_RN_LEAF:
        gql__write_value(b, &n->u.leaf);
        break;
    case GQL_RN_LIST:
        buf_putc(b, '[');
        for (uint32_t i = 0; i < n->u.list.n; i++) {
            if (i) buf_putc(b, ',');
            gql__write_node(b, &n->u.list.items[i]);
        }
        buf_putc(b, ']');
        break;
    case GQL_RN_OBJ:
        buf_putc(b, '{');
        for (uint32_t i = 0; i < n->u.obj.n; i++) {
            const gql__rnode_t *c = &n->u.obj.vals[i];
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
            gql__write_node(b, c);
        }
        buf_putc(b, '}');
        break;
    default:
        buf_append(b, "null", 4);
        break;
    }
}

static void gql__write_extensions(gql_request_t *req, buf_t *out)
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

gql_status_t gql_execute(const gql_schema_t *s, const gql_resolvers_t *r, gql_request_t *req,
                         buf_t *out)
{
    gql_prepare(s, req);
    gql_prepared_t *p = req->prepared_;
    if (p->request_error) {
        buf_putc(out, '{');
        gql_errors_write(out, &p->errors);
        gql__write_extensions(req, out);
        buf_putc(out, '}');
        return GQL_REQUEST_ERROR;
    }
    gql__ex_t ex = {.s = s, .r = r, .req = req, .p = p, .a = req->arena, .errors = &p->errors};
    const gql_type_t *root = p->op_type == GQL_OP_QUERY      ? s->query
                             : p->op_type == GQL_OP_MUTATION ? s->mutation
                                                             : NULL;
    ex.root.index = -1;
    if (root == NULL) {
        const char *what = p->op_type == GQL_OP_MUTATION ? "mutation" : "subscription";
        gql_errors_add(&p->errors, ERR_BAD_INPUT, &p->op->loc, 1,
                       "Schema is not configured to execute %s operation.", what);
        ex.root.kind = GQL_RN_NULL;
    } else {
        ex.root.kind = GQL_RN_OBJ;
        gql__witem_t item = {root, NULL, &ex.root, NULL};
        if (p->op_type == GQL_OP_MUTATION) {
            /* top-level fields one after the other, each with its whole subtree */
            gql__cset_t *set = gql__fields_for(&ex, root, NULL);
            for (uint32_t j = 0; j < set->n && ex.root.kind != GQL_RN_NULL; j++)
                gql__run(&ex, &item, 1, (int)j);
        } else {
            gql__run(&ex, &item, 1, -1);
        }
    }
    buf_putc(out, '{');
    if (p->errors.count) {
        gql_errors_write(out, &p->errors);
        buf_putc(out, ',');
    }
    buf_puts(out, "\"data\":");
    gql__write_node(out, &ex.root);
    gql__write_extensions(req, out);
    buf_putc(out, '}');
    return GQL_EXECUTED;
}
