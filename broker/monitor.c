/*  monitor.c — the broker's per-venue and per-worker view for MONITOR
    (monitor.h).

    Memory: one venue_t per venue of the definition (about 120 bytes, plus
    its connection's routing id when longer than ROUTE_INLINE bytes), one
    bucket per venue rounded up to a power of two (4 bytes), one worker_t
    per worker key of the keyring (256 at most), 16 bytes per shard.  All
    of it allocated at start; nothing grows with traffic.

    Venues are found by their connection's routing id (a chained hash:
    answers go to a routing id, and an ACK does not name its venue) and by
    their name (the key's name is the venue id).  */
#include "monitor.h"
#include "tickets.h"

#include <stdlib.h>
#include <string.h>

#define ROUTE_INLINE 16
#define FD_MAX 65536 /* connections past this descriptor are not told apart by fd */

typedef struct {
    uint64_t envelopes_in, accepted, duplicate, rejected, retries;
    int64_t last_seen_ms; /* 0: never */
    uint8_t route_small[ROUTE_INLINE];
    uint8_t *route_big;
    uint16_t route_len; /* 0: no connection known */
    int fd;
    bool connected;
    uint8_t status; /* pingyi_monitor_status_t */
    bool is_void;
    uint32_t reopens;
    int32_t next; /* bucket chain, -1 at the end */
} venue_t;

typedef struct {
    char name[PINGYI_NAME_MAX + 1];
    uint64_t serial; /* its live connection's, 0 none */
    uint64_t in_flight;
    uint64_t envelopes;
    int64_t last_seen_ms; /* 0: never */
} worker_t;

struct pingyi_monitor_t {
    const pingyi_election_t *election;
    venue_t *venues;
    size_t venue_count;
    int32_t *buckets;
    uint32_t bucket_mask;
    int32_t *by_fd; /* FD_MAX entries: the venue last heard on that descriptor, -1 none */
    worker_t workers[PINGYI_MONITOR_WORKERS_MAX];
    size_t worker_count;
    int64_t unowned_since[PINGYI_MONITOR_SHARDS_MAX]; /* 0: owned */
    int64_t lost_at[PINGYI_MONITOR_SHARDS_MAX];       /* when its owner was dropped */
    char version[PINGYI_NAME_MAX + 1];
    int64_t started_ms;
};

static const uint8_t *
route_of (const venue_t *v)
{
    return v->route_len > ROUTE_INLINE ? v->route_big : v->route_small;
}

static uint32_t
hash_route (const uint8_t *route, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ route[i]) * 16777619u;
    return h;
}

pingyi_monitor_t *
pingyi_monitor_new (const pingyi_election_t *election, const pingyi_keyring_t *keyring, const char *version,
                    int64_t now_ms)
{
    pingyi_monitor_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->election = election;
    self->venue_count = election->venue_count;
    uint32_t buckets = 16;
    while (buckets < self->venue_count && buckets < (1u << 30))
        buckets <<= 1;
    self->venues = calloc (self->venue_count ? self->venue_count : 1, sizeof *self->venues);
    self->buckets = malloc (buckets * sizeof *self->buckets);
    self->by_fd = malloc (FD_MAX * sizeof *self->by_fd);
    if (!self->venues || !self->buckets || !self->by_fd) {
        pingyi_monitor_destroy (&self);
        return NULL;
    }
    self->bucket_mask = buckets - 1;
    for (uint32_t i = 0; i < buckets; i++)
        self->buckets[i] = -1;
    for (uint32_t i = 0; i < FD_MAX; i++)
        self->by_fd[i] = -1;
    for (size_t i = 0; i < self->venue_count; i++) {
        self->venues[i].fd = -1;
        self->venues[i].next = -1;
    }
    for (size_t i = 0; i < pingyi_keyring_size (keyring) && self->worker_count < PINGYI_MONITOR_WORKERS_MAX; i++) {
        const pingyi_keyring_entry_t *e = pingyi_keyring_at (keyring, i);
        if (e && e->role == PINGYI_ROLE_WORKER)
            snprintf (self->workers[self->worker_count++].name, PINGYI_NAME_MAX + 1, "%s", e->name);
    }
    snprintf (self->version, sizeof self->version, "%s", version ? version : "unknown");
    self->started_ms = now_ms;
    for (uint32_t s = 0; s < PINGYI_MONITOR_SHARDS_MAX; s++)
        self->unowned_since[s] = now_ms;
    return self;
}

