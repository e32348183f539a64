/*  stats.c — `pingyi stats`: ask the broker (or one shard's worker, through
    the broker) for its counters, as an operator.  Prints "name value" lines,
    or one JSON object with --json.

    Exit (docs/exit-codes.md): 0 counters printed; 1 refused (an ERROR
    answer); 2 usage, the operator bundle, or an endpoint that is not one;
    3 not reached: no answer within --timeout-ms, or the broker answered
    that no worker holds the shard asked for (RETRY).  */
#include "deploy.h"
#include "link.h"
#include "msg.h"
#include "tools.h"

#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define USAGE "usage: pingyi stats --deploy DIR --broker ENDPOINT [--shard N] [--json] [--timeout-ms T]\n"

int
pingyi_cmd_stats (int argc, char **argv)
{
    const char *deploy = NULL, *endpoint = NULL;
    long shard = -1, timeout_ms = 3000;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp (f, "--json")) {
            json = true;
            continue;
        }
        if (strcmp (f, "--deploy") && strcmp (f, "--broker") && strcmp (f, "--shard") &&
            strcmp (f, "--timeout-ms")) {
            fprintf (stderr, "pingyi stats: unknown flag \"%s\"\n" USAGE, f);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf (stderr, "pingyi stats: %s needs a value\n" USAGE, f);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp (f, "--deploy"))
            deploy = v;
        else if (!strcmp (f, "--broker"))
            endpoint = v;
        else if (!strcmp (f, "--shard"))
            shard = (long) pingyi_arg_ulong (f, v, 0, PINGYI_MAX_SHARDS - 1);
        else
            timeout_ms = (long) pingyi_arg_ulong (f, v, 1, 600000);
    }
    if (!deploy || !endpoint) {
        fprintf (stderr, "pingyi stats: --deploy and --broker are required\n" USAGE);
        return 2;
    }
    char err[PINGYI_ERR_MAX];
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
    if (pingyi_tool_ask (sock, &w, 1, pingyi_now_ms () + timeout_ms, &frame, &msg, err)) {
        if (!strcmp (err, "no answer in time"))
            fprintf (stderr, "pingyi stats: no answer from %s within %ld ms (is the broker running there?)\n",
                     endpoint, timeout_ms);
        else {
            fprintf (stderr, "pingyi stats: %s: %s\n", endpoint, err);
            rc = 1;
        }
        goto done;
    }
    if (msg.type == PINGYI_MSG_STATS) {
        pingyi_stat_t s;
        if (json)
            printf ("{\"source\":\"%.*s\"", (int) msg.u.stats.source.len, msg.u.stats.source.p);
        while (pingyi_list_next_stat (&msg.u.stats.stats, &s))
            if (json)
                printf (",\"%.*s\":%llu", (int) s.name.len, s.name.p, (unsigned long long) s.value);
            else
                printf ("%.*s %llu\n", (int) s.name.len, s.name.p, (unsigned long long) s.value);
        if (json)
            printf ("}\n");
        rc = 0;
    }
    else if (msg.type == PINGYI_MSG_RETRY) /* rc stays 3: the broker, but not the worker, was reached */
        fprintf (stderr, "pingyi stats: %s: %.*s\n", endpoint, (int) msg.u.retry.reason.len,
                 msg.u.retry.reason.p);
    else {
        fprintf (stderr, "pingyi stats: %s: refused: %.*s\n", endpoint, (int) msg.u.error.text.len,
                 msg.u.error.text.p);
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
