/*
 * smime_certcache.c: certificates decoded once per process.  Every
 * signed message carries its signer's certificate and usually the CA's;
 * decoding one costs OpenSSL 3.0 a decoder fetch for its public key
 * (OSSL_DECODER_CTX_new_for_pkey), far more than the signature check.
 * So smime_detach.c hands the DER of each certificate of a SignedData
 * here, and gets the X509 decoded from exactly those octets before.
 *
 * An entry is filed under the SHA-256 of the whole DER and checked
 * against the DER itself (i2d of a decoded certificate gives back the
 * octets it came from), so only a certificate made from the same octets
 * is returned.  CERTCACHE_SLOTS slots, direct-mapped: a new certificate
 * takes its slot's place.  The certificates are only read (OpenSSL's
 * X509 is shared between threads the same way in an X509_STORE).
 *
 * Threads: one mutex guards the slots; a certificate is decoded outside
 * it.  Process-wide, like the fetched algorithms (util_alg.c).
 */
#include "smime/smime_certcache.h"
#include "util/util_alg.h"

#include <pthread.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#define CERTCACHE_SLOTS 256
#define CERTCACHE_MAX_DER (64 * 1024)  /* larger ones are not kept */

typedef struct certcache_slot {
	unsigned char md[32];
	X509 *x;
} certcache_slot_t;

static pthread_mutex_t certcache_lock = PTHREAD_MUTEX_INITIALIZER;
static certcache_slot_t certcache[CERTCACHE_SLOTS];

/* 1 when x was decoded from exactly der. */
static int
same_der(X509 *x, const unsigned char *der, size_t len)
{
	unsigned char *enc = NULL;
	int n = i2d_X509(x, &enc), same = n > 0 && (size_t)n == len
	    && memcmp(enc, der, len) == 0;

	OPENSSL_free(enc);
	return same;
}

static X509 *
decode(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);

	if (x != NULL && p != der + len) {
		X509_free(x);
		x = NULL;
	}
	ERR_clear_error();
	return x;
}

X509 *
smime_certcache_d2i(const unsigned char *der, size_t len)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	certcache_slot_t *s;
	X509 *x = NULL, *old = NULL;

	if (len == 0 || len > CERTCACHE_MAX_DER
	    || !EVP_Digest(der, len, md, &mdlen, util_alg_sha256(), NULL) || mdlen != 32)
		return decode(der, len);
	s = &certcache[(md[0] | (unsigned)md[1] << 8) % CERTCACHE_SLOTS];
	pthread_mutex_lock(&certcache_lock);
	if (s->x != NULL && memcmp(s->md, md, sizeof(md)) == 0 && X509_up_ref(s->x))
		x = s->x;
	pthread_mutex_unlock(&certcache_lock);
	if (x != NULL && same_der(x, der, len))
		return x;
	X509_free(x);
	if ((x = decode(der, len)) == NULL || !X509_up_ref(x))
		return x;
	pthread_mutex_lock(&certcache_lock);
	old = s->x;
	memcpy(s->md, md, sizeof(md));
	s->x = x;
	pthread_mutex_unlock(&certcache_lock);
	X509_free(old);
	return x;
}
