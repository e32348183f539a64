/*  pingyi-agg — the live citywide view: asks every shard for its tally
    through the broker, merges the last complete snapshot of each, rolls it
    up, keeps a history of how the count moved, and serves it all as a JSON
    API over HTTP (docs/aggregator.md, docs/API.md), with a dashboard for a
    browser on the same address (docs/dashboard.md).

    Invariants:
    - The view is never blocked by the count: HTTP threads answer from the
      last published state (state.h); this thread alone talks to the broker,
      merges and publishes.
    - A merged view holds, for every shard, one complete page set or nothing
      (shards.h): never half-old, half-new counters of one shard.
    - Every figure carries its age: a shard that stops answering keeps its
      last snapshot and is marked stale after --stale-ms, in every answer.
    - Only the aggregator key may query: the process loads the deploy
      directory's aggregator bundle and nothing else.
    - Bad input costs one frame: every refusal is a counter and, within
      limits, a log line; nothing from the network can stop the process.  */
#define _GNU_SOURCE
#include "api.h"
#include "cli.h"
#include "notify.h"
#include "deploy.h"
#include "history.h"
#include "http.h"
#include "link.h"
#include "msg.h"
#include "shards.h"
#include "state.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <zmq.h>

#define BROKERS_MAX 16
#define SILENT_ROUNDS_FAILOVER 3 /* rounds with nothing from the broker before the next one is tried */
#define SEND_RETRY_MS 100        /* no connection yet (ZMQ_IMMEDIATE): try again this soon */
#define RECV_BUDGET 1000         /* frames taken per turn, so the round clock is still served */
#define LOGGED_PER_KIND 10       /* refusals logged per kind; the rest are counted */

/*  Exit status (docs/exit-codes.md): 0 stopped on SIGTERM/SIGINT; 1 stopped
    by an error while running; 2 could not start (flags, bundle, the history
    store or its lock, the HTTP address, sockets).  */
enum { EXIT_OK = PINGYI_EXIT_OK, EXIT_FAILED = PINGYI_EXIT_FAILED, EXIT_START = PINGYI_EXIT_START };

typedef struct {
    /* flags */
    const char *deploy;
    pingyi_cli_list_t broker_list; /* owns the endpoints brokers[] point to */
    char *brokers[BROKERS_MAX];
    size_t broker_count;
    const char *http_spec;
    const char *http_token;      /* --http-token (points into argv) */
    const char *http_token_file; /* --http-token-file */
    agg_web_token_t token;       /* either, read and checked */
    const char *data;
    int64_t interval_ms;
    int64_t stale_ms;
    /* the count */
    pingyi_bundle_t *bundle;
    const pingyi_election_t *election;
    agg_shards_t *shards;
    agg_merged_t *merged; /* the latest merge (one reference) */
    uint64_t round;
    uint64_t changes_at_merge; /* shard changes counted at the last merge */
    bool was_final;
    /* the link */
    void *ctx;
    void *sock;
    size_t broker_index;
    bool heard;     /* anything from the broker this round */
    bool published; /* this round's answers are published */
    int silent_rounds;
    bool silent_warned; /* the single broker was reported silent */
    int64_t send_after; /* no send attempt before (after a failed one) */
    pingyi_writer_t w;
    /* the outside */
    agg_history_t *history;
    agg_board_t board;
    agg_api_t api;
    agg_http_t *http;
    agg_poll_stats_t stats;
    int64_t started_ms;
    uint64_t logged_bad, logged_refused, logged_errors;
} agg_t;

static volatile sig_atomic_t stopping; /* SIGTERM, SIGINT (pingyi_cli_signals) */

/*  The flags (docs/aggregator.md).  0, or -1 with *status to exit with
    (0 after --help and --version; the message is printed).  */
