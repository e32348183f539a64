/*  shards.c — read an election's shard directories offline and merge them
    into one tally; shared by `pingyi tally` and `pingyi query --data`.

    Nothing damaged is printed as good: each shard's data file is checked
    against LMDB's meta before it is mapped, its state against its manifest
    (DATA/shard-NN.manifest: "unverified" on stderr when there is none),
    and its count blocks against its venues' ballots in the same read
    transaction that merges them (pingyi_shard_read_verified).

    The shards are opened read-only (safe while a worker writes: LMDB
    readers never block the writer), one at a time, never twice (LMDB
    forbids two environments on one directory in a process).  A shard
    directory that does not exist adds nothing (a worker host's data
    directory holds its own shards only), unless its manifest is there: then
    its files were lost, an error.  A data directory that does not exist is an error, so a
    mistyped --data cannot print an empty count as if it were real.  */
#include "lmdb_env.h"
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

/*  One shard, inside the guard (pingyi_lmdb_guard): a damaged file that
    makes LMDB fault or assert is an error naming the shard, not a crash.
    The shard is left open when the guard fires (nothing of it may be used
    again, not even to close it).  */
typedef struct {
    const pingyi_election_t *e;
    const char *data;
    uint32_t s;
    pingyi_tally_t *tally;
    pingyi_shard_info_t info;
    pingyi_shard_visit_fn *visit;
    void *arg;
} one_t;

static int
read_one (void *arg, char *err)
{
    one_t *o = arg;
    pingyi_shard_t *shard = pingyi_shard_open_readonly (o->data, o->s, o->e, err);
    if (!shard || pingyi_shard_info (shard, &o->info, err) ||
        pingyi_shard_read_verified (shard, add_block, add_figures, o->tally, err) != 0) {
        pingyi_shard_close (&shard);
        return -1;
    }
    const char *why_not;
    if (!pingyi_shard_verified (shard, &why_not))
        fprintf (stderr, "pingyi: shard %" PRIu32 ": unverified (%s): its figures are read as they are\n", o->s,
                 why_not);
    if (o->visit)
        o->visit (shard, o->s, o->arg);
    pingyi_shard_close (&shard);
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
        if (stat (path, &st) != 0) {
            char manifest[4300];
            snprintf (manifest, sizeof manifest, "%s.manifest", path);
            if (stat (manifest, &st) == 0)
                return pingyi_fail (err,
                                    "shard %" PRIu32 ": %s is missing, but its manifest %s is there: the shard's "
                                    "files were deleted or moved (restore them)",
                                    s, path, manifest);
            continue; /* not on this host, or no worker ever started it */
        }
        one_t one = {.e = e, .data = data, .s = s, .tally = tally, .visit = visit, .arg = arg};
        if (pingyi_lmdb_guard (path, read_one, &one, why))
            return pingyi_fail (err, "shard %" PRIu32 ": %s", s, why);
        if (infos)
            infos[s] = one.info;
        if (present)
            present[s] = true;
    }
    return 0;
}
