/*  test_table.c — display widths: a CJK character takes two columns, so
    tables of Chinese names line up only when padded by display width.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "report.h"
#include "table.h"

static void
test_widths (void **state)
{
    (void) state;
    assert_int_equal (pingyi_text_width (""), 0);
    assert_int_equal (pingyi_text_width ("abc"), 3);
    assert_int_equal (pingyi_text_width ("好"), 2);
    assert_int_equal (pingyi_text_width ("较好"), 4);
    assert_int_equal (pingyi_text_width ("**镇党委"), 8);      /* 2 + 3 × 2 */
    assert_int_equal (pingyi_text_width ("（三会一课）"), 12); /* fullwidth parentheses */
    assert_int_equal (pingyi_text_width ("e\xcc\x81"), 1);     /* e + combining acute */
    assert_int_equal (pingyi_text_width ("\xff"
                                         "a"),
                      2); /* an invalid byte counts 1 */
}

static char *
pad (const char *s, size_t width, bool right)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&buf, &len);
    pingyi_text_pad (f, s, width, right);
    fclose (f);
    return buf;
}

static void
test_pad (void **state)
{
    (void) state;
    char *p = pad ("好", 4, false);
    assert_string_equal (p, "好  ");
    free (p);
    p = pad ("好", 4, true);
    assert_string_equal (p, "  好");
    free (p);
    p = pad ("区教育工委书记", 8, false); /* 14 columns into 8: whole characters, then … */
    assert_string_equal (p, "区教育… ");  /* 6 + 1 (…) + 1 space */
    assert_int_equal (pingyi_text_width (p), 8);
    free (p);
    p = pad ("abcdef", 4, false);
    assert_string_equal (p, "abc…");
    free (p);
}

static char *
cut (const char *s, size_t width, pingyi_cut_t where)
{
    size_t cap = strlen (s) + 4;
    char *out = malloc (cap);
    size_t w = pingyi_text_cut (out, cap, s, width, where);
    assert_int_equal (w, pingyi_text_width (out));
    assert_true (w <= width);
    return out;
}

/*  The cuts: whole characters only, one "…", CJK two columns.  */
static void
test_cut (void **state)
{
    (void) state;
    char *p = cut ("区委书记", 8, PINGYI_CUT_END); /* fits: whole */
    assert_string_equal (p, "区委书记");
    free (p);
    p = cut ("区委党委副书记", 8, PINGYI_CUT_END); /* 14 into 8: 6 + … (a 4th character would need 9) */
    assert_string_equal (p, "区委党…");
    free (p);
    p = cut ("区委党委副书记", 8, PINGYI_CUT_MIDDLE); /* 7 for text: head 4, tail 3 → 2 */
    assert_string_equal (p, "区委…记");
    free (p);
    p = cut ("区委党委副书记", 9, PINGYI_CUT_MIDDLE); /* 8: head 4, tail 4 */
    assert_string_equal (p, "区委…书记");
    free (p);
    p = cut ("ab区委党委副书记", 9, PINGYI_CUT_MIDDLE); /* head "ab区" (4), tail "书记" */
    assert_string_equal (p, "ab区…书记");
    free (p);
    p = cut ("a区委党委副书记", 9, PINGYI_CUT_MIDDLE); /* head "a区" (3 of 4), the tail the other 5 → 书记 */
    assert_string_equal (p, "a区…书记");
    assert_int_equal (pingyi_text_width (p), 8);
    free (p);
    p = cut ("区委党委副书记", 1, PINGYI_CUT_END); /* only the mark */
    assert_string_equal (p, "…");
    free (p);
    p = cut ("区委党委副书记", 0, PINGYI_CUT_MIDDLE);
    assert_string_equal (p, "");
    free (p);
    p = cut ("\xff\xfe区委党委书记", 4, PINGYI_CUT_END); /* invalid bytes: one column each, kept whole */
    assert_string_equal (p, "\xff\xfe…");
    free (p);
    /* never a UTF-8 character cut in two, whatever the width */
    const char *s = "**产业园区党工委副书记（兼）";
    for (size_t w = 0; w < 40; w++)
        for (int where = 0; where < 2; where++) {
            p = cut (s, w, (pingyi_cut_t) where);
            const unsigned char *u = (const unsigned char *) p;
            for (size_t i = 0; u[i];) {
                size_t n = u[i] < 0x80 ? 1 : (u[i] & 0xE0) == 0xC0 ? 2 : (u[i] & 0xF0) == 0xE0 ? 3 : 4;
                for (size_t k = 1; k < n; k++)
                    assert_int_equal (u[i + k] & 0xC0, 0x80);
                i += n;
            }
            free (p);
        }
}

/*  Run the rule on names and ids; check every shown name fits the column
    and all are distinct; return them (the caller frees).  */