static int
parse_flags (agg_t *a, int argc, char **argv, int *status)
{
    a->http_spec = "127.0.0.1:8080";
    a->data = "agg-data";
    uint64_t interval_ms = 1000, stale_ms = 5000;
    const pingyi_cli_option_t options[] = {
        PINGYI_CLI_OPT_TEXT ("deploy", &a->deploy, "DIR",
                             "the deploy directory (its aggregator/ bundle is used)"),
        PINGYI_CLI_OPT_ENDPOINTS ("broker", &a->broker_list, "LIST",
                                  "broker endpoints, comma-separated or the flag repeated; the next\n"
                                  "is tried when one stays silent"),
        PINGYI_CLI_OPT_TEXT ("http", &a->http_spec, "HOST:PORT",
                             "where the dashboard and the HTTP JSON API listen (default\n"
                             "127.0.0.1:8080)"),
        PINGYI_CLI_OPT_TEXT ("http-token", &a->http_token, "TOKEN",
                             "ask for TOKEN on the dashboard and every API call (Authorization:\n"
                             "Bearer TOKEN, or open /?token=TOKEN once: a cookie); /healthz and\n"
                             "/readyz stay open. 16..256 of A-Z a-z 0-9 . _ ~ - (visible to\n"
                             "ps: prefer --http-token-file)"),
        PINGYI_CLI_OPT_TEXT ("http-token-file", &a->http_token_file, "FILE",
                             "the same token read from FILE (mode 0600 or stricter, this user's;\n"
                             "one trailing newline is ignored)"),
        PINGYI_CLI_OPT_U64 ("interval-ms", &interval_ms, "MS",
                            "ask every shard every MS milliseconds (50..600000, default 1000)", 50, 600000),
        PINGYI_CLI_OPT_U64 ("stale-ms", &stale_ms, "MS",
                            "a shard silent this long is marked stale (1..86400000, default 5000)", 1,
                            86400000),
        PINGYI_CLI_OPT_TEXT ("data", &a->data, "DIR",
                             "the history of the count and its lock (default agg-data)"),
        PINGYI_CLI_END,
    };
    pingyi_cli_t cli = {
        .prog = "pingyi-agg",
        .synopsis = "pingyi-agg --deploy DIR --broker ENDPOINT[,ENDPOINT...] [--http HOST:PORT]\n"
                    "                  [--http-token TOKEN | --http-token-file FILE]\n"
                    "                  [--interval-ms MS] [--stale-ms MS] [--data DIR]",
        .options = options,
        .logs = true,
    };
    if (pingyi_cli_parse (&cli, argc, argv, status))
        return -1;
    a->interval_ms = (int64_t) interval_ms;
    a->stale_ms = (int64_t) stale_ms;
    if (!a->deploy || !a->broker_list.count) {
        *status = pingyi_cli_fail (&cli, "--deploy and --broker are required");
        return -1;
    }
    if (a->http_token && a->http_token_file) {
        *status = pingyi_cli_fail (&cli, "--http-token and --http-token-file exclude each other");
        return -1;
    }
    char err[PINGYI_ERR_MAX];
    if ((a->http_token && agg_web_token_set (&a->token, a->http_token, err)) ||
        (a->http_token_file && agg_web_token_read_file (&a->token, a->http_token_file, err))) {
        fprintf (stderr, "pingyi-agg: %s%s\n", a->http_token ? "--http-token: " : "", err);
        *status = PINGYI_EXIT_START;
        return -1;
    }
    if (a->broker_list.count > BROKERS_MAX) {
        fprintf (stderr, "pingyi-agg: --broker: %zu endpoints, at most %d\n", a->broker_list.count,
                 BROKERS_MAX);
        *status = PINGYI_EXIT_START;
        return -1;
    }
    for (size_t i = 0; i < a->broker_list.count; i++)
        a->brokers[a->broker_count++] = a->broker_list.items[i];
    return 0;
}

