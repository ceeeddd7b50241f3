/*
 * fuzz_msg.c: a message through the milter's message context, the path
 * of mail from Postfix and of the offline mode: header fields with
 * mail_msg_add_header(), the body with mail_msg_add_body(), then
 * mail_msg_process(): outbound from alice@example.com, whose key the
 * keystore holds (made at start-up), so that it is signed; or inbound to
 * her (decryption, verification, the result header).
 *
 * Input: byte 0 picks the body split (bits 0-1: whole, byte by byte, at
 * pseudo-random points, 3 as 2), the signing mode (bit 2: opaque) and the
 * direction (bit 3: inbound from bob@elsewhere.test); bytes 1-4
 * seed the random split; the rest is the message as on the wire.  The
 * header block is cut into fields as an MTA does (a line starting with
 * white space continues the field; a line without a colon ends the
 * block).  Each input goes through twice, whole and split: the decision
 * must not depend on how the body arrived.
 *
 * alice's key is the same at every run (fuzz_signer()), so the seeds
 * encrypted to her (inbound-*-fixed, written by FUZZ_MSG_SEEDS=DIR: an
 * EnvelopedData, an AuthEnvelopedData and a message signed without
 * signed attributes inside one)
 * decrypt, and what lies inside is fuzzed too.  FUZZ_MSG_DEBUG set: each
 * decision to stderr.
 */
#include "keystore/keystore.h"
#include "conf/conf.h"
#include "mail/mail_msg.h"
#include "smime/smime.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/unit/unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static conf_t *conf[2];    /* detached, opaque */
static keystore_t *ks;
static int debug;

/* An inbound message to alice encrypted to her certificate with cipher
 * (signed by her first when sign), as fuzz input (inbound, whole) in
 * dir/name. */
static void
seed_write(const char *dir, const char *name, const EVP_CIPHER *cipher, int sign)
{
	static const char text[] = "Content-Type: text/plain; charset=utf-8\r\n\r\n"
	    "Inside the envelope: fuzz me.\r\n";
	EVP_PKEY *key;
	X509 *cert;
	BIO *in = BIO_new_mem_buf(text, -1), *inner = BIO_new(BIO_s_mem());
	BIO *out = BIO_new(BIO_s_mem());
	STACK_OF(X509) *to = sk_X509_new_null();
	CMS_ContentInfo *s = NULL, *e = NULL;
	char path[4200];
	const char *p;
	long n;
	FILE *fp;

	fuzz_signer(&key, &cert, NULL, NULL);
	if (in == NULL || inner == NULL || out == NULL || to == NULL || !sk_X509_push(to, cert))
		abort();
	if (sign) {
		BIO *again = BIO_new_mem_buf(text, -1);

		unsigned fl = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL;

		if ((s = CMS_sign(NULL, NULL, NULL, NULL, fl)) == NULL || again == NULL
		    || CMS_add1_signer(s, cert, key, EVP_sha256(), fl | CMS_NOATTR) == NULL
		    || !CMS_final(s, in, NULL, fl)
		    || !SMIME_write_CMS(inner, s, again, CMS_DETACHED | CMS_BINARY)) {
			ERR_print_errors_fp(stderr);
			abort();
		}
		BIO_free(again);
	} else if (BIO_write(inner, text, (int)strlen(text)) <= 0)
		abort();
	if ((e = CMS_encrypt(to, inner, cipher, CMS_BINARY)) == NULL)
		abort();
	BIO_printf(out, "%s", "\010\001\002\003\004From: bob@elsewhere.test\r\n"
	    "To: alice@example.com\r\nSubject: fuzz seed\r\n");
	if (!SMIME_write_CMS(out, e, NULL, 0))
		abort();
	n = BIO_get_mem_data(out, &p);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "wb")) == NULL || fwrite(p, 1, (size_t)n, fp) != (size_t)n)
		abort();
	fclose(fp);
	CMS_ContentInfo_free(s);
	CMS_ContentInfo_free(e);
	sk_X509_free(to);
	BIO_free(in);
	BIO_free(inner);
	BIO_free(out);
}

