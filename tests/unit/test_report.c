/*  test_report.c — the view rendered: CSV bytes (BOM, CRLF, RFC 4180
    quoting, the exact header and rows), the JSON document's exact values
    (NAN → null, filters), the terminal table's widths with mixed Chinese
    and ASCII names, and an XLSX workbook opened with unzip: frozen header,
    percent format, fingerprint, landscape one page wide, seven sheets.

    The small election below is rated by hand: s1 leaders 好3 (100), staff
    一般1 (60) → (0.6·100 + 0.4·60) / 1.0 = 84; s2 leaders 较好2 (80),
    staff one BLANK only → 80 (staff has no score); s3 nothing at all.  */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "table.h"

#define CHOICE_SETS PINGYI_SOURCE_DIR "/examples/choice-sets.json"

static const char *DEF =
    "{\"version\": 1, \"id\": \"report\", \"title\": \"报告测试 Report test\", \"shards\": 1,\n"
    " \"k_anonymity\": 1,\n"
    " \"grades\": [{\"label\": \"好\", \"points\": 100, \"favourable\": true},\n"
    "            {\"label\": \"较好\", \"points\": 80, \"favourable\": true},\n"
    "            {\"label\": \"一般\", \"points\": 60},\n"
    "            {\"label\": \"差\", \"points\": 0, \"unfavourable\": true}],\n"
    " \"items\": [{\"id\": \"overall\", \"name\": \"总体评价\", \"overall\": true},\n"
    "           {\"id\": \"duty\", \"name\": \"履行第一责任人职责\"}],\n"
    " \"categories\": [{\"id\": \"leaders\", \"name\": \"领导班子成员\", \"weight\": 0.6},\n"
    "                {\"id\": \"staff\", \"name\": \"一般干部\", \"weight\": 0.4}],\n"
    " \"districts\": [{\"id\": \"d1\", \"name\": \"东区\"}, {\"id\": \"d2\", \"name\": \"West District\"}],\n"
    " \"units\": [{\"id\": \"u1\", \"name\": \"东风镇党委\", \"kind\": \"town\", \"district\": \"d1\"},\n"
    "           {\"id\": \"u2\", \"name\": \"Finance Bureau 财政局\", \"kind\": \"department\", "
    "\"district\": "
    "\"d2\"}],\n"
    " \"subjects\": [{\"id\": \"s1\", \"name\": \"东风镇党委书记\", \"unit\": \"u1\"},\n"
    "              {\"id\": \"s2\", \"name\": \"Li, \\\"Wei\\\" 书记\", \"unit\": \"u2\"},\n"
    "              {\"id\": \"s3\", \"name\": \"A very long name that cannot fit the column "
    "一个非常非常长的名字\", "
    "\"unit\": \"u2\"}],\n"
    " \"venues\": [{\"id\": \"v1\", \"name\": \"东区会场\", \"district\": \"d1\", \"subjects\": [\"s1\", "
    "\"s2\", "
    "\"s3\"]},\n"
    "            {\"id\": \"v2\", \"name\": \"West hall\", \"district\": \"d2\", \"subjects\": [\"s2\", "
    "\"s3\"]}]}\n";

typedef struct {
    pingyi_election_t *e;
    pingyi_tally_t *t;
    pingyi_view_t *v;
} fixture_t;

static void
add (pingyi_tally_t *t, int venue, int subject, int item, int category, int mark, uint64_t count)
{
    pingyi_counter_key_t k = {(uint16_t) venue, (uint16_t) subject, (uint8_t) item, (uint8_t) category,
                              (uint8_t) mark};
    assert_int_equal (pingyi_tally_add_cell (t, &k, count), 0);
}

#define SNAPSHOT_AT 1796528525 /* 2026-12-06T11:42:05+08:00 */
#define CSV_TOP "快照时间,2026-12-06T11:42:05+08:00\r\n状态,PROVISIONAL: v2 open\r\n"

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    f->e = pingyi_election_parse ((const uint8_t *) DEF, strlen (DEF), NULL);
    if (!f->e)
        return -1;
    f->t = pingyi_tally_new (f->e);
    add (f->t, 0, 0, 0, 0, 0, 3);                 /* s1 leaders 好3 */
    add (f->t, 0, 0, 0, 1, 2, 1);                 /* s1 staff 一般1 */
    add (f->t, 0, 1, 0, 0, 1, 1);                 /* s2 leaders 较好1 at v1 */
    add (f->t, 1, 1, 0, 0, 1, 1);                 /* … and 较好1 at v2 */
    add (f->t, 0, 1, 0, 1, PINGYI_MARK_BLANK, 1); /* s2 staff BLANK */
    pingyi_venue_figures_t v1 = {
        .venue = 0, .accepted = 4, .issued = 4, .collected = 4, .sent = 4, .closed = true};
    pingyi_venue_figures_t v2 = {
        .venue = 1, .accepted = 1, .rejected = 2, .issued = -1, .collected = -1, .sent = -1};
    v2.rejected_by[PINGYI_REJECT_MALFORMED] = 2;
    pingyi_tally_set_figures (f->t, &v1);
    pingyi_tally_set_figures (f->t, &v2);
    f->v = pingyi_view_new (f->e, f->t);
    if (!f->v)
        return -1;
    /* a known snapshot, shown in a known zone */
    f->v->snapshot_at = SNAPSHOT_AT;
    setenv ("TZ", "CST-8", 1);
    tzset ();
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    pingyi_view_destroy (&f->v);
    pingyi_tally_destroy (&f->t);
    pingyi_election_destroy (&f->e);
    free (f);
    return 0;
}

