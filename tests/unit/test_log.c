/*  test_log.c — the log lines (proto/common.h, pingyi_log) and the log
    flags (cli/cli.h, pingyi_cli_log_options): the text line's RFC 3339
    time and its unchanged "PROG LEVEL: message" tail, a JSON line with its
    four keys and a message of quotes, newlines and Chinese escaped by the
    project's JSON string writer, a long message cut on a character, level
    filtering, --log-file and its reopen after SIGHUP, and the flags'
    errors and usage.  */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>
#include <regex.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "json_text.h"

/* 2026-12-06T07:51:16.123Z */
#define WHEN_MS INT64_C (1796543476123)

static const char *TIME_RE =
    "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5]["
    "0-9]\\.[0-9]{3}Z$";

static bool
matches (const char *re, const char *text)
{
    regex_t r;
    assert_int_equal (regcomp (&r, re, REG_EXTENDED | REG_NOSUB), 0);
    bool ok = regexec (&r, text, 0, NULL, 0) == 0;
    regfree (&r);
    return ok;
}

static void
test_text_line (void **state)
{
    (void) state;
    char line[8192];
    size_t n = pingyi_log_format (line, sizeof line, PINGYI_LOG_TEXT, pingyi_json_write_text, WHEN_MS,
                                  "pingyi-worker", "error", "shard 3: disk full");
    assert_string_equal (line, "2026-12-06T07:51:16.123Z pingyi-worker error: shard 3: disk full\n");
    assert_int_equal (n, strlen (line));
    /* the old line, whole, after the time: every grep of "pingyi-worker error: X" still matches */
    assert_non_null (strstr (line, "pingyi-worker error: shard 3: disk full\n"));
    char stamp[64];
    snprintf (stamp, sizeof stamp, "%.*s", (int) (strchr (line, ' ') - line), line);
    assert_true (matches (TIME_RE, stamp));

    /* milliseconds kept with their zeros; the epoch itself */
    pingyi_log_format (line, sizeof line, PINGYI_LOG_TEXT, NULL, INT64_C (1796543476007), "p", "info", "x");
    assert_string_equal (line, "2026-12-06T07:51:16.007Z p info: x\n");
    pingyi_log_format (line, sizeof line, PINGYI_LOG_TEXT, NULL, 0, "p", "warn", "");
    assert_string_equal (line, "1970-01-01T00:00:00.000Z p warn: \n");
}

static void
test_json_line (void **state)
{
    (void) state;
    const char *msg = "venue \"v01\" said:\nline two\t\\ 第一会场 评议";
    char line[8192];
    size_t n = pingyi_log_format (line, sizeof line, PINGYI_LOG_JSON, pingyi_json_write_text, WHEN_MS,
                                  "pingyi-broker", "warn", msg);
    assert_int_equal (n, strlen (line));
    /* one line: the newline of the message escaped, one at the end */
    assert_int_equal (line[n - 1], '\n');
    assert_null (memchr (line, '\n', n - 1));
    assert_non_null (strstr (line, "\\\"v01\\\""));
    assert_non_null (strstr (line, "said:\\u000aline two\\u0009\\\\ 第一会场 评议"));
    assert_true (!strncmp (line, "{\"time\":\"2026-12-06T07:51:16.123Z\",\"level\":\"warn\",", 50));

    json_error_t jerr;
    json_t *o = json_loads (line, 0, &jerr);
    assert_non_null (o);
    assert_int_equal (json_object_size (o), 4);
    assert_string_equal (json_string_value (json_object_get (o, "time")), "2026-12-06T07:51:16.123Z");
    assert_true (matches (TIME_RE, json_string_value (json_object_get (o, "time"))));
    assert_string_equal (json_string_value (json_object_get (o, "level")), "warn");
    assert_string_equal (json_string_value (json_object_get (o, "component")), "pingyi-broker");
    assert_string_equal (json_string_value (json_object_get (o, "msg")), msg);
    json_decref (o);

    /* bytes that are not UTF-8 become U+FFFD, never a broken document */
    pingyi_log_format (line, sizeof line, PINGYI_LOG_JSON, pingyi_json_write_text, WHEN_MS, "p", "info",
                       "bad \xff byte");
    o = json_loads (line, 0, &jerr);
    assert_non_null (o);
    assert_string_equal (json_string_value (json_object_get (o, "msg")), "bad \xef\xbf\xbd byte");
    json_decref (o);

    /* no writer handed in: the text line rather than unescaped JSON */
    pingyi_log_format (line, sizeof line, PINGYI_LOG_JSON, NULL, WHEN_MS, "p", "info", "x");
    assert_string_equal (line, "2026-12-06T07:51:16.123Z p info: x\n");
}

