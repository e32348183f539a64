/*  test_agg_api.c — the aggregator's HTTP API without a network: routing,
    exact status codes and error texts for every kind of bad request, every
    body valid JSON (also when the request path is hostile), freshness
    computed at request time, /tally readable by the same strict reader
    `pingyi query --agg` uses and equal to the merged tally, and the levels
    and filters of /rollup.  */
#include "../../aggregator/api.c"
#include "../../aggregator/history.c"
#include "../../aggregator/shards.c"
#include "../../aggregator/state.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ftw.h>
#include <unistd.h>
#include <stdlib.h>
#include <time.h>

static const char *DEFINITION =
    "{\n"
    "  \"version\": 1, \"id\": \"agg-api\", \"title\": \"评议 API test\", \"shards\": 2, \"k_anonymity\": "
    "1,\n"
    "  \"grades\": [\n"
    "    {\"label\": \"好\", \"points\": 100, \"favourable\": true},\n"
    "    {\"label\": \"较好\", \"points\": 80, \"favourable\": true},\n"
    "    {\"label\": \"一般\", \"points\": 60},\n"
    "    {\"label\": \"差\", \"points\": 0, \"unfavourable\": true}\n"
    "  ],\n"
    "  \"items\": [ {\"id\": \"overall\", \"name\": \"总体评价\", \"overall\": true},\n"
    "               {\"id\": \"duty\", \"name\": \"duty\"} ],\n"
    "  \"categories\": [ {\"id\": \"leaders\", \"name\": \"leaders\", \"weight\": 0.5},\n"
    "                    {\"id\": \"staff\", \"name\": \"staff\", \"weight\": 0.5} ],\n"
    "  \"districts\": [ {\"id\": \"d1\", \"name\": \"d1\"}, {\"id\": \"d2\", \"name\": \"d2\"} ],\n"
    "  \"units\": [ {\"id\": \"u1\", \"name\": \"u1\", \"kind\": \"town\", \"district\": \"d1\"},\n"
    "               {\"id\": \"u2\", \"name\": \"u2\", \"kind\": \"department\", \"district\": \"d2\"} ],\n"
    "  \"subjects\": [ {\"id\": \"s1\", \"name\": \"s1\", \"unit\": \"u1\", \"onsite\": true},\n"
    "                  {\"id\": \"s2\", \"name\": \"s2\", \"unit\": \"u2\", \"onsite\": true} ],\n"
    "  \"venues\": [\n"
    "    {\"id\": \"v01\", \"name\": \"v01\", \"district\": \"d1\", \"shard\": 0, \"subjects\": [\"s1\", "
    "\"s2\"]},\n"
    "    {\"id\": \"v02\", \"name\": \"v02\", \"district\": \"d2\", \"shard\": 1, \"subjects\": [\"s1\", "
    "\"s2\"]}\n"
    "  ]\n"
    "}\n";

#define NOW 100000
#define STALE 5000

typedef struct {
    pingyi_election_t *e;
    agg_state_t *state;
    agg_api_t api;
    char dir[128];
    agg_history_t *history;
} fx_t;

static void
t_add (pingyi_tally_t *t, uint16_t venue, uint16_t subject, uint8_t item, uint8_t category, uint8_t mark,
       uint64_t n)
{
    pingyi_counter_key_t k = {venue, subject, item, category, mark};
    assert_int_equal (pingyi_tally_add_cell (t, &k, n), 0);
}

/*  The counts of the release fixture (k = 10), every cell of a ballot
    filled: v01: leaders 20 (overall 好 on both subjects, duty BLANK),
    staff 3 (差; duty BLANK); v02: leaders 15 (较好), staff 5 (好).  Staff
    is small at both venues (3, 5): both groups hidden, and with them
    both leaders groups (a venue's accepted minus its leaders would give
    its staff).  Every row's staff (8) is small: suppressed, with leaders
    (35) for its complement; every row total (43) shown.  */
static void
t_fill_release (pingyi_tally_t *t)
{
    for (uint16_t s = 0; s < 2; s++) {
        t_add (t, 0, s, 0, 0, 0, 20);
        t_add (t, 0, s, 0, 1, 3, 3);
        t_add (t, 1, s, 0, 0, 1, 15);
        t_add (t, 1, s, 0, 1, 0, 5);
        for (uint16_t v = 0; v < 2; v++)
            for (uint8_t c = 0; c < 2; c++)
                t_add (t, v, s, 1, c, PINGYI_MARK_BLANK, v == 0 ? (c ? 3 : 20) : (c ? 5 : 15));
    }
    uint64_t by[2][2] = {{20, 3}, {15, 5}};
    for (uint32_t v = 0; v < 2; v++) {
        pingyi_venue_figures_t f;
        memset (&f, 0, sizeof f);
        f.venue = v;
        f.accepted = by[v][0] + by[v][1];
        f.issued = f.collected = f.sent = (int64_t) f.accepted;
        f.closed = true;
        f.category_count = 2;
        f.by_category[0] = by[v][0];
        f.by_category[1] = by[v][1];
        assert_int_equal (pingyi_tally_set_figures (t, &f), 0);
    }
}

