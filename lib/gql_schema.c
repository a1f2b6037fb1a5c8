/*
 * gql_schema.c — a schema built from SDL, and the lookups the other stages use.
 *
 * Owns gql_schema_t: types (sorted by name for binary search, and in
 * graphql-js's type-map order for introspection), fields (sorted index per
 * type), directives, root types, and the built-in part (gql_builtin.c). A
 * schema lives in its own arena; gql_schema_free drops it at once.
 */
#include "gql_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    gql_schema_t *s;
    err_t *e;
    const char *what; /* "schema" or "built-in schema" */
    gql_type_t **all; /* every type made, before the unused built-in scalars are dropped */
    uint32_t nall, capall;
} gql__build_t;

static int gql__serr(gql__build_t *b, gql_loc_t loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int gql__serr(gql__build_t *b, gql_loc_t loc, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(b->e, ERR_INTERNAL, "%u:%u: %s", loc.line, loc.col, msg);
}

static const char *gql__cstr(arena_t *a, gql_name_t n)
{
    return arena_strndup(a, n.p, n.len);
}

/* ---- lookups ------------------------------------------------------------------ */

static int gql__cmp_name(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    for (size_t i = 0; i < n; i++) /* short names: no libc call */
        if (a[i] != b[i]) return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
    return alen < blen ? -1 : alen > blen;
}

gql_type_t *gql_schema_type(const gql_schema_t *s, const char *name, size_t len)
{
    if (s->type_hash) { /* built with the index (gql__build_index) */
        for (uint32_t h = gql_name_hash(name, len);; h++) {
            uint32_t k = s->type_hash[h & s->type_hash_mask];
            if (k == 0) return NULL;
            gql_type_t *t = s->types[k - 1];
            if (t->name_len == len && gql_bytes_eq(t->name, name, len)) return t;
        }
    }
    uint32_t lo = 0, hi = s->ntypes;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        gql_type_t *t = s->types[mid];
        int c = gql__cmp_name(name, len, t->name, t->name_len);
        if (c == 0) return t;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

gql_field_t *gql_type_field(const gql_type_t *t, const char *name, size_t len)
{
    if (t->field_hash == NULL) return NULL; /* no fields */
    for (uint32_t h = gql_name_hash(name, len);; h++) {
        uint32_t k = t->field_hash[h & t->field_hash_mask];
        if (k == 0) return NULL;
        gql_field_t *f = &t->fields[k - 1];
        if (f->name_len == len && gql_bytes_eq(f->name, name, len)) return f;
    }
}

/* An open-addressing table of n names (name(i) the i-th) at most half
 * full: slot holds i + 1, 0 is empty. */
static uint32_t *gql__name_table(arena_t *a, uint32_t n,
                                 const char *(*name)(const void *, uint32_t), const void *ctx,
                                 uint32_t *mask)
{
    uint32_t size = 8;
    while (size < 2 * n) size *= 2;
    uint32_t *tab = arena_calloc(a, size, sizeof *tab);
    *mask = size - 1;
    for (uint32_t i = 0; i < n; i++) {
        const char *nm = name(ctx, i);
        uint32_t h = gql_name_hash(nm, strlen(nm));
        while (tab[h & *mask]) h++;
        tab[h & *mask] = i + 1;
    }
    return tab;
}

static const char *gql__field_name_at(const void *ctx, uint32_t i)
{
    return ((const gql_type_t *)ctx)->fields[i].name;
}

static const char *gql__type_name_at(const void *ctx, uint32_t i)
{
    return ((const gql_schema_t *)ctx)->types[i]->name;
}

const gql_directive_t *gql_schema_directive(const gql_schema_t *s, const char *name, size_t len)
{
    for (uint32_t i = 0; i < s->ndirs; i++)
        if (strlen(s->dirs[i].name) == len && memcmp(s->dirs[i].name, name, len) == 0)
            return &s->dirs[i];
    return NULL;
}

const gql_ivalue_t *gql_ivalue_find(const gql_ivalue_t *v, uint32_t n, const char *name, size_t len)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i].name_len == len && memcmp(v[i].name, name, len) == 0) return &v[i];
    return NULL;
}

