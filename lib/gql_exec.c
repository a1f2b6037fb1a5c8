/*
 * gql_exec.c — executing a prepared request.
 *
 * Owns: the resolver table, field collection with @skip/@include and
 * fragments, breadth-first batched execution (one resolver call per field
 * per level for every parent that selects it with the same arguments),
 * null propagation, partial results, and field errors with path and
 * locations. Preparing the request is gql_prepare.c's, coercion
 * gql_coerce.c's, and the JSON gql_json_out.c's. Everything is allocated
 * from the request arena.
 *
 * Why breadth-first: it is what makes DataLoader-style batching natural in C
 * (no promises): `books(ids){ bookstore { name } }` makes one
 * Book.bookstore call with N parents. Errors are the same as graphql-js's
 * except in one corner: graphql-js resolves depth-first and, when a
 * non-null error nulls a parent, never runs that parent's later siblings'
 * subtrees; here a sibling at the same level already ran, so its own errors
 * may also be listed.
 */
#include "gql_exec_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

/* ---- execution ---------------------------------------------------------------------------- */

typedef struct {
    const gql_type_t *type;
    void *obj;
    gql_rnode_t *node;
    gql_cfield_t *src; /* the field whose sub-selection this object answers; NULL = root */
} gql__witem_t;

/* Consecutive items of a level with the same set (siblings, mostly): a
 * field of the set that no other run of the level shares a group key with
 * is one resolver call over the run's objects, in place. */
typedef struct {
    const gql__witem_t *items; /* the run's first item */
    uint32_t n;
    const gql_cset_t *set;
    void **parents; /* the items' objects, made when a call needs them */
} gql__run_t;

/* One resolver call: every (item, field) of a level with the same parent
 * type, field and arguments as written, even from different selections. */
typedef struct {
    const gql_type_t *ptype;
    const gql_field_t *def;
    gql_cfield_t *cf0; /* arguments are coerced from its first node */
    /* run: the group's only run (field cf0) while nruns is 1; else the
     * arrays: member k's parent object, its result slot, its field */
    gql__run_t *run;
    uint32_t nruns;
    void **parents;
    gql_rnode_t **slots;
    gql_cfield_t **cfs;
    gql_value_t *out; /* the resolver's answers */
    uint32_t n;
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
    gql_rnode_t root;
    gql_plan_t *plan;
    struct {
        const char *name; /* a resolver's concrete type name (pointers are stable in a request) */
        const gql_type_t *type;
    } tn[4];
    unsigned ntn;
    bool nulled;     /* some node was nulled after its children were scheduled */
    gql_call_t call; /* arena, ctx and schema set once (gql_execute) */
} gql__ex_t;

typedef struct {
    gql__ex_t *ex;
    gql_rnode_t **slots;
    gql_cfield_t **cfs; /* per slot; both NULL for a group's only run */
    size_t m;           /* slots in this call */
    gql__group_t *g;
} gql__callinfo_t;

/* Member i's result slot and field in a call. */
static gql_rnode_t *gql__ci_slot(const gql__callinfo_t *ci, size_t i)
{
    if (ci->slots) return ci->slots[i];
    return &ci->g->run->items[i].node->u.obj.vals[ci->g->cf0->index];
}
static gql_cfield_t *gql__ci_cf(const gql__callinfo_t *ci, size_t i)
{
    return ci->cfs ? ci->cfs[i] : ci->g->cf0;
}

static const gql_typeref_t *gql__nullable(const gql_typeref_t *t)
{
    return t->kind == GQL_TR_NONNULL ? t->of : t;
}

static char *gql__path_json(gql__ex_t *ex, const gql_rnode_t *n)
{
    const gql_rnode_t *chain[512];
    int k = 0;
    for (; n && n->parent && k < 512; n = n->parent) chain[k++] = n;
    buf_t b = BUF_INIT;
    buf_putc(&b, '[');
    for (int i = k - 1; i >= 0; i--) {
        if (i != k - 1) buf_putc(&b, ',');
        if (chain[i]->index >= 0)
            buf_printf(&b, "%d", chain[i]->index);
        else {
            gql_name_t key = gql_rnode_key(chain[i]);
            buf_put_json_str(&b, key.p, key.len);
        }
    }
    buf_putc(&b, ']');
    char *s = arena_strndup(ex->a, b.data, b.len);
    buf_free(&b);
    return s;
}