/*  The log file's lines, one string (the test's own file).  */
static char *
slurp (const char *path)
{
    size_t len;
    char err[PINGYI_ERR_MAX];
    uint8_t *b = pingyi_read_file (path, 1 << 20, &len, err);
    assert_non_null (b);
    return (char *) b;
}

static size_t
count_lines (const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void
test_levels_and_file (void **state)
{
    (void) state;
    assert_int_equal (pingyi_log_level_parse ("debug"), PINGYI_LOG_DEBUG);
    assert_int_equal (pingyi_log_level_parse ("info"), PINGYI_LOG_INFO);
    assert_int_equal (pingyi_log_level_parse ("warn"), PINGYI_LOG_WARN);
    assert_int_equal (pingyi_log_level_parse ("error"), PINGYI_LOG_ERROR);
    assert_int_equal (pingyi_log_level_parse ("warning"), -1);
    assert_int_equal (pingyi_log_level_parse ("INFO"), -1);
    assert_int_equal (pingyi_log_level_parse (NULL), -1);

    char dir[] = "/tmp/pingyi-test-log.XXXXXX";
    assert_non_null (mkdtemp (dir));
    char path[256], moved[256];
    snprintf (path, sizeof path, "%s/a.log", dir);
    snprintf (moved, sizeof moved, "%s/a.log.1", dir);
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_log_open (path, err), 0);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    mode_t mask = umask (0);
    umask (mask);
    assert_int_equal (st.st_mode & 0777, 0640 & ~mask);

    pingyi_log_prog = "test_log";
    pingyi_log_setup (PINGYI_LOG_WARN, PINGYI_LOG_TEXT, pingyi_json_write_text);
    pingyi_debug ("d %d", 1);
    pingyi_info ("i %d", 2);
    pingyi_warn ("w %d", 3);
    pingyi_error ("e %d", 4);
    char *text = slurp (path);
    assert_int_equal (count_lines (text), 2);
    assert_non_null (strstr (text, " test_log warn: w 3\n"));
    assert_non_null (strstr (text, " test_log error: e 4\n"));
    assert_true (
        matches ("^[0-9-]{10}T[0-9:]{8}\\.[0-9]{3}Z test_log warn: w 3\n[0-9-]{10}T[0-9:]{8}\\.[0-9]{3}Z "
                 "test_log error: e 4\n$",
                 text));
    free (text);

    /* debug: everything; error: errors only */
    pingyi_log_setup (PINGYI_LOG_DEBUG, PINGYI_LOG_TEXT, pingyi_json_write_text);
    pingyi_debug ("d");
    pingyi_info ("i");
    pingyi_log_setup (PINGYI_LOG_ERROR, PINGYI_LOG_TEXT, pingyi_json_write_text);
    pingyi_warn ("dropped");
    pingyi_error ("kept");
    text = slurp (path);
    assert_int_equal (count_lines (text), 5);
    assert_non_null (strstr (text, " test_log debug: d\n"));
    assert_non_null (strstr (text, " test_log info: i\n"));
    assert_null (strstr (text, "dropped"));
    assert_non_null (strstr (text, " test_log error: kept\n"));
    free (text);

    /* a long message is cut, on a character boundary, and stays one line */
    pingyi_log_setup (PINGYI_LOG_INFO, PINGYI_LOG_JSON, pingyi_json_write_text);
    char big[3000];
    size_t k = 0;
    big[k++] = 'x';
    while (k + 3 < sizeof big) {
        memcpy (big + k, "评", 3);
        k += 3;
    }
    big[k] = 0;
    pingyi_info ("%s", big);
    text = slurp (path);
    char *last = text + strlen (text) - 1;
    while (last > text && last[-1] != '\n')
        last--;
    json_error_t jerr;
    json_t *o = json_loads (last, 0, &jerr);
    assert_non_null (o);
    const char *m = json_string_value (json_object_get (o, "msg"));
    assert_true (strlen (m) > 1000 && strlen (m) < 1024);
    assert_int_equal (pingyi_utf8_invalid_at ((const uint8_t *) m, strlen (m)), strlen (m));
    assert_null (strstr (m, "\xef\xbf\xbd"));
    json_decref (o);
    free (text);

    /* SIGHUP's reopen: the file moved away keeps what it had, a new one at
       the path gets the lines from then on */
    assert_int_equal (rename (path, moved), 0);
    pingyi_log_setup (PINGYI_LOG_INFO, PINGYI_LOG_TEXT, pingyi_json_write_text);
    pingyi_log_reopen_request ();
    pingyi_log_poll ();
    assert_int_equal (stat (path, &st), 0);
    pingyi_warn ("after");
    text = slurp (path);
    assert_non_null (strstr (text, "test_log info: log file "));
    assert_non_null (strstr (text, " reopened (SIGHUP)\n"));
    assert_non_null (strstr (text, " test_log warn: after\n"));
    assert_int_equal (count_lines (text), 2);
    free (text);
    text = slurp (moved);
    assert_null (strstr (text, "after"));
    free (text);

    /* a reopen asked for is done by the next line as well */
    assert_int_equal (unlink (path), 0);
    pingyi_log_reopen_request ();
    pingyi_error ("next");
    text = slurp (path);
    assert_int_equal (count_lines (text), 2);
    assert_non_null (strstr (text, " test_log error: next\n"));
    free (text);

    assert_int_equal (pingyi_log_open ("/nonexistent-dir/x.log", err), -1);
    assert_string_equal (err, "/nonexistent-dir/x.log: cannot open: No such file or directory");

    unlink (path);
    unlink (moved);
    rmdir (dir);
}