const gql_enumval_t *gql_enum_find(const gql_type_t *t, const char *name, size_t len)
{
    for (uint32_t i = 0; i < t->nevals; i++)
        if (t->evals[i].name_len == len && gql_bytes_eq(t->evals[i].name, name, len))
            return &t->evals[i];
    return NULL;
}

bool gql_type_possible(const gql_type_t *abstract, const gql_type_t *obj)
{
    if (abstract == obj) return true;
    for (uint32_t i = 0; i < abstract->npossible; i++)
        if (abstract->possible[i] == obj) return true;
    return false;
}

const gql_field_t *gql_field_lookup(const gql_schema_t *s, const gql_type_t *t, gql_name_t name,
                                    bool is_root_query)
{
    if (name.len >= 2 && name.p[0] == '_' && name.p[1] == '_') {
        if (gql_name_eq(name, "__typename")) return &s->f_typename;
        if (is_root_query && gql_name_eq(name, "__schema")) return &s->f_schema;
        if (is_root_query && gql_name_eq(name, "__type")) return &s->f_type;
    }
    if (t->kind != GQL_T_OBJECT && t->kind != GQL_T_INTERFACE) return NULL;
    return gql_type_field(t, name.p, name.len);
}

void gql_typeref_print(buf_t *b, const gql_typeref_t *r)
{
    switch (r->kind) {
    case GQL_TR_NAMED:
        buf_append(b, r->type->name, r->type->name_len);
        break;
    case GQL_TR_LIST:
        buf_putc(b, '[');
        gql_typeref_print(b, r->of);
        buf_putc(b, ']');
        break;
    case GQL_TR_NONNULL:
        gql_typeref_print(b, r->of);
        buf_putc(b, '!');
        break;
    }
}

/* ---- building ------------------------------------------------------------------ */

static gql_type_t *gql__find_all(gql__build_t *b, gql_name_t n)
{
    for (uint32_t i = 0; i < b->nall; i++)
        if (b->all[i]->name_len == n.len && memcmp(b->all[i]->name, n.p, n.len) == 0)
            return b->all[i];
    return NULL;
}

static gql_typeref_t *gql__typeref(gql__build_t *b, const gql_ast_type_t *at, bool input)
{
    arena_t *a = &b->s->arena;
    if (at->kind == GQL_AT_NAMED) {
        gql_type_t *t = gql__find_all(b, at->name);
        if (t == NULL) {
            gql__serr(b, at->loc, "Unknown type \"%.*s\".", (int)at->name.len, at->name.p);
            return NULL;
        }
        bool is_input = t->kind == GQL_T_SCALAR || t->kind == GQL_T_ENUM || t->kind == GQL_T_INPUT;
        bool is_output = t->kind != GQL_T_INPUT;
        if (input && !is_input) {
            gql__serr(b, at->loc,
                      "type \"%s\" is not an input type but is used for an argument "
                      "or input field",
                      t->name);
            return NULL;
        }
        if (!input && !is_output) {
            gql__serr(b, at->loc, "input type \"%s\" is used as a field's output type", t->name);
            return NULL;
        }
        return &t->named;
    }
    gql_typeref_t *r = arena_calloc(a, 1, sizeof *r);
    r->kind = at->kind == GQL_AT_LIST ? GQL_TR_LIST : GQL_TR_NONNULL;
    r->of = gql__typeref(b, at->of, input);
    return r->of ? r : NULL;
}

static const gql_ast_dir_t *gql__dir(const gql_ast_dir_t *d, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (gql_name_eq(d[i].name, name)) return &d[i];
    return NULL;
}

static void gql__deprecation(gql__build_t *b, const gql_ast_dir_t *dirs, uint32_t n, bool *dep,
                             const char **reason)
{
    const gql_ast_dir_t *d = gql__dir(dirs, n, "deprecated");
    *dep = d != NULL;
    *reason = NULL;
    if (!d) return;
    *reason = "No longer supported";
    for (uint32_t i = 0; i < d->nargs; i++)
        if (gql_name_eq(d->args[i].name, "reason") && d->args[i].value->kind == GQL_AV_STRING)
            *reason = gql__cstr(&b->s->arena, d->args[i].value->s);
}

