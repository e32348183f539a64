/*  shards.c — read an election's shard directories offline and merge them
    into one tally; shared by `pingyi tally` and `pingyi query --data`.

    The shards are opened read-only (safe while a worker writes: LMDB
    readers never block the writer), one at a time, never twice (LMDB
    forbids two environments on one directory in a process).  A shard
    directory that does not exist is a shard no ballot ever reached: it
    adds nothing.  A data directory that does not exist is an error, so a
    mistyped --data cannot print an empty count as if it were real.  */
#include "tools.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

static int
add_block (uint32_t venue, uint32_t subject, const uint8_t *cells, void *arg)
{
    pingyi_tally_t *tally = arg;
    /* a refused block is counted by the tally (rejected_keys) */
    (void) !pingyi_tally_add_block (tally, venue, subject, cells, pingyi_tally_shape (tally)->width * 4);
    return 0;
}

static int
add_figures (const pingyi_venue_figures_t *f, void *arg)
{
    pingyi_tally_set_figures (arg, f);
    return 0;
}

int
pingyi_data_dir_check (const char *data, char *err)
{
    struct stat st;
    if (stat (data, &st) != 0)
        return pingyi_fail (err, "%s: %s", data, strerror (errno));
    if (!S_ISDIR (st.st_mode))
        return pingyi_fail (err, "%s: not a directory", data);
    return 0;
}

int
pingyi_read_shards (const pingyi_election_t *e, const char *data, pingyi_tally_t *tally,
                    pingyi_shard_info_t *infos, bool *present, pingyi_shard_visit_fn *visit, void *arg,
                    char *err)
{
    struct stat st;
    if (pingyi_data_dir_check (data, err))
        return -1;
    for (uint32_t s = 0; s < e->shard_count; s++) {
        char path[4200], why[PINGYI_ERR_MAX];
        if (present)
            present[s] = false;
        pingyi_shard_path (path, sizeof path, data, s);
        if (stat (path, &st) != 0)
            continue; /* no ballot ever reached this shard */
        pingyi_shard_info_t info;
        pingyi_shard_t *shard = pingyi_shard_open_readonly (data, s, e, why);
        if (!shard || pingyi_shard_info (shard, &info, why) ||
            pingyi_shard_foreach_row (shard, add_block, tally, why) < 0 ||
            pingyi_shard_foreach_venue (shard, add_figures, tally, why) < 0) {
            pingyi_shard_close (&shard);
            return pingyi_fail (err, "shard %" PRIu32 ": %s", s, why);
        }
        if (infos)
            infos[s] = info;
        if (present)
            present[s] = true;
        if (visit)
            visit (shard, s, arg);
        pingyi_shard_close (&shard);
    }
    return 0;
}
