/*
 * test_ocsp.c: the checks an OCSP response must pass before the lookup
 * believes it (directory/dir_ocsp.c), table-driven: responses made here
 * with OpenSSL, good, revoked and unknown, and forged ones (another key,
 * a responder the issuer did not delegate to, a wrong nonce, another
 * certificate, stale, from the future); none of the forged ones may come
 * out good or revoked.  Then the answer kept in the cache: the responder
 * asked once for two checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "directory/dir_int.h"
#include "tests/unit/unit_util.h"

static struct {
	EVP_PKEY *ca_key, *other_key, *key, *resp_key;
	X509 *ca, *other_ca, *ee, *ee2, *delegated, *not_delegated, *foreign_resp;
	X509_STORE *store;
} pki;

/* A certificate for key issued by ca, with extendedKeyUsage eku. */
static X509 *
responder_cert(EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key, const char *eku)
{
	return unit_cert_ext(key, ca, ca_key, NULL, -1, 30, "critical,digitalSignature",
	    eku, 0);
}

static int
group_setup(void **state)
{
	(void)state;
	pki.ca_key = unit_key(UNIT_RSA2048);
	pki.ca = unit_ca(pki.ca_key, "ocsp test CA");
	pki.other_key = unit_key(UNIT_RSA2048);
	pki.other_ca = unit_ca(pki.other_key, "ocsp test CA");   /* the same name */
	pki.key = unit_key(UNIT_RSA2048);
	pki.resp_key = unit_key(UNIT_P256);
	pki.ee = unit_cert(pki.key, pki.ca, pki.ca_key, "rita@example.net", -1, 30);
	pki.ee2 = unit_cert(pki.key, pki.ca, pki.ca_key, "dave@example.net", -1, 30);
	pki.delegated = responder_cert(pki.resp_key, pki.ca, pki.ca_key, "OCSPSigning");
	pki.not_delegated = responder_cert(pki.resp_key, pki.ca, pki.ca_key,
	    "emailProtection");
	pki.foreign_resp = responder_cert(pki.resp_key, pki.other_ca, pki.other_key,
	    "OCSPSigning");
	pki.store = X509_STORE_new();
	return pki.store != NULL && X509_STORE_add_cert(pki.store, pki.ca) ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(pki.ca_key);
	EVP_PKEY_free(pki.other_key);
	EVP_PKEY_free(pki.key);
	EVP_PKEY_free(pki.resp_key);
	X509_free(pki.ca);
	X509_free(pki.other_ca);
	X509_free(pki.ee);
	X509_free(pki.ee2);
	X509_free(pki.delegated);
	X509_free(pki.not_delegated);
	X509_free(pki.foreign_resp);
	X509_STORE_free(pki.store);
	return 0;
}

enum nonce_mode { NONCE_ECHO, NONCE_NONE, NONCE_WRONG };

typedef struct resp_spec {
	X509 *about;                /* the certificate the answer names */
	int status;                 /* V_OCSP_CERTSTATUS_* */
	X509 *signer;
	EVP_PKEY *signer_key;
	X509 *extra;                /* another certificate carried, or NULL */
	long this_off, next_off;    /* seconds from now; next_off 0: none */
	enum nonce_mode nonce;
	int rstatus;                /* OCSP_RESPONSE_STATUS_* */
} resp_spec_t;

