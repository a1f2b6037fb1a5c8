/*
 * gql_validate.c — the specification's validation rules over a parsed document.
 *
 * Owns the rules graphql-js 16 runs (specifiedRules), with the same error
 * locations so the differential corpus can compare them: executable
 * definitions, operation/fragment/variable/argument/input-field/directive
 * uniqueness, lone anonymous operation, known types/fragments/directives/
 * arguments, fragments on composite types and possible spreads, no fragment
 * cycles, variables defined/used/input types/in allowed positions, leaf
 * selections, fields on correct type, values of correct type, required
 * arguments, overlapping fields can be merged and graphql-js's maximum
 * introspection depth. Not implemented: SingleFieldSubscriptions (oponn has
 * no subscriptions; they are refused at execution). Also owns the error
 * list (gql_errors_t) that every stage appends to.
 */
#include "gql_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- error list ---------------------------------------------------------------- */

gql_error_t *gql_errors_add(gql_errors_t *es, err_code_t code, const gql_loc_t *locs,
                            uint32_t nlocs, const char *fmt, ...)
{
    gql_error_t *e = arena_calloc(es->arena, 1, sizeof *e);
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    e->code = code;
    e->msg = arena_strdup(es->arena, msg);
    if (nlocs > GQL_MAX_ERROR_LOCS) nlocs = GQL_MAX_ERROR_LOCS;
    for (uint32_t i = 0; i < nlocs; i++) e->locs[i] = locs[i];
    e->nlocs = nlocs;
    if (es->tail)
        es->tail->next = e;
    else
        es->head = e;
    es->tail = e;
    es->count++;
    return e;
}

void gql_errors_write(buf_t *out, const gql_errors_t *es)
{
    buf_puts(out, "\"errors\":[");
    for (const gql_error_t *e = es->head; e; e = e->next) {
        if (e != es->head) buf_putc(out, ',');
        buf_puts(out, "{\"message\":");
        buf_put_json_str(out, e->msg, strlen(e->msg));
        if (e->nlocs) {
            buf_puts(out, ",\"locations\":[");
            for (uint32_t i = 0; i < e->nlocs; i++)
                buf_printf(out, "%s{\"line\":%u,\"column\":%u}", i ? "," : "", e->locs[i].line,
                           e->locs[i].col);
            buf_putc(out, ']');
        }
        if (e->path_json) {
            buf_puts(out, ",\"path\":");
            buf_puts(out, e->path_json);
        }
        buf_puts(out, ",\"extensions\":{\"code\":\"");
        buf_puts(out, err_code_name(e->code));
        buf_puts(out, "\"}}");
    }
    buf_putc(out, ']');
}

/* ---- validation context ----------------------------------------------------------- */

typedef struct {
    gql_name_t name;
    gql_loc_t loc;
    const gql_typeref_t *type; /* expected input type at the usage, or NULL */
    bool has_default;          /* the location (argument/input field) has a default */
} gql__usage_t;

typedef struct {
    gql__usage_t *items;
    uint32_t n, cap;
    gql_name_t *spreads; /* fragment names spread directly (anywhere in the definition) */
    uint32_t nspreads, capspreads;
} gql__defuse_t;

typedef struct {
    const gql_schema_t *s;
    gql_doc_t *doc;
    gql_errors_t *es;
    arena_t *a;
    gql__defuse_t *uses; /* per definition */
    gql__defuse_t *cur;
    long budget; /* bounds the work of the overlapping-fields rule */
} gql__v_t;

#define GQL__VERR(v, locs, n, ...) gql_errors_add((v)->es, ERR_VALIDATION, (locs), (n), __VA_ARGS__)

static const char *gql__n(gql__v_t *v, gql_name_t n)
{
    return arena_strndup(v->a, n.p, n.len);
}

static const char *gql__tr(gql__v_t *v, const gql_typeref_t *t)
{
    buf_t b = BUF_INIT;
    gql_typeref_print(&b, t);
    const char *s = arena_strndup(v->a, b.data, b.len);
    buf_free(&b);
    return s;
}

static const char *gql__val(gql__v_t *v, const gql_ast_value_t *val)
{
    buf_t b = BUF_INIT;
    gql_ast_value_print(&b, val);
    const char *s = arena_strndup(v->a, b.data, b.len);
    buf_free(&b);
    return s;
}

static gql_ast_def_t *gql__fragment(gql__v_t *v, gql_name_t name)
{
    for (uint32_t i = 0; i < v->doc->ndefs; i++) {
        gql_ast_def_t *d = &v->doc->defs[i];
        if (d->kind == GQL_DEF_FRAGMENT && gql_names_eq(d->name, name)) return d;
    }
    return NULL;
}

/* typeFromAST: NULL when the named type is unknown. */
static const gql_typeref_t *gql__type_from_ast(gql__v_t *v, const gql_ast_type_t *t)
{
    if (t->kind == GQL_AT_NAMED) {
        gql_type_t *nt = gql_schema_type(v->s, t->name.p, t->name.len);
        return nt ? &nt->named : NULL;
    }
    const gql_typeref_t *of = gql__type_from_ast(v, t->of);
    if (of == NULL) return NULL;
    gql_typeref_t *r = arena_calloc(v->a, 1, sizeof *r);
    r->kind = t->kind == GQL_AT_LIST ? GQL_TR_LIST : GQL_TR_NONNULL;
    r->of = (gql_typeref_t *)of;
    return r;
}

static bool gql__is_subtype(const gql_typeref_t *sub, const gql_typeref_t *sup)
{
    if (sub->kind == GQL_TR_NAMED && sup->kind == GQL_TR_NAMED) {
        if (sub->type == sup->type) return true;
        return gql_type_abstract(sup->type) &&
               (sub->type->kind == GQL_T_OBJECT || sub->type->kind == GQL_T_INTERFACE) &&
               gql_type_possible(sup->type, sub->type);
    }
    if (sup->kind == GQL_TR_NONNULL)
        return sub->kind == GQL_TR_NONNULL && gql__is_subtype(sub->of, sup->of);
    if (sub->kind == GQL_TR_NONNULL) return gql__is_subtype(sub->of, sup);
    if (sup->kind == GQL_TR_LIST)
        return sub->kind == GQL_TR_LIST && gql__is_subtype(sub->of, sup->of);
    return false;
}

/* ---- values --------------------------------------------------------------------- */

static bool gql__int32_literal(gql_name_t s)
{
    char tmp[32];
    if (s.len >= sizeof tmp) return false;
    memcpy(tmp, s.p, s.len);
    tmp[s.len] = '\0';
    errno = 0;
    long long x = strtoll(tmp, NULL, 10);
    return errno == 0 && x >= INT32_MIN && x <= INT32_MAX;
}

