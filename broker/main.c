/*  pingyi-broker — routes sealed ballots from venues to the workers that own
    their shards, and queries from the aggregator and operators.

    Invariants:
    - Stateless: no ballot touches the disk here and no key here opens one;
      the only state is the soft shard table (routes.h).  Killing the broker
      loses nothing: clients resend what was not acknowledged.
    - Nothing is dropped silently: the ROUTER is ZMQ_ROUTER_MANDATORY, every
      send is non-blocking, and every failure is answered (RETRY to the
      sender) or counted (stats).
    - Bounded memory whatever the load: envelope bytes forwarded and not yet
      acknowledged are counted (the credit below); past the credit a SUBMIT
      is answered RETRY ("busy") instead of queued.  ZeroMQ's HWMs
      count messages, and SUBMITs range from one envelope to thousands, so
      they cannot bound bytes without also refusing trickles of small ones.
    - Authorisation by key: the CURVE key (ZAP, zap.h) fixes the sender's role
      and name; a venue may speak only as itself, only workers register
      shards, only the aggregator and operators query.  The sender's identity
      travels to the worker inside FORWARD, since the worker never sees the
      original connection.  */
#define _GNU_SOURCE
#include "deploy.h"
#include "msg.h"
#include "routes.h"
#include "zap.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define HEARTBEAT_MS 1000
#define WORKER_TIMEOUT_MS 3000
#define RETRY_MS 500
/*  The credit: SUBMIT bytes forwarded to workers and not yet acknowledged,
    all workers together.  It is what is left of a memory budget after the
    connections: libzmq holds some 40 KB per CURVE connection whatever it
    carries (pipes, codec buffers; measured: 1,200 idle venues cost 47 MB),
    so the broker counts its connections (a socket monitor) and lends the
    rest, between 8 and 40 MB.  40 MB is over a second of work for the
    workers of a 2-core box (docs/PERFORMANCE.md), so a venue that backs off
    for a RETRY finds its worker still busy, not idle.  A SUBMIT always goes
    when its worker has nothing outstanding, so no size of SUBMIT is refused
    for good.  */
#define MEMORY_BUDGET (48u << 20) /* connections + credit */
#define CONNECTION_BYTES (40u << 10)
#define CREDIT_MIN (8u << 20)
#define CREDIT_MAX (40u << 20)
#define TRIM_AFTER_DISCONNECTS 256
#define CREDIT_RETRY_MS 100
/*  Bytes whose ACK never came (a reply the worker could not send, a RETRY
    or ERROR instead of an ACK) must not eat the credit for good: a worker
    that has sent no ACK for this long while owing some has its debt
    forgiven.  A busy worker acknowledges every few milliseconds.  */
#define CREDIT_FORGIVE_MS 5000
#define CREDIT_WORKERS 256

/*  Counters shown by STATS (and the periodic log line).  */
#define BROKER_STATS(X)                                                                                      \
    X (messages_in)                                                                                          \
    X (bad_messages)                                                                                         \
    X (forbidden)                                                                                            \
    X (wrong_election)                                                                                       \
    X (unknown_venue)                                                                                        \
    X (submits_forwarded)                                                                                    \
    X (envelopes_forwarded)                                                                                  \
    X (queries_forwarded)                                                                                    \
    X (retry_no_owner)                                                                                       \
    X (retry_worker_busy)                                                                                    \
    X (retry_credit)                                                                                         \
    X (credit_forgiven)                                                                                      \
    X (replies_routed)                                                                                       \
    X (replies_unroutable)                                                                                   \
    X (replies_busy)                                                                                         \
    X (answers_undeliverable)                                                                                \
    X (workers_registered)                                                                                   \
    X (workers_expired)

typedef struct {
#define X(name) uint64_t name;
    BROKER_STATS (X)
#undef X
} broker_stats_t;

/*  What one worker owes: SUBMIT bytes and envelopes forwarded to it and
    not yet acknowledged.  Soft state like the routes: a restarted broker
    starts at zero.  */
typedef struct {
    uint8_t id[PINGYI_ROUTE_MAX];
    size_t id_len;
    uint64_t bytes;
    uint64_t envelopes;
    int64_t last_ack_ms;
} credit_t;

