/*  envelope.h — a sealed ballot with its clear header.

    Layout (all lengths in bytes; docs/PROTOCOL.md has the same table):
        0       1    version = 1
        1       32   election fingerprint
        33      1    L = venue id length, 1..64
        34      L    venue id, UTF-8
        34+L    16   ballot id (random)
        50+L    24   nonce (random)
        74+L    n+16 ciphertext + Poly1305 tag
    Cipher: XChaCha20-Poly1305-IETF (crypto_aead_xchacha20poly1305_ietf) with
    associated data = bytes [0, 50+L) (the whole header), and key
        k = crypto_box_beforenm (election box public key, venue box secret key)
          = HSalsa20 (X25519 (venue sk, election pk), 0)
    The worker computes the same k from (venue box public key, election box
    secret key), once per venue.  So the broker sees only the header, any bit
    flipped anywhere fails, and a venue cannot seal as another venue.  */
#ifndef PINGYI_ENVELOPE_H
#define PINGYI_ENVELOPE_H

#include "common.h"

#define PINGYI_ENVELOPE_VERSION 1
#define PINGYI_NONCE_LEN 24
#define PINGYI_MAC_LEN 16
#define PINGYI_ENVELOPE_OVERHEAD(venue_len) (74 + (venue_len) + PINGYI_MAC_LEN)

typedef struct {
    const uint8_t *fingerprint; /* 32 bytes */
    const char *venue;          /* venue_len bytes, not NUL-terminated */
    size_t venue_len;
    const uint8_t *ballot_id; /* 16 bytes */
    const uint8_t *nonce;     /* 24 bytes */
    const uint8_t *ciphertext;
    size_t ciphertext_len; /* body length + 16 */
    const uint8_t *bytes;  /* the whole envelope */
    size_t len;
    size_t header_len; /* 50 + L: the associated data */
} pingyi_envelope_t;

/*  Parse the clear header (no crypto).  0, or -1 with err ("envelope: venue
    id length 0 (must be 1..64)").  Fields point into buf.  */
int pingyi_envelope_parse (const uint8_t *buf, size_t len, pingyi_envelope_t *env,
                           char *err) PINGYI_WARN_UNUSED;

/*  The two link keys of a venue, derived from its envelope key k with
    crypto_kdf_derive_from_key (context "pingyilk"): subkey 1 is the ack key
    (the worker MACs ACK and VENUE_STATUS with it), subkey 2 the close key
    (the venue MACs VENUE_CLOSE).  Only the venue and the holders of its
    shard's secret can compute them, so neither the broker nor another
    worker can forge an ack, a status or a close (docs/SECURITY.md).  */
#define PINGYI_LINK_KDF_CONTEXT "pingyilk"
#define PINGYI_LINK_SUBKEY_ACK 1
#define PINGYI_LINK_SUBKEY_CLOSE 2
void pingyi_envelope_link_keys (uint8_t ack_key[32], uint8_t close_key[32], const uint8_t k[32]);

/*  The key a VENUE_CLOSE is MACed with in the venue's round after
    `reopens` operator reopens: the close key itself in the first round
    (reopens 0), else BLAKE2b-256 (key = close key, data = "pingyi close
    round" ‖ reopens as u32 LE).  A close of an earlier round, replayed
    after a reopen, then no longer verifies (docs/PROTOCOL.md, "The link
    MAC").  */
void pingyi_envelope_close_key_round (uint8_t out[32], const uint8_t close_key[32], uint32_t reopens);

/*  The reopen key of an operator for one shard: subkey 3 (context
    "pingyilk") of k = crypto_box_beforenm (shard box public, operator CURVE
    secret) = crypto_box_beforenm (operator CURVE public, shard secret).
    Only that operator and the shard's holders can compute it, so a broker
    cannot forge a VENUE_REOPEN by lying about a sender's role.  0 / -1
    (a low-order key).  */
#define PINGYI_LINK_SUBKEY_REOPEN 3
int pingyi_envelope_reopen_key (uint8_t reopen_key[32], const uint8_t their_public[32],
                                const uint8_t my_secret[32]) PINGYI_WARN_UNUSED;

/*  Precompute the shared key (crypto_box_beforenm).  0 / -1.  */
int pingyi_envelope_key (uint8_t key[32], const uint8_t their_public[32],
                         const uint8_t my_secret[32]) PINGYI_WARN_UNUSED;

/*  Seal body into out (cap bytes) with a fresh random nonce; returns the
    envelope's length, or 0 if cap is too small or venue_len out of range.  */
size_t pingyi_envelope_seal (uint8_t *out, size_t cap, const uint8_t fp[PINGYI_FP_LEN], const char *venue,
                             size_t venue_len, const uint8_t ballot_id[PINGYI_BALLOT_ID_LEN],
                             const uint8_t *body, size_t body_len, const uint8_t key[32]);

/*  As pingyi_envelope_seal with the caller's nonce.  For tests and the worked
    example in docs/PROTOCOL.md only: a nonce must never repeat under one key,
    and only randombytes_buf makes that certain.  */
size_t pingyi_envelope_seal_with_nonce (uint8_t *out, size_t cap, const uint8_t fp[PINGYI_FP_LEN],
                                        const char *venue, size_t venue_len,
                                        const uint8_t ballot_id[PINGYI_BALLOT_ID_LEN], const uint8_t *body,
                                        size_t body_len, const uint8_t key[32],
                                        const uint8_t nonce[PINGYI_NONCE_LEN]);

/*  Open a parsed envelope into body (cap bytes).  0 with *body_len set, or -1
    (authentication failed, or cap too small).  */
int pingyi_envelope_open (const pingyi_envelope_t *env, const uint8_t key[32], uint8_t *body, size_t cap,
                          size_t *body_len) PINGYI_WARN_UNUSED;

/*  The voter-side tracking code of an envelope: the first 8 bytes of
    BLAKE2b-256 (crypto_generichash) of its bytes, as 16 lowercase hex chars.  */
void pingyi_envelope_receipt (char out[PINGYI_RECEIPT_LEN + 1], const uint8_t *env, size_t len);

#endif
