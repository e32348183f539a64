/*  test_shard.c — the shard applies ballots exactly once, counts them
    exactly, refuses each kind of bad envelope with its code, survives a full
    map, persists across reopen, and its log recounts and re-chains to what
    it stored.

    Expectations are computed here by the test's own loop over the ticks it
    chose (not by pingyi_ballot_count), and the chain by hashing the log
    with one-shot SHA-256 (not by the shard's streaming helper).  The
    election is a tiny definition written below: 2 shards, venues v01 and
    v02 on shard 0, v03 on shard 1.  */
#include "../../worker/shard.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ftw.h>
#include <unistd.h>

static const char *DEFINITION_FMT =
    "{\n"
    "  \"version\": 1, \"id\": \"%s\", \"title\": \"shard test\", \"shards\": 2,\n"
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
    uint8_t election_pk[32], election_sk[32];
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

static pingyi_election_t *
t_parse (const char *id)
{
    char text[4096];
    int n = snprintf (text, sizeof text, DEFINITION_FMT, id);
    assert_true (n > 0 && (size_t) n < sizeof text);
    pingyi_errlist_t errs = {0};
    pingyi_election_t *e = pingyi_election_parse ((const uint8_t *) text, (size_t) n, &errs);
    for (size_t i = 0; i < errs.count; i++)
        fprintf (stderr, "definition: %s\n", errs.lines[i]);
    pingyi_errlist_clear (&errs);
    assert_non_null (e);
    return e;
}

static int
t_setup (void **state)
{
    assert_true (sodium_init () >= 0);
    fx_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    snprintf (fx->dir, sizeof fx->dir, "/tmp/pingyi-test-shard.XXXXXX");
    assert_non_null (mkdtemp (fx->dir));
    snprintf (fx->data, sizeof fx->data, "%s/data", fx->dir);
    fx->election = t_parse ("shard-test");
    assert_int_equal (fx->election->venue_count, VENUES);
    assert_int_equal (fx->election->venues[0].shard, 0);
    assert_int_equal (fx->election->venues[1].shard, 0);
    assert_int_equal (fx->election->venues[2].shard, 1);

    crypto_box_keypair (fx->election_pk, fx->election_sk);
    char path[256];
    snprintf (path, sizeof path, "%s/keyring.tsv", fx->dir);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fprintf (f, "# test keyring\n");
    for (int v = 0; v < VENUES; v++) {
        uint8_t curve_pk[32], curve_sk[32];
        crypto_box_keypair (curve_pk, curve_sk);
        crypto_box_keypair (fx->venue_pk[v], fx->venue_sk[v]);
        assert_int_equal (pingyi_envelope_key (fx->seal_key[v], fx->election_pk, fx->venue_sk[v]), 0);
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
    fx->shard = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->election_sk, 0, err);
    if (!fx->shard)
        fprintf (stderr, "%s\n", err);
    assert_non_null (fx->shard);
    *state = fx;
    return 0;
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

static size_t
t_seal_body (fx_t *fx, t_env_t *out, const uint8_t *fp, const char *venue_id, int key_of, const uint8_t *body,
             size_t body_len)
{
    uint8_t id[PINGYI_BALLOT_ID_LEN];
    randombytes_buf (id, sizeof id);
    out->len = pingyi_envelope_seal (out->bytes, sizeof out->bytes, fp, venue_id, strlen (venue_id), id, body,
                                     body_len, fx->seal_key[key_of]);
    assert_true (out->len > 0);
    return out->len;
}

static void
t_seal (fx_t *fx, t_env_t *out, int v, const pingyi_ballot_t *b)
{
    uint8_t body[PINGYI_BODY_MAX];
    size_t n = pingyi_ballot_encode (b, fx->election, body, sizeof body);
    assert_true (n > 0);
    t_seal_body (fx, out, fx->election->fingerprint, fx->election->venues[v].id, v, body, n);
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

static int
t_collect_counter (const uint8_t key[8], uint64_t count, void *arg)
{
    t_counts_add (arg, key, count);
    return 0;
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
    assert_int_equal (pingyi_shard_foreach_counter (shard, t_collect_counter, &have, err), 0);
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
    assert_int_equal (info.sequence, N);

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
    /* whichever copy the shuffle applied first is accepted, the other is
       its duplicate; both carry the same receipt */
    assert_true ((items[0].status == PINGYI_ACK_ACCEPTED && items[2].status == PINGYI_ACK_DUPLICATE) ||
                 (items[0].status == PINGYI_ACK_DUPLICATE && items[2].status == PINGYI_ACK_ACCEPTED));
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
    assert_int_equal (pingyi_shard_foreach_counter (fx->shard, t_collect_counter, &have, NULL), 0);
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
    assert_int_equal (pingyi_shard_venue_close (fx->shard, 0, 120, 118, 1, &f, err), 0);
    assert_true (f.closed);
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
    fx->shard = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->election_sk, 0, err);
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
    fx->shard = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->election_sk, 64 << 10, err);
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
    assert_int_equal (pingyi_shard_recount (fx->shard, fx->keyring, fx->election_sk, &rep, err), 0);
    if (!rep.ok)
        fprintf (stderr, "recount: %s\n", rep.first_problem);
    assert_true (rep.ok);
    assert_int_equal (rep.log_entries, N);
    free (items);
    free (want.rows);
    t_batch_free (&b);
}

