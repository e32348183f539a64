/*  manifest.c — what a shard held at its last checkpoint, kept beside its
    directory (DATA/shard-NN.manifest), so that a shard whose files were
    emptied, deleted, truncated or replaced by an older copy is refused at
    open with the reason instead of being taken for a new one.

    The file (text, one field per line, mode 0600):

        pingyi-shard-manifest 1
        shard 3
        shard_count 8
        election <64 hex: the election fingerprint>
        sequence 1234
        digest <64 hex: the log digest at that sequence>

    It is written after a commit (never before: it only ever says what is
    already durable), at most every PINGYI_SHARD_MANIFEST_MS, at a venue's
    close or reopen, at open and at close: tmp file, fsync, rename, fsync of
    the directory.  So the shard is always at or ahead of its manifest; at
    open, a shard behind it (fewer ballots) was rolled back, and one at the
    same sequence with another digest holds other ballots.  Ahead is normal:
    commits since the last checkpoint.  */
#include "shard_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST_HEAD "pingyi-shard-manifest 1"
#define MANIFEST_MAX 1024 /* bytes: a longer file is not a manifest */

static int
hex_field (const char *line, const char *name, uint8_t *out, size_t len)
{
    size_t n = strlen (name);
    if (strncmp (line, name, n) != 0 || line[n] != ' ' || strlen (line + n + 1) != 2 * len)
        return -1;
    size_t got = 0;
    if (sodium_hex2bin (out, len, line + n + 1, 2 * len, NULL, &got, NULL) != 0 || got != len)
        return -1;
    return 0;
}

static int
u64_field (const char *line, const char *name, uint64_t max, uint64_t *out)
{
    size_t n = strlen (name);
    if (strncmp (line, name, n) != 0 || line[n] != ' ')
        return -1;
    const char *p = line + n + 1;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1]))
        return -1;
    uint64_t v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t) (*p - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

int
shard_manifest_read (const char *path, shard_manifest_t *m, char *err)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        return pingyi_fail (err, "%s: cannot read: %s", path, strerror (errno));
    }
    char buf[MANIFEST_MAX + 1];
    ssize_t n = read (fd, buf, sizeof buf);
    int e = errno;
    close (fd);
    if (n < 0)
        return pingyi_fail (err, "%s: cannot read: %s", path, strerror (e));
    if ((size_t) n > MANIFEST_MAX)
        return pingyi_fail (err, "%s: damaged: longer than a manifest", path);
    buf[n] = 0;
    char *lines[7] = {0};
    size_t count = 0;
    char *save = NULL;
    for (char *line = strtok_r (buf, "\n", &save); line && count < 7; line = strtok_r (NULL, "\n", &save))
        lines[count++] = line;
    uint64_t shard = 0, shard_count = 0;
    const char *bad = NULL;
    if (count != 6)
        bad = "not six lines";
    else if (n == 0 || buf[n - 1] != 0) /* strtok_r cut the last line's '\n' to 0 */
        bad = "its last line does not end with a newline";
    if (!bad && strcmp (lines[0], MANIFEST_HEAD) != 0)
        bad = "its first line is not \"" MANIFEST_HEAD "\"";
    if (!bad && u64_field (lines[1], "shard", UINT32_MAX, &shard))
        bad = "line 2 is not \"shard N\"";
    if (!bad && u64_field (lines[2], "shard_count", UINT32_MAX, &shard_count))
        bad = "line 3 is not \"shard_count N\"";
    if (!bad && hex_field (lines[3], "election", m->fingerprint, PINGYI_FP_LEN))
        bad = "line 4 is not \"election <64 hex>\"";
    if (!bad && u64_field (lines[4], "sequence", UINT64_MAX, &m->sequence))
        bad = "line 5 is not \"sequence N\"";
    if (!bad && hex_field (lines[5], "digest", m->digest, PINGYI_SHARD_DIGEST_LEN))
        bad = "line 6 is not \"digest <64 hex>\"";
    if (bad)
        return pingyi_fail (err, "%s: damaged: %s (restore it, or the shard's state cannot be vouched for)",
                            path, bad);
    m->shard = (uint32_t) shard;
    m->shard_count = (uint32_t) shard_count;
    return 0;
}