static int
t_setup_k (void **state, bool release)
{
    fx_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    pingyi_errlist_t errs = {0};
    char *def = malloc (strlen (DEFINITION) + 2);
    const char *k1 = strstr (DEFINITION, "\"k_anonymity\": 1,");
    sprintf (def, "%.*s\"k_anonymity\": %s%s", (int) (k1 - DEFINITION), DEFINITION, release ? "10" : "1",
             k1 + strlen ("\"k_anonymity\": 1"));
    fx->e = pingyi_election_parse ((const uint8_t *) def, strlen (def), &errs);
    free (def);
    for (size_t i = 0; i < errs.count; i++)
        fprintf (stderr, "definition: %s\n", errs.lines[i]);
    pingyi_errlist_clear (&errs);
    assert_non_null (fx->e);
    pingyi_tally_t *t = pingyi_tally_new (fx->e);
    assert_non_null (t);
    if (release) {
        t_fill_release (t);
        goto view;
    }
    /* v01: 10 ballots, v02: 6 ballots, both closed and reconciled */
    t_add (t, 0, 0, 0, 0, 0, 7);
    t_add (t, 0, 0, 0, 1, 1, 3);
    t_add (t, 0, 1, 0, 0, 3, 10);
    t_add (t, 0, 1, 1, 1, PINGYI_MARK_BLANK, 10);
    t_add (t, 1, 0, 0, 1, 2, 6);
    t_add (t, 1, 1, 0, 0, PINGYI_MARK_OVER, 6);
    for (uint32_t v = 0; v < 2; v++) {
        pingyi_venue_figures_t f;
        memset (&f, 0, sizeof f);
        f.venue = v;
        f.accepted = v ? 6 : 10;
        f.issued = f.collected = f.sent = (int64_t) f.accepted;
        f.closed = true;
        if (v == 1) {
            f.rejected = 1;
            f.rejected_by[PINGYI_REJECT_DECRYPT] = 1;
            f.sent = 7;
        }
        assert_int_equal (pingyi_tally_set_figures (t, &f), 0);
    }
view:;
    pingyi_view_t *view = pingyi_view_new (fx->e, t);
    assert_non_null (view);
    agg_merged_t *m = agg_merged_new (fx->e, t, view, 7, 1700000000);
    assert_non_null (m);
    fx->state = agg_state_new (m, 2);
    agg_merged_unref (&m); /* the state holds it now */
    assert_non_null (fx->state);
    fx->state->round = 9;
    fx->state->started_ms = NOW - 60000;
    fx->state->stale_ms = STALE;
    fx->state->interval_ms = 1000;
    fx->state->broker = "tcp://127.0.0.1:1";
    for (uint32_t i = 0; i < 2; i++) {
        agg_shard_info_t *s = &fx->state->shards[i];
        s->shard = i;
        s->have = true;
        s->sequence = i ? 6 : 10;
        s->generation = i ? 60 : 100;
        memset (s->digest, 0xc0 + (int) i, 32);
    }
    fx->state->shards[0].complete_ms = NOW - 300;       /* fresh */
    fx->state->shards[1].complete_ms = NOW - STALE - 1; /* stale */
    snprintf (fx->state->shards[1].reason, sizeof fx->state->shards[1].reason, "no worker owns shard 1 now");
    snprintf (fx->dir, sizeof fx->dir, "/tmp/pingyi-test-agg-api.XXXXXX");
    assert_non_null (mkdtemp (fx->dir));
    char err[PINGYI_ERR_MAX];
    fx->history = agg_history_open (fx->dir, 100, err);
    assert_non_null (fx->history);
    fx->api.history = fx->history;
    *state = fx;
    return 0;
}

static int
t_setup (void **state)
{
    return t_setup_k (state, false);
}

static int
t_setup_release (void **state)
{
    return t_setup_k (state, true);
}

static int
rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove (path);
}

