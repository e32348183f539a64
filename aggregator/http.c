/*  http.c — libmicrohttpd glue for the aggregator's API (http.h).  All the
    answering is agg_api_route's; here: the socket, the arguments, the
    headers, and the bounds libmicrohttpd enforces for us; the dashboard's
    embedded files and the token check, whose rules live in web.c.  */
#define _GNU_SOURCE
#include "http.h"

#include "cli.h"
#include "listen.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct agg_http_t {
    pingyi_http_t http; /* the daemon (metrics/http.h) */
    agg_board_t *board;
    agg_api_t *api;
    agg_web_token_t token; /* not set: no token asked */
    atomic_ullong unauthorized;
    int64_t start_wall; /* time (NULL) at start: process_start_time_seconds */
};

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

/*  /metrics, /healthz and /readyz (docs/OPERATIONS.md, "Metrics"), answered
    here from the board's current state like every other path: the state
    is immutable, so rendering it on this thread touches nothing of the
    poller's.  /healthz and /readyz are open even with a token (a probe
    knows no secret and they show nothing of the count); /metrics asks for
    it like the API (Prometheus sends it as a bearer token).  Probe
    requests are not counted in the API's counters.  */
static bool
is_probe (const char *url)
{
    return url && (!strcmp (url, "/metrics") || !strcmp (url, "/healthz") || !strcmp (url, "/readyz"));
}

static bool
is_open_probe (const char *url)
{
    return url && (!strcmp (url, "/healthz") || !strcmp (url, "/readyz"));
}

