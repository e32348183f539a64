/*  tally.c — `pingyi tally`: read every shard's files offline, merge, and
    print the citywide view (report.h's table; with --json, every counter
    and figure in tally_json.h's format).

    Offline means no broker, no worker: the shard directories are opened
    read-only (safe while a worker writes: LMDB readers never block the
    writer).  It is the view of last resort and the check the integration
    tests compare against the generators' expected tallies.  With --recount
    every shard's log is re-opened with its shard secret (the recount bundle
    DIR/recount, or with --worker N that worker's bundle for its own shards)
    and its counters, figures and log digest are verified.

    Exit (docs/exit-codes.md): 0 the view printed (and, with --recount,
    every shard matches); 1 the shards could not be read or are wrong: a
    missing --data or a shard refused (damaged, rolled back, its files
    gone: nothing is printed, a partial count is never shown as the
    count), or counter keys that name nothing or a recount that differs
    (the view is printed, the exit says it is not good); 2 usage, the
    definition, or the recount bundle.  A shard without a manifest is read
    and said "unverified" on stderr.  */
#include "cli.h"
#include "deploy.h"
#include "report.h"
#include "shard.h"
#include "tally.h"
#include "tally_json.h"
#include "tools.h"

#include <stdlib.h>
#include <string.h>

/*  --recount: re-open each shard's log while the shard is open.  */
typedef struct {
    const pingyi_bundle_t *bundle;
    int rc;
} recount_t;

static void
recount_shard (pingyi_shard_t *shard, uint32_t s, void *arg)
{
    recount_t *r = arg;
    char err[PINGYI_ERR_MAX];
    pingyi_shard_recount_t report;
    if (!pingyi_bundle_has_shard (r->bundle, s)) {
        fprintf (stderr, "pingyi tally: shard %u: bundle %s holds no secret for it (use the recount bundle)\n", s,
                 r->bundle->path);
        r->rc = 1;
        return;
    }
    if (pingyi_shard_recount (shard, r->bundle->keyring, r->bundle->shard_secrets[s], &report, err)) {
        fprintf (stderr, "pingyi tally: shard %u: recount failed: %s\n", s, err);
        r->rc = 1;
    }
    else if (!report.ok) {
        fprintf (stderr, "pingyi tally: shard %u: RECOUNT DIFFERS: %s\n", s, report.first_problem);
        r->rc = 1;
    }
    else
        fprintf (stderr, "shard %u: recount of %llu logged ballots matches counters and digest\n", s,
                 (unsigned long long) report.log_entries);
}

/*  Every counter and figure, for programs (the integration tests compare
    it with the generators' expectations): tally_json.h's format.  */
static int
print_json (FILE *out, const pingyi_election_t *e, const pingyi_tally_t *tally,
            const pingyi_shard_info_t *infos, const bool *present, char *err)
{
    pingyi_tally_shard_t shards[PINGYI_MAX_SHARDS];
    size_t n = 0;
    for (uint32_t s = 0; s < e->shard_count; s++) {
        if (!present[s])
            continue;
        /* the full count read here: the shard's current sequence and digest
           (info.sequence/digest are the settled point a snapshot publishes) */
        shards[n] = (pingyi_tally_shard_t){.shard = s, .sequence = infos[s].current_sequence, .age_ms = -1};
        memcpy (shards[n].digest, infos[s].current_digest, sizeof shards[n].digest);
        n++;
    }
    return pingyi_tally_write_json (tally, e, shards, n, 0, out, err);
}

/*  The citywide view for people: the subjects on the overall item, then
    the venues' reconciliation (report.h's table, width columns; 0:
    COLUMNS, the terminal's width, or 80).  */
static int
print_view (FILE *out, const pingyi_election_t *e, const pingyi_tally_t *tally, size_t width, char *err)
{
    /* offline, on the shard files: full detail (docs/SECURITY.md §4) */
    pingyi_view_t *view = pingyi_view_new_k (e, tally, 1);
    if (!view)
        return pingyi_fail (err, "out of memory computing the view");
    int rc = pingyi_report_table (view, NULL, width ? width : pingyi_report_auto_width (), out, err);
    pingyi_view_destroy (&view);
    return rc;
}

