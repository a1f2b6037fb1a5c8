/*
 * repo_verify.c — MongoDB as `oponn cache verify|rehydrate` sees it: the
 * cache_source_t (cache_admin.h) the CLI hands to cache_verify and
 * cache_rehydrate. fetch reads one record as the repositories would cache
 * it; query re-runs a cached batch through the MongoDB run its repository
 * declared (repo__query_t, beside the run in repo_fruit.c, repo_book.c,
 * repo_bookstore.c).
 *
 * The top of the repository files: it calls the kinds' files, none calls it.
 */
#include "repo_int.h"

#include "cache_admin.h"

#include <cjson/cJSON.h>

#include <string.h>

/* Every cached query the repositories run; t/unit/kind.c checks that each
 * cache_query.c declaration has one here. */
static const repo__query_t *const repo_verify__queries[] = {
    &repo__q_fruit_by_size, &repo__q_fruit_by_colour,      &repo__q_fruit_by_acidity,
    &repo__q_books,         &repo__q_bookstores_for_books, &repo__q_bookstore_books,
    &repo__q_bookstores,    &repo__q_bookstore_by_name,
};

const repo__query_t *repo__query_find(const char *name)
{
    for (size_t i = 0; i < sizeof repo_verify__queries / sizeof repo_verify__queries[0]; i++) {
        if (strcmp(repo_verify__queries[i]->name, name) == 0) return repo_verify__queries[i];
    }
    return NULL;
}

static int repo_verify__fetch(void *ud, arena_t *a, cache_kind_t k, const char *id,
                              const char **json, err_t *e)
{
    repo_t *r = ud;
    r->arena = a;
    const void *arg;
    repo__parse_fn parse = repo__parser(k, &arg);
    void *rec = NULL;
    *json = NULL;
    if (repo__get_many(r, repo__coll(k), &id, 1, parse, arg, &rec, e) != 0) return -1;
    if (rec) *json = repo__to_json(r, k, rec);
    return 0;
}

static int repo_verify__query(void *ud, arena_t *a, const cache_query_t *q, cache_doc_t **docs,
                              size_t *n, int *exhaustive, err_t *e)
{
    repo_t *r = ud;
    r->arena = a;
    const repo__query_t *rq = repo__query_find(q->decl->name);
    if (rq == NULL)
        return err_set(e, ERR_INTERNAL, "no MongoDB run for cached query %s", q->decl->name);
    cJSON *pred = cJSON_Parse(q->pred_json);
    const void *arg = rq->arg_of(a, cJSON_GetObjectItemCaseSensitive(pred, "a"), q->limit);
    cJSON_Delete(pred);
    repo__batch_t b = {0};
    if (rq->run(r, arg, q->limit >= 0 ? q->limit + 1 : -1, &b, e) != 0) return -1;
    *exhaustive = 1;
    if (q->limit >= 0 && b.n > (size_t)q->limit) {
        b.n = (size_t)q->limit;
        *exhaustive = 0;
    }
    *docs = arena_alloc(a, (b.n ? b.n : 1) * sizeof **docs);
    for (size_t i = 0; i < b.n; i++) (*docs)[i] = repo__doc(r, b.kinds[i], b.recs[i]);
    *n = b.n;
    return 0;
}

void repo_cache_source(repo_t *r, cache_source_t *src)
{
    src->ud = r;
    src->fetch = repo_verify__fetch;
    src->query = repo_verify__query;
}
