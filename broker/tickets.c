/*  tickets.c — pending requests in an open-addressing table keyed by the
    ticket number.  Tickets are random, so a ticket's low bits are its home
    slot; linear probing, backward-shift deletion (no tombstones), and the
    table doubles while at most half full, up to twice max_pending slots
    (64 bytes each: 8 MB at the default bound of 65536).  Expiry and release
    walk the whole table, once a second or when a worker goes: at most a
    few hundred microseconds.  */
#include "tickets.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_SLOTS 1024

_Static_assert(sizeof (pingyi_ticket_t) == 64, "a ticket slot is 64 bytes (docs/DECISIONS.md)");

struct pingyi_tickets_t {
    pingyi_ticket_t *slots;
    size_t mask; /* slots - 1 (a power of two) */
    size_t count;
    size_t max_pending;
    size_t max_slots;
};

pingyi_tickets_t *
pingyi_tickets_new (size_t max_pending)
{
    pingyi_tickets_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->max_pending = max_pending ? max_pending : 1;
    size_t slots = INITIAL_SLOTS;
    while (slots < 2 * self->max_pending)
        slots *= 2;
    self->max_slots = slots;
    slots = INITIAL_SLOTS < self->max_slots ? INITIAL_SLOTS : self->max_slots;
    self->slots = calloc (slots, sizeof *self->slots);
    if (!self->slots) {
        free (self);
        return NULL;
    }
    self->mask = slots - 1;
    return self;
}

void
pingyi_tickets_destroy (pingyi_tickets_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pingyi_tickets_t *self = *self_p;
    for (size_t i = 0; i <= self->mask; i++)
        free (self->slots[i].big);
    free (self->slots);
    free (self);
    *self_p = NULL;
}

size_t
pingyi_tickets_pending (const pingyi_tickets_t *self)
{
    return self->count;
}

const uint8_t *
pingyi_ticket_requester (const pingyi_ticket_t *t)
{
    return t->big ? t->big : t->small;
}

static size_t
slot_of (const pingyi_tickets_t *self, uint64_t ticket)
{
    size_t i = (size_t) ticket & self->mask;
    while (self->slots[i].ticket && self->slots[i].ticket != ticket)
        i = (i + 1) & self->mask;
    return i;
}

const pingyi_ticket_t *
pingyi_tickets_find (const pingyi_tickets_t *self, uint64_t ticket)
{
    if (!ticket)
        return NULL;
    const pingyi_ticket_t *t = &self->slots[slot_of (self, ticket)];
    return t->ticket ? t : NULL;
}

/*  Double the table (entries move, their contents do not change).  */
static int
grow (pingyi_tickets_t *self)
{
    size_t old_slots = self->mask + 1, slots = old_slots * 2;
    pingyi_ticket_t *old = self->slots, *fresh = calloc (slots, sizeof *fresh);
    if (!fresh)
        return -1;
    self->slots = fresh;
    self->mask = slots - 1;
    for (size_t i = 0; i < old_slots; i++)
        if (old[i].ticket)
            self->slots[slot_of (self, old[i].ticket)] = old[i];
    free (old);
    return 0;
}

uint64_t
pingyi_tickets_open (pingyi_tickets_t *self, int type, const uint8_t *requester, size_t requester_len,
                     uint64_t worker, uint32_t bytes, int64_t now_ms)
{
    if (self->count >= self->max_pending || requester_len < 1 || requester_len > 255)
        return 0;
    if (2 * (self->count + 1) > self->mask + 1 && self->mask + 1 < self->max_slots && grow (self))
        return 0;
    uint8_t *big = NULL;
    if (requester_len > PINGYI_TICKET_INLINE_ID) {
        big = malloc (requester_len);
        if (!big)
            return 0;
        memcpy (big, requester, requester_len);
    }
    uint64_t ticket = 0;
    size_t i;
    do {
        randombytes_buf (&ticket, sizeof ticket);
        i = slot_of (self, ticket);
    } while (ticket == 0 || self->slots[i].ticket); /* 0 names nothing; a pending one is not reused */
    pingyi_ticket_t *t = &self->slots[i];
    memset (t, 0, sizeof *t);
    t->ticket = ticket;
    t->worker = worker;
    t->at_ms = now_ms;
    t->bytes = bytes;
    t->type = (uint8_t) type;
    t->requester_len = (uint16_t) requester_len;
    if (big)
        t->big = big;
    else
        memcpy (t->small, requester, requester_len);
    self->count++;
    return ticket;
}

/*  Remove the entry at slot i, pulling later entries of its cluster back
    so that every entry stays reachable from its home slot.  */
static void
remove_at (pingyi_tickets_t *self, size_t i)
{
    free (self->slots[i].big);
    size_t j = i;
    for (;;) {
        j = (j + 1) & self->mask;
        if (!self->slots[j].ticket)
            break;
        size_t home = (size_t) self->slots[j].ticket & self->mask;
        /* the entry at j may stay when its home lies cyclically in (i, j] */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays)
            continue;
        self->slots[i] = self->slots[j];
        i = j;
    }
    memset (&self->slots[i], 0, sizeof self->slots[i]);
    self->count--;
}