static void
seeds_write(const char *dir)
{
	seed_write(dir, "inbound-enveloped-fixed", EVP_aes_256_cbc(), 0);
	seed_write(dir, "inbound-authenveloped-fixed", EVP_aes_256_gcm(), 0);
	seed_write(dir, "inbound-signed-enveloped-fixed", EVP_aes_256_cbc(), 1);
	exit(0);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	EVP_PKEY *key, *ca_key;
	X509 *cert, *ca;
	keystore_err_t kerr;
	char err[1024], state[4096], spool[4200];
	char *ov[] = { state, "LocalDomains=example.com", "AuditLog=no",
	    "Syslog=no", "SigningMode=detached" };
	unsigned char *p12;
	size_t len;

	smime_init();
	snprintf(state, sizeof(state), "StateDirectory=%s", fuzz_dir());
	snprintf(spool, sizeof(spool), "%s/spool", fuzz_dir());
	mkdir(spool, 0700);
	for (int i = 0; i < 2; i++) {
		ov[4] = i ? "SigningMode=opaque" : "SigningMode=detached";
		/* A small memory threshold: bodies also go through the file. */
		conf[i] = conf_load(NULL, ov, 5, err, sizeof(err));
		/* The start's re-injection key: mail to several kinds of
		 * recipients is split, as in the daemon. */
		if (conf[i] != NULL && conf_prepare(conf[i], err, sizeof(err)) != 0) {
			conf_unref(conf[i]);
			conf[i] = NULL;
		}
		if (conf[i] == NULL) {
			fprintf(stderr, "fuzz_msg: %s\n", err);
			abort();
		}
	}
	ks = keystore_open(conf[0]->keystore_dir, conf[0]->master_key_file,
	    KEYSTORE_CREATE, &kerr);
	fuzz_signer(&key, &cert, &ca, &ca_key);
	p12 = unit_p12(key, cert, ca, "x", &len);
	if (ks == NULL || p12 == NULL ||
	    keystore_import_p12(ks, p12, len, "x", NULL, &kerr) != KEYSTORE_OK) {
		fprintf(stderr, "fuzz_msg: keystore: %s\n", kerr.msg);
		abort();
	}
	free(p12);
	if (getenv("FUZZ_MSG_SEEDS") != NULL)
		seeds_write(getenv("FUZZ_MSG_SEEDS"));
	debug = getenv("FUZZ_MSG_DEBUG") != NULL;
	return 0;
}

/* Length of the line at p (with its LF), or of the rest. */
static size_t
line_len(const uint8_t *p, size_t left)
{
	const uint8_t *nl = memchr(p, '\n', left);

	return nl ? (size_t)(nl - p) + 1 : left;
}

/* Feeds the header fields; returns the offset of the body. */
static size_t
feed_headers(mail_msg_t *m, const uint8_t *d, size_t n)
{
	size_t off = 0;

	while (off < n) {
		size_t ll = line_len(d + off, n - off), flen = ll, colon;
		const uint8_t *c = memchr(d + off, ':', ll);
		char *name, *value;
		size_t vs, ve;

		if (d[off] == '\n' || (d[off] == '\r' && ll == 2 && d[off + 1] == '\n'))
			return off + ll;            /* the blank line */
		if (c == NULL || c == d + off)
			return off;                 /* not a field: the body starts */
		while (off + flen < n && (d[off + flen] == ' ' || d[off + flen] == '\t'))
			flen += line_len(d + off + flen, n - off - flen);
		colon = (size_t)(c - (d + off));
		name = fuzz_strndup(d + off, colon);
		vs = colon + 1;
		while (vs < flen && (d[off + vs] == ' ' || d[off + vs] == '\t'))
			vs++;
		ve = flen;
		while (ve > vs && (d[off + ve - 1] == '\n' || d[off + ve - 1] == '\r'))
			ve--;
		/* The milter protocol carries C strings: a NUL ends the value. */
		value = fuzz_strndup(d + off + vs, ve - vs);
		(void)mail_msg_add_header(m, name, value);
		free(name);
		free(value);
		off += flen;
	}
	return off;
}

static const mail_result_t *
run(mail_msg_t *m, const uint8_t *d, size_t n, fuzz_split_t *split, int inbound)
{
	size_t off = feed_headers(m, d, n), piece;

	if (inbound) {
		(void)mail_msg_set_sender(m, "<bob@elsewhere.test>");
		(void)mail_msg_add_rcpt(m, "<alice@example.com>");
	} else {
		(void)mail_msg_set_sender(m, "<alice@example.com>");
		(void)mail_msg_add_rcpt(m, "<bob@example.net>");
		m->auth = strdup("alice@example.com");
	}
	for (; off < n; off += piece) {
		piece = fuzz_split_next(split, n - off);
		if (mail_msg_add_body(m, d + off, piece) != 0)
			break;
	}
	return mail_msg_process(m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_split_t whole = { 0, 0 }, split;
	mail_msg_t *a, *b;
	const mail_result_t *ra, *rb;
	conf_t *c;

	if (size < 5)
		return 0;
	c = conf[(data[0] >> 2) & 1];
	split.mode = data[0] & 3;
	split.state = ((uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 |
	    (uint32_t)data[3] << 8 | data[4]) | 1;
	if ((a = mail_msg_new(c, ks)) == NULL || (b = mail_msg_new(c, ks)) == NULL)
		abort();
	ra = run(a, data + 5, size - 5, &whole, data[0] & 8);
	rb = run(b, data + 5, size - 5, &split, data[0] & 8);
	if (debug)
		fprintf(stderr, "fuzz_msg: %s (%s)\n", ra->action, ra->reason);
	if (ra->what != rb->what || strcmp(ra->action, rb->action) != 0) {
		fprintf(stderr, "fuzz_msg: whole: %s (%s); split mode %d: %s (%s)\n",
		    ra->action, ra->reason, split.mode, rb->action, rb->reason);
		abort();
	}
	if (ra->what == MAIL_DO_REPLACE && (ra->nadd == 0 || ra->new_body == NULL))
		abort();
	mail_msg_free(a);
	mail_msg_free(b);
	return 0;
}
