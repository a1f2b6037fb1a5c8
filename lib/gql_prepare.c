/*
 * gql_prepare.c — a request up to execution: parse, validate, choose the
 * operation, check the limits (depth, fields, aliases, cost) and coerce the
 * variables. gql_prepare's result says which kind of operation would run, so
 * HTTP can refuse a mutation over GET before anything executes.
 */
#include "gql_exec_int.h"

#include "cJSON.h"

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
    /* lim's bounds copied here: read through lim they are reloaded at
     * every selection (the counters' stores might alias them) */
    long max_work, max_fields, max_aliases, max_cost;
    int max_depth;
    bool over;
} gql__lim_t;

static void gql__limits_walk(gql__lim_t *l, const gql_ast_selset_t *ss, int depth, long mult,
                             int frag_depth)
{
    for (uint32_t i = 0; i < ss->n && !l->over; i++) {
        const gql_ast_sel_t *s = ss->items[i];
        /* spreads of spreads can double at each level without adding fields */
        if (++l->work > l->max_work) {
            l->over = true;
            return;
        }
        if (s->kind == GQL_SEL_FIELD) {
            l->fields++;
            if (s->alias.len) l->aliases++;
            l->cost += mult;
            if (depth > l->max_depth_seen) l->max_depth_seen = depth;
            if (l->fields > l->max_fields || l->aliases > l->max_aliases || l->cost > l->max_cost ||
                depth > l->max_depth) {
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
            gql_ast_def_t *f = gql_doc_fragment(l->doc, s->name);
            if (f && frag_depth < 64) gql__limits_walk(l, f->selset, depth, mult, frag_depth + 1);
        }
    }
}

/* ---- prepare --------------------------------------------------------------------------- */

/* The operation to run: the named one, or the only one. NULL with *why. */
static gql_ast_def_t *gql__select_op(gql_doc_t *doc, const char *opname, arena_t *a,
                                     const char **why)
{
    gql_ast_def_t *op = NULL;
    for (uint32_t i = 0; i < doc->ndefs; i++) {
        gql_ast_def_t *d = &doc->defs[i];
        if (d->kind != GQL_DEF_OP) continue;
        if (opname == NULL) {
            if (op) {
                *why = "Must provide operation name if query contains multiple operations.";
                return NULL;
            }
            op = d;
        } else if (gql_name_eq(d->name, opname)) {
            op = d;
        }
    }
    if (op == NULL)
        *why = opname ? arena_printf(a, "Unknown operation named \"%s\".", opname)
                      : "Must provide an operation.";
    return op;
}

/* Parse, bound, validate and choose the operation in the request's arena;
 * -1 after adding the request error. */
static int gql__parse_validate(const gql_schema_t *s, gql_request_t *req, gql_prepared_t *p,
                               const gql_limits_t *lim, const char *opname)
{
    arena_t *a = req->arena;
    err_t e;
    gql_loc_t loc = {0, 0};
    p->doc = gql_parse(a, req->query, req->query_len, &e, &loc);
    if (p->doc == NULL) {
        gql__req_error(p, ERR_PARSE, &loc, 1, e.msg);
        return -1;
    }
    /* bounds validation's work (some rules compare fields pairwise) */
    if ((long)p->doc->nfields > (long)lim->max_fields) {
        gql__req_error(p, ERR_TOO_COMPLEX, NULL, 0,
                       arena_printf(a,
                                    "Query is too complex: %u fields in the document (limit %d).",
                                    p->doc->nfields, lim->max_fields));
        return -1;
    }
    if (gql_validate(s, p->doc, &p->errors)) {
        p->request_error = true;
        return -1;
    }
    const char *why = NULL;
    p->op = gql__select_op(p->doc, opname, a, &why);
    if (p->op == NULL) {
        gql__req_error(p, ERR_BAD_INPUT, NULL, 0, why);
        return -1;
    }
    return 0;
}

/* The document from the cache, or parsed, validated and added to it. false
 * when the document has errors (or is too big to keep): the caller takes
 * the ordinary path, which reports them. */
static bool gql__from_cache(const gql_schema_t *s, gql_request_t *req, gql_prepared_t *p,
                            const gql_limits_t *lim, const char *opname)
{
    gql_doc_cache_t *c = req->doc_cache;
    gql_doc_entry_t *e = gql_doc_cache_lookup(c, s, req->query, req->query_len, opname);
    if (e == NULL) {
        e = gql_doc_cache_begin(c, req->query, req->query_len, opname);
        if (e == NULL) return false;
        err_t err;
        gql_loc_t loc;
        gql_errors_t es = {.arena = &e->arena};
        const char *why;
        e->doc = gql_parse(&e->arena, e->query, e->qlen, &err, &loc);
        if (e->doc == NULL || (long)e->doc->nfields > (long)lim->max_fields ||
            gql_validate(s, e->doc, &es) ||
            (e->op = gql__select_op(e->doc, opname, &e->arena, &why)) == NULL) {
            gql_doc_cache_discard(e);
            return false;
        }
        /* Fields collected once: a hit then executes without collecting.
         * Without a frozen plan (@skip/@include on a variable, or a plan
         * over its budget) each request collects its own. */
        const gql_type_t *root = e->op->op == GQL_OP_QUERY      ? s->query
                                 : e->op->op == GQL_OP_MUTATION ? s->mutation
                                                                : NULL;
        gql_coerce_prepare_vars(s, &e->arena, e->op);
        e->plan = gql_plan_new(&e->arena, s, e->doc, e->op);
        if (gql_plan_complete(e->plan, root, 4L * lim->max_fields + 64)) e->plan = NULL;
        if (gql_doc_cache_commit(c, e) != 0) {
            gql_doc_cache_discard(e);
            return false;
        }
    }
    /* kept under other limits: the ordinary path reports a document over these */
    if ((long)e->doc->nfields > (long)lim->max_fields) return false;
    p->entry = e;
    p->doc = e->doc;
    p->op = e->op;
    return true;
}

/* The limits walk; -1 after adding the request error. */
static int gql__check_limits(gql_prepared_t *p, const gql_limits_t *lim, arena_t *a)
{
    if (p->entry && p->entry->lim_ok && memcmp(&p->entry->lim, lim, sizeof *lim) == 0) return 0;
    gql__lim_t l = {.doc = p->doc,
                    .lim = lim,
                    .max_work = 100L * lim->max_fields + 10000,
                    .max_fields = lim->max_fields,
                    .max_aliases = lim->max_aliases,
                    .max_cost = lim->max_cost,
                    .max_depth = lim->max_depth};
    gql__limits_walk(&l, p->op->selset, 1, 1, 0);
    if (!l.over) {
        if (p->entry) {
            p->entry->lim = *lim;
            p->entry->lim_ok = true;
        }
        return 0;
    }
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
    return -1;
}

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
    if (req->query == NULL) {
        gql__req_error(p, ERR_BAD_INPUT, NULL, 0, "Must provide query string.");
        return GQL_OP_NONE;
    }
    const char *opname = req->operation_name && req->operation_name[0] ? req->operation_name : NULL;
    if (!(req->doc_cache && gql__from_cache(s, req, p, lim, opname)) &&
        gql__parse_validate(s, req, p, lim, opname))
        return GQL_OP_NONE;
    p->op_type = p->op->op;
    if (gql__check_limits(p, lim, a)) return GQL_OP_NONE;
    const cJSON *vars = req->variables;
    if (vars == NULL && req->variables_json && req->variables_json[0]) {
        vars = json_in_read(a, req->variables_json, strlen(req->variables_json));
        if (vars == NULL || !(cJSON_IsObject(vars) || cJSON_IsNull(vars))) {
            gql__req_error(p, ERR_BAD_INPUT, NULL, 0,
                           "Variables are invalid JSON or not an object.");
            return GQL_OP_NONE;
        }
    }
    /* json_in_read's strings live in the request's arena: values point at them */
    if (gql_coerce_vars(s, a, p->op, vars, vars != req->variables, &p->vars, &p->errors))
        p->request_error = true;
    return p->request_error ? GQL_OP_NONE : p->op_type;
}
