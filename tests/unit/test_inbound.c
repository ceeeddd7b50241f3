/*
 * test_inbound.c: cmocka tests of the inbound half: keystore lookup by
 * RecipientInfo and rekey (also resumed after an interruption), smime/
 * decryption and verification (table-driven, got/want), and the milter's
 * inbound decision (forged result header stripped, harvesting called).
 * Inputs are made here with OpenSSL's CMS API from a run-time test PKI.
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
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "keystore/keystore.h"
#include "conf/conf.h"
#include "mail/mail_msg.h"
#include "mail/mail_pipeline.h"
#include "queue/queue.h"
#include "smime/smime.h"
#include "tests/unit/unit_util.h"

static const char entity[] =
    "Content-Type: text/plain; charset=us-ascii\r\n\r\nHello, Alice.\r\n";
static const char entity_body[] = "Hello, Alice.\r\n";

static struct {
	EVP_PKEY *ca_key, *alice_key, *old_key, *bob_key, *self_key;
	X509 *ca, *alice, *old, *bob, *expired, *self;
	char *dir;
	keystore_t *ks;
	smime_trust_t *trust;
} f;

static int
group_setup(void **state)
{
	keystore_err_t kerr;
	unsigned char *p12;
	size_t len;
	char path[512], err[256];
	FILE *fp;

	(void)state;
	smime_init();
	f.ca_key = unit_key(UNIT_RSA2048);
	f.ca = unit_ca(f.ca_key, "inbound test CA");
	f.alice_key = unit_key(UNIT_RSA2048);
	f.alice = unit_cert(f.alice_key, f.ca, f.ca_key, "alice@example.com", -1, 365);
	f.old_key = unit_key(UNIT_RSA2048);
	f.old = unit_cert(f.old_key, f.ca, f.ca_key, "alice@example.com", -800, -30);
	f.bob_key = unit_key(UNIT_RSA2048);
	f.bob = unit_cert(f.bob_key, f.ca, f.ca_key, "bob@example.com", -1, 365);
	f.expired = unit_cert(f.bob_key, f.ca, f.ca_key, "bob@example.com", -10, -1);
	f.self_key = unit_key(UNIT_P256);
	f.self = unit_ca(f.self_key, "bob self");
	f.dir = unit_tmpdir();
	snprintf(path, sizeof(path), "%s/ks", f.dir);
	f.ks = keystore_open(path, NULL, KEYSTORE_CREATE, &kerr);
	assert_non_null(f.ks);
	p12 = unit_p12(f.alice_key, f.alice, f.ca, "pw", &len);
	assert_int_equal(keystore_import_p12(f.ks, p12, len, "pw", NULL, &kerr), KEYSTORE_OK);
	free(p12);
	p12 = unit_p12(f.old_key, f.old, f.ca, "pw", &len);
	assert_int_equal(keystore_import_p12(f.ks, p12, len, "pw", NULL, &kerr), KEYSTORE_OK);
	free(p12);
	snprintf(path, sizeof(path), "%s/ca.pem", f.dir);
	assert_non_null(fp = fopen(path, "w"));
	PEM_write_X509(fp, f.ca);
	fclose(fp);
	f.trust = smime_trust_new(path, 0, NULL, NULL, err, sizeof(err));
	assert_non_null(f.trust);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	keystore_free(f.ks);
	smime_trust_free(f.trust);
	EVP_PKEY_free(f.ca_key);
	EVP_PKEY_free(f.alice_key);
	EVP_PKEY_free(f.old_key);
	EVP_PKEY_free(f.bob_key);
	EVP_PKEY_free(f.self_key);
	X509_free(f.ca);
	X509_free(f.alice);
	X509_free(f.old);
	X509_free(f.bob);
	X509_free(f.expired);
	X509_free(f.self);
	unit_rmtree(f.dir);
	free(f.dir);
	return 0;
}

/* ---- helpers ---- */

struct buf {
	char *p;
	size_t len;
};

static int
buf_write(void *arg, const void *data, size_t len)
{
	struct buf *b = arg;

	b->p = realloc(b->p, b->len + len + 1);
	assert_non_null(b->p);
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return 0;
}

/* An S/MIME message body: the CMS as base64 lines (CRLF); headers in *hdrs. */
static char *
smime_body(CMS_ContentInfo *cms, const char *smime_type, char **hdrs)
{
	BIO *mem = BIO_new(BIO_s_mem()), *b64 = BIO_new(BIO_f_base64());
	char *p, *out;
	long n;

	b64 = BIO_push(b64, mem);
	assert_true(i2d_CMS_bio(b64, cms));
	(void)BIO_flush(b64);
	n = BIO_get_mem_data(mem, &p);
	out = calloc(1, (size_t)n * 2 + 1);
	for (long i = 0, o = 0; i < n; i++) {
		if (p[i] == '\n')
			out[o++] = '\r';
		out[o++] = p[i];
	}
	BIO_free_all(b64);
	assert_true(asprintf(hdrs, "Content-Type: application/pkcs7-mime; "
	    "smime-type=%s; name=smime.p7m\nContent-Transfer-Encoding: base64\n",
	    smime_type) > 0);
	return out;
}

static char *
encrypt_to(X509 *to, const EVP_CIPHER *cipher, char **hdrs)
{
	STACK_OF(X509) *rcpts = sk_X509_new_null();
	BIO *in = BIO_new_mem_buf(entity, -1);
	CMS_ContentInfo *cms;
	char *body;

	sk_X509_push(rcpts, to);
	cms = CMS_encrypt(rcpts, in, cipher, CMS_BINARY);
	assert_non_null(cms);
	body = smime_body(cms, EVP_CIPHER_get_mode(cipher) == EVP_CIPH_GCM_MODE
	    ? "authEnveloped-data" : "enveloped-data", hdrs);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	sk_X509_free(rcpts);
	return body;
}

