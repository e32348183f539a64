/*  open.c — opening a shard: the directory and the writer's lock, the
    LMDB environment, the dbs, a new shard's meta, and the checks every
    open makes (schema, election, shard, and the cheap check that ids,
    figures and meta were always written together); close; the write and
    read transactions every other file uses; the accessors.  */
#define _GNU_SOURCE
#include "shard_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

_Static_assert(PINGYI_REJECT_COUNT_ <= PINGYI_SHARD_REJECT_SLOTS, "reject codes must fit rejected_by[]");
_Static_assert(PINGYI_MAX_CATEGORIES <= PINGYI_FIGURES_CATEGORIES, "categories must fit by_category[]");

/*  --------------------------------------------------------------------------
    Small helpers.  */

void
pingyi_shard_path (char *out, size_t cap, const char *data_dir, uint32_t shard)
{
    snprintf (out, cap, "%s/shard-%02u", data_dir, shard);
}

int
shard_lmdb_fail (pingyi_shard_t *self, char *err, const char *what, int rc)
{
    return pingyi_lmdb_fail (&self->db, err, what, rc);
}

/*  The envelope key of every venue of this shard, from the keyring's box
    public keys and this shard's box secret: computed once, at open.  */
int
shard_compute_keys (pingyi_shard_t *self, uint8_t (*keys)[32], const pingyi_keyring_t *keyring,
                    const uint8_t shard_secret[PINGYI_KEY_LEN], char *err)
{
    for (size_t s = 0; s < self->slot_count; s++) {
        const pingyi_venue_t *venue = &self->election->venues[self->venue_of[s]];
        const pingyi_keyring_entry_t *entry = pingyi_keyring_find (keyring, PINGYI_ROLE_VENUE, venue->id);
        if (!entry || !entry->has_box)
            return pingyi_fail (err,
                                "keyring has no box public key for venue %s (shard %u): its ballots "
                                "could not be opened; regenerate the deploy directory",
                                venue->id, self->shard);
        if (pingyi_envelope_key (keys[s], entry->box, shard_secret))
            return pingyi_fail (err, "venue %s: cannot derive the envelope key (bad box public key)",
                                venue->id);
    }
    return 0;
}

/*  --------------------------------------------------------------------------
    Write transactions with map growth (the loop is lmdb/lmdb_env.c's).  fn
    returns 0, an LMDB code, or -1 with err set.  MDB_MAP_FULL anywhere (put
    or commit) poisons the transaction: abort it, double the map with no
    transaction active, and run fn again from the start (fn resets its own
    working state).  */

typedef struct {
    pingyi_shard_t *self;
    shard_txn_fn *fn;
    void *arg;
} txn_call_t;

static int
txn_call (MDB_txn *txn, void *arg, char *err)
{
    txn_call_t *call = arg;
    return call->fn (call->self, txn, call->arg, err);
}

/*  The map filled: it grew (logged and counted, the batch is redone), or it
    cannot grow and the shard stops taking ballots.  */
void
shard_stop (pingyi_shard_t *self, pingyi_shard_stop_t reason, const char *text)
{
    self->stopped = true;
    self->stats.stop_reason = reason;
    self->stats.stopped_ms = pingyi_now_ms ();
    snprintf (self->stats.stop_text, sizeof self->stats.stop_text, "%s", text ? text : "");
}

const char *
pingyi_shard_stop_name (pingyi_shard_stop_t reason)
{
    switch (reason) {
    case PINGYI_SHARD_RUNNING:
        return "running";
    case PINGYI_SHARD_STOP_DISK_FULL:
        return "disk_full";
    case PINGYI_SHARD_STOP_IO:
        return "io_error";
    case PINGYI_SHARD_STOP_MAP:
        return "map_cannot_grow";
    case PINGYI_SHARD_STOP_OTHER:
        break;
    }
    return "commit_failed";
}

