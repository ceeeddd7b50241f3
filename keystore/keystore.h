/*
 * keystore.h: escrow of the employees' private keys and their certificates.
 *
 * A keystore is a directory.  Each entry is one file holding one
 * certificate (with the chain that came with it) and its private key,
 * the key encrypted at rest with AES-256-GCM under the master key, which
 * lives in its own 0600 file (created on first use when asked to).  An
 * address may have several entries (a new key every few years; old mail
 * must still open); the addresses of an entry are those its certificate
 * names (subjectAltName rfc822Name, else the subject's emailAddress).
 *
 * Ownership: keystore_open() returns a handle the caller frees with
 * keystore_free().  Keys and certificates handed out are new references the
 * caller frees (EVP_PKEY_free, X509_free, sk_X509_pop_free(chain, X509_free)); private
 * key material decrypted on the way is cleansed before it is released.
 *
 * Threads: one handle may be shared by all threads.  Lookups take a read
 * lock; the index is rebuilt (write lock) when the directory changed, so
 * an entry imported by smimectl is seen by a running daemon.
 *
 * Errors: every call that can fail returns a keystore_status_t and, when an
 * err is given, fills it with the code and a message naming the file and
 * what is wrong.  This library never logs and never exits.
 */
#ifndef KEYSTORE_H
#define KEYSTORE_H

#include <stddef.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "util/util_err.h"

typedef enum keystore_status {
	KEYSTORE_OK = 0,
	KEYSTORE_NOTFOUND,      /* no (usable) entry for that address */
	KEYSTORE_ERR_PERM,      /* a file or directory with unsafe permissions */
	KEYSTORE_ERR_IO,        /* cannot read or write a file */
	KEYSTORE_ERR_CORRUPT,   /* an entry or the master key is malformed or tampered */
	KEYSTORE_ERR_PASSWORD,  /* wrong PKCS#12 password */
	KEYSTORE_ERR_INPUT,     /* unusable input: no key, no address, key/cert mismatch */
	KEYSTORE_ERR_CRYPTO,    /* OpenSSL failed for another reason */
	KEYSTORE_ERR_NOMEM,
	KEYSTORE_RETIRED        /* the address is retired (keystore_retire.h) */
} keystore_status_t;

/* The error: a keystore_status_t and a message (util/util_err.h). */
typedef util_err_t keystore_err_t;

typedef struct keystore keystore_t;

/* Octets: the longest origin an entry records (keystore_escrow_origin()). */
#define KEYSTORE_ORIGIN_MAX 255

/* What smimectl keystore list shows of one entry. */
typedef struct keystore_info {
	char fingerprint[65];   /* SHA-256 of the certificate's DER, lower-case hex */
	char serial[80];        /* hex */
	char subject[256];      /* one-line RFC 2253 form */
	char issuer[256];
	char not_before[32];    /* "YYYY-MM-DD HH:MM:SS UTC" */
	char not_after[32];
	time_t expires;         /* not_after as a time */
	int can_sign;           /* keyUsage allows digitalSignature (or absent) */
	int can_encrypt;        /* keyUsage allows keyEncipherment/keyAgreement (or absent) */
	const char *const *addresses;  /* NULL-terminated, valid during the callback */
	const char *origin;     /* where the entry came from (keystore_escrow_origin()),
	                           NULL: not said (imported, the embedded CA's) */
} keystore_info_t;

/* Creation flags for keystore_open(). */
#define KEYSTORE_CREATE 0x1     /* create the directory (0700) and the master
                                   key if absent; never a master key for a
                                   directory that already holds entries */

/*
 * Opens the keystore in dir.  master_key_file NULL means dir/master.key.
 * Refuses (KEYSTORE_ERR_PERM) a master key or entry file readable or
 * writable by group or others, and a directory writable by them.
 * Returns NULL on failure with err filled.
 */
keystore_t *keystore_open(const char *dir, const char *master_key_file,
    int flags, keystore_err_t *err);