/* graphql-js isValidValueNode(): a leaf literal against the expected type. */
static void gql__leaf_check(gql__v_t *v, const gql_ast_value_t *val, const gql_typeref_t *expected)
{
    const gql_type_t *t = gql_typeref_named(expected);
    bool ok;
    if (t->kind != GQL_T_SCALAR && t->kind != GQL_T_ENUM) {
        ok = false;
    } else if (t->kind == GQL_T_ENUM) {
        ok = val->kind == GQL_AV_ENUM && gql_enum_find(t, val->s.p, val->s.len) != NULL;
    } else if (!t->builtin) {
        ok = true; /* custom scalars take any literal */
    } else if (t == v->s->t_int) {
        ok = val->kind == GQL_AV_INT && gql__int32_literal(val->s);
    } else if (t == v->s->t_float) {
        ok = val->kind == GQL_AV_INT || val->kind == GQL_AV_FLOAT;
    } else if (t == v->s->t_string) {
        ok = val->kind == GQL_AV_STRING;
    } else if (t == v->s->t_boolean) {
        ok = val->kind == GQL_AV_BOOL;
    } else { /* ID */
        ok = val->kind == GQL_AV_STRING || val->kind == GQL_AV_INT;
    }
    if (!ok)
        GQL__VERR(v, &val->loc, 1, "Expected value of type \"%s\", found %s.", gql__tr(v, expected),
                  gql__val(v, val));
}

/* ValuesOfCorrectType + UniqueInputFieldNames + variable usages.
 * expected: the input type at this position or NULL (unknown). */
static void gql__check_value(gql__v_t *v, const gql_ast_value_t *val, const gql_typeref_t *expected,
                             bool has_default)
{
    switch (val->kind) {
    case GQL_AV_VAR: {
        gql__defuse_t *u = v->cur;
        if (u->n == u->cap) {
            uint32_t nc = u->cap ? u->cap * 2 : 8;
            u->items =
                arena_realloc(v->a, u->items, u->cap * sizeof *u->items, nc * sizeof *u->items);
            u->cap = nc;
        }
        u->items[u->n++] = (gql__usage_t){val->s, val->loc, expected, has_default};
        return;
    }
    case GQL_AV_NULL:
        if (expected && expected->kind == GQL_TR_NONNULL)
            GQL__VERR(v, &val->loc, 1, "Expected value of type \"%s\", found null.",
                      gql__tr(v, expected));
        return;
    case GQL_AV_LIST: {
        const gql_typeref_t *t = expected;
        if (t && t->kind == GQL_TR_NONNULL) t = t->of;
        if (t && t->kind == GQL_TR_LIST) {
            for (uint32_t i = 0; i < val->n; i++) gql__check_value(v, val->items[i], t->of, false);
            return;
        }
        if (expected) gql__leaf_check(v, val, expected);
        /* children are still visited for variables, typed as graphql-js's TypeInfo does */
        for (uint32_t i = 0; i < val->n; i++) {
            gql__defuse_t *keep = v->cur;
            gql_errors_t *es = v->es, quiet = {v->a, NULL, NULL, 0};
            v->es = &quiet;
            gql__check_value(v, val->items[i], t, false);
            v->es = es;
            v->cur = keep;
        }
        return;
    }
    case GQL_AV_OBJECT: {
        for (uint32_t i = 0; i < val->n; i++)
            for (uint32_t j = 0; j < i; j++)
                if (gql_names_eq(val->fields[i].name, val->fields[j].name)) {
                    gql_loc_t l[2] = {val->fields[j].loc, val->fields[i].loc};
                    GQL__VERR(v, l, 2, "There can be only one input field named \"%s\".",
                              gql__n(v, val->fields[i].name));
                    break;
                }
        const gql_type_t *t = expected ? gql_typeref_named(expected) : NULL;
        if (t && t->kind == GQL_T_INPUT) {
            for (uint32_t i = 0; i < t->nifields; i++) {
                const gql_ivalue_t *f = &t->ifields[i];
                if (f->type->kind != GQL_TR_NONNULL || f->def) continue;
                bool given = false;
                for (uint32_t j = 0; j < val->n && !given; j++)
                    given = gql_name_eq(val->fields[j].name, f->name);
                if (!given)
                    GQL__VERR(v, &val->loc, 1,
                              "Field \"%s.%s\" of required type \"%s\" was not provided.", t->name,
                              f->name, gql__tr(v, f->type));
            }
            for (uint32_t j = 0; j < val->n; j++) {
                const gql_ast_arg_t *af = &val->fields[j];
                const gql_ivalue_t *f =
                    gql_ivalue_find(t->ifields, t->nifields, af->name.p, af->name.len);
                if (f == NULL)
                    GQL__VERR(v, &af->loc, 1, "Field \"%s\" is not defined by type \"%s\".",
                              gql__n(v, af->name), t->name);
                gql__check_value(v, af->value, f ? f->type : NULL, f && f->def);
            }
            return;
        }
        if (expected) gql__leaf_check(v, val, expected);
        for (uint32_t j = 0; j < val->n; j++)
            gql__check_value(v, val->fields[j].value, NULL, false);
        return;
    }
    default:
        if (expected) gql__leaf_check(v, val, expected);
        return;
    }
    (void)has_default;
}

/* KnownArgumentNames, UniqueArgumentNames, ProvidedRequiredArguments and the
 * argument values. what: "field \"T.f\"" or "directive \"@d\"". */
static void gql__check_args(gql__v_t *v, const gql_ast_arg_t *args, uint32_t nargs,
                            const gql_ivalue_t *defs, uint32_t ndefs, bool known, bool is_dir,
                            const char *owner1, gql_name_t owner2, gql_loc_t node_loc)
{
    for (uint32_t i = 0; i < nargs; i++) {
        for (uint32_t j = 0; j < i; j++)
            if (gql_names_eq(args[i].name, args[j].name)) {
                /* graphql-js reports each duplicated name once, with all occurrences */
                bool first = true;
                for (uint32_t k = 0; k < j; k++)
                    if (gql_names_eq(args[k].name, args[i].name)) first = false;
                bool later = false;
                for (uint32_t k = j + 1; k < i; k++)
                    if (gql_names_eq(args[k].name, args[i].name)) later = true;
                if (first && !later) {
                    gql_loc_t l[4];
                    uint32_t n = 0;
                    for (uint32_t k = 0; k < nargs && n < 4; k++)
                        if (gql_names_eq(args[k].name, args[i].name)) l[n++] = args[k].loc;
                    GQL__VERR(v, l, n, "There can be only one argument named \"%s\".",
                              gql__n(v, args[i].name));
                }
                break;
            }
        const gql_ivalue_t *d =
            known ? gql_ivalue_find(defs, ndefs, args[i].name.p, args[i].name.len) : NULL;
        if (known && d == NULL)
            GQL__VERR(v, &args[i].loc, 1, "Unknown argument \"%s\" on %s %s.",
                      gql__n(v, args[i].name), is_dir ? "directive" : "field",
                      arena_printf(v->a, is_dir ? "\"@%s%.*s\"" : "\"%s.%.*s\"", owner1,
                                   (int)owner2.len, owner2.p));
        gql__check_value(v, args[i].value, d ? d->type : NULL, d && d->def);
    }
    if (!known) return;
    for (uint32_t i = 0; i < ndefs; i++) {
        if (defs[i].type->kind != GQL_TR_NONNULL || defs[i].def) continue;
        bool given = false;
        for (uint32_t j = 0; j < nargs && !given; j++)
            given = gql_name_eq(args[j].name, defs[i].name);
        if (!given)
            GQL__VERR(v, &node_loc, 1,
                      "%s \"%s\" argument \"%s\" of type \"%s\" is required, but it was not "
                      "provided.",
                      is_dir ? "Directive" : "Field",
                      arena_printf(v->a, is_dir ? "@%s%.*s" : "%s.%.*s", owner1, (int)owner2.len,
                                   owner2.p),
                      defs[i].name, gql__tr(v, defs[i].type));
    }
}

