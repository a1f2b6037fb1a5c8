/*
 * oponn pool status — what the FastCGI pool on this host is doing.
 *
 * Finds the worker processes (/proc: executables named oponn-worker), says
 * for each its pid, parent (multiwatch), age and resident memory, and checks
 * that the pool's socket ($OPONN_SOCKET, default $OPONN_RUN_DIR/oponn.sock)
 * accepts a connection. Exit 0 when the socket accepts and at least one
 * worker runs, 1 otherwise, 2 on bad usage.
 */
#include "cmd.h"

#include "cfg.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Reads /proc/<pid>/stat: parent pid, start time (clock ticks after boot) and
 * resident pages. The command name may hold spaces and parentheses, so the
 * fields are taken after the last ')'. */
static int pool__stat(const char *pid, long *ppid, unsigned long long *start, long *rss_pages)
{
    char path[300], line[1024];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    char *p = strrchr(line, ')');
    if (p == NULL) return -1;
    /* fields after ')': 3 state, 4 ppid, ..., 22 starttime, 24 rss */
    char state;
    int got = sscanf(p + 1,
                     " %c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d "
                     "%llu %*u %ld",
                     &state, ppid, start, rss_pages);
    return got == 4 ? 0 : -1;
}

static double pool__uptime(void)
{
    double up = 0;
    FILE *f = fopen("/proc/uptime", "r");
    if (f) {
        if (fscanf(f, "%lf", &up) != 1) up = 0;
        fclose(f);
    }
    return up;
}

static int pool__socket_accepts(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) return 0;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static int pool__status(const cfg_t *cfg)
{
    char sock[1024];
    if (cfg->socket_path) {
        snprintf(sock, sizeof sock, "%s", cfg->socket_path);
    } else {
        snprintf(sock, sizeof sock, "%s/oponn.sock", cfg->run_dir);
    }
    int accepts = pool__socket_accepts(sock);
    printf("socket   %s: %s\n", sock, accepts ? "accepting" : "NOT accepting");

    long hz = sysconf(_SC_CLK_TCK), page_kb = sysconf(_SC_PAGESIZE) / 1024;
    double up = pool__uptime();
    int workers = 0;
    DIR *d = opendir("/proc");
    if (d == NULL) {
        fprintf(stderr, "oponn pool status: cannot read /proc\n");
        return CMD_FAILED;
    }
    printf("%-8s %-8s %10s %10s\n", "pid", "parent", "age s", "rss KiB");
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)de->d_name[0])) continue;
        char path[300], exe[1024];
        snprintf(path, sizeof path, "/proc/%s/exe", de->d_name);
        ssize_t n = readlink(path, exe, sizeof exe - 1);
        if (n <= 0) continue;
        exe[n] = '\0';
        const char *base = strrchr(exe, '/');
        base = base ? base + 1 : exe;
        if (strcmp(base, "oponn-worker") != 0) continue;
        long ppid, rss;
        unsigned long long start;
        if (pool__stat(de->d_name, &ppid, &start, &rss) != 0) continue;
        printf("%-8s %-8ld %10.0f %10ld\n", de->d_name, ppid, up - (double)start / (double)hz,
               rss * page_kb);
        workers++;
    }
    closedir(d);
    printf("workers  %d running (OPONN_WORKERS=%lld; 0 = one per core)\n", workers, cfg->workers);
    return accepts && workers > 0 ? CMD_OK : CMD_FAILED;
}

int cmd_pool(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: oponn pool status\n"
               "Lists the FastCGI worker processes on this host (pid, parent, age, resident\n"
               "memory) and checks that the pool's socket accepts connections.\n"
               "Exit 0 when it does and a worker runs, 1 otherwise, 2 on bad usage.\n");
        return CMD_OK;
    }
    if (argc != 2 || strcmp(argv[1], "status") != 0) {
        fprintf(stderr, "usage: oponn pool status (try --help)\n");
        return CMD_USAGE;
    }
    cfg_t cfg;
    err_t e = {0};
    if (cfg_load(&cfg, &e) != 0) {
        fprintf(stderr, "oponn pool status: %s\n", e.msg);
        return CMD_USAGE;
    }
    return pool__status(&cfg);
}
