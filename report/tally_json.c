/*  tally_json.c — a merged tally as JSON: the streaming writer shared by
    `pingyi tally --json` and the aggregator, and the strict reader used by
    `pingyi query --agg` (see tally_json.h for the format).

    The reader's input comes over the network: it is checked here, once,
    where it enters; a document that passes fills the tally through
    pingyi_tally_add_cell and pingyi_tally_set_figures exactly as shard
    snapshots do, so the view cannot tell the two sources apart.  */
#include "tally_json.h"
#include "json_text.h"
#include "quote.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const pingyi_election_t *e;
    const pingyi_view_t *released; /* NULL: every counter */
    FILE *out;
    bool first;
} write_t;

static void
put_counter (const pingyi_counter_key_t *key, uint64_t count, void *arg)
{
    write_t *w = arg;
    const pingyi_election_t *e = w->e;
    if (w->released && pingyi_view_group_hidden (w->released, key->venue, key->category))
        return;
    fprintf (w->out, "%s\n    {\"venue\":", w->first ? "" : ",");
    pingyi_json_write_string (w->out, e->venues[key->venue].id);
    fprintf (w->out, ",\"subject\":");
    pingyi_json_write_string (w->out, e->subjects[key->subject].id);
    fprintf (w->out, ",\"item\":");
    pingyi_json_write_string (w->out, e->items[key->item].id);
    fprintf (w->out, ",\"category\":");
    pingyi_json_write_string (w->out, e->categories[key->category].id);
    fprintf (w->out, ",\"mark\":");
    pingyi_json_write_string (w->out, pingyi_mark_name (e, key->item, key->mark));
    fprintf (w->out, ",\"count\":%" PRIu64 "}", count);
    w->first = false;
}

static void
write_shards (FILE *out, const pingyi_tally_shard_t *shards, size_t shard_count)
{
    fprintf (out, "  \"shards\": [");
    for (size_t s = 0; s < shard_count; s++) {
        char digest[65];
        pingyi_hex (digest, shards[s].digest, 32);
        fprintf (out, "%s\n    {\"shard\":%" PRIu32 ",\"sequence\":%" PRIu64 ",\"digest\":\"%s\"",
                 s ? "," : "", shards[s].shard, shards[s].sequence, digest);
        if (shards[s].age_ms >= 0)
            fprintf (out, ",\"age_ms\":%" PRId64 ",\"stale\":%s", shards[s].age_ms,
                     shards[s].stale ? "true" : "false");
        fputc ('}', out);
    }
    fprintf (out, "\n  ],\n");
}

/*  One venue's figures; released: only the groups the release lets out,
    and the suppressed categories named.  */
static void
write_venue (FILE *out, const pingyi_election_t *e, size_t v, const pingyi_venue_figures_t *f,
             const pingyi_view_t *released)
{
    fprintf (out, "{\"venue\":");
    pingyi_json_write_string (out, e->venues[v].id);
    fprintf (out,
             ",\"accepted\":%" PRIu64 ",\"blank\":%" PRIu64 ",\"duplicates\":%" PRIu64
             ",\"rejected\":%" PRIu64 ",\"issued\":%" PRId64 ",\"collected\":%" PRId64 ",\"sent\":%" PRId64
             ",\"closed\":%s,\"reopens\":%" PRIu32 ",\"rejected_by\":{",
             f->accepted, f->blank, f->duplicates, f->rejected, f->issued, f->collected, f->sent,
             f->closed ? "true" : "false", f->reopens);
    bool any = false;
    for (int r = 1; r < PINGYI_REJECT_COUNT_; r++)
        if (f->rejected_by[r]) {
            fprintf (out, "%s\"%s\":%" PRIu64, any ? "," : "", pingyi_reject_name ((pingyi_reject_t) r),
                     f->rejected_by[r]);
            any = true;
        }
    fputc ('}', out);
    if (released || f->category_count > 0) {
        fprintf (out, ",\"by_category\":{");
        any = false;
        for (size_t c = 0; c < e->category_count && c < f->category_count && c < PINGYI_FIGURES_CATEGORIES;
             c++) {
            if (!f->by_category[c] || (released && pingyi_view_group_hidden (released, v, c)))
                continue;
            fprintf (out, "%s", any ? "," : "");
            pingyi_json_write_string (out, e->categories[c].id);
            fprintf (out, ":%" PRIu64, f->by_category[c]);
            any = true;
        }
        fputc ('}', out);
    }
    if (released) {
        fprintf (out, ",\"suppressed_categories\":[");
        any = false;
        for (size_t c = 0; c < e->category_count; c++)
            if (pingyi_view_group_hidden (released, v, c)) {
                fprintf (out, "%s", any ? "," : "");
                pingyi_json_write_string (out, e->categories[c].id);
                any = true;
            }
        fputc (']', out);
    }
    fputc ('}', out);
}

