/*  loadgen.c — pingyi-loadgen: many venues from one process, for benchmarks.

    Each venue is what a real venue client is on the wire: its own bundle
    (pingyi_bundle_load per venue: its own CURVE key pair and box key), its
    own CURVE DEALER (pingyi_link_dealer), ballots from the drill generator
    sealed with the real envelope code, VENUE_OPEN first, then windowed
    SUBMITs (--window envelopes in flight, --batch per SUBMIT), resent under
    a new tag after a timeout or a RETRY (backing off as the client does).
    The sockets are watched through their ZMQ_FDs in one epoll set: a
    zmq_poll over 1,200 sockets per turn costs more than the traffic.  What
    it leaves out is the client's durable outbox: a benchmark venue keeps its
    envelopes in memory (the outbox costs the venue's disk, not the count's).

    Why seal everything before the clock starts: on this box the load
    generator shares two cores with the broker and the workers, while real
    venues are other machines.  Sealing up front (and reporting the time it
    took) keeps the measured rate the count's, not the generator's.

    Ack latency is per ballot, from the send of its SUBMIT to the ACK that
    answers it (a resend keeps the first send time, so a lost message shows
    up as latency), in a histogram of 10 µs buckets up to 100 ms and 1 ms
    buckets beyond.  With --rate the venues are paced together to that many
    ballots per second (what each has accrued goes out every --tick-ms), to
    measure latency below saturation.

    The last line on stdout is one JSON object: ballots, seconds,
    ballots_per_s, ack_p50_ms, ack_p99_ms, ack_max_ms and counts of what
    happened.  Exit 0 when every ballot was acknowledged as accepted (or as
    a duplicate of an accepted resend), 1 otherwise.  */
#define _GNU_SOURCE
#include "ballot.h"
#include "deploy.h"
#include "envelope.h"
#include "generate.h"
#include "link.h"
#include "msg.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define FINE_BUCKETS 10000   /* 10 µs each: 0 .. 100 ms */
#define COARSE_BUCKETS 60000 /* 1 ms each: 100 ms .. 60.1 s */
#define OPEN_TIMEOUT_MS 60000
#define RETRY_MIN_MS 50
#define RETRY_MAX_MS 10000
#define SCAN_US 5000 /* every venue is looked at this often (resends, pacing) */

/*  A SUBMIT in flight: a run of the venue's ballots [first, first+count).  */
typedef struct {
    uint64_t tag;
    uint32_t first;
    uint32_t count;
    int64_t first_sent_us; /* latency is measured from here */
    int64_t due_us;        /* waiting: resend after; else: send at */
    bool waiting;          /* sent, no answer yet */
    unsigned resends;      /* after a timeout */
    unsigned retries;      /* RETRY answers to it */
} submit_t;

typedef struct {
    size_t index; /* in the election */
    const char *id;
    size_t id_len;
    void *sock;
    uint8_t key[32];
    uint8_t ack_key[32], close_key[32]; /* link keys: ACKs are checked as the real client does */
    uint8_t curve_public[PINGYI_KEY_LEN];
    uint8_t curve_secret[PINGYI_KEY_LEN];
    uint32_t count; /* ballots of this venue */
    uint8_t *arena; /* sealed envelopes, back to back */
    uint32_t *off;  /* count + 1 offsets into arena */
    uint32_t next;  /* next ballot never sent */
    uint32_t acked; /* ballots answered */
    uint32_t inflight;
    submit_t *subs;
    size_t sub_count, sub_cap;
    bool opened;
    uint64_t open_tag;
    int64_t open_due_us;
    int64_t next_send_us; /* under --rate: one SUBMIT per venue per tick */
} venue_t;

typedef struct {
    const char *deploy;
    const char *broker;
    uint64_t ballots;
    size_t venues; /* 0: all of the election */
    size_t first_venue;
    uint32_t batch;
    uint32_t window;
    uint64_t seed;
    double rate; /* ballots/s, 0: as fast as the windows allow */
    int tick_ms;
    int timeout_ms;
    int max_seconds;
    const char *expect_dir;
    const char *label;
} options_t;