static const char *gql__dirname(gql__v_t *v, const gql_ast_dir_t *d)
{
    return arena_printf(v->a, "@%.*s", (int)d->name.len, d->name.p);
}

static void gql__check_dirs(gql__v_t *v, const gql_ast_dir_t *dirs, uint32_t n, uint32_t where)
{
    for (uint32_t i = 0; i < n; i++) {
        const gql_ast_dir_t *d = &dirs[i];
        const gql_directive_t *dd = gql_schema_directive(v->s, d->name.p, d->name.len);
        if (dd == NULL) {
            GQL__VERR(v, &d->loc, 1, "Unknown directive \"%s\".", gql__dirname(v, d));
        } else {
            if (!(dd->locations & where)) {
                int k = 0;
                while (k < GQL_DL__COUNT && (1u << k) != where) k++;
                GQL__VERR(v, &d->loc, 1, "Directive \"%s\" may not be used on %s.",
                          gql__dirname(v, d), gql_dl_names[k]);
            }
            if (!dd->repeatable)
                for (uint32_t j = 0; j < i; j++)
                    if (gql_names_eq(dirs[j].name, d->name)) {
                        gql_loc_t l[2] = {dirs[j].loc, d->loc};
                        GQL__VERR(v, l, 2,
                                  "The directive \"%s\" can only be used once at this location.",
                                  gql__dirname(v, d));
                        break;
                    }
        }
        gql__check_args(v, d->args, d->nargs, dd ? dd->args : NULL, dd ? dd->nargs : 0, dd != NULL,
                        true, "", d->name, d->loc);
    }
}

/* ---- selections ------------------------------------------------------------------- */

static void gql__add_spread(gql__v_t *v, gql_name_t name)
{
    gql__defuse_t *u = v->cur;
    for (uint32_t i = 0; i < u->nspreads; i++)
        if (gql_names_eq(u->spreads[i], name)) return;
    if (u->nspreads == u->capspreads) {
        uint32_t nc = u->capspreads ? u->capspreads * 2 : 8;
        u->spreads = arena_realloc(v->a, u->spreads, u->capspreads * sizeof *u->spreads,
                                   nc * sizeof *u->spreads);
        u->capspreads = nc;
    }
    u->spreads[u->nspreads++] = name;
}

/* Whether some object type could be both a and b. */
static bool gql__overlap(const gql_type_t *a, const gql_type_t *b)
{
    if (a == b) return true;
    if (a->kind == GQL_T_OBJECT) return gql_type_abstract(b) && gql_type_possible(b, a);
    if (b->kind == GQL_T_OBJECT) return gql_type_possible(a, b);
    for (uint32_t i = 0; i < a->npossible; i++)
        if (gql_type_possible(b, a->possible[i])) return true;
    return false;
}

static bool gql__introspection_too_deep(gql__v_t *v, const gql_ast_sel_t *s, int depth,
                                        gql_name_t *visiting, int nvisiting)
{
    if (--v->budget < 0) return false;
    if (s->kind == GQL_SEL_SPREAD) {
        for (int i = 0; i < nvisiting; i++)
            if (gql_names_eq(visiting[i], s->name)) return false;
        gql_ast_def_t *f = gql__fragment(v, s->name);
        if (f == NULL || nvisiting >= 64) return false;
        visiting[nvisiting] = s->name;
        for (uint32_t i = 0; i < f->selset->n; i++)
            if (gql__introspection_too_deep(v, f->selset->items[i], depth, visiting, nvisiting + 1))
                return true;
        return false;
    }
    if (s->kind == GQL_SEL_FIELD &&
        (gql_name_eq(s->name, "fields") || gql_name_eq(s->name, "interfaces") ||
         gql_name_eq(s->name, "possibleTypes") || gql_name_eq(s->name, "inputFields"))) {
        if (++depth >= 3) return true;
    }
    if (s->selset)
        for (uint32_t i = 0; i < s->selset->n; i++)
            if (gql__introspection_too_deep(v, s->selset->items[i], depth, visiting, nvisiting))
                return true;
    return false;
}

static void gql__walk_selset(gql__v_t *v, const gql_ast_selset_t *ss, const gql_type_t *parent,
                             bool is_root_query);

static void gql__walk_field(gql__v_t *v, gql_ast_sel_t *s, const gql_type_t *parent,
                            bool is_root_query)
{
    (void)is_root_query;
    const gql_field_t *f =
        parent ? gql_field_lookup(v->s, parent, s->name, parent == v->s->query) : NULL;
    s->def = f;
    if (parent && f == NULL)
        GQL__VERR(v, &s->loc, 1, "Cannot query field \"%s\" on type \"%s\".", gql__n(v, s->name),
                  parent->name);
    if (f && s->selset == NULL && gql_type_composite(gql_typeref_named(f->type)))
        GQL__VERR(v, &s->loc, 1,
                  "Field \"%s\" of type \"%s\" must have a selection of subfields. Did you mean "
                  "\"%s { ... }\"?",
                  gql__n(v, s->name), gql__tr(v, f->type), gql__n(v, s->name));
    if (f && s->selset && !gql_type_composite(gql_typeref_named(f->type)))
        GQL__VERR(v, &s->selset->loc, 1,
                  "Field \"%s\" must not have a selection since type \"%s\" has no subfields.",
                  gql__n(v, s->name), gql__tr(v, f->type));
    if (s->nargs || (f && f->nargs)) /* most fields have none: no call */
        gql__check_args(v, s->args, s->nargs, f ? f->args : NULL, f ? f->nargs : 0, f != NULL,
                        false, parent ? parent->name : "", s->name, s->loc);
    if (s->ndirs) gql__check_dirs(v, s->dirs, s->ndirs, GQL_DL_FIELD);
    if (gql_name_eq(s->name, "__schema") || gql_name_eq(s->name, "__type")) {
        gql_name_t visiting[64];
        long keep = v->budget;
        if (gql__introspection_too_deep(v, s, 0, visiting, 0)) {
            GQL__VERR(v, &s->loc, 1, "Maximum introspection depth exceeded");
            v->budget = keep;
            return; /* graphql-js stops this rule's visit here only; other rules continue */
        }
        v->budget = keep;
    }
    if (s->selset) {
        const gql_type_t *t = f ? gql_typeref_named(f->type) : NULL;
        gql__walk_selset(v, s->selset, t && gql_type_composite(t) ? t : NULL, false);
    }
}

