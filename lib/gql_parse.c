/*
 * gql_parse.c — lexer and parser of GraphQL documents (October 2021 spec).
 *
 * Owns: tokens with line/column (columns in UTF-16 units, as graphql-js
 * counts them, so error locations match), string and block-string decoding,
 * the executable-document parser and the type-system (SDL) definition parser
 * that gql_schema.c builds schemas from. Errors are "Syntax Error: ..." with
 * the location of the offending character or token. All memory comes from
 * the caller's arena; nesting is bounded (GQL_MAX_NESTING) so hostile input
 * cannot exhaust the stack.
 */
#include "gql_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define GQL__PUSH(a, arr, n, cap, item)                                                            \
    do {                                                                                           \
        GQL_GROW(a, arr, n, cap);                                                                  \
        (arr)[(n)++] = (item);                                                                     \
    } while (0)

/* ---- lexer ------------------------------------------------------------------ */

/* Location of p; p is on the current line (p >= lx->line_start). Columns
 * count UTF-16 code units like graphql-js. Amortised O(1): positions are
 * asked for in increasing order. */
static gql_loc_t gql__loc(gql_lexer_t *lx, const char *p)
{
    if (lx->ascii) {
        gql_loc_t l = {lx->line, (uint32_t)(p - lx->line_start) + 1};
        return l;
    }
    const char *from = lx->line_start;
    uint32_t col = 1;
    if (lx->cc_p >= lx->line_start && lx->cc_p <= p) {
        from = lx->cc_p;
        col = lx->cc_col;
    }
    for (const char *q = from; q < p; q++) {
        unsigned char c = (unsigned char)*q;
        if ((c & 0xC0) != 0x80) col += (c >= 0xF0) ? 2 : 1;
    }
    lx->cc_p = p;
    lx->cc_col = col;
    gql_loc_t l = {lx->line, col};
    return l;
}

int gql_parse_error(gql_lexer_t *lx, gql_loc_t loc, const char *fmt, ...)
{
    if (lx->err->code != ERR_OK) return -1; /* keep the first error */
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lx->err_loc = loc;
    return err_set(lx->err, ERR_PARSE, "Syntax Error: %s", msg);
}

static int gql__err_at(gql_lexer_t *lx, const char *p, const char *fmt, const char *arg)
{
    return gql_parse_error(lx, gql__loc(lx, p), fmt, arg);
}

void gql_lex_init(gql_lexer_t *lx, arena_t *a, const char *src, size_t len, err_t *e)
{
    memset(lx, 0, sizeof *lx);
    lx->src = lx->cur = lx->line_start = src;
    lx->end = src + len;
    lx->line = 1;
    lx->arena = a;
    lx->err = e;
    e->code = ERR_OK;
    e->msg[0] = '\0';
    lx->cc_p = NULL;
    /* Columns of an all-ASCII document (the common case) are a subtraction. */
    uint64_t any = 0;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        any |= w;
    }
    for (; i < len; i++) any |= (unsigned char)src[i];
    lx->ascii = (any & 0x8080808080808080u) == 0;
    /* A byte-order mark is ignored. */
    if (len >= 3 && memcmp(src, "\xEF\xBB\xBF", 3) == 0) lx->cur += 3;
}

/* Name characters by table: 1 may start a name, 2 only continue one. */
static const unsigned char gql__name_class[256] = {
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1,
    ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['_'] = 1, ['0'] = 2, ['1'] = 2, ['2'] = 2,
    ['3'] = 2, ['4'] = 2, ['5'] = 2, ['6'] = 2, ['7'] = 2, ['8'] = 2, ['9'] = 2};
static inline bool gql__name_start(int c)
{
    return gql__name_class[c & 0xff] == 1;
}
static inline bool gql__name_cont(int c)
{
    return gql__name_class[c & 0xff] != 0;
}

/* Describes the character at p for error messages, like graphql-js. */
static const char *gql__char_desc(gql_lexer_t *lx, const char *p)
{
    if (p >= lx->end) return "<EOF>";
    unsigned char c = (unsigned char)*p;
    if (c == '"') return "'\"'";
    if (c >= 0x20 && c < 0x7F) return arena_printf(lx->arena, "\"%c\"", c);
    return arena_printf(lx->arena, "U+%04X", c);
}

static void gql__newline(gql_lexer_t *lx, const char *after)
{
    lx->line++;
    lx->line_start = after;
}

