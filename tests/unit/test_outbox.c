/*  test_outbox.c — the venue client's durable outbox (client/outbox.c)
    and its mixing (client/mix.c): ingest puts envelopes in pending and
    advances input_consumed in one commit; an ack moves ids to done and
    deletes their envelopes, once; everything survives a reopen; an outbox
    of another election or venue, or one already open, is refused with a
    clear message; the map grows when full.  The pool: pooled ballots are
    not listed for sending nor acknowledged until the pool goes, it
    survives a reopen, it goes at k, in random order.  The shuffle is
    uniform.  Nothing let go of stays in the outbox's files after a
    compaction (every 32-byte slice of every envelope is looked for), a
    run that did not compact is compacted at the next open, and the
    compaction policy waits when it should.  */
#include "../../client/outbox.c"
#include "../../client/mix.c"

#include <dirent.h>
#include <sodium.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static const uint8_t FP[PINGYI_FP_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};

typedef struct {
    char dir[64];
} fixture_t;

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    strcpy (f->dir, "/tmp/pingyi-test-outbox-XXXXXX");
    if (!mkdtemp (f->dir))
        return -1;
    /*  The outbox creates its own directory: use one inside the temp dir.  */
    strcat (f->dir, "/ob");
    *state = f;
    return 0;
}

static void
remove_tree (const char *dir)
{
    DIR *d = opendir (dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir (d))) {
            if (!strcmp (e->d_name, ".") || !strcmp (e->d_name, ".."))
                continue;
            char path[512];
            snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
            unlink (path);
        }
        closedir (d);
    }
    rmdir (dir);
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    remove_tree (f->dir);
    *strrchr (f->dir, '/') = '\0';
    rmdir (f->dir);
    free (f);
    return 0;
}

/*  n items with random ids and recognisable "envelopes" of len bytes.  */
static pingyi_outbox_item_t *
make_items (size_t n, size_t len, uint8_t **store)
{
    pingyi_outbox_item_t *items = calloc (n, sizeof *items);
    *store = malloc (n * len);
    for (size_t i = 0; i < n; i++) {
        randombytes_buf (items[i].id, PINGYI_BALLOT_ID_LEN);
        memset (*store + i * len, (int) (i + 1), len);
        items[i].envelope = *store + i * len;
        items[i].len = len;
    }
    return items;
}

/*  The counters that persist (not this run's compaction bookkeeping).  */
static void
assert_same_counts (pingyi_outbox_stats_t a, pingyi_outbox_stats_t b)
{
    a.compacted = b.compacted = false;
    a.released = b.released = 0;
    a.released_bytes = b.released_bytes = 0;
    assert_memory_equal (&a, &b, sizeof a);
}

