/*
 * t/unit/namekey.c — the bookstore name normalization table (lib/namekey.h).
 *
 * Each row is two names and whether they must collide (same name_key). The
 * expected key of the first name is checked too, so a change of the rule
 * shows up as a readable diff rather than only as a collision flip.
 */
#include "namekey.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    const char *a, *b;
    int same;
    const char *key_a;
} rows[] = {
    /* the examples */
    {"The Book Nook", "the  book nook", 1, "the book nook"},
    {"The Book Nook", "THE BOOK NOOK!", 1, "the book nook"},
    {"The Book Nook",
     "\xef\xbc\xb4\xef\xbd\x88\xef\xbd\x85\xe3\x80\x80\xef\xbc\xa2\xef\xbd\x8f"
     "\xef\xbd\x8f\xef\xbd\x8b\xe3\x80\x80\xef\xbc\xae\xef\xbd\x8f\xef\xbd\x8f"
     "\xef\xbd\x8b",
     1, "the book nook"}, /* full-width letters and ideographic spaces */
    {"The Book Nook", "the  book-nook", 1, "the book nook"},
    {"The Book Nook", "  The Book Nook  ", 1, "the book nook"},
    {"The Book Nook", "The\tBook\nNook", 0, NULL}, /* control characters are refused */
    {"The Book Nook",
     "The\xc2\xa0"
     "Book\xe2\x80\x83Nook",
     1, "the book nook"}, /* NBSP, em space */
    {"The Book Nook", "...The Book Nook...", 1, "the book nook"},
    {"The Book Nook", "The Book Nooks", 0, "the book nook"},
    {"The Book Nook", "The Book Nok", 0, "the book nook"},
    {"The Book Nook", "TheBook Nook", 0, "the book nook"},
    /* apostrophes are deleted, other punctuation separates */
    {"Foyle's", "Foyles", 1, "foyles"},
    {"Foyle's", "Foyle\xe2\x80\x99s", 1, "foyles"}, /* U+2019 */
    {"Foyle's", "FOYLE\xca\xbcS", 1, "foyles"},     /* U+02BC */
    {"Foyle's", "Foyle s", 0, "foyles"},
    {"Books & Co.", "Books &  Co", 1, "books co"},
    {"Books & Co.", "books, co", 1, "books co"},
    {"Books & Co.", "Books and Co", 0, "books co"},
    {"Smith/Jones Books", "Smith Jones Books", 1, "smith jones books"},
    {"Page_One", "page one", 1, "page one"},
    {"(Used) Books", "used books", 1, "used books"},
    {"\xc2\xab"
     "Livres"
     "\xc2\xbb",
     "\"livres\"", 1, "livres"}, /* guillemets vs quotes */
    /* case folding beyond ASCII */
    {"Stra\xc3\x9f"
     "e Books",
     "STRASSE BOOKS", 1, "strasse books"},
    {"\xce\xa3\xce\x9f\xce\xa6\xce\x99\xce\x91", "\xcf\x83\xce\xbf\xcf\x86\xce\xb9\xce\xb1", 1,
     "\xcf\x83\xce\xbf\xcf\x86\xce\xb9\xce\xb1"}, /* ΣΟΦΙΑ / σοφια */
    {"\xd0\x9a\xd0\x9d\xd0\x98\xd0\x93\xd0\x98", "\xd0\xba\xd0\xbd\xd0\xb8\xd0\xb3\xd0\xb8", 1,
     "\xd0\xba\xd0\xbd\xd0\xb8\xd0\xb3\xd0\xb8"}, /* КНИГИ / книги */
    /* NFKC: composed vs decomposed, ligatures, compatibility forms */
    {"Caf\xc3\xa9 Livres", "Cafe\xcc\x81 livres", 1, "caf\xc3\xa9 livres"},
    {"Caf\xc3\xa9 Livres", "Cafe Livres", 0, "caf\xc3\xa9 livres"}, /* accents still count */
    {"\xef\xac\x81"
     "ction House",
     "Fiction House", 1, "fiction house"},                      /* ﬁ ligature */
    {"Book\xe2\x84\xa2 Shop", "BookTM Shop", 1, "booktm shop"}, /* ™ -> TM */
    {"\xe2\x91\xa0 Books", "1 Books", 1, "1 books"},            /* circled one */
    {"Books 2", "Books II", 0, "books 2"},
    /* format characters are deleted */
    {"Book\xe2\x80\x8bNook", "BookNook", 1, "booknook"}, /* zero-width space */
    {"Book\xc2\xadNook", "booknook", 1, "booknook"},     /* soft hyphen */
    {"\xef\xbb\xbfThe Nook", "the nook", 1, "the nook"}, /* BOM */
    /* symbols are kept: operator-looking names stay literal */
    {"$where", "where", 0, "$where"},
    {"{\"$gt\": \"\"}", "gt", 0, "$gt"},
    {"C++ Books", "C Books", 0, "c++ books"},
    {"A+B", "A B", 0, "a+b"},
    {"\xe2\x9c\xa8 Sparkle", "sparkle", 0, "\xe2\x9c\xa8 sparkle"},
    /* different stores stay different */
    {"North Books", "South Books", 0, "north books"},
    {"Books North", "North Books", 0, "books north"},
};

