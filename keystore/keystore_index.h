/*
 * keystore_index.h: the scanned directory (or LDAP), sorted for lookups.
 *
 * Ownership: an index is immutable once built and reference counted, so a
 * lookup or keystore_foreach() keeps the snapshot it took while a rebuild
 * publishes a new one.
 *
 * Internal to keystore/: declares keystore_index.c's functions only; each file
 * of keystore/ includes the headers of the files it calls.
 */
#ifndef KEYSTORE_INDEX_H
#define KEYSTORE_INDEX_H

#include <stdatomic.h>
#include <stddef.h>
#include <time.h>
#include <sys/stat.h>

#include "keystore/keystore.h"
#include "keystore/keystore_entry.h"

typedef struct keystore_ldap keystore_ldap_t;   /* keystore_ldap.h */

typedef struct keystore_slot {
	char *addr;                    /* normalized address */
	keystore_entry_t *entry;
} keystore_slot_t;

typedef struct keystore_index {
	atomic_int refs;
	keystore_entry_t **entries;    /* by first address, not_before */
	size_t n_entries;
	keystore_slot_t *slots;        /* by address, then newest first */
	size_t n_slots;
	struct stat dir_st;            /* the directory as it was scanned */
	struct timespec scanned;       /* when (CLOCK_REALTIME), for racy */
	struct timespec scanned_mono;  /* when (CLOCK_MONOTONIC) */
	size_t n_skipped;              /* LDAP values that did not parse */
	char skipped[256];             /* the first ones: DN and why */
	atomic_int reported;           /* keystore_skipped() told of them */
} keystore_index_t;

/* Scans dir; a new index with one reference. */
keystore_status_t keystore_index_build(const char *dir, keystore_index_t **idx,
    keystore_err_t *err);
/* The same from the entries in the directory kl. */
keystore_status_t keystore_index_build_ldap(keystore_ldap_t *kl,
    keystore_index_t **idx, keystore_err_t *err);
keystore_index_t *keystore_index_ref(keystore_index_t *idx);
void keystore_index_unref(keystore_index_t *idx);
/* The slots for address (newest first): *first and the count. */
size_t keystore_index_find(const keystore_index_t *idx, const char *address,
    const keystore_slot_t **first);

#endif
