/*  main.c — pingyi-client: one per venue.  Reads ballots (a CSV or JSONL
    file, stdin, or the drill generator), seals each into an envelope,
    commits it to the durable outbox, sends it through a broker until a
    worker acknowledges it, then closes the venue and prints the
    reconciliation (docs/client.md).

    Invariants:
    - Nothing is sent before the chunk holding it is committed to the
      outbox, and nothing leaves the outbox before it is acknowledged; so
      every ballot taken in reaches the shard at least once, and the shard's
      dedupe by (venue, ballot id) makes it count once.
    - Nothing is sent unless the outbox accounts for the ballots the shard
      already holds of the venue, or --append says this is a further batch
      (open_check): the same file sealed again in a second outbox would be
      counted twice.  The default outbox lives in the venue's bundle folder.
    - Every pending id is in exactly one place: the send queue or one
      in-flight batch.  A batch that times out is re-sent under a new tag
      with whatever of it is still pending; an ack is an ack whatever tag
      it comes under (the outbox applies each id once).
    - No per-ballot information is logged, and neither the order ballots
      are sealed and committed in nor the order they are sent in follows
      the order of the input: live input waits in the outbox's mixing pool
      and leaves in random order in groups of at least k, file input is
      shuffled before it is sealed (client/mix.h).

    The work is done in modules of their own, each tested alone:
    client/ingest.c takes the input into the outbox, client/send.c keeps
    the send queue and the SUBMITs in flight, client/summary.c says how it
    ended and chooses the exit status.  This file wires them: the flags,
    setup, the connection, the replies, the poll loop, teardown.

    One thread: the ZeroMQ socket, the broker's monitor events and the
    input file descriptor are polled together, so a slow scanner pipe never
    stops acks from being recorded or timeouts from firing.  */
#define _GNU_SOURCE
#include "cli.h"
#include "deploy.h"
#include "envelope.h"
#include "generate.h"
#include "ingest.h"
#include "input.h"
#include "link.h"
#include "msg.h"
#include "outbox.h"
#include "rollup.h"
#include "send.h"
#include "summary.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define PROGRESS_MS 200
#define BAD_LINES_SHOWN 10000 /* bad-line reports printed per run; the rest are counted */
#define HWM 1000
/*  The largest batch that always fits one SUBMIT the broker forwards
    (PINGYI_SUBMIT_FRAME_MAX, 2 MiB less 1 KiB): envelopes of the largest
    size (a bin16 header each), 1 KiB left for the SUBMIT's own fields; 453.  */
#define BATCH_LIMIT                                                                                          \
    ((PINGYI_SUBMIT_FRAME_MAX - 1024) / (PINGYI_ENVELOPE_MAX + 16) < PINGYI_BATCH_MAX                        \
         ? (PINGYI_SUBMIT_FRAME_MAX - 1024) / (PINGYI_ENVELOPE_MAX + 16)                                     \
         : PINGYI_BATCH_MAX)

/*  The client's exit codes, by what they mean here (docs/client.md).  */
enum {
    EXIT_OK = PINGYI_EXIT_OK,
    EXIT_BAD_LINES = PINGYI_EXIT_FAILED,
    EXIT_FATAL = PINGYI_EXIT_START,
    EXIT_GAVE_UP = PINGYI_EXIT_UNREACHED, /* and PINGYI_EXIT_VOID, chosen by client/summary.c */
};

typedef struct {
    const char *deploy;
    const char *venue;
    char **brokers;
    size_t broker_count;
    const char *input;
    const char *format;
    const char *encoding; /* --encoding: utf-8, gb18030 (gbk); default detected */
    bool generate;
    uint64_t generate_n;
    bool has_seed;
    uint64_t seed;
    const char *expect;
    const char *outbox;
    uint64_t window;
    uint64_t batch;
    bool close;
    int64_t issued; /* -1: not given */
    int64_t collected;
    bool json;
    bool quiet;
    bool ingest_only;          /* take the input into the outbox, send nothing */
    bool append;               /* a further batch: the shard may hold others of the venue */
    bool close_with_bad_lines; /* close although bad lines were left unresolved */
    uint64_t shuffle_window;   /* ballots per file window; 0: as memory allows */
    int64_t timeout_ms;
    int64_t give_up_s;
} options_t;

/*  VENUE_OPEN and VENUE_CLOSE: one outstanding request each.  */
typedef struct {
    bool active;
    bool waiting;
    bool stalled;
    uint64_t tag;
    int64_t due;
    unsigned attempts;
    unsigned retries;
} request_t;

typedef struct {
    options_t opt;
    pingyi_bundle_t *bundle;
    const pingyi_election_t *election;
    size_t venue;
    const char *venue_id;
    uint8_t key[32];
    pingyi_outbox_t *outbox;
    char outbox_dir[1024];
    bool closing;
    uint64_t issued;

    /*  The source, and taking it into the outbox (client/ingest.h).  */
    pingyi_input_t *input;
    int input_fd;
    pingyi_generator_t *gen;
    pingyi_ingest_t *ingest;
    bool warned_compact;

    pingyi_send_t *send;      /* the send queue and the SUBMITs in flight (client/send.h) */
    uint8_t ack_key[32];      /* the worker MACs our ACKs and VENUE_STATUS with it */
    uint8_t close_key[32];    /* we MAC our VENUE_CLOSE with it */
    uint64_t forged_acks;     /* ACKs refused: MAC does not verify */
    uint64_t forged_statuses; /* VENUE_STATUS refused: MAC does not verify */
    request_t open, close;
    bool opened;
    char refusal[1600]; /* the open check failed: why, said when there is something to send */
    bool close_answered;
    pingyi_venue_figures_t status;
    bool have_status;

    /*  The connection.  */
    void *ctx, *sock, *mon;
    size_t broker_index;
    unsigned mon_seq;
    bool outstanding;
    int64_t silence_start;
    pingyi_writer_t w;
    uint8_t ack_ids[PINGYI_BATCH_MAX][PINGYI_BALLOT_ID_LEN];
    pingyi_outbox_result_t results[PINGYI_BATCH_MAX];

    /*  Reporting.  */
    bool tty;
    bool progress_shown;
    int64_t start_ms, last_progress_ms, rate_ms;
    uint64_t rate_acked;
    double rate;
    uint64_t bad_shown, bad_hidden;
    bool warned_reject[PINGYI_REJECT_COUNT_];
    bool warned_mismatch, warned_closed, warned_decode, warned_type;
    bool warned_differs; /* a duplicate with other bytes than ours was said */
    int64_t retry_warned_ms;
    int exit_code; /* set when the loop must stop */
    const char *stop_reason;
} client_t;

static volatile sig_atomic_t s_stop = 0;  /* the signal: SIGINT, SIGTERM (pingyi_cli_signals) */
static volatile sig_atomic_t s_flush = 0; /* SIGUSR1: let the mixing pool go */

static void
on_flush (int sig)
{
    s_flush = sig;
}

/*  ---------------------------------------------------------------------
    Messages to the operator  */

static void
clear_progress (client_t *c)
{
    if (c->progress_shown) {
        fputs ("\r\033[K", stderr);
        c->progress_shown = false;
    }
}

static void say (client_t *c, const char *level, const char *fmt, ...) PINGYI_PRINTF (3, 4);

