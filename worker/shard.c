/*  shard.c — one shard: an LMDB environment applied to in batches.

    The job: take a batch of envelopes, and in ONE write transaction dedupe
    every (venue, ballot id), open and validate the new ones, append the
    accepted envelopes to the log, advance the sequence and the hash chain,
    add the counter deltas and the venue figures; commit durably; only then
    hand the results back for acknowledgement.  Because dedupe and counting
    share the transaction, a resend after any crash is answered "duplicate"
    and never counted twice, and a ballot the client holds is never lost:
    what is not committed is not acknowledged, so the client resends it.

    Invariants (checked at open and by pingyi_shard_recount):
    - meta.sequence = number of log entries = last log key; log keys 1..n.
    - meta.chain = the chain over the log in key order (docs/worker.md).
    - counts = what re-opening and re-counting the log gives.
    - every accepted `ids` row points at its log entry; rejected rows hold
      the reason so a resend gets the same answer and is counted once.

    Anonymity: the batch is applied in a random order (Fisher–Yates with
    randombytes_uniform), so log sequence does not follow the order in which
    people voted.  Nothing stored names a rater or a time.

    Durability: default LMDB flags (no NOSYNC, no WRITEMAP/MAPASYNC): a
    commit returns after its fsyncs.  No ZeroMQ here and no main(): the
    offline tools compile this file into themselves.  */
#define _GNU_SOURCE
#include "shard.h"

#include "envelope.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

_Static_assert(sizeof (size_t) == 8, "the log key is a native u64 under MDB_INTEGERKEY: 64-bit only");
_Static_assert(PINGYI_REJECT_COUNT_ <= PINGYI_SHARD_REJECT_SLOTS, "reject codes must fit rejected_by[]");

#define FIGURES_LEN 185 /* serialized venue figures, docs/worker.md */
#define IDS_KEY_LEN (2 + PINGYI_BALLOT_ID_LEN)
#define IDS_VALUE_LEN (1 + 1 + 8) /* status, reason, log sequence: docs/worker.md */
#define REJECT_LOG_LINES 10       /* rejection lines logged per code per shard */

/*  A u64-keyed table of counter deltas (open addressing, linear probing).
    The key is the 8-byte counter key read big-endian, so sorting the u64s
    sorts the LMDB keys; count 0 marks an empty slot (deltas are >= 1).  */
typedef struct {
    uint64_t key;
    uint64_t count;
    bool seen; /* recount: matched against the db */
} tally_entry_t;

typedef struct {
    tally_entry_t *slots;
    size_t cap; /* power of two */
    size_t used;
    bool oom;
} tally_t;

/*  Counter deltas on a dense grid: one u32 per (venue of this shard, form
    position, item, category, mark), so counting a cell is one increment in
    a few hundred KB rather than a hash probe.  A venue's part of the grid
    is laid out as its `counts` rows (pingyi_ballot_count_cells), and the
    venues a batch counted are listed, so it writes and clears only those.
    Used when the grid has at most GRID_MAX cells (a shard's share of any
    real election: 75 venues of 11 x 6 cells, 4 categories, 6 marks is
    119k); beyond, the hash table above.  */
#define GRID_MAX (1u << 18)

typedef struct {
    uint32_t *cells;
    uint32_t *touched;     /* slots counted since the last reset, in that order */
    uint8_t *slot_touched; /* per slot: listed in touched */
    size_t touched_count;
    size_t size;
    size_t *slot_base; /* per slot: its first cell; slot_count + 1 entries */
    size_t items, categories, marks;
} grid_t;

struct pingyi_shard_t {
    char path[1024];
    uint32_t shard;
    const pingyi_election_t *election;
    bool read_only;
    bool stopped;
    MDB_env *env;
    MDB_dbi ids, log, counts, venues, meta;
    size_t map_size;

    /* the venues of this shard: slot <-> venue index */
    int32_t *slot_of;   /* per venue index: slot, or -1 */
    uint32_t *venue_of; /* per slot: venue index */
    size_t slot_count;
    uint8_t (*keys)[32]; /* per slot: envelope key (writable shards only) */

    /* committed state, and the working copy of a batch */
    pingyi_shard_info_t info;
    pingyi_shard_info_t work_info;
    bool orphans_touched;
    pingyi_venue_figures_t *figures;
    pingyi_venue_figures_t *work;
    bool *touched;
    uint32_t *touched_list;
    size_t touched_count;

    /* batch scratch, reused: no per-ballot state survives a batch */
    size_t *order;
    size_t order_cap;
    tally_t deltas;
    grid_t grid; /* cells NULL: deltas go to the hash table */
    uint64_t *sorted;
    size_t sorted_cap;
    size_t marks;      /* cells per (item, category) in a counts row: choices, BLANK, OVER */
    size_t row_cells;  /* u32 cells in a counts row: items x categories x marks */
    uint32_t *row_sum; /* a row's deltas gathered from the hash table */
    uint8_t *row_buf;  /* a row being rewritten */
    uint8_t body[PINGYI_ENVELOPE_MAX];
    pingyi_ballot_t ballot;
    uint64_t batch_accepted, batch_duplicates, batch_rejected;
    uint64_t batch_rejected_by[PINGYI_SHARD_REJECT_SLOTS];
    int last_venue; /* look-up cache: venues repeat within a batch */
    int64_t last_commit_ms;

    uint64_t logged_by[PINGYI_SHARD_REJECT_SLOTS];
    pingyi_shard_stats_t stats;
};

/*  --------------------------------------------------------------------------
    Byte order helpers.  Values are little-endian; keys that must sort are
    big-endian; the log key is native (MDB_INTEGERKEY).  */

