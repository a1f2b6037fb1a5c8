/*
 * model.c — field tables and the one engine that validates and converts
 * records with them (see model.h).
 *
 * Each record type is a table of fields in the order of its X_F_ enum (so a
 * patch mask bit is a table index) followed by version and timestamps. The
 * engine reads and writes struct members through offsetof.
 */
#include "model.h"

#include "json_in.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistr.h>

typedef enum {
    MT_ID,      /* const char *: "id" in JSON, "_id" in BSON */
    MT_STR,     /* const char *, NULL = absent */
    MT_STRS,    /* const char ** at off, size_t count at off2 */
    MT_INT,     /* int64_t at off, bool has at off2 */
    MT_DBL,     /* double at off, bool has at off2 */
    MT_KIND,    /* fruit_kind_t, JSON only */
    MT_VERSION, /* int64_t */
    MT_TIME,    /* int64_t ms since the epoch; BSON date */
} model__type_t;

enum {
    MF_REQUIRED = 1, /* must be present on create; a patch cannot clear it */
    MF_WRITABLE = 2, /* set by clients (validated, patchable) */
    MF_NOTBLANK = 4, /* a string must hold something besides spaces */
    MF_ISBN = 8,     /* book_isbn_normalize must accept it */
};

typedef struct {
    const char *name;
    model__type_t type;
    size_t off, off2;
    unsigned flags;
    double min, max; /* string bytes / array items / number range */
    size_t item_max; /* bytes per array item */
} model__field_t;

struct model_table {
    const char *what; /* "book", for messages */
    const model__field_t *fields;
    size_t n;
    size_t size; /* of the record struct */
};

#define F_STR(T, m, fl, lo, hi)                                                                    \
    {                                                                                              \
#m, MT_STR, offsetof(T, m), 0, (fl), (lo), (hi), 0                                         \
    }
#define F_COMMON(T)                                                                                \
    {"version", MT_VERSION, offsetof(T, version), 0, MF_REQUIRED, 0, 0, 0},                        \
        {"created_at", MT_TIME, offsetof(T, created_at), 0, MF_REQUIRED, 0, 0, 0},                 \
    {                                                                                              \
        "updated_at", MT_TIME, offsetof(T, updated_at), 0, MF_REQUIRED, 0, 0, 0                    \
    }
#define W  MF_WRITABLE
#define WR (MF_WRITABLE | MF_REQUIRED)

static const model__field_t model__book_fields[] = {
    {"id", MT_ID, offsetof(book_t, id), 0, MF_REQUIRED, 1, MODEL_ID_MAX, 0},
    F_STR(book_t, isbn, W | MF_ISBN, 10, 17),
    F_STR(book_t, title, WR | MF_NOTBLANK, 1, BOOK_TITLE_MAX),
    {"authors", MT_STRS, offsetof(book_t, authors), offsetof(book_t, n_authors), WR, 0,
     BOOK_AUTHORS_MAX, BOOK_AUTHOR_MAX},
    {"year", MT_INT, offsetof(book_t, year), offsetof(book_t, has_year), W, BOOK_YEAR_MIN,
     BOOK_YEAR_MAX, 0},
    {"price", MT_DBL, offsetof(book_t, price), offsetof(book_t, has_price), W, 0, BOOK_PRICE_MAX,
     0},
    F_STR(book_t, bookstore_id, WR, 1, MODEL_ID_MAX),
    F_COMMON(book_t),
};

static const model__field_t model__bookstore_fields[] = {
    {"id", MT_ID, offsetof(bookstore_t, id), 0, MF_REQUIRED, 1, MODEL_ID_MAX, 0},
    F_STR(bookstore_t, name, WR | MF_NOTBLANK, 1, BOOKSTORE_NAME_MAX),
    /* Derived from name by the repository; stored and cached, not written by clients. */
    F_STR(bookstore_t, name_key, MF_REQUIRED, 1, 1000),
    F_STR(bookstore_t, city, W, 0, BOOKSTORE_CITY_MAX),
    F_COMMON(bookstore_t),
};

