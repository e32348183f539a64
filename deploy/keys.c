/*  keys.c — secret key files and the keyring of public keys.

    A secret key file is one line: 64 hex digits and an optional newline.  It
    is created with O_EXCL (a key is never overwritten: overwriting one would
    orphan every envelope sealed with it) and mode 0600, and it is refused on
    read when group or others have any access, with the chmod that fixes it.
    The mode is checked on the open descriptor (fstat), not the path, so the
    file checked is the file read.

    keyring.tsv lists every party's public keys.  The broker authorises by it
    (a CURVE key maps to one role and name), so the loader is strict: a bad
    line, a duplicate name or a CURVE key listed twice fails the whole load
    with FILE:LINE, rather than leaving a key with two meanings.  Temporary
    copies of secrets (hex text) are wiped with sodium_memzero.  */
#define _GNU_SOURCE
#include "keys.h"
#include "quote.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_HEX_LEN (2 * PINGYI_KEY_LEN)
#define KEYRING_FILE_MAX (16u << 20)

int
pingyi_key_write_secret (const char *path, const uint8_t secret[PINGYI_KEY_LEN], char *err)
{
    char line[KEY_HEX_LEN + 2];
    int fd = open (path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return pingyi_fail (err, "%s: already exists; refusing to overwrite a key", path);
        return pingyi_fail (err, "%s: cannot create: %s", path, strerror (errno));
    }
    /* The umask can only narrow 0600, but say it exactly anyway.  */
    if (fchmod (fd, 0600) != 0) {
        int e = errno;
        close (fd);
        unlink (path);
        return pingyi_fail (err, "%s: cannot chmod 600: %s", path, strerror (e));
    }
    pingyi_hex (line, secret, PINGYI_KEY_LEN);
    line[KEY_HEX_LEN] = '\n';
    size_t done = 0, want = KEY_HEX_LEN + 1;
    int e = 0;
    while (done < want) {
        ssize_t n = write (fd, line + done, want - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            e = n < 0 ? errno : EIO;
            break;
        }
        done += (size_t) n;
    }
    sodium_memzero (line, sizeof line);
    /* A key written but lost in a power cut would orphan every ballot sealed
       with it, so it reaches the disk before we say it exists.  */
    if (!e && fsync (fd) != 0)
        e = errno;
    if (close (fd) != 0 && !e)
        e = errno;
    if (e) {
        unlink (path);
        return pingyi_fail (err, "%s: cannot write: %s", path, strerror (e));
    }
    return 0;
}

int
pingyi_secret_open (const char *path, const char *what, char *err)
{
    struct stat st;
    /* O_NONBLOCK: a FIFO planted at the path must not hang the process; it
       is then refused as not a regular file.  */
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return pingyi_fail (err, "%s: cannot open: %s", path, strerror (errno));
    if (fstat (fd, &st) != 0) {
        int e = errno;
        close (fd);
        return pingyi_fail (err, "%s: cannot stat: %s", path, strerror (e));
    }
    if (!S_ISREG (st.st_mode)) {
        close (fd);
        return pingyi_fail (err, "%s: not a regular file", path);
    }
    if ((st.st_mode & 077) != 0) {
        close (fd);
        return pingyi_fail (err, "%s: mode %04o lets others read this %s; run: chmod 600 %s", path,
                            (unsigned) (st.st_mode & 07777), what, path);
    }
    /* Mode 0600 protects nothing if the file belongs to someone else: that
       user can read it, and could have planted it.  */
    if (st.st_uid != geteuid ()) {
        close (fd);
        return pingyi_fail (err,
                            "%s: owned by uid %u, not by this process's user (uid %u); a %s must "
                            "belong to the user that uses it: run: chown %u %s",
                            path, (unsigned) st.st_uid, (unsigned) geteuid (), what, (unsigned) geteuid (), path);
    }
    return fd;
}

int
pingyi_secret_read (const char *path, const char *what, char *buf, size_t cap, size_t *got, char *err)
{
    *got = 0;
    int fd = pingyi_secret_open (path, what, err);
    if (fd < 0)
        return -1;
    int e = 0;
    while (*got < cap) {
        ssize_t n = read (fd, buf + *got, cap - *got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            e = errno;
            break;
        }
        if (n == 0)
            break;
        *got += (size_t) n;
    }
    close (fd);
    return e ? pingyi_fail (err, "%s: cannot read: %s", path, strerror (e)) : 0;
}

