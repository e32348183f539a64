/*  count.c — the count block (see count.h).  */
#include "count.h"

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
