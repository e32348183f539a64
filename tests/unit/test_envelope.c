/*  test_envelope.c — sealed ballots: round trip, tamper evidence on every
    bit, keys bound to venues and to their shard, exact parse errors,
    receipts, and the two link keys derived from a venue's envelope key.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <string.h>

#include "envelope.h"

static uint8_t fp[PINGYI_FP_LEN];
static uint8_t shard_pk[32], shard_sk[32];
static uint8_t venue_pk[32], venue_sk[32];
static uint8_t other_pk[32], other_sk[32];
static uint8_t other_shard_pk[32], other_shard_sk[32];
static uint8_t venue_key[32];  /* what the venue client holds: beforenm (its shard's public, its secret) */
static uint8_t worker_key[32]; /* what the worker of that shard computes for the venue */
static const uint8_t ballot_id[16] = {0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8,
                                      0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf, 0xc0};
static const uint8_t body[] = {0x93, 0x01, 0x00, 0x91, 0x92, 0x00, 0x92, 0x01, 0x02};

static int
setup (void **state)
{
    if (sodium_init () < 0)
        return -1;
    for (int i = 0; i < 32; i++)
        fp[i] = (uint8_t) (0xf0 ^ i);
    crypto_box_keypair (shard_pk, shard_sk);
    crypto_box_keypair (venue_pk, venue_sk);
    crypto_box_keypair (other_pk, other_sk);
    crypto_box_keypair (other_shard_pk, other_shard_sk);
    if (pingyi_envelope_key (venue_key, shard_pk, venue_sk) ||
        pingyi_envelope_key (worker_key, venue_pk, shard_sk))
        return -1;
    return 0;
}

static size_t
seal (uint8_t *out, size_t cap, const char *venue)
{
    return pingyi_envelope_seal (out, cap, fp, venue, strlen (venue), ballot_id, body, sizeof body,
                                 venue_key);
}

static void
test_both_ends_derive_the_same_key (void **state)
{
    assert_memory_equal (venue_key, worker_key, 32);
    uint8_t k[32];
    assert_int_equal (pingyi_envelope_key (k, shard_pk, other_sk), 0);
    assert_memory_not_equal (k, venue_key, 32);
    /* Another shard's secret derives another key for the same venue.  */
    assert_int_equal (pingyi_envelope_key (k, venue_pk, other_shard_sk), 0);
    assert_memory_not_equal (k, venue_key, 32);
    /* A low-order public key (all zeros) gives no key.  */
    static const uint8_t zero[32];
    assert_int_equal (pingyi_envelope_key (k, zero, venue_sk), -1);
}

static void
test_round_trip (void **state)
{
    uint8_t env[512], out[512];
    size_t len = seal (env, sizeof env, "v01");
    assert_int_equal (len, PINGYI_ENVELOPE_OVERHEAD (3) + sizeof body);

    /* Layout, byte by byte.  */
    assert_int_equal (env[0], PINGYI_ENVELOPE_VERSION);
    assert_memory_equal (env + 1, fp, 32);
    assert_int_equal (env[33], 3);
    assert_memory_equal (env + 34, "v01", 3);
    assert_memory_equal (env + 37, ballot_id, 16);

    pingyi_envelope_t e;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_envelope_parse (env, len, &e, err), 0);
    assert_ptr_equal (e.fingerprint, env + 1);
    assert_int_equal (e.venue_len, 3);
    assert_memory_equal (e.venue, "v01", 3);
    assert_ptr_equal (e.ballot_id, env + 37);
    assert_ptr_equal (e.nonce, env + 53);
    assert_ptr_equal (e.ciphertext, env + 77);
    assert_int_equal (e.ciphertext_len, sizeof body + 16);
    assert_int_equal (e.header_len, 53);
    assert_ptr_equal (e.bytes, env);
    assert_int_equal (e.len, len);

    size_t body_len = 0;
    assert_int_equal (pingyi_envelope_open (&e, worker_key, out, sizeof out, &body_len), 0);
    assert_int_equal (body_len, sizeof body);
    assert_memory_equal (out, body, sizeof body);

    /* The ciphertext does not show the body.  */
    assert_memory_not_equal (e.ciphertext, body, sizeof body);

    /* cap one byte short of the body: refused.  */
    assert_int_equal (pingyi_envelope_open (&e, worker_key, out, sizeof body - 1, &body_len), -1);
}

