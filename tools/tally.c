/*  tally.c — `pingyi tally`: read every shard's files offline, merge, and
    print the citywide view (or, with --json, every counter and figure).

    Offline means no broker, no worker: the shard directories are opened
    read-only (safe while a worker writes: LMDB readers never block the
    writer).  It is the view of last resort and the check the integration
    tests compare against the generators' expected tallies.  With --recount
    every shard's log is re-opened with the election secret (a worker bundle
    is needed) and its counters, figures and hash chain are verified.  */
#include "deploy.h"
#include "shard.h"
#include "table.h"
#include "tally.h"
#include "tools.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    pingyi_tally_t *tally;
    const pingyi_election_t *election;
    FILE *out;
    bool first;
} ctx_t;

static int
add_counter (const uint8_t key[PINGYI_COUNTER_KEY_LEN], uint64_t count, void *arg)
{
    pingyi_tally_add (((ctx_t *) arg)->tally, key, count);
    return 0;
}

static int
add_figures (const pingyi_venue_figures_t *f, void *arg)
{
    pingyi_tally_set_figures (((ctx_t *) arg)->tally, f);
    return 0;
}

static void
json_string (FILE *out, const char *s)
{
    fputc ('"', out);
    for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf (out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf (out, "\\u%04x", *p);
        else
            fputc (*p, out);
    }
    fputc ('"', out);
}

static void
json_counter (const pingyi_counter_key_t *key, uint64_t count, void *arg)
{
    ctx_t *c = arg;
    const pingyi_election_t *e = c->election;
    fprintf (c->out, "%s\n    {\"venue\":", c->first ? "" : ",");
    json_string (c->out, e->venues[key->venue].id);
    fprintf (c->out, ",\"subject\":");
    json_string (c->out, e->subjects[key->subject].id);
    fprintf (c->out, ",\"item\":");
    json_string (c->out, e->items[key->item].id);
    fprintf (c->out, ",\"category\":");
    json_string (c->out, e->categories[key->category].id);
    fprintf (c->out, ",\"mark\":");
    json_string (c->out, pingyi_mark_name (e, key->item, key->mark));
    fprintf (c->out, ",\"count\":%llu}", (unsigned long long) count);
    c->first = false;
}

static void
print_json (FILE *out, const pingyi_election_t *e, pingyi_tally_t *tally, const pingyi_shard_info_t *infos,
            const bool *present)
{
    fprintf (out, "{\n  \"election\": \"%s\",\n  \"shards\": [", e->fingerprint_hex);
    bool first = true;
    for (uint32_t s = 0; s < e->shard_count; s++) {
        if (!present[s])
            continue;
        char chain[65];
        pingyi_hex (chain, infos[s].chain, 32);
        fprintf (out, "%s\n    {\"shard\":%u,\"sequence\":%llu,\"chain\":\"%s\"}", first ? "" : ",", s,
                 (unsigned long long) infos[s].sequence, chain);
        first = false;
    }
    fprintf (out, "\n  ],\n  \"venues\": [");
    for (size_t v = 0; v < e->venue_count; v++) {
        const pingyi_venue_figures_t *f = pingyi_tally_figures (tally, v);
        fprintf (out, "%s\n    {\"venue\":", v ? "," : "");
        json_string (out, e->venues[v].id);
        fprintf (out,
                 ",\"accepted\":%llu,\"blank\":%llu,\"duplicates\":%llu,\"rejected\":%llu,\"issued\":%lld,"
                 "\"collected\":%lld,\"sent\":%lld,\"closed\":%s,\"rejected_by\":{",
                 (unsigned long long) f->accepted, (unsigned long long) f->blank, (unsigned long long) f->duplicates,
                 (unsigned long long) f->rejected, (long long) f->issued, (long long) f->collected,
                 (long long) f->sent, f->closed ? "true" : "false");
        bool any = false;
        for (int r = 1; r < PINGYI_REJECT_COUNT_ && r < 16; r++)
            if (f->rejected_by[r]) {
                fprintf (out, "%s\"%s\":%llu", any ? "," : "", pingyi_reject_name ((pingyi_reject_t) r),
                         (unsigned long long) f->rejected_by[r]);
                any = true;
            }
        fprintf (out, "}}");
    }
    fprintf (out, "\n  ],\n  \"counters\": [");
    ctx_t c = { .tally = tally, .election = e, .out = out, .first = true };
    pingyi_tally_each (tally, json_counter, &c);
    fprintf (out, "\n  ]\n}\n");
}

