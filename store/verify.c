/*  verify.c — the count blocks against the venues' ballots, in one read
    transaction (so a worker committing beside an offline reader cannot
    make them disagree).

    The shard stores each ballot three ways that must agree: its envelope
    in `ids` (the recount's ground), its venue's figures (accepted, by rater
    category) and its marks in the count blocks.  The recount checks all of
    it against the envelopes and needs the shard secret; this check needs
    nothing but the shard and is cheap (one pass over the blocks), so the
    worker runs it at every open and the offline tools before they print:
    a flipped counter, a lost, moved or added row is found here
    (pingyi_count_block_agrees is the rule).  Both views are checked: the
    current (counts + pending, against the current figures) and the
    released (counts alone, against the released figures: what SNAPSHOT
    serves).  */
#include "shard_impl.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    pingyi_shard_t *self;
    const pingyi_venue_figures_t *figures; /* per slot: the view's */
    uint32_t *rows;                        /* per slot: blocks seen */
    pingyi_count_shape_t shape;
    const char *view; /* "current" / "released" */
    pingyi_shard_row_fn *fn;
    void *arg;
    char *err;
    bool failed;
} check_t;

static bool
on_form (const pingyi_venue_t *venue, uint32_t subject)
{
    for (size_t i = 0; i < venue->subject_count; i++)
        if (venue->subjects[i] == subject)
            return true;
    return false;
}

static int
check_row (uint32_t venue, uint32_t subject, const uint8_t *cells, void *arg)
{
    check_t *c = arg;
    pingyi_shard_t *self = c->self;
    const pingyi_election_t *e = self->election;
    char why[PINGYI_ERR_MAX];
    if (venue >= e->venue_count || self->slot_of[venue] < 0)
        snprintf (why, sizeof why, "a block of venue index %" PRIu32 ", not one of this shard's", venue);
    else if (subject >= e->subject_count || !on_form (&e->venues[venue], subject))
        snprintf (why, sizeof why, "venue %s: a block of subject index %" PRIu32 ", not on its form",
                  e->venues[venue].id, subject);
    else {
        int32_t slot = self->slot_of[venue];
        c->rows[slot]++;
        char detail[PINGYI_ERR_MAX];
        if (pingyi_count_block_agrees (e, &c->shape, cells, c->figures[slot].by_category, detail,
                                       sizeof detail) == 0)
            return c->fn ? c->fn (venue, subject, cells, c->arg) : 0;
        snprintf (why, sizeof why, "venue %.32s, subject %.32s, %.160s", e->venues[venue].id,
                  e->subjects[subject].id, detail);
    }
    pingyi_fail (c->err, "%s: damaged: the %s count: %s (pingyi tally --recount on a copy)", self->path, c->view,
                 why);
    c->failed = true;
    return -1;
}

/*  One view: every block checked, then every venue with ballots holding a
    block for each subject of its form.  */
static int
check_view (pingyi_shard_t *self, MDB_txn *txn, bool current, const pingyi_venue_figures_t *figures,
            pingyi_shard_row_fn *fn, void *arg, char *err)
{
    check_t c = {.self = self, .figures = figures, .view = current ? "current" : "released",
                 .fn = fn, .arg = arg, .err = err};
    pingyi_count_shape (self->election, &c.shape);
    for (size_t s = 0; s < self->slot_count; s++) {
        const pingyi_venue_figures_t *f = &figures[s];
        uint64_t sum = 0;
        for (size_t k = 0; k < self->categories; k++)
            sum += f->by_category[k];
        if (sum != f->accepted || f->blank > f->accepted)
            return pingyi_fail (err,
                                "%s: damaged: venue %s's %s figures: %" PRIu64 " accepted, %" PRIu64
                                " by category, %" PRIu64 " blank (pingyi tally --recount on a copy)",
                                self->path, self->election->venues[self->venue_of[s]].id, c.view, f->accepted,
                                sum, f->blank);
    }
    c.rows = calloc (self->slot_count + 1, sizeof *c.rows);
    if (!c.rows)
        return pingyi_fail (err, "out of memory");
    int result;
    int rc = shard_walk_rows (self, txn, current, check_row, &c, &result);
    if (rc) {
        free (c.rows);
        return shard_lmdb_fail (self, err, "counts", rc);
    }
    if (result) {
        free (c.rows);
        return c.failed ? -1 : result;
    }
    for (size_t s = 0; s < self->slot_count; s++) {
        const pingyi_venue_t *v = &self->election->venues[self->venue_of[s]];
        if (figures[s].accepted > 0 && c.rows[s] != v->subject_count) {
            free (c.rows);
            return pingyi_fail (err,
                                "%s: damaged: the %s count: venue %s has %" PRIu64
                                " ballots but blocks for %" PRIu32 " of the %zu subjects on its form "
                                "(pingyi tally --recount on a copy)",
                                self->path, c.view, v->id, figures[s].accepted, c.rows[s], v->subject_count);
        }
    }
    free (c.rows);
    return 0;
}

int
pingyi_shard_read_verified (pingyi_shard_t *self, pingyi_shard_row_fn *row_fn, pingyi_shard_figures_fn *fig_fn,
                            void *arg, char *err)
{
    size_t n = self->slot_count + 1;
    pingyi_venue_figures_t *cur = calloc (n, sizeof *cur), *rel = calloc (n, sizeof *rel);
    if (!cur || !rel) {
        free (cur);
        free (rel);
        return pingyi_fail (err, "out of memory");
    }
    MDB_txn *txn;
    int rc = shard_read_txn (self, &txn, err);
    if (rc == 0) {
        rc = shard_figures_load (self, txn, cur, rel, err);
        if (rc != 0 && rc != -1)
            rc = shard_lmdb_fail (self, err, "venues", rc);
        if (rc == 0)
            rc = check_view (self, txn, false, rel, NULL, NULL, err);
        if (rc == 0)
            rc = check_view (self, txn, true, cur, row_fn, arg, err);
        mdb_txn_abort (txn);
    }
    for (size_t s = 0; rc == 0 && fig_fn && s < self->slot_count; s++)
        rc = fig_fn (&cur[s], arg);
    free (cur);
    free (rel);
    return rc;
}

int
pingyi_shard_check_blocks (pingyi_shard_t *self, char *err)
{
    return pingyi_shard_read_verified (self, NULL, NULL, NULL, err);
}
