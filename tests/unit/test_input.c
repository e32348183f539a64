/*  test_input.c — the client's ballot input (client/input.c): CSV with BOM,
    shuffled header, labels, letters, BLANK, OVER, quoting; every bad line
    reported as FILE:LINE:COLUMN: reason while the good lines around it still
    parse; header errors fatal; JSONL equivalents; records independent of how
    the bytes are chunked.  Uses a small definition of its own, so it does
    not move when the example election changes.  */
#include "../../client/input.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static const char *DEFINITION =
    "{\n"
    "  \"version\": 1, \"id\": \"test\", \"title\": \"test\", \"shards\": 1,\n"
    "  \"grades\": [\n"
    "    {\"label\": \"好\", \"letter\": \"A\", \"points\": 100, \"favourable\": true},\n"
    "    {\"label\": \"较好\", \"letter\": \"B\", \"points\": 80, \"favourable\": true},\n"
    "    {\"label\": \"一般\", \"letter\": \"C\", \"points\": 60},\n"
    "    {\"label\": \"差\", \"letter\": \"D\", \"points\": 0, \"unfavourable\": true}\n"
    "  ],\n"
    "  \"items\": [\n"
    "    {\"id\": \"overall\", \"name\": \"总体评价\", \"overall\": true},\n"
    "    {\"id\": \"item2\", \"name\": \"单项二\"}\n"
    "  ],\n"
    "  \"categories\": [\n"
    "    {\"id\": \"c1\", \"name\": \"领导班子成员\", \"weight\": 0.6},\n"
    "    {\"id\": \"c2\", \"name\": \"中层干部\", \"weight\": 0.4}\n"
    "  ],\n"
    "  \"districts\": [{\"id\": \"d1\", \"name\": \"一区\"}],\n"
    "  \"units\": [{\"id\": \"u1\", \"name\": \"一镇\", \"kind\": \"town\", \"district\": \"d1\"}],\n"
    "  \"subjects\": [\n"
    "    {\"id\": \"s01\", \"name\": \"甲\", \"unit\": \"u1\"},\n"
    "    {\"id\": \"s02\", \"name\": \"乙\", \"unit\": \"u1\"},\n"
    "    {\"id\": \"s03\", \"name\": \"丙\", \"unit\": \"u1\"}\n"
    "  ],\n"
    "  \"venues\": [\n"
    "    {\"id\": \"v01\", \"name\": \"一\", \"district\": \"d1\", \"subjects\": [\"s01\", \"s02\"]},\n"
    "    {\"id\": \"v02\", \"name\": \"二\", \"district\": \"d1\", \"subjects\": [\"s03\"]}\n"
    "  ]\n"
    "}\n";

#define EXPECT_GRADES "(expected 好/较好/一般/差 or A/B/C/D)"
#define EXPECT_CATEGORY "(expected c1/c2 or 领导班子成员/中层干部)"
#define MAX_RESULTS 64

typedef struct {
    char *errors[MAX_RESULTS];
    size_t error_count;
    int results[MAX_RESULTS];
    pingyi_ballot_t ballots[MAX_RESULTS];
    uint64_t lines[MAX_RESULTS];
    size_t count; /* records; the first MAX_RESULTS are kept */
    size_t bad;
    size_t errors_total;
    pingyi_input_result_t last;
    char err[PINGYI_ERR_MAX];
    uint8_t digest[PINGYI_DIGEST_LEN];
} run_t;

static pingyi_election_t *s_election;
static pingyi_input_encoding_t s_encoding; /* what parse() sets */
static bool s_file;

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

static void
capture (const char *line, void *arg)
{
    run_t *r = arg;
    r->errors_total++;
    if (r->error_count < MAX_RESULTS)
        r->errors[r->error_count++] = strdup (line);
}

static void
run_free (run_t *r)
{
    for (size_t i = 0; i < r->error_count; i++)
        free (r->errors[i]);
    free (r);
}

/*  Parse text for venue v01, feeding step bytes at a time (0: all at once).  */
static run_t *
parse (pingyi_input_format_t format, const char *name, const char *text, size_t len, size_t step)
{
    run_t *r = calloc (1, sizeof *r);
    assert_non_null (r);
    pingyi_input_t *in = pingyi_input_new (s_election, 0, format, name);
    assert_non_null (in);
    pingyi_input_set_error_fn (in, capture, r);
    pingyi_input_set_encoding (in, s_encoding, s_file);
    size_t fed = 0;
    pingyi_ballot_t ballot;
    for (;;) {
        pingyi_input_result_t rc = pingyi_input_next (in, &ballot, r->err);
        if (rc == PINGYI_INPUT_MORE) {
            if (fed == len) {
                pingyi_input_finish (in);
                continue;
            }
            size_t n = step && len - fed > step ? step : len - fed;
            assert_int_equal (pingyi_input_feed (in, text + fed, n), 0);
            fed += n;
            continue;
        }
        if (rc == PINGYI_INPUT_END || rc == PINGYI_INPUT_FATAL) {
            r->last = rc;
            break;
        }
        r->bad += rc == PINGYI_INPUT_BAD;
        if (r->count < MAX_RESULTS) {
            r->results[r->count] = rc;
            r->lines[r->count] = pingyi_input_line (in);
            if (rc == PINGYI_INPUT_BALLOT)
                r->ballots[r->count] = ballot;
        }
        r->count++;
    }
    assert_int_equal (pingyi_input_records (in), r->count);
    pingyi_input_digest (in, r->digest);
    pingyi_input_destroy (&in);
    assert_null (in);
    return r;
}

static run_t *
parse_str (pingyi_input_format_t format, const char *name, const char *text)
{
    return parse (format, name, text, strlen (text), 0);
}

