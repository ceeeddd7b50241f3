/*
 * keystore_snapshot.h: the handle's index kept fresh, and the snapshot of
 * it every lookup takes.
 *
 * Internal to keystore/: declares keystore_snapshot.c's functions only;
 * each file of keystore/ includes the headers of the files it calls.
 */
#ifndef KEYSTORE_SNAPSHOT_H
#define KEYSTORE_SNAPSHOT_H

#include "keystore/keystore.h"
#include "keystore/keystore_entry.h"
#include "keystore/keystore_index.h"

/* The current index (rebuilt first if the directory changed), with a
 * reference the caller drops with keystore_index_unref(). */
keystore_status_t keystore_snapshot(keystore_t *ks, keystore_index_t **idx,
    keystore_err_t *err);
/* Marks the index stale after a change made through ks. */
void keystore_touch(keystore_t *ks);
/* With the entries in LDAP and idx older than a moment, when address (if
 * not NULL) has entries in the directory or the directory cannot say:
 * marks the index stale and returns 1, so that the caller looks again (an
 * entry imported through another gateway).  Else 0.  An address without
 * entries costs one search, not a reading of the whole directory. */
int keystore_miss(keystore_t *ks, const keystore_index_t *idx,
    const char *address);
/* Stores a new or resealed entry where ks keeps them (dir or LDAP). */
keystore_status_t keystore_entry_store(keystore_t *ks,
    const keystore_entry_t *entry, keystore_err_t *err);

#endif
