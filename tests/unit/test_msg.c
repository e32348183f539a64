/*  test_msg.c — the wire protocol, version 3: every message round-trips,
    the bytes on the wire are what docs/PROTOCOL.md says (its worked example
    byte for byte, MACs included), every way a hostile frame can be wrong
    (cut short, too long, wrong type, trailing bytes, unknown version or
    type, wrong arity) is refused with a reason naming the field, and the
    link MAC of ACK, VENUE_STATUS and VENUE_CLOSE catches every flipped bit
    and every wrong key.

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

#include <sodium.h>

#include "envelope.h"
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

static uint8_t fp[PINGYI_FP_LEN], digest[32], env_big[PINGYI_ENVELOPE_MAX], env_mid[100];
/*  Count block keys (venue u16 BE, subject u16 BE) and cells (u32 LE).  */
static const uint8_t key1[4] = {0, 3, 0, 1}, key3[4] = {0, 4, 0, 0};
static const uint8_t cells1[8] = {7, 0, 0, 0, 1, 0, 0, 0}, cells2[4] = {0xff, 0xff, 0xff, 0xff};
static const uint64_t ticket = 0x0102030405060708ULL;
/*  Link keys of the samples (any 32 bytes do for the codec).  */
static uint8_t ack_key[32], close_key[32];
static uint8_t id1[16], id2[16], id3[16];
static pingyi_venue_figures_t fig1, fig2;
static frame_t inner_submit, inner_ack;

static void
init_samples (void)
{
    for (int i = 0; i < 32; i++) {
        fp[i] = (uint8_t) i;
        digest[i] = (uint8_t) (0xa0 + i);
    }
    memset (ack_key, 0xa1, sizeof ack_key);
    memset (close_key, 0xc1, sizeof close_key);
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
    fig1.category_count = 3;
    fig1.by_category[0] = 60;
    fig1.by_category[1] = 30;
    fig1.by_category[2] = 10;
    fig1.reopens = 2;
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
    fig2.category_count = PINGYI_FIGURES_CATEGORIES; /* the most there can be */
    for (int i = 0; i < PINGYI_FIGURES_CATEGORIES; i++)
        fig2.by_category[i] = (uint64_t) i * 1000;
    fig2.by_category[31] = UINT64_MAX;
    fig2.reopens = UINT32_MAX;
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
        pingyi_msg_ack_end (w, ack_key);
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
        pingyi_msg_venue_close (w, 9, fp, "v01", 120, 118, 117, close_key);
        break;
    case PINGYI_MSG_VENUE_STATUS:
        pingyi_msg_venue_status (w, 10, &fig1, ack_key);
        break;
    case PINGYI_MSG_TALLY_QUERY:
        pingyi_msg_tally_query (w, 11, 3, key1);
        break;
    case PINGYI_MSG_SNAPSHOT:
        pingyi_msg_snapshot_begin (w, 12, 3, 4, fp, 123456789, digest, 77, 2);
        pingyi_msg_figures (w, &fig1);
        pingyi_msg_figures (w, &fig2);
        pingyi_msg_snapshot_blocks_begin (w, 2);
        pingyi_msg_block (w, 3, 1, cells1, sizeof cells1);
        pingyi_msg_block (w, 3, 2, cells2, sizeof cells2);
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
        pingyi_msg_forward (w, ticket, PINGYI_ROLE_VENUE, "v01", 3, inner_submit.p, inner_submit.len);
        break;
    case PINGYI_MSG_REPLY:
        pingyi_msg_reply (w, ticket, inner_ack.p, inner_ack.len);
        break;
    case PINGYI_MSG_VENUE_REOPEN:
        pingyi_msg_venue_reopen (w, 17, fp, "v01", 2, "收回数录错", close_key);
        break;
    case PINGYI_MSG_MONITOR_QUERY:
        pingyi_msg_monitor_query (w, 18, 4096);
        break;
    case PINGYI_MSG_MONITOR: {
        /* more in tests/unit/test_monitor_msg.c */
        static const uint32_t owned[2] = {0, 200};
        pingyi_monitor_venue_t v = {.id = {"v01", 3}, .connected = true, .status = PINGYI_MONITOR_OPEN,
                                    .accepted = 20, .seen = true, .last_seen_ms = 1500};
        pingyi_msg_monitor_begin (w, 19, 123456, "0.1.0 (git 1a2b3c4d)", 1);
        pingyi_msg_monitor_worker (w, "1", owned, 2, true, 3, 1000, 250);
        pingyi_msg_monitor_shards_begin (w, 2);
        pingyi_msg_monitor_shard (w, 0, "1", -1);
        pingyi_msg_monitor_shard (w, 1, NULL, 4000);
        pingyi_msg_monitor_refusals_begin (w, 2);
        pingyi_msg_monitor_refusal (w, "bad_messages", 1);
        pingyi_msg_monitor_refusal (w, "forbidden", 0);
        pingyi_msg_monitor_venues_begin (w, 1);
        pingyi_msg_monitor_venue (w, &v);
        pingyi_msg_monitor_end (w, true, 1);
        break;
    }
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
    if (sodium_init () < 0)
        return -1;
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
    for (int i = 0; i < PINGYI_REJECT_SLOTS; i++)
        assert_true (got->rejected_by[i] == want->rejected_by[i]);
    assert_true (got->issued == want->issued);
    assert_true (got->collected == want->collected);
    assert_true (got->sent == want->sent);
    assert_int_equal (got->closed, want->closed);
    assert_int_equal (got->category_count, want->category_count);
    for (uint32_t i = 0; i < want->category_count; i++)
        assert_true (got->by_category[i] == want->by_category[i]);
    assert_true (got->reopens == want->reopens);
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
    /* The MAC closes the frame: bin16 header, 16 bytes, nothing after.  */
    assert_int_equal (m.mac_offset, f.len - 18);
    assert_int_equal (f.p[m.mac_offset], 0xc4);
    assert_int_equal (f.p[m.mac_offset + 1], 16);
    assert_memory_equal (m.mac, f.p + f.len - 16, 16);
    assert_int_equal (pingyi_msg_mac_check (f.p, &m, ack_key), 0);
    free (f.p);

    /* No results at all still carries a MAC.  */
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    pingyi_msg_ack_begin (&w, 0, 0);
    pingyi_msg_ack_end (&w, ack_key);
    f = frame_of (&w);
    decode_ok (&f, &m, PINGYI_MSG_ACK);
    assert_int_equal (m.u.ack.results.count, 0);
    assert_int_equal (pingyi_msg_mac_check (f.p, &m, ack_key), 0);
    free (f.p);
    pingyi_writer_fini (&w);
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
    assert_int_equal (m.mac_offset, f.len - 18);
    assert_int_equal (pingyi_msg_mac_check (f.p, &m, close_key), 0);
    free (f.p);

    f = sample (PINGYI_MSG_VENUE_REOPEN);
    decode_ok (&f, &m, PINGYI_MSG_VENUE_REOPEN);
    assert_int_equal (m.u.venue_reopen.tag, 17);
    assert_memory_equal (m.u.venue_reopen.fingerprint, fp, 32);
    assert_str (m.u.venue_reopen.venue, "v01");
    assert_int_equal (m.u.venue_reopen.number, 2);
    assert_str (m.u.venue_reopen.reason, "收回数录错");
    assert_int_equal (m.mac_offset, f.len - 18);
    assert_int_equal (pingyi_msg_mac_check (f.p, &m, close_key), 0);
    assert_int_equal (pingyi_msg_mac_check (f.p, &m, ack_key), -1);
    free (f.p);

    /* The answer to an operator: a VENUE_STATUS with a zero MAC.  */
    {
        pingyi_writer_t w0;
        pingyi_writer_init (&w0);
        pingyi_msg_venue_status (&w0, 5, &fig1, NULL);
        f = frame_of (&w0);
        decode_ok (&f, &m, PINGYI_MSG_VENUE_STATUS);
        static const uint8_t zero[PINGYI_LINK_MAC_LEN];
        assert_memory_equal (m.mac, zero, sizeof zero);
        assert_int_equal (pingyi_msg_mac_check (f.p, &m, ack_key), -1);
        assert_figures (&m.u.venue_status.figures, &fig1);
        free (f.p);
        pingyi_writer_fini (&w0);
    }

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
    pingyi_msg_venue_close (&w, 0, fp, "v", INT64_MAX, 0, INT64_MAX, close_key);
    f = frame_of (&w);
    decode_ok (&f, &m, PINGYI_MSG_VENUE_CLOSE);
    assert_true (m.u.venue_close.issued == INT64_MAX);
    assert_true (m.u.venue_close.collected == 0);
    assert_int_equal (pingyi_msg_mac_check (f.p, &m, close_key), 0);
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
    assert_int_equal (m.mac_offset, f.len - 18);
    assert_int_equal (pingyi_msg_mac_check (f.p, &m, ack_key), 0);
    free (f.p);

    f = sample (PINGYI_MSG_TALLY_QUERY);
    decode_ok (&f, &m, PINGYI_MSG_TALLY_QUERY);
    assert_int_equal (m.u.tally_query.tag, 11);
    assert_int_equal (m.u.tally_query.shard, 3);
    assert_memory_equal (m.u.tally_query.from, key1, 4);
    free (f.p);

    f = sample (PINGYI_MSG_SNAPSHOT);
    decode_ok (&f, &m, PINGYI_MSG_SNAPSHOT);
    assert_int_equal (m.u.snapshot.tag, 12);
    assert_int_equal (m.u.snapshot.shard, 3);
    assert_int_equal (m.u.snapshot.shard_count, 4);
    assert_memory_equal (m.u.snapshot.fingerprint, fp, 32);
    assert_int_equal (m.u.snapshot.sequence, 123456789);
    assert_memory_equal (m.u.snapshot.digest, digest, 32);
    assert_int_equal (m.u.snapshot.generation, 77);
    assert_true (m.u.snapshot.more);
    assert_memory_equal (m.u.snapshot.next, key3, 4);
    pingyi_venue_figures_t g;
    assert_int_equal (m.u.snapshot.venues.count, 2);
    assert_true (pingyi_list_next_figures (&m.u.snapshot.venues, &g));
    assert_figures (&g, &fig1);
    assert_true (pingyi_list_next_figures (&m.u.snapshot.venues, &g));
    assert_figures (&g, &fig2);
    assert_false (pingyi_list_next_figures (&m.u.snapshot.venues, &g));
    pingyi_block_t c;
    assert_int_equal (m.u.snapshot.blocks.count, 2);
    assert_true (pingyi_list_next_block (&m.u.snapshot.blocks, &c));
    assert_int_equal (c.venue, 3);
    assert_int_equal (c.subject, 1);
    assert_int_equal (c.len, 8);
    assert_memory_equal (c.cells, cells1, 8);
    assert_true (pingyi_list_next_block (&m.u.snapshot.blocks, &c));
    assert_int_equal (c.subject, 2);
    assert_int_equal (c.len, 4);
    assert_memory_equal (c.cells, cells2, 4);
    assert_false (pingyi_list_next_block (&m.u.snapshot.blocks, &c));
    free (f.p);

    /* Last page: no venues, no counters, more false, next NULL → zeros.  */
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    pingyi_msg_snapshot_begin (&w, 1, 0, 1, fp, 0, digest, UINT64_MAX, 0);
    pingyi_msg_snapshot_blocks_begin (&w, 0);
    pingyi_msg_snapshot_end (&w, false, NULL);
    f = frame_of (&w);
    decode_ok (&f, &m, PINGYI_MSG_SNAPSHOT);
    assert_false (m.u.snapshot.more);
    assert_true (m.u.snapshot.generation == UINT64_MAX);
    static const uint8_t zero4[4];
    assert_memory_equal (m.u.snapshot.next, zero4, 4);
    assert_false (pingyi_list_next_figures (&m.u.snapshot.venues, &g));
    assert_false (pingyi_list_next_block (&m.u.snapshot.blocks, &c));
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
    assert_true (m.u.forward.ticket == ticket);
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
    assert_true (m.u.reply.ticket == ticket);
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
    static const uint8_t want[] = {0x92, 0x03, 0x03};
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
        0x03, 0x04, /* version 3, SUBMIT */
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

/*  The MAC bytes below were computed with Python's hashlib
    (blake2b (frame[:-18], digest_size=16, key=b'\xa1' * 32)), not with the
    code under test.  */
static void
test_wire_small_ack (void **state)
{
    static const uint8_t want[] = {
        0x95, 0x03, 0x05, 0x2a, /* [3, 5, tag 42, */
        0x91, 0x95,             /*  [[ */
        0xc4, 0x10, 1,    2,    3,    4,    5,    6,    7,    8,    9,    10,   11,   12,   13,   14,
        15,   16,   0x02, 0x06, /* rejected, reason 6 */
        0xa2, 'n',  'o',        /* text */
        0xa0,                   /* no receipt ]], */
        0xc4, 0x10,             /* bin 16: mac ] */
        0x95, 0x1a, 0x70, 0x1c, 0x2d, 0x8b, 0x14, 0x63, 0xf3, 0x60, 0xe6, 0x02, 0x33, 0x58, 0xba, 0xe6,
    };
    static const uint8_t id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    pingyi_msg_ack_begin (&w, 42, 1);
    pingyi_msg_ack_result (&w, id, PINGYI_ACK_REJECTED, 6, "no", "");
    pingyi_msg_ack_end (&w, ack_key);
    assert_int_equal (w.sbuf.size, sizeof want);
    assert_memory_equal (w.sbuf.data, want, sizeof want);
    pingyi_writer_fini (&w);

    pingyi_msg_t m;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_msg_decode (want, sizeof want, &m, err), 0);
    assert_int_equal (m.mac_offset, sizeof want - 18);
    assert_int_equal (pingyi_msg_mac_check (want, &m, ack_key), 0);
}

