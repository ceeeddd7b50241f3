/*
 * smime_certcache.h: certificates decoded once per process.
 *
 * Internal to smime/: declares smime_certcache.c's functions only.
 */
#ifndef SMIME_CERTCACHE_H
#define SMIME_CERTCACHE_H

#include <stddef.h>
#include <openssl/x509.h>

/* The certificate whose DER is exactly der (len octets): a new reference
 * to the one decoded earlier from the same octets, or decoded now; NULL
 * when der is not one certificate, whole. */
X509 *smime_certcache_d2i(const unsigned char *der, size_t len);

#endif
