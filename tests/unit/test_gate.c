/*  test_gate.c — the venue gate (election/gate.h): a venue may speak only
    as itself, for this election, for a venue of the definition; the first
    failing check decides, and each refusal has its category (the value of
    the ERROR code it is answered with) and its exact reason.  The election
    is the example the integration tests run (examples/2022-district-review:
    venues v01..v03, eight shards).  */
#define _GNU_SOURCE
#include "gate.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define EXAMPLE PINGYI_SOURCE_DIR "/examples/2022-district-review.json"

static int
t_setup (void **state)
{
    char err[PINGYI_ERR_MAX];
    pingyi_election_t *e = pingyi_election_load_or_err (EXAMPLE, err);
    if (!e)
        fprintf (stderr, "%s\n", err);
    assert_non_null (e);
    assert_string_equal (e->id, "2022-district-review");
    assert_int_equal (e->shard_count, 8);
    assert_int_equal (e->venue_count, 3);
    assert_string_equal (e->venues[0].id, "v01");
    assert_string_equal (e->venues[1].id, "v02");
    *state = e;
    return 0;
}

static int
t_teardown (void **state)
{
    pingyi_election_t *e = *state;
    pingyi_election_destroy (&e);
    return 0;
}

/*  The gate on strings (sender NULL: no sender check) refuses with `want`
    and exactly `reason`, and leaves no venue index.  */
static void
t_refused (const pingyi_election_t *e, const uint8_t *fp, const char *venue, const char *sender,
           pingyi_gate_t want, const char *reason)
{
    char got[256] = "stale";
    int v = 99;
    pingyi_gate_t gate = pingyi_venue_gate (e, fp, venue, strlen (venue), sender,
                                            sender ? strlen (sender) : 0, &v, got, sizeof got);
    assert_int_equal (gate, want);
    assert_int_equal (v, -1);
    assert_string_equal (got, reason);
}

/*  The gate admits venue for sender, as venue index `index`.  */
static void
t_admitted (const pingyi_election_t *e, const char *venue, const char *sender, int index)
{
    char got[256] = "stale";
    int v = 99;
    assert_int_equal (pingyi_venue_gate (e, e->fingerprint, venue, strlen (venue), sender,
                                         sender ? strlen (sender) : 0, &v, got, sizeof got),
                      PINGYI_GATE_OK);
    assert_int_equal (v, index);
    assert_string_equal (got, "");
}

/*  This election's fingerprint with one bit changed.  */
static void
t_other (const pingyi_election_t *e, uint8_t other[PINGYI_FP_LEN], size_t byte)
{
    memcpy (other, e->fingerprint, PINGYI_FP_LEN);
    other[byte] ^= 0x80;
}

static void
test_gate_categories_are_the_error_codes (void **state)
{
    (void) state;
    assert_int_equal (pingyi_venue_gate_error (PINGYI_GATE_OK), 0);
    assert_int_equal (pingyi_venue_gate_error (PINGYI_GATE_FORBIDDEN), PINGYI_ERROR_FORBIDDEN);
    assert_int_equal (pingyi_venue_gate_error (PINGYI_GATE_WRONG_ELECTION), PINGYI_ERROR_WRONG_ELECTION);
    assert_int_equal (pingyi_venue_gate_error (PINGYI_GATE_UNKNOWN_VENUE), PINGYI_ERROR_UNKNOWN_VENUE);
}

static void
test_gate_admits_a_venue_speaking_as_itself_with_its_shard (void **state)
{
    const pingyi_election_t *e = *state;
    t_admitted (e, "v02", "v02", 1);
    t_admitted (e, "v01", "v01", 0);
    /* the index gives the venue's shard: the hash of its id here */
    assert_int_equal (e->venues[1].shard, pingyi_election_hash_shard ("v02", 3, 8));
    assert_int_equal (e->venues[0].shard, pingyi_election_hash_shard ("v01", 3, 8));
}

