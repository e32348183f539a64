/*  test_agg_shards.c — the aggregator assembles a shard's snapshot from
    SNAPSHOT pages and adopts it only when complete; keeps the last complete
    snapshot through RETRY, silence and refused pages, and calls it stale
    only after stale_ms; refuses every kind of bad page with its own counter
    and never lets one into the merge; and the merged tally is exactly the
    sum of the shards' snapshots.

    Pages are real frames: encoded with the proto/ encoders and decoded by
    pingyi_msg_decode, then fed as the poller feeds them.  The election is a
    tiny definition below: 2 shards, v01 and v02 on shard 0, v03 on 1.  */
#include "../../aggregator/shards.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static const char *DEFINITION =
    "{\n"
    "  \"version\": 1, \"id\": \"agg-test\", \"title\": \"agg test\", \"shards\": 2,\n"
    "  \"grades\": [\n"
    "    {\"label\": \"A\", \"points\": 100, \"favourable\": true},\n"
    "    {\"label\": \"B\", \"points\": 80, \"favourable\": true},\n"
    "    {\"label\": \"C\", \"points\": 60},\n"
    "    {\"label\": \"D\", \"points\": 0, \"unfavourable\": true}\n"
    "  ],\n"
    "  \"items\": [ {\"id\": \"overall\", \"name\": \"overall\", \"overall\": true},\n"
    "               {\"id\": \"duty\", \"name\": \"duty\"} ],\n"
    "  \"categories\": [ {\"id\": \"leaders\", \"name\": \"leaders\", \"weight\": 0.5},\n"
    "                    {\"id\": \"staff\", \"name\": \"staff\", \"weight\": 0.5} ],\n"
    "  \"districts\": [ {\"id\": \"d1\", \"name\": \"d1\"} ],\n"
    "  \"units\": [ {\"id\": \"u1\", \"name\": \"u1\", \"kind\": \"town\", \"district\": \"d1\"} ],\n"
    "  \"subjects\": [ {\"id\": \"s1\", \"name\": \"s1\", \"unit\": \"u1\", \"onsite\": true},\n"
    "                  {\"id\": \"s2\", \"name\": \"s2\", \"unit\": \"u1\", \"onsite\": true},\n"
    "                  {\"id\": \"s3\", \"name\": \"s3\", \"unit\": \"u1\", \"onsite\": false} ],\n"
    "  \"venues\": [\n"
    "    {\"id\": \"v01\", \"name\": \"v01\", \"district\": \"d1\", \"shard\": 0, \"subjects\": [\"s1\", "
    "\"s2\"]},\n"
    "    {\"id\": \"v02\", \"name\": \"v02\", \"district\": \"d1\", \"shard\": 0, \"subjects\": [\"s2\", "
    "\"s3\"]},\n"
    "    {\"id\": \"v03\", \"name\": \"v03\", \"district\": \"d1\", \"shard\": 1, \"subjects\": [\"s1\", "
    "\"s3\"]}\n"
    "  ]\n"
    "}\n";

#define INTERVAL 1000
#define STALE 5000

typedef struct {
    pingyi_election_t *e;
    agg_shards_t *shards;
    pingyi_tally_t *tally;
} fx_t;

/*  A counter the test names by its parts.  */
typedef struct {
    uint16_t venue, subject;
    uint8_t item, category, mark;
    uint64_t count;
} t_counter_t;

/*  One encoded and decoded frame; msg points into w.  */
typedef struct {
    pingyi_writer_t w;
    pingyi_msg_t msg;
} t_frame_t;

/*  The key of the count block holding c: venue << 16 | subject.  */
static uint64_t
t_key (const t_counter_t *c)
{
    return (uint64_t) c->venue << 16 | c->subject;
}

static void
t_decode (t_frame_t *f)
{
    char err[PINGYI_ERR_MAX];
    int rc = pingyi_msg_decode ((const uint8_t *) f->w.sbuf.data, f->w.sbuf.size, &f->msg, err);
    if (rc)
        fprintf (stderr, "decode: %s\n", err);
    assert_int_equal (rc, 0);
}

static pingyi_venue_figures_t
t_figures (uint32_t venue, uint64_t accepted, bool closed)
{
    pingyi_venue_figures_t f;
    memset (&f, 0, sizeof f);
    f.venue = venue;
    f.accepted = accepted;
    f.issued = closed ? (int64_t) accepted : -1;
    f.collected = closed ? (int64_t) accepted : -1;
    f.sent = closed ? (int64_t) accepted : -1;
    f.closed = closed;
    return f;
}

/*  A SNAPSHOT page.  fp NULL: the election's fingerprint.  The digest is
    32 × digest_byte; the generation is given (t_page: the sequence).  */
