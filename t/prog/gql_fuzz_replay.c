/*
 * gql_fuzz_replay.c — replays fuzz inputs through the libFuzzer target
 * without libFuzzer (so `make test` and the ASan build run them):
 *
 *   gql_fuzz_replay FILE...     exit 0 when every input ran
 */
#include "../../fuzz/gql_fuzz.c"

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
    if (fz_schema) {
        gql_schema_free(fz_schema);
        arena_destroy(&fz_arena);
        buf_free(&fz_out);
    }
    printf("replayed %d input(s)\n", argc - 1);
    return 0;
}