static void
test_ingest_ack_reopen (void **state)
{
    fixture_t *f = *state;
    char err[PINGYI_ERR_MAX];
    pingyi_outbox_t *ob = pingyi_outbox_open (f->dir, FP, "v01", err);
    assert_non_null (ob);
    pingyi_outbox_stats_t st;
    pingyi_outbox_stats (ob, &st);
    assert_int_equal (st.input_consumed, 0);
    assert_int_equal (st.pending, 0);
    assert_false (st.has_digest);

    /*  Ingest: 10 good ballots and 2 bad lines, one commit.  */
    uint8_t *store;
    pingyi_outbox_item_t *items = make_items (10, 200, &store);
    uint8_t digest[32];
    memset (digest, 0xab, sizeof digest);
    assert_int_equal (pingyi_outbox_ingest (ob, items, 10, 12, 2, digest, false, err), 0);
    pingyi_outbox_stats (ob, &st);
    assert_int_equal (st.input_consumed, 12);
    assert_int_equal (st.ingested, 10);
    assert_int_equal (st.bad_lines, 2);
    assert_int_equal (st.pending, 10);
    assert_true (st.has_digest);
    assert_memory_equal (st.input_digest, digest, 32);

    uint8_t *ids;
    size_t count;
    assert_int_equal (pingyi_outbox_pending_ids (ob, &ids, &count, err), 0);
    assert_int_equal (count, 10);
    for (size_t i = 1; i < count; i++) /* id order: random with respect to the input */
        assert_true (memcmp (ids + (i - 1) * 16, ids + i * 16, 16) < 0);
    free (ids);
    assert_int_equal (pingyi_outbox_read_begin (ob, err), 0);
    for (size_t i = 0; i < 10; i++) {
        const uint8_t *env;
        size_t len;
        assert_int_equal (pingyi_outbox_read_get (ob, items[i].id, &env, &len), 1);
        assert_int_equal (len, 200);
        assert_memory_equal (env, items[i].envelope, 200);
    }
    pingyi_outbox_read_end (ob);

    /*  Ack: 4 accepted (0..3), one duplicate (4), one rejected (5), one id
        that is not ours; item 6 accepted with a wrong tracking code.  */
    char codes[10][PINGYI_RECEIPT_LEN + 1];
    for (size_t i = 0; i < 10; i++)
        pingyi_envelope_receipt (codes[i], items[i].envelope, items[i].len);
    uint8_t stranger[16];
    randombytes_buf (stranger, sizeof stranger);
    pingyi_outbox_result_t r[8] = {
        {.id = items[0].id, .status = PINGYI_ACK_ACCEPTED, .receipt = codes[0], .receipt_len = 16},
        {.id = items[1].id, .status = PINGYI_ACK_ACCEPTED, .receipt = codes[1], .receipt_len = 16},
        {.id = items[2].id, .status = PINGYI_ACK_ACCEPTED, .receipt = codes[2], .receipt_len = 16},
        {.id = items[3].id, .status = PINGYI_ACK_ACCEPTED, .receipt = codes[3], .receipt_len = 16},
        {.id = items[4].id, .status = PINGYI_ACK_DUPLICATE, .receipt = codes[4], .receipt_len = 16},
        {.id = items[5].id, .status = PINGYI_ACK_REJECTED, .reason = PINGYI_REJECT_DECRYPT},
        {.id = stranger, .status = PINGYI_ACK_ACCEPTED, .receipt = codes[0], .receipt_len = 16},
        {.id = items[6].id, .status = PINGYI_ACK_ACCEPTED, .receipt = "0000000000000000", .receipt_len = 16},
    };
    /*  item 6's "accepted" comes with another tracking code: not believed,
        its envelope stays to be sent again.  */
    assert_int_equal (pingyi_outbox_ack (ob, r, 8, err), 6);
    assert_true (r[0].applied);
    assert_false (r[6].applied);
    assert_false (r[7].applied);
    assert_false (r[0].mismatch);
    assert_true (r[7].mismatch);
    pingyi_outbox_stats (ob, &st);
    assert_int_equal (st.accepted, 4);
    assert_int_equal (st.duplicates, 1);
    assert_int_equal (st.rejected, 1);
    assert_int_equal (st.rejected_by[PINGYI_REJECT_DECRYPT], 1);
    assert_int_equal (st.receipt_mismatch, 1);
    assert_int_equal (st.pending, 4);

    /*  The envelopes are gone; only id, status and tracking code stay.  */
    assert_int_equal (pingyi_outbox_read_begin (ob, err), 0);
    const uint8_t *env;
    size_t len;
    for (size_t i = 0; i < 6; i++)
        assert_int_equal (pingyi_outbox_read_get (ob, items[i].id, &env, &len), 0);
    assert_int_equal (pingyi_outbox_read_get (ob, items[6].id, &env, &len), 1);
    assert_memory_equal (env, items[6].envelope, 200);
    assert_int_equal (pingyi_outbox_read_get (ob, items[7].id, &env, &len), 1);
    pingyi_outbox_read_end (ob);
    uint8_t status, reason;
    char code[PINGYI_RECEIPT_LEN + 1];
    assert_int_equal (pingyi_outbox_done_get (ob, items[5].id, &status, &reason, code), 1);
    assert_int_equal (status, PINGYI_ACK_REJECTED);
    assert_int_equal (reason, PINGYI_REJECT_DECRYPT);
    assert_int_equal (pingyi_outbox_done_get (ob, items[6].id, &status, &reason, code), 0);
    assert_int_equal (pingyi_outbox_done_get (ob, items[8].id, &status, &reason, code), 0);

    /*  A late ack for the same ids changes nothing, but for the refused
        one, refused again.  */
    assert_int_equal (pingyi_outbox_ack (ob, r, 8, err), 0);
    pingyi_outbox_stats_t again;
    pingyi_outbox_stats (ob, &again);
    assert_int_equal (again.receipt_mismatch, 2);
    st.receipt_mismatch = 2;
    assert_same_counts (again, st);

    /*  Reopen: everything persisted.  */
    pingyi_outbox_close (&ob);
    assert_null (ob);
    pingyi_outbox_close (&ob); /* safe twice */
    ob = pingyi_outbox_open (f->dir, FP, "v01", err);
    assert_non_null (ob);
    pingyi_outbox_stats (ob, &again);
    assert_same_counts (again, st);
    assert_int_equal (pingyi_outbox_pending_ids (ob, &ids, &count, err), 0);
    assert_int_equal (count, 4);
    for (size_t k = 0; k < count; k++) {
        bool found = false;
        for (size_t i = 6; i < 10; i++)
            found |= !memcmp (ids + 16 * k, items[i].id, 16);
        assert_true (found);
    }
    free (ids);

    /*  Acknowledge the rest (item 6 now with its true code); write the
        receipts.  */
    pingyi_outbox_result_t rest[4];
    for (size_t i = 0; i < 4; i++)
        rest[i] = (pingyi_outbox_result_t){
            .id = items[6 + i].id, .status = PINGYI_ACK_ACCEPTED, .receipt = codes[6 + i], .receipt_len = 16};
    assert_int_equal (pingyi_outbox_ack (ob, rest, 4, err), 4);
    pingyi_outbox_stats (ob, &st);
    assert_int_equal (st.pending, 0);
    assert_int_equal (st.accepted, 8);
    assert_int_equal (pingyi_outbox_set_closed (ob, err), 0);
    char path[1100];
    uint64_t written;
    assert_int_equal (pingyi_outbox_write_receipts (ob, path, sizeof path, &written, err), 0);
    assert_int_equal (written, 9); /* accepted and duplicate, not rejected */
    size_t flen;
    uint8_t *text = pingyi_read_file (path, 1 << 20, &flen, err);
    assert_non_null (text);
    assert_int_equal (flen, 9 * 17);
    for (size_t i = 1; i < 9; i++)
        assert_true (memcmp (text + 17 * (i - 1), text + 17 * i, 16) < 0);
    for (size_t i = 0; i < 10; i++)
        assert_true ((strstr ((char *) text, codes[i]) != NULL) == (i != 5));
    free (text);
    pingyi_outbox_close (&ob);

    ob = pingyi_outbox_open (f->dir, FP, "v01", err);
    pingyi_outbox_stats (ob, &st);
    assert_true (st.closed);
    pingyi_outbox_close (&ob);
    free (items);
    free (store);
}

