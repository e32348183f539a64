/*  definition.c — `pingyi check`, `pingyi init`, `pingyi gen-election`,
    `pingyi fingerprint`: the commands that work on a definition file.

    Exit (docs/exit-codes.md): 0 done; 1 the definition (or key file, or
    deploy directory) is refused, every reason printed; 2 usage, or a
    definition file that cannot be opened at all.  */
#include "deploy.h"
#include "tools.h"
#include "gen_election.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

unsigned long
pingyi_arg_ulong (const char *flag, const char *value, unsigned long min, unsigned long max)
{
    char *end;
    errno = 0;
    unsigned long v = value ? strtoul (value, &end, 10) : 0;
    if (!value || !*value || *end || errno || v < min || v > max || value[0] == '-') {
        fprintf (stderr, "pingyi: %s %s: expected a whole number from %lu to %lu\n", flag,
                 value ? value : "(missing)", min, max);
        exit (2);
    }
    return v;
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
    if (argc != 2) {
        fprintf (stderr, "usage: pingyi check DEFINITION.json\n");
        return 2;
    }
    if (definition_readable ("check", argv[1]))
        return 2;
    pingyi_errlist_t errs = {0};
    pingyi_election_t *election = pingyi_election_load (argv[1], &errs);
    if (!election) {
        for (size_t i = 0; i < errs.count; i++)
            fprintf (stderr, "%s: %s\n", argv[1], errs.lines[i]);
        fprintf (stderr, "%s: %zu error%s\n", argv[1], errs.count, errs.count == 1 ? "" : "s");
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
        fprintf (stderr, "%s: warning: %s\n", argv[1], warnings.lines[i]);
    if (n)
        fprintf (stderr, "%s: %zu warning%s\n", argv[1], n, n == 1 ? "" : "s");
    pingyi_errlist_clear (&warnings);
    pingyi_election_destroy (&election);
    return 0;
}

int
pingyi_cmd_fingerprint (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: pingyi fingerprint DEFINITION.json\n");
        return 2;
    }
    if (definition_readable ("fingerprint", argv[1]))
        return 2;
    char err[PINGYI_ERR_MAX];
    pingyi_election_t *election = pingyi_election_load_or_err (argv[1], err);
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
    static const char usage[] = "usage: pingyi init DEFINITION.json DEPLOY_DIR [--workers N] [--venue-archive OUT_DIR]\n";
    const char *definition = NULL, *dir = NULL, *archives = NULL;
    unsigned workers = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--workers"))
            workers = (unsigned) pingyi_arg_ulong ("--workers", i + 1 < argc ? argv[++i] : NULL, 1, 256);
        else if (!strcmp (argv[i], "--venue-archive")) {
            if (i + 1 >= argc) {
                fprintf (stderr, "pingyi init: --venue-archive needs a value (the folder for the archives)\n%s",
                         usage);
                return 2;
            }
            archives = argv[++i];
        }
        else if (!definition)
            definition = argv[i];
        else if (!dir)
            dir = argv[i];
        else {
            fprintf (stderr, "%s", usage);
            return 2;
        }
    }
    if (!dir) {
        fprintf (stderr, "%s", usage);
        return 2;
    }
    char err[PINGYI_ERR_MAX];
    if (pingyi_deploy_init (definition, dir, workers, err)) {
        fprintf (stderr, "pingyi init: %s\n", err);
        return 1;
    }
    printf ("deploy directory %s: keys for the election, the broker, %u worker%s, the aggregator, an "
            "operator and "
            "every venue;\nsend each host only its own bundle (broker/, worker/N/, aggregator/, operator/, "
            "venue/ID/)\n",
            dir, workers, workers == 1 ? "" : "s");
    if (archives) {
        if (pingyi_deploy_venue_archives (dir, archives, err)) {
            fprintf (stderr, "pingyi init: %s (the deploy directory %s is complete; only the archives are not)\n",
                     err, dir);
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
    for (int i = 1; i < argc; i += 2) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp (f, "--districts"))
            o.districts = (unsigned) pingyi_arg_ulong (f, v, 1, 1000);
        else if (!strcmp (f, "--venues-per-district"))
            o.venues_per_district = (unsigned) pingyi_arg_ulong (f, v, 1, 10000);
        else if (!strcmp (f, "--subjects"))
            o.subjects = (unsigned) pingyi_arg_ulong (f, v, 1, 60000);
        else if (!strcmp (f, "--form-subjects"))
            o.form_subjects = (unsigned) pingyi_arg_ulong (f, v, 1, 64);
        else if (!strcmp (f, "--items"))
            o.items = (unsigned) pingyi_arg_ulong (f, v, 1, 16);
        else if (!strcmp (f, "--shards"))
            o.shards = (unsigned) pingyi_arg_ulong (f, v, 1, 256);
        else if (!strcmp (f, "--seed"))
            o.seed = pingyi_arg_ulong (f, v, 0, ~0ul);
        else if (!strcmp (f, "--out")) {
            if (!v) {
                fprintf (stderr, "pingyi: --out needs a file name\n");
                return 2;
            }
            out_path = v;
        }
        else {
            fprintf (stderr, "pingyi gen-election: unknown flag \"%s\"\n", f);
            return 2;
        }
    }
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
    if (argc != 2) {
        fprintf (stderr, "usage: pingyi pubkey SECRET_KEY_FILE\n");
        return 2;
    }
    uint8_t secret[PINGYI_KEY_LEN], public_key[PINGYI_KEY_LEN];
    char err[PINGYI_ERR_MAX], hex[2 * PINGYI_KEY_LEN + 1];
    if (pingyi_key_read_secret (argv[1], secret, err)) {
        fprintf (stderr, "pingyi pubkey: %s\n", err);
        return 1;
    }
    pingyi_key_public (public_key, secret);
    sodium_memzero (secret, sizeof secret);
    pingyi_hex (hex, public_key, PINGYI_KEY_LEN);
    printf ("%s\n", hex);
    return 0;
}
