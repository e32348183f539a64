/*  venues.c — a venue's close and reopen (each one durable transaction
    that releases it), its reopen reasons and its current figures.  */
#define _GNU_SOURCE
#include "shard_impl.h"

#include <string.h>

/*  --------------------------------------------------------------------------
    Venues.  */

typedef struct {
    int32_t slot;
    int64_t issued, collected, sent;
} close_arg_t;

static int
close_txn (pingyi_shard_t *self, MDB_txn *txn, void *arg, char *err)
{
    close_arg_t *c = arg;
    shard_work_reset (self);
    pingyi_venue_figures_t *f = shard_work_figures (self, c->slot);
    f->issued = c->issued;
    f->collected = c->collected;
    f->sent = c->sent;
    f->closed = true;
    return shard_finish_txn (self, txn, c->slot, err);
}

/*  The slot of a venue a close or reopen may write to: the shard writable
    and running, the venue one of its own.  -1 with err.  */
static int32_t
venue_slot (pingyi_shard_t *self, uint32_t venue, char *err)
{
    if (self->read_only)
        return pingyi_fail (err, "%s: opened read-only", self->path);
    if (self->stopped)
        return pingyi_fail (err, "shard %u has stopped (see the earlier error)", self->shard);
    if (venue >= self->election->venue_count || self->slot_of[venue] < 0)
        return pingyi_fail (err, "venue %u is not on shard %u", venue, self->shard);
    return self->slot_of[venue];
}

int
pingyi_shard_venue_close (pingyi_shard_t *self, uint32_t venue, int64_t issued, int64_t collected,
                          int64_t sent, pingyi_venue_figures_t *figures, char *err)
{
    int32_t slot = venue_slot (self, venue, err);
    if (slot < 0)
        return -1;
    close_arg_t c = {slot, issued, collected, sent};
    if (shard_write_txn (self, close_txn, &c, "venue close", err)) {
        shard_work_reset (self);
        return -1;
    }
    shard_work_commit (self);
    (void) shard_manifest_checkpoint (self, true);
    self->stats.venue_closes++;
    if (figures)
        *figures = self->figures[c.slot];
    return 0;
}

typedef struct {
    int32_t slot;
    const char *reason;
    size_t reason_len;
} reopen_arg_t;

/*  One transaction: the venue open again (declared counts unknown), its
    reopens + 1, the reason under that number, and a release (generation).  */
static int
reopen_txn (pingyi_shard_t *self, MDB_txn *txn, void *arg, char *err)
{
    reopen_arg_t *r = arg;
    shard_work_reset (self);
    pingyi_venue_figures_t *f = shard_work_figures (self, r->slot);
    f->issued = f->collected = f->sent = -1;
    f->closed = false;
    f->reopens++;
    uint8_t k[6];
    shard_reopen_key (k, self->venue_of[r->slot], f->reopens);
    MDB_val key = {sizeof k, k}, val = {r->reason_len, (void *) r->reason};
    int rc = mdb_put (txn, self->reopens, &key, &val, MDB_NOOVERWRITE);
    if (rc)
        return rc;
    return shard_finish_txn (self, txn, r->slot, err);
}

int
pingyi_shard_venue_reopen (pingyi_shard_t *self, uint32_t venue, const char *reason, size_t reason_len,
                           pingyi_venue_figures_t *figures, char *err)
{
    int32_t slot = venue_slot (self, venue, err);
    if (slot < 0)
        return -1;
    if (!self->figures[slot].closed)
        return pingyi_fail (err, "venue %s is not closed", self->election->venues[venue].id);
    if (reason_len < 1 || reason_len > PINGYI_TEXT_MAX)
        return pingyi_fail (err, "a reopen's reason has 1..%u bytes", (unsigned) PINGYI_TEXT_MAX);
    reopen_arg_t r = {slot, reason, reason_len};
    if (shard_write_txn (self, reopen_txn, &r, "venue reopen", err)) {
        shard_work_reset (self);
        return -1;
    }
    shard_work_commit (self);
    (void) shard_manifest_checkpoint (self, true);
    if (figures)
        *figures = self->figures[slot];
    return 0;
}

int
pingyi_shard_venue_reasons (pingyi_shard_t *self, uint32_t venue, pingyi_shard_reason_fn *fn, void *arg,
                            char *err)
{
    if (venue >= self->election->venue_count || self->slot_of[venue] < 0)
        return pingyi_fail (err, "venue %u is not on shard %u", venue, self->shard);
    if (!self->has_reopens)
        return 0;
    MDB_txn *txn;
    if (shard_read_txn (self, &txn, err))
        return -1;
    MDB_cursor *c;
    int rc = mdb_cursor_open (txn, self->reopens, &c);
    if (rc) {
        mdb_txn_abort (txn);
        return shard_lmdb_fail (self, err, "reopens", rc);
    }
    uint8_t k[6];
    shard_reopen_key (k, venue, 0);
    MDB_val key = {sizeof k, k}, val;
    int out = 0;
    rc = mdb_cursor_get (c, &key, &val, MDB_SET_RANGE);
    while (rc == 0 && key.mv_size == 6 && memcmp (key.mv_data, k, 2) == 0) {
        const uint8_t *p = key.mv_data;
        uint32_t n = pingyi_get_be32 (p + 2);
        if ((out = fn (n, val.mv_data, val.mv_size, arg)))
            break;
        rc = mdb_cursor_get (c, &key, &val, MDB_NEXT);
    }
    mdb_cursor_close (c);
    mdb_txn_abort (txn);
    if (out)
        return out;
    if (rc && rc != MDB_NOTFOUND)
        return shard_lmdb_fail (self, err, "reopens", rc);
    return 0;
}

int
pingyi_shard_venue_figures (pingyi_shard_t *self, uint32_t venue, pingyi_venue_figures_t *figures)
{
    if (venue >= self->election->venue_count || self->slot_of[venue] < 0)
        return -1;
    if (self->read_only) {
        MDB_txn *txn;
        if (shard_read_txn (self, &txn, NULL))
            return -1;
        int rc = shard_figures_load (self, txn, self->figures, self->released, NULL);
        mdb_txn_abort (txn);
        if (rc)
            return -1;
    }
    *figures = self->figures[self->slot_of[venue]];
    return 0;
}
