/*  tally.c — dense in-memory counters for a whole election (see tally.h).  */
#include "tally.h"

#include <stdlib.h>
#include <string.h>

struct pingyi_tally_t {
    const pingyi_election_t *election;
    pingyi_count_shape_t shape; /* one block per (venue, form position) */
    size_t slots;               /* shape.marks */
    size_t *venue_base; /* first counter of each venue */
    uint64_t *counts;
    size_t count_len;
    pingyi_venue_figures_t *figures;
    uint64_t rejected_keys;
};

static void
empty_figures (pingyi_venue_figures_t *f, size_t venue)
{
    memset (f, 0, sizeof *f);
    f->venue = (uint32_t) venue;
    f->issued = f->collected = f->sent = -1;
}

pingyi_tally_t *
pingyi_tally_new (const pingyi_election_t *election)
{
    pingyi_tally_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->election = election;
    pingyi_count_shape (election, &self->shape);
    self->slots = self->shape.marks;
    self->venue_base = calloc (election->venue_count + 1, sizeof *self->venue_base);
    self->figures = calloc (election->venue_count ? election->venue_count : 1, sizeof *self->figures);
    if (!self->venue_base || !self->figures)
        goto fail;
    size_t per_subject = self->shape.width;
    for (size_t v = 0; v < election->venue_count; v++)
        self->venue_base[v + 1] = self->venue_base[v] + election->venues[v].subject_count * per_subject;
    self->count_len = self->venue_base[election->venue_count];
    self->counts = calloc (self->count_len ? self->count_len : 1, sizeof *self->counts);
    if (!self->counts)
        goto fail;
    pingyi_tally_reset (self);
    return self;
fail:
    pingyi_tally_destroy (&self);
    return NULL;
}

void
pingyi_tally_destroy (pingyi_tally_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pingyi_tally_t *self = *self_p;
    free (self->venue_base);
    free (self->counts);
    free (self->figures);
    free (self);
    *self_p = NULL;
}

void
pingyi_tally_reset (pingyi_tally_t *self)
{
    memset (self->counts, 0, self->count_len * sizeof *self->counts);
    for (size_t v = 0; v < self->election->venue_count; v++)
        empty_figures (&self->figures[v], v);
    self->rejected_keys = 0;
}

/*  Index of a counter, or -1 when the key names nothing.  */
static long
slot_of (const pingyi_tally_t *self, size_t venue, size_t subject, size_t item, size_t category, uint8_t mark)
{
    const pingyi_election_t *e = self->election;
    if (venue >= e->venue_count || item >= e->item_count || category >= e->category_count)
        return -1;
    int form = pingyi_election_form_index (e, venue, subject);
    if (form < 0)
        return -1;
    size_t choices = e->choice_sets[e->items[item].choice_set].choice_count;
    size_t m;
    if (mark == PINGYI_MARK_BLANK)
        m = self->slots - 2;
    else if (mark == PINGYI_MARK_OVER)
        m = self->slots - 1;
    else if (mark < choices)
        m = mark;
    else
        return -1;
    size_t idx = self->venue_base[venue] +
                 (((size_t) form * e->item_count + item) * e->category_count + category) * self->slots + m;
    return (long) idx;
}

int
pingyi_tally_add_block (pingyi_tally_t *self, uint32_t venue, uint32_t subject, const uint8_t *cells, size_t len)
{
    const pingyi_election_t *e = self->election;
    int form = venue < e->venue_count ? pingyi_election_form_index (e, venue, subject) : -1;
    if (form < 0 || pingyi_count_block_bad_cell (e, &self->shape, cells, len) >= 0) {
        self->rejected_keys++;
        return -1;
    }
    uint64_t *block = self->counts + self->venue_base[venue] + (size_t) form * self->shape.width;
    for (size_t i = 0; i < self->shape.width; i++)
        block[i] += pingyi_count_le32 (cells, i);
    return 0;
}

int
pingyi_tally_add_cell (pingyi_tally_t *self, const pingyi_counter_key_t *key, uint64_t count)
{
    long idx = slot_of (self, key->venue, key->subject, key->item, key->category, key->mark);
    if (idx < 0) {
        self->rejected_keys++;
        return -1;
    }
    self->counts[idx] += count;
    return 0;
}

const uint64_t *
pingyi_tally_block (const pingyi_tally_t *self, size_t venue, size_t position)
{
    const pingyi_election_t *e = self->election;
    if (venue >= e->venue_count || position >= e->venues[venue].subject_count)
        return NULL;
    return self->counts + self->venue_base[venue] + position * self->shape.width;
}

const pingyi_count_shape_t *
pingyi_tally_shape (const pingyi_tally_t *self)
{
    return &self->shape;
}

int
pingyi_tally_set_figures (pingyi_tally_t *self, const pingyi_venue_figures_t *figures)
{
    if (figures->venue >= self->election->venue_count)
        return -1;
    self->figures[figures->venue] = *figures;
    return 0;
}

uint64_t
pingyi_tally_get (const pingyi_tally_t *self, size_t venue, size_t subject, size_t item, size_t category,
                  uint8_t mark)
{
    long idx = slot_of (self, venue, subject, item, category, mark);
    return idx < 0 ? 0 : self->counts[idx];
}

const pingyi_venue_figures_t *
pingyi_tally_figures (const pingyi_tally_t *self, size_t venue)
{
    return venue < self->election->venue_count ? &self->figures[venue] : NULL;
}

uint64_t
pingyi_tally_rejected_keys (const pingyi_tally_t *self)
{
    return self->rejected_keys;
}

/*  The counts array is laid out in exactly the walk order (venue, form
    position, item, category, slot), so one running pointer visits it without
    any index arithmetic: this walk is the inner loop of every view.  */
void
pingyi_tally_each (const pingyi_tally_t *self, pingyi_tally_fn *fn, void *arg)
{
    const pingyi_election_t *e = self->election;
    const uint64_t *p = self->counts;
    for (size_t v = 0; v < e->venue_count; v++) {
        const pingyi_venue_t *venue = &e->venues[v];
        for (size_t f = 0; f < venue->subject_count; f++)
            for (size_t i = 0; i < e->item_count; i++) {
                size_t choices = e->choice_sets[e->items[i].choice_set].choice_count;
                for (size_t c = 0; c < e->category_count; c++, p += self->slots)
                    for (size_t m = 0; m < self->slots; m++) {
                        if (!p[m] || (m >= choices && m < self->slots - 2))
                            continue;
                        pingyi_counter_key_t key = {
                            .venue = (uint16_t) v,
                            .subject = (uint16_t) venue->subjects[f],
                            .item = (uint8_t) i,
                            .category = (uint8_t) c,
                            .mark = m == self->slots - 2   ? PINGYI_MARK_BLANK
                                    : m == self->slots - 1 ? PINGYI_MARK_OVER
                                                           : (uint8_t) m,
                        };
                        fn (&key, p[m], arg);
                    }
            }
    }
}

const char *
pingyi_mark_name (const pingyi_election_t *election, size_t item, uint8_t mark)
{
    if (mark == PINGYI_MARK_BLANK)
        return "BLANK";
    if (mark == PINGYI_MARK_OVER)
        return "OVER";
    if (item >= election->item_count)
        return "?";
    const pingyi_choice_set_t *set = &election->choice_sets[election->items[item].choice_set];
    return mark < set->choice_count ? set->choices[mark].label : "?";
}
