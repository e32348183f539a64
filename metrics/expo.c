/*  expo.c — the Prometheus text exposition writer (metrics.h, part 1).  */
#define _GNU_SOURCE
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
pingyi_expo_init (pingyi_expo_t *e)
{
    memset (e, 0, sizeof *e);
}

void
pingyi_expo_reset (pingyi_expo_t *e)
{
    e->len = 0;
    if (e->data)
        e->data[0] = 0;
    e->failed = false;
}

void
pingyi_expo_fini (pingyi_expo_t *e)
{
    free (e->data);
    memset (e, 0, sizeof *e);
}

static bool
reserve (pingyi_expo_t *e, size_t more)
{
    if (e->failed)
        return false;
    if (e->len + more + 1 <= e->cap)
        return true;
    size_t cap = e->cap ? e->cap : 4096;
    while (cap < e->len + more + 1)
        cap *= 2;
    char *p = realloc (e->data, cap);
    if (!p) {
        e->failed = true;
        return false;
    }
    e->data = p;
    e->cap = cap;
    return true;
}

static void
put (pingyi_expo_t *e, const char *s, size_t n)
{
    if (!reserve (e, n))
        return;
    memcpy (e->data + e->len, s, n);
    e->len += n;
    e->data[e->len] = 0;
}

static void
puts_ (pingyi_expo_t *e, const char *s)
{
    put (e, s, strlen (s));
}

void
pingyi_expo_escape_label (pingyi_expo_t *e, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            put (e, "\\\\", 2);
        else if (*p == '"')
            put (e, "\\\"", 2);
        else if (*p == '\n')
            put (e, "\\n", 2);
        else
            put (e, p, 1);
    }
}

/*  HELP text: backslash and newline escaped (a double quote is not).  */
static void
escape_help (pingyi_expo_t *e, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            put (e, "\\\\", 2);
        else if (*p == '\n')
            put (e, "\\n", 2);
        else
            put (e, p, 1);
    }
}

void
pingyi_expo_format_double (char *buf, size_t size, double v)
{
    if (isnan (v)) {
        snprintf (buf, size, "NaN");
        return;
    }
    if (isinf (v)) {
        snprintf (buf, size, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor (v) && fabs (v) < 9007199254740992.0) { /* 2^53: exact */
        snprintf (buf, size, "%.0f", v);
        if (!strcmp (buf, "-0"))
            snprintf (buf, size, "0");
        return;
    }
    /* the shortest %g that reads back the same double */
    for (int prec = 1; prec <= 17; prec++) {
        snprintf (buf, size, "%.*g", prec, v);
        if (strtod (buf, NULL) == v)
            return;
    }
}

void
pingyi_expo_family (pingyi_expo_t *e, const char *name, pingyi_metric_type_t type, const char *help)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    puts_ (e, "# HELP ");
    puts_ (e, name);
    puts_ (e, " ");
    escape_help (e, help);
    puts_ (e, "\n# TYPE ");
    puts_ (e, name);
    puts_ (e, " ");
    puts_ (e, types[type]);
    puts_ (e, "\n");
}

/*  name{labels[,extra_key="extra_value"]} (no braces when there are none).  */
static void
series (pingyi_expo_t *e, const char *name, const char *suffix, const char *const *labels, const char *extra_key,
        const char *extra_value)
{
    puts_ (e, name);
    if (suffix)
        puts_ (e, suffix);
    bool any = (labels && labels[0]) || extra_key;
    if (!any)
        return;
    puts_ (e, "{");
    bool first = true;
    for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
        if (!first)
            puts_ (e, ",");
        first = false;
        puts_ (e, labels[i]);
        puts_ (e, "=\"");
        pingyi_expo_escape_label (e, labels[i + 1]);
        puts_ (e, "\"");
    }
    if (extra_key) {
        if (!first)
            puts_ (e, ",");
        puts_ (e, extra_key);
        puts_ (e, "=\"");
        pingyi_expo_escape_label (e, extra_value);
        puts_ (e, "\"");
    }
    puts_ (e, "}");
}

static void
value_line (pingyi_expo_t *e, const char *text)
{
    puts_ (e, " ");
    puts_ (e, text);
    puts_ (e, "\n");
}

void
pingyi_expo_sample (pingyi_expo_t *e, const char *name, const char *const *labels, double value)
{
    char num[64];
    pingyi_expo_format_double (num, sizeof num, value);
    series (e, name, NULL, labels, NULL, NULL);
    value_line (e, num);
}

