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
    JSON it is quoted in.  */
#define _GNU_SOURCE
#include "api.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define LEVELS_EXPECTED "city|district|town|department|kind|unit|subject"
#define OOM_BODY "{\"error\":\"out of memory\"}"

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

/*  A JSON string of len bytes: quotes, backslashes and control bytes
    escaped, bytes that do not form UTF-8 (overlongs, surrogates, beyond
    U+10FFFF, truncated) replaced by U+FFFD.  */
static void
json_textn (FILE *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *) s, *end = p + len;
    fputc ('"', out);
    while (p < end) {
        unsigned char c = *p;
        if (c < 0x80) {
            if (c == '"' || c == '\\')
                fprintf (out, "\\%c", c);
            else if (c < 0x20 || c == 0x7f)
                fprintf (out, "\\u%04x", c);
            else
                fputc (c, out);
            p++;
            continue;
        }
        size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        bool ok = n > 0 && (size_t) (end - p) >= n;
        for (size_t i = 1; ok && i < n; i++)
            ok = (p[i] & 0xc0) == 0x80;
        if (ok && n == 3)
            ok = !(c == 0xe0 && p[1] < 0xa0) && !(c == 0xed && p[1] >= 0xa0);
        if (ok && n == 4)
            ok = !(c == 0xf0 && p[1] < 0x90) && !(c == 0xf4 && p[1] >= 0x90);
        if (ok) {
            fwrite (p, 1, n, out);
            p += n;
        }
        else {
            fputs ("\\ufffd", out);
            p++;
        }
    }
    fputc ('"', out);
}

static void
json_text (FILE *out, const char *s)
{
    if (s)
        json_textn (out, s, strlen (s));
    else
        fputs ("null", out);
}

static void
json_double (FILE *out, double v)
{
    if (isnan (v) || isinf (v))
        fputs ("null", out);
    else
        fprintf (out, "%.6g", v);
}

static void
json_hex (FILE *out, const uint8_t *bytes, size_t len)
{
    char hex[2 * 32 + 1];
    pingyi_hex (hex, bytes, len < 32 ? len : 32);
    fprintf (out, "\"%s\"", hex);
}

static int
fail (req_t *r, int status, const char *fmt, ...) PINGYI_PRINTF (3, 4);

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
                snprintf (list + strlen (list), sizeof list - strlen (list), "%s%s", a == allowed ? "" : ", ", *a);
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

/*  {"shard":S,"sequence":N,"chain":"…","age_ms":A,"stale":B[,"reason":…]}  */
static void
shard_json (FILE *out, const agg_state_t *st, uint32_t i, int64_t now, bool reason)
{
    const agg_shard_info_t *s = &st->shards[i];
    fprintf (out, "{\"shard\":%u,\"sequence\":%llu,\"chain\":", s->shard, (unsigned long long) s->sequence);
    if (s->have)
        json_hex (out, s->chain, 32);
    else
        fputs ("null", out);
    fputs (",\"age_ms\":", out);
    if (s->have)
        fprintf (out, "%lld", (long long) agg_shard_age (s, now));
    else
        fputs ("null", out);
    fprintf (out, ",\"stale\":%s", agg_shard_stale (s, now, st->stale_ms) ? "true" : "false");
    if (reason) {
        fputs (",\"reason\":", out);
        json_text (out, s->reason[0] ? s->reason : NULL);
    }
    fputc ('}', out);
}

static void
shards_json (FILE *out, const agg_state_t *st, int64_t now, bool reason)
{
    fputs ("\"shards\":[", out);
    for (uint32_t i = 0; i < st->shard_count; i++) {
        fputs (i ? ",\n  " : "\n  ", out);
        shard_json (out, st, i, now, reason);
    }
    fputs ("]", out);
}

/*  The members every view response starts with: which election, which
    round, how fresh.  */
static void
head_json (req_t *r)
{
    const agg_state_t *st = r->state;
    const pingyi_election_t *e = st->merged->election;
    fprintf (r->out, "{\"api\":%d,\"election\":\"%s\",\"round\":%llu,\"merged_round\":%llu,\"final\":%s,"
                     "\"stale_shards\":%zu",
             AGG_API_VERSION, e->fingerprint_hex, (unsigned long long) st->round,
             (unsigned long long) st->merged->round, agg_state_final (st) ? "true" : "false",
             stale_count (st, r->now));
}

