/*  test_broker_notes.c — the broker's rate-limited warnings (broker/notes.h):
    on a fake clock, the first of a kind in a minute is written as it comes,
    the rest counted; when the minute ends one line sums them up with
    thousands separators; kinds are limited apart; a quiet window writes no
    summary; and a steady flood costs two lines a minute per kind.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../broker/notes.c"

typedef struct {
    char lines[64][200];
    int count;
} sink_t;

static void
collect (const char *line, void *arg)
{
    sink_t *s = arg;
    if (s->count < 64)
        snprintf (s->lines[s->count], sizeof s->lines[0], "%s", line);
    s->count++;
}

static pingyi_notes_t *
t_notes (sink_t *s)
{
    memset (s, 0, sizeof *s);
    pingyi_notes_t *n = pingyi_notes_new ();
    assert_non_null (n);
    pingyi_notes_set_sink (n, collect, s);
    return n;
}

static void
test_burst_then_summary (void **state)
{
    sink_t s;
    pingyi_notes_t *n = t_notes (&s);
    for (int i = 0; i < 100000; i++)
        pingyi_notes_add (n, PINGYI_NOTE_BAD_MESSAGE, 1000 + i / 10, "bad message %d", i);
    assert_int_equal (s.count, 1);
    assert_string_equal (s.lines[0], "bad message 0");
    pingyi_notes_flush (n, 60999); /* the minute is not over */
    assert_int_equal (s.count, 1);
    pingyi_notes_flush (n, 61000);
    assert_int_equal (s.count, 2);
    assert_string_equal (s.lines[1],
                         "99,999 more bad messages like this in the last minute (counted in stats)");
    assert_int_equal (pingyi_notes_suppressed (n, PINGYI_NOTE_BAD_MESSAGE), 99999);
    pingyi_notes_flush (n, 200000); /* nothing held: no line */
    assert_int_equal (s.count, 2);
    /* a new window writes the first again */
    assert_true (pingyi_notes_add (n, PINGYI_NOTE_BAD_MESSAGE, 300000, "again"));
    assert_false (pingyi_notes_add (n, PINGYI_NOTE_BAD_MESSAGE, 300001, "held"));
    assert_int_equal (s.count, 3);
    assert_string_equal (s.lines[2], "again");
    pingyi_notes_destroy (&n);
    pingyi_notes_destroy (&n);
    assert_null (n);
}

static void
test_kinds_apart (void **state)
{
    sink_t s;
    pingyi_notes_t *n = t_notes (&s);
    for (int i = 0; i < 7; i++) {
        pingyi_notes_add (n, PINGYI_NOTE_KEY_REFUSED, 0, "key %d", i);
        pingyi_notes_add (n, PINGYI_NOTE_FORBIDDEN, 0, "forbidden %d", i);
    }
    assert_int_equal (s.count, 2);
    assert_string_equal (s.lines[0], "key 0");
    assert_string_equal (s.lines[1], "forbidden 0");
    /* a warning after the window's end closes it first */
    assert_true (pingyi_notes_add (n, PINGYI_NOTE_KEY_REFUSED, 60000, "key late"));
    assert_string_equal (s.lines[2],
                         "6 more refused connections (key not in the keyring) like this in the last "
                         "minute (counted in stats)");
    assert_string_equal (s.lines[3], "key late");
    pingyi_notes_flush (n, 60000);
    assert_string_equal (s.lines[4],
                         "6 more refused messages like this in the last minute (counted in stats)");
    assert_int_equal (s.count, 5);
    pingyi_notes_destroy (&n);
}

static void
test_steady_flood (void **state)
{
    sink_t s;
    pingyi_notes_t *n = t_notes (&s);
    /* ten minutes, 1000 a second, flushed each second as the broker does */
    for (int64_t ms = 0; ms < 600000; ms++) {
        pingyi_notes_add (n, PINGYI_NOTE_OVERSIZED, ms, "big");
        if (ms % 1000 == 999)
            pingyi_notes_flush (n, ms + 1);
    }
    assert_int_equal (s.count, 20);
    assert_string_equal (s.lines[1],
                         "59,999 more oversized frames like this in the last minute (counted in stats)");
    pingyi_notes_destroy (&n);
}

static void
test_thousands (void **state)
{
    char b[32];
    assert_string_equal (pingyi_notes_thousands (b, sizeof b, 0), "0");
    assert_string_equal (pingyi_notes_thousands (b, sizeof b, 999), "999");
    assert_string_equal (pingyi_notes_thousands (b, sizeof b, 1000), "1,000");
    assert_string_equal (pingyi_notes_thousands (b, sizeof b, 99999), "99,999");
    assert_string_equal (pingyi_notes_thousands (b, sizeof b, 1234567), "1,234,567");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_burst_then_summary),
        cmocka_unit_test (test_kinds_apart),
        cmocka_unit_test (test_steady_flood),
        cmocka_unit_test (test_thousands),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
