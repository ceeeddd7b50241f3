/*
 * test_smime.c: cmocka tests of the signing half of smime/ (smime.h).
 *
 * Every signature made here is checked by OpenSSL itself (CMS_verify with
 * the run-time test CA, over the exact first-part octets cut out of the
 * output), and once by the "openssl cms" command line.  The signed part is
 * checked to be 7-bit and CRLF, and its decoded content against the input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <gmime/gmime.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "smime/smime.h"
#include "tests/unit/unit_util.h"

/* ---- fixtures: the test PKI ---- */

struct pki {
	EVP_PKEY *ca_key;
	X509 *ca;
	EVP_PKEY *rsa_key;
	X509 *rsa_cert;
	EVP_PKEY *ec_key;
	X509 *ec_cert;
	EVP_PKEY *other_key;
	char *tmpdir;
};

static struct pki pki;

static int
group_setup(void **state)
{
	(void)state;
	smime_init();
	pki.ca_key = unit_key(UNIT_RSA2048);
	pki.ca = unit_ca(pki.ca_key, "smimegate test CA");
	pki.rsa_key = unit_key(UNIT_RSA2048);
	pki.rsa_cert = unit_cert(pki.rsa_key, pki.ca, pki.ca_key,
	    "alice@example.org", -1, 365);
	pki.ec_key = unit_key(UNIT_P256);
	pki.ec_cert = unit_cert(pki.ec_key, pki.ca, pki.ca_key,
	    "bob@example.org", -1, 365);
	pki.other_key = unit_key(UNIT_P256);
	pki.tmpdir = unit_tmpdir();
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(pki.ca_key);
	X509_free(pki.ca);
	EVP_PKEY_free(pki.rsa_key);
	X509_free(pki.rsa_cert);
	EVP_PKEY_free(pki.ec_key);
	X509_free(pki.ec_cert);
	EVP_PKEY_free(pki.other_key);
	unit_rmtree(pki.tmpdir);
	free(pki.tmpdir);
	return 0;
}

/* ---- output collection ---- */

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static int
buf_write(void *arg, const void *data, size_t len)
{
	struct buf *b = arg;

	if (b->len + len + 1 > b->cap) {
		while (b->len + len + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 4096;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return 0;
}

static void
buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* A signing job's result: the new body and the new headers. */
struct result {
	smime_status_t status;
	char error[512];
	struct buf body;
	size_t nheaders;
	char *name[8], *value[8];
};

static void
result_free(struct result *r)
{
	size_t i;

	buf_free(&r->body);
	for (i = 0; i < r->nheaders; i++) {
		free(r->name[i]);
		free(r->value[i]);
	}
	memset(r, 0, sizeof(*r));
}

static const char *
result_header(const struct result *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->name[i], name) == 0)
			return r->value[i];
	return NULL;
}

/* What to sign and how. */
struct job {
	EVP_PKEY *key;
	X509 *cert;
	int opaque;
	const char *headers;
	const char *body;
	size_t body_len;        /* 0: strlen(body) */
	int fd;                 /* >= 0: the body comes from this file */
	size_t mem_max;         /* 0: the library's default */
	smime_write_fn writer;  /* NULL: collect into the result */
	void *writer_arg;
};

static void
run_job(const struct job *j, struct result *r)
{
	smime_sign_t *s = smime_sign_new();
	smime_body_t body = { NULL, 0, -1 };
	size_t i;

	memset(r, 0, sizeof(*r));
	assert_non_null(s);
	if (smime_sign_set_signer(s, j->key ? j->key : pki.rsa_key,
	    j->cert ? j->cert : pki.rsa_cert, NULL) != SMIME_OK)
		fail_msg("set_signer: %s", smime_sign_error(s));
	smime_sign_set_opaque(s, j->opaque);
	if (j->mem_max != 0)
		smime_sign_set_tmpdir(s, pki.tmpdir, j->mem_max);
	if (j->fd >= 0) {
		body.fd = j->fd;
	} else {
		body.mem = (const unsigned char *)j->body;
		body.len = j->body_len ? j->body_len : strlen(j->body);
	}
	r->status = smime_sign_run(s, j->headers, &body,
	    j->writer ? j->writer : buf_write, j->writer ? j->writer_arg : &r->body);
	snprintf(r->error, sizeof(r->error), "%s", smime_sign_error(s));
	r->nheaders = smime_sign_nheaders(s);
	assert_true(r->nheaders <= 8);
	for (i = 0; i < r->nheaders; i++) {
		r->name[i] = strdup(smime_sign_header_name(s, i));
		r->value[i] = strdup(smime_sign_header_value(s, i));
	}
	smime_sign_free(s);
	assert_int_equal(ERR_peek_error(), 0);      /* the queue is left empty */
}

static void
run_ok(const struct job *j, struct result *r)
{
	run_job(j, r);
	if (r->status != SMIME_OK)
		fail_msg("smime_sign_run: got status %d (%s), want SMIME_OK",
		    r->status, r->error);
}

/* ---- taking the output apart ---- */

static const unsigned char *
find(const unsigned char *hay, size_t hlen, const char *needle)
{
	return memmem(hay, hlen, needle, strlen(needle));
}

struct detached {
	char boundary[128];
	const unsigned char *part;      /* the signed octets, into the result */
	size_t part_len;
	const unsigned char *sig_head;  /* the signature part's headers */
	size_t sig_head_len;
	unsigned char *der;             /* the decoded signature, malloc'ed */
	size_t der_len;
};

static unsigned char *
base64_decode(const unsigned char *b64, size_t len, size_t *out_len)
{
	BIO *mem = BIO_new_mem_buf(b64, (int)len), *f = BIO_new(BIO_f_base64());
	unsigned char *out = malloc(len + 1);
	int n, total = 0;

	assert_non_null(out);
	BIO_push(f, mem);
	while ((n = BIO_read(f, out + total, (int)len - total)) > 0)
		total += n;
	BIO_free_all(f);
	*out_len = (size_t)total;
	return out;
}

static void
get_boundary(const struct result *r, char *buf, size_t size)
{
	const char *ct = result_header(r, "Content-Type"), *p, *q;

	assert_non_null(ct);
	p = strstr(ct, "boundary=\"");
	if (p == NULL)
		fail_msg("Content-Type %s has no quoted boundary", ct);
	p += strlen("boundary=\"");
	q = strchr(p, '"');
	assert_non_null(q);
	assert_true((size_t)(q - p) < size);
	memcpy(buf, p, (size_t)(q - p));
	buf[q - p] = '\0';
}

static void
split_detached(const struct result *r, struct detached *d)
{
	char open[160], next[160], close_[160];
	const unsigned char *b = r->body.p, *end = b + r->body.len, *p, *q, *sig;

	memset(d, 0, sizeof(*d));
	get_boundary(r, d->boundary, sizeof(d->boundary));
	snprintf(open, sizeof(open), "\r\n--%s\r\n", d->boundary);
	snprintf(next, sizeof(next), "\r\n--%s\r\n", d->boundary);
	snprintf(close_, sizeof(close_), "\r\n--%s--\r\n", d->boundary);
	p = find(b, r->body.len, open);
	if (p == NULL)
		fail_msg("no opening boundary in the output");
	d->part = p + strlen(open);
	q = find(d->part, (size_t)(end - d->part), next);
	if (q == NULL)
		fail_msg("no second boundary in the output");
	d->part_len = (size_t)(q - d->part);
	d->sig_head = q + strlen(next);
	sig = find(d->sig_head, (size_t)(end - d->sig_head), "\r\n\r\n");
	assert_non_null(sig);
	d->sig_head_len = (size_t)(sig + 2 - d->sig_head);
	sig += 4;
	p = find(sig, (size_t)(end - sig), close_);
	if (p == NULL || p + strlen(close_) != end)
		fail_msg("the output does not end with the closing boundary");
	d->der = base64_decode(sig, (size_t)(p - sig), &d->der_len);
	assert_true(d->der_len > 100);
}