/*  docs/PROTOCOL.md §10, byte for byte.  Every expected byte and key below
    was computed independently with Python (hashlib, and the `cryptography`
    package for X25519 / ChaCha20-Poly1305), as in the document's own check;
    this test computes them with the C code.  If it fails, the document (and
    every client written from it) is wrong.  */
static void
test_wire_worked_example (void **state)
{
    static const char envelope_hex[] =
        "01000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f03763031101112131415161718191a1b"
        "1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363751dff710c57e7b06ecf63f827328085917366f0260"
        "53f0b7a4";
    static const char submit_hex[] =
        "96030401c420000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fa376303191c46601000102"
        "030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f03763031101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f303132333435363751dff710c57e7b06ecf63f827328085917366f026053f0b7a4";
    static const char ack_hex[] =
        "950305019195c410101112131415161718191a1b1c1d1e1f0000a0b031356163653933303565656565316665c4109961d5"
        "35ab86e0d435540aaeb9210d8e";
    static const char open_hex[] =
        "95030807c420000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fa3763031";
    static const char close_hex[] =
        "99030908c420000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fa3763031010101c41084f6"
        "2947631cb58a47ff914b85e4a4b3";

    uint8_t vsk[32], ssk[32], vpk[32], spk[32], k[32], k2[32], ak[32], ck[32];
    uint8_t efp[32], id[16], nonce[24], env[256];
    static const uint8_t ebody[] = {0x93, 0x01, 0x00, 0x91, 0x92, 0x00, 0x92, 0x01, 0x02};
    char hex[1024];
    memset (vsk, 0x01, 32); /* venue box secret */
    memset (ssk, 0x02, 32); /* shard box secret */
    assert_int_equal (crypto_scalarmult_base (vpk, vsk), 0);
    assert_int_equal (crypto_scalarmult_base (spk, ssk), 0);
    sodium_bin2hex (hex, sizeof hex, spk, 32);
    assert_string_equal (hex, "ce8d3ad1ccb633ec7b70c17814a5c76ecd029685050d344745ba05870e587d59");
    assert_int_equal (pingyi_envelope_key (k, spk, vsk), 0);  /* the venue */
    assert_int_equal (pingyi_envelope_key (k2, vpk, ssk), 0); /* the worker */
    assert_memory_equal (k, k2, 32);
    sodium_bin2hex (hex, sizeof hex, k, 32);
    assert_string_equal (hex, "18a99320f3488fa18a04239715d8ee738065e65c3d4b2898522d6c3d4ead588c");
    pingyi_envelope_link_keys (ak, ck, k);
    sodium_bin2hex (hex, sizeof hex, ak, 32);
    assert_string_equal (hex, "2d54e1ebc825410a18162e8843ad0ee4fe593b9387397e1529a8144a227084c2");
    sodium_bin2hex (hex, sizeof hex, ck, 32);
    assert_string_equal (hex, "475df58e94d116f5d7a23875571eda4323072a7c20a84b9ba6f8d726cf592eb9");

    for (int i = 0; i < 32; i++)
        efp[i] = (uint8_t) i;
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t) (0x10 + i);
    for (int i = 0; i < 24; i++)
        nonce[i] = (uint8_t) (0x20 + i);
    size_t n =
        pingyi_envelope_seal_with_nonce (env, sizeof env, efp, "v01", 3, id, ebody, sizeof ebody, k, nonce);
    assert_int_equal (n, 102);
    sodium_bin2hex (hex, sizeof hex, env, n);
    assert_string_equal (hex, envelope_hex);
    char receipt[PINGYI_RECEIPT_LEN + 1];
    pingyi_envelope_receipt (receipt, env, n);
    assert_string_equal (receipt, "15ace9305eeee1fe");

    pingyi_writer_t w;
    pingyi_writer_init (&w);
    pingyi_msg_submit_begin (&w, 1, efp, "v01", 1);
    pingyi_msg_envelope (&w, env, n);
    assert_int_equal (w.sbuf.size, 147);
    sodium_bin2hex (hex, sizeof hex, (const uint8_t *) w.sbuf.data, w.sbuf.size);
    assert_string_equal (hex, submit_hex);

    pingyi_msg_ack_begin (&w, 1, 1);
    pingyi_msg_ack_result (&w, id, PINGYI_ACK_ACCEPTED, 0, "", receipt);
    pingyi_msg_ack_end (&w, ak);
    assert_int_equal (w.sbuf.size, 62);
    sodium_bin2hex (hex, sizeof hex, (const uint8_t *) w.sbuf.data, w.sbuf.size);
    assert_string_equal (hex, ack_hex);
    /* The client's side: it decodes, the MAC verifies under the ack key
       (and not under the close key), and the receipt is its own.  */
    frame_t f = frame_of (&w);
    pingyi_msg_t m;
    decode_ok (&f, &m, PINGYI_MSG_ACK);
    assert_int_equal (m.mac_offset, 44);
    assert_int_equal (pingyi_msg_mac_check (f.p, &m, ak), 0);
    assert_int_equal (pingyi_msg_mac_check (f.p, &m, ck), -1);
    pingyi_ack_t a;
    assert_true (pingyi_list_next_ack (&m.u.ack.results, &a));
    assert_str (a.receipt, receipt);
    free (f.p);

    pingyi_msg_venue_open (&w, 7, efp, "v01");
    assert_int_equal (w.sbuf.size, 42);
    sodium_bin2hex (hex, sizeof hex, (const uint8_t *) w.sbuf.data, w.sbuf.size);
    assert_string_equal (hex, open_hex);

    pingyi_msg_venue_close (&w, 8, efp, "v01", 1, 1, 1, ck);
    assert_int_equal (w.sbuf.size, 63);
    sodium_bin2hex (hex, sizeof hex, (const uint8_t *) w.sbuf.data, w.sbuf.size);
    assert_string_equal (hex, close_hex);
    f = frame_of (&w);
    decode_ok (&f, &m, PINGYI_MSG_VENUE_CLOSE);
    assert_int_equal (pingyi_msg_mac_check (f.p, &m, ck), 0);
    assert_int_equal (pingyi_msg_mac_check (f.p, &m, ak), -1);
    free (f.p);
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
        assert_int_equal (f.p[1], 0x03); /* version is the fixint after the header */
        f.p[1] = 0x02;                   /* a version 2 peer is refused, not misread */
        expect_fail (f.p, f.len, "unsupported protocol version 2");
        f.p[1] = 0x01;
        expect_fail (f.p, f.len, "unsupported protocol version 1");
        f.p[1] = 0x04;
        expect_fail (f.p, f.len, "unsupported protocol version 4");
        f.p[1] = 0x00;
        expect_fail (f.p, f.len, "unsupported protocol version 0");
        f.p[1] = 0x03;
        assert_int_equal (f.p[2], type);
        f.p[2] = 99;
        expect_fail (f.p, f.len, "unknown message type 99");
        f.p[2] = 0;
        expect_fail (f.p, f.len, "unknown message type 0");
        f.p[2] = 20;
        expect_fail (f.p, f.len, "unknown message type 20");
        f.p[2] = (uint8_t) type;
        pingyi_msg_t m;
        char err[PINGYI_ERR_MAX];
        assert_int_equal (pingyi_msg_decode (f.p, f.len, &m, err), 0);
        /* The header byte is a fixarray for every message (at most 13 fields).  */
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
    static const uint8_t submit5[] = {0x95, 0x03, 0x04, 0x07, 0xc4, 0x01, 0x00, 0xa1, 'v'};
    expect_fail (submit5, sizeof submit5, "SUBMIT: expected 6 fields, got 5");
    static const uint8_t heartbeat1[] = {0x91, 0x03};
    expect_fail (heartbeat1, sizeof heartbeat1, "message: expected at least 2 fields, got 1");
    static const uint8_t version1_short[] = {0x91, 0x01};
    expect_fail (version1_short, sizeof version1_short, "unsupported protocol version 1");
    /* A version 1 ACK (4 elements, no MAC) is refused on its version.  */
    static const uint8_t ack_v1[] = {0x94, 0x01, 0x05, 0x01, 0x90};
    expect_fail (ack_v1, sizeof ack_v1, "unsupported protocol version 1");
    /* A version 3 ACK without its MAC is one field short.  */
    static const uint8_t ack_no_mac[] = {0x94, 0x03, 0x05, 0x01, 0x90};
    expect_fail (ack_no_mac, sizeof ack_no_mac, "ACK: expected 5 fields, got 4");
    /* A whole version 2 frame (the worked example's HEARTBEAT of version 2)
       is refused with the documented text.  */
    static const uint8_t heartbeat_v2[] = {0x92, 0x02, 0x03};
    expect_fail (heartbeat_v2, sizeof heartbeat_v2, "unsupported protocol version 2");
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
    static const uint8_t tstr[] = {0x92, 0x03, 0xa1, 'x'};
    expect_fail (tstr, sizeof tstr, "message.type: expected uint, got str");
    static const uint8_t tbig[] = {0x92, 0x03, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    expect_fail (tbig, sizeof tbig, "unknown message type 18446744073709551615");
    /* Non-minimal encodings are accepted: HEARTBEAT as array16, uint16 3, uint64 3.  */
    static const uint8_t wide[] = {0xdc, 0x00, 0x02, 0xcd, 0x00, 0x03, 0xcf, 0, 0, 0, 0, 0, 0, 0, 3};
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
    {PINGYI_MSG_ACK, P1 (4), R_STR, 16, 0, "ACK.mac: expected bin, got str"},
    {PINGYI_MSG_ACK, P1 (4), R_NIL, 0, 0, "ACK.mac: expected bin, got nil"},
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
    {PINGYI_MSG_VENUE_CLOSE, P1 (8), R_STR, 16, 0, "VENUE_CLOSE.mac: expected bin, got str"},
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
     "VENUE_STATUS.figures.rejected_by: expected map, got uint"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 5), R_UINTS, 16, 0,
     "VENUE_STATUS.figures.rejected_by: expected map, got array"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 6), R_STR, 1, 0, "VENUE_STATUS.figures.issued: expected int, got str"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 7), R_NIL, 0, 0,
     "VENUE_STATUS.figures.collected: expected int, got nil"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 8), R_TRUE, 0, 0, "VENUE_STATUS.figures.sent: expected int, got bool"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 9), R_UINT, 1, 0,
     "VENUE_STATUS.figures.closed: expected bool, got uint"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 10), R_UINT, 3, 0,
     "VENUE_STATUS.figures.by_category: expected array, got uint"},
    {PINGYI_MSG_VENUE_STATUS, P3 (3, 10, 2), R_STR, 1, 0,
     "VENUE_STATUS.figures.by_category[2]: expected uint, got str"},
    {PINGYI_MSG_VENUE_STATUS, P3 (3, 10, 0), R_INT, 0, -1,
     "VENUE_STATUS.figures.by_category[0]: negative where uint expected"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 11), R_STR, 1, 0,
     "VENUE_STATUS.figures.reopens: expected uint, got str"},
    {PINGYI_MSG_VENUE_STATUS, P1 (4), R_UINT, 0, 0, "VENUE_STATUS.mac: expected bin, got uint"},
    {PINGYI_MSG_TALLY_QUERY, P1 (2), R_STR, 1, 0, "TALLY_QUERY.tag: expected uint, got str"},
    {PINGYI_MSG_TALLY_QUERY, P1 (3), R_STR, 1, 0, "TALLY_QUERY.shard: expected uint, got str"},
    {PINGYI_MSG_TALLY_QUERY, P1 (4), R_STR, 8, 0, "TALLY_QUERY.from: expected bin, got str"},
    {PINGYI_MSG_SNAPSHOT, P1 (2), R_STR, 1, 0, "SNAPSHOT.tag: expected uint, got str"},
    {PINGYI_MSG_SNAPSHOT, P1 (3), R_STR, 1, 0, "SNAPSHOT.shard: expected uint, got str"},
    {PINGYI_MSG_SNAPSHOT, P1 (4), R_STR, 1, 0, "SNAPSHOT.shard_count: expected uint, got str"},
    {PINGYI_MSG_SNAPSHOT, P1 (5), R_UINT, 1, 0, "SNAPSHOT.fingerprint: expected bin, got uint"},
    {PINGYI_MSG_SNAPSHOT, P1 (6), R_BIN, 8, 0, "SNAPSHOT.sequence: expected uint, got bin"},
    {PINGYI_MSG_SNAPSHOT, P1 (7), R_STR, 32, 0, "SNAPSHOT.digest: expected bin, got str"},
    {PINGYI_MSG_SNAPSHOT, P1 (8), R_BIN, 8, 0, "SNAPSHOT.generation: expected uint, got bin"},
    {PINGYI_MSG_SNAPSHOT, P1 (8), R_INT, 0, -1, "SNAPSHOT.generation: negative where uint expected"},
    {PINGYI_MSG_SNAPSHOT, P1 (9), R_UINT, 0, 0, "SNAPSHOT.venues: expected array, got uint"},
    {PINGYI_MSG_SNAPSHOT, P2 (9, 1), R_UINT, 0, 0, "SNAPSHOT.venues[1]: expected array, got uint"},
    {PINGYI_MSG_SNAPSHOT, P3 (9, 1, 0), R_STR, 1, 0, "SNAPSHOT.venues[1].venue: expected uint, got str"},
    {PINGYI_MSG_SNAPSHOT, P3 (9, 0, 9), R_NIL, 0, 0, "SNAPSHOT.venues[0].closed: expected bool, got nil"},
    {PINGYI_MSG_SNAPSHOT, P3 (9, 1, 5), R_NIL, 0, 0, "SNAPSHOT.venues[1].rejected_by: expected map, got nil"},
    {PINGYI_MSG_SNAPSHOT, P4 (9, 1, 10, 31), R_STR, 2, 0,
     "SNAPSHOT.venues[1].by_category[31]: expected uint, got str"},
    {PINGYI_MSG_SNAPSHOT, P1 (10), R_UINT, 0, 0, "SNAPSHOT.blocks: expected array, got uint"},
    {PINGYI_MSG_SNAPSHOT, P2 (10, 1), R_BIN, 8, 0, "SNAPSHOT.blocks[1]: expected array, got bin"},
    {PINGYI_MSG_SNAPSHOT, P3 (10, 1, 0), R_STR, 1, 0, "SNAPSHOT.blocks[1].venue: expected uint, got str"},
    {PINGYI_MSG_SNAPSHOT, P3 (10, 0, 2), R_UINT, 8, 0, "SNAPSHOT.blocks[0].cells: expected bin, got uint"},
    {PINGYI_MSG_SNAPSHOT, P1 (11), R_UINT, 1, 0, "SNAPSHOT.more: expected bool, got uint"},
    {PINGYI_MSG_SNAPSHOT, P1 (12), R_STR, 8, 0, "SNAPSHOT.next: expected bin, got str"},
    {PINGYI_MSG_STATS_QUERY, P1 (2), R_STR, 1, 0, "STATS_QUERY.tag: expected uint, got str"},
    {PINGYI_MSG_STATS_QUERY, P1 (3), R_STR, 1, 0, "STATS_QUERY.shard: expected int, got str"},
    {PINGYI_MSG_STATS, P1 (2), R_STR, 1, 0, "STATS.tag: expected uint, got str"},
    {PINGYI_MSG_STATS, P1 (3), R_UINT, 1, 0, "STATS.source: expected str, got uint"},
    {PINGYI_MSG_STATS, P1 (4), R_UINT, 1, 0, "STATS.stats: expected array, got uint"},
    {PINGYI_MSG_STATS, P2 (4, 0), R_STR, 1, 0, "STATS.stats[0]: expected array, got str"},
    {PINGYI_MSG_STATS, P3 (4, 1, 0), R_UINT, 1, 0, "STATS.stats[1].name: expected str, got uint"},
    {PINGYI_MSG_STATS, P3 (4, 1, 1), R_STR, 1, 0, "STATS.stats[1].value: expected uint, got str"},
    {PINGYI_MSG_FORWARD, P1 (2), R_STR, 5, 0, "FORWARD.ticket: expected uint, got str"},
    {PINGYI_MSG_FORWARD, P1 (2), R_BIN, 5, 0, "FORWARD.ticket: expected uint, got bin"},
    {PINGYI_MSG_FORWARD, P1 (2), R_INT, 0, -1, "FORWARD.ticket: negative where uint expected"},
    {PINGYI_MSG_FORWARD, P1 (3), R_STR, 5, 0, "FORWARD.role: expected uint, got str"},
    {PINGYI_MSG_FORWARD, P1 (4), R_BIN, 3, 0, "FORWARD.sender: expected str, got bin"},
    {PINGYI_MSG_FORWARD, P1 (5), R_STR, 3, 0, "FORWARD.inner: expected bin, got str"},
    {PINGYI_MSG_REPLY, P1 (2), R_BIN, 5, 0, "REPLY.ticket: expected uint, got bin"},
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
    {PINGYI_MSG_ACK, P1 (3), R_ARRAY_HDR, 4097, 0, "ACK.results: array too long"},
    {PINGYI_MSG_ACK, P2 (3, 0), R_UINTS, 4, 0, "ACK.results[0]: expected 5 fields, got 4"},
    {PINGYI_MSG_ACK, P2 (3, 0), R_UINTS, 6, 0, "ACK.results[0]: expected 5 fields, got 6"},
    {PINGYI_MSG_ACK, P3 (3, 1, 0), R_BIN, 15, 0, "ACK.results[1].ballot_id: bin too short"},
    {PINGYI_MSG_ACK, P3 (3, 1, 0), R_BIN, 17, 0, "ACK.results[1].ballot_id: bin too long"},
    {PINGYI_MSG_ACK, P3 (3, 1, 1), R_UINT, 3, 0, "ACK.results[1].status: integer out of range"},
    {PINGYI_MSG_ACK, P3 (3, 2, 2), R_UINT, 256, 0, "ACK.results[2].reason: integer out of range"},
    {PINGYI_MSG_ACK, P3 (3, 2, 3), R_STR, 513, 0, "ACK.results[2].text: str too long"},
    {PINGYI_MSG_ACK, P3 (3, 0, 4), R_STR, 17, 0, "ACK.results[0].receipt: str too long"},
    {PINGYI_MSG_ACK, P1 (4), R_BIN, 15, 0, "ACK.mac: bin too short"},
    {PINGYI_MSG_ACK, P1 (4), R_BIN, 17, 0, "ACK.mac: bin too long"},
    {PINGYI_MSG_ACK, P1 (4), R_BIN, 0, 0, "ACK.mac: bin too short"},
    {PINGYI_MSG_ACK, P1 (4), R_BIN, 32, 0, "ACK.mac: bin too long"},
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
    {PINGYI_MSG_VENUE_CLOSE, P1 (8), R_BIN, 15, 0, "VENUE_CLOSE.mac: bin too short"},
    {PINGYI_MSG_VENUE_CLOSE, P1 (8), R_BIN, 17, 0, "VENUE_CLOSE.mac: bin too long"},
    {PINGYI_MSG_VENUE_STATUS, P1 (4), R_BIN, 15, 0, "VENUE_STATUS.mac: bin too short"},
    {PINGYI_MSG_VENUE_STATUS, P1 (4), R_BIN, 17, 0, "VENUE_STATUS.mac: bin too long"},
    {PINGYI_MSG_VENUE_STATUS, P1 (3), R_UINTS, 10, 0, "VENUE_STATUS.figures: expected 12 fields, got 10"},
    {PINGYI_MSG_VENUE_STATUS, P1 (3), R_UINTS, 11, 0, "VENUE_STATUS.figures: expected 12 fields, got 11"},
    {PINGYI_MSG_VENUE_STATUS, P1 (3), R_UINTS, 13, 0, "VENUE_STATUS.figures: expected 12 fields, got 13"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 10), R_UINTS, 33, 0, "VENUE_STATUS.figures.by_category: array too long"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 10), R_ARRAY_HDR, 1000000, 0,
     "VENUE_STATUS.figures.by_category: array too long"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 0), R_UINT, 1ull << 32, 0,
     "VENUE_STATUS.figures.venue: integer out of range"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 6), R_INT, 0, -2, "VENUE_STATUS.figures.issued: integer out of range"},
    {PINGYI_MSG_VENUE_STATUS, P2 (3, 8), R_UINT, 1ull << 63, 0,
     "VENUE_STATUS.figures.sent: integer out of range"},
    {PINGYI_MSG_TALLY_QUERY, P1 (3), R_UINT, 256, 0, "TALLY_QUERY.shard: integer out of range"},
    {PINGYI_MSG_TALLY_QUERY, P1 (4), R_BIN, 5, 0, "TALLY_QUERY.from: bin too long"},
    {PINGYI_MSG_TALLY_QUERY, P1 (4), R_BIN, 3, 0, "TALLY_QUERY.from: bin too short"},
    {PINGYI_MSG_SNAPSHOT, P1 (3), R_UINT, 256, 0, "SNAPSHOT.shard: integer out of range"},
    {PINGYI_MSG_SNAPSHOT, P1 (3), R_UINT, 4, 0, "SNAPSHOT.shard: 4 is not below shard_count 4"},
    {PINGYI_MSG_SNAPSHOT, P1 (4), R_UINT, 0, 0, "SNAPSHOT.shard_count: must be at least 1"},
    {PINGYI_MSG_SNAPSHOT, P1 (4), R_UINT, 257, 0, "SNAPSHOT.shard_count: integer out of range"},
    {PINGYI_MSG_SNAPSHOT, P1 (5), R_BIN, 31, 0, "SNAPSHOT.fingerprint: bin too short"},
    {PINGYI_MSG_SNAPSHOT, P1 (7), R_BIN, 33, 0, "SNAPSHOT.digest: bin too long"},
    {PINGYI_MSG_SNAPSHOT, P1 (7), R_BIN, 31, 0, "SNAPSHOT.digest: bin too short"},
    {PINGYI_MSG_SNAPSHOT, P1 (9), R_ARRAY_HDR, 65536, 0, "SNAPSHOT.venues: array too long"},
    {PINGYI_MSG_SNAPSHOT, P2 (9, 1), R_UINTS, 10, 0, "SNAPSHOT.venues[1]: expected 12 fields, got 10"},
    {PINGYI_MSG_SNAPSHOT, P3 (9, 0, 7), R_INT, 0, -5, "SNAPSHOT.venues[0].collected: integer out of range"},
    {PINGYI_MSG_SNAPSHOT, P3 (9, 1, 10), R_UINTS, 33, 0, "SNAPSHOT.venues[1].by_category: array too long"},
    {PINGYI_MSG_SNAPSHOT, P1 (10), R_ARRAY_HDR, 65536, 0, "SNAPSHOT.blocks: array too long"},
    {PINGYI_MSG_SNAPSHOT, P2 (10, 0), R_UINTS, 2, 0, "SNAPSHOT.blocks[0]: expected 3 fields, got 2"},
    {PINGYI_MSG_SNAPSHOT, P3 (10, 1, 1), R_UINT, 65536, 0, "SNAPSHOT.blocks[1].subject: integer out of range"},
    {PINGYI_MSG_SNAPSHOT, P3 (10, 1, 2), R_BIN, 6, 0, "SNAPSHOT.blocks[1].cells: 6 bytes, not whole u32 cells"},
    {PINGYI_MSG_SNAPSHOT, P3 (10, 1, 2), R_BIN, 2, 0, "SNAPSHOT.blocks[1].cells: bin too short"},
    {PINGYI_MSG_SNAPSHOT, P1 (12), R_BIN, 5, 0, "SNAPSHOT.next: bin too long"},
    {PINGYI_MSG_STATS_QUERY, P1 (3), R_INT, 0, -2, "STATS_QUERY.shard: integer out of range"},
    {PINGYI_MSG_STATS_QUERY, P1 (3), R_UINT, 256, 0, "STATS_QUERY.shard: integer out of range"},
    {PINGYI_MSG_STATS, P1 (3), R_STR, 0, 0, "STATS.source: str too short"},
    {PINGYI_MSG_STATS, P1 (3), R_STR, 65, 0, "STATS.source: str too long"},
    {PINGYI_MSG_STATS, P1 (4), R_ARRAY_HDR, 257, 0, "STATS.stats: array too long"},
    {PINGYI_MSG_STATS, P2 (4, 0), R_UINTS, 1, 0, "STATS.stats[0]: expected 2 fields, got 1"},
    {PINGYI_MSG_STATS, P3 (4, 1, 0), R_STR, 0, 0, "STATS.stats[1].name: str too short"},
    {PINGYI_MSG_STATS, P3 (4, 1, 0), R_STR, 65, 0, "STATS.stats[1].name: str too long"},
    {PINGYI_MSG_FORWARD, P1 (2), R_UINT, 0, 0, "FORWARD.ticket: 0 is not a ticket"},
    {PINGYI_MSG_FORWARD, P1 (3), R_UINT, 0, 0, "FORWARD.role: 0 is not a role"},
    {PINGYI_MSG_FORWARD, P1 (3), R_UINT, 6, 0, "FORWARD.role: integer out of range"},
    {PINGYI_MSG_FORWARD, P1 (4), R_STR, 65, 0, "FORWARD.sender: str too long"},
    {PINGYI_MSG_FORWARD, P1 (5), R_BIN, 0, 0, "FORWARD.inner: bin too short"},
    {PINGYI_MSG_REPLY, P1 (2), R_UINT, 0, 0, "REPLY.ticket: 0 is not a ticket"},
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
    pingyi_msg_ack_end (&w, ack_key);
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

