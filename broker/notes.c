/*  notes.c — rate-limited warnings about peers (notes.h).

    Each kind has its own window, opened by the first warning that comes
    when none is open and lasting PINGYI_NOTES_WINDOW_MS.  Within it the
    first PINGYI_NOTES_BURST warnings are written; the rest only counted.
    The window closes at the first flush (or warning) at or after its end;
    if it held warnings back, one summary line says how many.  Under a
    steady flood that is BURST + 1 lines a minute per kind, whatever the
    rate.  */
#define _GNU_SOURCE
#include "notes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const kind_names[PINGYI_NOTE_KINDS_] = {
    [PINGYI_NOTE_BAD_MESSAGE] = "bad messages",
    [PINGYI_NOTE_OVERSIZED] = "oversized frames",
    [PINGYI_NOTE_FORBIDDEN] = "refused messages",
    [PINGYI_NOTE_HELLO_REFUSED] = "refused HELLOs",
    [PINGYI_NOTE_DISPLACED] = "displaced workers",
    [PINGYI_NOTE_REPLY_UNKNOWN_TICKET] = "REPLYs with an unknown ticket",
    [PINGYI_NOTE_REPLY_WRONG_WORKER] = "REPLYs from the wrong worker",
    [PINGYI_NOTE_REPLY_WRONG_KIND] = "REPLYs of the wrong kind",
    [PINGYI_NOTE_REPLY_DISPLACED] = "REPLYs from displaced connections",
    [PINGYI_NOTE_KEY_REFUSED] = "refused connections (key not in the keyring)",
    [PINGYI_NOTE_NOT_CURVE] = "refused connections (not CURVE)",
};

typedef struct {
    bool open;           /* a window is running */
    int64_t end_ms;      /* ... until then */
    uint32_t written;    /* lines written in it */
    uint64_t held;       /* warnings held back in it */
    uint64_t suppressed; /* held back since the start */
} window_t;

struct pingyi_notes_t {
    window_t w[PINGYI_NOTE_KINDS_];
    pingyi_notes_sink_fn *sink;
    void *arg;
};

static void
warn_sink (const char *line, void *arg)
{
    pingyi_warn ("%s", line);
}

pingyi_notes_t *
pingyi_notes_new (void)
{
    pingyi_notes_t *self = calloc (1, sizeof *self);
    if (self)
        self->sink = warn_sink;
    return self;
}

void
pingyi_notes_destroy (pingyi_notes_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

void
pingyi_notes_set_sink (pingyi_notes_t *self, pingyi_notes_sink_fn *sink, void *arg)
{
    self->sink = sink ? sink : warn_sink;
    self->arg = sink ? arg : NULL;
}

const char *
pingyi_notes_thousands (char *buf, size_t size, uint64_t n)
{
    char digits[24];
    int len = snprintf (digits, sizeof digits, "%llu", (unsigned long long) n);
    size_t o = 0;
    for (int i = 0; i < len && o + 1 < size; i++) {
        if (i && (len - i) % 3 == 0 && o + 2 < size)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    if (size)
        buf[o < size ? o : size - 1] = '\0';
    return buf;
}

/*  Close kind's window if it is over at now_ms, summing up what it held.  */
static void
close_if_over (pingyi_notes_t *self, int kind, int64_t now_ms)
{
    window_t *w = &self->w[kind];
    if (!w->open || now_ms < w->end_ms)
        return;
    if (w->held) {
        char n[32], line[160];
        snprintf (line, sizeof line, "%s more %s like this in the last minute (counted in stats)",
                  pingyi_notes_thousands (n, sizeof n, w->held), kind_names[kind]);
        self->sink (line, self->arg);
    }
    w->open = false;
    w->written = 0;
    w->held = 0;
}

bool
pingyi_notes_add (pingyi_notes_t *self, pingyi_note_kind_t kind, int64_t now_ms, const char *fmt, ...)
{
    window_t *w = &self->w[kind];
    close_if_over (self, (int) kind, now_ms);
    if (!w->open) {
        w->open = true;
        w->end_ms = now_ms + PINGYI_NOTES_WINDOW_MS;
    }
    if (w->written >= PINGYI_NOTES_BURST) {
        w->held++;
        w->suppressed++;
        return false;
    }
    w->written++;
    char line[640];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (line, sizeof line, fmt, ap);
    va_end (ap);
    self->sink (line, self->arg);
    return true;
}

void
pingyi_notes_flush (pingyi_notes_t *self, int64_t now_ms)
{
    for (int k = 0; k < PINGYI_NOTE_KINDS_; k++)
        close_if_over (self, k, now_ms);
}

uint64_t
pingyi_notes_suppressed (const pingyi_notes_t *self, pingyi_note_kind_t kind)
{
    return self->w[kind].suppressed;
}