static void
detached_free(struct detached *d)
{
	free(d->der);
}

/* NULL when every line of buf ends in CRLF (the last may be unterminated). */
static const char *
crlf_problem(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return "a bare LF";
		if (p[i] == '\r' && (i + 1 == len || p[i + 1] != '\n'))
			return "a bare CR";
	}
	return NULL;
}

/* NULL when buf is 7-bit safe: no 8-bit or NUL octets, lines <= 998. */
static const char *
sevenbit_problem(const unsigned char *p, size_t len)
{
	size_t i, line = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == 0)
			return "a NUL octet";
		if (p[i] >= 0x80)
			return "an 8-bit octet";
		line = p[i] == '\n' ? 0 : line + 1;
		if (line > 999)                     /* 998 + the CR */
			return "a line longer than 998 octets";
	}
	return crlf_problem(p, len);
}

static void
assert_canonical(const unsigned char *p, size_t len)
{
	const char *why = sevenbit_problem(p, len);

	if (why != NULL)
		fail_msg("the signed part has %s, want 7-bit CRLF text", why);
}

/* ---- verifying with OpenSSL ---- */

static X509_STORE *
ca_store(void)
{
	X509_STORE *st = X509_STORE_new();

	assert_non_null(st);
	assert_int_equal(X509_STORE_add_cert(st, pki.ca), 1);
	return st;
}

/* 1 when der is a valid detached signature of data by a cert of our CA. */
static int
verify_detached(const unsigned char *data, size_t len, const unsigned char *der,
    size_t der_len)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)der_len);
	X509_STORE *st = ca_store();
	BIO *in = BIO_new_mem_buf(data, (int)len);
	int ok;

	assert_non_null(cms);
	assert_true(CMS_is_detached(cms));
	ok = CMS_verify(cms, NULL, st, in, NULL, CMS_BINARY) == 1;
	ERR_clear_error();
	BIO_free(in);
	X509_STORE_free(st);
	CMS_ContentInfo_free(cms);
	return ok;
}

/* Verifies an opaque result; returns its content (malloc'ed) or NULL. */
static unsigned char *
verify_opaque(const struct result *r, size_t *len)
{
	size_t der_len;
	unsigned char *der = base64_decode(r->body.p, r->body.len, &der_len);
	const unsigned char *p = der;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)der_len);
	X509_STORE *st = ca_store();
	BIO *out = BIO_new(BIO_s_mem());
	unsigned char *content = NULL;
	char *data;
	long n;

	assert_non_null(cms);
	assert_false(CMS_is_detached(cms));
	if (CMS_verify(cms, NULL, st, NULL, out, CMS_BINARY) == 1) {
		n = BIO_get_mem_data(out, &data);
		content = malloc((size_t)n + 1);
		assert_non_null(content);
		memcpy(content, data, (size_t)n);
		content[n] = '\0';
		*len = (size_t)n;
	}
	ERR_clear_error();
	BIO_free(out);
	X509_STORE_free(st);
	CMS_ContentInfo_free(cms);
	free(der);
	return content;
}

/* Signs a detached job and checks everything that holds for any input. */
static void
sign_and_verify(const struct job *j, struct result *r, struct detached *d)
{
	const char *why;

	run_ok(j, r);
	assert_int_equal(r->nheaders, 2);
	assert_string_equal(r->name[0], "MIME-Version");
	assert_string_equal(r->value[0], "1.0");
	assert_non_null(strstr(result_header(r, "Content-Type"),
	    "multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; "));
	split_detached(r, d);
	if ((why = crlf_problem(r->body.p, r->body.len)) != NULL)
		fail_msg("the output has %s, want CRLF lines only", why);
	assert_canonical(d->part, d->part_len);
	if (!verify_detached(d->part, d->part_len, d->der, d->der_len))
		fail_msg("CMS_verify of the signed part: got failure, want success");
}

/* ---- the decoded content of the signed part, with GMime ---- */

static void
collect_leaves(GMimeObject *obj, GPtrArray *leaves)
{
	int i;

	if (GMIME_IS_MULTIPART(obj)) {
		for (i = 0; i < g_mime_multipart_get_count(GMIME_MULTIPART(obj)); i++)
			collect_leaves(g_mime_multipart_get_part(GMIME_MULTIPART(obj), i),
			    leaves);
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));

		if (m != NULL && g_mime_message_get_mime_part(m) != NULL)
			collect_leaves(g_mime_message_get_mime_part(m), leaves);
	} else if (GMIME_IS_PART(obj)) {
		g_ptr_array_add(leaves, obj);
	}
}

struct leaf {
	char type[64];          /* "text/plain" */
	char encoding[32];      /* Content-Transfer-Encoding as written */
	GByteArray *content;    /* decoded */
};

/* The index-th leaf of a MIME entity, decoded. */
static void
get_leaf(const unsigned char *entity, size_t len, unsigned index, struct leaf *lf)
{
	GMimeStream *in = g_mime_stream_mem_new_with_buffer((const char *)entity, len);
	GMimeParser *parser = g_mime_parser_new_with_stream(in);
	GMimeObject *top = g_mime_parser_construct_part(parser, NULL);
	GPtrArray *leaves = g_ptr_array_new();
	GMimeStream *out = g_mime_stream_mem_new();
	GMimePart *part;
	char *mime;
	const char *cte;

	assert_non_null(top);
	collect_leaves(top, leaves);
	if (index >= leaves->len)
		fail_msg("leaf %u: got %u leaves", index, leaves->len);
	part = leaves->pdata[index];
	mime = g_mime_content_type_get_mime_type(
	    g_mime_object_get_content_type(GMIME_OBJECT(part)));
	snprintf(lf->type, sizeof(lf->type), "%s", mime);
	g_free(mime);
	cte = g_mime_object_get_header(GMIME_OBJECT(part), "Content-Transfer-Encoding");
	snprintf(lf->encoding, sizeof(lf->encoding), "%s", cte ? cte : "");
	g_mime_data_wrapper_write_to_stream(g_mime_part_get_content(part), out);
	lf->content = g_byte_array_new();
	g_byte_array_append(lf->content,
	    g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out))->data,
	    g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out))->len);
	g_object_unref(out);
	g_ptr_array_free(leaves, TRUE);
	g_object_unref(top);
	g_object_unref(parser);
	g_object_unref(in);
}

/* LF line ends made CRLF (what the signed content must decode to). */
static char *
to_crlf(const char *s, size_t len, size_t *out_len)
{
	char *out = malloc(2 * len + 1), *o = out;
	size_t i;

	assert_non_null(out);
	for (i = 0; i < len; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			*o++ = '\r';
		*o++ = s[i];
	}
	*o = '\0';
	*out_len = (size_t)(o - out);
	return out;
}

