/*  test_mp.c — the strict msgpack cursor on hand-written bytes.

    Every input here is written byte by byte, so the tests prove what the
    reader accepts and refuses independently of msgpack-c's packer.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "mp.h"

#define INIT(r, ...)                                                                                         \
    static const uint8_t r##_bytes[] = {__VA_ARGS__};                                                        \
    pingyi_mp_t r;                                                                                           \
    pingyi_mp_init (&r, r##_bytes, sizeof r##_bytes)

static void
test_array_then_str_then_end (void **state)
{
    INIT (r, 0x92, 0x01, 0xa1, 'x');
    uint32_t n;
    uint64_t v;
    const char *s;
    uint32_t len;
    assert_int_equal (pingyi_mp_left (&r), 4);
    assert_int_equal (pingyi_mp_array (&r, &n, 2), 0);
    assert_int_equal (n, 2);
    assert_int_equal (pingyi_mp_uint (&r, &v, 10), 0);
    assert_int_equal (v, 1);
    assert_int_equal (pingyi_mp_str (&r, &s, &len, 1, 1), 0);
    assert_int_equal (len, 1);
    assert_ptr_equal (s, (const char *) r_bytes + 3); /* points into the input */
    assert_int_equal (pingyi_mp_left (&r), 0);
    assert_int_equal (pingyi_mp_end (&r), 0);
    assert_null (r.err);
}

static void
test_trailing_bytes (void **state)
{
    INIT (r, 0x01, 0x02);
    uint64_t v;
    assert_int_equal (pingyi_mp_uint (&r, &v, 10), 0);
    assert_int_equal (pingyi_mp_end (&r), -1);
    assert_string_equal (r.err, "trailing bytes after message");
}

static void
test_empty_input (void **state)
{
    pingyi_mp_t r;
    uint32_t n;
    pingyi_mp_init (&r, NULL, 0);
    assert_int_equal (pingyi_mp_left (&r), 0);
    assert_int_equal (pingyi_mp_end (&r), 0);
    assert_int_equal (pingyi_mp_array (&r, &n, 10), -1);
    assert_string_equal (r.err, "truncated");
}

