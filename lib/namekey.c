/*
 * namekey.c — bookstore name normalization (the rule is in namekey.h).
 */
#include "namekey.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

static bool namekey__is_apostrophe(ucs4_t c)
{
    /* After NFKC, U+FF07 (full-width) is already U+0027. */
    return c == 0x27 || c == 0x2018 || c == 0x2019 || c == 0x201B || c == 0x02BC || c == 0x02B9 ||
           c == 0x0060 || c == 0x00B4 || c == 0x2032;
}

static bool namekey__is_separator(ucs4_t c)
{
    return uc_is_property_white_space(c) || uc_is_general_category(c, UC_CATEGORY_P);
}

int namekey_make(const char *name, size_t len, const char *field, char **out, err_t *e)
{
    *out = NULL;
    const uint8_t *s = (const uint8_t *)name;
    const uint8_t *bad = u8_check(s, len);
    if (bad != NULL) {
        return err_set(e, ERR_BAD_INPUT, "%s: not valid UTF-8 (byte %zu)", field,
                       (size_t)(bad - s));
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (c < 0x20 || c == 0x7f) {
            return err_set(e, ERR_BAD_INPUT, "%s: control character at byte %zu", field, i);
        }
    }
    size_t flen = 0;
    uint8_t *folded = u8_casefold(s, len, NULL, UNINORM_NFKC, NULL, &flen);
    if (folded == NULL) {
        return err_set(e, ERR_BAD_INPUT, "%s: cannot be normalized", field);
    }
    /* The key is never longer than the folded text. */
    char *key = malloc(flen + 1);
    if (key == NULL) abort();
    size_t k = 0;
    bool pending_sep = false;
    const uint8_t *p = folded, *end = folded + flen;
    while (p < end) {
        ucs4_t c;
        int n = u8_mbtouc(&c, p, (size_t)(end - p));
        if (namekey__is_apostrophe(c) || uc_is_general_category(c, UC_CATEGORY_Cf)) {
            /* deleted */
        } else if (namekey__is_separator(c)) {
            pending_sep = k > 0;
        } else {
            if (pending_sep) key[k++] = ' ';
            pending_sep = false;
            memcpy(key + k, p, (size_t)n);
            k += (size_t)n;
        }
        p += n;
    }
    key[k] = '\0';
    free(folded);
    if (k == 0) {
        free(key);
        return err_set(e, ERR_BAD_INPUT,
                       "%s: must contain a letter, digit or symbol (only spaces and "
                       "punctuation given)",
                       field);
    }
    if (k > NAMEKEY_MAX) {
        free(key);
        return err_set(e, ERR_BAD_INPUT, "%s: too long once normalized (%zu bytes, max %d)", field,
                       k, NAMEKEY_MAX);
    }
    *out = key;
    return 0;
}