static void
test_empty_body_and_longest_venue (void **state)
{
    char venue[65];
    memset (venue, 'v', 64);
    venue[64] = '\0';
    uint8_t env[256], out[16];
    size_t len = pingyi_envelope_seal (env, sizeof env, fp, venue, 64, ballot_id, NULL, 0, venue_key);
    assert_int_equal (len, PINGYI_ENVELOPE_OVERHEAD (64));
    pingyi_envelope_t e;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_envelope_parse (env, len, &e, err), 0);
    size_t body_len = 99;
    assert_int_equal (pingyi_envelope_open (&e, worker_key, out, sizeof out, &body_len), 0);
    assert_int_equal (body_len, 0);

    /* The minimum envelope: one-byte venue id, empty body = 91 bytes.  */
    len = pingyi_envelope_seal (env, sizeof env, fp, "v", 1, ballot_id, NULL, 0, venue_key);
    assert_int_equal (len, 91);
    assert_int_equal (pingyi_envelope_parse (env, len, &e, err), 0);
    assert_int_equal (pingyi_envelope_open (&e, worker_key, NULL, 0, &body_len), 0);
}

static void
test_seal_refuses (void **state)
{
    uint8_t env[512];
    size_t need = PINGYI_ENVELOPE_OVERHEAD (3) + sizeof body;
    assert_int_equal (seal (env, need - 1, "v01"), 0);
    assert_int_equal (seal (env, need, "v01"), need);
    assert_int_equal (
        pingyi_envelope_seal (env, sizeof env, fp, "", 0, ballot_id, body, sizeof body, venue_key), 0);
    char venue[66];
    memset (venue, 'v', 65);
    venue[65] = '\0';
    assert_int_equal (
        pingyi_envelope_seal (env, sizeof env, fp, venue, 65, ballot_id, body, sizeof body, venue_key), 0);
}

/*  Flip every bit of a whole envelope, one at a time: each flip makes parse
    or open fail.  Parse can only catch the version and length bytes; every
    other bit is caught by the Poly1305 tag over header (as AD) and
    ciphertext, or by a wrong nonce.  */
static void
test_every_bit_flip_is_detected (void **state)
{
    uint8_t env[512], out[512];
    size_t len = seal (env, sizeof env, "v01");
    size_t parse_failures = 0, open_failures = 0;
    for (size_t byte = 0; byte < len; byte++)
        for (int bit = 0; bit < 8; bit++) {
            env[byte] ^= (uint8_t) (1u << bit);
            pingyi_envelope_t e;
            char err[PINGYI_ERR_MAX];
            size_t body_len;
            if (pingyi_envelope_parse (env, len, &e, err) != 0) {
                /* only the version byte and the venue-length byte */
                assert_true (byte == 0 || byte == 33);
                parse_failures++;
            }
            else {
                assert_int_equal (pingyi_envelope_open (&e, worker_key, out, sizeof out, &body_len), -1);
                open_failures++;
            }
            env[byte] ^= (uint8_t) (1u << bit);
        }
    assert_int_equal (parse_failures + open_failures, len * 8);
    assert_true (open_failures > parse_failures);
    /* Restored, it opens.  */
    pingyi_envelope_t e;
    char err[PINGYI_ERR_MAX];
    size_t body_len;
    assert_int_equal (pingyi_envelope_parse (env, len, &e, err), 0);
    assert_int_equal (pingyi_envelope_open (&e, worker_key, out, sizeof out, &body_len), 0);
}