static void
say (client_t *c, const char *level, const char *fmt, ...)
{
    /*  Info lines belong to an operator watching a terminal; a log gets
        warnings and errors only.  */
    if ((c->opt.quiet || !c->tty) && !strcmp (level, "info"))
        return;
    char line[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (line, sizeof line, fmt, ap);
    va_end (ap);
    clear_progress (c);
    pingyi_log (level, "%s", line);
}

static int fatal (client_t *c, const char *fmt, ...) PINGYI_PRINTF (2, 3);

static int
fatal (client_t *c, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (line, sizeof line, fmt, ap);
    va_end (ap);
    clear_progress (c);
    pingyi_error ("%s", line);
    c->exit_code = EXIT_FATAL;
    return -1;
}

/*  A bad record of this run (client/ingest.h): FILE:LINE:COLUMN: reason.  */
static void
on_bad_line (void *arg, const char *line)
{
    client_t *c = arg;
    if (c->bad_shown >= BAD_LINES_SHOWN) {
        c->bad_hidden++;
        return;
    }
    c->bad_shown++;
    clear_progress (c);
    fprintf (stderr, "%s\n", line);
}

/*  ---------------------------------------------------------------------
    The send queue  */

static size_t
queue_len (const client_t *c)
{
    return pingyi_send_queued (c->send);
}

static size_t
ingest_ahead (const client_t *c)
{
    size_t ahead = 4 * (size_t) c->opt.window;
    return ahead > 2 * PINGYI_INGEST_CHUNK ? ahead : 2 * PINGYI_INGEST_CHUNK;
}

/*  ---------------------------------------------------------------------
    Taking input into the outbox  */

/*  The ingest's hooks (client/ingest.h).  */
static int
ingest_queue (void *arg, const uint8_t *id)
{
    client_t *c = arg;
    return pingyi_send_queue (c->send, id);
}

static void
ingest_info (void *arg, const char *text)
{
    say (arg, "info", "%s", text);
}

static void warn_if_closed (client_t *c);

static void
ingest_committed (void *arg)
{
    warn_if_closed (arg);
}

/*  Take what the source has now (client/ingest.c).  */
static int
source_step (client_t *c)
{
    char err[PINGYI_INGEST_ERR_MAX];
    return pingyi_ingest_step (c->ingest, err) ? fatal (c, "%s", err) : 0;
}

/*  SIGUSR1: let the pool go now, whatever it holds.  */
static int
flush_pool (client_t *c)
{
    s_flush = 0;
    char err[PINGYI_INGEST_ERR_MAX];
    return pingyi_ingest_flush (c->ingest, err) ? fatal (c, "%s", err) : 0;
}

/*  Rewrite the outbox file when it is worth it (outbox.h): the envelopes let
    go of, and the order things were written in, do not stay in it.  */
static int
compact_step (client_t *c, bool idle)
{
    char err[PINGYI_ERR_MAX];
    int rc = pingyi_outbox_maybe_compact (c->outbox, idle, err);
    if (rc == -2)
        return fatal (c, "%s", err);
    if (rc == -1 && !c->warned_compact) {
        c->warned_compact = true;
        say (c, "warn",
             "%s: copies of envelopes already acknowledged stay in the outbox until a compaction succeeds",
             err);
    }
    return 0;
}

/*  At exit, whatever happened: rewrite the outbox if anything was written
    since its last compaction.  -1 when the outbox is unusable after it.  */
static int
finish_outbox (client_t *c)
{
    pingyi_outbox_stats_t st;
    pingyi_outbox_stats (c->outbox, &st);
    if (st.compacted)
        return 0;
    char err[PINGYI_ERR_MAX];
    int rc = pingyi_outbox_compact (c->outbox, err);
    if (rc == -2) {
        pingyi_error ("%s", err);
        return -1;
    }
    if (rc)
        pingyi_warn ("%s: copies of envelopes already acknowledged stay in the outbox until the next run",
                     err);
    else
        say (c, "info", "outbox %s rewritten from its live records (%" PRId64 " ms)", c->outbox_dir,
             pingyi_outbox_compact_cost_ms (c->outbox));
    return 0;
}

/*  ---------------------------------------------------------------------
    The connection  */

static int
monitor_start (client_t *c)
{
    char addr[64];
    snprintf (addr, sizeof addr, "inproc://pingyi-client-monitor-%u", c->mon_seq++);
    if (zmq_socket_monitor (c->sock, addr,
                            ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_SUCCEEDED))
        return -1;
    c->mon = zmq_socket (c->ctx, ZMQ_PAIR);
    if (!c->mon)
        return -1;
    int linger = 0;
    zmq_setsockopt (c->mon, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect (c->mon, addr)) {
        zmq_close (c->mon);
        c->mon = NULL;
        return -1;
    }
    return 0;
}

static void
disconnect (client_t *c)
{
    if (c->mon) {
        zmq_socket_monitor (c->sock, NULL, 0);
        zmq_close (c->mon);
        c->mon = NULL;
    }
    if (c->sock) {
        zmq_close (c->sock);
        c->sock = NULL;
    }
}

static int
connect_broker (client_t *c)
{
    const char *endpoint = c->opt.brokers[c->broker_index];
    /*  The window bounds what is in flight, so a small HWM is plenty.  */
    pingyi_link_options_t opts = {.hwm = HWM, .reconnect_ms = 100};
    char err[PINGYI_ERR_MAX];
    const pingyi_bundle_t *b = c->bundle;
    c->sock =
        pingyi_link_dealer (c->ctx, endpoint, b->broker_public, b->curve_public, b->curve_secret, &opts, err);
    if (!c->sock)
        return fatal (c, "%s", err);
    if (monitor_start (c))
        say (c, "warn", "no handshake monitor (%s): key problems will show only as silence",
             zmq_strerror (zmq_errno ()));
    say (c, "info", "venue %s: connecting to broker %s", c->venue_id, endpoint);
    return 0;
}

/*  0 sent, 1 not sent (no connection yet: ZMQ_IMMEDIATE), -1 fatal.  */
static int
send_frame (client_t *c)
{
    if (zmq_send (c->sock, c->w.sbuf.data, c->w.sbuf.size, ZMQ_DONTWAIT) >= 0)
        return 0;
    int e = zmq_errno ();
    if (e == EAGAIN || e == EINTR || e == EHOSTUNREACH)
        return 1;
    return fatal (c, "sending to %s: %s", c->opt.brokers[c->broker_index], zmq_strerror (e));
}

/*  The send window's pingyi_send_fn (client/send.h): keep the ids of the
    batch still pending, pack them in a SUBMIT under tag and send it.  */
static int
send_submit (void *arg, uint64_t tag, uint8_t *ids, uint32_t *count)
{
    client_t *c = arg;
    char err[PINGYI_ERR_MAX];
    if (pingyi_outbox_read_begin (c->outbox, err))
        return fatal (c, "%s", err);
    const uint8_t *envs[PINGYI_BATCH_MAX];
    size_t lens[PINGYI_BATCH_MAX];
    uint32_t n = 0;
    for (uint32_t i = 0; i < *count; i++) {
        const uint8_t *env;
        size_t len;
        int rc = pingyi_outbox_read_get (c->outbox, ids + i * PINGYI_BALLOT_ID_LEN, &env, &len);
        if (rc < 0) {
            pingyi_outbox_read_end (c->outbox);
            return fatal (c, "outbox %s: cannot read a pending envelope", c->outbox_dir);
        }
        if (rc == 0)
            continue; /* acknowledged meanwhile */
        memmove (ids + n * PINGYI_BALLOT_ID_LEN, ids + i * PINGYI_BALLOT_ID_LEN, PINGYI_BALLOT_ID_LEN);
        envs[n] = env;
        lens[n] = len;
        n++;
    }
    *count = n;
    if (!n) {
        pingyi_outbox_read_end (c->outbox);
        return 0;
    }
    pingyi_msg_submit_begin (&c->w, tag, c->election->fingerprint, c->venue_id, n);
    for (uint32_t i = 0; i < n; i++)
        pingyi_msg_envelope (&c->w, envs[i], lens[i]);
    pingyi_outbox_read_end (c->outbox);
    return send_frame (c);
}

/*  The window's own failures are out of memory; the callbacks said theirs.  */
static int
send_failed (client_t *c)
{
    return c->exit_code ? -1 : fatal (c, "out of memory");
}

static int
fill_window (client_t *c, int64_t now)
{
    /*  The open check failed: refused as soon as there is anything to send
        (a run with nothing to send -- the re-run of an earlier batch to
        close the venue -- goes on).  */
    if (c->refusal[0] && queue_len (c))
        return fatal (c, "%s", c->refusal);
    return pingyi_send_fill (c->send, now) ? send_failed (c) : 0;
}

static int
service_request (client_t *c, request_t *r, bool is_open, int64_t now)
{
    if (!r->active || r->due > now)
        return 0;
    if (r->waiting)
        r->attempts++;
    r->tag = pingyi_send_tag (c->send);
    if (is_open)
        pingyi_msg_venue_open (&c->w, r->tag, c->election->fingerprint, c->venue_id);
    else {
        pingyi_outbox_stats_t st;
        pingyi_outbox_stats (c->outbox, &st);
        /* collected counts forms that came back as ballots, not bad lines */
        uint64_t collected = c->opt.collected >= 0 ? (uint64_t) c->opt.collected : st.ingested;
        /* the key of this round: the reopens the VENUE_OPEN's answer showed */
        uint8_t round_key[32];
        pingyi_envelope_close_key_round (round_key, c->close_key, c->have_status ? c->status.reopens : 0);
        pingyi_msg_venue_close (&c->w, r->tag, c->election->fingerprint, c->venue_id, c->issued, collected,
                                st.accepted + st.duplicates + st.rejected, round_key);
        sodium_memzero (round_key, sizeof round_key);
    }
    int rc = send_frame (c);
    if (rc < 0)
        return -1;
    r->stalled = rc == 1;
    if (rc == 1) {
        r->waiting = false;
        r->due = now + PINGYI_SEND_STALL_MS;
        return 0;
    }
    r->waiting = true;
    r->due = now + pingyi_send_timeout (c->opt.timeout_ms, r->attempts);
    return 0;
}

/*  Nothing heard for two timeouts while something is outstanding: the
    broker (or the path to it) is gone.  Close the socket, take the next
    broker of the list, and re-send everything in flight there.  */
static int
failover (client_t *c, int64_t now)
{
    const char *from = c->opt.brokers[c->broker_index];
    disconnect (c);
    c->broker_index = (c->broker_index + 1) % c->opt.broker_count;
    say (c, "warn", "no answer from broker %s for %.1f s; %s %s", from,
         (double) (now - c->silence_start) / 1000,
         c->opt.broker_count > 1 ? "failing over to" : "reconnecting to", c->opt.brokers[c->broker_index]);
    if (connect_broker (c))
        return -1;
    pingyi_send_resend_all (c->send, now);
    request_t *reqs[2] = {&c->open, &c->close};
    for (int i = 0; i < 2; i++)
        if (reqs[i]->active) {
            reqs[i]->waiting = false;
            reqs[i]->due = now;
        }
    c->silence_start = now;
    return 0;
}

/*  ---------------------------------------------------------------------
    Replies  */

/*  After an ACK, the ids of its batch it did not cover that are still
    pending go back to the queue (pingyi_send_pending_fn), so each pending
    id stays in exactly one place; one read transaction for all of them.  */
typedef struct {
    client_t *c;
    bool reading;
} ack_pending_t;

static int
ack_pending (void *arg, const uint8_t *id)
{
    ack_pending_t *p = arg;
    char err[PINGYI_ERR_MAX];
    if (!p->reading) {
        if (pingyi_outbox_read_begin (p->c->outbox, err))
            return fatal (p->c, "%s", err);
        p->reading = true;
    }
    const uint8_t *env;
    size_t len;
    return pingyi_outbox_read_get (p->c->outbox, id, &env, &len) == 1;
}

static int
on_ack (client_t *c, const pingyi_msg_t *m)
{
    pingyi_list_t list = m->u.ack.results;
    pingyi_ack_t a;
    size_t n = 0;
    while (n < PINGYI_BATCH_MAX && pingyi_list_next_ack (&list, &a)) {
        memcpy (c->ack_ids[n], a.ballot_id, PINGYI_BALLOT_ID_LEN);
        c->results[n] = (pingyi_outbox_result_t){
            .id = c->ack_ids[n],
            .status = a.status,
            .reason = a.reason,
            .receipt = a.receipt.p,
            .receipt_len = a.receipt.len,
        };
        /*  One line per reason and run, never per ballot.  */
        if (a.status == PINGYI_ACK_REJECTED && a.reason < PINGYI_REJECT_COUNT_ &&
            !c->warned_reject[a.reason]) {
            c->warned_reject[a.reason] = true;
            say (c, "warn", "the shard rejects ballots of venue %s: %s: %.*s (counted in the summary)",
                 c->venue_id, pingyi_reject_name ((pingyi_reject_t) a.reason),
                 (int) (a.text.len > 300 ? 300 : a.text.len), a.text.p ? a.text.p : "");
        }
        /*  Another envelope is counted under this ballot id: its receipt is
            not ours, so the ballot stays pending (docs/PROTOCOL.md §6).  */
        if (a.status == PINGYI_ACK_DUPLICATE && a.reason == PINGYI_DUPLICATE_DIFFERS && !c->warned_differs) {
            c->warned_differs = true;
            say (c, "warn",
                 "venue %s: the shard holds other bytes under a ballot id we sent (a ballot id sealed "
                 "twice, or an outbox copied between venues): that ballot is not taken as counted and "
                 "stays in the outbox",
                 c->venue_id);
        }
        n++;
    }
    char err[PINGYI_ERR_MAX];
    if (pingyi_outbox_ack (c->outbox, c->results, n, err) < 0)
        return fatal (c, "%s", err);
    for (size_t i = 0; i < n; i++)
        if (c->results[i].mismatch && !c->warned_mismatch) {
            c->warned_mismatch = true;
            say (c, "warn",
                 "a shard answered a tracking code that is not the hash of the envelope we sent: that "
                 "ballot is not taken as counted, it stays in the outbox and is sent again (counted as "
                 "receipt_mismatch)");
        }

    ack_pending_t p = {.c = c};
    int rc = pingyi_send_ack (c->send, m->u.ack.tag, ack_pending, &p);
    if (p.reading)
        pingyi_outbox_read_end (c->outbox);
    return rc < 0 ? send_failed (c) : 0; /* 1: a stale tag, its results applied above all the same */
}

static void
reschedule (client_t *c, uint64_t tag, uint32_t retry_ms, int64_t now)
{
    if (pingyi_send_retry (c->send, tag, retry_ms, now))
        return;
    request_t *reqs[2] = {&c->open, &c->close};
    for (int i = 0; i < 2; i++)
        if (reqs[i]->active && reqs[i]->waiting && reqs[i]->tag == tag) {
            reqs[i]->waiting = false;
            reqs[i]->retries++;
            reqs[i]->due = now + pingyi_send_retry_delay (retry_ms, reqs[i]->retries);
        }
}

/*  Ballots sent to a venue its shard has closed are rejected: say so once,
    when there is something to send.  */
static void
warn_if_closed (client_t *c)
{
    pingyi_outbox_stats_t st;
    pingyi_outbox_stats (c->outbox, &st);
    if (c->have_status && c->status.closed && st.pending && !c->warned_closed) {
        c->warned_closed = true;
        say (c, "warn",
             "venue %s is already closed at its shard: the %" PRIu64 " ballots still to send will be "
             "rejected (venue_closed)",
             c->venue_id, st.pending);
    }
}

/*  The open check (docs/client.md, "One outbox per venue"): the shard's
    ballots of the venue (accepted + rejected; duplicates are resends, not
    ballots) must be accounted for by this outbox: what it recorded as
    acknowledged (accepted + duplicates + rejected), plus its pending
    envelopes outside the pool once it has ever been cleared to send (they
    may be at the shard, their acks lost), plus the ballots of other
    batches taken with --append.  Otherwise another outbox sent ballots of
    this venue -- most likely the same file sealed again under new ids --
    and nothing is sent without --append (the refusal is kept in
    c->refusal and said as soon as there is something to send).  A closed
    venue counts nothing more (everything new is rejected venue_closed): no
    check.  Before the first SUBMIT, the outbox records that it was cleared
    (durably).  */
static int
open_check (client_t *c, const pingyi_venue_figures_t *f)
{
    char err[PINGYI_ERR_MAX];
    pingyi_outbox_stats_t st;
    pingyi_outbox_stats (c->outbox, &st);
    uint64_t recorded = st.accepted + st.duplicates + st.rejected;
    /*  An outbox made before "sending" was recorded that has acks did send.  */
    bool sent = st.sending || recorded > 0;
    uint64_t in_flight = sent ? st.pending - st.pooled : 0;
    uint64_t own = recorded + in_flight;
    uint64_t held = f->accepted + f->rejected;
    uint64_t foreign = st.foreign;
    if (!f->closed && held > own + foreign) {
        if (!c->opt.append) {
            char mine[64];
            if (own + foreign == 0)
                snprintf (mine, sizeof mine, "sent none of them");
            else
                snprintf (mine, sizeof mine, "accounts for only %" PRIu64 " of them", own + foreign);
            snprintf (c->refusal, sizeof c->refusal,
                      "venue %s: the shard already holds %" PRIu64 " ballots of this venue but this "
                      "outbox (%s) %s: is this the same ballot file run from another outbox? If it is a "
                      "further batch of ballots, run again with --append",
                      c->venue_id, held, c->outbox_dir, mine);
            return 0;
        }
        /*  Whatever the shard holds beyond what this outbox recorded is
            another batch's (counting this outbox's unacknowledged
            envelopes as not there errs towards letting a restart through).  */
        foreign = held - recorded;
        say (c, "info",
             "venue %s: --append: the shard holds %" PRIu64 " ballots of this venue from other batches; "
             "sending this outbox's as a further batch",
             c->venue_id, foreign);
    }
    if (pingyi_outbox_set_sending (c->outbox, foreign, err))
        return fatal (c, "%s", err);
    return 0;
}

static int
on_status (client_t *c, const pingyi_msg_t *m)
{
    uint64_t tag = m->u.venue_status.tag;
    if (c->open.active && c->open.waiting && c->open.tag == tag) {
        c->open.active = false;
        c->status = m->u.venue_status.figures;
        c->have_status = true;
        say (c, "info", "venue %s opened: the shard holds %" PRIu64 " accepted ballots of it%s", c->venue_id,
             c->status.accepted, c->status.closed ? " and has it closed" : "");
        if (open_check (c, &c->status))
            return -1;
        c->opened = true;
        warn_if_closed (c);
    }
    else if (c->close.active && c->close.waiting && c->close.tag == tag) {
        char err[PINGYI_ERR_MAX];
        c->close.active = false;
        c->close_answered = true;
        c->status = m->u.venue_status.figures;
        c->have_status = true;
        if (pingyi_outbox_set_closed (c->outbox, err))
            return fatal (c, "%s", err);
    }
    return 0;
}

static int
on_frame (client_t *c, const uint8_t *frame, size_t len, int64_t now)
{
    pingyi_msg_t m;
    char err[PINGYI_ERR_MAX];
    if (pingyi_msg_decode (frame, len, &m, err)) {
        if (!c->warned_decode) {
            c->warned_decode = true;
            say (c, "warn", "ignoring a message from the broker that does not decode: %s", err);
        }
        return 0;
    }
    /* ACK and VENUE_STATUS change what we keep and what we print: only the
       worker holding our shard's key (and we) can compute their MAC, so
       one the broker or another worker made is refused here, counted, and
       our envelopes stay until a genuine ACK names them.  */
    if ((m.type == PINGYI_MSG_ACK || m.type == PINGYI_MSG_VENUE_STATUS) &&
        pingyi_msg_mac_check (frame, &m, c->ack_key)) {
        uint64_t *n = m.type == PINGYI_MSG_ACK ? &c->forged_acks : &c->forged_statuses;
        (*n)++;
        if (*n == 1 || *n % 100 == 0)
            say (c, "warn",
                 "refused %" PRIu64 " %s message%s whose MAC does not verify: not from the worker of our "
                 "shard (forged or misrouted); our envelopes stay in the outbox until a genuine ACK",
                 *n, pingyi_msg_type_name (m.type), *n == 1 ? "" : "s");
        return 0;
    }
    switch (m.type) {
    case PINGYI_MSG_ACK:
        return on_ack (c, &m);
    case PINGYI_MSG_RETRY:
        /*  Usually no worker owns the venue's shard right now: say so once
            in a while, not once per batch.  */
        if (!c->retry_warned_ms || now - c->retry_warned_ms >= 30000) {
            c->retry_warned_ms = now;
            say (c, "warn", "broker says retry later: %.*s (resending with backoff)",
                 (int) (m.u.retry.reason.len > 300 ? 300 : m.u.retry.reason.len),
                 m.u.retry.reason.p ? m.u.retry.reason.p : "");
        }
        reschedule (c, m.u.retry.tag, m.u.retry.retry_ms, now);
        return 0;
    case PINGYI_MSG_VENUE_STATUS:
        return on_status (c, &m);
    case PINGYI_MSG_ERROR: {
        uint32_t code = m.u.error.code;
        int tlen = (int) (m.u.error.text.len > 400 ? 400 : m.u.error.text.len);
        const char *text = m.u.error.text.p ? m.u.error.text.p : "";
        /*  A refusal carries the tag of the request it refuses; tag 0 means
            the other end could not read one (docs/PROTOCOL.md §2): then it
            may be meant for any request in flight.  */
        char which[96];
        uint32_t batch_size;
        if (m.u.error.tag && pingyi_send_batch_size (c->send, m.u.error.tag, &batch_size))
            snprintf (which, sizeof which, " to our SUBMIT of %" PRIu32 " envelopes (tag %" PRIu64 ")",
                      batch_size, m.u.error.tag);
        else if (m.u.error.tag && c->open.active && c->open.tag == m.u.error.tag)
            snprintf (which, sizeof which, " to our VENUE_OPEN (tag %" PRIu64 ")", m.u.error.tag);
        else if (m.u.error.tag && c->close.active && c->close.tag == m.u.error.tag)
            snprintf (which, sizeof which, " to our VENUE_CLOSE (tag %" PRIu64 ")", m.u.error.tag);
        else if (m.u.error.tag)
            snprintf (which, sizeof which, " to our request with tag %" PRIu64, m.u.error.tag);
        else
            snprintf (which, sizeof which, " (tag 0: to a request the other end could not read)");
        if (code == PINGYI_ERROR_FORBIDDEN || code == PINGYI_ERROR_UNKNOWN_VENUE ||
            code == PINGYI_ERROR_WRONG_ELECTION)
            return fatal (c, "refused (%s)%s: %.*s", pingyi_error_strerror (code), which, tlen, text);
        if (code == PINGYI_ERROR_BAD_MESSAGE)
            return fatal (
                c, "the broker or worker could not read our message (%s)%s: %.*s — a bug, please report it",
                pingyi_error_strerror (code), which, tlen, text);
        /*  INTERNAL and the like: the other end has a problem it may get
            over; try that request again later.  */
        say (c, "warn", "error from the other end (%s)%s: %.*s; trying again later",
             pingyi_error_strerror (code), which, tlen, text);
        reschedule (c, m.u.error.tag, 1000, now);
        return 0;
    }
    default:
        if (!c->warned_type) {
            c->warned_type = true;
            say (c, "warn", "ignoring an unexpected %s message from the broker",
                 pingyi_msg_type_name (m.type));
        }
        return 0;
    }
}

static int
drain_socket (client_t *c, int64_t now)
{
    for (;;) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        int rc = zmq_msg_recv (&msg, c->sock, ZMQ_DONTWAIT);
        if (rc < 0) {
            zmq_msg_close (&msg);
            int e = zmq_errno ();
            if (e == EAGAIN || e == EINTR)
                return 0;
            return fatal (c, "receiving from %s: %s", c->opt.brokers[c->broker_index], zmq_strerror (e));
        }
        c->silence_start = now; /* anything at all proves the path works */
        bool more = zmq_msg_more (&msg);
        int result = 0;
        if (!more)
            result = on_frame (c, zmq_msg_data (&msg), zmq_msg_size (&msg), now);
        zmq_msg_close (&msg);
        if (more) {
            /*  Not ours: every reply is one frame.  Drop the rest of it.  */
            int64_t more_flag = 1;
            size_t size = sizeof more_flag;
            while (zmq_getsockopt (c->sock, ZMQ_RCVMORE, &more_flag, &size) == 0 && more_flag) {
                zmq_msg_init (&msg);
                zmq_msg_recv (&msg, c->sock, ZMQ_DONTWAIT);
                zmq_msg_close (&msg);
            }
            if (!c->warned_decode) {
                c->warned_decode = true;
                say (c, "warn", "ignoring a multi-frame message from the broker");
            }
        }
        if (result)
            return result;
    }
}

