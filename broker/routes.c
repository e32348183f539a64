/*  routes.c — the shard → worker table.  Small and flat: a few workers, at
    most 256 shards; linear scans are cheaper than any index here.  */
#include "routes.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORKERS 1024

struct pingyi_routes_t {
    uint32_t shard_count;
    pingyi_route_t *owner[PINGYI_MAX_SHARDS]; /* NULL: no live owner */
    pingyi_route_t workers[MAX_WORKERS];
    uint64_t next_serial;
    uint64_t next_claim;
    pingyi_routes_drop_fn *on_drop;
    void *on_drop_arg;
};

static bool
has (const uint8_t set[32], uint32_t s)
{
    return s < 256 && (set[s / 8] >> (s % 8)) & 1u;
}

pingyi_routes_t *
pingyi_routes_new (uint32_t shard_count)
{
    pingyi_routes_t *self = calloc (1, sizeof *self);
    if (self)
        self->shard_count = shard_count < PINGYI_MAX_SHARDS ? shard_count : PINGYI_MAX_SHARDS;
    return self;
}

void
pingyi_routes_destroy (pingyi_routes_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

void
pingyi_routes_on_drop (pingyi_routes_t *self, pingyi_routes_drop_fn *fn, void *arg)
{
    self->on_drop = fn;
    self->on_drop_arg = arg;
}

int
pingyi_routes_check_assigned (const pingyi_keyring_entry_t *entry, const uint32_t *shards, size_t count,
                              uint32_t shard_count, uint32_t *bad)
{
    for (size_t i = 0; i < count; i++)
        if (shards[i] >= shard_count || !pingyi_keyring_assigned (entry, shards[i])) {
            *bad = shards[i];
            return -1;
        }
    return 0;
}

pingyi_route_t *
pingyi_routes_worker (pingyi_routes_t *self, const uint8_t *id, size_t id_len)
{
    for (size_t i = 0; i < MAX_WORKERS; i++) {
        pingyi_route_t *w = &self->workers[i];
        if (w->alive && w->id_len == id_len && !memcmp (w->id, id, id_len))
            return w;
    }
    return NULL;
}

pingyi_route_t *
pingyi_routes_named (pingyi_routes_t *self, const char *name)
{
    for (size_t i = 0; i < MAX_WORKERS; i++)
        if (self->workers[i].alive && !strcmp (self->workers[i].name, name))
            return &self->workers[i];
    return NULL;
}

pingyi_route_t *
pingyi_routes_by_serial (pingyi_routes_t *self, uint64_t serial)
{
    for (size_t i = 0; i < MAX_WORKERS; i++)
        if (self->workers[i].alive && self->workers[i].serial == serial)
            return &self->workers[i];
    return NULL;
}

const pingyi_route_t *
pingyi_routes_displaced (const pingyi_routes_t *self, const uint8_t *id, size_t id_len, int64_t now_ms)
{
    for (size_t i = 0; i < MAX_WORKERS; i++) {
        const pingyi_route_t *w = &self->workers[i];
        if (w->displaced && now_ms - w->displaced_ms <= PINGYI_ROUTES_DISPLACED_MS && w->id_len == id_len &&
            !memcmp (w->id, id, id_len))
            return w;
    }
    return NULL;
}

pingyi_route_t *
pingyi_routes_displaced_named (pingyi_routes_t *self, const char *name, int64_t now_ms)
{
    for (size_t i = 0; i < MAX_WORKERS; i++) {
        pingyi_route_t *w = &self->workers[i];
        if (w->displaced && now_ms - w->displaced_ms <= PINGYI_ROUTES_DISPLACED_MS && !strcmp (w->name, name))
            return w;
    }
    return NULL;
}

/*  Shard s goes to the live worker whose HELLO listing it is the newest
    (NULL when none lists it).  */
static void
reassign (pingyi_routes_t *self, uint32_t s)
{
    pingyi_route_t *best = NULL;
    for (size_t i = 0; i < MAX_WORKERS; i++) {
        pingyi_route_t *w = &self->workers[i];
        if (w->alive && has (w->claimed, s) && (!best || w->claim_seq > best->claim_seq))
            best = w;
    }
    self->owner[s] = best;
}

static void
drop (pingyi_routes_t *self, pingyi_route_t *worker, bool displaced, int64_t now_ms)
{
    if (!worker->alive)
        return;
    if (self->on_drop)
        self->on_drop (worker, displaced, self->on_drop_arg);
    worker->alive = false;
    memset (worker->claimed, 0, sizeof worker->claimed);
    for (uint32_t s = 0; s < self->shard_count; s++)
        if (self->owner[s] == worker)
            reassign (self, s);
    worker->displaced = displaced;
    worker->displaced_ms = now_ms;
}

void
pingyi_routes_drop (pingyi_routes_t *self, pingyi_route_t *worker)
{
    drop (self, worker, false, 0);
}

void
pingyi_routes_displace (pingyi_routes_t *self, pingyi_route_t *worker, int64_t now_ms)
{
    drop (self, worker, true, now_ms);
}

/*  A slot for a new registration: the displaced record of this very
    connection, else a free slot, else the oldest displaced record.  */
static pingyi_route_t *
free_slot (pingyi_routes_t *self, const uint8_t *id, size_t id_len)
{
    pingyi_route_t *oldest = NULL;
    for (size_t i = 0; i < MAX_WORKERS; i++) {
        pingyi_route_t *w = &self->workers[i];
        if (w->displaced && w->id_len == id_len && !memcmp (w->id, id, id_len))
            return w;
    }
    for (size_t i = 0; i < MAX_WORKERS; i++) {
        pingyi_route_t *w = &self->workers[i];
        if (!w->alive && !w->displaced)
            return w;
        if (w->displaced && (!oldest || w->displaced_ms < oldest->displaced_ms))
            oldest = w;
    }
    return oldest;
}

pingyi_route_t *
pingyi_routes_claim (pingyi_routes_t *self, const uint8_t *id, size_t id_len, const char *name,
                     const uint32_t *shards, size_t shard_count, int64_t now_ms)
{
    if (id_len < 1 || id_len > PINGYI_ROUTE_ID_MAX)
        return NULL;
    pingyi_route_t *w = pingyi_routes_worker (self, id, id_len);
    if (!w) {
        /* One connection per key: the newest wins. */
        pingyi_route_t *old;
        while ((old = pingyi_routes_named (self, name)) != NULL)
            drop (self, old, true, now_ms);
        w = free_slot (self, id, id_len);
        if (!w)
            return NULL;
        memset (w, 0, sizeof *w);
        memcpy (w->id, id, id_len);
        w->id_len = id_len;
        snprintf (w->name, sizeof w->name, "%s", name);
        w->serial = ++self->next_serial;
        w->alive = true;
    }
    /* A worker's HELLO states all it owns: release what it no longer lists. */
    memset (w->claimed, 0, sizeof w->claimed);
    for (size_t i = 0; i < shard_count; i++)
        if (shards[i] < self->shard_count)
            w->claimed[shards[i] / 8] |= (uint8_t) (1u << (shards[i] % 8));
    w->claim_seq = ++self->next_claim;
    for (uint32_t s = 0; s < self->shard_count; s++)
        if (has (w->claimed, s))
            self->owner[s] = w;
        else if (self->owner[s] == w)
            reassign (self, s);
    w->last_seen_ms = now_ms;
    return w;
}

pingyi_route_t *
pingyi_routes_owner (pingyi_routes_t *self, uint32_t shard)
{
    return shard < self->shard_count ? self->owner[shard] : NULL;
}

size_t
pingyi_routes_expire (pingyi_routes_t *self, int64_t now_ms, int64_t timeout_ms)
{
    size_t dropped = 0;
    for (size_t i = 0; i < MAX_WORKERS; i++) {
        pingyi_route_t *w = &self->workers[i];
        if (w->alive && now_ms - w->last_seen_ms > timeout_ms) {
            pingyi_warn ("worker %s silent for %lld ms: its shards are released until it returns", w->name,
                         (long long) (now_ms - w->last_seen_ms));
            drop (self, w, false, now_ms);
            dropped++;
        }
        else if (w->displaced && now_ms - w->displaced_ms > PINGYI_ROUTES_DISPLACED_MS)
            w->displaced = false;
    }
    return dropped;
}

int64_t
pingyi_routes_next_expiry (const pingyi_routes_t *self, int64_t timeout_ms)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < MAX_WORKERS; i++) {
        const pingyi_route_t *w = &self->workers[i];
        if (w->alive && w->last_seen_ms + timeout_ms + 1 < next)
            next = w->last_seen_ms + timeout_ms + 1;
    }
    return next;
}

void
pingyi_routes_each (pingyi_routes_t *self, void (*fn) (pingyi_route_t *worker, void *arg), void *arg)
{
    for (size_t i = 0; i < MAX_WORKERS; i++)
        if (self->workers[i].alive)
            fn (&self->workers[i], arg);
}

size_t
pingyi_routes_live (const pingyi_routes_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < MAX_WORKERS; i++)
        n += self->workers[i].alive;
    return n;
}

size_t
pingyi_routes_covered (const pingyi_routes_t *self)
{
    size_t n = 0;
    for (uint32_t s = 0; s < self->shard_count; s++)
        n += self->owner[s] != NULL;
    return n;
}
