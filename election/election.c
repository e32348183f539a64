/*  election.c — the election definition: parse, validate, look up, print,
    generate.

    The definition file is hostile input: it is checked here, once, and every
    problem found is reported (not only the first), each as one line
    "JSON.path: reason" an operator can act on.  A model is returned only when
    there is no error at all; from then on it is read-only and trusted by
    every process, so the checks below are where the model's invariants are
    made:

    - every index stored (unit.district, subject.unit, venue.subjects[],
      item.choice_set) is in range;
    - ids are unique per collection, 1..PINGYI_ID_MAX bytes of UTF-8 with no
      control characters, no '/' or '\', not "." or "..", no leading '-',
      and no whitespace or invisible format character (bidirectional,
      zero-width) anywhere (venue ids become directory names in a deploy
      directory, and every id a keyring field and a CSV header);
    - a choice's points are finite and in -1000..1000, a category's weight
      in 0..1000, so no score overflows;
    - every bound of election.h holds, and any ballot a venue's form allows
      encodes within PINGYI_BODY_MAX bytes;
    - venue.shard < shard_count.

    The fingerprint is the SHA-256 of the file's exact bytes, so reformatting a
    file makes a different election: indices are fixed by the bytes.  A UTF-8
    BOM is skipped for parsing only (it stays in the fingerprint); a file
    that is not UTF-8 is refused naming its first bad byte.

    Error lines name an entity after its index when it has a valid name
    ("subjects[5] (张三).unit: ..."); an unknown key near a known one gets a
    suggestion.  pingyi_election_warnings holds the rules for definitions
    that are valid but probably wrong.

    Look-ups by id (venue, subject, category) go through open-addressing hash
    indexes kept beside the public struct: the worker looks a venue up for
    every envelope.  The model is therefore always allocated by
    pingyi_election_parse; never build a pingyi_election_t by hand.  */
#define _GNU_SOURCE
#include "election.h"
#include "ballot.h"
#include "count.h"
#include "msg.h"
#include "json_text.h"
#include "quote.h"
#include "table.h"

#include <assert.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define ERRORS_MAX 1000      /* lines kept; past this only counted */
#define TEXT_MAX 512         /* title, names: bytes */
#define LETTER_MAX 8         /* a choice's letter: bytes */
#define CHOICE_SETS_MAX 16   /* "choice_sets" entries besides "grades" */
#define COLLECTION_MAX 65535 /* districts, units, subjects, venues */
#define PATH_MAX_ 320        /* a JSON path we build: our keys, indices and names */
#define SUGGEST_KEY_MAX 64   /* unknown keys longer than this get no suggestion */
/*  A choice's points and a category's weight stay small enough that every
    score, weighted or not, is a finite number printed without exponent
    (docs/election-definition.md, "Choice" and "Category").  */
#define POINTS_MAX 1000 /* points in -POINTS_MAX..POINTS_MAX */
#define WEIGHT_MAX 1000 /* weight in 0..WEIGHT_MAX */

/*  ---------------------------------------------------------------------
    Error lists  */

void
pingyi_errlist_add (pingyi_errlist_t *self, const char *fmt, ...)
{
    char *line = NULL;
    va_list ap;
    va_start (ap, fmt);
    int rc = vasprintf (&line, fmt, ap);
    va_end (ap);
    if (rc < 0)
        return; /* out of memory: the line is lost, nothing else is */
    char **grown = realloc (self->lines, (self->count + 1) * sizeof *grown);
    if (!grown) {
        free (line);
        return;
    }
    self->lines = grown;
    self->lines[self->count++] = line;
}

void
pingyi_errlist_clear (pingyi_errlist_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        free (self->lines[i]);
    free (self->lines);
    self->lines = NULL;
    self->count = 0;
}

const char *
pingyi_unit_kind_name (pingyi_unit_kind_t kind)
{
    switch (kind) {
    case PINGYI_UNIT_TOWN:
        return "town";
    case PINGYI_UNIT_DEPARTMENT:
        return "department";
    case PINGYI_UNIT_ENTERPRISE:
        return "enterprise";
    case PINGYI_UNIT_SCHOOL:
        return "school";
    case PINGYI_UNIT_OTHER:
        return "other";
    }
    return "unknown";
}

static const char *const ITEM_KINDS[PINGYI_KIND_COUNT_] = {"graded", "yes_no", "plurality", "approval"};

const char *
pingyi_item_kind_name (pingyi_item_kind_t kind)
{
    return (unsigned) kind < PINGYI_KIND_COUNT_ ? ITEM_KINDS[kind] : "unknown";
}

/*  ---------------------------------------------------------------------
    Id indexes: open addressing over an array of structs whose first member
    is `char *id` (every model struct is laid out that way).  Slots hold
    index + 1; 0 is empty.  Capacity is a power of two at least twice the
    count, so a probe always ends.  */

typedef struct {
    const void *base;
    size_t stride;
    uint32_t *slots;
    size_t mask;
} id_index_t;

static uint64_t
fnv1a (const char *s, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t) s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

uint32_t
pingyi_election_hash_shard (const char *id, size_t len, uint32_t shard_count)
{
    if (shard_count == 0)
        return 0;
    return (uint32_t) (fnv1a (id, len) % shard_count);
}

static int
index_init (id_index_t *ix, const void *base, size_t stride, size_t n)
{
    size_t cap = 8;
    while (cap < 2 * n)
        cap <<= 1;
    ix->base = base;
    ix->stride = stride;
    ix->mask = cap - 1;
    ix->slots = calloc (cap, sizeof *ix->slots);
    return ix->slots ? 0 : -1;
}

static void
index_free (id_index_t *ix)
{
    free (ix->slots);
    ix->slots = NULL;
}

static const char *
index_id (const id_index_t *ix, size_t i)
{
    return *(char *const *) ((const char *) ix->base + i * ix->stride);
}

static int
index_find (const id_index_t *ix, const char *id, size_t len)
{
    if (!ix->slots || !id)
        return -1;
    for (size_t h = fnv1a (id, len) & ix->mask;; h = (h + 1) & ix->mask) {
        uint32_t slot = ix->slots[h];
        if (!slot)
            return -1;
        const char *candidate = index_id (ix, slot - 1);
        if (strlen (candidate) == len && memcmp (candidate, id, len) == 0)
            return (int) (slot - 1);
    }
}

/*  Insert entry i (its id must not be in the index yet).  */
static void
index_put (id_index_t *ix, size_t i)
{
    const char *id = index_id (ix, i);
    size_t h = fnv1a (id, strlen (id)) & ix->mask;
    while (ix->slots[h])
        h = (h + 1) & ix->mask;
    ix->slots[h] = (uint32_t) i + 1;
}

/*  The model as allocated: the public struct first, so the two pointers
    convert both ways.  */
typedef struct {
    pingyi_election_t pub;
    id_index_t venues;
    id_index_t subjects;
    id_index_t categories;
} election_t;

/*  ---------------------------------------------------------------------
    Parsing context and error lines  */

typedef struct {
    pingyi_errlist_t *errs;
    size_t errors; /* every error found, also those not kept */
    election_t *e;
    id_index_t sets, items, districts, units; /* only while parsing */
    bool extract; /* a venue extract: districts, units, subjects, venues carry "index" */
    const char *extract_venue_id;
    bool grades_given; /* the key "grades" is there (a broken one was reported on its own) */
} parse_t;

static void perr (parse_t *p, const char *path, const char *fmt, ...) PINGYI_PRINTF (3, 4);

/*  One error line.  The root of the document is called "definition".  */
static void
perr (parse_t *p, const char *path, const char *fmt, ...)
{
    p->errors++;
    if (!p->errs || p->errors > ERRORS_MAX)
        return;
    char reason[PINGYI_ERR_MAX * 2];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (reason, sizeof reason, fmt, ap);
    va_end (ap);
    pingyi_errlist_add (p->errs, "%s: %s", *path ? path : "definition", reason);
}

/*  Text taken from the file, for an error line (text/quote.h): at most
    PINGYI_QUOTE_SHOWN bytes, escaped.  quote () marks it off with double
    quotes and a "..." after them when cut; shown () is for a name inside a
    path, already in parentheses.  */
typedef struct {
    char s[PINGYI_QUOTE_SIZE (PINGYI_QUOTE_SHOWN)];
} quoted_t;

static quoted_t
shown (const char *text)
{
    quoted_t q;
    pingyi_quote_as (q.s, sizeof q.s, text, strlen (text), PINGYI_QUOTE_SHOWN, PINGYI_QUOTE_BARE);
    return q;
}

