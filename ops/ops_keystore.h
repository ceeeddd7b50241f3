/*
 * ops_keystore.h: the keystore the configuration names, opened the same
 * way by smimegate and smimectl: files in KeystoreDirectory, or entries
 * in the directory KeystoreLDAP when KeystoreBackend is ldap.
 *
 * Ownership: the handle is the caller's (keystore_free()).
 */
#ifndef OPS_KEYSTORE_H
#define OPS_KEYSTORE_H

#include "keystore/keystore.h"
#include "conf/conf.h"

/* keystore_open_ex() with conf's settings; NULL with err filled. */
keystore_t *ops_keystore_open(const conf_t *conf, int flags,
    keystore_err_t *err);
/* Entries of the directory left out as unreadable (keystore_skipped()):
 * logged once per reading of the directory (with qid, may be NULL), and
 * their number published in /metrics.  Callable from any thread. */
void ops_keystore_report(keystore_t *ks, const char *qid);
/* The keys of addresses retired more than RetireRetention ago destroyed
 * (keystore_retire_purge()), each destruction and a failure logged; the
 * gateway's spool runner calls it on each run (one thread); with
 * KeystoreBackend ldap at most once every KeystoreLDAPRefresh seconds
 * (each is a search of the directory's records). */
void ops_keystore_purge(const conf_t *conf, keystore_t *ks);

#endif