static void
rate (char *out, size_t cap, uint64_t part, uint64_t whole)
{
    if (whole == 0)
        snprintf (out, cap, "-");
    else
        snprintf (out, cap, "%.1f%%", 100.0 * (double) part / (double) whole);
}

/*  The citywide view of the overall item (总体评价) per subject, then the
    venues' reconciliation.  Fits 80 columns.  */
static void
print_view (FILE *out, const pingyi_election_t *e, pingyi_tally_t *tally)
{
    size_t item = 0;
    for (size_t i = 0; i < e->item_count; i++)
        if (e->items[i].overall) {
            item = i;
            break;
        }
    const pingyi_choice_set_t *set = &e->choice_sets[e->items[item].choice_set];
    fprintf (out, "%s — %s（全市，%s）\n", e->title, e->items[item].name, "所有会场与类别合计");
    pingyi_text_pad (out, "测评对象", 22, false);
    for (size_t c = 0; c < set->choice_count && c < 4; c++) {
        fputc (' ', out);
        pingyi_text_pad (out, set->choices[c].label, 6, true);
    }
    fputc (' ', out);
    pingyi_text_pad (out, "弃权", 5, true);
    fputc (' ', out);
    pingyi_text_pad (out, "多选", 5, true);
    fputc (' ', out);
    pingyi_text_pad (out, "好评率", 7, true);
    fputc ('\n', out);
    uint64_t city[PINGYI_MAX_CHOICES + 2] = { 0 };
    for (size_t s = 0; s < e->subject_count; s++) {
        uint64_t n[PINGYI_MAX_CHOICES + 2] = { 0 };
        for (size_t v = 0; v < e->venue_count; v++)
            for (size_t c = 0; c < e->category_count; c++) {
                for (size_t m = 0; m < set->choice_count; m++)
                    n[m] += pingyi_tally_get (tally, v, s, item, c, (uint8_t) m);
                n[PINGYI_MAX_CHOICES] += pingyi_tally_get (tally, v, s, item, c, PINGYI_MARK_BLANK);
                n[PINGYI_MAX_CHOICES + 1] += pingyi_tally_get (tally, v, s, item, c, PINGYI_MARK_OVER);
            }
        uint64_t valid = 0, good = 0;
        for (size_t m = 0; m < set->choice_count; m++) {
            valid += n[m];
            if (set->choices[m].favourable)
                good += n[m];
        }
        for (size_t m = 0; m < PINGYI_MAX_CHOICES + 2; m++)
            city[m] += n[m];
        char cell[32];
        pingyi_text_pad (out, e->subjects[s].name, 22, false);
        for (size_t c = 0; c < set->choice_count && c < 4; c++) {
            snprintf (cell, sizeof cell, "%llu", (unsigned long long) n[c]);
            fputc (' ', out);
            pingyi_text_pad (out, cell, 6, true);
        }
        snprintf (cell, sizeof cell, "%llu", (unsigned long long) n[PINGYI_MAX_CHOICES]);
        fputc (' ', out);
        pingyi_text_pad (out, cell, 5, true);
        snprintf (cell, sizeof cell, "%llu", (unsigned long long) n[PINGYI_MAX_CHOICES + 1]);
        fputc (' ', out);
        pingyi_text_pad (out, cell, 5, true);
        rate (cell, sizeof cell, good, valid);
        fputc (' ', out);
        pingyi_text_pad (out, cell, 7, true);
        fputc ('\n', out);
    }
    uint64_t valid = 0, good = 0;
    for (size_t m = 0; m < set->choice_count; m++) {
        valid += city[m];
        if (set->choices[m].favourable)
            good += city[m];
    }
    char cell[32];
    rate (cell, sizeof cell, good, valid);
    fprintf (out, "全市合计：有效 %llu，弃权 %llu，多选无效 %llu，好评率 %s\n\n", (unsigned long long) valid,
             (unsigned long long) city[PINGYI_MAX_CHOICES], (unsigned long long) city[PINGYI_MAX_CHOICES + 1], cell);

    pingyi_text_pad (out, "会场", 24, false);
    const char *heads[] = { "发出", "收回", "有效票", "空白票", "拒收", "重复" };
    for (size_t h = 0; h < 6; h++) {
        fputc (' ', out);
        pingyi_text_pad (out, heads[h], 6, true);
    }
    fputs ("  状态\n", out);
    for (size_t v = 0; v < e->venue_count; v++) {
        const pingyi_venue_figures_t *f = pingyi_tally_figures (tally, v);
        char label[PINGYI_ID_MAX * 4];
        snprintf (label, sizeof label, "%s %s", e->venues[v].id, e->venues[v].name);
        pingyi_text_pad (out, label, 24, false);
        long long vals[6] = { f->issued, f->collected, (long long) f->accepted, (long long) f->blank,
                              (long long) f->rejected, (long long) f->duplicates };
        for (size_t h = 0; h < 6; h++) {
            if (vals[h] < 0)
                snprintf (cell, sizeof cell, "-");
            else
                snprintf (cell, sizeof cell, "%lld", vals[h]);
            fputc (' ', out);
            pingyi_text_pad (out, cell, 6, true);
        }
        const char *status = !f->closed                               ? "进行中"
                             : f->collected > f->issued               ? "作废（收回>发出）"
                             : (int64_t) f->accepted > f->collected   ? "作废（有效>收回）"
                                                                      : "已核对";
        fprintf (out, "  %s\n", status);
    }
}

