/*  template.c — `pingyi template`: an empty ballot file for one venue, as a
    CSV holding only the header pingyi-client reads, or as a workbook a
    clerk fills and prints (docs/ballot-input.md, "Templates").

    The CSV header is `category` then `SUBJECT_ID:ITEM_ID` for every cell of
    the venue's form in form order — exactly the cells the client expects.
    The client takes ids only, so names never enter the header.

    The workbook's first sheet is the ballot sheet: row 1 is the same
    machine header, every row after it is a ballot.  Nothing else is ever
    written into that sheet's cells, so "Save as CSV" of it gives a file the
    client reads: the Chinese names are cell notes on the header row, the
    input message of each column's validation, and the legend on a second
    sheet "说明" (a "Save as CSV" writes the active sheet only).  The 500
    ballot rows are pre-formatted through column formats, validations and
    the print area, never through cell records: Excel exports every row of
    the used range, and a formatted empty row would come out as ",,,," —
    a bad line (missing category) for the client.  */
#define _GNU_SOURCE /* asprintf */
#include "cli.h"
#include "quote.h"
#include "table.h"
#include "tally_json.h"
#include "tools.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <xlsxwriter.h>

#define SYNOPSIS                                                                                             \
    "pingyi template (--deploy DIR | --definition DEFINITION.json) --venue ID\n"                             \
    "                       [--format csv|xlsx] [--encoding utf-8|gb18030] [--out FILE]\n"                   \
    "  an empty ballot file for one venue (docs/ballot-input.md, \"Templates\")"

#define BALLOT_ROWS 500
#define LIST_MAX 255 /* Excel's limit on a literal validation list */

/*  ---------------------------------------------------------------------
    Text helpers  */

typedef struct {
    char *s;
    size_t len, cap;
    bool failed;
} buf_t;

