/*  main.c — pingyi-worker: owns a set of shards, takes envelopes from the
    brokers, applies them in batches, acknowledges after the commit.

    One thread, one zmq_poll loop over one DEALER per broker.  The broker
    wraps what venues and queriers send in FORWARD [route, role, sender,
    inner]; the worker answers REPLY [route, inner] on the same socket.

    Batching: per shard, envelopes from any number of SUBMITs gather until
    --batch envelopes or --batch-ms since the first one; then the shard
    applies them in one transaction (store/apply.c), commits durably, and
    only then does each SUBMIT get its ACK, results in the SUBMIT's order.
    A received frame stays alive (zmq_msg_t) until its batch is answered:
    items point into it, nothing is copied, and nothing of a ballot is kept
    after its batch.

    Committers (worker/batch.c): each shard has a thread of its own that
    applies and commits its batches (open, validate, count, log, fsync), so
    the loop never waits on a disk, the shards' fsyncs overlap, and the
    crypto of one shard runs beside the network work and the other shards.  A shard has at most two
    batches: one filling (loop thread) and one being committed (its thread);
    a batch that fills while the previous one commits goes as soon as that
    commit returns (group commit), so under load batches grow and commits
    per ballot fall, and at low rates a ballot waits at most --batch-ms plus
    one commit.  Only the loop thread touches ZeroMQ; it sends the ACKs
    when a committer says it is done (an eventfd in the poll set).  Before
    anything else reads or writes a shard (figures, close, snapshot, stats)
    the loop waits for that shard's commit in flight: one writer per shard,
    and the committed state in memory is never read while it changes.

    Liveness: HELLO on connect and again whenever the broker says "unknown
    peer" or has been silent for 3 s (that is how a restarted broker
    relearns its workers); HEARTBEAT every second.

    Hostile input costs one message: every decode failure is counted, the
    first of each kind logged, and answered ERROR BAD_MESSAGE when there is a
    route to answer.  SIGTERM/SIGINT: the current batches are committed and
    acknowledged, then the worker exits 0.  */
#define _GNU_SOURCE
#include "cli.h"
#include "notify.h"
#include "deploy.h"
#include "batch.h"
#include "envelope.h"
#include "gate.h"
#include "link.h"
#include "msg.h"
#include "lmdb_env.h"
#include "shard.h"
#include "rollup.h"
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/*  A shard stores rejected_by[] as the figures carry it.  */
_Static_assert(PINGYI_SHARD_REJECT_SLOTS == PINGYI_REJECT_SLOTS, "one number of reject slots");

#define MAX_BROKERS 16
#define HEARTBEAT_MS 1000
#define SILENCE_MS 3000    /* nothing from a broker this long: HELLO again */
#define HELLO_RETRY_MS 100 /* HELLO not yet sendable (connection not up) */
#define DISPLACED_HELLO_MS 10000 /* displaced by another connection with our key: claim again after */
#define RECV_BURST 256     /* frames per socket per loop turn */
#define SEND_HWM 100000    /* replies are small; dropping one costs a resend */
/*  Frames queued inside this process before ZeroMQ stops reading from the
    broker: with SUBMITs of a few hundred envelopes, some 15 MB.  Beyond it
    the queue stays in the broker, whose HWM turns it into RETRY: memory
    here does not grow with the number of venues or ballots in flight.  */
#define RECV_HWM 256
#define RETRY_NOT_OWNER_MS 1000
#define RETRY_STOPPED_MS 5000
#define PROGRESS_MS 10000 /* progress line per shard, when it moved */
#define BAD_KINDS 64      /* distinct bad-message reasons logged */

typedef struct {
    char endpoint[256];
    void *sock;
    int64_t last_recv;
    int64_t next_heartbeat;
    int64_t next_hello;
    bool need_hello;
    bool silent; /* logged as silent; log when heard again */
    bool hello_logged;
    bool registered; /* READY received since the last HELLO (--metrics /readyz) */
} broker_t;

/*  A SUBMIT waiting in a batch (batch.h: the batch's request).  The frame
    owns the envelope bytes, the route and the sender the items point at.  */
typedef struct {
    zmq_msg_t frame;
    size_t broker;
    uint64_t ticket; /* the broker's, for the REPLY */
    uint64_t tag;
    uint32_t venue; /* whose link key MACs the ACK */
} pending_t;

/*  A shard this worker owns: its store, its batches and committer
    (batch.h), what its last progress line said.  */
typedef struct {
    uint32_t shard;
    pingyi_shard_t *store;
    pingyi_batch_t *batch;
    uint64_t progress_generation; /* release generation at the last progress line */
    uint64_t progress_batches;    /* batches at the last progress line */
    int64_t next_resume;          /* a stopped shard: when it is tried again */
    int64_t resume_said_ms;       /* when "still stopped" was last logged */
    pingyi_shard_stats_t metrics; /* as of the last --metrics render */
    bool metrics_have;
} owned_t;

typedef struct {
    char reason[128];
    uint64_t count;
} bad_kind_t;

/*  A venue's two link keys (proto/envelope.h): the ACKs and VENUE_STATUS
    this worker sends it carry a MAC under `ack`; its VENUE_CLOSE must carry
    one under `close`.  Only for venues of the shards this worker owns.  */
typedef struct {
    uint8_t ack[32];
    uint8_t close[32];
} link_keys_t;

typedef struct {
    pingyi_bundle_t *bundle;
    const pingyi_election_t *election;
    link_keys_t *links; /* by venue index */
    const char *id;
    void *ctx;
    broker_t brokers[MAX_BROKERS];
    size_t broker_count;
    owned_t *shards;
    size_t shard_count;
    int32_t shard_of[PINGYI_MAX_SHARDS]; /* index in shards, or -1 */
    pingyi_batch_config_t batching;      /* --batch, --batch-ms; its counters */
    pingyi_writer_t inner, outer;
    pending_t *spare; /* the next frame is received into it */
    int wake_fd;      /* committers write here when a batch is done */
    int64_t next_progress;

    uint64_t frames_in, submits, envelopes_in, venue_opens, venue_closes, tally_queries, stats_queries;
    uint64_t bad_messages, forbidden, wrong_election, unknown_venue, not_owner, stopped_refusals;
    uint64_t replies_sent, replies_dropped, hellos_sent, readys, unknown_peer;
    uint64_t forged_closes, closes_refused, forged_reopens, displaced;
    bad_kind_t bad[BAD_KINDS];
    size_t bad_count;
    /* --metrics: the page the loop publishes to (NULL without the flag) */
    pingyi_metrics_page_t *mpage;
    pingyi_expo_t mtext;
    int64_t start_wall, next_metrics;
} worker_t;

static void resume_stopped (worker_t *w, int64_t now);

static volatile sig_atomic_t s_stop = 0; /* SIGTERM, SIGINT (pingyi_cli_signals) */

/*  --------------------------------------------------------------------------
    Sending.  */

static int
send_frame (worker_t *w, size_t bi, const pingyi_writer_t *frame)
{
    /* never block the loop on one broker: a reply that cannot go now is
       dropped and the client resends (it is answered "duplicate") */
    if (zmq_send (w->brokers[bi].sock, frame->sbuf.data, frame->sbuf.size, ZMQ_DONTWAIT) < 0) {
        w->replies_dropped++;
        if (w->replies_dropped == 1 || w->replies_dropped % 1000 == 0)
            pingyi_warn ("broker %s: cannot send (%s): %llu frames dropped so far; clients will resend",
                         w->brokers[bi].endpoint, zmq_strerror (zmq_errno ()),
                         (unsigned long long) w->replies_dropped);
        return -1;
    }
    return 0;
}

/*  Wrap w->inner in REPLY for route and send it.  */
static void
reply (worker_t *w, size_t bi, uint64_t ticket)
{
    pingyi_msg_reply (&w->outer, ticket, (const uint8_t *) w->inner.sbuf.data, w->inner.sbuf.size);
    if (send_frame (w, bi, &w->outer) == 0)
        w->replies_sent++;
}

static void answer_error (worker_t *w, size_t bi, uint64_t ticket, uint64_t tag, pingyi_error_code_t code,
                          const char *fmt, ...) PINGYI_PRINTF (6, 7);

static void
answer_error (worker_t *w, size_t bi, uint64_t ticket, uint64_t tag, pingyi_error_code_t code, const char *fmt,
              ...)
{
    char text[PINGYI_TEXT_MAX];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof text, fmt, ap);
    va_end (ap);
    pingyi_msg_error (&w->inner, tag, code, text);
    reply (w, bi, ticket);
}

static void
answer_retry (worker_t *w, size_t bi, uint64_t ticket, uint64_t tag, uint32_t ms, const char *text)
{
    pingyi_msg_retry (&w->inner, tag, ms, text);
    reply (w, bi, ticket);
}

static void
send_hello (worker_t *w, size_t bi, int64_t now)
{
    broker_t *b = &w->brokers[bi];
    pingyi_msg_hello_begin (&w->outer, w->election->fingerprint, w->id, (uint32_t) w->shard_count);
    for (size_t i = 0; i < w->shard_count; i++)
        msgpack_pack_uint32 (&w->outer.pk, w->shards[i].shard);
    /* with ZMQ_IMMEDIATE nothing queues before the connection is up:
       EAGAIN means "not connected yet", so try again shortly */
    if (zmq_send (b->sock, w->outer.sbuf.data, w->outer.sbuf.size, ZMQ_DONTWAIT) < 0) {
        b->next_hello = now + HELLO_RETRY_MS;
        return;
    }
    w->hellos_sent++;
    b->need_hello = false;
    b->registered = false; /* until its READY */
    b->last_recv = now; /* the silence clock restarts with each HELLO */
    if (!b->hello_logged) {
        pingyi_info ("broker %s: HELLO sent as worker %s", b->endpoint, w->id);
        b->hello_logged = true;
    }
}