/*  Form positions on v01: s01 → 0, s02 → 1; items: overall 0, item2 1.
    Grade bits: 好 1, 较好 2, 一般 4, 差 8.  */
static void
assert_ticks (const pingyi_ballot_t *b, uint32_t category, uint32_t s01_overall, uint32_t s01_item2,
              uint32_t s02_overall, uint32_t s02_item2)
{
    assert_int_equal (b->category, category);
    assert_int_equal (b->subject_count, 2);
    assert_int_equal (b->subjects[0], 0);
    assert_int_equal (b->subjects[1], 1);
    assert_int_equal (b->ticks[0][0], s01_overall);
    assert_int_equal (b->ticks[0][1], s01_item2);
    assert_int_equal (b->ticks[1][0], s02_overall);
    assert_int_equal (b->ticks[1][1], s02_item2);
}

/*  ---------------------------------------------------------------------  */

static const char *GOOD_CSV = "\xef\xbb\xbf"
                              "category,s02:item2,s01:overall,s02:overall,s01:item2\r\n"
                              "c1,好,A,较好,b\r\n"
                              "领导班子成员,,差|一般,D,C\r\n"
                              "\"c2\",\"较好\",A,\"B\",\"\"\r\n"
                              "\r\n"
                              "c2, 好 ,a | b, ,\"一般\"\n"
                              "\"c1\",\"好\",\"好\",\"好\",\"差\""; /* no newline at the end */

static void
test_csv_bom_shuffled_header_labels_letters_blank_over_quoting (void **state)
{
    run_t *r = parse_str (PINGYI_INPUT_CSV, "ballots.csv", GOOD_CSV);
    assert_int_equal (r->last, PINGYI_INPUT_END);
    assert_int_equal (r->error_count, 0);
    assert_int_equal (r->count, 5);
    for (size_t i = 0; i < r->count; i++)
        assert_int_equal (r->results[i], PINGYI_INPUT_BALLOT);
    /*  columns: s02:item2, s01:overall, s02:overall, s01:item2  */
    assert_ticks (&r->ballots[0], 0, 1, 2, 2, 1);
    assert_int_equal (r->lines[0], 2);
    assert_ticks (&r->ballots[1], 0, 8 | 4, 4, 8, 0); /* OVER in s01:overall, BLANK in s02:item2 */
    assert_ticks (&r->ballots[2], 1, 1, 0, 2, 2);
    assert_int_equal (r->lines[3], 6); /* the empty line 5 is no record */
    assert_ticks (&r->ballots[3], 1, 1 | 2, 4, 0, 1);
    assert_ticks (&r->ballots[4], 0, 1, 8, 1, 1);

    /*  The model agrees: the OVER cell counts as OVER, the BLANK as BLANK.  */
    uint8_t marks[PINGYI_MAX_CHOICES];
    assert_int_equal (pingyi_cell_marks (&s_election->items[0], r->ballots[1].ticks[0][0], marks), 1);
    assert_int_equal (marks[0], PINGYI_MARK_OVER);
    assert_int_equal (pingyi_cell_marks (&s_election->items[1], r->ballots[1].ticks[1][1], marks), 1);
    assert_int_equal (marks[0], PINGYI_MARK_BLANK);
    run_free (r);
}

static void
test_csv_records_do_not_depend_on_chunking (void **state)
{
    run_t *whole = parse_str (PINGYI_INPUT_CSV, "ballots.csv", GOOD_CSV);
    size_t steps[] = {1, 2, 3, 7, 64};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        run_t *r = parse (PINGYI_INPUT_CSV, "ballots.csv", GOOD_CSV, strlen (GOOD_CSV), steps[s]);
        assert_int_equal (r->count, whole->count);
        for (size_t i = 0; i < r->count; i++) {
            assert_int_equal (r->lines[i], whole->lines[i]);
            assert_memory_equal (&r->ballots[i], &whole->ballots[i], sizeof r->ballots[i]);
        }
        assert_memory_equal (r->digest, whole->digest, PINGYI_DIGEST_LEN);
        run_free (r);
    }
    /*  CRLF or LF makes no difference to the digest; a changed grade does.  */
    char *lf = strdup (GOOD_CSV);
    size_t o = 0;
    for (size_t i = 0; lf[i]; i++)
        if (lf[i] != '\r')
            lf[o++] = lf[i];
    lf[o] = '\0';
    run_t *r = parse_str (PINGYI_INPUT_CSV, "ballots.csv", lf);
    assert_memory_equal (r->digest, whole->digest, PINGYI_DIGEST_LEN);
    run_free (r);
    char *changed = strdup (GOOD_CSV);
    char *at = strstr (changed, "c1,好,A,较好,b");
    at[7] = 'B'; /* "c1,好," is 7 bytes: the A becomes a B */
    r = parse_str (PINGYI_INPUT_CSV, "ballots.csv", changed);
    assert_memory_not_equal (r->digest, whole->digest, PINGYI_DIGEST_LEN);
    run_free (r);
    free (lf);
    free (changed);
    run_free (whole);
}

