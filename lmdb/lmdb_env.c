/*  lmdb_env.c — the one LMDB helper (see lmdb_env.h).

    Invariant: pingyi_lmdb_write never leaves a transaction of its own open
    when it returns, and grows the map only while none is (LMDB requires
    that no transaction of this process is active in mdb_env_set_mapsize).  */
#include "lmdb_env.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/*  LMDB 0.9's file layout, as far as the check needs it (mdb.c: MDB_page,
    MDB_meta, MDB_db).  A meta page: the 16-byte page header, then the
    meta: magic u32, version u32, address (8), map size (8), two MDB_db of
    48 bytes (free-list tree, main tree; the free tree's md_pad holds the
    page size), last page (8), transaction id (8).  Page 0 and page 1 hold
    the two metas; the newer transaction id is the one LMDB uses.  */
#define LMDB_PAGE_HEADER 16
#define LMDB_MAGIC 0xBEEFC0DEu
#define LMDB_VERSION 1u
#define LMDB_META_PSIZE 24      /* u32: mm_dbs[0].md_pad */
#define LMDB_META_FREE_ROOT 64  /* u64: mm_dbs[0].md_root */
#define LMDB_META_MAIN_ROOT 112 /* u64: mm_dbs[1].md_root */
#define LMDB_META_LAST_PAGE 120
#define LMDB_META_TXNID 128
#define LMDB_META_LEN 136
#define LMDB_NO_ROOT UINT64_MAX /* P_INVALID: an empty tree */

typedef struct {
    uint32_t magic, version, psize;
    uint64_t free_root, main_root, last_page, txnid;
} lmdb_meta_t;

static uint64_t
get_u64 (const uint8_t *p)
{
    uint64_t v;
    memcpy (&v, p, 8);
    return v; /* LMDB writes host order; pingyi runs on little-endian hosts */
}

static uint32_t
get_u32 (const uint8_t *p)
{
    uint32_t v;
    memcpy (&v, p, 4);
    return v;
}

static void
meta_parse (const uint8_t *page, lmdb_meta_t *m)
{
    const uint8_t *p = page + LMDB_PAGE_HEADER;
    m->magic = get_u32 (p);
    m->version = get_u32 (p + 4);
    m->psize = get_u32 (p + LMDB_META_PSIZE);
    m->free_root = get_u64 (p + LMDB_META_FREE_ROOT);
    m->main_root = get_u64 (p + LMDB_META_MAIN_ROOT);
    m->last_page = get_u64 (p + LMDB_META_LAST_PAGE);
    m->txnid = get_u64 (p + LMDB_META_TXNID);
}

static bool
meta_sound (const lmdb_meta_t *m)
{
    return m->magic == LMDB_MAGIC && m->version == LMDB_VERSION && m->psize >= 512 && m->psize <= 65536 &&
           (m->psize & (m->psize - 1)) == 0;
}

int
pingyi_lmdb_file_check (const char *file, char *err)
{
    int fd = open (file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        return pingyi_fail (err, "%s: cannot open: %s", file, strerror (errno));
    }
    struct stat st;
    if (fstat (fd, &st) != 0) {
        int e = errno;
        close (fd);
        return pingyi_fail (err, "%s: cannot stat: %s", file, strerror (e));
    }
    uint64_t size = (uint64_t) st.st_size;
    uint8_t page[LMDB_PAGE_HEADER + LMDB_META_LEN];
    lmdb_meta_t meta[2];
    int rc = 0;
    if (size == 0)
        rc = pingyi_fail (err, "%s: empty (0 bytes): a damaged store, not a new one (its data is gone)", file);
    else if (size < sizeof page || pread (fd, page, sizeof page, 0) != (ssize_t) sizeof page)
        rc = pingyi_fail (err, "%s: truncated: %llu bytes, shorter than LMDB's first meta page", file,
                          (unsigned long long) size);
    else {
        meta_parse (page, &meta[0]);
        if (!meta_sound (&meta[0]))
            rc = pingyi_fail (err, "%s: not an LMDB file, or its first meta page is damaged (magic %08x, "
                                   "version %u, page size %u)",
                              file, meta[0].magic, meta[0].version, meta[0].psize);
        else if (size < 2 * (uint64_t) meta[0].psize ||
                 pread (fd, page, sizeof page, meta[0].psize) != (ssize_t) sizeof page)
            rc = pingyi_fail (err, "%s: truncated: %llu bytes, shorter than LMDB's two meta pages of %u bytes",
                              file, (unsigned long long) size, meta[0].psize);
        else {
            meta_parse (page, &meta[1]);
            /* LMDB picks the meta with the newer transaction */
            const lmdb_meta_t *m = &meta[meta[0].txnid < meta[1].txnid];
            uint64_t reach = m->last_page < UINT64_MAX / m->psize ? (m->last_page + 1) * m->psize : UINT64_MAX;
            if (!meta_sound (m) || m->psize != meta[0].psize)
                rc = pingyi_fail (err, "%s: the meta page of transaction %llu is damaged (magic %08x, version %u, "
                                       "page size %u)",
                                  file, (unsigned long long) m->txnid, m->magic, m->version, m->psize);
            else if (m->last_page < 1 || reach > size)
                rc = pingyi_fail (err, "%s: truncated: %llu bytes, but its meta (transaction %llu) says its pages "
                                       "reach %llu bytes",
                                  file, (unsigned long long) size, (unsigned long long) m->txnid,
                                  (unsigned long long) reach);
            else if ((m->main_root != LMDB_NO_ROOT && m->main_root > m->last_page) ||
                     (m->free_root != LMDB_NO_ROOT && m->free_root > m->last_page))
                rc = pingyi_fail (err, "%s: damaged: the meta of transaction %llu puts a tree's root at a page "
                                       "past its last page %llu",
                                  file, (unsigned long long) m->txnid, (unsigned long long) m->last_page);
        }
    }
    close (fd);
    return rc;
}