static void
rejected_by_json (FILE *out, const uint64_t *by)
{
    fputc ('{', out);
    bool any = false;
    for (int c = 1; c < PINGYI_REJECT_COUNT_ && c < PINGYI_FIGURES_REJECT_SLOTS; c++)
        if (by[c]) {
            fprintf (out, "%s\"%s\":%llu", any ? "," : "", pingyi_reject_name ((pingyi_reject_t) c),
                     (unsigned long long) by[c]);
            any = true;
        }
    fputc ('}', out);
}

/*  One cell: counts by choice label, blank, over, valid, rates, score.  */
static void
cell_json (FILE *out, const pingyi_election_t *e, size_t item, const pingyi_cell_stats_t *c)
{
    const pingyi_choice_set_t *set = &e->choice_sets[e->items[item].choice_set];
    fputs ("\"choices\":{", out);
    for (size_t m = 0; m < set->choice_count; m++) {
        if (m)
            fputc (',', out);
        json_text (out, set->choices[m].label);
        fprintf (out, ":%llu", (unsigned long long) c->choices[m]);
    }
    fprintf (out, "},\"blank\":%llu,\"over\":%llu,\"valid\":%llu,\"favourable\":%llu,\"unfavourable\":%llu,",
             (unsigned long long) c->blank, (unsigned long long) c->over, (unsigned long long) c->valid,
             (unsigned long long) c->favourable, (unsigned long long) c->unfavourable);
    fputs ("\"good_rate\":", out);
    json_double (out, c->good_rate);
    fputs (",\"bad_rate\":", out);
    json_double (out, c->bad_rate);
    fputs (",\"score\":", out);
    json_double (out, c->score);
}

/*  Row `row` of level: identity, rank (given), and one cell per item shown
    (item_sel: one item, or SIZE_MAX for all) for category (category_count:
    all categories, weighted).  */
static void
row_json (FILE *out, const pingyi_view_t *view, pingyi_level_t level, size_t row, size_t item_sel,
          size_t category, int rank)
{
    const pingyi_election_t *e = view->election;
    const pingyi_row_t *rw = &view->levels[level].rows[row];
    fputs ("{\"id\":", out);
    json_text (out, rw->id);
    fputs (",\"name\":", out);
    json_text (out, rw->name);
    fputs (",\"parent\":", out);
    json_text (out, rw->parent);
    int d = pingyi_view_row_district (view, level, row);
    fputs (",\"district\":", out);
    json_text (out, d >= 0 ? e->districts[d].id : NULL);
    fprintf (out, ",\"rank\":%d,\"items\":[", rank);
    bool first = true;
    for (size_t i = 0; i < e->item_count; i++) {
        if (item_sel != SIZE_MAX && i != item_sel)
            continue;
        const pingyi_cell_stats_t *c = pingyi_view_stats (view, level, row, i, category);
        if (!c)
            continue;
        fputs (first ? "{\"item\":" : ",{\"item\":", out);
        first = false;
        json_text (out, e->items[i].id);
        fputs (",\"name\":", out);
        json_text (out, e->items[i].name);
        fputc (',', out);
        cell_json (out, e, i, c);
        fputc ('}', out);
    }
    fputs ("]}", out);
}

