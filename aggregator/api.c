/*  api.c — routing and JSON rendering of the aggregator's API (api.h,
    docs/API.md).

    Every request is answered from one published state (state.h): the
    caller holds a reference for the whole render, so a response is one
    consistent moment of the count even while the poller publishes the
    next.  Ages are computed here, at `now`, so a stalled poller shows as
    ageing shards rather than as a frozen "fresh" view.

    Input checks happen here, once: the path against the endpoint table,
    each query argument against the endpoint's list (unknown, repeated, too
    long and bad values are 400 with a text naming the argument).  Text from
    the request is echoed only through json_text, which escapes it and
    replaces bytes that are not UTF-8, so a hostile path cannot break the
    JSON it is quoted in.

    The view itself is rendered by the election library, as `pingyi query`
    renders it: level rows by pingyi_report_json (report.h), the raw tally
    by pingyi_tally_write_released_json and the whole view by
    pingyi_view_write_json (tally_json.h); this file adds freshness.  What
    is released (k-anonymity) was decided once, when the view was made
    (rollup.h): every endpoint shows that view, or the raw tally through
    it, and nothing else.  */
#define _GNU_SOURCE
#include "api.h"
#include "json_text.h"
#include "report.h"
#include "tally_json.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define LEVELS_EXPECTED "city|district|town|department|kind|unit|subject"

/*  A request being answered: its arguments and the output stream.  */
typedef struct {
    agg_api_t *api;
    const agg_state_t *state;
    int64_t now;
    const agg_arg_t *args;
    size_t arg_count;
    FILE *out;
    char *buf;
    size_t len;
    int status;
    char error[PINGYI_ERR_MAX + AGG_URL_MAX * 6 + 64];
} req_t;

static void
json_text (FILE *out, const char *s)
{
    if (s)
        pingyi_json_write_string (out, s);
    else
        fputs ("null", out);
}

static int fail (req_t *r, int status, const char *fmt, ...) PINGYI_PRINTF (3, 4);

static int
fail (req_t *r, int status, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (r->error, sizeof r->error, fmt, ap);
    va_end (ap);
    r->status = status;
    return -1;
}

/*  The value of argument key, or NULL when absent.  A key given without
    '=' has the empty value.  */
static const char *
arg (const req_t *r, const char *key)
{
    for (size_t i = 0; i < r->arg_count; i++)
        if (!strcmp (r->args[i].key, key))
            return r->args[i].value ? r->args[i].value : "";
    return NULL;
}

/*  Check every argument is one of allowed (a NULL-terminated list), given
    once, and not too long.  -1 (400 set) otherwise.  */
static int
check_args (req_t *r, const char *const *allowed)
{
    if (r->arg_count > AGG_ARGS_MAX)
        return fail (r, 400, "too many query arguments (at most %d)", AGG_ARGS_MAX);
    for (size_t i = 0; i < r->arg_count; i++) {
        const char *key = r->args[i].key ? r->args[i].key : "";
        bool known = false;
        for (const char *const *a = allowed; *a; a++)
            known |= !strcmp (*a, key);
        if (!known) {
            char list[128] = "";
            for (const char *const *a = allowed; *a; a++)
                snprintf (list + strlen (list), sizeof list - strlen (list), "%s%s", a == allowed ? "" : ", ",
                          *a);
            return fail (r, 400, "unknown parameter \"%.64s\" (%s%s)", key,
                         allowed[0] ? "this endpoint takes: " : "this endpoint takes none", list);
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp (r->args[j].key, key))
                return fail (r, 400, "%s: given more than once", key);
        if (r->args[i].value && strlen (r->args[i].value) > AGG_ARG_MAX)
            return fail (r, 400, "%s: value longer than %d bytes", key, AGG_ARG_MAX);
    }
    return 0;
}

static size_t
stale_count (const agg_state_t *st, int64_t now)
{
    size_t n = 0;
    for (uint32_t i = 0; i < st->shard_count; i++)
        n += agg_shard_stale (&st->shards[i], now, st->stale_ms);
    return n;
}

/*  A shard's age as served: since its last snapshot, or, for a shard never
    heard from, since the aggregator started asking (what it has had no
    figure for that long); never negative.  */
static int64_t
served_age (const agg_state_t *st, const agg_shard_info_t *s, int64_t now)
{
    int64_t age = s->have ? agg_shard_age (s, now) : now - st->started_ms;
    return age > 0 ? age : 0;
}

