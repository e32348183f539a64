/*  reopen.c — `pingyi reopen`: an operator's correction of a venue's close
    (a forgotten box, mistyped totals).  Sends VENUE_REOPEN through the
    broker to the worker of the venue's shard, which records the reopen with
    its reason and opens the venue again; its client may then send more
    ballots and close again.  Prints the venue's figures after the reopen.
    Exit 0 reopened, 1 refused (the reason printed), 2 usage or environment.  */
#include "cli.h"
#include "deploy.h"
#include "envelope.h"
#include "link.h"
#include "msg.h"
#include "quote.h"
#include "tools.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <zmq.h>

/*  How often the venue was reopened so far, from its shard's SNAPSHOT
    (released figures carry it): this reopen's number is one more.  0 with
    *reopens set, -1 with err.  */
static int
current_reopens (void *sock, uint32_t shard, uint32_t venue, int64_t deadline, uint32_t *reopens, char *err)
{
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    const uint64_t tag = 2;
    pingyi_msg_tally_query (&w, tag, shard, NULL);
    int rc = -1;
    char shown[PINGYI_QUOTE_SIZE (PINGYI_ERR_MAX)]; /* the worker's text, escaped */
    for (;;) {
        zmq_msg_t frame;
        pingyi_msg_t m;
        if (pingyi_tool_ask (sock, &w, tag, deadline, &frame, &m, err))
            break;
        bool again = m.type == PINGYI_MSG_RETRY; /* no owner now: ask again */
        if (m.type == PINGYI_MSG_SNAPSHOT) {
            pingyi_list_t list = m.u.snapshot.venues;
            pingyi_venue_figures_t f;
            rc = pingyi_fail (err, "shard %u's snapshot does not list the venue", shard);
            while (pingyi_list_next_figures (&list, &f))
                if (f.venue == venue) {
                    *reopens = f.reopens;
                    rc = 0;
                }
        }
        else if (m.type == PINGYI_MSG_ERROR)
            rc = pingyi_fail (err, "%s",
                              pingyi_quote_as (shown, sizeof shown, m.u.error.text.p, m.u.error.text.len,
                                               PINGYI_ERR_MAX, PINGYI_QUOTE_BARE));
        zmq_msg_close (&frame);
        if (!again)
            break;
        zmq_poll (NULL, 0, 500);
    }
    pingyi_writer_fini (&w);
    return rc;
}

static void
print_figures (const char *venue, const pingyi_venue_figures_t *f)
{
    printf ("venue %s reopened (reopen %" PRIu32 "): %s\n", venue, f->reopens, f->closed ? "closed" : "open");
    printf ("accepted %" PRIu64 " (blank %" PRIu64 "), duplicates %" PRIu64 ", rejected %" PRIu64 "\n",
            f->accepted, f->blank, f->duplicates, f->rejected);
    printf ("issued %" PRId64 ", collected %" PRId64 ", sent %" PRId64 " (-1: declared at the next close)\n",
            f->issued, f->collected, f->sent);
}