static void
put_le64 (uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static uint64_t
get_le64 (const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void
put_le32 (uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static uint32_t
get_le32 (const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint64_t
get_be64 (const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void
put_be64 (uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t) v;
        v >>= 8;
    }
}

/*  --------------------------------------------------------------------------
    The delta table.  */

static uint64_t
mix64 (uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static void
tally_clear (tally_t *t)
{
    if (t->slots && t->used)
        memset (t->slots, 0, t->cap * sizeof *t->slots);
    t->used = 0;
    t->oom = false;
}

static void
tally_free (tally_t *t)
{
    free (t->slots);
    memset (t, 0, sizeof *t);
}

static tally_entry_t *
tally_find (tally_t *t, uint64_t key, bool insert)
{
    if (insert && (t->used + 1) * 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        tally_entry_t *slots = calloc (cap, sizeof *slots);
        if (!slots) {
            t->oom = true;
            return NULL;
        }
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->slots[i].count)
                continue;
            size_t j = mix64 (t->slots[i].key) & (cap - 1);
            while (slots[j].count)
                j = (j + 1) & (cap - 1);
            slots[j] = t->slots[i];
        }
        free (t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    if (!t->cap)
        return NULL;
    size_t j = mix64 (key) & (t->cap - 1);
    while (t->slots[j].count) {
        if (t->slots[j].key == key)
            return &t->slots[j];
        j = (j + 1) & (t->cap - 1);
    }
    if (!insert)
        return NULL;
    t->slots[j].key = key;
    t->used++;
    return &t->slots[j]; /* count 0: the caller adds at least 1 */
}

static void
tally_add (tally_t *t, uint64_t key, uint64_t n)
{
    tally_entry_t *e = tally_find (t, key, true);
    if (e)
        e->count += n;
}

static void
tally_count_fn (const pingyi_counter_key_t *key, void *arg)
{
    uint8_t packed[PINGYI_COUNTER_KEY_LEN];
    pingyi_counter_key_pack (key, packed);
    tally_add ((tally_t *) arg, get_be64 (packed), 1);
}

static int
cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

/*  --------------------------------------------------------------------------
    The delta grid.  */

static void
grid_free (grid_t *g)
{
    free (g->cells);
    free (g->touched);
    free (g->slot_touched);
    free (g->slot_base);
    memset (g, 0, sizeof *g);
}

/*  Lay the grid out for the venues of a shard; 0, or -1 when it would be
    too large (or memory is short): the caller then counts in the hash
    table.  */
static int
grid_init (grid_t *g, const pingyi_election_t *e, const uint32_t *venue_of, size_t slot_count)
{
    memset (g, 0, sizeof *g);
    g->items = e->item_count;
    g->categories = e->category_count;
    g->marks = pingyi_count_marks (e); /* a form position's cells are laid out as a counts row */
    size_t per_position = g->items * g->categories * g->marks;
    g->slot_base = malloc ((slot_count + 1) * sizeof *g->slot_base);
    if (!g->slot_base)
        return -1;
    size_t size = 0;
    for (size_t s = 0; s < slot_count; s++) {
        g->slot_base[s] = size;
        size += e->venues[venue_of[s]].subject_count * per_position;
        if (size > GRID_MAX) {
            grid_free (g);
            return -1;
        }
    }
    g->slot_base[slot_count] = size;
    g->size = size;
    g->cells = calloc (size + 1, sizeof *g->cells);
    g->touched = malloc ((slot_count + 1) * sizeof *g->touched);
    g->slot_touched = calloc (slot_count + 1, 1);
    if (!g->cells || !g->touched || !g->slot_touched) {
        grid_free (g);
        return -1;
    }
    return 0;
}

/*  Count a validated ballot of the venue in slot into the grid.  */
static void
grid_count (grid_t *g, const pingyi_ballot_t *ballot, const pingyi_election_t *e, size_t slot)
{
    if (!g->slot_touched[slot]) {
        g->slot_touched[slot] = 1;
        g->touched[g->touched_count++] = (uint32_t) slot;
    }
    pingyi_ballot_count_cells (ballot, e, g->cells + g->slot_base[slot], g->marks);
}

/*  The counter key (as the u64 the hash table uses) of grid cell i; slot
    is a hint, advanced as the cells are visited in ascending order.  */
static uint64_t
grid_key (const grid_t *g, const pingyi_election_t *e, const uint32_t *venue_of, size_t slot_count, size_t i,
          size_t *slot)
{
    if (*slot >= slot_count || i < g->slot_base[*slot])
        *slot = 0;
    while (*slot + 1 < slot_count && i >= g->slot_base[*slot + 1])
        (*slot)++;
    size_t rem = i - g->slot_base[*slot];
    size_t m = rem % g->marks;
    rem /= g->marks;
    size_t category = rem % g->categories;
    rem /= g->categories;
    size_t item = rem % g->items;
    size_t pos = rem / g->items;
    size_t venue = venue_of[*slot];
    pingyi_counter_key_t key = {
        .venue = (uint16_t) venue,
        .subject = (uint16_t) e->venues[venue].subjects[pos],
        .item = (uint8_t) item,
        .category = (uint8_t) category,
        .mark = pingyi_count_cell_mark (m, g->marks),
    };
    return pingyi_counter_key_u64 (&key);
}

/*  Grid cell of a counter key, or -1 when the grid has no place for it.  */
static long
grid_index (const grid_t *g, const pingyi_election_t *e, const int32_t *slot_of, uint64_t key64)
{
    uint8_t packed[PINGYI_COUNTER_KEY_LEN];
    pingyi_counter_key_t key;
    put_be64 (packed, key64);
    pingyi_counter_key_unpack (packed, &key);
    if (key.venue >= e->venue_count || slot_of[key.venue] < 0 || key.item >= g->items ||
        key.category >= g->categories)
        return -1;
    int pos = pingyi_election_form_index (e, key.venue, key.subject);
    size_t m = pingyi_count_cell (key.mark, g->marks);
    if (pos < 0 || m >= g->marks)
        return -1;
    return (long) (g->slot_base[slot_of[key.venue]] +
                   (((size_t) pos * g->items + key.item) * g->categories + key.category) * g->marks + m);
}

/*  --------------------------------------------------------------------------
    Serialization of figures and ids rows (layouts in docs/worker.md).  */

static void
figures_empty (pingyi_venue_figures_t *f, uint32_t venue)
{
    memset (f, 0, sizeof *f);
    f->venue = venue;
    f->issued = f->collected = f->sent = -1;
}

static void
figures_pack (uint8_t out[FIGURES_LEN], const pingyi_venue_figures_t *f)
{
    put_le64 (out + 0, f->accepted);
    put_le64 (out + 8, f->blank);
    put_le64 (out + 16, f->duplicates);
    put_le64 (out + 24, f->rejected);
    for (int i = 0; i < PINGYI_SHARD_REJECT_SLOTS; i++)
        put_le64 (out + 32 + 8 * i, f->rejected_by[i]);
    put_le64 (out + 160, (uint64_t) f->issued);
    put_le64 (out + 168, (uint64_t) f->collected);
    put_le64 (out + 176, (uint64_t) f->sent);
    out[184] = f->closed ? 1 : 0;
}

static int
figures_unpack (pingyi_venue_figures_t *f, uint32_t venue, const MDB_val *v)
{
    if (v->mv_size != FIGURES_LEN)
        return -1;
    const uint8_t *p = v->mv_data;
    figures_empty (f, venue);
    f->accepted = get_le64 (p + 0);
    f->blank = get_le64 (p + 8);
    f->duplicates = get_le64 (p + 16);
    f->rejected = get_le64 (p + 24);
    for (int i = 0; i < PINGYI_SHARD_REJECT_SLOTS; i++)
        f->rejected_by[i] = get_le64 (p + 32 + 8 * i);
    f->issued = (int64_t) get_le64 (p + 160);
    f->collected = (int64_t) get_le64 (p + 168);
    f->sent = (int64_t) get_le64 (p + 176);
    f->closed = p[184] != 0;
    return 0;
}

static void
venue_key (uint8_t out[2], uint32_t venue)
{
    out[0] = (uint8_t) (venue >> 8);
    out[1] = (uint8_t) venue;
}

/*  --------------------------------------------------------------------------
    Small helpers.  */

void
pingyi_shard_path (char *out, size_t cap, const char *data_dir, uint32_t shard)
{
    snprintf (out, cap, "%s/shard-%02u", data_dir, shard);
}

void
pingyi_shard_chain_step (uint8_t next[32], const uint8_t prev[32], uint64_t sequence, const uint8_t *envelope,
                         size_t len)
{
    crypto_hash_sha256_state st;
    uint8_t seq[8];
    put_be64 (seq, sequence);
    crypto_hash_sha256_init (&st);
    crypto_hash_sha256_update (&st, prev, 32);
    crypto_hash_sha256_update (&st, seq, 8);
    crypto_hash_sha256_update (&st, envelope, len);
    crypto_hash_sha256_final (&st, next);
}

/*  An id from the network, made safe for a log line and an ack text:
    printable ASCII kept, every other byte as \xNN.  */
static const char *
safe_id (char out[4 * PINGYI_ID_MAX + 8], const char *s, size_t len)
{
    size_t o = 0;
    if (len > PINGYI_ID_MAX)
        len = PINGYI_ID_MAX;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
            out[o++] = (char) c;
        else
            o += (size_t) sprintf (out + o, "\\x%02x", c);
    }
    out[o] = '\0';
    return out;
}

static int
lmdb_fail (pingyi_shard_t *self, char *err, const char *what, int rc)
{
    return pingyi_fail (err, "%s: %s: %s", self->path, what, mdb_strerror (rc));
}

static int
find_venue (pingyi_shard_t *self, const char *id, size_t len)
{
    if (!id || !len)
        return -1;
    if (self->last_venue >= 0) {
        const char *cached = self->election->venues[self->last_venue].id;
        if (strlen (cached) == len && memcmp (cached, id, len) == 0)
            return self->last_venue;
    }
    int v = pingyi_election_venue (self->election, id, len);
    if (v >= 0)
        self->last_venue = v;
    return v;
}

/*  The envelope key of every venue of this shard, from the keyring's box
    public keys and the election secret: computed once, at open.  */
static int
compute_keys (pingyi_shard_t *self, uint8_t (*keys)[32], const pingyi_keyring_t *keyring,
              const uint8_t election_secret[PINGYI_KEY_LEN], char *err)
{
    for (size_t s = 0; s < self->slot_count; s++) {
        const pingyi_venue_t *venue = &self->election->venues[self->venue_of[s]];
        const pingyi_keyring_entry_t *entry = pingyi_keyring_find (keyring, PINGYI_ROLE_VENUE, venue->id);
        if (!entry || !entry->has_box)
            return pingyi_fail (err,
                                "keyring has no box public key for venue %s (shard %u): its ballots "
                                "could not be opened; regenerate the deploy directory",
                                venue->id, self->shard);
        if (pingyi_envelope_key (keys[s], entry->box, election_secret))
            return pingyi_fail (err, "venue %s: cannot derive the envelope key (bad box public key)",
                                venue->id);
    }
    return 0;
}

/*  --------------------------------------------------------------------------
    Write transactions with map growth.  fn returns 0, an LMDB code, or -1
    with err set.  MDB_MAP_FULL anywhere (put or commit) poisons the
    transaction: abort it, double the map with no transaction active, and
    run fn again from the start (fn resets its own working state).  */

typedef int (txn_fn) (pingyi_shard_t *self, MDB_txn *txn, void *arg, char *err);

static int
grow_map (pingyi_shard_t *self, char *err)
{
    size_t want = self->map_size * 2;
    if (want <= self->map_size)
        want = self->map_size; /* overflow: set_mapsize will refuse */
    int rc = mdb_env_set_mapsize (self->env, want);
    if (rc) {
        self->stopped = true;
        pingyi_error ("shard %u: map full at %zu KiB and cannot grow to %zu KiB (%s): this shard takes no "
                      "more ballots; free memory/disk and restart the worker (nothing acknowledged is lost)",
                      self->shard, self->map_size >> 10, want >> 10, mdb_strerror (rc));
        return pingyi_fail (err, "%s: map full and cannot grow to %zu KiB: %s", self->path, want >> 10,
                            mdb_strerror (rc));
    }
    MDB_envinfo info;
    mdb_env_info (self->env, &info);
    pingyi_info ("shard %u: map full at %zu KiB, grown to %zu KiB", self->shard, self->map_size >> 10,
                 info.me_mapsize >> 10);
    self->map_size = info.me_mapsize;
    self->stats.map_resizes++;
    return 0;
}

static int
write_txn (pingyi_shard_t *self, txn_fn *fn, void *arg, const char *what, char *err)
{
    for (;;) {
        MDB_txn *txn;
        int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
        if (rc)
            return lmdb_fail (self, err, what, rc);
        rc = fn (self, txn, arg, err);
        if (rc == 0) {
            int64_t t0 = pingyi_now_ms ();
            rc = mdb_txn_commit (txn); /* frees txn, committed or not */
            self->last_commit_ms = pingyi_now_ms () - t0;
            if (rc == 0)
                return 0;
        }
        else
            mdb_txn_abort (txn);
        if (rc == MDB_MAP_FULL) {
            if (grow_map (self, err))
                return -1;
            self->stats.batch_redos++;
            continue;
        }
        if (rc == -1)
            return -1;
        return lmdb_fail (self, err, what, rc);
    }
}

static int
read_txn (pingyi_shard_t *self, MDB_txn **txn, char *err)
{
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, txn);
    if (rc == MDB_MAP_RESIZED) {
        /* another process (the worker) grew the map: adopt its size */
        mdb_env_set_mapsize (self->env, 0);
        rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, txn);
    }
    return rc ? lmdb_fail (self, err, "read transaction", rc) : 0;
}

/*  --------------------------------------------------------------------------
    Meta.  */

static int
meta_get (pingyi_shard_t *self, MDB_txn *txn, const char *name, MDB_val *v)
{
    MDB_val k = {strlen (name), (void *) name};
    return mdb_get (txn, self->meta, &k, v);
}

static int
meta_put (pingyi_shard_t *self, MDB_txn *txn, const char *name, const void *data, size_t len)
{
    MDB_val k = {strlen (name), (void *) name};
    MDB_val v = {len, (void *) data};
    return mdb_put (txn, self->meta, &k, &v, 0);
}

static int
meta_put_u32 (pingyi_shard_t *self, MDB_txn *txn, const char *name, uint32_t value)
{
    uint8_t b[4];
    put_le32 (b, value);
    return meta_put (self, txn, name, b, 4);
}

static int
meta_put_u64 (pingyi_shard_t *self, MDB_txn *txn, const char *name, uint64_t value)
{
    uint8_t b[8];
    put_le64 (b, value);
    return meta_put (self, txn, name, b, 8);
}

static int
meta_put_orphans (pingyi_shard_t *self, MDB_txn *txn, const pingyi_shard_info_t *info)
{
    uint8_t b[8 * PINGYI_SHARD_REJECT_SLOTS];
    for (int i = 0; i < PINGYI_SHARD_REJECT_SLOTS; i++)
        put_le64 (b + 8 * i, info->orphan_rejected_by[i]);
    int rc = meta_put_u64 (self, txn, "orphan_rejected", info->orphan_rejected);
    return rc ? rc : meta_put (self, txn, "orphan_rejected_by", b, sizeof b);
}

/*  Read and check meta.  Returns 0, MDB_NOTFOUND when the shard is new
    (no schema yet), an LMDB code, or -1 with err.  */
static int
meta_load (pingyi_shard_t *self, MDB_txn *txn, pingyi_shard_info_t *info, char *err)
{
    const pingyi_election_t *e = self->election;
    MDB_val v;
    int rc = meta_get (self, txn, "schema", &v);
    if (rc)
        return rc;
    if (v.mv_size != 4 || get_le32 (v.mv_data) != PINGYI_SHARD_SCHEMA)
        return pingyi_fail (err, "%s: storage schema %u, this worker reads schema %u", self->path,
                            v.mv_size == 4 ? get_le32 (v.mv_data) : 0, PINGYI_SHARD_SCHEMA);
    memset (info, 0, sizeof *info);
    MDB_val fp, sh, sc, seq, chain;
    if (meta_get (self, txn, "fingerprint", &fp) || fp.mv_size != PINGYI_FP_LEN ||
        meta_get (self, txn, "shard", &sh) || sh.mv_size != 4 || meta_get (self, txn, "shard_count", &sc) ||
        sc.mv_size != 4 || meta_get (self, txn, "sequence", &seq) || seq.mv_size != 8 ||
        meta_get (self, txn, "chain", &chain) || chain.mv_size != 32)
        return pingyi_fail (err,
                            "%s: meta is incomplete or damaged (fingerprint, shard, shard_count, sequence, "
                            "chain): refusing to start",
                            self->path);
    memcpy (info->fingerprint, fp.mv_data, PINGYI_FP_LEN);
    info->shard = get_le32 (sh.mv_data);
    info->shard_count = get_le32 (sc.mv_data);
    info->sequence = get_le64 (seq.mv_data);
    memcpy (info->chain, chain.mv_data, 32);
    if (memcmp (info->fingerprint, e->fingerprint, PINGYI_FP_LEN) != 0) {
        char have[2 * PINGYI_FP_LEN + 1];
        pingyi_hex (have, info->fingerprint, PINGYI_FP_LEN);
        return pingyi_fail (err,
                            "%s: holds the count of election %.16s..., but this definition is %.16s...: "
                            "refusing to mix elections (use another --data directory)",
                            self->path, have, e->fingerprint_hex);
    }
    if (info->shard != self->shard || info->shard_count != e->shard_count)
        return pingyi_fail (err,
                            "%s: holds shard %u of %u, but was asked to serve shard %u of %u: refusing "
                            "to start",
                            self->path, info->shard, info->shard_count, self->shard, e->shard_count);
    if (meta_get (self, txn, "orphan_rejected", &v) == 0 && v.mv_size == 8)
        info->orphan_rejected = get_le64 (v.mv_data);
    if (meta_get (self, txn, "orphan_rejected_by", &v) == 0 && v.mv_size == 8 * PINGYI_SHARD_REJECT_SLOTS)
        for (int i = 0; i < PINGYI_SHARD_REJECT_SLOTS; i++)
            info->orphan_rejected_by[i] = get_le64 ((const uint8_t *) v.mv_data + 8 * i);
    return 0;
}

/*  Figures of every slot as stored (or empty) in txn.  */
static int
figures_load (pingyi_shard_t *self, MDB_txn *txn, pingyi_venue_figures_t *out, char *err)
{
    for (size_t s = 0; s < self->slot_count; s++) {
        uint8_t k[2];
        venue_key (k, self->venue_of[s]);
        MDB_val key = {2, k}, v;
        int rc = mdb_get (txn, self->venues, &key, &v);
        if (rc == MDB_NOTFOUND)
            figures_empty (&out[s], self->venue_of[s]);
        else if (rc)
            return rc;
        else if (figures_unpack (&out[s], self->venue_of[s], &v))
            return pingyi_fail (err, "%s: venue %s: stored figures have %zu bytes, expected %d", self->path,
                                self->election->venues[self->venue_of[s]].id, v.mv_size, FIGURES_LEN);
    }
    return 0;
}

/*  The log's last key must be meta.sequence: a cheap check that the two
    were always written together.  */
static int
check_log_tail (pingyi_shard_t *self, MDB_txn *txn, uint64_t sequence, char *err)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open (txn, self->log, &c);
    if (rc)
        return rc;
    MDB_val k, v;
    rc = mdb_cursor_get (c, &k, &v, MDB_LAST);
    mdb_cursor_close (c);
    uint64_t last = 0;
    if (rc == 0 && k.mv_size == 8)
        memcpy (&last, k.mv_data, 8);
    else if (rc != MDB_NOTFOUND)
        return rc ? rc : pingyi_fail (err, "%s: log key of %zu bytes", self->path, k.mv_size);
    if (last != sequence)
        return pingyi_fail (err,
                            "%s: log ends at sequence %llu but meta says %llu: refusing to start "
                            "(run `pingyi tally --recount` on a copy)",
                            self->path, (unsigned long long) last, (unsigned long long) sequence);
    return 0;
}