typedef struct {
    options_t opt;
    pingyi_election_t *election;
    uint8_t broker_public[PINGYI_KEY_LEN];
    venue_t *venues;
    size_t venue_count;
    void *ctx;
    bool running; /* the clock runs: answers may be followed by more SUBMITs */
    int epfd;     /* every venue's ZMQ_FD: zmq_poll over 1,200 sockets costs more than the work */
    pingyi_writer_t w;
    uint64_t next_tag;

    uint64_t total, acked, accepted, duplicates, rejected, submits, resent, retries, timeouts;
    uint64_t errors, bytes_sent;
    uint64_t *fine, *coarse;
    uint64_t over; /* beyond the coarse range */
    int64_t max_us;
    double seal_s, open_s;
} loadgen_t;

static volatile sig_atomic_t s_stop = 0;

static void
on_signal (int sig)
{
    s_stop = sig;
}

static int64_t
now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*  ---------------------------------------------------------------------
    Latency histogram  */

static void
record_latency (loadgen_t *g, int64_t us, uint64_t n)
{
    if (us < 0)
        us = 0;
    if (us > g->max_us)
        g->max_us = us;
    if (us < FINE_BUCKETS * 10)
        g->fine[us / 10] += n;
    else if ((us - FINE_BUCKETS * 10) / 1000 < COARSE_BUCKETS)
        g->coarse[(us - FINE_BUCKETS * 10) / 1000] += n;
    else
        g->over += n;
}

/*  The latency (ms) below which a fraction q of the recorded ballots fall:
    the upper edge of the bucket holding the q-th ballot.  */
static double
percentile_ms (const loadgen_t *g, double q)
{
    uint64_t n = 0;
    for (size_t i = 0; i < FINE_BUCKETS; i++)
        n += g->fine[i];
    for (size_t i = 0; i < COARSE_BUCKETS; i++)
        n += g->coarse[i];
    n += g->over;
    if (!n)
        return 0;
    uint64_t want = (uint64_t) ceil (q * (double) n), seen = 0;
    if (want < 1)
        want = 1;
    for (size_t i = 0; i < FINE_BUCKETS; i++)
        if ((seen += g->fine[i]) >= want)
            return (double) (i + 1) * 0.01;
    for (size_t i = 0; i < COARSE_BUCKETS; i++)
        if ((seen += g->coarse[i]) >= want)
            return 100.0 + (double) (i + 1);
    return (double) g->max_us / 1000.0;
}

/*  ---------------------------------------------------------------------
    Set-up: keys, ballots, sockets  */

/*  Load the venue's own bundle (as its client would), keep its keys, drop
    the rest: 1,200 parsed copies of the election would cost a gigabyte.  */
static int
venue_keys (loadgen_t *g, venue_t *v, char *err)
{
    pingyi_bundle_t *b = pingyi_bundle_load (g->opt.deploy, PINGYI_ROLE_VENUE, v->id, err);
    if (!b)
        return -1;
    int rc = 0;
    if (!b->has_box_secret)
        rc = pingyi_fail (err, "%s: no box.secret: not a venue bundle", b->path);
    else if (memcmp (b->election->fingerprint, g->election->fingerprint, PINGYI_FP_LEN) != 0)
        rc = pingyi_fail (err, "%s: another election than %s/election.json", b->path, g->opt.deploy);
    else if (pingyi_envelope_key (v->key, b->shard_public, b->box_secret))
        rc = pingyi_fail (err, "%s: cannot derive the envelope key", b->path);
    else
        pingyi_envelope_link_keys (v->ack_key, v->close_key, v->key);
    memcpy (v->curve_public, b->curve_public, PINGYI_KEY_LEN);
    memcpy (v->curve_secret, b->curve_secret, PINGYI_KEY_LEN);
    memcpy (g->broker_public, b->broker_public, PINGYI_KEY_LEN);
    pingyi_bundle_destroy (&b);
    return rc;
}

/*  Generate and seal the venue's ballots; with --expect-dir also write the
    generator's own tally of them (what the count must come to).  */
