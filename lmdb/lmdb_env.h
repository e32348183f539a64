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
    char why[512];     /* pingyi_lmdb_open's MDB_CORRUPTED: what is wrong with the file */
    char dir[1100];    /* the directory the data file is in (its file system's free space) */
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

/*  Whether the LMDB data file `file` can be mapped and read without
    reading past its end, checked with pread before LMDB maps it (a read
    past the end of a mapped file is SIGBUS, not an error).  Its two meta
    pages must carry LMDB's magic and version and a page size that is a
    power of two in 512..65536; the newer meta's last page, and the roots of
    its two trees, must lie inside the file.  0 when sound, 1 when the file
    does not exist, -1 with err ("FILE: truncated: 8192 bytes, but its meta
    (transaction 41) says its pages reach 1269760 bytes") when it is empty,
    shorter than its meta pages or their pages, or not an LMDB file.  */
int pingyi_lmdb_file_check (const char *file, char *err) PINGYI_WARN_UNUSED;

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

/*  Run fn (arg, err) so that a damaged file cannot kill the process.  LMDB
    trusts the pages it maps: a page number flipped inside a tree makes it
    read past the end of the file (SIGBUS), outside its map (SIGSEGV), or
    fail one of its own assertions (which abort).  Inside the guard each of
    these returns -1 with err ("NAME: damaged: ... while reading it") instead.
    After a guard has fired, the environment (and whatever fn was building)
    must not be used again: close nothing of it, report and stop using
    that store.  For reading stores whose files may be damaged (offline
    tools, the recount's threads; a worker's checks at open); not for the
    write path.  The SIGBUS and SIGSEGV handlers are installed at the first
    guard and stay; each thread has its own guard (a fault outside any
    guard still kills the process, as it would without).  fn's result, or
    -1.  */
typedef int (pingyi_lmdb_guard_fn) (void *arg, char *err);
int pingyi_lmdb_guard (const char *name, pingyi_lmdb_guard_fn *fn, void *arg, char *err);

/*  Whether a failed write (rc) means the disk is full: ENOSPC or EDQUOT,
    or EIO (how a failed write-back of delayed allocation surfaces at
    fsync) while the file system has less than 1 MiB left to this process.
    free_bytes (may be NULL) receives what statvfs says is left.  */
bool pingyi_lmdb_disk_full (const pingyi_lmdb_t *db, int rc, uint64_t *free_bytes);

/*  "NAME: WHAT: <LMDB's text for rc>" into err (db->why instead of
    LMDB's text for pingyi_lmdb_open's MDB_CORRUPTED; "the disk is full
    (N KiB left on its file system)" when pingyi_lmdb_disk_full); -1.  */
int pingyi_lmdb_fail (const pingyi_lmdb_t *db, char *err, const char *what, int rc);

#endif