typedef struct {
    void *ctx;
    void *router;
    pingyi_zap_t *zap;
    pingyi_routes_t *routes;
    pingyi_bundle_t *bundle;
    const pingyi_election_t *election;
    pingyi_writer_t out;  /* scratch for answers */
    pingyi_writer_t wrap; /* scratch for FORWARD */
    broker_stats_t stats;
    int64_t started_ms;
    credit_t credits[CREDIT_WORKERS];
    size_t credit_count;
    uint64_t credit_bytes; /* the sum over workers */
    void *monitor;         /* PAIR: the ROUTER's accepted / disconnected events */
    int64_t connections;
    int64_t disconnects_since_trim;
} broker_t;

static volatile sig_atomic_t stopping;

static void
on_signal (int sig)
{
    (void) sig;
    stopping = 1;
}

/*  Send [route][frame] without blocking.  0, or the errno.  */
static int
send_to (broker_t *self, const uint8_t *route, size_t route_len, const void *frame, size_t len)
{
    if (zmq_send (self->router, route, route_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return zmq_errno ();
    if (zmq_send (self->router, frame, len, ZMQ_DONTWAIT) < 0)
        return zmq_errno ();
    return 0;
}

/*  Answer the sender with what is in self->out; the sender may be gone.  */
static void
answer (broker_t *self, const uint8_t *route, size_t route_len)
{
    if (send_to (self, route, route_len, self->out.sbuf.data, self->out.sbuf.size))
        self->stats.answers_undeliverable++;
}

static void answer_error (broker_t *self, const uint8_t *route, size_t route_len, uint64_t tag,
                          pingyi_error_code_t code, const char *fmt, ...) PINGYI_PRINTF (6, 7);

static void
answer_error (broker_t *self, const uint8_t *route, size_t route_len, uint64_t tag, pingyi_error_code_t code,
              const char *fmt, ...)
{
    char text[PINGYI_TEXT_MAX];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof text, fmt, ap);
    va_end (ap);
    pingyi_msg_error (&self->out, tag, code, text);
    answer (self, route, route_len);
}

static void
answer_retry (broker_t *self, const uint8_t *route, size_t route_len, uint64_t tag, const char *reason)
{
    pingyi_msg_retry (&self->out, tag, RETRY_MS, reason);
    answer (self, route, route_len);
}

/*  The credit the connections leave (see CREDIT above).  */
static uint64_t
credit_limit (const broker_t *self)
{
    uint64_t used = (uint64_t) (self->connections > 0 ? self->connections : 0) * CONNECTION_BYTES;
    uint64_t left = used < MEMORY_BUDGET ? MEMORY_BUDGET - used : 0;
    return left < CREDIT_MIN ? CREDIT_MIN : left > CREDIT_MAX ? CREDIT_MAX : left;
}

/*  Socket monitor events: [u16 event, u32 value][endpoint].  */
static void
read_monitor (broker_t *self)
{
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init (&ev);
        if (zmq_msg_recv (&ev, self->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&ev);
            return;
        }
        uint16_t event = 0;
        if (zmq_msg_size (&ev) >= 2)
            memcpy (&event, zmq_msg_data (&ev), 2);
        bool more = zmq_msg_more (&ev);
        zmq_msg_close (&ev);
        if (more) {
            zmq_msg_init (&addr);
            zmq_msg_recv (&addr, self->monitor, 0);
            zmq_msg_close (&addr);
        }
        if (event == ZMQ_EVENT_ACCEPTED)
            self->connections++;
        else if (event == ZMQ_EVENT_DISCONNECTED && self->connections > 0) {
            self->connections--;
            /* after a wave of venues leaves, hand what their connections
               held back to the system, so the next wave does not stack on
               top of it (the heap does not shrink by itself) */
            if (++self->disconnects_since_trim >= TRIM_AFTER_DISCONNECTS) {
                self->disconnects_since_trim = 0;
                malloc_trim (0);
            }
        }
    }
}

/*  The credit entry of a worker (by routing id), made when missing; NULL
    when the table is full (then the worker is not limited).  */
static credit_t *
credit_of (broker_t *self, const uint8_t *id, size_t id_len, bool make)
{
    for (size_t i = 0; i < self->credit_count; i++)
        if (self->credits[i].id_len == id_len && memcmp (self->credits[i].id, id, id_len) == 0)
            return &self->credits[i];
    if (!make || id_len > PINGYI_ROUTE_MAX)
        return NULL;
    credit_t *c = NULL;
    if (self->credit_count < CREDIT_WORKERS)
        c = &self->credits[self->credit_count++];
    else
        /* workers come back under new routing ids: reuse one that owes nothing */
        for (size_t i = 0; i < self->credit_count && !c; i++)
            if (!self->credits[i].bytes)
                c = &self->credits[i];
    if (!c)
        return NULL;
    memset (c, 0, sizeof *c);
    memcpy (c->id, id, id_len);
    c->id_len = id_len;
    return c;
}

