/*  tar.c — the POSIX ustar format (POSIX.1-2001 pax "ustar" interchange
    format): each entry is a 512-byte header, then its data padded to 512
    bytes; two zero blocks end the archive.  Numbers are octal text.  */
#include "tar.h"

#include <string.h>

#define BLOCK 512

static int
put_octal (char *field, size_t width, uint64_t value)
{
    /* width - 1 digits and a NUL */
    char tmp[32];
    int n = snprintf (tmp, sizeof tmp, "%0*llo", (int) (width - 1), (unsigned long long) value);
    if (n < 0 || (size_t) n != width - 1)
        return -1;
    memcpy (field, tmp, width);
    return 0;
}

static int
header (FILE *out, const char *name, char type, mode_t mode, int64_t mtime, size_t size, char *err)
{
    unsigned char h[BLOCK] = {0};
    size_t len = strlen (name);
    if (len == 0 || len > 99)
        return pingyi_fail (err, "archive entry \"%s\": a name of 1..99 bytes", name);
    memcpy (h, name, len);
    if (put_octal ((char *) h + 100, 8, (uint64_t) (mode & 07777)) || put_octal ((char *) h + 108, 8, 0) ||
        put_octal ((char *) h + 116, 8, 0) || put_octal ((char *) h + 124, 12, size) ||
        put_octal ((char *) h + 136, 12, (uint64_t) (mtime > 0 ? mtime : 0)))
        return pingyi_fail (err, "archive entry %s: %zu bytes, too large for ustar", name, size);
    h[156] = (unsigned char) type;
    memcpy (h + 257, "ustar", 6); /* magic with its NUL */
    memcpy (h + 263, "00", 2);    /* version */
    memset (h + 148, ' ', 8);     /* the checksum counts its own field as spaces */
    unsigned sum = 0;
    for (size_t i = 0; i < BLOCK; i++)
        sum += h[i];
    snprintf ((char *) h + 148, 8, "%06o", sum); /* six digits, NUL, then the space kept below */
    h[155] = ' ';
    if (fwrite (h, 1, BLOCK, out) != BLOCK)
        return pingyi_fail (err, "archive entry %s: write failed", name);
    return 0;
}

int
pingyi_tar_dir (FILE *out, const char *name, mode_t mode, int64_t mtime, char *err)
{
    char with_slash[101];
    if (snprintf (with_slash, sizeof with_slash, "%s/", name) >= (int) sizeof with_slash)
        return pingyi_fail (err, "archive entry \"%s\": a name of 1..99 bytes", name);
    return header (out, with_slash, '5', mode, mtime, 0, err);
}

int
pingyi_tar_file (FILE *out, const char *name, mode_t mode, int64_t mtime, const void *data, size_t len,
                 char *err)
{
    static const unsigned char zero[BLOCK];
    if (header (out, name, '0', mode, mtime, len, err))
        return -1;
    size_t pad = (BLOCK - len % BLOCK) % BLOCK;
    if (fwrite (data, 1, len, out) != len || fwrite (zero, 1, pad, out) != pad)
        return pingyi_fail (err, "archive entry %s: write failed", name);
    return 0;
}

int
pingyi_tar_end (FILE *out, char *err)
{
    static const unsigned char zero[2 * BLOCK];
    if (fwrite (zero, 1, sizeof zero, out) != sizeof zero)
        return pingyi_fail (err, "archive end: write failed");
    return 0;
}
