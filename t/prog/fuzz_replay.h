/*
 * fuzz_replay.h — the main() of every fuzz replay program: runs inputs
 * through a libFuzzer target without libFuzzer (so `make test` and the ASan
 * build replay them). A replay program includes its target's fuzz/<t>.c,
 * which defines LLVMFuzzerTestOneInput and fuzz_replay_done (frees what the
 * target keeps between inputs), then this file:
 *
 *   <t>_replay FILE...     exit 0 when every input ran
 */
#ifndef OPONN_FUZZ_REPLAY_H
#define OPONN_FUZZ_REPLAY_H

#include "buf.h"

#include <stdint.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (f == NULL) {
            perror(argv[i]);
            return 2;
        }
        buf_t b = BUF_INIT;
        char tmp[4096];
        size_t n;
        while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) buf_append(&b, tmp, n);
        fclose(f);
        LLVMFuzzerTestOneInput((const uint8_t *)(b.data ? b.data : ""), b.len);
        buf_free(&b);
    }
    fuzz_replay_done();
    printf("replayed %d input(s)\n", argc - 1);
    return 0;
}

#endif