/*  Run a renderer into memory; the bytes (NUL-terminated) in *text.  */
typedef int (render_fn) (const pingyi_view_t *, const pingyi_report_filter_t *, FILE *, char *);

static size_t
render (render_fn *fn, const pingyi_view_t *v, const pingyi_report_filter_t *filter, char **text)
{
    size_t len = 0;
    FILE *out = open_memstream (text, &len);
    char err[PINGYI_ERR_MAX] = "";
    assert_int_equal (fn (v, filter, out, err), 0);
    fclose (out);
    return len;
}

/*  ---------------------------------------------------------------------
    CSV  */

static void
test_csv_bom_crlf_quoting_and_rows (void **state)
{
    fixture_t *f = *state;
    char *text;
    size_t len = render (pingyi_report_csv, f->v, NULL, &text);
    assert_true (len > 3);
    assert_memory_equal (text, "\xEF\xBB\xBF", 3);
    /* every line ends in CRLF: no LF without its CR */
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n')
            assert_int_equal (text[i - 1], '\r');
    assert_string_equal (
        text + 3,
        CSV_TOP "编号,名称,上级,名次,好,较好,一般,差,弃权,多选无效,有效,好评率,差评率,得分,"
                "得分（领导班子成员）,得分（一般干部）\r\n"
                "s1,东风镇党委书记,u1,1,3,0,1,0,0,0,4,0.7500,0.0000,84.0000,100.0000,60.0000\r\n"
                "s2,\"Li, \"\"Wei\"\" 书记\",u2,2,0,2,0,0,1,0,2,1.0000,0.0000,80.0000,80.0000,\r\n"
                "s3,A very long name that cannot fit the column 一个非常非常长的名字,u2,,0,0,0,0,0,0,0,,,"
                ",,\r\n");
    free (text);

    /* one category: its own figures, no per-category columns; ranks by it */
    pingyi_report_filter_t filter;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_report_filter_parse (&filter, f->e, "subject", NULL, "staff", NULL, err), 0);
    render (pingyi_report_csv, f->v, &filter, &text);
    assert_string_equal (text + 3, CSV_TOP
                         "编号,名称,上级,名次,好,较好,一般,差,弃权,多选无效,有效,好评率,差评率,得分\r\n"
                         "s1,东风镇党委书记,u1,1,0,0,1,0,0,0,1,0.0000,0.0000,60.0000\r\n"
                         "s2,\"Li, \"\"Wei\"\" 书记\",u2,,0,0,0,0,1,0,0,,,\r\n"
                         "s3,A very long name that cannot fit the column 一个非常非常长的名字,u2,,0,0,0,0,"
                         "0,0,0,,,\r\n");
    free (text);

    /* district d1: its rows only */
    assert_int_equal (pingyi_report_filter_parse (&filter, f->e, "unit", "d1", NULL, NULL, err), 0);
    render (pingyi_report_csv, f->v, &filter, &text);
    assert_non_null (
        strstr (text, "\r\nu1,东风镇党委,d1,1,3,0,1,0,0,0,4,0.7500,0.0000,84.0000,100.0000,60.0000\r\n"));
    assert_null (strstr (text, "\r\nu2,"));
    /* … and its status, not the city's: v1 is reconciled */
    assert_non_null (strstr (text, "\r\n状态,FINAL\r\n"));
    free (text);
}

static void
test_csv_venues (void **state)
{
    fixture_t *f = *state;
    char *text;
    render (pingyi_report_venues_csv, f->v, NULL, &text);
    assert_string_equal (text,
                         "\xEF\xBB\xBF" CSV_TOP
                         "会场编号,会场名称,区,状态,发出,收回,已发送,有效票,空白票,重复,拒收,拒收原因\r\n"
                         "v1,东区会场,东区,已核对,4,4,4,4,0,0,0,\r\n"
                         "v2,West hall,West District,进行中,,,,1,0,0,2,malformed=2\r\n");
    free (text);
}

/*  ---------------------------------------------------------------------
    JSON  */

static const json_t *
path (const json_t *doc, const char *a, const char *b)
{
    const json_t *v = json_object_get (doc, a);
    return b ? json_object_get (v, b) : v;
}