/*  GET /api/v1/rollup (and /subjects, /units): one level's rows.  */
static int
level_rows (req_t *r, int level)
{
    const pingyi_view_t *view = r->state->merged->view;
    const pingyi_election_t *e = r->state->merged->election;
    if (!view)
        return fail (r, 503, "no view yet: the first merge has not completed");
    const char *d = arg (r, "district"), *c = arg (r, "category"), *it = arg (r, "item");
    int district = -1;
    if (d) {
        for (size_t i = 0; i < e->district_count && district < 0; i++)
            if (!strcmp (e->districts[i].id, d))
                district = (int) i;
        if (district < 0)
            return fail (r, 400, "district: unknown district \"%.64s\"", d);
        if (level == PINGYI_LEVEL_KIND || level == PINGYI_LEVEL_CITY)
            return fail (r, 400, "district: not available with by=%s (its rows span districts)",
                         pingyi_level_name ((pingyi_level_t) level));
    }
    size_t category = e->category_count;
    if (c) {
        int k = pingyi_election_category (e, c, strlen (c));
        if (k < 0)
            return fail (r, 400, "category: unknown category \"%.64s\"", c);
        category = (size_t) k;
    }
    size_t item = SIZE_MAX;
    if (it) {
        for (size_t i = 0; i < e->item_count && item == SIZE_MAX; i++)
            if (!strcmp (e->items[i].id, it))
                item = i;
        if (item == SIZE_MAX)
            return fail (r, 400, "item: unknown item \"%.64s\"", it);
    }
    const pingyi_level_view_t *lv = &view->levels[level];
    /* ranks follow what is shown: the chosen item (else the overall one)
       and the chosen category (else all, weighted) */
    int *ranks = calloc (lv->row_count ? lv->row_count : 1, sizeof *ranks);
    if (!ranks)
        return fail (r, 500, "out of memory");
    if (pingyi_view_rank (view, (pingyi_level_t) level, item == SIZE_MAX ? view->rank_item : item, category, ranks))
        for (size_t i = 0; i < lv->row_count; i++)
            ranks[i] = lv->rows[i].rank;
    head_json (r);
    fprintf (r->out, ",\"level\":\"%s\",\"district\":", pingyi_level_name ((pingyi_level_t) level));
    json_text (r->out, district >= 0 ? e->districts[district].id : NULL);
    fputs (",\"category\":", r->out);
    json_text (r->out, category < e->category_count ? e->categories[category].id : "all");
    fputs (",\"rank_item\":", r->out);
    json_text (r->out, e->items[item == SIZE_MAX ? view->rank_item : item].id);
    fputs (",\"rows\":[", r->out);
    bool first = true;
    for (size_t i = 0; i < lv->row_count; i++) {
        if (district >= 0 && pingyi_view_row_district (view, (pingyi_level_t) level, i) != district)
            continue;
        fputs (first ? "\n  " : ",\n  ", r->out);
        first = false;
        row_json (r->out, view, (pingyi_level_t) level, i, item, category, ranks[i]);
    }
    fputs ("]}\n", r->out);
    free (ranks);
    return 0;
}

static int
get_rollup (req_t *r)
{
    static const char *const allowed[] = { "by", "district", "category", "item", NULL };
    if (check_args (r, allowed))
        return -1;
    const char *by = arg (r, "by");
    if (!by)
        return fail (r, 400, "by: missing (expected " LEVELS_EXPECTED ")");
    int level = pingyi_level_parse (by);
    if (level < 0)
        return fail (r, 400, "by: unknown level \"%.64s\" (expected " LEVELS_EXPECTED ")", by);
    return level_rows (r, level);
}

static int
get_subjects (req_t *r)
{
    static const char *const allowed[] = { "district", "category", "item", NULL };
    return check_args (r, allowed) ? -1 : level_rows (r, PINGYI_LEVEL_SUBJECT);
}

static int
get_units (req_t *r)
{
    static const char *const allowed[] = { "district", "category", "item", NULL };
    return check_args (r, allowed) ? -1 : level_rows (r, PINGYI_LEVEL_UNIT);
}

static const char *const no_args[] = { NULL };

