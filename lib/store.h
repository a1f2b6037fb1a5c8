/*
 * store.h — MongoDB through libmongoc: the one place that talks to MongoDB.
 *
 * A store_t owns one mongoc_client_t, made in the worker process after fork
 * and reused by every request. Command monitoring counts the commands sent, so
 * a request can report how many MongoDB commands it cost (X-Oponn-Debug) and
 * /metrics can total them. Only repositories call store_ functions.
 */
#ifndef OPONN_STORE_H
#define OPONN_STORE_H

#include "cfg.h"
#include "err.h"

#include <stdint.h>

typedef struct store store_t;

/* Creates the client (no I/O yet: libmongoc connects on first use). The URI
 * comes from cfg->mongodb_uri; timeouts from the OPONN_MONGO_* knobs unless
 * the URI sets them. Caller frees with store_close(). Call mongoc_init()
 * once per process before. */
int store_open(store_t **out, const cfg_t *cfg, err_t *e);
void store_close(store_t *s);

/* Round trip to the server ("ping"). ERR_UNAVAILABLE when it cannot be reached. */
int store_ping(store_t *s, err_t *e);

/* Commands started by this process since store_open (monotonic). */
uint64_t store_commands(const store_t *s);

#endif
