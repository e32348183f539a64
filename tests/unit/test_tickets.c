/*  test_tickets.c — the broker's pending requests: a REPLY is relayed only
    for a pending ticket, from the worker connection it was forwarded to,
    carrying an answer to that kind of request; tickets expire, go with a
    dropped worker, are bounded, never 0 and never reused while pending.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "../../broker/tickets.c"

/*  [3, type, 0] and friends: just the head the broker reads.  */
static size_t
frame (uint8_t *out, int version, int type)
{
    out[0] = 0x93;
    out[1] = (uint8_t) version;
    out[2] = (uint8_t) type;
    out[3] = 0x00;
    return 4;
}

static void
test_open_find_close (void **state)
{
    (void) state;
    pingyi_tickets_t *t = pingyi_tickets_new (16);
    assert_non_null (t);
    const uint8_t rid[] = {0, 1, 2, 3, 4};
    uint64_t a = pingyi_tickets_open (t, PINGYI_MSG_SUBMIT, rid, sizeof rid, 7, 1234, 1000);
    uint64_t b = pingyi_tickets_open (t, PINGYI_MSG_TALLY_QUERY, rid, sizeof rid, 8, 0, 1000);
    assert_true (a != 0 && b != 0 && a != b);
    assert_int_equal (pingyi_tickets_pending (t), 2);
    const pingyi_ticket_t *ta = pingyi_tickets_find (t, a);
    assert_non_null (ta);
    assert_int_equal (ta->worker, 7);
    assert_int_equal (ta->bytes, 1234);
    assert_int_equal (ta->type, PINGYI_MSG_SUBMIT);
    assert_int_equal (ta->requester_len, sizeof rid);
    assert_memory_equal (pingyi_ticket_requester (ta), rid, sizeof rid);
    assert_null (pingyi_tickets_find (t, 0));
    assert_null (pingyi_tickets_find (t, a ^ 1));
    pingyi_tickets_close (t, a);
    assert_null (pingyi_tickets_find (t, a));
    assert_non_null (pingyi_tickets_find (t, b));
    assert_int_equal (pingyi_tickets_pending (t), 1);
    pingyi_tickets_close (t, a); /* twice: nothing */
    pingyi_tickets_close (t, 0);
    assert_int_equal (pingyi_tickets_pending (t), 1);
    pingyi_tickets_destroy (&t);
    assert_null (t);
    pingyi_tickets_destroy (&t);
}

/*  Routing ids longer than the slot holds (a peer may set its own, up to
    255 bytes) are kept whole; 0 and 256 bytes are refused.  */
static void
test_long_routing_id (void **state)
{
    (void) state;
    pingyi_tickets_t *t = pingyi_tickets_new (4);
    uint8_t rid[255];
    for (size_t i = 0; i < sizeof rid; i++)
        rid[i] = (uint8_t) i;
    uint64_t a = pingyi_tickets_open (t, PINGYI_MSG_VENUE_OPEN, rid, sizeof rid, 1, 0, 0);
    assert_true (a != 0);
    const pingyi_ticket_t *ta = pingyi_tickets_find (t, a);
    assert_int_equal (ta->requester_len, 255);
    assert_memory_equal (pingyi_ticket_requester (ta), rid, 255);
    assert_int_equal (pingyi_tickets_open (t, PINGYI_MSG_VENUE_OPEN, rid, 0, 1, 0, 0), 0);
    uint8_t too_long[256] = {0};
    assert_int_equal (pingyi_tickets_open (t, PINGYI_MSG_VENUE_OPEN, too_long, 256, 1, 0, 0), 0);
    pingyi_tickets_destroy (&t); /* frees the long id (ASan would tell) */
}

