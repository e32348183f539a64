/*  gen_election.h — generated citywide definitions for drills and
    benchmarks (`pingyi gen-election`).  */
#ifndef PINGYI_GEN_ELECTION_H
#define PINGYI_GEN_ELECTION_H

#include "election.h"

#include <stdio.h>

/*  Write a larger citywide definition for drills and benchmarks: districts ×
    venues_per_district venues, `subjects` subjects spread over units, each
    venue's form covering form_subjects of its district's subjects, `items`
    items (overall + items-1 single items).  Deterministic for a given seed.
    Returns 0 / -1.  */
typedef struct {
    unsigned districts;
    unsigned venues_per_district;
    unsigned subjects;
    unsigned form_subjects;
    unsigned items;
    unsigned shards;
    uint64_t seed;
} pingyi_gen_options_t;
int pingyi_election_generate (const pingyi_gen_options_t *opts, FILE *out, char *err);

#endif
