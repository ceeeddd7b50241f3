/*
 * keystore_file.h: safe file reading and atomic file writing.
 *
 * Internal to keystore/: declares keystore_file.c's functions only; each file
 * of keystore/ includes the headers of the files it calls.
 */
#ifndef KEYSTORE_FILE_H
#define KEYSTORE_FILE_H

#include <stddef.h>
#include <sys/stat.h>

#include "keystore/keystore.h"

/* "dir/name", malloc'ed; NULL when out of memory. */
char *keystore_path_join(const char *dir, const char *name);
/*
 * Reads a whole regular file with util_secret_read() (util/util.h):
 * symbolic links, another owner and (mode & 077) != 0 are
 * KEYSTORE_ERR_PERM, files larger than max KEYSTORE_ERR_CORRUPT.  *data is
 * OPENSSL_malloc'ed; the caller frees it with OPENSSL_clear_free(*data, *len).
 * ENOENT gives KEYSTORE_NOTFOUND so that callers may create the file.
 */
keystore_status_t keystore_file_read(const char *path, long max,
    unsigned char **data, size_t *len, keystore_err_t *err);
/*
 * Writes data to dir/name atomically, mode 0600: a temporary file, fsync,
 * then rename() (replacing) or, when exclusive, link() (never replacing:
 * if dir/name exists, nothing is written, *exists is set and KEYSTORE_OK
 * returned), then fsync of dir.  When running as root the file is given
 * to the owner of dir, the service user the daemon reads it as.
 */
keystore_status_t keystore_file_write(const char *dir, const char *name,
    const void *data, size_t len, int exclusive, int *exists,
    keystore_err_t *err);
/* Checks dir is a directory not writable by group or others. */
keystore_status_t keystore_dir_check(const char *dir, struct stat *st,
    keystore_err_t *err);

#endif