static int
t_teardown (void **state)
{
    fx_t *fx = *state;
    agg_state_unref (&fx->state);
    agg_state_unref (&fx->state); /* safe twice */
    agg_history_close (&fx->history);
    nftw (fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    pingyi_election_destroy (&fx->e);
    free (fx);
    return 0;
}

/*  Route path?query (the query split at & and =, as libmicrohttpd does).  */
static agg_reply_t
t_get (fx_t *fx, const char *method, const char *url)
{
    static char copy[4096];
    agg_arg_t args[AGG_ARGS_MAX + 1];
    size_t n = 0;
    snprintf (copy, sizeof copy, "%s", url);
    char *q = strchr (copy, '?');
    if (q) {
        *q++ = 0;
        char *save = NULL;
        for (char *a = strtok_r (q, "&", &save); a && n <= AGG_ARGS_MAX; a = strtok_r (NULL, "&", &save)) {
            char *eq = strchr (a, '=');
            if (eq)
                *eq++ = 0;
            args[n++] = (agg_arg_t){a, eq};
        }
    }
    agg_reply_t r;
    agg_api_route (&fx->api, fx->state, NOW, method, copy, args, n, &r);
    assert_non_null (r.body);
    assert_int_equal (strlen (r.body), r.len);
    return r;
}

static void
t_expect (fx_t *fx, const char *method, const char *url, int status, const char *body)
{
    agg_reply_t r = t_get (fx, method, url);
    if (r.status != status || strcmp (r.body, body) != 0)
        fail_msg ("%s %s: got %d %s, expected %d %s", method, url, r.status, r.body, status, body);
    agg_reply_free (&r);
}

/*  200 with a JSON object body, parsed.  */
static json_t *
t_json (fx_t *fx, const char *url)
{
    agg_reply_t r = t_get (fx, "GET", url);
    if (r.status != 200)
        fail_msg ("GET %s: %d %s", url, r.status, r.body);
    json_error_t jerr;
    json_t *doc = json_loadb (r.body, r.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc || !json_is_object (doc))
        fail_msg ("GET %s: not a JSON object: %s (%s)", url, jerr.text, r.body);
    agg_reply_free (&r);
    return doc;
}

static void
test_errors_exact (void **state)
{
    fx_t *fx = *state;
    t_expect (fx, "GET", "/x", 404, "{\"error\":\"no such endpoint: /x\"}\n");
    t_expect (fx, "GET", "/api/v1/summary/", 404, "{\"error\":\"no such endpoint: /api/v1/summary/\"}\n");
    t_expect (fx, "GET", "/api/v2/summary", 404, "{\"error\":\"no such endpoint: /api/v2/summary\"}\n");
    t_expect (fx, "GET", "/api/v1/rollup?by=foo", 400,
              "{\"error\":\"by: unknown level \\\"foo\\\" (expected "
              "city|district|town|department|kind|unit|subject)\"}\n");
    t_expect (fx, "GET", "/api/v1/rollup", 400,
              "{\"error\":\"by: missing (expected city|district|town|department|kind|unit|subject)\"}\n");
    t_expect (fx, "GET", "/api/v1/rollup?by=city&district=d9", 400,
              "{\"error\":\"district: unknown district \\\"d9\\\"\"}\n");
    t_expect (fx, "GET", "/api/v1/rollup?by=unit&category=boss", 400,
              "{\"error\":\"category: unknown category \\\"boss\\\"\"}\n");
    t_expect (fx, "GET", "/api/v1/subjects?item=x", 400, "{\"error\":\"item: unknown item \\\"x\\\"\"}\n");
    t_expect (fx, "GET", "/api/v1/rollup?by=city&by=unit", 400, "{\"error\":\"by: given more than once\"}\n");
    t_expect (fx, "GET", "/api/v1/rollup?by=city&color=red", 400,
              "{\"error\":\"unknown parameter \\\"color\\\" (this endpoint takes: by, district, category, "
              "item, side, subject, unit, of)\"}\n");
    t_expect (fx, "GET", "/api/v1/summary?x=1", 400,
              "{\"error\":\"unknown parameter \\\"x\\\" (this endpoint takes none)\"}\n");
    t_expect (fx, "GET", "/api/v1/history?limit=0", 400,
              "{\"error\":\"limit: expected 1..10000, got \\\"0\\\"\"}\n");
    t_expect (fx, "GET", "/api/v1/history?limit=10001", 400,
              "{\"error\":\"limit: expected 1..10000, got \\\"10001\\\"\"}\n");
    t_expect (fx, "GET", "/api/v1/history?limit=-1", 400,
              "{\"error\":\"limit: expected 1..10000, got \\\"-1\\\"\"}\n");
    t_expect (fx, "GET", "/api/v1/history?limit=99999999999999999999999", 400,
              "{\"error\":\"limit: expected 1..10000, got \\\"99999999999999999999999\\\"\"}\n");
    t_expect (fx, "GET", "/api/v1/history?limit", 400,
              "{\"error\":\"limit: expected 1..10000, got \\\"\\\"\"}\n");
    t_expect (fx, "POST", "/api/v1/summary", 405, "{\"error\":\"method POST not allowed: GET only\"}\n");
    t_expect (fx, "HEAD", "/api/v1/summary", 405, "{\"error\":\"method HEAD not allowed: GET only\"}\n");
    t_expect (fx, "DELETE", "/nowhere", 405, "{\"error\":\"method DELETE not allowed: GET only\"}\n");

    char url[AGG_URL_MAX + 16];
    memset (url, 'a', sizeof url - 1);
    url[0] = '/';
    url[sizeof url - 1] = 0;
    t_expect (fx, "GET", url, 414, "{\"error\":\"URL too long (more than 1024 bytes)\"}\n");

    char many[512] = "/api/v1/rollup?by=city";
    for (int i = 0; i < AGG_ARGS_MAX; i++)
        snprintf (many + strlen (many), sizeof many - strlen (many), "&a%d=1", i);
    t_expect (fx, "GET", many, 400, "{\"error\":\"too many query arguments (at most 16)\"}\n");

    char longval[AGG_ARG_MAX + 64] = "/api/v1/rollup?by=";
    memset (longval + strlen (longval), 'x', AGG_ARG_MAX + 1);
    longval[18 + AGG_ARG_MAX + 1] = 0;
    t_expect (fx, "GET", longval, 400, "{\"error\":\"by: value longer than 256 bytes\"}\n");

    /* counted */
    assert_true (atomic_load (&fx->api.stats.not_found) >= 3);
    assert_true (atomic_load (&fx->api.stats.bad_method) >= 3);
    assert_int_equal (atomic_load (&fx->api.stats.too_long), 1);
    assert_int_equal (atomic_load (&fx->api.stats.ok), 0);
}

/*  A hostile path is echoed escaped, with bytes that are not UTF-8
    replaced: the error body is still one valid JSON object.  */
static void
test_hostile_path_stays_json (void **state)
{
    fx_t *fx = *state;
    const char *paths[] = {"/\"}{\\",       "/\x01\x1f\x7f",     "/\xff\xfe", "/\xe4\xb8",
                           "/\xed\xa0\x80", "/\xf4\x90\x80\x80", "/\xc0\xaf", "/评议"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        agg_reply_t r;
        agg_api_route (&fx->api, fx->state, NOW, "GET", paths[i], NULL, 0, &r);
        assert_int_equal (r.status, 404);
        json_error_t jerr;
        json_t *doc = json_loadb (r.body, r.len, 0, &jerr);
        if (!doc)
            fail_msg ("path %zu: body not JSON: %s (%s)", i, jerr.text, r.body);
        const char *text = json_string_value (json_object_get (doc, "error"));
        assert_non_null (text);
        assert_non_null (strstr (text, "no such endpoint: /"));
        json_decref (doc);
        agg_reply_free (&r);
    }
    agg_reply_t r;
    agg_api_route (&fx->api, fx->state, NOW, "GET", "/评议", NULL, 0, &r);
    assert_string_equal (r.body, "{\"error\":\"no such endpoint: /评议\"}\n");
    agg_reply_free (&r);
    agg_api_route (&fx->api, fx->state, NOW, "GET", "/\xff", NULL, 0, &r);
    assert_string_equal (r.body, "{\"error\":\"no such endpoint: /\\ufffd\"}\n");
    agg_reply_free (&r);
    /* and a hostile argument value */
    t_expect (fx, "GET", "/api/v1/rollup?by=\"\\\x02", 400,
              "{\"error\":\"by: unknown level \\\"\\\"\\\\\\u0002\\\" (expected "
              "city|district|town|department|kind|unit|subject)\"}\n");
    /* NULL method / path never crash */
    agg_api_route (&fx->api, fx->state, NOW, NULL, NULL, NULL, 0, &r);
    assert_int_equal (r.status, 405);
    agg_reply_free (&r);
    agg_api_route (&fx->api, fx->state, NOW, "GET", NULL, NULL, 0, &r);
    assert_int_equal (r.status, 404);
    agg_reply_free (&r);
}

/*  Before the first publish there is nothing to serve: 503, not a crash.  */
static void
test_no_state_503 (void **state)
{
    fx_t *fx = *state;
    agg_reply_t r;
    agg_api_route (&fx->api, NULL, NOW, "GET", "/api/v1/summary", NULL, 0, &r);
    assert_int_equal (r.status, 503);
    assert_string_equal (r.body, "{\"error\":\"no view yet: the first round has not completed\"}\n");
    agg_reply_free (&r);
    /* unknown path stays 404 and bad method 405 */
    agg_api_route (&fx->api, NULL, NOW, "GET", "/x", NULL, 0, &r);
    assert_int_equal (r.status, 404);
    agg_reply_free (&r);
    /* history without a store */
    fx->api.history = NULL;
    t_expect (fx, "GET", "/api/v1/history", 503, "{\"error\":\"no history store\"}\n");
    fx->api.history = fx->history;
}

static void
test_summary (void **state)
{
    fx_t *fx = *state;
    setenv ("TZ", "UTC0", 1);
    tzset ();
    json_t *d = t_json (fx, "/api/v1/summary");
    assert_int_equal (json_integer_value (json_object_get (d, "api")), 1);
    /* nothing keeps it PROVISIONAL; the snapshot is the merge (1700000000) */
    assert_int_equal (json_array_size (json_object_get (d, "provisional")), 0);
    assert_true (json_is_array (json_object_get (d, "provisional")));
    assert_string_equal (json_string_value (json_object_get (d, "snapshot_at")), "2023-11-14T22:13:20+00:00");
    json_t *rows = t_json (fx, "/api/v1/rollup?by=city");
    assert_string_equal (json_string_value (json_object_get (rows, "snapshot_at")),
                         "2023-11-14T22:13:20+00:00");
    json_decref (rows);
    json_t *el = json_object_get (d, "election");
    assert_string_equal (json_string_value (json_object_get (el, "id")), "agg-api");
    assert_string_equal (json_string_value (json_object_get (el, "title")), "评议 API test");
    assert_string_equal (json_string_value (json_object_get (el, "fingerprint")), fx->e->fingerprint_hex);
    assert_true (json_is_true (json_object_get (d, "final")));
    assert_int_equal (json_integer_value (json_object_get (d, "k_anonymity")), 1);
    assert_true (json_is_true (json_object_get (d, "complete")));
    assert_int_equal (json_integer_value (json_object_get (d, "round")), 9);
    assert_int_equal (json_integer_value (json_object_get (d, "merged_round")), 7);
    assert_int_equal (json_integer_value (json_object_get (d, "stale_shards")), 1);
    json_t *st = json_object_get (d, "status");
    assert_int_equal (json_integer_value (json_object_get (st, "reconciled")), 2);
    assert_int_equal (json_integer_value (json_object_get (st, "open")), 0);
    assert_int_equal (json_integer_value (json_object_get (st, "accepted")), 16);
    assert_int_equal (json_integer_value (json_object_get (json_object_get (st, "rejected_by"), "decrypt")),
                      1);
    json_t *sh = json_object_get (d, "shards");
    assert_int_equal (json_array_size (sh), 2);
    json_t *s0 = json_array_get (sh, 0), *s1 = json_array_get (sh, 1);
    assert_int_equal (json_integer_value (json_object_get (s0, "sequence")), 10);
    assert_int_equal (json_integer_value (json_object_get (s0, "age_ms")), 300);
    assert_true (json_is_false (json_object_get (s0, "stale")));
    assert_true (json_is_null (json_object_get (s0, "reason")));
    assert_int_equal (json_integer_value (json_object_get (s1, "age_ms")), STALE + 1);
    assert_true (json_is_true (json_object_get (s1, "stale")));
    assert_string_equal (json_string_value (json_object_get (s1, "reason")), "no worker owns shard 1 now");
    char digest[65];
    memset (digest, 'c', 64);
    digest[64] = 0;
    for (int i = 0; i < 64; i += 2)
        digest[i + 1] = '1';
    assert_string_equal (json_string_value (json_object_get (s1, "digest")), digest);
    assert_int_equal (json_integer_value (json_object_get (s1, "generation")), 60);
    /* the city row of the overall item: 好 7+0, 较好 3, 一般 6, 差 10, over 6 */
    json_t *city = json_object_get (d, "city");
    assert_string_equal (json_string_value (json_object_get (city, "id")), "city");
    json_t *ch = json_object_get (city, "choices");
    assert_int_equal (json_integer_value (json_object_get (ch, "好")), 7);
    assert_int_equal (json_integer_value (json_object_get (ch, "较好")), 3);
    assert_int_equal (json_integer_value (json_object_get (ch, "一般")), 6);
    assert_int_equal (json_integer_value (json_object_get (ch, "差")), 10);
    assert_int_equal (json_integer_value (json_object_get (city, "over")), 6);
    assert_int_equal (json_integer_value (json_object_get (city, "valid")), 26);
    json_decref (d);

    /* time passes: the same state now shows both shards stale */
    agg_reply_t r;
    agg_api_route (&fx->api, fx->state, NOW + STALE, "GET", "/api/v1/summary", NULL, 0, &r);
    d = json_loadb (r.body, r.len, 0, NULL);
    assert_int_equal (json_integer_value (json_object_get (d, "stale_shards")), 2);
    json_decref (d);
    agg_reply_free (&r);
}

/*  /tally reads back through the strict reader into the same tally.  */
static void
test_tally_roundtrip (void **state)
{
    fx_t *fx = *state;
    fx->state->shards[1].have = false; /* never heard from */
    fx->state->shards[1].sequence = 0;
    memset (fx->state->shards[1].digest, 0, 32);
    json_t *d = t_json (fx, "/api/v1/tally");
    assert_int_equal (json_integer_value (json_object_get (d, "api")), 1);
    assert_string_equal (json_string_value (json_object_get (d, "election")), fx->e->fingerprint_hex);
    pingyi_tally_shard_t shards[2];
    char err[PINGYI_ERR_MAX];
    int n = pingyi_tally_shards_from_json (fx->e, d, shards, err);
    if (n < 0)
        fail_msg ("%s", err);
    assert_int_equal (n, 2);
    assert_int_equal (shards[0].age_ms, 300);
    assert_false (shards[0].stale);
    assert_int_equal (shards[1].sequence, 0);
    assert_int_equal (shards[1].age_ms, 60000); /* since the aggregator started */
    assert_true (shards[1].stale);
    pingyi_tally_t *back = pingyi_tally_new (fx->e);
    if (pingyi_tally_from_json (back, fx->e, d, err))
        fail_msg ("%s", err);
    const pingyi_tally_t *orig = fx->state->merged->tally;
    for (size_t v = 0; v < 2; v++) {
        for (size_t s = 0; s < 2; s++)
            for (size_t i = 0; i < 2; i++)
                for (size_t c = 0; c < 2; c++) {
                    for (uint8_t m = 0; m < 4; m++)
                        assert_int_equal (pingyi_tally_get (back, v, s, i, c, m),
                                          pingyi_tally_get (orig, v, s, i, c, m));
                    assert_int_equal (pingyi_tally_get (back, v, s, i, c, PINGYI_MARK_BLANK),
                                      pingyi_tally_get (orig, v, s, i, c, PINGYI_MARK_BLANK));
                    assert_int_equal (pingyi_tally_get (back, v, s, i, c, PINGYI_MARK_OVER),
                                      pingyi_tally_get (orig, v, s, i, c, PINGYI_MARK_OVER));
                }
        const pingyi_venue_figures_t *a = pingyi_tally_figures (back, v), *b = pingyi_tally_figures (orig, v);
        assert_int_equal (a->accepted, b->accepted);
        assert_int_equal (a->sent, b->sent);
        assert_int_equal (a->rejected_by[PINGYI_REJECT_DECRYPT], b->rejected_by[PINGYI_REJECT_DECRYPT]);
        assert_true (a->closed);
    }
    pingyi_tally_destroy (&back);
    json_decref (d);
}

static void
test_rollup_levels_and_filters (void **state)
{
    fx_t *fx = *state;
    const char *levels[] = {"city", "district", "town", "department", "kind", "unit", "subject"};
    size_t rows[] = {1, 2, 1, 1, 2, 2, 2}; /* kind: the kinds that have units */
    for (size_t i = 0; i < 7; i++) {
        char url[128];
        snprintf (url, sizeof url, "/api/v1/rollup?by=%s", levels[i]);
        json_t *d = t_json (fx, url);
        assert_string_equal (json_string_value (json_object_get (d, "level")), levels[i]);
        json_t *rw = json_object_get (d, "rows");
        if (json_array_size (rw) != rows[i])
            fail_msg ("by=%s: %zu rows, expected %zu", levels[i], json_array_size (rw), rows[i]);
        assert_int_equal (json_integer_value (json_object_get (d, "stale_shards")), 1);
        assert_int_equal (json_integer_value (json_object_get (d, "round")), 9);
        json_decref (d);
    }
    /* the city row's totals are the sum of every counter of the item */
    json_t *d = t_json (fx, "/api/v1/rollup?by=city");
    json_t *city = json_array_get (json_object_get (d, "rows"), 0);
    assert_int_equal (json_integer_value (json_object_get (city, "valid")), 26);
    assert_int_equal (json_integer_value (json_object_get (city, "over")), 6);
    json_decref (d);
    /* district filter: the units of d2 only */
    d = t_json (fx, "/api/v1/rollup?by=unit&district=d2");
    json_t *rw = json_object_get (d, "rows");
    assert_int_equal (json_array_size (rw), 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (rw, 0), "id")), "u2");
    assert_string_equal (json_string_value (json_object_get (d, "district")), "d2");
    json_decref (d);
    /* one category, one item */
    d = t_json (fx, "/api/v1/subjects?category=staff&item=duty");
    assert_string_equal (json_string_value (json_object_get (d, "category")), "staff");
    assert_string_equal (json_string_value (json_object_get (d, "item")), "duty");
    rw = json_object_get (d, "rows");
    assert_int_equal (json_array_size (rw), 2);
    json_t *s2 = json_array_get (rw, 1);
    assert_int_equal (json_integer_value (json_object_get (s2, "blank")), 10);
    assert_null (json_object_get (s2, "by_category"));
    json_decref (d);
    d = t_json (fx, "/api/v1/units");
    assert_string_equal (json_string_value (json_object_get (d, "level")), "unit");
    json_decref (d);
}

