/*  test_contest.c — contests as first-class items (docs/rollup.md
    "Contests"): the winners rule against hand-worked cases, and a view of
    examples/contests.json built from counts set here, each figure worked
    out by hand in the comments (not from rollup.c).

    Winners: every choice with a vote whose votes reach the seats-th
    largest count; more than seats of them is a tie, every tied choice
    named.  */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "rollup.h"
#include "tally.h"

static void
test_winners (void **state)
{
    (void) state;
    bool tie = true;
    /* 甲 5, 乙 3, 丙 1, one seat: 甲 */
    assert_int_equal (pingyi_contest_winners ((uint64_t[]){5, 3, 1}, 3, 1, &tie), 0x1);
    assert_false (tie);
    /* 甲 4, 乙 4, 丙 1, one seat: 甲 and 乙 tied */
    assert_int_equal (pingyi_contest_winners ((uint64_t[]){4, 4, 1}, 3, 1, &tie), 0x3);
    assert_true (tie);
    /* three-way tie */
    assert_int_equal (pingyi_contest_winners ((uint64_t[]){2, 2, 2}, 3, 1, &tie), 0x7);
    assert_true (tie);
    /* two seats: 7, 5, 5, 1 -> the bar is the 2nd largest, 5: 甲 乙 丙, a tie at seat 2 */
    assert_int_equal (pingyi_contest_winners ((uint64_t[]){7, 5, 5, 1}, 4, 2, &tie), 0x7);
    assert_true (tie);
    /* two seats: 1, 9, 9, 0 -> 乙 丙, exactly the seats: no tie */
    assert_int_equal (pingyi_contest_winners ((uint64_t[]){1, 9, 9, 0}, 4, 2, &tie), 0x6);
    assert_false (tie);
    /* two seats but only one candidate has a vote: that one, no tie */
    assert_int_equal (pingyi_contest_winners ((uint64_t[]){0, 0, 3, 0}, 4, 2, &tie), 0x4);
    assert_false (tie);
    /* no vote at all: no winner */
    assert_int_equal (pingyi_contest_winners ((uint64_t[]){0, 0, 0}, 3, 1, &tie), 0);
    assert_false (tie);
    /* the last of 32 choices can win */
    uint64_t many[PINGYI_MAX_CHOICES] = {0};
    many[31] = 2;
    many[0] = 1;
    assert_int_equal (pingyi_contest_winners (many, PINGYI_MAX_CHOICES, 1, NULL), 0x80000000u);
}

/*  The example: items mayor (plurality 张伟/王芳/李强), measure (yes_no
    同意/不同意/弃权), council (approval 赵敏/钱进/孙丽/周涛, 2 seats);
    one category; venues e1 e2 (d1), w1 w2 (d2), n1 n2 (d3), each with the
    one subject race.  */
static pingyi_election_t *
load_example (void)
{
    char err[512];
    pingyi_election_t *e = pingyi_election_load_or_err (PINGYI_SOURCE_DIR "/examples/contests.json", err);
    if (!e)
        fail_msg ("%s", err);
    return e;
}

/*  Set the counters of (venue, item) of the one subject (0), category 0:
    marks by choice, then blank and over.  */
static void
set_cell (pingyi_tally_t *t, size_t venue, size_t item, const uint64_t *choices, size_t n, uint64_t blank,
          uint64_t over)
{
    for (size_t m = 0; m < n + 2; m++) {
        uint64_t count = m < n ? choices[m] : m == n ? blank : over;
        if (!count)
            continue;
        pingyi_counter_key_t k = {.venue = (uint16_t) venue,
                                  .subject = 0,
                                  .item = (uint8_t) item,
                                  .category = 0,
                                  .mark = (uint8_t) (m < n ? m : m == n ? PINGYI_MARK_BLANK : PINGYI_MARK_OVER)};
        assert_int_equal (pingyi_tally_add_cell (t, &k, count), 0);
    }
}

