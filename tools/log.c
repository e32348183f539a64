/*  log.c — `pingyi log`: every accepted ballot of the shard files, opened
    and decoded, in the order the shard stores them.

    An auditor's tool and the anonymity tests' witness: the order printed is
    the storage order (by venue, then the ballot's random id), which must
    not follow the order in which people voted (docs/SECURITY.md).  It
    needs the shard secrets (the recount bundle, or --worker N for that
    worker's shards), so it runs offline where a recount would.  One JSON
    object per line:
        {"shard":0,"venue":"v01","ballot_id":"…","receipt":"…",
         "category":"leaders","cells":[["s01",["好","BLANK",…]],…]}
    marks per item in the item order of the definition: a choice label,
    BLANK or OVER (or an array of labels where an item takes several).

    Exit (docs/exit-codes.md): 0 every ballot printed; 1 a missing --data,
    a shard that does not read, a ballot that does not open, or --shard N
    the bundle holds no secret for; 2 usage or the bundle.  */
#include "cli.h"
#include "ballot.h"
#include "deploy.h"
#include "envelope.h"
#include "json_text.h"
#include "lmdb_env.h"
#include "shard.h"
#include "tools.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const pingyi_election_t *e;
    const pingyi_bundle_t *bundle;
    uint32_t shard;
    uint8_t (*keys)[32]; /* envelope key per venue of this shard */
    bool *have_key;
    uint64_t printed, failed;
    const char *data; /* the data directory, for log_guarded */
} log_t;

static void
write_mark (const pingyi_election_t *e, size_t item, uint32_t ticks)
{
    const pingyi_item_t *it = &e->items[item];
    const pingyi_choice_set_t *set = &e->choice_sets[it->choice_set];
    unsigned n = (unsigned) __builtin_popcount (ticks);
    if (n == 0)
        fputs ("\"BLANK\"", stdout);
    else if (n > it->max_choices)
        fputs ("\"OVER\"", stdout);
    else if (n == 1) {
        for (size_t c = 0; c < set->choice_count; c++)
            if (ticks & (1u << c))
                pingyi_json_write_string (stdout, set->choices[c].label);
    }
    else {
        fputc ('[', stdout);
        bool first = true;
        for (size_t c = 0; c < set->choice_count; c++)
            if (ticks & (1u << c)) {
                if (!first)
                    fputc (',', stdout);
                pingyi_json_write_string (stdout, set->choices[c].label);
                first = false;
            }
        fputc (']', stdout);
    }
}

static int
print_entry (uint32_t venue, const uint8_t ballot_id[PINGYI_BALLOT_ID_LEN], const uint8_t *envelope, size_t len,
             void *arg)
{
    log_t *l = arg;
    const pingyi_election_t *e = l->e;
    char id[2 * PINGYI_BALLOT_ID_LEN + 1], receipt[PINGYI_RECEIPT_LEN + 1], err[PINGYI_ERR_MAX];
    pingyi_hex (id, ballot_id, PINGYI_BALLOT_ID_LEN);
    pingyi_envelope_receipt (receipt, envelope, len);
    pingyi_envelope_t env;
    uint8_t body[PINGYI_BODY_MAX];
    size_t body_len;
    pingyi_ballot_t b;
    if (venue >= e->venue_count || !l->have_key[venue] || pingyi_envelope_parse (envelope, len, &env, err) ||
        pingyi_envelope_open (&env, l->keys[venue], body, sizeof body, &body_len) ||
        pingyi_ballot_decode (e, venue, body, body_len, &b, err) != PINGYI_REJECT_NONE) {
        fprintf (stderr, "pingyi log: shard %u: ballot %s (receipt %s) does not open or decode\n", l->shard, id,
                 receipt);
        l->failed++;
        sodium_memzero (body, sizeof body);
        return 0;
    }
    sodium_memzero (body, sizeof body);
    printf ("{\"shard\":%u,\"venue\":", l->shard);
    pingyi_json_write_string (stdout, e->venues[venue].id);
    printf (",\"ballot_id\":\"%s\",\"receipt\":\"%s\",\"category\":", id, receipt);
    pingyi_json_write_string (stdout, e->categories[b.category].id);
    fputs (",\"cells\":[", stdout);
    for (uint32_t s = 0; s < b.subject_count; s++) {
        printf ("%s[", s ? "," : "");
        pingyi_json_write_string (stdout, e->subjects[b.subjects[s]].id);
        fputs (",[", stdout);
        for (size_t i = 0; i < e->item_count; i++) {
            if (i)
                fputc (',', stdout);
            write_mark (e, i, b.ticks[s][i]);
        }
        fputs ("]]", stdout);
    }
    fputs ("]}\n", stdout);
    sodium_memzero (&b, sizeof b);
    l->printed++;
    return 0;
}