/*  Building a jansson document: every allocation may fail; the first
    failure marks the whole document bad, and it is dropped (500).  */
typedef struct {
    bool ok;
} build_t;

static void
put (build_t *b, json_t *obj, const char *key, json_t *value)
{
    if (!value || !obj || json_object_set_new (obj, key, value))
        b->ok = false;
}

static void
push (build_t *b, json_t *arr, json_t *value)
{
    if (!value || !arr || json_array_append_new (arr, value))
        b->ok = false;
}

/*  A string from the network or a definition: UTF-8 was checked where it
    entered, but a string jansson refuses must not cost the document.  */
static json_t *
j_text (const char *s)
{
    if (!s)
        return json_null ();
    json_t *j = json_string (s);
    return j ? j : json_string ("?");
}

static json_t *
j_u64 (uint64_t v)
{
    return json_integer (v > INT64_MAX ? INT64_MAX : (json_int_t) v);
}

/*  {"shard","sequence","digest","generation","age_ms","stale","snapshot","reason"}  */
static json_t *
shard_json (build_t *b, const agg_state_t *st, const agg_shard_info_t *s, int64_t now)
{
    char digest[65];
    pingyi_hex (digest, s->digest, 32);
    json_t *obj = json_object ();
    put (b, obj, "shard", json_integer (s->shard));
    put (b, obj, "sequence", j_u64 (s->sequence));
    put (b, obj, "digest", json_string (digest));
    put (b, obj, "generation", j_u64 (s->generation));
    put (b, obj, "age_ms", json_integer (served_age (st, s, now)));
    put (b, obj, "stale", json_boolean (agg_shard_stale (s, now, st->stale_ms)));
    put (b, obj, "snapshot", json_boolean (s->have));
    put (b, obj, "reason", s->reason[0] ? j_text (s->reason) : json_null ());
    return obj;
}

/*  The members every view answer carries besides the report's: which
    round, how fresh.  */
static void
put_freshness (build_t *b, json_t *doc, const agg_state_t *st, int64_t now)
{
    put (b, doc, "round", j_u64 (st->round));
    put (b, doc, "merged_round", j_u64 (st->merged->round));
    put (b, doc, "merged_at", json_integer ((json_int_t) st->merged->wall));
    put (b, doc, "stale_shards", json_integer ((json_int_t) stale_count (st, now)));
}

/*  "snapshot_at": when the figures shown were taken — the merge time of
    the view served, ISO 8601 local time with offset.  */
static void
put_snapshot (build_t *b, json_t *doc, const agg_state_t *st)
{
    char at[PINGYI_SNAPSHOT_TEXT];
    pingyi_time_text ((int64_t) st->merged->wall, at, sizeof at);
    put (b, doc, "snapshot_at", json_string (at));
}

/*  Dump doc to the answer, or 500 when it could not be built.  Takes doc.  */
static int
finish (req_t *r, build_t *b, json_t *doc)
{
    int rc = 0;
    if (!b->ok || !doc || json_dumpf (doc, r->out, PINGYI_REPORT_JSON_FLAGS))
        rc = fail (r, 500, "out of memory building the answer");
    else
        fputc ('\n', r->out);
    json_decref (doc);
    return rc;
}

/*  Parse district, category and item into filter, with texts naming the
    argument.  -1 (400 set) on an unknown id.  */
static int
parse_filter (req_t *r, pingyi_report_filter_t *filter)
{
    const pingyi_election_t *e = r->state->merged->election;
    const char *d = arg (r, "district"), *c = arg (r, "category"), *it = arg (r, "item");
    if (d) {
        for (size_t i = 0; i < e->district_count && filter->district < 0; i++)
            if (!strcmp (e->districts[i].id, d))
                filter->district = (int) i;
        if (filter->district < 0)
            return fail (r, 400, "district: unknown district \"%.64s\"", d);
    }
    if (c) {
        filter->category = pingyi_election_category (e, c, strlen (c));
        if (filter->category < 0)
            return fail (r, 400, "category: unknown category \"%.64s\"", c);
    }
    if (it) {
        for (size_t i = 0; i < e->item_count && filter->item < 0; i++)
            if (!strcmp (e->items[i].id, it))
                filter->item = (int) i;
        if (filter->item < 0)
            return fail (r, 400, "item: unknown item \"%.64s\"", it);
    }
    return 0;
}