static void
test_json_shape_and_values (void **state)
{
    fixture_t *f = *state;
    json_t *doc = pingyi_report_json (f->v, NULL);
    assert_non_null (doc);
    assert_int_equal (json_integer_value (path (doc, "api", NULL)), 1);
    assert_string_equal (json_string_value (path (doc, "election", "id")), "report");
    assert_string_equal (json_string_value (path (doc, "election", "title")), "报告测试 Report test");
    assert_string_equal (json_string_value (path (doc, "election", "fingerprint")), f->e->fingerprint_hex);
    assert_int_equal (json_array_size (path (doc, "election", "items")), 2);
    assert_true (json_is_false (path (doc, "final", NULL)));
    /* what keeps it PROVISIONAL, per venue */
    char *held = json_dumps (path (doc, "provisional", NULL), JSON_COMPACT);
    assert_string_equal (held, "[{\"venue\":\"v2\",\"why\":\"open\"}]");
    free (held);
    /* the document is the figures alone, the same from every source: the
       snapshot time is the API's (snapshot_at) and the printouts' */
    assert_null (json_object_get (doc, "snapshot_at"));
    assert_int_equal (json_integer_value (path (doc, "status", "venues")), 2);
    assert_int_equal (json_integer_value (path (doc, "status", "open")), 1);
    assert_int_equal (json_integer_value (path (doc, "status", "reconciled")), 1);
    assert_int_equal (json_integer_value (path (doc, "status", "void")), 0);
    assert_int_equal (json_integer_value (path (doc, "status", "rejected")), 2);
    assert_string_equal (json_string_value (path (doc, "level", NULL)), "subject");
    assert_true (json_is_null (path (doc, "district", NULL)));
    assert_string_equal (json_string_value (path (doc, "item", NULL)), "overall");
    assert_true (json_is_null (path (doc, "category", NULL)));
    assert_string_equal (json_string_value (json_array_get (path (doc, "labels", NULL), 1)), "较好");

    const json_t *rows = path (doc, "rows", NULL);
    assert_int_equal (json_array_size (rows), 3);
    const json_t *s1 = json_array_get (rows, 0), *s2 = json_array_get (rows, 1),
                 *s3 = json_array_get (rows, 2);
    assert_string_equal (json_string_value (path (s1, "id", NULL)), "s1");
    assert_string_equal (json_string_value (path (s1, "parent", NULL)), "u1");
    assert_int_equal (json_integer_value (path (s1, "rank", NULL)), 1);
    assert_int_equal (json_integer_value (path (s1, "choices", "好")), 3);
    assert_int_equal (json_integer_value (path (s1, "choices", "一般")), 1);
    assert_int_equal (json_integer_value (path (s1, "choices", "差")), 0);
    assert_int_equal (json_integer_value (path (s1, "valid", NULL)), 4);
    assert_float_equal (json_real_value (path (s1, "good_rate", NULL)), 0.75, 1e-12);
    assert_float_equal (json_real_value (path (s1, "bad_rate", NULL)), 0.0, 1e-12);
    assert_float_equal (json_real_value (path (s1, "score", NULL)), 84.0, 1e-9);
    const json_t *by = path (s1, "by_category", NULL);
    assert_float_equal (json_real_value (path (json_object_get (by, "leaders"), "score", NULL)), 100.0, 1e-9);
    assert_float_equal (json_real_value (path (json_object_get (by, "staff"), "score", NULL)), 60.0, 1e-9);
    /* s2: staff has only a BLANK: its rates and score are null, not 0 */
    assert_string_equal (json_string_value (path (s2, "name", NULL)), "Li, \"Wei\" 书记");
    assert_int_equal (json_integer_value (path (s2, "rank", NULL)), 2);
    const json_t *staff = json_object_get (path (s2, "by_category", NULL), "staff");
    assert_int_equal (json_integer_value (path (staff, "blank", NULL)), 1);
    assert_int_equal (json_integer_value (path (staff, "valid", NULL)), 0);
    assert_true (json_is_null (path (staff, "good_rate", NULL)));
    assert_true (json_is_null (path (staff, "bad_rate", NULL)));
    assert_true (json_is_null (path (staff, "score", NULL)));
    /* s3: nothing at all: no rank, no rates, no score */
    assert_true (json_is_null (path (s3, "rank", NULL)));
    assert_true (json_is_null (path (s3, "good_rate", NULL)));
    assert_true (json_is_null (path (s3, "score", NULL)));

    const json_t *venues = path (doc, "venues", NULL);
    assert_int_equal (json_array_size (venues), 2);
    const json_t *v1 = json_array_get (venues, 0), *v2 = json_array_get (venues, 1);
    assert_string_equal (json_string_value (path (v1, "status", NULL)), "reconciled");
    assert_int_equal (json_integer_value (path (v1, "issued", NULL)), 4);
    assert_string_equal (json_string_value (path (v2, "status", NULL)), "open");
    assert_string_equal (json_string_value (path (v2, "district", NULL)), "d2");
    assert_true (json_is_null (path (v2, "issued", NULL)));
    assert_true (json_is_null (path (v2, "sent", NULL)));
    assert_true (json_is_false (path (v2, "closed", NULL)));
    assert_int_equal (json_integer_value (path (v2, "rejected_by", "malformed")), 2);

    /* dumped with the documented flags: short reals, NAN as null */
    char *text = json_dumps (doc, PINGYI_REPORT_JSON_FLAGS);
    assert_non_null (strstr (text, "\"good_rate\":0.75,\"bad_rate\":0.0,\"score\":84.0,"));
    assert_non_null (strstr (text, "\"good_rate\":null,\"bad_rate\":null,\"score\":null"));
    assert_null (strstr (text, "nan"));
    free (text);
    json_decref (doc);
}