static void
test_view_and_report (void **state)
{
    (void) state;
    pingyi_election_t *e = load_example ();
    assert_int_equal (e->items[0].kind, PINGYI_KIND_PLURALITY);
    assert_int_equal (e->items[1].kind, PINGYI_KIND_YES_NO);
    assert_int_equal (e->items[2].kind, PINGYI_KIND_APPROVAL);
    assert_int_equal (e->items[2].max_choices, 4); /* approval: every candidate */
    assert_int_equal (e->items[2].seats, 2);
    assert_int_equal (e->choice_sets[0].choice_count, 0); /* no grades declared */
    pingyi_tally_t *t = pingyi_tally_new (e);
    assert_non_null (t);
    /* e1 (d1): mayor 10 6 4, blank 1, over 1; e2 (d1): mayor 2 6 0
       -> d1: 12 12 4 = 28 votes, a tie 张伟/王芳; shares 12/28, 12/28, 4/28 */
    set_cell (t, 0, 0, (uint64_t[]){10, 6, 4}, 3, 1, 1);
    set_cell (t, 1, 0, (uint64_t[]){2, 6, 0}, 3, 0, 0);
    /* w1 (d2): mayor 1 2 9 -> 李强 */
    set_cell (t, 2, 0, (uint64_t[]){1, 2, 9}, 3, 0, 0);
    /* measure at e1: 同意 15, 不同意 4, 弃权 1, blank 2 -> approval 15/20 = 0.75 */
    set_cell (t, 0, 1, (uint64_t[]){15, 4, 1}, 3, 2, 0);
    /* council at e1: 赵敏 9, 钱进 9, 孙丽 3, 周涛 0 -> 赵敏 钱进 (two seats, no tie) */
    set_cell (t, 0, 2, (uint64_t[]){9, 9, 3, 0}, 4, 0, 0);
    pingyi_view_t *v = pingyi_view_new_k (e, t, 1);
    assert_non_null (v);

    /* the city: mayor 13 14 13 = 40 votes: 王芳 wins alone */
    const pingyi_cell_stats_t *city = pingyi_view_stats (v, PINGYI_LEVEL_CITY, 0, 0, 1);
    assert_int_equal (city->valid, 40);
    assert_int_equal (city->winners, 0x2);
    assert_false (city->tie);
    assert_true (isnan (city->score));
    assert_int_equal (city->majority_grade, -1);
    assert_int_equal (v->levels[PINGYI_LEVEL_CITY].rows[0].rank, 0); /* contests are not ranked */

    /* the rater side by the venue's district */
    pingyi_side_view_t *side = pingyi_side_view_new (v, t, PINGYI_RATER_DISTRICT, PINGYI_LEVEL_CITY, 0);
    assert_non_null (side);
    const pingyi_cell_stats_t *d1 = pingyi_side_view_stats (side, 0, 0, 1);
    assert_int_equal (d1->choices[0], 12);
    assert_int_equal (d1->choices[1], 12);
    assert_int_equal (d1->valid, 28);
    assert_int_equal (d1->blank, 1);
    assert_int_equal (d1->over, 1);
    assert_int_equal (d1->winners, 0x3);
    assert_true (d1->tie);
    assert_int_equal (pingyi_side_view_stats (side, 1, 0, 1)->winners, 0x4);
    assert_int_equal (pingyi_side_view_stats (side, 2, 0, 1)->winners, 0); /* d3: no vote */

    /* JSON: the plurality's keys, the tie named, no graded key */
    pingyi_report_filter_t f;
    pingyi_report_filter_init (&f);
    f.side = side;
    f.level = PINGYI_LEVEL_DISTRICT;
    json_t *doc = pingyi_report_json (v, &f);
    assert_non_null (doc);
    assert_string_equal (json_string_value (json_object_get (doc, "kind")), "plurality");
    json_t *row = json_array_get (json_object_get (doc, "rows"), 0);
    assert_string_equal (json_string_value (json_object_get (row, "id")), "d1");
    assert_int_equal (json_integer_value (json_object_get (row, "votes")), 28);
    assert_true (json_is_true (json_object_get (row, "tie")));
    json_t *w = json_object_get (row, "winners");
    assert_int_equal (json_array_size (w), 2);
    assert_string_equal (json_string_value (json_array_get (w, 0)), "张伟");
    assert_string_equal (json_string_value (json_array_get (w, 1)), "王芳");
    assert_true (fabs (json_real_value (json_object_get (json_object_get (row, "shares"), "李强")) - 4.0 / 28) <
                 1e-12);
    assert_null (json_object_get (row, "score"));
    assert_null (json_object_get (row, "good_rate"));
    assert_null (json_object_get (row, "rank"));
    json_decref (doc);

    /* the yes_no item: approval 15/20 at the city; CSV columns */
    f.side = NULL;
    f.level = PINGYI_LEVEL_CITY;
    f.item = 1;
    doc = pingyi_report_json (v, &f);
    row = json_array_get (json_object_get (doc, "rows"), 0);
    assert_true (fabs (json_real_value (json_object_get (row, "approval_rate")) - 0.75) < 1e-12);
    assert_null (json_object_get (row, "good_rate"));
    json_decref (doc);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&buf, &len);
    char err[256];
    assert_int_equal (pingyi_report_csv (v, &f, out, err), 0);
    fclose (out);
    assert_non_null (strstr (buf, "编号,名称,上级,同意,不同意,弃权,空白,无效,有效,同意率,同意率（居民代表）\r\n"));
    assert_non_null (strstr (buf, "city,全市,,15,4,1,2,0,20,0.7500,0.7500\r\n"));
    free (buf);

    /* the approval item at e1's district: 赵敏 钱进 win the two seats */
    f.item = 2;
    f.side = side;
    f.level = PINGYI_LEVEL_DISTRICT;
    out = open_memstream (&buf, &len);
    assert_int_equal (pingyi_report_table (v, &f, 120, out, err), 0);
    fclose (out);
    assert_non_null (strstr (buf, "当选"));
    assert_non_null (strstr (buf, "赵敏、钱进"));
    assert_null (strstr (buf, "名次"));
    free (buf);

    pingyi_side_view_destroy (&side);
    pingyi_view_destroy (&v);
    pingyi_tally_destroy (&t);
    pingyi_election_destroy (&e);
}

