/*  fuzz_msg.c — libFuzzer target: any bytes as one wire frame (protocol
    version 2).

    pingyi_msg_decode must never crash, read past the input or allocate; a
    refusal always has a reason.  A frame that decodes is walked completely
    (every list item, every byte of every string and bin is read, so ASan
    sees any pointer outside the frame), its FORWARD / REPLY inner frame is
    decoded in turn, and it is re-encoded with the encoders: the re-encoding
    must decode, and encoding that again must give the same bytes (a fixed
    point), so encoder and decoder agree on every field.

    The link MAC (ACK, VENUE_STATUS, VENUE_CLOSE): a decoded frame's MAC is
    its last 16 bytes and mac_offset lies before them; the MAC of the
    re-encoding (made with the link keys of the worked example in
    docs/PROTOCOL.md) verifies with its own key and not with the other link
    key, nor after any one of its bytes before the MAC is changed; a type
    without a MAC never verifies.  The seeds carry MACs made with the same
    keys, so mutations that keep the MAC valid are reachable too.

    Seeds: run with PINGYI_FUZZ_WRITE_SEEDS=DIR to write valid frames of
    every type into DIR (how tests/fuzz/corpus/msg was made), then exit.  */
#include "envelope.h"
#include "msg.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/*  The link keys of the worked example: venue box secret 32 × 01, shard box
    secret 32 × 02 (docs/PROTOCOL.md §10).  */
static uint8_t ack_key[32], close_key[32];

static void
derive_keys (void)
{
    uint8_t venue_sk[32], shard_sk[32], shard_pk[32], k[32];
    memset (venue_sk, 0x01, sizeof venue_sk);
    memset (shard_sk, 0x02, sizeof shard_sk);
    if (sodium_init () < 0 || crypto_scalarmult_base (shard_pk, shard_sk) != 0 ||
        pingyi_envelope_key (k, shard_pk, venue_sk) != 0)
        abort ();
    pingyi_envelope_link_keys (ack_key, close_key, k);
}

static bool
has_mac (int type)
{
    return type == PINGYI_MSG_ACK || type == PINGYI_MSG_VENUE_STATUS || type == PINGYI_MSG_VENUE_CLOSE ||
           type == PINGYI_MSG_VENUE_REOPEN;
}

static volatile uint8_t sink;

static void
touch (const void *p, size_t len)
{
    const uint8_t *b = p;
    uint8_t x = 0;
    for (size_t i = 0; i < len; i++)
        x ^= b[i];
    sink ^= x;
}

/*  A NUL-terminated copy of a decoded string: the decoder refuses NUL inside
    strings, so nothing is lost.  */
static const char *
cstr (char *buf, size_t cap, pingyi_str_t s)
{
    if (s.len >= cap || memchr (s.p, 0, s.len))
        abort ();
    memcpy (buf, s.p, s.len);
    buf[s.len] = '\0';
    return buf;
}