static void gql__field_error(gql__ex_t *ex, const gql_rnode_t *at, const gql_cfield_t *cf,
                             err_code_t code, const char *msg)
{
    gql_loc_t locs[4];
    uint32_t n = 0;
    for (uint32_t i = 0; cf && i < cf->n && n < 4; i++) locs[n++] = cf->nodes[i]->loc;
    gql_error_t *e = gql_errors_add(ex->errors, code, locs, n, "%s", msg);
    e->path_json = gql__path_json(ex, at);
}

static void gql__set_null(gql__ex_t *ex, gql_rnode_t *n)
{
    ex->nulled = true;
    for (;;) {
        n->kind = GQL_RN_NULL;
        if (!n->nonnull || n->parent == NULL) return;
        n = n->parent;
    }
}

/* Whether no ancestor of n (n included) was nulled: until a field error
 * nulls a node, every node is. */
static bool gql__alive(const gql__ex_t *ex, const gql_rnode_t *n)
{
    if (!ex->nulled) return true;
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
    gql__field_error(ci->ex, gql__ci_slot(ci, i), gql__ci_cf(ci, i), code, msg);
}

/* Adds the names selected under ss to g's (each once). */
static void gql__selected_names(gql__ex_t *ex, gql__group_t *g, const gql_ast_selset_t *ss,
                                int depth, uint32_t *cap, long *budget)
{
    if (depth > 32) return;
    for (uint32_t i = 0; i < ss->n && --*budget > 0; i++) {
        const gql_ast_sel_t *s = ss->items[i];
        if (s->kind == GQL_SEL_FIELD) {
            bool have = false;
            for (size_t k = 0; k < g->nselected && !have; k++)
                have = gql_name_eq(s->name, g->selected[k]);
            if (have) continue;
            GQL_GROW(ex->a, g->selected, g->nselected, *cap);
            g->selected[g->nselected++] = arena_strndup(ex->a, s->name.p, s->name.len);
        } else if (s->kind == GQL_SEL_INLINE) {
            gql__selected_names(ex, g, s->selset, depth + 1, cap, budget);
        } else {
            const gql_ast_def_t *f = gql_doc_fragment(ex->p->doc, s->name);
            if (f) gql__selected_names(ex, g, f->selset, depth + 1, cap, budget);
        }
    }
}

/* Computed per request (a cached plan is not written to): the union over
 * the selections batched into this call, in order of appearance. */
const char *const *gql_selected(gql_call_t *call, size_t *n)
{
    gql__callinfo_t *ci = call->internal_;
    gql__group_t *g = ci->g;
    if (!g->selected_done) {
        g->selected_done = true;
        uint32_t cap = 0;
        for (size_t u = 0; u < ci->m; u++) {
            const gql_cfield_t *cf = gql__ci_cf(ci, u);
            bool seen = false; /* the distinct selections batched into this call */
            for (size_t v = 0; v < u && !seen; v++) seen = gql__ci_cf(ci, v) == cf;
            if (seen) continue;
            long budget = 10000;
            for (uint32_t k = 0; k < cf->n; k++)
                if (cf->nodes[k]->selset)
                    gql__selected_names(ci->ex, g, cf->nodes[k]->selset, 0, &cap, &budget);
        }
    }
    *n = g->nselected;
    return g->selected;
}

/* The value kind that a leaf of type t outputs as it is (String and ID:
 * GQL_STRING, Int: GQL_INT in 32 bits, Boolean: GQL_BOOL, Float: a finite
 * GQL_FLOAT), else -1. */
static int gql__output_kind(const gql_schema_t *s, const gql_typeref_t *t)
{
    t = gql__nullable(t);
    if (t->kind != GQL_TR_NAMED) return -1;
    if (t->type == s->t_string || t->type == s->t_id) return GQL_STRING;
    if (t->type == s->t_int) return GQL_INT;
    if (t->type == s->t_boolean) return GQL_BOOL;
    if (t->type == s->t_float) return GQL_FLOAT;
    return -1;
}

