/*  test_monitor_msg.c — MONITOR_QUERY (18) and MONITOR (19): round trips,
    the worked bytes of docs/PROTOCOL.md, the decoder's refusals (arity,
    bounds, nil only where allowed, refusal names ascending, a shard listed
    twice), the page bound (the largest MONITOR fits a REPLY) and the k
    rounding helper of the broker.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "../../broker/monitor.h"

static void
expect_fail (const void *p, size_t len, const char *want)
{
    pingyi_msg_t m;
    char err[PINGYI_ERR_MAX] = "";
    assert_int_equal (pingyi_msg_decode (p, len, &m, err), -1);
    if (want)
        assert_string_equal (err, want);
}

static void
test_query_bytes (void **state)
{
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    pingyi_msg_monitor_query (&w, 1, 0);
    static const uint8_t want[] = {0x94, 0x03, 0x12, 0x01, 0x00};
    assert_int_equal (w.sbuf.size, sizeof want);
    assert_memory_equal (w.sbuf.data, want, sizeof want);
    pingyi_msg_t m;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_msg_decode ((const uint8_t *) w.sbuf.data, w.sbuf.size, &m, err), 0);
    assert_int_equal (m.type, PINGYI_MSG_MONITOR_QUERY);
    assert_int_equal (m.u.monitor_query.tag, 1);
    assert_int_equal (m.u.monitor_query.from, 0);
    assert_int_equal (pingyi_msg_tag ((const uint8_t *) w.sbuf.data, w.sbuf.size), 1);
    /* from 4096: 94 03 12 07 cd 10 00 */
    pingyi_msg_monitor_query (&w, 7, 4096);
    static const uint8_t want2[] = {0x94, 0x03, 0x12, 0x07, 0xcd, 0x10, 0x00};
    assert_int_equal (w.sbuf.size, sizeof want2);
    assert_memory_equal (w.sbuf.data, want2, sizeof want2);
    pingyi_writer_fini (&w);
    expect_fail ((const uint8_t[]){0x93, 0x03, 0x12, 0x01}, 4, "MONITOR_QUERY: expected 4 fields, got 3");
    expect_fail ((const uint8_t[]){0x94, 0x03, 0x12, 0x01, 0xff}, 5,
                 "MONITOR_QUERY.from: negative where uint expected");
    expect_fail ((const uint8_t[]){0x94, 0x03, 0x12, 0x01, 0xcf, 1, 0, 0, 0, 0, 0, 0, 0}, 13,
                 "MONITOR_QUERY.from: integer out of range");
    expect_fail ((const uint8_t[]){0x94, 0x03, 0x12, 0x01, 0xc0}, 5, "MONITOR_QUERY.from: expected uint, got nil");
}

/*  A MONITOR with every kind of item; hook lets a test change one thing.  */
static void
write_sample (pingyi_writer_t *w, int variant)
{
    static const uint32_t owned[3] = {0, 2, 255};
    static const uint32_t twice[2] = {4, 4};
    pingyi_msg_monitor_begin (w, 99, 3600000, "0.1.0 (git 1a2b3c4d)", 2);
    pingyi_msg_monitor_worker (w, "1", variant == 1 ? twice : owned, variant == 1 ? 2 : 3, true, 5, 123456,
                               800);
    pingyi_msg_monitor_worker (w, "工作机2", NULL, 0, false, 0, 7, -1);
    pingyi_msg_monitor_shards_begin (w, 3);
    pingyi_msg_monitor_shard (w, 0, "1", -1);
    pingyi_msg_monitor_shard (w, 1, NULL, 2500);
    pingyi_msg_monitor_shard (w, 2, "1", -1);
    pingyi_msg_monitor_refusals_begin (w, 3);
    pingyi_msg_monitor_refusal (w, "bad_messages", 2);
    pingyi_msg_monitor_refusal (w, variant == 2 ? "zzz" : "forbidden", 1);
    pingyi_msg_monitor_refusal (w, "retry_no_owner", 40);
    pingyi_msg_monitor_venues_begin (w, 2);
    pingyi_monitor_venue_t a = {.id = {"v01", 3}, .connected = true, .status = PINGYI_MONITOR_CLOSED,
                                .reopens = 1, .envelopes_in = 123, .accepted = 120, .duplicate = 2,
                                .rejected = 1, .retries = 3, .seen = true, .last_seen_ms = 61000};
    pingyi_monitor_venue_t b = {.id = {"第二会场", 12}, .status = PINGYI_MONITOR_UNSEEN};
    pingyi_msg_monitor_venue (w, &a);
    pingyi_msg_monitor_venue (w, &b);
    pingyi_msg_monitor_end (w, variant != 3, variant == 3 ? 0 : 4096);
}

