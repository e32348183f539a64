/*  test_generate.c — the drill generator (drill/generate.c): the same seed
    gives the same ballots (whatever N, so a restart re-creates the same
    prefix); the expected tally it writes equals a tally this test computes
    itself from the ballots; every ballot validates; the mix holds BLANK
    cells, OVER cells and blank ballots.  */
#include "../../drill/generate.c"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

/*  Three items, one of them "choose up to 2 of 3"; the venue's form lists
    s03 before s01, so the tally's order (by subject index) is not the
    form's.  */
static const char *DEFINITION =
    "{\n"
    "  \"version\": 1, \"id\": \"gen\", \"title\": \"gen\", \"shards\": 2,\n"
    "  \"grades\": [\n"
    "    {\"label\": \"好\", \"letter\": \"A\", \"points\": 100, \"favourable\": true},\n"
    "    {\"label\": \"较好\", \"letter\": \"B\", \"points\": 80, \"favourable\": true},\n"
    "    {\"label\": \"一般\", \"letter\": \"C\", \"points\": 60},\n"
    "    {\"label\": \"差\", \"letter\": \"D\", \"points\": 0, \"unfavourable\": true}\n"
    "  ],\n"
    "  \"choice_sets\": [\n"
    "    {\"id\": \"abc\", \"choices\": [{\"label\": \"甲\", \"points\": 1}, {\"label\": \"乙\", \"points\": "
    "1},\n"
    "                               {\"label\": \"丙\", \"points\": 1}]}\n"
    "  ],\n"
    "  \"items\": [\n"
    "    {\"id\": \"overall\", \"name\": \"总体评价\", \"overall\": true},\n"
    "    {\"id\": \"item2\", \"name\": \"单项二\"},\n"
    "    {\"id\": \"pick2\", \"name\": \"选二\", \"choice_set\": \"abc\", \"max_choices\": 2}\n"
    "  ],\n"
    "  \"categories\": [\n"
    "    {\"id\": \"c1\", \"name\": \"领导班子成员\", \"weight\": 0.4},\n"
    "    {\"id\": \"c2\", \"name\": \"中层干部\", \"weight\": 0.3},\n"
    "    {\"id\": \"c3\", \"name\": \"服务对象\", \"weight\": 0.3}\n"
    "  ],\n"
    "  \"districts\": [{\"id\": \"d1\", \"name\": \"一区\"}],\n"
    "  \"units\": [{\"id\": \"u1\", \"name\": \"一镇\", \"kind\": \"town\", \"district\": \"d1\"}],\n"
    "  \"subjects\": [\n"
    "    {\"id\": \"s01\", \"name\": \"甲\", \"unit\": \"u1\"},\n"
    "    {\"id\": \"s02\", \"name\": \"乙\", \"unit\": \"u1\"},\n"
    "    {\"id\": \"s03\", \"name\": \"丙\", \"unit\": \"u1\"}\n"
    "  ],\n"
    "  \"venues\": [\n"
    "    {\"id\": \"v01\", \"name\": \"一\", \"district\": \"d1\", \"subjects\": [\"s03\", \"s01\"]},\n"
    "    {\"id\": \"v02\", \"name\": \"二\", \"district\": \"d1\", \"subjects\": [\"s02\", \"s01\", "
    "\"s03\"]}\n"
    "  ]\n"
    "}\n";

#define N 6000

static pingyi_election_t *s_election;

static int
setup (void **state)
{
    pingyi_errlist_t errs = {0};
    s_election = pingyi_election_parse ((const uint8_t *) DEFINITION, strlen (DEFINITION), &errs);
    for (size_t i = 0; i < errs.count; i++)
        fprintf (stderr, "definition: %s\n", errs.lines[i]);
    pingyi_errlist_clear (&errs);
    return s_election ? 0 : -1;
}

static int
teardown (void **state)
{
    pingyi_election_destroy (&s_election);
    return 0;
}

/*  All ballots of one generator run.  */
static pingyi_ballot_t *
generate (size_t venue, uint64_t seed, uint64_t count, uint8_t digest[PINGYI_GEN_DIGEST_LEN])
{
    pingyi_generator_t *gen = pingyi_generator_new (s_election, venue, seed, count);
    assert_non_null (gen);
    pingyi_ballot_t *b = calloc (count + 1, sizeof *b);
    assert_non_null (b);
    uint64_t n = 0;
    while (pingyi_generator_next (gen, &b[n]))
        n++;
    assert_int_equal (n, count);
    assert_int_equal (pingyi_generator_produced (gen), count);
    assert_false (pingyi_generator_next (gen, &b[n]));
    if (digest)
        pingyi_generator_digest (gen, digest);
    pingyi_generator_destroy (&gen);
    assert_null (gen);
    return b;
}