/*  --------------------------------------------------------------------------
    Bad input: counted always, logged once per kind.  */

static void
note_bad (worker_t *w, const char *from, const char *reason)
{
    w->bad_messages++;
    char kind[128];
    snprintf (kind, sizeof kind, "%s", reason);
    /* the kind is the reason without list positions, so "envelopes[3]" and
       "envelopes[7]" count as one */
    char *open;
    while ((open = strchr (kind, '[')) != NULL) {
        char *close = strchr (open, ']');
        if (!close)
            break;
        memmove (open + 1, close, strlen (close) + 1);
        open[0] = '<';
        open[1] = '>';
    }
    for (size_t i = 0; i < w->bad_count; i++)
        if (strcmp (w->bad[i].reason, kind) == 0) {
            w->bad[i].count++;
            return;
        }
    if (w->bad_count < BAD_KINDS) {
        bad_kind_t *k = &w->bad[w->bad_count++];
        snprintf (k->reason, sizeof k->reason, "%s", kind);
        k->count = 1;
        pingyi_warn ("bad message from %s: %s (first of its kind; further ones are counted in stats "
                     "bad_messages)",
                     from, reason);
    }
}

/*  --------------------------------------------------------------------------
    Batches.  */

static void
pending_free (pending_t *p)
{
    if (!p)
        return;
    zmq_msg_close (&p->frame);
    free (p);
}

/*  A committed SUBMIT (pingyi_batch_answer_fn): its ACK, results in the
    SUBMIT's order, MACed under its venue's ack key.  */
static void
answer_request (void *arg, void *request, const pingyi_shard_item_t *items, size_t count)
{
    worker_t *w = arg;
    pending_t *p = request;
    pingyi_msg_ack_begin (&w->inner, p->tag, (uint32_t) count);
    for (size_t j = 0; j < count; j++) {
        const pingyi_shard_item_t *it = &items[j];
        pingyi_msg_ack_result (&w->inner, it->ballot_id, (pingyi_ack_status_t) it->status, it->reason,
                               it->text, it->receipt);
    }
    pingyi_msg_ack_end (&w->inner, w->links[p->venue].ack);
    reply (w, p->broker, p->ticket);
}

/*  pingyi_batch_release_fn: the frame goes.  */
static void
release_request (void *arg, void *request)
{
    (void) arg;
    pending_free (request);
}

/*  Answer finished commits, and close batches that are due (full, or past
    their deadline) when their committer is idle.  Never waits.  */
static void
service (worker_t *w, int64_t now)
{
    for (size_t i = 0; i < w->shard_count; i++)
        pingyi_batch_service (w->shards[i].batch, now);
}

static void
wait_idle_all (worker_t *w)
{
    for (size_t i = 0; i < w->shard_count; i++)
        pingyi_batch_wait_idle (w->shards[i].batch);
}

static void
drain_all (worker_t *w)
{
    for (size_t i = 0; i < w->shard_count; i++)
        pingyi_batch_drain (w->shards[i].batch);
}

static owned_t *
owned_shard (worker_t *w, uint32_t shard)
{
    if (shard >= PINGYI_MAX_SHARDS || w->shard_of[shard] < 0)
        return NULL;
    return &w->shards[w->shard_of[shard]];
}

/*  --------------------------------------------------------------------------
    Handlers.  Each answers on the socket the FORWARD came from.  */

typedef struct {
    size_t broker;
    uint64_t ticket; /* the broker's handle for the answer */
    const uint8_t *inner; /* the request's frame (MAC checks) */
    pingyi_role_t role;
    const char *sender;
    size_t sender_len;
    char from[PINGYI_NAME_MAX + 16]; /* "venue v01", for logs */
} origin_t;

/*  The checks every venue message passes: the venue gate (election/gate.h:
    the venue speaks as itself, this election, a known venue), then a shard
    of this worker that still takes ballots.  A venue message must come from
    a venue key; an operator's VENUE_REOPEN (as_venue false) speaks for no
    venue, and its caller checked the operator's role.  Returns the shard,
    or NULL when already answered.  */
static owned_t *
venue_gate (worker_t *w, const origin_t *o, uint64_t tag, const uint8_t *fp, pingyi_str_t venue,
            const char *what, bool as_venue, int *venue_index)
{
    const pingyi_election_t *e = w->election;
    int v = -1;
    char reason[PINGYI_TEXT_MAX];
    pingyi_gate_t gate = as_venue && o->role != PINGYI_ROLE_VENUE
                             ? PINGYI_GATE_FORBIDDEN
                             : pingyi_venue_gate (e, fp, venue.p, venue.len, as_venue ? o->sender : NULL,
                                                  o->sender_len, &v, reason, sizeof reason);
    switch (gate) {
    case PINGYI_GATE_OK:
        break;
    case PINGYI_GATE_FORBIDDEN:
        w->forbidden++;
        pingyi_warn ("%s may not send %s for venue %.*s: refused", o->from, what, (int) venue.len, venue.p);
        answer_error (w, o->broker, o->ticket, tag, pingyi_venue_gate_error (gate),
                      "%s may not send %s for venue %.*s", o->from, what, (int) venue.len, venue.p);
        return NULL;
    case PINGYI_GATE_WRONG_ELECTION:
        w->wrong_election++;
        answer_error (w, o->broker, o->ticket, tag, pingyi_venue_gate_error (gate),
                      "%s names another election; this worker counts %s", what, e->fingerprint_hex);
        return NULL;
    case PINGYI_GATE_UNKNOWN_VENUE:
        w->unknown_venue++;
        answer_error (w, o->broker, o->ticket, tag, pingyi_venue_gate_error (gate), "%s", reason);
        return NULL;
    }
    owned_t *b = owned_shard (w, e->venues[v].shard);
    if (!b) {
        w->not_owner++;
        char text[PINGYI_TEXT_MAX];
        snprintf (text, sizeof text, "worker %s does not own shard %u (venue %s): try again", w->id,
                  e->venues[v].shard, e->venues[v].id);
        answer_retry (w, o->broker, o->ticket, tag, RETRY_NOT_OWNER_MS, text);
        return NULL;
    }
    if (pingyi_batch_stopped (b->batch)) {
        w->stopped_refusals++;
        char text[PINGYI_TEXT_MAX];
        snprintf (text, sizeof text,
                  "shard %u has stopped taking ballots (see worker %s's log): try again later", b->shard,
                  w->id);
        answer_retry (w, o->broker, o->ticket, tag, RETRY_STOPPED_MS, text);
        return NULL;
    }
    *venue_index = v;
    return b;
}

/*  Returns true when the frame was kept by a batch.  */
static bool
handle_submit (worker_t *w, const origin_t *o, pending_t *p, const pingyi_msg_t *m)
{
    w->submits++;
    int v;
    owned_t *b =
        venue_gate (w, o, m->u.submit.tag, m->u.submit.fingerprint, m->u.submit.venue, "SUBMIT", true, &v);
    if (!b)
        return false;
    size_t n = m->u.submit.envelopes.count;
    w->envelopes_in += n;
    if (n == 0) {
        pingyi_msg_ack_begin (&w->inner, m->u.submit.tag, 0);
        pingyi_msg_ack_end (&w->inner, w->links[v].ack);
        reply (w, o->broker, o->ticket);
        return false;
    }
    p->broker = o->broker;
    p->ticket = o->ticket;
    p->venue = (uint32_t) v;
    p->tag = m->u.submit.tag;
    /* a SUBMIT is never split: if it does not fit, the batch closes first
       (it may wait when the shard is two batches behind) */
    pingyi_shard_item_t *it = pingyi_batch_add (b->batch, p, n, pingyi_now_ms ());
    pingyi_list_t list = m->u.submit.envelopes;
    pingyi_bin_t env;
    for (size_t i = 0; i < n && pingyi_list_next_bin (&list, &env); i++) {
        it[i].envelope = env.p;
        it[i].len = env.len;
        it[i].sender = o->sender;
        it[i].sender_len = o->sender_len;
    }
    return true; /* a full batch closes in the service after this frame */
}

static void
handle_venue_open (worker_t *w, const origin_t *o, const pingyi_msg_t *m)
{
    w->venue_opens++;
    int v;
    owned_t *b = venue_gate (w, o, m->u.venue_open.tag, m->u.venue_open.fingerprint, m->u.venue_open.venue,
                             "VENUE_OPEN", true, &v);
    if (!b)
        return;
    pingyi_batch_wait_idle (b->batch);
    pingyi_venue_figures_t f;
    if (pingyi_shard_venue_figures (b->store, (uint32_t) v, &f)) {
        answer_error (w, o->broker, o->ticket, m->u.venue_open.tag, PINGYI_ERROR_INTERNAL,
                      "no figures for venue %s", w->election->venues[v].id);
        return;
    }
    pingyi_info ("venue %s opened (shard %u): %llu accepted so far%s", w->election->venues[v].id, b->shard,
                 (unsigned long long) f.accepted, f.closed ? ", already closed" : "");
    pingyi_msg_venue_status (&w->inner, m->u.venue_open.tag, &f, w->links[v].ack);
    reply (w, o->broker, o->ticket);
}