static void gql__walk_selset(gql__v_t *v, const gql_ast_selset_t *ss, const gql_type_t *parent,
                             bool is_root_query)
{
    for (uint32_t i = 0; i < ss->n; i++) {
        gql_ast_sel_t *s = ss->items[i];
        switch (s->kind) {
        case GQL_SEL_FIELD:
            gql__walk_field(v, s, parent, is_root_query);
            break;
        case GQL_SEL_INLINE: {
            const gql_type_t *t = parent;
            if (s->type_cond.len) {
                t = gql_cond_type(v->s, s);
                if (t == NULL) {
                    GQL__VERR(v, &s->tc_loc, 1, "Unknown type \"%s\".", gql__n(v, s->type_cond));
                } else if (!gql_type_composite(t)) {
                    GQL__VERR(v, &s->tc_loc, 1,
                              "Fragment cannot condition on non composite type \"%s\".", t->name);
                    t = NULL;
                }
            }
            if (t && parent && !gql__overlap(t, parent))
                GQL__VERR(v, &s->loc, 1,
                          "Fragment cannot be spread here as objects of type \"%s\" can never be "
                          "of type \"%s\".",
                          parent->name, t->name);
            gql__check_dirs(v, s->dirs, s->ndirs, GQL_DL_INLINE_FRAGMENT);
            gql__walk_selset(v, s->selset, t, is_root_query);
            break;
        }
        case GQL_SEL_SPREAD: {
            gql_ast_def_t *f = gql__fragment(v, s->name);
            gql__add_spread(v, s->name);
            if (f == NULL) {
                GQL__VERR(v, &s->name_loc, 1, "Unknown fragment \"%s\".", gql__n(v, s->name));
            } else if (parent) {
                const gql_type_t *t = gql_def_cond_type(v->s, f);
                if (t && gql_type_composite(t) && !gql__overlap(t, parent))
                    GQL__VERR(v, &s->loc, 1,
                              "Fragment \"%s\" cannot be spread here as objects of type \"%s\" can "
                              "never be of type \"%s\".",
                              gql__n(v, s->name), parent->name, t->name);
            }
            gql__check_dirs(v, s->dirs, s->ndirs, GQL_DL_FRAGMENT_SPREAD);
            break;
        }
        }
    }
}

/* ---- fragment cycles ----------------------------------------------------------------- */

typedef struct {
    gql__v_t *v;
    bool *visited;
    const gql_ast_sel_t **path;
    uint32_t npath;
    int32_t *index_by_frag; /* -1 = not on the path */
} gql__cyc_t;

static uint32_t gql__frag_idx(gql__v_t *v, const gql_ast_def_t *d)
{
    return (uint32_t)(d - v->doc->defs);
}

static void gql__collect_spreads(gql__v_t *v, const gql_ast_selset_t *ss,
                                 const gql_ast_sel_t ***out, uint32_t *n, uint32_t *cap)
{
    for (uint32_t i = 0; i < ss->n; i++) {
        const gql_ast_sel_t *s = ss->items[i];
        if (s->kind == GQL_SEL_SPREAD) {
            if (*n == *cap) {
                uint32_t nc = *cap ? *cap * 2 : 8;
                *out = arena_realloc(v->a, *out, *cap * sizeof **out, nc * sizeof **out);
                *cap = nc;
            }
            (*out)[(*n)++] = s;
        } else if (s->selset) {
            gql__collect_spreads(v, s->selset, out, n, cap);
        }
    }
}

static void gql__detect_cycle(gql__cyc_t *c, gql_ast_def_t *frag)
{
    gql__v_t *v = c->v;
    uint32_t fi = gql__frag_idx(v, frag);
    if (c->visited[fi]) return;
    c->visited[fi] = true;
    const gql_ast_sel_t **spreads = NULL;
    uint32_t n = 0, cap = 0;
    gql__collect_spreads(v, frag->selset, &spreads, &n, &cap);
    if (n == 0) return;
    c->index_by_frag[fi] = (int32_t)c->npath;
    for (uint32_t i = 0; i < n; i++) {
        gql_ast_def_t *target = gql__fragment(v, spreads[i]->name);
        int32_t cyc = target ? c->index_by_frag[gql__frag_idx(v, target)] : -1;
        c->path[c->npath++] = spreads[i];
        if (cyc < 0) {
            if (target) gql__detect_cycle(c, target);
        } else {
            buf_t via = BUF_INIT;
            gql_loc_t locs[4];
            uint32_t nl = 0;
            for (uint32_t k = (uint32_t)cyc; k < c->npath; k++) {
                if (nl < 4) locs[nl++] = c->path[k]->loc;
                if (k + 1 < c->npath)
                    buf_printf(&via, "%s\"%.*s\"", k > (uint32_t)cyc ? ", " : "",
                               (int)c->path[k]->name.len, c->path[k]->name.p);
            }
            GQL__VERR(v, locs, nl, "Cannot spread fragment \"%s\" within itself%s%s.",
                      gql__n(v, spreads[i]->name), via.len ? " via " : "", via.len ? via.data : "");
            buf_free(&via);
        }
        c->npath--;
    }
    c->index_by_frag[fi] = -1;
}

/* ---- overlapping fields can be merged ----------------------------------------------- */

typedef struct {
    const gql_type_t *parent; /* may be NULL */
    const gql_ast_sel_t *node;
    const gql_field_t *def; /* NULL for meta fields and unknown fields */
} gql__fentry_t;

typedef struct {
    gql_name_t key;
    gql__fentry_t *items;
    uint32_t n, cap;
} gql__fgroup_t;

typedef struct {
    gql__fgroup_t *groups;
    uint32_t n, cap;
    gql_name_t *frags;
    uint32_t nfrags, capfrags;
} gql__fmap_t;

typedef struct {
    gql_name_t a, b;
    bool mutex;
} gql__pair_t;

typedef struct {
    gql__v_t *v;
    gql__pair_t *pairs;
    uint32_t npairs, cap;
    int depth; /* nesting of sub-selection comparisons */
} gql__ovl_t;

typedef struct {
    gql_name_t key;
    const char *reason;
    gql_loc_t locs1[GQL_MAX_ERROR_LOCS], locs2[GQL_MAX_ERROR_LOCS];
    uint32_t n1, n2;
} gql__conflict_t;