static void
test_json_filters (void **state)
{
    fixture_t *f = *state;
    pingyi_report_filter_t filter;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_report_filter_parse (&filter, f->e, NULL, NULL, "staff", "overall", err), 0);
    json_t *doc = pingyi_report_json (f->v, &filter);
    assert_string_equal (json_string_value (path (doc, "category", NULL)), "staff");
    const json_t *s1 = json_array_get (path (doc, "rows", NULL), 0);
    assert_null (json_object_get (s1, "by_category"));
    assert_float_equal (json_real_value (path (s1, "score", NULL)), 60.0, 1e-9);
    assert_int_equal (json_integer_value (path (s1, "rank", NULL)), 1);
    assert_true (json_is_null (path (json_array_get (path (doc, "rows", NULL), 1), "rank", NULL)));
    json_decref (doc);

    /* district d2: s2, s3 and venue v2; the city level ignores the district */
    assert_int_equal (pingyi_report_filter_parse (&filter, f->e, "subject", "d2", NULL, NULL, err), 0);
    doc = pingyi_report_json (f->v, &filter);
    assert_string_equal (json_string_value (path (doc, "district", NULL)), "d2");
    assert_true (json_is_false (path (doc, "final", NULL)));
    assert_int_equal (json_array_size (path (doc, "provisional", NULL)), 1);
    assert_int_equal (json_array_size (path (doc, "rows", NULL)), 2);
    assert_string_equal (json_string_value (path (json_array_get (path (doc, "rows", NULL), 0), "id", NULL)),
                         "s2");
    /* ranks stay citywide: s2 is second in the city */
    assert_int_equal (json_integer_value (path (json_array_get (path (doc, "rows", NULL), 0), "rank", NULL)),
                      2);
    assert_int_equal (json_array_size (path (doc, "venues", NULL)), 1);
    json_decref (doc);
    filter.level = PINGYI_LEVEL_CITY;
    doc = pingyi_report_json (f->v, &filter);
    assert_int_equal (json_array_size (path (doc, "rows", NULL)), 1);
    assert_int_equal (json_integer_value (path (json_array_get (path (doc, "rows", NULL), 0), "valid", NULL)),
                      6);
    json_decref (doc);
    /* district d1 (v1, reconciled) is final though the city is not */
    assert_int_equal (pingyi_report_filter_parse (&filter, f->e, "subject", "d1", NULL, NULL, err), 0);
    doc = pingyi_report_json (f->v, &filter);
    assert_true (json_is_true (path (doc, "final", NULL)));
    assert_int_equal (json_array_size (path (doc, "provisional", NULL)), 0);
    json_decref (doc);

    /* the duty item has no mark at all */
    assert_int_equal (pingyi_report_filter_parse (&filter, f->e, "subject", NULL, NULL, "duty", err), 0);
    doc = pingyi_report_json (f->v, &filter);
    assert_string_equal (json_string_value (path (doc, "item", NULL)), "duty");
    assert_true (json_is_null (path (json_array_get (path (doc, "rows", NULL), 0), "score", NULL)));
    json_decref (doc);

    /* bad names are refused with the name quoted; out-of-range filters too */
    assert_int_equal (pingyi_report_filter_parse (&filter, f->e, "street", NULL, NULL, NULL, err), -1);
    assert_string_equal (
        err, "unknown level \"street\" (city, district, town, department, kind, unit or subject)");
    assert_int_equal (pingyi_report_filter_parse (&filter, f->e, NULL, "d9\n", NULL, NULL, err), -1);
    assert_string_equal (err, "unknown district \"d9\\x0a\"");
    assert_int_equal (pingyi_report_filter_parse (&filter, f->e, NULL, NULL, "boss", NULL, err), -1);
    assert_non_null (strstr (err, "unknown category \"boss\"; the categories are: "));
    assert_int_equal (pingyi_report_filter_parse (&filter, f->e, NULL, NULL, NULL, "x", err), -1);
    assert_string_equal (err, "unknown item \"x\"");
    pingyi_report_filter_init (&filter);
    filter.item = 7;
    assert_null (pingyi_report_json (f->v, &filter));
}

/*  ---------------------------------------------------------------------
    Table  */

