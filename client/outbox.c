/*  outbox.c — the venue client's durable outbox on LMDB.

    Invariants (docs/client.md, "exactly once"):
    - A chunk of input is one write transaction: its envelopes, the advance
      of input_consumed and the digest of the input taken so far commit
      together, durably (no MDB_NOSYNC), before any of it is sent.  So after
      a crash either the whole chunk is here and will be sent, or none of it
      is and the input records are taken again; never half.
    - An ACK message is one write transaction: each acknowledged pending id
      moves to done and its envelope is deleted, with the counters.  A
      second ack for the same id finds it no longer pending and changes
      nothing, so every ballot is counted once in the summary whatever
      order acks and resends arrive in.
    - One process per outbox (client.lock, flock): two clients taking the
      same input into one outbox would each seal it under fresh ids.  So
      LMDB's own locking is off (MDB_NOLOCK): within the one process a read
      and a write are never open at once (write_txn refuses), and LMDB's
      lock file would be wrong after a compaction -- it keeps the last
      transaction id, and the rewritten file starts its own count; an
      environment reopened while another process (an mdb_stat) held the
      lock file would trust the stale id and read the wrong meta page.
    - MDB_MAP_FULL poisons a transaction: it is aborted, the map doubled and
      the whole transaction redone; the in-memory counters only move after
      a commit succeeds.
    - A pooled id is pending but not sendable: it is never listed for
      sending, and an ack for it is not applied, until pool_take lets it go.

    What the file keeps (docs/client.md, "Nothing left behind"): an
    envelope let go of is first overwritten with zeros where it lies (a
    same-size MDB_RESERVE put: in place on the page this transaction
    already copied) and then deleted.  That cleans the current page only:
    LMDB never writes a page in place, so the version of the page before
    the transaction -- with the envelope -- is left as a free page, and the
    free pages as a whole are a journal of what was written when.  Hence
    compaction, which rewrites the file from the live records.

    Why compaction is a copy of the records into a fresh environment and
    not mdb_env_copy2 (MDB_CP_COMPACT): LMDB 0.9's compacting copy
    (mdb_env_cwalk) does leave out free pages and copies only the used part
    of a branch or leaf page (mdb_page_copy), but the unused middle of each
    page it writes is whatever its reused 1 MiB write buffer held there from
    pages copied before, and it copies overflow pages whole, tail included.
    The tail of a one-page overflow value is not cleared when the value is
    written: such a page comes from LMDB's list of recycled page buffers
    (mdb_page_malloc reuses me_dpages without clearing), so its tail holds
    whatever page was in that buffer before -- possibly one with envelopes
    since deleted -- and the compacting copy carries it over.  A fresh
    environment written in one transaction has no recycled buffers: every
    page buffer it writes is freshly allocated and cleared past what its
    records fill (mdb_page_malloc without MDB_NOMEMINIT; a multi-page
    overflow value fills all but its last page, which is cleared), so each
    byte of the new file is LMDB's own structure, zeros, or part of a record
    that was live when the copy was made.  */
#define _GNU_SOURCE
#include "outbox.h"
#include "bytes.h"
#include "envelope.h"
#include "lmdb_env.h"
#include "msg.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCHEMA_VERSION 1
#define MAP_INITIAL (64ull << 20)
#define MAP_MAX (1ull << 40)
#define WRITE_ATTEMPTS 24
#define DONE_LEN (2 + PINGYI_RECEIPT_LEN)

#define DB_COUNT 4 /* pending, pool, done, meta */

struct pingyi_outbox_t {
    char dir[1024];
    int lock_fd;
    pingyi_lmdb_t db; /* the environment; named "outbox DIR" in error texts */
    MDB_dbi pending, pool, done, meta;
    MDB_txn *read;               /* between read_begin and read_end */
    pingyi_outbox_stats_t stats; /* as committed */
    pingyi_outbox_stats_t next;  /* being written */
    int64_t compacted_ms;        /* when the last compaction ended (0: none this run) */
    int64_t compact_cost_ms;     /* what it took */
};

static int
lmdb_fail (pingyi_outbox_t *self, char *err, const char *what, int rc)
{
    return pingyi_lmdb_fail (&self->db, err, what, rc); /* names a full disk (ENOSPC, or EIO with none left) */
}

/*  ---------------------------------------------------------------------
    meta values  */

static MDB_val
key_of (const char *name)
{
    return (MDB_val){strlen (name), (void *) name};
}

static int
put_u64 (pingyi_outbox_t *self, MDB_txn *txn, const char *name, uint64_t v)
{
    uint8_t b[8];
    pingyi_put_le64 (b, v);
    MDB_val k = key_of (name), d = {8, b};
    return mdb_put (txn, self->meta, &k, &d, 0);
}

static uint64_t
get_u64 (pingyi_outbox_t *self, MDB_txn *txn, const char *name)
{
    MDB_val k = key_of (name), d;
    if (mdb_get (txn, self->meta, &k, &d) || d.mv_size != 8)
        return 0;
    return pingyi_get_le64 (d.mv_data);
}

