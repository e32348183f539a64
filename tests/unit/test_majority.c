/*  test_majority.c — majority judgment (Balinski & Laraki) as an optional
    ranking of graded items (docs/rollup.md "Majority judgment").

    Every expectation is worked out by hand in the comments, from the rule
    (rollup.h), not from rollup.c.  Grades best first: 好 (index 0), 较好
    (1), 一般 (2), 差 (3).  A profile is written as its counts
    [好, 较好, 一般, 差] and as its votes sorted best to worst.  Only valid
    votes count: blank (弃权) and over-marked (多选无效) cells are not
    votes.

    The majority grade of n votes v_1..v_n (best to worst) is
    v_{floor(n/2)+1}.  Ties between equal majority grades: the iterative
    rule (remove one vote of the majority grade from each, compare again);
    with n votes each, the positions compared are, in order,
    n = 7: 4 5 3 6 2 7 1 (odd: the worse side first), n = 4: 3 2 4 1 (even:
    the better side first).  */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "rollup.h"

enum { GOOD, FAIR, AVERAGE, POOR };

/*  --- the majority grade ------------------------------------------------ */

static void
test_majority_grade (void **state)
{
    (void) state;
    /* odd: [2,1,2,0] = 好 好 较好 一般 一般, n = 5: v_3 = 较好 */
    uint64_t odd[4] = {2, 1, 2, 0};
    assert_int_equal (pingyi_majority_grade (odd, 4), FAIR);
    /* even: [2,0,2,0] = 好 好 一般 一般, n = 4: v_3 = 一般 (the lower,
       i.e. worse, of the two middle grades 好 and 一般) */
    uint64_t even[4] = {2, 0, 2, 0};
    assert_int_equal (pingyi_majority_grade (even, 4), AVERAGE);
    /* even with equal middles: [1,2,1,0] = 好 较好 较好 一般: v_3 = 较好 */
    uint64_t even2[4] = {1, 2, 1, 0};
    assert_int_equal (pingyi_majority_grade (even2, 4), FAIR);
    /* one vote: itself; two votes 好 差: v_2 = 差 */
    uint64_t one[4] = {0, 0, 0, 1}, two[4] = {1, 0, 0, 1};
    assert_int_equal (pingyi_majority_grade (one, 4), POOR);
    assert_int_equal (pingyi_majority_grade (two, 4), POOR);
    /* no valid vote */
    uint64_t none[4] = {0, 0, 0, 0};
    assert_int_equal (pingyi_majority_grade (none, 4), -1);
}

/*  --- comparisons ------------------------------------------------------ */