static int
shard_grown (void *arg, size_t from, size_t to, int rc, char *err)
{
    pingyi_shard_t *self = arg;
    if (rc) {
        pingyi_fail (err, "%s: map full and cannot grow to %zu KiB: %s", self->path, to >> 10, mdb_strerror (rc));
        shard_stop (self, PINGYI_SHARD_STOP_MAP, err);
        pingyi_error ("shard %u: map full at %zu KiB and cannot grow to %zu KiB (%s): this shard takes no "
                      "more ballots until a retry succeeds (every %d s; free memory or disk), nothing "
                      "acknowledged is lost",
                      self->shard, from >> 10, to >> 10, mdb_strerror (rc), PINGYI_SHARD_RESUME_MS / 1000);
        return -1;
    }
    pingyi_info ("shard %u: map full at %zu KiB, grown to %zu KiB", self->shard, from >> 10, to >> 10);
    self->stats.map_resizes++;
    self->stats.batch_redos++;
    return 0;
}

int
shard_write_txn (pingyi_shard_t *self, shard_txn_fn *fn, void *arg, const char *what, char *err)
{
    txn_call_t call = {self, fn, arg};
    if (!self->db.env)
        return pingyi_fail (err, "%s: %s: the LMDB environment is closed (a resume failed)", self->path, what);
    int rc = pingyi_lmdb_write (&self->db, txn_call, &call, err);
    self->last_commit_ms = self->db.commit_ms;
    self->last_write_rc = rc == -1 ? 0 : rc;
    if (rc == 0 || rc == -1)
        return rc;
    return shard_lmdb_fail (self, err, what, rc);
}

int
shard_read_txn (pingyi_shard_t *self, MDB_txn **txn, char *err)
{
    if (!self->db.env)
        return pingyi_fail (err, "%s: the LMDB environment is closed (a resume failed)", self->path);
    int rc = pingyi_lmdb_read (&self->db, txn);
    return rc ? shard_lmdb_fail (self, err, "read transaction", rc) : 0;
}

/*  The cheap check at every open that `ids`, the figures and meta were
    always written together (the full check is the recount): the rows of
    `ids` are the accepted ballots plus the stored rejections, the venues'
    accepted add up to meta.sequence, and no venue has released more than
    it has.  */
static int
check_store (pingyi_shard_t *self, MDB_txn *txn, const pingyi_shard_info_t *info,
             const pingyi_venue_figures_t *cur, const pingyi_venue_figures_t *rel, char *err)
{
    uint64_t accepted = 0, stored = 0;
    for (size_t s = 0; s < self->slot_count; s++) {
        if (rel[s].accepted > cur[s].accepted)
            return pingyi_fail (err,
                                "%s: venue %s has released %llu accepted ballots but holds %llu: refusing "
                                "to start (run `pingyi tally --recount` on a copy)",
                                self->path, self->election->venues[self->venue_of[s]].id,
                                (unsigned long long) rel[s].accepted, (unsigned long long) cur[s].accepted);
        accepted += cur[s].accepted;
        for (unsigned c = 0; c < PINGYI_SHARD_REJECT_SLOTS; c++)
            if (shard_stored_reject (c))
                stored += cur[s].rejected_by[c];
    }
    uint64_t refused = 0;
    for (size_t s = 0; s <= self->slot_count; s++) {
        uint64_t counted = s < self->slot_count ? shard_refusals_of (cur[s].rejected_by)
                                                : shard_refusals_of (info->orphan_rejected_by);
        refused += self->refused_rows[s];
        if (counted != self->refused_rows[s] + self->refused_loose[s])
            return pingyi_fail (
                err,
                "%s: %s counts %llu refusals, meta says %llu remembered in `refused` and %llu "
                "counted without a row: refusing to start (run `pingyi tally --recount` on a "
                "copy)",
                self->path, s < self->slot_count ? self->election->venues[self->venue_of[s]].id : "the shard",
                (unsigned long long) counted, (unsigned long long) self->refused_rows[s],
                (unsigned long long) self->refused_loose[s]);
    }
    MDB_stat st;
    int rc;
    if (self->has_refused) {
        if ((rc = mdb_stat (txn, self->refused, &st)))
            return rc;
    }
    else
        st.ms_entries = 0;
    if (st.ms_entries != refused)
        return pingyi_fail (
            err,
            "%s: refused holds %zu rows, meta says %llu: refusing to start (run `pingyi tally "
            "--recount` on a copy)",
            self->path, st.ms_entries, (unsigned long long) refused);
    rc = mdb_stat (txn, self->ids, &st);
    if (rc)
        return rc;
    if (accepted != info->current_sequence || st.ms_entries != accepted + stored)
        return pingyi_fail (err,
                            "%s: ids holds %zu rows, meta says %llu accepted, the venues %llu accepted and "
                            "%llu stored rejections: refusing to start (run `pingyi tally --recount` on a "
                            "copy)",
                            self->path, st.ms_entries, (unsigned long long) info->current_sequence,
                            (unsigned long long) accepted, (unsigned long long) stored);
    return 0;
}

