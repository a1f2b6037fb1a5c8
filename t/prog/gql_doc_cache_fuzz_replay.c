/*
 * gql_doc_cache_fuzz_replay.c — replays inputs through
 * fuzz/gql_doc_cache_fuzz.c (see fuzz_replay.h):
 *   gql_doc_cache_fuzz_replay FILE...
 */
#include "../../fuzz/gql_doc_cache_fuzz.c"
#include "fuzz_replay.h"
