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

#endif
