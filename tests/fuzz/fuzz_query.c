/*  fuzz_query.c — libFuzzer target: any bytes as the request target of a
    GET to pingyi-agg ("/api/v1/rollup?by=unit&district=d1"), answered by
    agg_api_route (aggregator/api.c): the path against the endpoint table,
    the query arguments against each endpoint's list (check_args), the
    filters (parse_filter: district, category, item), by= (level),
    limit= (history), then the rendering of the answer.

    The target is split and decoded the way libmicrohttpd hands it to
    aggregator/http.c: at the first '?', the query at '&' into key[=value]
    (a key without '=' has a NULL value), '+' as a space, then
    MHD_http_unescape on the path, each key and each value (so "%00" cuts a
    string, as it does in the server).  At most AGG_ARGS_MAX + 1 arguments
    are kept, as take_arg keeps them.  The state answered from is the
    example election (examples/2022-district-review.json, or
    $PINGYI_FUZZ_ELECTION) with a few counts in every venue, k-anonymous
    release applied, shards fresh and stale; no history store (/history
    checks limit=, then answers 503).

    agg_api_route must never crash, leak or read out of bounds; every
    answer is one of the statuses docs/API.md lists, with a body that is
    one JSON object jansson reads (an error one with an "error" string),
    whatever bytes the path and the arguments hold.  A broken promise
    aborts.

    Seeds (tests/fuzz/corpus/query): the request targets of docs/API.md,
    tests/integration/test_agg_*.sh and tests/unit/test_agg_api.c.  */
#include "api.h"
#include "election.h"
#include "rollup.h"
#include "state.h"
#include "tally.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#ifndef PINGYI_SOURCE_DIR
#define PINGYI_SOURCE_DIR "."
#endif

#define NOW 1000000

static pingyi_election_t *election;
static agg_state_t *state;
static agg_api_t api;

static void
setup (void)
{
    const char *path = getenv ("PINGYI_FUZZ_ELECTION");
    if (!path || !*path)
        path = PINGYI_SOURCE_DIR "/examples/2022-district-review.json";
    char err[PINGYI_ERR_MAX];
    election = pingyi_election_load_or_err (path, err);
    if (!election) {
        fprintf (stderr, "fuzz_query: %s\n", err);
        abort ();
    }
    const pingyi_election_t *e = election;
    pingyi_tally_t *t = pingyi_tally_new (e);
    if (!t)
        abort ();
    /* every venue: 12 ballots of category 0, 3 of the last category (held
       back by the release), marks spread over the form */
    for (size_t v = 0; v < e->venue_count; v++) {
        const pingyi_venue_t *venue = &e->venues[v];
        uint64_t by_cat[2] = {12, 3};
        for (size_t si = 0; si < venue->subject_count; si++)
            for (size_t i = 0; i < e->item_count; i++)
                for (int c = 0; c < 2; c++) {
                    pingyi_counter_key_t k = {(uint16_t) v, (uint16_t) venue->subjects[si], (uint8_t) i,
                                              (uint8_t) (c ? e->category_count - 1 : 0),
                                              (uint8_t) ((si + i + (size_t) c) % 4)};
                    if (pingyi_tally_add_cell (t, &k, by_cat[c]) != 0)
                        abort ();
                }
        pingyi_venue_figures_t f;
        memset (&f, 0, sizeof f);
        f.venue = (uint32_t) v;
        f.accepted = 15;
        f.issued = f.collected = f.sent = v ? 15 : -1;
        f.closed = v != 0;
        f.category_count = (uint32_t) e->category_count;
        f.by_category[0] = 12;
        f.by_category[e->category_count - 1] += 3;
        if (pingyi_tally_set_figures (t, &f) != 0)
            abort ();
    }
    pingyi_view_t *view = pingyi_view_new (e, t);
    if (!view)
        abort ();
    agg_merged_t *m = agg_merged_new (e, t, view, 7, 1700000000);
    if (!m)
        abort ();
    state = agg_state_new (m, e->shard_count);
    agg_merged_unref (&m);
    if (!state)
        abort ();
    state->round = 9;
    state->started_ms = NOW - 60000;
    state->stale_ms = 5000;
    state->interval_ms = 1000;
    state->broker = "tcp://127.0.0.1:7701";
    for (uint32_t i = 0; i < e->shard_count; i++) {
        agg_shard_info_t *s = &state->shards[i];
        s->shard = i;
        s->have = i != 1; /* shard 1 never heard from */
        s->sequence = 10 + i;
        s->generation = 100 + i;
        s->complete_ms = i == 2 ? NOW - 6000 : NOW - 300; /* shard 2 stale */
        memset (s->digest, 0xc0 + (int) i, 32);
    }
    snprintf (state->shards[2].reason, sizeof state->shards[2].reason, "no worker owns shard 2 now");
    api.history = NULL;
}

/*  '+' is a space in a query, then %XX (what libmicrohttpd does).  */
static void
unescape (char *s, bool plus)
{
    if (plus)
        for (char *p = s; *p; p++)
            if (*p == '+')
                *p = ' ';
    MHD_http_unescape (s);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!election)
        setup ();
    /* the request target as the server sees it: a C string */
    char *url = malloc (size + 1);
    if (!url)
        abort ();
    memcpy (url, data, size);
    url[size] = '\0';
    agg_arg_t args[AGG_ARGS_MAX + 1];
    size_t n = 0;
    char *q = strchr (url, '?');
    if (q) {
        *q++ = '\0';
        char *next = q;
        while (next && n <= AGG_ARGS_MAX) {
            char *a = next;
            next = strchr (a, '&');
            if (next)
                *next++ = '\0';
            if (!*a && next)
                continue; /* "&&": no argument */
            if (!*a)
                break;
            char *eq = strchr (a, '=');
            if (eq) {
                *eq++ = '\0';
                unescape (eq, true);
            }
            unescape (a, true);
            args[n++] = (agg_arg_t){a, eq};
        }
    }
    unescape (url, false);

    agg_reply_t reply;
    agg_api_route (&api, state, NOW, "GET", url, args, n, &reply);
    int st = reply.status;
    if (st != 200 && st != 400 && st != 404 && st != 414 && st != 503 && st != 500)
        abort ();
    if (st == 500)
        abort (); /* out of memory is the only 500, and there is memory */
    if (!reply.body || reply.len == 0 || reply.body[reply.len] != '\0')
        abort ();
    json_error_t jerr;
    json_t *doc = json_loadb (reply.body, reply.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc || !json_is_object (doc)) {
        fprintf (stderr, "fuzz_query: status %d, body not one JSON object (%s): %.200s\n", st,
                 doc ? "not an object" : jerr.text, reply.body);
        abort ();
    }
    if (st != 200 && !json_is_string (json_object_get (doc, "error")))
        abort ();
    json_decref (doc);
    agg_reply_free (&reply);
    free (url);
    return 0;
}