static void
test_definition_rules (void **state)
{
    (void) state;
    /* a graded item on a set without points; an item on absent grades */
    const char *text =
        "{\"id\":\"x\",\"title\":\"t\",\"choice_sets\":[{\"id\":\"c\",\"choices\":[{\"label\":\"甲\"},{\"label\":"
        "\"乙\",\"points\":1}]}],\"items\":[{\"id\":\"a\",\"name\":\"A\",\"choice_set\":\"c\"},{\"id\":\"b\","
        "\"name\":\"B\"},{\"id\":\"y\",\"name\":\"Y\",\"kind\":\"yes_no\",\"choice_set\":\"c\"},{\"id\":\"p\","
        "\"name\":\"P\",\"kind\":\"plurality\",\"choice_set\":\"c\",\"seats\":2,\"ranking\":\"score\"}],"
        "\"categories\":[{\"id\":\"k\",\"name\":\"K\"}],\"districts\":[{\"id\":\"d\",\"name\":\"D\"}],\"units\":[{"
        "\"id\":\"u\",\"name\":\"U\",\"kind\":\"town\",\"district\":\"d\"}],\"subjects\":[{\"id\":\"s\",\"name\":"
        "\"S\",\"unit\":\"u\"}],\"venues\":[{\"id\":\"v\",\"name\":\"V\",\"district\":\"d\",\"subjects\":[\"s\"]}]}";
    pingyi_errlist_t errs = {0};
    pingyi_election_t *e = pingyi_election_parse ((const uint8_t *) text, strlen (text), &errs);
    assert_null (e);
    static const char *const want[] = {
        "choice_sets[0].choices[0]: missing \"points\" (items[0] (A) is graded: its score needs the points of "
        "every choice)",
        "items[1] (B): uses the default choice set, but the definition has no \"grades\" (declare them, or name a "
        "\"choice_set\")",
        "items[2] (Y): a yes_no item needs exactly one favourable choice (its 同意) in set \"c\", got 0",
        "items[3] (P).seats: must be an integer in 1..1 (fewer than the candidates)",
        "items[3] (P).ranking: only a graded item is ranked (this one is plurality)",
    };
    if (errs.count != sizeof want / sizeof want[0])
        for (size_t i = 0; i < errs.count; i++)
            fprintf (stderr, "got: %s\n", errs.lines[i]);
    assert_int_equal (errs.count, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < errs.count; i++)
        assert_string_equal (errs.lines[i], want[i]);
    pingyi_errlist_clear (&errs);
}

