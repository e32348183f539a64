/*  cli.c — the command line of every pingyi program (cli.h).

    getopt_long does the scanning (permutation, `--flag=value`, "--"); this
    file adds what getopt leaves to each program: our own messages (getopt's
    name the program by its path and vary with the C library), values
    checked where they enter, abbreviations refused, and a usage printed
    from the same table that parses, so the two cannot drift apart.

    getopt keeps its state in globals (optind, optarg): parsing is not
    reentrant, which a main() never needs; optind = 0 starts every parse
    afresh, so the unit tests can parse many command lines in one process.  */
#define _GNU_SOURCE
#include "cli.h"
#include "cli_log.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#ifndef PINGYI_VERSION
#define PINGYI_VERSION "unknown"
#endif
#ifndef PINGYI_GIT_REV
#define PINGYI_GIT_REV "unknown"
#endif

#define OPT_BASE 256   /* getopt's val for table entry i is OPT_BASE + i */
#define OPT_VERSION 1  /* --version (no short form) */
#define HELP_COLUMN 24 /* where the help text of a flag starts in the usage */

const char *
pingyi_cli_version (void)
{
    return PINGYI_VERSION;
}

const char *
pingyi_cli_revision (void)
{
    return PINGYI_GIT_REV;
}

void
pingyi_cli_print_version (const char *prog, FILE *out)
{
    fprintf (out, "%s %s (git %s)\n", prog, PINGYI_VERSION, PINGYI_GIT_REV);
}

/*  --------------------------------------------------------------------------
    Values  */

static int fail (char *err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static int
fail (char *err, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (err, PINGYI_CLI_ERR_MAX, fmt, ap);
    va_end (ap);
    return -1;
}

int
pingyi_cli_u64 (const char *flag, const char *text, uint64_t min, uint64_t max, uint64_t *out, char *err)
{
    /* strtoull alone would take " 12", "+12" and "-1" (as 2^64 - 1) */
    bool digits = text && *text;
    for (const char *p = text; digits && *p; p++)
        digits = *p >= '0' && *p <= '9';
    unsigned long long v = 0;
    if (digits) {
        errno = 0;
        v = strtoull (text, NULL, 10);
    }
    if (!digits || errno == ERANGE || v < min || v > max)
        return fail (err, "%s \"%s\": not a number in %llu..%llu", flag, text ? text : "",
                     (unsigned long long) min, (unsigned long long) max);
    *out = v;
    return 0;
}

static bool
port_ok (const char *p)
{
    if (!strcmp (p, "*"))
        return true;
    size_t n = strlen (p);
    if (n < 1 || n > 5 || strspn (p, "0123456789") != n)
        return false;
    long v = strtol (p, NULL, 10);
    return v >= 1 && v <= 65535;
}

int
pingyi_cli_endpoint_check (const char *flag, const char *text, char *err)
{
    bool ok = false;
    if (!strncmp (text, "ipc://", 6))
        ok = text[6] != 0;
    else if (!strncmp (text, "tcp://", 6)) {
        const char *host = text + 6, *colon;
        if (*host == '[') {
            const char *close = strchr (host, ']');
            colon = close && close[1] == ':' ? close + 1 : NULL;
            ok = colon && close > host + 1;
        }
        else {
            colon = strrchr (host, ':');
            ok = colon && colon > host;
        }
        /* a host is a name, an address or *: nothing that ZeroMQ would
           read as a path, a list or a second endpoint */
        ok = ok && strcspn (host, "/, \t") >= (size_t) (colon - host) && port_ok (colon + 1);
    }
    if (!ok)
        return fail (err, "%s \"%s\": not an endpoint (tcp://HOST:PORT or ipc://PATH)", flag, text);
    return 0;
}

int
pingyi_cli_list_add (pingyi_cli_list_t *self, const char *flag, const char *text, char *err)
{
    char *copy = strdup (text);
    if (!copy)
        return fail (err, "%s: out of memory", flag);
    /* check every one before keeping any */
    size_t added = 0;
    int rc = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        strcpy (copy, text);
        char *save = NULL;
        for (char *tok = strtok_r (copy, ",", &save); tok && rc == 0; tok = strtok_r (NULL, ",", &save)) {
            tok += strspn (tok, " \t");
            size_t len = strlen (tok);
            while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
                tok[--len] = 0;
            if (!len)
                continue;
            if (pass == 0) {
                rc = pingyi_cli_endpoint_check (flag, tok, err);
                added++;
                continue;
            }
            char **grown = realloc (self->items, (self->count + 1) * sizeof *grown);
            if (grown)
                self->items = grown;
            if (!grown || !(self->items[self->count] = strdup (tok)))
                rc = fail (err, "%s: out of memory", flag);
            else
                self->count++;
        }
        if (pass == 0 && rc == 0 && !added)
            rc = fail (err, "%s \"%s\": no endpoint given", flag, text);
    }
    free (copy);
    return rc;
}

