/*  apply.c — a batch, in one write transaction: each envelope checked in
    the order of docs/worker.md, deduplicated by (venue, ballot id),
    refusals remembered by their bytes, opened, validated, stored and
    counted; then release.c finishes the transaction, it commits durably,
    and only then do the working copies become the committed state.  */
#define _GNU_SOURCE
#include "shard_impl.h"
#include "quote.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
find_venue (pingyi_shard_t *self, const char *id, size_t len)
{
    if (!id || !len)
        return -1;
    if (self->last_venue >= 0) {
        const char *cached = self->election->venues[self->last_venue].id;
        if (strlen (cached) == len && memcmp (cached, id, len) == 0)
            return self->last_venue;
    }
    int v = pingyi_election_venue (self->election, id, len);
    if (v >= 0)
        self->last_venue = v;
    return v;
}

/*  --------------------------------------------------------------------------
    Applying a batch.  */

pingyi_venue_figures_t *
shard_work_figures (pingyi_shard_t *self, int32_t slot)
{
    if (!self->touched[slot]) {
        self->work[slot] = self->figures[slot];
        self->work_released[slot] = self->released[slot];
        self->releasing[slot] = false;
        self->touched[slot] = true;
        self->touched_list[self->touched_count++] = (uint32_t) slot;
    }
    return &self->work[slot];
}

void
shard_work_reset (pingyi_shard_t *self)
{
    for (size_t i = 0; i < self->touched_count; i++)
        self->touched[self->touched_list[i]] = false;
    self->touched_count = 0;
    self->work_info = self->info;
    memcpy (self->work_state, self->state, STATE_LEN);
    self->orphans_touched = false;
    memcpy (self->work_refused_rows, self->refused_rows, (self->slot_count + 1) * sizeof *self->refused_rows);
    memcpy (self->work_refused_loose, self->refused_loose,
            (self->slot_count + 1) * sizeof *self->refused_loose);
    self->refused_touched = false;
    shard_tally_clear (&self->deltas);
    grid_t *g = &self->grid;
    for (size_t i = 0; i < g->touched_count; i++) {
        uint32_t slot = g->touched[i];
        memset (g->cells + g->slot_base[slot], 0,
                (g->slot_base[slot + 1] - g->slot_base[slot]) * sizeof *g->cells);
        g->slot_touched[slot] = 0;
    }
    g->touched_count = 0;
    self->batch_accepted = self->batch_duplicates = self->batch_rejected = self->batch_unstored = 0;
    memset (self->batch_rejected_by, 0, sizeof self->batch_rejected_by);
}

/*  Refuse one envelope: result, the figures of the venue charged (the
    authenticated sender when it is one of this shard's, else the
    shard-level counters in meta), and a rate-limited log line.  */
static void reject (pingyi_shard_t *self, pingyi_shard_item_t *item, pingyi_reject_t code, int32_t charge,
                    const char *fmt, ...) PINGYI_PRINTF (5, 6);

static void
reject (pingyi_shard_t *self, pingyi_shard_item_t *item, pingyi_reject_t code, int32_t charge,
        const char *fmt, ...)
{
    item->status = PINGYI_ACK_REJECTED;
    item->reason = (uint8_t) code;
    item->receipt[0] = '\0';
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (item->text, sizeof item->text, fmt, ap);
    va_end (ap);
    if (charge >= 0) {
        pingyi_venue_figures_t *f = shard_work_figures (self, charge);
        f->rejected++;
        f->rejected_by[code]++;
    }
    else {
        self->work_info.orphan_rejected++;
        self->work_info.orphan_rejected_by[code]++;
        self->orphans_touched = true;
    }
    self->batch_rejected++;
    self->batch_rejected_by[code]++;
}

