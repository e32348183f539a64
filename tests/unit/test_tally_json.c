/*  test_tally_json.c — the tally document (`pingyi tally --json`, the
    aggregator's GET /api/v1/tally) written and read back: a round trip
    gives the same counters and figures; the writer's bytes are exact;
    every kind of bad document is refused with its exact reason, the
    offending text quoted safely, and leaves the tally empty.  */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "tally_json.h"

/*  Two venues: v1 rates s1 and s2, v2 rates s2 only.  k_anonymity is the
    default, 10.  */
static const char *DEF =
    "{\"version\": 1, \"id\": \"tj\", \"title\": \"tally json\", \"shards\": 2,\n"
    " \"grades\": [{\"label\": \"好\", \"points\": 100}, {\"label\": \"差\", \"points\": 0}],\n"
    " \"items\": [{\"id\": \"overall\", \"name\": \"总体评价\", \"overall\": true}],\n"
    " \"categories\": [{\"id\": \"leaders\", \"name\": \"领导\"}, {\"id\": \"staff\", \"name\": \"干部\"}],\n"
    " \"districts\": [{\"id\": \"d1\", \"name\": \"一区\"}],\n"
    " \"units\": [{\"id\": \"u1\", \"name\": \"单位\", \"kind\": \"town\", \"district\": \"d1\"}],\n"
    " \"subjects\": [{\"id\": \"s1\", \"name\": \"甲\", \"unit\": \"u1\"}, {\"id\": \"s2\", \"name\": "
    "\"乙\", "
    "\"unit\": \"u1\"}],\n"
    " \"venues\": [{\"id\": \"v1\", \"name\": \"会场一\", \"district\": \"d1\", \"shard\": 0, \"subjects\": "
    "[\"s1\", "
    "\"s2\"]},\n"
    "            {\"id\": \"v2\", \"name\": \"会场二\", \"district\": \"d1\", \"shard\": 1, \"subjects\": "
    "[\"s2\"]}]}\n";

typedef struct {
    pingyi_election_t *e;
    pingyi_tally_t *t;
} fixture_t;

static void
add (pingyi_tally_t *t, int venue, int subject, int category, int mark, uint64_t count)
{
    pingyi_counter_key_t k = {(uint16_t) venue, (uint16_t) subject, 0, (uint8_t) category, (uint8_t) mark};
    assert_int_equal (pingyi_tally_add_cell (t, &k, count), 0);
}

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    f->e = pingyi_election_parse ((const uint8_t *) DEF, strlen (DEF), NULL);
    if (!f->e)
        return -1;
    f->t = pingyi_tally_new (f->e);
    add (f->t, 0, 0, 0, 0, 7);
    add (f->t, 0, 1, 1, PINGYI_MARK_BLANK, 2);
    add (f->t, 1, 1, 0, 1, 3);
    add (f->t, 1, 1, 1, PINGYI_MARK_OVER, 1);
    pingyi_venue_figures_t v1 = {.venue = 0,
                                 .accepted = 9,
                                 .blank = 2,
                                 .duplicates = 1,
                                 .rejected = 3,
                                 .issued = 10,
                                 .collected = 9,
                                 .sent = 12,
                                 .closed = true};
    v1.rejected_by[PINGYI_REJECT_MALFORMED] = 2;
    v1.rejected_by[PINGYI_REJECT_BAD_MARK] = 1;
    pingyi_tally_set_figures (f->t, &v1);
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    pingyi_tally_destroy (&f->t);
    pingyi_election_destroy (&f->e);
    free (f);
    return 0;
}

static char *
write_doc (const fixture_t *f, unsigned flags, const pingyi_tally_shard_t *shards, size_t n)
{
    char *text = NULL;
    size_t len = 0;
    char err[PINGYI_ERR_MAX];
    FILE *out = open_memstream (&text, &len);
    assert_int_equal (pingyi_tally_write_json (f->t, f->e, shards, n, flags, out, err), 0);
    fclose (out);
    return text;
}

