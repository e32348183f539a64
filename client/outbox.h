/*  outbox.h — a venue client's durable outbox (LMDB, no networking).

    Every ballot the client takes from its input is sealed and committed
    here before any of it is sent, and stays until a worker has acknowledged
    it; so a crash at any moment loses nothing, and a restart with the same
    outbox and the same input sends nothing twice (docs/client.md).

    Layout of the LMDB environment in DIR (durable commits, never NOSYNC):
        pending   ballot id (16 bytes) → envelope
        pool      ballot id (16 bytes) → nothing: pending ballots still held
                  in the mixing pool (live input, client/mix.h), not to be
                  sent before the pool lets them go
        done      ballot id (16 bytes) → status u8, reason u8, receipt (16 chars)
        meta      "schema", "fingerprint", "venue", "input_consumed" (u64),
                  "input_digest" (32 bytes: SHA-256 of the input taken so far),
                  "ingested", "bad_lines", "accepted", "duplicates",
                  "rejected.<code>", "receipt_mismatch" (u64), "closed" (u8),
                  "compacted" (u8: 1 when nothing was written since the
                  file was last rewritten), "sending" (u8: the venue's shard
                  was found accounted for once and sending began; from then
                  on a pending envelope may be at the shard), "foreign" (u64:
                  ballots of the venue the shard held that this outbox does
                  not account for, taken as another batch with --append)
    plus DIR/client.lock (an exclusive lock: one client per outbox) and, at
    the end, DIR/receipts.txt.

    Anonymity: ids are random and LMDB orders by id, so neither storage nor
    send order follows the order of the input; no plaintext is stored.  An
    envelope the outbox lets go of (acknowledged) is overwritten with zeros
    in place and deleted in the same transaction, and the file is rewritten
    from its live records now and then and at the end (compaction), so
    that no old copy of it -- nor any older version of a page, which would
    tell the order things were written in -- stays in the file.  Only its
    id, status and receipt stay.  */
#ifndef PINGYI_CLIENT_OUTBOX_H
#define PINGYI_CLIENT_OUTBOX_H

#include "ballot.h"
#include "common.h"

#define PINGYI_OUTBOX_DIGEST_LEN 32

typedef struct pingyi_outbox_t pingyi_outbox_t;

typedef struct {
    uint64_t input_consumed; /* input records (good ballots and bad lines) taken */
    uint64_t ingested;       /* good ballots taken (sealed and committed) */
    uint64_t bad_lines;      /* bad input records */
    uint64_t pending;        /* envelopes not yet acknowledged (pooled ones included) */
    uint64_t pooled;         /* of those, held in the mixing pool: not to be sent yet */
    uint64_t accepted;
    uint64_t duplicates;
    uint64_t rejected; /* all reasons */
    uint64_t rejected_by[PINGYI_REJECT_COUNT_];
    uint64_t receipt_mismatch; /* accepted/duplicate results without our tracking code (refused) */
    bool closed;               /* the venue's close was answered */
    bool compacted;            /* nothing written since the file was last rewritten */
    bool sending;              /* cleared to send once (the open check passed): pending may be at the shard */
    uint64_t foreign;          /* the shard's ballots of the venue from other batches (--append) */
    uint64_t released;         /* envelopes let go of since the last rewrite (this run) */
    uint64_t released_bytes;   /* and their bytes */
    bool has_digest;
    uint8_t input_digest[PINGYI_OUTBOX_DIGEST_LEN];
} pingyi_outbox_stats_t;

/*  One ballot to take in: its id and its sealed envelope.  */
typedef struct {
    uint8_t id[PINGYI_BALLOT_ID_LEN];
    const uint8_t *envelope;
    size_t len;
} pingyi_outbox_item_t;

/*  One acknowledgement result.  applied is set by pingyi_outbox_ack: true
    when the id was pending and is now done; false for an id this outbox
    does not hold (already acknowledged, or not ours).  */
typedef struct {
    const uint8_t *id;   /* 16 bytes */
    uint8_t status;      /* pingyi_ack_status_t */
    uint8_t reason;      /* pingyi_reject_t when rejected */
    const char *receipt; /* the shard's tracking code, receipt_len chars (may be 0) */
    size_t receipt_len;
    bool applied;
    bool mismatch; /* accepted/duplicate without our tracking code: not applied, sent again */
} pingyi_outbox_result_t;

/*  Open (creating if needed) the outbox in dir for this election and venue.
    Refuses an outbox of another election or venue, or one another process
    holds, with a message saying which and what to do.  */
pingyi_outbox_t *pingyi_outbox_open (const char *dir, const uint8_t fingerprint[PINGYI_FP_LEN],
                                     const char *venue, char *err);
void pingyi_outbox_close (pingyi_outbox_t **self_p);

const char *pingyi_outbox_dir (const pingyi_outbox_t *self);
/*  The counters, as of the last commit.  */
void pingyi_outbox_stats (const pingyi_outbox_t *self, pingyi_outbox_stats_t *stats);

/*  Take a chunk of the input in ONE durable transaction: put every item in
    pending (and, when pooled, in the pool), add records (good and bad) to
    input_consumed, bad to bad_lines, and store digest (the input's digest
    after these records).  Nothing of the chunk may be sent before this
    returns 0, and nothing pooled before the pool lets it go.  */
