/*  common.h — what every pingyi module shares: error text buffers, hex, clocks,
    logging, and the fixed sizes of identifiers.

    Errors: a function that can fail returns 0 / -1 (or a count, or NULL) and
    writes one line into a caller-owned `char err[PINGYI_ERR_MAX]` that names
    what failed, where and why, ready to show an operator.  */
#ifndef PINGYI_COMMON_H
#define PINGYI_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PINGYI_ERR_MAX 256
#define PINGYI_FP_LEN 32        /* election fingerprint: SHA-256 of the definition */
#define PINGYI_BALLOT_ID_LEN 16 /* random 128-bit ballot id */
#define PINGYI_KEY_LEN 32       /* X25519 keys (CURVE and box alike) */
#define PINGYI_ID_MAX 64        /* longest id (venue, subject, ...) in bytes */
#define PINGYI_RECEIPT_LEN 16   /* tracking code: 16 lowercase hex chars */

#define PINGYI_WARN_UNUSED __attribute__ ((warn_unused_result))
#define PINGYI_PRINTF(a, b) __attribute__ ((format (printf, a, b)))

/*  Format into err (if not NULL); always returns -1 so callers can
    `return pingyi_fail (err, "...", ...);`.  */
int pingyi_fail (char *err, const char *fmt, ...) PINGYI_PRINTF (2, 3);

/*  Lowercase hex of len bytes into out (2*len+1 bytes).  */
void pingyi_hex (char *out, const uint8_t *bytes, size_t len);
/*  Parse exactly 2*len hex digits; 0 / -1.  */
int pingyi_unhex (uint8_t *out, size_t len, const char *hex, size_t hex_len) PINGYI_WARN_UNUSED;

/*  Monotonic milliseconds (CLOCK_MONOTONIC).  */
int64_t pingyi_now_ms (void);

/*  Valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF):
    the offset of the first byte that is not, or len when all of it is.  */
size_t pingyi_utf8_invalid_at (const uint8_t *s, size_t len);
/*  The length (1..4) of the valid UTF-8 character that s starts with, by
    the same rule; 0 when s does not start with one (or len is 0).  */
size_t pingyi_utf8_char (const uint8_t *s, size_t len);

/*  One process per directory: an exclusive flock(2) on DIR/FILE (mode 0600,
    the holder's pid as text, rewritten on each acquisition), held until the
    returned fd is closed or the process dies.  flock locks belong to the
    open file, so a second lock in the same process conflicts too.  A held
    lock is refused naming its holder: "DIR: in use by another worker (pid
    12345, DIR/worker.lock): one worker per shard directory" (who = "worker";
    other roles say "per data directory").  The fd, or -1 with err.  */
int pingyi_lock_dir (const char *dir, const char *file, const char *who, char *err) PINGYI_WARN_UNUSED;

/*  One log line on stderr: "<prog> <level>: text".  pingyi_log_prog names
    the process (set once in main).  */
extern const char *pingyi_log_prog;
void pingyi_log (const char *level, const char *fmt, ...) PINGYI_PRINTF (2, 3);
#define pingyi_info(...) pingyi_log ("info", __VA_ARGS__)
#define pingyi_warn(...) pingyi_log ("warn", __VA_ARGS__)
#define pingyi_error(...) pingyi_log ("error", __VA_ARGS__)

/*  Format a file path into out (cap bytes); -1 with err when it does not fit.  */
int pingyi_path (char *out, size_t cap, char *err, const char *fmt, ...)
    PINGYI_PRINTF (4, 5) PINGYI_WARN_UNUSED;

/*  Read a whole file (at most max bytes) into a malloc'd buffer, NUL-terminated
    for convenience.  */
uint8_t *pingyi_read_file (const char *path, size_t max, size_t *len, char *err) PINGYI_WARN_UNUSED;

#endif