static void
handle_venue_close (worker_t *w, const origin_t *o, const pingyi_msg_t *m)
{
    w->venue_closes++;
    int v;
    owned_t *b = venue_gate (w, o, m->u.venue_close.tag, m->u.venue_close.fingerprint, m->u.venue_close.venue,
                             "VENUE_CLOSE", true, &v);
    if (!b)
        return;
    /* Only the venue (and this shard's holders) can compute the close key:
       a close forged by the broker or another worker stops here, before it
       could shut the venue's round.  */
    /* ... under the key of the venue's current round: a close of an
       earlier round, replayed after an operator's reopen, fails here */
    pingyi_venue_figures_t now;
    uint8_t round_key[32];
    uint32_t reopens = pingyi_shard_venue_figures (b->store, (uint32_t) v, &now) == 0 ? now.reopens : 0;
    pingyi_envelope_close_key_round (round_key, w->links[v].close, reopens);
    int forged = pingyi_msg_mac_check (o->inner, m, round_key);
    sodium_memzero (round_key, sizeof round_key);
    if (forged) {
        w->forged_closes++;
        pingyi_warn ("venue %s: VENUE_CLOSE refused: its MAC does not verify (not sent by the venue)",
                     w->election->venues[v].id);
        answer_error (w, o->broker, o->ticket, m->u.venue_close.tag, PINGYI_ERROR_FORBIDDEN,
                      "VENUE_CLOSE for venue %s refused: its MAC does not verify", w->election->venues[v].id);
        return;
    }
    /* The definition bounds the close (pingyi_venue_close_allowed): a
       client run with a larger --issued cannot turn a void round into a
       reconciled one.  */
    char why[PINGYI_ERR_MAX];
    if (pingyi_venue_close_allowed (w->election, (size_t) v, m->u.venue_close.issued, why, sizeof why)) {
        w->closes_refused++;
        pingyi_warn ("VENUE_CLOSE refused: %s", why);
        answer_error (w, o->broker, o->ticket, m->u.venue_close.tag, PINGYI_ERROR_FORBIDDEN, "%s", why);
        return;
    }
    /* ballots that arrived before the close are applied (and answered)
       before it */
    pingyi_batch_drain (b->batch);
    const char *id = w->election->venues[v].id;
    int64_t issued = (int64_t) m->u.venue_close.issued, collected = (int64_t) m->u.venue_close.collected,
            sent = (int64_t) m->u.venue_close.sent;
    pingyi_venue_figures_t f;
    char err[PINGYI_ERR_MAX];
    /* A close is recorded once.  The same close again (a client that did
       not hear the answer) gets the same answer; other figures are refused:
       otherwise a genuine earlier close, replayed by the broker, would roll
       the venue's declared figures back, and a void round could be
       declared away by closing again.  */
    if (pingyi_shard_venue_figures (b->store, (uint32_t) v, &f) == 0 && f.closed &&
        (f.issued != issued || f.collected != collected || f.sent != sent)) {
        w->closes_refused++;
        pingyi_warn ("venue %s: VENUE_CLOSE refused: already closed with issued %lld, collected %lld, sent %lld "
                     "(asked: %lld, %lld, %lld)",
                     id, (long long) f.issued, (long long) f.collected, (long long) f.sent, (long long) issued,
                     (long long) collected, (long long) sent);
        answer_error (w, o->broker, o->ticket, m->u.venue_close.tag, PINGYI_ERROR_FORBIDDEN,
                      "venue %s is already closed with issued %lld, collected %lld, sent %lld: a close is not "
                      "rewritten",
                      id, (long long) f.issued, (long long) f.collected, (long long) f.sent);
        return;
    }
    if (pingyi_shard_venue_close (b->store, (uint32_t) v, issued, collected, sent, &f, err)) {
        pingyi_error ("venue %s: close not recorded: %s", id, err);
        answer_error (w, o->broker, o->ticket, m->u.venue_close.tag, PINGYI_ERROR_INTERNAL,
                      "close of venue %s not recorded: %s", id, err);
        return;
    }
    pingyi_info (
        "venue %s closed (shard %u): issued %lld, collected %lld, sent %lld; accepted %llu (blank %llu), "
        "duplicates %llu, rejected %llu",
        id, b->shard, (long long) issued, (long long) collected, (long long) sent,
        (unsigned long long) f.accepted, (unsigned long long) f.blank, (unsigned long long) f.duplicates,
        (unsigned long long) f.rejected);
    char void_why[160];
    if (pingyi_venue_void_why (&f, void_why, sizeof void_why))
        pingyi_warn ("venue %s: %s: its round is void and must be reviewed", id, void_why);
    pingyi_msg_venue_status (&w->inner, m->u.venue_close.tag, &f, w->links[v].ack);
    reply (w, o->broker, o->ticket);
}

/*  An operator's correction of a close (VENUE_REOPEN): only an operator
    key (the broker checked it, and so does the worker); the venue must be
    closed.  The answer is the venue's figures in a VENUE_STATUS whose MAC
    is 16 zero bytes: an operator holds no link key (docs/PROTOCOL.md §3).  */
static void
handle_venue_reopen (worker_t *w, const origin_t *o, const pingyi_msg_t *m)
{
    const pingyi_election_t *e = w->election;
    uint64_t tag = m->u.venue_reopen.tag;
    pingyi_str_t venue = m->u.venue_reopen.venue;
    if (o->role != PINGYI_ROLE_OPERATOR) {
        w->forbidden++;
        pingyi_warn ("%s may not send VENUE_REOPEN for venue %.*s: refused", o->from, (int) venue.len,
                     venue.p);
        answer_error (w, o->broker, o->ticket, tag, PINGYI_ERROR_FORBIDDEN,
                      "%s may not send VENUE_REOPEN (operator keys only)", o->from);
        return;
    }
    int v;
    owned_t *b = venue_gate (w, o, tag, m->u.venue_reopen.fingerprint, venue, "VENUE_REOPEN", false, &v);
    if (!b)
        return;
    pingyi_batch_drain (b->batch);
    const char *id = e->venues[v].id;
    /* The operator's own MAC, not the broker's word for the role: a broker
       lying about a sender must not be able to reopen a round.  */
    const pingyi_keyring_entry_t *op = NULL;
    for (size_t i = 0; i < pingyi_keyring_size (w->bundle->keyring); i++) {
        const pingyi_keyring_entry_t *k = pingyi_keyring_at (w->bundle->keyring, i);
        if (k->role == PINGYI_ROLE_OPERATOR && strlen (k->name) == o->sender_len &&
            !memcmp (k->name, o->sender, o->sender_len))
            op = k;
    }
    uint8_t reopen_key[32];
    bool mac_ok = op && op->has_curve &&
                  !pingyi_envelope_reopen_key (reopen_key, op->curve, w->bundle->shard_secrets[b->shard]) &&
                  !pingyi_msg_mac_check (o->inner, m, reopen_key);
    sodium_memzero (reopen_key, sizeof reopen_key);
    if (!mac_ok) {
        w->forged_reopens++;
        pingyi_warn ("venue %s: VENUE_REOPEN from %s refused: its MAC does not verify", id, o->from);
        answer_error (w, o->broker, o->ticket, tag, PINGYI_ERROR_FORBIDDEN,
                      "VENUE_REOPEN for venue %s refused: its MAC does not verify", id);
        return;
    }
    pingyi_venue_figures_t f;
    if (pingyi_shard_venue_figures (b->store, (uint32_t) v, &f) == 0 &&
        m->u.venue_reopen.number != f.reopens + 1) {
        /* a genuine reopen replayed later carries an old number */
        w->forged_reopens++;
        pingyi_warn ("venue %s: VENUE_REOPEN number %u refused: the venue has been reopened %u times", id,
                     (unsigned) m->u.venue_reopen.number, (unsigned) f.reopens);
        answer_error (w, o->broker, o->ticket, tag, PINGYI_ERROR_FORBIDDEN,
                      "venue %s has been reopened %u times: this reopen must be number %u, not %u", id,
                      (unsigned) f.reopens, (unsigned) f.reopens + 1, (unsigned) m->u.venue_reopen.number);
        return;
    }
    if (pingyi_shard_venue_figures (b->store, (uint32_t) v, &f) == 0 && !f.closed) {
        pingyi_warn ("venue %s: VENUE_REOPEN from %s refused: the venue is not closed", id, o->from);
        answer_error (w, o->broker, o->ticket, tag, PINGYI_ERROR_FORBIDDEN, "venue %s is not closed", id);
        return;
    }
    char err[PINGYI_ERR_MAX];
    if (pingyi_shard_venue_reopen (b->store, (uint32_t) v, m->u.venue_reopen.reason.p,
                                   m->u.venue_reopen.reason.len, &f, err)) {
        pingyi_error ("venue %s: reopen not recorded: %s", id, err);
        answer_error (w, o->broker, o->ticket, tag, PINGYI_ERROR_INTERNAL,
                      "reopen of venue %s not recorded: %s", id, err);
        return;
    }
    pingyi_warn ("venue %s reopened (shard %u) by %s, reopen %u: %.*s", id, b->shard, o->from,
                 (unsigned) f.reopens, (int) m->u.venue_reopen.reason.len, m->u.venue_reopen.reason.p);
    pingyi_msg_venue_status (&w->inner, tag, &f, NULL);
    reply (w, o->broker, o->ticket);
}

static bool
is_querier (pingyi_role_t role)
{
    return role == PINGYI_ROLE_AGGREGATOR || role == PINGYI_ROLE_OPERATOR;
}

static void
refuse_querier (worker_t *w, const origin_t *o, uint64_t tag, const char *what)
{
    w->forbidden++;
    pingyi_warn ("%s may not send %s: refused", o->from, what);
    answer_error (w, o->broker, o->ticket, tag, PINGYI_ERROR_FORBIDDEN,
                  "%s may not send %s (aggregator or operator keys only)", o->from, what);
}