static int
write_tally (const pingyi_tally_t *tally, const pingyi_election_t *e, const pingyi_view_t *released,
             const pingyi_tally_shard_t *shards, size_t shard_count, unsigned flags, FILE *out, char *err)
{
    fprintf (out, "{\n");
    if (flags & PINGYI_TALLY_JSON_WITH_API)
        fprintf (out, "  \"api\": %d,\n", PINGYI_TALLY_JSON_API);
    fprintf (out, "  \"election\": \"%s\",\n", e->fingerprint_hex);
    write_shards (out, shards, shard_count);
    fprintf (out, "  \"venues\": [");
    for (size_t v = 0; v < e->venue_count; v++) {
        fprintf (out, "%s\n    ", v ? "," : "");
        write_venue (out, e, v, pingyi_tally_figures (tally, v), released);
    }
    fprintf (out, "\n  ],\n  \"counters\": [");
    write_t w = {.e = e, .released = released, .out = out, .first = true};
    pingyi_tally_each (tally, put_counter, &w);
    fprintf (out, "\n  ]\n}\n");
    if (fflush (out) || ferror (out))
        return pingyi_fail (err, "writing the tally: %s", strerror (errno ? errno : EIO));
    return 0;
}

int
pingyi_tally_write_json (const pingyi_tally_t *tally, const pingyi_election_t *e,
                         const pingyi_tally_shard_t *shards, size_t shard_count, unsigned flags, FILE *out,
                         char *err)
{
    return write_tally (tally, e, NULL, shards, shard_count, flags, out, err);
}

int
pingyi_tally_write_released_json (const pingyi_tally_t *tally, const pingyi_view_t *view,
                                  const pingyi_tally_shard_t *shards, size_t shard_count, unsigned flags,
                                  FILE *out, char *err)
{
    return write_tally (tally, view->election, view, shards, shard_count, flags, out, err);
}

/*  A score: 17 significant digits (read back to the same double), null for
    NAN.  */
static void
write_real (FILE *out, double x)
{
    if (isnan (x) || isinf (x))
        fputs ("null", out);
    else
        fprintf (out, "%.17g", x == 0 ? 0.0 : x); /* -0 would read back as the integer 0 */
}

int
pingyi_view_write_json (const pingyi_view_t *view, const pingyi_tally_shard_t *shards, size_t shard_count,
                        const char *extra, FILE *out, char *err)
{
    const pingyi_election_t *e = view->election;
    size_t cats = e->category_count;
    fprintf (out, "{\n  \"api\": %d,\n  \"election\": \"%s\",\n  \"k_anonymity\": %" PRIu32 ",\n",
             PINGYI_TALLY_JSON_API, e->fingerprint_hex, view->k);
    if (extra && extra[0])
        fprintf (out, "  %s,\n", extra);
    write_shards (out, shards, shard_count);
    fprintf (out, "  \"venues\": [");
    for (size_t v = 0; v < e->venue_count; v++) {
        fprintf (out, "%s\n    ", v ? "," : "");
        write_venue (out, e, v, &view->venues[v].figures, view);
    }
    fprintf (out, "\n  ],\n  \"levels\": {");
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++) {
        const pingyi_level_view_t *lv = &view->levels[l];
        fprintf (out, "%s\n    \"%s\": [", l ? "," : "", pingyi_level_name ((pingyi_level_t) l));
        for (size_t r = 0; r < lv->row_count; r++) {
            const pingyi_row_t *row = &lv->rows[r];
            fprintf (out, "%s\n      {\"id\":", r ? "," : "");
            pingyi_json_write_string (out, row->id);
            fprintf (out, ",\"suppressed\":%s,\"cells\":[", row->suppressed ? "true" : "false");
            for (size_t i = 0; i < e->item_count; i++) {
                const pingyi_choice_set_t *set = &e->choice_sets[e->items[i].choice_set];
                fprintf (out, "%s[", i ? "," : "");
                for (size_t c = 0; c <= cats; c++) {
                    const pingyi_cell_stats_t *cell = &row->stats[i * (cats + 1) + c];
                    if (c)
                        fputc (',', out);
                    if (cell->suppressed) {
                        fputs ("null", out);
                        continue;
                    }
                    fputc ('[', out);
                    for (size_t m = 0; m < set->choice_count; m++)
                        fprintf (out, "%" PRIu64 ",", cell->choices[m]);
                    fprintf (out, "%" PRIu64 ",%" PRIu64 ",", cell->blank, cell->over);
                    write_real (out, cell->score);
                    fputc (']', out);
                }
                fputc (']', out);
            }
            fprintf (out, "]}");
        }
        fprintf (out, "%s]", lv->row_count ? "\n    " : "");
    }
    fprintf (out, "\n  }\n}\n");
    if (fflush (out) || ferror (out))
        return pingyi_fail (err, "writing the view: %s", strerror (errno ? errno : EIO));
    return 0;
}

