/*  shard.h — one shard of the count: an LMDB environment that holds, for the
    venues mapped to this shard, every ballot id seen, the log of accepted
    envelopes, the counters, the per-venue figures and the hash chain.

    The worker applies ballots in batches: one write transaction per batch,
    committed durably, and only then are the results handed back to be
    acknowledged (exactly once = at-least-once delivery + idempotent apply
    in the same transaction as the dedupe).  The same object, opened
    read-only, serves the offline tools (`pingyi tally --data DIR`): counters,
    figures, the log, and a recount that re-opens every logged envelope with
    the election secret and checks the counters and the chain.

    No ZeroMQ here and no main(): tools compile this file into themselves.
    One environment per process: never open the same shard twice in one
    process (LMDB forbids it).  The storage layout is in docs/worker.md.  */
#ifndef PINGYI_SHARD_H
#define PINGYI_SHARD_H

#include "ballot.h"
#include "common.h"
#include "election.h"
#include "keys.h"
#include "msg.h"

#define PINGYI_SHARD_SCHEMA 2                         /* 2: counts in rows per (venue, subject) */
#define PINGYI_SHARD_MAP_DEFAULT ((size_t) 256 << 20) /* initial map size */
#define PINGYI_SHARD_SNAPSHOT_MAX 65536               /* counters in one SNAPSHOT */
#define PINGYI_SHARD_REJECT_SLOTS 16                  /* rejected_by[] entries */

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
    uint64_t map_size; /* bytes, current */
    uint64_t sequence; /* committed: accepted ballots in the log */
    uint64_t venue_closes;
    bool stopped; /* the shard takes no more ballots */
} pingyi_shard_stats_t;

/*  What the meta db says (committed state).  */
typedef struct {
    uint32_t shard;
    uint32_t shard_count;
    uint8_t fingerprint[PINGYI_FP_LEN];
    uint64_t sequence; /* last log sequence = accepted ballots */
    uint8_t chain[32]; /* hash chain head */
    /* rejections that could not be charged to a venue of this shard */
    uint64_t orphan_rejected;
    uint64_t orphan_rejected_by[PINGYI_SHARD_REJECT_SLOTS];
} pingyi_shard_info_t;

/*  One row of the `ids` db.  */
typedef struct {
    uint32_t venue;
    uint8_t ballot_id[PINGYI_BALLOT_ID_LEN];
    uint8_t status; /* PINGYI_ACK_ACCEPTED or PINGYI_ACK_REJECTED */
    uint8_t reason;
    uint64_t sequence; /* log sequence when accepted, else 0; the receipt is its log entry's */
} pingyi_shard_id_t;

/*  A page of the shard's tally, read in one short read transaction.  */
typedef struct {
    pingyi_shard_info_t info;
    pingyi_venue_figures_t *venues; /* every venue of this shard, by index */
    size_t venue_count;
    pingyi_counter_t *counters; /* keys >= from, ascending */
    size_t counter_count;
    bool more; /* more counters: ask again from next */
    uint8_t next[PINGYI_COUNTER_KEY_LEN];
} pingyi_shard_snapshot_t;

/*  Result of a recount from the log.  */
typedef struct {
    uint64_t log_entries;               /* envelopes in the log */
    uint64_t reopened;                  /* opened and decoded again */
    uint64_t failed;                    /* logged envelopes that no longer open/decode */
    uint64_t counters_checked;          /* distinct keys compared (stored ∪ recounted) */
    uint64_t counters_differ;           /* keys whose stored count differs */
    uint64_t ids_accepted;              /* `ids` rows with status accepted */
    bool sequence_ok;                   /* meta sequence = log entries = last log key */
    bool chain_ok;                      /* meta chain = chain recomputed over the log */
    bool figures_ok;                    /* per venue accepted/blank = what the log gives */
    uint8_t chain[32];                  /* the recomputed head */
    bool ok;                            /* all of the above, no failure, no difference */
    char first_problem[PINGYI_ERR_MAX]; /* the first difference found, or "" */
} pingyi_shard_recount_t;

/*  DATA/shard-NN (NN at least two digits) into out.  */
void pingyi_shard_path (char *out, size_t cap, const char *data_dir, uint32_t shard);

/*  Open (creating when new) shard `shard` under data_dir for writing.  The
    keyring gives each venue's box public key and election_secret is the
    election's box secret: the per-venue envelope keys are computed here,
    once, for the venues of this shard.  map_size is the initial LMDB map in
    bytes (0: PINGYI_SHARD_MAP_DEFAULT); it grows by doubling when full.
    Refuses a directory made for another election, shard or shard count, or
    one whose log and meta disagree.  NULL with err.  */
pingyi_shard_t *pingyi_shard_open (const char *data_dir, uint32_t shard, const pingyi_election_t *election,
                                   const pingyi_keyring_t *keyring,
                                   const uint8_t election_secret[PINGYI_KEY_LEN], size_t map_size, char *err);

/*  Open an existing shard read-only (MDB_RDONLY) for the offline tools; the
    same checks as pingyi_shard_open.  Apply and venue_close fail on it.  */
