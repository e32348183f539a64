/*  common.c — error text, hex, clock and log helpers shared by every module.  */
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

const char *pingyi_log_prog = "pingyi";

int
pingyi_fail (char *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (err, PINGYI_ERR_MAX, fmt, ap);
        va_end (ap);
    }
    return -1;
}

int
pingyi_path (char *out, size_t cap, char *err, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (out, cap, fmt, ap);
    va_end (ap);
    if (n < 0 || (size_t) n >= cap)
        return pingyi_fail (err, "path too long: %.64s...", out);
    return 0;
}

void
pingyi_hex (char *out, const uint8_t *bytes, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * len] = '\0';
}

static int
hex_value (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
pingyi_unhex (uint8_t *out, size_t len, const char *hex, size_t hex_len)
{
    if (hex_len != 2 * len)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int hi = hex_value (hex[2 * i]), lo = hex_value (hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t) (hi << 4 | lo);
    }
    return 0;
}

int64_t
pingyi_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*  --------------------------------------------------------------------------
    Logging (common.h)  */

#define LOG_MSG_MAX 1024  /* a message, NUL included; longer ones are cut */
#define LOG_LINE_MAX 8192 /* a line: the message escaped for JSON (6 bytes a byte at most) and the rest */

static struct {
    int min; /* lines below it are dropped */
    pingyi_log_format_t format;
    pingyi_log_json_writer_t json; /* the JSON string writer (text/json_text.h) */
    int fd;                        /* where lines go: 2 (stderr) or the log file */
    char path[4096];               /* the log file, "" for stderr */
} s_log = {PINGYI_LOG_INFO, PINGYI_LOG_TEXT, NULL, STDERR_FILENO, ""};

static volatile sig_atomic_t s_log_reopen; /* set by SIGHUP (pingyi_log_reopen_request) */

static const char *const s_level_names[] = {"debug", "info", "warn", "error"};

int
pingyi_log_level_parse (const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name && !strcmp (name, s_level_names[i]))
            return i;
    return -1;
}

void
pingyi_log_setup (pingyi_log_level_t min, pingyi_log_format_t format, pingyi_log_json_writer_t json)
{
    s_log.min = (int) min;
    s_log.format = format == PINGYI_LOG_JSON && json ? PINGYI_LOG_JSON : PINGYI_LOG_TEXT;
    s_log.json = json;
}

static int
log_open_fd (const char *path)
{
    return open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
}

int
pingyi_log_open (const char *path, char *err)
{
    if (strlen (path) >= sizeof s_log.path)
        return pingyi_fail (err, "%.64s...: path too long", path);
    int fd = log_open_fd (path);
    if (fd < 0)
        return pingyi_fail (err, "%s: cannot open: %s", path, strerror (errno));
    if (s_log.fd != STDERR_FILENO)
        close (s_log.fd);
    s_log.fd = fd;
    snprintf (s_log.path, sizeof s_log.path, "%s", path);
    return 0;
}

void
pingyi_log_reopen_request (void)
{
    s_log_reopen = 1;
}

/*  The same fd number onto the new file (dup2 replaces it at once), so a
    thread writing meanwhile writes to one file or the other, never to a
    closed fd.  */
static void
log_reopen (void)
{
    s_log_reopen = 0;
    if (!s_log.path[0])
        return;
    int fd = log_open_fd (s_log.path);
    if (fd < 0) {
        int e = errno;
        pingyi_error ("cannot reopen the log file %s: %s: still writing to the one open before", s_log.path,
                      strerror (e));
        return;
    }
    if (dup2 (fd, s_log.fd) < 0) {
        int e = errno;
        close (fd);
        pingyi_error ("cannot reopen the log file %s: %s: still writing to the one open before", s_log.path,
                      strerror (e));
        return;
    }
    close (fd);
    pingyi_info ("log file %s reopened (SIGHUP)", s_log.path);
}

void
pingyi_log_poll (void)
{
    if (s_log_reopen)
        log_reopen ();
}

/*  The length of s without an incomplete UTF-8 character at its end (what
    cutting a long message may leave).  */
static size_t
utf8_whole (const char *s, size_t len)
{
    size_t i = len, back = 0;
    while (i > 0 && back < 3 && ((uint8_t) s[i - 1] & 0xc0) == 0x80) {
        i--;
        back++;
    }
    if (i > 0 && (uint8_t) s[i - 1] >= 0xc0) {
        size_t n = pingyi_utf8_char ((const uint8_t *) s + i - 1, len - (i - 1));
        if (n == 0)
            return i - 1;
    }
    return len;
}

