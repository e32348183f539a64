/*  input.c — CSV and JSON Lines ballot input (docs/ballot-input.md).

    Bytes are fed in, lines are cut out, each non-empty line after the CSV
    header is one record.  The cut does not depend on how the bytes were
    chunked: the same bytes give the same records, the same line numbers and
    the same digest whether they came in one piece or one byte at a time
    (the outbox relies on that to skip, after a restart, exactly the records
    it already took).

    Lines may be UTF-8 or GB18030 (GBK): the encoding is given, or judged
    on a file's first PINGYI_INPUT_DETECT_MAX bytes, or on live input's
    first line that is not ASCII; each line is converted to UTF-8 (iconv)
    before it is parsed, the digest stays over the bytes as given.  Cell
    values and categories are normalised (full-width ASCII, Unicode
    spaces, 、 between marks) before they are matched; rows of nothing but
    commas are no records.  Until a good record is met, the first-lines
    gate reads ahead without taking anything: PINGYI_INPUT_PROBE_LINES bad
    records (or all, when fewer) and the input is refused whole.

    Every bad record is reported once, with the first reason found, as
    "FILE:LINE:COLUMN: reason"; values echoed in a reason are quoted,
    shortened and escaped, so a hostile line cannot forge another line of
    output or flood the terminal.

    Input lines are plaintext ballots: nothing of a line outlives its
    record.  Once pingyi_input_next returns, the bytes of every line it
    consumed are zeros in the buffer, and so is the scratch the CSV fields
    were unquoted into; the buffer grows by copy-and-wipe (never realloc,
    which would free the old plaintext as it is), and the stale tail left
    when unread bytes move to its front is wiped.  JSON Lines are parsed by
    jansson, whose blocks are wiped when freed (json_set_alloc_funcs).  The
    caller wipes the ballot it is handed once it is sealed.  */
#define _GNU_SOURCE
#include "input.h"
#include "quote.h"
#include "json_text.h"

#include <errno.h>
#include <iconv.h>
#include <jansson.h>
#include <malloc.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MESSAGE_MAX 1024 /* one error line */
#define SHOW_MAX 48      /* bytes of a hostile value echoed back */
#define EXPECT_MAX 240   /* the "(expected ...)" hint */

typedef struct {
    size_t off;
    size_t len;
} span_t;

struct pingyi_input_t {
    const pingyi_election_t *election;
    size_t venue;
    pingyi_input_format_t format;
    char name[256];
    pingyi_input_error_fn *error_fn;
    void *error_arg;

    /*  Unconsumed bytes are buf[start, end); buf[0, wiped) and buf[end,
        cap) are zeros.  */
    uint8_t *buf;
    size_t start, end, cap, wiped;
    bool finished;
    bool discarding;      /* inside an overlong line: drop up to its newline */
    uint64_t line_no;     /* physical lines cut so far */
    uint64_t record_line; /* line of the record last returned */
    uint64_t records;
    bool header_done;
    uint64_t header_line;
    bool fatal;
    char fatal_err[PINGYI_ERR_MAX];
    crypto_hash_sha256_state digest;

    /*  The venue's form: cell c = form position * item_count + item.  */
    size_t item_count;
    size_t cell_count;
    char **cell_names;  /* "s01:overall" */
    int *col_cell;      /* CSV: header field → cell (index 0: category) */
    size_t field_count; /* CSV: fields in the header */
    size_t *cell_col;   /* header parse: cell → 1-based column, 0 unseen */
    char **expect;      /* per choice set: "好/较好/一般/差 or A/B/C/D" */
    char category_expect[2 * EXPECT_MAX + 8];

    /*  Per-line scratch.  */
    span_t *fields;
    size_t fields_cap;
    char *scratch;
    size_t scratch_cap;
    size_t scratch_used; /* bytes of scratch that may hold a line's text */
    uint8_t *seen;       /* JSONL: cell given */

    /*  Encoding (docs/ballot-input.md, "Encodings").  */
    pingyi_input_encoding_t encoding; /* asked for */
    bool file;                        /* a regular file: detect over a prefix */
    pingyi_input_encoding_t decided;  /* AUTO while undecided */
    bool bom;                         /* the first line opened with a UTF-8 BOM */
    iconv_t cd;                       /* GB18030 → UTF-8, (iconv_t) -1 unopened */
    char *conv;                       /* a line converted to UTF-8 */
    size_t conv_cap, conv_used;
    char *norm; /* a value normalised (full-width, spaces, 、) */
    size_t norm_cap, norm_used;

    /*  The first-lines gate: until a good record has been seen.  */
    bool gate_passed;
    uint64_t reported_upto; /* records reported up to this line */
};

/*  ---------------------------------------------------------------------
    Showing hostile text  */

/*  A hostile value echoed back: quoted by the one rule (text/quote.h),
    SHOW_MAX bytes at most.  */
#define SHOW(buf, s, len) pingyi_quote (buf, sizeof buf, (s), (len), SHOW_MAX)

