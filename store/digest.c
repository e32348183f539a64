/*  digest.c — the log digest (docs/worker.md, "The log digest"): an
    order-independent set hash of the accepted envelopes.  */
#define _GNU_SOURCE
#include "shard_impl.h"

#include <sodium.h>
#include <string.h>

/*  a += b, lane by lane (u16 little-endian, mod 2^16): the digest state of
    the union of two sets.  On a little-endian host the lanes are native
    u16s, added in a loop the compiler vectorises.  */
void
shard_state_sum (uint8_t a[STATE_LEN], const uint8_t b[STATE_LEN])
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint16_t x[STATE_LEN / 2], y[STATE_LEN / 2];
    memcpy (x, a, STATE_LEN);
    memcpy (y, b, STATE_LEN);
    for (size_t i = 0; i < STATE_LEN / 2; i++)
        x[i] = (uint16_t) (x[i] + y[i]);
    memcpy (a, x, STATE_LEN);
#else
    for (size_t i = 0; i < STATE_LEN; i += 2)
        pingyi_put_le16 (a + i, (uint16_t) (pingyi_get_le16 (a + i) + pingyi_get_le16 (b + i)));
#endif
}

/*  LtHash16 (docs/worker.md, "The log digest").  A sum of per-envelope
    vectors, so the digest of a set of envelopes does not depend on the
    order they were added in: a hash chain would record the order of
    voting.  Lanes add mod 2^16 (little-endian u16); a ChaCha20 keystream
    under the envelope's BLAKE2b-256 spreads each envelope over all 1024
    lanes.  */
void
pingyi_shard_digest_add (uint8_t state[PINGYI_SHARD_DIGEST_STATE], const uint8_t *env, size_t len)
{
    static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
    uint8_t h[32];
    uint8_t v[PINGYI_SHARD_DIGEST_STATE];
    crypto_generichash (h, sizeof h, env, len, NULL, 0);
    crypto_stream_chacha20_ietf (v, sizeof v, nonce, h);
    shard_state_sum (state, v);
}

void
pingyi_shard_digest (uint8_t out[PINGYI_SHARD_DIGEST_LEN], const uint8_t state[PINGYI_SHARD_DIGEST_STATE])
{
    crypto_generichash (out, PINGYI_SHARD_DIGEST_LEN, state, PINGYI_SHARD_DIGEST_STATE, NULL, 0);
}
