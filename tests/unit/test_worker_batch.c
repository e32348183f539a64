/*  test_worker_batch.c — one shard's batches and committer (worker/batch.h)
    against a real shard in a temp dir: a batch is committed when full or
    when its time has come, and not before; a request is never split; each
    request is answered once, after the commit, with its results in its own
    order (accepted, rejected, duplicate with the same or other bytes); a
    shard holds at most three batches and answers them in order; a drain
    (what a close does first) commits and answers everything pending; a
    destroyed batch releases what it held without answering it.

    The election is a generated one (drill/): one shard, one venue v1 with
    two subjects.  Envelopes are sealed here as a client seals them.  */
#define _GNU_SOURCE
#include "../../worker/batch.c"
#include "gen_election.h"

#include <ftw.h>
#include <sodium.h>
#include <sys/eventfd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define MAX_ENV 512
#define MAX_ANSWERS 32
#define MAX_ITEMS 8

typedef struct {
    uint8_t bytes[MAX_ENV];
    size_t len;
    uint8_t id[PINGYI_BALLOT_ID_LEN];
} t_env_t;

/*  What the callbacks saw.  */
typedef struct {
    int request;
    size_t count;
    pingyi_shard_item_t items[MAX_ITEMS];
} t_answer_t;

typedef struct {
    char dir[128];
    pingyi_election_t *election;
    pingyi_keyring_t *keyring;
    uint8_t shard_sk[32];
    uint8_t seal_key[32];
    pingyi_shard_t *store;
    pingyi_batch_config_t config;
    pingyi_batch_t *batch;
    int requests[MAX_ANSWERS]; /* request i is &requests[i] */
    t_answer_t answers[MAX_ANSWERS];
    size_t answer_count;
    int released[MAX_ANSWERS];
    size_t release_count;
} fx_t;

static void
t_answer (void *arg, void *request, const pingyi_shard_item_t *items, size_t count)
{
    fx_t *fx = arg;
    assert_true (fx->answer_count < MAX_ANSWERS);
    assert_true (count <= MAX_ITEMS);
    t_answer_t *a = &fx->answers[fx->answer_count++];
    a->request = *(int *) request;
    a->count = count;
    memcpy (a->items, items, count * sizeof *items);
    /* answered before it is released */
    for (size_t i = 0; i < fx->release_count; i++)
        assert_int_not_equal (fx->released[i], a->request);
}

static void
t_release (void *arg, void *request)
{
    fx_t *fx = arg;
    assert_true (fx->release_count < MAX_ANSWERS);
    fx->released[fx->release_count++] = *(int *) request;
}

static int
t_rm (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove (path);
}

/*  A shard and its batches: close at `limit` envelopes or `ms` after the
    first.  */
static fx_t *
t_open (size_t limit, int ms)
{
    assert_true (sodium_init () >= 0);
    fx_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    snprintf (fx->dir, sizeof fx->dir, "/tmp/pingyi-test-batch.XXXXXX");
    assert_non_null (mkdtemp (fx->dir));
    pingyi_gen_options_t o = {.districts = 1,
                              .venues_per_district = 1,
                              .subjects = 2,
                              .form_subjects = 2,
                              .items = 2,
                              .shards = 1,
                              .seed = 3};
    char *text = NULL, err[PINGYI_ERR_MAX];
    size_t len = 0;
    FILE *out = open_memstream (&text, &len);
    assert_non_null (out);
    assert_int_equal (pingyi_election_generate (&o, out, err), 0);
    fclose (out);
    fx->election = pingyi_election_parse ((const uint8_t *) text, len, NULL);
    free (text);
    assert_non_null (fx->election);
    assert_int_equal (fx->election->venue_count, 1);
    assert_string_equal (fx->election->venues[0].id, "v1");

    uint8_t shard_pk[32], curve_pk[32], curve_sk[32], venue_pk[32], venue_sk[32];
    crypto_box_keypair (shard_pk, fx->shard_sk);
    crypto_box_keypair (curve_pk, curve_sk);
    crypto_box_keypair (venue_pk, venue_sk);
    assert_int_equal (pingyi_envelope_key (fx->seal_key, shard_pk, venue_sk), 0);
    char path[256], c[65], b[65];
    snprintf (path, sizeof path, "%s/keyring.tsv", fx->dir);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    pingyi_hex (c, curve_pk, 32);
    pingyi_hex (b, venue_pk, 32);
    fprintf (f, "venue\tv1\t%s\t%s\n", c, b);
    fclose (f);
    fx->keyring = pingyi_keyring_load (path, err);
    assert_non_null (fx->keyring);
    snprintf (path, sizeof path, "%s/data", fx->dir);
    fx->store = pingyi_shard_open (path, 0, fx->election, fx->keyring, fx->shard_sk, 0, PINGYI_SHARD_CREATE, err);
    if (!fx->store)
        fprintf (stderr, "%s\n", err);
    assert_non_null (fx->store);

    for (int i = 0; i < MAX_ANSWERS; i++)
        fx->requests[i] = i;
    fx->config = (pingyi_batch_config_t){
        .limit = limit,
        .cap = limit > PINGYI_BATCH_MAX ? limit : PINGYI_BATCH_MAX,
        .ms = ms,
        .wake_fd = -1,
        .answer = t_answer,
        .release = t_release,
        .arg = fx,
    };
    fx->batch = pingyi_batch_new (&fx->config, 0, fx->store, err);
    assert_non_null (fx->batch);
    assert_int_equal (pingyi_batch_shard (fx->batch), 0);
    assert_ptr_equal (pingyi_batch_store (fx->batch), fx->store);
    return fx;
}

