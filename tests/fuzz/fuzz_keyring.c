/*  fuzz_keyring.c — libFuzzer target: any bytes as keyring.tsv.

    The loader reads a file and refuses one that group or others may write
    or that another user owns (pingyi_check_trusted_file), so the input is
    written to a temporary file of mode 0644 owned by this process's user:
    created once per process under /tmp with mkstemp, rewritten for every
    input, removed at exit.

    pingyi_keyring_load must never crash, leak or read out of bounds; a
    refusal always has a reason, and that reason starts with the path (and
    a line number, when it names one, lies within the input).  A keyring it
    accepts keeps its promises: every entry has a valid role, a name of
    1..PINGYI_NAME_MAX bytes without control characters and the keys its
    role needs; every entry looks itself up by (role, name), and by CURVE key
    when it has one (a key not in the keyring finds nothing); a shard line's
    box key is what pingyi_keyring_shard_public gives for its number;
    pingyi_keyring_assigned is true only for workers, and only for their
    shards, whose list formats and parses back to the same set.

    The shard lists of the fifth column are also fuzzed directly: the first
    line of the input as a list (format (parse (x)) parses back to the same
    set, and formatting is canonical), and the first 32 bytes of the input
    as a set (format, then parse, gives the set back).  A broken promise
    aborts, so the fuzzer keeps the input.  */
#include "keys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LIST_CAP 1024 /* what the callers (pingyi init, pingyi-worker) give the formatter */

static char path[64];
static int fd = -1;

static void
remove_file (void)
{
    if (fd >= 0) {
        close (fd);
        unlink (path);
        fd = -1;
    }
}

static void
make_file (void)
{
    snprintf (path, sizeof path, "/tmp/fuzz_keyring.XXXXXX");
    fd = mkstemp (path);
    /* mkstemp makes it 0600 and ours; the loader takes any mode without
       group or other write, and a real keyring is 0644.  */
    if (fd < 0 || fchmod (fd, 0644) != 0) {
        fprintf (stderr, "fuzz_keyring: cannot create %s: %s\n", path, strerror (errno));
        abort ();
    }
    atexit (remove_file);
}

static void
write_input (const uint8_t *data, size_t size)
{
    if (ftruncate (fd, 0) != 0)
        abort ();
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite (fd, data + done, size - done, (off_t) done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            abort ();
        done += (size_t) n;
    }
}

static bool
has_bit (const uint8_t shards[32], unsigned s)
{
    return shards[s / 8] & (1u << (s % 8));
}

/*  format (shards) parses back to shards, and is what it formats to.  */
static void
check_format (const uint8_t shards[32])
{
    char out[LIST_CAP], again_text[LIST_CAP], err[PINGYI_ERR_MAX];
    uint8_t again[32];
    pingyi_shard_list_format (out, sizeof out, shards);
    size_t len = strlen (out);
    if (len == 0 || len >= sizeof out - 1)
        abort (); /* empty, or cut off by the buffer */
    err[0] = '\0';
    if (pingyi_shard_list_parse (out, len, again, err) != 0)
        abort (); /* the formatter wrote what the parser refuses */
    if (memcmp (again, shards, 32) != 0)
        abort (); /* a shard was lost or added on the way */
    pingyi_shard_list_format (again_text, sizeof again_text, again);
    if (strcmp (out, again_text) != 0)
        abort (); /* one set, two spellings */
}

static void
check_shard_list (const char *s, size_t len)
{
    uint8_t shards[32];
    char err[PINGYI_ERR_MAX];
    err[0] = '\0';
    /* A copy of exactly the list, so ASan sees any read past its end.  */
    char *copy = malloc (len ? len : 1);
    if (!copy)
        abort ();
    memcpy (copy, s, len);
    int rc = pingyi_shard_list_parse (copy, len, shards, err);
    free (copy);
    if (rc != 0) {
        if (rc != -1 || !err[0])
            abort (); /* a refusal always says why */
        return;
    }
    check_format (shards);
}