int
pingyi_key_read_secret (const char *path, uint8_t secret[PINGYI_KEY_LEN], char *err)
{
    char buf[KEY_HEX_LEN + 2];
    size_t got;
    /* one byte more than a valid file can hold, to see a longer one */
    int e = pingyi_secret_read (path, "secret key", buf, sizeof buf, &got, err);
    int rc = 0;
    if (e)
        rc = -1;
    else if (!(got == KEY_HEX_LEN || (got == KEY_HEX_LEN + 1 && buf[KEY_HEX_LEN] == '\n')) ||
             pingyi_unhex (secret, PINGYI_KEY_LEN, buf, KEY_HEX_LEN) != 0) {
        sodium_memzero (secret, PINGYI_KEY_LEN);
        rc = pingyi_fail (err, "%s: not a key (expected %d hex digits)", path, KEY_HEX_LEN);
    }
    sodium_memzero (buf, sizeof buf);
    return rc;
}

void
pingyi_key_public (uint8_t public_key[PINGYI_KEY_LEN], const uint8_t secret[PINGYI_KEY_LEN])
{
    /* Only an all-zero result fails, which clamping makes impossible.  */
    if (sodium_init () < 0 || crypto_scalarmult_base (public_key, secret) != 0)
        memset (public_key, 0, PINGYI_KEY_LEN);
}

/* -------------------------------------------------------------------------
   Keyring  */

struct pingyi_keyring_t {
    pingyi_keyring_entry_t *entries;
    size_t *lines; /* line of each entry, for "first on line N" */
    size_t count;
    size_t cap;
    size_t *by_curve; /* entries with a curve key, sorted by it */
    size_t curve_count;
};

void
pingyi_keyring_destroy (pingyi_keyring_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pingyi_keyring_t *self = *self_p;
    free (self->entries);
    free (self->lines);
    free (self->by_curve);
    free (self);
    *self_p = NULL;
}

size_t
pingyi_keyring_size (const pingyi_keyring_t *self)
{
    return self ? self->count : 0;
}

const pingyi_keyring_entry_t *
pingyi_keyring_at (const pingyi_keyring_t *self, size_t index)
{
    return self && index < self->count ? &self->entries[index] : NULL;
}

/*  The broker looks a key up on every CURVE handshake (ZAP), and a city may
    list tens of thousands of venues: binary search on a sorted index.  */