static void
test_csv_bad_lines_are_reported_and_skipped (void **state)
{
    const char *text = "category,s01:overall,s01:item2,s02:overall,s02:item2\n" /* 1 */
                       "c1,好,较好,一般,差\n"                                   /* 2 good */
                       "c1,好,较好,一般\n"                                      /* 3 */
                       "c1,好,优,一般,差\n"                                     /* 4 */
                       "c9,好,好,好,好\n"                                       /* 5 */
                       "c1,\"好,好,好,好\n"                                     /* 6 */
                       "c1,好\"x,好,好,好\n"                                    /* 7 */
                       "c1,\"好\"x,好,好,好\n"                                  /* 8 */
                       "c1,好|,好,好,好\n"                                      /* 9 */
                       "c1,好|好,好,好,好\n"                                    /* 10 */
                       "\n"                                                     /* 11 empty */
                       "c2,A,B,C,D\n"                                           /* 12 good */
                       ",A,B,C,D\n"                                             /* 13 */
                       "c1,好,好,好,好,好\n"                                    /* 14 */
                       "c1,\x01\",好,好,好\n"                                   /* 15 */
                       "c1,\xff\xfe,好,好,好\n"                                 /* 16 */
                       "c2,,,,\n";                                              /* 17 good, blank */
    run_t *r = parse_str (PINGYI_INPUT_CSV, "ballots.csv", text);
    const char *want[] = {
        "ballots.csv:3:5: expected 5 fields, found 4",
        "ballots.csv:4:3: unknown grade \"优\" for s01:item2 " EXPECT_GRADES,
        "ballots.csv:5:1: unknown category \"c9\" " EXPECT_CATEGORY,
        "ballots.csv:6:2: bad quoting: unterminated quoted field",
        "ballots.csv:7:2: bad quoting: a quote inside an unquoted field",
        "ballots.csv:8:2: bad quoting: text after the closing quote",
        "ballots.csv:9:2: empty grade in \"好|\" for s01:overall",
        "ballots.csv:10:2: grade \"好\" given twice for s01:overall",
        "ballots.csv:13:1: missing category " EXPECT_CATEGORY,
        "ballots.csv:14:6: expected 5 fields, found 6",
        "ballots.csv:15:2: bad quoting: a quote inside an unquoted field",
        "ballots.csv:16:2: not valid UTF-8 (use --encoding gb18030, or re-save the file as UTF-8)",
    };
    assert_int_equal (r->error_count, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < r->error_count; i++)
        assert_string_equal (r->errors[i], want[i]);
    assert_int_equal (r->last, PINGYI_INPUT_END);
    assert_int_equal (r->count, 15); /* lines 2..10 and 12..17 */
    size_t good = 0;
    for (size_t i = 0; i < r->count; i++)
        good += r->results[i] == PINGYI_INPUT_BALLOT;
    assert_int_equal (good, 3);
    assert_int_equal (r->results[0], PINGYI_INPUT_BALLOT);
    assert_ticks (&r->ballots[0], 0, 1, 2, 4, 8);
    assert_int_equal (r->results[9], PINGYI_INPUT_BALLOT);
    assert_int_equal (r->lines[9], 12);
    assert_ticks (&r->ballots[9], 1, 1, 2, 4, 8);
    assert_int_equal (r->results[14], PINGYI_INPUT_BALLOT);
    assert_ticks (&r->ballots[14], 1, 0, 0, 0, 0);
    assert_true (pingyi_ballot_is_blank (&r->ballots[14], s_election));
    run_free (r);

    /*  A control byte is shown escaped, never raw.  */
    r = parse_str (PINGYI_INPUT_CSV, "b.csv",
                   "category,s01:overall,s01:item2,s02:overall,s02:item2\nc1,\x1b[2J,,,\n");
    assert_int_equal (r->error_count, 1);
    assert_string_equal (r->errors[0],
                         "b.csv:2:2: unknown grade \"\\x1b[2J\" for s01:overall " EXPECT_GRADES);
    run_free (r);
}

static void
test_csv_header_errors_are_fatal (void **state)
{
    run_t *r = parse_str (
        PINGYI_INPUT_CSV, "h.csv",
        "category,s01:overall,s99:overall,s01:overall,s03:item2,bogus,s02:overall\nc1,A,A,A,A,A,A\n");
    assert_int_equal (r->last, PINGYI_INPUT_FATAL);
    assert_int_equal (r->count, 0);
    const char *want[] = {
        "h.csv:1:3: unknown cell \"s99:overall\"",
        "h.csv:1:4: duplicate cell \"s01:overall\" (first in column 2)",
        "h.csv:1:5: cell \"s03:item2\": subject \"s03\" is not on venue v01's form",
        "h.csv:1:6: bad cell name \"bogus\" (expected SUBJECT_ID:ITEM_ID, e.g. \"s01:overall\")",
        "h.csv:1:8: missing cell \"s01:item2\"",
        "h.csv:1:8: missing cell \"s02:item2\"",
    };
    assert_int_equal (r->error_count, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < r->error_count; i++)
        assert_string_equal (r->errors[i], want[i]);
    assert_non_null (strstr (r->err, "h.csv: bad CSV header (6 errors)"));
    run_free (r);

    r = parse_str (PINGYI_INPUT_CSV, "x.csv", "cat,s01:overall,s01:item2,s02:overall,s02:item2\n");
    assert_int_equal (r->last, PINGYI_INPUT_FATAL);
    assert_int_equal (r->error_count, 1);
    assert_string_equal (r->errors[0], "x.csv:1:1: first column must be \"category\", found \"cat\"");
    run_free (r);

    r = parse_str (PINGYI_INPUT_CSV, "q.csv", "category,\"s01:overall,s01:item2,s02:overall,s02:item2\n");
    assert_int_equal (r->last, PINGYI_INPUT_FATAL);
    assert_string_equal (r->errors[0], "q.csv:1:2: bad quoting: unterminated quoted field");
    run_free (r);

    r = parse_str (PINGYI_INPUT_CSV, "e.csv", "\n\n");
    assert_int_equal (r->last, PINGYI_INPUT_FATAL);
    assert_non_null (strstr (r->err, "e.csv:3:1: no header line"));
    run_free (r);

    /*  A header alone is a valid, empty input.  */
    r = parse_str (PINGYI_INPUT_CSV, "o.csv", "category,s01:overall,s01:item2,s02:overall,s02:item2\n");
    assert_int_equal (r->last, PINGYI_INPUT_END);
    assert_int_equal (r->count, 0);
    run_free (r);
}