static void
assert_leaf(const unsigned char *entity, size_t len, unsigned index,
    const char *want_type, const char *const *want_cte, const char *want,
    size_t want_len)
{
	struct leaf lf;
	size_t crlf_len, i;
	char *crlf;
	int cte_ok = want_cte == NULL;

	get_leaf(entity, len, index, &lf);
	if (strcasecmp(lf.type, want_type) != 0)
		fail_msg("leaf %u: got type %s, want %s", index, lf.type, want_type);
	for (i = 0; want_cte != NULL && want_cte[i] != NULL; i++)
		cte_ok |= strcasecmp(lf.encoding, want_cte[i]) == 0;
	if (!cte_ok)
		fail_msg("leaf %u: got encoding \"%s\", want %s%s", index,
		    lf.encoding, want_cte[0], want_cte[1] ? " or another" : "");
	crlf = strncasecmp(want_type, "text/", 5) == 0
	    ? to_crlf(want, want_len, &crlf_len) : NULL;
	if (crlf != NULL) {
		want = crlf;
		want_len = crlf_len;
	}
	if (lf.content->len != want_len || memcmp(lf.content->data, want, want_len) != 0)
		fail_msg("leaf %u: got %u decoded octets, want %zu equal to the input",
		    index, lf.content->len, want_len);
	free(crlf);
	g_byte_array_free(lf.content, TRUE);
}

static const char *const QP_OR_B64[] = { "quoted-printable", "base64", NULL };
static const char *const QP[] = { "quoted-printable", NULL };
static const char *const B64[] = { "base64", NULL };
static const char *const SEVENBIT[] = { "7bit", "", NULL };

/* ---- tests ---- */

static void
test_classify(void **state)
{
	static const struct {
		const char *ct;
		smime_kind_t want;
	} t[] = {
		{ NULL, SMIME_KIND_PLAIN },
		{ "", SMIME_KIND_PLAIN },
		{ "text/plain; charset=us-ascii", SMIME_KIND_PLAIN },
		{ "multipart/mixed; boundary=x", SMIME_KIND_PLAIN },
		{ "multipart/signed; protocol=\"application/pkcs7-signature\"; "
		  "micalg=sha-256; boundary=x", SMIME_KIND_SIGNED },
		{ "Multipart/Signed; boundary=x", SMIME_KIND_SIGNED },
		{ "multipart/encrypted; protocol=\"application/pgp-encrypted\"",
		  SMIME_KIND_ENCRYPTED },
		{ "application/pkcs7-mime; smime-type=signed-data; name=smime.p7m",
		  SMIME_KIND_SIGNED },
		{ "application/x-pkcs7-mime; smime-type=signed-data", SMIME_KIND_SIGNED },
		{ "application/pkcs7-mime; smime-type=enveloped-data", SMIME_KIND_ENCRYPTED },
		{ "application/pkcs7-mime; smime-type=\"authEnveloped-data\"",
		  SMIME_KIND_ENCRYPTED },
		{ "application/x-pkcs7-mime; name=smime.p7m", SMIME_KIND_ENCRYPTED },
		{ "application/pkcs7-mime; SMIME-Type=Signed-Data", SMIME_KIND_SIGNED },
		{ "application/pkcs7-mime; smime-type=certs-only", SMIME_KIND_PLAIN },
		{ "application/pkcs7-signature; name=smime.p7s", SMIME_KIND_PLAIN },
		{ "application/octet-stream", SMIME_KIND_PLAIN },
		{ ";;;==\"", SMIME_KIND_PLAIN },
		{ "multipart/", SMIME_KIND_PLAIN },
		{ "\xff\xfe garbage \x01", SMIME_KIND_PLAIN },
		{ "application/pkcs7-mime; smime-type", SMIME_KIND_ENCRYPTED },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		smime_kind_t got = smime_classify(t[i].ct);

		if (got != t[i].want)
			fail_msg("classify(%s): got %d, want %d",
			    t[i].ct ? t[i].ct : "NULL", got, t[i].want);
	}
}

