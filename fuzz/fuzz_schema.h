/*
 * fuzz_schema.h — shared by the GraphQL fuzz targets (included, not
 * compiled alone): loads the corpus schema t/gql/schema.graphql (or
 * $GQL_FUZZ_SCHEMA) once and sets up the target's arena. Aborts on failure:
 * a target without its schema would only test the error path.
 */
#ifndef OPONN_FUZZ_SCHEMA_H
#define OPONN_FUZZ_SCHEMA_H

#include "gql.h"

#include <stdio.h>
#include <stdlib.h>

/* The schema (caller frees with gql_schema_free); initialises *a. */
static gql_schema_t *fz_schema_load(arena_t *a)
{
    const char *path =
        getenv("GQL_FUZZ_SCHEMA") ? getenv("GQL_FUZZ_SCHEMA") : "t/gql/schema.graphql";
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        abort();
    }
    static char sdl[1 << 16];
    size_t n = fread(sdl, 1, sizeof sdl, f);
    fclose(f);
    gql_schema_t *s;
    err_t e;
    if (gql_schema_load(sdl, n, &s, &e)) {
        fprintf(stderr, "%s:%s\n", path, e.msg);
        abort();
    }
    arena_init(a, 0);
    return s;
}

#endif
