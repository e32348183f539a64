/*  state.c — reference-counted immutable snapshots and the board they are
    published on (see state.h for the threading model).  */
#include "state.h"

#include <stdlib.h>

agg_merged_t *
agg_merged_new (const pingyi_election_t *election, pingyi_tally_t *tally, pingyi_view_t *view, uint64_t round,
                time_t wall)
{
    agg_merged_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    atomic_init (&self->refs, 1);
    self->election = election;
    self->tally = tally;
    self->view = view;
    self->round = round;
    self->wall = wall;
    return self;
}

agg_merged_t *
agg_merged_ref (agg_merged_t *self)
{
    if (self)
        atomic_fetch_add (&self->refs, 1);
    return self;
}

void
agg_merged_unref (agg_merged_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    agg_merged_t *self = *self_p;
    *self_p = NULL;
    if (atomic_fetch_sub (&self->refs, 1) != 1)
        return;
    pingyi_view_destroy (&self->view);
    pingyi_tally_destroy (&self->tally);
    free (self);
}

agg_state_t *
agg_state_new (agg_merged_t *merged, uint32_t shard_count)
{
    agg_state_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->shards = calloc (shard_count ? shard_count : 1, sizeof *self->shards);
    if (!self->shards) {
        free (self);
        return NULL;
    }
    atomic_init (&self->refs, 1);
    self->shard_count = shard_count;
    self->merged = agg_merged_ref (merged);
    return self;
}

agg_state_t *
agg_state_ref (agg_state_t *self)
{
    if (self)
        atomic_fetch_add (&self->refs, 1);
    return self;
}

void
agg_state_unref (agg_state_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    agg_state_t *self = *self_p;
    *self_p = NULL;
    if (atomic_fetch_sub (&self->refs, 1) != 1)
        return;
    agg_merged_unref (&self->merged);
    free (self->shards);
    free (self);
}

bool
agg_state_final (const agg_state_t *self)
{
    return self->merged && self->merged->view && self->merged->view->final;
}

void
agg_board_init (agg_board_t *self)
{
    pthread_mutex_init (&self->lock, NULL);
    self->current = NULL;
}

void
agg_board_fini (agg_board_t *self)
{
    agg_state_unref (&self->current);
    pthread_mutex_destroy (&self->lock);
}

void
agg_board_publish (agg_board_t *self, agg_state_t *state)
{
    pthread_mutex_lock (&self->lock);
    agg_state_t *old = self->current;
    self->current = state;
    pthread_mutex_unlock (&self->lock);
    /* the old state may still be read by a request: its last release frees it */
    agg_state_unref (&old);
}

agg_state_t *
agg_board_acquire (agg_board_t *self)
{
    pthread_mutex_lock (&self->lock);
    agg_state_t *state = agg_state_ref (self->current);
    pthread_mutex_unlock (&self->lock);
    return state;
}
