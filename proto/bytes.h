/*  bytes.h — the one byte-order codec: unsigned integers to and from bytes,
    little- and big-endian, 16, 32 and 64 bits.

    Stored and sent values are little-endian; keys that must sort (LMDB
    keys, the count block's row key) are big-endian, so that memcmp order
    is numeric order.  Byte by byte, so the host's order and the pointer's
    alignment do not matter; compilers turn each into one load or store
    (and a bswap where needed).  The caller owns the buffer and its size.  */
#ifndef PINGYI_BYTES_H
#define PINGYI_BYTES_H

#include <stdint.h>

static inline uint16_t
pingyi_get_le16 (const uint8_t *p)
{
    return (uint16_t) (p[0] | p[1] << 8);
}

static inline uint32_t
pingyi_get_le32 (const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static inline uint64_t
pingyi_get_le64 (const uint8_t *p)
{
    return (uint64_t) pingyi_get_le32 (p) | (uint64_t) pingyi_get_le32 (p + 4) << 32;
}

static inline void
pingyi_put_le16 (uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
}

static inline void
pingyi_put_le32 (uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static inline void
pingyi_put_le64 (uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static inline uint16_t
pingyi_get_be16 (const uint8_t *p)
{
    return (uint16_t) (p[0] << 8 | p[1]);
}

static inline uint32_t
pingyi_get_be32 (const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | (uint32_t) p[3];
}

static inline uint64_t
pingyi_get_be64 (const uint8_t *p)
{
    return (uint64_t) pingyi_get_be32 (p) << 32 | (uint64_t) pingyi_get_be32 (p + 4);
}

static inline void
pingyi_put_be16 (uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t) (v >> 8);
    p[1] = (uint8_t) v;
}

static inline void
pingyi_put_be32 (uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (8 * (3 - i)));
}

static inline void
pingyi_put_be64 (uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (8 * (7 - i)));
}

#endif