void
pingyi_cli_list_fini (pingyi_cli_list_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        free (self->items[i]);
    free (self->items);
    self->items = NULL;
    self->count = 0;
}

/*  --------------------------------------------------------------------------
    The usage  */

static void
print_help (FILE *out, int used, const char *help)
{
    if (used >= HELP_COLUMN - 1) {
        fputc ('\n', out);
        used = 0;
    }
    fprintf (out, "%*s", HELP_COLUMN - used, "");
    for (const char *p = help; *p; p++) {
        fputc (*p, out);
        if (*p == '\n' && p[1])
            fprintf (out, "%*s", HELP_COLUMN, "");
    }
    fputc ('\n', out);
}

static void
print_options (FILE *out, const pingyi_cli_option_t *o)
{
    for (; o && o->name; o++) {
        int used = 0;
        if (o->kind == PINGYI_CLI_FLAG)
            fprintf (out, "  --%s%n", o->name, &used);
        else
            fprintf (out, "  --%s %s%n", o->name, o->value_name ? o->value_name : "VALUE", &used);
        print_help (out, used, o->help ? o->help : "");
    }
}

void
pingyi_cli_usage (const pingyi_cli_t *cli, FILE *out)
{
    fprintf (out, "usage: %s\n\n", cli->synopsis);
    print_options (out, cli->options);
    if (cli->logs)
        print_options (out, pingyi_cli_log_options ());
    print_help (out, fprintf (out, "  -h, --help"), "print this text and exit");
    print_help (out, fprintf (out, "  --version"), "print the version and git revision and exit");
    if (cli->epilogue)
        fprintf (out, "\n%s", cli->epilogue);
}

static FILE *
err_stream (const pingyi_cli_t *cli)
{
    return cli->err ? cli->err : stderr;
}

int
pingyi_cli_fail (const pingyi_cli_t *cli, const char *fmt, ...)
{
    FILE *err = err_stream (cli);
    va_list ap;
    va_start (ap, fmt);
    fprintf (err, "%s: ", cli->prog);
    vfprintf (err, fmt, ap);
    va_end (ap);
    fputc ('\n', err);
    pingyi_cli_usage (cli, err);
    return PINGYI_EXIT_START;
}

/*  --------------------------------------------------------------------------
    Parsing  */

/*  The option a "--name" or "--name=value" token spells out in full, or
    NULL (an abbreviation, or no such flag).  */
static const struct option *
spelled (const struct option *longs, const char *token)
{
    if (strncmp (token, "--", 2))
        return NULL;
    token += 2;
    size_t len = strcspn (token, "=");
    for (const struct option *o = longs; o->name; o++)
        if (strlen (o->name) == len && !strncmp (o->name, token, len))
            return o;
    return NULL;
}

/*  Store one flag's value.  0, or -1 with err.  */
static int
take (const pingyi_cli_option_t *o, const char *value, char *err)
{
    char flag[96];
    snprintf (flag, sizeof flag, "--%s", o->name);
    switch (o->kind) {
    case PINGYI_CLI_FLAG:
        *(bool *) o->target = true;
        break;
    case PINGYI_CLI_TEXT:
        *(const char **) o->target = value;
        break;
    case PINGYI_CLI_U64:
        if (pingyi_cli_u64 (flag, value, o->min, o->max, o->target, err))
            return -1;
        break;
    case PINGYI_CLI_ENDPOINT:
        if (pingyi_cli_endpoint_check (flag, value, err))
            return -1;
        *(const char **) o->target = value;
        break;
    case PINGYI_CLI_ENDPOINTS:
        if (pingyi_cli_list_add (o->target, flag, value, err))
            return -1;
        break;
    }
    if (o->given)
        *o->given = true;
    return 0;
}

/*  Row i of the flags a parse takes: the table's, then the log flags'.  */
static const pingyi_cli_option_t *
option_at (const pingyi_cli_t *cli, size_t own, size_t i)
{
    return i < own ? &cli->options[i] : &pingyi_cli_log_options ()[i - own];
}

