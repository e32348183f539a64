/*  recount.c — the offline recount: every accepted envelope re-opened,
    decoded and counted again, and compared with what is stored.  */
#define _GNU_SOURCE
#include "shard_impl.h"

#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    bool faulted;                   /* the guard fired: the log points outside the file */
    char fault[PINGYI_ERR_MAX];     /* what it said */
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

static int
recount_part_run (void *arg, char *err)
{
    (void) err;
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
            shard_grid_count (&r->grid, &r->ballot, e, (size_t) slot);
        else
            pingyi_ballot_count (&r->ballot, e, self->venue_of[slot], shard_tally_count_fn, &r->spill);
    }
    sodium_memzero (r->body, sizeof r->body);
    sodium_memzero (&r->ballot, sizeof r->ballot);
    r->oom = r->spill.oom;
    return 0;
}

/*  A part in its thread, inside the guard: a log entry whose stored length
    reaches past the file ends this part with the fault, not the process.  */
static void *
recount_part_main (void *arg)
{
    recount_part_t *r = arg;
    if (pingyi_lmdb_guard (r->self->path, recount_part_run, r, r->fault)) {
        r->faulted = true;
        sodium_memzero (r->body, sizeof r->body);
        sodium_memzero (&r->ballot, sizeof r->ballot);
    }
    return NULL;
}

/*  One stored block (counts + pending) against the recount: the grid holds
    the recount's block at (slot, form position), the same layout, so the
    two are compared cell by cell and the grid's cells taken (what is left
    after the walk is missing from the db); a spilled recount (a grid too
    large) is looked up per cell.  */
