/*  test_msg.c — the wire protocol: every message round-trips, the bytes on
    the wire are what docs/PROTOCOL.md says, and every way a hostile frame can
    be wrong (cut short, too long, wrong type, trailing bytes, unknown version
    or type, wrong arity) is refused with a reason naming the field.

    The mutation tests build each message with the real encoder, then locate
    one field by its path of array indices (with pingyi_mp_skip) and splice
    other bytes in its place, so every field of every message is covered by
    the same few lines.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"

typedef struct {
    uint8_t *p;
    size_t len;
} frame_t;

static frame_t
frame_of (const pingyi_writer_t *w)
{
    frame_t f = {malloc (w->sbuf.size ? w->sbuf.size : 1), w->sbuf.size};
    assert_non_null (f.p);
    memcpy (f.p, w->sbuf.data, w->sbuf.size);
    return f;
}

/* -------------------------------------------------------------------------
   Sample data, one message per type.  */

static uint8_t fp[PINGYI_FP_LEN], chain[32], env_big[PINGYI_ENVELOPE_MAX], env_mid[100];
static const uint8_t key1[8] = {0, 3, 0, 1, 0, 2, 1, 0}, key2[8] = {0, 3, 0, 1, 0, 2, 1, 4},
                     key3[8] = {0, 4, 0, 0, 0, 0, 0, 0};
static const uint8_t route[5] = {0x00, 0x80, 0x00, 0x41, 0xa7};
static uint8_t id1[16], id2[16], id3[16];
static pingyi_venue_figures_t fig1, fig2;
static frame_t inner_submit, inner_ack;

static void
init_samples (void)
{
    for (int i = 0; i < 32; i++) {
        fp[i] = (uint8_t) i;
        chain[i] = (uint8_t) (0xa0 + i);
    }
    for (size_t i = 0; i < sizeof env_big; i++)
        env_big[i] = (uint8_t) (i * 7);
    for (size_t i = 0; i < sizeof env_mid; i++)
        env_mid[i] = (uint8_t) (255 - i);
    memset (id1, 0x11, 16);
    memset (id2, 0x22, 16);
    memset (id3, 0x33, 16);
    memset (&fig1, 0, sizeof fig1);
    fig1.venue = 3;
    fig1.accepted = 100;
    fig1.blank = 2;
    fig1.duplicates = 5;
    fig1.rejected = 3;
    fig1.rejected_by[6] = 2;
    fig1.rejected_by[8] = 1;
    fig1.rejected_by[15] = 77;
    fig1.issued = 120;
    fig1.collected = 118;
    fig1.sent = 118;
    fig1.closed = true;
    memset (&fig2, 0, sizeof fig2);
    fig2.venue = UINT32_MAX;
    fig2.accepted = UINT64_MAX;
    fig2.blank = 0;
    fig2.duplicates = 1;
    fig2.rejected = 70000;
    fig2.rejected_by[1] = 70000;
    fig2.issued = -1;
    fig2.collected = -1;
    fig2.sent = INT64_MAX;
    fig2.closed = false;
}

static void
encode_sample (pingyi_writer_t *w, int type)
{
    switch (type) {
    case PINGYI_MSG_HELLO:
        pingyi_msg_hello_begin (w, fp, "worker-1", 3);
        msgpack_pack_uint32 (&w->pk, 0);
        msgpack_pack_uint32 (&w->pk, 3);
        msgpack_pack_uint32 (&w->pk, 255);
        break;
    case PINGYI_MSG_READY:
        pingyi_msg_ready_begin (w, 2);
        msgpack_pack_uint32 (&w->pk, 3);
        msgpack_pack_uint32 (&w->pk, 7);
        break;
    case PINGYI_MSG_HEARTBEAT:
        pingyi_msg_heartbeat (w);
        break;
    case PINGYI_MSG_SUBMIT:
        pingyi_msg_submit_begin (w, 0x0123456789abcdefULL, fp, "v01", 4);
        pingyi_msg_envelope (w, (const uint8_t *) "env0", 4);
        pingyi_msg_envelope (w, (const uint8_t *) "x", 1);
        pingyi_msg_envelope (w, env_big, sizeof env_big);
        pingyi_msg_envelope (w, env_mid, sizeof env_mid);
        break;
    case PINGYI_MSG_ACK:
        pingyi_msg_ack_begin (w, 42, 3);
        pingyi_msg_ack_result (w, id1, PINGYI_ACK_ACCEPTED, 0, "", "0123456789abcdef");
        pingyi_msg_ack_result (w, id2, PINGYI_ACK_DUPLICATE, 0, NULL, "fedcba9876543210");
        pingyi_msg_ack_result (w, id3, PINGYI_ACK_REJECTED, 6, "authentication failed", NULL);
        break;
    case PINGYI_MSG_RETRY:
        pingyi_msg_retry (w, 5, 250, "no worker owns shard 3");
        break;
    case PINGYI_MSG_ERROR:
        pingyi_msg_error (w, 6, PINGYI_ERROR_FORBIDDEN, "venue keys may not query");
        break;
    case PINGYI_MSG_VENUE_OPEN:
        pingyi_msg_venue_open (w, 8, fp, "v01");
        break;
    case PINGYI_MSG_VENUE_CLOSE:
        pingyi_msg_venue_close (w, 9, fp, "v01", 120, 118, 117);
        break;
    case PINGYI_MSG_VENUE_STATUS:
        pingyi_msg_venue_status (w, 10, &fig1);
        break;
    case PINGYI_MSG_TALLY_QUERY:
        pingyi_msg_tally_query (w, 11, 3, key1);
        break;
    case PINGYI_MSG_SNAPSHOT:
        pingyi_msg_snapshot_begin (w, 12, 3, 4, fp, 123456789, chain, 2);
        pingyi_msg_figures (w, &fig1);
        pingyi_msg_figures (w, &fig2);
        pingyi_msg_snapshot_counters_begin (w, 2);
        pingyi_msg_counter (w, key1, 7);
        pingyi_msg_counter (w, key2, UINT64_MAX);
        pingyi_msg_snapshot_end (w, true, key3);
        break;
    case PINGYI_MSG_STATS_QUERY:
        pingyi_msg_stats_query (w, 13, -1);
        break;
    case PINGYI_MSG_STATS:
        pingyi_msg_stats_begin (w, 14, "broker", 2);
        pingyi_msg_stat (w, "frames_in", 1000);
        pingyi_msg_stat (w, "frames_out", 0);
        break;
    case PINGYI_MSG_FORWARD:
        pingyi_msg_forward (w, route, sizeof route, PINGYI_ROLE_VENUE, "v01", 3, inner_submit.p,
                            inner_submit.len);
        break;
    case PINGYI_MSG_REPLY:
        pingyi_msg_reply (w, route, sizeof route, inner_ack.p, inner_ack.len);
        break;
    default:
        fail ();
    }
}

static frame_t
sample (int type)
{
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    pingyi_msg_heartbeat (&w); /* encoders clear what was there */
    encode_sample (&w, type);
    frame_t f = frame_of (&w);
    pingyi_writer_fini (&w);
    return f;
}

static int
setup (void **state)
{
    init_samples ();
    inner_submit = sample (PINGYI_MSG_SUBMIT);
    inner_ack = sample (PINGYI_MSG_ACK);
    return 0;
}

static int
teardown (void **state)
{
    free (inner_submit.p);
    free (inner_ack.p);
    return 0;
}

static void
decode_ok (const frame_t *f, pingyi_msg_t *m, int type)
{
    char err[PINGYI_ERR_MAX] = "";
    int rc = pingyi_msg_decode (f->p, f->len, m, err);
    if (rc)
        print_error ("decode failed: %s\n", err);
    assert_int_equal (rc, 0);
    assert_int_equal (m->type, type);
}

static void
assert_str (pingyi_str_t s, const char *want)
{
    assert_int_equal (s.len, strlen (want));
    assert_memory_equal (s.p, want, s.len);
}

static void
assert_figures (const pingyi_venue_figures_t *got, const pingyi_venue_figures_t *want)
{
    assert_int_equal (got->venue, want->venue);
    assert_true (got->accepted == want->accepted);
    assert_true (got->blank == want->blank);
    assert_true (got->duplicates == want->duplicates);
    assert_true (got->rejected == want->rejected);
    for (int i = 0; i < 16; i++)
        assert_true (got->rejected_by[i] == want->rejected_by[i]);
    assert_true (got->issued == want->issued);
    assert_true (got->collected == want->collected);
    assert_true (got->sent == want->sent);
    assert_int_equal (got->closed, want->closed);
}

/* -------------------------------------------------------------------------
   Round trips: encode → decode → every field equal.  */