static void
test_array_forms (void **state)
{
    uint32_t n;
    {
        INIT (r, 0x9f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        assert_int_equal (pingyi_mp_array (&r, &n, 15), 0);
        assert_int_equal (n, 15);
    }
    {
        INIT (r, 0xdc, 0x00, 0x02, 0x01, 0x02);
        assert_int_equal (pingyi_mp_array (&r, &n, 2), 0);
        assert_int_equal (n, 2);
        assert_int_equal (pingyi_mp_left (&r), 2);
    }
    {
        INIT (r, 0xdd, 0x00, 0x00, 0x00, 0x01, 0xc0);
        assert_int_equal (pingyi_mp_array (&r, &n, 1), 0);
        assert_int_equal (n, 1);
    }
    {
        INIT (r, 0x93, 0x01, 0x02, 0x03);
        assert_int_equal (pingyi_mp_array (&r, &n, 2), -1);
        assert_string_equal (r.err, "array too long");
    }
    {
        /* Declares 4 billion items with 3 bytes behind it: refused on the
           count of bytes left, nothing allocated.  */
        INIT (r, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02, 0x03);
        assert_int_equal (pingyi_mp_array (&r, &n, UINT32_MAX), -1);
        assert_string_equal (r.err, "truncated");
    }
    {
        INIT (r, 0xdc, 0xff, 0xff);
        assert_int_equal (pingyi_mp_array (&r, &n, UINT32_MAX), -1);
        assert_string_equal (r.err, "truncated");
    }
    {
        INIT (r, 0xdc, 0x00); /* the 16-bit length itself is cut */
        assert_int_equal (pingyi_mp_array (&r, &n, UINT32_MAX), -1);
        assert_string_equal (r.err, "truncated");
    }
    {
        INIT (r, 0x81, 0x01, 0x02);
        assert_int_equal (pingyi_mp_array (&r, &n, 10), -1);
        assert_string_equal (r.err, "expected array, got map");
    }
}

static void
test_map_forms (void **state)
{
    uint32_t n;
    {
        INIT (r, 0x81, 0x01, 0x02);
        assert_int_equal (pingyi_mp_map (&r, &n, 1), 0);
        assert_int_equal (n, 1);
    }
    {
        INIT (r, 0xde, 0x00, 0x01, 0x01, 0x02);
        assert_int_equal (pingyi_mp_map (&r, &n, 1), 0);
        assert_int_equal (n, 1);
    }
    {
        INIT (r, 0x81, 0x01); /* one pair needs two bytes at least */
        assert_int_equal (pingyi_mp_map (&r, &n, 1), -1);
        assert_string_equal (r.err, "truncated");
    }
    {
        INIT (r, 0xdf, 0xff, 0xff, 0xff, 0xff, 0x01);
        assert_int_equal (pingyi_mp_map (&r, &n, UINT32_MAX), -1);
        assert_string_equal (r.err, "truncated");
    }
    {
        INIT (r, 0x82, 1, 2, 3, 4);
        assert_int_equal (pingyi_mp_map (&r, &n, 1), -1);
        assert_string_equal (r.err, "map too long");
    }
    {
        INIT (r, 0x91, 0x01);
        assert_int_equal (pingyi_mp_map (&r, &n, 1), -1);
        assert_string_equal (r.err, "expected map, got array");
    }
}

static void
test_uint (void **state)
{
    uint64_t v;
    INIT (r, 0x00, 0x7f, 0xcc, 0xff, 0xcd, 0x01, 0x00, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xcf, 0xff, 0xff, 0xff,
          0xff, 0xff, 0xff, 0xff, 0xff, 0xd0, 0x05, 0xd3, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00);
    static const uint64_t want[] = {0, 127, 255, 256, 0xdeadbeef, UINT64_MAX, 5, 256};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal (pingyi_mp_uint (&r, &v, UINT64_MAX), 0);
        assert_true (v == want[i]);
    }
    assert_int_equal (pingyi_mp_end (&r), 0);

    {
        INIT (q, 0xff); /* -1 */
        assert_int_equal (pingyi_mp_uint (&q, &v, 10), -1);
        assert_string_equal (q.err, "negative where uint expected");
    }
    {
        INIT (q, 0xd1, 0xff, 0x00); /* int16 -256 */
        assert_int_equal (pingyi_mp_uint (&q, &v, UINT64_MAX), -1);
        assert_string_equal (q.err, "negative where uint expected");
    }
    {
        INIT (q, 0x0b);
        assert_int_equal (pingyi_mp_uint (&q, &v, 10), -1);
        assert_string_equal (q.err, "integer out of range");
    }
    {
        INIT (q, 0x0a);
        assert_int_equal (pingyi_mp_uint (&q, &v, 10), 0);
        assert_int_equal (v, 10);
    }
    {
        INIT (q, 0xcd, 0x01);
        assert_int_equal (pingyi_mp_uint (&q, &v, UINT64_MAX), -1);
        assert_string_equal (q.err, "truncated");
    }
    {
        INIT (q, 0xcf, 0, 0, 0, 0, 0, 0, 0);
        assert_int_equal (pingyi_mp_uint (&q, &v, UINT64_MAX), -1);
        assert_string_equal (q.err, "truncated");
    }
    {
        INIT (q, 0xa1, 'x');
        assert_int_equal (pingyi_mp_uint (&q, &v, 10), -1);
        assert_string_equal (q.err, "expected uint, got str");
    }
    {
        INIT (q, 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0);
        assert_int_equal (pingyi_mp_uint (&q, &v, 10), -1);
        assert_string_equal (q.err, "expected uint, got float");
    }
}

