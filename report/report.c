/*  report.c — the view rendered as a terminal table, CSV, JSON and XLSX
    (see report.h, docs/rollup.md).

    All formats go through one "shown" selection (which rows of which level,
    which item and category, which venues, and the ranks for that item and
    category), so a row, a rank or a rate can never differ between the
    table on screen, the CSV, the workbook and the API.  Renderers only
    read the view: the aggregator renders one view from several threads.

    Terminal widths are display widths (text/table.h): a CJK character
    takes two columns.  Every line of the table is padded to the same
    width, so the block lines up whatever the names.  */
#include "report.h"
#include "quote.h"
#include "table.h"
#include "tally_json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <xlsxwriter.h>

void
pingyi_report_filter_init (pingyi_report_filter_t *filter)
{
    filter->level = PINGYI_LEVEL_SUBJECT;
    filter->district = -1;
    filter->category = -1;
    filter->item = -1;
    filter->side = NULL;
}

int
pingyi_report_filter_parse (pingyi_report_filter_t *filter, const pingyi_election_t *e, const char *level,
                            const char *district, const char *category, const char *item, char *err)
{
    pingyi_report_filter_init (filter);
    char q[PINGYI_QUOTE_SIZE (PINGYI_QUOTE_SHOWN)];
    if (level) {
        int l = pingyi_level_parse (level);
        if (l < 0) {
            pingyi_quote (q, sizeof q, level, strlen (level), PINGYI_QUOTE_SHOWN);
            return pingyi_fail (
                err, "unknown level %s (city, district, town, department, kind, unit or subject)", q);
        }
        filter->level = (pingyi_level_t) l;
    }
    if (district) {
        filter->district = -1;
        for (size_t d = 0; d < e->district_count; d++)
            if (!strcmp (e->districts[d].id, district))
                filter->district = (int) d;
        if (filter->district < 0) {
            pingyi_quote (q, sizeof q, district, strlen (district), PINGYI_QUOTE_SHOWN);
            return pingyi_fail (err, "unknown district %s", q);
        }
    }
    if (category) {
        filter->category = pingyi_election_category (e, category, strlen (category));
        for (size_t c = 0; c < e->category_count && filter->category < 0; c++)
            if (!strcmp (e->categories[c].name, category))
                filter->category = (int) c;
        if (filter->category < 0) {
            pingyi_quote (q, sizeof q, category, strlen (category), PINGYI_QUOTE_SHOWN);
            char list[PINGYI_ERR_MAX];
            size_t o = 0;
            list[0] = '\0';
            for (size_t c = 0; c < e->category_count && o < sizeof list; c++) {
                int n = snprintf (list + o, sizeof list - o, "%s%s (%s)", c ? ", " : "", e->categories[c].id,
                                  e->categories[c].name);
                o = n < 0 ? sizeof list : o + (size_t) n;
            }
            char msg[PINGYI_ERR_MAX * 2];
            snprintf (msg, sizeof msg, "unknown category %s; the categories are: %s", q, list);
            /* cut on a character boundary with "…" when err cannot hold it all */
            if (strlen (msg) < PINGYI_ERR_MAX)
                return pingyi_fail (err, "%s", msg);
            size_t keep = PINGYI_ERR_MAX - 4;
            while (keep && ((unsigned char) msg[keep] & 0xC0) == 0x80)
                keep--;
            return pingyi_fail (err, "%.*s…", (int) keep, msg);
        }
    }
    if (item) {
        for (size_t i = 0; i < e->item_count; i++)
            if (!strcmp (e->items[i].id, item))
                filter->item = (int) i;
        if (filter->item < 0) {
            pingyi_quote (q, sizeof q, item, strlen (item), PINGYI_QUOTE_SHOWN);
            return pingyi_fail (err, "unknown item %s", q);
        }
    }
    return 0;
}

const char *
pingyi_report_level_label (pingyi_level_t level)
{
    static const char *labels[PINGYI_LEVEL_COUNT_] = {"测评对象", "单位", "镇/街道", "部门",
                                                      "单位类型", "区",   "全市"};
    return (unsigned) level < PINGYI_LEVEL_COUNT_ ? labels[level] : "?";
}

const char *
pingyi_report_status_label (pingyi_venue_status_t status)
{
    switch (status) {
    case PINGYI_VENUE_OPEN:
        return "进行中";
    case PINGYI_VENUE_CLOSED:
        return "已结束";
    case PINGYI_VENUE_RECONCILED:
        return "已核对";
    case PINGYI_VENUE_VOID:
        return "作废";
    }
    return "?";
}

/*  ---------------------------------------------------------------------
    Labels, sort, language, width  */

/*  The one table of label pairs: every header and label of the terminal
    table, Chinese first.  */
static const struct {
    const char *zh, *en;
} LABELS[] = {
    {"名次", "rank"},
    {"测评对象", "subject"},
    {"单位", "unit"},
    {"镇/街道", "town"},
    {"部门", "department"},
    {"单位类型", "kind"},
    {"区", "district"},
    {"全市", "city"},
    {"会场所在区", "venue district"},
    {"测评人类别", "rater category"},
    {"弃权", "blank"},
    {"多选", "over"},
    {"好评率", "favourable %"},
    {"差评率", "unfavourable %"},
    {"得分", "score"},
    {"空白", "blank"},
    {"无效", "invalid"},
    {"同意率", "approval %"},
    {"票数", "votes"},
    {"当选", "winner"},
    {"并列", "tie"},
    {"会场", "venue"},
    {"发出", "issued"},
    {"收回", "collected"},
    {"有效票", "valid"},
    {"空白票", "blank"},
    {"拒收", "refused"},
    {"重复", "dup"},
    {"状态", "status"},
    {"进行中", "open"},
    {"已结束", "closed"},
    {"已核对", "reconciled"},
    {"作废", "void"},
    {"项目", "item"},
    {"层级", "level"},
    {"类别", "categories"},
    {"全部类别（加权）", "all (weighted)"},
    {"全部类别", "all"},
    {"快照时间", "snapshot"},
    {"选举指纹", "fingerprint"},
};

const char *
pingyi_report_label (const char *zh, pingyi_report_lang_t lang)
{
    if (lang == PINGYI_REPORT_LANG_EN)
        for (size_t i = 0; i < sizeof LABELS / sizeof LABELS[0]; i++)
            if (!strcmp (LABELS[i].zh, zh))
                return LABELS[i].en;
    return zh;
}

int
pingyi_report_sort_parse (pingyi_report_filter_t *filter, const char *sort, char *err)
{
    if (!sort || !strcmp (sort, "definition"))
        filter->sort = PINGYI_REPORT_SORT_DEFINITION;
    else if (!strcmp (sort, "rank"))
        filter->sort = PINGYI_REPORT_SORT_RANK;
    else if (!strcmp (sort, "name"))
        filter->sort = PINGYI_REPORT_SORT_NAME;
    else {
        char q[PINGYI_QUOTE_SIZE (PINGYI_QUOTE_SHOWN)];
        pingyi_quote (q, sizeof q, sort, strlen (sort), PINGYI_QUOTE_SHOWN);
        return pingyi_fail (err, "unknown sort %s (definition, rank or name)", q);
    }
    return 0;
}

int
pingyi_report_lang_parse (pingyi_report_filter_t *filter, const char *lang, char *err)
{
    if (!lang || !strcmp (lang, "zh"))
        filter->lang = PINGYI_REPORT_LANG_ZH;
    else if (!strcmp (lang, "en"))
        filter->lang = PINGYI_REPORT_LANG_EN;
    else {
        char q[PINGYI_QUOTE_SIZE (PINGYI_QUOTE_SHOWN)];
        pingyi_quote (q, sizeof q, lang, strlen (lang), PINGYI_QUOTE_SHOWN);
        return pingyi_fail (err, "unknown language %s (zh or en)", q);
    }
    return 0;
}

size_t
pingyi_report_auto_width (void)
{
    const char *columns = getenv ("COLUMNS");
    if (columns && *columns && strspn (columns, "0123456789") == strlen (columns) && strlen (columns) <= 4) {
        size_t n = (size_t) strtoul (columns, NULL, 10);
        if (n >= PINGYI_REPORT_WIDTH_MIN && n <= PINGYI_REPORT_WIDTH_MAX)
            return n;
    }
    struct winsize ws;
    if (isatty (STDOUT_FILENO) && ioctl (STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        size_t n = ws.ws_col;
        return n < PINGYI_REPORT_WIDTH_MIN ? PINGYI_REPORT_WIDTH_MIN
               : n > PINGYI_REPORT_WIDTH_MAX ? PINGYI_REPORT_WIDTH_MAX
                                             : n;
    }
    return PINGYI_REPORT_WIDTH;
}

/*  Which of forms[0..n) equal another: clash[i].  Returns how many do.  */
static size_t
clashes (char *const *forms, size_t n, bool *clash)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        clash[i] = false;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (!strcmp (forms[i], forms[j])) {
                count += !clash[i] + !clash[j];
                clash[i] = clash[j] = true;
            }
    return count;
}

/*  forms[i] = names[i] shortened to width by where (each malloc'd).  0 / -1.  */
static int
cut_all (const char *const *names, size_t n, size_t width, pingyi_cut_t where, char **forms)
{
    for (size_t i = 0; i < n; i++) {
        free (forms[i]);
        size_t cap = strlen (names[i]) + 4;
        if (!(forms[i] = malloc (cap)))
            return -1;
        pingyi_text_cut (forms[i], cap, names[i], width, where);
    }
    return 0;
}

#define ID_NAME_MIN 3 /* an id's row shows at least "…" and one wide character of its name */

/*  "name (id)" in width columns, the name cut in the middle.  NULL on out of memory.  */
static char *
with_id (const char *name, const char *id, size_t width)
{
    size_t idw = pingyi_text_width (id) + 3, cap = strlen (name) + strlen (id) + 8;
    char *out = malloc (cap);
    if (!out)
        return NULL;
    pingyi_text_cut (out, cap, name, width > idw ? width - idw : 0, PINGYI_CUT_MIDDLE);
    size_t o = strlen (out);
    snprintf (out + o, cap - o, " (%s)", id);
    return out;
}