static void
test_truncated_or_extended_fails (void **state)
{
    uint8_t env[512], out[512];
    size_t len = seal (env, sizeof env, "v01");
    pingyi_envelope_t e;
    char err[PINGYI_ERR_MAX];
    size_t body_len;
    for (size_t cut = 0; cut < len; cut++)
        if (pingyi_envelope_parse (env, cut, &e, err) == 0)
            assert_int_equal (pingyi_envelope_open (&e, worker_key, out, sizeof out, &body_len), -1);
    env[len] = 0;
    assert_int_equal (pingyi_envelope_parse (env, len + 1, &e, err), 0);
    assert_int_equal (pingyi_envelope_open (&e, worker_key, out, sizeof out, &body_len), -1);
}

/*  A venue cannot seal as another: the worker derives the key from the
    header's venue, so an envelope sealed by another venue's secret under
    this venue's id does not open; nor does this venue's envelope open
    under another venue's key.  */
static void
test_other_venue_key_fails (void **state)
{
    uint8_t env[512], out[512];
    size_t len = seal (env, sizeof env, "v01");
    uint8_t other_worker_key[32], other_venue_key[32];
    assert_int_equal (pingyi_envelope_key (other_worker_key, other_pk, shard_sk), 0);
    assert_int_equal (pingyi_envelope_key (other_venue_key, shard_pk, other_sk), 0);
    pingyi_envelope_t e;
    char err[PINGYI_ERR_MAX];
    size_t body_len;
    assert_int_equal (pingyi_envelope_parse (env, len, &e, err), 0);
    assert_int_equal (pingyi_envelope_open (&e, other_worker_key, out, sizeof out, &body_len), -1);

    len = pingyi_envelope_seal (env, sizeof env, fp, "v01", 3, ballot_id, body, sizeof body, other_venue_key);
    assert_int_equal (pingyi_envelope_parse (env, len, &e, err), 0);
    assert_int_equal (pingyi_envelope_open (&e, worker_key, out, sizeof out, &body_len), -1);
    assert_int_equal (pingyi_envelope_open (&e, other_worker_key, out, sizeof out, &body_len), 0);
}

static void
test_parse_errors_exact (void **state)
{
    uint8_t env[512];
    size_t len = seal (env, sizeof env, "v01");
    pingyi_envelope_t e;
    char err[PINGYI_ERR_MAX];
    assert_int_equal (pingyi_envelope_parse (env, 40, &e, err), -1);
    assert_string_equal (err, "envelope: 40 bytes, shorter than the 91-byte minimum");
    assert_int_equal (pingyi_envelope_parse (env, 0, &e, err), -1);
    assert_string_equal (err, "envelope: 0 bytes, shorter than the 91-byte minimum");
    assert_int_equal (pingyi_envelope_parse (NULL, 0, &e, err), -1);
    assert_int_equal (pingyi_envelope_parse (env, 90, &e, err), -1);
    assert_string_equal (err, "envelope: 90 bytes, shorter than the 91-byte minimum");

    env[0] = 2;
    assert_int_equal (pingyi_envelope_parse (env, len, &e, err), -1);
    assert_string_equal (err, "envelope: version 2 unsupported");
    env[0] = 0;
    assert_int_equal (pingyi_envelope_parse (env, len, &e, err), -1);
    assert_string_equal (err, "envelope: version 0 unsupported");
    env[0] = 1;

    env[33] = 0;
    assert_int_equal (pingyi_envelope_parse (env, len, &e, err), -1);
    assert_string_equal (err, "envelope: venue id length 0 (must be 1..64)");
    env[33] = 65;
    assert_int_equal (pingyi_envelope_parse (env, len, &e, err), -1);
    assert_string_equal (err, "envelope: venue id length 65 (must be 1..64)");
    env[33] = 255;
    assert_int_equal (pingyi_envelope_parse (env, len, &e, err), -1);
    assert_string_equal (err, "envelope: venue id length 255 (must be 1..64)");
    env[33] = 10; /* needs 100 bytes; the envelope has 102 */
    assert_int_equal (pingyi_envelope_parse (env, 95, &e, err), -1);
    assert_string_equal (err, "envelope: 95 bytes, shorter than the 100-byte minimum for a 10-byte venue id");
    env[33] = 3;
    assert_int_equal (pingyi_envelope_parse (env, len, &e, err), 0);
}