static void
test_jsonl_good_and_bad_lines (void **state)
{
    const char *text =
        "{\"category\":\"c1\",\"cells\":{\"s01:overall\":\"好\",\"s01:item2\":\"\",\"s02:overall\":[\"好\","
        "\"一般\"],"
        "\"s02:item2\":\"b\"}}\n" /* 1 */
        "{\"category\":\"中层干部\",\"cells\":{\"s02:item2\":\"c\",\"s01:overall\":[],\"s01:item2\":\"A|B\","
        "\"s02:overall\":\"D\"}}\r\n" /* 2 */
        "{\"category\":\"c1\",\"cells\":{\"s01:overall\":\"优\",\"s01:item2\":\"\",\"s02:overall\":\"\","
        "\"s02:item2\":\"\"}}\n"                                                            /* 3 */
        "{\"category\":\"c1\"\n"                                                            /* 4 */
        "[1,2]\n"                                                                           /* 5 */
        "{\"category\":\"c1\",\"cells\":{\"s01:overall\":\"好\"}}\n"                        /* 6 */
        "{\"category\":\"c1\",\"cells\":{\"s99:overall\":\"好\"}}\n"                        /* 7 */
        "{\"category\":\"c1\",\"extra\":1,\"cells\":{}}\n"                                  /* 8 */
        "{\"category\":3,\"cells\":{}}\n"                                                   /* 9 */
        "{\"category\":\"c1\",\"cells\":{\"s01:overall\":5}}\n"                             /* 10 */
        "{\"category\":\"c1\",\"cells\":{\"s01:overall\":\"好\",\"s01:overall\":\"好\"}}\n" /* 11 */
        "\n"                                                                                /* 12 */
        "{\"category\":\"c3\",\"cells\":{}}\n"                                              /* 13 */
        "{\"cells\":{}}\n"                                                                  /* 14 */
        "{\"category\":\"c1\",\"cells\":{\"s01:overall\":[\"好\",1]}}\n"                    /* 15 */
        "{\"category\":\"c1\",\"cells\":{\"s03:overall\":\"好\"}}\n"                        /* 16 */
        "{\"category\":\"c2\",\"cells\":{\"s01:overall\":\"\",\"s01:item2\":[],\"s02:overall\":\"\","
        "\"s02:item2\":\"\"}}"; /* 17 */
    run_t *r = parse_str (PINGYI_INPUT_JSONL, "b.jsonl", text);
    assert_int_equal (r->last, PINGYI_INPUT_END);
    assert_int_equal (r->count, 16);
    assert_int_equal (r->results[0], PINGYI_INPUT_BALLOT);
    assert_ticks (&r->ballots[0], 0, 1, 0, 1 | 4, 2);
    assert_int_equal (r->results[1], PINGYI_INPUT_BALLOT);
    assert_ticks (&r->ballots[1], 1, 0, 1 | 2, 8, 4);
    assert_int_equal (r->results[15], PINGYI_INPUT_BALLOT);
    assert_int_equal (r->lines[15], 17);
    assert_true (pingyi_ballot_is_blank (&r->ballots[15], s_election));
    const char *want[] = {
        "b.jsonl:3:1: unknown grade \"优\" for s01:overall " EXPECT_GRADES,
        NULL, /* jansson's own words, checked by prefix */
        "b.jsonl:5:1: expected a JSON object, not an array",
        "b.jsonl:6:1: missing cell \"s01:item2\" (and 2 more)",
        "b.jsonl:7:1: unknown cell \"s99:overall\"",
        "b.jsonl:8:1: unknown key \"extra\" (expected \"category\" and \"cells\")",
        "b.jsonl:9:1: \"category\" must be a string, not an integer",
        "b.jsonl:10:1: cell \"s01:overall\" must be a string or an array of strings, not an integer",
        NULL,
        "b.jsonl:13:1: unknown category \"c3\" " EXPECT_CATEGORY,
        "b.jsonl:14:1: missing \"category\" " EXPECT_CATEGORY,
        "b.jsonl:15:1: cell \"s01:overall\": element 1 must be a string, not an integer",
        "b.jsonl:16:1: cell \"s03:overall\": subject \"s03\" is not on venue v01's form",
    };
    assert_int_equal (r->error_count, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < r->error_count; i++)
        if (want[i])
            assert_string_equal (r->errors[i], want[i]);
    assert_int_equal (strncmp (r->errors[1], "b.jsonl:4:1: invalid JSON: ", 27), 0);
    assert_int_equal (strncmp (r->errors[8], "b.jsonl:11:1: invalid JSON: ", 28), 0);
    assert_non_null (strstr (r->errors[8], "duplicate"));
    run_free (r);
}

static void
test_overlong_line_is_one_bad_record (void **state)
{
    size_t big = PINGYI_INPUT_LINE_MAX + 10;
    const char *header = "category,s01:overall,s01:item2,s02:overall,s02:item2\n";
    const char *tail = "\nc1,A,A,A,A\n";
    size_t len = strlen (header) + big + strlen (tail);
    char *text = malloc (len + 1);
    strcpy (text, header);
    memset (text + strlen (header), 'x', big);
    strcpy (text + strlen (header) + big, tail);
    for (int pass = 0; pass < 2; pass++) {
        run_t *r = parse (PINGYI_INPUT_CSV, "big.csv", text, len, pass ? 4096 : 0);
        assert_int_equal (r->last, PINGYI_INPUT_END);
        assert_int_equal (r->count, 2);
        assert_int_equal (r->results[0], PINGYI_INPUT_BAD);
        assert_int_equal (r->error_count, 1);
        assert_string_equal (r->errors[0], "big.csv:2:1: line longer than 1048576 bytes");
        assert_int_equal (r->results[1], PINGYI_INPUT_BALLOT);
        assert_int_equal (r->lines[1], 3);
        run_free (r);
    }
    free (text);
}

