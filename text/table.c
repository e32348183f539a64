/*  table.c — display widths for aligned terminal tables (see table.h).  */
#include "table.h"

#include <stdlib.h>
#include <string.h>

int
pingyi_codepoint_width (unsigned cp)
{
    if (cp == 0)
        return 0;
    if ((cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x200B && cp <= 0x200F) || (cp >= 0xFE00 && cp <= 0xFE0F))
        return 0;
    if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0x303E) || (cp >= 0x3041 && cp <= 0x33FF) ||
        (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xA000 && cp <= 0xA4CF) ||
        (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFE30 && cp <= 0xFE4F) ||
        (cp >= 0xFF00 && cp <= 0xFF60) || (cp >= 0xFFE0 && cp <= 0xFFE6) ||
        (cp >= 0x1F300 && cp <= 0x1F64F) || (cp >= 0x1F900 && cp <= 0x1F9FF) ||
        (cp >= 0x20000 && cp <= 0x3FFFD))
        return 2;
    return 1;
}

/*  Decode one UTF-8 sequence at s; returns its length (1 for an invalid byte).  */
static size_t
decode (const unsigned char *s, unsigned *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t n = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0) {
        *cp = 0xFFFD;
        return 1;
    }
    unsigned v = s[0] & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = v << 6 | (s[i] & 0x3F);
    }
    *cp = v;
    return n;
}

size_t
pingyi_text_width (const char *s)
{
    size_t w = 0;
    const unsigned char *p = (const unsigned char *) s;
    while (*p) {
        unsigned cp;
        p += decode (p, &cp);
        w += (size_t) (cp == 0xFFFD ? 1 : pingyi_codepoint_width (cp));
    }
    return w;
}

void
pingyi_text_pad (FILE *out, const char *s, size_t width, bool right)
{
    size_t w = pingyi_text_width (s);
    if (w <= width) {
        if (right)
            fprintf (out, "%*s", (int) (width - w), "");
        fputs (s, out);
        if (!right)
            fprintf (out, "%*s", (int) (width - w), "");
        return;
    }
    /* Too wide: keep whole characters up to width-1 columns, then "…". */
    const unsigned char *p = (const unsigned char *) s;
    size_t used = 0;
    while (*p) {
        unsigned cp;
        size_t n = decode (p, &cp);
        int cw = cp == 0xFFFD ? 1 : pingyi_codepoint_width (cp);
        if (used + (size_t) cw + 1 > width)
            break;
        fwrite (p, 1, n, out);
        used += (size_t) cw;
        p += n;
    }
    fputs ("…", out);
    used++;
    fprintf (out, "%*s", (int) (width - used), "");
}

/*  The characters of s: byte offset and display width of each.  */
typedef struct {
    size_t at, len, width;
} ch_t;

size_t
pingyi_text_cut (char *out, size_t cap, const char *s, size_t width, pingyi_cut_t where)
{
    if (cap == 0)
        return 0;
    out[0] = '\0';
    size_t total = pingyi_text_width (s), slen = strlen (s);
    if (total <= width) {
        if (slen < cap) {
            memcpy (out, s, slen + 1);
            return total;
        }
        /* too long for out: cut it all the same (never happens with cap >= strlen + 4) */
    }
    if (width == 0)
        return 0;
    /* split into characters */
    size_t count = 0;
    for (const unsigned char *p = (const unsigned char *) s; *p; count++) {
        unsigned cp;
        p += decode (p, &cp);
    }
    ch_t stack[256], *chs = count <= 256 ? stack : malloc (count * sizeof *chs);
    if (!chs)
        return 0;
    size_t i = 0;
    for (const unsigned char *p = (const unsigned char *) s; *p; i++) {
        unsigned cp;
        size_t n = decode (p, &cp);
        chs[i] = (ch_t){.at = (size_t) (p - (const unsigned char *) s),
                        .len = n,
                        .width = (size_t) (cp == 0xFFFD ? 1 : pingyi_codepoint_width (cp))};
        p += n;
    }
    size_t budget = width - 1; /* the "…" takes one column */
    size_t head_budget = where == PINGYI_CUT_MIDDLE ? budget - budget / 2 : budget;
    size_t head = 0, head_w = 0; /* characters [0, head) */
    while (head < count && head_w + chs[head].width <= head_budget)
        head_w += chs[head++].width;
    size_t tail = count, tail_w = 0; /* characters [tail, count) */
    if (where == PINGYI_CUT_MIDDLE)
        while (tail > head && head_w + tail_w + chs[tail - 1].width <= budget)
            tail_w += chs[--tail].width;
    size_t o = 0, shown = 0;
    bool room = true;
    for (size_t k = 0; k < head && room; k++) {
        room = o + chs[k].len < cap;
        if (room) {
            memcpy (out + o, s + chs[k].at, chs[k].len);
            o += chs[k].len;
            shown += chs[k].width;
        }
    }
    if (room && o + 3 < cap) {
        memcpy (out + o, "\xE2\x80\xA6", 3); /* … */
        o += 3;
        shown += 1;
    }
    for (size_t k = tail; k < count && room; k++) {
        room = o + chs[k].len < cap;
        if (room) {
            memcpy (out + o, s + chs[k].at, chs[k].len);
            o += chs[k].len;
            shown += chs[k].width;
        }
    }
    out[o] = '\0';
    if (chs != stack)
        free (chs);
    return shown;
}