static int
get_summary (req_t *r)
{
    if (check_args (r, no_args))
        return -1;
    const agg_state_t *st = r->state;
    const pingyi_election_t *e = st->merged->election;
    const pingyi_view_t *view = st->merged->view;
    if (!view)
        return fail (r, 503, "no view yet: the first merge has not completed");
    FILE *out = r->out;
    fputs ("{\"api\":1,\"election\":{\"id\":", out);
    json_text (out, e->id);
    fputs (",\"title\":", out);
    json_text (out, e->title);
    fprintf (out, ",\"fingerprint\":\"%s\",\"shards\":%u,\"venues\":%zu,\"subjects\":%zu},\n",
             e->fingerprint_hex, e->shard_count, e->venue_count, e->subject_count);
    bool complete = true;
    for (uint32_t i = 0; i < st->shard_count; i++)
        complete &= st->shards[i].have;
    fprintf (out, "\"round\":%llu,\"merged_round\":%llu,\"merged_at\":%lld,\"final\":%s,\"complete\":%s,"
                  "\"stale_shards\":%zu,\n",
             (unsigned long long) st->round, (unsigned long long) st->merged->round, (long long) st->merged->wall,
             agg_state_final (st) ? "true" : "false", complete ? "true" : "false", stale_count (st, r->now));
    fprintf (out, "\"venue_status\":{\"open\":%zu,\"closed\":%zu,\"reconciled\":%zu,\"void\":%zu},\n",
             view->venues_open, view->venues_closed, view->venues_reconciled, view->venues_void);
    fprintf (out, "\"totals\":{\"accepted\":%llu,\"blank\":%llu,\"duplicates\":%llu,\"rejected\":%llu,\"rejected_by\":",
             (unsigned long long) view->accepted, (unsigned long long) view->blank_ballots,
             (unsigned long long) view->duplicates, (unsigned long long) view->rejected);
    rejected_by_json (out, view->rejected_by);
    fputs ("},\n", out);
    shards_json (out, st, r->now, true);
    fputs (",\n\"city\":", out);
    const pingyi_level_view_t *city = &view->levels[PINGYI_LEVEL_CITY];
    if (city->row_count)
        row_json (out, view, PINGYI_LEVEL_CITY, 0, view->rank_item, e->category_count, city->rows[0].rank);
    else
        fputs ("null", out);
    fputs ("}\n", out);
    return 0;
}

static int
get_venues (req_t *r)
{
    if (check_args (r, no_args))
        return -1;
    const agg_state_t *st = r->state;
    const pingyi_election_t *e = st->merged->election;
    const pingyi_view_t *view = st->merged->view;
    if (!view)
        return fail (r, 503, "no view yet: the first merge has not completed");
    head_json (r);
    fputs (",\"venues\":[", r->out);
    for (size_t v = 0; v < e->venue_count; v++) {
        const pingyi_venue_view_t *vv = &view->venues[v];
        const pingyi_venue_figures_t *f = &vv->figures;
        uint32_t shard = e->venues[v].shard;
        fputs (v ? ",\n  {\"venue\":" : "\n  {\"venue\":", r->out);
        json_text (r->out, e->venues[v].id);
        fputs (",\"name\":", r->out);
        json_text (r->out, e->venues[v].name);
        fputs (",\"district\":", r->out);
        json_text (r->out, e->districts[e->venues[v].district].id);
        fprintf (r->out,
                 ",\"shard\":%u,\"stale\":%s,\"status\":\"%s\",\"accepted\":%llu,\"blank\":%llu,\"duplicates\":%llu,"
                 "\"rejected\":%llu,\"issued\":%lld,\"collected\":%lld,\"sent\":%lld,\"closed\":%s,\"rejected_by\":",
                 shard,
                 shard < st->shard_count && agg_shard_stale (&st->shards[shard], r->now, st->stale_ms) ? "true"
                                                                                                       : "false",
                 pingyi_venue_status_name (vv->status), (unsigned long long) f->accepted,
                 (unsigned long long) f->blank, (unsigned long long) f->duplicates, (unsigned long long) f->rejected,
                 (long long) f->issued, (long long) f->collected, (long long) f->sent, f->closed ? "true" : "false");
        rejected_by_json (r->out, f->rejected_by);
        fputc ('}', r->out);
    }
    fputs ("]}\n", r->out);
    return 0;
}

typedef struct {
    FILE *out;
    const pingyi_election_t *e;
    bool first;
} counters_ctx_t;

