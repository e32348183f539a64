/*  tally_json.c — a merged tally as JSON: the streaming writer shared by
    `pingyi tally --json` and the aggregator, and the strict reader used by
    `pingyi query --agg` (see tally_json.h for the format).

    The reader's input comes over the network: it is checked here, once,
    where it enters; a document that passes fills the tally through
    pingyi_tally_add and pingyi_tally_set_figures exactly as shard
    snapshots do, so the view cannot tell the two sources apart.  */
#include "tally_json.h"
#include "json_text.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

typedef struct {
    const pingyi_election_t *e;
    FILE *out;
    bool first;
} write_t;

static void
put_counter (const pingyi_counter_key_t *key, uint64_t count, void *arg)
{
    write_t *w = arg;
    const pingyi_election_t *e = w->e;
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

int
pingyi_tally_write_json (const pingyi_tally_t *tally, const pingyi_election_t *e,
                         const pingyi_tally_shard_t *shards, size_t shard_count, unsigned flags, FILE *out,
                         char *err)
{
    fprintf (out, "{\n");
    if (flags & PINGYI_TALLY_JSON_WITH_API)
        fprintf (out, "  \"api\": %d,\n", PINGYI_TALLY_JSON_API);
    fprintf (out, "  \"election\": \"%s\",\n  \"shards\": [", e->fingerprint_hex);
    for (size_t s = 0; s < shard_count; s++) {
        char chain[65];
        pingyi_hex (chain, shards[s].chain, 32);
        fprintf (out, "%s\n    {\"shard\":%" PRIu32 ",\"sequence\":%" PRIu64 ",\"chain\":\"%s\"",
                 s ? "," : "", shards[s].shard, shards[s].sequence, chain);
        if (shards[s].age_ms >= 0)
            fprintf (out, ",\"age_ms\":%" PRId64 ",\"stale\":%s", shards[s].age_ms,
                     shards[s].stale ? "true" : "false");
        fputc ('}', out);
    }
    fprintf (out, "\n  ],\n  \"venues\": [");
    for (size_t v = 0; v < e->venue_count; v++) {
        const pingyi_venue_figures_t *f = pingyi_tally_figures (tally, v);
        fprintf (out, "%s\n    {\"venue\":", v ? "," : "");
        pingyi_json_write_string (out, e->venues[v].id);
        fprintf (out,
                 ",\"accepted\":%" PRIu64 ",\"blank\":%" PRIu64 ",\"duplicates\":%" PRIu64
                 ",\"rejected\":%" PRIu64 ",\"issued\":%" PRId64 ",\"collected\":%" PRId64
                 ",\"sent\":%" PRId64 ",\"closed\":%s,\"rejected_by\":{",
                 f->accepted, f->blank, f->duplicates, f->rejected, f->issued, f->collected, f->sent,
                 f->closed ? "true" : "false");
        bool any = false;
        for (int r = 1; r < PINGYI_REJECT_COUNT_ && r < 16; r++)
            if (f->rejected_by[r]) {
                fprintf (out, "%s\"%s\":%" PRIu64, any ? "," : "", pingyi_reject_name ((pingyi_reject_t) r),
                         f->rejected_by[r]);
                any = true;
            }
        fprintf (out, "}}");
    }
    fprintf (out, "\n  ],\n  \"counters\": [");
    write_t w = {.e = e, .out = out, .first = true};
    pingyi_tally_each (tally, put_counter, &w);
    fprintf (out, "\n  ]\n}\n");
    if (fflush (out) || ferror (out))
        return pingyi_fail (err, "writing the tally: %s", strerror (errno ? errno : EIO));
    return 0;
}

/*  ---------------------------------------------------------------------
    Reader  */

void
pingyi_quote_text (char *out, size_t cap, const char *s, size_t len)
{
    size_t o = 0, limit = 48;
    out[o++] = '"';
    size_t i = 0;
    for (; i < len && i < limit; i++) {
        unsigned char ch = (unsigned char) s[i];
        char esc[8];
        if (ch < 0x20 || ch == 0x7F)
            snprintf (esc, sizeof esc, "\\x%02x", ch);
        else if (ch == '"' || ch == '\\')
            snprintf (esc, sizeof esc, "\\%c", ch);
        else {
            esc[0] = (char) ch;
            esc[1] = '\0';
        }
        size_t n = strlen (esc);
        if (o + n + 5 > cap)
            break;
        memcpy (out + o, esc, n);
        o += n;
    }
    if (i < len) {
        /* cut inside a UTF-8 sequence: drop its first bytes too (bytes
           >= 0x80 are copied as they are, so out ends with them) */
        if (((unsigned char) s[i] & 0xC0) == 0x80) {
            while (o > 1 && ((unsigned char) out[o - 1] & 0xC0) == 0x80)
                o--;
            if (o > 1 && ((unsigned char) out[o - 1] & 0xC0) == 0xC0)
                o--;
        }
        memcpy (out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
}

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
    char q[80];
    pingyi_quote_text (q, sizeof q, s, len);
    return pingyi_fail (err, "%s.%s: unknown %s %s", at, key, what, q);
}

static int
read_figures (pingyi_tally_t *tally, const pingyi_election_t *e, const json_t *obj, const char *at,
              bool *seen, char *err)
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
        for (int r = 1; r < PINGYI_REJECT_COUNT_ && r < 16; r++)
            if (!strcmp (reason, pingyi_reject_name ((pingyi_reject_t) r)))
                code = r;
        if (!code) {
            char q[80];
            pingyi_quote_text (q, sizeof q, reason, strlen (reason));
            return pingyi_fail (err, "%s: unknown rejection reason %s", sub, q);
        }
        int64_t v;
        if (get_int (by, sub, reason, 0, INT64_MAX, &v, err))
            return -1;
        f.rejected_by[code] = (uint64_t) v;
    }
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
        char q[80];
        pingyi_quote_text (q, sizeof q, s, len);
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
    if (before > UINT64_MAX - (uint64_t) count)
        return pingyi_fail (err, "%s.count: the counter overflows", at);
    pingyi_counter_key_t key = {.venue = (uint16_t) venue,
                                .subject = (uint16_t) subject,
                                .item = (uint8_t) item,
                                .category = (uint8_t) category,
                                .mark = (uint8_t) mark};
    uint8_t packed[PINGYI_COUNTER_KEY_LEN];
    pingyi_counter_key_pack (&key, packed);
    if (pingyi_tally_add (tally, packed, (uint64_t) count))
        return pingyi_fail (err, "%s: the tally refuses this counter", at);
    return 0;
}