static void
t_page_gen (t_frame_t *f, const fx_t *fx, const uint8_t *fp, uint64_t tag, uint32_t shard, uint64_t sequence,
            uint8_t digest_byte, uint64_t generation, const pingyi_venue_figures_t *figs, size_t nfig,
            const t_counter_t *cs, size_t nc, bool more, uint64_t next)
{
    uint8_t digest[32];
    memset (digest, digest_byte, sizeof digest);
    pingyi_writer_init (&f->w);
    pingyi_msg_snapshot_begin (&f->w, tag, shard, fx->e->shard_count, fp ? fp : fx->e->fingerprint, sequence,
                               digest, generation, (uint32_t) nfig);
    for (size_t i = 0; i < nfig; i++)
        pingyi_msg_figures (&f->w, &figs[i]);
    /* the counters as count blocks: one block per run of counters of one
       (venue, subject); a counter whose cell its block already holds
       starts another block of the same key (a duplicate block) */
    pingyi_count_shape_t shape;
    pingyi_count_shape (fx->e, &shape);
    size_t bytes = shape.width * 4, nb = 0;
    uint8_t *cells = calloc (nc ? nc : 1, bytes);
    uint32_t *venues = calloc (nc ? nc : 1, sizeof *venues), *subjects = calloc (nc ? nc : 1, sizeof *subjects);
    assert_true (cells && venues && subjects);
    for (size_t i = 0; i < nc; i++) {
        size_t cell = pingyi_count_index (&shape, cs[i].item, cs[i].category,
                                          pingyi_count_cell (cs[i].mark, shape.marks));
        assert_true (cell < shape.width);
        if (nb == 0 || venues[nb - 1] != cs[i].venue || subjects[nb - 1] != cs[i].subject ||
            pingyi_count_le32 (cells + (nb - 1) * bytes, cell)) {
            venues[nb] = cs[i].venue;
            subjects[nb] = cs[i].subject;
            nb++;
        }
        uint8_t *p = cells + (nb - 1) * bytes + 4 * cell;
        uint32_t n = (uint32_t) cs[i].count;
        p[0] = (uint8_t) n, p[1] = (uint8_t) (n >> 8), p[2] = (uint8_t) (n >> 16), p[3] = (uint8_t) (n >> 24);
    }
    pingyi_msg_snapshot_blocks_begin (&f->w, (uint32_t) nb);
    for (size_t b = 0; b < nb; b++)
        pingyi_msg_block (&f->w, venues[b], subjects[b], cells + b * bytes, bytes);
    free (cells);
    free (venues);
    free (subjects);
    uint8_t nk[PINGYI_BLOCK_KEY_BYTES];
    pingyi_row_key_pack ((uint32_t) (next >> 16), (uint32_t) (next & 0xffff), nk);
    pingyi_msg_snapshot_end (&f->w, more, more ? nk : NULL);
    t_decode (f);
}

static void
t_page_fp (t_frame_t *f, const fx_t *fx, const uint8_t *fp, uint64_t tag, uint32_t shard, uint64_t sequence,
           uint8_t digest_byte, const pingyi_venue_figures_t *figs, size_t nfig, const t_counter_t *cs,
           size_t nc, bool more, uint64_t next)
{
    t_page_gen (f, fx, fp, tag, shard, sequence, digest_byte, sequence, figs, nfig, cs, nc, more, next);
}

static void
t_page (t_frame_t *f, const fx_t *fx, uint64_t tag, uint32_t shard, uint64_t sequence, uint8_t digest_byte,
        const pingyi_venue_figures_t *figs, size_t nfig, const t_counter_t *cs, size_t nc, bool more,
        uint64_t next)
{
    t_page_fp (f, fx, NULL, tag, shard, sequence, digest_byte, figs, nfig, cs, nc, more, next);
}

static void
t_retry (t_frame_t *f, uint64_t tag, uint32_t ms, const char *why)
{
    pingyi_writer_init (&f->w);
    pingyi_msg_retry (&f->w, tag, ms, why);
    t_decode (f);
}

static void
t_free (t_frame_t *f)
{
    pingyi_writer_fini (&f->w);
}

/*  The query the module wants sent for want_shard, marked sent at now.
    Queries for other shards offered first are marked sent too (and left
    unanswered: they time out like any lost query).  */
static uint64_t
t_ask (fx_t *fx, uint32_t want_shard, uint64_t want_from, int64_t now)
{
    uint32_t shard;
    uint64_t tag;
    uint8_t from[PINGYI_BLOCK_KEY_BYTES];
    while (true) {
        /* nothing wanted is a failure, and the helper must not go on with
           a shard and tag it was never given (cmocka's fail_msg does not
           return, but is not declared noreturn) */
        if (!agg_shards_want (fx->shards, &shard, &tag, from)) {
            fail_msg ("no query wanted before shard %u's", want_shard);
            return 0;
        }
        agg_shards_sent (fx->shards, shard, now);
        if (shard == want_shard)
            break;
    }
    assert_int_equal (key_u32 (from), want_from);
    assert_int_equal (tag & 0xff, want_shard);
    return tag;
}

/*  Answer every query due with RETRY (retry_ms) at now; how many.  */
static int
t_retry_all (fx_t *fx, int64_t now, uint32_t retry_ms)
{
    uint32_t shard;
    uint64_t tag;
    uint8_t from[PINGYI_BLOCK_KEY_BYTES];
    int n = 0;
    while (agg_shards_want (fx->shards, &shard, &tag, from)) {
        agg_shards_sent (fx->shards, shard, now);
        t_frame_t f;
        char why[64];
        snprintf (why, sizeof why, "no worker owns shard %u now", shard);
        t_retry (&f, tag, retry_ms, why);
        uint32_t s;
        char err[PINGYI_ERR_MAX];
        assert_int_equal (agg_shards_feed (fx->shards, &f.msg, now, &s, err), AGG_FEED_RETRY);
        assert_int_equal (s, shard);
        t_free (&f);
        n++;
    }
    return n;
}

static agg_feed_t
t_feed (fx_t *fx, t_frame_t *f, int64_t now)
{
    uint32_t shard;
    char err[PINGYI_ERR_MAX];
    agg_feed_t r = agg_shards_feed (fx->shards, &f->msg, now, &shard, err);
    t_free (f);
    return r;
}

/*  Shard 1 answered with nothing, so merges only ever see shard 0.  */
static void
t_empty_shard1 (fx_t *fx, int64_t now)
{
    uint64_t tag = t_ask (fx, 1, 0, now);
    pingyi_venue_figures_t f3 = t_figures (2, 0, false);
    t_frame_t f;
    t_page (&f, fx, tag, 1, 0, 0, &f3, 1, NULL, 0, false, 0);
    assert_int_equal (t_feed (fx, &f, now), AGG_FEED_COMPLETE);
}

static int
t_setup (void **state)
{
    fx_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    pingyi_errlist_t errs = {0};
    fx->e = pingyi_election_parse ((const uint8_t *) DEFINITION, strlen (DEFINITION), &errs);
    for (size_t i = 0; i < errs.count; i++)
        fprintf (stderr, "definition: %s\n", errs.lines[i]);
    pingyi_errlist_clear (&errs);
    assert_non_null (fx->e);
    fx->shards = agg_shards_new (fx->e, INTERVAL, STALE);
    fx->tally = pingyi_tally_new (fx->e);
    assert_non_null (fx->shards);
    assert_non_null (fx->tally);
    *state = fx;
    return 0;
}