static int
venue_seal (loadgen_t *g, venue_t *v, char *err)
{
    const pingyi_election_t *e = g->election;
    pingyi_generator_t *gen = pingyi_generator_new (e, v->index, g->opt.seed, v->count);
    v->off = malloc (((size_t) v->count + 1) * sizeof *v->off);
    size_t cap = (size_t) v->count * 256 + PINGYI_ENVELOPE_MAX, used = 0;
    v->arena = malloc (cap);
    if (!gen || !v->off || !v->arena) {
        pingyi_generator_destroy (&gen);
        return pingyi_fail (err, "out of memory sealing %u ballots of venue %s", v->count, v->id);
    }
    pingyi_ballot_t ballot;
    uint8_t body[PINGYI_BODY_MAX], id[PINGYI_BALLOT_ID_LEN];
    for (uint32_t k = 0; k < v->count; k++) {
        if (!pingyi_generator_next (gen, &ballot)) {
            pingyi_generator_destroy (&gen);
            return pingyi_fail (err, "venue %s: the generator stopped at %u", v->id, k);
        }
        size_t body_len = pingyi_ballot_encode (&ballot, e, body, sizeof body);
        if (cap - used < PINGYI_ENVELOPE_MAX) {
            uint8_t *grown = realloc (v->arena, cap * 2);
            if (!grown) {
                pingyi_generator_destroy (&gen);
                return pingyi_fail (err, "out of memory sealing ballots of venue %s", v->id);
            }
            v->arena = grown;
            cap *= 2;
        }
        randombytes_buf (id, sizeof id);
        size_t len = body_len ? pingyi_envelope_seal (v->arena + used, cap - used, e->fingerprint, v->id,
                                                      v->id_len, id, body, body_len, v->key)
                              : 0;
        if (!len) {
            pingyi_generator_destroy (&gen);
            return pingyi_fail (err, "venue %s: cannot seal ballot %u (body %zu bytes)", v->id, k, body_len);
        }
        v->off[k] = (uint32_t) used;
        used += len;
    }
    v->off[v->count] = (uint32_t) used;
    int rc = 0;
    if (g->opt.expect_dir) {
        char path[1200];
        snprintf (path, sizeof path, "%s/expect-%s.json", g->opt.expect_dir, v->id);
        FILE *f = fopen (path, "w");
        if (!f)
            rc = pingyi_fail (err, "%s: cannot create: %s", path, strerror (errno));
        else {
            rc = pingyi_generator_write_tally (gen, f, err);
            if (fclose (f) && !rc)
                rc = pingyi_fail (err, "%s: write failed", path);
        }
    }
    pingyi_generator_destroy (&gen);
    return rc;
}

/*  ---------------------------------------------------------------------
    Sending  */

static int
send_frame (loadgen_t *g, venue_t *v)
{
    if (zmq_send (v->sock, g->w.sbuf.data, g->w.sbuf.size, ZMQ_DONTWAIT) >= 0) {
        g->bytes_sent += g->w.sbuf.size;
        return 0;
    }
    return -1; /* not connected yet, or at the HWM: try again later */
}

static void
send_open (loadgen_t *g, venue_t *v, int64_t now)
{
    v->open_tag = g->next_tag++;
    pingyi_msg_venue_open (&g->w, v->open_tag, g->election->fingerprint, v->id);
    if (send_frame (g, v))
        v->open_due_us = now + 10000;
    else
        v->open_due_us = now + (int64_t) g->opt.timeout_ms * 1000;
}

/*  (Re)send a SUBMIT under a fresh tag.  */
static void
send_submit (loadgen_t *g, venue_t *v, submit_t *s, int64_t now)
{
    s->tag = g->next_tag++;
    pingyi_msg_submit_begin (&g->w, s->tag, g->election->fingerprint, v->id, s->count);
    for (uint32_t i = s->first; i < s->first + s->count; i++)
        pingyi_msg_envelope (&g->w, v->arena + v->off[i], v->off[i + 1] - v->off[i]);
    if (send_frame (g, v)) {
        s->waiting = false;
        s->due_us = now + 2000;
        return;
    }
    if (s->first_sent_us == 0)
        s->first_sent_us = now;
    else
        g->resent += s->count;
    g->submits++;
    s->waiting = true;
    s->due_us = now + (int64_t) g->opt.timeout_ms * 1000;
}

/*  Ballots this venue may have sent by now under --rate.  */
static uint64_t
allowance (const loadgen_t *g, const venue_t *v, int64_t elapsed_us)
{
    if (g->opt.rate <= 0)
        return v->count;
    double share = g->opt.rate * (double) v->count / (double) g->total;
    double due = share * (double) elapsed_us / 1e6;
    return due >= v->count ? v->count : (uint64_t) due;
}

