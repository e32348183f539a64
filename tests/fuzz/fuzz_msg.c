/*  fuzz_msg.c — libFuzzer target: any bytes as one wire frame.

    pingyi_msg_decode must never crash, read past the input or allocate; a
    refusal always has a reason.  A frame that decodes is walked completely
    (every list item, every byte of every string and bin is read, so ASan
    sees any pointer outside the frame), its FORWARD / REPLY inner frame is
    decoded in turn, and it is re-encoded with the encoders: the re-encoding
    must decode, and encoding that again must give the same bytes (a fixed
    point), so encoder and decoder agree on every field.

    Seeds: run with PINGYI_FUZZ_WRITE_SEEDS=DIR to write one valid frame of
    every type into DIR (how tests/fuzz/corpus/msg was made), then exit.  */
#include "msg.h"

#include <stdlib.h>
#include <string.h>

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
    pingyi_counter_t counter;
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
                                m->u.venue_close.collected, m->u.venue_close.sent);
        break;
    case PINGYI_MSG_VENUE_STATUS:
        pingyi_msg_venue_status (w, m->u.venue_status.tag, &m->u.venue_status.figures);
        break;
    case PINGYI_MSG_TALLY_QUERY:
        pingyi_msg_tally_query (w, m->u.tally_query.tag, m->u.tally_query.shard, m->u.tally_query.from);
        break;
    case PINGYI_MSG_SNAPSHOT:
        if (m->u.snapshot.shard >= m->u.snapshot.shard_count)
            abort ();
        pingyi_msg_snapshot_begin (w, m->u.snapshot.tag, m->u.snapshot.shard, m->u.snapshot.shard_count,
                                   m->u.snapshot.fingerprint, m->u.snapshot.sequence,
                                   m->u.snapshot.chain_head, m->u.snapshot.venues.count);
        for (n = 0; pingyi_list_next_figures (&m->u.snapshot.venues, &fig); n++) {
            if (fig.issued < -1 || fig.collected < -1 || fig.sent < -1)
                abort ();
            pingyi_msg_figures (w, &fig);
        }
        if (n != m->u.snapshot.venues.count)
            abort ();
        pingyi_msg_snapshot_counters_begin (w, m->u.snapshot.counters.count);
        for (n = 0; pingyi_list_next_counter (&m->u.snapshot.counters, &counter); n++)
            pingyi_msg_counter (w, counter.key, counter.count);
        if (n != m->u.snapshot.counters.count)
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
        touch (m->u.forward.route.p, m->u.forward.route.len);
        touch (m->u.forward.inner.p, m->u.forward.inner.len);
        pingyi_msg_forward (w, m->u.forward.route.p, m->u.forward.route.len,
                            (pingyi_role_t) m->u.forward.role, m->u.forward.sender.p, m->u.forward.sender.len,
                            m->u.forward.inner.p, m->u.forward.inner.len);
        break;
    case PINGYI_MSG_REPLY:
        touch (m->u.reply.route.p, m->u.reply.route.len);
        touch (m->u.reply.inner.p, m->u.reply.inner.len);
        pingyi_msg_reply (w, m->u.reply.route.p, m->u.reply.route.len, m->u.reply.inner.p,
                          m->u.reply.inner.len);
        break;
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
    uint8_t fp[32], key[8] = {0, 1, 0, 2, 0, 3, 1, 0}, id[16], env[120];
    for (int i = 0; i < 32; i++)
        fp[i] = (uint8_t) i;
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
                                  .closed = true};
    fig.rejected_by[6] = 2;
    pingyi_venue_figures_t open_fig = {.venue = 5, .issued = -1, .collected = -1, .sent = -1};
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
    write_seed (dir, "ack", &w);
    pingyi_msg_retry (&w, 2, 500, "no worker owns shard 1");
    write_seed (dir, "retry", &w);
    pingyi_msg_error (&w, 3, PINGYI_ERROR_FORBIDDEN, "venue v01 may not query");
    write_seed (dir, "error", &w);
    pingyi_msg_venue_open (&w, 4, fp, "v01");
    write_seed (dir, "venue_open", &w);
    pingyi_msg_venue_close (&w, 5, fp, "v01", 100, 98, 98);
    write_seed (dir, "venue_close", &w);
    pingyi_msg_venue_status (&w, 6, &fig);
    write_seed (dir, "venue_status", &w);
    pingyi_msg_tally_query (&w, 7, 1, NULL);
    write_seed (dir, "tally_query", &w);
    pingyi_msg_snapshot_begin (&w, 8, 1, 2, fp, 42, fp, 2);
    pingyi_msg_figures (&w, &fig);
    pingyi_msg_figures (&w, &open_fig);
    pingyi_msg_snapshot_counters_begin (&w, 2);
    pingyi_msg_counter (&w, key, 5);
    key[7] = 1;
    pingyi_msg_counter (&w, key, 300);
    pingyi_msg_snapshot_end (&w, true, key);
    write_seed (dir, "snapshot", &w);
    pingyi_msg_stats_query (&w, 9, -1);
    write_seed (dir, "stats_query", &w);
    pingyi_msg_stats_begin (&w, 10, "broker", 2);
    pingyi_msg_stat (&w, "frames_in", 12345);
    pingyi_msg_stat (&w, "workers", 2);
    write_seed (dir, "stats", &w);
    pingyi_msg_venue_open (&inner, 11, fp, "v01");
    pingyi_msg_forward (&w, (const uint8_t *) "\x00\x80\x00\x00\x29", 5, PINGYI_ROLE_VENUE, "v01", 3,
                        (const uint8_t *) inner.sbuf.data, inner.sbuf.size);
    write_seed (dir, "forward", &w);
    pingyi_msg_ack_begin (&inner, 1, 1);
    pingyi_msg_ack_result (&inner, id, PINGYI_ACK_DUPLICATE, 0, "", "fedcba9876543210");
    pingyi_msg_reply (&w, (const uint8_t *) "\x00\x80\x00\x00\x29", 5, (const uint8_t *) inner.sbuf.data,
                      inner.sbuf.size);
    write_seed (dir, "reply", &w);
    pingyi_writer_fini (&w);
    pingyi_writer_fini (&inner);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    const char *dir = getenv ("PINGYI_FUZZ_WRITE_SEEDS");
    if (dir && *dir) {
        write_seeds (dir);
        exit (0);
    }
    return 0;
}