size_t
pingyi_report_fit_names (const char *const *names, const char *const *ids, size_t n, size_t width,
                         char **out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    bool *clash = calloc (n ? n : 1, sizeof *clash), *marked = calloc (n ? n : 1, sizeof *marked);
    size_t widest = 0;
    for (size_t i = 0; i < n; i++)
        if (pingyi_text_width (names[i]) > widest)
            widest = pingyi_text_width (names[i]);
    if (!clash || !marked)
        goto oom;
    if (widest <= width) {
        if (cut_all (names, n, width, PINGYI_CUT_END, out))
            goto oom;
    }
    else {
        if (cut_all (names, n, width, PINGYI_CUT_MIDDLE, out))
            goto oom;
        if (clashes (out, n, clash)) {
            if (cut_all (names, n, width, PINGYI_CUT_END, out))
                goto oom;
            if (clashes (out, n, clash) && cut_all (names, n, width, PINGYI_CUT_MIDDLE, out))
                goto oom;
        }
    }
    /* rows that still read alike show their id; an id shown can make a
       new clash (with a plain name), so again until none (each round
       marks at least one more row: at most n rounds) */
    for (size_t round = 0; round <= n && clashes (out, n, clash); round++) {
        bool more = false;
        for (size_t i = 0; i < n; i++)
            if (clash[i] && !marked[i]) {
                size_t need = pingyi_text_width (ids[i]) + 3 + ID_NAME_MIN;
                if (need > width) { /* the id does not fit: widen the column, start again */
                    for (size_t k = 0; k < n; k++)
                        free (out[k]);
                    free (clash);
                    free (marked);
                    return pingyi_report_fit_names (names, ids, n, need, out);
                }
                free (out[i]);
                /* a name that fits beside its id stays whole */
                if (!(out[i] = with_id (names[i], ids[i], width)))
                    goto oom;
                marked[i] = more = true;
            }
        if (!more)
            break; /* marked rows alike: ids equal (never in a definition) */
    }
    free (clash);
    free (marked);
    return width;
oom:
    for (size_t i = 0; i < n; i++) {
        free (out[i]);
        out[i] = NULL;
    }
    free (clash);
    free (marked);
    return 0;
}

/*  ---------------------------------------------------------------------
    What is shown  */

typedef struct {
    const pingyi_view_t *view;
    const pingyi_election_t *e;
    pingyi_level_t level;
    int district; /* -1: all */
    size_t item;
    size_t category; /* category_count: all, weighted */
    const pingyi_choice_set_t *set;
    const pingyi_level_view_t *lv;
    int *ranks;   /* by row of lv */
    size_t *rows; /* the rows shown, in the filter's order (default the definition's) */
    size_t row_count;
    size_t *venues; /* the venues shown */
    size_t venue_count;
    pingyi_report_lang_t lang;
    const pingyi_side_view_t *side; /* the rater side (filter->side), or NULL */
    pingyi_level_view_t side_lv;    /* its rows as a level */
} shown_t;

/*  What the rows are, in Chinese (the level's label, or the rater-side
    grouping's).  */
static const char *
shown_level_label (const shown_t *s)
{
    if (!s->side)
        return pingyi_report_level_label (s->level);
    switch (s->side->by) {
    case PINGYI_RATER_VENUE:
        return "会场";
    case PINGYI_RATER_DISTRICT:
        return "会场所在区";
    default:
        return "测评人类别";
    }
}

/*  A row to sort: by rank (0, no rank, last) or by name, then by its
    place in the definition (rows are in definition order), so the order
    is total and qsort's instability does not matter.  */
typedef struct {
    size_t row;
    int rank;
    const char *name;
} sort_key_t;

static int
sort_key_cmp (const void *pa, const void *pb)
{
    const sort_key_t *a = pa, *b = pb;
    if (a->rank != b->rank) {
        if (a->rank <= 0 || b->rank <= 0)
            return a->rank <= 0 ? 1 : -1;
        return a->rank < b->rank ? -1 : 1;
    }
    int c = strcmp (a->name, b->name);
    if (c)
        return c;
    return a->row < b->row ? -1 : a->row > b->row;
}

static void
shown_fini (shown_t *s)
{
    free (s->ranks);
    free (s->rows);
    free (s->venues);
    memset (s, 0, sizeof *s);
}

static int
shown_init (shown_t *s, const pingyi_view_t *view, const pingyi_report_filter_t *filter, pingyi_level_t level,
            char *err)
{
    memset (s, 0, sizeof *s);
    pingyi_report_filter_t def;
    if (!filter) {
        pingyi_report_filter_init (&def);
        filter = &def;
    }
    const pingyi_election_t *e = view->election;
    if ((unsigned) level >= PINGYI_LEVEL_COUNT_ || filter->district >= (int) e->district_count ||
        filter->category >= (int) e->category_count || filter->item >= (int) e->item_count)
        return pingyi_fail (err, "report: the filter names a level, district, category or item out of range");
    s->view = view;
    s->e = e;
    s->lang = filter->lang;
    s->level = level;
    s->district = filter->district < 0 ? -1 : filter->district;
    s->item = filter->item < 0 ? view->rank_item : (size_t) filter->item;
    s->category = filter->category < 0 ? e->category_count : (size_t) filter->category;
    s->set = &e->choice_sets[e->items[s->item].choice_set];
    s->lv = &view->levels[level];
    if (filter->side) {
        if (filter->side->view != view)
            return pingyi_fail (err, "report: the rater-side rows are of another view");
        s->side = filter->side;
        s->side_lv = (pingyi_level_view_t){.level = level, .rows = s->side->rows, .row_count = s->side->row_count};
        s->lv = &s->side_lv;
    }
    size_t n = s->lv->row_count;
    s->ranks = calloc (n ? n : 1, sizeof *s->ranks);
    s->rows = calloc (n ? n : 1, sizeof *s->rows);
    s->venues = calloc (e->venue_count ? e->venue_count : 1, sizeof *s->venues);
    if (!s->ranks || !s->rows || !s->venues) {
        shown_fini (s);
        return pingyi_fail (err, "report: out of memory");
    }
    if (s->side)
        ; /* rater-side rows carry no rank (ranks stay 0) */
    else if (s->item == view->rank_item && s->category == e->category_count)
        for (size_t r = 0; r < n; r++)
            s->ranks[r] = s->lv->rows[r].rank;
    else if (pingyi_view_rank (view, level, s->item, s->category, s->ranks)) {
        shown_fini (s);
        return pingyi_fail (err, "report: out of memory");
    }
    for (size_t r = 0; r < n; r++) {
        int d = !s->side                                   ? pingyi_view_row_district (view, level, r)
                : s->side->by == PINGYI_RATER_VENUE    ? (int) e->venues[s->side->source[r]].district
                : s->side->by == PINGYI_RATER_DISTRICT ? (int) s->side->source[r]
                                                       : -1;
        if (s->district < 0 || d < 0 || d == s->district)
            s->rows[s->row_count++] = r;
    }
    for (size_t v = 0; v < e->venue_count; v++)
        if (s->district < 0 || e->venues[v].district == (size_t) s->district)
            s->venues[s->venue_count++] = v;
    if (filter->sort != PINGYI_REPORT_SORT_DEFINITION && s->row_count > 1) {
        sort_key_t *keys = malloc (s->row_count * sizeof *keys);
        if (!keys) {
            shown_fini (s);
            return pingyi_fail (err, "report: out of memory");
        }
        for (size_t k = 0; k < s->row_count; k++)
            keys[k] = (sort_key_t){.row = s->rows[k],
                                   .rank = filter->sort == PINGYI_REPORT_SORT_RANK ? s->ranks[s->rows[k]] : 0,
                                   .name = filter->sort == PINGYI_REPORT_SORT_NAME ? s->lv->rows[s->rows[k]].name
                                                                                   : ""};
        qsort (keys, s->row_count, sizeof *keys, sort_key_cmp);
        for (size_t k = 0; k < s->row_count; k++)
            s->rows[k] = keys[k].row;
        free (keys);
    }
    return 0;
}

static const pingyi_cell_stats_t *
shown_stats (const shown_t *s, size_t row, size_t category)
{
    return &s->lv->rows[row].stats[s->item * (s->e->category_count + 1) + category];
}

/*  "全部类别（加权）" or the category's name.  */
static const char *
category_label (const shown_t *s)
{
    if (s->category < s->e->category_count)
        return s->e->categories[s->category].name;
    /* only a graded item's score weighs the categories */
    return pingyi_report_label (s->e->items[s->item].kind == PINGYI_KIND_GRADED ? "全部类别（加权）" : "全部类别",
                                s->lang);
}

/*  FINAL / PROVISIONAL over the venues of district (-1: all) in one line,
    with the venues counted by status (the rule: pingyi_view_final).  */
static void
status_line (const pingyi_view_t *v, int district, pingyi_report_lang_t lang, char *out, size_t cap)
{
    const pingyi_election_t *e = v->election;
    size_t total = 0, by[4] = {0};
    for (size_t i = 0; i < e->venue_count; i++)
        if (district < 0 || e->venues[i].district == (size_t) district) {
            total++;
            by[v->venues[i].status]++;
        }
    if (lang == PINGYI_REPORT_LANG_EN) {
        if (pingyi_view_final (v, district, NULL))
            snprintf (out, cap, "FINAL: all %zu venues reconciled", total);
        else
            snprintf (out, cap, "PROVISIONAL: %zu of %zu venues reconciled (open %zu, closed awaiting %zu, void %zu)",
                      by[PINGYI_VENUE_RECONCILED], total, by[PINGYI_VENUE_OPEN], by[PINGYI_VENUE_CLOSED],
                      by[PINGYI_VENUE_VOID]);
    }
    else if (pingyi_view_final (v, district, NULL))
        snprintf (out, cap, "最终结果 FINAL：%zu 个会场全部核对", total);
    else {
        int n = snprintf (out, cap,
                          "临时结果 PROVISIONAL：%zu 个会场中 %zu 个已核对（进行中 %zu，已结束待核对 %zu",
                          total, by[PINGYI_VENUE_RECONCILED], by[PINGYI_VENUE_OPEN], by[PINGYI_VENUE_CLOSED]);
        if (n > 0 && (size_t) n < cap)
            snprintf (out + n, cap - (size_t) n, by[PINGYI_VENUE_VOID] ? "，作废 %zu）" : "）",
                      by[PINGYI_VENUE_VOID]);
    }
}