static void
test_same_seed_same_ballots (void **state)
{
    uint8_t d1[32], d2[32], d3[32];
    pingyi_ballot_t *a = generate (0, 7, N, d1);
    pingyi_ballot_t *b = generate (0, 7, N, d2);
    assert_memory_equal (a, b, N * sizeof *a);
    assert_memory_equal (d1, d2, 32);

    /*  A shorter run is a prefix of a longer one: ballot k depends on k only.  */
    pingyi_ballot_t *prefix = generate (0, 7, 100, d3);
    assert_memory_equal (a, prefix, 100 * sizeof *a);
    assert_memory_not_equal (d1, d3, 32);

    /*  Another seed, or another venue with the same seed, is another stream.  */
    pingyi_ballot_t *other = generate (0, 8, N, d3);
    assert_memory_not_equal (a, other, N * sizeof *a);
    assert_memory_not_equal (d1, d3, 32);
    free (other);
    other = generate (1, 7, 100, NULL);
    assert_int_equal (other[0].subject_count, 3);
    free (other);
    free (a);
    free (b);
    free (prefix);
}

/*  The test's own count: marks decided here from the masks, without the
    generator's bookkeeping or the model's counting.  */
typedef struct {
    uint64_t counts[3][3][3][256]; /* [subject index][item][category][mark] */
    uint64_t blank_ballots;
    uint64_t blank_cells, over_cells;
} tally_t;

static void
own_tally (const pingyi_ballot_t *b, size_t n, tally_t *t)
{
    memset (t, 0, sizeof *t);
    for (size_t k = 0; k < n; k++) {
        bool any = false;
        for (uint32_t s = 0; s < b[k].subject_count; s++)
            for (size_t i = 0; i < s_election->item_count; i++) {
                uint32_t mask = b[k].ticks[s][i];
                unsigned ticks = 0;
                for (int bit = 0; bit < 32; bit++)
                    ticks += (mask >> bit) & 1;
                uint64_t *row = t->counts[b[k].subjects[s]][i][b[k].category];
                any |= mask != 0;
                if (ticks == 0) {
                    row[PINGYI_MARK_BLANK]++;
                    t->blank_cells++;
                }
                else if (ticks > s_election->items[i].max_choices) {
                    row[PINGYI_MARK_OVER]++;
                    t->over_cells++;
                }
                else
                    for (int bit = 0; bit < 32; bit++)
                        if (mask >> bit & 1)
                            row[bit]++;
            }
        t->blank_ballots += !any;
    }
}

static void
count_fn (const pingyi_counter_key_t *key, void *arg)
{
    tally_t *t = arg;
    t->counts[key->subject][key->item][key->category][key->mark]++;
}

/*  Compare the tally JSON with t, counter by counter, in order.  */
static void
assert_tally_json (const char *text, size_t venue, uint64_t ballots, const tally_t *t)
{
    json_error_t jerr;
    json_t *root = json_loads (text, 0, &jerr);
    if (!root)
        fail_msg ("tally is not JSON: %s", jerr.text);
    assert_string_equal (json_string_value (json_object_get (root, "election")), s_election->fingerprint_hex);
    assert_string_equal (json_string_value (json_object_get (root, "venue")), s_election->venues[venue].id);
    assert_int_equal (json_integer_value (json_object_get (root, "ballots")), ballots);
    assert_int_equal (json_integer_value (json_object_get (root, "blank_ballots")), t->blank_ballots);
    assert_int_equal (json_object_size (root), 5);
    json_t *counters = json_object_get (root, "counters");
    assert_true (json_is_array (counters));
    size_t at = 0;
    uint64_t total = 0;
    for (size_t s = 0; s < s_election->subject_count; s++)
        for (size_t i = 0; i < s_election->item_count; i++)
            for (size_t c = 0; c < s_election->category_count; c++)
                for (int m = 0; m < 256; m++) {
                    uint64_t n = t->counts[s][i][c][m];
                    if (!n)
                        continue;
                    const pingyi_choice_set_t *set =
                        &s_election->choice_sets[s_election->items[i].choice_set];
                    const char *mark = m == PINGYI_MARK_BLANK  ? "BLANK"
                                       : m == PINGYI_MARK_OVER ? "OVER"
                                                               : set->choices[m].label;
                    json_t *o = json_array_get (counters, at++);
                    assert_non_null (o);
                    assert_int_equal (json_object_size (o), 5);
                    assert_string_equal (json_string_value (json_object_get (o, "subject")),
                                         s_election->subjects[s].id);
                    assert_string_equal (json_string_value (json_object_get (o, "item")),
                                         s_election->items[i].id);
                    assert_string_equal (json_string_value (json_object_get (o, "category")),
                                         s_election->categories[c].id);
                    assert_string_equal (json_string_value (json_object_get (o, "mark")), mark);
                    assert_int_equal (json_integer_value (json_object_get (o, "count")), n);
                    total += n;
                }
    assert_int_equal (json_array_size (counters), at);
    /*  One mark per cell, except cells with several allowed ticks.  */
    assert_true (total >= ballots * s_election->venues[venue].subject_count * s_election->item_count);
    json_decref (root);
}

