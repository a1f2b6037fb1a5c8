/*
 * gql_exec_int.h — what the request stages share, internal to
 * gql_prepare.c (operation, limits), gql_coerce.c (input and result
 * coercion), gql_exec.c (execution) and gql_json_out.c (the response).
 *
 * Dependencies run one way: gql_exec -> gql_prepare -> gql_coerce ->
 * gql_value, and gql_exec -> gql_json_out. Everything here lives in the
 * request's arena.
 */
#ifndef OPONN_GQL_EXEC_INT_H
#define OPONN_GQL_EXEC_INT_H

#include "gql_int.h"
#include "json_in.h"

/* ---- execution plan (gql_plan.c) ------------------------------------------------ */

/* A group key: (parent type, field, arguments as written). Every selection
 * of one level with the same key is answered by one resolver call. stamp
 * and group are the executing request's: group is the key's group in the
 * level numbered stamp (stamps never repeat within a plan, so a plan kept
 * across requests needs no reset). */
typedef struct gql_gkey gql_gkey_t;
struct gql_gkey {
    const gql_type_t *ptype;
    const gql_field_t *def;    /* NULL: an unknown field, never grouped */
    const gql_ast_sel_t *node; /* the first selection, whose arguments are the key's */
    const char *argsig;        /* its arguments as written ("" none), NULL until needed */
    gql_gkey_t *next;          /* the plan's hash chain */
    /* the depths (bit d: a set at depth d, the root set's 0) of the fields
     * with this key; depth_shared: two at one depth (or one past 63), so
     * they can meet in one level (a level is one depth of the response) */
    uint64_t depths;
    uint64_t stamp;
    /* the resolver of the key for the table `r` (gql_exec.c's, set on first use) */
    const void *r;
    gql_resolve_fn fn;
    uint32_t group;
    bool plain;      /* for r: a field of the schema without arguments, fn set */
    int8_t out_kind; /* gql_exec.c's gql__output_kind of the field's type, once out_done */
    bool out_done;
    bool depth_shared;
};

typedef struct gql_cset gql_cset_t;

/* A collected field: the selections of one response key in one set. */
typedef struct {
    gql_name_t key;
    const gql_ast_sel_t **nodes;
    uint32_t n, cap;
    uint32_t index; /* in its gql_cset_t */
    uint32_t depth; /* its set's */
    const gql_field_t *def;
    gql_gkey_t *gk;
    gql_cset_t *sub; /* collected sub-fields, one set per concrete type (list) */
    /* the key as the response writes it, in a frozen plan (else p is
     * NULL): okey.p[-2..-1] is `,"`, okey.p[len..len+1] is `":`, and 16
     * readable bytes follow, so the writer copies `,"key":` in fixed
     * 16-byte moves (see gql_plan.c) */
    gql_name_t okey;
} gql_cfield_t;

/* The fields collected for one concrete type, in response order. */
struct gql_cset {
    const gql_type_t *type;
    gql_cfield_t *fields;
    uint32_t n, cap;
    uint32_t depth; /* 0 for the operation's */
    /* a frozen plan's set whose keys no other field shares: a level whose
     * sets are solo (each in one run) calls field by field, no grouping */
    bool solo;
    uint64_t stamp; /* the level that last ran it (gql_exec.c) */
    gql_cset_t *next;
};

typedef struct gql_plan gql_plan_t;

/* An empty plan for op of doc, in arena a (which must outlive it). */
gql_plan_t *gql_plan_new(arena_t *a, const gql_schema_t *s, gql_doc_t *doc,
                         const gql_ast_def_t *op);
/* The fields collected for concrete type t under the selections of src
 * (the operation's when NULL); collected (vars decide @skip/@include) on
 * first use. scratch: the request's arena, for a set a frozen plan lacks. */
gql_cset_t *gql_plan_fields(gql_plan_t *pl, const gql_type_t *t, gql_cfield_t *src,
                            const gql_value_t *vars, arena_t *scratch);
/* Collects every set execution can reach from root and freezes the plan.
 * -1 (the plan stays usable, not frozen) when @skip/@include read a
 * variable or more than budget fields are collected. */
int gql_plan_complete(gql_plan_t *pl, const gql_type_t *root, long budget);
/* A level number never used before in this plan. */
uint64_t gql_plan_next_stamp(gql_plan_t *pl);

/* ---- document cache (gql_doc_cache.c) ---------------------------------------- */

/* One cached document: its own copy of the query (the AST points into it),
 * the AST validated against the cache's schema, and the chosen operation. */
typedef struct gql_doc_entry gql_doc_entry_t;
struct gql_doc_entry {
    gql_doc_entry_t *hnext, *prev, *next; /* hash chain; LRU list */
    uint64_t hash;
    const char *query, *opname;
    size_t qlen, bytes;
    arena_t arena; /* everything of the entry but the struct itself */
    gql_doc_t *doc;
    gql_ast_def_t *op;
    gql_plan_t *plan; /* frozen, or NULL (each request collects its own) */
    gql_limits_t lim; /* the limits the operation last passed */
    bool lim_ok;
};

