/*
 * cache_key.c — key names and id escaping (see cache_key.h for the scheme).
 */
#include "cache_key.h"

#include <string.h>

static int cache_key__plain(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

int cache_key_init(cache_keys_t *k, const char *prefix, err_t *e)
{
    size_t n = prefix ? strlen(prefix) : 0;
    if (n == 0 || n >= sizeof k->prefix) {
        return err_set(e, ERR_BAD_INPUT, "OPONN_CACHE_PREFIX must be 1..%d characters",
                       (int)sizeof k->prefix - 1);
    }
    for (size_t i = 0; i < n; i++) {
        if (!cache_key__plain((unsigned char)prefix[i])) {
            return err_set(e, ERR_BAD_INPUT,
                           "OPONN_CACHE_PREFIX=%s: only letters, digits, '.', '_' and '-' "
                           "(it is used in SCAN patterns)",
                           prefix);
        }
    }
    memcpy(k->prefix, prefix, n + 1);
    return 0;
}

void cache_key_escape(buf_t *out, const char *id, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    /* runs of plain bytes appended at once: every key of every read is
     * escaped here */
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && cache_key__plain((unsigned char)id[j])) j++;
        buf_append(out, id + i, j - i);
        if (j == n) break;
        unsigned char c = (unsigned char)id[j];
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        buf_append(out, esc, 3);
        i = j + 1;
    }
}

static int cache_key__hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1; /* lower case is never produced, so never accepted */
}

int cache_key_unescape(buf_t *out, const char *s, size_t n, err_t *e)
{
    /* runs of plain bytes appended at once: every member of a cached list
     * comes back through here */
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && cache_key__plain((unsigned char)s[j])) j++;
        buf_append(out, s + i, j - i);
        if (j == n) break;
        if (s[j] != '%') {
            return err_set(e, ERR_BAD_INPUT, "byte 0x%02x cannot appear in an escaped id",
                           (unsigned char)s[j]);
        }
        int hi = j + 2 < n ? cache_key__hexval(s[j + 1]) : -1;
        int lo = j + 2 < n ? cache_key__hexval(s[j + 2]) : -1;
        if (hi < 0 || lo < 0) {
            return err_set(e, ERR_BAD_INPUT, "bad escape at byte %zu of cache key", j);
        }
        buf_putc(out, (char)(hi << 4 | lo));
        i = j + 3;
    }
    return 0;
}

void cache_key_tail(buf_t *out, cache_kind_t k, const char *id)
{
    buf_puts(out, cache_kind_name(k));
    buf_putc(out, ':');
    cache_key_escape(out, id, strlen(id));
}

static void cache_key__with(const cache_keys_t *ks, buf_t *out, const char *mid, cache_kind_t k,
                            const char *id)
{
    buf_puts(out, ks->prefix);
    buf_putc(out, ':');
    buf_puts(out, mid);
    cache_key_tail(out, k, id);
}

void cache_key_entity(const cache_keys_t *ks, buf_t *out, cache_kind_t k, const char *id)
{
    cache_key__with(ks, out, "", k, id);
}

void cache_key_lease(const cache_keys_t *ks, buf_t *out, cache_kind_t k, const char *id)
{
    cache_key__with(ks, out, "lease:", k, id);
}

void cache_key_recidx(const cache_keys_t *ks, buf_t *out, cache_kind_t k, const char *id)
{
    cache_key__with(ks, out, "rb:", k, id);
}

void cache_key_table_version(const cache_keys_t *ks, buf_t *out, cache_kind_t k)
{
    buf_printf(out, "%s:tv:%s", ks->prefix, cache_kind_name(k));
}

void cache_key_batch_id(buf_t *out, const char *query, const char *hash)
{
    buf_puts(out, "q:");
    cache_key_escape(out, query, strlen(query));
    buf_putc(out, ':');
    cache_key_escape(out, hash, strlen(hash));
}

void cache_key_batch(const cache_keys_t *ks, buf_t *out, const char *query, const char *hash)
{
    buf_puts(out, ks->prefix);
    buf_putc(out, ':');
    cache_key_batch_id(out, query, hash);
}

void cache_key_fixed(const cache_keys_t *ks, buf_t *out, const char *what)
{
    buf_printf(out, "%s:%s", ks->prefix, what);
}

int cache_key_parse_tail(const char *tail, size_t n, cache_kind_t *k, buf_t *id_out, err_t *e)
{
    const char *colon = memchr(tail, ':', n);
    if (colon == NULL) return err_set(e, ERR_BAD_INPUT, "cache key tail without ':'");
    for (int i = 0; i < CACHE__KINDS; i++) {
        const char *name = cache_kind_name((cache_kind_t)i);
        size_t kl = strlen(name);
        if ((size_t)(colon - tail) == kl && memcmp(tail, name, kl) == 0) {
            *k = (cache_kind_t)i;
            return cache_key_unescape(id_out, colon + 1, n - kl - 1, e);
        }
    }
    return err_set(e, ERR_BAD_INPUT, "cache key tail with unknown kind");
}