/*  What keeps the count PROVISIONAL, "PROVISIONAL: v02 open; …" (empty
    when FINAL), and the snapshot line "快照时间 2026-12-06T11:42:05+08:00".  */
static void
why_line (const pingyi_view_t *v, int district, char *out, size_t cap)
{
    if (pingyi_view_status_text (v, district, PINGYI_STATUS_NAMED, out, cap))
        out[0] = 0;
}

static void
snapshot_line (const pingyi_view_t *v, pingyi_report_lang_t lang, char *out, size_t cap)
{
    char at[PINGYI_SNAPSHOT_TEXT];
    pingyi_view_snapshot_text (v, at, sizeof at);
    snprintf (out, cap, "%s %s", pingyi_report_label ("快照时间", lang), at);
}

/*  What the marker of a suppressed cell means, in one line.  */
static void
suppressed_note (const pingyi_view_t *v, pingyi_report_lang_t lang, char *out, size_t cap)
{
    if (lang == PINGYI_REPORT_LANG_EN)
        snprintf (out, cap, "%s: withheld (fewer than %u ballots, or such a cell could be worked out from it)",
                  PINGYI_REPORT_SUPPRESSED, v->k);
    else
        snprintf (out, cap, "%s：不予公布（不足 %u 票，或可据以推算这样的格子）", PINGYI_REPORT_SUPPRESSED, v->k);
}

/*  ---------------------------------------------------------------------
    Cells as text  */

#define TEXT_CELL 128 /* a cell's text, bytes: a contest's winners are cut to WINNERS_WIDTH */
#define WINNERS_WIDTH 40

static void
fmt_count (char *out, uint64_t n)
{
    snprintf (out, TEXT_CELL, "%" PRIu64, n);
}

static void
fmt_rate (char *out, double x)
{
    if (isnan (x))
        snprintf (out, TEXT_CELL, "-");
    else
        snprintf (out, TEXT_CELL, "%.1f%%", 100.0 * x);
}

static void
fmt_score (char *out, double x)
{
    if (isnan (x))
        snprintf (out, TEXT_CELL, "-");
    else
        snprintf (out, TEXT_CELL, "%.2f", x);
}

static void
fmt_figure (char *out, int64_t n)
{
    if (n < 0)
        snprintf (out, TEXT_CELL, "-");
    else
        snprintf (out, TEXT_CELL, "%" PRId64, n);
}

/*  ---------------------------------------------------------------------
    Columns: what a row shows follows its item's kind (docs/rollup.md
    "Contests"), decided here once for the table, the CSV and the
    workbook; each writer only formats the figure a column names.  */

typedef enum {
    COL_RANK,     /* the rank (graded items only) */
    COL_NAME,     /* the row's name (the table), or id, name, parent (CSV, XLSX) */
    COL_CHOICE,   /* arg: the choice's count (a contest's votes) */
    COL_SHARE,    /* arg: a contest's share of the valid votes */
    COL_BLANK,    /* 弃权 (graded) / 空白 (the others) */
    COL_OVER,     /* 多选 (graded) / 无效 (the others) */
    COL_VALID,    /* valid cells (a contest's valid votes: 票数) */
    COL_GOOD,     /* 好评率 */
    COL_BAD,      /* 差评率 */
    COL_SCORE,    /* the score (weighted across categories) */
    COL_APPROVAL, /* 同意率 */
    COL_WINNERS,  /* a contest's winner(s), ties named */
    COL_CAT,      /* arg: a category's own figure (score, or 同意率), all-categories exports only */
} col_kind_t;

typedef struct {
    col_kind_t kind;
    size_t arg;
} col_t;

#define COLS_MAX (3 * PINGYI_MAX_CHOICES + 12 + PINGYI_MAX_CATEGORIES)

/*  The columns of the rows for the item shown.  table: the terminal
    table (a contest's share in its votes' cell; no valid column, no
    per-category column), else the flat exports.  */
static size_t
columns (const shown_t *s, bool table, col_t *cols)
{
    pingyi_item_kind_t kind = s->e->items[s->item].kind;
    size_t n = 0, choices = s->set->choice_count;
    bool contest = PINGYI_KIND_IS_CONTEST (kind);
    if (!table) /* the exports: id, name, parent first */
        cols[n++] = (col_t){COL_NAME, 0};
    if (kind == PINGYI_KIND_GRADED)
        cols[n++] = (col_t){COL_RANK, 0};
    if (table)
        cols[n++] = (col_t){COL_NAME, 0};
    for (size_t m = 0; m < choices; m++)
        cols[n++] = (col_t){COL_CHOICE, m};
    if (contest && !table)
        for (size_t m = 0; m < choices; m++)
            cols[n++] = (col_t){COL_SHARE, m};
    cols[n++] = (col_t){COL_BLANK, 0};
    cols[n++] = (col_t){COL_OVER, 0};
    if (!table || contest)
        cols[n++] = (col_t){COL_VALID, 0};
    switch (kind) {
    case PINGYI_KIND_GRADED:
        cols[n++] = (col_t){COL_GOOD, 0};
        cols[n++] = (col_t){COL_BAD, 0};
        cols[n++] = (col_t){COL_SCORE, 0};
        break;
    case PINGYI_KIND_YES_NO:
        cols[n++] = (col_t){COL_APPROVAL, 0};
        break;
    default:
        cols[n++] = (col_t){COL_WINNERS, 0};
        break;
    }
    if (!table && !contest && s->category == s->e->category_count)
        for (size_t c = 0; c < s->e->category_count; c++)
            cols[n++] = (col_t){COL_CAT, c};
    return n;
}

/*  The header of a column, in the shown language (the flat exports pass
    LANG_ZH and long forms: "多选无效", "得票率（甲）", "得分（领导班子成员）").  */
static void
col_head (const shown_t *s, col_t col, bool table, char *out, size_t cap)
{
    bool graded = s->e->items[s->item].kind == PINGYI_KIND_GRADED;
    const char *zh = NULL;
    switch (col.kind) {
    case COL_RANK:
        zh = "名次";
        break;
    case COL_NAME:
        zh = table ? shown_level_label (s) : "名称";
        break;
    case COL_CHOICE:
        snprintf (out, cap, "%s", s->set->choices[col.arg].label);
        return;
    case COL_SHARE:
        snprintf (out, cap, "得票率（%s）", s->set->choices[col.arg].label);
        return;
    case COL_BLANK:
        zh = graded ? "弃权" : "空白";
        break;
    case COL_OVER:
        zh = graded ? (table ? "多选" : "多选无效") : "无效";
        break;
    case COL_VALID:
        zh = PINGYI_KIND_IS_CONTEST (s->e->items[s->item].kind) ? "票数" : "有效";
        break;
    case COL_GOOD:
        zh = "好评率";
        break;
    case COL_BAD:
        zh = "差评率";
        break;
    case COL_SCORE:
        zh = "得分";
        break;
    case COL_APPROVAL:
        zh = "同意率";
        break;
    case COL_WINNERS:
        zh = "当选";
        break;
    case COL_CAT:
        snprintf (out, cap, "%s（%s）", graded ? "得分" : "同意率", s->e->categories[col.arg].name);
        return;
    }
    snprintf (out, cap, "%s", table ? pingyi_report_label (zh, s->lang) : zh);
}

/*  A contest cell's winners: "甲", "甲、乙" (seats > 1), "并列 甲、乙" (a
    tie at the last seat: every tied choice named), "-" with none; cut to
    width columns (SIZE_MAX: whole; out must then hold WINNERS_TEXT).  */
#define WINNERS_TEXT (PINGYI_MAX_CHOICES * 520 + 16) /* labels: at most 512 bytes, 32 of them */

static void
winners_text (const shown_t *s, const pingyi_cell_stats_t *st, pingyi_report_lang_t lang, size_t width,
              char *out, size_t cap)
{
    char *all = malloc (WINNERS_TEXT);
    if (!all) {
        snprintf (out, cap, "?");
        return;
    }
    size_t n = 0;
    all[0] = '\0';
    if (st->tie)
        n += (size_t) snprintf (all, WINNERS_TEXT, "%s ", pingyi_report_label ("并列", lang));
    bool any = false;
    for (size_t m = 0; m < s->set->choice_count && n < WINNERS_TEXT; m++)
        if (st->winners >> m & 1u) {
            n += (size_t) snprintf (all + n, WINNERS_TEXT - n, "%s%s",
                                    any ? (lang == PINGYI_REPORT_LANG_EN ? ", " : "、") : "",
                                    s->set->choices[m].label);
            any = true;
        }
    if (!any)
        snprintf (out, cap, "-");
    else
        pingyi_text_cut (out, cap, all, width, PINGYI_CUT_END);
    free (all);
}

/*  A contest's share of choice m: votes / valid votes, NAN with none.  */
static double
share_of (const pingyi_cell_stats_t *st, size_t m)
{
    return st->valid ? (double) st->choices[m] / (double) st->valid : NAN;
}

/*  The figure of one column of one row, for every writer to format its
    way: a count, a rate (a fraction), a score, a text, or nothing (an
    empty cell: no rank, a rate or score of NAN).  The name columns are the
    writers' own.  */
typedef enum { VAL_NONE, VAL_COUNT, VAL_RATE, VAL_SCORE, VAL_TEXT } val_kind_t;

typedef struct {
    val_kind_t kind;
    uint64_t n;
    double x;
    const char *text; /* VAL_TEXT: PINGYI_REPORT_SUPPRESSED, or the winners in the caller's buffer */
    bool suppressed;  /* the cell is withheld (text is PINGYI_REPORT_SUPPRESSED) */
} col_value_t;

