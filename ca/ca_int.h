/*
 * ca_int.h: what the files of ca/'s certificate authority share and
 * nobody else sees: the handle, and the CA directory's files.
 *
 *   ca.c        keys at rest, making certificates, init and open, issuing
 *   ca_crl.c    revocation, CRLs and the list of issued certificates
 *   ca_ocsp.c   the OCSP responder (answers from ca_cert_status())
 *   ca_file.c   reading and writing the CA directory's files
 *   ca_shared.c the CA kept in the directory for several gateways
 *   ca_cmp.c    certificates from an external CA over CMP
 *
 * The CA keeps its keys and files through keystore's public API
 * (keystore/keystore.h).
 */
#ifndef CA_INT_H
#define CA_INT_H

#include <pthread.h>
#include <openssl/bio.h>

#include "ca/ca.h"

#define CA_FILE_MAX (1024L * 1024L)

struct ca {
	keystore_t *ks;
	ca_settings_t s;
	pthread_mutex_t lock;          /* serializes issuing, revoking, CRLs */
	X509 *root, *issuer;
	EVP_PKEY *issuer_key;
	int shared;                    /* kept in the directory (ca_shared.c) */
	unsigned long long crl_last;   /* the last CRL number this handle signed */
	pthread_mutex_t rev_lock;      /* guards revs (taken after lock, if both) */
	struct ca_revset *revs;        /* shared: the revocations read last */
};

/* ---- files (ca_file.c) ---- */

/* Writes the memory BIO b to dir/name (keystore_file_write()). */
keystore_status_t ca_file_write_bio(const char *dir, const char *name, BIO *b,
    keystore_err_t *err);
/* Reads dir/name (keystore_file_read()) into a new memory BIO. */
keystore_status_t ca_file_read_bio(const char *dir, const char *name, BIO **out,
    keystore_err_t *err);
keystore_status_t ca_file_save_cert(const char *dir, const char *name, X509 *cert,
    keystore_err_t *err);
keystore_status_t ca_file_load_cert(const char *dir, const char *name, X509 **cert,
    keystore_err_t *err);

/* ---- the CA in the directory (ca_shared.c) ---- */

/* Stores the new CA (certificates and keys, in one sealed record)
 * unless another gateway stored one first: *exists 1 then. */
keystore_status_t ca_shared_save(ca_t *ca, EVP_PKEY *rkey, EVP_PKEY *ikey,
    int *exists, keystore_err_t *err);
/* Loads root, issuer and issuer_key; KEYSTORE_NOTFOUND when none. */
keystore_status_t ca_shared_load(ca_t *ca, keystore_err_t *err);
/* Records an issued certificate (by its serial, hex). */
keystore_status_t ca_shared_issued(ca_t *ca, const char *serial, X509 *x,
    keystore_err_t *err);
/* The issued certificate of serial (x may be NULL): KEYSTORE_NOTFOUND
 * when none. */
keystore_status_t ca_shared_cert(ca_t *ca, const char *serial, X509 **x,
    keystore_err_t *err);
/* Records serial revoked at when for reason (a CRLReason code, -1: none;
 * a second revocation keeps the first). */
keystore_status_t ca_shared_revoke(ca_t *ca, const char *serial, long when,
    int reason, keystore_err_t *err);
/* fn(serial, when, reason or -1) per revocation; stops when fn returns
 * non-zero. */
keystore_status_t ca_shared_revoked(ca_t *ca,
    int (*fn)(const char *serial, long when, int reason, void *arg), void *arg,
    keystore_err_t *err);
/*
 * serial's revocation (*when 0: none; *reason a CRLReason code or -1)
 * from the copy of every revocation record read last, read again after
 * KeystoreLDAPRefresh seconds, used on through an outage for
 * KeystoreLDAPMaxStale seconds (keystore_reading_due()); then the
 * failure (the caller fails closed).  Takes ca->rev_lock; a revocation
 * this gateway writes (ca_shared_revoke()) is in the copy at once.
 */
keystore_status_t ca_shared_revocation(ca_t *ca, const char *serial, long *when,
    int *reason, keystore_err_t *err);
void ca_shared_revset_free(struct ca_revset *set);
/* fn(serial, cert) per issued certificate; stops when fn returns non-zero. */
int ca_shared_each(ca_t *ca, int (*fn)(const char *serial, X509 *x, void *arg),
    void *arg, keystore_err_t *err);

/* ---- shared by the CA and the CMP client (ca.c) ---- */

/* A new key of the type. */
EVP_PKEY *ca_new_key(ca_keytype_t t);
/* The configured subject fields ("O=Example,C=DE") plus CN and, when not
 * NULL, emailAddress; NULL when a field is malformed or out of memory. */
X509_NAME *ca_make_name(const char *fields, const char *cn,
    const char *email);

#endif