void
pingyi_monitor_destroy (pingyi_monitor_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pingyi_monitor_t *self = *self_p;
    if (self->venues)
        for (size_t i = 0; i < self->venue_count; i++)
            free (self->venues[i].route_big);
    free (self->venues);
    free (self->buckets);
    free (self->by_fd);
    free (self);
    *self_p = NULL;
}

static venue_t *
venue_named (pingyi_monitor_t *self, const char *sender, size_t sender_len)
{
    int v = pingyi_election_venue (self->election, sender, sender_len);
    return v >= 0 && (size_t) v < self->venue_count ? &self->venues[v] : NULL;
}

static venue_t *
venue_by_route (pingyi_monitor_t *self, const uint8_t *route, size_t route_len)
{
    if (!route_len)
        return NULL;
    for (int32_t i = self->buckets[hash_route (route, route_len) & self->bucket_mask]; i >= 0;
         i = self->venues[i].next) {
        venue_t *v = &self->venues[i];
        if (v->route_len == route_len && memcmp (route_of (v), route, route_len) == 0)
            return v;
    }
    return NULL;
}

static void
unlink_route (pingyi_monitor_t *self, venue_t *v)
{
    if (!v->route_len)
        return;
    int32_t me = (int32_t) (v - self->venues);
    int32_t *at = &self->buckets[hash_route (route_of (v), v->route_len) & self->bucket_mask];
    while (*at >= 0 && *at != me)
        at = &self->venues[*at].next;
    if (*at == me)
        *at = v->next;
    v->next = -1;
    free (v->route_big);
    v->route_big = NULL;
    v->route_len = 0;
}

void
pingyi_monitor_venue_heard (pingyi_monitor_t *self, const char *sender, size_t sender_len, const uint8_t *route,
                            size_t route_len, int fd, int64_t now_ms)
{
    venue_t *v = venue_named (self, sender, sender_len);
    if (!v)
        return;
    v->last_seen_ms = now_ms;
    v->connected = true;
    if (v->fd != fd) {
        if (v->fd >= 0 && v->fd < FD_MAX && self->by_fd[v->fd] == (int32_t) (v - self->venues))
            self->by_fd[v->fd] = -1;
        v->fd = fd;
    }
    if (fd >= 0 && fd < FD_MAX)
        self->by_fd[fd] = (int32_t) (v - self->venues);
    if (route_len == v->route_len && route_len && memcmp (route_of (v), route, route_len) == 0)
        return;
    unlink_route (self, v);
    if (!route_len || route_len > UINT16_MAX)
        return;
    /* a routing id is unique to one connection: another venue holding it
       (not possible with libzmq's own ids) loses it */
    venue_t *other = venue_by_route (self, route, route_len);
    if (other)
        unlink_route (self, other);
    if (route_len > ROUTE_INLINE) {
        v->route_big = malloc (route_len);
        if (!v->route_big)
            return;
        memcpy (v->route_big, route, route_len);
    }
    else
        memcpy (v->route_small, route, route_len);
    v->route_len = (uint16_t) route_len;
    int32_t *head = &self->buckets[hash_route (route, route_len) & self->bucket_mask];
    v->next = *head;
    *head = (int32_t) (v - self->venues);
}

void
pingyi_monitor_venue_submit (pingyi_monitor_t *self, const char *sender, size_t sender_len, uint64_t envelopes)
{
    venue_t *v = venue_named (self, sender, sender_len);
    if (v)
        v->envelopes_in += envelopes;
}

