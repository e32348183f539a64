/*  fuzz_definition.c — libFuzzer target: any bytes as an election
    definition.  The parser must never crash, leak or read out of bounds,
    and whatever it accepts must keep the model's promises: the summary
    prints, every id looks itself up, and each venue's blank ballot encodes
    within PINGYI_BODY_MAX and decodes back as valid (the parser guarantees
    every form fits a body).  A venue extract keeps them for the entries it
    holds; its placeholders (an empty id, only in an extract) are found by
    no look-up.  A broken promise aborts, so the fuzzer keeps the input.  */
#include "ballot.h"
#include "election.h"

#include <stdlib.h>
#include <string.h>

static void
check_model (const pingyi_election_t *e)
{
    static FILE *sink;
    if (!sink)
        sink = fopen ("/dev/null", "w");
    if (sink)
        pingyi_election_print_summary (e, sink);
    if (e->extract && (e->extract_venue >= e->venue_count || !e->venues[e->extract_venue].id[0]))
        abort ();
    for (size_t v = 0; v < e->venue_count; v++) {
        const pingyi_venue_t *venue = &e->venues[v];
        if (!venue->id[0]) {
            if (!e->extract || venue->subject_count || pingyi_election_venue (e, "", 0) >= 0)
                abort ();
            continue; /* a placeholder of an extract */
        }
        if (pingyi_election_venue (e, venue->id, strlen (venue->id)) != (int) v ||
            venue->shard >= e->shard_count)
            abort ();
        if (v >= 4)
            continue; /* a few venues are enough per input */
        pingyi_ballot_t b, back;
        pingyi_ballot_init (&b, e, v);
        uint8_t body[PINGYI_BODY_MAX];
        size_t len = pingyi_ballot_encode (&b, e, body, sizeof body);
        char err[PINGYI_ERR_MAX];
        if (len == 0 || pingyi_ballot_decode (e, v, body, len, &back, err) != PINGYI_REJECT_NONE)
            abort ();
    }
    for (size_t s = 0; s < e->subject_count; s++) {
        if (!e->subjects[s].id[0] && e->extract)
            continue;
        if (pingyi_election_subject (e, e->subjects[s].id, strlen (e->subjects[s].id)) != (int) s)
            abort ();
    }
    for (size_t c = 0; c < e->category_count; c++)
        if (pingyi_election_category (e, e->categories[c].id, strlen (e->categories[c].id)) != (int) c)
            abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    pingyi_errlist_t errs = {0};
    pingyi_election_t *e = pingyi_election_parse (data, size, &errs);
    if (e) {
        if (errs.count)
            abort (); /* a model is returned only when there is no error */
        check_model (e);
    }
    else if (errs.count == 0)
        abort (); /* a refusal always says why */
    pingyi_election_destroy (&e);
    pingyi_errlist_clear (&errs);
    return 0;
}
