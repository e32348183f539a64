/*  definition.c — `pingyi check`, `pingyi init`, `pingyi gen-election`,
    `pingyi fingerprint`: the commands that work on a definition file.

    Exit (docs/exit-codes.md): 0 done; 1 the definition (or key file, or
    deploy directory) is refused, every reason printed; 2 usage, or a
    definition file that cannot be opened at all.  */
#include "cli.h"
#include "deploy.h"
#include "tools.h"
#include "gen_election.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/*  A subcommand whose only argument is a file, and no flag but --help and
    --version: the file, or NULL with *status to exit with.  */
static const char *
one_file (const char *prog, const char *synopsis, int argc, char **argv, int *status)
{
    pingyi_cli_t cli = {.prog = prog, .synopsis = synopsis, .args_min = 1, .args_max = 1};
    return pingyi_cli_parse (&cli, argc, argv, status) ? NULL : cli.args[0];
}

/*  A definition that cannot be opened is not an invalid one: the check
    cannot be made at all (exit 2, not 1).  0 / -1 with the reason printed.  */
static int
definition_readable (const char *cmd, const char *path)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        fprintf (stderr, "pingyi %s: %s: cannot open: %s\n", cmd, path, strerror (errno));
        return -1;
    }
    fclose (f);
    return 0;
}

int
pingyi_cmd_check (int argc, char **argv)
{
    int status;
    const char *path = one_file ("pingyi check",
                                 "pingyi check DEFINITION.json\n"
                                 "  validate a definition: a summary, or every error with its JSON path",
                                 argc, argv, &status);
    if (!path)
        return status;
    if (definition_readable ("check", path))
        return 2;
    pingyi_errlist_t errs = {0};
    pingyi_election_t *election = pingyi_election_load (path, &errs);
    if (!election) {
        for (size_t i = 0; i < errs.count; i++)
            fprintf (stderr, "%s: %s\n", path, errs.lines[i]);
        fprintf (stderr, "%s: %zu error%s\n", path, errs.count, errs.count == 1 ? "" : "s");
        pingyi_errlist_clear (&errs);
        return 1;
    }
    pingyi_election_print_summary (election, stdout);
    /*  Warnings do not fail the check: the definition is valid, but
        probably not what was meant.  After the summary, on stderr.  */
    fflush (stdout);
    pingyi_errlist_t warnings = {0};
    size_t n = pingyi_election_warnings (election, &warnings);
    for (size_t i = 0; i < warnings.count; i++)
        fprintf (stderr, "%s: warning: %s\n", path, warnings.lines[i]);
    if (n)
        fprintf (stderr, "%s: %zu warning%s\n", path, n, n == 1 ? "" : "s");
    pingyi_errlist_clear (&warnings);
    pingyi_election_destroy (&election);
    return 0;
}

int
pingyi_cmd_fingerprint (int argc, char **argv)
{
    int status;
    const char *path =
        one_file ("pingyi fingerprint",
                  "pingyi fingerprint DEFINITION.json\n  print the election fingerprint (SHA-256)", argc,
                  argv, &status);
    if (!path)
        return status;
    if (definition_readable ("fingerprint", path))
        return 2;
    char err[PINGYI_ERR_MAX];
    pingyi_election_t *election = pingyi_election_load_or_err (path, err);
    if (!election) {
        fprintf (stderr, "pingyi: %s\n", err);
        return 1;
    }
    printf ("%s\n", election->fingerprint_hex);
    pingyi_election_destroy (&election);
    return 0;
}

int
pingyi_cmd_init (int argc, char **argv)
{
    const char *archives = NULL;
    uint64_t workers = 2;
    const pingyi_cli_option_t options[] = {
        PINGYI_CLI_OPT_U64 ("workers", &workers, "N",
                            "worker keys to make, the shards shared among them (1..256,\ndefault 2)", 1, 256),
        PINGYI_CLI_OPT_TEXT ("venue-archive", &archives, "OUT_DIR",
                             "also write OUT_DIR/ID.tar, one archive per venue host"),
        PINGYI_CLI_END,
    };
    pingyi_cli_t cli = {
        .prog = "pingyi init",
        .synopsis = "pingyi init DEFINITION.json DEPLOY_DIR [--workers N] [--venue-archive OUT_DIR]\n"
                    "  create every key and one bundle per host (docs/keys.md)",
        .options = options,
        .args_min = 2,
        .args_max = 2,
    };
    int status;
    if (pingyi_cli_parse (&cli, argc, argv, &status))
        return status;
    const char *definition = cli.args[0], *dir = cli.args[1];
    char err[PINGYI_ERR_MAX];
    if (pingyi_deploy_init (definition, dir, (unsigned) workers, err)) {
        fprintf (stderr, "pingyi init: %s\n", err);
        return 1;
    }
    printf ("deploy directory %s: keys for the election, the broker, %u worker%s, the aggregator, an "
            "operator and "
            "every venue;\nsend each host only its own bundle (broker/, worker/N/, aggregator/, operator/, "
            "venue/ID/)\n",
            dir, (unsigned) workers, workers == 1 ? "" : "s");
    if (archives) {
        if (pingyi_deploy_venue_archives (dir, archives, err)) {
            fprintf (stderr, "pingyi init: %s (the deploy directory %s is complete; %s was not made)\n", err,
                     dir, archives);
            return 1;
        }
        printf ("venue archives in %s: one ID.tar per venue host (its bundle folder, secrets 0600); on the "
                "venue laptop: tar xf ID.tar && pingyi-client --deploy ID --venue ID ...\n",
                archives);
    }
    return 0;
}