static void
test_majority_compare (void **state)
{
    (void) state;
    /* different majority grades: the better wins.  [0,3,0,0] (较好) over
       [3,0,4,0] = 好好好 一般一般一般一般, v_4 = 一般 */
    uint64_t fair3[4] = {0, 3, 0, 0}, mixed[4] = {3, 0, 4, 0};
    assert_true (pingyi_majority_compare (fair3, mixed, 4) > 0);
    assert_true (pingyi_majority_compare (mixed, fair3, 4) < 0);

    /* p against q, both majority grade 较好, n = 7:
       A [3,3,1,0] = 0 0 0 1 1 1 2: p = 3/7 above, q = 1/7 below (较好+)
       B [1,3,3,0] = 0 1 1 1 2 2 2: p = 1/7, q = 3/7 (较好-)
       gauge: A's larger share is p, B's is q: A above B.  Iterative:
       position 4: 1 = 1; position 5: A 1, B 2: A better.  */
    uint64_t a[4] = {3, 3, 1, 0}, b[4] = {1, 3, 3, 0};
    assert_true (pingyi_majority_compare (a, b, 4) > 0);
    assert_true (pingyi_majority_compare (b, a, 4) < 0);

    /* both "+": the larger p wins.  C [2,4,1,0] = 0 0 1 1 1 1 2, p = 2/7,
       q = 1/7; A has p = 3/7.  Iterative: position 4 1 = 1, 5 1 = 1, 3:
       A 0, C 1: A better.  */
    uint64_t c[4] = {2, 4, 1, 0};
    assert_true (pingyi_majority_compare (a, c, 4) > 0);
    /* both "-": the smaller q wins.  E [1,4,2,0] = 0 1 1 1 1 2 2, q = 2/7;
       B has q = 3/7.  Iterative: position 4 1 = 1, 5: E 1, B 2: E.  */
    uint64_t e[4] = {1, 4, 2, 0};
    assert_true (pingyi_majority_compare (e, b, 4) > 0);

    /* same gauge, broken by successive medians.  F [2,3,2,0] = 0 0 1 1 1
       2 2 and G [2,3,1,1] = 0 0 1 1 1 2 3: both 较好 with p = q = 2/7.
       Medians removed, F: 1 1 1 2 0 2 0; G: 1 1 1 2 0 3 0 — the 6th
       (position 7) differs: 一般 against 差, F above G.  */
    uint64_t f[4] = {2, 3, 2, 0}, g[4] = {2, 3, 1, 1};
    assert_true (pingyi_majority_compare (f, g, 4) > 0);
    assert_true (pingyi_majority_compare (g, f, 4) < 0);

    /* even n, differing only at the last median: H [1,0,2,1] = 0 2 2 3,
       I [0,1,2,1] = 1 2 2 3; positions 3 2 4 1 give H 2 2 3 0, I 2 2 3 1:
       H above I at the last.  */
    uint64_t h[4] = {1, 0, 2, 1}, i[4] = {0, 1, 2, 1};
    assert_true (pingyi_majority_compare (h, i, 4) > 0);

    /* identical: tied; the same shares with other counts: tied (F doubled,
       [4,6,4,0], compared as 14 votes each).  */
    uint64_t f2[4] = {4, 6, 4, 0};
    assert_int_equal (pingyi_majority_compare (f, f, 4), 0);
    assert_int_equal (pingyi_majority_compare (f, f2, 4), 0);
    assert_int_equal (pingyi_majority_compare (f2, f, 4), 0);
    /* different counts, different shares: F2 (14 votes) against G (7,
       taken twice: 0 0 0 0 1×6 2 2 3 3): they differ only at positions 13
       and 14 (F2 一般, G 差): F2 above.  */
    assert_true (pingyi_majority_compare (f2, g, 4) > 0);

    /* no valid vote: below any vote, tied with another without */
    uint64_t none[4] = {0, 0, 0, 0}, poor[4] = {0, 0, 0, 1};
    assert_true (pingyi_majority_compare (poor, none, 4) > 0);
    assert_true (pingyi_majority_compare (none, poor, 4) < 0);
    assert_int_equal (pingyi_majority_compare (none, none, 4), 0);
}

/*  The literal rule, vote by vote, against pingyi_majority_compare on
    every pair of small profiles (0..3 votes of each of 3 grades): both
    profiles replicated to lcm(na, nb) votes, then the majority grade
    v_{floor(m/2)+1} of the m votes left removed from each, step by step,
    until one differs.  */
static int
literal_compare (const uint64_t *a, const uint64_t *b, size_t grades)
{
    uint64_t na = 0, nb = 0;
    for (size_t m = 0; m < grades; m++)
        na += a[m], nb += b[m];
    if (!na || !nb)
        return (na > 0) - (nb > 0);
    uint64_t n = na;
    while (n % nb)
        n += na;
    int va[256], vb[256];
    size_t ka = 0, kb = 0;
    for (size_t m = 0; m < grades; m++) {
        for (uint64_t k = 0; k < a[m] * (n / na); k++)
            va[ka++] = (int) m;
        for (uint64_t k = 0; k < b[m] * (n / nb); k++)
            vb[kb++] = (int) m;
    }
    for (size_t left = n; left > 0; left--) {
        size_t at = left / 2; /* v_{floor(left/2)+1}, from 0 */
        if (va[at] != vb[at])
            return va[at] < vb[at] ? 1 : -1;
        memmove (va + at, va + at + 1, (left - at - 1) * sizeof *va);
        memmove (vb + at, vb + at + 1, (left - at - 1) * sizeof *vb);
    }
    return 0;
}

