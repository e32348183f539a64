/*  test_agg_http.c — the aggregator's HTTP server on loopback (port 0):
    every answer is JSON with `Content-Type: application/json;
    charset=utf-8`; query arguments reach the router decoded; a request
    body is never read (405, counted); an over-long path is 414 and an
    over-long header block is refused by libmicrohttpd without hurting the
    next request; --http parsing; a port in use is an error, not a crash.  */
#include "../../aggregator/api.c"
#include "../../aggregator/history.c"
#include "../../aggregator/http.c"
#include "../../aggregator/shards.c"
#include "../../aggregator/state.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "raw_http.h"
#include <sys/time.h>
#include <unistd.h>

static const char *DEFINITION =
    "{\n"
    "  \"version\": 1, \"id\": \"agg-http\", \"title\": \"http test\", \"shards\": 1,\n"
    "  \"grades\": [ {\"label\": \"A\", \"points\": 100, \"favourable\": true},\n"
    "              {\"label\": \"B\", \"points\": 0, \"unfavourable\": true} ],\n"
    "  \"items\": [ {\"id\": \"overall\", \"name\": \"overall\", \"overall\": true} ],\n"
    "  \"categories\": [ {\"id\": \"all\", \"name\": \"all\", \"weight\": 1} ],\n"
    "  \"districts\": [ {\"id\": \"d1\", \"name\": \"d1\"} ],\n"
    "  \"units\": [ {\"id\": \"u1\", \"name\": \"u1\", \"kind\": \"town\", \"district\": \"d1\"} ],\n"
    "  \"subjects\": [ {\"id\": \"s1\", \"name\": \"s1\", \"unit\": \"u1\", \"onsite\": true} ],\n"
    "  \"venues\": [ {\"id\": \"v01\", \"name\": \"v01\", \"district\": \"d1\", \"subjects\": [\"s1\"]} ]\n"
    "}\n";

typedef struct {
    pingyi_election_t *e;
    agg_board_t board;
    agg_api_t api;
    agg_http_t *http;
    uint16_t port;
} fx_t;

static int
t_setup (void **state)
{
    fx_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    pingyi_errlist_t errs = {0};
    fx->e = pingyi_election_parse ((const uint8_t *) DEFINITION, strlen (DEFINITION), &errs);
    pingyi_errlist_clear (&errs);
    assert_non_null (fx->e);
    agg_board_init (&fx->board);
    char err[PINGYI_ERR_MAX];
    fx->http = agg_http_start ("127.0.0.1:0", &fx->board, &fx->api, err);
    if (!fx->http)
        fail_msg ("%s", err);
    fx->port = agg_http_port (fx->http);
    assert_true (fx->port > 0);
    *state = fx;
    return 0;
}

static int
t_teardown (void **state)
{
    fx_t *fx = *state;
    agg_http_stop (&fx->http);
    agg_http_stop (&fx->http); /* safe twice */
    agg_board_fini (&fx->board);
    pingyi_election_destroy (&fx->e);
    free (fx);
    return 0;
}

static void
t_publish (fx_t *fx)
{
    pingyi_tally_t *t = pingyi_tally_new (fx->e);
    pingyi_view_t *v = pingyi_view_new (fx->e, t);
    agg_merged_t *m = agg_merged_new (fx->e, t, v, 1, 1700000000);
    assert_non_null (m);
    agg_state_t *st = agg_state_new (m, 1);
    agg_merged_unref (&m);
    st->stale_ms = 5000;
    st->started_ms = pingyi_now_ms ();
    agg_board_publish (&fx->board, st);
}

/*  Send raw bytes, read the whole answer (the server closes or we time
    out after 5 s).  The answer is malloc'd and NUL-terminated.  */
static char *
t_raw (fx_t *fx, const char *req, size_t len)
{
    return raw_http_exchange (fx->port, req, len);
}

static char *
t_request (fx_t *fx, const char *method, const char *path, const char *extra)
{
    char req[8192];
    int n = snprintf (req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n",
                      method, path, extra ? extra : "");
    assert_true (n > 0 && (size_t) n < sizeof req);
    return t_raw (fx, req, (size_t) n);
}

static int
t_status (const char *resp)
{
    int status = 0;
    if (sscanf (resp, "HTTP/1.%*d %d", &status) != 1)
        return 0;
    return status;
}

static const char *
t_body (const char *resp)
{
    const char *b = strstr (resp, "\r\n\r\n");
    assert_non_null (b);
    return b + 4;
}

static void
t_json_answer (const char *resp, int status)
{
    if (t_status (resp) != status)
        fail_msg ("expected %d, got: %.300s", status, resp);
    assert_non_null (strcasestr (resp, "\r\nContent-Type: application/json; charset=utf-8\r\n"));
    json_error_t jerr;
    json_t *doc = json_loads (t_body (resp), 0, &jerr);
    if (!doc)
        fail_msg ("body not JSON: %s: %.300s", jerr.text, t_body (resp));
    json_decref (doc);
}

