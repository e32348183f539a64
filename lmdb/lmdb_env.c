/*  lmdb_env.c — the one LMDB helper (see lmdb_env.h).

    Invariant: pingyi_lmdb_write never leaves a transaction of its own open
    when it returns, and grows the map only while none is (LMDB requires
    that no transaction of this process is active in mdb_env_set_mapsize).  */
#include "lmdb_env.h"

#include <stdio.h>
#include <string.h>

void
pingyi_lmdb_init (pingyi_lmdb_t *db, const char *name)
{
    memset (db, 0, sizeof *db);
    snprintf (db->name, sizeof db->name, "%s", name);
}

int
pingyi_lmdb_open (pingyi_lmdb_t *db, const char *path, unsigned flags, unsigned maxdbs, size_t map_size)
{
    int rc = mdb_env_create (&db->env);
    if (rc) {
        db->env = NULL;
        return rc;
    }
    rc = mdb_env_set_maxdbs (db->env, maxdbs);
    if (!rc && map_size)
        rc = mdb_env_set_mapsize (db->env, map_size);
    if (!rc)
        rc = mdb_env_open (db->env, path, flags, 0600);
    if (rc) {
        mdb_env_close (db->env);
        db->env = NULL;
        return rc;
    }
    MDB_envinfo info;
    mdb_env_info (db->env, &info);
    db->map_size = info.me_mapsize;
    return 0;
}

void
pingyi_lmdb_close (pingyi_lmdb_t *db)
{
    if (db->env)
        mdb_env_close (db->env);
    db->env = NULL;
}

/*  Double the map (no transaction active).  0 to redo the transaction,
    -1 with err when it could not grow, MDB_MAP_FULL past map_max.  */
static int
grow (pingyi_lmdb_t *db, char *err)
{
    size_t from = db->map_size;
    size_t want = from * 2;
    if (want <= from)
        want = from; /* overflow: set_mapsize will refuse */
    if (db->map_max && want > db->map_max)
        return MDB_MAP_FULL;
    int rc = mdb_env_set_mapsize (db->env, want);
    if (rc == 0) {
        MDB_envinfo info;
        mdb_env_info (db->env, &info);
        db->map_size = info.me_mapsize;
    }
    if (db->grown)
        return db->grown (db->grown_arg, from, rc ? want : db->map_size, rc, err) ? -1 : 0;
    return rc ? pingyi_lmdb_fail (db, err, "growing the map", rc) : 0;
}

int
pingyi_lmdb_write (pingyi_lmdb_t *db, pingyi_lmdb_txn_fn *fn, void *arg, char *err)
{
    int rc = MDB_MAP_FULL;
    for (int attempt = 0; !db->attempts || attempt < db->attempts; attempt++) {
        MDB_txn *txn;
        rc = mdb_txn_begin (db->env, NULL, 0, &txn);
        if (rc == MDB_MAP_RESIZED) {
            mdb_env_set_mapsize (db->env, 0);
            MDB_envinfo info;
            mdb_env_info (db->env, &info);
            db->map_size = info.me_mapsize;
            continue;
        }
        if (rc)
            return rc;
        rc = fn (txn, arg, err);
        if (rc == 0) {
            int64_t t0 = pingyi_now_ms ();
            rc = mdb_txn_commit (txn); /* frees txn, committed or not */
            db->commit_ms = pingyi_now_ms () - t0;
            if (rc == 0)
                return 0;
        }
        else
            mdb_txn_abort (txn);
        if (rc != MDB_MAP_FULL)
            return rc;
        rc = grow (db, err);
        if (rc)
            return rc;
        rc = MDB_MAP_FULL;
    }
    return rc;
}

int
pingyi_lmdb_read (pingyi_lmdb_t *db, MDB_txn **txn)
{
    int rc = mdb_txn_begin (db->env, NULL, MDB_RDONLY, txn);
    if (rc == MDB_MAP_RESIZED) {
        /* another process grew the map: adopt its size */
        mdb_env_set_mapsize (db->env, 0);
        rc = mdb_txn_begin (db->env, NULL, MDB_RDONLY, txn);
    }
    return rc;
}

int
pingyi_lmdb_fail (const pingyi_lmdb_t *db, char *err, const char *what, int rc)
{
    return pingyi_fail (err, "%s: %s: %s", db->name, what, mdb_strerror (rc));
}