static int gql__ivalues(gql__build_t *b, const gql_sdl_item_t *items, uint32_t n,
                        gql_ivalue_t **out)
{
    arena_t *a = &b->s->arena;
    *out = arena_calloc(a, n ? n : 1, sizeof **out);
    for (uint32_t i = 0; i < n; i++) {
        gql_ivalue_t *v = &(*out)[i];
        for (uint32_t j = 0; j < i; j++)
            if (strlen((*out)[j].name) == items[i].name.len &&
                memcmp((*out)[j].name, items[i].name.p, items[i].name.len) == 0)
                return gql__serr(b, items[i].loc, "\"%.*s\" is defined twice",
                                 (int)items[i].name.len, items[i].name.p);
        v->name = gql__cstr(a, items[i].name);
        v->name_len = items[i].name.len;
        v->desc = items[i].desc;
        v->loc = items[i].loc;
        v->type = gql__typeref(b, items[i].type, true);
        if (v->type == NULL) return -1;
        v->def = items[i].def;
        if (v->def) {
            buf_t pb = BUF_INIT;
            gql_ast_value_print(&pb, v->def);
            v->def_src = arena_strndup(a, pb.data, pb.len);
            buf_free(&pb);
        }
        gql__deprecation(b, items[i].dirs, items[i].ndirs, &v->deprecated, &v->reason);
    }
    return 0;
}

static int gql__fill_type(gql__build_t *b, gql_type_t *t)
{
    arena_t *a = &b->s->arena;
    const gql_sdl_def_t *d = t->sdl;
    switch (t->kind) {
    case GQL_T_OBJECT:
    case GQL_T_INTERFACE:
        if (d->nitems == 0)
            return gql__serr(b, d->loc, "type \"%s\" must define one or more fields.", t->name);
        t->nfields = d->nitems;
        t->fields = arena_calloc(a, d->nitems, sizeof *t->fields);
        for (uint32_t i = 0; i < d->nitems; i++) {
            const gql_sdl_item_t *it = &d->items[i];
            gql_field_t *f = &t->fields[i];
            for (uint32_t j = 0; j < i; j++)
                if (gql_name_eq(it->name, t->fields[j].name))
                    return gql__serr(b, it->loc, "field \"%s.%.*s\" is defined twice", t->name,
                                     (int)it->name.len, it->name.p);
            f->name = gql__cstr(a, it->name);
            f->name_len = it->name.len;
            f->desc = it->desc;
            f->owner = t;
            f->type = gql__typeref(b, it->type, false);
            if (f->type == NULL) return -1;
            f->nargs = it->nargs;
            if (gql__ivalues(b, it->args, it->nargs, &f->args)) return -1;
            gql__deprecation(b, it->dirs, it->ndirs, &f->deprecated, &f->reason);
        }
        t->field_hash = gql__name_table(a, t->nfields, gql__field_name_at, t, &t->field_hash_mask);
        t->nifaces = d->nifaces;
        t->ifaces = arena_calloc(a, d->nifaces ? d->nifaces : 1, sizeof *t->ifaces);
        for (uint32_t i = 0; i < d->nifaces; i++) {
            gql_type_t *it = gql__find_all(b, d->ifaces[i].name);
            if (it == NULL || it->kind != GQL_T_INTERFACE)
                return gql__serr(b, d->ifaces[i].loc, "type \"%s\" cannot implement \"%.*s\": %s",
                                 t->name, (int)d->ifaces[i].name.len, d->ifaces[i].name.p,
                                 it ? "not an interface" : "unknown type");
            t->ifaces[i] = it;
        }
        break;
    case GQL_T_INPUT:
        if (d->nitems == 0)
            return gql__serr(b, d->loc, "input \"%s\" must define one or more fields.", t->name);
        t->nifields = d->nitems;
        if (gql__ivalues(b, d->items, d->nitems, &t->ifields)) return -1;
        t->one_of = gql__dir(d->dirs, d->ndirs, "oneOf") != NULL;
        break;
    case GQL_T_ENUM:
        if (d->nitems == 0)
            return gql__serr(b, d->loc, "enum \"%s\" must define one or more values.", t->name);
        t->nevals = d->nitems;
        t->evals = arena_calloc(a, d->nitems, sizeof *t->evals);
        for (uint32_t i = 0; i < d->nitems; i++) {
            for (uint32_t j = 0; j < i; j++)
                if (gql_name_eq(d->items[i].name, t->evals[j].name))
                    return gql__serr(b, d->items[i].loc, "enum value \"%s.%s\" is defined twice",
                                     t->name, t->evals[j].name);
            t->evals[i].name = gql__cstr(a, d->items[i].name);
            t->evals[i].name_len = d->items[i].name.len;
            t->evals[i].desc = d->items[i].desc;
            gql__deprecation(b, d->items[i].dirs, d->items[i].ndirs, &t->evals[i].deprecated,
                             &t->evals[i].reason);
        }
        break;
    case GQL_T_UNION:
        if (d->nitems == 0)
            return gql__serr(b, d->loc, "union \"%s\" must define one or more member types.",
                             t->name);
        t->npossible = d->nitems;
        t->possible = arena_calloc(a, d->nitems, sizeof *t->possible);
        for (uint32_t i = 0; i < d->nitems; i++) {
            gql_type_t *m = gql__find_all(b, d->items[i].name);
            if (m == NULL || m->kind != GQL_T_OBJECT)
                return gql__serr(b, d->items[i].loc, "union \"%s\" member \"%.*s\" is %s", t->name,
                                 (int)d->items[i].name.len, d->items[i].name.p,
                                 m ? "not an object type" : "an unknown type");
            t->possible[i] = m;
        }
        break;
    case GQL_T_SCALAR: {
        const gql_ast_dir_t *sb = gql__dir(d->dirs, d->ndirs, "specifiedBy");
        if (sb && sb->nargs && sb->args[0].value->kind == GQL_AV_STRING)
            t->specified_by = gql__cstr(a, sb->args[0].value->s);
        break;
    }
    }
    return 0;
}