/*  Every line of text has display width want (0: the same as the first);
    returns the line count.  */
static size_t
lines_all_width (char *text, size_t want)
{
    size_t n = 0;
    for (char *save = NULL, *line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
        size_t w = pingyi_text_width (line);
        if (!want)
            want = w;
        if (w != want)
            fail_msg ("line %zu is %zu columns, not %zu: [%s]", n, w, want, line);
        n++;
    }
    return n;
}

static size_t
first_line_width (const char *text)
{
    char *copy = strndup (text, strcspn (text, "\n"));
    size_t w = pingyi_text_width (copy);
    free (copy);
    return w;
}

static void
test_table_lines_up (void **state)
{
    fixture_t *f = *state;
    char *text = NULL;
    size_t len = 0;
    char err[PINGYI_ERR_MAX];
    FILE *out = open_memstream (&text, &len);
    assert_int_equal (pingyi_report_table (f->v, NULL, 0, out, err), 0);
    fclose (out);
    assert_non_null (strstr (text, "报告测试 Report test"));
    assert_non_null (strstr (text, "项目：总体评价  层级：测评对象  类别：全部类别（加权）"));
    assert_non_null (
        strstr (text, "临时结果 PROVISIONAL：2 个会场中 1 个已核对（进行中 1，已结束待核对 0）"));
    assert_non_null (strstr (text, "\nPROVISIONAL: v2 open "));
    assert_non_null (strstr (text, "\n快照时间 2026-12-06T11:42:05+08:00 "));
    char fp16[40];
    snprintf (fp16, sizeof fp16, "选举指纹 %.16s ", f->e->fingerprint_hex);
    assert_non_null (strstr (text, fp16));
    assert_null (strstr (text, f->e->fingerprint_hex)); /* only the first 16 */
    assert_non_null (strstr (text, "名次 测评对象"));
    assert_non_null (strstr (text, "84.00"));
    assert_non_null (strstr (text, "75.0%"));
    assert_non_null (strstr (text, "…")); /* the long name is cut */
    assert_non_null (strstr (text, "已核对"));
    assert_non_null (strstr (text, "进行中"));
    assert_true (lines_all_width (text, 80) >= 4 + 1 + 4 + 1 + 3);
    free (text);

    /* wider on request; the venues alone; one district */
    for (size_t width = 100; width <= 140; width += 40) {
        out = open_memstream (&text, &len);
        assert_int_equal (pingyi_report_table (f->v, NULL, width, out, err), 0);
        fclose (out);
        lines_all_width (text, width);
        free (text);
    }
    pingyi_report_filter_t filter;
    assert_int_equal (pingyi_report_filter_parse (&filter, f->e, "unit", "d2", NULL, NULL, err), 0);
    out = open_memstream (&text, &len);
    assert_int_equal (pingyi_report_venues_table (f->v, &filter, 80, out, err), 0);
    fclose (out);
    assert_null (strstr (text, "东区会场"));
    assert_non_null (strstr (text, "v2 West hall"));
    assert_null (strstr (text, "名次"));
    assert_non_null (
        strstr (text, "临时结果 PROVISIONAL：1 个会场中 0 个已核对（进行中 1，已结束待核对 0）"));
    assert_non_null (strstr (text, "\nPROVISIONAL: v2 open "));
    lines_all_width (text, 80);
    free (text);
    /* the district of v1 alone is final */
    assert_int_equal (pingyi_report_filter_parse (&filter, f->e, "unit", "d1", NULL, NULL, err), 0);
    out = open_memstream (&text, &len);
    assert_int_equal (pingyi_report_table (f->v, &filter, 80, out, err), 0);
    fclose (out);
    assert_non_null (strstr (text, "最终结果 FINAL：1 个会场全部核对"));
    assert_null (strstr (text, "PROVISIONAL"));
    assert_non_null (strstr (text, "\n快照时间 2026-12-06T11:42:05+08:00 "));
    lines_all_width (text, 80);
    free (text);

    /* too narrow to fit: wider than asked, but still every line alike */
    out = open_memstream (&text, &len);
    assert_int_equal (pingyi_report_table (f->v, NULL, 40, out, err), 0);
    fclose (out);
    assert_true (first_line_width (text) > 40);
    lines_all_width (text, 0);
    free (text);
}

/*  Other choice sets (3, 4, 5 choices) make other columns; the lines still
    agree.  Five four-character labels (突出特长) cannot fit 80 columns with
    a usable name column: that table is wider, as report.h says.  */