static void
t_close (fx_t *fx)
{
    pingyi_batch_destroy (&fx->batch);
    pingyi_batch_destroy (&fx->batch); /* safe twice */
    assert_null (fx->batch);
    pingyi_shard_close (&fx->store);
    pingyi_keyring_destroy (&fx->keyring);
    pingyi_election_destroy (&fx->election);
    if (fx->config.wake_fd >= 0)
        close (fx->config.wake_fd);
    nftw (fx->dir, t_rm, 16, FTW_DEPTH | FTW_PHYS);
    free (fx);
}

/*  A valid ballot of v1 sealed under ballot id `id` (NULL: a random one);
    grade is the mark of every cell (1: the first grade, 2: the second).  */
static void
t_seal (fx_t *fx, t_env_t *out, const uint8_t *id, uint32_t grade)
{
    pingyi_ballot_t ballot;
    pingyi_ballot_init (&ballot, fx->election, 0);
    ballot.category = 0;
    for (uint32_t i = 0; i < ballot.subject_count; i++)
        for (size_t j = 0; j < fx->election->item_count; j++)
            ballot.ticks[i][j] = grade;
    uint8_t body[PINGYI_BODY_MAX];
    size_t n = pingyi_ballot_encode (&ballot, fx->election, body, sizeof body);
    assert_true (n > 0);
    if (id)
        memcpy (out->id, id, sizeof out->id);
    else
        randombytes_buf (out->id, sizeof out->id);
    out->len = pingyi_envelope_seal (out->bytes, sizeof out->bytes, fx->election->fingerprint, "v1", 2,
                                     out->id, body, n, fx->seal_key);
    assert_true (out->len > 0);
}

/*  Add request r with envelopes envs[0..n) at now.  */
static void
t_add (fx_t *fx, int r, const t_env_t *envs, size_t n, int64_t now)
{
    pingyi_shard_item_t *it = pingyi_batch_add (fx->batch, &fx->requests[r], n, now);
    assert_non_null (it);
    for (size_t i = 0; i < n; i++) {
        it[i].envelope = envs[i].bytes;
        it[i].len = envs[i].len;
        it[i].sender = "v1";
        it[i].sender_len = 2;
    }
}

static void
t_fresh (fx_t *fx, t_env_t *envs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        t_seal (fx, &envs[i], NULL, 1);
}

/*  Request r's answer is answers[k]: n items, each accepted with its
    envelope's ballot id, in order.  */
static void
t_assert_accepted (const fx_t *fx, size_t k, int r, const t_env_t *envs, size_t n)
{
    assert_true (k < fx->answer_count);
    const t_answer_t *a = &fx->answers[k];
    assert_int_equal (a->request, r);
    assert_int_equal (a->count, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal (a->items[i].status, PINGYI_ACK_ACCEPTED);
        assert_memory_equal (a->items[i].ballot_id, envs[i].id, PINGYI_BALLOT_ID_LEN);
        assert_int_equal (strlen (a->items[i].receipt), PINGYI_RECEIPT_LEN);
    }
}