static void
test_gate_refuses_a_venue_speaking_for_another (void **state)
{
    const pingyi_election_t *e = *state;
    t_refused (e, e->fingerprint, "v01", "v02", PINGYI_GATE_FORBIDDEN,
               "venue v02 may not speak for venue v01");
    /* lengths count, not prefixes */
    t_refused (e, e->fingerprint, "v01", "v011", PINGYI_GATE_FORBIDDEN,
               "venue v011 may not speak for venue v01");
    t_refused (e, e->fingerprint, "v01", "v0", PINGYI_GATE_FORBIDDEN, "venue v0 may not speak for venue v01");
    t_refused (e, e->fingerprint, "v01", "", PINGYI_GATE_FORBIDDEN, "venue  may not speak for venue v01");
    /* the sender is checked first: another election's unknown venue named
       by the wrong sender is still FORBIDDEN */
    uint8_t other[PINGYI_FP_LEN];
    t_other (e, other, PINGYI_FP_LEN - 1);
    t_refused (e, other, "v99", "v01", PINGYI_GATE_FORBIDDEN, "venue v01 may not speak for venue v99");
}

static void
test_gate_refuses_another_election_before_looking_up_the_venue (void **state)
{
    const pingyi_election_t *e = *state;
    assert_int_equal (strlen (e->fingerprint_hex), 2 * PINGYI_FP_LEN);
    char want[256];
    snprintf (want, sizeof want, "another election's fingerprint; this is election 2022-district-review (%s)",
              e->fingerprint_hex);
    uint8_t other[PINGYI_FP_LEN];
    t_other (e, other, 0);
    t_refused (e, other, "v01", "v01", PINGYI_GATE_WRONG_ELECTION, want);
    t_refused (e, other, "v99", "v99", PINGYI_GATE_WRONG_ELECTION, want); /* the election decides */
    t_other (e, other, PINGYI_FP_LEN - 1);
    t_refused (e, other, "v02", NULL, PINGYI_GATE_WRONG_ELECTION, want);
}

static void
test_gate_refuses_a_venue_not_in_the_definition (void **state)
{
    const pingyi_election_t *e = *state;
    t_refused (e, e->fingerprint, "v99", "v99", PINGYI_GATE_UNKNOWN_VENUE,
               "venue v99 is not in election 2022-district-review");
    t_refused (e, e->fingerprint, "V1", "V1", PINGYI_GATE_UNKNOWN_VENUE,
               "venue V1 is not in election 2022-district-review");
    t_refused (e, e->fingerprint, "", "", PINGYI_GATE_UNKNOWN_VENUE,
               "venue  is not in election 2022-district-review");
}

static void
test_gate_without_a_sender_skips_only_the_sender_check (void **state)
{
    /* an operator's VENUE_REOPEN speaks for no venue */
    const pingyi_election_t *e = *state;
    t_admitted (e, "v02", NULL, 1);
    t_refused (e, e->fingerprint, "v04", NULL, PINGYI_GATE_UNKNOWN_VENUE,
               "venue v04 is not in election 2022-district-review");
}

static void
test_gate_reason_is_cut_to_its_buffer (void **state)
{
    const pingyi_election_t *e = *state;
    char reason[12];
    int v;
    assert_int_equal (pingyi_venue_gate (e, e->fingerprint, "v99", 3, "v99", 3, &v, reason, sizeof reason),
                      PINGYI_GATE_UNKNOWN_VENUE);
    assert_string_equal (reason, "venue v99 i");
    /* no buffer at all: the verdict alone */
    assert_int_equal (pingyi_venue_gate (e, e->fingerprint, "v99", 3, "v99", 3, &v, NULL, 0),
                      PINGYI_GATE_UNKNOWN_VENUE);
    assert_int_equal (pingyi_venue_gate (e, e->fingerprint, "v01", 3, "v01", 3, &v, NULL, 0), PINGYI_GATE_OK);
    assert_int_equal (v, 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_gate_categories_are_the_error_codes),
        cmocka_unit_test (test_gate_admits_a_venue_speaking_as_itself_with_its_shard),
        cmocka_unit_test (test_gate_refuses_a_venue_speaking_for_another),
        cmocka_unit_test (test_gate_refuses_another_election_before_looking_up_the_venue),
        cmocka_unit_test (test_gate_refuses_a_venue_not_in_the_definition),
        cmocka_unit_test (test_gate_without_a_sender_skips_only_the_sender_check),
        cmocka_unit_test (test_gate_reason_is_cut_to_its_buffer),
    };
    return cmocka_run_group_tests (tests, t_setup, t_teardown);
}