typedef struct {
    gql__conflict_t *items;
    uint32_t n, cap;
} gql__conflicts_t;

static void gql__fmap_collect(gql__v_t *v, const gql_type_t *parent, const gql_ast_selset_t *ss,
                              gql__fmap_t *m)
{
    for (uint32_t i = 0; i < ss->n; i++) {
        const gql_ast_sel_t *s = ss->items[i];
        if (s->kind == GQL_SEL_FIELD) {
            gql_name_t key = gql_sel_key(s);
            const gql_field_t *def = NULL;
            if (parent && (parent->kind == GQL_T_OBJECT || parent->kind == GQL_T_INTERFACE)) {
                def = gql_field_in(s->def, parent);
                if (def == NULL) def = gql_type_field(parent, s->name.p, s->name.len);
            }
            gql__fgroup_t *g = NULL;
            for (uint32_t k = 0; k < m->n; k++)
                if (gql_names_eq(m->groups[k].key, key)) g = &m->groups[k];
            if (g == NULL) {
                if (m->n == m->cap) {
                    uint32_t nc = m->cap ? m->cap * 2 : 8;
                    m->groups = arena_realloc(v->a, m->groups, m->cap * sizeof *m->groups,
                                              nc * sizeof *m->groups);
                    m->cap = nc;
                }
                g = &m->groups[m->n++];
                memset(g, 0, sizeof *g);
                g->key = key;
            }
            if (g->n == g->cap) {
                uint32_t nc = g->cap ? g->cap * 2 : 2;
                g->items =
                    arena_realloc(v->a, g->items, g->cap * sizeof *g->items, nc * sizeof *g->items);
                g->cap = nc;
            }
            g->items[g->n++] = (gql__fentry_t){parent, s, def};
        } else if (s->kind == GQL_SEL_SPREAD) {
            bool have = false;
            for (uint32_t k = 0; k < m->nfrags && !have; k++)
                have = gql_names_eq(m->frags[k], s->name);
            if (!have) {
                if (m->nfrags == m->capfrags) {
                    uint32_t nc = m->capfrags ? m->capfrags * 2 : 4;
                    m->frags = arena_realloc(v->a, m->frags, m->capfrags * sizeof *m->frags,
                                             nc * sizeof *m->frags);
                    m->capfrags = nc;
                }
                m->frags[m->nfrags++] = s->name;
            }
        } else {
            const gql_type_t *t = parent;
            if (s->type_cond.len) t = gql_cond_type(v->s, s);
            gql__fmap_collect(v, t, s->selset, m);
        }
    }
}

static gql__fmap_t *gql__fmap(gql__v_t *v, const gql_type_t *parent, gql_ast_selset_t *ss)
{
    if (ss->overlap_cache) return ss->overlap_cache;
    gql__fmap_t *m = arena_calloc(v->a, 1, sizeof *m);
    gql__fmap_collect(v, parent, ss, m);
    ss->overlap_cache = m;
    return m;
}

static gql__fmap_t *gql__frag_fmap(gql__v_t *v, const gql_ast_def_t *f)
{
    const gql_type_t *t = gql_def_cond_type(v->s, f);
    return gql__fmap(v, t, f->selset);
}

static bool gql__pair_has(gql__ovl_t *o, gql_name_t a, gql_name_t b, bool mutex)
{
    for (uint32_t i = 0; i < o->npairs; i++) {
        gql__pair_t *p = &o->pairs[i];
        if ((gql_names_eq(p->a, a) && gql_names_eq(p->b, b)) ||
            (gql_names_eq(p->a, b) && gql_names_eq(p->b, a)))
            return mutex ? true : p->mutex == mutex;
    }
    return false;
}

static void gql__pair_add(gql__ovl_t *o, gql_name_t a, gql_name_t b, bool mutex)
{
    for (uint32_t i = 0; i < o->npairs; i++) {
        gql__pair_t *p = &o->pairs[i];
        if ((gql_names_eq(p->a, a) && gql_names_eq(p->b, b)) ||
            (gql_names_eq(p->a, b) && gql_names_eq(p->b, a))) {
            p->mutex = mutex;
            return;
        }
    }
    if (o->npairs == o->cap) {
        uint32_t nc = o->cap ? o->cap * 2 : 16;
        o->pairs =
            arena_realloc(o->v->a, o->pairs, o->cap * sizeof *o->pairs, nc * sizeof *o->pairs);
        o->cap = nc;
    }
    o->pairs[o->npairs++] = (gql__pair_t){a, b, mutex};
}

static void gql__conflicts_push(gql__ovl_t *o, gql__conflicts_t *cs, const gql__conflict_t *c)
{
    if (cs->n == cs->cap) {
        uint32_t nc = cs->cap ? cs->cap * 2 : 4;
        cs->items =
            arena_realloc(o->v->a, cs->items, cs->cap * sizeof *cs->items, nc * sizeof *cs->items);
        cs->cap = nc;
    }
    cs->items[cs->n++] = *c;
}

static void gql__between(gql__ovl_t *o, gql__conflicts_t *cs, bool mutex, gql__fmap_t *m1,
                         gql__fmap_t *m2);
static void gql__fields_and_fragment(gql__ovl_t *o, gql__conflicts_t *cs, bool mutex,
                                     gql__fmap_t *m, gql_name_t frag);
static void gql__fragments(gql__ovl_t *o, gql__conflicts_t *cs, bool mutex, gql_name_t f1,
                           gql_name_t f2);

static bool gql__same_args(gql__v_t *v, const gql_ast_sel_t *a, const gql_ast_sel_t *b)
{
    if (a->nargs != b->nargs) return false;
    for (uint32_t i = 0; i < a->nargs; i++) {
        const gql_ast_arg_t *x = &a->args[i], *y = NULL;
        for (uint32_t j = 0; j < b->nargs && !y; j++)
            if (gql_names_eq(b->args[j].name, x->name)) y = &b->args[j];
        if (y == NULL || strcmp(gql__val(v, x->value), gql__val(v, y->value)) != 0) return false;
    }
    return true;
}

static bool gql__types_conflict(const gql_typeref_t *a, const gql_typeref_t *b)
{
    if (a->kind == GQL_TR_LIST || b->kind == GQL_TR_LIST) {
        if (a->kind == GQL_TR_LIST && b->kind == GQL_TR_LIST)
            return gql__types_conflict(a->of, b->of);
        return true;
    }
    if (a->kind == GQL_TR_NONNULL || b->kind == GQL_TR_NONNULL) {
        if (a->kind == GQL_TR_NONNULL && b->kind == GQL_TR_NONNULL)
            return gql__types_conflict(a->of, b->of);
        return true;
    }
    bool la = a->type->kind == GQL_T_SCALAR || a->type->kind == GQL_T_ENUM;
    bool lb = b->type->kind == GQL_T_SCALAR || b->type->kind == GQL_T_ENUM;
    if (la || lb) return a->type != b->type;
    return false;
}

