/*  test_client_send.c — the venue client's send window (client/send.c),
    driven with a fake sender and a fake outbox: the window never holds more
    than its size nor a SUBMIT more than the batch; a batch unanswered is
    re-sent under a new tag after its timeout, 3 s doubling up to 10 s (or
    up to --timeout-ms if larger); a batch held back by a RETRY waits at
    least retry_ms (doubling, +-20 %, capped at 10 s); an ACK takes its
    batch out of flight and queues again the ids it did not cover; an ACK
    under an unknown tag changes nothing and is counted; a batch sent with
    no connection is tried again after 100 ms; ids acknowledged meanwhile
    are not sent again.  */
#include "../../client/send.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define MAX_IDS 20000
#define MAX_CALLS 1000

/*  The fake: ids are numbered (the number in their first 4 bytes); the
    "outbox" says which are still pending; every SUBMIT sent is recorded.  */
typedef struct {
    bool done[MAX_IDS]; /* acknowledged: no longer pending */
    int result;         /* what the sender answers: 0 sent, 1 no connection */
    size_t calls;       /* SUBMITs sent (result 0) */
    uint64_t tags[MAX_CALLS];
    uint32_t counts[MAX_CALLS];
    uint32_t first[MAX_CALLS]; /* the number of the SUBMIT's first id */
    size_t max_count;
} fake_t;

static uint32_t
id_number (const uint8_t *id)
{
    uint32_t n;
    memcpy (&n, id, sizeof n);
    return n;
}

static int
fake_send (void *arg, uint64_t tag, uint8_t *ids, uint32_t *count)
{
    fake_t *f = arg;
    uint32_t n = 0;
    for (uint32_t i = 0; i < *count; i++)
        if (!f->done[id_number (ids + i * PINGYI_BALLOT_ID_LEN)])
            memmove (ids + n++ * PINGYI_BALLOT_ID_LEN, ids + i * PINGYI_BALLOT_ID_LEN, PINGYI_BALLOT_ID_LEN);
    *count = n;
    if (!n || f->result)
        return n ? f->result : 0;
    assert_true (f->calls < MAX_CALLS);
    f->tags[f->calls] = tag;
    f->counts[f->calls] = n;
    f->first[f->calls] = id_number (ids);
    f->calls++;
    if (n > f->max_count)
        f->max_count = n;
    return 0;
}

static int
fake_pending (void *arg, const uint8_t *id)
{
    fake_t *f = arg;
    return !f->done[id_number (id)];
}

static void
queue_ids (pingyi_send_t *s, uint32_t from, uint32_t n)
{
    for (uint32_t i = from; i < from + n; i++) {
        uint8_t id[PINGYI_BALLOT_ID_LEN] = {0};
        memcpy (id, &i, sizeof i);
        assert_int_equal (pingyi_send_queue (s, id), 0);
    }
}

static void
test_window_never_exceeds_its_size (void **state)
{
    (void) state;
    fake_t *f = calloc (1, sizeof *f);
    pingyi_send_t *s = pingyi_send_new (100, 30, 3000, 7, fake_send, f);
    queue_ids (s, 0, 1000);
    assert_int_equal (pingyi_send_fill (s, 0), 0);
    /*  30 + 30 + 30 + 10: the last batch is cut to the room left.  */
    assert_int_equal (f->calls, 4);
    assert_int_equal (f->counts[0], 30);
    assert_int_equal (f->counts[3], 10);
    assert_int_equal (pingyi_send_inflight (s), 100);
    assert_int_equal (pingyi_send_queued (s), 900);
    assert_int_equal (pingyi_send_sent (s), 100);
    /*  Tags are consecutive from the first one given.  */
    for (size_t i = 0; i < 4; i++)
        assert_int_equal (f->tags[i], 7 + i);
    /*  A full window sends nothing more.  */
    assert_int_equal (pingyi_send_fill (s, 1), 0);
    assert_int_equal (f->calls, 4);
    /*  Acks free room a batch at a time, never more than the window.  */
    for (int round = 0; round < 60; round++) {
        uint64_t tag = f->tags[f->calls - 1];
        for (uint32_t i = 0; i < f->counts[f->calls - 1]; i++)
            f->done[f->first[f->calls - 1] + i] = true;
        assert_int_equal (pingyi_send_ack (s, tag, fake_pending, f), 0);
        assert_int_equal (pingyi_send_fill (s, 2 + round), 0);
        assert_true (pingyi_send_inflight (s) <= 100);
    }
    assert_true (f->max_count <= 30);
    assert_int_equal (pingyi_send_stale_acks (s), 0);
    pingyi_send_destroy (&s);
    assert_null (s);
    pingyi_send_destroy (&s); /* safe twice */
    free (f);
}

