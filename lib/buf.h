/*
 * buf.h — a growable byte buffer for responses, keys and JSON.
 *
 * Owns its bytes (malloc); buf_free() releases them. Growth doubles, so
 * appending n bytes in pieces costs O(n). The content is always
 * NUL-terminated so it can be used as a C string. Out of memory aborts (see
 * arena.h for why).
 */
#ifndef OPONN_BUF_H
#define OPONN_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} buf_t;

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void buf_free(buf_t *b);
/* Empties the buffer; keeps its memory. */
void buf_reset(buf_t *b);
void buf_reserve(buf_t *b, size_t extra);
void buf_append(buf_t *b, const void *p, size_t n);
void buf_puts(buf_t *b, const char *s);
void buf_putc(buf_t *b, char c);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_put_i64(buf_t *b, int64_t v);
/* Shortest representation that reads back to the same double; NaN and
 * infinities (which JSON cannot hold) are written as null. */
void buf_put_double(buf_t *b, double v);
/* Appends s as a JSON string with quotes. Bytes that are not valid UTF-8 are
 * replaced by U+FFFD so the output is always valid JSON. */
void buf_put_json_str(buf_t *b, const char *s, size_t n);

#endif
