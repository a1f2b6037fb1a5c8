/*
 * ingest_http.c — GET with retries, backoff, jitter, Retry-After and a body
 * cap, on one reused libcurl handle (see ingest.h).
 */
#include "ingest.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct ingest_http {
    CURL *curl;
    ingest_http_opts_t o;
    unsigned seed;
};

typedef struct {
    buf_t *out;
    size_t max;
    bool too_big;
} ingest__sink_t;

static size_t ingest__write(char *p, size_t size, size_t n, void *ctx)
{
    ingest__sink_t *s = ctx;
    size_t len = size * n;
    if (s->out->len + len > s->max) {
        s->too_big = true;
        return 0; /* libcurl stops with CURLE_WRITE_ERROR */
    }
    buf_append(s->out, p, len);
    return len;
}

ingest_http_t *ingest_http_open(const ingest_http_opts_t *o)
{
    ingest_http_t *h = calloc(1, sizeof *h);
    if (h == NULL) abort();
    h->curl = curl_easy_init();
    if (h->curl == NULL) abort();
    h->o = *o;
    h->seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    return h;
}

void ingest_http_close(ingest_http_t *h)
{
    if (h == NULL) return;
    curl_easy_cleanup(h->curl);
    free(h);
}

static void ingest__sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static bool ingest__retryable_curl(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_BAD_CONTENT_ENCODING:
        return true;
    default:
        return false;
    }
}

int ingest_http_get(ingest_http_t *h, const char *url, buf_t *out, ingest_http_stats_t *st,
                    err_t *e)
{
    const ingest_http_opts_t *o = &h->o;
    CURL *c = h->curl;
    char cerr[CURL_ERROR_SIZE];
    for (int attempt = 0;; attempt++) {
        buf_reset(out);
        ingest__sink_t sink = {out, o->max_body, false};
        curl_easy_reset(c);
        cerr[0] = '\0';
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_USERAGENT, o->user_agent);
        curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* gzip, deflate, … */
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms);
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_body);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ingest__write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
        CURLcode rc = curl_easy_perform(c);
        long status = 0;
        curl_off_t retry_after = -1;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &retry_after);
        st->requests++;
        st->last_status = status;

        char what[300];
        bool retry;
        if (sink.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
            return err_set(e, ERR_UNAVAILABLE, "GET %s: response body over %zu bytes (the cap)",
                           url, o->max_body);
        } else if (rc != CURLE_OK) {
            snprintf(what, sizeof what, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
            retry = ingest__retryable_curl(rc);
        } else if (status >= 200 && status < 300) {
            return 0;
        } else {
            snprintf(what, sizeof what, "HTTP status %ld", status);
            retry = status == 429 || status >= 500;
        }
        if (!retry) return err_set(e, ERR_UNAVAILABLE, "GET %s: %s", url, what);
        if (attempt >= o->retries) {
            return err_set(e, ERR_UNAVAILABLE, "GET %s: %s (gave up after %d attempts)", url, what,
                           attempt + 1);
        }
        long wait = o->backoff_ms;
        for (int i = 0; i < attempt && wait < o->max_backoff_ms; i++) wait *= 2;
        if (wait > o->max_backoff_ms) wait = o->max_backoff_ms;
        /* "Equal jitter": half fixed, half random, so retries of many
         * clients spread out but none retries at once. */
        wait = wait / 2 + (long)(rand_r(&h->seed) % (unsigned)(wait / 2 + 1));
        if (retry_after >= 0) {
            if (retry_after * 1000 > o->max_backoff_ms) {
                return err_set(e, ERR_UNAVAILABLE,
                               "GET %s: %s with Retry-After %lld s, longer than the %ld ms this "
                               "run waits",
                               url, what, (long long)retry_after, o->max_backoff_ms);
            }
            wait = (long)retry_after * 1000;
        }
        st->retries++;
        ingest__sleep_ms(wait);
    }
}