static void
render_agg_metrics (pingyi_expo_t *e, const agg_state_t *st, const agg_api_stats_t *h, int64_t now,
                    int64_t start_wall, unsigned long long unauthorized)
{
    pingyi_expo_process (e, "pingyi-agg", pingyi_cli_version (), pingyi_cli_revision (), start_wall);
    uint64_t stale = 0;
    if (st)
        for (uint32_t i = 0; i < st->shard_count; i++)
            stale += agg_shard_stale (&st->shards[i], now, st->stale_ms);
    const agg_poll_stats_t *p = st ? &st->poll_stats : NULL;
    const agg_shards_stats_t *s = st ? &st->shard_stats : NULL;
#define P(f) (p ? p->f : 0)
#define S(f) (s ? s->f : 0)
    pingyi_expo_counter (e, "pingyi_agg_rounds_total", "Polling rounds.", P (rounds));
    pingyi_expo_counter (e, "pingyi_agg_merges_total", "Merges (a shard released something new).", P (merges));
    pingyi_expo_gauge (e, "pingyi_agg_last_merge_duration_seconds",
                       "How long the last merge took (tally from the snapshots, then the view), seconds.",
                       (double) P (merge_us) / 1e6);
    pingyi_expo_gauge (e, "pingyi_agg_last_merge_timestamp_seconds",
                       "Wall-clock time of the last merge since the Unix epoch, seconds (0: none yet).",
                       st && st->merged && P (merges) ? (double) st->merged->wall : 0);
    pingyi_expo_gauge (e, "pingyi_agg_final", "1 when the count is FINAL (every venue reconciled or void).",
                       st && agg_state_final (st) ? 1 : 0);
    pingyi_expo_gauge (e, "pingyi_agg_shards", "Shards of the election.", st ? (double) st->shard_count : 0);
    pingyi_expo_gauge (e, "pingyi_agg_shards_stale", "Shards whose last snapshot is missing or older than --stale-ms.",
                       (double) stale);
    pingyi_expo_family (e, "pingyi_agg_shard_stale", PINGYI_METRIC_GAUGE, "1 when the shard is stale, else 0.");
    for (uint32_t i = 0; st && i < st->shard_count; i++) {
        char shard[16];
        snprintf (shard, sizeof shard, "%u", st->shards[i].shard);
        const char *l[] = {"shard", shard, NULL};
        pingyi_expo_sample_u64 (e, "pingyi_agg_shard_stale", l, agg_shard_stale (&st->shards[i], now, st->stale_ms));
    }
    pingyi_expo_family (e, "pingyi_agg_shard_age_seconds", PINGYI_METRIC_GAUGE,
                        "Age of the shard's last complete snapshot, seconds (absent: none yet).");
    for (uint32_t i = 0; st && i < st->shard_count; i++) {
        int64_t age = agg_shard_age (&st->shards[i], now);
        if (age < 0)
            continue;
        char shard[16];
        snprintf (shard, sizeof shard, "%u", st->shards[i].shard);
        const char *l[] = {"shard", shard, NULL};
        pingyi_expo_sample (e, "pingyi_agg_shard_age_seconds", l, (double) age / 1000.0);
    }
    pingyi_expo_counter (e, "pingyi_agg_frames_total", "Frames received from the broker.", P (frames_in));
    pingyi_expo_family (e, "pingyi_agg_poller_errors_total", PINGYI_METRIC_COUNTER,
                        "Frames or sends the poller could not use, by kind.");
    const char *k1[] = {"kind", "bad_frame", NULL}, *k2[] = {"kind", "multipart", NULL},
               *k3[] = {"kind", "unexpected", NULL}, *k4[] = {"kind", "send_failure", NULL};
    pingyi_expo_sample_u64 (e, "pingyi_agg_poller_errors_total", k1, P (bad_frames));
    pingyi_expo_sample_u64 (e, "pingyi_agg_poller_errors_total", k2, P (multipart));
    pingyi_expo_sample_u64 (e, "pingyi_agg_poller_errors_total", k3, P (unexpected));
    pingyi_expo_sample_u64 (e, "pingyi_agg_poller_errors_total", k4, P (send_failures));
    pingyi_expo_counter (e, "pingyi_agg_failovers_total", "Switches to the next broker.", P (failovers));
    pingyi_expo_family (e, "pingyi_agg_history_writes_total", PINGYI_METRIC_COUNTER,
                        "History records written, or failed.");
    const char *hw[] = {"result", "ok", NULL}, *he[] = {"result", "error", NULL};
    pingyi_expo_sample_u64 (e, "pingyi_agg_history_writes_total", hw, P (history_writes));
    pingyi_expo_sample_u64 (e, "pingyi_agg_history_writes_total", he, P (history_errors));
    pingyi_expo_counter (e, "pingyi_agg_queries_sent_total", "Snapshot queries sent.", S (queries_sent));
    pingyi_expo_counter (e, "pingyi_agg_pages_total", "Snapshot pages taken.", S (pages));
    pingyi_expo_family (e, "pingyi_agg_snapshots_total", PINGYI_METRIC_COUNTER,
                        "Snapshot page sets, by outcome (complete, changed, restarted).");
    const char *c1[] = {"result", "complete", NULL}, *c2[] = {"result", "changed", NULL},
               *c3[] = {"result", "restarted", NULL};
    pingyi_expo_sample_u64 (e, "pingyi_agg_snapshots_total", c1, S (completes));
    pingyi_expo_sample_u64 (e, "pingyi_agg_snapshots_total", c2, S (changes));
    pingyi_expo_sample_u64 (e, "pingyi_agg_snapshots_total", c3, S (restarts));
    pingyi_expo_family (e, "pingyi_agg_query_failures_total", PINGYI_METRIC_COUNTER,
                        "Snapshot queries answered RETRY or ERROR, timed out, or answered late.");
    const char *f1[] = {"kind", "retry", NULL}, *f2[] = {"kind", "error", NULL}, *f3[] = {"kind", "timeout", NULL},
               *f4[] = {"kind", "late", NULL};
    pingyi_expo_sample_u64 (e, "pingyi_agg_query_failures_total", f1, S (retries));
    pingyi_expo_sample_u64 (e, "pingyi_agg_query_failures_total", f2, S (errors));
    pingyi_expo_sample_u64 (e, "pingyi_agg_query_failures_total", f3, S (timeouts));
    pingyi_expo_sample_u64 (e, "pingyi_agg_query_failures_total", f4, S (late));
    pingyi_expo_family (e, "pingyi_agg_pages_refused_total", PINGYI_METRIC_COUNTER,
                        "Snapshot pages refused, by reason (docs/aggregator.md).");
    const char *r1[] = {"reason", "election", NULL}, *r2[] = {"reason", "shard", NULL},
               *r3[] = {"reason", "order", NULL}, *r4[] = {"reason", "key", NULL}, *r5[] = {"reason", "venue", NULL},
               *r6[] = {"reason", "size", NULL};
    pingyi_expo_sample_u64 (e, "pingyi_agg_pages_refused_total", r1, S (refused_election));
    pingyi_expo_sample_u64 (e, "pingyi_agg_pages_refused_total", r2, S (refused_shard));
    pingyi_expo_sample_u64 (e, "pingyi_agg_pages_refused_total", r3, S (refused_order));
    pingyi_expo_sample_u64 (e, "pingyi_agg_pages_refused_total", r4, S (refused_key));
    pingyi_expo_sample_u64 (e, "pingyi_agg_pages_refused_total", r5, S (refused_venue));
    pingyi_expo_sample_u64 (e, "pingyi_agg_pages_refused_total", r6, S (refused_size));
#undef P
#undef S
    pingyi_expo_counter (e, "pingyi_agg_http_requests_total", "View API requests (probes not counted).",
                         atomic_load (&h->requests));
    pingyi_expo_family (e, "pingyi_agg_http_responses_total", PINGYI_METRIC_COUNTER,
                        "View API responses, by status code.");
    struct {
        const char *code;
        const atomic_ullong *v;
    } codes[] = {{"200", &h->ok},       {"400", &h->bad_request}, {"404", &h->not_found}, {"405", &h->bad_method},
                 {"414", &h->too_long}, {"500", &h->failed},      {"503", &h->unavailable}};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *l[] = {"code", codes[i].code, NULL};
        pingyi_expo_sample_u64 (e, "pingyi_agg_http_responses_total", l, atomic_load (codes[i].v));
    }
    pingyi_expo_counter (e, "pingyi_agg_http_bodies_ignored_total", "Requests that came with a body (never read).",
                         atomic_load (&h->bodies_ignored));
    pingyi_expo_counter (e, "pingyi_agg_history_skipped_total", "Stored history records not fit to serve.",
                         atomic_load (&h->history_skipped));
    pingyi_expo_counter (e, "pingyi_agg_http_unauthorized_total",
                         "Requests refused (401) for a missing or wrong --http-token.", unauthorized);
}

