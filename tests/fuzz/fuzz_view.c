/*  fuzz_view.c — libFuzzer target: any bytes as the answer of an
    aggregator's GET /api/v1/view or /api/v1/tally, read the way `pingyi
    query --agg` reads it: json_loadb (exactly the input's bytes,
    JSON_REJECT_DUPLICATES), then the readers of report/tally_json.h
    against the example election (examples/2022-district-review.json, or
    the file named by $PINGYI_FUZZ_ELECTION), loaded once:
    pingyi_tally_shards_from_json, pingyi_view_from_json and
    pingyi_tally_from_json, every one on every input.

    The readers must never crash, leak or read out of bounds; a refusal
    always has a reason.  What they accept keeps the model's promises:
      shards  at most the election's shard count, each below it and once;
      view    the election's k and rows; a suppressed row has only
              suppressed cells; a suppressed cell holds no figure (counts
              0, rates and score NAN); an unsuppressed one's valid,
              favourable, unfavourable and rates are derived from its
              choices; and it is a fixed point of writer and reader: the
              view written (pingyi_view_write_json) reads back, and
              written again gives the same bytes;
      tally   refused: left reset (no counter, every venue's figures
              empty); accepted: written (pingyi_tally_write_json) it reads
              back, and written again gives the same bytes.
    A broken promise aborts, so the fuzzer keeps the input.

    Seeds (tests/fuzz/corpus/view): the view and tally documents a real
    pingyi-agg served for counts of the example election (600 ballots; 60
    and 52, where the release withholds cells, whole rows and every
    (venue, category) group), an offline `pingyi tally --json`, the tally
    counters cut to keep each seed under 64 KiB; and a few broken ones.  */
#include "election.h"
#include "rollup.h"
#include "tally.h"
#include "tally_json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef PINGYI_SOURCE_DIR
#define PINGYI_SOURCE_DIR "."
#endif

static pingyi_election_t *election;
static pingyi_tally_t *tally, *tally2;