/* Invitations anywhere in the tree; got/want per shape. */
static void
test_calendar_find(void **state)
{
	static const char ics_req[] = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\n"
	    "BEGIN:VEVENT\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
	static const char ics_none[] = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
	    "END:VCALENDAR\r\n";
	static const struct {
		const char *name, *ct, *pre;
		int ics;                /* 0: none, 1: with METHOD, 2: without */
		const char *post;
		int want;
	} t[] = {
		{ "outlook: alternative, method parameter",
		  "Content-Type: multipart/alternative; boundary=b\n",
		  "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n"
		  "Content-Type: text/html\r\n\r\n<p>hi</p>\r\n--b\r\n"
		  "Content-Type: text/calendar; method=REQUEST\r\n\r\n", 1, "--b--\r\n", 1 },
		{ "nested in mixed, METHOD line only",
		  "Content-Type: multipart/mixed; boundary=m\n",
		  "--m\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n"
		  "--a\r\nContent-Type: text/plain\r\n\r\nhi\r\n--a\r\n"
		  "Content-Type: text/calendar\r\n\r\n", 1, "--a--\r\n--m--\r\n", 1 },
		{ "application/ics attachment",
		  "Content-Type: multipart/mixed; boundary=m\n",
		  "--m\r\nContent-Type: text/plain\r\n\r\nhi\r\n--m\r\n"
		  "Content-Type: application/ics; name=invite.ics\r\n\r\nX\r\n", 0,
		  "--m--\r\n", 1 },
		{ "calendar file without METHOD",
		  "Content-Type: multipart/mixed; boundary=m\n",
		  "--m\r\nContent-Type: text/plain\r\n\r\nhi\r\n--m\r\n"
		  "Content-Type: text/calendar\r\n\r\n", 2, "--m--\r\n", 0 },
		{ "inside an attached message: not this message's",
		  "Content-Type: multipart/mixed; boundary=m\n",
		  "--m\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n"
		  "Content-Type: text/calendar; method=REQUEST\r\n\r\n", 1, "--m--\r\n", 0 },
		{ "plain text", "Content-Type: text/plain\n", "METHOD:REQUEST\r\n", 0, "", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *body, why[200];
		smime_body_t b = { NULL, 0, -1 };
		int got;

		assert_true(asprintf(&body, "%s%s%s", t[i].pre, t[i].ics == 1 ? ics_req
		    : t[i].ics == 2 ? ics_none : "", t[i].post) > 0);
		b.mem = (const unsigned char *)body;
		b.len = strlen(body);
		got = smime_calendar_find(t[i].ct, &b, 0, 0, why, sizeof(why));
		if (got != t[i].want)
			fail_msg("%s: got %d, want %d", t[i].name, got, t[i].want);
		free(body);
	}
	{
		/* Deeper than the limit: an error, not an invitation. */
		const char *deep = "--a\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
		    "--b\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\nX\r\n"
		    "--b--\r\n--a--\r\n";
		smime_body_t b = { (const unsigned char *)deep, strlen(deep), -1 };
		char why[200] = "";

		assert_int_equal(smime_calendar_find("Content-Type: multipart/mixed; "
		    "boundary=a\n", &b, 0, 2, why, sizeof(why)), -1);
		assert_non_null(strstr(why, "deeper"));
	}
}

/* Plain ASCII is signed as it is, only with CRLF line ends. */
static void
test_sign_plain_ascii(void **state)
{
	static const char headers[] = "Content-Type: text/plain; charset=us-ascii\n"
	    "Content-Transfer-Encoding: 7bit\n";
	static const char body[] = "Hello Bob,\n\nthe meeting is at ten.\n-- \nAlice\n";
	static const char want[] = "Content-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n"
	    "Hello Bob,\r\n\r\nthe meeting is at ten.\r\n-- \r\nAlice\r\n";
	struct job j = { .headers = headers, .body = body, .fd = -1 };
	struct result r;
	struct detached d;

	(void)state;
	sign_and_verify(&j, &r, &d);
	if (d.part_len != strlen(want) || memcmp(d.part, want, d.part_len) != 0)
		fail_msg("signed part: got \"%.*s\", want \"%s\"", (int)d.part_len,
		    d.part, want);
	assert_non_null(find(r.body.p, r.body.len, "This is an S/MIME signed message\r\n"));
	assert_non_null(find(d.sig_head, d.sig_head_len,
	    "Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"));
	assert_non_null(find(d.sig_head, d.sig_head_len,
	    "Content-Transfer-Encoding: base64\r\n"));
	assert_non_null(find(d.sig_head, d.sig_head_len,
	    "Content-Disposition: attachment; filename=smime.p7s\r\n"));
	assert_non_null(find(d.sig_head, d.sig_head_len,
	    "Content-Description: S/MIME Cryptographic Signature\r\n"));
	assert_int_equal(strncmp(d.boundary, "----smimegate-", 14), 0);
	assert_int_equal(strlen(d.boundary), 14 + 32);
	detached_free(&d);
	result_free(&r);
}

/* Base64 lines of the signature are 76 columns at most. */
static void
test_signature_lines(void **state)
{
	struct job j = { .headers = "Content-Type: text/plain\r\n", .body = "x\r\n",
	    .fd = -1 };
	struct result r;
	struct detached d;
	const unsigned char *p, *nl, *end;

	(void)state;
	sign_and_verify(&j, &r, &d);
	p = d.sig_head + d.sig_head_len + 2;
	end = r.body.p + r.body.len;
	for (; p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL; p = nl + 1)
		if (nl - p - 1 > 76)
			fail_msg("signature line: got %d columns, want <= 76",
			    (int)(nl - p - 1));
	detached_free(&d);
	result_free(&r);
}

/* 8-bit text is re-encoded; its decoded content is unchanged. */
static void
test_sign_utf8(void **state)
{
	static const struct {
		const char *name;
		const char *body;
		const char *const *want_cte;
	} t[] = {
		{ "mostly ASCII", "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln,\nand a long "
		  "English line that dilutes the few 8-bit octets a lot.\nBye\n", QP },
		{ "mostly 8-bit", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, "
		  "\xd0\xbc\xd0\xb8\xd1\x80!\n\xe4\xbd\xa0\xe5\xa5\xbd\n", B64 },
		{ "no final newline", "caf\xc3\xa9", QP_OR_B64 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct job j = { .headers = "Content-Type: text/plain; charset=utf-8\r\n"
		    "Content-Transfer-Encoding: 8bit\r\n", .body = t[i].body, .fd = -1 };
		struct result r;
		struct detached d;

		print_message("case: %s\n", t[i].name);
		sign_and_verify(&j, &r, &d);
		assert_leaf(d.part, d.part_len, 0, "text/plain", t[i].want_cte,
		    t[i].body, strlen(t[i].body));
		assert_null(find(d.part, d.part_len, "8bit"));
		detached_free(&d);
		result_free(&r);
	}
}

/* No Content-Type at all: text/plain; charset=us-ascii, 8-bit re-encoded. */
static void
test_sign_no_headers(void **state)
{
	static const char *const headers[] = { NULL, "" };
	static const char body[] = "plain text with one 8-bit octet: \xe9\n";
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		struct job j = { .headers = headers[i], .body = body, .fd = -1 };
		struct result r;
		struct detached d;

		sign_and_verify(&j, &r, &d);
		if (find(d.part, d.part_len, "Content-Type: text/plain; charset=us-ascii\r\n")
		    != d.part)
			fail_msg("signed part starts \"%.60s\", want the default "
			    "Content-Type first", d.part);
		assert_leaf(d.part, d.part_len, 0, "text/plain", QP_OR_B64, body,
		    strlen(body));
		detached_free(&d);
		result_free(&r);
	}
}

#define MIXED_HEADERS "Content-Type: multipart/mixed; boundary=\"=-outer\"\r\n"

static const char mixed_body[] =
    "This is a multi-part message in MIME format.\r\n"
    "--=-outer\r\n"
    "Content-Type: multipart/alternative; boundary=\"=-alt\"\r\n"
    "\r\n"
    "--=-alt\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Sch\xc3\xb6ne Gr\xc3\xbc\xc3\x9f" "e\r\n"
    "--=-alt\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "<html><body><p>Sch\xc3\xb6ne Gr\xc3\xbc\xc3\x9f" "e</p></body></html>\r\n"
    "--=-alt--\r\n"
    "\r\n"
    "--=-outer\r\n"
    "Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
    "Content-Disposition: attachment; filename=\"data.bin\"\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "\r\n"
    "\x01\x02\x03\x00\xff\xfe\x80 binary\x7f\x90\r\n"
    "--=-outer\r\n"
    "Content-Type: image/png; name=\"dot.png\"\r\n"
    "Content-Disposition: attachment; filename=\"dot.png\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==\r\n"
    "--=-outer--\r\n";

/* HTML and text alternatives plus attachments in a multipart/mixed. */
static void
test_sign_multipart(void **state)
{
	static const char bin[] = "\x01\x02\x03\x00\xff\xfe\x80 binary\x7f\x90";
	static const char text[] = "Sch\xc3\xb6ne Gr\xc3\xbc\xc3\x9f" "e";
	static const char html[] = "<html><body><p>Sch\xc3\xb6ne Gr\xc3\xbc\xc3\x9f"
	    "e</p></body></html>";
	struct job j = { .headers = MIXED_HEADERS, .body = mixed_body,
	    .body_len = sizeof(mixed_body) - 1, .fd = -1 };
	struct result r;
	struct detached d;

	(void)state;
	sign_and_verify(&j, &r, &d);
	assert_leaf(d.part, d.part_len, 0, "text/plain", QP_OR_B64, text,
	    sizeof(text) - 1);
	assert_leaf(d.part, d.part_len, 1, "text/html", QP_OR_B64, html,
	    sizeof(html) - 1);
	assert_leaf(d.part, d.part_len, 2, "application/octet-stream", B64,
	    bin, sizeof(bin) - 1);
	/* Already base64 and 7-bit: left exactly as it was. */
	assert_non_null(find(d.part, d.part_len,
	    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==\r\n"));
	assert_non_null(find(d.part, d.part_len, "filename=\"data.bin\""));
	detached_free(&d);
	result_free(&r);
}

/* A forwarded message (message/rfc822) is re-encoded inside too. */
static void
test_sign_message_rfc822(void **state)
{
	static const char body[] =
	    "--b1\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "See below.\r\n"
	    "--b1\r\n"
	    "Content-Type: message/rfc822\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "From: J\xc3\xbcrgen <j@example.org>\r\n"
	    "Subject: \xc3\x9c" "berweisung\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "Gr\xc3\xbc\xc3\x9f" "e\r\n"
	    "--b1--\r\n";
	struct job j = { .headers = "Content-Type: multipart/mixed; boundary=b1\r\n",
	    .body = body, .fd = -1 };
	struct result r;
	struct detached d;

	(void)state;
	sign_and_verify(&j, &r, &d);
	assert_leaf(d.part, d.part_len, 1, "text/plain", QP_OR_B64,
	    "Gr\xc3\xbc\xc3\x9f" "e", 7);
	assert_non_null(find(d.part, d.part_len, "Subject: =?"));
	detached_free(&d);
	result_free(&r);
}

/* Lines over 998 octets are broken by quoted-printable. */
static void
test_sign_long_line(void **state)
{
	static const struct {
		const char *name;
		const char *type;
		const char *cte;
		size_t len;
		const char *const *want_cte;
		size_t before;      /* octets of 100-octet lines before the line */
	} t[] = {
		{ "text, 999 octets", "text/plain", "7bit", 999, QP, 0 },
		{ "text, 5000 octets, no CTE", "text/plain", NULL, 5000, QP, 0 },
		{ "text, exactly 998 octets", "text/plain", "7bit", 998, SEVENBIT, 0 },
		{ "csv attachment, 2000 octets", "text/csv", "7bit", 2000, QP, 0 },
		{ "octet-stream, 3000 octets", "application/octet-stream", "7bit",
		  3000, B64, 0 },
		/* the scan reads 64 KB at a time: a line across two reads */
		{ "text, 999 octets across the 64 KB read", "text/plain", "7bit",
		  999, QP, 65000 },
		{ "text, 998 octets across the 64 KB read", "text/plain", "7bit",
		  998, SEVENBIT, 65000 },
	};
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char headers[256], *body = malloc(t[i].before + t[i].len + 32);
		struct job j = { .headers = headers, .fd = -1 };
		struct result r;
		struct detached d;

		print_message("case: %s\n", t[i].name);
		snprintf(headers, sizeof(headers), "Content-Type: %s\r\n%s%s%s",
		    t[i].type, t[i].cte ? "Content-Transfer-Encoding: " : "",
		    t[i].cte ? t[i].cte : "", t[i].cte ? "\r\n" : "");
		for (k = 0; k < t[i].before; k++)
			body[k] = k % 100 == 99 ? '\n' : (char)('A' + k % 26);
		for (k = 0; k < t[i].len; k++)
			body[t[i].before + k] = (char)('a' + k % 26);
		strcpy(body + t[i].before + t[i].len, "\nshort line\n");
		j.body = body;
		sign_and_verify(&j, &r, &d);
		assert_leaf(d.part, d.part_len, 0, t[i].type, t[i].want_cte, body,
		    strlen(body));
		detached_free(&d);
		result_free(&r);
		free(body);
	}
}

/* A part that says 7bit but is not, and dirty encoded parts, are fixed. */
static void
test_sign_mislabelled(void **state)
{
	static const struct {
		const char *name;
		const char *cte;
		const char *body;
		const char *decoded;
	} t[] = {
		{ "7bit with 8-bit octets", "7bit", "na\xc3\xafve\n", "na\xc3\xafve\n" },
		{ "quoted-printable with 8-bit octets", "quoted-printable",
		  "na\xc3\xafve =3D ok\n", "na\xc3\xafve = ok\n" },
		{ "unknown encoding with 8-bit octets", "x-foo", "\xe9t\xe9\n",
		  "\xe9t\xe9\n" },
		{ "quoted-printable padding is not content (RFC 2045 6.7(3))",
		  "quoted-printable", "na\xc3\xafve  \t\nend\n", "na\xc3\xafve\nend\n" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char headers[200];
		struct job j = { .headers = headers, .body = t[i].body, .fd = -1 };
		struct result r;
		struct detached d;

		print_message("case: %s\n", t[i].name);
		snprintf(headers, sizeof(headers), "Content-Type: text/plain; "
		    "charset=utf-8\r\nContent-Transfer-Encoding: %s\r\n", t[i].cte);
		sign_and_verify(&j, &r, &d);
		assert_leaf(d.part, d.part_len, 0, "text/plain", QP_OR_B64,
		    t[i].decoded, strlen(t[i].decoded));
		detached_free(&d);
		result_free(&r);
	}
}

/* Base64 in one overlong line is wrapped anew, not copied. */
static void
test_sign_base64_long_line(void **state)
{
	unsigned char raw[3000];
	char *b64 = malloc(4 * sizeof(raw) / 3 + 8);
	struct job j = { .headers = "Content-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: base64\r\n", .fd = -1 };
	struct result r;
	struct detached d;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 31 + 7);
	EVP_EncodeBlock((unsigned char *)b64, raw, (int)sizeof(raw));  /* no newlines */
	assert_true(strlen(b64) > 998);
	j.body = b64;
	sign_and_verify(&j, &r, &d);
	assert_leaf(d.part, d.part_len, 0, "application/octet-stream", B64,
	    (const char *)raw, sizeof(raw));
	detached_free(&d);
	result_free(&r);
	free(b64);
}

/* LF-only and CRLF input give the same signed octets. */
static void
test_sign_lf_crlf_same(void **state)
{
	size_t lf_len = 0, i;
	char *lf = malloc(sizeof(mixed_body)), *lf_headers;
	struct job crlf_job = { .headers = MIXED_HEADERS, .body = mixed_body,
	    .body_len = sizeof(mixed_body) - 1, .fd = -1 };
	struct job lf_job = { .fd = -1 };
	struct result r1, r2;
	struct detached d1, d2;

	(void)state;
	for (i = 0; i < sizeof(mixed_body) - 1; i++)
		if (mixed_body[i] != '\r')
			lf[lf_len++] = mixed_body[i];
	lf_headers = strdup(MIXED_HEADERS);
	lf_headers[strlen(lf_headers) - 2] = '\n';
	lf_headers[strlen(lf_headers) - 1] = '\0';
	lf_job.headers = lf_headers;
	lf_job.body = lf;
	lf_job.body_len = lf_len;
	sign_and_verify(&crlf_job, &r1, &d1);
	sign_and_verify(&lf_job, &r2, &d2);
	if (d1.part_len != d2.part_len || memcmp(d1.part, d2.part, d1.part_len) != 0)
		fail_msg("signed part from LF input: got %zu octets, want the %zu "
		    "of the CRLF input", d2.part_len, d1.part_len);
	detached_free(&d1);
	detached_free(&d2);
	result_free(&r1);
	result_free(&r2);
	free(lf);
	free(lf_headers);
}

/* One changed octet anywhere in the signed part breaks the signature. */
static void
test_sign_tamper(void **state)
{
	struct job j = { .headers = MIXED_HEADERS, .body = mixed_body,
	    .body_len = sizeof(mixed_body) - 1, .fd = -1 };
	struct result r;
	struct detached d;
	unsigned char *copy;
	size_t offsets[3], i;

	(void)state;
	sign_and_verify(&j, &r, &d);
	offsets[0] = 0;
	offsets[1] = d.part_len / 2;
	offsets[2] = d.part_len - 1;
	copy = malloc(d.part_len);
	for (i = 0; i < 3; i++) {
		memcpy(copy, d.part, d.part_len);
		copy[offsets[i]] ^= 0x01;
		if (verify_detached(copy, d.part_len, d.der, d.der_len))
			fail_msg("octet %zu changed: got a valid signature, want failure",
			    offsets[i]);
	}
	/* And one octet more or less. */
	assert_false(verify_detached(d.part, d.part_len - 1, d.der, d.der_len));
	free(copy);
	detached_free(&d);
	result_free(&r);
}

/* The SMIMECapabilities attribute of si lists want[], in that order. */
static void
assert_smimecaps(CMS_SignerInfo *si, const int *want, size_t nwant)
{
	int idx = CMS_signed_get_attr_by_NID(si, NID_SMIMECapabilities, -1);
	STACK_OF(X509_ALGOR) *got;
	const ASN1_OBJECT *obj;
	const unsigned char *q;
	ASN1_TYPE *val;
	size_t i;

	if (idx < 0)
		fail_msg("SMIMECapabilities: got none, want %zu entries", nwant);
	val = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, idx), 0);
	assert_int_equal(val->type, V_ASN1_SEQUENCE);
	q = val->value.sequence->data;
	got = d2i_X509_ALGORS(NULL, &q, val->value.sequence->length);
	assert_non_null(got);
	if ((size_t)sk_X509_ALGOR_num(got) != nwant)
		fail_msg("SMIMECapabilities: got %d entries, want %zu",
		    sk_X509_ALGOR_num(got), nwant);
	for (i = 0; i < nwant; i++) {
		X509_ALGOR_get0(&obj, NULL, NULL, sk_X509_ALGOR_value(got, (int)i));
		if (OBJ_obj2nid(obj) != want[i])
			fail_msg("SMIMECapabilities[%zu]: got %s, want %s", i,
			    OBJ_nid2sn(OBJ_obj2nid(obj)), OBJ_nid2sn(want[i]));
	}
	sk_X509_ALGOR_pop_free(got, X509_ALGOR_free);
}

