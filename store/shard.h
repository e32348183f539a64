/*  shard.h — one shard of the count: an LMDB environment that holds, for the
    venues mapped to this shard, every ballot id seen with the accepted
    envelopes themselves, the counters (released and pending), the per-venue
    figures (current and released) and the log digest.

    The worker applies ballots in batches: one write transaction per batch,
    committed durably, and only then are the results handed back to be
    acknowledged (exactly once = at-least-once delivery + idempotent apply
    in the same transaction as the dedupe).  The same object, opened
    read-only, serves the offline tools (`pingyi tally --data DIR`): the full
    counters, figures, the log, and a recount that re-opens every logged
    envelope with the shard secret and checks the counters and the digest.

    Two views of one shard.  What a SNAPSHOT may carry (pingyi_shard_snapshot)
    is the *released* state: a venue's counters and figures move only in
    steps of at least k accepted ballots (the definition's k_anonymity) or at
    its close, and the sequence and digest are those of the last *settled*
    point (no ballot pending anywhere).  The offline walks and
    pingyi_shard_venue_figures (the venue's own VENUE_STATUS) see the
    *current* state, every accepted ballot counted.  Nothing stored records
    the order in which ballots were accepted.

    No ZeroMQ here and no main(): tools compile this file into themselves.
    One environment per process: never open the same shard twice in one
    process (LMDB forbids it; pingyi_shard_open's lock refuses it).  The
    storage layout is in docs/worker.md.  */
#ifndef PINGYI_SHARD_H
#define PINGYI_SHARD_H

#include "ballot.h"
#include "count.h"
#include "common.h"
#include "election.h"
#include "keys.h"
#include "msg.h"

#define PINGYI_SHARD_SCHEMA 3                         /* 3: no order of voting, k-anonymous release */
#define PINGYI_SHARD_MAP_DEFAULT ((size_t) 256 << 20) /* initial map size */
#define PINGYI_SHARD_SNAPSHOT_BYTES PINGYI_SNAPSHOT_CELL_BYTES /* count blocks in one SNAPSHOT page (proto/msg.h) */
#define PINGYI_SHARD_REJECT_SLOTS 16                  /* rejected_by[] entries */
#define PINGYI_SHARD_DIGEST_LEN 32                    /* the published log digest */
#define PINGYI_SHARD_DIGEST_STATE 2048                /* LtHash16: 1024 lanes of u16 LE */
#define PINGYI_SHARD_REFUSED_HASH_LEN 16              /* `refused` key: BLAKE2b-256 (envelope), first 16 */
#define PINGYI_SHARD_REFUSED_CAP 1000000              /* `refused` rows per venue (and orphans) per shard */

#define PINGYI_SHARD_MANIFEST_MS 1000 /* a writer's manifest is rewritten at most this often (and at close) */
#define PINGYI_SHARD_CREATE 1u        /* pingyi_shard_open: a first start may create (or adopt) the shard */

typedef struct pingyi_shard_t pingyi_shard_t;

/*  One envelope of a batch.  The caller fills the inputs (pointers must stay
    valid until pingyi_shard_apply returns); apply fills the results.  */
typedef struct {
    /* in */
    const uint8_t *envelope; /* the bytes as received */
    size_t len;
    const char *sender; /* authenticated venue id (FORWARD sender) */
    size_t sender_len;
    /* out */
    uint8_t ballot_id[PINGYI_BALLOT_ID_LEN]; /* from the header; zeros if unparseable */
    uint8_t status;                          /* pingyi_ack_status_t */
    uint8_t reason;                          /* pingyi_reject_t when rejected, else 0 */
    char receipt[PINGYI_RECEIPT_LEN + 1];    /* accepted/duplicate, else "" */
    char text[PINGYI_ERR_MAX];               /* reason text when rejected, else "" */
} pingyi_shard_item_t;

/*  Why a shard stopped taking ballots (stats.stop_reason; the worker's
    STATS shardN_stop_reason carries the number).  */
typedef enum {
    PINGYI_SHARD_RUNNING = 0,
    PINGYI_SHARD_STOP_DISK_FULL = 1, /* a commit met a full disk (pingyi_lmdb_disk_full) */
    PINGYI_SHARD_STOP_IO = 2,        /* a commit failed with an I/O error */
    PINGYI_SHARD_STOP_MAP = 3,       /* the map is full and cannot grow */
    PINGYI_SHARD_STOP_OTHER = 4,     /* any other failed commit */
} pingyi_shard_stop_t;