static void
drain_monitor (client_t *c)
{
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init (&ev);
        if (zmq_msg_recv (&ev, c->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&ev);
            return;
        }
        zmq_msg_init (&addr);
        zmq_msg_recv (&addr, c->mon, ZMQ_DONTWAIT);
        if (zmq_msg_size (&ev) >= 6) {
            const uint8_t *d = zmq_msg_data (&ev);
            uint16_t event;
            uint32_t value;
            memcpy (&event, d, 2);
            memcpy (&value, d + 2, 4);
            const char *endpoint = c->opt.brokers[c->broker_index];
            if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
                say (c, "warn",
                     "broker %s refuses this venue's key (ZAP status %u): is venue %s in its keyring?",
                     endpoint, value, c->venue_id);
            else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
                say (c, "warn",
                     "CURVE handshake with %s failed (protocol error 0x%x): is the broker key in the "
                     "bundle the one this broker uses?",
                     endpoint, value);
            else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
                say (c, "warn", "handshake with %s failed (%s)", endpoint, zmq_strerror ((int) value));
            else if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
                say (c, "info", "connected to broker %s", endpoint);
        }
        zmq_msg_close (&addr);
        zmq_msg_close (&ev);
    }
}

/*  ---------------------------------------------------------------------
    Progress and summary  */