/* The DER of a response to req made as spec says. */
static unsigned char *
make_response(const resp_spec_t *spec, OCSP_REQUEST *req, size_t *len)
{
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	OCSP_CERTID *id = OCSP_cert_to_id(NULL, spec->about, pki.ca);
	ASN1_TIME *thisupd = X509_gmtime_adj(NULL, spec->this_off);
	ASN1_TIME *nextupd = spec->next_off ? X509_gmtime_adj(NULL, spec->next_off) : NULL;
	ASN1_TIME *rev = X509_gmtime_adj(NULL, -3600);
	STACK_OF(X509) *extra = sk_X509_new_null();
	OCSP_RESPONSE *resp;
	unsigned char *der = NULL, *out;
	int n;

	assert_non_null(bs);
	assert_non_null(id);
	assert_non_null(OCSP_basic_add1_status(bs, id, spec->status,
	    spec->status == V_OCSP_CERTSTATUS_REVOKED ? OCSP_REVOKED_STATUS_KEYCOMPROMISE : -1,
	    spec->status == V_OCSP_CERTSTATUS_REVOKED ? rev : NULL, thisupd, nextupd));
	if (spec->nonce == NONCE_ECHO)
		assert_true(OCSP_copy_nonce(bs, req));
	else if (spec->nonce == NONCE_WRONG)
		assert_true(OCSP_basic_add1_nonce(bs, NULL, 16));
	if (spec->extra != NULL)
		sk_X509_push(extra, spec->extra);
	assert_true(OCSP_basic_sign(bs, spec->signer, spec->signer_key, EVP_sha256(),
	    extra, 0));
	resp = OCSP_response_create(spec->rstatus, spec->rstatus ==
	    OCSP_RESPONSE_STATUS_SUCCESSFUL ? bs : NULL);
	n = i2d_OCSP_RESPONSE(resp, &der);
	assert_true(n > 0);
	out = malloc((size_t)n);
	memcpy(out, der, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(der);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	OCSP_CERTID_free(id);
	ASN1_TIME_free(thisupd);
	ASN1_TIME_free(nextupd);
	ASN1_TIME_free(rev);
	sk_X509_free(extra);
	return out;
}

static void
test_response_checks(void **state)
{
	const long H = 3600;
	struct {
		const char *what;
		resp_spec_t spec;
		dir_ocsp_result_t want;
	} t[] = {
		{ "good, signed by the issuer", { pki.ee, V_OCSP_CERTSTATUS_GOOD, pki.ca,
		    pki.ca_key, NULL, -60, H, NONCE_ECHO, 0 }, DIR_OCSP_GOOD },
		{ "revoked, signed by the issuer", { pki.ee, V_OCSP_CERTSTATUS_REVOKED, pki.ca,
		    pki.ca_key, NULL, -60, H, NONCE_ECHO, 0 }, DIR_OCSP_REVOKED },
		{ "unknown", { pki.ee, V_OCSP_CERTSTATUS_UNKNOWN, pki.ca, pki.ca_key, NULL,
		    -60, H, NONCE_ECHO, 0 }, DIR_OCSP_UNKNOWN },
		{ "good without a nonce (pre-produced)", { pki.ee, V_OCSP_CERTSTATUS_GOOD,
		    pki.ca, pki.ca_key, NULL, -60, H, NONCE_NONE, 0 }, DIR_OCSP_GOOD },
		{ "good, a delegated responder (OCSPSigning, issued by the CA)", { pki.ee,
		    V_OCSP_CERTSTATUS_GOOD, pki.delegated, pki.resp_key, NULL, -60, H,
		    NONCE_ECHO, 0 }, DIR_OCSP_GOOD },
		/* attacks */
		{ "good, signed by another key of the same name", { pki.ee,
		    V_OCSP_CERTSTATUS_GOOD, pki.other_ca, pki.other_key, NULL, -60, H,
		    NONCE_ECHO, 0 }, DIR_OCSP_UNAVAILABLE },
		{ "good, another key, carrying the real issuer's certificate", { pki.ee,
		    V_OCSP_CERTSTATUS_GOOD, pki.other_ca, pki.other_key, pki.ca, -60, H,
		    NONCE_ECHO, 0 }, DIR_OCSP_UNAVAILABLE },
		{ "good, a responder of the CA without OCSPSigning", { pki.ee,
		    V_OCSP_CERTSTATUS_GOOD, pki.not_delegated, pki.resp_key, NULL, -60, H,
		    NONCE_ECHO, 0 }, DIR_OCSP_UNAVAILABLE },
		{ "good, an OCSPSigning responder of another CA", { pki.ee,
		    V_OCSP_CERTSTATUS_GOOD, pki.foreign_resp, pki.resp_key, pki.other_ca,
		    -60, H, NONCE_ECHO, 0 }, DIR_OCSP_UNAVAILABLE },
		{ "good, a replay with another nonce", { pki.ee, V_OCSP_CERTSTATUS_GOOD,
		    pki.ca, pki.ca_key, NULL, -60, H, NONCE_WRONG, 0 }, DIR_OCSP_UNAVAILABLE },
		{ "good, for another certificate", { pki.ee2, V_OCSP_CERTSTATUS_GOOD, pki.ca,
		    pki.ca_key, NULL, -60, H, NONCE_ECHO, 0 }, DIR_OCSP_UNAVAILABLE },
		{ "good, stale (nextUpdate an hour ago)", { pki.ee, V_OCSP_CERTSTATUS_GOOD,
		    pki.ca, pki.ca_key, NULL, -2 * H, -H, NONCE_NONE, 0 }, DIR_OCSP_UNAVAILABLE },
		{ "good, from the future (thisUpdate in an hour)", { pki.ee,
		    V_OCSP_CERTSTATUS_GOOD, pki.ca, pki.ca_key, NULL, H, 2 * H, NONCE_ECHO, 0 },
		    DIR_OCSP_UNAVAILABLE },
		{ "good, no nextUpdate and thisUpdate older than the cache time", { pki.ee,
		    V_OCSP_CERTSTATUS_GOOD, pki.ca, pki.ca_key, NULL, -3 * H, 0, NONCE_NONE, 0 },
		    DIR_OCSP_UNAVAILABLE },
		{ "tryLater", { pki.ee, V_OCSP_CERTSTATUS_GOOD, pki.ca, pki.ca_key, NULL, -60,
		    H, NONCE_ECHO, OCSP_RESPONSE_STATUS_TRYLATER }, DIR_OCSP_UNAVAILABLE },
	};
	OCSP_CERTID *id = OCSP_cert_to_id(NULL, pki.ee, pki.ca);
	STACK_OF(X509) *certs = sk_X509_new_null();

	(void)state;
	sk_X509_push(certs, pki.ca);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		OCSP_REQUEST *req = OCSP_REQUEST_new();
		size_t len;
		unsigned char *der;
		char why[256] = "";
		time_t until = 0;
		dir_ocsp_result_t got;

		OCSP_request_add0_id(req, OCSP_CERTID_dup(id));
		OCSP_request_add1_nonce(req, NULL, -1);
		der = make_response(&t[i].spec, req, &len);
		got = dir_ocsp_response_check(der, len, req, id, pki.store, certs,
		    DIR_OCSP_SKEW, H, &until, why, sizeof(why));
		if (got != t[i].want)
			fail_msg("%s: got %s (%s), want %s", t[i].what, dir_ocsp_result_name(got),
			    why, dir_ocsp_result_name(t[i].want));
		if (got != DIR_OCSP_UNAVAILABLE && (until <= time(NULL) || until > time(NULL) + H))
			fail_msg("%s: kept until %ld, not within the hour", t[i].what, (long)until);
		free(der);
		OCSP_REQUEST_free(req);
	}
	/* A revoked answer truncated, or with any one bit flipped: never good. */
	{
		OCSP_REQUEST *req = OCSP_REQUEST_new();
		resp_spec_t revoked = { pki.ee, V_OCSP_CERTSTATUS_REVOKED, pki.ca, pki.ca_key,
		    NULL, -60, H, NONCE_ECHO, 0 };
		size_t len;
		unsigned char *der;
		char why[256];
		time_t until;

		OCSP_request_add0_id(req, OCSP_CERTID_dup(id));
		OCSP_request_add1_nonce(req, NULL, -1);
		der = make_response(&revoked, req, &len);
		for (size_t cut = 0; cut < len; cut += 97)
			assert_int_equal(dir_ocsp_response_check(der, cut, req, id, pki.store,
			    certs, DIR_OCSP_SKEW, H, &until, why, sizeof(why)), DIR_OCSP_UNAVAILABLE);
		for (size_t at = 0; at < len; at++) {
			dir_ocsp_result_t got;
			der[at] ^= 0x01;
			got = dir_ocsp_response_check(der, len, req, id, pki.store,
			    certs, DIR_OCSP_SKEW, H, &until, why, sizeof(why));
			if (got == DIR_OCSP_GOOD)
				fail_msg("revoked, a bit flipped at %zu of %zu: good", at, len);
			der[at] ^= 0x01;
		}
		free(der);
		OCSP_REQUEST_free(req);
	}
	sk_X509_free(certs);
	OCSP_CERTID_free(id);
}

