/*  fuzz_bundle.c — libFuzzer target: any bytes as a venue bundle, the
    folder a venue host is given (docs/keys.md): its extract of the
    definition (election.json), its keyring lines (keyring.tsv) and its two
    secret keys (curve.secret, box.secret), read by pingyi_bundle_load
    (deploy/deploy.c) as pingyi-client --deploy DIR --venue v01 reads it.
    fuzz_definition and fuzz_keyring take each file alone; here they meet:
    the extract's venue against the bundle's name, the keys against the
    keyring's entries, the venue's shard (from the extract) against the
    keyring's shard lines.

    The input is the four files in that order, separated by the line
    "\n--8<--\n"; a file the input does not reach is absent.  They are
    written (election.json and keyring.tsv mode 0644, the secrets 0600,
    owned by this process's user) under DIR/venue/v01/, DIR a directory
    made once per process with mkdtemp (under /dev/shm when it exists, as
    every input rewrites the files), removed at exit.

    pingyi_bundle_load must never crash, leak or read out of bounds; a
    refusal always says why.  A bundle it accepts keeps its promises: the
    venue bundle of v01, an election that knows venue v01 (an extract is
    v01's), a keyring with v01's CURVE key matching curve.secret and its box
    key matching box.secret, the broker's key, and shard_public the
    keyring's box key of the venue's shard.  A broken promise aborts.

    Seeds (tests/fuzz/corpus/bundle): the v01 bundle `pingyi init` made for
    the example election, and copies with one file changed or missing.  */
#define _GNU_SOURCE
#include "deploy.h"
#include "keys.h"

#include <errno.h>
#include <ftw.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEP "\n--8<--\n"

static char root[128], bundle[256];

static int
rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove (path);
}

static void
remove_root (void)
{
    if (root[0])
        nftw (root, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void
make_root (void)
{
    struct stat st;
    snprintf (root, sizeof root, "%s/fuzz_bundle.XXXXXX",
              stat ("/dev/shm", &st) == 0 && S_ISDIR (st.st_mode) && access ("/dev/shm", W_OK) == 0 ? "/dev/shm"
                                                                                                    : "/tmp");
    if (!mkdtemp (root)) {
        fprintf (stderr, "fuzz_bundle: cannot create %s: %s\n", root, strerror (errno));
        abort ();
    }
    atexit (remove_root);
    snprintf (bundle, sizeof bundle, "%s/venue", root);
    if (mkdir (bundle, 0700) != 0)
        abort ();
    snprintf (bundle, sizeof bundle, "%s/venue/v01", root);
    if (mkdir (bundle, 0700) != 0)
        abort ();
}

static void
put_file (const char *name, const uint8_t *p, size_t len, bool present, mode_t mode)
{
    char path[512];
    snprintf (path, sizeof path, "%s/%s", bundle, name);
    unlink (path);
    if (!present)
        return;
    FILE *f = fopen (path, "wb");
    if (!f || (len && fwrite (p, 1, len, f) != len) || fclose (f) != 0 || chmod (path, mode) != 0)
        abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!root[0])
        make_root ();
    static const char *const names[4] = {"election.json", "keyring.tsv", "curve.secret", "box.secret"};
    static const mode_t modes[4] = {0644, 0644, 0600, 0600};
    const uint8_t *at = data, *end = data + size;
    bool present = true;
    for (int i = 0; i < 4; i++) {
        const uint8_t *sep = present ? memmem (at, (size_t) (end - at), SEP, strlen (SEP)) : NULL;
        const uint8_t *stop = sep ? sep : end;
        put_file (names[i], at, present ? (size_t) (stop - at) : 0, present, modes[i]);
        if (sep)
            at = sep + strlen (SEP);
        else
            present = false;
    }
    char err[PINGYI_ERR_MAX];
    err[0] = '\0';
    pingyi_bundle_t *b = pingyi_bundle_load (root, PINGYI_ROLE_VENUE, "v01", err);
    if (!b) {
        if (!err[0])
            abort (); /* a refusal always says why */
        return 0;
    }
    const pingyi_election_t *e = b->election;
    int v = pingyi_election_venue (e, "v01", 3);
    if (b->role != PINGYI_ROLE_VENUE || strcmp (b->name, "v01") != 0 || !e || !b->keyring || v < 0 ||
        (e->extract && (size_t) v != e->extract_venue) || !b->has_box_secret)
        abort ();
    const pingyi_keyring_entry_t *me = pingyi_keyring_find (b->keyring, PINGYI_ROLE_VENUE, "v01");
    uint8_t pub[PINGYI_KEY_LEN];
    if (!me || !me->has_curve || !me->has_box)
        abort ();
    pingyi_key_public (pub, b->curve_secret);
    if (memcmp (pub, me->curve, PINGYI_KEY_LEN) != 0 || memcmp (pub, b->curve_public, PINGYI_KEY_LEN) != 0)
        abort ();
    pingyi_key_public (pub, b->box_secret);
    if (memcmp (pub, me->box, PINGYI_KEY_LEN) != 0)
        abort ();
    const uint8_t *shard = pingyi_keyring_shard_public (b->keyring, e->venues[v].shard);
    if (!shard || memcmp (shard, b->shard_public, PINGYI_KEY_LEN) != 0)
        abort ();
    const pingyi_keyring_entry_t *broker = pingyi_keyring_find (b->keyring, PINGYI_ROLE_BROKER, NULL);
    if (!broker || memcmp (broker->curve, b->broker_public, PINGYI_KEY_LEN) != 0)
        abort ();
    pingyi_bundle_destroy (&b);
    return 0;
}
