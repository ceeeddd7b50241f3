/*
 * ca_cmp.h: certificates from an external CA over CMP (RFC 4210,
 * OpenSSL's OSSL_CMP_* client), protected with a shared secret (PBM), the
 * key generated here and escrowed in the keystore like the embedded CA's.
 *
 * Blocking, bounded by the timeout; thread-safe (a CMP context per call).
 * Errors: keystore_status_t with a keystore_err_t (KEYSTORE_ERR_IO when
 * the server cannot be reached or refuses); never logs, never exits.
 */
#ifndef CA_CMP_H
#define CA_CMP_H

#include "ca/ca.h"

typedef struct ca_cmp_settings {
	const char *server;         /* "host:port" */
	const char *path;           /* HTTP path ("pkix/") */
	const char *reference;      /* senderKID for the shared secret */
	const char *secret;         /* the shared secret (never logged) */
	const char *subject;        /* fields of the requested name, as CASubject */
	ca_keytype_t key_type;
	int timeout;                /* seconds, for the whole transaction */
} ca_cmp_settings_t;

/* Requests a certificate for address (key NULL: a new one of key_type),
 * escrows the key with it; *cert (may be NULL) gets it. */
keystore_status_t ca_cmp_enroll(keystore_t *ks, const ca_cmp_settings_t *s,
    const char *address, EVP_PKEY *key, X509 **cert, keystore_err_t *err);

#endif