/* The signed attributes and the certificates in the signature. */
static void
test_signature_contents(void **state)
{
	static const int want_caps[] = {
		NID_aes_256_gcm, NID_aes_128_gcm, NID_aes_256_cbc, NID_aes_128_cbc,
	};
	struct job j = { .headers = "Content-Type: text/plain\r\n", .body = "hi\r\n",
	    .fd = -1 };
	struct result r;
	struct detached d;
	const unsigned char *p;
	CMS_ContentInfo *cms;
	CMS_SignerInfo *si;
	STACK_OF(X509) *certs;
	X509_ALGOR *dig, *sig;
	const ASN1_OBJECT *obj;

	(void)state;
	sign_and_verify(&j, &r, &d);
	p = d.der;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)d.der_len);
	assert_non_null(cms);
	assert_int_equal(sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)), 1);
	si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sig);
	X509_ALGOR_get0(&obj, NULL, NULL, dig);
	if (OBJ_obj2nid(obj) != NID_sha256)
		fail_msg("digest: got %s, want sha256", OBJ_nid2sn(OBJ_obj2nid(obj)));
	assert_true(CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1) >= 0);
	assert_true(CMS_signed_get_attr_by_NID(si, NID_pkcs9_messageDigest, -1) >= 0);
	assert_smimecaps(si, want_caps, sizeof(want_caps) / sizeof(want_caps[0]));
	certs = CMS_get1_certs(cms);
	assert_non_null(certs);
	assert_int_equal(X509_cmp(sk_X509_value(certs, 0), pki.rsa_cert), 0);
	sk_X509_pop_free(certs, X509_free);
	CMS_ContentInfo_free(cms);
	detached_free(&d);
	result_free(&r);
}