void
pingyi_monitor_sent (pingyi_monitor_t *self, const uint8_t *route, size_t route_len, const uint8_t *frame,
                     size_t len)
{
    int type = pingyi_frame_type (frame, len);
    if (type == PINGYI_MSG_VENUE_STATUS) {
        /* the venue's state, whoever asked (its client, or an operator's
           reopen): the figures name the venue */
        pingyi_msg_t m;
        char err[PINGYI_ERR_MAX];
        if (pingyi_msg_decode (frame, len, &m, err) == 0 &&
            m.u.venue_status.figures.venue < self->venue_count) {
            const pingyi_venue_figures_t *f = &m.u.venue_status.figures;
            venue_t *v = &self->venues[f->venue];
            v->status = f->closed ? PINGYI_MONITOR_CLOSED : PINGYI_MONITOR_OPEN;
            v->is_void = f->closed && f->collected > f->issued;
            v->reopens = f->reopens;
        }
        return;
    }
    if (type != PINGYI_MSG_RETRY && type != PINGYI_MSG_ACK)
        return;
    venue_t *v = venue_by_route (self, route, route_len);
    if (!v)
        return;
    if (type == PINGYI_MSG_RETRY) {
        v->retries++;
        return;
    }
    pingyi_msg_t m;
    char err[PINGYI_ERR_MAX];
    if (pingyi_msg_decode (frame, len, &m, err))
        return;
    pingyi_ack_t a;
    while (pingyi_list_next_ack (&m.u.ack.results, &a))
        if (a.status == PINGYI_ACK_ACCEPTED)
            v->accepted++;
        else if (a.status == PINGYI_ACK_DUPLICATE)
            v->duplicate++;
        else
            v->rejected++;
}

void
pingyi_monitor_route_gone (pingyi_monitor_t *self, const uint8_t *route, size_t route_len)
{
    venue_t *v = venue_by_route (self, route, route_len);
    if (v)
        v->connected = false;
}

void
pingyi_monitor_disconnected (pingyi_monitor_t *self, int fd)
{
    if (fd < 0 || fd >= FD_MAX || self->by_fd[fd] < 0)
        return;
    venue_t *v = &self->venues[self->by_fd[fd]];
    self->by_fd[fd] = -1;
    if (v->fd == fd) {
        v->connected = false;
        v->fd = -1;
    }
}

static worker_t *
worker_named (pingyi_monitor_t *self, const char *name)
{
    for (size_t i = 0; i < self->worker_count; i++)
        if (!strcmp (self->workers[i].name, name))
            return &self->workers[i];
    return NULL;
}

void
pingyi_monitor_forwarded (pingyi_monitor_t *self, const char *name, uint64_t serial, uint64_t envelopes)
{
    worker_t *w = worker_named (self, name);
    if (!w)
        return;
    if (w->serial != serial) {
        w->serial = serial; /* a new connection: the old one's tickets went with it */
        w->in_flight = 0;
    }
    w->in_flight++;
    w->envelopes += envelopes;
}

void
pingyi_monitor_ticket_done (pingyi_monitor_t *self, uint64_t serial)
{
    for (size_t i = 0; i < self->worker_count; i++)
        if (self->workers[i].serial == serial && serial) {
            if (self->workers[i].in_flight)
                self->workers[i].in_flight--;
            return;
        }
}

void
pingyi_monitor_worker_dropped (pingyi_monitor_t *self, pingyi_routes_t *routes, const pingyi_route_t *r,
                               int64_t now_ms)
{
    worker_t *w = worker_named (self, r->name);
    if (w) {
        if (w->serial == r->serial) {
            w->in_flight = 0;
            w->serial = 0;
        }
        if (r->last_seen_ms > w->last_seen_ms)
            w->last_seen_ms = r->last_seen_ms;
    }
    for (uint32_t s = 0; s < self->election->shard_count && s < PINGYI_MONITOR_SHARDS_MAX; s++)
        if (pingyi_routes_owner (routes, s) == r)
            self->lost_at[s] = now_ms;
}

void
pingyi_monitor_shards_check (pingyi_monitor_t *self, pingyi_routes_t *routes, int64_t now_ms)
{
    for (uint32_t s = 0; s < self->election->shard_count && s < PINGYI_MONITOR_SHARDS_MAX; s++) {
        if (pingyi_routes_owner (routes, s))
            self->unowned_since[s] = 0;
        else if (!self->unowned_since[s])
            self->unowned_since[s] = self->lost_at[s] ? self->lost_at[s] : now_ms;
    }
}

static int
by_name (const void *a, const void *b)
{
    return strcmp (((const pingyi_monitor_count_t *) a)->name, ((const pingyi_monitor_count_t *) b)->name);
}