static void
test_other_election_venue_or_process_is_refused (void **state)
{
    fixture_t *f = *state;
    char err[PINGYI_ERR_MAX];
    pingyi_outbox_t *ob = pingyi_outbox_open (f->dir, FP, "v01", err);
    assert_non_null (ob);

    /*  Open twice: the lock refuses the second.  */
    pingyi_outbox_t *twice = pingyi_outbox_open (f->dir, FP, "v01", err);
    assert_null (twice);
    char want[PINGYI_ERR_MAX];
    snprintf (
        want, sizeof want,
        "outbox %s is in use by another pingyi-client (%s/client.lock is locked): one client per outbox",
        f->dir, f->dir);
    assert_string_equal (err, want);
    pingyi_outbox_close (&ob);

    uint8_t other[PINGYI_FP_LEN];
    memset (other, 0xee, sizeof other);
    ob = pingyi_outbox_open (f->dir, other, "v01", err);
    assert_null (ob);
    snprintf (
        want, sizeof want,
        "outbox %s belongs to election 0102030405060708..., not this deploy's eeeeeeeeeeeeeeee...: it holds "
        "another election's ballots; give this run another --outbox",
        f->dir);
    assert_string_equal (err, want);

    ob = pingyi_outbox_open (f->dir, FP, "v02", err);
    assert_null (ob);
    snprintf (want, sizeof want, "outbox %s belongs to venue v01, not v02: give each venue its own --outbox",
              f->dir);
    assert_string_equal (err, want);

    /*  Still usable by its owner.  */
    ob = pingyi_outbox_open (f->dir, FP, "v01", err);
    assert_non_null (ob);
    pingyi_outbox_close (&ob);

    assert_null (pingyi_outbox_open ("/proc/version/ob", FP, "v01", err));
    assert_non_null (strstr (err, "cannot create the directory"));
}

static void
test_map_grows_when_full (void **state)
{
    fixture_t *f = *state;
    char err[PINGYI_ERR_MAX];
    pingyi_outbox_t *ob = pingyi_outbox_open (f->dir, FP, "v01", err);
    assert_non_null (ob);
    /*  20 chunks of 1000 × 4 KB: past the 64 MiB the map starts with.  */
    uint64_t total = 0;
    for (int chunk = 0; chunk < 20; chunk++) {
        uint8_t *store;
        pingyi_outbox_item_t *items = make_items (1000, 4000, &store);
        assert_int_equal (pingyi_outbox_ingest (ob, items, 1000, 1000, 0, NULL, false, err), 0);
        total += 1000;
        free (items);
        free (store);
    }
    MDB_envinfo info;
    mdb_env_info (ob->db.env, &info);
    assert_true (info.me_mapsize > MAP_INITIAL);
    pingyi_outbox_stats_t st;
    pingyi_outbox_stats (ob, &st);
    assert_int_equal (st.pending, total);
    assert_int_equal (st.input_consumed, total);
    pingyi_outbox_close (&ob);

    ob = pingyi_outbox_open (f->dir, FP, "v01", err);
    assert_non_null (ob);
    pingyi_outbox_stats (ob, &st);
    assert_int_equal (st.pending, total);
    pingyi_outbox_close (&ob);
}