static quoted_t
quote (const char *text)
{
    quoted_t q;
    pingyi_quote_as (q.s, sizeof q.s, text, strlen (text), PINGYI_QUOTE_SHOWN, PINGYI_QUOTE_CUT_OUTSIDE);
    return q;
}

/*  Paths are built from our own keys and indices, so they fit; were one
    ever cut short, the error line would only be less precise.  */
static void
path_key (char *out, const char *path, const char *key)
{
    if (snprintf (out, PATH_MAX_, *path ? "%s.%s" : "%s%s", path, key) >= PATH_MAX_)
        out[PATH_MAX_ - 1] = '\0';
}

static void
path_at (char *out, const char *path, size_t i)
{
    if (snprintf (out, PATH_MAX_, "%s[%zu]", path, i) >= PATH_MAX_)
        out[PATH_MAX_ - 1] = '\0';
}

/*  Edit distance between a and b (optimal string alignment: insertions,
    deletions, substitutions and swaps of two neighbours cost 1), on bytes;
    both at most SUGGEST_KEY_MAX bytes.  */
static size_t
edit_distance (const char *a, size_t n, const char *b, size_t m)
{
    size_t d[SUGGEST_KEY_MAX + 1][SUGGEST_KEY_MAX + 1];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

/*  The known key closest to a misspelt one, if it is within edit distance
    2 and the edit does not replace the whole of the known key ("x" is not a
    misspelling of "id"); the first such key on a tie.  NULL if none.  */
static const char *
suggest_key (const char *key, const char *const *known)
{
    size_t n = strlen (key), best = 3;
    const char *found = NULL;
    if (n > SUGGEST_KEY_MAX)
        return NULL;
    for (size_t i = 0; known[i]; i++) {
        size_t m = strlen (known[i]);
        if (m > SUGGEST_KEY_MAX || (n > m ? n - m : m - n) > 2)
            continue;
        size_t d = edit_distance (key, n, known[i], m);
        if (d < best && d < m) {
            best = d;
            found = known[i];
        }
    }
    return found;
}

/*  Report every key of obj not in known (NULL-terminated), with the known
    key it is probably a misspelling of.  Keys starting with "_" are
    comments and are ignored at every level.  */
static void
check_keys (parse_t *p, const char *path, json_t *obj, const char *const *known)
{
    const char *key;
    json_t *value;
    json_object_foreach (obj, key, value)
    {
        if (key[0] == '_')
            continue;
        bool found = false;
        for (size_t i = 0; known[i] && !found; i++)
            found = strcmp (key, known[i]) == 0;
        if (found)
            continue;
        const char *guess = suggest_key (key, known);
        if (guess)
            perr (p, path, "unknown key %s (did you mean \"%s\"?)", quote (key).s, guess);
        else
            perr (p, path, "unknown key %s", quote (key).s);
    }
}

/*  obj[key], or NULL; a missing required key is an error.  */
static json_t *
member (parse_t *p, const char *path, json_t *obj, const char *key, bool required)
{
    json_t *v = json_object_get (obj, key);
    if (!v && required)
        perr (p, path, "missing \"%s\"", key);
    return v;
}

/*  An object at path, or NULL after an error.  */
static bool
is_object (parse_t *p, const char *path, json_t *v)
{
    if (json_is_object (v))
        return true;
    perr (p, path, "must be an object, not %s", pingyi_json_type (v));
    return false;
}

/*  UTF-8 text (jansson has checked the encoding) free of C0, DEL and C1
    control characters.  */
static bool
has_control (const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t) s[i];
        if (c < 0x20 || c == 0x7f)
            return true;
        if (c == 0xc2 && i + 1 < len && (uint8_t) s[i + 1] >= 0x80 && (uint8_t) s[i + 1] <= 0x9f)
            return true;
    }
    return false;
}

/*  Name the element at path after its index when it has a valid "name"
    (non-empty text, no control characters, at most TEXT_MAX bytes), so an
    operator sees which entity is meant: "subjects[5] (张三)".  The JSON path
    itself is unchanged; the name is shown cut and escaped like quoted text.  */
static void
path_name (char *at, const char *name)
{
    if (!name || !*name)
        return;
    size_t used = strlen (at);
    if (snprintf (at + used, PATH_MAX_ - used, " (%s)", shown (name).s) >= (int) (PATH_MAX_ - used))
        at[used] = '\0'; /* does not fit: the plain path */
}

static void
path_named (char *at, json_t *obj)
{
    json_t *v = json_object_get (obj, "name");
    if (!json_is_string (v))
        return;
    size_t len = json_string_length (v);
    if (len == 0 || len > TEXT_MAX || has_control (json_string_value (v), len))
        return;
    path_name (at, json_string_value (v));
}

/*  A JSON number, finite, in lo..hi.  */
static bool
in_range (json_t *v, double lo, double hi)
{
    if (!json_is_number (v))
        return false;
    double x = json_number_value (v);
    return isfinite (x) && x >= lo && x <= hi;
}

/*  A string member checked as text (title, names, letters): copied, or NULL
    (after an error unless it was optional and absent).  */
static char *
get_text (parse_t *p, const char *path, json_t *obj, const char *key, bool required, size_t max)
{
    json_t *v = member (p, path, obj, key, required);
    if (!v)
        return NULL;
    char at[PATH_MAX_];
    path_key (at, path, key);
    if (!json_is_string (v)) {
        perr (p, at, "must be a string, not %s", pingyi_json_type (v));
        return NULL;
    }
    const char *s = json_string_value (v);
    size_t len = json_string_length (v);
    if (len == 0) {
        perr (p, at, "must not be empty");
        return NULL;
    }
    if (len > max) {
        perr (p, at, "must be at most %zu bytes, got %zu", max, len);
        return NULL;
    }
    if (has_control (s, len)) {
        perr (p, at, "must not contain control characters");
        return NULL;
    }
    char *copy = strdup (s);
    if (!copy)
        perr (p, at, "out of memory");
    return copy;
}

/*  The code point at s[*i] (valid UTF-8: jansson has checked it), and *i
    moved past it.  */
static uint32_t
utf8_next (const char *s, size_t len, size_t *i)
{
    const uint8_t *u = (const uint8_t *) s + *i;
    size_t left = len - *i;
    if (u[0] < 0x80 || left < 2) {
        *i += 1;
        return u[0];
    }
    if (u[0] < 0xe0) {
        *i += 2;
        return (uint32_t) (u[0] & 0x1f) << 6 | (u[1] & 0x3f);
    }
    if (u[0] < 0xf0 && left >= 3) {
        *i += 3;
        return (uint32_t) (u[0] & 0x0f) << 12 | (uint32_t) (u[1] & 0x3f) << 6 | (u[2] & 0x3f);
    }
    if (left < 4) {
        *i = len;
        return 0xfffd;
    }
    *i += 4;
    return (uint32_t) (u[0] & 0x07) << 18 | (uint32_t) (u[1] & 0x3f) << 12 | (uint32_t) (u[2] & 0x3f) << 6 |
           (u[3] & 0x3f);
}

/*  Why code point cp may not be in an id, or NULL if it may.  Ids become
    directory and file names, keyring fields and CSV headers, and are typed
    on command lines: a space splits a shell word, and a character that
    draws nothing or reorders the text around it (U+202E shows "v1<RLO>fdp"
    as "v1pdf") makes two ids that look alike, or one that looks like
    another, on every screen.  Ids are codes; names carry the text.  The
    list is Unicode's White_Space (its controls are refused before, as
    control characters) and the default-ignorable format characters of
    category Cf.  */
static const char *
id_refused (uint32_t cp)
{
    static const struct {
        uint32_t lo, hi;
        const char *what;
    } refused[] = {
        {0x0020, 0x0020, "a space"},
        {0x00a0, 0x00a0, "a space"},
        {0x00ad, 0x00ad, "an invisible format character"},
        {0x034f, 0x034f, "an invisible format character"},
        {0x061c, 0x061c, "a bidirectional control"},
        {0x115f, 0x1160, "an invisible format character"},
        {0x1680, 0x1680, "a space"},
        {0x17b4, 0x17b5, "an invisible format character"},
        {0x180b, 0x180d, "an invisible format character"},
        {0x180e, 0x180e, "an invisible format character"},
        {0x2000, 0x200a, "a space"},
        {0x200b, 0x200d, "a zero-width character"},
        {0x200e, 0x200f, "a bidirectional control"},
        {0x2028, 0x2029, "a line or paragraph separator"},
        {0x202a, 0x202e, "a bidirectional control"},
        {0x202f, 0x202f, "a space"},
        {0x205f, 0x205f, "a space"},
        {0x2060, 0x2060, "a zero-width character"},
        {0x2061, 0x2064, "an invisible format character"},
        {0x2065, 0x2065, "an invisible format character"},
        {0x2066, 0x2069, "a bidirectional control"},
        {0x206a, 0x206f, "an invisible format character"},
        {0x3000, 0x3000, "a space"},
        {0x3164, 0x3164, "an invisible format character"},
        {0xfe00, 0xfe0f, "an invisible format character"},
        {0xfeff, 0xfeff, "a zero-width character"},
        {0xffa0, 0xffa0, "an invisible format character"},
        {0xfff9, 0xfffb, "an invisible format character"},
        {0x1d173, 0x1d17a, "an invisible format character"},
        {0xe0000, 0xe0fff, "an invisible format character"},
    };
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++)
        if (cp >= refused[k].lo && cp <= refused[k].hi)
            return refused[k].what;
    return NULL;
}