/*  Walk every list of m and re-encode m into w.  */
static void
walk_and_encode (pingyi_msg_t *m, pingyi_writer_t *w)
{
    char a[PINGYI_TEXT_MAX + 1], b[PINGYI_TEXT_MAX + 1];
    uint64_t u;
    pingyi_bin_t bin;
    pingyi_ack_t ack;
    pingyi_venue_figures_t fig;
    pingyi_block_t block;
    pingyi_stat_t stat;
    uint32_t n;

    switch (m->type) {
    case PINGYI_MSG_HELLO:
        pingyi_msg_hello_begin (w, m->u.hello.fingerprint, cstr (a, sizeof a, m->u.hello.name),
                                m->u.hello.shards.count);
        for (n = 0; pingyi_list_next_uint (&m->u.hello.shards, &u); n++) {
            if (u > 255)
                abort ();
            msgpack_pack_uint64 (&w->pk, u);
        }
        if (n != m->u.hello.shards.count)
            abort ();
        break;
    case PINGYI_MSG_READY:
        pingyi_msg_ready_begin (w, m->u.ready.shards.count);
        for (n = 0; pingyi_list_next_uint (&m->u.ready.shards, &u); n++)
            msgpack_pack_uint64 (&w->pk, u);
        if (n != m->u.ready.shards.count)
            abort ();
        break;
    case PINGYI_MSG_HEARTBEAT:
        pingyi_msg_heartbeat (w);
        break;
    case PINGYI_MSG_SUBMIT:
        pingyi_msg_submit_begin (w, m->u.submit.tag, m->u.submit.fingerprint,
                                 cstr (a, sizeof a, m->u.submit.venue), m->u.submit.envelopes.count);
        for (n = 0; pingyi_list_next_bin (&m->u.submit.envelopes, &bin); n++) {
            if (bin.len < 1 || bin.len > PINGYI_ENVELOPE_MAX)
                abort ();
            touch (bin.p, bin.len);
            pingyi_msg_envelope (w, bin.p, bin.len);
        }
        if (n != m->u.submit.envelopes.count)
            abort ();
        break;
    case PINGYI_MSG_ACK:
        pingyi_msg_ack_begin (w, m->u.ack.tag, m->u.ack.results.count);
        for (n = 0; pingyi_list_next_ack (&m->u.ack.results, &ack); n++) {
            if (ack.status > PINGYI_ACK_REJECTED)
                abort ();
            pingyi_msg_ack_result (w, ack.ballot_id, (pingyi_ack_status_t) ack.status, ack.reason,
                                   cstr (a, sizeof a, ack.text), cstr (b, sizeof b, ack.receipt));
        }
        if (n != m->u.ack.results.count)
            abort ();
        pingyi_msg_ack_end (w, ack_key);
        break;
    case PINGYI_MSG_RETRY:
        pingyi_msg_retry (w, m->u.retry.tag, m->u.retry.retry_ms, cstr (a, sizeof a, m->u.retry.reason));
        break;
    case PINGYI_MSG_ERROR:
        pingyi_msg_error (w, m->u.error.tag, (pingyi_error_code_t) m->u.error.code,
                          cstr (a, sizeof a, m->u.error.text));
        break;
    case PINGYI_MSG_VENUE_OPEN:
        pingyi_msg_venue_open (w, m->u.venue_open.tag, m->u.venue_open.fingerprint,
                               cstr (a, sizeof a, m->u.venue_open.venue));
        break;
    case PINGYI_MSG_VENUE_CLOSE:
        pingyi_msg_venue_close (w, m->u.venue_close.tag, m->u.venue_close.fingerprint,
                                cstr (a, sizeof a, m->u.venue_close.venue), m->u.venue_close.issued,
                                m->u.venue_close.collected, m->u.venue_close.sent, close_key);
        break;
    case PINGYI_MSG_VENUE_STATUS:
        if (m->u.venue_status.figures.category_count > PINGYI_FIGURES_CATEGORIES)
            abort ();
        pingyi_msg_venue_status (w, m->u.venue_status.tag, &m->u.venue_status.figures, ack_key);
        break;
    case PINGYI_MSG_TALLY_QUERY:
        pingyi_msg_tally_query (w, m->u.tally_query.tag, m->u.tally_query.shard, m->u.tally_query.from);
        break;
    case PINGYI_MSG_SNAPSHOT:
        if (m->u.snapshot.shard >= m->u.snapshot.shard_count)
            abort ();
        pingyi_msg_snapshot_begin (w, m->u.snapshot.tag, m->u.snapshot.shard, m->u.snapshot.shard_count,
                                   m->u.snapshot.fingerprint, m->u.snapshot.sequence, m->u.snapshot.digest,
                                   m->u.snapshot.generation, m->u.snapshot.venues.count);
        for (n = 0; pingyi_list_next_figures (&m->u.snapshot.venues, &fig); n++) {
            if (fig.issued < -1 || fig.collected < -1 || fig.sent < -1 ||
                fig.category_count > PINGYI_FIGURES_CATEGORIES)
                abort ();
            pingyi_msg_figures (w, &fig);
        }
        if (n != m->u.snapshot.venues.count)
            abort ();
        pingyi_msg_snapshot_blocks_begin (w, m->u.snapshot.blocks.count);
        for (n = 0; pingyi_list_next_block (&m->u.snapshot.blocks, &block); n++) {
            if (block.len % 4 || block.len > PINGYI_BLOCK_BYTES_MAX || block.venue > 0xffff ||
                block.subject > 0xffff)
                abort ();
            pingyi_msg_block (w, block.venue, block.subject, block.cells, block.len);
        }
        if (n != m->u.snapshot.blocks.count)
            abort ();
        pingyi_msg_snapshot_end (w, m->u.snapshot.more, m->u.snapshot.next);
        break;
    case PINGYI_MSG_STATS_QUERY:
        pingyi_msg_stats_query (w, m->u.stats_query.tag, m->u.stats_query.shard);
        break;
    case PINGYI_MSG_STATS:
        pingyi_msg_stats_begin (w, m->u.stats.tag, cstr (a, sizeof a, m->u.stats.source),
                                m->u.stats.stats.count);
        for (n = 0; pingyi_list_next_stat (&m->u.stats.stats, &stat); n++)
            pingyi_msg_stat (w, cstr (b, sizeof b, stat.name), stat.value);
        if (n != m->u.stats.stats.count)
            abort ();
        break;
    case PINGYI_MSG_FORWARD:
        if (m->u.forward.ticket == 0 || m->u.forward.role < PINGYI_ROLE_VENUE ||
            m->u.forward.role > PINGYI_ROLE_BROKER)
            abort ();
        touch (m->u.forward.sender.p, m->u.forward.sender.len);
        touch (m->u.forward.inner.p, m->u.forward.inner.len);
        pingyi_msg_forward (w, m->u.forward.ticket, (pingyi_role_t) m->u.forward.role, m->u.forward.sender.p,
                            m->u.forward.sender.len, m->u.forward.inner.p, m->u.forward.inner.len);
        break;
    case PINGYI_MSG_REPLY:
        if (m->u.reply.ticket == 0)
            abort ();
        touch (m->u.reply.inner.p, m->u.reply.inner.len);
        pingyi_msg_reply (w, m->u.reply.ticket, m->u.reply.inner.p, m->u.reply.inner.len);
        break;
    case PINGYI_MSG_VENUE_REOPEN:
        if (m->u.venue_reopen.reason.len < 1)
            abort ();
        if (m->u.venue_reopen.number == 0)
            abort ();
        pingyi_msg_venue_reopen (w, m->u.venue_reopen.tag, m->u.venue_reopen.fingerprint,
                                 cstr (a, sizeof a, m->u.venue_reopen.venue), m->u.venue_reopen.number,
                                 cstr (b, sizeof b, m->u.venue_reopen.reason), close_key);
        break;
    case PINGYI_MSG_MONITOR_QUERY:
        pingyi_msg_monitor_query (w, m->u.monitor_query.tag, m->u.monitor_query.from);
        break;
    case PINGYI_MSG_MONITOR: {
        pingyi_msg_monitor_begin (w, m->u.monitor.tag, m->u.monitor.uptime_ms,
                                  cstr (a, sizeof a, m->u.monitor.version), m->u.monitor.workers.count);
        pingyi_monitor_worker_t mw;
        for (n = 0; pingyi_list_next_monitor_worker (&m->u.monitor.workers, &mw); n++) {
            uint32_t owned[256];
            size_t k = 0;
            while (pingyi_list_next_uint (&mw.shards, &u)) {
                if (u > 255 || k >= 256)
                    abort ();
                owned[k++] = (uint32_t) u;
            }
            if (k != mw.shards.count || (!mw.heard && mw.heartbeat_ms) || mw.heartbeat_ms > INT64_MAX)
                abort ();
            pingyi_msg_monitor_worker (w, cstr (b, sizeof b, mw.name), owned, (uint32_t) k, mw.live, mw.in_flight,
                                       mw.envelopes_forwarded, mw.heard ? (int64_t) mw.heartbeat_ms : -1);
        }
        if (n != m->u.monitor.workers.count)
            abort ();
        pingyi_msg_monitor_shards_begin (w, m->u.monitor.shards.count);
        pingyi_monitor_shard_t ms;
        for (n = 0; pingyi_list_next_monitor_shard (&m->u.monitor.shards, &ms); n++) {
            /* exactly one of owner and unowned_ms */
            if ((ms.owner.len > 0) == ms.unowned || ms.unowned_ms > INT64_MAX)
                abort ();
            pingyi_msg_monitor_shard (w, ms.number, ms.owner.len ? cstr (b, sizeof b, ms.owner) : NULL,
                                      ms.unowned ? (int64_t) ms.unowned_ms : -1);
        }
        if (n != m->u.monitor.shards.count)
            abort ();
        pingyi_msg_monitor_refusals_begin (w, m->u.monitor.refusals.count);
        for (n = 0; pingyi_list_next_refusal (&m->u.monitor.refusals, &stat); n++)
            pingyi_msg_monitor_refusal (w, cstr (b, sizeof b, stat.name), stat.value);
        if (n != m->u.monitor.refusals.count)
            abort ();
        pingyi_msg_monitor_venues_begin (w, m->u.monitor.venues.count);
        pingyi_monitor_venue_t mv;
        for (n = 0; pingyi_list_next_monitor_venue (&m->u.monitor.venues, &mv); n++) {
            touch (mv.id.p, mv.id.len);
            pingyi_msg_monitor_venue (w, &mv);
        }
        if (n != m->u.monitor.venues.count)
            abort ();
        pingyi_msg_monitor_end (w, m->u.monitor.more, m->u.monitor.next);
        break;
    }
    default:
        abort (); /* decode accepted a type it does not know */
    }
}

