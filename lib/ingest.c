/*
 * ingest.c — Open Library pages and the bookstore list into structs, the
 * assignment rule and the fruit generator (see ingest.h).
 */
#include "ingest.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

/* Checks the whole body before cJSON sees it: cJSON does not validate
 * UTF-8, and a page with broken text is refused as a whole. */
static int ingest__check_utf8(const char *body, size_t len, err_t *e)
{
    const uint8_t *bad = u8_check((const uint8_t *)body, len);
    if (bad) {
        return err_set(e, ERR_BAD_INPUT, "response is not valid UTF-8 (byte %zu)",
                       (size_t)(bad - (const uint8_t *)body));
    }
    return 0;
}

static cJSON *ingest__parse_json(const char *body, size_t len, err_t *e)
{
    if (ingest__check_utf8(body, len, e) != 0) return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (root == NULL) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        err_set(e, ERR_BAD_INPUT, "response is not JSON (error near byte %zu of %zu)", at, len);
    }
    return root;
}

const char *ingest_ol_url(arena_t *a, const char *base, const char *query, int page, int page_size)
{
    char *q = curl_easy_escape(NULL, query, 0);
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/') bl--;
    const char *url = arena_printf(a,
                                   "%.*s/search.json?q=%s&page=%d&limit=%d"
                                   "&fields=key,title,author_name,isbn,first_publish_year",
                                   (int)bl, base, q ? q : "", page, page_size);
    curl_free(q);
    return url;
}

/* The smallest valid ISBN-13 of the list, else the smallest ISBN-10. */
static const char *ingest__pick_isbn(arena_t *a, const cJSON *list)
{
    char best13[14] = "", best10[14] = "", n[14];
    const cJSON *it;
    cJSON_ArrayForEach(it, list)
    {
        if (!cJSON_IsString(it) || book_isbn_normalize(it->valuestring, n, NULL) != 0) continue;
        char *best = strlen(n) == 13 ? best13 : best10;
        if (best[0] == '\0' || strcmp(n, best) < 0) memcpy(best, n, sizeof n);
    }
    if (best13[0]) return arena_strdup(a, best13);
    if (best10[0]) return arena_strdup(a, best10);
    return NULL;
}

/* One doc into *b, or -1 with the reason in e. */
static int ingest__doc(arena_t *a, const cJSON *d, book_t *b, const char **work_key, err_t *e)
{
    memset(b, 0, sizeof *b);
    if (!cJSON_IsObject(d)) return err_set(e, ERR_BAD_INPUT, "not an object");
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(d, "key");
    if (!cJSON_IsString(key) || strncmp(key->valuestring, "/works/", 7) != 0 ||
        strlen(key->valuestring) > 100) {
        return err_set(e, ERR_BAD_INPUT, "key: not an Open Library work key");
    }
    *work_key = arena_strdup(a, key->valuestring);
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(d, "title");
    if (title && !cJSON_IsString(title)) return err_set(e, ERR_BAD_INPUT, "title: not a string");
    b->title = title ? arena_strdup(a, title->valuestring) : NULL;
    const cJSON *authors = cJSON_GetObjectItemCaseSensitive(d, "author_name");
    if (authors && !cJSON_IsArray(authors)) {
        return err_set(e, ERR_BAD_INPUT, "author_name: not an array");
    }
    size_t na = authors ? (size_t)cJSON_GetArraySize(authors) : 0;
    const char **av = arena_calloc(a, na ? na : 1, sizeof *av);
    size_t k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, authors)
    {
        if (!cJSON_IsString(it))
            return err_set(e, ERR_BAD_INPUT, "author_name[%zu]: not a string", k);
        av[k++] = arena_strdup(a, it->valuestring);
    }
    b->authors = av;
    b->n_authors = k;
    const cJSON *isbn = cJSON_GetObjectItemCaseSensitive(d, "isbn");
    if (cJSON_IsArray(isbn)) b->isbn = ingest__pick_isbn(a, isbn);
    const cJSON *year = cJSON_GetObjectItemCaseSensitive(d, "first_publish_year");
    if (year && !cJSON_IsNull(year)) {
        if (!cJSON_IsNumber(year) || year->valuedouble != floor(year->valuedouble)) {
            return err_set(e, ERR_BAD_INPUT, "first_publish_year: not a whole number");
        }
        if (fabs(year->valuedouble) > 1e9) {
            return err_set(e, ERR_BAD_INPUT, "year: %.0f is out of range (%d..%d)",
                           year->valuedouble, BOOK_YEAR_MIN, BOOK_YEAR_MAX);
        }
        b->has_year = true;
        b->year = (int64_t)year->valuedouble;
    }
    b->bookstore_id = "-"; /* assigned by the caller; present for validation */
    return book_validate(b, MODEL_ALL, e);
}