static void
credit_forgive (broker_t *self, credit_t *c)
{
    self->credit_bytes -= c->bytes;
    c->bytes = 0;
    c->envelopes = 0;
}

/*  An ACK of n results came back from worker c: its share of the debt,
    in proportion (ACKs do not say how many bytes they answer).  */
static void
credit_repay (broker_t *self, credit_t *c, uint64_t n, int64_t now)
{
    c->last_ack_ms = now;
    if (n >= c->envelopes) {
        credit_forgive (self, c);
        return;
    }
    uint64_t bytes = c->bytes * n / c->envelopes;
    c->bytes -= bytes;
    c->envelopes -= n;
    self->credit_bytes -= bytes;
}

/*  The number of results of an ACK frame, read from its head alone (the
    worker wrote it; the client decodes it whole).  0 when it is not an ACK.  */
static uint64_t
ack_count (const uint8_t *frame, size_t len)
{
    pingyi_mp_t r;
    uint32_t n, results;
    uint64_t version, type, tag;
    pingyi_mp_init (&r, frame, len);
    if (pingyi_mp_array (&r, &n, 16) || n != 4 || pingyi_mp_uint (&r, &version, 255) ||
        version != PINGYI_PROTO_VERSION || pingyi_mp_uint (&r, &type, 255) || type != PINGYI_MSG_ACK ||
        pingyi_mp_uint (&r, &tag, UINT64_MAX) || pingyi_mp_array (&r, &results, PINGYI_BATCH_MAX))
        return 0;
    return results;
}

/*  Pass a frame to the owner of shard, wrapped with the sender's identity;
    RETRY the sender when no owner is alive, the owner is at its HWM, or a
    SUBMIT (envelopes > 0) would overdraw the credit.  */
static void
forward (broker_t *self, uint32_t shard, const uint8_t *route, size_t route_len, pingyi_role_t role,
         const char *sender, size_t sender_len, const uint8_t *frame, size_t len, uint64_t tag,
         uint64_t envelopes)
{
    pingyi_route_t *owner = pingyi_routes_owner (self->routes, shard);
    char reason[128];
    if (!owner) {
        self->stats.retry_no_owner++;
        snprintf (reason, sizeof reason, "no worker owns shard %u now", shard);
        answer_retry (self, route, route_len, tag, reason);
        return;
    }
    credit_t *credit = envelopes ? credit_of (self, owner->id, owner->id_len, true) : NULL;
    if (credit && credit->bytes && self->credit_bytes + len > credit_limit (self)) {
        self->stats.retry_credit++;
        snprintf (reason, sizeof reason, "the workers are busy (%llu MB in flight)",
                  (unsigned long long) (self->credit_bytes >> 20));
        /* a short hint: the credit frees as ACKs pass, within milliseconds,
           and the client doubles it per RETRY anyway */
        pingyi_msg_retry (&self->out, tag, CREDIT_RETRY_MS, reason);
        answer (self, route, route_len);
        return;
    }
    pingyi_msg_forward (&self->wrap, route, route_len, role, sender, sender_len, frame, len);
    int rc = send_to (self, owner->id, owner->id_len, self->wrap.sbuf.data, self->wrap.sbuf.size);
    if (rc == 0) {
        if (credit) {
            if (!credit->bytes)
                credit->last_ack_ms = pingyi_now_ms (); /* the forgiveness clock starts with the debt */
            credit->bytes += len;
            credit->envelopes += envelopes;
            self->credit_bytes += len;
        }
        return;
    }
    if (rc == EHOSTUNREACH) {
        pingyi_warn ("worker %s is unreachable: its shards are unowned until it returns", owner->name);
        pingyi_routes_drop (self->routes, owner);
        self->stats.retry_no_owner++;
        snprintf (reason, sizeof reason, "the worker of shard %u went away", shard);
    }
    else {
        self->stats.retry_worker_busy++;
        snprintf (reason, sizeof reason, "the worker of shard %u is busy", shard);
    }
    answer_retry (self, route, route_len, tag, reason);
}