static void
test_hostile_bytes_never_crash (void **state)
{
    /*  Random bytes, biased toward the characters that matter, in both
        formats: every line is a record, good or bad, and nothing breaks.
        One good line opens each, so the first-lines gate lets them in.  */
    static const char alphabet[] = ",\"|:{}[]\\\n\r 好AbC\x00\xff";
    uint64_t x = 42;
    size_t len = 200000;
    char *text = malloc (len);
    for (size_t i = 0; i < len; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        text[i] = (x >> 60) < 12 ? alphabet[(x >> 33) % (sizeof alphabet - 1)] : (char) (x >> 40);
    }
    const char *header = "category,s01:overall,s01:item2,s02:overall,s02:item2\nc1,A,B,C,D\n";
    const char *good_json = "{\"category\":\"c1\",\"cells\":{\"s01:overall\":\"A\",\"s01:item2\":\"B\","
                            "\"s02:overall\":\"C\",\"s02:item2\":\"D\"}}\n";
    memcpy (text, good_json, strlen (good_json));
    char *csv = malloc (strlen (header) + len);
    memcpy (csv, header, strlen (header));
    memcpy (csv + strlen (header), text, len);
    run_t *r = parse (PINGYI_INPUT_CSV, "fuzz.csv", csv, strlen (header) + len, 977);
    assert_int_equal (r->last, PINGYI_INPUT_END);
    assert_true (r->count > 1000);
    assert_int_equal (r->errors_total, r->bad); /* every bad record has its reason */
    run_free (r);
    r = parse (PINGYI_INPUT_JSONL, "fuzz.jsonl", text, len, 0);
    assert_int_equal (r->last, PINGYI_INPUT_END);
    assert_int_equal (r->errors_total, r->bad);
    assert_int_equal (r->bad, r->count - 1);
    run_free (r);
    free (csv);
    free (text);
}

static void
test_format_by_name (void **state)
{
    assert_int_equal (pingyi_input_format_for ("a.jsonl"), PINGYI_INPUT_JSONL);
    assert_int_equal (pingyi_input_format_for ("dir.x/a.JSON"), PINGYI_INPUT_JSONL);
    assert_int_equal (pingyi_input_format_for ("a.csv"), PINGYI_INPUT_CSV);
    assert_int_equal (pingyi_input_format_for ("-"), PINGYI_INPUT_CSV);
    pingyi_input_format_t f;
    assert_int_equal (pingyi_input_format_parse ("jsonl", &f), 0);
    assert_int_equal (f, PINGYI_INPUT_JSONL);
    assert_int_equal (pingyi_input_format_parse ("xml", &f), -1);
}

/*  Nothing of a line outlives its record: once next returns, the bytes
    consumed are zeros, the scratch the fields were unquoted into too, and
    no line is left anywhere in the buffer however it was fed (moved to the
    front, grown); jansson frees through the wiping free.  */
static bool
all_zero (const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void
test_plaintext_is_wiped_as_records_are_read (void **state)
{
    (void) state;
    /*  4000 records, each with a distinctive marker, fed 997 bytes at a
        time: the buffer moves its unread bytes to the front many times.  */
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&text, &len);
    fprintf (out, "category,s01:overall,s01:item2,s02:overall,s02:item2\n");
    for (int i = 0; i < 4000; i++)
        fprintf (out, "%s,好,\"较好\",%s,一般\n", i % 2 ? "c1" : "c2", i % 3 ? "A" : "差|一般");
    fclose (out);
    pingyi_input_t *in = pingyi_input_new (s_election, 0, PINGYI_INPUT_CSV, "wipe.csv");
    assert_non_null (in);
    size_t fed = 0, records = 0;
    pingyi_ballot_t ballot;
    char err[PINGYI_ERR_MAX];
    for (;;) {
        pingyi_input_result_t rc = pingyi_input_next (in, &ballot, err);
        assert_true (all_zero (in->buf, in->start));
        if (in->scratch)
            assert_true (all_zero ((const uint8_t *) in->scratch, in->scratch_cap));
        if (rc == PINGYI_INPUT_MORE) {
            if (fed == len) {
                pingyi_input_finish (in);
                continue;
            }
            size_t n = len - fed > 997 ? 997 : len - fed;
            assert_int_equal (pingyi_input_feed (in, text + fed, n), 0);
            fed += n;
            /*  Past the unread bytes, nothing but zeros.  */
            assert_true (all_zero (in->buf + in->end, in->cap - in->end));
            continue;
        }
        if (rc == PINGYI_INPUT_END)
            break;
        assert_int_equal (rc, PINGYI_INPUT_BALLOT);
        records++;
    }
    assert_int_equal (records, 4000);
    assert_true (all_zero (in->buf, in->cap));
    pingyi_input_destroy (&in);

    /*  A buffer grown past its first block (one line of 200 KB, bad) is
        grown by copy, and the old block does not keep the line.  A good
        line follows, so the first-lines gate lets the bad one through.  */
    in = pingyi_input_new (s_election, 0, PINGYI_INPUT_CSV, "wipe.csv");
    const char *header = "category,s01:overall,s01:item2,s02:overall,s02:item2\n";
    assert_int_equal (pingyi_input_feed (in, header, strlen (header)), 0);
    char *big = malloc (200000);
    memset (big, 'x', 200000);
    big[199999] = '\n';
    assert_int_equal (pingyi_input_feed (in, big, 200000), 0);
    assert_int_equal (pingyi_input_feed (in, "c1,A,B,C,D\n", 11), 0);
    pingyi_input_set_error_fn (in, NULL, NULL);
    FILE *saved = stderr;
    stderr = fopen ("/dev/null", "w");
    assert_int_equal (pingyi_input_next (in, &ballot, err), PINGYI_INPUT_BAD);
    fclose (stderr);
    stderr = saved;
    assert_true (all_zero (in->buf, in->start));
    assert_null (memchr (in->buf, 'x', in->cap));
    assert_true (all_zero ((const uint8_t *) in->scratch, in->scratch_cap));
    assert_int_equal (pingyi_input_next (in, &ballot, err), PINGYI_INPUT_BALLOT);
    sodium_memzero (&ballot, sizeof ballot);
    assert_true (all_zero (in->buf, in->cap));
    assert_true (all_zero ((const uint8_t *) in->scratch, in->scratch_cap));
    free (big);
    pingyi_input_destroy (&in);
    free (text);

    /*  JSON Lines: jansson's blocks are wiped when freed.  */
    in = pingyi_input_new (s_election, 0, PINGYI_INPUT_JSONL, "wipe.jsonl");
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs (&m, &f);
    assert_ptr_equal (f, wiping_free);
    pingyi_input_destroy (&in);
}

