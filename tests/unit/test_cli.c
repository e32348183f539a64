/*  test_cli.c — every program's command line (cli/cli.h): `--opt value` and
    `--opt=value`, a missing value, an unknown or abbreviated flag, bad
    numbers (letters, trailing junk, a sign, out of range, overflow),
    endpoint lists, --help and --version, each with its exact message and
    exit status.  */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli.h"

/*  One parse of a command line against the test program's table, its
    output captured.  */
typedef struct {
    const char *deploy;
    uint64_t hwm;
    bool json;
    bool hwm_given;
    pingyi_cli_list_t brokers;
    const char *single;
    int rc, status;
    char *out, *err;
    size_t out_len, err_len;
    pingyi_cli_t cli;
} run_t;

static void
run (run_t *r, int args_max, ...)
{
    memset (r, 0, sizeof *r);
    r->hwm = 10000;
    static char *argv[32]; /* cli.args points into it after the parse */
    int argc = 0;
    argv[argc++] = (char *) "pingyi-test";
    va_list ap;
    va_start (ap, args_max);
    const char *a;
    while ((a = va_arg (ap, const char *)) != NULL)
        argv[argc++] = (char *) a;
    va_end (ap);
    argv[argc] = NULL;
    const pingyi_cli_option_t options[] = {
        PINGYI_CLI_OPT_TEXT ("deploy", &r->deploy, "DIR", "the deploy directory"),
        {.name = "hwm",
         .kind = PINGYI_CLI_U64,
         .target = &r->hwm,
         .value_name = "N",
         .help = "high-water mark\nper peer",
         .min = 1,
         .max = 1000000,
         .given = &r->hwm_given},
        PINGYI_CLI_OPT_FLAG ("json", &r->json, "JSON"),
        PINGYI_CLI_OPT_ENDPOINTS ("broker", &r->brokers, "LIST", "brokers"),
        PINGYI_CLI_OPT_ENDPOINT ("one", &r->single, "ENDPOINT", "one endpoint"),
        PINGYI_CLI_END,
    };
    FILE *out = open_memstream (&r->out, &r->out_len);
    FILE *err = open_memstream (&r->err, &r->err_len);
    assert_non_null (out);
    assert_non_null (err);
    r->cli = (pingyi_cli_t){
        .prog = "pingyi-test",
        .synopsis = "pingyi-test --deploy DIR [--hwm N]",
        .options = options,
        .args_max = args_max,
        .out = out,
        .err = err,
    };
    r->rc = pingyi_cli_parse (&r->cli, argc, argv, &r->status);
    fclose (out);
    fclose (err);
    r->cli.options = NULL; /* the table was on this stack */
}

static void
done (run_t *r)
{
    free (r->out);
    free (r->err);
    pingyi_cli_list_fini (&r->brokers);
    pingyi_cli_list_fini (&r->brokers); /* safe twice */
}

/*  The first line of what was written.  */
static char *
first_line (const char *text)
{
    static char line[512];
    size_t n = strcspn (text, "\n");
    snprintf (line, sizeof line, "%.*s", (int) n, text);
    return line;
}

static void
test_value_forms (void **state)
{
    (void) state;
    run_t r;
    run (&r, 0, "--deploy", "d1", "--hwm=12", "--json", NULL);
    assert_int_equal (r.rc, 0);
    assert_string_equal (r.deploy, "d1");
    assert_int_equal (r.hwm, 12);
    assert_true (r.hwm_given);
    assert_true (r.json);
    assert_int_equal (r.err_len, 0);
    assert_int_equal (r.out_len, 0);
    done (&r);

    run (&r, 0, "--deploy=d2", "--hwm", "1000000", NULL);
    assert_int_equal (r.rc, 0);
    assert_string_equal (r.deploy, "d2");
    assert_int_equal (r.hwm, 1000000);
    assert_false (r.json);
    done (&r);

    /* defaults stay when a flag is not given; the last TEXT counts */
    run (&r, 0, "--deploy", "a", "--deploy", "b", NULL);
    assert_int_equal (r.rc, 0);
    assert_string_equal (r.deploy, "b");
    assert_int_equal (r.hwm, 10000);
    assert_false (r.hwm_given);
    done (&r);

    /* a value that looks like a flag is still the value */
    run (&r, 0, "--deploy", "--json", NULL);
    assert_int_equal (r.rc, 0);
    assert_string_equal (r.deploy, "--json");
    assert_false (r.json);
    done (&r);
}