/*
 * Entries kept in an LDAP directory (several gateways sharing one
 * keystore): each entry, byte for byte what the file backend writes (the
 * certificate, its chain, the key sealed with AES-256-GCM under the master
 * key), is one value of attribute (default userPKCS12) of the employee's
 * directory entry, found by filter with the entry's address.  The URL is
 * RFC 4516's, as in LDAPDirectories:
 *   ldap://host:port/BASE??SCOPE?FILTER?bindname=DN,x-bindpwfile=FILE,x-starttls
 * (FILTER default (mail=%s), %25s in a URL; x-starttls: StartTLS, see
 * net/net_ldap.h; ldaps:// works too).  The master key stays a file
 * (the same on every gateway); dir still holds it by default, the lock
 * file and the embedded CA.  An index read from the directory is used for
 * refresh seconds, and read again at once when an address is not in it
 * but its directory entry holds entries (one search tells; at most every
 * two seconds), so an entry imported through one gateway is seen by the
 * others.  When the directory cannot be read (an outage), an index and a
 * list of retirements that were read whole are used on for at most
 * max_stale seconds beyond refresh (KeystoreLDAPMaxStale; a new reading
 * tried at most every few seconds meanwhile); after that, or with 0,
 * lookups fail (the caller tempfails), never answering from nothing.
 */
typedef struct keystore_ldap_settings {
	const char *url;
	const char *attribute;      /* NULL or "": userPKCS12 */
	int timeout;                /* seconds, connect and each operation */
	long refresh;               /* seconds */
	long max_stale;             /* seconds (0: none): see below */
} keystore_ldap_settings_t;

/* keystore_open() with the entries in LDAP when ldap is not NULL. */
keystore_t *keystore_open_ex(const char *dir, const char *master_key_file,
    int flags, const keystore_ldap_settings_t *ldap, keystore_err_t *err);

/* What keystore_health() found. */
typedef struct keystore_health {
	int master_loaded;          /* the master key is in memory */
	int readable;               /* the entries could be read now */
	size_t entries;
	size_t skipped;             /* directory values left out (unreadable) */
	char backend[8];            /* "file" or "ldap" */
	char why[256];              /* when not readable */
} keystore_health_t;

/* Checks the keystore now: its entries readable (the directory scanned
 * or, for LDAP, one round trip) and the master key loaded.  Never fails;
 * the answer is in h. */
void keystore_health(keystore_t *ks, keystore_health_t *h);

/*
 * Entries in the directory (KeystoreLDAP) that could not be read (not a
 * keystore entry, damaged, sealed under another master key) are left out
 * of the index; the others still sign and decrypt.  The number left out
 * of the index in use, and in why (may be NULL) the first one's DN and
 * reason and the DNs of the next.  *fresh is 1 on the first call that
 * sees this index (the caller logs it once per reading), else 0.
 */
size_t keystore_skipped(keystore_t *ks, int *fresh, char *why, size_t len);
void keystore_free(keystore_t *ks);

/*
 * Imports a PKCS#12 (DER) protected by password (NULL or "" for none).
 * Every certificate in it that matches the key is stored with the rest as
 * its chain.  On success and when info is not NULL, info->addresses of the
 * imported entry are valid until the next call on ks; the caller may copy.
 */
keystore_status_t keystore_import_p12(keystore_t *ks, const unsigned char *der,
    size_t len, const char *password, keystore_info_t *info, keystore_err_t *err);

/*
 * The key to sign mail from address with: of the entries for address
 * (compared as RFC 5321 says: local part exact, domain case-insensitive)
 * whose certificate is valid now and allows signing, the one valid from
 * the latest date.  KEYSTORE_NOTFOUND when there is none; err->msg then
 * says why the entries there were refused.  key, cert and chain may each be
 * NULL when not wanted (without key, nothing is decrypted).
 */
keystore_status_t keystore_signer(keystore_t *ks, const char *address,
    EVP_PKEY **key, X509 **cert, STACK_OF(X509) **chain, keystore_err_t *err);

/*
 * keystore_signer(), where check (may be NULL) may refuse an entry the
 * keystore would take: it returns NULL to accept cert, or why not
 * ("revoked"), which err->msg then names.  check runs without a lock held.
 */
typedef const char *(*keystore_check_fn)(X509 *cert, STACK_OF(X509) *chain,
    void *arg);
keystore_status_t keystore_signer_checked(keystore_t *ks, const char *address,
    keystore_check_fn check, void *arg, EVP_PKEY **key, X509 **cert,
    STACK_OF(X509) **chain, keystore_err_t *err);

/*
 * keystore_signer_checked(), and from the same lookup (one retirement
 * check, one snapshot) *enc: the address's own certificate to encrypt to,
 * as keystore_recipient() would give it (a new reference), or NULL when
 * it has none or the signer was not found.  enc may be NULL.
 */
keystore_status_t keystore_signer_enc(keystore_t *ks, const char *address,
    keystore_check_fn check, void *arg, EVP_PKEY **key, X509 **cert,
    STACK_OF(X509) **chain, X509 **enc, keystore_err_t *err);