/*  meta, figures and the check, into the shard's committed state.  */
static int
load_state (pingyi_shard_t *self, MDB_txn *txn, bool *missing, char *err)
{
    int rc = shard_meta_load (self, txn, &self->info, self->state, err);
    if (rc == 0)
        rc = shard_figures_load (self, txn, self->figures, self->released, err);
    if (rc == 0)
        rc = shard_refused_load (self, txn, &self->info, self->figures, self->refused_rows,
                                 self->refused_loose, missing, err);
    if (rc == 0)
        rc = check_store (self, txn, &self->info, self->figures, self->released, err);
    if (rc == 0)
        self->info.pending = shard_pending_of (self, self->figures, self->released);
    return rc;
}

static int
open_dbs (pingyi_shard_t *self, MDB_txn *txn, unsigned create)
{
    int rc;
    if ((rc = mdb_dbi_open (txn, "ids", create, &self->ids)) ||
        (rc = mdb_dbi_open (txn, "counts", create, &self->counts)) ||
        (rc = mdb_dbi_open (txn, "pending", create, &self->pending)) ||
        (rc = mdb_dbi_open (txn, "venues", create, &self->venues)) ||
        (rc = mdb_dbi_open (txn, "meta", create, &self->meta)))
        return rc;
    /* `reopens` (venue u16 BE, n u32 BE → reason) came later still: the
       same rule */
    rc = mdb_dbi_open (txn, "reopens", self->read_only ? 0 : MDB_CREATE, &self->reopens);
    if (rc == 0)
        self->has_reopens = true;
    else if (!(rc == MDB_NOTFOUND && self->read_only))
        return rc;
    /* `refused` came after schema 3 began: a writer creates it in an older
       shard, a reader of such a shard goes without (no rows) */
    rc = mdb_dbi_open (txn, "refused", self->read_only ? 0 : MDB_CREATE, &self->refused);
    if (rc == MDB_NOTFOUND && self->read_only)
        return 0;
    if (rc == 0)
        self->has_refused = true;
    return rc;
}

/*  The meta db of a shard of an older schema has a `schema` row and no
    `pending` db: read its schema first so the refusal names it.  */
static int
schema_first (pingyi_shard_t *self, MDB_txn *txn, unsigned create, char *err)
{
    if (mdb_dbi_open (txn, "meta", create, &self->meta) == 0) {
        MDB_val v;
        if (shard_meta_get (self, txn, "schema", &v) == 0) {
            uint32_t schema = v.mv_size == 4 ? pingyi_get_le32 (v.mv_data) : 0;
            if (schema != PINGYI_SHARD_SCHEMA) {
                pingyi_shard_info_t info;
                return shard_meta_load (self, txn, &info, NULL, err); /* fails, naming both schemas */
            }
        }
    }
    return 0;
}

