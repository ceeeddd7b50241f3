/*
 * keystore_record.h: what keystore_rekey.c needs of the shared records
 * (keystore_record.c; their public calls are in keystore.h).
 *
 * Internal to keystore/: declares keystore_record.c's internal function only.
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

#endif