/*
 * The certificate to encrypt to address with, from the escrow: of the
 * entries for address (compared as for keystore_signer()) whose
 * certificate is valid now and allows encryption, the one valid from the
 * latest date; a new reference.  KEYSTORE_NOTFOUND when there is none.
 */
keystore_status_t keystore_recipient(keystore_t *ks, const char *address,
    X509 **cert, keystore_err_t *err);
/* keystore_recipient() with that entry's chain (a new stack; chain may
 * be NULL when not wanted): what PublishDirectory shows of address. */
keystore_status_t keystore_recipient_chain(keystore_t *ks, const char *address,
    X509 **cert, STACK_OF(X509) **chain, keystore_err_t *err);

/*
 * What anyone may be shown of address (the public-key retrieval service):
 * the certificates of its entries that are valid now, allow encryption
 * (keyEncipherment or keyAgreement, or no keyUsage), carry emailProtection
 * (or no extendedKeyUsage) and are not CA certificates, newest first, in
 * *certs; the chains that came with them, each certificate once, in
 * *chain.  Both new stacks the caller frees (sk_X509_pop_free).  Never a
 * key.  KEYSTORE_NOTFOUND (both NULL) when there is none.  Revocation is
 * the caller's to check (the CA that issued them knows).
 */
keystore_status_t keystore_public_certs(keystore_t *ks, const char *address,
    STACK_OF(X509) **certs, STACK_OF(X509) **chain, keystore_err_t *err);

/* Calls fn once per entry, ordered by address then not_before; stops when fn
 * returns non-zero and returns that value.  Returns -1 with err filled
 * (err->code != KEYSTORE_OK) when the keystore cannot be read.  fn runs on a
 * snapshot, without a lock held: it may call into ks. */
int keystore_foreach(keystore_t *ks,
    int (*fn)(const keystore_info_t *info, void *arg), void *arg,
    keystore_err_t *err);

/* The certificate of an address that expires soon (keystore_expiring). */
typedef struct keystore_expiry {
	char address[320];
	char fingerprint[65];
	char serial[80];
	char subject[256];
	char issuer[256];
	char not_after[32];
	time_t expires;
	int sign;               /* it is the address's newest for signing */
	int encrypt;            /* ... for encryption */
	char origin[KEYSTORE_ORIGIN_MAX + 1];   /* keystore_info_t's, "" none */
} keystore_expiry_t;

/*
 * Of each address's entries, the newest (latest notAfter) that may sign
 * and the newest that may encrypt (one entry, both flags, when it is
 * both), when it expires before the time before (those expired too).
 * Older entries (kept to decrypt old mail) are left out: a renewed
 * certificate is not "expiring".  *out: a malloc'ed array of *n, ordered
 * by expiry (the caller frees it); -1 with err when the keystore cannot
 * be read, else 0.
 */
int keystore_expiring(keystore_t *ks, time_t before, keystore_expiry_t **out,
    size_t *n, keystore_err_t *err);

/* Reads the entries again at the next lookup (another gateway may have
 * changed the shared keystore; KeystoreBackend ldap). */
void keystore_reread(keystore_t *ks);

/*
 * Exports the newest entry for address as a PKCS#12 (DER, malloc'ed, the
 * caller frees with OPENSSL_clear_free) protected by password.  legacy
 * selects PBE-SHA1-3DES with a SHA-1 MAC, which gpgsm 2.2 and older
 * Windows and macOS keychains need; otherwise AES-256 / PBKDF2.
 */
keystore_status_t keystore_export_p12(keystore_t *ks, const char *address,
    const char *password, int legacy, unsigned char **der, size_t *len,
    keystore_err_t *err);

/*
 * The escrowed key of the certificate a CMS RecipientInfo names: by its
 * issuer and serial number (issuer and serial not NULL), else by its
 * subject key identifier (skid); only among the entries of address (whose
 * certificate names it, as keystore_signer() compares), so that a key
 * opens mail for its own addressee only.  Any such entry, expired or
 * not, so that old mail still opens.  KEYSTORE_NOTFOUND when no entry of
 * address matches (or address is NULL).  key and cert are new references
 * (cert may be NULL when not wanted).
 */
keystore_status_t keystore_decrypter(keystore_t *ks, const char *address,
    const X509_NAME *issuer, const ASN1_INTEGER *serial,
    const ASN1_OCTET_STRING *skid, EVP_PKEY **key, X509 **cert,
    keystore_err_t *err);