/*  The report document of filter (report.h), or 500.  */
static json_t *
report (req_t *r, const pingyi_report_filter_t *filter)
{
    json_t *doc = pingyi_report_json (r->state->merged->view, filter);
    if (!doc)
        fail (r, 500, "out of memory building the report");
    return doc;
}

/*  GET /api/v1/rollup (and /subjects, /units): one level's rows in the
    report's JSON (docs/rollup.md), with the freshness members added.  */
static int
level_rows (req_t *r, pingyi_level_t level)
{
    pingyi_report_filter_t filter;
    pingyi_report_filter_init (&filter);
    filter.level = level;
    if (parse_filter (r, &filter))
        return -1;
    json_t *doc = report (r, &filter);
    if (!doc)
        return -1;
    build_t b = {.ok = true};
    put_freshness (&b, doc, r->state, r->now);
    put_snapshot (&b, doc, r->state);
    return finish (r, &b, doc);
}

/*  GET /api/v1/rollup?side=rater&by=venue|district|category[&subject=S |
    &unit=U | &of=LEVEL=ID] (or by=venue on either side): the rater side of
    the merged view (rollup.h pingyi_side_view_new, docs/rollup.md "The
    rater side"), computed per request from the merged tally the view was
    released from, with the same release; the report's JSON with "side",
    "by" and "of".  */
static int
rater_rows (req_t *r, const char *by)
{
    const agg_state_t *st = r->state;
    const pingyi_election_t *e = st->merged->election;
    int rby = pingyi_rater_by_parse (by);
    if (rby < 0)
        return fail (r, 400, "by: unknown rater-side grouping \"%.64s\" (expected venue, district or category)", by);
    const char *subj = arg (r, "subject"), *unit = arg (r, "unit"), *of = arg (r, "of");
    pingyi_level_t level;
    const char *id;
    char why[128];
    if (pingyi_side_of_parse (subj, unit, of, &level, &id, why, sizeof why))
        return fail (r, 400, "%s", why);
    const char *level_name = pingyi_level_name (level);
    char named[256];
    int row = pingyi_view_find_row_named (st->merged->view, (pingyi_level_t) level, id, named, sizeof named);
    if (row == -2)
        return fail (r, 400, "%s: %s", subj ? "subject" : unit ? "unit" : "of", named);
    if (row < 0)
        return fail (r, 400, "%s: unknown %s \"%.64s\"", subj ? "subject" : unit ? "unit" : "of", level_name, id);
    (void) e;
    pingyi_report_filter_t filter;
    pingyi_report_filter_init (&filter);
    if (parse_filter (r, &filter))
        return -1;
    pingyi_side_view_t *side = pingyi_side_view_new (st->merged->view, st->merged->tally, (pingyi_rater_by_t) rby,
                                                     (pingyi_level_t) level, (size_t) row);
    if (!side)
        return fail (r, 500, "out of memory computing the rater side");
    filter.side = side;
    json_t *doc = report (r, &filter);
    if (!doc) {
        pingyi_side_view_destroy (&side);
        return -1;
    }
    build_t b = {.ok = true};
    put_freshness (&b, doc, r->state, r->now);
    put_snapshot (&b, doc, r->state);
    int rc = finish (r, &b, doc);
    pingyi_side_view_destroy (&side);
    return rc;
}

static int
get_rollup (req_t *r)
{
    static const char *const allowed[] = {"by", "district", "category", "item", "side", "subject", "unit", "of",
                                          NULL};
    if (check_args (r, allowed))
        return -1;
    const char *by = arg (r, "by"), *side = arg (r, "side");
    if (side && strcmp (side, "rater") && strcmp (side, "subject"))
        return fail (r, 400, "side: unknown side \"%.64s\" (expected subject or rater)", side);
    if ((side && !strcmp (side, "rater")) || (by && !strcmp (by, "venue")))
        return rater_rows (r, by ? by : "venue");
    if (arg (r, "subject") || arg (r, "unit") || arg (r, "of"))
        return fail (r, 400, "subject, unit and of go with side=rater (or by=venue)");
    if (!by)
        return fail (r, 400, "by: missing (expected " LEVELS_EXPECTED ")");
    int level = pingyi_level_parse (by);
    if (level < 0)
        return fail (r, 400, "by: unknown level \"%.64s\" (expected " LEVELS_EXPECTED ")", by);
    return level_rows (r, (pingyi_level_t) level);
}