static bool gql__find_conflict(gql__ovl_t *o, bool parent_mutex, gql_name_t key,
                               const gql__fentry_t *f1, const gql__fentry_t *f2,
                               gql__conflict_t *out)
{
    gql__v_t *v = o->v;
    /* fragment cycles (reported by their own rule) would recurse forever */
    if (--v->budget < 0 || o->depth > 64) return false;
    bool mutex =
        parent_mutex || (f1->parent != f2->parent && f1->parent && f2->parent &&
                         f1->parent->kind == GQL_T_OBJECT && f2->parent->kind == GQL_T_OBJECT);
    memset(out, 0, sizeof *out);
    out->key = key;
    out->locs1[0] = f1->node->loc;
    out->locs2[0] = f2->node->loc;
    out->n1 = out->n2 = 1;
    if (!mutex) {
        if (!gql_names_eq(f1->node->name, f2->node->name)) {
            out->reason = arena_printf(v->a, "\"%s\" and \"%s\" are different fields",
                                       gql__n(v, f1->node->name), gql__n(v, f2->node->name));
            return true;
        }
        if (!gql__same_args(v, f1->node, f2->node)) {
            out->reason = "they have differing arguments";
            return true;
        }
    }
    if (f1->def && f2->def && gql__types_conflict(f1->def->type, f2->def->type)) {
        out->reason = arena_printf(v->a, "they return conflicting types \"%s\" and \"%s\"",
                                   gql__tr(v, f1->def->type), gql__tr(v, f2->def->type));
        return true;
    }
    if (f1->node->selset && f2->node->selset) {
        gql__conflicts_t sub = {0};
        const gql_type_t *t1 = f1->def ? gql_typeref_named(f1->def->type) : NULL;
        const gql_type_t *t2 = f2->def ? gql_typeref_named(f2->def->type) : NULL;
        gql__fmap_t *m1 = gql__fmap(v, t1, f1->node->selset);
        gql__fmap_t *m2 = gql__fmap(v, t2, f2->node->selset);
        o->depth++;
        gql__between(o, &sub, mutex, m1, m2);
        for (uint32_t j = 0; j < m2->nfrags; j++)
            gql__fields_and_fragment(o, &sub, mutex, m1, m2->frags[j]);
        for (uint32_t i = 0; i < m1->nfrags; i++)
            gql__fields_and_fragment(o, &sub, mutex, m2, m1->frags[i]);
        for (uint32_t i = 0; i < m1->nfrags; i++)
            for (uint32_t j = 0; j < m2->nfrags; j++)
                gql__fragments(o, &sub, mutex, m1->frags[i], m2->frags[j]);
        o->depth--;
        if (sub.n) {
            buf_t r = BUF_INIT;
            for (uint32_t i = 0; i < sub.n; i++) {
                gql__conflict_t *c = &sub.items[i];
                buf_printf(&r, "%ssubfields \"%.*s\" conflict because %s", i ? " and " : "",
                           (int)c->key.len, c->key.p, c->reason);
                for (uint32_t k = 0; k < c->n1 && out->n1 < GQL_MAX_ERROR_LOCS; k++)
                    out->locs1[out->n1++] = c->locs1[k];
                for (uint32_t k = 0; k < c->n2 && out->n2 < GQL_MAX_ERROR_LOCS; k++)
                    out->locs2[out->n2++] = c->locs2[k];
            }
            out->reason = arena_strndup(v->a, r.data, r.len);
            buf_free(&r);
            return true;
        }
    }
    return false;
}

static void gql__between(gql__ovl_t *o, gql__conflicts_t *cs, bool mutex, gql__fmap_t *m1,
                         gql__fmap_t *m2)
{
    for (uint32_t i = 0; i < m1->n; i++) {
        gql__fgroup_t *g1 = &m1->groups[i];
        for (uint32_t j = 0; j < m2->n; j++) {
            gql__fgroup_t *g2 = &m2->groups[j];
            if (!gql_names_eq(g1->key, g2->key)) continue;
            for (uint32_t a = 0; a < g1->n; a++)
                for (uint32_t b = 0; b < g2->n; b++) {
                    gql__conflict_t c;
                    if (gql__find_conflict(o, mutex, g1->key, &g1->items[a], &g2->items[b], &c))
                        gql__conflicts_push(o, cs, &c);
                }
        }
    }
}

static void gql__fields_and_fragment(gql__ovl_t *o, gql__conflicts_t *cs, bool mutex,
                                     gql__fmap_t *m, gql_name_t frag)
{
    gql_ast_def_t *f = gql__fragment(o->v, frag);
    if (f == NULL || o->v->budget < 0) return;
    gql__fmap_t *m2 = gql__frag_fmap(o->v, f);
    if (m2 == m) return;
    gql__between(o, cs, mutex, m, m2);
    for (uint32_t i = 0; i < m2->nfrags; i++) {
        if (gql__pair_has(o, m2->frags[i], frag, mutex)) continue;
        gql__pair_add(o, m2->frags[i], frag, mutex);
        gql__fields_and_fragment(o, cs, mutex, m, m2->frags[i]);
    }
}

static void gql__fragments(gql__ovl_t *o, gql__conflicts_t *cs, bool mutex, gql_name_t f1,
                           gql_name_t f2)
{
    if (gql_names_eq(f1, f2) || o->v->budget < 0) return;
    if (gql__pair_has(o, f1, f2, mutex)) return;
    gql__pair_add(o, f1, f2, mutex);
    gql_ast_def_t *d1 = gql__fragment(o->v, f1), *d2 = gql__fragment(o->v, f2);
    if (d1 == NULL || d2 == NULL) return;
    gql__fmap_t *m1 = gql__frag_fmap(o->v, d1), *m2 = gql__frag_fmap(o->v, d2);
    gql__between(o, cs, mutex, m1, m2);
    for (uint32_t j = 0; j < m2->nfrags; j++) gql__fragments(o, cs, mutex, f1, m2->frags[j]);
    for (uint32_t i = 0; i < m1->nfrags; i++) gql__fragments(o, cs, mutex, m1->frags[i], f2);
}