/*
 * Decrypted private keys kept in memory (the handle starts keeping none),
 * so that signing and decrypting cost no unsealing and no decoding: a key
 * is kept ttl seconds from its decryption (0: none kept), at most max
 * keys, and only while OpenSSL's secure heap is in use (locked pages
 * excluded from core dumps; the daemon initialises it, this library never
 * does) and uses less than heap_limit octets (0: no such limit).  A key
 * is given only to the lookup that chose its entry as without the cache,
 * for the same address, certificate and sealed bytes: never for another
 * address, a retired address, a refused (revoked) certificate, or an
 * entry replaced or sealed again.  Dropped (cleansed): all of them by
 * keystore_keycache_set() and _flush() and when the master keys are
 * read again (rekey); an address's when it is found retired.
 * keystore_keycache_set() returns the number dropped.
 */
typedef struct keystore_keycache_stats {
	unsigned long long hits;       /* keys given from memory */
	unsigned long long misses;     /* keys decrypted while keeping was on */
	unsigned long long dropped;    /* keys dropped (expired, evicted, flushed) */
	size_t keys;                   /* kept now */
	int kept;                      /* keeping is on: ttl, max, secure heap */
} keystore_keycache_stats_t;
size_t keystore_keycache_set(keystore_t *ks, long long ttl, size_t max,
    size_t heap_limit);
size_t keystore_keycache_flush(keystore_t *ks);
/* Drops the keys older than the time to live now (the daemon calls it
 * from time to time: a key nobody asks for again goes too). */
void keystore_keycache_expire(keystore_t *ks);
void keystore_keycache_stats(keystore_t *ks, keystore_keycache_stats_t *st);

/*
 * Master key rotation: a new master key, every entry sealed again under
 * it, then the new key put in place of the old.  Interrupted at any
 * point, every entry still opens (with the old or the new key), and
 * running it again finishes the job.  *count (may be NULL) gets the
 * number of entries.  Holds the keystore's lock file meanwhile.
 */
keystore_status_t keystore_rekey(keystore_t *ks, size_t *count,
    keystore_err_t *err);

/*
 * For the embedded CA and the CMP client (ca/), which keep their keys in
 * the escrow and their files the way the keystore keeps its own.
 */

/* Escrows key with cert and its chain (copied; may be empty) as a new
 * entry, sealed under the current master key, as an import does. */
keystore_status_t keystore_escrow(keystore_t *ks, X509 *cert,
    STACK_OF(X509) *chain, EVP_PKEY *key, keystore_err_t *err);

/* keystore_escrow() for a certificate that came from somewhere the
 * keystore should remember (a CMP server: ca_cmp.h): origin, at most
 * KEYSTORE_ORIGIN_MAX printable ASCII characters, is kept with the entry,
 * bound to its sealed key (both backends), and shown as
 * keystore_info_t's and keystore_expiry_t's origin.  NULL: as
 * keystore_escrow(). */
keystore_status_t keystore_escrow_origin(keystore_t *ks, X509 *cert,
    STACK_OF(X509) *chain, EVP_PKEY *key, const char *origin,
    keystore_err_t *err);

/* The entry whose certificate has fingerprint (keystore_info_t's, hex)
 * among address's: its key, certificate and chain (new references; each
 * may be NULL when not wanted), expired or not.  KEYSTORE_NOTFOUND when
 * address has no such entry. */
keystore_status_t keystore_escrowed(keystore_t *ks, const char *address,
    const char *fingerprint, EVP_PKEY **key, X509 **cert,
    STACK_OF(X509) **chain, keystore_err_t *err);

/* A secret derived from the current master key for a purpose: the
 * HMAC-SHA256 of label under it, as 64 lower-case hex digits and a NUL.
 * The caller cleanses hex after use. */
void keystore_master_derive(keystore_t *ks, const char *label, char hex[65]);

/* Fills info from cert as keystore_foreach() shows an entry (addresses
 * left NULL), and first (size bytes) with the first address it names
 * ("" when none).  0, or -1 when something could not be read. */
int keystore_cert_describe(X509 *cert, keystore_info_t *info, char *first,
    size_t size);

/*
 * Records the gateways share (the embedded CA and what it issued and
 * revoked, pending enrollments, pickup links, retirements), kept in the
 * directory next to the entries when the keystore is there (keystore_shared() 1;
 * else every call answers KEYSTORE_ERR_INPUT and the callers keep their
 * own files).  A record is named by kind and name (letters, digits and
 * dots); its data is sealed with AES-256-GCM under a key derived from the
 * master key, bound to its name and version: a value forged, moved to
 * another record or version, or sealed under another master key does not
 * open (KEYSTORE_ERR_CORRUPT; foreach leaves it out).  See
 * keystore_record.c for the entries.
 */