static int
t_teardown (void **state)
{
    fx_t *fx = *state;
    pingyi_tally_destroy (&fx->tally);
    agg_shards_destroy (&fx->shards);
    agg_shards_destroy (&fx->shards); /* safe twice */
    pingyi_election_destroy (&fx->e);
    free (fx);
    return 0;
}

/*  Round 1 asks both shards from key 0, with tags naming them.  */
static void
test_round_asks_every_shard (void **state)
{
    fx_t *fx = *state;
    assert_true (agg_shards_idle (fx->shards));
    agg_shards_round (fx->shards, 0);
    assert_false (agg_shards_idle (fx->shards));
    uint64_t t0 = t_ask (fx, 0, 0, 0);
    uint64_t t1 = t_ask (fx, 1, 0, 0);
    assert_int_not_equal (t0 >> 8, t1 >> 8);
    uint32_t s;
    uint64_t tag;
    uint8_t from[PINGYI_BLOCK_KEY_BYTES];
    assert_false (agg_shards_want (fx->shards, &s, &tag, from));
    /* a new round while both are awaited (not yet timed out) asks nothing */
    agg_shards_round (fx->shards, INTERVAL - 1);
    assert_false (agg_shards_want (fx->shards, &s, &tag, from));
}

/*  Two pages make one snapshot; until the last arrives the merge shows the
    previous complete snapshot, never a mix.  */
static void
test_pages_adopted_only_when_complete (void **state)
{
    fx_t *fx = *state;
    t_frame_t f;
    agg_shards_round (fx->shards, 0);
    uint64_t tag = t_ask (fx, 0, 0, 0);
    t_empty_shard1 (fx, 0);
    pingyi_venue_figures_t figs[2] = {t_figures (0, 5, false), t_figures (1, 0, false)};
    t_counter_t a[] = {{0, 0, 0, 0, 0, 5}}; /* v01 s1 overall leaders A ×5 */
    t_page (&f, fx, tag, 0, 5, 0x11, figs, 2, a, 1, false, 0);
    assert_int_equal (t_feed (fx, &f, 10), AGG_FEED_COMPLETE);
    assert_true (agg_shards_changed (fx->shards));
    assert_int_equal (agg_shards_merge (fx->shards, fx->tally), 0);
    assert_false (agg_shards_changed (fx->shards));
    assert_int_equal (pingyi_tally_get (fx->tally, 0, 0, 0, 0, 0), 5);

    /* round 2: the shard grew to 9 ballots, answered in two pages */
    agg_shards_round (fx->shards, 1000);
    tag = t_ask (fx, 0, 0, 1000);
    figs[0].accepted = 9;
    t_counter_t p1[] = {{0, 0, 0, 0, 0, 7}, {0, 0, 0, 0, 1, 2}};
    t_counter_t p2[] = {{0, 1, 1, 1, PINGYI_MARK_BLANK, 9}};
    t_page (&f, fx, tag, 0, 9, 0x22, figs, 2, p1, 2, true, t_key (&p2[0]));
    assert_int_equal (t_feed (fx, &f, 1010), AGG_FEED_PAGE);
    /* half way: nothing new is merged */
    assert_false (agg_shards_changed (fx->shards));
    agg_shards_merge (fx->shards, fx->tally);
    assert_int_equal (pingyi_tally_get (fx->tally, 0, 0, 0, 0, 0), 5);
    assert_int_equal (pingyi_tally_get (fx->tally, 0, 0, 0, 0, 1), 0);
    assert_int_equal (pingyi_tally_figures (fx->tally, 0)->accepted, 5);
    agg_shard_info_t info;
    agg_shards_info (fx->shards, 0, &info);
    assert_int_equal (info.sequence, 5);
    assert_int_equal (info.digest[0], 0x11);
    assert_int_equal (info.generation, 5);

    /* the next page is asked from `next`, under a new tag */
    uint64_t tag2 = t_ask (fx, 0, t_key (&p2[0]), 1020);
    assert_int_not_equal (tag2, tag);
    t_page (&f, fx, tag2, 0, 9, 0x22, figs, 2, p2, 1, false, 0);
    assert_int_equal (t_feed (fx, &f, 1030), AGG_FEED_COMPLETE);
    assert_true (agg_shards_changed (fx->shards));
    agg_shards_merge (fx->shards, fx->tally);
    assert_int_equal (pingyi_tally_get (fx->tally, 0, 0, 0, 0, 0), 7);
    assert_int_equal (pingyi_tally_get (fx->tally, 0, 0, 0, 0, 1), 2);
    assert_int_equal (pingyi_tally_get (fx->tally, 0, 1, 1, 1, PINGYI_MARK_BLANK), 9);
    assert_int_equal (pingyi_tally_figures (fx->tally, 0)->accepted, 9);
    agg_shards_info (fx->shards, 0, &info);
    assert_true (info.have);
    assert_int_equal (info.sequence, 9);
    assert_int_equal (info.digest[31], 0x22);
    assert_int_equal (info.complete_ms, 1030);
    assert_int_equal (fx->shards->shards[0].phase, PHASE_IDLE); /* shard 1 is still awaited */

    /* the same snapshot again is not a change */
    agg_shards_round (fx->shards, 2000);
    tag = t_ask (fx, 0, 0, 2000);
    t_counter_t all[] = {p1[0], p1[1], p2[0]};
    t_page (&f, fx, tag, 0, 9, 0x22, figs, 2, all, 3, false, 0);
    assert_int_equal (t_feed (fx, &f, 2010), AGG_FEED_COMPLETE);
    assert_false (agg_shards_changed (fx->shards));
    /* but a venue closing (figures only, same sequence) is */
    agg_shards_round (fx->shards, 3000);
    tag = t_ask (fx, 0, 0, 3000);
    figs[0] = t_figures (0, 9, true);
    t_page (&f, fx, tag, 0, 9, 0x22, figs, 2, all, 3, false, 0);
    assert_int_equal (t_feed (fx, &f, 3010), AGG_FEED_COMPLETE);
    assert_true (agg_shards_changed (fx->shards));
}

