/*
 * fuzz_ocsp.c: an OCSP response as a responder answers (any bytes from
 * the network), through the lookup's OCSP check (dir_ocsp_status: the
 * response parsed and checked by dir_ocsp_response_check, the answer kept
 * in the in-process cache).  The certificate asked about is the fuzz
 * signer's with an OCSP URL; the fetch is the fuzz input
 * (dir_settings_t.ocsp_fetch), never the network.
 *
 * Input: byte 0: 0 the response as it is, 1 the rest taken as a
 * BasicOCSPResponse and, when it parses, given the request's nonce,
 * signed by the fuzz CA and wrapped in a successful response (so that
 * the checks past the signature run); the rest: the DER.
 * Invariant: a decided answer (good, revoked, unknown) is the same the
 * second time (from the cache).
 */
#include "directory/dir_int.h"
#include "tests/fuzz/fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define OCSP_URL "http://ocsp.invalid/ocsp"

static X509 *cert, *ca;
static EVP_PKEY *ca_key;
static X509_STORE *store;
static const uint8_t *answer;
static size_t answer_len;
static int mode;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	EVP_PKEY *k;
	X509 *c;
	X509_EXTENSION *ext;
	X509V3_CTX ctx;

	(void)argc;
	(void)argv;
	fuzz_signer(&k, &c, &ca, &ca_key);
	if ((cert = X509_dup(c)) == NULL)
		abort();
	X509V3_set_ctx(&ctx, ca, cert, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_info_access, "OCSP;URI:" OCSP_URL))
	    == NULL || !X509_add_ext(cert, ext, -1) || X509_sign(cert, ca_key, EVP_sha256()) <= 0)
		abort();
	X509_EXTENSION_free(ext);
	if ((store = X509_STORE_new()) == NULL || !X509_STORE_add_cert(store, ca))
		abort();
	return 0;
}

/* Mode 1: the basic response signed by the CA, the request's nonce in it. */
static BIO *
resigned(const unsigned char *reqder, size_t reqlen)
{
	const unsigned char *p = answer, *q = reqder;
	OCSP_BASICRESP *bs = d2i_OCSP_BASICRESP(NULL, &p, (long)answer_len);
	OCSP_REQUEST *req = d2i_OCSP_REQUEST(NULL, &q, (long)reqlen);
	OCSP_RESPONSE *resp = NULL;
	BIO *b = NULL;

	if (bs != NULL && req != NULL && OCSP_copy_nonce(bs, req)
	    && OCSP_basic_sign(bs, ca, ca_key, EVP_sha256(), NULL, 0)
	    && (resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs)) != NULL
	    && (b = BIO_new(BIO_s_mem())) != NULL && !i2d_OCSP_RESPONSE_bio(b, resp)) {
		BIO_free(b);
		b = NULL;
	}
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	OCSP_REQUEST_free(req);
	ERR_clear_error();
	return b;
}

static BIO *
fetch(void *arg, const char *url, const unsigned char *req, size_t reqlen, char *why,
    size_t len)
{
	BIO *b = NULL;

	(void)arg;
	if (strcmp(url, OCSP_URL) != 0)
		abort();
	if (mode == 1)
		b = resigned(req, reqlen);
	if (b == NULL)
		b = BIO_new_mem_buf(answer, (int)answer_len);
	if (b == NULL)
		snprintf(why, len, "out of memory");
	return b;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dir_settings_t s;
	dir_cache_t *cache;
	dir_ocsp_t *o;
	char why[512], err[256];
	dir_ocsp_result_t r1, r2;

	if (size < 1)
		return 0;
	mode = data[0] % 2;
	answer = data + 1;
	answer_len = size - 1;
	memset(&s, 0, sizeof(s));
	s.ocsp_check = 1;
	s.ocsp_timeout = 1;
	s.ocsp_cache_seconds = 60;
	s.ocsp_fetch = fetch;
	s.redis = "";
	s.redis_prefix = "f:";
	s.mem_cache_size = 4;
	s.ttl_positive = s.ttl_negative = 60;
	if ((cache = dir_cache_new(&s, NULL, err, sizeof(err))) == NULL
	    || (o = dir_ocsp_new(&s)) == NULL)
		abort();
	dir_ocsp_cache_set(o, cache);
	r1 = dir_ocsp_status(o, cert, ca, store, NULL, NULL, why, sizeof(why));
	r2 = dir_ocsp_status(o, cert, ca, store, NULL, NULL, why, sizeof(why));
	if (r1 != r2 && r1 != DIR_OCSP_UNAVAILABLE)
		abort();
	if (memchr(why, '\0', sizeof(why)) == NULL)
		abort();
	dir_ocsp_free(o);
	dir_cache_free(cache);
	return 0;
}