static void
send_stats (broker_t *self, const uint8_t *route, size_t route_len, uint64_t tag)
{
    uint32_t n = 0;
#define X(name) n++;
    BROKER_STATS (X)
#undef X
    n += 8;
    pingyi_msg_stats_begin (&self->out, tag, "broker", n);
#define X(name) pingyi_msg_stat (&self->out, #name, self->stats.name);
    BROKER_STATS (X)
#undef X
    pingyi_msg_stat (&self->out, "workers_live", pingyi_routes_live (self->routes));
    pingyi_msg_stat (&self->out, "shards_owned", pingyi_routes_covered (self->routes));
    pingyi_msg_stat (&self->out, "shards_total", self->election->shard_count);
    pingyi_msg_stat (&self->out, "connections_allowed", pingyi_zap_allowed (self->zap));
    pingyi_msg_stat (&self->out, "connections_refused", pingyi_zap_denied (self->zap));
    pingyi_msg_stat (&self->out, "credit_bytes", self->credit_bytes);
    pingyi_msg_stat (&self->out, "credit_limit", credit_limit (self));
    pingyi_msg_stat (&self->out, "connections", (uint64_t) (self->connections > 0 ? self->connections : 0));
    answer (self, route, route_len);
}

/*  The shard of a venue named in a message from a venue key, after checking
    the venue speaks as itself.  -1 when refused (already answered).  */
static int
venue_shard (broker_t *self, const uint8_t *route, size_t route_len, const char *sender, size_t sender_len,
             uint64_t tag, const uint8_t *fp, pingyi_str_t venue, const char *what)
{
    if (venue.len != sender_len || memcmp (venue.p, sender, sender_len) != 0) {
        self->stats.forbidden++;
        pingyi_warn ("venue %.*s tried to send %s as venue %.*s: refused", (int) sender_len, sender, what,
                     (int) venue.len, venue.p);
        answer_error (self, route, route_len, tag, PINGYI_ERROR_FORBIDDEN,
                      "venue %.*s may not send %s as venue %.*s", (int) sender_len, sender, what,
                      (int) venue.len, venue.p);
        return -1;
    }
    if (memcmp (fp, self->election->fingerprint, PINGYI_FP_LEN) != 0) {
        self->stats.wrong_election++;
        answer_error (self, route, route_len, tag, PINGYI_ERROR_WRONG_ELECTION,
                      "%s names another election; this broker serves %s", what,
                      self->election->fingerprint_hex);
        return -1;
    }
    int v = pingyi_election_venue (self->election, venue.p, venue.len);
    if (v < 0) {
        self->stats.unknown_venue++;
        answer_error (self, route, route_len, tag, PINGYI_ERROR_UNKNOWN_VENUE,
                      "venue %.*s is not in election %s", (int) venue.len, venue.p, self->election->id);
        return -1;
    }
    return (int) self->election->venues[v].shard;
}

