/*  cli.h — the command line of every pingyi program: one option table on
    top of getopt_long, checked numbers and endpoints, the exit codes, the
    usage, --help and --version, and the stop signals.

    A program describes its flags once, in a table of pingyi_cli_option_t
    that points at its own variables; pingyi_cli_parse fills them, and the
    same table prints the usage, so the usage lists every flag there is.
    Every message is one line that names the program, the flag and the
    value: `pingyi-broker: unknown flag "--x"`, `pingyi-broker: --hwm needs
    a value`, `pingyi-broker: --hwm "12x": not a number in 1..1000000000`;
    a usage error is followed by the usage, on stderr, and ends with
    PINGYI_EXIT_START.  `--help` prints the usage on stdout, `--version`
    "PROG VERSION (git REVISION)", both exit 0.  Values are taken as
    `--flag value` or `--flag=value`; a flag must be spelled out in full
    (getopt's abbreviations are refused: a script that works today must
    not change meaning when a flag is added tomorrow).  */
#ifndef PINGYI_CLI_H
#define PINGYI_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*  Exit codes, one scheme for every program (docs/exit-codes.md).  */
#define PINGYI_EXIT_OK 0        /* it did its job */
#define PINGYI_EXIT_FAILED 1    /* it ran, but the result is not good */
#define PINGYI_EXIT_START 2     /* it could not start, or cannot do it at all */
#define PINGYI_EXIT_UNREACHED 3 /* nobody answered in time */
#define PINGYI_EXIT_VOID 4      /* the client only: the round does not reconcile */

#define PINGYI_CLI_ERR_MAX 256

#define PINGYI_CLI_WARN_UNUSED __attribute__ ((warn_unused_result))

/*  What a flag takes, and where its value goes.  */
typedef enum {
    PINGYI_CLI_FLAG,      /* no value: *(bool *) target = true */
    PINGYI_CLI_TEXT,      /* *(const char **) target = the value (it points into argv) */
    PINGYI_CLI_U64,       /* *(uint64_t *) target = the value, a whole number in min..max */
    PINGYI_CLI_ENDPOINT,  /* *(const char **) target = one checked endpoint */
    PINGYI_CLI_ENDPOINTS, /* appended to *(pingyi_cli_list_t *) target: comma-separated, repeatable */
} pingyi_cli_kind_t;

typedef struct {
    const char *name; /* the long name without "--"; NULL ends the table */
    pingyi_cli_kind_t kind;
    void *target;
    const char *value_name; /* shown in the usage: DIR, N, LIST */
    const char *help;       /* the usage's text for it; '\n' continues it on the next line */
    uint64_t min, max;      /* PINGYI_CLI_U64 */
    bool *given;            /* if not NULL, set true when the flag is given */
} pingyi_cli_option_t;

/*  A table's rows, one per kind; PINGYI_CLI_END ends the table.  A row
    that needs `given` is written with designated initializers.  */
#define PINGYI_CLI_OPT_FLAG(name, target, help)                                                              \
    {                                                                                                        \
        (name), PINGYI_CLI_FLAG, (target), NULL, (help), 0, 0, NULL                                          \
    }
#define PINGYI_CLI_OPT_TEXT(name, target, value_name, help)                                                  \
    {                                                                                                        \
        (name), PINGYI_CLI_TEXT, (target), (value_name), (help), 0, 0, NULL                                  \
    }
#define PINGYI_CLI_OPT_U64(name, target, value_name, help, min, max)                                         \
    {                                                                                                        \
        (name), PINGYI_CLI_U64, (target), (value_name), (help), (min), (max), NULL                           \
    }
#define PINGYI_CLI_OPT_ENDPOINT(name, target, value_name, help)                                              \
    {                                                                                                        \
        (name), PINGYI_CLI_ENDPOINT, (target), (value_name), (help), 0, 0, NULL                              \
    }
#define PINGYI_CLI_OPT_ENDPOINTS(name, target, value_name, help)                                             \
    {                                                                                                        \
        (name), PINGYI_CLI_ENDPOINTS, (target), (value_name), (help), 0, 0, NULL                             \
    }
#define PINGYI_CLI_END                                                                                       \
    {                                                                                                        \
        NULL, PINGYI_CLI_FLAG, NULL, NULL, NULL, 0, 0, NULL                                                  \
    }

/*  Endpoints given to a PINGYI_CLI_ENDPOINTS flag, in order; each a malloc'd
    string, the array malloc'd: the caller owns them (pingyi_cli_list_fini).  */
typedef struct {
    char **items;
    size_t count;
} pingyi_cli_list_t;