static void
test_int (void **state)
{
    int64_t v;
    INIT (r, 0xe0, 0xff, 0x05, 0xd0, 0x80, 0xd1, 0x80, 0x00, 0xd2, 0x80, 0x00, 0x00, 0x00, 0xd3, 0x80, 0x00,
          0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xcc,
          0xc8);
    static const int64_t want[] = {-32, -1, 5, -128, -32768, INT32_MIN, INT64_MIN, INT64_MAX, 200};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal (pingyi_mp_int (&r, &v, INT64_MIN, INT64_MAX), 0);
        assert_true (v == want[i]);
    }
    assert_int_equal (pingyi_mp_end (&r), 0);
    {
        INIT (q, 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0); /* 2^63: no int64 */
        assert_int_equal (pingyi_mp_int (&q, &v, INT64_MIN, INT64_MAX), -1);
        assert_string_equal (q.err, "integer out of range");
    }
    {
        INIT (q, 0xfe); /* -2 below a -1 floor */
        assert_int_equal (pingyi_mp_int (&q, &v, -1, 255), -1);
        assert_string_equal (q.err, "integer out of range");
    }
    {
        INIT (q, 0xcd, 0x01, 0x00); /* 256 above 255 */
        assert_int_equal (pingyi_mp_int (&q, &v, -1, 255), -1);
        assert_string_equal (q.err, "integer out of range");
    }
    {
        INIT (q, 0xff, 0xcc, 0xff);
        assert_int_equal (pingyi_mp_int (&q, &v, -1, 255), 0);
        assert_int_equal (v, -1);
        assert_int_equal (pingyi_mp_int (&q, &v, -1, 255), 0);
        assert_int_equal (v, 255);
    }
    {
        INIT (q, 0xc2);
        assert_int_equal (pingyi_mp_int (&q, &v, -1, 1), -1);
        assert_string_equal (q.err, "expected int, got bool");
    }
    {
        INIT (q, 0xd2, 0x00, 0x00);
        assert_int_equal (pingyi_mp_int (&q, &v, INT64_MIN, INT64_MAX), -1);
        assert_string_equal (q.err, "truncated");
    }
}

static void
test_bool_and_nil (void **state)
{
    bool b;
    INIT (r, 0xc3, 0xc2, 0xc0, 0xc0);
    assert_int_equal (pingyi_mp_bool (&r, &b), 0);
    assert_true (b);
    assert_int_equal (pingyi_mp_bool (&r, &b), 0);
    assert_false (b);
    assert_true (pingyi_mp_peek_nil (&r));
    assert_int_equal (pingyi_mp_bool (&r, &b), -1);
    assert_string_equal (r.err, "expected bool, got nil");
    assert_false (pingyi_mp_peek_nil (&r)); /* poisoned */

    INIT (q, 0xc0, 0x01);
    assert_int_equal (pingyi_mp_nil (&q), 0);
    assert_false (pingyi_mp_peek_nil (&q));
    assert_int_equal (pingyi_mp_nil (&q), -1);
    assert_string_equal (q.err, "expected nil, got uint");

    INIT (e, 0xc3);
    assert_int_equal (pingyi_mp_bool (&e, &b), 0);
    assert_int_equal (pingyi_mp_bool (&e, &b), -1);
    assert_string_equal (e.err, "truncated");
}

static void
test_double (void **state)
{
    double d;
    INIT (r, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xca, 0x3f, 0xc0, 0x00, 0x00, 0xff, 0x2a);
    assert_int_equal (pingyi_mp_double (&r, &d), 0);
    assert_true (d == 1.5);
    assert_int_equal (pingyi_mp_double (&r, &d), 0);
    assert_true (d == 1.5);
    assert_int_equal (pingyi_mp_double (&r, &d), 0);
    assert_true (d == -1.0);
    assert_int_equal (pingyi_mp_double (&r, &d), 0);
    assert_true (d == 42.0);
    {
        INIT (q, 0xa1, 'x');
        assert_int_equal (pingyi_mp_double (&q, &d), -1);
        assert_string_equal (q.err, "expected number, got str");
    }
    {
        INIT (q, 0xcb, 0x3f, 0xf8, 0);
        assert_int_equal (pingyi_mp_double (&q, &d), -1);
        assert_string_equal (q.err, "truncated");
    }
}