/*  ---------------------------------------------------------------------
    Encodings, normalisation, the first-lines gate  */

/*  UTF-8 text as GB18030, converted by iconv(3) as a clerk's PC saves it.  */
static char *
to_gb18030 (const char *utf8, size_t *out_len)
{
    iconv_t cd = iconv_open ("GB18030", "UTF-8");
    assert_true (cd != (iconv_t) -1);
    size_t len = strlen (utf8), cap = 2 * len + 16;
    char *out = calloc (1, cap), *in = (char *) utf8, *o = out;
    size_t in_left = len, out_left = cap;
    assert_int_not_equal (iconv (cd, &in, &in_left, &o, &out_left), (size_t) -1);
    iconv_close (cd);
    *out_len = cap - out_left;
    return out;
}

static const char *CHINESE_CSV = "category,s01:overall,s01:item2,s02:overall,s02:item2\r\n"
                                 "领导班子成员,好,较好,一般,差\r\n"
                                 "中层干部,差|一般,,Ａ,较好\r\n"
                                 "c1,,,,\r\n";

static void
check_chinese_ballots (run_t *r)
{
    assert_int_equal (r->error_count, 0);
    assert_int_equal (r->last, PINGYI_INPUT_END);
    assert_int_equal (r->count, 3);
    assert_ticks (&r->ballots[0], 0, 1, 2, 4, 8);
    assert_ticks (&r->ballots[1], 1, 12, 0, 1, 2);
    assert_ticks (&r->ballots[2], 0, 0, 0, 0, 0);
}