/*  Everything the log holds, in key order.  */
typedef struct {
    uint64_t count;
    uint64_t last;
    uint8_t chain[32];
    t_batch_t *batch;
    bool *seen;
} t_log_t;

static int
t_log_walk (uint64_t seq, const uint8_t *env, size_t len, void *arg)
{
    t_log_t *l = arg;
    l->count++;
    assert_int_equal (seq, l->last + 1);
    l->last = seq;
    /* one-shot SHA-256 over prev || seq BE || envelope */
    uint8_t *buf = malloc (32 + 8 + len);
    assert_non_null (buf);
    memcpy (buf, l->chain, 32);
    for (int i = 0; i < 8; i++)
        buf[32 + i] = (uint8_t) (seq >> (56 - 8 * i));
    memcpy (buf + 40, env, len);
    crypto_hash_sha256 (l->chain, buf, 40 + len);
    free (buf);
    if (l->batch) {
        bool found = false;
        for (size_t i = 0; i < l->batch->n && !found; i++)
            if (l->batch->envs[i].len == len && memcmp (l->batch->envs[i].bytes, env, len) == 0) {
                assert_false (l->seen[i]);
                l->seen[i] = found = true;
            }
        assert_true (found);
    }
    return 0;
}

static void
test_reopen_persists_recount_and_chain_agree (void **state)
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
    assert_int_equal (before.sequence, N);

    /* the chain, recomputed independently over the log; the log holds
       exactly the accepted envelopes, each once */
    t_log_t log = {.batch = &b, .seen = calloc (N, sizeof (bool))};
    assert_int_equal (pingyi_shard_foreach_log (fx->shard, t_log_walk, &log, err), 0);
    assert_int_equal (log.count, N);
    for (size_t i = 0; i < N; i++)
        assert_true (log.seen[i]);
    assert_memory_equal (log.chain, before.chain, 32);

    /* reopen: sequence, chain, counters and figures persist */
    pingyi_venue_figures_t f0;
    t_figures (fx, 0, &f0);
    pingyi_shard_close (&fx->shard);
    fx->shard = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->election_sk, 0, err);
    assert_non_null (fx->shard);
    pingyi_shard_info_t after;
    assert_int_equal (pingyi_shard_info (fx->shard, &after, err), 0);
    assert_int_equal (after.sequence, N);
    assert_memory_equal (after.chain, before.chain, 32);
    t_assert_counts (fx->shard, &want);
    pingyi_venue_figures_t g0;
    t_figures (fx, 0, &g0);
    assert_memory_equal (&f0, &g0, sizeof f0);

    /* a resend after the restart is still a duplicate */
    t_batch_items (fx, &b, 0, 10, items);
    t_apply (fx, items, 10);
    for (size_t i = 0; i < 10; i++)
        assert_int_equal (items[i].status, PINGYI_ACK_DUPLICATE);

    /* recount from the log equals counts, chain and figures */
    pingyi_shard_recount_t rep;
    assert_int_equal (pingyi_shard_recount (fx->shard, fx->keyring, fx->election_sk, &rep, err), 0);
    if (!rep.ok)
        fprintf (stderr, "recount: %s\n", rep.first_problem);
    assert_true (rep.ok);
    assert_int_equal (rep.log_entries, N);
    assert_int_equal (rep.reopened, N);
    assert_int_equal (rep.ids_accepted, N);
    assert_true (rep.counters_checked > 0);
    assert_int_equal (rep.counters_differ, 0);
    assert_memory_equal (rep.chain, before.chain, 32);

    free (log.seen);
    free (items);
    free (want.rows);
    t_batch_free (&b);
}

/*  Ids rows in key order carry their log sequences, each pointing at that
    ballot's own envelope in the log; the sequence of the i-th ballot
    submitted must not simply be i.  */