/*  A refusal made before the envelope opens, or VENUE_CLOSED: remembered
    by the envelope's bytes in `refused` (key: the charged venue, or
    REFUSED_ORPHAN, and the first 16 bytes of BLAKE2b-256 of the envelope;
    value: the reason), never by its ballot id, which nobody has verified.
    The same bytes again are answered the same and counted as a duplicate;
    new ones are stored and counted once.  Beyond refused_cap rows for the
    venue a refusal is counted each time (refusals_unstored).  Returns 0 or
    an LMDB code.  */
static int refuse (pingyi_shard_t *self, MDB_txn *txn, pingyi_shard_item_t *item, pingyi_reject_t code,
                   int32_t charge, const char *fmt, ...) PINGYI_PRINTF (6, 7);

static int
refuse (pingyi_shard_t *self, MDB_txn *txn, pingyi_shard_item_t *item, pingyi_reject_t code, int32_t charge,
        const char *fmt, ...)
{
    char text[PINGYI_ERR_MAX];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof text, fmt, ap);
    va_end (ap);
    size_t bucket = charge >= 0 ? (size_t) charge : self->slot_count;
    uint8_t k[REFUSED_KEY_LEN];
    uint8_t h[crypto_generichash_BYTES];
    static const uint8_t nothing[1] = {0};
    shard_venue_key (k, charge >= 0 ? self->venue_of[charge] : REFUSED_ORPHAN);
    crypto_generichash (h, sizeof h, item->envelope ? item->envelope : nothing,
                        item->envelope ? item->len : 0, NULL, 0);
    memcpy (k + 2, h, PINGYI_SHARD_REFUSED_HASH_LEN);
    MDB_val key = {sizeof k, k}, val;
    int rc = mdb_get (txn, self->refused, &key, &val);
    if (rc == 0) {
        if (val.mv_size != 1)
            return MDB_CORRUPTED;
        uint8_t was = *(const uint8_t *) val.mv_data;
        item->status = PINGYI_ACK_REJECTED;
        item->reason = was;
        item->receipt[0] = '\0';
        if (snprintf (item->text, sizeof item->text, "resend of an envelope refused earlier (%s): %s",
                      pingyi_reject_name ((pingyi_reject_t) was), text) < 0)
            item->text[0] = '\0';
        if (charge >= 0)
            shard_work_figures (self, charge)->duplicates++;
        self->batch_duplicates++;
        return 0;
    }
    if (rc != MDB_NOTFOUND)
        return rc;
    if (self->work_refused_rows[bucket] < self->refused_cap) {
        uint8_t reason = (uint8_t) code;
        val.mv_size = 1;
        val.mv_data = &reason;
        rc = mdb_put (txn, self->refused, &key, &val, MDB_NOOVERWRITE);
        if (rc)
            return rc;
        self->work_refused_rows[bucket]++;
    }
    else {
        self->work_refused_loose[bucket]++;
        self->batch_unstored++;
    }
    self->refused_touched = true;
    reject (self, item, code, charge, "%s", text);
    return 0;
}

static void
log_rejections (pingyi_shard_t *self, const pingyi_shard_item_t *items, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const pingyi_shard_item_t *it = &items[i];
        if (it->status != PINGYI_ACK_REJECTED || it->reason >= PINGYI_SHARD_REJECT_SLOTS)
            continue;
        uint64_t n = ++self->logged_by[it->reason];
        if (n <= REJECT_LOG_LINES)
            pingyi_info ("shard %u: rejected (%s): %s%s", self->shard,
                         pingyi_reject_name ((pingyi_reject_t) it->reason), it->text,
                         n == REJECT_LOG_LINES ? " [further rejections of this kind are only counted]" : "");
    }
}

/*  One envelope, in the order of the steps in docs/worker.md.  Returns 0 or
    an LMDB code (which aborts the batch).  */