static void
handle_tally_query (worker_t *w, const origin_t *o, const pingyi_msg_t *m)
{
    w->tally_queries++;
    uint64_t tag = m->u.tally_query.tag;
    if (!is_querier (o->role)) {
        refuse_querier (w, o, tag, "TALLY_QUERY");
        return;
    }
    owned_t *b = owned_shard (w, m->u.tally_query.shard);
    if (!b) {
        w->not_owner++;
        char text[PINGYI_TEXT_MAX];
        snprintf (text, sizeof text, "worker %s does not own shard %u: try again", w->id,
                  m->u.tally_query.shard);
        answer_retry (w, o->broker, o->ticket, tag, RETRY_NOT_OWNER_MS, text);
        return;
    }
    pingyi_batch_wait_idle (b->batch);
    pingyi_shard_snapshot_t snap;
    char err[PINGYI_ERR_MAX];
    if (pingyi_shard_snapshot (b->store, m->u.tally_query.from, PINGYI_SHARD_SNAPSHOT_BYTES, &snap, err)) {
        pingyi_error ("shard %u: snapshot failed: %s", b->shard, err);
        answer_error (w, o->broker, o->ticket, tag, PINGYI_ERROR_INTERNAL,
                      "snapshot of shard %u: %s", b->shard, err);
        return;
    }
    pingyi_msg_snapshot_begin (&w->inner, tag, b->shard, w->election->shard_count, w->election->fingerprint,
                               snap.info.sequence, snap.info.digest, snap.info.generation, (uint32_t) snap.venue_count);
    for (size_t i = 0; i < snap.venue_count; i++)
        pingyi_msg_figures (&w->inner, &snap.venues[i]);
    pingyi_msg_snapshot_blocks_begin (&w->inner, (uint32_t) snap.block_count);
    for (size_t i = 0; i < snap.block_count; i++)
        pingyi_msg_block (&w->inner, snap.blocks[i].venue, snap.blocks[i].subject, snap.blocks[i].cells,
                          snap.blocks[i].len);
    pingyi_msg_snapshot_end (&w->inner, snap.more, snap.more ? snap.next : NULL);
    pingyi_shard_snapshot_free (&snap);
    reply (w, o->broker, o->ticket);
}

/*  STATS: the worker's counters, summed over its shards, then per shard
    while the 256-entry limit allows.  */
static void
handle_stats_query (worker_t *w, const origin_t *o, const pingyi_msg_t *m)
{
    w->stats_queries++;
    uint64_t tag = m->u.stats_query.tag;
    if (!is_querier (o->role)) {
        refuse_querier (w, o, tag, "STATS_QUERY");
        return;
    }
    wait_idle_all (w);
    pingyi_shard_stats_t sum, s;
    memset (&sum, 0, sizeof sum);
    uint64_t stopped = 0;
    for (size_t i = 0; i < w->shard_count; i++) {
        pingyi_shard_stats (w->shards[i].store, &s);
        sum.accepted += s.accepted;
        sum.duplicates += s.duplicates;
        sum.rejected += s.rejected;
        for (int c = 0; c < PINGYI_SHARD_REJECT_SLOTS; c++)
            sum.rejected_by[c] += s.rejected_by[c];
        sum.batches += s.batches;
        sum.batches_failed += s.batches_failed;
        sum.batch_redos += s.batch_redos;
        sum.commit_ms_total += s.commit_ms_total;
        sum.commit_ms_max = s.commit_ms_max > sum.commit_ms_max ? s.commit_ms_max : sum.commit_ms_max;
        sum.apply_ms_total += s.apply_ms_total;
        sum.map_resizes += s.map_resizes;
        sum.venue_closes += s.venue_closes;
        sum.refusals_unstored += s.refusals_unstored;
        stopped += s.stopped;
    }
    /* commit latency over every shard's batches: the quantile's bucket
       bound in ms (the max when past the last bucket) */
    pingyi_hist_t commits;
    memset (&commits, 0, sizeof commits);
    if (w->shard_count)
        commits = *pingyi_batch_commit_seconds (w->shards[0].batch);
    for (size_t i = 1; i < w->shard_count; i++)
        pingyi_hist_merge (&commits, pingyi_batch_commit_seconds (w->shards[i].batch));
    uint64_t commit_ms_q[2];
    const double qs[2] = {0.5, 0.99};
    for (int q = 0; q < 2; q++) {
        double v = pingyi_hist_quantile (&commits, qs[q]);
        commit_ms_q[q] = isnan (v) ? 0 : isinf (v) ? sum.commit_ms_max : (uint64_t) ceil (v * 1000.0);
    }
    struct {
        const char *name;
        uint64_t value;
    } fixed[] = {
        {"shards", w->shard_count},
        {"shards_stopped", stopped},
        {"ballots_accepted", sum.accepted},
        {"ballots_duplicate", sum.duplicates},
        {"ballots_rejected", sum.rejected},
        {"batches_committed", sum.batches},
        {"batches_failed", sum.batches_failed},
        {"batch_redos", sum.batch_redos},
        {"commit_ms_total", sum.commit_ms_total},
        {"commit_ms_max", sum.commit_ms_max},
        {"commit_p50_ms", commit_ms_q[0]},
        {"commit_p99_ms", commit_ms_q[1]},
        {"apply_ms_total", sum.apply_ms_total},
        {"map_resizes", sum.map_resizes},
        {"venue_closes", sum.venue_closes},
        {"refusals_unstored", sum.refusals_unstored},
        {"frames_in", w->frames_in},
        {"submits", w->submits},
        {"envelopes_in", w->envelopes_in},
        {"venue_opens", w->venue_opens},
        {"tally_queries", w->tally_queries},
        {"stats_queries", w->stats_queries},
        {"bad_messages", w->bad_messages},
        {"forbidden", w->forbidden},
        {"wrong_election", w->wrong_election},
        {"unknown_venue", w->unknown_venue},
        {"not_owner", w->not_owner},
        {"stopped_refusals", w->stopped_refusals},
        {"replies_sent", w->replies_sent},
        {"replies_dropped", w->replies_dropped},
        {"hellos_sent", w->hellos_sent},
        {"unknown_peer", w->unknown_peer},
        {"batch_limit", w->batching.limit},
        {"batch_ms", (uint64_t) w->batching.ms},
        {"commit_waits", w->batching.commit_waits},
        {"commit_wait_ms", w->batching.commit_wait_ms},
        {"forged_closes", w->forged_closes},
        {"closes_refused", w->closes_refused},
        {"forged_reopens", w->forged_reopens},
        {"displaced", w->displaced},
        {"duplicates_differing", w->batching.duplicates_differing},
    };
    size_t nfixed = sizeof fixed / sizeof fixed[0];
    size_t ncodes = PINGYI_REJECT_COUNT_ - 1;
    size_t room = PINGYI_STATS_MAX - nfixed - ncodes;
    enum { PER_SHARD = 5 }; /* sequence, generation, map_bytes, stopped, stop_reason */
    size_t nshards = w->shard_count < room / PER_SHARD ? w->shard_count : room / PER_SHARD;
    pingyi_msg_stats_begin (&w->inner, tag, "worker", (uint32_t) (nfixed + ncodes + PER_SHARD * nshards));
    for (size_t i = 0; i < nfixed; i++)
        pingyi_msg_stat (&w->inner, fixed[i].name, fixed[i].value);
    for (int c = 1; c < PINGYI_REJECT_COUNT_; c++) {
        char name[PINGYI_NAME_MAX];
        snprintf (name, sizeof name, "rejected_%s", pingyi_reject_name ((pingyi_reject_t) c));
        pingyi_msg_stat (&w->inner, name, sum.rejected_by[c]);
    }
    for (size_t i = 0; i < nshards; i++) {
        char name[PINGYI_NAME_MAX];
        pingyi_shard_stats (w->shards[i].store, &s);
        /* released progress only: the current count moves ballot by ballot
           (docs/SECURITY.md, k-anonymous release) */
        snprintf (name, sizeof name, "shard%u_sequence", w->shards[i].shard);
        pingyi_msg_stat (&w->inner, name, s.settled_sequence);
        snprintf (name, sizeof name, "shard%u_generation", w->shards[i].shard);
        pingyi_msg_stat (&w->inner, name, s.generation);
        snprintf (name, sizeof name, "shard%u_map_bytes", w->shards[i].shard);
        pingyi_msg_stat (&w->inner, name, s.map_size);
        snprintf (name, sizeof name, "shard%u_stopped", w->shards[i].shard);
        pingyi_msg_stat (&w->inner, name, s.stopped);
        /* pingyi_shard_stop_t: 0 running, 1 disk_full, 2 io_error, 3 map_cannot_grow, 4 commit_failed */
        snprintf (name, sizeof name, "shard%u_stop_reason", w->shards[i].shard);
        pingyi_msg_stat (&w->inner, name, (uint64_t) s.stop_reason);
    }
    reply (w, o->broker, o->ticket);
}

/*  A FORWARD from broker bi.  Returns true when the frame was kept.  */
static bool
handle_forward (worker_t *w, size_t bi, pending_t *p, const pingyi_msg_t *fwd)
{
    origin_t o = {
        .broker = bi,
        .ticket = fwd->u.forward.ticket,
        .inner = fwd->u.forward.inner.p,
        .role = (pingyi_role_t) fwd->u.forward.role,
        .sender = fwd->u.forward.sender.p,
        .sender_len = fwd->u.forward.sender.len,
    };
    snprintf (o.from, sizeof o.from, "%s %.*s", pingyi_role_name (o.role), (int) o.sender_len, o.sender);
    pingyi_msg_t m;
    char err[PINGYI_ERR_MAX];
    if (pingyi_msg_decode (fwd->u.forward.inner.p, fwd->u.forward.inner.len, &m, err)) {
        note_bad (w, o.from, err);
        /* the request's tag when it can be read, so the sender knows which
           of its requests in flight this refuses */
        answer_error (w, bi, o.ticket, pingyi_msg_tag (fwd->u.forward.inner.p, fwd->u.forward.inner.len),
                      PINGYI_ERROR_BAD_MESSAGE, "%s", err);
        return false;
    }
    switch (m.type) {
    case PINGYI_MSG_SUBMIT:
        return handle_submit (w, &o, p, &m);
    case PINGYI_MSG_VENUE_OPEN:
        handle_venue_open (w, &o, &m);
        return false;
    case PINGYI_MSG_VENUE_CLOSE:
        handle_venue_close (w, &o, &m);
        return false;
    case PINGYI_MSG_VENUE_REOPEN:
        handle_venue_reopen (w, &o, &m);
        return false;
    case PINGYI_MSG_TALLY_QUERY:
        handle_tally_query (w, &o, &m);
        return false;
    case PINGYI_MSG_STATS_QUERY:
        handle_stats_query (w, &o, &m);
        return false;
    default: {
        char why[128];
        snprintf (why, sizeof why, "a worker does not take %s", pingyi_msg_type_name (m.type));
        note_bad (w, o.from, why);
        answer_error (w, bi, o.ticket, pingyi_msg_tag (fwd->u.forward.inner.p, fwd->u.forward.inner.len),
                      PINGYI_ERROR_BAD_MESSAGE, "%s", why);
        return false;
    }
    }
}

