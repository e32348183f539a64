/*  raw_http.h — for the unit tests of the aggregator's HTTP server: send
    raw bytes to 127.0.0.1:port and read the whole answer (the server
    closes, or 5 s pass).  Header-only: each unit test is one program.  */
#ifndef PINGYI_TEST_RAW_HTTP_H
#define PINGYI_TEST_RAW_HTTP_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/*  The answer, malloc'd and NUL-terminated.  */
static inline char *
raw_http_exchange (uint16_t port, const char *req, size_t len)
{
    int s = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (s >= 0);
    struct timeval tv = {5, 0};
    setsockopt (s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons (port)};
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert_int_equal (connect (s, (struct sockaddr *) &a, sizeof a), 0);
    size_t off = 0;
    while (off < len) {
        ssize_t n = send (s, req + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may close on us mid-request: that is an answer too */
        off += (size_t) n;
    }
    size_t cap = 1 << 16, got = 0;
    char *buf = malloc (cap + 1);
    assert_non_null (buf);
    for (;;) {
        if (got == cap) {
            cap *= 2;
            buf = realloc (buf, cap + 1);
            assert_non_null (buf);
        }
        ssize_t n = recv (s, buf + got, cap - got, 0);
        if (n <= 0)
            break;
        got += (size_t) n;
    }
    buf[got] = 0;
    close (s);
    return buf;
}

#endif
