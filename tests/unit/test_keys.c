/*  test_keys.c — secret key files (mode 0600, owned by the reader, never
    overwritten, strict content), the keyring (strict lines, FILE:LINE
    errors, lookups, shard lines, a worker's assigned shards), the trusted
    file check, and `pingyi init` with its bundles: each worker holds only
    its shards' secrets, the recount bundle all of them, a venue the public
    key of its own shard.  */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deploy.h"
#include "envelope.h"
#include "keys.h"

static char dir[64];

static int
setup (void **state)
{
    strcpy (dir, "/tmp/pingyi-test-keys-XXXXXX");
    if (!mkdtemp (dir) || sodium_init () < 0)
        return -1;
    return 0;
}

static int
teardown (void **state)
{
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system (cmd) == 0 ? 0 : -1;
}

static void
path_of (char *out, size_t cap, const char *name)
{
    snprintf (out, cap, "%s/%s", dir, name);
}

static void
write_text (const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
    assert_int_equal (chmod (path, mode), 0);
}

static void
test_write_then_read (void **state)
{
    char path[128];
    path_of (path, sizeof path, "a.secret");
    uint8_t secret[32], back[32];
    randombytes_buf (secret, sizeof secret);
    char err[PINGYI_ERR_MAX];
    mode_t old = umask (0); /* even a permissive umask gives 0600 */
    int rc = pingyi_key_write_secret (path, secret, err);
    umask (old);
    assert_int_equal (rc, 0);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 07777, 0600);
    assert_int_equal (st.st_size, 65);
    assert_int_equal (pingyi_key_read_secret (path, back, err), 0);
    assert_memory_equal (secret, back, 32);

    /* The file is the hex line and a newline.  */
    char text[80] = "", want[70];
    FILE *f = fopen (path, "r");
    assert_non_null (f);
    assert_non_null (fgets (text, sizeof text, f));
    fclose (f);
    pingyi_hex (want, secret, 32);
    strcat (want, "\n");
    assert_string_equal (text, want);
}

static void
test_never_overwrites (void **state)
{
    char path[128], err[PINGYI_ERR_MAX], want[1024];
    path_of (path, sizeof path, "b.secret");
    uint8_t one[32], two[32], back[32];
    memset (one, 1, 32);
    memset (two, 2, 32);
    assert_int_equal (pingyi_key_write_secret (path, one, err), 0);
    assert_int_equal (pingyi_key_write_secret (path, two, err), -1);
    snprintf (want, sizeof want, "%s: already exists; refusing to overwrite a key", path);
    assert_string_equal (err, want);
    assert_int_equal (pingyi_key_read_secret (path, back, err), 0);
    assert_memory_equal (back, one, 32);

    /* Nor through a symlink to somewhere else.  */
    char link_path[128], target[128];
    path_of (link_path, sizeof link_path, "link.secret");
    path_of (target, sizeof target, "nowhere.secret");
    assert_int_equal (symlink (target, link_path), 0);
    assert_int_equal (pingyi_key_write_secret (link_path, one, err), -1);
    assert_int_equal (access (target, F_OK), -1);

    path_of (path, sizeof path, "no/such/dir.secret");
    assert_int_equal (pingyi_key_write_secret (path, one, err), -1);
    snprintf (want, sizeof want, "%s: cannot create: No such file or directory", path);
    assert_string_equal (err, want);
}

static void
test_mode_refused_with_the_fix (void **state)
{
    char path[128], err[PINGYI_ERR_MAX], want[1024];
    path_of (path, sizeof path, "c.secret");
    uint8_t secret[32], back[32];
    memset (secret, 0xab, 32);
    assert_int_equal (pingyi_key_write_secret (path, secret, err), 0);

    assert_int_equal (chmod (path, 0644), 0);
    assert_int_equal (pingyi_key_read_secret (path, back, err), -1);
    snprintf (want, sizeof want, "%s: mode 0644 lets others read this secret key; run: chmod 600 %s", path,
              path);
    assert_string_equal (err, want);

    static const mode_t refused[] = {0640, 0604, 0620, 0602, 0610, 0601, 0660, 0666, 0777, 0700 | 0040};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal (chmod (path, refused[i]), 0);
        assert_int_equal (pingyi_key_read_secret (path, back, err), -1);
        snprintf (want, sizeof want, "%s: mode %04o lets others read this secret key; run: chmod 600 %s",
                  path, (unsigned) refused[i], path);
        assert_string_equal (err, want);
    }
    static const mode_t accepted[] = {0600, 0400, 0700};
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        assert_int_equal (chmod (path, accepted[i]), 0);
        memset (back, 0, 32);
        assert_int_equal (pingyi_key_read_secret (path, back, err), 0);
        assert_memory_equal (back, secret, 32);
    }
    assert_int_equal (chmod (path, 0600), 0);
}

static void
test_bad_content_refused (void **state)
{
    static const char *bad[] = {
        "",
        "\n",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeef\n",    /* 63 */
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0\n",  /* 65 */
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg\n",   /* g */
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n\n", /* 2 newlines */
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\r\n",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff ",
        " 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VuBCIEIJ\n-----END PRIVATE KEY-----\n",
    };
    char path[128], err[PINGYI_ERR_MAX], want[1024];
    path_of (path, sizeof path, "bad.secret");
    snprintf (want, sizeof want, "%s: not a key (expected 64 hex digits)", path);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text (path, bad[i], 0600);
        uint8_t back[32];
        assert_int_equal (pingyi_key_read_secret (path, back, err), -1);
        assert_string_equal (err, want);
    }
    /* Without the newline, and in capitals, it is a key.  */
    uint8_t back[32];
    write_text (path, "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff", 0600);
    assert_int_equal (pingyi_key_read_secret (path, back, err), 0);
    assert_int_equal (back[5], 0x55);
    assert_int_equal (back[10], 0xaa);

    path_of (path, sizeof path, "missing.secret");
    assert_int_equal (pingyi_key_read_secret (path, back, err), -1);
    snprintf (want, sizeof want, "%s: cannot open: No such file or directory", path);
    assert_string_equal (err, want);

    char sub[128];
    path_of (sub, sizeof sub, "a-directory");
    assert_int_equal (mkdir (sub, 0700), 0);
    assert_int_equal (pingyi_key_read_secret (sub, back, err), -1);
    snprintf (want, sizeof want, "%s: not a regular file", sub);
    assert_string_equal (err, want);

    /* A FIFO is refused at once, not waited on.  */
    char fifo[128];
    path_of (fifo, sizeof fifo, "a-fifo");
    assert_int_equal (mkfifo (fifo, 0600), 0);
    assert_int_equal (pingyi_key_read_secret (fifo, back, err), -1);
    snprintf (want, sizeof want, "%s: not a regular file", fifo);
    assert_string_equal (err, want);
}