static void
trim (const char **s, size_t *len)
{
    while (*len && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}


/*  Normalise a cell value or a category (docs/ballot-input.md,
    "Normalisation") from src into dst (never longer): full-width ASCII
    U+FF01..U+FF5E becomes ASCII, Unicode spaces (U+3000 among them) become
    ' ', and with bars '、' (U+3001) becomes '|'.  Returns the length.  */
static size_t
normalize (char *dst, const char *src, size_t len, bool bars)
{
    const uint8_t *p = (const uint8_t *) src;
    size_t i = 0, o = 0;
    while (i < len) {
        uint8_t c = p[i];
        if (c == '\t' || c == '\r' || c == '\v' || c == '\f') {
            dst[o++] = ' ';
            i++;
            continue;
        }
        if (c < 0x80 || i + 1 >= len) {
            dst[o++] = (char) p[i++];
            continue;
        }
        if (c == 0xc2 && p[i + 1] == 0xa0) { /* no-break space */
            dst[o++] = ' ';
            i += 2;
            continue;
        }
        if (i + 2 < len) {
            uint32_t cp = 0;
            if ((c & 0xf0) == 0xe0 && (p[i + 1] & 0xc0) == 0x80 && (p[i + 2] & 0xc0) == 0x80)
                cp = ((uint32_t) (c & 0x0f) << 12) | ((uint32_t) (p[i + 1] & 0x3f) << 6) | (p[i + 2] & 0x3f);
            if (cp >= 0xff01 && cp <= 0xff5e) {
                dst[o++] = (char) (cp - 0xfee0);
                i += 3;
                continue;
            }
            if (cp == 0x3000 || (cp >= 0x2000 && cp <= 0x200b) || cp == 0x202f || cp == 0x205f ||
                cp == 0xfeff) {
                dst[o++] = ' ';
                i += 3;
                continue;
            }
            if (bars && cp == 0x3001) {
                dst[o++] = '|';
                i += 3;
                continue;
            }
        }
        dst[o++] = (char) p[i++];
    }
    return o;
}

/*  A check mark: √ U+221A, ✓ U+2713, ✔ U+2714, ☑ U+2611.  */
static bool
is_check_mark (const char *s, size_t len)
{
    return len == 3 && (!memcmp (s, "\xe2\x88\x9a", 3) || !memcmp (s, "\xe2\x9c\x93", 3) ||
                        !memcmp (s, "\xe2\x9c\x94", 3) || !memcmp (s, "\xe2\x98\x91", 3));
}

/*  Grow a buffer that may hold plaintext: a fresh cleared block, the old one
    wiped.  0, or -1 out of memory.  */
static int
grow_wiped (char **buf, size_t *cap, size_t want)
{
    if (want <= *cap)
        return 0;
    size_t n = *cap ? *cap : 256;
    while (n < want)
        n *= 2;
    char *fresh = calloc (1, n);
    if (!fresh)
        return -1;
    if (*buf) {
        sodium_memzero (*buf, *cap);
        free (*buf);
    }
    *buf = fresh;
    *cap = n;
    return 0;
}

/*  ---------------------------------------------------------------------
    Construction  */

/*  Append text to a bounded hint, with "..." once it is full.  */
static void
hint_add (char *hint, size_t cap, const char *sep, const char *text)
{
    size_t used = strlen (hint);
    if (used + 4 >= cap || (used >= 3 && !strcmp (hint + used - 3, "...")))
        return;
    int n = snprintf (hint + used, cap - used, "%s%s", used ? sep : "", text);
    if (n < 0 || (size_t) n >= cap - used - 4)
        snprintf (hint + used, cap - used, "%s...", used ? sep : "");
}

static char *
choice_hint (const pingyi_choice_set_t *set)
{
    char labels[EXPECT_MAX] = "", letters[EXPECT_MAX] = "";
    for (size_t c = 0; c < set->choice_count; c++) {
        hint_add (labels, sizeof labels, "/", set->choices[c].label);
        if (set->choices[c].letter)
            hint_add (letters, sizeof letters, "/", set->choices[c].letter);
    }
    char *out = NULL;
    if (*letters) {
        if (asprintf (&out, "%s or %s", labels, letters) < 0)
            out = NULL;
    }
    else
        out = strdup (labels);
    return out;
}

/*  jansson's blocks (a JSON line's strings among them) are wiped before
    they are freed.  Process-wide, harmless for every other use.  */
static void
wiping_free (void *p)
{
    if (p) {
        sodium_memzero (p, malloc_usable_size (p));
        free (p);
    }
}

pingyi_input_t *
pingyi_input_new (const pingyi_election_t *election, size_t venue, pingyi_input_format_t format,
                  const char *name)
{
    if (!election || venue >= election->venue_count)
        return NULL;
    pingyi_input_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->election = election;
    self->venue = venue;
    self->format = format;
    snprintf (self->name, sizeof self->name, "%s", !name ? "input" : strcmp (name, "-") ? name : "stdin");
    crypto_hash_sha256_init (&self->digest);
    self->cd = (iconv_t) -1;

    const pingyi_venue_t *v = &election->venues[venue];
    self->item_count = election->item_count;
    self->cell_count = v->subject_count * election->item_count;
    self->cell_names = calloc (self->cell_count, sizeof *self->cell_names);
    self->cell_col = calloc (self->cell_count, sizeof *self->cell_col);
    self->seen = calloc (self->cell_count, 1);
    self->expect = calloc (election->choice_set_count, sizeof *self->expect);
    if (!self->cell_names || !self->cell_col || !self->seen || !self->expect)
        goto fail;
    for (size_t pos = 0; pos < v->subject_count; pos++)
        for (size_t i = 0; i < self->item_count; i++)
            if (asprintf (&self->cell_names[pos * self->item_count + i], "%s:%s",
                          election->subjects[v->subjects[pos]].id, election->items[i].id) < 0) {
                self->cell_names[pos * self->item_count + i] = NULL;
                goto fail;
            }
    for (size_t s = 0; s < election->choice_set_count; s++)
        if (!(self->expect[s] = choice_hint (&election->choice_sets[s])))
            goto fail;
    char ids[EXPECT_MAX] = "", names[EXPECT_MAX] = "";
    for (size_t c = 0; c < election->category_count; c++) {
        hint_add (ids, sizeof ids, "/", election->categories[c].id);
        hint_add (names, sizeof names, "/", election->categories[c].name);
    }
    snprintf (self->category_expect, sizeof self->category_expect, "%s or %s", ids, names);
    if (format == PINGYI_INPUT_JSONL) {
        self->header_done = true;
        json_set_alloc_funcs (malloc, wiping_free);
    }
    return self;
fail:
    pingyi_input_destroy (&self);
    return NULL;
}

void
pingyi_input_destroy (pingyi_input_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pingyi_input_t *self = *self_p;
    if (self->cell_names)
        for (size_t c = 0; c < self->cell_count; c++)
            free (self->cell_names[c]);
    if (self->expect)
        for (size_t s = 0; s < self->election->choice_set_count; s++)
            free (self->expect[s]);
    free (self->expect);
    free (self->cell_names);
    free (self->cell_col);
    free (self->col_cell);
    free (self->seen);
    free (self->fields);
    if (self->scratch)
        sodium_memzero (self->scratch, self->scratch_cap);
    free (self->scratch);
    if (self->conv)
        sodium_memzero (self->conv, self->conv_cap);
    free (self->conv);
    if (self->norm)
        sodium_memzero (self->norm, self->norm_cap);
    free (self->norm);
    if (self->cd != (iconv_t) -1)
        iconv_close (self->cd);
    if (self->buf)
        sodium_memzero (self->buf, self->cap);
    free (self->buf);
    free (self);
    *self_p = NULL;
}

void
pingyi_input_set_error_fn (pingyi_input_t *self, pingyi_input_error_fn *fn, void *arg)
{
    self->error_fn = fn;
    self->error_arg = arg;
}

uint64_t
pingyi_input_line (const pingyi_input_t *self)
{
    return self->record_line;
}

uint64_t
pingyi_input_records (const pingyi_input_t *self)
{
    return self->records;
}

void
pingyi_input_digest (const pingyi_input_t *self, uint8_t out[PINGYI_DIGEST_LEN])
{
    crypto_hash_sha256_state copy = self->digest;
    crypto_hash_sha256_final (&copy, out);
}

pingyi_input_format_t
pingyi_input_format_for (const char *path)
{
    const char *dot = strrchr (path, '.');
    if (dot && (!strcasecmp (dot, ".jsonl") || !strcasecmp (dot, ".json") || !strcasecmp (dot, ".ndjson")))
        return PINGYI_INPUT_JSONL;
    return PINGYI_INPUT_CSV;
}

int
pingyi_input_format_parse (const char *name, pingyi_input_format_t *format)
{
    if (!strcmp (name, "csv"))
        *format = PINGYI_INPUT_CSV;
    else if (!strcmp (name, "jsonl") || !strcmp (name, "json"))
        *format = PINGYI_INPUT_JSONL;
    else
        return -1;
    return 0;
}

int
pingyi_input_encoding_parse (const char *name, pingyi_input_encoding_t *encoding)
{
    if (!strcasecmp (name, "utf-8") || !strcasecmp (name, "utf8"))
        *encoding = PINGYI_ENCODING_UTF8;
    else if (!strcasecmp (name, "gb18030") || !strcasecmp (name, "gbk") || !strcasecmp (name, "gb2312"))
        *encoding = PINGYI_ENCODING_GB18030;
    else if (!strcasecmp (name, "auto"))
        *encoding = PINGYI_ENCODING_AUTO;
    else
        return -1;
    return 0;
}

void
pingyi_input_set_encoding (pingyi_input_t *self, pingyi_input_encoding_t encoding, bool file)
{
    self->encoding = encoding;
    self->decided = encoding;
    self->file = file;
}

/*  ---------------------------------------------------------------------
    Bytes to lines  */

int
pingyi_input_feed (pingyi_input_t *self, const void *data, size_t len)
{
    /*  Everything before start was consumed, and is zeros already.  */
    if (self->start == self->end)
        self->start = self->end = self->wiped = 0;
    else if (self->start > 0 && self->start >= self->cap / 2) {
        size_t keep = self->end - self->start;
        memmove (self->buf, self->buf + self->start, keep);
        /*  What was past the moved bytes is a stale copy of them.  */
        sodium_memzero (self->buf + keep, self->end - keep);
        self->end = keep;
        self->start = self->wiped = 0;
    }
    if (len > SIZE_MAX / 2 - self->end)
        return -1;
    if (self->end + len > self->cap) {
        size_t cap = self->cap ? self->cap : 65536;
        while (cap < self->end + len)
            cap *= 2;
        uint8_t *grown = calloc (1, cap); /* past end: always zeros */
        if (!grown)
            return -1;
        if (self->buf) {
            memcpy (grown, self->buf, self->end);
            sodium_memzero (self->buf, self->cap);
            free (self->buf);
        }
        self->buf = grown;
        self->cap = cap;
    }
    if (len)
        memcpy (self->buf + self->end, data, len);
    self->end += len;
    return 0;
}

void
pingyi_input_finish (pingyi_input_t *self)
{
    self->finished = true;
}

/*  Cut the next line out of the buffer.  Returns true with *line and *len (no
    terminator; a trailing \r dropped) or with *overlong set; false when no
    complete line is buffered.  */
static bool
take_line (pingyi_input_t *self, const uint8_t **line, size_t *len, bool *overlong)
{
    *overlong = false;
    for (;;) {
        size_t avail = self->end - self->start;
        /* buf is NULL until the first bytes are fed: no offset on it then */
        const uint8_t *p = self->buf ? self->buf + self->start : NULL;
        const uint8_t *nl = avail ? memchr (p, '\n', avail) : NULL;
        if (self->discarding) {
            if (!nl) {
                self->start = self->end;
                if (self->finished)
                    self->discarding = false;
                return false;
            }
            self->start += (size_t) (nl - p) + 1;
            self->discarding = false;
            continue;
        }
        size_t n;
        if (nl)
            n = (size_t) (nl - p);
        else if (avail > PINGYI_INPUT_LINE_MAX || (self->finished && avail))
            n = avail;
        else
            return false;
        self->line_no++;
        if (n > PINGYI_INPUT_LINE_MAX) {
            *overlong = true;
            if (!nl)
                self->discarding = true; /* its end has not arrived yet */
            self->start = nl ? self->start + n + 1 : self->end;
            return true;
        }
        self->start += nl ? n + 1 : n;
        if (n && p[n - 1] == '\r')
            n--;
        /*  A UTF-8 byte order mark opens the first line only.  */
        if (self->line_no == 1 && n >= 3 && !memcmp (p, "\xef\xbb\xbf", 3)) {
            self->bom = true;
            p += 3;
            n -= 3;
        }
        *line = p;
        *len = n;
        return true;
    }
}

static bool
is_blank_line (const uint8_t *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t')
            return false;
    return true;
}

static void
digest_line (pingyi_input_t *self, const uint8_t *line, size_t len)
{
    crypto_hash_sha256_update (&self->digest, line, len);
    crypto_hash_sha256_update (&self->digest, (const uint8_t *) "\n", 1);
}

/*  ---------------------------------------------------------------------
    Reporting  */

static pingyi_input_result_t report (pingyi_input_t *self, uint64_t line, size_t column, const char *fmt, ...)
    PINGYI_PRINTF (4, 5);

static pingyi_input_result_t
report (pingyi_input_t *self, uint64_t line, size_t column, const char *fmt, ...)
{
    /*  A record's line is reported once: the first-lines gate may have
        reported it already (or, probing quietly, must not yet).  */
    if (self->header_done) {
        if (line <= self->reported_upto)
            return PINGYI_INPUT_BAD;
        self->reported_upto = line;
    }
    char msg[MESSAGE_MAX];
    int n = snprintf (msg, sizeof msg, "%s:%llu:%zu: ", self->name, (unsigned long long) line, column);
    if (n < 0 || (size_t) n >= sizeof msg)
        n = 0;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg + n, sizeof msg - (size_t) n, fmt, ap);
    va_end (ap);
    if (self->error_fn)
        self->error_fn (msg, self->error_arg);
    else
        fprintf (stderr, "%s\n", msg);
    return PINGYI_INPUT_BAD;
}