static void
test_round_trip (void **state)
{
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    write_sample (&w, 0);
    pingyi_msg_t m;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_msg_decode ((const uint8_t *) w.sbuf.data, w.sbuf.size, &m, err), 0);
    assert_int_equal (m.type, PINGYI_MSG_MONITOR);
    assert_int_equal (m.u.monitor.tag, 99);
    assert_int_equal (pingyi_msg_tag ((const uint8_t *) w.sbuf.data, w.sbuf.size), 99);
    assert_int_equal (m.u.monitor.uptime_ms, 3600000);
    assert_int_equal (m.u.monitor.version.len, strlen ("0.1.0 (git 1a2b3c4d)"));
    assert_true (m.u.monitor.more);
    assert_int_equal (m.u.monitor.next, 4096);

    pingyi_monitor_worker_t wk;
    assert_true (pingyi_list_next_monitor_worker (&m.u.monitor.workers, &wk));
    assert_memory_equal (wk.name.p, "1", 1);
    assert_true (wk.live);
    assert_int_equal (wk.in_flight, 5);
    assert_int_equal (wk.envelopes_forwarded, 123456);
    assert_true (wk.heard);
    assert_int_equal (wk.heartbeat_ms, 800);
    uint64_t s, got[3];
    int n = 0;
    while (pingyi_list_next_uint (&wk.shards, &s))
        got[n++] = s;
    assert_int_equal (n, 3);
    assert_int_equal (got[2], 255);
    assert_true (pingyi_list_next_monitor_worker (&m.u.monitor.workers, &wk));
    assert_false (wk.live);
    assert_false (wk.heard);
    assert_int_equal (wk.shards.count, 0);
    assert_false (pingyi_list_next_monitor_worker (&m.u.monitor.workers, &wk));

    pingyi_monitor_shard_t sh;
    assert_true (pingyi_list_next_monitor_shard (&m.u.monitor.shards, &sh));
    assert_int_equal (sh.owner.len, 1);
    assert_false (sh.unowned);
    assert_true (pingyi_list_next_monitor_shard (&m.u.monitor.shards, &sh));
    assert_int_equal (sh.number, 1);
    assert_int_equal (sh.owner.len, 0);
    assert_true (sh.unowned);
    assert_int_equal (sh.unowned_ms, 2500);

    pingyi_stat_t r;
    const char *names[3] = {"bad_messages", "forbidden", "retry_no_owner"};
    for (int i = 0; i < 3; i++) {
        assert_true (pingyi_list_next_refusal (&m.u.monitor.refusals, &r));
        assert_int_equal (r.name.len, strlen (names[i]));
        assert_memory_equal (r.name.p, names[i], r.name.len);
    }
    assert_int_equal (r.value, 40);
    assert_false (pingyi_list_next_refusal (&m.u.monitor.refusals, &r));

    pingyi_monitor_venue_t v;
    assert_true (pingyi_list_next_monitor_venue (&m.u.monitor.venues, &v));
    assert_int_equal (v.status, PINGYI_MONITOR_CLOSED);
    assert_int_equal (v.reopens, 1);
    assert_int_equal (v.accepted, 120);
    assert_int_equal (v.retries, 3);
    assert_true (v.seen);
    assert_int_equal (v.last_seen_ms, 61000);
    assert_true (pingyi_list_next_monitor_venue (&m.u.monitor.venues, &v));
    assert_int_equal (v.id.len, 12);
    assert_false (v.seen);
    assert_false (v.connected);

    /* every cut is refused, and a trailing byte */
    for (size_t cut = 0; cut < w.sbuf.size; cut++) {
        uint8_t *copy = malloc (cut ? cut : 1);
        memcpy (copy, w.sbuf.data, cut);
        expect_fail (copy, cut, NULL);
        free (copy);
    }
    uint8_t *longer = malloc (w.sbuf.size + 1);
    memcpy (longer, w.sbuf.data, w.sbuf.size);
    longer[w.sbuf.size] = 0xc0;
    expect_fail (longer, w.sbuf.size + 1, "MONITOR: trailing bytes after message");
    free (longer);
    pingyi_writer_fini (&w);
}