/*  ---------------------------------------------------------------------
    Reader  */

/*  A required member of obj as a string; NULL with err.  */
static const char *
get_string (const json_t *obj, const char *at, const char *key, size_t *len, char *err)
{
    const json_t *v = json_object_get (obj, key);
    if (!v) {
        pingyi_fail (err, "%s: missing \"%s\"", at, key);
        return NULL;
    }
    if (!json_is_string (v)) {
        pingyi_fail (err, "%s.%s: must be a string, not %s", at, key, pingyi_json_type (v));
        return NULL;
    }
    *len = json_string_length (v);
    return json_string_value (v);
}

/*  A required integer member in [min, max]; 0 / -1 with err.  */
static int
get_int (const json_t *obj, const char *at, const char *key, int64_t min, int64_t max, int64_t *out,
         char *err)
{
    const json_t *v = json_object_get (obj, key);
    if (!v)
        return pingyi_fail (err, "%s: missing \"%s\"", at, key);
    if (!json_is_integer (v))
        return pingyi_fail (err, "%s.%s: must be an integer, not %s", at, key, pingyi_json_type (v));
    json_int_t n = json_integer_value (v);
    if (n < min || n > max)
        return pingyi_fail (err, "%s.%s: %lld is out of range %lld..%lld", at, key, (long long) n,
                            (long long) min, (long long) max);
    *out = n;
    return 0;
}

static int
unknown (char *err, const char *at, const char *key, const char *what, const char *s, size_t len)
{
    char q[PINGYI_QUOTE_SIZE (PINGYI_QUOTE_SHOWN)];
    pingyi_quote (q, sizeof q, s, len, PINGYI_QUOTE_SHOWN);
    return pingyi_fail (err, "%s.%s: unknown %s %s", at, key, what, q);
}