static void
test_receipt (void **state)
{
    uint8_t env[512];
    size_t len = seal (env, sizeof env, "v01");
    char r1[PINGYI_RECEIPT_LEN + 1], r2[PINGYI_RECEIPT_LEN + 1];
    pingyi_envelope_receipt (r1, env, len);
    pingyi_envelope_receipt (r2, env, len);
    assert_string_equal (r1, r2);
    assert_int_equal (strlen (r1), 16);
    for (int i = 0; i < 16; i++)
        assert_non_null (strchr ("0123456789abcdef", r1[i]));

    /* Independently: BLAKE2b-256 of the envelope bytes, first 8 bytes, hex.  */
    uint8_t digest[32];
    crypto_generichash (digest, sizeof digest, env, len, NULL, 0);
    char want[17];
    sodium_bin2hex (want, sizeof want, digest, 8);
    assert_string_equal (r1, want);

    /* A fresh seal of the same ballot has a fresh nonce, so a new receipt.  */
    uint8_t env2[512];
    size_t len2 = seal (env2, sizeof env2, "v01");
    assert_int_equal (len2, len);
    assert_memory_not_equal (env + 53, env2 + 53, 24);
    pingyi_envelope_receipt (r2, env2, len2);
    assert_string_not_equal (r1, r2);
}

static void
test_fixed_nonce_is_deterministic (void **state)
{
    uint8_t nonce[24], a[512], b[512], out[512];
    memset (nonce, 0x5a, sizeof nonce);
    size_t la = pingyi_envelope_seal_with_nonce (a, sizeof a, fp, "v01", 3, ballot_id, body, sizeof body,
                                                 venue_key, nonce);
    size_t lb = pingyi_envelope_seal_with_nonce (b, sizeof b, fp, "v01", 3, ballot_id, body, sizeof body,
                                                 venue_key, nonce);
    assert_int_equal (la, lb);
    assert_memory_equal (a, b, la);
    assert_memory_equal (a + 53, nonce, 24);
    pingyi_envelope_t e;
    char err[PINGYI_ERR_MAX];
    size_t body_len;
    assert_int_equal (pingyi_envelope_parse (a, la, &e, err), 0);
    assert_int_equal (pingyi_envelope_open (&e, worker_key, out, sizeof out, &body_len), 0);
    assert_memory_equal (out, body, sizeof body);
}

/*  The worked example of docs/PROTOCOL.md, byte for byte: if this fails,
    the document (and every client written from it) is wrong.  */