/* -------------------------------------------------------------------------
   The link MAC (ACK, VENUE_STATUS, VENUE_CLOSE).  */

static const int mac_types[] = {PINGYI_MSG_ACK, PINGYI_MSG_VENUE_STATUS, PINGYI_MSG_VENUE_CLOSE};

static const uint8_t *
key_of (int type)
{
    return type == PINGYI_MSG_VENUE_CLOSE ? close_key : ack_key;
}

/*  Every bit of every byte before the MAC (and of the MAC itself) flipped,
    one at a time: the MAC no longer verifies, whether the check uses the
    original decoded message or the flipped frame decodes on its own.  */
static void
test_mac_every_bit_flip_fails (void **state)
{
    for (size_t t = 0; t < sizeof mac_types / sizeof mac_types[0]; t++) {
        int type = mac_types[t];
        const uint8_t *key = key_of (type);
        frame_t f = sample (type);
        pingyi_msg_t m;
        decode_ok (&f, &m, type);
        assert_int_equal (pingyi_msg_mac_check (f.p, &m, key), 0);
        assert_int_equal (m.mac_offset, f.len - 18);
        size_t decoded = 0;
        for (size_t byte = 0; byte < f.len; byte++)
            for (int bit = 0; bit < 8; bit++) {
                f.p[byte] ^= (uint8_t) (1u << bit);
                pingyi_msg_t m2;
                char err[PINGYI_ERR_MAX];
                if (byte < m.mac_offset)
                    assert_int_equal (pingyi_msg_mac_check (f.p, &m, key), -1);
                if (pingyi_msg_decode (f.p, f.len, &m2, err) == 0 && m2.type == type) {
                    decoded++;
                    if (pingyi_msg_mac_check (f.p, &m2, key) == 0)
                        print_error ("%s: bit %d of byte %zu flipped and the MAC still verifies\n",
                                     pingyi_msg_type_name (type), bit, byte);
                    assert_int_equal (pingyi_msg_mac_check (f.p, &m2, key), -1);
                }
                f.p[byte] ^= (uint8_t) (1u << bit);
            }
        /* Most flips (counts, ids, texts, the MAC) still decode: the MAC,
           not the decoder, is what caught them.  */
        assert_true (decoded > f.len);
        assert_int_equal (pingyi_msg_mac_check (f.p, &m, key), 0);
        free (f.p);
    }
}