static const model__field_t model__fruit_fields[] = {
    {"id", MT_ID, offsetof(fruit_t, id), 0, MF_REQUIRED, 1, MODEL_ID_MAX, 0},
    {"kind", MT_KIND, offsetof(fruit_t, kind), 0, MF_REQUIRED, 0, 0, 0},
    F_STR(fruit_t, breed, WR | MF_NOTBLANK, 1, FRUIT_BREED_MAX),
    {"size", MT_INT, offsetof(fruit_t, size), offsetof(fruit_t, has_size), WR, FRUIT_SIZE_MIN,
     FRUIT_SIZE_MAX, 0},
    F_STR(fruit_t, colour, WR | MF_NOTBLANK, 1, FRUIT_COLOUR_MAX),
    {"acidity", MT_DBL, offsetof(fruit_t, acidity), offsetof(fruit_t, has_acidity), WR,
     FRUIT_ACIDITY_MIN, FRUIT_ACIDITY_MAX, 0},
    F_COMMON(fruit_t),
};

#define TABLE(what, f, T)                                                                          \
    {                                                                                              \
        what, f, sizeof f / sizeof f[0], sizeof(T)                                                 \
    }
const model_table_t model_book_table = TABLE("book", model__book_fields, book_t);
const model_table_t model_bookstore_table =
    TABLE("bookstore", model__bookstore_fields, bookstore_t);
const model_table_t model_fruit_table = TABLE("fruit", model__fruit_fields, fruit_t);

/* ---- member access */

/* CAT says T const, not const T: T may itself be a const-qualified pointer type. */
#define AT(obj, off, T)  ((T *)((char *)(obj) + (off)))
#define CAT(obj, off, T) ((T const *)((const char *)(obj) + (off)))

static bool model__present(const void *obj, const model__field_t *f)
{
    switch (f->type) {
    case MT_ID:
    case MT_STR:
        return *CAT(obj, f->off, const char *) != NULL;
    case MT_STRS:
        return true; /* an empty list is a value */
    case MT_INT:
    case MT_DBL:
        return *CAT(obj, f->off2, bool);
    default:
        return true;
    }
}

/* ---- kinds */

const char *fruit_kind_name(fruit_kind_t k)
{
    return k == FRUIT_ORANGE ? "ORANGE" : "APPLE";
}

const char *fruit_kind_collection(fruit_kind_t k)
{
    return k == FRUIT_ORANGE ? "oranges" : "apples";
}

int fruit_kind_parse(const char *s, fruit_kind_t *out, err_t *e)
{
    if (s && strcmp(s, "APPLE") == 0) {
        *out = FRUIT_APPLE;
    } else if (s && strcmp(s, "ORANGE") == 0) {
        *out = FRUIT_ORANGE;
    } else {
        return err_set(e, ERR_BAD_INPUT, "kind: must be APPLE or ORANGE");
    }
    return 0;
}

/* ---- validation */

int book_isbn_normalize(const char *in, char out[14], err_t *e)
{
    size_t k = 0;
    for (const char *p = in; *p; p++) {
        if (*p == '-' || *p == ' ') continue;
        bool digit = *p >= '0' && *p <= '9';
        bool x = (*p == 'X' || *p == 'x') && k == 9 && p[1] == '\0';
        if (!(digit || x) || k >= 13) {
            return err_set(e, ERR_BAD_INPUT,
                           "isbn: must be 10 or 13 digits (ISBN-10 may end in X), hyphens "
                           "and spaces allowed");
        }
        out[k++] = x ? 'X' : *p;
    }
    if (k != 10 && k != 13) {
        return err_set(e, ERR_BAD_INPUT, "isbn: has %zu digits, must have 10 or 13", k);
    }
    if (k == 13 && out[12] == 'X') return err_set(e, ERR_BAD_INPUT, "isbn: ISBN-13 ends in X");
    out[k] = '\0';
    return 0;
}

static int model__check_text(const char *s, const char *field, size_t idx, bool indexed, size_t min,
                             size_t max, bool notblank, err_t *e)
{
    char name[80];
    if (indexed) {
        snprintf(name, sizeof name, "%s[%zu]", field, idx);
    } else {
        snprintf(name, sizeof name, "%s", field);
    }
    size_t n = strlen(s);
    const uint8_t *bad = u8_check((const uint8_t *)s, n);
    if (bad) {
        return err_set(e, ERR_BAD_INPUT, "%s: not valid UTF-8 (byte %zu)", name,
                       (size_t)(bad - (const uint8_t *)s));
    }
    bool blank = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            return err_set(e, ERR_BAD_INPUT, "%s: control character at byte %zu", name, i);
        }
        if (c != ' ') blank = false;
    }
    if (n < min || (notblank && blank)) {
        return err_set(e, ERR_BAD_INPUT, "%s: must not be empty", name);
    }
    if (n > max) return err_set(e, ERR_BAD_INPUT, "%s: %zu bytes, at most %zu", name, n, max);
    return 0;
}

