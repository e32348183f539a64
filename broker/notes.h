/*  notes.h — the broker's warnings about peers, rate-limited.

    A flood of bad frames or refused handshakes must not become a flood of
    log lines: each kind of warning gets PINGYI_NOTES_BURST line(s) per
    minute as they come (one: the first says what is wrong, and the
    broker's stats count every one); past that they are counted, and when the minute
    ends one line sums them up ("99,999 more bad messages like this in the
    last minute (counted in stats)").  The counters of record are the
    broker's stats; a note is only what a person reads.

    The clock is the caller's (now_ms on every call), so a test drives it;
    lines go to a sink, by default pingyi_warn.  */
#ifndef PINGYI_NOTES_H
#define PINGYI_NOTES_H

#include "common.h"

#include <stddef.h>
#include <stdint.h>

#define PINGYI_NOTES_BURST 1         /* lines of one kind logged per window */
#define PINGYI_NOTES_WINDOW_MS 60000 /* the window: a minute */

/*  The kinds of warning the broker writes about peers.  */
typedef enum {
    PINGYI_NOTE_BAD_MESSAGE,
    PINGYI_NOTE_OVERSIZED,
    PINGYI_NOTE_FORBIDDEN,
    PINGYI_NOTE_HELLO_REFUSED,
    PINGYI_NOTE_DISPLACED,
    PINGYI_NOTE_REPLY_UNKNOWN_TICKET,
    PINGYI_NOTE_REPLY_WRONG_WORKER,
    PINGYI_NOTE_REPLY_WRONG_KIND,
    PINGYI_NOTE_REPLY_DISPLACED,
    PINGYI_NOTE_KEY_REFUSED,
    PINGYI_NOTE_NOT_CURVE,
    PINGYI_NOTE_KINDS_
} pingyi_note_kind_t;

typedef struct pingyi_notes_t pingyi_notes_t;
typedef void (pingyi_notes_sink_fn) (const char *line, void *arg);

/*  Notes of PINGYI_NOTE_KINDS_ kinds, written with pingyi_warn.  NULL when
    out of memory.  */
pingyi_notes_t *pingyi_notes_new (void);
void pingyi_notes_destroy (pingyi_notes_t **self_p);
/*  Send lines to sink (a test's) instead of pingyi_warn.  */
void pingyi_notes_set_sink (pingyi_notes_t *self, pingyi_notes_sink_fn *sink, void *arg);
/*  A warning of kind at now_ms: written if it is among the first
    PINGYI_NOTES_BURST of its window, else counted.  True when written.  */
bool pingyi_notes_add (pingyi_notes_t *self, pingyi_note_kind_t kind, int64_t now_ms, const char *fmt, ...)
    PINGYI_PRINTF (4, 5);
/*  End the windows that are over at now_ms, one summary line for each
    that held warnings back.  Call about once a second.  */
void pingyi_notes_flush (pingyi_notes_t *self, int64_t now_ms);
/*  Warnings of kind held back (not written) since the process started.  */
uint64_t pingyi_notes_suppressed (const pingyi_notes_t *self, pingyi_note_kind_t kind);
/*  "1,234,567": n with a comma every three digits; returns buf.  */
const char *pingyi_notes_thousands (char *buf, size_t size, uint64_t n);

#endif