static void
test_mac_wrong_key_fails (void **state)
{
    for (size_t t = 0; t < sizeof mac_types / sizeof mac_types[0]; t++) {
        int type = mac_types[t];
        frame_t f = sample (type);
        pingyi_msg_t m;
        decode_ok (&f, &m, type);
        uint8_t key[32];
        memcpy (key, key_of (type), 32);
        assert_int_equal (pingyi_msg_mac_check (f.p, &m, key), 0);
        /* The other link key of the same venue: an ACK is no close.  */
        assert_int_equal (
            pingyi_msg_mac_check (f.p, &m, type == PINGYI_MSG_VENUE_CLOSE ? ack_key : close_key), -1);
        for (int i = 0; i < 256; i++) {
            key[i / 8] ^= (uint8_t) (1u << (i % 8));
            assert_int_equal (pingyi_msg_mac_check (f.p, &m, key), -1);
            key[i / 8] ^= (uint8_t) (1u << (i % 8));
        }
        static const uint8_t zero[32];
        assert_int_equal (pingyi_msg_mac_check (f.p, &m, zero), -1);
        free (f.p);
    }

    /* Types without a MAC never "verify".  */
    frame_t f = sample (PINGYI_MSG_SUBMIT);
    pingyi_msg_t m;
    decode_ok (&f, &m, PINGYI_MSG_SUBMIT);
    assert_int_equal (pingyi_msg_mac_check (f.p, &m, ack_key), -1);
    free (f.p);
    f = sample (PINGYI_MSG_REPLY);
    decode_ok (&f, &m, PINGYI_MSG_REPLY);
    assert_int_equal (pingyi_msg_mac_check (f.p, &m, ack_key), -1);
    free (f.p);
}

