/*
 * metrics.c — the shared counter page (see metrics.h).
 *
 * The mapping is the one per-process global of this module: set once by
 * metrics_open() in each worker, after which updates are lock-free.
 */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define METRICS__MAGIC 0x6f706f6e6e4d3031ull /* "oponnM01" */

typedef struct {
    uint64_t magic;
    uint64_t layout; /* counters and buckets this build expects */
    uint64_t counters[METRIC__COUNT];
    uint64_t buckets[METRICS_BUCKETS + 1]; /* last one is +Inf */
    uint64_t duration_us_sum;
    uint64_t cache_failures, cache_trusted; /* generations: see metrics.h */
    struct {
        int32_t pid;     /* the process that holds the slot (0: free) */
        int32_t writing; /* 1 while it runs a mutation */
    } writers[256];
    uint64_t fence; /* see metrics_fence_bump */
    struct {
        int32_t pid; /* 0: free */
        int32_t pad;
        uint64_t bytes;
    } l1[256];
} metrics_page_t;

static const double metrics__bounds[METRICS_BUCKETS] = {
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 5,
};

static metrics_page_t metrics__local;
static metrics_page_t *metrics__page = &metrics__local;
static int metrics__shared;

static const struct {
    const char *name, *labels, *help;
} metrics__defs[METRIC__COUNT] = {
#define METRICS__DEF(id, name, labels, help) [METRIC_##id] = {name, labels, help},
    METRICS_COUNTERS(METRICS__DEF)
#undef METRICS__DEF
};

static uint64_t metrics__layout(void)
{
    return ((uint64_t)sizeof(metrics_page_t) << 32) | ((uint64_t)METRIC__COUNT << 16) |
           METRICS_BUCKETS;
}