static char **
fit (const char *const *names, const char *const *ids, size_t n, size_t width, size_t *col)
{
    char **out = calloc (n, sizeof *out);
    *col = pingyi_report_fit_names (names, ids, n, width, out);
    assert_true (*col >= width);
    for (size_t i = 0; i < n; i++) {
        assert_non_null (out[i]);
        assert_true (pingyi_text_width (out[i]) <= *col);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal (out[i], out[j]);
    }
    return out;
}

static void
free_all (char **out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free (out[i]);
    free (out);
}

static void
test_fit_names (void **state)
{
    (void) state;
    size_t col;
    /* all fit: whole */
    const char *short_names[] = {"区委书记", "区委副书记"};
    const char *ids2[] = {"s001", "s002"};
    char **out = fit (short_names, ids2, 2, 10, &col);
    assert_int_equal (col, 10);
    assert_string_equal (out[0], "区委书记");
    assert_string_equal (out[1], "区委副书记");
    free_all (out, 2);

    /* 书记 / 副书记 (14 and 16 columns): the end cut would make them alike
       ("**区委党委…" twice at 13); the middle cut does not */
    const char *pair[] = {"**区委党委书记", "**区委党委副书记"};
    out = fit (pair, ids2, 2, 13, &col);
    assert_int_equal (col, 13);
    assert_string_equal (out[0], "**区委…委书记");
    assert_string_equal (out[1], "**区委…副书记");
    free_all (out, 2);
    /* at 14 the first fits whole and stays whole */
    out = fit (pair, ids2, 2, 14, &col);
    assert_string_equal (out[0], "**区委党委书记");
    assert_string_equal (out[1], "**区委…副书记");
    free_all (out, 2);
    /* at 12 both cuts make them alike ("**区委…书记", "**区委党委…"): ids */
    out = fit (pair, ids2, 2, 12, &col);
    assert_int_equal (col, 12);
    assert_string_equal (out[0], "**…记 (s001)");
    assert_string_equal (out[1], "**…记 (s002)");
    free_all (out, 2);

    /* the middle cut alike (same head and tail), the end cut not: the end cut */
    const char *ends[] = {"**镇人民政府办公室主任", "**镇人民代表大会办公室主任", "**街道"};
    const char *ids3[] = {"s01", "s02", "s03"};
    out = fit (ends, ids3, 3, 14, &col); /* middle: "**镇人…室主任" twice */
    assert_int_equal (col, 14);
    assert_string_equal (out[0], "**镇人民政府…");
    assert_string_equal (out[1], "**镇人民代表…");
    assert_string_equal (out[2], "**街道"); /* short names whole */
    free_all (out, 3);

    /* alike both ways (they differ only in the middle): the rows that
       clash show their id, the others not */
    const char *both[] = {"区委办公室第一党支部书记", "区委办公室第二党支部书记", "区教育局局长"};
    const char *ids_s[] = {"s012", "s013", "s014"};
    out = fit (both, ids_s, 3, 12, &col);
    assert_int_equal (col, 12);
    assert_string_equal (out[0], "区…记 (s012)"); /* 12 - 7 = 5 for the name */
    assert_string_equal (out[1], "区…记 (s013)");
    assert_string_equal (out[2], "区教育局局长");
    free_all (out, 3);
    /* wider, the end cut tells them apart */
    out = fit (both, ids_s, 3, 16, &col);
    assert_string_equal (out[0], "区委办公室第一…");
    assert_string_equal (out[1], "区委办公室第二…");
    free_all (out, 3);

    /* names equal in the definition: told apart by id even when they fit */
    const char *same[] = {"王某某", "王某某", "李某"};
    out = fit (same, ids_s, 3, 30, &col);
    assert_int_equal (col, 30);
    assert_string_equal (out[0], "王某某 (s012)");
    assert_string_equal (out[1], "王某某 (s013)");
    assert_string_equal (out[2], "李某");
    free_all (out, 3);

    /* an id does not fit beside a usable part of the name: the column
       widens (to 12 + 3 + 3), where these names fit whole */
    const char *narrow[] = {"区委党委书记", "区委党委副书记"};
    const char *long_ids[] = {"subject-0001", "subject-0002"};
    out = fit (narrow, long_ids, 2, 8, &col); /* "区委…记" twice, "区委党…" twice */
    assert_int_equal (col, 18);
    assert_string_equal (out[0], "区委党委书记");
    assert_string_equal (out[1], "区委党委副书记");
    free_all (out, 2);

    /* a row whose plain name reads like another row's id form gets its id too */
    const char *tricky[] = {"区委办公室第一党支部书记", "区委办公室第二党支部书记", "区委…记 (s1)"};
    const char *ids_t[] = {"s1", "s2", "s3"};
    out = fit (tricky, ids_t, 3, 13, &col);
    assert_int_equal (col, 13);
    assert_string_equal (out[0], "区委…记 (s1)");
    assert_string_equal (out[1], "区委…记 (s2)");
    assert_string_equal (out[2], "区委…s1) (s3)");
    free_all (out, 3);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_widths),
        cmocka_unit_test (test_pad),
        cmocka_unit_test (test_cut),
        cmocka_unit_test (test_fit_names),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