static void
test_round_trip_hello_ready_heartbeat (void **state)
{
    pingyi_msg_t m;
    uint64_t v;
    frame_t f = sample (PINGYI_MSG_HELLO);
    decode_ok (&f, &m, PINGYI_MSG_HELLO);
    assert_memory_equal (m.u.hello.fingerprint, fp, 32);
    assert_str (m.u.hello.name, "worker-1");
    assert_int_equal (m.u.hello.shards.count, 3);
    static const uint64_t shards[] = {0, 3, 255};
    for (int i = 0; i < 3; i++) {
        assert_true (pingyi_list_next_uint (&m.u.hello.shards, &v));
        assert_true (v == shards[i]);
    }
    assert_false (pingyi_list_next_uint (&m.u.hello.shards, &v));
    assert_false (pingyi_list_next_uint (&m.u.hello.shards, &v));
    free (f.p);

    f = sample (PINGYI_MSG_READY);
    decode_ok (&f, &m, PINGYI_MSG_READY);
    assert_int_equal (m.u.ready.shards.count, 2);
    assert_true (pingyi_list_next_uint (&m.u.ready.shards, &v));
    assert_int_equal (v, 3);
    assert_true (pingyi_list_next_uint (&m.u.ready.shards, &v));
    assert_int_equal (v, 7);
    assert_false (pingyi_list_next_uint (&m.u.ready.shards, &v));
    free (f.p);

    f = sample (PINGYI_MSG_HEARTBEAT);
    decode_ok (&f, &m, PINGYI_MSG_HEARTBEAT);
    free (f.p);

    /* Empty lists.  */
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    pingyi_msg_ready_begin (&w, 0);
    f = frame_of (&w);
    decode_ok (&f, &m, PINGYI_MSG_READY);
    assert_int_equal (m.u.ready.shards.count, 0);
    assert_false (pingyi_list_next_uint (&m.u.ready.shards, &v));
    free (f.p);
    pingyi_writer_fini (&w);
}

static void
test_round_trip_submit (void **state)
{
    pingyi_msg_t m;
    pingyi_bin_t b;
    frame_t f = sample (PINGYI_MSG_SUBMIT);
    decode_ok (&f, &m, PINGYI_MSG_SUBMIT);
    assert_true (m.u.submit.tag == 0x0123456789abcdefULL);
    assert_memory_equal (m.u.submit.fingerprint, fp, 32);
    assert_str (m.u.submit.venue, "v01");
    assert_int_equal (m.u.submit.envelopes.count, 4);
    assert_true (pingyi_list_next_bin (&m.u.submit.envelopes, &b));
    assert_int_equal (b.len, 4);
    assert_memory_equal (b.p, "env0", 4);
    assert_true (pingyi_list_next_bin (&m.u.submit.envelopes, &b));
    assert_int_equal (b.len, 1);
    assert_memory_equal (b.p, "x", 1);
    assert_true (pingyi_list_next_bin (&m.u.submit.envelopes, &b));
    assert_int_equal (b.len, sizeof env_big);
    assert_memory_equal (b.p, env_big, sizeof env_big);
    assert_true (pingyi_list_next_bin (&m.u.submit.envelopes, &b));
    assert_int_equal (b.len, sizeof env_mid);
    assert_memory_equal (b.p, env_mid, sizeof env_mid);
    assert_false (pingyi_list_next_bin (&m.u.submit.envelopes, &b));
    /* Bins point into the frame.  */
    assert_true (b.p > f.p && b.p < f.p + f.len);
    free (f.p);
}

static void
test_round_trip_ack (void **state)
{
    pingyi_msg_t m;
    pingyi_ack_t a;
    frame_t f = sample (PINGYI_MSG_ACK);
    decode_ok (&f, &m, PINGYI_MSG_ACK);
    assert_int_equal (m.u.ack.tag, 42);
    assert_int_equal (m.u.ack.results.count, 3);
    assert_true (pingyi_list_next_ack (&m.u.ack.results, &a));
    assert_memory_equal (a.ballot_id, id1, 16);
    assert_int_equal (a.status, PINGYI_ACK_ACCEPTED);
    assert_int_equal (a.reason, 0);
    assert_str (a.text, "");
    assert_str (a.receipt, "0123456789abcdef");
    assert_true (pingyi_list_next_ack (&m.u.ack.results, &a));
    assert_memory_equal (a.ballot_id, id2, 16);
    assert_int_equal (a.status, PINGYI_ACK_DUPLICATE);
    assert_str (a.text, "");
    assert_str (a.receipt, "fedcba9876543210");
    assert_true (pingyi_list_next_ack (&m.u.ack.results, &a));
    assert_memory_equal (a.ballot_id, id3, 16);
    assert_int_equal (a.status, PINGYI_ACK_REJECTED);
    assert_int_equal (a.reason, 6);
    assert_str (a.text, "authentication failed");
    assert_str (a.receipt, "");
    assert_false (pingyi_list_next_ack (&m.u.ack.results, &a));
    free (f.p);
}

static void
test_round_trip_retry_error_open_close (void **state)
{
    pingyi_msg_t m;
    frame_t f = sample (PINGYI_MSG_RETRY);
    decode_ok (&f, &m, PINGYI_MSG_RETRY);
    assert_int_equal (m.u.retry.tag, 5);
    assert_int_equal (m.u.retry.retry_ms, 250);
    assert_str (m.u.retry.reason, "no worker owns shard 3");
    free (f.p);

    f = sample (PINGYI_MSG_ERROR);
    decode_ok (&f, &m, PINGYI_MSG_ERROR);
    assert_int_equal (m.u.error.tag, 6);
    assert_int_equal (m.u.error.code, PINGYI_ERROR_FORBIDDEN);
    assert_str (m.u.error.text, "venue keys may not query");
    free (f.p);

    f = sample (PINGYI_MSG_VENUE_OPEN);
    decode_ok (&f, &m, PINGYI_MSG_VENUE_OPEN);
    assert_int_equal (m.u.venue_open.tag, 8);
    assert_memory_equal (m.u.venue_open.fingerprint, fp, 32);
    assert_str (m.u.venue_open.venue, "v01");
    free (f.p);

    f = sample (PINGYI_MSG_VENUE_CLOSE);
    decode_ok (&f, &m, PINGYI_MSG_VENUE_CLOSE);
    assert_int_equal (m.u.venue_close.tag, 9);
    assert_memory_equal (m.u.venue_close.fingerprint, fp, 32);
    assert_str (m.u.venue_close.venue, "v01");
    assert_int_equal (m.u.venue_close.issued, 120);
    assert_int_equal (m.u.venue_close.collected, 118);
    assert_int_equal (m.u.venue_close.sent, 117);
    free (f.p);

    /* Extremes.  */
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    pingyi_msg_retry (&w, UINT64_MAX, UINT32_MAX, "");
    f = frame_of (&w);
    decode_ok (&f, &m, PINGYI_MSG_RETRY);
    assert_true (m.u.retry.tag == UINT64_MAX);
    assert_true (m.u.retry.retry_ms == UINT32_MAX);
    assert_int_equal (m.u.retry.reason.len, 0);
    free (f.p);
    pingyi_msg_venue_close (&w, 0, fp, "v", INT64_MAX, 0, INT64_MAX);
    f = frame_of (&w);
    decode_ok (&f, &m, PINGYI_MSG_VENUE_CLOSE);
    assert_true (m.u.venue_close.issued == INT64_MAX);
    assert_true (m.u.venue_close.collected == 0);
    free (f.p);
    pingyi_writer_fini (&w);
}