/* An object type implementing an interface must have its fields. */
static int gql__check_impl(gql__build_t *b, gql_type_t *t)
{
    for (uint32_t i = 0; i < t->nifaces; i++) {
        gql_type_t *it = t->ifaces[i];
        for (uint32_t j = 0; j < it->nfields; j++) {
            gql_field_t *f = &it->fields[j];
            const gql_field_t *own = gql_type_field(t, f->name, strlen(f->name));
            if (!own)
                return gql__serr(b, t->loc,
                                 "Interface field %s.%s expected but %s does not "
                                 "provide it.",
                                 it->name, f->name, t->name);
            /* what execution and validation ask of a field selected through an interface */
            f->impls = arena_realloc(&b->s->arena, f->impls, f->nimpls * sizeof *f->impls,
                                     (f->nimpls + 1) * sizeof *f->impls);
            f->impls[f->nimpls++] = (struct gql_field_impl){t, own};
        }
    }
    return 0;
}

static int gql__directive(gql__build_t *b, const gql_sdl_def_t *d, gql_directive_t *out,
                          bool builtin)
{
    out->name = gql__cstr(&b->s->arena, d->name);
    out->desc = d->desc;
    out->repeatable = d->repeatable;
    out->builtin = builtin;
    out->nargs = d->nargs;
    if (gql__ivalues(b, d->args, d->nargs, &out->args)) return -1;
    for (uint32_t i = 0; i < d->nitems; i++)
        for (int k = 0; k < GQL_DL__COUNT; k++)
            if (gql_name_eq(d->items[i].name, gql_dl_names[k]) && !(out->locations & (1u << k))) {
                out->locations |= 1u << k;
                out->loc_order[out->nlocs++] = (uint8_t)k;
            }
    return 0;
}