static int model__validate(const model_table_t *t, const void *obj, model_mask_t mask, err_t *e)
{
    for (size_t i = 0; i < t->n; i++) {
        const model__field_t *f = &t->fields[i];
        if (!(f->flags & MF_WRITABLE) || !(mask & MODEL_BIT(i))) continue;
        if (!model__present(obj, f)) {
            if (f->flags & MF_REQUIRED) return err_set(e, ERR_BAD_INPUT, "%s: required", f->name);
            continue;
        }
        switch (f->type) {
        case MT_STR: {
            const char *s = *CAT(obj, f->off, const char *);
            if (model__check_text(s, f->name, 0, false, (size_t)f->min, (size_t)f->max,
                                  f->flags & MF_NOTBLANK, e) != 0)
                return -1;
            char isbn[14];
            if ((f->flags & MF_ISBN) && book_isbn_normalize(s, isbn, e) != 0) return -1;
            break;
        }
        case MT_STRS: {
            const char *const *v = *CAT(obj, f->off, const char **);
            size_t n = *CAT(obj, f->off2, size_t);
            if (n > (size_t)f->max) {
                return err_set(e, ERR_BAD_INPUT, "%s: %zu items, at most %.0f", f->name, n, f->max);
            }
            for (size_t j = 0; j < n; j++) {
                if (v[j] == NULL) return err_set(e, ERR_BAD_INPUT, "%s[%zu]: null", f->name, j);
                if (model__check_text(v[j], f->name, j, true, 1, f->item_max, true, e) != 0)
                    return -1;
            }
            break;
        }
        case MT_INT: {
            int64_t v = *CAT(obj, f->off, int64_t);
            if ((double)v < f->min || (double)v > f->max) {
                return err_set(e, ERR_BAD_INPUT, "%s: %lld is out of range (%.0f..%.0f)", f->name,
                               (long long)v, f->min, f->max);
            }
            break;
        }
        case MT_DBL: {
            double v = *CAT(obj, f->off, double);
            if (!isfinite(v))
                return err_set(e, ERR_BAD_INPUT, "%s: must be a finite number", f->name);
            if (v < f->min || v > f->max) {
                return err_set(e, ERR_BAD_INPUT, "%s: %g is out of range (%g..%g)", f->name, v,
                               f->min, f->max);
            }
            break;
        }
        default:
            break;
        }
    }
    return 0;
}

int book_validate(const book_t *b, model_mask_t mask, err_t *e)
{
    return model__validate(&model_book_table, b, mask, e);
}

int bookstore_validate(const bookstore_t *s, model_mask_t mask, err_t *e)
{
    return model__validate(&model_bookstore_table, s, mask, e);
}

int fruit_validate(const fruit_t *f, model_mask_t mask, err_t *e)
{
    return model__validate(&model_fruit_table, f, mask, e);
}

/* ---- JSON */

static void model__to_json(const model_table_t *t, const void *obj, buf_t *out)
{
    buf_putc(out, '{');
    for (size_t i = 0; i < t->n; i++) {
        const model__field_t *f = &t->fields[i];
        if (i) buf_putc(out, ',');
        buf_put_json_str(out, f->name, strlen(f->name));
        buf_putc(out, ':');
        if (!model__present(obj, f)) {
            buf_puts(out, "null");
            continue;
        }
        switch (f->type) {
        case MT_ID:
        case MT_STR: {
            const char *s = *CAT(obj, f->off, const char *);
            buf_put_json_str(out, s, strlen(s));
            break;
        }
        case MT_STRS: {
            const char *const *v = *CAT(obj, f->off, const char **);
            size_t n = *CAT(obj, f->off2, size_t);
            buf_putc(out, '[');
            for (size_t j = 0; j < n; j++) {
                if (j) buf_putc(out, ',');
                buf_put_json_str(out, v[j], strlen(v[j]));
            }
            buf_putc(out, ']');
            break;
        }
        case MT_INT:
        case MT_VERSION:
        case MT_TIME:
            buf_put_i64(out, *CAT(obj, f->off, int64_t));
            break;
        case MT_DBL:
            buf_put_double(out, *CAT(obj, f->off, double));
            break;
        case MT_KIND: {
            const char *k = fruit_kind_name(*CAT(obj, f->off, fruit_kind_t));
            buf_put_json_str(out, k, strlen(k));
            break;
        }
        }
    }
    buf_putc(out, '}');
}