static void
test_majority_against_literal (void **state)
{
    (void) state;
    /* 3 grades with 0..3 votes each (64 profiles), then 4 grades with 0..2
       each (81 profiles): every ordered pair */
    static const struct {
        size_t grades, base, profiles;
    } shapes[] = {{3, 4, 64}, {4, 3, 81}};
    size_t pairs = 0, ties = 0;
    for (size_t sh = 0; sh < 2; sh++)
        for (size_t x = 0; x < shapes[sh].profiles; x++)
            for (size_t y = 0; y < shapes[sh].profiles; y++) {
                uint64_t a[4] = {0}, b[4] = {0};
                for (size_t m = 0, px = x, py = y; m < shapes[sh].grades; m++) {
                    a[m] = px % shapes[sh].base, px /= shapes[sh].base;
                    b[m] = py % shapes[sh].base, py /= shapes[sh].base;
                }
                size_t G = shapes[sh].grades;
                int want = literal_compare (a, b, G), got = pingyi_majority_compare (a, b, G);
                if ((want > 0) != (got > 0) || (want < 0) != (got < 0))
                    fail_msg ("[%d %d %d %d] vs [%d %d %d %d]: literal %d, compare %d", (int) a[0], (int) a[1],
                              (int) a[2], (int) a[3], (int) b[0], (int) b[1], (int) b[2], (int) b[3], want, got);
                /* a tie exactly when the shares are equal */
                uint64_t na = 0, nb = 0;
                for (size_t m = 0; m < G; m++)
                    na += a[m], nb += b[m];
                bool same = true;
                for (size_t m = 0; m < G; m++)
                    same &= na && nb ? a[m] * nb == b[m] * na : na == nb;
                assert_int_equal (got == 0, same);
                /* the majority gauge, where it decides, agrees: same
                   majority grade g, p = share better, q = share worse; a
                   row with p > q is above one with p <= q; two with p > q:
                   the larger p above; two with p <= q: the smaller q */
                int ga = pingyi_majority_grade (a, G), gb = pingyi_majority_grade (b, G);
                if (ga >= 0 && ga == gb) {
                    uint64_t pa = 0, qa = 0, pb = 0, qb = 0;
                    for (size_t m = 0; m < G; m++) {
                        if ((int) m < ga)
                            pa += a[m], pb += b[m];
                        if ((int) m > ga)
                            qa += a[m], qb += b[m];
                    }
                    bool plus_a = pa > qa, plus_b = pb > qb;
                    int gauge = plus_a != plus_b ? (plus_a ? 1 : -1)
                                : plus_a         ? (pa * nb > pb * na) - (pa * nb < pb * na)
                                                 : (qb * na > qa * nb) - (qb * na < qa * nb);
                    if (gauge)
                        assert_int_equal (gauge, got > 0 ? 1 : -1);
                }
                pairs++;
                ties += got == 0;
            }
    assert_int_equal (pairs, 64 * 64 + 81 * 81);
    assert_true (ties > 145);
}

/*  --- the view --------------------------------------------------------- */

/*  Eight subjects of one unit, one venue, one category.  The overall item
    is ranked by majority judgment, duty by score (the default).  */
static const char *DEF =
    "{\"version\": 1, \"id\": \"mj\", \"title\": \"多数评价\", \"shards\": 1, \"k_anonymity\": 1,\n"
    " \"grades\": [{\"label\": \"好\", \"points\": 100, \"favourable\": true},\n"
    "            {\"label\": \"较好\", \"points\": 80, \"favourable\": true},\n"
    "            {\"label\": \"一般\", \"points\": 60},\n"
    "            {\"label\": \"差\", \"points\": 0, \"unfavourable\": true}],\n"
    " \"items\": [{\"id\": \"overall\", \"name\": \"总体评价\", \"overall\": true, \"ranking\": "
    "\"majority_judgment\"},\n"
    "           {\"id\": \"duty\", \"name\": \"履行职责\", \"ranking\": \"score\"}],\n"
    " \"categories\": [{\"id\": \"all\", \"name\": \"全体\"}],\n"
    " \"districts\": [{\"id\": \"d1\", \"name\": \"一区\"}],\n"
    " \"units\": [{\"id\": \"u1\", \"name\": \"甲镇\", \"kind\": \"town\", \"district\": \"d1\"}],\n"
    " \"subjects\": [{\"id\": \"s1\", \"name\": \"一\", \"unit\": \"u1\"}, {\"id\": \"s2\", \"name\": \"二\", "
    "\"unit\": \"u1\"},\n"
    "   {\"id\": \"s3\", \"name\": \"三\", \"unit\": \"u1\"}, {\"id\": \"s4\", \"name\": \"四\", \"unit\": "
    "\"u1\"},\n"
    "   {\"id\": \"s5\", \"name\": \"五\", \"unit\": \"u1\"}, {\"id\": \"s6\", \"name\": \"六\", \"unit\": "
    "\"u1\"},\n"
    "   {\"id\": \"s7\", \"name\": \"七\", \"unit\": \"u1\"}, {\"id\": \"s8\", \"name\": \"八\", \"unit\": "
    "\"u1\"}],\n"
    " \"venues\": [{\"id\": \"v1\", \"name\": \"会场\", \"district\": \"d1\", \"subjects\": [\"s1\", \"s2\", "
    "\"s3\", \"s4\", \"s5\", \"s6\", \"s7\", \"s8\"]}]}\n";

