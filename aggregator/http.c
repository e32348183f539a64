/*  http.c — libmicrohttpd glue for the aggregator's API (http.h).  All the
    answering is agg_api_route's; here: the socket, the arguments, the
    headers, and the bounds libmicrohttpd enforces for us.  */
#define _GNU_SOURCE
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define LOGGED_MAX 20 /* libmicrohttpd complaints logged; the rest are counted */

struct agg_http_t {
    struct MHD_Daemon *daemon;
    agg_board_t *board;
    agg_api_t *api;
    atomic_ullong mhd_errors;
};

int
agg_http_parse_listen (const char *spec, struct sockaddr_storage *addr, socklen_t *addr_len, char *err)
{
    memset (addr, 0, sizeof *addr);
    char host[64];
    const char *port_s;
    if (!spec || !*spec)
        return pingyi_fail (err, "--http: expected HOST:PORT");
    if (spec[0] == '[') {
        const char *close = strchr (spec, ']');
        if (!close || close[1] != ':' || (size_t) (close - spec - 1) >= sizeof host)
            return pingyi_fail (err, "--http: expected [IPv6]:PORT, got \"%.64s\"", spec);
        memcpy (host, spec + 1, (size_t) (close - spec - 1));
        host[close - spec - 1] = 0;
        port_s = close + 2;
    }
    else {
        const char *colon = strrchr (spec, ':');
        if (!colon || (size_t) (colon - spec) >= sizeof host)
            return pingyi_fail (err, "--http: expected HOST:PORT, got \"%.64s\"", spec);
        memcpy (host, spec, (size_t) (colon - spec));
        host[colon - spec] = 0;
        port_s = colon + 1;
    }
    char *end;
    unsigned long port = strtoul (port_s, &end, 10);
    if (!*port_s || *end || port > 65535 || port_s[0] < '0' || port_s[0] > '9')
        return pingyi_fail (err, "--http: bad port \"%.16s\" (expected 0..65535)", port_s);
    struct sockaddr_in *in4 = (struct sockaddr_in *) addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) addr;
    if (inet_pton (AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons ((uint16_t) port);
        *addr_len = sizeof *in4;
    }
    else if (inet_pton (AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons ((uint16_t) port);
        *addr_len = sizeof *in6;
    }
    else
        return pingyi_fail (
            err, "--http: \"%.64s\" is not an IP address (give 127.0.0.1, 0.0.0.0, [::1], ...)", host);
    return 0;
}

typedef struct {
    agg_arg_t args[AGG_ARGS_MAX + 1];
    size_t count;
} args_t;

static enum MHD_Result
take_arg (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void) kind;
    args_t *a = cls;
    /* one beyond the limit is kept so the router can say "too many" */
    if (a->count > AGG_ARGS_MAX)
        return MHD_NO;
    a->args[a->count].key = key ? key : "";
    a->args[a->count].value = value;
    a->count++;
    return MHD_YES;
}

static enum MHD_Result
on_request (void *cls, struct MHD_Connection *conn, const char *url, const char *method, const char *version,
            const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void) version;
    (void) upload_data;
    agg_http_t *self = cls;
    /* con_cls: NULL at the first call for a request, then `self` once
       answered, or &self->board while a plain GET waits for its second
       call (answering a GET there keeps the connection alive) */
    if (*con_cls == self) {
        /* a body arriving after the answer was queued: dropped unread */
        *upload_data_size = 0;
        return MHD_YES;
    }
    const char *clen = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    bool body = (clen && strcmp (clen, "0") != 0) ||
                MHD_lookup_connection_value (conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (!*con_cls && !body && method && !strcmp (method, "GET")) {
        *con_cls = &self->board;
        return MHD_YES;
    }
    /* anything with a body, or not a GET, is answered at once: the body is
       never read, and libmicrohttpd closes the connection after the answer */
    if (!*con_cls && body)
        atomic_fetch_add (&self->api->stats.bodies_ignored, 1);
    *con_cls = self;
    *upload_data_size = 0;
    args_t a = {.count = 0};
    MHD_get_connection_values (conn, MHD_GET_ARGUMENT_KIND, take_arg, &a);
    agg_state_t *state = agg_board_acquire (self->board);
    agg_reply_t reply;
    agg_api_route (self->api, state, pingyi_now_ms (), method, url, a.args, a.count, &reply);
    agg_state_unref (&state);
    struct MHD_Response *resp;
    if (reply.body)
        resp = MHD_create_response_from_buffer (reply.len, reply.body, MHD_RESPMEM_MUST_FREE);
    else
        resp = MHD_create_response_from_buffer (strlen (AGG_OOM_BODY), (void *) AGG_OOM_BODY,
                                                MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        agg_reply_free (&reply);
        return MHD_NO;
    }
    MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
    MHD_add_response_header (resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header (resp, "X-Content-Type-Options", "nosniff");
    if (reply.status == 405)
        MHD_add_response_header (resp, MHD_HTTP_HEADER_ALLOW, "GET");
    enum MHD_Result rc = MHD_queue_response (conn, (unsigned) reply.status, resp);
    MHD_destroy_response (resp);
    return rc;
}

static void
on_mhd_log (void *cls, const char *fmt, va_list ap)
{
    agg_http_t *self = cls;
    unsigned long long n = atomic_fetch_add (&self->mhd_errors, 1);
    if (n >= LOGGED_MAX)
        return;
    char line[256];
    vsnprintf (line, sizeof line, fmt, ap);
    size_t len = strlen (line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = 0;
    pingyi_warn ("http: %s%s", line, n + 1 == LOGGED_MAX ? " (further messages only counted)" : "");
}

agg_http_t *
agg_http_start (const char *spec, agg_board_t *board, agg_api_t *api, char *err)
{
    struct sockaddr_storage addr;
    socklen_t addr_len;
    if (agg_http_parse_listen (spec, &addr, &addr_len, err))
        return NULL;
    agg_http_t *self = calloc (1, sizeof *self);
    if (!self) {
        pingyi_fail (err, "out of memory");
        return NULL;
    }
    self->board = board;
    self->api = api;
    atomic_init (&self->mhd_errors, 0);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    self->daemon = MHD_start_daemon (
        flags, 0, NULL, NULL, on_request, self, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned) AGG_HTTP_THREADS, MHD_OPTION_CONNECTION_LIMIT, (unsigned) AGG_HTTP_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) AGG_HTTP_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t) AGG_HTTP_MEMORY, MHD_OPTION_END);
    if (!self->daemon) {
        pingyi_fail (err, "--http %s: cannot listen (address in use, or not an address of this host?)", spec);
        free (self);
        return NULL;
    }
    return self;
}

uint16_t
agg_http_port (const agg_http_t *self)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

void
agg_http_stop (agg_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    agg_http_t *self = *self_p;
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    free (self);
    *self_p = NULL;
}
