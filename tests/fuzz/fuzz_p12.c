/*
 * fuzz_p12.c: PKCS#12 import into the keystore (keystore_import_p12), as
 * `smimectl keystore import` does with a file an administrator was sent.
 *
 * Input: the DER.  The password tried is "x" (the seeds' password), so
 * well-formed seeds get past the MAC and into the key and certificate
 * checks.  An accepted entry is listed, then the keystore is emptied so
 * that it does not grow.
 */
#include "keystore/keystore.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/unit/unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *ksdir;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (asprintf(&ksdir, "%s/keystore", fuzz_dir()) < 0)
		abort();
	return 0;
}

static int
list_one(const keystore_info_t *info, void *arg)
{
	for (const char *const *a = info->addresses; a && *a; a++)
		++*(size_t *)arg;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	keystore_err_t err;
	keystore_info_t info;
	keystore_t *ks = keystore_open(ksdir, NULL, KEYSTORE_CREATE, &err);
	keystore_status_t st;
	size_t n = 0;

	if (ks == NULL) {
		fprintf(stderr, "fuzz_p12: %s\n", err.msg);
		abort();
	}
	st = keystore_import_p12(ks, data, size, "x", &info, &err);
	if (st == KEYSTORE_OK) {
		if (keystore_foreach(ks, list_one, &n, &err) < 0)
			abort();
		keystore_free(ks);
		unit_rmtree(ksdir);
		return 0;
	}
	if (err.msg[0] == '\0')
		abort();
	keystore_free(ks);
	return 0;
}
