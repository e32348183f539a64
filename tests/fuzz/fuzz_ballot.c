/*  fuzz_ballot.c — libFuzzer target: any bytes as a ballot body.  The
    first byte picks the venue, the rest is the body, decoded against the
    example election (examples/2022-district-review.json, or the file named
    by $PINGYI_FUZZ_ELECTION), loaded once.  Decode must never crash or read
    past the input; a refusal always has a reason; an accepted ballot counts
    without trouble (the per-mark and the dense count agree), re-encodes,
    and decodes again to the same ballot.  */
#include "ballot.h"
#include "election.h"

#include <stdlib.h>
#include <string.h>

#ifndef PINGYI_SOURCE_DIR
#define PINGYI_SOURCE_DIR "."
#endif

static pingyi_election_t *election;

static void
load_election (void)
{
    const char *path = getenv ("PINGYI_FUZZ_ELECTION");
    if (!path || !*path)
        path = PINGYI_SOURCE_DIR "/examples/2022-district-review.json";
    char err[PINGYI_ERR_MAX];
    election = pingyi_election_load_or_err (path, err);
    if (!election) {
        fprintf (stderr, "fuzz_ballot: %s\n", err);
        abort ();
    }
}

static void
count_one (const pingyi_counter_key_t *key, void *arg)
{
    size_t *n = arg;
    if (key->mark >= PINGYI_MAX_CHOICES && key->mark != PINGYI_MARK_BLANK && key->mark != PINGYI_MARK_OVER)
        abort ();
    (*n)++;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!election)
        load_election ();
    if (size < 1)
        return 0;
    size_t venue = data[0] % election->venue_count;
    /*  A copy of exactly the body, so ASan sees any read past its end.  */
    uint8_t *body = malloc (size - 1 ? size - 1 : 1);
    if (!body)
        return 0;
    memcpy (body, data + 1, size - 1);
    pingyi_ballot_t b;
    char err[PINGYI_ERR_MAX] = "";
    pingyi_reject_t code = pingyi_ballot_decode (election, venue, body, size - 1, &b, err);
    if (code != PINGYI_REJECT_NONE) {
        if (!err[0] || code >= PINGYI_REJECT_COUNT_)
            abort ();
        free (body);
        return 0;
    }
    size_t marks = 0;
    pingyi_ballot_count (&b, election, venue, count_one, &marks);
    if (marks < b.subject_count * election->item_count)
        abort ();
    /*  The dense count adds the same increments inside the venue's block,
        sized exactly, so ASan sees any cell outside it.  */
    size_t per_mark = pingyi_count_marks (election);
    size_t cells = b.subject_count * election->item_count * election->category_count * per_mark;
    uint32_t *block = calloc (cells ? cells : 1, sizeof *block);
    if (!block)
        abort ();
    pingyi_ballot_count_cells (&b, election, block, per_mark);
    size_t added = 0;
    for (size_t i = 0; i < cells; i++)
        added += block[i];
    free (block);
    if (added != marks)
        abort ();
    (void) pingyi_ballot_is_blank (&b, election);
    uint8_t again[PINGYI_BODY_MAX];
    size_t len = pingyi_ballot_encode (&b, election, again, sizeof again);
    pingyi_ballot_t back;
    if (len == 0 || pingyi_ballot_decode (election, venue, again, len, &back, err) != PINGYI_REJECT_NONE ||
        memcmp (&back, &b, sizeof b) != 0)
        abort ();
    free (body);
    return 0;
}
