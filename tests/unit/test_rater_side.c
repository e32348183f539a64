/*  The rater side (rollup.h pingyi_side_view_new, docs/rollup.md "The
    rater side"): the grouping by venue, by the venue's district and by
    category, worked by hand; and the release of a rater-side cell: it is
    published only as a sum of published raw-tally groups.

    k = 10.  Categories leaders 0.5, staff 0.3, served 0.2; town u1 in d1
    with s1, s2; v1 (d1) rates s1 and s2, v2 and v3 (d2) rate s1 only.
    Overall item, per venue and category (ballots = marks):
      v1 s1: leaders 好20, staff 一般15, served 差12
      v1 s2: leaders 较好20, staff 好15, served 好12
      v2 s1: leaders 好10 较好20, staff 好20, served 一般10
      v3 s1: leaders 好11, staff 差12, served 好3  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "rollup.h"

#define EPS 1e-9
enum { GOOD, FAIR, AVERAGE, POOR };
enum { LEADERS, STAFF, SERVED, ALL };
enum { V1, V2, V3 };
enum { S1, S2 };
enum { OVERALL };

static const char *DEF =
    "{\"version\": 1, \"id\": \"rater\", \"title\": \"测评人一侧\", \"shards\": 1, \"k_anonymity\": 10,\n"
    " \"grades\": [{\"label\": \"好\", \"points\": 100, \"favourable\": true},\n"
    "            {\"label\": \"较好\", \"points\": 80, \"favourable\": true},\n"
    "            {\"label\": \"一般\", \"points\": 60},\n"
    "            {\"label\": \"差\", \"points\": 0, \"unfavourable\": true}],\n"
    " \"items\": [{\"id\": \"overall\", \"name\": \"总体评价\", \"overall\": true}],\n"
    " \"categories\": [{\"id\": \"leaders\", \"name\": \"领导班子成员\", \"weight\": 0.5},\n"
    "                {\"id\": \"staff\", \"name\": \"一般干部\", \"weight\": 0.3},\n"
    "                {\"id\": \"served\", \"name\": \"服务对象\", \"weight\": 0.2}],\n"
    " \"districts\": [{\"id\": \"d1\", \"name\": \"一区\"}, {\"id\": \"d2\", \"name\": \"二区\"}],\n"
    " \"units\": [{\"id\": \"u1\", \"name\": \"甲镇党委\", \"kind\": \"town\", \"district\": \"d1\"}],\n"
    " \"subjects\": [{\"id\": \"s1\", \"name\": \"甲\", \"unit\": \"u1\"}, {\"id\": \"s2\", \"name\": \"乙\", "
    "\"unit\": \"u1\"}],\n"
    " \"venues\": [{\"id\": \"v1\", \"name\": \"一\", \"district\": \"d1\", \"subjects\": [\"s1\", \"s2\"]},\n"
    "            {\"id\": \"v2\", \"name\": \"二\", \"district\": \"d2\", \"subjects\": [\"s1\"]},\n"
    "            {\"id\": \"v3\", \"name\": \"三\", \"district\": \"d2\", \"subjects\": [\"s1\"]}]}\n";

static void
add (pingyi_tally_t *t, int venue, int subject, int category, int mark, uint64_t count)
{
    pingyi_counter_key_t k = {.venue = (uint16_t) venue,
                              .subject = (uint16_t) subject,
                              .item = OVERALL,
                              .category = (uint8_t) category,
                              .mark = (uint8_t) mark};
    assert_int_equal (pingyi_tally_add_cell (t, &k, count), 0);
}

static void
venue_figures (pingyi_tally_t *t, int venue, uint64_t leaders, uint64_t staff, uint64_t served)
{
    uint64_t n = leaders + staff + served;
    pingyi_venue_figures_t f = {.venue = (uint32_t) venue,
                                .accepted = n,
                                .issued = (int64_t) n,
                                .collected = (int64_t) n,
                                .sent = (int64_t) n,
                                .closed = true,
                                .category_count = 3};
    f.by_category[LEADERS] = leaders;
    f.by_category[STAFF] = staff;
    f.by_category[SERVED] = served;
    assert_int_equal (pingyi_tally_set_figures (t, &f), 0);
}

typedef struct {
    pingyi_election_t *e;
    pingyi_tally_t *t;
} fixture_t;

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    pingyi_errlist_t errs = {0};
    f->e = pingyi_election_parse ((const uint8_t *) DEF, strlen (DEF), &errs);
    for (size_t i = 0; i < errs.count; i++)
        fprintf (stderr, "%s\n", errs.lines[i]);
    pingyi_errlist_clear (&errs);
    assert_non_null (f->e);
    f->t = pingyi_tally_new (f->e);
    pingyi_tally_t *t = f->t;
    add (t, V1, S1, LEADERS, GOOD, 20);
    add (t, V1, S1, STAFF, AVERAGE, 15);
    add (t, V1, S1, SERVED, POOR, 12);
    add (t, V1, S2, LEADERS, FAIR, 20);
    add (t, V1, S2, STAFF, GOOD, 15);
    add (t, V1, S2, SERVED, GOOD, 12);
    add (t, V2, S1, LEADERS, GOOD, 10);
    add (t, V2, S1, LEADERS, FAIR, 20);
    add (t, V2, S1, STAFF, GOOD, 20);
    add (t, V2, S1, SERVED, AVERAGE, 10);
    add (t, V3, S1, LEADERS, GOOD, 11);
    add (t, V3, S1, STAFF, POOR, 12);
    add (t, V3, S1, SERVED, GOOD, 3);
    venue_figures (t, V1, 20, 15, 12);
    venue_figures (t, V2, 30, 20, 10);
    venue_figures (t, V3, 11, 12, 3);
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    pingyi_tally_destroy (&f->t);
    pingyi_election_destroy (&f->e);
    free (f);
    return 0;
}

static void
cell_is (const pingyi_cell_stats_t *c, uint64_t good, uint64_t fair, uint64_t average, uint64_t poor, double score)
{
    assert_non_null (c);
    assert_false (c->suppressed);
    assert_int_equal (c->choices[GOOD], good);
    assert_int_equal (c->choices[FAIR], fair);
    assert_int_equal (c->choices[AVERAGE], average);
    assert_int_equal (c->choices[POOR], poor);
    uint64_t valid = good + fair + average + poor;
    assert_int_equal (c->valid, valid);
    if (!valid) {
        assert_true (isnan (c->good_rate) && isnan (c->score));
        return;
    }
    assert_float_equal (c->good_rate, (double) (good + fair) / (double) valid, EPS);
    assert_float_equal (c->bad_rate, (double) poor / (double) valid, EPS);
    assert_float_equal (c->score, score, 1e-6);
}

static void
suppressed (const pingyi_cell_stats_t *c)
{
    assert_non_null (c);
    assert_true (c->suppressed);
    assert_int_equal (c->valid + c->blank + c->over + c->choices[GOOD], 0);
    assert_true (isnan (c->score) && isnan (c->good_rate));
    assert_int_equal (c->majority_grade, -1);
}

static const pingyi_cell_stats_t *
at (const pingyi_side_view_t *s, size_t row, size_t c)
{
    return pingyi_side_view_stats (s, row, OVERALL, c);
}

/*  k = 1: nothing withheld; the grouping by hand.  */
static void
test_grouping (void **state)
{
    fixture_t *f = *state;
    pingyi_view_t *v = pingyi_view_new_k (f->e, f->t, 1);
    assert_non_null (v);
    int s1 = pingyi_view_find_row (v, PINGYI_LEVEL_SUBJECT, "s1");
    int u1 = pingyi_view_find_row (v, PINGYI_LEVEL_UNIT, "u1");
    assert_int_equal (s1, S1);
    assert_int_equal (u1, 0);
    assert_int_equal (pingyi_view_find_row (v, PINGYI_LEVEL_UNIT, "u9"), -1);

    /* s1 by the venue's district: d1 = v1, d2 = v2 + v3 (the subject side
       puts all of it in d1, its unit's district) */
    pingyi_side_view_t *d = pingyi_side_view_new (v, f->t, PINGYI_RATER_DISTRICT, PINGYI_LEVEL_SUBJECT, S1);
    assert_non_null (d);
    assert_int_equal (d->row_count, 2);
    assert_string_equal (d->rows[0].id, "d1");
    assert_string_equal (d->rows[1].id, "d2");
    cell_is (at (d, 0, LEADERS), 20, 0, 0, 0, 100);
    cell_is (at (d, 0, STAFF), 0, 0, 15, 0, 60);
    cell_is (at (d, 0, SERVED), 0, 0, 0, 12, 0);
    cell_is (at (d, 0, ALL), 20, 0, 15, 12, 0.5 * 100 + 0.3 * 60 + 0.2 * 0);
    double l2 = (21 * 100.0 + 20 * 80.0) / 41, st2 = 2000.0 / 32, se2 = (600.0 + 300.0) / 13;
    cell_is (at (d, 1, LEADERS), 21, 20, 0, 0, l2);
    cell_is (at (d, 1, STAFF), 20, 0, 0, 12, st2);
    cell_is (at (d, 1, SERVED), 3, 0, 10, 0, se2);
    cell_is (at (d, 1, ALL), 44, 20, 10, 12, 0.5 * l2 + 0.3 * st2 + 0.2 * se2);
    assert_int_equal (d->ballots[1 * 4 + ALL], 30 + 20 + 10 + 11 + 12 + 3);
    /* the sum over the districts is the subject-side row */
    const pingyi_cell_stats_t *subj = pingyi_view_stats (v, PINGYI_LEVEL_SUBJECT, S1, OVERALL, ALL);
    for (int m = GOOD; m <= POOR; m++)
        assert_int_equal (at (d, 0, ALL)->choices[m] + at (d, 1, ALL)->choices[m], subj->choices[m]);
    pingyi_side_view_destroy (&d);
    assert_null (d);

    /* u1 by venue: every venue that rated s1 or s2, the form's subjects pooled */
    pingyi_side_view_t *byv = pingyi_side_view_new (v, f->t, PINGYI_RATER_VENUE, PINGYI_LEVEL_UNIT, 0);
    assert_int_equal (byv->row_count, 3);
    assert_string_equal (byv->rows[0].id, "v1");
    assert_string_equal (byv->rows[0].parent, "d1");
    assert_string_equal (byv->rows[2].parent, "d2");
    cell_is (at (byv, 0, LEADERS), 20, 20, 0, 0, 90);
    cell_is (at (byv, 0, STAFF), 15, 0, 15, 0, 80);
    cell_is (at (byv, 0, SERVED), 12, 0, 0, 12, 50);
    cell_is (at (byv, 2, SERVED), 3, 0, 0, 0, 100);
    pingyi_side_view_destroy (&byv);

    /* s2 by venue: only v1 rated it */
    byv = pingyi_side_view_new (v, f->t, PINGYI_RATER_VENUE, PINGYI_LEVEL_SUBJECT, S2);
    assert_int_equal (byv->row_count, 1);
    assert_string_equal (byv->rows[0].id, "v1");
    pingyi_side_view_destroy (&byv);

    /* the city by category: row c holds category c only */
    pingyi_side_view_t *c = pingyi_side_view_new (v, f->t, PINGYI_RATER_CATEGORY, PINGYI_LEVEL_CITY, 0);
    assert_int_equal (c->row_count, 3);
    assert_string_equal (c->rows[LEADERS].id, "leaders");
    double l = (41 * 100.0 + 40 * 80.0) / 81;
    cell_is (at (c, LEADERS, LEADERS), 41, 40, 0, 0, l);
    cell_is (at (c, LEADERS, STAFF), 0, 0, 0, 0, NAN);
    cell_is (at (c, LEADERS, ALL), 41, 40, 0, 0, l); /* one category: the weighted score is its average */
    cell_is (at (c, SERVED, ALL), 15, 0, 10, 12, (1500.0 + 600.0) / 37);
    pingyi_side_view_destroy (&c);

    /* bad arguments */
    assert_null (pingyi_side_view_new (v, f->t, PINGYI_RATER_VENUE, PINGYI_LEVEL_SUBJECT, 9));
    assert_null (pingyi_side_view_new (v, f->t, PINGYI_RATER_COUNT_, PINGYI_LEVEL_CITY, 0));
    assert_int_equal (pingyi_rater_by_parse ("district"), PINGYI_RATER_DISTRICT);
    assert_int_equal (pingyi_rater_by_parse ("unit"), -1);
    pingyi_view_destroy (&v);
}