static void
test_venues_history_stats_index (void **state)
{
    fx_t *fx = *state;
    json_t *d = t_json (fx, "/api/v1/venues");
    json_t *vs = json_object_get (d, "venues");
    assert_int_equal (json_array_size (vs), 2);
    json_t *v1 = json_array_get (vs, 0), *v2 = json_array_get (vs, 1);
    assert_string_equal (json_string_value (json_object_get (v1, "id")), "v01");
    assert_string_equal (json_string_value (json_object_get (v1, "status")), "reconciled");
    assert_int_equal (json_integer_value (json_object_get (v1, "shard")), 0);
    assert_true (json_is_false (json_object_get (v1, "stale")));
    assert_true (json_is_true (json_object_get (v2, "stale")));
    assert_int_equal (json_integer_value (json_object_get (v2, "sent")), 7);
    json_decref (d);
    d = t_json (fx, "/api/v1/venues?district=d1");
    assert_int_equal (json_array_size (json_object_get (d, "venues")), 1);
    json_decref (d);

    char err[PINGYI_ERR_MAX];
    assert_int_equal (
        agg_history_record (fx->history, 3, 1700000000, "\"sequences\":[1,null],\"accepted\":1", err), 1);
    assert_int_equal (
        agg_history_record (fx->history, 5, 1700000001, "\"sequences\":[2,null],\"accepted\":2", err), 1);
    d = t_json (fx, "/api/v1/history?limit=1");
    assert_int_equal (json_integer_value (json_object_get (d, "count")), 1);
    json_t *rec = json_array_get (json_object_get (d, "records"), 0);
    assert_int_equal (json_integer_value (json_object_get (rec, "round")), 5);
    json_decref (d);
    d = t_json (fx, "/api/v1/history");
    assert_int_equal (json_integer_value (json_object_get (d, "count")), 2);
    assert_int_equal (json_integer_value (json_object_get (d, "limit")), 100);
    json_decref (d);

    d = t_json (fx, "/api/v1/stats");
    assert_true (json_integer_value (json_object_get (json_object_get (d, "http"), "ok")) >= 4);
    assert_non_null (json_object_get (json_object_get (d, "shards"), "refused_key"));
    json_decref (d);
    d = t_json (fx, "/api/v1");
    assert_int_equal (json_array_size (json_object_get (d, "endpoints")), 9);
    json_decref (d);
}

