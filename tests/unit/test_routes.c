/*  test_routes.c — the broker's soft shard table: claims, the newest HELLO
    winning, expiry of silent workers, and the User-Id parse.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "../../broker/routes.c"
#include "../../broker/zap.c"

static void
test_claim_and_owner (void **state)
{
    (void) state;
    pingyi_routes_t *r = pingyi_routes_new (8);
    uint32_t a[] = {0, 1, 2, 3}, b[] = {4, 5, 6, 7};
    pingyi_route_t *w1 = pingyi_routes_claim (r, (const uint8_t *) "id-1", 4, "1", a, 4, 1000);
    pingyi_route_t *w2 = pingyi_routes_claim (r, (const uint8_t *) "id-2", 4, "2", b, 4, 1000);
    assert_non_null (w1);
    assert_non_null (w2);
    for (uint32_t s = 0; s < 4; s++)
        assert_ptr_equal (pingyi_routes_owner (r, s), w1);
    for (uint32_t s = 4; s < 8; s++)
        assert_ptr_equal (pingyi_routes_owner (r, s), w2);
    assert_null (pingyi_routes_owner (r, 8)); /* out of range */
    assert_int_equal (pingyi_routes_live (r), 2);
    assert_int_equal (pingyi_routes_covered (r), 8);
    assert_ptr_equal (pingyi_routes_worker (r, (const uint8_t *) "id-2", 4), w2);
    assert_null (pingyi_routes_worker (r, (const uint8_t *) "id-3", 4));
    pingyi_routes_destroy (&r);
    assert_null (r);
    pingyi_routes_destroy (&r); /* safe twice */
}

/*  A worker that restarts comes back on a new routing id with the same
    name: it takes its shards at once and the old connection is forgotten.  */
static void
test_restart_newest_wins (void **state)
{
    (void) state;
    pingyi_routes_t *r = pingyi_routes_new (4);
    uint32_t all[] = {0, 1, 2, 3};
    pingyi_routes_claim (r, (const uint8_t *) "old", 3, "1", all, 4, 1000);
    pingyi_route_t *fresh = pingyi_routes_claim (r, (const uint8_t *) "new", 3, "1", all, 4, 1100);
    assert_int_equal (pingyi_routes_live (r), 1);
    assert_null (pingyi_routes_worker (r, (const uint8_t *) "old", 3));
    for (uint32_t s = 0; s < 4; s++)
        assert_ptr_equal (pingyi_routes_owner (r, s), fresh);
    /* Another worker claiming shard 2 takes it; the first keeps the rest. */
    uint32_t two[] = {2};
    pingyi_route_t *other = pingyi_routes_claim (r, (const uint8_t *) "w2", 2, "2", two, 1, 1200);
    assert_ptr_equal (pingyi_routes_owner (r, 2), other);
    assert_ptr_equal (pingyi_routes_owner (r, 3), fresh);
    /* A HELLO lists everything a worker owns: listing fewer releases the rest. */
    uint32_t zero[] = {0};
    pingyi_routes_claim (r, (const uint8_t *) "new", 3, "1", zero, 1, 1300);
    assert_ptr_equal (pingyi_routes_owner (r, 0), fresh);
    assert_null (pingyi_routes_owner (r, 1));
    assert_null (pingyi_routes_owner (r, 3));
    pingyi_routes_destroy (&r);
}

static void
test_expire_silent (void **state)
{
    (void) state;
    pingyi_routes_t *r = pingyi_routes_new (2);
    uint32_t s0[] = {0}, s1[] = {1};
    pingyi_routes_claim (r, (const uint8_t *) "a", 1, "1", s0, 1, 1000);
    pingyi_route_t *b = pingyi_routes_claim (r, (const uint8_t *) "b", 1, "2", s1, 1, 1000);
    b->last_seen_ms = 3500;                                     /* b heartbeated later */
    assert_int_equal (pingyi_routes_expire (r, 4000, 3000), 0); /* 3000 ms exactly: still alive */
    assert_int_equal (pingyi_routes_expire (r, 4001, 3000), 1);
    assert_null (pingyi_routes_owner (r, 0));
    assert_ptr_equal (pingyi_routes_owner (r, 1), b);
    assert_int_equal (pingyi_routes_live (r), 1);
    assert_int_equal (pingyi_routes_covered (r), 1);
    pingyi_routes_destroy (&r);
}

static void
test_user_id_parse (void **state)
{
    (void) state;
    pingyi_role_t role;
    const char *name;
    size_t len;
    assert_true (pingyi_zap_user_parse ("venue:v01", &role, &name, &len));
    assert_int_equal (role, PINGYI_ROLE_VENUE);
    assert_int_equal (len, 3);
    assert_memory_equal (name, "v01", 3);
    assert_true (pingyi_zap_user_parse ("worker:2", &role, &name, &len));
    assert_int_equal (role, PINGYI_ROLE_WORKER);
    assert_false (pingyi_zap_user_parse (NULL, &role, &name, &len));
    assert_false (pingyi_zap_user_parse ("", &role, &name, &len));
    assert_false (pingyi_zap_user_parse ("venue", &role, &name, &len));
    assert_false (pingyi_zap_user_parse ("mayor:x", &role, &name, &len));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_claim_and_owner),
        cmocka_unit_test (test_restart_newest_wins),
        cmocka_unit_test (test_expire_silent),
        cmocka_unit_test (test_user_id_parse),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
