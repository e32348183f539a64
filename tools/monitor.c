/*  monitor.c — `pingyi monitor`: the operator's live view of the broker,
    its workers, shards and venues (docs/OPERATIONS.md "The monitor").

    Every second it asks the broker for MONITOR (every page) and each live
    worker for its STATS (one STATS_QUERY through a shard it owns: a
    worker's STATS covers all its shards), builds a model, derives rates
    from the previous model and ranks the trouble, then shows it: one JSON
    object (--once --json), or a curses screen (ncursesw) refreshed every
    second with tabs for venues, workers and shards.

    The model and its JSON, and the rendering of the model to lines of
    text (monitor_render), know nothing of curses: the drawing is the last
    step and only copies lines onto the screen.  Widths are display
    columns (text/table.h: a CJK character is two), so names line up.

    Exit (docs/exit-codes.md): 0 a snapshot printed / the screen quit with
    q; 1 the broker refused (an ERROR answer: a key that may not ask);
    2 usage or the bundle; 3 --once and the broker not reached.  */
#define _GNU_SOURCE
#include "cli.h"
#include "deploy.h"
#include "json_text.h"
#include "link.h"
#include "msg.h"
#include "shard.h"
#include "table.h"
#include "tools.h"

#include <curses.h>
#include <inttypes.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define NAME_CAP (PINGYI_NAME_MAX + 1)
#define SILENT_MS 60000 /* an open venue silent this long is trouble */

typedef struct {
    char name[NAME_CAP];
    uint32_t shards[PINGYI_MONITOR_SHARDS_MAX];
    uint32_t shard_count;
    bool live;
    uint64_t in_flight, envelopes;
    int64_t heartbeat_ms; /* -1: never heard */
    /* from its STATS (has_stats) */
    bool has_stats;
    uint64_t batches, commit_ms_total, commit_ms_max, rejected;
    uint64_t commit_p50_ms, commit_p99_ms; /* over the worker's run (its STATS: histogram bucket bounds) */
    double commit_ms; /* mean commit time over the last interval (or the run, first time) */
    double envelopes_per_s;
} mon_worker_t;

typedef struct {
    uint32_t number;
    char owner[NAME_CAP]; /* "" none */
    int64_t unowned_ms;   /* -1 owned */
    bool stopped;
    uint64_t stop_reason;
} mon_shard_t;

typedef struct {
    char id[NAME_CAP];
    bool connected;
    int status; /* pingyi_monitor_status_t */
    bool is_void;
    uint32_t reopens;
    uint64_t envelopes_in, accepted, duplicate, rejected, retries;
    int64_t last_seen_ms; /* -1 never */
    double accepted_per_s;
    uint64_t rejected_rise; /* since the previous snapshot */
} mon_venue_t;

typedef struct {
    char severity[10]; /* "critical", "warning" */
    char what[200];
} mon_trouble_t;

typedef struct {
    int64_t time_ms;
    bool reached;
    char error[512]; /* why not, when not reached or refused */
    bool refused;
    uint64_t uptime_ms;
    char version[NAME_CAP];
    mon_worker_t *workers;
    size_t worker_count;
    mon_shard_t shards[PINGYI_MONITOR_SHARDS_MAX];
    size_t shard_count;
    char refusal_names[PINGYI_MONITOR_REFUSALS_MAX][NAME_CAP];
    uint64_t refusal_values[PINGYI_MONITOR_REFUSALS_MAX];
    size_t refusal_count;
    mon_venue_t *venues;
    size_t venue_count;
    mon_trouble_t *trouble;
    size_t trouble_count, trouble_cap;
    uint32_t k;
} mon_model_t;

static void
model_free (mon_model_t *m)
{
    free (m->workers);
    free (m->venues);
    free (m->trouble);
    memset (m, 0, sizeof *m);
}

static void
copy_str (char *out, pingyi_str_t s)
{
    size_t n = s.len < NAME_CAP - 1 ? s.len : NAME_CAP - 1;
    if (n) /* a nil (an unowned shard's owner) has no bytes: p is NULL */
        memcpy (out, s.p, n);
    out[n] = '\0';
}

/*  Send req and wait for the frame answering tag (any type), until deadline.
    0 with frame/msg; -1 with err ("no answer in time" or a decode error).  */