static int
put_counters (pingyi_outbox_t *self, MDB_txn *txn, const pingyi_outbox_stats_t *s)
{
    int rc = put_u64 (self, txn, "input_consumed", s->input_consumed);
    if (!rc)
        rc = put_u64 (self, txn, "ingested", s->ingested);
    if (!rc)
        rc = put_u64 (self, txn, "bad_lines", s->bad_lines);
    if (!rc)
        rc = put_u64 (self, txn, "accepted", s->accepted);
    if (!rc)
        rc = put_u64 (self, txn, "duplicates", s->duplicates);
    if (!rc)
        rc = put_u64 (self, txn, "receipt_mismatch", s->receipt_mismatch);
    for (int code = 0; code < PINGYI_REJECT_COUNT_ && !rc; code++) {
        if (!s->rejected_by[code])
            continue;
        char name[32];
        snprintf (name, sizeof name, "rejected.%d", code);
        rc = put_u64 (self, txn, name, s->rejected_by[code]);
    }
    if (!rc && s->has_digest) {
        MDB_val k = key_of ("input_digest"), d = {PINGYI_OUTBOX_DIGEST_LEN, (void *) s->input_digest};
        rc = mdb_put (txn, self->meta, &k, &d, 0);
    }
    if (!rc) {
        /*  Every write leaves old page versions behind: not clean any more
            until the next compaction.  */
        uint8_t zero = 0;
        MDB_val k = key_of ("compacted"), d = {1, &zero};
        rc = mdb_put (txn, self->meta, &k, &d, 0);
    }
    return rc;
}

static void
load_counters (pingyi_outbox_t *self, MDB_txn *txn, pingyi_outbox_stats_t *s)
{
    memset (s, 0, sizeof *s);
    s->input_consumed = get_u64 (self, txn, "input_consumed");
    s->ingested = get_u64 (self, txn, "ingested");
    s->bad_lines = get_u64 (self, txn, "bad_lines");
    s->accepted = get_u64 (self, txn, "accepted");
    s->duplicates = get_u64 (self, txn, "duplicates");
    s->receipt_mismatch = get_u64 (self, txn, "receipt_mismatch");
    for (int code = 0; code < PINGYI_REJECT_COUNT_; code++) {
        char name[32];
        snprintf (name, sizeof name, "rejected.%d", code);
        s->rejected_by[code] = get_u64 (self, txn, name);
        s->rejected += s->rejected_by[code];
    }
    s->foreign = get_u64 (self, txn, "foreign");
    MDB_val k = key_of ("input_digest"), d;
    if (!mdb_get (txn, self->meta, &k, &d) && d.mv_size == PINGYI_OUTBOX_DIGEST_LEN) {
        memcpy (s->input_digest, d.mv_data, PINGYI_OUTBOX_DIGEST_LEN);
        s->has_digest = true;
    }
    k = key_of ("closed");
    s->closed = !mdb_get (txn, self->meta, &k, &d) && d.mv_size == 1 && *(const uint8_t *) d.mv_data;
    k = key_of ("sending");
    s->sending = !mdb_get (txn, self->meta, &k, &d) && d.mv_size == 1 && *(const uint8_t *) d.mv_data;
    k = key_of ("compacted");
    s->compacted = !mdb_get (txn, self->meta, &k, &d) && d.mv_size == 1 && *(const uint8_t *) d.mv_data;
    MDB_stat st;
    if (!mdb_stat (txn, self->pending, &st))
        s->pending = st.ms_entries;
    if (!mdb_stat (txn, self->pool, &st))
        s->pooled = st.ms_entries;
}

/*  ---------------------------------------------------------------------
    Write transactions, redone on MDB_MAP_FULL  */

/*  A step of a write transaction: 0, an LMDB code, or -1 with err set.  */
typedef int (write_fn) (pingyi_outbox_t *self, MDB_txn *txn, void *arg, char *err);

typedef struct {
    pingyi_outbox_t *self;
    write_fn *fn;
    void *arg;
} write_call_t;

/*  One attempt (lmdb/lmdb_env.c runs them): the step from the committed
    counters, then the counters it moved, in the same transaction.  */
static int
write_step (MDB_txn *txn, void *arg, char *err)
{
    write_call_t *call = arg;
    pingyi_outbox_t *self = call->self;
    self->next = self->stats;
    int rc = call->fn (self, txn, call->arg, err);
    if (rc == 0)
        rc = put_counters (self, txn, &self->next);
    return rc;
}

static int
write_txn (pingyi_outbox_t *self, write_fn *fn, void *arg, const char *what, char *err)
{
    /*  Growing the map needs no transaction active in this process.  */
    if (!self->db.env)
        return pingyi_fail (err, "outbox %s: not open (an earlier compaction failed)", self->dir);
    if (self->read)
        return pingyi_fail (err, "outbox %s: %s while reading (a bug)", self->dir, what);
    write_call_t call = {self, fn, arg};
    int rc = pingyi_lmdb_write (&self->db, write_step, &call, err);
    if (rc == -1)
        return -1;
    if (rc == MDB_MAP_FULL) {
        if (self->db.map_size * 2 > MAP_MAX)
            return pingyi_fail (err, "outbox %s: the map would pass %llu bytes", self->dir,
                                (unsigned long long) MAP_MAX);
        return pingyi_fail (err, "outbox %s: %s: the map kept filling up", self->dir, what);
    }
    if (rc)
        return lmdb_fail (self, err, what, rc);
    self->next.compacted = false;
    self->stats = self->next;
    return 0;
}

