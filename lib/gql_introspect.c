/*
 * gql_introspect.c — the resolvers of __schema, __type and the introspection
 * types, over the schema model itself.
 *
 * One table row per field of an introspection type says how to read it from
 * its parent; one resolver serves them all. Adding a field to the
 * introspection SDL (gql_builtin.c) means adding its row here.
 *
 * Domain pointers: __Schema is the gql_schema_t, __Type a gql_typeref_t
 * (named types use their canonical gql_type_t.named), __Field a
 * gql_field_t, __InputValue a gql_ivalue_t, __EnumValue a gql_enumval_t,
 * __Directive a gql_directive_t. Everything returned points into the
 * schema's arena (lives as long as the schema) or the request arena.
 *
 * Depends on the schema model and gql_value.c only (never on the executor).
 */
#include "gql_int.h"

/* What a getter is handed: the request's arena, and includeDeprecated. */
typedef struct {
    arena_t *arena;
    bool all;
} gql__ictx_t;

typedef gql_value_t (*gql__get_fn)(const gql__ictx_t *c, const void *parent);

typedef struct {
    const char *type, *field;
    gql__get_fn get;
} gql__irow_t;

static gql_value_t gql__s(const char *s)
{
    return s ? gql_str(s, strlen(s)) : gql_null();
}

static gql_value_t gql__tref(const gql_typeref_t *r)
{
    return r ? gql_obj((void *)r, "__Type") : gql_null();
}

static gql_value_t gql__ivalues(arena_t *a, gql_ivalue_t *v, uint32_t n, bool all)
{
    uint32_t m = 0;
    for (uint32_t k = 0; k < n; k++) m += all || !v[k].deprecated;
    gql_value_t out = gql_list(a, m);
    m = 0;
    for (uint32_t k = 0; k < n; k++)
        if (all || !v[k].deprecated) out.u.list.items[m++] = gql_obj(&v[k], "__InputValue");
    return out;
}

static gql_value_t gql__trefs(arena_t *a, gql_type_t *const *t, uint32_t n)
{
    gql_value_t out = gql_list(a, n);
    for (uint32_t k = 0; k < n; k++) out.u.list.items[k] = gql__tref(&t[k]->named);
    return out;
}

/* ---- __Schema ------------------------------------------------------------------- */

#define GQL__GET(name, ptype, expr)                                                                \
    static gql_value_t name(const gql__ictx_t *c, const void *parent)                              \
    {                                                                                              \
        const ptype *x = parent;                                                                   \
        (void)c;                                                                                   \
        return expr;                                                                               \
    }

GQL__GET(gql__sc_desc, gql_schema_t, gql__s(x->desc))
GQL__GET(gql__sc_query, gql_schema_t, gql__tref(&x->query->named))
GQL__GET(gql__sc_mutation, gql_schema_t, gql__tref(x->mutation ? &x->mutation->named : NULL))
GQL__GET(gql__sc_subscription, gql_schema_t,
         gql__tref(x->subscription ? &x->subscription->named : NULL))
GQL__GET(gql__sc_types, gql_schema_t, gql__trefs(c->arena, x->order, x->norder))

static gql_value_t gql__sc_directives(const gql__ictx_t *c, const void *parent)
{
    const gql_schema_t *s = parent;
    gql_value_t out = gql_list(c->arena, s->ndirs);
    for (uint32_t k = 0; k < s->ndirs; k++)
        out.u.list.items[k] = gql_obj(&s->dirs[k], "__Directive");
    return out;
}

/* ---- __Type: named types answer every field, wrappers only kind and ofType ---- */

static const gql_type_t *gql__named(const void *parent)
{
    const gql_typeref_t *r = parent;
    return r->kind == GQL_TR_NAMED ? r->type : NULL;
}

static gql_value_t gql__ty_kind(const gql__ictx_t *c, const void *parent)
{
    static const char *const kinds[] = {
        [GQL_T_SCALAR] = "SCALAR", [GQL_T_OBJECT] = "OBJECT", [GQL_T_INTERFACE] = "INTERFACE",
        [GQL_T_UNION] = "UNION",   [GQL_T_ENUM] = "ENUM",     [GQL_T_INPUT] = "INPUT_OBJECT"};
    const gql_typeref_t *r = parent;
    (void)c;
    const char *k = r->kind == GQL_TR_LIST      ? "LIST"
                    : r->kind == GQL_TR_NONNULL ? "NON_NULL"
                                                : kinds[r->type->kind];
    return gql_enum(k, strlen(k));
}

static gql_value_t gql__ty_of(const gql__ictx_t *c, const void *parent)
{
    const gql_typeref_t *r = parent;
    (void)c;
    return r->kind == GQL_TR_NAMED ? gql_null() : gql__tref(r->of);
}

