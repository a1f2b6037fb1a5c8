/*
 * err.c — filling and naming err_t (see err.h).
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const err_names[ERR__COUNT] = {
    [ERR_OK] = "OK",
    [ERR_PARSE] = "GRAPHQL_PARSE_FAILED",
    [ERR_VALIDATION] = "GRAPHQL_VALIDATION_FAILED",
    [ERR_BAD_INPUT] = "BAD_USER_INPUT",
    [ERR_NOT_FOUND] = "NOT_FOUND",
    [ERR_NAME_TAKEN] = "BOOKSTORE_NAME_TAKEN",
    [ERR_FK] = "FOREIGN_KEY_VIOLATION",
    [ERR_HAS_BOOKS] = "BOOKSTORE_HAS_BOOKS",
    [ERR_TOO_COMPLEX] = "QUERY_TOO_COMPLEX",
    [ERR_UNAUTH] = "UNAUTHENTICATED",
    [ERR_UNAVAILABLE] = "UNAVAILABLE",
    [ERR_INTERNAL] = "INTERNAL",
};

int err_set(err_t *e, err_code_t code, const char *fmt, ...)
{
    if (e == NULL) return -1;
    e->code = code;
    e->unsent = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int err_wrap(err_t *e, const char *fmt, ...)
{
    if (e == NULL) return -1;
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Shift the old message right and put the prefix in front; truncation of
     * the tail is acceptable, the start of a message says the most. */
    size_t plen = strlen(prefix);
    if (plen + 2 >= sizeof e->msg) plen = sizeof e->msg - 3;
    size_t olen = strnlen(e->msg, sizeof e->msg - 1);
    if (plen + 2 + olen >= sizeof e->msg) olen = sizeof e->msg - plen - 3;
    memmove(e->msg + plen + 2, e->msg, olen);
    memcpy(e->msg, prefix, plen);
    e->msg[plen] = ':';
    e->msg[plen + 1] = ' ';
    e->msg[plen + 2 + olen] = '\0';
    if (e->code == ERR_OK) e->code = ERR_INTERNAL;
    return -1;
}

void err_clear(err_t *e)
{
    if (e == NULL) return;
    e->code = ERR_OK;
    e->unsent = 0;
    e->msg[0] = '\0';
}

const char *err_code_name(err_code_t code)
{
    if ((unsigned)code >= ERR__COUNT) return "INTERNAL";
    return err_names[code];
}

static err_log_fn err__log;

void err_log_set(err_log_fn fn)
{
    err__log = fn;
}

void err_log(const char *fmt, ...)
{
    if (err__log == NULL) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    err__log(line);
}