static int
check_header (const pingyi_election_t *e, const json_t *doc, char *err)
{
    if (!json_is_object (doc))
        return pingyi_fail (err, "tally: must be a JSON object, not %s", pingyi_json_type (doc));
    const json_t *api = json_object_get (doc, "api");
    if (api && !(json_is_integer (api) && json_integer_value (api) == PINGYI_TALLY_JSON_API))
        return pingyi_fail (err, "tally.api: this reader knows api %d only", PINGYI_TALLY_JSON_API);
    size_t len;
    const char *fp = get_string (doc, "tally", "election", &len, err);
    if (!fp)
        return -1;
    if (len != 2 * PINGYI_FP_LEN || strcmp (fp, e->fingerprint_hex)) {
        char q[80];
        pingyi_quote_text (q, sizeof q, fp, len);
        return pingyi_fail (err,
                            "tally.election: the tally is for election %s, not this definition's %.16s...", q,
                            e->fingerprint_hex);
    }
    return 0;
}

/*  The array member key of doc; NULL (and no error) when absent and
    optional.  */
static int
get_array (const json_t *doc, const char *key, bool required, const json_t **out, char *err)
{
    *out = json_object_get (doc, key);
    if (!*out) {
        if (required)
            return pingyi_fail (err, "tally: missing \"%s\"", key);
        return 0;
    }
    if (!json_is_array (*out))
        return pingyi_fail (err, "tally.%s: must be an array, not %s", key, pingyi_json_type (*out));
    return 0;
}

int
pingyi_tally_shards_from_json (const pingyi_election_t *e, const json_t *doc, pingyi_tally_shard_t *shards,
                               char *err)
{
    if (check_header (e, doc, err))
        return -1;
    const json_t *list;
    if (get_array (doc, "shards", false, &list, err))
        return -1;
    if (!list)
        return 0;
    if (json_array_size (list) > e->shard_count)
        return pingyi_fail (err, "tally.shards: %zu shards listed, the election has %" PRIu32,
                            json_array_size (list), e->shard_count);
    bool seen[PINGYI_MAX_SHARDS] = {false};
    size_t i;
    const json_t *obj;
    json_array_foreach (list, i, obj)
    {
        char at[48];
        snprintf (at, sizeof at, "tally.shards[%zu]", i);
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
        const char *chain = get_string (obj, at, "chain", &len, err);
        if (!chain)
            return -1;
        if (pingyi_unhex (s->chain, 32, chain, len))
            return pingyi_fail (err, "%s.chain: must be 64 hex digits", at);
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
    if (check_header (e, doc, err))
        return -1;
    const json_t *shards, *venues, *counters;
    if (get_array (doc, "shards", false, &shards, err) || get_array (doc, "venues", true, &venues, err) ||
        get_array (doc, "counters", true, &counters, err))
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