/*  1234567 → "1,234,567".  */
static const char *
grouped (char *buf, size_t cap, uint64_t v)
{
    char digits[32];
    int n = snprintf (digits, sizeof digits, "%llu", (unsigned long long) v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < cap; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
    return buf;
}

static int
connect_broker (agg_t *a, char *err)
{
    const char *endpoint = a->brokers[a->broker_index];
    a->sock = pingyi_link_dealer (a->ctx, endpoint, a->bundle->broker_public, a->bundle->curve_public,
                                  a->bundle->curve_secret, NULL, err);
    if (!a->sock)
        return -1;
    pingyi_info ("connecting to broker %s", endpoint);
    return 0;
}

/*  Nothing from this broker for several rounds: try the next one.  The
    outstanding queries die with the old connection.  */
static void
failover (agg_t *a)
{
    size_t from = a->broker_index;
    a->broker_index = (a->broker_index + 1) % a->broker_count;
    pingyi_warn ("broker %s: nothing heard for %d rounds: switching to %s", a->brokers[from],
                 SILENT_ROUNDS_FAILOVER, a->brokers[a->broker_index]);
    zmq_close (a->sock);
    a->sock = NULL;
    a->stats.failovers++;
    agg_shards_abandon (a->shards, "the link to the broker was replaced");
    char err[PINGYI_ERR_MAX];
    if (connect_broker (a, err))
        pingyi_error ("%s (trying the next broker next time)", err);
    a->silent_rounds = 0;
}

/*  The history body of the latest merge (history.h).  */
static char *
history_body (agg_t *a)
{
    char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&body, &len);
    if (!f)
        return NULL;
    uint32_t n = agg_shards_count (a->shards);
    agg_shard_info_t info;
    fputs ("\"sequences\":[", f);
    for (uint32_t i = 0; i < n; i++) {
        agg_shards_info (a->shards, i, &info);
        if (info.have)
            fprintf (f, "%s%llu", i ? "," : "", (unsigned long long) info.sequence);
        else
            fprintf (f, "%snull", i ? "," : "");
    }
    fputs ("],\"digests\":[", f);
    for (uint32_t i = 0; i < n; i++) {
        agg_shards_info (a->shards, i, &info);
        char hex[65];
        pingyi_hex (hex, info.digest, 32);
        if (info.have)
            fprintf (f, "%s\"%s\"", i ? "," : "", hex);
        else
            fprintf (f, "%snull", i ? "," : "");
    }
    fputs ("],\"generations\":[", f);
    for (uint32_t i = 0; i < n; i++) {
        agg_shards_info (a->shards, i, &info);
        if (info.have)
            fprintf (f, "%s%llu", i ? "," : "", (unsigned long long) info.generation);
        else
            fprintf (f, "%snull", i ? "," : "");
    }
    const pingyi_view_t *v = a->merged->view;
    fprintf (f,
             "],\"accepted\":%llu,\"blank\":%llu,\"rejected\":%llu,"
             "\"venues\":{\"open\":%zu,\"closed\":%zu,\"reconciled\":%zu,\"void\":%zu}",
             (unsigned long long) v->accepted, (unsigned long long) v->blank_ballots,
             (unsigned long long) v->rejected, v->venues_open, v->venues_closed, v->venues_reconciled,
             v->venues_void);
    if (fclose (f)) {
        free (body);
        return NULL;
    }
    return body;
}

/*  Rebuild the merged tally and its view from every shard's last complete
    snapshot.  Keeps the previous merge when memory runs out.  0 / -1.  */
