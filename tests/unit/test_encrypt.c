/*
 * test_encrypt.c: cmocka tests of the encryption half of smime/ (smime.h):
 * every message made here is decrypted again by OpenSSL's CMS_decrypt with
 * each recipient's key (RSA key transport, PKCS#1 v1.5 and OAEP, and ECDH),
 * for AES-256-CBC EnvelopedData and AES-256-GCM AuthEnvelopedData; raw
 * entities come back byte for byte, others canonical; a key that is not a
 * recipient's fails.  Table-driven; failures say got and want.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "smime/smime.h"
#include "tests/unit/unit_util.h"

static struct {
	EVP_PKEY *ca_key, *rsa_key, *ec_key, *other_key;
	X509 *ca, *rsa, *ec;
} pki;

typedef struct buf {
	unsigned char *p;
	size_t n;
} buf_t;

static int
buf_write(void *arg, const void *data, size_t len)
{
	buf_t *b = arg;
	unsigned char *q = realloc(b->p, b->n + len + 1);

	if (q == NULL)
		return -1;
	memcpy(q + b->n, data, len);
	b->p = q;
	b->n += len;
	b->p[b->n] = '\0';
	return 0;
}

static int
fail_write(void *arg, const void *data, size_t len)
{
	(void)arg; (void)data; (void)len;
	return -1;
}

static int
group_setup(void **state)
{
	(void)state;
	smime_init();
	pki.ca_key = unit_key(UNIT_RSA2048);
	pki.ca = unit_ca(pki.ca_key, "encrypt test CA");
	pki.rsa_key = unit_key(UNIT_RSA2048);
	pki.rsa = unit_cert(pki.rsa_key, pki.ca, pki.ca_key, "r@example.net", -1, 30);
	pki.ec_key = unit_key(UNIT_P256);
	pki.ec = unit_cert(pki.ec_key, pki.ca, pki.ca_key, "e@example.net", -1, 30);
	pki.other_key = unit_key(UNIT_RSA2048);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(pki.ca_key);
	EVP_PKEY_free(pki.rsa_key);
	EVP_PKEY_free(pki.ec_key);
	EVP_PKEY_free(pki.other_key);
	X509_free(pki.ca);
	X509_free(pki.rsa);
	X509_free(pki.ec);
	return 0;
}

/* The CMS of the base64 output. */
static CMS_ContentInfo *
parse(const buf_t *out)
{
	BIO *mem = BIO_new_mem_buf(out->p, (int)out->n);
	BIO *b64 = BIO_new(BIO_f_base64());
	CMS_ContentInfo *cms;

	BIO_push(b64, mem);
	cms = d2i_CMS_bio(b64, NULL);
	BIO_free_all(b64);
	return cms;
}

/* Decrypts with key/cert; the plaintext in *plain (malloc'ed) or -1. */
static int
decrypt(const buf_t *out, EVP_PKEY *key, X509 *cert, buf_t *plain)
{
	CMS_ContentInfo *cms = parse(out);
	BIO *o = BIO_new(BIO_s_mem());
	char *p;
	long n;
	int ok = cms != NULL && CMS_decrypt(cms, key, cert, NULL, o, 0);

	memset(plain, 0, sizeof(*plain));
	if (ok) {
		n = BIO_get_mem_data(o, &p);
		buf_write(plain, p, (size_t)n);
	}
	BIO_free(o);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return ok ? 0 : -1;
}

