/*
 * tap.h — a tiny TAP producer for C unit tests (in the spirit of git's
 * unit-test library and libuv's runner). Header-only; each test is a small
 * program run by `prove`.
 *
 *   ok(cond, "name %d", i);      check_int(got, want, "name");
 *   check_str(got, want, "name"); return tap_done();
 */
#ifndef OPONN_TAP_H
#define OPONN_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap__n, tap__failed;

static inline int tap__ok(int cond, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    tap__n++;
    printf("%sok %d - ", cond ? "" : "not ", tap__n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond) {
        tap__failed++;
        printf("#   failed at %s:%d\n", file, line);
    }
    fflush(stdout);
    return cond;
}

#define ok(cond, ...) tap__ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define check_int(got, want, ...)                                                                  \
    do {                                                                                           \
        long long tap__g = (long long)(got), tap__w = (long long)(want);                           \
        if (!ok(tap__g == tap__w, __VA_ARGS__))                                                    \
            printf("#   got %lld, want %lld\n", tap__g, tap__w);                                   \
    } while (0)

#define check_str(got, want, ...)                                                                  \
    do {                                                                                           \
        const char *tap__g = (got), *tap__w = (want);                                              \
        int tap__same = (tap__g && tap__w) ? strcmp(tap__g, tap__w) == 0 : tap__g == tap__w;       \
        if (!ok(tap__same, __VA_ARGS__))                                                           \
            printf("#   got  \"%s\"\n#   want \"%s\"\n", tap__g ? tap__g : "(null)",               \
                   tap__w ? tap__w : "(null)");                                                    \
    } while (0)

static inline void tap_diag(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

static inline void tap_skip_all(const char *why)
{
    printf("1..0 # SKIP %s\n", why);
}

/* Prints the plan and returns the exit status for main(). */
static inline int tap_done(void)
{
    printf("1..%d\n", tap__n);
    return tap__failed ? 1 : 0;
}

#endif