/*  ---------------------------------------------------------------------
    Open and close  */

typedef struct {
    const uint8_t *fingerprint;
    const char *venue;
    bool fresh;         /* a new outbox */
    bool was_compacted; /* nothing was written since its last compaction */
} open_arg_t;

static int
open_step (pingyi_outbox_t *self, MDB_txn *txn, void *arg, char *err)
{
    open_arg_t *a = arg;
    int rc = mdb_dbi_open (txn, "pending", MDB_CREATE, &self->pending);
    if (!rc)
        rc = mdb_dbi_open (txn, "pool", MDB_CREATE, &self->pool); /* added later: an older outbox has none */
    if (!rc)
        rc = mdb_dbi_open (txn, "done", MDB_CREATE, &self->done);
    if (!rc)
        rc = mdb_dbi_open (txn, "meta", MDB_CREATE, &self->meta);
    if (rc)
        return rc;

    MDB_val k = key_of ("fingerprint"), d;
    rc = mdb_get (txn, self->meta, &k, &d);
    a->fresh = rc == MDB_NOTFOUND;
    if (rc == MDB_NOTFOUND) {
        /*  A new outbox: it now belongs to this election and venue.  */
        MDB_val fp = {PINGYI_FP_LEN, (void *) a->fingerprint}, venue = {strlen (a->venue), (void *) a->venue};
        MDB_val kv = key_of ("venue");
        rc = put_u64 (self, txn, "schema", SCHEMA_VERSION);
        if (!rc)
            rc = mdb_put (txn, self->meta, &k, &fp, 0);
        if (!rc)
            rc = mdb_put (txn, self->meta, &kv, &venue, 0);
        if (rc)
            return rc;
    }
    else if (rc)
        return rc;
    else {
        char theirs[2 * PINGYI_FP_LEN + 1], ours[2 * PINGYI_FP_LEN + 1];
        pingyi_hex (ours, a->fingerprint, PINGYI_FP_LEN);
        if (d.mv_size != PINGYI_FP_LEN)
            return pingyi_fail (err, "outbox %s: its fingerprint record is damaged; use another --outbox",
                                self->dir);
        pingyi_hex (theirs, d.mv_data, PINGYI_FP_LEN);
        if (memcmp (d.mv_data, a->fingerprint, PINGYI_FP_LEN))
            return pingyi_fail (
                err,
                "outbox %s belongs to election %.16s..., not this deploy's %.16s...: it holds "
                "another election's ballots; give this run another --outbox",
                self->dir, theirs, ours);
        uint64_t schema = get_u64 (self, txn, "schema");
        if (schema != SCHEMA_VERSION)
            return pingyi_fail (err, "outbox %s has layout version %llu; this client reads version %d",
                                self->dir, (unsigned long long) schema, SCHEMA_VERSION);
        MDB_val kv = key_of ("venue");
        rc = mdb_get (txn, self->meta, &kv, &d);
        if (rc)
            return pingyi_fail (err, "outbox %s: it names no venue; use another --outbox", self->dir);
        if (d.mv_size != strlen (a->venue) || memcmp (d.mv_data, a->venue, d.mv_size))
            return pingyi_fail (
                err, "outbox %s belongs to venue %.*s, not %s: give each venue its own --outbox", self->dir,
                (int) (d.mv_size > 64 ? 64 : d.mv_size), (const char *) d.mv_data, a->venue);
    }
    load_counters (self, txn, &self->next);
    a->was_compacted = self->next.compacted;
    return 0;
}

/*  Create and open the environment of self->dir with a map of mapsize
    bytes; the databases are opened by the caller.  */
static int
env_open (pingyi_outbox_t *self, size_t mapsize, char *err)
{
    int rc = pingyi_lmdb_open (&self->db, self->dir, MDB_NOLOCK, DB_COUNT,
                               mapsize); /* durable: every commit is fsynced */
    return rc ? lmdb_fail (self, err, "cannot open", rc) : 0;
}

static void
compact_leftovers (const char *dir)
{
    char path[1100];
    snprintf (path, sizeof path, "%s/data.mdb.compact", dir);
    unlink (path);
    snprintf (path, sizeof path, "%s/data.mdb.compact-lock", dir);
    unlink (path);
}

