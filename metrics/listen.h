/*  listen.h — libmicrohttpd the way every HTTP server of pingyi runs it (the
    metrics server, metrics/server.c; the aggregator's API and dashboard,
    aggregator/http.c): one place for the listening address, the threads,
    the bounds, the start-up error and the daemon's own complaints.  */
#ifndef PINGYI_LISTEN_H
#define PINGYI_LISTEN_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *flag;        /* the option given the address, in errors: "--http", "--metrics" */
    const char *what;        /* the prefix of its warnings: "http", "metrics http" */
    unsigned threads;        /* > 1: a pool of internal threads; else one */
    unsigned connections;    /* at most this many connections */
    unsigned timeout_s;      /* idle connections closed after this */
    size_t memory;           /* request line and headers, bytes (more: refused by libmicrohttpd) */
    MHD_AccessHandlerCallback handler;
    void *handler_cls;
} pingyi_http_conf_t;

typedef struct {
    struct MHD_Daemon *daemon;
    const char *what;
    atomic_ullong complaints; /* libmicrohttpd's messages: the first PINGYI_HTTP_LOGGED logged */
} pingyi_http_t;

#define PINGYI_HTTP_LOGGED 20

/*  Listen on spec (HOST:PORT, pingyi_metrics_parse_addr; port 0: any
    free one) and serve with conf's handler on libmicrohttpd's internal
    threads (its complaints: warnings "WHAT: ...", the first
    PINGYI_HTTP_LOGGED of them, the rest counted).  0, or -1 with err
    ("--http 127.0.0.1:8080: cannot listen (address in use, or not an
    address of this host?)").  self must stay where it is until stopped.  */
int pingyi_http_listen (pingyi_http_t *self, const char *spec, const pingyi_http_conf_t *conf, char *err);
/*  The port bound (when spec asked for port 0).  */
uint16_t pingyi_http_port (const pingyi_http_t *self);
/*  Stop (waits for requests in progress); safe twice.  */
void pingyi_http_stop (pingyi_http_t *self);

#endif
