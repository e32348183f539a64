/*  test_routes.c — the broker's soft shard table: claims, the newest HELLO
    winning, expiry of silent workers, the keyring's shard assignment, one
    connection per worker key (displacement), a standby's shard falling
    back, the drop hook, ownership healing when an owner leaves or drops a
    shard from its list (issue 11), exact expiry, and the User-Id parse.  */
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

static pingyi_keyring_entry_t
worker_entry (const char *name, uint32_t from, uint32_t to)
{
    pingyi_keyring_entry_t e;
    memset (&e, 0, sizeof e);
    e.role = PINGYI_ROLE_WORKER;
    snprintf (e.name, sizeof e.name, "%s", name);
    for (uint32_t s = from; s <= to; s++)
        e.shards[s / 8] |= (uint8_t) (1u << (s % 8));
    return e;
}

/*  A HELLO may list only shards the keyring assigns to the key.  */
static void
test_check_assigned (void **state)
{
    (void) state;
    pingyi_keyring_entry_t w1 = worker_entry ("1", 0, 3);
    uint32_t bad = 999;
    uint32_t own[] = {0, 1, 2, 3}, some[] = {3, 1}, theirs[] = {1, 5, 6}, beyond[] = {0, 8};
    assert_int_equal (pingyi_routes_check_assigned (&w1, own, 4, 8, &bad), 0);
    assert_int_equal (pingyi_routes_check_assigned (&w1, some, 2, 8, &bad), 0);
    assert_int_equal (pingyi_routes_check_assigned (&w1, NULL, 0, 8, &bad),
                      0); /* owning nothing is allowed */
    assert_int_equal (pingyi_routes_check_assigned (&w1, theirs, 3, 8, &bad), -1);
    assert_int_equal (bad, 5); /* the first one not assigned */
    /* assigned in the keyring but not a shard of this election */
    pingyi_keyring_entry_t wide = worker_entry ("1", 0, 15);
    assert_int_equal (pingyi_routes_check_assigned (&wide, beyond, 2, 8, &bad), -1);
    assert_int_equal (bad, 8);
    /* no keyring entry, or not a worker's: nothing is assigned */
    assert_int_equal (pingyi_routes_check_assigned (NULL, own, 1, 8, &bad), -1);
    pingyi_keyring_entry_t venue = worker_entry ("v01", 0, 7);
    venue.role = PINGYI_ROLE_VENUE;
    assert_int_equal (pingyi_routes_check_assigned (&venue, own, 1, 8, &bad), -1);
    assert_int_equal (bad, 0);
}

typedef struct {
    size_t calls;
    uint64_t serial;
    bool was_alive;
    bool displaced;
} dropped_t;

static void
on_drop (pingyi_route_t *w, bool displaced, void *arg)
{
    dropped_t *d = arg;
    d->calls++;
    d->serial = w->serial;
    d->was_alive = w->alive;
    d->displaced = displaced;
}

/*  One connection per key: a second connection with worker 2's key takes
    its shards; the first is displaced (remembered, so its heartbeats are
    recognised) and the hook sees it go.  When it says HELLO again it takes
    them back.  Displaced records are forgotten after a while.  */