/*  ---------------------------------------------------------------------
    Cells and grades, shared by both formats  */

/*  The cell a name "SUBJECT_ID:ITEM_ID" names on this venue's form.
    Returns the cell, -1 when no such subject or item exists, -2 when the
    subject is not on the form, -3 when the name has no ':'.  */
static long
lookup_cell (pingyi_input_t *self, const char *name, size_t len)
{
    const char *colon = NULL;
    for (size_t i = len; i > 0; i--)
        if (name[i - 1] == ':') {
            colon = name + i - 1;
            break;
        }
    if (!colon || colon == name || colon == name + len - 1)
        return -3;
    size_t slen = (size_t) (colon - name), ilen = len - slen - 1;
    int subject = pingyi_election_subject (self->election, name, slen);
    long item = -1;
    for (size_t i = 0; i < self->item_count; i++) {
        const char *id = self->election->items[i].id;
        if (strlen (id) == ilen && !memcmp (id, colon + 1, ilen)) {
            item = (long) i;
            break;
        }
    }
    if (subject < 0 || item < 0)
        return -1;
    int pos = pingyi_election_form_index (self->election, self->venue, (size_t) subject);
    if (pos < 0)
        return -2;
    return (long) pos * (long) self->item_count + item;
}

/*  Why lookup_cell refused name, as a reason line.  */
static void
cell_refusal (pingyi_input_t *self, long code, const char *name, size_t len, char *why, size_t cap)
{
    char shown[SHOW_MAX * 4 + 16];
    SHOW (shown, name, len);
    if (code == -3)
        snprintf (why, cap, "bad cell name %s (expected SUBJECT_ID:ITEM_ID, e.g. \"%s\")", shown,
                  self->cell_count ? self->cell_names[0] : "s01:overall");
    else if (code == -2) {
        const char *colon = memrchr (name, ':', len);
        char subject[SHOW_MAX * 4 + 16];
        SHOW (subject, name, (size_t) (colon - name));
        snprintf (why, cap, "cell %s: subject %s is not on venue %s's form", shown, subject,
                  self->election->venues[self->venue].id);
    }
    else
        snprintf (why, cap, "unknown cell %s", shown);
}

