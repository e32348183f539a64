/*  test_ballot.c — ballot bodies and the counting rules: exact bytes on the
    wire, round trips, each refusal with its code and exact reason, the
    cell rules (BLANK 弃权, OVER 多选无效 for that cell only, blank ballot),
    counter keys byte for byte, and exactly the increments a ballot makes.

    Fixtures: examples/2022-district-review.json (11 subjects, 7 items of
    four grades, 4 categories, 3 venues whose forms hold all 11 subjects),
    examples/choice-sets.json (3 subjects; items overall, approve (3
    choices), one-of-four, up-to-two-of-five) and a generated definition
    whose venue v1 covers only s1..s5 of its district.  */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "ballot.h"
#include "election.h"
#include "gen_election.h"

#define EXAMPLE PINGYI_SOURCE_DIR "/examples/2022-district-review.json"
#define CHOICE_SETS PINGYI_SOURCE_DIR "/examples/choice-sets.json"

typedef struct {
    pingyi_election_t *review; /* 2022-district-review */
    pingyi_election_t *sets;   /* choice-sets */
    pingyi_election_t *drill;  /* generated: v1's form is s1..s5 */
} fixture_t;

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    char err[PINGYI_ERR_MAX];
    f->review = pingyi_election_load_or_err (EXAMPLE, err);
    f->sets = pingyi_election_load_or_err (CHOICE_SETS, err);
    pingyi_gen_options_t o = {.districts = 3,
                              .venues_per_district = 2,
                              .subjects = 20,
                              .form_subjects = 5,
                              .items = 7,
                              .shards = 4,
                              .seed = 42};
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&text, &len);
    if (pingyi_election_generate (&o, out, err))
        return -1;
    fclose (out);
    f->drill = pingyi_election_parse ((uint8_t *) text, len, NULL);
    free (text);
    if (!f->review || !f->sets || !f->drill)
        return -1;
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    pingyi_election_destroy (&f->review);
    pingyi_election_destroy (&f->sets);
    pingyi_election_destroy (&f->drill);
    free (f);
    return 0;
}

/*  Decode the bytes of sbuf for venue; return the code, reason in err.  */
static pingyi_reject_t
decode_sbuf (const pingyi_election_t *e, size_t venue, const msgpack_sbuffer *sbuf, char *err)
{
    pingyi_ballot_t b;
    err[0] = '\0';
    return pingyi_ballot_decode (e, venue, (const uint8_t *) sbuf->data, sbuf->size, &b, err);
}

/*  A ballot encoded then decoded: the code and reason.  */
static pingyi_reject_t
round_trip (const pingyi_election_t *e, size_t venue, const pingyi_ballot_t *b, char *err)
{
    uint8_t body[PINGYI_BODY_MAX];
    size_t len = pingyi_ballot_encode (b, e, body, sizeof body);
    assert_true (len > 0);
    pingyi_ballot_t back;
    err[0] = '\0';
    return pingyi_ballot_decode (e, venue, body, len, &back, err);
}

/*  Collect counter keys as u64, in call order.  */
typedef struct {
    uint64_t keys[4096];
    size_t count;
} keys_t;

static void
collect (const pingyi_counter_key_t *key, void *arg)
{
    keys_t *k = arg;
    assert_true (k->count < 4096);
    k->keys[k->count++] = pingyi_counter_key_u64 (key);
}

static uint64_t
key_of (unsigned venue, unsigned subject, unsigned item, unsigned category, unsigned mark)
{
    pingyi_counter_key_t k = {(uint16_t) venue, (uint16_t) subject, (uint8_t) item, (uint8_t) category,
                              (uint8_t) mark};
    return pingyi_counter_key_u64 (&k);
}

/*  ---------------------------------------------------------------------  */

static void
test_reject_names_are_stable (void **state)
{
    static const char *const names[] = {"none",           "bad_envelope", "wrong_election", "unknown_venue",
                                        "venue_mismatch", "wrong_shard",  "decrypt",        "malformed",
                                        "not_on_form",    "bad_category", "bad_mark",       "venue_closed"};
    assert_int_equal (PINGYI_REJECT_COUNT_, 12);
    for (int i = 0; i < PINGYI_REJECT_COUNT_; i++)
        assert_string_equal (pingyi_reject_name ((pingyi_reject_t) i), names[i]);
    assert_string_equal (pingyi_reject_name (PINGYI_REJECT_COUNT_), "unknown");
    assert_string_equal (pingyi_reject_name ((pingyi_reject_t) 99), "unknown");
}

static void
test_init_is_the_venue_form_all_blank (void **state)
{
    fixture_t *f = *state;
    pingyi_ballot_t b;
    memset (&b, 0x5a, sizeof b);
    pingyi_ballot_init (&b, f->drill, 1); /* v2: s1 s2 s3 s6 s7 */
    assert_int_equal (b.category, 0);
    assert_int_equal (b.subject_count, 5);
    static const uint32_t form[] = {0, 1, 2, 5, 6};
    assert_memory_equal (b.subjects, form, sizeof form);
    assert_true (pingyi_ballot_is_blank (&b, f->drill));
    for (size_t i = 0; i < PINGYI_MAX_FORM_SUBJECTS; i++)
        for (size_t j = 0; j < PINGYI_MAX_ITEMS; j++)
            assert_int_equal (b.ticks[i][j], 0);
}

