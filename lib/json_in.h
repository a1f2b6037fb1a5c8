/*
 * json_in.h — JSON text read into cJSON-shaped nodes in an arena.
 *
 * Why not cJSON_Parse: it mallocs every node and string and reads numbers
 * through strtod and localeconv. A request's body and variables, and every
 * record the cache answers (model.c reads each one back from its JSON),
 * cost more that way than executing the query. The nodes are plain cJSON structs, so
 * callers read them with the cJSON accessors; they and their strings belong
 * to the arena (never give them to cJSON_Delete).
 *
 * Accepts exactly what cJSON_Parse accepts (fuzz/gql_vars_fuzz.c compares
 * the two): a byte order mark, bytes <= 0x20 as whitespace, anything after
 * the value ignored, numbers as the longest run of [0-9+-.eE] strtod reads,
 * raw control bytes inside strings, and cJSON's nesting limit.
 */
#ifndef OPONN_JSON_IN_H
#define OPONN_JSON_IN_H

#include "arena.h"

#include <cjson/cJSON.h>
#include <stddef.h>

/* text[0..len) read as cJSON_Parse would read it; NULL when it is not JSON. */
const cJSON *json_in_read(arena_t *a, const char *text, size_t len);

/* The same, but NULL unless only whitespace follows the value (as
 * cJSON_ParseWithOpts with require_null_terminated). */
const cJSON *json_in_read_whole(arena_t *a, const char *text, size_t len);

#endif
