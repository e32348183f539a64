/*  shards.h — what the aggregator knows of every shard: the last complete
    snapshot, the page sequence being assembled, and how fresh it is.

    A shard answers TALLY_QUERY one page at a time (SNAPSHOT: every venue
    figure of the shard, its count blocks up to ~4 MiB, `more`/`next`).  Pages are
    gathered into a pending set and **adopted only when the last page has
    arrived**, with the same generation, sequence and digest on every page
    (a worker sends released figures only, and changes the generation
    whenever anything released changes); so a merged view never holds
    half-old, half-new count blocks of one shard.  Until
    then, and whenever the shard does not answer (RETRY: no worker owns it;
    silence; a refused page), the shard keeps its last complete snapshot and
    ages: it is stale when it has none, or when the last one is older than
    stale_ms.

    Everything from the network is checked here, where it enters: the tag
    must be the one outstanding for that shard, the page must be this
    election's (fingerprint, shard count) and that shard's, its count
    blocks strictly ascending, at or after the requested key, each of a
    (venue of that shard, subject on its form) and a sound block of the
    election (election/count.h), and the whole set no larger than the
    shard's (venue, subject) pairs.  A refusal costs the page set (counted, with a reason), never
    the process and never the shard's last good snapshot.

    No ZeroMQ and no clock here: the caller passes `now` (ms, monotonic) and
    sends the queries this module asks for, so the logic is testable with
    fake pages.  One thread only (the poller).  */
#ifndef AGG_SHARDS_H
#define AGG_SHARDS_H

#include "msg.h"
#include "tally.h"

typedef struct agg_shards_t agg_shards_t;

/*  What became of a frame fed to agg_shards_feed.  */
typedef enum {
    AGG_FEED_PAGE = 0,  /* a page taken; more pages wanted (a query is queued) */
    AGG_FEED_COMPLETE,  /* the last page: the set was adopted */
    AGG_FEED_RESTARTED, /* the shard moved between pages: asked again from the start */
    AGG_FEED_RETRY,     /* RETRY: the shard keeps its last snapshot until the next round */
    AGG_FEED_ERROR,     /* ERROR for one of our queries: as RETRY, and err says why */
    AGG_FEED_LATE,      /* an answer to a query no longer outstanding: ignored */
    AGG_FEED_REFUSED,   /* a page that fails a check: the set is dropped, err says why */
    AGG_FEED_IGNORED,   /* not an answer to a query (HEARTBEAT, ...) */
} agg_feed_t;

/*  Counters of everything that came in (not persisted).  */
typedef struct {
    uint64_t queries_sent;
    uint64_t pages;            /* pages taken */
    uint64_t completes;        /* page sets adopted */
    uint64_t changes;          /* adopted sets that differed from the last one */
    uint64_t restarts;         /* sets restarted because the shard moved between pages */
    uint64_t retries;          /* RETRY answers */
    uint64_t errors;           /* ERROR answers */
    uint64_t timeouts;         /* queries not answered within the interval */
    uint64_t late;             /* answers to queries no longer outstanding */
    uint64_t refused;          /* pages refused (all reasons below) */
    uint64_t refused_election; /* fingerprint or shard count not ours */
    uint64_t refused_shard;    /* page for another shard than the tag's */
    uint64_t refused_order;    /* keys not ascending, before `from`, or `next` not after them */
    uint64_t refused_key;      /* a block of no (venue, form subject) of the shard, or not a sound block */
    uint64_t refused_venue;    /* figures of a venue not on the shard, twice, or by_category too long */
    uint64_t refused_size;     /* more blocks than the shard's (venue, subject) pairs */
} agg_shards_stats_t;

/*  One shard as the view reports it.  */
typedef struct {
    uint32_t shard;
    bool have;                    /* a complete snapshot was ever adopted */
    uint64_t sequence;            /* of the last complete snapshot: its last settled point */
    uint8_t digest[32];           /* the log's digest at that point */
    uint64_t generation;          /* of the released figures and counters */
    int64_t complete_ms;          /* when it was adopted (monotonic ms) */
    char reason[PINGYI_TEXT_MAX]; /* why the last attempt failed, "" when it did not */
} agg_shard_info_t;

/*  State for the election; NULL on out of memory.  interval_ms is how long a
    query may stay unanswered; stale_ms how old a snapshot may grow.  */
agg_shards_t *agg_shards_new (const pingyi_election_t *election, int64_t interval_ms, int64_t stale_ms);
void agg_shards_destroy (agg_shards_t **self_p);

/*  Start a round at now: a query outstanding for longer than the interval is
    given up (timeout; its pages are dropped); every shard with no query
    outstanding is asked again from its first key.  */
void agg_shards_round (agg_shards_t *self, int64_t now);

/*  Forget every outstanding query (the link to the broker was replaced):
    their answers will never come.  Snapshots are kept.  */
void agg_shards_abandon (agg_shards_t *self, const char *reason);

/*  The next query to send, if any: true and its shard, tag and from.  Call
    agg_shards_sent once it has gone; until then it is offered again.  */
bool agg_shards_want (agg_shards_t *self, uint32_t *shard, uint64_t *tag, uint8_t from[PINGYI_BLOCK_KEY_BYTES]);
void agg_shards_sent (agg_shards_t *self, uint32_t shard, int64_t now);

/*  Take a decoded frame from the broker.  err (PINGYI_ERR_MAX) says why for
    REFUSED, ERROR and RETRY; *shard names the shard concerned (or
    UINT32_MAX).  */
agg_feed_t agg_shards_feed (agg_shards_t *self, const pingyi_msg_t *msg, int64_t now, uint32_t *shard,
                            char *err);

/*  True when no query is outstanding or waiting to be sent.  */
bool agg_shards_idle (const agg_shards_t *self);

/*  True when a snapshot adopted since the last merge differs from the one
    before it (generation, sequence, digest, any venue figure or block).  */
bool agg_shards_changed (const agg_shards_t *self);

/*  Rebuild tally from the last complete snapshot of every shard: reset, add
    every count block, set every venue's figures.  Clears the changed flag.
    Returns the number of blocks the tally refused (0: the blocks were
    checked when their pages came in).  */
uint64_t agg_shards_merge (agg_shards_t *self, pingyi_tally_t *tally);

/*  A shard is stale when it has no complete snapshot, or its last one is
    older than stale_ms at now.  */
bool agg_shards_stale (const agg_shards_t *self, uint32_t shard, int64_t now);
/*  Age of the last complete snapshot at now (ms), -1 when none.  */
int64_t agg_shards_age (const agg_shards_t *self, uint32_t shard, int64_t now);

/*  Report a change of staleness once: +1 the shard has turned stale, -1 it
    has turned fresh, 0 no change since the last call.  A shard that never
    had a snapshot is reported stale only after stale_ms from creation, so
    start-up is quiet.  */
int agg_shards_transition (agg_shards_t *self, uint32_t shard, int64_t now);

void agg_shards_info (const agg_shards_t *self, uint32_t shard, agg_shard_info_t *info);
void agg_shards_stats (const agg_shards_t *self, agg_shards_stats_t *stats);
uint32_t agg_shards_count (const agg_shards_t *self);

/*  Age and staleness from a completion time, for whoever holds a copy of
    agg_shard_info_t (the HTTP side): -1 / true when never complete.  */
int64_t agg_shard_age (const agg_shard_info_t *info, int64_t now);
bool agg_shard_stale (const agg_shard_info_t *info, int64_t now, int64_t stale_ms);

#endif
