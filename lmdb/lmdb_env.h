/*  lmdb_env.h — the one LMDB helper, shared by the shard (store/), the
    client's outbox and the aggregator's history: open an environment,
    run a write transaction that grows the map when it fills, begin a read
    transaction that adopts another process's growth, and word an LMDB
    error naming the store and what failed.

    Why one: a write that meets MDB_MAP_FULL (in a put or in the commit)
    has poisoned its transaction; the only way on is to abort it, grow the
    map with no transaction of this process active, and redo the whole
    transaction from the start.  Getting that loop subtly different in two
    places is how a batch gets committed half-redone.  So the transaction's
    work is a function (pingyi_lmdb_txn_fn) that starts from scratch each
    time it is called, and this file owns the loop.

    Flags are the caller's: every pingyi store keeps LMDB's durable defaults
    (no MDB_NOSYNC, MDB_NOMETASYNC, MDB_WRITEMAP or MDB_MAPASYNC), so a
    commit returns after its fsyncs.  */
#ifndef PINGYI_LMDB_ENV_H
#define PINGYI_LMDB_ENV_H

#include "common.h"

#include <lmdb.h>

/*  A step of a write transaction, run from the start on every attempt:
    0, an LMDB code (which aborts the transaction; MDB_MAP_FULL grows the
    map and runs it again), or -1 with err set.  */
typedef int (pingyi_lmdb_txn_fn) (MDB_txn *txn, void *arg, char *err);

/*  Told of each growth of the map, from `from` to `to` bytes: rc 0 when it
    grew (return 0 to redo the transaction, -1 with err to stop), else the
    LMDB code that refused it (word err, return -1).  */
typedef int (pingyi_lmdb_grow_fn) (void *arg, size_t from, size_t to, int rc, char *err);

typedef struct {
    MDB_env *env;               /* NULL until pingyi_lmdb_open, and after pingyi_lmdb_close */
    char name[1100];            /* error texts begin with it: "DATA/shard-03", "outbox DIR" */
    size_t map_size;            /* the map as this process last set it */
    size_t map_max;             /* a map that would pass this is not grown (0: no bound) */
    int attempts;               /* write attempts before giving up (0: no bound) */
    pingyi_lmdb_grow_fn *grown; /* NULL: a refused growth is "NAME: growing the map: ..." */
    void *grown_arg;
    int64_t commit_ms; /* how long the last commit took */
} pingyi_lmdb_t;

/*  Set up db (all zero, then name) before opening it.  */
void pingyi_lmdb_init (pingyi_lmdb_t *db, const char *name);

/*  Create and open the environment at path (a directory, or a file with
    MDB_NOSUBDIR) with flags, maxdbs named databases and a map of map_size
    bytes (0: LMDB's default, or the size the file already has), mode
    0600; db->map_size is then the map LMDB has.  0, or the LMDB code (the
    environment closed again, db->env NULL).  */
int pingyi_lmdb_open (pingyi_lmdb_t *db, const char *path, unsigned flags, unsigned maxdbs,
                      size_t map_size) PINGYI_WARN_UNUSED;

/*  Close the environment; safe twice.  */
void pingyi_lmdb_close (pingyi_lmdb_t *db);

/*  Run fn (arg) in one write transaction and commit it durably.  On
    MDB_MAP_FULL the transaction is aborted, the map doubled (db->grown is
    told) and fn run again from the start; a map that would pass map_max is
    not grown: MDB_MAP_FULL is returned.  MDB_MAP_RESIZED (another process
    grew the map) adopts the new size and begins again.  Returns 0 when
    committed; -1 with err when fn said so or the map could not grow; else
    the LMDB code that stopped it (nothing committed), for the caller to
    word with pingyi_lmdb_fail.  */
int pingyi_lmdb_write (pingyi_lmdb_t *db, pingyi_lmdb_txn_fn *fn, void *arg, char *err) PINGYI_WARN_UNUSED;

/*  Begin a read transaction; when another process grew the map
    (MDB_MAP_RESIZED), adopt its size and begin again.  0 or an LMDB code.  */
int pingyi_lmdb_read (pingyi_lmdb_t *db, MDB_txn **txn) PINGYI_WARN_UNUSED;

/*  "NAME: WHAT: <LMDB's text for rc>" into err; returns -1.  */
int pingyi_lmdb_fail (const pingyi_lmdb_t *db, char *err, const char *what, int rc);

#endif
