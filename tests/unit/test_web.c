/*  test_web.c — the dashboard's part of the aggregator (aggregator/web.h,
    http.c): the table of embedded files (every path unique, content types
    by extension, the page without inline script or style), lookups (the
    page, assets; 404 for unknown names and for anything that is not a
    plain name: `/assets/../x`, `/assets/%2e%2e/x`, `//x`); the token
    (accepted characters and lengths, constant-time match, Bearer and
    cookie, the token file's mode and trailing newline); and over loopback:
    without a token the page is served with its headers and the API answers
    as before; with one, every path but /healthz and /readyz is 401 without
    it (counted), /?token= gives a 303 and an HttpOnly cookie, and the
    cookie or the Bearer header opens the API and /metrics.  */
#include "../../aggregator/api.c"
#include "../../aggregator/history.c"
#include "../../aggregator/http.c"
#include "../../aggregator/shards.c"
#include "../../aggregator/state.c"
#include "../../aggregator/web.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "raw_http.h"
#include <sys/time.h>
#include <unistd.h>

#define TOKEN "0123456789abcdef-TOKEN_x.y~z"

static const char *DEFINITION =
    "{\n"
    "  \"version\": 1, \"id\": \"web\", \"title\": \"web test\", \"shards\": 1,\n"
    "  \"grades\": [ {\"label\": \"A\", \"points\": 100, \"favourable\": true},\n"
    "              {\"label\": \"B\", \"points\": 0, \"unfavourable\": true} ],\n"
    "  \"items\": [ {\"id\": \"overall\", \"name\": \"overall\", \"overall\": true} ],\n"
    "  \"categories\": [ {\"id\": \"all\", \"name\": \"all\", \"weight\": 1} ],\n"
    "  \"districts\": [ {\"id\": \"d1\", \"name\": \"d1\"} ],\n"
    "  \"units\": [ {\"id\": \"u1\", \"name\": \"u1\", \"kind\": \"town\", \"district\": \"d1\"} ],\n"
    "  \"subjects\": [ {\"id\": \"s1\", \"name\": \"s1\", \"unit\": \"u1\", \"onsite\": true} ],\n"
    "  \"venues\": [ {\"id\": \"v01\", \"name\": \"v01\", \"district\": \"d1\", \"subjects\": [\"s1\"]} ]\n"
    "}\n";

/* ------------------------------------------------------------------ assets */

static void
test_asset_table (void **state)
{
    (void) state;
    assert_true (agg_web_asset_count >= 3);
    bool page = false, js = false, css = false;
    for (size_t i = 0; i < agg_web_asset_count; i++) {
        const agg_web_asset_t *a = &agg_web_assets[i];
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal (a->path, agg_web_assets[j].path);
        assert_true (a->len > 0);
        assert_int_equal (a->data[a->len], 0); /* the build script's NUL */
        if (!strcmp (a->path, "/")) {
            page = true;
            assert_string_equal (a->content_type, "text/html; charset=utf-8");
            /* nothing inline: the CSP would refuse it */
            const char *html = (const char *) a->data;
            assert_null (strstr (html, " style="));
            for (const char *s = strstr (html, "<script"); s; s = strstr (s + 1, "<script")) {
                const char *end = strchr (s, '>');
                assert_non_null (end);
                assert_non_null (memmem (s, (size_t) (end - s), "src=\"/assets/", 13));
            }
            assert_null (strstr (html, "http://"));
            assert_null (strstr (html, "https://"));
        }
        else {
            assert_memory_equal (a->path, "/assets/", 8);
            assert_string_equal (a->content_type, agg_web_content_type (a->path));
        }
        js |= !strcmp (a->path, "/assets/app.js");
        css |= !strcmp (a->path, "/assets/style.css");
    }
    assert_true (page && js && css);
}