static void
test_check_reply (void **state)
{
    (void) state;
    pingyi_tickets_t *t = pingyi_tickets_new (16);
    const uint8_t venue[] = {0, 0, 0, 0, 9};
    uint64_t submit = pingyi_tickets_open (t, PINGYI_MSG_SUBMIT, venue, sizeof venue, 1, 100, 0);
    uint8_t f[8];
    const pingyi_ticket_t *got;
    int type;

    /* the right worker, an ACK: relay */
    assert_int_equal (pingyi_tickets_check (t, submit, 1, f, frame (f, PINGYI_PROTO_VERSION, PINGYI_MSG_ACK), &got, &type),
                      PINGYI_REPLY_OK);
    assert_non_null (got);
    assert_int_equal (got->ticket, submit);
    assert_int_equal (type, PINGYI_MSG_ACK);
    /* RETRY and ERROR answer anything */
    assert_int_equal (pingyi_tickets_check (t, submit, 1, f, frame (f, PINGYI_PROTO_VERSION, PINGYI_MSG_RETRY), &got, &type),
                      PINGYI_REPLY_OK);
    assert_int_equal (pingyi_tickets_check (t, submit, 1, f, frame (f, PINGYI_PROTO_VERSION, PINGYI_MSG_ERROR), &got, &type),
                      PINGYI_REPLY_OK);
    /* another worker connection: refused whatever it carries */
    assert_int_equal (pingyi_tickets_check (t, submit, 2, f, frame (f, PINGYI_PROTO_VERSION, PINGYI_MSG_ACK), &got, &type),
                      PINGYI_REPLY_WRONG_WORKER);
    assert_null (got);
    /* a ticket nobody issued */
    assert_int_equal (pingyi_tickets_check (t, submit + 1, 1, f, frame (f, PINGYI_PROTO_VERSION, PINGYI_MSG_ACK), &got, &type),
                      PINGYI_REPLY_UNKNOWN_TICKET);
    assert_int_equal (pingyi_tickets_check (t, 0, 1, f, frame (f, PINGYI_PROTO_VERSION, PINGYI_MSG_ACK), &got, &type),
                      PINGYI_REPLY_UNKNOWN_TICKET);
    /* the right worker, but not an answer to a SUBMIT: a forged FORWARD,
       SUBMIT, HELLO, another kind of answer, an old version, garbage */
    int wrong[] = {PINGYI_MSG_FORWARD, PINGYI_MSG_SUBMIT,       PINGYI_MSG_HELLO, PINGYI_MSG_READY,
                   PINGYI_MSG_REPLY,   PINGYI_MSG_VENUE_STATUS, PINGYI_MSG_STATS, PINGYI_MSG_SNAPSHOT};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        assert_int_equal (pingyi_tickets_check (t, submit, 1, f, frame (f, PINGYI_PROTO_VERSION, wrong[i]), &got, &type),
                          PINGYI_REPLY_WRONG_KIND);
        assert_int_equal (type, wrong[i]);
    }
    assert_int_equal (pingyi_tickets_check (t, submit, 1, f, frame (f, 1, PINGYI_MSG_ACK), &got, &type),
                      PINGYI_REPLY_WRONG_KIND);
    assert_int_equal (type, -1);
    const uint8_t junk[] = {0xc1, 0x02, 0x05};
    assert_int_equal (pingyi_tickets_check (t, submit, 1, junk, sizeof junk, &got, &type),
                      PINGYI_REPLY_WRONG_KIND);
    assert_int_equal (type, -1);
    assert_int_equal (pingyi_tickets_check (t, submit, 1, f, frame (f, PINGYI_PROTO_VERSION, 99), &got, &type),
                      PINGYI_REPLY_WRONG_KIND);
    /* checking changes nothing; closing does */
    assert_non_null (pingyi_tickets_find (t, submit));
    pingyi_tickets_close (t, submit);
    assert_int_equal (pingyi_tickets_check (t, submit, 1, f, frame (f, PINGYI_PROTO_VERSION, PINGYI_MSG_ACK), &got, &type),
                      PINGYI_REPLY_UNKNOWN_TICKET);
    pingyi_tickets_destroy (&t);
}