/*  ---------------------------------------------------------------------
    The pool and the shuffle  */

/*  n items with random ids and random envelopes of len bytes each.  */
static pingyi_outbox_item_t *
random_items (size_t n, size_t len, uint8_t **store)
{
    pingyi_outbox_item_t *items = calloc (n, sizeof *items);
    *store = malloc (n * len);
    randombytes_buf (*store, n * len);
    for (size_t i = 0; i < n; i++) {
        randombytes_buf (items[i].id, PINGYI_BALLOT_ID_LEN);
        items[i].envelope = *store + i * len;
        items[i].len = len;
    }
    return items;
}

static bool
has_id (const uint8_t *ids, size_t count, const uint8_t *id)
{
    for (size_t i = 0; i < count; i++)
        if (!memcmp (ids + 16 * i, id, 16))
            return true;
    return false;
}

static void
test_pool_holds_until_released (void **state)
{
    fixture_t *f = *state;
    char err[PINGYI_ERR_MAX];
    pingyi_outbox_t *ob = pingyi_outbox_open (f->dir, FP, "v01", err);
    assert_non_null (ob);
    uint8_t *store;
    pingyi_outbox_item_t *items = random_items (12, 150, &store);

    /*  2 sendable (a file window), then 3 pooled (live input), one
        commit each.  */
    assert_int_equal (pingyi_outbox_ingest (ob, items, 2, 2, 0, NULL, false, err), 0);
    assert_int_equal (pingyi_outbox_ingest (ob, items + 2, 3, 4, 1, NULL, true, err), 0);
    pingyi_outbox_stats_t st;
    pingyi_outbox_stats (ob, &st);
    assert_int_equal (st.pending, 5);
    assert_int_equal (st.pooled, 3);
    assert_int_equal (st.input_consumed, 6);
    assert_false (pingyi_pool_due (st.pooled, 10));

    /*  Pooled ballots are not listed for sending.  */
    uint8_t *ids;
    size_t count;
    assert_int_equal (pingyi_outbox_pending_ids (ob, &ids, &count, err), 0);
    assert_int_equal (count, 2);
    assert_true (has_id (ids, count, items[0].id) && has_id (ids, count, items[1].id));
    free (ids);

    /*  An ack for a pooled id is no ack of ours: never sent.  */
    char code2[PINGYI_RECEIPT_LEN + 1], code0[PINGYI_RECEIPT_LEN + 1];
    pingyi_envelope_receipt (code2, items[2].envelope, items[2].len);
    pingyi_envelope_receipt (code0, items[0].envelope, items[0].len);
    pingyi_outbox_result_t r[2] = {
        {.id = items[2].id, .status = PINGYI_ACK_ACCEPTED, .receipt = code2, .receipt_len = 16},
        {.id = items[0].id, .status = PINGYI_ACK_ACCEPTED, .receipt = code0, .receipt_len = 16},
    };
    assert_int_equal (pingyi_outbox_ack (ob, r, 2, err), 1);
    assert_false (r[0].applied);
    assert_true (r[1].applied);
    pingyi_outbox_stats (ob, &st);
    assert_int_equal (st.pending, 4);
    assert_int_equal (st.pooled, 3);

    /*  A restart keeps the pool: still pooled, still not listed.  */
    pingyi_outbox_close (&ob);
    ob = pingyi_outbox_open (f->dir, FP, "v01", err);
    assert_non_null (ob);
    pingyi_outbox_stats (ob, &st);
    assert_int_equal (st.pending, 4);
    assert_int_equal (st.pooled, 3);
    assert_int_equal (pingyi_outbox_pending_ids (ob, &ids, &count, err), 0);
    assert_int_equal (count, 1);
    free (ids);

    /*  7 more arrive: 10 = k, the pool goes, all of it, in one commit.  */
    assert_int_equal (pingyi_outbox_ingest (ob, items + 5, 7, 7, 0, NULL, true, err), 0);
    pingyi_outbox_stats (ob, &st);
    assert_true (pingyi_pool_due (st.pooled, 10));
    assert_false (pingyi_pool_due (9, 10));
    assert_true (pingyi_pool_due (1, 0)); /* k 0 counts as 1 */
    assert_int_equal (pingyi_pool_release (ob, &ids, &count, err), 0);
    assert_int_equal (count, 10);
    for (size_t i = 2; i < 12; i++)
        assert_true (has_id (ids, count, items[i].id));
    free (ids);
    pingyi_outbox_stats (ob, &st);
    assert_int_equal (st.pooled, 0);
    assert_int_equal (st.pending, 11);
    assert_int_equal (pingyi_outbox_pending_ids (ob, &ids, &count, err), 0);
    assert_int_equal (count, 11);
    free (ids);
    /*  An empty pool lets nothing go.  */
    assert_int_equal (pingyi_pool_release (ob, &ids, &count, err), 0);
    assert_int_equal (count, 0);
    free (ids);
    /*  Now the ack applies.  */
    assert_int_equal (pingyi_outbox_ack (ob, r, 1, err), 1);

    /*  And the pool is gone after a reopen too.  */
    pingyi_outbox_close (&ob);
    ob = pingyi_outbox_open (f->dir, FP, "v01", err);
    pingyi_outbox_stats (ob, &st);
    assert_int_equal (st.pooled, 0);
    assert_int_equal (st.pending, 10);
    pingyi_outbox_close (&ob);
    free (items);
    free (store);
}