static int
open_dbs (pingyi_shard_t *self, MDB_txn *txn, unsigned create)
{
    int rc;
    if ((rc = mdb_dbi_open (txn, "ids", create, &self->ids)) ||
        (rc = mdb_dbi_open (txn, "log", create | MDB_INTEGERKEY, &self->log)) ||
        (rc = mdb_dbi_open (txn, "counts", create, &self->counts)) ||
        (rc = mdb_dbi_open (txn, "venues", create, &self->venues)) ||
        (rc = mdb_dbi_open (txn, "meta", create, &self->meta)))
        return rc;
    return 0;
}

static int
init_txn (pingyi_shard_t *self, MDB_txn *txn, void *arg, char *err)
{
    (void) arg;
    int rc = open_dbs (self, txn, MDB_CREATE);
    if (rc)
        return rc;
    rc = meta_load (self, txn, &self->info, err);
    if (rc == MDB_NOTFOUND) {
        /* a new shard: the whole meta in the same transaction as the dbs */
        const pingyi_election_t *e = self->election;
        memset (&self->info, 0, sizeof self->info);
        self->info.shard = self->shard;
        self->info.shard_count = e->shard_count;
        memcpy (self->info.fingerprint, e->fingerprint, PINGYI_FP_LEN);
        if ((rc = meta_put_u32 (self, txn, "schema", PINGYI_SHARD_SCHEMA)) ||
            (rc = meta_put (self, txn, "fingerprint", e->fingerprint, PINGYI_FP_LEN)) ||
            (rc = meta_put_u32 (self, txn, "shard", self->shard)) ||
            (rc = meta_put_u32 (self, txn, "shard_count", e->shard_count)) ||
            (rc = meta_put_u64 (self, txn, "sequence", 0)) ||
            (rc = meta_put (self, txn, "chain", self->info.chain, 32)) ||
            (rc = meta_put_orphans (self, txn, &self->info)))
            return rc;
    }
    else if (rc)
        return rc;
    rc = check_log_tail (self, txn, self->info.sequence, err);
    if (rc)
        return rc;
    return figures_load (self, txn, self->figures, err);
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

static pingyi_shard_t *
shard_new (const char *data_dir, uint32_t shard, const pingyi_election_t *election, bool read_only,
           size_t map_size, char *err)
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
    self->last_venue = -1;
    pingyi_shard_path (self->path, sizeof self->path, data_dir, shard);

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
    self->work = calloc (n, sizeof *self->work);
    self->touched = calloc (n, sizeof *self->touched);
    self->touched_list = calloc (n, sizeof *self->touched_list);
    if (!self->figures || !self->work || !self->touched || !self->touched_list)
        goto oom;
    self->marks = pingyi_count_marks (election);
    self->row_cells = election->item_count * election->category_count * self->marks;
    if (!read_only) {
        if (grid_init (&self->grid, election, self->venue_of, self->slot_count))
            memset (&self->grid, 0, sizeof self->grid); /* too large: the hash table counts */
        self->row_buf = malloc (self->row_cells * 4);
        self->row_sum = malloc (self->row_cells * sizeof *self->row_sum);
        if (!self->row_buf || !self->row_sum)
            goto oom;
    }

    if (read_only) {
        struct stat st;
        if (stat (self->path, &st) != 0 || !S_ISDIR (st.st_mode)) {
            pingyi_fail (err, "%s: no such shard directory", self->path);
            goto fail;
        }
    }
    else if (make_dir (data_dir, err) || make_dir (self->path, err))
        goto fail;

    int rc = mdb_env_create (&self->env);
    if (rc) {
        lmdb_fail (self, err, "mdb_env_create", rc);
        goto fail;
    }
    mdb_env_set_maxdbs (self->env, 8);
    if (!read_only)
        mdb_env_set_mapsize (self->env, map_size ? map_size : PINGYI_SHARD_MAP_DEFAULT);
    rc = mdb_env_open (self->env, self->path, read_only ? MDB_RDONLY : 0, 0600);
    if (rc) {
        lmdb_fail (self, err, "cannot open the LMDB environment", rc);
        goto fail;
    }
    /* readers left by a crashed process would pin old pages forever */
    int dead = 0;
    mdb_reader_check (self->env, &dead);
    if (dead > 0)
        pingyi_info ("shard %u: cleared %d stale reader slot(s) left by a dead process", shard, dead);
    MDB_envinfo info;
    mdb_env_info (self->env, &info);
    self->map_size = info.me_mapsize;

    if (read_only) {
        MDB_txn *txn;
        if (read_txn (self, &txn, err))
            goto fail;
        rc = open_dbs (self, txn, 0);
        if (rc == MDB_NOTFOUND) {
            mdb_txn_abort (txn);
            pingyi_fail (err, "%s: not a pingyi shard (no ids/log/counts/venues/meta)", self->path);
            goto fail;
        }
        if (rc == 0) {
            rc = meta_load (self, txn, &self->info, err);
            if (rc == MDB_NOTFOUND) {
                mdb_txn_abort (txn);
                pingyi_fail (err, "%s: not a pingyi shard (no schema in meta)", self->path);
                goto fail;
            }
        }
        if (rc == 0)
            rc = check_log_tail (self, txn, self->info.sequence, err);
        if (rc == 0)
            rc = figures_load (self, txn, self->figures, err);
        if (rc) {
            mdb_txn_abort (txn);
            if (rc != -1)
                lmdb_fail (self, err, "open", rc);
            goto fail;
        }
        /* commit (not abort) so the dbi handles outlive this transaction */
        rc = mdb_txn_commit (txn);
        if (rc) {
            lmdb_fail (self, err, "open", rc);
            goto fail;
        }
    }
    else if (write_txn (self, init_txn, NULL, "open", err))
        goto fail;
    self->stats.map_size = self->map_size;
    self->stats.sequence = self->info.sequence;
    return self;
oom:
    pingyi_fail (err, "out of memory");
fail:
    pingyi_shard_close (&self);
    return NULL;
}