static void
test_round_trip_status_query_snapshot (void **state)
{
    pingyi_msg_t m;
    frame_t f = sample (PINGYI_MSG_VENUE_STATUS);
    decode_ok (&f, &m, PINGYI_MSG_VENUE_STATUS);
    assert_int_equal (m.u.venue_status.tag, 10);
    assert_figures (&m.u.venue_status.figures, &fig1);
    free (f.p);

    f = sample (PINGYI_MSG_TALLY_QUERY);
    decode_ok (&f, &m, PINGYI_MSG_TALLY_QUERY);
    assert_int_equal (m.u.tally_query.tag, 11);
    assert_int_equal (m.u.tally_query.shard, 3);
    assert_memory_equal (m.u.tally_query.from, key1, 8);
    free (f.p);

    f = sample (PINGYI_MSG_SNAPSHOT);
    decode_ok (&f, &m, PINGYI_MSG_SNAPSHOT);
    assert_int_equal (m.u.snapshot.tag, 12);
    assert_int_equal (m.u.snapshot.shard, 3);
    assert_int_equal (m.u.snapshot.shard_count, 4);
    assert_memory_equal (m.u.snapshot.fingerprint, fp, 32);
    assert_int_equal (m.u.snapshot.sequence, 123456789);
    assert_memory_equal (m.u.snapshot.chain_head, chain, 32);
    assert_true (m.u.snapshot.more);
    assert_memory_equal (m.u.snapshot.next, key3, 8);
    pingyi_venue_figures_t g;
    assert_int_equal (m.u.snapshot.venues.count, 2);
    assert_true (pingyi_list_next_figures (&m.u.snapshot.venues, &g));
    assert_figures (&g, &fig1);
    assert_true (pingyi_list_next_figures (&m.u.snapshot.venues, &g));
    assert_figures (&g, &fig2);
    assert_false (pingyi_list_next_figures (&m.u.snapshot.venues, &g));
    pingyi_counter_t c;
    assert_int_equal (m.u.snapshot.counters.count, 2);
    assert_true (pingyi_list_next_counter (&m.u.snapshot.counters, &c));
    assert_memory_equal (c.key, key1, 8);
    assert_int_equal (c.count, 7);
    assert_true (pingyi_list_next_counter (&m.u.snapshot.counters, &c));
    assert_memory_equal (c.key, key2, 8);
    assert_true (c.count == UINT64_MAX);
    assert_false (pingyi_list_next_counter (&m.u.snapshot.counters, &c));
    free (f.p);

    /* Last page: no venues, no counters, more false, next NULL → zeros.  */
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    pingyi_msg_snapshot_begin (&w, 1, 0, 1, fp, 0, chain, 0);
    pingyi_msg_snapshot_counters_begin (&w, 0);
    pingyi_msg_snapshot_end (&w, false, NULL);
    f = frame_of (&w);
    decode_ok (&f, &m, PINGYI_MSG_SNAPSHOT);
    assert_false (m.u.snapshot.more);
    static const uint8_t zero8[8];
    assert_memory_equal (m.u.snapshot.next, zero8, 8);
    assert_false (pingyi_list_next_figures (&m.u.snapshot.venues, &g));
    assert_false (pingyi_list_next_counter (&m.u.snapshot.counters, &c));
    free (f.p);
    pingyi_writer_fini (&w);
}

static void
test_round_trip_stats_forward_reply (void **state)
{
    pingyi_msg_t m;
    frame_t f = sample (PINGYI_MSG_STATS_QUERY);
    decode_ok (&f, &m, PINGYI_MSG_STATS_QUERY);
    assert_int_equal (m.u.stats_query.tag, 13);
    assert_int_equal (m.u.stats_query.shard, -1);
    free (f.p);

    pingyi_writer_t w;
    pingyi_writer_init (&w);
    pingyi_msg_stats_query (&w, 0, 255);
    f = frame_of (&w);
    decode_ok (&f, &m, PINGYI_MSG_STATS_QUERY);
    assert_int_equal (m.u.stats_query.shard, 255);
    free (f.p);
    pingyi_writer_fini (&w);

    f = sample (PINGYI_MSG_STATS);
    decode_ok (&f, &m, PINGYI_MSG_STATS);
    assert_int_equal (m.u.stats.tag, 14);
    assert_str (m.u.stats.source, "broker");
    pingyi_stat_t s;
    assert_true (pingyi_list_next_stat (&m.u.stats.stats, &s));
    assert_str (s.name, "frames_in");
    assert_int_equal (s.value, 1000);
    assert_true (pingyi_list_next_stat (&m.u.stats.stats, &s));
    assert_str (s.name, "frames_out");
    assert_int_equal (s.value, 0);
    assert_false (pingyi_list_next_stat (&m.u.stats.stats, &s));
    free (f.p);

    f = sample (PINGYI_MSG_FORWARD);
    decode_ok (&f, &m, PINGYI_MSG_FORWARD);
    assert_int_equal (m.u.forward.route.len, sizeof route);
    assert_memory_equal (m.u.forward.route.p, route, sizeof route);
    assert_int_equal (m.u.forward.role, PINGYI_ROLE_VENUE);
    assert_str (m.u.forward.sender, "v01");
    assert_int_equal (m.u.forward.inner.len, inner_submit.len);
    assert_memory_equal (m.u.forward.inner.p, inner_submit.p, inner_submit.len);
    /* The inner frame decodes on its own.  */
    pingyi_msg_t inner;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_msg_decode (m.u.forward.inner.p, m.u.forward.inner.len, &inner, err), 0);
    assert_int_equal (inner.type, PINGYI_MSG_SUBMIT);
    free (f.p);

    f = sample (PINGYI_MSG_REPLY);
    decode_ok (&f, &m, PINGYI_MSG_REPLY);
    assert_memory_equal (m.u.reply.route.p, route, sizeof route);
    assert_int_equal (m.u.reply.inner.len, inner_ack.len);
    assert_memory_equal (m.u.reply.inner.p, inner_ack.p, inner_ack.len);
    free (f.p);
}

/*  A walker handed the wrong kind of list stops instead of misreading.  */
static void
test_wrong_walker_stops (void **state)
{
    pingyi_msg_t m;
    frame_t f = sample (PINGYI_MSG_ACK);
    decode_ok (&f, &m, PINGYI_MSG_ACK);
    uint64_t v;
    assert_false (pingyi_list_next_uint (&m.u.ack.results, &v));
    pingyi_ack_t a;
    assert_false (pingyi_list_next_ack (&m.u.ack.results, &a));
    free (f.p);
}

/* -------------------------------------------------------------------------
   Bytes on the wire.  */

static void
test_wire_heartbeat (void **state)
{
    static const uint8_t want[] = {0x92, 0x01, 0x03};
    frame_t f = sample (PINGYI_MSG_HEARTBEAT);
    assert_int_equal (f.len, sizeof want);
    assert_memory_equal (f.p, want, sizeof want);
    free (f.p);
}

static void
test_wire_small_submit (void **state)
{
    static const uint8_t want[] = {
        0x96,       /* array of 6 */
        0x01, 0x04, /* version 1, SUBMIT */
        0x07,       /* tag 7 */
        0xc4, 0x20, /* bin 32: fingerprint */
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
        0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
        0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0xa3, 'v',  '0',  '1', /* venue "v01" */
        0x91,                                                                  /* 1 envelope */
        0xc4, 0x03, 'a',  'b',  'c',                                           /* bin 3 */
    };
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    pingyi_msg_submit_begin (&w, 7, fp, "v01", 1);
    pingyi_msg_envelope (&w, (const uint8_t *) "abc", 3);
    assert_int_equal (w.sbuf.size, sizeof want);
    assert_memory_equal (w.sbuf.data, want, sizeof want);
    pingyi_writer_reset (&w);
    assert_int_equal (w.sbuf.size, 0);
    pingyi_writer_fini (&w);

    pingyi_msg_t m;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_msg_decode (want, sizeof want, &m, err), 0);
    assert_int_equal (m.u.submit.tag, 7);
}

static void
test_wire_small_ack (void **state)
{
    static const uint8_t want[] = {
        0x94, 0x01, 0x05, 0x2a, /* [1, 5, tag 42, */
        0x91, 0x95,             /*  [[ */
        0xc4, 0x10, 1,    2,    3,  4,  5,  6,  7,    8,
        9,    10,   11,   12,   13, 14, 15, 16, 0x02, 0x06, /* rejected, reason 6 */
        0xa2, 'n',  'o',                                    /* text */
        0xa0,                                               /* no receipt */
    };
    static const uint8_t id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    pingyi_msg_ack_begin (&w, 42, 1);
    pingyi_msg_ack_result (&w, id, PINGYI_ACK_REJECTED, 6, "no", "");
    assert_int_equal (w.sbuf.size, sizeof want);
    assert_memory_equal (w.sbuf.data, want, sizeof want);
    pingyi_writer_fini (&w);
}

/* -------------------------------------------------------------------------
   Hostile frames, every message type.  */

static void
expect_fail (const uint8_t *p, size_t len, const char *want)
{
    pingyi_msg_t m;
    char err[PINGYI_ERR_MAX] = "";
    int rc = pingyi_msg_decode (p, len, &m, err);
    if (rc == 0)
        print_error ("decoded although it should fail with: %s\n", want);
    assert_int_equal (rc, -1);
    if (want)
        assert_string_equal (err, want);
    else
        assert_true (err[0] != '\0');
}

static void
test_truncation_at_every_offset (void **state)
{
    for (int type = 1; type <= PINGYI_MSG_TYPE_MAX_; type++) {
        frame_t f = sample (type);
        for (size_t cut = 0; cut < f.len; cut++) {
            /* A private copy of exactly `cut` bytes, so ASan sees any read past it.  */
            uint8_t *copy = malloc (cut ? cut : 1);
            memcpy (copy, f.p, cut);
            expect_fail (copy, cut, NULL);
            free (copy);
        }
        free (f.p);
    }
}