static void
test_timeout_backoff (void **state)
{
    (void) state;
    /*  3 s, doubling, capped at 10 s.  */
    assert_int_equal (pingyi_send_timeout (3000, 0), 3000);
    assert_int_equal (pingyi_send_timeout (3000, 1), 6000);
    assert_int_equal (pingyi_send_timeout (3000, 2), 10000);
    assert_int_equal (pingyi_send_timeout (3000, 9), 10000);
    /*  A --timeout-ms above 10 s is its own cap.  */
    assert_int_equal (pingyi_send_timeout (20000, 0), 20000);
    assert_int_equal (pingyi_send_timeout (20000, 3), 20000);

    fake_t *f = calloc (1, sizeof *f);
    pingyi_send_t *s = pingyi_send_new (10, 10, 3000, 100, fake_send, f);
    queue_ids (s, 0, 5);
    assert_int_equal (pingyi_send_fill (s, 1000), 0);
    assert_int_equal (f->calls, 1);
    assert_true (pingyi_send_outstanding (s));
    assert_int_equal (pingyi_send_next_due (s, INT64_MAX), 4000);
    /*  Not a millisecond early.  */
    assert_int_equal (pingyi_send_service (s, 3999), 0);
    assert_int_equal (f->calls, 1);
    /*  Re-sent at 3 s under a new tag, then 6 s, then 10 s, then 10 s.  */
    int64_t now = 4000;
    int64_t expect[] = {6000, 10000, 10000};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal (pingyi_send_service (s, now), 0);
        assert_int_equal (f->calls, 2 + i);
        assert_int_equal (f->tags[1 + i], 101 + i);
        assert_int_equal (f->counts[1 + i], 5);
        assert_int_equal (pingyi_send_next_due (s, INT64_MAX), now + expect[i]);
        now += expect[i];
    }
    /*  The old tag is stale now; the newest one is the batch's.  */
    uint32_t n = 0;
    assert_false (pingyi_send_batch_size (s, 100, &n));
    assert_true (pingyi_send_batch_size (s, 103, &n));
    assert_int_equal (n, 5);
    /*  Re-sent with only the ids still pending.  */
    f->done[1] = f->done[3] = true;
    assert_int_equal (pingyi_send_service (s, now), 0);
    assert_int_equal (f->counts[f->calls - 1], 3);
    assert_int_equal (pingyi_send_inflight (s), 3);
    assert_int_equal (pingyi_send_sent (s), 5 * 4 + 3);
    /*  None left pending: the batch is dropped, no SUBMIT, no tag used.  */
    f->done[0] = f->done[2] = f->done[4] = true;
    size_t calls = f->calls;
    assert_int_equal (pingyi_send_service (s, now + 10000), 0);
    assert_int_equal (f->calls, calls);
    assert_int_equal (pingyi_send_inflight (s), 0);
    assert_false (pingyi_send_outstanding (s));
    assert_int_equal (pingyi_send_tag (s), 105);
    pingyi_send_destroy (&s);
    free (f);
}

static void
test_retry_waits_at_least_retry_ms (void **state)
{
    (void) state;
    /*  The delay alone, over many draws: within +-20 % of retry_ms doubled
        per RETRY after the first (capped at 10 s), never below retry_ms.  */
    for (int i = 0; i < 2000; i++) {
        unsigned retries = 1 + (unsigned) (i % 9);
        uint32_t retry_ms = (uint32_t[]){0, 100, 500, 2000, 9000, 30000}[i % 6];
        int64_t base = retry_ms ? retry_ms : 100;
        for (unsigned r = 1; r < retries && base < 10000; r++)
            base *= 2;
        if (base > 10000)
            base = 10000;
        int64_t d = pingyi_send_retry_delay (retry_ms, retries);
        assert_true (d >= (int64_t) retry_ms);
        assert_true (d >= base * 80 / 100 || d == (int64_t) retry_ms);
        assert_true (d <= base * 120 / 100 || d == (int64_t) retry_ms);
    }

    fake_t *f = calloc (1, sizeof *f);
    pingyi_send_t *s = pingyi_send_new (10, 10, 3000, 1, fake_send, f);
    queue_ids (s, 0, 4);
    assert_int_equal (pingyi_send_fill (s, 0), 0);
    /*  Unknown tag: nothing changes.  */
    assert_false (pingyi_send_retry (s, 99, 5000, 0));
    assert_true (pingyi_send_retry (s, 1, 5000, 0));
    /*  Held back by a RETRY: not outstanding (the broker answered), and
        a second RETRY for the old tag matches nothing.  */
    assert_false (pingyi_send_outstanding (s));
    assert_false (pingyi_send_retry (s, 1, 5000, 0));
    int64_t due = pingyi_send_next_due (s, INT64_MAX);
    assert_true (due >= 5000 && due <= 6000);
    assert_int_equal (pingyi_send_service (s, 4999), 0);
    assert_int_equal (f->calls, 1);
    assert_int_equal (pingyi_send_service (s, due), 0);
    assert_int_equal (f->calls, 2);
    assert_int_equal (f->tags[1], 2);
    /*  A second RETRY of the batch: doubled.  */
    assert_true (pingyi_send_retry (s, 2, 5000, due));
    int64_t due2 = pingyi_send_next_due (s, INT64_MAX);
    assert_true (due2 - due >= 8000 && due2 - due <= 12000);
    pingyi_send_destroy (&s);
    free (f);
}

