/*  test_text_quote.c — untrusted text is quoted one way everywhere
    (text/quote.h): control bytes and bytes that are not UTF-8 as \xNN,
    quotes and backslashes escaped, Chinese kept, cut on a character
    boundary with "...", never past the buffer; and JSON strings written by
    the same UTF-8 rule (text/json_text.h).  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common.h"
#include "json_text.h"
#include "quote.h"

static char q[PINGYI_QUOTE_SIZE (PINGYI_QUOTE_SHOWN)];

static const char *
quoted (const char *s, size_t len)
{
    return pingyi_quote (q, sizeof q, s, len, PINGYI_QUOTE_SHOWN);
}

static void
test_plain_text_is_marked_off (void **state)
{
    (void) state;
    assert_string_equal (quoted ("", 0), "\"\"");
    assert_string_equal (quoted ("v01", 3), "\"v01\"");
    /* the return value is out, for printf */
    assert_ptr_equal (pingyi_quote (q, sizeof q, "a", 1, 48), q);
}

static void
test_quotes_and_backslashes_escaped (void **state)
{
    (void) state;
    assert_string_equal (quoted ("a\"b\\c", 5), "\"a\\\"b\\\\c\"");
    /* a forged closing quote cannot end the quoted text */
    assert_string_equal (quoted ("x\" ok \"y", 8), "\"x\\\" ok \\\"y\"");
}

static void
test_control_characters_as_hex (void **state)
{
    (void) state;
    assert_string_equal (quoted ("x\ny\x1b[2J", 7), "\"x\\x0ay\\x1b[2J\"");
    assert_string_equal (quoted ("a\0b", 3), "\"a\\x00b\"");
    assert_string_equal (quoted ("\t\x7f", 2), "\"\\x09\\x7f\"");
    /* C1 controls (U+0085 NEL, U+009B CSI) are valid UTF-8 but still controls */
    assert_string_equal (quoted ("a\xc2\x85"
                                 "b\xc2\x9b",
                                 6),
                         "\"a\\xc2\\x85b\\xc2\\x9b\"");
    /* U+00A0 is not a control: kept */
    assert_string_equal (quoted ("\xc2\xa0", 2), "\"\xc2\xa0\"");
}

static void
test_invalid_utf8_as_hex (void **state)
{
    (void) state;
    assert_string_equal (quoted ("\xff", 1), "\"\\xff\"");
    /* GBK 好 (ba c3) is not UTF-8 */
    assert_string_equal (quoted ("\xba\xc3", 2), "\"\\xba\\xc3\"");
    /* overlong, surrogate, past U+10FFFF: each byte alone */
    assert_string_equal (quoted ("\xc0\x80", 2), "\"\\xc0\\x80\"");
    assert_string_equal (quoted ("\xed\xa0\x80", 3), "\"\\xed\\xa0\\x80\"");
    assert_string_equal (quoted ("\xf4\x90\x80\x80", 4), "\"\\xf4\\x90\\x80\\x80\"");
    /* a truncated sequence at the end, then a good character after a bad lead */
    assert_string_equal (quoted ("a\xe5\xa5", 3), "\"a\\xe5\\xa5\"");
    assert_string_equal (quoted ("\xe5好", 4), "\"\\xe5好\"");
}

static void
test_cjk_and_emoji_kept (void **state)
{
    (void) state;
    assert_string_equal (quoted ("领导班子", strlen ("领导班子")), "\"领导班子\"");
    assert_string_equal (quoted ("\xf0\x9f\x98\x80", 4), "\"\xf0\x9f\x98\x80\"");
}

