/*  history.h — the aggregator's own record of how the count moved: one
    record per merged change, in an LMDB environment of its own (--data).

    Key: the round number, u64 big-endian (so records sort by round).
    Value: one compact JSON object,
        {"round":R,"time":T,"sequences":[...],"digests":[...],"generations":[...],
         "accepted":N,"blank":N,"rejected":N,
         "venues":{"open":N,"closed":N,"reconciled":N,"void":N}}
    time is wall-clock seconds; sequences, digests and generations are
    indexed by shard (null for a shard with no snapshot yet).  The writer
    composes everything after "time" (the body); a body equal to the last
    record's is not written again, so a restart does not repeat the last
    record.  Everything in a body is released content (shards send only
    released figures; the generation moves whenever anything released
    moves), so a record is written only when the release moved, and its
    time is the time of a release step, never of a single ballot
    (docs/aggregator.md).

    Bounded: after each write the oldest records are deleted beyond `keep`.
    Round numbers continue after a restart (the first round is the last
    stored one + 1), so keys never collide.

    One writer thread; readers in other threads (the environment is opened
    with MDB_NOTLS, so a read transaction is not tied to a thread).  */
#ifndef AGG_HISTORY_H
#define AGG_HISTORY_H

#include "common.h"

#define AGG_HISTORY_KEEP 10000
#define AGG_HISTORY_MAP ((size_t) 1 << 30) /* 1 GiB of address space; the file grows as used */

typedef struct agg_history_t agg_history_t;

/*  Open (creating, mode 0700) the environment in dir.  One aggregator per
    directory: first an exclusive flock on dir/aggregator.lock (mode 0600,
    the holder's pid as text), held until agg_history_close or the process
    dies; a held lock is refused with "DIR: in use by another aggregator
    (pid P, DIR/aggregator.lock): one aggregator per data directory".
    NULL with err.  */
agg_history_t *agg_history_open (const char *dir, size_t keep, char *err);
void agg_history_close (agg_history_t **self_p);

/*  The last round stored, 0 when none.  */
uint64_t agg_history_last_round (const agg_history_t *self);

/*  Append round's record unless body equals the last record's: 1 written,
    0 unchanged, -1 with err.  body: the members after "time", without the
    braces.  */
int agg_history_record (agg_history_t *self, uint64_t round, int64_t wall, const char *body, char *err);

/*  Write up to limit records, newest first, as the items of a JSON array
    (comma separated, no brackets) to out; *count says how many.  A stored
    value that is not a JSON object is skipped and counted in *skipped.
    0 / -1 with err.  */
int agg_history_dump (agg_history_t *self, size_t limit, FILE *out, size_t *count, size_t *skipped,
                      char *err);

/*  Records stored now.  */
size_t agg_history_size (agg_history_t *self);

#endif
