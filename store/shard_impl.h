/*  shard_impl.h — the shard's insides, shared by the files of store/ and
    by tests/unit/test_shard.c; nothing outside store/ includes it (the
    public API is shard.h).

    One shard: an LMDB environment applied to in batches.

    The job: take a batch of envelopes, and in ONE write transaction dedupe
    every (venue, ballot id), open and validate the new ones, store the
    accepted envelopes under their (venue, ballot id), add them to the log
    digest, add the counter deltas and the venue figures, release what has
    become releasable; commit durably; only then hand the results back for
    acknowledgement.  Because dedupe and counting share the transaction, a
    resend after any crash is answered "duplicate" and never counted twice,
    and a ballot the client holds is never lost: what is not committed is
    not acknowledged, so the client resends it.

    Anonymity.  Nothing stored records the order in which ballots came: the
    envelopes are keyed by (venue, random ballot id), the digest is a sum
    (LtHash16) that no order changes, the counters are sums, and no
    per-ballot sequence or time exists.  What may be read outside the shard
    (pingyi_shard_snapshot) is the *released* state: a venue's counters and
    figures move only when k or more of its accepted ballots are unreleased
    (k = the definition's k_anonymity), or at its close; the sequence and
    digest published are those of the last settled point (nothing pending
    anywhere).  So watching snapshots never shows a venue move by fewer than
    k ballots before its close.

    Invariants (checked at open, cheaply, and fully by pingyi_shard_recount):
    - meta.sequence = accepted rows of `ids` = the venues' current accepted;
      rows of `ids` = that + the venues' stored rejections.
    - meta.lthash = the LtHash16 of the accepted envelopes (docs/worker.md).
    - counts + pending = what re-opening and re-counting the envelopes gives;
      a venue has pending rows only while it has unreleased ballots.
    - released figures never ahead of the current ones; the settled point
      equals the current sequence and digest whenever nothing is pending.

    Durability: default LMDB flags (no NOSYNC, no WRITEMAP/MAPASYNC): a
    commit returns after its fsyncs.  No ZeroMQ here and no main(): the
    offline tools link this library into themselves.

    Where things are (a file per job):
      open.c      open and create, schema and meta checks, the open check,
                  the writer's lock, close; write and read transactions
      records.c   the stored layouts: figures records, meta values, keys,
                  which refusals are stored where
      apply.c     a batch: dedupe by (venue, ballot id), refusals
                  remembered by their bytes, open, validate, count, commit
      deltas.c    a batch's counter deltas: the dense grid and the hash table
      release.c   the `counts`/`pending` rows and the release rule, at the
                  end of every write transaction
      venues.c    a venue's close and reopen, its reasons and figures
      read.c      info, the snapshot (released data only), the walks
      recount.c   the offline recount of everything from the envelopes
      digest.c    the log digest (LtHash16)
    and lmdb/lmdb_env.c, the LMDB helper the client and aggregator share.  */
#ifndef PINGYI_SHARD_IMPL_H
#define PINGYI_SHARD_IMPL_H

#include "shard.h"

#include "bytes.h"
#include "envelope.h"
#include "lmdb_env.h"

#include <lmdb.h>

#define FIGURES_FIXED 185 /* a figures record before by_category, docs/worker.md */
#define FIGURES_MAX (FIGURES_FIXED + 8 * PINGYI_FIGURES_CATEGORIES)
#define IDS_KEY_LEN (2 + PINGYI_BALLOT_ID_LEN)
#define IDS_HEAD_LEN 2      /* status, reason; then the envelope when accepted */
#define REJECT_LOG_LINES 10 /* rejection lines logged per code per shard */
#define STATE_LEN PINGYI_SHARD_DIGEST_STATE
#define REFUSED_KEY_LEN (2 + PINGYI_SHARD_REFUSED_HASH_LEN) /* venue u16 BE, hash of the envelope */
#define REFUSED_ORPHAN 0xffffu /* venue of a refused row charged to no venue of this shard */
#define ROW_KEY_LEN 4          /* a counts/pending row: venue u16 BE, subject u16 BE */

