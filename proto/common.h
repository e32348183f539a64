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

/*  Logging (docs/OPERATIONS.md, "Logs").  One line per call, written with
    one write(2) so lines of several threads never interleave, on stderr or
    on a log file (pingyi_log_open).  The text format (the default):

        2026-12-06T07:51:16.123Z pingyi-worker info: worker 1 running

    an RFC 3339 UTC time with milliseconds, then "<prog> <level>: text"
    exactly as it always was, so a grep for "pingyi-worker error: X" still
    finds its line.  The JSON format: one object a line,

        {"time":"2026-12-06T07:51:16.123Z","level":"info","component":"pingyi-worker","msg":"worker 1 running"}

    Lines below the chosen level (pingyi_log_setup; info by default) are
    dropped.  A message is a sentence for an operator: never ballot content
    (marks, a ballot's bytes) and never a secret (keys, key files' text).
    pingyi_log_prog names the process (set once in main).  The level is
    "debug", "info", "warn" or "error" (pingyi_debug .. pingyi_error).  */
extern const char *pingyi_log_prog;
void pingyi_log (const char *level, const char *fmt, ...) PINGYI_PRINTF (2, 3);
#define pingyi_debug(...) pingyi_log ("debug", __VA_ARGS__)
#define pingyi_info(...) pingyi_log ("info", __VA_ARGS__)
#define pingyi_warn(...) pingyi_log ("warn", __VA_ARGS__)
#define pingyi_error(...) pingyi_log ("error", __VA_ARGS__)

typedef enum { PINGYI_LOG_DEBUG, PINGYI_LOG_INFO, PINGYI_LOG_WARN, PINGYI_LOG_ERROR } pingyi_log_level_t;
typedef enum { PINGYI_LOG_TEXT, PINGYI_LOG_JSON } pingyi_log_format_t;

/*  Writes len bytes of s as a JSON string (quotes included) on out: the
    project's JSON string writer, pingyi_json_write_text (text/json_text.h),
    handed in from above, since proto/ sits below text/.  */
typedef void (*pingyi_log_json_writer_t) (FILE *out, const char *s, size_t len);

/*  "debug", "info", "warn", "error" -> the level; -1 for any other name.  */
int pingyi_log_level_parse (const char *name);

/*  From now on: drop lines below min, write them in format (JSON needs
    json, else the text format is used).  */
void pingyi_log_setup (pingyi_log_level_t min, pingyi_log_format_t format, pingyi_log_json_writer_t json);

/*  Append the log to path from now on (O_APPEND | O_CREAT, mode 0640)
    instead of stderr.  0, or -1 with err.  */
int pingyi_log_open (const char *path, char *err) PINGYI_WARN_UNUSED;

/*  Ask for the log file to be reopened (async-signal-safe: a SIGHUP
    handler calls it).  The reopen happens at the next pingyi_log call or
    pingyi_log_poll, whichever comes first; the new file gets a line saying
    so (at info).  Nothing happens when the log goes to stderr.  */
void pingyi_log_reopen_request (void);
/*  Do a requested reopen now (a daemon's main loop calls it each turn).  */
void pingyi_log_poll (void);

/*  One line, '\n' included, into out (cap bytes; 8192 hold any line of a
    message up to 1023 bytes): time unix_ms (milliseconds since the epoch,
    shown in UTC), prog, level and msg in format.  Its length.  */
size_t pingyi_log_format (char *out, size_t cap, pingyi_log_format_t format, pingyi_log_json_writer_t json,
                          int64_t unix_ms, const char *prog, const char *level, const char *msg);

/*  Format a file path into out (cap bytes); -1 with err when it does not fit.  */
int pingyi_path (char *out, size_t cap, char *err, const char *fmt, ...)
    PINGYI_PRINTF (4, 5) PINGYI_WARN_UNUSED;

/*  Read a whole file (at most max bytes) into a malloc'd buffer, NUL-terminated
    for convenience.  */
uint8_t *pingyi_read_file (const char *path, size_t max, size_t *len, char *err) PINGYI_WARN_UNUSED;

#endif