static void
test_public_key (void **state)
{
    uint8_t pk[32], sk[32], derived[32];
    crypto_box_keypair (pk, sk);
    pingyi_key_public (derived, sk);
    assert_memory_equal (derived, pk, 32);
    uint8_t direct[32];
    assert_int_equal (crypto_scalarmult_base (direct, sk), 0);
    assert_memory_equal (derived, direct, 32);
}

/* -------------------------------------------------------------------------
   Keyring  */

static const char *
hex_of (char out[65], uint8_t fill)
{
    uint8_t k[32];
    memset (k, fill, 32);
    pingyi_hex (out, k, 32);
    return out;
}

static void
test_keyring_parse_and_lookup (void **state)
{
    char h1[65], h2[65], h3[65], h4[65], h5[65], h6[65], h7[65], h8[65];
    char text[4096], path[128], err[PINGYI_ERR_MAX];
    snprintf (text, sizeof text,
              "# pingyi keyring: role, name, curve public key, box public key\n"
              "\n"
              "broker\tbroker\t%s\t-\n"
              "worker\t0\t%s\t-\r\n"
              "worker\t1\t%s\t-\n"
              "   \n"
              "aggregator\taggregator\t%s\t-\n"
              "operator\tops\t%s\t-\n"
              "# venues\n"
              "venue\tv01\t%s\t%s\n"
              "shard\t0\t-\t%s", /* no final newline */
              hex_of (h1, 1), hex_of (h2, 2), hex_of (h3, 3), hex_of (h4, 4), hex_of (h5, 5), hex_of (h6, 6),
              hex_of (h7, 7), hex_of (h8, 8));
    path_of (path, sizeof path, "keyring.tsv");
    write_text (path, text, 0644);
    pingyi_keyring_t *ring = pingyi_keyring_load (path, err);
    if (!ring)
        print_error ("%s\n", err);
    assert_non_null (ring);
    assert_int_equal (pingyi_keyring_size (ring), 7);

    const pingyi_keyring_entry_t *e = pingyi_keyring_at (ring, 0);
    assert_int_equal (e->role, PINGYI_ROLE_BROKER);
    assert_string_equal (e->name, "broker");
    assert_true (e->has_curve);
    assert_false (e->has_box);
    assert_null (pingyi_keyring_at (ring, 7));

    uint8_t k[32];
    memset (k, 3, 32);
    e = pingyi_keyring_by_curve (ring, k);
    assert_non_null (e);
    assert_int_equal (e->role, PINGYI_ROLE_WORKER);
    assert_string_equal (e->name, "1");
    for (uint8_t fill = 1; fill <= 6; fill++) {
        memset (k, fill, 32);
        e = pingyi_keyring_by_curve (ring, k);
        assert_non_null (e);
        assert_int_equal (e->curve[0], fill);
    }
    memset (k, 7, 32); /* a box key is not a curve key */
    assert_null (pingyi_keyring_by_curve (ring, k));
    memset (k, 8, 32);
    assert_null (pingyi_keyring_by_curve (ring, k));
    memset (k, 9, 32);
    assert_null (pingyi_keyring_by_curve (ring, k));

    e = pingyi_keyring_find (ring, PINGYI_ROLE_VENUE, "v01");
    assert_non_null (e);
    assert_true (e->has_curve && e->has_box);
    assert_int_equal (e->curve[31], 6);
    assert_int_equal (e->box[0], 7);
    e = pingyi_keyring_find (ring, PINGYI_ROLE_WORKER, NULL);
    assert_non_null (e);
    assert_string_equal (e->name, "0"); /* the first worker; its CR was stripped */
    assert_int_equal (e->curve[0], 2);
    e = pingyi_keyring_find (ring, PINGYI_ROLE_SHARD, NULL);
    assert_non_null (e);
    assert_string_equal (e->name, "0");
    assert_false (e->has_curve);
    assert_true (e->has_box);
    assert_int_equal (e->box[0], 8);
    assert_ptr_equal (pingyi_keyring_shard_public (ring, 0), e->box);
    assert_null (pingyi_keyring_shard_public (ring, 1));
    /* Workers without a fifth column are assigned nothing.  */
    e = pingyi_keyring_find (ring, PINGYI_ROLE_WORKER, "1");
    for (uint32_t s = 0; s < 256; s++)
        assert_false (pingyi_keyring_assigned (e, s));
    assert_null (pingyi_keyring_find (ring, PINGYI_ROLE_VENUE, "v02"));
    assert_null (pingyi_keyring_find (ring, PINGYI_ROLE_WORKER, "v01"));

    pingyi_keyring_destroy (&ring);
    assert_null (ring);
    pingyi_keyring_destroy (&ring); /* safe twice */

    /* An empty keyring is valid (and finds nothing).  */
    write_text (path, "# nothing yet\n", 0644);
    ring = pingyi_keyring_load (path, err);
    assert_non_null (ring);
    assert_int_equal (pingyi_keyring_size (ring), 0);
    assert_null (pingyi_keyring_by_curve (ring, k));
    pingyi_keyring_destroy (&ring);
}

