/*
 * gql_int.h — internal structures of the GraphQL engine (lib/gql*.c only).
 *
 * The AST of executable documents, the schema model built from SDL, and the
 * helpers the stages share. Names in the AST are slices (ptr, len) into the
 * document text or the arena; nothing here is NUL-terminated unless it says.
 */
#ifndef OPONN_GQL_INT_H
#define OPONN_GQL_INT_H

#include "gql.h"

#include <string.h>

struct gql_sdl_def;

/* Locations kept per error (graphql-js lists every node involved). */
#define GQL_MAX_ERROR_LOCS 16

/* Nesting limit of the parser (selection sets, values, type references). */
#define GQL_MAX_NESTING 256

typedef struct {
    const char *p;
    uint32_t len;
} gql_name_t;

typedef struct {
    uint32_t line, col;
} gql_loc_t;

/* Names are short: inline word compares (the last word overlapping the
 * one before) beat both a byte loop and a libc memcmp call (measured). */
static inline bool gql_bytes_eq(const char *a, const char *b, size_t n)
{
    if (n >= 8) {
        uint64_t x, y;
        for (size_t i = 0; i + 8 < n; i += 8) {
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            if (x != y) return false;
        }
        memcpy(&x, a + n - 8, 8);
        memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    if (n >= 4) {
        uint32_t x, y, u, v;
        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        memcpy(&u, a + n - 4, 4);
        memcpy(&v, b + n - 4, 4);
        return x == y && u == v;
    }
    return n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1]);
}
static inline bool gql_name_eq(gql_name_t a, const char *s)
{
    size_t i = 0;
    for (; i < a.len; i++)
        if (s[i] != a.p[i]) return false; /* also stops at s's NUL */
    return s[i] == '\0';
}
static inline bool gql_names_eq(gql_name_t a, gql_name_t b)
{
    return a.len == b.len && gql_bytes_eq(a.p, b.p, a.len);
}
/* The hash of the schema's name tables (gql_schema_type, gql_type_field):
 * length, first, middle and last byte tell a schema's names apart well
 * enough, and cost a few instructions where a loop over the bytes costs
 * more than the lookup it serves. Probes are bounded by the table (the
 * schema's names), whatever the name looked up. */
static inline uint32_t gql_name_hash(const char *p, size_t n)
{
    if (n == 0) return 0;
    uint32_t h = (uint32_t)n * 0x9E3779B1u;
    h ^= (uint32_t)(unsigned char)p[0] | (uint32_t)(unsigned char)p[n / 2] << 8 |
         (uint32_t)(unsigned char)p[n - 1] << 16;
    h *= 0x85EBCA6Bu;
    return h ^ (h >> 16);
}

/* ---- lexer ------------------------------------------------------------------ */

typedef enum {
    GQL_TOK_EOF = 0,
    GQL_TOK_BANG,
    GQL_TOK_DOLLAR,
    GQL_TOK_AMP,
    GQL_TOK_LPAREN,
    GQL_TOK_RPAREN,
    GQL_TOK_SPREAD,
    GQL_TOK_COLON,
    GQL_TOK_EQUALS,
    GQL_TOK_AT,
    GQL_TOK_LBRACKET,
    GQL_TOK_RBRACKET,
    GQL_TOK_LBRACE,
    GQL_TOK_PIPE,
    GQL_TOK_RBRACE,
    GQL_TOK_NAME,
    GQL_TOK_INT,
    GQL_TOK_FLOAT,
    GQL_TOK_STRING,
    GQL_TOK_BLOCK_STRING,
} gql_tok_kind_t;

typedef struct {
    gql_tok_kind_t kind;
    const char *p; /* raw text */
    uint32_t len;
    gql_loc_t loc;
} gql_tok_t;

typedef struct {
    const char *src, *end, *cur;
    const char *line_start;
    uint32_t line;
    gql_tok_t tok; /* current token */
    arena_t *arena;
    err_t *err;
    gql_loc_t err_loc;
    int depth;
    bool ascii;       /* the whole source is ASCII: columns are byte offsets */
    const char *cc_p; /* last position whose column is known (see gql__loc) */
    uint32_t cc_col;
} gql_lexer_t;

/* ---- AST of values and types -------------------------------------------------- */