/*  The shard took ballots between two pages: the set starts over from the
    first key; a shard that never holds still is given up for the round.  */
static void
test_moving_shard_restarts (void **state)
{
    fx_t *fx = *state;
    t_frame_t f;
    agg_shards_round (fx->shards, 0);
    uint64_t tag = t_ask (fx, 0, 0, 0);
    pingyi_venue_figures_t figs[2] = {t_figures (0, 3, false), t_figures (1, 0, false)};
    t_counter_t p1[] = {{0, 0, 0, 0, 0, 3}};
    t_counter_t p2[] = {{0, 1, 0, 0, 0, 3}};
    for (int i = 0; i <= RESTARTS_MAX; i++) {
        t_page (&f, fx, tag, 0, 3 + (uint64_t) i, 0x33, figs, 2, p1, 1, true, t_key (&p2[0]));
        assert_int_equal (t_feed (fx, &f, 10), AGG_FEED_PAGE);
        tag = t_ask (fx, 0, t_key (&p2[0]), 10);
        /* the second page says another sequence */
        t_page (&f, fx, tag, 0, 4 + (uint64_t) i, 0x33, figs, 2, p2, 1, false, 0);
        agg_feed_t r = t_feed (fx, &f, 20);
        if (i < RESTARTS_MAX) {
            assert_int_equal (r, AGG_FEED_RESTARTED);
            tag = t_ask (fx, 0, 0, 20);
        }
        else
            assert_int_equal (r, AGG_FEED_RETRY); /* given up until the next round */
    }
    agg_shards_stats_t st;
    agg_shards_stats (fx->shards, &st);
    assert_int_equal (st.restarts, RESTARTS_MAX + 1);
    agg_shard_info_t info;
    agg_shards_info (fx->shards, 0, &info);
    assert_false (info.have);
    assert_false (agg_shards_changed (fx->shards));
}

/*  A worker releases (the generation moves) while its settled point
    (sequence, digest) stays: pages of two generations are never one set.
    A change of released figures alone, by_category included, is a
    change; by_category longer than the election's categories is refused.  */
static void
test_generation_between_pages (void **state)
{
    fx_t *fx = *state;
    t_frame_t f;
    agg_shards_round (fx->shards, 0);
    uint64_t tag = t_ask (fx, 0, 0, 0);
    t_empty_shard1 (fx, 0);
    pingyi_venue_figures_t figs[2] = {t_figures (0, 10, false), t_figures (1, 0, false)};
    figs[0].category_count = 2;
    figs[0].by_category[0] = 10;
    t_counter_t p1[] = {{0, 0, 0, 0, 0, 10}};
    t_counter_t p2[] = {{0, 1, 0, 0, 0, 10}};
    t_page_gen (&f, fx, NULL, tag, 0, 0, 0x00, 7, figs, 2, p1, 1, true, t_key (&p2[0]));
    assert_int_equal (t_feed (fx, &f, 10), AGG_FEED_PAGE);
    tag = t_ask (fx, 0, t_key (&p2[0]), 10);
    t_page_gen (&f, fx, NULL, tag, 0, 0, 0x00, 8, figs, 2, p2, 1, false, 0);
    assert_int_equal (t_feed (fx, &f, 20), AGG_FEED_RESTARTED);
    /* asked again from the start: one generation throughout */
    tag = t_ask (fx, 0, 0, 20);
    t_page_gen (&f, fx, NULL, tag, 0, 0, 0x00, 8, figs, 2, p1, 1, true, t_key (&p2[0]));
    assert_int_equal (t_feed (fx, &f, 30), AGG_FEED_PAGE);
    tag = t_ask (fx, 0, t_key (&p2[0]), 30);
    t_page_gen (&f, fx, NULL, tag, 0, 0, 0x00, 8, figs, 2, p2, 1, false, 0);
    assert_int_equal (t_feed (fx, &f, 40), AGG_FEED_COMPLETE);
    agg_shard_info_t info;
    agg_shards_info (fx->shards, 0, &info);
    assert_int_equal (info.generation, 8);
    assert_int_equal (info.sequence, 0);
    agg_shards_merge (fx->shards, fx->tally);
    assert_int_equal (pingyi_tally_figures (fx->tally, 0)->by_category[0], 10);
    assert_int_equal (pingyi_tally_figures (fx->tally, 0)->category_count, 2);

    /* by_category moves, nothing else: a change */
    agg_shards_round (fx->shards, 1000);
    tag = t_ask (fx, 0, 0, 1000);
    figs[0].by_category[0] = 9;
    figs[0].by_category[1] = 1;
    t_counter_t all[] = {p1[0], p2[0]};
    t_page_gen (&f, fx, NULL, tag, 0, 0, 0x00, 8, figs, 2, all, 2, false, 0);
    assert_int_equal (t_feed (fx, &f, 1010), AGG_FEED_COMPLETE);
    assert_true (agg_shards_changed (fx->shards));
    agg_shards_merge (fx->shards, fx->tally);

    /* more categories than the election has: refused, the snapshot kept */
    agg_shards_round (fx->shards, 2000);
    tag = t_ask (fx, 0, 0, 2000);
    figs[0].category_count = 3;
    t_page_gen (&f, fx, NULL, tag, 0, 0, 0x00, 9, figs, 2, all, 2, false, 0);
    assert_int_equal (t_feed (fx, &f, 2010), AGG_FEED_REFUSED);
    agg_shards_stats_t st;
    agg_shards_stats (fx->shards, &st);
    assert_int_equal (st.refused_venue, 1);
    agg_shards_info (fx->shards, 0, &info);
    assert_int_equal (info.generation, 8);
}

/*  RETRY keeps the snapshot; it turns stale only when older than
    stale_ms; transitions are reported once each way.  */