void
pingyi_expo_sample_u64 (pingyi_expo_t *e, const char *name, const char *const *labels, uint64_t value)
{
    char num[32];
    snprintf (num, sizeof num, "%" PRIu64, value);
    series (e, name, NULL, labels, NULL, NULL);
    value_line (e, num);
}

void
pingyi_expo_counter (pingyi_expo_t *e, const char *name, const char *help, uint64_t value)
{
    pingyi_expo_family (e, name, PINGYI_METRIC_COUNTER, help);
    pingyi_expo_sample_u64 (e, name, NULL, value);
}

void
pingyi_expo_gauge (pingyi_expo_t *e, const char *name, const char *help, double value)
{
    pingyi_expo_family (e, name, PINGYI_METRIC_GAUGE, help);
    pingyi_expo_sample (e, name, NULL, value);
}

void
pingyi_hist_init (pingyi_hist_t *h, const double *bounds, size_t n)
{
    memset (h, 0, sizeof *h);
    h->n = n < PINGYI_HIST_MAX ? n : PINGYI_HIST_MAX;
    memcpy (h->bounds, bounds, h->n * sizeof *bounds);
}

void
pingyi_hist_observe (pingyi_hist_t *h, double value)
{
    size_t i = 0;
    while (i < h->n && value > h->bounds[i])
        i++;
    h->counts[i]++;
    h->sum += value;
    h->count++;
}

double
pingyi_hist_quantile (const pingyi_hist_t *h, double q)
{
    if (h->count == 0)
        return NAN;
    uint64_t rank = (uint64_t) ceil (q * (double) h->count);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < h->n && i < PINGYI_HIST_MAX; i++) {
        seen += h->counts[i];
        if (seen >= rank)
            return h->bounds[i];
    }
    return INFINITY;
}

void
pingyi_hist_merge (pingyi_hist_t *a, const pingyi_hist_t *b)
{
    for (size_t i = 0; i <= a->n && i <= PINGYI_HIST_MAX; i++)
        a->counts[i] += b->counts[i];
    a->sum += b->sum;
    a->count += b->count;
}

void
pingyi_expo_histogram (pingyi_expo_t *e, const char *name, const char *const *labels, const pingyi_hist_t *h)
{
    char le[64], num[32];
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= h->n; i++) {
        cumulative += h->counts[i];
        if (i < h->n)
            pingyi_expo_format_double (le, sizeof le, h->bounds[i]);
        else
            snprintf (le, sizeof le, "+Inf");
        series (e, name, "_bucket", labels, "le", le);
        snprintf (num, sizeof num, "%" PRIu64, cumulative);
        value_line (e, num);
    }
    char sum[64];
    pingyi_expo_format_double (sum, sizeof sum, h->sum);
    series (e, name, "_sum", labels, NULL, NULL);
    value_line (e, sum);
    series (e, name, "_count", labels, NULL, NULL);
    snprintf (num, sizeof num, "%" PRIu64, h->count);
    value_line (e, num);
}

void
pingyi_expo_process (pingyi_expo_t *e, const char *program, const char *version, const char *revision,
                     int64_t start_wall)
{
    pingyi_expo_family (e, "pingyi_build_info", PINGYI_METRIC_GAUGE,
                        "Always 1; the labels say which program, version and git revision runs.");
    const char *info[] = {"program", program, "version", version, "revision", revision, NULL};
    pingyi_expo_sample_u64 (e, "pingyi_build_info", info, 1);
    pingyi_expo_gauge (e, "pingyi_up", "1 while the process runs its main loop.", 1);
    pingyi_expo_gauge (e, "process_start_time_seconds", "Start time of the process since the Unix epoch, seconds.",
                       (double) start_wall);
    /* /proc/self/statm: size resident ... in pages */
    unsigned long long size = 0, resident = 0;
    FILE *f = fopen ("/proc/self/statm", "r");
    if (f) {
        if (fscanf (f, "%llu %llu", &size, &resident) != 2)
            resident = 0;
        fclose (f);
    }
    long page = sysconf (_SC_PAGESIZE);
    pingyi_expo_gauge (e, "process_resident_memory_bytes", "Resident memory size, bytes (/proc/self/statm).",
                       (double) resident * (double) (page > 0 ? page : 4096));
}
