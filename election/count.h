/*  count.h — the count block: every counter of one (venue, subject), the
    unit each layer of the count stores, sends and adds.

    A block is `width` cells, one per (item, category, mark slot), the cell
    of (item, category, slot) at (item × categories + category) × marks +
    slot.  Mark slots: the choice's index, then BLANK (弃权) at marks − 2 and
    OVER (多选无效) at marks − 1, where marks is the largest choice set of any
    item plus 2 (6 for the four grades).  A slot past an item's own choices
    (and before BLANK) is never counted: a block with a count there is
    damaged or forged.

    The worker counts a ballot into its venue's blocks (pingyi_ballot_count_
    cells), the shard stores one block per row of u32 LE (docs/worker.md),
    SNAPSHOT carries the same bytes (docs/PROTOCOL.md), the tally adds them
    into its own blocks (one per venue and form position) and the roll-ups
    add tally blocks; the recount compares blocks.  This header is the one
    place the layout is written down.  */
#ifndef PINGYI_COUNT_H
#define PINGYI_COUNT_H

#include "bytes.h"
#include "election.h"

/*  A block's key: venue u16 BE, subject u16 BE, so blocks sort by venue,
    then subject.  */
#define PINGYI_ROW_KEY_LEN 4

typedef struct {
    size_t items;      /* the election's items */
    size_t categories; /* the election's rater categories */
    size_t marks;      /* slots per (item, category): widest item choice set + 2 */
    size_t width;      /* cells in a block: items × categories × marks */
} pingyi_count_shape_t;

/*  The shape of every block of this election.  */
void pingyi_count_shape (const pingyi_election_t *election, pingyi_count_shape_t *shape);

/*  Slots per (item, category) alone (the shape's marks).  */
size_t pingyi_count_marks (const pingyi_election_t *election);

/*  The slot of a mark among `marks`: the choice's index, marks − 2 for
    BLANK, marks − 1 for OVER; `marks` (no slot) for a choice index that
    does not fit.  And back.  */
static inline size_t
pingyi_count_cell (uint8_t mark, size_t marks)
{
    if (mark == PINGYI_MARK_BLANK)
        return marks - 2;
    if (mark == PINGYI_MARK_OVER)
        return marks - 1;
    return mark < marks - 2 ? mark : marks;
}

static inline uint8_t
pingyi_count_cell_mark (size_t cell, size_t marks)
{
    return cell == marks - 2 ? PINGYI_MARK_BLANK : cell == marks - 1 ? PINGYI_MARK_OVER : (uint8_t) cell;
}

/*  Cell index of (item, category, slot) in a block.  */
static inline size_t
pingyi_count_index (const pingyi_count_shape_t *shape, size_t item, size_t category, size_t slot)
{
    return (item * shape->categories + category) * shape->marks + slot;
}

/*  Whether a mark can be counted in slot of item: a choice of the item's
    own set, BLANK or OVER.  */
bool pingyi_count_slot_used (const pingyi_election_t *election, const pingyi_count_shape_t *shape,
                             size_t item, size_t slot);

/*  A block received from outside (u32 LE cells, `len` bytes): -1 when it is
    sound (len = width × 4, nothing in an unused slot), else the index of
    the first cell that no ballot could have counted (width for a wrong
    length).  */
long pingyi_count_block_bad_cell (const pingyi_election_t *election, const pingyi_count_shape_t *shape,
                                  const uint8_t *cells, size_t len) PINGYI_WARN_UNUSED;

/*  Whether a venue's block agrees with the venue's accepted ballots by
    rater category (by_category[c], c < shape->categories): every accepted
    ballot marks each item of each form subject once (a choice, BLANK or
    OVER), or 1..max_choices times for an item that allows several, so the
    cells of every (item, category) add up to by_category[c] (between it
    and max_choices times it); and no count sits in an unused slot.  0, or
    -1 with why ("item overall, category 1: cells add up to 41, for 40
    such ballots").  */
int pingyi_count_block_agrees (const pingyi_election_t *election, const pingyi_count_shape_t *shape,
                               const uint8_t *cells, const uint64_t *by_category, char *why,
                               size_t why_cap) PINGYI_WARN_UNUSED;

/*  Row key pack / unpack.  */
void pingyi_row_key_pack (uint32_t venue, uint32_t subject, uint8_t out[PINGYI_ROW_KEY_LEN]);
void pingyi_row_key_unpack (const uint8_t in[PINGYI_ROW_KEY_LEN], uint32_t *venue, uint32_t *subject);

/*  Cell i of a u32 LE block.  */
static inline uint32_t
pingyi_count_le32 (const uint8_t *cells, size_t i)
{
    return pingyi_get_le32 (cells + 4 * i);
}

#endif
