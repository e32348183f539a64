/*  table.h — terminal tables that line up Chinese text.

    A CJK character takes two terminal columns, an ASCII one takes one, so
    padding by bytes or by code points misaligns every table with Chinese in
    it.  Widths here follow East Asian Width: Wide and Fullwidth code points
    count 2, combining marks 0, everything else 1.  */
#ifndef PINGYI_TABLE_H
#define PINGYI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*  Display width of a UTF-8 string (invalid bytes count 1 each).  */
size_t pingyi_text_width (const char *s);
/*  Display width of one code point.  */
int pingyi_codepoint_width (unsigned cp);

/*  Print s padded with spaces to width columns (right-aligned if right);
    text wider than width is cut at a character boundary and ends in "…".  */
void pingyi_text_pad (FILE *out, const char *s, size_t width, bool right);

/*  Where pingyi_text_cut leaves text out.  */
typedef enum {
    PINGYI_CUT_END,    /* "区委党委…": the head kept */
    PINGYI_CUT_MIDDLE, /* "区委…副书记": head and tail kept, half the columns each (the head the odd one; what
                          the head cannot use goes to the tail) */
} pingyi_cut_t;

/*  s in at most width columns, into out (cap bytes, NUL-terminated): s
    whole when it fits, else whole characters with one "…" (one column)
    where the cut is, never a UTF-8 character cut in two (an invalid byte
    is one character of one column, as pingyi_text_width counts it).  With
    width 0 the result is empty; a character wider than what is left is left
    out.  Returns the display width of out.  cap of strlen (s) + 4 always
    holds the result.  */
size_t pingyi_text_cut (char *out, size_t cap, const char *s, size_t width, pingyi_cut_t where);

#endif