static void
progress (client_t *c, int64_t now, bool force)
{
    if (!c->tty || c->opt.quiet || (!force && now - c->last_progress_ms < PROGRESS_MS))
        return;
    pingyi_outbox_stats_t st;
    pingyi_outbox_stats (c->outbox, &st);
    uint64_t acked = st.accepted + st.duplicates + st.rejected;
    if (c->rate_ms && now > c->rate_ms) {
        double inst = (double) (acked - c->rate_acked) * 1000.0 / (double) (now - c->rate_ms);
        c->rate = c->rate ? 0.7 * c->rate + 0.3 * inst : inst;
    }
    c->rate_ms = now;
    c->rate_acked = acked;
    c->last_progress_ms = now;
    char eta[32] = "";
    if (pingyi_ingest_done (c->ingest) && c->rate > 1 && st.pending) {
        uint64_t s = (uint64_t) ((double) st.pending / c->rate) + 1;
        snprintf (eta, sizeof eta, "  ETA %" PRIu64 ":%02" PRIu64, s / 60, s % 60);
    }
    fprintf (stderr,
             "\r\033[K%s: read %" PRIu64 " (bad %" PRIu64 ")  sent %" PRIu64 "  acked %" PRIu64
             " (dup %" PRIu64 ", rej %" PRIu64 ")  pending %" PRIu64 "  %.0f/s%s",
             c->venue_id, st.ingested, st.bad_lines, pingyi_send_sent (c->send), acked, st.duplicates,
             st.rejected, st.pending, c->rate, eta);
    c->progress_shown = true;
}