/*  One frame from broker bi, in p->frame.  Returns true when kept.  */
static bool
handle_frame (worker_t *w, size_t bi, pending_t *p)
{
    broker_t *b = &w->brokers[bi];
    w->frames_in++;
    pingyi_msg_t m;
    char err[PINGYI_ERR_MAX];
    if (pingyi_msg_decode (zmq_msg_data (&p->frame), zmq_msg_size (&p->frame), &m, err)) {
        note_bad (w, b->endpoint, err); /* no route to answer: dropped */
        return false;
    }
    switch (m.type) {
    case PINGYI_MSG_FORWARD:
        return handle_forward (w, bi, p, &m);
    case PINGYI_MSG_HEARTBEAT:
        return false;
    case PINGYI_MSG_READY: {
        w->readys++;
        b->registered = true;
        char list[PINGYI_MAX_SHARDS * 4 + 1] = "";
        size_t used = 0, n = 0;
        uint64_t s;
        pingyi_list_t shards = m.u.ready.shards;
        while (pingyi_list_next_uint (&shards, &s) && used < sizeof list - 8)
            used += (size_t) snprintf (list + used, sizeof list - used, "%s%llu", n++ ? "," : "",
                                       (unsigned long long) s);
        pingyi_info ("broker %s: READY, shards %s granted", b->endpoint, n ? list : "(none)");
        pingyi_notify_ready (); /* systemd: shards open (before run) and granted */
        return false;
    }
    case PINGYI_MSG_ERROR:
        if (m.u.error.code == PINGYI_ERROR_DISPLACED) {
            /* Another connection with this worker's key took the shards:
               a second process started with the same --id, or a stolen
               key.  Say so loudly and claim them again later, so that a
               legitimate worker displaced by a thief fights back and the
               operator sees the flapping (broker stats workers_displaced).  */
            w->displaced++;
            pingyi_error ("broker %s: DISPLACED: %.*s; claiming the shards again in %d s", b->endpoint,
                          (int) m.u.error.text.len, m.u.error.text.p, DISPLACED_HELLO_MS / 1000);
            b->need_hello = true;
            b->next_hello = pingyi_now_ms () + DISPLACED_HELLO_MS;
            b->hello_logged = true;
        }
        else if (m.u.error.code == PINGYI_ERROR_UNKNOWN_PEER) {
            /* a restarted broker does not know us yet */
            w->unknown_peer++;
            if (!b->need_hello)
                pingyi_info ("broker %s: does not know this worker: sending HELLO", b->endpoint);
            b->need_hello = true;
            b->next_hello = 0;
            b->hello_logged = true;
        }
        else
            pingyi_warn ("broker %s: ERROR %u %s: %.*s", b->endpoint, m.u.error.code,
                         pingyi_error_strerror (m.u.error.code), (int) m.u.error.text.len, m.u.error.text.p);
        return false;
    case PINGYI_MSG_RETRY:
        pingyi_warn ("broker %s: RETRY: %.*s", b->endpoint, (int) m.u.retry.reason.len, m.u.retry.reason.p);
        return false;
    default: {
        char why[128];
        snprintf (why, sizeof why, "a worker does not take %s from a broker", pingyi_msg_type_name (m.type));
        note_bad (w, b->endpoint, why);
        return false;
    }
    }
}

/*  --------------------------------------------------------------------------
    Set-up.  */

static int
open_broker (worker_t *w, broker_t *b, char *err)
{
    pingyi_link_options_t opts = {.hwm = SEND_HWM, .linger_ms = 1000};
    b->sock = pingyi_link_dealer (w->ctx, b->endpoint, w->bundle->broker_public, w->bundle->curve_public,
                                  w->bundle->curve_secret, &opts, err);
    if (!b->sock)
        return -1;
    /* the pipe to the broker is made when the connection is up (IMMEDIATE),
       with the HWMs set by then */
    int rcvhwm = RECV_HWM;
    if (zmq_setsockopt (b->sock, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm))
        return pingyi_fail (err, "zmq_setsockopt RCVHWM: %s", zmq_strerror (zmq_errno ()));
    int64_t now = pingyi_now_ms ();
    b->need_hello = true;
    b->next_hello = now;
    b->last_recv = now;
    b->next_heartbeat = now + HEARTBEAT_MS;
    pingyi_info ("connecting to broker %s", b->endpoint);
    return 0;
}

/*  "0-7", "0,2,5", "0-3,6": shards into out (sorted, unique).  */
static int
parse_shards (const char *spec, uint32_t shard_count, bool *out, char *err)
{
    const char *p = spec;
    size_t n = 0;
    while (*p) {
        char *end;
        errno = 0;
        unsigned long a = strtoul (p, &end, 10), z;
        if (end == p || errno || *p == '-' || *p == '+')
            return pingyi_fail (err, "--shards %s: expected N, N-M or a comma list of them", spec);
        p = end;
        z = a;
        if (*p == '-') {
            p++;
            z = strtoul (p, &end, 10);
            if (end == p || errno || *p == '-' || *p == '+' || z < a)
                return pingyi_fail (err, "--shards %s: bad range", spec);
            p = end;
        }
        if (z >= shard_count)
            return pingyi_fail (err, "--shards %s: shard %lu is not below the election's shard count %u",
                                spec, z, shard_count);
        for (unsigned long s = a; s <= z; s++) {
            if (out[s])
                return pingyi_fail (err, "--shards %s: shard %lu listed twice", spec, s);
            out[s] = true;
            n++;
        }
        if (*p == ',')
            p++;
        else if (*p)
            return pingyi_fail (err, "--shards %s: unexpected '%c'", spec, *p);
    }
    if (n == 0)
        return pingyi_fail (err, "--shards %s: no shard listed", spec);
    return 0;
}

/*  --------------------------------------------------------------------------
    --metrics (docs/OPERATIONS.md, "Metrics"): rendered by the loop about
    once a second and published to the page; the HTTP thread only copies
    the text.  A shard whose commit is in flight is not waited for: its
    figures from the last render are shown again.  Per shard only released
    progress (the settled sequence, the generation), never the current
    sequence, as STATS (docs/SECURITY.md, k-anonymous release); ballots by
    status only summed over the worker's shards, never per venue.  */