/* graphql-js's collectReferencedTypes(): depth-first from each type. */
static void gql__collect(gql_schema_t *s, gql_type_t *t, bool *seen)
{
    if (seen[t->index]) return;
    seen[t->index] = true;
    s->order[s->norder++] = t;
    if (t->kind == GQL_T_UNION) {
        for (uint32_t i = 0; i < t->npossible; i++) gql__collect(s, t->possible[i], seen);
    } else if (t->kind == GQL_T_OBJECT || t->kind == GQL_T_INTERFACE) {
        for (uint32_t i = 0; i < t->nifaces; i++) gql__collect(s, t->ifaces[i], seen);
        for (uint32_t i = 0; i < t->nfields; i++) {
            gql__collect(s, gql_typeref_named(t->fields[i].type), seen);
            for (uint32_t j = 0; j < t->fields[i].nargs; j++)
                gql__collect(s, gql_typeref_named(t->fields[i].args[j].type), seen);
        }
    } else if (t->kind == GQL_T_INPUT) {
        for (uint32_t i = 0; i < t->nifields; i++)
            gql__collect(s, gql_typeref_named(t->ifields[i].type), seen);
    }
}

static int gql__parse_defs(gql__build_t *b, const char *src, size_t len, gql_sdl_def_t ***out,
                           uint32_t *n)
{
    gql_lexer_t lx;
    err_t pe;
    uint32_t cap = 0;
    gql_lex_init(&lx, &b->s->arena, src, len, &pe);
    *out = NULL;
    *n = 0;
    if (gql_lex_next(&lx)) goto fail;
    while (lx.tok.kind != GQL_TOK_EOF) {
        if (!gql_at_sdl_definition(&lx)) {
            gql_parse_error(&lx, lx.tok.loc,
                            "Unexpected %s: only type-system definitions may "
                            "appear in a schema.",
                            lx.tok.kind == GQL_TOK_NAME
                                ? arena_printf(&b->s->arena, "\"%.*s\"", (int)lx.tok.len, lx.tok.p)
                                : "token");
            goto fail;
        }
        gql_sdl_def_t *d = gql_parse_sdl_definition(&lx);
        if (d == NULL) goto fail;
        if (d->extend) {
            gql__serr(b, d->loc, "\"extend\" is not supported: edit the definition itself");
            return -1;
        }
        if (*n == cap) {
            uint32_t nc = cap ? cap * 2 : 16;
            *out = arena_realloc(&b->s->arena, *out, cap * sizeof **out, nc * sizeof **out);
            cap = nc;
        }
        (*out)[(*n)++] = d;
    }
    return 0;
fail:
    return err_set(b->e, ERR_INTERNAL, "%u:%u: %s", lx.err_loc.line, lx.err_loc.col, pe.msg);
}

static int gql__cmp_type(const void *x, const void *y)
{
    const gql_type_t *a = *(gql_type_t *const *)x, *b = *(gql_type_t *const *)y;
    return gql__cmp_name(a->name, a->name_len, b->name, b->name_len);
}