pingyi_outbox_t *
pingyi_outbox_open (const char *dir, const uint8_t fingerprint[PINGYI_FP_LEN], const char *venue, char *err)
{
    if (strlen (dir) + 32 > sizeof ((pingyi_outbox_t *) 0)->dir) {
        pingyi_fail (err, "outbox %s: path too long", dir);
        return NULL;
    }
    if (mkdir (dir, 0700) && errno != EEXIST) {
        pingyi_fail (err, "outbox %s: cannot create the directory: %s", dir, strerror (errno));
        return NULL;
    }
    struct stat st;
    if (stat (dir, &st) || !S_ISDIR (st.st_mode)) {
        pingyi_fail (err, "outbox %s: not a directory", dir);
        return NULL;
    }
    pingyi_outbox_t *self = calloc (1, sizeof *self);
    if (!self) {
        pingyi_fail (err, "outbox %s: out of memory", dir);
        return NULL;
    }
    snprintf (self->dir, sizeof self->dir, "%s", dir);
    char name[sizeof self->dir + 8];
    snprintf (name, sizeof name, "outbox %s", dir);
    pingyi_lmdb_init (&self->db, name);
    self->db.map_max = MAP_MAX;
    self->db.attempts = WRITE_ATTEMPTS;
    self->lock_fd = -1;

    char lock[1100];
    snprintf (lock, sizeof lock, "%s/client.lock", dir);
    self->lock_fd = open (lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->lock_fd < 0) {
        pingyi_fail (err, "outbox %s: cannot open %s: %s", dir, lock, strerror (errno));
        free (self);
        return NULL;
    }
    if (flock (self->lock_fd, LOCK_EX | LOCK_NB)) {
        if (errno == EWOULDBLOCK)
            pingyi_fail (err,
                         "outbox %s is in use by another pingyi-client (%s is locked): one client per outbox",
                         dir, lock);
        else
            pingyi_fail (err, "outbox %s: cannot lock %s: %s", dir, lock, strerror (errno));
        close (self->lock_fd);
        free (self);
        return NULL;
    }

    /*  A compaction that died before its rename left a copy of the live
        records beside the outbox: the outbox itself is whole.  */
    compact_leftovers (dir);
    if (env_open (self, MAP_INITIAL, err)) {
        pingyi_outbox_close (&self);
        return NULL;
    }
    open_arg_t arg = {fingerprint, venue, false, false};
    if (write_txn (self, open_step, &arg, "opening", err)) {
        pingyi_outbox_close (&self);
        return NULL;
    }
    /*  Not compacted since it was last written (a run that was killed):
        clean it now, before anything else is written to it.  */
    if (!arg.fresh && !arg.was_compacted) {
        char why[PINGYI_ERR_MAX];
        int rc = pingyi_outbox_compact (self, why);
        if (rc == -2) {
            snprintf (err, PINGYI_ERR_MAX, "%s", why);
            pingyi_outbox_close (&self);
            return NULL;
        }
        if (rc)
            pingyi_warn ("%s (old copies of sent envelopes may remain in it)", why);
    }
    else if (arg.was_compacted)
        self->stats.compacted = true; /* opening only rewrote the same counters */
    return self;
}

void
pingyi_outbox_close (pingyi_outbox_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pingyi_outbox_t *self = *self_p;
    if (self->read)
        mdb_txn_abort (self->read);
    pingyi_lmdb_close (&self->db);
    if (self->lock_fd >= 0)
        close (self->lock_fd); /* releases the lock */
    free (self);
    *self_p = NULL;
}

const char *
pingyi_outbox_dir (const pingyi_outbox_t *self)
{
    return self->dir;
}

void
pingyi_outbox_stats (const pingyi_outbox_t *self, pingyi_outbox_stats_t *stats)
{
    *stats = self->stats;
}

/*  ---------------------------------------------------------------------
    Ingest  */

typedef struct {
    const pingyi_outbox_item_t *items;
    size_t count;
    uint64_t records;
    uint64_t bad;
    const uint8_t *digest;
    bool pooled;
} ingest_arg_t;

static int
ingest_step (pingyi_outbox_t *self, MDB_txn *txn, void *arg, char *err)
{
    ingest_arg_t *a = arg;
    for (size_t i = 0; i < a->count; i++) {
        MDB_val k = {PINGYI_BALLOT_ID_LEN, (void *) a->items[i].id};
        MDB_val d = {a->items[i].len, (void *) a->items[i].envelope};
        int rc = mdb_put (txn, self->pending, &k, &d, MDB_NOOVERWRITE);
        if (rc == MDB_KEYEXIST)
            return pingyi_fail (err, "outbox %s: two ballots drew the same random id (is randomness broken?)",
                                self->dir);
        if (!rc && a->pooled) {
            MDB_val none = {0, ""};
            rc = mdb_put (txn, self->pool, &k, &none, 0);
        }
        if (rc)
            return rc;
    }
    self->next.input_consumed += a->records;
    self->next.ingested += a->count;
    self->next.bad_lines += a->bad;
    self->next.pending += a->count;
    if (a->pooled)
        self->next.pooled += a->count;
    if (a->digest) {
        memcpy (self->next.input_digest, a->digest, PINGYI_OUTBOX_DIGEST_LEN);
        self->next.has_digest = true;
    }
    return 0;
}

int
pingyi_outbox_ingest (pingyi_outbox_t *self, const pingyi_outbox_item_t *items, size_t count,
                      uint64_t records, uint64_t bad, const uint8_t digest[PINGYI_OUTBOX_DIGEST_LEN],
                      bool pooled, char *err)
{
    ingest_arg_t arg = {items, count, records, bad, digest, pooled};
    return write_txn (self, ingest_step, &arg, "taking in ballots", err);
}

