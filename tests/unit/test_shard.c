/*  test_shard.c — the shard applies ballots exactly once, counts them
    exactly, refuses each kind of bad envelope with its code, survives a full
    map, persists across reopen, keeps no order of voting, releases figures
    only in steps of k ballots or at a venue's close, and its log recounts
    and re-digests to what it stored.

    Expectations are computed here by the test's own loop over the ticks it
    chose (not by pingyi_ballot_count), and the digest by the test's own
    LtHash16 loop (and against vectors from an independent Python
    implementation, docs/worker.md).  The election is a tiny definition
    written below: 2 shards, venues v01 and v02 on shard 0, v03 on shard 1;
    k_anonymity as the test asks (the default 10 unless given).  */
#define _GNU_SOURCE
#include "shard_impl.h" /* white box: the shard's insides (store/) */

#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ftw.h>
#include <unistd.h>

static const char *DEFINITION_FMT =
    "{\n"
    "  \"version\": 1, \"id\": \"%s\", \"title\": \"shard test\", \"shards\": 2,%s\n"
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

#define VENUES 3
#define MAX_ENV 512

typedef struct {
    char dir[128];
    char data[160];
    pingyi_election_t *election;
    pingyi_keyring_t *keyring;
    uint8_t shard_pk[32], shard_sk[32]; /* shard 0's box key pair */
    uint8_t venue_pk[VENUES][32], venue_sk[VENUES][32];
    uint8_t seal_key[VENUES][32]; /* what the venue's client seals with */
    pingyi_shard_t *shard;        /* shard 0, writable */
} fx_t;

/*  A test's own counter expectations: (8-byte key, count).  */
typedef struct {
    uint8_t key[8];
    uint64_t count;
} t_counter_t;

typedef struct {
    t_counter_t *rows;
    size_t count, cap;
} t_counts_t;

/*  Envelopes made by the test.  */
typedef struct {
    uint8_t bytes[MAX_ENV];
    size_t len;
} t_env_t;

/*  The test definition with this id; k 0: no "k_anonymity" (the default).  */
static pingyi_election_t *
t_parse_k (const char *id, unsigned k)
{
    char text[4096], kfield[64] = "";
    if (k)
        snprintf (kfield, sizeof kfield, " \"k_anonymity\": %u,", k);
    int n = snprintf (text, sizeof text, DEFINITION_FMT, id, kfield);
    assert_true (n > 0 && (size_t) n < sizeof text);
    pingyi_errlist_t errs = {0};
    pingyi_election_t *e = pingyi_election_parse ((const uint8_t *) text, (size_t) n, &errs);
    for (size_t i = 0; i < errs.count; i++)
        fprintf (stderr, "definition: %s\n", errs.lines[i]);
    pingyi_errlist_clear (&errs);
    assert_non_null (e);
    return e;
}

static pingyi_election_t *
t_parse (const char *id)
{
    return t_parse_k (id, 0);
}

static int
t_setup_k (void **state, unsigned k)
{
    assert_true (sodium_init () >= 0);
    fx_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    snprintf (fx->dir, sizeof fx->dir, "/tmp/pingyi-test-shard.XXXXXX");
    assert_non_null (mkdtemp (fx->dir));
    snprintf (fx->data, sizeof fx->data, "%s/data", fx->dir);
    fx->election = t_parse_k ("shard-test", k);
    assert_int_equal (fx->election->k_anonymity, k ? k : 10);
    assert_int_equal (fx->election->venue_count, VENUES);
    assert_int_equal (fx->election->venues[0].shard, 0);
    assert_int_equal (fx->election->venues[1].shard, 0);
    assert_int_equal (fx->election->venues[2].shard, 1);

    crypto_box_keypair (fx->shard_pk, fx->shard_sk);
    char path[256];
    snprintf (path, sizeof path, "%s/keyring.tsv", fx->dir);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fprintf (f, "# test keyring\n");
    for (int v = 0; v < VENUES; v++) {
        uint8_t curve_pk[32], curve_sk[32];
        crypto_box_keypair (curve_pk, curve_sk);
        crypto_box_keypair (fx->venue_pk[v], fx->venue_sk[v]);
        assert_int_equal (pingyi_envelope_key (fx->seal_key[v], fx->shard_pk, fx->venue_sk[v]), 0);
        char c[65], b[65];
        pingyi_hex (c, curve_pk, 32);
        pingyi_hex (b, fx->venue_pk[v], 32);
        fprintf (f, "venue\t%s\t%s\t%s\n", fx->election->venues[v].id, c, b);
    }
    fclose (f);
    char err[PINGYI_ERR_MAX];
    fx->keyring = pingyi_keyring_load (path, err);
    if (!fx->keyring)
        fprintf (stderr, "%s\n", err);
    assert_non_null (fx->keyring);
    fx->shard = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    if (!fx->shard)
        fprintf (stderr, "%s\n", err);
    assert_non_null (fx->shard);
    *state = fx;
    return 0;
}

static int
t_setup (void **state)
{
    return t_setup_k (state, 0);
}

static int
t_setup_k3 (void **state)
{
    return t_setup_k (state, 3);
}

static int
t_rm (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove (path);
}

static int
t_teardown (void **state)
{
    fx_t *fx = *state;
    pingyi_shard_close (&fx->shard);
    pingyi_shard_close (&fx->shard); /* safe twice */
    pingyi_keyring_destroy (&fx->keyring);
    pingyi_election_destroy (&fx->election);
    nftw (fx->dir, t_rm, 16, FTW_DEPTH | FTW_PHYS);
    free (fx);
    return 0;
}

/*  --------------------------------------------------------------------------
    Making ballots and envelopes.  */

/*  A random ballot for venue v: each cell blank, one tick, or two ticks
    (OVER), category random.  */
static void
t_random_ballot (fx_t *fx, int v, pingyi_ballot_t *b)
{
    pingyi_ballot_init (b, fx->election, (size_t) v);
    b->category = randombytes_uniform ((uint32_t) fx->election->category_count);
    for (uint32_t i = 0; i < b->subject_count; i++)
        for (size_t j = 0; j < fx->election->item_count; j++) {
            uint32_t r = randombytes_uniform (10);
            if (r == 0)
                b->ticks[i][j] = 0;
            else if (r == 1)
                b->ticks[i][j] = 0x3 << randombytes_uniform (3);
            else
                b->ticks[i][j] = 1u << randombytes_uniform (4);
        }
}

/*  Seal with ballot id `want` (NULL: a random one, as a client does).  */
static size_t
t_seal_body_id (fx_t *fx, t_env_t *out, const uint8_t *fp, const char *venue_id, int key_of,
                const uint8_t *want, const uint8_t *body, size_t body_len)
{
    uint8_t id[PINGYI_BALLOT_ID_LEN];
    if (want)
        memcpy (id, want, sizeof id);
    else
        randombytes_buf (id, sizeof id);
    out->len = pingyi_envelope_seal (out->bytes, sizeof out->bytes, fp, venue_id, strlen (venue_id), id, body,
                                     body_len, fx->seal_key[key_of]);
    assert_true (out->len > 0);
    return out->len;
}

static size_t
t_seal_body (fx_t *fx, t_env_t *out, const uint8_t *fp, const char *venue_id, int key_of, const uint8_t *body,
             size_t body_len)
{
    return t_seal_body_id (fx, out, fp, venue_id, key_of, NULL, body, body_len);
}

static void
t_seal_id (fx_t *fx, t_env_t *out, int v, const pingyi_ballot_t *b, const uint8_t *id)
{
    uint8_t body[PINGYI_BODY_MAX];
    size_t n = pingyi_ballot_encode (b, fx->election, body, sizeof body);
    assert_true (n > 0);
    t_seal_body_id (fx, out, fx->election->fingerprint, fx->election->venues[v].id, v, id, body, n);
}

static void
t_seal (fx_t *fx, t_env_t *out, int v, const pingyi_ballot_t *b)
{
    t_seal_id (fx, out, v, b, NULL);
}

static void
t_items (pingyi_shard_item_t *items, const t_env_t *envs, size_t n, const char *sender)
{
    for (size_t i = 0; i < n; i++) {
        memset (&items[i], 0xAB, sizeof items[i]); /* results must all be written */
        items[i].envelope = envs[i].bytes;
        items[i].len = envs[i].len;
        items[i].sender = sender;
        items[i].sender_len = strlen (sender);
    }
}

static void
t_apply (fx_t *fx, pingyi_shard_item_t *items, size_t n)
{
    char err[PINGYI_ERR_MAX];
    int rc = pingyi_shard_apply (fx->shard, items, n, err);
    if (rc)
        fprintf (stderr, "apply: %s\n", err);
    assert_int_equal (rc, 0);
}

/*  --------------------------------------------------------------------------
    Independent expectations.  */

/*  LtHash16 written out again (docs/worker.md, "The log digest"): 1024 u16
    LE lanes; each envelope adds the ChaCha20-IETF keystream (zero nonce,
    block counter 0) under its BLAKE2b-256, lane by lane mod 2^16; the
    digest is BLAKE2b-256 of the lanes as bytes.  */
static void
t_lthash_add (uint16_t lanes[1024], const uint8_t *env, size_t len)
{
    uint8_t h[32], ks[2048] = {0};
    const uint8_t nonce[12] = {0};
    crypto_generichash (h, sizeof h, env, len, NULL, 0);
    crypto_stream_chacha20_ietf_xor (ks, ks, sizeof ks, nonce, h);
    for (int i = 0; i < 1024; i++)
        lanes[i] = (uint16_t) (lanes[i] + (ks[2 * i] | ks[2 * i + 1] << 8));
}

static void
t_lthash_digest (uint8_t out[32], const uint16_t lanes[1024])
{
    uint8_t bytes[2048];
    for (int i = 0; i < 1024; i++) {
        bytes[2 * i] = (uint8_t) lanes[i];
        bytes[2 * i + 1] = (uint8_t) (lanes[i] >> 8);
    }
    crypto_generichash (out, 32, bytes, sizeof bytes, NULL, 0);
}

/*  The digest of envs[0..n) added in a random order.  */
static void
t_digest_of (uint8_t out[32], const t_env_t *envs, size_t n)
{
    uint16_t lanes[1024] = {0};
    size_t *order = malloc ((n + 1) * sizeof *order);
    assert_non_null (order);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = randombytes_uniform ((uint32_t) i);
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        t_lthash_add (lanes, envs[order[i]].bytes, envs[order[i]].len);
    t_lthash_digest (out, lanes);
    free (order);
}

static void
t_counts_add (t_counts_t *c, const uint8_t key[8], uint64_t n)
{
    for (size_t i = 0; i < c->count; i++)
        if (memcmp (c->rows[i].key, key, 8) == 0) {
            c->rows[i].count += n;
            return;
        }
    if (c->count == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->rows = realloc (c->rows, c->cap * sizeof *c->rows);
        assert_non_null (c->rows);
    }
    memcpy (c->rows[c->count].key, key, 8);
    c->rows[c->count++].count = n;
}

/*  What one ballot adds, by the rules of the form: no tick = BLANK (254),
    two or more = OVER (255, max_choices is 1), else the ticked choice; the
    key is venue u16 BE, subject u16 BE, item, category, mark, 0.  */
static void
t_expect_ballot (fx_t *fx, t_counts_t *c, int v, const pingyi_ballot_t *b)
{
    const pingyi_venue_t *venue = &fx->election->venues[v];
    for (size_t f = 0; f < venue->subject_count; f++)
        for (size_t j = 0; j < fx->election->item_count; j++) {
            uint32_t mask = b->ticks[f][j];
            int bits = 0, first = -1;
            for (int k = 0; k < 32; k++)
                if (mask & (1u << k)) {
                    bits++;
                    if (first < 0)
                        first = k;
                }
            uint8_t mark = bits == 0 ? 254 : bits > 1 ? 255 : (uint8_t) first;
            size_t s = venue->subjects[f];
            uint8_t key[8] = {(uint8_t) (v >> 8),
                              (uint8_t) v,
                              (uint8_t) (s >> 8),
                              (uint8_t) s,
                              (uint8_t) j,
                              (uint8_t) b->category,
                              mark,
                              0};
            t_counts_add (c, key, 1);
        }
}

/*  The counters of one count block as the 8-byte keys the expectations
    use (venue, subject, item, category, mark), in block order, which is
    ascending key order.  Written here from the layout of election/count.h,
    independently of the code under test.  */