/*  One venue object into f (the venue index in *venue).  0 / -1.  */
static int
parse_figures (const pingyi_election_t *e, const json_t *obj, const char *at, bool *seen,
               pingyi_venue_figures_t *out, bool *hidden, char *err)
{
    if (!json_is_object (obj))
        return pingyi_fail (err, "%s: must be an object, not %s", at, pingyi_json_type (obj));
    size_t len;
    const char *id = get_string (obj, at, "venue", &len, err);
    if (!id)
        return -1;
    int venue = pingyi_election_venue (e, id, len);
    if (venue < 0)
        return unknown (err, at, "venue", "venue", id, len);
    if (seen[venue])
        return pingyi_fail (err, "%s.venue: venue %s appears twice", at, e->venues[venue].id);
    seen[venue] = true;

    pingyi_venue_figures_t f = {.venue = (uint32_t) venue};
    int64_t n[7];
    static const char *keys[7] = {"accepted", "blank",     "duplicates", "rejected",
                                  "issued",   "collected", "sent"};
    for (int k = 0; k < 7; k++)
        if (get_int (obj, at, keys[k], k < 4 ? 0 : -1, INT64_MAX, &n[k], err))
            return -1;
    f.accepted = (uint64_t) n[0];
    f.blank = (uint64_t) n[1];
    f.duplicates = (uint64_t) n[2];
    f.rejected = (uint64_t) n[3];
    f.issued = n[4];
    f.collected = n[5];
    f.sent = n[6];
    const json_t *closed = json_object_get (obj, "closed");
    if (!closed)
        return pingyi_fail (err, "%s: missing \"closed\"", at);
    if (!json_is_boolean (closed))
        return pingyi_fail (err, "%s.closed: must be true or false, not %s", at, pingyi_json_type (closed));
    f.closed = json_is_true (closed);
    /* reopens came later: absent means 0 */
    if (json_object_get (obj, "reopens")) {
        int64_t reopens;
        if (get_int (obj, at, "reopens", 0, UINT32_MAX, &reopens, err))
            return -1;
        f.reopens = (uint32_t) reopens;
    }

    const json_t *by = json_object_get (obj, "rejected_by");
    if (by && !json_is_object (by))
        return pingyi_fail (err, "%s.rejected_by: must be an object, not %s", at, pingyi_json_type (by));
    const char *reason;
    const json_t *count;
    char sub[96];
    snprintf (sub, sizeof sub, "%s.rejected_by", at);
    json_object_foreach ((json_t *) by, reason, count)
    {
        int code = 0;
        for (int r = 1; r < PINGYI_REJECT_COUNT_; r++)
            if (!strcmp (reason, pingyi_reject_name ((pingyi_reject_t) r)))
                code = r;
        if (!code) {
            char q[PINGYI_QUOTE_SIZE (PINGYI_QUOTE_SHOWN)];
            pingyi_quote (q, sizeof q, reason, strlen (reason), PINGYI_QUOTE_SHOWN);
            return pingyi_fail (err, "%s: unknown rejection reason %s", sub, q);
        }
        int64_t v;
        if (get_int (by, sub, reason, 0, INT64_MAX, &v, err))
            return -1;
        f.rejected_by[code] = (uint64_t) v;
    }

    /* ballots by category: the released groups; the suppressed named */
    const json_t *cats = json_object_get (obj, "by_category");
    if (cats && !json_is_object (cats))
        return pingyi_fail (err, "%s.by_category: must be an object, not %s", at, pingyi_json_type (cats));
    snprintf (sub, sizeof sub, "%s.by_category", at);
    const char *cid;
    const json_t *cv;
    json_object_foreach ((json_t *) cats, cid, cv)
    {
        int c = pingyi_election_category (e, cid, strlen (cid));
        if (c < 0 || c >= PINGYI_FIGURES_CATEGORIES) {
            char q[PINGYI_QUOTE_SIZE (PINGYI_QUOTE_SHOWN)];
            pingyi_quote (q, sizeof q, cid, strlen (cid), PINGYI_QUOTE_SHOWN);
            return pingyi_fail (err, "%s: unknown category %s", sub, q);
        }
        int64_t v;
        if (get_int (cats, sub, cid, 0, INT64_MAX, &v, err))
            return -1;
        f.by_category[c] = (uint64_t) v;
    }
    if (cats)
        f.category_count =
            (uint32_t) (e->category_count < PINGYI_FIGURES_CATEGORIES ? e->category_count
                                                                      : PINGYI_FIGURES_CATEGORIES);
    const json_t *sup = json_object_get (obj, "suppressed_categories");
    if (sup && !json_is_array (sup))
        return pingyi_fail (err, "%s.suppressed_categories: must be an array, not %s", at,
                            pingyi_json_type (sup));
    bool named[PINGYI_FIGURES_CATEGORIES] = {false};
    size_t i;
    json_array_foreach (sup, i, cv)
    {
        if (!json_is_string (cv))
            return pingyi_fail (err, "%s.suppressed_categories[%zu]: must be a string, not %s", at, i,
                                pingyi_json_type (cv));
        const char *name = json_string_value (cv);
        size_t nlen = json_string_length (cv);
        int c = pingyi_election_category (e, name, nlen);
        if (c < 0 || c >= PINGYI_FIGURES_CATEGORIES) {
            char q[PINGYI_QUOTE_SIZE (PINGYI_QUOTE_SHOWN)];
            pingyi_quote (q, sizeof q, name, nlen, PINGYI_QUOTE_SHOWN);
            return pingyi_fail (err, "%s.suppressed_categories[%zu]: unknown category %s", at, i, q);
        }
        if (named[c] || (cats && json_object_get (cats, e->categories[c].id)))
            return pingyi_fail (err, "%s.suppressed_categories[%zu]: category %s is named twice", at, i,
                                e->categories[c].id);
        named[c] = true;
    }
    *out = f;
    if (hidden) /* the groups the release withheld, by category */
        memcpy (hidden, named, sizeof named);
    return 0;
}