/*  A u64-keyed table of counter deltas (open addressing, linear probing).
    The key is the 8-byte counter key read big-endian, so sorting the u64s
    sorts the LMDB keys; count 0 marks an empty slot (deltas are >= 1).  */
typedef struct {
    uint64_t key;
    uint64_t count;
    bool seen; /* recount: matched against the db */
} tally_entry_t;

typedef struct {
    tally_entry_t *slots;
    size_t cap; /* power of two */
    size_t used;
    bool oom;
} tally_t;

/*  Counter deltas on a dense grid: one u32 per (venue of this shard, form
    position, item, category, mark), so counting a cell is one increment in
    a few hundred KB rather than a hash probe.  A venue's part of the grid
    is laid out as its `counts` rows (pingyi_ballot_count_cells), and the
    venues a batch counted are listed, so it writes and clears only those.
    Used when the grid has at most GRID_MAX cells (a shard's share of any
    real election: 75 venues of 11 x 6 cells, 4 categories, 6 marks is
    119k); beyond, the hash table above.  */
#define GRID_MAX (1u << 18)

typedef struct {
    uint32_t *cells;
    uint32_t *touched;     /* slots counted since the last reset, in that order */
    uint8_t *slot_touched; /* per slot: listed in touched */
    size_t touched_count;
    size_t size;
    size_t *slot_base; /* per slot: its first cell; slot_count + 1 entries */
    size_t items, categories, marks;
} grid_t;

struct pingyi_shard_t {
    char path[1024];
    uint32_t shard;
    const pingyi_election_t *election;
    bool read_only;
    bool stopped;
    int lock_fd;      /* DATA/shard-NN/worker.lock, flock'ed; -1 when read-only */
    pingyi_lmdb_t db; /* the environment, named by path in error texts */
    MDB_dbi ids, counts, pending, venues, meta, refused, reopens;
    bool has_refused; /* false: a read-only open of a schema-3 shard made before `refused` */
    bool has_reopens; /* false: a read-only open of a shard made before `reopens` */
    uint64_t k;       /* the release step: the definition's k_anonymity */

    /* the venues of this shard: slot <-> venue index */
    int32_t *slot_of;   /* per venue index: slot, or -1 */
    uint32_t *venue_of; /* per slot: venue index */
    size_t slot_count;
    uint8_t (*keys)[32]; /* per slot: envelope key (writable shards only) */
    size_t categories;   /* by_category entries: the election's categories */
    size_t record_len;   /* one serialized figures record */

    /* committed state, and the working copy of a transaction */
    pingyi_shard_info_t info;
    pingyi_shard_info_t work_info;
    uint8_t state[STATE_LEN]; /* the digest state (meta.lthash) */
    uint8_t work_state[STATE_LEN];
    bool orphans_touched;
    /* remembered refusals (`refused` rows) and refusals counted without a
       row (beyond the cap, or counted before `refused` existed), per slot,
       the orphan bucket at index slot_count; committed and working copies */
    uint64_t *refused_rows, *work_refused_rows;
    uint64_t *refused_loose, *work_refused_loose;
    bool refused_touched;
    uint64_t refused_cap;             /* rows per venue (and orphan bucket) */
    pingyi_venue_figures_t *figures;  /* per slot: current */
    pingyi_venue_figures_t *released; /* per slot: as released */
    pingyi_venue_figures_t *work;
    pingyi_venue_figures_t *work_released;
    bool *touched;
    bool *releasing; /* per slot: this transaction releases it */
    uint32_t *touched_list;
    size_t touched_count;