const pingyi_keyring_entry_t *
pingyi_keyring_by_curve (const pingyi_keyring_t *self, const uint8_t curve[PINGYI_KEY_LEN])
{
    if (!self || !curve)
        return NULL;
    size_t lo = 0, hi = self->curve_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const pingyi_keyring_entry_t *e = &self->entries[self->by_curve[mid]];
        int c = memcmp (e->curve, curve, PINGYI_KEY_LEN);
        if (c == 0)
            return e;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const pingyi_keyring_entry_t *
pingyi_keyring_find (const pingyi_keyring_t *self, pingyi_role_t role, const char *name)
{
    if (!self)
        return NULL;
    for (size_t i = 0; i < self->count; i++)
        if (self->entries[i].role == role && (!name || !strcmp (self->entries[i].name, name)))
            return &self->entries[i];
    return NULL;
}

int
pingyi_check_trusted_file (const char *path, char *err)
{
    struct stat st;
    if (stat (path, &st) != 0)
        return pingyi_fail (err, "%s: cannot stat: %s", path, strerror (errno));
    if ((st.st_mode & 022) != 0)
        return pingyi_fail (err,
                            "%s: mode %04o lets others change who may connect and what is counted; run: "
                            "chmod go-w %s",
                            path, (unsigned) (st.st_mode & 07777), path);
    if (st.st_uid != geteuid () && st.st_uid != 0)
        return pingyi_fail (err, "%s: owned by uid %u, neither this process's user (uid %u) nor root", path,
                            (unsigned) st.st_uid, (unsigned) geteuid ());
    return 0;
}

bool
pingyi_keyring_assigned (const pingyi_keyring_entry_t *e, uint32_t shard)
{
    return e && e->role == PINGYI_ROLE_WORKER && shard < 256 && (e->shards[shard / 8] & (1u << (shard % 8)));
}

const uint8_t *
pingyi_keyring_shard_public (const pingyi_keyring_t *self, uint32_t shard)
{
    char name[16];
    snprintf (name, sizeof name, "%u", shard);
    const pingyi_keyring_entry_t *e = pingyi_keyring_find (self, PINGYI_ROLE_SHARD, name);
    return e && e->has_box ? e->box : NULL;
}

int
pingyi_shard_list_parse (const char *s, size_t len, uint8_t shards[32], char *err)
{
    memset (shards, 0, 32);
    const char *p = s, *end = s + len;
    int shown = (int) (len > 40 ? 40 : len); /* bytes of the list an error shows */
    if (len == 1 && s[0] == '-')
        return 0;
    while (p < end) {
        const char *comma = memchr (p, ',', (size_t) (end - p));
        const char *item_end = comma ? comma : end;
        unsigned long lo, hi;
        char buf[16];
        size_t n = (size_t) (item_end - p);
        if (n == 0 || n >= sizeof buf)
            goto bad;
        memcpy (buf, p, n);
        buf[n] = '\0';
        char *dash = strchr (buf, '-'), *rest;
        if (dash)
            *dash = '\0';
        if (!buf[0] || !strchr ("0123456789", buf[0]))
            goto bad;
        lo = strtoul (buf, &rest, 10);
        if (*rest)
            goto bad;
        hi = lo;
        if (dash) {
            if (!dash[1] || !strchr ("0123456789", dash[1]))
                goto bad;
            hi = strtoul (dash + 1, &rest, 10);
            if (*rest)
                goto bad;
        }
        if (lo > hi || hi > 255)
            return pingyi_fail (err, "shard list \"%.*s\": shards are 0..255, low before high", shown, s);
        for (unsigned long i = lo; i <= hi; i++)
            shards[i / 8] |= (uint8_t) (1u << (i % 8));
        p = comma ? comma + 1 : end;
        if (comma && p == end)
            goto bad;
    }
    return 0;
bad:
    return pingyi_fail (err, "bad shard list \"%.*s\" (want e.g. 0-3,6)", shown, s);
}

void
pingyi_shard_list_format (char *out, size_t cap, const uint8_t shards[32])
{
    size_t used = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < 256;) {
        if (!(shards[i / 8] & (1u << (i % 8)))) {
            i++;
            continue;
        }
        unsigned j = i;
        while (j + 1 < 256 && (shards[(j + 1) / 8] & (1u << ((j + 1) % 8))))
            j++;
        int n = j > i ? snprintf (out + used, cap - used, "%s%u-%u", used ? "," : "", i, j)
                      : snprintf (out + used, cap - used, "%s%u", used ? "," : "", i);
        if (n < 0 || (size_t) n >= cap - used)
            break;
        used += (size_t) n;
        i = j + 1;
    }
    if (!used)
        snprintf (out, cap, "-");
}

/*  A key column: "-" (absent) or 64 hex digits.  */
static int
parse_key_column (const char *s, size_t len, uint8_t key[PINGYI_KEY_LEN], bool *has)
{
    if (len == 1 && s[0] == '-') {
        *has = false;
        return 0;
    }
    if (pingyi_unhex (key, PINGYI_KEY_LEN, s, len) != 0)
        return -1;
    *has = true;
    return 0;
}

static bool
is_blank (const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return false;
    return true;
}