static void
test_encode_exact_bytes (void **state)
{
    fixture_t *f = *state;
    pingyi_ballot_t b;
    pingyi_ballot_init (&b, f->sets, 0);
    b.category = 1;
    uint32_t s0[] = {1, 1, 4, 3}, s2[] = {8, 4, 8, 0x18};
    memcpy (b.ticks[0], s0, sizeof s0);
    memcpy (b.ticks[2], s2, sizeof s2);
    static const uint8_t want[] = {
        0x93, 0x01, 0x01, 0x93,                   /* [1, 1, [ */
        0x92, 0x00, 0x94, 0x01, 0x01, 0x04, 0x03, /*   [0, [1, 1, 4, 3]] */
        0x92, 0x01, 0x94, 0x00, 0x00, 0x00, 0x00, /*   [1, [0, 0, 0, 0]] */
        0x92, 0x02, 0x94, 0x08, 0x04, 0x08, 0x18, /*   [2, [8, 4, 8, 24]] ] ] */
    };
    uint8_t body[PINGYI_BODY_MAX];
    size_t len = pingyi_ballot_encode (&b, f->sets, body, sizeof body);
    assert_int_equal (len, sizeof want);
    assert_memory_equal (body, want, sizeof want);

    /*  Too small a buffer: 0, never a partial body.  */
    assert_int_equal (pingyi_ballot_encode (&b, f->sets, body, sizeof want - 1), 0);
    assert_int_equal (pingyi_ballot_encode (&b, f->sets, body, sizeof want), sizeof want);

    /*  Wide masks take the uint32 encoding.  */
    b.ticks[0][0] = 0x80000000u;
    len = pingyi_ballot_encode (&b, f->sets, body, sizeof body);
    assert_int_equal (len, sizeof want + 4);
    static const uint8_t wide[] = {0x94, 0xce, 0x80, 0x00, 0x00, 0x00, 0x01};
    assert_memory_equal (body + 6, wide, sizeof wide);
}

static void
test_round_trip (void **state)
{
    fixture_t *f = *state;
    pingyi_ballot_t b;
    pingyi_ballot_init (&b, f->review, 2);
    b.category = 3;
    for (uint32_t i = 0; i < b.subject_count; i++)
        for (size_t j = 0; j < f->review->item_count; j++)
            b.ticks[i][j] = (uint32_t) 1 << ((i + j) % 4);
    b.ticks[4][2] = 0; /* one BLANK cell */
    b.ticks[5][6] = 9; /* one OVER cell */
    uint8_t body[PINGYI_BODY_MAX];
    size_t len = pingyi_ballot_encode (&b, f->review, body, sizeof body);
    assert_int_equal (len, 4 + 11 * (2 + 1 + 7));
    pingyi_ballot_t back;
    char err[PINGYI_ERR_MAX] = "";
    assert_int_equal (pingyi_ballot_decode (f->review, 2, body, len, &back, err), PINGYI_REJECT_NONE);
    assert_string_equal (err, "");
    assert_memory_equal (&back, &b, sizeof b);
    assert_int_equal (pingyi_ballot_validate (&back, f->review, 2, err), PINGYI_REJECT_NONE);
    assert_false (pingyi_ballot_is_blank (&back, f->review));
    /*  err may be NULL.  */
    assert_int_equal (pingyi_ballot_decode (f->review, 2, body, len, &back, NULL), PINGYI_REJECT_NONE);
    assert_int_equal (pingyi_ballot_decode (f->review, 2, body, len - 1, &back, NULL),
                      PINGYI_REJECT_MALFORMED);
}

/*  A definition with wide choice sets: "pick" has 12 choices (its masks
    need 12 bits: uint16), "wide" 32 (uint32), "eight" exactly 8 (uint8:
    a tick at index 7 is 0x80, past a positive fixint), and the grades (4:
    a positive fixint).  */
static const char *WIDE =
    "{\"version\": 1, \"id\": \"wide\", \"title\": \"wide\", \"shards\": 1,\n"
    " \"grades\": [{\"label\": \"好\", \"letter\": \"A\", \"points\": 100, \"favourable\": true},\n"
    "            {\"label\": \"较好\", \"letter\": \"B\", \"points\": 80},\n"
    "            {\"label\": \"一般\", \"letter\": \"C\", \"points\": 60},\n"
    "            {\"label\": \"差\", \"letter\": \"D\", \"points\": 0, \"unfavourable\": true}],\n"
    " \"choice_sets\": [{\"id\": \"eight\", \"choices\": [%s]},\n"
    "                 {\"id\": \"pick\", \"choices\": [%s]},\n"
    "                 {\"id\": \"wide\", \"choices\": [%s]}],\n"
    " \"items\": [{\"id\": \"overall\", \"name\": \"总体\", \"overall\": true},\n"
    "           {\"id\": \"eight\", \"name\": \"八\", \"choice_set\": \"eight\", \"max_choices\": 1},\n"
    "           {\"id\": \"pick\", \"name\": \"选\", \"choice_set\": \"pick\", \"max_choices\": 2},\n"
    "           {\"id\": \"wide\", \"name\": \"宽\", \"choice_set\": \"wide\", \"max_choices\": 3}],\n"
    " \"categories\": [{\"id\": \"c1\", \"name\": \"一\", \"weight\": 0.25},\n"
    "                {\"id\": \"c2\", \"name\": \"二\", \"weight\": 0.25},\n"
    "                {\"id\": \"c3\", \"name\": \"三\", \"weight\": 0.25},\n"
    "                {\"id\": \"c4\", \"name\": \"四\", \"weight\": 0.25}],\n"
    " \"districts\": [{\"id\": \"d1\", \"name\": \"一区\"}],\n"
    " \"units\": [{\"id\": \"u1\", \"name\": \"一镇\", \"kind\": \"town\", \"district\": \"d1\"}],\n"
    " \"subjects\": [{\"id\": \"s1\", \"name\": \"甲\", \"unit\": \"u1\"},\n"
    "              {\"id\": \"s2\", \"name\": \"乙\", \"unit\": \"u1\"},\n"
    "              {\"id\": \"s3\", \"name\": \"丙\", \"unit\": \"u1\"}],\n"
    " \"venues\": [{\"id\": \"v1\", \"name\": \"一\", \"district\": \"d1\", \"subjects\": [\"s1\", "
    "\"s3\"]},\n"
    "            {\"id\": \"v2\", \"name\": \"二\", \"district\": \"d1\",\n"
    "             \"subjects\": [\"s1\", \"s2\", \"s3\"]}]}\n";