static void
test_trailing_bytes (void **state)
{
    char want[PINGYI_ERR_MAX];
    for (int type = 1; type <= PINGYI_MSG_TYPE_MAX_; type++) {
        frame_t f = sample (type);
        uint8_t *longer = malloc (f.len + 1);
        memcpy (longer, f.p, f.len);
        longer[f.len] = 0xc0;
        snprintf (want, sizeof want, "%s: trailing bytes after message", pingyi_msg_type_name (type));
        expect_fail (longer, f.len + 1, want);
        free (longer);
        free (f.p);
    }
}

static void
test_version_and_type (void **state)
{
    char want[PINGYI_ERR_MAX];
    for (int type = 1; type <= PINGYI_MSG_TYPE_MAX_; type++) {
        frame_t f = sample (type);
        assert_int_equal (f.p[1], 0x01); /* version is the fixint after the header */
        f.p[1] = 0x02;
        expect_fail (f.p, f.len, "unsupported protocol version 2");
        f.p[1] = 0x00;
        expect_fail (f.p, f.len, "unsupported protocol version 0");
        f.p[1] = 0x01;
        assert_int_equal (f.p[2], type);
        f.p[2] = 99;
        expect_fail (f.p, f.len, "unknown message type 99");
        f.p[2] = 0;
        expect_fail (f.p, f.len, "unknown message type 0");
        f.p[2] = 17;
        expect_fail (f.p, f.len, "unknown message type 17");
        f.p[2] = (uint8_t) type;
        pingyi_msg_t m;
        char err[PINGYI_ERR_MAX];
        assert_int_equal (pingyi_msg_decode (f.p, f.len, &m, err), 0);
        /* The header byte is a fixarray for every message (at most 12 fields).  */
        assert_int_equal (f.p[0] & 0xf0, 0x90);
        uint8_t n = f.p[0] & 0x0f;
        if (n > 2) {
            /* One field fewer (drop the array count; the missing field is
               noticed before its bytes are read).  */
            f.p[0] = (uint8_t) (0x90 | (n - 1));
            snprintf (want, sizeof want, "%s: expected %u fields, got %u", pingyi_msg_type_name (type), n,
                      n - 1);
            expect_fail (f.p, f.len, want);
        }
        /* One field more (a nil appended, so the count still fits the bytes).  */
        uint8_t *more = malloc (f.len + 1);
        memcpy (more, f.p, f.len);
        more[0] = (uint8_t) (0x90 | (n + 1));
        more[f.len] = 0xc0;
        snprintf (want, sizeof want, "%s: expected %u fields, got %u", pingyi_msg_type_name (type), n, n + 1);
        expect_fail (more, f.len + 1, want);
        free (more);
        free (f.p);
    }
    /* The spec's own example: a SUBMIT one field short.  */
    static const uint8_t submit5[] = {0x95, 0x01, 0x04, 0x07, 0xc4, 0x01, 0x00, 0xa1, 'v'};
    expect_fail (submit5, sizeof submit5, "SUBMIT: expected 6 fields, got 5");
    static const uint8_t heartbeat1[] = {0x91, 0x01};
    expect_fail (heartbeat1, sizeof heartbeat1, "message: expected at least 2 fields, got 1");
    static const uint8_t version2_short[] = {0x91, 0x02};
    expect_fail (version2_short, sizeof version2_short, "unsupported protocol version 2");
}

static void
test_top_level_garbage (void **state)
{
    expect_fail (NULL, 0, "message: truncated");
    static const uint8_t u[] = {0x07};
    expect_fail (u, 1, "message: expected array, got uint");
    static const uint8_t map[] = {0x81, 0x01, 0x03};
    expect_fail (map, sizeof map, "message: expected array, got map");
    static const uint8_t empty[] = {0x90};
    expect_fail (empty, 1, "message: empty array, expected [version, type, ...]");
    static const uint8_t huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x03};
    expect_fail (huge, sizeof huge, "message: truncated");
    static const uint8_t vstr[] = {0x92, 0xa1, '1', 0x03};
    expect_fail (vstr, sizeof vstr, "message.version: expected uint, got str");
    static const uint8_t vneg[] = {0x92, 0xff, 0x03};
    expect_fail (vneg, sizeof vneg, "message.version: negative where uint expected");
    static const uint8_t tstr[] = {0x92, 0x01, 0xa1, 'x'};
    expect_fail (tstr, sizeof tstr, "message.type: expected uint, got str");
    static const uint8_t tbig[] = {0x92, 0x01, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    expect_fail (tbig, sizeof tbig, "unknown message type 18446744073709551615");
    /* Non-minimal encodings are accepted: HEARTBEAT as array16, uint16 1, uint64 3.  */
    static const uint8_t wide[] = {0xdc, 0x00, 0x02, 0xcd, 0x00, 0x01, 0xcf, 0, 0, 0, 0, 0, 0, 0, 3};
    pingyi_msg_t m;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_msg_decode (wide, sizeof wide, &m, err), 0);
    assert_int_equal (m.type, PINGYI_MSG_HEARTBEAT);
}

/*  Splice: replace the object at `path` (array indices from the top) with
    `rep`.  Returns a fresh frame.  */
static frame_t
splice (const frame_t *f, const uint32_t *path, int depth, const uint8_t *rep, size_t rep_len)
{
    pingyi_mp_t r;
    pingyi_mp_init (&r, f->p, f->len);
    for (int d = 0; d < depth; d++) {
        uint32_t n;
        assert_int_equal (pingyi_mp_array (&r, &n, UINT32_MAX), 0);
        assert_true (path[d] < n);
        for (uint32_t i = 0; i < path[d]; i++)
            assert_int_equal (pingyi_mp_skip (&r), 0);
    }
    size_t start = (size_t) (r.p - f->p);
    assert_int_equal (pingyi_mp_skip (&r), 0);
    size_t end = (size_t) (r.p - f->p);
    frame_t out = {malloc (f->len - (end - start) + rep_len + 1), f->len - (end - start) + rep_len};
    memcpy (out.p, f->p, start);
    memcpy (out.p + start, rep, rep_len);
    memcpy (out.p + start + rep_len, f->p + end, f->len - end);
    return out;
}

typedef enum { R_STR, R_BIN, R_UINT, R_INT, R_ARRAY_HDR, R_UINTS, R_TRUE, R_NIL, R_STRDATA } rep_kind_t;

typedef struct {
    int type;
    int depth;
    uint32_t path[4];
    rep_kind_t kind;
    uint64_t n; /* str/bin length, array count, or the uint */
    int64_t v;  /* the int, or the value of R_UINTS items */
    const char *want;
} mutation_t;

static frame_t
replacement (const mutation_t *c, const char *data)
{
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    switch (c->kind) {
    case R_STR: {
        char *s = malloc (c->n + 1);
        memset (s, 'a', c->n);
        msgpack_pack_str (&w.pk, c->n);
        msgpack_pack_str_body (&w.pk, s, c->n);
        free (s);
        break;
    }
    case R_BIN: {
        uint8_t *b = calloc (1, c->n + 1);
        msgpack_pack_bin (&w.pk, c->n);
        msgpack_pack_bin_body (&w.pk, b, c->n);
        free (b);
        break;
    }
    case R_UINT:
        msgpack_pack_uint64 (&w.pk, c->n);
        break;
    case R_INT:
        msgpack_pack_int64 (&w.pk, c->v);
        break;
    case R_ARRAY_HDR: /* a count with no items behind it */
        msgpack_pack_array (&w.pk, (size_t) c->n);
        break;
    case R_UINTS:
        msgpack_pack_array (&w.pk, (size_t) c->n);
        for (uint64_t i = 0; i < c->n; i++)
            msgpack_pack_uint64 (&w.pk, (uint64_t) c->v);
        break;
    case R_TRUE:
        msgpack_pack_true (&w.pk);
        break;
    case R_NIL:
        msgpack_pack_nil (&w.pk);
        break;
    case R_STRDATA:
        msgpack_pack_str (&w.pk, c->n);
        msgpack_pack_str_body (&w.pk, data, c->n);
        break;
    }
    frame_t f = frame_of (&w);
    pingyi_writer_fini (&w);
    return f;
}

/*  data: for R_STRDATA cases, the str content of each case (else NULL).  */
static void
run_mutations (const mutation_t *cases, size_t count, const char *const *data)
{
    for (size_t i = 0; i < count; i++) {
        const mutation_t *c = &cases[i];
        frame_t f = sample (c->type);
        frame_t rep = replacement (c, data ? data[i] : NULL);
        frame_t bad = splice (&f, c->path, c->depth, rep.p, rep.len);
        pingyi_msg_t m;
        char err[PINGYI_ERR_MAX] = "";
        int rc = pingyi_msg_decode (bad.p, bad.len, &m, err);
        if (rc != -1 || strcmp (err, c->want))
            print_error ("case %zu (%s): got rc %d \"%s\", want \"%s\"\n", i, pingyi_msg_type_name (c->type),
                         rc, err, c->want);
        assert_int_equal (rc, -1);
        assert_string_equal (err, c->want);
        free (f.p);
        free (rep.p);
        free (bad.p);
    }
}