static void
test_gb18030_detected_and_converted (void **state)
{
    (void) state;
    size_t len;
    char *gbk = to_gb18030 (CHINESE_CSV, &len);
    /*  好 in GBK is BA C3: not UTF-8, as the detection relies on.  */
    assert_non_null (memmem (gbk, len, "\xba\xc3", 2));
    run_t *want = parse_str (PINGYI_INPUT_CSV, "b.csv", CHINESE_CSV);
    check_chinese_ballots (want);

    /*  A file judged whole, live input on its first line that is not
        ASCII, or forced: the same ballots, whatever the chunking.  The
        digest is over the bytes as given.  */
    struct {
        pingyi_input_encoding_t encoding;
        bool file;
        size_t step;
    } runs[] = {{PINGYI_ENCODING_AUTO, true, 0},     {PINGYI_ENCODING_AUTO, true, 1},
                {PINGYI_ENCODING_AUTO, false, 0},    {PINGYI_ENCODING_AUTO, false, 1},
                {PINGYI_ENCODING_GB18030, false, 3}, {PINGYI_ENCODING_GB18030, true, 7}};
    uint8_t digest[PINGYI_DIGEST_LEN];
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        s_encoding = runs[i].encoding;
        s_file = runs[i].file;
        run_t *r = parse (PINGYI_INPUT_CSV, "b.csv", gbk, len, runs[i].step);
        check_chinese_ballots (r);
        if (i)
            assert_memory_equal (r->digest, digest, sizeof digest);
        memcpy (digest, r->digest, sizeof digest);
        run_free (r);
    }
    assert_memory_not_equal (want->digest, digest, sizeof digest);
    run_free (want);

    /*  GBK read as UTF-8: its lines that are not ASCII are bad.  */
    s_encoding = PINGYI_ENCODING_UTF8;
    s_file = true;
    run_t *r = parse (PINGYI_INPUT_CSV, "b.csv", gbk, len, 0);
    assert_int_equal (r->last, PINGYI_INPUT_END);
    assert_int_equal (r->count, 3);
    assert_int_equal (r->bad, 2);
    assert_int_equal (r->error_count, 2);
    assert_string_equal (r->errors[0],
                         "b.csv:2:1: not valid UTF-8 (use --encoding gb18030, or re-save the file as UTF-8)");
    assert_string_equal (r->errors[1],
                         "b.csv:3:1: not valid UTF-8 (use --encoding gb18030, or re-save the file as UTF-8)");
    run_free (r);
    /*  Without the last (ASCII) line, every line after the header is bad,
        so nothing is taken (fewer than PINGYI_INPUT_PROBE_LINES: all of
        them).  */
    const char *last = memmem (gbk, len, "\r\nc1,", 5);
    assert_non_null (last);
    r = parse (PINGYI_INPUT_CSV, "b.csv", gbk, (size_t) (last - gbk) + 2, 0);
    assert_int_equal (r->last, PINGYI_INPUT_FATAL);
    assert_int_equal (r->count, 0);
    assert_int_equal (r->error_count, 2);
    assert_string_equal (
        r->err, "b.csv: all 2 lines after the header are bad, so nothing was taken: is it in another "
                "encoding (give --encoding gb18030 or --encoding utf-8) or not made from venue v01's "
                "template?");
    run_free (r);

    /*  A UTF-8 file with one line saved as GBK: that line is bad, with the
        field it goes wrong in; and bytes that are not GB18030 either.  */
    s_encoding = PINGYI_ENCODING_AUTO;
    s_file = true;
    char *mixed = NULL;
    size_t mixed_len = 0;
    FILE *out = open_memstream (&mixed, &mixed_len);
    fputs ("\xef\xbb\xbf"
           "category,s01:overall,s01:item2,s02:overall,s02:item2\nc1,好,好,好,好\n",
           out);
    size_t line_len;
    char *line = to_gb18030 ("领导班子成员,好,较好,一般,差\n", &line_len);
    fwrite (line, 1, line_len, out);
    free (line);
    fputs ("c2,\"A\",B,C,D\n", out);
    fclose (out);
    r = parse (PINGYI_INPUT_CSV, "m.csv", mixed, mixed_len, 0);
    assert_int_equal (r->count, 3);
    assert_int_equal (r->error_count, 1);
    assert_string_equal (r->errors[0],
                         "m.csv:3:1: not valid UTF-8 (use --encoding gb18030, or re-save the file as UTF-8)");
    run_free (r);
    free (mixed);

    s_encoding = PINGYI_ENCODING_GB18030;
    r = parse_str (PINGYI_INPUT_CSV, "g.csv",
                   "category,s01:overall,s01:item2,s02:overall,s02:item2\nc1,A,B,C,D\nc1,A,\"x\",\xff,D\n");
    assert_int_equal (r->error_count, 1);
    assert_string_equal (r->errors[0],
                         "g.csv:3:4: not valid GB18030 (use --encoding utf-8, or re-save the file as UTF-8)");
    run_free (r);

    /*  JSON Lines too; a bad line is at column 1.  */
    s_encoding = PINGYI_ENCODING_AUTO;
    s_file = false;
    char *json =
        to_gb18030 ("{\"category\":\"中层干部\",\"cells\":{\"s01:overall\":\"好\",\"s01:item2\":\"\","
                    "\"s02:overall\":[\"差\",\"一般\"],\"s02:item2\":\"Ｄ\"}}\n"
                    "{\"category\":\"c1\",\"cells\":{}}\n",
                    &len);
    r = parse (PINGYI_INPUT_JSONL, "b.jsonl", json, len, 5);
    assert_int_equal (r->count, 2);
    assert_int_equal (r->results[0], PINGYI_INPUT_BALLOT);
    assert_ticks (&r->ballots[0], 1, 1, 0, 12, 8);
    assert_int_equal (r->error_count, 1);
    assert_string_equal (r->errors[0], "b.jsonl:2:1: missing cell \"s01:overall\" (and 3 more)");
    run_free (r);
    free (json);
    free (gbk);
    s_encoding = PINGYI_ENCODING_AUTO;
    s_file = false;

    pingyi_input_encoding_t e;
    assert_int_equal (pingyi_input_encoding_parse ("GBK", &e), 0);
    assert_int_equal (e, PINGYI_ENCODING_GB18030);
    assert_int_equal (pingyi_input_encoding_parse ("utf-8", &e), 0);
    assert_int_equal (e, PINGYI_ENCODING_UTF8);
    assert_int_equal (pingyi_input_encoding_parse ("latin1", &e), -1);
}

static void
test_normalisation (void **state)
{
    (void) state;
    const char *text = "category,s01:overall,s01:item2,s02:overall,s02:item2\n"            /* 1 */
                       "\xe3\x80\x80领导班子成员\xe3\x80\x80,Ａ,ｂ,\xe3\x80\x80较好 ,Ｃ\n" /* 2 */
                       ",,,,\n"                                                            /* 3 cleared */
                       "ｃ２,好、较好,好｜差,\xe3\x80\x80,\xc2\xa0\n"                      /* 4 */
                       " , ,\t,\xe3\x80\x80,\n"                                            /* 5 cleared */
                       "c1,√,好,好,好\n"                                                   /* 6 */
                       "c1,好,✓,好,好\n"                                                   /* 7 */
                       "c1,好,好,好、✔,好\n"                                               /* 8 */
                       "c1,好、,好,好,好\n"                                                /* 9 */
                       "c1,好、好,好,好,好\n"                                              /* 10 */
                       "\xe3\x80\x80,A,A,A,A\n";                                           /* 11 */
    run_t *r = parse_str (PINGYI_INPUT_CSV, "n.csv", text);
    const char *want[] = {
        "n.csv:6:2: check mark \"√\" for s01:overall is not a grade: write the ticked grade "
        "itself " EXPECT_GRADES,
        "n.csv:7:3: check mark \"✓\" for s01:item2 is not a grade: write the ticked grade "
        "itself " EXPECT_GRADES,
        "n.csv:8:4: check mark \"✔\" for s02:overall is not a grade: write the ticked grade "
        "itself " EXPECT_GRADES,
        "n.csv:9:2: empty grade in \"好、\" for s01:overall",
        "n.csv:10:2: grade \"好\" given twice for s01:overall",
        "n.csv:11:1: missing category " EXPECT_CATEGORY,
    };
    assert_int_equal (r->error_count, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < r->error_count; i++)
        assert_string_equal (r->errors[i], want[i]);
    /*  Cleared rows are no records: lines 2, 4, 6..11.  */
    assert_int_equal (r->count, 8);
    assert_int_equal (r->last, PINGYI_INPUT_END);
    assert_int_equal (r->lines[1], 4);
    assert_ticks (&r->ballots[0], 0, 1, 2, 2, 4);
    assert_ticks (&r->ballots[1], 1, 3, 9, 0, 0);
    run_free (r);

    /*  The same in JSON Lines.  */
    r = parse_str (PINGYI_INPUT_JSONL, "n.jsonl",
                   "{\"category\":\"\xe3\x80\x80中层干部\",\"cells\":{\"s01:overall\":\"好、一般\","
                   "\"s01:item2\":[\"Ｄ\"],\"s02:overall\":\"\xe3\x80\x80\",\"s02:item2\":\"ａ\"}}\n"
                   "{\"category\":\"c1\",\"cells\":{\"s01:overall\":\"√\",\"s01:item2\":\"\","
                   "\"s02:overall\":\"\",\"s02:item2\":\"\"}}\n");
    assert_int_equal (r->count, 2);
    assert_int_equal (r->results[0], PINGYI_INPUT_BALLOT);
    assert_ticks (&r->ballots[0], 1, 5, 8, 0, 1);
    assert_int_equal (r->error_count, 1);
    assert_string_equal (r->errors[0],
                         "n.jsonl:2:1: check mark \"√\" for s01:overall is not a grade: write the "
                         "ticked grade itself " EXPECT_GRADES);
    run_free (r);
}