static void
check_frame (const uint8_t *data, size_t size, int depth)
{
    pingyi_msg_t m;
    char err[PINGYI_ERR_MAX];
    err[0] = '\0';
    if (pingyi_msg_decode (data, size, &m, err) != 0) {
        if (err[0] == '\0')
            abort (); /* every refusal has a reason */
        return;
    }
    pingyi_msg_t again = m; /* lists are walked twice: once here, once below */

    if (has_mac (m.type)) {
        /* The MAC is the last field: its bin header at mac_offset, its 16
           bytes at the very end.  */
        if (m.mac_offset < 3 || m.mac_offset + 2 + PINGYI_LINK_MAC_LEN > size ||
            memcmp (m.mac, data + size - PINGYI_LINK_MAC_LEN, PINGYI_LINK_MAC_LEN) != 0)
            abort ();
        /* Checking it reads only the frame, whatever the key.  */
        sink ^= (uint8_t) pingyi_msg_mac_check (data, &m, ack_key);
        sink ^= (uint8_t) pingyi_msg_mac_check (data, &m, close_key);
    }
    else if (m.mac_offset != 0 || pingyi_msg_mac_check (data, &m, ack_key) != -1)
        abort ();

    /* The inner frame of a wrapper is a frame of its own.  */
    if (depth == 0 && m.type == PINGYI_MSG_FORWARD)
        check_frame (m.u.forward.inner.p, m.u.forward.inner.len, 1);
    if (depth == 0 && m.type == PINGYI_MSG_REPLY)
        check_frame (m.u.reply.inner.p, m.u.reply.inner.len, 1);

    pingyi_writer_t w1, w2;
    pingyi_writer_init (&w1);
    pingyi_writer_init (&w2);
    walk_and_encode (&m, &w1);
    pingyi_msg_t m2;
    if (pingyi_msg_decode ((const uint8_t *) w1.sbuf.data, w1.sbuf.size, &m2, err) != 0)
        abort (); /* the encoders wrote what the decoder refuses */
    if (m2.type != again.type)
        abort ();
    walk_and_encode (&m2, &w2);
    if (w1.sbuf.size != w2.sbuf.size || memcmp (w1.sbuf.data, w2.sbuf.data, w1.sbuf.size) != 0)
        abort (); /* decoding lost or changed a field */
    if (has_mac (m2.type)) {
        uint8_t *re = (uint8_t *) w1.sbuf.data;
        const uint8_t *own =
            m2.type == PINGYI_MSG_VENUE_CLOSE || m2.type == PINGYI_MSG_VENUE_REOPEN ? close_key : ack_key;
        const uint8_t *other = own == ack_key ? close_key : ack_key;
        if (pingyi_msg_mac_check (re, &m2, own) != 0 || pingyi_msg_mac_check (re, &m2, other) != -1)
            abort ();
        /* One byte before the MAC changed (chosen by the input): it fails.  */
        size_t at = (size ? data[0] : 0) % m2.mac_offset;
        re[at] ^= (uint8_t) (size > 1 ? data[1] | 1 : 1);
        if (pingyi_msg_mac_check (re, &m2, own) != -1)
            abort ();
    }
    pingyi_writer_fini (&w1);
    pingyi_writer_fini (&w2);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    check_frame (data, size, 0);
    return 0;
}