static uint64_t
t_accepted (fx_t *fx)
{
    pingyi_venue_figures_t f;
    assert_int_equal (pingyi_shard_venue_figures (fx->store, 0, &f), 0);
    return f.accepted;
}

static void
test_batch_is_committed_when_full_and_not_before (void **state)
{
    (void) state;
    fx_t *fx = t_open (4, 60000);
    fx->config.wake_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true (fx->config.wake_fd >= 0);
    t_env_t a[3], b[1];
    t_fresh (fx, a, 3);
    t_fresh (fx, b, 1);
    assert_int_equal (pingyi_batch_due (fx->batch), INT64_MAX); /* empty */
    t_add (fx, 0, a, 3, 1000);
    assert_int_equal (pingyi_batch_due (fx->batch), 1000 + 60000);
    pingyi_batch_service (fx->batch, 1000);
    pingyi_batch_wait_idle (fx->batch); /* nothing in flight: returns at once */
    assert_int_equal (pingyi_batch_waiting (fx->batch), 3);
    assert_int_equal (fx->answer_count, 0);
    assert_int_equal (t_accepted (fx), 0);

    t_add (fx, 1, b, 1, 1001); /* 4: full */
    assert_int_equal (pingyi_batch_waiting (fx->batch), 4);
    pingyi_batch_service (fx->batch, 1001);
    assert_int_equal (pingyi_batch_waiting (fx->batch), 0); /* with the committer */
    assert_int_equal (pingyi_batch_due (fx->batch), INT64_MAX);
    /* the committer says when it is done */
    uint64_t n = 0;
    for (int i = 0; i < 5000 && read (fx->config.wake_fd, &n, sizeof n) != sizeof n; i++)
        usleep (1000);
    assert_int_equal (n, 1);
    assert_int_equal (fx->answer_count, 0); /* answered only by the loop's call */
    pingyi_batch_service (fx->batch, 1002);
    assert_int_equal (fx->answer_count, 2);
    t_assert_accepted (fx, 0, 0, a, 3);
    t_assert_accepted (fx, 1, 1, b, 1);
    assert_int_equal (fx->release_count, 2);
    assert_int_equal (fx->released[0], 0);
    assert_int_equal (fx->released[1], 1);
    assert_int_equal (t_accepted (fx), 4);
    pingyi_shard_stats_t st;
    pingyi_shard_stats (fx->store, &st);
    assert_int_equal (st.batches, 1);
    assert_false (pingyi_batch_stopped (fx->batch));
    assert_int_equal (fx->config.uncommitted, 0);
    t_close (fx);
}

static void
test_batch_is_committed_after_its_time (void **state)
{
    (void) state;
    fx_t *fx = t_open (100, 50);
    t_env_t a[2], b[1];
    t_fresh (fx, a, 2);
    t_fresh (fx, b, 1);
    t_add (fx, 0, a, 2, 1000);
    t_add (fx, 1, b, 1, 1040); /* the clock runs from the first envelope */
    assert_int_equal (pingyi_batch_due (fx->batch), 1050);
    pingyi_batch_service (fx->batch, 1049);
    pingyi_batch_wait_idle (fx->batch);
    assert_int_equal (pingyi_batch_waiting (fx->batch), 3);
    assert_int_equal (fx->answer_count, 0);
    pingyi_batch_service (fx->batch, 1050);
    assert_int_equal (pingyi_batch_waiting (fx->batch), 0);
    pingyi_batch_wait_idle (fx->batch);
    assert_int_equal (fx->answer_count, 2);
    t_assert_accepted (fx, 0, 0, a, 2);
    t_assert_accepted (fx, 1, 1, b, 1);
    assert_int_equal (t_accepted (fx), 3);
    /* the next batch has a clock of its own */
    t_env_t c[1];
    t_fresh (fx, c, 1);
    t_add (fx, 2, c, 1, 5000);
    assert_int_equal (pingyi_batch_due (fx->batch), 5050);
    t_close (fx);
}