/*  ---------------------------------------------------------------------
    The pool  */

typedef struct {
    uint8_t *ids;
    size_t count;
} take_arg_t;

static int
take_step (pingyi_outbox_t *self, MDB_txn *txn, void *arg, char *err)
{
    take_arg_t *a = arg;
    free (a->ids);
    a->ids = NULL;
    a->count = 0;
    MDB_stat st;
    int rc = mdb_stat (txn, self->pool, &st);
    if (rc)
        return rc;
    if (!st.ms_entries)
        return 0;
    a->ids = malloc (st.ms_entries * PINGYI_BALLOT_ID_LEN);
    if (!a->ids)
        return pingyi_fail (err, "outbox %s: out of memory emptying the pool", self->dir);
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open (txn, self->pool, &cur)))
        return rc;
    MDB_val k, d;
    for (rc = mdb_cursor_get (cur, &k, &d, MDB_FIRST); rc == 0 && a->count < st.ms_entries;
         rc = mdb_cursor_get (cur, &k, &d, MDB_NEXT))
        if (k.mv_size == PINGYI_BALLOT_ID_LEN)
            memcpy (a->ids + PINGYI_BALLOT_ID_LEN * a->count++, k.mv_data, PINGYI_BALLOT_ID_LEN);
    mdb_cursor_close (cur);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    self->next.pooled = 0;
    return mdb_drop (txn, self->pool, 0); /* empty it, keep the database */
}

int
pingyi_outbox_pool_take (pingyi_outbox_t *self, uint8_t **ids, size_t *count, char *err)
{
    take_arg_t arg = {NULL, 0};
    *ids = NULL;
    *count = 0;
    if (write_txn (self, take_step, &arg, "letting the pool go", err)) {
        free (arg.ids);
        return -1;
    }
    *ids = arg.ids;
    *count = arg.count;
    return 0;
}

/*  ---------------------------------------------------------------------
    Reading  */

int
pingyi_outbox_read_begin (pingyi_outbox_t *self, char *err)
{
    if (self->read)
        return 0;
    int rc = pingyi_lmdb_read (&self->db, &self->read);
    if (rc) {
        self->read = NULL;
        return lmdb_fail (self, err, "reading", rc);
    }
    return 0;
}

int
pingyi_outbox_read_get (pingyi_outbox_t *self, const uint8_t id[PINGYI_BALLOT_ID_LEN], const uint8_t **env,
                        size_t *len)
{
    MDB_val k = {PINGYI_BALLOT_ID_LEN, (void *) id}, d;
    int rc = mdb_get (self->read, self->pending, &k, &d);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return -1;
    *env = d.mv_data;
    *len = d.mv_size;
    return 1;
}

void
pingyi_outbox_read_end (pingyi_outbox_t *self)
{
    /*  Aborted, not reset: a reset read transaction would still stop the
        map from growing.  */
    if (self->read)
        mdb_txn_abort (self->read);
    self->read = NULL;
}

int
pingyi_outbox_pending_ids (pingyi_outbox_t *self, uint8_t **ids, size_t *count, char *err)
{
    *ids = NULL;
    *count = 0;
    if (pingyi_outbox_read_begin (self, err))
        return -1;
    MDB_cursor *cur;
    int rc = mdb_cursor_open (self->read, self->pending, &cur);
    if (rc) {
        pingyi_outbox_read_end (self);
        return lmdb_fail (self, err, "listing pending ballots", rc);
    }
    MDB_stat st, pool;
    mdb_stat (self->read, self->pending, &st);
    mdb_stat (self->read, self->pool, &pool);
    uint8_t *out = malloc ((st.ms_entries ? st.ms_entries : 1) * PINGYI_BALLOT_ID_LEN);
    size_t n = 0;
    MDB_val k, d;
    if (out)
        for (rc = mdb_cursor_get (cur, &k, &d, MDB_FIRST); rc == 0 && n < st.ms_entries;
             rc = mdb_cursor_get (cur, &k, &d, MDB_NEXT)) {
            MDB_val none;
            if (k.mv_size != PINGYI_BALLOT_ID_LEN ||
                (pool.ms_entries && !mdb_get (self->read, self->pool, &k, &none)))
                continue; /* pooled: not to be sent yet */
            memcpy (out + PINGYI_BALLOT_ID_LEN * n++, k.mv_data, PINGYI_BALLOT_ID_LEN);
        }
    mdb_cursor_close (cur);
    pingyi_outbox_read_end (self);
    if (!out)
        return pingyi_fail (err, "outbox %s: out of memory listing pending ballots", self->dir);
    *ids = out;
    *count = n;
    return 0;
}

