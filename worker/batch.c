/*  batch.c — one shard's batches and its committer thread (batch.h).

    Three buffers per shard: `cur` filling (loop thread), `ready` closed and
    waiting for the committer, `busy` with the committer.  A received frame
    stays alive until its batch is answered: items point into it, nothing is
    copied, and nothing of a ballot is kept after its batch.  `job`, `quit`
    and `rc` are under `lock`; `done` is also read without it (an atomic,
    release by the committer, acquire by the loop) to poll for finished
    commits.  */
#define _GNU_SOURCE
#include "batch.h"

#include "envelope.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH_BUFS 3 /* filling, ready, committing */

/*  A request waiting in a batch: its items are [first, first + count).  */
typedef struct {
    void *request;
    size_t first, count;
} held_t;

/*  The envelopes of one batch and the requests they came in.  */
typedef struct {
    pingyi_shard_item_t *items;
    size_t count;
    held_t *held;
    size_t held_count;
} buf_t;

struct pingyi_batch_t {
    pingyi_batch_config_t *config;
    uint32_t shard;
    pingyi_shard_t *store;
    buf_t buf[BATCH_BUFS];
    buf_t *cur;       /* filling (loop thread only) */
    buf_t *ready;     /* closed, waiting for the committer; or NULL */
    buf_t *busy;      /* with the committer; NULL when it is idle */
    int64_t deadline; /* of cur; 0: empty */
    bool stopped;     /* the loop's copy of pingyi_shard_stopped */

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool job; /* busy holds a batch to apply */
    bool quit;
    atomic_bool done; /* the batch in busy is applied (or failed) */
    int rc;
    char err[PINGYI_ERR_MAX];
    double apply_s;              /* the last apply, seconds (under lock, like rc) */
    pingyi_hist_t commit_s;      /* committed batches' apply times (loop thread) */
};

/*  The buckets of pingyi_batch_commit_seconds, seconds.  */
static const double commit_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10};

/*  The committer: apply what the loop hands over, say when done.  */
static void *
committer_main (void *arg)
{
    pingyi_batch_t *b = arg;
    pthread_mutex_lock (&b->lock);
    for (;;) {
        while (!b->job && !b->quit)
            pthread_cond_wait (&b->cond, &b->lock);
        if (!b->job)
            break;
        buf_t *job = b->busy;
        pthread_mutex_unlock (&b->lock);
        char err[PINGYI_ERR_MAX] = "";
        struct timespec t0, t1;
        clock_gettime (CLOCK_MONOTONIC, &t0);
        int rc = pingyi_shard_apply (b->store, job->items, job->count, err);
        clock_gettime (CLOCK_MONOTONIC, &t1);
        pthread_mutex_lock (&b->lock);
        b->job = false;
        b->rc = rc;
        b->apply_s = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        memcpy (b->err, err, sizeof err);
        atomic_store_explicit (&b->done, true, memory_order_release);
        pthread_cond_broadcast (&b->cond);
        uint64_t one = 1;
        if (b->config->wake_fd >= 0 && write (b->config->wake_fd, &one, sizeof one) < 0) {
            /* cannot fail short of a bug; the loop also looks at `done`
               after every frame and every wake-up */
        }
    }
    pthread_mutex_unlock (&b->lock);
    return NULL;
}

pingyi_batch_t *
pingyi_batch_new (pingyi_batch_config_t *config, uint32_t shard, pingyi_shard_t *store, char *err)
{
    pingyi_batch_t *self = calloc (1, sizeof *self);
    if (!self) {
        pingyi_fail (err, "out of memory for batches of %zu", config->cap);
        return NULL;
    }
    self->config = config;
    self->shard = shard;
    self->store = store;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->cond, NULL);
    pingyi_hist_init (&self->commit_s, commit_buckets, sizeof commit_buckets / sizeof commit_buckets[0]);
    for (int k = 0; k < BATCH_BUFS; k++) {
        self->buf[k].items = calloc (config->cap, sizeof *self->buf[k].items);
        self->buf[k].held = calloc (config->cap, sizeof *self->buf[k].held);
        if (!self->buf[k].items || !self->buf[k].held) {
            pingyi_fail (err, "out of memory for batches of %zu", config->cap);
            pingyi_batch_destroy (&self);
            return NULL;
        }
    }
    self->cur = &self->buf[0];
    if (pthread_create (&self->thread, NULL, committer_main, self)) {
        pingyi_fail (err, "shard %u: cannot start its committer thread", shard);
        pingyi_batch_destroy (&self);
        return NULL;
    }
    self->thread_started = true;
    return self;
}