/*  Check an id string at path; returns its text (inside the JSON) or NULL.
    The safe set is docs/election-definition.md "Ids and text".  */
static const char *
check_id (parse_t *p, const char *at, json_t *v)
{
    if (!json_is_string (v)) {
        perr (p, at, "must be a string, not %s", pingyi_json_type (v));
        return NULL;
    }
    const char *s = json_string_value (v);
    size_t len = json_string_length (v);
    if (len < 1 || len > PINGYI_ID_MAX) {
        perr (p, at, "must be 1 to %d bytes, got %zu", PINGYI_ID_MAX, len);
        return NULL;
    }
    if (has_control (s, len)) {
        perr (p, at, "must not contain control characters");
        return NULL;
    }
    if (strchr (s, '/') || strchr (s, '\\')) {
        perr (p, at, "must not contain '/' or '\\'");
        return NULL;
    }
    if (!strcmp (s, ".") || !strcmp (s, "..")) {
        perr (p, at, "must not be \".\" or \"..\"");
        return NULL;
    }
    if (s[0] == '-') {
        perr (p, at, "must not start with '-' (it would read as an option on a command line)");
        return NULL;
    }
    for (size_t i = 0; i < len;) {
        uint32_t cp = utf8_next (s, len, &i);
        const char *what = id_refused (cp);
        if (what) {
            perr (p, at, "contains U+%04" PRIX32 " (%s), not allowed in an id", cp, what);
            return NULL;
        }
    }
    return s;
}

/*  The "id" of an element: checked, copied into *out, and checked unique
    against the entries before it (ix, whose entries are named like
    "units[2]").  Duplicates are reported against the first occurrence.  */
static void
get_own_id (parse_t *p, const char *path, json_t *obj, id_index_t *ix, size_t i, char **out,
            const char *collection)
{
    json_t *v = member (p, path, obj, "id", true);
    if (!v)
        return;
    char at[PATH_MAX_];
    path_key (at, path, "id");
    const char *s = check_id (p, at, v);
    if (!s)
        return;
    int first = index_find (ix, s, strlen (s));
    if (first >= 0) {
        perr (p, at, "duplicate id %s (first at %s[%d])", quote (s).s, collection, first);
        return;
    }
    *out = strdup (s);
    if (!*out) {
        perr (p, at, "out of memory");
        return;
    }
    index_put (ix, i);
}

/*  A reference by id to an entry of ix: its index, or SIZE_MAX after an
    error ("unknown unit \"u9\"").  */
static size_t
get_ref (parse_t *p, const char *at, json_t *v, id_index_t *ix, const char *what)
{
    const char *s = check_id (p, at, v);
    if (!s)
        return SIZE_MAX;
    if (!ix->slots)
        return SIZE_MAX; /* the whole collection is missing or broken: reported once, there */
    int i = index_find (ix, s, strlen (s));
    if (i < 0) {
        perr (p, at, "unknown %s %s", what, quote (s).s);
        return SIZE_MAX;
    }
    return (size_t) i;
}

static bool
get_bool (parse_t *p, const char *path, json_t *obj, const char *key, bool dflt)
{
    json_t *v = member (p, path, obj, key, false);
    if (!v)
        return dflt;
    if (json_is_boolean (v))
        return json_is_true (v);
    char at[PATH_MAX_];
    path_key (at, path, key);
    perr (p, at, "must be true or false, not %s", pingyi_json_type (v));
    return dflt;
}

/*  An array member with min..max elements, or NULL after an error.  Arrays
    over max are not parsed further: their size alone is the error, and
    skipping them bounds what a hostile file makes us allocate.  */
static json_t *
get_array (parse_t *p, const char *path, json_t *obj, const char *key, size_t min, size_t max,
           const char *what, const char *whats)
{
    json_t *v = member (p, path, obj, key, true);
    if (!v)
        return NULL;
    char at[PATH_MAX_];
    path_key (at, path, key);
    if (!json_is_array (v)) {
        perr (p, at, "must be an array, not %s", pingyi_json_type (v));
        return NULL;
    }
    size_t n = json_array_size (v);
    if (n < min) {
        perr (p, at, "needs at least %zu %s", min, min == 1 ? what : whats);
        return NULL;
    }
    if (n > max) {
        perr (p, at, "at most %zu %s, got %zu", max, whats, n);
        return NULL;
    }
    return v;
}

/*  Where each element of a collection goes.  In a definition, element j is
    entry j.  In a venue extract each element names its entry ("index", the
    position it has in the whole definition, which the wire refers to) and
    the entries no element names stay placeholders (fill_gaps).  Returns
    the entry count (0 after an error) and *slot_of[j], to free.  */
static size_t
collection_slots (parse_t *p, const char *name, json_t *arr, size_t **slot_of)
{
    size_t n = json_array_size (arr);
    *slot_of = calloc (n ? n : 1, sizeof **slot_of);
    if (!*slot_of) {
        perr (p, name, "out of memory");
        return 0;
    }
    if (!p->extract) {
        for (size_t j = 0; j < n; j++)
            (*slot_of)[j] = j;
        return n;
    }
    size_t count = 0;
    for (size_t j = 0; j < n; j++) {
        char el[PATH_MAX_], at[PATH_MAX_];
        json_t *o = json_array_get (arr, j);
        path_at (el, name, j);
        if (json_is_object (o))
            path_named (el, o);
        path_key (at, el, "index");
        json_t *ix = json_is_object (o) ? json_object_get (o, "index") : NULL;
        json_int_t k = ix && json_is_integer (ix) ? json_integer_value (ix) : -1;
        if (k < 0 || k >= COLLECTION_MAX) {
            perr (p, at, "a venue extract gives each entry its index in the whole definition: an integer in "
                         "0..%d",
                  COLLECTION_MAX - 1);
            free (*slot_of);
            *slot_of = NULL;
            return 0;
        }
        for (size_t i = 0; i < j; i++)
            if ((*slot_of)[i] == (size_t) k) {
                perr (p, at, "index %" JSON_INTEGER_FORMAT " already given to %s[%zu]", k, name, i);
                free (*slot_of);
                *slot_of = NULL;
                return 0;
            }
        (*slot_of)[j] = (size_t) k;
        if ((size_t) k + 1 > count)
            count = (size_t) k + 1;
    }
    return count;
}

/*  The entries of an extract that no element names: an empty id and name,
    references to entry 0, no form.  They keep every index of the whole
    definition meaningful (and every loop over a collection memory-safe);
    no look-up by id finds them.  base is an array of structs that start
    with `char *id; char *name;` (district, unit, subject, venue).  */
static void
fill_gaps (parse_t *p, const char *name, void *base, size_t stride, size_t count)
{
    for (size_t i = 0; p->extract && i < count; i++) {
        char **entry = (char **) ((char *) base + i * stride);
        if (entry[0])
            continue;
        /* an element whose id was refused keeps what it had (its error is
           reported); only the missing strings are made */
        entry[0] = strdup ("");
        if (!entry[1])
            entry[1] = strdup ("");
        if (!entry[0] || !entry[1])
            perr (p, name, "out of memory");
    }
}

/*  ---------------------------------------------------------------------
    Sections  */

