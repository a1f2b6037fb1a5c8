/*
 * ingest_fuzz_replay.c — replays inputs through fuzz/ingest_fuzz.c (see
 * fuzz_replay.h):   ingest_fuzz_replay FILE...
 */
#include "../../fuzz/ingest_fuzz.c"
#include "fuzz_replay.h"