int pingyi_outbox_ingest (pingyi_outbox_t *self, const pingyi_outbox_item_t *items, size_t count,
                          uint64_t records, uint64_t bad, const uint8_t digest[PINGYI_OUTBOX_DIGEST_LEN],
                          bool pooled, char *err) PINGYI_WARN_UNUSED;

/*  Empty the pool in ONE durable transaction: its ids, malloc'd (16 bytes
    each, *count of them, in id order: shuffle them before use), stay
    pending and may now be sent.  0 / -1.  */
int pingyi_outbox_pool_take (pingyi_outbox_t *self, uint8_t **ids, size_t *count,
                             char *err) PINGYI_WARN_UNUSED;

/*  The ids of every pending envelope that is not in the pool, in id order
    (random): malloc'd, 16 bytes each, *count of them.  0 / -1.  */
int pingyi_outbox_pending_ids (pingyi_outbox_t *self, uint8_t **ids, size_t *count,
                               char *err) PINGYI_WARN_UNUSED;

/*  Reading envelopes to send: between read_begin and read_end, get returns
    1 with *env (valid until read_end) when id is pending, 0 when it is not,
    -1 on error.  */
int pingyi_outbox_read_begin (pingyi_outbox_t *self, char *err) PINGYI_WARN_UNUSED;
int pingyi_outbox_read_get (pingyi_outbox_t *self, const uint8_t id[PINGYI_BALLOT_ID_LEN],
                            const uint8_t **env, size_t *len);
void pingyi_outbox_read_end (pingyi_outbox_t *self);

/*  Apply one ACK message's results in ONE transaction: each pending id
    moves to done (status, reason, and our own tracking code of its
    envelope), its envelope is overwritten with zeros where it lies and then
    deleted, the counters move.  An id still in the pool was never sent: its
    result is not applied.  Returns how many results applied, or -1 with err
    (nothing applied).  */
int pingyi_outbox_ack (pingyi_outbox_t *self, pingyi_outbox_result_t *results, size_t count, char *err);

/*  What done holds for id: 1 with status/reason/receipt (17 bytes), 0 when
    absent, -1 on error.  */
int pingyi_outbox_done_get (pingyi_outbox_t *self, const uint8_t id[PINGYI_BALLOT_ID_LEN], uint8_t *status,
                            uint8_t *reason, char receipt[PINGYI_RECEIPT_LEN + 1]);

/*  Record that the venue's close was answered.  */
int pingyi_outbox_set_closed (pingyi_outbox_t *self, char *err) PINGYI_WARN_UNUSED;

/*  Record, before the first envelope is sent, that this outbox was cleared
    to send (the open check passed, docs/client.md "One outbox per venue"),
    and foreign: the shard's ballots of the venue this outbox does not
    account for (other batches, --append).  0 / -1.  */
int pingyi_outbox_set_sending (pingyi_outbox_t *self, uint64_t foreign, char *err) PINGYI_WARN_UNUSED;

/*  Write DIR/receipts.txt: one tracking code per accepted or duplicate
    ballot, sorted, nothing else (atomically).  *count is set; returns 0 / -1.  */
int pingyi_outbox_write_receipts (pingyi_outbox_t *self, char *path, size_t path_cap, uint64_t *count,
                                  char *err) PINGYI_WARN_UNUSED;

/*  Rewrite the outbox file from its live records only: they are copied
    into a fresh LMDB file beside it (DIR/data.mdb.compact), which is
    synced and renamed over DIR/data.mdb.  Free pages -- old versions of
    pages, envelopes already let go of -- do not survive, nor any byte that
    was not part of a live record when the copy was made.  No read may be
    open.  0; -1 with err when the copy failed (the outbox is unchanged and
    still usable); -2 with err when the outbox could not be reopened after
    the rename (it is unusable: stop).  */
int pingyi_outbox_compact (pingyi_outbox_t *self, char *err) PINGYI_WARN_UNUSED;

/*  Compact when it is worth it: something was written since the last
    rewrite, and either idle (nothing in flight: the client waits) or at
    least PINGYI_COMPACT_ENVELOPES envelopes / PINGYI_COMPACT_BYTES bytes
    were let go of since; and never sooner after the last compaction than
    PINGYI_COMPACT_GAP_MS nor than PINGYI_COMPACT_COST_FACTOR times what it
    took (so compaction costs at most about 1/FACTOR of the time).  Returns
    1 compacted, 0 not due, or what pingyi_outbox_compact returns.  */
#define PINGYI_COMPACT_ENVELOPES 1000
#define PINGYI_COMPACT_BYTES (1u << 20)
#define PINGYI_COMPACT_GAP_MS 500
#define PINGYI_COMPACT_COST_FACTOR 20
int pingyi_outbox_maybe_compact (pingyi_outbox_t *self, bool idle, char *err) PINGYI_WARN_UNUSED;

/*  Milliseconds the last compaction took (0 before the first).  */
int64_t pingyi_outbox_compact_cost_ms (const pingyi_outbox_t *self);

#endif
