/*  test_table.c — display widths: a CJK character takes two columns, so
    tables of Chinese names line up only when padded by display width.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

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

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_widths),
        cmocka_unit_test (test_pad),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