static void
test_table_other_choice_sets (void **state)
{
    (void) state;
    char err[PINGYI_ERR_MAX];
    pingyi_election_t *e = pingyi_election_load_or_err (CHOICE_SETS, err);
    assert_non_null (e);
    pingyi_tally_t *t = pingyi_tally_new (e);
    pingyi_view_t *v = pingyi_view_new (e, t);
    for (size_t i = 0; i < e->item_count; i++) {
        pingyi_report_filter_t filter;
        pingyi_report_filter_init (&filter);
        filter.item = (int) i;
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream (&text, &len);
        assert_int_equal (pingyi_report_table (v, &filter, 80, out, err), 0);
        fclose (out);
        size_t width = first_line_width (text);
        lines_all_width (text, width);
        if (!strcmp (e->items[i].id, "strengths"))
            assert_true (width > 80);
        else
            assert_int_equal (width, 80);
        free (text);
    }
    pingyi_view_destroy (&v);
    pingyi_tally_destroy (&t);
    pingyi_election_destroy (&e);
}

/*  ---------------------------------------------------------------------
    XLSX  */

/*  One member of the zip, via unzip -p (NULL if missing).  */
static char *
unzip_member (const char *zip, const char *member)
{
    char cmd[512];
    snprintf (cmd, sizeof cmd, "unzip -p '%s' '%s' 2>/dev/null", zip, member);
    FILE *p = popen (cmd, "r");
    assert_non_null (p);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&text, &len);
    char buf[4096];
    size_t n;
    while ((n = fread (buf, 1, sizeof buf, p)) > 0)
        fwrite (buf, 1, n, out);
    fclose (out);
    int rc = pclose (p);
    if (rc != 0 || len == 0) {
        free (text);
        return NULL;
    }
    return text;
}

static void
test_xlsx_workbook (void **state)
{
    fixture_t *f = *state;
    char dir[] = "/tmp/pingyi-report-XXXXXX";
    assert_non_null (mkdtemp (dir));
    char file[128], err[PINGYI_ERR_MAX];
    snprintf (file, sizeof file, "%s/view.xlsx", dir);
    assert_int_equal (pingyi_report_xlsx (f->v, NULL, file, err), 0);

    char *sheet = unzip_member (file, "xl/worksheets/sheet1.xml");
    assert_non_null (sheet);
    assert_non_null (strstr (sheet, "state=\"frozen\""));
    assert_non_null (strstr (sheet, "<pane "));
    assert_non_null (strstr (sheet, "topLeftCell=\"C6\"")); /* header row 5 and the id and name columns */
    assert_non_null (strstr (sheet, "orientation=\"landscape\""));
    assert_non_null (strstr (sheet, "fitToHeight=\"0\""));
    assert_non_null (strstr (sheet, "<pageSetUpPr fitToPage=\"1\"/>"));
    assert_non_null (
        strstr (sheet, "<oddFooter>&amp;L临时结果 PROVISIONAL 快照时间 2026-12-06T11:42:05+08:00"));
    assert_non_null (strstr (sheet, "<v>0.75</v>")); /* s1's 好评率 as a number */
    assert_non_null (strstr (sheet, "<v>84</v>"));
    free (sheet);
    char *styles = unzip_member (file, "xl/styles.xml");
    assert_non_null (styles);
    assert_non_null (strstr (styles, "formatCode=\"0.0%\""));
    assert_non_null (strstr (styles, "formatCode=\"0.00\""));
    free (styles);
    char *strings = unzip_member (file, "xl/sharedStrings.xml");
    assert_non_null (strings);
    assert_non_null (strstr (strings, f->e->fingerprint_hex));
    assert_non_null (strstr (strings, "临时结果 PROVISIONAL"));
    assert_non_null (strstr (strings, "  PROVISIONAL: v2 open<"));
    assert_non_null (strstr (strings, "    快照时间 2026-12-06T11:42:05+08:00<"));
    assert_non_null (strstr (strings, "Li, \"Wei\" 书记"));
    free (strings);
    char *book = unzip_member (file, "xl/workbook.xml");
    assert_non_null (book);
    const char *sheets[] = {"测评对象", "单位", "镇街道", "部门", "区", "全市", "会场核对"};
    for (size_t i = 0; i < 7; i++) {
        char name[64];
        snprintf (name, sizeof name, "name=\"%s\"", sheets[i]);
        assert_non_null (strstr (book, name));
    }
    assert_non_null (strstr (book, "_xlnm.Print_Titles")); /* the header row repeats on every page */
    free (book);
    char *venues = unzip_member (file, "xl/worksheets/sheet7.xml");
    assert_non_null (venues);
    assert_non_null (strstr (venues, "state=\"frozen\""));
    free (venues);
    unlink (file);

    /* a path that cannot be written is an error, not a crash */
    snprintf (file, sizeof file, "%s/no/such/dir/view.xlsx", dir);
    assert_int_equal (pingyi_report_xlsx (f->v, NULL, file, err), -1);
    assert_non_null (strstr (err, "no/such/dir/view.xlsx"));
    rmdir (dir);
}

/*  ---------------------------------------------------------------------
    Suppressed cells in every format.  The fixture's tally released with
    k = 2 (rollup.h): v1's groups hold leaders 3 and staff 1 ballots (as
    its counters show: no by_category), v2's leaders 1.  Staff (1) is
    small in every row, so leaders goes with it (the row total minus
    leaders would give staff): every category cell is suppressed, every
    row total shown — s1 all 好3 一般1 → 84, as with k = 1.  With k = 10
    every row is suppressed whole.  */