void book_to_json(const book_t *b, buf_t *out)
{
    model__to_json(&model_book_table, b, out);
}

void bookstore_to_json(const bookstore_t *s, buf_t *out)
{
    model__to_json(&model_bookstore_table, s, out);
}

void fruit_to_json(const fruit_t *f, buf_t *out)
{
    model__to_json(&model_fruit_table, f, out);
}

static int model__int_of(const cJSON *v, int64_t *out)
{
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0) return -1;
    *out = (int64_t)d;
    return 0;
}

/* ---- the JSON *_to_json wrote, read straight into the struct */

/* A string at *p ('"') without escapes, copied into the arena; NULL for
 * anything else. */
static const char *model__own_str(arena_t *a, const char **p, const char *end)
{
    const char *s = *p + 1, *q;
    if (*p >= end || **p != '"' || (q = memchr(s, '"', (size_t)(end - s))) == NULL ||
        memchr(s, '\\', (size_t)(q - s)) != NULL)
        return NULL;
    *p = q + 1;
    return arena_strndup(a, s, (size_t)(q - s));
}

/* The number at *p read as the general reader reads it (json_in.c):
 * *is_int when it is an integer of at most 15 digits (then *n). 0, or -1
 * when it is not a number this reader takes. */
static int model__own_num(const char **p, const char *end, int64_t *n, double *d, bool *is_int)
{
    const char *s = *p, *q = s + (s < end && *s == '-');
    uint64_t u = 0;
    while (q < end && q - s < 16 && *q >= '0' && *q <= '9') u = u * 10 + (uint64_t)(*q++ - '0');
    size_t digits = (size_t)(q - s) - (*s == '-');
    *is_int = digits > 0 && digits <= 15 && q < end && (*q == ',' || *q == '}' || *q == ']');
    if (*is_int) {
        *n = *s == '-' ? -(int64_t)u : (int64_t)u;
        *d = (double)*n;
        *p = q;
        return 0;
    }
    /* A plain decimal of at most 15 digits (every price and acidity): the
     * digits as an integer are exact, so is 10^k for k <= 22, and IEEE
     * division rounds correctly: the same double strtod gives, without it. */
    if (digits > 0 && digits <= 15 && q < end && *q == '.') {
        static const double pow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
        const char *f = ++q;
        while (q < end && digits < 15 && *q >= '0' && *q <= '9') {
            u = u * 10 + (uint64_t)(*q++ - '0');
            digits++;
        }
        if (q > f && q < end && (*q == ',' || *q == '}' || *q == ']')) {
            double v = (double)u / pow10[q - f];
            *d = *s == '-' ? -v : v;
            *p = q;
            return 0;
        }
    }
    char buf[64];
    size_t k = 0;
    while (s + k < end && k < sizeof buf - 1 && strchr("0123456789+-.eE", s[k]) && s[k]) k++;
    if (k == 0 || k == sizeof buf - 1) return -1;
    memcpy(buf, s, k);
    buf[k] = '\0';
    char *stop;
    *d = strtod(buf, &stop);
    if (stop != buf + k) return -1;
    *p = s + k;
    return 0;
}

/* One field's value at *p into obj; 0, or -1 when it is not what *_to_json
 * writes for a valid record. */