static col_value_t
col_value (const shown_t *s, size_t row, col_t col, pingyi_report_lang_t lang, size_t winners_width, char *buf,
           size_t cap)
{
    if (col.kind == COL_RANK)
        return s->ranks[row] > 0 ? (col_value_t){.kind = VAL_COUNT, .n = (uint64_t) s->ranks[row]}
                                 : (col_value_t){.kind = VAL_NONE};
    const pingyi_cell_stats_t *st = shown_stats (s, row, col.kind == COL_CAT ? col.arg : s->category);
    if (st->suppressed)
        return (col_value_t){.kind = VAL_TEXT, .text = PINGYI_REPORT_SUPPRESSED, .suppressed = true};
    double x = NAN;
    switch (col.kind) {
    case COL_CHOICE:
        return (col_value_t){.kind = VAL_COUNT, .n = st->choices[col.arg]};
    case COL_BLANK:
        return (col_value_t){.kind = VAL_COUNT, .n = st->blank};
    case COL_OVER:
        return (col_value_t){.kind = VAL_COUNT, .n = st->over};
    case COL_VALID:
        return (col_value_t){.kind = VAL_COUNT, .n = st->valid};
    case COL_SHARE:
        x = share_of (st, col.arg);
        break;
    case COL_GOOD:
    case COL_APPROVAL:
        x = st->good_rate;
        break;
    case COL_BAD:
        x = st->bad_rate;
        break;
    case COL_SCORE:
        return isnan (st->score) ? (col_value_t){.kind = VAL_NONE} : (col_value_t){.kind = VAL_SCORE, .x = st->score};
    case COL_CAT:
        if (s->e->items[s->item].kind == PINGYI_KIND_GRADED)
            return isnan (st->score) ? (col_value_t){.kind = VAL_NONE}
                                     : (col_value_t){.kind = VAL_SCORE, .x = st->score};
        x = st->good_rate;
        break;
    case COL_WINNERS:
        winners_text (s, st, lang, winners_width, buf, cap);
        return (col_value_t){.kind = VAL_TEXT, .text = buf};
    default:
        return (col_value_t){.kind = VAL_NONE};
    }
    return isnan (x) ? (col_value_t){.kind = VAL_NONE} : (col_value_t){.kind = VAL_RATE, .x = x};
}

/*  ---------------------------------------------------------------------
    Terminal table  */

/*  Print text wrapped to width columns, every line padded to width.  */
static void
wrap (FILE *out, const char *text, size_t width)
{
    const unsigned char *p = (const unsigned char *) text;
    size_t used = 0;
    while (*p) {
        size_t n = *p < 0x80             ? 1
                   : (*p & 0xE0) == 0xC0 ? 2
                   : (*p & 0xF0) == 0xE0 ? 3
                   : (*p & 0xF8) == 0xF0 ? 4
                                         : 1;
        char ch[5] = {0};
        size_t k = 0;
        while (k < n && p[k])
            k++;
        memcpy (ch, p, k);
        size_t w = pingyi_text_width (ch);
        if (used && used + w > width) {
            fprintf (out, "%*s\n", (int) (width - used), "");
            used = 0;
        }
        fwrite (ch, 1, k, out);
        used += w;
        p += k;
    }
    fprintf (out, "%*s\n", (int) (width - used), "");
}

/*  The same, broken between words where it can (the PROVISIONAL line:
    "refused 2 ballots" stays whole); a word wider than a line is cut as
    wrap cuts.  */
static void
wrap_words (FILE *out, const char *text, size_t width)
{
    size_t used = 0;
    char word[1024];
    for (const char *p = text; *p;) {
        size_t n = strcspn (p, " ");
        if (n >= sizeof word || n == 0) {
            wrap (out, text, width);
            return;
        }
        memcpy (word, p, n);
        word[n] = 0;
        size_t w = pingyi_text_width (word);
        if (used && used + 1 + w > width) {
            fprintf (out, "%*s\n", (int) (width - used), "");
            used = 0;
        }
        if (w > width && used == 0) /* too long for any line: cut it */
            wrap (out, word, width);
        else {
            if (used) {
                fputc (' ', out);
                used++;
            }
            fputs (word, out);
            used += w;
        }
        p += n;
        while (*p == ' ')
            p++;
    }
    if (used)
        fprintf (out, "%*s\n", (int) (width - used), "");
}

static void
rule (FILE *out, size_t width)
{
    for (size_t i = 0; i < width; i++)
        fputc ('-', out);
    fputc ('\n', out);
}

#define MAX_COLS COLS_MAX

/*  The cells of one row of the rows table, by columns (); the name's cell
    is left empty (the caller fits the names).  Returns the column count.  */
static size_t
row_cells (const shown_t *s, size_t row, char cells[MAX_COLS][TEXT_CELL])
{
    const pingyi_cell_stats_t *st = shown_stats (s, row, s->category);
    bool contest = PINGYI_KIND_IS_CONTEST (s->e->items[s->item].kind);
    col_t cols[COLS_MAX];
    size_t n = columns (s, true, cols);
    for (size_t c = 0; c < n; c++) {
        char *out = cells[c];
        out[0] = '\0';
        if (cols[c].kind == COL_NAME)
            continue;
        col_value_t v = col_value (s, row, cols[c], s->lang, WINNERS_WIDTH, out, TEXT_CELL);
        switch (v.kind) {
        case VAL_NONE:
            snprintf (out, TEXT_CELL, "-");
            break;
        case VAL_COUNT:
            fmt_count (out, v.n);
            break;
        case VAL_RATE:
            fmt_rate (out, v.x);
            break;
        case VAL_SCORE:
            fmt_score (out, v.x);
            break;
        case VAL_TEXT:
            if (v.text != out)
                snprintf (out, TEXT_CELL, "%s", v.text);
            break;
        }
        /* a contest's votes with their share, in one cell */
        if (contest && cols[c].kind == COL_CHOICE && v.kind == VAL_COUNT && st->valid) {
            size_t len = strlen (out);
            snprintf (out + len, TEXT_CELL - len, " %.1f%%", 100.0 * share_of (st, cols[c].arg));
        }
    }
    return n;
}

/*  The headers of the rows table, into heads (TEXT_CELL bytes each), and
    the name column's index into *name_col.  */
static size_t
row_heads (const shown_t *s, char heads[MAX_COLS][TEXT_CELL], size_t *name_col)
{
    col_t cols[COLS_MAX];
    size_t n = columns (s, true, cols);
    for (size_t c = 0; c < n; c++) {
        col_head (s, cols[c], true, heads[c], TEXT_CELL);
        if (cols[c].kind == COL_NAME)
            *name_col = c;
    }
    return n;
}

#define VENUE_COLS 8

static void
venue_cells (const shown_t *s, size_t v, char cells[VENUE_COLS][TEXT_CELL])
{
    const pingyi_venue_view_t *vv = &s->view->venues[v];
    const pingyi_venue_figures_t *f = &vv->figures;
    cells[0][0] = '\0';
    fmt_figure (cells[1], f->issued);
    fmt_figure (cells[2], f->collected);
    fmt_count (cells[3], f->accepted);
    fmt_count (cells[4], f->blank);
    fmt_count (cells[5], f->rejected);
    fmt_count (cells[6], f->duplicates);
    snprintf (cells[7], TEXT_CELL, "%s", pingyi_report_label (pingyi_report_status_label (vv->status), s->lang));
}

static const char *venue_heads[VENUE_COLS] = {"会场",   "发出", "收回", "有效票",
                                              "空白票", "拒收", "重复", "状态"};

/*  Column widths: the widest of header and cells; the flexible column
    (flex) is left 0.  Returns the width of everything but the flexible
    column, separators included.  */
static size_t
fixed_width (size_t *widths, size_t cols, size_t flex)
{
    size_t total = cols - 1;
    for (size_t c = 0; c < cols; c++)
        if (c != flex)
            total += widths[c];
    return total;
}

/*  The label of a venue in the table: "v01 区委大礼堂主会场".  */
static void
venue_label (const pingyi_election_t *e, size_t v, char *out, size_t cap)
{
    snprintf (out, cap, "%s %s", e->venues[v].id, e->venues[v].name);
}

#define NAME_MIN 8
#define VENUE_NAME_MIN 10

