/*
 * keystore_record.h: what keystore_rekey.c and keystore_retire.c need of the shared records
 * (keystore_record.c; their public calls are in keystore.h).
 *
 * Internal to keystore/: declares keystore_record.c's internal functions only.
 */
#ifndef KEYSTORE_RECORD_H
#define KEYSTORE_RECORD_H

#include "keystore/keystore.h"
#include "keystore/keystore_master.h"

/* Seals every shared record again under next (those next opens already,
 * and those no key opens, are left); *done counts them.  KEYSTORE_OK at once without LDAP. */
keystore_status_t keystore_record_rekey(keystore_t *ks,
    const unsigned char next[KEYSTORE_MASTER_LEN], size_t *done,
    keystore_err_t *err);

/* keystore_record_foreach(), but a record that does not open (forged,
 * moved, another master key) is handed to fn too, with data NULL and len
 * 0, so that a caller that must fail closed (the retirement records,
 * keystore_retire.c) sees it. */
int keystore_record_foreach_all(keystore_t *ks, const char *kind,
    int (*fn)(const char *name, const unsigned char *data, size_t len,
    long version, void *arg), void *arg, keystore_err_t *err);

#endif