/*  Rows by id, else by a unique name; a shared name is refused naming the
    rows.  */
static void
test_find_row_named (void **state)
{
    (void) state;
    const char *text =
        "{\"id\":\"x\",\"title\":\"t\",\"choice_sets\":[{\"id\":\"c\",\"choices\":[{\"label\":\"甲\"},{\"label\":"
        "\"乙\"}]}],\"items\":[{\"id\":\"a\",\"name\":\"A\",\"kind\":\"plurality\",\"choice_set\":\"c\"}],"
        "\"categories\":[{\"id\":\"k\",\"name\":\"K\"}],\"districts\":[{\"id\":\"d\",\"name\":\"D\"}],\"units\":[{"
        "\"id\":\"u\",\"name\":\"镇\",\"kind\":\"town\",\"district\":\"d\"}],\"subjects\":[{\"id\":\"s1\",\"name\":"
        "\"副书记\",\"unit\":\"u\"},{\"id\":\"s2\",\"name\":\"书记\",\"unit\":\"u\"},{\"id\":\"s3\",\"name\":\"副书记\","
        "\"unit\":\"u\"},{\"id\":\"副书记\",\"name\":\"其他\",\"unit\":\"u\"}],\"venues\":[{\"id\":\"v\",\"name\":\"V\","
        "\"district\":\"d\",\"subjects\":[\"s1\",\"s2\"]}]}";
    pingyi_errlist_t errs = {0};
    pingyi_election_t *e = pingyi_election_parse ((const uint8_t *) text, strlen (text), &errs);
    assert_non_null (e);
    pingyi_tally_t *t = pingyi_tally_new (e);
    pingyi_view_t *v = pingyi_view_new_k (e, t, 1);
    assert_non_null (v);
    char why[256];
    assert_int_equal (pingyi_view_find_row_named (v, PINGYI_LEVEL_SUBJECT, "s2", why, sizeof why), 1);
    assert_int_equal (pingyi_view_find_row_named (v, PINGYI_LEVEL_SUBJECT, "书记", why, sizeof why), 1);
    assert_int_equal (pingyi_view_find_row_named (v, PINGYI_LEVEL_UNIT, "镇", why, sizeof why), 0);
    /* an id wins over a name: "副书记" is s4's id as well as two names */
    assert_int_equal (pingyi_view_find_row_named (v, PINGYI_LEVEL_SUBJECT, "副书记", why, sizeof why), 3);
    assert_int_equal (pingyi_view_find_row_named (v, PINGYI_LEVEL_SUBJECT, "其他", why, sizeof why), 3);
    assert_int_equal (pingyi_view_find_row_named (v, PINGYI_LEVEL_SUBJECT, "无此人", why, sizeof why), -1);
    assert_string_equal (why, "");
    pingyi_view_destroy (&v);
    pingyi_tally_destroy (&t);
    pingyi_election_destroy (&e);
    /* without the id "副书记", the name is shared by s1 and s3 */
    char *shared = strdup (text);
    char *at = strstr (shared, "{\"id\":\"副书记\"");
    assert_non_null (at);
    memcpy (at + 7, "s4", 2);
    memmove (at + 9, at + 7 + strlen ("副书记"), strlen (at + 7 + strlen ("副书记")) + 1);
    e = pingyi_election_parse ((const uint8_t *) shared, strlen (shared), &errs);
    for (size_t i = 0; i < errs.count; i++)
        fprintf (stderr, "got: %s\n", errs.lines[i]);
    assert_non_null (e);
    t = pingyi_tally_new (e);
    v = pingyi_view_new_k (e, t, 1);
    assert_int_equal (pingyi_view_find_row_named (v, PINGYI_LEVEL_SUBJECT, "副书记", why, sizeof why), -2);
    assert_string_equal (why, "\"副书记\" is the name of 2 subjects (s1, s3): give the id");
    pingyi_view_destroy (&v);
    pingyi_tally_destroy (&t);
    pingyi_election_destroy (&e);
    free (shared);
}

