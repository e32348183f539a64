/*  server.c — the page and the --metrics server (metrics.h, parts 2 and 3).  */
#define _GNU_SOURCE
#include "metrics.h"
#include "listen.h"

#include "common.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVER_CONNECTIONS 16
#define SERVER_TIMEOUT_S 10
#define SERVER_MEMORY (16 * 1024)


struct pingyi_metrics_page_t {
    pthread_mutex_t lock;
    char *text; /* NULL before the first publish */
    size_t len;
    bool ready;
    char reason[256];
    int64_t published_ms; /* 0: never */
};

pingyi_metrics_page_t *
pingyi_metrics_page_new (void)
{
    pingyi_metrics_page_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    snprintf (self->reason, sizeof self->reason, "starting");
    return self;
}

void
pingyi_metrics_page_destroy (pingyi_metrics_page_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pingyi_metrics_page_t *self = *self_p;
    pthread_mutex_destroy (&self->lock);
    free (self->text);
    free (self);
    *self_p = NULL;
}

void
pingyi_metrics_publish (pingyi_metrics_page_t *self, const pingyi_expo_t *e, bool ready, const char *reason,
                        int64_t now)
{
    /* the copy is made outside the lock: the lock guards a pointer swap */
    char *copy = NULL;
    if (e && !e->failed) {
        copy = malloc (e->len + 1);
        if (copy) {
            memcpy (copy, e->len ? e->data : "", e->len);
            copy[e->len] = 0;
        }
    }
    pthread_mutex_lock (&self->lock);
    char *old = NULL;
    if (copy) {
        old = self->text;
        self->text = copy;
        self->len = e->len;
    }
    self->ready = ready;
    snprintf (self->reason, sizeof self->reason, "%s", ready ? "" : reason ? reason : "not ready");
    /* one line */
    for (char *p = self->reason; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    self->published_ms = now;
    pthread_mutex_unlock (&self->lock);
    free (old);
}

static char *
text_body (size_t *len, const char *fmt, ...) PINGYI_PRINTF (2, 3);

static char *
text_body (size_t *len, const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start (ap, fmt);
    int n = vasprintf (&s, fmt, ap);
    va_end (ap);
    if (n < 0)
        return NULL;
    *len = (size_t) n;
    return s;
}

bool
pingyi_metrics_page_answer (pingyi_metrics_page_t *self, const char *path, int64_t now,
                            pingyi_metrics_reply_t *reply)
{
    memset (reply, 0, sizeof *reply);
    int which = !strcmp (path, "/metrics") ? 1 : !strcmp (path, "/healthz") ? 2 : !strcmp (path, "/readyz") ? 3 : 0;
    if (!which)
        return false;
    reply->content_type = "text/plain; charset=utf-8";
    pthread_mutex_lock (&self->lock);
    int64_t published = self->published_ms;
    if (which == 1) {
        if (self->text) {
            reply->status = 200;
            reply->content_type = PINGYI_METRICS_CONTENT_TYPE;
            reply->body = malloc (self->len + 1);
            if (reply->body) {
                memcpy (reply->body, self->text, self->len + 1);
                reply->len = self->len;
            }
        }
        else {
            reply->status = 503;
            reply->body = text_body (&reply->len, "no metrics yet: the process is starting\n");
        }
    }
    else if (which == 2) {
        if (!published) {
            reply->status = 503;
            reply->body = text_body (&reply->len, "starting\n");
        }
        else if (now - published > PINGYI_METRICS_STALL_MS) {
            reply->status = 503;
            reply->body = text_body (&reply->len, "stalled: the main loop has not run for %lld s\n",
                                     (long long) ((now - published) / 1000));
        }
        else {
            reply->status = 200;
            reply->body = text_body (&reply->len, "ok\n");
        }
    }
    else {
        if (published && self->ready) {
            reply->status = 200;
            reply->body = text_body (&reply->len, "ready\n");
        }
        else {
            reply->status = 503;
            reply->body = text_body (&reply->len, "not ready: %s\n", published ? self->reason : "starting");
        }
    }
    pthread_mutex_unlock (&self->lock);
    if (!reply->body) {
        reply->status = 500;
        reply->len = 0;
        reply->content_type = "text/plain; charset=utf-8";
    }
    return true;
}

/*  --------------------------------------------------------------------------
    The server.  */

struct pingyi_metrics_server_t {
    pingyi_http_t http;
    pingyi_metrics_page_t *page;
};

int
pingyi_metrics_parse_addr (const char *spec, const char *flag, struct sockaddr_storage *addr,
                           socklen_t *addr_len, char *err)
{
    memset (addr, 0, sizeof *addr);
    char host[64];
    const char *port_s;
    if (!spec || !*spec)
        return pingyi_fail (err, "%s: expected HOST:PORT", flag);
    if (spec[0] == '[') {
        const char *close = strchr (spec, ']');
        if (!close || close[1] != ':' || (size_t) (close - spec - 1) >= sizeof host)
            return pingyi_fail (err, "%s: expected [IPv6]:PORT, got \"%.64s\"", flag, spec);
        memcpy (host, spec + 1, (size_t) (close - spec - 1));
        host[close - spec - 1] = 0;
        port_s = close + 2;
    }
    else {
        const char *colon = strrchr (spec, ':');
        if (!colon || (size_t) (colon - spec) >= sizeof host)
            return pingyi_fail (err, "%s: expected HOST:PORT, got \"%.64s\"", flag, spec);
        memcpy (host, spec, (size_t) (colon - spec));
        host[colon - spec] = 0;
        port_s = colon + 1;
    }
    char *end;
    unsigned long port = strtoul (port_s, &end, 10);
    if (!*port_s || *end || port > 65535 || port_s[0] < '0' || port_s[0] > '9')
        return pingyi_fail (err, "%s: bad port \"%.16s\" (expected 0..65535)", flag, port_s);
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
        return pingyi_fail (err, "%s: \"%.64s\" is not an IP address (give 127.0.0.1, 0.0.0.0, [::1], ...)",
                            flag, host);
    return 0;
}

static enum MHD_Result
queue_text (struct MHD_Connection *conn, unsigned status, const char *ctype, void *body, size_t len,
            enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer (len, body, mode);
    if (!resp) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free (body);
        return MHD_NO;
    }
    MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header (resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header (resp, "X-Content-Type-Options", "nosniff");
    if (status == 405)
        MHD_add_response_header (resp, MHD_HTTP_HEADER_ALLOW, "GET");
    enum MHD_Result rc = MHD_queue_response (conn, status, resp);
    MHD_destroy_response (resp);
    return rc;
}

static enum MHD_Result
on_request (void *cls, struct MHD_Connection *conn, const char *url, const char *method, const char *version,
            const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void) version;
    (void) upload_data;
    pingyi_metrics_server_t *self = cls;
    /* as the aggregator's server: a plain GET is answered at its second
       call (keep-alive), anything else at once and its body never read */
    if (*con_cls == self) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    const char *clen = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    bool body = (clen && strcmp (clen, "0") != 0) ||
                MHD_lookup_connection_value (conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    bool get = method && !strcmp (method, "GET");
    if (!*con_cls && !body && get) {
        *con_cls = &self->page;
        return MHD_YES;
    }
    *con_cls = self;
    *upload_data_size = 0;
    static const char not_get[] = "GET only\n", not_found[] = "not found: /metrics, /healthz, /readyz\n";
    if (!get)
        return queue_text (conn, 405, "text/plain; charset=utf-8", (void *) not_get, sizeof not_get - 1,
                           MHD_RESPMEM_PERSISTENT);
    pingyi_metrics_reply_t r;
    if (!pingyi_metrics_page_answer (self->page, url, pingyi_now_ms (), &r))
        return queue_text (conn, 404, "text/plain; charset=utf-8", (void *) not_found, sizeof not_found - 1,
                           MHD_RESPMEM_PERSISTENT);
    if (!r.body)
        return queue_text (conn, 500, r.content_type, (void *) "", 0, MHD_RESPMEM_PERSISTENT);
    return queue_text (conn, (unsigned) r.status, r.content_type, r.body, r.len, MHD_RESPMEM_MUST_FREE);
}

static void
on_mhd_log (void *cls, const char *fmt, va_list ap)
{
    pingyi_http_t *self = cls;
    unsigned long long n = atomic_fetch_add (&self->complaints, 1);
    if (n >= PINGYI_HTTP_LOGGED)
        return;
    char line[256];
    vsnprintf (line, sizeof line, fmt, ap);
    size_t len = strlen (line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = 0;
    pingyi_warn ("%s: %s%s", self->what, line, n + 1 == PINGYI_HTTP_LOGGED ? " (further messages only counted)" : "");
}

int
pingyi_http_listen (pingyi_http_t *self, const char *spec, const pingyi_http_conf_t *conf, char *err)
{
    memset (self, 0, sizeof *self);
    struct sockaddr_storage addr;
    socklen_t addr_len;
    if (pingyi_metrics_parse_addr (spec, conf->flag, &addr, &addr_len, err))
        return -1;
    self->what = conf->what;
    atomic_init (&self->complaints, 0);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* a pool only when asked: libmicrohttpd warns of a pool size 0 or 1 */
    struct MHD_OptionItem bounds[] = {
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t) conf->connections, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t) conf->timeout_s, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t) conf->memory, NULL},
        {conf->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t) conf->threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    self->daemon = MHD_start_daemon (flags, 0, NULL, NULL, conf->handler, conf->handler_cls,
                                     MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, self, MHD_OPTION_SOCK_ADDR,
                                     (struct sockaddr *) &addr, MHD_OPTION_ARRAY, bounds, MHD_OPTION_END);
    if (!self->daemon)
        return pingyi_fail (err, "%s %s: cannot listen (address in use, or not an address of this host?)",
                            conf->flag, spec);
    return 0;
}

