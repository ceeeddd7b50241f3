/*
 * keystore_int.h: the keystore handle's fields (struct keystore), which
 * the files of keystore/ share.  Types only: it declares no function.
 *
 * The files of keystore/, each with a header of its own declaring its
 * functions (internal to keystore/ unless it is keystore*.h's public
 * part):
 *   keystore.c         the handle: open, free, health, lookups
 *   keystore_snapshot.c  the index kept fresh, the snapshot lookups take
 *   keystore_file.c    safe file reading and atomic file writing
 *   keystore_master.c  the master key file
 *   keystore_entry.c   one entry: its PEM file, its key sealed with AES-GCM
 *   keystore_cert.c    what a certificate says: addresses, dates, usages
 *   keystore_index.c   the scanned directory, sorted for lookups
 *   keystore_p12.c     PKCS#12 import and export
 *   keystore_find.c    the key for a CMS RecipientInfo (issuer and serial,
 *                      or subject key identifier)
 *   keystore_public.c  the certificates anyone may see (lookup service)
 *   keystore_keys.c    the master keys in use, the import/rekey lock
 *   keystore_rekey.c   the master key's rotation
 *   keystore_ldap.c    the entries kept in an LDAP directory instead of files
 *   keystore_record.c  the gateways' shared records in that directory
 *   keystore_retire.c  leavers: the retirement record, destroying keys
 *
 * Threads: the locks below guard what their comments say.
 */
#ifndef KEYSTORE_INT_H
#define KEYSTORE_INT_H

#include <pthread.h>

#include "keystore/keystore.h"
#include "keystore/keystore_master.h"

typedef struct keystore_entry keystore_entry_t;   /* keystore_entry.h */
typedef struct keystore_index keystore_index_t;   /* keystore_index.h */
typedef struct keystore_ldap keystore_ldap_t;     /* keystore_ldap.h */

struct keystore {
	char *dir;
	char *master_file;
	pthread_mutex_t master_lock;   /* guards master, next, has_next */
	unsigned char master[KEYSTORE_MASTER_LEN];
	unsigned char next[KEYSTORE_MASTER_LEN];   /* of an unfinished rekey */
	int has_next;
	pthread_rwlock_t lock;         /* guards idx and stale */
	keystore_index_t *idx;
	int stale;                     /* we imported: scan again */
	struct timespec ldap_retry;    /* LDAP down: no new scan before (mono) */
	pthread_mutex_t import_lock;   /* one import at a time; guards last */
	keystore_entry_t *last;        /* the last import, for its info */
	keystore_ldap_t *ldap;         /* entries in LDAP; NULL: in dir */
	pthread_mutex_t retired_lock;  /* guards retired (keystore_retire.c) */
	struct keystore_retired_set *retired;   /* LDAP: the records read last */
};

#endif