static int
apply_one (pingyi_shard_t *self, MDB_txn *txn, pingyi_shard_item_t *item)
{
    const pingyi_election_t *e = self->election;
    char a[PINGYI_QUOTE_SIZE (PINGYI_ID_MAX)], b[PINGYI_QUOTE_SIZE (PINGYI_ID_MAX)];
    char perr[PINGYI_ERR_MAX];
    memset (item->ballot_id, 0, sizeof item->ballot_id);
    item->status = PINGYI_ACK_REJECTED;
    item->reason = 0;
    item->receipt[0] = item->text[0] = '\0';

    int sender = find_venue (self, item->sender, item->sender_len);
    int32_t charge = sender >= 0 ? self->slot_of[sender] : -1;

    /* 1. the clear header */
    pingyi_envelope_t env;
    if (!item->envelope || item->len > PINGYI_ENVELOPE_MAX) {
        return refuse (self, txn, item, PINGYI_REJECT_BAD_ENVELOPE, charge,
                       "envelope of %zu bytes (at most %d)", item->len, PINGYI_ENVELOPE_MAX);
    }
    if (pingyi_envelope_parse (item->envelope, item->len, &env, perr)) {
        return refuse (self, txn, item, PINGYI_REJECT_BAD_ENVELOPE, charge, "%s", perr);
    }
    memcpy (item->ballot_id, env.ballot_id, PINGYI_BALLOT_ID_LEN);

    /* 2. election */
    if (memcmp (env.fingerprint, e->fingerprint, PINGYI_FP_LEN) != 0) {
        char hex[2 * PINGYI_FP_LEN + 1];
        pingyi_hex (hex, env.fingerprint, PINGYI_FP_LEN);
        return refuse (self, txn, item, PINGYI_REJECT_WRONG_ELECTION, charge,
                       "envelope is for election %s, this count is %s", hex, e->fingerprint_hex);
    }
    /* 3. venue: known, and the authenticated sender */
    int venue = find_venue (self, env.venue, env.venue_len);
    if (venue < 0) {
        return refuse (self, txn, item, PINGYI_REJECT_UNKNOWN_VENUE, charge,
                       "venue %s is not in the election definition",
                       pingyi_quote (a, sizeof a, env.venue, env.venue_len, PINGYI_ID_MAX));
    }
    if (venue != sender) {
        return refuse (self, txn, item, PINGYI_REJECT_VENUE_MISMATCH, charge,
                       "envelope names venue %s but was sent by %s",
                       pingyi_quote (a, sizeof a, env.venue, env.venue_len, PINGYI_ID_MAX),
                       pingyi_quote (b, sizeof b, item->sender ? item->sender : "",
                                     item->sender ? item->sender_len : 0, PINGYI_ID_MAX));
    }
    /* 4. shard */
    int32_t slot = self->slot_of[venue];
    if (slot < 0) {
        return refuse (self, txn, item, PINGYI_REJECT_WRONG_SHARD, charge,
                       "venue %s belongs to shard %u, not shard %u", e->venues[venue].id,
                       e->venues[venue].shard, self->shard);
    }
    /* 5. dedupe: reads in this transaction see its own earlier puts, so a
       second copy within the batch is a duplicate too */
    uint8_t k[IDS_KEY_LEN];
    shard_venue_key (k, (uint32_t) venue);
    memcpy (k + 2, env.ballot_id, PINGYI_BALLOT_ID_LEN);
    MDB_val key = {IDS_KEY_LEN, k}, val;
    int rc = mdb_get (txn, self->ids, &key, &val);
    if (rc == 0) {
        pingyi_venue_figures_t *f = shard_work_figures (self, slot);
        f->duplicates++;
        self->batch_duplicates++;
        const uint8_t *p = val.mv_data;
        if (val.mv_size < IDS_HEAD_LEN)
            return MDB_CORRUPTED;
        if (p[0] == PINGYI_ACK_ACCEPTED) {
            /* the receipt of the ballot as stored, not of these bytes */
            if (val.mv_size == IDS_HEAD_LEN)
                return MDB_CORRUPTED;
            item->status = PINGYI_ACK_DUPLICATE;
            pingyi_envelope_receipt (item->receipt, p + IDS_HEAD_LEN, val.mv_size - IDS_HEAD_LEN);
        }
        else {
            /* same answer as the first time, counted rejected only once */
            item->status = PINGYI_ACK_REJECTED;
            item->reason = p[1];
            snprintf (item->text, sizeof item->text, "resend of a ballot rejected earlier (%s)",
                      pingyi_reject_name ((pingyi_reject_t) p[1]));
        }
        return 0;
    }
    if (rc != MDB_NOTFOUND)
        return rc;

    /* 6. venue still open */
    pingyi_venue_figures_t *f = shard_work_figures (self, slot);
    if (f->closed) {
        return refuse (self, txn, item, PINGYI_REJECT_VENUE_CLOSED, slot,
                       "venue %s has closed its round; no more ballots", e->venues[venue].id);
    }
    /* 7. open.  Not stored in `ids` when it fails: an unauthenticated
       envelope must not be able to claim an id that a genuine one may carry
       later; remembered by its bytes in `refused` instead (refuse). */
    size_t body_len = 0;
    if (env.ciphertext_len < PINGYI_MAC_LEN || env.ciphertext_len - PINGYI_MAC_LEN > sizeof self->body ||
        pingyi_envelope_open (&env, self->keys[slot], self->body, sizeof self->body, &body_len)) {
        return refuse (
            self, txn, item, PINGYI_REJECT_DECRYPT, slot,
            "envelope does not open with venue %s's key (altered, or sealed for another shard key)",
            e->venues[venue].id);
    }

    /* 8. the ballot itself.  A refusal here is authenticated, so it is
       stored: a resend gets the same answer and counts once. */
    pingyi_reject_t code =
        pingyi_ballot_decode (e, (size_t) venue, self->body, body_len, &self->ballot, perr);
    if (code != PINGYI_REJECT_NONE) {
        if (!shard_stored_reject (code))
            code = PINGYI_REJECT_MALFORMED; /* the open check counts stored codes */
        uint8_t row[IDS_HEAD_LEN] = {PINGYI_ACK_REJECTED, (uint8_t) code};
        val.mv_size = IDS_HEAD_LEN;
        val.mv_data = row;
        rc = mdb_put (txn, self->ids, &key, &val, MDB_NOOVERWRITE);
        if (rc)
            return rc;
        reject (self, item, code, slot, "%s", perr);
        return 0;
    }

    /* 9. accept: the envelope goes into its ids row (written in place) */
    val.mv_size = IDS_HEAD_LEN + item->len;
    val.mv_data = NULL;
    rc = mdb_put (txn, self->ids, &key, &val, MDB_NOOVERWRITE | MDB_RESERVE);
    if (rc)
        return rc;
    uint8_t *row = val.mv_data;
    row[0] = PINGYI_ACK_ACCEPTED;
    row[1] = 0;
    memcpy (row + IDS_HEAD_LEN, item->envelope, item->len);
    pingyi_shard_digest_add (self->work_state, item->envelope, item->len);
    self->work_info.current_sequence++;
    if (self->grid.cells)
        shard_grid_count (&self->grid, &self->ballot, e, (size_t) slot);
    else
        pingyi_ballot_count (&self->ballot, e, (size_t) venue, shard_tally_count_fn, &self->deltas);
    f->accepted++;
    if (pingyi_ballot_is_blank (&self->ballot, e))
        f->blank++;
    if (self->ballot.category < self->categories)
        f->by_category[self->ballot.category]++;
    self->batch_accepted++;
    item->status = PINGYI_ACK_ACCEPTED;
    pingyi_envelope_receipt (item->receipt, item->envelope, item->len);
    return 0;
}