static void
test_writer_bytes (void **state)
{
    fixture_t *f = *state;
    pingyi_tally_shard_t shard = {.shard = 1, .sequence = 4, .age_ms = -1};
    memset (shard.digest, 0xab, sizeof shard.digest);
    char *text = write_doc (f, 0, &shard, 1);
    char want[4096];
    snprintf (
        want, sizeof want,
        "{\n  \"election\": \"%s\",\n  \"shards\": [\n"
        "    {\"shard\":1,\"sequence\":4,\"digest\":\"%s\"}\n  ],\n  \"venues\": [\n"
        "    {\"venue\":\"v1\",\"accepted\":9,\"blank\":2,\"duplicates\":1,\"rejected\":3,\"issued\":10,"
        "\"collected\":9,\"sent\":12,\"closed\":true,\"reopens\":0,\"rejected_by\":{\"malformed\":2,\"bad_mark\":1}},\n"
        "    {\"venue\":\"v2\",\"accepted\":0,\"blank\":0,\"duplicates\":0,\"rejected\":0,\"issued\":-1,"
        "\"collected\":-1,\"sent\":-1,\"closed\":false,\"reopens\":0,\"rejected_by\":{}}\n  ],\n  \"counters\": [\n"
        "    "
        "{\"venue\":\"v1\",\"subject\":\"s1\",\"item\":\"overall\",\"category\":\"leaders\",\"mark\":\"好\","
        "\"count\":7},\n"
        "    "
        "{\"venue\":\"v1\",\"subject\":\"s2\",\"item\":\"overall\",\"category\":\"staff\",\"mark\":\"BLANK\","
        "\"count\":2},\n"
        "    "
        "{\"venue\":\"v2\",\"subject\":\"s2\",\"item\":\"overall\",\"category\":\"leaders\",\"mark\":\"差\","
        "\"count\":3},\n"
        "    "
        "{\"venue\":\"v2\",\"subject\":\"s2\",\"item\":\"overall\",\"category\":\"staff\",\"mark\":\"OVER\","
        "\"count\":1}\n  ]\n}\n",
        f->e->fingerprint_hex, "abababababababababababababababababababababababababababababababab");
    assert_string_equal (text, want);
    free (text);
    /* the aggregator's flavour: api first, age and stale per shard */
    shard.age_ms = 250;
    shard.stale = true;
    text = write_doc (f, PINGYI_TALLY_JSON_WITH_API, &shard, 1);
    assert_memory_equal (text, "{\n  \"api\": 1,\n  \"election\": ", 27);
    assert_non_null (strstr (text, ",\"age_ms\":250,\"stale\":true}"));
    free (text);
}

static void
test_round_trip (void **state)
{
    fixture_t *f = *state;
    pingyi_tally_shard_t shards[2] = {{.shard = 0, .sequence = 9, .age_ms = 12}, {.shard = 1, .age_ms = -1}};
    shards[0].digest[0] = 0x42;
    char *text = write_doc (f, PINGYI_TALLY_JSON_WITH_API, shards, 2);
    json_error_t jerr;
    json_t *doc = json_loads (text, JSON_REJECT_DUPLICATES, &jerr);
    free (text);
    assert_non_null (doc);
    pingyi_tally_t *back = pingyi_tally_new (f->e);
    add (back, 0, 0, 0, 0, 1000); /* reading starts from an empty tally */
    char err[PINGYI_ERR_MAX] = "";
    assert_int_equal (pingyi_tally_from_json (back, f->e, doc, err), 0);
    for (size_t v = 0; v < f->e->venue_count; v++) {
        const pingyi_venue_t *venue = &f->e->venues[v];
        for (size_t p = 0; p < venue->subject_count; p++)
            for (size_t c = 0; c < 2; c++)
                for (int m = 0; m < 256; m++)
                    assert_int_equal (pingyi_tally_get (back, v, venue->subjects[p], 0, c, (uint8_t) m),
                                      pingyi_tally_get (f->t, v, venue->subjects[p], 0, c, (uint8_t) m));
        assert_memory_equal (pingyi_tally_figures (back, v), pingyi_tally_figures (f->t, v),
                             sizeof (pingyi_venue_figures_t));
    }
    pingyi_tally_shard_t got[2];
    assert_int_equal (pingyi_tally_shards_from_json (f->e, doc, got, err), 2);
    assert_int_equal (got[0].shard, 0);
    assert_int_equal (got[0].sequence, 9);
    assert_int_equal (got[0].age_ms, 12);
    assert_int_equal (got[0].digest[0], 0x42);
    assert_false (got[0].stale);
    assert_int_equal (got[1].age_ms, -1);
    json_decref (doc);
    pingyi_tally_destroy (&back);
}