static void
test_answer_table (void **state)
{
    (void) state;
    assert_true (pingyi_answers (PINGYI_MSG_SUBMIT, PINGYI_MSG_ACK));
    assert_true (pingyi_answers (PINGYI_MSG_VENUE_OPEN, PINGYI_MSG_VENUE_STATUS));
    assert_true (pingyi_answers (PINGYI_MSG_VENUE_CLOSE, PINGYI_MSG_VENUE_STATUS));
    assert_true (pingyi_answers (PINGYI_MSG_TALLY_QUERY, PINGYI_MSG_SNAPSHOT));
    assert_true (pingyi_answers (PINGYI_MSG_STATS_QUERY, PINGYI_MSG_STATS));
    assert_true (pingyi_answers (PINGYI_MSG_VENUE_REOPEN, PINGYI_MSG_VENUE_STATUS));
    int requests[] = {PINGYI_MSG_SUBMIT,      PINGYI_MSG_VENUE_OPEN,  PINGYI_MSG_VENUE_CLOSE,
                      PINGYI_MSG_TALLY_QUERY, PINGYI_MSG_STATS_QUERY, PINGYI_MSG_VENUE_REOPEN};
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        assert_true (pingyi_answers (requests[i], PINGYI_MSG_RETRY));
        assert_true (pingyi_answers (requests[i], PINGYI_MSG_ERROR));
        int n = 0;
        for (int a = 1; a <= PINGYI_MSG_TYPE_MAX_; a++)
            n += pingyi_answers (requests[i], a);
        assert_int_equal (n, 3); /* its own answer, RETRY, ERROR: nothing else */
    }
    assert_false (pingyi_answers (PINGYI_MSG_SUBMIT, PINGYI_MSG_VENUE_STATUS));
    assert_false (pingyi_answers (PINGYI_MSG_TALLY_QUERY, PINGYI_MSG_STATS));
    assert_false (pingyi_answers (PINGYI_MSG_VENUE_REOPEN, PINGYI_MSG_ACK));
    assert_false (pingyi_answers (PINGYI_MSG_HELLO, PINGYI_MSG_ERROR)); /* not a forwarded request */
    assert_false (pingyi_answers (PINGYI_MSG_SUBMIT, -1));
}

static void
test_expiry (void **state)
{
    (void) state;
    pingyi_tickets_t *t = pingyi_tickets_new (16);
    const uint8_t rid[] = {1};
    uint64_t old = pingyi_tickets_open (t, PINGYI_MSG_SUBMIT, rid, 1, 1, 10, 1000);
    uint64_t young = pingyi_tickets_open (t, PINGYI_MSG_SUBMIT, rid, 1, 1, 20, 5000);
    assert_int_equal (pingyi_tickets_expire (t, 121000, 120000, NULL, NULL), 0); /* exactly the TTL: kept */
    assert_int_equal (pingyi_tickets_expire (t, 121001, 120000, NULL, NULL), 1);
    assert_null (pingyi_tickets_find (t, old));
    assert_non_null (pingyi_tickets_find (t, young));
    assert_int_equal (pingyi_tickets_pending (t), 1);
    pingyi_tickets_destroy (&t);
}

typedef struct {
    size_t calls;
    uint64_t bytes;
} seen_t;

static void
count (const pingyi_ticket_t *ticket, void *arg)
{
    seen_t *s = arg;
    s->calls++;
    s->bytes += ticket->bytes;
}

/*  A dropped worker takes its tickets along, and only its own; the
    callback sees each (the broker repays its credit from them).  Many
    tickets, so clusters and backward shifts are exercised.  */