static int
read_figures (pingyi_tally_t *tally, const pingyi_election_t *e, const json_t *obj, const char *at,
              bool *seen, char *err)
{
    pingyi_venue_figures_t f;
    if (parse_figures (e, obj, at, seen, &f, NULL, err))
        return -1;
    if (pingyi_tally_set_figures (tally, &f))
        return pingyi_fail (err, "%s: venue out of range", at);
    return 0;
}

static int
read_counter (pingyi_tally_t *tally, const pingyi_election_t *e, const json_t *obj, const char *at, char *err)
{
    if (!json_is_object (obj))
        return pingyi_fail (err, "%s: must be an object, not %s", at, pingyi_json_type (obj));
    size_t len;
    const char *s;
    if (!(s = get_string (obj, at, "venue", &len, err)))
        return -1;
    int venue = pingyi_election_venue (e, s, len);
    if (venue < 0)
        return unknown (err, at, "venue", "venue", s, len);
    if (!(s = get_string (obj, at, "subject", &len, err)))
        return -1;
    int subject = pingyi_election_subject (e, s, len);
    if (subject < 0)
        return unknown (err, at, "subject", "subject", s, len);
    if (!(s = get_string (obj, at, "item", &len, err)))
        return -1;
    int item = -1;
    for (size_t i = 0; i < e->item_count; i++)
        if (strlen (e->items[i].id) == len && !memcmp (e->items[i].id, s, len))
            item = (int) i;
    if (item < 0)
        return unknown (err, at, "item", "item", s, len);
    if (!(s = get_string (obj, at, "category", &len, err)))
        return -1;
    int category = pingyi_election_category (e, s, len);
    if (category < 0)
        return unknown (err, at, "category", "category", s, len);
    if (!(s = get_string (obj, at, "mark", &len, err)))
        return -1;
    const pingyi_choice_set_t *set = &e->choice_sets[e->items[item].choice_set];
    int mark = -1;
    if (len == 5 && !memcmp (s, "BLANK", 5))
        mark = PINGYI_MARK_BLANK;
    else if (len == 4 && !memcmp (s, "OVER", 4))
        mark = PINGYI_MARK_OVER;
    else
        for (size_t m = 0; m < set->choice_count; m++)
            if (strlen (set->choices[m].label) == len && !memcmp (set->choices[m].label, s, len))
                mark = (int) m;
    if (mark < 0) {
        char q[PINGYI_QUOTE_SIZE (PINGYI_QUOTE_SHOWN)];
        pingyi_quote (q, sizeof q, s, len, PINGYI_QUOTE_SHOWN);
        return pingyi_fail (err, "%s.mark: %s is not a choice of item %s, nor BLANK or OVER", at, q,
                            e->items[item].id);
    }
    int64_t count;
    if (get_int (obj, at, "count", 0, INT64_MAX, &count, err))
        return -1;
    if (pingyi_election_form_index (e, (size_t) venue, (size_t) subject) < 0)
        return pingyi_fail (err, "%s: subject %s is not on venue %s's form", at, e->subjects[subject].id,
                            e->venues[venue].id);
    /* a document may list a key twice (they add up): never wrap around */
    uint64_t before = pingyi_tally_get (tally, (size_t) venue, (size_t) subject, (size_t) item,
                                        (size_t) category, (uint8_t) mark);
    /* ...and a sum stays a JSON integer jansson (and we) can read back */
    if (before > (uint64_t) INT64_MAX - (uint64_t) count)
        return pingyi_fail (err, "%s.count: the counter overflows", at);
    pingyi_counter_key_t key = {.venue = (uint16_t) venue,
                                .subject = (uint16_t) subject,
                                .item = (uint8_t) item,
                                .category = (uint8_t) category,
                                .mark = (uint8_t) mark};
    if (pingyi_tally_add_cell (tally, &key, (uint64_t) count))
        return pingyi_fail (err, "%s: the tally refuses this counter", at);
    return 0;
}

/*  What a document is called in error texts: "view" when it has levels.  */
static const char *
doc_name (const json_t *doc)
{
    return json_is_object (doc) && json_object_get (doc, "levels") ? "view" : "tally";
}

