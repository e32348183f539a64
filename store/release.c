/*  release.c — the end of every write transaction (a batch, a close, a
    reopen): the counter deltas written into the `counts`/`pending` rows,
    the release rule (k or more unreleased ballots, or a close), the
    figures and meta.  */
#define _GNU_SOURCE
#include "shard_impl.h"

#include <stdlib.h>
#include <string.h>

/*  --------------------------------------------------------------------------
    The `counts` and `pending` dbs (docs/worker.md).  One row per (venue,
    subject) in each: key venue u16 BE, subject u16 BE; value every counter
    of that subject at that venue, row_cells u32 LE, the cell of (item,
    category, m) at (item x categories + category) x marks + m, where m is
    the choice's index, marks - 2 for BLANK and marks - 1 for OVER.  `counts`
    holds what is released, `pending` what is counted but not yet released;
    their sum is the full count.  Why rows and not a key per counter: a
    batch of a few ballots adds to nearly every counter of its venues, so
    with a key per counter each commit rewrote nearly every counter page
    (237 leaves for a shard of 15 venues x 66 cells); rows put the same
    counters on a tenth of the pages (docs/PERFORMANCE.md).  The readers
    (read.c, recount.c) expand the rows back into (counter key, count) in key order.  */

/*  The counter key of cell i of the row (venue, subject).  */
void
shard_row_cell_key (const pingyi_shard_t *self, const uint8_t row[ROW_KEY_LEN], size_t i,
                    uint8_t out[PINGYI_COUNTER_KEY_LEN])
{
    size_t m = i % self->marks;
    size_t rest = i / self->marks;
    pingyi_counter_key_t key = {
        .venue = pingyi_get_be16 (row),
        .subject = pingyi_get_be16 (row + 2),
        .item = (uint8_t) (rest / self->election->category_count),
        .category = (uint8_t) (rest % self->election->category_count),
        .mark = pingyi_count_cell_mark (m, self->marks),
    };
    pingyi_counter_key_pack (&key, out);
}

/*  One row of a transaction, through a cursor on each db (one descent per
    read and write).  Releasing: counts = counts + pending + delta, and the
    pending row goes.  Not releasing: pending = pending + delta.  So a row
    is written once per commit, in one db or the other.  delta NULL: no
    new ballots (a release of what was pending).  A cell whose full count
    (counts + pending) would pass 2^32 - 1 (more ballots than any venue
    holds) fails the batch, loudly.  */
static int
put_row (pingyi_shard_t *self, MDB_cursor *cc, MDB_cursor *pc, uint32_t venue, uint32_t subject,
         const uint32_t *delta, bool release, char *err)
{
    uint8_t k[ROW_KEY_LEN];
    pingyi_row_key_pack (venue, subject, k);
    size_t bytes = self->row_cells * 4;
    MDB_val ck = {ROW_KEY_LEN, k}, pk = {ROW_KEY_LEN, k}, cv = {0, NULL}, pv = {0, NULL};
    int crc = mdb_cursor_get (cc, &ck, &cv, MDB_SET_KEY);
    if ((crc != 0 && crc != MDB_NOTFOUND) || (crc == 0 && cv.mv_size != bytes))
        return crc ? crc : MDB_CORRUPTED;
    int prc = mdb_cursor_get (pc, &pk, &pv, MDB_SET_KEY);
    if ((prc != 0 && prc != MDB_NOTFOUND) || (prc == 0 && pv.mv_size != bytes))
        return prc ? prc : MDB_CORRUPTED;
    if (!delta && (prc == MDB_NOTFOUND || !release))
        return 0;
    const uint8_t *have_c = crc == 0 ? cv.mv_data : NULL;
    const uint8_t *have_p = prc == 0 ? pv.mv_data : NULL;
    uint8_t *b = self->row_buf;
    for (size_t i = 0; i < self->row_cells; i++) {
        uint64_t c = have_c ? pingyi_get_le32 (have_c + 4 * i) : 0;
        uint64_t p = have_p ? pingyi_get_le32 (have_p + 4 * i) : 0;
        uint64_t d = delta ? delta[i] : 0;
        if (c + p + d > UINT32_MAX)
            return pingyi_fail (err, "%s: counter of venue %s, subject %u would pass 2^32 - 1", self->path,
                                self->election->venues[venue].id, subject);
        pingyi_put_le32 (b + 4 * i, (uint32_t) (release ? c + p + d : p + d));
    }
    MDB_val val = {bytes, b};
    ck.mv_data = pk.mv_data = k; /* not the page's copy of the key: the page is about to change */
    ck.mv_size = pk.mv_size = ROW_KEY_LEN;
    if (!release)
        return mdb_cursor_put (pc, &pk, &val, prc == 0 ? MDB_CURRENT : 0);
    int rc = mdb_cursor_put (cc, &ck, &val, crc == 0 ? MDB_CURRENT : 0);
    if (rc == 0 && prc == 0)
        rc = mdb_cursor_del (pc, 0);
    return rc;
}