static int
by_bytes (const void *a, const void *b)
{
    return memcmp (a, b, 16);
}

static void
test_pool_leaves_in_random_order (void **state)
{
    fixture_t *f = *state;
    char err[PINGYI_ERR_MAX];
    pingyi_outbox_t *ob = pingyi_outbox_open (f->dir, FP, "v01", err);
    assert_non_null (ob);
    /*  Which of 4 pooled ballots leaves first, over 400 releases: each
        about 100 times; and the order is not the id order.  */
    unsigned first[4] = {0}, sorted = 0;
    for (int round = 0; round < 400; round++) {
        uint8_t *store;
        pingyi_outbox_item_t *items = random_items (4, 32, &store);
        assert_int_equal (pingyi_outbox_ingest (ob, items, 4, 4, 0, NULL, true, err), 0);
        uint8_t *ids;
        size_t count;
        assert_int_equal (pingyi_pool_release (ob, &ids, &count, err), 0);
        assert_int_equal (count, 4);
        for (int i = 0; i < 4; i++)
            if (!memcmp (ids, items[i].id, 16))
                first[i]++;
        uint8_t copy[64];
        memcpy (copy, ids, 64);
        qsort (copy, 4, 16, by_bytes);
        sorted += !memcmp (copy, ids, 64);
        free (ids);
        free (items);
        free (store);
    }
    for (int i = 0; i < 4; i++)
        assert_true (first[i] > 50 && first[i] < 150);
    assert_true (sorted < 40); /* 1 in 24 by chance: about 17 */
    pingyi_outbox_close (&ob);
}

static void
test_shuffle_is_uniform (void **state)
{
    (void) state;
    /*  All 24 orders of 4 items, 24000 shuffles: each about 1000 times.
        Chi-square with 23 degrees of freedom: 80 is far in the tail
        (p < 1e-7), so a sound shuffle does not fail this.  */
    unsigned counts[256] = {0};
    for (int n = 0; n < 24000; n++) {
        uint8_t v[4] = {0, 1, 2, 3};
        pingyi_shuffle (v, 4, 1);
        counts[v[0] << 6 | v[1] << 4 | v[2] << 2 | v[3]]++;
    }
    double chi = 0;
    unsigned seen = 0;
    for (int key = 0; key < 256; key++)
        if (counts[key]) {
            seen++;
            chi += (counts[key] - 1000.0) * (counts[key] - 1000.0) / 1000.0;
        }
    assert_int_equal (seen, 24);
    assert_true (chi < 80);

    /*  Items wider than the swap buffer move whole; nothing is lost.  */
    uint8_t big[5][100];
    for (int i = 0; i < 5; i++)
        memset (big[i], i + 1, sizeof big[i]);
    pingyi_shuffle (big, 5, sizeof big[0]);
    unsigned mask = 0;
    for (int i = 0; i < 5; i++) {
        for (int j = 1; j < 100; j++)
            assert_int_equal (big[i][j], big[i][0]);
        mask |= 1u << big[i][0];
    }
    assert_int_equal (mask, 0x3e);
    pingyi_shuffle (big, 1, sizeof big[0]); /* n < 2: nothing to do */
    pingyi_shuffle (NULL, 0, 16);
}