static int
init_txn (pingyi_shard_t *self, MDB_txn *txn, void *arg, char *err)
{
    (void) arg;
    int rc = schema_first (self, txn, MDB_CREATE, err);
    if (rc)
        return rc;
    rc = open_dbs (self, txn, MDB_CREATE);
    if (rc)
        return rc;
    rc = shard_meta_load (self, txn, &self->info, self->state, err);
    if (rc == MDB_NOTFOUND) {
        /* a new shard: the whole meta in the same transaction as the dbs */
        const pingyi_election_t *e = self->election;
        memset (&self->info, 0, sizeof self->info);
        memset (self->state, 0, STATE_LEN);
        self->info.shard = self->shard;
        self->info.shard_count = e->shard_count;
        memcpy (self->info.fingerprint, e->fingerprint, PINGYI_FP_LEN);
        pingyi_shard_digest (self->info.current_digest, self->state);
        memcpy (self->info.digest, self->info.current_digest, PINGYI_SHARD_DIGEST_LEN);
        if ((rc = shard_meta_put_u32 (self, txn, "schema", PINGYI_SHARD_SCHEMA)) ||
            (rc = shard_meta_put (self, txn, "fingerprint", e->fingerprint, PINGYI_FP_LEN)) ||
            (rc = shard_meta_put_u32 (self, txn, "shard", self->shard)) ||
            (rc = shard_meta_put_u32 (self, txn, "shard_count", e->shard_count)) ||
            (rc = shard_meta_put_u64 (self, txn, "sequence", 0)) ||
            (rc = shard_meta_put (self, txn, "lthash", self->state, STATE_LEN)) ||
            (rc = shard_meta_put_u64 (self, txn, "generation", 0)) ||
            (rc = shard_meta_put_settled (self, txn, &self->info)) ||
            (rc = shard_meta_put_orphans (self, txn, &self->info)))
            return rc;
    }
    else if (rc)
        return rc;
    /* a schema-3 shard made before `refused`: the db was created above,
       its accounting is written now (what was counted so far, loose) */
    bool missing = false;
    rc = load_state (self, txn, &missing, err);
    if (rc == 0 && missing)
        rc = shard_meta_put_refused (self, txn, self->refused_rows, self->refused_loose);
    return rc;
}

/*  --------------------------------------------------------------------------
    Open and close.  */

static int
make_dir (const char *path, char *err)
{
    if (mkdir (path, 0700) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat (path, &st) == 0 && S_ISDIR (st.st_mode))
            return 0;
        return pingyi_fail (err, "%s: exists and is not a directory", path);
    }
    return pingyi_fail (err, "%s: cannot create directory: %s", path, strerror (errno));
}

/*  One writer per shard directory (pingyi_lock_dir, DIR/worker.lock),
    taken before the LMDB environment opens and held until
    pingyi_shard_close or the process dies; a second open in the same
    process conflicts too (LMDB forbids opening an environment twice).  */
static int
shard_lock (pingyi_shard_t *self, char *err)
{
    self->lock_fd = pingyi_lock_dir (self->path, "worker.lock", "worker", err);
    return self->lock_fd < 0 ? -1 : 0;
}

/*  Whether DIR/data.mdb exists (a shard's files, not just its folder).  */
static bool
has_data (const char *dir)
{
    char file[1100];
    struct stat st;
    snprintf (file, sizeof file, "%s/data.mdb", dir);
    return stat (file, &st) == 0;
}

/*  Before LMDB opens: the manifest read (1: none), and the rule that only a
    first start creates.  A shard with a manifest must have its files; one
    without may be created (or, files present, adopted) only with
    PINGYI_SHARD_CREATE.  Read-only: no manifest = unverified, no files =
    refused.  0 / -1.  */
static int
manifest_gate (pingyi_shard_t *self, unsigned flags, shard_manifest_t *m, int *have, char *err)
{
    *have = shard_manifest_read (self->manifest_path, m, err);
    if (*have < 0)
        return -1;
    bool files = has_data (self->path);
    if (*have == 0 && !files)
        return pingyi_fail (err,
                            "%s: its files are gone (no data.mdb), but its manifest %s says it held %" PRIu64
                            " accepted ballots: a worker never re-creates a shard it had (restore the files)",
                            self->path, self->manifest_path, m->sequence);
    if (*have == 1 && !self->read_only && !(flags & PINGYI_SHARD_CREATE))
        return pingyi_fail (err,
                            files ? "%s: has no manifest (%s): only a first start (pingyi-worker --create) adopts "
                                    "a shard without one"
                                  : "%s: no such shard (no data.mdb, no manifest %s): a shard is created only by a "
                                    "first start (pingyi-worker --create); if this shard counted ballots, restore "
                                    "its files",
                            self->path, self->manifest_path);
    if (self->read_only && !files)
        return pingyi_fail (err, "%s: no such shard (no data.mdb)", self->path);
    return 0;
}

