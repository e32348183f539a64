/*  outbox.h — a venue client's durable outbox (LMDB, no networking).

    Every ballot the client takes from its input is sealed and committed
    here before any of it is sent, and stays until a worker has acknowledged
    it; so a crash at any moment loses nothing, and a restart with the same
    outbox and the same input sends nothing twice (docs/client.md).

    Layout of the LMDB environment in DIR (durable commits, never NOSYNC):
        pending   ballot id (16 bytes) → envelope
        done      ballot id (16 bytes) → status u8, reason u8, receipt (16 chars)
        meta      "schema", "fingerprint", "venue", "input_consumed" (u64),
                  "input_digest" (32 bytes: SHA-256 of the input taken so far),
                  "ingested", "bad_lines", "accepted", "duplicates",
                  "rejected.<code>", "receipt_mismatch" (u64), "closed" (u8)
    plus DIR/client.lock (an exclusive lock: one client per outbox) and, at
    the end, DIR/receipts.txt.

    Anonymity: ids are random and LMDB orders by id, so neither storage nor
    send order follows the order of the input; no plaintext is stored; an
    envelope is deleted once acknowledged, only its id, status and receipt
    stay.  */
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
    uint64_t pending;        /* envelopes not yet acknowledged */
    uint64_t accepted;
    uint64_t duplicates;
    uint64_t rejected; /* all reasons */
    uint64_t rejected_by[PINGYI_REJECT_COUNT_];
    uint64_t receipt_mismatch; /* acks whose tracking code differed from ours */
    bool closed;               /* the venue's close was answered */
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
    bool mismatch; /* the shard's code is not ours (ours is kept) */
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
    pending, add records (good and bad) to input_consumed, bad to bad_lines,
    and store digest (the input's digest after these records).  Nothing of
    the chunk may be sent before this returns 0.  */
int pingyi_outbox_ingest (pingyi_outbox_t *self, const pingyi_outbox_item_t *items, size_t count,
                          uint64_t records, uint64_t bad, const uint8_t digest[PINGYI_OUTBOX_DIGEST_LEN],
                          char *err) PINGYI_WARN_UNUSED;

/*  The ids of every pending envelope, in id order (random): malloc'd, 16
    bytes each, *count of them.  0 / -1.  */
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
    envelope), its envelope is deleted, the counters move.  Returns how many
    results applied, or -1 with err (nothing applied).  */
int pingyi_outbox_ack (pingyi_outbox_t *self, pingyi_outbox_result_t *results, size_t count, char *err);

/*  What done holds for id: 1 with status/reason/receipt (17 bytes), 0 when
    absent, -1 on error.  */
int pingyi_outbox_done_get (pingyi_outbox_t *self, const uint8_t id[PINGYI_BALLOT_ID_LEN], uint8_t *status,
                            uint8_t *reason, char receipt[PINGYI_RECEIPT_LEN + 1]);

/*  Record that the venue's close was answered.  */
int pingyi_outbox_set_closed (pingyi_outbox_t *self, char *err) PINGYI_WARN_UNUSED;

/*  Write DIR/receipts.txt: one tracking code per accepted or duplicate
    ballot, sorted, nothing else (atomically).  *count is set; returns 0 / -1.  */
int pingyi_outbox_write_receipts (pingyi_outbox_t *self, char *path, size_t path_cap, uint64_t *count,
                                  char *err) PINGYI_WARN_UNUSED;

#endif
