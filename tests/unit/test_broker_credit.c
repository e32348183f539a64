/*  test_broker_credit.c — the broker's byte credit (broker/credit.h): the
    limit is 48 MB less 40 KB per open connection, never below 8 MB nor
    above 40 MB; a SUBMIT waits only when its worker already owes and the
    lending would pass the limit; each answer repays exactly its ticket's
    bytes, to the connection it went to, never more than owed; a dropped or
    overdue worker's debt is written off, and a late answer after that
    cannot underflow the sums.  Numbers are written out, not computed from
    the header's constants.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../broker/credit.c"
#include "../../broker/routes.c"

#define MB (UINT64_C (1) << 20)
#define KB (UINT64_C (1) << 10)

static pingyi_credit_t
t_with_connections (uint64_t n)
{
    pingyi_credit_t c = {0};
    for (uint64_t i = 0; i < n; i++)
        pingyi_credit_connected (&c);
    return c;
}

static void
test_credit_limit_is_48mb_less_40kb_per_connection_clamped_8_to_40mb (void **state)
{
    (void) state;
    struct {
        uint64_t connections, limit;
    } cases[] = {
        {0, 40 * MB},            /* 48 MB left: clamped to 40 */
        {1, 40 * MB},            /* 48 MB − 40 KB */
        {204, 40 * MB},          /* 48 MB − 8160 KB = 40 MB + 32 KB: clamped */
        {205, 40 * MB - 8 * KB}, /* the first below the ceiling */
        {206, 40 * MB - 48 * KB},
        {1000, 48 * MB - 40000 * KB}, /* 9,371,648 bytes */
        {1024, 8 * MB},               /* exactly 8 MB */
        {1025, 8 * MB},               /* below the floor: clamped */
        {1200, 8 * MB},               /* 1,200 venues */
        {1258, 8 * MB},               /* 48 MB − 50320 KB < 0: the budget is gone */
        {1000000, 8 * MB},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pingyi_credit_t c = t_with_connections (cases[i].connections);
        assert_int_equal (c.connections, cases[i].connections);
        assert_int_equal (pingyi_credit_limit (&c), cases[i].limit);
    }
    pingyi_credit_t c = t_with_connections (1000);
    assert_int_equal (pingyi_credit_limit (&c), 9371648);
}

static void
test_credit_counts_connections_never_below_zero (void **state)
{
    (void) state;
    pingyi_credit_t c = t_with_connections (206);
    assert_int_equal (pingyi_credit_limit (&c), 40 * MB - 48 * KB);
    assert_true (pingyi_credit_disconnected (&c));
    assert_int_equal (c.connections, 205);
    assert_int_equal (pingyi_credit_limit (&c), 40 * MB - 8 * KB);
    assert_true (pingyi_credit_disconnected (&c));
    assert_int_equal (pingyi_credit_limit (&c), 40 * MB);
    pingyi_credit_t z = {0};
    assert_false (pingyi_credit_disconnected (&z)); /* a disconnect never seen connecting */
    assert_int_equal (z.connections, 0);
    assert_int_equal (pingyi_credit_limit (&z), 40 * MB);
}