static int model__own_value(const model__field_t *f, arena_t *a, const char **p, const char *end,
                            void *obj)
{
    if (end - *p >= 4 && memcmp(*p, "null", 4) == 0) {
        if ((f->flags & MF_REQUIRED) || f->type == MT_STRS || f->type == MT_KIND) return -1;
        *p += 4;
        switch (f->type) {
        case MT_ID:
        case MT_STR:
            *AT(obj, f->off, const char *) = NULL;
            break;
        case MT_INT:
        case MT_VERSION:
        case MT_TIME:
            *AT(obj, f->off, int64_t) = 0;
            if (f->type == MT_INT) *AT(obj, f->off2, bool) = false;
            break;
        case MT_DBL:
            *AT(obj, f->off, double) = 0;
            *AT(obj, f->off2, bool) = false;
            break;
        default:
            return -1;
        }
        return 0;
    }
    int64_t n;
    double d;
    bool is_int;
    switch (f->type) {
    case MT_ID:
    case MT_STR:
        return (*AT(obj, f->off, const char *) = model__own_str(a, p, end)) ? 0 : -1;
    case MT_STRS: {
        if (*p >= end || **p != '[') return -1;
        size_t cnt = 0, cap = 4;
        const char **arr = arena_alloc(a, cap * sizeof *arr);
        for ((*p)++; *p < end && **p != ']';) {
            if (cnt && *(*p)++ != ',') return -1;
            if (cnt == cap) {
                const char **bigger = arena_alloc(a, 2 * cap * sizeof *arr);
                memcpy(bigger, arr, cnt * sizeof *arr);
                arr = bigger;
                cap *= 2;
            }
            if ((arr[cnt++] = model__own_str(a, p, end)) == NULL) return -1;
        }
        if (*p >= end) return -1;
        (*p)++;
        *AT(obj, f->off, const char **) = arr;
        *AT(obj, f->off2, size_t) = cnt;
        return 0;
    }
    case MT_INT:
    case MT_VERSION:
    case MT_TIME:
        if (model__own_num(p, end, &n, &d, &is_int) != 0 || !is_int) return -1;
        *AT(obj, f->off, int64_t) = n;
        if (f->type == MT_INT) *AT(obj, f->off2, bool) = true;
        return 0;
    case MT_DBL:
        if (model__own_num(p, end, &n, &d, &is_int) != 0) return -1;
        *AT(obj, f->off, double) = d;
        *AT(obj, f->off2, bool) = true;
        return 0;
    case MT_KIND: {
        const char *k = model__own_str(a, p, end);
        return k && fruit_kind_parse(k, AT(obj, f->off, fruit_kind_t), NULL) == 0 ? 0 : -1;
    }
    }
    return -1;
}

/* The JSON of *_to_json (the cache's), read without building a tree: keys
 * in table order, no whitespace, strings without escapes. 0, or -1 for
 * anything else: the general reader then decides, and says what is wrong.
 * Every cached record comes back through here (a list of 100 members is
 * 100 of them), so it is worth the second reader. */
static int model__from_own_json(const model_table_t *t, arena_t *a, const char *p, const char *end,
                                void *obj)
{
    if (p >= end || *p++ != '{') return -1;
    for (size_t i = 0; i < t->n; i++) {
        const model__field_t *f = &t->fields[i];
        size_t kl = strlen(f->name);
        if ((size_t)(end - p) < kl + 3 || p[0] != '"' || memcmp(p + 1, f->name, kl) != 0 ||
            p[kl + 1] != '"' || p[kl + 2] != ':')
            return -1;
        p += kl + 3;
        if (model__own_value(f, a, &p, end, obj) != 0) return -1;
        if (p >= end || *p++ != (i + 1 < t->n ? ',' : '}')) return -1;
    }
    return 0;
}