/* An ECDSA P-256 signer, detached and opaque. */
static void
test_sign_ecdsa(void **state)
{
	struct job j = { .key = pki.ec_key, .cert = pki.ec_cert,
	    .headers = MIXED_HEADERS, .body = mixed_body,
	    .body_len = sizeof(mixed_body) - 1, .fd = -1 };
	struct result r;
	struct detached d;
	const unsigned char *p;
	CMS_ContentInfo *cms;
	X509_ALGOR *sig;
	const ASN1_OBJECT *obj;
	unsigned char *content;
	size_t len;

	(void)state;
	sign_and_verify(&j, &r, &d);
	p = d.der;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)d.der_len);
	CMS_SignerInfo_get0_algs(sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0),
	    NULL, NULL, NULL, &sig);
	X509_ALGOR_get0(&obj, NULL, NULL, sig);
	if (OBJ_obj2nid(obj) != NID_ecdsa_with_SHA256)
		fail_msg("signature algorithm: got %s, want ecdsa-with-SHA256",
		    OBJ_nid2sn(OBJ_obj2nid(obj)));
	CMS_ContentInfo_free(cms);
	detached_free(&d);
	result_free(&r);

	j.opaque = 1;
	run_ok(&j, &r);
	content = verify_opaque(&r, &len);
	if (content == NULL)
		fail_msg("opaque ECDSA signature: got failure, want success");
	free(content);
	result_free(&r);
}

/* Opaque: the SignedData holds the same canonical entity and verifies. */
static void
test_sign_opaque(void **state)
{
	struct job j = { .headers = MIXED_HEADERS, .body = mixed_body,
	    .body_len = sizeof(mixed_body) - 1, .fd = -1 };
	struct result r, rd;
	struct detached d;
	unsigned char *content;
	size_t len;
	const char *why;

	(void)state;
	sign_and_verify(&j, &rd, &d);
	j.opaque = 1;
	run_ok(&j, &r);
	assert_int_equal(r.nheaders, 4);
	assert_string_equal(result_header(&r, "MIME-Version"), "1.0");
	assert_string_equal(result_header(&r, "Content-Type"),
	    "application/pkcs7-mime; smime-type=signed-data; name=smime.p7m");
	assert_string_equal(result_header(&r, "Content-Transfer-Encoding"), "base64");
	assert_string_equal(result_header(&r, "Content-Disposition"),
	    "attachment; filename=smime.p7m");
	if ((why = sevenbit_problem(r.body.p, r.body.len)) != NULL)
		fail_msg("opaque body has %s, want 7-bit CRLF base64", why);
	content = verify_opaque(&r, &len);
	if (content == NULL)
		fail_msg("opaque signature: got failure, want success");
	if (len != d.part_len || memcmp(content, d.part, len) != 0)
		fail_msg("opaque content: got %zu octets, want the %zu of the "
		    "detached part", len, d.part_len);
	assert_canonical(content, len);
	free(content);
	detached_free(&d);
	result_free(&rd);
	result_free(&r);
}

/* ---- large bodies from a file ---- */

/* Deleted files of ours held open by this process (spools on disk). */
static int
count_open_spools(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;
	int count = 0;

	if (dir == NULL)
		return -1;
	while ((e = readdir(dir)) != NULL) {
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, pki.tmpdir, strlen(pki.tmpdir)) == 0 &&
		    strstr(target, "/smimegate.") != NULL &&
		    strstr(target, "(deleted)") != NULL)
			count++;
	}
	closedir(dir);
	return count;
}

