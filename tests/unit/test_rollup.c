/*  test_rollup.c — the citywide view: every level's rows, counts, rates,
    weighted scores and ranks, venue statuses and FINAL.

    Two kinds of expectation, both independent of rollup.c:
    - a small case computed by hand, the arithmetic in the comments;
    - a generated election filled with pseudo-random counters, checked
      against a brute force that loops over the raw counters the test
      itself chose, for every row of every level.
    The arithmetic cases run with k_anonymity 1 (nothing withheld).  The
    release (k-anonymity) has its own hand cases, each decision worked out
    in the comments from the rule of docs/rollup.md, and a generated
    election with small groups whose release is checked against the rule's
    properties, recomputed here from the definition and the figures (not
    from rollup.c's bookkeeping).  */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rollup.h"
#include "gen_election.h"

/*  The hand case.  Grades 好 100 (favourable), 较好 80 (favourable),
    一般 60, 差 0 (unfavourable).  Categories leaders 0.5, middle 0.3,
    staff 0.2.  Districts d1, d2.  Units: u1 town in d1 (subjects s1, s2),
    u2 department in d1 (s3), u3 enterprise in d2 (s4).  Venues: v1 (d1,
    all four subjects), v2 (d2: s3, s4), v3 (d1: s1, s2; its round is
    VOID), v4 (d2: s4; still open, no ballot yet).  */
static const char *HAND =
    "{\"version\": 1, \"id\": \"hand\", \"title\": \"手算评议\", \"shards\": 1, \"k_anonymity\": 1,\n"
    " \"grades\": [{\"label\": \"好\", \"points\": 100, \"favourable\": true},\n"
    "            {\"label\": \"较好\", \"points\": 80, \"favourable\": true},\n"
    "            {\"label\": \"一般\", \"points\": 60},\n"
    "            {\"label\": \"差\", \"points\": 0, \"unfavourable\": true}],\n"
    " \"items\": [{\"id\": \"overall\", \"name\": \"总体评价\", \"overall\": true},\n"
    "           {\"id\": \"duty\", \"name\": \"履行第一责任人职责\"}],\n"
    " \"categories\": [{\"id\": \"leaders\", \"name\": \"领导班子成员\", \"weight\": 0.5},\n"
    "                {\"id\": \"middle\", \"name\": \"中层干部\", \"weight\": 0.3},\n"
    "                {\"id\": \"staff\", \"name\": \"一般干部\", \"weight\": 0.2}],\n"
    " \"districts\": [{\"id\": \"d1\", \"name\": \"一区\"}, {\"id\": \"d2\", \"name\": \"二区\"}],\n"
    " \"units\": [{\"id\": \"u1\", \"name\": \"甲镇党委\", \"kind\": \"town\", \"district\": \"d1\"},\n"
    "           {\"id\": \"u2\", \"name\": \"乙局党组\", \"kind\": \"department\", \"district\": \"d1\"},\n"
    "           {\"id\": \"u3\", \"name\": \"丙公司党委\", \"kind\": \"enterprise\", \"district\": "
    "\"d2\"}],\n"
    " \"subjects\": [{\"id\": \"s1\", \"name\": \"甲镇党委书记\", \"unit\": \"u1\"},\n"
    "              {\"id\": \"s2\", \"name\": \"甲镇党委副书记\", \"unit\": \"u1\"},\n"
    "              {\"id\": \"s3\", \"name\": \"乙局党组书记\", \"unit\": \"u2\"},\n"
    "              {\"id\": \"s4\", \"name\": \"丙公司党委书记\", \"unit\": \"u3\"}],\n"
    " \"venues\": [{\"id\": \"v1\", \"name\": \"主会场\", \"district\": \"d1\", \"subjects\": [\"s1\", "
    "\"s2\", \"s3\", "
    "\"s4\"]},\n"
    "            {\"id\": \"v2\", \"name\": \"二区会场\", \"district\": \"d2\", \"subjects\": [\"s3\", "
    "\"s4\"]},\n"
    "            {\"id\": \"v3\", \"name\": \"作废会场\", \"district\": \"d1\", \"subjects\": [\"s1\", "
    "\"s2\"]},\n"
    "            {\"id\": \"v4\", \"name\": \"未结束会场\", \"district\": \"d2\", \"subjects\": "
    "[\"s4\"]}]}\n";

enum { S1, S2, S3, S4 };
enum { V1, V2, V3, V4 };
enum { OVERALL, DUTY };
enum { LEADERS, MIDDLE, STAFF, ALL };
enum { GOOD, FAIR, AVERAGE, POOR };
#define BLANK PINGYI_MARK_BLANK
#define OVER PINGYI_MARK_OVER

static void
add (pingyi_tally_t *t, int venue, int subject, int item, int category, int mark, uint64_t count)
{
    pingyi_counter_key_t k = {.venue = (uint16_t) venue,
                              .subject = (uint16_t) subject,
                              .item = (uint8_t) item,
                              .category = (uint8_t) category,
                              .mark = (uint8_t) mark};
    assert_int_equal (pingyi_tally_add_cell (t, &k, count), 0);
}

static void
figures (pingyi_tally_t *t, int venue, bool closed, int64_t issued, int64_t collected, int64_t sent,
         uint64_t accepted, uint64_t blank, uint64_t rejected)
{
    pingyi_venue_figures_t f = {.venue = (uint32_t) venue,
                                .accepted = accepted,
                                .blank = blank,
                                .rejected = rejected,
                                .issued = issued,
                                .collected = collected,
                                .sent = sent,
                                .closed = closed};
    f.rejected_by[PINGYI_REJECT_MALFORMED] = rejected;
    assert_int_equal (pingyi_tally_set_figures (t, &f), 0);
}

typedef struct {
    pingyi_election_t *e;
    pingyi_tally_t *t;
} hand_t;

static int
hand_setup (void **state)
{
    hand_t *h = calloc (1, sizeof *h);
    pingyi_errlist_t errs = {0};
    h->e = pingyi_election_parse ((const uint8_t *) HAND, strlen (HAND), &errs);
    for (size_t i = 0; i < errs.count; i++)
        fprintf (stderr, "%s\n", errs.lines[i]);
    pingyi_errlist_clear (&errs);
    if (!h->e)
        return -1;
    h->t = pingyi_tally_new (h->e);
    pingyi_tally_t *t = h->t;

    /* v1: 10 ballots, one of them blank (category middle: every cell BLANK) */
    add (t, V1, S1, OVERALL, LEADERS, GOOD, 4); /* s1 leaders: 好4 较好1 → (400+80)/5 = 96 */
    add (t, V1, S1, OVERALL, LEADERS, FAIR, 1);
    add (t, V1, S1, OVERALL, MIDDLE, GOOD, 2); /* s1 middle: 好2 一般2 → (200+120)/4 = 80 */
    add (t, V1, S1, OVERALL, MIDDLE, AVERAGE, 2);
    add (t, V1, S1, OVERALL, MIDDLE, BLANK, 1); /* the blank ballot */
    add (t, V1, S1, OVERALL, STAFF, POOR, 1);   /* s1 staff: 差1 → 0; plus one OVER cell */
    add (t, V1, S1, OVERALL, STAFF, OVER, 1);
    add (t, V1, S2, OVERALL, LEADERS, FAIR, 5); /* s2 leaders: 较好5 → 80 */
    add (t, V1, S2, OVERALL, MIDDLE, BLANK, 2); /* s2 middle: no valid mark at all */
    add (t, V1, S2, OVERALL, STAFF, GOOD, 2);   /* s2 staff: 好2 一般2 → 80 */
    add (t, V1, S2, OVERALL, STAFF, AVERAGE, 2);
    add (t, V1, S3, OVERALL, LEADERS, GOOD, 1); /* s3 leaders (v1 + v2): 好2 一般2 → 80 */
    add (t, V1, S3, OVERALL, LEADERS, AVERAGE, 1);
    add (t, V1, S3, OVERALL, MIDDLE, FAIR, 3); /* s3 middle: 较好3 → 80 */
    add (t, V1, S3, OVERALL, MIDDLE, BLANK, 1);
    add (t, V1, S4, OVERALL, LEADERS, POOR, 2); /* s4 leaders (v1 + v2): 好2 差2 → 50 */
    add (t, V1, S4, OVERALL, MIDDLE, GOOD, 1);  /* s4 middle: 好1 → 100 */
    add (t, V1, S4, OVERALL, MIDDLE, BLANK, 1);
    add (t, V1, S1, DUTY, LEADERS, GOOD, 1); /* the duty item: only s1, leaders 好1 */
    add (t, V1, S2, DUTY, MIDDLE, BLANK, 1);
    /* v2 */
    add (t, V2, S3, OVERALL, LEADERS, GOOD, 1);
    add (t, V2, S3, OVERALL, LEADERS, AVERAGE, 1);
    add (t, V2, S4, OVERALL, LEADERS, GOOD, 2);
    add (t, V2, S4, OVERALL, STAFF, AVERAGE, 1); /* s4 staff: 一般1 → 60 */
    /* v3 is void: none of this may reach any row */
    add (t, V3, S1, OVERALL, LEADERS, POOR, 100);
    add (t, V3, S2, OVERALL, STAFF, POOR, 50);
    add (t, V3, S2, OVERALL, MIDDLE, OVER, 7);
    add (t, V3, S1, DUTY, LEADERS, POOR, 9);

    figures (t, V1, true, 10, 10, 10, 10, 1, 0); /* reconciled */
    figures (t, V2, true, 5, 4, 5, 3, 0, 1);     /* closed: 3 + 1 of 5 sent accounted for */
    figures (t, V3, true, 5, 6, 6, 6, 0, 0);     /* void: 6 collected of 5 issued */
    /* v4: nothing set: open */
    *state = h;
    return 0;
}

static int
hand_teardown (void **state)
{
    hand_t *h = *state;
    pingyi_tally_destroy (&h->t);
    pingyi_election_destroy (&h->e);
    free (h);
    return 0;
}

#define EPS 1e-9

/*  Check one cell: choices (好 较好 一般 差), blank, over, valid, rates and
    score (NAN where nothing divides).  */