int ingest_ol_parse(arena_t *a, const char *body, size_t len, ingest_page_t *out, err_t *e)
{
    memset(out, 0, sizeof *out);
    cJSON *root = ingest__parse_json(body, len, e);
    if (root == NULL) return -1;
    const cJSON *docs = cJSON_GetObjectItemCaseSensitive(root, "docs");
    if (!cJSON_IsObject(root) || !cJSON_IsArray(docs)) {
        cJSON_Delete(root);
        return err_set(e, ERR_BAD_INPUT, "response has no \"docs\" array: not a search.json page");
    }
    const cJSON *nf = cJSON_GetObjectItemCaseSensitive(root, "numFound");
    /* a count, or -1: junk (3e118, NaN) must not reach an int64 conversion */
    out->num_found =
        cJSON_IsNumber(nf) && nf->valuedouble >= 0 && nf->valuedouble <= 9007199254740992.0
            ? (int64_t)nf->valuedouble
            : -1;
    size_t n = (size_t)cJSON_GetArraySize(docs);
    out->docs = n;
    out->books = arena_calloc(a, n ? n : 1, sizeof *out->books);
    out->work_keys = arena_calloc(a, n ? n : 1, sizeof *out->work_keys);
    out->skipped = arena_calloc(a, n ? n : 1, sizeof *out->skipped);
    size_t i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, docs)
    {
        err_t why = {0};
        const char *wk = NULL;
        if (ingest__doc(a, d, &out->books[out->n], &wk, &why) == 0) {
            out->work_keys[out->n++] = wk;
        } else {
            out->skipped[out->n_skipped++] =
                arena_printf(a, "record %zu (%s): %s", i, wk ? wk : "no key", why.msg);
        }
        i++;
    }
    cJSON_Delete(root);
    return 0;
}

int ingest_stores_parse(arena_t *a, const char *body, size_t len, bookstore_t **out, size_t *n,
                        err_t *e)
{
    *out = NULL;
    *n = 0;
    cJSON *root = ingest__parse_json(body, len, e);
    if (root == NULL) return -1;
    if (!cJSON_IsArray(root) || cJSON_GetArraySize(root) == 0) {
        cJSON_Delete(root);
        return err_set(e, ERR_BAD_INPUT, "bookstore list: must be a non-empty JSON array");
    }
    size_t cap = (size_t)cJSON_GetArraySize(root);
    bookstore_t *v = arena_calloc(a, cap, sizeof *v);
    const cJSON *it;
    size_t i = 0;
    cJSON_ArrayForEach(it, root)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *city = cJSON_GetObjectItemCaseSensitive(it, "city");
        if (!cJSON_IsString(name) || (city && !cJSON_IsNull(city) && !cJSON_IsString(city))) {
            cJSON_Delete(root);
            return err_set(e, ERR_BAD_INPUT,
                           "bookstore list: entry %zu needs a \"name\" string (and an optional "
                           "\"city\" string)",
                           i);
        }
        v[i].name = arena_strdup(a, name->valuestring);
        v[i].city = cJSON_IsString(city) ? arena_strdup(a, city->valuestring) : NULL;
        i++;
    }
    cJSON_Delete(root);
    *out = v;
    *n = i;
    return 0;
}

static uint64_t ingest__fnv1a(const char *s, uint64_t h)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

size_t ingest_assign(const char *natural_key, size_t n_stores)
{
    uint64_t h = ingest__fnv1a(natural_key, 14695981039346656037ULL);
    return n_stores ? (size_t)(h % n_stores) : 0;
}

static int ingest__store_cmp(const void *a, const void *b)
{
    return strcmp((*(bookstore_t *const *)a)->name_key, (*(bookstore_t *const *)b)->name_key);
}

size_t ingest_stores_order(bookstore_t **stores, size_t n)
{
    if (n == 0) return 0;
    qsort(stores, n, sizeof *stores, ingest__store_cmp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k == 0 || strcmp(stores[k - 1]->name_key, stores[i]->name_key) != 0) {
            stores[k++] = stores[i];
        }
    }
    return k;
}

void ingest_fruit_make(arena_t *a, fruit_kind_t kind, size_t n, fruit_t *out)
{
    static const char *apple_breeds[] = {"Braeburn",     "Cox",        "Fuji", "Gala",
                                         "Granny Smith", "Honeycrisp", "Jazz", "Pink Lady"};
    static const char *orange_breeds[] = {"Blood", "Cara Cara", "Jaffa",
                                          "Navel", "Seville",   "Valencia"};
    static const char *apple_colours[] = {"red", "green", "yellow", "pink"};
    static const char *orange_colours[] = {"orange", "red", "yellow"};
    bool apple = kind == FRUIT_APPLE;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ULL;
        h ^= h >> 29;
        fruit_t *f = &out[i];
        memset(f, 0, sizeof *f);
        f->id = arena_printf(a, "5eed000%c%016llx", apple ? 'a' : 'b', (unsigned long long)i);
        f->kind = kind;
        f->breed = apple ? apple_breeds[h % 8] : orange_breeds[h % 6];
        f->has_size = true;
        f->size = 1 + (int64_t)((h >> 8) % 10);
        f->colour = apple ? apple_colours[(h >> 16) % 4] : orange_colours[(h >> 16) % 3];
        f->has_acidity = true;
        /* pH: apples 3.0..4.0, oranges 3.0..4.5, two decimals */
        f->acidity = 3.0 + (double)((h >> 24) % (apple ? 101 : 151)) / 100.0;
    }
}