int keystore_shared(const keystore_t *ks);
/* Adds the record at version 1 unless it exists: *exists 1 then, nothing
 * written (the other gateway was first). */
keystore_status_t keystore_record_add(keystore_t *ks, const char *kind,
    const char *name, const void *data, size_t len, int *exists,
    keystore_err_t *err);
/* The record's data (OPENSSL_malloc'ed, a NUL after *len octets; the
 * caller frees it with OPENSSL_clear_free(*data, *len + 1)) and version
 * (may be NULL).  KEYSTORE_NOTFOUND when there is none. */
keystore_status_t keystore_record_get(keystore_t *ks, const char *kind,
    const char *name, unsigned char **data, size_t *len, long *version,
    keystore_err_t *err);
/* Replaces the record's data if it is still at version (then version+1);
 * *conflict 1 and nothing written when another gateway changed or
 * removed it first. */
keystore_status_t keystore_record_update(keystore_t *ks, const char *kind,
    const char *name, long version, const void *data, size_t len,
    int *conflict, keystore_err_t *err);
/* Removes the record; *gone 1 when it was not there (removed by another
 * gateway first): of two gateways removing one record, one sees 0. */
keystore_status_t keystore_record_delete(keystore_t *ks, const char *kind,
    const char *name, int *gone, keystore_err_t *err);
/* Removes the record only if it is still at version (an LDAP assertion,
 * RFC 4528); *conflict 1 and nothing removed when another gateway changed
 * or removed it first. */
keystore_status_t keystore_record_delete_at(keystore_t *ks, const char *kind,
    const char *name, long version, int *conflict, keystore_err_t *err);
/* Calls fn per record of kind (data valid during the call) until it
 * returns non-zero, and returns that; -1 with err when the directory
 * cannot be read. */
int keystore_record_foreach(keystore_t *ks, const char *kind,
    int (*fn)(const char *name, const unsigned char *data, size_t len,
    long version, void *arg), void *arg, keystore_err_t *err);

/*
 * The age of a copy of shared records read whole (keystore_retire.c's
 * retirements, the CA's revocations), by the rules of the keystore's own
 * index: used for KeystoreLDAPRefresh seconds; when a new reading fails
 * (a directory outage), used on for KeystoreLDAPMaxStale seconds beyond
 * that, a new reading tried every few seconds meanwhile; then the
 * failure is the caller's (fail closed).  Times are CLOCK_MONOTONIC
 * seconds; the caller guards the struct.
 */
typedef struct keystore_reading {
	time_t at;                  /* when it was read whole */
	time_t retry;               /* outage: no new reading before */
} keystore_reading_t;

/* 1 when the copy read at r must be read again before use at now. */
int keystore_reading_due(const keystore_t *ks, const keystore_reading_t *r,
    time_t now);
/* A new reading failed at now: 1 when the copy read at r may be used on
 * (the next reading then waits), 0 when it is too old (fail). */
int keystore_reading_keep(const keystore_t *ks, keystore_reading_t *r,
    time_t now);

/* "dir/name", malloc'ed; NULL when out of memory. */
char *keystore_path_join(const char *dir, const char *name);
/*
 * Reads a whole regular file with util_secret_read() (util/util.h):
 * symbolic links, another owner and (mode & 077) != 0 are
 * KEYSTORE_ERR_PERM, files larger than max KEYSTORE_ERR_CORRUPT.  *data is
 * OPENSSL_malloc'ed; the caller frees it with OPENSSL_clear_free(*data, *len).
 * ENOENT gives KEYSTORE_NOTFOUND so that callers may create the file.
 */
keystore_status_t keystore_file_read(const char *path, long max,
    unsigned char **data, size_t *len, keystore_err_t *err);
/*
 * Writes data to dir/name atomically, mode 0600: a temporary file, fsync,
 * then rename() (replacing) or, when exclusive, link() (never replacing:
 * if dir/name exists, nothing is written, *exists is set and KEYSTORE_OK
 * returned), then fsync of dir.  When running as root the file is given
 * to the owner of dir, the service user the daemon reads it as.
 */
keystore_status_t keystore_file_write(const char *dir, const char *name,
    const void *data, size_t len, int exclusive, int *exists,
    keystore_err_t *err);

#endif
