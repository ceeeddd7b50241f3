/*
 * smime_trust.c: smime_trust_t, the trust anchors and CRLs signatures
 * (and, without CRLs, the directory's certificates) are checked against:
 * an X509_STORE filled once from the configured CA
 * file and/or the system's default store, and the CRLs of a file and of
 * every regular file in a directory (PEM, several per file, or one DER).
 * When any CRL is loaded, revocation is checked for every certificate of
 * a chain whose issuer has one (smime_verify.c ignores a missing CRL).
 *
 * Ownership and threads: made and freed by the caller; once made it is
 * only read, and OpenSSL's X509_STORE may serve any number of
 * verifications at once.  The generations come from one process-wide
 * atomic counter (trust_gens), so that a cache of chain checks never
 * takes one trust's (or one state's) for another's.
 */
#include "smime/smime_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include <openssl/pem.h>

static unsigned long trust_gens;   /* the last generation handed out */

static unsigned long
trust_next_gen(void)
{
	return __atomic_add_fetch(&trust_gens, 1, __ATOMIC_SEQ_CST);
}

/* Adds the CRLs of one file; their count, or -1. */
static int
trust_crl_file(X509_STORE *store, const char *path)
{
	BIO *b = BIO_new_file(path, "rb");
	X509_CRL *crl;
	int n = 0;

	if (b == NULL)
		return -1;
	while ((crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) != NULL) {
		int ok = X509_STORE_add_crl(store, crl);

		X509_CRL_free(crl);
		if (!ok)
			break;
		n++;
	}
	ERR_clear_error();
	if (n == 0 && BIO_reset(b) == 0 && (crl = d2i_X509_CRL_bio(b, NULL)) != NULL) {
		if (X509_STORE_add_crl(store, crl))
			n = 1;
		X509_CRL_free(crl);
	}
	BIO_free(b);
	ERR_clear_error();
	return n > 0 ? n : -1;
}

static int
trust_crl_dir(X509_STORE *store, const char *dir, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat st;
	char path[4096];
	int n = 0, k;

	if (d == NULL)
		return snprintf(err, errlen, "CRLDirectory %s: %s", dir, strerror(errno)), -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path)
		    || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if ((k = trust_crl_file(store, path)) < 0) {
			closedir(d);
			return snprintf(err, errlen, "CRLDirectory: %s holds no CRL", path), -1;
		}
		n += k;
	}
	closedir(d);
	return n;
}

smime_trust_t *
smime_trust_new(const char *ca_file, int system_store, const char *crl_file,
    const char *crl_dir, char *err, size_t errlen)
{
	smime_trust_t *t = calloc(1, sizeof(*t));
	int k;

	if (t == NULL || (t->store = X509_STORE_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (ca_file != NULL && *ca_file != '\0' && !X509_STORE_load_file(t->store, ca_file)) {
		snprintf(err, errlen, "TrustAnchorFile %s: no certificate could be read", ca_file);
		goto fail;
	}
	if (system_store && !X509_STORE_set_default_paths(t->store)) {
		snprintf(err, errlen, "the system's trust store cannot be read");
		goto fail;
	}
	if (crl_file != NULL && *crl_file != '\0') {
		if ((k = trust_crl_file(t->store, crl_file)) < 0) {
			snprintf(err, errlen, "CRLFile %s: no CRL could be read", crl_file);
			goto fail;
		}
		t->ncrls += k;
	}
	if (crl_dir != NULL && *crl_dir != '\0') {
		if ((k = trust_crl_dir(t->store, crl_dir, err, errlen)) < 0)
			goto fail;
		t->ncrls += k;
	}
	if (t->ncrls > 0)
		X509_STORE_set_flags(t->store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	t->gen = trust_next_gen();
	ERR_clear_error();
	return t;
fail:
	ERR_clear_error();
	smime_trust_free(t);
	return NULL;
}

int
smime_trust_add(smime_trust_t *t, X509 *cert)
{
	int ok = X509_STORE_add_cert(t->store, cert);

	__atomic_store_n(&t->gen, trust_next_gen(), __ATOMIC_SEQ_CST);
	ERR_clear_error();
	return ok ? 0 : -1;
}

unsigned long
smime_trust_generation(const smime_trust_t *t)
{
	return __atomic_load_n(&t->gen, __ATOMIC_SEQ_CST);
}

X509_STORE *
smime_trust_store(const smime_trust_t *t)
{
	return t->store;
}

void
smime_trust_free(smime_trust_t *t)
{
	if (t == NULL)
		return;
	X509_STORE_free(t->store);
	free(t);
}