int
pingyi_cli_parse (pingyi_cli_t *cli, int argc, char **argv, int *status)
{
    FILE *out = cli->out ? cli->out : stdout;
    size_t own = 0, n;
    while (cli->options && cli->options[own].name)
        own++;
    n = own;
    if (cli->logs) {
        pingyi_cli_log_reset ();
        for (const pingyi_cli_option_t *o = pingyi_cli_log_options (); o->name; o++)
            n++;
    }
    struct option *longs = calloc (n + 3, sizeof *longs);
    if (!longs) {
        fprintf (err_stream (cli), "%s: out of memory\n", cli->prog);
        *status = PINGYI_EXIT_START;
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const pingyi_cli_option_t *o = option_at (cli, own, i);
        longs[i] = (struct option){o->name, o->kind == PINGYI_CLI_FLAG ? no_argument : required_argument,
                                   NULL, OPT_BASE + (int) i};
    }
    longs[n] = (struct option){"help", no_argument, NULL, 'h'};
    longs[n + 1] = (struct option){"version", no_argument, NULL, OPT_VERSION};

    char err[PINGYI_CLI_ERR_MAX] = "";
    int c, rc = 0;
    cli->args = NULL;
    cli->arg_count = 0;
    optind = 0; /* a fresh scan (glibc): the tests parse many command lines */
    opterr = 0; /* our words, not getopt's */
    while (rc == 0) {
        optarg = NULL;
        if ((c = getopt_long (argc, argv, ":h", longs, NULL)) == -1)
            break;
        /* the flag's own token: before its value when that came separately */
        const char *token =
            optarg && optind >= 2 && optarg == argv[optind - 1] ? argv[optind - 2] : argv[optind - 1];
        if (c == '?' && optopt > OPT_VERSION && optopt < OPT_BASE && strncmp (token, "--", 2)) {
            /* an unknown short flag (-x); getopt_long gives a long one's val */
            snprintf (err, sizeof err, "unknown flag \"-%c\"", optopt);
            rc = -1;
            break;
        }
        const struct option *o = spelled (longs, token);
        if (c == '?' || (c != 'h' && !o) || (c == 'h' && token[1] == '-' && !o)) {
            /* unknown or abbreviated; "--json=1" is a flag that takes no value */
            if (o && o->has_arg == no_argument && strchr (token, '='))
                snprintf (err, sizeof err, "--%s takes no value", o->name);
            else
                snprintf (err, sizeof err, "unknown flag \"%s\"", token);
            rc = -1;
        }
        else if (c == ':') {
            snprintf (err, sizeof err, "--%s needs a value", o->name);
            rc = -1;
        }
        else if (c == 'h') {
            pingyi_cli_usage (cli, out);
            *status = PINGYI_EXIT_OK;
            free (longs);
            return -1;
        }
        else if (c == OPT_VERSION) {
            pingyi_cli_print_version (cli->prog, out);
            *status = PINGYI_EXIT_OK;
            free (longs);
            return -1;
        }
        else if (take (option_at (cli, own, (size_t) (c - OPT_BASE)), optarg, err)) {
            rc = -1;
        }
    }
    free (longs);
    if (rc == 0) {
        cli->args = argv + optind;
        cli->arg_count = argc - optind;
        if (cli->arg_count > cli->args_max)
            snprintf (err, sizeof err, "unexpected argument \"%s\"", cli->args[cli->args_max]);
        else if (cli->arg_count < cli->args_min)
            snprintf (err, sizeof err, "%d argument%s needed, %d given", cli->args_min,
                      cli->args_min == 1 ? "" : "s", cli->arg_count);
        else if (cli->logs)
            return pingyi_cli_log_apply (cli, status);
        else
            return 0;
    }
    *status = pingyi_cli_fail (cli, "%s", err);
    return -1;
}

/*  --------------------------------------------------------------------------
    Signals  */

static volatile sig_atomic_t *s_stop;

static void
on_stop (int sig)
{
    *s_stop = sig;
}

int
pingyi_cli_signals (volatile sig_atomic_t *stop)
{
    s_stop = stop;
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = on_stop; /* no SA_RESTART: zmq_poll returns EINTR */
    sigemptyset (&sa.sa_mask);
    struct sigaction ignore;
    memset (&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigemptyset (&ignore.sa_mask);
    if (sigaction (SIGINT, &sa, NULL) || sigaction (SIGTERM, &sa, NULL) || sigaction (SIGPIPE, &ignore, NULL))
        return -1;
    return 0;
}