static void
test_window_holds_shuffles_and_wipes (void **state)
{
    (void) state;
    pingyi_window_t *w = pingyi_window_new ();
    assert_non_null (w);
    /*  3000 bodies of 40 bytes (past the first 64 KiB block: it grows).  */
    for (uint32_t i = 0; i < 3000; i++) {
        uint8_t body[40];
        memset (body, 0, sizeof body);
        memcpy (body, &i, sizeof i);
        assert_int_equal (pingyi_window_add (w, body, sizeof body), 0);
    }
    assert_int_equal (pingyi_window_count (w), 3000);
    assert_int_equal (pingyi_window_bytes (w), 3000 * 40);
    pingyi_window_shuffle (w);
    uint8_t *seen = calloc (3000, 1);
    size_t in_place = 0;
    for (size_t i = 0; i < 3000; i++) {
        size_t len = 0;
        const uint8_t *b = pingyi_window_body (w, i, &len);
        assert_non_null (b);
        assert_int_equal (len, 40);
        uint32_t v;
        memcpy (&v, b, sizeof v);
        assert_true (v < 3000 && !seen[v]);
        seen[v] = 1;
        in_place += v == i;
        pingyi_window_wipe (w, i);
        assert_null (pingyi_window_body (w, i, &len));
    }
    assert_true (in_place < 20); /* about 1 expected */
    free (seen);
    pingyi_window_clear (w);
    assert_int_equal (pingyi_window_count (w), 0);
    uint8_t again[8] = {9};
    assert_int_equal (pingyi_window_add (w, again, sizeof again), 0);
    assert_int_equal (pingyi_window_count (w), 1);
    pingyi_window_destroy (&w);
    assert_null (w);
    pingyi_window_destroy (&w);

    /*  Sizes: the budget, never under k x 100; a request as given.  */
    assert_int_equal (pingyi_window_size (10, 1000, 0), PINGYI_WINDOW_BYTES / 1000);
    assert_int_equal (pingyi_window_size (1000, 4000, 0), 100000);
    assert_int_equal (pingyi_window_size (10, 100, 5000), 5000);
}

/*  ---------------------------------------------------------------------
    Nothing left behind  */

/*  A file's bytes (NULL when absent).  */
static uint8_t *
slurp (const char *path, size_t *len)
{
    FILE *in = fopen (path, "rb");
    if (!in)
        return NULL;
    fseek (in, 0, SEEK_END);
    long size = ftell (in);
    fseek (in, 0, SEEK_SET);
    uint8_t *buf = malloc (size > 0 ? (size_t) size : 1);
    *len = fread (buf, 1, (size_t) (size > 0 ? size : 0), in);
    fclose (in);
    return buf;
}

/*  How many 32-byte slices (at any offset) of the given envelopes occur
    anywhere in the files of dir.  A table of every slice, keyed by its
    first 8 bytes, then one pass over each file.  */
static size_t
residue (const char *dir, const pingyi_outbox_item_t *items, const size_t *which, size_t count)
{
    size_t slices = 0;
    for (size_t i = 0; i < count; i++)
        slices += items[which[i]].len - 31;
    size_t cap = 1;
    while (cap < 2 * slices)
        cap *= 2;
    const uint8_t **table = calloc (cap, sizeof *table);
    for (size_t i = 0; i < count; i++) {
        const pingyi_outbox_item_t *it = &items[which[i]];
        for (size_t o = 0; o + 32 <= it->len; o++) {
            uint64_t key;
            memcpy (&key, it->envelope + o, 8);
            size_t h = (size_t) (key * 0x9e3779b97f4a7c15ull) & (cap - 1);
            while (table[h])
                h = (h + 1) & (cap - 1);
            table[h] = it->envelope + o;
        }
    }
    size_t found = 0;
    DIR *d = opendir (dir);
    struct dirent *e;
    while ((e = readdir (d))) {
        char path[600];
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = 0;
        uint8_t *buf = e->d_name[0] == '.' ? NULL : slurp (path, &len);
        for (size_t p = 0; buf && p + 32 <= len; p++) {
            uint64_t key;
            memcpy (&key, buf + p, 8);
            for (size_t h = (size_t) (key * 0x9e3779b97f4a7c15ull) & (cap - 1); table[h];
                 h = (h + 1) & (cap - 1))
                if (!memcmp (table[h], buf + p, 32)) {
                    found++;
                    break;
                }
        }
        free (buf);
    }
    closedir (d);
    free (table);
    return found;
}

/*  Envelopes of three kinds of size: on a leaf page (300 bytes), alone on
    one overflow page (3500 and 3100: the tail of such a page is not
    cleared by LMDB, so a shorter value written where a longer one was
    keeps the longer one's end -- which LMDB's own compacting copy,
    mdb_env_copy2 with MDB_CP_COMPACT, carries over), over several overflow
    pages (9000).  */