int
pingyi_cmd_tally (int argc, char **argv)
{
    const char *deploy = NULL, *data = NULL, *worker = NULL;
    bool json = false, recount = false;
    uint64_t width = 0;
    const pingyi_cli_option_t options[] = {
        PINGYI_CLI_OPT_TEXT ("deploy", &deploy, "DIR", "the deploy directory (its election.json)"),
        PINGYI_CLI_OPT_TEXT ("data", &data, "DIR", "the workers' data directory (DIR/shard-NN)"),
        PINGYI_CLI_OPT_FLAG ("json", &json, "the view as JSON"),
        PINGYI_CLI_OPT_FLAG ("recount", &recount,
                             "re-open every logged ballot and check the counters and log\n"
                             "digests (needs the recount bundle, or --worker N)"),
        PINGYI_CLI_OPT_TEXT ("worker", &worker, "N",
                             "with --recount: use worker N's bundle (its shards only)"),
        PINGYI_CLI_OPT_U64 ("width", &width, "N",
                            "table width in columns (40..1000; default COLUMNS, else the\n"
                            "terminal's, else 80)",
                            PINGYI_REPORT_WIDTH_MIN, PINGYI_REPORT_WIDTH_MAX),
        PINGYI_CLI_END,
    };
    pingyi_cli_t cli = {
        .prog = "pingyi tally",
        .synopsis = "pingyi tally --deploy DIR --data DIR [--json] [--recount [--worker N]] [--width N]\n"
                    "  read the shard files offline, print the view",
        .options = options,
    };
    int status;
    if (pingyi_cli_parse (&cli, argc, argv, &status))
        return status;
    if (!deploy || !data)
        return pingyi_cli_fail (&cli, "--deploy and --data are required");
    char err[PINGYI_ERR_MAX], path[1100];
    pingyi_election_t *e = NULL;
    if (pingyi_path (path, sizeof path, err, "%s/election.json", deploy) == 0)
        e = pingyi_election_load_or_err (path, err);
    if (!e) {
        fprintf (stderr, "pingyi tally: %s\n", err);
        return 2;
    }
    pingyi_bundle_t *bundle = NULL;
    if (recount) {
        bundle = worker ? pingyi_bundle_load (deploy, PINGYI_ROLE_WORKER, worker, err)
                        : pingyi_bundle_load (deploy, PINGYI_ROLE_SHARD, NULL, err);
        if (!bundle) {
            fprintf (stderr, "pingyi tally: --recount needs the recount bundle (or --worker N): %s\n", err);
            pingyi_election_destroy (&e);
            return 2;
        }
    }
    pingyi_tally_t *tally = pingyi_tally_new (e);
    pingyi_shard_info_t *infos = calloc (e->shard_count, sizeof *infos);
    bool *present = calloc (e->shard_count, sizeof *present);
    int rc = 0;
    if (!tally || !infos || !present) {
        fprintf (stderr, "pingyi tally: out of memory\n");
        rc = 2;
        goto done;
    }
    recount_t r = {.bundle = bundle};
    if (pingyi_read_shards (e, data, tally, infos, present, recount ? recount_shard : NULL, &r, err)) {
        fprintf (stderr, "pingyi tally: %s\n", err);
        rc = 1;
        goto done;
    }
    rc = r.rc;
    if (pingyi_tally_rejected_keys (tally)) {
        fprintf (stderr, "pingyi tally: %llu stored counter keys name nothing in this election\n",
                 (unsigned long long) pingyi_tally_rejected_keys (tally));
        rc = 1;
    }
    if (json ? print_json (stdout, e, tally, infos, present, err) : print_view (stdout, e, tally, (size_t) width, err)) {
        fprintf (stderr, "pingyi tally: %s\n", err);
        rc = 1;
    }
done:
    free (infos);
    free (present);
    pingyi_tally_destroy (&tally);
    pingyi_bundle_destroy (&bundle);
    pingyi_election_destroy (&e);
    return rc;
}