/*  The MAC is independent of this implementation: keyed BLAKE2b-128 over
    the bytes before the MAC's own header.  A sender using a wider bin
    header (bin 16 as c5 00 10) is still understood: the header is not
    covered, so the MAC stays the same.  */
static void
test_mac_definition (void **state)
{
    frame_t f = sample (PINGYI_MSG_VENUE_STATUS);
    pingyi_msg_t m;
    decode_ok (&f, &m, PINGYI_MSG_VENUE_STATUS);
    uint8_t want[16];
    crypto_generichash (want, sizeof want, f.p, f.len - 18, ack_key, 32);
    assert_memory_equal (m.mac, want, 16);
    uint8_t direct[16];
    pingyi_msg_mac (direct, f.p, f.len - 18, ack_key);
    assert_memory_equal (direct, want, 16);

    uint8_t *wide = malloc (f.len + 1);
    memcpy (wide, f.p, f.len - 18);
    wide[f.len - 18] = 0xc5;
    wide[f.len - 17] = 0x00;
    wide[f.len - 16] = 0x10;
    memcpy (wide + f.len - 15, f.p + f.len - 16, 16);
    pingyi_msg_t w;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_msg_decode (wide, f.len + 1, &w, err), 0);
    assert_int_equal (w.mac_offset, f.len - 18);
    assert_int_equal (pingyi_msg_mac_check (wide, &w, ack_key), 0);
    free (wide);
    free (f.p);
}

