/*
 * keystore_int.h: what the files of keystore/ share and nobody else sees.
 *
 *   keystore.c         the handle: open, free, index freshness, lookups
 *   keystore_err.c     filling a keystore_err_t, draining OpenSSL's queue
 *   keystore_file.c    safe file reading and atomic file writing
 *   keystore_master.c  the master key file
 *   keystore_entry.c   one entry: its PEM file, its key sealed with AES-GCM
 *   keystore_cert.c    what a certificate says: addresses, dates, usages
 *   keystore_index.c   the scanned directory, sorted for lookups
 *   keystore_p12.c     PKCS#12 import and export
 *   keystore_find.c    the key for a CMS RecipientInfo (issuer and serial,
 *                      or subject key identifier)
 *   keystore_rekey.c   the master keys in use, and their rotation
 *   keystore_ldap.c    the entries kept in an LDAP directory instead of files
 *
 * Ownership: an entry belongs to the index that loaded it (or to the one
 * caller that made it, for an import).  An index is immutable once built
 * and reference counted, so a lookup or keystore_foreach() keeps the
 * snapshot it took while a rebuild publishes a new one.
 */
#ifndef KEYSTORE_INT_H
#define KEYSTORE_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "keystore/keystore.h"

typedef struct keystore_ldap keystore_ldap_t;   /* keystore_ldap.c */

#define KEYSTORE_MASTER_LEN   32
#define KEYSTORE_FP_LEN       32          /* SHA-256 */
#define KEYSTORE_KEY_PEM_NAME "SMIMEGATE ENCRYPTED PRIVATE KEY"
#define KEYSTORE_ENTRY_MAX    (1024L * 1024L)   /* an entry file's size limit */

/* ---- errors (keystore_err.c) ---- */

/* keystore_err_set() and keystore_err_ssl() are in keystore.h. */
/* 1 when OpenSSL's latest queued error is from library lib with reason. */
int keystore_err_ssl_last_is(int lib, int reason);

/* ---- files (keystore_file.c) ---- */

/* "dir/name", malloc'ed; NULL when out of memory. */
char *keystore_path_join(const char *dir, const char *name);
/* keystore_file_read() and keystore_file_write() are in keystore.h. */
/* Checks dir is a directory not writable by group or others. */
keystore_status_t keystore_dir_check(const char *dir, struct stat *st,
    keystore_err_t *err);

/* ---- master key (keystore_master.c) ---- */

/* Loads the master key from path; creates it when absent and create. */
keystore_status_t keystore_master_load(const char *path, int create,
    unsigned char key[KEYSTORE_MASTER_LEN], keystore_err_t *err);

/* ---- certificates (keystore_cert.c) ---- */

/* The addresses cert names, NULL-terminated (malloc'ed), NULL if none or
 * out of memory (*nomem tells which). */
char **keystore_cert_addresses(X509 *cert, int *nomem);
void keystore_strv_free(char **v);
/* The lower-case hex SHA-256 of cert (65 bytes), and the raw digest. */
int keystore_cert_fingerprint(X509 *cert, char hex[65],
    unsigned char raw[KEYSTORE_FP_LEN]);
/* Fills info from cert (addresses left NULL). */
int keystore_cert_info(X509 *cert, keystore_info_t *info);
/* NULL when cert may sign mail now, else why not (static text, with the
 * date in buf). */
const char *keystore_cert_why_not_signer(X509 *cert, char *buf, size_t size);
/* "local@domain" with the domain in lower case, malloc'ed. */
char *keystore_addr_normalize(const char *addr);

/* ---- entries (keystore_entry.c) ---- */

typedef struct keystore_entry {
	char *file;                    /* its file name in the directory */
	X509 *cert;
	STACK_OF(X509) *chain;
	unsigned char fp[KEYSTORE_FP_LEN];
	unsigned char *sealed;         /* version, nonce, ciphertext, tag */
	size_t sealed_len;
	char **addresses;              /* NULL-terminated */
	keystore_info_t info;          /* info.addresses points to addresses */
} keystore_entry_t;

/* A new entry for cert (up-ref'ed), chain (copied, certs up-ref'ed) and
 * key, sealed under master. */
keystore_status_t keystore_entry_new(X509 *cert, STACK_OF(X509) *chain,
    EVP_PKEY *key, const unsigned char *master, keystore_entry_t **entry,
    keystore_err_t *err);
/* Loads the file name in dir. */
keystore_status_t keystore_entry_load(const char *dir, const char *name,
    keystore_entry_t **entry, keystore_err_t *err);
/* Parses an entry from its bytes (the file's); where names them. */
keystore_status_t keystore_entry_parse(const unsigned char *data, size_t len,
    const char *where, keystore_entry_t **entry, keystore_err_t *err);
/* The entry's bytes (the file's), in a new memory BIO. */
keystore_status_t keystore_entry_encode(const keystore_entry_t *entry,
    BIO **out, keystore_err_t *err);
/* Writes entry to dir atomically. */
keystore_status_t keystore_entry_save(const keystore_entry_t *entry,
    const char *dir, keystore_err_t *err);
/* Decrypts the entry's key (dir: where its file is, for messages). */
keystore_status_t keystore_entry_key(const keystore_entry_t *entry,
    const unsigned char *master, const char *dir, EVP_PKEY **key,
    keystore_err_t *err);
void keystore_entry_free(keystore_entry_t *entry);
/* 1 when name looks like an entry file: 64 lower-case hex digits ".pem". */
int keystore_entry_name_ok(const char *name);

/* ---- index (keystore_index.c) ---- */

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

/* ---- entries in LDAP (keystore_ldap.c) ---- */

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
/* Whether the directory entry for address holds entries: 1 yes, 0 no
 * (or no such person), -1 with err when the directory cannot say. */
int keystore_ldap_has(keystore_ldap_t *kl, const char *address,
    keystore_err_t *err);
/* One round trip (a base search of the base DN): KEYSTORE_OK when the
 * directory answers. */
keystore_status_t keystore_ldap_ping(keystore_ldap_t *kl, keystore_err_t *err);
/* Seconds an index built from the directory is used before a new scan. */
long keystore_ldap_refresh(const keystore_ldap_t *kl);
const char *keystore_ldap_name(const keystore_ldap_t *kl);

/* ---- keys in use and master key rotation (keystore_rekey.c) ---- */

/* "<master file>.new": the next master key while a rekey is unfinished. */
char *keystore_master_next_path(const char *master_file);
/* Reads master.key and, if present, master.key.new into ks (under
 * ks->master_lock). */
keystore_status_t keystore_keys_load(keystore_t *ks, keystore_err_t *err);
/* Decrypts e's key with whichever master key sealed it: the current one,
 * the next one of an unfinished rekey, or (after reading the key files
 * again, as when smimectl rekeyed under a running daemon) the new one. */
keystore_status_t keystore_key_of(keystore_t *ks, const keystore_entry_t *e,
    EVP_PKEY **key, keystore_err_t *err);
/* The master key new entries are sealed with (copied out; cleanse it). */
void keystore_master_current(keystore_t *ks, unsigned char key[KEYSTORE_MASTER_LEN]);
/* An exclusive advisory lock on dir/.lock (import and rekey) in *fd. */
keystore_status_t keystore_dir_lock(const char *dir, int *fd, keystore_err_t *err);
void keystore_dir_unlock(int fd);

/* ---- the handle (keystore.c) ---- */

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
	pthread_mutex_t import_lock;   /* one import at a time; guards last */
	keystore_entry_t *last;        /* the last import, for its info */
	keystore_ldap_t *ldap;         /* entries in LDAP; NULL: in dir */
};

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