static int
ask (void *sock, const pingyi_writer_t *req, uint64_t tag, int64_t deadline, zmq_msg_t *frame, pingyi_msg_t *msg,
     char *err)
{
    bool sent = false; /* the connection may not be up yet (ZMQ_IMMEDIATE) */
    for (;;) {
        int64_t now = pingyi_now_ms ();
        if (now >= deadline)
            return pingyi_fail (err, "no answer in time");
        if (!sent)
            sent = zmq_send (sock, req->sbuf.data, req->sbuf.size, ZMQ_DONTWAIT) >= 0;
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        long wait = sent ? (long) (deadline - now) : 20;
        if (zmq_poll (&item, 1, wait < (long) (deadline - now) ? wait : (long) (deadline - now)) <= 0)
            continue;
        zmq_msg_init (frame);
        if (zmq_msg_recv (frame, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (frame);
            continue;
        }
        const uint8_t *p = zmq_msg_data (frame);
        size_t len = zmq_msg_size (frame);
        uint64_t got = pingyi_msg_tag (p, len);
        char why[PINGYI_ERR_MAX];
        if (pingyi_msg_decode (p, len, msg, why)) {
            zmq_msg_close (frame);
            if (got == tag)
                return pingyi_fail (err, "bad answer: %s", why);
            continue;
        }
        if (got == tag || (msg->type == PINGYI_MSG_ERROR && got == 0))
            return 0;
        zmq_msg_close (frame);
    }
}

static void
add_trouble (mon_model_t *m, const char *severity, const char *fmt, ...) PINGYI_PRINTF (3, 4);

static void
add_trouble (mon_model_t *m, const char *severity, const char *fmt, ...)
{
    if (m->trouble_count == m->trouble_cap) {
        size_t cap = m->trouble_cap ? m->trouble_cap * 2 : 16;
        mon_trouble_t *t = realloc (m->trouble, cap * sizeof *t);
        if (!t)
            return;
        m->trouble = t;
        m->trouble_cap = cap;
    }
    mon_trouble_t *t = &m->trouble[m->trouble_count++];
    snprintf (t->severity, sizeof t->severity, "%s", severity);
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (t->what, sizeof t->what, fmt, ap);
    va_end (ap);
}

typedef struct {
    void *sock;
    uint64_t tag;
    int64_t timeout_ms;
    const char *endpoint;
    double commit_ms_high;
} poller_t;

/*  One snapshot: MONITOR (all pages), then each live worker's STATS.  */
static void
poll_model (poller_t *p, mon_model_t *m)
{
    memset (m, 0, sizeof *m);
    m->time_ms = pingyi_now_ms ();
    pingyi_writer_t w;
    pingyi_writer_init (&w);
    uint32_t from = 0;
    size_t venue_cap = 0;
    for (int page = 0;; page++) {
        uint64_t tag = ++p->tag;
        pingyi_msg_monitor_query (&w, tag, from);
        zmq_msg_t frame;
        pingyi_msg_t msg;
        char err[PINGYI_ERR_MAX];
        if (ask (p->sock, &w, tag, pingyi_now_ms () + p->timeout_ms, &frame, &msg, err)) {
            snprintf (m->error, sizeof m->error, "%.150s: %.300s", p->endpoint,
                      strcmp (err, "no answer in time") ? err : "no answer in time (is the broker running?)");
            m->reached = false;
            pingyi_writer_fini (&w);
            return;
        }
        if (msg.type != PINGYI_MSG_MONITOR) {
            m->reached = true;
            m->refused = msg.type == PINGYI_MSG_ERROR;
            pingyi_str_t text = msg.type == PINGYI_MSG_ERROR   ? msg.u.error.text
                                : msg.type == PINGYI_MSG_RETRY ? msg.u.retry.reason
                                                               : (pingyi_str_t) {"unexpected answer", 17};
            snprintf (m->error, sizeof m->error, "%.150s: refused: %.*s", p->endpoint, (int) (text.len < 300 ? text.len : 300), text.p);
            zmq_msg_close (&frame);
            pingyi_writer_fini (&w);
            return;
        }
        m->reached = true;
        if (page == 0) {
            m->uptime_ms = msg.u.monitor.uptime_ms;
            copy_str (m->version, msg.u.monitor.version);
            m->workers = calloc (msg.u.monitor.workers.count ? msg.u.monitor.workers.count : 1, sizeof *m->workers);
            pingyi_monitor_worker_t wk;
            while (m->workers && pingyi_list_next_monitor_worker (&msg.u.monitor.workers, &wk)) {
                mon_worker_t *o = &m->workers[m->worker_count++];
                copy_str (o->name, wk.name);
                uint64_t s;
                while (pingyi_list_next_uint (&wk.shards, &s) && o->shard_count < PINGYI_MONITOR_SHARDS_MAX)
                    o->shards[o->shard_count++] = (uint32_t) s;
                o->live = wk.live;
                o->in_flight = wk.in_flight;
                o->envelopes = wk.envelopes_forwarded;
                o->heartbeat_ms = wk.heard ? (int64_t) wk.heartbeat_ms : -1;
            }
            pingyi_monitor_shard_t sh;
            while (pingyi_list_next_monitor_shard (&msg.u.monitor.shards, &sh) &&
                   m->shard_count < PINGYI_MONITOR_SHARDS_MAX) {
                mon_shard_t *o = &m->shards[m->shard_count++];
                o->number = sh.number;
                copy_str (o->owner, sh.owner);
                o->unowned_ms = sh.unowned ? (int64_t) sh.unowned_ms : -1;
            }
            pingyi_stat_t r;
            while (pingyi_list_next_refusal (&msg.u.monitor.refusals, &r) &&
                   m->refusal_count < PINGYI_MONITOR_REFUSALS_MAX) {
                copy_str (m->refusal_names[m->refusal_count], r.name);
                m->refusal_values[m->refusal_count++] = r.value;
            }
        }
        pingyi_monitor_venue_t v;
        while (pingyi_list_next_monitor_venue (&msg.u.monitor.venues, &v)) {
            if (m->venue_count == venue_cap) {
                size_t cap = venue_cap ? venue_cap * 2 : 64;
                mon_venue_t *nv = realloc (m->venues, cap * sizeof *nv);
                if (!nv)
                    break;
                m->venues = nv;
                venue_cap = cap;
            }
            mon_venue_t *o = &m->venues[m->venue_count++];
            memset (o, 0, sizeof *o);
            copy_str (o->id, v.id);
            o->connected = v.connected;
            o->status = v.status;
            o->is_void = v.is_void;
            o->reopens = v.reopens;
            o->envelopes_in = v.envelopes_in;
            o->accepted = v.accepted;
            o->duplicate = v.duplicate;
            o->rejected = v.rejected;
            o->retries = v.retries;
            o->last_seen_ms = v.seen ? (int64_t) v.last_seen_ms : -1;
        }
        bool more = msg.u.monitor.more;
        from = msg.u.monitor.next;
        zmq_msg_close (&frame);
        if (!more || page > 100000)
            break;
    }
    /* each live worker's STATS, through its first shard */
    for (size_t i = 0; i < m->worker_count; i++) {
        mon_worker_t *o = &m->workers[i];
        if (!o->live || !o->shard_count)
            continue;
        uint64_t tag = ++p->tag;
        pingyi_msg_stats_query (&w, tag, (int32_t) o->shards[0]);
        zmq_msg_t frame;
        pingyi_msg_t msg;
        char err[PINGYI_ERR_MAX];
        if (ask (p->sock, &w, tag, pingyi_now_ms () + p->timeout_ms, &frame, &msg, err))
            continue;
        if (msg.type == PINGYI_MSG_STATS) {
            o->has_stats = true;
            pingyi_stat_t s;
            while (pingyi_list_next_stat (&msg.u.stats.stats, &s)) {
                char name[NAME_CAP];
                copy_str (name, s.name);
                unsigned n;
                char rest[NAME_CAP];
                if (!strcmp (name, "batches_committed"))
                    o->batches = s.value;
                else if (!strcmp (name, "commit_ms_total"))
                    o->commit_ms_total = s.value;
                else if (!strcmp (name, "commit_ms_max"))
                    o->commit_ms_max = s.value;
                else if (!strcmp (name, "commit_p50_ms"))
                    o->commit_p50_ms = s.value;
                else if (!strcmp (name, "commit_p99_ms"))
                    o->commit_p99_ms = s.value;
                else if (!strcmp (name, "ballots_rejected"))
                    o->rejected = s.value;
                else if (sscanf (name, "shard%u_%63s", &n, rest) == 2) {
                    for (size_t j = 0; j < m->shard_count; j++)
                        if (m->shards[j].number == n && !strcmp (m->shards[j].owner, o->name)) {
                            if (!strcmp (rest, "stopped"))
                                m->shards[j].stopped = s.value != 0;
                            else if (!strcmp (rest, "stop_reason"))
                                m->shards[j].stop_reason = s.value;
                        }
                }
            }
            o->commit_ms = o->batches ? (double) o->commit_ms_total / (double) o->batches : 0;
        }
        zmq_msg_close (&frame);
    }
    pingyi_writer_fini (&w);
}

static const char *
status_name (int status)
{
    return status == PINGYI_MONITOR_CLOSED ? "closed" : status == PINGYI_MONITOR_OPEN ? "open" : "unseen";
}

static const char *
stop_name (uint64_t reason)
{
    return reason <= PINGYI_SHARD_STOP_OTHER ? pingyi_shard_stop_name ((pingyi_shard_stop_t) reason) : "unknown";
}

static int
trouble_rank (const void *a, const void *b)
{
    const mon_trouble_t *x = a, *y = b;
    int rx = !strcmp (x->severity, "critical") ? 0 : 1, ry = !strcmp (y->severity, "critical") ? 0 : 1;
    return rx - ry;
}

/*  Rates from the previous snapshot (prev may be NULL or unreached), then
    the trouble, worst first.  */
static void
derive (mon_model_t *m, const mon_model_t *prev, double commit_ms_high)
{
    double dt = prev && prev->reached ? (double) (m->time_ms - prev->time_ms) / 1000.0 : 0;
    if (prev && prev->reached && dt > 0) {
        for (size_t i = 0; i < m->worker_count; i++)
            for (size_t j = 0; j < prev->worker_count; j++)
                if (!strcmp (m->workers[i].name, prev->workers[j].name)) {
                    mon_worker_t *o = &m->workers[i];
                    const mon_worker_t *q = &prev->workers[j];
                    o->envelopes_per_s = o->envelopes >= q->envelopes ? (double) (o->envelopes - q->envelopes) / dt : 0;
                    if (o->has_stats && q->has_stats && o->batches > q->batches &&
                        o->commit_ms_total >= q->commit_ms_total)
                        o->commit_ms = (double) (o->commit_ms_total - q->commit_ms_total) /
                                       (double) (o->batches - q->batches);
                    if (o->has_stats && q->has_stats && o->rejected > q->rejected)
                        add_trouble (m, "warning", "worker %s: rejections rising (+%" PRIu64 " in %.0f s)",
                                     o->name, o->rejected - q->rejected, dt);
                }
        for (size_t i = 0; i < m->venue_count && i < prev->venue_count; i++) {
            mon_venue_t *o = &m->venues[i];
            const mon_venue_t *q = &prev->venues[i];
            if (strcmp (o->id, q->id))
                continue;
            o->accepted_per_s = o->accepted >= q->accepted ? (double) (o->accepted - q->accepted) / dt : 0;
            o->rejected_rise = o->rejected > q->rejected ? o->rejected - q->rejected : 0;
        }
    }
    if (!m->reached) {
        add_trouble (m, "critical", "broker not reached: %s", m->error);
        return;
    }
    for (size_t i = 0; i < m->shard_count; i++) {
        const mon_shard_t *s = &m->shards[i];
        if (!s->owner[0])
            add_trouble (m, "critical", "shard %u has no owner (for %.0f s): its venues get RETRY", s->number,
                         (double) s->unowned_ms / 1000.0);
        if (s->stopped)
            add_trouble (m, "critical", "shard %u stopped taking ballots: %s (worker %s)", s->number,
                         stop_name (s->stop_reason), s->owner);
    }
    for (size_t i = 0; i < m->worker_count; i++) {
        const mon_worker_t *o = &m->workers[i];
        if (!o->live && o->heartbeat_ms >= 0)
            add_trouble (m, "critical", "worker %s is gone (last heard %.0f s ago)", o->name,
                         (double) o->heartbeat_ms / 1000.0);
        if (o->has_stats && (o->commit_ms > commit_ms_high || (double) o->commit_p99_ms > commit_ms_high))
            add_trouble (m, "warning",
                         "worker %s: commit latency high (%.0f ms a batch lately, p50 %" PRIu64 " ms, p99 %" PRIu64
                         " ms, max %" PRIu64 " ms)",
                         o->name, o->commit_ms, o->commit_p50_ms, o->commit_p99_ms, o->commit_ms_max);
    }
    for (size_t i = 0; i < m->venue_count; i++) {
        const mon_venue_t *v = &m->venues[i];
        if (v->is_void)
            add_trouble (m, "critical", "venue %s is VOID (collected more than issued)", v->id);
        if (v->reopens && v->status == PINGYI_MONITOR_OPEN)
            add_trouble (m, "warning", "venue %s reopened (%u times) and not closed again", v->id, v->reopens);
        if (v->status == PINGYI_MONITOR_OPEN && v->last_seen_ms > SILENT_MS)
            add_trouble (m, "warning", "venue %s open and silent for %.0f s", v->id, (double) v->last_seen_ms / 1000.0);
        if (v->rejected_rise)
            add_trouble (m, "warning", "venue %s: rejections rising (+%" PRIu64 ")", v->id, v->rejected_rise);
    }
    if (m->trouble_count) /* trouble is NULL while there is none: qsort wants a pointer */
        qsort (m->trouble, m->trouble_count, sizeof *m->trouble, trouble_rank);
}

/* -------------------------------------------------------------------------
   JSON  */

static void
json_ms (FILE *out, int64_t v)
{
    if (v < 0)
        fputs ("null", out);
    else
        fprintf (out, "%" PRId64, v);
}

static void
write_json (FILE *out, const mon_model_t *m, const char *endpoint)
{
    char when[40];
    time_t secs = (time_t) (m->time_ms / 1000);
    struct tm tm;
    gmtime_r (&secs, &tm);
    strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf (out, "{\"time\":\"%s\",\"time_ms\":%" PRId64 ",\"broker\":{\"endpoint\":", when, m->time_ms);
    pingyi_json_write_string (out, endpoint);
    fprintf (out, ",\"reached\":%s,\"uptime_ms\":%" PRIu64 ",\"version\":", m->reached ? "true" : "false",
             m->uptime_ms);
    pingyi_json_write_string (out, m->version);
    fprintf (out, ",\"k\":%u},\"workers\":[", m->k);
    for (size_t i = 0; i < m->worker_count; i++) {
        const mon_worker_t *o = &m->workers[i];
        fprintf (out, "%s{\"name\":", i ? "," : "");
        pingyi_json_write_string (out, o->name);
        fprintf (out, ",\"live\":%s,\"shards\":[", o->live ? "true" : "false");
        for (uint32_t j = 0; j < o->shard_count; j++)
            fprintf (out, "%s%u", j ? "," : "", o->shards[j]);
        fprintf (out, "],\"in_flight\":%" PRIu64 ",\"envelopes_forwarded\":%" PRIu64 ",\"envelopes_per_s\":%.1f,"
                      "\"heartbeat_ms_ago\":",
                 o->in_flight, o->envelopes, o->envelopes_per_s);
        json_ms (out, o->heartbeat_ms);
        if (o->has_stats)
            fprintf (out,
                     ",\"batches\":%" PRIu64 ",\"commit_ms\":%.1f,\"commit_p50_ms\":%" PRIu64
                     ",\"commit_p99_ms\":%" PRIu64 ",\"commit_ms_max\":%" PRIu64 "}",
                     o->batches, o->commit_ms, o->commit_p50_ms, o->commit_p99_ms, o->commit_ms_max);
        else
            fputs (",\"batches\":null,\"commit_ms\":null,\"commit_p50_ms\":null,\"commit_p99_ms\":null,"
                   "\"commit_ms_max\":null}",
                   out);
    }
    fputs ("],\"shards\":[", out);
    for (size_t i = 0; i < m->shard_count; i++) {
        const mon_shard_t *s = &m->shards[i];
        fprintf (out, "%s{\"shard\":%u,\"owner\":", i ? "," : "", s->number);
        if (s->owner[0])
            pingyi_json_write_string (out, s->owner);
        else
            fputs ("null", out);
        fputs (",\"unowned_ms\":", out);
        json_ms (out, s->unowned_ms);
        fprintf (out, ",\"stopped\":%s,\"stop_reason\":", s->stopped ? "true" : "false");
        if (s->stopped)
            pingyi_json_write_string (out, stop_name (s->stop_reason));
        else
            fputs ("null", out);
        fputc ('}', out);
    }
    fputs ("],\"venues\":[", out);
    for (size_t i = 0; i < m->venue_count; i++) {
        const mon_venue_t *v = &m->venues[i];
        fprintf (out, "%s{\"id\":", i ? "," : "");
        pingyi_json_write_string (out, v->id);
        fprintf (out,
                 ",\"connected\":%s,\"status\":\"%s\",\"exact\":%s,\"void\":%s,\"reopens\":%u,\"envelopes_in\":%" PRIu64
                 ",\"accepted\":%" PRIu64 ",\"duplicate\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"retries\":%" PRIu64
                 ",\"accepted_per_s\":%.1f,\"last_seen_ms_ago\":",
                 v->connected ? "true" : "false", status_name (v->status),
                 v->status == PINGYI_MONITOR_CLOSED ? "true" : "false", v->is_void ? "true" : "false", v->reopens,
                 v->envelopes_in, v->accepted, v->duplicate, v->rejected, v->retries, v->accepted_per_s);
        json_ms (out, v->last_seen_ms);
        fputc ('}', out);
    }
    fputs ("],\"refusals\":{", out);
    for (size_t i = 0; i < m->refusal_count; i++) {
        fputs (i ? "," : "", out);
        pingyi_json_write_string (out, m->refusal_names[i]);
        fprintf (out, ":%" PRIu64, m->refusal_values[i]);
    }
    fputs ("},\"trouble\":[", out);
    for (size_t i = 0; i < m->trouble_count; i++) {
        fprintf (out, "%s{\"severity\":\"%s\",\"what\":", i ? "," : "", m->trouble[i].severity);
        pingyi_json_write_string (out, m->trouble[i].what);
        fputc ('}', out);
    }
    fputs ("]}\n", out);
}

/* -------------------------------------------------------------------------
   Rendering: the model to lines of at most `width` display columns.  No
   curses here, so it is testable without a terminal.  */

typedef enum { TAB_VENUES, TAB_WORKERS, TAB_SHARDS } tab_t;

typedef struct {
    char **lines;
    size_t count, cap;
    size_t width;
} lines_t;

static void
lines_free (lines_t *l)
{
    for (size_t i = 0; i < l->count; i++)
        free (l->lines[i]);
    free (l->lines);
    memset (l, 0, sizeof *l);
}

/*  A line from cells: each (text, width, right) padded/cut by display
    columns, separated by one space, the whole cut at the line's width.  */
typedef struct {
    const char *text;
    size_t width;
    bool right;
} cell_t;

static void
add_line (lines_t *l, const cell_t *cells, size_t n)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream (&buf, &size);
    if (!f)
        return;
    size_t used = 0;
    for (size_t i = 0; i < n && used < l->width; i++) {
        size_t w = cells[i].width ? cells[i].width : pingyi_text_width (cells[i].text);
        if (i) {
            fputc (' ', f);
            used++;
        }
        if (used + w > l->width)
            w = l->width - used;
        if (w)
            pingyi_text_pad (f, cells[i].text, w, cells[i].right);
        used += w;
    }
    fclose (f);
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **nl = realloc (l->lines, cap * sizeof *nl);
        if (!nl) {
            free (buf);
            return;
        }
        l->lines = nl;
        l->cap = cap;
    }
    l->lines[l->count++] = buf;
}