/* A __Type getter of a named type of the kinds in mask (1 << gql_tkind_t). */
#define GQL__TGET(name, mask, expr)                                                                \
    static gql_value_t name(const gql__ictx_t *c, const void *parent)                              \
    {                                                                                              \
        const gql_type_t *t = gql__named(parent);                                                  \
        (void)c;                                                                                   \
        if (t == NULL || !((mask) & (1u << t->kind))) return gql_null();                           \
        return expr;                                                                               \
    }
#define GQL__ANY  0x3fu
#define GQL__K(k) (1u << (k))

GQL__TGET(gql__ty_name, GQL__ANY, gql_str(t->name, t->name_len))
GQL__TGET(gql__ty_desc, GQL__ANY, gql__s(t->desc))
GQL__TGET(gql__ty_specified_by, GQL__K(GQL_T_SCALAR), gql__s(t->specified_by))
GQL__TGET(gql__ty_interfaces, GQL__K(GQL_T_OBJECT) | GQL__K(GQL_T_INTERFACE),
          gql__trefs(c->arena, t->ifaces, t->nifaces))
GQL__TGET(gql__ty_possible, GQL__K(GQL_T_INTERFACE) | GQL__K(GQL_T_UNION),
          gql__trefs(c->arena, t->possible, t->npossible))
GQL__TGET(gql__ty_input_fields, GQL__K(GQL_T_INPUT),
          gql__ivalues(c->arena, t->ifields, t->nifields, c->all))
GQL__TGET(gql__ty_one_of, GQL__K(GQL_T_INPUT), gql_bool(t->one_of))

static gql_value_t gql__ty_fields(const gql__ictx_t *c, const void *parent)
{
    const gql_type_t *t = gql__named(parent);
    if (t == NULL || (t->kind != GQL_T_OBJECT && t->kind != GQL_T_INTERFACE)) return gql_null();
    uint32_t m = 0;
    for (uint32_t k = 0; k < t->nfields; k++) m += c->all || !t->fields[k].deprecated;
    gql_value_t out = gql_list(c->arena, m);
    m = 0;
    for (uint32_t k = 0; k < t->nfields; k++)
        if (c->all || !t->fields[k].deprecated)
            out.u.list.items[m++] = gql_obj(&t->fields[k], "__Field");
    return out;
}

static gql_value_t gql__ty_enum_values(const gql__ictx_t *c, const void *parent)
{
    const gql_type_t *t = gql__named(parent);
    if (t == NULL || t->kind != GQL_T_ENUM) return gql_null();
    uint32_t m = 0;
    for (uint32_t k = 0; k < t->nevals; k++) m += c->all || !t->evals[k].deprecated;
    gql_value_t out = gql_list(c->arena, m);
    m = 0;
    for (uint32_t k = 0; k < t->nevals; k++)
        if (c->all || !t->evals[k].deprecated)
            out.u.list.items[m++] = gql_obj(&t->evals[k], "__EnumValue");
    return out;
}

/* ---- __Field, __InputValue, __EnumValue, __Directive ----------------------------- */

GQL__GET(gql__fd_name, gql_field_t, gql__s(x->name))
GQL__GET(gql__fd_desc, gql_field_t, gql__s(x->desc))
GQL__GET(gql__fd_args, gql_field_t, gql__ivalues(c->arena, x->args, x->nargs, c->all))
GQL__GET(gql__fd_type, gql_field_t, gql__tref(x->type))
GQL__GET(gql__fd_deprecated, gql_field_t, gql_bool(x->deprecated))
GQL__GET(gql__fd_reason, gql_field_t, gql__s(x->reason))

GQL__GET(gql__iv_name, gql_ivalue_t, gql__s(x->name))
GQL__GET(gql__iv_desc, gql_ivalue_t, gql__s(x->desc))
GQL__GET(gql__iv_type, gql_ivalue_t, gql__tref(x->type))
GQL__GET(gql__iv_default, gql_ivalue_t, gql__s(x->def_src))
GQL__GET(gql__iv_deprecated, gql_ivalue_t, gql_bool(x->deprecated))
GQL__GET(gql__iv_reason, gql_ivalue_t, gql__s(x->reason))

GQL__GET(gql__ev_name, gql_enumval_t, gql__s(x->name))
GQL__GET(gql__ev_desc, gql_enumval_t, gql__s(x->desc))
GQL__GET(gql__ev_deprecated, gql_enumval_t, gql_bool(x->deprecated))
GQL__GET(gql__ev_reason, gql_enumval_t, gql__s(x->reason))

