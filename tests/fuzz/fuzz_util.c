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
#include <openssl/err.h>

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

void
fuzz_signer(EVP_PKEY **key, X509 **cert, X509 **ca, EVP_PKEY **ca_key)
{
	static EVP_PKEY *k, *cak;
	static X509 *c, *cac;

	if (k == NULL) {
		cak = unit_key(UNIT_P256);
		cac = unit_ca(cak, "fuzz root");
		k = unit_key(UNIT_P256);
		c = unit_cert(k, cac, cak, "alice@example.com", -1, 365);
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
