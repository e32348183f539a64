/*  records.c — the shard's stored layouts (docs/worker.md): a venue's
    figures records, the meta values, the keys of `venues` and `reopens`,
    and which rejections are stored in `ids` and which are remembered in
    `refused`.  Values are little-endian, keys that sort big-endian
    (proto/bytes.h).  */
#define _GNU_SOURCE
#include "shard_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*  --------------------------------------------------------------------------
    Serialization of figures (layout in docs/worker.md).  A venue's `venues`
    value is two records of the same layout: its current figures, then its
    released figures.  A record is FIGURES_FIXED bytes, then by_category as
    one u64 LE per category of the election (their number is fixed by the
    fingerprint, so every record of a shard has the same length).  */

void
shard_figures_empty (pingyi_shard_t *self, pingyi_venue_figures_t *f, uint32_t venue)
{
    memset (f, 0, sizeof *f);
    f->venue = venue;
    f->issued = f->collected = f->sent = -1;
    f->category_count = (uint32_t) self->categories;
}

void
shard_figures_pack (const pingyi_shard_t *self, uint8_t *out, const pingyi_venue_figures_t *f)
{
    pingyi_put_le64 (out + 0, f->accepted);
    pingyi_put_le64 (out + 8, f->blank);
    pingyi_put_le64 (out + 16, f->duplicates);
    pingyi_put_le64 (out + 24, f->rejected);
    for (int i = 0; i < PINGYI_SHARD_REJECT_SLOTS; i++)
        pingyi_put_le64 (out + 32 + 8 * i, f->rejected_by[i]);
    pingyi_put_le64 (out + 160, (uint64_t) f->issued);
    pingyi_put_le64 (out + 168, (uint64_t) f->collected);
    pingyi_put_le64 (out + 176, (uint64_t) f->sent);
    out[184] = f->closed ? 1 : 0;
    for (size_t c = 0; c < self->categories; c++)
        pingyi_put_le64 (out + FIGURES_FIXED + 8 * c, f->by_category[c]);
}

void
shard_figures_unpack (pingyi_shard_t *self, pingyi_venue_figures_t *f, uint32_t venue, const uint8_t *p)
{
    shard_figures_empty (self, f, venue);
    f->accepted = pingyi_get_le64 (p + 0);
    f->blank = pingyi_get_le64 (p + 8);
    f->duplicates = pingyi_get_le64 (p + 16);
    f->rejected = pingyi_get_le64 (p + 24);
    for (int i = 0; i < PINGYI_SHARD_REJECT_SLOTS; i++)
        f->rejected_by[i] = pingyi_get_le64 (p + 32 + 8 * i);
    f->issued = (int64_t) pingyi_get_le64 (p + 160);
    f->collected = (int64_t) pingyi_get_le64 (p + 168);
    f->sent = (int64_t) pingyi_get_le64 (p + 176);
    f->closed = p[184] != 0;
    for (size_t c = 0; c < self->categories; c++)
        f->by_category[c] = pingyi_get_le64 (p + FIGURES_FIXED + 8 * c);
}

void
shard_venue_key (uint8_t out[2], uint32_t venue)
{
    pingyi_put_be16 (out, (uint16_t) venue);
}

/*  The rejections that are stored in `ids` (step 8 of docs/worker.md: the
    envelope opened, so the refusal is authenticated).  The open check
    counts them: rows of `ids` = accepted + these, per the figures.  */
bool
shard_stored_reject (unsigned code)
{
    return code == PINGYI_REJECT_MALFORMED || code == PINGYI_REJECT_NOT_ON_FORM ||
           code == PINGYI_REJECT_BAD_CATEGORY || code == PINGYI_REJECT_BAD_MARK;
}

/*  The refusals remembered by the envelope's bytes in `refused` (made
    before the envelope opens, or VENUE_CLOSED): every code but NONE and
    the stored ones.  */
bool
shard_refusal_code (unsigned code)
{
    return code != PINGYI_REJECT_NONE && code < PINGYI_REJECT_COUNT_ && !shard_stored_reject (code);
}