static void
test_refusals (void **state)
{
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    write_sample (&w, 1);
    expect_fail (w.sbuf.data, w.sbuf.size, "MONITOR.workers[0].shards[1]: shard 4 listed twice");
    write_sample (&w, 2);
    expect_fail (w.sbuf.data, w.sbuf.size,
                 "MONITOR.refusals: retry_no_owner out of order (names ascend, each once)");
    /* next must be 0 when more is false */
    write_sample (&w, 3);
    pingyi_msg_t m;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_msg_decode ((const uint8_t *) w.sbuf.data, w.sbuf.size, &m, err), 0);
    uint8_t *p = malloc (w.sbuf.size);
    memcpy (p, w.sbuf.data, w.sbuf.size);
    assert_int_equal (p[w.sbuf.size - 2], 0xc2); /* more false, then next 0 */
    p[w.sbuf.size - 1] = 0x05;
    expect_fail (p, w.sbuf.size, "MONITOR.next: 5 although more is false (must be 0)");
    free (p);

    /* a shard with an owner and a number, or neither */
    pingyi_msg_monitor_begin (&w, 1, 0, "v", 0);
    pingyi_msg_monitor_shards_begin (&w, 1);
    msgpack_pack_array (&w.pk, 3);
    msgpack_pack_uint8 (&w.pk, 0);
    msgpack_pack_nil (&w.pk);
    msgpack_pack_nil (&w.pk);
    pingyi_msg_monitor_refusals_begin (&w, 0);
    pingyi_msg_monitor_venues_begin (&w, 0);
    pingyi_msg_monitor_end (&w, false, 0);
    expect_fail (w.sbuf.data, w.sbuf.size, "MONITOR.shards[0].unowned_ms: nil although the shard has no owner");

    /* nil where none is allowed: a venue's id */
    pingyi_msg_monitor_begin (&w, 1, 0, "v", 0);
    pingyi_msg_monitor_shards_begin (&w, 0);
    pingyi_msg_monitor_refusals_begin (&w, 0);
    pingyi_msg_monitor_venues_begin (&w, 1);
    msgpack_pack_array (&w.pk, 11);
    msgpack_pack_nil (&w.pk);
    for (int i = 0; i < 10; i++)
        msgpack_pack_uint8 (&w.pk, 0);
    pingyi_msg_monitor_end (&w, false, 0);
    expect_fail (w.sbuf.data, w.sbuf.size, "MONITOR.venues[0].id: expected str, got nil");

    /* a venue status out of range, and a venue of 10 fields */
    pingyi_msg_monitor_begin (&w, 1, 0, "v", 0);
    pingyi_msg_monitor_shards_begin (&w, 0);
    pingyi_msg_monitor_refusals_begin (&w, 0);
    pingyi_msg_monitor_venues_begin (&w, 1);
    msgpack_pack_array (&w.pk, 10);
    for (int i = 0; i < 10; i++)
        msgpack_pack_uint8 (&w.pk, 0);
    pingyi_msg_monitor_end (&w, false, 0);
    expect_fail (w.sbuf.data, w.sbuf.size, "MONITOR.venues[0]: expected 11 fields, got 10");
    pingyi_msg_monitor_begin (&w, 1, 0, "v", 0);
    pingyi_msg_monitor_shards_begin (&w, 0);
    pingyi_msg_monitor_refusals_begin (&w, 0);
    pingyi_msg_monitor_venues_begin (&w, 1);
    pingyi_monitor_venue_t v = {.id = {"v01", 3}, .status = 3};
    pingyi_msg_monitor_venue (&w, &v);
    pingyi_msg_monitor_end (&w, false, 0);
    expect_fail (w.sbuf.data, w.sbuf.size, "MONITOR.venues[0].status: integer out of range");
    pingyi_writer_fini (&w);
}

/*  The largest MONITOR the broker can write: 256 workers of 64-byte names
    each listing 256 shards, 256 shards with 64-byte owners, 64 refusal
    causes of 64 bytes, a full page of 64-byte venue ids with every count
    at its largest.  It decodes and fits PINGYI_MONITOR_FRAME_WORST, which
    fits a REPLY.  */
