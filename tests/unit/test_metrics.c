/*  test_metrics.c — the Prometheus text exposition writer and the page
    (metrics/metrics.h): exact text for a counter, a gauge with labels and a
    histogram; label values and HELP escaped per the format 0.0.4; numbers
    (integers exact, shortest round-trip doubles, +Inf/-Inf/NaN); the page's
    /metrics, /healthz and /readyz answers on a fake clock; the server
    serving them over HTTP on an ephemeral port.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "common.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static void
test_families (void **state)
{
    (void) state;
    pingyi_expo_t e;
    pingyi_expo_init (&e);
    pingyi_expo_counter (&e, "pingyi_x_total", "Things counted.", 42);
    pingyi_expo_family (&e, "pingyi_ballots_total", PINGYI_METRIC_COUNTER, "Ballots by status.");
    const char *acc[] = {"status", "accepted", NULL};
    const char *dup[] = {"status", "duplicate", NULL};
    pingyi_expo_sample_u64 (&e, "pingyi_ballots_total", acc, 10);
    pingyi_expo_sample_u64 (&e, "pingyi_ballots_total", dup, 0);
    pingyi_expo_gauge (&e, "pingyi_ratio", "A ratio.", 0.25);
    pingyi_expo_family (&e, "pingyi_shard_generation", PINGYI_METRIC_GAUGE, "Generation.");
    const char *two[] = {"shard", "3", "worker", "1", NULL};
    pingyi_expo_sample_u64 (&e, "pingyi_shard_generation", two, 18446744073709551615ull);
    assert_false (e.failed);
    assert_string_equal (e.data, "# HELP pingyi_x_total Things counted.\n"
                                 "# TYPE pingyi_x_total counter\n"
                                 "pingyi_x_total 42\n"
                                 "# HELP pingyi_ballots_total Ballots by status.\n"
                                 "# TYPE pingyi_ballots_total counter\n"
                                 "pingyi_ballots_total{status=\"accepted\"} 10\n"
                                 "pingyi_ballots_total{status=\"duplicate\"} 0\n"
                                 "# HELP pingyi_ratio A ratio.\n"
                                 "# TYPE pingyi_ratio gauge\n"
                                 "pingyi_ratio 0.25\n"
                                 "# HELP pingyi_shard_generation Generation.\n"
                                 "# TYPE pingyi_shard_generation gauge\n"
                                 "pingyi_shard_generation{shard=\"3\",worker=\"1\"} 18446744073709551615\n");
    assert_int_equal (e.len, strlen (e.data));
    pingyi_expo_reset (&e);
    assert_int_equal (e.len, 0);
    assert_string_equal (e.data, "");
    pingyi_expo_fini (&e);
}

static void
test_escaping (void **state)
{
    (void) state;
    pingyi_expo_t e;
    pingyi_expo_init (&e);
    pingyi_expo_family (&e, "m", PINGYI_METRIC_GAUGE, "back\\slash \"quoted\"\nsecond line");
    const char *l[] = {"reason", "a\\b \"c\"\nd", "plain", "会场", NULL};
    pingyi_expo_sample (&e, "m", l, 1);
    assert_string_equal (e.data, "# HELP m back\\\\slash \"quoted\"\\nsecond line\n"
                                 "# TYPE m gauge\n"
                                 "m{reason=\"a\\\\b \\\"c\\\"\\nd\",plain=\"会场\"} 1\n");
    pingyi_expo_reset (&e);
    pingyi_expo_escape_label (&e, "\\\"\n");
    assert_string_equal (e.data, "\\\\\\\"\\n");
    pingyi_expo_fini (&e);
}

static void
test_numbers (void **state)
{
    (void) state;
    char b[64];
    pingyi_expo_format_double (b, sizeof b, 0);
    assert_string_equal (b, "0");
    pingyi_expo_format_double (b, sizeof b, -0.0);
    assert_string_equal (b, "0");
    pingyi_expo_format_double (b, sizeof b, 1234567);
    assert_string_equal (b, "1234567");
    pingyi_expo_format_double (b, sizeof b, 0.1);
    assert_string_equal (b, "0.1");
    pingyi_expo_format_double (b, sizeof b, 0.005);
    assert_string_equal (b, "0.005");
    pingyi_expo_format_double (b, sizeof b, 2.5);
    assert_string_equal (b, "2.5");
    pingyi_expo_format_double (b, sizeof b, -1.5e-7);
    assert_string_equal (b, "-1.5e-07");
    pingyi_expo_format_double (b, sizeof b, 1.0 / 0.0);
    assert_string_equal (b, "+Inf");
    pingyi_expo_format_double (b, sizeof b, -1.0 / 0.0);
    assert_string_equal (b, "-Inf");
    pingyi_expo_format_double (b, sizeof b, 0.0 / 0.0);
    assert_string_equal (b, "NaN");
}

static void
test_histogram (void **state)
{
    (void) state;
    static const double bounds[] = {0.005, 0.01, 0.1};
    pingyi_hist_t h;
    pingyi_hist_init (&h, bounds, 3);
    pingyi_hist_observe (&h, 0.001);
    pingyi_hist_observe (&h, 0.005); /* le is inclusive */
    pingyi_hist_observe (&h, 0.05);
    pingyi_hist_observe (&h, 2);
    pingyi_expo_t e;
    pingyi_expo_init (&e);
    pingyi_expo_family (&e, "pingyi_worker_commit_seconds", PINGYI_METRIC_HISTOGRAM, "Commit time.");
    const char *l[] = {"shard", "0", NULL};
    pingyi_expo_histogram (&e, "pingyi_worker_commit_seconds", l, &h);
    assert_string_equal (e.data, "# HELP pingyi_worker_commit_seconds Commit time.\n"
                                 "# TYPE pingyi_worker_commit_seconds histogram\n"
                                 "pingyi_worker_commit_seconds_bucket{shard=\"0\",le=\"0.005\"} 2\n"
                                 "pingyi_worker_commit_seconds_bucket{shard=\"0\",le=\"0.01\"} 2\n"
                                 "pingyi_worker_commit_seconds_bucket{shard=\"0\",le=\"0.1\"} 3\n"
                                 "pingyi_worker_commit_seconds_bucket{shard=\"0\",le=\"+Inf\"} 4\n"
                                 "pingyi_worker_commit_seconds_sum{shard=\"0\"} 2.056\n"
                                 "pingyi_worker_commit_seconds_count{shard=\"0\"} 4\n");
    /* without labels; merged */
    pingyi_hist_t m;
    pingyi_hist_init (&m, bounds, 3);
    pingyi_hist_merge (&m, &h);
    pingyi_hist_merge (&m, &h);
    pingyi_expo_reset (&e);
    pingyi_expo_histogram (&e, "h", NULL, &m);
    assert_string_equal (e.data, "h_bucket{le=\"0.005\"} 4\n"
                                 "h_bucket{le=\"0.01\"} 4\n"
                                 "h_bucket{le=\"0.1\"} 6\n"
                                 "h_bucket{le=\"+Inf\"} 8\n"
                                 "h_sum 4.112\n"
                                 "h_count 8\n");
    pingyi_expo_fini (&e);
}