/*  n choices labelled PREFIX0, PREFIX1, ... as JSON objects.  */
static void
choices_json (char *out, size_t cap, char prefix, int n)
{
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        size_t used = strlen (out);
        snprintf (out + used, cap - used, "%s{\"label\": \"%c%d\", \"points\": 0}", i ? ", " : "", prefix, i);
    }
}

static pingyi_election_t *
load_wide (void)
{
    char eight[8 * 40], pick[12 * 40], wide[32 * 40], *text = NULL;
    choices_json (eight, sizeof eight, 'e', 8);
    choices_json (pick, sizeof pick, 'p', 12);
    choices_json (wide, sizeof wide, 'w', 32);
    assert_true (asprintf (&text, WIDE, eight, pick, wide) > 0);
    pingyi_errlist_t errs = {0};
    pingyi_election_t *e = pingyi_election_parse ((const uint8_t *) text, strlen (text), &errs);
    for (size_t i = 0; i < errs.count; i++)
        fprintf (stderr, "definition: %s\n", errs.lines[i]);
    pingyi_errlist_clear (&errs);
    free (text);
    assert_non_null (e);
    return e;
}

/*  Encode b, check the length, decode it back to b.  */
static void
encode_check (const pingyi_election_t *e, size_t venue, const pingyi_ballot_t *b, size_t want)
{
    uint8_t body[PINGYI_BODY_MAX];
    size_t len = pingyi_ballot_encode (b, e, body, sizeof body);
    assert_int_equal (len, want);
    pingyi_ballot_t back;
    char err[PINGYI_ERR_MAX] = "";
    assert_int_equal (pingyi_ballot_decode (e, venue, body, len, &back, err), PINGYI_REJECT_NONE);
    assert_string_equal (err, "");
    assert_memory_equal (&back, b, sizeof *b);
}

static void
test_body_length_depends_only_on_the_form (void **state)
{
    (void) state;
    pingyi_election_t *e = load_wide ();
    assert_int_equal (e->item_count, 4);
    /*  Per subject: [s, [m0, m1, m2, m3]] = fixarray, subject, fixarray, then
        the masks at their set's width: 1 (grades), 2 (eight: uint8),
        3 (pick: uint16), 5 (wide: uint32).  */
    const size_t per_subject = 1 + 1 + 1 + (1 + 2 + 3 + 5);
    for (size_t venue = 0; venue < 2; venue++) {
        size_t subjects = e->venues[venue].subject_count;
        const size_t want = 1 + 1 + 1 + 1 + subjects * per_subject;
        pingyi_ballot_t b;
        for (uint32_t category = 0; category < 4; category++) {
            /*  All BLANK.  */
            pingyi_ballot_init (&b, e, venue);
            b.category = category;
            assert_true (pingyi_ballot_is_blank (&b, e));
            encode_check (e, venue, &b, want);
            /*  Every single tick of every item, in the first cell and the last.  */
            static const unsigned choices[4] = {4, 8, 12, 32};
            for (size_t j = 0; j < 4; j++)
                for (unsigned c = 0; c < choices[j]; c++) {
                    pingyi_ballot_init (&b, e, venue);
                    b.category = category;
                    b.ticks[0][j] = UINT32_C (1) << c;
                    b.ticks[subjects - 1][j] = UINT32_C (1) << (choices[j] - 1 - c);
                    encode_check (e, venue, &b, want);
                }
            /*  OVER everywhere: every choice of every item ticked.  */
            pingyi_ballot_init (&b, e, venue);
            b.category = category;
            for (size_t i = 0; i < subjects; i++) {
                b.ticks[i][0] = 0xf;
                b.ticks[i][1] = 0xff;
                b.ticks[i][2] = 0xfff;
                b.ticks[i][3] = 0xffffffffu;
            }
            encode_check (e, venue, &b, want);
            /*  A mix: index 7 of eight (0x80), index 8 and 11 of pick,
                BLANK wide, OVER grades.  */
            pingyi_ballot_init (&b, e, venue);
            b.category = category;
            b.ticks[0][0] = 0x3;
            b.ticks[0][1] = 0x80;
            b.ticks[0][2] = 0x900;
            encode_check (e, venue, &b, want);
        }
    }

    /*  The bytes of one cell of each width: a BLANK is as wide as a tick.  */
    pingyi_ballot_t b;
    pingyi_ballot_init (&b, e, 0);
    b.ticks[0][1] = 0x80;
    b.ticks[0][2] = 0x100;
    b.ticks[0][3] = 0x80000000u;
    uint8_t body[PINGYI_BODY_MAX];
    size_t len = pingyi_ballot_encode (&b, e, body, sizeof body);
    static const uint8_t first[] = {
        0x93, 0x01, 0x00, 0x92,       /* [1, 0, [ */
        0x92, 0x00, 0x94,             /*   [0, [ */
        0x00,                         /*     grades BLANK: fixint */
        0xcc, 0x80,                   /*     eight, index 7: uint8 */
        0xcd, 0x01, 0x00,             /*     pick, index 8: uint16 */
        0xce, 0x80, 0x00, 0x00, 0x00, /*     wide, index 31: uint32 ]], */
        0x92, 0x02, 0x94, 0x00,       /*   [2, [BLANK, */
        0xcc, 0x00,                   /*     BLANK as uint8, */
        0xcd, 0x00, 0x00,             /*     as uint16, */
        0xce, 0x00, 0x00, 0x00, 0x00, /*     as uint32 ]] ] ] */
    };
    assert_int_equal (len, sizeof first);
    assert_memory_equal (body, first, sizeof first);
    pingyi_election_destroy (&e);
}

