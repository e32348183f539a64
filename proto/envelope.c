/*  envelope.c — seal and open ballots; parse the clear header.

    The layout and the cipher are in envelope.h.  What this file guarantees:
    - parse trusts nothing: every offset is checked against the length before
      it is read, and each refusal says which rule was broken;
    - the associated data is the whole clear header, so the broker may route
      on the header but cannot change a single byte of it (nor of the nonce
      or the ciphertext) without open failing;
    - nonces are 24 random bytes (XChaCha20): random nonces are safe at that
      size, so no counter state has to survive a crash of a venue client;
    - shared keys are computed once per peer (crypto_box_beforenm); wiping
      them is the caller's job, as it owns them.  */
#include "envelope.h"
#include "bytes.h"

#include <sodium.h>
#include <string.h>

#define OFF_VERSION 0
#define OFF_FP 1
#define OFF_VENUE_LEN 33
#define OFF_VENUE 34
#define ID_OFF(L) (34 + (L))
#define NONCE_OFF(L) (50 + (L))
#define CT_OFF(L) (74 + (L))
#define MIN_LEN PINGYI_ENVELOPE_OVERHEAD (1) /* 91: one-byte venue id, empty body */

/*  libsodium must be initialised once before randombytes and the AEAD are
    used; sodium_init is idempotent and thread-safe, so calling it on every
    path that needs it costs one atomic load.  */
static int
sodium_ready (void)
{
    return sodium_init () < 0 ? -1 : 0;
}

int
pingyi_envelope_parse (const uint8_t *buf, size_t len, pingyi_envelope_t *env, char *err)
{
    memset (env, 0, sizeof *env);
    if (!buf || len < MIN_LEN)
        return pingyi_fail (err, "envelope: %zu bytes, shorter than the %d-byte minimum", buf ? len : 0,
                            MIN_LEN);
    if (buf[OFF_VERSION] != PINGYI_ENVELOPE_VERSION)
        return pingyi_fail (err, "envelope: version %u unsupported", buf[OFF_VERSION]);
    size_t venue_len = buf[OFF_VENUE_LEN];
    if (venue_len < 1 || venue_len > PINGYI_ID_MAX)
        return pingyi_fail (err, "envelope: venue id length %zu (must be 1..%d)", venue_len, PINGYI_ID_MAX);
    if (len < (size_t) PINGYI_ENVELOPE_OVERHEAD (venue_len))
        return pingyi_fail (err,
                            "envelope: %zu bytes, shorter than the %zu-byte minimum for a %zu-byte venue id",
                            len, (size_t) PINGYI_ENVELOPE_OVERHEAD (venue_len), venue_len);
    env->fingerprint = buf + OFF_FP;
    env->venue = (const char *) buf + OFF_VENUE;
    env->venue_len = venue_len;
    env->ballot_id = buf + ID_OFF (venue_len);
    env->nonce = buf + NONCE_OFF (venue_len);
    env->ciphertext = buf + CT_OFF (venue_len);
    env->ciphertext_len = len - CT_OFF (venue_len);
    env->bytes = buf;
    env->len = len;
    env->header_len = NONCE_OFF (venue_len);
    return 0;
}

int
pingyi_envelope_key (uint8_t key[32], const uint8_t their_public[32], const uint8_t my_secret[32])
{
    if (sodium_ready ())
        return -1;
    /* Fails on a low-order public key (the shared point would be zero).  */
    if (crypto_box_beforenm (key, their_public, my_secret) != 0) {
        sodium_memzero (key, 32);
        return -1;
    }
    return 0;
}

