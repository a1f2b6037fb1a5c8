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
    bool over;
} gql__lim_t;

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
            gql_ast_def_t *f = gql_doc_fragment(l->doc, s->name);
            if (f && frag_depth < 64) gql__limits_walk(l, f->selset, depth, mult, frag_depth + 1);
        }
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
    if (gql_coerce_vars(s, a, p->op, vars, &p->vars, &p->errors)) p->request_error = true;
    cJSON_Delete(parsed);
    return p->request_error ? GQL_OP_NONE : p->op_type;
}