/* Decodes \u escapes: returns the code point and advances *pp, or -1. */
static long gql__hex(const char *p, const char *end, int n)
{
    long v = 0;
    if (end - p < n) return -1;
    for (int i = 0; i < n; i++) {
        int c = (unsigned char)p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static void gql__put_utf8(buf_t *b, unsigned long cp)
{
    char t[4];
    if (cp < 0x80) {
        buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        t[0] = (char)(0xC0 | (cp >> 6));
        t[1] = (char)(0x80 | (cp & 0x3F));
        buf_append(b, t, 2);
    } else if (cp < 0x10000) {
        t[0] = (char)(0xE0 | (cp >> 12));
        t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[2] = (char)(0x80 | (cp & 0x3F));
        buf_append(b, t, 3);
    } else {
        t[0] = (char)(0xF0 | (cp >> 18));
        t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[3] = (char)(0x80 | (cp & 0x3F));
        buf_append(b, t, 4);
    }
}

/* Length of a valid UTF-8 sequence at p, or 0. */
static int gql__utf8_len(const char *p, const char *end)
{
    const unsigned char *s = (const unsigned char *)p;
    unsigned c = s[0];
    int len;
    unsigned min;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0)
        len = 2, min = 0x80, c &= 0x1F;
    else if ((c & 0xF0) == 0xE0)
        len = 3, min = 0x800, c &= 0x0F;
    else if ((c & 0xF8) == 0xF0)
        len = 4, min = 0x10000, c &= 0x07;
    else
        return 0;
    if (end - p < len) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    return len;
}

/* Reads a "string"; the decoded value goes to the arena (tok.p/len). */
static int gql__lex_string(gql_lexer_t *lx, const char *start)
{
    const char *p = start + 1;
    const char *run = p;
    buf_t b = BUF_INIT;
    bool escaped = false;
    while (p < lx->end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            lx->tok.kind = GQL_TOK_STRING;
            if (!escaped) {
                lx->tok.p = run;
                lx->tok.len = (uint32_t)(p - run);
            } else {
                buf_append(&b, run, (size_t)(p - run));
                lx->tok.p = arena_strndup(lx->arena, b.data ? b.data : "", b.len);
                lx->tok.len = (uint32_t)b.len;
            }
            buf_free(&b);
            lx->cur = p + 1;
            return 0;
        }
        if (c == '\n' || c == '\r') break;
        if (c == '\\') {
            escaped = true;
            buf_append(&b, run, (size_t)(p - run));
            char e = p + 1 < lx->end ? p[1] : 0;
            const char *esc = p;
            /* The spec's single-character escapes: \" \\ \/ \b \f \n \r \t. */
            static const char escape_from[] = "\"\\/bfnrt", escape_to[] = "\"\\/\b\f\n\r\t";
            const char *simple = e ? strchr(escape_from, e) : NULL;
            if (simple != NULL) {
                buf_putc(&b, escape_to[simple - escape_from]);
                p += 2;
                run = p;
                continue;
            }
            switch (e) {
            case 'u': {
                long cp;
                if (p + 2 < lx->end && p[2] == '{') {
                    const char *q = p + 3;
                    cp = 0;
                    int nd = 0;
                    while (q < lx->end && *q != '}') {
                        long d = gql__hex(q, lx->end, 1);
                        if (d < 0 || cp > 0x10FFFF) {
                            cp = -1;
                            break;
                        }
                        cp = cp * 16 + d;
                        nd++;
                        q++;
                    }
                    if (q >= lx->end || nd == 0 || cp < 0 || cp > 0x10FFFF ||
                        (cp >= 0xD800 && cp <= 0xDFFF)) {
                        buf_free(&b);
                        const char *stop = q < lx->end ? q + 1 : lx->end;
                        return gql__err_at(lx, esc, "Invalid Unicode escape sequence: \"%s\".",
                                           arena_strndup(lx->arena, esc, (size_t)(stop - esc)));
                    }
                    p = q + 1;
                } else {
                    cp = gql__hex(p + 2, lx->end, 4);
                    if (cp < 0) {
                        buf_free(&b);
                        size_t n = (size_t)(lx->end - esc) < 6 ? (size_t)(lx->end - esc) : 6;
                        return gql__err_at(lx, esc, "Invalid Unicode escape sequence: \"%s\".",
                                           arena_strndup(lx->arena, esc, n));
                    }
                    p += 6;
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        long lo = (p + 1 < lx->end && p[0] == '\\' && p[1] == 'u')
                                      ? gql__hex(p + 2, lx->end, 4)
                                      : -1;
                        if (lo >= 0xDC00 && lo <= 0xDFFF) {
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            p += 6;
                        } else {
                            buf_free(&b);
                            return gql__err_at(lx, esc, "Invalid Unicode escape sequence: \"%s\".",
                                               arena_strndup(lx->arena, esc, 6));
                        }
                    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                        buf_free(&b);
                        return gql__err_at(lx, esc, "Invalid Unicode escape sequence: \"%s\".",
                                           arena_strndup(lx->arena, esc, 6));
                    }
                }
                gql__put_utf8(&b, (unsigned long)cp);
                break;
            }
            default:
                buf_free(&b);
                return gql__err_at(lx, esc, "Invalid character escape sequence: \"%s\".",
                                   arena_strndup(lx->arena, esc, p + 1 < lx->end ? 2 : 1));
            }
            run = p;
            continue;
        }
        if (c >= 0x80) {
            int n = gql__utf8_len(p, lx->end);
            if (n == 0) {
                buf_free(&b);
                return gql__err_at(lx, p, "Invalid character within String: %s.",
                                   gql__char_desc(lx, p));
            }
            p += n;
            continue;
        }
        p++;
    }
    buf_free(&b);
    return gql__err_at(lx, p, "Unterminated string.%s", "");
}

static bool gql__ws(char c)
{
    return c == ' ' || c == '\t';
}

/* The spec's BlockStringValue(): common indentation removed, leading and
 * trailing blank lines dropped. raw holds the text between the quotes with
 * \""" already unescaped. */
static void gql__block_value(gql_lexer_t *lx, const char *raw, size_t n)
{
    /* split into lines */
    uint32_t nl = 1;
    for (size_t i = 0; i < n; i++)
        if (raw[i] == '\n' || (raw[i] == '\r' && !(i + 1 < n && raw[i + 1] == '\n'))) nl++;
    const char **ls = arena_alloc(lx->arena, nl * sizeof *ls);
    size_t *ll = arena_alloc(lx->arena, nl * sizeof *ll);
    uint32_t k = 0;
    size_t s = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || raw[i] == '\n' || raw[i] == '\r') {
            ls[k] = raw + s;
            ll[k] = i - s;
            k++;
            if (i < n && raw[i] == '\r' && i + 1 < n && raw[i + 1] == '\n') i++;
            s = i + 1;
        }
    }
    size_t common = (size_t)-1;
    for (uint32_t i = 1; i < k; i++) {
        size_t ind = 0;
        while (ind < ll[i] && gql__ws(ls[i][ind])) ind++;
        if (ind == ll[i]) continue;
        if (ind < common) common = ind;
    }
    if (common != (size_t)-1) {
        for (uint32_t i = 1; i < k; i++) {
            size_t c = common < ll[i] ? common : ll[i];
            ls[i] += c;
            ll[i] -= c;
        }
    }
    uint32_t first = 0, last = k;
    while (first < last) {
        size_t j = 0;
        while (j < ll[first] && gql__ws(ls[first][j])) j++;
        if (j < ll[first]) break;
        first++;
    }
    while (last > first) {
        size_t j = 0;
        while (j < ll[last - 1] && gql__ws(ls[last - 1][j])) j++;
        if (j < ll[last - 1]) break;
        last--;
    }
    size_t total = 0;
    for (uint32_t i = first; i < last; i++) total += ll[i] + 1;
    char *out = arena_alloc(lx->arena, total + 1);
    size_t o = 0;
    for (uint32_t i = first; i < last; i++) {
        if (i > first) out[o++] = '\n';
        memcpy(out + o, ls[i], ll[i]);
        o += ll[i];
    }
    out[o] = '\0';
    lx->tok.p = out;
    lx->tok.len = (uint32_t)o;
}