    /* batch scratch, reused: no per-ballot state survives a batch */
    tally_t deltas;
    grid_t grid; /* cells NULL: deltas go to the hash table */
    uint64_t *sorted;
    size_t sorted_cap;
    size_t marks;      /* cells per (item, category) in a counts row: choices, BLANK, OVER */
    size_t row_cells;  /* u32 cells in a counts row: items x categories x marks */
    uint32_t *row_sum; /* a row's deltas gathered from the hash table */
    uint8_t *row_buf;  /* a row being rewritten */
    uint8_t body[PINGYI_ENVELOPE_MAX];
    pingyi_ballot_t ballot;
    uint64_t batch_accepted, batch_duplicates, batch_rejected, batch_unstored;
    uint64_t batch_rejected_by[PINGYI_SHARD_REJECT_SLOTS];
    int last_venue; /* look-up cache: venues repeat within a batch */
    int64_t last_commit_ms;
    int last_write_rc; /* the LMDB code of the last failed write transaction, 0 */

    uint64_t logged_by[PINGYI_SHARD_REJECT_SLOTS];
    pingyi_shard_stats_t stats;

    /* the manifest (manifest.c): DATA/shard-NN.manifest */
    char manifest_path[1100];
    int64_t manifest_ms;    /* when it was last written; 0: never by this process */
    uint64_t manifest_seq;  /* the sequence it was last written with */
    bool manifest_failing;  /* the last write failed (said once until one succeeds) */
    bool verified;          /* the manifest vouched for what was opened */
    char unverified[PINGYI_ERR_MAX]; /* why not, when !verified */
};

/*  A step of a write transaction (shard_write_txn): 0, an LMDB code, or -1
    with err set; run again from the start when the map grows.  */
typedef int (shard_txn_fn) (pingyi_shard_t *self, MDB_txn *txn, void *arg, char *err);

/*  A step of a walk over one db: non-zero stops the walk (that value is
    returned), -2 for a malformed row.  */
typedef int (shard_row_fn) (pingyi_shard_t *self, const MDB_val *k, const MDB_val *v, void *fn, void *arg);

/*  open.c: errors, transactions, keys  */
/*  The shard stops taking ballots, for `reason`, with the failed commit's
    text (logged once per stop by the caller).  */
void shard_stop (pingyi_shard_t *self, pingyi_shard_stop_t reason, const char *text);
int shard_lmdb_fail (pingyi_shard_t *self, char *err, const char *what, int rc);
int shard_write_txn (pingyi_shard_t *self, shard_txn_fn *fn, void *arg, const char *what, char *err);
int shard_read_txn (pingyi_shard_t *self, MDB_txn **txn, char *err);
int shard_compute_keys (pingyi_shard_t *self, uint8_t (*keys)[32], const pingyi_keyring_t *keyring,
                        const uint8_t shard_secret[PINGYI_KEY_LEN], char *err);

/*  manifest.c: what the shard held at its last checkpoint, kept beside
    (not inside) its directory.  */
typedef struct {
    uint32_t shard, shard_count;
    uint8_t fingerprint[PINGYI_FP_LEN];
    uint64_t sequence;                       /* current sequence at the checkpoint */
    uint8_t digest[PINGYI_SHARD_DIGEST_LEN]; /* current log digest at that point */
} shard_manifest_t;
/*  1 when there is none, 0 when read, -1 with err when it is damaged.  */
int shard_manifest_read (const char *path, shard_manifest_t *m, char *err);
/*  The opened shard against its manifest: 0, or -1 with err (rolled back,
    replaced, another shard's).  */
int shard_manifest_compare (pingyi_shard_t *self, const shard_manifest_t *m, char *err);
/*  Write the committed state (tmp + fsync + rename + fsync of the
    directory); when `force` or PINGYI_SHARD_MANIFEST_MS have passed since
    the last write.  A failed write is logged once and tried again later:
    the count itself is durable without it.  0 / -1.  */
int shard_manifest_checkpoint (pingyi_shard_t *self, bool force);