size_t
pingyi_envelope_seal_with_nonce (uint8_t *out, size_t cap, const uint8_t fp[PINGYI_FP_LEN], const char *venue,
                                 size_t venue_len, const uint8_t ballot_id[PINGYI_BALLOT_ID_LEN],
                                 const uint8_t *body, size_t body_len, const uint8_t key[32],
                                 const uint8_t nonce[PINGYI_NONCE_LEN])
{
    if (venue_len < 1 || venue_len > PINGYI_ID_MAX || !venue)
        return 0;
    if (body_len > SIZE_MAX - PINGYI_ENVELOPE_OVERHEAD (venue_len))
        return 0;
    size_t total = PINGYI_ENVELOPE_OVERHEAD (venue_len) + body_len;
    if (!out || cap < total || (body_len && !body))
        return 0;
    if (sodium_ready ())
        return 0;
    out[OFF_VERSION] = PINGYI_ENVELOPE_VERSION;
    memcpy (out + OFF_FP, fp, PINGYI_FP_LEN);
    out[OFF_VENUE_LEN] = (uint8_t) venue_len;
    memcpy (out + OFF_VENUE, venue, venue_len);
    memcpy (out + ID_OFF (venue_len), ballot_id, PINGYI_BALLOT_ID_LEN);
    memcpy (out + NONCE_OFF (venue_len), nonce, PINGYI_NONCE_LEN);
    unsigned long long ct_len = 0;
    if (crypto_aead_xchacha20poly1305_ietf_encrypt (out + CT_OFF (venue_len), &ct_len, body, body_len, out,
                                                    NONCE_OFF (venue_len), NULL, out + NONCE_OFF (venue_len),
                                                    key) != 0)
        return 0;
    return CT_OFF (venue_len) + (size_t) ct_len;
}

size_t
pingyi_envelope_seal (uint8_t *out, size_t cap, const uint8_t fp[PINGYI_FP_LEN], const char *venue,
                      size_t venue_len, const uint8_t ballot_id[PINGYI_BALLOT_ID_LEN], const uint8_t *body,
                      size_t body_len, const uint8_t key[32])
{
    uint8_t nonce[PINGYI_NONCE_LEN];
    if (sodium_ready ())
        return 0;
    randombytes_buf (nonce, sizeof nonce);
    return pingyi_envelope_seal_with_nonce (out, cap, fp, venue, venue_len, ballot_id, body, body_len, key,
                                            nonce);
}

int
pingyi_envelope_open (const pingyi_envelope_t *env, const uint8_t key[32], uint8_t *body, size_t cap,
                      size_t *body_len)
{
    if (!env->bytes || env->ciphertext_len < PINGYI_MAC_LEN)
        return -1;
    if (cap < env->ciphertext_len - PINGYI_MAC_LEN || (!body && env->ciphertext_len > PINGYI_MAC_LEN))
        return -1;
    if (sodium_ready ())
        return -1;
    /* A body buffer is needed even for an empty body.  */
    uint8_t none[1];
    unsigned long long m_len = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt (body ? body : none, &m_len, NULL, env->ciphertext,
                                                    env->ciphertext_len, env->bytes, env->header_len,
                                                    env->nonce, key) != 0)
        return -1;
    *body_len = (size_t) m_len;
    return 0;
}

void
pingyi_envelope_receipt (char out[PINGYI_RECEIPT_LEN + 1], const uint8_t *env, size_t len)
{
    uint8_t digest[32];
    (void) sodium_ready (); /* picks the fastest BLAKE2b; the reference one works without it */
    crypto_generichash (digest, sizeof digest, env, len, NULL, 0);
    pingyi_hex (out, digest, PINGYI_RECEIPT_LEN / 2);
}

int
pingyi_envelope_reopen_key (uint8_t reopen_key[32], const uint8_t their_public[32], const uint8_t my_secret[32])
{
    uint8_t k[32];
    if (pingyi_envelope_key (k, their_public, my_secret))
        return -1;
    crypto_kdf_derive_from_key (reopen_key, 32, PINGYI_LINK_SUBKEY_REOPEN, PINGYI_LINK_KDF_CONTEXT, k);
    sodium_memzero (k, sizeof k);
    return 0;
}

void
pingyi_envelope_close_key_round (uint8_t out[32], const uint8_t close_key[32], uint32_t reopens)
{
    if (reopens == 0) {
        memcpy (out, close_key, 32);
        return;
    }
    static const char label[] = "pingyi close round";
    uint8_t data[sizeof label - 1 + 4];
    memcpy (data, label, sizeof label - 1);
    pingyi_put_le32 (data + sizeof label - 1, reopens);
    crypto_generichash (out, 32, data, sizeof data, close_key, 32);
}

void
pingyi_envelope_link_keys (uint8_t ack_key[32], uint8_t close_key[32], const uint8_t k[32])
{
    (void) sodium_ready ();
    crypto_kdf_derive_from_key (ack_key, 32, PINGYI_LINK_SUBKEY_ACK, PINGYI_LINK_KDF_CONTEXT, k);
    crypto_kdf_derive_from_key (close_key, 32, PINGYI_LINK_SUBKEY_CLOSE, PINGYI_LINK_KDF_CONTEXT, k);
}