static int
fill_window (loadgen_t *g, venue_t *v, int64_t now, int64_t elapsed_us)
{
    /* paced, a venue sends what it has gathered once per tick, as a
       client sends what its last outbox commit took in; the ticks of the
       venues are spread over the tick so the broker sees a steady stream */
    if (g->opt.rate > 0) {
        if (now < v->next_send_us)
            return 0;
        int64_t tick = (int64_t) g->opt.tick_ms * 1000;
        v->next_send_us =
            v->next_send_us ? v->next_send_us + tick : now + (int64_t) randombytes_uniform ((uint32_t) tick);
        if (v->next_send_us < now)
            v->next_send_us = now + tick;
    }
    uint64_t allowed = allowance (g, v, elapsed_us);
    while (v->next < v->count && v->inflight < g->opt.window && v->next < allowed) {
        uint32_t n = v->count - v->next;
        if (n > g->opt.batch)
            n = g->opt.batch;
        if (n > g->opt.window - v->inflight)
            n = g->opt.window - v->inflight;
        if (n > allowed - v->next)
            n = (uint32_t) (allowed - v->next);
        if (v->sub_count == v->sub_cap) {
            size_t cap = v->sub_cap ? v->sub_cap * 2 : 16;
            submit_t *grown = realloc (v->subs, cap * sizeof *grown);
            if (!grown)
                return -1;
            v->subs = grown;
            v->sub_cap = cap;
        }
        submit_t *s = &v->subs[v->sub_count++];
        *s = (submit_t){.first = v->next, .count = n};
        v->next += n;
        v->inflight += n;
        send_submit (g, v, s, now);
        if (!s->waiting)
            break; /* not connected: the rest waits */
    }
    return 0;
}

static void
service_submits (loadgen_t *g, venue_t *v, int64_t now)
{
    for (size_t i = 0; i < v->sub_count; i++) {
        submit_t *s = &v->subs[i];
        if (s->due_us > now)
            continue;
        if (s->waiting) {
            g->timeouts++;
            s->resends++;
        }
        send_submit (g, v, s, now);
    }
}

/*  ---------------------------------------------------------------------
    Answers  */

static submit_t *
find_submit (venue_t *v, uint64_t tag, size_t *index)
{
    for (size_t i = 0; i < v->sub_count; i++)
        if (v->subs[i].tag == tag) {
            *index = i;
            return &v->subs[i];
        }
    return NULL;
}

static int
on_frame (loadgen_t *g, venue_t *v, const uint8_t *frame, size_t len, int64_t now)
{
    pingyi_msg_t m;
    char err[PINGYI_ERR_MAX];
    if (pingyi_msg_decode (frame, len, &m, err)) {
        fprintf (stderr, "pingyi-loadgen: venue %s: undecodable answer: %s\n", v->id, err);
        g->errors++;
        return -1;
    }
    size_t index;
    submit_t *s;
    switch (m.type) {
    case PINGYI_MSG_ACK: {
        if (pingyi_msg_mac_check (frame, &m, v->ack_key)) {
            fprintf (stderr, "pingyi-loadgen: venue %s: ACK whose MAC does not verify\n", v->id);
            g->errors++;
            return -1;
        }
        s = find_submit (v, m.u.ack.tag, &index);
        if (!s || !s->waiting)
            return 0; /* the answer to a SUBMIT already resent: its resend will be answered */
        pingyi_list_t list = m.u.ack.results;
        pingyi_ack_t a;
        uint32_t n = 0;
        while (pingyi_list_next_ack (&list, &a)) {
            n++;
            if (a.status == PINGYI_ACK_ACCEPTED)
                g->accepted++;
            else if (a.status == PINGYI_ACK_DUPLICATE)
                g->duplicates++;
            else {
                if (g->rejected++ < 5)
                    fprintf (stderr, "pingyi-loadgen: venue %s: ballot rejected (%s): %.*s\n", v->id,
                             pingyi_reject_name ((pingyi_reject_t) a.reason), (int) a.text.len, a.text.p);
            }
        }
        if (n != s->count) {
            fprintf (stderr, "pingyi-loadgen: venue %s: ACK of %u results for a SUBMIT of %u\n", v->id, n,
                     s->count);
            g->errors++;
            return -1;
        }
        record_latency (g, now - s->first_sent_us, n);
        v->acked += n;
        v->inflight -= n;
        g->acked += n;
        v->subs[index] = v->subs[--v->sub_count];
        return 0;
    }
    case PINGYI_MSG_RETRY: {
        g->retries++;
        s = find_submit (v, m.u.retry.tag, &index);
        /* as the client: the hint, doubled per RETRY of the same SUBMIT,
           at most 10 s, +-20% so the venues do not come back together */
        unsigned retries = s ? ++s->retries : 1;
        int64_t delay = (int64_t) (m.u.retry.retry_ms ? m.u.retry.retry_ms : RETRY_MIN_MS);
        for (unsigned i = 1; i < retries && delay < RETRY_MAX_MS; i++)
            delay *= 2;
        if (delay > RETRY_MAX_MS)
            delay = RETRY_MAX_MS;
        delay = delay * 1000 * (80 + (int64_t) randombytes_uniform (41)) / 100;
        if (s && s->waiting) {
            s->waiting = false;
            s->due_us = now + delay;
        }
        else if (!v->opened && m.u.retry.tag == v->open_tag)
            v->open_due_us = now + delay;
        return 0;
    }
    case PINGYI_MSG_VENUE_STATUS:
        if (!v->opened && m.u.venue_status.tag == v->open_tag)
            v->opened = true;
        return 0;
    case PINGYI_MSG_ERROR:
        fprintf (stderr, "pingyi-loadgen: venue %s: ERROR %u: %.*s\n", v->id, m.u.error.code,
                 (int) m.u.error.text.len, m.u.error.text.p);
        g->errors++;
        return -1;
    default:
        return 0;
    }
}

