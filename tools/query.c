/*  query.c — `pingyi query`: the citywide view at any level, as a table,
    CSV, JSON or XLSX, from the shard files (--data, offline) or from a
    running aggregator (--agg, GET /api/v1/view).

    What it prints is published, so it is always the released view
    (rollup.h: k-anonymous, the definition's k_anonymity), whichever the
    source.  Offline, the shards' released state is read (the pages a
    worker would send the aggregator: counters and figures that move only
    in steps of k ballots of a venue, or at its close) and the view is
    released by the same code the aggregator runs; online, the
    aggregator's released view is read whole (a released tally could not
    give it: its totals count ballots of groups the tally withholds), and
    for the rater side (--side rater) its released tally too, of the same
    merge: the blocks to regroup, the withheld groups named, so every
    rater-side cell holding one is withheld as the aggregator's own
    /api/v1/rollup?side=rater withholds it.  The
    rendering is the library's (report.h), so the two modes print the same
    bytes for the same count.  The aggregator's answer is untrusted input:
    the HTTP client below reads at most PINGYI_QUERY_BODY_MAX bytes within
    a deadline, insists on status 200 and a complete body, and the
    document goes through the strict reader of tally_json.h; a bad answer
    is an error line and exit 1, never a crash and never a half-read
    view.

    Exit: 0 shown; 1 the data could not be read or is wrong (shards,
    aggregator, its answer); 2 usage, definition or output file.  */
#define _GNU_SOURCE /* memmem */
#include "cli.h"
#include "report.h"
#include "tally_json.h"
#include "tools.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#define PINGYI_QUERY_BODY_MAX ((size_t) 64 << 20) /* largest aggregator answer */
#define HEADERS_MAX (64 << 10)                    /* largest status line + headers */
#define VIEW_PATH "/api/v1/view"
#define TALLY_PATH "/api/v1/tally" /* the released tally: the rater side's blocks (--agg --side rater) */
#define AGG_PAIR_TRIES 5            /* view and tally read again until both are of one merge */

static const char *SYNOPSIS =
    "pingyi query [--by city|district|town|department|kind|unit|subject|venue] [--district D]\n"
    "                    [--side rater --by venue|district|category [--subject S|--unit U|--of LEVEL=ID]]\n"
    "                    [--category C] [--item I] [--format table|csv|json|xlsx] [--venues]\n"
    "                    [--sort definition|rank|name] [--lang zh|en]\n"
    "                    [--out FILE] [--width N] [--timeout SECONDS]\n"
    "                    --deploy DIR (--data DIR | --agg http://HOST:PORT)\n"
    "  the view at any level, from a running aggregator or offline from the shard files";

/*  ---------------------------------------------------------------------
    A minimal HTTP/1.0 GET  */

typedef struct {
    char host[256];
    char port[8];
    char path[1024]; /* prefix from the URL, without a trailing '/' */
} url_t;

/*  http://host[:port][/prefix] — nothing else (no https, user, query).  */
static int
url_parse (const char *url, url_t *u, char *err)
{
    memset (u, 0, sizeof *u);
    if (strncmp (url, "http://", 7))
        return pingyi_fail (err, "--agg: the URL must start with http:// (got %.40s)", url);
    const char *p = url + 7, *host_end;
    if (*p == '[') {
        host_end = strchr (p, ']');
        if (!host_end)
            return pingyi_fail (err, "--agg: unclosed '[' in the host");
        p++;
    }
    else
        host_end = p + strcspn (p, ":/");
    size_t len = (size_t) (host_end - p);
    if (len == 0 || len >= sizeof u->host)
        return pingyi_fail (err, "--agg: no host, or a host too long");
    memcpy (u->host, p, len);
    if (strpbrk (u->host, "@?# \t"))
        return pingyi_fail (err, "--agg: only http://HOST:PORT[/PATH] is understood");
    p = host_end + (*host_end == ']');
    snprintf (u->port, sizeof u->port, "80");
    if (*p == ':') {
        p++;
        size_t n = strspn (p, "0123456789");
        long port = n && n <= 5 ? strtol (p, NULL, 10) : 0;
        if (port < 1 || port > 65535)
            return pingyi_fail (err, "--agg: the port must be 1..65535");
        snprintf (u->port, sizeof u->port, "%ld", port);
        p += n;
    }
    if (*p && *p != '/')
        return pingyi_fail (err, "--agg: unexpected %.20s after the port", p);
    len = strlen (p);
    while (len && p[len - 1] == '/')
        len--;
    if (len + sizeof VIEW_PATH > sizeof u->path)
        return pingyi_fail (err, "--agg: the path is too long");
    for (size_t i = 0; i < len; i++)
        if ((unsigned char) p[i] <= ' ' || (unsigned char) p[i] >= 0x7F || p[i] == '?' || p[i] == '#')
            return pingyi_fail (err, "--agg: the path may hold printable ASCII only, no query");
    memcpy (u->path, p, len);
    return 0;
}