static int gql__lex_block_string(gql_lexer_t *lx, const char *start)
{
    const char *p = start + 3;
    buf_t b = BUF_INIT;
    const char *run = p;
    while (p < lx->end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' && lx->end - p >= 3 && p[1] == '"' && p[2] == '"') {
            buf_append(&b, run, (size_t)(p - run));
            lx->tok.kind = GQL_TOK_BLOCK_STRING;
            gql__block_value(lx, b.data ? b.data : "", b.len);
            buf_free(&b);
            lx->cur = p + 3;
            return 0;
        }
        if (c == '\\' && lx->end - p >= 4 && memcmp(p + 1, "\"\"\"", 3) == 0) {
            buf_append(&b, run, (size_t)(p - run));
            buf_append(&b, "\"\"\"", 3);
            p += 4;
            run = p;
            continue;
        }
        if (c == '\n') {
            p++;
            gql__newline(lx, p);
            continue;
        }
        if (c == '\r') {
            p += (p + 1 < lx->end && p[1] == '\n') ? 2 : 1;
            gql__newline(lx, p);
            continue;
        }
        if (c >= 0x80) {
            int n = gql__utf8_len(p, lx->end);
            if (n == 0) {
                buf_free(&b);
                return gql__err_at(lx, p, "Invalid character within String: %s.",
                                   gql__char_desc(lx, p));
            }
            p += n;
            continue;
        }
        p++;
    }
    buf_free(&b);
    return gql__err_at(lx, p, "Unterminated string.%s", "");
}

static int gql__lex_number(gql_lexer_t *lx, const char *start)
{
    const char *p = start;
    bool is_float = false;
    if (*p == '-') p++;
    if (p < lx->end && *p == '0') {
        p++;
        if (p < lx->end && *p >= '0' && *p <= '9')
            return gql__err_at(lx, p, "Invalid number, unexpected digit after 0: %s.",
                               gql__char_desc(lx, p));
    } else {
        if (p >= lx->end || *p < '0' || *p > '9')
            return gql__err_at(lx, p, "Invalid number, expected digit but got: %s.",
                               gql__char_desc(lx, p));
        while (p < lx->end && *p >= '0' && *p <= '9') p++;
    }
    if (p < lx->end && *p == '.') {
        is_float = true;
        p++;
        if (p >= lx->end || *p < '0' || *p > '9')
            return gql__err_at(lx, p, "Invalid number, expected digit but got: %s.",
                               gql__char_desc(lx, p));
        while (p < lx->end && *p >= '0' && *p <= '9') p++;
    }
    if (p < lx->end && (*p == 'e' || *p == 'E')) {
        is_float = true;
        p++;
        if (p < lx->end && (*p == '+' || *p == '-')) p++;
        if (p >= lx->end || *p < '0' || *p > '9')
            return gql__err_at(lx, p, "Invalid number, expected digit but got: %s.",
                               gql__char_desc(lx, p));
        while (p < lx->end && *p >= '0' && *p <= '9') p++;
    }
    if (p < lx->end && (*p == '.' || gql__name_start((unsigned char)*p)))
        return gql__err_at(lx, p, "Invalid number, expected digit but got: %s.",
                           gql__char_desc(lx, p));
    lx->tok.kind = is_float ? GQL_TOK_FLOAT : GQL_TOK_INT;
    lx->tok.p = start;
    lx->tok.len = (uint32_t)(p - start);
    lx->cur = p;
    return 0;
}

/* What a byte starts, for the lexer's dispatch: 1 ignored (space, tab,
 * comma), 2 a line break or comment (gql__lex_ignored), 3 a one-byte
 * punctuator (its kind in gql__punct), 0 anything else. */
static const unsigned char gql__lex_class[256] = {
    [' '] = 1, ['\t'] = 1, [','] = 1, ['\n'] = 2, ['\r'] = 2, ['#'] = 2, [0xEF] = 2,
    ['!'] = 3, ['$'] = 3,  ['&'] = 3, ['('] = 3,  [')'] = 3,  [':'] = 3, ['='] = 3,
    ['@'] = 3, ['['] = 3,  [']'] = 3, ['{'] = 3,  ['|'] = 3,  ['}'] = 3};
static const unsigned char gql__punct[256] = {
    ['!'] = GQL_TOK_BANG,     ['$'] = GQL_TOK_DOLLAR, ['&'] = GQL_TOK_AMP,
    ['('] = GQL_TOK_LPAREN,   [')'] = GQL_TOK_RPAREN, [':'] = GQL_TOK_COLON,
    ['='] = GQL_TOK_EQUALS,   ['@'] = GQL_TOK_AT,     ['['] = GQL_TOK_LBRACKET,
    [']'] = GQL_TOK_RBRACKET, ['{'] = GQL_TOK_LBRACE, ['|'] = GQL_TOK_PIPE,
    ['}'] = GQL_TOK_RBRACE};

/* Skips line breaks, comments and a byte-order mark at p (class 2); p
 * when there is none of them there. */
__attribute__((noinline)) static const char *gql__lex_ignored(gql_lexer_t *lx, const char *p)
{
    char c = *p;
    if (c == '\n') {
        p++;
        gql__newline(lx, p);
    } else if (c == '\r') {
        p += (p + 1 < lx->end && p[1] == '\n') ? 2 : 1;
        gql__newline(lx, p);
    } else if (c == '#') {
        while (p < lx->end && *p != '\n' && *p != '\r') p++;
    } else if (lx->end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
        p += 3;
    }
    return p;
}

