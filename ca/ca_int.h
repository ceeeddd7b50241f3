/*
 * ca_int.h: what the files of ca/'s certificate authority share and
 * nobody else sees: the handle, and the CA directory's files.
 *
 *   ca.c        keys at rest, making certificates, init and open, issuing
 *   ca_crl.c    revocation, CRLs and the list of issued certificates
 *   ca_ocsp.c   the OCSP responder (answers from ca_cert_status())
 *   ca_file.c   reading and writing the CA directory's files
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

/* ---- shared by the CA and the CMP client (ca.c) ---- */

/* A new key of the type. */
EVP_PKEY *ca_new_key(ca_keytype_t t);
/* The configured subject fields ("O=Example,C=DE") plus CN and, when not
 * NULL, emailAddress; NULL when a field is malformed or out of memory. */
X509_NAME *ca_make_name(const char *fields, const char *cn,
    const char *email);

#endif