static int
table (const pingyi_view_t *view, const pingyi_report_filter_t *filter, size_t width, bool with_rows,
       FILE *out, char *err)
{
    shown_t s;
    if (shown_init (&s, view, filter, filter ? filter->level : PINGYI_LEVEL_SUBJECT, err))
        return -1;
    const pingyi_election_t *e = view->election;
    if (width == 0)
        width = PINGYI_REPORT_WIDTH;
    const char *vheads[VENUE_COLS];
    for (size_t c = 0; c < VENUE_COLS; c++)
        vheads[c] = pingyi_report_label (venue_heads[c], s.lang);

    /* widths of the rows table */
    char heads[MAX_COLS][TEXT_CELL];
    size_t nc = 1; /* the name's column */
    size_t cols = row_heads (&s, heads, &nc);
    size_t rw[MAX_COLS];
    char cells[MAX_COLS][TEXT_CELL];
    for (size_t c = 0; c < cols; c++)
        rw[c] = pingyi_text_width (heads[c]);
    for (size_t k = 0; k < s.row_count; k++) {
        row_cells (&s, s.rows[k], cells);
        for (size_t c = 0; c < cols; c++)
            if (c != nc && pingyi_text_width (cells[c]) > rw[c])
                rw[c] = pingyi_text_width (cells[c]);
    }
    size_t rows_fixed = fixed_width (rw, cols, nc);
    size_t rows_min = rw[nc] > NAME_MIN ? rw[nc] : NAME_MIN;

    /* widths of the reconciliation */
    size_t vw[VENUE_COLS];
    char vcells[VENUE_COLS][TEXT_CELL];
    for (size_t c = 0; c < VENUE_COLS; c++)
        vw[c] = pingyi_text_width (vheads[c]);
    for (size_t k = 0; k < s.venue_count; k++) {
        venue_cells (&s, s.venues[k], vcells);
        for (size_t c = 1; c < VENUE_COLS; c++)
            if (pingyi_text_width (vcells[c]) > vw[c])
                vw[c] = pingyi_text_width (vcells[c]);
    }
    size_t venues_fixed = fixed_width (vw, VENUE_COLS, 0);

    /* one width for every line: the asked width, unless a table cannot fit */
    char line[2048];
    size_t w = width;
    if (with_rows && rows_fixed + rows_min > w)
        w = rows_fixed + rows_min;
    if (venues_fixed + VENUE_NAME_MIN > w)
        w = venues_fixed + VENUE_NAME_MIN;
    rw[nc] = w - rows_fixed;
    /* the names as shown: never two rows alike (report.h) */
    char **names = NULL;
    if (with_rows && s.row_count) {
        const char **full = calloc (s.row_count, sizeof *full), **ids = calloc (s.row_count, sizeof *ids);
        names = calloc (s.row_count, sizeof *names);
        size_t got = 0;
        if (full && ids && names) {
            for (size_t k = 0; k < s.row_count; k++) {
                full[k] = s.lv->rows[s.rows[k]].name;
                ids[k] = s.lv->rows[s.rows[k]].id;
            }
            got = pingyi_report_fit_names (full, ids, s.row_count, rw[nc], names);
        }
        free (full);
        free (ids);
        if (!got) {
            free (names);
            shown_fini (&s);
            return pingyi_fail (err, "report: out of memory");
        }
        if (got > rw[nc]) { /* an id did not fit: the whole block is wider */
            w += got - rw[nc];
            rw[nc] = got;
        }
        /* the column as wide as its widest name (or header), not wider:
           the rest of the line is padding at its end */
        size_t widest = pingyi_text_width (heads[nc]);
        for (size_t k = 0; k < s.row_count; k++)
            if (pingyi_text_width (names[k]) > widest)
                widest = pingyi_text_width (names[k]);
        if (widest < rw[nc])
            rw[nc] = widest;
    }
    vw[0] = w - venues_fixed;
    {
        size_t widest = pingyi_text_width (vheads[0]);
        for (size_t k = 0; k < s.venue_count; k++) {
            venue_label (e, s.venues[k], line, sizeof line);
            if (pingyi_text_width (line) > widest)
                widest = pingyi_text_width (line);
        }
        if (widest < vw[0])
            vw[0] = widest;
    }
    size_t rows_pad = w - rows_fixed - rw[nc], venues_pad = w - venues_fixed - vw[0];

    /* heading */
    wrap (out, e->title, w);
    if (s.lang == PINGYI_REPORT_LANG_EN)
        snprintf (line, sizeof line, "item: %s  level: %s  categories: %s%s%s", e->items[s.item].name,
                  pingyi_report_label (shown_level_label (&s), s.lang), category_label (&s),
                  s.district >= 0 ? "  district: " : "", s.district >= 0 ? e->districts[s.district].name : "");
    else
        snprintf (line, sizeof line, "项目：%s  层级：%s  类别：%s%s%s", e->items[s.item].name,
                  shown_level_label (&s), category_label (&s), s.district >= 0 ? "  区：" : "",
                  s.district >= 0 ? e->districts[s.district].name : "");
    wrap (out, line, w);
    status_line (view, s.district, s.lang, line, sizeof line);
    wrap (out, line, w);
    why_line (view, s.district, line, sizeof line);
    if (line[0])
        wrap_words (out, line, w);
    snapshot_line (view, s.lang, line, sizeof line);
    wrap (out, line, w);
    snprintf (line, sizeof line, "%s %.16s", pingyi_report_label ("选举指纹", s.lang), e->fingerprint_hex);
    wrap (out, line, w);

    if (with_rows) {
        rule (out, w);
        for (size_t c = 0; c < cols; c++) {
            if (c)
                fputc (' ', out);
            pingyi_text_pad (out, heads[c], rw[c], c != nc);
        }
        fprintf (out, "%*s\n", (int) rows_pad, "");
        bool withheld = false;
        for (size_t k = 0; k < s.row_count; k++) {
            row_cells (&s, s.rows[k], cells);
            withheld |= shown_stats (&s, s.rows[k], s.category)->suppressed;
            for (size_t c = 0; c < cols; c++) {
                if (c)
                    fputc (' ', out);
                pingyi_text_pad (out, c == nc ? names[k] : cells[c], rw[c], c != nc);
            }
            fprintf (out, "%*s\n", (int) rows_pad, "");
        }
        if (withheld) {
            suppressed_note (view, s.lang, line, sizeof line);
            wrap (out, line, w);
        }
    }

    rule (out, w);
    for (size_t c = 0; c < VENUE_COLS; c++) {
        if (c)
            fputc (' ', out);
        pingyi_text_pad (out, vheads[c], vw[c], c != 0 && c != 7);
    }
    fprintf (out, "%*s\n", (int) venues_pad, "");
    for (size_t k = 0; k < s.venue_count; k++) {
        venue_cells (&s, s.venues[k], vcells);
        venue_label (e, s.venues[k], line, sizeof line);
        for (size_t c = 0; c < VENUE_COLS; c++) {
            if (c)
                fputc (' ', out);
            pingyi_text_pad (out, c == 0 ? line : vcells[c], vw[c], c != 0 && c != 7);
        }
        fprintf (out, "%*s\n", (int) venues_pad, "");
    }
    if (names)
        for (size_t k = 0; k < s.row_count; k++)
            free (names[k]);
    free (names);
    shown_fini (&s);
    if (fflush (out) || ferror (out))
        return pingyi_fail (err, "writing the table: %s", strerror (errno ? errno : EIO));
    return 0;
}

int
pingyi_report_table (const pingyi_view_t *view, const pingyi_report_filter_t *filter, size_t width, FILE *out,
                     char *err)
{
    return table (view, filter, width, true, out, err);
}

int
pingyi_report_venues_table (const pingyi_view_t *view, const pingyi_report_filter_t *filter, size_t width,
                            FILE *out, char *err)
{
    return table (view, filter, width, false, out, err);
}

/*  ---------------------------------------------------------------------
    CSV  */

/*  Text a spreadsheet would take for a formula ("=HYPERLINK(…)", "+1",
    "@SUM", "-2+3"; a tab or CR first): a name in a definition is data,
    never something Excel runs when a clerk opens the file.  Such a field
    is written with a leading apostrophe, the mark Excel and LibreOffice
    read as "text" (OWASP, "CSV injection").  A lone "-" (no figure) is
    not one.  */
static bool
csv_formula_like (const char *s)
{
    return (s[0] == '=' || s[0] == '+' || s[0] == '@' || s[0] == '\t' || s[0] == '\r' || s[0] == '-') &&
           strcmp (s, "-") != 0;
}

/*  RFC 4180: a field with a comma, quote, CR or LF is quoted, quotes
    doubled.  Leading or trailing spaces are quoted too, so Excel keeps
    them.  Formula-like text is defused first (csv_formula_like).  */
static void
csv_field (FILE *out, const char *s, bool first)
{
    if (!first)
        fputc (',', out);
    if (!s)
        return;
    const char *mark = csv_formula_like (s) ? "'" : "";
    size_t len = strlen (s);
    bool quote = strpbrk (s, ",\"\r\n") != NULL || (len && (s[0] == ' ' || s[len - 1] == ' '));
    if (!quote) {
        fputs (mark, out);
        fputs (s, out);
    }
    else {
        fputc ('"', out);
        fputs (mark, out);
        for (const char *p = s; *p; p++) {
            if (*p == '"')
                fputc ('"', out);
            fputc (*p, out);
        }
        fputc ('"', out);
    }
}

static void
csv_number (FILE *out, double x)
{
    fputc (',', out);
    if (!isnan (x))
        fprintf (out, "%.4f", x);
}

static void
csv_count (FILE *out, uint64_t n)
{
    fprintf (out, ",%" PRIu64, n);
}

static void
csv_figure (FILE *out, int64_t n)
{
    fputc (',', out);
    if (n >= 0)
        fprintf (out, "%" PRId64, n);
}

static const char BOM[] = "\xEF\xBB\xBF";

/*  The BOM and two lines above the header row: when the figures were
    taken, and FINAL or what keeps them PROVISIONAL (of the shown
    district).  */
static void
csv_top (const pingyi_view_t *view, int district, FILE *out)
{
    char text[2048];
    fputs (BOM, out);
    pingyi_view_snapshot_text (view, text, sizeof text);
    csv_field (out, "快照时间", true);
    csv_field (out, text, false);
    fputs ("\r\n", out);
    pingyi_view_status_text (view, district, PINGYI_STATUS_NAMED, text, sizeof text);
    csv_field (out, "状态", true);
    csv_field (out, text, false);
    fputs ("\r\n", out);
}

int
pingyi_report_csv (const pingyi_view_t *view, const pingyi_report_filter_t *filter, FILE *out, char *err)
{
    shown_t s;
    if (shown_init (&s, view, filter, filter ? filter->level : PINGYI_LEVEL_SUBJECT, err))
        return -1;
    char *text = malloc (WINNERS_TEXT);
    if (!text) {
        shown_fini (&s);
        return pingyi_fail (err, "report: out of memory");
    }
    col_t cols[COLS_MAX];
    size_t n = columns (&s, false, cols);
    csv_top (view, s.district, out);
    for (size_t c = 0; c < n; c++) {
        if (cols[c].kind == COL_NAME) {
            csv_field (out, "编号", c == 0);
            csv_field (out, "名称", false);
            csv_field (out, "上级", false);
            continue;
        }
        col_head (&s, cols[c], false, text, WINNERS_TEXT);
        csv_field (out, text, c == 0);
    }
    fputs ("\r\n", out);
    for (size_t k = 0; k < s.row_count; k++) {
        size_t r = s.rows[k];
        const pingyi_row_t *row = &s.lv->rows[r];
        for (size_t c = 0; c < n; c++) {
            if (cols[c].kind == COL_NAME) {
                csv_field (out, row->id, c == 0);
                csv_field (out, row->name, false);
                csv_field (out, row->parent, false);
                continue;
            }
            col_value_t v = col_value (&s, r, cols[c], PINGYI_REPORT_LANG_ZH, SIZE_MAX, text, WINNERS_TEXT);
            switch (v.kind) {
            case VAL_NONE:
                fputc (',', out);
                break;
            case VAL_COUNT:
                csv_count (out, v.n);
                break;
            case VAL_RATE:
            case VAL_SCORE:
                csv_number (out, v.x);
                break;
            case VAL_TEXT:
                csv_field (out, v.text, false);
                break;
            }
        }
        fputs ("\r\n", out);
    }
    free (text);
    shown_fini (&s);
    if (fflush (out) || ferror (out))
        return pingyi_fail (err, "writing the CSV: %s", strerror (errno ? errno : EIO));
    return 0;
}