static void
test_credit_lends_and_refuses_past_the_limit_unless_the_worker_owes_nothing (void **state)
{
    (void) state;
    pingyi_credit_t c = t_with_connections (1024); /* limit 8 MB */
    pingyi_route_t w1 = {.serial = 1}, w2 = {.serial = 2};
    /* a worker that owes nothing always gets its SUBMIT, whatever its size */
    assert_false (pingyi_credit_refuses (&c, &w1, 100 * MB));
    pingyi_credit_lend (&c, &w1, 6 * MB, 5000);
    assert_int_equal (w1.owed_bytes, 6 * MB);
    assert_int_equal (w1.last_answer_ms, 5000); /* the forgiveness clock starts with the debt */
    assert_int_equal (c.bytes, 6 * MB);
    /* w1 owes: 6 MB + 2 MB is the limit exactly, one byte more is not */
    assert_false (pingyi_credit_refuses (&c, &w1, 2 * MB));
    assert_true (pingyi_credit_refuses (&c, &w1, 2 * MB + 1));
    /* w2 owes nothing: it gets even what would overdraw the credit */
    assert_false (pingyi_credit_refuses (&c, &w2, 3 * MB));
    pingyi_credit_lend (&c, &w2, 3 * MB, 5100);
    assert_int_equal (c.bytes, 9 * MB); /* over the limit, by design */
    assert_true (pingyi_credit_refuses (&c, &w2, 1));
    assert_true (pingyi_credit_refuses (&c, &w1, 1));
    /* lending again does not restart the clock */
    pingyi_credit_lend (&c, &w1, 10, 7000);
    assert_int_equal (w1.owed_bytes, 6 * MB + 10);
    assert_int_equal (w1.last_answer_ms, 5000);
    assert_int_equal (c.bytes, 9 * MB + 10);
    /* fewer connections, a larger credit: the same debt now fits */
    while (c.connections > 204)
        assert_true (pingyi_credit_disconnected (&c));
    assert_false (pingyi_credit_refuses (&c, &w1, 31 * MB - 10));
    assert_true (pingyi_credit_refuses (&c, &w1, 31 * MB - 9));
}

/*  The answer to a SUBMIT ticket of `bytes` forwarded to connection
    `serial`, through w (NULL: an expiry) at now.  */
static void
t_repay (pingyi_credit_t *c, pingyi_routes_t *r, pingyi_route_t *w, uint64_t serial, uint32_t bytes,
         int64_t now)
{
    pingyi_ticket_t t = {.ticket = 1, .worker = serial, .bytes = bytes};
    pingyi_credit_repay (c, r, w, &t, now);
}

/*  w owes `owed`, its last answer at `clock`; all workers owe `total`.  */
static void
t_owes (const pingyi_credit_t *c, const pingyi_route_t *w, uint64_t owed, int64_t clock, uint64_t total)
{
    assert_int_equal (w->owed_bytes, owed);
    assert_int_equal (w->last_answer_ms, clock);
    assert_int_equal (c->bytes, total);
}

static void
test_credit_repays_each_ticket_exactly_to_the_connection_it_went_to (void **state)
{
    (void) state;
    pingyi_routes_t *r = pingyi_routes_new (2);
    assert_non_null (r);
    uint32_t s0[] = {0}, s1[] = {1};
    pingyi_route_t *w1 = pingyi_routes_claim (r, (const uint8_t *) "id-1", 4, "1", s0, 1, 1000);
    pingyi_route_t *w2 = pingyi_routes_claim (r, (const uint8_t *) "id-2", 4, "2", s1, 1, 1000);
    assert_non_null (w1);
    assert_non_null (w2);
    pingyi_credit_t c = {0};
    pingyi_credit_lend (&c, w1, 3000, 1000);
    pingyi_credit_lend (&c, w1, 2000, 1001);
    pingyi_credit_lend (&c, w2, 700, 1002);
    assert_int_equal (c.bytes, 5700);

    /* an answer through w1 (the REPLY path names the worker) */
    t_repay (&c, r, w1, w1->serial, 3000, 2000);
    t_owes (&c, w1, 2000, 2000, 2700);
    /* an expiry: w NULL, looked up by serial; now 0 leaves the clock */
    t_repay (&c, r, NULL, w2->serial, 700, 0);
    t_owes (&c, w2, 0, 1002, 2000);
    /* a ticket of another connection through w1 repays nothing */
    t_repay (&c, r, w1, w2->serial, 500, 3000);
    t_owes (&c, w1, 2000, 2000, 2000);
    /* a ticket that lent nothing (a query) repays nothing, not even the clock */
    t_repay (&c, r, w1, w1->serial, 0, 3000);
    t_owes (&c, w1, 2000, 2000, 2000);
    /* never more than owed */
    t_repay (&c, r, NULL, w1->serial, 9999, 4000);
    t_owes (&c, w1, 0, 4000, 0);
    /* a connection no longer live: nothing to repay */
    t_repay (&c, r, NULL, 12345, 10, 5000);
    assert_int_equal (c.bytes, 0);
    pingyi_routes_destroy (&r);
}