static void
test_review_bodies_have_one_length (void **state)
{
    fixture_t *f = *state;
    /*  The example's grades fit a positive fixint, its 4 categories too: one
        length for every ballot of a venue, the same as before fixed widths.  */
    uint32_t seed = 12345;
    for (int n = 0; n < 200; n++) {
        pingyi_ballot_t b;
        pingyi_ballot_init (&b, f->review, (size_t) n % 3);
        seed = seed * 1103515245u + 12345u;
        b.category = (seed >> 16) % 4;
        for (uint32_t i = 0; i < b.subject_count; i++)
            for (size_t j = 0; j < f->review->item_count; j++) {
                seed = seed * 1103515245u + 12345u;
                b.ticks[i][j] = (seed >> 16) & 0xf; /* BLANK, one tick, OVER */
            }
        encode_check (f->review, (size_t) n % 3, &b, 4 + 11 * (2 + 1 + 7));
    }
}

static void
test_cell_marks (void **state)
{
    fixture_t *f = *state;
    uint8_t marks[PINGYI_MAX_CHOICES];
    const pingyi_item_t *one = &f->sets->items[2]; /* one of four */
    const pingyi_item_t *two = &f->sets->items[3]; /* up to two of five */

    assert_int_equal (pingyi_cell_marks (one, 0, marks), 1);
    assert_int_equal (marks[0], PINGYI_MARK_BLANK);
    assert_int_equal (pingyi_cell_marks (one, 4, marks), 1);
    assert_int_equal (marks[0], 2);
    assert_int_equal (pingyi_cell_marks (one, 1, marks), 1);
    assert_int_equal (marks[0], 0);
    assert_int_equal (pingyi_cell_marks (one, 5, marks), 1);
    assert_int_equal (marks[0], PINGYI_MARK_OVER);

    assert_int_equal (pingyi_cell_marks (two, 0x14, marks), 2);
    assert_int_equal (marks[0], 2);
    assert_int_equal (marks[1], 4);
    assert_int_equal (pingyi_cell_marks (two, 0x08, marks), 1);
    assert_int_equal (marks[0], 3);
    assert_int_equal (pingyi_cell_marks (two, 0x07, marks), 1);
    assert_int_equal (marks[0], PINGYI_MARK_OVER);

    pingyi_item_t all = {.max_choices = 32};
    assert_int_equal (pingyi_cell_marks (&all, 0xffffffffu, marks), 32);
    for (uint8_t i = 0; i < 32; i++)
        assert_int_equal (marks[i], i);
    assert_int_equal (PINGYI_MARK_BLANK, 254);
    assert_int_equal (PINGYI_MARK_OVER, 255);
}

static void
test_counter_key_bytes (void **state)
{
    pingyi_counter_key_t k = {.venue = 0x0102, .subject = 0x0304, .item = 5, .category = 6, .mark = 254};
    uint8_t bytes[PINGYI_COUNTER_KEY_LEN];
    memset (bytes, 0xee, sizeof bytes);
    pingyi_counter_key_pack (&k, bytes);
    static const uint8_t want[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0xfe, 0x00};
    assert_memory_equal (bytes, want, 8);
    assert_true (pingyi_counter_key_u64 (&k) == 0x010203040506fe00ULL);
}

static void
test_counter_key_unpack_and_order (void **state)
{
    static const uint8_t in[] = {0xff, 0xfe, 0x12, 0x34, 0x0f, 0x1f, 0xff, 0x00};
    pingyi_counter_key_t k;
    pingyi_counter_key_unpack (in, &k);
    assert_int_equal (k.venue, 0xfffe);
    assert_int_equal (k.subject, 0x1234);
    assert_int_equal (k.item, 15);
    assert_int_equal (k.category, 31);
    assert_int_equal (k.mark, PINGYI_MARK_OVER);
    uint8_t out[PINGYI_COUNTER_KEY_LEN];
    pingyi_counter_key_pack (&k, out);
    assert_memory_equal (out, in, 8);

    /*  Byte order is field order: venue 1's last key sorts before venue 2's first.  */
    pingyi_counter_key_t a = {.venue = 1, .subject = 0xffff, .item = 255, .category = 255, .mark = 255};
    pingyi_counter_key_t b = {.venue = 2};
    uint8_t ka[8], kb[8];
    pingyi_counter_key_pack (&a, ka);
    pingyi_counter_key_pack (&b, kb);
    assert_true (memcmp (ka, kb, 8) < 0);
    assert_true (pingyi_counter_key_u64 (&a) < pingyi_counter_key_u64 (&b));
}

