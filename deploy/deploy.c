/*  deploy.c — `pingyi init` (create a deploy directory) and bundle loading.

    Why bundles: each host gets only what it needs.  A venue's directory holds
    its own two secrets and public material.  Every shard has its own box key
    pair; a shard's secret (which opens that shard's ballots) exists only in
    the bundles of the workers the keyring assigns it to, and in the recount
    bundle, so a stolen worker bundle opens only that worker's shards.
    Secrets are written 0600 with O_EXCL and read back only when still 0600
    and owned by the reader.  Bundle directories are 0700.

    Public files in every bundle (and at the root): election.json (the
    definition, byte for byte: the fingerprint is over these bytes) and
    keyring.tsv (every party's public keys, the shards' box keys and which
    worker key owns which shards).  A venue bundle holds less: its extract
    of the definition (the venue, its form's subjects, their units and
    districts, with their indices and the whole file's fingerprint) and the
    three keyring lines it uses, so 10,000 venue bundles take tens of
    kilobytes each, not the whole definition and keyring each.  */
#define _GNU_SOURCE
#include "deploy.h"
#include "tar.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/*  ---------------------------------------------------------------------
    Staging: a directory is written whole or not at all.  `pingyi init`
    writes everything into DIR.tmp-XXXXXX beside DIR (mkdtemp: 0700, a name
    no one else has), syncs it, and renames it to DIR at the end; on any
    failure, or SIGINT / SIGTERM / SIGHUP while it runs, the temporary
    directory is removed with everything in it (secrets included), so DIR
    either does not exist or is complete.  The signal handlers only set
    `staging_signal`; every write below checks it and fails, and the
    failure path removes the directory, restores the handlers and raises
    the signal again, so the process still ends as the signal asked.  Only
    SIGKILL or a power cut can leave a DIR.tmp-XXXXXX behind; nothing ever
    reads one, and it is safe to delete.  */

static volatile sig_atomic_t staging_signal;

static const int staging_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define STAGING_SIGNALS (sizeof staging_signals / sizeof staging_signals[0])

typedef struct {
    char final[1024];
    char tmp[1100];
    bool made;      /* tmp exists and is ours */
    bool committed; /* renamed to final */
    bool handled[STAGING_SIGNALS];
    struct sigaction old[STAGING_SIGNALS];
} staging_t;

static void
staging_on_signal (int signo)
{
    staging_signal = signo;
}

/*  Fails once a signal has come: the step it is called from is not done.  */
static int
staging_check (char *err)
{
    if (staging_signal)
        return pingyi_fail (err, "interrupted by signal %d (%s)", (int) staging_signal,
                            strsignal (staging_signal));
    return 0;
}

static int
remove_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st, (void) flag, (void) ftw;
    remove (path);
    return 0; /* remove what can be removed */
}

/*  Refuse an existing final, make final.tmp-XXXXXX and catch the signals
    that would leave it half written (those not ignored: a command started
    with SIGINT ignored keeps it ignored).  */
static int
staging_open (staging_t *self, const char *final, const char *what, char *err)
{
    memset (self, 0, sizeof *self);
    struct stat st;
    if (stat (final, &st) == 0)
        return pingyi_fail (err, "%s: already exists; refusing to overwrite %s", final, what);
    if (snprintf (self->final, sizeof self->final, "%s", final) >= (int) sizeof self->final)
        return pingyi_fail (err, "%s: path too long", final);
    size_t n = strlen (self->final);
    while (n > 1 && self->final[n - 1] == '/')
        self->final[--n] = '\0'; /* "deploy/": the temporary directory goes beside it, not in it */
    snprintf (self->tmp, sizeof self->tmp, "%s.tmp-XXXXXX", self->final);
    staging_signal = 0;
    for (size_t i = 0; i < STAGING_SIGNALS; i++) {
        struct sigaction sa = {.sa_handler = staging_on_signal};
        sigemptyset (&sa.sa_mask);
        if (sigaction (staging_signals[i], NULL, &self->old[i]) == 0 && self->old[i].sa_handler != SIG_IGN)
            self->handled[i] = sigaction (staging_signals[i], &sa, NULL) == 0;
    }
    if (!mkdtemp (self->tmp)) {
        int e = errno;
        snprintf (self->tmp, sizeof self->tmp, "%s.tmp-XXXXXX", self->final); /* as it was asked for */
        return pingyi_fail (err, "%s: cannot create the temporary directory %s beside it: %s", self->final,
                            self->tmp, strerror (e));
    }
    self->made = true;
    return 0;
}

/*  Sync the temporary directory's files, give it mode (less the umask)
    and rename it to final, refusing a final made meanwhile.  A signal
    that comes after the rename finds final complete.  */