static void
render_metrics (worker_t *w, pingyi_expo_t *e, int64_t start_wall, bool *ready, char *reason, size_t reason_size)
{
    pingyi_expo_reset (e);
    pingyi_expo_process (e, "pingyi-worker", pingyi_cli_version (), pingyi_cli_revision (), start_wall);
    const char *wl[] = {"worker", w->id, NULL};
    pingyi_expo_family (e, "pingyi_worker_info", PINGYI_METRIC_GAUGE, "Always 1; the label is the worker's --id.");
    pingyi_expo_sample_u64 (e, "pingyi_worker_info", wl, 1);
    pingyi_shard_stats_t sum;
    memset (&sum, 0, sizeof sum);
    size_t stopped = 0;
    for (size_t i = 0; i < w->shard_count; i++) {
        owned_t *b = &w->shards[i];
        if (!b->metrics_have || !pingyi_batch_busy (b->batch)) {
            pingyi_shard_stats (b->store, &b->metrics);
            b->metrics_have = true;
        }
        const pingyi_shard_stats_t *s = &b->metrics;
        /* accepted as released (the settled sequence): a venue's count moves
           in steps of k while it is open, so a scrape of a worker serving
           one open venue shows no ballot-by-ballot count (docs/SECURITY.md) */
        sum.accepted += s->settled_sequence;
        sum.duplicates += s->duplicates;
        sum.rejected += s->rejected;
        for (int c = 0; c < PINGYI_SHARD_REJECT_SLOTS; c++)
            sum.rejected_by[c] += s->rejected_by[c];
        stopped += s->stopped;
    }
    pingyi_expo_family (e, "pingyi_ballots_total", PINGYI_METRIC_COUNTER,
                        "Ballots by status, summed over this worker's shards (never per venue): accepted as "
                        "released (steps of k per open venue, all at its close; since the shard began), "
                        "duplicate and rejected answered since start.");
    const char *acc[] = {"status", "accepted", NULL}, *dup[] = {"status", "duplicate", NULL},
               *rej[] = {"status", "rejected", NULL};
    pingyi_expo_sample_u64 (e, "pingyi_ballots_total", acc, sum.accepted);
    pingyi_expo_sample_u64 (e, "pingyi_ballots_total", dup, sum.duplicates);
    pingyi_expo_sample_u64 (e, "pingyi_ballots_total", rej, sum.rejected);
    pingyi_expo_family (e, "pingyi_worker_rejections_total", PINGYI_METRIC_COUNTER,
                        "Ballots rejected since start, by reject code, summed over this worker's shards.");
    for (int c = 1; c < PINGYI_REJECT_COUNT_; c++) {
        const char *l[] = {"code", pingyi_reject_name ((pingyi_reject_t) c), NULL};
        pingyi_expo_sample_u64 (e, "pingyi_worker_rejections_total", l, sum.rejected_by[c]);
    }
    struct {
        const char *name, *label, *value, *help;
        uint64_t v;
    } counters[] = {
        {"pingyi_worker_frames_total", NULL, NULL, "Frames received from the brokers.", w->frames_in},
        {"pingyi_worker_submits_total", NULL, NULL, "SUBMITs received.", w->submits},
        {"pingyi_worker_envelopes_total", NULL, NULL, "Sealed envelopes received in SUBMITs.", w->envelopes_in},
        {"pingyi_worker_venue_messages_total", "kind", "open", "VENUE_OPEN and VENUE_CLOSE received.",
         w->venue_opens},
        {"pingyi_worker_venue_messages_total", "kind", "close", NULL, w->venue_closes},
        {"pingyi_worker_queries_total", "kind", "tally", "TALLY_QUERY and STATS_QUERY received.", w->tally_queries},
        {"pingyi_worker_queries_total", "kind", "stats", NULL, w->stats_queries},
        {"pingyi_worker_refusals_total", "cause", "bad_message", "Requests refused, by cause.", w->bad_messages},
        {"pingyi_worker_refusals_total", "cause", "forbidden", NULL, w->forbidden},
        {"pingyi_worker_refusals_total", "cause", "wrong_election", NULL, w->wrong_election},
        {"pingyi_worker_refusals_total", "cause", "unknown_venue", NULL, w->unknown_venue},
        {"pingyi_worker_refusals_total", "cause", "not_owner", NULL, w->not_owner},
        {"pingyi_worker_refusals_total", "cause", "shard_stopped", NULL, w->stopped_refusals},
        {"pingyi_worker_refusals_total", "cause", "forged_close", NULL, w->forged_closes},
        {"pingyi_worker_refusals_total", "cause", "close_refused", NULL, w->closes_refused},
        {"pingyi_worker_refusals_total", "cause", "forged_reopen", NULL, w->forged_reopens},
        {"pingyi_worker_replies_total", "result", "sent", "REPLYs sent, or dropped (socket full; clients resend).",
         w->replies_sent},
        {"pingyi_worker_replies_total", "result", "dropped", NULL, w->replies_dropped},
        {"pingyi_worker_hellos_total", NULL, NULL, "HELLOs sent to brokers.", w->hellos_sent},
        {"pingyi_worker_readys_total", NULL, NULL, "READYs received from brokers.", w->readys},
        {"pingyi_worker_unknown_peer_total", NULL, NULL, "Brokers that did not know this worker (ERROR 4).",
         w->unknown_peer},
        {"pingyi_worker_displaced_total", NULL, NULL, "Times another connection with this key took the shards.",
         w->displaced},
        {"pingyi_worker_duplicates_differing_total", NULL, NULL,
         "Resends of a counted ballot id with other bytes (answered duplicate).", w->batching.duplicates_differing},
        {"pingyi_worker_commit_waits_total", NULL, NULL, "Times the loop waited for a committer.",
         w->batching.commit_waits},
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
        if (counters[i].help)
            pingyi_expo_family (e, counters[i].name, PINGYI_METRIC_COUNTER, counters[i].help);
        const char *l[] = {counters[i].label, counters[i].value, NULL};
        pingyi_expo_sample_u64 (e, counters[i].name, counters[i].label ? l : NULL, counters[i].v);
    }
    pingyi_expo_family (e, "pingyi_worker_commit_wait_seconds_total", PINGYI_METRIC_COUNTER,
                        "Time the loop waited for committers, seconds.");
    pingyi_expo_sample (e, "pingyi_worker_commit_wait_seconds_total", NULL,
                        (double) w->batching.commit_wait_ms / 1000.0);
    size_t registered = 0;
    for (size_t i = 0; i < w->broker_count; i++)
        registered += w->brokers[i].registered;
    pingyi_expo_gauge (e, "pingyi_worker_brokers", "Brokers this worker connects to.", (double) w->broker_count);
    pingyi_expo_gauge (e, "pingyi_worker_brokers_registered",
                       "Brokers that answered this worker's last HELLO with READY.", (double) registered);
    pingyi_expo_gauge (e, "pingyi_worker_shards", "Shards this worker owns.", (double) w->shard_count);
    pingyi_expo_gauge (e, "pingyi_worker_shards_stopped", "Shards of this worker that stopped taking ballots.",
                       (double) stopped);

    /* per shard */
    static const struct {
        const char *name, *help;
        pingyi_metric_type_t type;
    } fam[] = {
        {"pingyi_shard_settled_sequence", "Ballots in the shard's log at its last settled (released) point.",
         PINGYI_METRIC_GAUGE},
        {"pingyi_shard_generation", "Generation of the shard's released figures.", PINGYI_METRIC_GAUGE},
        {"pingyi_shard_map_bytes", "The shard's LMDB map size, bytes.", PINGYI_METRIC_GAUGE},
        {"pingyi_shard_stopped", "1 when the shard stopped taking ballots (a failed commit), else 0.",
         PINGYI_METRIC_GAUGE},
        {"pingyi_shard_stop_reason",
         "Why the shard stopped: 0 running, 1 disk_full, 2 io_error, 3 map_cannot_grow, 4 commit_failed.",
         PINGYI_METRIC_GAUGE},
        {"pingyi_shard_batches_total", "Batches since start, by result (committed, failed, redone after "
                                       "MDB_MAP_FULL).",
         PINGYI_METRIC_COUNTER},
        {"pingyi_shard_map_resizes_total", "Times the shard's map grew.", PINGYI_METRIC_COUNTER},
        {"pingyi_worker_commit_seconds",
         "Time to apply and commit one batch (open, validate, count, log, fsync), seconds.",
         PINGYI_METRIC_HISTOGRAM},
    };
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
        pingyi_expo_family (e, fam[f].name, fam[f].type, fam[f].help);
        for (size_t i = 0; i < w->shard_count; i++) {
            owned_t *b = &w->shards[i];
            const pingyi_shard_stats_t *s = &b->metrics;
            char shard[16];
            snprintf (shard, sizeof shard, "%u", b->shard);
            const char *l[] = {"shard", shard, NULL};
            switch (f) {
            case 0:
                pingyi_expo_sample_u64 (e, fam[f].name, l, s->settled_sequence);
                break;
            case 1:
                pingyi_expo_sample_u64 (e, fam[f].name, l, s->generation);
                break;
            case 2:
                pingyi_expo_sample_u64 (e, fam[f].name, l, s->map_size);
                break;
            case 3:
                pingyi_expo_sample_u64 (e, fam[f].name, l, s->stopped);
                break;
            case 4:
                pingyi_expo_sample_u64 (e, fam[f].name, l, (uint64_t) s->stop_reason);
                break;
            case 5: {
                const char *c[] = {"shard", shard, "result", "committed", NULL};
                const char *x[] = {"shard", shard, "result", "failed", NULL};
                const char *r[] = {"shard", shard, "result", "redone", NULL};
                pingyi_expo_sample_u64 (e, fam[f].name, c, s->batches);
                pingyi_expo_sample_u64 (e, fam[f].name, x, s->batches_failed);
                pingyi_expo_sample_u64 (e, fam[f].name, r, s->batch_redos);
                break;
            }
            case 6:
                pingyi_expo_sample_u64 (e, fam[f].name, l, s->map_resizes);
                break;
            default:
                pingyi_expo_histogram (e, fam[f].name, l, pingyi_batch_commit_seconds (b->batch));
                break;
            }
        }
    }

    /* ready: every shard open (they are, before the loop) and running, and
       registered with at least one broker (READY received) */
    *ready = true;
    if (stopped) {
        *ready = false;
        for (size_t i = 0; i < w->shard_count; i++)
            if (w->shards[i].metrics.stopped) {
                snprintf (reason, reason_size, "shard %u stopped taking ballots (%s)", w->shards[i].shard,
                          pingyi_shard_stop_name (w->shards[i].metrics.stop_reason));
                break;
            }
    }
    else if (!registered) {
        *ready = false;
        snprintf (reason, reason_size, "no broker has answered HELLO with READY yet (%zu brokers)",
                  w->broker_count);
    }
}