static void
cell_is (const pingyi_cell_stats_t *c, uint64_t good, uint64_t fair, uint64_t average, uint64_t poor,
         uint64_t blank, uint64_t over, double good_rate, double bad_rate, double score)
{
    assert_non_null (c);
    assert_false (c->suppressed);
    assert_int_equal (c->choices[GOOD], good);
    assert_int_equal (c->choices[FAIR], fair);
    assert_int_equal (c->choices[AVERAGE], average);
    assert_int_equal (c->choices[POOR], poor);
    assert_int_equal (c->choices[4], 0);
    assert_int_equal (c->blank, blank);
    assert_int_equal (c->over, over);
    assert_int_equal (c->valid, good + fair + average + poor);
    assert_int_equal (c->favourable, good + fair);
    assert_int_equal (c->unfavourable, poor);
    if (isnan (good_rate)) {
        assert_true (isnan (c->good_rate));
        assert_true (isnan (c->bad_rate));
    }
    else {
        assert_float_equal (c->good_rate, good_rate, EPS);
        assert_float_equal (c->bad_rate, bad_rate, EPS);
    }
    if (isnan (score))
        assert_true (isnan (c->score));
    else
        assert_float_equal (c->score, score, EPS);
}

static const pingyi_cell_stats_t *
at (const pingyi_view_t *v, pingyi_level_t level, size_t row, size_t item, size_t category)
{
    return pingyi_view_stats (v, level, row, item, category);
}

static void
test_hand_subjects (void **state)
{
    hand_t *h = *state;
    pingyi_view_t *v = pingyi_view_new (h->e, h->t);
    assert_non_null (v);
    assert_int_equal (v->rank_item, OVERALL);
    const pingyi_level_view_t *lv = &v->levels[PINGYI_LEVEL_SUBJECT];
    assert_int_equal (lv->row_count, 4);
    assert_string_equal (lv->rows[S1].id, "s1");
    assert_string_equal (lv->rows[S1].name, "甲镇党委书记");
    assert_string_equal (lv->rows[S1].parent, "u1");
    assert_string_equal (lv->rows[S4].parent, "u3");

    /* s1: leaders 96, middle 80, staff 0:
       score = (0.5·96 + 0.3·80 + 0.2·0) / 1.0 = 48 + 24 + 0 = 72.0
       all: 好6 较好1 一般2 差1 = 10 valid; 好评率 7/10, 差评率 1/10 */
    cell_is (at (v, PINGYI_LEVEL_SUBJECT, S1, OVERALL, LEADERS), 4, 1, 0, 0, 0, 0, 1.0, 0.0, 96.0);
    cell_is (at (v, PINGYI_LEVEL_SUBJECT, S1, OVERALL, MIDDLE), 2, 0, 2, 0, 1, 0, 0.5, 0.0, 80.0);
    cell_is (at (v, PINGYI_LEVEL_SUBJECT, S1, OVERALL, STAFF), 0, 0, 0, 1, 0, 1, 0.0, 1.0, 0.0);
    cell_is (at (v, PINGYI_LEVEL_SUBJECT, S1, OVERALL, ALL), 6, 1, 2, 1, 1, 1, 0.7, 0.1, 72.0);

    /* s2: middle gave no valid mark, so it leaves the score:
       (0.5·80 + 0.2·80) / (0.5 + 0.2) = 56 / 0.7 = 80.0
       all: 好2 较好5 一般2 = 9 valid; 好评率 7/9, 差评率 0 */
    cell_is (at (v, PINGYI_LEVEL_SUBJECT, S2, OVERALL, MIDDLE), 0, 0, 0, 0, 2, 0, NAN, NAN, NAN);
    cell_is (at (v, PINGYI_LEVEL_SUBJECT, S2, OVERALL, ALL), 2, 5, 2, 0, 2, 0, 7.0 / 9, 0.0, 80.0);

    /* s3: leaders (v1 1+1, v2 1+1) 好2 一般2 → 80; middle 较好3 → 80; staff none:
       (0.5·80 + 0.3·80) / 0.8 = 80.0 — equal to s2's 80 computed another way */
    cell_is (at (v, PINGYI_LEVEL_SUBJECT, S3, OVERALL, LEADERS), 2, 0, 2, 0, 0, 0, 0.5, 0.0, 80.0);
    cell_is (at (v, PINGYI_LEVEL_SUBJECT, S3, OVERALL, STAFF), 0, 0, 0, 0, 0, 0, NAN, NAN, NAN);
    cell_is (at (v, PINGYI_LEVEL_SUBJECT, S3, OVERALL, ALL), 2, 3, 2, 0, 1, 0, 5.0 / 7, 0.0, 80.0);

    /* s4: leaders 好2 差2 → 50; middle 好1 → 100; staff 一般1 → 60:
       0.5·50 + 0.3·100 + 0.2·60 = 25 + 30 + 12 = 67.0
       all: 好3 一般1 差2 = 6 valid; 好评率 3/6, 差评率 2/6 */
    cell_is (at (v, PINGYI_LEVEL_SUBJECT, S4, OVERALL, LEADERS), 2, 0, 0, 2, 0, 0, 0.5, 0.5, 50.0);
    cell_is (at (v, PINGYI_LEVEL_SUBJECT, S4, OVERALL, ALL), 3, 0, 1, 2, 1, 0, 0.5, 2.0 / 6, 67.0);

    /* ranks on the overall score: s2 = s3 = 80 share 1, s1 72 is 3, s4 67 is 4 */
    assert_int_equal (lv->rows[S1].rank, 3);
    assert_int_equal (lv->rows[S2].rank, 1);
    assert_int_equal (lv->rows[S3].rank, 1);
    assert_int_equal (lv->rows[S4].rank, 4);

    /* the duty item: only s1 (leaders 好1 → 100); v3's 差9 is void */
    cell_is (at (v, PINGYI_LEVEL_SUBJECT, S1, DUTY, ALL), 1, 0, 0, 0, 0, 0, 1.0, 0.0, 100.0);
    cell_is (at (v, PINGYI_LEVEL_SUBJECT, S2, DUTY, ALL), 0, 0, 0, 0, 1, 0, NAN, NAN, NAN);
    int ranks[4];
    assert_int_equal (pingyi_view_rank (v, PINGYI_LEVEL_SUBJECT, DUTY, ALL, ranks), 0);
    assert_int_equal (ranks[S1], 1);
    assert_int_equal (ranks[S2], 0); /* no score, no rank */
    assert_int_equal (ranks[S3], 0);
    /* ranks by one category: leaders 96, 80, 80, 50 → 1, 2, 2, 4 */
    assert_int_equal (pingyi_view_rank (v, PINGYI_LEVEL_SUBJECT, OVERALL, LEADERS, ranks), 0);
    assert_int_equal (ranks[S1], 1);
    assert_int_equal (ranks[S2], 2);
    assert_int_equal (ranks[S3], 2);
    assert_int_equal (ranks[S4], 4);
    assert_int_equal (pingyi_view_rank (v, PINGYI_LEVEL_SUBJECT, 2, ALL, ranks), -1);
    assert_null (pingyi_view_stats (v, PINGYI_LEVEL_SUBJECT, 4, 0, 0));
    assert_null (pingyi_view_stats (v, PINGYI_LEVEL_SUBJECT, 0, 0, 4));
    pingyi_view_destroy (&v);
    assert_null (v);
    pingyi_view_destroy (&v); /* safe twice */
}

static void
test_hand_units_towns_departments_kinds (void **state)
{
    hand_t *h = *state;
    pingyi_view_t *v = pingyi_view_new (h->e, h->t);
    assert_non_null (v);
    const pingyi_level_view_t *units = &v->levels[PINGYI_LEVEL_UNIT];
    assert_int_equal (units->row_count, 3);
    assert_string_equal (units->rows[0].id, "u1");
    assert_string_equal (units->rows[0].parent, "d1");
    assert_string_equal (units->rows[2].parent, "d2");

    /* u1 = s1 + s2, pooled per category:
       leaders 好4 较好6 → (400+480)/10 = 88; middle 好2 一般2 (blank 1+2) → 80;
       staff 好2 一般2 差1 (over 1) → (200+120)/5 = 64
       score = 0.5·88 + 0.3·80 + 0.2·64 = 44 + 24 + 12.8 = 80.8
       all: 好8 较好6 一般4 差1 = 19 valid, blank 3, over 1 */
    cell_is (at (v, PINGYI_LEVEL_UNIT, 0, OVERALL, LEADERS), 4, 6, 0, 0, 0, 0, 1.0, 0.0, 88.0);
    cell_is (at (v, PINGYI_LEVEL_UNIT, 0, OVERALL, STAFF), 2, 0, 2, 1, 0, 1, 0.4, 0.2, 64.0);
    cell_is (at (v, PINGYI_LEVEL_UNIT, 0, OVERALL, ALL), 8, 6, 4, 1, 3, 1, 14.0 / 19, 1.0 / 19, 80.8);
    /* u2 = s3 (80), u3 = s4 (67) */
    cell_is (at (v, PINGYI_LEVEL_UNIT, 1, OVERALL, ALL), 2, 3, 2, 0, 1, 0, 5.0 / 7, 0.0, 80.0);
    cell_is (at (v, PINGYI_LEVEL_UNIT, 2, OVERALL, ALL), 3, 0, 1, 2, 1, 0, 0.5, 2.0 / 6, 67.0);
    assert_int_equal (units->rows[0].rank, 1);
    assert_int_equal (units->rows[1].rank, 2);
    assert_int_equal (units->rows[2].rank, 3);

    /* towns: u1 only; departments: u2 only (ranked within their own level) */
    const pingyi_level_view_t *towns = &v->levels[PINGYI_LEVEL_TOWN];
    assert_int_equal (towns->row_count, 1);
    assert_string_equal (towns->rows[0].id, "u1");
    assert_string_equal (towns->rows[0].name, "甲镇党委");
    assert_int_equal (towns->rows[0].rank, 1);
    cell_is (at (v, PINGYI_LEVEL_TOWN, 0, OVERALL, ALL), 8, 6, 4, 1, 3, 1, 14.0 / 19, 1.0 / 19, 80.8);
    const pingyi_level_view_t *deps = &v->levels[PINGYI_LEVEL_DEPARTMENT];
    assert_int_equal (deps->row_count, 1);
    assert_string_equal (deps->rows[0].id, "u2");
    cell_is (at (v, PINGYI_LEVEL_DEPARTMENT, 0, OVERALL, ALL), 2, 3, 2, 0, 1, 0, 5.0 / 7, 0.0, 80.0);

    /* kinds: only those with units (town, department, enterprise), in kind order */
    const pingyi_level_view_t *kinds = &v->levels[PINGYI_LEVEL_KIND];
    assert_int_equal (kinds->row_count, 3);
    assert_string_equal (kinds->rows[0].id, "town");
    assert_string_equal (kinds->rows[0].name, "镇/街道");
    assert_string_equal (kinds->rows[1].id, "department");
    assert_string_equal (kinds->rows[2].id, "enterprise");
    assert_string_equal (kinds->rows[2].name, "企业");
    cell_is (at (v, PINGYI_LEVEL_KIND, 2, OVERALL, ALL), 3, 0, 1, 2, 1, 0, 0.5, 2.0 / 6, 67.0);
    assert_int_equal (kinds->rows[0].rank, 1);
    assert_int_equal (kinds->rows[1].rank, 2);
    assert_int_equal (kinds->rows[2].rank, 3);
    assert_int_equal (pingyi_view_row_district (v, PINGYI_LEVEL_KIND, 0), -1);
    assert_int_equal (pingyi_view_row_district (v, PINGYI_LEVEL_TOWN, 0), 0);
    assert_int_equal (pingyi_view_row_district (v, PINGYI_LEVEL_SUBJECT, S4), 1);
    pingyi_view_destroy (&v);
}