static void
test_worked_example_in_the_docs (void **state)
{
    static const uint8_t want[] = {
        0x01, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
        0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x03,
        0x76, 0x30, 0x31, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
        0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e,
        0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x51, 0xdf, 0xf7, 0x10, 0xc5, 0x7e, 0x7b, 0x06,
        0xec, 0xf6, 0x3f, 0x82, 0x73, 0x28, 0x08, 0x59, 0x17, 0x36, 0x6f, 0x02, 0x60, 0x53, 0xf0, 0xb7, 0xa4,
    };
    uint8_t vsk[32], esk[32], vpk[32], epk[32], k[32], k2[32], efp[32], id[16], nonce[24], out[256];
    static const uint8_t ebody[] = {0x93, 0x01, 0x00, 0x91, 0x92, 0x00, 0x92, 0x01, 0x02};
    memset (vsk, 0x01, 32); /* venue box secret */
    memset (esk, 0x02, 32); /* shard box secret (the venue's shard) */
    assert_int_equal (crypto_scalarmult_base (vpk, vsk), 0);
    assert_int_equal (crypto_scalarmult_base (epk, esk), 0);
    char hex[65];
    sodium_bin2hex (hex, sizeof hex, vpk, 32);
    assert_string_equal (hex, "a4e09292b651c278b9772c569f5fa9bb13d906b46ab68c9df9dc2b4409f8a209");
    sodium_bin2hex (hex, sizeof hex, epk, 32);
    assert_string_equal (hex, "ce8d3ad1ccb633ec7b70c17814a5c76ecd029685050d344745ba05870e587d59");
    assert_int_equal (pingyi_envelope_key (k, epk, vsk), 0);
    assert_int_equal (pingyi_envelope_key (k2, vpk, esk), 0);
    assert_memory_equal (k, k2, 32);
    sodium_bin2hex (hex, sizeof hex, k, 32);
    assert_string_equal (hex, "18a99320f3488fa18a04239715d8ee738065e65c3d4b2898522d6c3d4ead588c");
    for (int i = 0; i < 32; i++)
        efp[i] = (uint8_t) i;
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t) (0x10 + i);
    for (int i = 0; i < 24; i++)
        nonce[i] = (uint8_t) (0x20 + i);
    size_t n =
        pingyi_envelope_seal_with_nonce (out, sizeof out, efp, "v01", 3, id, ebody, sizeof ebody, k, nonce);
    assert_int_equal (n, sizeof want);
    assert_memory_equal (out, want, sizeof want);
    char receipt[17];
    pingyi_envelope_receipt (receipt, out, n);
    assert_string_equal (receipt, "15ace9305eeee1fe");
}

/*  The link keys (ack: subkey 1, close: subkey 2, context "pingyilk") of a
    venue's envelope key.  The expected hex was computed with Python's
    hashlib, independently of libsodium's KDF:
        hashlib.blake2b (b'', digest_size=32, key=k,
                         salt=struct.pack ('<Q', id) + bytes (8),
                         person=b'pingyilk' + bytes (8)).hexdigest ()  */
static void
test_link_keys (void **state)
{
    static const struct {
        const char *k, *ack, *close;
    } vectors[] = {
        {/* the worked example's k (docs/PROTOCOL.md §10) */
         "18a99320f3488fa18a04239715d8ee738065e65c3d4b2898522d6c3d4ead588c",
         "2d54e1ebc825410a18162e8843ad0ee4fe593b9387397e1529a8144a227084c2",
         "475df58e94d116f5d7a23875571eda4323072a7c20a84b9ba6f8d726cf592eb9"},
        {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
         "76fb264dfaadf02c0f987719b7e1c792eaa6f62479b1e932a1e1c4ec934ec534",
         "d26c6a7fa885d15f338486792496a536dc63bd3d7b6c55f25964ae3930d2f6fa"},
        {"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
         "161a681550274e24aba6083b2f4720fa449b2aab063503e90a93f06beb719eea",
         "5c4d4ce69db01509a8431e427b8ae8e143dc565fcc0c6c77b25b22029ccd5ad1"},
    };
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        uint8_t k[32], ack[32], close[32];
        char hex[65];
        assert_int_equal (sodium_hex2bin (k, sizeof k, vectors[i].k, 64, NULL, NULL, NULL), 0);
        memset (ack, 0, 32);
        memset (close, 0, 32);
        pingyi_envelope_link_keys (ack, close, k);
        sodium_bin2hex (hex, sizeof hex, ack, 32);
        assert_string_equal (hex, vectors[i].ack);
        sodium_bin2hex (hex, sizeof hex, close, 32);
        assert_string_equal (hex, vectors[i].close);
        assert_memory_not_equal (ack, close, 32);
        assert_memory_not_equal (ack, k, 32);
        assert_memory_not_equal (close, k, 32);

        /* The same thing spelt out: keyed BLAKE2b-256 of nothing, salt =
           subkey id (8 bytes little-endian) + 8 zero bytes, personal =
           "pingyilk" + 8 zero bytes.  */
        uint8_t salt[16] = {0}, personal[16] = {0}, want[32];
        memcpy (personal, PINGYI_LINK_KDF_CONTEXT, 8);
        salt[0] = PINGYI_LINK_SUBKEY_ACK;
        assert_int_equal (crypto_generichash_blake2b_salt_personal (want, 32, NULL, 0, k, 32, salt, personal),
                          0);
        assert_memory_equal (want, ack, 32);
        salt[0] = PINGYI_LINK_SUBKEY_CLOSE;
        assert_int_equal (crypto_generichash_blake2b_salt_personal (want, 32, NULL, 0, k, 32, salt, personal),
                          0);
        assert_memory_equal (want, close, 32);
    }

    /* Both ends derive the same link keys; another venue gets others.  */
    uint8_t va[32], vc[32], wa[32], wc[32], oa[32], oc[32], other_key[32];
    pingyi_envelope_link_keys (va, vc, venue_key);
    pingyi_envelope_link_keys (wa, wc, worker_key);
    assert_memory_equal (va, wa, 32);
    assert_memory_equal (vc, wc, 32);
    assert_int_equal (pingyi_envelope_key (other_key, other_pk, shard_sk), 0);
    pingyi_envelope_link_keys (oa, oc, other_key);
    assert_memory_not_equal (oa, va, 32);
    assert_memory_not_equal (oc, vc, 32);
    assert_memory_not_equal (oa, vc, 32);
}

