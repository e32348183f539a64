/*  count.c — the count block (see count.h).  */
#include "count.h"

#include <stdio.h>

size_t
pingyi_count_marks (const pingyi_election_t *election)
{
    size_t choices = 0;
    for (size_t i = 0; i < election->item_count; i++) {
        size_t n = election->choice_sets[election->items[i].choice_set].choice_count;
        if (n > choices)
            choices = n;
    }
    return choices + 2;
}

void
pingyi_count_shape (const pingyi_election_t *election, pingyi_count_shape_t *shape)
{
    shape->items = election->item_count;
    shape->categories = election->category_count;
    shape->marks = pingyi_count_marks (election);
    shape->width = shape->items * shape->categories * shape->marks;
}

bool
pingyi_count_slot_used (const pingyi_election_t *election, const pingyi_count_shape_t *shape, size_t item,
                        size_t slot)
{
    size_t choices = election->choice_sets[election->items[item].choice_set].choice_count;
    return slot < choices || slot == shape->marks - 2 || slot == shape->marks - 1;
}

long
pingyi_count_block_bad_cell (const pingyi_election_t *election, const pingyi_count_shape_t *shape,
                             const uint8_t *cells, size_t len)
{
    if (len != shape->width * 4)
        return (long) shape->width;
    for (size_t item = 0; item < shape->items; item++) {
        size_t choices = election->choice_sets[election->items[item].choice_set].choice_count;
        if (choices + 2 == shape->marks)
            continue; /* the widest set: every slot is used */
        for (size_t c = 0; c < shape->categories; c++)
            for (size_t slot = choices; slot < shape->marks - 2; slot++) {
                size_t i = pingyi_count_index (shape, item, c, slot);
                if (pingyi_count_le32 (cells, i))
                    return (long) i;
            }
    }
    return -1;
}

int
pingyi_count_block_agrees (const pingyi_election_t *election, const pingyi_count_shape_t *shape,
                           const uint8_t *cells, const uint64_t *by_category, char *why, size_t why_cap)
{
    long bad = pingyi_count_block_bad_cell (election, shape, cells, shape->width * 4);
    if (bad >= 0) {
        snprintf (why, why_cap, "cell %ld: a count in a slot no choice uses", bad);
        return -1;
    }
    for (size_t item = 0; item < shape->items; item++) {
        uint64_t most = election->items[item].max_choices > 1 ? election->items[item].max_choices : 1;
        for (size_t c = 0; c < shape->categories; c++) {
            uint64_t sum = 0;
            for (size_t slot = 0; slot < shape->marks; slot++)
                sum += pingyi_count_le32 (cells, pingyi_count_index (shape, item, c, slot));
            uint64_t ballots = by_category[c];
            if (sum < ballots || sum > ballots * most) {
                snprintf (why, why_cap, "item %s, category %zu: cells add up to %llu, for %llu such ballots",
                          election->items[item].id, c, (unsigned long long) sum, (unsigned long long) ballots);
                return -1;
            }
        }
    }
    return 0;
}

void
pingyi_row_key_pack (uint32_t venue, uint32_t subject, uint8_t out[PINGYI_ROW_KEY_LEN])
{
    pingyi_put_be16 (out, (uint16_t) venue);
    pingyi_put_be16 (out + 2, (uint16_t) subject);
}

void
pingyi_row_key_unpack (const uint8_t in[PINGYI_ROW_KEY_LEN], uint32_t *venue, uint32_t *subject)
{
    *venue = pingyi_get_be16 (in);
    *subject = pingyi_get_be16 (in + 2);
}