static int
merge (agg_t *a, int64_t now)
{
    struct timespec t0, t1;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    pingyi_tally_t *tally = pingyi_tally_new (a->election);
    if (!tally) {
        pingyi_error ("round %llu: out of memory for the merged tally: the view stays at round %llu",
                      (unsigned long long) a->round, (unsigned long long) (a->merged ? a->merged->round : 0));
        return -1;
    }
    uint64_t refused = agg_shards_merge (a->shards, tally);
    pingyi_view_t *view = pingyi_view_new (a->election, tally);
    agg_merged_t *m = view ? agg_merged_new (a->election, tally, view, a->round, time (NULL)) : NULL;
    if (!m) {
        pingyi_view_destroy (&view);
        pingyi_tally_destroy (&tally);
        pingyi_error ("round %llu: out of memory for the view: it stays at round %llu",
                      (unsigned long long) a->round, (unsigned long long) (a->merged ? a->merged->round : 0));
        return -1;
    }
    m->refused_keys = refused;
    clock_gettime (CLOCK_MONOTONIC, &t1);
    a->stats.merge_us = (uint64_t) ((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
    if (refused)
        pingyi_error ("round %llu: the tally refused %llu counter keys (a bug: they were checked on arrival)",
                      (unsigned long long) a->round, (unsigned long long) refused);
    agg_merged_unref (&a->merged);
    a->merged = m;
    a->stats.merges++;

    agg_shards_stats_t ss;
    agg_shards_stats (a->shards, &ss);
    uint64_t changed = ss.changes - a->changes_at_merge;
    a->changes_at_merge = ss.changes;
    size_t stale = 0;
    for (uint32_t i = 0; i < agg_shards_count (a->shards); i++)
        stale += agg_shards_stale (a->shards, i, now);
    char num[40];
    pingyi_info ("round %llu: %llu shard%s changed, %s ballots, %zu stale", (unsigned long long) a->round,
                 (unsigned long long) changed, changed == 1 ? "" : "s",
                 grouped (num, sizeof num, view->accepted), stale);
    if (view->final != a->was_final) {
        if (view->final)
            pingyi_info ("round %llu: the count is FINAL: %zu venues reconciled, %zu void",
                         (unsigned long long) a->round, view->venues_reconciled, view->venues_void);
        else
            pingyi_warn ("round %llu: the count is no longer final", (unsigned long long) a->round);
        a->was_final = view->final;
    }
    if (a->history) {
        char err[PINGYI_ERR_MAX];
        char *body = history_body (a);
        int rc = body ? agg_history_record (a->history, a->round, (int64_t) m->wall, body, err)
                      : pingyi_fail (err, "out of memory");
        free (body);
        if (rc < 0) {
            a->stats.history_errors++;
            pingyi_error ("%s", err);
        }
        else if (rc > 0)
            a->stats.history_writes++;
    }
    return 0;
}

/*  Publish what HTTP serves: the latest merge and every shard's freshness
    and counters as of now.  */
static void
publish (agg_t *a, int64_t now)
{
    uint32_t n = agg_shards_count (a->shards);
    agg_state_t *st = agg_state_new (a->merged, n);
    if (!st) {
        pingyi_error ("round %llu: out of memory publishing the view", (unsigned long long) a->round);
        return;
    }
    st->round = a->round;
    st->made_ms = now;
    st->started_ms = a->started_ms;
    st->stale_ms = a->stale_ms;
    st->interval_ms = a->interval_ms;
    st->broker = a->brokers[a->broker_index];
    for (uint32_t i = 0; i < n; i++)
        agg_shards_info (a->shards, i, &st->shards[i]);
    agg_shards_stats (a->shards, &st->shard_stats);
    st->poll_stats = a->stats;
    agg_board_publish (&a->board, st);
}

static void
log_transitions (agg_t *a, int64_t now)
{
    for (uint32_t i = 0; i < agg_shards_count (a->shards); i++) {
        int t = agg_shards_transition (a->shards, i, now);
        if (!t)
            continue;
        agg_shard_info_t info;
        agg_shards_info (a->shards, i, &info);
        if (t > 0 && info.have)
            pingyi_warn ("shard %u is stale: its snapshot (sequence %llu) is %.1f s old (%s)", i,
                         (unsigned long long) info.sequence,
                         (double) agg_shards_age (a->shards, i, now) / 1000.0,
                         info.reason[0] ? info.reason : "no answer yet");
        else if (t > 0)
            pingyi_warn ("shard %u is stale: no snapshot yet (%s)", i,
                         info.reason[0] ? info.reason : "no answer");
        else
            pingyi_info ("shard %u is fresh again (sequence %llu)", i, (unsigned long long) info.sequence);
    }
}

/*  Send the queries due, without blocking.  True when some are still due
    (the socket would not take them now).  */
static bool
send_queries (agg_t *a, int64_t now)
{
    if (!a->sock || now < a->send_after)
        return true;
    uint32_t shard;
    uint64_t tag;
    uint8_t from[PINGYI_BLOCK_KEY_BYTES];
    while (agg_shards_want (a->shards, &shard, &tag, from)) {
        pingyi_msg_tally_query (&a->w, tag, shard, from);
        if (zmq_send (a->sock, a->w.sbuf.data, a->w.sbuf.size, ZMQ_DONTWAIT) < 0) {
            /* EAGAIN: no connection (ZMQ_IMMEDIATE) or the pipe is full */
            a->stats.send_failures++;
            a->send_after = now + SEND_RETRY_MS;
            return true;
        }
        agg_shards_sent (a->shards, shard, now);
    }
    return false;
}

static void
take_frame (agg_t *a, const uint8_t *data, size_t len, int64_t now)
{
    char err[PINGYI_ERR_MAX];
    pingyi_msg_t msg;
    a->stats.frames_in++;
    a->heard = true;
    if (pingyi_msg_decode (data, len, &msg, err)) {
        a->stats.bad_frames++;
        if (a->logged_bad++ < LOGGED_PER_KIND)
            pingyi_warn ("bad frame from the broker (%zu bytes): %s", len, err);
        return;
    }
    if (msg.type == PINGYI_MSG_HEARTBEAT)
        return;
    uint32_t shard;
    agg_feed_t r = agg_shards_feed (a->shards, &msg, now, &shard, err);
    switch (r) {
    case AGG_FEED_REFUSED:
        if (a->logged_refused++ < LOGGED_PER_KIND)
            pingyi_warn ("%s", err);
        break;
    case AGG_FEED_ERROR:
        if (a->logged_errors++ < LOGGED_PER_KIND)
            pingyi_warn ("%s", err);
        break;
    case AGG_FEED_IGNORED:
        a->stats.unexpected++;
        break;
    default:
        break;
    }
}

static void
receive (agg_t *a, int64_t now)
{
    for (int n = 0; n < RECV_BUDGET; n++) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, a->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&frame);
            return;
        }
        if (zmq_msg_more (&frame)) {
            /* a DEALER gets one-frame messages only: drop the whole thing */
            a->stats.multipart++;
            a->heard = true;
            while (zmq_msg_more (&frame)) {
                zmq_msg_close (&frame);
                zmq_msg_init (&frame);
                if (zmq_msg_recv (&frame, a->sock, ZMQ_DONTWAIT) < 0)
                    break;
            }
            zmq_msg_close (&frame);
            continue;
        }
        take_frame (a, zmq_msg_data (&frame), zmq_msg_size (&frame), now);
        zmq_msg_close (&frame);
    }
}