/*  The grid's counted venues, each form position written as its row: a
    venue's cells are its rows as they stand.  Every ballot marks every
    cell of its form, so a counted venue's rows all change.  */
static int
write_grid (pingyi_shard_t *self, MDB_cursor *cc, MDB_cursor *pc, char *err)
{
    grid_t *g = &self->grid;
    int rc = 0;
    for (size_t t = 0; t < g->touched_count && !rc; t++) {
        uint32_t slot = g->touched[t];
        const pingyi_venue_t *v = &self->election->venues[self->venue_of[slot]];
        for (size_t pos = 0; pos < v->subject_count && !rc; pos++)
            rc = put_row (self, cc, pc, self->venue_of[slot], (uint32_t) v->subjects[pos],
                          g->cells + g->slot_base[slot] + pos * self->row_cells, self->releasing[slot], err);
    }
    return rc;
}

/*  The hash table's deltas (a shard whose grid would be too large),
    sorted, gathered row by row.  */
static int
write_spill (pingyi_shard_t *self, MDB_cursor *cc, MDB_cursor *pc, char *err)
{
    tally_t *t = &self->deltas;
    if (t->used > self->sorted_cap) {
        uint64_t *sorted = realloc (self->sorted, t->used * sizeof *sorted);
        if (!sorted)
            return pingyi_fail (err, "out of memory for the batch's counter deltas");
        self->sorted = sorted;
        self->sorted_cap = t->used;
    }
    size_t n = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].count)
            self->sorted[n++] = t->slots[i].key;
    if (n > 1)
        qsort (self->sorted, n, sizeof *self->sorted, shard_cmp_u64);
    const pingyi_election_t *e = self->election;
    int rc = 0;
    for (size_t i = 0; i < n && !rc;) {
        uint64_t row = self->sorted[i] >> 32; /* venue, subject */
        uint32_t venue = (uint32_t) (row >> 16);
        memset (self->row_sum, 0, self->row_cells * sizeof *self->row_sum);
        for (; i < n && self->sorted[i] >> 32 == row; i++) {
            uint8_t packed[PINGYI_COUNTER_KEY_LEN];
            pingyi_counter_key_t key;
            pingyi_put_be64 (packed, self->sorted[i]);
            pingyi_counter_key_unpack (packed, &key);
            size_t m = pingyi_count_cell (key.mark, self->marks);
            uint64_t add = shard_tally_find (t, self->sorted[i], false)->count;
            if (key.venue >= e->venue_count || self->slot_of[key.venue] < 0 || key.item >= e->item_count ||
                key.category >= e->category_count || m >= self->marks || add > UINT32_MAX)
                return pingyi_fail (err, "%s: counter %016llx has no place in a counts row", self->path,
                                    (unsigned long long) self->sorted[i]);
            self->row_sum[(key.item * e->category_count + key.category) * self->marks + m] += (uint32_t) add;
        }
        rc = put_row (self, cc, pc, venue, (uint32_t) (row & 0xffff), self->row_sum,
                      self->releasing[self->slot_of[venue]], err);
    }
    return rc;
}

/*  A releasing venue's pending rows that no delta of this transaction
    moved (a close, or rows its ballots of this batch did not reach): each
    added into counts and deleted.  Each pass removes one row.  */
static int
release_pending (pingyi_shard_t *self, MDB_cursor *cc, MDB_cursor *pc, uint32_t venue, char *err)
{
    for (;;) {
        uint8_t k[ROW_KEY_LEN];
        pingyi_row_key_pack (venue, 0, k);
        MDB_val key = {ROW_KEY_LEN, k}, val;
        int rc = mdb_cursor_get (pc, &key, &val, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND)
            return 0;
        if (rc)
            return rc;
        if (key.mv_size != ROW_KEY_LEN)
            return MDB_CORRUPTED;
        const uint8_t *p = key.mv_data;
        if (pingyi_get_be16 (p) != venue)
            return 0;
        rc = put_row (self, cc, pc, venue, pingyi_get_be16 (p + 2), NULL, true, err);
        if (rc)
            return rc;
    }
}

