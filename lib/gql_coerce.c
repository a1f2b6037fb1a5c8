/*
 * gql_coerce.c — input and result coercion.
 *
 * Owns: variable coercion from JSON (graphql-js's coerceInputValue), literal
 * and argument coercion with variables and defaults (valueFromAST), and the
 * serialisation of leaf results (Int, Float, String, Boolean, ID, enums,
 * custom scalars). Everything is allocated from the request arena; error
 * messages are graphql-js's.
 */
#include "gql_exec_int.h"

#include "cJSON.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    arena_t *a;
    const gql_schema_t *s;
    const gql_value_t *vars; /* coerced variables; NULL while coercing variables */
    bool json_kept;          /* the JSON's strings live as long as the arena: no copies */
    char err[300];
} gql__co_t;

/* A coercion context; err[] is only read after a failure, so it is not
 * zeroed (300 bytes a value). */
static inline void gql__co_init(gql__co_t *c, arena_t *a, const gql_schema_t *s,
                                const gql_value_t *vars)
{
    c->a = a;
    c->s = s;
    c->vars = vars;
    c->json_kept = false;
    c->err[0] = '\0';
}

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

const gql_value_t *gql_var_get(const gql_value_t *vars, gql_name_t name)
{
    if (vars == NULL) return NULL;
    for (size_t i = 0; i < vars->u.obj.n; i++)
        if (gql_name_eq(name, vars->u.obj.names[i])) return &vars->u.obj.values[i];
    return NULL;
}

/* An empty input object with room for every field of nt (coerced from a
 * literal or from JSON). */
static void gql__input_object_init(gql__co_t *c, const gql_type_t *nt, gql_value_t *out)
{
    out->kind = GQL_INPUT_OBJECT;
    out->u.obj.n = 0;
    out->u.obj.names = arena_alloc(c->a, (nt->nifields + 1) * sizeof *out->u.obj.names);
    out->u.obj.values = arena_alloc(c->a, (nt->nifields + 1) * sizeof *out->u.obj.values);
}