static void
test_count_emits_exact_keys (void **state)
{
    fixture_t *f = *state;
    pingyi_ballot_t b;
    pingyi_ballot_init (&b, f->sets, 0);
    b.category = 1;
    uint32_t s0[] = {1, 1, 4, 3}, s2[] = {8, 4, 8, 0x18};
    memcpy (b.ticks[0], s0, sizeof s0);
    memcpy (b.ticks[2], s2, sizeof s2);
    keys_t *got = calloc (1, sizeof *got);
    pingyi_ballot_count (&b, f->sets, 0, collect, got);
    const uint64_t want[] = {
        key_of (0, 0, 0, 1, 0),   key_of (0, 0, 1, 1, 0),   key_of (0, 0, 2, 1, 2),
        key_of (0, 0, 3, 1, 0),   key_of (0, 0, 3, 1, 1), /* up to two: both count */
        key_of (0, 1, 0, 1, 254), key_of (0, 1, 1, 1, 254), key_of (0, 1, 2, 1, 254),
        key_of (0, 1, 3, 1, 254), /* subject 1: four BLANK cells */
        key_of (0, 2, 0, 1, 3),   key_of (0, 2, 1, 1, 2),   key_of (0, 2, 2, 1, 3),
        key_of (0, 2, 3, 1, 3),   key_of (0, 2, 3, 1, 4),
    };
    assert_int_equal (got->count, sizeof want / sizeof want[0]);
    assert_memory_equal (got->keys, want, sizeof want);
    free (got);
}

/*  The dense count adds exactly the increments listed by hand for
    test_count_emits_exact_keys, each in the cell its documented layout
    names: row = form position, cell (item x categories + category) x marks + m,
    m = choice, marks - 2 for BLANK, marks - 1 for OVER.  */
static void
test_count_cells_adds_the_listed_increments (void **state)
{
    fixture_t *f = *state;
    const pingyi_election_t *e = f->sets;
    size_t marks = pingyi_count_marks (e);
    assert_int_equal (marks, 5 + 2); /* the largest choice set has five choices */
    pingyi_ballot_t b;
    pingyi_ballot_init (&b, e, 0);
    b.category = 1;
    uint32_t s0[] = {1, 1, 4, 3}, s1[] = {0, 0, 0x6, 0x7}, s2[] = {8, 4, 8, 0x18};
    memcpy (b.ticks[0], s0, sizeof s0);
    memcpy (b.ticks[1], s1, sizeof s1); /* direction: two of max one = OVER; strengths: three of two = OVER */
    memcpy (b.ticks[2], s2, sizeof s2);
    size_t per_row = e->item_count * e->category_count * marks;
    uint32_t *have = calloc (3 * per_row, sizeof *have), *want = calloc (3 * per_row, sizeof *want);
    pingyi_ballot_count_cells (&b, e, have, marks);
    pingyi_ballot_count_cells (&b, e, have, marks); /* adds, does not overwrite */
    /* (position, item, mark index m) for category 1 */
    const unsigned listed[][3] = {
        {0, 0, 0}, {0, 1, 0}, {0, 2, 2}, {0, 3, 0}, {0, 3, 1}, /* up to two: both count */
        {1, 0, 5}, {1, 1, 5}, {1, 2, 6}, {1, 3, 6},            /* BLANK, BLANK, OVER, OVER */
        {2, 0, 3}, {2, 1, 2}, {2, 2, 3}, {2, 3, 3}, {2, 3, 4},
    };
    for (size_t k = 0; k < sizeof listed / sizeof listed[0]; k++)
        want[listed[k][0] * per_row + (listed[k][1] * e->category_count + 1) * marks + listed[k][2]] += 2;
    assert_memory_equal (have, want, 3 * per_row * sizeof *have);
    free (have);
    free (want);
}

/*  The subject in a key is the definition's index, not the form position.  */
static void
test_count_uses_definition_subject_index (void **state)
{
    fixture_t *f = *state;
    pingyi_ballot_t b;
    pingyi_ballot_init (&b, f->drill, 1); /* v2: s1 s2 s3 s6 s7 */
    b.category = 2;
    b.ticks[3][0] = 2; /* s6, overall: 较好 */
    keys_t *got = calloc (1, sizeof *got);
    pingyi_ballot_count (&b, f->drill, 1, collect, got);
    assert_int_equal (got->count, 5 * 7);
    assert_true (got->keys[3 * 7] == key_of (1, 5, 0, 2, 1));
    assert_true (got->keys[3 * 7 + 1] == key_of (1, 5, 1, 2, PINGYI_MARK_BLANK));
    free (got);
}

static void
test_blank_cell_counts_blank (void **state)
{
    fixture_t *f = *state;
    pingyi_ballot_t b;
    pingyi_ballot_init (&b, f->review, 0);
    for (uint32_t i = 0; i < 11; i++)
        for (size_t j = 0; j < 7; j++)
            b.ticks[i][j] = 1; /* 好 everywhere ... */
    b.ticks[6][3] = 0;         /* ... but one column left empty: 弃权 */
    char err[PINGYI_ERR_MAX];
    assert_int_equal (round_trip (f->review, 0, &b, err), PINGYI_REJECT_NONE);
    assert_false (pingyi_ballot_is_blank (&b, f->review));
    keys_t *got = calloc (1, sizeof *got);
    pingyi_ballot_count (&b, f->review, 0, collect, got);
    assert_int_equal (got->count, 77);
    for (size_t n = 0; n < 77; n++)
        assert_true (got->keys[n] ==
                     key_of (0, (unsigned) (n / 7), (unsigned) (n % 7), 0, n == 6 * 7 + 3 ? 254 : 0));
    free (got);
}

static void
test_over_cell_is_invalid_for_that_cell_only (void **state)
{
    fixture_t *f = *state;
    pingyi_ballot_t b;
    pingyi_ballot_init (&b, f->review, 1);
    b.category = 2;
    for (uint32_t i = 0; i < 11; i++)
        for (size_t j = 0; j < 7; j++)
            b.ticks[i][j] = 2; /* 较好 */
    b.ticks[0][0] = 0x3;       /* 好 and 较好 ticked: 多选无效 */
    b.ticks[10][6] = 0xf;      /* all four */
    char err[PINGYI_ERR_MAX];
    assert_int_equal (round_trip (f->review, 1, &b, err), PINGYI_REJECT_NONE);
    keys_t *got = calloc (1, sizeof *got);
    pingyi_ballot_count (&b, f->review, 1, collect, got);
    assert_int_equal (got->count, 77);
    assert_true (got->keys[0] == key_of (1, 0, 0, 2, PINGYI_MARK_OVER));
    assert_true (got->keys[76] == key_of (1, 10, 6, 2, PINGYI_MARK_OVER));
    for (size_t n = 1; n < 76; n++)
        assert_true (got->keys[n] == key_of (1, (unsigned) (n / 7), (unsigned) (n % 7), 2, 1));
    free (got);
}