/*  Parse one non-comment line into e; -1 with "PATH:LINE: reason".  */
static int
parse_line (const char *path, size_t line_no, const char *s, size_t len, pingyi_keyring_entry_t *e, char *err)
{
    size_t cols = 1;
    for (size_t i = 0; i < len; i++)
        cols += s[i] == '\t';
    if (cols != 4 && cols != 5)
        return pingyi_fail (err,
                            "%s:%zu: expected 4 tab-separated columns (role, name, curve key, box key) and, "
                            "for a worker, a fifth (its shards), got %zu",
                            path, line_no, cols);
    const char *col[5];
    size_t col_len[5];
    const char *p = s, *end = s + len;
    for (size_t c = 0; c < cols; c++) {
        const char *tab = memchr (p, '\t', (size_t) (end - p));
        col[c] = p;
        col_len[c] = (size_t) ((tab ? tab : end) - p);
        p = tab ? tab + 1 : end;
    }

    memset (e, 0, sizeof *e);
    e->role = pingyi_role_parse (col[0], col_len[0]);
    if (e->role == PINGYI_ROLE_NONE) {
        char q[PINGYI_QUOTE_SIZE (32)];
        return pingyi_fail (
            err, "%s:%zu: unknown role %s (want broker, worker, aggregator, operator, venue or shard)", path,
            line_no, pingyi_quote (q, sizeof q, col[0], col_len[0], 32));
    }
    if (col_len[1] < 1 || col_len[1] > PINGYI_NAME_MAX)
        return pingyi_fail (err, "%s:%zu: name length %zu (must be 1..%d)", path, line_no, col_len[1],
                            PINGYI_NAME_MAX);
    for (size_t i = 0; i < col_len[1]; i++)
        if ((unsigned char) col[1][i] < 0x20 || col[1][i] == 0x7f)
            return pingyi_fail (err, "%s:%zu: name contains a control character", path, line_no);
    memcpy (e->name, col[1], col_len[1]);
    e->name[col_len[1]] = '\0';
    if (parse_key_column (col[2], col_len[2], e->curve, &e->has_curve))
        return pingyi_fail (err, "%s:%zu: curve key is neither 64 hex digits nor -", path, line_no);
    if (parse_key_column (col[3], col_len[3], e->box, &e->has_box))
        return pingyi_fail (err, "%s:%zu: box key is neither 64 hex digits nor -", path, line_no);
    /* What each role uses its keys for: connections need CURVE, sealing
       needs box.  A line without them would only fail later, further away.  */
    bool need_curve = e->role != PINGYI_ROLE_SHARD;
    bool need_box = e->role == PINGYI_ROLE_VENUE || e->role == PINGYI_ROLE_SHARD;
    if (cols == 5) {
        if (col_len[4] == 0)
            return pingyi_fail (err, "%s:%zu: empty shard list (write - for none)", path, line_no);
        if (e->role != PINGYI_ROLE_WORKER)
            return pingyi_fail (err, "%s:%zu: only a worker line has a fifth column (its shards)", path, line_no);
        char why[PINGYI_ERR_MAX];
        if (pingyi_shard_list_parse (col[4], col_len[4], e->shards, why))
            return pingyi_fail (err, "%s:%zu: %s", path, line_no, why);
    }
    if (e->role == PINGYI_ROLE_SHARD && e->has_curve)
        return pingyi_fail (err, "%s:%zu: a shard line has no curve key (write -): a shard never connects", path,
                            line_no);
    if (e->role == PINGYI_ROLE_SHARD) {
        char *rest;
        unsigned long n = strtoul (e->name, &rest, 10);
        if (*rest || n > 255 || !strchr ("0123456789", e->name[0]) || (e->name[0] == '0' && e->name[1]))
            return pingyi_fail (err, "%s:%zu: a shard line is named by its number 0..255, not \"%s\"", path,
                                line_no, e->name);
    }
    const char *role = pingyi_role_name (e->role);
    const char *article = strchr ("aeiou", role[0]) ? "an" : "a";
    if (need_curve && !e->has_curve)
        return pingyi_fail (err, "%s:%zu: %s %s entry needs a curve key", path, line_no, article, role);
    if (need_box && !e->has_box)
        return pingyi_fail (err, "%s:%zu: %s %s entry needs a box key", path, line_no, article, role);
    return 0;
}

static int
add_entry (pingyi_keyring_t *self, const pingyi_keyring_entry_t *e, size_t line_no)
{
    if (self->count == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        pingyi_keyring_entry_t *entries = realloc (self->entries, cap * sizeof *entries);
        if (!entries)
            return -1;
        self->entries = entries;
        size_t *lines = realloc (self->lines, cap * sizeof *lines);
        if (!lines)
            return -1;
        self->lines = lines;
        self->cap = cap;
    }
    self->entries[self->count] = *e;
    self->lines[self->count] = line_no;
    self->count++;
    return 0;
}

/*  Sorting helpers: qsort has no context argument, so the entries being
    sorted are passed through a thread-local.  */
static _Thread_local const pingyi_keyring_t *sorting;