static pingyi_shard_t *
shard_new (const char *data_dir, uint32_t shard, const pingyi_election_t *election, bool read_only,
           size_t map_size, unsigned flags, char *err)
{
    if (sodium_init () < 0) {
        pingyi_fail (err, "libsodium failed to initialise");
        return NULL;
    }
    if (shard >= election->shard_count) {
        pingyi_fail (err, "shard %u: the election has shards 0..%u", shard, election->shard_count - 1);
        return NULL;
    }
    pingyi_shard_t *self = calloc (1, sizeof *self);
    if (!self) {
        pingyi_fail (err, "out of memory");
        return NULL;
    }
    self->shard = shard;
    self->election = election;
    self->read_only = read_only;
    self->lock_fd = -1;
    self->last_venue = -1;
    /* 0 only in an election struct not made by the parser: the default,
       never "release every ballot" */
    self->k = election->k_anonymity ? election->k_anonymity : PINGYI_K_ANONYMITY_DEFAULT;
    self->categories = election->category_count < PINGYI_FIGURES_CATEGORIES ? election->category_count
                                                                            : PINGYI_FIGURES_CATEGORIES;
    self->record_len = FIGURES_FIXED + 8 * self->categories;
    pingyi_shard_path (self->path, sizeof self->path, data_dir, shard);
    snprintf (self->manifest_path, sizeof self->manifest_path, "%s.manifest", self->path);
    pingyi_lmdb_init (&self->db, self->path);
    self->db.grown = shard_grown;
    self->db.grown_arg = self;

    self->slot_of = malloc ((election->venue_count + 1) * sizeof *self->slot_of);
    self->venue_of = calloc (election->venue_count + 1, sizeof *self->venue_of);
    if (!self->slot_of || !self->venue_of)
        goto oom;
    for (size_t v = 0; v < election->venue_count; v++) {
        if (election->venues[v].shard == shard) {
            self->slot_of[v] = (int32_t) self->slot_count;
            self->venue_of[self->slot_count++] = (uint32_t) v;
        }
        else
            self->slot_of[v] = -1;
    }
    size_t n = self->slot_count + 1;
    self->figures = calloc (n, sizeof *self->figures);
    self->released = calloc (n, sizeof *self->released);
    self->work = calloc (n, sizeof *self->work);
    self->work_released = calloc (n, sizeof *self->work_released);
    self->touched = calloc (n, sizeof *self->touched);
    self->releasing = calloc (n, sizeof *self->releasing);
    self->touched_list = calloc (n, sizeof *self->touched_list);
    self->refused_rows = calloc (n, sizeof *self->refused_rows);
    self->work_refused_rows = calloc (n, sizeof *self->work_refused_rows);
    self->refused_loose = calloc (n, sizeof *self->refused_loose);
    self->work_refused_loose = calloc (n, sizeof *self->work_refused_loose);
    self->refused_cap = PINGYI_SHARD_REFUSED_CAP;
    if (!self->refused_rows || !self->work_refused_rows || !self->refused_loose || !self->work_refused_loose)
        goto oom;
    if (!self->figures || !self->released || !self->work || !self->work_released || !self->touched ||
        !self->releasing || !self->touched_list)
        goto oom;
    self->marks = pingyi_count_marks (election);
    self->row_cells = election->item_count * election->category_count * self->marks;
    if (!read_only) {
        if (shard_grid_init (&self->grid, election, self->venue_of, self->slot_count))
            memset (&self->grid, 0, sizeof self->grid); /* too large: the hash table counts */
        self->row_buf = malloc (self->row_cells * 4);
        self->row_sum = malloc (self->row_cells * sizeof *self->row_sum);
        if (!self->row_buf || !self->row_sum)
            goto oom;
    }

    shard_manifest_t manifest;
    int have_manifest;
    if (read_only) {
        struct stat st;
        if (stat (self->path, &st) != 0 || !S_ISDIR (st.st_mode)) {
            pingyi_fail (err, "%s: no such shard directory", self->path);
            goto fail;
        }
    }
    else if (make_dir (data_dir, err))
        goto fail;
    /* read before LMDB opens: a worker committing meanwhile can only put
       the shard ahead of what was read here, never behind */
    if (manifest_gate (self, flags, &manifest, &have_manifest, err))
        goto fail;
    if (!read_only && (make_dir (self->path, err) || shard_lock (self, err)))
        goto fail;

    int rc = pingyi_lmdb_open (&self->db, self->path, read_only ? MDB_RDONLY : 0, 8,
                               read_only  ? 0
                               : map_size ? map_size
                                          : PINGYI_SHARD_MAP_DEFAULT);
    if (rc) {
        shard_lmdb_fail (self, err, "cannot open the LMDB environment", rc);
        goto fail;
    }
    /* readers left by a crashed process would pin old pages forever */
    int dead = 0;
    mdb_reader_check (self->db.env, &dead);
    if (dead > 0)
        pingyi_info ("shard %u: cleared %d stale reader slot(s) left by a dead process", shard, dead);

    if (read_only) {
        MDB_txn *txn;
        if (shard_read_txn (self, &txn, err))
            goto fail;
        rc = schema_first (self, txn, 0, err);
        if (rc == 0)
            rc = open_dbs (self, txn, 0);
        if (rc == MDB_NOTFOUND) {
            mdb_txn_abort (txn);
            pingyi_fail (err, "%s: not a pingyi shard of schema %u (no ids/counts/pending/venues/meta)",
                         self->path, PINGYI_SHARD_SCHEMA);
            goto fail;
        }
        if (rc == 0) {
            rc = load_state (self, txn, NULL, err);
            if (rc == MDB_NOTFOUND) {
                mdb_txn_abort (txn);
                pingyi_fail (err, "%s: not a pingyi shard (no schema in meta)", self->path);
                goto fail;
            }
        }
        if (rc) {
            mdb_txn_abort (txn);
            if (rc != -1)
                shard_lmdb_fail (self, err, "open", rc);
            goto fail;
        }
        /* commit (not abort) so the dbi handles outlive this transaction */
        rc = mdb_txn_commit (txn);
        if (rc) {
            shard_lmdb_fail (self, err, "open", rc);
            goto fail;
        }
    }
    else if (shard_write_txn (self, init_txn, NULL, "open", err))
        goto fail;
    self->stats.map_size = self->db.map_size;
    self->stats.sequence = self->info.current_sequence;
    self->stats.settled_sequence = self->info.sequence;
    self->stats.generation = self->info.generation;
    if (have_manifest == 0) {
        if (shard_manifest_compare (self, &manifest, err))
            goto fail;
        self->verified = true;
    }
    else
        snprintf (self->unverified, sizeof self->unverified, "no manifest (%.200s)", self->manifest_path);
    if (!read_only) {
        /* the count blocks against the venues' ballots, before anything is
           served from them */
        if (pingyi_shard_check_blocks (self, err))
            goto fail;
        if (shard_manifest_checkpoint (self, true) && have_manifest == 1) {
            pingyi_fail (err, "%s: cannot write its first manifest %s (see the warning above)", self->path,
                         self->manifest_path);
            goto fail;
        }
        if (have_manifest == 1)
            pingyi_info ("%s: %s at sequence %" PRIu64 "; its manifest is %s", self->path,
                         self->info.current_sequence ? "adopted" : "created", self->info.current_sequence,
                         self->manifest_path);
        self->verified = true;
        self->unverified[0] = 0;
    }
    return self;
oom:
    pingyi_fail (err, "out of memory");
fail:
    pingyi_shard_close (&self);
    return NULL;
}