static void
add_text (lines_t *l, const char *text)
{
    cell_t c = {text, 0, false};
    add_line (l, &c, 1);
}

static void
fmt_ago (char *out, size_t cap, int64_t ms)
{
    if (ms < 0)
        snprintf (out, cap, "-");
    else if (ms < 60000)
        snprintf (out, cap, "%.1fs", (double) ms / 1000.0);
    else if (ms < 3600000)
        snprintf (out, cap, "%" PRId64 "m%02" PRId64 "s", ms / 60000, (ms / 1000) % 60);
    else
        snprintf (out, cap, "%" PRId64 "h%02" PRId64 "m", ms / 3600000, (ms / 60000) % 60);
}

/*  The screen: a header, the trouble (at most a quarter of the height, at
    least 3 lines), the tab's table, as many rows as fit height.  */
static void
monitor_render (const mon_model_t *m, tab_t tab, const char *endpoint, size_t width, size_t height, lines_t *l)
{
    memset (l, 0, sizeof *l);
    l->width = width;
    char buf[512], up[32];
    fmt_ago (up, sizeof up, (int64_t) m->uptime_ms);
    size_t live = 0, owned = 0, connected = 0, closed = 0;
    for (size_t i = 0; i < m->worker_count; i++)
        live += m->workers[i].live;
    for (size_t i = 0; i < m->shard_count; i++)
        owned += m->shards[i].owner[0] != 0;
    for (size_t i = 0; i < m->venue_count; i++) {
        connected += m->venues[i].connected;
        closed += m->venues[i].status == PINGYI_MONITOR_CLOSED;
    }
    snprintf (buf, sizeof buf, "pingyi monitor  %s  %s  up %s  v%s", endpoint, m->reached ? "reached" : "NOT REACHED",
              up, m->version[0] ? m->version : "?");
    add_text (l, buf);
    snprintf (buf, sizeof buf, "workers %zu/%zu live  shards %zu/%zu owned  venues %zu (%zu connected, %zu closed)",
              live, m->worker_count, owned, m->shard_count, m->venue_count, connected, closed);
    add_text (l, buf);
    size_t room = height > 12 ? height / 4 : 3;
    if (!m->trouble_count)
        add_text (l, "trouble: none");
    else {
        snprintf (buf, sizeof buf, "trouble: %zu", m->trouble_count);
        add_text (l, buf);
        for (size_t i = 0; i < m->trouble_count && i < room; i++) {
            snprintf (buf, sizeof buf, "%s %s", !strcmp (m->trouble[i].severity, "critical") ? "!!" : " !",
                      m->trouble[i].what);
            add_text (l, buf);
        }
        if (m->trouble_count > room) {
            snprintf (buf, sizeof buf, "   … %zu more", m->trouble_count - room);
            add_text (l, buf);
        }
    }
    snprintf (buf, sizeof buf, "%s  %s  %s   q quit", tab == TAB_VENUES ? "[v venues]" : " v venues ",
              tab == TAB_WORKERS ? "[w workers]" : " w workers ", tab == TAB_SHARDS ? "[s shards]" : " s shards ");
    add_text (l, buf);
    /* the first column takes what the others leave, 8..32 columns */
    if (tab == TAB_VENUES) {
        size_t fixed = 4 + 6 + 5 * 7 + 8 + 7 + 8; /* columns after the id, with their spaces */
        size_t idw = width > fixed + 8 ? width - fixed : 8;
        if (idw > 32)
            idw = 32;
        cell_t head[] = {{"VENUE", idw, false},  {"CONN", 3, false},    {"STATE", 6, false},
                         {"IN", 6, true},        {"ACCEPT", 6, true},   {"DUP", 6, true},
                         {"REJECT", 6, true},    {"RETRY", 6, true},    {"SEEN", 7, true},
                         {"ACC/s", 6, true}};
        add_line (l, head, sizeof head / sizeof head[0]);
        for (size_t i = 0; i < m->venue_count && l->count < height; i++) {
            const mon_venue_t *v = &m->venues[i];
            char in[24], acc[24], dup[24], rej[24], ret[24], seen[24], rate[24], state[16];
            snprintf (state, sizeof state, "%s%s", v->is_void ? "VOID" : status_name (v->status),
                      v->reopens && !v->is_void ? "+r" : "");
            snprintf (in, sizeof in, "%" PRIu64, v->envelopes_in);
            snprintf (acc, sizeof acc, "%" PRIu64, v->accepted);
            snprintf (dup, sizeof dup, "%" PRIu64, v->duplicate);
            snprintf (rej, sizeof rej, "%" PRIu64, v->rejected);
            snprintf (ret, sizeof ret, "%" PRIu64, v->retries);
            fmt_ago (seen, sizeof seen, v->last_seen_ms);
            snprintf (rate, sizeof rate, "%.1f", v->accepted_per_s);
            cell_t row[] = {{v->id, idw, false}, {v->connected ? "yes" : "no", 3, false},
                            {state, 6, false},   {in, 6, true},
                            {acc, 6, true},      {dup, 6, true},
                            {rej, 6, true},      {ret, 6, true},
                            {seen, 7, true},     {rate, 6, true}};
            add_line (l, row, sizeof row / sizeof row[0]);
        }
    }
    else if (tab == TAB_WORKERS) {
        size_t fixed = 5 + 19 + 9 + 11 + 8 + 10 + 8;
        size_t nw = width > fixed + 8 ? width - fixed : 8;
        if (nw > 32)
            nw = 32;
        cell_t head[] = {{"WORKER", nw, false}, {"LIVE", 4, false},      {"SHARDS", 18, false},
                         {"INFLIGHT", 8, true}, {"ENVELOPES", 10, true}, {"ENV/s", 7, true},
                         {"AVG/P99ms", 9, true}, {"HEARD", 7, true}};
        add_line (l, head, sizeof head / sizeof head[0]);
        for (size_t i = 0; i < m->worker_count && l->count < height; i++) {
            const mon_worker_t *o = &m->workers[i];
            char shards[256] = "", infl[24], env[24], rate[24], commit[24], heard[24];
            size_t used = 0;
            for (uint32_t j = 0; j < o->shard_count && used + 5 < sizeof shards; j++)
                used += (size_t) snprintf (shards + used, sizeof shards - used, "%s%u", j ? "," : "", o->shards[j]);
            if (!o->shard_count)
                snprintf (shards, sizeof shards, "-");
            snprintf (infl, sizeof infl, "%" PRIu64, o->in_flight);
            snprintf (env, sizeof env, "%" PRIu64, o->envelopes);
            snprintf (rate, sizeof rate, "%.1f", o->envelopes_per_s);
            if (o->has_stats)
                snprintf (commit, sizeof commit, "%.0f/%" PRIu64, o->commit_ms, o->commit_p99_ms); /* mean/p99 */
            else
                snprintf (commit, sizeof commit, "-");
            fmt_ago (heard, sizeof heard, o->heartbeat_ms);
            cell_t row[] = {{o->name, nw, false},  {o->live ? "yes" : "no", 4, false}, {shards, 18, false},
                            {infl, 8, true},       {env, 10, true},                     {rate, 7, true},
                            {commit, 9, true},     {heard, 7, true}};
            add_line (l, row, sizeof row / sizeof row[0]);
        }
    }
    else {
        size_t ow = width > 60 ? 32 : 16;
        cell_t head[] = {{"SHARD", 5, true}, {"OWNER", ow, false}, {"UNOWNED", 8, true}, {"STATE", 20, false}};
        add_line (l, head, sizeof head / sizeof head[0]);
        for (size_t i = 0; i < m->shard_count && l->count < height; i++) {
            const mon_shard_t *s = &m->shards[i];
            char num[16], unowned[24], state[64];
            snprintf (num, sizeof num, "%u", s->number);
            fmt_ago (unowned, sizeof unowned, s->unowned_ms);
            snprintf (state, sizeof state, "%s", s->stopped ? stop_name (s->stop_reason) : s->owner[0] ? "running" : "NO OWNER");
            if (s->stopped)
                snprintf (state, sizeof state, "STOPPED %s", stop_name (s->stop_reason));
            cell_t row[] = {{num, 5, true}, {s->owner[0] ? s->owner : "-", ow, false}, {unowned, 8, true},
                            {state, 20, false}};
            add_line (l, row, sizeof row / sizeof row[0]);
        }
    }
    while (l->count > height && l->count) {
        free (l->lines[--l->count]);
    }
}

