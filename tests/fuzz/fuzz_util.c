/*
 * fuzz_util.c: see fuzz_util.h.
 */
#include "tests/fuzz/fuzz_util.h"
#include "tests/unit/unit_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

static char *dir;

static void
fuzz_cleanup(void)
{
	if (dir != NULL)
		unit_rmtree(dir);
	free(dir);
	dir = NULL;
}

const char *
fuzz_dir(void)
{
	if (dir == NULL) {
		if ((dir = unit_tmpdir()) == NULL)
			abort();
		atexit(fuzz_cleanup);
	}
	return dir;
}

char *
fuzz_file(const char *name, const void *data, size_t len)
{
	char *path;

	if (asprintf(&path, "%s/%s", fuzz_dir(), name) < 0)
		abort();
	if (unit_write_file(path, data, len, 0600) != 0)
		abort();
	return path;
}

char *
fuzz_strndup(const void *data, size_t len)
{
	char *s = malloc(len + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

/* A P-256 key whose private scalar is SHA-256(label): the same key at
 * every run, made here, never read from a file. */
static EVP_PKEY *
fixed_key(const char *label)
{
	unsigned char d[32], pub[65];
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	EC_POINT *p = g != NULL ? EC_POINT_new(g) : NULL;
	BIGNUM *bn = NULL;
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;
	size_t len = 0;

	if (EVP_Digest(label, strlen(label), d, NULL, EVP_sha256(), NULL) != 1
	    || p == NULL || b == NULL || pc == NULL
	    || (bn = BN_bin2bn(d, sizeof(d), NULL)) == NULL
	    || EC_POINT_mul(g, p, bn, NULL, NULL, NULL) != 1
	    || (len = EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, pub,
	    sizeof(pub), NULL)) == 0
	    || !OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0)
	    || !OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, bn)
	    || !OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pub, len)
	    || (params = OSSL_PARAM_BLD_to_param(b)) == NULL
	    || EVP_PKEY_fromdata_init(pc) != 1
	    || EVP_PKEY_fromdata(pc, &k, EVP_PKEY_KEYPAIR, params) != 1)
		abort();
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(b);
	EVP_PKEY_CTX_free(pc);
	BN_clear_free(bn);
	EC_POINT_free(p);
	EC_GROUP_free(g);
	return k;
}

/* x with serial number serial, signed again by key. */
static void
fixed_serial(X509 *x, long serial, EVP_PKEY *key)
{
	if (x == NULL || ASN1_INTEGER_set(X509_get_serialNumber(x), serial) != 1
	    || X509_sign(x, key, EVP_sha256()) <= 0)
		abort();
}

void
fuzz_signer(EVP_PKEY **key, X509 **cert, X509 **ca, EVP_PKEY **ca_key)
{
	static EVP_PKEY *k, *cak;
	static X509 *c, *cac;

	if (k == NULL) {
		/* Fixed keys and serial numbers: the issuer, serial number and
		 * key identifier of alice's certificate are the same at every
		 * run, so seeds encrypted to her (fuzz_msg) decrypt. */
		cak = fixed_key("smimegate fuzz root");
		cac = unit_ca(cak, "fuzz root");
		fixed_serial(cac, 1, cak);
		k = fixed_key("smimegate fuzz alice@example.com");
		c = unit_cert(k, cac, cak, "alice@example.com", -1, 3650);
		fixed_serial(c, 2, cak);
		if (k == NULL || c == NULL || cak == NULL || cac == NULL)
			abort();
	}
	*key = k;
	*cert = c;
	if (ca != NULL)
		*ca = cac;
	if (ca_key != NULL)
		*ca_key = cak;
}

X509 *
fuzz_resign(X509 *x)
{
	EVP_PKEY *k, *cak;
	X509 *c, *ca, *y = X509_dup(x);

	fuzz_signer(&k, &c, &ca, &cak);
	if (y == NULL || !X509_set_issuer_name(y, X509_get_subject_name(ca))
	    || X509_sign(y, cak, EVP_sha256()) <= 0) {
		X509_free(y);
		ERR_clear_error();
		return NULL;
	}
	return y;
}

size_t
fuzz_split_next(fuzz_split_t *s, size_t left)
{
	switch (s->mode) {
	case 0:
		return left;
	case 1:
		return left ? 1 : 0;
	default:
		/* xorshift32: the same cuts for the same input. */
		s->state ^= s->state << 13;
		s->state ^= s->state >> 17;
		s->state ^= s->state << 5;
		if (left == 0)
			return 0;
		return 1 + s->state % (left < 4096 ? left : 4096);
	}
}