static void
t_block_counters (const pingyi_election_t *e, uint32_t venue, uint32_t subject, const uint8_t *cells,
                  t_counts_t *out)
{
    size_t marks = 0;
    for (size_t i = 0; i < e->item_count; i++)
        if (e->choice_sets[e->items[i].choice_set].choice_count > marks)
            marks = e->choice_sets[e->items[i].choice_set].choice_count;
    marks += 2;
    size_t width = e->item_count * e->category_count * marks;
    for (size_t i = 0; i < width; i++) {
        const uint8_t *p = cells + 4 * i;
        uint32_t n = (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
        if (!n)
            continue;
        size_t m = i % marks, rest = i / marks;
        uint8_t mark = m == marks - 2 ? 254 : m == marks - 1 ? 255 : (uint8_t) m;
        uint8_t key[8] = {(uint8_t) (venue >> 8),
                          (uint8_t) venue,
                          (uint8_t) (subject >> 8),
                          (uint8_t) subject,
                          (uint8_t) (rest / e->category_count),
                          (uint8_t) (rest % e->category_count),
                          mark,
                          0};
        t_counts_add (out, key, n);
    }
}

typedef struct {
    const pingyi_election_t *e;
    t_counts_t *have;
} t_collect_t;

static int
t_collect_row (uint32_t venue, uint32_t subject, const uint8_t *cells, void *arg)
{
    t_collect_t *c = arg;
    t_block_counters (c->e, venue, subject, cells, c->have);
    return 0;
}

/*  Every counter the shard's walk gives (released + pending).  */
static int
t_walk_counters (pingyi_shard_t *shard, t_counts_t *have, char *err)
{
    t_collect_t c = {shard->election, have};
    return pingyi_shard_foreach_row (shard, t_collect_row, &c, err);
}

/*  The counters of a snapshot's blocks, each block checked for its width.  */
static void
t_snapshot_counters (const pingyi_election_t *e, const pingyi_shard_snapshot_t *snap, t_counts_t *out)
{
    pingyi_count_shape_t shape;
    pingyi_count_shape (e, &shape);
    for (size_t b = 0; b < snap->block_count; b++) {
        assert_int_equal (snap->blocks[b].len, shape.width * 4);
        if (b)
            assert_true ((snap->blocks[b - 1].venue << 16 | snap->blocks[b - 1].subject) <
                         (snap->blocks[b].venue << 16 | snap->blocks[b].subject));
        t_block_counters (e, snap->blocks[b].venue, snap->blocks[b].subject, snap->blocks[b].cells, out);
    }
}

static int
t_cmp_counter (const void *a, const void *b)
{
    return memcmp (((const t_counter_t *) a)->key, ((const t_counter_t *) b)->key, 8);
}

/*  The shard's counters equal want exactly: same keys, same counts.  */
static void
t_assert_counts (pingyi_shard_t *shard, t_counts_t *want)
{
    t_counts_t have = {0};
    char err[PINGYI_ERR_MAX];
    assert_int_equal (t_walk_counters (shard, &have, err), 0);
    /* the walk is in ascending key order */
    for (size_t i = 1; i < have.count; i++)
        assert_true (memcmp (have.rows[i - 1].key, have.rows[i].key, 8) < 0);
    if (want->count > 1)
        qsort (want->rows, want->count, sizeof *want->rows, t_cmp_counter);
    assert_int_equal (have.count, want->count);
    for (size_t i = 0; i < have.count; i++) {
        assert_memory_equal (have.rows[i].key, want->rows[i].key, 8);
        assert_int_equal (have.rows[i].count, want->rows[i].count);
    }
    free (have.rows);
}

static void
t_figures (fx_t *fx, int v, pingyi_venue_figures_t *f)
{
    assert_int_equal (pingyi_shard_venue_figures (fx->shard, (uint32_t) v, f), 0);
    assert_int_equal (f->venue, (uint32_t) v);
}

/*  N random ballots of venues v01/v02 (shard 0), sealed, with their
    expectations.  sender per item comes from the envelope's venue.  */
typedef struct {
    t_env_t *envs;
    int *venue;
    pingyi_ballot_t *ballots;
    size_t n;
} t_batch_t;

static void
t_make_batch (fx_t *fx, t_batch_t *b, size_t n, t_counts_t *want)
{
    b->n = n;
    b->envs = calloc (n, sizeof *b->envs);
    b->venue = calloc (n, sizeof *b->venue);
    b->ballots = calloc (n, sizeof *b->ballots);
    assert_true (b->envs && b->venue && b->ballots);
    for (size_t i = 0; i < n; i++) {
        b->venue[i] = (int) (i % 2);
        t_random_ballot (fx, b->venue[i], &b->ballots[i]);
        t_seal (fx, &b->envs[i], b->venue[i], &b->ballots[i]);
        if (want)
            t_expect_ballot (fx, want, b->venue[i], &b->ballots[i]);
    }
}

static void
t_batch_items (fx_t *fx, const t_batch_t *b, size_t from, size_t n, pingyi_shard_item_t *items)
{
    for (size_t i = 0; i < n; i++)
        t_items (&items[i], &b->envs[from + i], 1, fx->election->venues[b->venue[from + i]].id);
}

static void
t_batch_free (t_batch_t *b)
{
    free (b->envs);
    free (b->venue);
    free (b->ballots);
}

/*  --------------------------------------------------------------------------
    Tests.  */

static void
test_batch_counts_exactly_and_resend_is_duplicate (void **state)
{
    fx_t *fx = *state;
    enum { N = 300 };
    t_counts_t want = {0};
    t_batch_t b;
    t_make_batch (fx, &b, N, &want);
    pingyi_shard_item_t *items = calloc (N, sizeof *items);
    t_batch_items (fx, &b, 0, N, items);
    t_apply (fx, items, N);
    char receipts[N][PINGYI_RECEIPT_LEN + 1];
    for (size_t i = 0; i < N; i++) {
        assert_int_equal (items[i].status, PINGYI_ACK_ACCEPTED);
        assert_int_equal (items[i].reason, 0);
        assert_string_equal (items[i].text, "");
        char r[PINGYI_RECEIPT_LEN + 1];
        pingyi_envelope_receipt (r, b.envs[i].bytes, b.envs[i].len);
        assert_string_equal (items[i].receipt, r);
        assert_memory_equal (items[i].ballot_id, b.envs[i].bytes + 34 + 3, PINGYI_BALLOT_ID_LEN);
        memcpy (receipts[i], r, sizeof r);
    }
    t_assert_counts (fx->shard, &want);
    pingyi_venue_figures_t f0, f1;
    t_figures (fx, 0, &f0);
    t_figures (fx, 1, &f1);
    assert_int_equal (f0.accepted + f1.accepted, N);
    assert_int_equal (f0.duplicates + f1.duplicates + f0.rejected + f1.rejected, 0);
    assert_int_equal (f0.issued, -1);
    assert_false (f0.closed);
    pingyi_shard_info_t info;
    assert_int_equal (pingyi_shard_info (fx->shard, &info, NULL), 0);
    assert_int_equal (info.current_sequence, N);
    /* both venues got >= k (10) ballots: all released, the shard settled */
    assert_int_equal (info.pending, 0);
    assert_int_equal (info.sequence, N);
    assert_memory_equal (info.digest, info.current_digest, 32);
    assert_int_equal (info.generation, 1);

    /* the same batch again: every one a duplicate with its receipt,
       nothing counted twice */
    t_batch_items (fx, &b, 0, N, items);
    t_apply (fx, items, N);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal (items[i].status, PINGYI_ACK_DUPLICATE);
        assert_string_equal (items[i].receipt, receipts[i]);
    }
    t_assert_counts (fx->shard, &want);
    t_figures (fx, 0, &f0);
    t_figures (fx, 1, &f1);
    assert_int_equal (f0.accepted + f1.accepted, N);
    assert_int_equal (f0.duplicates + f1.duplicates, N);
    assert_int_equal (pingyi_shard_info (fx->shard, &info, NULL), 0);
    assert_int_equal (info.current_sequence, N);
    assert_int_equal (info.sequence, N);
    pingyi_shard_stats_t st;
    pingyi_shard_stats (fx->shard, &st);
    assert_int_equal (st.accepted, N);
    assert_int_equal (st.duplicates, N);
    assert_int_equal (st.batches, 2);
    free (items);
    free (want.rows);
    t_batch_free (&b);
}

static void
test_same_id_twice_in_one_batch_is_one_ballot (void **state)
{
    fx_t *fx = *state;
    t_counts_t want = {0};
    t_env_t envs[3];
    pingyi_ballot_t a, c;
    t_random_ballot (fx, 0, &a);
    t_random_ballot (fx, 0, &c);
    t_seal (fx, &envs[0], 0, &a);
    t_seal (fx, &envs[1], 0, &c);
    envs[2] = envs[0];
    t_expect_ballot (fx, &want, 0, &a);
    t_expect_ballot (fx, &want, 0, &c);
    pingyi_shard_item_t items[3];
    t_items (items, envs, 3, "v01");
    t_apply (fx, items, 3);
    assert_int_equal (items[1].status, PINGYI_ACK_ACCEPTED);
    /* the first copy is accepted, the second is its duplicate; both carry
       the same receipt */
    assert_int_equal (items[0].status, PINGYI_ACK_ACCEPTED);
    assert_int_equal (items[2].status, PINGYI_ACK_DUPLICATE);
    assert_string_equal (items[0].receipt, items[2].receipt);
    t_assert_counts (fx->shard, &want);
    pingyi_venue_figures_t f;
    t_figures (fx, 0, &f);
    assert_int_equal (f.accepted, 2);
    assert_int_equal (f.duplicates, 1);
    free (want.rows);
}

/*  One envelope through the shard, with its sender.  */
static pingyi_shard_item_t
t_one (fx_t *fx, const t_env_t *env, const char *sender)
{
    pingyi_shard_item_t item;
    t_items (&item, env, 1, sender);
    t_apply (fx, &item, 1);
    assert_int_not_equal (item.reason, 0xAB);
    return item;
}

static void
t_expect_reject (fx_t *fx, const t_env_t *env, const char *sender, pingyi_reject_t code)
{
    pingyi_shard_item_t it = t_one (fx, env, sender);
    if (it.status != PINGYI_ACK_REJECTED || it.reason != code)
        fprintf (stderr, "expected %s, got status %u reason %s: %s\n", pingyi_reject_name (code), it.status,
                 pingyi_reject_name ((pingyi_reject_t) it.reason), it.text);
    assert_int_equal (it.status, PINGYI_ACK_REJECTED);
    assert_int_equal (it.reason, code);
    assert_true (strlen (it.text) > 0); /* every rejection says why */
    assert_string_equal (it.receipt, "");
}

static void
test_every_reject_code_has_its_path (void **state)
{
    fx_t *fx = *state;
    const pingyi_election_t *e = fx->election;
    pingyi_ballot_t b;
    uint8_t body[PINGYI_BODY_MAX];
    t_env_t env;

    /* BAD_ENVELOPE: truncated, and a wrong version byte */
    t_random_ballot (fx, 0, &b);
    t_seal (fx, &env, 0, &b);
    t_env_t cut = env;
    cut.len = 20;
    t_expect_reject (fx, &cut, "v01", PINGYI_REJECT_BAD_ENVELOPE);
    t_env_t ver = env;
    ver.bytes[0] = 2;
    t_expect_reject (fx, &ver, "v01", PINGYI_REJECT_BAD_ENVELOPE);

    /* WRONG_ELECTION */
    uint8_t other_fp[PINGYI_FP_LEN];
    memcpy (other_fp, e->fingerprint, sizeof other_fp);
    other_fp[0] ^= 1;
    size_t n = pingyi_ballot_encode (&b, e, body, sizeof body);
    t_seal_body (fx, &env, other_fp, "v01", 0, body, n);
    t_expect_reject (fx, &env, "v01", PINGYI_REJECT_WRONG_ELECTION);

    /* UNKNOWN_VENUE, charged to the sender; and from an unknown sender,
       to the shard-level counters */
    t_seal_body (fx, &env, e->fingerprint, "v99", 0, body, n);
    t_expect_reject (fx, &env, "v01", PINGYI_REJECT_UNKNOWN_VENUE);
    t_expect_reject (fx, &env, "v99", PINGYI_REJECT_UNKNOWN_VENUE);

    /* VENUE_MISMATCH: header v02, sent by v01 */
    t_random_ballot (fx, 1, &b);
    t_seal (fx, &env, 1, &b);
    t_expect_reject (fx, &env, "v01", PINGYI_REJECT_VENUE_MISMATCH);

    /* WRONG_SHARD: v03 lives on shard 1 */
    t_random_ballot (fx, 2, &b);
    t_seal (fx, &env, 2, &b);
    t_expect_reject (fx, &env, "v03", PINGYI_REJECT_WRONG_SHARD);

    /* DECRYPT: one flipped ciphertext byte; and v01's header sealed with
       v02's key */
    t_random_ballot (fx, 0, &b);
    t_seal (fx, &env, 0, &b);
    t_env_t flipped = env;
    flipped.bytes[flipped.len - 20] ^= 0x40;
    t_expect_reject (fx, &flipped, "v01", PINGYI_REJECT_DECRYPT);
    n = pingyi_ballot_encode (&b, e, body, sizeof body);
    t_seal_body (fx, &env, e->fingerprint, "v01", 1, body, n);
    t_expect_reject (fx, &env, "v01", PINGYI_REJECT_DECRYPT);

    /* MALFORMED: a body that is not a ballot */
    const uint8_t junk[] = {0x93, 0x01, 0x00};
    t_seal_body (fx, &env, e->fingerprint, "v01", 0, junk, sizeof junk);
    t_expect_reject (fx, &env, "v01", PINGYI_REJECT_MALFORMED);

    /* BAD_CATEGORY */
    pingyi_ballot_init (&b, e, 0);
    b.category = 7;
    t_seal (fx, &env, 0, &b);
    t_expect_reject (fx, &env, "v01", PINGYI_REJECT_BAD_CATEGORY);

    /* BAD_MARK: choice 5 of a 4-choice item */
    pingyi_ballot_init (&b, e, 0);
    b.ticks[0][0] = 1u << 5;
    t_seal (fx, &env, 0, &b);
    t_expect_reject (fx, &env, "v01", PINGYI_REJECT_BAD_MARK);

    /* NOT_ON_FORM: s3 is not on v01's form.  Resending it gets the same
       answer and is counted rejected once. */
    pingyi_ballot_init (&b, e, 0);
    b.subjects[1] = 2;
    t_seal (fx, &env, 0, &b);
    t_expect_reject (fx, &env, "v01", PINGYI_REJECT_NOT_ON_FORM);
    pingyi_venue_figures_t before;
    t_figures (fx, 0, &before);
    t_expect_reject (fx, &env, "v01", PINGYI_REJECT_NOT_ON_FORM);
    pingyi_venue_figures_t f;
    t_figures (fx, 0, &f);
    assert_int_equal (f.rejected_by[PINGYI_REJECT_NOT_ON_FORM], 1);
    assert_int_equal (f.rejected, before.rejected);
    assert_int_equal (f.duplicates, before.duplicates + 1);

    /* figures of v01: each code once, except what was charged elsewhere */
    assert_int_equal (f.rejected_by[PINGYI_REJECT_BAD_ENVELOPE], 2);
    assert_int_equal (f.rejected_by[PINGYI_REJECT_WRONG_ELECTION], 1);
    assert_int_equal (f.rejected_by[PINGYI_REJECT_UNKNOWN_VENUE], 1);
    assert_int_equal (f.rejected_by[PINGYI_REJECT_VENUE_MISMATCH], 1);
    assert_int_equal (f.rejected_by[PINGYI_REJECT_WRONG_SHARD], 0);
    assert_int_equal (f.rejected_by[PINGYI_REJECT_DECRYPT], 2);
    assert_int_equal (f.rejected_by[PINGYI_REJECT_MALFORMED], 1);
    assert_int_equal (f.rejected_by[PINGYI_REJECT_BAD_CATEGORY], 1);
    assert_int_equal (f.rejected_by[PINGYI_REJECT_BAD_MARK], 1);
    assert_int_equal (f.rejected, 11);
    assert_int_equal (f.accepted, 0);
    pingyi_shard_info_t info;
    assert_int_equal (pingyi_shard_info (fx->shard, &info, NULL), 0);
    assert_int_equal (info.orphan_rejected, 2);
    assert_int_equal (info.orphan_rejected_by[PINGYI_REJECT_UNKNOWN_VENUE], 1);
    assert_int_equal (info.orphan_rejected_by[PINGYI_REJECT_WRONG_SHARD], 1);
    assert_int_equal (info.current_sequence, 0);
    assert_int_equal (info.sequence, 0);
    pingyi_shard_stats_t st;
    pingyi_shard_stats (fx->shard, &st);
    assert_int_equal (st.rejected, 13); /* 11 charged to v01, 2 to the shard */
    assert_int_equal (st.duplicates, 1);

    /* nothing rejected reached the counters */
    t_counts_t none = {0};
    t_assert_counts (fx->shard, &none);
}