/*  Sum of a rejected_by[] over the refusal codes.  */
uint64_t
shard_refusals_of (const uint64_t *rejected_by)
{
    uint64_t n = 0;
    for (unsigned c = 0; c < PINGYI_SHARD_REJECT_SLOTS; c++)
        if (shard_refusal_code (c))
            n += rejected_by[c];
    return n;
}

/*  --------------------------------------------------------------------------
    Meta.  */

int
shard_meta_get (pingyi_shard_t *self, MDB_txn *txn, const char *name, MDB_val *v)
{
    MDB_val k = {strlen (name), (void *) name};
    return mdb_get (txn, self->meta, &k, v);
}

int
shard_meta_put (pingyi_shard_t *self, MDB_txn *txn, const char *name, const void *data, size_t len)
{
    MDB_val k = {strlen (name), (void *) name};
    MDB_val v = {len, (void *) data};
    return mdb_put (txn, self->meta, &k, &v, 0);
}

int
shard_meta_put_u32 (pingyi_shard_t *self, MDB_txn *txn, const char *name, uint32_t value)
{
    uint8_t b[4];
    pingyi_put_le32 (b, value);
    return shard_meta_put (self, txn, name, b, 4);
}

int
shard_meta_put_u64 (pingyi_shard_t *self, MDB_txn *txn, const char *name, uint64_t value)
{
    uint8_t b[8];
    pingyi_put_le64 (b, value);
    return shard_meta_put (self, txn, name, b, 8);
}

int
shard_meta_put_orphans (pingyi_shard_t *self, MDB_txn *txn, const pingyi_shard_info_t *info)
{
    uint8_t b[8 * PINGYI_SHARD_REJECT_SLOTS];
    for (int i = 0; i < PINGYI_SHARD_REJECT_SLOTS; i++)
        pingyi_put_le64 (b + 8 * i, info->orphan_rejected_by[i]);
    int rc = shard_meta_put_u64 (self, txn, "orphan_rejected", info->orphan_rejected);
    return rc ? rc : shard_meta_put (self, txn, "orphan_rejected_by", b, sizeof b);
}

/*  The `refused` accounting: rows and refusals counted without a row, per
    slot and the orphan bucket last, u64 LE each.  */
int
shard_meta_put_refused (pingyi_shard_t *self, MDB_txn *txn, const uint64_t *rows, const uint64_t *loose)
{
    size_t n = self->slot_count + 1;
    uint8_t *b = malloc (16 * n);
    if (!b)
        return ENOMEM;
    for (size_t i = 0; i < n; i++) {
        pingyi_put_le64 (b + 8 * i, rows[i]);
        pingyi_put_le64 (b + 8 * (n + i), loose[i]);
    }
    int rc = shard_meta_put (self, txn, "refused_rows", b, 8 * n);
    if (rc == 0)
        rc = shard_meta_put (self, txn, "refused_loose", b + 8 * n, 8 * n);
    free (b);
    return rc;
}

int
shard_meta_put_settled (pingyi_shard_t *self, MDB_txn *txn, const pingyi_shard_info_t *info)
{
    int rc = shard_meta_put_u64 (self, txn, "settled_sequence", info->sequence);
    return rc ? rc : shard_meta_put (self, txn, "settled_digest", info->digest, PINGYI_SHARD_DIGEST_LEN);
}

/*  Read and check meta into info (all but pending, which the figures give)
    and the digest state into state (NULL: not wanted).  Returns 0,
    MDB_NOTFOUND when the shard is new (no schema yet), an LMDB code, or -1
    with err.  */