/*  Names are data: a CSV cell that a spreadsheet would run as a formula is
    written with a leading apostrophe (labels, names; a lone "-" kept).  */
static void
test_csv_formulas_defused (void **state)
{
    (void) state;
    const char *text =
        "{\"id\":\"x\",\"title\":\"t\",\"choice_sets\":[{\"id\":\"c\",\"choices\":[{\"label\":\"=1+1\"},{\"label\":"
        "\"@SUM(A1)\"}]}],\"items\":[{\"id\":\"a\",\"name\":\"A\",\"kind\":\"plurality\",\"choice_set\":\"c\"}],"
        "\"categories\":[{\"id\":\"k\",\"name\":\"K\"}],\"districts\":[{\"id\":\"d\",\"name\":\"-2+3\"}],\"units\":[{"
        "\"id\":\"u\",\"name\":\"+cmd\",\"kind\":\"town\",\"district\":\"d\"}],\"subjects\":[{\"id\":\"s1\",\"name\":"
        "\"=HYPERLINK(\\\"http://x\\\",\\\"y\\\")\",\"unit\":\"u\"}],\"venues\":[{\"id\":\"v\",\"name\":\"V\","
        "\"district\":\"d\",\"subjects\":[\"s1\"]}]}";
    pingyi_errlist_t errs = {0};
    pingyi_election_t *e = pingyi_election_parse ((const uint8_t *) text, strlen (text), &errs);
    for (size_t i = 0; i < errs.count; i++)
        fprintf (stderr, "got: %s\n", errs.lines[i]);
    assert_non_null (e);
    pingyi_tally_t *t = pingyi_tally_new (e);
    set_cell (t, 0, 0, (uint64_t[]){3, 1}, 2, 0, 0);
    pingyi_view_t *v = pingyi_view_new_k (e, t, 1);
    pingyi_report_filter_t f;
    pingyi_report_filter_init (&f);
    char *buf = NULL, err[256];
    size_t len = 0;
    FILE *out = open_memstream (&buf, &len);
    assert_int_equal (pingyi_report_csv (v, &f, out, err), 0);
    fclose (out);
    assert_non_null (strstr (buf, "编号,名称,上级,'=1+1,'@SUM(A1),得票率（=1+1）,"));
    assert_non_null (strstr (buf, "s1,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",u,3,1,0.7500,0.2500,0,0,4,'=1+1\r\n"));
    free (buf);
    f.level = PINGYI_LEVEL_UNIT;
    out = open_memstream (&buf, &len);
    assert_int_equal (pingyi_report_csv (v, &f, out, err), 0);
    fclose (out);
    assert_non_null (strstr (buf, "u,'+cmd,d,"));
    free (buf);
    pingyi_view_destroy (&v);
    pingyi_tally_destroy (&t);
    pingyi_election_destroy (&e);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_winners),
        cmocka_unit_test (test_view_and_report),
        cmocka_unit_test (test_definition_rules),
        cmocka_unit_test (test_find_row_named),
        cmocka_unit_test (test_csv_formulas_defused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