/*  Text from the network made safe to print: control and non-ASCII bytes
    become '?', at most cap - 1 bytes.  */
static void
sanitize (char *out, size_t cap, const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++)
        out[o++] = (unsigned char) s[i] >= ' ' && (unsigned char) s[i] < 0x7F ? s[i] : '?';
    out[o] = '\0';
}

static int
remaining_ms (int64_t deadline)
{
    int64_t left = deadline - pingyi_now_ms ();
    return left < 0 ? 0 : left > 60000 ? 60000 : (int) left;
}

/*  Wait until fd is ready for events or the deadline passes.  0 / -1.  */
static int
wait_fd (int fd, short events, int64_t deadline, const char *doing, char *err)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = events};
        int ms = remaining_ms (deadline);
        if (ms == 0)
            return pingyi_fail (err, "timed out %s", doing);
        int n = poll (&pfd, 1, ms);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return pingyi_fail (err, "%s: poll: %s", doing, strerror (errno));
    }
}

static int
connect_to (const url_t *u, int64_t deadline, char *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo (u->host, u->port, &hints, &res);
    if (rc)
        return pingyi_fail (err, "cannot resolve %s: %s", u->host, gai_strerror (rc));
    int fd = -1;
    err[0] = '\0';
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket (a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0) {
            pingyi_fail (err, "socket: %s", strerror (errno));
            continue;
        }
        if (connect (fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        int e = errno, so = 0;
        socklen_t sl = sizeof so;
        if (e == EINPROGRESS && wait_fd (fd, POLLOUT, deadline, "connecting", err) == 0 &&
            getsockopt (fd, SOL_SOCKET, SO_ERROR, &so, &sl) == 0 && so == 0)
            break;
        if (e != EINPROGRESS)
            pingyi_fail (err, "cannot connect: %s", strerror (e));
        else if (so)
            pingyi_fail (err, "cannot connect: %s", strerror (so));
        close (fd);
        fd = -1;
    }
    freeaddrinfo (res);
    if (fd < 0 && !err[0])
        pingyi_fail (err, "cannot connect");
    return fd;
}

static int
send_all (int fd, const char *buf, size_t len, int64_t deadline, char *err)
{
    while (len) {
        ssize_t n = send (fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t) n;
        }
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (wait_fd (fd, POLLOUT, deadline, "sending the request", err))
                return -1;
        }
        else
            return pingyi_fail (err, "sending the request: %s",
                                n < 0 ? strerror (errno) : "connection closed");
    }
    return 0;
}

/*  Case-insensitive "Name:" at the start of a header line; the value after
    it (spaces skipped) or NULL.  */
static const char *
header_value (const char *line, const char *name)
{
    size_t n = strlen (name);
    if (strncasecmp (line, name, n) || line[n] != ':')
        return NULL;
    line += n + 1;
    while (*line == ' ' || *line == '\t')
        line++;
    return line;
}

/*  Check the status line and headers (NUL-terminated, CRLF separated).
    Sets *length to Content-Length or -1 when absent.  0 / -1.  */