static int
check_header (const pingyi_election_t *e, const json_t *doc, const char *what, char *err)
{
    if (!json_is_object (doc))
        return pingyi_fail (err, "%s: must be a JSON object, not %s", what, pingyi_json_type (doc));
    const json_t *api = json_object_get (doc, "api");
    if (api && !(json_is_integer (api) && json_integer_value (api) == PINGYI_TALLY_JSON_API))
        return pingyi_fail (err, "%s.api: this reader knows api %d only", what, PINGYI_TALLY_JSON_API);
    size_t len;
    const char *fp = get_string (doc, what, "election", &len, err);
    if (!fp)
        return -1;
    if (len != 2 * PINGYI_FP_LEN || strcmp (fp, e->fingerprint_hex)) {
        char q[PINGYI_QUOTE_SIZE (PINGYI_QUOTE_SHOWN)];
        pingyi_quote (q, sizeof q, fp, len, PINGYI_QUOTE_SHOWN);
        return pingyi_fail (err, "%s.election: the %s is for election %s, not this definition's %.16s...",
                            what, what, q, e->fingerprint_hex);
    }
    return 0;
}

/*  The array member key of doc; NULL (and no error) when absent and
    optional.  */
static int
get_array (const json_t *doc, const char *what, const char *key, bool required, const json_t **out, char *err)
{
    *out = json_object_get (doc, key);
    if (!*out) {
        if (required)
            return pingyi_fail (err, "%s: missing \"%s\"", what, key);
        return 0;
    }
    if (!json_is_array (*out))
        return pingyi_fail (err, "%s.%s: must be an array, not %s", what, key, pingyi_json_type (*out));
    return 0;
}

int
pingyi_tally_shards_from_json (const pingyi_election_t *e, const json_t *doc, pingyi_tally_shard_t *shards,
                               char *err)
{
    const char *what = doc_name (doc);
    if (check_header (e, doc, what, err))
        return -1;
    const json_t *list;
    if (get_array (doc, what, "shards", false, &list, err))
        return -1;
    if (!list)
        return 0;
    if (json_array_size (list) > e->shard_count)
        return pingyi_fail (err, "%s.shards: %zu shards listed, the election has %" PRIu32, what,
                            json_array_size (list), e->shard_count);
    bool seen[PINGYI_MAX_SHARDS] = {false};
    size_t i;
    const json_t *obj;
    json_array_foreach (list, i, obj)
    {
        char at[48];
        snprintf (at, sizeof at, "%s.shards[%zu]", what, i);
        if (!json_is_object (obj))
            return pingyi_fail (err, "%s: must be an object, not %s", at, pingyi_json_type (obj));
        pingyi_tally_shard_t *s = &shards[i];
        memset (s, 0, sizeof *s);
        int64_t n;
        if (get_int (obj, at, "shard", 0, (int64_t) e->shard_count - 1, &n, err))
            return -1;
        if (seen[n])
            return pingyi_fail (err, "%s.shard: shard %lld appears twice", at, (long long) n);
        seen[n] = true;
        s->shard = (uint32_t) n;
        if (get_int (obj, at, "sequence", 0, INT64_MAX, &n, err))
            return -1;
        s->sequence = (uint64_t) n;
        size_t len;
        const char *digest = get_string (obj, at, "digest", &len, err);
        if (!digest)
            return -1;
        if (pingyi_unhex (s->digest, 32, digest, len))
            return pingyi_fail (err, "%s.digest: must be 64 hex digits", at);
        s->age_ms = -1;
        if (json_object_get (obj, "age_ms") && get_int (obj, at, "age_ms", 0, INT64_MAX, &s->age_ms, err))
            return -1;
        const json_t *stale = json_object_get (obj, "stale");
        if (stale && !json_is_boolean (stale))
            return pingyi_fail (err, "%s.stale: must be true or false, not %s", at, pingyi_json_type (stale));
        s->stale = stale && json_is_true (stale);
    }
    return (int) json_array_size (list);
}

int
pingyi_tally_from_json (pingyi_tally_t *tally, const pingyi_election_t *e, const json_t *doc, char *err)
{
    pingyi_tally_reset (tally);
    if (check_header (e, doc, "tally", err))
        return -1;
    const json_t *shards, *venues, *counters;
    if (get_array (doc, "tally", "shards", false, &shards, err) ||
        get_array (doc, "tally", "venues", true, &venues, err) ||
        get_array (doc, "tally", "counters", true, &counters, err))
        return -1;
    bool *seen = calloc (e->venue_count, sizeof *seen);
    if (!seen)
        return pingyi_fail (err, "out of memory reading the tally");
    size_t i;
    const json_t *obj;
    char at[48];
    int rc = 0;
    json_array_foreach (venues, i, obj)
    {
        snprintf (at, sizeof at, "tally.venues[%zu]", i);
        if ((rc = read_figures (tally, e, obj, at, seen, err)))
            break;
    }
    free (seen);
    if (!rc)
        json_array_foreach (counters, i, obj)
        {
            snprintf (at, sizeof at, "tally.counters[%zu]", i);
            if ((rc = read_counter (tally, e, obj, at, err)))
                break;
        }
    if (rc)
        pingyi_tally_reset (tally);
    return rc;
}