/*  The figures the summary is made of (client/summary.h).  */
static void
summary_of (const client_t *c, pingyi_summary_t *s, const char *receipts, uint64_t receipt_count,
            bool receipts_ok)
{
    *s = (pingyi_summary_t){
        .venue_id = c->venue_id,
        .seconds = (double) (pingyi_now_ms () - c->start_ms) / 1000.0,
        .receipts = receipts,
        .receipt_count = receipt_count,
        .receipts_ok = receipts_ok,
        .forged_acks = c->forged_acks,
        .forged_statuses = c->forged_statuses,
        .stopped = c->stop_reason,
        .reconciled = c->close_answered && c->have_status,
        .figures = c->status,
    };
    pingyi_outbox_stats (c->outbox, &s->outbox);
}

/*  ---------------------------------------------------------------------
    Options  */

/*  The flags into o.  0, or -1 with *status to exit with (0 after --help
    and --version; the message and the usage printed).  */
static int
parse_options (int argc, char **argv, options_t *o, int *status)
{
    *o = (options_t){.window = 4096, .batch = 256, .issued = -1, .collected = -1, .timeout_ms = 3000};
    pingyi_cli_list_t brokers = {0};
    uint64_t issued = 0, collected = 0, timeout_ms = 3000, give_up_s = 0;
    bool has_issued = false, has_collected = false;
    const pingyi_cli_option_t options[] = {
        PINGYI_CLI_OPT_TEXT ("deploy", &o->deploy, "DIR",
                             "deploy directory (the venue's bundle is DIR/venue/ID)"),
        PINGYI_CLI_OPT_TEXT ("venue", &o->venue, "ID", "this venue"),
        PINGYI_CLI_OPT_ENDPOINTS ("broker", &brokers, "LIST",
                                  "broker endpoints, tried in turn on failure (comma-separated or\n"
                                  "the flag repeated)"),
        PINGYI_CLI_OPT_TEXT ("input", &o->input, "FILE",
                             "ballots as CSV or JSONL (by extension, or --format); - is stdin"),
        PINGYI_CLI_OPT_TEXT ("format", &o->format, "csv|jsonl", "the input's format (default: by extension)"),
        PINGYI_CLI_OPT_TEXT ("encoding", &o->encoding, "E",
                             "the input's encoding: utf-8, gb18030 or gbk (the same decoder);\n"
                             "default: valid UTF-8 is UTF-8, anything else GB18030"),
        {.name = "generate",
         .kind = PINGYI_CLI_U64,
         .target = &o->generate_n,
         .value_name = "N",
         .help = "a reproducible drill of N ballots from --seed S",
         .min = 0,
         .max = UINT64_C (1) << 40,
         .given = &o->generate},
        {.name = "seed",
         .kind = PINGYI_CLI_U64,
         .target = &o->seed,
         .value_name = "S",
         .help = "the drill's seed: the same seed gives the same ballots",
         .min = 0,
         .max = UINT64_MAX,
         .given = &o->has_seed},
        PINGYI_CLI_OPT_TEXT ("expect", &o->expect, "FILE",
                             "with --generate: write the exact expected tally as JSON"),
        PINGYI_CLI_OPT_TEXT ("outbox", &o->outbox, "DIR",
                             "the durable outbox (default: the venue's bundle folder's outbox,\n"
                             "DIR/venue/ID/outbox, whatever the working directory)"),
        PINGYI_CLI_OPT_U64 ("window", &o->window, "N", "envelopes in flight (1..1048576, default 4096)", 1,
                            1u << 20),
        PINGYI_CLI_OPT_U64 ("batch", &o->batch, "N", "envelopes per SUBMIT (default 256)", 1, BATCH_LIMIT),
        PINGYI_CLI_OPT_FLAG ("close", &o->close,
                             "close the venue when everything is acknowledged (held back while\n"
                             "bad lines are unresolved: exit 1)"),
        PINGYI_CLI_OPT_FLAG ("close-with-bad-lines", &o->close_with_bad_lines,
                             "close although bad lines were not counted"),
        {.name = "issued",
         .kind = PINGYI_CLI_U64,
         .target = &issued,
         .value_name = "N",
         .help = "ballots issued (default: the definition's); implies --close",
         .min = 0,
         .max = INT64_MAX,
         .given = &has_issued},
        {.name = "collected",
         .kind = PINGYI_CLI_U64,
         .target = &collected,
         .value_name = "M",
         .help = "ballots collected (default: the ballots read, bad lines not\nincluded); implies --close",
         .min = 0,
         .max = INT64_MAX,
         .given = &has_collected},
        PINGYI_CLI_OPT_FLAG ("json", &o->json, "print the final summary as one JSON object on stdout"),
        PINGYI_CLI_OPT_FLAG ("quiet", &o->quiet, "no progress line, no info messages"),
        PINGYI_CLI_OPT_U64 ("timeout-ms", &timeout_ms, "T",
                            "resend a SUBMIT unanswered after T ms (10..3600000, default 3000,\n"
                            "doubling to 10 s)",
                            10, 3600000),
        PINGYI_CLI_OPT_U64 ("give-up-s", &give_up_s, "S",
                            "stop after S seconds with exit status 3 (default 0: never)", 0, 100000000),
        PINGYI_CLI_OPT_FLAG ("ingest-only", &o->ingest_only,
                             "seal the whole input into the outbox and exit; send nothing"),
        PINGYI_CLI_OPT_U64 ("shuffle-window", &o->shuffle_window, "N",
                            "a file's ballots are shuffled N at a time before sealing (default:\n"
                            "all that fit 64 MiB, at least k x 100; k is the definition's\n"
                            "k_anonymity)",
                            1, UINT64_C (1) << 40),
        PINGYI_CLI_OPT_FLAG ("append", &o->append,
                             "a further batch of ballots: send even though the shard already\n"
                             "holds ballots of this venue that this outbox did not send"),
        PINGYI_CLI_END,
    };
    pingyi_cli_t cli = {
        .prog = "pingyi-client",
        .synopsis = "pingyi-client --deploy DIR --venue ID --broker ENDPOINT[,ENDPOINT...]\n"
                    "                     (--input FILE|- [--format csv|jsonl] [--encoding E]\n"
                    "                      | --generate N --seed S [--expect FILE.json])\n"
                    "                     [--outbox DIR] [--window N] [--batch N] [--close] [--issued N] "
                    "[--collected M]\n"
                    "                     [--close-with-bad-lines] [--json] [--quiet] [--timeout-ms T]\n"
                    "                     [--give-up-s S] [--ingest-only] [--shuffle-window N] [--append]",
        .epilogue =
            "Live input (stdin, a pipe, a device) waits in the outbox's mixing pool and is sent in random\n"
            "order in groups of at least k; SIGUSR1 lets the pool go at once.\n"
            "\n"
            "exit status: 0 all acknowledged (and closed if asked); 1 the same, but bad input lines were\n"
            "found; 2 fatal error; 3 gave up or interrupted before everything was acknowledged; 4 VOID:\n"
            "the close was answered and the round does not reconcile\n",
        .options = options,
        .logs = true,
    };
    int rc = pingyi_cli_parse (&cli, argc, argv, status);
    /* the endpoints are the options' from here on (teardown frees them) */
    o->brokers = brokers.items;
    o->broker_count = brokers.count;
    if (rc)
        return -1;
    o->issued = has_issued ? (int64_t) issued : -1;
    o->collected = has_collected ? (int64_t) collected : -1;
    o->timeout_ms = (int64_t) timeout_ms;
    o->give_up_s = (int64_t) give_up_s;
    *status = EXIT_FATAL;
    const char *missing = !o->deploy                            ? "--deploy DIR"
                          : !o->venue                           ? "--venue ID"
                          : !o->broker_count && !o->ingest_only ? "--broker ENDPOINT"
                                                                : NULL;
    if (missing) {
        pingyi_cli_fail (&cli, "%s is required", missing);
        return -1;
    }
    if (!!o->input == o->generate) {
        pingyi_cli_fail (&cli, "give exactly one of --input FILE and --generate N");
        return -1;
    }
    if (o->generate && !o->has_seed) {
        pingyi_cli_fail (&cli, "--generate needs --seed S (the same seed gives the same ballots)");
        return -1;
    }
    if (o->expect && !o->generate) {
        pingyi_cli_fail (&cli, "--expect goes with --generate");
        return -1;
    }
    if ((o->format || o->encoding) && o->generate) {
        pingyi_cli_fail (&cli, "--format and --encoding go with --input");
        return -1;
    }
    if (o->batch > o->window)
        o->batch = o->window;
    return 0;
}

