/*
 * ingest_fuzz.c — libFuzzer target over the ingestion parsers: the input is
 * one response body, given to ingest_ol_parse (an Open Library search.json
 * page into book_t) and to ingest_stores_parse (the bookstore list); every
 * book that comes back is walked (strings read to the end, natural key and
 * store assignment computed) so a pointer left dangling or unterminated by
 * the parser shows up under ASan.
 *
 * Seeds: t/fixtures/openlibrary/ (fuzz/ingest_fuzz.seeds). `make fuzz` runs
 * it; inputs it once crashed on go to fuzz/regress/ingest_fuzz/ and are
 * replayed by t/25-gql-fuzz-regress.t through t/prog/ingest_fuzz_replay.c.
 */
#include "ingest.h"
#include "namekey.h"
#include "repo.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static arena_t fz_arena;
static int fz_ready;

/* Reads a string to its end, so an unterminated one is an ASan report. */
static size_t fz__touch(const char *s)
{
    return s ? strlen(s) : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz_ready) {
        arena_init(&fz_arena, 0);
        fz_ready = 1;
    }
    /* a copy of exactly size bytes: the parsers get a length, not a NUL */
    char *body = malloc(size ? size : 1);
    if (size) memcpy(body, data, size);
    err_t e;
    size_t sum = 0;
    ingest_page_t page;
    if (ingest_ol_parse(&fz_arena, body, size, &page, &e) == 0) {
        if (page.n > page.docs) abort();
        for (size_t i = 0; i < page.n; i++) {
            const book_t *b = &page.books[i];
            sum += fz__touch(b->title) + fz__touch(b->isbn) + fz__touch(page.work_keys[i]);
            for (size_t j = 0; j < b->n_authors; j++) sum += fz__touch(b->authors[j]);
            const char *key = repo_book_natural_key(&fz_arena, b, page.work_keys[i]);
            sum += ingest_assign(key, 7);
        }
        for (size_t i = 0; i < page.n_skipped; i++) sum += fz__touch(page.skipped[i]);
    } else if (e.code == ERR_OK || e.msg[0] == '\0') {
        abort(); /* a failure must say why */
    }
    bookstore_t *stores;
    size_t n;
    if (ingest_stores_parse(&fz_arena, body, size, &stores, &n, &e) == 0) {
        /* as the repository does: a name key each (a name without one is
         * refused there), then the assignment order */
        bookstore_t **order = arena_alloc(&fz_arena, (n ? n : 1) * sizeof *order);
        char **keys = calloc(n ? n : 1, sizeof *keys);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            sum += fz__touch(stores[i].name) + fz__touch(stores[i].city);
            if (namekey_make(stores[i].name, strlen(stores[i].name), "name", &keys[i], &e) == 0) {
                stores[i].name_key = keys[i];
                order[k++] = &stores[i];
            }
        }
        k = ingest_stores_order(order, k);
        for (size_t i = 0; i + 1 < k; i++)
            if (strcmp(order[i]->name_key, order[i + 1]->name_key) >= 0) abort();
        for (size_t i = 0; i < n; i++) free(keys[i]);
        free(keys);
    }
    free(body);
    arena_reset(&fz_arena);
    return sum == (size_t)-1; /* keeps the walk from being optimised away */
}

/* Frees what the target keeps between inputs (the replay program calls it). */
void fuzz_replay_done(void)
{
    if (fz_ready) arena_destroy(&fz_arena);
}
