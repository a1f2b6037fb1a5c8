/*
 * fcgi_constant — a libfcgi worker that answers every request with the same
 * 120-byte JSON body and touches nothing else. It is the ceiling of the
 * nginx → FastCGI pool path: what oponn-worker could reach if answering cost
 * nothing. Used by perf/keepalive.py and `make perf`.
 */
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>

static volatile sig_atomic_t constant_stop;

static void constant_on_signal(int sig)
{
    (void)sig;
    constant_stop = 1;
}

int main(void)
{
    /* 120 bytes, about the size of a book(id) answer. */
    static const char body[] = "{\"data\":{\"book\":{\"id\":\"65f0c0ffee0000000000abcd\","
                               "\"title\":\"A constant body, 120B\",\"year\":2024,\"price\":12.5,"
                               "\"version\":1}}}";
    char reply[512];
    int n = snprintf(reply, sizeof reply,
                     "Status: 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     sizeof body - 1, body);
    struct sigaction sa = {0};
    sa.sa_handler = constant_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    FCGX_Init();
    FCGX_Request r;
    FCGX_InitRequest(&r, 0, FCGI_FAIL_ACCEPT_ON_INTR);
    while (!constant_stop && FCGX_Accept_r(&r) >= 0) {
        char sink[4096];
        while (FCGX_GetStr(sink, sizeof sink, r.in) > 0) {
        }
        FCGX_PutStr(reply, n, r.out);
        FCGX_Finish_r(&r);
    }
    FCGX_Free(&r, 1);
    return 0;
}