/* Whether v is output as it is by a leaf whose gql__output_kind is same. */
static inline bool gql__as_is(int same, const gql_value_t *v)
{
    return (int)v->kind == same &&
           (same != GQL_INT || (v->u.i >= INT32_MIN && v->u.i <= INT32_MAX)) &&
           (same != GQL_FLOAT || isfinite(v->u.f));
}

static void gql__complete(gql__ex_t *ex, gql_cfield_t *cf, const gql_typeref_t *t,
                          const gql_value_t *v, gql_rnode_t *slot, gql__witem_t **next,
                          uint32_t *nnext, uint32_t *capnext);

static void gql__fail(gql__ex_t *ex, gql_rnode_t *slot, const gql_cfield_t *cf, err_code_t code,
                      const char *msg)
{
    gql__field_error(ex, slot, cf, code, msg);
    gql__set_null(ex, slot);
}

/* The type a resolver named for an abstract field's value: most name a
 * few types with the same few strings, so a request remembers 4. */
static const gql_type_t *gql__type_named(gql__ex_t *ex, const char *tn)
{
    for (unsigned i = 0; i < 4; i++)
        if (ex->tn[i].name == tn) return ex->tn[i].type;
    const gql_type_t *t = gql_schema_type(ex->s, tn, strlen(tn));
    ex->tn[ex->ntn % 4].name = tn;
    ex->tn[ex->ntn++ % 4].type = t;
    return t;
}

/* The type named in error messages about cf. */
static const char *gql__owner(const gql_cfield_t *cf)
{
    return cf->def && cf->def->owner ? cf->def->owner->name : "Query";
}

