/*  test_store_lmdb.c — lmdb/lmdb_env.c, the LMDB helper the shard, the
    client's outbox and the aggregator's history share: a write that fills
    a tiny map grows it (the grow hook told each time) and commits, its
    step run again from the start; a map bound stops the growth with
    MDB_MAP_FULL and nothing committed; a hook may refuse; a step's error
    aborts; and the error text names the store's path.  */
#define _GNU_SOURCE
#include "bytes.h"
#include "lmdb_env.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ftw.h>
#include <unistd.h>

#define TINY_MAP (64u << 10)
#define ROWS 400
#define ROW_BYTES 1024 /* 400 KiB of values: several times the tiny map */

typedef struct {
    char dir[128];
    pingyi_lmdb_t db;
    MDB_dbi dbi;
    int calls; /* step runs */
    int grown; /* successful growths told to the hook */
    size_t last_from, last_to;
    int fail_with; /* step: return this instead of writing */
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
    snprintf (fx->dir, sizeof fx->dir, "/tmp/pingyi-test-store-lmdb.XXXXXX");
    assert_non_null (mkdtemp (fx->dir));
    pingyi_lmdb_init (&fx->db, fx->dir);
    assert_int_equal (pingyi_lmdb_open (&fx->db, fx->dir, 0, 2, TINY_MAP), 0);
    assert_true (fx->db.map_size >= TINY_MAP && fx->db.map_size < 2 * TINY_MAP);
    MDB_txn *txn;
    assert_int_equal (mdb_txn_begin (fx->db.env, NULL, 0, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, "rows", MDB_CREATE, &fx->dbi), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    *state = fx;
    return 0;
}

static int
t_teardown (void **state)
{
    fx_t *fx = *state;
    pingyi_lmdb_close (&fx->db);
    pingyi_lmdb_close (&fx->db); /* safe twice */
    nftw (fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free (fx);
    return 0;
}

/*  ROWS values of ROW_BYTES in one transaction, from scratch each run.  */
static int
fill_step (MDB_txn *txn, void *arg, char *err)
{
    fx_t *fx = arg;
    fx->calls++;
    if (fx->fail_with == -1)
        return pingyi_fail (err, "the step says no");
    if (fx->fail_with)
        return fx->fail_with;
    uint8_t value[ROW_BYTES];
    for (uint32_t i = 0; i < ROWS; i++) {
        uint8_t key[4];
        pingyi_put_be32 (key, i);
        memset (value, (int) (i & 0xff), sizeof value);
        MDB_val k = {sizeof key, key}, v = {sizeof value, value};
        int rc = mdb_put (txn, fx->dbi, &k, &v, 0);
        if (rc)
            return rc;
    }
    return 0;
}

static int
count_grown (void *arg, size_t from, size_t to, int rc, char *err)
{
    fx_t *fx = arg;
    assert_int_equal (rc, 0);
    assert_true (to >= 2 * from);
    fx->grown++;
    fx->last_from = from;
    fx->last_to = to;
    return 0;
}

static int
refuse_grown (void *arg, size_t from, size_t to, int rc, char *err)
{
    (void) arg;
    return pingyi_fail (err, "no growing from %zu to %zu", from, to);
}

static size_t
rows_stored (fx_t *fx)
{
    MDB_txn *txn;
    MDB_stat st;
    assert_int_equal (pingyi_lmdb_read (&fx->db, &txn), 0);
    assert_int_equal (mdb_stat (txn, fx->dbi, &st), 0);
    mdb_txn_abort (txn);
    return st.ms_entries;
}

static void
test_write_grows_a_full_map (void **state)
{
    fx_t *fx = *state;
    char err[PINGYI_ERR_MAX] = "";
    size_t before = fx->db.map_size;
    fx->db.grown = count_grown;
    fx->db.grown_arg = fx;
    assert_int_equal (pingyi_lmdb_write (&fx->db, fill_step, fx, err), 0);
    assert_true (fx->grown >= 2);                /* 64 KiB cannot hold 400 KiB: doubled at least twice */
    assert_int_equal (fx->calls, fx->grown + 1); /* redone from the start after each growth */
    assert_true (fx->db.map_size > before && fx->db.map_size == fx->last_to);
    MDB_envinfo info;
    mdb_env_info (fx->db.env, &info);
    assert_int_equal (info.me_mapsize, fx->db.map_size);
    assert_int_equal (rows_stored (fx), ROWS);
    assert_true (fx->db.commit_ms >= 0);
}

/*  No hook: growth is silent and the write still succeeds.  */
static void
test_write_grows_without_a_hook (void **state)
{
    fx_t *fx = *state;
    char err[PINGYI_ERR_MAX] = "";
    assert_int_equal (pingyi_lmdb_write (&fx->db, fill_step, fx, err), 0);
    assert_true (fx->calls >= 3);
    assert_int_equal (rows_stored (fx), ROWS);
}

static void
test_map_max_stops_growth (void **state)
{
    fx_t *fx = *state;
    char err[PINGYI_ERR_MAX] = "", text[PINGYI_ERR_MAX];
    fx->db.map_max = fx->db.map_size; /* a fixed map, as the history's */
    int rc = pingyi_lmdb_write (&fx->db, fill_step, fx, err);
    assert_int_equal (rc, MDB_MAP_FULL);
    assert_int_equal (fx->calls, 1);
    assert_int_equal (rows_stored (fx), 0); /* nothing committed */
    assert_int_equal (pingyi_lmdb_fail (&fx->db, text, "writing rows", rc), -1);
    char want[PINGYI_ERR_MAX];
    snprintf (want, sizeof want, "%s: writing rows: %s", fx->dir, mdb_strerror (MDB_MAP_FULL));
    assert_string_equal (text, want);
}

static void
test_attempts_bound_the_redos (void **state)
{
    fx_t *fx = *state;
    char err[PINGYI_ERR_MAX] = "";
    fx->db.attempts = 2;
    assert_int_equal (pingyi_lmdb_write (&fx->db, fill_step, fx, err), MDB_MAP_FULL);
    assert_int_equal (fx->calls, 2);
    assert_int_equal (rows_stored (fx), 0);
}

static void
test_grow_hook_may_refuse (void **state)
{
    fx_t *fx = *state;
    char err[PINGYI_ERR_MAX] = "";
    fx->db.grown = refuse_grown;
    assert_int_equal (pingyi_lmdb_write (&fx->db, fill_step, fx, err), -1);
    assert_non_null (strstr (err, "no growing from"));
    assert_int_equal (rows_stored (fx), 0);
}

static void
test_step_errors_abort (void **state)
{
    fx_t *fx = *state;
    char err[PINGYI_ERR_MAX] = "";
    fx->fail_with = -1;
    assert_int_equal (pingyi_lmdb_write (&fx->db, fill_step, fx, err), -1);
    assert_string_equal (err, "the step says no");
    fx->fail_with = MDB_NOTFOUND; /* an LMDB code comes back for the caller to word */
    assert_int_equal (pingyi_lmdb_write (&fx->db, fill_step, fx, err), MDB_NOTFOUND);
    assert_int_equal (fx->calls, 2);
    assert_int_equal (rows_stored (fx), 0);
}

static void
test_open_error_names_the_path (void **state)
{
    fx_t *fx = *state;
    char path[256], err[PINGYI_ERR_MAX];
    snprintf (path, sizeof path, "%s/no/such/dir", fx->dir);
    pingyi_lmdb_t db;
    pingyi_lmdb_init (&db, path);
    int rc = pingyi_lmdb_open (&db, path, 0, 1, TINY_MAP);
    assert_int_not_equal (rc, 0);
    assert_null (db.env);
    pingyi_lmdb_fail (&db, err, "cannot open", rc);
    assert_true (strncmp (err, path, strlen (path)) == 0);
    assert_non_null (strstr (err, ": cannot open: "));
    pingyi_lmdb_close (&db); /* nothing open: harmless */
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_write_grows_a_full_map, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_write_grows_without_a_hook, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_map_max_stops_growth, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_attempts_bound_the_redos, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_grow_hook_may_refuse, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_step_errors_abort, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_open_error_names_the_path, t_setup, t_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