static void
test_retry_keeps_snapshot_then_stale (void **state)
{
    fx_t *fx = *state;
    t_frame_t f;
    agg_shards_round (fx->shards, 0);
    uint64_t tag = t_ask (fx, 0, 0, 0);
    t_empty_shard1 (fx, 0);
    pingyi_venue_figures_t figs[2] = {t_figures (0, 4, true), t_figures (1, 0, false)};
    t_counter_t c[] = {{1, 2, 1, 1, 3, 4}}; /* v02 s3 duty staff D ×4 */
    t_page (&f, fx, tag, 0, 4, 0x44, figs, 2, c, 1, false, 0);
    assert_int_equal (t_feed (fx, &f, 100), AGG_FEED_COMPLETE);
    agg_shards_merge (fx->shards, fx->tally);
    assert_false (agg_shards_stale (fx->shards, 0, 100));
    assert_int_equal (agg_shards_transition (fx->shards, 0, 100), 0);

    /* the worker died: the broker answers RETRY, round after round */
    for (int64_t t = 1000; t <= 6000; t += 1000) {
        agg_shards_round (fx->shards, t);
        assert_int_equal (t_retry_all (fx, t, 500), 2);
        assert_false (agg_shards_changed (fx->shards));
    }
    /* the snapshot is kept, with its age */
    agg_shard_info_t info;
    agg_shards_info (fx->shards, 0, &info);
    assert_true (info.have);
    assert_int_equal (info.sequence, 4);
    assert_string_equal (info.reason, "no worker owns shard 0 now");
    assert_int_equal (agg_shards_age (fx->shards, 0, 5100), 5000);
    assert_false (agg_shards_stale (fx->shards, 0, 5100)); /* exactly stale_ms: not yet */
    assert_false (agg_shard_stale (&info, 5100, STALE));
    assert_true (agg_shards_stale (fx->shards, 0, 5101));
    assert_true (agg_shard_stale (&info, 5101, STALE));
    assert_int_equal (agg_shards_transition (fx->shards, 0, 5101), 1);
    assert_int_equal (agg_shards_transition (fx->shards, 0, 6000), 0); /* once */
    agg_shards_merge (fx->shards, fx->tally);
    assert_int_equal (pingyi_tally_get (fx->tally, 1, 2, 1, 1, 3), 4); /* old figures still served */
    assert_true (pingyi_tally_figures (fx->tally, 0)->closed);

    /* RETRY asked for more time than the interval: the shards wait */
    agg_shards_round (fx->shards, 7000);
    assert_int_equal (t_retry_all (fx, 7000, 2500), 2);
    agg_shards_round (fx->shards, 8000);
    assert_int_equal (t_retry_all (fx, 8000, 0), 0);
    agg_shards_round (fx->shards, 9500);
    tag = t_ask (fx, 0, 0, 9500);
    /* back: fresh again */
    t_page (&f, fx, tag, 0, 4, 0x44, figs, 2, c, 1, false, 0);
    assert_int_equal (t_feed (fx, &f, 9600), AGG_FEED_COMPLETE);
    assert_false (agg_shards_stale (fx->shards, 0, 9600));
    assert_int_equal (agg_shards_transition (fx->shards, 0, 9600), -1);
    agg_shards_info (fx->shards, 0, &info);
    assert_string_equal (info.reason, "");
}

/*  No answer within the interval: the query is given up and asked again
    under a new tag; the late answer to the old one is ignored.  */
static void
test_timeout_and_late_answer (void **state)
{
    fx_t *fx = *state;
    t_frame_t f;
    agg_shards_round (fx->shards, 0);
    uint64_t old = t_ask (fx, 0, 0, 0);
    agg_shards_round (fx->shards, INTERVAL);
    uint64_t tag = t_ask (fx, 0, 0, INTERVAL);
    assert_int_not_equal (tag, old);
    agg_shards_stats_t st;
    agg_shards_stats (fx->shards, &st);
    assert_int_equal (st.timeouts, 1);
    pingyi_venue_figures_t figs[1] = {t_figures (0, 1, false)};
    t_counter_t c[] = {{0, 0, 0, 0, 0, 1}};
    t_page (&f, fx, old, 0, 1, 1, figs, 1, c, 1, false, 0);
    assert_int_equal (t_feed (fx, &f, INTERVAL + 1), AGG_FEED_LATE);
    /* a tag naming a shard beyond the election is late too, not a crash */
    t_retry (&f, (77u << 8) | 200u, 10, "x");
    assert_int_equal (t_feed (fx, &f, INTERVAL + 1), AGG_FEED_LATE);
    t_page (&f, fx, tag, 0, 1, 1, figs, 1, c, 1, false, 0);
    assert_int_equal (t_feed (fx, &f, INTERVAL + 2), AGG_FEED_COMPLETE);
    agg_shards_stats (fx->shards, &st);
    assert_int_equal (st.late, 2);
    /* an ERROR we cannot place still reaches the operator */
    pingyi_writer_init (&f.w);
    pingyi_msg_error (&f.w, 0, PINGYI_ERROR_FORBIDDEN, "an operator key may not ...");
    t_decode (&f);
    uint32_t s;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (agg_shards_feed (fx->shards, &f.msg, 5, &s, err), AGG_FEED_ERROR);
    assert_int_equal (s, UINT32_MAX);
    assert_non_null (strstr (err, "ERROR 2"));
    t_free (&f);
    /* a message that answers no query is not ours to judge */
    pingyi_writer_init (&f.w);
    pingyi_msg_heartbeat (&f.w);
    t_decode (&f);
    assert_int_equal (agg_shards_feed (fx->shards, &f.msg, 5, &s, err), AGG_FEED_IGNORED);
    t_free (&f);
}

/*  Every bad page is refused with its own counter; the shard keeps what it
    had, and the next round asks again.  */