static void
test_batch_answers_each_request_with_its_results_in_order (void **state)
{
    (void) state;
    fx_t *fx = t_open (1000, 60000);
    t_env_t r0[3], r1[2], r2[1];
    t_seal (fx, &r0[0], NULL, 1);
    memset (&r0[1], 0, sizeof r0[1]);
    r0[1].len = 40; /* not an envelope */
    memset (r0[1].bytes, 0x5A, r0[1].len);
    t_seal (fx, &r0[2], NULL, 2);
    t_add (fx, 0, r0, 3, 0);
    pingyi_batch_drain (fx->batch);
    assert_int_equal (fx->answer_count, 1);
    const t_answer_t *a = &fx->answers[0];
    assert_int_equal (a->request, 0);
    assert_int_equal (a->count, 3);
    assert_int_equal (a->items[0].status, PINGYI_ACK_ACCEPTED);
    assert_memory_equal (a->items[0].ballot_id, r0[0].id, PINGYI_BALLOT_ID_LEN);
    assert_int_equal (a->items[1].status, PINGYI_ACK_REJECTED);
    assert_int_equal (a->items[1].reason, PINGYI_REJECT_BAD_ENVELOPE);
    assert_string_equal (a->items[1].receipt, "");
    assert_string_not_equal (a->items[1].text, "");
    assert_int_equal (a->items[2].status, PINGYI_ACK_ACCEPTED);
    assert_memory_equal (a->items[2].ballot_id, r0[2].id, PINGYI_BALLOT_ID_LEN);
    char first_receipt[PINGYI_RECEIPT_LEN + 1];
    memcpy (first_receipt, a->items[0].receipt, sizeof first_receipt);

    /* resends: the same bytes (SAME), then a new ballot, in one request;
       the first ballot's id with other bytes (DIFFERS) in another */
    r1[0] = r0[0];
    t_seal (fx, &r1[1], NULL, 1);
    t_seal (fx, &r2[0], r0[0].id, 2);
    t_add (fx, 1, r1, 2, 10);
    t_add (fx, 2, r2, 1, 11);
    pingyi_batch_drain (fx->batch);
    assert_int_equal (fx->answer_count, 3);
    a = &fx->answers[1];
    assert_int_equal (a->request, 1);
    assert_int_equal (a->count, 2);
    assert_int_equal (a->items[0].status, PINGYI_ACK_DUPLICATE);
    assert_int_equal (a->items[0].reason, PINGYI_DUPLICATE_SAME);
    assert_string_equal (a->items[0].receipt, first_receipt);
    assert_int_equal (a->items[1].status, PINGYI_ACK_ACCEPTED);
    assert_memory_equal (a->items[1].ballot_id, r1[1].id, PINGYI_BALLOT_ID_LEN);
    a = &fx->answers[2];
    assert_int_equal (a->request, 2);
    assert_int_equal (a->count, 1);
    assert_int_equal (a->items[0].status, PINGYI_ACK_DUPLICATE);
    assert_int_equal (a->items[0].reason, PINGYI_DUPLICATE_DIFFERS);
    assert_string_equal (a->items[0].receipt, first_receipt); /* the counted one's */
    assert_int_equal (fx->config.duplicates_differing, 1);
    assert_int_equal (t_accepted (fx), 3);
    assert_int_equal (fx->release_count, 3);
    t_close (fx);
}

static void
test_batch_never_splits_a_request (void **state)
{
    (void) state;
    fx_t *fx = t_open (4, 60000);
    t_env_t a[3], b[3];
    t_fresh (fx, a, 3);
    t_fresh (fx, b, 3);
    t_add (fx, 0, a, 3, 0);
    t_add (fx, 1, b, 3, 0); /* 3 + 3 > 4: the first batch closes first */
    assert_int_equal (pingyi_batch_waiting (fx->batch), 3);
    pingyi_batch_drain (fx->batch);
    assert_int_equal (fx->answer_count, 2);
    t_assert_accepted (fx, 0, 0, a, 3);
    t_assert_accepted (fx, 1, 1, b, 3);
    pingyi_shard_stats_t st;
    pingyi_shard_stats (fx->store, &st);
    assert_int_equal (st.batches, 2);
    /* one request larger than the limit goes whole, alone */
    t_env_t c[6];
    t_fresh (fx, c, 6);
    t_add (fx, 2, c, 6, 0);
    pingyi_batch_drain (fx->batch);
    t_assert_accepted (fx, 2, 2, c, 6);
    pingyi_shard_stats (fx->store, &st);
    assert_int_equal (st.batches, 3);
    t_close (fx);
}

