/*
 * ca_cmp.h: certificates from an external CA over CMP (RFC 4210,
 * OpenSSL's OSSL_CMP_* client), protected with a shared secret (PBM), the
 * key generated here and escrowed in the keystore like the embedded CA's,
 * with its origin (keystore_escrow_origin(): "cmp SERVER PATH REFERENCE",
 * ca_cmp_origin()), by which the renewal (ca_renew.h) knows to renew it
 * over CMP.  An answer is installed only when its certificate names the
 * requested address and no other, is for the key we sent, and (renewal)
 * comes from the CA that issued the old certificate; else it is refused
 * in the certConf too, so that the server knows.
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
	const char *secret;         /* the shared secret (never logged); may be
	                               NULL for a kur */
	const char *subject;        /* fields of the requested name, as CASubject */
	ca_keytype_t key_type;
	int timeout;                /* seconds, for the whole transaction */
} ca_cmp_settings_t;

/* The origin entries from s's server are escrowed with (begins with
 * CA_CMP_ORIGIN).  0, or -1 when it would not fit KEYSTORE_ORIGIN_MAX. */
#define CA_CMP_ORIGIN "cmp "
int ca_cmp_origin(const ca_cmp_settings_t *s, char *buf, size_t size);

/* Requests a certificate for address (key NULL: a new one of key_type),
 * escrows the key with it; *cert (may be NULL) gets it. */
keystore_status_t ca_cmp_enroll(keystore_t *ks, const ca_cmp_settings_t *s,
    const char *address, EVP_PKEY *key, X509 **cert, keystore_err_t *err);

/* The certificate renewed (borrowed). */
typedef struct ca_cmp_old {
	X509 *cert;
	EVP_PKEY *key;
	STACK_OF(X509) *chain;      /* the CA certificates escrowed with it */
} ca_cmp_old_t;

/* A new certificate for address with a new key of key_type, escrowed
 * with the origin; *cert (may be NULL).  kur: a key update request
 * signed with the old key (RFC 4210 5.3.5), whose answer must be signed
 * by the old certificate's CA (found in old->chain: KEYSTORE_ERR_INPUT
 * when it is not there); else an ir under the shared secret (s->secret).
 * The old entry stays. */
keystore_status_t ca_cmp_renew(keystore_t *ks, const ca_cmp_settings_t *s,
    const char *address, const ca_cmp_old_t *old, int kur, X509 **cert,
    keystore_err_t *err);

#endif