static void
test_bad_pages_refused (void **state)
{
    fx_t *fx = *state;
    t_frame_t f;
    uint32_t s;
    char err[PINGYI_ERR_MAX];
    /* a good snapshot first */
    agg_shards_round (fx->shards, 0);
    uint64_t tag = t_ask (fx, 0, 0, 0);
    pingyi_venue_figures_t good_figs[2] = {t_figures (0, 2, false), t_figures (1, 0, false)};
    t_counter_t good[] = {{0, 0, 0, 0, 0, 2}};
    t_page (&f, fx, tag, 0, 2, 0x55, good_figs, 2, good, 1, false, 0);
    assert_int_equal (t_feed (fx, &f, 0), AGG_FEED_COMPLETE);

    uint8_t other_fp[32];
    memset (other_fp, 0xab, sizeof other_fp);
    t_counter_t desc[] = {{0, 1, 0, 0, 0, 1}, {0, 0, 0, 0, 0, 1}};
    t_counter_t dup[] = {{0, 0, 0, 0, 0, 1}, {0, 0, 0, 0, 0, 1}};
    t_counter_t foreign[] = {{2, 0, 0, 0, 0, 1}};  /* v03 is on shard 1 */
    t_counter_t off_form[] = {{0, 2, 0, 0, 0, 1}}; /* s3 is not on v01's form */

    pingyi_venue_figures_t foreign_fig[1] = {t_figures (2, 1, false)};
    pingyi_venue_figures_t twice[2] = {t_figures (0, 1, false), t_figures (0, 1, false)};
    pingyi_venue_figures_t unknown[1] = {t_figures (9, 1, false)};
    pingyi_venue_figures_t three[3] = {t_figures (0, 1, false), t_figures (1, 1, false),
                                       t_figures (2, 1, false)};
    enum { ELECTION, SHARD, ORDER, KEY, VENUE };
    struct {
        int kind;
        const char *what;
    } cases[] = {
        {ELECTION, "another fingerprint"},
        {SHARD, "page of shard 1 for shard 0's tag"},
        {ORDER, "descending keys"},
        {ORDER, "a key twice"},
        {ORDER, "a key before from"},
        {ORDER, "more with next not after the last key"},
        {ORDER, "more with no counters"},
        {KEY, "counter of a venue on another shard"},
        {KEY, "subject not on the form"},
        {KEY, "a block one cell short"},
        {KEY, "a block one cell long"},
        {KEY, "a block of one cell"},
        {VENUE, "figures of a foreign venue"},
        {VENUE, "figures of one venue twice"},
        {VENUE, "figures of an unknown venue"},
        {VENUE, "more figures than the shard has venues"},
    };
    size_t n_cases = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n_cases; i++) {
        agg_shards_round (fx->shards, 1000 * (int64_t) (i + 1));
        uint32_t sh;
        uint64_t tg;
        uint8_t from[PINGYI_BLOCK_KEY_BYTES];
        while (agg_shards_want (fx->shards, &sh, &tg, from)) {
            agg_shards_sent (fx->shards, sh, 0);
            if (sh == 0)
                tag = tg;
            else {
                t_retry (&f, tg, 0, "later");
                t_feed (fx, &f, 0);
            }
        }
        /* case 4 ("a key before from") needs a first page asking from a later key */
        if (i == 4) {
            t_counter_t first[] = {{0, 1, 0, 0, 0, 1}};
            t_counter_t second_from = {0, 2, 0, 0, 0, 0}; /* the block after (v01, s2) */
            t_page (&f, fx, tag, 0, 2, 0x55, good_figs, 2, first, 1, true, t_key (&second_from));
            assert_int_equal (t_feed (fx, &f, 0), AGG_FEED_PAGE);
            tag = t_ask (fx, 0, t_key (&second_from), 0);
        }
        switch (i) {
        case 0:
            t_page_fp (&f, fx, other_fp, tag, 0, 2, 0x55, good_figs, 2, good, 1, false, 0);
            break;
        case 1:
            t_page (&f, fx, tag, 1, 2, 0x55, NULL, 0, NULL, 0, false, 0);
            break;
        case 2:
            t_page (&f, fx, tag, 0, 2, 0x55, good_figs, 2, desc, 2, false, 0);
            break;
        case 3:
            t_page (&f, fx, tag, 0, 2, 0x55, good_figs, 2, dup, 2, false, 0);
            break;
        case 4:
            t_page (&f, fx, tag, 0, 2, 0x55, good_figs, 2, good, 1, false, 0); /* key < from */
            break;
        case 5:
            t_page (&f, fx, tag, 0, 2, 0x55, good_figs, 2, good, 1, true, t_key (&good[0]));
            break;
        case 6:
            t_page (&f, fx, tag, 0, 2, 0x55, good_figs, 2, NULL, 0, true, 12345);
            break;
        case 7:
            t_page (&f, fx, tag, 0, 2, 0x55, good_figs, 2, foreign, 1, false, 0);
            break;
        case 8:
            t_page (&f, fx, tag, 0, 2, 0x55, good_figs, 2, off_form, 1, false, 0);
            break;
        case 9:
        case 10:
        case 11: {
            /* a block of (v01, s1) of another width than the election's */
            pingyi_count_shape_t shape;
            pingyi_count_shape (fx->e, &shape);
            size_t ncells = i == 9 ? shape.width - 1 : i == 10 ? shape.width + 1 : 1;
            uint8_t *cells = calloc (ncells, 4), digest[32];
            assert_non_null (cells);
            cells[0] = 2;
            memset (digest, 0x55, sizeof digest);
            pingyi_writer_init (&f.w);
            pingyi_msg_snapshot_begin (&f.w, tag, 0, fx->e->shard_count, fx->e->fingerprint, 2, digest, 2, 2);
            for (size_t k = 0; k < 2; k++)
                pingyi_msg_figures (&f.w, &good_figs[k]);
            pingyi_msg_snapshot_blocks_begin (&f.w, 1);
            pingyi_msg_block (&f.w, 0, 0, cells, ncells * 4);
            pingyi_msg_snapshot_end (&f.w, false, NULL);
            free (cells);
            t_decode (&f);
            break;
        }
        case 12:
            t_page (&f, fx, tag, 0, 2, 0x55, foreign_fig, 1, good, 1, false, 0);
            break;
        case 13:
            t_page (&f, fx, tag, 0, 2, 0x55, twice, 2, good, 1, false, 0);
            break;
        case 14:
            t_page (&f, fx, tag, 0, 2, 0x55, unknown, 1, good, 1, false, 0);
            break;
        case 15:
            t_page (&f, fx, tag, 0, 2, 0x55, three, 3, good, 1, false, 0);
            break;
        }
        agg_shards_stats_t before, after;
        agg_shards_stats (fx->shards, &before);
        agg_feed_t r = agg_shards_feed (fx->shards, &f.msg, 0, &s, err);
        t_free (&f);
        agg_shards_stats (fx->shards, &after);
        if (r != AGG_FEED_REFUSED)
            fail_msg ("case %zu (%s): not refused (%d)", i, cases[i].what, r);
        assert_int_equal (s, 0);
        assert_int_equal (after.refused, before.refused + 1);
        uint64_t d[] = {after.refused_election - before.refused_election,
                        after.refused_shard - before.refused_shard,
                        after.refused_order - before.refused_order, after.refused_key - before.refused_key,
                        after.refused_venue - before.refused_venue};
        for (int k = 0; k < 5; k++)
            if (d[k] != (k == cases[i].kind ? 1u : 0u))
                fail_msg ("case %zu (%s): counted as kind %d", i, cases[i].what, k);
        assert_non_null (strstr (err, "shard 0: page refused: "));
        assert_true (agg_shards_idle (fx->shards));
        /* what the shard had is untouched */
        agg_shard_info_t info;
        agg_shards_info (fx->shards, 0, &info);
        assert_true (info.have);
        assert_int_equal (info.sequence, 2);
        assert_int_equal (info.complete_ms, 0);
        assert_string_not_equal (info.reason, "");
        agg_shards_merge (fx->shards, fx->tally);
        assert_int_equal (pingyi_tally_get (fx->tally, 0, 0, 0, 0, 0), 2);
        assert_int_equal (pingyi_tally_rejected_keys (fx->tally), 0);
    }
}