static void
test_cut_on_a_character_boundary (void **state)
{
    (void) state;
    /* 48 bytes shown at most: 16 × 好 is 48 bytes, the 17th is cut */
    const char *cn = "好好好好好好好好好好好好好好好好好好好好";
    assert_string_equal (quoted (cn, strlen (cn)), "\"好好好好好好好好好好好好好好好好...\"");
    /* 1 + 15 × 3 = 46 bytes; the 16th 好 would end at 49: left out whole */
    const char *x = "x好好好好好好好好好好好好好好好好好";
    assert_string_equal (quoted (x, strlen (x)), "\"x好好好好好好好好好好好好好好好...\"");
    /* exactly max_shown bytes: shown whole, no "..." */
    char a48[49];
    memset (a48, 'a', 48);
    a48[48] = '\0';
    char want[64];
    snprintf (want, sizeof want, "\"%s\"", a48);
    assert_string_equal (quoted (a48, 48), want);
    /* the bound counts bytes of input, not of output */
    char nl[60];
    memset (nl, '\n', sizeof nl);
    quoted (nl, sizeof nl);
    assert_int_equal (strlen (q), 1 + 48 * 4 + 3 + 1);
    assert_string_equal (q + strlen (q) - 4, "...\"");
}

static void
test_styles (void **state)
{
    (void) state;
    const char *cn = "一二三四五六七八九十一二三四五六七";
    assert_string_equal (pingyi_quote_as (q, sizeof q, cn, strlen (cn), 48, PINGYI_QUOTE_CUT_OUTSIDE),
                         "\"一二三四五六七八九十一二三四五六\"...");
    assert_string_equal (pingyi_quote_as (q, sizeof q, cn, strlen (cn), 48, PINGYI_QUOTE_BARE),
                         "一二三四五六七八九十一二三四五六...");
    assert_string_equal (pingyi_quote_as (q, sizeof q, "a\"\n", 3, 48, PINGYI_QUOTE_BARE), "a\\\"\\x0a");
    assert_string_equal (pingyi_quote_as (q, sizeof q, "v1", 2, 48, PINGYI_QUOTE_CUT_OUTSIDE), "\"v1\"");
}

static void
test_small_buffer_never_overflows (void **state)
{
    (void) state;
    /* a buffer smaller than PINGYI_QUOTE_SIZE cuts sooner, still whole
       characters and still "..."; the byte past cap stays untouched */
    char small[20];
    for (size_t cap = PINGYI_QUOTE_CAP_MIN; cap < sizeof small; cap++) {
        memset (small, '#', sizeof small);
        pingyi_quote (small, cap, "好\n好\n好\n好\n", 16, 48);
        size_t n = strlen (small);
        assert_true (n < cap);
        assert_true (cap == sizeof small || small[cap] == '#');
        assert_string_equal (small + n - 4, "...\"");
    }
    pingyi_quote (small, 10, "好\n好", 7, 48); /* "好 is 4, \x0a would make 8, + ..." + NUL > 10 */
    assert_string_equal (small, "\"好...\"");
}

static void
test_utf8_char (void **state)
{
    (void) state;
    assert_int_equal (pingyi_utf8_char ((const uint8_t *) "a", 1), 1);
    assert_int_equal (pingyi_utf8_char ((const uint8_t *) "好", 3), 3);
    assert_int_equal (pingyi_utf8_char ((const uint8_t *) "好", 2), 0);
    assert_int_equal (pingyi_utf8_char ((const uint8_t *) "\x80", 1), 0);
    assert_int_equal (pingyi_utf8_char ((const uint8_t *) "\xe0\x9f\xbf", 3), 0);
    assert_int_equal (pingyi_utf8_char ((const uint8_t *) "", 0), 0);
}

static void
test_json_write_text (void **state)
{
    (void) state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&buf, &len);
    assert_non_null (f);
    pingyi_json_write_text (f, "a\"\\\n\x7f好\xff\0", 10);
    fclose (f);
    assert_string_equal (buf, "\"a\\\"\\\\\\u000a\\u007f好\\ufffd\\u0000\"");
    free (buf);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_plain_text_is_marked_off),
        cmocka_unit_test (test_quotes_and_backslashes_escaped),
        cmocka_unit_test (test_control_characters_as_hex),
        cmocka_unit_test (test_invalid_utf8_as_hex),
        cmocka_unit_test (test_cjk_and_emoji_kept),
        cmocka_unit_test (test_cut_on_a_character_boundary),
        cmocka_unit_test (test_styles),
        cmocka_unit_test (test_small_buffer_never_overflows),
        cmocka_unit_test (test_utf8_char),
        cmocka_unit_test (test_json_write_text),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
