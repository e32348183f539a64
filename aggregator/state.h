/*  state.h — what the HTTP side reads: immutable snapshots of the merged
    view, published by the poller and shared by reference count.

    Threading model.  The poller (main thread) owns agg_shards_t and builds,
    after a round, a new agg_state_t: the shards' freshness, the counters of
    the poller, and a reference to the merged tally and view (agg_merged_t,
    rebuilt only when some shard changed, shared by the states until then).
    It then publishes the state on the board.  HTTP threads take a reference
    to the board's current state (agg_board_acquire), render from it without
    any lock, and release it.  Nothing in a published state is ever written
    again, so readers need no lock; the board's mutex guards only the
    pointer swap and the taking of a reference, never a render, so a slow
    client or a large response cannot stall the poller.  The last release
    frees (atomic reference counts; the state owns one reference to its
    merged object).  */
#ifndef AGG_STATE_H
#define AGG_STATE_H

#include "rollup.h"
#include "shards.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

/*  The merged count at one moment.  */
typedef struct {
    atomic_int refs;
    const pingyi_election_t *election;
    pingyi_tally_t *tally;
    pingyi_view_t *view;
    uint64_t round;        /* the round that merged it */
    time_t wall;           /* wall clock when merged */
    uint64_t refused_keys; /* keys the tally refused at the merge (0 expected) */
} agg_merged_t;

/*  Counters of the poller besides the shards' (shards.h).  */
typedef struct {
    uint64_t rounds;
    uint64_t merges;
    uint64_t frames_in;
    uint64_t bad_frames;    /* did not decode */
    uint64_t multipart;     /* more than one frame */
    uint64_t unexpected;    /* a message type the aggregator never asked for */
    uint64_t send_failures; /* a query could not be handed to the socket at once */
    uint64_t failovers;     /* switched to the next broker */
    uint64_t history_writes;
    uint64_t history_errors;
    uint64_t merge_us; /* the last merge: tally from the shards' snapshots, then the view */
} agg_poll_stats_t;

typedef struct {
    atomic_int refs;
    uint64_t round;
    int64_t made_ms;    /* monotonic, when published */
    int64_t started_ms; /* monotonic, when the aggregator started asking */
    int64_t stale_ms;
    int64_t interval_ms;
    const char *broker;       /* the endpoint in use (static for the process) */
    agg_merged_t *merged;     /* one reference owned */
    agg_shard_info_t *shards; /* shard_count entries */
    uint32_t shard_count;
    agg_shards_stats_t shard_stats;
    agg_poll_stats_t poll_stats;
} agg_state_t;

/*  A merged object owning tally and view; refs = 1.  NULL (and tally and
    view left to the caller) on out of memory.  */
agg_merged_t *agg_merged_new (const pingyi_election_t *election, pingyi_tally_t *tally, pingyi_view_t *view,
                              uint64_t round, time_t wall);
agg_merged_t *agg_merged_ref (agg_merged_t *self);
void agg_merged_unref (agg_merged_t **self_p);

/*  A state of shard_count shards (zeroed), holding a reference to merged;
    refs = 1.  NULL on out of memory.  */
agg_state_t *agg_state_new (agg_merged_t *merged, uint32_t shard_count);
agg_state_t *agg_state_ref (agg_state_t *self);
void agg_state_unref (agg_state_t **self_p);

/*  The view says final: every venue reconciled or void.  (A shard never
    heard from leaves its venues open, so it can never look final.)  */
bool agg_state_final (const agg_state_t *self);

typedef struct {
    pthread_mutex_t lock;
    agg_state_t *current;
} agg_board_t;

void agg_board_init (agg_board_t *self);
/*  Drops the current state.  */
void agg_board_fini (agg_board_t *self);
/*  Publish state (the board takes the caller's reference).  */
void agg_board_publish (agg_board_t *self, agg_state_t *state);
/*  A reference to the current state, or NULL before the first publish.  */
agg_state_t *agg_board_acquire (agg_board_t *self);

#endif
