/*
 * cache_conn.h — the worker's one Redis connection.
 *
 * Owns a hiredis redisContext made after fork and reused by every request.
 * When Redis is unreachable the connection is marked down and not retried
 * for a short back-off, so requests go degraded at once instead of each paying
 * a connect timeout. Counts round trips for X-Oponn-Debug and /metrics.
 * Only the cache module calls this.
 */
#ifndef OPONN_CACHE_CONN_H
#define OPONN_CACHE_CONN_H

#include "cfg.h"
#include "err.h"

#include <hiredis.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cache_conn cache_conn_t;

/* Parses cfg->redis_url (redis://[user:password@]host:port[/db],
 * rediss://..., unix:///path); does not connect yet. The password is the
 * URL's, else cfg->redis_password; every connect sends AUTH with it. rediss://
 * is refused with a message naming the TLS tunnel (etc/redis-tls.sh): this
 * hiredis has no TLS. No message ever contains the password. Caller frees
 * with cache_conn_close(). */
int cache_conn_open(cache_conn_t **out, const cfg_t *cfg, err_t *e);
void cache_conn_close(cache_conn_t *c);

/* url with its password replaced by "***" (into out, truncated to cap), for
 * logs and messages; other URLs are copied unchanged. */
void cache_conn_url_redacted(const char *url, char *out, size_t cap);

/* The live context, connecting if needed; NULL with ERR_UNAVAILABLE while
 * Redis is down (including during the back-off after a failure). */
redisContext *cache_conn_get(cache_conn_t *c, err_t *e);

/* Tells the connection that a command on it failed at the I/O level: it is
 * closed and the back-off starts. */
void cache_conn_failed(cache_conn_t *c);

/* Runs one command (printf-style, hiredis format) and returns the reply, or
 * NULL with ERR_UNAVAILABLE. Counts one round trip. Caller frees the reply
 * with freeReplyObject(). */
redisReply *cache_conn_command(cache_conn_t *c, err_t *e, const char *fmt, ...);

/* Like cache_conn_command with an argument vector (binary safe). */
redisReply *cache_conn_command_argv(cache_conn_t *c, err_t *e, int argc, const char **argv,
                                    const size_t *lens);

/* cache_conn_command_argv for a script whose Redis time grows with its
 * input (a fill of a 1,000-member list, a write reconciling many lists):
 * its reply may take CACHE_CONN_LONG times the timeout. On a loaded machine
 * such a script passes the read timeout; a timeout then drops the
 * connection and starts the back-off (the next requests skip Redis: extra
 * MongoDB commands), and for a write distrusts the whole cache, although
 * Redis ran the script. A Redis that is down fails the plain read before. */
#define CACHE_CONN_LONG 5
redisReply *cache_conn_command_argv_long(cache_conn_t *c, err_t *e, int argc, const char **argv,
                                         const size_t *lens);

/* Sends n commands at once and reads their n replies: ONE round trip.
 * out[i] answers command i (a Redis error is a reply, not a failure). -1
 * with ERR_UNAVAILABLE on an I/O failure (every out[i] NULL then). Caller
 * frees each reply. */
int cache_conn_pipeline(cache_conn_t *c, err_t *e, int n, const int *argc,
                        const char *const *const *argv, const size_t *const *lens,
                        redisReply **out);
/* Ends the back-off: the next call connects at once (a caller that must
 * reach Redis now, e.g. to invalidate after a failed write). */
void cache_conn_retry_now(cache_conn_t *c);

/* PING. */
int cache_conn_ping(cache_conn_t *c, err_t *e);

/* Called on every new connection, after AUTH and SELECT and before the
 * command that needed it (the invalidation link turns tracking on there).
 * fn may run commands on ctx; a failure there is fn's to handle. */
typedef void (*cache_conn_connect_fn)(void *ud, cache_conn_t *c, redisContext *ctx);
void cache_conn_on_connect(cache_conn_t *c, cache_conn_connect_fn fn, void *ud);

/* The live context without connecting (NULL when there is none). */
redisContext *cache_conn_current(const cache_conn_t *c);

/* Drops a connection whose socket the caller found readable while it was
 * idle: between commands only EOF or an error can be waiting, so Redis
 * closed it. (The caller polls, so that one poll can watch several.) */
void cache_conn_drop_closed(cache_conn_t *c);

/* Round trips made by this process (monotonic); connects that succeeded
 * (each one starts a new connection epoch: see cache module). */
uint64_t cache_conn_roundtrips(const cache_conn_t *c);
void cache_conn_count_roundtrip(cache_conn_t *c);
uint64_t cache_conn_connects(const cache_conn_t *c);
/* I/O failures seen (cache_conn_failed calls), monotonic. */
uint64_t cache_conn_failures(const cache_conn_t *c);

#endif