static void
test_displace (void **state)
{
    (void) state;
    pingyi_routes_t *r = pingyi_routes_new (8);
    dropped_t d = {0};
    pingyi_routes_on_drop (r, on_drop, &d);
    uint32_t a[] = {0, 1, 2, 3}, b[] = {4, 5, 6, 7};
    pingyi_route_t *w1 = pingyi_routes_claim (r, (const uint8_t *) "id-1", 4, "1", a, 4, 1000);
    pingyi_route_t *real = pingyi_routes_claim (r, (const uint8_t *) "real", 4, "2", b, 4, 1000);
    uint64_t real_serial = real->serial;
    assert_true (w1->serial != real_serial);
    assert_ptr_equal (pingyi_routes_by_serial (r, real_serial), real);
    assert_ptr_equal (pingyi_routes_named (r, "2"), real);

    /* the thief: the broker displaces the named connection, then claims */
    pingyi_route_t *old = pingyi_routes_named (r, "2");
    pingyi_routes_displace (r, old, 2000);
    assert_int_equal (d.calls, 1);
    assert_int_equal (d.serial, real_serial);
    assert_true (d.was_alive); /* the hook runs before the slot is cleared */
    assert_true (d.displaced);
    pingyi_route_t *thief = pingyi_routes_claim (r, (const uint8_t *) "thief", 5, "2", b, 4, 2000);
    assert_int_equal (d.calls, 1); /* nothing else dropped */
    for (uint32_t s = 4; s < 8; s++)
        assert_ptr_equal (pingyi_routes_owner (r, s), thief);
    assert_null (pingyi_routes_worker (r, (const uint8_t *) "real", 4));
    assert_null (pingyi_routes_by_serial (r, real_serial));
    const pingyi_route_t *ghost = pingyi_routes_displaced (r, (const uint8_t *) "real", 4, 2500);
    assert_non_null (ghost);
    assert_string_equal (ghost->name, "2");
    assert_null (pingyi_routes_displaced (r, (const uint8_t *) "thief", 5, 2500));
    assert_ptr_equal (pingyi_routes_displaced_named (r, "2", 2500), ghost);
    assert_null (pingyi_routes_displaced_named (r, "1", 2500));
    assert_null (pingyi_routes_displaced_named (r, "2", 2001 + PINGYI_ROUTES_DISPLACED_MS));
    assert_int_equal (pingyi_routes_live (r), 2);

    /* the real worker fights back: its HELLO on the same connection */
    pingyi_routes_displace (r, pingyi_routes_named (r, "2"), 12000);
    pingyi_route_t *back = pingyi_routes_claim (r, (const uint8_t *) "real", 4, "2", b, 4, 12000);
    assert_non_null (back);
    assert_true (back->serial != real_serial); /* a new registration: old tickets do not match it */
    for (uint32_t s = 4; s < 8; s++)
        assert_ptr_equal (pingyi_routes_owner (r, s), back);
    assert_null (pingyi_routes_displaced (r, (const uint8_t *) "real", 4, 12000));
    assert_non_null (pingyi_routes_displaced (r, (const uint8_t *) "thief", 5, 12000));
    /* forgotten after PINGYI_ROUTES_DISPLACED_MS */
    assert_null (
        pingyi_routes_displaced (r, (const uint8_t *) "thief", 5, 12001 + PINGYI_ROUTES_DISPLACED_MS));
    back->last_seen_ms = w1->last_seen_ms = 12000 + PINGYI_ROUTES_DISPLACED_MS;
    pingyi_routes_expire (r, 12001 + PINGYI_ROUTES_DISPLACED_MS, 3000);
    assert_null (pingyi_routes_displaced (r, (const uint8_t *) "thief", 5, 12000));
    assert_int_equal (pingyi_routes_covered (r), 8);

    /* a same-name claim on a new connection without displacing first
       still leaves one connection per key, and the hook hears of it */
    size_t calls = d.calls;
    pingyi_routes_claim (r, (const uint8_t *) "again", 5, "2", b, 4, 50000);
    assert_int_equal (d.calls, calls + 1);
    assert_true (d.displaced);
    assert_int_equal (pingyi_routes_live (r), 2);
    assert_non_null (pingyi_routes_displaced (r, (const uint8_t *) "real", 4, 50000));
    /* an ordinary drop says so (the broker then calls the displaced one back) */
    pingyi_routes_drop (r, pingyi_routes_named (r, "2"));
    assert_false (d.displaced);
    pingyi_routes_destroy (&r);
}

/*  Two keys assigned one shard (a standby): the newest HELLO owns it; when
    that worker goes, the shard falls back to the other, which still lists
    it, instead of staying unowned while a worker for it is alive.  */