static void
test_roundtrip(void **state)
{
	static const char body[] = "--b\r\nContent-Type: text/plain\r\n\r\nsigned\r\n--b--\r\n";
	static const char hdrs[] = "Content-Type: multipart/signed; boundary=\"b\"\n";
	static const char want_raw[] = "Content-Type: multipart/signed; boundary=\"b\"\r\n\r\n"
	    "--b\r\nContent-Type: text/plain\r\n\r\nsigned\r\n--b--\r\n";
	static const struct {
		const char *what;
		smime_cipher_t cipher;
		int oaep;
		const char *ctype, *oid;
	} t[] = {
		{ "CBC, PKCS#1 v1.5", SMIME_CIPHER_AES256_CBC, 0,
		  "smime-type=enveloped-data", "pkcs7-envelopedData" },
		{ "CBC, OAEP", SMIME_CIPHER_AES256_CBC, 1,
		  "smime-type=enveloped-data", "pkcs7-envelopedData" },
		{ "GCM", SMIME_CIPHER_AES256_GCM, 0,
		  "smime-type=authEnveloped-data", "id-smime-ct-authEnvelopedData" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		smime_encrypt_t *e = smime_encrypt_new();
		smime_body_t b = { (const unsigned char *)body, strlen(body), -1 };
		buf_t out = { NULL, 0 }, plain;
		const char *ct = NULL;
		CMS_ContentInfo *cms;
		char oid[80];

		assert_int_equal(smime_encrypt_add_recipient(e, pki.rsa), SMIME_OK);
		assert_int_equal(smime_encrypt_add_recipient(e, pki.ec), SMIME_OK);
		assert_int_equal(smime_encrypt_add_recipient(e, pki.rsa), SMIME_OK);
		assert_int_equal(smime_encrypt_nrecipients(e), 2);
		smime_encrypt_set_cipher(e, t[i].cipher);
		smime_encrypt_set_oaep(e, t[i].oaep);
		if (smime_encrypt_run(e, hdrs, &b, 1, buf_write, &out) != SMIME_OK)
			fail_msg("%s: %s", t[i].what, smime_encrypt_error(e));
		for (size_t h = 0; h < smime_encrypt_nheaders(e); h++)
			if (strcmp(smime_encrypt_header_name(e, h), "Content-Type") == 0)
				ct = smime_encrypt_header_value(e, h);
		if (ct == NULL || strstr(ct, t[i].ctype) == NULL ||
		    strstr(ct, "application/pkcs7-mime") == NULL)
			fail_msg("%s: Content-Type got %s, want %s", t[i].what, ct ? ct : "none",
			    t[i].ctype);
		cms = parse(&out);
		assert_non_null(cms);
		OBJ_obj2txt(oid, sizeof(oid), CMS_get0_type(cms), 0);
		if (strcmp(oid, t[i].oid) != 0)
			fail_msg("%s: content type got %s, want %s", t[i].what, oid, t[i].oid);
		STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
		int ktri = 0, kari = 0;
		for (int r = 0; r < sk_CMS_RecipientInfo_num(ris); r++) {
			CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, r);
			X509_ALGOR *alg = NULL;
			if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_AGREE) {
				kari++;
				continue;
			}
			ktri++;
			CMS_RecipientInfo_ktri_get0_algs(ri, NULL, NULL, &alg);
			int want = t[i].oaep ? NID_rsaesOaep : NID_rsaEncryption;
			if (alg == NULL || OBJ_obj2nid(alg->algorithm) != want)
				fail_msg("%s: key transport got %s, want %s", t[i].what,
				    alg ? OBJ_nid2sn(OBJ_obj2nid(alg->algorithm)) : "none",
				    OBJ_nid2sn(want));
		}
		if (ktri != 1 || kari != 1)
			fail_msg("%s: got %d ktri and %d kari, want 1 and 1", t[i].what, ktri, kari);
		CMS_ContentInfo_free(cms);

		if (decrypt(&out, pki.rsa_key, pki.rsa, &plain) != 0 ||
		    strcmp((char *)plain.p, want_raw) != 0)
			fail_msg("%s: RSA recipient got \"%s\"", t[i].what, plain.p ? (char *)plain.p : "nothing");
		free(plain.p);
		if (decrypt(&out, pki.ec_key, pki.ec, &plain) != 0 ||
		    strcmp((char *)plain.p, want_raw) != 0)
			fail_msg("%s: EC recipient got \"%s\"", t[i].what, plain.p ? (char *)plain.p : "nothing");
		free(plain.p);
		if (decrypt(&out, pki.other_key, NULL, &plain) == 0)
			fail_msg("%s: a stranger's key decrypted it", t[i].what);
		free(plain.p);
		free(out.p);
		smime_encrypt_free(e);
	}
}

/* Not raw: the entity is made canonical (CRLF, 8-bit re-encoded). */
static void
test_canonical(void **state)
{
	static const char body[] = "Gr\xc3\xbc\xc3\x9f" "e\nline two\n";
	smime_encrypt_t *e = smime_encrypt_new();
	smime_body_t b = { (const unsigned char *)body, strlen(body), -1 };
	buf_t out = { NULL, 0 }, plain;
	(void)state;

	smime_encrypt_add_recipient(e, pki.rsa);
	assert_int_equal(smime_encrypt_run(e, "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: 8bit\n", &b, 0, buf_write, &out), SMIME_OK);
	assert_int_equal(decrypt(&out, pki.rsa_key, pki.rsa, &plain), 0);
	for (size_t i = 0; i < plain.n; i++) {
		if (plain.p[i] >= 0x80)
			fail_msg("octet %zu is 8-bit (0x%02x)", i, plain.p[i]);
		if (plain.p[i] == '\n' && (i == 0 || plain.p[i - 1] != '\r'))
			fail_msg("bare LF at %zu", i);
	}
	if (strstr((char *)plain.p, "Content-Transfer-Encoding: 8bit") != NULL)
		fail_msg("still 8bit: %s", plain.p);
	free(plain.p);
	free(out.p);
	smime_encrypt_free(e);
}

