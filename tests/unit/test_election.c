/*  test_election.c — the election definition: the examples parse with the
    exact model they describe, every kind of error is reported as its exact
    line and all errors of a file are reported, the fingerprint is the
    SHA-256 of the bytes, shards follow FNV-1a, and the generator writes
    definitions its own parser accepts with the counts asked for.

    Error cases start from examples/2022-district-review.json, change one
    thing through jansson, and compare the error lines with strcmp.  */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ballot.h"
#include "election.h"
#include "gen_election.h"

#define EXAMPLE PINGYI_SOURCE_DIR "/examples/2022-district-review.json"
#define CHOICE_SETS PINGYI_SOURCE_DIR "/examples/choice-sets.json"

/*  ---------------------------------------------------------------------
    Helpers: edit a JSON document by path ("venues[1].subjects[4]").  */

static json_t *
load_example_json (void)
{
    json_error_t jerr;
    json_t *root = json_load_file (EXAMPLE, 0, &jerr);
    assert_non_null (root);
    return root;
}

/*  Walk to the parent of the last segment of path; *key / *index name the
    last segment (index is -1 for a key).  */
static json_t *
walk (json_t *root, const char *path, char *key, long *index)
{
    json_t *node = root;
    const char *p = path;
    for (;;) {
        char name[64] = "";
        size_t n = 0;
        while (*p && *p != '.' && *p != '[')
            name[n++] = *p++;
        name[n] = '\0';
        if (n) {
            if (!*p) {
                strcpy (key, name);
                *index = -1;
                return node;
            }
            node = json_object_get (node, name);
            assert_non_null (node);
        }
        if (*p == '.') {
            p++;
            continue;
        }
        if (*p == '[') {
            long i = strtol (p + 1, (char **) &p, 10);
            assert_true (*p == ']');
            p++;
            if (!*p) {
                *index = i;
                return node;
            }
            node = json_array_get (node, (size_t) i);
            assert_non_null (node);
        }
    }
}

/*  Set path to the JSON text value, or delete it when value is NULL.  */
static void
edit (json_t *root, const char *path, const char *value)
{
    char key[64];
    long index;
    json_t *parent = walk (root, path, key, &index);
    json_t *v = NULL;
    if (value) {
        json_error_t jerr;
        v = json_loads (value, JSON_DECODE_ANY, &jerr);
        assert_non_null (v);
    }
    if (index < 0) {
        if (v)
            assert_int_equal (json_object_set_new (parent, key, v), 0);
        else
            assert_int_equal (json_object_del (parent, key), 0);
    }
    else if (!v)
        assert_int_equal (json_array_remove (parent, (size_t) index), 0);
    else if ((size_t) index == json_array_size (parent))
        assert_int_equal (json_array_append_new (parent, v), 0);
    else
        assert_int_equal (json_array_set_new (parent, (size_t) index, v), 0);
}

/*  Parse the document; returns the election (or NULL) and fills errs.  */
static pingyi_election_t *
parse_json (json_t *root, pingyi_errlist_t *errs)
{
    char *text = json_dumps (root, 0);
    assert_non_null (text);
    pingyi_election_t *e = pingyi_election_parse ((const uint8_t *) text, strlen (text), errs);
    free (text);
    return e;
}

static void
print_errs (const pingyi_errlist_t *errs)
{
    for (size_t i = 0; i < errs->count; i++)
        fprintf (stderr, "    got: %s\n", errs->lines[i]);
}

/*  Parse text; expect failure with exactly the given lines.  */
static void
expect_lines (const char *text, size_t len, const char *const *lines, size_t count)
{
    pingyi_errlist_t errs = {0};
    pingyi_election_t *e = pingyi_election_parse ((const uint8_t *) text, len, &errs);
    assert_null (e);
    if (errs.count != count)
        print_errs (&errs);
    assert_int_equal (errs.count, count);
    for (size_t i = 0; i < count; i++)
        assert_string_equal (errs.lines[i], lines[i]);
    pingyi_errlist_clear (&errs);
}

/*  ---------------------------------------------------------------------
    The examples  */

static void
test_example_parses_with_exact_model (void **state)
{
    pingyi_errlist_t errs = {0};
    pingyi_election_t *e = pingyi_election_load (EXAMPLE, &errs);
    print_errs (&errs);
    assert_non_null (e);
    assert_int_equal (errs.count, 0);
    assert_string_equal (e->id, "2022-district-review");
    assert_string_equal (e->title, "2022年度**区基层党组织书记抓基层党建工作述职评议");
    assert_int_equal (e->shard_count, 8);
    assert_int_equal (e->district_count, 1);
    assert_int_equal (e->unit_count, 11);
    assert_int_equal (e->subject_count, 11);
    assert_int_equal (e->venue_count, 3);
    assert_int_equal (e->item_count, 7);
    assert_int_equal (e->category_count, 4);
    assert_int_equal (e->choice_set_count, 1);

    const pingyi_choice_set_t *g = &e->choice_sets[0];
    assert_string_equal (g->id, "grades");
    assert_int_equal (g->choice_count, 4);
    static const char *const labels[] = {"好", "较好", "一般", "差"};
    static const char *const letters[] = {"A", "B", "C", "D"};
    static const double points[] = {100, 80, 60, 0};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal (g->choices[i].label, labels[i]);
        assert_string_equal (g->choices[i].letter, letters[i]);
        assert_true (g->choices[i].points == points[i]);
        assert_int_equal (g->choices[i].favourable, i < 2);
        assert_int_equal (g->choices[i].unfavourable, i == 3);
    }

    static const char *const items[] = {
        "总体评价",           "履行第一责任人职责", "基层组织建设（三会一课）", "发展党员与党员教育管理",
        "党费收缴与制度落实", "人才工作",           "党建引领中心工作"};
    for (size_t i = 0; i < 7; i++) {
        assert_string_equal (e->items[i].name, items[i]);
        assert_int_equal (e->items[i].overall, i == 0);
        assert_int_equal (e->items[i].choice_set, 0);
        assert_int_equal (e->items[i].max_choices, 1);
    }
    static const char *const categories[] = {"领导班子成员", "中层干部", "一般干部", "服务对象"};
    static const double weights[] = {0.3, 0.3, 0.2, 0.2};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal (e->categories[i].name, categories[i]);
        assert_true (e->categories[i].weight == weights[i]);
    }
    assert_string_equal (e->districts[0].name, "**区");

    size_t onsite = 0, kinds[5] = {0};
    for (size_t i = 0; i < e->subject_count; i++) {
        onsite += e->subjects[i].onsite;
        assert_int_equal (e->subjects[i].unit, i);
    }
    for (size_t i = 0; i < e->unit_count; i++) {
        kinds[e->units[i].kind]++;
        assert_int_equal (e->units[i].district, 0);
    }
    assert_int_equal (onsite, 5);
    assert_int_equal (kinds[PINGYI_UNIT_TOWN], 3);
    assert_int_equal (kinds[PINGYI_UNIT_DEPARTMENT], 5);
    assert_int_equal (kinds[PINGYI_UNIT_ENTERPRISE], 1);
    assert_int_equal (kinds[PINGYI_UNIT_SCHOOL], 1);
    assert_int_equal (kinds[PINGYI_UNIT_OTHER], 1);
    assert_string_equal (e->subjects[0].name, "**集团党委书记");
    assert_string_equal (e->units[4].name, "区公共服务党支部");

    static const int64_t issued[] = {120, 80, 60};
    for (size_t v = 0; v < 3; v++) {
        assert_int_equal (e->venues[v].subject_count, 11);
        assert_int_equal (e->venues[v].issued, issued[v]);
        assert_int_equal (e->venues[v].district, 0);
        for (size_t k = 0; k < 11; k++)
            assert_int_equal (e->venues[v].subjects[k], k);
    }
    assert_string_equal (e->venues[0].name, "区委大礼堂主会场");

    /*  Look-ups by id, with the length given (ids need not be terminated).  */
    assert_int_equal (pingyi_election_venue (e, "v02", 3), 1);
    assert_int_equal (pingyi_election_venue (e, "v02xyz", 3), 1);
    assert_int_equal (pingyi_election_venue (e, "v0", 2), -1);
    assert_int_equal (pingyi_election_venue (e, "v04", 3), -1);
    assert_int_equal (pingyi_election_subject (e, "s11", 3), 10);
    assert_int_equal (pingyi_election_subject (e, "u01", 3), -1);
    assert_int_equal (pingyi_election_category (e, "served", 6), 3);
    assert_int_equal (pingyi_election_category (e, "leaders", 7), 0);
    assert_int_equal (pingyi_election_category (e, "Leaders", 7), -1);
    assert_int_equal (pingyi_election_form_index (e, 2, 10), 10);
    assert_int_equal (pingyi_election_form_index (e, 2, 11), -1);
    assert_int_equal (pingyi_election_form_index (e, 3, 0), -1);

    pingyi_election_destroy (&e);
    assert_null (e);
    pingyi_election_destroy (&e); /* safe twice */
}