int
shard_meta_load (pingyi_shard_t *self, MDB_txn *txn, pingyi_shard_info_t *info, uint8_t *state, char *err)
{
    const pingyi_election_t *e = self->election;
    MDB_val v;
    int rc = shard_meta_get (self, txn, "schema", &v);
    if (rc)
        return rc;
    uint32_t schema = v.mv_size == 4 ? pingyi_get_le32 (v.mv_data) : 0;
    if (schema != PINGYI_SHARD_SCHEMA)
        return pingyi_fail (err, "%s: storage schema %u, this worker reads schema %u%s", self->path, schema,
                            PINGYI_SHARD_SCHEMA,
                            schema && schema < PINGYI_SHARD_SCHEMA
                                ? " (schema 3 keeps no order of voting and releases figures k-anonymously; "
                                  "there is no in-place upgrade: finish that count with the release that "
                                  "wrote it, or count into a new --data directory)"
                                : ": refusing to start");
    memset (info, 0, sizeof *info);
    MDB_val fp, sh, sc, seq, lt, gen, sseq, sdig;
    if (shard_meta_get (self, txn, "fingerprint", &fp) || fp.mv_size != PINGYI_FP_LEN ||
        shard_meta_get (self, txn, "shard", &sh) || sh.mv_size != 4 ||
        shard_meta_get (self, txn, "shard_count", &sc) || sc.mv_size != 4 ||
        shard_meta_get (self, txn, "sequence", &seq) || seq.mv_size != 8 ||
        shard_meta_get (self, txn, "lthash", &lt) || lt.mv_size != STATE_LEN ||
        shard_meta_get (self, txn, "generation", &gen) || gen.mv_size != 8 ||
        shard_meta_get (self, txn, "settled_sequence", &sseq) || sseq.mv_size != 8 ||
        shard_meta_get (self, txn, "settled_digest", &sdig) || sdig.mv_size != PINGYI_SHARD_DIGEST_LEN)
        return pingyi_fail (err,
                            "%s: meta is incomplete or damaged (fingerprint, shard, shard_count, sequence, "
                            "lthash, generation, settled_sequence, settled_digest): refusing to start",
                            self->path);
    memcpy (info->fingerprint, fp.mv_data, PINGYI_FP_LEN);
    info->shard = pingyi_get_le32 (sh.mv_data);
    info->shard_count = pingyi_get_le32 (sc.mv_data);
    info->current_sequence = pingyi_get_le64 (seq.mv_data);
    pingyi_shard_digest (info->current_digest, lt.mv_data);
    if (state)
        memcpy (state, lt.mv_data, STATE_LEN);
    info->generation = pingyi_get_le64 (gen.mv_data);
    info->sequence = pingyi_get_le64 (sseq.mv_data);
    memcpy (info->digest, sdig.mv_data, PINGYI_SHARD_DIGEST_LEN);
    if (memcmp (info->fingerprint, e->fingerprint, PINGYI_FP_LEN) != 0) {
        char have[2 * PINGYI_FP_LEN + 1];
        pingyi_hex (have, info->fingerprint, PINGYI_FP_LEN);
        return pingyi_fail (err,
                            "%s: holds the count of election %.16s..., but this definition is %.16s...: "
                            "refusing to mix elections (use another --data directory)",
                            self->path, have, e->fingerprint_hex);
    }
    if (info->shard != self->shard || info->shard_count != e->shard_count)
        return pingyi_fail (err,
                            "%s: holds shard %u of %u, but was asked to serve shard %u of %u: refusing "
                            "to start",
                            self->path, info->shard, info->shard_count, self->shard, e->shard_count);
    if (shard_meta_get (self, txn, "orphan_rejected", &v) == 0 && v.mv_size == 8)
        info->orphan_rejected = pingyi_get_le64 (v.mv_data);
    if (shard_meta_get (self, txn, "orphan_rejected_by", &v) == 0 &&
        v.mv_size == 8 * PINGYI_SHARD_REJECT_SLOTS)
        for (int i = 0; i < PINGYI_SHARD_REJECT_SLOTS; i++)
            info->orphan_rejected_by[i] = pingyi_get_le64 ((const uint8_t *) v.mv_data + 8 * i);
    return 0;
}

void
shard_reopen_key (uint8_t out[6], uint32_t venue, uint32_t n)
{
    pingyi_put_be16 (out, (uint16_t) venue);
    pingyi_put_be32 (out + 2, n);
}