static void
test_standby_fallback (void **state)
{
    (void) state;
    pingyi_routes_t *r = pingyi_routes_new (4);
    uint32_t all[] = {0, 1, 2, 3}, two[] = {2};
    pingyi_route_t *primary = pingyi_routes_claim (r, (const uint8_t *) "p", 1, "1", all, 4, 1000);
    pingyi_route_t *standby = pingyi_routes_claim (r, (const uint8_t *) "s", 1, "3", two, 1, 1100);
    assert_ptr_equal (pingyi_routes_owner (r, 2), standby);
    assert_ptr_equal (pingyi_routes_owner (r, 3), primary);
    pingyi_routes_drop (r, standby);
    assert_ptr_equal (pingyi_routes_owner (r, 2), primary);
    assert_int_equal (pingyi_routes_covered (r), 4);
    /* and back: the standby's newer HELLO wins again; listing nothing
       hands the shard back to the primary */
    standby = pingyi_routes_claim (r, (const uint8_t *) "s", 1, "3", two, 1, 1200);
    assert_ptr_equal (pingyi_routes_owner (r, 2), standby);
    pingyi_routes_claim (r, (const uint8_t *) "s", 1, "3", NULL, 0, 1300);
    assert_ptr_equal (pingyi_routes_owner (r, 2), primary);
    /* expiry too: the primary silent, the standby takes what it lists */
    standby = pingyi_routes_claim (r, (const uint8_t *) "s", 1, "3", two, 1, 5000);
    primary->last_seen_ms = 1000;
    assert_int_equal (pingyi_routes_expire (r, 5000, 3000), 1);
    assert_ptr_equal (pingyi_routes_owner (r, 2), standby);
    assert_null (pingyi_routes_owner (r, 0));
    assert_int_equal (pingyi_routes_covered (r), 1);
    pingyi_routes_destroy (&r);
}

/*  Issue 11, orphaned shards: worker 1 lists 0-3; worker 2, assigned every
    shard, is started by mistake listing 0-7 (its HELLO takes 0-3), then
    lists 4-7 again — by a new HELLO on its connection, or restarted on a
    new one, or it goes — and each time 0-3 are worker 1's at once, never
    unowned while worker 1 is alive.  */
static void
test_owner_left_heals (void **state)
{
    (void) state;
    pingyi_routes_t *r = pingyi_routes_new (8);
    uint32_t low[] = {0, 1, 2, 3}, all[] = {0, 1, 2, 3, 4, 5, 6, 7}, high[] = {4, 5, 6, 7};
    pingyi_route_t *w1 = pingyi_routes_claim (r, (const uint8_t *) "w1", 2, "1", low, 4, 1000);
    pingyi_route_t *w2 = pingyi_routes_claim (r, (const uint8_t *) "w2", 2, "2", all, 8, 1100);
    for (uint32_t s = 0; s < 8; s++)
        assert_ptr_equal (pingyi_routes_owner (r, s), w2);
    /* a new HELLO on the same connection drops 0-3 from its list */
    assert_ptr_equal (pingyi_routes_claim (r, (const uint8_t *) "w2", 2, "2", high, 4, 1200), w2);
    for (uint32_t s = 0; s < 4; s++)
        assert_ptr_equal (pingyi_routes_owner (r, s), w1);
    for (uint32_t s = 4; s < 8; s++)
        assert_ptr_equal (pingyi_routes_owner (r, s), w2);
    /* 0-7 again, then restarted with 4-7: a new connection with its key
       (the broker displaces the old one first, as handle_hello does) */
    pingyi_routes_claim (r, (const uint8_t *) "w2", 2, "2", all, 8, 1300);
    assert_ptr_equal (pingyi_routes_owner (r, 0), w2);
    pingyi_routes_displace (r, pingyi_routes_named (r, "2"), 1400);
    for (uint32_t s = 0; s < 4; s++)
        assert_ptr_equal (pingyi_routes_owner (r, s), w1);
    for (uint32_t s = 4; s < 8; s++)
        assert_null (pingyi_routes_owner (r, s));
    pingyi_route_t *w2b = pingyi_routes_claim (r, (const uint8_t *) "w2b", 3, "2", high, 4, 1400);
    for (uint32_t s = 0; s < 4; s++)
        assert_ptr_equal (pingyi_routes_owner (r, s), w1);
    for (uint32_t s = 4; s < 8; s++)
        assert_ptr_equal (pingyi_routes_owner (r, s), w2b);
    assert_int_equal (pingyi_routes_covered (r), 8);
    /* 0-7 on the new connection, and it goes (unreachable) */
    pingyi_routes_claim (r, (const uint8_t *) "w2b", 3, "2", all, 8, 1500);
    assert_ptr_equal (pingyi_routes_owner (r, 2), w2b);
    pingyi_routes_drop (r, w2b);
    for (uint32_t s = 0; s < 4; s++)
        assert_ptr_equal (pingyi_routes_owner (r, s), w1);
    assert_int_equal (pingyi_routes_covered (r), 4);
    pingyi_routes_destroy (&r);
}