static pingyi_election_t *
parse (const char *text, pingyi_errlist_t *errs)
{
    return pingyi_election_parse ((const uint8_t *) text, strlen (text), errs);
}

static void
add (pingyi_tally_t *t, int subject, int item, int mark, uint64_t count)
{
    if (!count)
        return;
    pingyi_counter_key_t k = {.venue = 0,
                              .subject = (uint16_t) subject,
                              .item = (uint8_t) item,
                              .category = 0,
                              .mark = (uint8_t) mark};
    assert_int_equal (pingyi_tally_add_cell (t, &k, count), 0);
}

/*  The profiles, [好, 较好, 一般, 差] + blank + over, and by hand:
      s1 [3,3,1,0]        较好, p 3/7 > q 1/7       score 600/7 = 85.71
      s2 [1,3,3,0]        较好, q 3/7 > p 1/7       score 520/7 = 74.29
      s3 [2,4,1,0]        较好, p 2/7 > q 1/7       score 580/7 = 82.86
      s4 [2,3,2,0]        较好, p = q = 2/7          score 560/7 = 80
      s5 [2,3,1,1]        较好, p = q = 2/7          score 500/7 = 71.43
      s6 [4,6,4,0] +5 blank +3 over: s4's shares    score 80
      s7 no valid vote: 2 blank, 1 over             no score
      s8 [2,0,2,0] (even) 一般                       score 320/4 = 80
    Majority judgment: the 较好 rows first: s1 (p largest among "+"), s3
    (p 2/7; s1 against s3: position 3, 好 against 较好), then the "-"
    ones (p <= q) by q: s4 = s6 (2/7, same shares: tied), s5 (2/7, below
    s4 at the last median, see test_majority_compare), s2 (q 3/7); then
    s8 (一般), then s7 (no vote, last): 1 6 2 3 5 3 8 7.  By score: s1 1,
    s3 2, s4 = s6 = s8 3 (80), s2 6, s5 7, s7 unranked (0).  */
static const uint64_t PROFILE[8][6] = {
    {3, 3, 1, 0, 0, 0}, {1, 3, 3, 0, 0, 0}, {2, 4, 1, 0, 0, 0}, {2, 3, 2, 0, 0, 0},
    {2, 3, 1, 1, 0, 0}, {4, 6, 4, 0, 5, 3}, {0, 0, 0, 0, 2, 1}, {2, 0, 2, 0, 0, 0},
};
static const int MJ_RANK[8] = {1, 6, 2, 3, 5, 3, 8, 7};
static const int SCORE_RANK[8] = {1, 6, 2, 3, 7, 3, 0, 3};
static const int MAJORITY[8] = {FAIR, FAIR, FAIR, FAIR, FAIR, FAIR, -1, AVERAGE};

