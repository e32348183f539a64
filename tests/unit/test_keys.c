/*  test_keys.c — secret key files (mode 0600, never overwritten, strict
    content) and the keyring (strict lines, FILE:LINE errors, lookups).  */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
              "election\telection\t-\t%s", /* no final newline */
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
    e = pingyi_keyring_find (ring, PINGYI_ROLE_ELECTION, NULL);
    assert_non_null (e);
    assert_false (e->has_curve);
    assert_true (e->has_box);
    assert_int_equal (e->box[0], 8);
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
    } cases[16];
    int n = 0;
    snprintf (cases[n].line, 512, "worker\t0\t%s\n", b);
    cases[n++].reason = "expected 4 tab-separated columns (role, name, curve key, box key), got 3";
    snprintf (cases[n].line, 512, "worker\t0\t%s\t-\textra\n", b);
    cases[n++].reason = "expected 4 tab-separated columns (role, name, curve key, box key), got 5";
    snprintf (cases[n].line, 512, "worker 0 %s -\n", b);
    cases[n++].reason = "expected 4 tab-separated columns (role, name, curve key, box key), got 1";
    snprintf (cases[n].line, 512, "wizard\t0\t%s\t-\n", b);
    cases[n++].reason =
        "unknown role \"wizard\" (want broker, worker, aggregator, operator, venue or election)";
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
    snprintf (cases[n].line, 512, "election\telection\t%s\t-\n", b);
    cases[n++].reason = "an election entry needs a box key";
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
    snprintf (want, sizeof want, "%s: cannot open: No such file or directory", path);
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
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