static int
get_subjects (req_t *r)
{
    static const char *const allowed[] = {"district", "category", "item", NULL};
    return check_args (r, allowed) ? -1 : level_rows (r, PINGYI_LEVEL_SUBJECT);
}

static int
get_units (req_t *r)
{
    static const char *const allowed[] = {"district", "category", "item", NULL};
    return check_args (r, allowed) ? -1 : level_rows (r, PINGYI_LEVEL_UNIT);
}

static const char *const no_args[] = {NULL};

/*  GET /api/v1/summary: the report's election, final and status, every
    shard's freshness, and the city row of the overall item.  */
static int
get_summary (req_t *r)
{
    if (check_args (r, no_args))
        return -1;
    const agg_state_t *st = r->state;
    pingyi_report_filter_t filter;
    pingyi_report_filter_init (&filter);
    filter.level = PINGYI_LEVEL_CITY;
    json_t *rep = report (r, &filter);
    if (!rep)
        return -1;
    build_t b = {.ok = true};
    json_t *doc = json_object ();
    put (&b, doc, "api", json_integer (AGG_API_VERSION));
    put (&b, doc, "election", json_incref (json_object_get (rep, "election")));
    put (&b, doc, "final", json_boolean (agg_state_final (st)));
    put (&b, doc, "provisional", json_incref (json_object_get (rep, "provisional")));
    put_snapshot (&b, doc, st);
    put (&b, doc, "k_anonymity", json_incref (json_object_get (rep, "k_anonymity")));
    bool complete = true;
    for (uint32_t i = 0; i < st->shard_count; i++)
        complete &= st->shards[i].have;
    put (&b, doc, "complete", json_boolean (complete));
    put_freshness (&b, doc, st, r->now);
    put (&b, doc, "status", json_incref (json_object_get (rep, "status")));
    json_t *shards = json_array ();
    for (uint32_t i = 0; i < st->shard_count; i++)
        push (&b, shards, shard_json (&b, st, &st->shards[i], r->now));
    put (&b, doc, "shards", shards);
    put (&b, doc, "item", json_incref (json_object_get (rep, "item")));
    put (&b, doc, "kind", json_incref (json_object_get (rep, "kind")));
    put (&b, doc, "labels", json_incref (json_object_get (rep, "labels")));
    json_t *city = json_array_get (json_object_get (rep, "rows"), 0);
    put (&b, doc, "city", city ? json_incref (city) : json_null ());
    json_decref (rep);
    return finish (r, &b, doc);
}

/*  GET /api/v1/venues[?district=D]: reconciliation per venue (the report's
    venue objects) with the venue's shard and whether that shard is stale.  */
static int
get_venues (req_t *r)
{
    static const char *const allowed[] = {"district", NULL};
    if (check_args (r, allowed))
        return -1;
    const agg_state_t *st = r->state;
    const pingyi_election_t *e = st->merged->election;
    pingyi_report_filter_t filter;
    pingyi_report_filter_init (&filter);
    filter.level = PINGYI_LEVEL_CITY;
    if (parse_filter (r, &filter))
        return -1;
    json_t *rep = report (r, &filter);
    if (!rep)
        return -1;
    build_t b = {.ok = true};
    json_t *doc = json_object ();
    put (&b, doc, "api", json_integer (AGG_API_VERSION));
    put (&b, doc, "election", json_string (e->fingerprint_hex));
    put (&b, doc, "final", json_incref (json_object_get (rep, "final"))); /* of the district asked */
    put (&b, doc, "provisional", json_incref (json_object_get (rep, "provisional")));
    put_freshness (&b, doc, st, r->now);
    put_snapshot (&b, doc, st);
    put (&b, doc, "district", json_incref (json_object_get (rep, "district")));
    put (&b, doc, "status", json_incref (json_object_get (rep, "status")));
    json_t *venues = json_object_get (rep, "venues");
    size_t i;
    json_t *v;
    json_array_foreach (venues, i, v)
    {
        const char *id = json_string_value (json_object_get (v, "id"));
        int vi = id ? pingyi_election_venue (e, id, strlen (id)) : -1;
        if (vi < 0) {
            b.ok = false;
            break;
        }
        uint32_t shard = e->venues[vi].shard;
        put (&b, v, "shard", json_integer (shard));
        put (&b, v, "stale",
             json_boolean (shard >= st->shard_count ||
                           agg_shard_stale (&st->shards[shard], r->now, st->stale_ms)));
    }
    put (&b, doc, "venues", json_incref (venues));
    json_decref (rep);
    return finish (r, &b, doc);
}