typedef struct {
    pingyi_shard_item_t *items;
    size_t count;
} batch_arg_t;

static int
batch_txn (pingyi_shard_t *self, MDB_txn *txn, void *arg, char *err)
{
    batch_arg_t *batch = arg;
    shard_work_reset (self);
    for (size_t i = 0; i < batch->count; i++) {
        int rc = apply_one (self, txn, &batch->items[i]);
        if (rc)
            return rc;
    }
    return shard_finish_txn (self, txn, -1, err);
}

/*  After a commit: the working copies become the committed state.  */
void
shard_work_commit (pingyi_shard_t *self)
{
    for (size_t i = 0; i < self->touched_count; i++) {
        uint32_t slot = self->touched_list[i];
        self->figures[slot] = self->work[slot];
        self->released[slot] = self->work_released[slot];
        self->touched[slot] = false;
    }
    self->touched_count = 0;
    self->info = self->work_info;
    memcpy (self->state, self->work_state, STATE_LEN);
    memcpy (self->refused_rows, self->work_refused_rows, (self->slot_count + 1) * sizeof *self->refused_rows);
    memcpy (self->refused_loose, self->work_refused_loose,
            (self->slot_count + 1) * sizeof *self->refused_loose);
    self->stats.sequence = self->info.current_sequence;
    self->stats.settled_sequence = self->info.sequence;
    self->stats.generation = self->info.generation;
    self->stats.map_size = self->db.map_size;
}

