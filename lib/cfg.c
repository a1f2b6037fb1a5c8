/*
 * cfg.c — reading the knobs of cfg.h from the environment.
 */
#include "cfg.h"

#include <errno.h>
#include <stdlib.h>

#define CFG__ROW(type, f, env, def, min, max, help) {env, def, help},
static const cfg_knob_t cfg__table[] = {CFG_KNOBS(CFG__ROW)};

const cfg_knob_t *cfg_knobs(size_t *count)
{
    *count = sizeof cfg__table / sizeof cfg__table[0];
    return cfg__table;
}

static const char *cfg__raw(const char *env, const char *def)
{
    const char *v = getenv(env);
    return (v != NULL && v[0] != '\0') ? v : def;
}

static int cfg__int(long long *out, const char *env, const char *def, long long min, long long max,
                    err_t *e)
{
    const char *v = cfg__raw(env, def);
    errno = 0;
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0') {
        return err_set(e, ERR_BAD_INPUT, "%s=%s is not a whole number", env, v);
    }
    if (n < min || n > max) {
        return err_set(e, ERR_BAD_INPUT, "%s=%s is out of range (%lld..%lld)", env, v, min, max);
    }
    *out = n;
    return 0;
}

#define CFG__LOAD_STR(f, env, def, min, max)                                                       \
    cfg->f = cfg__raw(env, def);                                                                   \
    (void)(min);                                                                                   \
    (void)(max);
#define CFG__LOAD_INT(f, env, def, min, max)                                                       \
    if (cfg__int(&cfg->f, env, def, min, max, e) != 0) return -1;
#define CFG__LOAD(type, f, env, def, min, max, help) CFG__LOAD_##type(f, env, def, min, max)

int cfg_load(cfg_t *cfg, err_t *e)
{
    CFG_KNOBS(CFG__LOAD)
    return 0;
}