/*  Figures carry 0..32 categories; the encoder never writes more than 32
    and the decoder refuses 33 (see out_of_bounds).  */
static void
test_figures_by_category (void **state)
{
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    pingyi_msg_t m;
    frame_t f;

    pingyi_venue_figures_t none = {.venue = 1, .issued = -1, .collected = -1, .sent = -1};
    pingyi_msg_venue_status (&w, 1, &none, ack_key);
    f = frame_of (&w);
    decode_ok (&f, &m, PINGYI_MSG_VENUE_STATUS);
    assert_figures (&m.u.venue_status.figures, &none);
    assert_int_equal (m.u.venue_status.figures.category_count, 0);
    assert_int_equal (pingyi_msg_mac_check (f.p, &m, ack_key), 0);
    free (f.p);

    pingyi_msg_venue_status (&w, 2, &fig2, ack_key);
    f = frame_of (&w);
    decode_ok (&f, &m, PINGYI_MSG_VENUE_STATUS);
    assert_int_equal (m.u.venue_status.figures.category_count, 32);
    assert_figures (&m.u.venue_status.figures, &fig2);
    free (f.p);

    /* A caller's count above 32 is cut to 32, so the frame stays decodable.  */
    pingyi_venue_figures_t many = fig2;
    many.category_count = 40;
    pingyi_msg_venue_status (&w, 3, &many, ack_key);
    f = frame_of (&w);
    decode_ok (&f, &m, PINGYI_MSG_VENUE_STATUS);
    assert_int_equal (m.u.venue_status.figures.category_count, 32);
    assert_figures (&m.u.venue_status.figures, &fig2);
    free (f.p);

    /* In a SNAPSHOT each venue has its own count.  */
    uint8_t zero4[4] = {0};
    pingyi_msg_snapshot_begin (&w, 4, 0, 1, fp, 9, digest, 1, 3);
    pingyi_msg_figures (&w, &fig1);
    pingyi_msg_figures (&w, &none);
    pingyi_msg_figures (&w, &fig2);
    pingyi_msg_snapshot_blocks_begin (&w, 0);
    pingyi_msg_snapshot_end (&w, false, zero4);
    f = frame_of (&w);
    decode_ok (&f, &m, PINGYI_MSG_SNAPSHOT);
    pingyi_venue_figures_t g;
    assert_true (pingyi_list_next_figures (&m.u.snapshot.venues, &g));
    assert_figures (&g, &fig1);
    assert_true (pingyi_list_next_figures (&m.u.snapshot.venues, &g));
    assert_figures (&g, &none);
    assert_true (pingyi_list_next_figures (&m.u.snapshot.venues, &g));
    assert_figures (&g, &fig2);
    assert_false (pingyi_list_next_figures (&m.u.snapshot.venues, &g));
    free (f.p);
    pingyi_writer_fini (&w);
}

/*  Tickets are 1..2^64-1, in any uint encoding; 0 is refused however it is
    written.  */