/* ---- asked once, then from the cache ---- */

static int fetches;

/* The stand-in responder: "revoked" for whatever it is asked, nonce echoed. */
static BIO *
fetch_revoked(void *arg, const char *url, const unsigned char *reqder, size_t reqlen,
    char *why, size_t len)
{
	const unsigned char *p = reqder;
	OCSP_REQUEST *req = d2i_OCSP_REQUEST(NULL, &p, (long)reqlen);
	resp_spec_t spec = { pki.ee, V_OCSP_CERTSTATUS_REVOKED, pki.ca, pki.ca_key, NULL,
		-60, 3600, NONCE_ECHO, 0 };
	unsigned char *der;
	size_t n;
	BIO *b;

	(void)arg;
	assert_non_null(req);
	assert_string_equal(url, "http://127.0.0.1:9/ocsp");
	fetches++;
	der = make_response(&spec, req, &n);
	b = BIO_new(BIO_s_mem());
	BIO_write(b, der, (int)n);
	free(der);
	OCSP_REQUEST_free(req);
	return b;
}

static void
test_status_cached(void **state)
{
	X509 *cert;
	X509V3_CTX ctx;
	X509_EXTENSION *aia;
	dir_settings_t s = { .ocsp_check = 1, .ocsp_timeout = 1, .ocsp_cache_seconds = 600,
		.ocsp_fetch = fetch_revoked, .redis = "", .redis_prefix = "t:",
		.mem_cache_size = 8 };
	char err[256], why[256];
	dir_cache_t *cache = dir_cache_new(&s, NULL, err, sizeof(err));
	dir_ocsp_t *o = dir_ocsp_new(&s);

	(void)state;
	/* pki.ee again, with an authorityInfoAccess OCSP URL. */
	cert = X509_dup(pki.ee);
	X509V3_set_ctx(&ctx, pki.ca, cert, NULL, NULL, 0);
	aia = X509V3_EXT_conf_nid(NULL, &ctx, NID_info_access, "OCSP;URI:http://127.0.0.1:9/ocsp");
	assert_non_null(aia);
	X509_add_ext(cert, aia, -1);
	X509_EXTENSION_free(aia);
	X509_sign(cert, pki.ca_key, EVP_sha256());
	assert_non_null(cache);
	assert_non_null(o);
	dir_ocsp_cache_set(o, cache);
	fetches = 0;
	assert_int_equal(dir_ocsp_status(o, cert, pki.ca, pki.store, NULL, NULL, why, sizeof(why)),
	    DIR_OCSP_REVOKED);
	assert_non_null(strstr(why, "keyCompromise"));
	assert_int_equal(dir_ocsp_status(o, cert, pki.ca, pki.store, NULL, NULL, why, sizeof(why)),
	    DIR_OCSP_REVOKED);
	assert_non_null(strstr(why, "cached"));
	assert_int_equal(fetches, 1);
	/* No responder named: nothing asked. */
	assert_int_equal(dir_ocsp_status(o, pki.ee, pki.ca, pki.store, NULL, NULL, why,
	    sizeof(why)), DIR_OCSP_NONE);
	assert_int_equal(fetches, 1);
	dir_ocsp_free(o);
	dir_cache_free(cache);
	X509_free(cert);
}