static int
ks_lookup(void *arg, const X509_NAME *issuer, const ASN1_INTEGER *serial,
    const ASN1_OCTET_STRING *skid, EVP_PKEY **key, X509 **cert)
{
	keystore_err_t kerr;
	keystore_status_t st = keystore_decrypter(arg, "alice@example.com", issuer, serial,
	    skid, key, cert, &kerr);

	return st == KEYSTORE_OK ? 0 : st == KEYSTORE_NOTFOUND ? 1 : -1;
}

/* ---- decryption, table-driven ---- */

enum mangle { NONE, TRUNCATE, CORRUPT };

static void
test_decrypt_table(void **state)
{
	static const struct {
		const char *name;
		int to_old, to_bob, gcm;
		enum mangle mangle;
		smime_status_t want;
		int want_auth;
	} cases[] = {
		{ "AES-CBC to alice", 0, 0, 0, NONE, SMIME_OK, 0 },
		{ "AES-GCM to alice", 0, 0, 1, NONE, SMIME_OK, 1 },
		{ "to alice's old, expired key", 1, 0, 0, NONE, SMIME_OK, 0 },
		{ "to bob (no key)", 0, 1, 0, NONE, SMIME_ERR_NOKEY, 0 },
		{ "truncated", 0, 0, 1, TRUNCATE, SMIME_ERR_INPUT, 0 },
		{ "corrupted GCM ciphertext", 0, 0, 1, CORRUPT, SMIME_ERR_CRYPTO, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *hdrs, *body = encrypt_to(cases[i].to_bob ? f.bob : cases[i].to_old
		    ? f.old : f.alice, cases[i].gcm ? EVP_aes_128_gcm() : EVP_aes_256_cbc(), &hdrs);
		smime_decrypt_t *d = smime_decrypt_new();
		struct buf out = { NULL, 0 };
		smime_body_t b;
		smime_status_t got;
		size_t len = strlen(body);

		if (cases[i].mangle == TRUNCATE)
			body[len / 2] = '\0';
		if (cases[i].mangle == CORRUPT)   /* in the ciphertext, near the end */
			body[len - 80] = body[len - 80] == 'A' ? 'B' : 'A';
		b.mem = (const unsigned char *)body;
		b.len = strlen(body);
		b.fd = -1;
		got = smime_decrypt_run(d, hdrs, &b, ks_lookup, f.ks, buf_write, &out);
		if (got != cases[i].want)
			fail_msg("%s: got status %d (%s), want %d", cases[i].name, got,
			    smime_decrypt_error(d), cases[i].want);
		if (got == SMIME_OK) {
			if (smime_decrypt_authenticated(d) != cases[i].want_auth)
				fail_msg("%s: got authenticated %d, want %d", cases[i].name,
				    smime_decrypt_authenticated(d), cases[i].want_auth);
			if (out.p == NULL || strcmp(out.p, entity_body) != 0)
				fail_msg("%s: got body \"%s\", want \"%s\"", cases[i].name,
				    out.p ? out.p : "", entity_body);
			assert_int_equal(smime_decrypt_nheaders(d), 1);
			assert_string_equal(smime_decrypt_header_value(d, 0),
			    "text/plain; charset=us-ascii");
		}
		free(out.p);
		free(body);
		free(hdrs);
		smime_decrypt_free(d);
	}
}

/* ---- verification, table-driven ---- */

static char *
sign_as(X509 *cert, EVP_PKEY *key, int opaque, int tamper, char **hdrs)
{
	BIO *in = BIO_new_mem_buf(entity, -1);
	CMS_ContentInfo *cms = CMS_sign(cert, key, NULL, in,
	    CMS_BINARY | (opaque ? 0 : CMS_DETACHED));
	char *body, *sig, *sh;

	assert_non_null(cms);
	BIO_free(in);
	if (opaque) {
		body = smime_body(cms, "signed-data", hdrs);
		CMS_ContentInfo_free(cms);
		return body;
	}
	sig = smime_body(cms, "signed-data", &sh);
	free(sh);
	CMS_ContentInfo_free(cms);
	/* The part's octets are entity whole: the CRLF before the boundary
	 * belongs to the boundary. */
	assert_true(asprintf(&body, "--b\r\n%s\r\n--b\r\nContent-Type: "
	    "application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\n%s--b--\r\n",
	    tamper ? "Content-Type: text/plain; charset=us-ascii\r\n\r\nHello, Mallory.\r\n"
	    : entity, sig) > 0);
	free(sig);
	*hdrs = strdup("Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; "
	    "micalg=sha-256; boundary=b\n");
	return body;
}

/* Fails the test unless the run went through (st) with the verdict want. */
static void
expect_verdict(const char *name, smime_verify_t *v, smime_status_t st,
    smime_verdict_t want)
{
	if (st != SMIME_OK)
		fail_msg("%s: got status %d (%s), want SMIME_OK", name, st,
		    smime_verify_error(v));
	if (smime_verify_verdict(v) != want)
		fail_msg("%s: got %s (%s), want %s", name,
		    smime_verdict_name(smime_verify_verdict(v)), smime_verify_detail(v),
		    smime_verdict_name(want));
}

static void
test_verify_table(void **state)
{
	static const struct {
		const char *name;
		int signer;             /* 0 bob, 1 expired bob, 2 self-signed */
		int opaque, tamper;
		const char *from;
		smime_verdict_t want;
		int want_converted;
	} cases[] = {
		{ "good, detached", 0, 0, 0, "bob@example.com", SMIME_VERDICT_PASS, 0 },
		{ "good, domain case", 0, 0, 0, "bob@EXAMPLE.com", SMIME_VERDICT_PASS, 0 },
		{ "good, opaque, converted", 0, 1, 0, "bob@example.com", SMIME_VERDICT_PASS, 1 },
		{ "tampered", 0, 0, 1, "bob@example.com", SMIME_VERDICT_FAIL, 0 },
		{ "wrong signer", 0, 0, 0, "eve@example.com", SMIME_VERDICT_MISMATCH, 0 },
		{ "local part case", 0, 0, 0, "Bob@example.com", SMIME_VERDICT_MISMATCH, 0 },
		{ "no From", 0, 0, 0, NULL, SMIME_VERDICT_MISMATCH, 0 },
		{ "expired", 1, 0, 0, "bob@example.com", SMIME_VERDICT_EXPIRED, 0 },
		{ "self-signed", 2, 1, 0, "bob@example.com", SMIME_VERDICT_UNTRUSTED, 1 },
	};
	X509 *certs[] = { f.bob, f.expired, f.self };
	EVP_PKEY *keys[] = { f.bob_key, f.bob_key, f.self_key };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *hdrs = NULL, *body = sign_as(certs[cases[i].signer], keys[cases[i].signer],
		    cases[i].opaque, cases[i].tamper, &hdrs);
		smime_verify_t *v = smime_verify_new(f.trust);
		struct buf out = { NULL, 0 };
		smime_body_t b = { (const unsigned char *)body, strlen(body), -1 };
		smime_status_t st;

		smime_verify_set_from(v, cases[i].from);
		smime_verify_set_convert(v, 1);
		st = smime_verify_run(v, hdrs, &b, buf_write, &out);
		expect_verdict(cases[i].name, v, st, cases[i].want);
		if (smime_verify_converted(v) != cases[i].want_converted)
			fail_msg("%s: got converted %d, want %d", cases[i].name,
			    smime_verify_converted(v), cases[i].want_converted);
		if (cases[i].want == SMIME_VERDICT_PASS)
			assert_non_null(smime_verify_signer_cert(v));
		free(out.p);
		free(body);
		free(hdrs);
		smime_verify_free(v);
	}
}

