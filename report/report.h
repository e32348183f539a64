/*  report.h — the citywide view (rollup.h) rendered: a terminal table that
    lines up Chinese text, CSV for Excel, the JSON of the HTTP API, and an
    XLSX workbook a 组织部 clerk can print.

    Every renderer reads the view and writes; none changes it or keeps
    state, so several threads may render one view at once (the aggregator
    does).  A filter says what to show: one level, one item (default the
    overall item), all categories weighted or one category, and optionally
    one district.  Layouts and the JSON shape: docs/rollup.md.

    Conventions shared by all formats: rows in definition order (or the
    filter's sort); a rank is
    the row's place within its whole level (citywide, also when a district
    filter shows only some rows) by the score of the shown item and
    category; a rate or score with nothing to divide is "-" in the table,
    empty in CSV and XLSX, null in JSON, never 0.  A cell the release
    withholds (rollup.h) is PINGYI_REPORT_SUPPRESSED ("<k") in every
    figure of the table, CSV and XLSX, with a note line saying what it
    means, and in JSON "suppressed": true with every figure null; its row
    has no rank.  */
#ifndef PINGYI_REPORT_H
#define PINGYI_REPORT_H

#include "rollup.h"

#include <jansson.h>

#define PINGYI_REPORT_API 1             /* "api" of the JSON document; bumped on incompatible change */
#define PINGYI_REPORT_WIDTH 80          /* terminal width when neither COLUMNS nor a tty says, columns */
#define PINGYI_REPORT_WIDTH_MIN 40      /* COLUMNS, a tty's width and --width are taken in 40..1000 */
#define PINGYI_REPORT_WIDTH_MAX 1000
#define PINGYI_REPORT_REAL_PRECISION 10 /* significant digits of rates and scores in dumped JSON */
/*  Flags to dump pingyi_report_json's document with (rates print as
    0.85, not 0.84999999999999998).  */
#define PINGYI_REPORT_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION (PINGYI_REPORT_REAL_PRECISION))
/*  What the table, CSV and XLSX show in every figure of a cell the
    release withholds (rollup.h): never a number.  */
#define PINGYI_REPORT_SUPPRESSED "<k"

/*  The order of the rows (report.c shown_init): the definition's (the
    default, 0), by rank (ties and rows without a rank: see
    PINGYI_REPORT_SORT_RANK), by name.  */
typedef enum {
    PINGYI_REPORT_SORT_DEFINITION = 0,
    PINGYI_REPORT_SORT_RANK, /* rank 1 first; equal ranks in definition order; rows without a rank last */
    PINGYI_REPORT_SORT_NAME, /* by the name's UTF-8 bytes (code point order); equal names in definition order */
} pingyi_report_sort_t;

/*  The language of the table's headers and labels (not of the
    definition's names and choice labels, which are shown as written).  */
typedef enum {
    PINGYI_REPORT_LANG_ZH = 0, /* the default */
    PINGYI_REPORT_LANG_EN,
} pingyi_report_lang_t;

/*  What to show.  Indices into the election; -1 means the default.  */
typedef struct {
    pingyi_level_t level; /* the rows (default PINGYI_LEVEL_SUBJECT); XLSX shows every level */
    int district;         /* only rows and venues of this district; -1 all.  Levels kind
                             and city span districts: their rows are shown whole */
    int category;         /* figures of this category alone (score = its plain average);
                             -1 all categories (counts summed, score weighted) */
    int item;             /* the column of the form; -1 the view's rank item (the overall item) */
    pingyi_report_sort_t sort; /* the rows' order in every format (default the definition's) */
    pingyi_report_lang_t lang; /* the terminal table's headers and labels; CSV, XLSX and JSON keep theirs */
    /*  The rater side (rollup.h pingyi_side_view_t, computed from this
        view): when set, the rows shown are its rows (venues, districts of
        the venues, or categories, of the subjects of one subject-side
        row) instead of level's; they carry no rank; district keeps the
        venue rows of that district (the district rows: that one).  The
        table, CSV and JSON show them; XLSX has one sheet of them (named
        after the grouping) and the reconciliation.  JSON adds "side":
        "rater", "by", and "of": {"level", "id"}; "level" is the grouping
        ("venue", "district", "category").  NULL: the subject side.  */
    const pingyi_side_view_t *side;
} pingyi_report_filter_t;