static void
test_keyring_bad_lines (void **state)
{
    char a[65], b[65], c[65];
    hex_of (a, 0xaa);
    hex_of (b, 0xbb);
    hex_of (c, 0xcc);
    char good[128];
    snprintf (good, sizeof good, "# header\nbroker\tbroker\t%s\t-\n", a); /* lines 1-2 */
    struct {
        char line[512];
        const char *reason;
    } cases[24];
    int n = 0;
#define COLUMNS                                                                                              \
    "expected 4 tab-separated columns (role, name, curve key, box key) and, for a worker, a fifth (its "     \
    "shards), got "
    snprintf (cases[n].line, 512, "worker\t0\t%s\n", b);
    cases[n++].reason = COLUMNS "3";
    snprintf (cases[n].line, 512, "worker\t0\t%s\t-\t0-3\textra\n", b);
    cases[n++].reason = COLUMNS "6";
    snprintf (cases[n].line, 512, "worker 0 %s -\n", b);
    cases[n++].reason = COLUMNS "1";
    snprintf (cases[n].line, 512, "wizard\t0\t%s\t-\n", b);
    cases[n++].reason = "unknown role \"wizard\" (want broker, worker, aggregator, operator, venue or shard)";
    snprintf (cases[n].line, 512, "election\telection\t-\t%s\n", b); /* version 1's role */
    cases[n++].reason =
        "unknown role \"election\" (want broker, worker, aggregator, operator, venue or shard)";
    snprintf (cases[n].line, 512, "worker\t\t%s\t-\n", b);
    cases[n++].reason = "name length 0 (must be 1..64)";
    snprintf (cases[n].line, 512, "worker\t%065d\t%s\t-\n", 0, b);
    cases[n++].reason = "name length 65 (must be 1..64)";
    snprintf (cases[n].line, 512, "worker\tw\x01\t%s\t-\n", b);
    cases[n++].reason = "name contains a control character";
    snprintf (cases[n].line, 512, "worker\t0\t%.63s\t-\n", b);
    cases[n++].reason = "curve key is neither 64 hex digits nor -";
    snprintf (cases[n].line, 512, "worker\t0\t%sx\t-\n", b);
    cases[n++].reason = "curve key is neither 64 hex digits nor -";
    snprintf (cases[n].line, 512, "venue\tv01\t%s\tnope\n", b);
    cases[n++].reason = "box key is neither 64 hex digits nor -";
    snprintf (cases[n].line, 512, "worker\t0\t-\t-\n");
    cases[n++].reason = "a worker entry needs a curve key";
    snprintf (cases[n].line, 512, "venue\tv01\t%s\t-\n", b);
    cases[n++].reason = "a venue entry needs a box key";
    snprintf (cases[n].line, 512, "shard\t3\t-\t-\n");
    cases[n++].reason = "a shard entry needs a box key";
    snprintf (cases[n].line, 512, "broker\tbroker\t%s\t-\n", b);
    cases[n++].reason = "duplicate broker broker (first on line 2)";
    snprintf (cases[n].line, 512, "venue\tv09\t%s\t%s\n", a, c);
    cases[n++].reason = "curve key already belongs to broker broker (line 2)";

    char path[128], err[PINGYI_ERR_MAX], text[1024], want[1024];
    path_of (path, sizeof path, "bad-keyring.tsv");
    for (int i = 0; i < n; i++) {
        /* The bad line is line 4, after a blank line 3.  */
        int len = snprintf (text, sizeof text, "%s\n%s", good, cases[i].line);
        assert_true (len > 0 && (size_t) len < sizeof text);
        write_text (path, text, 0644);
        pingyi_keyring_t *ring = pingyi_keyring_load (path, err);
        if (ring)
            print_error ("case %d loaded: %s", i, cases[i].line);
        assert_null (ring);
        snprintf (want, sizeof want, "%s:4: %s", path, cases[i].reason);
        assert_string_equal (err, want);
    }

    /* With several duplicates, the one nearest the top is reported.  */
    snprintf (text, sizeof text, "%svenue\tv1\t%s\t%s\nvenue\tv1\t%s\t%s\nvenue\tv2\t%s\t%s\n", good, b, c, c,
              c, b, c);
    write_text (path, text, 0644);
    assert_null (pingyi_keyring_load (path, err));
    snprintf (want, sizeof want, "%s:4: duplicate venue v1 (first on line 3)", path);
    assert_string_equal (err, want);

    path_of (path, sizeof path, "no-keyring.tsv");
    assert_null (pingyi_keyring_load (path, err));
    snprintf (want, sizeof want, "%s: cannot stat: No such file or directory", path); /* the trust check */
    assert_string_equal (err, want);
}

/*  Lookups stay right with many entries (the curve index is sorted).  */
static void
test_keyring_many (void **state)
{
    char path[128], err[PINGYI_ERR_MAX];
    path_of (path, sizeof path, "big-keyring.tsv");
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    enum { N = 3000 };
    uint8_t curve[32], box[32];
    char hc[65], hb[65];
    for (int i = 0; i < N; i++) {
        crypto_generichash (curve, 32, (const uint8_t *) &i, sizeof i, (const uint8_t *) "c", 1);
        crypto_generichash (box, 32, (const uint8_t *) &i, sizeof i, (const uint8_t *) "b", 1);
        pingyi_hex (hc, curve, 32);
        pingyi_hex (hb, box, 32);
        fprintf (f, "venue\tv%04d\t%s\t%s\n", i, hc, hb);
    }
    fclose (f);
    pingyi_keyring_t *ring = pingyi_keyring_load (path, err);
    assert_non_null (ring);
    assert_int_equal (pingyi_keyring_size (ring), N);
    for (int i = 0; i < N; i++) {
        crypto_generichash (curve, 32, (const uint8_t *) &i, sizeof i, (const uint8_t *) "c", 1);
        const pingyi_keyring_entry_t *e = pingyi_keyring_by_curve (ring, curve);
        assert_non_null (e);
        char name[16];
        snprintf (name, sizeof name, "v%04d", i);
        assert_string_equal (e->name, name);
        assert_ptr_equal (pingyi_keyring_find (ring, PINGYI_ROLE_VENUE, name), e);
    }
    pingyi_keyring_destroy (&ring);
}

/* -------------------------------------------------------------------------
   Shard lines and a worker's shards (the fifth column)  */

/*  Load a keyring made of `body` after a broker line (line 1); NULL and err
    on refusal.  */
static pingyi_keyring_t *
load_text (const char *body, char *path, size_t cap, char *err)
{
    char a[65], text[8192];
    snprintf (text, sizeof text, "broker\tbroker\t%s\t-\n%s", hex_of (a, 0xaa), body);
    snprintf (path, cap, "%s/shard-keyring.tsv", dir);
    write_text (path, text, 0644);
    return pingyi_keyring_load (path, err);
}

