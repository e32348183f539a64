/*  routes.c — the shard → worker table.  Small and flat: a few workers, at
    most 256 shards; linear scans are cheaper than any index here.  */
#include "routes.h"

#include <stdlib.h>
#include <string.h>

#define MAX_WORKERS 1024

struct pingyi_routes_t {
    uint32_t shard_count;
    pingyi_route_t *owner[PINGYI_MAX_SHARDS]; /* NULL: no live owner */
    pingyi_route_t workers[MAX_WORKERS];
};

pingyi_routes_t *
pingyi_routes_new (uint32_t shard_count)
{
    pingyi_routes_t *self = calloc (1, sizeof *self);
    if (self)
        self->shard_count = shard_count;
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

void
pingyi_routes_drop (pingyi_routes_t *self, pingyi_route_t *worker)
{
    for (uint32_t s = 0; s < self->shard_count; s++)
        if (self->owner[s] == worker)
            self->owner[s] = NULL;
    worker->alive = false;
}

pingyi_route_t *
pingyi_routes_claim (pingyi_routes_t *self, const uint8_t *id, size_t id_len, const char *name,
                     const uint32_t *shards, size_t shard_count, int64_t now_ms)
{
    if (id_len > PINGYI_ROUTE_ID_MAX)
        return NULL;
    pingyi_route_t *w = pingyi_routes_worker (self, id, id_len);
    if (!w) {
        /* The same worker name on a new connection is a restart: forget the old one. */
        for (size_t i = 0; i < MAX_WORKERS; i++)
            if (self->workers[i].alive && !strcmp (self->workers[i].name, name))
                pingyi_routes_drop (self, &self->workers[i]);
        for (size_t i = 0; i < MAX_WORKERS && !w; i++)
            if (!self->workers[i].alive)
                w = &self->workers[i];
        if (!w)
            return NULL;
        memset (w, 0, sizeof *w);
        memcpy (w->id, id, id_len);
        w->id_len = id_len;
        snprintf (w->name, sizeof w->name, "%s", name);
        w->alive = true;
    }
    /* A worker's HELLO states all it owns: release what it no longer lists. */
    for (uint32_t s = 0; s < self->shard_count; s++)
        if (self->owner[s] == w)
            self->owner[s] = NULL;
    for (size_t i = 0; i < shard_count; i++)
        if (shards[i] < self->shard_count)
            self->owner[shards[i]] = w;
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
            pingyi_warn ("worker %s silent for %lld ms: its shards are unowned until it returns", w->name,
                         (long long) (now_ms - w->last_seen_ms));
            pingyi_routes_drop (self, w);
            dropped++;
        }
    }
    return dropped;
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