GQL__GET(gql__di_name, gql_directive_t, gql__s(x->name))
GQL__GET(gql__di_desc, gql_directive_t, gql__s(x->desc))
GQL__GET(gql__di_repeatable, gql_directive_t, gql_bool(x->repeatable))
GQL__GET(gql__di_args, gql_directive_t, gql__ivalues(c->arena, x->args, x->nargs, c->all))

static gql_value_t gql__di_locations(const gql__ictx_t *c, const void *parent)
{
    const gql_directive_t *x = parent;
    gql_value_t out = gql_list(c->arena, x->nlocs);
    for (uint32_t k = 0; k < x->nlocs; k++) {
        const char *l = gql_dl_names[x->loc_order[k]];
        out.u.list.items[k] = gql_enum(l, strlen(l));
    }
    return out;
}

static const gql__irow_t gql__rows[] = {
    {"__Schema", "description", gql__sc_desc},
    {"__Schema", "types", gql__sc_types},
    {"__Schema", "queryType", gql__sc_query},
    {"__Schema", "mutationType", gql__sc_mutation},
    {"__Schema", "subscriptionType", gql__sc_subscription},
    {"__Schema", "directives", gql__sc_directives},
    {"__Type", "kind", gql__ty_kind},
    {"__Type", "name", gql__ty_name},
    {"__Type", "description", gql__ty_desc},
    {"__Type", "specifiedByURL", gql__ty_specified_by},
    {"__Type", "fields", gql__ty_fields},
    {"__Type", "interfaces", gql__ty_interfaces},
    {"__Type", "possibleTypes", gql__ty_possible},
    {"__Type", "enumValues", gql__ty_enum_values},
    {"__Type", "inputFields", gql__ty_input_fields},
    {"__Type", "ofType", gql__ty_of},
    {"__Type", "isOneOf", gql__ty_one_of},
    {"__Field", "name", gql__fd_name},
    {"__Field", "description", gql__fd_desc},
    {"__Field", "args", gql__fd_args},
    {"__Field", "type", gql__fd_type},
    {"__Field", "isDeprecated", gql__fd_deprecated},
    {"__Field", "deprecationReason", gql__fd_reason},
    {"__InputValue", "name", gql__iv_name},
    {"__InputValue", "description", gql__iv_desc},
    {"__InputValue", "type", gql__iv_type},
    {"__InputValue", "defaultValue", gql__iv_default},
    {"__InputValue", "isDeprecated", gql__iv_deprecated},
    {"__InputValue", "deprecationReason", gql__iv_reason},
    {"__EnumValue", "name", gql__ev_name},
    {"__EnumValue", "description", gql__ev_desc},
    {"__EnumValue", "isDeprecated", gql__ev_deprecated},
    {"__EnumValue", "deprecationReason", gql__ev_reason},
    {"__Directive", "name", gql__di_name},
    {"__Directive", "description", gql__di_desc},
    {"__Directive", "isRepeatable", gql__di_repeatable},
    {"__Directive", "args", gql__di_args},
    {"__Directive", "locations", gql__di_locations},
};

static const gql__irow_t *gql__row(const char *type, const char *field)
{
    for (size_t i = 0; i < sizeof gql__rows / sizeof *gql__rows; i++)
        if (strcmp(gql__rows[i].type, type) == 0 && strcmp(gql__rows[i].field, field) == 0)
            return &gql__rows[i];
    return NULL;
}

/* Every field of an introspection type: its row, once per batch. */
static int gql__introspect(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    const gql__irow_t *row = gql__row(call->type_name, call->field_name);
    const gql_value_t *v = gql_arg(call, "includeDeprecated");
    gql__ictx_t c = {call->arena, v && v->kind == GQL_BOOL && v->u.b};
    for (size_t i = 0; i < n; i++) out[i] = row ? row->get(&c, parents[i]) : gql_null();
    return 0;
}

static int gql__schema_root(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    (void)parents;
    for (size_t i = 0; i < n; i++) out[i] = gql_obj((void *)call->schema, "__Schema");
    return 0;
}

static int gql__type_root(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    (void)parents;
    const gql_value_t *name = gql_arg(call, "name");
    const gql_type_t *t = NULL;
    if (name && name->kind == GQL_STRING)
        t = gql_schema_type(call->schema, name->u.s.ptr, name->u.s.len);
    for (size_t i = 0; i < n; i++) out[i] = t ? gql__tref(&t->named) : gql_null();
    return 0;
}

gql_resolve_fn gql_introspect_resolver(const gql_schema_t *s, const gql_field_t *f)
{
    if (f == &s->f_schema) return gql__schema_root;
    if (f == &s->f_type) return gql__type_root;
    const gql_type_t *t = f->owner;
    if (t == NULL || !t->builtin || t->name[0] != '_') return NULL;
    return gql__row(t->name, f->name) ? gql__introspect : NULL;
}