static void
test_hand_districts_and_city (void **state)
{
    hand_t *h = *state;
    pingyi_view_t *v = pingyi_view_new (h->e, h->t);
    assert_non_null (v);
    const pingyi_level_view_t *d = &v->levels[PINGYI_LEVEL_DISTRICT];
    assert_int_equal (d->row_count, 2);
    assert_string_equal (d->rows[0].id, "d1");
    assert_string_equal (d->rows[0].parent, "city");
    /* d1 = s1 + s2 + s3 (the district of the UNIT: s3 was also rated at v2 in d2):
       leaders 好6 较好6 一般2 → (600+480+120)/14 = 1200/14
       middle 好2 较好3 一般2 → (200+240+120)/7 = 80;  staff 好2 一般2 差1 → 64
       score = 0.5·1200/14 + 0.3·80 + 0.2·64 = 42.857142857… + 24 + 12.8 = 79.657142857…
       all: 好10 较好9 一般6 差1 = 26 valid, blank 4, over 1 */
    cell_is (at (v, PINGYI_LEVEL_DISTRICT, 0, OVERALL, LEADERS), 6, 6, 2, 0, 0, 0, 12.0 / 14, 0.0,
             1200.0 / 14);
    cell_is (at (v, PINGYI_LEVEL_DISTRICT, 0, OVERALL, MIDDLE), 2, 3, 2, 0, 4, 0, 5.0 / 7, 0.0, 80.0);
    cell_is (at (v, PINGYI_LEVEL_DISTRICT, 0, OVERALL, ALL), 10, 9, 6, 1, 4, 1, 19.0 / 26, 1.0 / 26,
             0.5 * 1200.0 / 14 + 24 + 12.8);
    /* d2 = s4 = 67 */
    cell_is (at (v, PINGYI_LEVEL_DISTRICT, 1, OVERALL, ALL), 3, 0, 1, 2, 1, 0, 0.5, 2.0 / 6, 67.0);
    assert_int_equal (d->rows[0].rank, 1);
    assert_int_equal (d->rows[1].rank, 2);

    /* city: leaders 好8 较好6 一般2 差2 → (800+480+120)/18 = 1400/18
       middle 好3 较好3 一般2 → (300+240+120)/8 = 82.5;  staff 好2 一般3 差1 → 380/6
       score = 0.5·1400/18 + 0.3·82.5 + 0.2·380/6 = 38.888… + 24.75 + 12.666… = 76.30555…
       all: 好13 较好9 一般7 差3 = 32 valid, blank 5, over 1; 好评率 22/32 = 0.6875, 差评率 3/32 */
    const pingyi_level_view_t *city = &v->levels[PINGYI_LEVEL_CITY];
    assert_int_equal (city->row_count, 1);
    assert_string_equal (city->rows[0].id, "city");
    assert_string_equal (city->rows[0].name, "全市");
    assert_null (city->rows[0].parent);
    assert_int_equal (city->rows[0].rank, 1);
    cell_is (at (v, PINGYI_LEVEL_CITY, 0, OVERALL, STAFF), 2, 0, 3, 1, 0, 1, 2.0 / 6, 1.0 / 6, 380.0 / 6);
    cell_is (at (v, PINGYI_LEVEL_CITY, 0, OVERALL, ALL), 13, 9, 7, 3, 5, 1, 0.6875, 3.0 / 32,
             0.5 * 1400.0 / 18 + 0.3 * 82.5 + 0.2 * 380.0 / 6);
    assert_float_equal (at (v, PINGYI_LEVEL_CITY, 0, OVERALL, ALL)->score, 76.305555555555556, 1e-9);
    pingyi_view_destroy (&v);
}

static void
test_hand_venues_and_final (void **state)
{
    hand_t *h = *state;
    pingyi_view_t *v = pingyi_view_new (h->e, h->t);
    assert_non_null (v);
    assert_int_equal (v->venues[V1].status, PINGYI_VENUE_RECONCILED);
    assert_int_equal (v->venues[V2].status, PINGYI_VENUE_CLOSED);
    assert_int_equal (v->venues[V3].status, PINGYI_VENUE_VOID);
    assert_int_equal (v->venues[V4].status, PINGYI_VENUE_OPEN);
    assert_int_equal (v->venues_open, 1);
    assert_int_equal (v->venues_closed, 1);
    assert_int_equal (v->venues_reconciled, 1);
    assert_int_equal (v->venues_void, 1);
    assert_false (v->final);
    /* what keeps it PROVISIONAL, per venue, in definition order; of a district */
    char text[1024];
    size_t held = 0;
    assert_false (pingyi_view_status_text (v, -1, PINGYI_STATUS_NAMED, text, sizeof text));
    assert_string_equal (text, "PROVISIONAL: v2 closed, not reconciled (accepted 3 + rejected 1 < sent 5); "
                               "v3 void (collected 6 > issued 5); v4 open");
    assert_false (pingyi_view_status_text (v, -1, 1, text, sizeof text));
    assert_string_equal (text, "PROVISIONAL: v2 closed, not reconciled (accepted 3 + rejected 1 < sent 5); "
                               "and 2 more");
    assert_false (pingyi_view_status_text (v, 0, PINGYI_STATUS_NAMED, text, sizeof text));
    assert_string_equal (text, "PROVISIONAL: v3 void (collected 6 > issued 5)");
    assert_false (pingyi_view_final (v, 1, &held));
    assert_int_equal (held, 2);
    assert_int_equal (pingyi_venue_why (v, V4, text, sizeof text), PINGYI_HOLD_OPEN);
    assert_string_equal (text, "v4 open");
    assert_int_equal (pingyi_venue_why (v, V1, text, sizeof text), 0);
    assert_string_equal (text, "");
    /* totals count every venue, void included */
    assert_int_equal (v->accepted, 10 + 3 + 6);
    assert_int_equal (v->blank_ballots, 1);
    assert_int_equal (v->rejected, 1);
    assert_int_equal (v->rejected_by[PINGYI_REJECT_MALFORMED], 1);
    pingyi_view_destroy (&v);

    /* v2 accounts for every ballot sent, v4 closes empty: v3 void still
       keeps the count from FINAL (it must be reviewed); d2 alone is final */
    figures (h->t, V2, true, 5, 4, 5, 3, 0, 2);
    figures (h->t, V4, true, 0, 0, 0, 0, 0, 0);
    v = pingyi_view_new (h->e, h->t);
    assert_non_null (v);
    assert_int_equal (v->venues[V2].status, PINGYI_VENUE_RECONCILED);
    assert_int_equal (v->venues[V4].status, PINGYI_VENUE_RECONCILED);
    assert_false (v->final);
    assert_int_equal (v->venues_void, 1);
    assert_false (pingyi_view_status_text (v, -1, PINGYI_STATUS_NAMED, text, sizeof text));
    assert_string_equal (text, "PROVISIONAL: v3 void (collected 6 > issued 5)");
    assert_true (pingyi_view_final (v, 1, &held));
    assert_int_equal (held, 0);
    assert_true (pingyi_view_status_text (v, 1, PINGYI_STATUS_NAMED, text, sizeof text));
    assert_string_equal (text, "FINAL");
    /* the void venue's counters still reach no row */
    cell_is (at (v, PINGYI_LEVEL_CITY, 0, OVERALL, ALL), 13, 9, 7, 3, 5, 1, 0.6875, 3.0 / 32,
             0.5 * 1400.0 / 18 + 0.3 * 82.5 + 0.2 * 380.0 / 6);
    pingyi_view_destroy (&v);
}

/*  FINAL means final: every venue closed and reconciled, none void, and
    no ballot refused after a close.  */
static void
test_final_rule (void **state)
{
    hand_t *h = *state;
    char text[1024];
    /* every venue reconciled: FINAL */
    figures (h->t, V2, true, 5, 4, 5, 3, 0, 2);
    figures (h->t, V3, true, 6, 6, 6, 6, 0, 0);
    figures (h->t, V4, true, 0, 0, 0, 0, 0, 0);
    pingyi_view_t *v = pingyi_view_new (h->e, h->t);
    assert_non_null (v);
    assert_true (v->final);
    assert_true (pingyi_view_status_text (v, -1, PINGYI_STATUS_NAMED, text, sizeof text));
    assert_string_equal (text, "FINAL");
    pingyi_view_destroy (&v);

    /* v1 refused 2 ballots after its close: reconciled, but not final */
    pingyi_venue_figures_t f = {.venue = V1,
                                .accepted = 10,
                                .blank = 1,
                                .rejected = 2,
                                .issued = 12,
                                .collected = 12,
                                .sent = 12,
                                .closed = true};
    f.rejected_by[PINGYI_REJECT_VENUE_CLOSED] = 2;
    assert_int_equal (pingyi_tally_set_figures (h->t, &f), 0);
    v = pingyi_view_new (h->e, h->t);
    assert_non_null (v);
    assert_int_equal (v->venues[V1].status, PINGYI_VENUE_RECONCILED);
    assert_int_equal (pingyi_venue_holds (&v->venues[V1]), PINGYI_HOLD_LATE);
    assert_false (v->final);
    assert_false (pingyi_view_status_text (v, -1, PINGYI_STATUS_NAMED, text, sizeof text));
    assert_string_equal (text, "PROVISIONAL: v1 refused 2 ballots after its close");
    /* the district of v1 is provisional, the other one final */
    assert_false (pingyi_view_status_text (v, 0, PINGYI_STATUS_NAMED, text, sizeof text));
    assert_string_equal (text, "PROVISIONAL: v1 refused 2 ballots after its close");
    assert_true (pingyi_view_status_text (v, 1, PINGYI_STATUS_NAMED, text, sizeof text));
    assert_string_equal (text, "FINAL");
    pingyi_view_destroy (&v);

    /* one refused, open, and void at once: every cause named */
    f.closed = false;
    f.rejected_by[PINGYI_REJECT_VENUE_CLOSED] = 1;
    assert_int_equal (pingyi_tally_set_figures (h->t, &f), 0);
    figures (h->t, V3, true, 5, 6, 6, 6, 0, 0);
    v = pingyi_view_new (h->e, h->t);
    assert_non_null (v);
    assert_false (pingyi_view_status_text (v, -1, PINGYI_STATUS_NAMED, text, sizeof text));
    assert_string_equal (text, "PROVISIONAL: v1 open, refused 1 ballot after its close; "
                               "v3 void (collected 6 > issued 5)");
    /* accepted > collected */
    figures (h->t, V3, true, 6, 5, 6, 6, 0, 0);
    pingyi_view_destroy (&v);
    v = pingyi_view_new (h->e, h->t);
    assert_non_null (v);
    assert_int_equal (pingyi_venue_why (v, V3, text, sizeof text), PINGYI_HOLD_VOID);
    assert_string_equal (text, "v3 void (accepted 6 > collected 5)");
    /* a close without issued: closed, not reconciled */
    figures (h->t, V3, true, -1, 6, 6, 6, 0, 0);
    pingyi_view_destroy (&v);
    v = pingyi_view_new (h->e, h->t);
    assert_non_null (v);
    assert_int_equal (pingyi_venue_why (v, V3, text, sizeof text), PINGYI_HOLD_UNRECONCILED);
    assert_string_equal (text, "v3 closed, not reconciled (issued unknown)");
    pingyi_view_destroy (&v);
}