typedef struct {
    t_batch_t *batch;
    uint64_t *seq_of; /* per submitted ballot */
} t_ids_t;

static int
t_ids_walk (const pingyi_shard_id_t *row, void *arg)
{
    t_ids_t *x = arg;
    for (size_t i = 0; i < x->batch->n; i++) {
        const t_env_t *e = &x->batch->envs[i];
        if ((int) row->venue == x->batch->venue[i] && memcmp (e->bytes + 37, row->ballot_id, 16) == 0) {
            assert_int_equal (row->status, PINGYI_ACK_ACCEPTED);
            x->seq_of[i] = row->sequence;
        }
    }
    return 0;
}

typedef struct {
    const t_batch_t *envs;
    const uint64_t *seq_of;
    bool *seen;
    size_t count;
} t_idlog_t;

static int
t_idlog_matches (uint64_t sequence, const uint8_t *envelope, size_t len, void *arg)
{
    t_idlog_t *l = arg;
    size_t i = 0;
    while (i < l->envs->n && l->seq_of[i] != sequence)
        i++;
    assert_true (i < l->envs->n);
    assert_false (l->seen[sequence]);
    l->seen[sequence] = true;
    assert_int_equal (len, l->envs->envs[i].len);
    assert_memory_equal (envelope, l->envs->envs[i].bytes, len);
    l->count++;
    return 0;
}