static int model__from_json(const model_table_t *t, arena_t *a, const char *json, size_t len,
                            void *obj, err_t *e)
{
    if (model__from_own_json(t, a, json, json + len, obj) == 0) return 0;
    /* Anything else (another writer's spacing or order, escapes, errors):
     * the arena reader, whose strings are already the arena's. */
    const cJSON *root = json_in_read(a, json, len);
    if (!cJSON_IsObject(root)) {
        return err_set(e, ERR_INTERNAL, "%s JSON: not a JSON object", t->what);
    }
    int rc = 0;
    const cJSON *next = root->child; /* *_to_json writes the fields in table order */
    for (size_t i = 0; i < t->n && rc == 0; i++) {
        const model__field_t *f = &t->fields[i];
        const cJSON *v = next && next->string && strcmp(next->string, f->name) == 0
                             ? next
                             : cJSON_GetObjectItemCaseSensitive(root, f->name);
        if (v) next = v->next;
        bool null = v == NULL || cJSON_IsNull(v);
        if (null && (f->flags & MF_REQUIRED) && f->type != MT_STRS) {
            rc = err_set(e, ERR_INTERNAL, "%s JSON: %s is missing", t->what, f->name);
            break;
        }
        switch (f->type) {
        case MT_ID:
        case MT_STR:
            *AT(obj, f->off, const char *) = NULL;
            if (null) break;
            if (!cJSON_IsString(v)) goto bad;
            *AT(obj, f->off, const char *) = v->valuestring;
            break;
        case MT_STRS: {
            if (!cJSON_IsArray(v)) goto bad;
            size_t n = (size_t)cJSON_GetArraySize(v);
            const char **arr = arena_calloc(a, n ? n : 1, sizeof *arr);
            size_t j = 0;
            const cJSON *it;
            cJSON_ArrayForEach(it, v)
            {
                if (!cJSON_IsString(it)) goto bad;
                arr[j++] = it->valuestring;
            }
            *AT(obj, f->off, const char **) = arr;
            *AT(obj, f->off2, size_t) = n;
            break;
        }
        case MT_INT:
        case MT_VERSION:
        case MT_TIME: {
            int64_t n = 0;
            if (!null && model__int_of(v, &n) != 0) goto bad;
            *AT(obj, f->off, int64_t) = n;
            if (f->type == MT_INT) *AT(obj, f->off2, bool) = !null;
            break;
        }
        case MT_DBL:
            if (!null && !cJSON_IsNumber(v)) goto bad;
            *AT(obj, f->off, double) = null ? 0 : v->valuedouble;
            *AT(obj, f->off2, bool) = !null;
            break;
        case MT_KIND: {
            fruit_kind_t k;
            if (!cJSON_IsString(v) || fruit_kind_parse(v->valuestring, &k, NULL) != 0) goto bad;
            *AT(obj, f->off, fruit_kind_t) = k;
            break;
        }
        }
        continue;
    bad:
        rc = err_set(e, ERR_INTERNAL, "%s JSON: %s has the wrong type", t->what, f->name);
    }
    return rc;
}

int book_from_json(arena_t *a, const char *json, size_t len, book_t *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    return model__from_json(&model_book_table, a, json, len, out, e);
}

int bookstore_from_json(arena_t *a, const char *json, size_t len, bookstore_t *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    return model__from_json(&model_bookstore_table, a, json, len, out, e);
}

int fruit_from_json(arena_t *a, const char *json, size_t len, fruit_t *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    return model__from_json(&model_fruit_table, a, json, len, out, e);
}

/* ---- BSON */

static const char *model__bson_name(const model__field_t *f)
{
    return f->type == MT_ID ? "_id" : f->name;
}

static void model__append_value(const model__field_t *f, const void *obj, bson_t *doc)
{
    const char *k = model__bson_name(f);
    switch (f->type) {
    case MT_ID:
    case MT_STR:
        BSON_APPEND_UTF8(doc, k, *CAT(obj, f->off, const char *));
        break;
    case MT_STRS: {
        const char *const *v = *CAT(obj, f->off, const char **);
        size_t n = *CAT(obj, f->off2, size_t);
        bson_t arr;
        BSON_APPEND_ARRAY_BEGIN(doc, k, &arr);
        for (size_t j = 0; j < n; j++) {
            char idx[24];
            const char *key;
            bson_uint32_to_string((uint32_t)j, &key, idx, sizeof idx);
            BSON_APPEND_UTF8(&arr, key, v[j]);
        }
        bson_append_array_end(doc, &arr);
        break;
    }
    case MT_INT:
    case MT_VERSION:
        BSON_APPEND_INT64(doc, k, *CAT(obj, f->off, int64_t));
        break;
    case MT_TIME:
        BSON_APPEND_DATE_TIME(doc, k, *CAT(obj, f->off, int64_t));
        break;
    case MT_DBL:
        BSON_APPEND_DOUBLE(doc, k, *CAT(obj, f->off, double));
        break;
    case MT_KIND:
        break; /* the collection says it */
    }
}

static void model__to_bson(const model_table_t *t, const void *obj, bson_t *doc)
{
    for (size_t i = 0; i < t->n; i++) {
        const model__field_t *f = &t->fields[i];
        if (model__present(obj, f)) model__append_value(f, obj, doc);
    }
}

void book_to_bson(const book_t *b, bson_t *doc)
{
    model__to_bson(&model_book_table, b, doc);
}