/*  The close key of a round (docs/PROTOCOL.md, "The link MAC"): the close
    key itself in the first round; after r reopens BLAKE2b-256 keyed by the
    close key over "pingyi close round" and r (u32 LE) -- the worked
    example's close key and the values the docs print (computed with
    Python's hashlib).  */
static void
test_close_key_of_a_round (void **state)
{
    (void) state;
    uint8_t close[32], out[32];
    char hex[65];
    assert_int_equal (sodium_hex2bin (close, 32, "475df58e94d116f5d7a23875571eda4323072a7c20a84b9ba6f8d726cf592eb9",
                                      64, NULL, NULL, NULL),
                      0);
    pingyi_envelope_close_key_round (out, close, 0);
    assert_memory_equal (out, close, 32);
    static const struct {
        uint32_t r;
        const char *key;
    } rounds[] = {
        {1, "15b1645dd6d7706d21d9a305b48d59e50d59a4c7361f285a5551c74bb60b3785"},
        {2, "f4793f64353c29609a89238313fc5b400de6a1326c4ac9e758f62da6757387e4"},
        {UINT32_MAX, "fd840b805a862efe545d5db9625f2ee3286c00623c0b449b6c15e14baac9daeb"},
    };
    for (size_t i = 0; i < sizeof rounds / sizeof rounds[0]; i++) {
        pingyi_envelope_close_key_round (out, close, rounds[i].r);
        sodium_bin2hex (hex, sizeof hex, out, 32);
        assert_string_equal (hex, rounds[i].key);
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_both_ends_derive_the_same_key),
        cmocka_unit_test (test_round_trip),
        cmocka_unit_test (test_empty_body_and_longest_venue),
        cmocka_unit_test (test_seal_refuses),
        cmocka_unit_test (test_every_bit_flip_is_detected),
        cmocka_unit_test (test_truncated_or_extended_fails),
        cmocka_unit_test (test_other_venue_key_fails),
        cmocka_unit_test (test_parse_errors_exact),
        cmocka_unit_test (test_receipt),
        cmocka_unit_test (test_fixed_nonce_is_deterministic),
        cmocka_unit_test (test_worked_example_in_the_docs),
        cmocka_unit_test (test_link_keys),
        cmocka_unit_test (test_close_key_of_a_round),
    };
    return cmocka_run_group_tests (tests, setup, NULL);
}