static int
count_dir_entries(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *e;
	int count = 0;

	assert_non_null(dir);
	while ((e = readdir(dir)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			count++;
	closedir(dir);
	return count;
}

struct spy {
	struct buf out;
	int calls;
	int spools;             /* open unlinked spools seen at the first call */
	int entries;            /* files in the tmpdir at the first call */
};

static int
spy_write(void *arg, const void *data, size_t len)
{
	struct spy *spy = arg;

	if (spy->calls++ == 0) {
		spy->spools = count_open_spools();
		spy->entries = count_dir_entries(pki.tmpdir);
	}
	return buf_write(&spy->out, data, len);
}

/* A few MB: 8-bit text lines and a base64 attachment, CRLF or LF. */
static char *
make_big_body(size_t *len, int crlf)
{
	const char *nl = crlf ? "\r\n" : "\n";
	size_t cap = 6u * 1024 * 1024, n = 0, i;
	char *b = malloc(cap);

	assert_non_null(b);
	n += (size_t)sprintf(b + n, "--big%sContent-Type: text/plain; charset=utf-8%s"
	    "Content-Transfer-Encoding: 8bit%s%s", nl, nl, nl, nl);
	for (i = 0; i < 40000; i++)
		n += (size_t)sprintf(b + n, "line %zu: gr\xc3\xbc\xc3\x9f" "e, "
		    "with some ASCII to go with it%s", i, nl);
	n += (size_t)sprintf(b + n, "--big%sContent-Type: application/octet-stream%s"
	    "Content-Transfer-Encoding: base64%s%s", nl, nl, nl, nl);
	for (i = 0; i < 25000; i++)
		n += (size_t)sprintf(b + n, "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZn"
		    "aGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODkrLw==%s", nl);
	n += (size_t)sprintf(b + n, "--big--%s", nl);
	*len = n;
	return b;
}

/* The body from a file, spooled to disk, gives what the body in memory does. */
static void
test_sign_from_fd(void **state)
{
	static const char headers[] = "Content-Type: multipart/mixed; boundary=big\r\n";
	size_t len_crlf, len_lf;
	char *crlf = make_big_body(&len_crlf, 1), *lf = make_big_body(&len_lf, 0);
	char path[PATH_MAX];
	struct job mem_job = { .headers = headers, .body = crlf, .body_len = len_crlf,
	    .fd = -1 };
	struct job fd_job = { .headers = headers, .mem_max = 64 * 1024,
	    .writer = spy_write };
	struct result rm, rf;
	struct detached dm, df;
	struct spy spy = { { NULL, 0, 0 }, 0, 0, 0 };
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/body-lf", pki.tmpdir);
	assert_int_equal(unit_write_file(path, lf, len_lf, 0600), 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(lseek(fd, 12345, SEEK_SET), 12345);   /* read from 0 anyway */
	sign_and_verify(&mem_job, &rm, &dm);

	fd_job.fd = fd;
	fd_job.writer_arg = &spy;
	run_ok(&fd_job, &rf);
	rf.body = spy.out;
	split_detached(&rf, &df);
	if (spy.spools < 1)
		fail_msg("spools on disk while writing: got %d, want >= 1", spy.spools);
	if (spy.entries != 1)
		fail_msg("files in the tmpdir while writing: got %d, want 1 (the body; "
		    "spools are unlinked)", spy.entries);
	if (count_open_spools() != 0)
		fail_msg("spools open after the job: got %d, want 0", count_open_spools());
	if (df.part_len != dm.part_len || memcmp(df.part, dm.part, dm.part_len) != 0)
		fail_msg("signed part from the file: got %zu octets, want the %zu "
		    "from memory", df.part_len, dm.part_len);
	assert_true(verify_detached(df.part, df.part_len, df.der, df.der_len));
	assert_true(dm.part_len > 4u * 1024 * 1024);
	assert_leaf(dm.part, dm.part_len, 0, "text/plain", QP_OR_B64,
	    strstr(lf, "line 0:"), (size_t)(strstr(lf, "\n--big\n") - strstr(lf, "line 0:")));

	/* Opaque from the file too. */
	{
		struct job oj = fd_job;
		struct result ro;
		unsigned char *content;
		size_t clen;

		oj.opaque = 1;
		oj.writer = NULL;
		run_ok(&oj, &ro);
		content = verify_opaque(&ro, &clen);
		assert_non_null(content);
		assert_true(clen == dm.part_len && memcmp(content, dm.part, clen) == 0);
		free(content);
		result_free(&ro);
	}
	close(fd);
	unlink(path);
	detached_free(&dm);
	detached_free(&df);
	result_free(&rm);
	result_free(&rf);
	free(crlf);
	free(lf);
}

/* ---- failures ---- */

struct failing {
	size_t left;            /* octets accepted before failing */
};

static int
failing_write(void *arg, const void *data, size_t len)
{
	struct failing *f = arg;

	(void)data;
	if (len > f->left)
		return -1;
	f->left -= len;
	return 0;
}

static void
test_sign_errors(void **state)
{
	smime_sign_t *s = smime_sign_new();
	smime_body_t body = { (const unsigned char *)"x\n", 2, -1 };
	struct buf out = { NULL, 0, 0 };
	smime_status_t st;

	(void)state;
	st = smime_sign_run(s, NULL, &body, buf_write, &out);
	if (st != SMIME_ERR_USAGE)
		fail_msg("no signer: got %d, want SMIME_ERR_USAGE", st);
	assert_non_null(strstr(smime_sign_error(s), "signer"));
	assert_int_equal(smime_sign_nheaders(s), 0);

	st = smime_sign_set_signer(s, pki.other_key, pki.rsa_cert, NULL);
	if (st != SMIME_ERR_USAGE)
		fail_msg("mismatched key: got %d, want SMIME_ERR_USAGE", st);
	assert_int_equal(ERR_peek_error(), 0);
	assert_int_equal(smime_sign_set_signer(s, pki.rsa_key, pki.rsa_cert, NULL),
	    SMIME_OK);

	st = smime_sign_run(s, "Content-Type: text/plain\r\n\r\nX-Oops: 1\r\n",
	    &body, buf_write, &out);
	if (st != SMIME_ERR_USAGE)
		fail_msg("headers with an empty line: got %d, want SMIME_ERR_USAGE", st);

	st = smime_sign_run(s, NULL, NULL, buf_write, &out);
	assert_int_equal(st, SMIME_ERR_USAGE);

	body.mem = NULL;
	body.fd = 1000;                 /* not open */
	st = smime_sign_run(s, NULL, &body, buf_write, &out);
	if (st != SMIME_ERR_IO)
		fail_msg("unreadable fd: got %d (%s), want SMIME_ERR_IO", st,
		    smime_sign_error(s));

	smime_sign_set_tmpdir(s, "/nonexistent/dir", 0);
	body.mem = (const unsigned char *)"x\n";
	st = smime_sign_run(s, NULL, &body, buf_write, &out);
	if (st != SMIME_ERR_IO)
		fail_msg("bad tmpdir: got %d (%s), want SMIME_ERR_IO", st,
		    smime_sign_error(s));
	assert_non_null(strstr(smime_sign_error(s), "temporary"));
	smime_sign_free(s);
	buf_free(&out);
	assert_int_equal(smime_sign_run(NULL, NULL, &body, buf_write, &out),
	    SMIME_ERR_USAGE);
	smime_sign_free(NULL);
}

/* The writer failing, early or late, detached or opaque: SMIME_ERR_IO. */
static void
test_sign_writer_fails(void **state)
{
	static const size_t after[] = { 0, 10, 200, 2000 };
	size_t i;
	int opaque;

	(void)state;
	for (opaque = 0; opaque < 2; opaque++) {
		for (i = 0; i < sizeof(after) / sizeof(after[0]); i++) {
			struct failing f = { after[i] };
			struct job j = { .opaque = opaque, .headers = MIXED_HEADERS,
			    .body = mixed_body, .body_len = sizeof(mixed_body) - 1,
			    .fd = -1, .writer = failing_write, .writer_arg = &f };
			struct result r;

			run_job(&j, &r);
			if (r.status != SMIME_ERR_IO)
				fail_msg("%s, writer fails after %zu: got %d (%s), want "
				    "SMIME_ERR_IO", opaque ? "opaque" : "detached",
				    after[i], r.status, r.error);
			assert_int_equal(r.nheaders, 0);
			result_free(&r);
		}
	}
}

/* Malformed MIME never crashes: a valid signature or SMIME_ERR_INPUT. */
static void
test_sign_malformed(void **state)
{
	static const struct {
		const char *name;
		const char *headers;
		const char *body;
		size_t len;
	} t[] = {
		{ "multipart without boundary parameter",
		  "Content-Type: multipart/mixed\r\n", "--x\r\n\r\nhi\r\n--x--\r\n", 0 },
		{ "multipart whose boundary never comes",
		  "Content-Type: multipart/mixed; boundary=nope\r\n", "just text\r\n", 0 },
		{ "unterminated multipart",
		  "Content-Type: multipart/mixed; boundary=b\r\n",
		  "--b\r\nContent-Type: text/plain\r\n\r\nca\xc3\xa9", 0 },
		{ "garbage Content-Type", "Content-Type: ;;;==\"\r\n", "hi\r\n", 0 },
		{ "binary body, NULs", "Content-Type: text/plain\r\n",
		  "\x00\x01\x02\xff\r\n\x00", 6 },
		{ "bad base64", "Content-Type: text/plain\r\n"
		  "Content-Transfer-Encoding: base64\r\n", "!!!not base64\x80\x81\r\n", 0 },
		{ "header without colon", "Content-Type text/plain\r\n", "hi\r\n", 0 },
		{ "8-bit folded header",
		  "Content-Type: text/plain;\r\n\tname=\"r\xc3\xa9sum\xc3\xa9.txt\"\r\n",
		  "hi\r\n", 0 },
		{ "empty body", "Content-Type: text/plain\r\n", "", 0 },
		{ "lone CRs", "Content-Type: text/plain\r\n", "a\rb\r\rc\r\n\r", 0 },
		{ "headers without final newline", "Content-Type: text/plain", "hi\n", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct job j = { .headers = t[i].headers, .body = t[i].body,
		    .body_len = t[i].len, .fd = -1 };
		struct result r;
		struct detached d;

		print_message("case: %s\n", t[i].name);
		run_job(&j, &r);
		if (r.status == SMIME_OK) {
			result_free(&r);
			sign_and_verify(&j, &r, &d);
			detached_free(&d);
		} else if (r.status != SMIME_ERR_INPUT) {
			fail_msg("%s: got %d (%s), want SMIME_OK or SMIME_ERR_INPUT",
			    t[i].name, r.status, r.error);
		}
		result_free(&r);
	}
}

/* Nesting past the limit is refused, not recursed into. */
static void
test_sign_deep_nesting(void **state)
{
	static const struct {
		int depth;
		smime_status_t want;
	} t[] = { { 10, SMIME_OK }, { 70, SMIME_ERR_LIMIT }, { 1000, SMIME_ERR_LIMIT } };
	size_t i;
	int k;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		GString *b = g_string_new("");
		struct job j = { .headers = "Content-Type: multipart/mixed; boundary=b0\r\n",
		    .fd = -1 };
		struct result r;

		for (k = 1; k < t[i].depth; k++)
			g_string_append_printf(b, "--b%d\r\nContent-Type: multipart/mixed; "
			    "boundary=b%d\r\n\r\n", k - 1, k);
		g_string_append_printf(b, "--b%d\r\nContent-Type: text/plain\r\n\r\nhi\r\n",
		    t[i].depth - 1);
		j.body = b->str;
		run_job(&j, &r);
		if (r.status != t[i].want)
			fail_msg("depth %d: got %d (%s), want %d", t[i].depth, r.status,
			    r.error, t[i].want);
		result_free(&r);
		g_string_free(b, TRUE);
	}
}

/* ---- the openssl command line, once ---- */

static void
test_openssl_cli(void **state)
{
	struct job j = { .key = pki.ec_key, .cert = pki.ec_cert,
	    .headers = MIXED_HEADERS, .body = mixed_body,
	    .body_len = sizeof(mixed_body) - 1, .fd = -1 };
	struct result r;
	char ca_path[PATH_MAX], msg_path[PATH_MAX], cmd[3 * PATH_MAX];
	FILE *fp;
	size_t i;
	int rc, opaque;
	unsigned char *flip;

	(void)state;
	if (access("/usr/bin/openssl", X_OK) != 0)
		skip();
	snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", pki.tmpdir);
	fp = fopen(ca_path, "w");
	assert_non_null(fp);
	PEM_write_X509(fp, pki.ca);
	fclose(fp);
	for (opaque = 0; opaque < 2; opaque++) {
		j.opaque = opaque;
		run_ok(&j, &r);
		snprintf(msg_path, sizeof(msg_path), "%s/msg.eml", pki.tmpdir);
		fp = fopen(msg_path, "w");
		assert_non_null(fp);
		fprintf(fp, "From: bob@example.org\r\nTo: carol@example.org\r\n"
		    "Subject: test\r\n");
		for (i = 0; i < r.nheaders; i++)
			fprintf(fp, "%s: %s\r\n", r.name[i], r.value[i]);
		fprintf(fp, "\r\n");
		fwrite(r.body.p, 1, r.body.len, fp);
		fclose(fp);
		snprintf(cmd, sizeof(cmd), "openssl cms -verify -CAfile %s -in %s "
		    "-out /dev/null 2>/dev/null", ca_path, msg_path);
		rc = system(cmd);
		if (rc != 0)
			fail_msg("%s: openssl cms -verify: got exit status %d, want 0",
			    opaque ? "opaque" : "detached", rc);
		if (!opaque) {
			/* Change one octet of the signed text: must fail. */
			flip = (unsigned char *)strstr((char *)r.body.p, "Sch=C3=B6ne");
			if (flip == NULL)
				flip = (unsigned char *)strstr((char *)r.body.p, "multipart/alternative");
			assert_non_null(flip);
			flip[0] ^= 0x20;
			fp = fopen(msg_path, "w");
			fprintf(fp, "From: bob@example.org\r\n");
			for (i = 0; i < r.nheaders; i++)
				fprintf(fp, "%s: %s\r\n", r.name[i], r.value[i]);
			fprintf(fp, "\r\n");
			fwrite(r.body.p, 1, r.body.len, fp);
			fclose(fp);
			rc = system(cmd);
			if (rc == 0)
				fail_msg("tampered: openssl cms -verify: got 0, want failure");
		}
		result_free(&r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_calendar_find),
		cmocka_unit_test(test_sign_plain_ascii),
		cmocka_unit_test(test_signature_lines),
		cmocka_unit_test(test_sign_utf8),
		cmocka_unit_test(test_sign_no_headers),
		cmocka_unit_test(test_sign_multipart),
		cmocka_unit_test(test_sign_message_rfc822),
		cmocka_unit_test(test_sign_long_line),
		cmocka_unit_test(test_sign_mislabelled),
		cmocka_unit_test(test_sign_base64_long_line),
		cmocka_unit_test(test_sign_lf_crlf_same),
		cmocka_unit_test(test_sign_tamper),
		cmocka_unit_test(test_signature_contents),
		cmocka_unit_test(test_sign_ecdsa),
		cmocka_unit_test(test_sign_opaque),
		cmocka_unit_test(test_sign_from_fd),
		cmocka_unit_test(test_sign_errors),
		cmocka_unit_test(test_sign_writer_fails),
		cmocka_unit_test(test_sign_malformed),
		cmocka_unit_test(test_sign_deep_nesting),
		cmocka_unit_test(test_openssl_cli),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
