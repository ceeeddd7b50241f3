/*
 * test_enroll.c: two pieces of enrollment.  enroll_seal(): the
 * password notice, signed and/or encrypted, keeps its envelope headers
 * outside, holds the password only inside the CMS (it decrypts to it with
 * the recipient's key, and the signature verifies); mail_pending: a
 * certificate kept for the retry is found again, not after
 * EnrollmentPendingTime, and the sweep hands it to be revoked and removes
 * it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "conf/conf.h"
#include "enroll/enroll_pending.h"
#include "enroll/enroll_seal.h"
#include "net/net_smtp.h"
#include "smime/smime.h"
#include "unit_util.h"

#define SECRET "Ab3dEf6hJk9mNp2rSt5v"

static EVP_PKEY *ca_key, *alice_key, *pki_key;
static X509 *ca_cert, *alice_cert, *pki_cert;

static int
setup(void **state)
{
	(void)state;
	smime_init();
	ca_key = unit_key(UNIT_RSA2048);
	ca_cert = unit_ca(ca_key, "Test CA");
	alice_key = unit_key(UNIT_RSA2048);
	alice_cert = unit_cert(alice_key, ca_cert, ca_key, "alice@example.com", -1, 30);
	pki_key = unit_key(UNIT_P256);
	pki_cert = unit_cert(pki_key, ca_cert, ca_key, "pki@example.com", -1, 30);
	return ca_cert && alice_cert && pki_cert ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	X509_free(ca_cert);
	X509_free(alice_cert);
	X509_free(pki_cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(alice_key);
	EVP_PKEY_free(pki_key);
	return 0;
}

/* Decrypts msg with alice's key; the plaintext (malloc'ed) or NULL. */
static char *
open_sealed(const char *msg)
{
	BIO *in = BIO_new_mem_buf(msg, -1), *out = BIO_new(BIO_s_mem());
	CMS_ContentInfo *cms = in ? SMIME_read_CMS(in, NULL) : NULL;
	char *res = NULL, *p;
	long n;

	if (cms != NULL && CMS_decrypt(cms, alice_key, alice_cert, NULL, out, 0) == 1
	    && (n = BIO_get_mem_data(out, &p)) > 0 && (res = malloc((size_t)n + 1)) != NULL) {
		memcpy(res, p, (size_t)n);
		res[n] = '\0';
	}
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	BIO_free(out);
	return res;
}

/* 1 when the entity (multipart/signed) verifies against the test CA with
 * pki's certificate as the signer. */
static int
verifies(const char *entity)
{
	BIO *in = BIO_new_mem_buf(entity, -1), *cont = NULL;
	CMS_ContentInfo *cms = in ? SMIME_read_CMS(in, &cont) : NULL;
	X509_STORE *st = X509_STORE_new();
	STACK_OF(X509) *signers = NULL;
	int ok = 0;

	X509_STORE_add_cert(st, ca_cert);
	if (cms != NULL && CMS_verify(cms, NULL, st, cont, NULL, CMS_BINARY) == 1) {
		signers = CMS_get0_signers(cms);
		ok = sk_X509_num(signers) == 1 && X509_cmp(sk_X509_value(signers, 0), pki_cert) == 0;
	}
	sk_X509_free(signers);
	X509_STORE_free(st);
	CMS_ContentInfo_free(cms);
	BIO_free(cont);
	BIO_free(in);
	return ok;
}

static void
test_seal(void **state)
{
	char *msg = net_smtp_compose("pki@example.com", "alice@example.com",
	    "Certificate issued for x@example.net: the password",
	    "Give them this password:\n\n    ", SECRET, "\n");
	char why[256];

	(void)state;
	assert_non_null(msg);
	for (int sign = 0; sign <= 1; sign++) {
		char *sealed = enroll_seal(msg, alice_cert, sign ? pki_key : NULL,
		    sign ? pki_cert : NULL, NULL, why, sizeof(why));
		char *plain;

		if (sealed == NULL)
			fail_msg("sign=%d: %s", sign, why);
		if (strstr(sealed, SECRET) != NULL)
			fail_msg("sign=%d: the password is in the sealed message in clear", sign);
		assert_non_null(strstr(sealed, "To: alice@example.com\r\n"));
		assert_non_null(strstr(sealed, "Subject: Certificate issued for x@example.net"));
		assert_non_null(strstr(sealed, "Content-Type: application/pkcs7-mime"));
		assert_null(strstr(sealed, "text/plain"));
		plain = open_sealed(sealed);
		if (plain == NULL)
			fail_msg("sign=%d: does not decrypt with alice's key", sign);
		if (strstr(plain, "    " SECRET) == NULL)
			fail_msg("sign=%d: decrypted, no password in\n%s", sign, plain);
		if (sign)
			assert_int_equal(verifies(plain), 1);
		else
			assert_null(strstr(plain, "multipart/signed"));
		OPENSSL_clear_free(plain, strlen(plain));
		free(sealed);
	}
	assert_null(enroll_seal("no header block", alice_cert, NULL, NULL, NULL, why, sizeof(why)));
	OPENSSL_clear_free(msg, strlen(msg));
}

static int expired_n;
static char expired_addr[256];

static void
expire(const conf_t *c, const char *rcpt, X509 *x)
{
	(void)c;
	expired_n++;
	snprintf(expired_addr, sizeof(expired_addr), "%s", rcpt);
	assert_int_equal(X509_cmp(x, alice_cert), 0);
}

/* Sets the mtime of every file in dir to secs ago. */
static void
age_files(const char *dir, long secs)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "touch -d '@%ld' '%s'/*", (long)time(NULL) - secs, dir);
	assert_int_equal(system(cmd), 0);
}

static void
test_pending(void **state)
{
	char tmpl[] = "/tmp/test_enroll.XXXXXX", dir[256], why[256], cmd[300];
	conf_t c;
	X509 *x;

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	memset(&c, 0, sizeof(c));
	c.state_dir = tmpl;
	c.enroll_pending_time = 3600;
	snprintf(dir, sizeof(dir), "%s/enroll-pending", tmpl);

	assert_null(enroll_pending_get(&c, "alice@example.com"));
	if (enroll_pending_put(&c, "alice@Example.COM", alice_cert, why, sizeof(why)) != 0)
		fail_msg("put: %s", why);
	x = enroll_pending_get(&c, "alice@example.com");      /* the domain's case */
	assert_non_null(x);
	assert_int_equal(X509_cmp(x, alice_cert), 0);
	X509_free(x);
	assert_null(enroll_pending_get(&c, "Alice@example.com")); /* the local part's */
	assert_int_equal(enroll_pending_sweep(&c, expire), 0);    /* young: kept */
	assert_int_equal(expired_n, 0);

	age_files(dir, 3601);
	assert_null(enroll_pending_get(&c, "alice@example.com")); /* too old to use */
	assert_int_equal(enroll_pending_sweep(&c, expire), 1);
	assert_int_equal(expired_n, 1);
	assert_string_equal(expired_addr, "alice@Example.COM");
	assert_null(enroll_pending_get(&c, "alice@example.com"));
	assert_int_equal(enroll_pending_sweep(&c, expire), 0);    /* removed */

	assert_int_equal(enroll_pending_put(&c, "alice@example.com", alice_cert, why, sizeof(why)), 0);
	enroll_pending_drop(&c, "alice@example.com");
	assert_null(enroll_pending_get(&c, "alice@example.com"));
	assert_int_equal(expired_n, 1);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal),
		cmocka_unit_test(test_pending),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