static void
test_blank_ballot_and_over_cell (void **state)
{
    fx_t *fx = *state;
    t_counts_t want = {0};
    pingyi_ballot_t blank, over;
    pingyi_ballot_init (&blank, fx->election, 1);
    blank.category = 1;
    pingyi_ballot_init (&over, fx->election, 1);
    over.ticks[0][0] = 0x5; /* two ticks: OVER for this cell only */
    over.ticks[0][1] = 0x2;
    over.ticks[1][0] = 0x8;
    t_expect_ballot (fx, &want, 1, &blank);
    t_expect_ballot (fx, &want, 1, &over);
    t_env_t envs[2];
    t_seal (fx, &envs[0], 1, &blank);
    t_seal (fx, &envs[1], 1, &over);
    pingyi_shard_item_t items[2];
    t_items (items, envs, 2, "v02");
    t_apply (fx, items, 2);
    assert_int_equal (items[0].status, PINGYI_ACK_ACCEPTED);
    assert_int_equal (items[1].status, PINGYI_ACK_ACCEPTED);
    t_assert_counts (fx->shard, &want);
    pingyi_venue_figures_t f;
    t_figures (fx, 1, &f);
    assert_int_equal (f.accepted, 2);
    assert_int_equal (f.blank, 1);

    /* spelled out: v02 = venue 1, form (s2, s3) = subjects 1, 2 */
    t_counts_t have = {0};
    assert_int_equal (t_walk_counters (fx->shard, &have, NULL), 0);
    const uint8_t over_cell[8] = {0, 1, 0, 1, 0, 0, 255, 0};
    const uint8_t b_cell[8] = {0, 1, 0, 1, 1, 0, 1, 0};
    const uint8_t d_cell[8] = {0, 1, 0, 2, 0, 0, 3, 0};
    const uint8_t blank_cell[8] = {0, 1, 0, 2, 1, 1, 254, 0};
    const uint8_t *expect[] = {over_cell, b_cell, d_cell, blank_cell};
    for (int k = 0; k < 4; k++) {
        bool found = false;
        for (size_t i = 0; i < have.count; i++)
            if (memcmp (have.rows[i].key, expect[k], 8) == 0) {
                assert_int_equal (have.rows[i].count, 1);
                found = true;
            }
        assert_true (found);
    }
    free (have.rows);
    free (want.rows);
}

static int
t_reason (uint32_t n, const char *reason, size_t len, void *arg)
{
    char *out = arg;
    size_t at = strlen (out);
    snprintf (out + at, 256 - at, "%u:%.*s;", (unsigned) n, (int) len, reason);
    return 0;
}

/*  An operator's reopen: the venue open again (declared counts unknown),
    reopens counted, the reason stored, the figures released (generation),
    ballots taken again, a new close accepted; an open venue is refused.  */
static void
test_venue_reopen_is_stored_and_opens_the_round (void **state)
{
    fx_t *fx = *state;
    pingyi_ballot_t b;
    t_env_t first, second;
    t_random_ballot (fx, 0, &b);
    t_seal (fx, &first, 0, &b);
    assert_int_equal (t_one (fx, &first, "v01").status, PINGYI_ACK_ACCEPTED);
    pingyi_venue_figures_t f;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_shard_venue_reopen (fx->shard, 0, "x", 1, &f, err), -1);
    assert_string_equal (err, "venue v01 is not closed");
    assert_int_equal (pingyi_shard_venue_close (fx->shard, 0, 10, 5, 1, &f, err), 0);
    assert_int_equal (f.reopens, 0);
    pingyi_shard_info_t info;
    assert_int_equal (pingyi_shard_info (fx->shard, &info, err), 0);
    uint64_t generation = info.generation;

    static const char reason[] = "收回数录错";
    assert_int_equal (pingyi_shard_venue_reopen (fx->shard, 0, reason, strlen (reason), &f, err), 0);
    assert_false (f.closed);
    assert_int_equal (f.reopens, 1);
    assert_int_equal (f.issued, -1);
    assert_int_equal (f.collected, -1);
    assert_int_equal (f.sent, -1);
    assert_int_equal (f.accepted, 1);
    assert_int_equal (pingyi_shard_info (fx->shard, &info, err), 0);
    assert_true (info.generation == generation + 1);
    pingyi_shard_snapshot_t snap;
    assert_int_equal (pingyi_shard_snapshot (fx->shard, NULL, 0, &snap, err), 0);
    assert_false (snap.venues[0].closed);
    assert_int_equal (snap.venues[0].reopens, 1);
    assert_int_equal (snap.venues[0].collected, -1);
    pingyi_shard_snapshot_free (&snap);
    /* open: a second reopen is refused, a new ballot is taken */
    assert_int_equal (pingyi_shard_venue_reopen (fx->shard, 0, "again", 5, &f, err), -1);
    assert_string_equal (err, "venue v01 is not closed");
    t_random_ballot (fx, 0, &b);
    t_seal (fx, &second, 0, &b);
    assert_int_equal (t_one (fx, &second, "v01").status, PINGYI_ACK_ACCEPTED);
    assert_int_equal (pingyi_shard_venue_close (fx->shard, 0, 10, 2, 2, &f, err), 0);
    assert_true (f.closed);
    assert_int_equal (f.reopens, 1);
    assert_int_equal (f.accepted, 2);
    assert_int_equal (pingyi_shard_venue_reopen (fx->shard, 0, "box 3", 5, &f, err), 0);
    assert_int_equal (f.reopens, 2);

    /* persists across a reopen of the store, reasons in order */
    pingyi_shard_close (&fx->shard);
    fx->shard = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    assert_non_null (fx->shard);
    t_figures (fx, 0, &f);
    assert_false (f.closed);
    assert_int_equal (f.reopens, 2);
    assert_int_equal (f.accepted, 2);
    char reasons[256] = "";
    assert_int_equal (pingyi_shard_venue_reasons (fx->shard, 0, t_reason, reasons, err), 0);
    assert_string_equal (reasons, "1:收回数录错;2:box 3;");
    t_figures (fx, 1, &f);
    assert_int_equal (f.reopens, 0);
}

static void
test_venue_close_is_stored_and_closes_the_round (void **state)
{
    fx_t *fx = *state;
    pingyi_ballot_t b;
    t_env_t early, late;
    t_random_ballot (fx, 0, &b);
    t_seal (fx, &early, 0, &b);
    assert_int_equal (t_one (fx, &early, "v01").status, PINGYI_ACK_ACCEPTED);

    pingyi_venue_figures_t f;
    char err[PINGYI_ERR_MAX];
    /* one ballot (< k = 10): not released until the close */
    pingyi_shard_snapshot_t snap;
    assert_int_equal (pingyi_shard_snapshot (fx->shard, NULL, 0, &snap, err), 0);
    assert_int_equal (snap.venues[0].accepted, 0);
    assert_false (snap.venues[0].closed);
    assert_int_equal (snap.block_count, 0);
    pingyi_shard_snapshot_free (&snap);
    assert_int_equal (pingyi_shard_venue_close (fx->shard, 0, 120, 118, 1, &f, err), 0);
    assert_true (f.closed);
    assert_int_equal (pingyi_shard_snapshot (fx->shard, NULL, 0, &snap, err), 0);
    assert_int_equal (snap.venues[0].accepted, 1);
    assert_true (snap.venues[0].closed);
    assert_int_equal (snap.venues[0].issued, 120);
    t_counts_t one = {0};
    t_snapshot_counters (fx->election, &snap, &one);
    assert_int_equal (one.count, fx->election->venues[0].subject_count * fx->election->item_count);
    free (one.rows);
    assert_int_equal (snap.info.generation, 1);
    assert_int_equal (snap.info.sequence, 1);
    pingyi_shard_snapshot_free (&snap);
    assert_int_equal (f.issued, 120);
    assert_int_equal (f.collected, 118);
    assert_int_equal (f.sent, 1);
    assert_int_equal (f.accepted, 1);
    /* idempotent; a second close overwrites the declared figures */
    assert_int_equal (pingyi_shard_venue_close (fx->shard, 0, 120, 119, 1, &f, err), 0);
    assert_int_equal (f.collected, 119);
    /* not this shard's venue */
    assert_int_equal (pingyi_shard_venue_close (fx->shard, 2, 1, 1, 1, &f, err), -1);

    /* after the close: a new ballot is refused, a resend is still a
       duplicate with its receipt */
    t_random_ballot (fx, 0, &b);
    t_seal (fx, &late, 0, &b);
    t_expect_reject (fx, &late, "v01", PINGYI_REJECT_VENUE_CLOSED);
    pingyi_shard_item_t it = t_one (fx, &early, "v01");
    assert_int_equal (it.status, PINGYI_ACK_DUPLICATE);

    /* persists across reopen */
    pingyi_shard_close (&fx->shard);
    fx->shard = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    assert_non_null (fx->shard);
    t_figures (fx, 0, &f);
    assert_true (f.closed);
    assert_int_equal (f.issued, 120);
    assert_int_equal (f.collected, 119);
    assert_int_equal (f.sent, 1);
    assert_int_equal (f.accepted, 1);
    assert_int_equal (f.duplicates, 1);
    assert_int_equal (f.rejected_by[PINGYI_REJECT_VENUE_CLOSED], 1);
    /* the other venue is untouched */
    t_figures (fx, 1, &f);
    assert_false (f.closed);
    assert_int_equal (f.issued, -1);
}

static void
test_map_full_grows_and_redoes_the_batch (void **state)
{
    fx_t *fx = *state;
    char err[PINGYI_ERR_MAX];
    pingyi_shard_close (&fx->shard);
    nftw (fx->data, t_rm, 16, FTW_DEPTH | FTW_PHYS);
    fx->shard = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->shard_sk, 64 << 10, PINGYI_SHARD_CREATE, err);
    if (!fx->shard)
        fprintf (stderr, "%s\n", err);
    assert_non_null (fx->shard);

    enum { N = 2000, PER = 250 };
    t_counts_t want = {0};
    t_batch_t b;
    t_make_batch (fx, &b, N, &want);
    pingyi_shard_item_t *items = calloc (PER, sizeof *items);
    for (size_t at = 0; at < N; at += PER) {
        t_batch_items (fx, &b, at, PER, items);
        t_apply (fx, items, PER);
        for (size_t i = 0; i < PER; i++)
            assert_int_equal (items[i].status, PINGYI_ACK_ACCEPTED);
    }
    pingyi_shard_stats_t st;
    pingyi_shard_stats (fx->shard, &st);
    assert_true (st.map_resizes > 0);
    assert_true (st.batch_redos > 0);
    assert_true (st.map_size > (64 << 10));
    assert_false (st.stopped);
    assert_int_equal (st.sequence, N);
    t_assert_counts (fx->shard, &want);
    pingyi_shard_recount_t rep;
    assert_int_equal (pingyi_shard_recount (fx->shard, fx->keyring, fx->shard_sk, &rep, err), 0);
    if (!rep.ok)
        fprintf (stderr, "recount: %s\n", rep.first_problem);
    assert_true (rep.ok);
    assert_int_equal (rep.log_entries, N);
    free (items);
    free (want.rows);
    t_batch_free (&b);
}