/*  The round clock: finish the round that ends now (merge if a shard
    changed, publish, log staleness), then start the next.  */
static void
tick (agg_t *a, int64_t now)
{
    if (agg_shards_changed (a->shards))
        merge (a, now);
    if (!a->heard && a->stats.rounds > 0)
        a->silent_rounds++;
    else {
        if (a->silent_warned)
            pingyi_info ("broker %s: heard again", a->brokers[a->broker_index]);
        a->silent_warned = false;
        a->silent_rounds = 0;
    }
    if (a->silent_rounds == SILENT_ROUNDS_FAILOVER && a->broker_count == 1 && !a->silent_warned) {
        /* nowhere to fail over to: say what the operator should look at */
        pingyi_warn ("broker %s: nothing heard for %d rounds (is it running? is this aggregator's key in its "
                     "keyring?)",
                     a->brokers[a->broker_index], SILENT_ROUNDS_FAILOVER);
        a->silent_warned = true;
    }
    publish (a, now);
    log_transitions (a, now);
    if (a->silent_rounds >= SILENT_ROUNDS_FAILOVER && a->broker_count > 1)
        failover (a);
    a->round++;
    a->stats.rounds++;
    a->heard = false;
    a->published = false;
    agg_shards_round (a->shards, now);
    a->send_after = 0;
}

static int
run (agg_t *a)
{
    int64_t next_round = pingyi_now_ms ();
    while (!stopping) {
        pingyi_log_poll (); /* a SIGHUP's reopen of --log-file */
        int64_t now = pingyi_now_ms ();
        if (now >= next_round) {
            tick (a, now);
            next_round += a->interval_ms;
            if (next_round <= now)
                next_round = now + a->interval_ms; /* fell behind: do not burst */
        }
        bool due = send_queries (a, now);
        int64_t wait = next_round - now;
        if (due && wait > SEND_RETRY_MS)
            wait = SEND_RETRY_MS;
        zmq_pollitem_t item = {a->sock, 0, ZMQ_POLLIN, 0};
        int rc = a->sock ? zmq_poll (&item, 1, (long) (wait > 0 ? wait : 0)) : 0;
        if (!a->sock && wait > 0)
            zmq_poll (NULL, 0, (long) wait);
        if (rc < 0) {
            if (zmq_errno () == EINTR)
                continue;
            pingyi_error ("zmq_poll: %s: stopping", zmq_strerror (zmq_errno ()));
            return EXIT_FAILED;
        }
        now = pingyi_now_ms ();
        if (rc > 0)
            receive (a, now);
        /* the round's answers are all in: show them now, not at the tick,
           so ages are counted from the answer, not from the round before */
        if (!a->published && agg_shards_idle (a->shards)) {
            if (agg_shards_changed (a->shards))
                merge (a, now);
            publish (a, now);
            log_transitions (a, now);
            a->published = true;
        }
    }
    return EXIT_OK;
}