static void
parse_choices (parse_t *p, const char *path, json_t *arr, pingyi_choice_set_t *set)
{
    static const char *const known[] = {"label", "letter", "points", "favourable", "unfavourable", NULL};
    set->choice_count = json_array_size (arr);
    set->choices = calloc (set->choice_count, sizeof *set->choices);
    if (!set->choices) {
        perr (p, path, "out of memory");
        set->choice_count = 0;
        return;
    }
    for (size_t i = 0; i < set->choice_count; i++) {
        char at[PATH_MAX_], sub[PATH_MAX_];
        path_at (at, path, i);
        json_t *c = json_array_get (arr, i);
        if (!is_object (p, at, c))
            continue;
        check_keys (p, at, c, known);
        pingyi_choice_t *choice = &set->choices[i];
        choice->label = get_text (p, at, c, "label", true, TEXT_MAX);
        choice->letter = get_text (p, at, c, "letter", false, LETTER_MAX);
        /*  optional here: required where a graded item scores the choice
            (check_item_kinds, once the items are known)  */
        json_t *points = member (p, at, c, "points", false);
        path_key (sub, at, "points");
        if (points && !in_range (points, -POINTS_MAX, POINTS_MAX))
            perr (p, sub, "must be a number in %d..%d", -POINTS_MAX, POINTS_MAX);
        else if (points)
            choice->points = json_number_value (points);
        choice->has_points = points != NULL; /* a bad one was reported above */
        choice->favourable = get_bool (p, at, c, "favourable", false);
        choice->unfavourable = get_bool (p, at, c, "unfavourable", false);
        if (choice->favourable && choice->unfavourable)
            perr (p, at, "cannot be both favourable and unfavourable");
        /*  Two choices with one label (or letter) cannot be told apart on
            a paper form or in an export.  */
        for (size_t j = 0; j < i; j++) {
            pingyi_choice_t *other = &set->choices[j];
            if (choice->label && other->label && !strcmp (choice->label, other->label)) {
                path_key (sub, at, "label");
                perr (p, sub, "duplicate label %s (first at %s[%zu])", quote (choice->label).s, path, j);
                break;
            }
        }
        for (size_t j = 0; j < i; j++) {
            pingyi_choice_t *other = &set->choices[j];
            if (choice->letter && other->letter && !strcmp (choice->letter, other->letter)) {
                path_key (sub, at, "letter");
                perr (p, sub, "duplicate letter %s (first at %s[%zu])", quote (choice->letter).s, path, j);
                break;
            }
        }
    }
}

static void
parse_choice_sets (parse_t *p, json_t *root)
{
    pingyi_election_t *e = &p->e->pub;
    json_t *extra = member (p, "", root, "choice_sets", false);
    if (extra && !json_is_array (extra)) {
        perr (p, "choice_sets", "must be an array, not %s", pingyi_json_type (extra));
        extra = NULL;
    }
    if (extra && json_array_size (extra) > CHOICE_SETS_MAX) {
        perr (p, "choice_sets", "at most %d choice sets, got %zu", CHOICE_SETS_MAX, json_array_size (extra));
        extra = NULL;
    }
    size_t n = 1 + (extra ? json_array_size (extra) : 0);
    e->choice_sets = calloc (n, sizeof *e->choice_sets);
    if (!e->choice_sets || index_init (&p->sets, e->choice_sets, sizeof *e->choice_sets, n)) {
        perr (p, "choice_sets", "out of memory");
        return;
    }
    e->choice_set_count = n;

    /*  Set 0 is "grades", from the top-level key of that name.  */
    e->choice_sets[0].id = strdup ("grades");
    if (!e->choice_sets[0].id) {
        perr (p, "grades", "out of memory");
        return;
    }
    index_put (&p->sets, 0);
    /*  "grades" only when an item uses the default set (check_item_kinds
        says so when one does and it is missing): a definition of contests
        alone declares no grades.  */
    p->grades_given = json_object_get (root, "grades") != NULL;
    json_t *grades = p->grades_given
                         ? get_array (p, "", root, "grades", 2, PINGYI_MAX_CHOICES, "choice", "choices")
                         : NULL;
    if (grades)
        parse_choices (p, "grades", grades, &e->choice_sets[0]);

    static const char *const known[] = {"id", "choices", NULL};
    for (size_t i = 1; i < n; i++) {
        char at[PATH_MAX_], sub[PATH_MAX_];
        path_at (at, "choice_sets", i - 1);
        json_t *s = json_array_get (extra, i - 1);
        if (!is_object (p, at, s))
            continue;
        check_keys (p, at, s, known);
        pingyi_choice_set_t *set = &e->choice_sets[i];
        json_t *v = member (p, at, s, "id", true);
        path_key (sub, at, "id");
        const char *id = v ? check_id (p, sub, v) : NULL;
        int first = id ? index_find (&p->sets, id, strlen (id)) : -1;
        if (first == 0)
            perr (p, sub, "duplicate id \"grades\" (the default set, from the key \"grades\")");
        else if (first > 0)
            perr (p, sub, "duplicate id %s (first at choice_sets[%d])", quote (id).s, first - 1);
        else if (id) {
            set->id = strdup (id);
            if (set->id)
                index_put (&p->sets, i);
        }
        json_t *choices = get_array (p, at, s, "choices", 2, PINGYI_MAX_CHOICES, "choice", "choices");
        path_key (sub, at, "choices");
        if (choices)
            parse_choices (p, sub, choices, set);
    }
}

/*  What an item's kind asks of its choice set, once both are parsed: the
    set exists (a definition without "grades" has an empty set 0), a graded
    item's choices all have points (reported once per choice: scored[set]
    bit i), a yes_no item takes one tick and has exactly one favourable
    choice (its 同意).  */
static void
check_item_kind (parse_t *p, const char *at, const pingyi_item_t *item, uint32_t *scored)
{
    const pingyi_election_t *e = &p->e->pub;
    if (item->choice_set >= e->choice_set_count)
        return; /* an unknown set was reported */
    const pingyi_choice_set_t *set = &e->choice_sets[item->choice_set];
    if (item->choice_set == 0 && set->choice_count == 0) {
        if (p->grades_given)
            return; /* "grades" is there but broken: said once, there */
        perr (p, at, "uses the default choice set, but the definition has no \"grades\" (declare them, or "
                     "name a \"choice_set\")");
        return;
    }
    char sub[PATH_MAX_];
    if (item->kind == PINGYI_KIND_GRADED) {
        for (size_t c = 0; c < set->choice_count; c++) {
            if (set->choices[c].has_points || (scored[item->choice_set] >> c & 1u))
                continue;
            scored[item->choice_set] |= 1u << c;
            if (item->choice_set == 0)
                snprintf (sub, sizeof sub, "grades[%zu]", c);
            else
                snprintf (sub, sizeof sub, "choice_sets[%zu].choices[%zu]", item->choice_set - 1, c);
            perr (p, sub, "missing \"points\" (%s is graded: its score needs the points of every choice)", at);
        }
    } else if (item->kind == PINGYI_KIND_YES_NO) {
        size_t yes = 0;
        for (size_t c = 0; c < set->choice_count; c++)
            yes += set->choices[c].favourable;
        if (item->max_choices != 1) {
            path_key (sub, at, "max_choices");
            perr (p, sub, "a yes_no item takes one tick (1), not %u", item->max_choices);
        }
        if (yes != 1)
            perr (p, at, "a yes_no item needs exactly one favourable choice (its 同意) in set %s, got %zu",
                  quote (set->id ? set->id : "").s, yes);
    }
}