/*  Three workers list shard 0: when its owner goes it falls to the live
    one whose HELLO listing it is the newest; a worker that does not list
    it never gets it, even if it said HELLO later.  */
static void
test_fallback_order (void **state)
{
    (void) state;
    pingyi_routes_t *r = pingyi_routes_new (2);
    uint32_t zero[] = {0}, one[] = {1};
    pingyi_route_t *a = pingyi_routes_claim (r, (const uint8_t *) "a", 1, "1", zero, 1, 1000);
    pingyi_route_t *b = pingyi_routes_claim (r, (const uint8_t *) "b", 1, "2", zero, 1, 1100);
    pingyi_route_t *c = pingyi_routes_claim (r, (const uint8_t *) "c", 1, "3", zero, 1, 1200);
    pingyi_route_t *d = pingyi_routes_claim (r, (const uint8_t *) "d", 1, "4", one, 1, 1300);
    assert_ptr_equal (pingyi_routes_owner (r, 0), c);
    pingyi_routes_drop (r, c);
    assert_ptr_equal (pingyi_routes_owner (r, 0), b);
    /* a says HELLO again: the newest listing it now */
    pingyi_routes_claim (r, (const uint8_t *) "a", 1, "1", zero, 1, 1400);
    assert_ptr_equal (pingyi_routes_owner (r, 0), a);
    pingyi_routes_drop (r, a);
    assert_ptr_equal (pingyi_routes_owner (r, 0), b);
    pingyi_routes_drop (r, b);
    assert_null (pingyi_routes_owner (r, 0)); /* d never listed it */
    assert_ptr_equal (pingyi_routes_owner (r, 1), d);
    pingyi_routes_destroy (&r);
}

/*  A silent owner is due for expiry exactly one timeout after its last
    word (the broker wakes then), and its shards fall back at that call.  */
static void
test_next_expiry (void **state)
{
    (void) state;
    pingyi_routes_t *r = pingyi_routes_new (4);
    assert_true (pingyi_routes_next_expiry (r, 3000) == INT64_MAX); /* no worker */
    uint32_t low[] = {0, 1}, all[] = {0, 1, 2, 3};
    pingyi_route_t *w1 = pingyi_routes_claim (r, (const uint8_t *) "w1", 2, "1", low, 2, 1000);
    pingyi_route_t *w2 = pingyi_routes_claim (r, (const uint8_t *) "w2", 2, "2", all, 4, 1000);
    w1->last_seen_ms = 2500; /* heartbeats */
    w2->last_seen_ms = 2200; /* then hangs */
    assert_true (pingyi_routes_next_expiry (r, 3000) == 5201);
    assert_int_equal (pingyi_routes_expire (r, 5200, 3000), 0);
    assert_ptr_equal (pingyi_routes_owner (r, 0), w2);
    assert_int_equal (pingyi_routes_expire (r, 5201, 3000), 1);
    assert_ptr_equal (pingyi_routes_owner (r, 0), w1);
    assert_ptr_equal (pingyi_routes_owner (r, 1), w1);
    assert_null (pingyi_routes_owner (r, 2));
    assert_true (pingyi_routes_next_expiry (r, 3000) == 5501);
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
        cmocka_unit_test (test_claim_and_owner), cmocka_unit_test (test_restart_newest_wins),
        cmocka_unit_test (test_expire_silent),   cmocka_unit_test (test_check_assigned),
        cmocka_unit_test (test_displace),        cmocka_unit_test (test_standby_fallback),
        cmocka_unit_test (test_owner_left_heals), cmocka_unit_test (test_fallback_order),
        cmocka_unit_test (test_next_expiry),     cmocka_unit_test (test_user_id_parse),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