static void
test_worst_case_fits (void **state)
{
    char name[PINGYI_NAME_MAX + 1];
    memset (name, 'w', PINGYI_NAME_MAX);
    name[PINGYI_NAME_MAX] = '\0';
    uint32_t shards[256];
    for (uint32_t i = 0; i < 256; i++)
        shards[i] = i;
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    pingyi_msg_monitor_begin (&w, UINT64_MAX, UINT64_MAX, name, PINGYI_MONITOR_WORKERS_MAX);
    for (int i = 0; i < PINGYI_MONITOR_WORKERS_MAX; i++)
        pingyi_msg_monitor_worker (&w, name, shards, 256, true, UINT64_MAX, UINT64_MAX, INT64_MAX);
    pingyi_msg_monitor_shards_begin (&w, PINGYI_MONITOR_SHARDS_MAX);
    for (int i = 0; i < PINGYI_MONITOR_SHARDS_MAX; i++)
        pingyi_msg_monitor_shard (&w, (uint32_t) i, NULL, INT64_MAX);
    pingyi_msg_monitor_refusals_begin (&w, PINGYI_MONITOR_REFUSALS_MAX);
    for (int i = 0; i < PINGYI_MONITOR_REFUSALS_MAX; i++) {
        char r[PINGYI_NAME_MAX + 1];
        memset (r, 'a', PINGYI_NAME_MAX);
        r[PINGYI_NAME_MAX] = '\0';
        r[0] = (char) ('0' + i / 10);
        r[1] = (char) ('0' + i % 10);
        pingyi_msg_monitor_refusal (&w, r, UINT64_MAX);
    }
    pingyi_msg_monitor_venues_begin (&w, PINGYI_MONITOR_PAGE);
    pingyi_monitor_venue_t v = {.id = {name, PINGYI_NAME_MAX}, .connected = true, .status = 2, .is_void = true,
                                .reopens = UINT32_MAX, .envelopes_in = UINT64_MAX, .accepted = UINT64_MAX,
                                .duplicate = UINT64_MAX, .rejected = UINT64_MAX, .retries = UINT64_MAX,
                                .seen = true, .last_seen_ms = INT64_MAX};
    for (int i = 0; i < PINGYI_MONITOR_PAGE; i++)
        pingyi_msg_monitor_venue (&w, &v);
    pingyi_msg_monitor_end (&w, true, UINT32_MAX);
    print_message ("largest MONITOR: %zu bytes (bound %u, REPLY limit %u)\n", w.sbuf.size,
                   (unsigned) PINGYI_MONITOR_FRAME_WORST, (unsigned) PINGYI_REPLY_FRAME_MAX);
    assert_true (w.sbuf.size <= PINGYI_MONITOR_FRAME_WORST);
    assert_true (PINGYI_MONITOR_FRAME_WORST <= PINGYI_REPLY_FRAME_MAX);
    pingyi_msg_t m;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_msg_decode ((const uint8_t *) w.sbuf.data, w.sbuf.size, &m, err), 0);
    assert_int_equal (m.u.monitor.venues.count, PINGYI_MONITOR_PAGE);
    /* one venue more than a page is refused */
    pingyi_msg_monitor_begin (&w, 1, 0, "v", 0);
    pingyi_msg_monitor_shards_begin (&w, 0);
    pingyi_msg_monitor_refusals_begin (&w, 0);
    pingyi_msg_monitor_venues_begin (&w, PINGYI_MONITOR_PAGE + 1);
    v.id.len = 3;
    for (int i = 0; i <= PINGYI_MONITOR_PAGE; i++)
        pingyi_msg_monitor_venue (&w, &v);
    pingyi_msg_monitor_end (&w, false, 0);
    expect_fail (w.sbuf.data, w.sbuf.size, "MONITOR.venues: array too long");
    pingyi_writer_fini (&w);
}

static void
test_k_rounding (void **state)
{
    assert_int_equal (pingyi_monitor_round (0, 10), 0);
    assert_int_equal (pingyi_monitor_round (9, 10), 0);
    assert_int_equal (pingyi_monitor_round (10, 10), 10);
    assert_int_equal (pingyi_monitor_round (129, 10), 120);
    assert_int_equal (pingyi_monitor_round (7, 1), 7);
    assert_int_equal (pingyi_monitor_round (7, 0), 7);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_query_bytes),     cmocka_unit_test (test_round_trip),
        cmocka_unit_test (test_refusals),        cmocka_unit_test (test_worst_case_fits),
        cmocka_unit_test (test_k_rounding),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