/*  ---------------------------------------------------------------------
    Running  */

static int
setup (client_t *c)
{
    options_t *o = &c->opt;
    char err[PINGYI_ERR_MAX];
    c->bundle = pingyi_bundle_load (o->deploy, PINGYI_ROLE_VENUE, o->venue, err);
    if (!c->bundle)
        return fatal (c, "%s", err);
    c->election = c->bundle->election;
    int v = pingyi_election_venue (c->election, o->venue, strlen (o->venue));
    if (v < 0)
        return fatal (c, "venue %s is not in the election definition of %s", o->venue, c->bundle->path);
    c->venue = (size_t) v;
    c->venue_id = c->election->venues[v].id;

    c->closing = o->close || o->issued >= 0 || o->collected >= 0;
    if (c->closing) {
        int64_t issued = o->issued >= 0 ? o->issued : c->election->venues[v].issued;
        if (issued < 0)
            return fatal (c, "closing venue %s needs --issued N: the definition gives no \"issued\" for it",
                          c->venue_id);
        c->issued = (uint64_t) issued;
        char why[PINGYI_ERR_MAX];
        if (pingyi_venue_close_allowed (c->election, c->venue, c->issued, why, sizeof why))
            return fatal (c, "%s", why);
    }
    if (o->generate && o->expect) {
        if (pingyi_generator_write_expect (c->election, c->venue, o->seed, o->generate_n, o->expect, err))
            return fatal (c, "%s", err);
        say (c, "info", "expected tally of the drill written to %s", o->expect);
    }
    if (pingyi_envelope_key (c->key, c->bundle->shard_public, c->bundle->box_secret))
        return fatal (c, "cannot derive the envelope key from the bundle's box keys (%s)", c->bundle->path);
    pingyi_envelope_link_keys (c->ack_key, c->close_key, c->key);

    /*  One outbox per venue wherever the client is started: by default it
        lives in the venue's bundle folder (DIR/venue/ID, or the copied
        bundle folder), by its real path, never in the working directory.  */
    if (o->outbox)
        snprintf (c->outbox_dir, sizeof c->outbox_dir, "%s", o->outbox);
    else {
        char real[PATH_MAX];
        if (!realpath (c->bundle->path, real))
            return fatal (c, "%s: cannot resolve the venue's bundle folder: %s", c->bundle->path,
                          strerror (errno));
        int n = snprintf (c->outbox_dir, sizeof c->outbox_dir, "%s/outbox", real);
        if (n < 0 || (size_t) n >= sizeof c->outbox_dir)
            return fatal (c, "%s/outbox: path too long for the outbox (give --outbox DIR)", real);
    }
    c->outbox = pingyi_outbox_open (c->outbox_dir, c->election->fingerprint, c->venue_id, err);
    if (!c->outbox)
        return fatal (c, "%s%s", err,
                      o->outbox ? "" : " (the default outbox; --outbox DIR sets another place)");
    pingyi_outbox_stats_t st;
    pingyi_outbox_stats (c->outbox, &st);

    if (o->generate) {
        c->gen = pingyi_generator_new (c->election, c->venue, o->seed, o->generate_n);
        if (!c->gen)
            return fatal (c, "cannot start the generator (out of memory?)");
    }
    else {
        pingyi_input_format_t format = pingyi_input_format_for (o->input);
        if (o->format && pingyi_input_format_parse (o->format, &format))
            return fatal (c, "--format %s: expected csv or jsonl", o->format);
        pingyi_input_encoding_t encoding = PINGYI_ENCODING_AUTO;
        if (o->encoding && pingyi_input_encoding_parse (o->encoding, &encoding))
            return fatal (c, "--encoding %s: expected utf-8, gb18030 or gbk", o->encoding);
        if (!strcmp (o->input, "-"))
            c->input_fd = STDIN_FILENO;
        else if ((c->input_fd = open (o->input, O_RDONLY | O_CLOEXEC)) < 0)
            return fatal (c, "%s: cannot open: %s", o->input, strerror (errno));
        c->input = pingyi_input_new (c->election, c->venue, format, o->input);
        if (!c->input)
            return fatal (c, "out of memory");
        /*  A regular file is judged whole (a large prefix) before any line
            is taken; live input on its first line that is not ASCII.  */
        struct stat in_st;
        pingyi_input_set_encoding (c->input, encoding,
                                   fstat (c->input_fd, &in_st) == 0 && S_ISREG (in_st.st_mode));
    }

    pingyi_ingest_config_t ingest = {
        .election = c->election,
        .venue = c->venue,
        .key = c->key,
        .outbox = c->outbox,
        .outbox_dir = c->outbox_dir,
        .input = c->input,
        .input_fd = c->input_fd,
        .input_name = o->input,
        .gen = c->gen,
        .shuffle_window = o->shuffle_window,
        .hooks = {.arg = c,
                  .queue = ingest_queue,
                  .bad_line = on_bad_line,
                  .info = ingest_info,
                  .committed = ingest_committed},
    };
    c->ingest = pingyi_ingest_new (&ingest);
    if (!c->ingest)
        return fatal (c, "out of memory");

    /* Tags start at a random point so that an answer recorded in an earlier
       run (a VENUE_STATUS, say) cannot be replayed to match a request of
       this one: its MAC covers the tag.  */
    uint64_t first_tag;
    randombytes_buf (&first_tag, sizeof first_tag);
    c->send = pingyi_send_new ((size_t) o->window, (size_t) o->batch, o->timeout_ms, (first_tag >> 1) + 1,
                               send_submit, c);
    if (!c->send)
        return fatal (c, "out of memory");
    uint8_t *ids;
    size_t count;
    if (pingyi_outbox_pending_ids (c->outbox, &ids, &count, err))
        return fatal (c, "%s", err);
    for (size_t i = 0; i < count; i++)
        if (pingyi_send_queue (c->send, ids + i * PINGYI_BALLOT_ID_LEN)) {
            free (ids);
            return fatal (c, "out of memory");
        }
    free (ids);
    if (count)
        say (c, "info",
             "outbox %s: %zu ballots of an earlier run still wait for an acknowledgement; sending them",
             c->outbox_dir, count);
    if (st.closed)
        say (c, "info", "outbox %s: this venue's close was answered in an earlier run", c->outbox_dir);

    if (o->ingest_only)
        return 0;
    c->ctx = zmq_ctx_new ();
    if (!c->ctx)
        return fatal (c, "cannot start ZeroMQ: %s", zmq_strerror (zmq_errno ()));
    pingyi_writer_init (&c->w);
    c->open = (request_t){.active = true, .due = 0};
    return connect_broker (c);
}

