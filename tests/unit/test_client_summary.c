/*  test_client_summary.c — what the venue client prints at the end and
    the exit status it chooses (client/summary.c), text and JSON, byte for
    byte: a reconciled round; a VOID round for each of its two reasons and
    for both; bad lines (one and several); rejections named by code, "other"
    for slot 0 and code_N for a code this version has no name for; a run
    stopped before the end with no tracking codes written.  */
#include "../../client/summary.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

/*  What pingyi_summary_print writes, as a string the caller frees.  */
static char *
printed (const pingyi_summary_t *s, bool json)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&text, &len);
    assert_non_null (out);
    pingyi_summary_print (s, json, out);
    fclose (out);
    return text;
}

static void
assert_printed (const pingyi_summary_t *s, bool json, const char *expect)
{
    char *text = printed (s, json);
    assert_string_equal (text, expect);
    free (text);
}

/*  100 ballots read, 98 accepted, 1 duplicate, 1 rejected (bad_mark);
    closed with issued 120, collected 100.  */
static pingyi_summary_t
reconciled_run (void)
{
    pingyi_summary_t s = {
        .venue_id = "v01",
        .seconds = 2.5,
        .receipts = "/x/receipts.txt",
        .receipt_count = 99,
        .receipts_ok = true,
        .reconciled = true,
    };
    s.outbox.ingested = 100;
    s.outbox.accepted = 98;
    s.outbox.duplicates = 1;
    s.outbox.rejected = 1;
    s.outbox.rejected_by[PINGYI_REJECT_BAD_MARK] = 1;
    s.figures.issued = 120;
    s.figures.collected = 100;
    s.figures.sent = 100;
    s.figures.accepted = 98;
    s.figures.duplicates = 1;
    s.figures.blank = 3;
    s.figures.rejected = 1;
    s.figures.rejected_by[PINGYI_REJECT_BAD_MARK] = 1;
    s.figures.closed = true;
    return s;
}

static void
test_reconciled (void **state)
{
    (void) state;
    pingyi_summary_t s = reconciled_run ();
    assert_printed (
        &s, false,
        "venue v01: read 100 ballots, 0 bad lines; accepted 98, duplicates 1, rejected 1 (bad_mark 1); "
        "pending 0; 2.5 s\n"
        "receipts: /x/receipts.txt (99 tracking codes)\n"
        "venue v01: issued 120, collected 100, received 99, accepted 98 (blank 3), rejected 1 "
        "(bad_mark 1) \xe2\x80\x94 reconciled\n");
    assert_printed (
        &s, true,
        "{\"venue\":\"v01\",\"ballots_read\":100,\"bad_lines\":0,\"accepted\":98,\"duplicates\":1,"
        "\"rejected\":{\"bad_mark\":1},\"pending\":0,\"seconds\":2.5,\"receipts\":\"/x/receipts.txt\","
        "\"receipt_count\":99,\"refused\":{\"forged_acks\":0,\"forged_statuses\":0,"
        "\"receipt_mismatch\":0},\"reconciliation\":{\"issued\":120,\"collected\":100,\"sent\":100,"
        "\"received\":99,\"accepted\":98,\"blank\":3,\"duplicates\":1,\"rejected\":{\"bad_mark\":1},"
        "\"closed\":true,\"void\":false,\"void_reason\":null}}\n");
    assert_false (pingyi_summary_void (&s.figures, NULL, 0));
    assert_int_equal (pingyi_summary_exit_code (&s, PINGYI_EXIT_OK), PINGYI_EXIT_OK);
    assert_int_equal (pingyi_summary_exit_code (&s, PINGYI_EXIT_UNREACHED), PINGYI_EXIT_UNREACHED);
}