static void
test_release_worker (void **state)
{
    (void) state;
    pingyi_tickets_t *t = pingyi_tickets_new (4096);
    uint64_t ids[3000];
    const uint8_t rid[] = {7, 7, 7, 7, 7};
    for (size_t i = 0; i < 3000; i++) {
        ids[i] = pingyi_tickets_open (t, PINGYI_MSG_SUBMIT, rid, sizeof rid, i % 3, 1, (int64_t) i);
        assert_true (ids[i] != 0);
    }
    seen_t s = {0};
    assert_int_equal (pingyi_tickets_release_worker (t, 1, count, &s), 1000);
    assert_int_equal (s.calls, 1000);
    assert_int_equal (s.bytes, 1000);
    assert_int_equal (pingyi_tickets_pending (t), 2000);
    for (size_t i = 0; i < 3000; i++)
        if (i % 3 == 1)
            assert_null (pingyi_tickets_find (t, ids[i]));
        else
            assert_non_null (pingyi_tickets_find (t, ids[i]));
    /* forgiving a worker's debt zeroes its tickets' bytes, nobody else's */
    pingyi_tickets_forgive_worker (t, 2);
    assert_int_equal (pingyi_tickets_find (t, ids[2])->bytes, 0);
    assert_int_equal (pingyi_tickets_find (t, ids[0])->bytes, 1);
    /* expiry with the callback: every remaining ticket of time < 1500 */
    memset (&s, 0, sizeof s);
    size_t expired = pingyi_tickets_expire (t, 1500 + 100, 100, count, &s);
    assert_int_equal (expired, s.calls);
    for (size_t i = 0; i < 3000; i++)
        if (i % 3 != 1)
            assert_true ((pingyi_tickets_find (t, ids[i]) != NULL) == (i >= 1500));
    pingyi_tickets_destroy (&t);
}

/*  At most max_pending: the next open fails (the broker answers RETRY)
    until one closes.  Tickets are distinct and never 0.  */
static void
test_bound (void **state)
{
    (void) state;
    pingyi_tickets_t *t = pingyi_tickets_new (100);
    const uint8_t rid[] = {1, 2};
    uint64_t ids[100];
    for (size_t i = 0; i < 100; i++) {
        ids[i] = pingyi_tickets_open (t, PINGYI_MSG_STATS_QUERY, rid, 2, 1, 0, 0);
        assert_true (ids[i] != 0);
        for (size_t j = 0; j < i; j++)
            assert_true (ids[i] != ids[j]);
    }
    assert_int_equal (pingyi_tickets_open (t, PINGYI_MSG_STATS_QUERY, rid, 2, 1, 0, 0), 0);
    pingyi_tickets_close (t, ids[50]);
    assert_true (pingyi_tickets_open (t, PINGYI_MSG_STATS_QUERY, rid, 2, 1, 0, 0) != 0);
    for (size_t i = 0; i < 100; i++)
        if (i != 50)
            assert_non_null (pingyi_tickets_find (t, ids[i]));
    pingyi_tickets_destroy (&t);
}

/*  The table grows past its first size and every ticket stays findable;
    closing them all in open order leaves it empty.  */
static void
test_growth (void **state)
{
    (void) state;
    pingyi_tickets_t *t = pingyi_tickets_new (PINGYI_TICKETS_MAX);
    static uint64_t ids[20000];
    const uint8_t rid[] = {3};
    for (size_t i = 0; i < 20000; i++)
        ids[i] = pingyi_tickets_open (t, PINGYI_MSG_SUBMIT, rid, 1, i, 0, 0);
    for (size_t i = 0; i < 20000; i++) {
        const pingyi_ticket_t *x = pingyi_tickets_find (t, ids[i]);
        assert_non_null (x);
        assert_int_equal (x->worker, i);
    }
    for (size_t i = 0; i < 20000; i++)
        pingyi_tickets_close (t, ids[i]);
    assert_int_equal (pingyi_tickets_pending (t), 0);
    pingyi_tickets_destroy (&t);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_open_find_close), cmocka_unit_test (test_long_routing_id),
        cmocka_unit_test (test_check_reply),     cmocka_unit_test (test_answer_table),
        cmocka_unit_test (test_expiry),          cmocka_unit_test (test_release_worker),
        cmocka_unit_test (test_bound),           cmocka_unit_test (test_growth),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