#define P1(a)                                                                                                \
    1,                                                                                                       \
    {                                                                                                        \
        a                                                                                                    \
    }
#define P2(a, b)                                                                                             \
    2,                                                                                                       \
    {                                                                                                        \
        a, b                                                                                                 \
    }
#define P3(a, b, c)                                                                                          \
    3,                                                                                                       \
    {                                                                                                        \
        a, b, c                                                                                              \
    }
#define P4(a, b, c, d)                                                                                       \
    4,                                                                                                       \
    {                                                                                                        \
        a, b, c, d                                                                                           \
    }

/*  Each field replaced by a value of another type.  */
static const mutation_t wrong_types[] = {
    {PINGYI_MSG_HELLO, P1 (2), R_UINT, 7, 0, "HELLO.fingerprint: expected bin, got uint"},
    {PINGYI_MSG_HELLO, P1 (3), R_UINT, 7, 0, "HELLO.name: expected str, got uint"},
    {PINGYI_MSG_HELLO, P1 (4), R_STR, 1, 0, "HELLO.shards: expected array, got str"},
    {PINGYI_MSG_HELLO, P2 (4, 1), R_STR, 1, 0, "HELLO.shards[1]: expected uint, got str"},
    {PINGYI_MSG_READY, P1 (2), R_NIL, 0, 0, "READY.shards: expected array, got nil"},
    {PINGYI_MSG_READY, P2 (2, 0), R_TRUE, 0, 0, "READY.shards[0]: expected uint, got bool"},
    {PINGYI_MSG_SUBMIT, P1 (2), R_STR, 1, 0, "SUBMIT.tag: expected uint, got str"},
    {PINGYI_MSG_SUBMIT, P1 (3), R_STR, 32, 0, "SUBMIT.fingerprint: expected bin, got str"},
    {PINGYI_MSG_SUBMIT, P1 (4), R_BIN, 3, 0, "SUBMIT.venue: expected str, got bin"},
    {PINGYI_MSG_SUBMIT, P1 (5), R_BIN, 3, 0, "SUBMIT.envelopes: expected array, got bin"},
    {PINGYI_MSG_SUBMIT, P2 (5, 3), R_STR, 5, 0, "SUBMIT.envelopes[3]: expected bin, got str"},
    {PINGYI_MSG_SUBMIT, P2 (5, 0), R_UINT, 1, 0, "SUBMIT.envelopes[0]: expected bin, got uint"},
    {PINGYI_MSG_ACK, P1 (2), R_INT, 0, -1, "ACK.tag: negative where uint expected"},
    {PINGYI_MSG_ACK, P1 (2), R_STR, 1, 0, "ACK.tag: expected uint, got str"},
    {PINGYI_MSG_ACK, P1 (3), R_UINT, 1, 0, "ACK.results: expected array, got uint"},
    {PINGYI_MSG_ACK, P2 (3, 1), R_UINT, 1, 0, "ACK.results[1]: expected array, got uint"},
    {PINGYI_MSG_ACK, P3 (3, 1, 0), R_STR, 16, 0, "ACK.results[1].ballot_id: expected bin, got str"},
    {PINGYI_MSG_ACK, P3 (3, 2, 1), R_STR, 1, 0, "ACK.results[2].status: expected uint, got str"},
    {PINGYI_MSG_ACK, P3 (3, 2, 2), R_NIL, 0, 0, "ACK.results[2].reason: expected uint, got nil"},
    {PINGYI_MSG_ACK, P3 (3, 0, 3), R_BIN, 1, 0, "ACK.results[0].text: expected str, got bin"},
    {PINGYI_MSG_ACK, P3 (3, 0, 4), R_UINT, 0, 0, "ACK.results[0].receipt: expected str, got uint"},
    {PINGYI_MSG_RETRY, P1 (2), R_STR, 1, 0, "RETRY.tag: expected uint, got str"},
    {PINGYI_MSG_RETRY, P1 (3), R_STR, 1, 0, "RETRY.retry_ms: expected uint, got str"},
    {PINGYI_MSG_RETRY, P1 (4), R_UINT, 1, 0, "RETRY.reason: expected str, got uint"},
    {PINGYI_MSG_ERROR, P1 (2), R_NIL, 0, 0, "ERROR.tag: expected uint, got nil"},
    {PINGYI_MSG_ERROR, P1 (3), R_STR, 1, 0, "ERROR.code: expected uint, got str"},
    {PINGYI_MSG_ERROR, P1 (4), R_UINT, 1, 0, "ERROR.text: expected str, got uint"},
    {PINGYI_MSG_VENUE_OPEN, P1 (2), R_STR, 1, 0, "VENUE_OPEN.tag: expected uint, got str"},
    {PINGYI_MSG_VENUE_OPEN, P1 (3), R_UINT, 1, 0, "VENUE_OPEN.fingerprint: expected bin, got uint"},
    {PINGYI_MSG_VENUE_OPEN, P1 (4), R_UINT, 1, 0, "VENUE_OPEN.venue: expected str, got uint"},
    {PINGYI_MSG_VENUE_CLOSE, P1 (2), R_STR, 1, 0, "VENUE_CLOSE.tag: expected uint, got str"},
    {PINGYI_MSG_VENUE_CLOSE, P1 (3), R_STR, 1, 0, "VENUE_CLOSE.fingerprint: expected bin, got str"},
    {PINGYI_MSG_VENUE_CLOSE, P1 (4), R_UINT, 1, 0, "VENUE_CLOSE.venue: expected str, got uint"},
    {PINGYI_MSG_VENUE_CLOSE, P1 (5), R_STR, 1, 0, "VENUE_CLOSE.issued: expected uint, got str"},
    {PINGYI_MSG_VENUE_CLOSE, P1 (6), R_TRUE, 0, 0, "VENUE_CLOSE.collected: expected uint, got bool"},
    {PINGYI_MSG_VENUE_CLOSE, P1 (7), R_INT, 0, -1, "VENUE_CLOSE.sent: negative where uint expected"},
    {PINGYI_MSG_VENUE_CLOSE, P1 (7), R_STR, 1, 0, "VENUE_CLOSE.sent: expected uint, got str"},
    {PINGYI_MSG_VENUE_STATUS, P1 (2), R_STR, 1, 0, "VENUE_STATUS.tag: expected uint, got str"},
    {PINGYI_MSG_VENUE_STATUS, P1 (3), R_UINT, 1, 0, "VENUE_STATUS.figures: expected array, got uint"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 0), R_STR, 1, 0, "VENUE_STATUS.figures.venue: expected uint, got str"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 1), R_STR, 1, 0,
     "VENUE_STATUS.figures.accepted: expected uint, got str"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 2), R_STR, 1, 0, "VENUE_STATUS.figures.blank: expected uint, got str"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 3), R_STR, 1, 0,
     "VENUE_STATUS.figures.duplicates: expected uint, got str"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 4), R_STR, 1, 0,
     "VENUE_STATUS.figures.rejected: expected uint, got str"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 5), R_UINT, 1, 0,
     "VENUE_STATUS.figures.rejected_by: expected array, got uint"},
    {PINGYI_MSG_VENUE_STATUS, P3 (3, 5, 5), R_STR, 1, 0,
     "VENUE_STATUS.figures.rejected_by[5]: expected uint, got str"},
    {PINGYI_MSG_VENUE_STATUS, P3 (3, 5, 15), R_INT, 0, -3,
     "VENUE_STATUS.figures.rejected_by[15]: negative where uint expected"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 6), R_STR, 1, 0, "VENUE_STATUS.figures.issued: expected int, got str"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 7), R_NIL, 0, 0,
     "VENUE_STATUS.figures.collected: expected int, got nil"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 8), R_TRUE, 0, 0, "VENUE_STATUS.figures.sent: expected int, got bool"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 9), R_UINT, 1, 0,
     "VENUE_STATUS.figures.closed: expected bool, got uint"},
    {PINGYI_MSG_TALLY_QUERY, P1 (2), R_STR, 1, 0, "TALLY_QUERY.tag: expected uint, got str"},
    {PINGYI_MSG_TALLY_QUERY, P1 (3), R_STR, 1, 0, "TALLY_QUERY.shard: expected uint, got str"},
    {PINGYI_MSG_TALLY_QUERY, P1 (4), R_STR, 8, 0, "TALLY_QUERY.from: expected bin, got str"},
    {PINGYI_MSG_SNAPSHOT, P1 (2), R_STR, 1, 0, "SNAPSHOT.tag: expected uint, got str"},
    {PINGYI_MSG_SNAPSHOT, P1 (3), R_STR, 1, 0, "SNAPSHOT.shard: expected uint, got str"},
    {PINGYI_MSG_SNAPSHOT, P1 (4), R_STR, 1, 0, "SNAPSHOT.shard_count: expected uint, got str"},
    {PINGYI_MSG_SNAPSHOT, P1 (5), R_UINT, 1, 0, "SNAPSHOT.fingerprint: expected bin, got uint"},
    {PINGYI_MSG_SNAPSHOT, P1 (6), R_BIN, 8, 0, "SNAPSHOT.sequence: expected uint, got bin"},
    {PINGYI_MSG_SNAPSHOT, P1 (7), R_STR, 32, 0, "SNAPSHOT.chain_head: expected bin, got str"},
    {PINGYI_MSG_SNAPSHOT, P1 (8), R_UINT, 0, 0, "SNAPSHOT.venues: expected array, got uint"},
    {PINGYI_MSG_SNAPSHOT, P2 (8, 1), R_UINT, 0, 0, "SNAPSHOT.venues[1]: expected array, got uint"},
    {PINGYI_MSG_SNAPSHOT, P3 (8, 1, 0), R_STR, 1, 0, "SNAPSHOT.venues[1].venue: expected uint, got str"},
    {PINGYI_MSG_SNAPSHOT, P3 (8, 0, 9), R_NIL, 0, 0, "SNAPSHOT.venues[0].closed: expected bool, got nil"},
    {PINGYI_MSG_SNAPSHOT, P4 (8, 1, 5, 2), R_NIL, 0, 0,
     "SNAPSHOT.venues[1].rejected_by[2]: expected uint, got nil"},
    {PINGYI_MSG_SNAPSHOT, P1 (9), R_UINT, 0, 0, "SNAPSHOT.counters: expected array, got uint"},
    {PINGYI_MSG_SNAPSHOT, P2 (9, 1), R_BIN, 8, 0, "SNAPSHOT.counters[1]: expected array, got bin"},
    {PINGYI_MSG_SNAPSHOT, P3 (9, 1, 0), R_UINT, 8, 0, "SNAPSHOT.counters[1].key: expected bin, got uint"},
    {PINGYI_MSG_SNAPSHOT, P3 (9, 0, 1), R_STR, 1, 0, "SNAPSHOT.counters[0].count: expected uint, got str"},
    {PINGYI_MSG_SNAPSHOT, P1 (10), R_UINT, 1, 0, "SNAPSHOT.more: expected bool, got uint"},
    {PINGYI_MSG_SNAPSHOT, P1 (11), R_STR, 8, 0, "SNAPSHOT.next: expected bin, got str"},
    {PINGYI_MSG_STATS_QUERY, P1 (2), R_STR, 1, 0, "STATS_QUERY.tag: expected uint, got str"},
    {PINGYI_MSG_STATS_QUERY, P1 (3), R_STR, 1, 0, "STATS_QUERY.shard: expected int, got str"},
    {PINGYI_MSG_STATS, P1 (2), R_STR, 1, 0, "STATS.tag: expected uint, got str"},
    {PINGYI_MSG_STATS, P1 (3), R_UINT, 1, 0, "STATS.source: expected str, got uint"},
    {PINGYI_MSG_STATS, P1 (4), R_UINT, 1, 0, "STATS.stats: expected array, got uint"},
    {PINGYI_MSG_STATS, P2 (4, 0), R_STR, 1, 0, "STATS.stats[0]: expected array, got str"},
    {PINGYI_MSG_STATS, P3 (4, 1, 0), R_UINT, 1, 0, "STATS.stats[1].name: expected str, got uint"},
    {PINGYI_MSG_STATS, P3 (4, 1, 1), R_STR, 1, 0, "STATS.stats[1].value: expected uint, got str"},
    {PINGYI_MSG_FORWARD, P1 (2), R_STR, 5, 0, "FORWARD.route: expected bin, got str"},
    {PINGYI_MSG_FORWARD, P1 (3), R_STR, 5, 0, "FORWARD.role: expected uint, got str"},
    {PINGYI_MSG_FORWARD, P1 (4), R_BIN, 3, 0, "FORWARD.sender: expected str, got bin"},
    {PINGYI_MSG_FORWARD, P1 (5), R_STR, 3, 0, "FORWARD.inner: expected bin, got str"},
    {PINGYI_MSG_REPLY, P1 (2), R_UINT, 5, 0, "REPLY.route: expected bin, got uint"},
    {PINGYI_MSG_REPLY, P1 (3), R_STR, 3, 0, "REPLY.inner: expected bin, got str"},
};