static void
test_blank_ballot_is_valid_and_counts_blank_cells (void **state)
{
    fixture_t *f = *state;
    pingyi_ballot_t b;
    pingyi_ballot_init (&b, f->review, 0);
    b.category = 3;
    assert_true (pingyi_ballot_is_blank (&b, f->review));
    char err[PINGYI_ERR_MAX];
    assert_int_equal (round_trip (f->review, 0, &b, err), PINGYI_REJECT_NONE);
    keys_t *got = calloc (1, sizeof *got);
    pingyi_ballot_count (&b, f->review, 0, collect, got);
    assert_int_equal (got->count, 77);
    for (size_t n = 0; n < 77; n++)
        assert_true (got->keys[n] ==
                     key_of (0, (unsigned) (n / 7), (unsigned) (n % 7), 3, PINGYI_MARK_BLANK));
    b.ticks[10][6] = 8;
    assert_false (pingyi_ballot_is_blank (&b, f->review));
    free (got);
}

static void
test_subject_not_on_form (void **state)
{
    fixture_t *f = *state;
    pingyi_ballot_t b;
    pingyi_ballot_init (&b, f->drill, 0); /* v1: s1..s5 */
    b.subjects[4] = 5;                    /* s6 is in the district but not on v1's form */
    char err[PINGYI_ERR_MAX];
    assert_int_equal (round_trip (f->drill, 0, &b, err), PINGYI_REJECT_NOT_ON_FORM);
    assert_string_equal (err, "subject 5 (s6) is not on venue v1's form");
    assert_int_equal (pingyi_ballot_validate (&b, f->drill, 0, err), PINGYI_REJECT_NOT_ON_FORM);

    b.subjects[4] = 9999;
    assert_int_equal (round_trip (f->drill, 0, &b, err), PINGYI_REJECT_NOT_ON_FORM);
    assert_string_equal (err, "subject 9999 is not on venue v1's form (the election has 20 subjects)");

    /*  An extra subject after the whole form.  */
    pingyi_ballot_init (&b, f->drill, 0);
    b.subjects[5] = 12;
    b.subject_count = 6;
    assert_int_equal (round_trip (f->drill, 0, &b, err), PINGYI_REJECT_NOT_ON_FORM);
    assert_string_equal (err, "subject 12 (s13) is not on venue v1's form");
}

static void
test_subject_missing_repeated_or_out_of_order (void **state)
{
    fixture_t *f = *state;
    pingyi_ballot_t b;
    char err[PINGYI_ERR_MAX];

    pingyi_ballot_init (&b, f->review, 0);
    b.subject_count = 10;
    assert_int_equal (round_trip (f->review, 0, &b, err), PINGYI_REJECT_NOT_ON_FORM);
    assert_string_equal (err, "subject 10 (s11) of venue v01's form is missing");

    /*  s05 dropped from the middle: reported missing, not out of order.  */
    pingyi_ballot_init (&b, f->review, 0);
    memmove (&b.subjects[4], &b.subjects[5], 6 * sizeof b.subjects[0]);
    b.subject_count = 10;
    assert_int_equal (round_trip (f->review, 0, &b, err), PINGYI_REJECT_NOT_ON_FORM);
    assert_string_equal (err, "subject 4 (s05) of venue v01's form is missing");

    pingyi_ballot_init (&b, f->review, 0);
    b.subject_count = 0;
    assert_int_equal (round_trip (f->review, 0, &b, err), PINGYI_REJECT_NOT_ON_FORM);
    assert_string_equal (err, "subject 0 (s01) of venue v01's form is missing");

    pingyi_ballot_init (&b, f->review, 0);
    b.subjects[10] = 0;
    assert_int_equal (round_trip (f->review, 0, &b, err), PINGYI_REJECT_NOT_ON_FORM);
    assert_string_equal (err, "subject 0 (s01) appears twice on the ballot");

    pingyi_ballot_init (&b, f->review, 0);
    b.subjects[11] = 3;
    b.subject_count = 12;
    assert_int_equal (round_trip (f->review, 0, &b, err), PINGYI_REJECT_NOT_ON_FORM);
    assert_string_equal (err, "subject 3 (s04) appears twice on the ballot");

    pingyi_ballot_init (&b, f->review, 0);
    b.subjects[0] = 1;
    b.subjects[1] = 0;
    assert_int_equal (round_trip (f->review, 0, &b, err), PINGYI_REJECT_NOT_ON_FORM);
    assert_string_equal (err, "subjects[0] is subject 1 (s02), but venue v01's form has 0 (s01) there");
}

static void
test_bad_category (void **state)
{
    fixture_t *f = *state;
    pingyi_ballot_t b;
    char err[PINGYI_ERR_MAX];
    pingyi_ballot_init (&b, f->review, 0);
    b.category = 4;
    assert_int_equal (round_trip (f->review, 0, &b, err), PINGYI_REJECT_BAD_CATEGORY);
    assert_string_equal (err, "category 4 is not defined (the election has 4)");
    b.category = UINT32_MAX;
    assert_int_equal (round_trip (f->review, 0, &b, err), PINGYI_REJECT_BAD_CATEGORY);
    assert_string_equal (err, "category 4294967295 is not defined (the election has 4)");
    /*  Checked before the form: the first rule that fails is reported.  */
    b.subject_count = 3;
    assert_int_equal (round_trip (f->review, 0, &b, err), PINGYI_REJECT_BAD_CATEGORY);
    b.category = 3;
    assert_int_equal (round_trip (f->review, 0, &b, err), PINGYI_REJECT_NOT_ON_FORM);
}

