/*  pingyi — the admin command: check a definition, create a deploy
    directory, generate drill elections, read shards offline.

    Each subcommand is a function taking (argc, argv) after its name and
    returning the process exit status (docs/exit-codes.md): 0 done, 1 the
    input was refused or the result is not good (every reason printed), 2
    usage or environment error (it could not be done at all), 3 not
    reached (`pingyi stats`: no answer from the broker).  */
#include "cli.h"
#include "tools.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run) (int argc, char **argv);
    const char *usage;
} command_t;

static const command_t commands[] = {
    {"check", pingyi_cmd_check,
     "check DEFINITION.json            validate a definition, print a summary or every error"},
    {"init", pingyi_cmd_init, "init DEFINITION.json DEPLOY_DIR [--workers N] [--venue-archive OUT]   create keys and host bundles"},
    {"gen-election", pingyi_cmd_gen_election,
     "gen-election [--districts N] [--venues-per-district N] [--subjects N] [--form-subjects N]\n"
     "               [--items N] [--shards N] [--seed S] [--out FILE]   write a citywide drill definition"},
    {"fingerprint", pingyi_cmd_fingerprint,
     "fingerprint DEFINITION.json      print the election fingerprint (SHA-256)"},
    {"pubkey", pingyi_cmd_pubkey,
     "pubkey SECRET_KEY_FILE           print the public key of a secret key file"},
    {"stats", pingyi_cmd_stats,
     "stats --deploy DIR --broker ENDPOINT [--shard N] [--json]   counters of the broker or a shard's "
     "worker"},
    {"monitor", pingyi_cmd_monitor,
     "monitor --deploy DIR --broker ENDPOINT [--once [--json]]   the live view of broker, workers, shards "
     "and venues"},
    {"reopen", pingyi_cmd_reopen,
     "reopen --deploy DIR --broker ENDPOINT --venue ID --reason TEXT   reopen a closed venue (a correction, "
     "recorded with its reason)"},
    {"tally", pingyi_cmd_tally,
     "tally --deploy DIR --data DIR [--json] [--recount]   read shard files offline, print the view"},
    {"log", pingyi_cmd_log,
     "log --deploy DIR --data DIR [--shard N] [--worker N]   every accepted ballot, opened, in storage order "
     "(needs the recount bundle)"},
    {"query", pingyi_cmd_query,
     "query [--by LEVEL] [--district D] [--category C] [--item I] [--format table|csv|json|xlsx]\n"
     "               [--venues] [--out FILE] [--width N] [--timeout S]\n"
     "               --deploy DIR (--data DIR | --agg http://HOST:PORT)   the view at any level"},
    {"template", pingyi_cmd_template,
     "template (--deploy DIR | --definition DEF.json) --venue ID [--format csv|xlsx]\n"
     "               [--encoding utf-8|gb18030] [--out FILE]   an empty ballot file (CSV header or workbook)"},
};

static void
usage (FILE *out)
{
    fprintf (out, "usage: pingyi COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf (out, "  pingyi %s\n", commands[i].usage);
    fprintf (out, "\n  pingyi --help | --version\n  pingyi COMMAND --help     every flag of COMMAND\n");
}

int
main (int argc, char **argv)
{
    pingyi_log_prog = "pingyi";
    if (argc < 2 || !strcmp (argv[1], "-h") || !strcmp (argv[1], "--help")) {
        usage (argc < 2 ? stderr : stdout);
        return argc < 2 ? PINGYI_EXIT_START : PINGYI_EXIT_OK;
    }
    if (!strcmp (argv[1], "--version")) {
        pingyi_cli_print_version ("pingyi", stdout);
        return PINGYI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp (argv[1], commands[i].name))
            return commands[i].run (argc - 1, argv + 1);
    fprintf (stderr, "pingyi: unknown command \"%s\"\n", argv[1]);
    usage (stderr);
    return PINGYI_EXIT_START;
}