/*  "malformed=3; decrypt=1", or "" when nothing was refused.  */
static void
reasons_text (const pingyi_venue_figures_t *f, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (int r = 1; r < PINGYI_REJECT_COUNT_; r++) {
        if (!f->rejected_by[r])
            continue;
        int n = snprintf (out + o, cap - o, "%s%s=%" PRIu64, o ? "; " : "",
                          pingyi_reject_name ((pingyi_reject_t) r), f->rejected_by[r]);
        if (n < 0 || (size_t) n >= cap - o)
            break;
        o += (size_t) n;
    }
}

int
pingyi_report_venues_csv (const pingyi_view_t *view, const pingyi_report_filter_t *filter, FILE *out,
                          char *err)
{
    shown_t s;
    if (shown_init (&s, view, filter, PINGYI_LEVEL_CITY, err))
        return -1;
    const pingyi_election_t *e = view->election;
    csv_top (view, s.district, out);
    const char *heads[] = {"会场编号", "会场名称", "区",     "状态", "发出", "收回",
                           "已发送",   "有效票",   "空白票", "重复", "拒收", "拒收原因"};
    for (size_t h = 0; h < sizeof heads / sizeof heads[0]; h++)
        csv_field (out, heads[h], h == 0);
    fputs ("\r\n", out);
    for (size_t k = 0; k < s.venue_count; k++) {
        size_t v = s.venues[k];
        const pingyi_venue_view_t *vv = &view->venues[v];
        const pingyi_venue_figures_t *f = &vv->figures;
        char reasons[512];
        csv_field (out, e->venues[v].id, true);
        csv_field (out, e->venues[v].name, false);
        csv_field (out, e->districts[e->venues[v].district].name, false);
        csv_field (out, pingyi_report_status_label (vv->status), false);
        csv_figure (out, f->issued);
        csv_figure (out, f->collected);
        csv_figure (out, f->sent);
        csv_count (out, f->accepted);
        csv_count (out, f->blank);
        csv_count (out, f->duplicates);
        csv_count (out, f->rejected);
        reasons_text (f, reasons, sizeof reasons);
        csv_field (out, reasons, false);
        fputs ("\r\n", out);
    }
    shown_fini (&s);
    if (fflush (out) || ferror (out))
        return pingyi_fail (err, "writing the CSV: %s", strerror (errno ? errno : EIO));
    return 0;
}

/*  ---------------------------------------------------------------------
    JSON  */

/*  Builders that remember a failure (out of memory) instead of checking
    every call: jansson's set_new takes NULL values and returns -1.  */
typedef struct {
    bool ok;
} build_t;

static void
put (build_t *b, json_t *obj, const char *key, json_t *value)
{
    if (!obj || json_object_set_new (obj, key, value))
        b->ok = false;
}

static void
push (build_t *b, json_t *arr, json_t *value)
{
    if (!arr || json_array_append_new (arr, value))
        b->ok = false;
}

static json_t *
j_count (uint64_t n)
{
    return json_integer ((json_int_t) n);
}

static json_t *
j_real (double x)
{
    return isnan (x) ? json_null () : json_real (x);
}

static json_t *
j_figure (int64_t n)
{
    return n < 0 ? json_null () : json_integer ((json_int_t) n);
}

static json_t *
j_str (const char *s)
{
    return s ? json_string (s) : json_null ();
}

/*  The figures of one cell, by its item's kind (docs/API.md): choices,
    blank, over, valid; graded: rates, score, majority judgment; yes_no:
    approval_rate; a contest: votes, shares, winners, tie.  A suppressed
    cell has the same keys, null.  */
static void
put_stats (build_t *b, json_t *obj, const shown_t *s, const pingyi_cell_stats_t *st)
{
    static const char *const common[] = {"choices", "blank", "over", "valid", NULL};
    static const char *const graded[] = {"good_rate",      "bad_rate", "score",
                                         "majority_grade", "mj_rank",  "score_rank", NULL};
    static const char *const yes_no[] = {"approval_rate", NULL};
    static const char *const contest[] = {"votes", "shares", "winners", "tie", NULL};
    pingyi_item_kind_t kind = s->e->items[s->item].kind;
    put (b, obj, "suppressed", json_boolean (st->suppressed));
    if (st->suppressed) {
        const char *const *own = kind == PINGYI_KIND_GRADED   ? graded
                                 : kind == PINGYI_KIND_YES_NO ? yes_no
                                                              : contest;
        for (size_t i = 0; common[i]; i++)
            put (b, obj, common[i], json_null ());
        for (size_t i = 0; own[i]; i++)
            put (b, obj, own[i], json_null ());
        return;
    }
    json_t *choices = json_object ();
    for (size_t m = 0; m < s->set->choice_count; m++)
        put (b, choices, s->set->choices[m].label, j_count (st->choices[m]));
    put (b, obj, "choices", choices);
    put (b, obj, "blank", j_count (st->blank));
    put (b, obj, "over", j_count (st->over));
    put (b, obj, "valid", j_count (st->valid));
    if (kind == PINGYI_KIND_YES_NO) {
        put (b, obj, "approval_rate", j_real (st->good_rate));
        return;
    }
    if (PINGYI_KIND_IS_CONTEST (kind)) {
        put (b, obj, "votes", j_count (st->valid));
        json_t *shares = json_object (), *winners = json_array ();
        for (size_t m = 0; m < s->set->choice_count; m++) {
            put (b, shares, s->set->choices[m].label, j_real (share_of (st, m)));
            if (st->winners >> m & 1u)
                push (b, winners, json_string (s->set->choices[m].label));
        }
        put (b, obj, "shares", shares);
        put (b, obj, "winners", winners);
        put (b, obj, "tie", json_boolean (st->tie));
        return;
    }
    put (b, obj, "good_rate", j_real (st->good_rate));
    put (b, obj, "bad_rate", j_real (st->bad_rate));
    put (b, obj, "score", j_real (st->score));
    /* majority judgment (docs/rollup.md): the grade's label, null with no valid vote */
    put (b, obj, "majority_grade",
         st->majority_grade >= 0 && (size_t) st->majority_grade < s->set->choice_count
             ? json_string (s->set->choices[st->majority_grade].label)
             : json_null ());
    put (b, obj, "mj_rank", st->mj_rank > 0 ? json_integer (st->mj_rank) : json_null ());
    put (b, obj, "score_rank", st->score_rank > 0 ? json_integer (st->score_rank) : json_null ());
}

static json_t *
rejected_by (build_t *b, const uint64_t *by)
{
    json_t *obj = json_object ();
    for (int r = 1; r < PINGYI_REJECT_COUNT_; r++)
        if (by[r])
            put (b, obj, pingyi_reject_name ((pingyi_reject_t) r), j_count (by[r]));
    return obj;
}

static json_t *
election_json (build_t *b, const pingyi_election_t *e)
{
    json_t *obj = json_object ();
    put (b, obj, "id", json_string (e->id));
    put (b, obj, "title", json_string (e->title));
    put (b, obj, "fingerprint", json_string (e->fingerprint_hex));
    json_t *items = json_array ();
    for (size_t i = 0; i < e->item_count; i++) {
        json_t *it = json_object ();
        put (b, it, "id", json_string (e->items[i].id));
        put (b, it, "name", json_string (e->items[i].name));
        put (b, it, "overall", json_boolean (e->items[i].overall));
        put (b, it, "kind", json_string (pingyi_item_kind_name (e->items[i].kind)));
        if (e->items[i].kind == PINGYI_KIND_GRADED)
            put (b, it, "ranking",
                 json_string (e->items[i].ranking == PINGYI_RANKING_MAJORITY ? "majority_judgment" : "score"));
        if (e->items[i].seats)
            put (b, it, "seats", json_integer (e->items[i].seats));
        push (b, items, it);
    }
    put (b, obj, "items", items);
    json_t *cats = json_array ();
    for (size_t c = 0; c < e->category_count; c++) {
        json_t *it = json_object ();
        put (b, it, "id", json_string (e->categories[c].id));
        put (b, it, "name", json_string (e->categories[c].name));
        put (b, it, "weight", json_real (e->categories[c].weight));
        push (b, cats, it);
    }
    put (b, obj, "categories", cats);
    json_t *districts = json_array ();
    for (size_t d = 0; d < e->district_count; d++) {
        json_t *it = json_object ();
        put (b, it, "id", json_string (e->districts[d].id));
        put (b, it, "name", json_string (e->districts[d].name));
        push (b, districts, it);
    }
    put (b, obj, "districts", districts);
    return obj;
}