static void
test_void_collected_over_issued (void **state)
{
    (void) state;
    pingyi_summary_t s = reconciled_run ();
    s.figures.issued = 90;
    assert_printed (
        &s, false,
        "venue v01: read 100 ballots, 0 bad lines; accepted 98, duplicates 1, rejected 1 (bad_mark 1); "
        "pending 0; 2.5 s\n"
        "receipts: /x/receipts.txt (99 tracking codes)\n"
        "venue v01: issued 90, collected 100, received 99, accepted 98 (blank 3), rejected 1 "
        "(bad_mark 1) \xe2\x80\x94 VOID: collected 100 > issued 90\n");
    char *json = printed (&s, true);
    assert_non_null (
        strstr (json, ",\"closed\":true,\"void\":true,\"void_reason\":\"collected 100 > issued 90\"}}\n"));
    free (json);
    /*  Void whatever else went well, and also when bad lines held the
        close back; not when the run gave up.  */
    assert_int_equal (pingyi_summary_exit_code (&s, PINGYI_EXIT_OK), PINGYI_EXIT_VOID);
    assert_int_equal (pingyi_summary_exit_code (&s, PINGYI_EXIT_FAILED), PINGYI_EXIT_VOID);
    assert_int_equal (pingyi_summary_exit_code (&s, PINGYI_EXIT_UNREACHED), PINGYI_EXIT_UNREACHED);
    /*  Not reconciled (no close answered): the figures say nothing.  */
    s.reconciled = false;
    assert_int_equal (pingyi_summary_exit_code (&s, PINGYI_EXIT_OK), PINGYI_EXIT_OK);
}

static void
test_void_accepted_over_collected (void **state)
{
    (void) state;
    pingyi_summary_t s = reconciled_run ();
    s.figures.collected = 90;
    char why[160];
    assert_true (pingyi_summary_void (&s.figures, why, sizeof why));
    assert_string_equal (why, "accepted 98 > collected 90");
    char *text = printed (&s, false);
    assert_non_null (strstr (text, "\xe2\x80\x94 VOID: accepted 98 > collected 90\n"));
    free (text);
    assert_int_equal (pingyi_summary_exit_code (&s, PINGYI_EXIT_OK), PINGYI_EXIT_VOID);
    /*  Both reasons, in one line.  */
    s.figures.issued = 80;
    assert_printed (
        &s, false,
        "venue v01: read 100 ballots, 0 bad lines; accepted 98, duplicates 1, rejected 1 (bad_mark 1); "
        "pending 0; 2.5 s\n"
        "receipts: /x/receipts.txt (99 tracking codes)\n"
        "venue v01: issued 80, collected 90, received 99, accepted 98 (blank 3), rejected 1 "
        "(bad_mark 1) \xe2\x80\x94 VOID: collected 90 > issued 80; accepted 98 > collected 90\n");
    char *json = printed (&s, true);
    assert_non_null (strstr (
        json, "\"void\":true,\"void_reason\":\"collected 90 > issued 80; accepted 98 > collected 90\"}}\n"));
    free (json);
}

static void
test_bad_lines (void **state)
{
    (void) state;
    /*  One bad line, closed (--close-with-bad-lines): reconciled, exit 1.  */
    pingyi_summary_t s = reconciled_run ();
    s.outbox.bad_lines = 1;
    char *text = printed (&s, false);
    assert_int_equal (strncmp (text, "venue v01: read 100 ballots, 1 bad line; accepted 98,", 53), 0);
    free (text);
    assert_int_equal (pingyi_summary_exit_code (&s, PINGYI_EXIT_OK), PINGYI_EXIT_FAILED);
    /*  Three, the close held back (no reconciliation): plural, exit 1.  */
    s = (pingyi_summary_t){.venue_id = "v02",
                           .seconds = 0.04,
                           .receipts = "r.txt",
                           .receipt_count = 7,
                           .receipts_ok = true,
                           .stopped = "close held back: bad lines"};
    s.outbox.ingested = 7;
    s.outbox.bad_lines = 3;
    s.outbox.accepted = 7;
    assert_printed (
        &s, false,
        "venue v02: read 7 ballots, 3 bad lines; accepted 7, duplicates 0, rejected 0; pending 0; 0.0 s\n"
        "receipts: r.txt (7 tracking codes)\n"
        "stopped: close held back: bad lines; run the same command again to finish (the outbox "
        "keeps everything)\n");
    assert_printed (
        &s, true,
        "{\"venue\":\"v02\",\"ballots_read\":7,\"bad_lines\":3,\"accepted\":7,\"duplicates\":0,"
        "\"rejected\":{},\"pending\":0,\"seconds\":0.04,\"receipts\":\"r.txt\","
        "\"receipt_count\":7,\"refused\":{\"forged_acks\":0,\"forged_statuses\":0,"
        "\"receipt_mismatch\":0},\"stopped\":\"close held back: bad lines\",\"reconciliation\":null}\n");
    assert_int_equal (pingyi_summary_exit_code (&s, PINGYI_EXIT_FAILED), PINGYI_EXIT_FAILED);
    assert_int_equal (pingyi_summary_exit_code (&s, PINGYI_EXIT_OK), PINGYI_EXIT_FAILED);
    assert_int_equal (pingyi_summary_exit_code (&s, PINGYI_EXIT_UNREACHED), PINGYI_EXIT_UNREACHED);
}

