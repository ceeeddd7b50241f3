/*
 * keystore_ldap.h: the entries kept in an LDAP directory instead of files.
 *
 * Internal to keystore/: declares keystore_ldap.c's functions only; each file
 * of keystore/ includes the headers of the files it calls.
 */
#ifndef KEYSTORE_LDAP_H
#define KEYSTORE_LDAP_H

#include "keystore/keystore.h"
#include "keystore/keystore_entry.h"

typedef struct keystore_ldap keystore_ldap_t;

keystore_status_t keystore_ldap_new(const keystore_ldap_settings_t *s,
    keystore_ldap_t **kl, keystore_err_t *err);
void keystore_ldap_free(keystore_ldap_t *kl);
/* What keystore_ldap_scan() hands each value to: add takes a parsed
 * entry (returns 0) or fails (-1: out of memory); skip is told of a value
 * that does not parse (the DN of its directory entry and why). */
typedef struct keystore_ldap_scan {
	int (*add)(keystore_entry_t *e, void *arg);
	void (*skip)(const char *dn, const char *why, void *arg);
	void *arg;
} keystore_ldap_scan_t;
/* Calls cb->add once per entry every employee's entry holds, cb->skip
 * once per value that is not a readable entry (left out, not an error). */
keystore_status_t keystore_ldap_scan(keystore_ldap_t *kl,
    const keystore_ldap_scan_t *cb, keystore_err_t *err);
/* Stores e in the directory entry of its first address that has one,
 * replacing a value for the same certificate. */
keystore_status_t keystore_ldap_put(keystore_ldap_t *kl,
    const keystore_entry_t *e, keystore_err_t *err);
/* Removes e's value from the directory entries of its addresses
 * (keystore_retire_purge()); *removed counts the values removed. */
keystore_status_t keystore_ldap_remove(keystore_ldap_t *kl,
    const keystore_entry_t *e, size_t *removed, keystore_err_t *err);
/* Whether the directory entry for address holds entries: 1 yes, 0 no
 * (or no such person), -1 with err when the directory cannot say. */
int keystore_ldap_has(keystore_ldap_t *kl, const char *address,
    keystore_err_t *err);
/* One round trip (a base search of the base DN): KEYSTORE_OK when the
 * directory answers. */
keystore_status_t keystore_ldap_ping(keystore_ldap_t *kl, keystore_err_t *err);
/* Seconds an index built from the directory is used before a new scan. */
long keystore_ldap_refresh(const keystore_ldap_t *kl);
/* Seconds beyond the refresh that a reading is used on while the
 * directory cannot be read (0: none). */
long keystore_ldap_max_stale(const keystore_ldap_t *kl);
/* Seconds between two tries to read the directory while it cannot be
 * read and an older reading is used. */
#define KEYSTORE_LDAP_RETRY 2
const char *keystore_ldap_name(const keystore_ldap_t *kl);
/* Makes ou=smimegate under the base, where the gateways keep their
 * records and outsiders' entries (an LDAP result code; it existing is
 * LDAP_SUCCESS). */
int keystore_ldap_container(keystore_ldap_t *kl, char *why, size_t len);
/* The LDAP client (for keystore_record.c's shared records). */
struct net_ldap *keystore_ldap_client(const keystore_ldap_t *kl);

#endif
