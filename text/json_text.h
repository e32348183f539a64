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

/*  Write s as a JSON string (quotes, backslashes and control characters
    escaped; UTF-8 passed through as is).  */
void pingyi_json_write_string (FILE *out, const char *s);

#endif