/* -------------------------------------------------------------------------
   The command  */

static volatile sig_atomic_t stopping;

static void
on_signal (int sig)
{
    (void) sig;
    stopping = 1;
}

static int
run_screen (poller_t *p, uint32_t k, const char *render_only, size_t cols, size_t rows)
{
    mon_model_t prev = {0}, cur = {0};
    tab_t tab = TAB_VENUES;
    if (render_only) {
        /* --render: one model as lines of COLSxROWS on stdout (no terminal) */
        poll_model (p, &cur);
        cur.k = k;
        derive (&cur, NULL, p->commit_ms_high);
        tab = render_only[0] == 'w' ? TAB_WORKERS : render_only[0] == 's' ? TAB_SHARDS : TAB_VENUES;
        lines_t l;
        monitor_render (&cur, tab, p->endpoint, cols, rows, &l);
        for (size_t i = 0; i < l.count; i++)
            printf ("%s\n", l.lines[i]);
        lines_free (&l);
        int rc = cur.reached ? (cur.refused ? 1 : 0) : 3;
        model_free (&cur);
        return rc;
    }
    setlocale (LC_ALL, "");
    if (!initscr ()) {
        fprintf (stderr, "pingyi monitor: cannot start the screen (TERM?)\n");
        return 2;
    }
    cbreak ();
    noecho ();
    keypad (stdscr, TRUE);
    curs_set (0);
    timeout (0);
    int64_t next = 0;
    bool quit = false;
    while (!quit && !stopping) {
        int64_t now = pingyi_now_ms ();
        if (now >= next) {
            model_free (&prev);
            prev = cur;
            memset (&cur, 0, sizeof cur);
            poll_model (p, &cur);
            cur.k = k;
            derive (&cur, &prev, p->commit_ms_high);
            next = now + 1000;
        }
        int h, w;
        getmaxyx (stdscr, h, w);
        lines_t l;
        monitor_render (&cur, tab, p->endpoint, (size_t) (w > 1 ? w : 1), (size_t) (h > 1 ? h : 1), &l);
        erase ();
        for (size_t i = 0; i < l.count && (int) i < h; i++)
            mvaddstr ((int) i, 0, l.lines[i]);
        refresh ();
        lines_free (&l);
        int64_t wait = next - pingyi_now_ms ();
        timeout ((int) (wait > 0 ? (wait < 1000 ? wait : 1000) : 0));
        int c = getch ();
        switch (c) {
        case 'q':
        case 'Q':
            quit = true;
            break;
        case 'v':
            tab = TAB_VENUES;
            break;
        case 'w':
            tab = TAB_WORKERS;
            break;
        case 's':
            tab = TAB_SHARDS;
            break;
        default:
            break;
        }
    }
    endwin ();
    model_free (&prev);
    model_free (&cur);
    return 0;
}

