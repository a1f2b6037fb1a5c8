/*
 * err.h — the one error type of oponn, and the log the library reports to.
 *
 * Every function that can fail returns 0 on success and -1 on failure and
 * fills an err_t: a code (the `extensions.code` of ../shared/API.md it maps
 * to) and a message a person can act on. Library code never prints or
 * exits: what it must report beyond an err_t (details an answer must not
 * carry, a degraded start) goes to err_log(), which reaches the log
 * function the executable installed (fcgi/: oponn-worker, oponn-writer,
 * oponn); the executable decides how anything is shown.
 */
#ifndef OPONN_ERR_H
#define OPONN_ERR_H

#include <stddef.h>

typedef enum {
    ERR_OK = 0,
    ERR_PARSE,       /* GRAPHQL_PARSE_FAILED */
    ERR_VALIDATION,  /* GRAPHQL_VALIDATION_FAILED */
    ERR_BAD_INPUT,   /* BAD_USER_INPUT */
    ERR_NOT_FOUND,   /* NOT_FOUND */
    ERR_NAME_TAKEN,  /* BOOKSTORE_NAME_TAKEN */
    ERR_FK,          /* FOREIGN_KEY_VIOLATION */
    ERR_HAS_BOOKS,   /* BOOKSTORE_HAS_BOOKS */
    ERR_TOO_COMPLEX, /* QUERY_TOO_COMPLEX */
    ERR_UNAUTH,      /* UNAUTHENTICATED */
    ERR_UNAVAILABLE, /* UNAVAILABLE: a dependency is down */
    ERR_INTERNAL,    /* INTERNAL: never shown with details */
    ERR__COUNT
} err_code_t;

typedef struct {
    err_code_t code;
    char msg[512];
    /* Set by the backend that knows (lib/store.c): the request never left
     * this process (no server selected, connection refused), so it cannot
     * have changed anything. Cleared by err_set. A write that failed without
     * it may have been applied (reply lost). */
    int unsent;
} err_t;

/* Fills *e (when e is not NULL) and returns -1, so callers can write
 * `return err_set(e, ERR_BAD_INPUT, "id %s is not valid", id);`. */
int err_set(err_t *e, err_code_t code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefixes the message already in *e with context ("loading schema: ...").
 * Returns -1. */
int err_wrap(err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void err_clear(err_t *e);

/* The ../shared/API.md name of a code, e.g. "BAD_USER_INPUT". Never NULL. */
const char *err_code_name(err_code_t code);

/* The executable's log: one line, without its newline. */
typedef void (*err_log_fn)(const char *line);
/* Installs fn for the whole process (before the library runs; NULL: lines
 * are dropped, the default, as in unit tests). */
void err_log_set(err_log_fn fn);
/* Formats one line and hands it to the installed function. */
void err_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