static void
test_choice_sets_example_parses (void **state)
{
    pingyi_errlist_t errs = {0};
    pingyi_election_t *e = pingyi_election_load (CHOICE_SETS, &errs);
    print_errs (&errs);
    assert_non_null (e);
    assert_int_equal (e->choice_set_count, 4);
    assert_string_equal (e->choice_sets[1].id, "approve");
    assert_int_equal (e->choice_sets[1].choice_count, 3);
    assert_string_equal (e->choice_sets[1].choices[2].label, "弃权");
    assert_null (e->choice_sets[1].choices[0].letter);
    assert_int_equal (e->choice_sets[3].choice_count, 5);
    assert_int_equal (e->item_count, 4);
    assert_int_equal (e->items[1].choice_set, 1);
    assert_int_equal (e->items[2].choice_set, 2);
    assert_int_equal (e->items[2].max_choices, 1);
    assert_int_equal (e->items[3].choice_set, 3);
    assert_int_equal (e->items[3].max_choices, 2);
    assert_int_equal (e->shard_count, 2);
    assert_int_equal (e->venues[0].shard, 0); /* explicit */
    assert_int_equal (e->venues[0].issued, 25);
    assert_int_equal (e->subjects[1].onsite, false); /* default */
    pingyi_election_destroy (&e);
}