/*  The snapshot time: ISO 8601 local time with its offset.  */
static void
test_snapshot_time (void **state)
{
    (void) state;
    char *old = getenv ("TZ") ? strdup (getenv ("TZ")) : NULL;
    setenv ("TZ", "CST-8", 1);
    tzset ();
    char text[PINGYI_SNAPSHOT_TEXT];
    pingyi_time_text (1796528525, text, sizeof text);
    assert_string_equal (text, "2026-12-06T11:42:05+08:00");
    pingyi_time_text (0, text, sizeof text);
    assert_string_equal (text, "unknown");
    setenv ("TZ", "UTC0", 1);
    tzset ();
    pingyi_time_text (1796528525, text, sizeof text);
    assert_string_equal (text, "2026-12-06T03:42:05+00:00");
    if (old) {
        setenv ("TZ", old, 1);
        free (old);
    }
    else
        unsetenv ("TZ");
    tzset ();
}

static void
test_venue_status_rules (void **state)
{
    (void) state;
    pingyi_venue_figures_t f = {.issued = -1, .collected = -1, .sent = -1};
    assert_int_equal (pingyi_venue_status (&f), PINGYI_VENUE_OPEN);
    f.accepted = 50;
    f.issued = 10; /* declared numbers do not matter until the round is closed */
    f.collected = 40;
    assert_int_equal (pingyi_venue_status (&f), PINGYI_VENUE_OPEN);
    f.closed = true;
    assert_int_equal (pingyi_venue_status (&f), PINGYI_VENUE_VOID); /* collected > issued */
    f.issued = 60;
    assert_int_equal (pingyi_venue_status (&f), PINGYI_VENUE_VOID); /* accepted 50 > collected 40 */
    f.collected = 50;
    f.sent = 55;
    f.rejected = 4;
    assert_int_equal (pingyi_venue_status (&f), PINGYI_VENUE_CLOSED); /* 50 + 4 of 55 sent */
    f.rejected = 5;
    assert_int_equal (pingyi_venue_status (&f), PINGYI_VENUE_RECONCILED);
    f.collected = 60; /* collected == issued is fine */
    assert_int_equal (pingyi_venue_status (&f), PINGYI_VENUE_RECONCILED);
    f.issued = -1; /* closed without the declared figures: cannot be reconciled */
    assert_int_equal (pingyi_venue_status (&f), PINGYI_VENUE_CLOSED);
    assert_string_equal (pingyi_venue_status_name (PINGYI_VENUE_OPEN), "open");
    assert_string_equal (pingyi_venue_status_name (PINGYI_VENUE_CLOSED), "closed");
    assert_string_equal (pingyi_venue_status_name (PINGYI_VENUE_RECONCILED), "reconciled");
    assert_string_equal (pingyi_venue_status_name (PINGYI_VENUE_VOID), "void");
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++)
        assert_int_equal (pingyi_level_parse (pingyi_level_name ((pingyi_level_t) l)), l);
    assert_string_equal (pingyi_level_name (PINGYI_LEVEL_DEPARTMENT), "department");
    assert_int_equal (pingyi_level_parse ("street"), -1);
    assert_int_equal (pingyi_level_parse (NULL), -1);
}

/*  A category of weight 0 gives marks but no weight: the weighted score
    is that of the others, and with only it, none at all.  */
static void
test_zero_weight_category (void **state)
{
    (void) state;
    char *def = strdup (HAND);
    char *w = strstr (def, "\"weight\": 0.2");
    memcpy (w, "\"weight\": 0.0", 13);
    pingyi_election_t *e = pingyi_election_parse ((const uint8_t *) def, strlen (def), NULL);
    free (def);
    assert_non_null (e);
    pingyi_tally_t *t = pingyi_tally_new (e);
    add (t, V1, S1, OVERALL, LEADERS, GOOD, 1); /* 100, weight 0.5 */
    add (t, V1, S1, OVERALL, STAFF, POOR, 3);   /* 0, weight 0 */
    add (t, V1, S2, OVERALL, STAFF, GOOD, 3);   /* only the weight-0 category */
    pingyi_view_t *v = pingyi_view_new (e, t);
    /* (0.5·100 + 0·0) / 0.5 = 100 */
    assert_float_equal (at (v, PINGYI_LEVEL_SUBJECT, S1, OVERALL, ALL)->score, 100.0, EPS);
    assert_true (isnan (at (v, PINGYI_LEVEL_SUBJECT, S2, OVERALL, ALL)->score));
    assert_float_equal (at (v, PINGYI_LEVEL_SUBJECT, S2, OVERALL, STAFF)->score, 100.0, EPS);
    assert_int_equal (v->levels[PINGYI_LEVEL_SUBJECT].rows[S2].rank, 0);
    pingyi_view_destroy (&v);
    pingyi_tally_destroy (&t);
    pingyi_election_destroy (&e);
}

/*  ---------------------------------------------------------------------
    A generated election against a brute force  */

typedef struct {
    pingyi_election_t *e;
    pingyi_tally_t *t;
    uint64_t *raw; /* raw[((venue·S + subject)·I + item)·C + category][slot] */
    size_t slots;  /* choices of the widest set + BLANK + OVER */
    bool *void_venue;
} gen_t;

static uint64_t
rnd (uint64_t *x)
{
    *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
    return *x >> 33;
}

static uint64_t *
raw_at (const gen_t *g, size_t venue, size_t subject, size_t item, size_t category)
{
    const pingyi_election_t *e = g->e;
    return &g->raw[(((venue * e->subject_count + subject) * e->item_count + item) * e->category_count +
                    category) *
                   g->slots];
}

/*  Does subject s belong to row r of level l?  From the definition alone.  */
static bool
member (const pingyi_election_t *e, pingyi_level_t l, const pingyi_row_t *row, size_t s)
{
    const pingyi_unit_t *u = &e->units[e->subjects[s].unit];
    switch (l) {
    case PINGYI_LEVEL_SUBJECT:
        return !strcmp (row->id, e->subjects[s].id);
    case PINGYI_LEVEL_UNIT:
        return !strcmp (row->id, u->id);
    case PINGYI_LEVEL_TOWN:
        return u->kind == PINGYI_UNIT_TOWN && !strcmp (row->id, u->id);
    case PINGYI_LEVEL_DEPARTMENT:
        return u->kind == PINGYI_UNIT_DEPARTMENT && !strcmp (row->id, u->id);
    case PINGYI_LEVEL_KIND:
        return !strcmp (row->id, pingyi_unit_kind_name (u->kind));
    case PINGYI_LEVEL_DISTRICT:
        return !strcmp (row->id, e->districts[u->district].id);
    default:
        return true;
    }
}

