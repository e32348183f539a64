/*  send.c — the venue client's send window (send.h): a ring of ids to send
    and the batches in flight, each due at a time: when to send it (not
    sent yet, or held back by a RETRY) or when it times out (sent).

    Invariant: inflight is the sum of the counts of the batches, and every
    batch in the list holds at least one id (one left with none is
    dropped).  */
#include "send.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/*  A SUBMIT in flight.  */
typedef struct {
    uint64_t tag;
    uint32_t count;
    uint8_t *ids; /* count x 16 */
    bool waiting; /* sent: due is its timeout; else due is when to send */
    bool stalled; /* not sent: no connection to the broker yet */
    int64_t due;
    unsigned attempts; /* timeouts so far */
    unsigned retries;  /* RETRY / transient ERROR answers so far */
} batch_t;

struct pingyi_send_t {
    size_t window, batch;
    int64_t timeout_ms;
    pingyi_send_fn *send;
    void *arg;
    uint64_t next_tag;

    /*  Ids to send: a ring of 16-byte ids.  */
    uint8_t *queue;
    size_t q_head, q_len, q_cap;

    batch_t **batches;
    size_t batch_count, batch_cap;
    size_t inflight; /* envelopes in batches */

    uint64_t sent, stale_acks;
};

pingyi_send_t *
pingyi_send_new (size_t window, size_t batch, int64_t timeout_ms, uint64_t first_tag, pingyi_send_fn *send,
                 void *arg)
{
    pingyi_send_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->window = window;
    self->batch = batch;
    self->timeout_ms = timeout_ms;
    self->next_tag = first_tag;
    self->send = send;
    self->arg = arg;
    return self;
}

void
pingyi_send_destroy (pingyi_send_t **self_p)
{
    pingyi_send_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->batch_count; i++) {
        free (self->batches[i]->ids);
        free (self->batches[i]);
    }
    free (self->batches);
    free (self->queue);
    free (self);
    *self_p = NULL;
}

uint64_t
pingyi_send_tag (pingyi_send_t *self)
{
    return self->next_tag++;
}

int
pingyi_send_queue (pingyi_send_t *self, const uint8_t *id)
{
    if (self->q_len == self->q_cap) {
        size_t cap = self->q_cap ? self->q_cap * 2 : 4096;
        uint8_t *q = malloc (cap * PINGYI_BALLOT_ID_LEN);
        if (!q)
            return -1;
        for (size_t i = 0; i < self->q_len; i++)
            memcpy (q + i * PINGYI_BALLOT_ID_LEN,
                    self->queue + ((self->q_head + i) % self->q_cap) * PINGYI_BALLOT_ID_LEN,
                    PINGYI_BALLOT_ID_LEN);
        free (self->queue);
        self->queue = q;
        self->q_cap = cap;
        self->q_head = 0;
    }
    memcpy (self->queue + ((self->q_head + self->q_len) % self->q_cap) * PINGYI_BALLOT_ID_LEN, id,
            PINGYI_BALLOT_ID_LEN);
    self->q_len++;
    return 0;
}

static void
queue_pop (pingyi_send_t *self, uint8_t *id)
{
    memcpy (id, self->queue + self->q_head * PINGYI_BALLOT_ID_LEN, PINGYI_BALLOT_ID_LEN);
    self->q_head = (self->q_head + 1) % self->q_cap;
    self->q_len--;
}

size_t
pingyi_send_queued (const pingyi_send_t *self)
{
    return self->q_len;
}

size_t
pingyi_send_inflight (const pingyi_send_t *self)
{
    return self->inflight;
}

uint64_t
pingyi_send_sent (const pingyi_send_t *self)
{
    return self->sent;
}

uint64_t
pingyi_send_stale_acks (const pingyi_send_t *self)
{
    return self->stale_acks;
}

int64_t
pingyi_send_timeout (int64_t timeout_ms, unsigned attempts)
{
    int64_t cap = timeout_ms > PINGYI_SEND_BACKOFF_MAX_MS ? timeout_ms : PINGYI_SEND_BACKOFF_MAX_MS;
    int64_t t = timeout_ms;
    for (unsigned i = 0; i < attempts && t < cap; i++)
        t *= 2;
    return t < cap ? t : cap;
}

/*  The jitter keeps the venues of a city from all coming back in the same
    millisecond when a worker returns.  */
int64_t
pingyi_send_retry_delay (uint32_t retry_ms, unsigned retries)
{
    int64_t d = retry_ms ? retry_ms : 100;
    for (unsigned i = 1; i < retries && d < PINGYI_SEND_BACKOFF_MAX_MS; i++)
        d *= 2;
    if (d > PINGYI_SEND_BACKOFF_MAX_MS)
        d = PINGYI_SEND_BACKOFF_MAX_MS;
    d = d * (80 + (int64_t) randombytes_uniform (41)) / 100;
    return d < (int64_t) retry_ms ? (int64_t) retry_ms : d;
}

/*  Send (or re-send) a batch under a fresh tag with whatever of it is still
    pending.  0 (sent, or waiting for a connection), 1 when nothing of it is
    pending any more (the caller drops it), -1 fatal.  */