/* The tokens that are neither names nor one-byte punctuators. */
__attribute__((noinline)) static int gql__lex_other(gql_lexer_t *lx, const char *p)
{
    unsigned char c = (unsigned char)*p;
    if (c == '.') {
        if (lx->end - p >= 3 && p[1] == '.' && p[2] == '.') {
            lx->tok.kind = GQL_TOK_SPREAD;
            lx->tok.len = 3;
            lx->cur = p + 3;
            return 0;
        }
        return gql__err_at(lx, p, "Unexpected character: %s.", gql__char_desc(lx, p));
    }
    if (c == '"') {
        if (lx->end - p >= 3 && p[1] == '"' && p[2] == '"') return gql__lex_block_string(lx, p);
        return gql__lex_string(lx, p);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return gql__lex_number(lx, p);
    if (c == '\'')
        return gql__err_at(lx, p,
                           "Unexpected single quote character ('), did you mean to use a "
                           "double quote (\")?%s",
                           "");
    return gql__err_at(lx, p, "Unexpected character: %s.", gql__char_desc(lx, p));
}

int gql_lex_next(gql_lexer_t *lx)
{
    const char *p = lx->cur, *end = lx->end;
    unsigned cls = 0;
    while (p < end) {
        cls = gql__lex_class[(unsigned char)*p];
        if (cls == 1) {
            p++;
        } else if (cls == 2) {
            const char *q = gql__lex_ignored(lx, p);
            if (q == p) break; /* 0xEF that is no byte-order mark */
            p = q;
        } else {
            break;
        }
    }
    lx->cur = p;
    lx->tok.p = p;
    lx->tok.loc = gql__loc(lx, p);
    if (p >= end) {
        lx->tok.kind = GQL_TOK_EOF;
        lx->tok.len = 0;
        return 0;
    }
    unsigned char c = (unsigned char)*p;
    if (gql__name_start(c)) {
        const char *q = p + 1;
        while (q < end && gql__name_cont((unsigned char)*q)) q++;
        lx->tok.kind = GQL_TOK_NAME;
        lx->tok.len = (uint32_t)(q - p);
        lx->cur = q;
        return 0;
    }
    if (cls == 3) {
        lx->tok.kind = (gql_tok_kind_t)gql__punct[c];
        lx->tok.len = 1;
        lx->cur = p + 1;
        return 0;
    }
    lx->tok.len = 1;
    return gql__lex_other(lx, p);
}

/* ---- parser helpers ------------------------------------------------------------ */

static const char *const gql__tok_names[] = {
    [GQL_TOK_EOF] = "<EOF>",      [GQL_TOK_BANG] = "\"!\"",
    [GQL_TOK_DOLLAR] = "\"$\"",   [GQL_TOK_AMP] = "\"&\"",
    [GQL_TOK_LPAREN] = "\"(\"",   [GQL_TOK_RPAREN] = "\")\"",
    [GQL_TOK_SPREAD] = "\"...\"", [GQL_TOK_COLON] = "\":\"",
    [GQL_TOK_EQUALS] = "\"=\"",   [GQL_TOK_AT] = "\"@\"",
    [GQL_TOK_LBRACKET] = "\"[\"", [GQL_TOK_RBRACKET] = "\"]\"",
    [GQL_TOK_LBRACE] = "\"{\"",   [GQL_TOK_PIPE] = "\"|\"",
    [GQL_TOK_RBRACE] = "\"}\"",   [GQL_TOK_NAME] = "Name",
    [GQL_TOK_INT] = "Int",        [GQL_TOK_FLOAT] = "Float",
    [GQL_TOK_STRING] = "String",  [GQL_TOK_BLOCK_STRING] = "BlockString",
};

static const char *gql__tok_desc(gql_lexer_t *lx)
{
    const gql_tok_t *t = &lx->tok;
    if (t->kind == GQL_TOK_NAME || t->kind == GQL_TOK_INT || t->kind == GQL_TOK_FLOAT)
        return arena_printf(lx->arena, "%s \"%.*s\"", gql__tok_names[t->kind], (int)t->len, t->p);
    return gql__tok_names[t->kind];
}

static int gql__unexpected(gql_lexer_t *lx)
{
    return gql_parse_error(lx, lx->tok.loc, "Unexpected %s.", gql__tok_desc(lx));
}

int gql_expect(gql_lexer_t *lx, gql_tok_kind_t k)
{
    if (lx->tok.kind != k)
        return gql_parse_error(lx, lx->tok.loc, "Expected %s, found %s.", gql__tok_names[k],
                               gql__tok_desc(lx));
    return gql_lex_next(lx);
}

static bool gql__skip(gql_lexer_t *lx, gql_tok_kind_t k, int *rc)
{
    if (lx->tok.kind != k) return false;
    *rc = gql_lex_next(lx);
    return true;
}

bool gql_peek_keyword(gql_lexer_t *lx, const char *kw)
{
    return lx->tok.kind == GQL_TOK_NAME && lx->tok.len == strlen(kw) &&
           memcmp(lx->tok.p, kw, lx->tok.len) == 0;
}

static int gql__expect_keyword(gql_lexer_t *lx, const char *kw)
{
    if (!gql_peek_keyword(lx, kw))
        return gql_parse_error(lx, lx->tok.loc, "Expected \"%s\", found %s.", kw,
                               gql__tok_desc(lx));
    return gql_lex_next(lx);
}

int gql_parse_name(gql_lexer_t *lx, gql_name_t *out)
{
    if (lx->tok.kind != GQL_TOK_NAME)
        return gql_parse_error(lx, lx->tok.loc, "Expected Name, found %s.", gql__tok_desc(lx));
    out->p = lx->tok.p;
    out->len = lx->tok.len;
    return gql_lex_next(lx);
}

static int gql__enter(gql_lexer_t *lx)
{
    if (++lx->depth > GQL_MAX_NESTING)
        return gql_parse_error(lx, lx->tok.loc, "Document nesting deeper than %d.",
                               GQL_MAX_NESTING);
    return 0;
}

/* ---- values, types, directives ------------------------------------------------ */

static int gql__parse_args(gql_lexer_t *lx, bool is_const, gql_ast_arg_t **out, uint32_t *n);

gql_ast_value_t *gql_parse_value(gql_lexer_t *lx, bool is_const)
{
    if (gql__enter(lx)) return NULL;
    gql_ast_value_t *v = arena_calloc(lx->arena, 1, sizeof *v);
    v->loc = lx->tok.loc;
    int rc = 0;
    switch (lx->tok.kind) {
    case GQL_TOK_LBRACKET: {
        v->kind = GQL_AV_LIST;
        uint32_t cap = 0;
        if (gql_lex_next(lx)) return NULL;
        while (!gql__skip(lx, GQL_TOK_RBRACKET, &rc)) {
            if (lx->tok.kind == GQL_TOK_EOF) {
                gql__unexpected(lx);
                return NULL;
            }
            gql_ast_value_t *it = gql_parse_value(lx, is_const);
            if (it == NULL) return NULL;
            GQL__PUSH(lx->arena, v->items, v->n, cap, it);
        }
        break;
    }
    case GQL_TOK_LBRACE: {
        v->kind = GQL_AV_OBJECT;
        uint32_t cap = 0;
        if (gql_lex_next(lx)) return NULL;
        while (!gql__skip(lx, GQL_TOK_RBRACE, &rc)) {
            gql_ast_arg_t f;
            f.loc = lx->tok.loc;
            if (gql_parse_name(lx, &f.name) || gql_expect(lx, GQL_TOK_COLON)) return NULL;
            f.value = gql_parse_value(lx, is_const);
            if (f.value == NULL) return NULL;
            GQL__PUSH(lx->arena, v->fields, v->n, cap, f);
        }
        break;
    }
    case GQL_TOK_INT:
    case GQL_TOK_FLOAT:
        v->kind = lx->tok.kind == GQL_TOK_INT ? GQL_AV_INT : GQL_AV_FLOAT;
        v->s.p = lx->tok.p;
        v->s.len = lx->tok.len;
        rc = gql_lex_next(lx);
        break;
    case GQL_TOK_STRING:
    case GQL_TOK_BLOCK_STRING:
        v->kind = GQL_AV_STRING;
        v->s.p = lx->tok.p;
        v->s.len = lx->tok.len;
        rc = gql_lex_next(lx);
        break;
    case GQL_TOK_NAME:
        if (gql_peek_keyword(lx, "true") || gql_peek_keyword(lx, "false")) {
            v->kind = GQL_AV_BOOL;
            v->b = lx->tok.p[0] == 't';
        } else if (gql_peek_keyword(lx, "null")) {
            v->kind = GQL_AV_NULL;
        } else {
            v->kind = GQL_AV_ENUM;
            v->s.p = lx->tok.p;
            v->s.len = lx->tok.len;
        }
        rc = gql_lex_next(lx);
        break;
    case GQL_TOK_DOLLAR:
        if (!is_const) {
            v->kind = GQL_AV_VAR;
            if (gql_lex_next(lx) || gql_parse_name(lx, &v->s)) return NULL;
            break;
        }
        {
            gql_loc_t dollar = lx->tok.loc;
            if (gql_lex_next(lx)) return NULL;
            if (lx->tok.kind == GQL_TOK_NAME)
                gql_parse_error(lx, dollar, "Unexpected variable \"$%.*s\" in constant value.",
                                (int)lx->tok.len, lx->tok.p);
            else
                gql__unexpected(lx);
        }
        return NULL;
    default:
        gql__unexpected(lx);
        return NULL;
    }
    lx->depth--;
    return rc ? NULL : v;
}

static int gql__parse_args(gql_lexer_t *lx, bool is_const, gql_ast_arg_t **out, uint32_t *n)
{
    uint32_t cap = 0;
    int rc = 0;
    *out = NULL;
    *n = 0;
    if (lx->tok.kind != GQL_TOK_LPAREN) return 0;
    if (gql_lex_next(lx)) return -1;
    do {
        gql_ast_arg_t a;
        a.loc = lx->tok.loc;
        if (gql_parse_name(lx, &a.name) || gql_expect(lx, GQL_TOK_COLON)) return -1;
        a.value = gql_parse_value(lx, is_const);
        if (a.value == NULL) return -1;
        GQL__PUSH(lx->arena, *out, *n, cap, a);
    } while (!gql__skip(lx, GQL_TOK_RPAREN, &rc));
    return rc;
}

int gql_parse_directives(gql_lexer_t *lx, bool is_const, gql_ast_dir_t **out, uint32_t *n)
{
    uint32_t cap = 0;
    *out = NULL;
    *n = 0;
    while (lx->tok.kind == GQL_TOK_AT) {
        gql_ast_dir_t d;
        d.loc = lx->tok.loc;
        if (gql_lex_next(lx) || gql_parse_name(lx, &d.name)) return -1;
        if (gql__parse_args(lx, is_const, &d.args, &d.nargs)) return -1;
        GQL__PUSH(lx->arena, *out, *n, cap, d);
    }
    return 0;
}

gql_ast_type_t *gql_parse_type(gql_lexer_t *lx)
{
    if (gql__enter(lx)) return NULL;
    gql_ast_type_t *t = arena_calloc(lx->arena, 1, sizeof *t);
    t->loc = lx->tok.loc;
    int rc = 0;
    if (lx->tok.kind == GQL_TOK_LBRACKET) {
        if (gql_lex_next(lx)) return NULL;
        t->kind = GQL_AT_LIST;
        t->of = gql_parse_type(lx);
        if (t->of == NULL || gql_expect(lx, GQL_TOK_RBRACKET)) return NULL;
    } else {
        t->kind = GQL_AT_NAMED;
        if (gql_parse_name(lx, &t->name)) return NULL;
    }
    lx->depth--;
    if (gql__skip(lx, GQL_TOK_BANG, &rc)) {
        if (rc) return NULL;
        gql_ast_type_t *nn = arena_calloc(lx->arena, 1, sizeof *nn);
        nn->kind = GQL_AT_NONNULL;
        nn->loc = t->loc;
        nn->of = t;
        return nn;
    }
    return t;
}

/* ---- executable documents ---------------------------------------------------- */

typedef struct {
    gql_lexer_t *lx;
    uint32_t nfields;
} gql__parser_t;

static gql_ast_selset_t *gql__parse_selset(gql__parser_t *ps);

static gql_ast_sel_t *gql__parse_selection(gql__parser_t *ps)
{
    gql_lexer_t *lx = ps->lx;
    gql_ast_sel_t *s = arena_calloc(lx->arena, 1, sizeof *s);
    s->loc = lx->tok.loc;
    if (lx->tok.kind == GQL_TOK_SPREAD) {
        if (gql_lex_next(lx)) return NULL;
        if (lx->tok.kind == GQL_TOK_NAME && !gql_peek_keyword(lx, "on")) {
            s->kind = GQL_SEL_SPREAD;
            s->name_loc = lx->tok.loc;
            if (gql_parse_name(lx, &s->name)) return NULL;
            if (lx->tok.kind == GQL_TOK_AT && gql_parse_directives(lx, false, &s->dirs, &s->ndirs))
                return NULL;
            return s;
        }
        s->kind = GQL_SEL_INLINE;
        if (gql_peek_keyword(lx, "on")) {
            if (gql_lex_next(lx)) return NULL;
            s->tc_loc = lx->tok.loc;
            if (gql_parse_name(lx, &s->type_cond)) return NULL;
        }
        if (lx->tok.kind == GQL_TOK_AT && gql_parse_directives(lx, false, &s->dirs, &s->ndirs))
            return NULL;
        s->selset = gql__parse_selset(ps);
        return s->selset ? s : NULL;
    }
    s->kind = GQL_SEL_FIELD;
    s->id = ps->nfields++;
    if (gql_parse_name(lx, &s->name)) return NULL;
    if (lx->tok.kind == GQL_TOK_COLON) {
        s->alias = s->name;
        if (gql_lex_next(lx) || gql_parse_name(lx, &s->name)) return NULL;
    }
    if (gql__parse_args(lx, false, &s->args, &s->nargs)) return NULL;
    if (lx->tok.kind == GQL_TOK_AT && gql_parse_directives(lx, false, &s->dirs, &s->ndirs))
        return NULL;
    if (lx->tok.kind == GQL_TOK_LBRACE) {
        s->selset = gql__parse_selset(ps);
        if (s->selset == NULL) return NULL;
    }
    return s;
}

static gql_ast_selset_t *gql__parse_selset(gql__parser_t *ps)
{
    gql_lexer_t *lx = ps->lx;
    if (gql__enter(lx)) return NULL;
    gql_ast_selset_t *ss = arena_calloc(lx->arena, 1, sizeof *ss);
    ss->loc = lx->tok.loc;
    uint32_t cap = 0;
    int rc = 0;
    if (gql_expect(lx, GQL_TOK_LBRACE)) return NULL;
    do {
        gql_ast_sel_t *s = gql__parse_selection(ps);
        if (s == NULL) return NULL;
        GQL__PUSH(lx->arena, ss->items, ss->n, cap, s);
    } while (!gql__skip(lx, GQL_TOK_RBRACE, &rc));
    lx->depth--;
    return rc ? NULL : ss;
}

static int gql__parse_vardefs(gql_lexer_t *lx, gql_ast_def_t *d)
{
    uint32_t cap = 0;
    int rc = 0;
    if (lx->tok.kind != GQL_TOK_LPAREN) return 0;
    if (gql_lex_next(lx)) return -1;
    do {
        gql_ast_vardef_t v = {0};
        v.loc = lx->tok.loc;
        if (gql_expect(lx, GQL_TOK_DOLLAR) || gql_parse_name(lx, &v.name) ||
            gql_expect(lx, GQL_TOK_COLON))
            return -1;
        v.type = gql_parse_type(lx);
        if (v.type == NULL) return -1;
        if (gql__skip(lx, GQL_TOK_EQUALS, &rc)) {
            if (rc) return -1;
            v.def = gql_parse_value(lx, true);
            if (v.def == NULL) return -1;
        }
        if (gql_parse_directives(lx, true, &v.dirs, &v.ndirs)) return -1;
        GQL__PUSH(lx->arena, d->vars, d->nvars, cap, v);
    } while (!gql__skip(lx, GQL_TOK_RPAREN, &rc));
    return rc;
}

static bool gql__is_sdl_keyword(gql_lexer_t *lx)
{
    static const char *const kws[] = {"schema", "scalar", "type",      "interface", "union",
                                      "enum",   "input",  "directive", "extend"};
    for (size_t i = 0; i < sizeof kws / sizeof *kws; i++)
        if (gql_peek_keyword(lx, kws[i])) return true;
    return false;
}

bool gql_at_sdl_definition(gql_lexer_t *lx)
{
    return lx->tok.kind == GQL_TOK_STRING || lx->tok.kind == GQL_TOK_BLOCK_STRING ||
           gql__is_sdl_keyword(lx);
}

static int gql__parse_definition(gql__parser_t *ps, gql_ast_def_t *d)
{
    gql_lexer_t *lx = ps->lx;
    memset(d, 0, sizeof *d);
    d->loc = lx->tok.loc;
    if (lx->tok.kind == GQL_TOK_LBRACE) {
        d->kind = GQL_DEF_OP;
        d->op = GQL_OP_QUERY;
        d->selset = gql__parse_selset(ps);
        return d->selset ? 0 : -1;
    }
    if (lx->tok.kind == GQL_TOK_NAME) {
        if (gql_peek_keyword(lx, "query") || gql_peek_keyword(lx, "mutation") ||
            gql_peek_keyword(lx, "subscription")) {
            d->kind = GQL_DEF_OP;
            d->op = lx->tok.p[0] == 'q'   ? GQL_OP_QUERY
                    : lx->tok.p[0] == 'm' ? GQL_OP_MUTATION
                                          : GQL_OP_SUBSCRIPTION;
            if (gql_lex_next(lx)) return -1;
            d->name_loc = lx->tok.loc;
            if (lx->tok.kind == GQL_TOK_NAME && gql_parse_name(lx, &d->name)) return -1;
            if (gql__parse_vardefs(lx, d)) return -1;
            if (gql_parse_directives(lx, false, &d->dirs, &d->ndirs)) return -1;
            d->selset = gql__parse_selset(ps);
            return d->selset ? 0 : -1;
        }
        if (gql_peek_keyword(lx, "fragment")) {
            d->kind = GQL_DEF_FRAGMENT;
            if (gql_lex_next(lx)) return -1;
            if (gql_peek_keyword(lx, "on")) return gql__unexpected(lx);
            d->name_loc = lx->tok.loc;
            if (gql_parse_name(lx, &d->name)) return -1;
            if (gql__expect_keyword(lx, "on")) return -1;
            d->tc_loc = lx->tok.loc;
            if (gql_parse_name(lx, &d->type_cond)) return -1;
            if (gql_parse_directives(lx, false, &d->dirs, &d->ndirs)) return -1;
            d->selset = gql__parse_selset(ps);
            return d->selset ? 0 : -1;
        }
    }
    if (gql_at_sdl_definition(lx)) {
        d->kind = GQL_DEF_OTHER;
        return gql_parse_sdl_definition(lx) ? 0 : -1;
    }
    return gql__unexpected(lx);
}

gql_doc_t *gql_parse(arena_t *a, const char *src, size_t len, err_t *e, gql_loc_t *loc)
{
    gql_lexer_t lx;
    gql_lex_init(&lx, a, src, len, e);
    gql__parser_t ps = {&lx, 0};
    gql_doc_t *doc = arena_calloc(a, 1, sizeof *doc);
    uint32_t cap = 0;
    if (gql_lex_next(&lx)) goto fail;
    do {
        gql_ast_def_t d;
        if (gql__parse_definition(&ps, &d)) goto fail;
        GQL__PUSH(a, doc->defs, doc->ndefs, cap, d);
    } while (lx.tok.kind != GQL_TOK_EOF);
    doc->nfields = ps.nfields;
    return doc;
fail:
    *loc = lx.err_loc;
    return NULL;
}

/* ---- type-system definitions (SDL) ------------------------------------------- */

static const char *gql__parse_desc(gql_lexer_t *lx, int *rc)
{
    *rc = 0;
    if (lx->tok.kind != GQL_TOK_STRING && lx->tok.kind != GQL_TOK_BLOCK_STRING) return NULL;
    const char *d = arena_strndup(lx->arena, lx->tok.p, lx->tok.len);
    *rc = gql_lex_next(lx);
    return d;
}

/* The start every SDL member shares: an optional description, then the
 * member's location. */
static int gql__item_start(gql_lexer_t *lx, gql_sdl_item_t *it)
{
    int rc;
    memset(it, 0, sizeof *it);
    it->desc = gql__parse_desc(lx, &rc);
    it->loc = lx->tok.loc;
    return rc;
}

/* InputValueDefinition list in ( ) or { } */
static int gql__parse_ivalues(gql_lexer_t *lx, gql_tok_kind_t open, gql_tok_kind_t close,
                              gql_sdl_item_t **out, uint32_t *n)
{
    uint32_t cap = 0;
    int rc = 0;
    if (lx->tok.kind != open) return 0;
    if (gql_lex_next(lx)) return -1;
    if (open == GQL_TOK_LBRACE && lx->tok.kind == close) return gql__unexpected(lx);
    do {
        gql_sdl_item_t it;
        if (gql__item_start(lx, &it)) return -1;
        if (gql_parse_name(lx, &it.name) || gql_expect(lx, GQL_TOK_COLON)) return -1;
        it.type = gql_parse_type(lx);
        if (it.type == NULL) return -1;
        if (gql__skip(lx, GQL_TOK_EQUALS, &rc)) {
            if (rc) return -1;
            it.def = gql_parse_value(lx, true);
            if (it.def == NULL) return -1;
        }
        if (gql_parse_directives(lx, true, &it.dirs, &it.ndirs)) return -1;
        GQL__PUSH(lx->arena, *out, *n, cap, it);
    } while (!gql__skip(lx, close, &rc));
    return rc;
}

static int gql__parse_fields_def(gql_lexer_t *lx, gql_sdl_def_t *d)
{
    uint32_t cap = 0;
    int rc = 0;
    if (lx->tok.kind != GQL_TOK_LBRACE) return 0;
    if (gql_lex_next(lx)) return -1;
    if (lx->tok.kind == GQL_TOK_RBRACE) return gql__unexpected(lx);
    do {
        gql_sdl_item_t it;
        if (gql__item_start(lx, &it)) return -1;
        if (gql_parse_name(lx, &it.name)) return -1;
        if (gql__parse_ivalues(lx, GQL_TOK_LPAREN, GQL_TOK_RPAREN, &it.args, &it.nargs)) return -1;
        if (gql_expect(lx, GQL_TOK_COLON)) return -1;
        it.type = gql_parse_type(lx);
        if (it.type == NULL) return -1;
        if (gql_parse_directives(lx, true, &it.dirs, &it.ndirs)) return -1;
        GQL__PUSH(lx->arena, d->items, d->nitems, cap, it);
    } while (!gql__skip(lx, GQL_TOK_RBRACE, &rc));
    return rc;
}

/* schema { query: Q mutation: M ... } (the keyword is the current token) */
static gql_sdl_def_t *gql__sdl_schema(gql_lexer_t *lx, gql_sdl_def_t *d)
{
    int rc = 0;
    uint32_t cap = 0;
    if (gql_lex_next(lx)) return NULL;
    if (gql_parse_directives(lx, true, &d->dirs, &d->ndirs)) return NULL;
    if (d->extend && lx->tok.kind != GQL_TOK_LBRACE) return d;
    if (gql_expect(lx, GQL_TOK_LBRACE)) return NULL;
    do {
        gql_sdl_item_t it;
        memset(&it, 0, sizeof it);
        it.loc = lx->tok.loc;
        if (!gql_peek_keyword(lx, "query") && !gql_peek_keyword(lx, "mutation") &&
            !gql_peek_keyword(lx, "subscription")) {
            gql__unexpected(lx);
            return NULL;
        }
        if (gql_parse_name(lx, &it.name) || gql_expect(lx, GQL_TOK_COLON)) return NULL;
        it.type = arena_calloc(lx->arena, 1, sizeof *it.type);
        it.type->kind = GQL_AT_NAMED;
        it.type->loc = lx->tok.loc;
        if (gql_parse_name(lx, &it.type->name)) return NULL;
        GQL__PUSH(lx->arena, d->items, d->nitems, cap, it);
    } while (!gql__skip(lx, GQL_TOK_RBRACE, &rc));
    return rc ? NULL : d;
}

/* directive @name(args) repeatable on LOCATION | ... */
static gql_sdl_def_t *gql__sdl_directive(gql_lexer_t *lx, gql_sdl_def_t *d)
{
    int rc = 0;
    uint32_t cap = 0;
    if (gql_lex_next(lx) || gql_expect(lx, GQL_TOK_AT) || gql_parse_name(lx, &d->name)) return NULL;
    if (gql__parse_ivalues(lx, GQL_TOK_LPAREN, GQL_TOK_RPAREN, &d->args, &d->nargs)) return NULL;
    if (gql_peek_keyword(lx, "repeatable")) {
        d->repeatable = true;
        if (gql_lex_next(lx)) return NULL;
    }
    if (gql__expect_keyword(lx, "on")) return NULL;
    gql__skip(lx, GQL_TOK_PIPE, &rc);
    if (rc) return NULL;
    do {
        gql_sdl_item_t it;
        memset(&it, 0, sizeof it);
        it.loc = lx->tok.loc;
        if (gql_parse_name(lx, &it.name)) return NULL;
        bool known = false;
        for (int i = 0; i < GQL_DL__COUNT; i++)
            if (gql_name_eq(it.name, gql_dl_names[i])) known = true;
        if (!known) {
            gql_parse_error(lx, it.loc, "Unexpected Name \"%.*s\".", (int)it.name.len, it.name.p);
            return NULL;
        }
        GQL__PUSH(lx->arena, d->items, d->nitems, cap, it);
    } while (gql__skip(lx, GQL_TOK_PIPE, &rc) && rc == 0);
    return rc ? NULL : d;
}

/* Names separated by sep, with an optional leading sep (implements A & B,
 * union members = A | B), appended to *items. */
static int gql__sdl_names(gql_lexer_t *lx, gql_tok_kind_t sep, gql_sdl_item_t **items, uint32_t *n)
{
    int rc = 0;
    uint32_t cap = *n;
    gql__skip(lx, sep, &rc);
    if (rc) return -1;
    do {
        gql_sdl_item_t it;
        memset(&it, 0, sizeof it);
        it.loc = lx->tok.loc;
        if (gql_parse_name(lx, &it.name)) return -1;
        GQL__PUSH(lx->arena, *items, *n, cap, it);
    } while (gql__skip(lx, sep, &rc) && rc == 0);
    return rc ? -1 : 0;
}

/* { VALUE @dir ... } of an enum (the current token is the brace) */
static int gql__sdl_enum_values(gql_lexer_t *lx, gql_sdl_def_t *d)
{
    int rc = 0;
    uint32_t cap = 0;
    if (gql_lex_next(lx)) return -1;
    if (lx->tok.kind == GQL_TOK_RBRACE) {
        gql__unexpected(lx);
        return -1;
    }
    do {
        gql_sdl_item_t it;
        if (gql__item_start(lx, &it)) return -1;
        if (gql_peek_keyword(lx, "true") || gql_peek_keyword(lx, "false") ||
            gql_peek_keyword(lx, "null")) {
            gql_parse_error(lx, lx->tok.loc,
                            "%.*s is reserved and cannot be used for an "
                            "enum value.",
                            (int)lx->tok.len, lx->tok.p);
            return -1;
        }
        if (gql_parse_name(lx, &it.name)) return -1;
        if (gql_parse_directives(lx, true, &it.dirs, &it.ndirs)) return -1;
        GQL__PUSH(lx->arena, d->items, d->nitems, cap, it);
    } while (!gql__skip(lx, GQL_TOK_RBRACE, &rc));
    if (rc) return -1;
    return 0;
}

gql_sdl_def_t *gql_parse_sdl_definition(gql_lexer_t *lx)
{
    int rc = 0;
    gql_sdl_def_t *d = arena_calloc(lx->arena, 1, sizeof *d);
    d->loc = lx->tok.loc;
    d->desc = gql__parse_desc(lx, &rc);
    if (rc) return NULL;
    if (gql_peek_keyword(lx, "extend")) {
        if (d->desc) {
            gql__unexpected(lx);
            return NULL;
        }
        d->extend = true;
        if (gql_lex_next(lx)) return NULL;
    }

    if (gql_peek_keyword(lx, "schema")) {
        d->kind = GQL_SDL_SCHEMA;
        return gql__sdl_schema(lx, d);
    }
    if (gql_peek_keyword(lx, "directive")) {
        d->kind = GQL_SDL_DIRECTIVE;
        return gql__sdl_directive(lx, d);
    }
    static const struct {
        const char *kw;
        gql_sdl_kind_t kind;
    } kinds[] = {{"scalar", GQL_SDL_SCALAR},       {"type", GQL_SDL_OBJECT},
                 {"interface", GQL_SDL_INTERFACE}, {"union", GQL_SDL_UNION},
                 {"enum", GQL_SDL_ENUM},           {"input", GQL_SDL_INPUT}};
    size_t k = 0;
    while (k < sizeof kinds / sizeof *kinds && !gql_peek_keyword(lx, kinds[k].kw)) k++;
    if (k == sizeof kinds / sizeof *kinds) {
        gql__unexpected(lx);
        return NULL;
    }
    d->kind = kinds[k].kind;
    if (gql_lex_next(lx) || gql_parse_name(lx, &d->name)) return NULL;
    if (d->kind == GQL_SDL_OBJECT || d->kind == GQL_SDL_INTERFACE) {
        if (gql_peek_keyword(lx, "implements")) {
            if (gql_lex_next(lx) || gql__sdl_names(lx, GQL_TOK_AMP, &d->ifaces, &d->nifaces))
                return NULL;
        }
    }
    if (gql_parse_directives(lx, true, &d->dirs, &d->ndirs)) return NULL;
    switch (d->kind) {
    case GQL_SDL_OBJECT:
    case GQL_SDL_INTERFACE:
        if (gql__parse_fields_def(lx, d)) return NULL;
        break;
    case GQL_SDL_INPUT:
        if (gql__parse_ivalues(lx, GQL_TOK_LBRACE, GQL_TOK_RBRACE, &d->items, &d->nitems))
            return NULL;
        break;
    case GQL_SDL_UNION:
        if (lx->tok.kind == GQL_TOK_EQUALS) {
            if (gql_lex_next(lx) || gql__sdl_names(lx, GQL_TOK_PIPE, &d->items, &d->nitems))
                return NULL;
        }
        break;
    case GQL_SDL_ENUM:
        if (lx->tok.kind == GQL_TOK_LBRACE && gql__sdl_enum_values(lx, d)) return NULL;
        break;
    default:
        break;
    }
    return d;
}

const char *const gql_dl_names[GQL_DL__COUNT] = {
    "QUERY",
    "MUTATION",
    "SUBSCRIPTION",
    "FIELD",
    "FRAGMENT_DEFINITION",
    "FRAGMENT_SPREAD",
    "INLINE_FRAGMENT",
    "VARIABLE_DEFINITION",
    "SCHEMA",
    "SCALAR",
    "OBJECT",
    "FIELD_DEFINITION",
    "ARGUMENT_DEFINITION",
    "INTERFACE",
    "UNION",
    "ENUM",
    "ENUM_VALUE",
    "INPUT_OBJECT",
    "INPUT_FIELD_DEFINITION",
};

/* ---- printing ------------------------------------------------------------------ */

void gql_ast_type_print(buf_t *b, const gql_ast_type_t *t)
{
    switch (t->kind) {
    case GQL_AT_NAMED:
        buf_append(b, t->name.p, t->name.len);
        break;
    case GQL_AT_LIST:
        buf_putc(b, '[');
        gql_ast_type_print(b, t->of);
        buf_putc(b, ']');
        break;
    case GQL_AT_NONNULL:
        gql_ast_type_print(b, t->of);
        buf_putc(b, '!');
        break;
    }
}

/* Prints a string literal the way graphql-js's print() does. */
static void gql__print_string(buf_t *b, const char *s, size_t n)
{
    buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            buf_puts(b, "\\\"");
            break;
        case '\\':
            buf_puts(b, "\\\\");
            break;
        case '\b':
            buf_puts(b, "\\b");
            break;
        case '\f':
            buf_puts(b, "\\f");
            break;
        case '\n':
            buf_puts(b, "\\n");
            break;
        case '\r':
            buf_puts(b, "\\r");
            break;
        case '\t':
            buf_puts(b, "\\t");
            break;
        default:
            if (c < 0x20 || c == 0x7F)
                buf_printf(b, "\\u%04X", c);
            else
                buf_putc(b, (char)c);
        }
    }
    buf_putc(b, '"');
}

