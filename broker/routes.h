/*  routes.h — which worker owns which shard, as the workers say it.

    This is the only state the broker keeps, and all of it is soft: workers
    announce their shards (HELLO) and keep them by heartbeating; a restarted
    broker starts empty and relearns the table within one heartbeat, because a
    worker that hears "unknown peer" says HELLO again.  The newest HELLO for a
    shard wins: a worker that restarted comes back with a new routing id, and
    waiting for the old one to expire would stall its venues for seconds.  */
#ifndef PINGYI_ROUTES_H
#define PINGYI_ROUTES_H

#include "election.h"
#include "msg.h"

#define PINGYI_ROUTE_ID_MAX 256

typedef struct {
    uint8_t id[PINGYI_ROUTE_ID_MAX]; /* the worker's ZeroMQ routing id */
    size_t id_len;
    char name[PINGYI_NAME_MAX + 1]; /* worker name (its key's) */
    int64_t last_seen_ms;
    bool alive;
} pingyi_route_t;

typedef struct pingyi_routes_t pingyi_routes_t;

pingyi_routes_t *pingyi_routes_new (uint32_t shard_count);
void pingyi_routes_destroy (pingyi_routes_t **self_p);

/*  A worker (routing id, name) claims shards.  Returns the worker's slot.  */
pingyi_route_t *pingyi_routes_claim (pingyi_routes_t *self, const uint8_t *id, size_t id_len,
                                     const char *name, const uint32_t *shards, size_t shard_count,
                                     int64_t now_ms);
/*  The live worker with this routing id, or NULL.  */
pingyi_route_t *pingyi_routes_worker (pingyi_routes_t *self, const uint8_t *id, size_t id_len);
/*  The live owner of a shard, or NULL.  */
pingyi_route_t *pingyi_routes_owner (pingyi_routes_t *self, uint32_t shard);
/*  Drop workers silent for longer than timeout_ms; returns how many.  */
size_t pingyi_routes_expire (pingyi_routes_t *self, int64_t now_ms, int64_t timeout_ms);
/*  Drop one worker (it is unreachable).  */
void pingyi_routes_drop (pingyi_routes_t *self, pingyi_route_t *worker);
/*  Live workers, for heartbeats: call fn for each.  */
void pingyi_routes_each (pingyi_routes_t *self, void (*fn) (pingyi_route_t *worker, void *arg), void *arg);
size_t pingyi_routes_live (const pingyi_routes_t *self);
/*  Shards with a live owner.  */
size_t pingyi_routes_covered (const pingyi_routes_t *self);

#endif
