/*  pingyi-broker — routes sealed ballots from venues to the workers that own
    their shards, and queries from the aggregator and operators.

    Invariants:
    - Stateless: no ballot touches the disk here and no key here opens one;
      the only state is soft: the shard table (routes.h) and the requests
      forwarded and not yet answered (tickets.h).  Killing the broker loses
      nothing: clients resend what was not acknowledged.
    - Nothing is dropped silently: the ROUTER is ZMQ_ROUTER_MANDATORY, every
      send is non-blocking, and every failure is answered (RETRY to the
      sender) or counted (stats).  Warnings about peers are rate-limited
      (notes.h: the first of a kind each minute, then one line with the
      count of the rest), so
      a flood costs no disk.
    - Bounded memory whatever the load: envelope bytes forwarded and not yet
      acknowledged are counted (the credit, credit.h); past the credit a SUBMIT
      is answered RETRY ("busy") instead of queued.  ZeroMQ's HWMs
      count messages, and SUBMITs range from one envelope to thousands, so
      they cannot bound bytes without also refusing trickles of small ones.
      Pending tickets are bounded too (PINGYI_TICKETS_MAX, then RETRY).
      Frames: ZMQ_MAXMSGSIZE drops a peer whose frame passes the largest
      legitimate one before it is buffered; each kind then has its own
      limit (PINGYI_CONTROL_FRAME_MAX, ...), and ZMQ_RCVHWM is small, so
      a connection holds at most a few frames; libzmq has no budget across
      connections (docs/broker.md "Frame limits and memory").
    - Authorisation by key: the CURVE key (ZAP, zap.h) fixes the sender's role
      and name; a venue may speak only as itself, only workers register
      shards and only those the keyring assigns to their key, one connection
      per worker key, only the aggregator and operators query.  The sender's
      identity travels to the worker inside FORWARD, since the worker never
      sees the original connection; the worker's answer travels back only to
      the connection that asked, through the FORWARD's ticket, and only if
      it is an answer to what was asked.  */
#define _GNU_SOURCE
#include "cli.h"
#include "notify.h"
#include "credit.h"
#include "deploy.h"
#include "gate.h"
#include "monitor.h"
#include "msg.h"
#include "notes.h"
#include "routes.h"
#include "tickets.h"
#include "zap.h"
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define HEARTBEAT_MS 1000
#define WORKER_TIMEOUT_MS 3000
#define RETRY_MS 500
/*  The credit (credit.h): past it a SUBMIT is answered RETRY with a short
    hint, since the credit frees as ACKs pass.  */
#define CREDIT_RETRY_MS 100
/*  After this many disconnects the heap is trimmed (read_monitor).  */
#define TRIM_AFTER_DISCONNECTS 256
/*  Frames queued per connection on their way in: the main loop drains
    faster than the I/O thread decrypts, so a few keep it busy, and each
    may be a 2 MiB SUBMIT (docs/broker.md "Frame limits and memory").  */
#define RCVHWM_MAX 16

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
    X (retry_tickets)                                                                                        \
    X (credit_forgiven)                                                                                      \
    X (replies_routed)                                                                                       \
    X (replies_unroutable)                                                                                   \
    X (replies_busy)                                                                                         \
    X (replies_unknown_ticket)                                                                               \
    X (replies_wrong_worker)                                                                                 \
    X (replies_wrong_kind)                                                                                   \
    X (replies_displaced)                                                                                    \
    X (tickets_expired)                                                                                      \
    X (tickets_released)                                                                                     \
    X (answers_undeliverable)                                                                                \
    X (workers_registered)                                                                                   \
    X (hello_refused)                                                                                        \
    X (workers_displaced)                                                                                    \
    X (workers_reconnected)                                                                                  \
    X (workers_recalled)                                                                                     \
    X (workers_expired)                                                                                      \
    X (workers_unreachable)

typedef struct {
#define X(name) uint64_t name;
    BROKER_STATS (X)
#undef X
} broker_stats_t;

typedef struct {
    void *ctx;
    void *router;
    pingyi_zap_t *zap;
    pingyi_routes_t *routes;
    pingyi_tickets_t *tickets;
    pingyi_bundle_t *bundle;
    const pingyi_election_t *election;
    pingyi_writer_t out;  /* scratch for answers */
    pingyi_writer_t wrap; /* scratch for FORWARD */
    broker_stats_t stats;
    uint64_t oversized[PINGYI_MSG_TYPE_MAX_ + 1]; /* frames over their kind's limit, by kind */
    pingyi_notes_t *notes;                        /* warnings about peers, rate-limited */
    int64_t started_ms;
    pingyi_credit_t credit; /* SUBMIT bytes lent to workers; the connections */
    void *monitor;          /* PAIR: the ROUTER's accepted / disconnected events */
    int64_t disconnects_since_trim;
    pingyi_monitor_t *view;    /* per venue and per worker, for MONITOR (monitor.h) */
    int frame_fd;              /* the connection the frame being handled came on (ZMQ_SRCFD) */
    uint64_t submit_envelopes; /* envelopes of the SUBMIT being forwarded */
} broker_t;

static volatile sig_atomic_t stopping; /* SIGTERM, SIGINT (pingyi_cli_signals) */

/*  A warning about a peer, rate-limited by kind (notes.h).  */
#define note(self, kind, ...) pingyi_notes_add ((self)->notes, (kind), pingyi_now_ms (), __VA_ARGS__)

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

/*  Answer the sender with what is in self->out; the sender may be gone.
    0, or the errno.  */
static int
answer (broker_t *self, const uint8_t *route, size_t route_len)
{
    int rc = send_to (self, route, route_len, self->out.sbuf.data, self->out.sbuf.size);
    if (rc)
        self->stats.answers_undeliverable++;
    if (rc == 0)
        pingyi_monitor_sent (self->view, route, route_len, (const uint8_t *) self->out.sbuf.data,
                             self->out.sbuf.size);
    else if (rc == EHOSTUNREACH)
        pingyi_monitor_route_gone (self->view, route, route_len);
    return rc;
}

static int answer_error (broker_t *self, const uint8_t *route, size_t route_len, uint64_t tag,
                         pingyi_error_code_t code, const char *fmt, ...) PINGYI_PRINTF (6, 7);

static int
answer_error (broker_t *self, const uint8_t *route, size_t route_len, uint64_t tag, pingyi_error_code_t code,
              const char *fmt, ...)
{
    char text[PINGYI_TEXT_MAX];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof text, fmt, ap);
    va_end (ap);
    pingyi_msg_error (&self->out, tag, code, text);
    return answer (self, route, route_len);
}