int
pingyi_outbox_done_get (pingyi_outbox_t *self, const uint8_t id[PINGYI_BALLOT_ID_LEN], uint8_t *status,
                        uint8_t *reason, char receipt[PINGYI_RECEIPT_LEN + 1])
{
    bool own = !self->read;
    if (own && pingyi_outbox_read_begin (self, NULL))
        return -1;
    MDB_val k = {PINGYI_BALLOT_ID_LEN, (void *) id}, d;
    int rc = mdb_get (self->read, self->done, &k, &d);
    int result = rc == MDB_NOTFOUND ? 0 : rc ? -1 : 1;
    if (result == 1 && d.mv_size == DONE_LEN) {
        const uint8_t *v = d.mv_data;
        *status = v[0];
        *reason = v[1];
        memcpy (receipt, v + 2, PINGYI_RECEIPT_LEN);
        receipt[PINGYI_RECEIPT_LEN] = '\0';
    }
    else if (result == 1)
        result = -1;
    if (own)
        pingyi_outbox_read_end (self);
    return result;
}

/*  ---------------------------------------------------------------------
    Acknowledgements  */

typedef struct {
    pingyi_outbox_result_t *results;
    size_t count;
    int applied;
} ack_arg_t;

static int
ack_step (pingyi_outbox_t *self, MDB_txn *txn, void *arg, char *err)
{
    ack_arg_t *a = arg;
    a->applied = 0;
    for (size_t i = 0; i < a->count; i++) {
        pingyi_outbox_result_t *r = &a->results[i];
        r->applied = false;
        r->mismatch = false;
        MDB_val k = {PINGYI_BALLOT_ID_LEN, (void *) r->id}, env, none;
        int rc = mdb_get (txn, self->pending, &k, &env);
        if (rc == MDB_NOTFOUND)
            continue; /* acknowledged before, or never ours: an ack is counted once */
        if (rc)
            return rc;
        if (self->next.pooled && !mdb_get (txn, self->pool, &k, &none))
            continue; /* still in the pool: never sent, so this is no ack of ours */
        /*  Our own tracking code, from the bytes we sent: the voter-side
            check must not depend on what the shard says.  */
        char ours[PINGYI_RECEIPT_LEN + 1];
        pingyi_envelope_receipt (ours, env.mv_data, env.mv_size);
        /*  "Counted" is believed only with our own tracking code: a result
            without it, or with another, leaves the envelope here to be
            sent again (docs/SECURITY.md §5).  */
        if (r->status != PINGYI_ACK_REJECTED &&
            (r->receipt_len != PINGYI_RECEIPT_LEN || memcmp (r->receipt, ours, PINGYI_RECEIPT_LEN))) {
            r->mismatch = true;
            self->next.receipt_mismatch++;
            continue;
        }
        uint8_t value[DONE_LEN];
        value[0] = r->status;
        value[1] = r->reason;
        memcpy (value + 2, ours, PINGYI_RECEIPT_LEN);
        MDB_val d = {DONE_LEN, value};
        rc = mdb_put (txn, self->done, &k, &d, 0);
        if (rc)
            return rc;
        /*  Zeros over the envelope where it lies (same size: LMDB rewrites
            it in place, on the page this transaction already copied), then
            delete: the page written no longer holds it.  */
        size_t size = env.mv_size;
        MDB_val zero = {size, NULL};
        rc = mdb_put (txn, self->pending, &k, &zero, MDB_RESERVE);
        if (rc)
            return rc;
        if (zero.mv_size != size)
            return pingyi_fail (err, "outbox %s: LMDB resized an envelope being wiped (a bug)", self->dir);
        sodium_memzero (zero.mv_data, size);
        rc = mdb_del (txn, self->pending, &k, NULL);
        if (rc)
            return rc;
        self->next.released++;
        self->next.released_bytes += size;
        r->applied = true;
        a->applied++;
        self->next.pending--;
        if (r->status == PINGYI_ACK_ACCEPTED)
            self->next.accepted++;
        else if (r->status == PINGYI_ACK_DUPLICATE)
            self->next.duplicates++;
        else {
            self->next.rejected++;
            self->next.rejected_by[r->reason < PINGYI_REJECT_COUNT_ ? r->reason : 0]++;
        }
    }
    return 0;
}

int
pingyi_outbox_ack (pingyi_outbox_t *self, pingyi_outbox_result_t *results, size_t count, char *err)
{
    ack_arg_t arg = {results, count, 0};
    if (write_txn (self, ack_step, &arg, "recording acknowledgements", err))
        return -1;
    return arg.applied;
}

static int
closed_step (pingyi_outbox_t *self, MDB_txn *txn, void *arg, char *err)
{
    uint8_t one = 1;
    MDB_val k = key_of ("closed"), d = {1, &one};
    self->next.closed = true;
    (void) arg;
    (void) err;
    return mdb_put (txn, self->meta, &k, &d, 0);
}

int
pingyi_outbox_set_closed (pingyi_outbox_t *self, char *err)
{
    return write_txn (self, closed_step, NULL, "recording the close", err);
}

static int
sending_step (pingyi_outbox_t *self, MDB_txn *txn, void *arg, char *err)
{
    uint8_t one = 1;
    MDB_val k = key_of ("sending"), d = {1, &one};
    self->next.sending = true;
    self->next.foreign = *(const uint64_t *) arg;
    (void) err;
    int rc = mdb_put (txn, self->meta, &k, &d, 0);
    return rc ? rc : put_u64 (self, txn, "foreign", self->next.foreign);
}