int metrics_open(const char *path, err_t *e)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        return err_set(e, ERR_INTERNAL, "metrics: cannot open %s: %s (counters stay per-process)",
                       path, strerror(errno));
    }
    /* Workers start concurrently; the lock makes exactly one of them
     * initialise (or re-initialise after an upgrade) the page. */
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    while (fcntl(fd, F_SETLKW, &lk) < 0 && errno == EINTR) {
    }
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) == 0) {
        if ((size_t)st.st_size != sizeof(metrics_page_t)) {
            rc = ftruncate(fd, 0) == 0 && ftruncate(fd, sizeof(metrics_page_t)) == 0 ? 0 : -1;
        } else {
            rc = 0;
        }
    }
    void *p = MAP_FAILED;
    if (rc == 0) {
        p = mmap(NULL, sizeof(metrics_page_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    }
    if (p != MAP_FAILED) {
        metrics_page_t *page = p;
        if (page->magic != METRICS__MAGIC || page->layout != metrics__layout()) {
            memset(page, 0, sizeof *page);
            page->magic = METRICS__MAGIC;
            page->layout = metrics__layout();
        }
        metrics__page = page;
        metrics__shared = 1;
    }
    lk.l_type = F_UNLCK;
    fcntl(fd, F_SETLK, &lk);
    close(fd);
    if (p == MAP_FAILED) {
        return err_set(e, ERR_INTERNAL, "metrics: cannot map %s: %s (counters stay per-process)",
                       path, strerror(errno));
    }
    return 0;
}

void metrics_close(void)
{
    if (metrics__shared) munmap(metrics__page, sizeof(metrics_page_t));
    metrics__page = &metrics__local;
    metrics__shared = 0;
}

void metrics_add(metric_t m, uint64_t n)
{
    if ((unsigned)m < METRIC__COUNT) {
        __atomic_fetch_add(&metrics__page->counters[m], n, __ATOMIC_RELAXED);
    }
}

uint64_t metrics_get(metric_t m)
{
    if ((unsigned)m >= METRIC__COUNT) return 0;
    return __atomic_load_n(&metrics__page->counters[m], __ATOMIC_RELAXED);
}

void metrics_observe_request(double seconds)
{
    int i = 0;
    while (i < METRICS_BUCKETS && seconds > metrics__bounds[i]) i++;
    __atomic_fetch_add(&metrics__page->buckets[i], 1, __ATOMIC_RELAXED);
    uint64_t us = seconds > 0 ? (uint64_t)(seconds * 1e6) : 0;
    __atomic_fetch_add(&metrics__page->duration_us_sum, us, __ATOMIC_RELAXED);
}

void metrics_cache_distrust(void)
{
    __atomic_fetch_add(&metrics__page->cache_failures, 1, __ATOMIC_SEQ_CST);
}

int metrics_cache_distrusted(uint64_t *failures)
{
    uint64_t f = __atomic_load_n(&metrics__page->cache_failures, __ATOMIC_SEQ_CST);
    if (failures) *failures = f;
    return f != __atomic_load_n(&metrics__page->cache_trusted, __ATOMIC_SEQ_CST);
}

void metrics_cache_trust(uint64_t failures)
{
    uint64_t cur = __atomic_load_n(&metrics__page->cache_trusted, __ATOMIC_SEQ_CST);
    /* Only forward: a slower worker must not undo a newer failure's mark. */
    while (cur < failures &&
           !__atomic_compare_exchange_n(&metrics__page->cache_trusted, &cur, failures, 0,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
}

/* ---- mutations in flight (see metrics.h) */

static int metrics__slot = -1; /* this process's writers[] slot */
static int32_t metrics__slot_pid;

/* 0 when pid is gone or a zombie (killed, not reaped yet: it will never
 * write Redis again). */
static int metrics__alive(int32_t pid)
{
    char path[48], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT && access("/proc/self/stat", F_OK) == 0) return 0;
        return kill(pid, 0) == 0 || errno == EPERM; /* no /proc: zombies look alive */
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return !(p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
}

/* This process's slot: its own, else a free one or one of a process gone
 * with no write in flight; -1 when all are taken (not tracked). */
static int metrics__claim(void)
{
    int32_t me = (int32_t)getpid();
    if (metrics__slot >= 0 && metrics__slot_pid == me) return metrics__slot;
    metrics__slot = -1;
    int n = (int)(sizeof metrics__page->writers / sizeof metrics__page->writers[0]);
    for (int i = 0; i < n; i++) {
        int32_t cur = __atomic_load_n(&metrics__page->writers[i].pid, __ATOMIC_SEQ_CST);
        if (cur != me && cur != 0 &&
            (__atomic_load_n(&metrics__page->writers[i].writing, __ATOMIC_SEQ_CST) ||
             metrics__alive(cur))) {
            continue;
        }
        if (cur == me || __atomic_compare_exchange_n(&metrics__page->writers[i].pid, &cur, me, 0,
                                                     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            metrics__slot = i;
            metrics__slot_pid = me;
            break;
        }
    }
    return metrics__slot;
}

void metrics_write_begin(void)
{
    int i = metrics__claim();
    if (i >= 0) __atomic_store_n(&metrics__page->writers[i].writing, 1, __ATOMIC_SEQ_CST);
}

void metrics_write_end(void)
{
    if (metrics__slot >= 0 && metrics__slot_pid == (int32_t)getpid()) {
        __atomic_store_n(&metrics__page->writers[metrics__slot].writing, 0, __ATOMIC_SEQ_CST);
    }
}

void metrics_reap_writers(void)
{
    if (!metrics__shared) return; /* a page of its own: no other writer */
    int32_t me = (int32_t)getpid();
    int n = (int)(sizeof metrics__page->writers / sizeof metrics__page->writers[0]);
    for (int i = 0; i < n; i++) {
        if (!__atomic_load_n(&metrics__page->writers[i].writing, __ATOMIC_SEQ_CST)) continue;
        int32_t pid = __atomic_load_n(&metrics__page->writers[i].pid, __ATOMIC_SEQ_CST);
        if (pid == me || metrics__alive(pid)) continue;
        int32_t one = 1;
        if (__atomic_compare_exchange_n(&metrics__page->writers[i].writing, &one, 0, 0,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            metrics_cache_distrust();
        }
    }
}

void metrics_fence_bump(void)
{
    __atomic_fetch_add(&metrics__page->fence, 1, __ATOMIC_SEQ_CST);
}

uint64_t metrics_fence(void)
{
    return __atomic_load_n(&metrics__page->fence, __ATOMIC_SEQ_CST);
}

static int metrics__l1_slot = -1;
static int32_t metrics__l1_slot_pid;

void metrics_l1_bytes(uint64_t bytes)
{
    int32_t me = (int32_t)getpid();
    int n = (int)(sizeof metrics__page->l1 / sizeof metrics__page->l1[0]);
    if (metrics__l1_slot < 0 || metrics__l1_slot_pid != me) {
        metrics__l1_slot = -1;
        for (int i = 0; i < n && metrics__l1_slot < 0; i++) {
            int32_t cur = __atomic_load_n(&metrics__page->l1[i].pid, __ATOMIC_SEQ_CST);
            if (cur != 0 && cur != me && metrics__alive(cur)) continue;
            if (cur == me || __atomic_compare_exchange_n(&metrics__page->l1[i].pid, &cur, me, 0,
                                                         __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
                metrics__l1_slot = i;
                metrics__l1_slot_pid = me;
            }
        }
        if (metrics__l1_slot < 0) return;
    }
    __atomic_store_n(&metrics__page->l1[metrics__l1_slot].bytes, bytes, __ATOMIC_RELAXED);
}

int metrics_l1_pids(int *pids, int cap)
{
    int n = (int)(sizeof metrics__page->l1 / sizeof metrics__page->l1[0]), got = 0;
    for (int i = 0; i < n && got < cap; i++) {
        int32_t pid = __atomic_load_n(&metrics__page->l1[i].pid, __ATOMIC_SEQ_CST);
        if (pid != 0 && metrics__alive(pid)) pids[got++] = pid;
    }
    return got;
}

static uint64_t metrics__l1_bytes_sum(void)
{
    uint64_t sum = 0;
    int n = (int)(sizeof metrics__page->l1 / sizeof metrics__page->l1[0]);
    for (int i = 0; i < n; i++) {
        int32_t pid = __atomic_load_n(&metrics__page->l1[i].pid, __ATOMIC_SEQ_CST);
        if (pid != 0 && metrics__alive(pid))
            sum += __atomic_load_n(&metrics__page->l1[i].bytes, __ATOMIC_RELAXED);
    }
    return sum;
}

void metrics_render(buf_t *out)
{
    const char *last = "";
    for (int i = 0; i < METRIC__COUNT; i++) {
        if (strcmp(last, metrics__defs[i].name) != 0) {
            buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", metrics__defs[i].name,
                       metrics__defs[i].help, metrics__defs[i].name);
            last = metrics__defs[i].name;
        }
        if (metrics__defs[i].labels[0]) {
            buf_printf(out, "%s{%s} ", metrics__defs[i].name, metrics__defs[i].labels);
        } else {
            buf_printf(out, "%s ", metrics__defs[i].name);
        }
        buf_put_i64(out, (int64_t)metrics_get((metric_t)i));
        buf_putc(out, '\n');
    }
    const char *h = "oponn_http_request_duration_seconds";
    buf_printf(out, "# HELP %s time from request read to response written\n# TYPE %s histogram\n",
               h, h);
    uint64_t cum = 0;
    for (int i = 0; i <= METRICS_BUCKETS; i++) {
        cum += __atomic_load_n(&metrics__page->buckets[i], __ATOMIC_RELAXED);
        if (i < METRICS_BUCKETS) {
            buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", h, metrics__bounds[i],
                       (unsigned long long)cum);
        } else {
            buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", h, (unsigned long long)cum);
        }
    }
    uint64_t us = __atomic_load_n(&metrics__page->duration_us_sum, __ATOMIC_RELAXED);
    buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", h, (double)us / 1e6, h,
               (unsigned long long)cum);
    buf_printf(out,
               "# HELP oponn_metrics_shared 1 when the counters cover the whole pool\n"
               "# TYPE oponn_metrics_shared gauge\noponn_metrics_shared %d\n",
               metrics__shared);
    buf_printf(out,
               "# HELP oponn_cache_trusted 0 while a cache write was missed and no new epoch "
               "has started (reads go to MongoDB)\n"
               "# TYPE oponn_cache_trusted gauge\noponn_cache_trusted %d\n",
               !metrics_cache_distrusted(NULL));
    buf_printf(out,
               "# HELP oponn_l1_bytes bytes held by the live workers' near caches (L1)\n"
               "# TYPE oponn_l1_bytes gauge\noponn_l1_bytes %llu\n",
               (unsigned long long)metrics__l1_bytes_sum());
}