/*  A document around venues and counters given as JSON text.  */
static json_t *
doc_of (const fixture_t *f, const char *venues, const char *counters)
{
    char text[4096];
    snprintf (text, sizeof text, "{\"api\": 1, \"election\": \"%s\", \"venues\": [%s], \"counters\": [%s]}",
              f->e->fingerprint_hex, venues, counters);
    json_error_t jerr;
    json_t *doc = json_loads (text, 0, &jerr);
    if (!doc)
        fail_msg ("test document: %s: %s", jerr.text, text);
    return doc;
}

static const char *GOOD_VENUE =
    "{\"venue\": \"v1\", \"accepted\": 1, \"blank\": 0, \"duplicates\": 0, \"rejected\": 0,"
    " \"issued\": 1, \"collected\": 1, \"sent\": 1, \"closed\": true, \"rejected_by\": {}}";
static const char *GOOD_COUNTER = "{\"venue\": \"v1\", \"subject\": \"s1\", \"item\": \"overall\", "
                                  "\"category\": \"leaders\", \"mark\": \"好\", "
                                  "\"count\": 5}";

static void
refused (const fixture_t *f, json_t *doc, const char *why)
{
    char err[PINGYI_ERR_MAX] = "";
    assert_int_equal (pingyi_tally_from_json (f->t, f->e, doc, err), -1);
    assert_string_equal (err, why);
    /* never half-filled: the good counter before the bad one is gone too */
    assert_int_equal (pingyi_tally_get (f->t, 0, 0, 0, 0, 0), 0);
    assert_int_equal (pingyi_tally_figures (f->t, 0)->accepted, 0);
    json_decref (doc);
}