int
pingyi_cmd_reopen (int argc, char **argv)
{
    const char *deploy = NULL, *endpoint = NULL, *venue = NULL, *reason = NULL;
    uint64_t timeout = 10000;
    const pingyi_cli_option_t options[] = {
        PINGYI_CLI_OPT_TEXT ("deploy", &deploy, "DIR", "the deploy directory (its operator/ bundle is used)"),
        PINGYI_CLI_OPT_ENDPOINT ("broker", &endpoint, "ENDPOINT", "the broker to send the reopen through"),
        PINGYI_CLI_OPT_TEXT ("venue", &venue, "ID", "the venue to reopen"),
        PINGYI_CLI_OPT_TEXT ("reason", &reason, "TEXT", "why (recorded with the reopen; UTF-8)"),
        PINGYI_CLI_OPT_U64 ("timeout-ms", &timeout, "T",
                            "wait at most T ms for the answer (1..600000, default 10000)", 1, 600000),
        PINGYI_CLI_END,
    };
    pingyi_cli_t cli = {
        .prog = "pingyi reopen",
        .synopsis = "pingyi reopen --deploy DIR --broker ENDPOINT --venue ID --reason TEXT [--timeout-ms T]\n"
                    "  reopen a closed venue (a correction, recorded with its reason)",
        .options = options,
    };
    int status;
    if (pingyi_cli_parse (&cli, argc, argv, &status))
        return status;
    if (!deploy || !endpoint || !venue || !reason)
        return pingyi_cli_fail (&cli, "--deploy, --broker, --venue and --reason are required");
    long timeout_ms = (long) timeout;
    size_t reason_len = strlen (reason);
    if (reason_len < 1 || reason_len > PINGYI_TEXT_MAX ||
        pingyi_utf8_invalid_at ((const uint8_t *) reason, reason_len) != reason_len) {
        fprintf (stderr, "pingyi reopen: --reason must be UTF-8 text of 1..%u bytes\n",
                 (unsigned) PINGYI_TEXT_MAX);
        return 2;
    }
    size_t venue_len = strlen (venue);
    if (venue_len < 1 || venue_len > PINGYI_NAME_MAX) {
        fprintf (stderr, "pingyi reopen: --venue must have 1..%u bytes\n", (unsigned) PINGYI_NAME_MAX);
        return 2;
    }
    char err[PINGYI_ERR_MAX], shown[PINGYI_QUOTE_SIZE (PINGYI_ERR_MAX)];
    pingyi_bundle_t *bundle = pingyi_bundle_load (deploy, PINGYI_ROLE_OPERATOR, NULL, err);
    if (!bundle) {
        fprintf (stderr, "pingyi reopen: %s\n", err);
        return 2;
    }
    if (pingyi_election_venue (bundle->election, venue, venue_len) < 0) {
        fprintf (stderr, "pingyi reopen: venue %s is not in election %s\n", venue, bundle->election->id);
        pingyi_bundle_destroy (&bundle);
        return 1;
    }
    int rc = 2;
    void *ctx = zmq_ctx_new ();
    void *sock = pingyi_link_dealer (ctx, endpoint, bundle->broker_public, bundle->curve_public,
                                     bundle->curve_secret, NULL, err);
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    if (!sock) {
        fprintf (stderr, "pingyi reopen: %s\n", err);
        goto done;
    }
    const uint64_t tag = 1;
    int64_t deadline = pingyi_now_ms () + timeout_ms;
    int vi = pingyi_election_venue (bundle->election, venue, venue_len);
    uint32_t shard = bundle->election->venues[vi].shard, reopens = 0;
    const uint8_t *shard_public = pingyi_keyring_shard_public (bundle->keyring, shard);
    uint8_t reopen_key[32];
    if (!shard_public || pingyi_envelope_reopen_key (reopen_key, shard_public, bundle->curve_secret)) {
        fprintf (stderr, "pingyi reopen: keyring.tsv has no usable box key for shard %u\n", shard);
        goto done;
    }
    if (current_reopens (sock, shard, (uint32_t) vi, deadline, &reopens, err)) {
        sodium_memzero (reopen_key, sizeof reopen_key);
        fprintf (stderr, "pingyi reopen: %s\n", err);
        goto done;
    }
    pingyi_msg_venue_reopen (&w, tag, bundle->election->fingerprint, venue, reopens + 1, reason, reopen_key);
    sodium_memzero (reopen_key, sizeof reopen_key);
    for (;;) {
        zmq_msg_t frame;
        pingyi_msg_t msg;
        if (pingyi_tool_ask (sock, &w, tag, deadline, &frame, &msg, err)) {
            if (strcmp (err, "no answer in time"))
                fprintf (stderr, "pingyi reopen: %s\n", err);
            else
                fprintf (stderr,
                         "pingyi reopen: no answer from %s within %ld ms (the venue may or may not be reopened: "
                         "run again; a reopened venue answers \"is not closed\")\n",
                         endpoint, timeout_ms);
            break;
        }
        if (msg.type == PINGYI_MSG_RETRY) {
            /* nobody applied it (no owner alive, a stopped shard): again */
            fprintf (stderr, "pingyi reopen: %s\n",
                     pingyi_quote_as (shown, sizeof shown, msg.u.retry.reason.p, msg.u.retry.reason.len,
                                      PINGYI_ERR_MAX, PINGYI_QUOTE_BARE));
            uint32_t ms = msg.u.retry.retry_ms < 5000 ? msg.u.retry.retry_ms : 5000;
            zmq_msg_close (&frame);
            zmq_poll (NULL, 0, (long) ms);
            continue;
        }
        if (msg.type == PINGYI_MSG_VENUE_STATUS) {
            print_figures (venue, &msg.u.venue_status.figures);
            rc = 0;
        }
        else if (msg.type == PINGYI_MSG_ERROR) {
            fprintf (stderr, "pingyi reopen: refused: %s\n",
                     pingyi_quote_as (shown, sizeof shown, msg.u.error.text.p, msg.u.error.text.len,
                                      PINGYI_ERR_MAX, PINGYI_QUOTE_BARE));
            rc = 1;
        }
        zmq_msg_close (&frame);
        break;
    }
done:
    pingyi_writer_fini (&w);
    if (sock)
        zmq_close (sock);
    zmq_ctx_term (ctx);
    pingyi_bundle_destroy (&bundle);
    return rc;
}
