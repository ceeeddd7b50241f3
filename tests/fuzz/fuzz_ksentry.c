/*
 * fuzz_ksentry.c: a keystore entry as it is stored (a file of the file
 * backend, or the userPKCS12 value of KeystoreLDAP, byte for byte the
 * same): certificate PEM blocks, then the sealed private key block
 * (keystore_entry.c): parsed with keystore_entry_parse(), the key unsealed
 * with a fixed master key (AES-256-GCM over the certificate's
 * fingerprint), and the entry written out again and parsed back to the
 * same certificate.  Whoever can write the directory, or the LDAP entry,
 * chooses these bytes.
 *
 * Input: the entry's octets.
 *
 * FUZZ_KSENTRY_SEEDS=DIR writes seeds to DIR (the fuzz signer's entry,
 * sealed under the fixed master key, and the same with a chain
 * certificate) and exits.
 */
#include "keystore/keystore.h"
#include "keystore/keystore_entry.h"
#include "keystore/keystore_master.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/unit/unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fixed master key: fuzzing only, it protects nothing. */
static const unsigned char master[KEYSTORE_MASTER_LEN] = "smimegate fuzz master key 32 oct";

static void
seed(const char *dir, const char *name, STACK_OF(X509) *chain)
{
	keystore_entry_t *e = NULL;
	keystore_err_t err;
	EVP_PKEY *k;
	X509 *c;
	BIO *b = NULL;
	char path[4200], *p;
	long n;

	fuzz_signer(&k, &c, NULL, NULL);
	if (keystore_entry_new(c, chain, k, NULL, master, &e, &err) != KEYSTORE_OK
	    || keystore_entry_encode(e, &b, &err) != KEYSTORE_OK
	    || (n = BIO_get_mem_data(b, &p)) <= 0)
		abort();
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (unit_write_file(path, p, (size_t)n, 0644) != 0)
		abort();
	BIO_free(b);
	keystore_entry_free(e);
}

static void
seeds_write(const char *dir)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	EVP_PKEY *k, *cak;
	X509 *c, *ca;

	fuzz_signer(&k, &c, &ca, &cak);
	if (chain == NULL)
		abort();
	seed(dir, "entry", chain);
	if (!sk_X509_push(chain, ca))
		abort();
	seed(dir, "entry-chain", chain);
	sk_X509_free(chain);
	exit(0);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (getenv("FUZZ_KSENTRY_SEEDS") != NULL)
		seeds_write(getenv("FUZZ_KSENTRY_SEEDS"));
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	keystore_entry_t *e = NULL, *again = NULL;
	keystore_err_t err;
	EVP_PKEY *key = NULL;
	BIO *b = NULL;
	char *p;
	long n;

	if (keystore_entry_parse(data, size, "fuzz", &e, &err) != KEYSTORE_OK) {
		ERR_clear_error();
		return 0;
	}
	if (e->cert == NULL || e->sealed == NULL)
		abort();
	if (keystore_entry_key(e, master, "fuzz", &key, &err) == KEYSTORE_OK)
		EVP_PKEY_free(key);
	if (keystore_entry_encode(e, &b, &err) == KEYSTORE_OK
	    && (n = BIO_get_mem_data(b, &p)) > 0) {
		if (keystore_entry_parse((unsigned char *)p, (size_t)n, "fuzz again", &again,
		    &err) != KEYSTORE_OK || X509_cmp(again->cert, e->cert) != 0
		    || again->sealed_len != e->sealed_len
		    || memcmp(again->sealed, e->sealed, e->sealed_len) != 0)
			abort();
		keystore_entry_free(again);
	}
	BIO_free(b);
	keystore_entry_free(e);
	ERR_clear_error();
	return 0;
}