static void
handle (broker_t *self, const uint8_t *route, size_t route_len, const uint8_t *frame, size_t len,
        const char *user_id)
{
    self->stats.messages_in++;
    int64_t now = pingyi_now_ms ();
    pingyi_role_t role;
    const char *sender;
    size_t sender_len;
    if (!pingyi_zap_user_parse (user_id, &role, &sender, &sender_len)) {
        /* Cannot happen with ZAP enforced; refuse rather than guess. */
        self->stats.forbidden++;
        answer_error (self, route, route_len, 0, PINGYI_ERROR_FORBIDDEN, "unauthenticated connection");
        return;
    }
    pingyi_route_t *worker =
        role == PINGYI_ROLE_WORKER ? pingyi_routes_worker (self->routes, route, route_len) : NULL;
    if (worker)
        worker->last_seen_ms = now;

    pingyi_msg_t msg;
    char err[PINGYI_ERR_MAX];
    if (len > PINGYI_INNER_MAX) {
        /* It could not be wrapped in a FORWARD within the frame limit. */
        self->stats.bad_messages++;
        answer_error (self, route, route_len, 0, PINGYI_ERROR_BAD_MESSAGE, "frame of %zu bytes exceeds %u",
                      len, (unsigned) PINGYI_INNER_MAX);
        return;
    }
    if (pingyi_msg_decode (frame, len, &msg, err)) {
        self->stats.bad_messages++;
        pingyi_warn ("bad message from %s: %s", user_id, err);
        answer_error (self, route, route_len, 0, PINGYI_ERROR_BAD_MESSAGE, "%s", err);
        return;
    }
    const char *type = pingyi_msg_type_name (msg.type);
    bool querier = role == PINGYI_ROLE_AGGREGATOR || role == PINGYI_ROLE_OPERATOR;
    switch (msg.type) {
    case PINGYI_MSG_HELLO: {
        if (role != PINGYI_ROLE_WORKER)
            break;
        if (memcmp (msg.u.hello.fingerprint, self->election->fingerprint, PINGYI_FP_LEN) != 0) {
            self->stats.wrong_election++;
            answer_error (self, route, route_len, 0, PINGYI_ERROR_WRONG_ELECTION,
                          "worker %s serves another election; this broker serves %s", user_id,
                          self->election->fingerprint_hex);
            return;
        }
        uint32_t shards[PINGYI_MAX_SHARDS];
        size_t n = 0;
        uint64_t s;
        char list[PINGYI_MAX_SHARDS * 4 + 1] = "";
        size_t used = 0;
        while (pingyi_list_next_uint (&msg.u.hello.shards, &s))
            if (s < self->election->shard_count && n < PINGYI_MAX_SHARDS) {
                shards[n++] = (uint32_t) s;
                used += (size_t) snprintf (list + used, sizeof list - used, "%s%u", n > 1 ? "," : "",
                                           (unsigned) s);
            }
        char name[PINGYI_NAME_MAX + 1];
        snprintf (name, sizeof name, "%.*s", (int) sender_len, sender);
        if (!pingyi_routes_claim (self->routes, route, route_len, name, shards, n, now)) {
            answer_error (self, route, route_len, 0, PINGYI_ERROR_INTERNAL, "worker table full");
            return;
        }
        self->stats.workers_registered++;
        credit_t *owed = credit_of (self, route, route_len, false);
        if (owed)
            credit_forgive (self, owed); /* a worker that says HELLO holds nothing of ours */
        pingyi_info ("worker %s owns shards %s (%zu of %u shards owned)", name, n ? list : "(none)",
                     pingyi_routes_covered (self->routes), self->election->shard_count);
        pingyi_msg_ready_begin (&self->out, (uint32_t) n);
        for (size_t i = 0; i < n; i++)
            msgpack_pack_uint32 (&self->out.pk, shards[i]);
        answer (self, route, route_len);
        return;
    }
    case PINGYI_MSG_HEARTBEAT:
        if (role == PINGYI_ROLE_WORKER && !worker) {
            answer_error (self, route, route_len, 0, PINGYI_ERROR_UNKNOWN_PEER, "unknown worker: send HELLO");
            return;
        }
        if (role != PINGYI_ROLE_WORKER) {
            pingyi_msg_heartbeat (&self->out);
            answer (self, route, route_len);
        }
        return;
    case PINGYI_MSG_REPLY: {
        if (role != PINGYI_ROLE_WORKER)
            break;
        if (!worker) {
            answer_error (self, route, route_len, 0, PINGYI_ERROR_UNKNOWN_PEER, "unknown worker: send HELLO");
            return;
        }
        uint64_t acked = ack_count (msg.u.reply.inner.p, msg.u.reply.inner.len);
        credit_t *credit = acked ? credit_of (self, route, route_len, false) : NULL;
        if (credit)
            credit_repay (self, credit, acked, now);
        int rc = send_to (self, msg.u.reply.route.p, msg.u.reply.route.len, msg.u.reply.inner.p,
                          msg.u.reply.inner.len);
        if (rc == 0)
            self->stats.replies_routed++;
        else if (rc == EHOSTUNREACH)
            self->stats.replies_unroutable++; /* the client reconnected; it will resend */
        else
            self->stats.replies_busy++;
        return;
    }
    case PINGYI_MSG_SUBMIT:
    case PINGYI_MSG_VENUE_OPEN:
    case PINGYI_MSG_VENUE_CLOSE: {
        if (role != PINGYI_ROLE_VENUE)
            break;
        uint64_t tag = msg.type == PINGYI_MSG_SUBMIT       ? msg.u.submit.tag
                       : msg.type == PINGYI_MSG_VENUE_OPEN ? msg.u.venue_open.tag
                                                           : msg.u.venue_close.tag;
        const uint8_t *fp = msg.type == PINGYI_MSG_SUBMIT       ? msg.u.submit.fingerprint
                            : msg.type == PINGYI_MSG_VENUE_OPEN ? msg.u.venue_open.fingerprint
                                                                : msg.u.venue_close.fingerprint;
        pingyi_str_t venue = msg.type == PINGYI_MSG_SUBMIT       ? msg.u.submit.venue
                             : msg.type == PINGYI_MSG_VENUE_OPEN ? msg.u.venue_open.venue
                                                                 : msg.u.venue_close.venue;
        int shard = venue_shard (self, route, route_len, sender, sender_len, tag, fp, venue, type);
        if (shard < 0)
            return;
        if (msg.type == PINGYI_MSG_SUBMIT) {
            self->stats.submits_forwarded++;
            self->stats.envelopes_forwarded += msg.u.submit.envelopes.count;
        }
        forward (self, (uint32_t) shard, route, route_len, role, sender, sender_len, frame, len, tag,
                 msg.type == PINGYI_MSG_SUBMIT ? msg.u.submit.envelopes.count : 0);
        return;
    }
    case PINGYI_MSG_TALLY_QUERY:
        if (!querier)
            break;
        if (msg.u.tally_query.shard >= self->election->shard_count) {
            answer_error (self, route, route_len, msg.u.tally_query.tag, PINGYI_ERROR_BAD_MESSAGE,
                          "TALLY_QUERY.shard: %u is not below the shard count %u", msg.u.tally_query.shard,
                          self->election->shard_count);
            return;
        }
        self->stats.queries_forwarded++;
        forward (self, msg.u.tally_query.shard, route, route_len, role, sender, sender_len, frame, len,
                 msg.u.tally_query.tag, 0);
        return;
    case PINGYI_MSG_STATS_QUERY:
        if (!querier)
            break;
        if (msg.u.stats_query.shard < 0) {
            send_stats (self, route, route_len, msg.u.stats_query.tag);
            return;
        }
        if ((uint32_t) msg.u.stats_query.shard >= self->election->shard_count) {
            answer_error (self, route, route_len, msg.u.stats_query.tag, PINGYI_ERROR_BAD_MESSAGE,
                          "STATS_QUERY.shard: %d is not below the shard count %u", msg.u.stats_query.shard,
                          self->election->shard_count);
            return;
        }
        self->stats.queries_forwarded++;
        forward (self, (uint32_t) msg.u.stats_query.shard, route, route_len, role, sender, sender_len, frame,
                 len, msg.u.stats_query.tag, 0);
        return;
    default:
        break;
    }
    self->stats.forbidden++;
    pingyi_warn ("%s may not send %s: refused", user_id, type);
    answer_error (self, route, route_len, 0, PINGYI_ERROR_FORBIDDEN, "a %s key may not send %s to the broker",
                  pingyi_role_name (role), type);
}

