/*  test_outbox.c — the venue client's durable outbox (client/outbox.c):
    ingest puts envelopes in pending and advances input_consumed in one
    commit; an ack moves ids to done and deletes their envelopes, once;
    everything survives a reopen; an outbox of another election or venue,
    or one already open, is refused with a clear message; the map grows
    when full.  */
#include "../../client/outbox.c"

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
    assert_int_equal (pingyi_outbox_ingest (ob, items, 10, 12, 2, digest, err), 0);
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
    assert_int_equal (pingyi_outbox_ack (ob, r, 8, err), 7);
    assert_true (r[0].applied);
    assert_false (r[6].applied);
    assert_false (r[0].mismatch);
    assert_true (r[7].mismatch);
    pingyi_outbox_stats (ob, &st);
    assert_int_equal (st.accepted, 5);
    assert_int_equal (st.duplicates, 1);
    assert_int_equal (st.rejected, 1);
    assert_int_equal (st.rejected_by[PINGYI_REJECT_DECRYPT], 1);
    assert_int_equal (st.receipt_mismatch, 1);
    assert_int_equal (st.pending, 3);

    /*  The envelopes are gone; only id, status and tracking code stay.  */
    assert_int_equal (pingyi_outbox_read_begin (ob, err), 0);
    const uint8_t *env;
    size_t len;
    for (size_t i = 0; i < 7; i++)
        assert_int_equal (pingyi_outbox_read_get (ob, items[i].id, &env, &len), 0);
    assert_int_equal (pingyi_outbox_read_get (ob, items[7].id, &env, &len), 1);
    pingyi_outbox_read_end (ob);
    uint8_t status, reason;
    char code[PINGYI_RECEIPT_LEN + 1];
    assert_int_equal (pingyi_outbox_done_get (ob, items[5].id, &status, &reason, code), 1);
    assert_int_equal (status, PINGYI_ACK_REJECTED);
    assert_int_equal (reason, PINGYI_REJECT_DECRYPT);
    assert_int_equal (pingyi_outbox_done_get (ob, items[6].id, &status, &reason, code), 1);
    assert_string_equal (code, codes[6]); /* ours, not the shard's */
    assert_int_equal (pingyi_outbox_done_get (ob, items[8].id, &status, &reason, code), 0);

    /*  A late ack for the same ids changes nothing.  */
    assert_int_equal (pingyi_outbox_ack (ob, r, 8, err), 0);
    pingyi_outbox_stats_t again;
    pingyi_outbox_stats (ob, &again);
    assert_memory_equal (&again, &st, sizeof st);

    /*  Reopen: everything persisted.  */
    pingyi_outbox_close (&ob);
    assert_null (ob);
    pingyi_outbox_close (&ob); /* safe twice */
    ob = pingyi_outbox_open (f->dir, FP, "v01", err);
    assert_non_null (ob);
    pingyi_outbox_stats (ob, &again);
    assert_memory_equal (&again, &st, sizeof st);
    assert_int_equal (pingyi_outbox_pending_ids (ob, &ids, &count, err), 0);
    assert_int_equal (count, 3);
    for (size_t k = 0; k < count; k++) {
        bool found = false;
        for (size_t i = 7; i < 10; i++)
            found |= !memcmp (ids + 16 * k, items[i].id, 16);
        assert_true (found);
    }
    free (ids);

    /*  Acknowledge the rest; write the receipts.  */
    pingyi_outbox_result_t rest[3];
    for (size_t i = 0; i < 3; i++)
        rest[i] = (pingyi_outbox_result_t){.id = items[7 + i].id, .status = PINGYI_ACK_ACCEPTED};
    assert_int_equal (pingyi_outbox_ack (ob, rest, 3, err), 3);
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
        assert_int_equal (pingyi_outbox_ingest (ob, items, 1000, 1000, 0, NULL, err), 0);
        total += 1000;
        free (items);
        free (store);
    }
    MDB_envinfo info;
    mdb_env_info (ob->env, &info);
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

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_ingest_ack_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown (test_other_election_venue_or_process_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_map_grows_when_full, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