static void
test_generated_against_brute_force (void **state)
{
    (void) state;
    pingyi_gen_options_t o = {.districts = 3,
                              .venues_per_district = 3,
                              .subjects = 40,
                              .form_subjects = 9,
                              .items = 3,
                              .shards = 2,
                              .seed = 99};
    char *text = NULL;
    size_t len = 0;
    char err[PINGYI_ERR_MAX];
    FILE *out = open_memstream (&text, &len);
    assert_int_equal (pingyi_election_generate (&o, out, err), 0);
    fclose (out);
    gen_t g = {0};
    g.e = pingyi_election_parse ((uint8_t *) text, len, NULL);
    free (text);
    assert_non_null (g.e);
    const pingyi_election_t *e = g.e;
    g.t = pingyi_tally_new (e);
    g.slots = 4 + 2;
    size_t cats = e->category_count, items = e->item_count;
    g.raw = calloc (e->venue_count * e->subject_count * items * cats * g.slots, sizeof *g.raw);
    g.void_venue = calloc (e->venue_count, sizeof *g.void_venue);
    uint64_t x = 12345;
    for (size_t v = 0; v < e->venue_count; v++) {
        for (size_t f = 0; f < e->venues[v].subject_count; f++) {
            size_t s = e->venues[v].subjects[f];
            for (size_t i = 0; i < items; i++)
                for (size_t c = 0; c < cats; c++)
                    for (size_t m = 0; m < g.slots; m++) {
                        if (rnd (&x) % 4 == 0)
                            continue; /* leave some counters out: some cells get no valid mark */
                        uint64_t n = rnd (&x) % 50;
                        int mark = m < 4 ? (int) m : m == 4 ? BLANK : OVER;
                        raw_at (&g, v, s, i, c)[m] += n;
                        if (n)
                            add (g.t, (int) v, (int) s, (int) i, (int) c, mark, n);
                    }
        }
        /* every third venue void, the others reconciled */
        g.void_venue[v] = v % 3 == 1;
        figures (g.t, (int) v, true, 100, g.void_venue[v] ? 101 : 100, 100, 100, 0, 0);
    }
    pingyi_view_t *view = pingyi_view_new_k (e, g.t, 1);
    assert_non_null (view);
    assert_false (view->final); /* the void venues must be reviewed */
    assert_int_equal (view->venues_void, (e->venue_count + 1) / 3);
    size_t held = 0;
    assert_false (pingyi_view_final (view, -1, &held));
    assert_int_equal (held, view->venues_void);
    const pingyi_choice_set_t *set = &e->choice_sets[0];
    size_t rows_checked = 0;
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++) {
        const pingyi_level_view_t *lv = &view->levels[l];
        assert_true (lv->row_count > 0);
        double *scores = calloc (lv->row_count, sizeof *scores);
        for (size_t r = 0; r < lv->row_count; r++) {
            const pingyi_row_t *row = &lv->rows[r];
            for (size_t i = 0; i < items; i++) {
                uint64_t all[6] = {0};
                double weighted = 0, weights = 0;
                for (size_t c = 0; c < cats; c++) {
                    uint64_t n[6] = {0};
                    for (size_t v = 0; v < e->venue_count; v++) {
                        if (g.void_venue[v])
                            continue;
                        for (size_t s = 0; s < e->subject_count; s++)
                            if (member (e, (pingyi_level_t) l, row, s))
                                for (size_t m = 0; m < 6; m++)
                                    n[m] += raw_at (&g, v, s, i, c)[m];
                    }
                    uint64_t valid = n[0] + n[1] + n[2] + n[3];
                    double avg = NAN;
                    if (valid) {
                        double p = 0;
                        for (size_t m = 0; m < 4; m++)
                            p += set->choices[m].points * (double) n[m];
                        avg = p / (double) valid;
                        weighted += e->categories[c].weight * avg;
                        weights += e->categories[c].weight;
                    }
                    const pingyi_cell_stats_t *cell = pingyi_view_stats (view, (pingyi_level_t) l, r, i, c);
                    for (size_t m = 0; m < 4; m++)
                        assert_int_equal (cell->choices[m], n[m]);
                    assert_int_equal (cell->blank, n[4]);
                    assert_int_equal (cell->over, n[5]);
                    assert_int_equal (cell->valid, valid);
                    if (valid)
                        assert_float_equal (cell->score, avg, 1e-9);
                    else
                        assert_true (isnan (cell->score));
                    for (size_t m = 0; m < 6; m++)
                        all[m] += n[m];
                }
                const pingyi_cell_stats_t *cell = pingyi_view_stats (view, (pingyi_level_t) l, r, i, cats);
                for (size_t m = 0; m < 4; m++)
                    assert_int_equal (cell->choices[m], all[m]);
                assert_int_equal (cell->blank, all[4]);
                assert_int_equal (cell->over, all[5]);
                uint64_t valid = all[0] + all[1] + all[2] + all[3];
                if (valid) {
                    assert_float_equal (cell->good_rate, (double) (all[0] + all[1]) / (double) valid, 1e-12);
                    assert_float_equal (cell->bad_rate, (double) all[3] / (double) valid, 1e-12);
                    assert_float_equal (cell->score, weighted / weights, 1e-9);
                }
                else
                    assert_true (isnan (cell->good_rate) && isnan (cell->score));
                if (i == view->rank_item)
                    scores[r] = valid ? weighted / weights : NAN;
            }
            rows_checked++;
        }
        /* rank = 1 + rows with a strictly better score */
        for (size_t r = 0; r < lv->row_count; r++) {
            if (isnan (scores[r])) {
                assert_int_equal (lv->rows[r].rank, 0);
                continue;
            }
            int better = 0;
            for (size_t q = 0; q < lv->row_count; q++)
                if (!isnan (scores[q]) && scores[q] > scores[r] + 1e-9 * fmax (1, fabs (scores[r])))
                    better++;
            assert_int_equal (lv->rows[r].rank, better + 1);
        }
        free (scores);
    }
    assert_true (rows_checked > 40 + 20 + 3 + 1);
    pingyi_view_destroy (&view);
    free (g.raw);
    free (g.void_venue);
    pingyi_tally_destroy (&g.t);
    pingyi_election_destroy (&g.e);
}

/*  ---------------------------------------------------------------------
    Release (k-anonymity), by hand.  k = 10.  Categories leaders 0.5,
    staff 0.3, served 0.2; one town u1 in d1 with subjects s1 and s2;
    v1 rates s1, v2 rates s2 (REL_CROSS: v2 rates s1 too).  */

static const char *REL =
    "{\"version\": 1, \"id\": \"rel\", \"title\": \"发布\", \"shards\": 1, \"k_anonymity\": 10,\n"
    " \"grades\": [{\"label\": \"好\", \"points\": 100, \"favourable\": true},\n"
    "            {\"label\": \"较好\", \"points\": 80, \"favourable\": true},\n"
    "            {\"label\": \"一般\", \"points\": 60},\n"
    "            {\"label\": \"差\", \"points\": 0, \"unfavourable\": true}],\n"
    " \"items\": [{\"id\": \"overall\", \"name\": \"总体评价\", \"overall\": true},\n"
    "           {\"id\": \"duty\", \"name\": \"履职\"}],\n"
    " \"categories\": [{\"id\": \"leaders\", \"name\": \"领导班子成员\", \"weight\": 0.5},\n"
    "                {\"id\": \"staff\", \"name\": \"一般干部\", \"weight\": 0.3},\n"
    "                {\"id\": \"served\", \"name\": \"服务对象\", \"weight\": 0.2}],\n"
    " \"districts\": [{\"id\": \"d1\", \"name\": \"一区\"}],\n"
    " \"units\": [{\"id\": \"u1\", \"name\": \"甲镇党委\", \"kind\": \"town\", \"district\": \"d1\"}],\n"
    " \"subjects\": [{\"id\": \"s1\", \"name\": \"甲\", \"unit\": \"u1\"}, {\"id\": \"s2\", \"name\": "
    "\"乙\", "
    "\"unit\": \"u1\"}],\n"
    " \"venues\": [{\"id\": \"v1\", \"name\": \"一\", \"district\": \"d1\", \"subjects\": [\"s1\"]},\n"
    "            {\"id\": \"v2\", \"name\": \"二\", \"district\": \"d1\", \"subjects\": [\"s2\"]}]}\n";

enum { R_LEADERS, R_STAFF, R_SERVED, R_ALL };

/*  Venue figures: closed, reconciled, by_category as given.  */
static void
rel_figures (pingyi_tally_t *t, int venue, uint64_t leaders, uint64_t staff, uint64_t served)
{
    uint64_t n = leaders + staff + served;
    pingyi_venue_figures_t f = {.venue = (uint32_t) venue,
                                .accepted = n,
                                .issued = (int64_t) n,
                                .collected = (int64_t) n,
                                .sent = (int64_t) n,
                                .closed = true,
                                .category_count = 3};
    f.by_category[R_LEADERS] = leaders;
    f.by_category[R_STAFF] = staff;
    f.by_category[R_SERVED] = served;
    assert_int_equal (pingyi_tally_set_figures (t, &f), 0);
}

static pingyi_election_t *
rel_election (bool cross)
{
    char *def = strdup (REL);
    if (cross) {
        char *v2 = strstr (def, "\"subjects\": [\"s2\"]");
        assert_non_null (v2);
        v2[15] = '1'; /* v2 rates s1 */
    }
    pingyi_errlist_t errs = {0};
    pingyi_election_t *e = pingyi_election_parse ((const uint8_t *) def, strlen (def), &errs);
    for (size_t i = 0; i < errs.count; i++)
        fprintf (stderr, "%s\n", errs.lines[i]);
    pingyi_errlist_clear (&errs);
    free (def);
    assert_non_null (e);
    assert_int_equal (e->k_anonymity, 10);
    return e;
}

/*  v1 on s1: leaders 20 ballots (overall 好12 较好6 一般2 → 1800/20 = 90; duty 好20),
    staff 15 (overall 好5 较好5 一般3 差2 → 1080/15 = 72; duty BLANK15),
    served 3 (overall 好1 差1 BLANK1 → 100/2 = 50; duty 一般3).  */
static void
rel_v1 (pingyi_tally_t *t)
{
    add (t, V1, S1, OVERALL, R_LEADERS, GOOD, 12);
    add (t, V1, S1, OVERALL, R_LEADERS, FAIR, 6);
    add (t, V1, S1, OVERALL, R_LEADERS, AVERAGE, 2);
    add (t, V1, S1, OVERALL, R_STAFF, GOOD, 5);
    add (t, V1, S1, OVERALL, R_STAFF, FAIR, 5);
    add (t, V1, S1, OVERALL, R_STAFF, AVERAGE, 3);
    add (t, V1, S1, OVERALL, R_STAFF, POOR, 2);
    add (t, V1, S1, OVERALL, R_SERVED, GOOD, 1);
    add (t, V1, S1, OVERALL, R_SERVED, POOR, 1);
    add (t, V1, S1, OVERALL, R_SERVED, BLANK, 1);
    add (t, V1, S1, DUTY, R_LEADERS, GOOD, 20);
    add (t, V1, S1, DUTY, R_STAFF, BLANK, 15);
    add (t, V1, S1, DUTY, R_SERVED, AVERAGE, 3);
    rel_figures (t, V1, 20, 15, 3);
}

static void
suppressed_cell (const pingyi_cell_stats_t *c)
{
    assert_non_null (c);
    assert_true (c->suppressed);
    for (size_t m = 0; m < PINGYI_MAX_CHOICES; m++)
        assert_int_equal (c->choices[m], 0);
    assert_int_equal (c->blank + c->over + c->valid + c->favourable + c->unfavourable, 0);
    assert_true (isnan (c->good_rate) && isnan (c->bad_rate) && isnan (c->score));
}

/*  One venue whose category served has 3 ballots: (s1, served) is
    suppressed (0 < 3 < 10); the row would then give it away (row total
    minus leaders and staff), so the smallest other non-empty category,
    staff (15 < 20), is suppressed too.  The row total still counts all 38
    ballots.  In the raw tally: (v1, served) is hidden (3 < 10); (s1, staff)
    is suppressed but every group under it is published, so the smallest
    of them, (v1, staff), is hidden too (else the tally gives the cell
    back).  Every level above is the same single venue: the same
    decisions.  */