static void
parse_items (parse_t *p, json_t *root)
{
    uint32_t scored[CHOICE_SETS_MAX + 1] = {0}; /* choices reported without points */
    static const char *const known[] = {"id",          "name",    "overall", "choice_set", "max_choices",
                                        "ranking",     "kind",    "seats",   NULL};
    pingyi_election_t *e = &p->e->pub;
    json_t *arr = get_array (p, "", root, "items", 1, PINGYI_MAX_ITEMS, "item", "items");
    if (!arr)
        return;
    size_t n = json_array_size (arr);
    e->items = calloc (n, sizeof *e->items);
    if (!e->items || index_init (&p->items, e->items, sizeof *e->items, n)) {
        perr (p, "items", "out of memory");
        return;
    }
    e->item_count = n;
    for (size_t i = 0; i < n; i++) {
        char at[PATH_MAX_], sub[PATH_MAX_];
        path_at (at, "items", i);
        json_t *o = json_array_get (arr, i);
        pingyi_item_t *item = &e->items[i];
        item->choice_set = SIZE_MAX;
        item->max_choices = 1;
        item->kind = PINGYI_KIND_GRADED;
        if (!is_object (p, at, o))
            continue;
        path_named (at, o);
        check_keys (p, at, o, known);
        get_own_id (p, at, o, &p->items, i, &item->id, "items");
        item->name = get_text (p, at, o, "name", true, TEXT_MAX);
        item->overall = get_bool (p, at, o, "overall", false);
        if (item->overall && i > 0) {
            path_key (sub, at, "overall");
            perr (p, sub, "only items[0] may be the overall item");
        }
        json_t *set = member (p, at, o, "choice_set", false);
        path_key (sub, at, "choice_set");
        if (!set)
            item->choice_set = 0;
        else
            item->choice_set = get_ref (p, sub, set, &p->sets, "choice set");
        size_t choices =
            item->choice_set < e->choice_set_count ? e->choice_sets[item->choice_set].choice_count : 0;
        json_t *kind = member (p, at, o, "kind", false);
        path_key (sub, at, "kind");
        if (kind && !json_is_string (kind))
            perr (p, sub, "must be a string, not %s", pingyi_json_type (kind));
        else if (kind) {
            const char *k = json_string_value (kind);
            size_t j = 0;
            while (j < PINGYI_KIND_COUNT_ && strcmp (k, ITEM_KINDS[j]))
                j++;
            if (j < PINGYI_KIND_COUNT_)
                item->kind = (pingyi_item_kind_t) j;
            else
                perr (p, sub, "unknown kind %s (graded, yes_no, plurality or approval)", quote (k).s);
        }
        if (item->kind == PINGYI_KIND_APPROVAL && choices >= 2)
            item->max_choices = (unsigned) choices; /* approval: any number of candidates */
        if (PINGYI_KIND_IS_CONTEST (item->kind))
            item->seats = 1;
        json_t *seats = member (p, at, o, "seats", false);
        path_key (sub, at, "seats");
        if (seats && !PINGYI_KIND_IS_CONTEST (item->kind))
            perr (p, sub, "only a plurality or approval item has seats");
        else if (seats) {
            json_int_t k = json_is_integer (seats) ? json_integer_value (seats) : 0;
            size_t most = choices >= 2 ? choices - 1 : PINGYI_MAX_CHOICES - 1;
            if (k < 1 || (size_t) k > most)
                perr (p, sub, "must be an integer in 1..%zu (fewer than the candidates)", most);
            else
                item->seats = (unsigned) k;
        }
        json_t *max = member (p, at, o, "max_choices", false);
        path_key (sub, at, "max_choices");
        if (max) {
            json_int_t k = json_is_integer (max) ? json_integer_value (max) : 0;
            if (choices >= 2 && (k < 1 || (size_t) k > choices))
                perr (p, sub, "must be an integer in 1..%zu (the choices of its set)", choices);
            else if (choices < 2 && (k < 1 || k > PINGYI_MAX_CHOICES))
                perr (p, sub, "must be an integer in 1..%d", PINGYI_MAX_CHOICES);
            else
                item->max_choices = (unsigned) k;
        }
        json_t *ranking = member (p, at, o, "ranking", false);
        path_key (sub, at, "ranking");
        if (ranking && item->kind != PINGYI_KIND_GRADED)
            perr (p, sub, "only a graded item is ranked (this one is %s)", ITEM_KINDS[item->kind]);
        else if (ranking && !json_is_string (ranking))
            perr (p, sub, "must be a string, not %s", pingyi_json_type (ranking));
        else if (ranking) {
            const char *r = json_string_value (ranking);
            if (!strcmp (r, "score"))
                item->ranking = PINGYI_RANKING_SCORE;
            else if (!strcmp (r, "majority_judgment"))
                item->ranking = PINGYI_RANKING_MAJORITY;
            else
                perr (p, sub, "unknown ranking %s (score or majority_judgment)", quote (r).s);
        }
        check_item_kind (p, at, item, scored);
    }
}

static void
parse_categories (parse_t *p, json_t *root)
{
    static const char *const known[] = {"id", "name", "weight", NULL};
    election_t *x = p->e;
    pingyi_election_t *e = &x->pub;
    json_t *arr = get_array (p, "", root, "categories", 1, PINGYI_MAX_CATEGORIES, "category", "categories");
    if (!arr)
        return;
    size_t n = json_array_size (arr);
    e->categories = calloc (n, sizeof *e->categories);
    if (!e->categories || index_init (&x->categories, e->categories, sizeof *e->categories, n)) {
        perr (p, "categories", "out of memory");
        return;
    }
    e->category_count = n;
    for (size_t i = 0; i < n; i++) {
        char at[PATH_MAX_], sub[PATH_MAX_];
        path_at (at, "categories", i);
        json_t *o = json_array_get (arr, i);
        pingyi_category_t *c = &e->categories[i];
        c->weight = 1.0;
        if (!is_object (p, at, o))
            continue;
        path_named (at, o);
        check_keys (p, at, o, known);
        get_own_id (p, at, o, &x->categories, i, &c->id, "categories");
        c->name = get_text (p, at, o, "name", true, TEXT_MAX);
        json_t *w = member (p, at, o, "weight", false);
        path_key (sub, at, "weight");
        if (w && !in_range (w, 0, WEIGHT_MAX))
            perr (p, sub, "must be a number in 0..%d", WEIGHT_MAX);
        else if (w)
            c->weight = json_number_value (w);
    }
}

static void
parse_districts (parse_t *p, json_t *root)
{
    static const char *const known[] = {"id", "name", NULL};
    static const char *const known_extract[] = {"id", "name", "index", NULL};
    pingyi_election_t *e = &p->e->pub;
    json_t *arr = get_array (p, "", root, "districts", 1, COLLECTION_MAX, "district", "districts");
    size_t *slot = NULL;
    size_t n = arr ? collection_slots (p, "districts", arr, &slot) : 0;
    if (!n)
        goto done;
    e->districts = calloc (n, sizeof *e->districts);
    if (!e->districts || index_init (&p->districts, e->districts, sizeof *e->districts, n)) {
        perr (p, "districts", "out of memory");
        goto done;
    }
    e->district_count = n;
    for (size_t j = 0; j < json_array_size (arr); j++) {
        char at[PATH_MAX_];
        path_at (at, "districts", j);
        json_t *o = json_array_get (arr, j);
        size_t i = slot[j];
        if (!is_object (p, at, o))
            continue;
        path_named (at, o);
        check_keys (p, at, o, p->extract ? known_extract : known);
        get_own_id (p, at, o, &p->districts, i, &e->districts[i].id, "districts");
        e->districts[i].name = get_text (p, at, o, "name", true, TEXT_MAX);
    }
    fill_gaps (p, "districts", e->districts, sizeof *e->districts, n);
done:
    free (slot);
}

static void
parse_units (parse_t *p, json_t *root)
{
    static const char *const known[] = {"id", "name", "kind", "district", NULL};
    static const char *const known_extract[] = {"id", "name", "kind", "district", "index", NULL};
    static const char *const kinds[] = {"town", "department", "enterprise", "school", "other"};
    pingyi_election_t *e = &p->e->pub;
    json_t *arr = get_array (p, "", root, "units", 1, COLLECTION_MAX, "unit", "units");
    size_t *slot = NULL;
    size_t n = arr ? collection_slots (p, "units", arr, &slot) : 0;
    if (!n)
        goto done;
    e->units = calloc (n, sizeof *e->units);
    if (!e->units || index_init (&p->units, e->units, sizeof *e->units, n)) {
        perr (p, "units", "out of memory");
        goto done;
    }
    e->unit_count = n;
    for (size_t j = 0; j < json_array_size (arr); j++) {
        char at[PATH_MAX_], sub[PATH_MAX_];
        path_at (at, "units", j);
        json_t *o = json_array_get (arr, j);
        pingyi_unit_t *u = &e->units[slot[j]];
        u->district = SIZE_MAX;
        u->kind = PINGYI_UNIT_OTHER;
        if (!is_object (p, at, o))
            continue;
        path_named (at, o);
        check_keys (p, at, o, p->extract ? known_extract : known);
        get_own_id (p, at, o, &p->units, slot[j], &u->id, "units");
        u->name = get_text (p, at, o, "name", true, TEXT_MAX);
        json_t *kind = member (p, at, o, "kind", true);
        path_key (sub, at, "kind");
        if (kind && !json_is_string (kind))
            perr (p, sub, "must be a string, not %s", pingyi_json_type (kind));
        else if (kind) {
            size_t k = 0;
            while (k < 5 && strcmp (json_string_value (kind), kinds[k]))
                k++;
            if (k < 5)
                u->kind = (pingyi_unit_kind_t) k;
            else
                perr (p, sub, "unknown kind %s (town, department, enterprise, school or other)",
                      quote (json_string_value (kind)).s);
        }
        json_t *d = member (p, at, o, "district", true);
        path_key (sub, at, "district");
        if (d)
            u->district = get_ref (p, sub, d, &p->districts, "district");
    }
    fill_gaps (p, "units", e->units, sizeof *e->units, n);
done:
    free (slot);
}