static char *
tally_text (const pingyi_generator_t *gen)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&buf, &len);
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_generator_write_tally (gen, f, err), 0);
    fclose (f);
    return buf;
}

static void
test_expected_tally_equals_own_count (void **state)
{
    for (size_t venue = 0; venue < 2; venue++) {
        pingyi_generator_t *gen = pingyi_generator_new (s_election, venue, 2022, N);
        pingyi_ballot_t *b = calloc (N, sizeof *b);
        size_t n = 0;
        while (pingyi_generator_next (gen, &b[n]))
            n++;
        tally_t *own = malloc (sizeof *own);
        own_tally (b, n, own);
        char *text = tally_text (gen);
        assert_tally_json (text, venue, N, own);

        /*  The model's counting agrees with both.  */
        tally_t *model = calloc (1, sizeof *model);
        for (size_t k = 0; k < n; k++) {
            pingyi_ballot_count (&b[k], s_election, venue, count_fn, model);
            model->blank_ballots += pingyi_ballot_is_blank (&b[k], s_election);
        }
        assert_memory_equal (model->counts, own->counts, sizeof own->counts);
        assert_int_equal (model->blank_ballots, own->blank_ballots);

        /*  The file written by write_expect is the same text.  */
        char path[] = "/tmp/pingyi-test-expect-XXXXXX";
        int fd = mkstemp (path);
        assert_true (fd >= 0);
        close (fd);
        char err[PINGYI_ERR_MAX];
        assert_int_equal (pingyi_generator_write_expect (s_election, venue, 2022, N, path, err), 0);
        size_t len;
        uint8_t *file = pingyi_read_file (path, 1 << 24, &len, err);
        assert_non_null (file);
        assert_string_equal ((char *) file, text);
        unlink (path);
        free (file);
        free (model);
        free (text);
        free (own);
        free (b);
        pingyi_generator_destroy (&gen);
    }
}

static void
test_ballots_validate_and_mix_is_realistic (void **state)
{
    pingyi_ballot_t *b = generate (0, 99, N, NULL);
    char err[PINGYI_ERR_MAX];
    uint64_t grades[4] = {0}, categories[3] = {0}, grade_cells = 0;
    for (size_t k = 0; k < N; k++) {
        assert_int_equal (pingyi_ballot_validate (&b[k], s_election, 0, err), PINGYI_REJECT_NONE);
        uint8_t body[PINGYI_BODY_MAX];
        assert_true (pingyi_ballot_encode (&b[k], s_election, body, sizeof body) > 0);
        categories[b[k].category]++;
        for (uint32_t s = 0; s < b[k].subject_count; s++)
            for (size_t i = 0; i < 2; i++) { /* the graded items */
                uint32_t m = b[k].ticks[s][i];
                if (m && !(m & (m - 1))) {
                    grades[__builtin_ctz (m)]++;
                    grade_cells++;
                }
            }
    }
    tally_t *t = malloc (sizeof *t);
    own_tally (b, N, t);
    uint64_t cells = (uint64_t) N * 2 * 3;
    /*  ~1% blank ballots, ~2% BLANK cells (plus those of blank ballots),
        ~0.5% OVER cells: wide bounds, the stream is fixed anyway.  */
    assert_in_range (t->blank_ballots, N / 200, N / 50);
    assert_in_range (t->blank_cells - t->blank_ballots * 6, cells / 100, cells * 4 / 100);
    assert_in_range (t->over_cells, cells / 1000, cells / 100);
    /*  Mostly 好/较好, some 一般, few 差.  */
    assert_true (grades[0] + grades[1] > grade_cells * 70 / 100);
    assert_true (grades[2] > 0);
    assert_true (grades[3] > 0);
    assert_true (grades[3] < grades[2]);
    assert_true (grades[2] < grades[0]);
    for (int c = 0; c < 3; c++)
        assert_true (categories[c] > N / 20);
    free (t);
    free (b);
}

static void
test_zero_ballots (void **state)
{
    pingyi_generator_t *gen = pingyi_generator_new (s_election, 0, 1, 0);
    pingyi_ballot_t b;
    assert_false (pingyi_generator_next (gen, &b));
    char *text = tally_text (gen);
    tally_t *t = calloc (1, sizeof *t);
    assert_tally_json (text, 0, 0, t);
    free (t);
    free (text);
    pingyi_generator_destroy (&gen);
    assert_null (pingyi_generator_new (s_election, 5, 1, 1));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_same_seed_same_ballots),
        cmocka_unit_test (test_expected_tally_equals_own_count),
        cmocka_unit_test (test_ballots_validate_and_mix_is_realistic),
        cmocka_unit_test (test_zero_ballots),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