void
pingyi_batch_destroy (pingyi_batch_t **self_p)
{
    pingyi_batch_t *self = *self_p;
    if (!self)
        return;
    if (self->thread_started) {
        /* a commit in flight finishes (it may not be acknowledged any
           more: the client resends and is answered "duplicate") */
        pthread_mutex_lock (&self->lock);
        self->quit = true;
        pthread_cond_broadcast (&self->cond);
        pthread_mutex_unlock (&self->lock);
        pthread_join (self->thread, NULL);
    }
    for (int k = 0; k < BATCH_BUFS; k++) {
        for (size_t j = 0; j < self->buf[k].held_count; j++)
            self->config->release (self->config->arg, self->buf[k].held[j].request);
        free (self->buf[k].items);
        free (self->buf[k].held);
    }
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->cond);
    free (self);
    *self_p = NULL;
}

/*  The buffer that is neither filling, ready nor committing.  */
static buf_t *
free_buf (pingyi_batch_t *b)
{
    for (int k = 0; k < BATCH_BUFS; k++) {
        buf_t *x = &b->buf[k];
        if (x != b->cur && x != b->ready && x != b->busy)
            return x;
    }
    return NULL; /* cannot happen: three buffers, at most two in use besides cur */
}

/*  Hand a batch to the idle committer.  */
static void
handoff (pingyi_batch_t *b, buf_t *job)
{
    pthread_mutex_lock (&b->lock);
    b->busy = job;
    b->job = true;
    atomic_store_explicit (&b->done, false, memory_order_relaxed);
    pthread_cond_broadcast (&b->cond);
    pthread_mutex_unlock (&b->lock);
}

/*  A duplicate result says whether the bytes resent are the envelope
    stored under that ballot id (docs/PROTOCOL.md §6).  The shard answers a
    duplicate with the receipt of the envelope it stored, so the resent
    bytes are the stored ones exactly when their own receipt is that one
    (BLAKE2b-256 of every byte, first 8 bytes).  Other bytes under a
    counted ballot id are a client bug (an id reused for another seal) or
    an attack: counted (duplicates_differing) and logged, never counted as
    a ballot.  The item's sender is its venue (the venue gate checked it).  */
static uint8_t
duplicate_kind (pingyi_batch_t *b, const pingyi_shard_item_t *it)
{
    char own[PINGYI_RECEIPT_LEN + 1];
    pingyi_envelope_receipt (own, it->envelope, it->len);
    if (strcmp (own, it->receipt) == 0)
        return PINGYI_DUPLICATE_SAME;
    uint64_t n = ++b->config->duplicates_differing;
    /* The line names the venue and the count, not the ballot: no ballot
       id or receipt of a counted ballot goes to a log (docs/SECURITY.md).  */
    if (n == 1 || n % 1000 == 0)
        pingyi_warn ("venue %.*s resent a ballot id with other bytes than the envelope counted under it: "
                     "answered duplicate, not counted; %llu such resends so far (stats duplicates_differing)",
                     (int) it->sender_len, it->sender, (unsigned long long) n);
    return PINGYI_DUPLICATE_DIFFERS;
}

/*  The committer is done with busy: answer (only if committed), release
    the requests; then the ready batch, if any, goes to be committed.  */
static void
complete (pingyi_batch_t *b)
{
    pingyi_batch_config_t *c = b->config;
    buf_t *job = b->busy;
    if (b->rc) {
        /* nothing committed: nothing acknowledged; the clients resend */
        c->uncommitted++;
        pingyi_error ("shard %u: batch of %zu envelopes (%zu SUBMITs) not committed, no ACK sent: %s",
                      b->shard, job->count, job->held_count, b->err);
    }
    else {
        /* apply_s was written before `done` (release), read after it (acquire) */
        pingyi_hist_observe (&b->commit_s, b->apply_s);
        for (size_t i = 0; i < job->held_count; i++) {
            const held_t *h = &job->held[i];
            for (size_t j = h->first; j < h->first + h->count; j++)
                if (job->items[j].status == PINGYI_ACK_DUPLICATE)
                    job->items[j].reason = duplicate_kind (b, &job->items[j]);
            c->answer (c->arg, h->request, &job->items[h->first], h->count);
        }
    }
    for (size_t i = 0; i < job->held_count; i++)
        c->release (c->arg, job->held[i].request);
    job->held_count = 0;
    job->count = 0;
    b->busy = NULL;
    b->stopped = pingyi_shard_stopped (b->store);
    if (b->ready) {
        handoff (b, b->ready);
        b->ready = NULL;
    }
}