pingyi_shard_t *
pingyi_shard_open (const char *data_dir, uint32_t shard, const pingyi_election_t *election,
                   const pingyi_keyring_t *keyring, const uint8_t election_secret[PINGYI_KEY_LEN],
                   size_t map_size, char *err)
{
    pingyi_shard_t *self = shard_new (data_dir, shard, election, false, map_size, err);
    if (!self)
        return NULL;
    self->keys = calloc (self->slot_count + 1, sizeof *self->keys);
    if (!self->keys) {
        pingyi_fail (err, "out of memory");
        pingyi_shard_close (&self);
        return NULL;
    }
    if (compute_keys (self, self->keys, keyring, election_secret, err)) {
        pingyi_shard_close (&self);
        return NULL;
    }
    return self;
}

pingyi_shard_t *
pingyi_shard_open_readonly (const char *data_dir, uint32_t shard, const pingyi_election_t *election,
                            char *err)
{
    return shard_new (data_dir, shard, election, true, 0, err);
}

void
pingyi_shard_close (pingyi_shard_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pingyi_shard_t *self = *self_p;
    if (self->env)
        mdb_env_close (self->env);
    if (self->keys) {
        sodium_memzero (self->keys, (self->slot_count + 1) * sizeof *self->keys);
        free (self->keys);
    }
    sodium_memzero (self->body, sizeof self->body);
    sodium_memzero (&self->ballot, sizeof self->ballot);
    free (self->slot_of);
    free (self->venue_of);
    free (self->figures);
    free (self->work);
    free (self->touched);
    free (self->touched_list);
    free (self->order);
    free (self->sorted);
    free (self->row_buf);
    free (self->row_sum);
    tally_free (&self->deltas);
    grid_free (&self->grid);
    free (self);
    *self_p = NULL;
}

/*  --------------------------------------------------------------------------
    Applying a batch.  */

static pingyi_venue_figures_t *
work_figures (pingyi_shard_t *self, int32_t slot)
{
    if (!self->touched[slot]) {
        self->work[slot] = self->figures[slot];
        self->touched[slot] = true;
        self->touched_list[self->touched_count++] = (uint32_t) slot;
    }
    return &self->work[slot];
}

static void
work_reset (pingyi_shard_t *self)
{
    for (size_t i = 0; i < self->touched_count; i++)
        self->touched[self->touched_list[i]] = false;
    self->touched_count = 0;
    self->work_info = self->info;
    self->orphans_touched = false;
    tally_clear (&self->deltas);
    grid_t *g = &self->grid;
    for (size_t i = 0; i < g->touched_count; i++) {
        uint32_t slot = g->touched[i];
        memset (g->cells + g->slot_base[slot], 0,
                (g->slot_base[slot + 1] - g->slot_base[slot]) * sizeof *g->cells);
        g->slot_touched[slot] = 0;
    }
    g->touched_count = 0;
    self->batch_accepted = self->batch_duplicates = self->batch_rejected = 0;
    memset (self->batch_rejected_by, 0, sizeof self->batch_rejected_by);
}

/*  Refuse one envelope: result, the figures of the venue charged (the
    authenticated sender when it is one of this shard's, else the
    shard-level counters in meta), and a rate-limited log line.  */
static void reject (pingyi_shard_t *self, pingyi_shard_item_t *item, pingyi_reject_t code, int32_t charge,
                    const char *fmt, ...) PINGYI_PRINTF (5, 6);

static void
reject (pingyi_shard_t *self, pingyi_shard_item_t *item, pingyi_reject_t code, int32_t charge,
        const char *fmt, ...)
{
    item->status = PINGYI_ACK_REJECTED;
    item->reason = (uint8_t) code;
    item->receipt[0] = '\0';
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (item->text, sizeof item->text, fmt, ap);
    va_end (ap);
    if (charge >= 0) {
        pingyi_venue_figures_t *f = work_figures (self, charge);
        f->rejected++;
        f->rejected_by[code]++;
    }
    else {
        self->work_info.orphan_rejected++;
        self->work_info.orphan_rejected_by[code]++;
        self->orphans_touched = true;
    }
    self->batch_rejected++;
    self->batch_rejected_by[code]++;
}

static void
log_rejections (pingyi_shard_t *self, const pingyi_shard_item_t *items, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const pingyi_shard_item_t *it = &items[i];
        if (it->status != PINGYI_ACK_REJECTED || it->reason >= PINGYI_SHARD_REJECT_SLOTS)
            continue;
        uint64_t n = ++self->logged_by[it->reason];
        if (n <= REJECT_LOG_LINES)
            pingyi_info ("shard %u: rejected (%s): %s%s", self->shard,
                         pingyi_reject_name ((pingyi_reject_t) it->reason), it->text,
                         n == REJECT_LOG_LINES ? " [further rejections of this kind are only counted]" : "");
    }
}

/*  One envelope, in the order of the steps in docs/worker.md.  Returns 0 or
    an LMDB code (which aborts the batch).  */
static int
apply_one (pingyi_shard_t *self, MDB_txn *txn, pingyi_shard_item_t *item)
{
    const pingyi_election_t *e = self->election;
    char a[4 * PINGYI_ID_MAX + 8], b[4 * PINGYI_ID_MAX + 8];
    char perr[PINGYI_ERR_MAX];
    memset (item->ballot_id, 0, sizeof item->ballot_id);
    item->status = PINGYI_ACK_REJECTED;
    item->reason = 0;
    item->receipt[0] = item->text[0] = '\0';

    int sender = find_venue (self, item->sender, item->sender_len);
    int32_t charge = sender >= 0 ? self->slot_of[sender] : -1;

    /* 1. the clear header */
    pingyi_envelope_t env;
    if (!item->envelope || item->len > PINGYI_ENVELOPE_MAX) {
        reject (self, item, PINGYI_REJECT_BAD_ENVELOPE, charge, "envelope of %zu bytes (at most %d)",
                item->len, PINGYI_ENVELOPE_MAX);
        return 0;
    }
    if (pingyi_envelope_parse (item->envelope, item->len, &env, perr)) {
        reject (self, item, PINGYI_REJECT_BAD_ENVELOPE, charge, "%s", perr);
        return 0;
    }
    memcpy (item->ballot_id, env.ballot_id, PINGYI_BALLOT_ID_LEN);

    /* 2. election */
    if (memcmp (env.fingerprint, e->fingerprint, PINGYI_FP_LEN) != 0) {
        char hex[2 * PINGYI_FP_LEN + 1];
        pingyi_hex (hex, env.fingerprint, PINGYI_FP_LEN);
        reject (self, item, PINGYI_REJECT_WRONG_ELECTION, charge,
                "envelope is for election %s, this count is %s", hex, e->fingerprint_hex);
        return 0;
    }
    /* 3. venue: known, and the authenticated sender */
    int venue = find_venue (self, env.venue, env.venue_len);
    if (venue < 0) {
        reject (self, item, PINGYI_REJECT_UNKNOWN_VENUE, charge,
                "venue \"%s\" is not in the election definition", safe_id (a, env.venue, env.venue_len));
        return 0;
    }
    if (venue != sender) {
        reject (self, item, PINGYI_REJECT_VENUE_MISMATCH, charge,
                "envelope names venue \"%s\" but was sent by \"%s\"", safe_id (a, env.venue, env.venue_len),
                safe_id (b, item->sender ? item->sender : "", item->sender ? item->sender_len : 0));
        return 0;
    }
    /* 4. shard */
    int32_t slot = self->slot_of[venue];
    if (slot < 0) {
        reject (self, item, PINGYI_REJECT_WRONG_SHARD, charge, "venue %s belongs to shard %u, not shard %u",
                e->venues[venue].id, e->venues[venue].shard, self->shard);
        return 0;
    }
    /* 5. dedupe: reads in this transaction see its own earlier puts, so a
       second copy within the batch is a duplicate too */
    uint8_t k[IDS_KEY_LEN];
    venue_key (k, (uint32_t) venue);
    memcpy (k + 2, env.ballot_id, PINGYI_BALLOT_ID_LEN);
    MDB_val key = {IDS_KEY_LEN, k}, val;
    int rc = mdb_get (txn, self->ids, &key, &val);
    if (rc == 0) {
        pingyi_venue_figures_t *f = work_figures (self, slot);
        f->duplicates++;
        self->batch_duplicates++;
        const uint8_t *p = val.mv_data;
        if (val.mv_size != IDS_VALUE_LEN)
            return MDB_CORRUPTED;
        if (p[0] == PINGYI_ACK_ACCEPTED) {
            /* the receipt of the ballot as stored (not of these bytes),
               from its log entry: a resend is rare, the ids row stays small */
            uint64_t seq = get_le64 (p + 2);
            MDB_val lk = {sizeof seq, &seq}, lv;
            rc = mdb_get (txn, self->log, &lk, &lv);
            if (rc)
                return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
            item->status = PINGYI_ACK_DUPLICATE;
            pingyi_envelope_receipt (item->receipt, lv.mv_data, lv.mv_size);
        }
        else {
            /* same answer as the first time, counted rejected only once */
            item->status = PINGYI_ACK_REJECTED;
            item->reason = p[1];
            snprintf (item->text, sizeof item->text, "resend of a ballot rejected earlier (%s)",
                      pingyi_reject_name ((pingyi_reject_t) p[1]));
        }
        return 0;
    }
    if (rc != MDB_NOTFOUND)
        return rc;

    /* 6. venue still open */
    pingyi_venue_figures_t *f = work_figures (self, slot);
    if (f->closed) {
        reject (self, item, PINGYI_REJECT_VENUE_CLOSED, slot,
                "venue %s has closed its round; no more ballots", e->venues[venue].id);
        return 0;
    }
    /* 7. open.  Not stored when it fails: an unauthenticated envelope must
       not be able to claim an id that a genuine one may carry later. */
    size_t body_len = 0;
    if (env.ciphertext_len < PINGYI_MAC_LEN || env.ciphertext_len - PINGYI_MAC_LEN > sizeof self->body ||
        pingyi_envelope_open (&env, self->keys[slot], self->body, sizeof self->body, &body_len)) {
        reject (self, item, PINGYI_REJECT_DECRYPT, slot,
                "envelope does not open with venue %s's key (altered, or sealed for another election key)",
                e->venues[venue].id);
        return 0;
    }
    char receipt[PINGYI_RECEIPT_LEN + 1];
    pingyi_envelope_receipt (receipt, item->envelope, item->len);

    /* 8. the ballot itself.  A refusal here is authenticated, so it is
       stored: a resend gets the same answer and counts once. */
    uint8_t row[IDS_VALUE_LEN];
    pingyi_reject_t code =
        pingyi_ballot_decode (e, (size_t) venue, self->body, body_len, &self->ballot, perr);
    if (code != PINGYI_REJECT_NONE) {
        if (code >= PINGYI_REJECT_COUNT_)
            code = PINGYI_REJECT_MALFORMED;
        row[0] = PINGYI_ACK_REJECTED;
        row[1] = (uint8_t) code;
        put_le64 (row + 2, 0);
        val.mv_size = IDS_VALUE_LEN;
        val.mv_data = row;
        rc = mdb_put (txn, self->ids, &key, &val, MDB_NOOVERWRITE);
        if (rc)
            return rc;
        reject (self, item, code, slot, "%s", perr);
        return 0;
    }

    /* 9. accept */
    uint64_t seq = self->work_info.sequence + 1;
    row[0] = PINGYI_ACK_ACCEPTED;
    row[1] = 0;
    put_le64 (row + 2, seq);
    val.mv_size = IDS_VALUE_LEN;
    val.mv_data = row;
    rc = mdb_put (txn, self->ids, &key, &val, MDB_NOOVERWRITE);
    if (rc)
        return rc;
    MDB_val lk = {sizeof seq, &seq}, lv = {item->len, (void *) item->envelope};
    rc = mdb_put (txn, self->log, &lk, &lv, MDB_APPEND);
    if (rc)
        return rc;
    pingyi_shard_chain_step (self->work_info.chain, self->work_info.chain, seq, item->envelope, item->len);
    self->work_info.sequence = seq;
    if (self->grid.cells)
        grid_count (&self->grid, &self->ballot, e, (size_t) slot);
    else
        pingyi_ballot_count (&self->ballot, e, (size_t) venue, tally_count_fn, &self->deltas);
    f->accepted++;
    if (pingyi_ballot_is_blank (&self->ballot, e))
        f->blank++;
    self->batch_accepted++;
    item->status = PINGYI_ACK_ACCEPTED;
    memcpy (item->receipt, receipt, sizeof receipt);
    return 0;
}