static void
test_hostile_documents (void **state)
{
    fixture_t *f = *state;
    char why[512];
    json_error_t jerr;
    refused (f, json_loads ("[1]", 0, &jerr), "tally: must be a JSON object, not an array");
    refused (
        f,
        json_loads ("{\"election\": \"00000000000000000000000000000000000000000000000000000000000000aa\","
                    " \"venues\": [], \"counters\": []}",
                    0, &jerr),
        (snprintf (why, sizeof why,
                   "tally.election: the tally is for election "
                   "\"000000000000000000000000000000000000000000000000...\", not this definition's %.16s...",
                   f->e->fingerprint_hex),
         why));
    refused (f, json_loads ("{\"api\": 2}", 0, &jerr), "tally.api: this reader knows api 1 only");
    refused (f, json_loads ("{\"venues\": []}", 0, &jerr), "tally: missing \"election\"");
    snprintf (why, sizeof why, "{\"election\": \"%s\", \"venues\": {}, \"counters\": []}",
              f->e->fingerprint_hex);
    refused (f, json_loads (why, 0, &jerr), "tally.venues: must be an array, not an object");
    snprintf (why, sizeof why, "{\"election\": \"%s\", \"venues\": []}", f->e->fingerprint_hex);
    refused (f, json_loads (why, 0, &jerr), "tally: missing \"counters\"");

    refused (f, doc_of (f, GOOD_VENUE, "{\"venue\": \"v1\", \"subject\": \"s99\"}"),
             "tally.counters[0].subject: unknown subject \"s99\"");
    refused (
        f,
        doc_of (f, GOOD_VENUE,
                "{\"venue\": \"v1\", \"subject\": \"s1\\u0001\\\"\", \"item\": \"overall\", \"category\": "
                "\"leaders\", \"mark\": \"好\", \"count\": 1}"),
        "tally.counters[0].subject: unknown subject \"s1\\x01\\\"\"");
    char counters[1024];
    snprintf (
        counters, sizeof counters,
        "%s, {\"venue\": \"v1\", \"subject\": \"s1\", \"item\": \"overall\", \"category\": \"leaders\", "
        "\"mark\": \"优\", \"count\": 1}",
        GOOD_COUNTER);
    refused (f, doc_of (f, GOOD_VENUE, counters),
             "tally.counters[1].mark: \"优\" is not a choice of item overall, nor BLANK or OVER");
    refused (
        f,
        doc_of (f, GOOD_VENUE,
                "{\"venue\": \"v1\", \"subject\": \"s1\", \"item\": \"overall\", \"category\": \"leaders\", "
                "\"mark\": \"好\", \"count\": -1}"),
        "tally.counters[0].count: -1 is out of range 0..9223372036854775807");
    refused (
        f,
        doc_of (f, GOOD_VENUE,
                "{\"venue\": \"v1\", \"subject\": \"s1\", \"item\": \"overall\", \"category\": \"leaders\", "
                "\"mark\": \"好\", \"count\": 1.5}"),
        "tally.counters[0].count: must be an integer, not a real number");
    refused (
        f,
        doc_of (f, GOOD_VENUE,
                "{\"venue\": \"v2\", \"subject\": \"s1\", \"item\": \"overall\", \"category\": \"leaders\", "
                "\"mark\": \"好\", \"count\": 1}"),
        "tally.counters[0]: subject s1 is not on venue v2's form");
    refused (
        f,
        doc_of (f, GOOD_VENUE,
                "{\"venue\": \"v1\", \"subject\": \"s1\", \"item\": \"duty\", \"category\": \"leaders\", "
                "\"mark\": \"好\", \"count\": 1}"),
        "tally.counters[0].item: unknown item \"duty\"");
    refused (f,
             doc_of (f, GOOD_VENUE,
                     "{\"venue\": \"v1\", \"subject\": \"s1\", \"item\": \"overall\", \"category\": 3, "
                     "\"mark\": \"好\", \"count\": 1}"),
             "tally.counters[0].category: must be a string, not an integer");
    refused (f, doc_of (f, GOOD_VENUE, "7"), "tally.counters[0]: must be an object, not an integer");
    const char *big =
        "{\"venue\": \"v1\", \"subject\": \"s1\", \"item\": \"overall\", \"category\": \"leaders\", "
        "\"mark\": \"好\", \"count\": 9223372036854775807}";
    /* a sum past INT64_MAX could not be written back as a JSON integer */
    snprintf (counters, sizeof counters, "%s, %s, %s", big, big, big);
    refused (f, doc_of (f, GOOD_VENUE, counters), "tally.counters[1].count: the counter overflows");

    char venues[1024];
    snprintf (venues, sizeof venues, "%s, %s", GOOD_VENUE, GOOD_VENUE);
    refused (f, doc_of (f, venues, ""), "tally.venues[1].venue: venue v1 appears twice");
    refused (f, doc_of (f, "{\"venue\": \"v9\"}", ""), "tally.venues[0].venue: unknown venue \"v9\"");
    refused (f, doc_of (f, "{\"venue\": \"v1\", \"accepted\": 1}", ""), "tally.venues[0]: missing \"blank\"");
    refused (f,
             doc_of (f,
                     "{\"venue\": \"v1\", \"accepted\": 1, \"blank\": 0, \"duplicates\": 0, \"rejected\": 0,"
                     " \"issued\": -2, \"collected\": 1, \"sent\": 1, \"closed\": true}",
                     ""),
             "tally.venues[0].issued: -2 is out of range -1..9223372036854775807");
    refused (f,
             doc_of (f,
                     "{\"venue\": \"v1\", \"accepted\": 1, \"blank\": 0, \"duplicates\": 0, \"rejected\": 0,"
                     " \"issued\": 1, \"collected\": 1, \"sent\": 1, \"closed\": 1}",
                     ""),
             "tally.venues[0].closed: must be true or false, not an integer");
    refused (f,
             doc_of (f,
                     "{\"venue\": \"v1\", \"accepted\": 1, \"blank\": 0, \"duplicates\": 0, \"rejected\": 0,"
                     " \"issued\": 1, \"collected\": 1, \"sent\": 1, \"closed\": true, \"rejected_by\": "
                     "{\"bogus\": 1}}",
                     ""),
             "tally.venues[0].rejected_by: unknown rejection reason \"bogus\"");

    /* shards: numbers below the shard count, each once, a 64-hex digest */
    pingyi_tally_shard_t shards[2];
    char err[PINGYI_ERR_MAX];
    snprintf (why, sizeof why, "{\"election\": \"%s\", \"shards\": [{\"shard\": 2}]}", f->e->fingerprint_hex);
    json_t *doc = json_loads (why, 0, &jerr);
    assert_int_equal (pingyi_tally_shards_from_json (f->e, doc, shards, err), -1);
    assert_string_equal (err, "tally.shards[0].shard: 2 is out of range 0..1");
    json_decref (doc);
    snprintf (why, sizeof why,
              "{\"election\": \"%s\", \"shards\": [{\"shard\": 1, \"sequence\": 0, \"digest\": \"xy\"}]}",
              f->e->fingerprint_hex);
    doc = json_loads (why, 0, &jerr);
    assert_int_equal (pingyi_tally_shards_from_json (f->e, doc, shards, err), -1);
    assert_string_equal (err, "tally.shards[0].digest: must be 64 hex digits");
    json_decref (doc);
    snprintf (why, sizeof why, "{\"election\": \"%s\", \"shards\": [{}, {}, {}]}", f->e->fingerprint_hex);
    doc = json_loads (why, 0, &jerr);
    assert_int_equal (pingyi_tally_shards_from_json (f->e, doc, shards, err), -1);
    assert_string_equal (err, "tally.shards: 3 shards listed, the election has 2");
    json_decref (doc);
}