static void
test_str_forms (void **state)
{
    const char *s;
    uint32_t len;
    INIT (r, 0xa3, 'a', 'b', 'c', 0xd9, 0x02, 'd', 'e', 0xda, 0x00, 0x01, 'f', 0xdb, 0x00, 0x00, 0x00, 0x01,
          'g', 0xa0);
    static const char *want[] = {"abc", "de", "f", "g", ""};
    for (int i = 0; i < 5; i++) {
        assert_int_equal (pingyi_mp_str (&r, &s, &len, 0, 10), 0);
        assert_int_equal (len, strlen (want[i]));
        assert_memory_equal (s, want[i], len);
    }
    assert_int_equal (pingyi_mp_end (&r), 0);
    {
        INIT (q, 0xa3, 'a', 'b', 'c');
        assert_int_equal (pingyi_mp_str (&q, &s, &len, 0, 2), -1);
        assert_string_equal (q.err, "str too long");
    }
    {
        INIT (q, 0xa0);
        assert_int_equal (pingyi_mp_str (&q, &s, &len, 1, 2), -1);
        assert_string_equal (q.err, "str too short");
    }
    {
        INIT (q, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a');
        assert_int_equal (pingyi_mp_str (&q, &s, &len, 0, UINT32_MAX), -1);
        assert_string_equal (q.err, "truncated");
    }
    {
        INIT (q, 0xa5, 'a', 'b');
        assert_int_equal (pingyi_mp_str (&q, &s, &len, 0, 10), -1);
        assert_string_equal (q.err, "truncated");
    }
    {
        INIT (q, 0xd9);
        assert_int_equal (pingyi_mp_str (&q, &s, &len, 0, 10), -1);
        assert_string_equal (q.err, "truncated");
    }
    {
        INIT (q, 0xc4, 0x01, 'a');
        assert_int_equal (pingyi_mp_str (&q, &s, &len, 0, 10), -1);
        assert_string_equal (q.err, "expected str, got bin");
    }
}

static void
test_bin_forms (void **state)
{
    const uint8_t *b;
    uint32_t len;
    INIT (r, 0xc4, 0x02, 1, 2, 0xc5, 0x00, 0x01, 3, 0xc6, 0x00, 0x00, 0x00, 0x01, 4, 0xc4, 0x00);
    assert_int_equal (pingyi_mp_bin (&r, &b, &len, 0, 2), 0);
    assert_int_equal (len, 2);
    assert_int_equal (b[0], 1);
    assert_int_equal (b[1], 2);
    assert_int_equal (pingyi_mp_bin (&r, &b, &len, 1, 1), 0);
    assert_int_equal (b[0], 3);
    assert_int_equal (pingyi_mp_bin (&r, &b, &len, 1, 1), 0);
    assert_int_equal (b[0], 4);
    assert_int_equal (pingyi_mp_bin (&r, &b, &len, 0, 0), 0);
    assert_int_equal (len, 0);
    assert_int_equal (pingyi_mp_end (&r), 0);
    {
        INIT (q, 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00);
        assert_int_equal (pingyi_mp_bin (&q, &b, &len, 0, UINT32_MAX), -1);
        assert_string_equal (q.err, "truncated");
    }
    {
        INIT (q, 0xc5, 0xff);
        assert_int_equal (pingyi_mp_bin (&q, &b, &len, 0, UINT32_MAX), -1);
        assert_string_equal (q.err, "truncated");
    }
    {
        INIT (q, 0xc4, 0x03, 1, 2, 3);
        assert_int_equal (pingyi_mp_bin (&q, &b, &len, 0, 2), -1);
        assert_string_equal (q.err, "bin too long");
    }
    {
        INIT (q, 0xc4, 0x01, 1);
        assert_int_equal (pingyi_mp_bin (&q, &b, &len, 2, 4), -1);
        assert_string_equal (q.err, "bin too short");
    }
    {
        INIT (q, 0xa1, 'x');
        assert_int_equal (pingyi_mp_bin (&q, &b, &len, 0, 4), -1);
        assert_string_equal (q.err, "expected bin, got str");
    }
    {
        INIT (q, 0xc4, 0x02, 7, 8);
        assert_int_equal (pingyi_mp_bin_fixed (&q, &b, 2), 0);
        assert_int_equal (b[1], 8);
    }
    {
        INIT (q, 0xc4, 0x01, 7);
        assert_int_equal (pingyi_mp_bin_fixed (&q, &b, 2), -1);
        assert_string_equal (q.err, "bin too short");
    }
    {
        INIT (q, 0xc4, 0x03, 7, 8, 9);
        assert_int_equal (pingyi_mp_bin_fixed (&q, &b, 2), -1);
        assert_string_equal (q.err, "bin too long");
    }
    {
        INIT (q, 0xc4, 0x02, 7);
        assert_int_equal (pingyi_mp_bin_fixed (&q, &b, 2), -1);
        assert_string_equal (q.err, "truncated");
    }
}

static void
test_wrong_type_reasons (void **state)
{
    uint32_t n;
    uint64_t v;
    const char *s;
    const uint8_t *b;
    uint32_t len;
    struct {
        uint8_t byte;
        const char *got;
    } cases[] = {
        {0x05, "uint"},  {0xcc, "uint"},  {0xe5, "int"},   {0xd0, "int"}, {0x80, "map"}, {0xde, "map"},
        {0x90, "array"}, {0xdc, "array"}, {0xa0, "str"},   {0xd9, "str"}, {0xc4, "bin"}, {0xc0, "nil"},
        {0xc2, "bool"},  {0xca, "float"}, {0xcb, "float"}, {0xd4, "ext"}, {0xc7, "ext"}, {0xc1, "invalid"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char want[64];
        pingyi_mp_t r;
        if (strcmp (cases[i].got, "bin")) {
            pingyi_mp_init (&r, &cases[i].byte, 1);
            assert_int_equal (pingyi_mp_bin (&r, &b, &len, 0, 10), -1);
            snprintf (want, sizeof want, "expected bin, got %s", cases[i].got);
            assert_string_equal (r.err, want);
        }
        if (strcmp (cases[i].got, "array")) {
            pingyi_mp_init (&r, &cases[i].byte, 1);
            assert_int_equal (pingyi_mp_array (&r, &n, 10), -1);
            snprintf (want, sizeof want, "expected array, got %s", cases[i].got);
            assert_string_equal (r.err, want);
        }
        if (strcmp (cases[i].got, "str")) {
            pingyi_mp_init (&r, &cases[i].byte, 1);
            assert_int_equal (pingyi_mp_str (&r, &s, &len, 0, 10), -1);
            snprintf (want, sizeof want, "expected str, got %s", cases[i].got);
            assert_string_equal (r.err, want);
        }
        if (strcmp (cases[i].got, "uint") && strcmp (cases[i].got, "int")) {
            pingyi_mp_init (&r, &cases[i].byte, 1);
            assert_int_equal (pingyi_mp_uint (&r, &v, 10), -1);
            snprintf (want, sizeof want, "expected uint, got %s", cases[i].got);
            assert_string_equal (r.err, want);
        }
    }
}

static void
test_poisoned_after_failure (void **state)
{
    INIT (r, 0xa1, 'x', 0x01, 0x02);
    uint64_t v;
    assert_int_equal (pingyi_mp_uint (&r, &v, 10), -1);
    const char *first = r.err;
    assert_int_equal (pingyi_mp_left (&r), 0);
    assert_int_equal (pingyi_mp_uint (&r, &v, 10), -1);
    assert_int_equal (pingyi_mp_skip (&r), -1);
    assert_int_equal (pingyi_mp_end (&r), -1);
    assert_ptr_equal (r.err, first); /* the first reason is kept */
    assert_string_equal (r.err, "expected uint, got str");
}

static void
test_skip_every_type (void **state)
{
    INIT (r, 0x9d,                                                    /* array of 13 */
          0x05, 0xe0, 0xcd, 0x01, 0x00, 0xd2, 0xff, 0xff, 0xff, 0xff, /* ints */
          0xc0, 0xc3,                                                 /* nil, true */
          0xca, 0x3f, 0xc0, 0x00, 0x00,                               /* float32 */
          0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0,                         /* float64 */
          0xa2, 'h', 'i', 0xc4, 0x01, 0x00,                           /* str, bin */
          0x82, 0x01, 0x91, 0xc0, 0xa1, 'k', 0x80,                    /* {1: [nil], "k": {}} */
          0x90,                                                       /* [] */
          0xda, 0x00, 0x01, 'z');                                     /* str16 */
    assert_int_equal (pingyi_mp_skip (&r), 0);
    assert_int_equal (pingyi_mp_end (&r), 0);
    {
        INIT (q, 0xd4, 0x01, 0x00);
        assert_int_equal (pingyi_mp_skip (&q), -1);
        assert_string_equal (q.err, "unsupported type (ext)");
    }
    {
        INIT (q, 0xc1);
        assert_int_equal (pingyi_mp_skip (&q), -1);
        assert_string_equal (q.err, "invalid type byte 0xc1");
    }
    {
        INIT (q, 0x92, 0x01);
        assert_int_equal (pingyi_mp_skip (&q), -1);
        assert_string_equal (q.err, "truncated");
    }
    {
        INIT (q, 0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01);
        assert_int_equal (pingyi_mp_skip (&q), -1);
        assert_string_equal (q.err, "truncated");
    }
}

/*  16 nested containers pass; the 17th is refused before it is entered.  */
static void
test_skip_depth_limit (void **state)
{
    uint8_t buf[64];
    for (int depth = 1; depth <= 20; depth++) {
        for (int i = 0; i < depth - 1; i++)
            buf[i] = 0x91;
        buf[depth - 1] = 0x91;
        buf[depth] = 0x07; /* a scalar at the bottom */
        pingyi_mp_t r;
        pingyi_mp_init (&r, buf, (size_t) depth + 1);
        int rc = pingyi_mp_skip (&r);
        if (depth <= 16) {
            assert_int_equal (rc, 0);
            assert_int_equal (pingyi_mp_end (&r), 0);
        }
        else {
            assert_int_equal (rc, -1);
            assert_string_equal (r.err, "nested too deep");
        }
    }
    /* Maps count too.  */
    uint8_t maps[40];
    for (int i = 0; i < 17; i++) {
        maps[2 * i] = 0x81;
        maps[2 * i + 1] = 0x01;
    }
    maps[34] = 0x01;
    pingyi_mp_t r;
    pingyi_mp_init (&r, maps, 35);
    assert_int_equal (pingyi_mp_skip (&r), -1);
    assert_string_equal (r.err, "nested too deep");
    pingyi_mp_init (&r, maps + 2, 33); /* 16 maps */
    assert_int_equal (pingyi_mp_skip (&r), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_array_then_str_then_end),
        cmocka_unit_test (test_trailing_bytes),
        cmocka_unit_test (test_empty_input),
        cmocka_unit_test (test_array_forms),
        cmocka_unit_test (test_map_forms),
        cmocka_unit_test (test_uint),
        cmocka_unit_test (test_int),
        cmocka_unit_test (test_bool_and_nil),
        cmocka_unit_test (test_double),
        cmocka_unit_test (test_str_forms),
        cmocka_unit_test (test_bin_forms),
        cmocka_unit_test (test_wrong_type_reasons),
        cmocka_unit_test (test_poisoned_after_failure),
        cmocka_unit_test (test_skip_every_type),
        cmocka_unit_test (test_skip_depth_limit),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
