/*
 * milt_keystore.h: the keystore the configuration names, opened the same
 * way by smimegate and smimectl: files in KeystoreDirectory, or entries
 * in the directory KeystoreLDAP when KeystoreBackend is ldap.
 *
 * Ownership: the handle is the caller's (keystore_free()).
 */
#ifndef MILT_KEYSTORE_H
#define MILT_KEYSTORE_H

#include "keystore/keystore.h"
#include "milter/milt_conf.h"

/* keystore_open_ex() with conf's settings; NULL with err filled. */
keystore_t *milt_keystore_open(const milt_conf_t *conf, int flags,
    keystore_err_t *err);

#endif