pingyi_shard_t *
pingyi_shard_open (const char *data_dir, uint32_t shard, const pingyi_election_t *election,
                   const pingyi_keyring_t *keyring, const uint8_t shard_secret[PINGYI_KEY_LEN],
                   size_t map_size, unsigned flags, char *err)
{
    pingyi_shard_t *self = shard_new (data_dir, shard, election, false, map_size, flags, err);
    if (!self)
        return NULL;
    self->keys = calloc (self->slot_count + 1, sizeof *self->keys);
    if (!self->keys) {
        pingyi_fail (err, "out of memory");
        pingyi_shard_close (&self);
        return NULL;
    }
    if (shard_compute_keys (self, self->keys, keyring, shard_secret, err)) {
        pingyi_shard_close (&self);
        return NULL;
    }
    return self;
}

pingyi_shard_t *
pingyi_shard_open_readonly (const char *data_dir, uint32_t shard, const pingyi_election_t *election,
                            char *err)
{
    return shard_new (data_dir, shard, election, true, 0, 0, err);
}

void
pingyi_shard_close (pingyi_shard_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pingyi_shard_t *self = *self_p;
    if (self->db.env && !self->read_only && !self->stopped && self->verified)
        (void) shard_manifest_checkpoint (self, true);
    pingyi_lmdb_close (&self->db);
    if (self->lock_fd >= 0)
        close (self->lock_fd); /* releases the flock, after the environment */
    if (self->keys) {
        sodium_memzero (self->keys, (self->slot_count + 1) * sizeof *self->keys);
        free (self->keys);
    }
    sodium_memzero (self->body, sizeof self->body);
    sodium_memzero (&self->ballot, sizeof self->ballot);
    free (self->slot_of);
    free (self->venue_of);
    free (self->figures);
    free (self->released);
    free (self->work);
    free (self->work_released);
    free (self->touched);
    free (self->releasing);
    free (self->touched_list);
    free (self->refused_rows);
    free (self->work_refused_rows);
    free (self->refused_loose);
    free (self->work_refused_loose);
    free (self->sorted);
    free (self->row_buf);
    free (self->row_sum);
    shard_tally_free (&self->deltas);
    shard_grid_free (&self->grid);
    free (self);
    *self_p = NULL;
}