/*  Wait for the shard's commit in flight, if any, and answer it.  */
static void
wait_commit (pingyi_batch_t *b)
{
    if (!b->busy)
        return;
    if (!atomic_load_explicit (&b->done, memory_order_acquire)) {
        int64_t t0 = pingyi_now_ms ();
        pthread_mutex_lock (&b->lock);
        while (!atomic_load_explicit (&b->done, memory_order_acquire))
            pthread_cond_wait (&b->cond, &b->lock);
        pthread_mutex_unlock (&b->lock);
        b->config->commit_waits++;
        b->config->commit_wait_ms += (uint64_t) (pingyi_now_ms () - t0);
    }
    complete (b);
}

/*  The filling batch is closed: it goes to the committer at once if that
    is idle, else it waits as the ready batch.  Only when a ready batch is
    already waiting too (the shard is two batches behind) does the loop
    wait for the commit in flight.  */
static void
close_batch (pingyi_batch_t *b)
{
    if (b->cur->count == 0)
        return;
    if (b->busy && b->ready)
        wait_commit (b); /* hands the ready batch over */
    if (!b->busy && !b->ready)
        handoff (b, b->cur);
    else if (!b->busy) {
        handoff (b, b->ready);
        b->ready = b->cur;
    }
    else
        b->ready = b->cur;
    b->cur = free_buf (b);
    b->deadline = 0;
}

pingyi_shard_item_t *
pingyi_batch_add (pingyi_batch_t *self, void *request, size_t n, int64_t now)
{
    assert (n >= 1 && n <= self->config->cap);
    if (self->cur->count > 0 && self->cur->count + n > self->config->limit)
        close_batch (self);
    buf_t *cur = self->cur;
    cur->held[cur->held_count++] = (held_t){.request = request, .first = cur->count, .count = n};
    pingyi_shard_item_t *items = &cur->items[cur->count];
    cur->count += n;
    if (self->deadline == 0)
        self->deadline = now + self->config->ms;
    return items;
}

void
pingyi_batch_service (pingyi_batch_t *self, int64_t now)
{
    /* acquire: the committer's results were written before `done` */
    if (self->busy && atomic_load_explicit (&self->done, memory_order_acquire))
        complete (self);
    if (!self->busy && self->cur->count && (self->cur->count >= self->config->limit || now >= self->deadline))
        close_batch (self);
}

int64_t
pingyi_batch_due (const pingyi_batch_t *self)
{
    return self->cur->count && !self->busy ? self->deadline : INT64_MAX;
}

void
pingyi_batch_wait_idle (pingyi_batch_t *self)
{
    while (self->busy)
        wait_commit (self);
}

void
pingyi_batch_drain (pingyi_batch_t *self)
{
    close_batch (self);
    while (self->busy)
        wait_commit (self);
}

size_t
pingyi_batch_waiting (const pingyi_batch_t *self)
{
    return self->cur->count + (self->ready ? self->ready->count : 0);
}

bool
pingyi_batch_stopped (const pingyi_batch_t *self)
{
    return self->stopped;
}

void
pingyi_batch_resumed (pingyi_batch_t *self)
{
    self->stopped = pingyi_shard_stopped (self->store);
}

const pingyi_hist_t *
pingyi_batch_commit_seconds (const pingyi_batch_t *self)
{
    return &self->commit_s;
}

bool
pingyi_batch_busy (const pingyi_batch_t *self)
{
    return self->busy && !atomic_load_explicit (&self->done, memory_order_acquire);
}

uint32_t
pingyi_batch_shard (const pingyi_batch_t *self)
{
    return self->shard;
}

pingyi_shard_t *
pingyi_batch_store (const pingyi_batch_t *self)
{
    return self->store;
}
