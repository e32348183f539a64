/*  quote.c — untrusted text quoted for error and log lines (quote.h).

    One character at a time: its escaped form is worked out first, then it
    is shown only if it fits both bounds (max_shown bytes of the input, cap
    bytes of output with room kept for "...", the closing quote and the
    NUL), so the cut always falls between two characters and nothing ever
    writes past out.  */
#include "quote.h"
#include "common.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static size_t
hex_escape (char *out, uint8_t c)
{
    static const char digits[] = "0123456789abcdef";
    out[0] = '\\';
    out[1] = 'x';
    out[2] = digits[c >> 4];
    out[3] = digits[c & 0x0f];
    return 4;
}

/*  The form of the character at p (len bytes left) into esc (8 bytes at
    most); its length in bytes of input into *used.  Returns the length of
    the form.  */
static size_t
escape_char (char esc[8], const uint8_t *p, size_t len, size_t *used)
{
    size_t n = pingyi_utf8_char (p, len);
    if (n == 0) { /* not UTF-8: that byte alone */
        *used = 1;
        return hex_escape (esc, p[0]);
    }
    *used = n;
    if (n == 1 && (p[0] < 0x20 || p[0] == 0x7f))
        return hex_escape (esc, p[0]);
    if (n == 1 && (p[0] == '"' || p[0] == '\\')) {
        esc[0] = '\\';
        esc[1] = (char) p[0];
        return 2;
    }
    if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) { /* C1 control */
        hex_escape (esc, p[0]);
        return 4 + hex_escape (esc + 4, p[1]);
    }
    memcpy (esc, p, n);
    return n;
}

const char *
pingyi_quote_as (char *out, size_t cap, const char *s, size_t len, size_t max_shown,
                 pingyi_quote_style_t style)
{
    assert (out && cap >= PINGYI_QUOTE_CAP_MIN);
    const uint8_t *p = (const uint8_t *) s;
    bool marks = style != PINGYI_QUOTE_BARE;
    size_t tail = 3 + (marks ? 1 : 0) + 1; /* "...", the closing quote, NUL */
    size_t o = 0, i = 0;
    if (marks)
        out[o++] = '"';
    while (i < len) {
        char esc[8];
        size_t used, n = escape_char (esc, p + i, len - i, &used);
        if (i + used > max_shown || o + n + tail > cap)
            break;
        memcpy (out + o, esc, n);
        o += n;
        i += used;
    }
    bool cut = i < len;
    if (cut && style != PINGYI_QUOTE_CUT_OUTSIDE) {
        memcpy (out + o, "...", 3);
        o += 3;
    }
    if (marks)
        out[o++] = '"';
    if (cut && style == PINGYI_QUOTE_CUT_OUTSIDE) {
        memcpy (out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

const char *
pingyi_quote (char *out, size_t cap, const char *s, size_t len, size_t max_shown)
{
    return pingyi_quote_as (out, cap, s, len, max_shown, PINGYI_QUOTE_MARKED);
}