static int
send_batch (pingyi_send_t *self, batch_t *b, int64_t now)
{
    uint32_t n = b->count;
    int rc = self->send (self->arg, self->next_tag, b->ids, &n);
    if (rc < 0)
        return -1;
    self->inflight -= b->count - n;
    b->count = n;
    if (!n)
        return 1;
    b->tag = self->next_tag++;
    b->stalled = rc == 1;
    if (rc == 1) {
        b->waiting = false;
        b->due = now + PINGYI_SEND_STALL_MS;
        return 0;
    }
    self->sent += n;
    b->waiting = true;
    b->due = now + pingyi_send_timeout (self->timeout_ms, b->attempts);
    return 0;
}

static void
drop_batch (pingyi_send_t *self, size_t index)
{
    batch_t *b = self->batches[index];
    self->inflight -= b->count;
    free (b->ids);
    free (b);
    self->batches[index] = self->batches[--self->batch_count];
}

int
pingyi_send_fill (pingyi_send_t *self, int64_t now)
{
    while (self->q_len && self->inflight < self->window) {
        size_t room = self->window - self->inflight;
        size_t n = self->q_len < self->batch ? self->q_len : self->batch;
        if (n > room)
            n = room;
        if (self->batch_count == self->batch_cap) {
            size_t cap = self->batch_cap ? self->batch_cap * 2 : 64;
            batch_t **grown = realloc (self->batches, cap * sizeof *grown);
            if (!grown) {
                errno = ENOMEM;
                return -1;
            }
            self->batches = grown;
            self->batch_cap = cap;
        }
        batch_t *b = calloc (1, sizeof *b);
        uint8_t *ids = b ? malloc (n * PINGYI_BALLOT_ID_LEN) : NULL;
        if (!ids) {
            free (b);
            errno = ENOMEM;
            return -1;
        }
        b->ids = ids;
        for (size_t i = 0; i < n; i++)
            queue_pop (self, b->ids + i * PINGYI_BALLOT_ID_LEN);
        b->count = (uint32_t) n;
        self->inflight += n;
        self->batches[self->batch_count++] = b;
        int rc = send_batch (self, b, now);
        if (rc < 0)
            return -1;
        if (rc == 1)
            drop_batch (self, self->batch_count - 1);
        else if (!b->waiting)
            break; /* no connection: the rest waits in the queue */
    }
    return 0;
}

int
pingyi_send_service (pingyi_send_t *self, int64_t now)
{
    for (size_t i = 0; i < self->batch_count;) {
        batch_t *b = self->batches[i];
        if (b->due > now) {
            i++;
            continue;
        }
        if (b->waiting)
            b->attempts++;
        int rc = send_batch (self, b, now);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            drop_batch (self, i);
            continue;
        }
        i++;
    }
    return 0;
}

/*  Only a batch sent and awaiting its answer has a live tag: one held back
    by a RETRY or not sent yet will go under a new one.  */
static batch_t *
find_batch (const pingyi_send_t *self, uint64_t tag, size_t *index)
{
    for (size_t i = 0; i < self->batch_count; i++)
        if (self->batches[i]->tag == tag && self->batches[i]->waiting) {
            *index = i;
            return self->batches[i];
        }
    return NULL;
}

int
pingyi_send_ack (pingyi_send_t *self, uint64_t tag, pingyi_send_pending_fn *pending_fn, void *arg)
{
    size_t index;
    batch_t *b = find_batch (self, tag, &index);
    if (!b) {
        self->stale_acks++;
        return 1;
    }
    for (uint32_t i = 0; i < b->count; i++) {
        const uint8_t *id = b->ids + i * PINGYI_BALLOT_ID_LEN;
        int rc = pending_fn (arg, id);
        if (rc < 0)
            return -1;
        if (rc == 1 && pingyi_send_queue (self, id)) {
            errno = ENOMEM;
            return -1;
        }
    }
    drop_batch (self, index);
    return 0;
}

bool
pingyi_send_retry (pingyi_send_t *self, uint64_t tag, uint32_t retry_ms, int64_t now)
{
    size_t index;
    batch_t *b = find_batch (self, tag, &index);
    if (!b)
        return false;
    b->waiting = false;
    b->retries++;
    b->due = now + pingyi_send_retry_delay (retry_ms, b->retries);
    return true;
}

bool
pingyi_send_batch_size (const pingyi_send_t *self, uint64_t tag, uint32_t *count)
{
    size_t index;
    const batch_t *b = find_batch (self, tag, &index);
    if (b)
        *count = b->count;
    return b != NULL;
}

bool
pingyi_send_outstanding (const pingyi_send_t *self)
{
    for (size_t i = 0; i < self->batch_count; i++)
        if (self->batches[i]->waiting || self->batches[i]->stalled)
            return true;
    return false;
}

int64_t
pingyi_send_next_due (const pingyi_send_t *self, int64_t later)
{
    for (size_t i = 0; i < self->batch_count; i++)
        if (self->batches[i]->due < later)
            later = self->batches[i]->due;
    return later;
}

void
pingyi_send_resend_all (pingyi_send_t *self, int64_t now)
{
    for (size_t i = 0; i < self->batch_count; i++) {
        self->batches[i]->waiting = false;
        self->batches[i]->due = now;
    }
}