static void
test_release_small_category (void **state)
{
    (void) state;
    pingyi_election_t *e = rel_election (false);
    pingyi_tally_t *t = pingyi_tally_new (e);
    rel_v1 (t);
    pingyi_view_t *v = pingyi_view_new (e, t);
    assert_non_null (v);
    assert_int_equal (v->k, 10);
    assert_int_equal (pingyi_view_ballots (v, PINGYI_LEVEL_SUBJECT, S1, R_SERVED), 3);
    assert_int_equal (pingyi_view_ballots (v, PINGYI_LEVEL_SUBJECT, S1, R_ALL), 38);
    assert_int_equal (pingyi_view_ballots (v, PINGYI_LEVEL_SUBJECT, S2, R_ALL), 0);
    pingyi_level_t levels[] = {PINGYI_LEVEL_SUBJECT, PINGYI_LEVEL_UNIT,     PINGYI_LEVEL_TOWN,
                               PINGYI_LEVEL_KIND,    PINGYI_LEVEL_DISTRICT, PINGYI_LEVEL_CITY};
    for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
        pingyi_level_t lv = levels[l];
        assert_false (v->levels[lv].rows[0].suppressed);
        assert_int_equal (v->levels[lv].rows[0].rank, 1);
        for (int item = OVERALL; item <= DUTY; item++) {
            suppressed_cell (at (v, lv, 0, (size_t) item, R_SERVED));
            suppressed_cell (at (v, lv, 0, (size_t) item, R_STAFF));
        }
        cell_is (at (v, lv, 0, OVERALL, R_LEADERS), 12, 6, 2, 0, 0, 0, 0.9, 0.0, 90.0);
        /* merged up: all = leaders + staff + served:
           好18 较好11 一般5 差3, blank 1: valid 37; 好评率 29/37, 差评率 3/37;
           score = 0.5·90 + 0.3·72 + 0.2·50 = 45 + 21.6 + 10 = 76.6 */
        cell_is (at (v, lv, 0, OVERALL, R_ALL), 18, 11, 5, 3, 1, 0, 29.0 / 37, 3.0 / 37, 76.6);
        /* duty: leaders 100, staff no valid mark, served 60: (0.5·100 + 0.2·60)/0.7 */
        cell_is (at (v, lv, 0, DUTY, R_LEADERS), 20, 0, 0, 0, 0, 0, 1.0, 0.0, 100.0);
        cell_is (at (v, lv, 0, DUTY, R_ALL), 20, 0, 3, 0, 15, 0, 20.0 / 23, 0.0, 62.0 / 0.7);
    }
    /* s2: nobody rated it: an empty row, shown (zeros), not suppressed */
    assert_false (v->levels[PINGYI_LEVEL_SUBJECT].rows[S2].suppressed);
    cell_is (at (v, PINGYI_LEVEL_SUBJECT, S2, OVERALL, R_ALL), 0, 0, 0, 0, 0, 0, NAN, NAN, NAN);
    assert_true (pingyi_view_group_hidden (v, V1, R_SERVED));
    assert_true (pingyi_view_group_hidden (v, V1, R_STAFF));
    assert_false (pingyi_view_group_hidden (v, V1, R_LEADERS));
    assert_false (pingyi_view_group_hidden (v, V2, R_LEADERS));
    assert_int_equal (pingyi_view_group_ballots (v, V1, R_STAFF), 15);
    assert_int_equal (v->hidden_groups, 2);
    assert_int_equal (v->suppressed_cells, 6 * 2); /* 6 rows (no department) × 2 categories */
    pingyi_view_destroy (&v);

    /* k = 1 withholds nothing: every figure is there */
    v = pingyi_view_new_k (e, t, 1);
    assert_int_equal (v->k, 1);
    assert_int_equal (v->suppressed_cells + v->hidden_groups, 0);
    cell_is (at (v, PINGYI_LEVEL_SUBJECT, S1, OVERALL, R_SERVED), 1, 0, 0, 1, 1, 0, 0.5, 0.5, 50.0);
    cell_is (at (v, PINGYI_LEVEL_SUBJECT, S1, OVERALL, R_STAFF), 5, 5, 3, 2, 0, 0, 10.0 / 15, 2.0 / 15, 72.0);
    cell_is (at (v, PINGYI_LEVEL_CITY, 0, OVERALL, R_ALL), 18, 11, 5, 3, 1, 0, 29.0 / 37, 3.0 / 37, 76.6);
    assert_false (pingyi_view_group_hidden (v, V1, R_SERVED));
    pingyi_view_destroy (&v);
    pingyi_tally_destroy (&t);
    pingyi_election_destroy (&e);
}

/*  v2 adds 6 ballots on s2 (leaders 4: 好3 差1, duty 好4; staff 2: 较好2, duty 好2).
    - s2's row has n = 6 < 10: suppressed whole.
    - u1 = s1 + s2 shows its row (44 ballots), so u1 − s1 would give s2:
      s1 is suppressed whole too (the only other child).  Likewise per
      category: u1's leaders (24) − s1's leaders would give s2's 4.
    - u1's own row: served (3) is small, so staff (17 < 24) goes with it.
    - Raw tally: (v2, leaders) and (v2, staff) are small: hidden.  v1's
      staff (venue line: 3 hidden of 38 accepted), leaders (u1's leaders
      cell shows 24, of which v2's 4 are hidden: v1's 20 must not be
      shown beside it), served: hidden.  Everything of both venues is.
    u1 keeps every ballot: leaders 好15 较好6 一般2 差1 = 24 → 2100/24 = 87.5;
    staff pooled 好5 较好7 一般3 差2 → 1240/17; served 50;
    all = 0.5·87.5 + 0.3·1240/17 + 0.2·50.  */
static void
test_release_small_row_and_parents (void **state)
{
    (void) state;
    pingyi_election_t *e = rel_election (false);
    pingyi_tally_t *t = pingyi_tally_new (e);
    rel_v1 (t);
    add (t, V2, S2, OVERALL, R_LEADERS, GOOD, 3);
    add (t, V2, S2, OVERALL, R_LEADERS, POOR, 1);
    add (t, V2, S2, OVERALL, R_STAFF, FAIR, 2);
    add (t, V2, S2, DUTY, R_LEADERS, GOOD, 4);
    add (t, V2, S2, DUTY, R_STAFF, GOOD, 2);
    rel_figures (t, V2, 4, 2, 0);
    pingyi_view_t *v = pingyi_view_new (e, t);
    assert_non_null (v);
    const pingyi_level_view_t *subjects = &v->levels[PINGYI_LEVEL_SUBJECT];
    for (size_t s = S1; s <= S2; s++) {
        assert_true (subjects->rows[s].suppressed);
        assert_int_equal (subjects->rows[s].rank, 0);
        for (size_t c = 0; c <= R_ALL; c++)
            for (int item = OVERALL; item <= DUTY; item++)
                suppressed_cell (at (v, PINGYI_LEVEL_SUBJECT, s, (size_t) item, c));
    }
    assert_int_equal (pingyi_view_ballots (v, PINGYI_LEVEL_SUBJECT, S2, R_ALL), 6);
    assert_int_equal (pingyi_view_ballots (v, PINGYI_LEVEL_UNIT, 0, R_ALL), 44);
    double all = 0.5 * 87.5 + 0.3 * 1240.0 / 17 + 0.2 * 50;
    pingyi_level_t levels[] = {PINGYI_LEVEL_UNIT, PINGYI_LEVEL_TOWN, PINGYI_LEVEL_KIND, PINGYI_LEVEL_DISTRICT,
                               PINGYI_LEVEL_CITY};
    for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
        assert_false (v->levels[levels[l]].rows[0].suppressed);
        assert_int_equal (v->levels[levels[l]].rows[0].rank, 1);
        cell_is (at (v, levels[l], 0, OVERALL, R_LEADERS), 15, 6, 2, 1, 0, 0, 21.0 / 24, 1.0 / 24, 87.5);
        suppressed_cell (at (v, levels[l], 0, OVERALL, R_STAFF));
        suppressed_cell (at (v, levels[l], 0, OVERALL, R_SERVED));
        /* all: 好21 较好13 一般5 差4, blank 1 → valid 43 */
        cell_is (at (v, levels[l], 0, OVERALL, R_ALL), 21, 13, 5, 4, 1, 0, 34.0 / 43, 4.0 / 43, all);
    }
    for (size_t c = R_LEADERS; c <= R_STAFF; c++) {
        assert_true (pingyi_view_group_hidden (v, V1, c));
        assert_true (pingyi_view_group_hidden (v, V2, c));
    }
    assert_true (pingyi_view_group_hidden (v, V1, R_SERVED));
    assert_false (pingyi_view_group_hidden (v, V2, R_SERVED)); /* empty: nothing to hide */
    assert_int_equal (v->hidden_groups, 5);
    assert_int_equal (v->suppressed_cells, 2 * 3 + 5 * 2);
    pingyi_view_destroy (&v);

    /* k = 1: s2 is there, exactly */
    v = pingyi_view_new_k (e, t, 1);
    cell_is (at (v, PINGYI_LEVEL_SUBJECT, S2, OVERALL, R_ALL), 3, 2, 0, 1, 0, 0, 5.0 / 6, 1.0 / 6,
             (0.5 * 75 + 0.3 * 80) / 0.8);
    assert_int_equal (v->suppressed_cells + v->hidden_groups, 0);
    pingyi_view_destroy (&v);
    pingyi_tally_destroy (&t);
    pingyi_election_destroy (&e);
}

/*  s1 is rated at v1 (served: 3) and at v2 (served: 50, leaders 30, staff
    30).  s1's served cell holds 53 ballots: shown.  But the raw tally
    hides (v1, served), and would show (v2, served): the view's cell minus
    v2's counters would give v1's 3 served ballots back.  So (v2, served)
    is hidden as well (hiding 50 ≥ k ballots never makes a part small).
    And v1's accepted (38) minus its published groups would give the
    number 3: its smallest other group, staff (15), is hidden.  The view
    withholds nothing.  */
static void
test_release_across_view_and_tally (void **state)
{
    (void) state;
    pingyi_election_t *e = rel_election (true);
    pingyi_tally_t *t = pingyi_tally_new (e);
    rel_v1 (t);
    add (t, V2, S1, OVERALL, R_LEADERS, GOOD, 30);
    add (t, V2, S1, OVERALL, R_STAFF, FAIR, 30);
    add (t, V2, S1, OVERALL, R_SERVED, AVERAGE, 50);
    add (t, V2, S1, DUTY, R_LEADERS, GOOD, 30);
    add (t, V2, S1, DUTY, R_STAFF, GOOD, 30);
    add (t, V2, S1, DUTY, R_SERVED, GOOD, 50);
    rel_figures (t, V2, 30, 30, 50);
    pingyi_view_t *v = pingyi_view_new (e, t);
    assert_non_null (v);
    assert_int_equal (v->suppressed_cells, 0);
    /* served: 好1 一般50 差1 blank 1 → valid 52, (100 + 3000)/52 */
    cell_is (at (v, PINGYI_LEVEL_SUBJECT, S1, OVERALL, R_SERVED), 1, 0, 50, 1, 1, 0, 1.0 / 52, 1.0 / 52,
             3100.0 / 52);
    assert_true (pingyi_view_group_hidden (v, V1, R_SERVED));
    assert_true (pingyi_view_group_hidden (v, V2, R_SERVED));
    assert_true (pingyi_view_group_hidden (v, V1, R_STAFF));
    assert_false (pingyi_view_group_hidden (v, V1, R_LEADERS));
    assert_false (pingyi_view_group_hidden (v, V2, R_LEADERS));
    assert_false (pingyi_view_group_hidden (v, V2, R_STAFF));
    assert_int_equal (v->hidden_groups, 3);
    pingyi_view_destroy (&v);
    pingyi_tally_destroy (&t);
    pingyi_election_destroy (&e);
}