static void
test_content_types (void **state)
{
    (void) state;
    assert_string_equal (agg_web_content_type ("a.html"), "text/html; charset=utf-8");
    assert_string_equal (agg_web_content_type ("/assets/app.js"), "text/javascript; charset=utf-8");
    assert_string_equal (agg_web_content_type ("style.css"), "text/css; charset=utf-8");
    assert_string_equal (agg_web_content_type ("icon.svg"), "image/svg+xml");
    assert_string_equal (agg_web_content_type ("x.json"), "application/json; charset=utf-8");
    assert_string_equal (agg_web_content_type ("x.exe"), "application/octet-stream");
    assert_string_equal (agg_web_content_type ("noext"), "application/octet-stream");
    assert_string_equal (agg_web_content_type (NULL), "application/octet-stream");
}

static void
test_find (void **state)
{
    (void) state;
    const agg_web_asset_t *a = agg_web_find ("/");
    assert_non_null (a);
    assert_string_equal (a->path, "/");
    a = agg_web_find ("/assets/app.js");
    assert_non_null (a);
    assert_string_equal (a->content_type, "text/javascript; charset=utf-8");
    assert_non_null (agg_web_find ("/assets/style.css"));
    const char *refused[] = {NULL,
                             "",
                             "/index.html",
                             "/assets/",
                             "/assets/nope.js",
                             "/assets/../x",
                             "/assets/../assets/app.js",
                             "/assets/./app.js",
                             "/assets/%2e%2e/app.js",
                             "/assets/.hidden",
                             "/assets//app.js",
                             "//assets/app.js",
                             "/assets/app.js/",
                             "/assets/app.js?x",
                             "/ASSETS/app.js",
                             "/api/v1/summary",
                             "/x"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (agg_web_find (refused[i]))
            fail_msg ("\"%s\" was found", refused[i] ? refused[i] : "(null)");
}

/* ------------------------------------------------------------------- token */

static void
test_token_rules (void **state)
{
    (void) state;
    agg_web_token_t t;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (agg_web_token_set (&t, TOKEN, err), 0);
    assert_true (t.set);
    assert_int_equal (agg_web_token_set (&t, "", err), -1);
    assert_false (t.set);
    assert_non_null (strstr (err, "empty"));
    assert_int_equal (agg_web_token_set (&t, "short", err), -1);
    assert_non_null (strstr (err, "too short"));
    char longer[AGG_WEB_TOKEN_MAX + 2];
    memset (longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    assert_int_equal (agg_web_token_set (&t, longer, err), -1);
    assert_non_null (strstr (err, "too long"));
    longer[AGG_WEB_TOKEN_MAX] = 0;
    assert_int_equal (agg_web_token_set (&t, longer, err), 0);
    const char *bad[] = {"0123456789abcdef;x",      "0123456789abcdef x", "0123456789abcdef\"",
                         "0123456789abcdef&a=1",    "0123456789abcdef\n", "0123456789abcdef%41",
                         "0123456789abcdef\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (agg_web_token_set (&t, bad[i], err) == 0)
            fail_msg ("token \"%s\" accepted", bad[i]);
        assert_non_null (strstr (err, "character"));
    }
}

static void
test_token_match (void **state)
{
    (void) state;
    agg_web_token_t t, none = {0};
    char err[PINGYI_ERR_MAX];
    assert_int_equal (agg_web_token_set (&t, TOKEN, err), 0);
    assert_true (agg_web_token_matches (&t, TOKEN));
    assert_false (agg_web_token_matches (&t, TOKEN "x"));
    assert_false (agg_web_token_matches (&t, "0123456789abcdef"));
    assert_false (agg_web_token_matches (&t, ""));
    assert_false (agg_web_token_matches (&t, NULL));
    assert_false (agg_web_token_matches (&none, TOKEN));
    /* no token: everything is allowed */
    assert_true (agg_web_authorized (&none, NULL, NULL));
    assert_true (agg_web_authorized (NULL, NULL, NULL));
    /* a token: the header or the cookie */
    assert_false (agg_web_authorized (&t, NULL, NULL));
    assert_true (agg_web_authorized (&t, "Bearer " TOKEN, NULL));
    assert_true (agg_web_authorized (&t, "bearer  " TOKEN " ", NULL));
    assert_true (agg_web_authorized (&t, NULL, TOKEN));
    assert_true (agg_web_authorized (&t, "Bearer wrong", TOKEN));
    assert_false (agg_web_authorized (&t, "Bearer wrong", "wrong"));
    assert_false (agg_web_authorized (&t, TOKEN, NULL));          /* no scheme */
    assert_false (agg_web_authorized (&t, "Basic " TOKEN, NULL)); /* another scheme */
    assert_false (agg_web_authorized (&t, "Bearer " TOKEN "x", NULL));
    assert_false (agg_web_authorized (&t, "Bearer ", ""));
    char huge[AGG_WEB_TOKEN_MAX * 4];
    memset (huge, 'a', sizeof huge - 1);
    huge[sizeof huge - 1] = 0;
    memcpy (huge, "Bearer ", 7);
    assert_false (agg_web_authorized (&t, huge, NULL));
    char cookie[512];
    assert_int_equal (agg_web_cookie (TOKEN, cookie, sizeof cookie), 0);
    assert_string_equal (cookie, "pingyi_token=" TOKEN "; Path=/; HttpOnly; SameSite=Strict");
    assert_int_equal (agg_web_cookie (TOKEN, cookie, 10), -1);
}

static void
write_file (const char *path, const char *text, mode_t mode)
{
    unlink (path);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
    assert_int_equal (chmod (path, mode), 0);
}

static void
test_token_file (void **state)
{
    (void) state;
    char dir[] = "/tmp/pingyi-web-XXXXXX";
    assert_non_null (mkdtemp (dir));
    char path[256];
    snprintf (path, sizeof path, "%s/token", dir);
    agg_web_token_t t;
    char err[PINGYI_ERR_MAX];
    write_file (path, TOKEN "\n", 0600);
    assert_int_equal (agg_web_token_read_file (&t, path, err), 0);
    assert_true (agg_web_token_matches (&t, TOKEN));
    write_file (path, TOKEN "\r\n", 0400);
    assert_int_equal (agg_web_token_read_file (&t, path, err), 0);
    assert_true (agg_web_token_matches (&t, TOKEN));
    write_file (path, TOKEN, 0600);
    assert_int_equal (agg_web_token_read_file (&t, path, err), 0);
    assert_true (agg_web_token_matches (&t, TOKEN));
    /* one newline only: a second is a character of the token */
    write_file (path, TOKEN "\n\n", 0600);
    assert_int_equal (agg_web_token_read_file (&t, path, err), -1);
    assert_false (t.set);
    write_file (path, "", 0600);
    assert_int_equal (agg_web_token_read_file (&t, path, err), -1);
    assert_non_null (strstr (err, "empty"));
    /* group or others may read it: refused, with the fix */
    const mode_t loose[] = {0640, 0644, 0604, 0660, 0601};
    for (size_t i = 0; i < sizeof loose / sizeof loose[0]; i++) {
        write_file (path, TOKEN "\n", loose[i]);
        assert_int_equal (agg_web_token_read_file (&t, path, err), -1);
        assert_false (t.set);
        assert_non_null (strstr (err, "lets others read this secret; run: chmod 600"));
    }
    assert_int_equal (agg_web_token_read_file (&t, dir, err), -1);
    assert_non_null (strstr (err, "not a regular file"));
    unlink (path);
    assert_int_equal (agg_web_token_read_file (&t, path, err), -1);
    assert_non_null (strstr (err, "cannot open"));
    rmdir (dir);
}

/* ---------------------------------------------------------------- loopback */

typedef struct {
    pingyi_election_t *e;
    agg_board_t board;
    agg_api_t api;
    agg_http_t *http;
    uint16_t port;
} fx_t;

static int
fx_start (void **state, bool with_token)
{
    fx_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    pingyi_errlist_t errs = {0};
    fx->e = pingyi_election_parse ((const uint8_t *) DEFINITION, strlen (DEFINITION), &errs);
    pingyi_errlist_clear (&errs);
    assert_non_null (fx->e);
    agg_board_init (&fx->board);
    pingyi_tally_t *t = pingyi_tally_new (fx->e);
    pingyi_view_t *v = pingyi_view_new (fx->e, t);
    agg_merged_t *m = agg_merged_new (fx->e, t, v, 1, 1700000000);
    assert_non_null (m);
    agg_state_t *st = agg_state_new (m, 1);
    agg_merged_unref (&m);
    st->stale_ms = 5000;
    st->interval_ms = 1000;
    st->started_ms = st->made_ms = pingyi_now_ms ();
    agg_board_publish (&fx->board, st);
    char err[PINGYI_ERR_MAX];
    agg_web_token_t token = {0};
    if (with_token)
        assert_int_equal (agg_web_token_set (&token, TOKEN, err), 0);
    fx->http = agg_http_start_guarded ("127.0.0.1:0", &fx->board, &fx->api, &token, err);
    if (!fx->http)
        fail_msg ("%s", err);
    fx->port = agg_http_port (fx->http);
    *state = fx;
    return 0;
}

static int
t_setup_open (void **state)
{
    return fx_start (state, false);
}

static int
t_setup_token (void **state)
{
    return fx_start (state, true);
}

static int
t_teardown (void **state)
{
    fx_t *fx = *state;
    agg_http_stop (&fx->http);
    agg_board_fini (&fx->board);
    pingyi_election_destroy (&fx->e);
    free (fx);
    return 0;
}

/*  One request (Connection: close), the whole answer malloc'd.  */
static char *
t_get (fx_t *fx, const char *path, const char *extra)
{
    char req[4096];
    int len = snprintf (req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n",
                        path, extra ? extra : "");
    return raw_http_exchange (fx->port, req, (size_t) len);
}

static int
t_status (const char *resp)
{
    int status = 0;
    return sscanf (resp, "HTTP/1.%*d %d", &status) == 1 ? status : 0;
}

static bool
t_header (const char *resp, const char *line)
{
    char want[1024];
    snprintf (want, sizeof want, "\r\n%s\r\n", line);
    const char *end = strstr (resp, "\r\n\r\n");
    const char *at = strcasestr (resp, want);
    return at && end && at < end;
}

static void
expect (fx_t *fx, const char *path, const char *extra, int status)
{
    char *r = t_get (fx, path, extra);
    if (t_status (r) != status)
        fail_msg ("GET %s: expected %d, got: %.300s", path, status, r);
    free (r);
}

static void
test_open_server (void **state)
{
    fx_t *fx = *state;
    char *r = t_get (fx, "/", NULL);
    assert_int_equal (t_status (r), 200);
    assert_true (t_header (r, "Content-Type: text/html; charset=utf-8"));
    assert_true (t_header (r, "Content-Security-Policy: " AGG_WEB_CSP));
    assert_true (t_header (r, "X-Content-Type-Options: nosniff"));
    assert_true (t_header (r, "Referrer-Policy: no-referrer"));
    assert_true (t_header (r, "Cache-Control: no-store"));
    const agg_web_asset_t *page = agg_web_find ("/");
    const char *body = strstr (r, "\r\n\r\n") + 4;
    assert_int_equal (strlen (body), page->len);
    assert_memory_equal (body, page->data, page->len);
    free (r);
    r = t_get (fx, "/assets/style.css", NULL);
    assert_int_equal (t_status (r), 200);
    assert_true (t_header (r, "Content-Type: text/css; charset=utf-8"));
    free (r);
    /* the API's answers as before: unknown paths, traversal, are its 404 */
    const char *missing[] = {"/assets/nope.js", "/assets/../x", "/assets/%2e%2e/app.js", "/index.html",
                             "//x"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        r = t_get (fx, missing[i], NULL);
        if (t_status (r) != 404)
            fail_msg ("GET %s: %.300s", missing[i], r);
        assert_true (t_header (r, "Content-Type: application/json; charset=utf-8"));
        assert_non_null (strstr (r, "{\"error\":\"no such endpoint: "));
        free (r);
    }
    r = t_get (fx, "/x", NULL);
    assert_string_equal (strstr (r, "\r\n\r\n") + 4, "{\"error\":\"no such endpoint: /x\"}\n");
    assert_false (t_header (r, "Content-Security-Policy: " AGG_WEB_CSP)); /* the API's headers untouched */
    free (r);
    expect (fx, "/api/v1/summary", NULL, 200);
    expect (fx, "/metrics", NULL, 200);
    assert_int_equal (agg_http_unauthorized (fx->http), 0);
}

static void
test_guarded_server (void **state)
{
    fx_t *fx = *state;
    /* without the token: 401, the page and the API alike */
    const char *closed[] = {"/",  "/assets/app.js", "/api/v1/summary", "/api/v1", "/metrics",
                            "/x", "/assets/../x"};
    for (size_t i = 0; i < sizeof closed / sizeof closed[0]; i++)
        expect (fx, closed[i], NULL, 401);
    char *r = t_get (fx, "/api/v1/summary", NULL);
    assert_true (t_header (r, "Content-Type: application/json; charset=utf-8"));
    assert_true (t_header (r, "WWW-Authenticate: Bearer realm=\"pingyi-agg\""));
    free (r);
    r = t_get (fx, "/", NULL);
    assert_true (t_header (r, "Content-Type: text/html; charset=utf-8"));
    assert_true (t_header (r, "Content-Security-Policy: " AGG_WEB_CSP));
    assert_null (strstr (r, TOKEN));
    free (r);
    expect (fx, "/api/v1/summary", "Authorization: Bearer wrong-token-0123456789\r\n", 401);
    expect (fx, "/api/v1/summary", "Cookie: pingyi_token=wrong-token-0123456789\r\n", 401);
    expect (fx, "/?token=wrong-token-0123456789", NULL, 401);
    expect (fx, "/?token=" TOKEN "x", NULL, 401);
    unsigned long long refused = agg_http_unauthorized (fx->http);
    assert_int_equal (refused, sizeof closed / sizeof closed[0] + 2 + 4); /* and the two looked at */
    /* probes stay open */
    r = t_get (fx, "/healthz", NULL);
    assert_int_equal (t_status (r), 200);
    free (r);
    r = t_get (fx, "/readyz", NULL);
    assert_int_not_equal (t_status (r), 401);
    free (r);
    /* the token: Bearer, or the cookie the 303 sets */
    expect (fx, "/api/v1/summary", "Authorization: Bearer " TOKEN "\r\n", 200);
    expect (fx, "/metrics", "Authorization: Bearer " TOKEN "\r\n", 200);
    expect (fx, "/", "Authorization: Bearer " TOKEN "\r\n", 200);
    r = t_get (fx, "/?token=" TOKEN, NULL);
    assert_int_equal (t_status (r), 303);
    assert_true (t_header (r, "Location: /"));
    assert_true (t_header (r, "Set-Cookie: pingyi_token=" TOKEN "; Path=/; HttpOnly; SameSite=Strict"));
    free (r);
    expect (fx, "/assets/app.js", "Cookie: pingyi_token=" TOKEN "\r\n", 200);
    expect (fx, "/api/v1/summary", "Cookie: other=1; pingyi_token=" TOKEN "\r\n", 200);
    expect (fx, "/assets/../x", "Cookie: pingyi_token=" TOKEN "\r\n", 404);
    assert_int_equal (agg_http_unauthorized (fx->http), refused);
    /* counted in /metrics */
    r = t_get (fx, "/metrics", "Authorization: Bearer " TOKEN "\r\n");
    char line[128];
    snprintf (line, sizeof line, "\npingyi_agg_http_unauthorized_total %llu\n", refused);
    assert_non_null (strstr (r, line));
    free (r);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_asset_table),
        cmocka_unit_test (test_content_types),
        cmocka_unit_test (test_find),
        cmocka_unit_test (test_token_rules),
        cmocka_unit_test (test_token_match),
        cmocka_unit_test (test_token_file),
        cmocka_unit_test_setup_teardown (test_open_server, t_setup_open, t_teardown),
        cmocka_unit_test_setup_teardown (test_guarded_server, t_setup_token, t_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