/*  Everything the log holds, in the walk's order.  */
typedef struct {
    uint64_t count;
    uint8_t last[2 + PINGYI_BALLOT_ID_LEN]; /* (venue BE, ballot id) of the previous entry */
    uint16_t lanes[1024];                   /* the test's own digest state */
    t_batch_t *batch;
    bool *seen;
} t_log_t;

static int
t_log_walk (uint32_t venue, const uint8_t id[PINGYI_BALLOT_ID_LEN], const uint8_t *env, size_t len, void *arg)
{
    t_log_t *l = arg;
    /* strictly ascending (venue, ballot id): the key order, nothing else */
    uint8_t key[2 + PINGYI_BALLOT_ID_LEN] = {(uint8_t) (venue >> 8), (uint8_t) venue};
    memcpy (key + 2, id, PINGYI_BALLOT_ID_LEN);
    if (l->count)
        assert_true (memcmp (l->last, key, sizeof key) < 0);
    memcpy (l->last, key, sizeof key);
    l->count++;
    /* the envelope is the one its key names */
    pingyi_envelope_t e;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_envelope_parse (env, len, &e, err), 0);
    assert_memory_equal (e.ballot_id, id, PINGYI_BALLOT_ID_LEN);
    t_lthash_add (l->lanes, env, len);
    if (l->batch) {
        bool found = false;
        for (size_t i = 0; i < l->batch->n && !found; i++)
            if (l->batch->envs[i].len == len && memcmp (l->batch->envs[i].bytes, env, len) == 0) {
                assert_false (l->seen[i]);
                assert_int_equal ((int) venue, l->batch->venue[i]);
                l->seen[i] = found = true;
            }
        assert_true (found);
    }
    return 0;
}

static void
test_reopen_persists_recount_and_digest_agree (void **state)
{
    fx_t *fx = *state;
    char err[PINGYI_ERR_MAX];
    enum { N = 400 };
    t_counts_t want = {0};
    t_batch_t b;
    t_make_batch (fx, &b, N, &want);
    pingyi_shard_item_t *items = calloc (N, sizeof *items);
    t_batch_items (fx, &b, 0, N / 2, items);
    t_apply (fx, items, N / 2);
    t_batch_items (fx, &b, N / 2, N / 2, items);
    t_apply (fx, items, N / 2);

    pingyi_shard_info_t before;
    assert_int_equal (pingyi_shard_info (fx->shard, &before, err), 0);
    assert_int_equal (before.current_sequence, N);

    /* the digest, recomputed independently over the log; the log holds
       exactly the accepted envelopes, each once; and over the envelopes as
       made here, in another order */
    t_log_t log = {.batch = &b, .seen = calloc (N, sizeof (bool))};
    assert_int_equal (pingyi_shard_foreach_log (fx->shard, t_log_walk, &log, err), 0);
    assert_int_equal (log.count, N);
    for (size_t i = 0; i < N; i++)
        assert_true (log.seen[i]);
    uint8_t d[32];
    t_lthash_digest (d, log.lanes);
    assert_memory_equal (d, before.current_digest, 32);
    t_digest_of (d, b.envs, N);
    assert_memory_equal (d, before.current_digest, 32);

    /* reopen: sequence, digest, counters and figures persist */
    pingyi_venue_figures_t f0;
    t_figures (fx, 0, &f0);
    pingyi_shard_close (&fx->shard);
    fx->shard = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    assert_non_null (fx->shard);
    pingyi_shard_info_t after;
    assert_int_equal (pingyi_shard_info (fx->shard, &after, err), 0);
    assert_memory_equal (&after, &before, sizeof after);
    t_assert_counts (fx->shard, &want);
    pingyi_venue_figures_t g0;
    t_figures (fx, 0, &g0);
    assert_memory_equal (&f0, &g0, sizeof f0);

    /* a resend after the restart is still a duplicate */
    t_batch_items (fx, &b, 0, 10, items);
    t_apply (fx, items, 10);
    for (size_t i = 0; i < 10; i++)
        assert_int_equal (items[i].status, PINGYI_ACK_DUPLICATE);

    /* recount from the log equals counts, digest and figures */
    pingyi_shard_recount_t rep;
    assert_int_equal (pingyi_shard_recount (fx->shard, fx->keyring, fx->shard_sk, &rep, err), 0);
    if (!rep.ok)
        fprintf (stderr, "recount: %s\n", rep.first_problem);
    assert_true (rep.ok);
    assert_true (rep.digest_ok && rep.sequence_ok && rep.figures_ok && rep.released_ok);
    assert_int_equal (rep.log_entries, N);
    assert_int_equal (rep.reopened, N);
    assert_int_equal (rep.ids_rejected, 0);
    assert_true (rep.counters_checked > 0);
    assert_int_equal (rep.counters_differ, 0);
    assert_memory_equal (rep.digest, before.current_digest, 32);

    free (log.seen);
    free (items);
    free (want.rows);
    t_batch_free (&b);
}

/*  Ballots applied one per batch — the live trickle, where a batch is the
    order of voting — with ballot ids chosen in descending order, the venues
    interleaved: the log and the ids come back in (venue, ballot id) order,
    not in the order applied, and nothing stored beside the envelope.  */
typedef struct {
    uint8_t keys[64][2 + PINGYI_BALLOT_ID_LEN];
    size_t count;
} t_keys_t;

static int
t_log_keys (uint32_t venue, const uint8_t id[PINGYI_BALLOT_ID_LEN], const uint8_t *env, size_t len, void *arg)
{
    (void) env;
    (void) len;
    t_keys_t *k = arg;
    assert_true (k->count < 64);
    k->keys[k->count][0] = (uint8_t) (venue >> 8);
    k->keys[k->count][1] = (uint8_t) venue;
    memcpy (k->keys[k->count++] + 2, id, PINGYI_BALLOT_ID_LEN);
    return 0;
}

typedef struct {
    const t_env_t *envs;
    const int *venue;
    size_t n;
    size_t rows;
} t_rows_t;

/*  Each accepted ids row holds status 0, reason 0 and exactly its envelope:
    no sequence, no time, nothing else.  */
static int
t_id_rows (const pingyi_shard_id_t *row, void *arg)
{
    t_rows_t *r = arg;
    assert_int_equal (row->status, PINGYI_ACK_ACCEPTED);
    assert_int_equal (row->reason, 0);
    bool found = false;
    for (size_t i = 0; i < r->n; i++)
        if (memcmp (r->envs[i].bytes + 37, row->ballot_id, 16) == 0) {
            assert_int_equal ((int) row->venue, r->venue[i]);
            assert_int_equal (row->len, r->envs[i].len);
            assert_memory_equal (row->envelope, r->envs[i].bytes, row->len);
            found = true;
        }
    assert_true (found);
    r->rows++;
    return 0;
}

static int
t_cmp_key18 (const void *a, const void *b)
{
    return memcmp (a, b, 2 + PINGYI_BALLOT_ID_LEN);
}

static void
test_log_is_in_key_order_not_in_order_of_voting (void **state)
{
    fx_t *fx = *state;
    char err[PINGYI_ERR_MAX];
    enum { N = 24 };
    t_env_t envs[N];
    int venue[N];
    uint8_t applied[N][2 + PINGYI_BALLOT_ID_LEN];
    for (size_t i = 0; i < N; i++) {
        /* ids descending in apply order: 0xf0 - i, then random bytes */
        uint8_t id[PINGYI_BALLOT_ID_LEN];
        randombytes_buf (id, sizeof id);
        id[0] = (uint8_t) (0xf0 - i);
        venue[i] = (int) (i % 2);
        pingyi_ballot_t b;
        t_random_ballot (fx, venue[i], &b);
        t_seal_id (fx, &envs[i], venue[i], &b, id);
        pingyi_shard_item_t it = t_one (fx, &envs[i], fx->election->venues[venue[i]].id);
        assert_int_equal (it.status, PINGYI_ACK_ACCEPTED);
        applied[i][0] = 0;
        applied[i][1] = (uint8_t) venue[i];
        memcpy (applied[i] + 2, id, sizeof id);
    }
    t_keys_t got = {0};
    assert_int_equal (pingyi_shard_foreach_log (fx->shard, t_log_keys, &got, err), 0);
    assert_int_equal (got.count, N);
    /* the walk is (venue, id) sorted: venue 0's ids ascending, then venue 1's */
    uint8_t sorted[N][2 + PINGYI_BALLOT_ID_LEN];
    memcpy (sorted, applied, sizeof sorted);
    qsort (sorted, N, sizeof sorted[0], t_cmp_key18);
    for (size_t i = 0; i < N; i++)
        assert_memory_equal (got.keys[i], sorted[i], sizeof sorted[i]);
    /* ... which is not the order applied: that one was descending within each venue */
    assert_memory_not_equal (got.keys[0], applied[0], sizeof applied[0]);
    assert_memory_equal (got.keys[0], applied[N - 2], sizeof applied[0]);
    assert_memory_equal (got.keys[N - 1], applied[1], sizeof applied[1]);

    t_rows_t rows = {envs, venue, N, 0};
    assert_int_equal (pingyi_shard_foreach_id (fx->shard, t_id_rows, &rows, err), 0);
    assert_int_equal (rows.rows, N);

    /* white box: the dbs of the shard are ids, counts, pending, venues and
       meta; no `log` keyed by a sequence */
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal (mdb_txn_begin (fx->shard->db.env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, "log", 0, &dbi), MDB_NOTFOUND);
    mdb_txn_abort (txn);

    /* the digest does not depend on the order either */
    pingyi_shard_info_t info;
    assert_int_equal (pingyi_shard_info (fx->shard, &info, err), 0);
    uint8_t d[32];
    t_digest_of (d, envs, N);
    assert_memory_equal (d, info.current_digest, 32);
}

