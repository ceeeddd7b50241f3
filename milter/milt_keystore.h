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
/* Entries of the directory left out as unreadable (keystore_skipped()):
 * logged once per reading of the directory (with qid, may be NULL), and
 * their number published in /metrics.  Callable from any thread. */
void milt_keystore_report(keystore_t *ks, const char *qid);

#endif