/*  records.c: the stored layouts  */
void shard_figures_empty (pingyi_shard_t *self, pingyi_venue_figures_t *f, uint32_t venue);
void shard_figures_pack (const pingyi_shard_t *self, uint8_t *out, const pingyi_venue_figures_t *f);
void shard_figures_unpack (pingyi_shard_t *self, pingyi_venue_figures_t *f, uint32_t venue, const uint8_t *p);
void shard_venue_key (uint8_t out[2], uint32_t venue);
void shard_reopen_key (uint8_t out[6], uint32_t venue, uint32_t n);
bool shard_stored_reject (unsigned code);
bool shard_refusal_code (unsigned code);
uint64_t shard_refusals_of (const uint64_t *rejected_by);
int shard_meta_get (pingyi_shard_t *self, MDB_txn *txn, const char *name, MDB_val *v);
int shard_meta_put (pingyi_shard_t *self, MDB_txn *txn, const char *name, const void *data, size_t len);
int shard_meta_put_u32 (pingyi_shard_t *self, MDB_txn *txn, const char *name, uint32_t value);
int shard_meta_put_u64 (pingyi_shard_t *self, MDB_txn *txn, const char *name, uint64_t value);
int shard_meta_put_orphans (pingyi_shard_t *self, MDB_txn *txn, const pingyi_shard_info_t *info);
int shard_meta_put_refused (pingyi_shard_t *self, MDB_txn *txn, const uint64_t *rows, const uint64_t *loose);
int shard_meta_put_settled (pingyi_shard_t *self, MDB_txn *txn, const pingyi_shard_info_t *info);
int shard_meta_load (pingyi_shard_t *self, MDB_txn *txn, pingyi_shard_info_t *info, uint8_t *state,
                     char *err);
int shard_reopens_count (pingyi_shard_t *self, MDB_txn *txn, uint32_t venue, uint32_t *n);
int shard_figures_load (pingyi_shard_t *self, MDB_txn *txn, pingyi_venue_figures_t *cur,
                        pingyi_venue_figures_t *rel, char *err);
uint64_t shard_pending_of (const pingyi_shard_t *self, const pingyi_venue_figures_t *cur,
                           const pingyi_venue_figures_t *rel);
int shard_refused_load (pingyi_shard_t *self, MDB_txn *txn, const pingyi_shard_info_t *info,
                        const pingyi_venue_figures_t *cur, uint64_t *rows, uint64_t *loose, bool *missing,
                        char *err);

/*  deltas.c: counter deltas  */
void shard_tally_clear (tally_t *t);
void shard_tally_free (tally_t *t);
tally_entry_t *shard_tally_find (tally_t *t, uint64_t key, bool insert);
void shard_tally_add (tally_t *t, uint64_t key, uint64_t n);
void shard_tally_count_fn (const pingyi_counter_key_t *key, void *arg);
int shard_cmp_u64 (const void *a, const void *b);
void shard_grid_free (grid_t *g);
int shard_grid_init (grid_t *g, const pingyi_election_t *e, const uint32_t *venue_of, size_t slot_count);
void shard_grid_count (grid_t *g, const pingyi_ballot_t *ballot, const pingyi_election_t *e, size_t slot);
uint64_t shard_grid_key (const grid_t *g, const pingyi_election_t *e, const uint32_t *venue_of,
                         size_t slot_count, size_t i, size_t *slot);

/*  apply.c: a transaction's working copies  */
pingyi_venue_figures_t *shard_work_figures (pingyi_shard_t *self, int32_t slot);
void shard_work_reset (pingyi_shard_t *self);
void shard_work_commit (pingyi_shard_t *self);

/*  release.c: the end of every write transaction; the rows' counter keys  */
int shard_finish_txn (pingyi_shard_t *self, MDB_txn *txn, int32_t closing, char *err);
void shard_row_cell_key (const pingyi_shard_t *self, const uint8_t row[ROW_KEY_LEN], size_t i,
                         uint8_t out[PINGYI_COUNTER_KEY_LEN]);

/*  read.c: walks shared with the recount  */
int shard_walk_rows (pingyi_shard_t *self, MDB_txn *txn, bool with_pending, pingyi_shard_row_fn *fn,
                     void *arg, int *result);
int shard_id_row (const MDB_val *k, const MDB_val *v, pingyi_shard_id_t *row);

/*  digest.c  */
void shard_state_sum (uint8_t a[STATE_LEN], const uint8_t b[STATE_LEN]);

#endif