/* body with the first "from" after octet at replaced by "to" (same
 * buffer when it fits, else a new one; body is freed then). */
static char *
replace_at(char *body, size_t at, const char *from, const char *to)
{
	char *p = strstr(body + at, from), *r;

	assert_non_null(p);
	assert_true(asprintf(&r, "%.*s%s%s", (int)(p - body), body, to, p + strlen(from)) > 0);
	free(body);
	return r;
}

/* Every CR of body dropped. */
static void
strip_cr(char *body)
{
	char *o = body;

	for (const char *i = body; *i != '\0'; i++)
		if (*i != '\r')
			*o++ = *i;
	*o = '\0';
}

/* The signed part's line ends: CRLF (read in place), bare LFs (made
 * CRLF, what was signed), a bare LF only before the boundary (which
 * belongs to the boundary), and a LF added to the content (not signed). */
static void
test_verify_line_ends(void **state)
{
	static const struct {
		const char *name;
		int how;                /* 0 as is, 1 no CRs, 2 one bare LF, 3 LF before
		                         * the boundary, 4 a LF added */
		int tamper;
		smime_verdict_t want;
	} cases[] = {
		{ "CRLF", 0, 0, SMIME_VERDICT_PASS },
		{ "CRLF, tampered", 0, 1, SMIME_VERDICT_FAIL },
		{ "LF only", 1, 0, SMIME_VERDICT_PASS },
		{ "LF only, tampered", 1, 1, SMIME_VERDICT_FAIL },
		{ "one bare LF in the part", 2, 0, SMIME_VERDICT_PASS },
		{ "a bare LF before the boundary", 3, 0, SMIME_VERDICT_PASS },
		{ "a LF added to the part", 4, 0, SMIME_VERDICT_FAIL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *hdrs = NULL, *body = sign_as(f.bob, f.bob_key, 0, cases[i].tamper, &hdrs);
		smime_verify_t *v = smime_verify_new(f.trust);
		smime_body_t b;
		smime_status_t st;

		if (cases[i].how == 1)
			strip_cr(body);
		else if (cases[i].how == 2)
			body = replace_at(body, 5, "\r\n", "\n");
		else if (cases[i].how == 3)
			body = replace_at(body, 5, "\r\n--b\r\n", "\n--b\r\n");
		else if (cases[i].how == 4)
			body = replace_at(body, 5, "Alice.", "Alice.\n");
		b.mem = (const unsigned char *)body;
		b.len = strlen(body);
		b.fd = -1;
		smime_verify_set_from(v, "bob@example.com");
		st = smime_verify_run(v, hdrs, &b, NULL, NULL);
		expect_verdict(cases[i].name, v, st, cases[i].want);
		free(body);
		free(hdrs);
		smime_verify_free(v);
	}
}

/* A signature made with a separate encryption certificate
 * carries it and names it (SMIMEEncryptionKeyPreference); verification
 * lists the certificates naming the signer, that one preferred, and
 * leaves out a certificate of someone else that came along. */
static void
test_verify_keypref(void **state)
{
	EVP_PKEY *sk = unit_key(UNIT_RSA2048), *ek = unit_key(UNIT_RSA2048);
	X509 *sc = unit_cert_ext(sk, f.ca, f.ca_key, "bob@example.com", -1, 30,
	    "critical, digitalSignature", "emailProtection", 0);
	X509 *ec = unit_cert_ext(ek, f.ca, f.ca_key, "bob@example.com", -1, 30,
	    "critical, keyEncipherment", "emailProtection", 0);
	STACK_OF(X509) *chain = sk_X509_new_null();
	smime_sign_t *s = smime_sign_new();
	smime_verify_t *v = smime_verify_new(f.trust);
	smime_body_t b = { (const unsigned char *)entity_body, strlen(entity_body), -1 };
	struct buf out = { NULL, 0 }, conv = { NULL, 0 };
	char *hdrs = NULL;
	int pref = -1;

	(void)state;
	sk_X509_push(chain, f.alice);       /* someone else's: not the signer's */
	assert_int_equal(smime_sign_set_signer(s, sk, sc, chain), SMIME_OK);
	assert_int_equal(smime_sign_set_encryption_cert(s, ec), SMIME_OK);
	smime_sign_set_opaque(s, 1);
	assert_int_equal(smime_sign_run(s, "Content-Type: text/plain\n", &b, buf_write, &out),
	    SMIME_OK);
	for (size_t i = 0; i < smime_sign_nheaders(s); i++) {
		char *h = NULL;

		if (strncmp(smime_sign_header_name(s, i), "Content-", 8) != 0)
			continue;
		assert_true(asprintf(&h, "%s%s: %s\n", hdrs ? hdrs : "",
		    smime_sign_header_name(s, i), smime_sign_header_value(s, i)) > 0);
		free(hdrs);
		hdrs = h;
	}
	assert_non_null(hdrs);
	b.mem = (const unsigned char *)out.p;
	b.len = out.len;
	smime_verify_set_from(v, "bob@example.com");
	assert_int_equal(smime_verify_run(v, hdrs, &b, buf_write, &conv), SMIME_OK);
	assert_int_equal(smime_verify_verdict(v), SMIME_VERDICT_PASS);
	assert_int_equal(smime_verify_ncerts(v), 2);
	assert_int_equal(X509_cmp(smime_verify_cert(v, 0, &pref), sc), 0);
	assert_int_equal(pref, 0);
	assert_int_equal(X509_cmp(smime_verify_cert(v, 1, &pref), ec), 0);
	assert_int_equal(pref, 1);
	assert_null(smime_verify_cert(v, 2, &pref));
	/* Without the encryption certificate: the signer's alone, not preferred. */
	free(out.p);
	out.p = NULL;
	out.len = 0;
	assert_int_equal(smime_sign_set_signer(s, sk, sc, NULL), SMIME_OK);
	b.mem = (const unsigned char *)entity_body;
	b.len = strlen(entity_body);
	assert_int_equal(smime_sign_run(s, "Content-Type: text/plain\n", &b, buf_write, &out),
	    SMIME_OK);
	b.mem = (const unsigned char *)out.p;
	b.len = out.len;
	assert_int_equal(smime_verify_run(v, hdrs, &b, NULL, NULL), SMIME_OK);
	assert_int_equal(smime_verify_ncerts(v), 1);
	assert_non_null(smime_verify_cert(v, 0, &pref));
	assert_int_equal(pref, 0);
	free(out.p);
	free(conv.p);
	free(hdrs);
	smime_verify_free(v);
	smime_sign_free(s);
	sk_X509_free(chain);
	X509_free(sc);
	X509_free(ec);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(ek);
}

static void
test_verify_garbage(void **state)
{
	static const char *const bodies[] = { "", "--b\r\n", "--b\r\nx\r\n--b\r\n\r\n--b--\r\n",
	    "\x30\x80\x06\x09" };
	smime_verify_t *v = smime_verify_new(f.trust);

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		smime_body_t b = { (const unsigned char *)bodies[i], strlen(bodies[i]), -1 };

		assert_int_equal(smime_verify_run(v, "Content-Type: multipart/signed; "
		    "protocol=\"application/pkcs7-signature\"; boundary=b\n", &b, NULL, NULL),
		    SMIME_ERR_INPUT);
		assert_int_equal(smime_verify_verdict(v), SMIME_VERDICT_NONE);
	}
	smime_verify_free(v);
}