/* -------------------------------------------------------------------------
   Seeds  */

static void
write_seed (const char *dir, const char *name, const pingyi_writer_t *w)
{
    char path[1024];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen (path, "wb");
    if (!f || fwrite (w->sbuf.data, 1, w->sbuf.size, f) != w->sbuf.size || fclose (f) != 0) {
        fprintf (stderr, "fuzz_msg: cannot write %s\n", path);
        exit (1);
    }
}

static void
write_seeds (const char *dir)
{
    uint8_t fp[32], digest[32], id[16], env[120];
    for (int i = 0; i < 32; i++) {
        fp[i] = (uint8_t) i;
        digest[i] = (uint8_t) (0xd0 ^ i);
    }
    memset (id, 0x42, sizeof id);
    for (size_t i = 0; i < sizeof env; i++)
        env[i] = (uint8_t) (i * 13);
    pingyi_venue_figures_t fig = {.venue = 2,
                                  .accepted = 96,
                                  .blank = 1,
                                  .duplicates = 3,
                                  .rejected = 2,
                                  .issued = 100,
                                  .collected = 98,
                                  .sent = 98,
                                  .closed = true,
                                  .category_count = 4,
                                  .by_category = {50, 30, 10, 6}};
    fig.rejected_by[6] = 2;
    pingyi_venue_figures_t open_fig = {.venue = 5, .issued = -1, .collected = -1, .sent = -1};
    pingyi_venue_figures_t wide_fig = fig; /* every category there can be */
    wide_fig.category_count = PINGYI_FIGURES_CATEGORIES;
    for (int i = 0; i < PINGYI_FIGURES_CATEGORIES; i++)
        wide_fig.by_category[i] = (uint64_t) i << (i * 2);
    pingyi_writer_t w, inner;
    pingyi_writer_init (&w);
    pingyi_writer_init (&inner);

    pingyi_msg_hello_begin (&w, fp, "worker-0", 2);
    msgpack_pack_uint32 (&w.pk, 0);
    msgpack_pack_uint32 (&w.pk, 1);
    write_seed (dir, "hello", &w);
    pingyi_msg_ready_begin (&w, 1);
    msgpack_pack_uint32 (&w.pk, 1);
    write_seed (dir, "ready", &w);
    pingyi_msg_heartbeat (&w);
    write_seed (dir, "heartbeat", &w);
    pingyi_msg_submit_begin (&w, 1, fp, "v01", 2);
    pingyi_msg_envelope (&w, env, sizeof env);
    pingyi_msg_envelope (&w, env, 91);
    write_seed (dir, "submit", &w);
    pingyi_msg_ack_begin (&w, 1, 2);
    pingyi_msg_ack_result (&w, id, PINGYI_ACK_ACCEPTED, 0, "", "0123456789abcdef");
    pingyi_msg_ack_result (&w, id, PINGYI_ACK_REJECTED, 6, "authentication failed", "");
    pingyi_msg_ack_end (&w, ack_key);
    write_seed (dir, "ack", &w);
    pingyi_msg_ack_begin (&w, 0, 0);
    pingyi_msg_ack_end (&w, ack_key);
    write_seed (dir, "ack_empty", &w);
    pingyi_msg_retry (&w, 2, 500, "no worker owns shard 1");
    write_seed (dir, "retry", &w);
    pingyi_msg_error (&w, 3, PINGYI_ERROR_DISPLACED, "another connection with this key took shards 0-3");
    write_seed (dir, "error", &w);
    pingyi_msg_venue_open (&w, 4, fp, "v01");
    write_seed (dir, "venue_open", &w);
    pingyi_msg_venue_close (&w, 5, fp, "v01", 100, 98, 98, close_key);
    write_seed (dir, "venue_close", &w);
    pingyi_msg_venue_status (&w, 6, &fig, ack_key);
    write_seed (dir, "venue_status", &w);
    pingyi_msg_venue_status (&w, 6, &open_fig, ack_key);
    write_seed (dir, "venue_status_open", &w);
    pingyi_msg_venue_reopen (&w, 17, fp, "v01", 1, "收回数录错", close_key);
    write_seed (dir, "venue_reopen", &w);
    pingyi_msg_venue_status (&w, UINT64_MAX, &wide_fig, ack_key);
    write_seed (dir, "venue_status_32_categories", &w);
    pingyi_msg_tally_query (&w, 7, 1, NULL);
    write_seed (dir, "tally_query", &w);
    pingyi_msg_snapshot_begin (&w, 8, 1, 2, fp, 42, digest, 3, 3);
    pingyi_msg_figures (&w, &fig);
    pingyi_msg_figures (&w, &open_fig);
    pingyi_msg_figures (&w, &wide_fig);
    static const uint8_t cells[8] = {5, 0, 0, 0, 0x2c, 1, 0, 0}, next[4] = {0, 1, 0, 3};
    pingyi_msg_snapshot_blocks_begin (&w, 2);
    pingyi_msg_block (&w, 0, 1, cells, sizeof cells);
    pingyi_msg_block (&w, 0, 2, cells, 4);
    pingyi_msg_snapshot_end (&w, true, next);
    write_seed (dir, "snapshot", &w);
    pingyi_msg_stats_query (&w, 9, -1);
    write_seed (dir, "stats_query", &w);
    pingyi_msg_stats_begin (&w, 10, "broker", 2);
    pingyi_msg_stat (&w, "frames_in", 12345);
    pingyi_msg_stat (&w, "workers", 2);
    write_seed (dir, "stats", &w);
    pingyi_msg_venue_open (&inner, 11, fp, "v01");
    pingyi_msg_forward (&w, 41, PINGYI_ROLE_VENUE, "v01", 3, (const uint8_t *) inner.sbuf.data,
                        inner.sbuf.size);
    write_seed (dir, "forward", &w);
    pingyi_msg_venue_close (&inner, 12, fp, "v01", 100, 98, 98, close_key);
    pingyi_msg_forward (&w, UINT64_MAX, PINGYI_ROLE_VENUE, "v01", 3, (const uint8_t *) inner.sbuf.data,
                        inner.sbuf.size);
    write_seed (dir, "forward_venue_close", &w);
    pingyi_msg_ack_begin (&inner, 1, 1);
    pingyi_msg_ack_result (&inner, id, PINGYI_ACK_DUPLICATE, 0, "", "fedcba9876543210");
    pingyi_msg_ack_end (&inner, ack_key);
    pingyi_msg_reply (&w, 41, (const uint8_t *) inner.sbuf.data, inner.sbuf.size);
    write_seed (dir, "reply", &w);
    pingyi_msg_venue_status (&inner, 11, &fig, ack_key);
    pingyi_msg_reply (&w, 1, (const uint8_t *) inner.sbuf.data, inner.sbuf.size);
    write_seed (dir, "reply_venue_status", &w);

    /* The worked example of docs/PROTOCOL.md §10: its SUBMIT and its ACK.  */
    uint8_t venue_sk[32], shard_sk[32], shard_pk[32], k[32], bid[16], nonce[24], sealed[256];
    static const uint8_t body[] = {0x93, 0x01, 0x00, 0x91, 0x92, 0x00, 0x92, 0x01, 0x02};
    memset (venue_sk, 0x01, 32);
    memset (shard_sk, 0x02, 32);
    for (int i = 0; i < 16; i++)
        bid[i] = (uint8_t) (0x10 + i);
    for (int i = 0; i < 24; i++)
        nonce[i] = (uint8_t) (0x20 + i);
    if (crypto_scalarmult_base (shard_pk, shard_sk) != 0 || pingyi_envelope_key (k, shard_pk, venue_sk) != 0)
        abort ();
    size_t n = pingyi_envelope_seal_with_nonce (sealed, sizeof sealed, fp, "v01", 3, bid, body, sizeof body,
                                                k, nonce);
    char receipt[PINGYI_RECEIPT_LEN + 1];
    pingyi_envelope_receipt (receipt, sealed, n);
    pingyi_msg_submit_begin (&w, 1, fp, "v01", 1);
    pingyi_msg_envelope (&w, sealed, n);
    write_seed (dir, "example_submit", &w);
    pingyi_msg_ack_begin (&w, 1, 1);
    pingyi_msg_ack_result (&w, bid, PINGYI_ACK_ACCEPTED, 0, "", receipt);
    pingyi_msg_ack_end (&w, ack_key);
    write_seed (dir, "example_ack", &w);
    pingyi_writer_fini (&w);
    pingyi_writer_fini (&inner);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    derive_keys ();
    const char *dir = getenv ("PINGYI_FUZZ_WRITE_SEEDS");
    if (dir && *dir) {
        write_seeds (dir);
        exit (0);
    }
    return 0;
}