/* 1. a type per definition; user types first (document order). */
static int gql__build_types(gql__build_t *b, gql_sdl_def_t **udefs, uint32_t nu,
                            gql_sdl_def_t **bdefs, uint32_t nb, const gql_sdl_def_t **schema_out,
                            uint32_t *ndirs_out)
{
    arena_t *a = &b->s->arena;
    const gql_sdl_def_t *schema_def = NULL;
    uint32_t ndirs = 0;
    for (uint32_t pass = 0; pass < 2; pass++) {
        gql_sdl_def_t **defs = pass ? bdefs : udefs;
        uint32_t n = pass ? nb : nu;
        for (uint32_t i = 0; i < n; i++) {
            gql_sdl_def_t *d = defs[i];
            if (d->kind == GQL_SDL_DIRECTIVE) {
                ndirs++;
                continue;
            }
            if (d->kind == GQL_SDL_SCHEMA) {
                if (schema_def)
                    return gql__serr(b, d->loc, "Must provide only one schema definition.");
                schema_def = d;
                continue;
            }
            gql_type_t *old = gql__find_all(b, d->name);
            if (old) {
                if (pass == 1) continue; /* a user definition of a built-in scalar wins */
                return gql__serr(b, d->loc, "There can be only one type named \"%.*s\".",
                                 (int)d->name.len, d->name.p);
            }
            if (pass == 0 && d->name.len >= 2 && d->name.p[0] == '_' && d->name.p[1] == '_')
                return gql__serr(b, d->loc,
                                 "Name \"%.*s\" must not begin with \"__\", which is "
                                 "reserved by GraphQL introspection.",
                                 (int)d->name.len, d->name.p);
            gql_type_t *t = arena_calloc(a, 1, sizeof *t);
            static const gql_tkind_t kinds[] = {
                [GQL_SDL_SCALAR] = GQL_T_SCALAR,       [GQL_SDL_OBJECT] = GQL_T_OBJECT,
                [GQL_SDL_INTERFACE] = GQL_T_INTERFACE, [GQL_SDL_UNION] = GQL_T_UNION,
                [GQL_SDL_ENUM] = GQL_T_ENUM,           [GQL_SDL_INPUT] = GQL_T_INPUT};
            t->kind = kinds[d->kind];
            t->name = gql__cstr(a, d->name);
            t->name_len = d->name.len;
            t->desc = d->desc;
            t->loc = d->loc;
            t->builtin = pass == 1;
            t->sdl = d;
            t->named.kind = GQL_TR_NAMED;
            t->named.type = t;
            t->index = b->nall;
            if (b->nall == b->capall) {
                uint32_t nc = b->capall ? b->capall * 2 : 64;
                b->all = arena_realloc(a, b->all, b->capall * sizeof *b->all, nc * sizeof *b->all);
                b->capall = nc;
            }
            b->all[b->nall++] = t;
        }
    }
    *schema_out = schema_def;
    *ndirs_out = ndirs;
    return 0;
}

/* 3. directives: built-in first, as graphql-js lists them. */
static int gql__build_directives(gql__build_t *b, gql_sdl_def_t **udefs, uint32_t nu,
                                 gql_sdl_def_t **bdefs, uint32_t nb, uint32_t ndirs)
{
    gql_schema_t *s = b->s;
    arena_t *a = &s->arena;
    s->dirs = arena_calloc(a, ndirs, sizeof *s->dirs);
    for (uint32_t pass = 0; pass < 2; pass++) {
        gql_sdl_def_t **defs = pass ? udefs : bdefs;
        uint32_t n = pass ? nu : nb;
        for (uint32_t i = 0; i < n; i++) {
            if (defs[i]->kind != GQL_SDL_DIRECTIVE) continue;
            if (gql_schema_directive(s, defs[i]->name.p, defs[i]->name.len))
                return gql__serr(b, defs[i]->loc,
                                 "There can be only one directive named \"@%.*s\".",
                                 (int)defs[i]->name.len, defs[i]->name.p);
            if (gql__directive(b, defs[i], &s->dirs[s->ndirs], pass == 0)) return -1;
            s->ndirs++;
        }
    }
    return 0;
}