/*  Every shard's line of the tally and view documents: sequence, digest,
    age since its last snapshot (or, never heard from, sequence 0, the
    zero digest and the age since the aggregator started) and staleness.
    NULL (500 set) on out of memory.  */
static pingyi_tally_shard_t *
shard_lines (req_t *r)
{
    const agg_state_t *st = r->state;
    pingyi_tally_shard_t *shards = calloc (st->shard_count ? st->shard_count : 1, sizeof *shards);
    if (!shards) {
        fail (r, 500, "out of memory");
        return NULL;
    }
    for (uint32_t i = 0; i < st->shard_count; i++) {
        const agg_shard_info_t *s = &st->shards[i];
        shards[i].shard = s->shard;
        shards[i].sequence = s->sequence;
        memcpy (shards[i].digest, s->digest, 32);
        shards[i].age_ms = served_age (st, s, r->now);
        shards[i].stale = agg_shard_stale (s, r->now, st->stale_ms);
    }
    return shards;
}

/*  GET /api/v1/tally: the merged tally as released, written by the same
    code as `pingyi tally --json` (tally_json.h) with "api" and each
    shard's age and staleness, but without the (venue, category) groups
    the view's release withholds.  */
static int
get_tally (req_t *r)
{
    if (check_args (r, no_args))
        return -1;
    const agg_state_t *st = r->state;
    pingyi_tally_shard_t *shards = shard_lines (r);
    if (!shards)
        return -1;
    char err[PINGYI_ERR_MAX];
    int rc = pingyi_tally_write_released_json (st->merged->tally, st->merged->view, shards, st->shard_count,
                                               PINGYI_TALLY_JSON_WITH_API, r->out, err);
    free (shards);
    return rc ? fail (r, 500, "%s", err) : 0;
}

/*  GET /api/v1/view: the released view whole, every row of every level
    (tally_json.h), with the freshness members: what `pingyi query --agg`
    renders, so it prints exactly what this aggregator serves.  */
static int
get_view (req_t *r)
{
    if (check_args (r, no_args))
        return -1;
    const agg_state_t *st = r->state;
    pingyi_tally_shard_t *shards = shard_lines (r);
    if (!shards)
        return -1;
    /* what keeps it PROVISIONAL ({venue, why}, as the report's), and the
       snapshot time; a reader recomputes both from the venues and merged_at */
    pingyi_report_filter_t filter;
    pingyi_report_filter_init (&filter);
    filter.level = PINGYI_LEVEL_CITY;
    json_t *rep = report (r, &filter);
    if (!rep) {
        free (shards);
        return -1;
    }
    char *held = json_dumps (json_object_get (rep, "provisional"), PINGYI_REPORT_JSON_FLAGS);
    json_decref (rep);
    char at[PINGYI_SNAPSHOT_TEXT];
    pingyi_time_text ((int64_t) st->merged->wall, at, sizeof at);
    size_t cap = (held ? strlen (held) : 0) + 512;
    char *extra = malloc (cap), err[PINGYI_ERR_MAX];
    if (!held || !extra) {
        free (held);
        free (extra);
        free (shards);
        return fail (r, 500, "out of memory building the answer");
    }
    snprintf (extra, cap,
              "\"final\": %s,\n  \"provisional\": %s,\n  \"round\": %llu,\n  \"merged_round\": %llu,\n"
              "  \"merged_at\": %lld,\n  \"snapshot_at\": \"%s\",\n  \"stale_shards\": %zu",
              agg_state_final (st) ? "true" : "false", held, (unsigned long long) st->round,
              (unsigned long long) st->merged->round, (long long) st->merged->wall, at,
              stale_count (st, r->now));
    int rc = pingyi_view_write_json (st->merged->view, shards, st->shard_count, extra, r->out, err);
    free (held);
    free (extra);
    free (shards);
    return rc ? fail (r, 500, "%s", err) : 0;
}