/* The entry for (q, op) of schema s, made most recently used; NULL on a
 * miss. Counts the hit or miss. */
gql_doc_entry_t *gql_doc_cache_lookup(gql_doc_cache_t *c, const gql_schema_t *s, const char *q,
                                      size_t qlen, const char *op);
/* A new entry, not yet in the cache, holding copies of q and op: the caller
 * parses e->query into e->arena, then commits or discards it. NULL when out
 * of memory. */
gql_doc_entry_t *gql_doc_cache_begin(gql_doc_cache_t *c, const char *q, size_t qlen,
                                     const char *op);
/* Adds e, evicting the least recently used entries over the byte bound.
 * -1 when e alone is over it: e is not added (discard it). */
int gql_doc_cache_commit(gql_doc_cache_t *c, gql_doc_entry_t *e);
void gql_doc_cache_discard(gql_doc_entry_t *e);

/* A prepared request: the document, the chosen operation, the coerced
 * variables and the errors so far (gql_prepare fills it). */
struct gql_prepared {
    gql_doc_t *doc;
    gql_doc_entry_t *entry; /* the document cache's entry, or NULL */
    gql_ast_def_t *op;
    gql_op_t op_type;
    gql_errors_t errors;
    bool request_error;
    gql_value_t vars; /* GQL_INPUT_OBJECT of the provided/defaulted variables */
};

/* The fragment definition named name, or NULL. */
static inline gql_ast_def_t *gql_doc_fragment(gql_doc_t *doc, gql_name_t name)
{
    for (uint32_t i = 0; i < doc->ndefs; i++)
        if (doc->defs[i].kind == GQL_DEF_FRAGMENT && gql_names_eq(doc->defs[i].name, name))
            return &doc->defs[i];
    return NULL;
}

/* ---- coercion (gql_coerce.c) ------------------------------------------------ */

/* The coerced variable named name, or NULL (vars may be NULL). */
const gql_value_t *gql_var_get(const gql_value_t *vars, gql_name_t name);

/* Coerces the operation's variables from vars (a cJSON object or NULL) into
 * *out (GQL_INPUT_OBJECT); each invalid or missing variable adds a request
 * error to es. Returns the number of errors added. vars_kept: vars lives as
 * long as a (json_in_read's), so string values point into it. */
uint32_t gql_coerce_vars(const gql_schema_t *s, arena_t *a, const gql_ast_def_t *op,
                         const void *vars, bool vars_kept, gql_value_t *out, gql_errors_t *es);

/* Resolves the types and names of op's variables once, into a (the
 * arena of a cached document, which op lives in). */
void gql_coerce_prepare_vars(const gql_schema_t *s, arena_t *a, gql_ast_def_t *op);

/* Coerces the arguments of field f at selection node (defaults applied) into
 * *out. -1 with *msg (arena) when one is invalid or a required one missing. */
int gql_coerce_args(const gql_schema_t *s, arena_t *a, const gql_value_t *vars,
                    const gql_field_t *f, const gql_ast_sel_t *node, gql_value_t *out,
                    const char **msg);

/* Result coercion of a leaf of scalar or enum type t: -1 with *msg when v
 * cannot be represented. */
int gql_serialize(const gql_schema_t *s, arena_t *a, const gql_type_t *t, const gql_value_t *v,
                  gql_value_t *out, const char **msg);

/* ---- the result tree (gql_exec.c builds it, gql_json_out.c writes it) -------- */

typedef enum { GQL_RN_PENDING, GQL_RN_NULL, GQL_RN_LEAF, GQL_RN_LIST, GQL_RN_OBJ } gql_rkind_t;

typedef struct gql_rnode gql_rnode_t;
struct gql_rnode {
    uint8_t kind;
    bool nonnull;
    int32_t index; /* in a list; -1 for a field (its key is its parent's set's) */
    gql_rnode_t *parent;
    union {
        gql_value_t leaf;
        struct {
            gql_rnode_t *items;
            uint32_t n;
        } list;
        struct {
            gql_rnode_t *vals; /* one per field of set, in its order */
            const gql_cset_t *set;
            uint32_t n;
        } obj;
    } u;
};

/* ---- JSON output (gql_json_out.c) ------------------------------------------- */

/* The response key of n, a field's slot in an object. */
static inline gql_name_t gql_rnode_key(const gql_rnode_t *n)
{
    return n->parent->u.obj.set->fields[n - n->parent->u.obj.vals].key;
}

/* The result tree as JSON ("null" for a nulled node). */
void gql_json_write_node(buf_t *b, const gql_rnode_t *n);
/* ,"extensions":{...} from req->extensions, or nothing when it writes nothing. */
void gql_json_write_extensions(gql_request_t *req, buf_t *out);
/* An integer in decimal, without printf. */
void gql_json_put_int(buf_t *b, int64_t v);

#endif