static void
test_tickets (void **state)
{
    static const uint64_t good[] = {1, 127, 128, 65535, 1ull << 32, UINT64_MAX};
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    pingyi_msg_t m;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        pingyi_msg_forward (&w, good[i], PINGYI_ROLE_AGGREGATOR, "aggregator", 10, inner_submit.p,
                            inner_submit.len);
        frame_t f = frame_of (&w);
        decode_ok (&f, &m, PINGYI_MSG_FORWARD);
        assert_true (m.u.forward.ticket == good[i]);
        assert_int_equal (m.u.forward.role, PINGYI_ROLE_AGGREGATOR);
        free (f.p);
        pingyi_msg_reply (&w, good[i], inner_ack.p, inner_ack.len);
        f = frame_of (&w);
        decode_ok (&f, &m, PINGYI_MSG_REPLY);
        assert_true (m.u.reply.ticket == good[i]);
        free (f.p);
    }
    pingyi_writer_fini (&w);
    /* REPLY with ticket 0 as uint64 (cf 00..00) and as int8 (d0 00).  */
    static const uint8_t zero64[] = {0x94, 0x03, 0x10, 0xcf, 0, 0, 0, 0, 0, 0, 0, 0, 0xc4, 0x01, 0x92};
    expect_fail (zero64, sizeof zero64, "REPLY.ticket: 0 is not a ticket");
    static const uint8_t zero8[] = {0x94, 0x03, 0x10, 0xd0, 0x00, 0xc4, 0x01, 0x92};
    expect_fail (zero8, sizeof zero8, "REPLY.ticket: 0 is not a ticket");
    static const uint8_t one[] = {0x94, 0x03, 0x10, 0x01, 0xc4, 0x01, 0x92};
    assert_int_equal (pingyi_msg_decode (one, sizeof one, &m, (char[PINGYI_ERR_MAX]){0}), 0);
    assert_true (m.u.reply.ticket == 1);
}

static void
test_names (void **state)
{
    assert_string_equal (pingyi_msg_type_name (PINGYI_MSG_HELLO), "HELLO");
    assert_string_equal (pingyi_msg_type_name (PINGYI_MSG_SUBMIT), "SUBMIT");
    assert_string_equal (pingyi_msg_type_name (PINGYI_MSG_VENUE_STATUS), "VENUE_STATUS");
    assert_string_equal (pingyi_msg_type_name (PINGYI_MSG_REPLY), "REPLY");
    assert_string_equal (pingyi_msg_type_name (0), "UNKNOWN");
    assert_string_equal (pingyi_msg_type_name (PINGYI_MSG_VENUE_REOPEN), "VENUE_REOPEN");
    assert_string_equal (pingyi_msg_type_name (20), "UNKNOWN");
    assert_string_equal (pingyi_msg_type_name (-1), "UNKNOWN");
    static const char *roles[] = {"venue", "worker", "aggregator", "operator", "broker", "shard"};
    for (int i = 0; i < 6; i++) {
        assert_string_equal (pingyi_role_name ((pingyi_role_t) (i + 1)), roles[i]);
        assert_int_equal (pingyi_role_parse (roles[i], strlen (roles[i])), i + 1);
    }
    assert_int_equal (pingyi_role_parse ("venu", 4), PINGYI_ROLE_NONE);
    assert_int_equal (pingyi_role_parse ("venues", 6), PINGYI_ROLE_NONE);
    assert_int_equal (pingyi_role_parse ("venue", 4), PINGYI_ROLE_NONE);
    assert_int_equal (pingyi_role_parse ("none", 4), PINGYI_ROLE_NONE);
    assert_int_equal (pingyi_role_parse ("election", 8), PINGYI_ROLE_NONE); /* a version 1 role, gone */
    assert_int_equal (PINGYI_ROLE_SHARD, 6);
    assert_int_equal (pingyi_role_parse (NULL, 0), PINGYI_ROLE_NONE);
    assert_string_equal (pingyi_role_name (PINGYI_ROLE_NONE), "none");
    assert_string_equal (pingyi_role_name ((pingyi_role_t) 99), "unknown");
}

/*  rejected_by is a map {code: count} of the non-zero entries, codes
    ascending (docs/PROTOCOL.md §3, figures).  Bytes of fig1's figures, then
    what a decoder keeps: the codes it has a slot for in their slot, a code
    beyond its slots (one a later version appends) in slot 0, "other".  */
