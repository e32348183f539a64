/*  test_agg_history.c — the aggregator's history store writes one record
    per change (an unchanged body is not written again, also across a
    restart), keeps only the newest `keep` records, continues round numbers
    after a reopen, refuses to go back in rounds, serves newest first, and
    skips (counts) a stored value that is not one of its records.  */
#include "../../aggregator/history.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ftw.h>
#include <jansson.h>
#include <unistd.h>

typedef struct {
    char dir[128];
} fx_t;

static int
rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove (path);
}

static int
t_setup (void **state)
{
    fx_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    snprintf (fx->dir, sizeof fx->dir, "/tmp/pingyi-test-agg-history.XXXXXX");
    assert_non_null (mkdtemp (fx->dir));
    *state = fx;
    return 0;
}

static int
t_teardown (void **state)
{
    fx_t *fx = *state;
    nftw (fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free (fx);
    return 0;
}

static void
t_body (char *out, size_t cap, uint64_t accepted)
{
    snprintf (out, cap,
              "\"sequences\":[%llu,null],\"digests\":[\"%064d\",null],\"generations\":[%llu,null],"
              "\"accepted\":%llu,"
              "\"blank\":0,\"rejected\":0,"
              "\"venues\":{\"open\":1,\"closed\":0,\"reconciled\":0,\"void\":0}",
              (unsigned long long) accepted, 0, (unsigned long long) accepted, (unsigned long long) accepted);
}

/*  The records as served: a JSON array of what agg_history_dump wrote.  */
static json_t *
t_dump (agg_history_t *h, size_t limit, size_t *count)
{
    char *buf = NULL;
    size_t len = 0, skipped = 0;
    FILE *f = open_memstream (&buf, &len);
    assert_non_null (f);
    fputc ('[', f);
    char err[PINGYI_ERR_MAX];
    assert_int_equal (agg_history_dump (h, limit, f, count, &skipped, err), 0);
    fputc (']', f);
    fclose (f);
    json_error_t jerr;
    json_t *doc = json_loadb (buf, len, 0, &jerr);
    if (!doc)
        fprintf (stderr, "%s: %s\n", buf, jerr.text);
    assert_non_null (doc);
    free (buf);
    assert_int_equal (skipped, 0);
    return doc;
}

static void
test_records_changes_only (void **state)
{
    fx_t *fx = *state;
    char err[PINGYI_ERR_MAX], body[512];
    agg_history_t *h = agg_history_open (fx->dir, 5, err);
    assert_non_null (h);
    assert_int_equal (agg_history_last_round (h), 0);
    t_body (body, sizeof body, 10);
    assert_int_equal (agg_history_record (h, 1, 1700000000, body, err), 1);
    assert_int_equal (agg_history_record (h, 2, 1700000001, body, err), 0); /* unchanged */
    t_body (body, sizeof body, 20);
    assert_int_equal (agg_history_record (h, 3, 1700000002, body, err), 1);
    assert_int_equal (agg_history_size (h), 2);
    assert_int_equal (agg_history_last_round (h), 3);
    /* rounds only go forward */
    t_body (body, sizeof body, 30);
    assert_int_equal (agg_history_record (h, 3, 1700000003, body, err), -1);
    assert_non_null (strstr (err, "not after the last stored round 3"));

    size_t n;
    json_t *doc = t_dump (h, 10, &n);
    assert_int_equal (n, 2);
    json_t *newest = json_array_get (doc, 0);
    assert_int_equal (json_integer_value (json_object_get (newest, "round")), 3);
    assert_int_equal (json_integer_value (json_object_get (newest, "time")), 1700000002);
    assert_int_equal (json_integer_value (json_object_get (newest, "accepted")), 20);
    assert_true (json_is_null (json_array_get (json_object_get (newest, "sequences"), 1)));
    assert_int_equal (json_integer_value (json_object_get (json_array_get (doc, 1), "round")), 1);
    json_decref (doc);
    agg_history_close (&h);
    agg_history_close (&h); /* safe twice */

    /* reopened: the last round and body are remembered */
    h = agg_history_open (fx->dir, 5, err);
    assert_non_null (h);
    assert_int_equal (agg_history_last_round (h), 3);
    t_body (body, sizeof body, 20);
    assert_int_equal (agg_history_record (h, 4, 1700000010, body, err), 0);
    t_body (body, sizeof body, 21);
    assert_int_equal (agg_history_record (h, 4, 1700000010, body, err), 1);
    assert_int_equal (agg_history_size (h), 3);
    agg_history_close (&h);
}

static void
test_bounded_newest_first (void **state)
{
    fx_t *fx = *state;
    char err[PINGYI_ERR_MAX], body[512];
    agg_history_t *h = agg_history_open (fx->dir, 5, err);
    assert_non_null (h);
    for (uint64_t r = 1; r <= 12; r++) {
        t_body (body, sizeof body, r * 100);
        assert_int_equal (agg_history_record (h, r * 2, 1700000000 + (int64_t) r, body, err), 1);
        assert_true (agg_history_size (h) <= 5);
    }
    assert_int_equal (agg_history_size (h), 5);
    size_t n;
    json_t *doc = t_dump (h, 3, &n);
    assert_int_equal (n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal (json_integer_value (json_object_get (json_array_get (doc, i), "round")),
                          24 - 2 * i);
    json_decref (doc);
    doc = t_dump (h, 100, &n);
    assert_int_equal (n, 5);
    assert_int_equal (json_integer_value (json_object_get (json_array_get (doc, 4), "round")), 16);
    json_decref (doc);
    agg_history_close (&h);
}

/*  A value that is not one of ours is skipped and counted, never served.  */
static void
test_foreign_value_skipped (void **state)
{
    fx_t *fx = *state;
    char err[PINGYI_ERR_MAX], body[512];
    agg_history_t *h = agg_history_open (fx->dir, 5, err);
    assert_non_null (h);
    t_body (body, sizeof body, 1);
    assert_int_equal (agg_history_record (h, 1, 1, body, err), 1);
    /* plant a bad record behind the store's back */
    MDB_txn *txn;
    assert_int_equal (mdb_txn_begin (h->db.env, NULL, 0, &txn), 0);
    uint8_t key[8];
    pingyi_put_be64 (key, 2);
    MDB_val k = {8, key}, v = {10, "{\"x\":\"\n\"}"};
    assert_int_equal (mdb_put (txn, h->dbi, &k, &v, 0), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    char *buf = NULL;
    size_t len = 0, n = 0, skipped = 0;
    FILE *f = open_memstream (&buf, &len);
    assert_int_equal (agg_history_dump (h, 10, f, &n, &skipped, err), 0);
    fclose (f);
    assert_int_equal (n, 1);
    assert_int_equal (skipped, 1);
    assert_null (strchr (buf, '\n'));
    free (buf);
    agg_history_close (&h);
}

static void
test_open_refuses_a_file (void **state)
{
    fx_t *fx = *state;
    char path[256], err[PINGYI_ERR_MAX];
    snprintf (path, sizeof path, "%s/plain", fx->dir);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fclose (f);
    assert_null (agg_history_open (path, 5, err));
    assert_non_null (strstr (err, path));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_records_changes_only, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_bounded_newest_first, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_foreign_value_skipped, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_open_refuses_a_file, t_setup, t_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
