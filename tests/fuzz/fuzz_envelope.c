/*  fuzz_envelope.c — libFuzzer target: any bytes as one envelope.

    pingyi_envelope_parse must never crash or read past the input, and its
    fields must lie inside the input; opening is tried with the fixed key of
    the worked example in docs/PROTOCOL.md (venue box secret = 32 × 0x01,
    shard box secret = 32 × 0x02).  Whenever an envelope opens, sealing its
    body again with the same header and nonce must give back exactly the
    input: nothing outside the authenticated bytes can vary.

    Seeds: run with PINGYI_FUZZ_WRITE_SEEDS=DIR to write valid envelopes
    under that key (fixed nonces, so the files are reproducible) and a few
    broken ones into DIR (how tests/fuzz/corpus/envelope was made).  */
#include "envelope.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static uint8_t key[32];
static volatile uint8_t sink;

static void
derive_key (void)
{
    uint8_t venue_sk[32], shard_sk[32], shard_pk[32];
    memset (venue_sk, 0x01, sizeof venue_sk);
    memset (shard_sk, 0x02, sizeof shard_sk);
    if (sodium_init () < 0 || crypto_scalarmult_base (shard_pk, shard_sk) != 0 ||
        pingyi_envelope_key (key, shard_pk, venue_sk) != 0)
        abort ();
}

static bool
inside (const uint8_t *p, size_t n, const uint8_t *data, size_t size)
{
    return p >= data && n <= size && (size_t) (p - data) <= size - n;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static uint8_t body[8192], again[8192 + 256];
    pingyi_envelope_t env;
    char err[PINGYI_ERR_MAX];
    err[0] = '\0';

    char receipt[PINGYI_RECEIPT_LEN + 1];
    pingyi_envelope_receipt (receipt, data, size);
    if (strlen (receipt) != PINGYI_RECEIPT_LEN)
        abort ();

    if (pingyi_envelope_parse (data, size, &env, err) != 0) {
        if (err[0] == '\0')
            abort ();
        return 0;
    }
    if (env.venue_len < 1 || env.venue_len > PINGYI_ID_MAX || env.header_len != 50 + env.venue_len ||
        env.ciphertext_len < PINGYI_MAC_LEN || env.len != size ||
        !inside (env.fingerprint, PINGYI_FP_LEN, data, size) ||
        !inside ((const uint8_t *) env.venue, env.venue_len, data, size) ||
        !inside (env.ballot_id, PINGYI_BALLOT_ID_LEN, data, size) ||
        !inside (env.nonce, PINGYI_NONCE_LEN, data, size) ||
        !inside (env.ciphertext, env.ciphertext_len, data, size) ||
        env.ciphertext + env.ciphertext_len != data + size)
        abort ();
    sink ^= env.venue[env.venue_len - 1] ^ env.ciphertext[env.ciphertext_len - 1];

    size_t body_len = 0;
    if (pingyi_envelope_open (&env, key, body, sizeof body, &body_len) != 0)
        return 0;
    if (body_len != env.ciphertext_len - PINGYI_MAC_LEN)
        abort ();
    size_t n = pingyi_envelope_seal_with_nonce (again, sizeof again, env.fingerprint, env.venue,
                                                env.venue_len, env.ballot_id, body, body_len, key, env.nonce);
    if (n != size || memcmp (again, data, size) != 0)
        abort ();
    return 0;
}

/* -------------------------------------------------------------------------
   Seeds  */

static void
write_seed (const char *dir, const char *name, const uint8_t *p, size_t len)
{
    char path[1024];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen (path, "wb");
    if (!f || fwrite (p, 1, len, f) != len || fclose (f) != 0) {
        fprintf (stderr, "fuzz_envelope: cannot write %s\n", path);
        exit (1);
    }
}

static void
write_seeds (const char *dir)
{
    uint8_t fp[32], id[16], nonce[24], out[512];
    /* A ballot body: [1, category 0, [[subject 0, [mask 1, mask 2]]]].  */
    static const uint8_t ballot[] = {0x93, 0x01, 0x00, 0x91, 0x92, 0x00, 0x92, 0x01, 0x02};
    for (int i = 0; i < 32; i++)
        fp[i] = (uint8_t) i;
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t) (0x10 + i);
    for (int i = 0; i < 24; i++)
        nonce[i] = (uint8_t) (0x20 + i);
    size_t n = pingyi_envelope_seal_with_nonce (out, sizeof out, fp, "v01", 3, id, ballot, sizeof ballot, key,
                                                nonce);
    write_seed (dir, "valid-v01", out, n);
    nonce[0] ^= 0xff;
    n = pingyi_envelope_seal_with_nonce (out, sizeof out, fp, "v", 1, id, NULL, 0, key, nonce);
    write_seed (dir, "valid-empty-body", out, n);
    char venue[64];
    memset (venue, 'x', sizeof venue);
    n = pingyi_envelope_seal_with_nonce (out, sizeof out, fp, venue, sizeof venue, id, ballot, sizeof ballot,
                                         key, nonce);
    write_seed (dir, "valid-longest-venue", out, n);
    n = pingyi_envelope_seal_with_nonce (out, sizeof out, fp, "v01", 3, id, ballot, sizeof ballot, key,
                                         nonce);
    out[n - 1] ^= 1;
    write_seed (dir, "bad-tag", out, n);
    out[n - 1] ^= 1;
    out[33] = 0;
    write_seed (dir, "bad-venue-length", out, n);
    write_seed (dir, "short", out, 40);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    derive_key ();
    const char *dir = getenv ("PINGYI_FUZZ_WRITE_SEEDS");
    if (dir && *dir) {
        write_seeds (dir);
        exit (0);
    }
    return 0;
}
