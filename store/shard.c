/*  shard.c — one shard: an LMDB environment applied to in batches.

    The job: take a batch of envelopes, and in ONE write transaction dedupe
    every (venue, ballot id), open and validate the new ones, store the
    accepted envelopes under their (venue, ballot id), add them to the log
    digest, add the counter deltas and the venue figures, release what has
    become releasable; commit durably; only then hand the results back for
    acknowledgement.  Because dedupe and counting share the transaction, a
    resend after any crash is answered "duplicate" and never counted twice,
    and a ballot the client holds is never lost: what is not committed is
    not acknowledged, so the client resends it.

    Anonymity.  Nothing stored records the order in which ballots came: the
    envelopes are keyed by (venue, random ballot id), the digest is a sum
    (LtHash16) that no order changes, the counters are sums, and no
    per-ballot sequence or time exists.  What may be read outside the shard
    (pingyi_shard_snapshot) is the *released* state: a venue's counters and
    figures move only when k or more of its accepted ballots are unreleased
    (k = the definition's k_anonymity), or at its close; the sequence and
    digest published are those of the last settled point (nothing pending
    anywhere).  So watching snapshots never shows a venue move by fewer than
    k ballots before its close.

    Invariants (checked at open, cheaply, and fully by pingyi_shard_recount):
    - meta.sequence = accepted rows of `ids` = the venues' current accepted;
      rows of `ids` = that + the venues' stored rejections.
    - meta.lthash = the LtHash16 of the accepted envelopes (docs/worker.md).
    - counts + pending = what re-opening and re-counting the envelopes gives;
      a venue has pending rows only while it has unreleased ballots.
    - released figures never ahead of the current ones; the settled point
      equals the current sequence and digest whenever nothing is pending.

    Durability: default LMDB flags (no NOSYNC, no WRITEMAP/MAPASYNC): a
    commit returns after its fsyncs.  No ZeroMQ here and no main(): the
    offline tools compile this file into themselves.  */
#define _GNU_SOURCE
#include "shard.h"

#include "envelope.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

_Static_assert(PINGYI_REJECT_COUNT_ <= PINGYI_SHARD_REJECT_SLOTS, "reject codes must fit rejected_by[]");
_Static_assert(PINGYI_MAX_CATEGORIES <= PINGYI_FIGURES_CATEGORIES, "categories must fit by_category[]");

#define FIGURES_FIXED 185 /* a figures record before by_category, docs/worker.md */
#define FIGURES_MAX (FIGURES_FIXED + 8 * PINGYI_FIGURES_CATEGORIES)
#define IDS_KEY_LEN (2 + PINGYI_BALLOT_ID_LEN)
#define IDS_HEAD_LEN 2      /* status, reason; then the envelope when accepted */
#define REJECT_LOG_LINES 10 /* rejection lines logged per code per shard */
#define STATE_LEN PINGYI_SHARD_DIGEST_STATE
#define REFUSED_KEY_LEN (2 + PINGYI_SHARD_REFUSED_HASH_LEN) /* venue u16 BE, hash of the envelope */
#define REFUSED_ORPHAN 0xffffu /* venue of a refused row charged to no venue of this shard */

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
    int lock_fd; /* DATA/shard-NN/worker.lock, flock'ed; -1 when read-only */
    MDB_env *env;
    MDB_dbi ids, counts, pending, venues, meta, refused, reopens;
    bool has_refused; /* false: a read-only open of a schema-3 shard made before `refused` */
    bool has_reopens; /* false: a read-only open of a shard made before `reopens` */
    size_t map_size;
    uint64_t k; /* the release step: the definition's k_anonymity */

    /* the venues of this shard: slot <-> venue index */
    int32_t *slot_of;   /* per venue index: slot, or -1 */
    uint32_t *venue_of; /* per slot: venue index */
    size_t slot_count;
    uint8_t (*keys)[32]; /* per slot: envelope key (writable shards only) */
    size_t categories;   /* by_category entries: the election's categories */
    size_t record_len;   /* one serialized figures record */

    /* committed state, and the working copy of a transaction */
    pingyi_shard_info_t info;
    pingyi_shard_info_t work_info;
    uint8_t state[STATE_LEN]; /* the digest state (meta.lthash) */
    uint8_t work_state[STATE_LEN];
    bool orphans_touched;
    /* remembered refusals (`refused` rows) and refusals counted without a
       row (beyond the cap, or counted before `refused` existed), per slot,
       the orphan bucket at index slot_count; committed and working copies */
    uint64_t *refused_rows, *work_refused_rows;
    uint64_t *refused_loose, *work_refused_loose;
    bool refused_touched;
    uint64_t refused_cap;             /* rows per venue (and orphan bucket) */
    pingyi_venue_figures_t *figures;  /* per slot: current */
    pingyi_venue_figures_t *released; /* per slot: as released */
    pingyi_venue_figures_t *work;
    pingyi_venue_figures_t *work_released;
    bool *touched;
    bool *releasing; /* per slot: this transaction releases it */
    uint32_t *touched_list;
    size_t touched_count;

    /* batch scratch, reused: no per-ballot state survives a batch */
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
    uint64_t batch_accepted, batch_duplicates, batch_rejected, batch_unstored;
    uint64_t batch_rejected_by[PINGYI_SHARD_REJECT_SLOTS];
    int last_venue; /* look-up cache: venues repeat within a batch */
    int64_t last_commit_ms;

    uint64_t logged_by[PINGYI_SHARD_REJECT_SLOTS];
    pingyi_shard_stats_t stats;
};

/*  --------------------------------------------------------------------------
    Byte order helpers.  Values are little-endian; keys that must sort are
    big-endian.  */

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
    Serialization of figures (layout in docs/worker.md).  A venue's `venues`
    value is two records of the same layout: its current figures, then its
    released figures.  A record is FIGURES_FIXED bytes, then by_category as
    one u64 LE per category of the election (their number is fixed by the
    fingerprint, so every record of a shard has the same length).  */

static void
figures_empty (pingyi_shard_t *self, pingyi_venue_figures_t *f, uint32_t venue)
{
    memset (f, 0, sizeof *f);
    f->venue = venue;
    f->issued = f->collected = f->sent = -1;
    f->category_count = (uint32_t) self->categories;
}

static void
figures_pack (const pingyi_shard_t *self, uint8_t *out, const pingyi_venue_figures_t *f)
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
    for (size_t c = 0; c < self->categories; c++)
        put_le64 (out + FIGURES_FIXED + 8 * c, f->by_category[c]);
}

static void
figures_unpack (pingyi_shard_t *self, pingyi_venue_figures_t *f, uint32_t venue, const uint8_t *p)
{
    figures_empty (self, f, venue);
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
    for (size_t c = 0; c < self->categories; c++)
        f->by_category[c] = get_le64 (p + FIGURES_FIXED + 8 * c);
}

static void
venue_key (uint8_t out[2], uint32_t venue)
{
    out[0] = (uint8_t) (venue >> 8);
    out[1] = (uint8_t) venue;
}

/*  The rejections that are stored in `ids` (step 8 of docs/worker.md: the
    envelope opened, so the refusal is authenticated).  The open check
    counts them: rows of `ids` = accepted + these, per the figures.  */
static bool
stored_reject (unsigned code)
{
    return code == PINGYI_REJECT_MALFORMED || code == PINGYI_REJECT_NOT_ON_FORM ||
           code == PINGYI_REJECT_BAD_CATEGORY || code == PINGYI_REJECT_BAD_MARK;
}

/*  The refusals remembered by the envelope's bytes in `refused` (made
    before the envelope opens, or VENUE_CLOSED): every code but NONE and
    the stored ones.  */
static bool
refusal_code (unsigned code)
{
    return code != PINGYI_REJECT_NONE && code < PINGYI_REJECT_COUNT_ && !stored_reject (code);
}

/*  Sum of a rejected_by[] over the refusal codes.  */
static uint64_t
refusals_of (const uint64_t *rejected_by)
{
    uint64_t n = 0;
    for (unsigned c = 0; c < PINGYI_SHARD_REJECT_SLOTS; c++)
        if (refusal_code (c))
            n += rejected_by[c];
    return n;
}

/*  --------------------------------------------------------------------------
    Small helpers.  */

void
pingyi_shard_path (char *out, size_t cap, const char *data_dir, uint32_t shard)
{
    snprintf (out, cap, "%s/shard-%02u", data_dir, shard);
}

/*  a += b, lane by lane (u16 little-endian, mod 2^16): the digest state of
    the union of two sets.  On a little-endian host the lanes are native
    u16s, added in a loop the compiler vectorises.  */
static void
state_sum (uint8_t a[STATE_LEN], const uint8_t b[STATE_LEN])
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint16_t x[STATE_LEN / 2], y[STATE_LEN / 2];
    memcpy (x, a, STATE_LEN);
    memcpy (y, b, STATE_LEN);
    for (size_t i = 0; i < STATE_LEN / 2; i++)
        x[i] = (uint16_t) (x[i] + y[i]);
    memcpy (a, x, STATE_LEN);
#else
    for (size_t i = 0; i < STATE_LEN; i += 2) {
        unsigned lane = (unsigned) (a[i] | a[i + 1] << 8) + (unsigned) (b[i] | b[i + 1] << 8);
        a[i] = (uint8_t) lane;
        a[i + 1] = (uint8_t) (lane >> 8);
    }
#endif
}