static void
test_usage_errors (void **state)
{
    (void) state;
    run_t r;
    run (&r, 0, "--deploy", NULL);
    assert_int_equal (r.rc, -1);
    assert_int_equal (r.status, PINGYI_EXIT_START);
    assert_string_equal (first_line (r.err), "pingyi-test: --deploy needs a value");
    assert_non_null (strstr (r.err, "\nusage: pingyi-test --deploy DIR [--hwm N]\n"));
    assert_int_equal (r.out_len, 0);
    done (&r);

    run (&r, 0, "--deploy", "d", "--bogus", NULL);
    assert_int_equal (r.status, PINGYI_EXIT_START);
    assert_string_equal (first_line (r.err), "pingyi-test: unknown flag \"--bogus\"");
    done (&r);

    run (&r, 0, "--bogus=1", NULL);
    assert_string_equal (first_line (r.err), "pingyi-test: unknown flag \"--bogus=1\"");
    done (&r);

    /* getopt would take --dep for --deploy: refused */
    run (&r, 0, "--dep", "d", NULL);
    assert_int_equal (r.rc, -1);
    assert_string_equal (first_line (r.err), "pingyi-test: unknown flag \"--dep\"");
    done (&r);

    run (&r, 0, "--json=yes", NULL);
    assert_string_equal (first_line (r.err), "pingyi-test: --json takes no value");
    done (&r);

    run (&r, 0, "-x", NULL);
    assert_string_equal (first_line (r.err), "pingyi-test: unknown flag \"-x\"");
    done (&r);

    run (&r, 0, "--deploy", "d", "extra", NULL);
    assert_int_equal (r.status, PINGYI_EXIT_START);
    assert_string_equal (first_line (r.err), "pingyi-test: unexpected argument \"extra\"");
    done (&r);

    /* positional arguments may come between flags; "--" ends the flags */
    run (&r, 2, "first", "--deploy", "d", "--", "--json", NULL);
    assert_int_equal (r.rc, 0);
    assert_int_equal (r.cli.arg_count, 2);
    assert_string_equal (r.cli.args[0], "first");
    assert_string_equal (r.cli.args[1], "--json");
    assert_false (r.json);
    done (&r);

    /* an error found after parsing: the same line and usage */
    run (&r, 0, NULL);
    assert_int_equal (r.rc, 0);
    free (r.err); /* run's stream is closed: catch pingyi_cli_fail's in a new one */
    FILE *err = open_memstream (&r.err, &r.err_len);
    r.cli.err = err;
    assert_int_equal (pingyi_cli_fail (&r.cli, "--deploy is required"), PINGYI_EXIT_START);
    fclose (err);
    assert_string_equal (first_line (r.err), "pingyi-test: --deploy is required");
    done (&r);
}