static int
log_guarded (void *arg, char *err)
{
    log_t *l = arg;
    pingyi_shard_t *shard = pingyi_shard_open_readonly (l->data, l->shard, l->e, err);
    if (!shard)
        return -1;
    int rc = pingyi_shard_check_blocks (shard, err);
    if (rc == 0)
        rc = pingyi_shard_foreach_log (shard, print_entry, l, err);
    pingyi_shard_close (&shard);
    return rc;
}

static int
log_shard (log_t *l, const char *data, char *err)
{
    const pingyi_election_t *e = l->e;
    for (size_t v = 0; v < e->venue_count; v++) {
        l->have_key[v] = false;
        if (e->venues[v].shard != l->shard)
            continue;
        const pingyi_keyring_entry_t *k =
            pingyi_keyring_find (l->bundle->keyring, PINGYI_ROLE_VENUE, e->venues[v].id);
        if (k && k->has_box && !pingyi_envelope_key (l->keys[v], k->box, l->bundle->shard_secrets[l->shard]))
            l->have_key[v] = true;
    }
    char path[1100];
    pingyi_shard_path (path, sizeof path, data, l->shard);
    l->data = data;
    /* inside the guard: a damaged tree is an error naming the shard, not a
       crash (tools/shards.c does the same for tally) */
    return pingyi_lmdb_guard (path, log_guarded, l, err);
}

int
pingyi_cmd_log (int argc, char **argv)
{
    const char *deploy = NULL, *data = NULL, *worker = NULL;
    uint64_t shard = 0;
    bool has_shard = false;
    const pingyi_cli_option_t options[] = {
        PINGYI_CLI_OPT_TEXT ("deploy", &deploy, "DIR", "the deploy directory"),
        PINGYI_CLI_OPT_TEXT ("data", &data, "DIR", "the workers' data directory (DIR/shard-NN)"),
        {.name = "shard",
         .kind = PINGYI_CLI_U64,
         .target = &shard,
         .value_name = "N",
         .help = "only shard N (0..255; default: every shard)",
         .min = 0,
         .max = 255,
         .given = &has_shard},
        PINGYI_CLI_OPT_TEXT ("worker", &worker, "N",
                             "use worker N's bundle (its shards only) instead of the\nrecount bundle"),
        PINGYI_CLI_END,
    };
    pingyi_cli_t cli = {
        .prog = "pingyi log",
        .synopsis = "pingyi log --deploy DIR --data DIR [--shard N] [--worker N]\n"
                    "  every accepted ballot, opened, in storage order (needs the recount bundle)",
        .options = options,
    };
    int status;
    if (pingyi_cli_parse (&cli, argc, argv, &status))
        return status;
    if (!deploy || !data)
        return pingyi_cli_fail (&cli, "--deploy and --data are required");
    long only = has_shard ? (long) shard : -1;
    char err[PINGYI_ERR_MAX];
    pingyi_bundle_t *bundle = worker ? pingyi_bundle_load (deploy, PINGYI_ROLE_WORKER, worker, err)
                                     : pingyi_bundle_load (deploy, PINGYI_ROLE_SHARD, NULL, err);
    if (!bundle) {
        fprintf (stderr, "pingyi log: needs the recount bundle (or --worker N): %s\n", err);
        return 2;
    }
    /* a mistyped --data must not print nothing as if no ballot were there */
    if (pingyi_data_dir_check (data, err)) {
        fprintf (stderr, "pingyi log: --data %s\n", err);
        pingyi_bundle_destroy (&bundle);
        return 1;
    }
    const pingyi_election_t *e = bundle->election;
    log_t l = {.e = e, .bundle = bundle};
    l.keys = calloc (e->venue_count ? e->venue_count : 1, sizeof *l.keys);
    l.have_key = calloc (e->venue_count ? e->venue_count : 1, sizeof *l.have_key);
    int rc = 0;
    if (!l.keys || !l.have_key) {
        fprintf (stderr, "pingyi log: out of memory\n");
        rc = 2;
    }
    for (uint32_t s = 0; !rc && s < e->shard_count; s++) {
        if (only >= 0 && s != (uint32_t) only)
            continue;
        if (!pingyi_bundle_has_shard (bundle, s)) {
            if (only >= 0) {
                fprintf (stderr, "pingyi log: shard %u: %s holds no secret for it\n", s, bundle->path);
                rc = 1;
            }
            continue;
        }
        char path[1100];
        pingyi_shard_path (path, sizeof path, data, s);
        if (access (path, F_OK) != 0 && only < 0)
            continue; /* a shard that never received a ballot has no directory */
        l.shard = s;
        if (log_shard (&l, data, err)) {
            fprintf (stderr, "pingyi log: shard %u: %s\n", s, err);
            rc = 1;
        }
    }
    if (l.keys)
        sodium_memzero (l.keys, e->venue_count * sizeof *l.keys);
    free (l.keys);
    free (l.have_key);
    pingyi_bundle_destroy (&bundle);
    if (!rc && l.failed)
        rc = 1;
    return rc;
}