/*  Two lines together.  v1 rates s1 (leaders 20: 好; staff 20: 较好), v2
    rates s2 (leaders 4: 差; staff 30: 一般), both in unit u1.
    - (s2, leaders) is small (4): suppressed, and s2's staff with it.
    - u1's leaders (24) minus s1's leaders would give s2's 4: (s1, leaders)
      is suppressed too, although it alone hides 20 ≥ k ballots.
    - Then s1's row total minus its staff would give (s1, leaders) whole,
      and u1's leaders minus that, s2's 4 again: a suppressed part must
      never be alone on a line, so (s1, staff) is suppressed as well.
    u1 shows everything: leaders 好20 差4 → 2000/24, staff 较好20 一般30 →
    3400/50 = 68.  */
static void
test_release_no_single_suppression (void **state)
{
    (void) state;
    pingyi_election_t *e = rel_election (false);
    pingyi_tally_t *t = pingyi_tally_new (e);
    add (t, V1, S1, OVERALL, R_LEADERS, GOOD, 20);
    add (t, V1, S1, OVERALL, R_STAFF, FAIR, 20);
    add (t, V2, S2, OVERALL, R_LEADERS, POOR, 4);
    add (t, V2, S2, OVERALL, R_STAFF, AVERAGE, 30);
    add (t, V1, S1, DUTY, R_LEADERS, GOOD, 20);
    add (t, V1, S1, DUTY, R_STAFF, GOOD, 20);
    add (t, V2, S2, DUTY, R_LEADERS, GOOD, 4);
    add (t, V2, S2, DUTY, R_STAFF, GOOD, 30);
    rel_figures (t, V1, 20, 20, 0);
    rel_figures (t, V2, 4, 30, 0);
    pingyi_view_t *v = pingyi_view_new (e, t);
    assert_non_null (v);
    for (size_t s = S1; s <= S2; s++) {
        assert_false (v->levels[PINGYI_LEVEL_SUBJECT].rows[s].suppressed);
        suppressed_cell (at (v, PINGYI_LEVEL_SUBJECT, s, OVERALL, R_LEADERS));
        suppressed_cell (at (v, PINGYI_LEVEL_SUBJECT, s, OVERALL, R_STAFF));
        cell_is (at (v, PINGYI_LEVEL_SUBJECT, s, OVERALL, R_SERVED), 0, 0, 0, 0, 0, 0, NAN, NAN, NAN);
    }
    /* the rows: s1 (0.5·100 + 0.3·80)/0.8 = 92.5; s2 (0.5·0 + 0.3·60)/0.8 = 22.5 */
    cell_is (at (v, PINGYI_LEVEL_SUBJECT, S1, OVERALL, R_ALL), 20, 20, 0, 0, 0, 0, 1.0, 0.0, 92.5);
    cell_is (at (v, PINGYI_LEVEL_SUBJECT, S2, OVERALL, R_ALL), 0, 0, 30, 4, 0, 0, 0.0, 4.0 / 34, 22.5);
    cell_is (at (v, PINGYI_LEVEL_UNIT, 0, OVERALL, R_LEADERS), 20, 0, 0, 4, 0, 0, 20.0 / 24, 4.0 / 24,
             2000.0 / 24);
    cell_is (at (v, PINGYI_LEVEL_UNIT, 0, OVERALL, R_STAFF), 0, 20, 30, 0, 0, 0, 0.4, 0.0, 68.0);
    cell_is (at (v, PINGYI_LEVEL_UNIT, 0, OVERALL, R_ALL), 20, 20, 30, 4, 0, 0, 40.0 / 74, 4.0 / 74,
             (0.5 * 2000.0 / 24 + 0.3 * 68.0) / 0.8);
    for (size_t c = R_LEADERS; c <= R_STAFF; c++) {
        assert_true (pingyi_view_group_hidden (v, V1, c));
        assert_true (pingyi_view_group_hidden (v, V2, c));
    }
    pingyi_view_destroy (&v);
    pingyi_tally_destroy (&t);
    pingyi_election_destroy (&e);
}

/*  A shard that sends no by_category (figures of an older worker): the
    groups' ballots are counted from the counters (one mark per ballot per
    (subject, item) cell), so nothing slips out unsuppressed.  */
static void
test_release_without_by_category (void **state)
{
    (void) state;
    pingyi_election_t *e = rel_election (false);
    pingyi_tally_t *t = pingyi_tally_new (e);
    rel_v1 (t);
    pingyi_venue_figures_t f = *pingyi_tally_figures (t, V1);
    f.category_count = 0;
    memset (f.by_category, 0, sizeof f.by_category);
    pingyi_tally_set_figures (t, &f);
    pingyi_view_t *v = pingyi_view_new (e, t);
    assert_int_equal (pingyi_view_group_ballots (v, V1, R_SERVED), 3);
    assert_int_equal (pingyi_view_group_ballots (v, V1, R_STAFF), 15);
    assert_int_equal (pingyi_view_group_ballots (v, V1, R_LEADERS), 20);
    suppressed_cell (at (v, PINGYI_LEVEL_SUBJECT, S1, OVERALL, R_SERVED));
    suppressed_cell (at (v, PINGYI_LEVEL_SUBJECT, S1, OVERALL, R_STAFF));
    assert_int_equal (v->hidden_groups, 2);
    pingyi_view_destroy (&v);
    pingyi_tally_destroy (&t);
    pingyi_election_destroy (&e);
}

/*  ---------------------------------------------------------------------
    Release of a generated election with many small groups, checked
    against the rule's properties, every quantity recomputed here.  */

typedef struct {
    const pingyi_election_t *e;
    const pingyi_view_t *v;
    const uint64_t *b; /* [venue × C + c] */
    const bool *void_venue;
    uint64_t k;
} prop_t;

/*  Does row (of level l) include a subject on venue v's form?  */
static bool
prop_rates (const prop_t *p, pingyi_level_t l, size_t row, size_t v)
{
    const pingyi_venue_t *venue = &p->e->venues[v];
    for (size_t f = 0; f < venue->subject_count; f++)
        if (member (p->e, l, &p->v->levels[l].rows[row], venue->subjects[f]))
            return true;
    return false;
}

/*  n and U of (row, c), c = C: the row (all categories); into the venue
    mask `hidden_seen` (for unions) when given.  */
static void
prop_n_u (const prop_t *p, pingyi_level_t l, size_t row, size_t c, uint64_t *n, uint64_t *u, bool *seen)
{
    size_t cats = p->e->category_count;
    *n = *u = 0;
    for (size_t v = 0; v < p->e->venue_count; v++) {
        if (p->void_venue[v] || !prop_rates (p, l, row, v))
            continue;
        for (size_t x = (c == cats ? 0 : c); x < (c == cats ? cats : c + 1); x++) {
            *n += p->b[v * cats + x];
            bool hidden = pingyi_view_group_hidden (p->v, v, x);
            if (hidden && (!seen || !seen[v * cats + x])) {
                *u += p->b[v * cats + x];
                if (seen)
                    seen[v * cats + x] = true;
            }
        }
    }
}

static bool
prop_sup (const prop_t *p, pingyi_level_t l, size_t row, size_t c)
{
    const pingyi_row_t *r = &p->v->levels[l].rows[row];
    return c == p->e->category_count ? r->suppressed : r->stats[c].suppressed;
}

/*  A parent line: the children (rows of level cl for which is_child says
    so) under parent row pr of level pl, in every category and whole.  */
static void
prop_line (const prop_t *p, pingyi_level_t pl, size_t pr, pingyi_level_t cl,
           bool (*is_child) (const prop_t *, size_t pr, size_t cr))
{
    size_t cats = p->e->category_count;
    bool *seen = calloc (p->e->venue_count * cats, sizeof *seen);
    for (size_t c = 0; c <= cats; c++) {
        if (prop_sup (p, pl, pr, c))
            continue;
        memset (seen, 0, p->e->venue_count * cats * sizeof *seen);
        uint64_t unknown = 0;
        size_t suppressed = 0;
        for (size_t cr = 0; cr < p->v->levels[cl].row_count; cr++) {
            if (!is_child (p, pr, cr) || !prop_sup (p, cl, cr, c))
                continue;
            uint64_t n, u;
            prop_n_u (p, cl, cr, c, &n, &u, seen);
            unknown += u;
            suppressed += n > 0;
        }
        if (unknown > 0 && unknown < p->k)
            fail_msg ("level %s row %zu, category %zu: its suppressed children hide only %llu ballots",
                      pingyi_level_name (pl), pr, c, (unsigned long long) unknown);
        if (suppressed == 1)
            fail_msg ("level %s row %zu, category %zu: exactly one non-empty child suppressed",
                      pingyi_level_name (pl), pr, c);
    }
    free (seen);
}

static bool
unit_of_subject (const prop_t *p, size_t unit, size_t subject)
{
    return p->e->subjects[subject].unit == unit;
}

static bool
kind_of_unit (const prop_t *p, size_t kind_row, size_t unit)
{
    return !strcmp (p->v->levels[PINGYI_LEVEL_KIND].rows[kind_row].id,
                    pingyi_unit_kind_name (p->e->units[unit].kind));
}

static bool
district_of_unit (const prop_t *p, size_t district, size_t unit)
{
    return p->e->units[unit].district == district;
}

static bool
any_child (const prop_t *p, size_t pr, size_t cr)
{
    (void) p, (void) pr, (void) cr;
    return true;
}