typedef struct {
    pingyi_shard_item_t *items;
    size_t count;
} batch_arg_t;

/*  --------------------------------------------------------------------------
    The `counts` db (docs/worker.md).  One row per (venue, subject): key
    venue u16 BE, subject u16 BE; value every counter of that subject at
    that venue, row_cells u32 LE, the cell of (item, category, m) at
    (item x categories + category) x marks + m, where m is the choice's index,
    marks - 2 for BLANK and marks - 1 for OVER.  Why rows and not a key per
    counter: a batch of a few ballots adds to nearly every counter of its
    venues, so with a key per counter each commit rewrote nearly every
    counter page (237 leaves for a shard of 15 venues x 66 cells); rows put
    the same counters on a tenth of the pages (docs/PERFORMANCE.md).  The
    readers below expand the rows back into (counter key, count) in key
    order, so the snapshot, the tools and the recount see what they saw.  */

#define ROW_KEY_LEN 4

static void
row_key (uint8_t out[ROW_KEY_LEN], uint32_t venue, uint32_t subject)
{
    out[0] = (uint8_t) (venue >> 8);
    out[1] = (uint8_t) venue;
    out[2] = (uint8_t) (subject >> 8);
    out[3] = (uint8_t) subject;
}

/*  The counter key of cell i of the row (venue, subject).  */
static void
row_cell_key (const pingyi_shard_t *self, const uint8_t row[ROW_KEY_LEN], size_t i,
              uint8_t out[PINGYI_COUNTER_KEY_LEN])
{
    size_t m = i % self->marks;
    size_t rest = i / self->marks;
    pingyi_counter_key_t key = {
        .venue = (uint16_t) (row[0] << 8 | row[1]),
        .subject = (uint16_t) (row[2] << 8 | row[3]),
        .item = (uint8_t) (rest / self->election->category_count),
        .category = (uint8_t) (rest % self->election->category_count),
        .mark = pingyi_count_cell_mark (m, self->marks),
    };
    pingyi_counter_key_pack (&key, out);
}

/*  counts[(venue, subject)] += delta, cell by cell, through a cursor: one
    descent for the read and the write.  A cell that would pass 2^32 - 1
    (more ballots than any venue holds) fails the batch, loudly.  */
static int
add_row (pingyi_shard_t *self, MDB_cursor *c, uint32_t venue, uint32_t subject, const uint32_t *delta,
         char *err)
{
    uint8_t k[ROW_KEY_LEN];
    row_key (k, venue, subject);
    size_t bytes = self->row_cells * 4;
    MDB_val key = {ROW_KEY_LEN, k}, val;
    int rc = mdb_cursor_get (c, &key, &val, MDB_SET_KEY);
    if (rc == 0 && val.mv_size != bytes)
        return MDB_CORRUPTED;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    uint8_t *b = self->row_buf;
    if (rc == 0)
        memcpy (b, val.mv_data, bytes);
    else
        memset (b, 0, bytes);
    for (size_t i = 0; i < self->row_cells; i++)
        if (delta[i]) {
            uint32_t have = get_le32 (b + 4 * i);
            if (delta[i] > UINT32_MAX - have)
                return pingyi_fail (err, "%s: counter of venue %s, subject %u would pass 2^32 - 1",
                                    self->path, self->election->venues[venue].id, subject);
            put_le32 (b + 4 * i, have + delta[i]);
        }
    val.mv_size = bytes;
    val.mv_data = b;
    return mdb_cursor_put (c, &key, &val, rc == 0 ? MDB_CURRENT : 0);
}

/*  The grid's counted venues, each form position written as its counts
    row: a venue's cells are its rows as they stand.  Every ballot marks
    every cell of its form, so a counted venue's rows all change.  */
static int
write_grid (pingyi_shard_t *self, MDB_cursor *c, char *err)
{
    grid_t *g = &self->grid;
    int rc = 0;
    for (size_t t = 0; t < g->touched_count && !rc; t++) {
        uint32_t slot = g->touched[t];
        const pingyi_venue_t *v = &self->election->venues[self->venue_of[slot]];
        for (size_t pos = 0; pos < v->subject_count && !rc; pos++)
            rc = add_row (self, c, self->venue_of[slot], (uint32_t) v->subjects[pos],
                          g->cells + g->slot_base[slot] + pos * self->row_cells, err);
    }
    return rc;
}

/*  The hash table's deltas (a shard whose grid would be too large),
    sorted, gathered row by row.  */
static int
write_spill (pingyi_shard_t *self, MDB_cursor *c, char *err)
{
    tally_t *t = &self->deltas;
    if (t->used > self->sorted_cap) {
        uint64_t *sorted = realloc (self->sorted, t->used * sizeof *sorted);
        if (!sorted)
            return pingyi_fail (err, "out of memory for the batch's counter deltas");
        self->sorted = sorted;
        self->sorted_cap = t->used;
    }
    size_t n = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].count)
            self->sorted[n++] = t->slots[i].key;
    if (n > 1)
        qsort (self->sorted, n, sizeof *self->sorted, cmp_u64);
    const pingyi_election_t *e = self->election;
    int rc = 0;
    for (size_t i = 0; i < n && !rc;) {
        uint64_t row = self->sorted[i] >> 32; /* venue, subject */
        memset (self->row_sum, 0, self->row_cells * sizeof *self->row_sum);
        for (; i < n && self->sorted[i] >> 32 == row; i++) {
            uint8_t packed[PINGYI_COUNTER_KEY_LEN];
            pingyi_counter_key_t key;
            put_be64 (packed, self->sorted[i]);
            pingyi_counter_key_unpack (packed, &key);
            size_t m = pingyi_count_cell (key.mark, self->marks);
            uint64_t add = tally_find (t, self->sorted[i], false)->count;
            if (key.venue >= e->venue_count || key.item >= e->item_count ||
                key.category >= e->category_count || m >= self->marks || add > UINT32_MAX)
                return pingyi_fail (err, "%s: counter %016llx has no place in a counts row", self->path,
                                    (unsigned long long) self->sorted[i]);
            self->row_sum[(key.item * e->category_count + key.category) * self->marks + m] += (uint32_t) add;
        }
        rc = add_row (self, c, (uint32_t) (row >> 16), (uint32_t) (row & 0xffff), self->row_sum, err);
    }
    return rc;
}

static int
write_counters (pingyi_shard_t *self, MDB_txn *txn, char *err)
{
    if (self->deltas.oom)
        return pingyi_fail (err, "out of memory for the batch's counter deltas");
    MDB_cursor *c;
    int rc = mdb_cursor_open (txn, self->counts, &c);
    if (rc)
        return rc;
    if (self->grid.cells && self->grid.touched_count)
        rc = write_grid (self, c, err);
    if (rc == 0 && self->deltas.used)
        rc = write_spill (self, c, err);
    mdb_cursor_close (c);
    return rc;
}