static void
test_view (void **state)
{
    (void) state;
    pingyi_errlist_t errs = {0};
    pingyi_election_t *e = parse (DEF, &errs);
    for (size_t k = 0; k < errs.count; k++)
        fprintf (stderr, "%s\n", errs.lines[k]);
    assert_non_null (e);
    assert_int_equal (e->items[0].ranking, PINGYI_RANKING_MAJORITY);
    assert_int_equal (e->items[1].ranking, PINGYI_RANKING_SCORE);
    pingyi_tally_t *t = pingyi_tally_new (e);
    assert_non_null (t);
    for (int s = 0; s < 8; s++)
        for (int item = 0; item < 2; item++) { /* the same votes in both items */
            for (int m = 0; m < 4; m++)
                add (t, s, item, m, PROFILE[s][m]);
            add (t, s, item, PINGYI_MARK_BLANK, PROFILE[s][4]);
            add (t, s, item, PINGYI_MARK_OVER, PROFILE[s][5]);
        }
    pingyi_view_t *view = pingyi_view_new_k (e, t, 1);
    assert_non_null (view);
    const pingyi_level_view_t *lv = &view->levels[PINGYI_LEVEL_SUBJECT];
    assert_int_equal (lv->row_count, 8);
    int ranks[8];
    for (int s = 0; s < 8; s++) {
        char id[3] = {'s', (char) ('1' + s), 0};
        assert_string_equal (lv->rows[s].id, id);
        for (size_t c = 0; c <= 1; c++) /* the category and all categories: one category, same figures */
            for (size_t item = 0; item < 2; item++) {
                const pingyi_cell_stats_t *st = pingyi_view_stats (view, PINGYI_LEVEL_SUBJECT, (size_t) s, item, c);
                assert_int_equal (st->majority_grade, MAJORITY[s]);
                /* the item's own ranking in every cell, the other one in
                   the all-categories cell only (rollup.c) */
                bool mj = e->items[item].ranking == PINGYI_RANKING_MAJORITY;
                assert_int_equal (st->mj_rank, mj || c == 1 ? MJ_RANK[s] : 0);
                assert_int_equal (st->score_rank, !mj || c == 1 ? SCORE_RANK[s] : 0);
            }
        /* the overall item says majority_judgment: it is THE rank */
        assert_int_equal (lv->rows[s].rank, MJ_RANK[s]);
    }
    /* pingyi_view_rank follows each item's ranking */
    assert_int_equal (pingyi_view_rank (view, PINGYI_LEVEL_SUBJECT, 0, 1, ranks), 0);
    assert_memory_equal (ranks, MJ_RANK, sizeof ranks);
    assert_int_equal (pingyi_view_rank (view, PINGYI_LEVEL_SUBJECT, 1, 1, ranks), 0);
    assert_memory_equal (ranks, SCORE_RANK, sizeof ranks);
    assert_int_equal (pingyi_view_rank (view, PINGYI_LEVEL_SUBJECT, 1, 0, ranks), 0);
    assert_memory_equal (ranks, SCORE_RANK, sizeof ranks);

    /* the city pools the valid votes (weights do not apply): 好 16, 较好
       22, 一般 14, 差 1, n = 53: 好 or better 16 (not > 26.5), 较好 or
       better 38: 较好.  Its one row ranks 1 both ways.  */
    const pingyi_cell_stats_t *city = pingyi_view_stats (view, PINGYI_LEVEL_CITY, 0, 0, 1);
    assert_int_equal (city->valid, 53);
    assert_int_equal (city->majority_grade, FAIR);
    assert_int_equal (city->mj_rank, 1);
    assert_int_equal (view->levels[PINGYI_LEVEL_CITY].rows[0].rank, 1);

    /* the JSON view (pingyi query --format json, GET /api/v1/view): the
       grade's label, both ranks, "rank" the item's own */
    pingyi_report_filter_t filter;
    pingyi_report_filter_init (&filter);
    json_t *doc = pingyi_report_json (view, &filter);
    assert_non_null (doc);
    json_t *rows = json_object_get (doc, "rows");
    assert_int_equal (json_array_size (rows), 8);
    for (size_t k = 0; k < 8; k++) {
        json_t *row = json_array_get (rows, k);
        const char *id = json_string_value (json_object_get (row, "id"));
        int s = id[1] - '1';
        assert_int_equal (json_integer_value (json_object_get (row, "rank")), MJ_RANK[s]);
        assert_int_equal (json_integer_value (json_object_get (row, "mj_rank")), MJ_RANK[s]);
        json_t *sr = json_object_get (row, "score_rank");
        if (SCORE_RANK[s])
            assert_int_equal (json_integer_value (sr), SCORE_RANK[s]);
        else
            assert_true (json_is_null (sr));
        json_t *mg = json_object_get (row, "majority_grade");
        if (MAJORITY[s] < 0)
            assert_true (json_is_null (mg));
        else
            assert_string_equal (json_string_value (mg), MAJORITY[s] == FAIR ? "较好" : "一般");
    }
    json_t *items = json_object_get (json_object_get (doc, "election"), "items");
    assert_string_equal (json_string_value (json_object_get (json_array_get (items, 0), "ranking")),
                         "majority_judgment");
    assert_string_equal (json_string_value (json_object_get (json_array_get (items, 1), "ranking")), "score");
    json_decref (doc);

    /* with the duty item shown, "rank" is its score rank */
    filter.item = 1;
    doc = pingyi_report_json (view, &filter);
    assert_non_null (doc);
    rows = json_object_get (doc, "rows");
    for (size_t k = 0; k < 8; k++) {
        json_t *row = json_array_get (rows, k);
        int s = json_string_value (json_object_get (row, "id"))[1] - '1';
        json_t *r = json_object_get (row, "rank");
        if (SCORE_RANK[s])
            assert_int_equal (json_integer_value (r), SCORE_RANK[s]);
        else
            assert_true (json_is_null (r));
        assert_int_equal (json_integer_value (json_object_get (row, "mj_rank")), MJ_RANK[s]);
    }
    json_decref (doc);

    pingyi_view_destroy (&view);
    pingyi_tally_destroy (&t);
    pingyi_election_destroy (&e);
}

