/*  quote.h — untrusted text shown to people, quoted one way everywhere.

    Text from a file or the network (an id, a key, a label, a request
    argument) is echoed in error lines and log lines so an operator sees
    what was wrong.  Shown raw, a hostile value could break the line, forge
    another one, drive the terminal or flood the log; every place that shows
    such text quotes it here, so the rule is written once:

      - a valid UTF-8 character is kept as it is (Chinese stays readable),
        except the C1 controls U+0080..U+009F, written as their two bytes
        "\xc2\xNN";
      - an ASCII control byte (0x00..0x1f, 0x7f) and every byte that does
        not start a valid UTF-8 character (pingyi_utf8_char: no overlongs,
        surrogates, code points past U+10FFFF or truncated sequences) is
        written "\xNN", two lowercase hex digits;
      - a double quote is written \" and a backslash \\;
      - at most max_shown bytes of the text are shown, a character whole or
        not at all (so a character that would end past max_shown is left
        out), and a text not shown whole is followed by "...";
      - the result is between double quotes (PINGYI_QUOTE_MARKED): "a\"b",
        "好好..." .

    E.g. pingyi_quote (q, sizeof q, "x\ny", 3, 48) gives "x\x0ay" with its
    quotes.  out never overflows: with cap at least
    PINGYI_QUOTE_SIZE (max_shown) every bound above holds exactly; with a
    smaller cap (at least PINGYI_QUOTE_CAP_MIN) the text is cut sooner, on a
    character boundary and with "..." all the same.  */
#ifndef PINGYI_QUOTE_H
#define PINGYI_QUOTE_H

#include <stddef.h>

/*  Bytes of untrusted text an error line shows, unless it says otherwise.  */
#define PINGYI_QUOTE_SHOWN 48
/*  The size of out that always holds max_shown bytes quoted: each byte can
    take 4 ("\xNN"), then two quotes, "..." and the NUL.  */
#define PINGYI_QUOTE_SIZE(max_shown) (4 * (size_t) (max_shown) + 6)
#define PINGYI_QUOTE_CAP_MIN 6

typedef enum {
    PINGYI_QUOTE_MARKED,      /* "text", "text..." */
    PINGYI_QUOTE_BARE,        /* text, text... (inside a text already marked off, e.g. "(张三)") */
    PINGYI_QUOTE_CUT_OUTSIDE, /* "text", "text"... (the definition's error lines) */
} pingyi_quote_style_t;

/*  Quote len bytes of s into out (cap bytes) as PINGYI_QUOTE_MARKED, by the
    rules above.  Returns out, so it can be an argument of printf.  */
const char *pingyi_quote (char *out, size_t cap, const char *s, size_t len, size_t max_shown);

/*  The same in the given style: only where the marks and the "..." go
    differ; the escaping and the cut are the same.  */
const char *pingyi_quote_as (char *out, size_t cap, const char *s, size_t len, size_t max_shown,
                             pingyi_quote_style_t style);

#endif