/*  "running", "disk_full", "io_error", "map_cannot_grow", "commit_failed".  */
const char *pingyi_shard_stop_name (pingyi_shard_stop_t reason);

#define PINGYI_SHARD_RESUME_MS 5000            /* a stopped shard is tried again this often (pingyi_shard_resume) */
#define PINGYI_SHARD_RESUME_FREE (4ull << 20)  /* stopped by a full disk: tried again with this much free */

/*  Counters of this process's work on the shard (not persisted).  */
typedef struct {
    uint64_t accepted;
    uint64_t duplicates;
    uint64_t rejected;
    uint64_t rejected_by[PINGYI_SHARD_REJECT_SLOTS];
    uint64_t batches;         /* batches committed */
    uint64_t batches_failed;  /* batches not committed (nothing acked) */
    uint64_t batch_redos;     /* batches redone after MDB_MAP_FULL */
    uint64_t commit_ms_total; /* time in mdb_txn_commit (the fsyncs) */
    uint64_t commit_ms_max;
    uint64_t apply_ms_total; /* whole batches, commit included */
    uint64_t map_resizes;
    uint64_t map_size;         /* bytes, current */
    uint64_t sequence;         /* committed: accepted ballots in the log (current, not released) */
    uint64_t settled_sequence; /* the released one: ballots at the last settled point */
    uint64_t generation;       /* the released data's generation */
    uint64_t venue_closes;
    uint64_t refusals_unstored; /* refusals counted per event: their venue's `refused` rows at the cap */
    bool stopped;               /* the shard takes no more ballots */
    pingyi_shard_stop_t stop_reason;
    int64_t stopped_ms;             /* when it stopped (pingyi_now_ms), 0 when running */
    uint64_t resumes;               /* times it took ballots again after a stop */
    char stop_text[PINGYI_ERR_MAX]; /* the failed commit's error, "" when running */
} pingyi_shard_stats_t;

/*  What the meta db says (committed state).  sequence, digest and
    generation are what may be published; the current_* fields and pending
    are the shard's own (offline tools, the worker) and never leave it.  */
typedef struct {
    uint32_t shard;
    uint32_t shard_count;
    uint8_t fingerprint[PINGYI_FP_LEN];
    /* released */
    uint64_t sequence;                       /* accepted ballots at the last settled point */
    uint8_t digest[PINGYI_SHARD_DIGEST_LEN]; /* the log digest at that point */
    uint64_t generation;                     /* +1 in every commit that changes released data */
    /* current: zero in a snapshot */
    uint64_t current_sequence;                       /* accepted ballots in the log now */
    uint8_t current_digest[PINGYI_SHARD_DIGEST_LEN]; /* the log digest now */
    uint64_t pending;                                /* accepted ballots not yet released */
    /* rejections that could not be charged to a venue of this shard */
    uint64_t orphan_rejected;
    uint64_t orphan_rejected_by[PINGYI_SHARD_REJECT_SLOTS];
} pingyi_shard_info_t;

/*  One row of the `ids` db, valid during the callback only.  */
typedef struct {
    uint32_t venue;
    uint8_t ballot_id[PINGYI_BALLOT_ID_LEN];
    uint8_t status;          /* PINGYI_ACK_ACCEPTED or PINGYI_ACK_REJECTED */
    uint8_t reason;          /* pingyi_reject_t when rejected, else 0 */
    const uint8_t *envelope; /* accepted: the envelope as stored (its receipt), else NULL */
    size_t len;
} pingyi_shard_id_t;

/*  A page of the shard's released tally, read in one short read
    transaction.  info holds shard, shard_count, fingerprint and the released
    sequence, digest and generation; everything else in it is zero.  */
typedef struct {
    pingyi_shard_info_t info;
    pingyi_venue_figures_t *venues; /* every venue of this shard, by index, as released */
    size_t venue_count;
    pingyi_block_t *blocks; /* released count blocks, keys >= from, ascending; cells point into `cells` */
    size_t block_count;
    uint8_t *cells; /* block_count blocks of u32 LE, each the election's block width × 4 bytes */
    bool more;      /* more blocks: ask again from next */
    uint8_t next[PINGYI_ROW_KEY_LEN];
} pingyi_shard_snapshot_t;