/*  Applied in the caller's order: nothing stored depends on it (ids are
    keyed by (venue, ballot id), the digest and the counters are sums), so
    the batch needs no shuffle.  Of two copies of one ballot in a batch the
    first is accepted and the second answered as its duplicate.  */
int
pingyi_shard_apply (pingyi_shard_t *self, pingyi_shard_item_t *items, size_t count, char *err)
{
    if (self->read_only)
        return pingyi_fail (err, "%s: opened read-only", self->path);
    if (self->stopped)
        return pingyi_fail (err, "shard %u has stopped taking ballots (see the earlier error)", self->shard);
    if (count == 0)
        return 0;
    int64_t t0 = pingyi_now_ms ();
    batch_arg_t batch = {items, count};
    if (shard_write_txn (self, batch_txn, &batch, "batch", err)) {
        shard_work_reset (self);
        self->stats.batches_failed++;
        if (!self->stopped) {
            /* a failed commit may leave LMDB unusable (MDB_PANIC): stop
               rather than answer from a state nobody can vouch for, until
               pingyi_shard_resume reopens and checks it */
            int rc = self->last_write_rc;
            shard_stop (self,
                        pingyi_lmdb_disk_full (&self->db, rc, NULL) ? PINGYI_SHARD_STOP_DISK_FULL
                        : rc == EIO                                 ? PINGYI_SHARD_STOP_IO
                                                                    : PINGYI_SHARD_STOP_OTHER,
                        err);
            pingyi_error ("shard %u: batch of %zu not committed (%s): nothing of it is acknowledged; this "
                          "shard takes no more ballots until a retry succeeds (every %d s)",
                          self->shard, count, err ? err : "?", PINGYI_SHARD_RESUME_MS / 1000);
        }
        return -1;
    }
    shard_work_commit (self);
    (void) shard_manifest_checkpoint (self, false);
    pingyi_shard_stats_t *s = &self->stats;
    s->accepted += self->batch_accepted;
    s->duplicates += self->batch_duplicates;
    s->rejected += self->batch_rejected;
    s->refusals_unstored += self->batch_unstored;
    for (int i = 0; i < PINGYI_SHARD_REJECT_SLOTS; i++)
        s->rejected_by[i] += self->batch_rejected_by[i];
    s->batches++;
    s->commit_ms_total += (uint64_t) self->last_commit_ms;
    if ((uint64_t) self->last_commit_ms > s->commit_ms_max)
        s->commit_ms_max = (uint64_t) self->last_commit_ms;
    s->apply_ms_total += (uint64_t) (pingyi_now_ms () - t0);
    log_rejections (self, items, count);
    return 0;
}