json_t *
pingyi_report_json (const pingyi_view_t *view, const pingyi_report_filter_t *filter)
{
    shown_t s;
    if (shown_init (&s, view, filter, filter ? filter->level : PINGYI_LEVEL_SUBJECT, NULL))
        return NULL;
    const pingyi_election_t *e = view->election;
    build_t b = {.ok = true};
    json_t *doc = json_object ();
    put (&b, doc, "api", json_integer (PINGYI_REPORT_API));
    put (&b, doc, "election", election_json (&b, e));
    put (&b, doc, "final", json_boolean (pingyi_view_final (view, s.district, NULL)));
    json_t *held = json_array ();
    for (size_t k = 0; k < s.venue_count; k++) {
        char why[512];
        size_t v = s.venues[k];
        if (!pingyi_venue_why (view, v, why, sizeof why))
            continue;
        json_t *one = json_object ();
        put (&b, one, "venue", json_string (e->venues[v].id));
        size_t skip = strlen (e->venues[v].id) + 1, have = strlen (why); /* "v02 " */
        put (&b, one, "why", json_string (why + (skip < have ? skip : have)));
        push (&b, held, one);
    }
    put (&b, doc, "provisional", held);
    put (&b, doc, "k_anonymity", json_integer (view->k));

    json_t *status = json_object ();
    put (&b, status, "venues", j_count (e->venue_count));
    put (&b, status, "open", j_count (view->venues_open));
    put (&b, status, "closed", j_count (view->venues_closed));
    put (&b, status, "reconciled", j_count (view->venues_reconciled));
    put (&b, status, "void", j_count (view->venues_void));
    put (&b, status, "accepted", j_count (view->accepted));
    put (&b, status, "blank", j_count (view->blank_ballots));
    put (&b, status, "duplicates", j_count (view->duplicates));
    put (&b, status, "rejected", j_count (view->rejected));
    put (&b, status, "rejected_by", rejected_by (&b, view->rejected_by));
    put (&b, doc, "status", status);

    if (s.side) {
        put (&b, doc, "side", json_string ("rater"));
        put (&b, doc, "by", json_string (pingyi_rater_by_name (s.side->by)));
        json_t *of = json_object ();
        put (&b, of, "level", json_string (pingyi_level_name (s.side->of_level)));
        put (&b, of, "id", json_string (view->levels[s.side->of_level].rows[s.side->of_row].id));
        put (&b, doc, "of", of);
        put (&b, doc, "level", json_string (pingyi_rater_by_name (s.side->by)));
    }
    else
        put (&b, doc, "level", json_string (pingyi_level_name (s.level)));
    put (&b, doc, "district", s.district >= 0 ? json_string (e->districts[s.district].id) : json_null ());
    put (&b, doc, "item", json_string (e->items[s.item].id));
    put (&b, doc, "kind", json_string (pingyi_item_kind_name (e->items[s.item].kind)));
    bool all = s.category == e->category_count;
    put (&b, doc, "category", all ? json_null () : json_string (e->categories[s.category].id));
    json_t *labels = json_array ();
    for (size_t m = 0; m < s.set->choice_count; m++)
        push (&b, labels, json_string (s.set->choices[m].label));
    put (&b, doc, "labels", labels);

    json_t *rows = json_array ();
    for (size_t k = 0; k < s.row_count && b.ok; k++) {
        size_t r = s.rows[k];
        const pingyi_row_t *row = &s.lv->rows[r];
        json_t *obj = json_object ();
        put (&b, obj, "id", json_string (row->id));
        put (&b, obj, "name", json_string (row->name));
        put (&b, obj, "parent", j_str (row->parent));
        if (e->items[s.item].kind == PINGYI_KIND_GRADED) /* the others are not ranked */
            put (&b, obj, "rank", s.ranks[r] > 0 ? json_integer (s.ranks[r]) : json_null ());
        put_stats (&b, obj, &s, shown_stats (&s, r, s.category));
        if (all) {
            json_t *by = json_object ();
            for (size_t c = 0; c < e->category_count; c++) {
                json_t *one = json_object ();
                put_stats (&b, one, &s, shown_stats (&s, r, c));
                put (&b, by, e->categories[c].id, one);
            }
            put (&b, obj, "by_category", by);
        }
        push (&b, rows, obj);
    }
    put (&b, doc, "rows", rows);

    json_t *venues = json_array ();
    for (size_t k = 0; k < s.venue_count && b.ok; k++) {
        size_t v = s.venues[k];
        const pingyi_venue_view_t *vv = &view->venues[v];
        const pingyi_venue_figures_t *f = &vv->figures;
        json_t *obj = json_object ();
        put (&b, obj, "id", json_string (e->venues[v].id));
        put (&b, obj, "name", json_string (e->venues[v].name));
        put (&b, obj, "district", json_string (e->districts[e->venues[v].district].id));
        put (&b, obj, "status", json_string (pingyi_venue_status_name (vv->status)));
        put (&b, obj, "issued", j_figure (f->issued));
        put (&b, obj, "collected", j_figure (f->collected));
        put (&b, obj, "sent", j_figure (f->sent));
        put (&b, obj, "accepted", j_count (f->accepted));
        put (&b, obj, "blank", j_count (f->blank));
        put (&b, obj, "duplicates", j_count (f->duplicates));
        put (&b, obj, "rejected", j_count (f->rejected));
        put (&b, obj, "rejected_by", rejected_by (&b, f->rejected_by));
        put (&b, obj, "closed", json_boolean (f->closed));
        put (&b, obj, "reopens", json_integer ((json_int_t) f->reopens));
        push (&b, venues, obj);
    }
    put (&b, doc, "venues", venues);
    shown_fini (&s);
    if (!b.ok) {
        json_decref (doc);
        return NULL;
    }
    return doc;
}

int
pingyi_report_json_write (const pingyi_view_t *view, const pingyi_report_filter_t *filter, FILE *out,
                          char *err)
{
    json_t *doc = pingyi_report_json (view, filter);
    if (!doc)
        return pingyi_fail (err, "report: out of memory (or a filter out of range) building the JSON");
    int rc = json_dumpf (doc, out, PINGYI_REPORT_JSON_FLAGS);
    json_decref (doc);
    fputc ('\n', out);
    if (rc || fflush (out) || ferror (out))
        return pingyi_fail (err, "writing the JSON: %s", strerror (errno ? errno : EIO));
    return 0;
}

/*  ---------------------------------------------------------------------
    XLSX  */

typedef struct {
    lxw_workbook *wb;
    lxw_format *title, *info, *status, *head, *text, *count, *pct, *score;
    char status_text[2048];
    char snapshot_text[64];
    char footer[256];
    lxw_error error; /* the first error of any write */
} book_t;

static void
check (book_t *b, lxw_error rc)
{
    if (rc != LXW_NO_ERROR && b->error == LXW_NO_ERROR)
        b->error = rc;
}

static lxw_format *
new_format (lxw_workbook *wb, bool border)
{
    lxw_format *f = workbook_add_format (wb);
    if (f && border)
        format_set_border (f, LXW_BORDER_THIN);
    return f;
}

static int
book_formats (book_t *b)
{
    b->title = new_format (b->wb, false);
    b->info = new_format (b->wb, false);
    b->status = new_format (b->wb, false);
    b->head = new_format (b->wb, true);
    b->text = new_format (b->wb, true);
    b->count = new_format (b->wb, true);
    b->pct = new_format (b->wb, true);
    b->score = new_format (b->wb, true);
    if (!b->title || !b->info || !b->status || !b->head || !b->text || !b->count || !b->pct || !b->score)
        return -1;
    format_set_bold (b->title);
    format_set_font_size (b->title, 14);
    format_set_bold (b->status);
    format_set_bold (b->head);
    format_set_align (b->head, LXW_ALIGN_CENTER);
    format_set_align (b->head, LXW_ALIGN_VERTICAL_CENTER);
    format_set_text_wrap (b->head);
    format_set_bg_color (b->head, 0xDDEBF7);
    format_set_num_format (b->count, "0");
    format_set_num_format (b->pct, "0.0%");
    format_set_num_format (b->score, "0.00");
    return 0;
}

/*  Rows 0..3 of every sheet: title, what is shown, status, fingerprint;
    page set-up.  The header row is HEAD_ROW.  */
#define HEAD_ROW 4

static void
sheet_top (book_t *b, lxw_worksheet *ws, const pingyi_election_t *e, const char *what, lxw_col_t last)
{
    char line[1200];
    check (b, worksheet_merge_range (ws, 0, 0, 0, last, e->title, b->title));
    check (b, worksheet_merge_range (ws, 1, 0, 1, last, what, b->info));
    check (b, worksheet_merge_range (ws, 2, 0, 2, last, b->status_text, b->status));
    snprintf (line, sizeof line, "选举指纹（SHA-256）：%s    %s", e->fingerprint_hex, b->snapshot_text);
    check (b, worksheet_merge_range (ws, 3, 0, 3, last, line, b->info));
    check (b, worksheet_set_row (ws, HEAD_ROW, 30, NULL));
    worksheet_freeze_panes (ws, HEAD_ROW + 1, 2);
    worksheet_set_landscape (ws);
    worksheet_set_paper (ws, 9); /* A4 */
    worksheet_fit_to_pages (ws, 1, 0);
    check (b, worksheet_repeat_rows (ws, HEAD_ROW, HEAD_ROW));
    check (b, worksheet_set_footer (ws, b->footer));
}

/*  A column wide enough for the widest text (display columns), within
    [min, max].  */
static double
text_column (const char *const *texts, size_t n, double min, double max)
{
    double w = min;
    for (size_t i = 0; i < n; i++) {
        double t = (double) pingyi_text_width (texts[i]) + 2;
        if (t > w)
            w = t;
    }
    return w > max ? max : w;
}

