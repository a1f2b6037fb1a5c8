/*
 * namekey.h — the normalized form of a bookstore name (`name_key`).
 *
 * Two names are "the same bookstore" when their keys are equal; MongoDB holds
 * a unique index on `bookstores.name_key`, so the index decides collisions
 * (no collation: a standalone mongod and the stand-in may lack it). The rule,
 * applied in this order:
 *
 *   1. the name must be valid UTF-8 without control characters;
 *   2. full case folding with NFKC normalization (libunistring u8_casefold
 *      with UNINORM_NFKC): "ＴＨＥ" -> "the", "Straße" -> "strasse",
 *      "ﬁ" -> "fi", NFD and NFC spellings of "é" agree;
 *   3. apostrophes (' U+2018 U+2019 U+02BC U+FF07 and the like after NFKC)
 *      and format characters (general category Cf: zero-width space and
 *      joiners, soft hyphen, BOM) are deleted: "Foyle's" == "Foyles";
 *   4. every other punctuation character (general category P*: - _ . , ! ? &
 *      " ( ) / : ; etc.) and every white-space character is a separator;
 *   5. runs of separators become one ASCII space; separators at the start
 *      and the end are dropped.
 *
 * Letters, digits, marks and symbols (S*: $ + = © ™ emoji) are kept as they
 * are after step 2, so accents still distinguish ("cafe" != "café") and
 * "$where" keeps its dollar. A name whose key is empty ("!!!") is refused.
 */
#ifndef OPONN_NAMEKEY_H
#define OPONN_NAMEKEY_H

#include "err.h"

#include <stddef.h>

/* Longest key accepted, in bytes (well under MongoDB's index key limit). */
#define NAMEKEY_MAX 1000

/* Computes the key of name[0..len). On success *out is a NUL-terminated
 * malloc'd string the caller frees with free(). On failure returns -1 with
 * ERR_BAD_INPUT and a message naming `field` (e.g. "name"). */
int namekey_make(const char *name, size_t len, const char *field, char **out, err_t *e);

#endif