/*  GET /api/v1/view read back renders exactly what the live view
    renders (this is what `pingyi query --agg` does).  */
static void
t_view_equals_live (fx_t *fx)
{
    json_t *d = t_json (fx, "/api/v1/view");
    assert_int_equal (json_integer_value (json_object_get (d, "round")), 9);
    assert_int_equal (json_integer_value (json_object_get (d, "merged_round")), 7);
    assert_int_equal (json_integer_value (json_object_get (d, "stale_shards")), 1);
    char err[PINGYI_ERR_MAX] = "";
    pingyi_view_t *back = pingyi_view_from_json (fx->e, d, err);
    if (!back)
        fail_msg ("%s", err);
    const pingyi_view_t *live = fx->state->merged->view;
    /* the snapshot time travels as merged_at (pingyi query --agg sets it) */
    assert_int_equal (json_integer_value (json_object_get (d, "merged_at")),
                      (json_int_t) fx->state->merged->wall);
    back->snapshot_at = live->snapshot_at;
    assert_true (json_is_array (json_object_get (d, "provisional")));
    assert_int_equal (json_array_size (json_object_get (d, "provisional")), live->final ? 0 : 1);
    assert_true (json_is_string (json_object_get (d, "snapshot_at")));
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++)
        for (int c = -1; c < 2; c++) {
            pingyi_report_filter_t filter = {
                .level = (pingyi_level_t) l, .district = -1, .category = c, .item = -1};
            json_t *a = pingyi_report_json (live, &filter), *b = pingyi_report_json (back, &filter);
            char *ta = json_dumps (a, PINGYI_REPORT_JSON_FLAGS),
                 *tb = json_dumps (b, PINGYI_REPORT_JSON_FLAGS);
            assert_string_equal (ta, tb);
            free (ta);
            free (tb);
            json_decref (a);
            json_decref (b);
        }
    pingyi_view_destroy (&back);
    json_decref (d);
}