/*  A venue's reopens: its rows in `reopens` (numbered 1..n).  */
int
shard_reopens_count (pingyi_shard_t *self, MDB_txn *txn, uint32_t venue, uint32_t *n)
{
    *n = 0;
    if (!self->has_reopens)
        return 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open (txn, self->reopens, &c);
    if (rc)
        return rc;
    uint8_t k[6];
    shard_reopen_key (k, venue, 0);
    MDB_val key = {sizeof k, k}, val;
    rc = mdb_cursor_get (c, &key, &val, MDB_SET_RANGE);
    while (rc == 0 && key.mv_size == 6 && memcmp (key.mv_data, k, 2) == 0) {
        (*n)++;
        rc = mdb_cursor_get (c, &key, &val, MDB_NEXT);
    }
    mdb_cursor_close (c);
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/*  Figures of every slot as stored (or empty) in txn: current into cur,
    released into rel (either may be NULL).  reopens is not in the record:
    it is the venue's row count in `reopens` (a reopen always releases, so
    current and released agree).  */
int
shard_figures_load (pingyi_shard_t *self, MDB_txn *txn, pingyi_venue_figures_t *cur,
                    pingyi_venue_figures_t *rel, char *err)
{
    for (size_t s = 0; s < self->slot_count; s++) {
        uint8_t k[2];
        shard_venue_key (k, self->venue_of[s]);
        MDB_val key = {2, k}, v;
        int rc = mdb_get (txn, self->venues, &key, &v);
        if (rc == MDB_NOTFOUND) {
            if (cur)
                shard_figures_empty (self, &cur[s], self->venue_of[s]);
            if (rel)
                shard_figures_empty (self, &rel[s], self->venue_of[s]);
            continue;
        }
        if (rc)
            return rc;
        if (v.mv_size != 2 * self->record_len)
            return pingyi_fail (err, "%s: venue %s: stored figures have %zu bytes, expected %zu", self->path,
                                self->election->venues[self->venue_of[s]].id, v.mv_size,
                                2 * self->record_len);
        if (cur)
            shard_figures_unpack (self, &cur[s], self->venue_of[s], v.mv_data);
        if (rel)
            shard_figures_unpack (self, &rel[s], self->venue_of[s],
                                  (const uint8_t *) v.mv_data + self->record_len);
        uint32_t n;
        if ((rc = shard_reopens_count (self, txn, self->venue_of[s], &n)))
            return rc;
        if (cur)
            cur[s].reopens = n;
        if (rel)
            rel[s].reopens = n;
    }
    return 0;
}

/*  Accepted ballots not yet released, over all venues.  */
uint64_t
shard_pending_of (const pingyi_shard_t *self, const pingyi_venue_figures_t *cur,
                  const pingyi_venue_figures_t *rel)
{
    uint64_t n = 0;
    for (size_t s = 0; s < self->slot_count; s++)
        n += cur[s].accepted - rel[s].accepted;
    return n;
}

/*  The `refused` accounting from meta into rows and loose (slot_count + 1
    entries each, the orphan bucket last).  A schema-3 shard made before
    `refused` has neither row: its refusals so far were counted once per
    event, so they are all "loose" (*missing is set: the writer stores
    them).  0, or -1 with err.  */
int
shard_refused_load (pingyi_shard_t *self, MDB_txn *txn, const pingyi_shard_info_t *info,
                    const pingyi_venue_figures_t *cur, uint64_t *rows, uint64_t *loose, bool *missing,
                    char *err)
{
    size_t n = self->slot_count + 1;
    MDB_val r, l;
    int rr = shard_meta_get (self, txn, "refused_rows", &r);
    int rl = shard_meta_get (self, txn, "refused_loose", &l);
    if (missing)
        *missing = false;
    if (rr == MDB_NOTFOUND && rl == MDB_NOTFOUND) {
        for (size_t s = 0; s < self->slot_count; s++) {
            rows[s] = 0;
            loose[s] = shard_refusals_of (cur[s].rejected_by);
        }
        rows[n - 1] = 0;
        loose[n - 1] = shard_refusals_of (info->orphan_rejected_by);
        if (missing)
            *missing = true;
        return 0;
    }
    if (rr || rl || r.mv_size != 8 * n || l.mv_size != 8 * n)
        return pingyi_fail (
            err,
            "%s: meta refused_rows/refused_loose are not %zu counters each: refusing to start "
            "(run `pingyi tally --recount` on a copy)",
            self->path, n);
    for (size_t i = 0; i < n; i++) {
        rows[i] = pingyi_get_le64 ((const uint8_t *) r.mv_data + 8 * i);
        loose[i] = pingyi_get_le64 ((const uint8_t *) l.mv_data + 8 * i);
    }
    return 0;
}
