/*  common.c — error text, hex, clock and log helpers shared by every module.  */
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
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

void
pingyi_log (const char *level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (line, sizeof line, fmt, ap);
    va_end (ap);
    fprintf (stderr, "%s %s: %s\n", pingyi_log_prog, level, line);
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
