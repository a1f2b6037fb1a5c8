/*
 * model.h — the records oponn stores: books, bookstores, apples and oranges.
 *
 * Owns the C structs, their validation and their conversion to and from BSON
 * (MongoDB) and JSON (the cache stores exactly the JSON of *_to_json and reads
 * it back with *_from_json; the field names below are stable).
 *
 *   book:      {"id","isbn","title","authors":[..],"year","price","bookstore_id",
 *               "version","created_at","updated_at"}
 *   bookstore: {"id","name","name_key","city","version","created_at","updated_at"}
 *   fruit:     {"id","kind":"APPLE"|"ORANGE","breed","size","colour","acidity",
 *               "version","created_at","updated_at"}
 *
 * Absent optional fields are JSON null and absent from BSON. Timestamps are
 * milliseconds since the Unix epoch (UTC): JSON integers, BSON dates.
 * `version` starts at 1 and grows by one on each write.
 *
 * Memory: every string and array a struct points at belongs to the arena
 * given to *_from_json / *_from_bson (freed with the request); structs filled
 * by callers (inputs) point at whatever the caller owns. Nothing here frees.
 *
 * Each struct is described by one field table in model.c; validation and
 * every conversion walk that table, so a field is added in one place.
 */
#ifndef OPONN_MODEL_H
#define OPONN_MODEL_H

#include "arena.h"
#include "buf.h"
#include "err.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits (bytes for strings). Checked by *_validate. */
#define MODEL_ID_MAX       128
#define BOOK_TITLE_MAX     500
#define BOOK_AUTHOR_MAX    200
#define BOOK_AUTHORS_MAX   50
#define BOOK_YEAR_MIN      (-3000)
#define BOOK_YEAR_MAX      2100
#define BOOK_PRICE_MAX     1000000.0
#define BOOKSTORE_NAME_MAX 200
#define BOOKSTORE_CITY_MAX 100
#define FRUIT_BREED_MAX    100
#define FRUIT_COLOUR_MAX   50
#define FRUIT_SIZE_MIN     1
#define FRUIT_SIZE_MAX     1000
#define FRUIT_ACIDITY_MIN  0.0
#define FRUIT_ACIDITY_MAX  14.0

typedef struct {
    const char *id;
    const char *isbn; /* NULL: none; stored normalized (digits, final X) */
    const char *title;
    const char **authors;
    size_t n_authors;
    bool has_year;
    int64_t year;
    bool has_price;
    double price;
    const char *bookstore_id;
    int64_t version;
    int64_t created_at, updated_at;
} book_t;

/* Field numbers, for patches (bit 1 << BOOK_F_x in a mask). */
enum {
    BOOK_F_ID,
    BOOK_F_ISBN,
    BOOK_F_TITLE,
    BOOK_F_AUTHORS,
    BOOK_F_YEAR,
    BOOK_F_PRICE,
    BOOK_F_BOOKSTORE_ID,
};

typedef struct {
    const char *id;
    const char *name;
    const char *name_key; /* namekey_make(name); set by the repository */
    const char *city;     /* NULL: none */
    int64_t version;
    int64_t created_at, updated_at;
} bookstore_t;

enum {
    BOOKSTORE_F_ID,
    BOOKSTORE_F_NAME,
    BOOKSTORE_F_NAME_KEY,
    BOOKSTORE_F_CITY,
};

typedef enum { FRUIT_APPLE, FRUIT_ORANGE } fruit_kind_t;

typedef struct {
    const char *id;
    fruit_kind_t kind; /* which collection; not stored in the document */
    const char *breed;
    int64_t size;
    bool has_size; /* always true for a stored record; patches use it */
    const char *colour;
    double acidity;
    bool has_acidity;
    int64_t version;
    int64_t created_at, updated_at;
} fruit_t;

enum {
    FRUIT_F_ID,
    FRUIT_F_KIND,
    FRUIT_F_BREED,
    FRUIT_F_SIZE,
    FRUIT_F_COLOUR,
    FRUIT_F_ACIDITY,
};

/* "APPLE"/"ORANGE" and "apples"/"oranges". */
const char *fruit_kind_name(fruit_kind_t k);
const char *fruit_kind_collection(fruit_kind_t k);
/* Parses "APPLE"/"ORANGE"; -1 with ERR_BAD_INPUT otherwise. */
int fruit_kind_parse(const char *s, fruit_kind_t *out, err_t *e);

/* A patch is a struct of the same type plus a mask of the fields it sets
 * (1u << X_F_field). A set optional field holding NULL / has_x false means
 * "clear it"; a set required field must hold a value. */
typedef uint32_t model_mask_t;
#define MODEL_BIT(f) ((model_mask_t)1u << (f))