static void
test_fingerprint_is_sha256_of_file_bytes (void **state)
{
    char err[PINGYI_ERR_MAX];
    size_t len;
    uint8_t *bytes = pingyi_read_file (EXAMPLE, PINGYI_DEFINITION_MAX, &len, err);
    assert_non_null (bytes);
    uint8_t want[crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (want, bytes, len);
    char want_hex[2 * crypto_hash_sha256_BYTES + 1];
    sodium_bin2hex (want_hex, sizeof want_hex, want, sizeof want);

    pingyi_election_t *e = pingyi_election_parse (bytes, len, NULL);
    assert_non_null (e);
    assert_memory_equal (e->fingerprint, want, PINGYI_FP_LEN);
    assert_string_equal (e->fingerprint_hex, want_hex);

    /*  One more byte of white space: same model, another election.  */
    uint8_t *longer = malloc (len + 1);
    memcpy (longer, bytes, len);
    longer[len] = '\n';
    pingyi_election_t *other = pingyi_election_parse (longer, len + 1, NULL);
    assert_non_null (other);
    assert_int_equal (other->venue_count, e->venue_count);
    assert_memory_not_equal (other->fingerprint, e->fingerprint, PINGYI_FP_LEN);
    pingyi_election_destroy (&other);
    pingyi_election_destroy (&e);
    free (longer);
    free (bytes);
}

/*  FNV-1a 64 by its definition: offset basis 14695981039346656037, for each
    byte: xor, then multiply by 1099511628211 (mod 2^64).  */
static void
test_hash_shard_is_fnv1a_mod_count (void **state)
{
    uint64_t h = 14695981039346656037ULL;
    const char *id = "v01";
    for (size_t i = 0; i < 3; i++) {
        h ^= (uint8_t) id[i];
        h *= 1099511628211ULL;
    }
    assert_true (h == 0x68645b194e49a39eULL); /* worked out separately */
    assert_int_equal (pingyi_election_hash_shard ("v01", 3, 8), h % 8);
    assert_int_equal (pingyi_election_hash_shard ("v01", 3, 8), 6);
    assert_int_equal (pingyi_election_hash_shard ("v01", 3, 16), 14);
    assert_int_equal (pingyi_election_hash_shard ("v01", 3, 1), 0);
    assert_int_equal (pingyi_election_hash_shard ("v01", 3, 0), 0);
    /*  The empty string hashes to the offset basis.  */
    assert_int_equal (pingyi_election_hash_shard ("", 0, 256), 14695981039346656037ULL % 256);

    pingyi_election_t *e = pingyi_election_load (EXAMPLE, NULL);
    assert_non_null (e);
    for (size_t v = 0; v < e->venue_count; v++)
        assert_int_equal (e->venues[v].shard, pingyi_election_hash_shard (e->venues[v].id, 3, 8));
    assert_int_equal (e->venues[0].shard, 6);
    pingyi_election_destroy (&e);
}

static void
test_unit_kind_names (void **state)
{
    assert_string_equal (pingyi_unit_kind_name (PINGYI_UNIT_TOWN), "town");
    assert_string_equal (pingyi_unit_kind_name (PINGYI_UNIT_DEPARTMENT), "department");
    assert_string_equal (pingyi_unit_kind_name (PINGYI_UNIT_ENTERPRISE), "enterprise");
    assert_string_equal (pingyi_unit_kind_name (PINGYI_UNIT_SCHOOL), "school");
    assert_string_equal (pingyi_unit_kind_name (PINGYI_UNIT_OTHER), "other");
}

static void
test_errlist_add_and_clear (void **state)
{
    pingyi_errlist_t errs = {0};
    pingyi_errlist_add (&errs, "a %d", 1);
    pingyi_errlist_add (&errs, "%s", "b");
    assert_int_equal (errs.count, 2);
    assert_string_equal (errs.lines[0], "a 1");
    assert_string_equal (errs.lines[1], "b");
    pingyi_errlist_clear (&errs);
    assert_int_equal (errs.count, 0);
    assert_null (errs.lines);
    pingyi_errlist_clear (&errs);
}

/*  ---------------------------------------------------------------------
    One change, one exact error line  */

typedef struct {
    const char *path;
    const char *value; /* JSON text; NULL deletes */
    const char *line;  /* the only error expected; NULL: must parse */
} edit_case_t;

static const edit_case_t edit_cases[] = {
    {"subjects[3].unit", "\"镇党委2\"", "subjects[3] (区区委办党支部书记).unit: unknown unit \"镇党委2\""},
    {"venues[1].subjects[4]", "\"s99\"", "venues[1] (分会场一).subjects[4]: unknown subject \"s99\""},
    {"categories[2].weight", "-0.5", "categories[2] (一般干部).weight: must be a number in 0..1000"},
    {"categories[2].weight", "\"heavy\"", "categories[2] (一般干部).weight: must be a number in 0..1000"},
    {"categories[2].weight", NULL, NULL}, /* default 1 */
    /*  Issue 11: 1e308 passed, the weighted score was inf and the JSON
        query failed.  */
    {"categories[2].weight", "1e308", "categories[2] (一般干部).weight: must be a number in 0..1000"},
    {"categories[2].weight", "1000.5", "categories[2] (一般干部).weight: must be a number in 0..1000"},
    {"categories[2].weight", "1000", NULL},
    {"categories[2].weight", "0", NULL},
    {"categories[2].weight", "-0.0", NULL},
    {"categories[2].weight", "1e-300", NULL},
    {"grades", "[{\"label\": \"好\", \"points\": 100}]", "grades: needs at least 2 choices"},
    {"items[5].id", "\"duty\"", "items[5] (人才工作).id: duplicate id \"duty\" (first at items[1])"},
    {"venues[0].district", NULL, "venues[0] (区委大礼堂主会场): missing \"district\""},
    {"foo", "1", "definition: unknown key \"foo\""},
    {"_note", "\"comments start with an underscore\"", NULL},
    {"venues[2]._note", "{}", NULL},
    {"venues[2].colour", "\"red\\n\"", "venues[2] (分会场二): unknown key \"colour\""},
    {"venues[2].shard", "8", "venues[2] (分会场二).shard: must be an integer in 0..7"},
    {"venues[2].shard", "-1", "venues[2] (分会场二).shard: must be an integer in 0..7"},
    {"venues[2].shard", "1.0", "venues[2] (分会场二).shard: must be an integer in 0..7"},
    {"venues[2].shard", "7", NULL},
    {"shards", "0", "shards: must be an integer in 1..256"},
    {"shards", "257", "shards: must be an integer in 1..256"},
    {"shards", "256", NULL},
    {"shards", NULL, NULL}, /* default 1 */
    {"version", "2", "version: must be 1 (the only version of this format)"},
    {"version", NULL, NULL},
    {"id", "\"\"", "id: must be 1 to 64 bytes, got 0"},
    {"id", "\"0123456789012345678901234567890123456789012345678901234567890123x\"",
     "id: must be 1 to 64 bytes, got 65"},
    {"id", NULL, "definition: missing \"id\""},
    {"title", "7", "title: must be a string, not an integer"},
    {"title", "\"\"", "title: must not be empty"},
    {"venues[0].id", "\"v\\u0001\"", "venues[0] (区委大礼堂主会场).id: must not contain control characters"},
    {"venues[0].id", "\"v\\u0085\"", "venues[0] (区委大礼堂主会场).id: must not contain control characters"},
    {"venues[0].id", "\"../x\"", "venues[0] (区委大礼堂主会场).id: must not contain '/' or '\\'"},
    {"venues[0].id", "\"..\"", "venues[0] (区委大礼堂主会场).id: must not be \".\" or \"..\""},
    {"venues[0].id", "\"会场一\"", NULL},
    /*  Issue 11: ids that became directory names a shell or a screen
        misreads.  Ids are codes: no whitespace anywhere, no leading '-',
        nothing invisible or reordering.  */
    {"venues[0].id", "\" \"",
     "venues[0] (区委大礼堂主会场).id: contains U+0020 (a space), not allowed in an id"},
    {"venues[0].id", "\" v01\"",
     "venues[0] (区委大礼堂主会场).id: contains U+0020 (a space), not allowed in an id"},
    {"venues[0].id", "\"v01 \"",
     "venues[0] (区委大礼堂主会场).id: contains U+0020 (a space), not allowed in an id"},
    {"venues[0].id", "\"v 01\"",
     "venues[0] (区委大礼堂主会场).id: contains U+0020 (a space), not allowed in an id"},
    {"venues[0].id", "\"会场\\u3000一\"",
     "venues[0] (区委大礼堂主会场).id: contains U+3000 (a space), not allowed in an id"},
    {"venues[0].id", "\"v\\u00a001\"",
     "venues[0] (区委大礼堂主会场).id: contains U+00A0 (a space), not allowed in an id"},
    {"venues[0].id", "\"v\\u202801\"",
     "venues[0] (区委大礼堂主会场).id: contains U+2028 (a line or paragraph separator), not allowed in an "
     "id"},
    {"venues[0].id", "\"v\\t01\"", "venues[0] (区委大礼堂主会场).id: must not contain control characters"},
    {"venues[0].id", "\"v\\u009b01\"",
     "venues[0] (区委大礼堂主会场).id: must not contain control characters"},
    {"venues[0].id", "\"-rf\"",
     "venues[0] (区委大礼堂主会场).id: must not start with '-' (it would read as an option on a command "
     "line)"},
    {"venues[0].id", "\"v-01\"", NULL},
    {"venues[0].id", "\"v01-\"", NULL},
    {"venues[0].id", "\"v\\u202e01\"",
     "venues[0] (区委大礼堂主会场).id: contains U+202E (a bidirectional control), not allowed in an id"},
    {"venues[0].id", "\"v\\u202a01\"",
     "venues[0] (区委大礼堂主会场).id: contains U+202A (a bidirectional control), not allowed in an id"},
    {"venues[0].id", "\"v\\u200e01\"",
     "venues[0] (区委大礼堂主会场).id: contains U+200E (a bidirectional control), not allowed in an id"},
    {"venues[0].id", "\"v\\u200f01\"",
     "venues[0] (区委大礼堂主会场).id: contains U+200F (a bidirectional control), not allowed in an id"},
    {"venues[0].id", "\"v\\u061c01\"",
     "venues[0] (区委大礼堂主会场).id: contains U+061C (a bidirectional control), not allowed in an id"},
    {"venues[0].id", "\"v\\u206601\"",
     "venues[0] (区委大礼堂主会场).id: contains U+2066 (a bidirectional control), not allowed in an id"},
    {"venues[0].id", "\"v\\u206901\"",
     "venues[0] (区委大礼堂主会场).id: contains U+2069 (a bidirectional control), not allowed in an id"},
    {"venues[0].id", "\"v\\u200b01\"",
     "venues[0] (区委大礼堂主会场).id: contains U+200B (a zero-width character), not allowed in an id"},
    {"venues[0].id", "\"v\\u200d01\"",
     "venues[0] (区委大礼堂主会场).id: contains U+200D (a zero-width character), not allowed in an id"},
    {"venues[0].id", "\"v\\u206001\"",
     "venues[0] (区委大礼堂主会场).id: contains U+2060 (a zero-width character), not allowed in an id"},
    {"venues[0].id", "\"\\ufeffv01\"",
     "venues[0] (区委大礼堂主会场).id: contains U+FEFF (a zero-width character), not allowed in an id"},
    {"venues[0].id", "\"v\\u00ad01\"",
     "venues[0] (区委大礼堂主会场).id: contains U+00AD (an invisible format character), not allowed in an "
     "id"},
    {"venues[0].id", "\"v\\u180e01\"",
     "venues[0] (区委大礼堂主会场).id: contains U+180E (an invisible format character), not allowed in an "
     "id"},
    {"venues[0].id", "\"v\\u206401\"",
     "venues[0] (区委大礼堂主会场).id: contains U+2064 (an invisible format character), not allowed in an "
     "id"},
    {"venues[0].id", "\"v\\udb40\\udc0101\"",
     "venues[0] (区委大礼堂主会场).id: contains U+E0001 (an invisible format character), not allowed in an "
     "id"},
    /*  What the rules keep: CJK, full-width forms, other scripts, emoji, '.'
        inside, '-' and '_' after the first character.  */
    {"venues[0].id", "\"區委禮堂·主會場\"", NULL},
    {"venues[0].id", "\"ｖ０１\"", NULL},
    {"venues[0].id", "\"v.01_a\"", NULL},
    {"venues[0].id", "\"Ölmühle\"", NULL},
    {"venues[0].id", "\"\\ud83d\\uddf3\"", NULL},
    /*  Every collection's id and every reference goes through one check.  */
    {"id", "\"2022 review\"", "id: contains U+0020 (a space), not allowed in an id"},
    {"items[0].id", "\"-x\"",
     "items[0] (总体评价).id: must not start with '-' (it would read as an option on a command line)"},
    {"categories[0].id", "\"lead\\u200bers\"",
     "categories[0] (领导班子成员).id: contains U+200B (a zero-width character), not allowed in an id"},
    {"subjects[3].unit", "\"u 01\"",
     "subjects[3] (区区委办党支部书记).unit: contains U+0020 (a space), not allowed in an id"},
    {"venues[0].name", "\"a\\tb\"", "venues[0].name: must not contain control characters"},
    {"units[0].kind", "\"village\"",
     "units[0] (**集团党委).kind: unknown kind \"village\" (town, department, enterprise, school or other)"},
    {"units[0].kind", NULL, "units[0] (**集团党委): missing \"kind\""},
    {"units[0].district", "\"d2\"", "units[0] (**集团党委).district: unknown district \"d2\""},
    {"items[3].overall", "true",
     "items[3] (发展党员与党员教育管理).overall: only items[0] may be the overall item"},
    {"items[0].max_choices", "5",
     "items[0] (总体评价).max_choices: must be an integer in 1..4 (the choices of its set)"},
    {"items[0].max_choices", "0",
     "items[0] (总体评价).max_choices: must be an integer in 1..4 (the choices of its set)"},
    {"items[0].max_choices", "4", NULL},
    {"items[1].choice_set", "\"approve\"",
     "items[1] (履行第一责任人职责).choice_set: unknown choice set \"approve\""},
    {"items[1].choice_set", "\"grades\"", NULL},
    {"grades[0].unfavourable", "true", "grades[0]: cannot be both favourable and unfavourable"},
    {"grades[2].favourable", "true", NULL},
    {"grades[1].label", "\"好\"", "grades[1].label: duplicate label \"好\" (first at grades[0])"},
    {"grades[1].letter", "\"A\"", "grades[1].letter: duplicate letter \"A\" (first at grades[0])"},
    {"grades[1].letter", NULL, NULL},
    {"grades[0].points", "\"100\"", "grades[0].points: must be a number in -1000..1000"},
    {"grades[0].points", "1e308", "grades[0].points: must be a number in -1000..1000"},
    {"grades[0].points", "-1e308", "grades[0].points: must be a number in -1000..1000"},
    {"grades[0].points", "1000.001", "grades[0].points: must be a number in -1000..1000"},
    {"grades[0].points", "-1001", "grades[0].points: must be a number in -1000..1000"},
    {"grades[0].points", "1000", NULL},
    {"grades[0].points", "-1000", NULL},
    {"grades[0].points", "99.5", NULL},
    {"grades[0].points", NULL,
     "grades[0]: missing \"points\" (items[0] (总体评价) is graded: its score needs the points of every choice)"},
    {"items[1].kind", "\"ranked\"",
     "items[1] (履行第一责任人职责).kind: unknown kind \"ranked\" (graded, yes_no, plurality or approval)"},
    {"items[1].kind", "\"plurality\"", NULL},
    {"items[1].kind", "\"approval\"", NULL},
    {"items[1].kind", "\"graded\"", NULL},
    {"items[1].kind", "\"yes_no\"",
     "items[1] (履行第一责任人职责): a yes_no item needs exactly one favourable choice (its 同意) in set "
     "\"grades\", got 2"},
    {"items[1].seats", "2", "items[1] (履行第一责任人职责).seats: only a plurality or approval item has seats"},
    {"grades[0].favourable", "1", "grades[0].favourable: must be true or false, not an integer"},
    {"venues[0].subjects[11]", "\"s01\"",
     "venues[0] (区委大礼堂主会场).subjects[11]: duplicate subject \"s01\" (first at subjects[0])"},
    {"venues[0].subjects", "[]", "venues[0] (区委大礼堂主会场).subjects: needs at least 1 subject"},
    {"venues[0].subjects", "\"s01\"",
     "venues[0] (区委大礼堂主会场).subjects: must be an array, not a string"},
    {"venues[0].subjects", "[\"s03\"]", NULL},
    {"venues[0].issued", "-1", "venues[0] (区委大礼堂主会场).issued: must be an integer >= 0"},
    {"venues[0].issued", NULL, NULL},
    {"subjects[0].onsite", "\"yes\"",
     "subjects[0] (**集团党委书记).onsite: must be true or false, not a string"},
    {"subjects[0].unit", "3", "subjects[0] (**集团党委书记).unit: must be a string, not an integer"},
    {"venues", "{}", "venues: must be an array, not an object"},
    {"venues", "[]", "venues: needs at least 1 venue"},
    {"venues[0]", "3", "venues[0]: must be an object, not an integer"},
    /*  A missing collection is one error, not one per reference to it.  */
    {"units", NULL, "definition: missing \"units\""},
    {"subjects", "{}", "subjects: must be an array, not an object"},
    {"choice_sets",
     "[{\"id\": \"grades\", \"choices\": [{\"label\": \"是\", \"points\": 1}, "
     "{\"label\": \"否\", \"points\": 0}]}]",
     "choice_sets[0].id: duplicate id \"grades\" (the default set, from the key \"grades\")"},
    {"choice_sets", "[{\"id\": \"yn\", \"choices\": [{\"label\": \"是\", \"points\": 1}]}]",
     "choice_sets[0].choices: needs at least 2 choices"},
    {"choice_sets", "{}", "choice_sets: must be an array, not an object"},
};

static void
test_each_error_has_its_exact_line (void **state)
{
    for (size_t c = 0; c < sizeof edit_cases / sizeof edit_cases[0]; c++) {
        const edit_case_t *k = &edit_cases[c];
        json_t *root = load_example_json ();
        edit (root, k->path, k->value);
        pingyi_errlist_t errs = {0};
        pingyi_election_t *e = parse_json (root, &errs);
        if (!k->line) {
            if (!e) {
                fprintf (stderr, "case %zu (%s) should parse\n", c, k->path);
                print_errs (&errs);
            }
            assert_non_null (e);
            assert_int_equal (errs.count, 0);
        }
        else {
            if (errs.count != 1 || strcmp (errs.lines[0], k->line)) {
                fprintf (stderr, "case %zu (%s): want: %s\n", c, k->path, k->line);
                print_errs (&errs);
            }
            assert_null (e);
            assert_int_equal (errs.count, 1);
            assert_string_equal (errs.lines[0], k->line);
        }
        pingyi_election_destroy (&e);
        pingyi_errlist_clear (&errs);
        json_decref (root);
    }
}

/*  A refused id of a referenced entry also fails its references ("unknown
    district"): the id's own line comes first.  */
static void
test_every_collections_id_is_checked (void **state)
{
    static const edit_case_t cases[] = {
        {"districts[0].id", "\"d\\u202e1\"",
         "districts[0] (**区).id: contains U+202E (a bidirectional control), not allowed in an id"},
        {"units[0].id", "\"u 01\"",
         "units[0] (**集团党委).id: contains U+0020 (a space), not allowed in an id"},
        {"subjects[0].id", "\"s\\u206601\"",
         "subjects[0] (**集团党委书记).id: contains U+2066 (a bidirectional control), not allowed in an id"},
        {"choice_sets",
         "[{\"id\": \"yes no\", \"choices\": [{\"label\": \"是\", \"points\": 1}, "
         "{\"label\": \"否\", \"points\": 0}]}]",
         "choice_sets[0].id: contains U+0020 (a space), not allowed in an id"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        json_t *root = load_example_json ();
        edit (root, cases[c].path, cases[c].value);
        pingyi_errlist_t errs = {0};
        pingyi_election_t *e = parse_json (root, &errs);
        assert_null (e);
        assert_true (errs.count >= 1);
        if (strcmp (errs.lines[0], cases[c].line))
            print_errs (&errs);
        assert_string_equal (errs.lines[0], cases[c].line);
        pingyi_errlist_clear (&errs);
        json_decref (root);
    }
}

static void
test_defaults_apply (void **state)
{
    json_t *root = load_example_json ();
    edit (root, "shards", NULL);
    edit (root, "categories[2].weight", NULL);
    edit (root, "venues[0].issued", NULL);
    edit (root, "venues[1].shard", "0");
    pingyi_election_t *e = parse_json (root, NULL);
    assert_non_null (e);
    assert_int_equal (e->shard_count, 1);
    assert_true (e->categories[2].weight == 1.0);
    assert_int_equal (e->venues[0].issued, -1);
    assert_int_equal (e->venues[0].shard, 0);
    assert_int_equal (e->venues[1].shard, 0);
    pingyi_election_destroy (&e);
    json_decref (root);
}

static void
test_renamed_district_reports_every_reference (void **state)
{
    json_t *root = load_example_json ();
    edit (root, "districts[0].id", "\"d2\"");
    pingyi_errlist_t errs = {0};
    pingyi_election_t *e = parse_json (root, &errs);
    assert_null (e);
    assert_int_equal (errs.count, 11 + 3);
    assert_string_equal (errs.lines[0], "units[0] (**集团党委).district: unknown district \"d1\"");
    assert_string_equal (errs.lines[10], "units[10] (**产业园区党工委).district: unknown district \"d1\"");
    assert_string_equal (errs.lines[13], "venues[2] (分会场二).district: unknown district \"d1\"");
    pingyi_errlist_clear (&errs);
    json_decref (root);
}

static void
test_every_error_of_a_file_is_reported (void **state)
{
    json_t *root = load_example_json ();
    edit (root, "foo", "1");
    edit (root, "subjects[3].unit", "\"镇党委2\"");
    edit (root, "venues[1].subjects[4]", "\"s99\"");
    edit (root, "categories[2].weight", "-1");
    edit (root, "grades", "[{\"label\": \"好\", \"points\": 100}]");
    edit (root, "units[5].id", "\"u03\"");
    edit (root, "venues[0].district", NULL);
    edit (root, "venues[2].shard", "8");
    edit (root, "venues[2].colour", "\"red\\n\"");
    edit (root, "items[3].overall", "true");
    edit (root, "units[0].kind", "\"village\"");
    edit (root, "venues[0].subjects[11]", "\"s01\"");
    static const char *const want[] = {
        "definition: unknown key \"foo\"",
        "grades: needs at least 2 choices",
        "items[3] (发展党员与党员教育管理).overall: only items[0] may be the overall item",
        "categories[2] (一般干部).weight: must be a number in 0..1000",
        "units[0] (**集团党委).kind: unknown kind \"village\" (town, department, enterprise, school or "
        "other)",
        "units[5] (**街道党工委).id: duplicate id \"u03\" (first at units[2])",
        "subjects[3] (区区委办党支部书记).unit: unknown unit \"镇党委2\"",
        "subjects[5] (**街道党工委书记).unit: unknown unit \"u06\"", /* u06 was renamed away */
        "venues[0] (区委大礼堂主会场): missing \"district\"",
        "venues[0] (区委大礼堂主会场).subjects[11]: duplicate subject \"s01\" (first at subjects[0])",
        "venues[1] (分会场一).subjects[4]: unknown subject \"s99\"",
        "venues[2] (分会场二): unknown key \"colour\"",
        "venues[2] (分会场二).shard: must be an integer in 0..7",
    };
    pingyi_errlist_t errs = {0};
    pingyi_election_t *e = parse_json (root, &errs);
    assert_null (e);
    if (errs.count != 13)
        print_errs (&errs);
    assert_int_equal (errs.count, 13);
    for (size_t i = 0; i < 13; i++)
        assert_string_equal (errs.lines[i], want[i]);
    pingyi_errlist_clear (&errs);
    json_decref (root);
}

static void
test_not_json_and_not_an_object (void **state)
{
    static const char *const trunc[] = {
        "definition: invalid JSON at line 1, column 4: ']' expected near end of file"};
    expect_lines ("[1,2", 4, trunc, 1);
    static const char *const empty[] = {
        "definition: invalid JSON at line 1, column 0: '[' or '{' expected near end of file"};
    expect_lines ("", 0, empty, 1);
    static const char *const dup[] = {
        "definition: invalid JSON at line 1, column 14: duplicate object key near '\"id\"'"};
    expect_lines ("{\"id\":\"a\",\"id\":\"b\"}", 19, dup, 1);
    static const char *const array[] = {"definition: must be a JSON object, not an array"};
    expect_lines ("[]", 2, array, 1);
    static const char *const nul[] = {
        "definition: invalid JSON at line 1, column 14: \\u0000 is not allowed without JSON_ALLOW_NUL near "
        "'\"\\u0000\"'"};
    expect_lines ("{\"id\":\"\\u0000\"}", 15, nul, 1);
    static const char *const bare[] = {
        /* no "grades": only an item using the default set needs them */
        "id: must be a string, not an integer", "title: must not be empty",
        "definition: missing \"items\"",
        "definition: missing \"categories\"",   "definition: missing \"districts\"",
        "definition: missing \"units\"",        "definition: missing \"subjects\"",
        "definition: missing \"venues\"",
    };
    expect_lines ("{\"id\": 3, \"title\": \"\"}", 22, bare, 8);
}

static void
test_hostile_text_is_escaped_in_error_lines (void **state)
{
    json_t *root = load_example_json ();
    edit (root, "subjects[0].unit", "\"a\\\"b\"");
    edit (root, "subjects[1].unit", "\"一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十\"");
    pingyi_errlist_t errs = {0};
    assert_null (parse_json (root, &errs));
    assert_int_equal (errs.count, 2);
    assert_string_equal (errs.lines[0], "subjects[0] (**集团党委书记).unit: unknown unit \"a\\\"b\"");
    /*  Over 48 bytes: cut on a character boundary (16 × 3 bytes), marked.  */
    assert_string_equal (errs.lines[1], "subjects[1] (**镇党委书记).unit: must be 1 to 64 bytes, got 90");
    pingyi_errlist_clear (&errs);
    json_decref (root);

    root = load_example_json ();
    edit (root, "一二三四五六七八九十一二三四五六七八九十", "1");
    assert_null (parse_json (root, &errs));
    assert_int_equal (errs.count, 1);
    assert_string_equal (errs.lines[0], "definition: unknown key \"一二三四五六七八九十一二三四五六\"...");
    pingyi_errlist_clear (&errs);
    json_decref (root);

    /*  Control characters in a key cannot break the line.  */
    root = load_example_json ();
    edit (root, "x\ny\x1b", "1");
    assert_null (parse_json (root, &errs));
    assert_int_equal (errs.count, 1);
    assert_string_equal (errs.lines[0], "definition: unknown key \"x\\x0ay\\x1b\"");
    pingyi_errlist_clear (&errs);
    json_decref (root);
}

static void
test_form_too_big_for_a_body (void **state)
{
    /*  64 subjects × 16 items of a 32-choice set: the fullest mask takes 5
        bytes, so a ballot can need 6 + 64 × (1 + 1 + 3 + 16 × 5) = 5446
        bytes, more than PINGYI_BODY_MAX.  */
    json_t *root = load_example_json ();
    json_t *choices = json_array ();
    for (int i = 0; i < 32; i++) {
        char label[8];
        snprintf (label, sizeof label, "c%d", i);
        json_array_append_new (choices, json_pack ("{s:s,s:i}", "label", label, "points", i));
    }
    json_object_set_new (root, "choice_sets", json_pack ("[{s:s,s:o}]", "id", "wide", "choices", choices));
    json_t *items = json_array ();
    for (int i = 0; i < 16; i++) {
        char id[8];
        snprintf (id, sizeof id, "i%d", i);
        json_array_append_new (items,
                               json_pack ("{s:s,s:s,s:s}", "id", id, "name", id, "choice_set", "wide"));
    }
    json_object_set_new (root, "items", items);
    json_t *subjects = json_object_get (root, "subjects");
    json_t *form = json_array ();
    for (int i = 0; i < 64; i++) {
        char id[8];
        snprintf (id, sizeof id, "x%d", i);
        if (i >= 11)
            json_array_append_new (subjects,
                                   json_pack ("{s:s,s:s,s:s}", "id", id, "name", id, "unit", "u01"));
        json_array_append_new (form, json_string (json_string_value (
                                         json_object_get (json_array_get (subjects, (size_t) i), "id"))));
    }
    json_object_set_new (json_array_get (json_object_get (root, "venues"), 0), "subjects", form);
    pingyi_errlist_t errs = {0};
    assert_null (parse_json (root, &errs));
    assert_int_equal (errs.count, 1);
    assert_string_equal (errs.lines[0], "venues[0] (区委大礼堂主会场).subjects: a ballot for this form can "
                                        "take 5446 bytes, more than the 4096 a body "
                                        "may hold");
    pingyi_errlist_clear (&errs);

    /*  With 8 items it fits: 6 + 64 × (1 + 1 + 1 + 8 × 5) = 2758.  */
    for (int i = 0; i < 8; i++)
        json_array_remove (items, 8);
    pingyi_election_t *e = parse_json (root, &errs);
    print_errs (&errs);
    assert_non_null (e);
    assert_int_equal (e->venues[0].subject_count, 64);
    pingyi_election_destroy (&e);
    json_decref (root);
}

static void
test_too_many_errors_are_counted_not_listed (void **state)
{
    json_t *root = load_example_json ();
    json_t *units = json_object_get (root, "units");
    for (int i = 0; i < 1500; i++) {
        char id[16];
        snprintf (id, sizeof id, "x%d", i);
        json_array_append_new (
            units, json_pack ("{s:s,s:s,s:s,s:s}", "id", id, "name", id, "kind", "bad", "district", "d1"));
    }
    pingyi_errlist_t errs = {0};
    assert_null (parse_json (root, &errs));
    assert_int_equal (errs.count, 1001);
    assert_string_equal (
        errs.lines[0],
        "units[11] (x0).kind: unknown kind \"bad\" (town, department, enterprise, school or other)");
    assert_string_equal (errs.lines[1000], "definition: too many errors: 500 more not listed");
    pingyi_errlist_clear (&errs);
    json_decref (root);
}

static void
test_load_or_err_gives_first_error_and_count (void **state)
{
    char path[] = "/tmp/pingyi-test-election-XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    json_t *root = load_example_json ();
    edit (root, "foo", "1");
    edit (root, "venues[2].shard", "8");
    edit (root, "units[0].kind", "\"village\"");
    assert_int_equal (json_dumpfd (root, fd, 0), 0);
    close (fd);
    json_decref (root);

    char err[PINGYI_ERR_MAX];
    pingyi_election_t *e = pingyi_election_load_or_err (path, err);
    assert_null (e);
    char want[PINGYI_ERR_MAX];
    snprintf (want, sizeof want, "%s: definition: unknown key \"foo\" (and 2 more)", path);
    assert_string_equal (err, want);

    e = pingyi_election_load_or_err ("/nonexistent/election.json", err);
    assert_null (e);
    assert_string_equal (err, "/nonexistent/election.json: cannot open: No such file or directory");

    pingyi_errlist_t errs = {0};
    assert_null (pingyi_election_load ("/nonexistent/election.json", &errs));
    assert_int_equal (errs.count, 1);
    assert_string_equal (errs.lines[0], "/nonexistent/election.json: cannot open: No such file or directory");
    pingyi_errlist_clear (&errs);

    e = pingyi_election_load_or_err (EXAMPLE, err);
    assert_non_null (e);
    pingyi_election_destroy (&e);
    unlink (path);
}

static void
test_summary_shows_the_model (void **state)
{
    pingyi_election_t *e = pingyi_election_load (EXAMPLE, NULL);
    assert_non_null (e);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&text, &len);
    pingyi_election_print_summary (e, out);
    fclose (out);
    char line[160];
    assert_non_null (strstr (text, "election     2022-district-review\n"));
    snprintf (line, sizeof line, "fingerprint  %s\n", e->fingerprint_hex);
    assert_non_null (strstr (text, line));
    assert_non_null (strstr (text, "shards       8\n"));
    assert_non_null (
        strstr (text, "counts       1 districts, 11 units, 11 subjects, 3 venues, 7 items, 4 categories\n"));
    /* Names are padded by display width (a CJK character takes two columns). */
    assert_non_null (strstr (text, "   0 overall      总体评价 (overall)"
                                   "            "
                                   "  [grades, choose up to 1]\n"));
    assert_non_null (strstr (text, "   3 served       服务对象"
                                   "        "
                                   "  weight 0.2\n"));
    assert_non_null (strstr (text, "  v01          区委大礼堂主会场"
                                   "    "
                                   "  district d1  subjects 11  shard 6  issued 120\n"));
    free (text);
    pingyi_election_destroy (&e);
}

/*  ---------------------------------------------------------------------
    Encodings, names in paths, suggestions and warnings  */

static uint8_t *
read_example (size_t *len)
{
    FILE *f = fopen (EXAMPLE, "rb");
    assert_non_null (f);
    uint8_t *bytes = malloc (1 << 20);
    assert_non_null (bytes);
    *len = fread (bytes, 1, 1 << 20, f);
    fclose (f);
    assert_true (*len > 100 && *len < (1 << 20));
    return bytes;
}

static void
test_bom_is_skipped_but_fingerprinted (void **state)
{
    size_t len;
    uint8_t *plain = read_example (&len);
    uint8_t *bom = malloc (len + 3);
    assert_non_null (bom);
    memcpy (bom, "\xef\xbb\xbf", 3);
    memcpy (bom + 3, plain, len);
    pingyi_errlist_t errs = {0};
    pingyi_election_t *e = pingyi_election_parse (bom, len + 3, &errs);
    print_errs (&errs);
    assert_non_null (e);
    assert_int_equal (e->subject_count, 11);
    uint8_t want[PINGYI_FP_LEN];
    crypto_hash_sha256 (want, bom, len + 3); /* the bytes as they are, BOM included */
    assert_memory_equal (e->fingerprint, want, PINGYI_FP_LEN);
    pingyi_election_t *without = pingyi_election_parse (plain, len, NULL);
    assert_non_null (without);
    assert_memory_not_equal (without->fingerprint, e->fingerprint, PINGYI_FP_LEN);
    pingyi_election_destroy (&e);
    pingyi_election_destroy (&without);
    /*  Only one BOM, only at the start.  */
    memcpy (bom, "\xef\xbb\xbf\xef\xbb\xbf{}", 8);
    e = pingyi_election_parse (bom, 8, &errs);
    assert_null (e);
    assert_int_equal (errs.count, 1);
    assert_string_equal (
        errs.lines[0],
        "definition: invalid JSON at line 1, column 1: '[' or '{' expected near '\xef\xbb\xbf'");
    pingyi_errlist_clear (&errs);
    free (bom);
    free (plain);
}

static void
test_not_utf8_names_the_byte (void **state)
{
    /*  "好" in GBK is b a c3; the position is 1-based over the whole file.  */
    static const char gbk[] = "{\"title\": \"\xba\xc3\"}";
    static const char *const want_gbk[] = {
        "definition: byte 12 is not UTF-8 (saved as GBK/ANSI? re-save it as UTF-8)"};
    expect_lines (gbk, sizeof gbk - 1, want_gbk, 1);
    /*  After a BOM the BOM's bytes count too.  */
    static const char bom_gbk[] = "\xef\xbb\xbf{\"title\": \"\xba\xc3\"}";
    static const char *const want_bom[] = {
        "definition: byte 15 is not UTF-8 (saved as GBK/ANSI? re-save it as UTF-8)"};
    expect_lines (bom_gbk, sizeof bom_gbk - 1, want_bom, 1);
    /*  Overlong forms, surrogates, code points past U+10FFFF and a
        sequence cut by the end of the file are not UTF-8 either.  */
    static const char *const at3[] = {
        "definition: byte 3 is not UTF-8 (saved as GBK/ANSI? re-save it as UTF-8)"};
    expect_lines ("{\"\xc0\x80\":1}", 7, at3, 1);
    expect_lines ("{\"\xed\xa0\x80\":1}", 8, at3, 1);
    expect_lines ("{\"\xf4\x90\x80\x80\":1}", 9, at3, 1);
    expect_lines ("{\"\xe5\xa5", 4, at3, 1);
    static const char *const utf16[] = {
        "definition: saved as UTF-16 (it starts with the bytes ff fe); re-save it as UTF-8"};
    expect_lines ("\xff\xfe{\0}\0", 6, utf16, 1);
    /*  Well-formed four-byte UTF-8 is fine (a key that is then unknown).  */
    static const char *const emoji[] = {"definition: unknown key \"\xf0\x9f\x98\x80\""};
    json_t *root = load_example_json ();
    edit (root, "\xf0\x9f\x98\x80", "1");
    pingyi_errlist_t errs = {0};
    assert_null (parse_json (root, &errs));
    assert_int_equal (errs.count, 1);
    assert_string_equal (errs.lines[0], emoji[0]);
    pingyi_errlist_clear (&errs);
    json_decref (root);
}

static void
test_names_in_paths_are_escaped_and_cut (void **state)
{
    json_t *root = load_example_json ();
    edit (root, "subjects[0].name", "\"a\\\"b\\\\c\"");
    edit (root, "subjects[0].unit", "\"u99\"");
    edit (root, "subjects[1].name", "\"一二三四五六七八九十一二三四五六七八九十\"");
    edit (root, "subjects[1].unit", "\"u98\"");
    edit (root, "subjects[2].name", "\"\"");
    edit (root, "subjects[3].name", "7");
    pingyi_errlist_t errs = {0};
    assert_null (parse_json (root, &errs));
    static const char *const want[] = {
        "subjects[0] (a\\\"b\\\\c).unit: unknown unit \"u99\"",
        "subjects[1] (一二三四五六七八九十一二三四五六...).unit: unknown unit \"u98\"",
        "subjects[2].name: must not be empty",
        "subjects[3].name: must be a string, not an integer",
    };
    if (errs.count != 4)
        print_errs (&errs);
    assert_int_equal (errs.count, 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal (errs.lines[i], want[i]);
    pingyi_errlist_clear (&errs);
    json_decref (root);
}

static void
test_misspelt_key_gets_a_suggestion (void **state)
{
    static const edit_case_t cases[] = {
        {"venues[0].isued", "100",
         "venues[0] (区委大礼堂主会场): unknown key \"isued\" (did you mean \"issued\"?)"},
        {"categories[1].wieght", "1",
         "categories[1] (中层干部): unknown key \"wieght\" (did you mean \"weight\"?)"},
        {"titel", "\"x\"", "definition: unknown key \"titel\" (did you mean \"title\"?)"},
        {"Subjects", "[]", "definition: unknown key \"Subjects\" (did you mean \"subjects\"?)"},
        {"k_anonimity", "5", "definition: unknown key \"k_anonimity\" (did you mean \"k_anonymity\"?)"},
        {"grades[0].lable", "\"x\"", "grades[0]: unknown key \"lable\" (did you mean \"label\"?)"},
        {"units[0].knd", "\"town\"", "units[0] (**集团党委): unknown key \"knd\" (did you mean \"kind\"?)"},
        /*  Three edits away, or the whole of a short key: no suggestion.  */
        {"venues[0].colour", "1", "venues[0] (区委大礼堂主会场): unknown key \"colour\""},
        {"x", "1", "definition: unknown key \"x\""},
        {"ix", "1", "definition: unknown key \"ix\" (did you mean \"id\"?)"},
        {"foo", "1", "definition: unknown key \"foo\""},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        json_t *root = load_example_json ();
        edit (root, cases[c].path, cases[c].value);
        pingyi_errlist_t errs = {0};
        assert_null (parse_json (root, &errs));
        if (errs.count != 1 || strcmp (errs.lines[0], cases[c].line)) {
            fprintf (stderr, "case %zu: want: %s\n", c, cases[c].line);
            print_errs (&errs);
        }
        assert_int_equal (errs.count, 1);
        assert_string_equal (errs.lines[0], cases[c].line);
        pingyi_errlist_clear (&errs);
        json_decref (root);
    }
}

static void
test_warnings (void **state)
{
    /*  The examples have none.  */
    pingyi_errlist_t warns = {0};
    pingyi_election_t *e = pingyi_election_load (EXAMPLE, NULL);
    assert_non_null (e);
    assert_int_equal (pingyi_election_warnings (e, &warns), 0);
    assert_int_equal (warns.count, 0);
    pingyi_election_destroy (&e);
    e = pingyi_election_load (CHOICE_SETS, NULL);
    assert_non_null (e);
    assert_int_equal (pingyi_election_warnings (e, &warns), 0);
    pingyi_election_destroy (&e);

    json_t *root = load_example_json ();
    for (int i = 0; i < 4; i++) {
        char path[32];
        snprintf (path, sizeof path, "categories[%d].weight", i);
        edit (root, path, "0");
    }
    edit (root, "districts[1]", "{\"id\": \"d2\", \"name\": \"新区\"}");
    edit (root, "units[11]",
          "{\"id\": \"u12\", \"name\": \"空单位\", \"kind\": \"other\", \"district\": \"d1\"}");
    edit (root, "subjects[11]", "{\"id\": \"s12\", \"name\": \"未上表书记\", \"unit\": \"u01\"}");
    e = parse_json (root, NULL);
    assert_non_null (e);
    static const char *const want[] = {
        "categories: every weight is 0, so no weighted score can be computed",
        "districts[1] (新区): has no unit and no venue",
        "units[11] (空单位): has no subjects",
        "subjects[11] (未上表书记): on no venue's form, so never evaluated",
    };
    assert_int_equal (pingyi_election_warnings (e, &warns), 4);
    assert_int_equal (warns.count, 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal (warns.lines[i], want[i]);
    /*  Appends to what is there, returning only its own count.  */
    assert_int_equal (pingyi_election_warnings (e, &warns), 4);
    assert_int_equal (warns.count, 8);
    pingyi_errlist_clear (&warns);
    pingyi_election_destroy (&e);

    /*  One weight above 0 is enough; a district with only a venue, or only
        a unit, is used.  */
    edit (root, "categories[3].weight", "0.5");
    edit (root, "venues[2].district", "\"d2\"");
    e = parse_json (root, NULL);
    assert_non_null (e);
    assert_int_equal (pingyi_election_warnings (e, &warns), 2);
    assert_string_equal (warns.lines[0], "units[11] (空单位): has no subjects");
    assert_string_equal (warns.lines[1], "subjects[11] (未上表书记): on no venue's form, so never evaluated");
    pingyi_errlist_clear (&warns);
    pingyi_election_destroy (&e);
    json_decref (root);
}

/*  ---------------------------------------------------------------------
    The generator  */

static char *
generate (const pingyi_gen_options_t *o, size_t *len)
{
    char *text = NULL;
    FILE *out = open_memstream (&text, len);
    char err[PINGYI_ERR_MAX];
    int rc = pingyi_election_generate (o, out, err);
    fclose (out);
    if (rc) {
        free (text);
        return NULL;
    }
    return text;
}

static void
test_generated_definition_parses_with_requested_counts (void **state)
{
    pingyi_gen_options_t o = {.districts = 3,
                              .venues_per_district = 2,
                              .subjects = 20,
                              .form_subjects = 5,
                              .items = 7,
                              .shards = 4,
                              .seed = 42};
    size_t len;
    char *text = generate (&o, &len);
    assert_non_null (text);
    pingyi_errlist_t errs = {0};
    pingyi_election_t *e = pingyi_election_parse ((uint8_t *) text, len, &errs);
    print_errs (&errs);
    assert_non_null (e);
    assert_int_equal (e->district_count, 3);
    assert_int_equal (e->venue_count, 6);
    assert_int_equal (e->subject_count, 20);
    assert_int_equal (e->unit_count, 4 + 4 + 3); /* two subjects a unit: 7, 7, 6 */
    assert_int_equal (e->item_count, 7);
    assert_int_equal (e->shard_count, 4);
    assert_int_equal (e->category_count, 4);
    assert_true (e->items[0].overall);
    assert_string_equal (e->items[0].name, "总体评价");
    assert_string_equal (e->items[6].name, "党建引领中心工作");
    assert_string_equal (e->districts[1].name, "第2区");
    /*  Every venue covers 5 subjects of its own district, and each
        district's venues together cover all its subjects.  */
    bool covered[20] = {false};
    for (size_t v = 0; v < e->venue_count; v++) {
        assert_int_equal (e->venues[v].subject_count, 5);
        assert_int_equal (e->venues[v].district, v / 2);
        for (size_t k = 0; k < 5; k++) {
            size_t s = e->venues[v].subjects[k];
            assert_int_equal (e->units[e->subjects[s].unit].district, v / 2);
            covered[s] = true;
        }
    }
    for (size_t s = 0; s < 20; s++)
        assert_true (covered[s]);
    pingyi_election_destroy (&e);

    /*  Deterministic for a seed; another seed, another file.  */
    size_t len2;
    char *again = generate (&o, &len2);
    assert_int_equal (len, len2);
    assert_memory_equal (text, again, len);
    o.seed = 43;
    char *other = generate (&o, &len2);
    assert_true (len != len2 || memcmp (text, other, len) != 0);
    free (text);
    free (again);
    free (other);
}

/*  A venue extract, built here by hand from a generated definition (venue 3
    of 6, 5 of 20 subjects on its form): the model keeps every index of the
    whole definition, the whole file's fingerprint, placeholders elsewhere;
    and the extract's own rules give their exact lines.  */
static json_t *
extract_of (json_t *whole, const pingyi_election_t *e, size_t venue, const char *of)
{
    json_t *x = json_deep_copy (whole);
    json_object_set_new (x, "extract", json_pack ("{s:s, s:s}", "of", of, "venue", e->venues[venue].id));
    const char *names[] = {"districts", "units", "subjects", "venues"};
    bool keep[4][64] = {{false}};
    const pingyi_venue_t *v = &e->venues[venue];
    keep[3][venue] = keep[0][v->district] = true;
    for (size_t k = 0; k < v->subject_count; k++) {
        size_t s = v->subjects[k];
        keep[2][s] = keep[1][e->subjects[s].unit] = keep[0][e->units[e->subjects[s].unit].district] = true;
    }
    for (size_t c = 0; c < 4; c++) {
        json_t *from = json_object_get (whole, names[c]), *to = json_array ();
        for (size_t i = 0; i < json_array_size (from); i++)
            if (keep[c][i]) {
                json_t *o = json_deep_copy (json_array_get (from, i));
                json_object_set_new (o, "index", json_integer ((json_int_t) i));
                json_array_append_new (to, o);
            }
        json_object_set_new (x, names[c], to);
    }
    return x;
}

static void
test_venue_extract_keeps_the_whole_definitions_indices (void **state)
{
    pingyi_gen_options_t o = {.districts = 3,
                              .venues_per_district = 2,
                              .subjects = 20,
                              .form_subjects = 5,
                              .items = 7,
                              .shards = 4,
                              .seed = 42};
    size_t len;
    char *text = generate (&o, &len);
    pingyi_errlist_t errs = {0};
    pingyi_election_t *whole = pingyi_election_parse ((uint8_t *) text, len, &errs);
    assert_non_null (whole);
    json_t *root = json_loadb (text, len, 0, NULL);
    assert_non_null (root);
    json_t *x = extract_of (root, whole, 3, whole->fingerprint_hex);
    pingyi_election_t *e = parse_json (x, &errs);
    print_errs (&errs);
    assert_non_null (e);
    assert_true (e->extract);
    assert_false (whole->extract);
    assert_int_equal (e->extract_venue, 3);
    assert_memory_equal (e->fingerprint, whole->fingerprint, PINGYI_FP_LEN);
    assert_string_equal (e->fingerprint_hex, whole->fingerprint_hex);
    assert_int_equal (e->venue_count, 4); /* up to its own index */
    assert_int_equal (e->category_count, whole->category_count);
    assert_int_equal (e->item_count, whole->item_count);
    assert_int_equal (pingyi_election_venue (e, whole->venues[3].id, strlen (whole->venues[3].id)), 3);
    assert_string_equal (e->venues[3].id, whole->venues[3].id);
    assert_int_equal (e->venues[3].shard, whole->venues[3].shard);
    assert_int_equal (e->venues[3].district, whole->venues[3].district);
    assert_int_equal (e->venues[3].subject_count, 5);
    for (size_t k = 0; k < 5; k++) {
        size_t s = whole->venues[3].subjects[k];
        assert_int_equal (e->venues[3].subjects[k], s);
        assert_string_equal (e->subjects[s].id, whole->subjects[s].id);
        assert_string_equal (e->units[e->subjects[s].unit].id, whole->units[whole->subjects[s].unit].id);
        assert_int_equal (pingyi_election_subject (e, whole->subjects[s].id, strlen (whole->subjects[s].id)),
                          (int) s);
    }
    /* the others are placeholders that no id finds */
    assert_string_equal (e->venues[0].id, "");
    assert_int_equal (e->venues[0].subject_count, 0);
    assert_int_equal (pingyi_election_venue (e, whole->venues[0].id, strlen (whole->venues[0].id)), -1);
    assert_int_equal (pingyi_election_venue (e, "", 0), -1);
    pingyi_errlist_t warnings = {0};
    assert_int_equal (pingyi_election_warnings (e, &warnings), 0);
    pingyi_election_destroy (&e);
    json_decref (x);

    /* its rules, each with its exact line */
#define BAD_INDEX ".index: a venue extract gives each entry its index in the whole definition: an integer in 0..65534"
    /* the error names each entry as usual: "subjects[0] (its name).index" */
    json_t *x0 = extract_of (root, whole, 3, whole->fingerprint_hex);
    char line[3][256];
    const char *coll[3] = {"subjects", "units", "venues"};
    for (size_t c = 0; c < 3; c++)
        snprintf (line[c], sizeof line[c], "%s[0] (%s)" BAD_INDEX, coll[c],
                  json_string_value (json_object_get (json_array_get (json_object_get (x0, coll[c]), 0), "name")));
    json_decref (x0);
    struct {
        const char *path, *value, *line;
    } cases[] = {
        {"subjects[0].index", NULL, line[0]},
        {"units[0].index", "70000", line[1]},
        {"venues[0].index", "-1", line[2]},
        {"extract.of", "\"5c85\"", "extract.of: must be the whole definition's fingerprint: 64 hex digits"},
        {"extract.venue", "\"v1\"", "extract.venue: venue \"v1\" is not in the extract's venues"},
        {"extract.by", "1", "extract: unknown key \"by\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        x = extract_of (root, whole, 3, whole->fingerprint_hex);
        edit (x, cases[i].path, cases[i].value);
        e = parse_json (x, &errs);
        if (errs.count != 1)
            print_errs (&errs);
        assert_null (e);
        assert_int_equal (errs.count, 1);
        assert_string_equal (errs.lines[0], cases[i].line);
        pingyi_errlist_clear (&errs);
        json_decref (x);
    }
    /* a repeated index */
    x = extract_of (root, whole, 3, whole->fingerprint_hex);
    json_t *subjects = json_object_get (x, "subjects");
    json_object_set (json_array_get (subjects, 1), "index", json_object_get (json_array_get (subjects, 0), "index"));
    e = parse_json (x, &errs);
    assert_null (e);
    assert_true (errs.count >= 1);
    char want[256];
    snprintf (want, sizeof want, "subjects[1] (%s).index: index %lld already given to subjects[0]",
              json_string_value (json_object_get (json_array_get (subjects, 1), "name")),
              (long long) json_integer_value (json_object_get (json_array_get (subjects, 0), "index")));
    assert_string_equal (errs.lines[0], want);
    pingyi_errlist_clear (&errs);
    json_decref (x);
    /* two venues in one extract */
    x = extract_of (root, whole, 3, whole->fingerprint_hex);
    json_t *v0 = json_deep_copy (json_array_get (json_object_get (x, "venues"), 0));
    json_object_set_new (v0, "index", json_integer (0));
    json_object_set_new (v0, "id", json_string ("vx"));
    json_array_append_new (json_object_get (x, "venues"), v0);
    e = parse_json (x, &errs);
    assert_null (e);
    if (errs.count != 1)
        print_errs (&errs);
    assert_int_equal (errs.count, 1);
    assert_string_equal (errs.lines[0], "venues: a venue extract holds one venue, not 2");
    pingyi_errlist_clear (&errs);
    json_decref (x);
    /* "index" is no key of a whole definition */
    edit (root, "venues[0].index", "0");
    e = parse_json (root, &errs);
    assert_null (e);
    assert_true (errs.count >= 1);
    assert_non_null (strstr (errs.lines[0], "venues[0] ("));
    assert_non_null (strstr (errs.lines[0], "unknown key \"index\""));
    pingyi_errlist_clear (&errs);
    json_decref (root);
    pingyi_election_destroy (&whole);
    free (text);
}

static void
test_generator_small_districts_and_many_items (void **state)
{
    /*  Districts of 3 and 2 subjects, forms of 10: each form is the whole
        district.  16 items: the six single-item names cycle, numbered.  */
    pingyi_gen_options_t o = {.districts = 2,
                              .venues_per_district = 1,
                              .subjects = 5,
                              .form_subjects = 10,
                              .items = 16,
                              .shards = 1,
                              .seed = 7};
    size_t len;
    char *text = generate (&o, &len);
    assert_non_null (text);
    pingyi_election_t *e = pingyi_election_parse ((uint8_t *) text, len, NULL);
    assert_non_null (e);
    assert_int_equal (e->venues[0].subject_count, 3);
    assert_int_equal (e->venues[1].subject_count, 2);
    assert_int_equal (e->item_count, 16);
    assert_string_equal (e->items[1].name, "履行第一责任人职责");
    assert_string_equal (e->items[7].name, "履行第一责任人职责（2）");
    assert_string_equal (e->items[13].name, "履行第一责任人职责（3）");
    assert_string_equal (e->items[15].name, "发展党员与党员教育管理（3）");
    assert_int_equal (e->venues[0].shard, 0);
    pingyi_election_destroy (&e);
    free (text);

    /*  A citywide drill: 1,200 venues.  */
    pingyi_gen_options_t big = {.districts = 40,
                                .venues_per_district = 30,
                                .subjects = 4000,
                                .form_subjects = 60,
                                .items = 16,
                                .shards = 16,
                                .seed = 1};
    text = generate (&big, &len);
    assert_non_null (text);
    e = pingyi_election_parse ((uint8_t *) text, len, NULL);
    assert_non_null (e);
    assert_int_equal (e->venue_count, 1200);
    assert_int_equal (e->subject_count, 4000);
    assert_int_equal (e->venues[1199].subject_count, 60);
    assert_int_equal (pingyi_election_venue (e, "v1200", 5), 1199);
    pingyi_election_destroy (&e);
    free (text);
}

static void
test_generator_refuses_bad_options (void **state)
{
    pingyi_gen_options_t good = {.districts = 2,
                                 .venues_per_district = 1,
                                 .subjects = 5,
                                 .form_subjects = 5,
                                 .items = 3,
                                 .shards = 2,
                                 .seed = 1};
    char err[PINGYI_ERR_MAX];
    pingyi_gen_options_t o = good;
    o.subjects = 1;
    assert_int_equal (pingyi_election_generate (&o, stdout, err), -1);
    assert_string_equal (err, "generate: subjects must be in 2..65535 (at least one per district)");
    o = good;
    o.items = 17;
    assert_int_equal (pingyi_election_generate (&o, stdout, err), -1);
    assert_string_equal (err, "generate: items must be in 1..16");
    o = good;
    o.form_subjects = 65;
    assert_int_equal (pingyi_election_generate (&o, stdout, err), -1);
    o = good;
    o.shards = 0;
    assert_int_equal (pingyi_election_generate (&o, stdout, err), -1);
    o = good;
    o.districts = 0;
    assert_int_equal (pingyi_election_generate (&o, stdout, err), -1);
    o = good;
    o.districts = 300;
    o.venues_per_district = 300;
    o.subjects = 300;
    assert_int_equal (pingyi_election_generate (&o, stdout, err), -1);
    assert_string_equal (err, "generate: 90000 venues is more than 65535");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_example_parses_with_exact_model),
        cmocka_unit_test (test_choice_sets_example_parses),
        cmocka_unit_test (test_fingerprint_is_sha256_of_file_bytes),
        cmocka_unit_test (test_hash_shard_is_fnv1a_mod_count),
        cmocka_unit_test (test_unit_kind_names),
        cmocka_unit_test (test_errlist_add_and_clear),
        cmocka_unit_test (test_each_error_has_its_exact_line),
        cmocka_unit_test (test_every_collections_id_is_checked),
        cmocka_unit_test (test_defaults_apply),
        cmocka_unit_test (test_renamed_district_reports_every_reference),
        cmocka_unit_test (test_every_error_of_a_file_is_reported),
        cmocka_unit_test (test_not_json_and_not_an_object),
        cmocka_unit_test (test_hostile_text_is_escaped_in_error_lines),
        cmocka_unit_test (test_form_too_big_for_a_body),
        cmocka_unit_test (test_too_many_errors_are_counted_not_listed),
        cmocka_unit_test (test_load_or_err_gives_first_error_and_count),
        cmocka_unit_test (test_summary_shows_the_model),
        cmocka_unit_test (test_bom_is_skipped_but_fingerprinted),
        cmocka_unit_test (test_not_utf8_names_the_byte),
        cmocka_unit_test (test_names_in_paths_are_escaped_and_cut),
        cmocka_unit_test (test_misspelt_key_gets_a_suggestion),
        cmocka_unit_test (test_warnings),
        cmocka_unit_test (test_generated_definition_parses_with_requested_counts),
        cmocka_unit_test (test_venue_extract_keeps_the_whole_definitions_indices),
        cmocka_unit_test (test_generator_small_districts_and_many_items),
        cmocka_unit_test (test_generator_refuses_bad_options),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