/*  Read one [route][frame] message off the ROUTER; anything else is dropped
    and counted (a DEALER peer always sends exactly one frame).  */
static void
receive (broker_t *self)
{
    zmq_msg_t route, frame;
    zmq_msg_init (&route);
    zmq_msg_init (&frame);
    if (zmq_msg_recv (&route, self->router, ZMQ_DONTWAIT) < 0)
        goto done;
    if (!zmq_msg_more (&route) || zmq_msg_recv (&frame, self->router, 0) < 0)
        goto done;
    if (zmq_msg_more (&frame)) {
        self->stats.bad_messages++;
        int more = 1;
        while (more) {
            zmq_msg_t extra;
            zmq_msg_init (&extra);
            if (zmq_msg_recv (&extra, self->router, 0) < 0)
                more = 0;
            else
                more = zmq_msg_more (&extra);
            zmq_msg_close (&extra);
        }
        answer_error (self, zmq_msg_data (&route), zmq_msg_size (&route), 0, PINGYI_ERROR_BAD_MESSAGE,
                      "one frame per message expected, got several");
        goto done;
    }
    handle (self, zmq_msg_data (&route), zmq_msg_size (&route), zmq_msg_data (&frame), zmq_msg_size (&frame),
            zmq_msg_gets (&frame, "User-Id"));
done:
    zmq_msg_close (&route);
    zmq_msg_close (&frame);
}

static void
heartbeat_one (pingyi_route_t *worker, void *arg)
{
    broker_t *self = arg;
    pingyi_msg_heartbeat (&self->out);
    if (send_to (self, worker->id, worker->id_len, self->out.sbuf.data, self->out.sbuf.size) ==
        EHOSTUNREACH) {
        pingyi_warn ("worker %s disconnected: its shards are unowned until it returns", worker->name);
        pingyi_routes_drop (self->routes, worker);
    }
}