/* 4. root types, from the schema definition or by their default names. */
static int gql__build_roots(gql__build_t *b, const gql_sdl_def_t *schema_def)
{
    gql_schema_t *s = b->s;
    gql_name_t qn = {"Query", 5}, mn = {"Mutation", 8}, sn = {"Subscription", 12};
    if (schema_def) {
        qn.len = mn.len = sn.len = 0;
        s->desc = schema_def->desc;
        for (uint32_t i = 0; i < schema_def->nitems; i++) {
            gql_sdl_item_t *it = &schema_def->items[i];
            gql_name_t *slot = it->name.p[0] == 'q' ? &qn : it->name.p[0] == 'm' ? &mn : &sn;
            *slot = it->type->name;
            gql_type_t *t = gql__find_all(b, *slot);
            if (t == NULL || t->kind != GQL_T_OBJECT)
                return gql__serr(b, it->type->loc, "root type \"%.*s\" is %s", (int)slot->len,
                                 slot->p, t ? "not an object type" : "not defined");
        }
    }
    gql_type_t *q = qn.len ? gql__find_all(b, qn) : NULL;
    if (q == NULL || q->builtin || q->kind != GQL_T_OBJECT)
        return gql__serr(b, schema_def ? schema_def->loc : (gql_loc_t){1, 1},
                         "the schema has no query root type (type Query { ... })");
    s->query = q;
    gql_type_t *m = mn.len ? gql__find_all(b, mn) : NULL;
    s->mutation = m && m->kind == GQL_T_OBJECT && !m->builtin ? m : NULL;
    gql_type_t *sub = sn.len ? gql__find_all(b, sn) : NULL;
    s->subscription = sub && sub->kind == GQL_T_OBJECT && !sub->builtin ? sub : NULL;
    return 0;
}

/* 5. graphql-js's type-map order: the document's types, each followed by
 * what it newly references; then directive arguments; then __Schema. Returns
 * the __Meta type (the meta fields' holder). */
static gql_type_t *gql__build_order(gql__build_t *b)
{
    gql_schema_t *s = b->s;
    arena_t *a = &s->arena;
    bool *seen = arena_calloc(a, b->nall, sizeof *seen);
    s->order = arena_calloc(a, b->nall, sizeof *s->order);
    gql_type_t *meta = NULL;
    for (uint32_t i = 0; i < b->nall; i++)
        if (strcmp(b->all[i]->name, "__Meta") == 0) meta = b->all[i];
    seen[meta->index] = true;
    /* every document type is in graphql-js's set before the walk, so only
     * the built-in types each one references are added right after it */
    uint32_t nuser = 0;
    while (nuser < b->nall && !b->all[nuser]->builtin) seen[b->all[nuser++]->index] = true;
    for (uint32_t i = 0; i < nuser; i++) {
        gql_type_t *t = b->all[i];
        s->order[s->norder++] = t;
        if (t->kind == GQL_T_OBJECT || t->kind == GQL_T_INTERFACE) {
            for (uint32_t j = 0; j < t->nfields; j++) {
                gql__collect(s, gql_typeref_named(t->fields[j].type), seen);
                for (uint32_t k = 0; k < t->fields[j].nargs; k++)
                    gql__collect(s, gql_typeref_named(t->fields[j].args[k].type), seen);
            }
        } else if (t->kind == GQL_T_INPUT) {
            for (uint32_t j = 0; j < t->nifields; j++)
                gql__collect(s, gql_typeref_named(t->ifields[j].type), seen);
        }
    }
    for (uint32_t i = 0; i < s->ndirs; i++)
        for (uint32_t j = 0; j < s->dirs[i].nargs; j++)
            gql__collect(s, gql_typeref_named(s->dirs[i].args[j].type), seen);
    gql_type_t *schema_t = gql__find_all(b, (gql_name_t){"__Schema", 8});
    gql__collect(s, schema_t, seen);
    /* possible types of interfaces, in that order */
    for (uint32_t i = 0; i < s->norder; i++) {
        gql_type_t *t = s->order[i];
        if (t->kind != GQL_T_OBJECT) continue;
        for (uint32_t j = 0; j < t->nifaces; j++) {
            gql_type_t *it = t->ifaces[j];
            it->possible = arena_realloc(a, it->possible, it->npossible * sizeof *it->possible,
                                         (it->npossible + 1) * sizeof *it->possible);
            it->possible[it->npossible++] = t;
        }
    }
    return meta;
}