static int
write_figures (pingyi_shard_t *self, MDB_txn *txn)
{
    for (size_t i = 0; i < self->touched_count; i++) {
        uint32_t slot = self->touched_list[i];
        uint8_t k[2], b[FIGURES_LEN];
        venue_key (k, self->venue_of[slot]);
        figures_pack (b, &self->work[slot]);
        MDB_val key = {2, k}, val = {FIGURES_LEN, b};
        int rc = mdb_put (txn, self->venues, &key, &val, 0);
        if (rc)
            return rc;
    }
    return 0;
}

static int
batch_txn (pingyi_shard_t *self, MDB_txn *txn, void *arg, char *err)
{
    batch_arg_t *batch = arg;
    work_reset (self);
    for (size_t i = 0; i < batch->count; i++) {
        int rc = apply_one (self, txn, &batch->items[self->order[i]]);
        if (rc)
            return rc;
    }
    int rc = write_counters (self, txn, err);
    if (rc)
        return rc;
    if ((rc = write_figures (self, txn)))
        return rc;
    if (self->work_info.sequence != self->info.sequence &&
        ((rc = meta_put_u64 (self, txn, "sequence", self->work_info.sequence)) ||
         (rc = meta_put (self, txn, "chain", self->work_info.chain, 32))))
        return rc;
    if (self->orphans_touched && (rc = meta_put_orphans (self, txn, &self->work_info)))
        return rc;
    return 0;
}

/*  After a commit: the working copies become the committed state.  */
static void
work_commit (pingyi_shard_t *self)
{
    for (size_t i = 0; i < self->touched_count; i++) {
        uint32_t slot = self->touched_list[i];
        self->figures[slot] = self->work[slot];
        self->touched[slot] = false;
    }
    self->touched_count = 0;
    self->info = self->work_info;
}

int
pingyi_shard_apply (pingyi_shard_t *self, pingyi_shard_item_t *items, size_t count, char *err)
{
    if (self->read_only)
        return pingyi_fail (err, "%s: opened read-only", self->path);
    if (self->stopped)
        return pingyi_fail (err, "shard %u has stopped taking ballots (see the earlier error)", self->shard);
    if (count == 0)
        return 0;
    if (count > self->order_cap) {
        size_t *order = realloc (self->order, count * sizeof *order);
        if (!order)
            return pingyi_fail (err, "out of memory for a batch of %zu", count);
        self->order = order;
        self->order_cap = count;
    }
    /* Fisher–Yates: the log order must not follow the order of voting.
       The draws come from a ChaCha20 stream under a fresh random key per
       batch (one getrandom, not one per envelope); j = r * (i + 1) >> 64
       is uniform to within (i + 1) / 2^64. */
    uint8_t seed[randombytes_SEEDBYTES];
    randombytes_buf (seed, sizeof seed);
    for (size_t i = 0; i < count; i++)
        self->order[i] = i;
    for (size_t i = count - 1; i > 0;) {
        uint64_t r[64];
        randombytes_buf_deterministic (r, sizeof r, seed);
        seed[0]++; /* next block of the stream: a new key, never reused */
        if (seed[0] == 0)
            seed[1]++;
        for (size_t k = 0; k < 64 && i > 0; k++, i--) {
            size_t j = (size_t) (((unsigned __int128) r[k] * (i + 1)) >> 64);
            size_t tmp = self->order[i];
            self->order[i] = self->order[j];
            self->order[j] = tmp;
        }
    }
    sodium_memzero (seed, sizeof seed);
    int64_t t0 = pingyi_now_ms ();
    batch_arg_t batch = {items, count};
    if (write_txn (self, batch_txn, &batch, "batch", err)) {
        work_reset (self);
        self->stats.batches_failed++;
        if (!self->stopped) {
            /* a failed commit may leave LMDB unusable (MDB_PANIC): stop
               rather than answer from a state nobody can vouch for */
            self->stopped = true;
            pingyi_error ("shard %u: batch of %zu not committed (%s): nothing of it is acknowledged; this "
                          "shard takes no more ballots until the worker is restarted",
                          self->shard, count, err ? err : "?");
        }
        return -1;
    }
    work_commit (self);
    pingyi_shard_stats_t *s = &self->stats;
    s->accepted += self->batch_accepted;
    s->duplicates += self->batch_duplicates;
    s->rejected += self->batch_rejected;
    for (int i = 0; i < PINGYI_SHARD_REJECT_SLOTS; i++)
        s->rejected_by[i] += self->batch_rejected_by[i];
    s->batches++;
    s->commit_ms_total += (uint64_t) self->last_commit_ms;
    if ((uint64_t) self->last_commit_ms > s->commit_ms_max)
        s->commit_ms_max = (uint64_t) self->last_commit_ms;
    s->apply_ms_total += (uint64_t) (pingyi_now_ms () - t0);
    s->sequence = self->info.sequence;
    s->map_size = self->map_size;
    log_rejections (self, items, count);
    return 0;
}

/*  --------------------------------------------------------------------------
    Venues.  */

typedef struct {
    int32_t slot;
    int64_t issued, collected, sent;
} close_arg_t;

static int
close_txn (pingyi_shard_t *self, MDB_txn *txn, void *arg, char *err)
{
    (void) err;
    close_arg_t *c = arg;
    work_reset (self);
    pingyi_venue_figures_t *f = work_figures (self, c->slot);
    f->issued = c->issued;
    f->collected = c->collected;
    f->sent = c->sent;
    f->closed = true;
    return write_figures (self, txn);
}

int
pingyi_shard_venue_close (pingyi_shard_t *self, uint32_t venue, int64_t issued, int64_t collected,
                          int64_t sent, pingyi_venue_figures_t *figures, char *err)
{
    if (self->read_only)
        return pingyi_fail (err, "%s: opened read-only", self->path);
    if (self->stopped)
        return pingyi_fail (err, "shard %u has stopped (see the earlier error)", self->shard);
    if (venue >= self->election->venue_count || self->slot_of[venue] < 0)
        return pingyi_fail (err, "venue %u is not on shard %u", venue, self->shard);
    close_arg_t c = {self->slot_of[venue], issued, collected, sent};
    if (write_txn (self, close_txn, &c, "venue close", err)) {
        work_reset (self);
        return -1;
    }
    work_commit (self);
    self->stats.venue_closes++;
    self->stats.map_size = self->map_size;
    if (figures)
        *figures = self->figures[c.slot];
    return 0;
}

int
pingyi_shard_venue_figures (pingyi_shard_t *self, uint32_t venue, pingyi_venue_figures_t *figures)
{
    if (venue >= self->election->venue_count || self->slot_of[venue] < 0)
        return -1;
    if (self->read_only) {
        MDB_txn *txn;
        if (read_txn (self, &txn, NULL))
            return -1;
        int rc = figures_load (self, txn, self->figures, NULL);
        mdb_txn_abort (txn);
        if (rc)
            return -1;
    }
    *figures = self->figures[self->slot_of[venue]];
    return 0;
}

/*  --------------------------------------------------------------------------
    Reading: info, snapshot, walks.  */

int
pingyi_shard_info (pingyi_shard_t *self, pingyi_shard_info_t *info, char *err)
{
    if (!self->read_only) {
        *info = self->info;
        return 0;
    }
    MDB_txn *txn;
    if (read_txn (self, &txn, err))
        return -1;
    int rc = meta_load (self, txn, info, err);
    mdb_txn_abort (txn);
    if (rc == -1)
        return -1;
    return rc ? lmdb_fail (self, err, "meta", rc) : 0;
}