static int
staging_commit (staging_t *self, mode_t mode, char *err)
{
    if (staging_check (err))
        return -1;
    int fd = open (self->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return pingyi_fail (err, "%s: cannot open: %s", self->tmp, strerror (errno));
    mode_t mask = umask (0);
    umask (mask);
    /* one syncfs, not a fsync per file: 10,000 venue bundles are 40,000 files */
    bool ok = syncfs (fd) == 0 && fchmod (fd, mode & ~mask) == 0 && fsync (fd) == 0;
    int e = errno;
    close (fd);
    if (!ok)
        return pingyi_fail (err, "%s: cannot sync: %s", self->tmp, strerror (e));
    sigset_t block, was;
    sigemptyset (&block);
    for (size_t i = 0; i < STAGING_SIGNALS; i++)
        sigaddset (&block, staging_signals[i]);
    sigprocmask (SIG_BLOCK, &block, &was);
    int rc = staging_check (err);
    if (!rc && renameat2 (AT_FDCWD, self->tmp, AT_FDCWD, self->final, RENAME_NOREPLACE) != 0) {
        e = errno;
        struct stat st;
        if ((e == EINVAL || e == ENOSYS) && stat (self->final, &st) != 0 &&
            rename (self->tmp, self->final) == 0)
            e = 0; /* a file system without RENAME_NOREPLACE */
        if (e == EEXIST || e == ENOTEMPTY)
            rc = pingyi_fail (err, "%s: made by someone else while this ran; refusing to overwrite it",
                              self->final);
        else if (e)
            rc = pingyi_fail (err, "%s: cannot rename %s to it: %s", self->final, self->tmp, strerror (e));
    }
    if (!rc) {
        self->committed = true;
        char parent[1100];
        snprintf (parent, sizeof parent, "%s/..", self->final);
        int pfd = open (parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd >= 0) {
            fsync (pfd); /* the rename itself on disk */
            close (pfd);
        }
    }
    sigprocmask (SIG_SETMASK, &was, NULL);
    return rc;
}

/*  Remove the temporary directory unless committed, restore the signal
    handlers, and raise again a signal that came meanwhile.  */
static void
staging_close (staging_t *self)
{
    if (self->made && !self->committed)
        nftw (self->tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    self->made = false;
    for (size_t i = 0; i < STAGING_SIGNALS; i++)
        if (self->handled[i])
            sigaction (staging_signals[i], &self->old[i], NULL);
    memset (self->handled, 0, sizeof self->handled);
    int signo = staging_signal;
    staging_signal = 0;
    if (signo)
        raise (signo);
}

static int
write_file (const char *path, const void *data, size_t len, mode_t mode, char *err)
{
    if (staging_check (err))
        return -1;
    FILE *f = fopen (path, "wx");
    if (!f)
        return pingyi_fail (err, "%s: cannot create: %s", path, strerror (errno));
    bool ok = fwrite (data, 1, len, f) == len;
    ok = fflush (f) == 0 && ok;
    ok = fchmod (fileno (f), mode) == 0 && ok;
    ok = fclose (f) == 0 && ok;
    return ok ? 0 : pingyi_fail (err, "%s: write failed: %s", path, strerror (errno));
}

static int
make_dir (const char *path, mode_t mode, char *err)
{
    if (staging_check (err))
        return -1;
    if (mkdir (path, mode) != 0)
        return pingyi_fail (err, "%s: cannot create directory: %s", path, strerror (errno));
    return 0;
}

typedef struct {
    uint8_t secret[PINGYI_KEY_LEN];
    uint8_t public_key[PINGYI_KEY_LEN];
} keypair_t;

static void
keypair_new (keypair_t *kp)
{
    crypto_box_keypair (kp->public_key, kp->secret);
}

static void
keyring_line (FILE *f, const char *role, const char *name, const uint8_t *curve, const uint8_t *box)
{
    char c[2 * PINGYI_KEY_LEN + 1] = "-", b[2 * PINGYI_KEY_LEN + 1] = "-";
    if (curve)
        pingyi_hex (c, curve, PINGYI_KEY_LEN);
    if (box)
        pingyi_hex (b, box, PINGYI_KEY_LEN);
    fprintf (f, "%s\t%s\t%s\t%s\n", role, name, c, b);
}

/*  Which shards worker i (0-based) of n is assigned, for S shards: blocks
    of consecutive shards (n <= S: 8 shards, 2 workers = 0-3, 4-7); with
    more workers than shards, worker i stands by for shard i mod S.  */
static void
assign_shards (uint8_t shards[32], unsigned i, unsigned n, uint32_t shard_count)
{
    memset (shards, 0, 32);
    if (n > shard_count) {
        unsigned s = i % shard_count;
        shards[s / 8] |= (uint8_t) (1u << (s % 8));
        return;
    }
    for (uint32_t s = i * shard_count / n; s < (i + 1) * shard_count / n; s++)
        shards[s / 8] |= (uint8_t) (1u << (s % 8));
}

static bool
has_shard (const uint8_t shards[32], uint32_t s)
{
    return (shards[s / 8] >> (s % 8)) & 1u;
}

/*  Append element `index` of the whole definition's collection `name` to
    the extract's array, with its "index"; once each.  */
static int
extract_add (json_t *out, json_t *whole, const char *name, size_t index, bool *taken)
{
    if (taken[index])
        return 0;
    taken[index] = true;
    json_t *o = json_deep_copy (json_array_get (json_object_get (whole, name), index));
    if (!o || json_object_set_new (o, "index", json_integer ((json_int_t) index)))
        return json_decref (o), -1;
    /* Elements go in index order: callers add them sorted or the array is re-sorted.  */
    return json_array_append_new (json_object_get (out, name), o);
}

static int
by_index (const void *a, const void *b)
{
    json_int_t x = json_integer_value (json_object_get (*(json_t *const *) a, "index"));
    json_int_t y = json_integer_value (json_object_get (*(json_t *const *) b, "index"));
    return (x > y) - (x < y);
}

/*  Sort the extract's array `name` by "index".  */
static int
extract_sort (json_t *out, const char *name)
{
    json_t *arr = json_object_get (out, name);
    size_t n = json_array_size (arr);
    json_t **v = calloc (n ? n : 1, sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref (json_array_get (arr, i));
    qsort (v, n, sizeof *v, by_index);
    json_array_clear (arr);
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        rc |= json_array_append_new (arr, v[i]);
    free (v);
    return rc;
}

/*  The venue extract of venue v (docs/election-definition.md#venue-extracts):
    the whole definition's settings, choice sets, items and categories as
    they are, and of the districts, units, subjects and venues only those
    the venue's form and its own entry name, each with its "index" in the
    whole definition; "extract" names the whole definition's fingerprint.
    A few kilobytes, where the whole definition of a citywide count is
    megabytes and every venue bundle used to hold it.  Returns a malloc'd
    buffer (*len bytes) or NULL after setting err.  */
static char *
venue_extract (json_t *whole, const pingyi_election_t *e, size_t v, size_t *len, char *err)
{
    static const char *const parts[] = {"districts", "units", "subjects", "venues"};
    const pingyi_venue_t *venue = &e->venues[v];
    json_t *out = json_object ();
    bool *taken[4] = {calloc (e->district_count, 1), calloc (e->unit_count, 1), calloc (e->subject_count, 1),
                      calloc (e->venue_count, 1)};
    char *text = NULL;
    bool ok = out && taken[0] && taken[1] && taken[2] && taken[3];
    ok = ok && !json_object_set_new (out, "extract",
                                     json_pack ("{s:s, s:s}", "of", e->fingerprint_hex, "venue", venue->id));
    const char *key;
    json_t *value;
    json_object_foreach (whole, key, value) {
        bool part = false;
        for (size_t i = 0; i < 4; i++)
            part = part || !strcmp (key, parts[i]);
        if (ok && !strcmp (key, "extract"))
            ok = false; /* an extract of an extract: refused before, by pingyi init */
        else if (ok)
            ok = !json_object_set_new (out, key, part ? json_array () : json_incref (value));
    }
    ok = ok && !extract_add (out, whole, "venues", v, taken[3]) &&
         !json_object_set_new (json_array_get (json_object_get (out, "venues"), 0), "shard",
                               json_integer (venue->shard)) &&
         !extract_add (out, whole, "districts", venue->district, taken[0]);
    for (size_t k = 0; ok && k < venue->subject_count; k++) {
        const pingyi_subject_t *s = &e->subjects[venue->subjects[k]];
        ok = !extract_add (out, whole, "subjects", venue->subjects[k], taken[2]) &&
             !extract_add (out, whole, "units", s->unit, taken[1]) &&
             !extract_add (out, whole, "districts", e->units[s->unit].district, taken[0]);
    }
    for (size_t i = 0; ok && i < 3; i++)
        ok = !extract_sort (out, parts[i]);
    if (ok)
        text = json_dumps (out, JSON_INDENT (1) | JSON_PRESERVE_ORDER);
    if (text)
        *len = strlen (text);
    else
        pingyi_fail (err, "venue %s: cannot write its extract of the definition (out of memory)", venue->id);
    for (size_t i = 0; i < 4; i++)
        free (taken[i]);
    json_decref (out);
    return text;
}

/*  Write the public files into one bundle directory.  */
static int
write_public (const char *bundle, const uint8_t *definition, size_t definition_len, const char *keyring,
              size_t keyring_len, char *err)
{
    char path[1100];
    if (pingyi_path (path, sizeof path, err, "%s/election.json", bundle))
        return -1;
    if (write_file (path, definition, definition_len, 0644, err))
        return -1;
    if (pingyi_path (path, sizeof path, err, "%s/keyring.tsv", bundle))
        return -1;
    return write_file (path, keyring, keyring_len, 0644, err);
}

static int
write_secret (const char *bundle, const char *file, const uint8_t secret[PINGYI_KEY_LEN], char *err)
{
    char path[1100];
    if (pingyi_path (path, sizeof path, err, "%s/%s", bundle, file) || staging_check (err))
        return -1;
    return pingyi_key_write_secret (path, secret, err);
}

/*  Refuse, before writing anything, a deploy directory its file system
    cannot hold.  An estimate from above: each file takes whole 4 KiB
    blocks; a whole-definition bundle (broker, aggregator, operator,
    recount, each worker) the definition, the keyring and two secrets; a
    venue bundle its extract (at most the definition's share of its form's
    subjects, plus 4 KiB of venue, units and districts), three keyring
    lines and two secrets.  0 / -1 ("DIR: the bundles need about N MB, but
    its file system has M MB free").  */
static int
fits_disk (const pingyi_election_t *e, size_t definition_len, const char *dir, unsigned workers, char *err)
{
    char parent[4096];
    snprintf (parent, sizeof parent, "%s", dir);
    struct statvfs fs;
    if (statvfs (dirname (parent), &fs) != 0)
        return 0; /* the writing will say what is wrong with the parent */
    uint64_t block = 4096;
    uint64_t keyring = 200 * ((uint64_t) e->venue_count + e->shard_count + workers + 3);
    uint64_t whole = (definition_len + block) + (keyring + block) + 3 * block;
    uint64_t need = (uint64_t) (workers + 4) * whole;
    for (size_t v = 0; v < e->venue_count; v++) {
        uint64_t share = e->subject_count ? (uint64_t) definition_len * e->venues[v].subject_count / e->subject_count
                                          : definition_len;
        need += (share + 2 * block) + (block + 3 * block);
    }
    uint64_t free_bytes = (uint64_t) fs.f_bavail * fs.f_frsize;
    if (need > free_bytes)
        return pingyi_fail (err,
                            "%s: its %zu venue bundles and %u others need about %llu MB, but its file system has "
                            "%llu MB free: free space or choose another place (nothing was written)",
                            dir, e->venue_count, workers + 4, (unsigned long long) (need >> 20) + 1,
                            (unsigned long long) (free_bytes >> 20));
    return 0;
}

int
pingyi_deploy_init (const char *definition_path, const char *dir, unsigned workers, char *err)
{
    if (sodium_init () < 0)
        return pingyi_fail (err, "libsodium failed to initialise");
    if (workers < 1 || workers > 256)
        return pingyi_fail (err, "--workers %u: must be 1..256", workers);
    struct stat st;
    if (stat (dir, &st) == 0)
        return pingyi_fail (err, "%s: already exists; refusing to overwrite a deploy directory", dir);

    pingyi_election_t *election = pingyi_election_load_or_err (definition_path, err);
    if (!election)
        return -1;
    size_t definition_len;
    uint8_t *definition = pingyi_read_file (definition_path, PINGYI_DEFINITION_MAX, &definition_len, err);
    if (!definition) {
        pingyi_election_destroy (&election);
        return -1;
    }
    if (election->extract) {
        pingyi_fail (err, "%s: a venue extract (of election %s, for venue %s), not a whole definition: pingyi init "
                          "takes the election office's definition",
                     definition_path, election->id, election->venues[election->extract_venue].id);
        free (definition);
        pingyi_election_destroy (&election);
        return -1;
    }
    if (fits_disk (election, definition_len, dir, workers, err)) {
        free (definition);
        pingyi_election_destroy (&election);
        return -1;
    }
    /* Parsed once more as JSON, for the venue extracts; it parsed above.  */
    size_t bom = definition_len >= 3 && !memcmp (definition, "\xef\xbb\xbf", 3) ? 3 : 0;
    json_t *whole = json_loadb ((const char *) definition + bom, definition_len - bom, 0, NULL);
    if (!whole) {
        pingyi_fail (err, "%s: out of memory", definition_path);
        free (definition);
        pingyi_election_destroy (&election);
        return -1;
    }

    int rc = -1;
    staging_t stage = {0};
    size_t venues = election->venue_count;
    uint32_t shard_count = election->shard_count;
    keypair_t broker, aggregator, operator_kp;
    keypair_t *shard_box = calloc (shard_count, sizeof *shard_box);
    uint8_t (*assigned)[32] = calloc (workers, sizeof *assigned);
    keypair_t *worker = calloc (workers, sizeof *worker);
    keypair_t *venue_curve = calloc (venues, sizeof *venue_curve);
    keypair_t *venue_box = calloc (venues, sizeof *venue_box);
    char *keyring = NULL;
    size_t keyring_len = 0;
    FILE *kf = open_memstream (&keyring, &keyring_len);
    if (!worker || !venue_curve || !venue_box || !kf || !shard_box || !assigned) {
        pingyi_fail (err, "out of memory");
        goto done;
    }
    keypair_new (&broker);
    keypair_new (&aggregator);
    keypair_new (&operator_kp);
    fprintf (kf, "# pingyi keyring: role, name, CURVE public key, box public key (hex), a worker's shards\n");
    fprintf (kf, "# election %s\n", election->fingerprint_hex);
    keyring_line (kf, "broker", "broker", broker.public_key, NULL);
    keyring_line (kf, "aggregator", "aggregator", aggregator.public_key, NULL);
    keyring_line (kf, "operator", "operator", operator_kp.public_key, NULL);
    for (unsigned i = 0; i < workers; i++) {
        char name[16];
        snprintf (name, sizeof name, "%u", i + 1);
        char list[1024], c[2 * PINGYI_KEY_LEN + 1];
        keypair_new (&worker[i]);
        assign_shards (assigned[i], i, workers, shard_count);
        pingyi_shard_list_format (list, sizeof list, assigned[i]);
        pingyi_hex (c, worker[i].public_key, PINGYI_KEY_LEN);
        fprintf (kf, "worker\t%s\t%s\t-\t%s\n", name, c, list);
    }
    for (uint32_t s = 0; s < shard_count; s++) {
        char name[16];
        snprintf (name, sizeof name, "%" PRIu32, s);
        keypair_new (&shard_box[s]);
        keyring_line (kf, "shard", name, NULL, shard_box[s].public_key);
    }
    for (size_t v = 0; v < venues; v++) {
        keypair_new (&venue_curve[v]);
        keypair_new (&venue_box[v]);
        keyring_line (kf, "venue", election->venues[v].id, venue_curve[v].public_key,
                      venue_box[v].public_key);
    }
    if (fclose (kf) != 0) {
        kf = NULL;
        pingyi_fail (err, "out of memory");
        goto done;
    }
    kf = NULL;

    /* From here on everything goes into the temporary directory.  */
    if (staging_open (&stage, dir, "a deploy directory", err))
        goto done;
    dir = stage.tmp;
    char path[1100];
    if (write_public (dir, definition, definition_len, keyring, keyring_len, err))
        goto done;

    if (pingyi_path (path, sizeof path, err, "%s/broker", dir))
        goto done;
    if (make_dir (path, 0700, err) ||
        write_public (path, definition, definition_len, keyring, keyring_len, err) ||
        write_secret (path, "curve.secret", broker.secret, err))
        goto done;
    if (pingyi_path (path, sizeof path, err, "%s/aggregator", dir))
        goto done;
    if (make_dir (path, 0700, err) ||
        write_public (path, definition, definition_len, keyring, keyring_len, err) ||
        write_secret (path, "curve.secret", aggregator.secret, err))
        goto done;
    if (pingyi_path (path, sizeof path, err, "%s/operator", dir))
        goto done;
    if (make_dir (path, 0700, err) ||
        write_public (path, definition, definition_len, keyring, keyring_len, err) ||
        write_secret (path, "curve.secret", operator_kp.secret, err))
        goto done;
    if (pingyi_path (path, sizeof path, err, "%s/worker", dir))
        goto done;
    if (make_dir (path, 0755, err))
        goto done;
    for (unsigned i = 0; i < workers; i++) {
        if (pingyi_path (path, sizeof path, err, "%s/worker/%u", dir, i + 1))
            goto done;
        if (make_dir (path, 0700, err) ||
            write_public (path, definition, definition_len, keyring, keyring_len, err) ||
            write_secret (path, "curve.secret", worker[i].secret, err))
            goto done;
        for (uint32_t s = 0; s < shard_count; s++) {
            char file[32];
            snprintf (file, sizeof file, "shard-%02" PRIu32 ".secret", s);
            if (has_shard (assigned[i], s) && write_secret (path, file, shard_box[s].secret, err))
                goto done;
        }
    }
    /* The offline recount re-opens every shard's log, so its bundle holds
       every shard secret and nothing else: keep it off the network.  */
    if (pingyi_path (path, sizeof path, err, "%s/recount", dir))
        goto done;
    if (make_dir (path, 0700, err) || write_public (path, definition, definition_len, keyring, keyring_len, err))
        goto done;
    for (uint32_t s = 0; s < shard_count; s++) {
        char file[32];
        snprintf (file, sizeof file, "shard-%02" PRIu32 ".secret", s);
        if (write_secret (path, file, shard_box[s].secret, err))
            goto done;
    }
    if (pingyi_path (path, sizeof path, err, "%s/venue", dir))
        goto done;
    if (make_dir (path, 0755, err))
        goto done;
    for (size_t v = 0; v < venues; v++) {
        /* A venue host gets the keyring lines it uses and no more: the
           broker (to connect), its own (checked at load) and its shard's
           box key (to seal); and its extract of the definition.  The whole
           keyring and definition in every venue bundle grew with venues
           squared (177 MB for 698 venues).  */
        char *slim = NULL;
        size_t slim_len = 0, extract_len = 0;
        char *extract = venue_extract (whole, election, v, &extract_len, err);
        if (!extract)
            goto done;
        FILE *sf = open_memstream (&slim, &slim_len);
        if (!sf) {
            free (extract);
            pingyi_fail (err, "out of memory");
            goto done;
        }
        char shard_name[16];
        snprintf (shard_name, sizeof shard_name, "%" PRIu32, election->venues[v].shard);
        fprintf (sf, "# pingyi keyring of venue %s: the broker, this venue, its shard\n", election->venues[v].id);
        fprintf (sf, "# election %s\n", election->fingerprint_hex);
        keyring_line (sf, "broker", "broker", broker.public_key, NULL);
        keyring_line (sf, "venue", election->venues[v].id, venue_curve[v].public_key, venue_box[v].public_key);
        keyring_line (sf, "shard", shard_name, NULL, shard_box[election->venues[v].shard].public_key);
        bool ok = fclose (sf) == 0;
        int bad = !ok || pingyi_path (path, sizeof path, err, "%s/venue/%s", dir, election->venues[v].id) ||
                  make_dir (path, 0700, err) ||
                  write_public (path, (const uint8_t *) extract, extract_len, slim, slim_len, err) ||
                  write_secret (path, "curve.secret", venue_curve[v].secret, err) ||
                  write_secret (path, "box.secret", venue_box[v].secret, err);
        if (!ok)
            pingyi_fail (err, "out of memory");
        free (slim);
        free (extract);
        if (bad)
            goto done;
    }
    rc = staging_commit (&stage, 0755, err);
done:
    if (kf)
        fclose (kf);
    free (keyring);
    if (shard_box)
        sodium_memzero (shard_box, shard_count * sizeof *shard_box);
    free (shard_box);
    free (assigned);
    sodium_memzero (&broker, sizeof broker);
    sodium_memzero (&aggregator, sizeof aggregator);
    sodium_memzero (&operator_kp, sizeof operator_kp);
    if (worker)
        sodium_memzero (worker, workers * sizeof *worker);
    if (venue_curve)
        sodium_memzero (venue_curve, venues * sizeof *venue_curve);
    if (venue_box)
        sodium_memzero (venue_box, venues * sizeof *venue_box);
    free (worker);
    free (venue_curve);
    free (venue_box);
    free (definition);
    json_decref (whole);
    pingyi_election_destroy (&election);
    /* Last, the secrets in memory wiped: it may raise a signal that came.  */
    staging_close (&stage); /* removes the temporary directory unless renamed */
    return rc;
}

/*  One venue's archive: ID/ and its four files, as they are in its bundle.  */
static int
venue_archive (const char *dir, const char *out, const char *venue, char *err)
{
    static const struct {
        const char *file;
        mode_t mode;
        bool secret;
    } files[] = {{"election.json", 0644, false},
                 {"keyring.tsv", 0644, false},
                 {"curve.secret", 0600, true},
                 {"box.secret", 0600, true}};
    char path[1100], name[128];
    if (pingyi_path (path, sizeof path, err, "%s/%s.tar", out, venue))
        return -1;
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen (fd, "wb") : NULL;
    if (!f) {
        pingyi_fail (err, "%s: cannot create: %s", path, strerror (errno));
        if (fd >= 0)
            close (fd);
        return -1;
    }
    int64_t now = (int64_t) time (NULL);
    int rc = pingyi_tar_dir (f, venue, 0700, now, err);
    for (size_t i = 0; !rc && i < sizeof files / sizeof files[0]; i++) {
        char src[1100];
        size_t len = 0;
        uint8_t *data = NULL;
        rc = pingyi_path (src, sizeof src, err, "%s/venue/%s/%s", dir, venue, files[i].file);
        if (!rc && !(data = pingyi_read_file (src, PINGYI_DEFINITION_MAX, &len, err)))
            rc = -1;
        if (!rc)
            snprintf (name, sizeof name, "%s/%s", venue, files[i].file);
        if (!rc)
            rc = pingyi_tar_file (f, name, files[i].mode, now, data, len, err);
        if (data && files[i].secret)
            sodium_memzero (data, len);
        free (data);
    }
    if (!rc)
        rc = pingyi_tar_end (f, err);
    if (fflush (f) != 0 || fsync (fileno (f)) != 0)
        rc = rc ? rc : pingyi_fail (err, "%s: write failed: %s", path, strerror (errno));
    if (fclose (f) != 0)
        rc = rc ? rc : pingyi_fail (err, "%s: write failed: %s", path, strerror (errno));
    if (rc)
        unlink (path); /* never leave half an archive to be sent */
    return rc;
}

int
pingyi_deploy_venue_archives (const char *dir, const char *out, char *err)
{
    char path[1100];
    if (pingyi_path (path, sizeof path, err, "%s/election.json", dir))
        return -1;
    pingyi_election_t *e = pingyi_election_load_or_err (path, err);
    if (!e)
        return -1;
    int rc = 0;
    staging_t stage = {0};
    if (e->extract)
        rc = pingyi_fail (err, "%s: a venue extract: --venue-archive needs the election office's deploy directory",
                          path);
    else
        rc = staging_open (&stage, out, "an archive directory", err);
    for (size_t v = 0; !rc && v < e->venue_count; v++)
        rc = staging_check (err) || venue_archive (dir, stage.tmp, e->venues[v].id, err) ? -1 : 0;
    if (!rc)
        rc = staging_commit (&stage, 0700, err);
    staging_close (&stage);
    pingyi_election_destroy (&e);
    return rc;
}

/*  A worker's shard secrets (those its keyring entry is assigned), or all of
    them for the recount bundle (me NULL); each must match its shard's line.  */
static int
load_shard_secrets (pingyi_bundle_t *self, const pingyi_keyring_entry_t *me, char *err)
{
    for (uint32_t s = 0; s < self->election->shard_count; s++) {
        if (me && !pingyi_keyring_assigned (me, s))
            continue;
        char path[1100];
        if (pingyi_path (path, sizeof path, err, "%s/shard-%02" PRIu32 ".secret", self->path, s))
            return -1;
        if (pingyi_key_read_secret (path, self->shard_secrets[s], err))
            return -1;
        uint8_t pub[PINGYI_KEY_LEN];
        pingyi_key_public (pub, self->shard_secrets[s]);
        const uint8_t *want = pingyi_keyring_shard_public (self->keyring, s);
        if (!want || sodium_memcmp (pub, want, PINGYI_KEY_LEN) != 0)
            return pingyi_fail (err, "%s: key does not match the keyring's entry for shard %" PRIu32, path, s);
        self->shards[s / 8] |= (uint8_t) (1u << (s % 8));
    }
    return 0;
}

bool
pingyi_bundle_has_shard (const pingyi_bundle_t *self, uint32_t shard)
{
    return shard < 256 && ((self->shards[shard / 8] >> (shard % 8)) & 1u);
}

pingyi_bundle_t *
pingyi_bundle_load (const char *dir, pingyi_role_t role, const char *name, char *err)
{
    if (sodium_init () < 0) {
        pingyi_fail (err, "libsodium failed to initialise");
        return NULL;
    }
    pingyi_bundle_t *self = calloc (1, sizeof *self);
    if (!self) {
        pingyi_fail (err, "out of memory");
        return NULL;
    }
    self->role = role;
    switch (role) {
    case PINGYI_ROLE_BROKER:
    case PINGYI_ROLE_AGGREGATOR:
    case PINGYI_ROLE_OPERATOR:
        snprintf (self->name, sizeof self->name, "%s", pingyi_role_name (role));
        snprintf (self->path, sizeof self->path, "%s/%s", dir, pingyi_role_name (role));
        break;
    case PINGYI_ROLE_SHARD:
        snprintf (self->name, sizeof self->name, "recount");
        snprintf (self->path, sizeof self->path, "%s/recount", dir);
        break;
    case PINGYI_ROLE_WORKER:
    case PINGYI_ROLE_VENUE:
        if (!name || !*name || strlen (name) > PINGYI_NAME_MAX || strchr (name, '/')) {
            pingyi_fail (err, "a %s bundle needs a name (%s)", pingyi_role_name (role),
                         role == PINGYI_ROLE_WORKER ? "--id N" : "--venue ID");
            goto fail;
        }
        snprintf (self->name, sizeof self->name, "%s", name);
        snprintf (self->path, sizeof self->path, "%s/%s/%s", dir, pingyi_role_name (role), name);
        break;
    default:
        pingyi_fail (err, "no bundle for role %d", (int) role);
        goto fail;
    }
    struct stat st;
    char own[1100];
    /* A venue host may hold its bundle folder alone (copied from the
       election office): --deploy may then name that folder itself.  */
    if (role == PINGYI_ROLE_VENUE && (stat (self->path, &st) != 0 || !S_ISDIR (st.st_mode)) &&
        snprintf (own, sizeof own, "%s/box.secret", dir) < (int) sizeof own && stat (own, &st) == 0)
        snprintf (self->path, sizeof self->path, "%s", dir);
    if (stat (self->path, &st) != 0 || !S_ISDIR (st.st_mode)) {
        char def[1100], why[PINGYI_ERR_MAX];
        pingyi_election_t *e = NULL;
        if (role == PINGYI_ROLE_VENUE && snprintf (def, sizeof def, "%s/election.json", dir) < (int) sizeof def &&
            stat (def, &st) == 0)
            e = pingyi_election_load_or_err (def, why);
        if (e && pingyi_election_venue (e, self->name, strlen (self->name)) < 0) {
            char ids[400] = "";
            size_t used = 0;
            for (size_t v = 0; v < e->venue_count && v < 10 && used < sizeof ids - 80; v++)
                used += (size_t) snprintf (ids + used, sizeof ids - used, "%s%s", v ? ", " : "", e->venues[v].id);
            pingyi_fail (err, "unknown venue \"%s\": the election %s has %zu venues (%s%s)", self->name, e->id,
                         e->venue_count, ids, e->venue_count > 10 ? ", …" : "");
        }
        else if (role == PINGYI_ROLE_VENUE)
            pingyi_fail (err,
                         "%s: no bundle of venue %s here: --deploy takes the deploy directory the election "
                         "office made with pingyi init, or the venue's own bundle folder copied from it "
                         "(never run pingyi init on a venue host: it would make new keys)",
                         self->path, self->name);
        else
            pingyi_fail (err, "%s: no such bundle in deploy directory %s (made by: pingyi init DEFINITION %s)",
                         self->path, dir, dir);
        pingyi_election_destroy (&e);
        goto fail;
    }
    char path[1100];
    if (pingyi_path (path, sizeof path, err, "%s/election.json", self->path))
        goto fail;
    if (pingyi_check_trusted_file (path, err))
        goto fail;
    self->election = pingyi_election_load_or_err (path, err);
    if (!self->election)
        goto fail;
    if (self->election->extract &&
        (role != PINGYI_ROLE_VENUE || strcmp (self->election->venues[self->election->extract_venue].id, self->name))) {
        const char *of = self->election->venues[self->election->extract_venue].id;
        if (role == PINGYI_ROLE_VENUE)
            pingyi_fail (err, "%s: the extract of the definition for venue %s, not for venue %s", path, of,
                         self->name);
        else
            pingyi_fail (err, "%s: the extract of the definition for venue %s; the %s %s needs the whole definition",
                         path, of, pingyi_role_name (role), self->name);
        goto fail;
    }
    if (pingyi_path (path, sizeof path, err, "%s/keyring.tsv", self->path))
        goto fail;
    self->keyring = pingyi_keyring_load (path, err);
    if (!self->keyring)
        goto fail;
    if (role == PINGYI_ROLE_SHARD) {
        if (load_shard_secrets (self, NULL, err))
            goto fail;
        return self;
    }
    if (pingyi_path (path, sizeof path, err, "%s/curve.secret", self->path))
        goto fail;
    if (pingyi_key_read_secret (path, self->curve_secret, err))
        goto fail;
    pingyi_key_public (self->curve_public, self->curve_secret);

    const pingyi_keyring_entry_t *me = pingyi_keyring_find (self->keyring, role, self->name);
    if (!me || !me->has_curve || sodium_memcmp (me->curve, self->curve_public, PINGYI_KEY_LEN) != 0) {
        pingyi_fail (err, "%s: key does not match the keyring's entry for %s %s", path,
                     pingyi_role_name (role), self->name);
        goto fail;
    }
    const pingyi_keyring_entry_t *broker = pingyi_keyring_find (self->keyring, PINGYI_ROLE_BROKER, NULL);
    if (!broker || !broker->has_curve) {
        pingyi_fail (err, "%s/keyring.tsv: no broker key", self->path);
        goto fail;
    }
    memcpy (self->broker_public, broker->curve, PINGYI_KEY_LEN);

    if (role == PINGYI_ROLE_VENUE) {
        if (pingyi_path (path, sizeof path, err, "%s/box.secret", self->path))
            goto fail;
        if (pingyi_key_read_secret (path, self->box_secret, err))
            goto fail;
        self->has_box_secret = true;
        uint8_t pub[PINGYI_KEY_LEN];
        pingyi_key_public (pub, self->box_secret);
        if (!me->has_box || sodium_memcmp (pub, me->box, PINGYI_KEY_LEN) != 0) {
            pingyi_fail (err, "%s: key does not match the keyring's entry for venue %s", path, self->name);
            goto fail;
        }
        int v = pingyi_election_venue (self->election, self->name, strlen (self->name));
        const uint8_t *shard_pub =
            v < 0 ? NULL : pingyi_keyring_shard_public (self->keyring, self->election->venues[v].shard);
        if (!shard_pub) {
            pingyi_fail (err, "%s/keyring.tsv: no box key for the shard of venue %s", self->path, self->name);
            goto fail;
        }
        memcpy (self->shard_public, shard_pub, PINGYI_KEY_LEN);
    }
    if (role == PINGYI_ROLE_WORKER && load_shard_secrets (self, me, err))
        goto fail;
    return self;
fail:
    pingyi_bundle_destroy (&self);
    return NULL;
}

void
pingyi_bundle_destroy (pingyi_bundle_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pingyi_bundle_t *self = *self_p;
    pingyi_election_destroy (&self->election);
    pingyi_keyring_destroy (&self->keyring);
    sodium_memzero (self, sizeof *self);
    free (self);
    *self_p = NULL;
}