int
shard_manifest_compare (pingyi_shard_t *self, const shard_manifest_t *m, char *err)
{
    const pingyi_shard_info_t *i = &self->info;
    char want[2 * PINGYI_SHARD_DIGEST_LEN + 1], have[2 * PINGYI_SHARD_DIGEST_LEN + 1];
    if (m->shard != self->shard || m->shard_count != self->election->shard_count ||
        memcmp (m->fingerprint, self->election->fingerprint, PINGYI_FP_LEN) != 0)
        return pingyi_fail (err,
                            "%s: its manifest %s is of shard %" PRIu32 " of %" PRIu32
                            " of another count (or another shard's): refusing to vouch for either",
                            self->path, self->manifest_path, m->shard, m->shard_count);
    if (i->current_sequence < m->sequence)
        return pingyi_fail (err,
                            "%s: rolled back: holds %" PRIu64 " accepted ballots, but its manifest %s says it "
                            "held %" PRIu64 ": acknowledged ballots are missing (restore the shard's files)",
                            self->path, i->current_sequence, self->manifest_path, m->sequence);
    if (i->current_sequence == m->sequence &&
        memcmp (i->current_digest, m->digest, PINGYI_SHARD_DIGEST_LEN) != 0) {
        sodium_bin2hex (want, sizeof want, m->digest, PINGYI_SHARD_DIGEST_LEN);
        sodium_bin2hex (have, sizeof have, i->current_digest, PINGYI_SHARD_DIGEST_LEN);
        return pingyi_fail (err,
                            "%s: holds %" PRIu64 " accepted ballots with log digest %.16s…, but its manifest %s "
                            "says %.16s… at that count: the shard's files were replaced or damaged",
                            self->path, i->current_sequence, have, self->manifest_path, want);
    }
    return 0;
}

static int
sync_dir_of (const char *path)
{
    char copy[1100];
    snprintf (copy, sizeof copy, "%s", path);
    int fd = open (dirname (copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

int
shard_manifest_checkpoint (pingyi_shard_t *self, bool force)
{
    if (self->read_only)
        return 0;
    int64_t now = pingyi_now_ms ();
    if (!force && (self->info.current_sequence == self->manifest_seq ||
                   now - self->manifest_ms < PINGYI_SHARD_MANIFEST_MS))
        return 0;
    char fp[2 * PINGYI_FP_LEN + 1], digest[2 * PINGYI_SHARD_DIGEST_LEN + 1], text[MANIFEST_MAX];
    sodium_bin2hex (fp, sizeof fp, self->election->fingerprint, PINGYI_FP_LEN);
    sodium_bin2hex (digest, sizeof digest, self->info.current_digest, PINGYI_SHARD_DIGEST_LEN);
    int len = snprintf (text, sizeof text,
                        MANIFEST_HEAD "\nshard %" PRIu32 "\nshard_count %" PRIu32 "\nelection %s\nsequence %" PRIu64
                                      "\ndigest %s\n",
                        self->shard, self->election->shard_count, fp, self->info.current_sequence, digest);
    char tmp[1200];
    snprintf (tmp, sizeof tmp, "%s.tmp", self->manifest_path);
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int e = 0;
    if (fd < 0)
        e = errno;
    else {
        if (write (fd, text, (size_t) len) != len || fsync (fd) != 0)
            e = errno ? errno : EIO;
        if (close (fd) != 0 && !e)
            e = errno;
        if (!e && rename (tmp, self->manifest_path) != 0)
            e = errno;
        if (!e && sync_dir_of (self->manifest_path) != 0)
            e = errno;
        if (e)
            unlink (tmp);
    }
    if (e) {
        if (!self->manifest_failing)
            pingyi_warn ("%s: cannot write its manifest %s: %s (the count is committed; tried again at the "
                         "next checkpoint)",
                         self->path, self->manifest_path, e == ENOSPC ? "the disk is full" : strerror (e));
        self->manifest_failing = true;
        return -1;
    }
    if (self->manifest_failing)
        pingyi_info ("%s: manifest %s written again", self->path, self->manifest_path);
    self->manifest_failing = false;
    self->manifest_ms = now;
    self->manifest_seq = self->info.current_sequence;
    return 0;
}
