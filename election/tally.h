/*  tally.h — merged counters of a whole election, in memory.

    Shards each hold the counters of their own venues; the offline tally and
    the aggregator merge them here.  Storage is dense: one u64 per (venue,
    form position, item, category, mark slot), so merging is an add and
    reading a roll-up is a walk, with no hashing.  Mark slots: the choice
    index, then BLANK, then OVER (slot = choice count of the widest set, +1).

    A counter key from a shard is checked before it is added (venue, subject
    on that venue's form, item, category, mark within the item's set): a bad
    key is counted in `rejected_keys`, never trusted.  */
#ifndef PINGYI_TALLY_H
#define PINGYI_TALLY_H

#include "ballot.h"
#include "msg.h"

typedef struct pingyi_tally_t pingyi_tally_t;

pingyi_tally_t *pingyi_tally_new (const pingyi_election_t *election);
void pingyi_tally_destroy (pingyi_tally_t **self_p);
/*  Zero every counter and figure (before a fresh merge).  */
void pingyi_tally_reset (pingyi_tally_t *self);

/*  Add count to the counter named by a packed key; -1 (and counted) if the
    key names nothing in this election.  */
int pingyi_tally_add (pingyi_tally_t *self, const uint8_t key[PINGYI_COUNTER_KEY_LEN], uint64_t count);
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