/*  ---------------------------------------------------------------------
    The released document: the fixture's tally released with k = 2.
    Groups: (v1, leaders) 7 ballots, (v1, staff) 2 (v1's by_category);
    v2 sends none: its counters show leaders 3, staff 1.
    - (v2, staff) 1 < 2: hidden; v2's accepted would then give it back
      (the venue line): its leaders (3) is hidden too.
    - s2 (v1 + v2) shows staff 3, of which v2's 1 is hidden: v1's staff
      (2) must not be published beside it: hidden.
    So only (v1, leaders) is published: one counter, one by_category.  */
static void
test_released_writer (void **state)
{
    fixture_t *f = *state;
    pingyi_venue_figures_t v1 = *pingyi_tally_figures (f->t, 0);
    v1.category_count = 2;
    v1.by_category[0] = 7;
    v1.by_category[1] = 2;
    pingyi_tally_set_figures (f->t, &v1);
    pingyi_view_t *v = pingyi_view_new_k (f->e, f->t, 2);
    assert_non_null (v);
    assert_false (pingyi_view_group_hidden (v, 0, 0));
    assert_true (pingyi_view_group_hidden (v, 0, 1));
    assert_true (pingyi_view_group_hidden (v, 1, 0));
    assert_true (pingyi_view_group_hidden (v, 1, 1));
    pingyi_tally_shard_t shard = {.shard = 0, .sequence = 9, .age_ms = 5};
    char *text = NULL;
    size_t len = 0;
    char err[PINGYI_ERR_MAX];
    FILE *out = open_memstream (&text, &len);
    assert_int_equal (
        pingyi_tally_write_released_json (f->t, v, &shard, 1, PINGYI_TALLY_JSON_WITH_API, out, err), 0);
    fclose (out);
    assert_non_null (strstr (text,
                             "\"closed\":true,\"reopens\":0,\"rejected_by\":{\"malformed\":2,\"bad_mark\":1},"
                             "\"by_category\":{\"leaders\":7},\"suppressed_categories\":[\"staff\"]},\n"));
    assert_non_null (strstr (text, "\"closed\":false,\"reopens\":0,\"rejected_by\":{},\"by_category\":{},"
                                   "\"suppressed_categories\":[\"leaders\",\"staff\"]}\n"));
    assert_non_null (
        strstr (text, "  \"counters\": [\n    {\"venue\":\"v1\",\"subject\":\"s1\",\"item\":\"overall\","
                      "\"category\":\"leaders\",\"mark\":\"好\",\"count\":7}\n  ]\n}\n"));
    /* read back: the published group only, the figures with it */
    json_error_t jerr;
    json_t *doc = json_loads (text, JSON_REJECT_DUPLICATES, &jerr);
    free (text);
    assert_non_null (doc);
    pingyi_tally_t *back = pingyi_tally_new (f->e);
    if (pingyi_tally_from_json (back, f->e, doc, err))
        fail_msg ("%s", err);
    assert_int_equal (pingyi_tally_get (back, 0, 0, 0, 0, 0), 7);
    assert_int_equal (pingyi_tally_get (back, 0, 1, 0, 1, PINGYI_MARK_BLANK), 0);
    assert_int_equal (pingyi_tally_get (back, 1, 1, 0, 0, 1), 0);
    assert_int_equal (pingyi_tally_figures (back, 0)->category_count, 2);
    assert_int_equal (pingyi_tally_figures (back, 0)->by_category[0], 7);
    assert_int_equal (pingyi_tally_figures (back, 0)->by_category[1], 0);
    json_decref (doc);
    pingyi_tally_destroy (&back);
    pingyi_view_destroy (&v);

    /* the offline document keeps every figure */
    text = write_doc (f, 0, NULL, 0);
    assert_non_null (strstr (text, "\"by_category\":{\"leaders\":7,\"staff\":2}}"));
    assert_null (strstr (text, "suppressed_categories"));
    free (text);
}