/* A multipart/signed body whose signed part nests depth multiparts, the
 * innermost with parts leaves; the signature is not one (malloc'ed). */
static char *
nested_signed(int depth, int parts)
{
	size_t cap = 256 + (size_t)(depth + parts) * 128, o = 0;
	char *s = malloc(cap);

	assert_non_null(s);
	o += (size_t)snprintf(s + o, cap - o, "--s\r\n");
	for (int i = 0; i < depth; i++)
		o += (size_t)snprintf(s + o, cap - o, "Content-Type: multipart/mixed; "
		    "boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i);
	for (int j = 0; j < parts; j++)
		o += (size_t)snprintf(s + o, cap - o, "%sContent-Type: text/plain\r\n\r\nx\r\n",
		    j ? "--bp\r\n" : "Content-Type: multipart/mixed; boundary=\"bp\"\r\n\r\n--bp\r\n");
	o += (size_t)snprintf(s + o, cap - o, "--bp--\r\n");
	for (int i = depth - 1; i >= 0; i--)
		o += (size_t)snprintf(s + o, cap - o, "--b%d--\r\n", i);
	snprintf(s + o, cap - o, "\r\n--s\r\nContent-Type: application/pkcs7-signature\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCA\r\n--s--\r\n");
	return s;
}

/* The limits of smime_verify_set_limits(): past one, SMIME_ERR_LIMIT
 * before the signature is looked at; within, the (bad) signature. */
static void
test_verify_limits(void **state)
{
	static const struct {
		const char *name;
		int depth, parts;
		unsigned max_parts, max_depth;
		smime_status_t want;
	} cases[] = {
		{ "5 deep, limit 3", 5, 1, 0, 3, SMIME_ERR_LIMIT },
		{ "5 deep, default", 5, 1, 0, 0, SMIME_ERR_INPUT },
		{ "5 deep, limit 10", 5, 1, 0, 10, SMIME_ERR_INPUT },
		{ "70 deep, default (64 at most)", 70, 1, 5000, 0, SMIME_ERR_LIMIT },
		{ "50 parts, limit 20", 0, 50, 20, 0, SMIME_ERR_LIMIT },
		{ "50 parts, default", 0, 50, 0, 0, SMIME_ERR_INPUT },
		{ "1200 parts, default 1000", 0, 1200, 0, 0, SMIME_ERR_LIMIT },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *body = nested_signed(cases[i].depth, cases[i].parts);
		smime_verify_t *v = smime_verify_new(f.trust);
		smime_body_t b = { (const unsigned char *)body, strlen(body), -1 };
		smime_status_t st;

		smime_verify_set_limits(v, cases[i].max_parts, cases[i].max_depth);
		st = smime_verify_run(v, "Content-Type: multipart/signed; "
		    "protocol=\"application/pkcs7-signature\"; boundary=s\n", &b, NULL, NULL);
		if (st != cases[i].want)
			fail_msg("%s: got status %d (%s), want %d", cases[i].name, st,
			    smime_verify_error(v), cases[i].want);
		free(body);
		smime_verify_free(v);
	}
}

/* ---- keystore: rekey, also resumed after an interruption ---- */

static int
count_keys(keystore_t *ks)
{
	EVP_PKEY *k = NULL;
	X509 *c = NULL;
	keystore_err_t kerr;
	int n = 0;

	if (keystore_decrypter(ks, "alice@example.com", X509_get_issuer_name(f.alice),
	    X509_get0_serialNumber(f.alice), NULL, &k, &c, &kerr) == KEYSTORE_OK)
		n++;
	EVP_PKEY_free(k);
	X509_free(c);
	k = NULL;
	if (keystore_decrypter(ks, "alice@example.com", NULL, NULL,
	    X509_get0_subject_key_id(f.old), &k, NULL, &kerr) == KEYSTORE_OK)
		n++;
	EVP_PKEY_free(k);
	return n;
}

static void
copy_file(const char *from, const char *to)
{
	size_t len;
	char *data = unit_read_file(from, &len);

	assert_non_null(data);
	unlink(to);
	assert_int_equal(unit_write_file(to, data, len, 0600), 0);
	free(data);
}

static void
test_rekey(void **state)
{
	char ks_dir[512], master[600], next[600], saved[600], entry[700], cmd[4096];
	char fp[65];
	keystore_err_t kerr;
	keystore_t *ks;
	size_t n = 0;

	(void)state;
	snprintf(ks_dir, sizeof(ks_dir), "%s/ks", f.dir);
	snprintf(master, sizeof(master), "%s/master.key", ks_dir);
	snprintf(next, sizeof(next), "%s/master.key.new", ks_dir);
	snprintf(saved, sizeof(saved), "%s/saved", f.dir);
	assert_int_equal(count_keys(f.ks), 2);
	/* Keep the old key and alice's (new) entry as sealed under it. */
	snprintf(cmd, sizeof(cmd), "mkdir -p %s && cp -p %s/*.pem %s/master.key %s/",
	    saved, ks_dir, ks_dir, saved);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(keystore_rekey(f.ks, &n, &kerr), KEYSTORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(access(next, F_OK), -1);
	assert_int_equal(count_keys(f.ks), 2);

	/* Interrupted: the old master key in place, the new one pending, one
	 * entry still under the old key.  Every entry opens; a second rekey
	 * finishes. */
	{
		unsigned char md[32];
		unsigned int mdlen;

		X509_digest(f.old, EVP_sha256(), md, &mdlen);
		for (int i = 0; i < 32; i++)
			sprintf(fp + 2 * i, "%02x", md[i]);
	}
	copy_file(master, next);
	snprintf(cmd, sizeof(cmd), "%s/master.key", saved);
	copy_file(cmd, master);
	snprintf(cmd, sizeof(cmd), "%s/%s.pem", saved, fp);
	snprintf(entry, sizeof(entry), "%s/%s.pem", ks_dir, fp);
	copy_file(cmd, entry);
	ks = keystore_open(ks_dir, NULL, 0, &kerr);
	assert_non_null(ks);
	assert_int_equal(count_keys(ks), 2);
	assert_int_equal(keystore_rekey(ks, &n, &kerr), KEYSTORE_OK);
	assert_int_equal(access(next, F_OK), -1);
	assert_int_equal(count_keys(ks), 2);
	/* The shared handle, opened before all this, still opens both
	 * (it reads the key files again). */
	assert_int_equal(count_keys(f.ks), 2);
	keystore_free(ks);
}

/* ---- the milter's inbound decision ---- */

static int harvested;

static int
fake_put(dir_harvest_t *h, const char *address, X509 *cert, const unsigned char *caps,
    size_t caps_len, time_t signing_time, int preferred, char *err, size_t errlen)
{
	(void)h; (void)cert; (void)caps; (void)caps_len; (void)signing_time; (void)err;
	(void)errlen; (void)preferred;
	assert_string_equal(address, "bob@example.com");
	harvested++;
	return 0;
}

static void
test_inbound_msg(void **state)
{
	static const struct {
		const char *name;
		int signed_msg;
		const char *want_action, *want_header;
		int want_harvest;
	} cases[] = {
		{ "plain mail with a forged header", 0, "pass", NULL, 0 },
		{ "signed by bob", 1, "verified", "pass (signer=<bob@example.com>)", 1 },
	};
	char *ov[4], err[256], ks_dir[512];
	conf_t *conf;

	(void)state;
	snprintf(ks_dir, sizeof(ks_dir), "%s/ks", f.dir);
	assert_true(asprintf(&ov[0], "StateDirectory=%s", f.dir) > 0);
	assert_true(asprintf(&ov[1], "TrustAnchorFile=%s/ca.pem", f.dir) > 0);
	ov[2] = "LocalDomains=example.com";
	ov[3] = "TrustSystemStore=no";
	conf = conf_load(NULL, ov, 4, err, sizeof(err));
	if (conf == NULL)
		fail_msg("conf: %s", err);
	mkdir(conf->spool_dir, 0700);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mail_msg_t *m = mail_msg_new(conf, f.ks);
		char *hdrs = NULL, *body = cases[i].signed_msg
		    ? sign_as(f.bob, f.bob_key, 0, 0, &hdrs) : strdup("hi\r\n");
		const mail_result_t *r;

		harvested = 0;
		m->harvest = (dir_harvest_t *)m;     /* any non-NULL handle */
		m->harvest_put = fake_put;
		mail_msg_set_sender(m, "<bob@remote.test>");
		mail_msg_add_rcpt(m, "<alice@example.com>");
		mail_msg_add_header(m, "From", "Bob <bob@example.com>");
		mail_msg_add_header(m, "X-Smimegate-Result", "pass (forged)");
		if (hdrs != NULL) {
			hdrs[strcspn(hdrs, "\n")] = '\0';
			mail_msg_add_header(m, "Content-Type", hdrs + 14);
		}
		mail_msg_add_body(m, body, strlen(body));
		r = mail_pipeline_process(m);
		if (strcmp(r->action, cases[i].want_action) != 0)
			fail_msg("%s: got action %s (%s), want %s", cases[i].name, r->action,
			    r->reason, cases[i].want_action);
		assert_true(mail_result_strips(r, "x-smimegate-result"));
		if (cases[i].want_header == NULL)
			assert_int_equal(r->nset, 0);
		else if (r->nset != 1 || strcmp(r->set_value[0], cases[i].want_header) != 0)
			fail_msg("%s: got header \"%s\", want \"%s\"", cases[i].name,
			    r->nset ? r->set_value[0] : "", cases[i].want_header);
		assert_int_equal(harvested, cases[i].want_harvest);
		free(hdrs);
		free(body);
		mail_msg_free(m);
	}
	free(ov[0]);
	free(ov[1]);
	conf_unref(conf);
}

/* ---- a key decrypts for its own addressee only ---- */

static void
test_decrypter_addressee(void **state)
{
	static const struct {
		const char *address;
		keystore_status_t want;
	} cases[] = {
		{ "alice@example.com", KEYSTORE_OK },
		{ "alice@EXAMPLE.com", KEYSTORE_OK },       /* domain: any case */
		{ "Alice@example.com", KEYSTORE_NOTFOUND }, /* local part: exact */
		{ "bob@example.com", KEYSTORE_NOTFOUND },   /* another's key */
		{ NULL, KEYSTORE_NOTFOUND },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EVP_PKEY *k = NULL;
		keystore_err_t kerr;
		keystore_status_t got = keystore_decrypter(f.ks, cases[i].address,
		    X509_get_issuer_name(f.alice), X509_get0_serialNumber(f.alice), NULL, &k,
		    NULL, &kerr);

		if (got != cases[i].want)
			fail_msg("alice's key for %s: got %d, want %d", cases[i].address
			    ? cases[i].address : "(null)", got, cases[i].want);
		EVP_PKEY_free(k);
	}
}

static void
test_inbound_decrypt_msg(void **state)
{
	static const struct {
		const char *name;
		int gcm;
		const char *rcpts[2];
		enum conf_unprotected mode;
		const char *want_action, *want_header;
	} cases[] = {
		{ "GCM to alice, for alice", 1, { "alice@example.com", NULL },
		  CONF_UNPROT_SIGNED, "decrypted", "decrypted (authEnveloped-data" },
		{ "GCM to alice, for bob", 1, { "bob@example.com", NULL },
		  CONF_UNPROT_SIGNED, "pass", "no-key (not encrypted to a key of the recipient" },
		{ "GCM to alice, for alice and bob, not split", 1,
		  { "alice@example.com", "bob@example.com" }, CONF_UNPROT_DECRYPT, "pass",
		  "no-key (not decrypted: the recipients differ" },
		{ "GCM to alice, for alice and an outsider, not split", 1,
		  { "alice@example.com", "x@remote.test" }, CONF_UNPROT_DECRYPT, "pass",
		  "no-key (not decrypted: the recipients differ" },
		{ "CBC, UnprotectedContent signed, unsigned", 0, { "alice@example.com", NULL },
		  CONF_UNPROT_SIGNED, "pass", "unprotected (enveloped-data is not integrity" },
		{ "CBC, UnprotectedContent decrypt", 0, { "alice@example.com", NULL },
		  CONF_UNPROT_DECRYPT, "decrypted", "decrypted (enveloped-data" },
		{ "CBC, UnprotectedContent keep", 0, { "alice@example.com", NULL },
		  CONF_UNPROT_KEEP, "pass", "unprotected (enveloped-data is not integrity" },
		{ "GCM, UnprotectedContent keep", 1, { "alice@example.com", NULL },
		  CONF_UNPROT_KEEP, "decrypted", "decrypted (authEnveloped-data" },
	};
	char *ov[4], err[256];
	conf_t *conf;

	(void)state;
	assert_true(asprintf(&ov[0], "StateDirectory=%s", f.dir) > 0);
	assert_true(asprintf(&ov[1], "TrustAnchorFile=%s/ca.pem", f.dir) > 0);
	ov[2] = "LocalDomains=example.com";
	ov[3] = "TrustSystemStore=no";
	conf = conf_load(NULL, ov, 4, err, sizeof(err));
	if (conf == NULL)
		fail_msg("conf: %s", err);
	assert_int_equal(conf->unprotected_content, CONF_UNPROT_SIGNED);  /* the default */
	mkdir(conf->spool_dir, 0700);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mail_msg_t *m = mail_msg_new(conf, f.ks);
		char *hdrs = NULL, *body = encrypt_to(f.alice, cases[i].gcm ? EVP_aes_128_gcm()
		    : EVP_aes_256_cbc(), &hdrs);
		const mail_result_t *r;
		int decrypted = strcmp(cases[i].want_action, "decrypted") == 0;

		conf->unprotected_content = (int)cases[i].mode;
		m->no_split = 1;            /* splitting: test_split, 46-inbound-trust */
		mail_msg_set_sender(m, "<bob@remote.test>");
		for (size_t j = 0; j < 2 && cases[i].rcpts[j] != NULL; j++)
			mail_msg_add_rcpt(m, cases[i].rcpts[j]);
		mail_msg_add_header(m, "From", "Bob <bob@example.com>");
		hdrs[strcspn(hdrs, "\n")] = '\0';
		mail_msg_add_header(m, "Content-Type", hdrs + 14);
		mail_msg_add_header(m, "Content-Transfer-Encoding", "base64");
		mail_msg_add_body(m, body, strlen(body));
		r = mail_pipeline_process(m);
		if (strcmp(r->action, cases[i].want_action) != 0)
			fail_msg("%s: got action %s (%s), want %s", cases[i].name, r->action,
			    r->reason, cases[i].want_action);
		if (r->what != (decrypted ? MAIL_DO_REPLACE : MAIL_DO_PASS))
			fail_msg("%s: got what %d, want %s", cases[i].name, r->what,
			    decrypted ? "REPLACE" : "PASS");
		if (r->nset != 1 || strncmp(r->set_value[0], cases[i].want_header,
		    strlen(cases[i].want_header)) != 0)
			fail_msg("%s: got header \"%s\", want \"%s...\"", cases[i].name,
			    r->nset ? r->set_value[0] : "", cases[i].want_header);
		free(hdrs);
		free(body);
		mail_msg_free(m);
	}
	conf->unprotected_content = CONF_UNPROT_SIGNED;
	free(ov[0]);
	free(ov[1]);
	conf_unref(conf);
}