static void
counter_json (const pingyi_counter_key_t *key, uint64_t count, void *arg)
{
    counters_ctx_t *c = arg;
    const pingyi_election_t *e = c->e;
    fputs (c->first ? "\n  {\"venue\":" : ",\n  {\"venue\":", c->out);
    json_text (c->out, e->venues[key->venue].id);
    fputs (",\"subject\":", c->out);
    json_text (c->out, e->subjects[key->subject].id);
    fputs (",\"item\":", c->out);
    json_text (c->out, e->items[key->item].id);
    fputs (",\"category\":", c->out);
    json_text (c->out, e->categories[key->category].id);
    fputs (",\"mark\":", c->out);
    json_text (c->out, pingyi_mark_name (e, key->item, key->mark));
    fprintf (c->out, ",\"count\":%llu}", (unsigned long long) count);
    c->first = false;
}

/*  GET /api/v1/tally: the merged tally in the format of `pingyi tally
    --json` (tools/tally.c), every shard listed with its age.  */
static int
get_tally (req_t *r)
{
    if (check_args (r, no_args))
        return -1;
    const agg_state_t *st = r->state;
    const pingyi_election_t *e = st->merged->election;
    const pingyi_tally_t *tally = st->merged->tally;
    if (!tally)
        return fail (r, 503, "no view yet: the first merge has not completed");
    FILE *out = r->out;
    fprintf (out, "{\"api\":%d,\"election\":\"%s\",\"round\":%llu,\"merged_round\":%llu,\"final\":%s,\n",
             AGG_API_VERSION, e->fingerprint_hex, (unsigned long long) st->round,
             (unsigned long long) st->merged->round, agg_state_final (st) ? "true" : "false");
    shards_json (out, st, r->now, false);
    fputs (",\n\"venues\":[", out);
    for (size_t v = 0; v < e->venue_count; v++) {
        const pingyi_venue_figures_t *f = pingyi_tally_figures (tally, v);
        fputs (v ? ",\n  {\"venue\":" : "\n  {\"venue\":", out);
        json_text (out, e->venues[v].id);
        fprintf (out,
                 ",\"accepted\":%llu,\"blank\":%llu,\"duplicates\":%llu,\"rejected\":%llu,\"issued\":%lld,"
                 "\"collected\":%lld,\"sent\":%lld,\"closed\":%s,\"rejected_by\":",
                 (unsigned long long) f->accepted, (unsigned long long) f->blank, (unsigned long long) f->duplicates,
                 (unsigned long long) f->rejected, (long long) f->issued, (long long) f->collected,
                 (long long) f->sent, f->closed ? "true" : "false");
        rejected_by_json (out, f->rejected_by);
        fputc ('}', out);
    }
    fputs ("],\n\"counters\":[", out);
    counters_ctx_t c = { .out = out, .e = e, .first = true };
    pingyi_tally_each (tally, counter_json, &c);
    fputs ("]}\n", out);
    return 0;
}

static int
get_history (req_t *r)
{
    static const char *const allowed[] = { "limit", NULL };
    if (check_args (r, allowed))
        return -1;
    unsigned long limit = AGG_HISTORY_LIMIT_DEFAULT;
    const char *l = arg (r, "limit");
    if (l) {
        char *end;
        bool digits = l[0] >= '0' && l[0] <= '9';
        limit = digits ? strtoul (l, &end, 10) : 0;
        if (!digits || *end || limit < 1 || limit > AGG_HISTORY_KEEP)
            return fail (r, 400, "limit: expected 1..%d, got \"%.64s\"", AGG_HISTORY_KEEP, l);
    }
    if (!r->api->history)
        return fail (r, 503, "no history store");
    /* records are rendered into a stream of their own first: a storage
       error must not leave half a body in the answer */
    char *recs = NULL;
    size_t recs_len = 0, count = 0, skipped = 0;
    FILE *f = open_memstream (&recs, &recs_len);
    if (!f)
        return fail (r, 500, "out of memory");
    char err[PINGYI_ERR_MAX];
    int rc = agg_history_dump (r->api->history, limit, f, &count, &skipped, err);
    fclose (f);
    if (rc) {
        free (recs);
        return fail (r, 500, "%s", err);
    }
    if (skipped)
        atomic_fetch_add (&r->api->stats.history_skipped, skipped);
    fprintf (r->out, "{\"api\":%d,\"election\":\"%s\",\"limit\":%lu,\"count\":%zu,\"records\":[", AGG_API_VERSION,
             r->state->merged->election->fingerprint_hex, limit, count);
    fwrite (recs, 1, recs_len, r->out);
    fputs ("]}\n", r->out);
    free (recs);
    return 0;
}