static int
by_name (const void *a, const void *b)
{
    size_t i = *(const size_t *) a, j = *(const size_t *) b;
    const pingyi_keyring_entry_t *x = &sorting->entries[i], *y = &sorting->entries[j];
    if (x->role != y->role)
        return x->role < y->role ? -1 : 1;
    int c = strcmp (x->name, y->name);
    if (c)
        return c;
    return i < j ? -1 : i > j; /* entries are in line order */
}

static int
by_curve (const void *a, const void *b)
{
    size_t i = *(const size_t *) a, j = *(const size_t *) b;
    int c = memcmp (sorting->entries[i].curve, sorting->entries[j].curve, PINGYI_KEY_LEN);
    if (c)
        return c;
    return i < j ? -1 : i > j;
}

/*  Refuse a (role, name) listed twice and a CURVE key listed twice: either
    would give one key two meanings at the broker.  Reports the duplicate
    nearest the top of the file.  Builds the curve index on success.  */
static int
check_duplicates (pingyi_keyring_t *self, const char *path, char *err)
{
    size_t n = self->count;
    size_t *order = malloc ((n ? n : 1) * sizeof *order);
    if (!order)
        return pingyi_fail (err, "%s: out of memory", path);
    sorting = self;
    size_t worst = SIZE_MAX, first = 0;
    bool curve_dup = false;

    for (size_t i = 0; i < n; i++)
        order[i] = i;
    qsort (order, n, sizeof *order, by_name);
    for (size_t i = 1; i < n; i++) {
        const pingyi_keyring_entry_t *x = &self->entries[order[i - 1]], *y = &self->entries[order[i]];
        if (x->role == y->role && !strcmp (x->name, y->name) && order[i] < worst) {
            worst = order[i];
            first = order[i - 1];
        }
    }

    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (self->entries[i].has_curve)
            order[m++] = i;
    qsort (order, m, sizeof *order, by_curve);
    for (size_t i = 1; i < m; i++)
        if (!memcmp (self->entries[order[i - 1]].curve, self->entries[order[i]].curve, PINGYI_KEY_LEN) &&
            order[i] < worst) {
            worst = order[i];
            first = order[i - 1];
            curve_dup = true;
        }
    sorting = NULL;

    if (worst != SIZE_MAX) {
        const pingyi_keyring_entry_t *e = &self->entries[worst], *o = &self->entries[first];
        free (order);
        if (curve_dup)
            return pingyi_fail (err, "%s:%zu: curve key already belongs to %s %s (line %zu)", path,
                                self->lines[worst], pingyi_role_name (o->role), o->name, self->lines[first]);
        return pingyi_fail (err, "%s:%zu: duplicate %s %s (first on line %zu)", path, self->lines[worst],
                            pingyi_role_name (e->role), e->name, self->lines[first]);
    }
    self->by_curve = order;
    self->curve_count = m;
    return 0;
}

pingyi_keyring_t *
pingyi_keyring_load (const char *path, char *err)
{
    if (pingyi_check_trusted_file (path, err))
        return NULL;
    size_t len;
    uint8_t *text = pingyi_read_file (path, KEYRING_FILE_MAX, &len, err);
    if (!text)
        return NULL;
    pingyi_keyring_t *self = calloc (1, sizeof *self);
    if (!self) {
        free (text);
        pingyi_fail (err, "%s: out of memory", path);
        return NULL;
    }
    const char *p = (const char *) text, *end = p + len;
    size_t line_no = 0;
    while (p < end) {
        const char *nl = memchr (p, '\n', (size_t) (end - p));
        const char *line = p;
        size_t line_len = (size_t) ((nl ? nl : end) - p);
        p = nl ? nl + 1 : end;
        line_no++;
        if (line_len && line[line_len - 1] == '\r')
            line_len--;
        if (is_blank (line, line_len) || line[0] == '#')
            continue;
        pingyi_keyring_entry_t e;
        if (parse_line (path, line_no, line, line_len, &e, err))
            goto fail;
        if (add_entry (self, &e, line_no)) {
            pingyi_fail (err, "%s: out of memory", path);
            goto fail;
        }
    }
    free (text);
    if (check_duplicates (self, path, err))
        goto fail_no_text;
    return self;
fail:
    free (text);
fail_no_text:
    pingyi_keyring_destroy (&self);
    return NULL;
}