static void
test_rejected_by_map (void **state)
{
    static const uint8_t want[] = {
        0x9c,                   /* figures: array of 12 */
        0x03,                   /* venue 3 */
        0x64, 0x02, 0x05,       /* accepted 100, blank 2, duplicates 5 */
        0x03,                   /* rejected 3 */
        0x83,                   /* rejected_by: map of 3 */
        0x06, 0x02,             /*   decrypt: 2 */
        0x08, 0x01,             /*   not_on_form: 1 */
        0x0f, 0x4d,             /*   code 15: 77 */
        0x78, 0x76, 0x76,       /* issued 120, collected 118, sent 118 */
        0xc3,                   /* closed */
        0x93, 0x3c, 0x1e, 0x0a, /* by_category [60, 30, 10] */
        0x02,                   /* reopens 2 */
    };
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    pingyi_msg_figures (&w, &fig1);
    assert_int_equal (w.sbuf.size, sizeof want);
    assert_memory_equal (w.sbuf.data, want, sizeof want);

    /* No rejection at all: an empty map (0x80).  */
    pingyi_venue_figures_t none = {.venue = 1, .issued = -1, .collected = -1, .sent = -1};
    pingyi_writer_reset (&w);
    pingyi_msg_figures (&w, &none);
    assert_int_equal ((uint8_t) w.sbuf.data[6], 0x80);
    pingyi_writer_fini (&w);

    /* VENUE_STATUS frames around a hand-written figures: [3, 10, tag 1,
       figures, mac of 16 zero bytes]; the MAC is not the decoder's business. */
    struct {
        const char *map_hex; /* the rejected_by bytes */
        const char *want;    /* NULL: decodes */
        uint64_t slot[PINGYI_REJECT_SLOTS];
    } cases[] = {
        {"80", NULL, {0}},
        {"8106cd0102", NULL, {[6] = 258}}, /* wider encodings are fine */
        {"82010c0b05", NULL, {[1] = 12, [11] = 5}},
        {"820c070f01", NULL, {[12] = 7, [15] = 1}},          /* codes 12..15: named later, kept */
        {"830b011003ccff02", NULL, {[0] = 3 + 2, [11] = 1}}, /* 16 and 255: "other" */
        {"810002", "VENUE_STATUS.figures.rejected_by: code 0 is not a reject code", {0}},
        {"8208010701",
         "VENUE_STATUS.figures.rejected_by: code 7 out of order (codes ascend, each once)",
         {0}},
        {"8208010801",
         "VENUE_STATUS.figures.rejected_by: code 8 out of order (codes ascend, each once)",
         {0}},
        {"81cd010001", "VENUE_STATUS.figures.rejected_by: code: integer out of range", {0}},
        {"810600", "VENUE_STATUS.figures.rejected_by: code 6 has count 0 (only non-zero entries)", {0}},
        {"8106a178", "VENUE_STATUS.figures.rejected_by: count: expected uint, got str", {0}},
        {"81a10601", "VENUE_STATUS.figures.rejected_by: code: expected uint, got str", {0}},
        {"de0100", "VENUE_STATUS.figures.rejected_by: map too long", {0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t map[64];
        size_t maplen = strlen (cases[i].map_hex) / 2;
        assert_int_equal (pingyi_unhex (map, maplen, cases[i].map_hex, 2 * maplen), 0);
        uint8_t frame[256];
        size_t n = 0;
        static const uint8_t head[] = {0x95, 0x03, 0x0a, 0x01, 0x9c, 0x01, 0x00, 0x00, 0x00, 0x00};
        memcpy (frame, head, sizeof head);
        n = sizeof head;
        memcpy (frame + n, map, maplen);
        n += maplen;
        static const uint8_t tail[] = {0xff, 0xff, 0xff, 0xc2, 0x90, 0x00, 0xc4, 0x10};
        memcpy (frame + n, tail, sizeof tail);
        n += sizeof tail;
        memset (frame + n, 0, 16);
        n += 16;
        pingyi_msg_t m;
        char err[PINGYI_ERR_MAX] = "";
        int rc = pingyi_msg_decode (frame, n, &m, err);
        if (cases[i].want) {
            if (rc == 0 || strcmp (err, cases[i].want) != 0)
                print_error ("case %zu: rc %d \"%s\", want \"%s\"\n", i, rc, err, cases[i].want);
            assert_int_equal (rc, -1);
            assert_string_equal (err, cases[i].want);
            continue;
        }
        if (rc)
            print_error ("case %zu: %s\n", i, err);
        assert_int_equal (rc, 0);
        for (int c = 0; c < PINGYI_REJECT_SLOTS; c++)
            assert_true (m.u.venue_status.figures.rejected_by[c] == cases[i].slot[c]);
    }
}

/*  A refusal carries the request's tag whenever the tag can be read, even
    when the rest of the frame is bad (docs/PROTOCOL.md §2).  */
static void
test_tag_of_bad_frames (void **state)
{
    struct {
        const char *hex;
        uint64_t tag;
    } cases[] = {
        /* a SUBMIT whose envelope list is a str: tag 42 */
        {"9603042ac420000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fa3763031a178", 42},
        /* a SUBMIT one field short, tag 7 */
        {"9503040 7c40100a176", 7},
        /* a header of 6 elements and nothing after the tag: still the tag */
        {"9603042a", 42},
        /* an array 16 header */
        {"dc0006 03 04 2b", 43},
        /* cut right after the tag (uint64) */
        {"9603"
         "04cf0102030405060708",
         0x0102030405060708ull},
        /* VENUE_OPEN, TALLY_QUERY, STATS_QUERY, VENUE_CLOSE, VENUE_REOPEN with garbage after the tag */
        {"950308cd0100c0", 256},
        {"95030b05c0", 5},
        {"94030d09c0", 9},
        {"99030903c0", 3},
        {"98031104c0", 4},
        /* tag unreadable: 0 */
        {"9603040 0", 0},  /* tag 0 itself */
        {"960304a178", 0}, /* tag a str */
        {"960304", 0},     /* cut before the tag */
        {"9602042a", 0},   /* version 2: its fields are not this version's */
        {"9604042a", 0},   /* version 4 */
        {"95030f2a", 0},   /* FORWARD: a ticket, not a tag */
        {"93030 12a", 0},  /* HELLO has no tag */
        {"9203 04", 0},    /* fewer than 3 elements */
        {"9303632a", 0},   /* unknown type 99 */
        {"8103042a", 0},   /* not an array */
        {"", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char hex[256];
        size_t h = 0;
        for (const char *c = cases[i].hex; *c; c++)
            if (*c != ' ')
                hex[h++] = *c;
        hex[h] = '\0';
        uint8_t frame[128];
        size_t n = h / 2;
        assert_int_equal (pingyi_unhex (frame, n, hex, 2 * n), 0);
        uint64_t got = pingyi_msg_tag (n ? frame : NULL, n);
        if (got != cases[i].tag)
            print_error ("case %zu (%s): tag %llu, want %llu\n", i, hex, (unsigned long long) got,
                         (unsigned long long) cases[i].tag);
        assert_true (got == cases[i].tag);
    }
}

/*  One bad envelope is one bad envelope: a SUBMIT holding envelopes of 0
    and of 4601 bytes decodes, and the worker refuses those two in their own
    ACK results (bad_envelope) while applying the rest.  */
static void
test_submit_any_envelope_length (void **state)
{
    static uint8_t big[PINGYI_ENVELOPE_MAX + 1];
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    pingyi_msg_submit_begin (&w, 9, fp, "v01", 3);
    pingyi_msg_envelope (&w, env_mid, sizeof env_mid);
    pingyi_msg_envelope (&w, big, 0);
    pingyi_msg_envelope (&w, big, sizeof big);
    frame_t f = frame_of (&w);
    pingyi_msg_t m;
    decode_ok (&f, &m, PINGYI_MSG_SUBMIT);
    pingyi_bin_t b;
    assert_true (pingyi_list_next_bin (&m.u.submit.envelopes, &b));
    assert_int_equal (b.len, sizeof env_mid);
    assert_true (pingyi_list_next_bin (&m.u.submit.envelopes, &b));
    assert_int_equal (b.len, 0);
    assert_true (pingyi_list_next_bin (&m.u.submit.envelopes, &b));
    assert_int_equal (b.len, PINGYI_ENVELOPE_MAX + 1);
    free (f.p);
    pingyi_writer_fini (&w);
}

/*  A duplicate's reason says whether the bytes were the stored ones.  */
static void
test_duplicate_reason (void **state)
{
    static const uint8_t id[16] = {0};
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    pingyi_msg_ack_begin (&w, 3, 2);
    pingyi_msg_ack_result (&w, id, PINGYI_ACK_DUPLICATE, PINGYI_DUPLICATE_SAME, "", "0123456789abcdef");
    pingyi_msg_ack_result (&w, id, PINGYI_ACK_DUPLICATE, PINGYI_DUPLICATE_DIFFERS, "", "0123456789abcdef");
    pingyi_msg_ack_end (&w, ack_key);
    frame_t f = frame_of (&w);
    /* [3, 5, 3, [[bin16, 1, 0, "", "…"], [bin16, 1, 1, "", "…"]], mac] */
    assert_int_equal (f.p[4], 0x92);
    assert_int_equal (f.p[5 + 1 + 18], 0x01);
    assert_int_equal (f.p[5 + 1 + 18 + 1], 0x00);
    pingyi_msg_t m;
    decode_ok (&f, &m, PINGYI_MSG_ACK);
    pingyi_ack_t a;
    assert_true (pingyi_list_next_ack (&m.u.ack.results, &a));
    assert_int_equal (a.status, PINGYI_ACK_DUPLICATE);
    assert_int_equal (a.reason, PINGYI_DUPLICATE_SAME);
    assert_true (pingyi_list_next_ack (&m.u.ack.results, &a));
    assert_int_equal (a.status, PINGYI_ACK_DUPLICATE);
    assert_int_equal (a.reason, PINGYI_DUPLICATE_DIFFERS);
    free (f.p);
    pingyi_writer_fini (&w);
}

/*  One name table each for reject codes and ERROR codes (proto/reject.c). */
static void
test_code_names (void **state)
{
    assert_int_equal (PINGYI_REJECT_SLOTS, 16);
    assert_string_equal (pingyi_reject_name (PINGYI_REJECT_BAD_ENVELOPE), "bad_envelope");
    assert_string_equal (pingyi_reject_name (PINGYI_REJECT_VENUE_CLOSED), "venue_closed");
    assert_string_equal (pingyi_reject_name ((pingyi_reject_t) 12), "unknown");
    static const char *errors[] = {"UNKNOWN_CODE", "BAD_MESSAGE",   "FORBIDDEN", "WRONG_ELECTION",
                                   "UNKNOWN_PEER", "UNKNOWN_VENUE", "INTERNAL",  "DISPLACED"};
    for (uint32_t c = 0; c < 8; c++)
        assert_string_equal (pingyi_error_strerror (c), errors[c]);
    assert_string_equal (pingyi_error_strerror (8), "UNKNOWN_CODE");
    assert_string_equal (pingyi_error_strerror (UINT32_MAX), "UNKNOWN_CODE");
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
        cmocka_unit_test (test_wire_worked_example),
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
        cmocka_unit_test (test_mac_every_bit_flip_fails),
        cmocka_unit_test (test_mac_wrong_key_fails),
        cmocka_unit_test (test_mac_definition),
        cmocka_unit_test (test_figures_by_category),
        cmocka_unit_test (test_tickets),
        cmocka_unit_test (test_rejected_by_map),
        cmocka_unit_test (test_tag_of_bad_frames),
        cmocka_unit_test (test_submit_any_envelope_length),
        cmocka_unit_test (test_duplicate_reason),
        cmocka_unit_test (test_code_names),
        cmocka_unit_test (test_names),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