static pingyi_outbox_item_t *
mixed_items (size_t n, uint8_t **store)
{
    static const size_t sizes[4] = {300, 3500, 9000, 3100};
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += sizes[i % 4];
    pingyi_outbox_item_t *items = calloc (n, sizeof *items);
    *store = malloc (total);
    randombytes_buf (*store, total);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        randombytes_buf (items[i].id, PINGYI_BALLOT_ID_LEN);
        items[i].envelope = *store + off;
        items[i].len = sizes[i % 4];
        off += sizes[i % 4];
    }
    return items;
}

/*  Ack items[from, to) as accepted, one ACK transaction per 7.  */
static void
ack_range (pingyi_outbox_t *ob, const pingyi_outbox_item_t *items, size_t from, size_t to)
{
    char err[PINGYI_ERR_MAX];
    for (size_t i = from; i < to; i += 7) {
        pingyi_outbox_result_t r[7];
        size_t n = 0;
        char codes[7][PINGYI_RECEIPT_LEN + 1];
        for (size_t j = i; j < to && n < 7; j++) {
            pingyi_envelope_receipt (codes[n], items[j].envelope, items[j].len);
            r[n] = (pingyi_outbox_result_t){
                .id = items[j].id, .status = PINGYI_ACK_ACCEPTED, .receipt = codes[n], .receipt_len = 16};
            n++;
        }
        assert_int_equal (pingyi_outbox_ack (ob, r, n, err), (int) n);
    }
}

static void
test_nothing_let_go_of_stays (void **state)
{
    fixture_t *f = *state;
    char err[PINGYI_ERR_MAX];
    pingyi_outbox_t *ob = pingyi_outbox_open (f->dir, FP, "v01", err);
    assert_non_null (ob);
    /*  300 envelopes in 10 chunks; the first 200 acknowledged in many small
        transactions, interleaved with more ingests, so pages are copied,
        freed and reused many times over.  */
    uint8_t *store;
    const size_t n = 300;
    pingyi_outbox_item_t *items = mixed_items (n, &store);
    for (size_t c = 0; c < 10; c++) {
        assert_int_equal (pingyi_outbox_ingest (ob, items + 30 * c, 30, 30, 0, NULL, c % 2 == 1, err), 0);
        if (c % 2 == 1) {
            uint8_t *ids;
            size_t count;
            assert_int_equal (pingyi_pool_release (ob, &ids, &count, err), 0);
            free (ids);
        }
        if (c >= 3)
            ack_range (ob, items, 30 * (c - 3), 30 * (c - 2));
    }
    ack_range (ob, items, 210, 200 + 10); /* nothing: keeps the ranges simple */
    pingyi_outbox_stats_t st;
    pingyi_outbox_stats (ob, &st);
    assert_int_equal (st.pending, n - 210);
    assert_int_equal (st.released, 210);
    assert_false (st.compacted);

    size_t gone[300], kept[300], ngone = 0, nkept = 0;
    for (size_t i = 0; i < n; i++) {
        if (i < 210)
            gone[ngone++] = i;
        else
            kept[nkept++] = i;
    }
    size_t before = residue (f->dir, items, gone, ngone);
    assert_int_equal (pingyi_outbox_compact (ob, err), 0);
    pingyi_outbox_stats (ob, &st);
    assert_true (st.compacted);
    assert_int_equal (st.released, 0);
    size_t after = residue (f->dir, items, gone, ngone);
    print_message ("slices of let-go envelopes in the outbox: %zu before compaction, %zu after (%lld ms)\n",
                   before, after, (long long) pingyi_outbox_compact_cost_ms (ob));
    assert_int_equal (after, 0);
    /*  The live ones are all there, whole.  */
    assert_int_equal (pingyi_outbox_read_begin (ob, err), 0);
    for (size_t i = 210; i < n; i++) {
        const uint8_t *env;
        size_t len;
        assert_int_equal (pingyi_outbox_read_get (ob, items[i].id, &env, &len), 1);
        assert_int_equal (len, items[i].len);
        assert_memory_equal (env, items[i].envelope, len);
    }
    for (size_t i = 0; i < 210; i++) {
        const uint8_t *env;
        size_t len;
        assert_int_equal (pingyi_outbox_read_get (ob, items[i].id, &env, &len), 0);
    }
    pingyi_outbox_read_end (ob);
    uint8_t status, reason;
    char code[PINGYI_RECEIPT_LEN + 1], want[PINGYI_RECEIPT_LEN + 1];
    pingyi_envelope_receipt (want, items[5].envelope, items[5].len);
    assert_int_equal (pingyi_outbox_done_get (ob, items[5].id, &status, &reason, code), 1);
    assert_string_equal (code, want);
    pingyi_outbox_stats_t kept_stats = st;

    /*  Let the rest go, "crash" (close without compacting): the next open
        compacts before anything else.  */
    ack_range (ob, items, 210, n);
    pingyi_outbox_stats (ob, &st);
    kept_stats = st;
    assert_int_equal (st.pending, 0);
    pingyi_outbox_close (&ob);
    ob = pingyi_outbox_open (f->dir, FP, "v01", err);
    assert_non_null (ob);
    pingyi_outbox_stats (ob, &st);
    assert_true (st.compacted);
    assert_same_counts (st, kept_stats);
    size_t all[300];
    for (size_t i = 0; i < n; i++)
        all[i] = i;
    assert_int_equal (residue (f->dir, items, all, n), 0);
    char path[1100];
    uint64_t written;
    assert_int_equal (pingyi_outbox_write_receipts (ob, path, sizeof path, &written, err), 0);
    assert_int_equal (written, n);

    /*  A compaction with nothing left to copy but the counters, and one
        more open: still sound.  */
    assert_int_equal (pingyi_outbox_compact (ob, err), 0);
    pingyi_outbox_close (&ob);
    ob = pingyi_outbox_open (f->dir, FP, "v01", err);
    assert_non_null (ob);
    pingyi_outbox_stats (ob, &st);
    assert_same_counts (st, kept_stats);
    /*  No copy left beside it.  */
    char copy[600];
    snprintf (copy, sizeof copy, "%s/data.mdb.compact", f->dir);
    assert_int_equal (access (copy, F_OK), -1);
    pingyi_outbox_close (&ob);
    free (items);
    free (store);
    (void) kept;
    (void) nkept;
}