static void
parse_subjects (parse_t *p, json_t *root)
{
    static const char *const known[] = {"id", "name", "unit", "onsite", NULL};
    static const char *const known_extract[] = {"id", "name", "unit", "onsite", "index", NULL};
    election_t *x = p->e;
    pingyi_election_t *e = &x->pub;
    json_t *arr = get_array (p, "", root, "subjects", 1, PINGYI_MAX_SUBJECTS, "subject", "subjects");
    size_t *slot = NULL;
    size_t n = arr ? collection_slots (p, "subjects", arr, &slot) : 0;
    if (!n)
        goto done;
    e->subjects = calloc (n, sizeof *e->subjects);
    if (!e->subjects || index_init (&x->subjects, e->subjects, sizeof *e->subjects, n)) {
        perr (p, "subjects", "out of memory");
        goto done;
    }
    e->subject_count = n;
    for (size_t j = 0; j < json_array_size (arr); j++) {
        char at[PATH_MAX_], sub[PATH_MAX_];
        path_at (at, "subjects", j);
        json_t *o = json_array_get (arr, j);
        pingyi_subject_t *s = &e->subjects[slot[j]];
        s->unit = SIZE_MAX;
        if (!is_object (p, at, o))
            continue;
        path_named (at, o);
        check_keys (p, at, o, p->extract ? known_extract : known);
        get_own_id (p, at, o, &x->subjects, slot[j], &s->id, "subjects");
        s->name = get_text (p, at, o, "name", true, TEXT_MAX);
        json_t *u = member (p, at, o, "unit", true);
        path_key (sub, at, "unit");
        if (u)
            s->unit = get_ref (p, sub, u, &p->units, "unit");
        s->onsite = get_bool (p, at, o, "onsite", false);
    }
    fill_gaps (p, "subjects", e->subjects, sizeof *e->subjects, n);
done:
    free (slot);
}

/*  Bytes msgpack needs for an unsigned integer / an array header.  */
static size_t
mp_uint_size (uint64_t v)
{
    return v < 128 ? 1 : v <= 0xff ? 2 : v <= 0xffff ? 3 : v <= 0xffffffffULL ? 5 : 9;
}

static size_t
mp_array_size (size_t n)
{
    return n < 16 ? 1 : n <= 0xffff ? 3 : 5;
}

/*  The longest body a ballot for this form can encode to: every mask with
    every bit of its choice set ticked (still a valid ballot: OVER cells).  */
static size_t
worst_body (const pingyi_election_t *e, const size_t *form, size_t n)
{
    size_t cells = mp_array_size (e->item_count);
    for (size_t j = 0; j < e->item_count; j++) {
        size_t set = e->items[j].choice_set;
        size_t choices = set < e->choice_set_count ? e->choice_sets[set].choice_count : PINGYI_MAX_CHOICES;
        uint64_t full = choices >= 32 ? 0xffffffffULL : (1ULL << choices) - 1;
        cells += mp_uint_size (full);
    }
    size_t size = 1 + mp_uint_size (PINGYI_BALLOT_VERSION) +
                  mp_uint_size (e->category_count ? e->category_count - 1 : 0) + mp_array_size (n);
    for (size_t i = 0; i < n; i++)
        size += 1 + mp_uint_size (form[i] == SIZE_MAX ? 0xffff : form[i]) + cells;
    return size;
}

static void
parse_venues (parse_t *p, json_t *root)
{
    static const char *const known[] = {"id", "name", "district", "subjects", "issued", "shard", NULL};
    static const char *const known_extract[] = {"id",     "name",  "district", "subjects",
                                                "issued", "shard", "index",    NULL};
    election_t *x = p->e;
    pingyi_election_t *e = &x->pub;
    json_t *arr = get_array (p, "", root, "venues", 1, PINGYI_MAX_VENUES, "venue", "venues");
    size_t *slot = NULL;
    size_t n = arr ? collection_slots (p, "venues", arr, &slot) : 0;
    if (!n)
        goto done;
    e->venues = calloc (n, sizeof *e->venues);
    if (!e->venues || index_init (&x->venues, e->venues, sizeof *e->venues, n)) {
        perr (p, "venues", "out of memory");
        goto done;
    }
    e->venue_count = n;
    for (size_t i = 0; i < n; i++)
        e->venues[i].issued = -1;
    for (size_t j = 0; j < json_array_size (arr); j++) {
        char at[PATH_MAX_], sub[PATH_MAX_], el[PATH_MAX_];
        path_at (at, "venues", j);
        json_t *o = json_array_get (arr, j);
        pingyi_venue_t *v = &e->venues[slot[j]];
        v->district = SIZE_MAX;
        if (!is_object (p, at, o))
            continue;
        path_named (at, o);
        check_keys (p, at, o, p->extract ? known_extract : known);
        get_own_id (p, at, o, &x->venues, slot[j], &v->id, "venues");
        v->name = get_text (p, at, o, "name", true, TEXT_MAX);
        json_t *d = member (p, at, o, "district", true);
        path_key (sub, at, "district");
        if (d)
            v->district = get_ref (p, sub, d, &p->districts, "district");

        json_t *form = get_array (p, at, o, "subjects", 1, PINGYI_MAX_FORM_SUBJECTS, "subject", "subjects");
        path_key (sub, at, "subjects");
        if (form) {
            size_t m = json_array_size (form);
            v->subjects = calloc (m, sizeof *v->subjects);
            if (!v->subjects)
                perr (p, sub, "out of memory");
            else {
                v->subject_count = m;
                for (size_t k = 0; k < m; k++) {
                    path_at (el, sub, k);
                    v->subjects[k] = get_ref (p, el, json_array_get (form, k), &x->subjects, "subject");
                    for (size_t f = 0; f < k && v->subjects[k] != SIZE_MAX; f++)
                        if (v->subjects[f] == v->subjects[k]) {
                            perr (p, el, "duplicate subject %s (first at subjects[%zu])",
                                  quote (e->subjects[v->subjects[k]].id).s, f);
                            break;
                        }
                }
                size_t worst = worst_body (e, v->subjects, m);
                if (worst > PINGYI_BODY_MAX)
                    perr (p, sub,
                          "a ballot for this form can take %zu bytes, more than the %d a body may hold",
                          worst, PINGYI_BODY_MAX);
            }
        }

        json_t *issued = member (p, at, o, "issued", false);
        path_key (sub, at, "issued");
        if (issued && (!json_is_integer (issued) || json_integer_value (issued) < 0))
            perr (p, sub, "must be an integer >= 0");
        else if (issued)
            v->issued = json_integer_value (issued);

        json_t *shard = member (p, at, o, "shard", false);
        path_key (sub, at, "shard");
        if (shard) {
            json_int_t k = json_is_integer (shard) ? json_integer_value (shard) : -1;
            uint32_t count = e->shard_count ? e->shard_count : PINGYI_MAX_SHARDS;
            if (k < 0 || k >= (json_int_t) count)
                perr (p, sub, "must be an integer in 0..%" PRIu32, count - 1);
            else
                v->shard = (uint32_t) k;
        }
        else if (v->id)
            v->shard = pingyi_election_hash_shard (v->id, strlen (v->id), e->shard_count);
    }
    fill_gaps (p, "venues", e->venues, sizeof *e->venues, n);
    if (p->extract && json_array_size (arr) != 1)
        perr (p, "venues", "a venue extract holds one venue, not %zu", json_array_size (arr));
done:
    free (slot);
}

/*  "extract": {"of": FINGERPRINT, "venue": ID} marks a venue extract: the
    part of a definition one venue host needs (pingyi init writes it into
    each venue bundle).  Its fingerprint is the whole definition's, named
    by "of"; its collections carry each entry's "index" in the whole file.
    Only a venue host accepts one (election.h).  */
static void
parse_extract (parse_t *p, json_t *root)
{
    static const char *const known[] = {"of", "venue", NULL};
    json_t *x = json_object_get (root, "extract");
    if (!x)
        return;
    pingyi_election_t *e = &p->e->pub;
    p->extract = true;
    e->extract = true;
    e->extract_venue = SIZE_MAX;
    if (!is_object (p, "extract", x))
        return;
    check_keys (p, "extract", x, known);
    json_t *of = member (p, "extract", x, "of", true);
    uint8_t fp[PINGYI_FP_LEN];
    if (of && (!json_is_string (of) || json_string_length (of) != 2 * PINGYI_FP_LEN ||
               pingyi_unhex (fp, PINGYI_FP_LEN, json_string_value (of), 2 * PINGYI_FP_LEN)))
        perr (p, "extract.of", "must be the whole definition's fingerprint: %d hex digits", 2 * PINGYI_FP_LEN);
    else if (of) {
        memcpy (e->fingerprint, fp, PINGYI_FP_LEN);
        pingyi_hex (e->fingerprint_hex, e->fingerprint, PINGYI_FP_LEN);
    }
    json_t *venue = member (p, "extract", x, "venue", true);
    if (venue)
        p->extract_venue_id = check_id (p, "extract.venue", venue);
}