static int
write_counters (pingyi_shard_t *self, MDB_txn *txn, char *err)
{
    if (self->deltas.oom)
        return pingyi_fail (err, "out of memory for the batch's counter deltas");
    MDB_cursor *cc = NULL, *pc = NULL;
    int rc = mdb_cursor_open (txn, self->counts, &cc);
    if (rc == 0)
        rc = mdb_cursor_open (txn, self->pending, &pc);
    if (rc == 0 && self->grid.cells && self->grid.touched_count)
        rc = write_grid (self, cc, pc, err);
    if (rc == 0 && self->deltas.used)
        rc = write_spill (self, cc, pc, err);
    for (size_t i = 0; i < self->touched_count && rc == 0; i++) {
        uint32_t slot = self->touched_list[i];
        if (self->releasing[slot])
            rc = release_pending (self, cc, pc, self->venue_of[slot], err);
    }
    if (pc)
        mdb_cursor_close (pc);
    if (cc)
        mdb_cursor_close (cc);
    return rc;
}

static int
write_figures (pingyi_shard_t *self, MDB_txn *txn)
{
    for (size_t i = 0; i < self->touched_count; i++) {
        uint32_t slot = self->touched_list[i];
        uint8_t k[2], b[2 * FIGURES_MAX];
        shard_venue_key (k, self->venue_of[slot]);
        shard_figures_pack (self, b, &self->work[slot]);
        shard_figures_pack (self, b + self->record_len, &self->work_released[slot]);
        MDB_val key = {2, k}, val = {2 * self->record_len, b};
        int rc = mdb_put (txn, self->venues, &key, &val, 0);
        if (rc)
            return rc;
    }
    return 0;
}

/*  The end of every write transaction (a batch, a close): decide which
    touched venues release, write the counters, the figures and meta.

    The release rule (docs/worker.md, "Release"): a venue releases when k
    or more of its accepted ballots are unreleased (those pending before,
    plus this batch's), at its close, and — once closed — whenever its
    figures change (every ballot of it is released by then; what still
    moves is resends and refusals).  Releasing copies its current figures
    to its released ones and moves its pending counters into counts.  A
    transaction that releases anything moves the generation; one after
    which nothing is pending anywhere moves the settled point to the
    current sequence and digest.  */
int
shard_finish_txn (pingyi_shard_t *self, MDB_txn *txn, int32_t closing, char *err)
{
    bool released = false;
    uint64_t pending = self->info.pending;
    for (size_t i = 0; i < self->touched_count; i++) {
        uint32_t slot = self->touched_list[i];
        const pingyi_venue_figures_t *cur = &self->work[slot];
        uint64_t before = self->figures[slot].accepted - self->released[slot].accepted;
        uint64_t now = cur->accepted - self->work_released[slot].accepted;
        bool release = (int32_t) slot == closing || cur->closed || now >= self->k;
        self->releasing[slot] = release;
        if (release) {
            self->work_released[slot] = *cur;
            released = true;
            now = 0;
        }
        pending = pending - before + now;
    }
    int rc = write_counters (self, txn, err);
    if (rc == 0)
        rc = write_figures (self, txn);
    if (rc)
        return rc;

    pingyi_shard_info_t *w = &self->work_info;
    w->pending = pending;
    if (w->current_sequence != self->info.current_sequence) {
        pingyi_shard_digest (w->current_digest, self->work_state);
        if ((rc = shard_meta_put_u64 (self, txn, "sequence", w->current_sequence)) ||
            (rc = shard_meta_put (self, txn, "lthash", self->work_state, STATE_LEN)))
            return rc;
    }
    if (released) {
        w->generation++;
        if ((rc = shard_meta_put_u64 (self, txn, "generation", w->generation)))
            return rc;
    }
    if (pending == 0 && (w->sequence != w->current_sequence ||
                         memcmp (w->digest, w->current_digest, PINGYI_SHARD_DIGEST_LEN) != 0)) {
        w->sequence = w->current_sequence;
        memcpy (w->digest, w->current_digest, PINGYI_SHARD_DIGEST_LEN);
        if ((rc = shard_meta_put_settled (self, txn, w)))
            return rc;
    }
    if (self->orphans_touched && (rc = shard_meta_put_orphans (self, txn, w)))
        return rc;
    if (self->refused_touched &&
        (rc = shard_meta_put_refused (self, txn, self->work_refused_rows, self->work_refused_loose)))
        return rc;
    return 0;
}
