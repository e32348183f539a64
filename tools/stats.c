/*  stats.c — `pingyi stats`: ask the broker (or one shard's worker, through
    the broker) for its counters, as an operator.  Prints "name value" lines,
    or one JSON object with --json.

    Exit (docs/exit-codes.md): 0 counters printed; 1 refused (an ERROR
    answer); 2 usage, the operator bundle, or an endpoint that is not one;
    3 not reached: no answer within --timeout-ms, or the broker answered
    that no worker holds the shard asked for (RETRY).  */
#include "cli.h"
#include "deploy.h"
#include "link.h"
#include "json_text.h"
#include "msg.h"
#include "quote.h"
#include "tools.h"

#include <stdlib.h>
#include <string.h>
#include <zmq.h>

int
pingyi_cmd_stats (int argc, char **argv)
{
    const char *deploy = NULL, *endpoint = NULL;
    uint64_t shard_number = 0, timeout_ms = 3000;
    bool json = false, has_shard = false;
    const pingyi_cli_option_t options[] = {
        PINGYI_CLI_OPT_TEXT ("deploy", &deploy, "DIR", "the deploy directory (its operator/ bundle is used)"),
        PINGYI_CLI_OPT_ENDPOINT ("broker", &endpoint, "ENDPOINT", "the broker to ask"),
        {.name = "shard",
         .kind = PINGYI_CLI_U64,
         .target = &shard_number,
         .value_name = "N",
         .help = "ask the worker that holds shard N, through the broker (default:\nthe broker itself)",
         .min = 0,
         .max = PINGYI_MAX_SHARDS - 1,
         .given = &has_shard},
        PINGYI_CLI_OPT_FLAG ("json", &json, "one JSON object instead of \"name value\" lines"),
        PINGYI_CLI_OPT_U64 ("timeout-ms", &timeout_ms, "T",
                            "wait at most T ms for the answer (1..600000, default 3000)", 1, 600000),
        PINGYI_CLI_END,
    };
    pingyi_cli_t cli = {
        .prog = "pingyi stats",
        .synopsis = "pingyi stats --deploy DIR --broker ENDPOINT [--shard N] [--json] [--timeout-ms T]\n"
                    "  the counters of the broker, or of a shard's worker",
        .options = options,
    };
    int status;
    if (pingyi_cli_parse (&cli, argc, argv, &status))
        return status;
    if (!deploy || !endpoint)
        return pingyi_cli_fail (&cli, "--deploy and --broker are required");
    long shard = has_shard ? (long) shard_number : -1;
    char err[PINGYI_ERR_MAX], shown[PINGYI_QUOTE_SIZE (PINGYI_ERR_MAX)];
    pingyi_bundle_t *bundle = pingyi_bundle_load (deploy, PINGYI_ROLE_OPERATOR, NULL, err);
    if (!bundle) {
        fprintf (stderr, "pingyi stats: %s\n", err);
        return 2;
    }
    int rc = 2;
    void *ctx = zmq_ctx_new ();
    void *sock = pingyi_link_dealer (ctx, endpoint, bundle->broker_public, bundle->curve_public,
                                     bundle->curve_secret, NULL, err);
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    if (!sock) {
        fprintf (stderr, "pingyi stats: %s\n", err);
        goto done;
    }
    rc = 3; /* until an answer comes */
    pingyi_msg_stats_query (&w, 1, (int32_t) shard);
    zmq_msg_t frame;
    pingyi_msg_t msg;
    if (pingyi_tool_ask (sock, &w, 1, pingyi_now_ms () + (int64_t) timeout_ms, &frame, &msg, err)) {
        if (!strcmp (err, "no answer in time"))
            fprintf (stderr,
                     "pingyi stats: no answer from %s within %llu ms (is the broker running there?)\n",
                     endpoint, (unsigned long long) timeout_ms);
        else {
            fprintf (stderr, "pingyi stats: %s: %s\n", endpoint, err);
            rc = 1;
        }
        goto done;
    }
    if (msg.type == PINGYI_MSG_STATS) {
        pingyi_stat_t s;
        if (json) {
            fputs ("{\"source\":", stdout);
            pingyi_json_write_text (stdout, msg.u.stats.source.p, msg.u.stats.source.len);
        }
        while (pingyi_list_next_stat (&msg.u.stats.stats, &s))
            if (json) {
                fputc (',', stdout);
                pingyi_json_write_text (stdout, s.name.p, s.name.len);
                printf (":%llu", (unsigned long long) s.value);
            }
            else if (s.name.len > 12 && memcmp (s.name.p + s.name.len - 12, "_stop_reason", 12) == 0)
                /* a shard's stop reason: the number, then its name for people */
                printf ("%.*s %llu (%s)\n", (int) s.name.len, s.name.p, (unsigned long long) s.value,
                        s.value <= PINGYI_SHARD_STOP_OTHER ? pingyi_shard_stop_name ((pingyi_shard_stop_t) s.value)
                                                            : "unknown");
            else
                printf ("%.*s %llu\n", (int) s.name.len, s.name.p, (unsigned long long) s.value);
        if (json)
            printf ("}\n");
        rc = 0;
    }
    else if (msg.type == PINGYI_MSG_RETRY) /* rc stays 3: the broker, but not the worker, was reached */
        fprintf (stderr, "pingyi stats: %s: %s\n", endpoint,
                 pingyi_quote_as (shown, sizeof shown, msg.u.retry.reason.p, msg.u.retry.reason.len,
                                  PINGYI_ERR_MAX, PINGYI_QUOTE_BARE));
    else {
        fprintf (stderr, "pingyi stats: %s: refused: %s\n", endpoint,
                 pingyi_quote_as (shown, sizeof shown, msg.u.error.text.p, msg.u.error.text.len,
                                  PINGYI_ERR_MAX, PINGYI_QUOTE_BARE));
        rc = 1;
    }
    zmq_msg_close (&frame);
done:
    pingyi_writer_fini (&w);
    if (sock)
        zmq_close (sock);
    zmq_ctx_term (ctx);
    pingyi_bundle_destroy (&bundle);
    return rc;
}