/*  Every shard's SNAPSHOT page carries all its venues' figures: a shard
    may hold no more venues than fit one REPLY beside a page of count
    blocks (pingyi_snapshot_venues_max, proto/msg.h).  Said once, for the
    fullest shard.  */
static void
check_snapshot_fits (parse_t *p)
{
    pingyi_election_t *e = &p->e->pub;
    /* only a definition sound so far: its items' choice sets are resolved */
    if (p->errors || p->extract || !e->venues || !e->venue_count || !e->item_count || !e->category_count || !e->shard_count)
        return;
    pingyi_count_shape_t shape;
    pingyi_count_shape (e, &shape);
    uint32_t max = pingyi_snapshot_venues_max ((uint32_t) e->category_count, (uint64_t) shape.width * 4);
    uint32_t *per = calloc (e->shard_count, sizeof *per);
    if (!per)
        return;
    uint32_t worst = 0, fullest = 0;
    for (size_t v = 0; v < e->venue_count; v++)
        if (e->venues[v].shard < e->shard_count && ++per[e->venues[v].shard] > worst) {
            worst = per[e->venues[v].shard];
            fullest = e->venues[v].shard;
        }
    free (per);
    if (worst > max)
        perr (p, "venues",
              "shard %" PRIu32 " holds %" PRIu32 " venues, but a shard's SNAPSHOT carries at most %" PRIu32
              " venues' figures with %zu rater categories and count blocks of %zu bytes: raise \"shards\" "
              "(at least %" PRIu32 ") or give its venues other \"shard\"s",
              fullest, worst, max, e->category_count, shape.width * 4,
              max ? (uint32_t) ((e->venue_count + max - 1) / max) : 0);
}

static void
parse_root (parse_t *p, json_t *root)
{
    static const char *const known[] = {"version",     "id",     "title",      "shards",    "grades",
                                        "choice_sets", "items",  "categories", "districts", "units",
                                        "subjects",    "venues", "k_anonymity", "extract", NULL};
    pingyi_election_t *e = &p->e->pub;
    check_keys (p, "", root, known);

    json_t *version = member (p, "", root, "version", false);
    if (version && !(json_is_integer (version) && json_integer_value (version) == 1))
        perr (p, "version", "must be 1 (the only version of this format)");

    json_t *id = member (p, "", root, "id", true);
    if (id && check_id (p, "id", id)) {
        e->id = strdup (json_string_value (id));
        if (!e->id)
            perr (p, "id", "out of memory");
    }
    e->title = get_text (p, "", root, "title", true, TEXT_MAX);

    e->shard_count = 1;
    json_t *shards = member (p, "", root, "shards", false);
    if (shards) {
        json_int_t k = json_is_integer (shards) ? json_integer_value (shards) : 0;
        if (k < 1 || k > PINGYI_MAX_SHARDS) {
            perr (p, "shards", "must be an integer in 1..%d", PINGYI_MAX_SHARDS);
            e->shard_count = 0; /* unknown: venue shards are then checked against the maximum */
        }
        else
            e->shard_count = (uint32_t) k;
    }

    e->k_anonymity = PINGYI_K_ANONYMITY_DEFAULT;
    json_t *k_anonymity = member (p, "", root, "k_anonymity", false);
    if (k_anonymity) {
        json_int_t k = json_is_integer (k_anonymity) ? json_integer_value (k_anonymity) : 0;
        if (k < 1 || k > PINGYI_K_ANONYMITY_MAX)
            perr (p, "k_anonymity", "must be an integer in 1..%d", PINGYI_K_ANONYMITY_MAX);
        else
            e->k_anonymity = (uint32_t) k;
    }

    parse_extract (p, root);
    parse_choice_sets (p, root);
    parse_items (p, root);
    parse_categories (p, root);
    parse_districts (p, root);
    parse_units (p, root);
    parse_subjects (p, root);
    parse_venues (p, root);
    check_snapshot_fits (p);
    if (p->extract_venue_id && e->venues) { /* a broken venues collection was reported there */
        int v = pingyi_election_venue (e, p->extract_venue_id, strlen (p->extract_venue_id));
        if (v < 0)
            perr (p, "extract.venue", "venue %s is not in the extract's venues", quote (p->extract_venue_id).s);
        else
            e->extract_venue = (size_t) v;
    }
}