static void
test_suppressed_csv_and_json (void **state)
{
    fixture_t *f = *state;
    pingyi_view_t *v = pingyi_view_new_k (f->e, f->t, 2);
    assert_non_null (v);
    char *text;
    render (pingyi_report_csv, v, NULL, &text);
    assert_non_null (
        strstr (text, "\r\ns1,东风镇党委书记,u1,1,3,0,1,0,0,0,4,0.7500,0.0000,84.0000,<k,<k\r\n"));
    free (text);
    pingyi_report_filter_t filter;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_report_filter_parse (&filter, f->e, "subject", NULL, "leaders", NULL, err), 0);
    render (pingyi_report_csv, v, &filter, &text);
    /* no rank, every figure the marker */
    assert_non_null (strstr (text, "\r\ns1,东风镇党委书记,u1,,<k,<k,<k,<k,<k,<k,<k,<k,<k,<k\r\n"));
    free (text);

    json_t *doc = pingyi_report_json (v, NULL);
    assert_int_equal (json_integer_value (json_object_get (doc, "k_anonymity")), 2);
    json_t *s1 = json_array_get (json_object_get (doc, "rows"), 0);
    assert_true (json_is_false (json_object_get (s1, "suppressed")));
    assert_float_equal (json_real_value (json_object_get (s1, "score")), 84.0, 1e-9);
    json_t *leaders = json_object_get (json_object_get (s1, "by_category"), "leaders");
    assert_true (json_is_true (json_object_get (leaders, "suppressed")));
    const char *nulls[] = {"choices", "blank", "over", "valid", "good_rate", "bad_rate", "score"};
    for (size_t i = 0; i < 7; i++)
        assert_true (json_is_null (json_object_get (leaders, nulls[i])));
    json_decref (doc);
    doc = pingyi_report_json (v, &filter);
    s1 = json_array_get (json_object_get (doc, "rows"), 0);
    assert_true (json_is_true (json_object_get (s1, "suppressed")));
    assert_true (json_is_null (json_object_get (s1, "rank")));
    assert_true (json_is_null (json_object_get (s1, "choices")));
    json_decref (doc);
    pingyi_view_destroy (&v);

    /* k = 10: every row suppressed whole, the city's too */
    v = pingyi_view_new_k (f->e, f->t, 10);
    filter.level = PINGYI_LEVEL_CITY;
    filter.category = -1;
    doc = pingyi_report_json (v, &filter);
    json_t *city = json_array_get (json_object_get (doc, "rows"), 0);
    assert_true (json_is_true (json_object_get (city, "suppressed")));
    assert_true (json_is_null (json_object_get (city, "valid")));
    assert_true (json_is_null (json_object_get (city, "rank")));
    assert_true (json_is_true (
        json_object_get (json_object_get (json_object_get (city, "by_category"), "staff"), "suppressed")));
    /* the venues' figures are the shards' release, not cells: shown */
    assert_int_equal (json_integer_value (json_object_get (json_object_get (doc, "status"), "accepted")), 5);
    json_decref (doc);
    pingyi_view_destroy (&v);
}

static void
test_suppressed_table_and_xlsx (void **state)
{
    fixture_t *f = *state;
    pingyi_view_t *v = pingyi_view_new_k (f->e, f->t, 2);
    pingyi_report_filter_t filter;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_report_filter_parse (&filter, f->e, "unit", NULL, "staff", NULL, err), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&text, &len);
    assert_int_equal (pingyi_report_table (v, &filter, 80, out, err), 0);
    fclose (out);
    /* every figure of a unit row is the marker, the note says why, and
       every line is still 80 columns */
    /* (the name column as wide as the widest name; the line padded at its end) */
    const char *row = strstr (text, "\n   - 东风镇党委 ");
    assert_non_null (row);
    const char *marks = strstr (row, " <k   <k   <k <k   <k   <k     <k     <k   <k ");
    assert_non_null (marks);
    assert_true (marks < strchr (row + 1, '\n'));
    assert_non_null (strstr (text, "<k：不予公布（不足 2 票，或可据以推算这样的格子）"));
    for (char *line = text, *end; (end = strchr (line, '\n')); line = end + 1) {
        *end = '\0';
        assert_int_equal (pingyi_text_width (line), 80);
    }
    free (text);
    /* all categories: the rows are shown, no note */
    filter.category = -1;
    out = open_memstream (&text, &len);
    assert_int_equal (pingyi_report_table (v, &filter, 80, out, err), 0);
    fclose (out);
    assert_null (strstr (text, "<k"));
    free (text);

    char dir[] = "/tmp/pingyi-report-XXXXXX";
    assert_non_null (mkdtemp (dir));
    char file[128];
    snprintf (file, sizeof file, "%s/k.xlsx", dir);
    assert_int_equal (pingyi_report_xlsx (v, NULL, file, err), 0);
    char *strings = unzip_member (file, "xl/sharedStrings.xml");
    assert_non_null (strings);
    assert_non_null (strstr (strings, "&lt;k"));
    assert_non_null (strstr (strings, "不予公布"));
    free (strings);
    char *sheet = unzip_member (file, "xl/worksheets/sheet1.xml");
    assert_non_null (strstr (sheet, "<v>84</v>")); /* s1's weighted score is shown */
    free (sheet);
    unlink (file);
    rmdir (dir);
    pingyi_view_destroy (&v);
}