/*  s is normalised; so is a name before it is compared.  */
static int
category_of (pingyi_input_t *self, const char *s, size_t len)
{
    int c = pingyi_election_category (self->election, s, len);
    if (c >= 0)
        return c;
    for (size_t i = 0; i < self->election->category_count; i++) {
        const char *name = self->election->categories[i].name;
        if (!name)
            continue;
        size_t nlen = strlen (name);
        if (nlen == len && !memcmp (name, s, len))
            return (int) i;
        char norm[256];
        if (nlen < sizeof norm) {
            const char *t = norm;
            size_t tlen = normalize (norm, name, nlen, false);
            trim (&t, &tlen);
            if (tlen == len && !memcmp (t, s, len))
                return (int) i;
        }
    }
    return -1;
}

/*  Normalise a category or cell text into self->norm; *s and *len then
    point there, trimmed.  0, or -1 out of memory.  */
static int
normalize_value (pingyi_input_t *self, const char **s, size_t *len, bool bars)
{
    if (grow_wiped (&self->norm, &self->norm_cap, *len + 1))
        return -1;
    size_t n = normalize (self->norm, *s, *len, bars);
    if (n + 1 > self->norm_used)
        self->norm_used = n + 1; /* wiped once the record is done */
    *s = self->norm;
    *len = n;
    trim (s, len);
    return 0;
}

/*  A choice's label or letter is part (normalised).  */
static bool
choice_is (const pingyi_choice_t *choice, const char *part, size_t part_len)
{
    size_t llen = strlen (choice->label);
    if (llen == part_len && !memcmp (choice->label, part, part_len))
        return true;
    char norm[256];
    if (llen < sizeof norm) {
        const char *t = norm;
        size_t tlen = normalize (norm, choice->label, llen, false);
        trim (&t, &tlen);
        if (tlen == part_len && !memcmp (t, part, part_len))
            return true;
    }
    return choice->letter && strlen (choice->letter) == part_len &&
           !strncasecmp (choice->letter, part, part_len);
}

/*  Add the ticks of one cell text (grades joined by '|', or empty) to *mask.
    0, or -1 with a reason in why.  */
static int
parse_ticks (pingyi_input_t *self, size_t cell, const char *s, size_t len, uint32_t *mask, char *why,
             size_t cap)
{
    const pingyi_item_t *item = &self->election->items[cell % self->item_count];
    const pingyi_choice_set_t *set = &self->election->choice_sets[item->choice_set];
    const char *whole = s;
    size_t whole_len = len;
    if (normalize_value (self, &s, &len, true)) {
        snprintf (why, cap, "out of memory");
        return -1;
    }
    if (!len)
        return 0;
    char shown[SHOW_MAX * 4 + 16];
    for (;;) {
        const char *bar = memchr (s, '|', len);
        size_t part_len = bar ? (size_t) (bar - s) : len;
        const char *part = s;
        trim (&part, &part_len);
        if (!part_len) {
            snprintf (why, cap, "empty grade in %s for %s", SHOW (shown, whole, whole_len),
                      self->cell_names[cell]);
            return -1;
        }
        long found = -1;
        for (size_t c = 0; c < set->choice_count && found < 0; c++)
            if (choice_is (&set->choices[c], part, part_len))
                found = (long) c;
        if (found < 0 && is_check_mark (part, part_len)) {
            /*  A tick means something only in a column per choice; here the
                column is the item and its value names the choice.  */
            snprintf (why, cap,
                      "check mark %s for %s is not a grade: write the ticked grade itself (expected %s)",
                      SHOW (shown, part, part_len), self->cell_names[cell], self->expect[item->choice_set]);
            return -1;
        }
        if (found < 0) {
            snprintf (why, cap, "unknown grade %s for %s (expected %s)", SHOW (shown, part, part_len),
                      self->cell_names[cell], self->expect[item->choice_set]);
            return -1;
        }
        if (*mask & (UINT32_C (1) << found)) {
            snprintf (why, cap, "grade %s given twice for %s", SHOW (shown, part, part_len),
                      self->cell_names[cell]);
            return -1;
        }
        *mask |= UINT32_C (1) << found;
        if (!bar)
            return 0;
        len -= (size_t) (bar - s) + 1;
        s = bar + 1;
    }
}

/*  The model has the last word: a ballot we built must be one the workers
    accept.  A failure here is a bug or a definition the form cannot
    express; it still costs one record, not the run.  */
static pingyi_input_result_t
finish_ballot (pingyi_input_t *self, pingyi_ballot_t *ballot)
{
    char err[PINGYI_ERR_MAX];
    if (pingyi_ballot_validate (ballot, self->election, self->venue, err) != PINGYI_REJECT_NONE)
        return report (self, self->record_line, 1, "ballot refused by the model: %s", err);
    return PINGYI_INPUT_BALLOT;
}

