/*  tar.h — write a POSIX ustar archive: directories and regular files, with
    their modes, nothing else.  Enough to hand one venue host its bundle as
    one file (`pingyi init --venue-archive`); read back by any tar(1).  */
#ifndef PINGYI_TAR_H
#define PINGYI_TAR_H

#include "common.h"

#include <stdio.h>
#include <sys/types.h>

/*  A directory entry (name without the trailing '/'), then regular files.
    Names are at most 99 bytes.  Each returns 0 / -1 (err set, naming the
    archive entry).  */
int pingyi_tar_dir (FILE *out, const char *name, mode_t mode, int64_t mtime, char *err);
int pingyi_tar_file (FILE *out, const char *name, mode_t mode, int64_t mtime, const void *data, size_t len,
                     char *err);
/*  The two zero blocks that end an archive.  */
int pingyi_tar_end (FILE *out, char *err);

#endif