/*  A broken promise: say which, then abort (the fuzzer keeps the input).  */
static void
fail (const char *what, const char *detail)
{
    fprintf (stderr, "fuzz_view: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort ();
}

static void
load_election (void)
{
    const char *path = getenv ("PINGYI_FUZZ_ELECTION");
    if (!path || !*path)
        path = PINGYI_SOURCE_DIR "/examples/2022-district-review.json";
    char err[PINGYI_ERR_MAX];
    election = pingyi_election_load_or_err (path, err);
    if (!election) {
        fprintf (stderr, "fuzz_view: %s\n", err);
        abort ();
    }
    tally = pingyi_tally_new (election);
    tally2 = pingyi_tally_new (election);
    if (!tally || !tally2)
        abort ();
}

static json_error_t jerr; /* of the last parse */

static json_t *
parse (const char *bytes, size_t len)
{
    return json_loadb (bytes, len, JSON_REJECT_DUPLICATES, &jerr);
}

/*  The shards list of doc into shards (shard_count entries, heap: ASan
    sees a write past them); -1 when refused.  */
static int
read_shards (const json_t *doc, pingyi_tally_shard_t *shards)
{
    const pingyi_election_t *e = election;
    char err[PINGYI_ERR_MAX];
    err[0] = '\0';
    int n = pingyi_tally_shards_from_json (e, doc, shards, err);
    if (n < 0) {
        if (n != -1 || !err[0])
            abort (); /* a refusal always says why */
        return -1;
    }
    if ((size_t) n > e->shard_count)
        abort ();
    bool seen[PINGYI_MAX_SHARDS] = {false};
    for (int s = 0; s < n; s++) {
        if (shards[s].shard >= e->shard_count || seen[shards[s].shard] || shards[s].age_ms < -1 ||
            shards[s].sequence > INT64_MAX)
            abort ();
        seen[shards[s].shard] = true;
    }
    return n;
}

static void
check_cell (const pingyi_cell_stats_t *cell, const pingyi_choice_set_t *set)
{
    if (cell->suppressed) {
        for (size_t m = 0; m < set->choice_count; m++)
            if (cell->choices[m])
                abort ();
        if (cell->blank || cell->over || cell->valid || cell->favourable || cell->unfavourable ||
            !isnan (cell->good_rate) || !isnan (cell->bad_rate) || !isnan (cell->score))
            abort (); /* a withheld cell holds no figure */
        return;
    }
    uint64_t valid = 0, fav = 0, unfav = 0;
    for (size_t m = 0; m < set->choice_count; m++) {
        if (cell->choices[m] > (uint64_t) INT64_MAX - valid)
            abort (); /* the reader caps the sum at 2^63 */
        valid += cell->choices[m];
        if (set->choices[m].favourable)
            fav += cell->choices[m];
        if (set->choices[m].unfavourable)
            unfav += cell->choices[m];
    }
    if (cell->valid != valid || cell->favourable != fav || cell->unfavourable != unfav)
        abort ();
    if (valid == 0) {
        if (!isnan (cell->good_rate) || !isnan (cell->bad_rate) || !isnan (cell->score))
            abort ();
    }
    else if (!(cell->good_rate >= 0 && cell->good_rate <= 1 && cell->bad_rate >= 0 && cell->bad_rate <= 1) ||
             isinf (cell->score))
        abort ();
}

static void
check_view (const pingyi_view_t *view)
{
    const pingyi_election_t *e = election;
    size_t cats = e->category_count;
    if (view->election != e || view->k != e->k_anonymity)
        abort ();
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++) {
        const pingyi_level_view_t *lv = &view->levels[l];
        for (size_t r = 0; r < lv->row_count; r++) {
            const pingyi_row_t *row = &lv->rows[r];
            if (!row->id || row->rank < 0 || (size_t) row->rank > lv->row_count)
                abort ();
            for (size_t i = 0; i < e->item_count; i++) {
                const pingyi_choice_set_t *set = &e->choice_sets[e->items[i].choice_set];
                for (size_t c = 0; c <= cats; c++) {
                    const pingyi_cell_stats_t *cell = pingyi_view_stats (view, (pingyi_level_t) l, r, i, c);
                    if (cell != &row->stats[i * (cats + 1) + c])
                        abort ();
                    if (row->suppressed && !cell->suppressed)
                        abort (); /* a withheld row has nothing to show */
                    check_cell (cell, set);
                }
            }
        }
    }
}

/*  Writer output in memory.  */
typedef struct {
    char *p;
    size_t len;
} text_t;

static void
text_free (text_t *t)
{
    free (t->p);
    t->p = NULL;
    t->len = 0;
}

static void
write_view (const pingyi_view_t *view, const pingyi_tally_shard_t *shards, int n, text_t *out)
{
    char err[PINGYI_ERR_MAX];
    FILE *f = open_memstream (&out->p, &out->len);
    if (!f)
        abort ();
    if (pingyi_view_write_json (view, shards, (size_t) n, NULL, f, err) != 0)
        abort ();
    if (fclose (f) != 0)
        abort ();
}

static void
write_tally (const pingyi_tally_t *t, const pingyi_tally_shard_t *shards, int n, text_t *out)
{
    char err[PINGYI_ERR_MAX];
    FILE *f = open_memstream (&out->p, &out->len);
    if (!f)
        abort ();
    if (pingyi_tally_write_json (t, election, shards, (size_t) n, PINGYI_TALLY_JSON_WITH_API, f, err) != 0)
        abort ();
    if (fclose (f) != 0)
        abort ();
}

/*  Whether a and b are the same bytes; if not, where they part.  */
static bool
same (const text_t *a, const text_t *b)
{
    if (a->len == b->len && memcmp (a->p, b->p, a->len) == 0)
        return true;
    size_t at = 0;
    while (at < a->len && at < b->len && a->p[at] == b->p[at])
        at++;
    size_t from = at > 40 ? at - 40 : 0;
    fprintf (stderr, "fuzz_view: first written:  ...%.*s\nfuzz_view: second written: ...%.*s\n",
             (int) ((a->len - from) < 80 ? a->len - from : 80), a->p + from,
             (int) ((b->len - from) < 80 ? b->len - from : 80), b->p + from);
    return false;
}

