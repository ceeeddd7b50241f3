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

/* keystore_path_join(), keystore_file_read() and keystore_file_write()
 * are public: keystore.h. */
/* Checks dir is a directory not writable by group or others. */
keystore_status_t keystore_dir_check(const char *dir, struct stat *st,
    keystore_err_t *err);

#endif