static bool
finished (client_t *c)
{
    pingyi_outbox_stats_t st;
    pingyi_outbox_stats (c->outbox, &st);
    return pingyi_ingest_done (c->ingest) && st.pending == 0 && (!c->closing || c->close_answered);
}

/*  --ingest-only: take the whole input into the outbox (each chunk sealed
    and committed as usual) and stop.  A later run on the same outbox sends
    it; a copy of the outbox holds the very same envelopes.  */
static int
ingest_all (client_t *c)
{
    int64_t give_up_at = c->opt.give_up_s ? c->start_ms + c->opt.give_up_s * 1000 : INT64_MAX;
    while (!pingyi_ingest_done (c->ingest)) {
        int64_t now = pingyi_now_ms ();
        if (s_stop) {
            c->stop_reason = "interrupted";
            return EXIT_GAVE_UP;
        }
        if (now >= give_up_at) {
            c->stop_reason = "gave up (--give-up-s)";
            return EXIT_GAVE_UP;
        }
        if (s_flush && flush_pool (c))
            return EXIT_FATAL;
        if (pingyi_ingest_live (c->ingest) && compact_step (c, true))
            return EXIT_FATAL;
        if (!pingyi_ingest_ready (c->ingest)) {
            struct pollfd p = {.fd = c->input_fd, .events = POLLIN};
            int rc = poll (&p, 1, PROGRESS_MS);
            if (rc < 0 && errno != EINTR) {
                fatal (c, "poll: %s", strerror (errno));
                return EXIT_FATAL;
            }
            if (rc <= 0)
                continue;
            pingyi_ingest_set_ready (c->ingest);
        }
        if (source_step (c))
            return EXIT_FATAL;
        progress (c, now, false);
    }
    return EXIT_OK;
}