static int
recount_row (uint32_t venue, uint32_t subject, const uint8_t *cells, void *arg)
{
    recount_t *r = arg;
    pingyi_shard_t *self = r->self;
    const pingyi_election_t *e = self->election;
    int32_t slot = venue < e->venue_count ? self->slot_of[venue] : -1;
    int pos = slot < 0 ? -1 : pingyi_election_form_index (e, venue, subject);
    uint32_t *block = NULL;
    if (r->grid->cells && pos >= 0)
        block = r->grid->cells + r->grid->slot_base[slot] + (size_t) pos * self->row_cells;
    uint8_t row[ROW_KEY_LEN];
    pingyi_row_key_pack (venue, subject, row);
    for (size_t i = 0; i < self->row_cells; i++) {
        uint64_t count = pingyi_get_le32 (cells + 4 * i), want = 0;
        if (block) {
            want = block[i];
            block[i] = 0;
        }
        if (!count && !want && !r->spill->used)
            continue;
        uint8_t key[PINGYI_COUNTER_KEY_LEN];
        shard_row_cell_key (self, row, i, key);
        uint64_t k = pingyi_get_be64 (key);
        tally_entry_t *t = r->spill->used ? shard_tally_find (r->spill, k, false) : NULL;
        if (t) {
            want += t->count;
            t->seen = true;
        }
        if (!count && !want)
            continue;
        r->report->counters_checked++;
        if (want != count) {
            r->report->counters_differ++;
            problem (r->report, "counter %016llx: stored %llu (counts + pending), recount gives %llu",
                     (unsigned long long) k, (unsigned long long) count, (unsigned long long) want);
        }
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
    uint32_t venue = pingyi_get_be16 (p);
    int32_t slot = venue < self->election->venue_count ? self->slot_of[venue] : -1;
    if (slot < 0 || r->cur[slot].accepted == r->rel[slot].accepted) {
        r->report->released_ok = false;
        problem (r->report, "pending counters for venue index %u, which has nothing unreleased", venue);
    }
    return 0;
}

/*  Walk db inside txn with a step function (as read.c's `walk`, in a given txn).  */
static int
walk_in (pingyi_shard_t *self, MDB_txn *txn, MDB_dbi dbi, shard_row_fn *step, void *fn, void *arg)
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
            if (shard_stored_reject (c) &&
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
        if (nrows != refused->rows[sl] || shard_refusals_of (by) != nrows + refused->loose[sl]) {
            report->figures_ok = false;
            problem (
                report,
                "venue %s: figures count %llu refusals, refused holds %llu rows (meta says %llu) and %llu "
                "were counted without a row",
                id, (unsigned long long) shard_refusals_of (by), (unsigned long long) nrows,
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
    if (shard_compute_keys (self, keys, keyring, shard_secret, err) || shard_read_txn (self, &txn, err))
        goto done;
    pingyi_shard_info_t info;
    memset (&info, 0, sizeof info);
    int lrc = shard_meta_load (self, txn, &info, stored_state, err);
    if (lrc == 0)
        lrc = shard_figures_load (self, txn, cur, rel, err);
    if (lrc == 0)
        lrc = shard_refused_load (self, txn, &info, cur, refused.rows, refused.loose, NULL, err);

    /* the accepted envelopes, in key order; the rejected rows counted */
    MDB_cursor *c = NULL;
    MDB_val k, v;
    if (lrc == 0 && (lrc = mdb_cursor_open (txn, self->ids, &c)) == 0) {
        for (lrc = mdb_cursor_get (c, &k, &v, MDB_FIRST); lrc == 0;
             lrc = mdb_cursor_get (c, &k, &v, MDB_NEXT)) {
            pingyi_shard_id_t row;
            if (shard_id_row (&k, &v, &row)) {
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
            uint32_t venue = pingyi_get_be16 (kp);
            uint8_t reason = *(const uint8_t *) v.mv_data;
            int32_t slot = venue == REFUSED_ORPHAN               ? (int32_t) self->slot_count
                           : venue < self->election->venue_count ? self->slot_of[venue]
                                                                 : -1;
            report->refused_rows++;
            if (slot >= 0 && shard_refusal_code (reason))
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
            else if (shard_grid_init (&p->grid, self->election, self->venue_of, self->slot_count))
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
        if (p->faulted)
            lrc = pingyi_fail (err, "%s", p->fault);
        report->reopened += p->reopened;
        report->failed += p->failed;
        if (p->failed) {
            const log_entry_t *le = &entries[p->first_failed];
            char hex[2 * PINGYI_BALLOT_ID_LEN + 1];
            pingyi_hex (hex, le->key + 2, PINGYI_BALLOT_ID_LEN);
            problem (report, "ballot %s of venue index %u no longer opens or decodes as that ballot", hex,
                     (unsigned) pingyi_get_be16 (le->key));
        }
        if (t == 0)
            continue;
        shard_state_sum (sum->state, p->state);
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
                shard_tally_add (&sum->spill, p->spill.slots[i].key, p->spill.slots[i].count);
        if (sum->spill.oom)
            lrc = pingyi_fail (err, "out of memory for the recount");
    }

    recount_t r = {
        .self = self, .report = report, .grid = &sum->grid, .spill = &sum->spill, .cur = cur, .rel = rel};
    if (lrc == 0)
        recount_figures (self, report, &info, stored_state, sum, rejected_rows, &refused, cur, rel);
    int result = 0;
    if (lrc == 0)
        lrc = shard_walk_rows (self, txn, true, recount_row, &r, &result);
    if (lrc == 0)
        lrc = walk_in (self, txn, self->pending, recount_pending_row, NULL, &r);
    mdb_txn_abort (txn);
    txn = NULL;
    if (lrc) {
        if (lrc != -1)
            shard_lmdb_fail (self, err, "recount", lrc);
        goto done;
    }
    /* counters the recount made that the db does not hold */
    if (sum->grid.cells) {
        size_t slot = 0;
        for (size_t i = 0; i < sum->grid.size; i++)
            if (sum->grid.cells[i]) {
                uint64_t key =
                    shard_grid_key (&sum->grid, self->election, self->venue_of, self->slot_count, i, &slot);
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
        shard_grid_free (&parts[t].grid);
        shard_tally_free (&parts[t].spill);
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