static void
test_open_refuses_another_election_or_shard (void **state)
{
    fx_t *fx = *state;
    char err[PINGYI_ERR_MAX];
    pingyi_ballot_t b;
    t_env_t env;
    t_random_ballot (fx, 0, &b);
    t_seal (fx, &env, 0, &b);
    assert_int_equal (t_one (fx, &env, "v01").status, PINGYI_ACK_ACCEPTED);
    pingyi_shard_close (&fx->shard);

    /* same shape, another id: another fingerprint */
    pingyi_election_t *other = t_parse ("another-election");
    pingyi_shard_t *s = pingyi_shard_open (fx->data, 0, other, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    assert_null (s);
    assert_non_null (strstr (err, "refusing to mix elections"));
    s = pingyi_shard_open_readonly (fx->data, 0, other, err);
    assert_null (s);
    pingyi_election_destroy (&other);

    /* the directory of shard 0 presented as shard 1 */
    char from[256], to[256];
    pingyi_shard_path (from, sizeof from, fx->data, 0);
    pingyi_shard_path (to, sizeof to, fx->data, 1);
    assert_int_equal (rename (from, to), 0);
    s = pingyi_shard_open (fx->data, 1, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    assert_null (s);
    assert_non_null (strstr (err, "holds shard 0 of 2"));
    assert_int_equal (rename (to, from), 0);

    /* a shard outside the election */
    s = pingyi_shard_open (fx->data, 2, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    assert_null (s);
    /* read-only on a missing directory */
    s = pingyi_shard_open_readonly (fx->data, 1, fx->election, err);
    assert_null (s);
    assert_non_null (strstr (err, "no such shard directory"));

    fx->shard = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    assert_non_null (fx->shard);
}

static void
test_snapshot_pages_through_all_counters (void **state)
{
    fx_t *fx = *state;
    char err[PINGYI_ERR_MAX];
    enum { N = 100 };
    t_counts_t want = {0};
    t_batch_t b;
    t_make_batch (fx, &b, N, &want);
    pingyi_shard_item_t *items = calloc (N, sizeof *items);
    t_batch_items (fx, &b, 0, N, items);
    t_apply (fx, items, N);
    if (want.count > 1)
        qsort (want.rows, want.count, sizeof *want.rows, t_cmp_counter);

    size_t got = 0, pages = 0;
    uint8_t from[PINGYI_ROW_KEY_LEN] = {0};
    pingyi_count_shape_t shape;
    pingyi_count_shape (fx->election, &shape);
    pingyi_shard_info_t info;
    assert_int_equal (pingyi_shard_info (fx->shard, &info, err), 0);
    for (;;) {
        pingyi_shard_snapshot_t snap;
        /* pages of at most 3 blocks */
        assert_int_equal (
            pingyi_shard_snapshot (fx->shard, pages ? from : NULL, 3 * shape.width * 4, &snap, err), 0);
        pages++;
        assert_int_equal (snap.venue_count, 2); /* v01, v02 */
        assert_int_equal (snap.venues[0].venue, 0);
        assert_int_equal (snap.venues[1].venue, 1);
        assert_int_equal (snap.venues[0].accepted + snap.venues[1].accepted, N);
        /* everything released (50 ballots a venue >= k): the settled point is the current one */
        assert_int_equal (snap.info.sequence, N);
        assert_memory_equal (snap.info.digest, info.current_digest, 32);
        assert_int_equal (snap.info.generation, 1);
        assert_int_equal (snap.info.current_sequence, 0); /* never in a snapshot */
        assert_int_equal (snap.venues[0].category_count, 2);
        assert_true (snap.block_count <= 3);
        t_counts_t page = {0};
        t_snapshot_counters (fx->election, &snap, &page);
        for (size_t i = 0; i < page.count; i++, got++) {
            assert_true (got < want.count);
            assert_memory_equal (page.rows[i].key, want.rows[got].key, 8);
            assert_int_equal (page.rows[i].count, want.rows[got].count);
        }
        free (page.rows);
        bool more = snap.more;
        if (more) {
            assert_int_equal (snap.block_count, 3);
            memcpy (from, snap.next, PINGYI_ROW_KEY_LEN);
        }
        pingyi_shard_snapshot_free (&snap);
        pingyi_shard_snapshot_free (&snap); /* safe twice */
        if (!more)
            break;
    }
    assert_int_equal (got, want.count);
    assert_true (pages > 1);
    free (items);
    free (want.rows);
    t_batch_free (&b);
}

static int
t_count_venues (const pingyi_venue_figures_t *f, void *arg)
{
    (*(size_t *) arg)++;
    assert_true (f->venue <= 1);
    return 0;
}

static void
test_readonly_open_and_recount_detects_tampering (void **state)
{
    fx_t *fx = *state;
    char err[PINGYI_ERR_MAX];
    enum { N = 120 };
    t_counts_t want = {0};
    t_batch_t b;
    t_make_batch (fx, &b, N, &want);
    pingyi_shard_item_t *items = calloc (N, sizeof *items);
    t_batch_items (fx, &b, 0, N, items);
    t_apply (fx, items, N);
    pingyi_shard_close (&fx->shard);

    pingyi_shard_t *ro = pingyi_shard_open_readonly (fx->data, 0, fx->election, err);
    if (!ro)
        fprintf (stderr, "%s\n", err);
    assert_non_null (ro);
    t_assert_counts (ro, &want);
    size_t venues = 0;
    assert_int_equal (pingyi_shard_foreach_venue (ro, t_count_venues, &venues, err), 0);
    assert_int_equal (venues, 2);
    pingyi_shard_recount_t rep;
    assert_int_equal (pingyi_shard_recount (ro, fx->keyring, fx->shard_sk, &rep, err), 0);
    assert_true (rep.ok);
    /* read-only: no writes */
    t_batch_items (fx, &b, 0, 1, items);
    assert_int_equal (pingyi_shard_apply (ro, items, 1, err), -1);
    assert_int_equal (pingyi_shard_venue_close (ro, 0, 1, 1, 1, NULL, err), -1);
    pingyi_shard_close (&ro);

    /* alter one stored counter behind the shard's back */
    char path[256];
    pingyi_shard_path (path, sizeof path, fx->data, 0);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *c;
    MDB_val k, v;
    assert_int_equal (mdb_env_create (&env), 0);
    assert_int_equal (mdb_env_set_maxdbs (env, 8), 0);
    assert_int_equal (mdb_env_open (env, path, 0, 0600), 0);
    assert_int_equal (mdb_txn_begin (env, NULL, 0, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, "counts", 0, &dbi), 0);
    assert_int_equal (mdb_cursor_open (txn, dbi, &c), 0);
    assert_int_equal (mdb_cursor_get (c, &k, &v, MDB_FIRST), 0);
    /* a counts row: (venue, subject) -> u32 LE cells; bump its first non-zero one */
    assert_int_equal (k.mv_size, 4);
    uint8_t key[4], val[4096];
    assert_true (v.mv_size <= sizeof val && v.mv_size % 4 == 0);
    size_t row_len = v.mv_size, cell = 0;
    memcpy (key, k.mv_data, 4);
    memcpy (val, v.mv_data, row_len);
    while (cell < row_len && !(val[cell] | val[cell + 1] | val[cell + 2] | val[cell + 3]))
        cell += 4;
    assert_true (cell < row_len);
    assert_true (val[cell] < 0xff);
    val[cell]++;
    mdb_cursor_close (c);
    k.mv_data = key;
    v.mv_data = val;
    v.mv_size = row_len;
    assert_int_equal (mdb_put (txn, dbi, &k, &v, 0), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    mdb_env_close (env);

    ro = pingyi_shard_open_readonly (fx->data, 0, fx->election, err);
    assert_non_null (ro);
    assert_int_equal (pingyi_shard_recount (ro, fx->keyring, fx->shard_sk, &rep, err), 0);
    assert_false (rep.ok);
    assert_int_equal (rep.counters_differ, 1);
    assert_true (rep.digest_ok);
    assert_true (rep.figures_ok);
    assert_true (rep.sequence_ok);
    assert_non_null (strstr (rep.first_problem, "stored"));
    /* without the secret: the bumped cell no longer adds up to the venue's
       ballots of its category */
    assert_int_equal (pingyi_shard_check_blocks (ro, err), -1);
    assert_non_null (strstr (err, "/shard-00: damaged: the "));
    assert_non_null (strstr (err, " count: venue v01, subject s"));
    assert_non_null (strstr (err, ": cells add up to "));
    assert_non_null (strstr (err, " (pingyi tally --recount on a copy)"));
    pingyi_shard_close (&ro);

    /* and a worker refuses to serve it */
    fx->shard = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->shard_sk, 0, 0, err);
    assert_null (fx->shard);
    assert_non_null (strstr (err, ": cells add up to "));
    free (items);
    free (want.rows);
    t_batch_free (&b);
}

static void
test_hostile_bytes_are_rejected_never_counted (void **state)
{
    fx_t *fx = *state;
    enum { N = 600 };
    t_env_t *envs = calloc (N, sizeof *envs);
    pingyi_ballot_t b;
    t_env_t good;
    t_random_ballot (fx, 0, &b);
    t_seal (fx, &good, 0, &b);
    for (size_t i = 0; i < N; i++) {
        if (i % 3 == 0) {
            envs[i].len = randombytes_uniform (MAX_ENV);
            randombytes_buf (envs[i].bytes, envs[i].len);
            if (i % 2)
                envs[i].bytes[0] = 1; /* get past the version byte */
        }
        else {
            /* a good envelope with 1..4 bytes changed, or cut short */
            envs[i] = good;
            int flips = 1 + (int) randombytes_uniform (4);
            for (int k = 0; k < flips; k++)
                envs[i].bytes[randombytes_uniform ((uint32_t) good.len)] ^=
                    (uint8_t) (1 + randombytes_uniform (255));
            if (i % 7 == 0)
                envs[i].len = randombytes_uniform ((uint32_t) good.len);
            if (envs[i].len == good.len && memcmp (envs[i].bytes, good.bytes, good.len) == 0)
                envs[i].bytes[40] ^= 1;
        }
    }
    pingyi_shard_item_t *items = calloc (N, sizeof *items);
    t_items (items, envs, N, "v01");
    /* and a few with no sender at all */
    items[1].sender = NULL;
    items[1].sender_len = 0;
    t_apply (fx, items, N);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal (items[i].status, PINGYI_ACK_REJECTED);
        assert_true (items[i].reason >= 1 && items[i].reason < PINGYI_REJECT_COUNT_);
        assert_true (strlen (items[i].text) > 0 && strlen (items[i].text) < PINGYI_TEXT_MAX);
    }
    pingyi_shard_info_t info;
    assert_int_equal (pingyi_shard_info (fx->shard, &info, NULL), 0);
    assert_int_equal (info.current_sequence, 0);
    t_counts_t none = {0};
    t_assert_counts (fx->shard, &none);
    pingyi_venue_figures_t f;
    t_figures (fx, 0, &f);
    /* random bytes may repeat (two empty envelopes, two equal cuts): a
       repeat is remembered by its bytes and counted as a duplicate */
    size_t resends = 0;
    for (size_t i = 0; i < N; i++)
        if (strncmp (items[i].text, "resend of an envelope refused earlier", 37) == 0)
            resends++;
    assert_int_equal (f.duplicates, resends);
    assert_int_equal (f.rejected + info.orphan_rejected + resends, N);
    /* the good one still goes in */
    assert_int_equal (t_one (fx, &good, "v01").status, PINGYI_ACK_ACCEPTED);
    free (items);
    free (envs);
}

/*  The digest against vectors from an independent implementation (Python:
    hashlib.blake2b and the `cryptography` package's ChaCha20 with a zero
    counter and nonce; the program is in docs/worker.md), and against the
    test's own loop; adding in either order gives the same digest.  */
static void
t_hex32 (uint8_t out[32], const char *hex)
{
    for (int i = 0; i < 32; i++) {
        unsigned v;
        assert_int_equal (sscanf (hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t) v;
    }
}

static void
test_digest_matches_its_definition (void **state)
{
    (void) state;
    uint8_t st[PINGYI_SHARD_DIGEST_STATE] = {0}, st2[PINGYI_SHARD_DIGEST_STATE] = {0};
    uint8_t d[32], want[32];
    const uint8_t one[] = "envelope one", two[] = "envelope two";
    pingyi_shard_digest (d, st);
    t_hex32 (want, "200823e5158b3774c11b5c61850ada762f8264144a9bebec3ebac5a2adde67b8");
    assert_memory_equal (d, want, 32);
    pingyi_shard_digest_add (st, one, sizeof one - 1);
    pingyi_shard_digest (d, st);
    t_hex32 (want, "da94a76e417976937f9cb94c7c7a650ab1c2906f830fe5523d43f0911a578f85");
    assert_memory_equal (d, want, 32);
    pingyi_shard_digest_add (st, two, sizeof two - 1);
    pingyi_shard_digest (d, st);
    t_hex32 (want, "f663f31273fc2193ee17fa946b74de29c6b97d428e94e91b6891b08ef75ded96");
    assert_memory_equal (d, want, 32);
    /* lanes are little-endian u16: the first four of the state */
    assert_int_equal (st[0] | st[1] << 8, 37259);
    assert_int_equal (st[2] | st[3] << 8, 8858);
    assert_int_equal (st[4] | st[5] << 8, 36597);
    assert_int_equal (st[6] | st[7] << 8, 18008);
    pingyi_shard_digest_add (st2, two, sizeof two - 1);
    pingyi_shard_digest_add (st2, one, sizeof one - 1);
    assert_memory_equal (st, st2, sizeof st);
    uint16_t lanes[1024] = {0};
    t_lthash_add (lanes, one, sizeof one - 1);
    t_lthash_add (lanes, two, sizeof two - 1);
    t_lthash_digest (d, lanes);
    assert_memory_equal (d, want, 32);
}

static void
t_snapshot (pingyi_shard_t *shard, pingyi_shard_snapshot_t *snap)
{
    char err[PINGYI_ERR_MAX];
    int rc = pingyi_shard_snapshot (shard, NULL, 0, snap, err);
    if (rc)
        fprintf (stderr, "snapshot: %s\n", err);
    assert_int_equal (rc, 0);
    assert_false (snap->more);
    /* never anything current in a snapshot */
    assert_int_equal (snap->info.current_sequence, 0);
    assert_int_equal (snap->info.pending, 0);
}

/*  Same released data: figures of every venue and every counter.  */
static bool
t_same_release (const pingyi_shard_snapshot_t *a, const pingyi_shard_snapshot_t *b)
{
    bool blocks = a->block_count == b->block_count;
    for (size_t i = 0; blocks && i < a->block_count; i++)
        blocks = a->blocks[i].venue == b->blocks[i].venue && a->blocks[i].subject == b->blocks[i].subject &&
                 a->blocks[i].len == b->blocks[i].len &&
                 memcmp (a->blocks[i].cells, b->blocks[i].cells, a->blocks[i].len) == 0;
    return a->venue_count == b->venue_count && blocks &&
           memcmp (a->venues, b->venues, a->venue_count * sizeof *a->venues) == 0 &&
           a->info.sequence == b->info.sequence && memcmp (a->info.digest, b->info.digest, 32) == 0;
}

/*  The snapshot's counters equal want exactly.  */
static void
t_assert_snapshot_counts (const fx_t *fx, const pingyi_shard_snapshot_t *snap, t_counts_t *want)
{
    if (want->count > 1)
        qsort (want->rows, want->count, sizeof *want->rows, t_cmp_counter);
    t_counts_t have = {0};
    t_snapshot_counters (fx->election, snap, &have);
    assert_int_equal (have.count, want->count);
    for (size_t i = 0; i < want->count; i++) {
        assert_memory_equal (have.rows[i].key, want->rows[i].key, 8);
        assert_int_equal (have.rows[i].count, want->rows[i].count);
    }
    free (have.rows);
}

/*  One step of the release test: after it, the snapshot changed exactly
    when `released` says, and the generation moved exactly then.  */
static void
t_step_release (fx_t *fx, pingyi_shard_snapshot_t *prev, bool released)
{
    pingyi_shard_snapshot_t now;
    t_snapshot (fx->shard, &now);
    bool same = t_same_release (prev, &now);
    assert_int_equal (same, !released);
    assert_int_equal (now.info.generation, prev->info.generation + (released ? 1 : 0));
    pingyi_shard_snapshot_free (prev);
    *prev = now;
}

/*  k = 3.  Released data moves only in steps of >= 3 accepted ballots of a
    venue, or at its close; the settled point only when nothing is pending
    anywhere; the offline views see everything at once.  Run through the
    grid and through the hash table.  */
static void
t_release_in_steps_of_k (fx_t *fx, bool hash_table)
{
    char err[PINGYI_ERR_MAX];
    if (hash_table)
        shard_grid_free (&fx->shard->grid); /* white box: as a shard whose grid would be too large */
    uint8_t empty[32];
    uint16_t zero[1024] = {0};
    t_lthash_digest (empty, zero);

    pingyi_shard_snapshot_t prev;
    t_snapshot (fx->shard, &prev);
    assert_int_equal (prev.info.generation, 0);
    assert_int_equal (prev.info.sequence, 0);
    assert_memory_equal (prev.info.digest, empty, 32);

    t_env_t envs[6];
    pingyi_ballot_t b[6];
    int venue_of[6] = {0, 0, 0, 1, 0, 0};
    for (int i = 0; i < 6; i++) {
        t_random_ballot (fx, venue_of[i], &b[i]);
        b[i].category = (uint32_t) (i % 2);
        t_seal (fx, &envs[i], venue_of[i], &b[i]);
    }
    t_counts_t full = {0}, released = {0};

    /* 1 and 2 ballots of v01, one batch each: all pending */
    for (int i = 0; i < 2; i++) {
        assert_int_equal (t_one (fx, &envs[i], "v01").status, PINGYI_ACK_ACCEPTED);
        t_expect_ballot (fx, &full, 0, &b[i]);
        t_step_release (fx, &prev, false);
    }
    assert_int_equal (prev.block_count, 0);
    assert_int_equal (prev.venues[0].accepted, 0);
    assert_int_equal (prev.info.sequence, 0);
    assert_memory_equal (prev.info.digest, empty, 32);
    pingyi_venue_figures_t f;
    t_figures (fx, 0, &f); /* the venue itself sees its two */
    assert_int_equal (f.accepted, 2);
    assert_int_equal (f.by_category[0], 1);
    assert_int_equal (f.by_category[1], 1);
    t_assert_counts (fx->shard, &full); /* and so do the offline tools */
    pingyi_shard_info_t info;
    uint8_t d[32];
    assert_int_equal (pingyi_shard_info (fx->shard, &info, err), 0);
    assert_int_equal (info.current_sequence, 2);
    assert_int_equal (info.pending, 2);
    assert_int_equal (info.sequence, 0);
    t_digest_of (d, envs, 2);
    assert_memory_equal (info.current_digest, d, 32);
    /* the full count is consistent while pending */
    pingyi_shard_recount_t rep;
    assert_int_equal (pingyi_shard_recount (fx->shard, fx->keyring, fx->shard_sk, &rep, err), 0);
    if (!rep.ok)
        fprintf (stderr, "recount: %s\n", rep.first_problem);
    assert_true (rep.ok);

    /* a refusal charged to v01 is not released on its own */
    t_env_t bad = envs[5];
    bad.bytes[bad.len - 3] ^= 1;
    t_expect_reject (fx, &bad, "v01", PINGYI_REJECT_DECRYPT);
    t_step_release (fx, &prev, false);
    assert_int_equal (prev.venues[0].rejected, 0);

    /* the third: k reached, all three released at once, exactly */
    assert_int_equal (t_one (fx, &envs[2], "v01").status, PINGYI_ACK_ACCEPTED);
    t_expect_ballot (fx, &full, 0, &b[2]);
    for (int i = 0; i < 3; i++)
        t_expect_ballot (fx, &released, 0, &b[i]);
    t_step_release (fx, &prev, true);
    t_assert_snapshot_counts (fx, &prev, &released);
    assert_int_equal (prev.venues[0].accepted, 3);
    assert_int_equal (prev.venues[0].rejected, 1); /* released with them */
    assert_int_equal (prev.venues[0].category_count, 2);
    assert_int_equal (prev.venues[0].by_category[0], 2);
    assert_int_equal (prev.venues[0].by_category[1], 1);
    assert_int_equal (prev.venues[1].accepted, 0);
    assert_int_equal (prev.info.generation, 1);
    /* nothing pending anywhere: settled at the current point */
    assert_int_equal (prev.info.sequence, 3);
    t_digest_of (d, envs, 3);
    assert_memory_equal (prev.info.digest, d, 32);

    /* one of v02: pending there, so the settled point stays where it was */
    assert_int_equal (t_one (fx, &envs[3], "v02").status, PINGYI_ACK_ACCEPTED);
    t_expect_ballot (fx, &full, 1, &b[3]);
    t_step_release (fx, &prev, false);
    /* one more of v01: pending (1 < 3) */
    assert_int_equal (t_one (fx, &envs[4], "v01").status, PINGYI_ACK_ACCEPTED);
    t_expect_ballot (fx, &full, 0, &b[4]);
    t_step_release (fx, &prev, false);
    assert_int_equal (prev.venues[0].accepted, 3);
    assert_int_equal (prev.info.sequence, 3);
    t_assert_counts (fx->shard, &full);

    /* it all persists, pending included */
    pingyi_shard_close (&fx->shard);
    fx->shard = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    assert_non_null (fx->shard);
    if (hash_table)
        shard_grid_free (&fx->shard->grid);
    t_step_release (fx, &prev, false);
    t_assert_counts (fx->shard, &full);

    /* v01 closes: its fourth is released, whatever k; v02 still pending */
    assert_int_equal (pingyi_shard_venue_close (fx->shard, 0, 10, 4, 4, &f, err), 0);
    t_expect_ballot (fx, &released, 0, &b[4]);
    t_step_release (fx, &prev, true);
    t_assert_snapshot_counts (fx, &prev, &released);
    assert_int_equal (prev.venues[0].accepted, 4);
    assert_true (prev.venues[0].closed);
    assert_int_equal (prev.venues[0].issued, 10);
    assert_int_equal (prev.venues[1].accepted, 0);
    assert_int_equal (prev.info.generation, 2);
    assert_int_equal (prev.info.sequence, 3); /* v02's ballot is pending */

    /* a resend to the closed venue: its figures are all released already,
       so what still moves there (resends, refusals) is released at once */
    assert_int_equal (t_one (fx, &envs[0], "v01").status, PINGYI_ACK_DUPLICATE);
    t_step_release (fx, &prev, true);
    assert_int_equal (prev.venues[0].duplicates, 1);

    /* v02 closes with its one ballot: everything released, settled = current */
    assert_int_equal (pingyi_shard_venue_close (fx->shard, 1, 1, 1, 1, &f, err), 0);
    t_expect_ballot (fx, &released, 1, &b[3]);
    t_step_release (fx, &prev, true);
    t_assert_snapshot_counts (fx, &prev, &released);
    assert_int_equal (prev.info.sequence, 5);
    const t_env_t five[5] = {envs[0], envs[1], envs[2], envs[3], envs[4]};
    t_digest_of (d, five, 5);
    assert_memory_equal (prev.info.digest, d, 32);
    assert_int_equal (pingyi_shard_info (fx->shard, &info, err), 0);
    assert_int_equal (info.pending, 0);
    assert_int_equal (info.current_sequence, 5);
    assert_memory_equal (info.current_digest, d, 32);
    assert_int_equal (info.generation, 4);
    t_assert_counts (fx->shard, &full);

    assert_int_equal (pingyi_shard_recount (fx->shard, fx->keyring, fx->shard_sk, &rep, err), 0);
    if (!rep.ok)
        fprintf (stderr, "recount: %s\n", rep.first_problem);
    assert_true (rep.ok);
    assert_memory_equal (rep.digest, d, 32);

    /* white box: nothing left in `pending` */
    MDB_txn *txn;
    MDB_stat st;
    assert_int_equal (mdb_txn_begin (fx->shard->db.env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal (mdb_stat (txn, fx->shard->pending, &st), 0);
    assert_int_equal (st.ms_entries, 0);
    mdb_txn_abort (txn);

    pingyi_shard_snapshot_free (&prev);
    free (full.rows);
    free (released.rows);
}

static void
test_release_in_steps_of_k (void **state)
{
    t_release_in_steps_of_k (*state, false);
}

static void
test_release_in_steps_of_k_hash_table (void **state)
{
    t_release_in_steps_of_k (*state, true);
}

/*  by_category: accepted ballots per rater category, exact, current and
    released, kept across a reopen, and checked by the recount.  */
static void
test_figures_by_category (void **state)
{
    fx_t *fx = *state;
    char err[PINGYI_ERR_MAX];
    enum { N = 37 };
    t_env_t envs[N];
    pingyi_shard_item_t items[N];
    uint64_t want[2][2] = {{0}}; /* [venue][category] */
    for (size_t i = 0; i < N; i++) {
        int v = i % 3 == 0 ? 1 : 0;
        uint32_t cat = (i * 7 % 5) < 2 ? 1 : 0;
        pingyi_ballot_t b;
        t_random_ballot (fx, v, &b);
        b.category = cat;
        t_seal (fx, &envs[i], v, &b);
        t_items (&items[i], &envs[i], 1, fx->election->venues[v].id);
        want[v][cat]++;
    }
    t_apply (fx, items, N);
    for (int v = 0; v < 2; v++) {
        pingyi_venue_figures_t f;
        t_figures (fx, v, &f);
        assert_int_equal (f.category_count, 2);
        assert_int_equal (f.by_category[0], want[v][0]);
        assert_int_equal (f.by_category[1], want[v][1]);
        assert_int_equal (f.accepted, want[v][0] + want[v][1]);
        for (int c = 2; c < PINGYI_FIGURES_CATEGORIES; c++)
            assert_int_equal (f.by_category[c], 0);
    }
    /* 24 and 13 ballots, both >= 10: released as they are */
    pingyi_shard_snapshot_t snap;
    t_snapshot (fx->shard, &snap);
    for (int v = 0; v < 2; v++) {
        assert_int_equal (snap.venues[v].category_count, 2);
        assert_int_equal (snap.venues[v].by_category[0], want[v][0]);
        assert_int_equal (snap.venues[v].by_category[1], want[v][1]);
    }
    pingyi_shard_snapshot_free (&snap);

    pingyi_shard_close (&fx->shard);
    pingyi_shard_t *ro = pingyi_shard_open_readonly (fx->data, 0, fx->election, err);
    assert_non_null (ro);
    pingyi_venue_figures_t f;
    assert_int_equal (pingyi_shard_venue_figures (ro, 1, &f), 0);
    assert_int_equal (f.by_category[0], want[1][0]);
    assert_int_equal (f.by_category[1], want[1][1]);
    pingyi_shard_recount_t rep;
    assert_int_equal (pingyi_shard_recount (ro, fx->keyring, fx->shard_sk, &rep, err), 0);
    assert_true (rep.ok);
    pingyi_shard_close (&ro);

    /* one category figure altered behind the shard's back: the recount says so */
    char path[256];
    pingyi_shard_path (path, sizeof path, fx->data, 0);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal (mdb_env_create (&env), 0);
    assert_int_equal (mdb_env_set_maxdbs (env, 8), 0);
    assert_int_equal (mdb_env_open (env, path, 0, 0600), 0);
    assert_int_equal (mdb_txn_begin (env, NULL, 0, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, "venues", 0, &dbi), 0);
    uint8_t k[2] = {0, 0}, val[2 * (185 + 16)];
    MDB_val key = {2, k}, v;
    assert_int_equal (mdb_get (txn, dbi, &key, &v), 0);
    assert_int_equal (v.mv_size, sizeof val); /* current and released, 185 + 8 x 2 bytes each */
    memcpy (val, v.mv_data, sizeof val);
    assert_int_equal (pingyi_get_le64 (val + 185), want[0][0]);
    assert_int_equal (pingyi_get_le64 (val + 193), want[0][1]);
    pingyi_put_le64 (val + 193, want[0][1] + 1);
    v.mv_data = val;
    assert_int_equal (mdb_put (txn, dbi, &key, &v, 0), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    mdb_env_close (env);
    ro = pingyi_shard_open_readonly (fx->data, 0, fx->election, err);
    assert_non_null (ro);
    assert_int_equal (pingyi_shard_recount (ro, fx->keyring, fx->shard_sk, &rep, err), 0);
    assert_false (rep.ok);
    assert_false (rep.figures_ok);
    assert_non_null (strstr (rep.first_problem, "category 1"));
    pingyi_shard_close (&ro);
}

/*  The recount's digest is the stored one, and one changed byte of a
    stored envelope fails the recount: it no longer opens, and the digest
    state no longer matches.  */
static void
test_digest_recount_and_tampered_envelope (void **state)
{
    fx_t *fx = *state;
    char err[PINGYI_ERR_MAX];
    enum { N = 60 };
    t_batch_t b;
    t_make_batch (fx, &b, N, NULL);
    pingyi_shard_item_t *items = calloc (N, sizeof *items);
    t_batch_items (fx, &b, 0, N, items);
    t_apply (fx, items, N);
    pingyi_shard_info_t info;
    assert_int_equal (pingyi_shard_info (fx->shard, &info, err), 0);
    uint8_t d[32];
    t_digest_of (d, b.envs, N);
    assert_memory_equal (info.current_digest, d, 32);
    pingyi_shard_recount_t rep;
    assert_int_equal (pingyi_shard_recount (fx->shard, fx->keyring, fx->shard_sk, &rep, err), 0);
    assert_true (rep.ok);
    assert_true (rep.digest_ok);
    assert_memory_equal (rep.digest, d, 32);
    pingyi_shard_close (&fx->shard);

    /* one byte of the 10th stored envelope (its ciphertext) flipped */
    char path[256];
    pingyi_shard_path (path, sizeof path, fx->data, 0);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *c;
    MDB_val k, v;
    assert_int_equal (mdb_env_create (&env), 0);
    assert_int_equal (mdb_env_set_maxdbs (env, 8), 0);
    assert_int_equal (mdb_env_open (env, path, 0, 0600), 0);
    assert_int_equal (mdb_txn_begin (env, NULL, 0, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, "ids", 0, &dbi), 0);
    assert_int_equal (mdb_cursor_open (txn, dbi, &c), 0);
    assert_int_equal (mdb_cursor_get (c, &k, &v, MDB_FIRST), 0);
    for (int i = 0; i < 9; i++)
        assert_int_equal (mdb_cursor_get (c, &k, &v, MDB_NEXT), 0);
    uint8_t key[18], val[MAX_ENV + 2];
    assert_int_equal (k.mv_size, 18);
    assert_true (v.mv_size > 2 && v.mv_size <= sizeof val);
    memcpy (key, k.mv_data, 18);
    memcpy (val, v.mv_data, v.mv_size);
    assert_int_equal (val[0], PINGYI_ACK_ACCEPTED);
    val[v.mv_size - 5] ^= 0x10;
    mdb_cursor_close (c);
    MDB_val k2 = {18, key}, v2 = {v.mv_size, val};
    assert_int_equal (mdb_put (txn, dbi, &k2, &v2, 0), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    mdb_env_close (env);

    pingyi_shard_t *ro = pingyi_shard_open_readonly (fx->data, 0, fx->election, err);
    assert_non_null (ro); /* the cheap open check counts rows; the recount reads them */
    assert_int_equal (pingyi_shard_recount (ro, fx->keyring, fx->shard_sk, &rep, err), 0);
    assert_false (rep.ok);
    assert_false (rep.digest_ok);
    assert_int_equal (rep.failed, 1);
    assert_int_equal (rep.reopened, N - 1);
    assert_memory_not_equal (rep.digest, d, 32);
    pingyi_shard_close (&ro);
    fx->shard = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    assert_non_null (fx->shard);
    free (items);
    t_batch_free (&b);
}

/*  A shard of schema 2 (a `log` keyed by sequence, a hash chain) is refused
    at open, read-write and read-only, naming both schemas; so is a shard
    whose ids and figures disagree.  */
static void
test_schema_2_and_inconsistent_shards_are_refused (void **state)
{
    fx_t *fx = *state;
    char err[PINGYI_ERR_MAX];
    pingyi_ballot_t b;
    t_env_t env;
    t_random_ballot (fx, 0, &b);
    t_seal (fx, &env, 0, &b);
    assert_int_equal (t_one (fx, &env, "v01").status, PINGYI_ACK_ACCEPTED);
    pingyi_shard_close (&fx->shard);

    /* a schema-2 directory as release 2 made it: ids, log, counts, venues, meta */
    char old_data[200], path[256];
    snprintf (old_data, sizeof old_data, "%s/old", fx->dir);
    assert_int_equal (mkdir (old_data, 0700), 0);
    pingyi_shard_path (path, sizeof path, old_data, 0);
    assert_int_equal (mkdir (path, 0700), 0);
    MDB_env *menv;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal (mdb_env_create (&menv), 0);
    assert_int_equal (mdb_env_set_maxdbs (menv, 8), 0);
    assert_int_equal (mdb_env_open (menv, path, 0, 0600), 0);
    assert_int_equal (mdb_txn_begin (menv, NULL, 0, &txn), 0);
    const char *dbs[] = {"ids", "log", "counts", "venues", "meta"};
    for (int i = 0; i < 5; i++)
        assert_int_equal (mdb_dbi_open (txn, dbs[i], MDB_CREATE | (i == 1 ? MDB_INTEGERKEY : 0), &dbi), 0);
    uint8_t two[4] = {2, 0, 0, 0};
    MDB_val k = {6, "schema"}, v = {4, two};
    assert_int_equal (mdb_put (txn, dbi, &k, &v, 0), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    mdb_env_close (menv);
    pingyi_shard_t *s = pingyi_shard_open (old_data, 0, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    assert_null (s);
    assert_non_null (strstr (err, "storage schema 2, this worker reads schema 3"));
    s = pingyi_shard_open_readonly (old_data, 0, fx->election, err);
    assert_null (s);
    assert_non_null (strstr (err, "storage schema 2, this worker reads schema 3"));

    /* our own shard, its schema row set back to 2 */
    pingyi_shard_path (path, sizeof path, fx->data, 0);
    assert_int_equal (mdb_env_create (&menv), 0);
    assert_int_equal (mdb_env_set_maxdbs (menv, 8), 0);
    assert_int_equal (mdb_env_open (menv, path, 0, 0600), 0);
    assert_int_equal (mdb_txn_begin (menv, NULL, 0, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, "meta", 0, &dbi), 0);
    assert_int_equal (mdb_put (txn, dbi, &k, &v, 0), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    s = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    assert_null (s);
    assert_non_null (strstr (err, "storage schema 2, this worker reads schema 3"));

    /* schema 3 again, but an accepted ids row deleted: the open check */
    uint8_t three[4] = {3, 0, 0, 0};
    v.mv_data = three;
    assert_int_equal (mdb_txn_begin (menv, NULL, 0, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, "meta", 0, &dbi), 0);
    assert_int_equal (mdb_put (txn, dbi, &k, &v, 0), 0);
    assert_int_equal (mdb_dbi_open (txn, "ids", 0, &dbi), 0);
    uint8_t key[18] = {0, 0};
    memcpy (key + 2, env.bytes + 37, 16);
    MDB_val ik = {18, key};
    assert_int_equal (mdb_del (txn, dbi, &ik, NULL), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    mdb_env_close (menv);
    s = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    assert_null (s);
    assert_non_null (strstr (err, "ids holds 0 rows, meta says 1 accepted"));
}

/*  One writer per shard directory: while the shard is open, a second
    pingyi_shard_open of the same directory (here in the same process: flock
    locks belong to the open file, so two opens conflict like two processes)
    is refused with the exact message naming the holder's pid, and the first
    keeps working; after close it opens again.  The lock file is 0600 and
    holds the holder's pid.  A lock held elsewhere names that holder's pid;
    the read-only open takes no lock.  */
static void
test_second_writer_is_refused_by_the_lock (void **state)
{
    fx_t *fx = *state;
    char err[PINGYI_ERR_MAX], want[1024], dir[256], lock[300];
    pingyi_shard_path (dir, sizeof dir, fx->data, 0);
    snprintf (lock, sizeof lock, "%s/worker.lock", dir);

    /* the lock file: mode 0600, our pid */
    struct stat st;
    assert_int_equal (stat (lock, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    char text[64] = "", pid[32];
    snprintf (pid, sizeof pid, "%ld\n", (long) getpid ());
    FILE *f = fopen (lock, "r");
    assert_non_null (f);
    assert_non_null (fgets (text, sizeof text, f));
    fclose (f);
    assert_string_equal (text, pid);

    /* a second writer while the first is open */
    err[0] = 0;
    pingyi_shard_t *s = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    assert_null (s);
    snprintf (want, sizeof want, "%s: in use by another worker (pid %ld, %s): one worker per shard directory",
              dir, (long) getpid (), lock);
    assert_string_equal (err, want);

    /* the first is undisturbed */
    pingyi_ballot_t b;
    t_env_t env;
    t_random_ballot (fx, 0, &b);
    t_seal (fx, &env, 0, &b);
    assert_int_equal (t_one (fx, &env, "v01").status, PINGYI_ACK_ACCEPTED);

    /* after close: opens again, the pid rewritten */
    pingyi_shard_close (&fx->shard);
    f = fopen (lock, "w");
    assert_non_null (f);
    fputs ("1234567\n", f); /* longer than ours: the rewrite must cut it */
    fclose (f);
    fx->shard = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    if (!fx->shard)
        fprintf (stderr, "%s\n", err);
    assert_non_null (fx->shard);
    f = fopen (lock, "r");
    assert_non_null (f);
    assert_non_null (fgets (text, sizeof text, f));
    assert_null (fgets (text + strlen (text), (int) (sizeof text - strlen (text)), f));
    fclose (f);
    assert_string_equal (text, pid);
    assert_int_equal (t_one (fx, &env, "v01").status, PINGYI_ACK_DUPLICATE);
    pingyi_shard_close (&fx->shard);

    /* a lock held by someone else names that holder's pid; read-only opens */
    int fd = open (lock, O_RDWR | O_CLOEXEC);
    assert_true (fd >= 0);
    assert_int_equal (flock (fd, LOCK_EX | LOCK_NB), 0);
    assert_int_equal (ftruncate (fd, 0), 0);
    assert_int_equal (pwrite (fd, "4242\n", 5, 0), 5);
    s = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    assert_null (s);
    snprintf (want, sizeof want,
              "%s: in use by another worker (pid 4242, %s): one worker per shard directory", dir, lock);
    assert_string_equal (err, want);
    s = pingyi_shard_open_readonly (fx->data, 0, fx->election, err);
    if (!s)
        fprintf (stderr, "%s\n", err);
    assert_non_null (s);
    pingyi_shard_info_t info;
    assert_int_equal (pingyi_shard_info (s, &info, err), 0);
    assert_int_equal (info.current_sequence, 1);
    pingyi_shard_close (&s);
    close (fd); /* the holder goes away: the lock is free */
    fx->shard = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    if (!fx->shard)
        fprintf (stderr, "%s\n", err);
    assert_non_null (fx->shard);
}

/*  The hash table (the path of grids too large for GRID_MAX, and of keys a
    grid cannot place) writes the same counts rows as the grid: a batch
    counted through each, one after the other, into the same rows.  */
static void
test_hash_table_and_grid_write_the_same_rows (void **state)
{
    fx_t *fx = *state;
    enum { N = 200 };
    t_counts_t want = {0};
    t_batch_t b;
    t_make_batch (fx, &b, N, &want);
    pingyi_shard_item_t *items = calloc (N, sizeof *items);
    t_batch_items (fx, &b, 0, N, items);

    shard_grid_free (&fx->shard->grid); /* white box: as a shard whose grid would be too large */
    t_apply (fx, items, N / 2);
    assert_int_equal (fx->shard->deltas.used > 0, 1);
    t_counts_t half = {0};
    for (size_t i = 0; i < N / 2; i++)
        t_expect_ballot (fx, &half, b.venue[i], &b.ballots[i]);
    t_assert_counts (fx->shard, &half);

    assert_int_equal (
        shard_grid_init (&fx->shard->grid, fx->election, fx->shard->venue_of, fx->shard->slot_count), 0);
    t_apply (fx, items + N / 2, N / 2);
    t_assert_counts (fx->shard, &want);

    char err[PINGYI_ERR_MAX];
    pingyi_shard_recount_t rep;
    assert_int_equal (pingyi_shard_recount (fx->shard, fx->keyring, fx->shard_sk, &rep, err), 0);
    assert_true (rep.ok);
    assert_int_equal (rep.counters_differ, 0);
    assert_int_equal (rep.counters_checked, want.count);
    free (items);
    free (half.rows);
    free (want.rows);
    t_batch_free (&b);
}

/*  A counter at 2^32 - 1 cannot take one more: the batch fails with the
    reason, nothing of it is acknowledged or stored, and the shard stops.  */
static void
test_counter_that_would_overflow_fails_the_batch (void **state)
{
    fx_t *fx = *state;
    /* white box: v01's row for its first subject, cell (item 0, category 0, choice 0) */
    MDB_txn *txn;
    assert_int_equal (mdb_txn_begin (fx->shard->db.env, NULL, 0, &txn), 0);
    uint8_t k[ROW_KEY_LEN], row[4096];
    size_t row_len = fx->shard->row_cells * 4;
    assert_true (row_len <= sizeof row);
    pingyi_row_key_pack (0, (uint32_t) fx->election->venues[0].subjects[0], k);
    memset (row, 0, row_len);
    pingyi_put_le32 (row, UINT32_MAX);
    MDB_val key = {ROW_KEY_LEN, k}, val = {row_len, row};
    assert_int_equal (mdb_put (txn, fx->shard->counts, &key, &val, 0), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);

    pingyi_ballot_t b;
    pingyi_ballot_init (&b, fx->election, 0);
    b.category = 0;
    for (uint32_t i = 0; i < b.subject_count; i++)
        for (size_t j = 0; j < fx->election->item_count; j++)
            b.ticks[i][j] = 0x1;
    t_env_t env;
    t_seal (fx, &env, 0, &b);
    pingyi_shard_item_t item;
    t_items (&item, &env, 1, "v01");
    char err[PINGYI_ERR_MAX] = "";
    assert_int_equal (pingyi_shard_apply (fx->shard, &item, 1, err), -1);
    assert_non_null (strstr (err, "counter of venue v01, subject 0 would pass 2^32 - 1"));
    assert_true (pingyi_shard_stopped (fx->shard));
    pingyi_shard_info_t info;
    assert_int_equal (pingyi_shard_info (fx->shard, &info, NULL), 0);
    assert_int_equal (info.current_sequence, 0);
    pingyi_venue_figures_t f;
    t_figures (fx, 0, &f);
    assert_int_equal (f.accepted, 0);
}

/*  Refusals made before the envelope opens (here DECRYPT) and VENUE_CLOSED
    are remembered by the envelope's bytes: a resend, alone or several in
    one batch, is answered the same and counted as a duplicate, so
    `rejected` counts distinct refused envelopes.  The forgery does not burn
    its ballot id: a genuine ballot with that id is accepted.  The recount
    and the open check agree; beyond the cap a refusal counts per event.  */
static void
t_resend (fx_t *fx, const t_env_t *env, const char *sender, pingyi_reject_t code, size_t copies)
{
    pingyi_shard_item_t items[8];
    t_env_t *envs = calloc (copies, sizeof *envs);
    for (size_t i = 0; i < copies; i++)
        envs[i] = *env;
    t_items (items, envs, copies, sender);
    t_apply (fx, items, copies);
    for (size_t i = 0; i < copies; i++) {
        assert_int_equal (items[i].status, PINGYI_ACK_REJECTED);
        assert_int_equal (items[i].reason, code);
        assert_string_equal (items[i].receipt, "");
        assert_non_null (strstr (items[i].text, "resend of an envelope refused earlier"));
    }
    free (envs);
}

static void
t_recount_ok (fx_t *fx, uint64_t refused_rows)
{
    char err[PINGYI_ERR_MAX];
    pingyi_shard_recount_t rep;
    assert_int_equal (pingyi_shard_recount (fx->shard, fx->keyring, fx->shard_sk, &rep, err), 0);
    if (!rep.ok)
        fprintf (stderr, "recount: %s\n", rep.first_problem);
    assert_true (rep.ok);
    assert_true (rep.figures_ok);
    assert_int_equal (rep.refused_rows, refused_rows);
}

static void
test_refused_envelope_counts_once (void **state)
{
    fx_t *fx = *state;
    const pingyi_election_t *e = fx->election;
    char err[PINGYI_ERR_MAX];
    pingyi_ballot_t b;
    uint8_t body[PINGYI_BODY_MAX], id[PINGYI_BALLOT_ID_LEN];
    pingyi_venue_figures_t f;

    /* a forgery for v01 under another venue's key: DECRYPT */
    t_env_t forged;
    t_random_ballot (fx, 0, &b);
    size_t n = pingyi_ballot_encode (&b, e, body, sizeof body);
    randombytes_buf (id, sizeof id);
    t_seal_body_id (fx, &forged, e->fingerprint, e->venues[0].id, 1, id, body, n);
    t_expect_reject (fx, &forged, "v01", PINGYI_REJECT_DECRYPT);
    for (int i = 0; i < 4; i++)
        t_resend (fx, &forged, "v01", PINGYI_REJECT_DECRYPT, 1); /* 5 in separate batches */
    t_resend (fx, &forged, "v01", PINGYI_REJECT_DECRYPT, 3);     /* 3 in one batch */
    t_figures (fx, 0, &f);
    assert_int_equal (f.rejected, 1);
    assert_int_equal (f.rejected_by[PINGYI_REJECT_DECRYPT], 1);
    assert_int_equal (f.duplicates, 7);
    assert_int_equal (f.accepted, 0);
    /* the first of three in a new batch is the new one, the rest resends */
    t_env_t other;
    t_seal_body (fx, &other, e->fingerprint, e->venues[0].id, 2, body, n);
    pingyi_shard_item_t items[3];
    t_env_t three[3] = {other, other, other};
    t_items (items, three, 3, "v01");
    t_apply (fx, items, 3);
    assert_null (strstr (items[0].text, "resend"));
    assert_non_null (strstr (items[1].text, "resend"));
    t_figures (fx, 0, &f);
    assert_int_equal (f.rejected_by[PINGYI_REJECT_DECRYPT], 2);
    assert_int_equal (f.duplicates, 9);

    /* the genuine ballot with the forgery's id still counts */
    t_env_t genuine;
    t_seal_id (fx, &genuine, 0, &b, id);
    assert_int_equal (t_one (fx, &genuine, "v01").status, PINGYI_ACK_ACCEPTED);
    t_figures (fx, 0, &f);
    assert_int_equal (f.accepted, 1);

    /* VENUE_CLOSED likewise; a closed venue releases whenever its figures
       change, so the released figures show exactly the same */
    assert_int_equal (pingyi_shard_venue_close (fx->shard, 1, 5, 5, 5, NULL, err), 0);
    t_env_t late;
    t_random_ballot (fx, 1, &b);
    t_seal (fx, &late, 1, &b);
    t_expect_reject (fx, &late, e->venues[1].id, PINGYI_REJECT_VENUE_CLOSED);
    for (int i = 0; i < 4; i++)
        t_resend (fx, &late, e->venues[1].id, PINGYI_REJECT_VENUE_CLOSED, 1);
    t_resend (fx, &late, e->venues[1].id, PINGYI_REJECT_VENUE_CLOSED, 3);
    t_figures (fx, 1, &f);
    assert_int_equal (f.rejected, 1);
    assert_int_equal (f.rejected_by[PINGYI_REJECT_VENUE_CLOSED], 1);
    assert_int_equal (f.duplicates, 7);
    pingyi_shard_snapshot_t snap;
    assert_int_equal (pingyi_shard_snapshot (fx->shard, NULL, 0, &snap, err), 0);
    assert_int_equal (snap.venues[1].rejected, 1);
    assert_int_equal (snap.venues[1].duplicates, 7);
    pingyi_shard_snapshot_free (&snap);
    t_recount_ok (fx, 3);

    /* remembered across a reopen (the open check holds) */
    pingyi_shard_close (&fx->shard);
    fx->shard = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    assert_non_null (fx->shard);
    t_resend (fx, &other, "v01", PINGYI_REJECT_DECRYPT, 1);
    t_figures (fx, 0, &f);
    assert_int_equal (f.rejected_by[PINGYI_REJECT_DECRYPT], 2);
    assert_int_equal (f.duplicates, 10);

    /* at the cap: counted per event, and said so in the stats */
    pingyi_shard_set_refused_cap (fx->shard, 2);
    t_env_t over;
    t_seal_body (fx, &over, e->fingerprint, e->venues[0].id, 2, body, n);
    t_expect_reject (fx, &over, "v01", PINGYI_REJECT_DECRYPT);
    t_expect_reject (fx, &over, "v01", PINGYI_REJECT_DECRYPT);
    pingyi_shard_stats_t st;
    pingyi_shard_stats (fx->shard, &st);
    assert_int_equal (st.refusals_unstored, 2);
    t_figures (fx, 0, &f);
    assert_int_equal (f.rejected_by[PINGYI_REJECT_DECRYPT], 4);
    t_recount_ok (fx, 3);
    pingyi_shard_close (&fx->shard);
    fx->shard = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    assert_non_null (fx->shard);
    t_recount_ok (fx, 3);
}

/*  A schema-3 shard made before `refused` existed still opens: read-only
    without it, and the writer creates it, counting what came before as
    refusals without a row.  A `refused` row deleted behind the worker's
    back is found by the open check and by the recount.  */
static void
test_refused_db_added_to_an_older_shard (void **state)
{
    fx_t *fx = *state;
    const pingyi_election_t *e = fx->election;
    char err[PINGYI_ERR_MAX], path[256];
    pingyi_ballot_t b;
    uint8_t body[PINGYI_BODY_MAX];
    t_env_t forged;
    t_random_ballot (fx, 0, &b);
    size_t n = pingyi_ballot_encode (&b, e, body, sizeof body);
    t_seal_body (fx, &forged, e->fingerprint, e->venues[0].id, 1, body, n);
    t_expect_reject (fx, &forged, "v01", PINGYI_REJECT_DECRYPT);
    pingyi_shard_close (&fx->shard);

    /* as an older release left it: no `refused`, no accounting in meta */
    MDB_env *menv;
    MDB_txn *txn;
    MDB_dbi dbi;
    pingyi_shard_path (path, sizeof path, fx->data, 0);
    assert_int_equal (mdb_env_create (&menv), 0);
    assert_int_equal (mdb_env_set_maxdbs (menv, 8), 0);
    assert_int_equal (mdb_env_open (menv, path, 0, 0600), 0);
    assert_int_equal (mdb_txn_begin (menv, NULL, 0, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, "refused", 0, &dbi), 0);
    assert_int_equal (mdb_drop (txn, dbi, 1), 0);
    assert_int_equal (mdb_dbi_open (txn, "meta", 0, &dbi), 0);
    MDB_val k1 = {12, "refused_rows"}, k2 = {13, "refused_loose"};
    assert_int_equal (mdb_del (txn, dbi, &k1, NULL), 0);
    assert_int_equal (mdb_del (txn, dbi, &k2, NULL), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    mdb_env_close (menv);

    pingyi_shard_t *ro = pingyi_shard_open_readonly (fx->data, 0, fx->election, err);
    if (!ro)
        fprintf (stderr, "%s\n", err);
    assert_non_null (ro);
    pingyi_shard_recount_t rep;
    assert_int_equal (pingyi_shard_recount (ro, fx->keyring, fx->shard_sk, &rep, err), 0);
    assert_true (rep.ok);
    assert_int_equal (rep.refused_rows, 0);
    pingyi_shard_close (&ro);

    fx->shard = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    if (!fx->shard)
        fprintf (stderr, "%s\n", err);
    assert_non_null (fx->shard);
    t_recount_ok (fx, 0);
    /* the envelope refused before is new to `refused`: counted once more,
       then remembered */
    t_expect_reject (fx, &forged, "v01", PINGYI_REJECT_DECRYPT);
    t_resend (fx, &forged, "v01", PINGYI_REJECT_DECRYPT, 2);
    pingyi_venue_figures_t f;
    t_figures (fx, 0, &f);
    assert_int_equal (f.rejected_by[PINGYI_REJECT_DECRYPT], 2);
    assert_int_equal (f.duplicates, 2);
    t_recount_ok (fx, 1);
    pingyi_shard_close (&fx->shard);

    /* a refused row deleted: the open check refuses, the recount names it */
    assert_int_equal (mdb_env_create (&menv), 0);
    assert_int_equal (mdb_env_set_maxdbs (menv, 8), 0);
    assert_int_equal (mdb_env_open (menv, path, 0, 0600), 0);
    assert_int_equal (mdb_txn_begin (menv, NULL, 0, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, "refused", 0, &dbi), 0);
    assert_int_equal (mdb_drop (txn, dbi, 0), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    mdb_env_close (menv);
    pingyi_shard_t *s = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    assert_null (s);
    assert_non_null (strstr (err, "refused holds 0 rows, meta says 1"));
}

int
main (void)
{
    pingyi_log_prog = "test_shard";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_batch_counts_exactly_and_resend_is_duplicate, t_setup,
                                         t_teardown),
        cmocka_unit_test_setup_teardown (test_same_id_twice_in_one_batch_is_one_ballot, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_every_reject_code_has_its_path, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_blank_ballot_and_over_cell, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_venue_close_is_stored_and_closes_the_round, t_setup,
                                         t_teardown),
        cmocka_unit_test_setup_teardown (test_venue_reopen_is_stored_and_opens_the_round, t_setup,
                                         t_teardown),
        cmocka_unit_test_setup_teardown (test_map_full_grows_and_redoes_the_batch, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_reopen_persists_recount_and_digest_agree, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_log_is_in_key_order_not_in_order_of_voting, t_setup,
                                         t_teardown),
        cmocka_unit_test_setup_teardown (test_open_refuses_another_election_or_shard, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_snapshot_pages_through_all_counters, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_readonly_open_and_recount_detects_tampering, t_setup,
                                         t_teardown),
        cmocka_unit_test_setup_teardown (test_hostile_bytes_are_rejected_never_counted, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_hash_table_and_grid_write_the_same_rows, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_counter_that_would_overflow_fails_the_batch, t_setup,
                                         t_teardown),
        cmocka_unit_test (test_digest_matches_its_definition),
        cmocka_unit_test_setup_teardown (test_release_in_steps_of_k, t_setup_k3, t_teardown),
        cmocka_unit_test_setup_teardown (test_release_in_steps_of_k_hash_table, t_setup_k3, t_teardown),
        cmocka_unit_test_setup_teardown (test_figures_by_category, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_digest_recount_and_tampered_envelope, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_schema_2_and_inconsistent_shards_are_refused, t_setup,
                                         t_teardown),
        cmocka_unit_test_setup_teardown (test_second_writer_is_refused_by_the_lock, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_refused_envelope_counts_once, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_refused_db_added_to_an_older_shard, t_setup, t_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
