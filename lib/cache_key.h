/*
 * cache_key.h — every Redis key oponn uses, listed here. The C side builds
 * its keys with the functions below; lib/cache_lua/cache.lua derives the
 * per-record and per-table ones from P and the "K:E" tails built here, by
 * concatenation only (P .. ':rb:' .. tail). A key added to either side is
 * added to this list.
 *
 * Every key lives under a namespace prefix (OPONN_CACHE_PREFIX, default
 * "oponn"), so several deployments can share one Redis and
 * `SCAN MATCH <prefix>:*` finds exactly ours. Record ids are percent-encoded
 * (every byte outside [A-Za-z0-9._-] becomes %XX, upper-case hex), so an id
 * holding `:`, `*`, `?`, `[`, `]`, `\`, spaces, `%` or bytes over 0x7f can
 * never collide with another key nor widen a MATCH / ZRANGEBYLEX pattern.
 *
 * The scheme (P = prefix, E = escaped id, K = kind name (kind.h), T = a
 * tail "K:E"):
 *
 *   P:K:E             entity: a string "epoch|version|n|JSON"; n "0" a
 *                     record (JSON its *_to_json text), "1" a negative
 *                     entry or tombstone, "h" a hold (JSON empty for both)
 *   P:lease:K:E       single-flight lease of a missing entity ("epoch|token")
 *   P:rb:K:E          record -> batches holding it: hash {batch id -> member}
 *   P:ri:K:E          record -> id-keyed batches listing its id (SET of
 *                     batch ids; `id IN [...]` queries: books, bookstoresForBooks)
 *   P:q:NAME:HASH     cached batch: hash {g epoch, p predicate JSON, x exhaustive,
 *                     m member count, v materialised value, c canonical
 *                     arguments, w write view (id-keyed batches only),
 *                     "@K:E" -> that member's sort string}
 *   P:q:NAME:HASH:z   its ordered members (ZSET, score 0, lexical order)
 *   P:tables          index of batches, one entry per table read (no TTL):
 *                     "K:q:NAME:HASH" (reconciled by every write of K:
 *                     ZRANGEBYLEX [K:q: (K:q;), "K:i:q:NAME:HASH" (id-keyed,
 *                     found through P:ri) and "K:v:FIELD:VAL:q:NAME:HASH"
 *                     (an equality filter FIELD = VAL, found by a write's
 *                     old and new values of FIELD)
 *   P:lv:K            record -> the "FIELD:VAL" pairs of the K:v batches that
 *                     may hold it: hash {"K:E" -> ",FIELD:VAL,...,"} (no TTL)
 *   P:vf:K            the FIELDs K's batches are indexed by (SET, no TTL)
 *   P:sweep           the P:tables entry the fills' sweep of expired batches
 *                     stopped at (no TTL)
 *   P:tv:K            table write counter (refuses batch fills that raced a write)
 *   P:pend:K          write-behind writes of kind K not yet in MongoDB (counter)
 *   P:pendr:K:E       the same per record: while > 0 nothing read from
 *                     MongoDB is cached for it
 *   P:epoch           current cache epoch (values from another epoch are misses)
 *   P:stats           counters for `oponn cache stats` (hash)
 *   P:dropped         batches dropped by reconciliation: {batch id -> predicate}
 *   P:probe           /healthz's write probe (a token, 60 s)
 *   P:queue, P:dead   write-behind stream and its dead letters (streams)
 *
 * `oponn cache flush` keeps P:queue, P:dead and P:pend* (writes MongoDB may
 * not have yet). cache.lua's own escape function (needed for joined ids read
 * out of JSON) is checked against cache_key_escape() by t/31-cache-lua.t.
 */
#ifndef OPONN_CACHE_KEY_H
#define OPONN_CACHE_KEY_H

#include "buf.h"
#include "err.h"
#include "kind.h" /* cache_kind_t, cache_kind_name(): K of the keys below */

#include <stddef.h>

#define CACHE_KEY_PREFIX_MAX 64

typedef struct {
    char prefix[CACHE_KEY_PREFIX_MAX];
} cache_keys_t;

/* Checks the prefix: 1..63 bytes of [A-Za-z0-9._-]. */
int cache_key_init(cache_keys_t *k, const char *prefix, err_t *e);

/* Appends the percent-encoded form of id[0..n). Injective; output only holds
 * [A-Za-z0-9._%-]. */
void cache_key_escape(buf_t *out, const char *id, size_t n);
/* Reverses cache_key_escape; -1 with ERR_BAD_INPUT on a malformed input. */
int cache_key_unescape(buf_t *out, const char *s, size_t n, err_t *e);

/* Each appends one key to out (which is not reset first). Ids are raw. */
void cache_key_tail(buf_t *out, cache_kind_t k, const char *id); /* K:E */
void cache_key_entity(const cache_keys_t *ks, buf_t *out, cache_kind_t k, const char *id);
void cache_key_lease(const cache_keys_t *ks, buf_t *out, cache_kind_t k, const char *id);
void cache_key_recidx(const cache_keys_t *ks, buf_t *out, cache_kind_t k, const char *id);
void cache_key_table_version(const cache_keys_t *ks, buf_t *out, cache_kind_t k);
/* Batch id "q:NAME:HASH" (no prefix) and the batch key P:q:NAME:HASH. */
void cache_key_batch_id(buf_t *out, const char *query, const char *hash);
void cache_key_batch(const cache_keys_t *ks, buf_t *out, const char *query, const char *hash);
/* P:<what> for the fixed keys: "epoch", "tables", "stats", "dropped", "queue",
 * "dead", and "*" (the SCAN pattern of the namespace). */
void cache_key_fixed(const cache_keys_t *ks, buf_t *out, const char *what);

/* Splits a tail "K:E" back into kind and raw id (appended to id_out). */
int cache_key_parse_tail(const char *tail, size_t n, cache_kind_t *k, buf_t *id_out, err_t *e);

#endif