/*  Result of a recount from the log.  */
typedef struct {
    uint64_t log_entries;                    /* accepted envelopes in `ids` */
    uint64_t ids_rejected;                   /* `ids` rows stored as rejected */
    uint64_t refused_rows;                   /* `refused` rows: refusals remembered by their bytes */
    uint64_t reopened;                       /* opened and decoded again */
    uint64_t failed;                         /* logged envelopes that no longer open/decode */
    uint64_t counters_checked;               /* distinct keys compared (stored ∪ recounted) */
    uint64_t counters_differ;                /* keys whose stored count (counts + pending) differs */
    bool sequence_ok;                        /* meta sequence = log entries = the venues' accepted */
    bool digest_ok;                          /* meta digest state = the state recomputed over the log */
    bool figures_ok;                         /* per venue accepted/blank/by category/rejections */
    bool released_ok;                        /* released never ahead of current; settled point consistent */
    uint8_t digest[PINGYI_SHARD_DIGEST_LEN]; /* the recomputed digest of the whole log */
    bool ok;                                 /* all of the above, no failure, no difference */
    char first_problem[PINGYI_ERR_MAX];      /* the first difference found, or "" */
} pingyi_shard_recount_t;

/*  DATA/shard-NN (NN at least two digits) into out.  */
void pingyi_shard_path (char *out, size_t cap, const char *data_dir, uint32_t shard);

/*  Open shard `shard` under data_dir for writing.  The
    keyring gives each venue's box public key and shard_secret is this
    shard's own box secret key: the per-venue envelope keys
    (crypto_box_beforenm (venue box public, shard secret)) are computed here,
    once, for the venues of this shard.  map_size is the initial LMDB map in
    bytes (0: PINGYI_SHARD_MAP_DEFAULT); it grows by doubling when full.
    Refuses a directory of another storage schema, election, shard or shard
    count, or one whose ids, figures and meta disagree.  One writer per
    shard directory: before LMDB opens, an exclusive flock on
    DATA/shard-NN/worker.lock (mode 0600, the holder's pid as text), held
    until pingyi_shard_close or the process's death; a held lock (another
    process, or this one opening the shard twice) is refused with
    "DATA/shard-NN: in use by another worker (pid P, DATA/shard-NN/worker.lock):
    one worker per shard directory".

    Never silently new, never silently old.  Beside the directory, the
    manifest DATA/shard-NN.manifest (docs/worker.md, "The manifest") says
    what the shard held at its last checkpoint (sequence and log digest,
    rewritten after commits at most every PINGYI_SHARD_MANIFEST_MS, at
    closes, reopens and pingyi_shard_close).  A shard with a manifest must
    have its files and be at or ahead of it (else "rolled back", "replaced
    or damaged"); a shard without one is created (or, files present,
    adopted) only with flags & PINGYI_SHARD_CREATE (a worker's first start,
    --create).  The data file is checked against LMDB's meta before it is
    mapped (pingyi_lmdb_file_check: empty, truncated, not LMDB), and the
    count blocks against the venues' ballots (pingyi_shard_check_blocks)
    before anything is served.  NULL with err.  */
pingyi_shard_t *pingyi_shard_open (const char *data_dir, uint32_t shard, const pingyi_election_t *election,
                                   const pingyi_keyring_t *keyring,
                                   const uint8_t shard_secret[PINGYI_KEY_LEN], size_t map_size,
                                   unsigned flags, char *err) PINGYI_WARN_UNUSED;

/*  Open an existing shard read-only (MDB_RDONLY) for the offline tools; the
    same checks as pingyi_shard_open, but no lock: it may run beside the
    worker; the files must exist; without a manifest the shard opens
    unverified (pingyi_shard_verified).  Apply and venue_close fail on it.  */
pingyi_shard_t *pingyi_shard_open_readonly (const char *data_dir, uint32_t shard,
                                            const pingyi_election_t *election, char *err) PINGYI_WARN_UNUSED;

/*  Close the environment and wipe the keys; safe twice, nulls the pointer.  */
void pingyi_shard_close (pingyi_shard_t **self_p);

/*  Apply a batch in one write transaction, committed durably before
    returning 0; then every item holds its result.  Each venue touched is
    released (its pending counters moved into the released ones, its
    current figures copied to its released figures) when k or more of its
    accepted ballots are unreleased, else its counts wait in `pending`.
    Nothing stored depends on the order of the batch.  MDB_MAP_FULL grows
    the map and redoes the whole batch.  Returns -1 with err when nothing was
    committed: the results must not be acknowledged.  If the map cannot grow
    or a commit fails, the shard stops (pingyi_shard_stopped, with its
    reason in the stats) and every apply fails until pingyi_shard_resume
    takes it back.  */
