/*  json_text.h — the two small JSON helpers every reader and writer of
    pingyi's JSON files needs, kept in one place so errors read the same
    everywhere ("must be a string, not an integer") and every writer escapes
    the same way.  */
#ifndef PINGYI_JSON_TEXT_H
#define PINGYI_JSON_TEXT_H

#include <jansson.h>
#include <stdio.h>

/*  "an object", "an array", "a string", "an integer", "a real number",
    "a boolean", "null": the type of v, for error messages.  */
const char *pingyi_json_type (const json_t *v);

/*  Write len bytes of s as a JSON string: quotes and backslashes escaped,
    control bytes (0x00..0x1f, 0x7f) as \u00XX, valid UTF-8 passed through
    as is, and each byte that does not start a valid UTF-8 character
    (pingyi_utf8_char) replaced by \ufffd, so text from outside can never
    break the document it is written into.  */
void pingyi_json_write_text (FILE *out, const char *s, size_t len);

/*  pingyi_json_write_text of a NUL-terminated s.  */
void pingyi_json_write_string (FILE *out, const char *s);

#endif