static void
test_first_lines_all_bad_take_nothing (void **state)
{
    (void) state;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&text, &len);
    fputs ("category,s01:overall,s01:item2,s02:overall,s02:item2\n", out);
    for (int i = 0; i < PINGYI_INPUT_PROBE_LINES; i++)
        fprintf (out, "%sc1,优,好,好,好\n", i == 5 ? ",,,,\n\n" : "");
    fputs ("c1,好,好,好,好\n", out);
    fclose (out);

    /*  20 bad lines (the cleared and the empty one between them are no
        records): each reported once, then the refusal; no record at all,
        however the bytes come.  */
    for (size_t step = 0; step <= 1; step++) {
        run_t *r = parse (PINGYI_INPUT_CSV, "t.csv", text, len, step);
        assert_int_equal (r->last, PINGYI_INPUT_FATAL);
        assert_int_equal (r->count, 0);
        assert_int_equal (r->errors_total, PINGYI_INPUT_PROBE_LINES);
        assert_string_equal (r->errors[0], "t.csv:2:2: unknown grade \"优\" for s01:overall " EXPECT_GRADES);
        assert_string_equal (r->errors[19],
                             "t.csv:23:2: unknown grade \"优\" for s01:overall " EXPECT_GRADES);
        assert_string_equal (r->err,
                             "t.csv: the first 20 lines after the header are all bad, so nothing was taken: "
                             "is it in another encoding (give --encoding gb18030 or --encoding utf-8) or not "
                             "made from venue v01's template?");
        run_free (r);
    }
    /*  19 bad and a good one: all are records, each bad one reported once
        (as it was met, however the bytes come).  */
    char *cut = malloc (len);
    size_t first = strchr (text, '\n') - text + 1;
    size_t line = strchr (text + first, '\n') - text + 1;
    memcpy (cut, text, first);
    memcpy (cut + first, text + line, len - line);
    size_t cut_len = len - (line - first);
    for (size_t step = 0; step <= 1; step++) {
        run_t *r = parse (PINGYI_INPUT_CSV, "t.csv", cut, cut_len, step);
        assert_int_equal (r->last, PINGYI_INPUT_END);
        assert_int_equal (r->count, PINGYI_INPUT_PROBE_LINES);
        assert_int_equal (r->bad, PINGYI_INPUT_PROBE_LINES - 1);
        assert_int_equal (r->errors_total, PINGYI_INPUT_PROBE_LINES - 1);
        assert_int_equal (r->results[PINGYI_INPUT_PROBE_LINES - 1], PINGYI_INPUT_BALLOT);
        run_free (r);
    }
    /*  Fewer lines, all bad: all of them is enough.  */
    run_t *r = parse (PINGYI_INPUT_CSV, "t.csv", text, first + 2 * (line - first), 0);
    assert_int_equal (r->last, PINGYI_INPUT_FATAL);
    assert_int_equal (r->count, 0);
    assert_string_equal (
        r->err, "t.csv: all 2 lines after the header are bad, so nothing was taken: is it in another "
                "encoding (give --encoding gb18030 or --encoding utf-8) or not made from venue v01's "
                "template?");
    run_free (r);
    /*  A header alone is an empty input, not a bad one.  */
    r = parse (PINGYI_INPUT_CSV, "t.csv", text, first, 0);
    assert_int_equal (r->last, PINGYI_INPUT_END);
    run_free (r);
    free (cut);
    free (text);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_csv_bom_shuffled_header_labels_letters_blank_over_quoting),
        cmocka_unit_test (test_csv_records_do_not_depend_on_chunking),
        cmocka_unit_test (test_csv_bad_lines_are_reported_and_skipped),
        cmocka_unit_test (test_csv_header_errors_are_fatal),
        cmocka_unit_test (test_jsonl_good_and_bad_lines),
        cmocka_unit_test (test_overlong_line_is_one_bad_record),
        cmocka_unit_test (test_hostile_bytes_never_crash),
        cmocka_unit_test (test_format_by_name),
        cmocka_unit_test (test_plaintext_is_wiped_as_records_are_read),
        cmocka_unit_test (test_gb18030_detected_and_converted),
        cmocka_unit_test (test_normalisation),
        cmocka_unit_test (test_first_lines_all_bad_take_nothing),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
