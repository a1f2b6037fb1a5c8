/*
 * gql_plan.c — what execution needs to know about a document before any
 * resolver runs: the fields collected per selection and concrete type
 * (fragments expanded, @skip/@include applied, field definitions
 * resolved), and which selections share one resolver call (same parent
 * type, field and arguments as written: a group key).
 *
 * A plan lives in one arena. For a request without the document cache it
 * is the request's arena and sets are collected as execution reaches them.
 * For a cached document, gql_plan_complete collects every set execution can
 * reach once, in the entry's arena; the plan is then frozen: execution only
 * reads it (apart from the level stamps of keys and sets and a key's
 * resolver cache, see gql_exec_int.h), so a hit does
 * no collection, no name lookup and no allocation for it.
 */
#include "gql_exec_int.h"

#define GQL__GK_BUCKETS 64 /* power of two */

struct gql_plan {
    const gql_schema_t *s;
    gql_doc_t *doc;
    const gql_ast_def_t *op;
    arena_t *a;
    gql_cset_t *root_sets;
    gql_gkey_t *gk[GQL__GK_BUCKETS];
    uint64_t stamp;
    long ncfields;
    bool frozen;  /* complete: collection never runs again */
    bool var_dep; /* some @skip/@include reads a variable */
};

gql_plan_t *gql_plan_new(arena_t *a, const gql_schema_t *s, gql_doc_t *doc, const gql_ast_def_t *op)
{
    gql_plan_t *pl = arena_calloc(a, 1, sizeof *pl);
    pl->s = s;
    pl->doc = doc;
    pl->op = op;
    pl->a = a;
    return pl;
}

uint64_t gql_plan_next_stamp(gql_plan_t *pl)
{
    return ++pl->stamp;
}

/* @skip / @include; vars NULL while completing a plan, which then gives up
 * on a document whose conditions read variables. */
static bool gql__included(gql_plan_t *pl, const gql_value_t *vars, const gql_ast_dir_t *dirs,
                          uint32_t n)
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
                pl->var_dep = true;
                const gql_value_t *x = gql_var_get(vars, v->s);
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

/* The arguments of a field selection as written ("" when none): two
 * selections with the same text get the same coerced values. */
static const char *gql__argsig(arena_t *a, const gql_ast_sel_t *n)
{
    if (n->nargs == 0) return "";
    buf_t b = BUF_INIT;
    for (uint32_t i = 0; i < n->nargs; i++) {
        buf_append(&b, n->args[i].name.p, n->args[i].name.len);
        buf_putc(&b, ':');
        gql_ast_value_print(&b, n->args[i].value);
        buf_putc(&b, ',');
    }
    const char *s = arena_strndup(a, b.data, b.len);
    buf_free(&b);
    return s;
}

/* The arguments of g as written, made when first compared: most keys
 * are never compared with another of the same field and type. */
static const char *gql__gk_sig(arena_t *a, gql_gkey_t *g)
{
    if (g->argsig == NULL) g->argsig = gql__argsig(a, g->node);
    return g->argsig;
}

/* The group key of a new collected field: shared with every field of the
 * plan with the same parent type, definition and arguments. `link` false
 * (a frozen plan's stray set, see gql_plan_fields) makes a key of its own:
 * fewer fields per resolver call, the same answers. */
static gql_gkey_t *gql__gkey(gql_plan_t *pl, arena_t *a, const gql_type_t *t, gql_cfield_t *cf,
                             uint32_t depth, bool link)
{
    gql_gkey_t *g = arena_calloc(a, 1, sizeof *g);
    uint64_t bit = depth < 64 ? (uint64_t)1 << depth : 0;
    g->depths = bit;
    g->depth_shared = bit == 0;
    g->ptype = t;
    g->def = cf->def;
    g->node = cf->nodes[0];
    g->argsig = g->node->nargs ? NULL : "";
    size_t h = cf->def ? ((size_t)cf->def->index * 31u + t->index) & (GQL__GK_BUCKETS - 1) : 0;
    if (link && cf->def) {
        for (gql_gkey_t *o = pl->gk[h]; o; o = o->next)
            if (o->def == cf->def && o->ptype == t &&
                strcmp(gql__gk_sig(pl->a, o), gql__gk_sig(a, g)) == 0) {
                o->depth_shared = o->depth_shared || bit == 0 || (o->depths & bit);
                o->depths |= bit;
                return o; /* g stays unused in the arena */
            }
        g->next = pl->gk[h];
        pl->gk[h] = g;
    }
    return g;
}

/* Collects ss into set for concrete type t. The group keys of new fields
 * are made afterwards (gql__set_keys): a field's first node decides them. */