/* A stand-in for one recipient's keys: the key of cert, when a
 * RecipientInfo names cert. */
struct one_key {
	EVP_PKEY *key;
	X509 *cert;
};

static int
one_lookup(void *arg, const X509_NAME *issuer, const ASN1_INTEGER *serial,
    const ASN1_OCTET_STRING *skid, EVP_PKEY **key, X509 **cert)
{
	const struct one_key *k = arg;

	(void)skid;
	if (issuer == NULL || serial == NULL
	    || X509_NAME_cmp(issuer, X509_get_issuer_name(k->cert)) != 0
	    || ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(k->cert)) != 0)
		return 1;
	EVP_PKEY_up_ref(k->key);
	X509_up_ref(k->cert);
	*key = k->key;
	*cert = k->cert;
	return 0;
}

/* encrypted to alice and bob (one content-encryption key), or to alice
 * with bob's RecipientInfo taken from another message to bob (its own
 * key: what someone who captured alice's mail can add). */
static char *
encrypt_two(int grafted, char **hdrs)
{
	STACK_OF(X509) *rcpts = sk_X509_new_null();
	BIO *in = BIO_new_mem_buf(entity, -1);
	CMS_ContentInfo *cms, *other = NULL;
	char *body;

	sk_X509_push(rcpts, f.alice);
	if (!grafted)
		sk_X509_push(rcpts, f.bob);
	cms = CMS_encrypt(rcpts, in, EVP_aes_256_cbc(), CMS_BINARY);
	assert_non_null(cms);
	if (grafted) {
		STACK_OF(CMS_RecipientInfo) *ris;

		sk_X509_pop(rcpts);
		sk_X509_push(rcpts, f.bob);
		(void)BIO_reset(in);
		assert_non_null(other = CMS_encrypt(rcpts, in, EVP_aes_256_cbc(), CMS_BINARY));
		ris = CMS_get0_RecipientInfos(other);
		assert_true(sk_CMS_RecipientInfo_push(CMS_get0_RecipientInfos(cms),
		    sk_CMS_RecipientInfo_delete(ris, 0)) > 0);
	}
	body = smime_body(cms, "enveloped-data", hdrs);
	CMS_ContentInfo_free(cms);
	CMS_ContentInfo_free(other);
	BIO_free(in);
	sk_X509_free(rcpts);
	return body;
}