static void
test_credit_forgives_an_overdue_worker_after_5_s (void **state)
{
    (void) state;
    pingyi_credit_t c = {0};
    pingyi_route_t w = {.serial = 7}, idle = {.serial = 8};
    assert_false (pingyi_credit_overdue (&idle, 1000000)); /* owes nothing: never overdue */
    pingyi_credit_lend (&c, &w, 4096, 10000);
    pingyi_credit_lend (&c, &idle, 1, 10000);
    pingyi_credit_repay (&c, NULL, &idle, &(pingyi_ticket_t){.worker = 8, .bytes = 1}, 10001);
    assert_false (pingyi_credit_overdue (&w, 15000)); /* exactly 5 s: not yet */
    assert_true (pingyi_credit_overdue (&w, 15001));
    pingyi_credit_forgive (&c, &w);
    assert_int_equal (w.owed_bytes, 0);
    assert_int_equal (c.bytes, 0);
    assert_false (pingyi_credit_overdue (&w, 99999));
    /* the late answer of a forgiven SUBMIT repays nothing and underflows nothing */
    pingyi_credit_repay (&c, NULL, &w, &(pingyi_ticket_t){.worker = 7, .bytes = 4096}, 20000);
    assert_int_equal (w.owed_bytes, 0);
    assert_int_equal (c.bytes, 0);
}

typedef struct {
    pingyi_credit_t credit;
    size_t drops;
} t_broker_t;

static void
t_on_drop (pingyi_route_t *w, bool displaced, void *arg)
{
    (void) displaced;
    t_broker_t *b = arg;
    b->drops++;
    pingyi_credit_forgive (&b->credit, w);
}

static void
test_credit_forgives_a_dropped_worker_and_not_its_successor (void **state)
{
    (void) state;
    pingyi_routes_t *r = pingyi_routes_new (1);
    assert_non_null (r);
    t_broker_t b = {0};
    pingyi_routes_on_drop (r, t_on_drop, &b);
    uint32_t s0[] = {0};
    pingyi_route_t *w1 = pingyi_routes_claim (r, (const uint8_t *) "a", 1, "1", s0, 1, 1000);
    pingyi_route_t *w2 = pingyi_routes_claim (r, (const uint8_t *) "b", 1, "2", s0, 1, 1000);
    assert_non_null (w1);
    assert_non_null (w2);
    pingyi_credit_lend (&b.credit, w1, 1500, 1000);
    pingyi_credit_lend (&b.credit, w2, 250, 1000);
    uint64_t old = w1->serial;
    pingyi_routes_drop (r, w1);
    assert_int_equal (b.drops, 1);
    assert_int_equal (b.credit.bytes, 250);
    /* the same worker back on a new connection: its old tickets are not its */
    pingyi_route_t *w1b = pingyi_routes_claim (r, (const uint8_t *) "c", 1, "1", s0, 1, 2000);
    assert_non_null (w1b);
    assert_int_not_equal (w1b->serial, old);
    assert_int_equal (w1b->owed_bytes, 0);
    pingyi_credit_lend (&b.credit, w1b, 100, 2000);
    pingyi_credit_repay (&b.credit, r, NULL, &(pingyi_ticket_t){.worker = old, .bytes = 1500}, 2100);
    assert_int_equal (w1b->owed_bytes, 100);
    assert_int_equal (b.credit.bytes, 350);
    pingyi_routes_destroy (&r);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_credit_limit_is_48mb_less_40kb_per_connection_clamped_8_to_40mb),
        cmocka_unit_test (test_credit_counts_connections_never_below_zero),
        cmocka_unit_test (test_credit_lends_and_refuses_past_the_limit_unless_the_worker_owes_nothing),
        cmocka_unit_test (test_credit_repays_each_ticket_exactly_to_the_connection_it_went_to),
        cmocka_unit_test (test_credit_forgives_an_overdue_worker_after_5_s),
        cmocka_unit_test (test_credit_forgives_a_dropped_worker_and_not_its_successor),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