static void
test_hostile_categories (void **state)
{
    fixture_t *f = *state;
    const char *head =
        "{\"venue\": \"v1\", \"accepted\": 1, \"blank\": 0, \"duplicates\": 0, \"rejected\": 0,"
        " \"issued\": 1, \"collected\": 1, \"sent\": 1, \"closed\": true";
    struct {
        const char *tail, *why;
    } cases[] = {
        {", \"by_category\": []}", "tally.venues[0].by_category: must be an object, not an array"},
        {", \"by_category\": {\"boss\": 1}}", "tally.venues[0].by_category: unknown category \"boss\""},
        {", \"by_category\": {\"staff\": -1}}",
         "tally.venues[0].by_category.staff: -1 is out of range 0..9223372036854775807"},
        {", \"suppressed_categories\": \"staff\"}",
         "tally.venues[0].suppressed_categories: must be an array, not a string"},
        {", \"suppressed_categories\": [3]}",
         "tally.venues[0].suppressed_categories[0]: must be a string, not an integer"},
        {", \"suppressed_categories\": [\"boss\"]}",
         "tally.venues[0].suppressed_categories[0]: unknown category \"boss\""},
        {", \"suppressed_categories\": [\"staff\", \"staff\"]}",
         "tally.venues[0].suppressed_categories[1]: category staff is named twice"},
        {", \"by_category\": {\"staff\": 12}, \"suppressed_categories\": [\"staff\"]}",
         "tally.venues[0].suppressed_categories[0]: category staff is named twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char venue[512];
        snprintf (venue, sizeof venue, "%s%s", head, cases[i].tail);
        refused (f, doc_of (f, venue, ""), cases[i].why);
    }
}

/*  ---------------------------------------------------------------------
    The view document.  */

/*  A tally with something to show and something to withhold (k = 10):
    v1 leaders 20 ballots, staff 2; v2 leaders 15.  */
static void
fill_view_tally (fixture_t *f)
{
    pingyi_tally_reset (f->t);
    add (f->t, 0, 0, 0, 0, 12);
    add (f->t, 0, 0, 0, 1, 8);
    add (f->t, 0, 1, 0, 0, 20);
    add (f->t, 0, 0, 1, 0, 2);
    add (f->t, 0, 1, 1, PINGYI_MARK_BLANK, 2);
    add (f->t, 1, 1, 0, 0, 5);
    add (f->t, 1, 1, 0, 1, 10);
    pingyi_venue_figures_t v1 = {.venue = 0,
                                 .accepted = 22,
                                 .issued = 22,
                                 .collected = 22,
                                 .sent = 22,
                                 .closed = true,
                                 .category_count = 2};
    v1.by_category[0] = 20;
    v1.by_category[1] = 2;
    pingyi_venue_figures_t v2 = {
        .venue = 1, .accepted = 15, .issued = -1, .collected = -1, .sent = -1, .category_count = 2};
    v2.by_category[0] = 15;
    v2.rejected = 1;
    v2.rejected_by[PINGYI_REJECT_DECRYPT] = 1;
    pingyi_tally_set_figures (f->t, &v1);
    pingyi_tally_set_figures (f->t, &v2);
}

static char *
write_view (const pingyi_view_t *v, const char *extra)
{
    pingyi_tally_shard_t shards[2] = {{.shard = 0, .sequence = 22, .age_ms = 10},
                                      {.shard = 1, .age_ms = 7000, .stale = true}};
    char *text = NULL;
    size_t len = 0;
    char err[PINGYI_ERR_MAX];
    FILE *out = open_memstream (&text, &len);
    assert_int_equal (pingyi_view_write_json (v, shards, 2, extra, out, err), 0);
    fclose (out);
    return text;
}

/*  Every rendering of the view read back is byte for byte the
    rendering of the view written.  */
static void
test_view_round_trip (void **state)
{
    fixture_t *f = *state;
    fill_view_tally (f);
    pingyi_view_t *v = pingyi_view_new (f->e, f->t);
    assert_true (v->suppressed_cells > 0);
    char *text = write_view (v, "\"round\": 9");
    json_error_t jerr;
    json_t *doc = json_loads (text, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        fail_msg ("%s: %s", jerr.text, text);
    assert_int_equal (json_integer_value (json_object_get (doc, "round")), 9);
    assert_int_equal (json_integer_value (json_object_get (doc, "k_anonymity")), 10);
    char err[PINGYI_ERR_MAX] = "";
    pingyi_view_t *back = pingyi_view_from_json (f->e, doc, err);
    if (!back)
        fail_msg ("%s", err);
    assert_int_equal (back->snapshot_at, 0); /* the reader's caller sets it (pingyi query: merged_at) */
    back->snapshot_at = v->snapshot_at;
    pingyi_tally_shard_t shards[2];
    assert_int_equal (pingyi_tally_shards_from_json (f->e, doc, shards, err), 2);
    assert_true (shards[1].stale);
    assert_int_equal (back->k, 10);
    assert_int_equal (back->suppressed_cells, v->suppressed_cells);
    assert_int_equal (back->accepted, 37);
    assert_int_equal (back->venues_reconciled, 1);
    assert_false (back->final);
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++)
        for (int c = -1; c < 2; c++)
            for (int i = -1; i < (int) f->e->item_count; i++) {
                pingyi_report_filter_t filter = {
                    .level = (pingyi_level_t) l, .district = -1, .category = c, .item = i};
                json_t *a = pingyi_report_json (v, &filter), *b = pingyi_report_json (back, &filter);
                char *ta = json_dumps (a, PINGYI_REPORT_JSON_FLAGS),
                     *tb = json_dumps (b, PINGYI_REPORT_JSON_FLAGS);
                assert_string_equal (ta, tb);
                free (ta);
                free (tb);
                json_decref (a);
                json_decref (b);
                char *ca = NULL, *cb = NULL;
                size_t la = 0, lb = 0;
                FILE *oa = open_memstream (&ca, &la), *ob = open_memstream (&cb, &lb);
                assert_int_equal (pingyi_report_table (v, &filter, 80, oa, err), 0);
                assert_int_equal (pingyi_report_table (back, &filter, 80, ob, err), 0);
                fclose (oa);
                fclose (ob);
                assert_string_equal (ca, cb);
                free (ca);
                free (cb);
            }
    /* written again, the same document */
    char *again = write_view (back, "\"round\": 9");
    json_t *doc2 = json_loads (again, 0, &jerr);
    assert_true (json_equal (json_object_get (doc, "levels"), json_object_get (doc2, "levels")));
    free (again);
    json_decref (doc2);
    json_decref (doc);
    free (text);
    pingyi_view_destroy (&back);
    pingyi_view_destroy (&v);
}

/*  Replace the first occurrence of from in text (malloc'd) by to.  */
static char *
replaced (const char *text, const char *from, const char *to)
{
    const char *at = strstr (text, from);
    if (!at)
        fail_msg ("test: \"%s\" not in the document", from);
    size_t n = strlen (text) - strlen (from) + strlen (to);
    char *out = malloc (n + 1);
    snprintf (out, n + 1, "%.*s%s%s", (int) (at - text), text, to, at + strlen (from));
    return out;
}

static void
view_refused (const fixture_t *f, const char *text, const char *why)
{
    json_error_t jerr;
    json_t *doc = json_loads (text, 0, &jerr);
    if (!doc)
        fail_msg ("test document: %s", jerr.text);
    char err[PINGYI_ERR_MAX] = "";
    pingyi_view_t *v = pingyi_view_from_json (f->e, doc, err);
    if (v)
        fail_msg ("accepted, expected: %s", why);
    assert_string_equal (err, why);
    json_decref (doc);
}

static void
test_view_hostile (void **state)
{
    fixture_t *f = *state;
    fill_view_tally (f);
    pingyi_view_t *v = pingyi_view_new (f->e, f->t);
    char *good = write_view (v, NULL);
    pingyi_view_destroy (&v);
    /* the s1 row: leaders and staff suppressed (staff: 2 ballots; leaders
       goes with it), the row shown */
    const char *s1 = "{\"id\":\"s1\",\"suppressed\":false,\"cells\":[[null,null,[14,8,0,0,80]]]}";
    assert_non_null (strstr (good, s1));
    struct {
        const char *from, *to, *why;
    } cases[] = {
        {"\"k_anonymity\": 10", "\"k_anonymity\": 1", "view.k_anonymity: 1, but the definition says 10"},
        {"\"k_anonymity\": 10", "\"k_anonymity\": \"10\"",
         "view.k_anonymity: must be an integer, not a string"},
        {"\"levels\": {", "\"levels\": [], \"x\": {", "view.levels: must be an object, not an array"},
        {"\"subject\": [", "\"subjects\": [",
         "view.levels.subject: must be an array of the definition's 2 rows"},
        {"{\"id\":\"s1\"", "{\"id\":\"s9\"",
         "view.levels.subject[0].id: \"s9\" where the definition has \"s1\""},
        {s1, "{\"id\":\"s1\",\"suppressed\":0,\"cells\":[[null,null,[14,8,0,0,80]]]}",
         "view.levels.subject[0].suppressed: must be true or false, not an integer"},
        {s1, "{\"id\":\"s1\",\"suppressed\":false,\"cells\":[[null,null,[14,8,0,80]]]}",
         "view.levels.subject[0].cells[0][2]: must be null or an array of 5 numbers"},
        {s1, "{\"id\":\"s1\",\"suppressed\":false,\"cells\":[[null,null,[14,-8,0,0,80]]]}",
         "view.levels.subject[0].cells[0][2][1]: must be a count (an integer >= 0), not a negative one"},
        {s1, "{\"id\":\"s1\",\"suppressed\":false,\"cells\":[[null,null,[14,8,0,0,\"80\"]]]}",
         "view.levels.subject[0].cells[0][2][4]: the score must be a number or null, not a string"},
        {s1, "{\"id\":\"s1\",\"suppressed\":true,\"cells\":[[null,null,[14,8,0,0,80]]]}",
         "view.levels.subject[0].cells[0][2]: a figure in a suppressed row"},
        {s1, "{\"id\":\"s1\",\"suppressed\":false,\"cells\":[[null,null,null]]}",
         "view.levels.subject[0].cells[0][2]: the row's cell is null but the row is not suppressed"},
        {s1, "{\"id\":\"s1\",\"suppressed\":false,\"cells\":[[null,null,[14,8,0,0,80]],[]]}",
         "view.levels.subject[0].cells: must be an array of 1 items"},
        {s1, "{\"id\":\"s1\",\"suppressed\":false,\"cells\":[[null,null,[9223372036854775807,8,0,0,80]]]}",
         "view.levels.subject[0].cells[0][2]: the counts add up beyond 2^63"},
        {"\"venues\": [", "\"venues\": [{\"venue\": \"v9\"},", "view.venues[0].venue: unknown venue \"v9\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *bad = replaced (good, cases[i].from, cases[i].to);
        view_refused (f, bad, cases[i].why);
        free (bad);
    }
    char *other = replaced (good, f->e->fingerprint_hex,
                            "abababababababababababababababababababababababababababababababab");
    char why[256];
    snprintf (
        why, sizeof why,
        "view.election: the view is for election \"abababababababababababababababababababababababab...\", "
        "not this definition's %.16s...",
        f->e->fingerprint_hex);
    view_refused (f, other, why);
    free (other);
    free (good);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_writer_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown (test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown (test_hostile_documents, setup, teardown),
        cmocka_unit_test_setup_teardown (test_released_writer, setup, teardown),
        cmocka_unit_test_setup_teardown (test_hostile_categories, setup, teardown),
        cmocka_unit_test_setup_teardown (test_view_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown (test_view_hostile, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