/*  --------------------------------------------------------------------------
    Accessors.  */

void
pingyi_shard_set_refused_cap (pingyi_shard_t *self, uint64_t cap)
{
    self->refused_cap = cap;
}

void
pingyi_shard_stats (const pingyi_shard_t *self, pingyi_shard_stats_t *stats)
{
    *stats = self->stats;
    stats->stopped = self->stopped;
    stats->map_size = self->db.map_size;
    stats->sequence = self->info.current_sequence;
    stats->settled_sequence = self->info.sequence;
    stats->generation = self->info.generation;
}

int
pingyi_shard_resume (pingyi_shard_t *self, char *err)
{
    if (!self->stopped)
        return 0;
    if (self->read_only)
        return pingyi_fail (err, "%s: opened read-only", self->path);
    pingyi_shard_info_t before = self->info;
    uint64_t left;
    (void) pingyi_lmdb_disk_full (&self->db, 0, &left);
    if (self->stats.stop_reason == PINGYI_SHARD_STOP_DISK_FULL && left < PINGYI_SHARD_RESUME_FREE)
        return pingyi_fail (err, "%s: the disk is still full (%llu KiB left on its file system)", self->path,
                            (unsigned long long) (left >> 10));
    /* A failed commit may have left the environment unusable (MDB_PANIC):
       then it is closed and opened again, as at a restart; else it is kept. */
    MDB_txn *probe = NULL;
    int rc = self->db.env ? mdb_txn_begin (self->db.env, NULL, 0, &probe) : MDB_PANIC;
    if (rc == 0)
        mdb_txn_abort (probe);
    else {
        size_t map = self->db.map_size;
        pingyi_lmdb_close (&self->db);
        rc = pingyi_lmdb_open (&self->db, self->path, 0, 8, map);
        if (rc)
            return shard_lmdb_fail (self, err, "reopening the LMDB environment", rc);
    }
    /* the committed state again, checked as at open; it must be the one the
       shard stopped at (nothing of the failed batch was committed) */
    if (shard_write_txn (self, init_txn, NULL, "resume", err))
        return -1;
    if (self->info.current_sequence != before.current_sequence ||
        memcmp (self->info.current_digest, before.current_digest, PINGYI_SHARD_DIGEST_LEN) != 0)
        return pingyi_fail (err, "%s: after the stop it holds %llu ballots, but it stopped at %llu: not resumed",
                            self->path, (unsigned long long) self->info.current_sequence,
                            (unsigned long long) before.current_sequence);
    self->stopped = false;
    self->stats.stop_reason = PINGYI_SHARD_RUNNING;
    self->stats.stopped_ms = 0;
    self->stats.stop_text[0] = 0;
    self->stats.resumes++;
    (void) shard_manifest_checkpoint (self, true);
    return 0;
}

bool
pingyi_shard_verified (const pingyi_shard_t *self, const char **why)
{
    if (why)
        *why = self->verified ? "" : self->unverified;
    return self->verified;
}

uint32_t
pingyi_shard_number (const pingyi_shard_t *self)
{
    return self->shard;
}

bool
pingyi_shard_stopped (const pingyi_shard_t *self)
{
    return self->stopped;
}