/*  One parse of a daemon's command line; its usage and errors captured.  */
static int
parse (bool logs, char **out, char **err, int *status, int argc, char **argv)
{
    static const char *deploy;
    const pingyi_cli_option_t options[] = {
        PINGYI_CLI_OPT_TEXT ("deploy", &deploy, "DIR", "the deploy directory"),
        PINGYI_CLI_END,
    };
    size_t out_len, err_len;
    FILE *o = open_memstream (out, &out_len), *e = open_memstream (err, &err_len);
    pingyi_cli_t cli = {.prog = "pingyi-test",
                        .synopsis = "pingyi-test --deploy DIR",
                        .options = options,
                        .out = o,
                        .err = e,
                        .logs = logs};
    int rc = pingyi_cli_parse (&cli, argc, argv, status);
    fclose (o);
    fclose (e);
    return rc;
}

static void
test_flags (void **state)
{
    (void) state;
    char *out, *err;
    int status = -1;
    char *help[] = {"pingyi-test", "--help", NULL};
    assert_int_equal (parse (true, &out, &err, &status, 2, help), -1);
    assert_int_equal (status, PINGYI_EXIT_OK);
    for (const pingyi_cli_option_t *o = pingyi_cli_log_options (); o->name; o++) {
        char flag[64];
        snprintf (flag, sizeof flag, "\n  --%s %s ", o->name, o->value_name);
        assert_non_null (strstr (out, flag));
    }
    assert_non_null (strstr (out, "  --log-level LEVEL "));
    assert_non_null (strstr (out, "  --log-format FORMAT "));
    assert_non_null (strstr (out, "  --log-file PATH "));
    /* the daemon's own flags first, --help last */
    assert_true (strstr (out, "--deploy") < strstr (out, "--log-level"));
    assert_true (strstr (out, "--log-file") < strstr (out, "--help"));
    free (out);
    free (err);

    /* a program that does not take them does not list or parse them */
    assert_int_equal (parse (false, &out, &err, &status, 2, help), -1);
    assert_null (strstr (out, "--log-"));
    free (out);
    free (err);
    char *plain[] = {"pingyi-test", "--log-level", "debug", NULL};
    assert_int_equal (parse (false, &out, &err, &status, 3, plain), -1);
    assert_int_equal (status, PINGYI_EXIT_START);
    assert_ptr_equal (strstr (err, "pingyi-test: unknown flag \"--log-level\"\nusage: "), err);
    free (out);
    free (err);

    char *bad_level[] = {"pingyi-test", "--log-level=verbose", NULL};
    assert_int_equal (parse (true, &out, &err, &status, 2, bad_level), -1);
    assert_int_equal (status, PINGYI_EXIT_START);
    assert_ptr_equal (
        strstr (err, "pingyi-test: --log-level \"verbose\": not one of debug, info, warn, error\nusage: "),
        err);
    free (out);
    free (err);
    char *bad_format[] = {"pingyi-test", "--log-format", "xml", NULL};
    assert_int_equal (parse (true, &out, &err, &status, 3, bad_format), -1);
    assert_int_equal (status, PINGYI_EXIT_START);
    assert_ptr_equal (strstr (err, "pingyi-test: --log-format \"xml\": not text or json\nusage: "), err);
    free (out);
    free (err);
    char *bad_file[] = {"pingyi-test", "--log-file", "/nonexistent-dir/x.log", NULL};
    assert_int_equal (parse (true, &out, &err, &status, 3, bad_file), -1);
    assert_int_equal (status, PINGYI_EXIT_START);
    assert_string_equal (err, "pingyi-test: --log-file /nonexistent-dir/x.log: cannot open: No such file or "
                              "directory\n");
    free (out);
    free (err);

    /* good values: applied (warn drops info) and SIGHUP set to reopen */
    char dir[] = "/tmp/pingyi-test-log.XXXXXX";
    assert_non_null (mkdtemp (dir));
    char path[256], moved[256];
    snprintf (path, sizeof path, "%s/b.log", dir);
    snprintf (moved, sizeof moved, "%s/b.log.1", dir);
    char *good[] = {"pingyi-test", "--log-level", "warn", "--log-format=json", "--log-file", path, NULL};
    assert_int_equal (parse (true, &out, &err, &status, 6, good), 0);
    assert_string_equal (err, "");
    free (out);
    free (err);
    pingyi_log_prog = "pingyi-test";
    pingyi_info ("not shown");
    pingyi_warn ("shown");
    assert_int_equal (rename (path, moved), 0);
    raise (SIGHUP); /* not the end of the process: a reopen */
    pingyi_error ("after the reopen");
    char *text = slurp (moved);
    assert_null (strstr (text, "not shown"));
    assert_non_null (strstr (text, "\"level\":\"warn\",\"component\":\"pingyi-test\",\"msg\":\"shown\"}\n"));
    free (text);
    text = slurp (path);
    assert_int_equal (count_lines (text), 1); /* the reopen's own line is at info: dropped */
    assert_non_null (
        strstr (text, "\"level\":\"error\",\"component\":\"pingyi-test\",\"msg\":\"after the reopen\"}\n"));
    free (text);
    /* SIGTERM and SIGINT are left as they were */
    struct sigaction sa;
    sigaction (SIGTERM, NULL, &sa);
    assert_true (sa.sa_handler == SIG_DFL);
    unlink (path);
    unlink (moved);
    rmdir (dir);
    pingyi_log_setup (PINGYI_LOG_INFO, PINGYI_LOG_TEXT, NULL);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_text_line),
        cmocka_unit_test (test_json_line),
        cmocka_unit_test (test_levels_and_file),
        cmocka_unit_test (test_flags),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