static void
test_shard_lines (void **state)
{
    char b[65], c[65], d[65], body[1024], path[128], err[PINGYI_ERR_MAX], want[1024];
    snprintf (body, sizeof body, "shard\t0\t-\t%s\nshard\t7\t-\t%s\nshard\t255\t-\t%s\n", hex_of (b, 0xb0),
              hex_of (c, 0xb7), hex_of (d, 0xbf));
    pingyi_keyring_t *ring = load_text (body, path, sizeof path, err);
    if (!ring)
        print_error ("%s\n", err);
    assert_non_null (ring);
    const uint8_t *k = pingyi_keyring_shard_public (ring, 0);
    assert_non_null (k);
    assert_int_equal (k[0], 0xb0);
    assert_int_equal (pingyi_keyring_shard_public (ring, 7)[31], 0xb7);
    assert_int_equal (pingyi_keyring_shard_public (ring, 255)[0], 0xbf);
    assert_null (pingyi_keyring_shard_public (ring, 1));
    assert_null (pingyi_keyring_shard_public (ring, 256));
    assert_null (pingyi_keyring_shard_public (ring, UINT32_MAX));
    assert_null (pingyi_keyring_shard_public (NULL, 0));
    /* A shard has no CURVE key: it never connects, so ZAP never finds it.  */
    uint8_t box[32];
    memset (box, 0xb0, 32);
    assert_null (pingyi_keyring_by_curve (ring, box));
    pingyi_keyring_destroy (&ring);

    /* A shard line is named by its number, written plainly.  */
    static const char *const bad_names[] = {"01", "256", "-1", "x", "1a", "+1", " 1", "00", "1000"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        snprintf (body, sizeof body, "shard\t%s\t-\t%s\n", bad_names[i], b);
        assert_null (load_text (body, path, sizeof path, err));
        snprintf (want, sizeof want, "%s:2: a shard line is named by its number 0..255, not \"%s\"", path,
                  bad_names[i]);
        assert_string_equal (err, want);
    }
    snprintf (body, sizeof body, "shard\t3\t-\t-\n");
    assert_null (load_text (body, path, sizeof path, err));
    snprintf (want, sizeof want, "%s:2: a shard entry needs a box key", path);
    assert_string_equal (err, want);
    snprintf (body, sizeof body, "shard\t3\t-\t%s\nshard\t3\t-\t%s\n", b, c);
    assert_null (load_text (body, path, sizeof path, err));
    snprintf (want, sizeof want, "%s:3: duplicate shard 3 (first on line 2)", path);
    assert_string_equal (err, want);
    snprintf (body, sizeof body, "shard\t3\t-\t%s\t0-3\n", b);
    assert_null (load_text (body, path, sizeof path, err));
    snprintf (want, sizeof want, "%s:2: only a worker line has a fifth column (its shards)", path);
    assert_string_equal (err, want);
}

static void
test_worker_shard_column (void **state)
{
    char w1[65], w2[65], w3[65], w4[65], w5[65], body[2048], path[128], err[PINGYI_ERR_MAX];
    snprintf (body, sizeof body,
              "worker\t1\t%s\t-\t0-3,6\n"
              "worker\t2\t%s\t-\t-\n"
              "worker\t3\t%s\t-\t255\n"
              "worker\t4\t%s\t-\t0-255\n"
              "worker\t5\t%s\t-\t9,4-5,4,7-7\n",
              hex_of (w1, 0x01), hex_of (w2, 0x02), hex_of (w3, 0x03), hex_of (w4, 0x04), hex_of (w5, 0x05));
    pingyi_keyring_t *ring = load_text (body, path, sizeof path, err);
    if (!ring)
        print_error ("%s\n", err);
    assert_non_null (ring);
    const pingyi_keyring_entry_t *e1 = pingyi_keyring_find (ring, PINGYI_ROLE_WORKER, "1"),
                                 *e2 = pingyi_keyring_find (ring, PINGYI_ROLE_WORKER, "2"),
                                 *e3 = pingyi_keyring_find (ring, PINGYI_ROLE_WORKER, "3"),
                                 *e4 = pingyi_keyring_find (ring, PINGYI_ROLE_WORKER, "4"),
                                 *e5 = pingyi_keyring_find (ring, PINGYI_ROLE_WORKER, "5");
    assert_non_null (e1);
    for (uint32_t s = 0; s < 256; s++) {
        assert_int_equal (pingyi_keyring_assigned (e1, s), s <= 3 || s == 6);
        assert_false (pingyi_keyring_assigned (e2, s));
        assert_int_equal (pingyi_keyring_assigned (e3, s), s == 255);
        assert_true (pingyi_keyring_assigned (e4, s));
        assert_int_equal (pingyi_keyring_assigned (e5, s), s == 4 || s == 5 || s == 7 || s == 9);
    }
    assert_false (pingyi_keyring_assigned (e4, 256));
    assert_false (pingyi_keyring_assigned (e4, UINT32_MAX));
    assert_false (pingyi_keyring_assigned (NULL, 0));
    /* Only a worker is ever assigned shards.  */
    const pingyi_keyring_entry_t *broker = pingyi_keyring_find (ring, PINGYI_ROLE_BROKER, NULL);
    assert_false (pingyi_keyring_assigned (broker, 0));
    pingyi_keyring_destroy (&ring);

    /* Every bad form, with its exact message (line 2, after the broker).  */
    static const struct {
        const char *list;
        bool range; /* the "0..255, low before high" message, else the "want e.g." one */
    } bad[] = {
        {"a", false},
        {"1-", false},
        {"-3", false},
        {"--", false},
        {"0,", false},
        {",0", false},
        {"0,,1", false},
        {"1 ", false},
        {" 1", false},
        {"+1", false},
        {"0x1", false},
        {"1-2-3", false},
        {"1-a", false},
        {"1;2", false},
        {"3-1", true},
        {"256", true},
        {"0-256", true},
        {"255-0", true},
        {"999999999999999", true},
        {"9999999999999999", false}, /* 16 characters: longer than any item can be */
    };
    char want[1024];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf (body, sizeof body, "worker\t1\t%s\t-\t%s\n", w1, bad[i].list);
        ring = load_text (body, path, sizeof path, err);
        if (ring)
            print_error ("shard list \"%s\" was accepted\n", bad[i].list);
        assert_null (ring);
        if (bad[i].range)
            snprintf (want, sizeof want, "%s:2: shard list \"%s\": shards are 0..255, low before high", path,
                      bad[i].list);
        else
            snprintf (want, sizeof want, "%s:2: bad shard list \"%s\" (want e.g. 0-3,6)", path, bad[i].list);
        assert_string_equal (err, want);
    }
    /* A long list is quoted only in part (its first 40 bytes).  */
    snprintf (body, sizeof body, "worker\t1\t%s\t-\t0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,x\n", w1);
    assert_null (load_text (body, path, sizeof path, err));
    snprintf (want, sizeof want,
              "%s:2: bad shard list \"0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16\" (want e.g. 0-3,6)", path);
    assert_string_equal (err, want);
}