static void
test_wrong_type_names_the_field (void **state)
{
    run_mutations (wrong_types, sizeof wrong_types / sizeof wrong_types[0], NULL);
}

/*  Every bound: one past it in each direction.  Array headers above their
    bound are refused before their items are even looked at.  */
static const mutation_t out_of_bounds[] = {
    {PINGYI_MSG_HELLO, P1 (2), R_BIN, 31, 0, "HELLO.fingerprint: bin too short"},
    {PINGYI_MSG_HELLO, P1 (2), R_BIN, 33, 0, "HELLO.fingerprint: bin too long"},
    {PINGYI_MSG_HELLO, P1 (3), R_STR, 0, 0, "HELLO.name: str too short"},
    {PINGYI_MSG_HELLO, P1 (3), R_STR, 65, 0, "HELLO.name: str too long"},
    {PINGYI_MSG_HELLO, P1 (4), R_UINTS, 257, 0, "HELLO.shards: array too long"},
    {PINGYI_MSG_HELLO, P2 (4, 2), R_UINT, 256, 0, "HELLO.shards[2]: integer out of range"},
    {PINGYI_MSG_HELLO, P2 (4, 2), R_UINT, 3, 0, "HELLO.shards[2]: shard 3 listed twice"},
    {PINGYI_MSG_READY, P1 (2), R_UINTS, 257, 0, "READY.shards: array too long"},
    {PINGYI_MSG_READY, P1 (2), R_UINTS, 2, 9, "READY.shards[1]: shard 9 listed twice"},
    {PINGYI_MSG_SUBMIT, P1 (3), R_BIN, 0, 0, "SUBMIT.fingerprint: bin too short"},
    {PINGYI_MSG_SUBMIT, P1 (4), R_STR, 0, 0, "SUBMIT.venue: str too short"},
    {PINGYI_MSG_SUBMIT, P1 (4), R_STR, 65, 0, "SUBMIT.venue: str too long"},
    {PINGYI_MSG_SUBMIT, P1 (5), R_ARRAY_HDR, 4097, 0, "SUBMIT.envelopes: array too long"},
    {PINGYI_MSG_SUBMIT, P2 (5, 1), R_BIN, 4601, 0, "SUBMIT.envelopes[1]: bin too long"},
    {PINGYI_MSG_SUBMIT, P2 (5, 2), R_BIN, 0, 0, "SUBMIT.envelopes[2]: bin too short"},
    {PINGYI_MSG_ACK, P1 (3), R_ARRAY_HDR, 4097, 0, "ACK.results: array too long"},
    {PINGYI_MSG_ACK, P2 (3, 0), R_UINTS, 4, 0, "ACK.results[0]: expected 5 fields, got 4"},
    {PINGYI_MSG_ACK, P2 (3, 0), R_UINTS, 6, 0, "ACK.results[0]: expected 5 fields, got 6"},
    {PINGYI_MSG_ACK, P3 (3, 1, 0), R_BIN, 15, 0, "ACK.results[1].ballot_id: bin too short"},
    {PINGYI_MSG_ACK, P3 (3, 1, 0), R_BIN, 17, 0, "ACK.results[1].ballot_id: bin too long"},
    {PINGYI_MSG_ACK, P3 (3, 1, 1), R_UINT, 3, 0, "ACK.results[1].status: integer out of range"},
    {PINGYI_MSG_ACK, P3 (3, 2, 2), R_UINT, 256, 0, "ACK.results[2].reason: integer out of range"},
    {PINGYI_MSG_ACK, P3 (3, 2, 3), R_STR, 513, 0, "ACK.results[2].text: str too long"},
    {PINGYI_MSG_ACK, P3 (3, 0, 4), R_STR, 17, 0, "ACK.results[0].receipt: str too long"},
    {PINGYI_MSG_RETRY, P1 (3), R_UINT, 1ull << 32, 0, "RETRY.retry_ms: integer out of range"},
    {PINGYI_MSG_RETRY, P1 (4), R_STR, 513, 0, "RETRY.reason: str too long"},
    {PINGYI_MSG_ERROR, P1 (3), R_UINT, 1ull << 32, 0, "ERROR.code: integer out of range"},
    {PINGYI_MSG_ERROR, P1 (4), R_STR, 513, 0, "ERROR.text: str too long"},
    {PINGYI_MSG_VENUE_OPEN, P1 (3), R_BIN, 33, 0, "VENUE_OPEN.fingerprint: bin too long"},
    {PINGYI_MSG_VENUE_OPEN, P1 (4), R_STR, 0, 0, "VENUE_OPEN.venue: str too short"},
    {PINGYI_MSG_VENUE_OPEN, P1 (4), R_STR, 65, 0, "VENUE_OPEN.venue: str too long"},
    {PINGYI_MSG_VENUE_CLOSE, P1 (4), R_STR, 65, 0, "VENUE_CLOSE.venue: str too long"},
    {PINGYI_MSG_VENUE_CLOSE, P1 (5), R_UINT, 1ull << 63, 0, "VENUE_CLOSE.issued: integer out of range"},
    {PINGYI_MSG_VENUE_CLOSE, P1 (6), R_UINT, UINT64_MAX, 0, "VENUE_CLOSE.collected: integer out of range"},
    {PINGYI_MSG_VENUE_CLOSE, P1 (7), R_UINT, 1ull << 63, 0, "VENUE_CLOSE.sent: integer out of range"},
    {PINGYI_MSG_VENUE_STATUS, P1 (3), R_UINTS, 9, 0, "VENUE_STATUS.figures: expected 10 fields, got 9"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 0), R_UINT, 1ull << 32, 0,
     "VENUE_STATUS.figures.venue: integer out of range"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 5), R_UINTS, 15, 0,
     "VENUE_STATUS.figures.rejected_by: expected 16 items, got 15"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 5), R_UINTS, 17, 0,
     "VENUE_STATUS.figures.rejected_by: expected 16 items, got 17"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 6), R_INT, 0, -2, "VENUE_STATUS.figures.issued: integer out of range"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 8), R_UINT, 1ull << 63, 0,
     "VENUE_STATUS.figures.sent: integer out of range"},
    {PINGYI_MSG_TALLY_QUERY, P1 (3), R_UINT, 256, 0, "TALLY_QUERY.shard: integer out of range"},
    {PINGYI_MSG_TALLY_QUERY, P1 (4), R_BIN, 9, 0, "TALLY_QUERY.from: bin too long"},
    {PINGYI_MSG_TALLY_QUERY, P1 (4), R_BIN, 7, 0, "TALLY_QUERY.from: bin too short"},
    {PINGYI_MSG_SNAPSHOT, P1 (3), R_UINT, 256, 0, "SNAPSHOT.shard: integer out of range"},
    {PINGYI_MSG_SNAPSHOT, P1 (3), R_UINT, 4, 0, "SNAPSHOT.shard: 4 is not below shard_count 4"},
    {PINGYI_MSG_SNAPSHOT, P1 (4), R_UINT, 0, 0, "SNAPSHOT.shard_count: must be at least 1"},
    {PINGYI_MSG_SNAPSHOT, P1 (4), R_UINT, 257, 0, "SNAPSHOT.shard_count: integer out of range"},
    {PINGYI_MSG_SNAPSHOT, P1 (5), R_BIN, 31, 0, "SNAPSHOT.fingerprint: bin too short"},
    {PINGYI_MSG_SNAPSHOT, P1 (7), R_BIN, 33, 0, "SNAPSHOT.chain_head: bin too long"},
    {PINGYI_MSG_SNAPSHOT, P1 (8), R_ARRAY_HDR, 65536, 0, "SNAPSHOT.venues: array too long"},
    {PINGYI_MSG_SNAPSHOT, P2 (8, 1), R_UINTS, 11, 0, "SNAPSHOT.venues[1]: expected 10 fields, got 11"},
    {PINGYI_MSG_SNAPSHOT, P3 (8, 0, 7), R_INT, 0, -5, "SNAPSHOT.venues[0].collected: integer out of range"},
    {PINGYI_MSG_SNAPSHOT, P1 (9), R_ARRAY_HDR, 262145, 0, "SNAPSHOT.counters: array too long"},
    {PINGYI_MSG_SNAPSHOT, P2 (9, 0), R_UINTS, 3, 0, "SNAPSHOT.counters[0]: expected 2 fields, got 3"},
    {PINGYI_MSG_SNAPSHOT, P3 (9, 1, 0), R_BIN, 7, 0, "SNAPSHOT.counters[1].key: bin too short"},
    {PINGYI_MSG_SNAPSHOT, P1 (11), R_BIN, 9, 0, "SNAPSHOT.next: bin too long"},
    {PINGYI_MSG_STATS_QUERY, P1 (3), R_INT, 0, -2, "STATS_QUERY.shard: integer out of range"},
    {PINGYI_MSG_STATS_QUERY, P1 (3), R_UINT, 256, 0, "STATS_QUERY.shard: integer out of range"},
    {PINGYI_MSG_STATS, P1 (3), R_STR, 0, 0, "STATS.source: str too short"},
    {PINGYI_MSG_STATS, P1 (3), R_STR, 65, 0, "STATS.source: str too long"},
    {PINGYI_MSG_STATS, P1 (4), R_ARRAY_HDR, 257, 0, "STATS.stats: array too long"},
    {PINGYI_MSG_STATS, P2 (4, 0), R_UINTS, 1, 0, "STATS.stats[0]: expected 2 fields, got 1"},
    {PINGYI_MSG_STATS, P3 (4, 1, 0), R_STR, 0, 0, "STATS.stats[1].name: str too short"},
    {PINGYI_MSG_STATS, P3 (4, 1, 0), R_STR, 65, 0, "STATS.stats[1].name: str too long"},
    {PINGYI_MSG_FORWARD, P1 (2), R_BIN, 0, 0, "FORWARD.route: bin too short"},
    {PINGYI_MSG_FORWARD, P1 (2), R_BIN, 257, 0, "FORWARD.route: bin too long"},
    {PINGYI_MSG_FORWARD, P1 (3), R_UINT, 0, 0, "FORWARD.role: 0 is not a role"},
    {PINGYI_MSG_FORWARD, P1 (3), R_UINT, 6, 0, "FORWARD.role: integer out of range"},
    {PINGYI_MSG_FORWARD, P1 (4), R_STR, 65, 0, "FORWARD.sender: str too long"},
    {PINGYI_MSG_FORWARD, P1 (5), R_BIN, 0, 0, "FORWARD.inner: bin too short"},
    {PINGYI_MSG_REPLY, P1 (2), R_BIN, 257, 0, "REPLY.route: bin too long"},
    {PINGYI_MSG_REPLY, P1 (3), R_BIN, 0, 0, "REPLY.inner: bin too short"},
};