/*  ---------------------------------------------------------------------
    The view document: reader  */

/*  One cell: null, or [choices..., blank, over, score|null].  0 / -1.  */
static int
read_cell (const json_t *v, const pingyi_choice_set_t *set, const char *at, pingyi_cell_stats_t *cell,
           char *err)
{
    if (json_is_null (v)) {
        cell->suppressed = true;
        return 0;
    }
    size_t want = set->choice_count + 3;
    if (!json_is_array (v) || json_array_size (v) != want)
        return pingyi_fail (err, "%s: must be null or an array of %zu numbers", at, want);
    uint64_t sum = 0;
    for (size_t i = 0; i + 1 < want; i++) {
        const json_t *n = json_array_get (v, i);
        if (!json_is_integer (n) || json_integer_value (n) < 0)
            return pingyi_fail (err, "%s[%zu]: must be a count (an integer >= 0), not %s", at, i,
                                json_is_integer (n) ? "a negative one" : pingyi_json_type (n));
        uint64_t x = (uint64_t) json_integer_value (n);
        if (i < set->choice_count) {
            if (x > (uint64_t) INT64_MAX - sum)
                return pingyi_fail (err, "%s: the counts add up beyond 2^63", at);
            sum += x;
            cell->choices[i] = x;
        }
        else if (i == set->choice_count)
            cell->blank = x;
        else
            cell->over = x;
    }
    const json_t *score = json_array_get (v, want - 1);
    if (json_is_null (score))
        cell->score = NAN;
    else if (json_is_number (score) && isfinite (json_number_value (score)))
        cell->score = json_number_value (score);
    else
        return pingyi_fail (err, "%s[%zu]: the score must be a number or null, not %s", at, want - 1,
                            pingyi_json_type (score));
    cell->suppressed = false;
    return 0;
}

static int
read_row (const pingyi_election_t *e, const json_t *obj, const char *at, pingyi_row_t *row, char *err)
{
    size_t cats = e->category_count;
    if (!json_is_object (obj))
        return pingyi_fail (err, "%s: must be an object, not %s", at, pingyi_json_type (obj));
    size_t len;
    const char *id = get_string (obj, at, "id", &len, err);
    if (!id)
        return -1;
    if (strlen (row->id) != len || memcmp (row->id, id, len)) {
        char q[PINGYI_QUOTE_SIZE (PINGYI_QUOTE_SHOWN)];
        pingyi_quote (q, sizeof q, id, len, PINGYI_QUOTE_SHOWN);
        return pingyi_fail (err, "%s.id: %s where the definition has \"%s\"", at, q, row->id);
    }
    const json_t *sup = json_object_get (obj, "suppressed");
    if (!json_is_boolean (sup))
        return pingyi_fail (err, "%s.suppressed: must be true or false, not %s", at,
                            sup ? pingyi_json_type (sup) : "missing");
    row->suppressed = json_is_true (sup);
    const json_t *items = json_object_get (obj, "cells");
    if (!json_is_array (items) || json_array_size (items) != e->item_count)
        return pingyi_fail (err, "%s.cells: must be an array of %zu items", at, e->item_count);
    for (size_t i = 0; i < e->item_count; i++) {
        const json_t *cells = json_array_get (items, i);
        char sub[160];
        snprintf (sub, sizeof sub, "%s.cells[%zu]", at, i);
        if (!json_is_array (cells) || json_array_size (cells) != cats + 1)
            return pingyi_fail (err, "%s: must be an array of %zu cells (each category, then all)", sub,
                                cats + 1);
        const pingyi_choice_set_t *set = &e->choice_sets[e->items[i].choice_set];
        for (size_t c = 0; c <= cats; c++) {
            char cat[200];
            snprintf (cat, sizeof cat, "%s[%zu]", sub, c);
            pingyi_cell_stats_t *cell = &row->stats[i * (cats + 1) + c];
            if (read_cell (json_array_get (cells, c), set, cat, cell, err))
                return -1;
            if (row->suppressed && !cell->suppressed)
                return pingyi_fail (err, "%s: a figure in a suppressed row", cat);
            if (c == cats && !row->suppressed && cell->suppressed)
                return pingyi_fail (err, "%s: the row's cell is null but the row is not suppressed", cat);
            /* the release decides per category, for every item alike */
            if (i > 0 && cell->suppressed != row->stats[c].suppressed)
                return pingyi_fail (err, "%s: suppressed for some items and not for others", cat);
        }
    }
    return 0;
}

