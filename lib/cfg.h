/*
 * cfg.h — every knob of oponn, in one table.
 *
 * Each knob is an environment variable with a default. Adding a knob is one
 * line in CFG_KNOBS below; cfg_load() reads and checks them all, and
 * `oponn config` prints the table that README.md's configuration section is
 * checked against (t/01-config-readme.t). The local stack (etc/stack.py,
 * `make run`) reads the variables it needs itself (ports, run directory,
 * workers, ...) with the defaults listed here.
 *
 * X(type, field, ENV_NAME, default, min, max, help)
 *   type STR: const char * (NULL when the default is NULL and unset)
 *   type INT: long long, checked against [min, max]
 */
#ifndef OPONN_CFG_H
#define OPONN_CFG_H

#include "err.h"

#define CFG_KNOBS(X)                                                                               \
    X(INT, http_port, "OPONN_HTTP_PORT", "8080", 1, 65535,                                         \
      "TCP port nginx listens on (`make run`)")                                                    \
    X(STR, http_listen, "OPONN_HTTP_LISTEN", "127.0.0.1", 0, 0,                                    \
      "address nginx listens on (`make run`); 0.0.0.0 to expose it")                               \
    X(INT, workers, "OPONN_WORKERS", "0", 0, 1024,                                                 \
      "FastCGI worker processes; 0 = number of cores")                                             \
    X(INT, worker_max_requests, "OPONN_WORKER_MAX_REQUESTS", "0", 0, 1000000000,                   \
      "requests a worker serves before it exits and is replaced; 0 = never")                       \
    X(INT, backlog, "OPONN_BACKLOG", "1024", 1, 65535, "listen backlog of the FastCGI socket")     \
    X(STR, run_dir, "OPONN_RUN_DIR", "run", 0, 0,                                                  \
      "directory for sockets, pid files, logs and local data (`make run`)")                        \
    X(STR, socket_path, "OPONN_SOCKET", NULL, 0, 0,                                                \
      "FastCGI unix socket; default `$OPONN_RUN_DIR/oponn.sock`")                                  \
    X(STR, schema_path, "OPONN_SCHEMA", "schema/schema.graphql", 0, 0,                             \
      "GraphQL SDL parsed at worker start")                                                        \
    X(STR, mongodb_uri, "MONGODB_URI", NULL, 0, 0,                                                 \
      "MongoDB/Atlas URI; unset = a local mongod if on PATH, else the dev stand-in")               \
    X(STR, mongodb_db, "OPONN_MONGODB_DB", "oponn", 0, 0, "database name")                         \
    X(INT, mongo_connect_timeout_ms, "OPONN_MONGO_CONNECT_TIMEOUT_MS", "2000", 1, 600000,          \
      "MongoDB connect timeout")                                                                   \
    X(INT, mongo_selection_timeout_ms, "OPONN_MONGO_SELECTION_TIMEOUT_MS", "2000", 1, 600000,      \
      "MongoDB server-selection timeout (how long a request waits for a down MongoDB)")            \
    X(INT, mongo_socket_timeout_ms, "OPONN_MONGO_SOCKET_TIMEOUT_MS", "5000", 1, 600000,            \
      "MongoDB socket (per operation) timeout")                                                    \
    X(STR, mongo_schema_dir, "OPONN_MONGO_SCHEMA_DIR", "schema", 0, 0,                             \
      "directory of the collection specs (*.json) `oponn migrate` applies")                        \
    X(STR, ingest_base_url, "OPONN_INGEST_BASE_URL", "https://openlibrary.org", 0, 0,              \
      "`oponn ingest`: base URL of the Open Library search API (or a fixture server)")             \
    X(STR, ingest_bookstores, "OPONN_INGEST_BOOKSTORES", "etc/bookstores.json", 0, 0,              \
      "`oponn ingest`: bookstore list, a file or an http(s) URL")                                  \
    X(INT, ingest_timeout_ms, "OPONN_INGEST_TIMEOUT_MS", "20000", 1, 600000,                       \
      "`oponn ingest`: total time allowed for one HTTP request")                                   \
    X(INT, ingest_connect_timeout_ms, "OPONN_INGEST_CONNECT_TIMEOUT_MS", "5000", 1, 600000,        \
      "`oponn ingest`: TCP/TLS connect timeout")                                                   \
    X(INT, ingest_retries, "OPONN_INGEST_RETRIES", "4", 0, 20,                                     \
      "`oponn ingest`: retries of a request after a timeout, 429 or 5xx")                          \
    X(INT, ingest_backoff_ms, "OPONN_INGEST_BACKOFF_MS", "500", 1, 600000,                         \
      "`oponn ingest`: first retry delay; doubles each retry, with jitter; Retry-After wins")      \
    X(INT, ingest_max_body_bytes, "OPONN_INGEST_MAX_BODY_BYTES", "8388608", 1024, 1073741824,      \
      "`oponn ingest`: largest response body accepted")                                            \
    X(STR, redis_url, "OPONN_REDIS_URL", "redis://127.0.0.1:6379", 0, 0,                           \
      "Redis: redis://[user:password@]host:port[/db], rediss://... (through etc/redis-tls.sh) "    \
      "or unix:///path/to/socket")                                                                 \
    X(STR, redis_password, "OPONN_REDIS_PASSWORD", NULL, 0, 0,                                     \
      "Redis AUTH password (ElastiCache auth token) when the URL has none; never logged")          \
    X(INT, redis_port, "OPONN_REDIS_PORT", "6389", 1, 65535,                                       \
      "port of the Redis that `make run` starts (sets OPONN_REDIS_URL)")                           \
    X(INT, redis_timeout_ms, "OPONN_REDIS_TIMEOUT_MS", "200", 1, 60000,                            \
      "Redis connect and command timeout")                                                         \
    X(STR, cache_prefix, "OPONN_CACHE_PREFIX", "oponn", 0, 0,                                      \
      "namespace of every Redis key (letters, digits, . _ -)")                                     \
    X(INT, cache_ttl_books_s, "OPONN_CACHE_TTL_BOOKS_S", "86400", 1, 31536000,                     \
      "TTL of cached books")                                                                       \
    X(INT, cache_ttl_bookstores_s, "OPONN_CACHE_TTL_BOOKSTORES_S", "86400", 1, 31536000,           \
      "TTL of cached bookstores")                                                                  \
    X(INT, cache_ttl_fruit_s, "OPONN_CACHE_TTL_FRUIT_S", "86400", 1, 31536000,                     \
      "TTL of cached apples and oranges")                                                          \
    X(INT, cache_ttl_batch_s, "OPONN_CACHE_TTL_BATCH_S", "86400", 1, 31536000,                     \
      "TTL of cached batch results (lists) and their indexes")                                     \
    X(INT, negative_ttl_s, "OPONN_NEGATIVE_TTL_S", "30", 1, 86400,                                 \
      "TTL of negative entries (unknown ids) and tombstones")                                      \
    X(INT, cache_lease_ms, "OPONN_CACHE_LEASE_MS", "2000", 10, 60000,                              \
      "lifetime of the single-flight lease a cache miss takes")                                    \
    X(INT, cache_lease_wait_ms, "OPONN_CACHE_LEASE_WAIT_MS", "50", 0, 10000,                       \
      "how long a miss waits for another worker's fill before reading MongoDB itself")             \
    X(INT, cache_hold_ms, "OPONN_CACHE_HOLD_MS", "10000", 0, 600000,                               \
      "after a write whose outcome is unknown (or a purge), how long the record is read from "     \
      "MongoDB and never cached")                                                                  \
    X(INT, l1_bytes, "OPONN_L1_BYTES", "33554432", 0, 4294967296,                                  \
      "per worker: near cache (L1) of entity and list reads, bytes (LRU; 0 = off)")                \
    X(INT, l1_lease_ms, "OPONN_L1_LEASE_MS", "250", 1, 60000,                                      \
      "L1 answers only while its invalidation link proved alive within this many ms")              \
    X(INT, l1_max_age_ms, "OPONN_L1_MAX_AGE_MS", "300000", 1, 86400000,                            \
      "backstop: no L1 entry is served older than this")                                           \
    X(STR, write_mode, "OPONN_WRITE_MODE", "through", 0, 0,                                        \
      "`through` (MongoDB, then cache) or `behind` (cache + queue; oponn-writer applies)")         \
    X(INT, queue_max, "OPONN_QUEUE_MAX", "100000", 1, 100000000,                                   \
      "write-behind queue length at which mutations fail with UNAVAILABLE")                        \
    X(INT, queue_max_tries, "OPONN_QUEUE_MAX_TRIES", "5", 1, 1000,                                 \
      "failed applies of one write before it goes to the dead letters")                            \
    X(INT, queue_claim_ms, "OPONN_QUEUE_CLAIM_MS", "10000", 10, 3600000,                           \
      "idle time after which another writer reclaims a dead writer's pending writes")              \
    X(INT, queue_backoff_ms, "OPONN_QUEUE_BACKOFF_MS", "100", 1, 60000,                            \
      "first retry delay of a failed apply (doubles, capped at 5 s)")                              \
    X(INT, queue_stats_s, "OPONN_QUEUE_STATS_S", "60", 0, 86400,                                   \
      "oponn-writer logs a JSON line of queue length and dead letters this often "                 \
      "(CloudWatch metric filters); 0 = never")                                                    \
    X(INT, queue_batch, "OPONN_QUEUE_BATCH", "200", 1, 10000,                                      \
      "queued writes oponn-writer reads, applies (one bulk write) and acknowledges per step")      \
    X(STR, write_token, "OPONN_WRITE_TOKEN", NULL, 0, 0,                                           \
      "bearer token mutations need; unset = every mutation refused")                               \
    X(INT, nginx_workers, "OPONN_NGINX_WORKERS", "1", 1, 64,                                       \
      "nginx worker_processes (`make run`)")                                                       \
    X(INT, nginx_keepalive, "OPONN_NGINX_KEEPALIVE", "32", 0, 1024,                                \
      "idle FastCGI connections each nginx worker keeps open to the pool; 0 = none")               \
    X(STR, nginx_access_log, "OPONN_NGINX_ACCESS_LOG", "off", 0, 0,                                \
      "nginx access_log setting (`make run`), e.g. a file path")                                   \
    X(INT, rate_limit, "OPONN_RATE_LIMIT", "200", 0, 1000000,                                      \
      "nginx: /graphql requests per second per client address; 0 = no limit (excess: JSON 429)")   \
    X(INT, rate_burst, "OPONN_RATE_BURST", "400", 0, 1000000,                                      \
      "nginx: requests a client may send above OPONN_RATE_LIMIT at once before the 429s")          \
    X(INT, worker_retries, "OPONN_WORKER_RETRIES", "100", 1, 1000000,                              \
      "multiwatch: restarts of a worker that keeps dying within 10 s before giving up")            \
    X(STR, worker_wrapper, "OPONN_WORKER_WRAPPER", NULL, 0, 0,                                     \
      "command (shell words) the pool runs each worker under, e.g. valgrind (t/63)")               \
    X(INT, load_sample, "OPONN_LOAD_SAMPLE", "1", 0, 1,                                            \
      "`make run` migrates and loads the sample data set (idempotent); 0 = skip")                  \
    X(INT, gql_max_depth, "OPONN_GQL_MAX_DEPTH", "15", 1, 1000,                                    \
      "deepest GraphQL selection nesting")                                                         \
    X(INT, gql_max_fields, "OPONN_GQL_MAX_FIELDS", "1000", 1, 1000000,                             \
      "GraphQL fields per request")                                                                \
    X(INT, gql_max_aliases, "OPONN_GQL_MAX_ALIASES", "100", 0, 1000000,                            \
      "GraphQL aliases per request")                                                               \
    X(INT, gql_max_cost, "OPONN_GQL_MAX_COST", "50000", 1, 1000000000,                             \
      "GraphQL cost (fields x lists)")                                                             \
    X(INT, doc_cache_bytes, "OPONN_DOC_CACHE_BYTES", "8388608", 0, 1073741824,                     \
      "per worker: parsed and validated GraphQL documents kept, bytes (LRU; 0 = off)")             \
    X(INT, request_deadline_ms, "OPONN_REQUEST_DEADLINE_MS", "10000", 100, 25000,                  \
      "time a request may take: past it fields answer UNAVAILABLE; MongoDB timeouts capped at "    \
      "1/3")                                                                                       \
    X(STR, trusted_proxies, "OPONN_TRUSTED_PROXIES", NULL, 0, 0,                                   \
      "CIDRs of load balancers whose X-Forwarded-For nginx trusts (space-separated; ECS: the "     \
      "VPC)")                                                                                      \
    X(INT, max_body_bytes, "OPONN_MAX_BODY_BYTES", "1048576", 1024, 1073741824,                    \
      "largest request body (413 above)")

#define CFG__FIELD_STR(f)                             const char *f;
#define CFG__FIELD_INT(f)                             long long f;
#define CFG__FIELD(type, f, env, def, min, max, help) CFG__FIELD_##type(f)

typedef struct {
    CFG_KNOBS(CFG__FIELD)
} cfg_t;

/* Reads every knob from the environment. On a bad value returns -1 with a
 * message naming the variable, the value and what is allowed. */
int cfg_load(cfg_t *cfg, err_t *e);

typedef struct {
    const char *env;
    const char *def; /* NULL: no default */
    const char *help;
} cfg_knob_t;

/* The knob table, for `oponn config` and the README check. */
const cfg_knob_t *cfg_knobs(size_t *count);

#endif