static int
set_int (void *socket, int option, int value, const char *name, char *err)
{
    if (zmq_setsockopt (socket, option, &value, sizeof value))
        return pingyi_fail (err, "zmq_setsockopt %s: %s", name, zmq_strerror (zmq_errno ()));
    return 0;
}

static int
open_router (broker_t *self, const char *binds, int hwm, char *err)
{
    self->router = zmq_socket (self->ctx, ZMQ_ROUTER);
    if (!self->router)
        return pingyi_fail (err, "zmq_socket: %s", zmq_strerror (zmq_errno ()));
    int64_t maxmsg = PINGYI_FRAME_MAX;
    if (set_int (self->router, ZMQ_CURVE_SERVER, 1, "CURVE_SERVER", err) ||
        zmq_setsockopt (self->router, ZMQ_CURVE_SECRETKEY, self->bundle->curve_secret, PINGYI_KEY_LEN) ||
        zmq_setsockopt (self->router, ZMQ_ZAP_DOMAIN, "pingyi", 6) ||
        set_int (self->router, 93 /* ZMQ_ZAP_ENFORCE_DOMAIN */, 1, "ZAP_ENFORCE_DOMAIN", err) ||
        set_int (self->router, ZMQ_ROUTER_MANDATORY, 1, "ROUTER_MANDATORY", err) ||
        set_int (self->router, ZMQ_SNDHWM, hwm, "SNDHWM", err) ||
        set_int (self->router, ZMQ_RCVHWM, hwm, "RCVHWM", err) ||
        set_int (self->router, ZMQ_LINGER, 0, "LINGER", err) ||
        set_int (self->router, ZMQ_HEARTBEAT_IVL, 1000, "HEARTBEAT_IVL", err) ||
        set_int (self->router, ZMQ_HEARTBEAT_TIMEOUT, 3000, "HEARTBEAT_TIMEOUT", err) ||
        zmq_setsockopt (self->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg))
        return pingyi_fail (err, "broker socket options: %s", zmq_strerror (zmq_errno ()));
    char *list = strdup (binds);
    if (!list)
        return pingyi_fail (err, "out of memory");
    int rc = 0;
    for (char *save = NULL, *ep = strtok_r (list, ",", &save); ep; ep = strtok_r (NULL, ",", &save)) {
        if (zmq_bind (self->router, ep)) {
            rc = pingyi_fail (err, "cannot bind %s: %s", ep, zmq_strerror (zmq_errno ()));
            break;
        }
        pingyi_info ("listening on %s (CURVE, %zu keys allowed)", ep,
                     pingyi_keyring_size (self->bundle->keyring));
    }
    free (list);
    return rc;
}

static void
usage (void)
{
    fprintf (stderr,
             "usage: pingyi-broker --deploy DIR [--bind ENDPOINT[,ENDPOINT...]] [--hwm N] [--stats-every S]\n"
             "  --deploy DIR     the deploy directory (its broker/ bundle is used)\n"
             "  --bind           where to listen (default tcp://127.0.0.1:7701)\n"
             "  --hwm            high-water mark per peer, messages (default 10000)\n"
             "  --stats-every    log a stats line every S seconds (default 10, 0 = never)\n");
}