/*  GET /api/v1/stats: the aggregator's own counters.  */
static int
get_stats (req_t *r)
{
    if (check_args (r, no_args))
        return -1;
    const agg_state_t *st = r->state;
    const agg_shards_stats_t *s = &st->shard_stats;
    const agg_poll_stats_t *p = &st->poll_stats;
    const agg_api_stats_t *h = &r->api->stats;
    FILE *out = r->out;
    fprintf (out, "{\"api\":%d,\"round\":%llu,\"broker\":", AGG_API_VERSION, (unsigned long long) st->round);
    json_text (out, st->broker);
    fprintf (out, ",\"interval_ms\":%lld,\"stale_ms\":%lld,\n", (long long) st->interval_ms, (long long) st->stale_ms);
#define N(name, v) fprintf (out, "\"%s\":%llu,", name, (unsigned long long) (v))
    fputs ("\"poller\":{", out);
    N ("rounds", p->rounds);
    N ("merges", p->merges);
    N ("frames_in", p->frames_in);
    N ("bad_frames", p->bad_frames);
    N ("multipart", p->multipart);
    N ("unexpected", p->unexpected);
    N ("send_failures", p->send_failures);
    N ("failovers", p->failovers);
    N ("history_writes", p->history_writes);
    N ("history_errors", p->history_errors);
    N ("merge_refused_keys", st->merged->refused_keys);
    fprintf (out, "\"queries_sent\":%llu},\n\"shards\":{", (unsigned long long) s->queries_sent);
    N ("pages", s->pages);
    N ("completes", s->completes);
    N ("changes", s->changes);
    N ("restarts", s->restarts);
    N ("retries", s->retries);
    N ("errors", s->errors);
    N ("timeouts", s->timeouts);
    N ("late", s->late);
    N ("refused_election", s->refused_election);
    N ("refused_shard", s->refused_shard);
    N ("refused_order", s->refused_order);
    N ("refused_key", s->refused_key);
    N ("refused_venue", s->refused_venue);
    N ("refused_size", s->refused_size);
    fprintf (out, "\"refused\":%llu},\n\"http\":{", (unsigned long long) s->refused);
    N ("ok", atomic_load (&h->ok));
    N ("bad_request", atomic_load (&h->bad_request));
    N ("not_found", atomic_load (&h->not_found));
    N ("bad_method", atomic_load (&h->bad_method));
    N ("too_long", atomic_load (&h->too_long));
    N ("unavailable", atomic_load (&h->unavailable));
    N ("failed", atomic_load (&h->failed));
    N ("history_skipped", atomic_load (&h->history_skipped));
#undef N
    fprintf (out, "\"requests\":%llu}}\n", (unsigned long long) atomic_load (&h->requests));
    return 0;
}

static int get_index (req_t *r);

static const struct {
    const char *path;
    int (*fn) (req_t *r);
} routes[] = {
    { "/api/v1", get_index },
    { "/api/v1/summary", get_summary },
    { "/api/v1/subjects", get_subjects },
    { "/api/v1/units", get_units },
    { "/api/v1/rollup", get_rollup },
    { "/api/v1/venues", get_venues },
    { "/api/v1/tally", get_tally },
    { "/api/v1/history", get_history },
    { "/api/v1/stats", get_stats },
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
    req_t r = { .api = api, .state = state, .now = now, .args = args, .arg_count = arg_count, .status = 200 };
    reply->status = 200;
    reply->body = NULL;
    reply->len = 0;
    atomic_fetch_add (&api->stats.requests, 1);
    int (*fn) (req_t *) = NULL;
    size_t plen = path ? strlen (path) : 0;
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
            snprintf (r.error, sizeof r.error, "no such endpoint: %.*s", (int) plen, path ? path : "");
            r.status = 404;
        }
        else if (!state || !state->merged)
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
