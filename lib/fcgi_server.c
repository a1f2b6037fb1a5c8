/*
 * fcgi_server.c — the FastCGI process loop (see fcgi_server.h).
 */
#include "fcgi_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* What one read takes: a whole request of the usual size. */
#define FCGI_SERVER_READ 16384

typedef struct {
    int fd;
    fcgi_conn_t proto;
} fcgi_server_conn_t;

/* Sends all of data, waiting (poll) while the peer's buffer is full. */
static int fcgi_server_send(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, FCGI_SERVER_SEND_TIMEOUT_MS) != 1) return -1;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return -1;
        }
    }
    return 0;
}

/* Reads what c has sent and answers every request that is complete.
 * Returns 1 to keep the connection, 0 to close it; *stop is set when serve
 * asked to stop. */
static int fcgi_server_conn_ready(const fcgi_server_t *s, fcgi_server_conn_t *c, buf_t *out,
                                  int *stop)
{
    for (;;) {
        char *dst = fcgi_conn_space(&c->proto, FCGI_SERVER_READ);
        ssize_t got = read(c->fd, dst, FCGI_SERVER_READ);
        if (got == 0) return 0; /* nginx closed it */
        if (got < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            return 0;
        }
        c->proto.in.len += (size_t)got;
        if (got < FCGI_SERVER_READ) break; /* all there was; poll says if more comes */
    }
    for (;;) {
        err_t e = {0};
        int rc = fcgi_conn_feed(&c->proto, s->max_body, &e);
        if (c->proto.out.len > 0) { /* refusals the protocol owes */
            if (fcgi_server_send(c->fd, c->proto.out.data, c->proto.out.len) != 0) return 0;
            buf_reset(&c->proto.out);
        }
        if (rc == FCGI_BROKEN) {
            err_log("fcgi: closing a connection: %s", e.msg);
            return 0;
        }
        if (rc == FCGI_MORE) return 1;
        fcgi_answer_t ans = {0};
        if (s->serve(s->ud, &c->proto, &ans)) *stop = 1;
        buf_reset(out);
        fcgi_put_answer(out, c->proto.id, ans.head, ans.head_len, ans.body, ans.body_len);
        if (fcgi_server_send(c->fd, out->data, out->len) != 0) return 0;
        int keep = c->proto.keep_conn;
        fcgi_conn_next(&c->proto);
        if (!keep) return 0;
        if (*stop) return 1;
    }
}

/* Takes the connections waiting on the listening socket (another worker
 * may have taken them first: EAGAIN) and answers what they already sent. */
static void fcgi_server_accept(const fcgi_server_t *s, fcgi_server_conn_t **conns, int *nconns,
                               buf_t *out, int *stop, int *out_of_fds)
{
    while (*nconns < FCGI_SERVER_MAX_CONNS && !*stop) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* The connection stays queued (another worker may take it):
                 * stop polling the socket until one of ours closes, or poll
                 * would report it ready forever. */
                err_log("fcgi: accept: %s; waiting for a connection to close", strerror(errno));
                *out_of_fds = 1;
            }
            return;
        }
        fcgi_server_conn_t *c = calloc(1, sizeof *c);
        if (c == NULL) abort(); /* out of memory aborts, as everywhere (arena.h) */
        c->fd = fd;
        fcgi_conn_init(&c->proto);
        conns[(*nconns)++] = c;
        if (!fcgi_server_conn_ready(s, c, out, stop)) {
            close(c->fd);
            fcgi_conn_free(&c->proto);
            free(c);
            (*nconns)--;
        }
    }
}

int fcgi_server_run(const fcgi_server_t *s, err_t *e)
{
    int fl = fcntl(s->listen_fd, F_GETFL);
    if (fl < 0 || fcntl(s->listen_fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return err_set(e, ERR_INTERNAL, "fcgi: listening socket (fd %d): %s", s->listen_fd,
                       strerror(errno));
    sigset_t old;
    sigprocmask(SIG_BLOCK, s->signals, &old);
    int sfd = signalfd(-1, s->signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        return err_set(e, ERR_INTERNAL, "fcgi: signalfd: %s", strerror(errno));
    }
    fcgi_server_conn_t **conns = calloc(FCGI_SERVER_MAX_CONNS, sizeof *conns);
    struct pollfd *pfd = calloc(FCGI_SERVER_MAX_CONNS + 2, sizeof *pfd);
    if (conns == NULL || pfd == NULL) abort();
    buf_t out = BUF_INIT;
    int nconns = 0, stop = 0, out_of_fds = 0;
    while (!stop) {
        pfd[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
        pfd[1] =
            (struct pollfd){.fd = nconns < FCGI_SERVER_MAX_CONNS && !out_of_fds ? s->listen_fd : -1,
                            .events = POLLIN};
        for (int i = 0; i < nconns; i++)
            pfd[2 + i] = (struct pollfd){.fd = conns[i]->fd, .events = POLLIN};
        int polled = nconns;
        if (poll(pfd, (nfds_t)polled + 2, -1) < 0) {
            if (errno == EINTR) continue;
            err_log("fcgi: poll: %s", strerror(errno));
            break;
        }
        if (pfd[0].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                if (s->on_signal(s->ud, (int)si.ssi_signo)) stop = 1;
        }
        /* Downwards, so a closed connection's slot takes one already seen. */
        for (int i = polled - 1; i >= 0 && !stop; i--) {
            if (!pfd[2 + i].revents) continue;
            if (!fcgi_server_conn_ready(s, conns[i], &out, &stop)) {
                close(conns[i]->fd);
                fcgi_conn_free(&conns[i]->proto);
                free(conns[i]);
                conns[i] = conns[--nconns];
                out_of_fds = 0;
            }
        }
        if (!stop && (pfd[1].revents & POLLIN))
            fcgi_server_accept(s, conns, &nconns, &out, &stop, &out_of_fds);
    }
    for (int i = 0; i < nconns; i++) {
        close(conns[i]->fd);
        fcgi_conn_free(&conns[i]->proto);
        free(conns[i]);
    }
    free(conns);
    free(pfd);
    buf_free(&out);
    close(sfd);
    /* The signals stay blocked: a second stop signal must not cut the
     * caller's clean-up short. */
    return 0;
}
