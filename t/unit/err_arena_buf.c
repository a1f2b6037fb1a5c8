/*
 * Unit tests for the foundation helpers: err, arena, buf, cfg.
 */
#include "arena.h"
#include "buf.h"
#include "cfg.h"
#include "err.h"
#include "tap.h"

#include <cjson/cJSON.h>

#include <stdlib.h>

int main(void)
{
    err_t e;
    err_clear(&e);
    check_int(err_set(&e, ERR_BAD_INPUT, "id %s is bad", "x:y"), -1, "err_set returns -1");
    check_str(e.msg, "id x:y is bad", "err_set formats the message");
    check_str(err_code_name(e.code), "BAD_USER_INPUT", "code name");
    err_wrap(&e, "loading %s", "schema");
    check_str(e.msg, "loading schema: id x:y is bad", "err_wrap prefixes context");
    check_str(err_code_name((err_code_t)999), "INTERNAL", "unknown code is INTERNAL");

    arena_t a;
    arena_init(&a, 64);
    char *s = arena_strdup(&a, "hello");
    check_str(s, "hello", "arena_strdup");
    void *big = arena_alloc(&a, 1000);
    ok(big != NULL && ((uintptr_t)big & 15) == 0, "large allocation is aligned");
    check_str(arena_printf(&a, "%d-%s", 42, "x"), "42-x", "arena_printf");
    arena_reset(&a);
    check_int(a.used_total, 0, "reset forgets allocations");
    arena_destroy(&a);

    buf_t b = BUF_INIT;
    buf_put_json_str(&b, "a\"b\\c\n\x01\xff\xc3\xa9", 10);
    check_str(b.data, "\"a\\\"b\\\\c\\n\\u0001\\ufffd\xc3\xa9\"", "json string escaping");
    buf_reset(&b);
    buf_put_double(&b, 2.0);
    buf_putc(&b, ' ');
    buf_put_double(&b, 0.1);
    buf_putc(&b, ' ');
    buf_put_double(&b, 1.0 / 0.0);
    check_str(b.data, "2 0.1 null", "doubles");
    buf_free(&b);

    /* JSON strings, against cJSON's printer on valid UTF-8 (where both
     * escape the same bytes the same way): random mixes of plain runs (the
     * word-at-a-time path), quotes, backslashes, control bytes and 2-4 byte
     * characters, at every offset. */
    {
        static const char *const pieces[] = {"abcdefgh",
                                             "xyz",
                                             "\"",
                                             "\\",
                                             "\n",
                                             "\x01",
                                             "\x1f",
                                             "\x7f",
                                             "\xc3\xa9",
                                             "\xe2\x82\xac",
                                             "\xf0\x9f\x98\x80",
                                             " ",
                                             "0123456789abcdef"};
        unsigned seed = 12345;
        int bad = 0;
        for (int round = 0; round < 2000 && !bad; round++) {
            char in[256];
            size_t n = 0;
            for (int k = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 12; k > 0; k--) {
                const char *pc = pieces[((seed = seed * 1103515245u + 12345u) >> 16) % 13];
                memcpy(in + n, pc, strlen(pc));
                n += strlen(pc);
            }
            in[n] = '\0';
            buf_t mine = BUF_INIT;
            buf_put_json_str(&mine, in, n);
            cJSON *node = cJSON_CreateString(in);
            char *theirs = cJSON_PrintUnformatted(node);
            if (strcmp(mine.data, theirs) != 0) {
                bad = 1;
                tap_diag("differ on round %d: %s vs %s", round, mine.data, theirs);
            }
            free(theirs);
            cJSON_Delete(node);
            buf_free(&mine);
        }
        ok(!bad, "JSON strings escape as cJSON does (2000 random strings)");
    }

    cfg_t c;
    unsetenv("OPONN_HTTP_PORT");
    check_int(cfg_load(&c, &e), 0, "defaults load");
    check_int(c.http_port, 8080, "default port");
    setenv("OPONN_HTTP_PORT", "99999", 1);
    check_int(cfg_load(&c, &e), -1, "out-of-range port refused");
    ok(strstr(e.msg, "OPONN_HTTP_PORT=99999") != NULL, "message names the variable: %s", e.msg);
    setenv("OPONN_HTTP_PORT", "80x", 1);
    check_int(cfg_load(&c, &e), -1, "non-number refused");
    unsetenv("OPONN_HTTP_PORT");
    return tap_done();
}