/*  The view written reads back (shards and view), and written again gives
    the same bytes.  */
static void
view_round_trip (const pingyi_view_t *view, const pingyi_tally_shard_t *shards, int n,
                 pingyi_tally_shard_t *shards2)
{
    char err[PINGYI_ERR_MAX];
    text_t a = {0}, b = {0};
    write_view (view, shards, n, &a);
    json_t *doc = parse (a.p, a.len);
    if (!doc)
        fail ("the view written is not JSON jansson reads", jerr.text);
    if (read_shards (doc, shards2) != n)
        fail ("the shards of the view written read back otherwise", NULL);
    pingyi_view_t *back = pingyi_view_from_json (election, doc, err);
    json_decref (doc);
    if (!back)
        fail ("the view written is refused", err);
    check_view (back);
    write_view (back, shards2, n, &b);
    if (!same (&a, &b))
        fail ("the view read back writes other bytes", NULL);
    pingyi_view_destroy (&back);
    text_free (&a);
    text_free (&b);
}

static size_t counters_seen;

static void
count_counter (const pingyi_counter_key_t *key, uint64_t count, void *arg)
{
    (void) key;
    (void) count;
    (void) arg;
    counters_seen++;
}

static void
check_reset (const pingyi_tally_t *t)
{
    counters_seen = 0;
    pingyi_tally_each (t, count_counter, NULL);
    if (counters_seen)
        abort (); /* a refused document left counters behind */
    for (size_t v = 0; v < election->venue_count; v++) {
        const pingyi_venue_figures_t *f = pingyi_tally_figures (t, v);
        if (!f || f->venue != v || f->accepted || f->blank || f->duplicates || f->rejected || f->issued != -1 ||
            f->collected != -1 || f->sent != -1 || f->closed || f->category_count)
            abort (); /* ... or figures */
    }
}

/*  The tally written reads back, and written again gives the same bytes.  */
static void
tally_round_trip (const pingyi_tally_shard_t *shards, int n, pingyi_tally_shard_t *shards2)
{
    char err[PINGYI_ERR_MAX];
    text_t a = {0}, b = {0};
    write_tally (tally, shards, n, &a);
    json_t *doc = parse (a.p, a.len);
    if (!doc)
        fail ("the tally written is not JSON jansson reads", jerr.text);
    if (read_shards (doc, shards2) != n)
        fail ("the shards of the tally written read back otherwise", NULL);
    if (pingyi_tally_from_json (tally2, election, doc, err) != 0)
        fail ("the tally written is refused", err);
    json_decref (doc);
    write_tally (tally2, shards2, n, &b);
    if (!same (&a, &b))
        fail ("the tally read back writes other bytes", NULL);
    text_free (&a);
    text_free (&b);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!election)
        load_election ();
    json_t *doc = parse ((const char *) data, size);
    if (!doc)
        return 0;
    const pingyi_election_t *e = election;
    pingyi_tally_shard_t *shards = malloc (e->shard_count * sizeof *shards);
    pingyi_tally_shard_t *shards2 = malloc (e->shard_count * sizeof *shards2);
    if (!shards || !shards2)
        abort ();
    char err[PINGYI_ERR_MAX];

    /* GET /api/v1/view, as pingyi query --agg reads it */
    int n = read_shards (doc, shards);
    err[0] = '\0';
    pingyi_view_t *view = pingyi_view_from_json (e, doc, err);
    if (view) {
        check_view (view);
        view_round_trip (view, shards, n < 0 ? 0 : n, shards2);
        pingyi_view_destroy (&view);
    }
    else if (!err[0])
        abort ();

    /* GET /api/v1/tally */
    err[0] = '\0';
    if (pingyi_tally_from_json (tally, e, doc, err) == 0)
        tally_round_trip (shards, n < 0 ? 0 : n, shards2);
    else if (!err[0])
        abort ();
    else
        check_reset (tally);

    json_decref (doc);
    free (shards);
    free (shards2);
    return 0;
}
