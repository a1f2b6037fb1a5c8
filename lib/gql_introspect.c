/*
 * gql_introspect.c — the resolvers of __schema, __type and the introspection
 * types, over the schema model itself.
 *
 * Domain pointers: __Schema is the gql_schema_t, __Type a gql_typeref_t
 * (named types use their canonical gql_type_t.named), __Field a
 * gql_field_t, __InputValue a gql_ivalue_t, __EnumValue a gql_enumval_t,
 * __Directive a gql_directive_t. Everything returned points into the
 * schema's arena (lives as long as the schema) or the request arena.
 */
#include "gql_int.h"

static gql_value_t gql__s(const char *s)
{
    return s ? gql_str(s, strlen(s)) : gql_null();
}

static bool gql__include_deprecated(gql_call_t *call)
{
    const gql_value_t *v = gql_arg(call, "includeDeprecated");
    return v && v->kind == GQL_BOOL && v->u.b;
}

static gql_value_t gql__tref(const gql_typeref_t *r)
{
    return r ? gql_obj((void *)r, "__Type") : gql_null();
}

static int gql__schema_root(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    (void)parents;
    for (size_t i = 0; i < n; i++) out[i] = gql_obj((void *)gql_call_schema(call), "__Schema");
    return 0;
}

static int gql__type_root(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    (void)parents;
    const gql_value_t *name = gql_arg(call, "name");
    const gql_type_t *t = NULL;
    if (name && name->kind == GQL_STRING)
        t = gql_schema_type(gql_call_schema(call), name->u.s.ptr, name->u.s.len);
    for (size_t i = 0; i < n; i++) out[i] = t ? gql__tref(&t->named) : gql_null();
    return 0;
}

static int gql__schema(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    const char *f = call->field_name;
    for (size_t i = 0; i < n; i++) {
        const gql_schema_t *s = parents[i];
        if (strcmp(f, "description") == 0)
            out[i] = gql__s(s->desc);
        else if (strcmp(f, "types") == 0) {
            out[i] = gql_list(call->arena, s->norder);
            for (uint32_t k = 0; k < s->norder; k++)
                out[i].u.list.items[k] = gql__tref(&s->order[k]->named);
        } else if (strcmp(f, "queryType") == 0)
            out[i] = gql__tref(&s->query->named);
        else if (strcmp(f, "mutationType") == 0)
            out[i] = gql__tref(s->mutation ? &s->mutation->named : NULL);
        else if (strcmp(f, "subscriptionType") == 0)
            out[i] = gql__tref(s->subscription ? &s->subscription->named : NULL);
        else if (strcmp(f, "directives") == 0) {
            out[i] = gql_list(call->arena, s->ndirs);
            for (uint32_t k = 0; k < s->ndirs; k++)
                out[i].u.list.items[k] = gql_obj(&s->dirs[k], "__Directive");
        } else
            out[i] = gql_null();
    }
    return 0;
}

static gql_value_t gql__ivalues(gql_call_t *call, gql_ivalue_t *v, uint32_t n, bool all)
{
    uint32_t m = 0;
    for (uint32_t k = 0; k < n; k++) m += all || !v[k].deprecated;
    gql_value_t out = gql_list(call->arena, m);
    m = 0;
    for (uint32_t k = 0; k < n; k++)
        if (all || !v[k].deprecated) out.u.list.items[m++] = gql_obj(&v[k], "__InputValue");
    return out;
}

static int gql__type(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    static const char *const kinds[] = {
        [GQL_T_SCALAR] = "SCALAR", [GQL_T_OBJECT] = "OBJECT", [GQL_T_INTERFACE] = "INTERFACE",
        [GQL_T_UNION] = "UNION",   [GQL_T_ENUM] = "ENUM",     [GQL_T_INPUT] = "INPUT_OBJECT"};
    const char *f = call->field_name;
    bool all = gql__include_deprecated(call);
    for (size_t i = 0; i < n; i++) {
        const gql_typeref_t *r = parents[i];
        const gql_type_t *t = r->kind == GQL_TR_NAMED ? r->type : NULL;
        out[i] = gql_null();
        if (strcmp(f, "kind") == 0) {
            const char *k = r->kind == GQL_TR_LIST      ? "LIST"
                            : r->kind == GQL_TR_NONNULL ? "NON_NULL"
                                                        : kinds[t->kind];
            out[i] = gql_enum(k, strlen(k));
        } else if (strcmp(f, "ofType") == 0) {
            if (!t) out[i] = gql__tref(r->of);
        } else if (t == NULL) {
            continue;
        } else if (strcmp(f, "name") == 0) {
            out[i] = gql_str(t->name, t->name_len);
        } else if (strcmp(f, "description") == 0) {
            out[i] = gql__s(t->desc);
        } else if (strcmp(f, "specifiedByURL") == 0) {
            if (t->kind == GQL_T_SCALAR) out[i] = gql__s(t->specified_by);
        } else if (strcmp(f, "fields") == 0) {
            if (t->kind != GQL_T_OBJECT && t->kind != GQL_T_INTERFACE) continue;
            uint32_t m = 0;
            for (uint32_t k = 0; k < t->nfields; k++) m += all || !t->fields[k].deprecated;
            out[i] = gql_list(call->arena, m);
            m = 0;
            for (uint32_t k = 0; k < t->nfields; k++)
                if (all || !t->fields[k].deprecated)
                    out[i].u.list.items[m++] = gql_obj(&t->fields[k], "__Field");
        } else if (strcmp(f, "interfaces") == 0) {
            if (t->kind != GQL_T_OBJECT && t->kind != GQL_T_INTERFACE) continue;
            out[i] = gql_list(call->arena, t->nifaces);
            for (uint32_t k = 0; k < t->nifaces; k++)
                out[i].u.list.items[k] = gql__tref(&t->ifaces[k]->named);
        } else if (strcmp(f, "possibleTypes") == 0) {
            if (!gql_type_abstract(t)) continue;
            out[i] = gql_list(call->arena, t->npossible);
            for (uint32_t k = 0; k < t->npossible; k++)
                out[i].u.list.items[k] = gql__tref(&t->possible[k]->named);
        } else if (strcmp(f, "enumValues") == 0) {
            if (t->kind != GQL_T_ENUM) continue;
            uint32_t m = 0;
            for (uint32_t k = 0; k < t->nevals; k++) m += all || !t->evals[k].deprecated;
            out[i] = gql_list(call->arena, m);
            m = 0;
            for (uint32_t k = 0; k < t->nevals; k++)
                if (all || !t->evals[k].deprecated)
                    out[i].u.list.items[m++] = gql_obj(&t->evals[k], "__EnumValue");
        } else if (strcmp(f, "inputFields") == 0) {
            if (t->kind == GQL_T_INPUT) out[i] = gql__ivalues(call, t->ifields, t->nifields, all);
        } else if (strcmp(f, "isOneOf") == 0) {
            if (t->kind == GQL_T_INPUT) out[i] = gql_bool(t->one_of);
        }
    }
    return 0;
}