pingyi_shard_t *pingyi_shard_open_readonly (const char *data_dir, uint32_t shard,
                                            const pingyi_election_t *election, char *err);

/*  Close the environment and wipe the keys; safe twice, nulls the pointer.  */
void pingyi_shard_close (pingyi_shard_t **self_p);

/*  Apply a batch in one write transaction, committed durably before
    returning 0; then every item holds its result.  The batch is applied in
    a random order (randombytes_uniform) so the log does not follow the
    order of voting; results stay in the caller's order.  MDB_MAP_FULL grows
    the map and redoes the whole batch.  Returns -1 with err when nothing was
    committed: the results must not be acknowledged.  If the map cannot grow
    or a commit fails, the shard stops (pingyi_shard_stopped) and every later
    apply fails.  */
int pingyi_shard_apply (pingyi_shard_t *self, pingyi_shard_item_t *items, size_t count,
                        char *err) PINGYI_WARN_UNUSED;

/*  Record a venue's close (issued, collected, sent; closed = true) durably
    and return its figures.  Idempotent; a second close overwrites the
    declared numbers.  venue must be one of this shard's.  0 / -1.  */
int pingyi_shard_venue_close (pingyi_shard_t *self, uint32_t venue, int64_t issued, int64_t collected,
                              int64_t sent, pingyi_venue_figures_t *figures, char *err) PINGYI_WARN_UNUSED;

/*  A venue's committed figures; -1 if the venue is not on this shard.  */
int pingyi_shard_venue_figures (pingyi_shard_t *self, uint32_t venue, pingyi_venue_figures_t *figures);

/*  Committed meta (re-read from the db when read-only, so a live worker's
    progress shows).  0 / -1.  */
int pingyi_shard_info (pingyi_shard_t *self, pingyi_shard_info_t *info, char *err);

/*  Snapshot for TALLY_QUERY: all venue figures of the shard, at most
    max_counters counters with key >= from (NULL: from the first) in
    ascending order, more/next for paging, sequence and chain head; one short
    read transaction.  Free with pingyi_shard_snapshot_free.  0 / -1.  */
int pingyi_shard_snapshot (pingyi_shard_t *self, const uint8_t from[PINGYI_COUNTER_KEY_LEN],
                           size_t max_counters, pingyi_shard_snapshot_t *snapshot,
                           char *err) PINGYI_WARN_UNUSED;
void pingyi_shard_snapshot_free (pingyi_shard_snapshot_t *snapshot);

/*  Walk the db in key order within one read transaction; a callback that
    returns non-zero stops the walk (and the walk returns that value).
    These hold a read transaction for the whole walk: offline use.  -1 with
    err on a storage error.  */
typedef int (pingyi_shard_counter_fn) (const uint8_t key[PINGYI_COUNTER_KEY_LEN], uint64_t count, void *arg);
typedef int (pingyi_shard_figures_fn) (const pingyi_venue_figures_t *figures, void *arg);
typedef int (pingyi_shard_id_fn) (const pingyi_shard_id_t *row, void *arg);
typedef int (pingyi_shard_log_fn) (uint64_t sequence, const uint8_t *envelope, size_t len, void *arg);
int pingyi_shard_foreach_counter (pingyi_shard_t *self, pingyi_shard_counter_fn *fn, void *arg, char *err);
/*  Every venue of the shard (per the definition), with its stored figures
    or the empty figures (issued/collected/sent -1) when none are stored.  */
int pingyi_shard_foreach_venue (pingyi_shard_t *self, pingyi_shard_figures_fn *fn, void *arg, char *err);
int pingyi_shard_foreach_id (pingyi_shard_t *self, pingyi_shard_id_fn *fn, void *arg, char *err);
int pingyi_shard_foreach_log (pingyi_shard_t *self, pingyi_shard_log_fn *fn, void *arg, char *err);

/*  Recount: re-read the whole log, open every envelope with the election
    secret (keys from keyring), decode, recount the counters and the
    per-venue accepted/blank figures, recompute the chain, and compare all
    with what is stored.  Returns 0 when the recount ran (see report->ok for
    the verdict), -1 with err when it could not run.  Offline use: one long
    read transaction.  */
int pingyi_shard_recount (pingyi_shard_t *self, const pingyi_keyring_t *keyring,
                          const uint8_t election_secret[PINGYI_KEY_LEN], pingyi_shard_recount_t *report,
                          char *err) PINGYI_WARN_UNUSED;

void pingyi_shard_stats (const pingyi_shard_t *self, pingyi_shard_stats_t *stats);
uint32_t pingyi_shard_number (const pingyi_shard_t *self);
bool pingyi_shard_stopped (const pingyi_shard_t *self);

/*  The hash chain step: next = SHA-256 (prev || sequence u64 BE || envelope).  */
void pingyi_shard_chain_step (uint8_t next[32], const uint8_t prev[32], uint64_t sequence,
                              const uint8_t *envelope, size_t len);

#endif