static BIO *
fetch_silent(void *arg, const char *url, const unsigned char *reqder, size_t reqlen,
    char *why, size_t len)
{
	(void)arg;
	(void)url;
	(void)reqder;
	(void)reqlen;
	fetches++;
	snprintf(why, len, "connection refused");
	return NULL;
}

/* A responder that does not answer is not asked again for a while. */
static void
test_silent_responder(void **state)
{
	X509 *cert = X509_dup(pki.ee);
	X509V3_CTX ctx;
	X509_EXTENSION *aia;
	dir_settings_t s = { .ocsp_check = 1, .ocsp_timeout = 1, .ocsp_cache_seconds = 600,
		.ocsp_fetch = fetch_silent };
	dir_ocsp_t *o = dir_ocsp_new(&s);
	char why[256];

	(void)state;
	X509V3_set_ctx(&ctx, pki.ca, cert, NULL, NULL, 0);
	aia = X509V3_EXT_conf_nid(NULL, &ctx, NID_info_access, "OCSP;URI:http://127.0.0.1:9/x");
	X509_add_ext(cert, aia, -1);
	X509_EXTENSION_free(aia);
	fetches = 0;
	for (int i = 0; i < 3; i++)
		assert_int_equal(dir_ocsp_status(o, cert, pki.ca, pki.store, NULL, NULL, why,
		    sizeof(why)), DIR_OCSP_UNAVAILABLE);
	assert_int_equal(fetches, 1);
	assert_non_null(strstr(why, "not asked again"));
	dir_ocsp_free(o);
	X509_free(cert);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_response_checks),
		cmocka_unit_test(test_status_cached),
		cmocka_unit_test(test_silent_responder),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