static void
test_compaction_policy (void **state)
{
    fixture_t *f = *state;
    char err[PINGYI_ERR_MAX];
    pingyi_outbox_t *ob = pingyi_outbox_open (f->dir, FP, "v01", err);
    assert_non_null (ob);
    /*  A new outbox was written to (its identity): idle, it compacts.  */
    assert_int_equal (pingyi_outbox_maybe_compact (ob, false, err), 0);
    assert_int_equal (pingyi_outbox_maybe_compact (ob, true, err), 1);
    /*  Clean: nothing to do.  */
    assert_int_equal (pingyi_outbox_maybe_compact (ob, true, err), 0);
    uint8_t *store;
    pingyi_outbox_item_t *items = random_items (1200, 100, &store);
    assert_int_equal (pingyi_outbox_ingest (ob, items, 1200, 1200, 0, NULL, false, err), 0);
    /*  Written, but too soon after the last compaction.  */
    assert_int_equal (pingyi_outbox_maybe_compact (ob, true, err), 0);
    usleep ((PINGYI_COMPACT_GAP_MS + 100) * 1000);
    /*  Not idle and little let go of: not worth it yet.  */
    ack_range (ob, items, 0, 10);
    assert_int_equal (pingyi_outbox_maybe_compact (ob, false, err), 0);
    /*  1000 envelopes let go of: worth it, idle or not.  */
    ack_range (ob, items, 10, 1000);
    assert_int_equal (pingyi_outbox_maybe_compact (ob, false, err), 1);
    pingyi_outbox_stats_t st;
    pingyi_outbox_stats (ob, &st);
    assert_true (st.compacted);
    assert_int_equal (st.pending, 200);
    assert_true (pingyi_outbox_compact_cost_ms (ob) >= 0);
    /*  An open read blocks it (nothing may be mid-transaction).  */
    ack_range (ob, items, 1000, 1010);
    usleep ((PINGYI_COMPACT_GAP_MS + 100) * 1000);
    assert_int_equal (pingyi_outbox_read_begin (ob, err), 0);
    assert_int_equal (pingyi_outbox_maybe_compact (ob, true, err), 0);
    assert_int_equal (pingyi_outbox_compact (ob, err), -1);
    pingyi_outbox_read_end (ob);
    assert_int_equal (pingyi_outbox_maybe_compact (ob, true, err), 1);
    pingyi_outbox_close (&ob);
    free (items);
    free (store);
}

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_ingest_ack_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown (test_other_election_venue_or_process_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_map_grows_when_full, setup, teardown),
        cmocka_unit_test_setup_teardown (test_pool_holds_until_released, setup, teardown),
        cmocka_unit_test_setup_teardown (test_pool_leaves_in_random_order, setup, teardown),
        cmocka_unit_test (test_shuffle_is_uniform),
        cmocka_unit_test (test_window_holds_shuffles_and_wipes),
        cmocka_unit_test_setup_teardown (test_nothing_let_go_of_stays, setup, teardown),
        cmocka_unit_test_setup_teardown (test_compaction_policy, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
