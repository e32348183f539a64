/*  deltas.c — a batch's counter deltas, before they are added to the
    `counts`/`pending` rows: a dense grid for a shard of any real size, a
    hash table beyond.  The recount counts into the same structures.  */
#define _GNU_SOURCE
#include "shard_impl.h"

#include <stdlib.h>
#include <string.h>

/*  --------------------------------------------------------------------------
    The delta table.  */

static uint64_t
mix64 (uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

void
shard_tally_clear (tally_t *t)
{
    if (t->slots && t->used)
        memset (t->slots, 0, t->cap * sizeof *t->slots);
    t->used = 0;
    t->oom = false;
}

void
shard_tally_free (tally_t *t)
{
    free (t->slots);
    memset (t, 0, sizeof *t);
}

tally_entry_t *
shard_tally_find (tally_t *t, uint64_t key, bool insert)
{
    if (insert && (t->used + 1) * 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        tally_entry_t *slots = calloc (cap, sizeof *slots);
        if (!slots) {
            t->oom = true;
            return NULL;
        }
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->slots[i].count)
                continue;
            size_t j = mix64 (t->slots[i].key) & (cap - 1);
            while (slots[j].count)
                j = (j + 1) & (cap - 1);
            slots[j] = t->slots[i];
        }
        free (t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    if (!t->cap)
        return NULL;
    size_t j = mix64 (key) & (t->cap - 1);
    while (t->slots[j].count) {
        if (t->slots[j].key == key)
            return &t->slots[j];
        j = (j + 1) & (t->cap - 1);
    }
    if (!insert)
        return NULL;
    t->slots[j].key = key;
    t->used++;
    return &t->slots[j]; /* count 0: the caller adds at least 1 */
}

void
shard_tally_add (tally_t *t, uint64_t key, uint64_t n)
{
    tally_entry_t *e = shard_tally_find (t, key, true);
    if (e)
        e->count += n;
}

void
shard_tally_count_fn (const pingyi_counter_key_t *key, void *arg)
{
    uint8_t packed[PINGYI_COUNTER_KEY_LEN];
    pingyi_counter_key_pack (key, packed);
    shard_tally_add ((tally_t *) arg, pingyi_get_be64 (packed), 1);
}

int
shard_cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

/*  --------------------------------------------------------------------------
    The delta grid.  */

void
shard_grid_free (grid_t *g)
{
    free (g->cells);
    free (g->touched);
    free (g->slot_touched);
    free (g->slot_base);
    memset (g, 0, sizeof *g);
}

/*  Lay the grid out for the venues of a shard; 0, or -1 when it would be
    too large (or memory is short): the caller then counts in the hash
    table.  */
int
shard_grid_init (grid_t *g, const pingyi_election_t *e, const uint32_t *venue_of, size_t slot_count)
{
    memset (g, 0, sizeof *g);
    g->items = e->item_count;
    g->categories = e->category_count;
    g->marks = pingyi_count_marks (e); /* a form position's cells are laid out as a counts row */
    size_t per_position = g->items * g->categories * g->marks;
    g->slot_base = malloc ((slot_count + 1) * sizeof *g->slot_base);
    if (!g->slot_base)
        return -1;
    size_t size = 0;
    for (size_t s = 0; s < slot_count; s++) {
        g->slot_base[s] = size;
        size += e->venues[venue_of[s]].subject_count * per_position;
        if (size > GRID_MAX) {
            shard_grid_free (g);
            return -1;
        }
    }
    g->slot_base[slot_count] = size;
    g->size = size;
    g->cells = calloc (size + 1, sizeof *g->cells);
    g->touched = malloc ((slot_count + 1) * sizeof *g->touched);
    g->slot_touched = calloc (slot_count + 1, 1);
    if (!g->cells || !g->touched || !g->slot_touched) {
        shard_grid_free (g);
        return -1;
    }
    return 0;
}

/*  Count a validated ballot of the venue in slot into the grid.  */
void
shard_grid_count (grid_t *g, const pingyi_ballot_t *ballot, const pingyi_election_t *e, size_t slot)
{
    if (!g->slot_touched[slot]) {
        g->slot_touched[slot] = 1;
        g->touched[g->touched_count++] = (uint32_t) slot;
    }
    pingyi_ballot_count_cells (ballot, e, g->cells + g->slot_base[slot], g->marks);
}

/*  The counter key (as the u64 the hash table uses) of grid cell i; slot
    is a hint, advanced as the cells are visited in ascending order.  */
uint64_t
shard_grid_key (const grid_t *g, const pingyi_election_t *e, const uint32_t *venue_of, size_t slot_count,
                size_t i, size_t *slot)
{
    if (*slot >= slot_count || i < g->slot_base[*slot])
        *slot = 0;
    while (*slot + 1 < slot_count && i >= g->slot_base[*slot + 1])
        (*slot)++;
    size_t rem = i - g->slot_base[*slot];
    size_t m = rem % g->marks;
    rem /= g->marks;
    size_t category = rem % g->categories;
    rem /= g->categories;
    size_t item = rem % g->items;
    size_t pos = rem / g->items;
    size_t venue = venue_of[*slot];
    pingyi_counter_key_t key = {
        .venue = (uint16_t) venue,
        .subject = (uint16_t) e->venues[venue].subjects[pos],
        .item = (uint8_t) item,
        .category = (uint8_t) category,
        .mark = pingyi_count_cell_mark (m, g->marks),
    };
    return pingyi_counter_key_u64 (&key);
}