static void
test_shard_list_parse_and_format (void **state)
{
    static const struct {
        const char *in, *formatted;
    } cases[] = {
        {"-", "-"},         {"0", "0"},     {"0-3,6", "0-3,6"}, {"6,0-3", "0-3,6"}, {"1,2,3", "1-3"},
        {"0-255", "0-255"}, {"255", "255"}, {"7-7", "7"},       {"0,2,4", "0,2,4"}, {"0-3,2-5", "0-5"},
    };
    char err[PINGYI_ERR_MAX], out[1024];
    uint8_t shards[32], again[32];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal (pingyi_shard_list_parse (cases[i].in, strlen (cases[i].in), shards, err), 0);
        pingyi_shard_list_format (out, sizeof out, shards);
        assert_string_equal (out, cases[i].formatted);
        assert_int_equal (pingyi_shard_list_parse (out, strlen (out), again, err), 0);
        assert_memory_equal (again, shards, 32);
    }
    /* Every other shard: the longest list there is, 128 items.  */
    memset (shards, 0x55, 32);
    pingyi_shard_list_format (out, sizeof out, shards);
    assert_int_equal (strncmp (out, "0,2,4,", 6), 0);
    assert_int_equal (pingyi_shard_list_parse (out, strlen (out), again, err), 0);
    assert_memory_equal (again, shards, 32);
    /* The parse error alone names the list (the keyring adds FILE:LINE).  */
    assert_int_equal (pingyi_shard_list_parse ("1-", 2, shards, err), -1);
    assert_string_equal (err, "bad shard list \"1-\" (want e.g. 0-3,6)");
}

/* -------------------------------------------------------------------------
   Who owns a file, and who may write it  */

static void
test_secret_owned_by_another_user (void **state)
{
    if (geteuid () != 0)
        skip (); /* only root can give a file away */
    char path[128], err[PINGYI_ERR_MAX], want[1024];
    path_of (path, sizeof path, "foreign.secret");
    uint8_t secret[32], back[32];
    memset (secret, 0x5e, 32);
    assert_int_equal (pingyi_key_write_secret (path, secret, err), 0);
    assert_int_equal (pingyi_key_read_secret (path, back, err), 0);
    assert_int_equal (chown (path, 65534, (gid_t) -1), 0);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 07777, 0600); /* the mode is fine: the owner is not */
    memset (back, 0, 32);
    assert_int_equal (pingyi_key_read_secret (path, back, err), -1);
    snprintf (want, sizeof want,
              "%s: owned by uid 65534, not by this process's user (uid 0); a secret key must belong to the "
              "user that uses it: run: chown 0 %s",
              path, path);
    assert_string_equal (err, want);
    static const uint8_t zero[32];
    assert_memory_equal (back, zero, 32); /* nothing was read */
    /* A bad mode is reported first: it is the bigger leak.  */
    assert_int_equal (chmod (path, 0640), 0);
    assert_int_equal (pingyi_key_read_secret (path, back, err), -1);
    snprintf (want, sizeof want, "%s: mode 0640 lets others read this secret key; run: chmod 600 %s", path,
              path);
    assert_string_equal (err, want);
    /* Given back, it is read again.  */
    assert_int_equal (chmod (path, 0600), 0);
    assert_int_equal (chown (path, 0, (gid_t) -1), 0);
    assert_int_equal (pingyi_key_read_secret (path, back, err), 0);
    assert_memory_equal (back, secret, 32);
}

static void
test_trusted_files (void **state)
{
    char path[128], err[PINGYI_ERR_MAX], want[1024], a[65], text[256];
    path_of (path, sizeof path, "trusted-keyring.tsv");
    snprintf (text, sizeof text, "broker\tbroker\t%s\t-\n", hex_of (a, 0xaa));
    static const mode_t refused[] = {0664, 0646, 0666, 0620, 0602, 0777, 0660};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        write_text (path, text, refused[i]);
        assert_null (pingyi_keyring_load (path, err));
        snprintf (want, sizeof want,
                  "%s: mode %04o lets others change who may connect and what is counted; run: chmod go-w %s",
                  path, (unsigned) refused[i], path);
        assert_string_equal (err, want);
        assert_int_equal (pingyi_check_trusted_file (path, err), -1);
        assert_string_equal (err, want);
    }
    /* Readable by all is fine: the keyring is public.  */
    static const mode_t accepted[] = {0644, 0600, 0444, 0640, 0755};
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        write_text (path, text, accepted[i]);
        assert_int_equal (pingyi_check_trusted_file (path, err), 0);
        pingyi_keyring_t *ring = pingyi_keyring_load (path, err);
        assert_non_null (ring);
        pingyi_keyring_destroy (&ring);
    }
    /* Owned by another (non-root) user: that user could rewrite it.  */
    if (geteuid () == 0) {
        write_text (path, text, 0644);
        assert_int_equal (chown (path, 65534, (gid_t) -1), 0);
        assert_int_equal (pingyi_check_trusted_file (path, err), -1);
        snprintf (want, sizeof want, "%s: owned by uid 65534, neither this process's user (uid 0) nor root",
                  path);
        assert_string_equal (err, want);
        assert_null (pingyi_keyring_load (path, err));
        assert_string_equal (err, want);
        assert_int_equal (chown (path, 0, (gid_t) -1), 0);
    }
    path_of (path, sizeof path, "no-such-file.tsv");
    assert_int_equal (pingyi_check_trusted_file (path, err), -1);
    snprintf (want, sizeof want, "%s: cannot stat: No such file or directory", path);
    assert_string_equal (err, want);
}