static void gql__overlap_selset(gql__ovl_t *o, const gql_type_t *parent, gql_ast_selset_t *ss)
{
    gql__v_t *v = o->v;
    gql__conflicts_t cs = {0};
    gql__fmap_t *m = gql__fmap(v, parent, ss);
    /* within: every pair of fields with the same response name */
    for (uint32_t i = 0; i < m->n; i++) {
        gql__fgroup_t *g = &m->groups[i];
        for (uint32_t a = 0; a < g->n; a++)
            for (uint32_t b = a + 1; b < g->n; b++) {
                gql__conflict_t c;
                if (gql__find_conflict(o, false, g->key, &g->items[a], &g->items[b], &c))
                    gql__conflicts_push(o, &cs, &c);
            }
    }
    for (uint32_t i = 0; i < m->nfrags; i++) {
        gql__fields_and_fragment(o, &cs, false, m, m->frags[i]);
        for (uint32_t j = i + 1; j < m->nfrags; j++)
            gql__fragments(o, &cs, false, m->frags[i], m->frags[j]);
    }
    for (uint32_t i = 0; i < cs.n; i++) {
        gql__conflict_t *c = &cs.items[i];
        gql_loc_t l[2 * GQL_MAX_ERROR_LOCS];
        uint32_t n = 0;
        for (uint32_t k = 0; k < c->n1; k++) l[n++] = c->locs1[k];
        for (uint32_t k = 0; k < c->n2; k++) l[n++] = c->locs2[k];
        GQL__VERR(v, l, n,
                  "Fields \"%.*s\" conflict because %s. Use different aliases on the fields to "
                  "fetch both if this was intentional.",
                  (int)c->key.len, c->key.p, c->reason);
    }
    /* every nested selection set is checked on its own, in document order */
    for (uint32_t i = 0; i < ss->n; i++) {
        gql_ast_sel_t *s = ss->items[i];
        if (s->selset == NULL) continue;
        const gql_type_t *t = NULL;
        if (s->kind == GQL_SEL_FIELD) {
            if (parent && (parent->kind == GQL_T_OBJECT || parent->kind == GQL_T_INTERFACE)) {
                const gql_field_t *f =
                    s->def ? s->def : gql_type_field(parent, s->name.p, s->name.len);
                t = f ? gql_typeref_named(f->type) : NULL;
            } else if (s->def) {
                t = gql_typeref_named(s->def->type);
            }
        } else {
            t = s->type_cond.len ? gql_cond_type(v->s, s) : parent;
        }
        gql__overlap_selset(o, t, s->selset);
    }
}

/* ---- the document --------------------------------------------------------------------- */

/* One variable definition: unique name, input type, default, directives. */
static void gql__v_vardef(gql__v_t *v, const gql_ast_def_t *d, uint32_t k)
{
    const gql_schema_t *s = v->s;
    const gql_ast_vardef_t *vd = &d->vars[k];
    bool first_dup = false;
    for (uint32_t j = 0; j < k; j++)
        if (gql_names_eq(d->vars[j].name, vd->name)) first_dup = true;
    if (!first_dup) {
        gql_loc_t l[4];
        uint32_t n = 0;
        for (uint32_t j = k; j < d->nvars && n < 4; j++)
            if (gql_names_eq(d->vars[j].name, vd->name))
                l[n++] = (gql_loc_t){d->vars[j].loc.line, d->vars[j].loc.col + 1};
        if (n > 1)
            GQL__VERR(v, l, n, "There can be only one variable named \"$%s\".",
                      gql__n(v, vd->name));
    }
    const gql_ast_type_t *nt = vd->type;
    while (nt->kind != GQL_AT_NAMED) nt = nt->of;
    const gql_type_t *t = gql_schema_type(s, nt->name.p, nt->name.len);
    if (t == NULL) {
        GQL__VERR(v, &nt->loc, 1, "Unknown type \"%s\".", gql__n(v, nt->name));
    } else if (gql_type_composite(t)) {
        buf_t b = BUF_INIT;
        gql_ast_type_print(&b, vd->type);
        GQL__VERR(v, &vd->type->loc, 1, "Variable \"$%s\" cannot be non-input type \"%s\".",
                  gql__n(v, vd->name), b.data);
        buf_free(&b);
    }
    if (vd->def) {
        const gql_typeref_t *tr = gql__type_from_ast(v, vd->type);
        if (tr && !gql_type_composite(gql_typeref_named(tr)))
            gql__check_value(v, vd->def, tr, false);
    }
    gql__check_dirs(v, vd->dirs, vd->ndirs, GQL_DL_VARIABLE_DEFINITION);
}

/* One definition: unique name, then the rules that walk its selections. */
static void gql__v_definition(gql__v_t *v, uint32_t i, uint32_t nops)
{
    const gql_schema_t *s = v->s;
    gql_ast_def_t *d = &v->doc->defs[i];
    if (d->kind == GQL_DEF_OTHER) return;
    /* uniqueness of operation and fragment names */
    if (d->name.len)
        for (uint32_t j = 0; j < i; j++) {
            gql_ast_def_t *p = &v->doc->defs[j];
            if (p->kind == d->kind && gql_names_eq(p->name, d->name)) {
                gql_loc_t l[2] = {p->name_loc, d->name_loc};
                GQL__VERR(v, l, 2, "There can be only one %s named \"%s\".",
                          d->kind == GQL_DEF_OP ? "operation" : "fragment", gql__n(v, d->name));
                break;
            }
        }
    v->cur = &v->uses[i];
    if (d->kind == GQL_DEF_OP) {
        if (d->name.len == 0 && nops > 1)
            GQL__VERR(v, &d->loc, 1,
                      "This anonymous operation must be the only defined operation.");
        for (uint32_t k = 0; k < d->nvars; k++) gql__v_vardef(v, d, k);
        uint32_t where = d->op == GQL_OP_QUERY      ? GQL_DL_QUERY
                         : d->op == GQL_OP_MUTATION ? GQL_DL_MUTATION
                                                    : GQL_DL_SUBSCRIPTION;
        gql__check_dirs(v, d->dirs, d->ndirs, where);
        const gql_type_t *root = d->op == GQL_OP_QUERY      ? s->query
                                 : d->op == GQL_OP_MUTATION ? s->mutation
                                                            : s->subscription;
        gql__walk_selset(v, d->selset, root, d->op == GQL_OP_QUERY);
    } else {
        const gql_type_t *t = gql_def_cond_type(s, d);
        if (t == NULL) {
            GQL__VERR(v, &d->tc_loc, 1, "Unknown type \"%s\".", gql__n(v, d->type_cond));
        } else if (!gql_type_composite(t)) {
            GQL__VERR(v, &d->tc_loc, 1,
                      "Fragment \"%s\" cannot condition on non composite type \"%s\".",
                      gql__n(v, d->name), t->name);
            t = NULL;
        }
        gql__check_dirs(v, d->dirs, d->ndirs, GQL_DL_FRAGMENT_DEFINITION);
        gql__walk_selset(v, d->selset, t, t == s->query);
    }
}

