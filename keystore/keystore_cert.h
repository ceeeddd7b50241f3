/*
 * keystore_cert.h: what a certificate says: addresses, dates, usages.
 *
 * Internal to keystore/: declares keystore_cert.c's functions only; each file
 * of keystore/ includes the headers of the files it calls.
 */
#ifndef KEYSTORE_CERT_H
#define KEYSTORE_CERT_H

#include <stddef.h>
#include <openssl/x509.h>

#include "keystore/keystore.h"

#define KEYSTORE_FP_LEN       32          /* SHA-256 */

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

#endif