int pingyi_shard_apply (pingyi_shard_t *self, pingyi_shard_item_t *items, size_t count,
                        char *err) PINGYI_WARN_UNUSED;

/*  Record a venue's close (issued, collected, sent; closed = true) durably,
    release everything of it still pending whatever the number, and return
    its figures.  Idempotent; a second close overwrites the declared
    numbers.  venue must be one of this shard's.  0 / -1.  */
int pingyi_shard_venue_close (pingyi_shard_t *self, uint32_t venue, int64_t issued, int64_t collected,
                              int64_t sent, pingyi_venue_figures_t *figures, char *err) PINGYI_WARN_UNUSED;

/*  Reopen a closed venue (an operator's VENUE_REOPEN): in one durable
    transaction it is open again (issued, collected, sent -1), its reopens
    count goes up by one and reason (1..PINGYI_TEXT_MAX bytes) is stored in
    `reopens` under (venue, that number); its figures are released (the
    generation moves).  Refused ("venue v01 is not closed") when open.
    0 / -1.  */
int pingyi_shard_venue_reopen (pingyi_shard_t *self, uint32_t venue, const char *reason, size_t reason_len,
                               pingyi_venue_figures_t *figures, char *err) PINGYI_WARN_UNUSED;

/*  A venue's reopen reasons, in order (n = 1, 2, ...).  fn returns nonzero
    to stop (returned).  */
typedef int (pingyi_shard_reason_fn) (uint32_t n, const char *reason, size_t len, void *arg);
int pingyi_shard_venue_reasons (pingyi_shard_t *self, uint32_t venue, pingyi_shard_reason_fn *fn, void *arg,
                                char *err);

/*  A venue's committed *current* figures (for the venue itself: its
    VENUE_STATUS); -1 if the venue is not on this shard.  */
int pingyi_shard_venue_figures (pingyi_shard_t *self, uint32_t venue, pingyi_venue_figures_t *figures);

/*  Committed meta, released and current (re-read from the db when
    read-only, so a live worker's progress shows).  0 / -1.  */
int pingyi_shard_info (pingyi_shard_t *self, pingyi_shard_info_t *info, char *err);

/*  Snapshot for TALLY_QUERY, released data only: the released figures of
    every venue of the shard, the released count blocks (election/count.h)
    with key >= from (NULL: from the first) in ascending order, as many as
    fit max_bytes of cells (0: PINGYI_SHARD_SNAPSHOT_BYTES; at least one),
    more/next for paging, the settled sequence and digest and the
    generation; one short read transaction.  The blocks are the stored
    rows, byte for byte.  Free with pingyi_shard_snapshot_free.  0 / -1.  */
int pingyi_shard_snapshot (pingyi_shard_t *self, const uint8_t from[PINGYI_ROW_KEY_LEN], size_t max_bytes,
                           pingyi_shard_snapshot_t *snapshot, char *err) PINGYI_WARN_UNUSED;
void pingyi_shard_snapshot_free (pingyi_shard_snapshot_t *snapshot);

/*  Walk the db in key order within one read transaction; a callback that
    returns non-zero stops the walk (and the walk returns that value).
    These hold a read transaction for the whole walk: offline use.  -1 with
    err on a storage error.  They show the current (full) state.  */
/*  A count block: u32 LE cells, the election's block width of them.  */
typedef int (pingyi_shard_row_fn) (uint32_t venue, uint32_t subject, const uint8_t *cells, void *arg);
typedef int (pingyi_shard_figures_fn) (const pingyi_venue_figures_t *figures, void *arg);
typedef int (pingyi_shard_id_fn) (const pingyi_shard_id_t *row, void *arg);
typedef int (pingyi_shard_log_fn) (uint32_t venue, const uint8_t ballot_id[PINGYI_BALLOT_ID_LEN],
                                   const uint8_t *envelope, size_t len, void *arg);
/*  Every count block of the full tally: released + pending, summed, in
    (venue, subject) order.  */
int pingyi_shard_foreach_row (pingyi_shard_t *self, pingyi_shard_row_fn *fn, void *arg, char *err);
/*  Every venue of the shard (per the definition), with its current figures
    or the empty figures (issued/collected/sent -1) when none are stored.  */