size_t
pingyi_log_format (char *out, size_t cap, pingyi_log_format_t format, pingyi_log_json_writer_t json,
                   int64_t unix_ms, const char *prog, const char *level, const char *msg)
{
    if (cap == 0)
        return 0;
    char when[96]; /* 24 bytes; room for any int the compiler imagines */
    time_t secs = (time_t) (unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000);
    int ms = (int) (unix_ms - (int64_t) secs * 1000);
    struct tm tm;
    if (!gmtime_r (&secs, &tm))
        memset (&tm, 0, sizeof tm);
    snprintf (when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
              tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    size_t msg_len = utf8_whole (msg, strlen (msg));
    size_t n = 0;
    if (format == PINGYI_LOG_JSON && json) {
        FILE *f = fmemopen (out, cap, "w");
        if (f) {
            fprintf (f, "{\"time\":\"%s\",\"level\":", when);
            json (f, level, strlen (level));
            fputs (",\"component\":", f);
            json (f, prog, strlen (prog));
            fputs (",\"msg\":", f);
            json (f, msg, msg_len);
            fputs ("}\n", f);
            fflush (f);
            long pos = ftell (f);
            fclose (f);
            n = pos > 0 ? (size_t) pos : 0;
            if (n >= cap)
                n = cap - 1;
            if (n > 0 && out[n - 1] == '\n')
                return n;
        }
        /* did not fit: the text format rather than half an object */
    }
    int k = snprintf (out, cap, "%s %s %s: %.*s\n", when, prog, level, (int) msg_len, msg);
    n = k < 0 ? 0 : (size_t) k >= cap ? cap - 1 : (size_t) k;
    if (n > 0 && out[n - 1] != '\n')
        out[n - 1] = '\n';
    return n;
}

void
pingyi_log (const char *level, const char *fmt, ...)
{
    if (s_log_reopen)
        log_reopen ();
    int rank = pingyi_log_level_parse (level);
    if ((rank < 0 ? PINGYI_LOG_INFO : rank) < s_log.min)
        return;
    char msg[LOG_MSG_MAX];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    char line[LOG_LINE_MAX];
    size_t len =
        pingyi_log_format (line, sizeof line, (pingyi_log_format_t) s_log.format, s_log.json,
                           (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000, pingyi_log_prog, level, msg);
    for (size_t off = 0; off < len;) {
        ssize_t w = write (s_log.fd, line + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t) w;
    }
}

uint8_t *
pingyi_read_file (const char *path, size_t max, size_t *len, char *err)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        pingyi_fail (err, "%s: cannot open: %s", path, strerror (errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc (cap + 1);
    while (buf) {
        if (n == cap) {
            if (cap >= max)
                break;
            cap = cap * 2 > max ? max : cap * 2;
            uint8_t *grown = realloc (buf, cap + 1);
            if (!grown) {
                free (buf);
                buf = NULL;
                break;
            }
            buf = grown;
        }
        size_t got = fread (buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    bool too_big = buf && n == cap && cap >= max && fgetc (f) != EOF;
    bool failed = ferror (f);
    fclose (f);
    if (!buf) {
        pingyi_fail (err, "%s: out of memory", path);
        return NULL;
    }
    if (too_big || failed) {
        free (buf);
        if (too_big)
            pingyi_fail (err, "%s: larger than %zu bytes", path, max);
        else
            pingyi_fail (err, "%s: read error", path);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/*  The pid a lock file names, as text ("unknown" when it holds no number:
    a holder that has just taken the lock may not have written it yet).  */
static void
lock_holder (int fd, char *out, size_t cap)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        char buf[32];
        ssize_t n = pread (fd, buf, sizeof buf - 1, 0);
        size_t digits = 0;
        while (n > 0 && digits < (size_t) n && digits + 1 < cap && buf[digits] >= '0' && buf[digits] <= '9')
            digits++;
        if (digits > 0) {
            memcpy (out, buf, digits);
            out[digits] = 0;
            return;
        }
        usleep (20 * 1000);
    }
    snprintf (out, cap, "unknown");
}

int
pingyi_lock_dir (const char *dir, const char *file, const char *who, char *err)
{
    char lock[4200];
    if (pingyi_path (lock, sizeof lock, err, "%s/%s", dir, file))
        return -1;
    int fd = open (lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return pingyi_fail (err, "%s: cannot open: %s", lock, strerror (errno));
    if (flock (fd, LOCK_EX | LOCK_NB)) {
        int e = errno;
        if (e == EWOULDBLOCK) {
            char holder[24];
            lock_holder (fd, holder, sizeof holder);
            close (fd);
            return pingyi_fail (err, "%s: in use by another %s (pid %s, %s): one %s per %s directory", dir, who,
                                holder, lock, who, strcmp (who, "worker") ? "data" : "shard");
        }
        close (fd);
        return pingyi_fail (err, "%s: cannot lock: %s", lock, strerror (e));
    }
    /* the new pid over the old one, then cut: a reader never sees it empty */
    char pid[24];
    int n = snprintf (pid, sizeof pid, "%ld\n", (long) getpid ());
    if (pwrite (fd, pid, (size_t) n, 0) != n || ftruncate (fd, n)) {
        int e = errno;
        close (fd);
        return pingyi_fail (err, "%s: cannot write the holder's pid: %s", lock, strerror (e));
    }
    return fd;
}

/*  Valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF):
    the offset of the first byte that is not, or len.  */
size_t
pingyi_utf8_char (const uint8_t *s, size_t len)
{
    if (len == 0)
        return 0;
    uint8_t c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    }
    else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* past U+10FFFF */
    }
    else
        return 0;
    if (n > len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if ((s[k] & 0xc0) != 0x80)
            return 0;
    return n;
}

size_t
pingyi_utf8_invalid_at (const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t n = pingyi_utf8_char (s + i, len - i);
        if (n == 0)
            return i;
        i += n;
    }
    return len;
}