static void
test_bounds_exact_reasons (void **state)
{
    run_mutations (out_of_bounds, sizeof out_of_bounds / sizeof out_of_bounds[0], NULL);
}

/*  Strings become C strings and log lines downstream: UTF-8, no NUL, and no
    control character in names; receipts are 16 lowercase hex digits.  */
static const mutation_t bad_strings[] = {
    {PINGYI_MSG_SUBMIT, P1 (4), R_STRDATA, 3, 0, "SUBMIT.venue: str contains NUL"},
    {PINGYI_MSG_SUBMIT, P1 (4), R_STRDATA, 3, 0, "SUBMIT.venue: str contains a control character"},
    {PINGYI_MSG_SUBMIT, P1 (4), R_STRDATA, 3, 0, "SUBMIT.venue: str contains a control character"},
    {PINGYI_MSG_VENUE_OPEN, P1 (4), R_STRDATA, 2, 0, "VENUE_OPEN.venue: str is not valid UTF-8"},
    {PINGYI_MSG_VENUE_CLOSE, P1 (4), R_STRDATA, 1, 0, "VENUE_CLOSE.venue: str is not valid UTF-8"},
    {PINGYI_MSG_HELLO, P1 (3), R_STRDATA, 3, 0, "HELLO.name: str is not valid UTF-8"},
    {PINGYI_MSG_STATS, P1 (3), R_STRDATA, 2, 0, "STATS.source: str is not valid UTF-8"},
    {PINGYI_MSG_STATS, P3 (4, 0, 0), R_STRDATA, 4, 0,
     "STATS.stats[0].name: str contains a control character"},
    {PINGYI_MSG_FORWARD, P1 (4), R_STRDATA, 4, 0, "FORWARD.sender: str is not valid UTF-8"},
    {PINGYI_MSG_ERROR, P1 (4), R_STRDATA, 5, 0, "ERROR.text: str contains NUL"},
    {PINGYI_MSG_RETRY, P1 (4), R_STRDATA, 4, 0, "RETRY.reason: str is not valid UTF-8"},
    {PINGYI_MSG_ACK, P3 (3, 2, 3), R_STRDATA, 2, 0, "ACK.results[2].text: str is not valid UTF-8"},
    {PINGYI_MSG_ACK, P3 (3, 0, 4), R_STRDATA, 16, 0,
     "ACK.results[0].receipt: receipt must be empty or 16 hex digits"},
    {PINGYI_MSG_ACK, P3 (3, 0, 4), R_STRDATA, 5, 0,
     "ACK.results[0].receipt: receipt must be empty or 16 hex digits"},
};
static const char *const bad_string_data[] = {
    "v\0001",           "v\n1",     "v\1771", /* DEL */
    "\xc0\x80",         "\xff",     "\xed\xa0\x80",     "\xe8\xaf", "a\tbc", "\xf4\x90\x80\x80", "bad\000!",
    "\xf0\x8f\xbf\xbf", "\xa0\xa0", "0123456789ABCDEF", "01234",
};