/*  ---------------------------------------------------------------------
    CSV  */

static int
grow (void **p, size_t *cap, size_t want, size_t size)
{
    if (want <= *cap)
        return 0;
    size_t n = *cap ? *cap : 64;
    while (n < want)
        n *= 2;
    void *q = realloc (*p, n * size);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

/*  Split a line into fields (RFC 4180 quoting within one line).  Stores at
    most keep fields, counts them all in *count.  0; -1 with *column and
    *why on bad quoting; -2 out of memory.  */
static int
split_csv (pingyi_input_t *self, const uint8_t *line, size_t len, size_t keep, size_t *count, size_t *column,
           const char **why)
{
    if (len + 1 > self->scratch_cap) {
        /*  Nothing in it to keep (it is wiped after every record): a new,
            cleared block.  */
        size_t cap = self->scratch_cap ? self->scratch_cap : 64;
        while (cap < len + 1)
            cap *= 2;
        char *fresh = calloc (1, cap);
        if (!fresh)
            return -2;
        free (self->scratch);
        self->scratch = fresh;
        self->scratch_cap = cap;
    }
    if (grow ((void **) &self->fields, &self->fields_cap, keep + 1, sizeof (span_t)))
        return -2;
    if (len + 1 > self->scratch_used)
        self->scratch_used = len + 1; /* wiped once the record is done */
    size_t i = 0, o = 0, n = 0;
    for (;;) {
        size_t begin = o;
        if (i < len && line[i] == '"') {
            i++;
            for (;;) {
                if (i >= len) {
                    *column = n + 1;
                    *why = "bad quoting: unterminated quoted field";
                    return -1;
                }
                if (line[i] == '"') {
                    if (i + 1 < len && line[i + 1] == '"') {
                        self->scratch[o++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                self->scratch[o++] = (char) line[i++];
            }
            if (i < len && line[i] != ',') {
                *column = n + 1;
                *why = "bad quoting: text after the closing quote";
                return -1;
            }
        }
        else {
            while (i < len && line[i] != ',') {
                if (line[i] == '"') {
                    *column = n + 1;
                    *why = "bad quoting: a quote inside an unquoted field";
                    return -1;
                }
                self->scratch[o++] = (char) line[i++];
            }
        }
        if (n < keep)
            self->fields[n] = (span_t){begin, o - begin};
        n++;
        if (i >= len)
            break;
        i++; /* the comma; a line ending in one has an empty last field */
    }
    *count = n;
    return 0;
}

static pingyi_input_result_t header_fatal (pingyi_input_t *self, char *err, const char *fmt, ...)
    PINGYI_PRINTF (3, 4);

static pingyi_input_result_t
header_fatal (pingyi_input_t *self, char *err, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (self->fatal_err, sizeof self->fatal_err, fmt, ap);
    va_end (ap);
    self->fatal = true;
    if (err)
        snprintf (err, PINGYI_ERR_MAX, "%s", self->fatal_err);
    return PINGYI_INPUT_FATAL;
}

static pingyi_input_result_t
parse_header (pingyi_input_t *self, const uint8_t *line, size_t len, char *err)
{
    size_t count = 0, column = 0;
    const char *why = NULL;
    size_t keep = len + 1; /* every field: the header is the map */
    int rc = split_csv (self, line, len, keep, &count, &column, &why);
    if (rc == -2)
        return header_fatal (self, err, "%s: out of memory reading the header", self->name);
    if (rc == -1) {
        report (self, self->header_line, column, "%s", why);
        return header_fatal (self, err, "%s:%llu:%zu: %s (in the header line)", self->name,
                             (unsigned long long) self->header_line, column, why);
    }
    self->col_cell = calloc (count, sizeof *self->col_cell);
    if (!self->col_cell)
        return header_fatal (self, err, "%s: out of memory reading the header", self->name);
    self->field_count = count;
    size_t errors = 0;
    char shown[SHOW_MAX * 4 + 16], why_buf[512];

    const char *f = self->scratch + self->fields[0].off;
    size_t flen = self->fields[0].len;
    trim (&f, &flen);
    if (flen != 8 || memcmp (f, "category", 8)) {
        report (self, self->header_line, 1, "first column must be \"category\", found %s",
                SHOW (shown, f, flen));
        errors++;
    }
    self->col_cell[0] = -1;
    for (size_t j = 1; j < count; j++) {
        f = self->scratch + self->fields[j].off;
        flen = self->fields[j].len;
        trim (&f, &flen);
        self->col_cell[j] = -1;
        long cell = lookup_cell (self, f, flen);
        if (cell < 0) {
            cell_refusal (self, cell, f, flen, why_buf, sizeof why_buf);
            report (self, self->header_line, j + 1, "%s", why_buf);
            errors++;
        }
        else if (self->cell_col[cell]) {
            report (self, self->header_line, j + 1, "duplicate cell %s (first in column %zu)",
                    SHOW (shown, f, flen), self->cell_col[cell]);
            errors++;
        }
        else {
            self->cell_col[cell] = j + 1;
            self->col_cell[j] = (int) cell;
        }
    }
    size_t missing = 0;
    for (size_t c = 0; c < self->cell_count; c++)
        if (!self->cell_col[c]) {
            report (self, self->header_line, count + 1, "missing cell \"%s\"", self->cell_names[c]);
            missing++;
            errors++;
        }
    if (errors)
        return header_fatal (self, err,
                             "%s: bad CSV header (%zu error%s): it must be \"category\" then each of the %zu "
                             "cells of venue %s's form exactly once, e.g. category,%s,...",
                             self->name, errors, errors == 1 ? "" : "s", self->cell_count,
                             self->election->venues[self->venue].id,
                             self->cell_count ? self->cell_names[0] : "");
    return PINGYI_INPUT_BALLOT; /* the header is good */
}

static pingyi_input_result_t
parse_csv_record (pingyi_input_t *self, const uint8_t *line, size_t len, pingyi_ballot_t *ballot)
{
    size_t count = 0, column = 0;
    const char *why = NULL;
    int rc = split_csv (self, line, len, self->field_count, &count, &column, &why);
    if (rc == -2)
        return report (self, self->record_line, 1, "out of memory");
    if (rc == -1)
        return report (self, self->record_line, column, "%s", why);
    if (count != self->field_count)
        return report (self, self->record_line, (count < self->field_count ? count : self->field_count) + 1,
                       "expected %zu fields, found %zu", self->field_count, count);

    char shown[SHOW_MAX * 4 + 16], why_buf[512];
    const char *f = self->scratch + self->fields[0].off;
    size_t flen = self->fields[0].len;
    if (normalize_value (self, &f, &flen, false))
        return report (self, self->record_line, 1, "out of memory");
    if (!flen)
        return report (self, self->record_line, 1, "missing category (expected %s)", self->category_expect);
    int category = category_of (self, f, flen);
    if (category < 0)
        return report (self, self->record_line, 1, "unknown category %s (expected %s)", SHOW (shown, f, flen),
                       self->category_expect);

    pingyi_ballot_init (ballot, self->election, self->venue);
    ballot->category = (uint32_t) category;
    for (size_t j = 1; j < count; j++) {
        size_t cell = (size_t) self->col_cell[j];
        uint32_t mask = 0;
        if (parse_ticks (self, cell, self->scratch + self->fields[j].off, self->fields[j].len, &mask, why_buf,
                         sizeof why_buf))
            return report (self, self->record_line, j + 1, "%s", why_buf);
        ballot->ticks[cell / self->item_count][cell % self->item_count] = mask;
    }
    return finish_ballot (self, ballot);
}

static pingyi_input_result_t
parse_jsonl_cells (pingyi_input_t *self, json_t *cells, pingyi_ballot_t *ballot)
{
    char shown[SHOW_MAX * 4 + 16], why[512];
    memset (self->seen, 0, self->cell_count);
    const char *key;
    json_t *value;
    json_object_foreach (cells, key, value)
    {
        size_t klen = strlen (key);
        long cell = lookup_cell (self, key, klen);
        if (cell < 0) {
            cell_refusal (self, cell, key, klen, why, sizeof why);
            return report (self, self->record_line, 1, "%s", why);
        }
        uint32_t mask = 0;
        if (json_is_string (value)) {
            if (parse_ticks (self, (size_t) cell, json_string_value (value), json_string_length (value),
                             &mask, why, sizeof why))
                return report (self, self->record_line, 1, "%s", why);
        }
        else if (json_is_array (value)) {
            size_t k;
            json_t *el;
            json_array_foreach (value, k, el)
            {
                if (!json_is_string (el))
                    return report (self, self->record_line, 1,
                                   "cell %s: element %zu must be a string, not %s", SHOW (shown, key, klen),
                                   k, pingyi_json_type (el));
                const char *s = json_string_value (el);
                size_t slen = json_string_length (el);
                const char *t = s;
                size_t tlen = slen;
                trim (&t, &tlen);
                if (!tlen)
                    return report (self, self->record_line, 1,
                                   "cell %s: element %zu is empty (an empty array "
                                   "is a blank cell)",
                                   SHOW (shown, key, klen), k);
                if (parse_ticks (self, (size_t) cell, s, slen, &mask, why, sizeof why))
                    return report (self, self->record_line, 1, "%s", why);
            }
        }
        else
            return report (self, self->record_line, 1,
                           "cell %s must be a string or an array of strings, not %s", SHOW (shown, key, klen),
                           pingyi_json_type (value));
        self->seen[cell] = 1;
        ballot->ticks[(size_t) cell / self->item_count][(size_t) cell % self->item_count] = mask;
    }
    size_t missing = 0, first = 0;
    for (size_t c = 0; c < self->cell_count; c++)
        if (!self->seen[c] && !missing++)
            first = c;
    if (missing == 1)
        return report (self, self->record_line, 1, "missing cell \"%s\"", self->cell_names[first]);
    if (missing)
        return report (self, self->record_line, 1, "missing cell \"%s\" (and %zu more)",
                       self->cell_names[first], missing - 1);
    return PINGYI_INPUT_BALLOT;
}

static pingyi_input_result_t
parse_jsonl_record (pingyi_input_t *self, const uint8_t *line, size_t len, pingyi_ballot_t *ballot)
{
    json_error_t jerr;
    json_t *root = json_loadb ((const char *) line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return report (self, self->record_line, 1, "invalid JSON: %s", jerr.text);
    pingyi_input_result_t rc;
    char shown[SHOW_MAX * 4 + 16];
    if (!json_is_object (root)) {
        rc = report (self, self->record_line, 1, "expected a JSON object, not %s", pingyi_json_type (root));
        goto done;
    }
    const char *key;
    json_t *value;
    json_object_foreach (root, key, value)
    {
        if (strcmp (key, "category") && strcmp (key, "cells")) {
            rc = report (self, self->record_line, 1, "unknown key %s (expected \"category\" and \"cells\")",
                         SHOW (shown, key, strlen (key)));
            goto done;
        }
    }
    json_t *category = json_object_get (root, "category");
    if (!category) {
        rc = report (self, self->record_line, 1, "missing \"category\" (expected %s)", self->category_expect);
        goto done;
    }
    if (!json_is_string (category)) {
        rc = report (self, self->record_line, 1, "\"category\" must be a string, not %s",
                     pingyi_json_type (category));
        goto done;
    }
    const char *cs = json_string_value (category);
    size_t clen = json_string_length (category);
    if (normalize_value (self, &cs, &clen, false)) {
        rc = report (self, self->record_line, 1, "out of memory");
        goto done;
    }
    int c = category_of (self, cs, clen);
    if (c < 0) {
        rc = report (self, self->record_line, 1, "unknown category %s (expected %s)", SHOW (shown, cs, clen),
                     self->category_expect);
        goto done;
    }
    json_t *cells = json_object_get (root, "cells");
    if (!cells) {
        rc = report (self, self->record_line, 1, "missing \"cells\"");
        goto done;
    }
    if (!json_is_object (cells)) {
        rc = report (self, self->record_line, 1, "\"cells\" must be an object, not %s",
                     pingyi_json_type (cells));
        goto done;
    }
    pingyi_ballot_init (ballot, self->election, self->venue);
    ballot->category = (uint32_t) c;
    rc = parse_jsonl_cells (self, cells, ballot);
    if (rc == PINGYI_INPUT_BALLOT)
        rc = finish_ballot (self, ballot);
done:
    json_decref (root);
    return rc;
}

/*  ---------------------------------------------------------------------
    Records  */

/*  The CSV field (1-based) that byte at of a raw line is in.  In GB18030 a
    ',' or '"' byte is always that character (trail bytes are 0x30..0x39
    and 0x40..0xfe), so the raw bytes can be split like UTF-8.  */
static size_t
field_at (const uint8_t *line, size_t at)
{
    size_t field = 1;
    bool quoted = false;
    for (size_t i = 0; i < at; i++)
        if (line[i] == '"')
            quoted = !quoted;
        else if (line[i] == ',' && !quoted)
            field++;
    return field;
}

static bool
has_non_ascii (const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] & 0x80)
            return true;
    return false;
}

static const char *
encoding_name (pingyi_input_encoding_t e)
{
    return e == PINGYI_ENCODING_GB18030 ? "GB18030" : "UTF-8";
}

/*  A regular file in AUTO: judge its first PINGYI_INPUT_DETECT_MAX bytes
    (the whole file when smaller) before any line is taken.  false while
    more bytes are needed.  */
static bool
detect_file (pingyi_input_t *self)
{
    size_t avail = self->end - self->start;
    if (!self->finished && avail < PINGYI_INPUT_DETECT_MAX)
        return false;
    if (avail == 0) {
        self->decided = PINGYI_ENCODING_UTF8; /* an empty file: nothing to judge (buf may be NULL) */
        return true;
    }
    const uint8_t *p = self->buf + self->start;
    size_t n = avail < PINGYI_INPUT_DETECT_MAX ? avail : PINGYI_INPUT_DETECT_MAX;
    if (n < avail || !self->finished) {
        /*  A prefix: judge whole lines only, never a cut sequence.  */
        const uint8_t *nl = memrchr (p, '\n', n);
        if (nl)
            n = (size_t) (nl - p) + 1;
    }
    if (n >= 3 && !memcmp (p, "\xef\xbb\xbf", 3)) {
        self->decided = PINGYI_ENCODING_UTF8;
        return true;
    }
    size_t at = pingyi_utf8_invalid_at (p, n);
    if (at == n) {
        self->decided = PINGYI_ENCODING_UTF8;
        return true;
    }
    self->decided = PINGYI_ENCODING_GB18030;
    uint64_t line = self->line_no + 1;
    for (size_t i = 0; i < at; i++)
        line += p[i] == '\n';
    pingyi_log ("info",
                "%s: not UTF-8 (line %llu): read as GB18030 (GBK); if that is wrong, give --encoding utf-8",
                self->name, (unsigned long long) line);
    return true;
}

/*  Convert one line to UTF-8 in place of *line / *len.  0; 1 when it is not
    valid in the input's encoding (*bad_at: the offset of the first bad
    byte); -1 when GB18030 cannot be converted at all (fatal_err says why).  */
static int
decode_line (pingyi_input_t *self, const uint8_t **line, size_t *len, size_t *bad_at)
{
    if (!has_non_ascii (*line, *len))
        return 0; /* ASCII is the same in both */
    if (self->decided == PINGYI_ENCODING_AUTO) {
        /*  Live input: its first line that is not ASCII decides.  */
        self->decided = self->bom || pingyi_utf8_invalid_at (*line, *len) == *len ? PINGYI_ENCODING_UTF8
                                                                           : PINGYI_ENCODING_GB18030;
        pingyi_log ("info",
                    "%s: line %llu is the first that is not ASCII: reading the input as %s%s; "
                    "give --encoding %s if that is wrong",
                    self->name, (unsigned long long) self->line_no, encoding_name (self->decided),
                    self->decided == PINGYI_ENCODING_GB18030 ? " (GBK)" : "",
                    self->decided == PINGYI_ENCODING_GB18030 ? "utf-8" : "gb18030");
    }
    if (self->decided == PINGYI_ENCODING_UTF8) {
        *bad_at = pingyi_utf8_invalid_at (*line, *len);
        return *bad_at < *len;
    }
    if (self->cd == (iconv_t) -1 && (self->cd = iconv_open ("UTF-8", "GB18030")) == (iconv_t) -1) {
        snprintf (self->fatal_err, sizeof self->fatal_err,
                  "%.120s: cannot convert GB18030 to UTF-8 here: %.40s", self->name, strerror (errno));
        return -1;
    }
    /*  GB18030 takes 1, 2 or 4 bytes a character, UTF-8 at most 4 and at
        most 1.5 times as many for the same text.  */
    if (grow_wiped (&self->conv, &self->conv_cap, 2 * *len + 16)) {
        snprintf (self->fatal_err, sizeof self->fatal_err, "%.160s: out of memory", self->name);
        return -1;
    }
    iconv (self->cd, NULL, NULL, NULL, NULL);
    char *in = (char *) *line, *out = self->conv;
    size_t in_left = *len, out_left = self->conv_cap;
    size_t rc = iconv (self->cd, &in, &in_left, &out, &out_left);
    size_t used = self->conv_cap - out_left;
    if (used > self->conv_used)
        self->conv_used = used; /* wiped once the record is done */
    if (rc == (size_t) -1) {
        *bad_at = (size_t) ((const uint8_t *) in - *line);
        return 1;
    }
    const uint8_t *text = (const uint8_t *) self->conv;
    /*  GB18030's byte order mark (84 31 95 33) is U+FEFF: dropped like
        UTF-8's.  */
    if (self->line_no == 1 && used >= 3 && !memcmp (text, "\xef\xbb\xbf", 3)) {
        text += 3;
        used -= 3;
    }
    *line = text;
    *len = used;
    return 0;
}

/*  Excel's cleared rows: only separators and spaces (U+3000 and U+00A0
    among them).  Not records.  */
static bool
is_empty_row (const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (s[i] == ',' || s[i] == ' ' || s[i] == '\t')
            i++;
        else if (len - i >= 3 && !memcmp (s + i, "\xe3\x80\x80", 3))
            i += 3;
        else if (len - i >= 2 && !memcmp (s + i, "\xc2\xa0", 2))
            i += 2;
        else
            return false;
    }
    return true;
}

#define STEP_AGAIN ((pingyi_input_result_t) 100)

/*  One line: a record's result, STEP_AGAIN for a line that is no record
    (blank, empty row, the header), MORE, END or FATAL.  */
static pingyi_input_result_t
step (pingyi_input_t *self, pingyi_ballot_t *ballot, char *err)
{
    const uint8_t *line = NULL;
    size_t len = 0;
    bool overlong;
    if (!take_line (self, &line, &len, &overlong)) {
        if (!self->finished || self->start != self->end || self->discarding)
            return PINGYI_INPUT_MORE;
        if (!self->header_done)
            return header_fatal (self, err,
                                 "%s:%llu:1: no header line: a CSV input starts with "
                                 "\"category\" and the cells of venue %s's form, e.g. category,%s,...",
                                 self->name, (unsigned long long) self->line_no + 1,
                                 self->election->venues[self->venue].id,
                                 self->cell_count ? self->cell_names[0] : "");
        return PINGYI_INPUT_END;
    }
    if (!overlong && is_blank_line (line, len))
        return STEP_AGAIN;
    const uint8_t *text = line;
    size_t text_len = len, bad_at = 0;
    int bad_encoding = 0;
    if (!overlong) {
        bad_encoding = decode_line (self, &text, &text_len, &bad_at);
        if (bad_encoding < 0) {
            self->fatal = true;
            if (err)
                snprintf (err, PINGYI_ERR_MAX, "%s", self->fatal_err);
            return PINGYI_INPUT_FATAL;
        }
        if (!bad_encoding && self->format == PINGYI_INPUT_CSV && is_empty_row (text, text_len))
            return STEP_AGAIN;
    }
    size_t bad_column = 1;
    char encoding_why[160] = "";
    if (bad_encoding) {
        if (self->format == PINGYI_INPUT_CSV)
            bad_column = field_at (line, bad_at);
        snprintf (encoding_why, sizeof encoding_why,
                  "not valid %s (use --encoding %s, or re-save the file as UTF-8)",
                  encoding_name (self->decided),
                  self->decided == PINGYI_ENCODING_GB18030 ? "utf-8" : "gb18030");
    }
    if (!self->header_done) {
        self->header_line = self->line_no;
        if (overlong)
            return header_fatal (self, err, "%s:%llu:1: header line longer than %u bytes", self->name,
                                 (unsigned long long) self->line_no, PINGYI_INPUT_LINE_MAX);
        if (bad_encoding) {
            report (self, self->header_line, bad_column, "%s", encoding_why);
            return header_fatal (self, err, "%s:%llu:%zu: %s (in the header line)", self->name,
                                 (unsigned long long) self->header_line, bad_column, encoding_why);
        }
        digest_line (self, line, len);
        pingyi_input_result_t rc = parse_header (self, text, text_len, err);
        if (rc != PINGYI_INPUT_BALLOT)
            return rc;
        self->header_done = true;
        return STEP_AGAIN;
    }
    self->records++;
    self->record_line = self->line_no;
    if (overlong) {
        digest_line (self, (const uint8_t *) "\0overlong", 9);
        return report (self, self->record_line, 1, "line longer than %u bytes", PINGYI_INPUT_LINE_MAX);
    }
    digest_line (self, line, len); /* the bytes as given */
    if (bad_encoding)
        return report (self, self->record_line, bad_column, "%s", encoding_why);
    if (self->format == PINGYI_INPUT_CSV)
        return parse_csv_record (self, text, text_len, ballot);
    return parse_jsonl_record (self, text, text_len, ballot);
}

/*  The first-lines gate: read ahead, without taking anything, until a good
    record, PINGYI_INPUT_PROBE_LINES bad ones, or the end.  Bad lines are
    reported as they are met (and only once: report() remembers).  0 the
    input may be taken; 1 more bytes are needed; -1 all bad (*bad of
    them).  */
#define GATE_BUFFER_MAX (64u << 20) /* read ahead no further: take the input */

static int
gate (pingyi_input_t *self, size_t *bad)
{
    size_t start = self->start;
    uint64_t line_no = self->line_no, records = self->records, record_line = self->record_line;
    bool discarding = self->discarding;
    crypto_hash_sha256_state digest = self->digest;
    pingyi_ballot_t probe;
    int verdict;
    *bad = 0;
    for (;;) {
        pingyi_input_result_t r = step (self, &probe, NULL);
        if (r == STEP_AGAIN)
            continue;
        if (r == PINGYI_INPUT_BAD && ++*bad < PINGYI_INPUT_PROBE_LINES)
            continue;
        if (r == PINGYI_INPUT_BAD || (r == PINGYI_INPUT_END && *bad))
            verdict = -1;
        else if (r == PINGYI_INPUT_MORE && self->end - start < GATE_BUFFER_MAX)
            verdict = 1;
        else
            verdict = 0; /* a good record, an empty input, or a fatal the caller meets again */
        break;
    }
    self->start = start;
    self->line_no = line_no;
    self->records = records;
    self->record_line = record_line;
    self->discarding = discarding;
    self->digest = digest;
    sodium_memzero (&probe, sizeof probe);
    sodium_memzero (&digest, sizeof digest);
    return verdict;
}

static pingyi_input_result_t
next_record (pingyi_input_t *self, pingyi_ballot_t *ballot, char *err)
{
    if (self->fatal) {
        if (err)
            snprintf (err, PINGYI_ERR_MAX, "%s", self->fatal_err);
        return PINGYI_INPUT_FATAL;
    }
    if (self->decided == PINGYI_ENCODING_AUTO && self->file && !detect_file (self))
        return PINGYI_INPUT_MORE;
    for (;;) {
        if (self->header_done && !self->gate_passed) {
            size_t bad = 0;
            int g = gate (self, &bad);
            if (g > 0)
                return PINGYI_INPUT_MORE;
            if (g < 0) {
                char what[96];
                if (bad == PINGYI_INPUT_PROBE_LINES)
                    snprintf (what, sizeof what, "the first %zu lines after the header are all bad", bad);
                else
                    snprintf (what, sizeof what, "all %zu line%s after the header %s bad", bad,
                              bad == 1 ? "" : "s", bad == 1 ? "is" : "are");
                return header_fatal (
                    self, err,
                    "%s: %s, so nothing was taken: is it in another encoding (give --encoding "
                    "gb18030 or --encoding utf-8) or not made from venue %s's template?",
                    self->name, what, self->election->venues[self->venue].id);
            }
            self->gate_passed = true;
        }
        pingyi_input_result_t r = step (self, ballot, err);
        if (r != STEP_AGAIN)
            return r;
    }
}

pingyi_input_result_t
pingyi_input_next (pingyi_input_t *self, pingyi_ballot_t *ballot, char *err)
{
    pingyi_input_result_t r = next_record (self, ballot, err);
    /*  The lines consumed (the record's, blank ones, the header) and what
        was unquoted from them are of no use any more.  */
    if (self->buf && self->start > self->wiped) {
        sodium_memzero (self->buf + self->wiped, self->start - self->wiped);
        self->wiped = self->start;
    }
    if (self->scratch && self->scratch_used) {
        sodium_memzero (self->scratch, self->scratch_used);
        self->scratch_used = 0;
    }
    if (self->conv && self->conv_used) {
        sodium_memzero (self->conv, self->conv_used);
        self->conv_used = 0;
    }
    if (self->norm && self->norm_used) {
        sodium_memzero (self->norm, self->norm_used);
        self->norm_used = 0;
    }
    return r;
}