int
pingyi_outbox_set_sending (pingyi_outbox_t *self, uint64_t foreign, char *err)
{
    if (self->stats.sending && self->stats.foreign == foreign)
        return 0; /* nothing new: no write, no compaction owed */
    return write_txn (self, sending_step, &foreign, "recording that sending began", err);
}

/*  ---------------------------------------------------------------------
    Receipts  */

static int
by_code (const void *a, const void *b)
{
    return memcmp (a, b, PINGYI_RECEIPT_LEN);
}

int
pingyi_outbox_write_receipts (pingyi_outbox_t *self, char *path, size_t path_cap, uint64_t *count, char *err)
{
    *count = 0;
    if ((size_t) snprintf (path, path_cap, "%s/receipts.txt", self->dir) >= path_cap)
        return pingyi_fail (err, "outbox %s: path too long", self->dir);
    if (pingyi_outbox_read_begin (self, err))
        return -1;
    MDB_stat st;
    mdb_stat (self->read, self->done, &st);
    char *codes = malloc ((st.ms_entries ? st.ms_entries : 1) * PINGYI_RECEIPT_LEN);
    MDB_cursor *cur = NULL;
    int rc = codes ? mdb_cursor_open (self->read, self->done, &cur) : ENOMEM;
    size_t n = 0;
    MDB_val k, d;
    if (!rc) {
        for (rc = mdb_cursor_get (cur, &k, &d, MDB_FIRST); rc == 0 && n < st.ms_entries;
             rc = mdb_cursor_get (cur, &k, &d, MDB_NEXT)) {
            const uint8_t *v = d.mv_data;
            if (d.mv_size == DONE_LEN && (v[0] == PINGYI_ACK_ACCEPTED || v[0] == PINGYI_ACK_DUPLICATE))
                memcpy (codes + PINGYI_RECEIPT_LEN * n++, v + 2, PINGYI_RECEIPT_LEN);
        }
        mdb_cursor_close (cur);
        rc = rc == MDB_NOTFOUND ? 0 : rc;
    }
    pingyi_outbox_read_end (self);
    if (rc) {
        free (codes);
        return lmdb_fail (self, err, "listing receipts", rc);
    }
    qsort (codes, n, PINGYI_RECEIPT_LEN, by_code);

    char tmp[1200];
    snprintf (tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen (tmp, "w");
    if (!out) {
        free (codes);
        return pingyi_fail (err, "%s: cannot create: %s", tmp, strerror (errno));
    }
    for (size_t i = 0; i < n; i++) {
        fwrite (codes + PINGYI_RECEIPT_LEN * i, 1, PINGYI_RECEIPT_LEN, out);
        fputc ('\n', out);
    }
    free (codes);
    bool bad = ferror (out) || fflush (out) || fsync (fileno (out));
    bad |= fclose (out) != 0;
    if (bad || rename (tmp, path)) {
        int e = errno;
        unlink (tmp);
        return pingyi_fail (err, "%s: cannot write: %s", path, e == ENOSPC ? "the disk is full" : strerror (e));
    }
    *count = n;
    return 0;
}

/*  ---------------------------------------------------------------------
    Compaction  */

/*  Append every record of from's database to to's (sorted: MDB_APPEND).  */
static int
copy_db (MDB_txn *from, MDB_dbi from_dbi, MDB_txn *to, MDB_dbi to_dbi, bool meta)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open (from, from_dbi, &cur);
    if (rc)
        return rc;
    bool flagged = false;
    MDB_val k, d;
    for (rc = mdb_cursor_get (cur, &k, &d, MDB_FIRST); rc == 0; rc = mdb_cursor_get (cur, &k, &d, MDB_NEXT)) {
        uint8_t one = 1;
        if (meta && k.mv_size == 9 && !memcmp (k.mv_data, "compacted", 9)) {
            d = (MDB_val){1, &one}; /* the copy is, by definition */
            flagged = true;
        }
        int put = mdb_put (to, to_dbi, &k, &d, MDB_APPEND);
        if (put) {
            mdb_cursor_close (cur);
            return put;
        }
    }
    mdb_cursor_close (cur);
    if (rc != MDB_NOTFOUND)
        return rc;
    if (meta && !flagged) {
        uint8_t one = 1;
        k = key_of ("compacted");
        d = (MDB_val){1, &one};
        return mdb_put (to, to_dbi, &k, &d, 0);
    }
    return 0;
}

/*  Write every live record of self into a fresh environment at path (one
    file, MDB_NOSUBDIR), in one durable transaction.  0 or an LMDB code.  */