static void
test_bad_strings (void **state)
{
    run_mutations (bad_strings, sizeof bad_strings / sizeof bad_strings[0], bad_string_data);

    /* Chinese names and texts with newlines are fine.  */
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    pingyi_msg_venue_open (&w, 1, fp, "评议-会场\xf0\x9f\x97\xb3");
    frame_t f = frame_of (&w);
    pingyi_msg_t m;
    decode_ok (&f, &m, PINGYI_MSG_VENUE_OPEN);
    assert_str (m.u.venue_open.venue, "评议-会场\xf0\x9f\x97\xb3");
    free (f.p);
    pingyi_msg_error (&w, 1, PINGYI_ERROR_INTERNAL, "line one\nline two\t(评议)");
    f = frame_of (&w);
    decode_ok (&f, &m, PINGYI_MSG_ERROR);
    free (f.p);
    pingyi_writer_fini (&w);
}

/*  Bounds that would need megabytes to reach are refused on the declared
    length alone (bin32 header, nothing behind it).  */
static void
test_huge_declared_lengths (void **state)
{
    uint8_t hdr[5] = {0xc6};
    uint32_t n = PINGYI_INNER_MAX + 1;
    hdr[1] = (uint8_t) (n >> 24);
    hdr[2] = (uint8_t) (n >> 16);
    hdr[3] = (uint8_t) (n >> 8);
    hdr[4] = (uint8_t) n;
    uint32_t path_inner[] = {5};
    frame_t f = sample (PINGYI_MSG_FORWARD);
    frame_t bad = splice (&f, path_inner, 1, hdr, sizeof hdr);
    expect_fail (bad.p, bad.len, "FORWARD.inner: bin too long");
    free (bad.p);
    free (f.p);
    /* Within the bound but not present: truncated.  */
    n = 1000000;
    hdr[1] = (uint8_t) (n >> 24);
    hdr[2] = (uint8_t) (n >> 16);
    hdr[3] = (uint8_t) (n >> 8);
    hdr[4] = (uint8_t) n;
    uint32_t path_reply[] = {3};
    f = sample (PINGYI_MSG_REPLY);
    bad = splice (&f, path_reply, 1, hdr, sizeof hdr);
    expect_fail (bad.p, bad.len, "REPLY.inner: truncated");
    free (bad.p);
    free (f.p);
    /* An array of 4 billion envelopes in a 50-byte frame.  */
    static const uint8_t arr[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    uint32_t path_env[] = {5};
    f = sample (PINGYI_MSG_SUBMIT);
    bad = splice (&f, path_env, 1, arr, sizeof arr);
    expect_fail (bad.p, bad.len, "SUBMIT.envelopes: array too long");
    free (bad.p);
    free (f.p);
}

/*  On failure the message is zeroed except its type, so stale pointers from
    a half-decoded frame cannot be used by mistake.  */
static void
test_failure_clears_message (void **state)
{
    frame_t f = sample (PINGYI_MSG_SUBMIT);
    pingyi_msg_t m;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_msg_decode (f.p, f.len - 1, &m, err), -1);
    assert_int_equal (m.type, PINGYI_MSG_SUBMIT);
    assert_null (m.u.submit.venue.p);
    assert_int_equal (m.u.submit.envelopes.count, 0);
    pingyi_bin_t b;
    assert_false (pingyi_list_next_bin (&m.u.submit.envelopes, &b));
    free (f.p);
}

/*  Texts may quote hostile bytes; the encoders make them decodable, so one
    bad reason can never cost a client every ack of a batch.  */
static void
test_texts_are_sanitised (void **state)
{
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    pingyi_msg_t m;
    pingyi_ack_t a;
    frame_t f;

    pingyi_msg_ack_begin (&w, 1, 1);
    pingyi_msg_ack_result (&w, id1, PINGYI_ACK_REJECTED, 4, "venue \xff\xfe\xc0\x80 is not v01 \xe8\xaf",
                           NULL);
    f = frame_of (&w);
    decode_ok (&f, &m, PINGYI_MSG_ACK);
    assert_true (pingyi_list_next_ack (&m.u.ack.results, &a));
    assert_str (a.text, "venue ???? is not v01 ??");
    free (f.p);

    char long_text[700];
    memset (long_text, 'x', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    pingyi_msg_error (&w, 1, PINGYI_ERROR_INTERNAL, long_text);
    f = frame_of (&w);
    decode_ok (&f, &m, PINGYI_MSG_ERROR);
    assert_int_equal (m.u.error.text.len, PINGYI_TEXT_MAX);
    free (f.p);

    /* 200 three-byte characters: cut after 170 (510 bytes), never mid-character.  */
    char cjk[601];
    for (int i = 0; i < 200; i++)
        memcpy (cjk + 3 * i, "评", 3);
    cjk[600] = '\0';
    pingyi_msg_retry (&w, 1, 10, cjk);
    f = frame_of (&w);
    decode_ok (&f, &m, PINGYI_MSG_RETRY);
    assert_int_equal (m.u.retry.reason.len, 510);
    assert_memory_equal (m.u.retry.reason.p, cjk, 510);
    free (f.p);

    pingyi_msg_retry (&w, 1, 10, NULL);
    f = frame_of (&w);
    decode_ok (&f, &m, PINGYI_MSG_RETRY);
    assert_int_equal (m.u.retry.reason.len, 0);
    free (f.p);
    pingyi_writer_fini (&w);
}

static void
test_names (void **state)
{
    assert_string_equal (pingyi_msg_type_name (PINGYI_MSG_HELLO), "HELLO");
    assert_string_equal (pingyi_msg_type_name (PINGYI_MSG_SUBMIT), "SUBMIT");
    assert_string_equal (pingyi_msg_type_name (PINGYI_MSG_VENUE_STATUS), "VENUE_STATUS");
    assert_string_equal (pingyi_msg_type_name (PINGYI_MSG_REPLY), "REPLY");
    assert_string_equal (pingyi_msg_type_name (0), "UNKNOWN");
    assert_string_equal (pingyi_msg_type_name (17), "UNKNOWN");
    assert_string_equal (pingyi_msg_type_name (-1), "UNKNOWN");
    static const char *roles[] = {"venue", "worker", "aggregator", "operator", "broker", "election"};
    for (int i = 0; i < 6; i++) {
        assert_string_equal (pingyi_role_name ((pingyi_role_t) (i + 1)), roles[i]);
        assert_int_equal (pingyi_role_parse (roles[i], strlen (roles[i])), i + 1);
    }
    assert_int_equal (pingyi_role_parse ("venu", 4), PINGYI_ROLE_NONE);
    assert_int_equal (pingyi_role_parse ("venues", 6), PINGYI_ROLE_NONE);
    assert_int_equal (pingyi_role_parse ("venue", 4), PINGYI_ROLE_NONE);
    assert_int_equal (pingyi_role_parse ("none", 4), PINGYI_ROLE_NONE);
    assert_int_equal (pingyi_role_parse (NULL, 0), PINGYI_ROLE_NONE);
    assert_string_equal (pingyi_role_name (PINGYI_ROLE_NONE), "none");
    assert_string_equal (pingyi_role_name ((pingyi_role_t) 99), "unknown");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_round_trip_hello_ready_heartbeat),
        cmocka_unit_test (test_round_trip_submit),
        cmocka_unit_test (test_round_trip_ack),
        cmocka_unit_test (test_round_trip_retry_error_open_close),
        cmocka_unit_test (test_round_trip_status_query_snapshot),
        cmocka_unit_test (test_round_trip_stats_forward_reply),
        cmocka_unit_test (test_wrong_walker_stops),
        cmocka_unit_test (test_wire_heartbeat),
        cmocka_unit_test (test_wire_small_submit),
        cmocka_unit_test (test_wire_small_ack),
        cmocka_unit_test (test_truncation_at_every_offset),
        cmocka_unit_test (test_trailing_bytes),
        cmocka_unit_test (test_version_and_type),
        cmocka_unit_test (test_top_level_garbage),
        cmocka_unit_test (test_wrong_type_names_the_field),
        cmocka_unit_test (test_bounds_exact_reasons),
        cmocka_unit_test (test_bad_strings),
        cmocka_unit_test (test_huge_declared_lengths),
        cmocka_unit_test (test_failure_clears_message),
        cmocka_unit_test (test_texts_are_sanitised),
        cmocka_unit_test (test_names),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