/*  The defaults: subject level, every district, all categories, the
    overall item.  */
void pingyi_report_filter_init (pingyi_report_filter_t *filter);

/*  Set a filter from names as a user or a URL gives them (each may be NULL
    for the default): level name ("subject" ...), district id, category id
    or name (as ballot files take it: the id first, then the name), item
    id.  0, or -1 with err naming the unknown one, e.g.
    `unknown district "d9"`; an unknown category lists them all:
    `unknown category "boss"; the categories are: leaders (领导班子成员),
    middle (中层干部)` (cut with "…" past what err holds).  */
int pingyi_report_filter_parse (pingyi_report_filter_t *filter, const pingyi_election_t *election,
                                const char *level, const char *district, const char *category,
                                const char *item, char *err);

/*  --sort and --lang as a user gives them (NULL: the default): "definition",
    "rank" or "name"; "zh" or "en".  0, or -1 with err.  */
int pingyi_report_sort_parse (pingyi_report_filter_t *filter, const char *sort, char *err);
int pingyi_report_lang_parse (pingyi_report_filter_t *filter, const char *lang, char *err);

/*  The table's width when the user gave none: COLUMNS when it is a number
    in 40..1000; else, when stdout is a terminal, its width (TIOCGWINSZ,
    brought into 40..1000); else PINGYI_REPORT_WIDTH.  */
size_t pingyi_report_auto_width (void);

/*  Chinese names for people: level 测评对象 / 单位 / 镇/街道 / 部门 /
    单位类型 / 区 / 全市; venue status 进行中 / 已结束 / 已核对 / 作废.  */
const char *pingyi_report_level_label (pingyi_level_t level);
const char *pingyi_report_status_label (pingyi_venue_status_t status);

/*  A label of the table in lang: the one table of label pairs
    (report.c LABELS: 好评率 / "favourable %", 名次 / "rank", ...).  zh is
    the Chinese label; in PINGYI_REPORT_LANG_EN its English pair, or zh
    itself when the table has none.  */
const char *pingyi_report_label (const char *zh, pingyi_report_lang_t lang);

/*  The names of a column width columns wide, so that no two rows read
    alike (the rule of docs/DECISIONS.md, "Names never cut into
    ambiguity"):
      1. every name fits: shown whole;
      2. else the names wider than width are cut in the middle
         (pingyi_text_cut, PINGYI_CUT_MIDDLE) if then all n shown names
         are distinct, else at the end (PINGYI_CUT_END) if then all are
         distinct;
      3. else (the middle cut) each row whose shown name equals another
         row's is shown "name (id)", the name cut to leave room for the
         whole id; again until all are distinct.
    Names equal in the definition get their id the same way, even when
    they fit.  out[i] is malloc'd (the caller frees each).  Returns the
    column's width: width, or more when an id does not fit in width (the
    caller widens the table); 0 on out of memory (nothing to free).  */
size_t pingyi_report_fit_names (const char *const *names, const char *const *ids, size_t n, size_t width,
                                char **out);

/*  The view as a JSON document (api 1): what the aggregator's HTTP API
    serves for the view and `pingyi query --format json` prints:
      {"api": 1,
       "election": {"id", "title", "fingerprint",
                    "items": [{"id", "name", "overall"}], "categories": [{"id", "name", "weight"}],
                    "districts": [{"id", "name"}]},
       "final": bool, "provisional": [{"venue": "v02", "why": "open"}, ...], "k_anonymity": k,
       "status": {"venues", "open", "closed", "reconciled", "void",
                  "accepted", "blank", "duplicates", "rejected", "rejected_by": {reason: n}},
       "level": "subject", "district": null | "d1", "item": "overall", "category": null | "leaders",
       "labels": ["好", "较好", "一般", "差"],
       "rows": [{"id", "name", "parent", "rank", "suppressed", "choices": {"好": n, ...}, "blank", "over",
                 "valid", "good_rate", "bad_rate", "score",
                 "by_category": {"leaders": {"suppressed", "choices", "blank", "over", "valid", "good_rate",
                                             "bad_rate", "score"}, ...}}],   (only when category is null)
       "venues": [{"id", "name", "district", "status", "issued", "collected", "sent", "accepted",
                   "blank", "duplicates", "rejected", "rejected_by": {reason: n}, "closed"}]}
    "final" and "provisional" are of the filter's district (its venues
    only; the city's without one): pingyi_view_final, pingyi_venue_why
    (rollup.h).  "status" is the city's.  The snapshot time is left out
    (the same document from every source; the aggregator adds it).
    NAN rates and scores, rank 0, and unknown (-1) venue figures are null.
    A suppressed cell is "suppressed": true with choices, blank, over,
    valid, rates and score null (a row's "suppressed" is its shown cell's:
    the whole row when all categories are shown).
    filter NULL: the defaults.  NULL on out of memory or a filter naming
    an index out of range (pingyi_report_filter_parse never makes one).
    Dump it with PINGYI_REPORT_JSON_FLAGS.  */