/* Checks the writable fields a create needs (mask = every field) or a patch
 * sets (mask = its fields): required, lengths, ranges, finite numbers, valid
 * UTF-8 without control characters. -1 with ERR_BAD_INPUT and a message
 * naming the field ("year: 99999 is out of range (-3000..2100)"). */
int book_validate(const book_t *b, model_mask_t mask, err_t *e);
int bookstore_validate(const bookstore_t *s, model_mask_t mask, err_t *e);
int fruit_validate(const fruit_t *f, model_mask_t mask, err_t *e);
#define MODEL_ALL ((model_mask_t)0xffffffffu)

/* ISBN-10 or ISBN-13 without hyphens or spaces, upper-case X. Writes the
 * normalized form into out (14 bytes). -1 with ERR_BAD_INPUT when it is not
 * 10 or 13 digits (ISBN-10 may end in X). The check digit is not verified:
 * catalogues (Open Library among them) hold many that fail it. */
int book_isbn_normalize(const char *in, char out[14], err_t *e);

/* Appends the record's JSON (the cache's format) to out. */
void book_to_json(const book_t *b, buf_t *out);
void bookstore_to_json(const bookstore_t *s, buf_t *out);
void fruit_to_json(const fruit_t *f, buf_t *out);

/* Parses what *_to_json wrote. Strings are copied into a. -1 with
 * ERR_INTERNAL naming the field when the JSON is not such a record. */
int book_from_json(arena_t *a, const char *json, size_t len, book_t *out, err_t *e);
int bookstore_from_json(arena_t *a, const char *json, size_t len, bookstore_t *out, err_t *e);
int fruit_from_json(arena_t *a, const char *json, size_t len, fruit_t *out, err_t *e);

/* Appends every field of the record to doc (an initialised bson_t): `_id`
 * first, absent optionals left out, times as BSON dates. */
void book_to_bson(const book_t *b, bson_t *doc);
void bookstore_to_bson(const bookstore_t *s, bson_t *doc);
void fruit_to_bson(const fruit_t *f, bson_t *doc);

/* Reads a stored document. Unknown fields are ignored; an ObjectId `_id`
 * (documents made by other tools) becomes its 24-hex string. -1 with
 * ERR_INTERNAL naming the field when a required field is missing or of the
 * wrong type. */
int book_from_bson(arena_t *a, const bson_t *doc, book_t *out, err_t *e);
int bookstore_from_bson(arena_t *a, const bson_t *doc, bookstore_t *out, err_t *e);
int fruit_from_bson(arena_t *a, const bson_t *doc, fruit_t *out, fruit_kind_t kind, err_t *e);

/* The fields a patch sets, for an update: appends each set field to `set`
 * and each cleared optional field to `unset` (both initialised by the
 * caller, who adds its own `updated_at` and wraps them in $set/$unset).
 * Fields outside the writable set (id, version, times) are never written. */
void book_patch_append(const book_t *p, model_mask_t mask, bson_t *set, bson_t *unset);
void bookstore_patch_append(const bookstore_t *p, model_mask_t mask, bson_t *set, bson_t *unset);
void fruit_patch_append(const fruit_t *p, model_mask_t mask, bson_t *set, bson_t *unset);

/* Copies the fields a patch sets into dst (pointers are shared, not
 * copied): the record as it will be after the update, for callers that must
 * know it without reading it back (and for the cache's patching). */
void book_patch_apply(book_t *dst, const book_t *p, model_mask_t mask);
void bookstore_patch_apply(bookstore_t *dst, const bookstore_t *p, model_mask_t mask);
void fruit_patch_apply(fruit_t *dst, const fruit_t *p, model_mask_t mask);

/* ---- any record, through its field table (for code that treats every kind
 * alike: kind.c). The typed functions above are these with their table. */
typedef struct model_table model_table_t;
extern const model_table_t model_book_table, model_bookstore_table, model_fruit_table;
/* sizeof the table's record struct. */
size_t model_record_size(const model_table_t *t);
void model_to_json(const model_table_t *t, const void *rec, buf_t *out);
/* As *_from_json / *_from_bson, into a record the caller zeroed: members the
 * document does not hold (fruit's kind in BSON) keep what the caller set. */
int model_from_json(const model_table_t *t, arena_t *a, const char *json, size_t len, void *out,
                    err_t *e);
void model_to_bson(const model_table_t *t, const void *rec, bson_t *doc);
int model_from_bson(const model_table_t *t, arena_t *a, const bson_t *doc, void *out, err_t *e);
/* Appends the stored name of every absent optional field to unset (the keys
 * of a $unset document, values ""): what a full replace-by-$set must clear. */
void model_unset_absent(const model_table_t *t, const void *rec, bson_t *unset);

#endif