static void gql__collect(gql_plan_t *pl, arena_t *a, const gql_value_t *vars, const gql_type_t *t,
                         const gql_ast_selset_t *ss, gql_cset_t *set, const gql_ast_def_t **visited,
                         uint32_t *nvisited)
{
    for (uint32_t i = 0; i < ss->n; i++) {
        const gql_ast_sel_t *s = ss->items[i];
        if (!gql__included(pl, vars, s->dirs, s->ndirs)) continue;
        if (s->kind == GQL_SEL_FIELD) {
            gql_name_t key = gql_sel_key(s);
            gql_cfield_t *cf = NULL;
            for (uint32_t k = 0; k < set->n; k++)
                if (gql_names_eq(set->fields[k].key, key)) {
                    cf = &set->fields[k];
                    break;
                }
            if (cf == NULL) {
                GQL_GROW(a, set->fields, set->n, set->cap);
                cf = &set->fields[set->n];
                memset(cf, 0, sizeof *cf);
                cf->index = set->n++;
                cf->depth = set->depth;
                cf->key = key;
                cf->def = gql_field_in(s->def, t);
                if (cf->def == NULL)
                    cf->def = gql_field_lookup(pl->s, t, s->name, t == pl->s->query);
                pl->ncfields++;
            }
            GQL_GROW(a, cf->nodes, cf->n, cf->cap);
            cf->nodes[cf->n++] = s;
        } else if (s->kind == GQL_SEL_INLINE) {
            if (s->type_cond.len == 0 || gql__cond_matches(gql_cond_type(pl->s, s), t))
                gql__collect(pl, a, vars, t, s->selset, set, visited, nvisited);
        } else {
            bool seen = false;
            const gql_ast_def_t *f = gql_doc_fragment(pl->doc, s->name);
            for (uint32_t k = 0; k < *nvisited && !seen; k++) seen = visited[k] == f;
            if (seen || f == NULL || *nvisited >= 256) continue;
            visited[(*nvisited)++] = f;
            if (gql__cond_matches(gql_def_cond_type(pl->s, f), t))
                gql__collect(pl, a, vars, t, f->selset, set, visited, nvisited);
        }
    }
}

/* The okeys of set's fields (see gql_cfield_t.okey): one piece
 * `,"a":,"b":...` and 16 zero bytes. Names need no JSON escaping. Only a
 * plan kept across requests has them: made per request they cost more
 * than the writer saves. */
static void gql__out_keys(arena_t *a, gql_cset_t *set)
{
    size_t total = 16;
    for (uint32_t j = 0; j < set->n; j++) total += set->fields[j].key.len + 4;
    char *w = arena_alloc(a, total);
    for (uint32_t j = 0; j < set->n; j++) {
        gql_name_t key = set->fields[j].key;
        *w++ = ',';
        *w++ = '"';
        set->fields[j].okey = (gql_name_t){w, key.len};
        for (uint32_t i = 0; i < key.len; i++) *w++ = key.p[i]; /* short: no call */
        *w++ = '"';
        *w++ = ':';
    }
    memset(w, 0, 16);
}

gql_cset_t *gql_plan_fields(gql_plan_t *pl, const gql_type_t *t, gql_cfield_t *src,
                            const gql_value_t *vars, arena_t *scratch)
{
    gql_cset_t **head = src ? &src->sub : &pl->root_sets;
    for (gql_cset_t *c = *head; c; c = c->next)
        if (c->type == t) return c;
    /* A frozen plan lacks a set only if gql_plan_complete missed a case:
     * collect it in the request's arena and keep it out of the plan. */
    bool link = !pl->frozen;
    arena_t *a = link ? pl->a : scratch;
    gql_cset_t *set = arena_calloc(a, 1, sizeof *set);
    set->type = t;
    set->depth = src ? src->depth + 1 : 0;
    const gql_ast_def_t *visited[256];
    uint32_t nvisited = 0;
    if (src == NULL) {
        gql__collect(pl, a, vars, t, pl->op->selset, set, visited, &nvisited);
    } else {
        for (uint32_t i = 0; i < src->n; i++)
            if (src->nodes[i]->selset)
                gql__collect(pl, a, vars, t, src->nodes[i]->selset, set, visited, &nvisited);
    }
    for (uint32_t j = 0; j < set->n; j++)
        set->fields[j].gk = gql__gkey(pl, a, t, &set->fields[j], set->depth, link);
    if (link) {
        set->next = *head;
        *head = set;
    }
    return set;
}

/* Every set under the fields of set, for each concrete type a field's
 * value can have. -1 past the budget of collected fields. */
static int gql__complete_set(gql_plan_t *pl, gql_cset_t *set, long budget, int depth)
{
    if (depth > GQL_MAX_NESTING) return -1;
    gql__out_keys(pl->a, set);
    for (uint32_t j = 0; j < set->n; j++) {
        gql_cfield_t *cf = &set->fields[j];
        if (cf->def == NULL) continue;
        gql_type_t *nt = gql_typeref_named(cf->def->type);
        if (!gql_type_composite(nt)) continue;
        gql_type_t *const *types = nt->kind == GQL_T_OBJECT ? &nt : nt->possible;
        uint32_t ntypes = nt->kind == GQL_T_OBJECT ? 1 : nt->npossible;
        for (uint32_t k = 0; k < ntypes; k++) {
            if (types[k]->kind != GQL_T_OBJECT) continue;
            gql_cset_t *sub = gql_plan_fields(pl, types[k], cf, NULL, NULL);
            if (pl->var_dep || pl->ncfields > budget) return -1;
            if (gql__complete_set(pl, sub, budget, depth + 1)) return -1;
        }
    }
    return 0;
}

/* gql_cset_t.solo for set and the sets under it, once the keys are final. */
static void gql__mark_solo(gql_cset_t *set)
{
    set->solo = true;
    for (uint32_t j = 0; j < set->n; j++) {
        if (set->fields[j].gk->depth_shared) set->solo = false;
        for (gql_cset_t *sub = set->fields[j].sub; sub; sub = sub->next) gql__mark_solo(sub);
    }
}

int gql_plan_complete(gql_plan_t *pl, const gql_type_t *root, long budget)
{
    if (root) {
        gql_cset_t *set = gql_plan_fields(pl, root, NULL, NULL, NULL);
        if (pl->var_dep || pl->ncfields > budget || gql__complete_set(pl, set, budget, 0))
            return -1;
    }
    for (gql_cset_t *set = pl->root_sets; set; set = set->next) gql__mark_solo(set);
    pl->frozen = true;
    return 0;
}