static int
parse_head (char *head, int64_t *length, int *status, char *err)
{
    *length = -1;
    char *save = NULL, *line = strtok_r (head, "\r\n", &save);
    int minor;
    char extra;
    if (!line || sscanf (line, "HTTP/1.%d %3d%c", &minor, status, &extra) < 2 || *status < 100 ||
        *status > 599) {
        char safe[80];
        sanitize (safe, sizeof safe, line ? line : "", line ? strlen (line) : 0);
        return pingyi_fail (err, "not an HTTP response (status line \"%s\")", safe);
    }
    while ((line = strtok_r (NULL, "\r\n", &save))) {
        const char *v;
        if ((v = header_value (line, "Content-Length"))) {
            char *end;
            errno = 0;
            long long n = strtoll (v, &end, 10);
            while (*end == ' ' || *end == '\t')
                end++;
            if (errno || *end || n < 0 || end == v)
                return pingyi_fail (err, "bad Content-Length");
            if (*length >= 0 && *length != n)
                return pingyi_fail (err, "two different Content-Length headers");
            *length = n;
        }
        else if ((v = header_value (line, "Transfer-Encoding")) && strcasecmp (v, "identity"))
            return pingyi_fail (err, "Transfer-Encoding is not supported (this client speaks HTTP/1.0)");
    }
    return 0;
}

/*  GET path from u; the body (malloc'd, NUL-terminated) in *body.  0 / -1.  */
static int
http_get (const url_t *u, const char *path, size_t max_body, int timeout_s, char **body, size_t *body_len,
          char *err)
{
    *body = NULL;
    *body_len = 0;
    int64_t deadline = pingyi_now_ms () + (int64_t) timeout_s * 1000;
    int fd = connect_to (u, deadline, err);
    if (fd < 0)
        return -1;
    char req[2048];
    bool v6 = strchr (u->host, ':') != NULL;
    snprintf (req, sizeof req,
              "GET %s HTTP/1.0\r\nHost: %s%s%s:%s\r\nAccept: application/json\r\nUser-Agent: pingyi-query\r\n"
              "Connection: close\r\n\r\n",
              path, v6 ? "[" : "", u->host, v6 ? "]" : "", u->port);
    if (send_all (fd, req, strlen (req), deadline, err)) {
        close (fd);
        return -1;
    }
    size_t cap = 64 << 10, len = 0, head_len = 0;
    int64_t length = -1;
    int status = 0;
    char *buf = malloc (cap + 1);
    int rc = buf ? 0 : pingyi_fail (err, "out of memory");
    while (rc == 0) {
        if (head_len && length >= 0 && len - head_len >= (size_t) length)
            break; /* the whole body is here: no need to wait for the close */
        if (len == cap) {
            size_t limit = max_body + HEADERS_MAX;
            if (cap >= limit) {
                rc = pingyi_fail (err, "the answer is larger than %zu MiB", max_body >> 20);
                break;
            }
            size_t next = cap * 2 > limit ? limit : cap * 2;
            char *grown = realloc (buf, next + 1);
            if (!grown) {
                rc = pingyi_fail (err, "out of memory reading the answer");
                break;
            }
            buf = grown;
            cap = next;
        }
        ssize_t n = recv (fd, buf + len, cap - len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            rc = wait_fd (fd, POLLIN, deadline, "waiting for the answer", err);
            continue;
        }
        if (n < 0) {
            rc = pingyi_fail (err, "reading the answer: %s", strerror (errno));
            break;
        }
        if (n == 0)
            break;
        len += (size_t) n;
        if (!head_len) {
            buf[len] = '\0';
            char *end = memmem (buf, len, "\r\n\r\n", 4);
            if (end) {
                head_len = (size_t) (end - buf) + 4;
                *end = '\0'; /* parse_head reads up to here */
                rc = parse_head (buf, &length, &status, err);
                if (rc == 0 && length > (int64_t) max_body)
                    rc = pingyi_fail (err, "the answer announces %lld bytes, more than %zu MiB",
                                      (long long) length, max_body >> 20);
            }
            else if (len > HEADERS_MAX)
                rc = pingyi_fail (err, "no end of the HTTP headers in the first %d KiB", HEADERS_MAX >> 10);
        }
        else if (len - head_len > max_body)
            rc = pingyi_fail (err, "the answer is larger than %zu MiB", max_body >> 20);
    }
    close (fd);
    if (rc == 0 && !head_len)
        rc = pingyi_fail (err, len ? "the connection closed inside the HTTP headers"
                                   : "the connection closed without an answer");
    size_t got = head_len ? len - head_len : 0;
    if (rc == 0 && length >= 0 && got < (size_t) length)
        rc = pingyi_fail (err, "the answer is truncated: %zu of %lld bytes", got, (long long) length);
    if (rc == 0 && length >= 0)
        got = (size_t) length; /* bytes past Content-Length are not ours */
    if (rc == 0 && status != 200) {
        char safe[160];
        sanitize (safe, sizeof safe, buf + head_len, got < 150 ? got : 150);
        rc = pingyi_fail (err, "HTTP status %d: %s", status, safe);
    }
    if (rc) {
        free (buf);
        return -1;
    }
    memmove (buf, buf + head_len, got);
    buf[got] = '\0';
    *body = buf;
    *body_len = got;
    return 0;
}