int
main (int argc, char **argv)
{
    pingyi_log_prog = "pingyi-agg";
    agg_t a;
    memset (&a, 0, sizeof a);
    agg_board_init (&a.board);
    pingyi_writer_init (&a.w);
    int rc = EXIT_START;
    char err[PINGYI_ERR_MAX];
    if (parse_flags (&a, argc, argv, &rc))
        goto done;
    rc = EXIT_START;
    a.bundle = pingyi_bundle_load (a.deploy, PINGYI_ROLE_AGGREGATOR, NULL, err);
    if (!a.bundle) {
        pingyi_error ("%s", err);
        goto done;
    }
    a.election = a.bundle->election;
    a.history = agg_history_open (a.data, AGG_HISTORY_KEEP, err);
    if (!a.history) {
        pingyi_error ("%s", err);
        goto done;
    }
    a.api.history = a.history;
    a.round = agg_history_last_round (a.history) + 1;
    a.started_ms = pingyi_now_ms ();
    a.shards = agg_shards_new (a.election, a.interval_ms, a.stale_ms);
    if (!a.shards) {
        pingyi_error ("out of memory");
        goto done;
    }
    /* an empty view first, so HTTP answers from the start (every shard
       stale, nothing counted) */
    pingyi_tally_t *tally = pingyi_tally_new (a.election);
    pingyi_view_t *view = tally ? pingyi_view_new (a.election, tally) : NULL;
    a.merged = view ? agg_merged_new (a.election, tally, view, 0, time (NULL)) : NULL;
    if (!a.merged) {
        pingyi_view_destroy (&view);
        pingyi_tally_destroy (&tally);
        pingyi_error ("out of memory");
        goto done;
    }
    publish (&a, a.started_ms);
    a.http = agg_http_start_guarded (a.http_spec, &a.board, &a.api, &a.token, err);
    if (!a.http) {
        pingyi_error ("%s", err);
        goto done;
    }
    a.ctx = zmq_ctx_new ();
    if (!a.ctx || connect_broker (&a, err)) {
        pingyi_error ("%s", a.ctx ? err : "zmq_ctx_new failed");
        goto done;
    }
    pingyi_cli_signals (&stopping);
    char num[40];
    pingyi_info (
        "election %s (%.16s…), %u shards, %s venues; brokers %s; interval %lld ms, stale after %lld ms; "
        "history in %s from round %llu",
        a.election->id, a.election->fingerprint_hex, a.election->shard_count,
        grouped (num, sizeof num, a.election->venue_count), a.brokers[0], (long long) a.interval_ms,
        (long long) a.stale_ms, a.data, (unsigned long long) a.round);
    const char *colon = strrchr (a.http_spec, ':');
    pingyi_info ("listening on http://%.*s:%u/api/v1/", (int) (colon - a.http_spec), a.http_spec,
                 agg_http_port (a.http));
    pingyi_info ("dashboard on http://%.*s:%u/%s", (int) (colon - a.http_spec), a.http_spec,
                 agg_http_port (a.http),
                 a.token.set ? " (asks for the --http-token: open /?token=TOKEN once)" : "");
    pingyi_notify_ready (); /* systemd: HTTP served (agg_http_start above) */
    rc = run (&a);
    pingyi_notify_stopping ();
    pingyi_info ("stopping at round %llu", (unsigned long long) a.round);
done:
    agg_http_stop (&a.http);
    if (a.sock)
        zmq_close (a.sock);
    if (a.ctx)
        zmq_ctx_term (a.ctx);
    agg_history_close (&a.history);
    agg_board_fini (&a.board);
    agg_merged_unref (&a.merged);
    agg_shards_destroy (&a.shards);
    pingyi_bundle_destroy (&a.bundle);
    pingyi_writer_fini (&a.w);
    pingyi_cli_list_fini (&a.broker_list);
    sodium_memzero (&a.token, sizeof a.token);
    if (rc == EXIT_OK && a.started_ms) /* it ran: not --help or --version */
        pingyi_info ("stopped");
    return rc;
}
