/*  test_store_bytes.c — proto/bytes.h, the one byte-order codec the shard,
    the outbox, the history and the count block use: each width and order
    writes the exact bytes of a known value, reads them back, and does not
    touch a byte past its width; unaligned pointers are fine.  */
#include "bytes.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/*  One known value per width, with its bytes in each order.  */
typedef struct {
    unsigned width;
    uint64_t value;
    uint8_t le[8], be[8];
} known_t;

static const known_t KNOWN[] = {
    {2, 0x0102, {0x02, 0x01}, {0x01, 0x02}},
    {4, 0x01020304u, {0x04, 0x03, 0x02, 0x01}, {0x01, 0x02, 0x03, 0x04}},
    {8, 0x0102030405060708ull, {8, 7, 6, 5, 4, 3, 2, 1}, {1, 2, 3, 4, 5, 6, 7, 8}},
};

/*  put the value at an odd offset of a buffer of 0xee, in the order asked  */
static void
put (uint8_t *p, unsigned width, uint64_t v, bool big)
{
    if (width == 2)
        big ? pingyi_put_be16 (p, (uint16_t) v) : pingyi_put_le16 (p, (uint16_t) v);
    else if (width == 4)
        big ? pingyi_put_be32 (p, (uint32_t) v) : pingyi_put_le32 (p, (uint32_t) v);
    else
        big ? pingyi_put_be64 (p, v) : pingyi_put_le64 (p, v);
}

static uint64_t
get (const uint8_t *p, unsigned width, bool big)
{
    if (width == 2)
        return big ? pingyi_get_be16 (p) : pingyi_get_le16 (p);
    if (width == 4)
        return big ? pingyi_get_be32 (p) : pingyi_get_le32 (p);
    return big ? pingyi_get_be64 (p) : pingyi_get_le64 (p);
}

static void
test_known_values_exact_bytes (void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof KNOWN / sizeof *KNOWN; i++)
        for (int big = 0; big <= 1; big++) {
            const known_t *k = &KNOWN[i];
            uint8_t b[10];
            memset (b, 0xee, sizeof b);
            put (b + 1, k->width, k->value, big);
            assert_memory_equal (b + 1, big ? k->be : k->le, k->width);
            assert_int_equal (b[0], 0xee);            /* nothing before */
            assert_int_equal (b[1 + k->width], 0xee); /* nothing past its width */
            assert_true (get (b + 1, k->width, big) == k->value);
        }
}

/*  The extremes: all ones and the top bit alone (no sign extension, no
    truncation in a shift).  */
static void
test_extremes_round_trip (void **state)
{
    (void) state;
    uint8_t b[8];
    const uint64_t v64[] = {0, 1, UINT64_MAX, 1ull << 63, 0x80ull, 0xff00ff00ff00ff00ull};
    for (size_t i = 0; i < sizeof v64 / sizeof *v64; i++) {
        pingyi_put_le64 (b, v64[i]);
        assert_true (pingyi_get_le64 (b) == v64[i]);
        pingyi_put_be64 (b, v64[i]);
        assert_true (pingyi_get_be64 (b) == v64[i]);
        uint32_t v32 = (uint32_t) (v64[i] >> 32 | v64[i]);
        pingyi_put_le32 (b, v32);
        assert_true (pingyi_get_le32 (b) == v32);
        pingyi_put_be32 (b, v32);
        assert_true (pingyi_get_be32 (b) == v32);
        uint16_t v16 = (uint16_t) v32;
        pingyi_put_le16 (b, v16);
        assert_true (pingyi_get_le16 (b) == v16);
        pingyi_put_be16 (b, v16);
        assert_true (pingyi_get_be16 (b) == v16);
    }
    pingyi_put_be32 (b, 0x80000000u);
    assert_memory_equal (b, ((uint8_t[]){0x80, 0, 0, 0}), 4);
    pingyi_put_le16 (b, 0xffff);
    assert_memory_equal (b, ((uint8_t[]){0xff, 0xff}), 2);
}

/*  A big-endian key sorts by memcmp in numeric order (what LMDB relies on).  */
static void
test_big_endian_sorts_by_memcmp (void **state)
{
    (void) state;
    const uint32_t v[] = {0, 1, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000u, UINT32_MAX};
    for (size_t i = 0; i + 1 < sizeof v / sizeof *v; i++) {
        uint8_t a[4], b[4];
        pingyi_put_be32 (a, v[i]);
        pingyi_put_be32 (b, v[i + 1]);
        assert_true (memcmp (a, b, 4) < 0);
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_known_values_exact_bytes),
        cmocka_unit_test (test_extremes_round_trip),
        cmocka_unit_test (test_big_endian_sorts_by_memcmp),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