/*  GET url + what and parse it; its "shards" into shards.  NULL with err.  */
static json_t *
agg_get (const pingyi_election_t *e, const char *url, const char *what, int timeout_s,
         pingyi_tally_shard_t *shards, int *shard_count, char *err)
{
    url_t u;
    if (url_parse (url, &u, err))
        return NULL;
    char path[sizeof u.path + sizeof TALLY_PATH];
    snprintf (path, sizeof path, "%s%s", u.path, what);
    char *body;
    size_t len;
    char why[PINGYI_ERR_MAX];
    if (http_get (&u, path, PINGYI_QUERY_BODY_MAX, timeout_s, &body, &len, why)) {
        pingyi_fail (err, "%s%s: %s", url, what, why);
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_loadb (body, len, JSON_REJECT_DUPLICATES, &jerr);
    free (body);
    if (!doc) {
        char safe[160];
        sanitize (safe, sizeof safe, jerr.text, strlen (jerr.text));
        pingyi_fail (err, "%s%s: invalid JSON at line %d, column %d: %s", url, what, jerr.line, jerr.column,
                     safe);
        return NULL;
    }
    *shard_count = pingyi_tally_shards_from_json (e, doc, shards, why);
    if (*shard_count < 0) {
        json_decref (doc);
        pingyi_fail (err, "%s%s: %s", url, what, why);
        return NULL;
    }
    return doc;
}

/*  Whether two documents are of one merge: the same shards at the same
    sequences and log digests.  */
static bool
same_merge (const pingyi_tally_shard_t *a, int na, const pingyi_tally_shard_t *b, int nb)
{
    if (na != nb)
        return false;
    for (int i = 0; i < na; i++)
        if (a[i].shard != b[i].shard || a[i].sequence != b[i].sequence ||
            memcmp (a[i].digest, b[i].digest, sizeof a[i].digest))
            return false;
    return true;
}

/*  The aggregator's released view (GET /api/v1/view); with tally, also its
    released tally (GET /api/v1/tally) into it, for the rater side: read
    again until both are of one merge (the aggregator may merge between
    the two requests).  NULL with err.  */
static pingyi_view_t *
read_agg (const pingyi_election_t *e, const char *url, int timeout_s, pingyi_tally_t *tally, char *err)
{
    pingyi_tally_shard_t shards[PINGYI_MAX_SHARDS], tshards[PINGYI_MAX_SHARDS];
    char why[PINGYI_ERR_MAX];
    for (int attempt = 0; attempt < AGG_PAIR_TRIES; attempt++) {
        int n = 0, tn = 0;
        json_t *doc = agg_get (e, url, VIEW_PATH, timeout_s, shards, &n, err);
        if (!doc)
            return NULL;
        pingyi_view_t *view = pingyi_view_from_json (e, doc, why);
        if (!view) {
            json_decref (doc);
            pingyi_fail (err, "%s%s: %s", url, VIEW_PATH, why);
            return NULL;
        }
        /* the snapshot shown is the aggregator's merge; unknown without one */
        const json_t *merged_at = json_object_get (doc, "merged_at");
        view->snapshot_at = json_is_integer (merged_at) && json_integer_value (merged_at) > 0
                                ? (int64_t) json_integer_value (merged_at)
                                : 0;
        json_decref (doc);
        if (tally) {
            json_t *tdoc = agg_get (e, url, TALLY_PATH, timeout_s, tshards, &tn, err);
            if (!tdoc) {
                pingyi_view_destroy (&view);
                return NULL;
            }
            bool same = same_merge (shards, n, tshards, tn);
            int rc = same ? pingyi_tally_from_json (tally, e, tdoc, why) : 0;
            json_decref (tdoc);
            if (rc) {
                pingyi_view_destroy (&view);
                pingyi_fail (err, "%s%s: %s", url, TALLY_PATH, why);
                return NULL;
            }
            if (!same) { /* a merge between the two reads: again */
                pingyi_view_destroy (&view);
                continue;
            }
        }
        for (int s = 0; s < n; s++)
            if (shards[s].stale)
                fprintf (stderr,
                         "pingyi query: warning: shard %" PRIu32 " is stale (its snapshot is %.1f s old)\n",
                         shards[s].shard, (double) shards[s].age_ms / 1000.0);
        return view;
    }
    pingyi_fail (err, "%s: the view and the tally kept coming from different merges (%d tries): the count is "
                      "moving fast; try again",
                 url, AGG_PAIR_TRIES);
    return NULL;
}

/*  ---------------------------------------------------------------------
    Offline: the shards' released state  */

#define SNAPSHOT_TRIES 5 /* a shard releasing between two pages is read again */

/*  Add shard s's released tally to tally: the pages a worker would send
    the aggregator (pingyi_shard_snapshot), all of one generation.  0 / -1.  */
static int
read_released_shard (const pingyi_election_t *e, const char *data, uint32_t s, pingyi_tally_t *tally,
                     char *err)
{
    char why[PINGYI_ERR_MAX];
    pingyi_shard_t *shard = pingyi_shard_open_readonly (data, s, e, why);
    if (!shard)
        return pingyi_fail (err, "shard %" PRIu32 ": %s", s, why);
    /* the pages' blocks, kept until the last page shows one generation */
    size_t width = pingyi_tally_shape (tally)->width * 4;
    pingyi_block_t *all = NULL;
    uint8_t *cells = NULL;
    size_t n = 0, cap = 0;
    pingyi_venue_figures_t *figs = NULL;
    size_t nfig = 0;
    int rc = -1;
    for (int attempt = 0; attempt < SNAPSHOT_TRIES && rc != 0; attempt++) {
        n = 0;
        bool first = true, moved = false;
        uint64_t generation = 0;
        uint8_t from[PINGYI_ROW_KEY_LEN] = {0};
        for (;;) {
            pingyi_shard_snapshot_t snap;
            if (pingyi_shard_snapshot (shard, first ? NULL : from, PINGYI_SHARD_SNAPSHOT_BYTES, &snap, why)) {
                pingyi_fail (err, "shard %" PRIu32 ": %s", s, why);
                goto done;
            }
            if (!first && snap.info.generation != generation) {
                moved = true; /* released something between two pages */
                pingyi_shard_snapshot_free (&snap);
                break;
            }
            generation = snap.info.generation;
            if (n + snap.block_count > cap) {
                size_t grown_cap = cap ? cap : 1024;
                while (grown_cap < n + snap.block_count)
                    grown_cap *= 2;
                pingyi_block_t *grown = realloc (all, grown_cap * sizeof *grown);
                if (grown)
                    all = grown;
                uint8_t *grown_cells = grown ? realloc (cells, grown_cap * width + 1) : NULL;
                if (!grown || !grown_cells) {
                    pingyi_shard_snapshot_free (&snap);
                    pingyi_fail (err, "out of memory reading shard %" PRIu32, s);
                    goto done;
                }
                cells = grown_cells;
                cap = grown_cap;
            }
            for (size_t i = 0; i < snap.block_count; i++, n++) {
                all[n] = snap.blocks[i];
                all[n].len = snap.blocks[i].len <= width ? snap.blocks[i].len : width;
                memcpy (cells + n * width, snap.blocks[i].cells, all[n].len);
            }
            free (figs);
            figs = snap.venues; /* the last page's: the same generation as the rest */
            nfig = snap.venue_count;
            snap.venues = NULL;
            bool more = snap.more;
            memcpy (from, snap.next, sizeof from);
            pingyi_shard_snapshot_free (&snap);
            first = false;
            if (!more)
                break;
        }
        if (!moved)
            rc = 0;
    }
    if (rc) {
        pingyi_fail (err, "shard %" PRIu32 ": it released something between every two pages (%d tries)", s,
                     SNAPSHOT_TRIES);
        goto done;
    }
    for (size_t i = 0; i < n; i++) /* a refused block is counted by the tally */
        (void) !pingyi_tally_add_block (tally, all[i].venue, all[i].subject, cells + i * width, all[i].len);
    for (size_t v = 0; v < nfig; v++)
        pingyi_tally_set_figures (tally, &figs[v]);
done:
    free (all);
    free (cells);
    free (figs);
    pingyi_shard_close (&shard);
    return rc;
}

/*  Every shard directory under data, read-only and released (safe while
    workers write).  A shard directory that does not exist is a shard no
    ballot ever reached; a data directory that does not exist is an error.
    0 / -1 with err.  */
static int
read_released (const pingyi_election_t *e, const char *data, pingyi_tally_t *tally, char *err)
{
    struct stat st;
    if (pingyi_data_dir_check (data, err))
        return -1;
    for (uint32_t s = 0; s < e->shard_count; s++) {
        char path[4200];
        pingyi_shard_path (path, sizeof path, data, s);
        if (stat (path, &st) != 0)
            continue;
        if (read_released_shard (e, data, s, tally, err))
            return -1;
    }
    return 0;
}

/*  ---------------------------------------------------------------------
    The command  */

typedef enum { FORMAT_TABLE, FORMAT_CSV, FORMAT_JSON, FORMAT_XLSX } format_t;

static int
render (const pingyi_view_t *view, const pingyi_report_filter_t *filter, format_t format, bool venues,
        size_t width, const char *path, FILE *out, char *err)
{
    switch (format) {
    case FORMAT_TABLE:
        return venues ? pingyi_report_venues_table (view, filter, width, out, err)
                      : pingyi_report_table (view, filter, width, out, err);
    case FORMAT_CSV:
        return venues ? pingyi_report_venues_csv (view, filter, out, err)
                      : pingyi_report_csv (view, filter, out, err);
    case FORMAT_JSON:
        return pingyi_report_json_write (view, filter, out, err);
    case FORMAT_XLSX:
        return pingyi_report_xlsx (view, filter, path, err);
    }
    return pingyi_fail (err, "unknown format");
}

/*  Render into --out through a temporary file renamed at the end, so a
    clerk never opens a half-written export.  */
static int
render_to_file (const pingyi_view_t *view, const pingyi_report_filter_t *filter, format_t format, bool venues,
                size_t width, const char *path, char *err)
{
    char tmp[4200];
    if (snprintf (tmp, sizeof tmp, "%s.tmp.%d", path, (int) getpid ()) >= (int) sizeof tmp)
        return pingyi_fail (err, "%s: path too long", path);
    FILE *out = NULL;
    if (format != FORMAT_XLSX && !(out = fopen (tmp, "w")))
        return pingyi_fail (err, "%s: cannot create: %s", tmp, strerror (errno));
    int rc = render (view, filter, format, venues, width, tmp, out, err);
    if (out && fclose (out) && rc == 0)
        rc = pingyi_fail (err, "%s: %s", tmp, strerror (errno));
    if (rc == 0 && rename (tmp, path))
        rc = pingyi_fail (err, "cannot rename %s to %s: %s", tmp, path, strerror (errno));
    if (rc)
        unlink (tmp);
    return rc;
}

int
pingyi_cmd_query (int argc, char **argv)
{
    const char *deploy = NULL, *data = NULL, *agg = NULL, *by = NULL, *district = NULL, *category = NULL,
               *item = NULL, *format_name = "table", *out_path = NULL, *sort = NULL, *lang = NULL,
               *side_name = NULL, *of_subject = NULL, *of_unit = NULL, *of = NULL;
    uint64_t width = 0, timeout = 30; /* width 0: COLUMNS, the tty's, or 80 (pingyi_report_auto_width) */
    bool venues = false;
    const pingyi_cli_option_t options[] = {
        PINGYI_CLI_OPT_TEXT ("deploy", &deploy, "DIR", "the deploy directory (its election.json)"),
        PINGYI_CLI_OPT_TEXT ("data", &data, "DIR", "read the shard files offline (DIR/shard-NN)"),
        PINGYI_CLI_OPT_TEXT ("agg", &agg, "URL", "ask a running aggregator, http://HOST:PORT"),
        PINGYI_CLI_OPT_TEXT ("by", &by, "LEVEL", "city, district, town, department, kind, unit, subject or venue\n"
                                                       "(--side rater: venue, district or category)"),
        PINGYI_CLI_OPT_TEXT ("district", &district, "D", "only district D"),
        PINGYI_CLI_OPT_TEXT ("side", &side_name, "SIDE",
                             "subject (default: rows by the subjects' units) or rater (rows by the\n"
                             "venue, the venue's district or the category of the raters; --by venue,\n"
                             "district or category)"),
        PINGYI_CLI_OPT_TEXT ("subject", &of_subject, "S", "rater side: of subject S (its id, or its name)"),
        PINGYI_CLI_OPT_TEXT ("unit", &of_unit, "U", "rater side: of the subjects of unit U (id or name)"),
        PINGYI_CLI_OPT_TEXT ("of", &of, "LEVEL=ID",
                             "rater side: of the subjects of that subject-side row (unit=u01,\n"
                             "district=d1, kind=town, ...; default: the city)"),
        PINGYI_CLI_OPT_TEXT ("category", &category, "C", "only category C, by id or name (its ranking and columns)"),
        PINGYI_CLI_OPT_TEXT ("item", &item, "I", "only single-item column I"),
        PINGYI_CLI_OPT_TEXT ("format", &format_name, "F", "table, csv, json or xlsx (default table)"),
        PINGYI_CLI_OPT_FLAG ("venues", &venues, "each venue's figures too (table and csv)"),
        PINGYI_CLI_OPT_TEXT ("out", &out_path, "FILE", "write there (needed for xlsx; default: stdout)"),
        PINGYI_CLI_OPT_TEXT ("sort", &sort, "ORDER", "rows by definition (default), rank or name"),
        PINGYI_CLI_OPT_TEXT ("lang", &lang, "L", "table headers and labels in zh (default) or en"),
        PINGYI_CLI_OPT_U64 ("width", &width, "N",
                            "table width in columns (40..1000; default COLUMNS, else the\n"
                            "terminal's, else 80)",
                            PINGYI_REPORT_WIDTH_MIN, PINGYI_REPORT_WIDTH_MAX),
        PINGYI_CLI_OPT_U64 ("timeout", &timeout, "SECONDS",
                            "with --agg: wait at most this long (1..3600, default 30)", 1, 3600),
        PINGYI_CLI_END,
    };
    pingyi_cli_t cli = {.prog = "pingyi query", .synopsis = SYNOPSIS, .options = options};
    int status;
    if (pingyi_cli_parse (&cli, argc, argv, &status))
        return status;
    int timeout_s = (int) timeout;
    format_t format;
    if (!strcmp (format_name, "table"))
        format = FORMAT_TABLE;
    else if (!strcmp (format_name, "csv"))
        format = FORMAT_CSV;
    else if (!strcmp (format_name, "json"))
        format = FORMAT_JSON;
    else if (!strcmp (format_name, "xlsx"))
        format = FORMAT_XLSX;
    else {
        fprintf (stderr, "pingyi query: --format must be table, csv, json or xlsx\n");
        return 2;
    }
    if (!deploy || !data == !agg) {
        return pingyi_cli_fail (&cli, "give --deploy and one of --data or --agg");
    }
    if (format == FORMAT_XLSX && !out_path) {
        fprintf (stderr, "pingyi query: --format xlsx needs --out FILE.xlsx\n");
        return 2;
    }
    if (venues && format != FORMAT_TABLE && format != FORMAT_CSV) {
        fprintf (stderr,
                 "pingyi query: --venues goes with --format table or csv (json and xlsx always hold the "
                 "venues)\n");
        return 2;
    }

    char err[PINGYI_ERR_MAX], path[1100];
    pingyi_election_t *e = NULL;
    if (pingyi_path (path, sizeof path, err, "%s/election.json", deploy) == 0)
        e = pingyi_election_load_or_err (path, err);
    if (!e) {
        fprintf (stderr, "pingyi query: %s\n", err);
        return 2;
    }
    /* the rater side: --side rater, or --by venue (the venue level is the
       same on both sides, docs/rollup.md "The rater side") */
    bool rater = by && !strcmp (by, "venue");
    if (side_name && !strcmp (side_name, "rater"))
        rater = true;
    else if (side_name && strcmp (side_name, "subject")) {
        fprintf (stderr, "pingyi query: --side must be subject or rater\n");
        pingyi_election_destroy (&e);
        return 2;
    }
    int rater_by = rater ? pingyi_rater_by_parse (by ? by : "venue") : -1;
    if (rater && rater_by < 0) {
        fprintf (stderr, "pingyi query: --side rater goes with --by venue, district or category\n");
        pingyi_election_destroy (&e);
        return 2;
    }
    if (!rater && (of_subject || of_unit || of)) {
        fprintf (stderr, "pingyi query: --subject, --unit and --of go with --side rater (or --by venue)\n");
        pingyi_election_destroy (&e);
        return 2;
    }
    if ((!!of_subject + !!of_unit + !!of) > 1) {
        fprintf (stderr, "pingyi query: give one of --subject, --unit, --of\n");
        pingyi_election_destroy (&e);
        return 2;
    }
    pingyi_level_t of_level = PINGYI_LEVEL_CITY;
    const char *of_id = "city";
    char of_why[128];
    if (rater && pingyi_side_of_parse (of_subject, of_unit, of, &of_level, &of_id, of_why, sizeof of_why)) {
        fprintf (stderr, "pingyi query: --%s\n", of_why);
        pingyi_election_destroy (&e);
        return 2;
    }
    pingyi_report_filter_t filter;
    if (pingyi_report_filter_parse (&filter, e, rater ? NULL : by, district, category, item, err) ||
        pingyi_report_sort_parse (&filter, sort, err) || pingyi_report_lang_parse (&filter, lang, err)) {
        fprintf (stderr, "pingyi query: %s\n", err);
        pingyi_election_destroy (&e);
        return 2;
    }
    if (width == 0)
        width = pingyi_report_auto_width ();
    int rc = 0;
    pingyi_view_t *view = NULL;
    pingyi_side_view_t *side = NULL;
    pingyi_tally_t *tally = NULL;
    int64_t read_at = 0; /* --data: when the shards' released state was read */
    if (agg) {
        /* the rater side regroups count blocks: the released tally's */
        if (rater && !(tally = pingyi_tally_new (e))) {
            fprintf (stderr, "pingyi query: out of memory\n");
            rc = 2;
            goto done;
        }
        if (!(view = read_agg (e, agg, timeout_s, tally, err))) {
            fprintf (stderr, "pingyi query: %s\n", err);
            rc = 1;
            goto done;
        }
    }
    else {
        tally = pingyi_tally_new (e);
        if (!tally) {
            fprintf (stderr, "pingyi query: out of memory\n");
            rc = 2;
            goto done;
        }
        if (read_released (e, data, tally, err)) {
            fprintf (stderr, "pingyi query: %s\n", err);
            rc = 1;
            goto done;
        }
        read_at = (int64_t) time (NULL);
        if (pingyi_tally_rejected_keys (tally)) {
            fprintf (stderr, "pingyi query: %llu stored counter keys name nothing in this election\n",
                     (unsigned long long) pingyi_tally_rejected_keys (tally));
            rc = 1;
        }
        /* released with the definition's k, exactly as the aggregator
           releases it: what this prints is published too */
        view = pingyi_view_new (e, tally);
        if (!view) {
            fprintf (stderr, "pingyi query: out of memory computing the view\n");
            rc = 2;
            goto done;
        }
        view->snapshot_at = read_at; /* when the shards were read */
    }
    if (rater) {
        char why[256];
        int row = pingyi_view_find_row_named (view, (pingyi_level_t) of_level, of_id, why, sizeof why);
        if (row < 0) {
            if (why[0])
                fprintf (stderr, "pingyi query: %s\n", why);
            else
                fprintf (stderr, "pingyi query: no %s \"%s\" in this election (neither an id nor a name)\n",
                         pingyi_level_name (of_level), of_id);
            rc = 2;
            goto done;
        }
        side = pingyi_side_view_new (view, tally, (pingyi_rater_by_t) rater_by, (pingyi_level_t) of_level,
                                     (size_t) row);
        if (!side) {
            fprintf (stderr, "pingyi query: out of memory computing the rater side\n");
            rc = 2;
            goto done;
        }
        filter.side = side;
    }
    if (out_path ? render_to_file (view, &filter, format, venues, width, out_path, err)
                 : render (view, &filter, format, venues, width, NULL, stdout, err)) {
        fprintf (stderr, "pingyi query: %s\n", err);
        rc = 2;
    }
done:
    pingyi_side_view_destroy (&side);
    pingyi_view_destroy (&view);
    pingyi_tally_destroy (&tally);
    pingyi_election_destroy (&e);
    return rc;
}
