/*  generate.h — the drill generator: a reproducible stream of realistic
    ballots for one venue's form, and the exact tally it should produce.

    The stream depends only on the election (its form for the venue), the
    seed and the venue id: ballot k is the same on every run, however many
    ballots are asked for, so a restarted drill re-creates the ballots it
    already handed to the outbox and the outbox skips them (exactly once).

    The mix: mostly 好/较好, some 一般, few 差, with a bias that varies per
    subject and slightly per item; about 2% BLANK cells (no tick), 0.5% OVER
    cells (more ticks than the item allows), 1% blank ballots, and rater
    categories in proportions drawn once per venue.  The generator books
    what it generates itself (not through the model's counting), so the
    expected tally is an independent check on the whole pipeline.  */
#ifndef PINGYI_CLIENT_GENERATE_H
#define PINGYI_CLIENT_GENERATE_H

#include "ballot.h"
#include "common.h"

#define PINGYI_GEN_DIGEST_LEN 32

typedef struct pingyi_generator_t pingyi_generator_t;

/*  A generator of count ballots for venue (an index into election).  NULL
    when out of memory or venue is out of range.  */
pingyi_generator_t *pingyi_generator_new (const pingyi_election_t *election, size_t venue, uint64_t seed,
                                          uint64_t count);
void pingyi_generator_destroy (pingyi_generator_t **self_p);

/*  The next ballot into *ballot: true while ballots remain.  */
bool pingyi_generator_next (pingyi_generator_t *self, pingyi_ballot_t *ballot);

/*  Ballots produced so far.  */
uint64_t pingyi_generator_produced (const pingyi_generator_t *self);
/*  SHA-256 over the ballots produced so far (category and every mask, as
    little-endian u32): what the outbox compares after a restart.  */
void pingyi_generator_digest (const pingyi_generator_t *self, uint8_t out[PINGYI_GEN_DIGEST_LEN]);

/*  The tally of the ballots produced so far as JSON (docs/client.md):
        {"election":"<fingerprint hex>","venue":"v01","ballots":N,"blank_ballots":B,
         "counters":[{"subject":"s01","item":"overall","category":"c1","mark":"好","count":123},...]}
    mark is a choice label, "BLANK" or "OVER"; every nonzero counter is
    listed once, sorted like the shards' counter keys: by subject index in
    the definition, then item, category, mark (choices in order, then BLANK,
    then OVER).  0 / -1 with err.  */
int pingyi_generator_write_tally (const pingyi_generator_t *self, FILE *out, char *err) PINGYI_WARN_UNUSED;

/*  Run a fresh generator for (election, venue, seed, count) to the end and
    write its tally to path, atomically (a temporary file renamed).  */
int pingyi_generator_write_expect (const pingyi_election_t *election, size_t venue, uint64_t seed,
                                   uint64_t count, const char *path, char *err) PINGYI_WARN_UNUSED;

#endif