static void
test_view_document (void **state)
{
    t_view_equals_live (*state);
}

/*  k = 10: what every endpoint shows of the release fixture (t_fill_release).  */
static void
test_release_everywhere (void **state)
{
    fx_t *fx = *state;
    /* the raw tally: every group withheld, so no counter; the venues say which */
    json_t *d = t_json (fx, "/api/v1/tally");
    assert_int_equal (json_array_size (json_object_get (d, "counters")), 0);
    json_t *v = json_array_get (json_object_get (d, "venues"), 0);
    assert_int_equal (json_integer_value (json_object_get (v, "accepted")), 23);
    assert_int_equal (json_object_size (json_object_get (v, "by_category")), 0);
    json_t *sup = json_object_get (v, "suppressed_categories");
    assert_int_equal (json_array_size (sup), 2);
    assert_string_equal (json_string_value (json_array_get (sup, 0)), "leaders");
    assert_string_equal (json_string_value (json_array_get (sup, 1)), "staff");
    json_decref (d);

    /* the summary's city: every category withheld, the total shown:
       好 (20 + 5) × 2, 较好 15 × 2, 差 3 × 2 = 86 valid */
    d = t_json (fx, "/api/v1/summary");
    json_t *city = json_object_get (d, "city");
    assert_true (json_is_false (json_object_get (city, "suppressed")));
    assert_int_equal (json_integer_value (json_object_get (city, "valid")), 86);
    assert_int_equal (json_integer_value (json_object_get (json_object_get (city, "choices"), "好")), 50);
    json_t *by = json_object_get (city, "by_category");
    for (const char *c = "leaders"; c; c = strcmp (c, "leaders") ? NULL : "staff") {
        json_t *cell = json_object_get (by, c);
        assert_true (json_is_true (json_object_get (cell, "suppressed")));
        assert_true (json_is_null (json_object_get (cell, "valid")));
        assert_true (json_is_null (json_object_get (cell, "score")));
    }
    json_decref (d);

    /* one category: every row withheld, no rank */
    d = t_json (fx, "/api/v1/rollup?by=subject&category=staff");
    json_t *rows = json_object_get (d, "rows");
    assert_int_equal (json_array_size (rows), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *row = json_array_get (rows, i);
        assert_true (json_is_true (json_object_get (row, "suppressed")));
        assert_true (json_is_null (json_object_get (row, "choices")));
        assert_true (json_is_null (json_object_get (row, "rank")));
    }
    assert_int_equal (json_integer_value (json_object_get (d, "k_anonymity")), 10);
    json_decref (d);
    d = t_json (fx, "/api/v1/units");
    assert_int_equal (
        json_integer_value (json_object_get (json_array_get (json_object_get (d, "rows"), 0), "rank")), 1);
    json_decref (d);

    /* the view document holds no withheld figure either */
    agg_reply_t r = t_get (fx, "GET", "/api/v1/view");
    assert_int_equal (r.status, 200);
    assert_non_null (
        strstr (r.body, "{\"id\":\"s1\",\"suppressed\":false,\"cells\":[[null,null,[25,15,0,3,0,0,"));
    agg_reply_free (&r);
    t_view_equals_live (fx);
}

