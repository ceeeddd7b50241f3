/*
 * keystore_master.h: the master key file.
 *
 * Internal to keystore/: declares keystore_master.c's functions only; each file
 * of keystore/ includes the headers of the files it calls.
 */
#ifndef KEYSTORE_MASTER_H
#define KEYSTORE_MASTER_H

#include "keystore/keystore.h"

#define KEYSTORE_MASTER_LEN   32

/* Loads the master key from path; creates it when absent and create. */
keystore_status_t keystore_master_load(const char *path, int create,
    unsigned char key[KEYSTORE_MASTER_LEN], keystore_err_t *err);

#endif