static void
test_log_order_does_not_follow_submission_order (void **state)
{
    fx_t *fx = *state;
    enum { N = 200 };
    t_batch_t b;
    t_make_batch (fx, &b, N, NULL);
    pingyi_shard_item_t *items = calloc (N, sizeof *items);
    t_batch_items (fx, &b, 0, N, items);
    t_apply (fx, items, N);
    t_ids_t x = {&b, calloc (N, sizeof (uint64_t))};
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_shard_foreach_id (fx->shard, t_ids_walk, &x, err), 0);
    size_t in_place = 0;
    bool used[N + 1] = {false};
    for (size_t i = 0; i < N; i++) {
        assert_true (x.seq_of[i] >= 1 && x.seq_of[i] <= N);
        assert_false (used[x.seq_of[i]]);
        used[x.seq_of[i]] = true;
        in_place += x.seq_of[i] == i + 1;
    }
    /* a uniform shuffle leaves about one in place; identity is 1/200! */
    assert_true (in_place < N / 4);
    /* the log entry an ids row names is that ballot's envelope, byte for byte */
    t_idlog_t log = {.seen = calloc (N + 1, sizeof (bool))};
    log.envs = &b;
    log.seq_of = x.seq_of;
    assert_int_equal (pingyi_shard_foreach_log (fx->shard, t_idlog_matches, &log, err), 0);
    assert_int_equal (log.count, N);
    free (log.seen);
    free (x.seq_of);
    free (items);
    t_batch_free (&b);
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
    pingyi_shard_t *s = pingyi_shard_open (fx->data, 0, other, fx->keyring, fx->election_sk, 0, err);
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
    s = pingyi_shard_open (fx->data, 1, fx->election, fx->keyring, fx->election_sk, 0, err);
    assert_null (s);
    assert_non_null (strstr (err, "holds shard 0 of 2"));
    assert_int_equal (rename (to, from), 0);

    /* a shard outside the election */
    s = pingyi_shard_open (fx->data, 2, fx->election, fx->keyring, fx->election_sk, 0, err);
    assert_null (s);
    /* read-only on a missing directory */
    s = pingyi_shard_open_readonly (fx->data, 1, fx->election, err);
    assert_null (s);
    assert_non_null (strstr (err, "no such shard directory"));

    fx->shard = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->election_sk, 0, err);
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
    uint8_t from[8] = {0};
    pingyi_shard_info_t info;
    assert_int_equal (pingyi_shard_info (fx->shard, &info, err), 0);
    for (;;) {
        pingyi_shard_snapshot_t snap;
        assert_int_equal (pingyi_shard_snapshot (fx->shard, pages ? from : NULL, 7, &snap, err), 0);
        pages++;
        assert_int_equal (snap.venue_count, 2); /* v01, v02 */
        assert_int_equal (snap.venues[0].venue, 0);
        assert_int_equal (snap.venues[1].venue, 1);
        assert_int_equal (snap.venues[0].accepted + snap.venues[1].accepted, N);
        assert_int_equal (snap.info.sequence, N);
        assert_memory_equal (snap.info.chain, info.chain, 32);
        assert_true (snap.counter_count <= 7);
        for (size_t i = 0; i < snap.counter_count; i++, got++) {
            assert_true (got < want.count);
            assert_memory_equal (snap.counters[i].key, want.rows[got].key, 8);
            assert_int_equal (snap.counters[i].count, want.rows[got].count);
        }
        bool more = snap.more;
        if (more) {
            assert_int_equal (snap.counter_count, 7);
            memcpy (from, snap.next, 8);
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
    assert_int_equal (pingyi_shard_recount (ro, fx->keyring, fx->election_sk, &rep, err), 0);
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
    assert_int_equal (pingyi_shard_recount (ro, fx->keyring, fx->election_sk, &rep, err), 0);
    assert_false (rep.ok);
    assert_int_equal (rep.counters_differ, 1);
    assert_true (rep.chain_ok);
    assert_true (rep.sequence_ok);
    assert_non_null (strstr (rep.first_problem, "stored"));
    pingyi_shard_close (&ro);

    fx->shard = pingyi_shard_open (fx->data, 0, fx->election, fx->keyring, fx->election_sk, 0, err);
    assert_non_null (fx->shard);
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
    assert_int_equal (info.sequence, 0);
    t_counts_t none = {0};
    t_assert_counts (fx->shard, &none);
    pingyi_venue_figures_t f;
    t_figures (fx, 0, &f);
    assert_int_equal (f.rejected + info.orphan_rejected, N);
    /* the good one still goes in */
    assert_int_equal (t_one (fx, &good, "v01").status, PINGYI_ACK_ACCEPTED);
    free (items);
    free (envs);
}

static void
test_chain_step_matches_definition (void **state)
{
    (void) state;
    uint8_t prev[32] = {0}, next[32], want[32];
    const uint8_t env[] = "envelope bytes";
    uint8_t buf[32 + 8 + sizeof env];
    memcpy (buf, prev, 32);
    const uint8_t seq_be[8] = {0, 0, 0, 0, 0, 0, 0x01, 0x02};
    memcpy (buf + 32, seq_be, 8);
    memcpy (buf + 40, env, sizeof env);
    crypto_hash_sha256 (want, buf, sizeof buf);
    pingyi_shard_chain_step (next, prev, 0x0102, env, sizeof env);
    assert_memory_equal (next, want, 32);
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

    grid_free (&fx->shard->grid); /* white box: as a shard whose grid would be too large */
    t_apply (fx, items, N / 2);
    assert_int_equal (fx->shard->deltas.used > 0, 1);
    t_counts_t half = {0};
    for (size_t i = 0; i < N / 2; i++)
        t_expect_ballot (fx, &half, b.venue[i], &b.ballots[i]);
    t_assert_counts (fx->shard, &half);

    assert_int_equal (grid_init (&fx->shard->grid, fx->election, fx->shard->venue_of, fx->shard->slot_count),
                      0);
    t_apply (fx, items + N / 2, N / 2);
    t_assert_counts (fx->shard, &want);

    char err[PINGYI_ERR_MAX];
    pingyi_shard_recount_t rep;
    assert_int_equal (pingyi_shard_recount (fx->shard, fx->keyring, fx->election_sk, &rep, err), 0);
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
    assert_int_equal (mdb_txn_begin (fx->shard->env, NULL, 0, &txn), 0);
    uint8_t k[ROW_KEY_LEN], row[4096];
    size_t row_len = fx->shard->row_cells * 4;
    assert_true (row_len <= sizeof row);
    row_key (k, 0, (uint32_t) fx->election->venues[0].subjects[0]);
    memset (row, 0, row_len);
    put_le32 (row, UINT32_MAX);
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
    assert_int_equal (info.sequence, 0);
    pingyi_venue_figures_t f;
    t_figures (fx, 0, &f);
    assert_int_equal (f.accepted, 0);
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
        cmocka_unit_test_setup_teardown (test_map_full_grows_and_redoes_the_batch, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_reopen_persists_recount_and_chain_agree, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_log_order_does_not_follow_submission_order, t_setup,
                                         t_teardown),
        cmocka_unit_test_setup_teardown (test_open_refuses_another_election_or_shard, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_snapshot_pages_through_all_counters, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_readonly_open_and_recount_detects_tampering, t_setup,
                                         t_teardown),
        cmocka_unit_test_setup_teardown (test_hostile_bytes_are_rejected_never_counted, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_hash_table_and_grid_write_the_same_rows, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown (test_counter_that_would_overflow_fails_the_batch, t_setup,
                                         t_teardown),
        cmocka_unit_test (test_chain_step_matches_definition),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