int
pingyi_cmd_gen_election (int argc, char **argv)
{
    pingyi_gen_options_t o = {.districts = 12,
                              .venues_per_district = 10,
                              .subjects = 40,
                              .form_subjects = 11,
                              .items = 6,
                              .shards = 16,
                              .seed = 1};
    const char *out_path = NULL;
    uint64_t districts = o.districts, venues = o.venues_per_district, subjects = o.subjects,
             form_subjects = o.form_subjects, items = o.items, shards = o.shards;
    const pingyi_cli_option_t options[] = {
        PINGYI_CLI_OPT_U64 ("districts", &districts, "N", "districts (1..1000, default 12)", 1, 1000),
        PINGYI_CLI_OPT_U64 ("venues-per-district", &venues, "N",
                            "venues in each district (1..10000, default 10)", 1, 10000),
        PINGYI_CLI_OPT_U64 ("subjects", &subjects, "N", "officials evaluated (1..60000, default 40)", 1,
                            60000),
        PINGYI_CLI_OPT_U64 ("form-subjects", &form_subjects, "N",
                            "officials on each venue's form (1..64, default 11)", 1, 64),
        PINGYI_CLI_OPT_U64 ("items", &items, "N", "single-item columns (1..16, default 6)", 1, 16),
        PINGYI_CLI_OPT_U64 ("shards", &shards, "N", "shards (1..256, default 16)", 1, 256),
        PINGYI_CLI_OPT_U64 ("seed", &o.seed, "S", "the seed: the same seed, the same definition (default 1)",
                            0, UINT64_MAX),
        PINGYI_CLI_OPT_TEXT ("out", &out_path, "FILE", "write it there (default: stdout)"),
        PINGYI_CLI_END,
    };
    pingyi_cli_t cli = {
        .prog = "pingyi gen-election",
        .synopsis = "pingyi gen-election [--districts N] [--venues-per-district N] [--subjects N]\n"
                    "                           [--form-subjects N] [--items N] [--shards N] [--seed S] "
                    "[--out FILE]\n"
                    "  write a citywide drill definition",
        .options = options,
    };
    int status;
    if (pingyi_cli_parse (&cli, argc, argv, &status))
        return status;
    o.districts = (unsigned) districts;
    o.venues_per_district = (unsigned) venues;
    o.subjects = (unsigned) subjects;
    o.form_subjects = (unsigned) form_subjects;
    o.items = (unsigned) items;
    o.shards = (unsigned) shards;
    FILE *out = out_path ? fopen (out_path, "w") : stdout;
    if (!out) {
        fprintf (stderr, "pingyi: %s: cannot create: %s\n", out_path, strerror (errno));
        return 2;
    }
    char err[PINGYI_ERR_MAX];
    int rc = pingyi_election_generate (&o, out, err);
    if (out_path && fclose (out) != 0 && rc == 0) {
        snprintf (err, sizeof err, "%s: write failed", out_path);
        rc = -1;
    }
    if (rc) {
        fprintf (stderr, "pingyi gen-election: %s\n", err);
        return 1;
    }
    return 0;
}

int
pingyi_cmd_pubkey (int argc, char **argv)
{
    int status;
    const char *path = one_file ("pingyi pubkey",
                                 "pingyi pubkey SECRET_KEY_FILE\n  print the public key of a secret key file",
                                 argc, argv, &status);
    if (!path)
        return status;
    uint8_t secret[PINGYI_KEY_LEN], public_key[PINGYI_KEY_LEN];
    char err[PINGYI_ERR_MAX], hex[2 * PINGYI_KEY_LEN + 1];
    if (pingyi_key_read_secret (path, secret, err)) {
        fprintf (stderr, "pingyi pubkey: %s\n", err);
        return 1;
    }
    pingyi_key_public (public_key, secret);
    sodium_memzero (secret, sizeof secret);
    pingyi_hex (hex, public_key, PINGYI_KEY_LEN);
    printf ("%s\n", hex);
    return 0;
}