/* -------------------------------------------------------------------------
   `pingyi init` and the bundles  */

static bool
exists (const char *fmt, const char *a, unsigned b)
{
    char path[512];
    snprintf (path, sizeof path, fmt, a, b);
    return access (path, F_OK) == 0;
}

static void
test_init_and_bundles (void **state)
{
    char deploy[128], err[PINGYI_ERR_MAX], want[2048], path[512];
    const char *definition = PINGYI_SOURCE_DIR "/examples/2022-district-review.json"; /* 8 shards, 3 venues */
    path_of (deploy, sizeof deploy, "deploy");
    int rc = pingyi_deploy_init (definition, deploy, 3, err);
    if (rc)
        print_error ("%s\n", err);
    assert_int_equal (rc, 0);
    /* Again: refused, nothing replaced.  */
    assert_int_equal (pingyi_deploy_init (definition, deploy, 3, err), -1);
    snprintf (want, sizeof want, "%s: already exists; refusing to overwrite a deploy directory", deploy);
    assert_string_equal (err, want);

    /* Version 1's single election key is gone.  */
    assert_false (exists ("%s/election.pub", deploy, 0));
    assert_false (exists ("%s/worker/1/election.secret", deploy, 0));

    /* 3 workers over 8 shards, in blocks: 0-1, 2-4, 5-7.  */
    static const uint32_t first[] = {0, 2, 5, 8};
    for (unsigned w = 1; w <= 3; w++)
        for (unsigned s = 0; s < 10; s++) {
            char fmt[64];
            snprintf (fmt, sizeof fmt, "%%s/worker/%%u/shard-%02u.secret", s);
            assert_int_equal (exists (fmt, deploy, w), s >= first[w - 1] && s < first[w]);
        }
    for (unsigned s = 0; s < 10; s++) {
        char fmt[64];
        snprintf (fmt, sizeof fmt, "%%s/recount/shard-%02u.secret", s);
        assert_int_equal (exists (fmt, deploy, 0), s < 8);
    }
    assert_false (exists ("%s/recount/curve.secret", deploy, 0)); /* never on the network */
    assert_false (exists ("%s/broker/shard-00.secret", deploy, 0));
    assert_false (exists ("%s/aggregator/shard-00.secret", deploy, 0));
    assert_false (exists ("%s/venue/v01/shard-00.secret", deploy, 0));

    snprintf (path, sizeof path, "%s/keyring.tsv", deploy);
    pingyi_keyring_t *ring = pingyi_keyring_load (path, err);
    assert_non_null (ring);
    for (unsigned w = 1; w <= 3; w++) {
        char name[8];
        snprintf (name, sizeof name, "%u", w);
        const pingyi_keyring_entry_t *e = pingyi_keyring_find (ring, PINGYI_ROLE_WORKER, name);
        assert_non_null (e);
        for (uint32_t s = 0; s < 256; s++)
            assert_int_equal (pingyi_keyring_assigned (e, s), s >= first[w - 1] && s < first[w]);
    }
    for (uint32_t s = 0; s < 8; s++)
        assert_non_null (pingyi_keyring_shard_public (ring, s));
    assert_null (pingyi_keyring_shard_public (ring, 8));

    /* A worker bundle holds exactly its shards' secrets, each matching
       its shard line.  */
    pingyi_bundle_t *worker[4] = {NULL};
    for (unsigned w = 1; w <= 3; w++) {
        char name[8];
        snprintf (name, sizeof name, "%u", w);
        worker[w] = pingyi_bundle_load (deploy, PINGYI_ROLE_WORKER, name, err);
        if (!worker[w])
            print_error ("%s\n", err);
        assert_non_null (worker[w]);
        for (uint32_t s = 0; s < 256; s++) {
            bool mine = s >= first[w - 1] && s < first[w];
            assert_int_equal (pingyi_bundle_has_shard (worker[w], s), mine);
            if (mine) {
                uint8_t pub[32];
                pingyi_key_public (pub, worker[w]->shard_secrets[s]);
                assert_memory_equal (pub, pingyi_keyring_shard_public (ring, s), 32);
            }
        }
        assert_false (worker[w]->has_box_secret);
    }
    /* The recount bundle holds all of them, and no network key.  */
    pingyi_bundle_t *recount = pingyi_bundle_load (deploy, PINGYI_ROLE_SHARD, NULL, err);
    if (!recount)
        print_error ("%s\n", err);
    assert_non_null (recount);
    for (uint32_t s = 0; s < 256; s++)
        assert_int_equal (pingyi_bundle_has_shard (recount, s), s < 8);
    for (uint32_t s = 0; s < 8; s++) {
        unsigned w = s < 2 ? 1 : s < 5 ? 2 : 3;
        assert_memory_equal (recount->shard_secrets[s], worker[w]->shard_secrets[s], 32);
    }
    static const uint8_t zero[32];
    assert_memory_equal (recount->curve_secret, zero, 32);

    /* A venue seals to its own shard's key, and the worker of that shard
       (and only it) derives the same envelope key.  */
    static const char *const venues[] = {"v01", "v02", "v03"};
    for (size_t v = 0; v < 3; v++) {
        pingyi_bundle_t *venue = pingyi_bundle_load (deploy, PINGYI_ROLE_VENUE, venues[v], err);
        if (!venue)
            print_error ("%s\n", err);
        assert_non_null (venue);
        assert_true (venue->has_box_secret);
        int index = pingyi_election_venue (venue->election, venues[v], 3);
        assert_true (index >= 0);
        uint32_t shard = venue->election->venues[index].shard;
        assert_true (shard < 8);
        assert_memory_equal (venue->shard_public, pingyi_keyring_shard_public (ring, shard), 32);
        for (uint32_t s = 0; s < 256; s++)
            assert_false (pingyi_bundle_has_shard (venue, s));
        const pingyi_keyring_entry_t *ve = pingyi_keyring_find (ring, PINGYI_ROLE_VENUE, venues[v]);
        assert_non_null (ve);
        uint8_t k_venue[32], k_worker[32], k_other[32];
        assert_int_equal (pingyi_envelope_key (k_venue, venue->shard_public, venue->box_secret), 0);
        unsigned w = shard < 2 ? 1 : shard < 5 ? 2 : 3;
        assert_int_equal (pingyi_envelope_key (k_worker, ve->box, worker[w]->shard_secrets[shard]), 0);
        assert_memory_equal (k_venue, k_worker, 32);
        uint32_t other = (shard + 1) % 8;
        assert_int_equal (pingyi_envelope_key (k_other, ve->box, recount->shard_secrets[other]), 0);
        assert_memory_not_equal (k_venue, k_other, 32);
        pingyi_bundle_destroy (&venue);
    }
    for (unsigned w = 1; w <= 3; w++)
        pingyi_bundle_destroy (&worker[w]);
    pingyi_bundle_destroy (&recount);

    /* A worker whose shard secret is missing does not start.  */
    snprintf (path, sizeof path, "%s/worker/2/shard-03.secret", deploy);
    char moved[600];
    snprintf (moved, sizeof moved, "%s.away", path);
    assert_int_equal (rename (path, moved), 0);
    assert_null (pingyi_bundle_load (deploy, PINGYI_ROLE_WORKER, "2", err));
    snprintf (want, sizeof want, "%s: cannot open: No such file or directory", path);
    assert_string_equal (err, want);
    /* Nor one whose shard secret is another shard's.  */
    char other[512];
    snprintf (other, sizeof other, "%s/recount/shard-05.secret", deploy);
    char cmd[1400];
    snprintf (cmd, sizeof cmd, "cp -p '%s' '%s'", other, path);
    assert_int_equal (system (cmd), 0);
    assert_null (pingyi_bundle_load (deploy, PINGYI_ROLE_WORKER, "2", err));
    snprintf (want, sizeof want, "%s: key does not match the keyring's entry for shard 3", path);
    assert_string_equal (err, want);
    assert_int_equal (unlink (path), 0);
    assert_int_equal (rename (moved, path), 0);

    /* A definition anyone in the group may change is refused.  */
    snprintf (path, sizeof path, "%s/worker/1/election.json", deploy);
    assert_int_equal (chmod (path, 0664), 0);
    assert_null (pingyi_bundle_load (deploy, PINGYI_ROLE_WORKER, "1", err));
    snprintf (want, sizeof want,
              "%s: mode 0664 lets others change who may connect and what is counted; run: chmod go-w %s",
              path, path);
    assert_string_equal (err, want);
    assert_int_equal (chmod (path, 0644), 0);
    /* So is such a keyring.  */
    snprintf (path, sizeof path, "%s/worker/1/keyring.tsv", deploy);
    assert_int_equal (chmod (path, 0646), 0);
    assert_null (pingyi_bundle_load (deploy, PINGYI_ROLE_WORKER, "1", err));
    snprintf (want, sizeof want,
              "%s: mode 0646 lets others change who may connect and what is counted; run: chmod go-w %s",
              path, path);
    assert_string_equal (err, want);
    assert_int_equal (chmod (path, 0644), 0);
    pingyi_bundle_t *again = pingyi_bundle_load (deploy, PINGYI_ROLE_WORKER, "1", err);
    assert_non_null (again);
    pingyi_bundle_destroy (&again);
    pingyi_keyring_destroy (&ring);
}

