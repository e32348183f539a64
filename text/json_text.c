/*  json_text.c — JSON type words and string escaping (json_text.h).  */
#include "json_text.h"
#include "common.h"

#include <stdint.h>
#include <string.h>

const char *
pingyi_json_type (const json_t *v)
{
    switch (json_typeof (v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a JSON value";
}

void
pingyi_json_write_text (FILE *out, const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *) s, *end = p + len;
    fputc ('"', out);
    while (p < end) {
        size_t n = pingyi_utf8_char (p, (size_t) (end - p));
        if (n == 0) {
            fputs ("\\ufffd", out);
            p++;
        }
        else if (n > 1) {
            fwrite (p, 1, n, out);
            p += n;
        }
        else {
            if (*p == '"' || *p == '\\')
                fprintf (out, "\\%c", *p);
            else if (*p < 0x20 || *p == 0x7f)
                fprintf (out, "\\u%04x", *p);
            else
                fputc (*p, out);
            p++;
        }
    }
    fputc ('"', out);
}

void
pingyi_json_write_string (FILE *out, const char *s)
{
    pingyi_json_write_text (out, s, strlen (s));
}
