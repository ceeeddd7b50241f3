/*
 * fuzz_crl.c: a CRL as a distribution point's server answers (any bytes
 * from the network), through the certificate check that fetches it
 * (dir_check_cert with CRLCheck on: dir_crl.c parses and caches it, the
 * verification uses it).  The certificate checked is the fuzz signer's
 * for alice@example.com with a CRL distribution point; the fetch is the
 * fuzz input (dir_settings_t.crl_fetch), never the network.
 *
 * Input: byte 0: 0 the CRL as it is, 1 issued again by the fuzz CA (its
 * issuer set, signed with the CA key, so that the checks past the
 * signature run), 2 as 1 with serial 0x1000 (the certificate's) listed;
 * the rest: the DER answer.
 */
#include "directory/dir_int.h"
#include "tests/fuzz/fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CRL_URL "http://crl.invalid/ca.crl"

static X509 *cert;
static char *ca_path;
static const uint8_t *answer;
static size_t answer_len;
static int mode;

/* The cert to check: the fuzz CA's, serial 0x1000, naming CRL_URL. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	EVP_PKEY *k, *cak;
	X509 *c, *ca;
	X509_EXTENSION *ext;
	X509V3_CTX ctx;
	BIO *b;

	(void)argc;
	(void)argv;
	fuzz_signer(&k, &c, &ca, &cak);
	if ((cert = X509_dup(c)) == NULL || !ASN1_INTEGER_set(X509_get_serialNumber(cert), 0x1000))
		abort();
	X509V3_set_ctx(&ctx, ca, cert, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_crl_distribution_points,
	    "URI:" CRL_URL)) == NULL || !X509_add_ext(cert, ext, -1)
	    || X509_sign(cert, cak, EVP_sha256()) <= 0)
		abort();
	X509_EXTENSION_free(ext);
	if (asprintf(&ca_path, "%s/ca.pem", fuzz_dir()) < 0
	    || (b = BIO_new_file(ca_path, "w")) == NULL || !PEM_write_bio_X509(b, ca))
		abort();
	BIO_free(b);
	return 0;
}

/* The answer, re-issued by the CA in modes 1 and 2 when it parses. */
static BIO *
fetch(void *arg, const char *url, char *why, size_t len)
{
	const unsigned char *p = answer;
	X509_CRL *crl;
	unsigned char *der = NULL;
	EVP_PKEY *k, *cak;
	X509 *c, *ca;
	BIO *b;
	int n;

	(void)arg;
	if (strcmp(url, CRL_URL) != 0)
		abort();
	if (mode == 0 || (crl = d2i_X509_CRL(NULL, &p, (long)answer_len)) == NULL) {
		ERR_clear_error();
		return BIO_new_mem_buf(answer, (int)answer_len);
	}
	fuzz_signer(&k, &c, &ca, &cak);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
	if (mode == 2) {
		X509_REVOKED *r = X509_REVOKED_new();
		ASN1_TIME *t = ASN1_TIME_set(NULL, 0);

		if (r == NULL || t == NULL || !X509_REVOKED_set_serialNumber(r,
		    X509_get_serialNumber(cert)) || !X509_REVOKED_set_revocationDate(r, t)
		    || !X509_CRL_add0_revoked(crl, r))
			X509_REVOKED_free(r);
		ASN1_TIME_free(t);
	}
	if (X509_CRL_sign(crl, cak, EVP_sha256()) <= 0 || (n = i2d_X509_CRL(crl, &der)) <= 0) {
		X509_CRL_free(crl);
		ERR_clear_error();
		snprintf(why, len, "cannot sign");
		return NULL;
	}
	X509_CRL_free(crl);
	b = BIO_new(BIO_s_mem());
	if (b == NULL || BIO_write(b, der, n) != n)
		abort();
	OPENSSL_free(der);
	return b;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dir_settings_t s;
	dir_check_t *chk;
	char why[512], err[256];
	dir_status_t st;

	if (size < 1)
		return 0;
	mode = data[0] % 3;
	answer = data + 1;
	answer_len = size - 1;
	memset(&s, 0, sizeof(s));
	s.ca_file = ca_path;
	s.crl_check = 1;
	s.crl_policy = DIR_CRL_TEMPFAIL;
	s.crl_timeout = 1;
	s.crl_cache_seconds = 60;
	s.crl_fetch = fetch;
	if ((chk = dir_check_new(&s, err, sizeof(err))) == NULL)
		abort();
	why[0] = '\0';
	st = dir_check_cert(chk, cert, NULL, "alice@example.com", why, sizeof(why));
	/* twice: the second from the cache */
	if (dir_check_cert(chk, cert, NULL, "alice@example.com", why, sizeof(why)) != st)
		abort();
	if (memchr(why, '\0', sizeof(why)) == NULL)
		abort();
	dir_check_free(chk);
	return 0;
}