static enum MHD_Result
answer_probe (agg_http_t *self, struct MHD_Connection *conn, const char *url)
{
    int64_t now = pingyi_now_ms ();
    agg_state_t *st = agg_board_acquire (self->board);
    pingyi_expo_t e;
    pingyi_expo_init (&e);
    unsigned status = 200;
    const char *ctype = "text/plain; charset=utf-8";
    char line[PINGYI_TEXT_MAX + 128] = "";
    if (!strcmp (url, "/metrics")) {
        render_agg_metrics (&e, st, &self->api->stats, now, self->start_wall,
                            atomic_load (&self->unauthorized));
        ctype = PINGYI_METRICS_CONTENT_TYPE;
    }
    else if (!strcmp (url, "/healthz")) {
        /* the poller publishes a state every round */
        int64_t limit = PINGYI_METRICS_STALL_MS;
        if (st && 5 * st->interval_ms > limit)
            limit = 5 * st->interval_ms;
        if (!st) {
            status = 503;
            snprintf (line, sizeof line, "starting\n");
        }
        else if (now - st->made_ms > limit) {
            status = 503;
            snprintf (line, sizeof line, "stalled: the poller has not published for %lld s\n",
                      (long long) ((now - st->made_ms) / 1000));
        }
        else
            snprintf (line, sizeof line, "ok\n");
    }
    else {
        /* ready: merged at least once, and no shard stale */
        int stale_shard = -1;
        for (uint32_t i = 0; st && i < st->shard_count && stale_shard < 0; i++)
            if (agg_shard_stale (&st->shards[i], now, st->stale_ms))
                stale_shard = (int) i;
        status = 503;
        if (!st || !st->merged || st->poll_stats.merges == 0)
            snprintf (line, sizeof line, "not ready: no merge yet\n");
        else if (stale_shard >= 0)
            snprintf (line, sizeof line, "not ready: shard %u is stale%s%s\n", st->shards[stale_shard].shard,
                      st->shards[stale_shard].reason[0] ? ": " : "", st->shards[stale_shard].reason);
        else {
            status = 200;
            snprintf (line, sizeof line, "ready\n");
        }
        for (char *c = line; *c && c[1]; c++) /* one line */
            if (*c == '\n' || *c == '\r')
                *c = ' ';
    }
    agg_state_unref (&st);
    struct MHD_Response *resp;
    if (!strcmp (url, "/metrics")) {
        if (e.failed) {
            pingyi_expo_fini (&e);
            return MHD_NO;
        }
        resp = MHD_create_response_from_buffer (e.len, e.data, MHD_RESPMEM_MUST_COPY);
    }
    else
        resp = MHD_create_response_from_buffer (strlen (line), line, MHD_RESPMEM_MUST_COPY);
    pingyi_expo_fini (&e);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header (resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header (resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result rc = MHD_queue_response (conn, status, resp);
    MHD_destroy_response (resp);
    return rc;
}

static void
add_page_headers (struct MHD_Response *resp)
{
    for (size_t i = 0; i < agg_web_page_header_count; i++)
        MHD_add_response_header (resp, agg_web_page_headers[i].name, agg_web_page_headers[i].value);
}

/*  An embedded file of the dashboard (web.h): static bytes, never copied.  */
static enum MHD_Result
answer_asset (struct MHD_Connection *conn, const agg_web_asset_t *asset)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer (asset->len, (void *) asset->data, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, asset->content_type);
    add_page_headers (resp);
    enum MHD_Result rc = MHD_queue_response (conn, MHD_HTTP_OK, resp);
    MHD_destroy_response (resp);
    return rc;
}

#define UNAUTHORIZED_JSON                                                                                    \
    "{\"error\":\"unauthorized: this aggregator asks for its token (Authorization: Bearer TOKEN)\"}\n"
#define UNAUTHORIZED_HTML                                                                                    \
    "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>401 需要访问令牌</title>"     \
    "</head><body><h1>401 需要访问令牌</h1><p>此计票看板需要访问令牌：请打开管理员提供的链接"                  \
    "（/?token=…）。</p><p>This dashboard asks for its access token: open the link with ?token= "             \
    "once.</p></body></html>\n"

/*  With a token set: true when the request was answered here (401, or the
    303 that follows /?token=TOKEN), with *rc; false to go on.  */
static bool
guard (agg_http_t *self, struct MHD_Connection *conn, const char *url, bool get, enum MHD_Result *rc)
{
    const char *auth = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *cookie = MHD_lookup_connection_value (conn, MHD_COOKIE_KIND, AGG_WEB_COOKIE);
    const char *given = get && url && !strcmp (url, "/")
                            ? MHD_lookup_connection_value (conn, MHD_GET_ARGUMENT_KIND, "token")
                            : NULL;
    struct MHD_Response *resp;
    unsigned status;
    if (given && agg_web_token_matches (&self->token, given)) {
        /* the token becomes an HttpOnly cookie and leaves the address bar
           (and the history) at once */
        char set_cookie[AGG_WEB_TOKEN_MAX + 128];
        if (agg_web_cookie (given, set_cookie, sizeof set_cookie)) {
            *rc = MHD_NO;
            return true;
        }
        resp = MHD_create_response_from_buffer (0, (void *) "", MHD_RESPMEM_PERSISTENT);
        if (!resp) {
            *rc = MHD_NO;
            return true;
        }
        MHD_add_response_header (resp, MHD_HTTP_HEADER_SET_COOKIE, set_cookie);
        MHD_add_response_header (resp, MHD_HTTP_HEADER_LOCATION, "/");
        sodium_memzero (set_cookie, sizeof set_cookie);
        status = MHD_HTTP_SEE_OTHER;
    }
    else if (!given && agg_web_authorized (&self->token, auth, cookie))
        return false;
    else {
        atomic_fetch_add (&self->unauthorized, 1);
        bool api = url && (!strncmp (url, "/api/", 5) || !strcmp (url, "/api") || is_probe (url));
        const char *body = api ? UNAUTHORIZED_JSON : UNAUTHORIZED_HTML;
        resp = MHD_create_response_from_buffer (strlen (body), (void *) body, MHD_RESPMEM_PERSISTENT);
        if (!resp) {
            *rc = MHD_NO;
            return true;
        }
        MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                 api ? "application/json; charset=utf-8" : "text/html; charset=utf-8");
        MHD_add_response_header (resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"pingyi-agg\"");
        status = MHD_HTTP_UNAUTHORIZED;
    }
    add_page_headers (resp);
    *rc = MHD_queue_response (conn, status, resp);
    MHD_destroy_response (resp);
    return true;
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
    bool get = !body && method && !strcmp (method, "GET");
    if (get && is_open_probe (url))
        return answer_probe (self, conn, url);
    if (self->token.set) {
        enum MHD_Result rc;
        if (guard (self, conn, url, get, &rc))
            return rc;
    }
    if (get && is_probe (url))
        return answer_probe (self, conn, url);
    const agg_web_asset_t *asset = get ? agg_web_find (url) : NULL;
    if (asset)
        return answer_asset (conn, asset);
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

agg_http_t *
agg_http_start (const char *spec, agg_board_t *board, agg_api_t *api, char *err)
{
    return agg_http_start_guarded (spec, board, api, NULL, err);
}

unsigned long long
agg_http_unauthorized (const agg_http_t *self)
{
    return atomic_load (&((agg_http_t *) self)->unauthorized);
}

agg_http_t *
agg_http_start_guarded (const char *spec, agg_board_t *board, agg_api_t *api, const agg_web_token_t *token,
                        char *err)
{
    agg_http_t *self = calloc (1, sizeof *self);
    if (!self) {
        pingyi_fail (err, "out of memory");
        return NULL;
    }
    self->board = board;
    self->api = api;
    if (token && token->set)
        self->token = *token;
    self->start_wall = (int64_t) time (NULL);
    atomic_init (&self->unauthorized, 0);
    const pingyi_http_conf_t conf = {.flag = "--http",
                                     .what = "http",
                                     .threads = AGG_HTTP_THREADS,
                                     .connections = AGG_HTTP_CONNECTIONS,
                                     .timeout_s = AGG_HTTP_TIMEOUT_S,
                                     .memory = AGG_HTTP_MEMORY,
                                     .handler = on_request,
                                     .handler_cls = self};
    if (pingyi_http_listen (&self->http, spec, &conf, err)) {
        free (self);
        return NULL;
    }
    return self;
}

uint16_t
agg_http_port (const agg_http_t *self)
{
    return pingyi_http_port (&self->http);
}

void
agg_http_stop (agg_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    agg_http_t *self = *self_p;
    pingyi_http_stop (&self->http);
    sodium_memzero (&self->token, sizeof self->token);
    free (self);
    *self_p = NULL;
}