static void gql__complete(gql__ex_t *ex, gql_cfield_t *cf, const gql_typeref_t *t,
                          const gql_value_t *v, gql_rnode_t *slot, gql__witem_t **next,
                          uint32_t *nnext, uint32_t *capnext)
{
    slot->nonnull = t->kind == GQL_TR_NONNULL;
    t = gql__nullable(t);
    if (v->kind == GQL_ERROR) {
        gql__fail(ex, slot, cf, v->u.err.code, v->u.err.msg ? v->u.err.msg : "error");
        return;
    }
    if (v->kind == GQL_NULL) {
        if (slot->nonnull)
            gql__fail(ex, slot, cf, ERR_INTERNAL,
                      arena_printf(ex->a, "Cannot return null for non-nullable field %s.%s.",
                                   gql__owner(cf), cf->def ? cf->def->name : "?"));
        else
            slot->kind = GQL_RN_NULL;
        return;
    }
    if (t->kind == GQL_TR_LIST) {
        if (v->kind != GQL_LIST) {
            gql__fail(ex, slot, cf, ERR_INTERNAL,
                      arena_printf(ex->a,
                                   "Expected Iterable, but did not find one for field \"%s.%s\".",
                                   gql__owner(cf), cf->def ? cf->def->name : "?"));
            return;
        }
        slot->kind = GQL_RN_LIST;
        slot->u.list.n = (uint32_t)v->u.list.n;
        slot->u.list.items =
            arena_calloc(ex->a, v->u.list.n ? v->u.list.n : 1, sizeof *slot->u.list.items);
        int same = gql__output_kind(ex->s, t->of); /* lists of leaves: most items as they are */
        bool nonnull = t->of->kind == GQL_TR_NONNULL;
        for (uint32_t i = 0; i < slot->u.list.n; i++) {
            gql_rnode_t *it = &slot->u.list.items[i];
            it->parent = slot;
            it->index = (int32_t)i;
            if (gql__as_is(same, &v->u.list.items[i])) {
                it->nonnull = nonnull;
                it->kind = GQL_RN_LEAF;
                it->u.leaf = v->u.list.items[i];
                continue;
            }
            gql__complete(ex, cf, t->of, &v->u.list.items[i], it, next, nnext, capnext);
            if (slot->kind == GQL_RN_NULL) return; /* a non-null item nulled the list */
        }
        return;
    }
    const gql_type_t *nt = t->type;
    if (nt->kind == GQL_T_SCALAR || nt->kind == GQL_T_ENUM) {
        const gql_schema_t *s = ex->s;
        /* the value already is what the type outputs (most leaves) */
        if ((v->kind == GQL_STRING && (nt == s->t_string || nt == s->t_id)) ||
            (v->kind == GQL_INT && nt == s->t_int && v->u.i >= INT32_MIN && v->u.i <= INT32_MAX) ||
            (v->kind == GQL_BOOL && nt == s->t_boolean)) {
            slot->kind = GQL_RN_LEAF;
            slot->u.leaf = *v;
            return;
        }
        const char *msg = NULL;
        gql_value_t out;
        if (gql_serialize(s, ex->a, nt, v, &out, &msg)) {
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
                               nt->name, gql__owner(cf), cf->def ? cf->def->name : "?"));
        return;
    }
    const gql_type_t *rt = nt;
    if (gql_type_abstract(nt)) {
        const char *tn = v->u.object.type;
        rt = tn ? gql__type_named(ex, tn) : NULL;
        if (tn == NULL) {
            gql__fail(ex, slot, cf, ERR_INTERNAL,
                      arena_printf(ex->a,
                                   "Abstract type \"%s\" must resolve to an Object type at "
                                   "runtime for field \"%s.%s\".",
                                   nt->name, gql__owner(cf), cf->def ? cf->def->name : "?"));
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
    slot->u.obj.vals = NULL; /* gql__obj_slots makes them */
    slot->u.obj.n = 0;
    GQL_GROW(ex->a, *next, *nnext, *capnext);
    (*next)[(*nnext)++] = (gql__witem_t){rt, v->u.object.ptr, slot, cf};
}

static gql_resolve_fn gql__resolver(gql__ex_t *ex, const gql_field_t *f, const gql_type_t *t)
{
    gql_resolve_fn fn = NULL;
    if (f == &ex->s->f_schema || f == &ex->s->f_type || (f->owner && f->owner->builtin))
        fn = gql_introspect_resolver(ex->s, f);
    if (fn) return fn;
    if (ex->r == NULL) return NULL;
    fn = ex->r->by_field[f->index];
    if (fn == NULL && f->owner) fn = ex->r->by_type[f->owner->index];
    if (fn == NULL) fn = ex->r->by_type[t->index];
    return fn;
}

/* The result object of item it: one slot per collected field. */
static void gql__obj_slots(gql__ex_t *ex, gql__witem_t *it, const gql_cset_t *set)
{
    if (it->node->u.obj.vals) return;
    it->node->u.obj.n = set->n;
    it->node->u.obj.set = set;
    it->node->u.obj.vals = arena_alloc(ex->a, (set->n ? set->n : 1) * sizeof *it->node->u.obj.vals);
    for (uint32_t j = 0; j < set->n; j++) { /* the value is set when the field completes */
        gql_rnode_t *c = &it->node->u.obj.vals[j];
        c->kind = GQL_RN_PENDING;
        c->nonnull = false;
        c->index = -1;
        c->parent = it->node;
    }
}

typedef struct {
    gql__group_t *v;
    uint32_t n, cap;
} gql__groups_t;

/* The group of cf in this level (stamp): its key's, made when the key is
 * first met in the level. */
static gql__group_t *gql__group_of(gql__ex_t *ex, gql__groups_t *gs, gql_cfield_t *cf,
                                   const gql_type_t *ptype, uint64_t stamp)
{
    gql_gkey_t *k = cf->gk;
    if (k->stamp == stamp) return &gs->v[k->group];
    k->stamp = stamp;
    k->group = gs->n;
    GQL_GROW(ex->a, gs->v, gs->n, gs->cap);
    gql__group_t *g = &gs->v[gs->n++];
    g->ptype = ptype;
    g->def = cf->def;
    g->cf0 = cf;
    g->run = NULL;
    g->nruns = 0;
    g->n = 0;
    g->selected = NULL;
    g->nselected = 0;
    g->selected_done = false;
    return g;
}

typedef enum { GQL__NO_FIELD, GQL__BAD_ARGS, GQL__NO_RESOLVER, GQL__DEADLINE } gql__why_t;

/* The answers of a group that cannot call its resolver (why; msg says
 * what is wrong with the arguments). */
__attribute__((noinline)) static void gql__group_fail(gql__ex_t *ex, gql__why_t why,
                                                      const gql_field_t *f, const gql_type_t *ptype,
                                                      size_t m, gql_value_t *out, const char *msg)
{
    gql_value_t v;
    switch (why) {
    case GQL__NO_FIELD:
        v = gql_error(ERR_INTERNAL, "unknown field");
        break;
    case GQL__BAD_ARGS:
        v = gql_error(ERR_BAD_INPUT, msg);
        break;
    case GQL__NO_RESOLVER:
        v = gql_errorf(ex->a, ERR_INTERNAL, "No resolver for %s.%s.", ptype->name, f->name);
        break;
    case GQL__DEADLINE: /* answer what is left at once instead of starting
                         * more backend work nobody waits for */
        v = gql_error(ERR_UNAVAILABLE, "request deadline exceeded (OPONN_REQUEST_DEADLINE_MS): "
                                       "a backend is too slow; retry later");
        break;
    }
    for (size_t k = 0; k < m; k++) out[k] = v;
}

/* A resolver's -1: every item gets its error. */
__attribute__((noinline)) static void gql__group_error(gql__ex_t *ex, const gql_call_t *call,
                                                       size_t m, gql_value_t *out)
{
    err_code_t code = call->err.code == ERR_OK ? ERR_INTERNAL : call->err.code;
    const char *em = arena_strdup(ex->a, call->err.msg[0] ? call->err.msg : "resolver failed");
    for (size_t k = 0; k < m; k++) out[k] = gql_error(code, em);
}

/* Fills out[0..m-1] for one group: the resolver's answers, or the error
 * every item gets when it cannot be called. */
static void gql__call_group(gql__ex_t *ex, gql__group_t *g, const gql_type_t *ptype, size_t m,
                            void **parents, gql_rnode_t **slots, gql_cfield_t **cfs,
                            gql_value_t *out)
{
    const gql_field_t *f = g->cf0->def;
    if (f == &ex->s->f_typename) {
        for (size_t k = 0; k < m; k++) out[k] = gql_str(ptype->name, ptype->name_len);
        return;
    }
    if (f == NULL) {
        gql__group_fail(ex, GQL__NO_FIELD, f, ptype, m, out, NULL);
        return;
    }
    gql_gkey_t *gk = g->cf0->gk; /* the resolver, once per key and table */
    if (gk->r != ex->r || gk->fn == NULL) {
        gk->fn = gql__resolver(ex, f, ptype);
        gk->r = ex->r;
        gk->plain = f->nargs == 0 && gk->fn;
    }
    gql_value_t args = {.kind = GQL_INPUT_OBJECT}; /* most fields have no arguments */
    const char *msg = NULL;
    gql__why_t why;
    if (f->nargs && gql_coerce_args(ex->s, ex->a, &ex->p->vars, f, g->cf0->nodes[0], &args, &msg))
        why = GQL__BAD_ARGS;
    else if (gk->fn == NULL)
        why = GQL__NO_RESOLVER;
    else if (ex->req->deadline_ns && gql_now_ns() >= ex->req->deadline_ns)
        why = GQL__DEADLINE;
    else {
        gql__callinfo_t ci = {ex, slots, cfs, m, g};
        gql_call_t *call = &ex->call; /* the fields every call shares are set once */
        call->type_name = ptype->name;
        call->field_name = f->name;
        call->args = &args;
        call->internal_ = &ci;
        call->err.code = ERR_OK;
        call->err.msg[0] = '\0';
        if (gk->fn(call, m, parents, out) != 0) gql__group_error(ex, call, m, out);
        return;
    }
    gql__group_fail(ex, why, f, ptype, m, out, msg);
}

/* The fields of set a level runs, [*j0, *j1): all of them, or only
 * only_field (a mutation's top-level fields run one at a time). */
static inline void gql__field_range(const gql_cset_t *set, int only_field, uint32_t *j0,
                                    uint32_t *j1)
{
    *j0 = 0;
    *j1 = set->n;
    if (only_field >= 0) {
        *j0 = (uint32_t)only_field < set->n ? (uint32_t)only_field : set->n;
        *j1 = *j0 < set->n ? *j0 + 1 : *j0;
    }
}

/* The objects of run r's items (once per run: every field of the run
 * passes the same array). */
static void **gql__run_parents(gql__ex_t *ex, gql__run_t *r)
{
    if (r->parents == NULL) {
        r->parents = arena_alloc(ex->a, r->n * sizeof *r->parents);
        for (uint32_t k = 0; k < r->n; k++) r->parents[k] = r->items[k].obj;
    }
    return r->parents;
}

/* Gives a group the arrays of a group of several runs (for one run that
 * loses its items to a sibling's null: they are then filtered in place). */
static void gql__group_arrays(gql__ex_t *ex, gql__group_t *g)
{
    gql__run_t *r = g->run;
    uint32_t j = g->cf0->index;
    g->parents = arena_alloc(ex->a, r->n * sizeof *g->parents);
    g->slots = arena_alloc(ex->a, r->n * sizeof *g->slots);
    g->cfs = arena_alloc(ex->a, r->n * sizeof *g->cfs);
    for (uint32_t k = 0; k < r->n; k++) {
        g->parents[k] = r->items[k].obj;
        g->slots[k] = &r->items[k].node->u.obj.vals[j];
        g->cfs[k] = g->cf0;
    }
    g->nruns = 0;
}

/* Completes out[k], the answer of member k of g for field type rt. */
static inline void gql__complete_one(gql__ex_t *ex, gql_cfield_t *cf, const gql_typeref_t *rt,
                                     int same, bool nonnull, gql_value_t *v, gql_rnode_t *slot,
                                     gql__witem_t **next, uint32_t *nnext, uint32_t *capnext)
{
    if (gql__as_is(same, v)) { /* gql__complete's first case, without the call (a
                                * nulled parent is not written: no alive check) */
        slot->nonnull = nonnull;
        slot->kind = GQL_RN_LEAF;
        slot->u.leaf = *v;
        return;
    }
    if (!gql__alive(ex, slot->parent)) return; /* nulled by a sibling in this batch */
    gql__complete(ex, cf, rt, v, slot, next, nnext, capnext);
}

/* gql__call_group for a group of one run whose key is plain: no checks
 * left to make. */
static inline void gql__call_plain(gql__ex_t *ex, gql__group_t *g, size_t m, void **parents,
                                   gql_value_t *out)
{
    static const gql_value_t no_args = {.kind = GQL_INPUT_OBJECT};
    gql__callinfo_t ci = {ex, NULL, NULL, m, g};
    gql_call_t *call = &ex->call;
    call->type_name = g->ptype->name;
    call->field_name = g->def->name;
    call->args = &no_args;
    call->internal_ = &ci;
    call->err.code = ERR_OK;
    call->err.msg[0] = '\0';
    if (g->cf0->gk->fn(call, m, parents, out) != 0) gql__group_error(ex, call, m, out);
}

/* Calls group g and completes its answers. */
__attribute__((always_inline)) static inline void gql__run_group(gql__ex_t *ex, gql__group_t *g,
                                                                 gql__witem_t **next,
                                                                 uint32_t *nnext, uint32_t *capnext)
{
    if (g->nruns == 1 && ex->nulled) gql__group_arrays(ex, g);
    size_t m = g->n;
    if (g->nruns != 1 && ex->nulled) { /* drop the parents an earlier group nulled */
        m = 0;
        for (uint32_t k = 0; k < g->n; k++) {
            if (!gql__alive(ex, g->slots[k]->parent)) continue;
            g->parents[m] = g->parents[k];
            g->slots[m] = g->slots[k];
            g->cfs[m++] = g->cfs[k];
        }
    }
    if (m == 0) return;
    gql_value_t *out = g->out;
    gql_gkey_t *gk = g->cf0->gk;
    if (g->nruns == 1 && gk->plain && gk->r == ex->r && !ex->nulled && !ex->req->deadline_ns)
        gql__call_plain(ex, g, m, gql__run_parents(ex, g->run), out);
    else if (g->nruns == 1)
        gql__call_group(ex, g, g->ptype, m, gql__run_parents(ex, g->run), NULL, NULL, out);
    else
        gql__call_group(ex, g, g->ptype, m, g->parents, g->slots, g->cfs, out);
    const gql_field_t *f = g->cf0->def;
    const gql_typeref_t *rt = f ? f->type : &ex->s->t_string->named;
    if (!gk->out_done) {
        gk->out_kind = (int8_t)gql__output_kind(ex->s, rt);
        gk->out_done = true;
    }
    int same = gk->out_kind;
    bool nonnull = rt->kind == GQL_TR_NONNULL;
    if (g->nruns == 1) {
        const gql__witem_t *its = g->run->items;
        gql_cfield_t *cf = g->cf0;
        uint32_t j = cf->index;
        for (size_t k = 0; k < m; k++)
            gql__complete_one(ex, cf, rt, same, nonnull, &out[k], &its[k].node->u.obj.vals[j], next,
                              nnext, capnext);
        return;
    }
    for (size_t k = 0; k < m; k++)
        gql__complete_one(ex, g->cfs[k], rt, same, nonnull, &out[k], g->slots[k], next, nnext,
                          capnext);
}

/* Whether every run of a level has a solo set of its own: each field is
 * then a group of one run (what gql__group_of would find, without it). */
static bool gql__level_solo(gql__run_t *runs, uint32_t nruns, uint64_t stamp)
{
    bool solo = true;
    for (uint32_t r = 0; r < nruns; r++) {
        gql_cset_t *set = (gql_cset_t *)runs[r].set;
        solo = solo && set->solo && set->stamp != stamp;
        set->stamp = stamp;
    }
    return solo;
}

/* A solo level: runs in order, each field's call in set order (the order
 * of first appearance gql__level's groups have). */
static void gql__level_direct(gql__ex_t *ex, gql__run_t *runs, uint32_t nruns, gql__witem_t **next,
                              uint32_t *nnext, uint32_t *capnext)
{
    size_t total = 0;
    for (uint32_t r = 0; r < nruns; r++) total += (size_t)runs[r].n * runs[r].set->n;
    gql_value_t *outs = arena_calloc(ex->a, total ? total : 1, sizeof *outs);
    gql__group_t g; /* one at a time; the arrays are set only when needed */
    for (uint32_t r = 0; r < nruns; r++) {
        const gql_cset_t *set = runs[r].set;
        for (uint32_t j = 0; j < set->n; j++, outs += runs[r].n) {
            gql_cfield_t *cf = &set->fields[j];
            g.ptype = set->type;
            g.def = cf->def;
            g.cf0 = cf;
            g.run = &runs[r];
            g.nruns = 1;
            g.n = runs[r].n;
            g.out = outs;
            g.selected = NULL;
            g.nselected = 0;
            g.selected_done = false;
            gql__run_group(ex, &g, next, nnext, capnext);
        }
    }
}

/* One level: every item's fields, grouped into one resolver call per
 * (parent type, field, arguments). Groups are called in order of first
 * appearance, members in item order. */
static void gql__level(gql__ex_t *ex, gql__witem_t *items, uint32_t n, int only_field,
                       gql__witem_t **next, uint32_t *nnext, uint32_t *capnext)
{
    arena_t *a = ex->a;
    gql__groups_t gs = {NULL, 0, 0};
    uint64_t stamp = gql_plan_next_stamp(ex->plan);
    gql__run_t *runs = arena_alloc(a, (n ? n : 1) * sizeof *runs), *run = NULL;
    uint32_t nruns = 0;
    gql_cset_t *set = NULL; /* siblings mostly share their set */
    /* the runs of items with the same set, with their result slots */
    for (uint32_t i = 0; i < n; i++) {
        gql__witem_t *it = &items[i];
        if (set == NULL || set->type != it->type || it->src != items[i - 1].src)
            set = gql_plan_fields(ex->plan, it->type, it->src, &ex->p->vars, a);
        if (it->node->kind != GQL_RN_OBJ) {
            run = NULL;
            continue;
        }
        gql__obj_slots(ex, it, set);
        if (run && run->set == set) {
            run->n++;
            continue;
        }
        run = &runs[nruns++];
        *run = (gql__run_t){it, 1, set, NULL};
    }
    if (only_field < 0 && gql__level_solo(runs, nruns, stamp)) {
        gql__level_direct(ex, runs, nruns, next, nnext, capnext);
        return;
    }
    /* the groups, their sizes and runs (room for the most there can be) */
    for (uint32_t r = 0; r < nruns; r++) gs.cap += runs[r].set->n;
    gs.v = arena_alloc(a, (gs.cap ? gs.cap : 1) * sizeof *gs.v);
    for (uint32_t r = 0; r < nruns; r++) {
        uint32_t j0, j1;
        gql__field_range(runs[r].set, only_field, &j0, &j1);
        for (uint32_t j = j0; j < j1; j++) {
            gql__group_t *g =
                gql__group_of(ex, &gs, &runs[r].set->fields[j], runs[r].items->type, stamp);
            g->n += runs[r].n;
            if (g->nruns++ == 0) g->run = &runs[r];
        }
    }
    size_t total = 0, shared = 0; /* one array of each for the whole level */
    for (uint32_t gi = 0; gi < gs.n; gi++) {
        total += gs.v[gi].n;
        if (gs.v[gi].nruns > 1) shared += gs.v[gi].n;
    }
    gql_value_t *outs = arena_calloc(a, total ? total : 1, sizeof *outs);
    void **parents = NULL;
    gql_rnode_t **slots = NULL;
    gql_cfield_t **cfs = NULL;
    if (shared) {
        parents = arena_alloc(a, shared * sizeof *parents);
        slots = arena_alloc(a, shared * sizeof *slots);
        cfs = arena_alloc(a, shared * sizeof *cfs);
    }
    for (uint32_t gi = 0, at = 0, sat = 0; gi < gs.n; gi++) {
        gql__group_t *g = &gs.v[gi];
        g->out = outs + at;
        at += g->n;
        if (g->nruns == 1) continue;
        g->parents = parents + sat;
        g->slots = slots + sat;
        g->cfs = cfs + sat;
        sat += g->n;
        g->n = 0;
    }
    /* the members of groups of several runs */
    for (uint32_t r = 0; shared && r < nruns; r++) {
        uint32_t j0, j1;
        gql__field_range(runs[r].set, only_field, &j0, &j1);
        for (uint32_t j = j0; j < j1; j++) {
            gql_cfield_t *cf = &runs[r].set->fields[j];
            gql__group_t *g = &gs.v[cf->gk->group];
            if (g->nruns == 1) continue;
            for (uint32_t k = 0; k < runs[r].n; k++) {
                g->parents[g->n] = runs[r].items[k].obj;
                g->slots[g->n] = &runs[r].items[k].node->u.obj.vals[j];
                g->cfs[g->n++] = cf;
            }
        }
    }
    for (uint32_t gi = 0; gi < gs.n; gi++) gql__run_group(ex, &gs.v[gi], next, nnext, capnext);
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

gql_status_t gql_execute(const gql_schema_t *s, const gql_resolvers_t *r, gql_request_t *req,
                         buf_t *out)
{
    gql_prepare(s, req);
    gql_prepared_t *p = req->prepared_;
    if (p->request_error) {
        buf_putc(out, '{');
        gql_errors_write(out, &p->errors);
        gql_json_write_extensions(req, out);
        buf_putc(out, '}');
        return GQL_REQUEST_ERROR;
    }
    gql__ex_t ex = {.s = s, .r = r, .req = req, .p = p, .a = req->arena, .errors = &p->errors};
    ex.call.arena = ex.a;
    ex.call.ctx = req->ctx;
    ex.call.schema = s;
    ex.plan = p->entry && p->entry->plan ? p->entry->plan : gql_plan_new(ex.a, s, p->doc, p->op);
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
            gql_cset_t *set = gql_plan_fields(ex.plan, root, NULL, &p->vars, ex.a);
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
    gql_json_write_node(out, &ex.root);
    gql_json_write_extensions(req, out);
    buf_putc(out, '}');
    return GQL_EXECUTED;
}