static int
drain (loadgen_t *g, venue_t *v, int64_t now)
{
    for (;;) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, v->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&msg);
            return 0;
        }
        int rc = on_frame (g, v, zmq_msg_data (&msg), zmq_msg_size (&msg), now);
        zmq_msg_close (&msg);
        if (rc)
            return rc;
    }
}

/*  Answers first, then (at full speed) the room they made is filled at
    once.  ZMQ_FD only says "look": a send may take in the very command
    that announced an arrival, so after every send ZMQ_EVENTS is asked
    again, until the socket has nothing to read.  */
static int
serve_venue (loadgen_t *g, venue_t *v, int64_t now, int64_t elapsed_us)
{
    for (;;) {
        if (drain (g, v, now))
            return -1;
        if (g->running && g->opt.rate <= 0 && fill_window (g, v, now, elapsed_us))
            return -1;
        int events = 0;
        size_t len = sizeof events;
        if (zmq_getsockopt (v->sock, ZMQ_EVENTS, &events, &len) || !(events & ZMQ_POLLIN))
            return 0;
    }
}

/*  Wait up to timeout_ms for venues with something to read, and serve
    them; returns -1 on a fatal answer.  */
static int
poll_all (loadgen_t *g, long timeout_ms, int64_t start)
{
    struct epoll_event ev[512];
    int n = epoll_wait (g->epfd, ev, 512, (int) timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    int64_t now = now_us ();
    for (int i = 0; i < n; i++)
        if (serve_venue (g, &g->venues[ev[i].data.u32], now, start ? now - start : 0))
            return -1;
    return 0;
}

/*  Every venue says VENUE_OPEN and is answered: connections up, CURVE done,
    the workers registered.  Only then does the clock start.  */
static int
open_all (loadgen_t *g)
{
    int64_t start = now_us ();
    for (;;) {
        int64_t now = now_us ();
        size_t opened = 0;
        for (size_t i = 0; i < g->venue_count; i++) {
            venue_t *v = &g->venues[i];
            if (v->opened)
                opened++;
            else if (v->open_due_us <= now)
                send_open (g, v, now);
        }
        if (opened == g->venue_count)
            return 0;
        for (size_t i = 0; i < g->venue_count; i++)
            if (!g->venues[i].opened && drain (g, &g->venues[i], now))
                return -1;
        if (s_stop || now - start > (int64_t) OPEN_TIMEOUT_MS * 1000) {
            fprintf (stderr, "pingyi-loadgen: %zu of %zu venues opened in %d s; giving up\n", opened,
                     g->venue_count, OPEN_TIMEOUT_MS / 1000);
            return -1;
        }
        if (poll_all (g, 5, 0))
            return -1;
    }
}

static int
run (loadgen_t *g, int64_t *start_out, int64_t *end_out)
{
    int64_t start = now_us (), next_scan = 0;
    g->running = true;
    int64_t give_up = g->opt.max_seconds ? start + (int64_t) g->opt.max_seconds * 1000000 : INT64_MAX;
    *start_out = start;
    while (g->acked < g->total && !s_stop) {
        int64_t now = now_us ();
        if (now > give_up) {
            fprintf (stderr,
                     "pingyi-loadgen: %" PRIu64 " of %" PRIu64 " ballots acknowledged after %d s; "
                     "giving up\n",
                     g->acked, g->total, g->opt.max_seconds);
            return -1;
        }
        /* every venue, every few ms: due resends, and (paced) the tick */
        if (now >= next_scan) {
            for (size_t i = 0; i < g->venue_count; i++) {
                venue_t *v = &g->venues[i];
                service_submits (g, v, now);
                if (fill_window (g, v, now, now - start) || serve_venue (g, v, now, now - start))
                    return -1;
            }
            next_scan = now + SCAN_US;
        }
        long timeout = next_scan > now ? (long) ((next_scan - now + 999) / 1000) : 0;
        if (poll_all (g, timeout, start))
            return -1;
        *end_out = now_us ();
    }
    return g->acked == g->total ? 0 : -1;
}

/*  ---------------------------------------------------------------------
    Main  */

static void
usage (FILE *out)
{
    fprintf (
        out,
        "usage: pingyi-loadgen --deploy DIR --broker ENDPOINT --ballots N [--venues N] [--first-venue I]\n"
        "                      [--batch 256] [--window 4096] [--seed 1] [--rate R] [--tick-ms 10]\n"
        "                      [--timeout-ms 10000] [--max-seconds 600] [--expect-dir DIR] [--label L]\n"
        "  --ballots N       ballots in all, spread evenly over the venues\n"
        "  --venues N        drive the first N venues of the election (default: all)\n"
        "  --batch N         envelopes per SUBMIT (default 256, as the client)\n"
        "  --window N        envelopes in flight per venue (default 4096, as the client)\n"
        "  --rate R          pace all venues together to R ballots/s (default: as fast as possible)\n"
        "  --expect-dir DIR  write each venue's expected tally (expect-ID.json)\n");
}

static uint64_t
arg_u64 (const char *flag, const char *v, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull (v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || x < min || x > max) {
        fprintf (stderr, "pingyi-loadgen: %s %s: expected a whole number in %" PRIu64 "..%" PRIu64 "\n", flag,
                 v, min, max);
        exit (2);
    }
    return x;
}

int
main (int argc, char **argv)
{
    pingyi_log_prog = "pingyi-loadgen";
    loadgen_t g = {0};
    options_t *o = &g.opt;
    *o = (options_t){.batch = 256,
                     .window = 4096,
                     .seed = 1,
                     .tick_ms = 10,
                     .timeout_ms = 10000,
                     .max_seconds = 600,
                     .label = "run"};
    static const struct option longs[] = {
        {"deploy", required_argument, NULL, 'D'},
        {"broker", required_argument, NULL, 'b'},
        {"ballots", required_argument, NULL, 'n'},
        {"venues", required_argument, NULL, 'v'},
        {"first-venue", required_argument, NULL, 'f'},
        {"batch", required_argument, NULL, 'B'},
        {"window", required_argument, NULL, 'w'},
        {"seed", required_argument, NULL, 's'},
        {"rate", required_argument, NULL, 'r'},
        {"tick-ms", required_argument, NULL, 't'},
        {"timeout-ms", required_argument, NULL, 'T'},
        {"max-seconds", required_argument, NULL, 'M'},
        {"expect-dir", required_argument, NULL, 'e'},
        {"label", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long (argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'D':
            o->deploy = optarg;
            break;
        case 'b':
            o->broker = optarg;
            break;
        case 'n':
            o->ballots = arg_u64 ("--ballots", optarg, 1, 1000000000);
            break;
        case 'v':
            o->venues = arg_u64 ("--venues", optarg, 1, PINGYI_MAX_VENUES);
            break;
        case 'f':
            o->first_venue = arg_u64 ("--first-venue", optarg, 0, PINGYI_MAX_VENUES);
            break;
        case 'B':
            o->batch = (uint32_t) arg_u64 ("--batch", optarg, 1, PINGYI_BATCH_MAX);
            break;
        case 'w':
            o->window = (uint32_t) arg_u64 ("--window", optarg, 1, 1u << 20);
            break;
        case 's':
            o->seed = arg_u64 ("--seed", optarg, 0, UINT64_MAX);
            break;
        case 'r':
            o->rate = (double) arg_u64 ("--rate", optarg, 1, 100000000);
            break;
        case 't':
            o->tick_ms = (int) arg_u64 ("--tick-ms", optarg, 1, 1000);
            break;
        case 'T':
            o->timeout_ms = (int) arg_u64 ("--timeout-ms", optarg, 100, 600000);
            break;
        case 'M':
            o->max_seconds = (int) arg_u64 ("--max-seconds", optarg, 0, 86400);
            break;
        case 'e':
            o->expect_dir = optarg;
            break;
        case 'l':
            o->label = optarg;
            break;
        case 'h':
            usage (stdout);
            return 0;
        default:
            usage (stderr);
            return 2;
        }
    }
    if (optind != argc || !o->deploy || !o->broker || !o->ballots) {
        usage (stderr);
        return 2;
    }
    if (o->batch > o->window)
        o->batch = o->window;
    if (sodium_init () < 0) {
        fprintf (stderr, "pingyi-loadgen: sodium_init failed\n");
        return 1;
    }
    char err[PINGYI_ERR_MAX], path[1100];
    snprintf (path, sizeof path, "%s/election.json", o->deploy);
    g.election = pingyi_election_load_or_err (path, err);
    if (!g.election) {
        fprintf (stderr, "pingyi-loadgen: %s\n", err);
        return 2;
    }
    const pingyi_election_t *e = g.election;
    if (o->first_venue >= e->venue_count) {
        fprintf (stderr, "pingyi-loadgen: --first-venue %zu: the election has %zu venues\n", o->first_venue,
                 e->venue_count);
        return 2;
    }
    g.venue_count = o->venues ? o->venues : e->venue_count - o->first_venue;
    if (o->first_venue + g.venue_count > e->venue_count) {
        fprintf (stderr, "pingyi-loadgen: %zu venues from %zu: the election has %zu\n", g.venue_count,
                 o->first_venue, e->venue_count);
        return 2;
    }
    /* each venue holds a socket and its TCP connection: two descriptors and
       more; raise the soft limit as far as the hard one allows */
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit (RLIMIT_NOFILE, &rl);
    }
    g.total = o->ballots;
    g.venues = calloc (g.venue_count, sizeof *g.venues);
    g.fine = calloc (FINE_BUCKETS, sizeof *g.fine);
    g.coarse = calloc (COARSE_BUCKETS, sizeof *g.coarse);
    if (!g.venues || !g.fine || !g.coarse) {
        fprintf (stderr, "pingyi-loadgen: out of memory\n");
        return 1;
    }

    int64_t t0 = now_us ();
    for (size_t i = 0; i < g.venue_count; i++) {
        venue_t *v = &g.venues[i];
        v->index = o->first_venue + i;
        v->id = e->venues[v->index].id;
        v->id_len = strlen (v->id);
        v->count = (uint32_t) (g.total / g.venue_count + (i < g.total % g.venue_count ? 1 : 0));
        if (venue_keys (&g, v, err) || venue_seal (&g, v, err)) {
            fprintf (stderr, "pingyi-loadgen: %s\n", err);
            return 1;
        }
    }
    g.seal_s = (double) (now_us () - t0) / 1e6;

    g.ctx = zmq_ctx_new ();
    if (!g.ctx || zmq_ctx_set (g.ctx, ZMQ_MAX_SOCKETS, (int) g.venue_count + 64)) {
        fprintf (stderr, "pingyi-loadgen: cannot start ZeroMQ: %s\n", zmq_strerror (zmq_errno ()));
        return 1;
    }
    pingyi_writer_init (&g.w);
    g.epfd = epoll_create1 (EPOLL_CLOEXEC);
    if (g.epfd < 0) {
        fprintf (stderr, "pingyi-loadgen: epoll: %s\n", strerror (errno));
        return 1;
    }
    g.next_tag = 1;
    /* the window bounds what a venue has in flight; the HWM only has to
       hold that many SUBMITs */
    pingyi_link_options_t lo = {.hwm = (int) (o->window / o->batch) + 16};
    for (size_t i = 0; i < g.venue_count; i++) {
        venue_t *v = &g.venues[i];
        v->sock = pingyi_link_dealer (g.ctx, o->broker, g.broker_public, v->curve_public, v->curve_secret,
                                      &lo, err);
        sodium_memzero (v->curve_secret, sizeof v->curve_secret);
        if (!v->sock) {
            fprintf (stderr, "pingyi-loadgen: venue %s: %s\n", v->id, err);
            return 1;
        }
        int fd;
        size_t fdlen = sizeof fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t) i};
        if (zmq_getsockopt (v->sock, ZMQ_FD, &fd, &fdlen) || epoll_ctl (g.epfd, EPOLL_CTL_ADD, fd, &ev)) {
            fprintf (stderr, "pingyi-loadgen: venue %s: cannot watch its socket: %s\n", v->id,
                     strerror (errno));
            return 1;
        }
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGINT, &sa, NULL);

    fprintf (stderr, "pingyi-loadgen: %s: %zu venues, %" PRIu64 " ballots sealed in %.2f s; opening\n",
             o->label, g.venue_count, g.total, g.seal_s);
    t0 = now_us ();
    int status = 1;
    int64_t start = 0, end = 0;
    if (open_all (&g) == 0) {
        g.open_s = (double) (now_us () - t0) / 1e6;
        if (run (&g, &start, &end) == 0 && g.rejected == 0 && g.errors == 0)
            status = 0;
    }
    double seconds = end > start ? (double) (end - start) / 1e6 : 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < g.venue_count; i++)
        bytes += g.venues[i].off[g.venues[i].count];
    /* the generator's own cost, so a reader can see what it took of the
       two cores (sealing included: it ran before the clock) */
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    double cpu_s = (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 +
                   (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
    fprintf (stderr,
             "pingyi-loadgen: %s: %" PRIu64 " of %" PRIu64
             " acknowledged in %.3f s (%.0f/s): accepted %" PRIu64 ", duplicates %" PRIu64
             ", rejected %" PRIu64 ", resent %" PRIu64 ", retries %" PRIu64 "\n",
             o->label, g.acked, g.total, seconds, seconds > 0 ? (double) g.acked / seconds : 0.0, g.accepted,
             g.duplicates, g.rejected, g.resent, g.retries);
    printf (
        "{\"label\":\"%s\",\"ballots\":%" PRIu64 ",\"acked\":%" PRIu64 ",\"venues\":%zu,\"seconds\":%.3f,"
        "\"ballots_per_s\":%.0f,\"ack_p50_ms\":%.2f,\"ack_p99_ms\":%.2f,\"ack_max_ms\":%.2f,"
        "\"accepted\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"submits\":%" PRIu64
        ",\"resent\":%" PRIu64 ",\"retries\":%" PRIu64 ",\"timeouts\":%" PRIu64 ",\"batch\":%u,"
        "\"window\":%u,\"rate\":%.0f,\"envelope_bytes_avg\":%.1f,\"seal_s\":%.3f,\"open_s\":%.3f,"
        "\"cpu_s\":%.2f,\"rss_mb\":%.1f,\"ok\":%s}\n",
        o->label, g.total, g.acked, g.venue_count, seconds, seconds > 0 ? (double) g.acked / seconds : 0.0,
        percentile_ms (&g, 0.50), percentile_ms (&g, 0.99), (double) g.max_us / 1000.0, g.accepted,
        g.duplicates, g.rejected, g.submits, g.resent, g.retries, g.timeouts, o->batch, o->window, o->rate,
        g.total ? (double) bytes / (double) g.total : 0.0, g.seal_s, g.open_s, cpu_s,
        (double) ru.ru_maxrss / 1024.0, status == 0 ? "true" : "false");
    fflush (stdout);

    for (size_t i = 0; i < g.venue_count; i++) {
        venue_t *v = &g.venues[i];
        if (v->sock)
            zmq_close (v->sock);
        sodium_memzero (v->key, sizeof v->key);
        sodium_memzero (v->ack_key, sizeof v->ack_key);
        sodium_memzero (v->close_key, sizeof v->close_key);
        free (v->arena);
        free (v->off);
        free (v->subs);
    }
    zmq_ctx_term (g.ctx);
    pingyi_writer_fini (&g.w);
    free (g.venues);
    close (g.epfd);
    free (g.fine);
    free (g.coarse);
    pingyi_election_destroy (&g.election);
    return status;
}