int
pingyi_cmd_monitor (int argc, char **argv)
{
    const char *deploy = NULL, *endpoint = NULL, *render = NULL;
    bool once = false, json = false;
    uint64_t timeout_ms = 3000, commit_high = 500, cols = 80, rows = 24;
    const pingyi_cli_option_t options[] = {
        PINGYI_CLI_OPT_TEXT ("deploy", &deploy, "DIR", "the deploy directory (its operator/ bundle is used)"),
        PINGYI_CLI_OPT_ENDPOINT ("broker", &endpoint, "ENDPOINT", "the broker to watch"),
        PINGYI_CLI_OPT_FLAG ("once", &once, "one snapshot, then exit (with --json: one JSON object)"),
        PINGYI_CLI_OPT_FLAG ("json", &json, "with --once: the snapshot as one JSON object on stdout"),
        PINGYI_CLI_OPT_U64 ("timeout-ms", &timeout_ms, "T",
                            "wait at most T ms for each answer (1..600000, default 3000)", 1, 600000),
        PINGYI_CLI_OPT_U64 ("commit-ms-high", &commit_high, "MS",
                            "a worker's mean commit time above MS is trouble (1..600000, default 500)", 1, 600000),
        PINGYI_CLI_OPT_TEXT ("render", &render, "TAB",
                             "with --once: the screen's lines (venues, workers or shards) as text"),
        PINGYI_CLI_OPT_U64 ("columns", &cols, "N", "with --render: the width (20..1000, default 80)", 20, 1000),
        PINGYI_CLI_OPT_U64 ("rows", &rows, "N", "with --render: the height (5..1000, default 24)", 5, 1000),
        PINGYI_CLI_END,
    };
    pingyi_cli_t cli = {
        .prog = "pingyi monitor",
        .synopsis = "pingyi monitor --deploy DIR --broker ENDPOINT [--once [--json | --render TAB]]\n"
                    "  the live view of the broker, its workers, shards and venues (q quits)",
        .options = options,
    };
    int status;
    if (pingyi_cli_parse (&cli, argc, argv, &status))
        return status;
    if (!deploy || !endpoint)
        return pingyi_cli_fail (&cli, "--deploy and --broker are required");
    if ((json || render) && !once)
        return pingyi_cli_fail (&cli, "--json and --render go with --once");
    if (json && render)
        return pingyi_cli_fail (&cli, "--json or --render, not both");
    if (render && strcmp (render, "venues") && strcmp (render, "workers") && strcmp (render, "shards"))
        return pingyi_cli_fail (&cli, "--render takes venues, workers or shards");
    char err[PINGYI_ERR_MAX];
    pingyi_bundle_t *bundle = pingyi_bundle_load (deploy, PINGYI_ROLE_OPERATOR, NULL, err);
    if (!bundle) {
        fprintf (stderr, "pingyi monitor: %s\n", err);
        return 2;
    }
    int rc = 2;
    void *ctx = zmq_ctx_new ();
    void *sock = pingyi_link_dealer (ctx, endpoint, bundle->broker_public, bundle->curve_public,
                                     bundle->curve_secret, NULL, err);
    if (!sock) {
        fprintf (stderr, "pingyi monitor: %s\n", err);
        goto done;
    }
    /* tags start at a point of this run's own, so an old answer matches nothing */
    uint64_t tag0 = (uint64_t) pingyi_now_ms () << 16;
    poller_t p = {.sock = sock, .tag = tag0, .timeout_ms = (int64_t) timeout_ms, .endpoint = endpoint,
                  .commit_ms_high = (double) commit_high};
    uint32_t k = bundle->election->k_anonymity;
    if (once && !render) {
        mon_model_t m;
        poll_model (&p, &m);
        m.k = k;
        derive (&m, NULL, p.commit_ms_high);
        if (!m.reached) {
            fprintf (stderr, "pingyi monitor: %s\n", m.error);
            rc = 3;
        }
        else if (m.refused) {
            fprintf (stderr, "pingyi monitor: %s\n", m.error);
            rc = 1;
        }
        else {
            if (json)
                write_json (stdout, &m, endpoint);
            else {
                lines_t l;
                monitor_render (&m, TAB_VENUES, endpoint, 200, 100000, &l);
                for (size_t i = 0; i < l.count; i++)
                    printf ("%s\n", l.lines[i]);
                lines_free (&l);
            }
            rc = 0;
        }
        model_free (&m);
        goto done;
    }
    signal (SIGTERM, on_signal);
    signal (SIGINT, on_signal);
    rc = run_screen (&p, k, render, (size_t) cols, (size_t) rows);
done:
    if (sock)
        zmq_close (sock);
    zmq_ctx_term (ctx);
    pingyi_bundle_destroy (&bundle);
    return rc;
}