pingyi_election_t *
pingyi_election_parse (const uint8_t *bytes, size_t len, pingyi_errlist_t *errs)
{
    parse_t p = {.errs = errs};
    if (len > PINGYI_DEFINITION_MAX) {
        perr (&p, "", "larger than %u bytes", PINGYI_DEFINITION_MAX);
        return NULL;
    }
    if (sodium_init () < 0) {
        perr (&p, "", "libsodium cannot start");
        return NULL;
    }
    p.e = calloc (1, sizeof *p.e);
    if (!p.e) {
        perr (&p, "", "out of memory");
        return NULL;
    }
    pingyi_election_t *e = &p.e->pub;
    crypto_hash_sha256 (e->fingerprint, bytes, len);
    pingyi_hex (e->fingerprint_hex, e->fingerprint, PINGYI_FP_LEN);

    /*  A UTF-8 byte order mark (Notepad writes one) is skipped for parsing
        only: the fingerprint above covers the bytes as they are.  A file
        that is not UTF-8 is refused before jansson, naming the first bad
        byte (1-based, counting the whole file) and the likely cause.  */
    size_t skip = 0;
    if (len >= 3 && bytes[0] == 0xef && bytes[1] == 0xbb && bytes[2] == 0xbf)
        skip = 3;
    json_error_t jerr;
    json_t *root = NULL;
    size_t bad = pingyi_utf8_invalid_at (bytes + skip, len - skip);
    if (skip == 0 && len >= 2 &&
        ((bytes[0] == 0xff && bytes[1] == 0xfe) || (bytes[0] == 0xfe && bytes[1] == 0xff)))
        perr (&p, "", "saved as UTF-16 (it starts with the bytes %02x %02x); re-save it as UTF-8", bytes[0],
              bytes[1]);
    else if (bad != len - skip)
        perr (&p, "", "byte %zu is not UTF-8 (saved as GBK/ANSI? re-save it as UTF-8)", skip + bad + 1);
    else if (!(root = json_loadb ((const char *) bytes + skip, len - skip, JSON_REJECT_DUPLICATES, &jerr)))
        perr (&p, "", "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
    else if (!json_is_object (root))
        perr (&p, "", "must be a JSON object, not %s", pingyi_json_type (root));
    else
        parse_root (&p, root);
    json_decref (root);

    if (p.errors > ERRORS_MAX && errs)
        pingyi_errlist_add (errs, "definition: too many errors: %zu more not listed", p.errors - ERRORS_MAX);
    index_free (&p.sets);
    index_free (&p.items);
    index_free (&p.districts);
    index_free (&p.units);
    if (p.errors) {
        pingyi_election_destroy (&e);
        return NULL;
    }
    return e;
}

pingyi_election_t *
pingyi_election_load (const char *path, pingyi_errlist_t *errs)
{
    char err[PINGYI_ERR_MAX];
    size_t len = 0;
    uint8_t *bytes = pingyi_read_file (path, PINGYI_DEFINITION_MAX, &len, err);
    if (!bytes) {
        if (errs)
            pingyi_errlist_add (errs, "%s", err);
        return NULL;
    }
    pingyi_election_t *e = pingyi_election_parse (bytes, len, errs);
    free (bytes);
    return e;
}

pingyi_election_t *
pingyi_election_load_or_err (const char *path, char *err)
{
    pingyi_errlist_t errs = {0};
    pingyi_election_t *e = pingyi_election_load (path, &errs);
    if (!e) {
        /*  Keep the "(and N more)" tail even when the first line is long.  */
        char more[48] = "";
        if (errs.count > 1)
            snprintf (more, sizeof more, " (and %zu more)", errs.count - 1);
        const char *first = errs.count ? errs.lines[0] : "cannot load definition";
        bool named = errs.count && !strncmp (first, path, strlen (path)); /* read errors name it */
        char line[PINGYI_ERR_MAX];
        size_t room = sizeof line - strlen (more);
        if (named)
            snprintf (line, room, "%s", first);
        else
            snprintf (line, room, "%s: %s", path, first);
        pingyi_fail (err, "%s%s", line, more);
    }
    pingyi_errlist_clear (&errs);
    return e;
}

void
pingyi_election_destroy (pingyi_election_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    election_t *x = (election_t *) *self_p;
    pingyi_election_t *e = &x->pub;
    free (e->id);
    free (e->title);
    for (size_t i = 0; i < e->choice_set_count; i++) {
        pingyi_choice_set_t *set = &e->choice_sets[i];
        for (size_t j = 0; j < set->choice_count; j++) {
            free (set->choices[j].label);
            free (set->choices[j].letter);
        }
        free (set->choices);
        free (set->id);
    }
    free (e->choice_sets);
    for (size_t i = 0; i < e->item_count; i++) {
        free (e->items[i].id);
        free (e->items[i].name);
    }
    free (e->items);
    for (size_t i = 0; i < e->category_count; i++) {
        free (e->categories[i].id);
        free (e->categories[i].name);
    }
    free (e->categories);
    for (size_t i = 0; i < e->district_count; i++) {
        free (e->districts[i].id);
        free (e->districts[i].name);
    }
    free (e->districts);
    for (size_t i = 0; i < e->unit_count; i++) {
        free (e->units[i].id);
        free (e->units[i].name);
    }
    free (e->units);
    for (size_t i = 0; i < e->subject_count; i++) {
        free (e->subjects[i].id);
        free (e->subjects[i].name);
    }
    free (e->subjects);
    for (size_t i = 0; i < e->venue_count; i++) {
        free (e->venues[i].id);
        free (e->venues[i].name);
        free (e->venues[i].subjects);
    }
    free (e->venues);
    index_free (&x->venues);
    index_free (&x->subjects);
    index_free (&x->categories);
    free (x);
    *self_p = NULL;
}

/*  ---------------------------------------------------------------------
    Look-ups  */

int
pingyi_election_venue (const pingyi_election_t *self, const char *id, size_t len)
{
    return index_find (&((const election_t *) self)->venues, id, len);
}

int
pingyi_election_subject (const pingyi_election_t *self, const char *id, size_t len)
{
    return index_find (&((const election_t *) self)->subjects, id, len);
}

int
pingyi_election_category (const pingyi_election_t *self, const char *id, size_t len)
{
    return index_find (&((const election_t *) self)->categories, id, len);
}

int
pingyi_election_form_index (const pingyi_election_t *self, size_t venue, size_t subject)
{
    if (venue >= self->venue_count)
        return -1;
    const pingyi_venue_t *v = &self->venues[venue];
    for (size_t i = 0; i < v->subject_count; i++)
        if (v->subjects[i] == subject)
            return (int) i;
    return -1;
}

/*  ---------------------------------------------------------------------
    Warnings: a valid definition that is probably not what was meant.  */

/*  "subjects[3] (name)" for entity i of a collection.  */
static void
entity_path (char *out, const char *collection, size_t i, const char *name)
{
    path_at (out, collection, i);
    path_name (out, name);
}

size_t
pingyi_election_warnings (const pingyi_election_t *self, pingyi_errlist_t *warnings)
{
    const pingyi_election_t *e = self;
    size_t before = warnings->count;
    char at[PATH_MAX_];
    if (e->extract)
        return 0; /* its placeholders are no mistake; the whole definition was checked */

    bool weighted = false;
    for (size_t i = 0; i < e->category_count; i++)
        weighted = weighted || e->categories[i].weight > 0;
    if (e->category_count && !weighted)
        pingyi_errlist_add (warnings, "categories: every weight is 0, so no weighted score can be computed");

    bool *on_form = calloc (e->subject_count ? e->subject_count : 1, sizeof *on_form);
    size_t *unit_subjects = calloc (e->unit_count ? e->unit_count : 1, sizeof *unit_subjects);
    size_t *district_uses = calloc (e->district_count ? e->district_count : 1, sizeof *district_uses);
    if (!on_form || !unit_subjects || !district_uses) {
        pingyi_errlist_add (warnings, "definition: out of memory while looking for warnings");
        goto done;
    }
    for (size_t v = 0; v < e->venue_count; v++) {
        district_uses[e->venues[v].district]++;
        for (size_t k = 0; k < e->venues[v].subject_count; k++)
            on_form[e->venues[v].subjects[k]] = true;
    }
    for (size_t u = 0; u < e->unit_count; u++)
        district_uses[e->units[u].district]++;
    for (size_t s = 0; s < e->subject_count; s++)
        unit_subjects[e->subjects[s].unit]++;

    for (size_t d = 0; d < e->district_count; d++)
        if (!district_uses[d]) {
            entity_path (at, "districts", d, e->districts[d].name);
            pingyi_errlist_add (warnings, "%s: has no unit and no venue", at);
        }
    for (size_t u = 0; u < e->unit_count; u++)
        if (!unit_subjects[u]) {
            entity_path (at, "units", u, e->units[u].name);
            pingyi_errlist_add (warnings, "%s: has no subjects", at);
        }
    for (size_t s = 0; s < e->subject_count; s++)
        if (!on_form[s]) {
            entity_path (at, "subjects", s, e->subjects[s].name);
            pingyi_errlist_add (warnings, "%s: on no venue's form, so never evaluated", at);
        }
done:
    free (on_form);
    free (unit_subjects);
    free (district_uses);
    return warnings->count - before;
}

/*  ---------------------------------------------------------------------
    Summary  */

void
pingyi_election_print_summary (const pingyi_election_t *self, FILE *out)
{
    const pingyi_election_t *e = self;
    fprintf (out, "election     %s\n", e->id);
    fprintf (out, "title        %s\n", e->title);
    fprintf (out, "fingerprint  %s\n", e->fingerprint_hex);
    fprintf (out, "shards       %" PRIu32 "\n", e->shard_count);
    fprintf (out, "k_anonymity  %" PRIu32 "\n", e->k_anonymity);
    if (e->extract)
        fprintf (out, "extract      for venue %s: its form's subjects, units and districts, indexed as in the whole "
                      "definition\n",
                 e->venues[e->extract_venue].id);
    else
        fprintf (out,
                 "counts       %zu districts, %zu units, %zu subjects, %zu venues, %zu items, %zu categories\n",
                 e->district_count, e->unit_count, e->subject_count, e->venue_count, e->item_count,
                 e->category_count);
    fprintf (out, "choice sets\n");
    for (size_t i = 0; i < e->choice_set_count; i++) {
        const pingyi_choice_set_t *set = &e->choice_sets[i];
        if (!set->choice_count)
            continue; /* no "grades" in a definition of contests */
        fprintf (out, "  %-10s", set->id);
        for (size_t j = 0; j < set->choice_count; j++) {
            const pingyi_choice_t *c = &set->choices[j];
            fprintf (out, " %s%s%s", c->label, c->letter ? "/" : "", c->letter ? c->letter : "");
            if (c->has_points)
                fprintf (out, "=%g", c->points);
            fprintf (out, "%s", c->favourable     ? "+"
                                : c->unfavourable ? "-"
                                                  : "");
        }
        fprintf (out, "\n");
    }
    fprintf (out, "items\n");
    for (size_t i = 0; i < e->item_count; i++) {
        const pingyi_item_t *it = &e->items[i];
        char name[PINGYI_ID_MAX * 4];
        snprintf (name, sizeof name, "%s%s", it->name, it->overall ? " (overall)" : "");
        fprintf (out, "  %2zu %-12s ", i, it->id);
        pingyi_text_pad (out, name, 30, false); /* Chinese names: pad by display width */
        fprintf (out, "  [%s, ", e->choice_sets[it->choice_set].id);
        if (it->kind != PINGYI_KIND_GRADED)
            fprintf (out, "%s, ", pingyi_item_kind_name (it->kind));
        fprintf (out, "choose up to %u", it->max_choices);
        if (it->seats)
            fprintf (out, ", %u seat%s", it->seats, it->seats == 1 ? "" : "s");
        fprintf (out, "]\n");
    }
    fprintf (out, "categories\n");
    for (size_t i = 0; i < e->category_count; i++) {
        const pingyi_category_t *c = &e->categories[i];
        fprintf (out, "  %2zu %-12s ", i, c->id);
        pingyi_text_pad (out, c->name, 16, false);
        fprintf (out, "  weight %g\n", c->weight);
    }
    fprintf (out, "venues\n");
    for (size_t i = 0; i < e->venue_count; i++) {
        const pingyi_venue_t *v = &e->venues[i];
        if (e->extract && i != e->extract_venue)
            continue;
        fprintf (out, "  %-12s ", v->id);
        pingyi_text_pad (out, v->name, 20, false);
        fprintf (out, "  district %s  subjects %zu  shard %" PRIu32, e->districts[v->district].id,
                 v->subject_count, v->shard);
        if (v->issued >= 0)
            fprintf (out, "  issued %" PRId64 "\n", v->issued);
        else
            fprintf (out, "  issued unknown\n");
    }
}