static void
test_process (void **state)
{
    (void) state;
    pingyi_expo_t e;
    pingyi_expo_init (&e);
    pingyi_expo_process (&e, "pingyi-test", "0.1.0", "ab\"c", 1700000000);
    assert_non_null (strstr (e.data, "# TYPE pingyi_build_info gauge\n"
                                     "pingyi_build_info{program=\"pingyi-test\",version=\"0.1.0\",revision=\"ab\\\"c\"} 1\n"));
    assert_non_null (strstr (e.data, "pingyi_up 1\n"));
    assert_non_null (strstr (e.data, "process_start_time_seconds 1700000000\n"));
    const char *rss = strstr (e.data, "\nprocess_resident_memory_bytes ");
    assert_non_null (rss);
    assert_true (strtoull (rss + strlen ("\nprocess_resident_memory_bytes "), NULL, 10) > 0);
    pingyi_expo_fini (&e);
}

static void
test_page (void **state)
{
    (void) state;
    pingyi_metrics_page_t *p = pingyi_metrics_page_new ();
    assert_non_null (p);
    pingyi_metrics_reply_t r;
    assert_false (pingyi_metrics_page_answer (p, "/other", 1000, &r));
    assert_true (pingyi_metrics_page_answer (p, "/metrics", 1000, &r));
    assert_int_equal (r.status, 503);
    free (r.body);
    assert_true (pingyi_metrics_page_answer (p, "/healthz", 1000, &r));
    assert_int_equal (r.status, 503);
    free (r.body);

    pingyi_expo_t e;
    pingyi_expo_init (&e);
    pingyi_expo_counter (&e, "a_total", "A.", 1);
    pingyi_metrics_publish (p, &e, false, "no broker has answered\nHELLO", 1000);
    assert_true (pingyi_metrics_page_answer (p, "/metrics", 1500, &r));
    assert_int_equal (r.status, 200);
    assert_string_equal (r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal (r.body, e.data);
    assert_int_equal (r.len, e.len);
    free (r.body);
    assert_true (pingyi_metrics_page_answer (p, "/healthz", 1500, &r));
    assert_int_equal (r.status, 200);
    assert_string_equal (r.body, "ok\n");
    free (r.body);
    assert_true (pingyi_metrics_page_answer (p, "/readyz", 1500, &r));
    assert_int_equal (r.status, 503);
    assert_string_equal (r.body, "not ready: no broker has answered HELLO\n");
    free (r.body);
    /* the loop stalls */
    assert_true (pingyi_metrics_page_answer (p, "/healthz", 1000 + PINGYI_METRICS_STALL_MS + 2000, &r));
    assert_int_equal (r.status, 503);
    free (r.body);
    /* ready; a failed render keeps the last text */
    e.failed = true;
    pingyi_metrics_publish (p, &e, true, NULL, 20000);
    assert_true (pingyi_metrics_page_answer (p, "/readyz", 20000, &r));
    assert_int_equal (r.status, 200);
    assert_string_equal (r.body, "ready\n");
    free (r.body);
    assert_true (pingyi_metrics_page_answer (p, "/metrics", 20000, &r));
    assert_string_equal (r.body, "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n");
    free (r.body);
    pingyi_expo_fini (&e);
    pingyi_metrics_page_destroy (&p);
    pingyi_metrics_page_destroy (&p);
}

/*  GET path on 127.0.0.1:port; the whole response into buf.  */
static size_t
http_get (uint16_t port, const char *request, char *buf, size_t size)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons (port)};
    inet_pton (AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal (connect (fd, (struct sockaddr *) &a, sizeof a), 0);
    assert_int_equal (write (fd, request, strlen (request)), (ssize_t) strlen (request));
    size_t n = 0;
    ssize_t k;
    while (n + 1 < size && (k = read (fd, buf + n, size - 1 - n)) > 0)
        n += (size_t) k;
    buf[n] = 0;
    close (fd);
    return n;
}