/* smime_decrypt_probe(): each recipient's keys tried on one parse; keys
 * that open one content-encryption key match, a RecipientInfo grafted
 * with a key of its own does not. */
static void
test_decrypt_probe(void **state)
{
	struct one_key alice = { f.alice_key, f.alice }, bob = { f.bob_key, f.bob };
	struct one_key nobody = { f.self_key, f.self };
	void *args[3] = { &alice, &bob, &nobody };

	(void)state;
	for (int grafted = 0; grafted <= 1; grafted++) {
		char *hdrs, *body = encrypt_two(grafted, &hdrs);
		smime_body_t b = { (const unsigned char *)body, strlen(body), -1 };
		smime_decrypt_t *d = smime_decrypt_new();
		smime_probe_t out[3];

		assert_int_equal(smime_decrypt_probe(d, hdrs, &b, one_lookup, args, 3, out),
		    SMIME_OK);
		assert_int_equal(out[0].st, SMIME_OK);
		assert_int_equal(out[1].st, SMIME_OK);
		assert_int_equal(out[2].st, SMIME_ERR_NOKEY);
		assert_int_equal(out[0].authenticated, 0);
		if ((memcmp(out[0].digest, out[1].digest, 32) == 0) != !grafted)
			fail_msg("%s: alice's and bob's plaintexts %s", grafted ? "grafted"
			    : "one key", grafted ? "match" : "differ");
		smime_decrypt_free(d);
		free(hdrs);
		free(body);
	}
}