/*  More workers than shards: each stands by for one shard (worker i for
    shard (i-1) mod S), and holds that shard's secret only.  */
static void
test_init_more_workers_than_shards (void **state)
{
    char deploy[128], err[PINGYI_ERR_MAX];
    path_of (deploy, sizeof deploy, "deploy-many");
    assert_int_equal (
        pingyi_deploy_init (PINGYI_SOURCE_DIR "/examples/2022-district-review.json", deploy, 10, err), 0);
    for (unsigned w = 1; w <= 10; w++) {
        char name[8];
        snprintf (name, sizeof name, "%u", w);
        pingyi_bundle_t *b = pingyi_bundle_load (deploy, PINGYI_ROLE_WORKER, name, err);
        if (!b)
            print_error ("%s\n", err);
        assert_non_null (b);
        for (uint32_t s = 0; s < 256; s++)
            assert_int_equal (pingyi_bundle_has_shard (b, s), s == (w - 1) % 8);
        pingyi_bundle_destroy (&b);
    }
    char gone[128];
    path_of (gone, sizeof gone, "deploy-zero");
    assert_int_equal (
        pingyi_deploy_init (PINGYI_SOURCE_DIR "/examples/2022-district-review.json", gone, 0, err), -1);
    assert_string_equal (err, "--workers 0: must be 1..256");
}

/*  Entries of the test directory whose names start with prefix.  */
static size_t
count_prefixed (const char *prefix)
{
    DIR *d = opendir (dir);
    assert_non_null (d);
    size_t n = 0;
    for (struct dirent *de; (de = readdir (d));)
        n += strncmp (de->d_name, prefix, strlen (prefix)) == 0;
    closedir (d);
    return n;
}

/*  Files larger than limit bytes fail with EFBIG (SIGXFSZ ignored) while
    fn runs: a disk that fills up half way through.  */
static int
with_file_limit (rlim_t limit, int (*fn) (const char *, const char *, char *), const char *a, const char *b,
                 char *err)
{
    struct rlimit was, now;
    assert_int_equal (getrlimit (RLIMIT_FSIZE, &was), 0);
    now = was;
    now.rlim_cur = limit;
    void (*old) (int) = signal (SIGXFSZ, SIG_IGN);
    assert_int_equal (setrlimit (RLIMIT_FSIZE, &now), 0);
    int rc = fn (a, b, err);
    assert_int_equal (setrlimit (RLIMIT_FSIZE, &was), 0);
    signal (SIGXFSZ, old);
    return rc;
}

static int
init_3 (const char *definition, const char *deploy, char *err)
{
    return pingyi_deploy_init (definition, deploy, 3, err);
}

