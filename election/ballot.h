/*  ballot.h — one evaluation form as filled in, its wire body, its rules.

    A ballot is: a venue, a rater category, and for every subject on the
    venue's form one tick mask per item.  A mask records which choices were
    ticked (bit i = choice i of the item's choice set); the model, not the
    wire, turns a mask into marks: no tick = BLANK (弃权), more ticks than the
    item allows = OVER (多选无效, that cell only), else the ticked choices.  So
    "choose up to k" items need no new wire format: only max_choices changes.

    Body (the plaintext sealed in an envelope), msgpack:
        [ 1, category:uint, [ [subject:uint, [mask:uint, ... × items]], ... ] ]
    Subjects are definition indices and must be exactly the venue's form.
    The encoder writes each category and mask at a width fixed by the
    definition (ballot.c), so all bodies of one venue have one length.  */
#ifndef PINGYI_BALLOT_H
#define PINGYI_BALLOT_H

#include "count.h"
#include "election.h"
#include "reject.h"

#define PINGYI_BALLOT_VERSION 1
#define PINGYI_BODY_MAX 4096 /* largest body, bytes */

typedef struct {
    uint32_t category;
    uint32_t subject_count;
    uint32_t subjects[PINGYI_MAX_FORM_SUBJECTS];
    uint32_t ticks[PINGYI_MAX_FORM_SUBJECTS][PINGYI_MAX_ITEMS];
} pingyi_ballot_t;

/*  Reject codes (pingyi_reject_t) and their names live in proto/reject.h:
    they are part of the wire.  */

/*  A ballot with every cell BLANK for the venue's form, category 0.  */
void pingyi_ballot_init (pingyi_ballot_t *self, const pingyi_election_t *election, size_t venue);

/*  Encode the body into out (cap bytes); returns its length, 0 if too long.
    Every valid ballot of a venue encodes to the same length: the longest
    its form allows (docs/election-definition.md, "Ballot body").  */
size_t pingyi_ballot_encode (const pingyi_ballot_t *self, const pingyi_election_t *election, uint8_t *out,
                             size_t cap);

/*  Decode and validate a body for venue.  Returns PINGYI_REJECT_NONE, or the
    reason code with a line in err naming where and why, e.g.
    "subject 12 (s12) is not on venue v01's form".  */
pingyi_reject_t pingyi_ballot_decode (const pingyi_election_t *election, size_t venue, const uint8_t *body,
                                      size_t len, pingyi_ballot_t *out, char *err) PINGYI_WARN_UNUSED;

/*  Validate an in-memory ballot against venue's form (the checks decode does
    after parsing).  */
pingyi_reject_t pingyi_ballot_validate (const pingyi_ballot_t *self, const pingyi_election_t *election,
                                        size_t venue, char *err) PINGYI_WARN_UNUSED;

/*  The marks one cell counts as: writes up to PINGYI_MAX_CHOICES marks and
    returns how many (1 for BLANK or OVER).  */
size_t pingyi_cell_marks (const pingyi_item_t *item, uint32_t mask, uint8_t *marks);

/*  True when no cell carries a tick (a blank ballot, 空白票).  */
bool pingyi_ballot_is_blank (const pingyi_ballot_t *self, const pingyi_election_t *election);

/*  Counter key: (venue, subject, item, category, mark) packed big-endian into
    8 bytes so LMDB orders keys by venue, then subject, ...  */
#define PINGYI_COUNTER_KEY_LEN 8
typedef struct {
    uint16_t venue;
    uint16_t subject;
    uint8_t item;
    uint8_t category;
    uint8_t mark;
} pingyi_counter_key_t;

void pingyi_counter_key_pack (const pingyi_counter_key_t *key, uint8_t out[PINGYI_COUNTER_KEY_LEN]);
void pingyi_counter_key_unpack (const uint8_t in[PINGYI_COUNTER_KEY_LEN], pingyi_counter_key_t *key);
uint64_t pingyi_counter_key_u64 (const pingyi_counter_key_t *key);

/*  Call fn once per counter increment the ballot makes at venue (one per mark
    per cell).  */
typedef void (pingyi_count_fn) (const pingyi_counter_key_t *key, void *arg);
void pingyi_ballot_count (const pingyi_ballot_t *self, const pingyi_election_t *election, size_t venue,
                          pingyi_count_fn *fn, void *arg);

/*  The same increments as pingyi_ballot_count, added to a dense block
    instead of called out: cells is the block of the ballot's venue, one
    row per form position, a row items x categories x marks u32, the cell of
    (item, category, m) at (item x categories + category) x marks + m, with
    m the choice's index, marks - 2 for BLANK and marks - 1 for OVER (marks
    from pingyi_count_marks; the block of election/count.h).  For validated ballots only (subjects in form
    order, ticks inside their choice sets): the hot path of the worker and
    the recount, with no call per mark.  */
void pingyi_ballot_count_cells (const pingyi_ballot_t *self, const pingyi_election_t *election,
                                uint32_t *cells, size_t marks);

#endif
