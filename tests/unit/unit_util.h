/*
 * unit_util.h: a throw-away test PKI for the cmocka unit tests, made with
 * OpenSSL at run time (nothing secret is committed), and small file helpers.
 *
 * Ownership: every object returned is new; the test frees it.
 */
#ifndef UNIT_UTIL_H
#define UNIT_UTIL_H

#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "keystore/keystore.h"

enum unit_keytype { UNIT_RSA2048, UNIT_P256 };

/* A new key of the given type. */
EVP_PKEY *unit_key(enum unit_keytype type);
/* A self-signed CA certificate for key, named cn. */
X509 *unit_ca(EVP_PKEY *key, const char *cn);
/* The CA of a group of tests (its cmocka group setup): a new P-256 key
 * and its self-signed certificate named cn; unit_group_ca_free() frees
 * both (the group teardown). */
void unit_group_ca(const char *cn, EVP_PKEY **key, X509 **cert);
void unit_group_ca_free(EVP_PKEY *key, X509 *cert);
/*
 * An end-entity certificate for key, issued by ca_cert/ca_key, naming email
 * in subjectAltName (NULL: none), with keyUsage digitalSignature and
 * keyEncipherment and EKU emailProtection, valid from now+from_days to
 * now+to_days (negative values reach into the past).
 */
X509 *unit_cert(EVP_PKEY *key, X509 *ca_cert, EVP_PKEY *ca_key,
    const char *email, int from_days, int to_days);
/*
 * unit_cert() with the extensions chosen: ku and eku are keyUsage and
 * extendedKeyUsage values as openssl.cnf writes them ("critical,
 * digitalSignature", "emailProtection"), NULL for none; with
 * subject_email, the address goes in the subject's emailAddress instead
 * of subjectAltName.
 */
X509 *unit_cert_ext(EVP_PKEY *key, X509 *ca_cert, EVP_PKEY *ca_key,
    const char *email, int from_days, int to_days, const char *ku,
    const char *eku, int subject_email);
/* A PKCS#12 (DER, malloc'ed) of key, cert and ca under password. */
unsigned char *unit_p12(EVP_PKEY *key, X509 *cert, X509 *ca,
    const char *password, size_t *len);

/* A new empty temporary directory (malloc'ed path); unit_rmtree removes it. */
char *unit_tmpdir(void);
void unit_rmtree(const char *path);
/*
 * A test's own keystore: a new temporary directory (*tmp, malloc'ed) and
 * a keystore opened with KEYSTORE_CREATE in tmp/ks (that path in dir, of
 * dirlen octets).  NULL, with err set, when it cannot be opened;
 * unit_keystore_free() closes it and removes the directory.
 */
keystore_t *unit_keystore_new(char **tmp, char *dir, size_t dirlen,
    keystore_err_t *err);
void unit_keystore_free(keystore_t *ks, char *tmp);
/* Reads a whole file (malloc'ed, NUL-terminated); NULL on failure. */
char *unit_read_file(const char *path, size_t *len);
/* Writes a whole file with the given mode; 0 or -1. */
int unit_write_file(const char *path, const void *data, size_t len, int mode);

#endif
