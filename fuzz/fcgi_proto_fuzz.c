/*
 * fcgi_proto_fuzz.c — libFuzzer target over the FastCGI framing
 * (lib/fcgi_proto): the input's first byte picks how the rest is cut into
 * reads (1 to 256 bytes each), as a connection would receive it; every
 * request that comes out is walked (env strings and body read to the end)
 * and answered, and a broken record ends the connection as the worker
 * would. A read past a buffer or an unterminated string is an ASan report.
 *
 * `make fuzz` runs it; its regress inputs (fuzz/regress/fcgi_proto_fuzz/:
 * requests as nginx frames them) are replayed by t/25-gql-fuzz-regress.t
 * through t/prog/fcgi_proto_fuzz_replay.c.
 */
#include "fcgi_proto.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    size_t step = (size_t)data[0] + 1;
    data++;
    size--;
    fcgi_conn_t c;
    fcgi_conn_init(&c);
    buf_t out = BUF_INIT;
    size_t sum = 0;
    for (size_t off = 0; off < size; off += step) {
        size_t n = size - off < step ? size - off : step;
        memcpy(fcgi_conn_space(&c, n), data + off, n);
        c.in.len += n;
        err_t e = {0};
        int rc;
        while ((rc = fcgi_conn_feed(&c, 1000, &e)) == FCGI_READY) {
            for (const char *p = c.env.data, *end = p + c.env.len; p < end; p += strlen(p) + 1)
                sum += strlen(p);
            sum += c.body.len + strlen(c.body.data);
            buf_reset(&out);
            fcgi_put_answer(&out, c.id, "Status: 200 OK\r\n\r\n", 18, c.body.data, c.body.len);
            fcgi_conn_next(&c);
        }
        buf_reset(&c.out);
        if (rc == FCGI_BROKEN) break;
    }
    fcgi_conn_free(&c);
    buf_free(&out);
    return sum == (size_t)-1;
}

/* The replay program calls it; this target keeps nothing between inputs. */
void fuzz_replay_done(void)
{
}