void gql_ast_value_print(buf_t *b, const gql_ast_value_t *v)
{
    switch (v->kind) {
    case GQL_AV_VAR:
        buf_putc(b, '$');
        buf_append(b, v->s.p, v->s.len);
        break;
    case GQL_AV_INT:
    case GQL_AV_FLOAT:
    case GQL_AV_ENUM:
        buf_append(b, v->s.p, v->s.len);
        break;
    case GQL_AV_STRING:
        gql__print_string(b, v->s.p, v->s.len);
        break;
    case GQL_AV_BOOL:
        buf_puts(b, v->b ? "true" : "false");
        break;
    case GQL_AV_NULL:
        buf_puts(b, "null");
        break;
    case GQL_AV_LIST:
        buf_putc(b, '[');
        for (uint32_t i = 0; i < v->n; i++) {
            if (i) buf_puts(b, ", ");
            gql_ast_value_print(b, v->items[i]);
        }
        buf_putc(b, ']');
        break;
    case GQL_AV_OBJECT:
        buf_putc(b, '{');
        for (uint32_t i = 0; i < v->n; i++) {
            if (i) buf_puts(b, ", ");
            buf_append(b, v->fields[i].name.p, v->fields[i].name.len);
            buf_puts(b, ": ");
            gql_ast_value_print(b, v->fields[i].value);
        }
        buf_putc(b, '}');
        break;
    }
}