int
pingyi_cmd_tally (int argc, char **argv)
{
    const char *deploy = NULL, *data = NULL, *worker = "1";
    bool json = false, recount = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--json"))
            json = true;
        else if (!strcmp (argv[i], "--recount"))
            recount = true;
        else if (i + 1 < argc && !strcmp (argv[i], "--deploy"))
            deploy = argv[++i];
        else if (i + 1 < argc && !strcmp (argv[i], "--data"))
            data = argv[++i];
        else if (i + 1 < argc && !strcmp (argv[i], "--worker"))
            worker = argv[++i];
        else {
            fprintf (stderr, "usage: pingyi tally --deploy DIR --data DIR [--json] [--recount [--worker N]]\n");
            return 2;
        }
    }
    if (!deploy || !data) {
        fprintf (stderr, "usage: pingyi tally --deploy DIR --data DIR [--json] [--recount [--worker N]]\n");
        return 2;
    }
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
        bundle = pingyi_bundle_load (deploy, PINGYI_ROLE_WORKER, worker, err);
        if (!bundle) {
            fprintf (stderr, "pingyi tally: --recount needs a worker bundle: %s\n", err);
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
    ctx_t c = { .tally = tally, .election = e };
    for (uint32_t s = 0; s < e->shard_count; s++) {
        struct stat st;
        pingyi_shard_path (path, sizeof path, data, s);
        if (stat (path, &st) != 0)
            continue;   /* no ballot ever reached this shard */
        pingyi_shard_t *shard = pingyi_shard_open_readonly (data, s, e, err);
        if (!shard || pingyi_shard_info (shard, &infos[s], err)
            || pingyi_shard_foreach_counter (shard, add_counter, &c, err) < 0
            || pingyi_shard_foreach_venue (shard, add_figures, &c, err) < 0) {
            fprintf (stderr, "pingyi tally: shard %u: %s\n", s, err);
            pingyi_shard_close (&shard);
            rc = 1;
            goto done;
        }
        present[s] = true;
        if (recount) {
            pingyi_shard_recount_t report;
            if (pingyi_shard_recount (shard, bundle->keyring, bundle->box_secret, &report, err)) {
                fprintf (stderr, "pingyi tally: shard %u: recount failed: %s\n", s, err);
                rc = 1;
            }
            else if (!report.ok) {
                fprintf (stderr, "pingyi tally: shard %u: RECOUNT DIFFERS: %s\n", s, report.first_problem);
                rc = 1;
            }
            else
                fprintf (stderr, "shard %u: recount of %llu logged ballots matches counters and chain\n", s,
                         (unsigned long long) report.log_entries);
        }
        pingyi_shard_close (&shard);
    }
    if (pingyi_tally_rejected_keys (tally)) {
        fprintf (stderr, "pingyi tally: %llu stored counter keys name nothing in this election\n",
                 (unsigned long long) pingyi_tally_rejected_keys (tally));
        rc = 1;
    }
    if (json)
        print_json (stdout, e, tally, infos, present);
    else
        print_view (stdout, e, tally);
done:
    free (infos);
    free (present);
    pingyi_tally_destroy (&tally);
    pingyi_bundle_destroy (&bundle);
    pingyi_election_destroy (&e);
    return rc;
}