void
pingyi_lmdb_init (pingyi_lmdb_t *db, const char *name)
{
    memset (db, 0, sizeof *db);
    snprintf (db->name, sizeof db->name, "%s", name);
}

/*  The guard (pingyi_lmdb_guard): where a fault or an LMDB assertion
    inside it jumps to.  */
static __thread sigjmp_buf *guard_jump;
static __thread char guard_why[400];

static void
guard_on_fault (int sig)
{
    if (guard_jump)
        siglongjmp (*guard_jump, sig);
    signal (sig, SIG_DFL); /* not ours: die of it as before */
    raise (sig);
}

/*  LMDB calls this before it aborts on a failed assertion (a malformed
    page): inside a guard, leave instead.  */
static void
guard_on_assert (MDB_env *env, const char *msg)
{
    (void) env;
    if (guard_jump) {
        snprintf (guard_why, sizeof guard_why, "%s", msg);
        siglongjmp (*guard_jump, SIGABRT);
    }
}

/*  The handlers are installed once for the process and stay: each thread
    has its own jump (guard_jump), and a fault in a thread outside any
    guard restores the default and dies of it as before.  */
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

static void
guard_install (void)
{
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = guard_on_fault;
    sa.sa_flags = SA_NODEFER;
    sigemptyset (&sa.sa_mask);
    sigaction (SIGBUS, &sa, NULL);
    sigaction (SIGSEGV, &sa, NULL);
}

int
pingyi_lmdb_guard (const char *name, pingyi_lmdb_guard_fn *fn, void *arg, char *err)
{
    pthread_once (&guard_once, guard_install);
    sigjmp_buf jump;
    sigjmp_buf *outer = guard_jump;
    volatile int rc = -1;
    int sig = sigsetjmp (jump, 1);
    if (sig == 0) {
        guard_jump = &jump;
        rc = fn (arg, err);
    }
    else
        rc = pingyi_fail (err, "%s: damaged: %s while reading it (nothing of it is used)", name,
                          sig == SIGBUS    ? "a page past the end of its file (SIGBUS)"
                          : sig == SIGSEGV ? "a page outside its map (SIGSEGV)"
                                           : guard_why);
    guard_jump = outer;
    return rc;
}

int
pingyi_lmdb_open (pingyi_lmdb_t *db, const char *path, unsigned flags, unsigned maxdbs, size_t map_size)
{
    char file[1100];
    snprintf (file, sizeof file, (flags & MDB_NOSUBDIR) ? "%s" : "%s/data.mdb", path);
    snprintf (db->dir, sizeof db->dir, "%s", path);
    if (flags & MDB_NOSUBDIR) {
        char copy[sizeof db->dir];
        snprintf (copy, sizeof copy, "%s", path);
        snprintf (db->dir, sizeof db->dir, "%s", dirname (copy));
    }
    db->why[0] = 0;
    if (pingyi_lmdb_file_check (file, db->why) < 0) {
        db->env = NULL;
        return MDB_CORRUPTED;
    }
    int rc = mdb_env_create (&db->env);
    if (rc) {
        db->env = NULL;
        return rc;
    }
    mdb_env_set_assert (db->env, guard_on_assert);
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

bool
pingyi_lmdb_disk_full (const pingyi_lmdb_t *db, int rc, uint64_t *free_bytes)
{
    struct statvfs fs;
    uint64_t left = UINT64_MAX;
    if (db->dir[0] && statvfs (db->dir, &fs) == 0)
        left = (uint64_t) fs.f_bavail * (uint64_t) fs.f_frsize;
    if (free_bytes)
        *free_bytes = left;
    return rc == ENOSPC || rc == EDQUOT || (rc == EIO && left < ((uint64_t) 1 << 20));
}

int
pingyi_lmdb_fail (const pingyi_lmdb_t *db, char *err, const char *what, int rc)
{
    uint64_t left;
    if (rc > 0 && pingyi_lmdb_disk_full (db, rc, &left)) {
        if (left == UINT64_MAX)
            return pingyi_fail (err, "%s: %s: the disk is full (%s)", db->name, what, mdb_strerror (rc));
        return pingyi_fail (err, "%s: %s: the disk is full (%llu KiB left on its file system)", db->name, what,
                            (unsigned long long) (left >> 10));
    }
    if (rc == MDB_CORRUPTED && db->why[0])
        return pingyi_fail (err, "%s: %s: %s", db->name, what, db->why);
    return pingyi_fail (err, "%s: %s: %s", db->name, what, mdb_strerror (rc));
}