static void
check_keyring (const pingyi_keyring_t *k)
{
    size_t n = pingyi_keyring_size (k);
    if (pingyi_keyring_at (k, n) != NULL)
        abort ();
    for (size_t i = 0; i < n; i++) {
        const pingyi_keyring_entry_t *e = pingyi_keyring_at (k, i);
        if (!e)
            abort ();
        if (e->role < PINGYI_ROLE_VENUE || e->role > PINGYI_ROLE_SHARD)
            abort ();
        size_t len = strnlen (e->name, sizeof e->name);
        if (len < 1 || len > PINGYI_NAME_MAX)
            abort ();
        for (size_t c = 0; c < len; c++)
            if ((unsigned char) e->name[c] < 0x20 || e->name[c] == 0x7f)
                abort ();
        /* the keys each role needs */
        if (e->role != PINGYI_ROLE_SHARD && !e->has_curve)
            abort ();
        if ((e->role == PINGYI_ROLE_VENUE || e->role == PINGYI_ROLE_SHARD) && !e->has_box)
            abort ();
        if (e->role == PINGYI_ROLE_SHARD && e->has_curve)
            abort ();

        /* lookups: (role, name) and names are unique, so each finds itself */
        if (pingyi_keyring_find (k, e->role, e->name) != e)
            abort ();
        const pingyi_keyring_entry_t *first = pingyi_keyring_find (k, e->role, NULL);
        if (!first || first > e || first->role != e->role)
            abort ();
        const pingyi_keyring_entry_t *byc = pingyi_keyring_by_curve (k, e->curve);
        if (e->has_curve) {
            if (byc != e)
                abort (); /* CURVE keys are unique: the lookup finds this entry */
        }
        else if (byc && (!byc->has_curve || memcmp (byc->curve, e->curve, PINGYI_KEY_LEN)))
            abort ();
        /* a key one bit away is another key: nothing, or an entry holding it */
        uint8_t other[PINGYI_KEY_LEN];
        memcpy (other, e->curve, sizeof other);
        other[i % PINGYI_KEY_LEN] ^= (uint8_t) (1u << (i % 8));
        byc = pingyi_keyring_by_curve (k, other);
        if (byc && (!byc->has_curve || memcmp (byc->curve, other, PINGYI_KEY_LEN)))
            abort ();

        if (e->role == PINGYI_ROLE_SHARD) {
            char *rest;
            unsigned long s = strtoul (e->name, &rest, 10);
            if (*rest || s > 255)
                abort ();
            if (pingyi_keyring_shard_public (k, (uint32_t) s) != e->box)
                abort ();
        }

        /* shards: a worker's, and nobody else's */
        for (unsigned s = 0; s < 256; s++)
            if (pingyi_keyring_assigned (e, s) != (e->role == PINGYI_ROLE_WORKER && has_bit (e->shards, s)))
                abort ();
        if (pingyi_keyring_assigned (e, 256) || pingyi_keyring_assigned (e, UINT32_MAX))
            abort ();
        if (e->role == PINGYI_ROLE_WORKER)
            check_format (e->shards);
        else
            for (int b = 0; b < 32; b++)
                if (e->shards[b])
                    abort ();
    }
}

/*  An error is "PATH: ..." or "PATH:LINE: ...", LINE within the input.  */
static void
check_error (const char *err, const uint8_t *data, size_t size)
{
    size_t plen = strlen (path);
    if (strncmp (err, path, plen) != 0 || err[plen] != ':')
        abort ();
    const char *p = err + plen + 1;
    if (*p < '0' || *p > '9')
        return; /* about the file, not a line */
    char *end;
    unsigned long line = strtoul (p, &end, 10);
    if (*end != ':')
        abort ();
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    if (line < 1 || line > lines)
        abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (fd < 0)
        make_file ();

    /* the first line as a shard list */
    const uint8_t *nl = memchr (data, '\n', size);
    check_shard_list ((const char *) data, nl ? (size_t) (nl - data) : size);
    /* the first 32 bytes as a set of shards */
    uint8_t set[32] = {0};
    memcpy (set, data, size < 32 ? size : 32);
    check_format (set);

    /* the whole input as keyring.tsv */
    write_input (data, size);
    char err[PINGYI_ERR_MAX];
    err[0] = '\0';
    pingyi_keyring_t *k = pingyi_keyring_load (path, err);
    if (k)
        check_keyring (k);
    else if (!err[0])
        abort (); /* a refusal always says why */
    else
        check_error (err, data, size);
    pingyi_keyring_destroy (&k);
    if (k)
        abort ();
    return 0;
}