static int
run (worker_t *w)
{
    size_t nb = w->broker_count;
    zmq_pollitem_t items[MAX_BROKERS + 1];
    for (size_t i = 0; i < nb; i++)
        items[i] = (zmq_pollitem_t){.socket = w->brokers[i].sock, .events = ZMQ_POLLIN};
    items[nb] = (zmq_pollitem_t){.socket = NULL, .fd = w->wake_fd, .events = ZMQ_POLLIN};
    w->next_progress = pingyi_now_ms () + PROGRESS_MS;

    while (!s_stop) {
        pingyi_log_poll (); /* a SIGHUP's reopen of --log-file */
        int64_t now = pingyi_now_ms ();
        int64_t wake = now + 1000;
        /* a due batch whose shard is committing waits for the eventfd */
        for (size_t i = 0; i < w->shard_count; i++)
            if (pingyi_batch_due (w->shards[i].batch) < wake)
                wake = pingyi_batch_due (w->shards[i].batch);
        for (size_t i = 0; i < nb; i++) {
            broker_t *b = &w->brokers[i];
            if (b->next_heartbeat < wake)
                wake = b->next_heartbeat;
            if (b->need_hello && b->next_hello < wake)
                wake = b->next_hello;
            if (!b->need_hello && b->last_recv + SILENCE_MS < wake)
                wake = b->last_recv + SILENCE_MS;
        }
        long timeout = wake > now ? (long) (wake - now) : 0;
        int rc = zmq_poll (items, (int) nb + 1, timeout);
        if (rc < 0) {
            if (zmq_errno () == EINTR)
                continue;
            pingyi_error ("zmq_poll: %s", zmq_strerror (zmq_errno ()));
            return -1;
        }
        if (items[nb].revents & ZMQ_POLLIN) {
            uint64_t n;
            if (read (w->wake_fd, &n, sizeof n) < 0 && errno != EAGAIN)
                pingyi_warn ("eventfd: %s", strerror (errno));
            service (w, pingyi_now_ms ());
        }
        for (size_t i = 0; i < nb && rc > 0; i++) {
            if (!(items[i].revents & ZMQ_POLLIN))
                continue;
            broker_t *b = &w->brokers[i];
            for (int k = 0; k < RECV_BURST; k++) {
                if (!w->spare) {
                    w->spare = calloc (1, sizeof *w->spare);
                    if (!w->spare) {
                        pingyi_error ("out of memory receiving a frame");
                        break;
                    }
                    zmq_msg_init (&w->spare->frame);
                }
                if (zmq_msg_recv (&w->spare->frame, b->sock, ZMQ_DONTWAIT) < 0)
                    break;
                int64_t t = pingyi_now_ms ();
                b->last_recv = t;
                if (b->silent) {
                    pingyi_info ("broker %s: heard again", b->endpoint);
                    b->silent = false;
                }
                if (handle_frame (w, i, w->spare))
                    w->spare = NULL; /* kept by a batch, freed after its ACK */
                else {
                    zmq_msg_close (&w->spare->frame);
                    zmq_msg_init (&w->spare->frame);
                }
                /* a long burst must not hold batches past their deadline,
                   nor finished commits unanswered */
                service (w, t);
            }
        }
        now = pingyi_now_ms ();
        service (w, now);
        for (size_t i = 0; i < nb; i++) {
            broker_t *b = &w->brokers[i];
            if (!b->need_hello && now - b->last_recv >= SILENCE_MS) {
                if (!b->silent)
                    pingyi_info ("broker %s: nothing received for %d ms: sending HELLO again", b->endpoint,
                                 SILENCE_MS);
                b->silent = true;
                b->need_hello = true;
                b->next_hello = now;
            }
            if (b->need_hello && now >= b->next_hello)
                send_hello (w, i, now);
            if (now >= b->next_heartbeat) {
                /* not before HELLO: the broker would only answer "unknown peer" */
                if (!b->need_hello) {
                    pingyi_msg_heartbeat (&w->outer);
                    zmq_send (b->sock, w->outer.sbuf.data, w->outer.sbuf.size, ZMQ_DONTWAIT);
                }
                b->next_heartbeat = now + HEARTBEAT_MS;
            }
        }
        resume_stopped (w, now);
        if (w->mpage && now >= w->next_metrics) {
            bool ready;
            char why[256] = "";
            render_metrics (w, &w->mtext, w->start_wall, &ready, why, sizeof why);
            pingyi_metrics_publish (w->mpage, &w->mtext, ready, why, now);
            w->next_metrics = now + 1000;
        }
        if (now >= w->next_progress) {
            w->next_progress = now + PROGRESS_MS;
            for (size_t i = 0; i < w->shard_count; i++) {
                owned_t *b = &w->shards[i];
                pingyi_batch_wait_idle (b->batch);
                pingyi_shard_stats_t s;
                pingyi_shard_stats (b->store, &s);
                /* Progress as released (generation, settled sequence) and
                   batches, never the ballot-by-ballot count: a log line must
                   not show a step of fewer than k ballots of a venue.  */
                if (s.generation == b->progress_generation && s.batches == b->progress_batches)
                    continue;
                pingyi_info ("shard %u: released generation %llu, settled sequence %llu; this run: batches "
                             "%llu, commit avg %.1f ms",
                             b->shard, (unsigned long long) s.generation, (unsigned long long) s.settled_sequence,
                             (unsigned long long) s.batches,
                             s.batches ? (double) s.commit_ms_total / (double) s.batches : 0.0);
                b->progress_generation = s.generation;
                b->progress_batches = s.batches;
            }
        }
    }
    return 0;
}

/*  Exit status (docs/exit-codes.md): 0 stopped on SIGTERM/SIGINT, every
    shard sound; 1 stopped by an error while running, or a shard stopped
    taking ballots during the run (a failed commit); 2 could not start
    (flags, bundle, --shards, a shard that does not open or is locked by
    another worker, sockets).  */
/*  Every PINGYI_SHARD_RESUME_MS a stopped shard is tried again (a disk
    that filled may have room again): when its environment reopens and its
    state checks out it takes ballots again, else it stays stopped, said
    once a minute.  The venues meanwhile were answered RETRY, so nothing
    was acknowledged and nothing is lost.  */
static void
resume_stopped (worker_t *w, int64_t now)
{
    for (size_t i = 0; i < w->shard_count; i++) {
        owned_t *b = &w->shards[i];
        if (!pingyi_batch_stopped (b->batch) || now < b->next_resume)
            continue;
        b->next_resume = now + PINGYI_SHARD_RESUME_MS;
        pingyi_batch_wait_idle (b->batch);
        pingyi_shard_stats_t s;
        pingyi_shard_stats (b->store, &s);
        if (now - s.stopped_ms < PINGYI_SHARD_RESUME_MS)
            continue;
        char err[PINGYI_ERR_MAX];
        if (pingyi_shard_resume (b->store, err) == 0) {
            pingyi_batch_resumed (b->batch);
            pingyi_info ("shard %u: takes ballots again after %lld s stopped (%s): its state checked out at "
                         "sequence %llu",
                         b->shard, (long long) ((now - s.stopped_ms) / 1000), pingyi_shard_stop_name (s.stop_reason),
                         (unsigned long long) s.sequence);
            b->resume_said_ms = 0;
        }
        else if (now - b->resume_said_ms >= 60000) {
            pingyi_warn ("shard %u: still stopped (%s): %s", b->shard, pingyi_shard_stop_name (s.stop_reason),
                         err);
            b->resume_said_ms = now;
        }
    }
}

/*  pingyi_shard_open inside pingyi_lmdb_guard.  */
typedef struct {
    const char *data;
    uint32_t shard;
    const worker_t *w;
    size_t map_size;
    unsigned flags;
    pingyi_shard_t *store;
} shard_open_t;

static int
shard_open_guarded (void *arg, char *err)
{
    shard_open_t *o = arg;
    o->store = pingyi_shard_open (o->data, o->shard, o->w->election, o->w->bundle->keyring,
                                  o->w->bundle->shard_secrets[o->shard], o->map_size, o->flags, err);
    return o->store ? 0 : -1;
}