static int
get_history (req_t *r)
{
    static const char *const allowed[] = {"limit", NULL};
    if (check_args (r, allowed))
        return -1;
    unsigned long limit = AGG_HISTORY_LIMIT_DEFAULT;
    const char *l = arg (r, "limit");
    if (l) {
        char *end = NULL;
        bool digits = l[0] >= '0' && l[0] <= '9' && strlen (l) <= 6;
        limit = digits ? strtoul (l, &end, 10) : 0;
        if (!digits || *end || limit < 1 || limit > AGG_HISTORY_KEEP)
            return fail (r, 400, "limit: expected 1..%d, got \"%.64s\"", AGG_HISTORY_KEEP, l);
    }
    if (!r->api->history)
        return fail (r, 503, "no history store");
    /* records go to a stream of their own first: a storage error must not
       leave half a body in the answer */
    char *recs = NULL;
    size_t recs_len = 0, count = 0, skipped = 0;
    FILE *f = open_memstream (&recs, &recs_len);
    if (!f)
        return fail (r, 500, "out of memory");
    char err[PINGYI_ERR_MAX];
    int rc = agg_history_dump (r->api->history, limit, f, &count, &skipped, err);
    if (fclose (f) && rc == 0)
        rc = pingyi_fail (err, "out of memory");
    if (rc) {
        free (recs);
        return fail (r, 500, "%s", err);
    }
    if (skipped)
        atomic_fetch_add (&r->api->stats.history_skipped, skipped);
    fprintf (r->out, "{\"api\":%d,\"election\":\"%s\",\"limit\":%lu,\"count\":%zu,\"records\":[",
             AGG_API_VERSION, r->state->merged->election->fingerprint_hex, limit, count);
    fwrite (recs, 1, recs_len, r->out);
    fputs ("]}\n", r->out);
    free (recs);
    return 0;
}

/*  GET /api/v1/stats: the aggregator's own counters (every refusal has
    one).  */
static int
get_stats (req_t *r)
{
    if (check_args (r, no_args))
        return -1;
    const agg_state_t *st = r->state;
    const agg_shards_stats_t *s = &st->shard_stats;
    const agg_poll_stats_t *p = &st->poll_stats;
    agg_api_stats_t *h = &r->api->stats;
    build_t b = {.ok = true};
    json_t *doc = json_object ();
    put (&b, doc, "api", json_integer (AGG_API_VERSION));
    put (&b, doc, "round", j_u64 (st->round));
    put (&b, doc, "broker", j_text (st->broker));
    put (&b, doc, "interval_ms", json_integer (st->interval_ms));
    put (&b, doc, "stale_ms", json_integer (st->stale_ms));
    json_t *poller = json_object (), *shards = json_object (), *http = json_object ();
#define N(obj, name, v) put (&b, obj, name, j_u64 (v))
    N (poller, "rounds", p->rounds);
    N (poller, "merges", p->merges);
    N (poller, "frames_in", p->frames_in);
    N (poller, "bad_frames", p->bad_frames);
    N (poller, "multipart", p->multipart);
    N (poller, "unexpected", p->unexpected);
    N (poller, "send_failures", p->send_failures);
    N (poller, "failovers", p->failovers);
    N (poller, "history_writes", p->history_writes);
    N (poller, "history_errors", p->history_errors);
    N (poller, "merge_us", p->merge_us);
    N (poller, "merge_refused_keys", st->merged->refused_keys);
    N (shards, "queries_sent", s->queries_sent);
    N (shards, "pages", s->pages);
    N (shards, "completes", s->completes);
    N (shards, "changes", s->changes);
    N (shards, "restarts", s->restarts);
    N (shards, "retries", s->retries);
    N (shards, "errors", s->errors);
    N (shards, "timeouts", s->timeouts);
    N (shards, "late", s->late);
    N (shards, "refused", s->refused);
    N (shards, "refused_election", s->refused_election);
    N (shards, "refused_shard", s->refused_shard);
    N (shards, "refused_order", s->refused_order);
    N (shards, "refused_key", s->refused_key);
    N (shards, "refused_venue", s->refused_venue);
    N (shards, "refused_size", s->refused_size);
    N (http, "requests", atomic_load (&h->requests));
    N (http, "ok", atomic_load (&h->ok));
    N (http, "bad_request", atomic_load (&h->bad_request));
    N (http, "not_found", atomic_load (&h->not_found));
    N (http, "bad_method", atomic_load (&h->bad_method));
    N (http, "too_long", atomic_load (&h->too_long));
    N (http, "unavailable", atomic_load (&h->unavailable));
    N (http, "failed", atomic_load (&h->failed));
    N (http, "history_skipped", atomic_load (&h->history_skipped));
    N (http, "bodies_ignored", atomic_load (&h->bodies_ignored));
#undef N
    put (&b, doc, "poller", poller);
    put (&b, doc, "shards", shards);
    put (&b, doc, "http", http);
    return finish (r, &b, doc);
}