/*  LtHash16 (docs/worker.md, "The log digest").  A sum of per-envelope
    vectors, so the digest of a set of envelopes does not depend on the
    order they were added in: a hash chain would record the order of
    voting.  Lanes add mod 2^16 (little-endian u16); a ChaCha20 keystream
    under the envelope's BLAKE2b-256 spreads each envelope over all 1024
    lanes.  */
void
pingyi_shard_digest_add (uint8_t state[PINGYI_SHARD_DIGEST_STATE], const uint8_t *env, size_t len)
{
    static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
    uint8_t h[32];
    uint8_t v[PINGYI_SHARD_DIGEST_STATE];
    crypto_generichash (h, sizeof h, env, len, NULL, 0);
    crypto_stream_chacha20_ietf (v, sizeof v, nonce, h);
    state_sum (state, v);
}

void
pingyi_shard_digest (uint8_t out[PINGYI_SHARD_DIGEST_LEN], const uint8_t state[PINGYI_SHARD_DIGEST_STATE])
{
    crypto_generichash (out, PINGYI_SHARD_DIGEST_LEN, state, PINGYI_SHARD_DIGEST_STATE, NULL, 0);
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
    public keys and this shard's box secret: computed once, at open.  */
static int
compute_keys (pingyi_shard_t *self, uint8_t (*keys)[32], const pingyi_keyring_t *keyring,
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

/*  The `refused` accounting: rows and refusals counted without a row, per
    slot and the orphan bucket last, u64 LE each.  */
static int
meta_put_refused (pingyi_shard_t *self, MDB_txn *txn, const uint64_t *rows, const uint64_t *loose)
{
    size_t n = self->slot_count + 1;
    uint8_t *b = malloc (16 * n);
    if (!b)
        return ENOMEM;
    for (size_t i = 0; i < n; i++) {
        put_le64 (b + 8 * i, rows[i]);
        put_le64 (b + 8 * (n + i), loose[i]);
    }
    int rc = meta_put (self, txn, "refused_rows", b, 8 * n);
    if (rc == 0)
        rc = meta_put (self, txn, "refused_loose", b + 8 * n, 8 * n);
    free (b);
    return rc;
}

static int
meta_put_settled (pingyi_shard_t *self, MDB_txn *txn, const pingyi_shard_info_t *info)
{
    int rc = meta_put_u64 (self, txn, "settled_sequence", info->sequence);
    return rc ? rc : meta_put (self, txn, "settled_digest", info->digest, PINGYI_SHARD_DIGEST_LEN);
}

/*  Read and check meta into info (all but pending, which the figures give)
    and the digest state into state (NULL: not wanted).  Returns 0,
    MDB_NOTFOUND when the shard is new (no schema yet), an LMDB code, or -1
    with err.  */
static int
meta_load (pingyi_shard_t *self, MDB_txn *txn, pingyi_shard_info_t *info, uint8_t *state, char *err)
{
    const pingyi_election_t *e = self->election;
    MDB_val v;
    int rc = meta_get (self, txn, "schema", &v);
    if (rc)
        return rc;
    uint32_t schema = v.mv_size == 4 ? get_le32 (v.mv_data) : 0;
    if (schema != PINGYI_SHARD_SCHEMA)
        return pingyi_fail (err, "%s: storage schema %u, this worker reads schema %u%s", self->path, schema,
                            PINGYI_SHARD_SCHEMA,
                            schema && schema < PINGYI_SHARD_SCHEMA
                                ? " (schema 3 keeps no order of voting and releases figures k-anonymously; "
                                  "there is no in-place upgrade: finish that count with the release that "
                                  "wrote it, or count into a new --data directory)"
                                : ": refusing to start");
    memset (info, 0, sizeof *info);
    MDB_val fp, sh, sc, seq, lt, gen, sseq, sdig;
    if (meta_get (self, txn, "fingerprint", &fp) || fp.mv_size != PINGYI_FP_LEN ||
        meta_get (self, txn, "shard", &sh) || sh.mv_size != 4 || meta_get (self, txn, "shard_count", &sc) ||
        sc.mv_size != 4 || meta_get (self, txn, "sequence", &seq) || seq.mv_size != 8 ||
        meta_get (self, txn, "lthash", &lt) || lt.mv_size != STATE_LEN ||
        meta_get (self, txn, "generation", &gen) || gen.mv_size != 8 ||
        meta_get (self, txn, "settled_sequence", &sseq) || sseq.mv_size != 8 ||
        meta_get (self, txn, "settled_digest", &sdig) || sdig.mv_size != PINGYI_SHARD_DIGEST_LEN)
        return pingyi_fail (err,
                            "%s: meta is incomplete or damaged (fingerprint, shard, shard_count, sequence, "
                            "lthash, generation, settled_sequence, settled_digest): refusing to start",
                            self->path);
    memcpy (info->fingerprint, fp.mv_data, PINGYI_FP_LEN);
    info->shard = get_le32 (sh.mv_data);
    info->shard_count = get_le32 (sc.mv_data);
    info->current_sequence = get_le64 (seq.mv_data);
    pingyi_shard_digest (info->current_digest, lt.mv_data);
    if (state)
        memcpy (state, lt.mv_data, STATE_LEN);
    info->generation = get_le64 (gen.mv_data);
    info->sequence = get_le64 (sseq.mv_data);
    memcpy (info->digest, sdig.mv_data, PINGYI_SHARD_DIGEST_LEN);
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

static void
reopen_key (uint8_t out[6], uint32_t venue, uint32_t n)
{
    out[0] = (uint8_t) (venue >> 8);
    out[1] = (uint8_t) venue;
    out[2] = (uint8_t) (n >> 24);
    out[3] = (uint8_t) (n >> 16);
    out[4] = (uint8_t) (n >> 8);
    out[5] = (uint8_t) n;
}

/*  A venue's reopens: its rows in `reopens` (numbered 1..n).  */
static int
reopens_count (pingyi_shard_t *self, MDB_txn *txn, uint32_t venue, uint32_t *n)
{
    *n = 0;
    if (!self->has_reopens)
        return 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open (txn, self->reopens, &c);
    if (rc)
        return rc;
    uint8_t k[6];
    reopen_key (k, venue, 0);
    MDB_val key = {sizeof k, k}, val;
    rc = mdb_cursor_get (c, &key, &val, MDB_SET_RANGE);
    while (rc == 0 && key.mv_size == 6 && memcmp (key.mv_data, k, 2) == 0) {
        (*n)++;
        rc = mdb_cursor_get (c, &key, &val, MDB_NEXT);
    }
    mdb_cursor_close (c);
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/*  Figures of every slot as stored (or empty) in txn: current into cur,
    released into rel (either may be NULL).  reopens is not in the record:
    it is the venue's row count in `reopens` (a reopen always releases, so
    current and released agree).  */
static int
figures_load (pingyi_shard_t *self, MDB_txn *txn, pingyi_venue_figures_t *cur, pingyi_venue_figures_t *rel,
              char *err)
{
    for (size_t s = 0; s < self->slot_count; s++) {
        uint8_t k[2];
        venue_key (k, self->venue_of[s]);
        MDB_val key = {2, k}, v;
        int rc = mdb_get (txn, self->venues, &key, &v);
        if (rc == MDB_NOTFOUND) {
            if (cur)
                figures_empty (self, &cur[s], self->venue_of[s]);
            if (rel)
                figures_empty (self, &rel[s], self->venue_of[s]);
            continue;
        }
        if (rc)
            return rc;
        if (v.mv_size != 2 * self->record_len)
            return pingyi_fail (err, "%s: venue %s: stored figures have %zu bytes, expected %zu", self->path,
                                self->election->venues[self->venue_of[s]].id, v.mv_size,
                                2 * self->record_len);
        if (cur)
            figures_unpack (self, &cur[s], self->venue_of[s], v.mv_data);
        if (rel)
            figures_unpack (self, &rel[s], self->venue_of[s], (const uint8_t *) v.mv_data + self->record_len);
        uint32_t n;
        if ((rc = reopens_count (self, txn, self->venue_of[s], &n)))
            return rc;
        if (cur)
            cur[s].reopens = n;
        if (rel)
            rel[s].reopens = n;
    }
    return 0;
}

/*  Accepted ballots not yet released, over all venues.  */
static uint64_t
pending_of (const pingyi_shard_t *self, const pingyi_venue_figures_t *cur, const pingyi_venue_figures_t *rel)
{
    uint64_t n = 0;
    for (size_t s = 0; s < self->slot_count; s++)
        n += cur[s].accepted - rel[s].accepted;
    return n;
}

/*  The `refused` accounting from meta into rows and loose (slot_count + 1
    entries each, the orphan bucket last).  A schema-3 shard made before
    `refused` has neither row: its refusals so far were counted once per
    event, so they are all "loose" (*missing is set: the writer stores
    them).  0, or -1 with err.  */
static int
refused_load (pingyi_shard_t *self, MDB_txn *txn, const pingyi_shard_info_t *info,
              const pingyi_venue_figures_t *cur, uint64_t *rows, uint64_t *loose, bool *missing, char *err)
{
    size_t n = self->slot_count + 1;
    MDB_val r, l;
    int rr = meta_get (self, txn, "refused_rows", &r);
    int rl = meta_get (self, txn, "refused_loose", &l);
    if (missing)
        *missing = false;
    if (rr == MDB_NOTFOUND && rl == MDB_NOTFOUND) {
        for (size_t s = 0; s < self->slot_count; s++) {
            rows[s] = 0;
            loose[s] = refusals_of (cur[s].rejected_by);
        }
        rows[n - 1] = 0;
        loose[n - 1] = refusals_of (info->orphan_rejected_by);
        if (missing)
            *missing = true;
        return 0;
    }
    if (rr || rl || r.mv_size != 8 * n || l.mv_size != 8 * n)
        return pingyi_fail (
            err,
            "%s: meta refused_rows/refused_loose are not %zu counters each: refusing to start "
            "(run `pingyi tally --recount` on a copy)",
            self->path, n);
    for (size_t i = 0; i < n; i++) {
        rows[i] = get_le64 ((const uint8_t *) r.mv_data + 8 * i);
        loose[i] = get_le64 ((const uint8_t *) l.mv_data + 8 * i);
    }
    return 0;
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
            if (stored_reject (c))
                stored += cur[s].rejected_by[c];
    }
    uint64_t refused = 0;
    for (size_t s = 0; s <= self->slot_count; s++) {
        uint64_t counted =
            s < self->slot_count ? refusals_of (cur[s].rejected_by) : refusals_of (info->orphan_rejected_by);
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
    int rc = meta_load (self, txn, &self->info, self->state, err);
    if (rc == 0)
        rc = figures_load (self, txn, self->figures, self->released, err);
    if (rc == 0)
        rc = refused_load (self, txn, &self->info, self->figures, self->refused_rows, self->refused_loose,
                           missing, err);
    if (rc == 0)
        rc = check_store (self, txn, &self->info, self->figures, self->released, err);
    if (rc == 0)
        self->info.pending = pending_of (self, self->figures, self->released);
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
        if (meta_get (self, txn, "schema", &v) == 0) {
            uint32_t schema = v.mv_size == 4 ? get_le32 (v.mv_data) : 0;
            if (schema != PINGYI_SHARD_SCHEMA) {
                pingyi_shard_info_t info;
                return meta_load (self, txn, &info, NULL, err); /* fails, naming both schemas */
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
    rc = meta_load (self, txn, &self->info, self->state, err);
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
        if ((rc = meta_put_u32 (self, txn, "schema", PINGYI_SHARD_SCHEMA)) ||
            (rc = meta_put (self, txn, "fingerprint", e->fingerprint, PINGYI_FP_LEN)) ||
            (rc = meta_put_u32 (self, txn, "shard", self->shard)) ||
            (rc = meta_put_u32 (self, txn, "shard_count", e->shard_count)) ||
            (rc = meta_put_u64 (self, txn, "sequence", 0)) ||
            (rc = meta_put (self, txn, "lthash", self->state, STATE_LEN)) ||
            (rc = meta_put_u64 (self, txn, "generation", 0)) ||
            (rc = meta_put_settled (self, txn, &self->info)) ||
            (rc = meta_put_orphans (self, txn, &self->info)))
            return rc;
    }
    else if (rc)
        return rc;
    /* a schema-3 shard made before `refused`: the db was created above,
       its accounting is written now (what was counted so far, loose) */
    bool missing = false;
    rc = load_state (self, txn, &missing, err);
    if (rc == 0 && missing)
        rc = meta_put_refused (self, txn, self->refused_rows, self->refused_loose);
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
    self->lock_fd = -1;
    self->last_venue = -1;
    /* 0 only in an election struct not made by the parser: the default,
       never "release every ballot" */
    self->k = election->k_anonymity ? election->k_anonymity : PINGYI_K_ANONYMITY_DEFAULT;
    self->categories = election->category_count < PINGYI_FIGURES_CATEGORIES ? election->category_count
                                                                            : PINGYI_FIGURES_CATEGORIES;
    self->record_len = FIGURES_FIXED + 8 * self->categories;
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
    else if (make_dir (data_dir, err) || make_dir (self->path, err) || shard_lock (self, err))
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
    self->stats.sequence = self->info.current_sequence;
    self->stats.settled_sequence = self->info.sequence;
    self->stats.generation = self->info.generation;
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
    if (compute_keys (self, self->keys, keyring, shard_secret, err)) {
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
        self->work_released[slot] = self->released[slot];
        self->releasing[slot] = false;
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
    memcpy (self->work_state, self->state, STATE_LEN);
    self->orphans_touched = false;
    memcpy (self->work_refused_rows, self->refused_rows, (self->slot_count + 1) * sizeof *self->refused_rows);
    memcpy (self->work_refused_loose, self->refused_loose,
            (self->slot_count + 1) * sizeof *self->refused_loose);
    self->refused_touched = false;
    tally_clear (&self->deltas);
    grid_t *g = &self->grid;
    for (size_t i = 0; i < g->touched_count; i++) {
        uint32_t slot = g->touched[i];
        memset (g->cells + g->slot_base[slot], 0,
                (g->slot_base[slot + 1] - g->slot_base[slot]) * sizeof *g->cells);
        g->slot_touched[slot] = 0;
    }
    g->touched_count = 0;
    self->batch_accepted = self->batch_duplicates = self->batch_rejected = self->batch_unstored = 0;
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

/*  A refusal made before the envelope opens, or VENUE_CLOSED: remembered
    by the envelope's bytes in `refused` (key: the charged venue, or
    REFUSED_ORPHAN, and the first 16 bytes of BLAKE2b-256 of the envelope;
    value: the reason), never by its ballot id, which nobody has verified.
    The same bytes again are answered the same and counted as a duplicate;
    new ones are stored and counted once.  Beyond refused_cap rows for the
    venue a refusal is counted each time (refusals_unstored).  Returns 0 or
    an LMDB code.  */
static int refuse (pingyi_shard_t *self, MDB_txn *txn, pingyi_shard_item_t *item, pingyi_reject_t code,
                   int32_t charge, const char *fmt, ...) PINGYI_PRINTF (6, 7);

static int
refuse (pingyi_shard_t *self, MDB_txn *txn, pingyi_shard_item_t *item, pingyi_reject_t code, int32_t charge,
        const char *fmt, ...)
{
    char text[PINGYI_ERR_MAX];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof text, fmt, ap);
    va_end (ap);
    size_t bucket = charge >= 0 ? (size_t) charge : self->slot_count;
    uint8_t k[REFUSED_KEY_LEN];
    uint8_t h[crypto_generichash_BYTES];
    static const uint8_t nothing[1] = {0};
    venue_key (k, charge >= 0 ? self->venue_of[charge] : REFUSED_ORPHAN);
    crypto_generichash (h, sizeof h, item->envelope ? item->envelope : nothing,
                        item->envelope ? item->len : 0, NULL, 0);
    memcpy (k + 2, h, PINGYI_SHARD_REFUSED_HASH_LEN);
    MDB_val key = {sizeof k, k}, val;
    int rc = mdb_get (txn, self->refused, &key, &val);
    if (rc == 0) {
        if (val.mv_size != 1)
            return MDB_CORRUPTED;
        uint8_t was = *(const uint8_t *) val.mv_data;
        item->status = PINGYI_ACK_REJECTED;
        item->reason = was;
        item->receipt[0] = '\0';
        if (snprintf (item->text, sizeof item->text, "resend of an envelope refused earlier (%s): %s",
                      pingyi_reject_name ((pingyi_reject_t) was), text) < 0)
            item->text[0] = '\0';
        if (charge >= 0)
            work_figures (self, charge)->duplicates++;
        self->batch_duplicates++;
        return 0;
    }
    if (rc != MDB_NOTFOUND)
        return rc;
    if (self->work_refused_rows[bucket] < self->refused_cap) {
        uint8_t reason = (uint8_t) code;
        val.mv_size = 1;
        val.mv_data = &reason;
        rc = mdb_put (txn, self->refused, &key, &val, MDB_NOOVERWRITE);
        if (rc)
            return rc;
        self->work_refused_rows[bucket]++;
    }
    else {
        self->work_refused_loose[bucket]++;
        self->batch_unstored++;
    }
    self->refused_touched = true;
    reject (self, item, code, charge, "%s", text);
    return 0;
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
        return refuse (self, txn, item, PINGYI_REJECT_BAD_ENVELOPE, charge,
                       "envelope of %zu bytes (at most %d)", item->len, PINGYI_ENVELOPE_MAX);
    }
    if (pingyi_envelope_parse (item->envelope, item->len, &env, perr)) {
        return refuse (self, txn, item, PINGYI_REJECT_BAD_ENVELOPE, charge, "%s", perr);
    }
    memcpy (item->ballot_id, env.ballot_id, PINGYI_BALLOT_ID_LEN);

    /* 2. election */
    if (memcmp (env.fingerprint, e->fingerprint, PINGYI_FP_LEN) != 0) {
        char hex[2 * PINGYI_FP_LEN + 1];
        pingyi_hex (hex, env.fingerprint, PINGYI_FP_LEN);
        return refuse (self, txn, item, PINGYI_REJECT_WRONG_ELECTION, charge,
                       "envelope is for election %s, this count is %s", hex, e->fingerprint_hex);
    }
    /* 3. venue: known, and the authenticated sender */
    int venue = find_venue (self, env.venue, env.venue_len);
    if (venue < 0) {
        return refuse (self, txn, item, PINGYI_REJECT_UNKNOWN_VENUE, charge,
                       "venue \"%s\" is not in the election definition",
                       safe_id (a, env.venue, env.venue_len));
    }
    if (venue != sender) {
        return refuse (self, txn, item, PINGYI_REJECT_VENUE_MISMATCH, charge,
                       "envelope names venue \"%s\" but was sent by \"%s\"",
                       safe_id (a, env.venue, env.venue_len),
                       safe_id (b, item->sender ? item->sender : "", item->sender ? item->sender_len : 0));
    }
    /* 4. shard */
    int32_t slot = self->slot_of[venue];
    if (slot < 0) {
        return refuse (self, txn, item, PINGYI_REJECT_WRONG_SHARD, charge,
                       "venue %s belongs to shard %u, not shard %u", e->venues[venue].id,
                       e->venues[venue].shard, self->shard);
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
        if (val.mv_size < IDS_HEAD_LEN)
            return MDB_CORRUPTED;
        if (p[0] == PINGYI_ACK_ACCEPTED) {
            /* the receipt of the ballot as stored, not of these bytes */
            if (val.mv_size == IDS_HEAD_LEN)
                return MDB_CORRUPTED;
            item->status = PINGYI_ACK_DUPLICATE;
            pingyi_envelope_receipt (item->receipt, p + IDS_HEAD_LEN, val.mv_size - IDS_HEAD_LEN);
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
        return refuse (self, txn, item, PINGYI_REJECT_VENUE_CLOSED, slot,
                       "venue %s has closed its round; no more ballots", e->venues[venue].id);
    }
    /* 7. open.  Not stored in `ids` when it fails: an unauthenticated
       envelope must not be able to claim an id that a genuine one may carry
       later; remembered by its bytes in `refused` instead (refuse). */
    size_t body_len = 0;
    if (env.ciphertext_len < PINGYI_MAC_LEN || env.ciphertext_len - PINGYI_MAC_LEN > sizeof self->body ||
        pingyi_envelope_open (&env, self->keys[slot], self->body, sizeof self->body, &body_len)) {
        return refuse (
            self, txn, item, PINGYI_REJECT_DECRYPT, slot,
            "envelope does not open with venue %s's key (altered, or sealed for another shard key)",
            e->venues[venue].id);
    }

    /* 8. the ballot itself.  A refusal here is authenticated, so it is
       stored: a resend gets the same answer and counts once. */
    pingyi_reject_t code =
        pingyi_ballot_decode (e, (size_t) venue, self->body, body_len, &self->ballot, perr);
    if (code != PINGYI_REJECT_NONE) {
        if (!stored_reject (code))
            code = PINGYI_REJECT_MALFORMED; /* the open check counts stored codes */
        uint8_t row[IDS_HEAD_LEN] = {PINGYI_ACK_REJECTED, (uint8_t) code};
        val.mv_size = IDS_HEAD_LEN;
        val.mv_data = row;
        rc = mdb_put (txn, self->ids, &key, &val, MDB_NOOVERWRITE);
        if (rc)
            return rc;
        reject (self, item, code, slot, "%s", perr);
        return 0;
    }

    /* 9. accept: the envelope goes into its ids row (written in place) */
    val.mv_size = IDS_HEAD_LEN + item->len;
    val.mv_data = NULL;
    rc = mdb_put (txn, self->ids, &key, &val, MDB_NOOVERWRITE | MDB_RESERVE);
    if (rc)
        return rc;
    uint8_t *row = val.mv_data;
    row[0] = PINGYI_ACK_ACCEPTED;
    row[1] = 0;
    memcpy (row + IDS_HEAD_LEN, item->envelope, item->len);
    pingyi_shard_digest_add (self->work_state, item->envelope, item->len);
    self->work_info.current_sequence++;
    if (self->grid.cells)
        grid_count (&self->grid, &self->ballot, e, (size_t) slot);
    else
        pingyi_ballot_count (&self->ballot, e, (size_t) venue, tally_count_fn, &self->deltas);
    f->accepted++;
    if (pingyi_ballot_is_blank (&self->ballot, e))
        f->blank++;
    if (self->ballot.category < self->categories)
        f->by_category[self->ballot.category]++;
    self->batch_accepted++;
    item->status = PINGYI_ACK_ACCEPTED;
    pingyi_envelope_receipt (item->receipt, item->envelope, item->len);
    return 0;
}

typedef struct {
    pingyi_shard_item_t *items;
    size_t count;
} batch_arg_t;

/*  --------------------------------------------------------------------------
    The `counts` and `pending` dbs (docs/worker.md).  One row per (venue,
    subject) in each: key venue u16 BE, subject u16 BE; value every counter
    of that subject at that venue, row_cells u32 LE, the cell of (item,
    category, m) at (item x categories + category) x marks + m, where m is
    the choice's index, marks - 2 for BLANK and marks - 1 for OVER.  `counts`
    holds what is released, `pending` what is counted but not yet released;
    their sum is the full count.  Why rows and not a key per counter: a
    batch of a few ballots adds to nearly every counter of its venues, so
    with a key per counter each commit rewrote nearly every counter page
    (237 leaves for a shard of 15 venues x 66 cells); rows put the same
    counters on a tenth of the pages (docs/PERFORMANCE.md).  The readers
    below expand the rows back into (counter key, count) in key order.  */

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

/*  One row of a transaction, through a cursor on each db (one descent per
    read and write).  Releasing: counts = counts + pending + delta, and the
    pending row goes.  Not releasing: pending = pending + delta.  So a row
    is written once per commit, in one db or the other.  delta NULL: no
    new ballots (a release of what was pending).  A cell whose full count
    (counts + pending) would pass 2^32 - 1 (more ballots than any venue
    holds) fails the batch, loudly.  */
static int
put_row (pingyi_shard_t *self, MDB_cursor *cc, MDB_cursor *pc, uint32_t venue, uint32_t subject,
         const uint32_t *delta, bool release, char *err)
{
    uint8_t k[ROW_KEY_LEN];
    row_key (k, venue, subject);
    size_t bytes = self->row_cells * 4;
    MDB_val ck = {ROW_KEY_LEN, k}, pk = {ROW_KEY_LEN, k}, cv = {0, NULL}, pv = {0, NULL};
    int crc = mdb_cursor_get (cc, &ck, &cv, MDB_SET_KEY);
    if ((crc != 0 && crc != MDB_NOTFOUND) || (crc == 0 && cv.mv_size != bytes))
        return crc ? crc : MDB_CORRUPTED;
    int prc = mdb_cursor_get (pc, &pk, &pv, MDB_SET_KEY);
    if ((prc != 0 && prc != MDB_NOTFOUND) || (prc == 0 && pv.mv_size != bytes))
        return prc ? prc : MDB_CORRUPTED;
    if (!delta && (prc == MDB_NOTFOUND || !release))
        return 0;
    const uint8_t *have_c = crc == 0 ? cv.mv_data : NULL;
    const uint8_t *have_p = prc == 0 ? pv.mv_data : NULL;
    uint8_t *b = self->row_buf;
    for (size_t i = 0; i < self->row_cells; i++) {
        uint64_t c = have_c ? get_le32 (have_c + 4 * i) : 0;
        uint64_t p = have_p ? get_le32 (have_p + 4 * i) : 0;
        uint64_t d = delta ? delta[i] : 0;
        if (c + p + d > UINT32_MAX)
            return pingyi_fail (err, "%s: counter of venue %s, subject %u would pass 2^32 - 1", self->path,
                                self->election->venues[venue].id, subject);
        put_le32 (b + 4 * i, (uint32_t) (release ? c + p + d : p + d));
    }
    MDB_val val = {bytes, b};
    ck.mv_data = pk.mv_data = k; /* not the page's copy of the key: the page is about to change */
    ck.mv_size = pk.mv_size = ROW_KEY_LEN;
    if (!release)
        return mdb_cursor_put (pc, &pk, &val, prc == 0 ? MDB_CURRENT : 0);
    int rc = mdb_cursor_put (cc, &ck, &val, crc == 0 ? MDB_CURRENT : 0);
    if (rc == 0 && prc == 0)
        rc = mdb_cursor_del (pc, 0);
    return rc;
}

/*  The grid's counted venues, each form position written as its row: a
    venue's cells are its rows as they stand.  Every ballot marks every
    cell of its form, so a counted venue's rows all change.  */
static int
write_grid (pingyi_shard_t *self, MDB_cursor *cc, MDB_cursor *pc, char *err)
{
    grid_t *g = &self->grid;
    int rc = 0;
    for (size_t t = 0; t < g->touched_count && !rc; t++) {
        uint32_t slot = g->touched[t];
        const pingyi_venue_t *v = &self->election->venues[self->venue_of[slot]];
        for (size_t pos = 0; pos < v->subject_count && !rc; pos++)
            rc = put_row (self, cc, pc, self->venue_of[slot], (uint32_t) v->subjects[pos],
                          g->cells + g->slot_base[slot] + pos * self->row_cells, self->releasing[slot], err);
    }
    return rc;
}

/*  The hash table's deltas (a shard whose grid would be too large),
    sorted, gathered row by row.  */
static int
write_spill (pingyi_shard_t *self, MDB_cursor *cc, MDB_cursor *pc, char *err)
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
        uint32_t venue = (uint32_t) (row >> 16);
        memset (self->row_sum, 0, self->row_cells * sizeof *self->row_sum);
        for (; i < n && self->sorted[i] >> 32 == row; i++) {
            uint8_t packed[PINGYI_COUNTER_KEY_LEN];
            pingyi_counter_key_t key;
            put_be64 (packed, self->sorted[i]);
            pingyi_counter_key_unpack (packed, &key);
            size_t m = pingyi_count_cell (key.mark, self->marks);
            uint64_t add = tally_find (t, self->sorted[i], false)->count;
            if (key.venue >= e->venue_count || self->slot_of[key.venue] < 0 || key.item >= e->item_count ||
                key.category >= e->category_count || m >= self->marks || add > UINT32_MAX)
                return pingyi_fail (err, "%s: counter %016llx has no place in a counts row", self->path,
                                    (unsigned long long) self->sorted[i]);
            self->row_sum[(key.item * e->category_count + key.category) * self->marks + m] += (uint32_t) add;
        }
        rc = put_row (self, cc, pc, venue, (uint32_t) (row & 0xffff), self->row_sum,
                      self->releasing[self->slot_of[venue]], err);
    }
    return rc;
}

/*  A releasing venue's pending rows that no delta of this transaction
    moved (a close, or rows its ballots of this batch did not reach): each
    added into counts and deleted.  Each pass removes one row.  */
static int
release_pending (pingyi_shard_t *self, MDB_cursor *cc, MDB_cursor *pc, uint32_t venue, char *err)
{
    for (;;) {
        uint8_t k[ROW_KEY_LEN];
        row_key (k, venue, 0);
        MDB_val key = {ROW_KEY_LEN, k}, val;
        int rc = mdb_cursor_get (pc, &key, &val, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND)
            return 0;
        if (rc)
            return rc;
        if (key.mv_size != ROW_KEY_LEN)
            return MDB_CORRUPTED;
        const uint8_t *p = key.mv_data;
        if ((uint32_t) (p[0] << 8 | p[1]) != venue)
            return 0;
        rc = put_row (self, cc, pc, venue, (uint32_t) (p[2] << 8 | p[3]), NULL, true, err);
        if (rc)
            return rc;
    }
}

static int
write_counters (pingyi_shard_t *self, MDB_txn *txn, char *err)
{
    if (self->deltas.oom)
        return pingyi_fail (err, "out of memory for the batch's counter deltas");
    MDB_cursor *cc = NULL, *pc = NULL;
    int rc = mdb_cursor_open (txn, self->counts, &cc);
    if (rc == 0)
        rc = mdb_cursor_open (txn, self->pending, &pc);
    if (rc == 0 && self->grid.cells && self->grid.touched_count)
        rc = write_grid (self, cc, pc, err);
    if (rc == 0 && self->deltas.used)
        rc = write_spill (self, cc, pc, err);
    for (size_t i = 0; i < self->touched_count && rc == 0; i++) {
        uint32_t slot = self->touched_list[i];
        if (self->releasing[slot])
            rc = release_pending (self, cc, pc, self->venue_of[slot], err);
    }
    if (pc)
        mdb_cursor_close (pc);
    if (cc)
        mdb_cursor_close (cc);
    return rc;
}

static int
write_figures (pingyi_shard_t *self, MDB_txn *txn)
{
    for (size_t i = 0; i < self->touched_count; i++) {
        uint32_t slot = self->touched_list[i];
        uint8_t k[2], b[2 * FIGURES_MAX];
        venue_key (k, self->venue_of[slot]);
        figures_pack (self, b, &self->work[slot]);
        figures_pack (self, b + self->record_len, &self->work_released[slot]);
        MDB_val key = {2, k}, val = {2 * self->record_len, b};
        int rc = mdb_put (txn, self->venues, &key, &val, 0);
        if (rc)
            return rc;
    }
    return 0;
}

/*  The end of every write transaction (a batch, a close): decide which
    touched venues release, write the counters, the figures and meta.

    The release rule (docs/worker.md, "Release"): a venue releases when k
    or more of its accepted ballots are unreleased (those pending before,
    plus this batch's), at its close, and — once closed — whenever its
    figures change (every ballot of it is released by then; what still
    moves is resends and refusals).  Releasing copies its current figures
    to its released ones and moves its pending counters into counts.  A
    transaction that releases anything moves the generation; one after
    which nothing is pending anywhere moves the settled point to the
    current sequence and digest.  */
static int
finish_txn (pingyi_shard_t *self, MDB_txn *txn, int32_t closing, char *err)
{
    bool released = false;
    uint64_t pending = self->info.pending;
    for (size_t i = 0; i < self->touched_count; i++) {
        uint32_t slot = self->touched_list[i];
        const pingyi_venue_figures_t *cur = &self->work[slot];
        uint64_t before = self->figures[slot].accepted - self->released[slot].accepted;
        uint64_t now = cur->accepted - self->work_released[slot].accepted;
        bool release = (int32_t) slot == closing || cur->closed || now >= self->k;
        self->releasing[slot] = release;
        if (release) {
            self->work_released[slot] = *cur;
            released = true;
            now = 0;
        }
        pending = pending - before + now;
    }
    int rc = write_counters (self, txn, err);
    if (rc == 0)
        rc = write_figures (self, txn);
    if (rc)
        return rc;

    pingyi_shard_info_t *w = &self->work_info;
    w->pending = pending;
    if (w->current_sequence != self->info.current_sequence) {
        pingyi_shard_digest (w->current_digest, self->work_state);
        if ((rc = meta_put_u64 (self, txn, "sequence", w->current_sequence)) ||
            (rc = meta_put (self, txn, "lthash", self->work_state, STATE_LEN)))
            return rc;
    }
    if (released) {
        w->generation++;
        if ((rc = meta_put_u64 (self, txn, "generation", w->generation)))
            return rc;
    }
    if (pending == 0 && (w->sequence != w->current_sequence ||
                         memcmp (w->digest, w->current_digest, PINGYI_SHARD_DIGEST_LEN) != 0)) {
        w->sequence = w->current_sequence;
        memcpy (w->digest, w->current_digest, PINGYI_SHARD_DIGEST_LEN);
        if ((rc = meta_put_settled (self, txn, w)))
            return rc;
    }
    if (self->orphans_touched && (rc = meta_put_orphans (self, txn, w)))
        return rc;
    if (self->refused_touched &&
        (rc = meta_put_refused (self, txn, self->work_refused_rows, self->work_refused_loose)))
        return rc;
    return 0;
}

static int
batch_txn (pingyi_shard_t *self, MDB_txn *txn, void *arg, char *err)
{
    batch_arg_t *batch = arg;
    work_reset (self);
    for (size_t i = 0; i < batch->count; i++) {
        int rc = apply_one (self, txn, &batch->items[i]);
        if (rc)
            return rc;
    }
    return finish_txn (self, txn, -1, err);
}

/*  After a commit: the working copies become the committed state.  */
static void
work_commit (pingyi_shard_t *self)
{
    for (size_t i = 0; i < self->touched_count; i++) {
        uint32_t slot = self->touched_list[i];
        self->figures[slot] = self->work[slot];
        self->released[slot] = self->work_released[slot];
        self->touched[slot] = false;
    }
    self->touched_count = 0;
    self->info = self->work_info;
    memcpy (self->state, self->work_state, STATE_LEN);
    memcpy (self->refused_rows, self->work_refused_rows, (self->slot_count + 1) * sizeof *self->refused_rows);
    memcpy (self->refused_loose, self->work_refused_loose,
            (self->slot_count + 1) * sizeof *self->refused_loose);
    self->stats.sequence = self->info.current_sequence;
    self->stats.settled_sequence = self->info.sequence;
    self->stats.generation = self->info.generation;
    self->stats.map_size = self->map_size;
}

/*  Applied in the caller's order: nothing stored depends on it (ids are
    keyed by (venue, ballot id), the digest and the counters are sums), so
    the batch needs no shuffle.  Of two copies of one ballot in a batch the
    first is accepted and the second answered as its duplicate.  */
int
pingyi_shard_apply (pingyi_shard_t *self, pingyi_shard_item_t *items, size_t count, char *err)
{
    if (self->read_only)
        return pingyi_fail (err, "%s: opened read-only", self->path);
    if (self->stopped)
        return pingyi_fail (err, "shard %u has stopped taking ballots (see the earlier error)", self->shard);
    if (count == 0)
        return 0;
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
    s->refusals_unstored += self->batch_unstored;
    for (int i = 0; i < PINGYI_SHARD_REJECT_SLOTS; i++)
        s->rejected_by[i] += self->batch_rejected_by[i];
    s->batches++;
    s->commit_ms_total += (uint64_t) self->last_commit_ms;
    if ((uint64_t) self->last_commit_ms > s->commit_ms_max)
        s->commit_ms_max = (uint64_t) self->last_commit_ms;
    s->apply_ms_total += (uint64_t) (pingyi_now_ms () - t0);
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
    close_arg_t *c = arg;
    work_reset (self);
    pingyi_venue_figures_t *f = work_figures (self, c->slot);
    f->issued = c->issued;
    f->collected = c->collected;
    f->sent = c->sent;
    f->closed = true;
    return finish_txn (self, txn, c->slot, err);
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
    if (figures)
        *figures = self->figures[c.slot];
    return 0;
}

typedef struct {
    int32_t slot;
    const char *reason;
    size_t reason_len;
} reopen_arg_t;

/*  One transaction: the venue open again (declared counts unknown), its
    reopens + 1, the reason under that number, and a release (generation).  */
static int
reopen_txn (pingyi_shard_t *self, MDB_txn *txn, void *arg, char *err)
{
    reopen_arg_t *r = arg;
    work_reset (self);
    pingyi_venue_figures_t *f = work_figures (self, r->slot);
    f->issued = f->collected = f->sent = -1;
    f->closed = false;
    f->reopens++;
    uint8_t k[6];
    reopen_key (k, self->venue_of[r->slot], f->reopens);
    MDB_val key = {sizeof k, k}, val = {r->reason_len, (void *) r->reason};
    int rc = mdb_put (txn, self->reopens, &key, &val, MDB_NOOVERWRITE);
    if (rc)
        return rc;
    return finish_txn (self, txn, r->slot, err);
}

int
pingyi_shard_venue_reopen (pingyi_shard_t *self, uint32_t venue, const char *reason, size_t reason_len,
                           pingyi_venue_figures_t *figures, char *err)
{
    if (self->read_only)
        return pingyi_fail (err, "%s: opened read-only", self->path);
    if (self->stopped)
        return pingyi_fail (err, "shard %u has stopped (see the earlier error)", self->shard);
    if (venue >= self->election->venue_count || self->slot_of[venue] < 0)
        return pingyi_fail (err, "venue %u is not on shard %u", venue, self->shard);
    int32_t slot = self->slot_of[venue];
    if (!self->figures[slot].closed)
        return pingyi_fail (err, "venue %s is not closed", self->election->venues[venue].id);
    if (reason_len < 1 || reason_len > PINGYI_TEXT_MAX)
        return pingyi_fail (err, "a reopen's reason has 1..%u bytes", (unsigned) PINGYI_TEXT_MAX);
    reopen_arg_t r = {slot, reason, reason_len};
    if (write_txn (self, reopen_txn, &r, "venue reopen", err)) {
        work_reset (self);
        return -1;
    }
    work_commit (self);
    if (figures)
        *figures = self->figures[slot];
    return 0;
}

int
pingyi_shard_venue_reasons (pingyi_shard_t *self, uint32_t venue, pingyi_shard_reason_fn *fn, void *arg,
                            char *err)
{
    if (venue >= self->election->venue_count || self->slot_of[venue] < 0)
        return pingyi_fail (err, "venue %u is not on shard %u", venue, self->shard);
    if (!self->has_reopens)
        return 0;
    MDB_txn *txn;
    if (read_txn (self, &txn, err))
        return -1;
    MDB_cursor *c;
    int rc = mdb_cursor_open (txn, self->reopens, &c);
    if (rc) {
        mdb_txn_abort (txn);
        return lmdb_fail (self, err, "reopens", rc);
    }
    uint8_t k[6];
    reopen_key (k, venue, 0);
    MDB_val key = {sizeof k, k}, val;
    int out = 0;
    rc = mdb_cursor_get (c, &key, &val, MDB_SET_RANGE);
    while (rc == 0 && key.mv_size == 6 && memcmp (key.mv_data, k, 2) == 0) {
        const uint8_t *p = key.mv_data;
        uint32_t n = (uint32_t) p[2] << 24 | (uint32_t) p[3] << 16 | (uint32_t) p[4] << 8 | p[5];
        if ((out = fn (n, val.mv_data, val.mv_size, arg)))
            break;
        rc = mdb_cursor_get (c, &key, &val, MDB_NEXT);
    }
    mdb_cursor_close (c);
    mdb_txn_abort (txn);
    if (out)
        return out;
    if (rc && rc != MDB_NOTFOUND)
        return lmdb_fail (self, err, "reopens", rc);
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
        int rc = figures_load (self, txn, self->figures, self->released, NULL);
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
    int rc = meta_load (self, txn, info, NULL, err);
    if (rc == 0)
        rc = figures_load (self, txn, self->figures, self->released, err);
    mdb_txn_abort (txn);
    if (rc == -1)
        return -1;
    if (rc)
        return lmdb_fail (self, err, "meta", rc);
    info->pending = pending_of (self, self->figures, self->released);
    return 0;
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
    pingyi_shard_info_t info;
    int rc = meta_load (self, txn, &info, NULL, err);
    if (rc == 0)
        rc = figures_load (self, txn, NULL, snap->venues, err);
    if (rc == 0)
        rc = mdb_cursor_open (txn, self->counts, &c);
    if (rc == 0) {
        /* released only: what is current but unreleased stays out */
        pingyi_shard_info_t *out = &snap->info;
        out->shard = info.shard;
        out->shard_count = info.shard_count;
        memcpy (out->fingerprint, info.fingerprint, PINGYI_FP_LEN);
        out->sequence = info.sequence;
        memcpy (out->digest, info.digest, PINGYI_SHARD_DIGEST_LEN);
        out->generation = info.generation;
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
                pingyi_counter_t *out_c = &snap->counters[snap->counter_count++];
                memcpy (out_c->key, key, PINGYI_COUNTER_KEY_LEN);
                out_c->count = n;
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

/*  The counters of `counts` (plus `pending` when with_pending: the full
    count), in key order, each non-zero cell once to fn.  The two dbs share
    their key and row layout, so a merge of two cursors on the row key
    gives every row once, summed.  Returns 0 or an LMDB code; *result is
    what a callback that stopped the walk returned.  */
static int
walk_counters (pingyi_shard_t *self, MDB_txn *txn, bool with_pending, pingyi_shard_counter_fn *fn, void *arg,
               int *result)
{
    *result = 0;
    uint64_t *sum = malloc (self->row_cells * sizeof *sum + 1);
    if (!sum)
        return ENOMEM;
    MDB_cursor *cc = NULL, *pc = NULL;
    int rc = mdb_cursor_open (txn, self->counts, &cc);
    if (rc == 0 && with_pending)
        rc = mdb_cursor_open (txn, self->pending, &pc);
    MDB_val ck, cv, pk, pv;
    int crc = rc ? rc : mdb_cursor_get (cc, &ck, &cv, MDB_FIRST);
    int prc = rc || !pc ? MDB_NOTFOUND : mdb_cursor_get (pc, &pk, &pv, MDB_FIRST);
    size_t bytes = self->row_cells * 4;
    while (rc == 0 && !*result) {
        if (crc && crc != MDB_NOTFOUND) {
            rc = crc;
            break;
        }
        if (prc && prc != MDB_NOTFOUND) {
            rc = prc;
            break;
        }
        if (crc && prc)
            break; /* both at their end */
        if ((!crc && (ck.mv_size != ROW_KEY_LEN || cv.mv_size != bytes)) ||
            (!prc && (pk.mv_size != ROW_KEY_LEN || pv.mv_size != bytes))) {
            rc = MDB_CORRUPTED;
            break;
        }
        int cmp = crc ? 1 : prc ? -1 : memcmp (ck.mv_data, pk.mv_data, ROW_KEY_LEN);
        uint8_t row[ROW_KEY_LEN];
        memcpy (row, cmp <= 0 ? ck.mv_data : pk.mv_data, ROW_KEY_LEN);
        memset (sum, 0, self->row_cells * sizeof *sum);
        for (size_t i = 0; i < self->row_cells; i++) {
            if (cmp <= 0)
                sum[i] += get_le32 ((const uint8_t *) cv.mv_data + 4 * i);
            if (cmp >= 0)
                sum[i] += get_le32 ((const uint8_t *) pv.mv_data + 4 * i);
        }
        for (size_t i = 0; i < self->row_cells && !*result; i++)
            if (sum[i]) {
                uint8_t key[PINGYI_COUNTER_KEY_LEN];
                row_cell_key (self, row, i, key);
                *result = fn (key, sum[i], arg);
            }
        if (cmp <= 0)
            crc = mdb_cursor_get (cc, &ck, &cv, MDB_NEXT);
        if (cmp >= 0)
            prc = mdb_cursor_get (pc, &pk, &pv, MDB_NEXT);
    }
    if (pc)
        mdb_cursor_close (pc);
    if (cc)
        mdb_cursor_close (cc);
    free (sum);
    return rc;
}

int
pingyi_shard_foreach_counter (pingyi_shard_t *self, pingyi_shard_counter_fn *fn, void *arg, char *err)
{
    MDB_txn *txn;
    if (read_txn (self, &txn, err))
        return -1;
    int result;
    int rc = walk_counters (self, txn, true, fn, arg, &result);
    mdb_txn_abort (txn);
    if (rc)
        return lmdb_fail (self, err, "counts", rc);
    return result;
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
    int rc = figures_load (self, txn, all, NULL, err);
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

/*  An `ids` row: key venue u16 BE + ballot id; value status, reason, and
    for an accepted ballot its envelope (at least one byte), else nothing.  */
static int
id_row (const MDB_val *k, const MDB_val *v, pingyi_shard_id_t *row)
{
    if (k->mv_size != IDS_KEY_LEN || v->mv_size < IDS_HEAD_LEN)
        return -2;
    const uint8_t *kp = k->mv_data, *vp = v->mv_data;
    row->venue = (uint32_t) kp[0] << 8 | kp[1];
    memcpy (row->ballot_id, kp + 2, PINGYI_BALLOT_ID_LEN);
    row->status = vp[0];
    row->reason = vp[1];
    row->envelope = NULL;
    row->len = 0;
    if (row->status == PINGYI_ACK_ACCEPTED) {
        if (v->mv_size == IDS_HEAD_LEN)
            return -2;
        row->envelope = vp + IDS_HEAD_LEN;
        row->len = v->mv_size - IDS_HEAD_LEN;
    }
    else if (row->status != PINGYI_ACK_REJECTED || v->mv_size != IDS_HEAD_LEN)
        return -2;
    return 0;
}

static int
id_step (pingyi_shard_t *self, const MDB_val *k, const MDB_val *v, void *fn, void *arg)
{
    (void) self;
    pingyi_shard_id_t row;
    if (id_row (k, v, &row))
        return -2;
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
    pingyi_shard_id_t row;
    if (id_row (k, v, &row))
        return -2;
    if (row.status != PINGYI_ACK_ACCEPTED)
        return 0;
    return ((pingyi_shard_log_fn *) fn) (row.venue, row.ballot_id, row.envelope, row.len, arg);
}

int
pingyi_shard_foreach_log (pingyi_shard_t *self, pingyi_shard_log_fn *fn, void *arg, char *err)
{
    return walk (self, self->ids, log_step, (void *) fn, arg, "ids", err);
}

/*  --------------------------------------------------------------------------
    Recount.

    One read transaction for everything, so ids, counts, pending, venues
    and meta are the same commit even while a worker writes.  The accepted
    envelopes are listed first (pointers into the map, valid while the
    transaction lives); then threads re-open, decode and count ranges of
    them, each into its own grid and its own digest state (the digest is a
    sum, so the parts add up in any order); then the parts are summed and
    compared with the stored counters, figures and meta.  Every step is the
    same code the worker uses (envelope open, pingyi_ballot_decode,
    pingyi_ballot_count_cells, pingyi_shard_digest_add).  */

#define RECOUNT_THREADS_MAX 16
#define RECOUNT_PER_THREAD_MIN 4096 /* fewer entries than this: not worth a thread */

typedef struct {
    int32_t slot;         /* -1: a venue that is not this shard's */
    const uint8_t *key;   /* venue u16 BE, ballot id */
    const uint8_t *bytes; /* the envelope as stored */
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
    uint64_t *by_category; /* per slot x category */
    uint8_t state[STATE_LEN];
    uint64_t reopened, failed;
    size_t first_failed; /* entry of the first that failed, when failed */
    bool oom;
    pingyi_ballot_t ballot;
    uint8_t body[PINGYI_ENVELOPE_MAX];
} recount_part_t;

typedef struct {
    pingyi_shard_t *self;
    pingyi_shard_recount_t *report;
    grid_t *grid;   /* the sum of the parts' grids (cells NULL: none) */
    tally_t *spill; /* the sum of the parts' spills */
    const pingyi_venue_figures_t *cur, *rel;
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
    for (size_t i = r->first; i < r->first + r->count; i++) {
        const log_entry_t *le = &r->entries[i];
        /* the digest is over the log as stored, whatever it holds */
        pingyi_shard_digest_add (r->state, le->bytes, le->len);
        pingyi_envelope_t env;
        char perr[PINGYI_ERR_MAX];
        size_t body_len = 0;
        const char *id = le->slot >= 0 ? e->venues[self->venue_of[le->slot]].id : "";
        /* the envelope must be the one its key names: same venue, same ballot id */
        bool ok = le->slot >= 0 && pingyi_envelope_parse (le->bytes, le->len, &env, perr) == 0 &&
                  env.venue_len == strlen (id) && memcmp (env.venue, id, env.venue_len) == 0 &&
                  memcmp (env.ballot_id, le->key + 2, PINGYI_BALLOT_ID_LEN) == 0 &&
                  memcmp (env.fingerprint, e->fingerprint, PINGYI_FP_LEN) == 0 &&
                  env.ciphertext_len >= PINGYI_MAC_LEN &&
                  env.ciphertext_len - PINGYI_MAC_LEN <= sizeof r->body &&
                  pingyi_envelope_open (&env, r->keys[le->slot], r->body, sizeof r->body, &body_len) == 0 &&
                  pingyi_ballot_decode (e, self->venue_of[le->slot], r->body, body_len, &r->ballot, perr) ==
                      PINGYI_REJECT_NONE;
        if (!ok) {
            if (!r->failed++)
                r->first_failed = i;
            continue;
        }
        r->reopened++;
        int32_t slot = le->slot;
        r->accepted[slot]++;
        if (pingyi_ballot_is_blank (&r->ballot, e))
            r->blank[slot]++;
        if (r->ballot.category < self->categories)
            r->by_category[(size_t) slot * self->categories + r->ballot.category]++;
        if (r->grid.cells)
            grid_count (&r->grid, &r->ballot, e, (size_t) slot);
        else
            pingyi_ballot_count (&r->ballot, e, self->venue_of[slot], tally_count_fn, &r->spill);
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
        problem (r->report, "counter %016llx: stored %llu (counts + pending), recount gives %llu",
                 (unsigned long long) k, (unsigned long long) count, (unsigned long long) want);
    }
    return 0;
}

/*  A pending row belongs to a venue with unreleased ballots; any other is
    a release that did not move it.  */
static int
recount_pending_row (pingyi_shard_t *self, const MDB_val *k, const MDB_val *v, void *fn, void *arg)
{
    (void) v;
    (void) fn;
    recount_t *r = arg;
    if (k->mv_size != ROW_KEY_LEN)
        return -2;
    const uint8_t *p = k->mv_data;
    uint32_t venue = (uint32_t) (p[0] << 8 | p[1]);
    int32_t slot = venue < self->election->venue_count ? self->slot_of[venue] : -1;
    if (slot < 0 || r->cur[slot].accepted == r->rel[slot].accepted) {
        r->report->released_ok = false;
        problem (r->report, "pending counters for venue index %u, which has nothing unreleased", venue);
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

/*  The figures and the release state against what the recount gives.  */
typedef struct {
    uint64_t *by;    /* `refused` rows per (slot, reason), the orphan bucket last */
    uint64_t *rows;  /* meta: rows per slot */
    uint64_t *loose; /* meta: refusals counted without a row per slot */
} recount_refused_t;

static void
recount_figures (pingyi_shard_t *self, pingyi_shard_recount_t *report, const pingyi_shard_info_t *info,
                 const uint8_t *stored_state, const recount_part_t *sum, const uint64_t *rejected_rows,
                 const recount_refused_t *refused, const pingyi_venue_figures_t *cur,
                 const pingyi_venue_figures_t *rel)
{
    const pingyi_election_t *e = self->election;
    uint64_t accepted = 0, pending = 0;
    report->figures_ok = true;
    report->released_ok = true;
    for (size_t sl = 0; sl < self->slot_count; sl++) {
        const char *id = e->venues[self->venue_of[sl]].id;
        accepted += cur[sl].accepted;
        if (cur[sl].accepted != sum->accepted[sl] || cur[sl].blank != sum->blank[sl]) {
            report->figures_ok = false;
            problem (report, "venue %s: figures say %llu accepted (%llu blank), the log gives %llu (%llu)",
                     id, (unsigned long long) cur[sl].accepted, (unsigned long long) cur[sl].blank,
                     (unsigned long long) sum->accepted[sl], (unsigned long long) sum->blank[sl]);
        }
        for (size_t c = 0; c < self->categories; c++)
            if (cur[sl].by_category[c] != sum->by_category[sl * self->categories + c]) {
                report->figures_ok = false;
                problem (report, "venue %s: figures say %llu accepted of category %zu, the log gives %llu",
                         id, (unsigned long long) cur[sl].by_category[c], c,
                         (unsigned long long) sum->by_category[sl * self->categories + c]);
            }
        for (unsigned c = 0; c < PINGYI_SHARD_REJECT_SLOTS; c++)
            if (stored_reject (c) &&
                cur[sl].rejected_by[c] != rejected_rows[sl * PINGYI_SHARD_REJECT_SLOTS + c]) {
                report->figures_ok = false;
                problem (report, "venue %s: figures say %llu rejected (%s), ids holds %llu such rows", id,
                         (unsigned long long) cur[sl].rejected_by[c],
                         pingyi_reject_name ((pingyi_reject_t) c),
                         (unsigned long long) rejected_rows[sl * PINGYI_SHARD_REJECT_SLOTS + c]);
            }
        if (rel[sl].accepted > cur[sl].accepted || (cur[sl].closed && rel[sl].accepted != cur[sl].accepted) ||
            (rel[sl].closed && !cur[sl].closed)) {
            report->released_ok = false;
            problem (report, "venue %s: released %llu accepted%s, current %llu%s", id,
                     (unsigned long long) rel[sl].accepted, rel[sl].closed ? " (closed)" : "",
                     (unsigned long long) cur[sl].accepted, cur[sl].closed ? " (closed)" : "");
        }
        else
            pending += cur[sl].accepted - rel[sl].accepted;
    }
    /* the refusals: per venue (and the orphan bucket) the figures count the
       remembered ones (`refused` rows, by reason) plus those counted
       without a row; meta's accounting says how many rows there are */
    for (size_t sl = 0; sl <= self->slot_count; sl++) {
        const char *id =
            sl < self->slot_count ? e->venues[self->venue_of[sl]].id : "(no venue of this shard)";
        const uint64_t *by = sl < self->slot_count ? cur[sl].rejected_by : info->orphan_rejected_by;
        const uint64_t *rows = refused->by + sl * PINGYI_SHARD_REJECT_SLOTS;
        uint64_t nrows = 0;
        for (unsigned c = 0; c < PINGYI_SHARD_REJECT_SLOTS; c++) {
            nrows += rows[c];
            if (rows[c] > by[c]) {
                report->figures_ok = false;
                problem (report, "venue %s: refused holds %llu rows (%s), the figures count %llu", id,
                         (unsigned long long) rows[c], pingyi_reject_name ((pingyi_reject_t) c),
                         (unsigned long long) by[c]);
            }
        }
        if (nrows != refused->rows[sl] || refusals_of (by) != nrows + refused->loose[sl]) {
            report->figures_ok = false;
            problem (
                report,
                "venue %s: figures count %llu refusals, refused holds %llu rows (meta says %llu) and %llu "
                "were counted without a row",
                id, (unsigned long long) refusals_of (by), (unsigned long long) nrows,
                (unsigned long long) refused->rows[sl], (unsigned long long) refused->loose[sl]);
        }
    }
    report->sequence_ok = info->current_sequence == report->log_entries && accepted == report->log_entries;
    if (!report->sequence_ok)
        problem (report, "meta sequence %llu, accepted envelopes %llu, the venues' accepted %llu",
                 (unsigned long long) info->current_sequence, (unsigned long long) report->log_entries,
                 (unsigned long long) accepted);
    report->digest_ok = memcmp (sum->state, stored_state, STATE_LEN) == 0;
    if (!report->digest_ok)
        problem (report, "the digest state differs from the one recomputed over the log");
    if (info->sequence > info->current_sequence ||
        (pending == 0 && (info->sequence != info->current_sequence ||
                          memcmp (info->digest, info->current_digest, PINGYI_SHARD_DIGEST_LEN) != 0))) {
        report->released_ok = false;
        problem (report, "settled point at sequence %llu, current %llu with %llu pending",
                 (unsigned long long) info->sequence, (unsigned long long) info->current_sequence,
                 (unsigned long long) pending);
    }
}

int
pingyi_shard_recount (pingyi_shard_t *self, const pingyi_keyring_t *keyring,
                      const uint8_t shard_secret[PINGYI_KEY_LEN], pingyi_shard_recount_t *report, char *err)
{
    memset (report, 0, sizeof *report);
    size_t nslots = self->slot_count + 1;
    recount_part_t parts[RECOUNT_THREADS_MAX];
    pthread_t threads[RECOUNT_THREADS_MAX];
    size_t nparts = 0, started = 0;
    memset (parts, 0, sizeof parts);
    uint8_t (*keys)[32] = calloc (nslots, sizeof *keys);
    pingyi_venue_figures_t *cur = calloc (nslots, sizeof *cur);
    pingyi_venue_figures_t *rel = calloc (nslots, sizeof *rel);
    uint64_t *rejected_rows = calloc (nslots * PINGYI_SHARD_REJECT_SLOTS, sizeof *rejected_rows);
    recount_refused_t refused = {calloc (nslots * PINGYI_SHARD_REJECT_SLOTS, sizeof (uint64_t)),
                                 calloc (nslots, sizeof (uint64_t)), calloc (nslots, sizeof (uint64_t))};
    uint8_t *stored_state = malloc (STATE_LEN);
    log_entry_t *entries = NULL;
    size_t entry_count = 0, entry_cap = 0;
    MDB_txn *txn = NULL;
    int rc = -1;
    if (!keys || !cur || !rel || !rejected_rows || !stored_state || !refused.by || !refused.rows ||
        !refused.loose) {
        pingyi_fail (err, "out of memory");
        goto done;
    }
    if (compute_keys (self, keys, keyring, shard_secret, err) || read_txn (self, &txn, err))
        goto done;
    pingyi_shard_info_t info;
    memset (&info, 0, sizeof info);
    int lrc = meta_load (self, txn, &info, stored_state, err);
    if (lrc == 0)
        lrc = figures_load (self, txn, cur, rel, err);
    if (lrc == 0)
        lrc = refused_load (self, txn, &info, cur, refused.rows, refused.loose, NULL, err);

    /* the accepted envelopes, in key order; the rejected rows counted */
    MDB_cursor *c = NULL;
    MDB_val k, v;
    if (lrc == 0 && (lrc = mdb_cursor_open (txn, self->ids, &c)) == 0) {
        for (lrc = mdb_cursor_get (c, &k, &v, MDB_FIRST); lrc == 0;
             lrc = mdb_cursor_get (c, &k, &v, MDB_NEXT)) {
            pingyi_shard_id_t row;
            if (id_row (&k, &v, &row)) {
                lrc = MDB_CORRUPTED;
                break;
            }
            int32_t slot = row.venue < self->election->venue_count ? self->slot_of[row.venue] : -1;
            if (row.status != PINGYI_ACK_ACCEPTED) {
                report->ids_rejected++;
                if (slot >= 0 && row.reason < PINGYI_SHARD_REJECT_SLOTS)
                    rejected_rows[(size_t) slot * PINGYI_SHARD_REJECT_SLOTS + row.reason]++;
                else
                    problem (report, "ids row of venue index %u, reason %u: not this shard's", row.venue,
                             row.reason);
                continue;
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
            le->slot = slot;
            le->key = k.mv_data;
            le->bytes = row.envelope;
            le->len = row.len;
        }
        mdb_cursor_close (c);
        lrc = lrc == MDB_NOTFOUND ? 0 : lrc;
    }
    report->log_entries = entry_count;

    /* the refusals remembered by their bytes, counted per venue and reason */
    if (lrc == 0 && self->has_refused && (lrc = mdb_cursor_open (txn, self->refused, &c)) == 0) {
        for (lrc = mdb_cursor_get (c, &k, &v, MDB_FIRST); lrc == 0;
             lrc = mdb_cursor_get (c, &k, &v, MDB_NEXT)) {
            if (k.mv_size != REFUSED_KEY_LEN || v.mv_size != 1) {
                lrc = MDB_CORRUPTED;
                break;
            }
            const uint8_t *kp = k.mv_data;
            uint32_t venue = (uint32_t) kp[0] << 8 | kp[1];
            uint8_t reason = *(const uint8_t *) v.mv_data;
            int32_t slot = venue == REFUSED_ORPHAN               ? (int32_t) self->slot_count
                           : venue < self->election->venue_count ? self->slot_of[venue]
                                                                 : -1;
            report->refused_rows++;
            if (slot >= 0 && refusal_code (reason))
                refused.by[(size_t) slot * PINGYI_SHARD_REJECT_SLOTS + reason]++;
            else
                problem (report,
                         "refused row of venue index %u, reason %u: not this shard's, or not a refusal",
                         venue, reason);
        }
        mdb_cursor_close (c);
        lrc = lrc == MDB_NOTFOUND ? 0 : lrc;
    }

    /* re-open, decode, count and digest in parallel */
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
            p->by_category = calloc (nslots * (self->categories + 1), sizeof *p->by_category);
            if (!p->accepted || !p->blank || !p->by_category)
                lrc = pingyi_fail (err, "out of memory for the recount");
            else if (grid_init (&p->grid, self->election, self->venue_of, self->slot_count))
                memset (&p->grid, 0, sizeof p->grid); /* too large: the hash table counts */
        }
        for (size_t t = 0; t < nparts && lrc == 0; t++)
            if (pthread_create (&threads[t], NULL, recount_part_main, &parts[t]) == 0)
                started++;
            else
                recount_part_main (&parts[t]); /* no thread: do it here */
        for (size_t t = 0; t < started; t++)
            pthread_join (threads[t], NULL);
        started = 0;
    }

    /* the parts summed into the first */
    recount_part_t *sum = &parts[0];
    for (size_t t = 0; t < nparts && lrc == 0; t++) {
        recount_part_t *p = &parts[t];
        if (p->oom)
            lrc = pingyi_fail (err, "out of memory for the recount");
        report->reopened += p->reopened;
        report->failed += p->failed;
        if (p->failed) {
            const log_entry_t *le = &entries[p->first_failed];
            char hex[2 * PINGYI_BALLOT_ID_LEN + 1];
            pingyi_hex (hex, le->key + 2, PINGYI_BALLOT_ID_LEN);
            problem (report, "ballot %s of venue index %u no longer opens or decodes as that ballot", hex,
                     (unsigned) (le->key[0] << 8 | le->key[1]));
        }
        if (t == 0)
            continue;
        state_sum (sum->state, p->state);
        for (size_t sl = 0; sl < self->slot_count; sl++) {
            sum->accepted[sl] += p->accepted[sl];
            sum->blank[sl] += p->blank[sl];
            for (size_t cat = 0; cat < self->categories; cat++)
                sum->by_category[sl * self->categories + cat] += p->by_category[sl * self->categories + cat];
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

    recount_t r = {
        .self = self, .report = report, .grid = &sum->grid, .spill = &sum->spill, .cur = cur, .rel = rel};
    if (lrc == 0)
        recount_figures (self, report, &info, stored_state, sum, rejected_rows, &refused, cur, rel);
    int result = 0;
    if (lrc == 0)
        lrc = walk_counters (self, txn, true, recount_counter, &r, &result);
    if (lrc == 0)
        lrc = walk_in (self, txn, self->pending, recount_pending_row, NULL, &r);
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
    pingyi_shard_digest (report->digest, sum->state);
    report->ok = report->sequence_ok && report->digest_ok && report->figures_ok && report->released_ok &&
                 report->failed == 0 && report->counters_differ == 0 && !report->first_problem[0];
    rc = 0;
done:
    for (size_t t = 0; t < started; t++)
        pthread_join (threads[t], NULL);
    if (txn)
        mdb_txn_abort (txn);
    for (size_t t = 0; t < RECOUNT_THREADS_MAX; t++) {
        free (parts[t].accepted);
        free (parts[t].blank);
        free (parts[t].by_category);
        grid_free (&parts[t].grid);
        tally_free (&parts[t].spill);
    }
    if (keys) {
        sodium_memzero (keys, nslots * sizeof *keys);
        free (keys);
    }
    free (cur);
    free (rel);
    free (rejected_rows);
    free (refused.by);
    free (refused.rows);
    free (refused.loose);
    free (stored_state);
    free (entries);
    return rc;
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
    stats->map_size = self->map_size;
    stats->sequence = self->info.current_sequence;
    stats->settled_sequence = self->info.sequence;
    stats->generation = self->info.generation;
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