static int gql__field(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    const char *f = call->field_name;
    bool all = gql__include_deprecated(call);
    for (size_t i = 0; i < n; i++) {
        gql_field_t *x = parents[i];
        if (strcmp(f, "name") == 0)
            out[i] = gql__s(x->name);
        else if (strcmp(f, "description") == 0)
            out[i] = gql__s(x->desc);
        else if (strcmp(f, "args") == 0)
            out[i] = gql__ivalues(call, x->args, x->nargs, all);
        else if (strcmp(f, "type") == 0)
            out[i] = gql__tref(x->type);
        else if (strcmp(f, "isDeprecated") == 0)
            out[i] = gql_bool(x->deprecated);
        else if (strcmp(f, "deprecationReason") == 0)
            out[i] = gql__s(x->reason);
        else
            out[i] = gql_null();
    }
    return 0;
}

static int gql__input_value(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    const char *f = call->field_name;
    for (size_t i = 0; i < n; i++) {
        gql_ivalue_t *x = parents[i];
        if (strcmp(f, "name") == 0)
            out[i] = gql__s(x->name);
        else if (strcmp(f, "description") == 0)
            out[i] = gql__s(x->desc);
        else if (strcmp(f, "type") == 0)
            out[i] = gql__tref(x->type);
        else if (strcmp(f, "defaultValue") == 0)
            out[i] = gql__s(x->def_src);
        else if (strcmp(f, "isDeprecated") == 0)
            out[i] = gql_bool(x->deprecated);
        else if (strcmp(f, "deprecationReason") == 0)
            out[i] = gql__s(x->reason);
        else
            out[i] = gql_null();
    }
    return 0;
}

static int gql__enum_value(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    const char *f = call->field_name;
    for (size_t i = 0; i < n; i++) {
        gql_enumval_t *x = parents[i];
        if (strcmp(f, "name") == 0)
            out[i] = gql__s(x->name);
        else if (strcmp(f, "description") == 0)
            out[i] = gql__s(x->desc);
        else if (strcmp(f, "isDeprecated") == 0)
            out[i] = gql_bool(x->deprecated);
        else if (strcmp(f, "deprecationReason") == 0)
            out[i] = gql__s(x->reason);
        else
            out[i] = gql_null();
    }
    return 0;
}

static int gql__directive(gql_call_t *call, size_t n, void *const *parents, gql_value_t *out)
{
    const char *f = call->field_name;
    bool all = gql__include_deprecated(call);
    for (size_t i = 0; i < n; i++) {
        gql_directive_t *x = parents[i];
        if (strcmp(f, "name") == 0)
            out[i] = gql__s(x->name);
        else if (strcmp(f, "description") == 0)
            out[i] = gql__s(x->desc);
        else if (strcmp(f, "isRepeatable") == 0)
            out[i] = gql_bool(x->repeatable);
        else if (strcmp(f, "args") == 0)
            out[i] = gql__ivalues(call, x->args, x->nargs, all);
        else if (strcmp(f, "locations") == 0) {
            out[i] = gql_list(call->arena, x->nlocs);
            for (uint32_t k = 0; k < x->nlocs; k++) {
                const char *l = gql_dl_names[x->loc_order[k]];
                out[i].u.list.items[k] = gql_enum(l, strlen(l));
            }
        } else
            out[i] = gql_null();
    }
    return 0;
}

gql_resolve_fn gql_introspect_resolver(const gql_schema_t *s, const gql_field_t *f)
{
    if (f == &s->f_schema) return gql__schema_root;
    if (f == &s->f_type) return gql__type_root;
    const gql_type_t *t = f->owner;
    if (t == NULL || !t->builtin || t->name[0] != '_') return NULL;
    if (strcmp(t->name, "__Schema") == 0) return gql__schema;
    if (strcmp(t->name, "__Type") == 0) return gql__type;
    if (strcmp(t->name, "__Field") == 0) return gql__field;
    if (strcmp(t->name, "__InputValue") == 0) return gql__input_value;
    if (strcmp(t->name, "__EnumValue") == 0) return gql__enum_value;
    if (strcmp(t->name, "__Directive") == 0) return gql__directive;
    return NULL;
}