int
pingyi_shard_snapshot (pingyi_shard_t *self, const uint8_t from[PINGYI_COUNTER_KEY_LEN], size_t max_counters,
                       pingyi_shard_snapshot_t *snap, char *err)
{
    memset (snap, 0, sizeof *snap);
    if (max_counters == 0 || max_counters > PINGYI_SHARD_SNAPSHOT_MAX)
        max_counters = PINGYI_SHARD_SNAPSHOT_MAX;
    snap->venues = calloc (self->slot_count + 1, sizeof *snap->venues);
    snap->counters = malloc (max_counters * sizeof *snap->counters);
    if (!snap->venues || !snap->counters) {
        pingyi_shard_snapshot_free (snap);
        return pingyi_fail (err, "out of memory for a snapshot");
    }
    MDB_txn *txn;
    if (read_txn (self, &txn, err)) {
        pingyi_shard_snapshot_free (snap);
        return -1;
    }
    MDB_cursor *c = NULL;
    int rc = meta_load (self, txn, &snap->info, err);
    if (rc == 0)
        rc = figures_load (self, txn, snap->venues, err);
    if (rc == 0)
        rc = mdb_cursor_open (txn, self->counts, &c);
    if (rc == 0) {
        snap->venue_count = self->slot_count;
        /* from the row holding `from`, its counters below `from` skipped */
        uint8_t start[ROW_KEY_LEN] = {0};
        if (from)
            memcpy (start, from, sizeof start);
        MDB_val k = {ROW_KEY_LEN, start}, v;
        rc = mdb_cursor_get (c, &k, &v, MDB_SET_RANGE);
        while (rc == 0 && !snap->more) {
            if (k.mv_size != ROW_KEY_LEN || v.mv_size != self->row_cells * 4) {
                rc = MDB_CORRUPTED;
                break;
            }
            const uint8_t *cells = v.mv_data;
            for (size_t i = 0; i < self->row_cells; i++) {
                uint32_t n = get_le32 (cells + 4 * i);
                if (!n)
                    continue;
                uint8_t key[PINGYI_COUNTER_KEY_LEN];
                row_cell_key (self, k.mv_data, i, key);
                if (from && memcmp (key, from, PINGYI_COUNTER_KEY_LEN) < 0)
                    continue;
                if (snap->counter_count == max_counters) {
                    snap->more = true;
                    memcpy (snap->next, key, PINGYI_COUNTER_KEY_LEN);
                    break;
                }
                pingyi_counter_t *out = &snap->counters[snap->counter_count++];
                memcpy (out->key, key, PINGYI_COUNTER_KEY_LEN);
                out->count = n;
            }
            if (!snap->more)
                rc = mdb_cursor_get (c, &k, &v, MDB_NEXT);
        }
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (c)
        mdb_cursor_close (c);
    mdb_txn_abort (txn);
    if (rc) {
        pingyi_shard_snapshot_free (snap);
        return rc == -1 ? -1 : lmdb_fail (self, err, "snapshot", rc);
    }
    return 0;
}

void
pingyi_shard_snapshot_free (pingyi_shard_snapshot_t *snap)
{
    if (!snap)
        return;
    free (snap->venues);
    free (snap->counters);
    snap->venues = NULL;
    snap->counters = NULL;
    snap->venue_count = snap->counter_count = 0;
}

/*  Walk one db in key order; step returns non-zero to stop (that value is
    returned), or -2 for a malformed row.  */
typedef int (row_fn) (pingyi_shard_t *self, const MDB_val *k, const MDB_val *v, void *fn, void *arg);

static int
walk (pingyi_shard_t *self, MDB_dbi dbi, row_fn *step, void *fn, void *arg, const char *what, char *err)
{
    MDB_txn *txn;
    if (read_txn (self, &txn, err))
        return -1;
    MDB_cursor *c;
    int rc = mdb_cursor_open (txn, dbi, &c);
    if (rc) {
        mdb_txn_abort (txn);
        return lmdb_fail (self, err, what, rc);
    }
    MDB_val k, v;
    int result = 0;
    for (rc = mdb_cursor_get (c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get (c, &k, &v, MDB_NEXT)) {
        result = step (self, &k, &v, fn, arg);
        if (result)
            break;
    }
    mdb_cursor_close (c);
    mdb_txn_abort (txn);
    if (result == -2)
        return pingyi_fail (err, "%s: %s: malformed row", self->path, what);
    if (result)
        return result;
    if (rc != MDB_NOTFOUND)
        return lmdb_fail (self, err, what, rc);
    return 0;
}

/*  A counts row's non-zero counters, in key order, one call each.  */
static int
counter_step (pingyi_shard_t *self, const MDB_val *k, const MDB_val *v, void *fn, void *arg)
{
    if (k->mv_size != ROW_KEY_LEN || v->mv_size != self->row_cells * 4)
        return -2;
    const uint8_t *cells = v->mv_data;
    for (size_t i = 0; i < self->row_cells; i++) {
        uint32_t n = get_le32 (cells + 4 * i);
        if (!n)
            continue;
        uint8_t key[PINGYI_COUNTER_KEY_LEN];
        row_cell_key (self, k->mv_data, i, key);
        int rc = ((pingyi_shard_counter_fn *) fn) (key, n, arg);
        if (rc)
            return rc;
    }
    return 0;
}

int
pingyi_shard_foreach_counter (pingyi_shard_t *self, pingyi_shard_counter_fn *fn, void *arg, char *err)
{
    return walk (self, self->counts, counter_step, (void *) fn, arg, "counts", err);
}

int
pingyi_shard_foreach_venue (pingyi_shard_t *self, pingyi_shard_figures_fn *fn, void *arg, char *err)
{
    pingyi_venue_figures_t *all = calloc (self->slot_count + 1, sizeof *all);
    if (!all)
        return pingyi_fail (err, "out of memory");
    MDB_txn *txn;
    if (read_txn (self, &txn, err)) {
        free (all);
        return -1;
    }
    int rc = figures_load (self, txn, all, err);
    mdb_txn_abort (txn);
    if (rc) {
        free (all);
        return rc == -1 ? -1 : lmdb_fail (self, err, "venues", rc);
    }
    int result = 0;
    for (size_t s = 0; s < self->slot_count && !result; s++)
        result = fn (&all[s], arg);
    free (all);
    return result;
}

static int
id_step (pingyi_shard_t *self, const MDB_val *k, const MDB_val *v, void *fn, void *arg)
{
    (void) self;
    if (k->mv_size != IDS_KEY_LEN || v->mv_size != IDS_VALUE_LEN)
        return -2;
    const uint8_t *kp = k->mv_data, *vp = v->mv_data;
    pingyi_shard_id_t row;
    row.venue = (uint32_t) kp[0] << 8 | kp[1];
    memcpy (row.ballot_id, kp + 2, PINGYI_BALLOT_ID_LEN);
    row.status = vp[0];
    row.reason = vp[1];
    row.sequence = get_le64 (vp + 2);
    return ((pingyi_shard_id_fn *) fn) (&row, arg);
}

int
pingyi_shard_foreach_id (pingyi_shard_t *self, pingyi_shard_id_fn *fn, void *arg, char *err)
{
    return walk (self, self->ids, id_step, (void *) fn, arg, "ids", err);
}

static int
log_step (pingyi_shard_t *self, const MDB_val *k, const MDB_val *v, void *fn, void *arg)
{
    (void) self;
    if (k->mv_size != 8)
        return -2;
    uint64_t seq;
    memcpy (&seq, k->mv_data, 8);
    return ((pingyi_shard_log_fn *) fn) (seq, v->mv_data, v->mv_size, arg);
}

int
pingyi_shard_foreach_log (pingyi_shard_t *self, pingyi_shard_log_fn *fn, void *arg, char *err)
{
    return walk (self, self->log, log_step, (void *) fn, arg, "log", err);
}

/*  --------------------------------------------------------------------------
    Recount.

    One read transaction for everything, so log, counts, ids and meta are
    the same commit even while a worker writes.  The log's entries are
    listed first (pointers into the map, valid while the transaction
    lives); then threads re-open, decode and count ranges of them, each
    into its own grid, while this thread recomputes the hash chain (which
    is sequential by construction); then the grids are summed and compared
    with the stored counters.  Every step is the same code the worker uses
    (envelope open, pingyi_ballot_decode, pingyi_ballot_count).  */

#define RECOUNT_THREADS_MAX 16
#define RECOUNT_PER_THREAD_MIN 4096 /* fewer entries than this: not worth a thread */

typedef struct {
    uint64_t seq;
    const uint8_t *bytes;
    size_t len;
} log_entry_t;

/*  One recount thread's share: entries [first, first + count).  */
typedef struct {
    pingyi_shard_t *self;
    uint8_t (*keys)[32];
    const log_entry_t *entries;
    size_t first, count;
    grid_t grid;
    tally_t spill;
    uint64_t *accepted; /* per slot */
    uint64_t *blank;
    uint64_t reopened, failed;
    uint64_t first_failed; /* sequence of the first entry that failed, when failed */
    bool oom;
    pingyi_ballot_t ballot;
    uint8_t body[PINGYI_ENVELOPE_MAX];
} recount_part_t;

typedef struct {
    pingyi_shard_t *self;
    pingyi_shard_recount_t *report;
    grid_t *grid;           /* the sum of the parts' grids (cells NULL: none) */
    tally_t *spill;         /* the sum of the parts' spills */
    uint64_t meta_sequence; /* meta.sequence in the recount's transaction */
} recount_t;

static void problem (pingyi_shard_recount_t *report, const char *fmt, ...) PINGYI_PRINTF (2, 3);

static void
problem (pingyi_shard_recount_t *report, const char *fmt, ...)
{
    if (report->first_problem[0])
        return;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (report->first_problem, sizeof report->first_problem, fmt, ap);
    va_end (ap);
}

static void *
recount_part_main (void *arg)
{
    recount_part_t *r = arg;
    pingyi_shard_t *self = r->self;
    const pingyi_election_t *e = self->election;
    int last = -1; /* venue look-up cache of this thread */
    for (size_t i = r->first; i < r->first + r->count; i++) {
        const log_entry_t *le = &r->entries[i];
        pingyi_envelope_t env;
        char perr[PINGYI_ERR_MAX];
        int venue = -1;
        size_t body_len = 0;
        bool ok = pingyi_envelope_parse (le->bytes, le->len, &env, perr) == 0;
        if (ok) {
            if (last >= 0 && strlen (e->venues[last].id) == env.venue_len &&
                memcmp (e->venues[last].id, env.venue, env.venue_len) == 0)
                venue = last;
            else
                venue = last = pingyi_election_venue (e, env.venue, env.venue_len);
        }
        ok = ok && venue >= 0 && self->slot_of[venue] >= 0 &&
             memcmp (env.fingerprint, e->fingerprint, PINGYI_FP_LEN) == 0 &&
             env.ciphertext_len >= PINGYI_MAC_LEN && env.ciphertext_len - PINGYI_MAC_LEN <= sizeof r->body &&
             pingyi_envelope_open (&env, r->keys[self->slot_of[venue]], r->body, sizeof r->body, &body_len) ==
                 0 &&
             pingyi_ballot_decode (e, (size_t) venue, r->body, body_len, &r->ballot, perr) ==
                 PINGYI_REJECT_NONE;
        if (!ok) {
            if (!r->failed++)
                r->first_failed = le->seq;
            continue;
        }
        r->reopened++;
        int32_t slot = self->slot_of[venue];
        r->accepted[slot]++;
        if (pingyi_ballot_is_blank (&r->ballot, e))
            r->blank[slot]++;
        if (r->grid.cells)
            grid_count (&r->grid, &r->ballot, e, (size_t) slot);
        else
            pingyi_ballot_count (&r->ballot, e, (size_t) venue, tally_count_fn, &r->spill);
    }
    sodium_memzero (r->body, sizeof r->body);
    sodium_memzero (&r->ballot, sizeof r->ballot);
    r->oom = r->spill.oom;
    return NULL;
}

static int
recount_counter (const uint8_t key[PINGYI_COUNTER_KEY_LEN], uint64_t count, void *arg)
{
    recount_t *r = arg;
    pingyi_shard_t *self = r->self;
    uint64_t k = get_be64 (key);
    uint64_t want = 0;
    long i = r->grid->cells ? grid_index (r->grid, self->election, self->slot_of, k) : -1;
    if (i >= 0) {
        want = r->grid->cells[i];
        r->grid->cells[i] = 0; /* taken: what is left after the walk is missing from the db */
    }
    tally_entry_t *e = tally_find (r->spill, k, false);
    if (e) {
        want += e->count;
        e->seen = true;
    }
    r->report->counters_checked++;
    if (want != count) {
        r->report->counters_differ++;
        problem (r->report, "counter %016llx: stored %llu, recount gives %llu", (unsigned long long) k,
                 (unsigned long long) count, (unsigned long long) want);
    }
    return 0;
}

static int
recount_id (const pingyi_shard_id_t *row, void *arg)
{
    recount_t *r = arg;
    if (row->status == PINGYI_ACK_ACCEPTED) {
        r->report->ids_accepted++;
        if (row->sequence == 0 || row->sequence > r->meta_sequence)
            problem (r->report, "ids row points at log sequence %llu, outside the log",
                     (unsigned long long) row->sequence);
    }
    return 0;
}

/*  Walk db inside txn with a step function (as `walk`, in a given txn).  */
static int
walk_in (pingyi_shard_t *self, MDB_txn *txn, MDB_dbi dbi, row_fn *step, void *fn, void *arg)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open (txn, dbi, &c);
    if (rc)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get (c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get (c, &k, &v, MDB_NEXT))
        if (step (self, &k, &v, fn, arg) == -2) {
            rc = MDB_CORRUPTED;
            break;
        }
    mdb_cursor_close (c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static size_t
recount_threads (size_t entries)
{
    long cpus = sysconf (_SC_NPROCESSORS_ONLN);
    size_t n = cpus > 0 ? (size_t) cpus : 1;
    if (n > RECOUNT_THREADS_MAX)
        n = RECOUNT_THREADS_MAX;
    if (n > entries / RECOUNT_PER_THREAD_MIN)
        n = entries / RECOUNT_PER_THREAD_MIN;
    return n ? n : 1;
}

int
pingyi_shard_recount (pingyi_shard_t *self, const pingyi_keyring_t *keyring,
                      const uint8_t election_secret[PINGYI_KEY_LEN], pingyi_shard_recount_t *report,
                      char *err)
{
    memset (report, 0, sizeof *report);
    size_t nslots = self->slot_count + 1;
    recount_part_t parts[RECOUNT_THREADS_MAX];
    pthread_t threads[RECOUNT_THREADS_MAX];
    size_t nparts = 0, started = 0;
    memset (parts, 0, sizeof parts);
    uint8_t (*keys)[32] = calloc (nslots, sizeof *keys);
    pingyi_venue_figures_t *stored = calloc (nslots, sizeof *stored);
    log_entry_t *entries = NULL;
    size_t entry_count = 0, entry_cap = 0;
    MDB_txn *txn = NULL;
    int rc = -1;
    if (!keys || !stored) {
        pingyi_fail (err, "out of memory");
        goto done;
    }
    if (compute_keys (self, keys, keyring, election_secret, err) || read_txn (self, &txn, err))
        goto done;
    pingyi_shard_info_t info;
    int lrc = meta_load (self, txn, &info, err);
    if (lrc == 0)
        lrc = figures_load (self, txn, stored, err);

    /* the log's entries, in key order */
    MDB_cursor *c = NULL;
    MDB_val k, v;
    if (lrc == 0 && (lrc = mdb_cursor_open (txn, self->log, &c)) == 0) {
        for (lrc = mdb_cursor_get (c, &k, &v, MDB_FIRST); lrc == 0;
             lrc = mdb_cursor_get (c, &k, &v, MDB_NEXT)) {
            if (k.mv_size != 8) {
                lrc = MDB_CORRUPTED;
                break;
            }
            if (entry_count == entry_cap) {
                size_t cap = entry_cap ? entry_cap * 2 : 65536;
                log_entry_t *grown = realloc (entries, cap * sizeof *grown);
                if (!grown) {
                    lrc = pingyi_fail (err, "out of memory listing the log");
                    break;
                }
                entries = grown;
                entry_cap = cap;
            }
            log_entry_t *le = &entries[entry_count++];
            memcpy (&le->seq, k.mv_data, 8);
            le->bytes = v.mv_data;
            le->len = v.mv_size;
        }
        mdb_cursor_close (c);
        lrc = lrc == MDB_NOTFOUND ? 0 : lrc;
    }

    /* re-open, decode and count in parallel; the chain here, meanwhile */
    if (lrc == 0) {
        nparts = recount_threads (entry_count);
        for (size_t t = 0; t < nparts && lrc == 0; t++) {
            recount_part_t *p = &parts[t];
            p->self = self;
            p->keys = keys;
            p->entries = entries;
            p->first = entry_count * t / nparts;
            p->count = entry_count * (t + 1) / nparts - p->first;
            p->accepted = calloc (nslots, sizeof *p->accepted);
            p->blank = calloc (nslots, sizeof *p->blank);
            if (!p->accepted || !p->blank)
                lrc = pingyi_fail (err, "out of memory for the recount");
            else if (grid_init (&p->grid, self->election, self->venue_of, self->slot_count))
                memset (&p->grid, 0, sizeof p->grid); /* too large: the hash table counts */
        }
        for (size_t t = 0; t < nparts && lrc == 0; t++)
            if (pthread_create (&threads[t], NULL, recount_part_main, &parts[t]) == 0)
                started++;
            else
                recount_part_main (&parts[t]); /* no thread: do it here */
        uint64_t expect = 1;
        for (size_t i = 0; i < entry_count; i++) {
            const log_entry_t *le = &entries[i];
            report->log_entries++;
            if (le->seq != expect)
                problem (report, "log key %llu where %llu was expected", (unsigned long long) le->seq,
                         (unsigned long long) expect);
            expect = le->seq + 1;
            pingyi_shard_chain_step (report->chain, report->chain, le->seq, le->bytes, le->len);
        }
        for (size_t t = 0; t < started; t++)
            pthread_join (threads[t], NULL);
        started = 0;
        report->sequence_ok = expect == report->log_entries + 1;
    }

    /* the parts summed into the first */
    recount_part_t *sum = &parts[0];
    for (size_t t = 0; t < nparts && lrc == 0; t++) {
        recount_part_t *p = &parts[t];
        if (p->oom)
            lrc = pingyi_fail (err, "out of memory for the recount");
        report->reopened += p->reopened;
        report->failed += p->failed;
        if (p->failed)
            problem (report, "log entry %llu no longer opens or decodes as a ballot",
                     (unsigned long long) p->first_failed);
        if (t == 0)
            continue;
        for (size_t sl = 0; sl < self->slot_count; sl++) {
            sum->accepted[sl] += p->accepted[sl];
            sum->blank[sl] += p->blank[sl];
        }
        if (sum->grid.cells)
            for (size_t i = 0; i < sum->grid.size; i++)
                sum->grid.cells[i] += p->grid.cells[i];
        for (size_t i = 0; i < p->spill.cap; i++)
            if (p->spill.slots[i].count)
                tally_add (&sum->spill, p->spill.slots[i].key, p->spill.slots[i].count);
        if (sum->spill.oom)
            lrc = pingyi_fail (err, "out of memory for the recount");
    }

    recount_t r = {.self = self,
                   .report = report,
                   .grid = &sum->grid,
                   .spill = &sum->spill,
                   .meta_sequence = lrc == 0 ? info.sequence : 0};
    if (lrc == 0)
        lrc = walk_in (self, txn, self->counts, counter_step, (void *) recount_counter, &r);
    if (lrc == 0)
        lrc = walk_in (self, txn, self->ids, id_step, (void *) recount_id, &r);
    mdb_txn_abort (txn);
    txn = NULL;
    if (lrc) {
        if (lrc != -1)
            lmdb_fail (self, err, "recount", lrc);
        goto done;
    }
    /* counters the recount made that the db does not hold */
    if (sum->grid.cells) {
        size_t slot = 0;
        for (size_t i = 0; i < sum->grid.size; i++)
            if (sum->grid.cells[i]) {
                uint64_t key =
                    grid_key (&sum->grid, self->election, self->venue_of, self->slot_count, i, &slot);
                report->counters_checked++;
                report->counters_differ++;
                problem (report, "counter %016llx: missing, recount gives %llu", (unsigned long long) key,
                         (unsigned long long) sum->grid.cells[i]);
            }
    }
    for (size_t i = 0; i < sum->spill.cap; i++) {
        tally_entry_t *e = &sum->spill.slots[i];
        if (e->count && !e->seen) {
            report->counters_checked++;
            report->counters_differ++;
            problem (report, "counter %016llx: missing, recount gives %llu", (unsigned long long) e->key,
                     (unsigned long long) e->count);
        }
    }
    report->sequence_ok = report->sequence_ok && info.sequence == report->log_entries &&
                          report->ids_accepted == report->log_entries;
    if (!report->sequence_ok)
        problem (report, "meta sequence %llu, log entries %llu, accepted ids %llu",
                 (unsigned long long) info.sequence, (unsigned long long) report->log_entries,
                 (unsigned long long) report->ids_accepted);
    report->chain_ok = memcmp (report->chain, info.chain, 32) == 0;
    if (!report->chain_ok)
        problem (report, "chain head differs from the chain recomputed over the log");
    report->figures_ok = true;
    for (size_t sl = 0; sl < self->slot_count; sl++)
        if (stored[sl].accepted != sum->accepted[sl] || stored[sl].blank != sum->blank[sl]) {
            report->figures_ok = false;
            problem (report, "venue %s: figures say %llu accepted (%llu blank), the log gives %llu (%llu)",
                     self->election->venues[self->venue_of[sl]].id, (unsigned long long) stored[sl].accepted,
                     (unsigned long long) stored[sl].blank, (unsigned long long) sum->accepted[sl],
                     (unsigned long long) sum->blank[sl]);
        }
    report->ok = report->sequence_ok && report->chain_ok && report->figures_ok && report->failed == 0 &&
                 report->counters_differ == 0 && !report->first_problem[0];
    rc = 0;
done:
    for (size_t t = 0; t < started; t++)
        pthread_join (threads[t], NULL);
    if (txn)
        mdb_txn_abort (txn);
    for (size_t t = 0; t < RECOUNT_THREADS_MAX; t++) {
        free (parts[t].accepted);
        free (parts[t].blank);
        grid_free (&parts[t].grid);
        tally_free (&parts[t].spill);
    }
    if (keys) {
        sodium_memzero (keys, nslots * sizeof *keys);
        free (keys);
    }
    free (stored);
    free (entries);
    return rc;
}

/*  --------------------------------------------------------------------------
    Accessors.  */

void
pingyi_shard_stats (const pingyi_shard_t *self, pingyi_shard_stats_t *stats)
{
    *stats = self->stats;
    stats->stopped = self->stopped;
    stats->map_size = self->map_size;
    stats->sequence = self->info.sequence;
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