static void
test_ack_unknown_tag_ignored_and_counted (void **state)
{
    (void) state;
    fake_t *f = calloc (1, sizeof *f);
    pingyi_send_t *s = pingyi_send_new (8, 4, 3000, 50, fake_send, f);
    queue_ids (s, 0, 8);
    assert_int_equal (pingyi_send_fill (s, 0), 0);
    assert_int_equal (f->calls, 2);
    assert_int_equal (pingyi_send_ack (s, 12345, fake_pending, f), 1);
    assert_int_equal (pingyi_send_ack (s, 0, fake_pending, f), 1);
    assert_int_equal (pingyi_send_stale_acks (s), 2);
    assert_int_equal (pingyi_send_inflight (s), 8);
    assert_int_equal (pingyi_send_queued (s), 0);
    /*  An ack covering part of batch 50: the rest goes back to the queue
        and is sent again in the next fill.  */
    f->done[0] = f->done[1] = f->done[2] = true;
    assert_int_equal (pingyi_send_ack (s, 50, fake_pending, f), 0);
    assert_int_equal (pingyi_send_inflight (s), 4);
    assert_int_equal (pingyi_send_queued (s), 1);
    /*  Its tag is gone: the same ack again is stale.  */
    assert_int_equal (pingyi_send_ack (s, 50, fake_pending, f), 1);
    assert_int_equal (pingyi_send_stale_acks (s), 3);
    assert_int_equal (pingyi_send_fill (s, 1), 0);
    assert_int_equal (f->calls, 3);
    assert_int_equal (f->counts[2], 1);
    assert_int_equal (f->first[2], 3);
    assert_int_equal (f->tags[2], 52);
    pingyi_send_destroy (&s);
    free (f);
}

static void
test_no_connection_tries_again (void **state)
{
    (void) state;
    fake_t *f = calloc (1, sizeof *f);
    f->result = 1;
    pingyi_send_t *s = pingyi_send_new (100, 10, 3000, 1, fake_send, f);
    queue_ids (s, 0, 50);
    assert_int_equal (pingyi_send_fill (s, 500), 0);
    /*  The first batch could not go: the rest waits in the queue.  */
    assert_int_equal (pingyi_send_inflight (s), 10);
    assert_int_equal (pingyi_send_queued (s), 40);
    assert_true (pingyi_send_outstanding (s)); /* waiting for a connection counts */
    assert_int_equal (pingyi_send_next_due (s, INT64_MAX), 500 + PINGYI_SEND_STALL_MS);
    assert_int_equal (pingyi_send_sent (s), 0);
    f->result = 0;
    assert_int_equal (pingyi_send_service (s, 600), 0);
    assert_int_equal (f->calls, 1);
    /*  Sent first time (no timeout before): the full timeout follows.  */
    assert_int_equal (pingyi_send_next_due (s, INT64_MAX), 3600);
    /*  A failover sends everything in flight again, now.  */
    pingyi_send_resend_all (s, 700);
    assert_int_equal (pingyi_send_next_due (s, INT64_MAX), 700);
    assert_int_equal (pingyi_send_service (s, 700), 0);
    assert_int_equal (f->calls, 2);
    pingyi_send_destroy (&s);
    free (f);
}

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_window_never_exceeds_its_size),
        cmocka_unit_test (test_timeout_backoff),
        cmocka_unit_test (test_retry_waits_at_least_retry_ms),
        cmocka_unit_test (test_ack_unknown_tag_ignored_and_counted),
        cmocka_unit_test (test_no_connection_tries_again),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
