/*  batch.h — one shard's batches and its committer thread: envelopes from
    any number of SUBMITs gather until `limit` envelopes or `ms` after the
    first one; then the shard applies them in one transaction
    (pingyi_shard_apply: open, validate, count, log, fsync) on a thread of
    its own, and only after the commit is each request answered, with its
    results in its own order.

    A shard has at most two batches besides the one filling: one being
    committed (the committer thread) and one closed, waiting for it (the
    ready batch).  A batch that fills while the previous one commits goes as
    soon as that commit returns (group commit), so under load batches grow
    and commits per ballot fall, and at low rates a ballot waits at most
    `ms` plus one commit.  When a batch closes while one is committing and
    another is ready, the caller waits for the commit in flight: that bounds
    what a shard holds to three batches and is the backpressure that
    reaches the broker.

    Threads: every function here is the loop thread's (the one that owns
    the requests and their sockets); only pingyi_shard_apply runs on the
    committer.  Nothing here knows ZeroMQ: a request is the caller's
    pointer, answered through `answer` and given back through `release`.
    Before the caller reads or writes the shard itself (figures, close,
    snapshot, stats) it calls pingyi_batch_wait_idle or pingyi_batch_drain:
    one writer per shard, and the committed state is never read while it
    changes.  */
#ifndef PINGYI_WORKER_BATCH_H
#define PINGYI_WORKER_BATCH_H

#include "metrics.h"
#include "shard.h"

#include <stdbool.h>
#include <stdint.h>

/*  The committed results of one request: its items, in the order it gave
    them, duplicates' reasons already resolved (PINGYI_DUPLICATE_SAME or
    _DIFFERS).  Called only for a committed batch.  */
typedef void (pingyi_batch_answer_fn) (void *arg, void *request, const pingyi_shard_item_t *items,
                                       size_t count);
/*  The batch is done with a request (answered, not committed, or the batch
    destroyed): the caller may free it and what its items point into.  */
typedef void (pingyi_batch_release_fn) (void *arg, void *request);

/*  What every shard's batch of one worker shares; the caller's, alive as
    long as the batches.  The counters are written by the loop thread.  */
typedef struct {
    size_t limit; /* a batch closes at this many envelopes (>= 1) */
    size_t cap;   /* envelopes one batch holds: at least limit and one whole SUBMIT (PINGYI_BATCH_MAX) */
    int ms;       /* or this long after its first envelope */
    int wake_fd;  /* an eventfd the committer writes 1 to when a commit is done; -1: none */
    pingyi_batch_answer_fn *answer;
    pingyi_batch_release_fn *release;
    void *arg; /* for answer and release */
    /* counters */
    uint64_t commit_waits, commit_wait_ms; /* the loop waited for a committer */
    uint64_t uncommitted;                  /* batches not committed: nothing answered */
    uint64_t duplicates_differing;         /* resends of a counted ballot id with other bytes */
} pingyi_batch_config_t;

typedef struct pingyi_batch_t pingyi_batch_t;

/*  The batches of shard number `shard`, applied to store (the caller's, to
    close after pingyi_batch_destroy), and its committer thread, started.
    NULL with err when memory or the thread is not to be had.  */
pingyi_batch_t *pingyi_batch_new (pingyi_batch_config_t *config, uint32_t shard, pingyi_shard_t *store,
                                  char *err) PINGYI_WARN_UNUSED;
/*  Stop the committer (a commit in flight finishes, unanswered: the clients
    resend and are answered "duplicate"), release every request still held,
    free.  Safe twice; NULLs the pointer.  */
void pingyi_batch_destroy (pingyi_batch_t **self_p);

/*  Room for the n (1..cap) envelopes of `request` in the filling batch, at
    now: a request is never split, so when they do not fit the filling batch
    closes first (which may wait, see above).  Returns the n items, which
    the caller fills (envelope, len, sender; the pointers valid until the
    request is released) before the next call on this batch.  The first
    envelope of a batch starts its clock; a full batch is closed by the next
    pingyi_batch_service.  */
pingyi_shard_item_t *pingyi_batch_add (pingyi_batch_t *self, void *request, size_t n, int64_t now);

/*  Answer a finished commit, and close the filling batch when it is due
    (full, or `ms` since its first envelope) and the committer is idle.
    Never waits.  Call after every request added and whenever wake_fd
    fires or the time from pingyi_batch_due comes.  */
void pingyi_batch_service (pingyi_batch_t *self, int64_t now);

/*  When the filling batch is due by time and waits for nothing else, else
    INT64_MAX (empty, or it waits for the commit in flight: wake_fd).  */
int64_t pingyi_batch_due (const pingyi_batch_t *self);

/*  The shard idle (its committed state steady), without closing the
    filling batch: waits for the commit in flight and answers it.  */
void pingyi_batch_wait_idle (pingyi_batch_t *self);

/*  Everything the shard holds committed and answered; the shard idle.  */
void pingyi_batch_drain (pingyi_batch_t *self);

/*  Envelopes held and not yet handed to the committer (filling + ready).  */
size_t pingyi_batch_waiting (const pingyi_batch_t *self);

/*  The shard stopped taking ballots (a failed commit), as of the last
    commit answered.  */
bool pingyi_batch_stopped (const pingyi_batch_t *self);

/*  After pingyi_shard_resume: the batch takes envelopes again when the
    shard runs.  Only when idle.  */
void pingyi_batch_resumed (pingyi_batch_t *self);

/*  Seconds each committed batch took in pingyi_shard_apply (open,
    validate, count, log, commit with its fsyncs), timed on the committer,
    observed by the loop thread when it answers the batch; fixed buckets
    PINGYI_BATCH_COMMIT_BUCKETS (1 ms .. 10 s).  Loop thread only.  */
const pingyi_hist_t *pingyi_batch_commit_seconds (const pingyi_batch_t *self);
/*  A commit is in flight on the committer (its shard's state is changing):
    the metrics skip reading the shard then rather than wait.  */
bool pingyi_batch_busy (const pingyi_batch_t *self);

uint32_t pingyi_batch_shard (const pingyi_batch_t *self);
pingyi_shard_t *pingyi_batch_store (const pingyi_batch_t *self);

#endif