static void
test_server (void **state)
{
    (void) state;
    char err[256];
    struct sockaddr_storage addr;
    socklen_t len;
    assert_int_equal (pingyi_metrics_parse_addr ("localhost:9", "--metrics", &addr, &len, err), -1);
    assert_int_equal (pingyi_metrics_parse_addr ("127.0.0.1:99999", "--metrics", &addr, &len, err), -1);
    assert_int_equal (pingyi_metrics_parse_addr ("[::1]:9101", "--metrics", &addr, &len, err), 0);
    pingyi_metrics_page_t *p = pingyi_metrics_page_new ();
    pingyi_metrics_server_t *s = pingyi_metrics_server_start ("127.0.0.1:0", p, err);
    assert_non_null (s);
    uint16_t port = pingyi_metrics_server_port (s);
    assert_true (port > 0);
    pingyi_expo_t e;
    pingyi_expo_init (&e);
    pingyi_expo_gauge (&e, "g", "G.", 7);
    pingyi_metrics_publish (p, &e, true, NULL, pingyi_now_ms ());
    char buf[4096];
    http_get (port, "GET /metrics HTTP/1.0\r\n\r\n", buf, sizeof buf);
    assert_non_null (strstr (buf, " 200 OK\r\n"));
    assert_non_null (strstr (buf, "text/plain; version=0.0.4"));
    assert_non_null (strstr (buf, "\r\n\r\n# HELP g G.\n# TYPE g gauge\ng 7\n"));
    http_get (port, "GET /readyz HTTP/1.0\r\n\r\n", buf, sizeof buf);
    assert_non_null (strstr (buf, " 200 "));
    http_get (port, "GET /nope HTTP/1.0\r\n\r\n", buf, sizeof buf);
    assert_non_null (strstr (buf, " 404 "));
    http_get (port, "POST /metrics HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc", buf, sizeof buf);
    assert_non_null (strstr (buf, " 405 "));
    pingyi_metrics_server_stop (&s);
    pingyi_metrics_server_stop (&s);
    pingyi_expo_fini (&e);
    pingyi_metrics_page_destroy (&p);
}

/*  The quantile of a histogram: the bound of the bucket holding the
    ceil(q x count)-th observation, worked by hand: bounds 1, 2, 5;
    observations 0.5, 1.5, 1.7, 4, 9 (5 of them): p50 = the 3rd = 1.7 ->
    bucket le=2; p99 = the 5th = 9 -> past the last bound; p20 = the 1st
    -> le=1.  */
static void
test_quantile (void **state)
{
    (void) state;
    pingyi_hist_t h;
    const double bounds[] = {1, 2, 5};
    pingyi_hist_init (&h, bounds, 3);
    assert_true (isnan (pingyi_hist_quantile (&h, 0.5)));
    const double obs[] = {0.5, 1.5, 1.7, 4, 9};
    for (size_t i = 0; i < 5; i++)
        pingyi_hist_observe (&h, obs[i]);
    assert_true (pingyi_hist_quantile (&h, 0.5) == 2.0);
    assert_true (pingyi_hist_quantile (&h, 0.2) == 1.0);
    assert_true (pingyi_hist_quantile (&h, 0.8) == 5.0);
    assert_true (isinf (pingyi_hist_quantile (&h, 0.99)));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_families), cmocka_unit_test (test_escaping), cmocka_unit_test (test_numbers),
        cmocka_unit_test (test_histogram), cmocka_unit_test (test_process), cmocka_unit_test (test_page),
        cmocka_unit_test (test_server), cmocka_unit_test (test_quantile),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
