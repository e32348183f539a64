/*  read.c — reading a shard: info, the snapshot for TALLY_QUERY
    (released data only), and the offline walks over its dbs.  */
#define _GNU_SOURCE
#include "shard_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*  --------------------------------------------------------------------------
    Reading: info, snapshot, walks.  */

int
pingyi_shard_info (pingyi_shard_t *self, pingyi_shard_info_t *info, char *err)
{
    if (!self->read_only) {
        *info = self->info;
        return 0;
    }
    MDB_txn *txn;
    if (shard_read_txn (self, &txn, err))
        return -1;
    int rc = shard_meta_load (self, txn, info, NULL, err);
    if (rc == 0)
        rc = shard_figures_load (self, txn, self->figures, self->released, err);
    mdb_txn_abort (txn);
    if (rc == -1)
        return -1;
    if (rc)
        return shard_lmdb_fail (self, err, "meta", rc);
    info->pending = shard_pending_of (self, self->figures, self->released);
    return 0;
}

int
pingyi_shard_snapshot (pingyi_shard_t *self, const uint8_t from[PINGYI_ROW_KEY_LEN], size_t max_bytes,
                       pingyi_shard_snapshot_t *snap, char *err)
{
    memset (snap, 0, sizeof *snap);
    size_t bytes = self->row_cells * 4;
    if (max_bytes == 0 || max_bytes > PINGYI_SHARD_SNAPSHOT_BYTES)
        max_bytes = PINGYI_SHARD_SNAPSHOT_BYTES;
    size_t max_rows = bytes ? max_bytes / bytes : 1;
    if (max_rows < 1)
        max_rows = 1;
    if (max_rows > PINGYI_SNAPSHOT_BLOCKS_MAX)
        max_rows = PINGYI_SNAPSHOT_BLOCKS_MAX;
    snap->venues = calloc (self->slot_count + 1, sizeof *snap->venues);
    snap->blocks = malloc (max_rows * sizeof *snap->blocks);
    snap->cells = malloc (max_rows * bytes + 1);
    if (!snap->venues || !snap->blocks || !snap->cells) {
        pingyi_shard_snapshot_free (snap);
        return pingyi_fail (err, "out of memory for a snapshot");
    }
    MDB_txn *txn;
    if (shard_read_txn (self, &txn, err)) {
        pingyi_shard_snapshot_free (snap);
        return -1;
    }
    MDB_cursor *c = NULL;
    pingyi_shard_info_t info;
    int rc = shard_meta_load (self, txn, &info, NULL, err);
    if (rc == 0)
        rc = shard_figures_load (self, txn, NULL, snap->venues, err);
    if (rc == 0)
        rc = mdb_cursor_open (txn, self->counts, &c);
    if (rc == 0) {
        /* released only: what is current but unreleased stays out */
        pingyi_shard_info_t *out = &snap->info;
        out->shard = info.shard;
        out->shard_count = info.shard_count;
        memcpy (out->fingerprint, info.fingerprint, PINGYI_FP_LEN);
        out->sequence = info.sequence;
        memcpy (out->digest, info.digest, PINGYI_SHARD_DIGEST_LEN);
        out->generation = info.generation;
        snap->venue_count = self->slot_count;
        uint8_t start[ROW_KEY_LEN] = {0};
        if (from)
            memcpy (start, from, sizeof start);
        MDB_val k = {ROW_KEY_LEN, start}, v;
        rc = mdb_cursor_get (c, &k, &v, MDB_SET_RANGE);
        while (rc == 0) {
            if (k.mv_size != ROW_KEY_LEN || v.mv_size != bytes) {
                rc = MDB_CORRUPTED;
                break;
            }
            if (snap->block_count == max_rows) {
                snap->more = true;
                memcpy (snap->next, k.mv_data, ROW_KEY_LEN);
                break;
            }
            /* the stored block, byte for byte */
            pingyi_block_t *row = &snap->blocks[snap->block_count];
            uint8_t *cells = snap->cells + snap->block_count * bytes;
            memcpy (cells, v.mv_data, bytes);
            pingyi_row_key_unpack (k.mv_data, &row->venue, &row->subject);
            row->cells = cells;
            row->len = bytes;
            snap->block_count++;
            rc = mdb_cursor_get (c, &k, &v, MDB_NEXT);
        }
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (c)
        mdb_cursor_close (c);
    mdb_txn_abort (txn);
    if (rc) {
        pingyi_shard_snapshot_free (snap);
        return rc == -1 ? -1 : shard_lmdb_fail (self, err, "snapshot", rc);
    }
    return 0;
}

void
pingyi_shard_snapshot_free (pingyi_shard_snapshot_t *snap)
{
    if (!snap)
        return;
    free (snap->venues);
    free (snap->blocks);
    free (snap->cells);
    snap->venues = NULL;
    snap->blocks = NULL;
    snap->cells = NULL;
    snap->venue_count = snap->block_count = 0;
}

/*  Walk one db in key order; step returns non-zero to stop (that value is
    returned), or -2 for a malformed row.  */
typedef int (shard_row_fn) (pingyi_shard_t *self, const MDB_val *k, const MDB_val *v, void *fn, void *arg);

static int
walk (pingyi_shard_t *self, MDB_dbi dbi, shard_row_fn *step, void *fn, void *arg, const char *what, char *err)
{
    MDB_txn *txn;
    if (shard_read_txn (self, &txn, err))
        return -1;
    MDB_cursor *c;
    int rc = mdb_cursor_open (txn, dbi, &c);
    if (rc) {
        mdb_txn_abort (txn);
        return shard_lmdb_fail (self, err, what, rc);
    }
    MDB_val k, v;
    int result = 0;
    for (rc = mdb_cursor_get (c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get (c, &k, &v, MDB_NEXT)) {
        result = step (self, &k, &v, fn, arg);
        if (result)
            break;
    }
    mdb_cursor_close (c);
    mdb_txn_abort (txn);
    if (result == -2)
        return pingyi_fail (err, "%s: %s: malformed row", self->path, what);
    if (result)
        return result;
    if (rc != MDB_NOTFOUND)
        return shard_lmdb_fail (self, err, what, rc);
    return 0;
}

/*  The count blocks of `counts` (plus `pending` when with_pending: the
    full count), in key order, each block once to fn as u32 LE cells.  The
    two dbs share their key and block layout, so a merge of two cursors on
    the key gives every block once, summed (a cell's full count fits a u32:
    a batch that would pass it fails).  Returns 0 or an LMDB code; *result
    is what a callback that stopped the walk returned.  */
int
shard_walk_rows (pingyi_shard_t *self, MDB_txn *txn, bool with_pending, pingyi_shard_row_fn *fn, void *arg,
                 int *result)
{
    *result = 0;
    size_t bytes = self->row_cells * 4;
    uint8_t *sum = malloc (bytes + 1);
    if (!sum)
        return ENOMEM;
    MDB_cursor *cc = NULL, *pc = NULL;
    int rc = mdb_cursor_open (txn, self->counts, &cc);
    if (rc == 0 && with_pending)
        rc = mdb_cursor_open (txn, self->pending, &pc);
    MDB_val ck, cv, pk, pv;
    int crc = rc ? rc : mdb_cursor_get (cc, &ck, &cv, MDB_FIRST);
    int prc = rc || !pc ? MDB_NOTFOUND : mdb_cursor_get (pc, &pk, &pv, MDB_FIRST);
    while (rc == 0 && !*result) {
        if (crc && crc != MDB_NOTFOUND) {
            rc = crc;
            break;
        }
        if (prc && prc != MDB_NOTFOUND) {
            rc = prc;
            break;
        }
        if (crc && prc)
            break; /* both at their end */
        if ((!crc && (ck.mv_size != ROW_KEY_LEN || cv.mv_size != bytes)) ||
            (!prc && (pk.mv_size != ROW_KEY_LEN || pv.mv_size != bytes))) {
            rc = MDB_CORRUPTED;
            break;
        }
        int cmp = crc ? 1 : prc ? -1 : memcmp (ck.mv_data, pk.mv_data, ROW_KEY_LEN);
        uint32_t venue, subject;
        pingyi_row_key_unpack (cmp <= 0 ? ck.mv_data : pk.mv_data, &venue, &subject);
        if (cmp < 0)
            memcpy (sum, cv.mv_data, bytes);
        else if (cmp > 0)
            memcpy (sum, pv.mv_data, bytes);
        else
            for (size_t i = 0; i < self->row_cells; i++)
                pingyi_put_le32 (sum + 4 * i, pingyi_get_le32 ((const uint8_t *) cv.mv_data + 4 * i) +
                                                  pingyi_get_le32 ((const uint8_t *) pv.mv_data + 4 * i));
        *result = fn (venue, subject, sum, arg);
        if (cmp <= 0)
            crc = mdb_cursor_get (cc, &ck, &cv, MDB_NEXT);
        if (cmp >= 0)
            prc = mdb_cursor_get (pc, &pk, &pv, MDB_NEXT);
    }
    if (pc)
        mdb_cursor_close (pc);
    if (cc)
        mdb_cursor_close (cc);
    free (sum);
    return rc;
}

int
pingyi_shard_foreach_row (pingyi_shard_t *self, pingyi_shard_row_fn *fn, void *arg, char *err)
{
    MDB_txn *txn;
    if (shard_read_txn (self, &txn, err))
        return -1;
    int result;
    int rc = shard_walk_rows (self, txn, true, fn, arg, &result);
    mdb_txn_abort (txn);
    if (rc)
        return shard_lmdb_fail (self, err, "counts", rc);
    return result;
}

int
pingyi_shard_foreach_venue (pingyi_shard_t *self, pingyi_shard_figures_fn *fn, void *arg, char *err)
{
    pingyi_venue_figures_t *all = calloc (self->slot_count + 1, sizeof *all);
    if (!all)
        return pingyi_fail (err, "out of memory");
    MDB_txn *txn;
    if (shard_read_txn (self, &txn, err)) {
        free (all);
        return -1;
    }
    int rc = shard_figures_load (self, txn, all, NULL, err);
    mdb_txn_abort (txn);
    if (rc) {
        free (all);
        return rc == -1 ? -1 : shard_lmdb_fail (self, err, "venues", rc);
    }
    int result = 0;
    for (size_t s = 0; s < self->slot_count && !result; s++)
        result = fn (&all[s], arg);
    free (all);
    return result;
}

/*  An `ids` row: key venue u16 BE + ballot id; value status, reason, and
    for an accepted ballot its envelope (at least one byte), else nothing.  */
int
shard_id_row (const MDB_val *k, const MDB_val *v, pingyi_shard_id_t *row)
{
    if (k->mv_size != IDS_KEY_LEN || v->mv_size < IDS_HEAD_LEN)
        return -2;
    const uint8_t *kp = k->mv_data, *vp = v->mv_data;
    row->venue = pingyi_get_be16 (kp);
    memcpy (row->ballot_id, kp + 2, PINGYI_BALLOT_ID_LEN);
    row->status = vp[0];
    row->reason = vp[1];
    row->envelope = NULL;
    row->len = 0;
    if (row->status == PINGYI_ACK_ACCEPTED) {
        if (v->mv_size == IDS_HEAD_LEN)
            return -2;
        row->envelope = vp + IDS_HEAD_LEN;
        row->len = v->mv_size - IDS_HEAD_LEN;
    }
    else if (row->status != PINGYI_ACK_REJECTED || v->mv_size != IDS_HEAD_LEN)
        return -2;
    return 0;
}

static int
id_step (pingyi_shard_t *self, const MDB_val *k, const MDB_val *v, void *fn, void *arg)
{
    (void) self;
    pingyi_shard_id_t row;
    if (shard_id_row (k, v, &row))
        return -2;
    return ((pingyi_shard_id_fn *) fn) (&row, arg);
}

int
pingyi_shard_foreach_id (pingyi_shard_t *self, pingyi_shard_id_fn *fn, void *arg, char *err)
{
    return walk (self, self->ids, id_step, (void *) fn, arg, "ids", err);
}

static int
log_step (pingyi_shard_t *self, const MDB_val *k, const MDB_val *v, void *fn, void *arg)
{
    (void) self;
    pingyi_shard_id_t row;
    if (shard_id_row (k, v, &row))
        return -2;
    if (row.status != PINGYI_ACK_ACCEPTED)
        return 0;
    return ((pingyi_shard_log_fn *) fn) (row.venue, row.ballot_id, row.envelope, row.len, arg);
}

int
pingyi_shard_foreach_log (pingyi_shard_t *self, pingyi_shard_log_fn *fn, void *arg, char *err)
{
    return walk (self, self->ids, log_step, (void *) fn, arg, "ids", err);
}
