/*  tally.h — merged counters of a whole election, in memory.

    Shards each hold the count blocks of their own venues (election/count.h);
    the offline tally and the aggregator add them here.  Storage is one
    block of u64 per (venue, form position), in the block layout, so adding
    a shard's block is a loop over its cells and a roll-up adds blocks.

    A block from a shard is checked before it is added (venue, subject on
    that venue's form, its length, nothing in a slot no ballot can reach):
    a bad block is counted in `rejected_keys`, never trusted.  */
#ifndef PINGYI_TALLY_H
#define PINGYI_TALLY_H

#include "ballot.h"
#include "count.h"
#include "msg.h"

typedef struct pingyi_tally_t pingyi_tally_t;

pingyi_tally_t *pingyi_tally_new (const pingyi_election_t *election);
void pingyi_tally_destroy (pingyi_tally_t **self_p);
/*  Zero every counter and figure (before a fresh merge).  */
void pingyi_tally_reset (pingyi_tally_t *self);

/*  Add a count block (u32 LE cells, len bytes) of (venue, subject); -1 (and
    counted) if it names nothing in this election or is not a sound block.  */
int pingyi_tally_add_block (pingyi_tally_t *self, uint32_t venue, uint32_t subject, const uint8_t *cells,
                            size_t len) PINGYI_WARN_UNUSED;
/*  Add count to one cell named by its fields (a tally read back from JSON,
    tests); -1 (and counted) if it names nothing in this election.  */
int pingyi_tally_add_cell (pingyi_tally_t *self, const pingyi_counter_key_t *key, uint64_t count);
/*  The merged block of (venue, form position): shape->width u64 cells, or
    NULL past the venue's form.  */
const uint64_t *pingyi_tally_block (const pingyi_tally_t *self, size_t venue, size_t position);
const pingyi_count_shape_t *pingyi_tally_shape (const pingyi_tally_t *self);
/*  Set a venue's figures (as reported by its shard); -1 if no such venue.  */
int pingyi_tally_set_figures (pingyi_tally_t *self, const pingyi_venue_figures_t *figures);

/*  One counter: venue, definition subject, item, category, mark (choice index,
    PINGYI_MARK_BLANK or PINGYI_MARK_OVER).  0 for anything not counted.  */
uint64_t pingyi_tally_get (const pingyi_tally_t *self, size_t venue, size_t subject, size_t item,
                           size_t category, uint8_t mark);
/*  A venue's figures (zeros and -1s until set).  */
const pingyi_venue_figures_t *pingyi_tally_figures (const pingyi_tally_t *self, size_t venue);
uint64_t pingyi_tally_rejected_keys (const pingyi_tally_t *self);

/*  Walk every non-zero counter in (venue, form, item, category, mark) order.  */
typedef void (pingyi_tally_fn) (const pingyi_counter_key_t *key, uint64_t count, void *arg);
void pingyi_tally_each (const pingyi_tally_t *self, pingyi_tally_fn *fn, void *arg);

/*  Name of a mark for item: the choice label, "BLANK" or "OVER".  */
const char *pingyi_mark_name (const pingyi_election_t *election, size_t item, uint8_t mark);

#endif