static void
test_batch_holds_three_batches_and_answers_them_in_order (void **state)
{
    (void) state;
    fx_t *fx = t_open (2, 60000);
    t_env_t a[2], b[1], c[2], d[2];
    t_fresh (fx, a, 2);
    t_fresh (fx, b, 1);
    t_fresh (fx, c, 2);
    t_fresh (fx, d, 2);
    t_add (fx, 0, a, 2, 0);
    pingyi_batch_service (fx->batch, 0); /* a: with the committer */
    t_add (fx, 1, b, 1, 0);
    t_add (fx, 2, c, 2, 0); /* b closes: ready behind a */
    assert_int_equal (pingyi_batch_waiting (fx->batch), 3);
    assert_int_equal (fx->answer_count, 0); /* only the loop answers, and it has not looked */
    t_add (fx, 3, d, 2, 0);                 /* c closes: the shard is two behind, so a is waited for */
    assert_true (fx->answer_count >= 1);
    assert_int_equal (fx->answers[0].request, 0);
    assert_int_equal (pingyi_batch_waiting (fx->batch), 4); /* c ready, d filling; b committing */
    /* a close drains: everything before it committed and answered */
    pingyi_batch_drain (fx->batch);
    assert_int_equal (pingyi_batch_waiting (fx->batch), 0);
    assert_int_equal (fx->answer_count, 4);
    t_assert_accepted (fx, 0, 0, a, 2);
    t_assert_accepted (fx, 1, 1, b, 1);
    t_assert_accepted (fx, 2, 2, c, 2);
    t_assert_accepted (fx, 3, 3, d, 2);
    assert_int_equal (t_accepted (fx), 7);
    pingyi_shard_stats_t st;
    pingyi_shard_stats (fx->store, &st);
    assert_int_equal (st.batches, 4);
    t_close (fx);
}

static void
test_batch_drain_commits_what_is_pending_before_a_close (void **state)
{
    (void) state;
    fx_t *fx = t_open (1000, 60000);
    t_env_t a[5];
    t_fresh (fx, a, 5);
    t_add (fx, 0, a, 2, 0);
    t_add (fx, 1, a + 2, 3, 0);
    pingyi_batch_service (fx->batch, 1); /* neither full nor due */
    assert_int_equal (pingyi_batch_waiting (fx->batch), 5);
    pingyi_batch_drain (fx->batch);
    assert_int_equal (pingyi_batch_waiting (fx->batch), 0);
    assert_int_equal (fx->answer_count, 2);
    t_assert_accepted (fx, 0, 0, a, 2);
    t_assert_accepted (fx, 1, 1, a + 2, 3);
    /* the shard is idle: the close sees every ballot */
    pingyi_venue_figures_t f;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_shard_venue_close (fx->store, 0, 5, 5, 5, &f, err), 0);
    assert_int_equal (f.accepted, 5);
    assert_true (f.closed);
    pingyi_batch_drain (fx->batch); /* nothing pending: returns */
    assert_int_equal (fx->answer_count, 2);
    t_close (fx);
}

static void
test_batch_destroy_releases_unanswered (void **state)
{
    (void) state;
    fx_t *fx = t_open (1000, 60000);
    t_env_t a[2];
    t_fresh (fx, a, 2);
    t_add (fx, 0, a, 1, 0);
    t_add (fx, 1, a + 1, 1, 0);
    pingyi_batch_destroy (&fx->batch);
    assert_int_equal (fx->answer_count, 0);
    assert_int_equal (fx->release_count, 2);
    assert_int_equal (fx->released[0], 0);
    assert_int_equal (fx->released[1], 1);
    assert_int_equal (t_accepted (fx), 0);
    t_close (fx);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_batch_is_committed_when_full_and_not_before),
        cmocka_unit_test (test_batch_is_committed_after_its_time),
        cmocka_unit_test (test_batch_answers_each_request_with_its_results_in_order),
        cmocka_unit_test (test_batch_never_splits_a_request),
        cmocka_unit_test (test_batch_holds_three_batches_and_answers_them_in_order),
        cmocka_unit_test (test_batch_drain_commits_what_is_pending_before_a_close),
        cmocka_unit_test (test_batch_destroy_releases_unanswered),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