/* The name with control characters shown as \xNN, so TAP lines stay one line. */
static const char *shown(const char *s, char *out, size_t cap)
{
    size_t k = 0;
    for (; *s && k + 5 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        k += (size_t)snprintf(out + k, cap - k, c < 0x20 ? "\\x%02x" : "%c", c);
    }
    out[k] = '\0';
    return out;
}

int main(void)
{
    size_t n = sizeof rows / sizeof rows[0];
    ok(n >= 30, "table has %zu pairs (at least 30)", n);
    for (size_t i = 0; i < n; i++) {
        err_t e = {0};
        char *ka = NULL, *kb = NULL;
        int ra = namekey_make(rows[i].a, strlen(rows[i].a), "name", &ka, &e);
        int rb = namekey_make(rows[i].b, strlen(rows[i].b), "name", &kb, &e);
        if (rows[i].key_a) check_str(ra == 0 ? ka : e.msg, rows[i].key_a, "key of row %zu", i);
        int same = ra == 0 && rb == 0 && strcmp(ka, kb) == 0;
        char sa[256], sb[256];
        ok(same == rows[i].same, "row %zu: '%s' %s '%s' (keys '%s' / '%s')", i,
           shown(rows[i].a, sa, sizeof sa),
           rows[i].same ? "==" : "!=", shown(rows[i].b, sb, sizeof sb), ka ? ka : "-",
           kb ? kb : e.msg);
        free(ka);
        free(kb);
    }

    /* refusals */
    const char *bad[] = {"", "   ", "!!!", "-_-", "a\x01z", "\xff\xfe", "\xe2\x80\x8b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_t e = {0};
        char *k = NULL;
        int r = namekey_make(bad[i], strlen(bad[i]), "name", &k, &e);
        ok(r == -1 && k == NULL && e.code == ERR_BAD_INPUT && strncmp(e.msg, "name: ", 6) == 0,
           "refused bad name %zu: %s", i, e.msg);
    }
    /* a key longer than the cap: U+FDFA expands to 18 characters under NFKC */
    char big[3 * 200 + 1];
    for (int i = 0; i < 200; i++) memcpy(big + 3 * i, "\xef\xb7\xba", 3);
    big[600] = '\0';
    err_t e = {0};
    char *k = NULL;
    ok(namekey_make(big, 600, "name", &k, &e) == -1 && strstr(e.msg, "too long"),
       "expansion past NAMEKEY_MAX refused: %s", e.msg);
    return tap_done();
}