static void
test_bad_numbers (void **state)
{
    (void) state;
    static const struct {
        const char *text;
    } bad[] = {{"12x"},
               {"x"},
               {""},
               {"-1"},
               {"+5"},
               {" 5"},
               {"5 "},
               {"0"},
               {"1000001"},
               {"18446744073709551616"},
               {"99999999999999999999999"},
               {"0x10"},
               {"1e3"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        run_t r;
        char arg[64], want[160];
        snprintf (arg, sizeof arg, "--hwm=%s", bad[i].text);
        run (&r, 0, arg, NULL);
        assert_int_equal (r.rc, -1);
        assert_int_equal (r.status, PINGYI_EXIT_START);
        snprintf (want, sizeof want, "pingyi-test: --hwm \"%s\": not a number in 1..1000000", bad[i].text);
        assert_string_equal (first_line (r.err), want);
        assert_int_equal (r.hwm, 10000); /* untouched */
        done (&r);
    }

    /* the checker alone, at the edges of uint64_t */
    char err[PINGYI_CLI_ERR_MAX];
    uint64_t v = 7;
    assert_int_equal (pingyi_cli_u64 ("--seed", "18446744073709551615", 0, UINT64_MAX, &v, err), 0);
    assert_true (v == UINT64_MAX);
    assert_int_equal (pingyi_cli_u64 ("--seed", "0", 0, UINT64_MAX, &v, err), 0);
    assert_true (v == 0);
    assert_int_equal (pingyi_cli_u64 ("--seed", "007", 0, 10, &v, err), 0);
    assert_true (v == 7);
    assert_int_equal (pingyi_cli_u64 ("--seed", "18446744073709551616", 0, UINT64_MAX, &v, err), -1);
    assert_string_equal (err, "--seed \"18446744073709551616\": not a number in 0..18446744073709551615");
    assert_int_equal (pingyi_cli_u64 ("--shard", NULL, 0, 255, &v, err), -1);
    assert_string_equal (err, "--shard \"\": not a number in 0..255");
}

static void
test_endpoints (void **state)
{
    (void) state;
    run_t r;
    run (&r, 0, "--broker", "tcp://127.0.0.1:7701, tcp://[::1]:7702", "--broker=ipc:///tmp/b.sock",
         "--broker", "tcp://*:7703,", NULL);
    assert_int_equal (r.rc, 0);
    assert_int_equal (r.brokers.count, 4);
    assert_string_equal (r.brokers.items[0], "tcp://127.0.0.1:7701");
    assert_string_equal (r.brokers.items[1], "tcp://[::1]:7702");
    assert_string_equal (r.brokers.items[2], "ipc:///tmp/b.sock");
    assert_string_equal (r.brokers.items[3], "tcp://*:7703");
    done (&r);

    static const char *const bad[] = {"127.0.0.1:7701", "tcp://127.0.0.1", "tcp://:7701", "tcp://h:0",
                                      "tcp://h:65536",  "tcp://h:77x",     "ipc://",      "udp://h:1",
                                      "tcp://[::1:1",   "tcp://a/b:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[200];
        run (&r, 0, "--broker", "tcp://127.0.0.1:7701", "--broker", bad[i], NULL);
        assert_int_equal (r.rc, -1);
        assert_int_equal (r.status, PINGYI_EXIT_START);
        snprintf (want, sizeof want,
                  "pingyi-test: --broker \"%s\": not an endpoint (tcp://HOST:PORT or ipc://PATH)", bad[i]);
        assert_string_equal (first_line (r.err), want);
        assert_int_equal (r.brokers.count, 1); /* the first flag's */
        done (&r);
    }

    /* a list with a bad member adds nothing */
    run (&r, 0, "--broker", "tcp://a:1,nope", NULL);
    assert_int_equal (r.rc, -1);
    assert_int_equal (r.brokers.count, 0);
    assert_string_equal (first_line (r.err),
                         "pingyi-test: --broker \"nope\": not an endpoint (tcp://HOST:PORT or ipc://PATH)");
    done (&r);

    run (&r, 0, "--broker", " , ", NULL);
    assert_string_equal (first_line (r.err), "pingyi-test: --broker \" , \": no endpoint given");
    done (&r);

    run (&r, 0, "--one", "tcp://h:1", NULL);
    assert_int_equal (r.rc, 0);
    assert_string_equal (r.single, "tcp://h:1");
    done (&r);
    run (&r, 0, "--one", "h:1", NULL);
    assert_string_equal (first_line (r.err),
                         "pingyi-test: --one \"h:1\": not an endpoint (tcp://HOST:PORT or ipc://PATH)");
    done (&r);
}

static void
test_help_and_version (void **state)
{
    (void) state;
    run_t r;
    run (&r, 0, "--deploy", "d", "--help", NULL);
    assert_int_equal (r.rc, -1);
    assert_int_equal (r.status, PINGYI_EXIT_OK);
    assert_int_equal (r.err_len, 0);
    assert_string_equal (r.out, "usage: pingyi-test --deploy DIR [--hwm N]\n"
                                "\n"
                                "  --deploy DIR          the deploy directory\n"
                                "  --hwm N               high-water mark\n"
                                "                        per peer\n"
                                "  --json                JSON\n"
                                "  --broker LIST         brokers\n"
                                "  --one ENDPOINT        one endpoint\n"
                                "  -h, --help            print this text and exit\n"
                                "  --version             print the version and git revision and exit\n");
    done (&r);

    run (&r, 0, "-h", NULL);
    assert_int_equal (r.status, PINGYI_EXIT_OK);
    assert_string_equal (first_line (r.out), "usage: pingyi-test --deploy DIR [--hwm N]");
    done (&r);

    run (&r, 0, "--version", NULL);
    assert_int_equal (r.rc, -1);
    assert_int_equal (r.status, PINGYI_EXIT_OK);
    assert_int_equal (r.err_len, 0);
    char want[200];
    snprintf (want, sizeof want, "pingyi-test %s (git %s)\n", pingyi_cli_version (), pingyi_cli_revision ());
    assert_string_equal (r.out, want);
    done (&r);
    /* CMake's project(VERSION): digits and dots */
    const char *v = pingyi_cli_version ();
    assert_true (strlen (v) >= 5 && strspn (v, "0123456789.") == strlen (v));
    assert_true (strlen (pingyi_cli_revision ()) > 0);

    /* help is help, not a value, only where a flag is expected */
    run (&r, 0, "--deploy", "--help", NULL);
    assert_int_equal (r.rc, 0);
    assert_string_equal (r.deploy, "--help");
    done (&r);
}

static void
test_exit_codes (void **state)
{
    (void) state;
    /* docs/exit-codes.md */
    assert_int_equal (PINGYI_EXIT_OK, 0);
    assert_int_equal (PINGYI_EXIT_FAILED, 1);
    assert_int_equal (PINGYI_EXIT_START, 2);
    assert_int_equal (PINGYI_EXIT_UNREACHED, 3);
    assert_int_equal (PINGYI_EXIT_VOID, 4);
}

static void
test_signals (void **state)
{
    (void) state;
    static volatile sig_atomic_t stop;
    assert_int_equal (pingyi_cli_signals (&stop), 0);
    raise (SIGTERM);
    assert_int_equal (stop, SIGTERM);
    stop = 0;
    raise (SIGINT);
    assert_int_equal (stop, SIGINT);
    raise (SIGPIPE); /* ignored: still here */
    struct sigaction sa;
    sigaction (SIGTERM, NULL, &sa);
    assert_false (sa.sa_flags & SA_RESTART);
    signal (SIGINT, SIG_DFL);
    signal (SIGTERM, SIG_DFL);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_value_forms),      cmocka_unit_test (test_usage_errors),
        cmocka_unit_test (test_bad_numbers),      cmocka_unit_test (test_endpoints),
        cmocka_unit_test (test_help_and_version), cmocka_unit_test (test_exit_codes),
        cmocka_unit_test (test_signals),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
