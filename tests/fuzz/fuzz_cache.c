/*
 * fuzz_cache.c: a lookup cache value as Redis returns it
 * (dir_cache_value_parse): "N", or "P", '0'|'1', the source, "\n" and a
 * DER certificate.  Whoever can write to the Redis server can put any
 * bytes there.  A certificate parsed is checked as a cached answer is
 * (dir_check_cert, no CRL), as it came and issued again by the fuzz CA
 * (fuzz_resign) so that the checks past the signature run too.
 *
 * Input: the value.
 */
#include "directory/dir_int.h"
#include "tests/fuzz/fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/pem.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static dir_check_t *chk;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	EVP_PKEY *k, *cak;
	X509 *c, *ca;
	dir_settings_t s;
	char err[256], *path;
	BIO *b;

	(void)argc;
	(void)argv;
	fuzz_signer(&k, &c, &ca, &cak);
	if (asprintf(&path, "%s/ca.pem", fuzz_dir()) < 0 || (b = BIO_new_file(path, "w")) == NULL
	    || !PEM_write_bio_X509(b, ca))
		abort();
	BIO_free(b);
	memset(&s, 0, sizeof(s));
	s.ca_file = path;
	s.crl_check = 0;
	if ((chk = dir_check_new(&s, err, sizeof(err))) == NULL)
		abort();
	free(path);
	return 0;
}

static void
check(X509 *x)
{
	char why[512];

	if (x == NULL)
		return;
	(void)dir_check_cert(chk, x, NULL, "alice@example.com", why, sizeof(why));
	if (memchr(why, '\0', sizeof(why)) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char source[200];
	X509 *cert = NULL, *again;
	int gcm = -1;
	enum dir_cache_hit hit;

	memset(source, 'x', sizeof(source));
	hit = dir_cache_value_parse(data, size, &cert, &gcm, source, sizeof(source));
	if (hit == DIR_CACHE_POSITIVE) {
		if (cert == NULL || (gcm != 0 && gcm != 1) || memchr(source, '\0', sizeof(source)) == NULL)
			abort();
		check(cert);
		again = fuzz_resign(cert);
		check(again);
		X509_free(again);
	} else if (cert != NULL) {
		abort();
	}
	X509_free(cert);
	return 0;
}