static void
buf_add (buf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc (b->s, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy (b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void
buf_str (buf_t *b, const char *s)
{
    buf_add (b, s, strlen (s));
}

/*  One CSV field: quoted (RFC 4180) when it holds a comma, a quote, or
    spaces at either end (the client trims unquoted spaces).  */
static void
buf_csv_field (buf_t *b, const char *s)
{
    size_t n = strlen (s);
    bool quote =
        strpbrk (s, ",\"") || (n && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t'));
    if (!quote) {
        buf_add (b, s, n);
        return;
    }
    buf_add (b, "\"", 1);
    for (const char *p = s; *p; p++) {
        buf_add (b, p, 1);
        if (*p == '"')
            buf_add (b, "\"", 1); /* a quote inside is written twice */
    }
    buf_add (b, "\"", 1);
}

/*  Copy s into out (cap bytes), cut at a character boundary to at most
    max_chars code points.  */
static void
utf8_cut (char *out, size_t cap, const char *s, size_t max_chars)
{
    size_t i = 0, chars = 0;
    while (s[i] && chars < max_chars) {
        size_t n = 1;
        while ((s[i + n] & 0xC0) == 0x80)
            n++;
        if (i + n + 1 > cap)
            break;
        i += n;
        chars++;
    }
    memcpy (out, s, i);
    out[i] = '\0';
}

/*  A page header/footer text: "&" starts a code there, so it is doubled.  */
static void
escape_amp (char *out, size_t cap, const char *s)
{
    size_t o = 0;
    for (; *s && o + 3 < cap; s++) {
        out[o++] = *s;
        if (*s == '&')
            out[o++] = '&';
    }
    out[o] = '\0';
}

/*  ---------------------------------------------------------------------
    The cells of a venue's form  */

typedef struct {
    const pingyi_election_t *e;
    const pingyi_venue_t *v;
    size_t cell_count;
    char **names; /* "s01:overall" */
} form_t;

static void
form_fini (form_t *f)
{
    for (size_t c = 0; f->names && c < f->cell_count; c++)
        free (f->names[c]);
    free (f->names);
    f->names = NULL;
}

static int
form_init (form_t *f, const pingyi_election_t *e, size_t venue)
{
    f->e = e;
    f->v = &e->venues[venue];
    f->cell_count = f->v->subject_count * e->item_count;
    f->names = calloc (f->cell_count ? f->cell_count : 1, sizeof *f->names);
    if (!f->names)
        return -1;
    for (size_t pos = 0; pos < f->v->subject_count; pos++)
        for (size_t i = 0; i < e->item_count; i++)
            if (asprintf (&f->names[pos * e->item_count + i], "%s:%s", e->subjects[f->v->subjects[pos]].id,
                          e->items[i].id) < 0) {
                f->names[pos * e->item_count + i] = NULL;
                form_fini (f);
                return -1;
            }
    return 0;
}

static const pingyi_subject_t *
cell_subject (const form_t *f, size_t c)
{
    return &f->e->subjects[f->v->subjects[c / f->e->item_count]];
}

static const pingyi_item_t *
cell_item (const form_t *f, size_t c)
{
    return &f->e->items[c % f->e->item_count];
}

/*  "好/较好/一般/差"; with letters " 或 A/B/C/D" when every choice has one.  */
static void
choices_text (const pingyi_choice_set_t *set, bool letters, char *out, size_t cap)
{
    buf_t b = {0};
    for (size_t m = 0; m < set->choice_count; m++) {
        if (m)
            buf_str (&b, "/");
        buf_str (&b, set->choices[m].label);
    }
    bool all = letters;
    for (size_t m = 0; m < set->choice_count; m++)
        all = all && set->choices[m].letter;
    if (all) {
        buf_str (&b, " 或 ");
        for (size_t m = 0; m < set->choice_count; m++) {
            if (m)
                buf_str (&b, "/");
            buf_str (&b, set->choices[m].letter);
        }
    }
    snprintf (out, cap, "%s", b.s && !b.failed ? b.s : "");
    free (b.s);
}

/*  ---------------------------------------------------------------------
    CSV  */

static int
header_line (const form_t *f, buf_t *b)
{
    buf_str (b, "category");
    for (size_t c = 0; c < f->cell_count; c++) {
        buf_str (b, ",");
        buf_csv_field (b, f->names[c]);
    }
    buf_str (b, "\r\n");
    return b->failed ? -1 : 0;
}

static int
to_gb18030 (const char *in, size_t len, char **out, size_t *out_len, char *err)
{
    iconv_t cd = iconv_open ("GB18030", "UTF-8");
    if (cd == (iconv_t) -1)
        return pingyi_fail (err, "iconv cannot convert UTF-8 to GB18030: %s", strerror (errno));
    size_t cap = 4 * len + 16;
    char *o = malloc (cap);
    if (!o) {
        iconv_close (cd);
        return pingyi_fail (err, "out of memory");
    }
    char *ip = (char *) in, *op = o;
    size_t il = len, ol = cap;
    size_t r = iconv (cd, &ip, &il, &op, &ol);
    int saved = errno;
    iconv_close (cd);
    if (r == (size_t) -1) {
        free (o);
        return pingyi_fail (err, "cannot convert the header to GB18030 at byte %zu: %s", (size_t) (ip - in),
                            strerror (saved));
    }
    *out = o;
    *out_len = cap - ol;
    return 0;
}

static int
write_csv (const form_t *f, bool gb18030, FILE *out, char *err)
{
    buf_t b = {0};
    if (!gb18030)
        buf_str (&b, "\xEF\xBB\xBF");
    if (header_line (f, &b)) {
        free (b.s);
        return pingyi_fail (err, "out of memory");
    }
    const char *bytes = b.s;
    size_t n = b.len;
    char *conv = NULL;
    if (gb18030 && to_gb18030 (b.s, b.len, &conv, &n, err)) {
        free (b.s);
        return -1;
    }
    if (conv)
        bytes = conv;
    int rc = 0;
    if (fwrite (bytes, 1, n, out) != n || fflush (out))
        rc = pingyi_fail (err, "writing the template: %s", strerror (errno ? errno : EIO));
    free (conv);
    free (b.s);
    return rc;
}

/*  ---------------------------------------------------------------------
    XLSX  */

typedef struct {
    lxw_workbook *wb;
    lxw_error error;
} book_t;

static void
check (book_t *b, lxw_error rc)
{
    if (rc != LXW_NO_ERROR && b->error == LXW_NO_ERROR)
        b->error = rc;
}

/*  A literal list for a validation, or NULL if Excel's 255 characters
    cannot hold it (then a range of the legend sheet is used).  The array
    and its strings belong to the caller (free_list).  */
static char **
literal_list (const char *const *items, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (strchr (items[i], ',') || strchr (items[i], '"'))
            return NULL;
        total += strlen (items[i]) + (i ? 1 : 0);
    }
    if (total > LIST_MAX)
        return NULL;
    char **list = calloc (n + 1, sizeof *list);
    if (!list)
        return NULL;
    for (size_t i = 0; i < n; i++)
        list[i] = (char *) items[i];
    return list;
}

/*  The legend column of a list: sheet 说明, column col, rows first..last
    (0-based), as an absolute formula.  */
static void
range_formula (char *out, size_t cap, lxw_col_t col, lxw_row_t first, lxw_row_t last)
{
    char a[16], z[16];
    lxw_rowcol_to_cell_abs (a, first, col, 1, 1);
    lxw_rowcol_to_cell_abs (z, last, col, 1, 1);
    snprintf (out, cap, "='说明'!%s:%s", a, z);
}

#define LEGEND_LIST_ROW 0 /* the lists start at row 2 of their columns */
#define LEGEND_LIST_COL 7 /* column H onwards */

static int
write_xlsx (const form_t *f, const char *path, char *err)
{
    const pingyi_election_t *e = f->e;
    book_t b = {0};
    b.wb = workbook_new (path);
    if (!b.wb)
        return pingyi_fail (err, "%s: cannot start a workbook (out of memory?)", path);
    int rc = 0;
    lxw_worksheet *ws = workbook_add_worksheet (b.wb, "选票");
    lxw_worksheet *legend = workbook_add_worksheet (b.wb, "说明");
    lxw_format *head = workbook_add_format (b.wb), *cell = workbook_add_format (b.wb),
               *bold = workbook_add_format (b.wb), *text = workbook_add_format (b.wb);
    if (!ws || !legend || !head || !cell || !bold || !text) {
        rc = pingyi_fail (err, "xlsx: out of memory");
        goto close;
    }
    format_set_bold (head);
    format_set_border (head, LXW_BORDER_THIN);
    format_set_bg_color (head, 0xDDEBF7);
    format_set_align (head, LXW_ALIGN_CENTER);
    format_set_align (head, LXW_ALIGN_VERTICAL_CENTER);
    format_set_num_format (head, "@");
    /* the ballot cells: text (so "1" stays "1"), centred, bordered; set on
       the columns, not on cells (see the top of this file) */
    format_set_border (cell, LXW_BORDER_THIN);
    format_set_align (cell, LXW_ALIGN_CENTER);
    format_set_num_format (cell, "@");
    format_set_bold (bold);
    format_set_num_format (text, "@");

    /* ---- legend sheet: the lists first (validations may refer to them) */
    lxw_col_t lc = LEGEND_LIST_COL;
    lxw_row_t lists_top = LEGEND_LIST_ROW;
    check (&b, worksheet_write_string (legend, lists_top, lc, "类别（编号与名称）", bold));
    size_t ncat = 0;
    const char *cats[2 * PINGYI_MAX_CATEGORIES];
    for (size_t k = 0; k < e->category_count; k++)
        cats[ncat++] = e->categories[k].id;
    for (size_t k = 0; k < e->category_count; k++)
        if (strcmp (e->categories[k].name, e->categories[k].id))
            cats[ncat++] = e->categories[k].name;
    for (size_t k = 0; k < ncat; k++)
        check (&b, worksheet_write_string (legend, (lxw_row_t) (lists_top + 1 + k), lc, cats[k], text));
    char cat_formula[128];
    range_formula (cat_formula, sizeof cat_formula, lc, lists_top + 1, (lxw_row_t) (lists_top + ncat));
    char set_formula[16 + 1][128];
    for (size_t s = 0; s < e->choice_set_count && s < 17; s++) {
        const pingyi_choice_set_t *set = &e->choice_sets[s];
        set_formula[s][0] = '\0';
        if (!set->choice_count)
            continue; /* no "grades" in a definition of contests: no item uses set 0 */
        lxw_col_t col = (lxw_col_t) (lc + 1 + s);
        char title[160];
        snprintf (title, sizeof title, "选项：%s", set->id);
        check (&b, worksheet_write_string (legend, lists_top, col, title, bold));
        for (size_t m = 0; m < set->choice_count; m++)
            check (&b, worksheet_write_string (legend, (lxw_row_t) (lists_top + 1 + m), col,
                                               set->choices[m].label, text));
        range_formula (set_formula[s], sizeof set_formula[s], col, lists_top + 1,
                       (lxw_row_t) (lists_top + set->choice_count));
        check (&b, worksheet_set_column (legend, col, col, 14, NULL));
    }
    check (&b, worksheet_set_column (legend, lc, lc, 20, NULL));

    /* ---- legend sheet: what the sheet is, how to save it, the columns */
    char line[2400];
    lxw_row_t r = 0;
    check (&b, worksheet_write_string (legend, r++, 0, e->title, bold));
    snprintf (line, sizeof line, "会场：%s %s（%zu 名测评对象 × %zu 个测评项目 = %zu 格）", f->v->id,
              f->v->name, f->v->subject_count, e->item_count, f->cell_count);
    check (&b, worksheet_write_string (legend, r++, 0, line, NULL));
    snprintf (line, sizeof line, "选举指纹（SHA-256）：%s", e->fingerprint_hex);
    check (&b, worksheet_write_string (legend, r++, 0, line, NULL));
    static const char *const howto[] = {
        "填写方法：在“选票”工作表中，第 1 行是机读表头（请勿修改、勿在其上方插入行），从第 2 "
        "行起每行录入一张选票。",
        "category 列填写类别编号或名称；其余每列对应一名测评对象的一个测评项目（列名为 对象编号:项目编号，"
        "中文名称见表头批注及下表）。",
        "每格填写选项（如 好），也可填字母（如 A）；不填为弃权；多选时用 | 连接（如 "
        "好|一般，该格计为多选无效）。",
        "保存：文件 → 另存为 → “CSV UTF-8（逗号分隔）”，只保存“选票”工作表；然后用 pingyi-client --input "
        "读入。",
        "若另存为普通“CSV（逗号分隔）”（GB18030/GBK 编码），pingyi-client 也能直接读入（自动识别编码，"
        "或用 --encoding gbk 指定）。",
    };
    for (size_t i = 0; i < sizeof howto / sizeof howto[0]; i++)
        check (&b, worksheet_write_string (legend, r++, 0, howto[i], NULL));
    r++;
    static const char *const heads[] = {"列", "机读列名", "测评对象", "测评项目", "可填写"};
    for (lxw_col_t c = 0; c < 5; c++)
        check (&b, worksheet_write_string (legend, r, c, heads[c], head));
    r++;
    char colname[16];
    lxw_col_to_name (colname, 0, 0);
    check (&b, worksheet_write_string (legend, r, 0, colname, text));
    check (&b, worksheet_write_string (legend, r, 1, "category", text));
    check (&b, worksheet_write_string (legend, r, 2, "类别", text));
    check (&b, worksheet_write_string (legend, r, 3, "", text));
    {
        buf_t cb = {0};
        for (size_t k = 0; k < e->category_count; k++) {
            if (k)
                buf_str (&cb, "；");
            buf_str (&cb, e->categories[k].id);
            buf_str (&cb, " ");
            buf_str (&cb, e->categories[k].name);
        }
        check (&b, worksheet_write_string (legend, r, 4, cb.s && !cb.failed ? cb.s : "", text));
        free (cb.s);
    }
    r++;
    for (size_t c = 0; c < f->cell_count; c++, r++) {
        const pingyi_subject_t *s = cell_subject (f, c);
        const pingyi_item_t *it = cell_item (f, c);
        char choices[1024];
        choices_text (&e->choice_sets[it->choice_set], true, choices, sizeof choices);
        lxw_col_to_name (colname, (lxw_col_t) (c + 1), 0);
        check (&b, worksheet_write_string (legend, r, 0, colname, text));
        check (&b, worksheet_write_string (legend, r, 1, f->names[c], text));
        snprintf (line, sizeof line, "%s %s", s->id, s->name);
        check (&b, worksheet_write_string (legend, r, 2, line, text));
        check (&b, worksheet_write_string (legend, r, 3, it->name, text));
        check (&b, worksheet_write_string (legend, r, 4, choices, text));
    }
    check (&b, worksheet_set_column (legend, 0, 0, 6, NULL));
    check (&b, worksheet_set_column (legend, 1, 1, 22, NULL));
    check (&b, worksheet_set_column (legend, 2, 3, 28, NULL));
    check (&b, worksheet_set_column (legend, 4, 4, 36, NULL));
    worksheet_set_landscape (legend);
    worksheet_set_paper (legend, 9);
    worksheet_fit_to_pages (legend, 1, 0);

    /* ---- ballot sheet: row 1 the machine header, with the names as notes */
    lxw_comment_options note = {0};
    note.width = 220;
    note.height = 80;
    check (&b, worksheet_write_string (ws, 0, 0, "category", head));
    snprintf (line, sizeof line, "类别：填写编号或名称");
    check (&b, worksheet_write_comment_opt (ws, 0, 0, line, &note));
    double w = 10;
    for (size_t k = 0; k < ncat; k++) {
        double t = (double) pingyi_text_width (cats[k]) + 3;
        w = t > w ? t : w;
    }
    check (&b, worksheet_set_column (ws, 0, 0, w > 40 ? 40 : w, cell));
    for (size_t c = 0; c < f->cell_count; c++) {
        const pingyi_subject_t *s = cell_subject (f, c);
        const pingyi_item_t *it = cell_item (f, c);
        const pingyi_choice_set_t *set = &e->choice_sets[it->choice_set];
        lxw_col_t col = (lxw_col_t) (c + 1);
        check (&b, worksheet_write_string (ws, 0, col, f->names[c], head));
        char choices[1024];
        choices_text (set, true, choices, sizeof choices);
        snprintf (line, sizeof line, "%s %s\n可填：%s", s->name, it->name, choices);
        check (&b, worksheet_write_comment_opt (ws, 0, col, line, &note));
        /* as wide as the header or the widest choice (CJK counts two) */
        double cw = (double) pingyi_text_width (f->names[c]) + 2;
        for (size_t m = 0; m < set->choice_count; m++) {
            double t = (double) pingyi_text_width (set->choices[m].label) + 3;
            cw = t > cw ? t : cw;
        }
        check (&b, worksheet_set_column (ws, col, col, cw < 8 ? 8 : cw > 40 ? 40 : cw, cell));
    }
    lxw_col_t last = (lxw_col_t) f->cell_count;
    check (&b, worksheet_set_row (ws, 0, 20, NULL));
    worksheet_freeze_panes (ws, 1, 1);
    worksheet_set_landscape (ws);
    worksheet_set_paper (ws, 9); /* A4 */
    worksheet_fit_to_pages (ws, 1, 0);
    check (&b, worksheet_repeat_rows (ws, 0, 0));
    check (&b, worksheet_print_area (ws, 0, 0, BALLOT_ROWS, last));
    {
        char title[400], venue[300], header[900];
        escape_amp (title, sizeof title, e->title);
        snprintf (line, sizeof line, "%s %s", f->v->id, f->v->name);
        escape_amp (venue, sizeof venue, line);
        snprintf (header, sizeof header, "&L%s&R%s", venue, title);
        if (worksheet_set_header (ws, header) != LXW_NO_ERROR)
            check (&b, worksheet_set_header (ws, "&L&A"));
        check (&b, worksheet_set_footer (ws, "&C第 &P 页，共 &N 页"));
    }

    /* ---- validations on the 500 ballot rows */
    lxw_data_validation dv;
    memset (&dv, 0, sizeof dv);
    dv.ignore_blank = LXW_VALIDATION_ON; /* empty is allowed: BLANK */
    dv.error_type = LXW_VALIDATION_ERROR_TYPE_WARNING;
    dv.input_title = "类别";
    dv.input_message = "填写类别编号或名称";
    char **list = literal_list (cats, ncat);
    if (list) {
        dv.validate = LXW_VALIDATION_TYPE_LIST;
        dv.value_list = list;
    }
    else {
        dv.validate = LXW_VALIDATION_TYPE_LIST_FORMULA;
        /* (libxlsxwriter 1.1.4 never frees its copy of a list formula: a
           few bytes per list, only on this path) */
        dv.value_formula = cat_formula;
    }
    check (&b, worksheet_data_validation_range (ws, 1, 0, BALLOT_ROWS, 0, &dv));
    free (list);
    for (size_t c = 0; c < f->cell_count; c++) {
        const pingyi_subject_t *s = cell_subject (f, c);
        const pingyi_item_t *it = cell_item (f, c);
        const pingyi_choice_set_t *set = &e->choice_sets[it->choice_set];
        const char *labels[PINGYI_MAX_CHOICES];
        for (size_t m = 0; m < set->choice_count; m++)
            labels[m] = set->choices[m].label;
        memset (&dv, 0, sizeof dv);
        dv.ignore_blank = LXW_VALIDATION_ON;
        /* a warning, not a stop: a letter (A) or an over-ticked cell
           (好|一般) is valid input for the client */
        dv.error_type = LXW_VALIDATION_ERROR_TYPE_WARNING;
        dv.error_title = "不在选项中";
        dv.error_message = "可填选项、其字母，或用 | 连接的多个选项（多选无效）；不填为弃权。";
        list = literal_list (labels, set->choice_count);
        if (list) {
            dv.validate = LXW_VALIDATION_TYPE_LIST;
            dv.value_list = list;
        }
        else {
            dv.validate = LXW_VALIDATION_TYPE_LIST_FORMULA;
            dv.value_formula = set_formula[it->choice_set < 17 ? it->choice_set : 0];
        }
        char choices[1024], message[1400], shown[1100], title[200];
        choices_text (set, true, choices, sizeof choices);
        snprintf (message, sizeof message, "%s %s · %s\n可填：%s；不填为弃权；多选用 | 连接", s->id, s->name,
                  it->name, choices);
        utf8_cut (shown, sizeof shown, message, 250);
        utf8_cut (title, sizeof title, f->names[c], 30);
        dv.input_title = title;
        dv.input_message = shown;
        lxw_col_t col = (lxw_col_t) (c + 1);
        check (&b, worksheet_data_validation_range (ws, 1, col, BALLOT_ROWS, col, &dv));
        free (list);
    }
    worksheet_activate (ws);
    if (b.error != LXW_NO_ERROR)
        rc = pingyi_fail (err, "xlsx: %s", lxw_strerror (b.error));
close:;
    lxw_error closed = workbook_close (b.wb); /* frees the workbook, also on error */
    if (rc == 0 && closed != LXW_NO_ERROR)
        rc = pingyi_fail (err, "%s: cannot write the workbook: %s", path, lxw_strerror (closed));
    return rc;
}

/*  ---------------------------------------------------------------------
    The command  */

static void
unknown_venue (const pingyi_election_t *e, const char *id)
{
    char q[PINGYI_QUOTE_SIZE (PINGYI_QUOTE_SHOWN)];
    pingyi_quote (q, sizeof q, id, strlen (id), PINGYI_QUOTE_SHOWN);
    fprintf (stderr, "pingyi template: unknown venue %s; the definition has %zu venue%s: ", q, e->venue_count,
             e->venue_count == 1 ? "" : "s");
    size_t shown = e->venue_count < 10 ? e->venue_count : 10;
    for (size_t v = 0; v < shown; v++)
        fprintf (stderr, "%s%s", v ? ", " : "", e->venues[v].id);
    if (e->venue_count > shown)
        fprintf (stderr, ", ... (%zu more)", e->venue_count - shown);
    fputc ('\n', stderr);
}

int
pingyi_cmd_template (int argc, char **argv)
{
    const char *deploy = NULL, *definition = NULL, *venue_id = NULL, *format = "csv", *encoding = "utf-8",
               *out_path = NULL;
    const pingyi_cli_option_t options[] = {
        PINGYI_CLI_OPT_TEXT ("deploy", &deploy, "DIR", "the deploy directory (or the venue's bundle folder)"),
        PINGYI_CLI_OPT_TEXT ("definition", &definition, "DEFINITION.json", "or the definition file itself"),
        PINGYI_CLI_OPT_TEXT ("venue", &venue_id, "ID", "the venue"),
        PINGYI_CLI_OPT_TEXT ("format", &format, "csv|xlsx",
                             "csv (default): the header line pingyi-client reads, UTF-8 with\n"
                             "BOM (or GB18030), CRLF; xlsx (needs --out): a ballot sheet to\n"
                             "fill and print, with drop-down lists"),
        PINGYI_CLI_OPT_TEXT ("encoding", &encoding, "E", "utf-8 (default) or gb18030, for csv"),
        PINGYI_CLI_OPT_TEXT ("out", &out_path, "FILE", "write there (default: stdout)"),
        PINGYI_CLI_END,
    };
    pingyi_cli_t cli = {.prog = "pingyi template", .synopsis = SYNOPSIS, .options = options};
    int status;
    if (pingyi_cli_parse (&cli, argc, argv, &status))
        return status;
    if (!deploy == !definition || !venue_id) {
        return pingyi_cli_fail (&cli, "give one of --deploy or --definition, and --venue");
    }
    bool xlsx = !strcmp (format, "xlsx");
    if (!xlsx && strcmp (format, "csv")) {
        fprintf (stderr, "pingyi template: --format must be csv or xlsx\n");
        return 2;
    }
    bool gb18030 = !strcasecmp (encoding, "gb18030");
    if (!gb18030 && strcasecmp (encoding, "utf-8") && strcasecmp (encoding, "utf8")) {
        fprintf (stderr, "pingyi template: --encoding must be utf-8 or gb18030\n");
        return 2;
    }
    if (xlsx && gb18030) {
        fprintf (stderr, "pingyi template: --encoding is for --format csv (a workbook is always Unicode)\n");
        return 2;
    }
    if (xlsx && !out_path) {
        fprintf (stderr, "pingyi template: --format xlsx needs --out FILE.xlsx\n");
        return 2;
    }

    char err[PINGYI_ERR_MAX], path[1100];
    pingyi_election_t *e = NULL;
    if (definition)
        e = pingyi_election_load_or_err (definition, err);
    else if (pingyi_path (path, sizeof path, err, "%s/election.json", deploy) == 0)
        e = pingyi_election_load_or_err (path, err);
    if (!e) {
        fprintf (stderr, "pingyi template: %s\n", err);
        return 2;
    }
    int venue = pingyi_election_venue (e, venue_id, strlen (venue_id));
    if (venue < 0) {
        unknown_venue (e, venue_id);
        pingyi_election_destroy (&e);
        return 2;
    }
    form_t f = {0};
    if (form_init (&f, e, (size_t) venue)) {
        fprintf (stderr, "pingyi template: out of memory\n");
        pingyi_election_destroy (&e);
        return 2;
    }

    int rc = 0;
    if (!out_path) {
        if (write_csv (&f, gb18030, stdout, err))
            rc = 2;
    }
    else {
        /* through a temporary file renamed at the end: never a half file */
        char tmp[4200];
        if (snprintf (tmp, sizeof tmp, "%s.tmp.%d", out_path, (int) getpid ()) >= (int) sizeof tmp) {
            fprintf (stderr, "pingyi template: %s: path too long\n", out_path);
            form_fini (&f);
            pingyi_election_destroy (&e);
            return 2;
        }
        if (xlsx)
            rc = write_xlsx (&f, tmp, err);
        else {
            FILE *out = fopen (tmp, "wb");
            if (!out)
                rc = pingyi_fail (err, "%s: cannot create: %s", tmp, strerror (errno));
            else {
                rc = write_csv (&f, gb18030, out, err);
                if (fclose (out) && rc == 0)
                    rc = pingyi_fail (err, "%s: %s", tmp, strerror (errno));
            }
        }
        if (rc == 0 && rename (tmp, out_path))
            rc = pingyi_fail (err, "cannot rename %s to %s: %s", tmp, out_path, strerror (errno));
        if (rc)
            unlink (tmp);
        rc = rc ? 2 : 0;
    }
    if (rc)
        fprintf (stderr, "pingyi template: %s\n", err);
    form_fini (&f);
    pingyi_election_destroy (&e);
    return rc;
}