void bookstore_to_bson(const bookstore_t *s, bson_t *doc)
{
    model__to_bson(&model_bookstore_table, s, doc);
}

void fruit_to_bson(const fruit_t *f, bson_t *doc)
{
    model__to_bson(&model_fruit_table, f, doc);
}

static const model__field_t *model__by_bson_name(const model_table_t *t, const char *k)
{
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(model__bson_name(&t->fields[i]), k) == 0) return &t->fields[i];
    }
    return NULL;
}

static bool model__is_number(bson_type_t ty)
{
    return ty == BSON_TYPE_INT32 || ty == BSON_TYPE_INT64 || ty == BSON_TYPE_DOUBLE;
}

static int model__from_bson(const model_table_t *t, arena_t *a, const bson_t *doc, void *obj,
                            err_t *e)
{
    uint64_t seen = 0;
    bson_iter_t it;
    if (!bson_iter_init(&it, doc)) return err_set(e, ERR_INTERNAL, "%s: corrupt BSON", t->what);
    while (bson_iter_next(&it)) {
        const model__field_t *f = model__by_bson_name(t, bson_iter_key(&it));
        if (f == NULL) continue;
        bson_type_t ty = bson_iter_type(&it);
        if (ty == BSON_TYPE_NULL) continue;
        switch (f->type) {
        case MT_ID:
            if (ty == BSON_TYPE_OID) {
                char hex[25];
                bson_oid_to_string(bson_iter_oid(&it), hex);
                *AT(obj, f->off, const char *) = arena_strdup(a, hex);
                break;
            }
            /* fall through */
        case MT_STR: {
            if (ty != BSON_TYPE_UTF8) goto bad;
            uint32_t n;
            const char *s = bson_iter_utf8(&it, &n);
            *AT(obj, f->off, const char *) = arena_strndup(a, s, n);
            break;
        }
        case MT_STRS: {
            if (ty != BSON_TYPE_ARRAY) goto bad;
            bson_iter_t ai;
            size_t n = 0;
            if (!bson_iter_recurse(&it, &ai)) goto bad;
            while (bson_iter_next(&ai)) n++;
            const char **arr = arena_calloc(a, n ? n : 1, sizeof *arr);
            bson_iter_recurse(&it, &ai);
            for (size_t j = 0; bson_iter_next(&ai); j++) {
                if (!BSON_ITER_HOLDS_UTF8(&ai)) goto bad;
                uint32_t len;
                const char *s = bson_iter_utf8(&ai, &len);
                arr[j] = arena_strndup(a, s, len);
            }
            *AT(obj, f->off, const char **) = arr;
            *AT(obj, f->off2, size_t) = n;
            break;
        }
        case MT_INT:
        case MT_VERSION:
            if (!model__is_number(ty)) goto bad;
            *AT(obj, f->off, int64_t) = bson_iter_as_int64(&it);
            if (f->type == MT_INT) *AT(obj, f->off2, bool) = true;
            break;
        case MT_TIME:
            if (ty == BSON_TYPE_DATE_TIME) {
                *AT(obj, f->off, int64_t) = bson_iter_date_time(&it);
            } else if (model__is_number(ty)) {
                *AT(obj, f->off, int64_t) = bson_iter_as_int64(&it);
            } else {
                goto bad;
            }
            break;
        case MT_DBL:
            if (!model__is_number(ty)) goto bad;
            *AT(obj, f->off, double) = bson_iter_as_double(&it);
            *AT(obj, f->off2, bool) = true;
            break;
        case MT_KIND:
            break;
        }
        seen |= (uint64_t)1 << (f - t->fields);
        continue;
    bad:
        return err_set(e, ERR_INTERNAL, "%s: stored field %s has the wrong type", t->what, f->name);
    }
    for (size_t i = 0; i < t->n; i++) {
        const model__field_t *f = &t->fields[i];
        if ((f->flags & MF_REQUIRED) && f->type != MT_KIND && f->type != MT_STRS &&
            !(seen & ((uint64_t)1 << i))) {
            return err_set(e, ERR_INTERNAL, "%s: stored document lacks %s", t->what, f->name);
        }
    }
    return 0;
}

int book_from_bson(arena_t *a, const bson_t *doc, book_t *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    return model__from_bson(&model_book_table, a, doc, out, e);
}