static int get_index (req_t *r);

static const struct {
    const char *path;
    int (*fn) (req_t *r);
} routes[] = {
    {"/api/v1", get_index},       {"/api/v1/summary", get_summary}, {"/api/v1/subjects", get_subjects},
    {"/api/v1/units", get_units}, {"/api/v1/rollup", get_rollup},   {"/api/v1/venues", get_venues},
    {"/api/v1/tally", get_tally}, {"/api/v1/view", get_view},       {"/api/v1/history", get_history},
    {"/api/v1/stats", get_stats},
};

static int
get_index (req_t *r)
{
    if (check_args (r, no_args))
        return -1;
    fprintf (r->out, "{\"api\":%d,\"endpoints\":[", AGG_API_VERSION);
    for (size_t i = 1; i < sizeof routes / sizeof routes[0]; i++)
        fprintf (r->out, "%s\"%s\"", i > 1 ? "," : "", routes[i].path);
    fputs ("]}\n", r->out);
    return 0;
}

static void
count_status (agg_api_t *api, int status)
{
    atomic_ullong *c = status == 200   ? &api->stats.ok
                       : status == 400 ? &api->stats.bad_request
                       : status == 404 ? &api->stats.not_found
                       : status == 405 ? &api->stats.bad_method
                       : status == 414 ? &api->stats.too_long
                       : status == 503 ? &api->stats.unavailable
                                       : &api->stats.failed;
    atomic_fetch_add (c, 1);
}

/*  Turn r->error into the reply body {"error":"..."}.  */
static void
error_reply (req_t *r, agg_reply_t *reply)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&buf, &len);
    if (f) {
        fputs ("{\"error\":", f);
        json_text (f, r->error);
        fputs ("}\n", f);
        if (fclose (f) == 0) {
            reply->body = buf;
            reply->len = len;
            return;
        }
    }
    free (buf);
    reply->status = 500;
}

void
agg_api_route (agg_api_t *api, const agg_state_t *state, int64_t now, const char *method, const char *path,
               const agg_arg_t *args, size_t arg_count, agg_reply_t *reply)
{
    req_t r = {.api = api, .state = state, .now = now, .args = args, .arg_count = arg_count, .status = 200};
    reply->status = 200;
    reply->body = NULL;
    reply->len = 0;
    atomic_fetch_add (&api->stats.requests, 1);
    int (*fn) (req_t *) = NULL;
    if (!path)
        path = "";
    size_t plen = strlen (path);
    if (!method || strcmp (method, "GET") != 0)
        fail (&r, 405, "method %.16s not allowed: GET only", method ? method : "?");
    else if (plen > AGG_URL_MAX)
        fail (&r, 414, "URL too long (more than %d bytes)", AGG_URL_MAX);
    else {
        for (size_t i = 0; i < sizeof routes / sizeof routes[0] && !fn; i++)
            if (!strcmp (routes[i].path, path))
                fn = routes[i].fn;
        if (!fn) {
            /* the path is echoed through json_text (escaped, UTF-8 checked) */
            snprintf (r.error, sizeof r.error, "no such endpoint: %.*s", (int) plen, path);
            r.status = 404;
        }
        else if (!state || !state->merged || !state->merged->view || !state->merged->tally)
            fail (&r, 503, "no view yet: the first round has not completed");
    }
    if (r.status == 200) {
        r.out = open_memstream (&r.buf, &r.len);
        if (!r.out)
            fail (&r, 500, "out of memory");
        else {
            int rc = fn (&r);
            if (fclose (r.out) != 0 && rc == 0)
                rc = fail (&r, 500, "out of memory");
            if (rc == 0) {
                reply->body = r.buf;
                reply->len = r.len;
            }
            else
                free (r.buf);
        }
    }
    reply->status = r.status;
    if (r.status != 200)
        error_reply (&r, reply);
    count_status (api, reply->status);
}

void
agg_reply_free (agg_reply_t *reply)
{
    free (reply->body);
    reply->body = NULL;
    reply->len = 0;
}