json_t *pingyi_report_json (const pingyi_view_t *view, const pingyi_report_filter_t *filter);

/*  Write pingyi_report_json's document, one line, to out.  0 / -1 with err.  */
int pingyi_report_json_write (const pingyi_view_t *view, const pingyi_report_filter_t *filter, FILE *out,
                              char *err);

/*  The terminal table: a heading (title; item, level, categories; FINAL or
    PROVISIONAL with venues reconciled, then what keeps it PROVISIONAL —
    both of the filter's district; 快照时间 and the view's snapshot time;
    the fingerprint's first 16 hex),
    the rows (名次, name, one column per choice of the item, 弃权, 多选,
    好评率, 差评率, 得分), then the venues' reconciliation (会场, 发出,
    收回, 有效票, 空白票, 拒收, 重复, 状态).  Every line has the same
    display width: width columns (0: PINGYI_REPORT_WIDTH; the commands
    pass pingyi_report_auto_width), or more when the columns cannot fit (an
    item with many choices).  The name column is as wide as its widest name,
    at most what the other columns leave (the rest of a line is spaces at
    its end); names too long for it are shortened by
    pingyi_report_fit_names (never two rows alike).  Headers and labels
    in filter->lang.  0 / -1 with err (out of memory, write error).  */
int pingyi_report_table (const pingyi_view_t *view, const pingyi_report_filter_t *filter, size_t width,
                         FILE *out, char *err);
/*  The heading and the reconciliation only.  */
int pingyi_report_venues_table (const pingyi_view_t *view, const pingyi_report_filter_t *filter, size_t width,
                                FILE *out, char *err);

/*  CSV for Excel: UTF-8 with a BOM, CRLF line ends, RFC 4180 quoting; two
    lines above the header, "快照时间,<snapshot time>" and "状态,FINAL" or
    "状态,PROVISIONAL: v02 open; ..." (of the filter's district); a
    header row in Chinese, then one row per row of the level:
        编号,名称,上级,名次,<choice labels>,弃权,多选无效,有效,好评率,差评率,得分
    and, when all categories are shown, one 得分（<category name>） column
    per category.  Rates and scores are numbers with 4 decimals (0.8500,
    not "85%").  Title and fingerprint are in the other formats.  0 / -1
    with err.  */
int pingyi_report_csv (const pingyi_view_t *view, const pingyi_report_filter_t *filter, FILE *out, char *err);
/*  The reconciliation as CSV (the same two lines first), one row per venue
    (of the filter's district):
        会场编号,会场名称,区,状态,发出,收回,已发送,有效票,空白票,重复,拒收,拒收原因
    unknown figures empty; 拒收原因 as "malformed=3; decrypt=1".  */
int pingyi_report_venues_csv (const pingyi_view_t *view, const pingyi_report_filter_t *filter, FILE *out,
                              char *err);

/*  An XLSX workbook at path: one sheet per level (测评对象, 单位, 镇街道,
    部门, 区, 全市) and a reconciliation sheet (会场核对).  Each sheet: a
    title row, the item and categories, FINAL / PROVISIONAL with what keeps
    it so (of the filter's district), the full fingerprint and the snapshot
    time, then a header row frozen with the id and name columns;
    rates formatted 0.0%, scores 0.00; landscape A4, one page wide, header
    row repeated on every printed page, a footer with the status and the
    snapshot time, the fingerprint and the page number.  The filter's item, category and
    district apply to every sheet; its level is ignored.  0 / -1 with err.  */
int pingyi_report_xlsx (const pingyi_view_t *view, const pingyi_report_filter_t *filter, const char *path,
                        char *err);

#endif