pingyi_view_t *
pingyi_view_from_json (const pingyi_election_t *e, const json_t *doc, char *err)
{
    if (check_header (e, doc, "view", err))
        return NULL;
    int64_t k;
    if (get_int (doc, "view", "k_anonymity", 1, INT32_MAX, &k, err))
        return NULL;
    if ((uint32_t) k != e->k_anonymity) {
        pingyi_fail (err, "view.k_anonymity: %lld, but the definition says %" PRIu32, (long long) k,
                     e->k_anonymity);
        return NULL;
    }
    const json_t *venues;
    if (get_array (doc, "view", "venues", true, &venues, err))
        return NULL;
    const json_t *levels = json_object_get (doc, "levels");
    if (!json_is_object (levels)) {
        pingyi_fail (err, "view.levels: must be an object, not %s",
                     levels ? pingyi_json_type (levels) : "missing");
        return NULL;
    }
    pingyi_venue_figures_t *figs = calloc (e->venue_count ? e->venue_count : 1, sizeof *figs);
    bool *seen = calloc (e->venue_count ? e->venue_count : 1, sizeof *seen);
    bool *hidden = NULL; /* [venue × PINGYI_FIGURES_CATEGORIES]: suppressed_categories */
    pingyi_view_t *view = NULL;
    if (!figs || !seen) {
        pingyi_fail (err, "out of memory reading the view");
        goto done;
    }
    for (size_t v = 0; v < e->venue_count; v++) {
        figs[v].venue = (uint32_t) v;
        figs[v].issued = figs[v].collected = figs[v].sent = -1;
    }
    size_t i;
    const json_t *obj;
    char at[64];
    hidden = calloc ((e->venue_count ? e->venue_count : 1) * PINGYI_FIGURES_CATEGORIES, sizeof *hidden);
    if (!hidden) {
        pingyi_fail (err, "out of memory reading the view");
        goto done;
    }
    json_array_foreach (venues, i, obj)
    {
        snprintf (at, sizeof at, "view.venues[%zu]", i);
        pingyi_venue_figures_t f;
        bool named[PINGYI_FIGURES_CATEGORIES];
        if (parse_figures (e, obj, at, seen, &f, named, err))
            goto done;
        figs[f.venue] = f;
        memcpy (hidden + f.venue * PINGYI_FIGURES_CATEGORIES, named, sizeof named);
    }
    view = pingyi_view_new_empty (e, figs, (uint32_t) k);
    if (!view) {
        pingyi_fail (err, "out of memory reading the view");
        goto done;
    }
    /* the raw tally's groups as released (the rater side reads them) */
    for (size_t v = 0; v < e->venue_count; v++)
        for (size_t c = 0; c < e->category_count && c < PINGYI_FIGURES_CATEGORIES; c++)
            pingyi_view_set_group (view, v, c, c < figs[v].category_count ? figs[v].by_category[c] : 0,
                                   hidden[v * PINGYI_FIGURES_CATEGORIES + c]);
    for (int l = 0; l < PINGYI_LEVEL_COUNT_; l++) {
        const char *name = pingyi_level_name ((pingyi_level_t) l);
        const json_t *rows = json_object_get (levels, name);
        pingyi_level_view_t *lv = &view->levels[l];
        if (!json_is_array (rows) || json_array_size (rows) != lv->row_count) {
            pingyi_fail (err, "view.levels.%s: must be an array of the definition's %zu rows", name,
                         lv->row_count);
            pingyi_view_destroy (&view);
            goto done;
        }
        for (size_t r = 0; r < lv->row_count; r++) {
            snprintf (at, sizeof at, "view.levels.%s[%zu]", name, r);
            if (read_row (e, json_array_get (rows, r), at, &lv->rows[r], err)) {
                pingyi_view_destroy (&view);
                goto done;
            }
        }
    }
    pingyi_view_finish (view);
done:
    free (figs);
    free (seen);
    free (hidden);
    return view;
}