static void
test_errors(void **state)
{
	smime_body_t b = { (const unsigned char *)"x\r\n", 3, -1 };
	buf_t out = { NULL, 0 };
	smime_encrypt_t *e = smime_encrypt_new();
	static const struct { const char *what; int add; smime_write_fn fn; smime_status_t want; } t[] = {
		{ "no recipient", 0, buf_write, SMIME_ERR_USAGE },
		{ "no writer", 1, NULL, SMIME_ERR_USAGE },
		{ "writer fails", 1, fail_write, SMIME_ERR_IO },
	};
	(void)state;

	assert_int_equal(smime_encrypt_add_recipient(NULL, pki.rsa), SMIME_ERR_USAGE);
	assert_int_equal(smime_encrypt_add_recipient(e, NULL), SMIME_ERR_USAGE);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		smime_status_t got;
		if (t[i].add)
			smime_encrypt_add_recipient(e, pki.rsa);
		got = smime_encrypt_run(e, "", &b, 1, t[i].fn, &out);
		if (got != t[i].want)
			fail_msg("%s: got %d (%s), want %d", t[i].what, got,
			    smime_encrypt_error(e), t[i].want);
		if (got != SMIME_OK && smime_encrypt_nheaders(e) != 0)
			fail_msg("%s: headers listed after a failure", t[i].what);
	}
	free(out.p);
	smime_encrypt_free(e);
	assert_string_equal(smime_encrypt_error(NULL), "no encryption handle");
}

/* What passes as already encrypted is what parses as such, not
 * what its Content-Type says. */
static void
test_encrypted_check(void **state)
{
	static const char body[] = "Content-Type: text/plain\r\n\r\nsecret\r\n";
	static const char p7[] = "Content-Type: application/pkcs7-mime; "
	    "smime-type=enveloped-data; name=smime.p7m\nContent-Transfer-Encoding: base64\n";
	static const char p7auth[] = "Content-Type: application/pkcs7-mime; "
	    "smime-type=authEnveloped-data\nContent-Transfer-Encoding: base64\n";
	static const char pgp[] = "Content-Type: multipart/encrypted; "
	    "protocol=\"application/pgp-encrypted\"; boundary=\"b\"\n";
	static const char pgp_ok[] = "--b\r\nContent-Type: application/pgp-encrypted\r\n\r\n"
	    "Version: 1\r\n\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\n"
	    "-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA1234567890abcdef=\r\n"
	    "-----END PGP MESSAGE-----\r\n--b--\r\n";
	static const char pgp_plain[] = "--b\r\nContent-Type: application/pgp-encrypted\r\n\r\n"
	    "Version: 1\r\n\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\n"
	    "secret, in clear\r\n--b--\r\n";
	static const char pgp_noversion[] = "--b\r\nContent-Type: text/plain\r\n\r\n"
	    "hello\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\n"
	    "-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA1234567890abcdef=\r\n"
	    "-----END PGP MESSAGE-----\r\n--b--\r\n";
	buf_t cbc = { NULL, 0 }, gcm = { NULL, 0 };
	smime_body_t b = { (const unsigned char *)body, strlen(body), -1 };
	(void)state;

	for (int i = 0; i < 2; i++) {
		smime_encrypt_t *e = smime_encrypt_new();

		assert_int_equal(smime_encrypt_add_recipient(e, pki.rsa), SMIME_OK);
		smime_encrypt_set_cipher(e, i ? SMIME_CIPHER_AES256_GCM : SMIME_CIPHER_AES256_CBC);
		assert_int_equal(smime_encrypt_run(e, "", &b, 1, buf_write, i ? &gcm : &cbc),
		    SMIME_OK);
		smime_encrypt_free(e);
	}
	{
		const struct {
			const char *what, *hdrs, *body;
			int want;
		} t[] = {
			{ "EnvelopedData", p7, (const char *)cbc.p, 1 },
			{ "AuthEnvelopedData", p7auth, (const char *)gcm.p, 1 },
			{ "pkcs7-mime label, plain text in base64", p7,
			  "U2VjcmV0IHRleHQsIGluIGNsZWFyLgo=\r\n", 0 },
			{ "pkcs7-mime label, not base64 at all", p7, "secret, in clear\r\n", 0 },
			{ "PGP/MIME, well-formed", pgp, pgp_ok, 1 },
			{ "multipart/encrypted, plain text inside", pgp, pgp_plain, 0 },
			{ "multipart/encrypted, no Version: 1 part", pgp, pgp_noversion, 0 },
			{ "text/plain", "Content-Type: text/plain\n", "secret\r\n", 0 },
		};

		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
			smime_body_t in = { (const unsigned char *)t[i].body, strlen(t[i].body), -1 };
			int got = -1;

			assert_int_equal(smime_encrypted_check(t[i].hdrs, &in, 0, 0, &got), SMIME_OK);
			if (got != t[i].want)
				fail_msg("%s: got %d, want %d", t[i].what, got, t[i].want);
		}
	}
	free(cbc.p);
	free(gcm.p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_encrypted_check),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
