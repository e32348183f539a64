/*  mix.c — the shuffle, the pool's rule and the file window (mix.h).

    Why the whole pool goes at once, and not a random part of it: every
    group that leaves is then exactly the ballots that came between two
    releases, at least k of them, in an order drawn uniformly at random, so
    what the send order tells is which group a ballot is in and nothing
    more, and each group moves the venue's count by at least k at once (the
    step the workers release figures in, invariant 7).  Keeping a random
    part back (a "pool mix") would let a ballot's group straddle releases,
    but only with some probability, at the price of ballots held back for
    an unbounded number of rounds and a pool that never empties before the
    end; the guarantee would be weaker to state, not stronger.

    Why no timer: a flush after so many quiet seconds would send a group
    smaller than k exactly when the hall is quiet, which is when a group is
    easiest to tie to the few people who voted.  The pool empties at the end
    of the input (before the close), or when the operator asks (SIGUSR1).  */
#include "mix.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

void
pingyi_shuffle (void *items, size_t n, size_t size)
{
    uint8_t *base = items, tmp[64];
    if (n < 2 || n > UINT32_MAX)
        return;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = randombytes_uniform ((uint32_t) i + 1);
        if (j == i)
            continue;
        /*  Swap items i and j, in pieces of tmp.  */
        for (size_t off = 0; off < size; off += sizeof tmp) {
            size_t m = size - off < sizeof tmp ? size - off : sizeof tmp;
            memcpy (tmp, base + i * size + off, m);
            memcpy (base + i * size + off, base + j * size + off, m);
            memcpy (base + j * size + off, tmp, m);
        }
    }
    sodium_memzero (tmp, sizeof tmp);
}

bool
pingyi_pool_due (uint64_t pooled, uint32_t k)
{
    return pooled >= (k ? k : 1);
}

int
pingyi_pool_release (pingyi_outbox_t *outbox, uint8_t **ids, size_t *count, char *err)
{
    if (pingyi_outbox_pool_take (outbox, ids, count, err))
        return -1;
    pingyi_shuffle (*ids, *count, PINGYI_BALLOT_ID_LEN);
    return 0;
}

size_t
pingyi_window_size (uint32_t k, size_t per_ballot, uint64_t requested)
{
    size_t least = (size_t) (k ? k : 1) * PINGYI_WINDOW_PER_K;
    if (requested)
        return requested > SIZE_MAX ? SIZE_MAX : (size_t) requested;
    size_t fit = PINGYI_WINDOW_BYTES / (per_ballot ? per_ballot : 1);
    return fit > least ? fit : least;
}

/*  ---------------------------------------------------------------------
    The window  */

typedef struct {
    size_t off;
    size_t len;
    bool wiped;
} entry_t;

struct pingyi_window_t {
    uint8_t *data; /* sodium_malloc'd: kept from swap and dumps, guarded, wiped on free */
    size_t used, cap;
    entry_t *entries; /* offsets only: nothing secret */
    size_t count, entries_cap;
};

pingyi_window_t *
pingyi_window_new (void)
{
    return calloc (1, sizeof (pingyi_window_t));
}

void
pingyi_window_destroy (pingyi_window_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pingyi_window_t *self = *self_p;
    if (self->data)
        sodium_free (self->data); /* zeroes it */
    free (self->entries);
    free (self);
    *self_p = NULL;
}

int
pingyi_window_add (pingyi_window_t *self, const uint8_t *body, size_t len)
{
    if (self->used + len > self->cap) {
        /*  Grown by copy into a new block: realloc would leave the
            old plaintext in freed memory.  */
        size_t cap = self->cap ? self->cap : 65536;
        while (cap < self->used + len)
            cap *= 2;
        uint8_t *data = sodium_malloc (cap);
        if (!data)
            return -1;
        if (self->used)
            memcpy (data, self->data, self->used);
        if (self->data)
            sodium_free (self->data);
        self->data = data;
        self->cap = cap;
    }
    if (self->count == self->entries_cap) {
        size_t cap = self->entries_cap ? self->entries_cap * 2 : 1024;
        entry_t *grown = realloc (self->entries, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->entries = grown;
        self->entries_cap = cap;
    }
    memcpy (self->data + self->used, body, len);
    self->entries[self->count++] = (entry_t){self->used, len, false};
    self->used += len;
    return 0;
}

size_t
pingyi_window_count (const pingyi_window_t *self)
{
    return self->count;
}

size_t
pingyi_window_bytes (const pingyi_window_t *self)
{
    return self->used;
}

void
pingyi_window_shuffle (pingyi_window_t *self)
{
    pingyi_shuffle (self->entries, self->count, sizeof *self->entries);
}

const uint8_t *
pingyi_window_body (const pingyi_window_t *self, size_t i, size_t *len)
{
    if (i >= self->count || self->entries[i].wiped)
        return NULL;
    *len = self->entries[i].len;
    return self->data + self->entries[i].off;
}

void
pingyi_window_wipe (pingyi_window_t *self, size_t i)
{
    if (i >= self->count || self->entries[i].wiped)
        return;
    sodium_memzero (self->data + self->entries[i].off, self->entries[i].len);
    self->entries[i].wiped = true;
}

void
pingyi_window_clear (pingyi_window_t *self)
{
    if (self->data)
        sodium_memzero (self->data, self->used);
    self->used = 0;
    self->count = 0;
}