/*  --- the definition's "ranking" --------------------------------------- */

static void
expect_error (const char *from, const char *to, const char *line)
{
    char *text = strdup (DEF);
    char *at = strstr (text, from);
    assert_non_null (at);
    size_t lf = strlen (from), lt = strlen (to), rest = strlen (at + lf);
    char *out = malloc (strlen (text) + lt + 1);
    memcpy (out, text, (size_t) (at - text));
    memcpy (out + (at - text), to, lt);
    memcpy (out + (at - text) + lt, at + lf, rest + 1);
    pingyi_errlist_t errs = {0};
    pingyi_election_t *e = parse (out, &errs);
    assert_null (e);
    assert_int_equal (errs.count, 1);
    assert_string_equal (errs.lines[0], line);
    pingyi_errlist_clear (&errs);
    free (out);
    free (text);
}

static void
test_definition_ranking (void **state)
{
    (void) state;
    expect_error ("\"ranking\": \"majority_judgment\"", "\"ranking\": \"majority\"",
                  "items[0] (总体评价).ranking: unknown ranking \"majority\" (score or majority_judgment)");
    expect_error ("\"ranking\": \"score\"", "\"ranking\": \"Score\"",
                  "items[1] (履行职责).ranking: unknown ranking \"Score\" (score or majority_judgment)");
    expect_error ("\"ranking\": \"majority_judgment\"", "\"ranking\": 1",
                  "items[0] (总体评价).ranking: must be a string, not an integer");
    expect_error ("\"ranking\": \"score\"", "\"rankng\": \"score\"",
                  "items[1] (履行职责): unknown key \"rankng\" (did you mean \"ranking\"?)");
    /* without the key: score */
    char *text = strdup (DEF), *at = strstr (text, ", \"ranking\": \"score\"");
    assert_non_null (at);
    memset (at, ' ', strlen (", \"ranking\": \"score\""));
    pingyi_errlist_t errs = {0};
    pingyi_election_t *e = parse (text, &errs);
    assert_non_null (e);
    assert_int_equal (e->items[1].ranking, PINGYI_RANKING_SCORE);
    pingyi_election_destroy (&e);
    free (text);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_majority_grade),
        cmocka_unit_test (test_majority_compare),
        cmocka_unit_test (test_majority_against_literal),
        cmocka_unit_test (test_view),
        cmocka_unit_test (test_definition_ranking),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