static void
test_listen_spec (void **state)
{
    (void) state;
    struct sockaddr_storage ss;
    socklen_t len;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_metrics_parse_addr ("127.0.0.1:8080", "--http", &ss, &len, err), 0);
    assert_int_equal (ss.ss_family, AF_INET);
    assert_int_equal (ntohs (((struct sockaddr_in *) &ss)->sin_port), 8080);
    assert_int_equal (pingyi_metrics_parse_addr ("[::1]:0", "--http", &ss, &len, err), 0);
    assert_int_equal (ss.ss_family, AF_INET6);
    const char *bad[] = {"",           "8080", "localhost:80", "1.2.3.4:", "1.2.3.4:99999", "1.2.3.4:-1",
                         "1.2.3.4:8x", ":80",  "[::1]80",      "[::1:80",  "1.2.3.4:+80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (pingyi_metrics_parse_addr (bad[i], "--http", &ss, &len, err) == 0)
            fail_msg ("\"%s\" accepted", bad[i]);
    assert_int_equal (pingyi_metrics_parse_addr (NULL, "--http", &ss, &len, err), -1);
    assert_non_null (strstr (err, "--http"));
}

static void
test_answers_are_json (void **state)
{
    fx_t *fx = *state;
    /* nothing published yet: 503 */
    char *r = t_request (fx, "GET", "/api/v1/summary", NULL);
    t_json_answer (r, 503);
    free (r);
    t_publish (fx);
    r = t_request (fx, "GET", "/api/v1/summary", NULL);
    t_json_answer (r, 200);
    assert_non_null (strcasestr (r, "\r\nCache-Control: no-store\r\n"));
    free (r);
    r = t_request (fx, "GET", "/api/v1/tally", NULL);
    t_json_answer (r, 200);
    free (r);
    r = t_request (fx, "GET", "/x", NULL);
    t_json_answer (r, 404);
    assert_string_equal (t_body (r), "{\"error\":\"no such endpoint: /x\"}\n");
    free (r);
    /* arguments arrive decoded */
    r = t_request (fx, "GET", "/api/v1/rollup?by=f%6fo", NULL);
    t_json_answer (r, 400);
    assert_string_equal (t_body (r), "{\"error\":\"by: unknown level \\\"foo\\\" (expected "
                                     "city|district|town|department|kind|unit|subject)\"}\n");
    free (r);
    r = t_request (fx, "GET", "/api/v1/rollup?by=city", NULL);
    t_json_answer (r, 200);
    free (r);
    /* a hostile escaped path is still a JSON answer */
    r = t_request (fx, "GET", "/%ff%22%5c%01", NULL);
    t_json_answer (r, 404);
    free (r);
}

static void
test_bodies_never_read (void **state)
{
    fx_t *fx = *state;
    t_publish (fx);
    char *r = t_request (fx, "POST", "/api/v1/summary", "Content-Type: text/plain\r\nContent-Length: 5\r\n");
    t_json_answer (r, 405);
    assert_non_null (strcasestr (r, "\r\nAllow: GET\r\n"));
    assert_string_equal (t_body (r), "{\"error\":\"method POST not allowed: GET only\"}\n");
    free (r);
    /* a GET announcing a large body is answered without it being sent */
    r = t_request (fx, "GET", "/api/v1/summary", "Content-Length: 100000000\r\n");
    t_json_answer (r, 200);
    free (r);
    assert_int_equal (atomic_load (&fx->api.stats.bodies_ignored), 2);
    r = t_request (fx, "HEAD", "/api/v1/summary", NULL);
    assert_int_equal (t_status (r), 405);
    free (r);
}

static void
test_long_requests (void **state)
{
    fx_t *fx = *state;
    t_publish (fx);
    char path[2100];
    memset (path, 'a', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = 0;
    char *r = t_request (fx, "GET", path, NULL);
    t_json_answer (r, 414);
    free (r);
    /* a header block beyond the connection's memory: refused by
       libmicrohttpd (an error status, or the connection closed) */
    size_t big = AGG_HTTP_MEMORY + 4096;
    char *req = malloc (big + 256);
    assert_non_null (req);
    int n = snprintf (req, 256, "GET /api/v1/summary HTTP/1.1\r\nHost: x\r\nX-Junk: ");
    memset (req + n, 'j', big);
    memcpy (req + n + big, "\r\n\r\n", 5);
    r = t_raw (fx, req, (size_t) n + big + 4);
    int status = t_status (r);
    assert_true (status == 0 || status >= 400);
    free (r);
    free (req);
    /* and the server still answers */
    r = t_request (fx, "GET", "/api/v1/summary", NULL);
    t_json_answer (r, 200);
    free (r);
}

static void
test_port_in_use (void **state)
{
    fx_t *fx = *state;
    char spec[64], err[PINGYI_ERR_MAX];
    snprintf (spec, sizeof spec, "127.0.0.1:%u", fx->port);
    agg_http_t *second = agg_http_start (spec, &fx->board, &fx->api, err);
    assert_null (second);
    assert_non_null (strstr (err, "cannot listen"));
    assert_null (agg_http_start ("nonsense", &fx->board, &fx->api, err));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_listen_spec),
        cmocka_unit_test_setup_teardown (test_answers_are_json, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_bodies_never_read, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_long_requests, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_port_in_use, t_setup, t_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