int bookstore_from_bson(arena_t *a, const bson_t *doc, bookstore_t *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    return model__from_bson(&model_bookstore_table, a, doc, out, e);
}

int fruit_from_bson(arena_t *a, const bson_t *doc, fruit_t *out, fruit_kind_t kind, err_t *e)
{
    memset(out, 0, sizeof *out);
    out->kind = kind;
    return model__from_bson(&model_fruit_table, a, doc, out, e);
}

/* ---- patches */

static void model__patch_append(const model_table_t *t, const void *obj, model_mask_t mask,
                                bson_t *set, bson_t *unset)
{
    for (size_t i = 0; i < t->n; i++) {
        const model__field_t *f = &t->fields[i];
        if (!(f->flags & MF_WRITABLE) || !(mask & MODEL_BIT(i))) continue;
        if (model__present(obj, f)) {
            model__append_value(f, obj, set);
        } else {
            BSON_APPEND_UTF8(unset, f->name, "");
        }
    }
}

void book_patch_append(const book_t *p, model_mask_t mask, bson_t *set, bson_t *unset)
{
    model__patch_append(&model_book_table, p, mask, set, unset);
}

void bookstore_patch_append(const bookstore_t *p, model_mask_t mask, bson_t *set, bson_t *unset)
{
    model__patch_append(&model_bookstore_table, p, mask, set, unset);
}

void fruit_patch_append(const fruit_t *p, model_mask_t mask, bson_t *set, bson_t *unset)
{
    model__patch_append(&model_fruit_table, p, mask, set, unset);
}

static size_t model__member_size(const model__field_t *f)
{
    switch (f->type) {
    case MT_ID:
    case MT_STR:
        return sizeof(const char *);
    case MT_STRS:
        return sizeof(const char **);
    case MT_INT:
    case MT_VERSION:
    case MT_TIME:
        return sizeof(int64_t);
    case MT_DBL:
        return sizeof(double);
    case MT_KIND:
        return sizeof(fruit_kind_t);
    }
    return 0;
}

static void model__patch_apply(const model_table_t *t, void *dst, const void *p, model_mask_t mask)
{
    for (size_t i = 0; i < t->n; i++) {
        const model__field_t *f = &t->fields[i];
        if (!(f->flags & MF_WRITABLE) || !(mask & MODEL_BIT(i))) continue;
        memcpy((char *)dst + f->off, (const char *)p + f->off, model__member_size(f));
        if (f->type == MT_STRS)
            memcpy(AT(dst, f->off2, size_t), CAT(p, f->off2, size_t), sizeof(size_t));
        if (f->type == MT_INT || f->type == MT_DBL)
            *AT(dst, f->off2, bool) = *CAT(p, f->off2, bool);
    }
}

void book_patch_apply(book_t *dst, const book_t *p, model_mask_t mask)
{
    model__patch_apply(&model_book_table, dst, p, mask);
}

void bookstore_patch_apply(bookstore_t *dst, const bookstore_t *p, model_mask_t mask)
{
    model__patch_apply(&model_bookstore_table, dst, p, mask);
}

void fruit_patch_apply(fruit_t *dst, const fruit_t *p, model_mask_t mask)
{
    model__patch_apply(&model_fruit_table, dst, p, mask);
}

/* ---- any record through its table (kind.c) */

size_t model_record_size(const model_table_t *t)
{
    return t->size;
}

void model_to_json(const model_table_t *t, const void *rec, buf_t *out)
{
    model__to_json(t, rec, out);
}

int model_from_json(const model_table_t *t, arena_t *a, const char *json, size_t len, void *out,
                    err_t *e)
{
    return model__from_json(t, a, json, len, out, e);
}

void model_to_bson(const model_table_t *t, const void *rec, bson_t *doc)
{
    model__to_bson(t, rec, doc);
}

int model_from_bson(const model_table_t *t, arena_t *a, const bson_t *doc, void *out, err_t *e)
{
    return model__from_bson(t, a, doc, out, e);
}

void model_unset_absent(const model_table_t *t, const void *rec, bson_t *unset)
{
    for (size_t i = 0; i < t->n; i++) {
        const model__field_t *f = &t->fields[i];
        if (!(f->flags & MF_REQUIRED) && !model__present(rec, f)) {
            BSON_APPEND_UTF8(unset, model__bson_name(f), "");
        }
    }
}