void
pingyi_tickets_close (pingyi_tickets_t *self, uint64_t ticket)
{
    if (!ticket)
        return;
    size_t i = slot_of (self, ticket);
    if (self->slots[i].ticket)
        remove_at (self, i);
}

int
pingyi_frame_type (const uint8_t *frame, size_t len)
{
    pingyi_mp_t r;
    uint32_t n;
    uint64_t version, type;
    pingyi_mp_init (&r, frame, len);
    if (pingyi_mp_array (&r, &n, 64) || n < 2 || pingyi_mp_uint (&r, &version, UINT64_MAX) ||
        version != PINGYI_PROTO_VERSION || pingyi_mp_uint (&r, &type, UINT64_MAX) || type < 1 ||
        type > PINGYI_MSG_TYPE_MAX_)
        return -1;
    return (int) type;
}

bool
pingyi_answers (int request, int answer)
{
    if (answer == PINGYI_MSG_RETRY || answer == PINGYI_MSG_ERROR)
        return request == PINGYI_MSG_SUBMIT || request == PINGYI_MSG_VENUE_OPEN ||
               request == PINGYI_MSG_VENUE_CLOSE || request == PINGYI_MSG_VENUE_REOPEN ||
               request == PINGYI_MSG_TALLY_QUERY || request == PINGYI_MSG_STATS_QUERY;
    switch (request) {
    case PINGYI_MSG_SUBMIT:
        return answer == PINGYI_MSG_ACK;
    case PINGYI_MSG_VENUE_OPEN:
    case PINGYI_MSG_VENUE_CLOSE:
    case PINGYI_MSG_VENUE_REOPEN:
        return answer == PINGYI_MSG_VENUE_STATUS;
    case PINGYI_MSG_TALLY_QUERY:
        return answer == PINGYI_MSG_SNAPSHOT;
    case PINGYI_MSG_STATS_QUERY:
        return answer == PINGYI_MSG_STATS;
    default:
        return false;
    }
}

pingyi_reply_verdict_t
pingyi_tickets_check (const pingyi_tickets_t *self, uint64_t ticket, uint64_t worker, const uint8_t *inner,
                      size_t inner_len, const pingyi_ticket_t **t, int *inner_type)
{
    *t = NULL;
    *inner_type = pingyi_frame_type (inner, inner_len);
    const pingyi_ticket_t *found = pingyi_tickets_find (self, ticket);
    if (!found)
        return PINGYI_REPLY_UNKNOWN_TICKET;
    if (found->worker != worker)
        return PINGYI_REPLY_WRONG_WORKER;
    if (!pingyi_answers (found->type, *inner_type))
        return PINGYI_REPLY_WRONG_KIND;
    *t = found;
    return PINGYI_REPLY_OK;
}

/*  Remove every entry for which keep() is false, calling fn first.  After a
    removal at i the slot is looked at again: backward shifting may have
    pulled a later entry into it.  An entry pulled across the end of the
    table (from a slot already passed) is looked at twice, which only costs
    time: keep() is a pure test.  */
static size_t
sweep (pingyi_tickets_t *self, bool (*keep) (const pingyi_ticket_t *t, const void *arg), const void *karg,
       pingyi_ticket_fn *fn, void *arg)
{
    size_t removed = 0;
    for (size_t i = 0; i <= self->mask;) {
        pingyi_ticket_t *t = &self->slots[i];
        if (t->ticket && !keep (t, karg)) {
            if (fn)
                fn (t, arg);
            remove_at (self, i);
            removed++;
            continue;
        }
        i++;
    }
    return removed;
}

typedef struct {
    int64_t now_ms, ttl_ms;
} age_t;

static bool
young (const pingyi_ticket_t *t, const void *arg)
{
    const age_t *a = arg;
    return a->now_ms - t->at_ms <= a->ttl_ms;
}

size_t
pingyi_tickets_expire (pingyi_tickets_t *self, int64_t now_ms, int64_t ttl_ms, pingyi_ticket_fn *fn,
                       void *arg)
{
    age_t a = {now_ms, ttl_ms};
    return sweep (self, young, &a, fn, arg);
}

static bool
not_of_worker (const pingyi_ticket_t *t, const void *arg)
{
    return t->worker != *(const uint64_t *) arg;
}

size_t
pingyi_tickets_release_worker (pingyi_tickets_t *self, uint64_t worker, pingyi_ticket_fn *fn, void *arg)
{
    return sweep (self, not_of_worker, &worker, fn, arg);
}

void
pingyi_tickets_forgive_worker (pingyi_tickets_t *self, uint64_t worker)
{
    for (size_t i = 0; i <= self->mask; i++)
        if (self->slots[i].ticket && self->slots[i].worker == worker)
            self->slots[i].bytes = 0;
}