/* The lookup table, built-in types, meta fields and field ids. */
static void gql__build_index(gql__build_t *b, gql_type_t *meta)
{
    gql_schema_t *s = b->s;
    arena_t *a = &s->arena;
    /* the lookup table: every type reachable (unused built-in scalars are not
     * part of the schema, as in graphql-js) */
    s->ntypes = s->norder;
    s->types = arena_alloc(a, s->ntypes * sizeof *s->types);
    memcpy(s->types, s->order, s->ntypes * sizeof *s->types);
    qsort(s->types, s->ntypes, sizeof *s->types, gql__cmp_type);
    s->type_hash = gql__name_table(a, s->ntypes, gql__type_name_at, s, &s->type_hash_mask);
    s->t_string = gql_schema_type(s, "String", 6);
    s->t_boolean = gql_schema_type(s, "Boolean", 7);
    s->t_int = gql_schema_type(s, "Int", 3);
    s->t_float = gql_schema_type(s, "Float", 5);
    s->t_id = gql_schema_type(s, "ID", 2);
    /* meta fields */
    s->f_typename = *gql_type_field(meta, "__typename", 10);
    s->f_schema = *gql_type_field(meta, "__schema", 8);
    s->f_type = *gql_type_field(meta, "__type", 6);
    /* field ids (resolver slots) */
    uint32_t nf = 0;
    for (uint32_t i = 0; i < b->nall; i++) nf += b->all[i]->nfields;
    s->all_fields = arena_alloc(a, (nf + 3) * sizeof *s->all_fields);
    for (uint32_t i = 0; i < b->nall; i++) {
        gql_type_t *t = b->all[i];
        if (t == meta) continue;
        for (uint32_t j = 0; j < t->nfields; j++) {
            t->fields[j].index = s->nfields_total;
            s->all_fields[s->nfields_total++] = &t->fields[j];
        }
    }
    gql_field_t *metas[3] = {&s->f_typename, &s->f_schema, &s->f_type};
    for (int i = 0; i < 3; i++) {
        metas[i]->index = s->nfields_total;
        metas[i]->owner = NULL;
        s->all_fields[s->nfields_total++] = metas[i];
    }
}

static int gql__build(gql__build_t *b, const char *sdl, size_t len)
{
    gql_schema_t *s = b->s;
    gql_sdl_def_t **udefs, **bdefs;
    uint32_t nu, nb;
    if (gql__parse_defs(b, sdl, len, &udefs, &nu)) return -1;
    if (gql__parse_defs(b, gql_introspection_sdl, strlen(gql_introspection_sdl), &bdefs, &nb))
        return err_wrap(b->e, "built-in schema");
    const gql_sdl_def_t *schema_def = NULL;
    uint32_t ndirs = 0;
    if (gql__build_types(b, udefs, nu, bdefs, nb, &schema_def, &ndirs)) return -1;
    /* 2. fields, arguments, members */
    for (uint32_t i = 0; i < b->nall; i++)
        if (gql__fill_type(b, b->all[i])) return -1;
    for (uint32_t i = 0; i < b->nall; i++)
        if (b->all[i]->kind == GQL_T_OBJECT && gql__check_impl(b, b->all[i])) return -1;
    if (gql__build_directives(b, udefs, nu, bdefs, nb, ndirs)) return -1;
    if (gql__build_roots(b, schema_def)) return -1;
    gql__build_index(b, gql__build_order(b));
    s->ntype_slots = b->nall;
    for (uint32_t i = 0; i < b->nall; i++) b->all[i]->sdl = NULL;
    return 0;
}

int gql_schema_load(const char *sdl, size_t len, gql_schema_t **out, err_t *e)
{
    gql_schema_t *s = calloc(1, sizeof *s);
    if (s == NULL) return err_set(e, ERR_INTERNAL, "out of memory");
    arena_init(&s->arena, 64 * 1024);
    /* The AST keeps pointers into the source (names, default values), so the
     * schema owns a copy: the caller may free sdl as soon as this returns. */
    const char *own = arena_strndup(&s->arena, sdl, len);
    gql__build_t b = {.s = s, .e = e, .what = "schema"};
    if (gql__build(&b, own, len)) {
        gql_schema_free(s);
        *out = NULL;
        return -1;
    }
    *out = s;
    return 0;
}

void gql_schema_free(gql_schema_t *s)
{
    if (s == NULL) return;
    arena_destroy(&s->arena);
    free(s);
}
