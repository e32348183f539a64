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

#include "tally_json.h"

/*  Two venues: v1 rates s1 and s2, v2 rates s2 only.  */
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
    uint8_t key[PINGYI_COUNTER_KEY_LEN];
    pingyi_counter_key_pack (&k, key);
    assert_int_equal (pingyi_tally_add (t, key, count), 0);
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
    memset (shard.chain, 0xab, sizeof shard.chain);
    char *text = write_doc (f, 0, &shard, 1);
    char want[4096];
    snprintf (
        want, sizeof want,
        "{\n  \"election\": \"%s\",\n  \"shards\": [\n"
        "    {\"shard\":1,\"sequence\":4,\"chain\":\"%s\"}\n  ],\n  \"venues\": [\n"
        "    {\"venue\":\"v1\",\"accepted\":9,\"blank\":2,\"duplicates\":1,\"rejected\":3,\"issued\":10,"
        "\"collected\":9,\"sent\":12,\"closed\":true,\"rejected_by\":{\"malformed\":2,\"bad_mark\":1}},\n"
        "    {\"venue\":\"v2\",\"accepted\":0,\"blank\":0,\"duplicates\":0,\"rejected\":0,\"issued\":-1,"
        "\"collected\":-1,\"sent\":-1,\"closed\":false,\"rejected_by\":{}}\n  ],\n  \"counters\": [\n"
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
    shards[0].chain[0] = 0x42;
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
    assert_int_equal (got[0].chain[0], 0x42);
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
    snprintf (counters, sizeof counters, "%s, %s, %s", big, big, big);
    refused (f, doc_of (f, GOOD_VENUE, counters), "tally.counters[2].count: the counter overflows");

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

    /* shards: numbers below the shard count, each once, a 64-hex chain */
    pingyi_tally_shard_t shards[2];
    char err[PINGYI_ERR_MAX];
    snprintf (why, sizeof why, "{\"election\": \"%s\", \"shards\": [{\"shard\": 2}]}", f->e->fingerprint_hex);
    json_t *doc = json_loads (why, 0, &jerr);
    assert_int_equal (pingyi_tally_shards_from_json (f->e, doc, shards, err), -1);
    assert_string_equal (err, "tally.shards[0].shard: 2 is out of range 0..1");
    json_decref (doc);
    snprintf (why, sizeof why,
              "{\"election\": \"%s\", \"shards\": [{\"shard\": 1, \"sequence\": 0, \"chain\": \"xy\"}]}",
              f->e->fingerprint_hex);
    doc = json_loads (why, 0, &jerr);
    assert_int_equal (pingyi_tally_shards_from_json (f->e, doc, shards, err), -1);
    assert_string_equal (err, "tally.shards[0].chain: must be 64 hex digits");
    json_decref (doc);
    snprintf (why, sizeof why, "{\"election\": \"%s\", \"shards\": [{}, {}, {}]}", f->e->fingerprint_hex);
    doc = json_loads (why, 0, &jerr);
    assert_int_equal (pingyi_tally_shards_from_json (f->e, doc, shards, err), -1);
    assert_string_equal (err, "tally.shards: 3 shards listed, the election has 2");
    json_decref (doc);
}

static void
test_quote_text (void **state)
{
    (void) state;
    char q[80];
    pingyi_quote_text (q, sizeof q, "a\"b\\c\n", 6);
    assert_string_equal (q, "\"a\\\"b\\\\c\\x0a\"");
    /* 48 bytes at most, cut before a partial character: 16 × "好" is 48 bytes, the 17th is dropped */
    const char *long_cn = "好好好好好好好好好好好好好好好好好好好好";
    pingyi_quote_text (q, sizeof q, long_cn, strlen (long_cn));
    assert_string_equal (q, "\"好好好好好好好好好好好好好好好好...\"");
    pingyi_quote_text (q, sizeof q, "x好好好好好好好好好好好好好好好好好",
                       strlen ("x好好好好好好好好好好好好好好好好好"));
    assert_string_equal (
        q, "\"x好好好好好好好好好好好好好好好...\""); /* 1 + 15×3 = 46 bytes, the 16th would cut */
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_writer_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown (test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown (test_hostile_documents, setup, teardown),
        cmocka_unit_test (test_quote_text),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