static int
write_copy (pingyi_outbox_t *self, const char *path, size_t mapsize)
{
    static const char *const names[DB_COUNT] = {"pending", "pool", "done", "meta"};
    MDB_dbi from[DB_COUNT] = {self->pending, self->pool, self->done, self->meta};
    pingyi_lmdb_t copy;
    pingyi_lmdb_init (&copy, path);
    MDB_txn *rtxn = NULL, *wtxn = NULL;
    int rc = pingyi_lmdb_open (&copy, path, MDB_NOSUBDIR | MDB_NOLOCK, DB_COUNT, mapsize);
    if (!rc)
        rc = pingyi_lmdb_read (&self->db, &rtxn);
    if (!rc)
        rc = mdb_txn_begin (copy.env, NULL, 0, &wtxn);
    for (int i = 0; i < DB_COUNT && !rc; i++) {
        MDB_dbi to;
        rc = mdb_dbi_open (wtxn, names[i], MDB_CREATE, &to);
        if (!rc)
            rc = copy_db (rtxn, from[i], wtxn, to, from[i] == self->meta);
    }
    if (!rc) {
        rc = mdb_txn_commit (wtxn); /* synced: no MDB_NOSYNC */
        wtxn = NULL;
    }
    if (wtxn)
        mdb_txn_abort (wtxn);
    if (rtxn)
        mdb_txn_abort (rtxn);
    pingyi_lmdb_close (&copy);
    return rc;
}

static int
fsync_dir (const char *dir)
{
    int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

/*  Open the databases of a freshly compacted environment (they all exist).  */
static int
reopen_dbs (pingyi_outbox_t *self)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->db.env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return rc;
    rc = mdb_dbi_open (txn, "pending", 0, &self->pending);
    if (!rc)
        rc = mdb_dbi_open (txn, "pool", 0, &self->pool);
    if (!rc)
        rc = mdb_dbi_open (txn, "done", 0, &self->done);
    if (!rc)
        rc = mdb_dbi_open (txn, "meta", 0, &self->meta);
    if (rc) {
        mdb_txn_abort (txn);
        return rc;
    }
    return mdb_txn_commit (txn);
}

int
pingyi_outbox_compact (pingyi_outbox_t *self, char *err)
{
    if (!self->db.env) {
        pingyi_fail (err, "outbox %s: not open (an earlier compaction failed)", self->dir);
        return -2;
    }
    if (self->read)
        return pingyi_fail (err, "outbox %s: compacting while reading (a bug)", self->dir);
    int64_t start = pingyi_now_ms ();
    char copy[1100], data[1100];
    snprintf (copy, sizeof copy, "%s/data.mdb.compact", self->dir);
    snprintf (data, sizeof data, "%s/data.mdb", self->dir);
    compact_leftovers (self->dir);
    MDB_envinfo info;
    mdb_env_info (self->db.env, &info);
    size_t mapsize = info.me_mapsize;
    int rc = write_copy (self, copy, mapsize);
    for (int attempt = 0; rc == MDB_MAP_FULL && attempt < 8; attempt++) {
        compact_leftovers (self->dir);
        mapsize *= 2;
        rc = write_copy (self, copy, mapsize);
    }
    if (rc) {
        compact_leftovers (self->dir);
        /*  Not again at once (a full disk stays full a while): the next
            try waits PINGYI_COMPACT_COST_FACTOR seconds at least.  */
        self->compacted_ms = pingyi_now_ms ();
        if (self->compact_cost_ms < 1000)
            self->compact_cost_ms = 1000;
        return lmdb_fail (self, err, "compacting", rc);
    }
    /*  The copy is durable; the rename makes it the outbox in one step (a
        crash before leaves the old file whole, after, the new one).  */
    if (rename (copy, data)) {
        int e = errno;
        compact_leftovers (self->dir);
        self->compacted_ms = pingyi_now_ms ();
        if (self->compact_cost_ms < 1000)
            self->compact_cost_ms = 1000;
        return pingyi_fail (err, "outbox %s: compacting: cannot rename %s: %s", self->dir, copy,
                            strerror (e));
    }
    fsync_dir (self->dir);
    /*  The old file is gone; reopen on the new one.  */
    pingyi_lmdb_close (&self->db);
    rc = env_open (self, mapsize, err);
    if (!rc && (rc = reopen_dbs (self)))
        lmdb_fail (self, err, "reopening after compaction", rc);
    if (rc) {
        pingyi_lmdb_close (&self->db);
        return -2;
    }
    self->stats.compacted = true;
    self->stats.released = 0;
    self->stats.released_bytes = 0;
    self->compacted_ms = pingyi_now_ms ();
    self->compact_cost_ms = self->compacted_ms - start;
    return 0;
}

int
pingyi_outbox_maybe_compact (pingyi_outbox_t *self, bool idle, char *err)
{
    if (self->stats.compacted || self->read)
        return 0;
    bool worth = idle || self->stats.released >= PINGYI_COMPACT_ENVELOPES ||
                 self->stats.released_bytes >= PINGYI_COMPACT_BYTES;
    if (!worth)
        return 0;
    if (self->compacted_ms) {
        int64_t gap = PINGYI_COMPACT_COST_FACTOR * self->compact_cost_ms;
        if (gap < PINGYI_COMPACT_GAP_MS)
            gap = PINGYI_COMPACT_GAP_MS;
        if (pingyi_now_ms () - self->compacted_ms < gap)
            return 0;
    }
    int rc = pingyi_outbox_compact (self, err);
    return rc ? rc : 1;
}

int64_t
pingyi_outbox_compact_cost_ms (const pingyi_outbox_t *self)
{
    return self->compact_cost_ms;
}