/* The fragments operation i reaches (reach[]); marks them used (by name). */
static void gql__v_reach(gql__v_t *v, uint32_t i, bool *reach, bool *used, uint32_t *stack)
{
    const gql_doc_t *doc = v->doc;
    memset(reach, 0, doc->ndefs * sizeof *reach);
    uint32_t sp = 0;
    stack[sp++] = i;
    while (sp) {
        gql__defuse_t *u = &v->uses[stack[--sp]];
        for (uint32_t k = 0; k < u->nspreads; k++) {
            gql_ast_def_t *f = gql__fragment(v, u->spreads[k]);
            if (f == NULL) continue;
            uint32_t fi = gql__frag_idx(v, f);
            if (reach[fi]) continue;
            reach[fi] = true;
            for (uint32_t k2 = 0; k2 < doc->ndefs; k2++) /* by name, as graphql-js */
                if (doc->defs[k2].kind == GQL_DEF_FRAGMENT &&
                    gql_names_eq(doc->defs[k2].name, f->name))
                    used[k2] = true;
            stack[sp++] = fi;
        }
    }
}

/* Operation op's variables: each use defined and of an allowed type, each
 * definition used (in op or a fragment it reaches). */
static void gql__v_op_vars(gql__v_t *v, const gql_ast_def_t *op, uint32_t i, const bool *reach)
{
    const gql_doc_t *doc = v->doc;
    bool *var_used = arena_calloc(v->a, op->nvars + 1, sizeof *var_used);
    for (uint32_t di = 0; di < doc->ndefs; di++) {
        if (di != i && !reach[di]) continue;
        gql__defuse_t *u = &v->uses[di];
        for (uint32_t k = 0; k < u->n; k++) {
            gql__usage_t *us = &u->items[k];
            const gql_ast_vardef_t *vd = NULL;
            for (uint32_t j = 0; j < op->nvars; j++)
                if (gql_names_eq(op->vars[j].name, us->name)) {
                    if (vd == NULL) vd = &op->vars[j];
                    var_used[j] = true;
                }
            if (vd == NULL) {
                gql_loc_t l[2] = {us->loc, op->loc};
                if (op->name.len)
                    GQL__VERR(v, l, 2, "Variable \"$%s\" is not defined by operation \"%s\".",
                              gql__n(v, us->name), gql__n(v, op->name));
                else
                    GQL__VERR(v, l, 2, "Variable \"$%s\" is not defined.", gql__n(v, us->name));
                continue;
            }
            const gql_typeref_t *vt = gql__type_from_ast(v, vd->type);
            if (vt == NULL || us->type == NULL) continue;
            bool ok;
            if (us->type->kind == GQL_TR_NONNULL && vt->kind != GQL_TR_NONNULL) {
                bool has_def = (vd->def && vd->def->kind != GQL_AV_NULL) || us->has_default;
                ok = has_def && gql__is_subtype(vt, us->type->of);
            } else {
                ok = gql__is_subtype(vt, us->type);
            }
            if (!ok) {
                gql_loc_t l[2] = {vd->loc, us->loc};
                buf_t b = BUF_INIT;
                gql_ast_type_print(&b, vd->type);
                GQL__VERR(v, l, 2,
                          "Variable \"$%s\" of type \"%s\" used in position expecting type \"%s\".",
                          gql__n(v, us->name), b.data, gql__tr(v, us->type));
                buf_free(&b);
            }
        }
    }
    for (uint32_t j = 0; j < op->nvars; j++) {
        if (var_used[j]) continue;
        if (op->name.len)
            GQL__VERR(v, &op->vars[j].loc, 1, "Variable \"$%s\" is never used in operation \"%s\".",
                      gql__n(v, op->vars[j].name), gql__n(v, op->name));
        else
            GQL__VERR(v, &op->vars[j].loc, 1, "Variable \"$%s\" is never used.",
                      gql__n(v, op->vars[j].name));
    }
}

uint32_t gql_validate(const gql_schema_t *s, gql_doc_t *doc, gql_errors_t *es)
{
    gql__v_t v = {.s = s, .doc = doc, .es = es, .a = es->arena, .budget = 200000};
    uint32_t before = es->count;
    v.uses = arena_calloc(v.a, doc->ndefs, sizeof *v.uses);
    uint32_t nops = 0, nanon = 0;
    for (uint32_t i = 0; i < doc->ndefs; i++) {
        gql_ast_def_t *d = &doc->defs[i];
        if (d->kind == GQL_DEF_OTHER) {
            GQL__VERR(&v, &d->loc, 1, "The definition is not executable.");
            continue;
        }
        if (d->kind == GQL_DEF_OP) {
            nops++;
            if (d->name.len == 0) nanon++;
        }
    }
    for (uint32_t i = 0; i < doc->ndefs; i++) gql__v_definition(&v, i, nops);
    /* fragment cycles */
    gql__cyc_t cyc = {.v = &v};
    cyc.visited = arena_calloc(v.a, doc->ndefs, sizeof *cyc.visited);
    cyc.index_by_frag = arena_alloc(v.a, doc->ndefs * sizeof *cyc.index_by_frag);
    for (uint32_t i = 0; i < doc->ndefs; i++) cyc.index_by_frag[i] = -1;
    cyc.path = arena_alloc(v.a, (doc->nfields + doc->ndefs + 1) * sizeof *cyc.path);
    for (uint32_t i = 0; i < doc->ndefs; i++)
        if (doc->defs[i].kind == GQL_DEF_FRAGMENT) gql__detect_cycle(&cyc, &doc->defs[i]);
    /* per operation: fragments reached, variables defined/used/allowed */
    bool *used = arena_calloc(v.a, doc->ndefs, sizeof *used);
    bool *reach = arena_alloc(v.a, doc->ndefs * sizeof *reach);
    uint32_t *stack = arena_alloc(v.a, (doc->ndefs + 1) * sizeof *stack);
    for (uint32_t i = 0; i < doc->ndefs; i++) {
        gql_ast_def_t *op = &doc->defs[i];
        if (op->kind != GQL_DEF_OP) continue;
        gql__v_reach(&v, i, reach, used, stack);
        gql__v_op_vars(&v, op, i, reach);
    }
    for (uint32_t i = 0; i < doc->ndefs; i++)
        if (doc->defs[i].kind == GQL_DEF_FRAGMENT && !used[i])
            GQL__VERR(&v, &doc->defs[i].loc, 1, "Fragment \"%s\" is never used.",
                      gql__n(&v, doc->defs[i].name));
    /* overlapping fields, on every selection set */
    gql__ovl_t o = {.v = &v};
    for (uint32_t i = 0; i < doc->ndefs; i++) {
        gql_ast_def_t *d = &doc->defs[i];
        if (d->kind == GQL_DEF_OTHER) continue;
        const gql_type_t *t;
        if (d->kind == GQL_DEF_OP)
            t = d->op == GQL_OP_QUERY      ? s->query
                : d->op == GQL_OP_MUTATION ? s->mutation
                                           : s->subscription;
        else
            t = gql_def_cond_type(s, d);
        gql__overlap_selset(&o, t, d->selset);
    }
    if (v.budget < 0)
        gql_errors_add(es, ERR_TOO_COMPLEX, NULL, 0,
                       "The document is too complex to validate; simplify its fragments.");
    (void)nanon;
    return es->count - before;
}
