/*  mp.c — strict msgpack cursor.  See mp.h for why this exists.  Every read
    checks the bytes left before it touches them; nothing is allocated.  */
#include "mp.h"

#include <string.h>

void
pingyi_mp_init (pingyi_mp_t *r, const void *buf, size_t len)
{
    /* NULL + 0 is undefined in C: an empty input gets a private empty buffer.  */
    static const uint8_t empty[1];
    r->p = buf && len ? buf : empty;
    r->end = r->p + (buf ? len : 0);
    r->err = NULL;
}

size_t
pingyi_mp_left (const pingyi_mp_t *r)
{
    return (size_t) (r->end - r->p);
}

static int
fail (pingyi_mp_t *r, const char *why)
{
    if (!r->err)
        r->err = why;
    r->p = r->end;
    return -1;
}

int
pingyi_mp_end (pingyi_mp_t *r)
{
    if (r->err)
        return -1;
    return r->p == r->end ? 0 : fail (r, "trailing bytes after message");
}

static uint64_t
be (const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/*  Read n big-endian bytes after the type byte.  */
static int
take (pingyi_mp_t *r, int n, uint64_t *v)
{
    if (pingyi_mp_left (r) < (size_t) n)
        return fail (r, "truncated");
    *v = be (r->p, n);
    r->p += n;
    return 0;
}

static const char *
type_name (uint8_t b)
{
    if (b <= 0x7f || (b >= 0xcc && b <= 0xcf))
        return "uint";
    if (b >= 0xe0 || (b >= 0xd0 && b <= 0xd3))
        return "int";
    if ((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf)
        return "map";
    if ((b >= 0x90 && b <= 0x9f) || b == 0xdc || b == 0xdd)
        return "array";
    if ((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb))
        return "str";
    if (b >= 0xc4 && b <= 0xc6)
        return "bin";
    if (b == 0xc0)
        return "nil";
    if (b == 0xc2 || b == 0xc3)
        return "bool";
    if (b == 0xca || b == 0xcb)
        return "float";
    if (b == 0xc1)
        return "invalid";
    return "ext";
}

/*  "expected WANT, got GOT" as a string literal.  The reason must outlive the
    call and readers run in several threads at once (broker, worker pools), so
    every pair is a literal in this table rather than text formatted into a
    shared buffer.  */
#define GOT_ROW(want)                                                                                        \
    {                                                                                                        \
        "expected " want ", got uint", "expected " want ", got int", "expected " want ", got map",           \
            "expected " want ", got array", "expected " want ", got str", "expected " want ", got bin",      \
            "expected " want ", got nil", "expected " want ", got bool", "expected " want ", got float",     \
            "expected " want ", got ext", "expected " want ", got invalid"                                   \
    }
static const char *const got_names[] = {"uint", "int",  "map",   "array", "str",    "bin",
                                        "nil",  "bool", "float", "ext",   "invalid"};
#define GOT_COUNT (sizeof got_names / sizeof got_names[0])
static const char *const want_names[] = {"uint", "int", "map",  "array", "str",
                                         "bin",  "nil", "bool", "number"};
static const char *const reasons[][GOT_COUNT] = {GOT_ROW ("uint"),  GOT_ROW ("int"),  GOT_ROW ("map"),
                                                 GOT_ROW ("array"), GOT_ROW ("str"),  GOT_ROW ("bin"),
                                                 GOT_ROW ("nil"),   GOT_ROW ("bool"), GOT_ROW ("number")};

static int
wrong_type (pingyi_mp_t *r, const char *want)
{
    if (r->err)
        return -1;
    if (r->p >= r->end)
        return fail (r, "truncated");
    const char *got = type_name (*r->p);
    for (size_t w = 0; w < sizeof want_names / sizeof want_names[0]; w++)
        if (!strcmp (want_names[w], want))
            for (size_t g = 0; g < GOT_COUNT; g++)
                if (!strcmp (got_names[g], got))
                    return fail (r, reasons[w][g]);
    return fail (r, "wrong type"); /* unreachable: both tables cover every name */
}

static int
container (pingyi_mp_t *r, uint32_t *n, uint32_t max, bool map)
{
    if (r->err)
        return -1;
    if (r->p >= r->end)
        return fail (r, "truncated");
    uint8_t b = *r->p;
    uint64_t v;
    uint8_t fix = map ? 0x80 : 0x90, w16 = map ? 0xde : 0xdc, w32 = map ? 0xdf : 0xdd;
    if ((b & 0xf0) == fix) {
        r->p++;
        v = b & 0x0f;
    }
    else if (b == w16) {
        r->p++;
        if (take (r, 2, &v))
            return -1;
    }
    else if (b == w32) {
        r->p++;
        if (take (r, 4, &v))
            return -1;
    }
    else
        return wrong_type (r, map ? "map" : "array");
    if (v > max)
        return fail (r, map ? "map too long" : "array too long");
    if (v * (map ? 2 : 1) > pingyi_mp_left (r))
        return fail (r, "truncated");
    *n = (uint32_t) v;
    return 0;
}

int
pingyi_mp_array (pingyi_mp_t *r, uint32_t *n, uint32_t max)
{
    return container (r, n, max, false);
}

int
pingyi_mp_map (pingyi_mp_t *r, uint32_t *n, uint32_t max)
{
    return container (r, n, max, true);
}

/*  Any integer encoding, as sign + magnitude.  */
static int
integer (pingyi_mp_t *r, bool *negative, uint64_t *mag, const char *want)
{
    if (r->err)
        return -1;
    if (r->p >= r->end)
        return fail (r, "truncated");
    uint8_t b = *r->p;
    uint64_t v;
    *negative = false;
    if (b <= 0x7f) {
        r->p++;
        *mag = b;
        return 0;
    }
    if (b >= 0xe0) {
        r->p++;
        *negative = true;
        *mag = (uint64_t) (-(int64_t) (int8_t) b);
        return 0;
    }
    if (b >= 0xcc && b <= 0xcf) {
        r->p++;
        if (take (r, 1 << (b - 0xcc), &v))
            return -1;
        *mag = v;
        return 0;
    }
    if (b >= 0xd0 && b <= 0xd3) {
        int n = 1 << (b - 0xd0);
        r->p++;
        if (take (r, n, &v))
            return -1;
        int64_t s;
        if (n == 1)
            s = (int8_t) v;
        else if (n == 2)
            s = (int16_t) v;
        else if (n == 4)
            s = (int32_t) v;
        else
            s = (int64_t) v;
        *negative = s < 0;
        *mag = s < 0 ? (uint64_t) 0 - (uint64_t) s : (uint64_t) s;
        return 0;
    }
    return wrong_type (r, want);
}

int
pingyi_mp_uint (pingyi_mp_t *r, uint64_t *v, uint64_t max)
{
    bool negative;
    uint64_t mag;
    if (integer (r, &negative, &mag, "uint"))
        return -1;
    if (negative)
        return fail (r, "negative where uint expected");
    if (mag > max)
        return fail (r, "integer out of range");
    *v = mag;
    return 0;
}

int
pingyi_mp_int (pingyi_mp_t *r, int64_t *v, int64_t min, int64_t max)
{
    bool negative;
    uint64_t mag;
    if (integer (r, &negative, &mag, "int"))
        return -1;
    if (!negative && mag > (uint64_t) INT64_MAX)
        return fail (r, "integer out of range");
    int64_t s = negative ? (int64_t) (0 - mag) : (int64_t) mag;
    if (s < min || s > max)
        return fail (r, "integer out of range");
    *v = s;
    return 0;
}

int
pingyi_mp_bool (pingyi_mp_t *r, bool *v)
{
    if (r->err)
        return -1;
    if (r->p < r->end && (*r->p == 0xc2 || *r->p == 0xc3)) {
        *v = *r->p++ == 0xc3;
        return 0;
    }
    return wrong_type (r, "bool");
}

bool
pingyi_mp_peek_nil (const pingyi_mp_t *r)
{
    return !r->err && r->p < r->end && *r->p == 0xc0;
}

int
pingyi_mp_nil (pingyi_mp_t *r)
{
    if (pingyi_mp_peek_nil (r)) {
        r->p++;
        return 0;
    }
    return wrong_type (r, "nil");
}

int
pingyi_mp_double (pingyi_mp_t *r, double *v)
{
    if (r->err)
        return -1;
    if (r->p < r->end && (*r->p == 0xca || *r->p == 0xcb)) {
        bool wide = *r->p++ == 0xcb;
        uint64_t bits;
        if (take (r, wide ? 8 : 4, &bits))
            return -1;
        if (wide)
            memcpy (v, &bits, 8);
        else {
            uint32_t b32 = (uint32_t) bits;
            float f;
            memcpy (&f, &b32, 4);
            *v = f;
        }
        return 0;
    }
    bool negative;
    uint64_t mag;
    if (integer (r, &negative, &mag, "number"))
        return -1;
    *v = negative ? -(double) mag : (double) mag;
    return 0;
}

static int
bytes (pingyi_mp_t *r, const uint8_t **out, uint32_t *len, uint32_t min, uint32_t max, bool str)
{
    if (r->err)
        return -1;
    if (r->p >= r->end)
        return fail (r, "truncated");
    uint8_t b = *r->p;
    uint64_t n;
    if (str && (b & 0xe0) == 0xa0) {
        r->p++;
        n = b & 0x1f;
    }
    else if (b == (str ? 0xd9 : 0xc4)) {
        r->p++;
        if (take (r, 1, &n))
            return -1;
    }
    else if (b == (str ? 0xda : 0xc5)) {
        r->p++;
        if (take (r, 2, &n))
            return -1;
    }
    else if (b == (str ? 0xdb : 0xc6)) {
        r->p++;
        if (take (r, 4, &n))
            return -1;
    }
    else
        return wrong_type (r, str ? "str" : "bin");
    /* Bounds first, as for arrays: a declared length above the bound is the
       sender's mistake whether or not the bytes follow.  */
    if (n < min)
        return fail (r, str ? "str too short" : "bin too short");
    if (n > max)
        return fail (r, str ? "str too long" : "bin too long");
    if (n > pingyi_mp_left (r))
        return fail (r, "truncated");
    *out = r->p;
    *len = (uint32_t) n;
    r->p += n;
    return 0;
}

int
pingyi_mp_str (pingyi_mp_t *r, const char **s, uint32_t *len, uint32_t min, uint32_t max)
{
    return bytes (r, (const uint8_t **) s, len, min, max, true);
}

int
pingyi_mp_bin (pingyi_mp_t *r, const uint8_t **b, uint32_t *len, uint32_t min, uint32_t max)
{
    return bytes (r, b, len, min, max, false);
}

int
pingyi_mp_bin_fixed (pingyi_mp_t *r, const uint8_t **b, uint32_t len)
{
    uint32_t got;
    if (bytes (r, b, &got, 0, UINT32_MAX, false))
        return -1;
    if (got != len)
        return fail (r, got < len ? "bin too short" : "bin too long");
    return 0;
}

/*  depth counts the containers already entered: at most 16 may be open, so a
    hostile frame cannot make the recursion deep.  */
#define SKIP_DEPTH_MAX 16

static int
skip (pingyi_mp_t *r, int depth)
{
    if (r->err)
        return -1;
    if (r->p >= r->end)
        return fail (r, "truncated");
    const char *t = type_name (*r->p);
    uint32_t n, len;
    const uint8_t *ignored;
    bool bv;
    uint64_t u;
    if (!strcmp (t, "uint") || !strcmp (t, "int")) {
        bool neg;
        return integer (r, &neg, &u, "int");
    }
    if (!strcmp (t, "nil"))
        return pingyi_mp_nil (r);
    if (!strcmp (t, "bool"))
        return pingyi_mp_bool (r, &bv);
    if (!strcmp (t, "float")) {
        double d;
        return pingyi_mp_double (r, &d);
    }
    if (!strcmp (t, "str"))
        return pingyi_mp_str (r, (const char **) &ignored, &len, 0, UINT32_MAX);
    if (!strcmp (t, "bin"))
        return pingyi_mp_bin (r, &ignored, &len, 0, UINT32_MAX);
    if (!strcmp (t, "array") || !strcmp (t, "map")) {
        if (depth >= SKIP_DEPTH_MAX)
            return fail (r, "nested too deep");
        bool map = t[0] == 'm';
        if (container (r, &n, UINT32_MAX, map))
            return -1;
        for (uint64_t i = 0; i < (uint64_t) n * (map ? 2 : 1); i++)
            if (skip (r, depth + 1))
                return -1;
        return 0;
    }
    if (!strcmp (t, "invalid"))
        return fail (r, "invalid type byte 0xc1");
    return fail (r, "unsupported type (ext)");
}

int
pingyi_mp_skip (pingyi_mp_t *r)
{
    return skip (r, 0);
}
