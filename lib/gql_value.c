/*
 * gql_value.c — the public value helpers of gql.h (lists, error values,
 * argument and input-field lookup) that resolvers, the executor and
 * introspection use. Depends on nothing else of the engine.
 */
#include "gql_int.h"

#include <stdarg.h>
#include <stdio.h>

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