static void
test_rejections_by_code (void **state)
{
    (void) state;
    pingyi_summary_t s = reconciled_run ();
    memset (s.outbox.rejected_by, 0, sizeof s.outbox.rejected_by);
    s.outbox.rejected = 7;
    s.outbox.rejected_by[0] = 2; /* codes this version has no slot for */
    s.outbox.rejected_by[PINGYI_REJECT_DECRYPT] = 1;
    s.outbox.rejected_by[PINGYI_REJECT_VENUE_CLOSED] = 4;
    memset (s.figures.rejected_by, 0, sizeof s.figures.rejected_by);
    s.figures.rejected_by[PINGYI_REJECT_VENUE_CLOSED] = 4;
    s.figures.rejected_by[13] = 5; /* a slot this version has no name for */
    assert_printed (
        &s, false,
        "venue v01: read 100 ballots, 0 bad lines; accepted 98, duplicates 1, rejected 7 (other 2, "
        "decrypt 1, venue_closed 4); pending 0; 2.5 s\n"
        "receipts: /x/receipts.txt (99 tracking codes)\n"
        "venue v01: issued 120, collected 100, received 99, accepted 98 (blank 3), rejected 9 "
        "(venue_closed 4, code_13 5) \xe2\x80\x94 reconciled\n");
    char *json = printed (&s, true);
    assert_non_null (strstr (json, ",\"rejected\":{\"other\":2,\"decrypt\":1,\"venue_closed\":4},"));
    assert_non_null (strstr (json, ",\"rejected\":{\"venue_closed\":4,\"code_13\":5},"));
    free (json);
}

static void
test_no_receipts_is_fatal (void **state)
{
    (void) state;
    pingyi_summary_t s = reconciled_run ();
    s.receipts_ok = false;
    s.stopped = "interrupted";
    s.forged_acks = 2;
    s.outbox.pending = 5;
    s.outbox.receipt_mismatch = 1;
    assert_printed (
        &s, false,
        "venue v01: read 100 ballots, 0 bad lines; accepted 98, duplicates 1, rejected 1 (bad_mark 1); "
        "pending 5; 2.5 s\n"
        "venue v01: issued 120, collected 100, received 99, accepted 98 (blank 3), rejected 1 "
        "(bad_mark 1) \xe2\x80\x94 reconciled\n"
        "stopped: interrupted; run the same command again to finish (the outbox keeps everything)\n");
    char *json = printed (&s, true);
    assert_non_null (strstr (json,
                             "\"receipts\":null,\"receipt_count\":99,\"refused\":{\"forged_acks\":2,"
                             "\"forged_statuses\":0,\"receipt_mismatch\":1},\"stopped\":\"interrupted\","));
    free (json);
    /*  The voters' tracking codes not written: not done, whatever else.  */
    assert_int_equal (pingyi_summary_exit_code (&s, PINGYI_EXIT_OK), PINGYI_EXIT_START);
    assert_int_equal (pingyi_summary_exit_code (&s, PINGYI_EXIT_UNREACHED), PINGYI_EXIT_START);
    s.figures.issued = 10;
    assert_int_equal (pingyi_summary_exit_code (&s, PINGYI_EXIT_OK), PINGYI_EXIT_START);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_reconciled),
        cmocka_unit_test (test_void_collected_over_issued),
        cmocka_unit_test (test_void_accepted_over_collected),
        cmocka_unit_test (test_bad_lines),
        cmocka_unit_test (test_rejections_by_code),
        cmocka_unit_test (test_no_receipts_is_fatal),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
