/*
 * fcgi_proto_fuzz_replay.c — replays inputs through fuzz/fcgi_proto_fuzz.c
 * (see fuzz_replay.h):   fcgi_proto_fuzz_replay FILE...
 */
#include "../../fuzz/fcgi_proto_fuzz.c"
#include "fuzz_replay.h"