static void
test_mask_bit_outside_choice_set (void **state)
{
    fixture_t *f = *state;
    pingyi_ballot_t b;
    char err[PINGYI_ERR_MAX];
    pingyi_ballot_init (&b, f->review, 0);
    b.ticks[2][3] = 1u << 4;
    assert_int_equal (round_trip (f->review, 0, &b, err), PINGYI_REJECT_BAD_MARK);
    assert_string_equal (err, "subject 2 (s03), item members: choice 4 is outside the 4 choices of grades");
    b.ticks[2][3] = 0x80000001u;
    assert_int_equal (round_trip (f->review, 0, &b, err), PINGYI_REJECT_BAD_MARK);
    assert_string_equal (err, "subject 2 (s03), item members: choice 31 is outside the 4 choices of grades");
    b.ticks[2][3] = 0xf; /* every choice of the set: OVER, not refused */
    assert_int_equal (round_trip (f->review, 0, &b, err), PINGYI_REJECT_NONE);

    pingyi_ballot_init (&b, f->sets, 0);
    b.ticks[1][1] = 8; /* approve has three choices */
    assert_int_equal (round_trip (f->sets, 0, &b, err), PINGYI_REJECT_BAD_MARK);
    assert_string_equal (err, "subject 1 (s02), item confirm: choice 3 is outside the 3 choices of approve");
    b.ticks[1][1] = 4; /* 弃权 as a choice */
    assert_int_equal (round_trip (f->sets, 0, &b, err), PINGYI_REJECT_NONE);
}

static void
test_truncated_body (void **state)
{
    fixture_t *f = *state;
    pingyi_ballot_t b, out;
    pingyi_ballot_init (&b, f->review, 0);
    uint8_t body[PINGYI_BODY_MAX];
    size_t len = pingyi_ballot_encode (&b, f->review, body, sizeof body);
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_ballot_decode (f->review, 0, body, len - 1, &out, err), PINGYI_REJECT_MALFORMED);
    assert_string_equal (err, "body: subjects[10].marks: truncated");
    assert_int_equal (pingyi_ballot_decode (f->review, 0, body, 0, &out, err), PINGYI_REJECT_MALFORMED);
    assert_string_equal (err, "body: truncated");
    /*  The top array promises 3 items but 2 bytes follow.  */
    assert_int_equal (pingyi_ballot_decode (f->review, 0, body, 3, &out, err), PINGYI_REJECT_MALFORMED);
    assert_string_equal (err, "body: truncated");
    assert_int_equal (pingyi_ballot_decode (f->review, 0, body, 4, &out, err), PINGYI_REJECT_MALFORMED);
    assert_string_equal (err, "body: subjects: truncated");
    /*  Every prefix is refused as malformed.  */
    for (size_t n = 0; n < len; n++)
        assert_int_equal (pingyi_ballot_decode (f->review, 0, body, n, &out, NULL), PINGYI_REJECT_MALFORMED);
}

static void
test_trailing_bytes (void **state)
{
    fixture_t *f = *state;
    pingyi_ballot_t b, out;
    pingyi_ballot_init (&b, f->review, 0);
    uint8_t body[PINGYI_BODY_MAX];
    size_t len = pingyi_ballot_encode (&b, f->review, body, sizeof body);
    body[len] = 0xc0;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_ballot_decode (f->review, 0, body, len + 1, &out, err), PINGYI_REJECT_MALFORMED);
    assert_string_equal (err, "body: trailing bytes after message");
}

static void
test_oversized_body (void **state)
{
    fixture_t *f = *state;
    uint8_t *body = calloc (1, PINGYI_BODY_MAX + 1);
    pingyi_ballot_t out;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_ballot_decode (f->review, 0, body, PINGYI_BODY_MAX + 1, &out, err),
                      PINGYI_REJECT_MALFORMED);
    assert_string_equal (err, "body: 4097 bytes, more than the 4096 a body may hold");
    free (body);
}

/*  Hand-built bodies through msgpack-c, each with the exact reason.  */
typedef enum {
    WRONG_TOP_MAP,
    WRONG_TOP_LENGTH,
    WRONG_VERSION,
    WRONG_VERSION_TYPE,
    WRONG_CATEGORY_STR,
    WRONG_CATEGORY_NEGATIVE,
    WRONG_SUBJECTS_NIL,
    WRONG_PAIR_LENGTH,
    WRONG_SUBJECT_BOOL,
    WRONG_MARK_COUNT,
    WRONG_MARK_FLOAT,
    WRONG_MARK_TOO_BIG,
    WRONG_TOO_MANY_SUBJECTS,
    WRONG_CASES_
} wrong_t;