typedef enum {
    GQL_AV_VAR,
    GQL_AV_INT,
    GQL_AV_FLOAT,
    GQL_AV_STRING,
    GQL_AV_BOOL,
    GQL_AV_NULL,
    GQL_AV_ENUM,
    GQL_AV_LIST,
    GQL_AV_OBJECT,
} gql_av_kind_t;

typedef struct gql_ast_value gql_ast_value_t;
typedef struct {
    gql_name_t name;
    gql_loc_t loc;
    gql_ast_value_t *value;
} gql_ast_arg_t; /* also an object field */

struct gql_ast_value {
    gql_av_kind_t kind;
    gql_loc_t loc;
    gql_name_t s; /* name (var, enum), raw number, decoded string */
    bool b;
    uint32_t n;
    gql_ast_value_t **items; /* list */
    gql_ast_arg_t *fields;   /* object */
};

typedef struct gql_ast_type gql_ast_type_t;
struct gql_ast_type {
    enum { GQL_AT_NAMED, GQL_AT_LIST, GQL_AT_NONNULL } kind;
    gql_loc_t loc;
    gql_name_t name;
    gql_ast_type_t *of;
};

typedef struct {
    gql_name_t name;
    gql_loc_t loc;
    gql_ast_arg_t *args;
    uint32_t nargs;
} gql_ast_dir_t;

/* ---- AST of executable documents -------------------------------------------- */

typedef struct gql_ast_sel gql_ast_sel_t;
typedef struct {
    gql_ast_sel_t **items;
    uint32_t n;
    gql_loc_t loc;
    void *overlap_cache; /* validation's fields-and-fragment-names of this set */
} gql_ast_selset_t;

typedef enum { GQL_SEL_FIELD, GQL_SEL_SPREAD, GQL_SEL_INLINE } gql_sel_kind_t;

struct gql_ast_sel {
    gql_sel_kind_t kind;
    gql_loc_t loc;
    gql_name_t alias;     /* len 0 when none */
    gql_name_t name;      /* field name or fragment name */
    gql_name_t type_cond; /* inline fragment; len 0 when none */
    gql_loc_t name_loc;   /* of the spread's fragment name */
    gql_loc_t tc_loc;     /* of type_cond */
    gql_ast_arg_t *args;
    uint32_t nargs;
    gql_ast_dir_t *dirs;
    uint32_t ndirs;
    gql_ast_selset_t *selset; /* NULL for leaves and spreads */
    /* caches filled by validation and execution */
    const struct gql_type *tc_type; /* type_cond resolved (see gql_cond_type) */
    bool tc_done;
    const struct gql_field *def;
    uint32_t id; /* field index in the document, for batching */
};

static inline gql_name_t gql_sel_key(const gql_ast_sel_t *s)
{
    return s->alias.len ? s->alias : s->name;
}

typedef struct {
    gql_name_t name;
    gql_loc_t loc;
    gql_ast_type_t *type;
    gql_ast_value_t *def; /* default or NULL */
    gql_ast_dir_t *dirs;
    uint32_t ndirs;
    /* a cached document's, resolved once (gql_coerce_prepare_vars) */
    const struct gql_typeref *tr;
    const char *cname; /* name, NUL-terminated */
} gql_ast_vardef_t;

typedef struct {
    enum { GQL_DEF_OP, GQL_DEF_FRAGMENT, GQL_DEF_OTHER } kind;
    gql_loc_t loc;
    gql_op_t op;     /* operations */
    gql_name_t name; /* len 0 for an anonymous operation */
    gql_loc_t name_loc;
    gql_loc_t tc_loc;
    gql_ast_vardef_t *vars;
    uint32_t nvars;
    gql_name_t type_cond;           /* fragments */
    const struct gql_type *tc_type; /* cache, see gql_def_cond_type */
    bool tc_done;
    gql_ast_dir_t *dirs;
    uint32_t ndirs;
    gql_ast_selset_t *selset;
} gql_ast_def_t;

typedef struct {
    gql_ast_def_t *defs;
    uint32_t ndefs;
    uint32_t nfields; /* number of field selections, ids 0..nfields-1 */
} gql_doc_t;

/* Parses an executable document. Returns NULL with *e (ERR_PARSE) and *loc on
 * a syntax error. Type-system definitions are kept as GQL_DEF_OTHER for
 * validation to refuse. All memory from arena. */
gql_doc_t *gql_parse(arena_t *a, const char *src, size_t len, err_t *e, gql_loc_t *loc);