/* A message from outside to rcpts (NULL-terminated), encrypted to alice
 * with AES-GCM. */
static mail_msg_t *
encrypted_msg(conf_t *conf, const char *const *rcpts)
{
	mail_msg_t *m = mail_msg_new(conf, f.ks);
	char *hdrs = NULL, *body = encrypt_to(f.alice, EVP_aes_128_gcm(), &hdrs);

	mail_msg_set_sender(m, "<bob@remote.test>");
	for (size_t j = 0; rcpts[j] != NULL; j++)
		mail_msg_add_rcpt(m, rcpts[j]);
	mail_msg_add_header(m, "From", "Bob <bob@example.com>");
	mail_msg_add_header(m, "Message-ID", "<split14@remote.test>");
	mail_msg_add_header(m, "X-Smimegate-Result", "decrypted (forged)");
	hdrs[strcspn(hdrs, "\n")] = '\0';
	mail_msg_add_header(m, "Content-Type", hdrs + 14);
	mail_msg_add_header(m, "Content-Transfer-Encoding", "base64");
	mail_msg_add_body(m, body, strlen(body));
	free(hdrs);
	free(body);
	return m;
}

/* The message text of the one active spool entry (its envelope in *e),
 * handed on (recorded as such) and removed. */
static char *
only_copy(const conf_t *conf, queue_entry_t *e)
{
	char err[QUEUE_ERR_MAX], **ids, *data;
	queue_t *q;
	size_t n;

	assert_int_equal(queue_open(conf->queue_dir, &q, NULL, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(queue_list(q, QUEUE_ACTIVE, &ids, &n, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(queue_get(q, ids[0], e, err, sizeof(err)), QUEUE_OK);
	queue_ids_free(ids, n);
	assert_non_null(data = malloc((size_t)e->body_len + 1));
	assert_int_equal(queue_entry_read(e, 0, data, (size_t)e->body_len), e->body_len);
	data[e->body_len] = '\0';
	/* Handed on, as the runner does (a mark is honoured only then). */
	assert_int_equal(queue_sent(q, e->id, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(queue_remove(q, e->id, err, sizeof(err)), QUEUE_OK);
	queue_close(q);
	return data;
}

/* The copy (CRLF text) as it comes back through the MTA, for rcpt. */
static mail_msg_t *
copy_back(conf_t *conf, char *text, const char *rcpt)
{
	mail_msg_t *m = mail_msg_new(conf, f.ks);
	char *line = text, *end, *colon;

	mail_msg_set_sender(m, "<bob@remote.test>");
	mail_msg_add_rcpt(m, rcpt);
	while ((end = strstr(line, "\r\n")) != NULL && end != line) {
		*end = '\0';
		assert_non_null(colon = strchr(line, ':'));
		*colon = '\0';
		mail_msg_add_header(m, line, colon + 2);
		line = end + 2;
	}
	assert_non_null(end);
	mail_msg_add_body(m, end + 2, strlen(end + 2));
	return m;
}

/* alice and bob get one message encrypted to alice: alice's group stays
 * and is decrypted; bob's copy, as it came with no-key, goes to the
 * spool; when it comes back marked, its result header stays. */
static void
test_inbound_split(void **state)
{
	static const char *const rcpts[] = { "alice@example.com", "bob@example.com", NULL };
	char *ov[5], err[256], *text;
	conf_t *conf;
	mail_msg_t *m;
	const mail_result_t *r;
	queue_entry_t e;
	size_t ndel;
	char *const *del;

	(void)state;
	assert_true(asprintf(&ov[0], "StateDirectory=%s/split", f.dir) > 0);
	assert_true(asprintf(&ov[1], "TrustAnchorFile=%s/ca.pem", f.dir) > 0);
	ov[2] = "LocalDomains=example.com";
	ov[3] = "TrustSystemStore=no";
	ov[4] = "ReinjectCommand=/bin/false";
	snprintf(err, sizeof(err), "%s/split", f.dir);
	mkdir(err, 0700);
	conf = conf_load(NULL, ov, 5, err, sizeof(err));
	if (conf == NULL)
		fail_msg("conf: %s", err);
	assert_int_equal(conf->reinject_keylen, 0);     /* loading writes nothing */
	if (conf_prepare(conf, err, sizeof(err)) != 0)
		fail_msg("prepare: %s", err);
	assert_true(conf->reinject_keylen > 0);
	mkdir(conf->spool_dir, 0700);

	m = encrypted_msg(conf, rcpts);
	r = mail_pipeline_process(m);
	assert_string_equal(r->action, "decrypted");
	assert_int_equal(r->what, MAIL_DO_REPLACE);
	assert_int_equal(m->nrcpts, 1);
	assert_string_equal(m->rcpts[0], "alice@example.com");
	del = mail_msg_delrcpts(m, &ndel);
	assert_int_equal(ndel, 1);
	assert_string_equal(del[0], "bob@example.com");
	mail_msg_free(m);

	text = only_copy(conf, &e);
	assert_int_equal(e.nrcpts, 1);
	assert_string_equal(e.rcpts[0], "bob@example.com");
	queue_entry_free(&e);
	if (strstr(text, "X-Smimegate-Result: no-key (not encrypted to a key of the recipient")
	    == NULL || strstr(text, "application/pkcs7-mime") == NULL
	    || strstr(text, "(forged)") != NULL || strstr(text, "Hello") != NULL)
		fail_msg("bob's copy is not the message as it came with no-key: %s", text);

	m = copy_back(conf, text, "bob@example.com");
	r = mail_pipeline_process(m);
	assert_string_equal(r->action, "reinjected");
	assert_true(mail_result_strips(r, "X-Smimegate-Result"));
	if (r->nset != 1 || strncmp(r->set_value[0], "no-key (", 8) != 0)
		fail_msg("the copy back: got header \"%s\", want no-key",
		    r->nset ? r->set_value[0] : "");
	mail_msg_free(m);
	free(text);
	free(ov[0]);
	free(ov[1]);
	conf_unref(conf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decrypt_table),
		cmocka_unit_test(test_verify_table),
		cmocka_unit_test(test_verify_line_ends),
		cmocka_unit_test(test_verify_keypref),
		cmocka_unit_test(test_verify_garbage),
		cmocka_unit_test(test_verify_limits),
		cmocka_unit_test(test_inbound_msg),
		cmocka_unit_test(test_decrypter_addressee),
		cmocka_unit_test(test_decrypt_probe),
		cmocka_unit_test(test_inbound_decrypt_msg),
		cmocka_unit_test(test_inbound_split),
		cmocka_unit_test(test_rekey),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