typedef struct {
    const char *prog;                   /* "pingyi-broker", "pingyi check": starts every message */
    const char *synopsis;               /* the usage's first lines, after "usage: " */
    const char *epilogue;               /* printed after the flags, or NULL */
    const pingyi_cli_option_t *options; /* ends with {NULL} */
    int args_min, args_max;             /* positional arguments allowed (0, 0 by default) */
    FILE *out, *err;                    /* NULL: stdout, stderr (the tests capture them) */
    bool logs;                          /* a daemon: the log flags too (pingyi_cli_log_options) */
    /* filled by pingyi_cli_parse: the positional arguments */
    char **args;
    int arg_count;
} pingyi_cli_t;

/*  The log flags of every long-running program (broker, worker, client,
    aggregator), taken by pingyi_cli_parse after the table's own when
    cli->logs is set, and listed in its usage after them:

      --log-level LEVEL    debug, info (default), warn or error: lines below it are dropped
      --log-format FORMAT  text (default) or json (one object a line)
      --log-file PATH      append the log there (O_APPEND|O_CREAT, 0640) instead of stderr;
                           SIGHUP reopens it (logrotate moves it away, then sends SIGHUP)

    A parse that succeeds applies them (pingyi_log_setup, pingyi_log_open,
    and with --log-file a SIGHUP handler that asks for the reopen).  A bad
    level or format is a usage error; a log file that cannot be opened
    stops the parse with "PROG: --log-file PATH: cannot open: REASON" and
    PINGYI_EXIT_START.  The rows (ending with PINGYI_CLI_END), for the
    usage and the tests.  */
const pingyi_cli_option_t *pingyi_cli_log_options (void);

/*  Parse argv[1..argc-1] into the table's targets.  0: go on (cli->args
    holds the positional arguments).  -1: stop now and exit with *status:
    PINGYI_EXIT_OK after --help or --version (printed on cli->out),
    PINGYI_EXIT_START after a usage error (its line and the usage printed
    on cli->err).  Targets keep their defaults when a flag is not given;
    for TEXT and ENDPOINT the last one given counts.  argv may be permuted
    (positional arguments may come between flags; "--" ends the flags).  */
int pingyi_cli_parse (pingyi_cli_t *cli, int argc, char **argv, int *status) PINGYI_CLI_WARN_UNUSED;

/*  A usage error found after parsing (a required flag missing, two that
    exclude each other): "PROG: TEXT" and the usage on cli->err.  Returns
    PINGYI_EXIT_START, for `return pingyi_cli_fail (&cli, "...")`.  */
int pingyi_cli_fail (const pingyi_cli_t *cli, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

/*  The usage: "usage: SYNOPSIS", then every flag of the table, --help and
    --version with their help text, then the epilogue.  */
void pingyi_cli_usage (const pingyi_cli_t *cli, FILE *out);

/*  "PROG VERSION (git REVISION)\n", e.g. "pingyi-broker 0.1.0 (git 1a2b3c4d)".  */
void pingyi_cli_print_version (const char *prog, FILE *out);

/*  The version (CMake's project VERSION) and the git revision the build
    was configured from (`git describe --always --dirty`, or "unknown").  */
const char *pingyi_cli_version (void);
const char *pingyi_cli_revision (void);

/*  A whole decimal number in min..max: digits only (no sign, no space, no
    trailing junk, no overflow).  0, or -1 with err (PINGYI_CLI_ERR_MAX)
    naming the flag, the value and the range:
    `--hwm "12x": not a number in 1..1000000000`.  */
int pingyi_cli_u64 (const char *flag, const char *text, uint64_t min, uint64_t max, uint64_t *out,
                    char *err) PINGYI_CLI_WARN_UNUSED;

/*  One endpoint as ZeroMQ takes it here: tcp://HOST:PORT (HOST a name, an
    address, [IPv6] or *; PORT 1..65535 or *) or ipc://PATH.  0, or -1
    with err naming the flag and the value.  */
int pingyi_cli_endpoint_check (const char *flag, const char *text, char *err) PINGYI_CLI_WARN_UNUSED;

/*  Append each endpoint of a comma-separated list (spaces around one and
    empty items are skipped), every one checked first: on error nothing
    is appended.  0, or -1 with err.  */
int pingyi_cli_list_add (pingyi_cli_list_t *self, const char *flag, const char *text,
                         char *err) PINGYI_CLI_WARN_UNUSED;

/*  Free the endpoints and empty the list; safe twice.  */
void pingyi_cli_list_fini (pingyi_cli_list_t *self);

/*  SIGINT and SIGTERM store their signal number in *stop (a daemon's main
    loop checks it); installed with sigaction without SA_RESTART, so a
    blocking zmq_poll returns EINTR at once.  SIGPIPE is ignored: a peer
    that goes away is an error return, not the end of the process.  0 / -1.  */
int pingyi_cli_signals (volatile sig_atomic_t *stop);

#endif