/* Lexer/parser helpers shared by the SDL parser (gql_parse.c). */
void gql_lex_init(gql_lexer_t *lx, arena_t *a, const char *src, size_t len, err_t *e);
int gql_lex_next(gql_lexer_t *lx);
int gql_parse_error(gql_lexer_t *lx, gql_loc_t loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int gql_expect(gql_lexer_t *lx, gql_tok_kind_t k);
bool gql_peek_keyword(gql_lexer_t *lx, const char *kw);
int gql_parse_name(gql_lexer_t *lx, gql_name_t *out);
gql_ast_value_t *gql_parse_value(gql_lexer_t *lx, bool is_const);
gql_ast_type_t *gql_parse_type(gql_lexer_t *lx);
int gql_parse_directives(gql_lexer_t *lx, bool is_const, gql_ast_dir_t **out, uint32_t *n);
/* Parses one type-system definition (the lexer is at its first token, a
 * description or a keyword). NULL on a syntax error. gql_parse uses it to
 * keep type-system definitions for validation to refuse. */
struct gql_sdl_def *gql_parse_sdl_definition(gql_lexer_t *lx);
/* True when the current token starts a type-system definition. */
bool gql_at_sdl_definition(gql_lexer_t *lx);

/* ---- SDL AST (consumed by gql_schema.c) ------------------------------------- */

/* One member of a definition: a field, argument, input field, enum value,
 * union member, schema operation type or directive location. */
typedef struct gql_sdl_item gql_sdl_item_t;
struct gql_sdl_item {
    gql_name_t name;
    gql_loc_t loc;
    const char *desc;
    struct gql_sdl_item *args;
    uint32_t nargs;
    gql_ast_type_t *type;
    gql_ast_value_t *def;
    gql_ast_dir_t *dirs;
    uint32_t ndirs;
};

typedef enum {
    GQL_SDL_SCHEMA,
    GQL_SDL_SCALAR,
    GQL_SDL_OBJECT,
    GQL_SDL_INTERFACE,
    GQL_SDL_UNION,
    GQL_SDL_ENUM,
    GQL_SDL_INPUT,
    GQL_SDL_DIRECTIVE,
} gql_sdl_kind_t;

typedef struct gql_sdl_def {
    gql_sdl_kind_t kind;
    bool extend;
    bool repeatable;
    gql_name_t name;
    gql_loc_t loc;
    const char *desc;
    gql_ast_dir_t *dirs;
    uint32_t ndirs;
    gql_sdl_item_t *ifaces; /* implements */
    uint32_t nifaces;
    gql_sdl_item_t *items; /* fields, values, members, operation types, locations */
    uint32_t nitems;
    gql_sdl_item_t *args; /* directive definition arguments */
    uint32_t nargs;
} gql_sdl_def_t;

/* ---- schema ----------------------------------------------------------------- */

typedef enum {
    GQL_T_SCALAR,
    GQL_T_OBJECT,
    GQL_T_INTERFACE,
    GQL_T_UNION,
    GQL_T_ENUM,
    GQL_T_INPUT,
} gql_tkind_t;

typedef struct gql_type gql_type_t;
typedef struct gql_typeref gql_typeref_t;

struct gql_typeref {
    enum { GQL_TR_NAMED, GQL_TR_LIST, GQL_TR_NONNULL } kind;
    gql_type_t *type; /* named */
    gql_typeref_t *of;
};

typedef struct {
    const char *name;
    uint32_t name_len;
    const char *desc;
    gql_typeref_t *type;
    gql_ast_value_t *def; /* default literal or NULL */
    const char *def_src;  /* default printed as GraphQL, for introspection */
    bool deprecated;
    const char *reason;
    gql_loc_t loc;
} gql_ivalue_t; /* argument or input field */

typedef struct gql_field {
    const char *name;
    uint32_t name_len;
    const char *desc;
    gql_typeref_t *type;
    gql_ivalue_t *args;
    uint32_t nargs;
    bool deprecated;
    const char *reason;
    uint32_t index; /* schema-wide field id (resolver slot) */
    gql_type_t *owner;
    /* an interface field: the same field of each object type implementing it */
    struct gql_field_impl *impls;
    uint32_t nimpls;
} gql_field_t;

struct gql_field_impl {
    const gql_type_t *type;
    const gql_field_t *field;
};

typedef struct {
    const char *name;
    uint32_t name_len;
    const char *desc;
    bool deprecated;
    const char *reason;
} gql_enumval_t;

struct gql_type {
    gql_tkind_t kind;
    const char *name;
    uint32_t name_len;
    const char *desc;
    const char *specified_by;
    gql_field_t *fields; /* object, interface: definition order */
    uint32_t nfields;
    uint32_t *field_hash; /* open addressing: field index + 1, 0 empty (gql_type_field) */
    uint32_t field_hash_mask;
    gql_ivalue_t *ifields; /* input object */
    uint32_t nifields;
    gql_enumval_t *evals;
    uint32_t nevals;
    gql_type_t **ifaces; /* object/interface implements */
    uint32_t nifaces;
    gql_type_t **possible; /* union members; implementations of an interface */
    uint32_t npossible;
    gql_typeref_t named; /* canonical named reference to this type */
    bool builtin;        /* built-in scalar or introspection type */
    bool one_of;         /* input object with @oneOf */
    gql_loc_t loc;
    const gql_sdl_def_t *sdl; /* during the build only */
    uint32_t index;
};

typedef struct {
    const char *name;
    const char *desc;
    gql_ivalue_t *args;
    uint32_t nargs;
    uint32_t locations;    /* bit set of GQL_DL_* */
    uint8_t loc_order[32]; /* bit numbers in declaration order (introspection) */
    uint32_t nlocs;
    bool repeatable;
    bool builtin;
} gql_directive_t;

enum {
    GQL_DL_QUERY = 1 << 0,
    GQL_DL_MUTATION = 1 << 1,
    GQL_DL_SUBSCRIPTION = 1 << 2,
    GQL_DL_FIELD = 1 << 3,
    GQL_DL_FRAGMENT_DEFINITION = 1 << 4,
    GQL_DL_FRAGMENT_SPREAD = 1 << 5,
    GQL_DL_INLINE_FRAGMENT = 1 << 6,
    GQL_DL_VARIABLE_DEFINITION = 1 << 7,
    GQL_DL_SCHEMA = 1 << 8,
    GQL_DL_SCALAR = 1 << 9,
    GQL_DL_OBJECT = 1 << 10,
    GQL_DL_FIELD_DEFINITION = 1 << 11,
    GQL_DL_ARGUMENT_DEFINITION = 1 << 12,
    GQL_DL_INTERFACE = 1 << 13,
    GQL_DL_UNION = 1 << 14,
    GQL_DL_ENUM = 1 << 15,
    GQL_DL_ENUM_VALUE = 1 << 16,
    GQL_DL_INPUT_OBJECT = 1 << 17,
    GQL_DL_INPUT_FIELD_DEFINITION = 1 << 18,
    GQL_DL__COUNT = 19,
};
extern const char *const gql_dl_names[GQL_DL__COUNT];

struct gql_schema {
    arena_t arena;
    gql_type_t **types; /* sorted by name, for lookup */
    uint32_t ntypes;
    uint32_t *type_hash; /* open addressing: index into types + 1, 0 empty */
    uint32_t type_hash_mask;
    gql_type_t **order; /* graphql-js's type-map order, for introspection */
    uint32_t norder;
    gql_directive_t *dirs;
    uint32_t ndirs;
    gql_type_t *query, *mutation, *subscription;
    const char *desc;
    uint32_t nfields_total; /* field ids 0..nfields_total-1 */
    uint32_t ntype_slots;   /* type ids (gql_type_t.index) 0..ntype_slots-1 */
    gql_field_t **all_fields;
    /* built-in types the engine uses directly */
    gql_type_t *t_string, *t_int, *t_float, *t_boolean, *t_id;
    gql_typeref_t *schema_field_type, *type_field_type, *typename_type;
    gql_field_t f_schema, f_type, f_typename; /* meta fields */
};

gql_type_t *gql_schema_type(const gql_schema_t *s, const char *name, size_t len);
gql_field_t *gql_type_field(const gql_type_t *t, const char *name, size_t len);
const gql_directive_t *gql_schema_directive(const gql_schema_t *s, const char *name, size_t len);
const gql_ivalue_t *gql_ivalue_find(const gql_ivalue_t *v, uint32_t n, const char *name,
                                    size_t len);
const gql_enumval_t *gql_enum_find(const gql_type_t *t, const char *name, size_t len);
bool gql_type_possible(const gql_type_t *abstract, const gql_type_t *obj);
static inline bool gql_type_composite(const gql_type_t *t)
{
    return t->kind == GQL_T_OBJECT || t->kind == GQL_T_INTERFACE || t->kind == GQL_T_UNION;
}
static inline bool gql_type_abstract(const gql_type_t *t)
{
    return t->kind == GQL_T_INTERFACE || t->kind == GQL_T_UNION;
}
static inline gql_type_t *gql_typeref_named(const gql_typeref_t *r)
{
    while (r->kind != GQL_TR_NAMED) r = r->of;
    return r->type;
}
/* The field of object type t that a selection resolved to def (on t, or
 * on an interface t implements) stands for; NULL when def says nothing
 * about t (look the name up). */
static inline const gql_field_t *gql_field_in(const gql_field_t *def, const gql_type_t *t)
{
    if (def == NULL || def->owner == t) return def;
    for (uint32_t i = 0; i < def->nimpls; i++)
        if (def->impls[i].type == t) return def->impls[i].field;
    return NULL;
}
/* The type of a fragment's type condition, resolved once per document. */
static inline const gql_type_t *gql_cond_type(const gql_schema_t *s, const gql_ast_sel_t *sel)
{
    gql_ast_sel_t *m = (gql_ast_sel_t *)sel; /* cache fields only */
    if (!m->tc_done) {
        m->tc_type = gql_schema_type(s, sel->type_cond.p, sel->type_cond.len);
        m->tc_done = true;
    }
    return m->tc_type;
}
static inline const gql_type_t *gql_def_cond_type(const gql_schema_t *s, const gql_ast_def_t *d)
{
    gql_ast_def_t *m = (gql_ast_def_t *)d;
    if (!m->tc_done) {
        m->tc_type = gql_schema_type(s, d->type_cond.p, d->type_cond.len);
        m->tc_done = true;
    }
    return m->tc_type;
}
/* Prints a type reference ("[Int!]!") into b. */
void gql_typeref_print(buf_t *b, const gql_typeref_t *r);
void gql_ast_type_print(buf_t *b, const gql_ast_type_t *t);
/* Prints a literal value as GraphQL source into b. */
void gql_ast_value_print(buf_t *b, const gql_ast_value_t *v);

/* ---- validation / coercion ------------------------------------------------ */

/* An error with locations (and, at execution, a path), collected in order. */
typedef struct gql_error gql_error_t;
struct gql_error {
    err_code_t code;
    const char *msg;
    gql_loc_t locs[GQL_MAX_ERROR_LOCS];
    uint32_t nlocs;
    const char *path_json; /* JSON array text or NULL */
    gql_error_t *next;
};

typedef struct {
    arena_t *arena;
    gql_error_t *head, *tail;
    uint32_t count;
} gql_errors_t;

gql_error_t *gql_errors_add(gql_errors_t *es, err_code_t code, const gql_loc_t *locs,
                            uint32_t nlocs, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void gql_errors_write(buf_t *out, const gql_errors_t *es);

/* Runs every validation rule; returns the number of errors added. Sets
 * sel->def on every field selection it can resolve. */
uint32_t gql_validate(const gql_schema_t *s, gql_doc_t *doc, gql_errors_t *es);

/* The meta field (__typename/__schema/__type) or the type's field, or NULL. */
const gql_field_t *gql_field_lookup(const gql_schema_t *s, const gql_type_t *t, gql_name_t name,
                                    bool is_root_query);

/* Introspection (gql_introspect.c): the built-in resolver for a field of an
 * introspection type or a meta field, or NULL. */
gql_resolve_fn gql_introspect_resolver(const gql_schema_t *s, const gql_field_t *f);
/* SDL text of the introspection types, parsed into every schema. */
extern const char gql_introspection_sdl[];

/* Grows arr (n used of cap) from arena a so that one more fits. */
#define GQL_GROW(a, arr, n, cap)                                                                   \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            size_t gql__nc = (cap) ? (size_t)(cap)*2 : 8;                                          \
            (arr) =                                                                                \
                arena_realloc((a), (arr), (size_t)(cap) * sizeof *(arr), gql__nc * sizeof *(arr)); \
            (cap) = (uint32_t)gql__nc;                                                             \
        }                                                                                          \
    } while (0)

#endif
