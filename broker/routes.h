/*  routes.h — which worker owns which shard, as the workers say it, within
    what the keyring assigns them.

    This and the pending tickets (tickets.h) are all the state the broker
    keeps, and all of it is soft: workers announce their shards (HELLO) and
    keep them by heartbeating; a restarted broker starts empty and relearns
    the table within one heartbeat, because a worker that hears "unknown
    peer" says HELLO again.

    - A HELLO may list only shards the keyring assigns to the sender's key
      (pingyi_routes_check_assigned); the broker refuses the whole HELLO
      otherwise.
    - One connection per worker key: the newest HELLO wins.  A restarted
      worker comes back on a new connection and must not wait for the old
      one to time out; the old one is displaced (it keeps a record here for
      a while, so its heartbeats are not mistaken for a stranger's, and so
      it can be called back when the connection that displaced it goes).
    - Several keys may be assigned one shard (a standby): the newest HELLO
      listing a shard owns it; when that worker goes, the shard falls back
      to the most recent live worker still listing it, so no shard is left
      unowned while a worker that claimed it is alive.  */
#ifndef PINGYI_ROUTES_H
#define PINGYI_ROUTES_H

#include "election.h"
#include "keys.h"
#include "msg.h"

#define PINGYI_ROUTE_ID_MAX 256
#define PINGYI_ROUTES_DISPLACED_MS 30000 /* how long a displaced connection is remembered */

typedef struct {
    uint8_t id[PINGYI_ROUTE_ID_MAX]; /* the worker's ZeroMQ routing id */
    size_t id_len;
    char name[PINGYI_NAME_MAX + 1]; /* worker name (its key's) */
    uint64_t serial;                /* this registration (connection), unique for the broker's life */
    uint8_t claimed[32];            /* bit s: its last HELLO listed shard s */
    uint64_t claim_seq;             /* when that HELLO came, in HELLO order */
    int64_t last_seen_ms;
    bool alive;
    bool displaced; /* not alive: another connection with its key took over */
    int64_t displaced_ms;
    /* the broker's byte credit lent to this worker (broker/credit.c) */
    uint64_t owed_bytes;
    int64_t last_answer_ms;
} pingyi_route_t;

typedef struct pingyi_routes_t pingyi_routes_t;

pingyi_routes_t *pingyi_routes_new (uint32_t shard_count);
void pingyi_routes_destroy (pingyi_routes_t **self_p);

/*  Called whenever a live worker is dropped (expired, unreachable,
    displaced, replaced), before its slot is cleared; `displaced` when
    another connection with its key took over.  */
typedef void (pingyi_routes_drop_fn) (pingyi_route_t *worker, bool displaced, void *arg);
void pingyi_routes_on_drop (pingyi_routes_t *self, pingyi_routes_drop_fn *fn, void *arg);

/*  0 when the keyring entry of a worker key is assigned every shard listed
    (each below shard_count); else -1 with *bad the first shard that is not.  */
int pingyi_routes_check_assigned (const pingyi_keyring_entry_t *entry, const uint32_t *shards, size_t count,
                                  uint32_t shard_count, uint32_t *bad);

/*  A worker (routing id, name) claims shards: the HELLO's whole list.
    Returns the worker's slot, or NULL when the table is full.  Any other
    live connection with the same name is dropped: the caller displaces it
    first (pingyi_routes_named, pingyi_routes_displace) to tell it.  */
pingyi_route_t *pingyi_routes_claim (pingyi_routes_t *self, const uint8_t *id, size_t id_len,
                                     const char *name, const uint32_t *shards, size_t shard_count,
                                     int64_t now_ms);
/*  The live worker with this routing id, or NULL.  */
pingyi_route_t *pingyi_routes_worker (pingyi_routes_t *self, const uint8_t *id, size_t id_len);
/*  The live worker registered under this name (key), or NULL.  */
pingyi_route_t *pingyi_routes_named (pingyi_routes_t *self, const char *name);
/*  The live worker with this registration serial, or NULL.  */
pingyi_route_t *pingyi_routes_by_serial (pingyi_routes_t *self, uint64_t serial);
/*  A connection displaced within PINGYI_ROUTES_DISPLACED_MS, or NULL.  */
const pingyi_route_t *pingyi_routes_displaced (const pingyi_routes_t *self, const uint8_t *id, size_t id_len,
                                               int64_t now_ms);
/*  A connection with this name displaced within PINGYI_ROUTES_DISPLACED_MS,
    or NULL; clear its `displaced` to forget it.  */
pingyi_route_t *pingyi_routes_displaced_named (pingyi_routes_t *self, const char *name, int64_t now_ms);
/*  The live owner of a shard, or NULL.  */
pingyi_route_t *pingyi_routes_owner (pingyi_routes_t *self, uint32_t shard);
/*  Drop workers silent for longer than timeout_ms; returns how many.  Also
    forgets displaced connections older than PINGYI_ROUTES_DISPLACED_MS.
    Each dropped worker's shards fall back at once (see the top).  */
size_t pingyi_routes_expire (pingyi_routes_t *self, int64_t now_ms, int64_t timeout_ms);
/*  When the first live worker falls silent for longer than timeout_ms
    (its last_seen_ms + timeout_ms + 1), or INT64_MAX with none: the broker
    expires it then, not at its next heartbeat tick, so a silent owner's
    shards move within one heartbeat timeout of its last word.  */
int64_t pingyi_routes_next_expiry (const pingyi_routes_t *self, int64_t timeout_ms);
/*  Drop one worker (it is unreachable).  */
void pingyi_routes_drop (pingyi_routes_t *self, pingyi_route_t *worker);
/*  Drop one worker because another connection with its key said HELLO.  */
void pingyi_routes_displace (pingyi_routes_t *self, pingyi_route_t *worker, int64_t now_ms);
/*  Live workers, for heartbeats: call fn for each (fn may drop it).  */
void pingyi_routes_each (pingyi_routes_t *self, void (*fn) (pingyi_route_t *worker, void *arg), void *arg);
size_t pingyi_routes_live (const pingyi_routes_t *self);
/*  Shards with a live owner.  */
size_t pingyi_routes_covered (const pingyi_routes_t *self);

#endif
