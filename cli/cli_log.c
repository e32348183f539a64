/*  cli_log.c — the log flags every long-running program takes (cli.h,
    pingyi_cli_log_options): --log-level, --log-format, --log-file, and the
    SIGHUP that reopens the log file.  The lines themselves are written by
    pingyi_log (proto/common.c); JSON strings by the project's one JSON
    string writer (text/json_text.h).  */
#define _GNU_SOURCE
#include "cli_log.h"

/* the cli library is built with cli/ alone on its include path */
#include "common.h"
#include "json_text.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

static const char *s_level = "info";
static const char *s_format = "text";
static const char *s_file = NULL;

static const pingyi_cli_option_t s_options[] = {
    PINGYI_CLI_OPT_TEXT ("log-level", &s_level, "LEVEL",
                         "log lines at LEVEL and above: debug, info, warn or error\n(default info)"),
    PINGYI_CLI_OPT_TEXT ("log-format", &s_format, "FORMAT",
                         "text (default): \"TIME PROG LEVEL: message\", TIME in RFC 3339 UTC;\n"
                         "json: one object a line: time, level, component, msg"),
    PINGYI_CLI_OPT_TEXT ("log-file", &s_file, "PATH",
                         "append the log to PATH (created with mode 0640) instead of stderr;\n"
                         "SIGHUP reopens it (move it away, then send SIGHUP)"),
    PINGYI_CLI_END,
};

const pingyi_cli_option_t *
pingyi_cli_log_options (void)
{
    return s_options;
}

void
pingyi_cli_log_reset (void)
{
    s_level = "info";
    s_format = "text";
    s_file = NULL;
}

static void
on_hup (int sig)
{
    (void) sig;
    pingyi_log_reopen_request ();
}

int
pingyi_cli_log_apply (const pingyi_cli_t *cli, int *status)
{
    int level = pingyi_log_level_parse (s_level);
    if (level < 0) {
        *status = pingyi_cli_fail (cli, "--log-level \"%s\": not one of debug, info, warn, error", s_level);
        return -1;
    }
    pingyi_log_format_t format;
    if (!strcmp (s_format, "text"))
        format = PINGYI_LOG_TEXT;
    else if (!strcmp (s_format, "json"))
        format = PINGYI_LOG_JSON;
    else {
        *status = pingyi_cli_fail (cli, "--log-format \"%s\": not text or json", s_format);
        return -1;
    }
    if (s_file && !*s_file) {
        *status = pingyi_cli_fail (cli, "--log-file needs a path");
        return -1;
    }
    if (s_file) {
        char err[PINGYI_ERR_MAX];
        if (pingyi_log_open (s_file, err)) {
            /* err is "PATH: cannot open: REASON" */
            fprintf (cli->err ? cli->err : stderr, "%s: --log-file %s\n", cli->prog, err);
            *status = PINGYI_EXIT_START;
            return -1;
        }
        /* SA_RESTART: a read or write in progress goes on; zmq_poll and
           poll return EINTR all the same, and every loop goes round */
        struct sigaction sa;
        memset (&sa, 0, sizeof sa);
        sa.sa_handler = on_hup;
        sa.sa_flags = SA_RESTART;
        sigemptyset (&sa.sa_mask);
        if (sigaction (SIGHUP, &sa, NULL)) {
            fprintf (cli->err ? cli->err : stderr, "%s: SIGHUP: %s\n", cli->prog, strerror (errno));
            *status = PINGYI_EXIT_START;
            return -1;
        }
    }
    pingyi_log_setup ((pingyi_log_level_t) level, format, pingyi_json_write_text);
    return 0;
}