/*  More counters than the shard's venues could ever hold is refused before
    anything is allocated for them.  */
static void
test_oversized_set_refused (void **state)
{
    fx_t *fx = *state;
    const shard_t *sh = &fx->shards->shards[0];
    /* v01: 2 subjects, v02: 2 subjects: 4 count blocks at most; the same
       counter again and again makes one block each */
    assert_int_equal (sh->capacity, 4);
    size_t n = sh->capacity + 1;
    t_counter_t *cs = calloc (n, sizeof *cs);
    assert_non_null (cs);
    for (size_t i = 0; i < n; i++)
        cs[i] = (t_counter_t){0, 0, 0, 0, 0, 1};
    agg_shards_round (fx->shards, 0);
    uint64_t tag = t_ask (fx, 0, 0, 0);
    t_frame_t f;
    t_page (&f, fx, tag, 0, 1, 1, NULL, 0, cs, n, false, 0);
    assert_int_equal (t_feed (fx, &f, 0), AGG_FEED_REFUSED);
    agg_shards_stats_t st;
    agg_shards_stats (fx->shards, &st);
    assert_int_equal (st.refused_size, 1);
    free (cs);
}

/*  The merge is the sum of the shards' snapshots, each counter and each
    venue's figures exactly; the link being replaced drops outstanding
    queries but keeps the snapshots.  */
static void
test_merge_is_sum_of_shards (void **state)
{
    fx_t *fx = *state;
    t_frame_t f;
    agg_shards_round (fx->shards, 0);
    uint64_t t0 = t_ask (fx, 0, 0, 0), t1 = t_ask (fx, 1, 0, 0);
    pingyi_venue_figures_t f0[2] = {t_figures (0, 30, true), t_figures (1, 12, false)};
    f0[1].rejected = 2;
    f0[1].rejected_by[PINGYI_REJECT_DECRYPT] = 2;
    f0[1].duplicates = 1;
    pingyi_venue_figures_t f1[1] = {t_figures (2, 20, false)};
    t_counter_t c0[] = {{0, 0, 0, 0, 0, 10},
                        {0, 0, 0, 0, 3, 20},
                        {0, 1, 1, 1, PINGYI_MARK_OVER, 30},
                        {1, 1, 0, 1, 2, 12},
                        {1, 2, 1, 0, PINGYI_MARK_BLANK, 12}};
    t_counter_t c1[] = {{2, 0, 0, 0, 0, 11}, {2, 0, 0, 0, 1, 9}, {2, 2, 1, 1, 3, 20}};
    t_page (&f, fx, t1, 1, 20, 0x66, f1, 1, c1, 3, false, 0);
    assert_int_equal (t_feed (fx, &f, 1), AGG_FEED_COMPLETE);
    t_page (&f, fx, t0, 0, 42, 0x77, f0, 2, c0, 5, false, 0);
    assert_int_equal (t_feed (fx, &f, 2), AGG_FEED_COMPLETE);
    assert_true (agg_shards_idle (fx->shards));
    assert_int_equal (agg_shards_merge (fx->shards, fx->tally), 0);

    /* every counter of the tally is one of the pages', with its count */
    uint64_t total = 0, expect = 0;
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal (
            pingyi_tally_get (fx->tally, c0[i].venue, c0[i].subject, c0[i].item, c0[i].category, c0[i].mark),
            c0[i].count);
        expect += c0[i].count;
    }
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal (
            pingyi_tally_get (fx->tally, c1[i].venue, c1[i].subject, c1[i].item, c1[i].category, c1[i].mark),
            c1[i].count);
        expect += c1[i].count;
    }
    for (size_t v = 0; v < fx->e->venue_count; v++)
        for (size_t k = 0; k < fx->e->venues[v].subject_count; k++)
            for (size_t it = 0; it < fx->e->item_count; it++)
                for (size_t c = 0; c < fx->e->category_count; c++) {
                    for (uint8_t m = 0; m < 4; m++)
                        total += pingyi_tally_get (fx->tally, v, fx->e->venues[v].subjects[k], it, c, m);
                    total += pingyi_tally_get (fx->tally, v, fx->e->venues[v].subjects[k], it, c,
                                               PINGYI_MARK_BLANK);
                    total += pingyi_tally_get (fx->tally, v, fx->e->venues[v].subjects[k], it, c,
                                               PINGYI_MARK_OVER);
                }
    assert_int_equal (total, expect);
    const pingyi_venue_figures_t *g = pingyi_tally_figures (fx->tally, 1);
    assert_int_equal (g->accepted, 12);
    assert_int_equal (g->rejected, 2);
    assert_int_equal (g->rejected_by[PINGYI_REJECT_DECRYPT], 2);
    assert_int_equal (g->duplicates, 1);
    assert_int_equal (pingyi_tally_figures (fx->tally, 0)->accepted, 30);
    assert_true (pingyi_tally_figures (fx->tally, 0)->closed);
    assert_int_equal (pingyi_tally_figures (fx->tally, 2)->accepted, 20);

    /* a merge from scratch again gives the same (the tally is reset) */
    agg_shards_merge (fx->shards, fx->tally);
    assert_int_equal (pingyi_tally_get (fx->tally, 0, 0, 0, 0, 0), 10);

    /* the link is replaced mid-set: queries are dropped, snapshots kept */
    agg_shards_round (fx->shards, 1000);
    t0 = t_ask (fx, 0, 0, 1000);
    agg_shards_abandon (fx->shards, "the link to the broker was replaced");
    assert_true (agg_shards_idle (fx->shards));
    t_page (&f, fx, t0, 0, 43, 0x78, f0, 2, c0, 5, false, 0);
    assert_int_equal (t_feed (fx, &f, 1001), AGG_FEED_LATE);
    agg_shard_info_t info;
    agg_shards_info (fx->shards, 0, &info);
    assert_int_equal (info.sequence, 42);
    assert_string_equal (info.reason, "the link to the broker was replaced");
}