int pingyi_shard_foreach_venue (pingyi_shard_t *self, pingyi_shard_figures_fn *fn, void *arg, char *err);
int pingyi_shard_foreach_id (pingyi_shard_t *self, pingyi_shard_id_fn *fn, void *arg, char *err);
/*  The accepted envelopes, in (venue, ballot id) order.  */
int pingyi_shard_foreach_log (pingyi_shard_t *self, pingyi_shard_log_fn *fn, void *arg, char *err);

/*  Recount: re-read every accepted envelope, open it with the shard secret
    (keys from keyring), decode, recount the counters, the per-venue
    accepted/blank/by-category figures and the digest state, and compare all
    with what is stored (counts + pending, venues, meta).  Returns 0 when
    the recount ran (see report->ok for the verdict), -1 with err when it
    could not run.  Offline use: one long read transaction.  */
int pingyi_shard_recount (pingyi_shard_t *self, const pingyi_keyring_t *keyring,
                          const uint8_t shard_secret[PINGYI_KEY_LEN], pingyi_shard_recount_t *report,
                          char *err) PINGYI_WARN_UNUSED;

void pingyi_shard_stats (const pingyi_shard_t *self, pingyi_shard_stats_t *stats);

/*  The cap on `refused` rows per venue (and for the orphan bucket) on this
    shard, PINGYI_SHARD_REFUSED_CAP by default; for tests.  Beyond it a
    refusal is counted each time it comes (stats.refusals_unstored).  */
void pingyi_shard_set_refused_cap (pingyi_shard_t *self, uint64_t cap);

/*  Try a stopped shard again (a disk that filled has room again): close
    and reopen its LMDB environment (a failed commit may have left it
    unusable), reload and check its committed state, which must be the
    state it stopped at, then take ballots again.  A shard stopped by a
    full disk waits until its file system has PINGYI_SHARD_RESUME_FREE
    free.  Only with no apply in
    flight.  0 when it runs again (or was running), -1 with err when it
    stays stopped.  */
int pingyi_shard_resume (pingyi_shard_t *self, char *err) PINGYI_WARN_UNUSED;

uint32_t pingyi_shard_number (const pingyi_shard_t *self);

/*  Whether the manifest vouched for the shard opened (its sequence and
    digest at or behind the shard's): false for a read-only open without a
    manifest, *why then saying so.  */
bool pingyi_shard_verified (const pingyi_shard_t *self, const char **why);

/*  Every count block of the current tally against its venue's accepted
    ballots (pingyi_count_block_agrees): each block of a subject on the
    venue's form, every form subject of a venue with ballots present, and
    the cells of each (item, category) adding up to the venue's ballots of
    that category.  A flipped counter, a lost or moved row shows here.
    0, or -1 with err naming the shard, venue, subject and the difference.  */
int pingyi_shard_check_blocks (pingyi_shard_t *self, char *err) PINGYI_WARN_UNUSED;

/*  The current tally read and checked in one read transaction (safe beside
    a worker): pingyi_shard_check_blocks, then row_fn for every count block
    (current: released + pending) and fig_fn for every venue's current
    figures (either may be NULL).  0, -1 with err, or what a callback that
    stopped returned.  */
int pingyi_shard_read_verified (pingyi_shard_t *self, pingyi_shard_row_fn *row_fn,
                                pingyi_shard_figures_fn *fig_fn, void *arg, char *err) PINGYI_WARN_UNUSED;
bool pingyi_shard_stopped (const pingyi_shard_t *self);

/*  The log digest, an order-independent set hash (LtHash16; docs/worker.md,
    "The log digest").  state is 1024 lanes of u16 little-endian, all zero
    for an empty log.  digest_add adds one envelope: h = BLAKE2b-256 (env),
    v = ChaCha20-IETF keystream of 2048 bytes under key h and a zero nonce,
    state[i] += v[i] mod 2^16 lane by lane.  digest = BLAKE2b-256 (state).  */
void pingyi_shard_digest_add (uint8_t state[PINGYI_SHARD_DIGEST_STATE], const uint8_t *env, size_t len);
void pingyi_shard_digest (uint8_t out[PINGYI_SHARD_DIGEST_LEN],
                          const uint8_t state[PINGYI_SHARD_DIGEST_STATE]);

#endif
