/*
 * keystore_retire.h: leavers.  A retired address is no longer signed as
 * nor encrypted to from the escrow (keystore_signer() and
 * keystore_recipient() answer KEYSTORE_RETIRED), and no new key is
 * imported or escrowed for it; its keys still decrypt (keystore_decrypter())
 * until keystore_retire_purge() destroys them, a retention after the
 * retirement.  Then keystore_decrypter() answers KEYSTORE_RETIRED with
 * when the keys were destroyed.
 *
 * The record: a file "retired-<SHA-256 of the normalized address>" in the
 * keystore directory (mode 0600, written atomically, read without
 * following links and refused with unsafe permissions, as entries are),
 * lines "address A", "retired UNIXTIME" and, once destroyed, "destroyed
 * UNIXTIME".  Only who may write the keystore directory (root, the
 * service user) can retire or un-retire; nothing here un-retires.
 *
 * With KeystoreBackend ldap the record is instead a shared record in the
 * directory (keystore_record_add() in keystore.h: kind "retired", the same
 * hex name, the same text sealed under the master key), so that every
 * gateway sharing the keystore sees it.  Each gateway reads all the
 * retirement records at once and keeps that answer for KeystoreLDAPRefresh
 * seconds (the keystore's refresh): a retirement made on one gateway is
 * seen by the others within that delay; the gateway that retires sees it
 * at once.  A directory outage: the last list read whole is used on for
 * KeystoreLDAPMaxStale seconds beyond that delay (keystore.h).  Failing
 * closed: when the records cannot be read (and no such list is left), or the one of
 * an address does not open (forged, moved, another master key) or names
 * another address, keystore_retired_get() and keystore_retired_check()
 * answer an error, never "not retired", so the address is neither signed
 * as nor encrypted to.  Only who may write the directory's records (the
 * gateways' bind DN) can retire or un-retire.
 *
 * Threads: any; file records are read on each lookup (one open(2));
 * directory records through the cache, guarded by the keystore's
 * retired_lock (held during a reading of the directory).
 */
#ifndef KEYSTORE_RETIRE_H
#define KEYSTORE_RETIRE_H

#include <time.h>

#include "keystore/keystore.h"

#define KEYSTORE_ADDR_MAX 320

typedef struct keystore_retired {
	char address[KEYSTORE_ADDR_MAX];
	long long retired;          /* Unix time */
	long long destroyed;        /* Unix time, 0: keys kept */
} keystore_retired_t;

/* KEYSTORE_OK with *r when address is retired, KEYSTORE_NOTFOUND when it
 * is not, else an error (a record with unsafe permissions, unreadable). */
keystore_status_t keystore_retired_get(keystore_t *ks, const char *address,
    keystore_retired_t *r, keystore_err_t *err);

/* KEYSTORE_RETIRED with err saying since when when one of addresses
 * (NULL-terminated) is retired, KEYSTORE_OK when none is, else an error. */
keystore_status_t keystore_retired_check(keystore_t *ks,
    char *const *addresses, keystore_err_t *err);

/*
 * Retires address and every address that the certificates of its
 * entries name (aliases go with the person), at now; an address retired
 * already keeps its date.  *all (may be NULL) gets the addresses retired,
 * NULL-terminated, malloc'ed (free each and the array).  Under the
 * keystore's lock file.
 */
keystore_status_t keystore_retire(keystore_t *ks, const char *address,
    time_t now, char ***all, keystore_err_t *err);

/* Called by keystore_retire_purge() per entry destroyed. */
typedef void (*keystore_purge_fn)(const char *address,
    const keystore_info_t *info, void *arg);

/*
 * Destroys the keys of every address retired at or before now - retention
 * seconds and not destroyed yet: each entry file is overwritten with
 * zeros, synced and removed (opened without following a link), then the
 * record says "destroyed".  fn (may be NULL) hears of each entry;
 * *count (may be NULL) gets their number.  Under the keystore's lock
 * file.  With KeystoreBackend ldap the entries' values are removed from
 * the directory entries that hold them, each leaver under a lease in the
 * directory (keystore_lease.h, purge.HEX) so that of several gateways one
 * destroys and reports it; a key whose certificate also names an address
 * not retired, or retired within the retention, is kept; the record then
 * says "destroyed" (a conditional update).
 */
keystore_status_t keystore_retire_purge(keystore_t *ks, long long retention,
    time_t now, keystore_purge_fn fn, void *arg, size_t *count,
    keystore_err_t *err);

/* Frees what keystore_retire() gave in *all. */
void keystore_retire_list_free(char **all);

/* Internal to keystore/ (keystore_free()): the records read from the
 * directory last (KeystoreBackend ldap); NULL is fine. */
struct keystore_retired_set;
void keystore_retired_set_free(struct keystore_retired_set *set);

#endif