static void
test_labels (void **state)
{
    (void) state;
    assert_string_equal (pingyi_report_level_label (PINGYI_LEVEL_TOWN), "镇/街道");
    assert_string_equal (pingyi_report_level_label (PINGYI_LEVEL_CITY), "全市");
    assert_string_equal (pingyi_report_status_label (PINGYI_VENUE_OPEN), "进行中");
    assert_string_equal (pingyi_report_status_label (PINGYI_VENUE_CLOSED), "已结束");
    assert_string_equal (pingyi_report_status_label (PINGYI_VENUE_RECONCILED), "已核对");
    assert_string_equal (pingyi_report_status_label (PINGYI_VENUE_VOID), "作废");
}

/*  FINAL means final: v1 reconciled, but it refused 2 ballots after its
    close — the count stays PROVISIONAL, and every format says why.  */
static void
test_provisional_reasons (void **state)
{
    fixture_t *f = *state;
    pingyi_venue_figures_t v1 = {
        .venue = 0, .accepted = 4, .rejected = 2, .issued = 4, .collected = 4, .sent = 4, .closed = true};
    v1.rejected_by[PINGYI_REJECT_VENUE_CLOSED] = 2;
    assert_int_equal (pingyi_tally_set_figures (f->t, &v1), 0);
    pingyi_view_t *v = pingyi_view_new (f->e, f->t);
    assert_non_null (v);
    v->snapshot_at = SNAPSHOT_AT;
    assert_int_equal (v->venues[0].status, PINGYI_VENUE_RECONCILED);
    assert_false (v->final);

    char *text = NULL;
    size_t len = 0;
    char err[PINGYI_ERR_MAX];
    pingyi_report_filter_t filter;
    assert_int_equal (pingyi_report_filter_parse (&filter, f->e, "unit", "d1", NULL, NULL, err), 0);
    FILE *out = open_memstream (&text, &len);
    assert_int_equal (pingyi_report_table (v, &filter, 80, out, err), 0);
    fclose (out);
    assert_non_null (
        strstr (text, "临时结果 PROVISIONAL：1 个会场中 1 个已核对（进行中 0，已结束待核对 0）"));
    assert_non_null (strstr (text, "\nPROVISIONAL: v1 refused 2 ballots after its close "));
    assert_non_null (strstr (text, "\n快照时间 2026-12-06T11:42:05+08:00 "));
    lines_all_width (text, 80);
    free (text);
    /* narrow: the reasons break between words, every line alike */
    out = open_memstream (&text, &len);
    assert_int_equal (pingyi_report_venues_table (v, NULL, 52, out, err), 0);
    fclose (out);
    assert_non_null (strstr (text, "\nPROVISIONAL: v1 refused 2 ballots after its close;  \nv2 open "));
    lines_all_width (text, 0);
    free (text);

    render (pingyi_report_csv, v, NULL, &text);
    assert_non_null (
        strstr (text, "\r\n状态,PROVISIONAL: v1 refused 2 ballots after its close; v2 open\r\n"));
    free (text);

    json_t *doc = pingyi_report_json (v, &filter);
    assert_true (json_is_false (path (doc, "final", NULL)));
    char *held = json_dumps (path (doc, "provisional", NULL), JSON_COMPACT);
    assert_string_equal (held, "[{\"venue\":\"v1\",\"why\":\"refused 2 ballots after its close\"}]");
    free (held);
    json_decref (doc);
    pingyi_view_destroy (&v);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_csv_bom_crlf_quoting_and_rows, setup, teardown),
        cmocka_unit_test_setup_teardown (test_csv_venues, setup, teardown),
        cmocka_unit_test_setup_teardown (test_provisional_reasons, setup, teardown),
        cmocka_unit_test_setup_teardown (test_json_shape_and_values, setup, teardown),
        cmocka_unit_test_setup_teardown (test_json_filters, setup, teardown),
        cmocka_unit_test_setup_teardown (test_table_lines_up, setup, teardown),
        cmocka_unit_test (test_table_other_choice_sets),
        cmocka_unit_test_setup_teardown (test_xlsx_workbook, setup, teardown),
        cmocka_unit_test_setup_teardown (test_suppressed_csv_and_json, setup, teardown),
        cmocka_unit_test_setup_teardown (test_suppressed_table_and_xlsx, setup, teardown),
        cmocka_unit_test (test_labels),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