int
main (int argc, char **argv)
{
    pingyi_log_prog = "pingyi-broker";
    const char *deploy = NULL, *bind = "tcp://127.0.0.1:7701";
    long hwm = 10000, stats_every = 10;
    for (int i = 1; i < argc; i += 2) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp (f, "-h") || !strcmp (f, "--help")) {
            usage ();
            return 0;
        }
        if (!v) {
            fprintf (stderr, "pingyi-broker: %s needs a value\n", f);
            return 2;
        }
        if (!strcmp (f, "--deploy"))
            deploy = v;
        else if (!strcmp (f, "--bind"))
            bind = v;
        else if (!strcmp (f, "--hwm"))
            hwm = atol (v);
        else if (!strcmp (f, "--stats-every"))
            stats_every = atol (v);
        else {
            fprintf (stderr, "pingyi-broker: unknown flag \"%s\"\n", f);
            usage ();
            return 2;
        }
    }
    if (!deploy || hwm < 1 || stats_every < 0) {
        usage ();
        return 2;
    }

    broker_t self = {0};
    char err[PINGYI_ERR_MAX];
    self.bundle = pingyi_bundle_load (deploy, PINGYI_ROLE_BROKER, NULL, err);
    if (!self.bundle) {
        pingyi_error ("%s", err);
        return 2;
    }
    self.election = self.bundle->election;
    self.routes = pingyi_routes_new (self.election->shard_count);
    pingyi_writer_init (&self.out);
    pingyi_writer_init (&self.wrap);
    self.ctx = zmq_ctx_new ();
    int rc = 2;
    /* The ZAP handler first: a CURVE socket bound without one accepts anybody. */
    self.zap = pingyi_zap_new (self.ctx, self.bundle->keyring, err);
    if (!self.zap || open_router (&self, bind, (int) hwm, err)) {
        pingyi_error ("%s", err);
        goto done;
    }
    /* connections cost memory whatever they carry: count them (credit_limit) */
    self.monitor = zmq_socket (self.ctx, ZMQ_PAIR);
    if (!self.monitor ||
        zmq_socket_monitor (self.router, "inproc://pingyi-broker-monitor",
                            ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) ||
        zmq_connect (self.monitor, "inproc://pingyi-broker-monitor")) {
        pingyi_error ("socket monitor: %s", zmq_strerror (zmq_errno ()));
        goto done;
    }
    pingyi_info ("election %s (%s), %u shards, %zu venues", self.election->id, self.election->fingerprint_hex,
                 self.election->shard_count, self.election->venue_count);

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGINT, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);

    self.started_ms = pingyi_now_ms ();
    int64_t next_beat = self.started_ms + HEARTBEAT_MS;
    int64_t next_stats = self.started_ms + stats_every * 1000;
    while (!stopping) {
        zmq_pollitem_t items[] = {{pingyi_zap_socket (self.zap), 0, ZMQ_POLLIN, 0},
                                  {self.router, 0, ZMQ_POLLIN, 0},
                                  {self.monitor, 0, ZMQ_POLLIN, 0}};
        int64_t now = pingyi_now_ms ();
        long timeout = next_beat > now ? (long) (next_beat - now) : 0;
        if (zmq_poll (items, 3, timeout) < 0) {
            if (zmq_errno () == EINTR)
                continue;
            pingyi_error ("zmq_poll: %s", zmq_strerror (zmq_errno ()));
            break;
        }
        if (items[0].revents & ZMQ_POLLIN)
            pingyi_zap_handle (self.zap);
        if (items[2].revents & ZMQ_POLLIN)
            read_monitor (&self);
        /* Bounded burst so heartbeats and ZAP are never starved. */
        for (int burst = 0; burst < 1000 && (items[1].revents & ZMQ_POLLIN); burst++) {
            int events;
            size_t len = sizeof events;
            if (zmq_getsockopt (self.router, ZMQ_EVENTS, &events, &len) || !(events & ZMQ_POLLIN))
                break;
            receive (&self);
        }
        now = pingyi_now_ms ();
        if (now >= next_beat) {
            self.stats.workers_expired += pingyi_routes_expire (self.routes, now, WORKER_TIMEOUT_MS);
            for (size_t i = 0; i < self.credit_count; i++)
                if (self.credits[i].bytes && now - self.credits[i].last_ack_ms > CREDIT_FORGIVE_MS) {
                    self.stats.credit_forgiven++;
                    credit_forgive (&self, &self.credits[i]);
                }
            pingyi_routes_each (self.routes, heartbeat_one, &self);
            next_beat = now + HEARTBEAT_MS;
        }
        if (stats_every && now >= next_stats) {
            pingyi_info (
                "stats: %llu messages, %llu envelopes forwarded, %llu retries, %llu refused, %llu bad; "
                "%zu workers, %zu/%u shards owned",
                (unsigned long long) self.stats.messages_in,
                (unsigned long long) self.stats.envelopes_forwarded,
                (unsigned long long) (self.stats.retry_no_owner + self.stats.retry_worker_busy),
                (unsigned long long) self.stats.forbidden, (unsigned long long) self.stats.bad_messages,
                pingyi_routes_live (self.routes), pingyi_routes_covered (self.routes),
                self.election->shard_count);
            next_stats = now + stats_every * 1000;
        }
    }
    pingyi_info ("stopping");
    rc = 0;
done:
    if (self.monitor)
        zmq_close (self.monitor);
    if (self.router)
        zmq_close (self.router);
    pingyi_zap_destroy (&self.zap);
    zmq_ctx_term (self.ctx);
    pingyi_writer_fini (&self.out);
    pingyi_writer_fini (&self.wrap);
    pingyi_routes_destroy (&self.routes);
    pingyi_bundle_destroy (&self.bundle);
    return rc;
}