int
main (int argc, char **argv)
{
    pingyi_log_prog = "pingyi-worker";
    const char *deploy = NULL, *id = NULL, *data = NULL, *shards = NULL;
    const char *metrics_addr = NULL;          /* --metrics */
    pingyi_metrics_server_t *mserver = NULL; /* serves w.mpage */
    pingyi_cli_list_t brokers = {0};
    uint64_t batch = 1000, batch_ms = 5, map_mb = PINGYI_SHARD_MAP_DEFAULT >> 20;
    bool create = false;
    const pingyi_cli_option_t options[] = {
        PINGYI_CLI_OPT_TEXT ("deploy", &deploy, "DIR",
                             "deploy directory (pingyi init); the bundle is DIR/worker/N"),
        PINGYI_CLI_OPT_TEXT ("id", &id, "N", "worker number (its bundle and its name in HELLO)"),
        PINGYI_CLI_OPT_ENDPOINTS ("broker", &brokers, "LIST",
                                  "broker endpoints, comma-separated or the flag repeated"),
        PINGYI_CLI_OPT_TEXT ("data", &data, "DIR", "shard directories live in DIR/shard-NN"),
        PINGYI_CLI_OPT_TEXT ("shards", &shards, "SPEC",
                             "shards this worker owns, 0-7 or 0,2,5 (default: those keyring.tsv\n"
                             "assigns its key; only assigned shards are allowed: the bundle\n"
                             "holds no other secret)"),
        PINGYI_CLI_OPT_U64 ("batch", &batch, "N", "close a batch at N envelopes (1..20000, default 1000)", 1,
                            20000),
        PINGYI_CLI_OPT_U64 ("batch-ms", &batch_ms, "MS",
                            "or MS milliseconds after its first envelope (0..60000, default 5)", 0, 60000),
        PINGYI_CLI_OPT_U64 ("map-size", &map_mb, "MB",
                            "initial LMDB map per shard (1..1073741824, default 256; grows by\ndoubling)", 1,
                            UINT64_C (1) << 30),
        PINGYI_CLI_OPT_FLAG ("create", &create,
                             "first start: create the shards (or adopt ones without a manifest);\n"
                             "without it a shard with no manifest DATA/shard-NN.manifest is refused"),
        PINGYI_CLI_OPT_TEXT ("metrics", &metrics_addr, "HOST:PORT",
                             "serve Prometheus /metrics, /healthz and /readyz over HTTP here\n"
                             "(e.g. 127.0.0.1:9102; docs/OPERATIONS.md)"),
        PINGYI_CLI_END,
    };
    pingyi_cli_t cli = {
        .prog = "pingyi-worker",
        .synopsis = "pingyi-worker --deploy DIR --id N --broker ENDPOINT[,ENDPOINT...] --data DIR\n"
                    "                     [--shards 0-7|0,2,5] [--batch 1000] [--batch-ms 5] [--map-size MB]\n"
                    "                     [--create] [--metrics HOST:PORT]",
        .options = options,
        .logs = true,
    };
    int status;
    if (pingyi_cli_parse (&cli, argc, argv, &status)) {
        pingyi_cli_list_fini (&brokers);
        return status;
    }
    if (!deploy || !id || !brokers.count || !data) {
        pingyi_cli_list_fini (&brokers);
        return pingyi_cli_fail (&cli, "--deploy, --id, --broker and --data are required");
    }
    if (brokers.count > MAX_BROKERS) {
        fprintf (stderr, "pingyi-worker: --broker: %zu endpoints, at most %d\n", brokers.count, MAX_BROKERS);
        pingyi_cli_list_fini (&brokers);
        return PINGYI_EXIT_START;
    }
    if (strlen (id) > PINGYI_NAME_MAX) {
        fprintf (stderr, "pingyi-worker: --id %s: longer than %d bytes\n", id, PINGYI_NAME_MAX);
        pingyi_cli_list_fini (&brokers);
        return PINGYI_EXIT_START;
    }

    char err[PINGYI_ERR_MAX];
    worker_t w;
    memset (&w, 0, sizeof w);
    w.wake_fd = -1;
    w.id = id;
    w.batching = (pingyi_batch_config_t){
        .limit = (size_t) batch,
        .cap = (size_t) batch > PINGYI_BATCH_MAX ? (size_t) batch : PINGYI_BATCH_MAX,
        .ms = (int) batch_ms,
        .wake_fd = -1,
        .answer = answer_request,
        .release = release_request,
        .arg = &w,
    };
    for (size_t i = 0; i < PINGYI_MAX_SHARDS; i++)
        w.shard_of[i] = -1;
    pingyi_writer_init (&w.inner);
    pingyi_writer_init (&w.outer);
    status = PINGYI_EXIT_START; /* until it runs: could not start */

    w.bundle = pingyi_bundle_load (deploy, PINGYI_ROLE_WORKER, id, err);
    if (!w.bundle) {
        pingyi_error ("%s", err);
        goto done;
    }
    w.election = w.bundle->election;
    bool wanted[PINGYI_MAX_SHARDS] = {false};
    char assigned[1024];
    pingyi_shard_list_format (assigned, sizeof assigned, w.bundle->shards);
    if (!shards)
        shards = assigned; /* the shards the keyring assigns this worker's key */
    if (parse_shards (shards, w.election->shard_count, wanted, err)) {
        pingyi_error ("%s", err);
        goto done;
    }
    for (uint32_t s = 0; s < PINGYI_MAX_SHARDS; s++)
        if (wanted[s] && !pingyi_bundle_has_shard (w.bundle, s)) {
            pingyi_error ("--shards %s: shard %u is not assigned to worker %s (keyring.tsv assigns %s), and "
                          "its bundle %s holds no secret for it",
                          shards, s, id, assigned, w.bundle->path);
            goto done;
        }
    w.links = calloc (w.election->venue_count ? w.election->venue_count : 1, sizeof *w.links);
    if (!w.links) {
        pingyi_error ("out of memory");
        goto done;
    }
    for (size_t v = 0; v < w.election->venue_count; v++) {
        uint32_t s = w.election->venues[v].shard;
        const pingyi_keyring_entry_t *e =
            pingyi_keyring_find (w.bundle->keyring, PINGYI_ROLE_VENUE, w.election->venues[v].id);
        uint8_t k[32];
        if (!wanted[s] || !e || !e->has_box)
            continue;
        if (pingyi_envelope_key (k, e->box, w.bundle->shard_secrets[s])) {
            pingyi_error ("venue %s: its box key is not usable (low-order point)", w.election->venues[v].id);
            goto done;
        }
        pingyi_envelope_link_keys (w.links[v].ack, w.links[v].close, k);
        sodium_memzero (k, sizeof k);
    }
    size_t nshards = 0;
    for (size_t s = 0; s < PINGYI_MAX_SHARDS; s++)
        nshards += wanted[s];
    w.shards = calloc (nshards, sizeof *w.shards);
    if (!w.shards) {
        pingyi_error ("out of memory");
        goto done;
    }
    w.wake_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w.wake_fd < 0) {
        pingyi_error ("eventfd: %s", strerror (errno));
        goto done;
    }
    w.batching.wake_fd = w.wake_fd;
    pingyi_info ("worker %s: election %s (%.16s...), %u shards; owning %s under %s; batch %zu / %d ms", id,
                 w.election->id, w.election->fingerprint_hex, w.election->shard_count, shards, data,
                 w.batching.limit, w.batching.ms);
    for (uint32_t s = 0; s < PINGYI_MAX_SHARDS; s++) {
        if (!wanted[s])
            continue;
        owned_t *b = &w.shards[w.shard_count++];
        b->shard = s;
        shard_open_t so = {.data = data, .shard = s, .w = &w, .map_size = (size_t) map_mb << 20,
                           .flags = create ? PINGYI_SHARD_CREATE : 0};
        char path[1100];
        pingyi_shard_path (path, sizeof path, data, s);
        /* a damaged file fails the checks at open, or faults LMDB: either
           way this worker refuses to start (the guard turns a fault into
           an error; the half-open shard is abandoned, the process exits) */
        b->store = pingyi_lmdb_guard (path, shard_open_guarded, &so, err) ? NULL : so.store;
        if (!b->store) {
            pingyi_error ("%s", err);
            goto done;
        }
        pingyi_shard_stats_t st;
        pingyi_shard_stats (b->store, &st);
        b->progress_generation = st.generation;
        pingyi_info ("shard %u: opened %s: sequence %llu, map %llu MiB", s, path,
                     (unsigned long long) st.sequence, (unsigned long long) (st.map_size >> 20));
        w.shard_of[s] = (int32_t) (w.shard_count - 1);
        b->batch = pingyi_batch_new (&w.batching, s, b->store, err);
        if (!b->batch) {
            pingyi_error ("%s", err);
            goto done;
        }
    }

    w.ctx = zmq_ctx_new ();
    if (!w.ctx) {
        pingyi_error ("zmq_ctx_new: %s", zmq_strerror (zmq_errno ()));
        goto done;
    }
    for (size_t i = 0; i < brokers.count; i++) {
        if (strlen (brokers.items[i]) >= sizeof w.brokers[0].endpoint) {
            pingyi_error ("--broker %s: longer than %zu bytes", brokers.items[i],
                          sizeof w.brokers[0].endpoint - 1);
            goto done;
        }
        broker_t *b = &w.brokers[w.broker_count++];
        snprintf (b->endpoint, sizeof b->endpoint, "%s", brokers.items[i]);
        if (open_broker (&w, b, err)) {
            pingyi_error ("%s", err);
            goto done;
        }
    }

    if (metrics_addr) {
        w.start_wall = (int64_t) time (NULL);
        w.mpage = pingyi_metrics_page_new ();
        mserver = w.mpage ? pingyi_metrics_server_start (metrics_addr, w.mpage, err) : NULL;
        if (!mserver) {
            pingyi_error ("%s", w.mpage ? err : "out of memory");
            goto done;
        }
        pingyi_info ("metrics on http://%s/metrics", metrics_addr);
    }

    pingyi_cli_signals (&s_stop);

    pingyi_info ("worker %s running", id);
    status = PINGYI_EXIT_FAILED; /* from here on, a stop that is not a signal's is a failure */
    if (run (&w) == 0) {
        pingyi_notify_stopping (); /* systemd: a stop signal; the batches in hand follow */
        /* finish what was received: commit, then acknowledge */
        wait_idle_all (&w);
        size_t pending = 0;
        for (size_t i = 0; i < w.shard_count; i++)
            pending += pingyi_batch_waiting (w.shards[i].batch);
        pingyi_info ("stopping: committing %zu envelopes still in batches", pending);
        drain_all (&w);
        status = PINGYI_EXIT_OK;
        for (size_t i = 0; i < w.shard_count; i++)
            if (pingyi_shard_stopped (w.shards[i].store)) {
                pingyi_error ("shard %u stopped taking ballots during this run (a commit failed: see above): "
                              "exit 1",
                              w.shards[i].shard);
                status = PINGYI_EXIT_FAILED;
            }
    }

done:
    pingyi_metrics_server_stop (&mserver);
    pingyi_metrics_page_destroy (&w.mpage);
    pingyi_expo_fini (&w.mtext);
    for (size_t i = 0; i < w.broker_count; i++)
        if (w.brokers[i].sock)
            zmq_close (w.brokers[i].sock); /* LINGER 1000: the last ACKs go out */
    if (w.ctx)
        zmq_ctx_term (w.ctx);
    for (size_t i = 0; i < w.shard_count; i++) {
        owned_t *b = &w.shards[i];
        /* a commit in flight finishes (it may not be acknowledged any
           more: the client resends and is answered "duplicate") */
        pingyi_batch_destroy (&b->batch);
        if (b->store) {
            pingyi_shard_stats_t st;
            pingyi_shard_stats (b->store, &st);
            pingyi_info ("shard %u: closed at sequence %llu (this run: accepted %llu, duplicates %llu, "
                         "rejected %llu)",
                         b->shard, (unsigned long long) st.sequence, (unsigned long long) st.accepted,
                         (unsigned long long) st.duplicates, (unsigned long long) st.rejected);
        }
        pingyi_shard_close (&b->store);
    }
    if (w.spare)
        pending_free (w.spare);
    free (w.shards);
    if (w.wake_fd >= 0)
        close (w.wake_fd);
    pingyi_writer_fini (&w.inner);
    pingyi_writer_fini (&w.outer);
    if (w.links)
        sodium_memzero (w.links, (w.election ? w.election->venue_count : 0) * sizeof *w.links);
    free (w.links);
    pingyi_bundle_destroy (&w.bundle);
    pingyi_cli_list_fini (&brokers);
    if (status == PINGYI_EXIT_OK)
        pingyi_info ("stopped");
    return status;
}