/*  k = 10.  The release hides (v3, served) (3 < 10, rule 1); the cell
    (s1, served), 25 ballots, is published, so its hidden part (3) must not
    be small: the smallest published group under it, (v2, served) 10, is
    hidden too (rule 2); v3's accepted ballots minus its published groups
    would give 3: (v3, leaders) 11 is hidden too (rule 3, the venue line).
    The rater side publishes a cell only as a sum of published groups:  */
static void
test_release (void **state)
{
    fixture_t *f = *state;
    pingyi_view_t *v = pingyi_view_new (f->e, f->t);
    assert_int_equal (v->k, 10);
    assert_true (pingyi_view_group_hidden (v, V3, SERVED));
    assert_true (pingyi_view_group_hidden (v, V2, SERVED));
    assert_true (pingyi_view_group_hidden (v, V3, LEADERS));
    assert_false (pingyi_view_group_hidden (v, V3, STAFF));
    assert_false (pingyi_view_group_hidden (v, V1, LEADERS));

    pingyi_side_view_t *d = pingyi_side_view_new (v, f->t, PINGYI_RATER_DISTRICT, PINGYI_LEVEL_SUBJECT, S1);
    /* d1 = v1: nothing hidden, all published */
    cell_is (at (d, 0, ALL), 20, 0, 15, 12, 68);
    assert_false (d->rows[0].suppressed);
    /* d2 = v2 + v3: leaders holds (v3, leaders), served (v2|v3, served):
       withheld; staff (20 + 12, both groups published) shown; the
       all-categories cell would give the withheld ones back: withheld */
    suppressed (at (d, 1, LEADERS));
    suppressed (at (d, 1, SERVED));
    suppressed (at (d, 1, ALL));
    cell_is (at (d, 1, STAFF), 20, 0, 0, 12, 2000.0 / 32);
    assert_false (d->rows[1].suppressed); /* a category is shown */
    assert_int_equal (d->suppressed_cells, 3);
    /* n still counts the withheld ballots */
    assert_int_equal (d->ballots[1 * 4 + SERVED], 13);
    pingyi_side_view_destroy (&d);

    /* by venue: v3's small category goes, and what would give it back */
    pingyi_side_view_t *byv = pingyi_side_view_new (v, f->t, PINGYI_RATER_VENUE, PINGYI_LEVEL_SUBJECT, S1);
    assert_int_equal (byv->row_count, 3);
    cell_is (at (byv, 0, ALL), 20, 0, 15, 12, 68);
    cell_is (at (byv, 1, LEADERS), 10, 20, 0, 0, 2600.0 / 30);
    suppressed (at (byv, 1, SERVED));
    suppressed (at (byv, 2, SERVED));
    suppressed (at (byv, 2, LEADERS));
    cell_is (at (byv, 2, STAFF), 0, 0, 0, 12, 0);
    /* the rule, cell by cell: withheld exactly when a group with ballots is hidden */
    for (size_t r = 0; r < byv->row_count; r++) {
        size_t venue = byv->source[r];
        bool any = false;
        for (size_t c = 0; c < 3; c++) {
            bool hidden = pingyi_view_group_hidden (v, venue, c) && pingyi_view_group_ballots (v, venue, c) > 0;
            any |= hidden;
            assert_int_equal (at (byv, r, c)->suppressed, hidden);
        }
        assert_int_equal (at (byv, r, ALL)->suppressed, any);
    }
    pingyi_side_view_destroy (&byv);

    /* by category: the subject-side cell (s1, c) and its decision */
    pingyi_side_view_t *c = pingyi_side_view_new (v, f->t, PINGYI_RATER_CATEGORY, PINGYI_LEVEL_SUBJECT, S1);
    for (size_t x = 0; x < 3; x++) {
        const pingyi_cell_stats_t *want = pingyi_view_stats (v, PINGYI_LEVEL_SUBJECT, S1, OVERALL, x);
        assert_int_equal (at (c, x, x)->suppressed, want->suppressed);
        assert_int_equal (at (c, x, ALL)->suppressed, want->suppressed);
        if (!want->suppressed)
            for (int m = GOOD; m <= POOR; m++)
                assert_int_equal (at (c, x, x)->choices[m], want->choices[m]);
    }
    pingyi_side_view_destroy (&c);
    pingyi_view_destroy (&v);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_grouping, setup, teardown),
        cmocka_unit_test_setup_teardown (test_release, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