/*  pingyi init writes DIR.tmp-XXXXXX and renames it at the end: a
    failure half way (here: a file too large for the disk's limit, after
    the first bundles are written) leaves neither DIR nor the temporary
    directory, and its secrets are gone with it.  Success leaves DIR only,
    mode 0755 less the umask, even when DIR is written with a trailing
    slash.  */
static void
test_init_is_all_or_nothing (void **state)
{
    char deploy[128], err[PINGYI_ERR_MAX], want[PINGYI_ERR_MAX + 256];
    const char *definition = PINGYI_SOURCE_DIR "/examples/2022-district-review.json";
    path_of (deploy, sizeof deploy, "atomic");
    /* A disk full at the first file.  */
    assert_int_equal (with_file_limit (2048, init_3, definition, deploy, err), -1);
    assert_non_null (strstr (err, "/atomic.tmp-"));
    assert_non_null (strstr (err, "/election.json: write failed: File too large"));
    assert_int_equal (count_prefixed ("atomic"), 0);

    /* A failure at the last venue, when every other bundle and its
       secrets are written: a deploy directory so deep that the path of
       venue v03, renamed to 60 bytes, is too long, and the others fit.  */
    char deep[1100], def[1100], *slot;
    path_of (deep, sizeof deep, "deeply");
    assert_int_equal (mkdir (deep, 0700), 0);
    for (int level = 0; level < 4; level++) {
        size_t n = strlen (deep);
        deep[n] = '/';
        memset (deep + n + 1, 'a' + level, 200);
        deep[n + 201] = '\0';
        assert_int_equal (mkdir (deep, 0700), 0);
    }
    snprintf (def, sizeof def, "%s/long-venue.json", dir);
    size_t len;
    char *text = (char *) pingyi_read_file (definition, PINGYI_DEFINITION_MAX, &len, err);
    assert_non_null (text);
    slot = strstr (text, "\"v03\"");
    assert_non_null (slot);
    FILE *f = fopen (def, "w");
    assert_non_null (f);
    fprintf (f, "%.*s\"v03-%056d\"%s", (int) (slot - text), text, 0, slot + 5);
    fclose (f);
    free (text);
    strcat (deep, "/deploy-");
    while (strlen (deep) + strlen (".tmp-XXXXXX") < 1030)
        strcat (deep, "x");
    /* That deep, the example's own ids fit: init succeeds.  */
    int ok = pingyi_deploy_init (definition, deep, 3, err);
    if (ok)
        print_error ("%s\n", err);
    assert_int_equal (ok, 0);
    char cmd[1200];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", deep);
    assert_int_equal (system (cmd), 0);
    /* With v03's long id, only v03's bundle does not: nothing is left.  */
    assert_int_equal (pingyi_deploy_init (def, deep, 3, err), -1);
    assert_int_equal (strncmp (err, "path too long: ", 15), 0);
    *strrchr (deep, '/') = '\0';
    DIR *d = opendir (deep);
    assert_non_null (d);
    for (struct dirent *de; (de = readdir (d));)
        assert_true (!strcmp (de->d_name, ".") || !strcmp (de->d_name, ".."));
    closedir (d);

    /* No parent: nothing made, the message names where it tried.  */
    assert_int_equal (pingyi_deploy_init (definition, "/nonexistent-pingyi/deploy", 3, err), -1);
    assert_string_equal (err, "/nonexistent-pingyi/deploy: cannot create the temporary directory "
                              "/nonexistent-pingyi/deploy.tmp-XXXXXX beside it: No such file or directory");

    /* Success: DIR alone, no temporary directory beside it.  */
    mode_t mask = umask (022);
    snprintf (want, sizeof want, "%s/", deploy);
    int rc = pingyi_deploy_init (definition, want, 3, err);
    umask (mask);
    if (rc)
        print_error ("%s\n", err);
    assert_int_equal (rc, 0);
    assert_int_equal (count_prefixed ("atomic"), 1);
    struct stat st;
    assert_int_equal (stat (deploy, &st), 0);
    assert_int_equal (st.st_mode & 07777, 0755);
    pingyi_bundle_t *b = pingyi_bundle_load (deploy, PINGYI_ROLE_VENUE, "v01", err);
    assert_non_null (b);
    pingyi_bundle_destroy (&b);

    /* The archives are made the same way: refused when OUT exists, and
       nothing at all when they fail half way.  */
    char out[160];
    path_of (out, sizeof out, "atomic-archives");
    assert_int_equal (mkdir (out, 0700), 0);
    assert_int_equal (pingyi_deploy_venue_archives (deploy, out, err), -1);
    snprintf (want, sizeof want, "%s: already exists; refusing to overwrite an archive directory", out);
    assert_string_equal (err, want);
    assert_int_equal (rmdir (out), 0);
    assert_int_equal (with_file_limit (4096, pingyi_deploy_venue_archives, deploy, out, err), -1);
    assert_string_equal (err, "archive entry v01/box.secret: write failed");
    assert_int_equal (count_prefixed ("atomic-archives"), 0);
    assert_int_equal (pingyi_deploy_venue_archives (deploy, out, err), 0);
    assert_int_equal (stat (out, &st), 0);
    assert_int_equal (st.st_mode & 07777, 0700);
    assert_int_equal (count_prefixed ("atomic-archives"), 1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_write_then_read),
        cmocka_unit_test (test_never_overwrites),
        cmocka_unit_test (test_mode_refused_with_the_fix),
        cmocka_unit_test (test_bad_content_refused),
        cmocka_unit_test (test_public_key),
        cmocka_unit_test (test_keyring_parse_and_lookup),
        cmocka_unit_test (test_keyring_bad_lines),
        cmocka_unit_test (test_keyring_many),
        cmocka_unit_test (test_shard_lines),
        cmocka_unit_test (test_worker_shard_column),
        cmocka_unit_test (test_shard_list_parse_and_format),
        cmocka_unit_test (test_secret_owned_by_another_user),
        cmocka_unit_test (test_trusted_files),
        cmocka_unit_test (test_init_and_bundles),
        cmocka_unit_test (test_init_more_workers_than_shards),
        cmocka_unit_test (test_init_is_all_or_nothing),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