uint16_t
pingyi_http_port (const pingyi_http_t *self)
{
    const union MHD_DaemonInfo *info =
        self->daemon ? MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    return info ? info->port : 0;
}

void
pingyi_http_stop (pingyi_http_t *self)
{
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    self->daemon = NULL;
}

pingyi_metrics_server_t *
pingyi_metrics_server_start (const char *spec, pingyi_metrics_page_t *page, char *err)
{
    pingyi_metrics_server_t *self = calloc (1, sizeof *self);
    if (!self) {
        pingyi_fail (err, "out of memory");
        return NULL;
    }
    self->page = page;
    const pingyi_http_conf_t conf = {.flag = "--metrics",
                                     .what = "metrics http",
                                     .threads = 1,
                                     .connections = SERVER_CONNECTIONS,
                                     .timeout_s = SERVER_TIMEOUT_S,
                                     .memory = SERVER_MEMORY,
                                     .handler = on_request,
                                     .handler_cls = self};
    if (pingyi_http_listen (&self->http, spec, &conf, err)) {
        free (self);
        return NULL;
    }
    return self;
}

uint16_t
pingyi_metrics_server_port (const pingyi_metrics_server_t *self)
{
    return pingyi_http_port (&self->http);
}

void
pingyi_metrics_server_stop (pingyi_metrics_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pingyi_http_stop (&(*self_p)->http);
    free (*self_p);
    *self_p = NULL;
}
