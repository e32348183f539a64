/*  send.h — the venue client's send window: the ids waiting to be sent and
    the SUBMITs in flight (docs/client.md, "Sending").

    Every pending id the client holds outside the mixing pool is in exactly
    one place: the send queue or one batch in flight.  At most `window`
    envelopes are in flight, at most `batch` per SUBMIT.  A batch sent and
    unanswered after its timeout is re-sent, under a new tag, with those of
    its ids still pending; the timeout is --timeout-ms, doubling per
    further timeout, capped at 10 s (or at --timeout-ms if larger).  A batch
    answered RETRY (or a transient ERROR) waits the broker's retry_ms,
    doubling per further RETRY up to 10 s, +-20 % jitter, never less than
    retry_ms.  An ACK takes its batch out of flight; the ids of it that are
    still pending go back to the queue.

    No socket here: sending is the caller's pingyi_send_fn, which also says
    which ids of a batch are still pending (the outbox knows), so the window
    is tested alone (tests/unit/test_client_send.c).  Times are in ms on the
    caller's clock.  */
#ifndef PINGYI_CLIENT_SEND_H
#define PINGYI_CLIENT_SEND_H

#include "common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PINGYI_SEND_BACKOFF_MAX_MS 10000 /* timeouts and retries double up to this */
#define PINGYI_SEND_STALL_MS 100         /* not sent (no connection yet): try again after this */

/*  Send the batch of *count ids under tag.  First drop from ids (in place,
    keeping their order) those no longer pending and set *count; when none is
    left, send nothing and return 0 (the window drops the batch and the tag
    is not used).  Returns 0 sent, 1 not sent for now (no connection yet:
    tried again after PINGYI_SEND_STALL_MS), -1 fatal (the callback said
    why).  */
typedef int (pingyi_send_fn) (void *arg, uint64_t tag, uint8_t *ids, uint32_t *count);

/*  After an ACK: 1 when the id is still pending (it goes back to the
    queue), 0 when not, -1 fatal (the callback said why).  */
typedef int (pingyi_send_pending_fn) (void *arg, const uint8_t *id);

typedef struct pingyi_send_t pingyi_send_t;

/*  A window of at most `window` envelopes in flight, `batch` per SUBMIT
    (1 <= batch <= window, batch <= PINGYI_BATCH_MAX), timeouts from
    timeout_ms; tags from first_tag on.  NULL when out of memory.  */
pingyi_send_t *pingyi_send_new (size_t window, size_t batch, int64_t timeout_ms, uint64_t first_tag,
                                pingyi_send_fn *send, void *arg);
void pingyi_send_destroy (pingyi_send_t **self_p);

/*  A fresh tag, for the caller's other requests (VENUE_OPEN, VENUE_CLOSE):
    one counter, so no two requests of a run share a tag.  */
uint64_t pingyi_send_tag (pingyi_send_t *self);

/*  Queue an id to send.  -1 when out of memory.  */
int pingyi_send_queue (pingyi_send_t *self, const uint8_t *id) PINGYI_WARN_UNUSED;

/*  Ids waiting in the queue; envelopes in flight.  */
size_t pingyi_send_queued (const pingyi_send_t *self);
size_t pingyi_send_inflight (const pingyi_send_t *self);

/*  Envelopes sent so far (re-sends included).  */
uint64_t pingyi_send_sent (const pingyi_send_t *self);
/*  ACKs whose tag names no batch in flight (late, or for a batch re-sent
    under a newer tag): their results count, the window ignores them.  */
uint64_t pingyi_send_stale_acks (const pingyi_send_t *self);

/*  Move queued ids into new batches and send them while the window has
    room.  Stops at the first batch that cannot be sent for now.  0, or -1:
    fatal from the send callback, or out of memory (then errno is ENOMEM).  */
int pingyi_send_fill (pingyi_send_t *self, int64_t now) PINGYI_WARN_UNUSED;

/*  Batches whose time has come: unsent ones are sent, timed-out ones
    re-sent with a longer timeout.  0, or -1 fatal from the callback.  */
int pingyi_send_service (pingyi_send_t *self, int64_t now) PINGYI_WARN_UNUSED;

/*  An ACK under tag (its results already applied by the caller): the batch
    sent under it leaves the window, its ids still pending (pending_fn) go
    back to the queue.  1 when no batch in flight has that tag (ignored,
    counted in pingyi_send_stale_acks); 0; -1 fatal from pending_fn, or out
    of memory (errno ENOMEM).  */
int pingyi_send_ack (pingyi_send_t *self, uint64_t tag, pingyi_send_pending_fn *pending_fn,
                     void *arg) PINGYI_WARN_UNUSED;

/*  A RETRY (or a transient ERROR) under tag asking to wait retry_ms: the
    batch is sent again after pingyi_send_retry_delay.  false when no batch
    in flight has that tag.  */
bool pingyi_send_retry (pingyi_send_t *self, uint64_t tag, uint32_t retry_ms, int64_t now);

/*  The number of envelopes of the batch in flight under tag, if any.  */
bool pingyi_send_batch_size (const pingyi_send_t *self, uint64_t tag, uint32_t *count);

/*  Anything sent and unanswered, or waiting for a connection?  A batch held
    back by a RETRY is not: the broker did answer.  */
bool pingyi_send_outstanding (const pingyi_send_t *self);

/*  The earliest time a batch is due, or `later` if none is sooner.  */
int64_t pingyi_send_next_due (const pingyi_send_t *self, int64_t later);

/*  A new connection: every batch in flight is sent again at `now`.  */
void pingyi_send_resend_all (pingyi_send_t *self, int64_t now);

/*  The timeout after `attempts` timeouts: timeout_ms doubled per attempt,
    capped at PINGYI_SEND_BACKOFF_MAX_MS or timeout_ms if larger.  */
int64_t pingyi_send_timeout (int64_t timeout_ms, unsigned attempts);

/*  The wait after the retries-th RETRY: retry_ms (100 when 0) doubled per
    RETRY after the first, capped at PINGYI_SEND_BACKOFF_MAX_MS, +-20 %
    jitter, never less than retry_ms (docs/PROTOCOL.md §8).  */
int64_t pingyi_send_retry_delay (uint32_t retry_ms, unsigned retries);

#endif
