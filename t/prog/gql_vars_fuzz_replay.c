/*
 * gql_vars_fuzz_replay.c — replays inputs through fuzz/gql_vars_fuzz.c (see
 * fuzz_replay.h):   gql_vars_fuzz_replay FILE...
 */
#include "../../fuzz/gql_vars_fuzz.c"
#include "fuzz_replay.h"