void
pingyi_monitor_write (pingyi_monitor_t *self, pingyi_writer_t *out, uint64_t tag, uint32_t from,
                      pingyi_routes_t *routes, const pingyi_monitor_count_t *refusals, size_t refusal_count,
                      int64_t now_ms)
{
    pingyi_monitor_shards_check (self, routes, now_ms);
    uint64_t uptime = now_ms > self->started_ms ? (uint64_t) (now_ms - self->started_ms) : 0;
    pingyi_msg_monitor_begin (out, tag, uptime, self->version, (uint32_t) self->worker_count);
    uint32_t shard_count = self->election->shard_count;
    if (shard_count > PINGYI_MONITOR_SHARDS_MAX)
        shard_count = PINGYI_MONITOR_SHARDS_MAX;
    for (size_t i = 0; i < self->worker_count; i++) {
        worker_t *w = &self->workers[i];
        pingyi_route_t *r = pingyi_routes_named (routes, w->name);
        uint32_t owned[PINGYI_MONITOR_SHARDS_MAX];
        uint32_t n = 0;
        if (r) {
            if (r->last_seen_ms > w->last_seen_ms)
                w->last_seen_ms = r->last_seen_ms;
            for (uint32_t s = 0; s < shard_count; s++)
                if (pingyi_routes_owner (routes, s) == r)
                    owned[n++] = s;
        }
        int64_t ago = w->last_seen_ms ? (now_ms > w->last_seen_ms ? now_ms - w->last_seen_ms : 0) : -1;
        pingyi_msg_monitor_worker (out, w->name, owned, n, r != NULL, r && r->serial == w->serial ? w->in_flight : 0,
                                   w->envelopes, ago);
    }
    pingyi_msg_monitor_shards_begin (out, shard_count);
    for (uint32_t s = 0; s < shard_count; s++) {
        pingyi_route_t *r = pingyi_routes_owner (routes, s);
        int64_t since = self->unowned_since[s];
        pingyi_msg_monitor_shard (out, s, r ? r->name : NULL, r ? -1 : (now_ms > since ? now_ms - since : 0));
    }
    /* the causes ascend by name, each once (the decoder's rule) */
    pingyi_monitor_count_t sorted[PINGYI_MONITOR_REFUSALS_MAX];
    size_t nref = refusal_count < PINGYI_MONITOR_REFUSALS_MAX ? refusal_count : PINGYI_MONITOR_REFUSALS_MAX;
    if (nref) {
        memcpy (sorted, refusals, nref * sizeof *sorted);
        qsort (sorted, nref, sizeof *sorted, by_name);
    }
    size_t kept = 0;
    for (size_t i = 0; i < nref; i++)
        if (!kept || strcmp (sorted[kept - 1].name, sorted[i].name))
            sorted[kept++] = sorted[i];
    pingyi_msg_monitor_refusals_begin (out, (uint32_t) kept);
    for (size_t i = 0; i < kept; i++)
        pingyi_msg_monitor_refusal (out, sorted[i].name, sorted[i].value);
    size_t first = from < self->venue_count ? from : self->venue_count;
    size_t count = self->venue_count - first;
    bool more = count > PINGYI_MONITOR_PAGE;
    if (more)
        count = PINGYI_MONITOR_PAGE;
    pingyi_msg_monitor_venues_begin (out, (uint32_t) count);
    /* k-anonymous: while a venue is not closed, its counts move only in
       steps of k (docs/SECURITY.md §4); exact once closed */
    uint32_t k = self->election->k_anonymity;
    for (size_t i = first; i < first + count; i++) {
        const venue_t *v = &self->venues[i];
        uint32_t kk = v->status == PINGYI_MONITOR_CLOSED ? 1 : k;
        const char *id = self->election->venues[i].id;
        pingyi_monitor_venue_t mv = {
            .id = {id, (uint32_t) strlen (id)},
            .connected = v->connected,
            .status = v->status,
            .is_void = v->is_void,
            .reopens = v->reopens,
            .envelopes_in = pingyi_monitor_round (v->envelopes_in, kk),
            .accepted = pingyi_monitor_round (v->accepted, kk),
            .duplicate = pingyi_monitor_round (v->duplicate, kk),
            .rejected = pingyi_monitor_round (v->rejected, kk),
            .retries = pingyi_monitor_round (v->retries, kk),
            .seen = v->last_seen_ms != 0,
            .last_seen_ms = v->last_seen_ms && now_ms > v->last_seen_ms ? (uint64_t) (now_ms - v->last_seen_ms) : 0,
        };
        pingyi_msg_monitor_venue (out, &mv);
    }
    pingyi_msg_monitor_end (out, more, more ? (uint32_t) (first + count) : 0);
}
