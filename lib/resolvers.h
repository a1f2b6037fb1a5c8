/*
 * resolvers.h — oponn's schema fields mapped to repository calls.
 *
 * Owns the resolver table handed to the GraphQL engine and the per-request
 * context resolvers receive (call->ctx). Every resolver is a batch resolver
 * (gql.h): it is called once per execution level with every parent that
 * selects the field, so `books(ids) { bookstore { name } }` costs one
 * bookstore fetch, not one per book. Resolvers only call repo_ functions;
 * they never talk to MongoDB or Redis.
 */
#ifndef OPONN_RESOLVERS_H
#define OPONN_RESOLVERS_H

#include "gql.h"
#include "repo.h"

struct app; /* app.h; resolvers never look inside it */

typedef struct {
    repo_t *repo;    /* the worker's repository context, begun for this request */
    struct app *app; /* owner of this context (for HTTP-level callbacks) */
    bool debug;      /* X-Oponn-Debug: 1 */
    /* Logging of backend errors (stderr, the pool's log): at most one
     * UNAVAILABLE line a second, so an outage does not flood the log. */
    long long log_second;
    unsigned log_skipped;
} resolvers_ctx_t;

/* The table for gql_resolvers_new(). Static; never freed. */
const gql_resolver_def_t *resolvers_table(size_t *n);

#endif