/*  The board hands out references that outlive a publish.  */
static void
test_board_references (void **state)
{
    fx_t *fx = *state;
    agg_board_t board;
    agg_board_init (&board);
    assert_null (agg_board_acquire (&board));
    agg_board_publish (&board, agg_state_ref (fx->state));
    agg_state_t *held = agg_board_acquire (&board);
    assert_ptr_equal (held, fx->state);
    agg_state_t *next = agg_state_new (fx->state->merged, 2);
    agg_board_publish (&board, next);
    /* the old state is still whole for its reader */
    assert_int_equal (held->round, 9);
    assert_int_equal (atomic_load (&held->refs), 2); /* the fixture's and ours */
    agg_state_unref (&held);
    assert_null (held);
    agg_state_t *cur = agg_board_acquire (&board);
    assert_ptr_equal (cur, next);
    assert_int_equal (atomic_load (&fx->state->merged->refs), 2); /* shared by both states */
    agg_state_unref (&cur);
    agg_board_fini (&board);
    assert_int_equal (atomic_load (&fx->state->merged->refs), 1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_errors_exact, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_hostile_path_stays_json, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_no_state_503, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_summary, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_tally_roundtrip, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_rollup_levels_and_filters, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_venues_history_stats_index, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_board_references, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_view_document, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_release_everywhere, t_setup_release, t_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