static const char *const wrong_reasons[WRONG_CASES_] = {
    [WRONG_TOP_MAP] = "body: expected array, got map",
    [WRONG_TOP_LENGTH] = "body: expected an array of 3 (version, category, subjects), got 4",
    [WRONG_VERSION] = "body: version: expected 1, got 2",
    [WRONG_VERSION_TYPE] = "body: version: expected uint, got str",
    [WRONG_CATEGORY_STR] = "body: category: expected uint, got str",
    [WRONG_CATEGORY_NEGATIVE] = "body: category: negative where uint expected",
    [WRONG_SUBJECTS_NIL] = "body: subjects: expected array, got nil",
    [WRONG_PAIR_LENGTH] = "body: subjects[0]: expected [subject, marks], got an array of 1",
    [WRONG_SUBJECT_BOOL] = "body: subjects[0].subject: expected uint, got bool",
    [WRONG_MARK_COUNT] = "body: subjects[2].marks: expected 7 marks, got 6",
    [WRONG_MARK_FLOAT] = "body: subjects[0].marks[5]: expected uint, got float",
    [WRONG_MARK_TOO_BIG] = "body: subjects[0].marks[0]: integer out of range",
    [WRONG_TOO_MANY_SUBJECTS] = "body: subjects: array too long",
};

static void
pack_wrong (msgpack_packer *pk, wrong_t w)
{
    if (w == WRONG_TOP_MAP) {
        msgpack_pack_map (pk, 0);
        return;
    }
    msgpack_pack_array (pk, w == WRONG_TOP_LENGTH ? 4 : 3);
    if (w == WRONG_VERSION_TYPE)
        msgpack_pack_str_with_body (pk, "1", 1);
    else
        msgpack_pack_uint8 (pk, w == WRONG_VERSION ? 2 : 1);
    if (w == WRONG_CATEGORY_STR)
        msgpack_pack_str_with_body (pk, "leaders", 7);
    else if (w == WRONG_CATEGORY_NEGATIVE)
        msgpack_pack_int8 (pk, -1);
    else
        msgpack_pack_uint8 (pk, 0);
    if (w == WRONG_SUBJECTS_NIL) {
        msgpack_pack_nil (pk);
        return;
    }
    uint32_t n = w == WRONG_TOO_MANY_SUBJECTS ? 65 : 11;
    msgpack_pack_array (pk, n);
    for (uint32_t i = 0; i < n; i++) {
        msgpack_pack_array (pk, w == WRONG_PAIR_LENGTH ? 1 : 2);
        if (w == WRONG_SUBJECT_BOOL)
            msgpack_pack_true (pk);
        else
            msgpack_pack_uint32 (pk, i);
        uint32_t items = w == WRONG_MARK_COUNT && i == 2 ? 6 : 7;
        msgpack_pack_array (pk, items);
        for (uint32_t j = 0; j < items; j++) {
            if (w == WRONG_MARK_FLOAT && j == 5)
                msgpack_pack_double (pk, 1.0);
            else if (w == WRONG_MARK_TOO_BIG)
                msgpack_pack_uint64 (pk, 1ULL << 32);
            else
                msgpack_pack_uint8 (pk, 1);
        }
    }
    if (w == WRONG_TOP_LENGTH)
        msgpack_pack_nil (pk);
}

static void
test_wrong_types_are_malformed (void **state)
{
    fixture_t *f = *state;
    char err[PINGYI_ERR_MAX];
    for (int w = 0; w < WRONG_CASES_; w++) {
        msgpack_sbuffer sbuf;
        msgpack_sbuffer_init (&sbuf);
        msgpack_packer pk;
        msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
        pack_wrong (&pk, (wrong_t) w);
        pingyi_reject_t code = decode_sbuf (f->review, 0, &sbuf, err);
        if (code != PINGYI_REJECT_MALFORMED || strcmp (err, wrong_reasons[w]))
            fprintf (stderr, "case %d: got %s: %s\n", w, pingyi_reject_name (code), err);
        assert_int_equal (code, PINGYI_REJECT_MALFORMED);
        assert_string_equal (err, wrong_reasons[w]);
        msgpack_sbuffer_destroy (&sbuf);
    }
}

static void
test_validate_refuses_oversized_in_memory_ballot (void **state)
{
    fixture_t *f = *state;
    pingyi_ballot_t b;
    pingyi_ballot_init (&b, f->review, 0);
    b.subject_count = 65;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_ballot_validate (&b, f->review, 0, err), PINGYI_REJECT_MALFORMED);
    assert_string_equal (err, "ballot has 65 subjects, more than 64");
    uint8_t body[PINGYI_BODY_MAX];
    assert_int_equal (pingyi_ballot_encode (&b, f->review, body, sizeof body), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_reject_names_are_stable),
        cmocka_unit_test (test_init_is_the_venue_form_all_blank),
        cmocka_unit_test (test_encode_exact_bytes),
        cmocka_unit_test (test_round_trip),
        cmocka_unit_test (test_body_length_depends_only_on_the_form),
        cmocka_unit_test (test_review_bodies_have_one_length),
        cmocka_unit_test (test_cell_marks),
        cmocka_unit_test (test_counter_key_bytes),
        cmocka_unit_test (test_counter_key_unpack_and_order),
        cmocka_unit_test (test_count_emits_exact_keys),
        cmocka_unit_test (test_count_cells_adds_the_listed_increments),
        cmocka_unit_test (test_count_uses_definition_subject_index),
        cmocka_unit_test (test_blank_cell_counts_blank),
        cmocka_unit_test (test_over_cell_is_invalid_for_that_cell_only),
        cmocka_unit_test (test_blank_ballot_is_valid_and_counts_blank_cells),
        cmocka_unit_test (test_subject_not_on_form),
        cmocka_unit_test (test_subject_missing_repeated_or_out_of_order),
        cmocka_unit_test (test_bad_category),
        cmocka_unit_test (test_mask_bit_outside_choice_set),
        cmocka_unit_test (test_truncated_body),
        cmocka_unit_test (test_trailing_bytes),
        cmocka_unit_test (test_oversized_body),
        cmocka_unit_test (test_wrong_types_are_malformed),
        cmocka_unit_test (test_validate_refuses_oversized_in_memory_ballot),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