/*  A shard never heard from is stale at once in the view, but reported
    (logged) only after stale_ms from the start.  */
static void
test_startup_grace (void **state)
{
    fx_t *fx = *state;
    agg_shards_round (fx->shards, 100);
    assert_true (agg_shards_stale (fx->shards, 0, 100));
    assert_int_equal (agg_shards_age (fx->shards, 0, 100), -1);
    agg_shard_info_t info;
    agg_shards_info (fx->shards, 0, &info);
    assert_false (info.have);
    assert_int_equal (agg_shard_age (&info, 100), -1);
    assert_true (agg_shard_stale (&info, 100, STALE));
    assert_string_equal (info.reason, "no snapshot yet");
    assert_int_equal (agg_shards_transition (fx->shards, 0, 100 + STALE), 0);
    assert_int_equal (agg_shards_transition (fx->shards, 0, 101 + STALE), 1);
    assert_int_equal (agg_shards_count (fx->shards), 2);
}

/*  Random byte flips of good pages: whatever decodes is fed, and whatever
    is adopted still merges with no key refused (every key was checked on
    arrival); nothing crashes.  Deterministic (xorshift).  */
static void
test_mutated_pages_never_hurt (void **state)
{
    fx_t *fx = *state;
    uint64_t x = 0x9e3779b97f4a7c15u;
    pingyi_venue_figures_t figs[2] = {t_figures (0, 12, true), t_figures (1, 3, false)};
    t_counter_t c[] = {{0, 0, 0, 0, 0, 5},
                       {0, 0, 1, 1, 3, 7},
                       {0, 1, 0, 0, PINGYI_MARK_BLANK, 2},
                       {1, 1, 1, 1, PINGYI_MARK_OVER, 3},
                       {1, 2, 0, 1, 1, 3}};
    size_t adopted = 0, decoded = 0;
    for (int round = 0; round < 3000; round++) {
        agg_shards_round (fx->shards, round * 1000);
        uint32_t shard;
        uint64_t tag;
        uint8_t from[PINGYI_BLOCK_KEY_BYTES];
        uint64_t tag0 = 0;
        while (agg_shards_want (fx->shards, &shard, &tag, from)) {
            agg_shards_sent (fx->shards, shard, round * 1000);
            if (shard == 0)
                tag0 = tag;
        }
        t_frame_t f;
        bool two = round % 2;
        t_page (&f, fx, tag0, 0, 20, 0x5a, figs, 2, c, two ? 3 : 5, two, two ? t_key (&c[3]) : 0);
        size_t len = f.w.sbuf.size;
        uint8_t *bytes = malloc (len);
        assert_non_null (bytes);
        memcpy (bytes, f.w.sbuf.data, len);
        t_free (&f);
        int flips = 1 + (int) (x % 4);
        for (int k = 0; k < flips; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes[x % len] ^= (uint8_t) (1u << ((x >> 32) % 8));
        }
        pingyi_msg_t msg;
        char err[PINGYI_ERR_MAX];
        if (pingyi_msg_decode (bytes, len, &msg, err) == 0) {
            decoded++;
            if (agg_shards_feed (fx->shards, &msg, round * 1000 + 1, &shard, err) == AGG_FEED_COMPLETE)
                adopted++;
        }
        free (bytes);
        assert_int_equal (agg_shards_merge (fx->shards, fx->tally), 0);
        assert_int_equal (pingyi_tally_rejected_keys (fx->tally), 0);
    }
    /* the flips hit counts and figures too, so some sets do get adopted */
    assert_true (decoded > 0);
    assert_true (adopted > 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_round_asks_every_shard, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_pages_adopted_only_when_complete, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_moving_shard_restarts, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_generation_between_pages, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_retry_keeps_snapshot_then_stale, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_timeout_and_late_answer, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_bad_pages_refused, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_oversized_set_refused, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_merge_is_sum_of_shards, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_startup_grace, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_mutated_pages_never_hurt, t_setup, t_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