static void
answer_retry (broker_t *self, const uint8_t *route, size_t route_len, uint64_t tag, const char *reason)
{
    pingyi_msg_retry (&self->out, tag, RETRY_MS, reason);
    answer (self, route, route_len);
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
        uint32_t value = 0;
        if (zmq_msg_size (&ev) >= 2)
            memcpy (&event, zmq_msg_data (&ev), 2);
        if (zmq_msg_size (&ev) >= 6)
            memcpy (&value, (const uint8_t *) zmq_msg_data (&ev) + 2, 4);
        bool more = zmq_msg_more (&ev);
        zmq_msg_close (&ev);
        if (more) {
            zmq_msg_init (&addr);
            zmq_msg_recv (&addr, self->monitor, 0);
            zmq_msg_close (&addr);
        }
        if (event == ZMQ_EVENT_DISCONNECTED)
            pingyi_monitor_disconnected (self->view, (int) value); /* value: the connection's fd */
        if (event == ZMQ_EVENT_ACCEPTED)
            pingyi_credit_connected (&self->credit);
        else if (event == ZMQ_EVENT_DISCONNECTED && pingyi_credit_disconnected (&self->credit)) {
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

/*  A handshake the ZAP handler refused: warned, rate-limited; the count is
    the handler's (connections_refused).  */
static void
zap_refused (const char *key_hex, void *arg)
{
    broker_t *self = arg;
    if (key_hex)
        note (self, PINGYI_NOTE_KEY_REFUSED, "refused a connection: CURVE key %s... is not in the keyring",
              key_hex);
    else
        note (self, PINGYI_NOTE_NOT_CURVE, "refused a connection: not a CURVE handshake");
}

static void
expired_ticket (const pingyi_ticket_t *t, void *arg)
{
    broker_t *self = arg;
    pingyi_credit_repay (&self->credit, self->routes, NULL, t, 0);
    pingyi_monitor_ticket_done (self->view, t->worker);
}

/*  Routes drop a worker (expired, unreachable, displaced): its requests
    will never be answered through it, so its tickets and its debt go with
    it; the requesters resend.  When it goes for good (not displaced), a
    connection it had displaced with the same key within the last 30 s is
    called back at once (ERROR 4: say HELLO), rather than after its pause:
    the real worker gets its shards back as soon as a thief leaves, and a
    second process started with the same --id stands in when the first
    one dies.  */
static void
on_worker_drop (pingyi_route_t *w, bool displaced, void *arg)
{
    broker_t *self = arg;
    pingyi_monitor_worker_dropped (self->view, self->routes, w, pingyi_now_ms ());
    self->stats.tickets_released += pingyi_tickets_release_worker (self->tickets, w->serial, NULL, NULL);
    pingyi_credit_forgive (&self->credit, w);
    if (displaced)
        return;
    int64_t now = pingyi_now_ms ();
    pingyi_route_t *d;
    while ((d = pingyi_routes_displaced_named (self->routes, w->name, now)) != NULL) {
        d->displaced = false;
        pingyi_msg_error (&self->out, 0, PINGYI_ERROR_UNKNOWN_PEER,
                          "unknown worker: send HELLO (the connection that displaced this one is gone)");
        if (send_to (self, d->id, d->id_len, self->out.sbuf.data, self->out.sbuf.size) == 0) {
            self->stats.workers_recalled++;
            pingyi_info (
                "worker %s: the connection that displaced an older one is gone; calling the older one "
                "back (ERROR 4)",
                w->name);
        }
    }
}

static void
forgive_idle (pingyi_route_t *w, void *arg)
{
    broker_t *self = arg;
    if (pingyi_credit_overdue (w, pingyi_now_ms ())) {
        self->stats.credit_forgiven++;
        pingyi_tickets_forgive_worker (self->tickets, w->serial);
        pingyi_credit_forgive (&self->credit, w);
    }
}

/*  Pass a request (of `type`) to the owner of shard, wrapped with the
    sender's identity and a fresh ticket; RETRY the sender when no owner is
    alive, the owner is at its HWM, too many requests are pending, or a
    SUBMIT would overdraw the credit.  */
static void
forward (broker_t *self, uint32_t shard, int type, const uint8_t *route, size_t route_len, pingyi_role_t role,
         const char *sender, size_t sender_len, const uint8_t *frame, size_t len, uint64_t tag)
{
    pingyi_route_t *owner = pingyi_routes_owner (self->routes, shard);
    char reason[128];
    if (!owner) {
        self->stats.retry_no_owner++;
        snprintf (reason, sizeof reason, "no worker owns shard %u now", shard);
        answer_retry (self, route, route_len, tag, reason);
        return;
    }
    bool submit = type == PINGYI_MSG_SUBMIT;
    if (submit && pingyi_credit_refuses (&self->credit, owner, len)) {
        self->stats.retry_credit++;
        snprintf (reason, sizeof reason, "the workers are busy (%llu MB in flight)",
                  (unsigned long long) (self->credit.bytes >> 20));
        /* a short hint: the credit frees as ACKs pass, within milliseconds,
           and the client doubles it per RETRY anyway */
        pingyi_msg_retry (&self->out, tag, CREDIT_RETRY_MS, reason);
        answer (self, route, route_len);
        return;
    }
    int64_t now = pingyi_now_ms ();
    uint64_t ticket = pingyi_tickets_open (self->tickets, type, route, route_len, owner->serial,
                                           submit ? (uint32_t) len : 0, now);
    if (!ticket) {
        self->stats.retry_tickets++;
        snprintf (reason, sizeof reason, "the broker has %zu requests pending",
                  pingyi_tickets_pending (self->tickets));
        answer_retry (self, route, route_len, tag, reason);
        return;
    }
    pingyi_msg_forward (&self->wrap, ticket, role, sender, sender_len, frame, len);
    int rc = send_to (self, owner->id, owner->id_len, self->wrap.sbuf.data, self->wrap.sbuf.size);
    if (rc == 0) {
        if (submit)
            pingyi_credit_lend (&self->credit, owner, len, now);
        pingyi_monitor_forwarded (self->view, owner->name, owner->serial, submit ? self->submit_envelopes : 0);
        return;
    }
    pingyi_tickets_close (self->tickets, ticket);
    if (rc == EHOSTUNREACH) {
        pingyi_warn ("worker %s is unreachable: its shards are released until it returns", owner->name);
        self->stats.workers_unreachable++;
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
    n += 9 + PINGYI_MSG_TYPE_MAX_ + 1;
    pingyi_msg_stats_begin (&self->out, tag, "broker", n);
#define X(name) pingyi_msg_stat (&self->out, #name, self->stats.name);
    BROKER_STATS (X)
#undef X
    pingyi_msg_stat (&self->out, "workers_live", pingyi_routes_live (self->routes));
    pingyi_msg_stat (&self->out, "shards_owned", pingyi_routes_covered (self->routes));
    pingyi_msg_stat (&self->out, "shards_total", self->election->shard_count);
    pingyi_msg_stat (&self->out, "tickets_pending", pingyi_tickets_pending (self->tickets));
    pingyi_msg_stat (&self->out, "connections_allowed", pingyi_zap_allowed (self->zap));
    pingyi_msg_stat (&self->out, "connections_refused", pingyi_zap_denied (self->zap));
    pingyi_msg_stat (&self->out, "credit_bytes", self->credit.bytes);
    pingyi_msg_stat (&self->out, "credit_limit", pingyi_credit_limit (&self->credit));
    pingyi_msg_stat (&self->out, "connections", self->credit.connections);
    /* frames over their kind's limit, by kind: oversized_frame (kind
       unreadable), oversized_hello, ... */
    for (int k = 0; k <= PINGYI_MSG_TYPE_MAX_; k++) {
        char name[48];
        int used = snprintf (name, sizeof name, "oversized_%s", k ? pingyi_msg_type_name (k) : "frame");
        for (int i = 10; i < used; i++)
            name[i] = (char) (name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
        pingyi_msg_stat (&self->out, name, self->oversized[k]);
    }
    answer (self, route, route_len);
}

/*  --metrics (docs/OPERATIONS.md, "Metrics"): every counter of STATS under a
    Prometheus name, rendered by the loop about once a second and published
    to the metrics page; the HTTP thread only copies the published text.  */
typedef struct {
    const char *name; /* metric family */
    const char *label; /* label key, or NULL */
    const char *value; /* label value */
    size_t offset;     /* in broker_stats_t */
    const char *help;  /* of the family: given on its first row */
} broker_metric_t;

#define BM(field) offsetof (broker_stats_t, field)
static const broker_metric_t broker_metrics[] = {
    {"pingyi_broker_messages_total", NULL, NULL, BM (messages_in), "Frames received on the ROUTER."},
    {"pingyi_broker_refusals_total", "cause", "bad_message", BM (bad_messages),
     "Messages refused, by cause (answered ERROR; docs/broker.md)."},
    {"pingyi_broker_refusals_total", "cause", "forbidden", BM (forbidden), NULL},
    {"pingyi_broker_refusals_total", "cause", "wrong_election", BM (wrong_election), NULL},
    {"pingyi_broker_refusals_total", "cause", "unknown_venue", BM (unknown_venue), NULL},
    {"pingyi_broker_refusals_total", "cause", "hello_refused", BM (hello_refused), NULL},
    {"pingyi_broker_retries_total", "cause", "no_owner", BM (retry_no_owner),
     "Requests answered RETRY, by cause."},
    {"pingyi_broker_retries_total", "cause", "worker_busy", BM (retry_worker_busy), NULL},
    {"pingyi_broker_retries_total", "cause", "credit", BM (retry_credit), NULL},
    {"pingyi_broker_retries_total", "cause", "tickets", BM (retry_tickets), NULL},
    {"pingyi_broker_submits_forwarded_total", NULL, NULL, BM (submits_forwarded), "SUBMITs forwarded to workers."},
    {"pingyi_broker_envelopes_forwarded_total", NULL, NULL, BM (envelopes_forwarded),
     "Sealed envelopes forwarded to workers (in SUBMITs)."},
    {"pingyi_broker_queries_forwarded_total", NULL, NULL, BM (queries_forwarded),
     "TALLY_QUERY and STATS_QUERY forwarded to workers."},
    {"pingyi_broker_credit_forgiven_total", NULL, NULL, BM (credit_forgiven),
     "Times an idle worker's overdue credit was forgiven."},
    {"pingyi_broker_replies_total", "result", "routed", BM (replies_routed),
     "Worker REPLYs, by what became of them."},
    {"pingyi_broker_replies_total", "result", "unroutable", BM (replies_unroutable), NULL},
    {"pingyi_broker_replies_total", "result", "busy", BM (replies_busy), NULL},
    {"pingyi_broker_replies_total", "result", "unknown_ticket", BM (replies_unknown_ticket), NULL},
    {"pingyi_broker_replies_total", "result", "wrong_worker", BM (replies_wrong_worker), NULL},
    {"pingyi_broker_replies_total", "result", "wrong_kind", BM (replies_wrong_kind), NULL},
    {"pingyi_broker_replies_total", "result", "displaced", BM (replies_displaced), NULL},
    {"pingyi_broker_tickets_total", "result", "expired", BM (tickets_expired),
     "Tickets (forwarded requests) closed without an answer, by cause."},
    {"pingyi_broker_tickets_total", "result", "released", BM (tickets_released), NULL},
    {"pingyi_broker_answers_undeliverable_total", NULL, NULL, BM (answers_undeliverable),
     "Answers of the broker's own that could not be sent (the peer had gone)."},
    {"pingyi_broker_workers_registered_total", NULL, NULL, BM (workers_registered), "Worker HELLOs accepted."},
    {"pingyi_broker_worker_events_total", "event", "displaced", BM (workers_displaced),
     "Worker connections displaced, reconnected, recalled, expired (silent) or unreachable."},
    {"pingyi_broker_worker_events_total", "event", "reconnected", BM (workers_reconnected), NULL},
    {"pingyi_broker_worker_events_total", "event", "recalled", BM (workers_recalled), NULL},
    {"pingyi_broker_worker_events_total", "event", "expired", BM (workers_expired), NULL},
    {"pingyi_broker_worker_events_total", "event", "unreachable", BM (workers_unreachable), NULL},
};
#undef BM
/*  Every BROKER_STATS counter has a row above.  */
_Static_assert (sizeof broker_metrics / sizeof broker_metrics[0] == sizeof (broker_stats_t) / sizeof (uint64_t),
                "a metric for every broker counter");

static void
render_metrics (broker_t *self, pingyi_expo_t *e, int64_t start_wall)
{
    pingyi_expo_reset (e);
    pingyi_expo_process (e, "pingyi-broker", pingyi_cli_version (), pingyi_cli_revision (), start_wall);
    for (size_t i = 0; i < sizeof broker_metrics / sizeof broker_metrics[0]; i++) {
        const broker_metric_t *m = &broker_metrics[i];
        if (m->help)
            pingyi_expo_family (e, m->name, PINGYI_METRIC_COUNTER, m->help);
        uint64_t v;
        memcpy (&v, (const char *) &self->stats + m->offset, sizeof v);
        const char *labels[] = {m->label, m->value, NULL};
        pingyi_expo_sample_u64 (e, m->name, m->label ? labels : NULL, v);
    }
    pingyi_expo_family (e, "pingyi_broker_handshakes_total", PINGYI_METRIC_COUNTER,
                        "CURVE handshakes, allowed or refused (key not in the keyring, not CURVE).");
    const char *allowed[] = {"result", "allowed", NULL}, *refused[] = {"result", "refused", NULL};
    pingyi_expo_sample_u64 (e, "pingyi_broker_handshakes_total", allowed, pingyi_zap_allowed (self->zap));
    pingyi_expo_sample_u64 (e, "pingyi_broker_handshakes_total", refused, pingyi_zap_denied (self->zap));
    pingyi_expo_family (e, "pingyi_broker_oversized_frames_total", PINGYI_METRIC_COUNTER,
                        "Frames over their kind's limit, dropped, by kind (frame: kind unreadable).");
    for (int k = 0; k <= PINGYI_MSG_TYPE_MAX_; k++) {
        char kind[48];
        snprintf (kind, sizeof kind, "%s", k ? pingyi_msg_type_name (k) : "frame");
        for (char *c = kind; *c; c++)
            *c = (char) (*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        const char *labels[] = {"kind", kind, NULL};
        pingyi_expo_sample_u64 (e, "pingyi_broker_oversized_frames_total", labels, self->oversized[k]);
    }
    size_t owned = pingyi_routes_covered (self->routes);
    uint32_t total = self->election->shard_count;
    pingyi_expo_gauge (e, "pingyi_broker_workers_live", "Workers registered and heard from within the timeout.",
                       (double) pingyi_routes_live (self->routes));
    pingyi_expo_gauge (e, "pingyi_broker_shards", "Shards of the election.", (double) total);
    pingyi_expo_gauge (e, "pingyi_broker_shards_owned", "Shards with a live owner.", (double) owned);
    pingyi_expo_gauge (e, "pingyi_broker_shards_unowned", "Shards without a live owner (their venues get RETRY).",
                       (double) (total > owned ? total - owned : 0));
    pingyi_expo_family (e, "pingyi_broker_shard_owned", PINGYI_METRIC_GAUGE,
                        "1 when the shard has a live owner, else 0.");
    for (uint32_t s = 0; s < total; s++) {
        char shard[16];
        snprintf (shard, sizeof shard, "%u", s);
        const char *labels[] = {"shard", shard, NULL};
        pingyi_expo_sample_u64 (e, "pingyi_broker_shard_owned", labels, pingyi_routes_owner (self->routes, s) ? 1 : 0);
    }
    pingyi_expo_gauge (e, "pingyi_broker_tickets_pending", "Requests forwarded and not yet answered.",
                       (double) pingyi_tickets_pending (self->tickets));
    pingyi_expo_gauge (e, "pingyi_broker_connections", "Connections open on the ROUTER.",
                       (double) self->credit.connections);
    pingyi_expo_gauge (e, "pingyi_broker_credit_bytes", "SUBMIT bytes forwarded and not yet acknowledged.",
                       (double) self->credit.bytes);
    pingyi_expo_gauge (e, "pingyi_broker_credit_limit_bytes", "The credit: past it a SUBMIT is answered RETRY.",
                       (double) pingyi_credit_limit (&self->credit));
}

/*  MONITOR: the broker's view by name (broker/monitor.c), its refusals by
    cause from the counters above.  */
static void
send_monitor (broker_t *self, const uint8_t *route, size_t route_len, uint64_t tag, uint32_t from)
{
    uint64_t oversized = 0;
    for (int k = 0; k <= PINGYI_MSG_TYPE_MAX_; k++)
        oversized += self->oversized[k];
    const pingyi_monitor_count_t refusals[] = {
        {"bad_messages", self->stats.bad_messages},
        {"forbidden", self->stats.forbidden},
        {"wrong_election", self->stats.wrong_election},
        {"unknown_venue", self->stats.unknown_venue},
        {"oversized", oversized},
        {"retry_no_owner", self->stats.retry_no_owner},
        {"retry_worker_busy", self->stats.retry_worker_busy},
        {"retry_credit", self->stats.retry_credit},
        {"retry_tickets", self->stats.retry_tickets},
        {"replies_unroutable", self->stats.replies_unroutable},
        {"replies_busy", self->stats.replies_busy},
        {"replies_unknown_ticket", self->stats.replies_unknown_ticket},
        {"replies_wrong_worker", self->stats.replies_wrong_worker},
        {"replies_wrong_kind", self->stats.replies_wrong_kind},
        {"replies_displaced", self->stats.replies_displaced},
        {"tickets_expired", self->stats.tickets_expired},
        {"tickets_released", self->stats.tickets_released},
        {"answers_undeliverable", self->stats.answers_undeliverable},
        {"hello_refused", self->stats.hello_refused},
        {"workers_displaced", self->stats.workers_displaced},
        {"workers_expired", self->stats.workers_expired},
        {"workers_unreachable", self->stats.workers_unreachable},
        {"connections_refused", pingyi_zap_denied (self->zap)},
    };
    pingyi_monitor_write (self->view, &self->out, tag, from, self->routes, refusals,
                          sizeof refusals / sizeof refusals[0], pingyi_now_ms ());
    answer (self, route, route_len);
}

/*  The shard of the venue a venue message names, through the venue gate
    (election/gate.h): the venue speaks as itself (sender NULL: an
    operator, who speaks for no venue), this election, a known venue.  -1
    when refused (already answered).  */
static int
venue_shard (broker_t *self, const uint8_t *route, size_t route_len, const char *sender, size_t sender_len,
             uint64_t tag, const uint8_t *fp, pingyi_str_t venue, const char *what)
{
    int v;
    char reason[PINGYI_TEXT_MAX];
    pingyi_gate_t gate = pingyi_venue_gate (self->election, fp, venue.p, venue.len, sender, sender_len, &v,
                                            reason, sizeof reason);
    switch (gate) {
    case PINGYI_GATE_OK:
        return (int) self->election->venues[v].shard;
    case PINGYI_GATE_FORBIDDEN:
        self->stats.forbidden++;
        note (self, PINGYI_NOTE_FORBIDDEN, "venue %.*s tried to send %s as venue %.*s: refused",
              (int) sender_len, sender, what, (int) venue.len, venue.p);
        answer_error (self, route, route_len, tag, pingyi_venue_gate_error (gate),
                      "venue %.*s may not send %s as venue %.*s", (int) sender_len, sender, what,
                      (int) venue.len, venue.p);
        break;
    case PINGYI_GATE_WRONG_ELECTION:
        self->stats.wrong_election++;
        answer_error (self, route, route_len, tag, pingyi_venue_gate_error (gate),
                      "%s names another election; this broker serves %s", what,
                      self->election->fingerprint_hex);
        break;
    case PINGYI_GATE_UNKNOWN_VENUE:
        self->stats.unknown_venue++;
        answer_error (self, route, route_len, tag, pingyi_venue_gate_error (gate), "%s", reason);
        break;
    }
    return -1;
}

/*  HELLO from a worker key: the shards it claims, each of which the
    keyring must assign to that key; the newest connection of a key wins
    and the one it replaces is told (ERROR 7 DISPLACED).  */
static void
handle_hello (broker_t *self, const uint8_t *route, size_t route_len, const char *user_id, const char *sender,
              size_t sender_len, pingyi_msg_t *msg, int64_t now)
{
    if (memcmp (msg->u.hello.fingerprint, self->election->fingerprint, PINGYI_FP_LEN) != 0) {
        self->stats.wrong_election++;
        answer_error (self, route, route_len, 0, PINGYI_ERROR_WRONG_ELECTION,
                      "worker %s serves another election; this broker serves %s", user_id,
                      self->election->fingerprint_hex);
        return;
    }
    char name[PINGYI_NAME_MAX + 1];
    snprintf (name, sizeof name, "%.*s", (int) sender_len, sender);
    uint32_t shards[PINGYI_SHARDS_LISTED_MAX];
    size_t n = 0;
    uint64_t s;
    while (pingyi_list_next_uint (&msg->u.hello.shards, &s) && n < PINGYI_SHARDS_LISTED_MAX)
        shards[n++] = (uint32_t) s;
    const pingyi_keyring_entry_t *entry =
        pingyi_keyring_find (self->bundle->keyring, PINGYI_ROLE_WORKER, name);
    uint32_t bad;
    if (pingyi_routes_check_assigned (entry, shards, n, self->election->shard_count, &bad)) {
        self->stats.hello_refused++;
        note (self, PINGYI_NOTE_HELLO_REFUSED,
              "worker %s claimed shard %u, which keyring.tsv does not assign to its key: "
              "HELLO refused, its shards stay where they are",
              name, (unsigned) bad);
        answer_error (self, route, route_len, 0, PINGYI_ERROR_FORBIDDEN,
                      "worker %s is not assigned shard %u (keyring.tsv)", name, (unsigned) bad);
        return;
    }
    /* One connection per key: the newest HELLO wins. */
    pingyi_route_t *old = pingyi_routes_named (self->routes, name);
    if (old && !(old->id_len == route_len && memcmp (old->id, route, route_len) == 0)) {
        char text[PINGYI_TEXT_MAX];
        snprintf (text, sizeof text,
                  "worker %s: another connection with this worker's key said HELLO and took its shards",
                  name);
        pingyi_msg_error (&self->out, 0, PINGYI_ERROR_DISPLACED, text);
        int rc = send_to (self, old->id, old->id_len, self->out.sbuf.data, self->out.sbuf.size);
        if (rc == EHOSTUNREACH) {
            /* the old connection is gone: a restart, nothing to tell */
            self->stats.workers_reconnected++;
            pingyi_info ("worker %s is back on a new connection; the old one is gone", name);
        }
        else {
            self->stats.workers_displaced++;
            note (self, PINGYI_NOTE_DISPLACED,
                  "worker %s: a second connection with its key said HELLO and took its shards; the older "
                  "connection, still up, was told DISPLACED (a second process with the same --id, or a "
                  "stolen key)",
                  name);
        }
        pingyi_routes_displace (self->routes, old, now);
    }
    pingyi_route_t *w = pingyi_routes_claim (self->routes, route, route_len, name, shards, n, now);
    if (!w) {
        answer_error (self, route, route_len, 0, PINGYI_ERROR_INTERNAL, "worker table full");
        return;
    }
    self->stats.workers_registered++;
    char list[PINGYI_MAX_SHARDS * 4 + 1] = "";
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        used +=
            (size_t) snprintf (list + used, sizeof list - used, "%s%u", i ? "," : "", (unsigned) shards[i]);
    pingyi_info ("worker %s owns shards %s (%zu of %u shards owned)", name, n ? list : "(none)",
                 pingyi_routes_covered (self->routes), self->election->shard_count);
    pingyi_msg_ready_begin (&self->out, (uint32_t) n);
    for (size_t i = 0; i < n; i++)
        msgpack_pack_uint32 (&self->out.pk, shards[i]);
    answer (self, route, route_len);
}

/*  REPLY from a registered worker: relayed only when its ticket is pending,
    was forwarded to this very connection, and the inner frame answers the
    kind of request the ticket stands for.  Anything else is refused to the
    worker (ERROR 2, tag = the ticket), counted by cause, and logged at most
    once per kind a minute (notes.h).  */
static void
handle_reply (broker_t *self, const uint8_t *route, size_t route_len, pingyi_route_t *worker,
              const pingyi_msg_t *msg, int64_t now)
{
    uint64_t ticket = msg->u.reply.ticket;
    const pingyi_ticket_t *t;
    int inner_type;
    pingyi_reply_verdict_t verdict = pingyi_tickets_check (
        self->tickets, ticket, worker->serial, msg->u.reply.inner.p, msg->u.reply.inner.len, &t, &inner_type);
    switch (verdict) {
    case PINGYI_REPLY_UNKNOWN_TICKET:
    case PINGYI_REPLY_WRONG_WORKER: {
        /* one text for both: a worker learns nothing about other workers' tickets */
        bool unknown = verdict == PINGYI_REPLY_UNKNOWN_TICKET;
        if (unknown)
            self->stats.replies_unknown_ticket++;
        else
            self->stats.replies_wrong_worker++;
        note (self, unknown ? PINGYI_NOTE_REPLY_UNKNOWN_TICKET : PINGYI_NOTE_REPLY_WRONG_WORKER,
              "worker %s sent a REPLY with ticket %" PRIu64 ", %s: dropped", worker->name, ticket,
              unknown ? "which is not pending (expired, answered, or never issued)"
                      : "which was forwarded to another connection");
        answer_error (self, route, route_len, ticket, PINGYI_ERROR_FORBIDDEN,
                      "REPLY ticket %" PRIu64 " was not forwarded to this connection", ticket);
        return;
    }
    case PINGYI_REPLY_WRONG_KIND: {
        self->stats.replies_wrong_kind++;
        const pingyi_ticket_t *asked = pingyi_tickets_find (self->tickets, ticket);
        const char *request = pingyi_msg_type_name (asked ? asked->type : 0);
        char what[64];
        if (inner_type < 0)
            snprintf (what, sizeof what, "a frame that is not a version %d message", PINGYI_PROTO_VERSION);
        else
            snprintf (what, sizeof what, "%s", pingyi_msg_type_name (inner_type));
        note (self, PINGYI_NOTE_REPLY_WRONG_KIND,
              "worker %s answered ticket %" PRIu64 " (a %s) with %s: dropped", worker->name, ticket, request,
              what);
        answer_error (self, route, route_len, ticket, PINGYI_ERROR_FORBIDDEN,
                      "REPLY ticket %" PRIu64 " answers a %s: %s is not an answer to it", ticket, request,
                      what);
        return;
    }
    case PINGYI_REPLY_OK:
        break;
    }
    if (t->type == PINGYI_MSG_SUBMIT)
        pingyi_credit_repay (&self->credit, self->routes, worker, t, now);
    int rc = send_to (self, pingyi_ticket_requester (t), t->requester_len, msg->u.reply.inner.p,
                      msg->u.reply.inner.len);
    pingyi_monitor_ticket_done (self->view, worker->serial);
    if (rc == 0)
        pingyi_monitor_sent (self->view, pingyi_ticket_requester (t), t->requester_len, msg->u.reply.inner.p,
                             msg->u.reply.inner.len);
    else if (rc == EHOSTUNREACH)
        pingyi_monitor_route_gone (self->view, pingyi_ticket_requester (t), t->requester_len);
    pingyi_tickets_close (self->tickets, ticket);
    if (rc == 0)
        self->stats.replies_routed++;
    else if (rc == EHOSTUNREACH)
        self->stats.replies_unroutable++; /* the client reconnected; it will resend */
    else
        self->stats.replies_busy++;
}

/*  The type of a frame from its first bytes, [array][3][type], both small
    positive fixints in every frame a pingyi peer writes; -1 when they are
    not (the decoder then says what is wrong).  */
static int
peek_type (const uint8_t *frame, size_t len)
{
    size_t head = 0;
    if (len >= 1 && frame[0] >= 0x90 && frame[0] <= 0x9f)
        head = 1;
    else if (len >= 3 && frame[0] == 0xdc)
        head = 3;
    else if (len >= 5 && frame[0] == 0xdd)
        head = 5;
    if (!head || len < head + 2 || frame[head] != PINGYI_PROTO_VERSION || frame[head + 1] < 1 ||
        frame[head + 1] > PINGYI_MSG_TYPE_MAX_)
        return -1;
    return frame[head + 1];
}

/*  The largest frame of a kind a peer may hand the broker (msg.h).  Kinds
    no peer sends the broker are refused as forbidden once decoded; they
    get the control limit, so their refusal costs no big decode.  */
static size_t
frame_limit (int kind)
{
    switch (kind) {
    case PINGYI_MSG_SUBMIT:
        return PINGYI_SUBMIT_FRAME_MAX;
    case PINGYI_MSG_REPLY:
        return PINGYI_REPLY_FRAME_MAX;
    case -1:
        return PINGYI_INNER_MAX; /* not a frame we can read the kind of: the decoder refuses it */
    default:
        return PINGYI_CONTROL_FRAME_MAX;
    }
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
        answer_error (self, route, route_len, pingyi_msg_tag (frame, len), PINGYI_ERROR_FORBIDDEN,
                      "unauthenticated connection");
        return;
    }
    pingyi_route_t *worker =
        role == PINGYI_ROLE_WORKER ? pingyi_routes_worker (self->routes, route, route_len) : NULL;
    if (worker)
        worker->last_seen_ms = now;
    if (role == PINGYI_ROLE_VENUE)
        pingyi_monitor_venue_heard (self->view, sender, sender_len, route, route_len, self->frame_fd, now);

    pingyi_msg_t msg;
    char err[PINGYI_ERR_MAX];
    int kind = peek_type (frame, len);
    size_t limit = frame_limit (kind);
    if (len > limit) {
        /* More than its kind ever needs (or than a FORWARD can wrap):
           refused before it is decoded, counted by kind. */
        self->stats.bad_messages++;
        self->oversized[kind < 0 ? 0 : kind]++;
        const char *what = kind > 0 ? pingyi_msg_type_name (kind) : "frame";
        note (self, PINGYI_NOTE_OVERSIZED, "oversized %s from %s: %zu bytes, at most %zu: refused", what,
              user_id, len, limit);
        answer_error (self, route, route_len, pingyi_msg_tag (frame, len), PINGYI_ERROR_BAD_MESSAGE,
                      "frame of %zu bytes exceeds %zu (the limit of a %s)", len, limit, what);
        return;
    }
    if (pingyi_msg_decode (frame, len, &msg, err)) {
        self->stats.bad_messages++;
        note (self, PINGYI_NOTE_BAD_MESSAGE, "bad message from %s: %s", user_id, err);
        /* the tag when it can be read, so the sender knows which of its
           requests in flight this refuses (docs/PROTOCOL.md §2) */
        answer_error (self, route, route_len, pingyi_msg_tag (frame, len), PINGYI_ERROR_BAD_MESSAGE, "%s",
                      err);
        return;
    }
    const char *type = pingyi_msg_type_name (msg.type);
    bool querier = role == PINGYI_ROLE_AGGREGATOR || role == PINGYI_ROLE_OPERATOR;
    /* A worker connection displaced by a newer one with its key: it was
       told (ERROR 7) and says HELLO again after a pause; until then its
       heartbeats and late replies are dropped, not answered UNKNOWN_PEER
       (which would make it claim again at once).  */
    const pingyi_route_t *displaced = role == PINGYI_ROLE_WORKER && !worker
                                          ? pingyi_routes_displaced (self->routes, route, route_len, now)
                                          : NULL;
    switch (msg.type) {
    case PINGYI_MSG_HELLO:
        if (role != PINGYI_ROLE_WORKER)
            break;
        handle_hello (self, route, route_len, user_id, sender, sender_len, &msg, now);
        return;
    case PINGYI_MSG_HEARTBEAT:
        if (role == PINGYI_ROLE_WORKER && !worker) {
            if (!displaced)
                answer_error (self, route, route_len, 0, PINGYI_ERROR_UNKNOWN_PEER,
                              "unknown worker: send HELLO");
            return;
        }
        if (role != PINGYI_ROLE_WORKER) {
            pingyi_msg_heartbeat (&self->out);
            answer (self, route, route_len);
        }
        return;
    case PINGYI_MSG_REPLY:
        if (role != PINGYI_ROLE_WORKER)
            break;
        if (displaced) {
            self->stats.replies_displaced++;
            note (self, PINGYI_NOTE_REPLY_DISPLACED,
                  "worker %s sent a REPLY on a connection displaced by a newer one with its key: dropped",
                  displaced->name);
            return;
        }
        if (!worker) {
            answer_error (self, route, route_len, 0, PINGYI_ERROR_UNKNOWN_PEER, "unknown worker: send HELLO");
            return;
        }
        handle_reply (self, route, route_len, worker, &msg, now);
        return;
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
            self->submit_envelopes = msg.u.submit.envelopes.count;
            pingyi_monitor_venue_submit (self->view, sender, sender_len, msg.u.submit.envelopes.count);
        }
        forward (self, (uint32_t) shard, msg.type, route, route_len, role, sender, sender_len, frame, len,
                 tag);
        return;
    }
    case PINGYI_MSG_VENUE_REOPEN: {
        /* an operator's correction of a close: operator keys only, routed
           by the venue's shard like VENUE_CLOSE (the operator speaks for
           no venue, so the venue named is not the sender's) */
        if (role != PINGYI_ROLE_OPERATOR)
            break;
        pingyi_str_t venue = msg.u.venue_reopen.venue;
        int shard = venue_shard (self, route, route_len, NULL, 0, msg.u.venue_reopen.tag,
                                 msg.u.venue_reopen.fingerprint, venue, type);
        if (shard < 0)
            return;
        pingyi_info ("%s asks to reopen venue %.*s", user_id, (int) venue.len, venue.p);
        forward (self, (uint32_t) shard, msg.type, route, route_len, role, sender, sender_len, frame, len,
                 msg.u.venue_reopen.tag);
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
        forward (self, msg.u.tally_query.shard, msg.type, route, route_len, role, sender, sender_len, frame,
                 len, msg.u.tally_query.tag);
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
        forward (self, (uint32_t) msg.u.stats_query.shard, msg.type, route, route_len, role, sender,
                 sender_len, frame, len, msg.u.stats_query.tag);
        return;
    case PINGYI_MSG_MONITOR_QUERY:
        /* the broker's view with names: operator and aggregator keys only */
        if (!querier)
            break;
        send_monitor (self, route, route_len, msg.u.monitor_query.tag, msg.u.monitor_query.from);
        return;
    default:
        break;
    }
    self->stats.forbidden++;
    note (self, PINGYI_NOTE_FORBIDDEN, "%s may not send %s: refused", user_id, type);
    answer_error (self, route, route_len, pingyi_msg_tag (frame, len), PINGYI_ERROR_FORBIDDEN,
                  "%s %s key may not send %s to the broker",
                  strchr ("aeiou", pingyi_role_name (role)[0]) ? "an" : "a", pingyi_role_name (role), type);
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
        /* the first part's tag, when it has one */
        answer_error (self, zmq_msg_data (&route), zmq_msg_size (&route),
                      pingyi_msg_tag (zmq_msg_data (&frame), zmq_msg_size (&frame)), PINGYI_ERROR_BAD_MESSAGE,
                      "one frame per message expected, got several");
        goto done;
    }
    self->frame_fd = zmq_msg_get (&frame, ZMQ_SRCFD); /* -1 when libzmq does not say */
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
        pingyi_warn ("worker %s disconnected: its shards are released until it returns", worker->name);
        self->stats.workers_unreachable++;
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
open_router (broker_t *self, const pingyi_cli_list_t *binds, int hwm, char *err)
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
        set_int (self->router, ZMQ_RCVHWM, hwm < RCVHWM_MAX ? hwm : RCVHWM_MAX, "RCVHWM", err) ||
        set_int (self->router, ZMQ_LINGER, 0, "LINGER", err) ||
        /* No ZMTP heartbeat, here or in the peers (proto/link.c): libzmq
           4.3.4 asserts (!_io_error, stream_engine_base.cpp:331) when it
           writes a heartbeat or a PONG on a connection whose input it had
           stopped (receive pipe full), which a busy or resumed broker meets
           (test_broker_hang).  The application HEARTBEAT finds silent
           workers; TCP keepalive a peer gone without a FIN.  */
        set_int (self->router, ZMQ_TCP_KEEPALIVE, 1, "TCP_KEEPALIVE", err) ||
        set_int (self->router, ZMQ_TCP_KEEPALIVE_IDLE, 10, "TCP_KEEPALIVE_IDLE", err) ||
        set_int (self->router, ZMQ_TCP_KEEPALIVE_INTVL, 2, "TCP_KEEPALIVE_INTVL", err) ||
        set_int (self->router, ZMQ_TCP_KEEPALIVE_CNT, 3, "TCP_KEEPALIVE_CNT", err) ||
        zmq_setsockopt (self->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg))
        return pingyi_fail (err, "broker socket options: %s", zmq_strerror (zmq_errno ()));
    for (size_t i = 0; i < binds->count; i++) {
        if (zmq_bind (self->router, binds->items[i]))
            return pingyi_fail (err, "cannot bind %s: %s", binds->items[i], zmq_strerror (zmq_errno ()));
        pingyi_info ("listening on %s (CURVE, %zu keys allowed)", binds->items[i],
                     pingyi_keyring_size (self->bundle->keyring));
    }
    return 0;
}

#define DEFAULT_BIND "tcp://127.0.0.1:7701"

/*  Exit status (docs/exit-codes.md): 0 stopped on SIGTERM/SIGINT; 1 stopped
    by an error while running; 2 could not start (flags, bundle, bind).  */
int
main (int argc, char **argv)
{
    pingyi_log_prog = "pingyi-broker";
    const char *deploy = NULL;
    /* --metrics: the page the loop publishes to, served by its own thread */
    const char *metrics_addr = NULL;
    pingyi_metrics_page_t *mpage = NULL;
    pingyi_metrics_server_t *mserver = NULL;
    pingyi_expo_t mtext;
    pingyi_expo_init (&mtext);
    int64_t start_wall = (int64_t) time (NULL);
    pingyi_cli_list_t binds = {0};
    uint64_t hwm = 10000, stats_every = 10;
    const pingyi_cli_option_t options[] = {
        PINGYI_CLI_OPT_TEXT ("deploy", &deploy, "DIR", "the deploy directory (its broker/ bundle is used)"),
        PINGYI_CLI_OPT_ENDPOINTS ("bind", &binds, "LIST",
                                  "where to listen: endpoints, comma-separated or the flag repeated\n"
                                  "(default " DEFAULT_BIND ")"),
        PINGYI_CLI_OPT_U64 ("hwm", &hwm, "N",
                            "high-water mark per peer, messages (1..1000000000, default 10000)", 1,
                            1000000000),
        PINGYI_CLI_OPT_U64 ("stats-every", &stats_every, "S",
                            "log a stats line every S seconds (0..86400, default 10, 0 = never)", 0, 86400),
        PINGYI_CLI_OPT_TEXT ("metrics", &metrics_addr, "HOST:PORT",
                             "serve Prometheus /metrics, /healthz and /readyz over HTTP here\n"
                             "(e.g. 127.0.0.1:9101; docs/OPERATIONS.md)"),
        PINGYI_CLI_END,
    };
    pingyi_cli_t cli = {
        .prog = "pingyi-broker",
        .synopsis = "pingyi-broker --deploy DIR [--bind ENDPOINT[,ENDPOINT...]] [--hwm N] [--stats-every S]\n"
                    "                     [--metrics HOST:PORT]",
        .options = options,
        .logs = true,
    };
    int status;
    if (pingyi_cli_parse (&cli, argc, argv, &status)) {
        pingyi_cli_list_fini (&binds);
        return status;
    }
    char err[PINGYI_ERR_MAX];
    if (!deploy) {
        pingyi_cli_list_fini (&binds);
        return pingyi_cli_fail (&cli, "--deploy is required");
    }
    if (!binds.count && pingyi_cli_list_add (&binds, "--bind", DEFAULT_BIND, err)) {
        pingyi_error ("%s", err);
        return PINGYI_EXIT_START;
    }

    broker_t self = {0};
    self.bundle = pingyi_bundle_load (deploy, PINGYI_ROLE_BROKER, NULL, err);
    if (!self.bundle) {
        pingyi_error ("%s", err);
        pingyi_cli_list_fini (&binds);
        return PINGYI_EXIT_START;
    }
    self.election = self.bundle->election;
    self.routes = pingyi_routes_new (self.election->shard_count);
    self.tickets = pingyi_tickets_new (PINGYI_TICKETS_MAX);
    self.notes = pingyi_notes_new ();
    {
        /* the version MONITOR reports: what --version prints after the name */
        char shown[PINGYI_NAME_MAX + 1];
        snprintf (shown, sizeof shown, "%.*s", PINGYI_NAME_MAX, *pingyi_cli_version () ? pingyi_cli_version () : "unknown");
        self.view = pingyi_monitor_new (self.election, self.bundle->keyring, shown, pingyi_now_ms ());
    }
    if (sodium_init () < 0 || !self.routes || !self.tickets || !self.notes || !self.view) {
        pingyi_error ("cannot start: out of memory or no randomness");
        pingyi_monitor_destroy (&self.view);
        pingyi_routes_destroy (&self.routes);
        pingyi_tickets_destroy (&self.tickets);
        pingyi_notes_destroy (&self.notes);
        pingyi_bundle_destroy (&self.bundle);
        pingyi_cli_list_fini (&binds);
        return PINGYI_EXIT_START;
    }
    pingyi_routes_on_drop (self.routes, on_worker_drop, &self);
    pingyi_writer_init (&self.out);
    pingyi_writer_init (&self.wrap);
    self.ctx = zmq_ctx_new ();
    int rc = PINGYI_EXIT_START;
    /* The ZAP handler first: a CURVE socket bound without one accepts anybody. */
    self.zap = pingyi_zap_new (self.ctx, self.bundle->keyring, zap_refused, &self, err);
    if (!self.zap || open_router (&self, &binds, (int) hwm, err)) {
        pingyi_error ("%s", err);
        goto done;
    }
    /* connections cost memory whatever they carry: count them (pingyi_credit_limit) */
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

    if (metrics_addr) {
        mpage = pingyi_metrics_page_new ();
        mserver = mpage ? pingyi_metrics_server_start (metrics_addr, mpage, err) : NULL;
        if (!mserver) {
            pingyi_error ("%s", mpage ? err : "out of memory");
            goto done;
        }
        pingyi_info ("metrics on http://%s/metrics", metrics_addr);
    }

    pingyi_cli_signals (&stopping);
    pingyi_notify_ready (); /* systemd: listening on every --bind */

    self.started_ms = pingyi_now_ms ();
    int64_t next_metrics = self.started_ms;
    bool failed = false; /* stopped by an error, not a signal: exit 1 */
    int64_t next_beat = self.started_ms + HEARTBEAT_MS;
    int64_t next_stats = self.started_ms + (int64_t) stats_every * 1000;
    while (!stopping) {
        pingyi_log_poll (); /* a SIGHUP's reopen of --log-file */
        zmq_pollitem_t items[] = {{pingyi_zap_socket (self.zap), 0, ZMQ_POLLIN, 0},
                                  {self.router, 0, ZMQ_POLLIN, 0},
                                  {self.monitor, 0, ZMQ_POLLIN, 0}};
        int64_t now = pingyi_now_ms ();
        /* wake for the next heartbeat, or sooner when a worker's silence
           passes its timeout: its shards fall back at that moment */
        int64_t wake = next_beat, expiry = pingyi_routes_next_expiry (self.routes, WORKER_TIMEOUT_MS);
        if (expiry < wake)
            wake = expiry;
        long timeout = wake > now ? (long) (wake - now) : 0;
        if (zmq_poll (items, 3, timeout) < 0) {
            if (zmq_errno () == EINTR)
                continue;
            pingyi_error ("zmq_poll: %s: stopping", zmq_strerror (zmq_errno ()));
            failed = true;
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
        if (now >= next_beat || now >= pingyi_routes_next_expiry (self.routes, WORKER_TIMEOUT_MS))
            self.stats.workers_expired += pingyi_routes_expire (self.routes, now, WORKER_TIMEOUT_MS);
        if (now >= next_beat) {
            self.stats.tickets_expired +=
                pingyi_tickets_expire (self.tickets, now, PINGYI_TICKET_TTL_MS, expired_ticket, &self);
            pingyi_routes_each (self.routes, forgive_idle, &self);
            pingyi_notes_flush (self.notes, now);
            pingyi_routes_each (self.routes, heartbeat_one, &self);
            pingyi_monitor_shards_check (self.view, self.routes, now);
            next_beat = now + HEARTBEAT_MS;
        }
        if (mpage && now >= next_metrics) {
            /* ready: listening (the binds succeeded before the loop) */
            render_metrics (&self, &mtext, start_wall);
            pingyi_metrics_publish (mpage, &mtext, true, NULL, now);
            next_metrics = now + 1000;
        }
        if (stats_every && now >= next_stats) {
            uint64_t replies_refused = self.stats.replies_unknown_ticket + self.stats.replies_wrong_worker +
                                       self.stats.replies_wrong_kind + self.stats.replies_displaced;
            pingyi_info (
                "stats: %llu messages, %llu envelopes forwarded, %llu retries, %llu refused, %llu REPLYs "
                "refused, %llu HELLOs refused, %llu displaced, %llu bad; %zu workers, %zu/%u shards owned, "
                "%zu requests pending",
                (unsigned long long) self.stats.messages_in,
                (unsigned long long) self.stats.envelopes_forwarded,
                (unsigned long long) (self.stats.retry_no_owner + self.stats.retry_worker_busy +
                                      self.stats.retry_credit + self.stats.retry_tickets),
                (unsigned long long) self.stats.forbidden, (unsigned long long) replies_refused,
                (unsigned long long) self.stats.hello_refused,
                (unsigned long long) self.stats.workers_displaced,
                (unsigned long long) self.stats.bad_messages, pingyi_routes_live (self.routes),
                pingyi_routes_covered (self.routes), self.election->shard_count,
                pingyi_tickets_pending (self.tickets));
            next_stats = now + (int64_t) stats_every * 1000;
        }
    }
    pingyi_info ("stopping");
    pingyi_notify_stopping ();
    rc = failed ? PINGYI_EXIT_FAILED : PINGYI_EXIT_OK;
done:
    pingyi_metrics_server_stop (&mserver);
    pingyi_metrics_page_destroy (&mpage);
    pingyi_expo_fini (&mtext);
    if (self.monitor)
        zmq_close (self.monitor);
    if (self.router)
        zmq_close (self.router);
    pingyi_zap_destroy (&self.zap);
    zmq_ctx_term (self.ctx);
    pingyi_writer_fini (&self.out);
    pingyi_writer_fini (&self.wrap);
    pingyi_routes_destroy (&self.routes);
    pingyi_tickets_destroy (&self.tickets);
    pingyi_notes_destroy (&self.notes);
    pingyi_monitor_destroy (&self.view);
    pingyi_bundle_destroy (&self.bundle);
    pingyi_cli_list_fini (&binds);
    return rc;
}