static void
test_release_generated_properties (void **state)
{
    (void) state;
    size_t suppressed_total = 0, hidden_total = 0, whole_total = 0;
    for (uint64_t seed = 1; seed <= 12; seed++) {
        pingyi_gen_options_t o = {.districts = 2,
                                  .venues_per_district = 4,
                                  .subjects = 24,
                                  .form_subjects = 6,
                                  .items = 2,
                                  .shards = 1,
                                  .seed = seed};
        char *text = NULL;
        size_t len = 0;
        char err[PINGYI_ERR_MAX];
        FILE *out = open_memstream (&text, &len);
        assert_int_equal (pingyi_election_generate (&o, out, err), 0);
        fclose (out);
        pingyi_election_t *e = pingyi_election_parse ((uint8_t *) text, len, NULL);
        free (text);
        assert_non_null (e);
        size_t cats = e->category_count, items = e->item_count;
        pingyi_tally_t *t = pingyi_tally_new (e);
        uint64_t *b = calloc (e->venue_count * cats, sizeof *b);
        bool *void_venue = calloc (e->venue_count, sizeof *void_venue);
        /* raw[v][s][i][c][slot], to check merged-up totals */
        size_t slots = 6;
        uint64_t *raw = calloc (e->venue_count * e->subject_count * items * cats * slots, sizeof *raw);
#define RAW(v, s, i, c) (&raw[((((v) *e->subject_count + (s)) * items + (i)) * cats + (c)) * slots])
        uint64_t x = seed * 7919;
        for (size_t v = 0; v < e->venue_count; v++) {
            pingyi_venue_figures_t f = {
                .venue = (uint32_t) v, .category_count = (uint32_t) cats, .closed = true};
            for (size_t c = 0; c < cats; c++) {
                uint64_t r = rnd (&x) % 10;
                b[v * cats + c] = v % 4 == 1 ? rnd (&x) % 4 /* a small venue */
                                  : r < 2    ? 0
                                  : r < 5    ? 1 + rnd (&x) % 9
                                             : 10 + rnd (&x) % 40;
                f.by_category[c] = b[v * cats + c];
                f.accepted += b[v * cats + c];
                for (size_t fi = 0; fi < e->venues[v].subject_count; fi++) {
                    size_t s = e->venues[v].subjects[fi];
                    for (size_t i = 0; i < items; i++)
                        for (uint64_t n = 0; n < b[v * cats + c]; n++) {
                            size_t slot = rnd (&x) % slots;
                            RAW (v, s, i, c)[slot]++;
                            add (t, (int) v, (int) s, (int) i, (int) c,
                                 slot < 4    ? (int) slot
                                 : slot == 4 ? BLANK
                                             : OVER,
                                 1);
                        }
                }
            }
            void_venue[v] = v % 5 == 3;
            f.issued = (int64_t) f.accepted;
            f.collected = (int64_t) f.accepted + void_venue[v];
            f.sent = (int64_t) f.accepted;
            assert_int_equal (pingyi_tally_set_figures (t, &f), 0);
        }
        pingyi_view_t *view = pingyi_view_new (e, t);
        assert_non_null (view);
        prop_t p = {.e = e, .v = view, .b = b, .void_venue = void_venue, .k = e->k_anonymity};
        assert_int_equal (p.k, 10);
        /* groups: the small ones hidden; a venue's hidden groups hide 0,
           at least k, or all of its ballots */
        for (size_t v = 0; v < e->venue_count; v++) {
            uint64_t hidden = 0, all = 0;
            for (size_t c = 0; c < cats; c++) {
                uint64_t g = b[v * cats + c];
                if (g > 0 && g < p.k)
                    assert_true (pingyi_view_group_hidden (view, v, c));
                if (!g)
                    assert_false (pingyi_view_group_hidden (view, v, c));
                if (pingyi_view_group_hidden (view, v, c))
                    hidden += g, hidden_total++;
                all += g;
            }
            if (hidden > 0 && hidden < p.k && hidden != all)
                fail_msg ("seed %llu venue %zu: its hidden groups hold only %llu of %llu ballots",
                          (unsigned long long) seed, v, (unsigned long long) hidden,
                          (unsigned long long) all);
        }
        for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++) {
            const pingyi_level_view_t *lv = &view->levels[l];
            for (size_t r = 0; r < lv->row_count; r++) {
                const pingyi_row_t *row = &lv->rows[r];
                uint64_t n, u;
                prop_n_u (&p, (pingyi_level_t) l, r, cats, &n, &u, NULL);
                assert_int_equal (pingyi_view_ballots (view, (pingyi_level_t) l, r, cats), n);
                if (n > 0 && n < p.k)
                    assert_true (row->suppressed);
                whole_total += row->suppressed;
                uint64_t row_unknown = 0;
                size_t row_suppressed = 0;
                bool any_sup = false, any_shown = false;
                for (size_t c = 0; c < cats; c++) {
                    prop_n_u (&p, (pingyi_level_t) l, r, c, &n, &u, NULL);
                    bool sup = row->stats[c].suppressed;
                    if (n > 0 && n < p.k)
                        assert_true (sup);
                    if (row->suppressed)
                        assert_true (sup);
                    /* a published cell gives away no small hidden part */
                    if (!sup && u > 0 && u < p.k)
                        fail_msg (
                            "seed %llu %s row %zu category %zu: shown, with %llu hidden ballots under it",
                            (unsigned long long) seed, pingyi_level_name ((pingyi_level_t) l), r, c,
                            (unsigned long long) u);
                    if (sup && n > 0) {
                        any_sup = true;
                        row_unknown += u;
                        row_suppressed++;
                        suppressed_total++;
                    }
                    if (!sup && n > 0)
                        any_shown = true;
                    for (size_t i = 0; i < items; i++) {
                        const pingyi_cell_stats_t *cell =
                            pingyi_view_stats (view, (pingyi_level_t) l, r, i, c);
                        assert_true (cell->suppressed == sup);
                    }
                }
                (void) any_shown;
                if (!row->suppressed && any_sup && row_unknown < p.k)
                    fail_msg ("seed %llu %s row %zu: its suppressed categories hide only %llu ballots",
                              (unsigned long long) seed, pingyi_level_name ((pingyi_level_t) l), r,
                              (unsigned long long) row_unknown);
                if (!row->suppressed && row_suppressed == 1)
                    fail_msg ("seed %llu %s row %zu: exactly one non-empty category suppressed",
                              (unsigned long long) seed, pingyi_level_name ((pingyi_level_t) l), r);
                /* merged up: a shown row's totals count every category */
                if (!row->suppressed)
                    for (size_t i = 0; i < items; i++) {
                        uint64_t want[6] = {0};
                        for (size_t v = 0; v < e->venue_count; v++)
                            for (size_t s = 0; s < e->subject_count; s++)
                                if (!void_venue[v] && member (e, (pingyi_level_t) l, row, s))
                                    for (size_t c = 0; c < cats; c++)
                                        for (size_t m = 0; m < slots; m++)
                                            want[m] += RAW (v, s, i, c)[m];
                        const pingyi_cell_stats_t *cell =
                            pingyi_view_stats (view, (pingyi_level_t) l, r, i, cats);
                        for (size_t m = 0; m < 4; m++)
                            assert_int_equal (cell->choices[m], want[m]);
                        assert_int_equal (cell->blank, want[4]);
                        assert_int_equal (cell->over, want[5]);
                    }
            }
        }
        /* parent lines */
        for (size_t u = 0; u < view->levels[PINGYI_LEVEL_UNIT].row_count; u++)
            prop_line (&p, PINGYI_LEVEL_UNIT, u, PINGYI_LEVEL_SUBJECT, unit_of_subject);
        for (size_t k = 0; k < view->levels[PINGYI_LEVEL_KIND].row_count; k++)
            prop_line (&p, PINGYI_LEVEL_KIND, k, PINGYI_LEVEL_UNIT, kind_of_unit);
        for (size_t d = 0; d < view->levels[PINGYI_LEVEL_DISTRICT].row_count; d++)
            prop_line (&p, PINGYI_LEVEL_DISTRICT, d, PINGYI_LEVEL_UNIT, district_of_unit);
        prop_line (&p, PINGYI_LEVEL_CITY, 0, PINGYI_LEVEL_DISTRICT, any_child);
        prop_line (&p, PINGYI_LEVEL_CITY, 0, PINGYI_LEVEL_KIND, any_child);
        /* towns and departments are their units' rows (the figures: a
           cell's ranks are its place in its own level) */
        for (int l = PINGYI_LEVEL_TOWN; l <= PINGYI_LEVEL_DEPARTMENT; l++)
            for (size_t r = 0; r < view->levels[l].row_count; r++) {
                const pingyi_row_t *row = &view->levels[l].rows[r];
                for (size_t u = 0; u < e->unit_count; u++)
                    if (!strcmp (e->units[u].id, row->id))
                        for (size_t k = 0; k < items * (cats + 1); k++) {
                            pingyi_cell_stats_t mine = row->stats[k];
                            pingyi_cell_stats_t unit = view->levels[PINGYI_LEVEL_UNIT].rows[u].stats[k];
                            mine.mj_rank = unit.mj_rank = mine.score_rank = unit.score_rank = 0;
                            assert_memory_equal (&mine, &unit, sizeof mine);
                        }
            }
#undef RAW
        pingyi_view_destroy (&view);
        free (raw);
        free (b);
        free (void_venue);
        pingyi_tally_destroy (&t);
        pingyi_election_destroy (&e);
    }
    /* the cases did exercise the release */
    fprintf (stderr, "release: %zu suppressed cells, %zu whole rows, %zu hidden groups in 12 elections\n",
             suppressed_total, whole_total, hidden_total);
    assert_true (suppressed_total > 50);
    assert_true (hidden_total > 50);
    assert_true (whole_total > 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_hand_subjects, hand_setup, hand_teardown),
        cmocka_unit_test_setup_teardown (test_hand_units_towns_departments_kinds, hand_setup, hand_teardown),
        cmocka_unit_test_setup_teardown (test_hand_districts_and_city, hand_setup, hand_teardown),
        cmocka_unit_test_setup_teardown (test_hand_venues_and_final, hand_setup, hand_teardown),
        cmocka_unit_test_setup_teardown (test_final_rule, hand_setup, hand_teardown),
        cmocka_unit_test (test_snapshot_time),
        cmocka_unit_test (test_venue_status_rules),
        cmocka_unit_test (test_zero_weight_category),
        cmocka_unit_test (test_generated_against_brute_force),
        cmocka_unit_test (test_release_small_category),
        cmocka_unit_test (test_release_small_row_and_parents),
        cmocka_unit_test (test_release_across_view_and_tally),
        cmocka_unit_test (test_release_no_single_suppression),
        cmocka_unit_test (test_release_without_by_category),
        cmocka_unit_test (test_release_generated_properties),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
