/*  mp.h — a strict, allocation-free msgpack reader.

    Why not msgpack_unpack: msgpack-c trusts declared sizes (an array header of
    5 bytes makes it allocate n*24 bytes before reading a single item), accepts
    trailing bytes, and reports a truncated frame as CONTINUE.  Every pingyi
    decoder reads through this cursor instead: each call checks the type byte
    exactly, checks each declared length against the bytes left, and leaves
    strings and bins pointing into the input buffer (keep the buffer alive).
    Writing uses msgpack-c's packer (msgpack_pack_*) on an msgpack_sbuffer.

    On failure a call returns -1 and sets r->err to a static reason such as
    "expected uint, got str"; the cursor is then poisoned (later calls fail).  */
#ifndef PINGYI_MP_H
#define PINGYI_MP_H

#include "common.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
    const char *err; /* NULL while all is well */
} pingyi_mp_t;

void pingyi_mp_init (pingyi_mp_t *r, const void *buf, size_t len);
/*  Bytes not yet read.  */
size_t pingyi_mp_left (const pingyi_mp_t *r);
/*  0 when the whole input was consumed, else -1 ("trailing bytes").  */
int pingyi_mp_end (pingyi_mp_t *r) PINGYI_WARN_UNUSED;

/*  Array header; *n is checked against the bytes left (each item needs at
    least one byte), and against max.  */
int pingyi_mp_array (pingyi_mp_t *r, uint32_t *n, uint32_t max) PINGYI_WARN_UNUSED;
int pingyi_mp_map (pingyi_mp_t *r, uint32_t *n, uint32_t max) PINGYI_WARN_UNUSED;
/*  Non-negative integer (positive fixint, uint8..64, or a non-negative int
    encoding) no greater than max.  */
int pingyi_mp_uint (pingyi_mp_t *r, uint64_t *v, uint64_t max) PINGYI_WARN_UNUSED;
int pingyi_mp_int (pingyi_mp_t *r, int64_t *v, int64_t min, int64_t max) PINGYI_WARN_UNUSED;
int pingyi_mp_bool (pingyi_mp_t *r, bool *v) PINGYI_WARN_UNUSED;
int pingyi_mp_nil (pingyi_mp_t *r) PINGYI_WARN_UNUSED;
bool pingyi_mp_peek_nil (const pingyi_mp_t *r);
/*  float 32/64 or any integer, as a double.  */
int pingyi_mp_double (pingyi_mp_t *r, double *v) PINGYI_WARN_UNUSED;
/*  str with min <= len <= max; s points into the buffer (not NUL-terminated).  */
int pingyi_mp_str (pingyi_mp_t *r, const char **s, uint32_t *len, uint32_t min,
                   uint32_t max) PINGYI_WARN_UNUSED;
/*  bin with min <= len <= max.  */
int pingyi_mp_bin (pingyi_mp_t *r, const uint8_t **b, uint32_t *len, uint32_t min,
                   uint32_t max) PINGYI_WARN_UNUSED;
/*  bin of exactly len bytes.  */
int pingyi_mp_bin_fixed (pingyi_mp_t *r, const uint8_t **b, uint32_t len) PINGYI_WARN_UNUSED;
/*  Skip one complete object of any type (depth-limited to 16).  */
int pingyi_mp_skip (pingyi_mp_t *r) PINGYI_WARN_UNUSED;

#endif