static int
run (client_t *c)
{
    int64_t give_up_at = c->opt.give_up_s ? c->start_ms + c->opt.give_up_s * 1000 : INT64_MAX;
    c->silence_start = pingyi_now_ms ();
    for (;;) {
        pingyi_log_poll (); /* a SIGHUP's reopen of --log-file */
        int64_t now = pingyi_now_ms ();
        if (s_stop) {
            c->stop_reason = "interrupted";
            return EXIT_GAVE_UP;
        }
        if (now >= give_up_at) {
            c->stop_reason = "gave up (--give-up-s)";
            return EXIT_GAVE_UP;
        }
        if (s_flush && flush_pool (c))
            return EXIT_FATAL;
        if (!pingyi_ingest_done (c->ingest) && pingyi_ingest_ready (c->ingest) &&
            queue_len (c) < ingest_ahead (c) && source_step (c))
            return EXIT_FATAL;

        /*  Close only when every ballot taken in is acknowledged, so the
            sent count the shard records is final.  */
        pingyi_outbox_stats_t st;
        pingyi_outbox_stats (c->outbox, &st);
        if (c->closing && pingyi_ingest_done (c->ingest) && st.pending == 0 && !c->close.active &&
            !c->close_answered && c->opened) {
            /*  A close freezes the venue's round: bad lines left unresolved
                are forms that were collected and not counted, so they hold
                the close back unless the clerk decides otherwise.  */
            if (st.bad_lines && !c->opt.close_with_bad_lines) {
                say (c, "error",
                     "venue %s: %" PRIu64 " bad line%s (listed above) %s not counted: the close is not sent; "
                     "correct them and run again, or give --close-with-bad-lines to close without them",
                     c->venue_id, st.bad_lines, st.bad_lines == 1 ? "" : "s",
                     st.bad_lines == 1 ? "is" : "are");
                c->stop_reason = "close held back: bad lines";
                return EXIT_BAD_LINES;
            }
            c->close = (request_t){.active = true, .due = now};
        }

        if (service_request (c, &c->open, true, now) || service_request (c, &c->close, false, now))
            return EXIT_FATAL;
        if (c->opened && (fill_window (c, now) || (pingyi_send_service (c->send, now) && send_failed (c))))
            return EXIT_FATAL;
        if (c->exit_code)
            return c->exit_code;
        if (finished (c))
            return EXIT_OK;

        /*  Waiting for an answer (or for a connection to send on); a
            batch held back by a RETRY is not: the broker did answer.  */
        bool outstanding = (c->open.active && (c->open.waiting || c->open.stalled)) ||
                           (c->close.active && (c->close.waiting || c->close.stalled));
        outstanding = outstanding || pingyi_send_outstanding (c->send);
        if (outstanding && !c->outstanding)
            c->silence_start = now;
        c->outstanding = outstanding;
        if (outstanding && now - c->silence_start >= 2 * c->opt.timeout_ms) {
            if (failover (c, now))
                return EXIT_FATAL;
            continue;
        }

        int64_t next = pingyi_send_next_due (c->send, now + PROGRESS_MS);
        if (c->open.active && c->open.due < next)
            next = c->open.due;
        if (c->close.active && c->close.due < next)
            next = c->close.due;
        if (outstanding && c->silence_start + 2 * c->opt.timeout_ms < next)
            next = c->silence_start + 2 * c->opt.timeout_ms;
        if (give_up_at < next)
            next = give_up_at;
        if (!pingyi_ingest_done (c->ingest) && pingyi_ingest_ready (c->ingest) &&
            queue_len (c) < ingest_ahead (c))
            next = now;

        zmq_pollitem_t items[3];
        int n = 0, sock_i = -1, mon_i = -1, in_i = -1;
        items[n] = (zmq_pollitem_t){.socket = c->sock, .events = ZMQ_POLLIN};
        sock_i = n++;
        if (c->mon) {
            items[n] = (zmq_pollitem_t){.socket = c->mon, .events = ZMQ_POLLIN};
            mon_i = n++;
        }
        if (c->input && !pingyi_ingest_done (c->ingest) && !pingyi_ingest_ready (c->ingest) &&
            queue_len (c) < ingest_ahead (c)) {
            items[n] = (zmq_pollitem_t){.socket = NULL, .fd = c->input_fd, .events = ZMQ_POLLIN};
            in_i = n++;
        }
        long wait = next > now ? (long) (next - now) : 0;
        int rc = zmq_poll (items, n, wait);
        if (rc < 0) {
            if (zmq_errno () == EINTR)
                continue;
            fatal (c, "poll: %s", zmq_strerror (zmq_errno ()));
            return EXIT_FATAL;
        }
        now = pingyi_now_ms ();
        if (items[sock_i].revents & ZMQ_POLLIN && drain_socket (c, now))
            return EXIT_FATAL;
        if (mon_i >= 0 && items[mon_i].revents & ZMQ_POLLIN)
            drain_monitor (c);
        if (in_i >= 0 && items[in_i].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) {
            pingyi_ingest_set_ready (c->ingest);
            if (source_step (c))
                return EXIT_FATAL;
        }
        if (compact_step (c, pingyi_send_inflight (c->send) == 0 && queue_len (c) == 0))
            return EXIT_FATAL;
        progress (c, now, false);
    }
}

static void
teardown (client_t *c)
{
    pingyi_writer_fini (&c->w);
    disconnect (c);
    if (c->ctx)
        zmq_ctx_term (c->ctx);
    pingyi_send_destroy (&c->send);
    pingyi_ingest_destroy (&c->ingest);
    pingyi_input_destroy (&c->input);
    pingyi_generator_destroy (&c->gen);
    if (c->input_fd > STDIN_FILENO)
        close (c->input_fd);
    pingyi_outbox_close (&c->outbox);
    sodium_memzero (c->key, sizeof c->key);
    pingyi_bundle_destroy (&c->bundle);
    for (size_t i = 0; i < c->opt.broker_count; i++)
        free (c->opt.brokers[i]);
    free (c->opt.brokers);
}

int
main (int argc, char **argv)
{
    pingyi_log_prog = "pingyi-client";
    client_t *c = calloc (1, sizeof *c);
    if (!c) {
        fprintf (stderr, "pingyi-client: out of memory\n");
        return EXIT_FATAL;
    }
    c->input_fd = -1;
    int status;
    if (parse_options (argc, argv, &c->opt, &status)) {
        teardown (c);
        free (c);
        return status;
    }
    if (sodium_init () < 0) {
        fprintf (stderr, "pingyi-client: libsodium cannot start\n");
        teardown (c);
        free (c);
        return EXIT_FATAL;
    }
    pingyi_cli_signals (&s_stop);
    struct sigaction flush = {.sa_handler = on_flush};
    sigemptyset (&flush.sa_mask);
    sigaction (SIGUSR1, &flush, NULL);
    c->tty = isatty (STDERR_FILENO);
    c->start_ms = pingyi_now_ms ();

    int code = setup (c) ? EXIT_FATAL : c->opt.ingest_only ? ingest_all (c) : run (c);
    clear_progress (c);
    if (c->outbox && finish_outbox (c))
        code = EXIT_FATAL;
    if (code != EXIT_FATAL && c->outbox) {
        char path[1100], err[PINGYI_ERR_MAX];
        uint64_t count = 0;
        bool ok = pingyi_outbox_write_receipts (c->outbox, path, sizeof path, &count, err) == 0;
        if (!ok)
            pingyi_warn ("%s", err);
        pingyi_summary_t sum;
        summary_of (c, &sum, path, count, ok);
        pingyi_summary_print (&sum, c->opt.json, stdout);
        code = pingyi_summary_exit_code (&sum, code);
        if (c->bad_hidden)
            pingyi_warn ("%" PRIu64 " more bad lines were not shown (%" PRIu64 " shown)", c->bad_hidden,
                         c->bad_shown);
    }
    teardown (c);
    free (c);
    return code;
}