/* Untyped literal → value (custom scalars). */
static int gql__untyped(gql__co_t *c, const gql_ast_value_t *v, gql_value_t *out)
{
    switch (v->kind) {
    case GQL_AV_VAR: {
        const gql_value_t *x = gql_var_get(c->vars, v->s);
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
        gql__co_t dc;
        gql__co_init(&dc, c->a, c->s, NULL);
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
        const gql_value_t *x = gql_var_get(c->vars, v->s);
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
            if (it->kind == GQL_AV_VAR && gql_var_get(c->vars, it->s) == NULL) {
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
        gql__input_object_init(c, nt, out);
        for (uint32_t i = 0; i < nt->nifields; i++) {
            const gql_ivalue_t *f = &nt->ifields[i];
            const gql_ast_value_t *fv = NULL;
            for (uint32_t j = 0; j < v->n && !fv; j++)
                if (gql_name_eq(v->fields[j].name, f->name)) fv = v->fields[j].value;
            if (fv == NULL || (fv->kind == GQL_AV_VAR && gql_var_get(c->vars, fv->s) == NULL)) {
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
    if (nt == c->s->t_int && v->kind == GQL_AV_INT && v->s.len && v->s.len <= 9 &&
        v->s.p[0] != '-') { /* the lexer's digits, in range: no copy, no strtoll */
        int64_t x = 0;
        for (uint32_t i = 0; i < v->s.len; i++) x = x * 10 + (v->s.p[i] - '0');
        *out = gql_int(x);
        return 0;
    }
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

static int gql__from_json(gql__co_t *c, const cJSON *j, const gql_typeref_t *t, gql_value_t *out);

static int gql__json_input_object(gql__co_t *c, const cJSON *j, const gql_type_t *nt,
                                  gql_value_t *out)
{
    if (!cJSON_IsObject(j))
        return gql__co_fail(c, "Expected type \"%s\" to be an object.", nt->name);
    for (const cJSON *it = j->child; it; it = it->next)
        if (!gql_ivalue_find(nt->ifields, nt->nifields, it->string, strlen(it->string)))
            return gql__co_fail(c, "Field \"%s\" is not defined by type \"%s\".", it->string,
                                nt->name);
    gql__input_object_init(c, nt, out);
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

/* A JSON string as a value: the JSON's own bytes when they are kept. */
static gql_value_t gql__json_str(const gql__co_t *c, const cJSON *j)
{
    size_t n = strlen(j->valuestring);
    return gql_str(c->json_kept ? j->valuestring : arena_strndup(c->a, j->valuestring, n), n);
}

/* A custom scalar takes the JSON as it is, as a value. */
static int gql__json_custom(gql__co_t *c, const cJSON *j, const gql_typeref_t *t, gql_value_t *out)
{
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

static int gql__json_builtin(gql__co_t *c, const cJSON *j, const gql_type_t *nt, gql_value_t *out)
{
    if (nt == c->s->t_int) {
        if (!cJSON_IsNumber(j) || j->valuedouble != floor(j->valuedouble))
            return gql__co_fail(c, "Int cannot represent non-integer value.");
        if (j->valuedouble < INT32_MIN || j->valuedouble > INT32_MAX)
            return gql__co_fail(c, "Int cannot represent non 32-bit signed integer value.");
        *out = gql_int((int64_t)j->valuedouble);
    } else if (nt == c->s->t_float) {
        if (!cJSON_IsNumber(j)) return gql__co_fail(c, "Float cannot represent non numeric value.");
        *out = gql_float(j->valuedouble);
    } else if (nt == c->s->t_boolean) {
        if (!cJSON_IsBool(j))
            return gql__co_fail(c, "Boolean cannot represent a non boolean value.");
        *out = gql_bool(cJSON_IsTrue(j));
    } else if (nt == c->s->t_string) {
        if (!cJSON_IsString(j))
            return gql__co_fail(c, "String cannot represent a non string value.");
        *out = gql__json_str(c, j);
    } else if (cJSON_IsString(j)) { /* ID */
        *out = gql__json_str(c, j);
    } else if (cJSON_IsNumber(j) && j->valuedouble == floor(j->valuedouble) &&
               fabs(j->valuedouble) < 9e15) {
        const char *s = arena_printf(c->a, "%lld", (long long)j->valuedouble);
        *out = gql_str(s, strlen(s));
    } else {
        return gql__co_fail(c, "ID cannot represent value.");
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
    case GQL_T_INPUT:
        return gql__json_input_object(c, j, nt, out);
    case GQL_T_ENUM: {
        const gql_enumval_t *ev =
            cJSON_IsString(j) ? gql_enum_find(nt, j->valuestring, strlen(j->valuestring)) : NULL;
        if (ev == NULL)
            return gql__co_fail(c, "Value is not a valid value of enum \"%s\".", nt->name);
        *out = gql_enum(ev->name, strlen(ev->name));
        return 0;
    }
    case GQL_T_SCALAR:
        return nt->builtin ? gql__json_builtin(c, j, nt, out) : gql__json_custom(c, j, t, out);
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

void gql_coerce_prepare_vars(const gql_schema_t *s, arena_t *a, gql_ast_def_t *op)
{
    for (uint32_t i = 0; i < op->nvars; i++) {
        op->vars[i].tr = gql__ast_typeref(s, a, op->vars[i].type);
        op->vars[i].cname = arena_strndup(a, op->vars[i].name.p, op->vars[i].name.len);
    }
}

static void gql__var_error(gql_errors_t *es, err_code_t code, const gql_loc_t *loc, uint32_t nloc,
                           const char *msg)
{
    gql_errors_add(es, code, loc, nloc, "%s", msg);
}

uint32_t gql_coerce_vars(const gql_schema_t *s, arena_t *a, const gql_ast_def_t *op,
                         const void *vars_, bool vars_kept, gql_value_t *out, gql_errors_t *es)
{
    const cJSON *vars = vars_;
    uint32_t nerr = es->count;
    out->kind = GQL_INPUT_OBJECT;
    out->u.obj.n = 0;
    out->u.obj.names = arena_alloc(a, (op->nvars + 1) * sizeof *out->u.obj.names);
    out->u.obj.values = arena_alloc(a, (op->nvars + 1) * sizeof *out->u.obj.values);
    for (uint32_t i = 0; i < op->nvars; i++) {
        const gql_ast_vardef_t *vd = &op->vars[i];
        const gql_typeref_t *t = vd->tr ? vd->tr : gql__ast_typeref(s, a, vd->type);
        const char *name = vd->cname ? vd->cname : arena_strndup(a, vd->name.p, vd->name.len);
        const cJSON *j = cJSON_IsObject(vars) ? cJSON_GetObjectItemCaseSensitive(vars, name) : NULL;
        gql__co_t c;
        gql__co_init(&c, a, s, NULL);
        c.json_kept = vars_kept;
        gql_value_t v;
        if (t == NULL) continue; /* validation reported it */
        if (j == NULL) {
            if (vd->def) {
                if (gql__from_ast(&c, vd->def, t, &v) == 0) {
                    size_t k = out->u.obj.n++;
                    out->u.obj.names[k] = name;
                    out->u.obj.values[k] = v;
                }
            } else if (t->kind == GQL_TR_NONNULL) {
                gql__var_error(
                    es, ERR_BAD_INPUT, &vd->loc, 1,
                    arena_printf(a, "Variable \"$%s\" of required type \"%s\" was not provided.",
                                 name, gql__typestr(a, t)));
            }
            continue;
        }
        if (cJSON_IsNull(j) && t->kind == GQL_TR_NONNULL) {
            gql__var_error(
                es, ERR_BAD_INPUT, &vd->loc, 1,
                arena_printf(a, "Variable \"$%s\" of non-null type \"%s\" must not be null.", name,
                             gql__typestr(a, t)));
            continue;
        }
        if (gql__from_json(&c, j, t, &v)) {
            gql__var_error(es, ERR_BAD_INPUT, &vd->loc, 1,
                           arena_printf(a, "Variable \"$%s\" got invalid value; %s", name, c.err));
            continue;
        }
        size_t k = out->u.obj.n++;
        out->u.obj.names[k] = name;
        out->u.obj.values[k] = v;
    }
    return es->count - nerr;
}

/* ---- arguments ------------------------------------------------------------------------ */

int gql_coerce_args(const gql_schema_t *s, arena_t *a, const gql_value_t *vars,
                    const gql_field_t *f, const gql_ast_sel_t *node, gql_value_t *out,
                    const char **msg)
{
    gql__co_t c;
    gql__co_init(&c, a, s, vars);
    out->kind = GQL_INPUT_OBJECT;
    out->u.obj.n = 0;
    if (f->nargs == 0) { /* most fields: nothing to coerce or allocate */
        out->u.obj.names = NULL;
        out->u.obj.values = NULL;
        return 0;
    }
    out->u.obj.names = arena_alloc(a, (f->nargs + 1) * sizeof *out->u.obj.names);
    out->u.obj.values = arena_alloc(a, (f->nargs + 1) * sizeof *out->u.obj.values);
    for (uint32_t i = 0; i < f->nargs; i++) {
        const gql_ivalue_t *ad = &f->args[i];
        const gql_ast_value_t *av = NULL;
        for (uint32_t j = 0; j < node->nargs && !av; j++)
            if (gql_name_eq(node->args[j].name, ad->name)) av = node->args[j].value;
        if (av && av->kind == GQL_AV_VAR && gql_var_get(vars, av->s) == NULL) av = NULL;
        gql_value_t v;
        if (av == NULL) {
            if (ad->def) {
                gql__co_t dc;
                gql__co_init(&dc, a, s, NULL);
                if (gql__from_ast(&dc, ad->def, ad->type, &v)) {
                    *msg = arena_printf(a, "Argument \"%s\" has an invalid default.", ad->name);
                    return -1;
                }
            } else if (ad->type->kind == GQL_TR_NONNULL) {
                *msg = arena_printf(a, "Argument \"%s\" of required type \"%s\" was not provided.",
                                    ad->name, gql__typestr(a, ad->type));
                return -1;
            } else {
                continue;
            }
        } else if (gql__from_ast(&c, av, ad->type, &v)) {
            *msg = arena_printf(a, "Argument \"%s\" has invalid value: %s.", ad->name, c.err);
            return -1;
        }
        size_t k = out->u.obj.n++;
        out->u.obj.names[k] = ad->name;
        out->u.obj.values[k] = v;
    }
    return 0;
}

/* ---- result coercion ------------------------------------------------------------------ */

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

int gql_serialize(const gql_schema_t *s, arena_t *a, const gql_type_t *t, const gql_value_t *v,
                  gql_value_t *out, const char **msg)
{
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