static int
level_sheet (book_t *b, const pingyi_view_t *view, const pingyi_report_filter_t *filter, pingyi_level_t level,
             const char *sheet, char *err)
{
    shown_t s;
    if (shown_init (&s, view, filter, level, err))
        return -1;
    const pingyi_election_t *e = view->election;
    lxw_worksheet *ws = workbook_add_worksheet (b->wb, sheet);
    if (!ws) {
        shown_fini (&s);
        return pingyi_fail (err, "xlsx: cannot add the sheet %s", sheet);
    }
    col_t cols[COLS_MAX];
    size_t ncols = columns (&s, false, cols);
    char *text = malloc (WINNERS_TEXT);
    const char **names = calloc (s.row_count + 1, sizeof *names);
    if (!text || !names) {
        free (text);
        free (names);
        shown_fini (&s);
        return pingyi_fail (err, "xlsx: out of memory");
    }
    /* headers: the column model's, the name column as three */
    size_t n = 0, first_choice = 0;
    for (size_t c = 0; c < ncols; c++)
        n += cols[c].kind == COL_NAME ? 3 : 1;

    char what[1200];
    snprintf (what, sizeof what, "项目：%s    层级：%s    类别：%s%s%s", e->items[s.item].name,
              shown_level_label (&s), category_label (&s), s.district >= 0 ? "    区：" : "",
              s.district >= 0 ? e->districts[s.district].name : "");
    sheet_top (b, ws, e, what, (lxw_col_t) (n - 1));
    {
        lxw_col_t x = 0;
        for (size_t c = 0; c < ncols; c++) {
            if (cols[c].kind == COL_NAME) {
                static const char *const three[] = {"编号", "名称", "上级"};
                for (int j = 0; j < 3; j++)
                    check (b, worksheet_write_string (ws, HEAD_ROW, x++, three[j], b->head));
                continue;
            }
            if (cols[c].kind == COL_CHOICE && !first_choice)
                first_choice = x;
            col_head (&s, cols[c], false, text, WINNERS_TEXT);
            check (b, worksheet_write_string (ws, HEAD_ROW, x++, text, b->head));
        }
    }

    names[0] = "名称";
    bool withheld = false;
    for (size_t k = 0; k < s.row_count; k++) {
        size_t r = s.rows[k];
        const pingyi_row_t *row = &s.lv->rows[r];
        lxw_row_t x = (lxw_row_t) (HEAD_ROW + 1 + k);
        lxw_col_t c = 0;
        names[k + 1] = row->name;
        for (size_t j = 0; j < ncols; j++) {
            if (cols[j].kind == COL_NAME) {
                check (b, worksheet_write_string (ws, x, c++, row->id, b->text));
                check (b, worksheet_write_string (ws, x, c++, row->name, b->text));
                check (b, worksheet_write_string (ws, x, c++, row->parent ? row->parent : "", b->text));
                continue;
            }
            col_value_t v = col_value (&s, r, cols[j], PINGYI_REPORT_LANG_ZH, SIZE_MAX, text, WINNERS_TEXT);
            switch (v.kind) {
            case VAL_NONE: /* an empty cell keeps its column's format */
                check (b, worksheet_write_blank (ws, x, c++,
                                                 cols[j].kind == COL_RANK                                ? b->count
                                                 : cols[j].kind == COL_SCORE ||
                                                         (cols[j].kind == COL_CAT &&
                                                          e->items[s.item].kind == PINGYI_KIND_GRADED) ? b->score
                                                                                                          : b->pct));
                break;
            case VAL_COUNT:
                check (b, worksheet_write_number (ws, x, c++, (double) v.n, b->count));
                break;
            case VAL_RATE:
                check (b, worksheet_write_number (ws, x, c++, v.x, b->pct));
                break;
            case VAL_SCORE:
                check (b, worksheet_write_number (ws, x, c++, v.x, b->score));
                break;
            case VAL_TEXT:
                withheld |= v.suppressed;
                check (b, worksheet_write_string (ws, x, c++, v.text, b->text));
                break;
            }
        }
    }
    free (text);
    if (withheld) {
        char note[256];
        suppressed_note (view, PINGYI_REPORT_LANG_ZH, note, sizeof note);
        check (b, worksheet_write_string (ws, (lxw_row_t) (HEAD_ROW + 2 + s.row_count), 0, note, NULL));
    }
    check (b, worksheet_set_column (ws, 0, 0, 10, NULL));
    check (b, worksheet_set_column (ws, 1, 1, text_column (names, s.row_count + 1, 12, 40), NULL));
    check (b, worksheet_set_column (ws, 2, 2, 10, NULL));
    if (first_choice > 3) /* the rank */
        check (b, worksheet_set_column (ws, 3, (lxw_col_t) (first_choice - 1), 6, NULL));
    check (b, worksheet_set_column (ws, (lxw_col_t) first_choice, (lxw_col_t) (n - 1), 9, NULL));
    free (names);
    shown_fini (&s);
    return 0;
}

static int
venues_sheet (book_t *b, const pingyi_view_t *view, const pingyi_report_filter_t *filter, char *err)
{
    shown_t s;
    if (shown_init (&s, view, filter, PINGYI_LEVEL_CITY, err))
        return -1;
    const pingyi_election_t *e = view->election;
    lxw_worksheet *ws = workbook_add_worksheet (b->wb, "会场核对");
    if (!ws) {
        shown_fini (&s);
        return pingyi_fail (err, "xlsx: cannot add the reconciliation sheet");
    }
    const char *heads[] = {"会场编号", "会场名称", "区",     "状态", "发出", "收回",
                           "已发送",   "有效票",   "空白票", "重复", "拒收", "拒收原因"};
    size_t n = sizeof heads / sizeof heads[0];
    char what[1024];
    snprintf (what, sizeof what, "会场核对：发出、收回与计票%s%s", s.district >= 0 ? "    区：" : "",
              s.district >= 0 ? e->districts[s.district].name : "");
    sheet_top (b, ws, e, what, (lxw_col_t) (n - 1));
    for (size_t c = 0; c < n; c++)
        check (b, worksheet_write_string (ws, HEAD_ROW, (lxw_col_t) c, heads[c], b->head));
    for (size_t k = 0; k < s.venue_count; k++) {
        size_t v = s.venues[k];
        const pingyi_venue_view_t *vv = &view->venues[v];
        const pingyi_venue_figures_t *f = &vv->figures;
        lxw_row_t x = (lxw_row_t) (HEAD_ROW + 1 + k);
        lxw_col_t c = 0;
        check (b, worksheet_write_string (ws, x, c++, e->venues[v].id, b->text));
        check (b, worksheet_write_string (ws, x, c++, e->venues[v].name, b->text));
        check (b, worksheet_write_string (ws, x, c++, e->districts[e->venues[v].district].name, b->text));
        check (b, worksheet_write_string (ws, x, c++, pingyi_report_status_label (vv->status), b->text));
        int64_t figs[3] = {f->issued, f->collected, f->sent};
        for (int j = 0; j < 3; j++)
            if (figs[j] >= 0)
                check (b, worksheet_write_number (ws, x, c++, (double) figs[j], b->count));
            else
                check (b, worksheet_write_blank (ws, x, c++, b->count));
        uint64_t counts[4] = {f->accepted, f->blank, f->duplicates, f->rejected};
        for (int j = 0; j < 4; j++)
            check (b, worksheet_write_number (ws, x, c++, (double) counts[j], b->count));
        char reasons[512];
        reasons_text (f, reasons, sizeof reasons);
        check (b, worksheet_write_string (ws, x, c++, reasons, b->text));
    }
    check (b, worksheet_set_column (ws, 0, 0, 10, NULL));
    check (b, worksheet_set_column (ws, 1, 1, 28, NULL));
    check (b, worksheet_set_column (ws, 2, 3, 10, NULL));
    check (b, worksheet_set_column (ws, 4, 10, 8, NULL));
    check (b, worksheet_set_column (ws, 11, 11, 30, NULL));
    shown_fini (&s);
    return 0;
}

int
pingyi_report_xlsx (const pingyi_view_t *view, const pingyi_report_filter_t *filter, const char *path,
                    char *err)
{
    book_t b = {0};
    b.wb = workbook_new (path);
    if (!b.wb)
        return pingyi_fail (err, "%s: cannot start a workbook (out of memory?)", path);
    int district = filter && filter->district >= 0 ? filter->district : -1;
    char why[1536];
    status_line (view, district, PINGYI_REPORT_LANG_ZH, b.status_text, sizeof b.status_text);
    why_line (view, district, why, sizeof why);
    if (why[0]) {
        size_t n = strlen (b.status_text);
        snprintf (b.status_text + n, sizeof b.status_text - n, "  %s", why);
    }
    snapshot_line (view, PINGYI_REPORT_LANG_ZH, b.snapshot_text, sizeof b.snapshot_text);
    /* the footer repeats status, snapshot time and fingerprint on every
       printed page; "&" starts a footer code: none of them has one */
    snprintf (b.footer, sizeof b.footer, "&L%s %s&C第 &P 页，共 &N 页&R指纹 %.16s",
              pingyi_view_final (view, district, NULL) ? "最终结果 FINAL" : "临时结果 PROVISIONAL",
              b.snapshot_text, view->election->fingerprint_hex);
    int rc = book_formats (&b) ? pingyi_fail (err, "xlsx: out of memory") : 0;
    static const struct {
        pingyi_level_t level;
        const char *sheet; /* no '/' in a sheet name */
    } sheets[] = {{PINGYI_LEVEL_SUBJECT, "测评对象"}, {PINGYI_LEVEL_UNIT, "单位"},
                  {PINGYI_LEVEL_TOWN, "镇街道"},      {PINGYI_LEVEL_DEPARTMENT, "部门"},
                  {PINGYI_LEVEL_DISTRICT, "区"},      {PINGYI_LEVEL_CITY, "全市"}};
    if (filter && filter->side) /* the rater side: one sheet of its rows */
        rc = rc ? rc
                : level_sheet (&b, view, filter, filter->level,
                               filter->side->by == PINGYI_RATER_VENUE      ? "会场"
                               : filter->side->by == PINGYI_RATER_DISTRICT ? "会场所在区"
                                                                           : "测评人类别",
                               err);
    for (size_t i = 0; rc == 0 && !(filter && filter->side) && i < sizeof sheets / sizeof sheets[0]; i++)
        rc = level_sheet (&b, view, filter, sheets[i].level, sheets[i].sheet, err);
    if (rc == 0)
        rc = venues_sheet (&b, view, filter, err);
    if (rc == 0 && b.error != LXW_NO_ERROR)
        rc = pingyi_fail (err, "xlsx: %s", lxw_strerror (b.error));
    lxw_error closed = workbook_close (b.wb); /* frees the workbook, also on error */
    if (rc == 0 && closed != LXW_NO_ERROR)
        rc = pingyi_fail (err, "%s: cannot write the workbook: %s", path, lxw_strerror (closed));
    return rc;
}
