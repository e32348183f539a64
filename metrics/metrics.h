/*  metrics.h — Prometheus metrics for every pingyi program (docs/OPERATIONS.md,
    "Metrics").

    Three parts:

    1. The exposition writer (pingyi_expo_t): the Prometheus text format
       0.0.4 into a growing buffer.  A family is `# HELP` and `# TYPE`, then
       its samples; label values are escaped (backslash, double quote,
       newline), HELP text too (backslash, newline); values are written as
       integers when they are, else in the shortest form that reads back the
       same double, and +Inf, -Inf, NaN.  Histograms (pingyi_hist_t: fixed
       buckets) are written as `_bucket{le="…"}` (cumulative, ending with
       le="+Inf"), `_sum`, `_count`.  The writer never fails half-way: out
       of memory sets `failed`, and the text is then not published.

    2. The page (pingyi_metrics_page_t): the last text a program published,
       with its readiness and the time it was published, under a mutex.  The
       program's loop renders its metrics about once a second into its own
       writer and publishes; HTTP threads only ever copy the published text,
       never the loop's state.  pingyi_metrics_page_answer answers
       /metrics, /healthz and /readyz from it.

    3. The server (pingyi_metrics_server_t): libmicrohttpd with its internal
       polling thread on --metrics ADDR, serving one page: GET only, no
       request body read, a few connections, short timeouts.

    Paths:
    - /metrics: 200, text/plain; version=0.0.4; the last published text
      (503 before the first publish).
    - /healthz: 200 "ok" while the loop publishes (its last publish at most
      PINGYI_METRICS_STALL_MS ago), else 503 with the reason.
    - /readyz: 200 "ready" when the program said so at its last publish,
      else 503 with its one-line reason.  */
#ifndef PINGYI_METRICS_H
#define PINGYI_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*  The loop has not published for this long: /healthz says 503.  */
#define PINGYI_METRICS_STALL_MS 10000
/*  The content type of the text format 0.0.4.  */
#define PINGYI_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*  --------------------------------------------------------------------------
    The exposition writer.  */

typedef enum {
    PINGYI_METRIC_COUNTER = 0,
    PINGYI_METRIC_GAUGE,
    PINGYI_METRIC_HISTOGRAM,
} pingyi_metric_type_t;

typedef struct {
    char *data; /* NUL-terminated */
    size_t len, cap;
    bool failed; /* out of memory at some point: do not publish */
} pingyi_expo_t;

void pingyi_expo_init (pingyi_expo_t *e);
/*  Empty again (keeps the memory), failed cleared.  */
void pingyi_expo_reset (pingyi_expo_t *e);
void pingyi_expo_fini (pingyi_expo_t *e);

/*  `# HELP name help` and `# TYPE name type`.  A counter's name ends in
    _total (the caller's to give).  */
void pingyi_expo_family (pingyi_expo_t *e, const char *name, pingyi_metric_type_t type, const char *help);

/*  One sample `name{k="v",...} value`.  labels: key, value, key, value, ...,
    NULL (or NULL for none); values are escaped here, keys are the caller's
    (valid label names).  */
void pingyi_expo_sample (pingyi_expo_t *e, const char *name, const char *const *labels, double value);
/*  The same for an integer, written exactly.  */
void pingyi_expo_sample_u64 (pingyi_expo_t *e, const char *name, const char *const *labels, uint64_t value);

/*  A family of one unlabelled sample.  */
void pingyi_expo_counter (pingyi_expo_t *e, const char *name, const char *help, uint64_t value);
void pingyi_expo_gauge (pingyi_expo_t *e, const char *name, const char *help, double value);

/*  Append s escaped as a label value (no quotes).  Exposed for the tests.  */
void pingyi_expo_escape_label (pingyi_expo_t *e, const char *s);
/*  A double as the format writes it, into buf (at least 32 bytes).  */
void pingyi_expo_format_double (char *buf, size_t size, double v);

/*  A histogram with fixed upper bounds (ascending, finite, at most
    PINGYI_HIST_MAX); +Inf is implied.  */
#define PINGYI_HIST_MAX 16
typedef struct {
    size_t n;
    double bounds[PINGYI_HIST_MAX];
    uint64_t counts[PINGYI_HIST_MAX + 1]; /* per bucket, not cumulative; [n]: above the last bound */
    double sum;
    uint64_t count;
} pingyi_hist_t;

void pingyi_hist_init (pingyi_hist_t *h, const double *bounds, size_t n);
void pingyi_hist_observe (pingyi_hist_t *h, double value);
/*  The q-quantile (0 < q <= 1) as the histogram can tell it: the upper
    bound of the bucket holding the ceil(q × count)-th observation; NAN
    with no observation, INFINITY past the last bound.  */
double pingyi_hist_quantile (const pingyi_hist_t *h, double q);
/*  Add b's observations to a (same bounds).  */
void pingyi_hist_merge (pingyi_hist_t *a, const pingyi_hist_t *b);
/*  The samples of one histogram (family declared before with type
    histogram): name_bucket{labels,le="…"} for every bound and +Inf,
    name_sum{labels}, name_count{labels}.  */
void pingyi_expo_histogram (pingyi_expo_t *e, const char *name, const char *const *labels,
                            const pingyi_hist_t *h);

/*  What every program exposes: pingyi_build_info{version,revision,program} 1,
    pingyi_up 1, process_start_time_seconds (start_wall: time(NULL) at
    start), process_resident_memory_bytes (/proc/self/statm).  */
void pingyi_expo_process (pingyi_expo_t *e, const char *program, const char *version, const char *revision,
                          int64_t start_wall);

/*  --------------------------------------------------------------------------
    The page.  */

typedef struct pingyi_metrics_page_t pingyi_metrics_page_t;

pingyi_metrics_page_t *pingyi_metrics_page_new (void);
void pingyi_metrics_page_destroy (pingyi_metrics_page_t **self_p);

/*  Publish e's text (not if e->failed), the program's readiness (reason:
    why not ready, one line; ignored when ready) at now (monotonic ms).  */
void pingyi_metrics_publish (pingyi_metrics_page_t *self, const pingyi_expo_t *e, bool ready, const char *reason,
                             int64_t now);

/*  An answer to GET path from the page at now: status, a malloc'd body and
    its length, its content type.  Returns false when path is none of
    /metrics, /healthz, /readyz (nothing allocated).  */
typedef struct {
    int status;
    char *body;
    size_t len;
    const char *content_type;
} pingyi_metrics_reply_t;

bool pingyi_metrics_page_answer (pingyi_metrics_page_t *self, const char *path, int64_t now,
                                 pingyi_metrics_reply_t *reply);

/*  --------------------------------------------------------------------------
    The server.  */

typedef struct pingyi_metrics_server_t pingyi_metrics_server_t;

/*  Parse "HOST:PORT" (IPv4, or [IPv6]; port 0..65535, 0: any free port)
    for the flag named flag (--metrics, the aggregator's --http): the one
    parser of a listening address.  0, or -1 with err.  */
int pingyi_metrics_parse_addr (const char *spec, const char *flag, struct sockaddr_storage *addr,
                               socklen_t *addr_len, char *err);

/*  Serve page on spec (--metrics) until stopped.  NULL with err.  */
pingyi_metrics_server_t *pingyi_metrics_server_start (const char *spec, pingyi_metrics_page_t *page, char *err);
uint16_t pingyi_metrics_server_port (const pingyi_metrics_server_t *self);
/*  Stop serving (waits for requests in progress), free; safe twice.  */
void pingyi_metrics_server_stop (pingyi_metrics_server_t **self_p);

#endif
