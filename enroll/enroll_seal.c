/*
 * enroll_seal.c: sign and encrypt one of the gateway's own mails (see
 * enroll_seal.h), in memory: the mails are a few KB.  Plaintext buffers
 * (the signed entity) grow through buf_add(), which cleanses what it
 * leaves behind.
 */
#include "enroll/enroll_seal.h"
#include "smime/smime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>

#define SEAL_MAX (4u * 1024 * 1024)   /* the gateway's mails are small */

typedef struct buf {
	char *p;
	size_t len, cap;
} buf_t;

/* Appends; a grown buffer is copied and the old one cleansed. */
static int
buf_add(buf_t *b, const void *data, size_t n)
{
	if (n > SEAL_MAX - b->len)
		return -1;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = malloc(cap);

		if (p == NULL)
			return -1;
		if (b->p != NULL) {
			memcpy(p, b->p, b->len);
			OPENSSL_clear_free(b->p, b->cap);
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int
buf_write(void *arg, const void *data, size_t n)
{
	return buf_add(arg, data, n);
}

static void
buf_clear(buf_t *b)
{
	if (b->p != NULL)
		OPENSSL_clear_free(b->p, b->cap);
	memset(b, 0, sizeof(*b));
}

/* Splits the header block [h, end) into content headers (Content-*,
 * MIME-Version is dropped: the result lists its own) and the rest, each
 * line with its folded continuation lines. */
static int
split_headers(const char *h, const char *end, buf_t *content, buf_t *rest)
{
	int ret = 0;

	while (h < end && ret == 0) {
		const char *e = h;

		do {        /* one header with its continuation lines */
			const char *nl = memchr(e, '\n', (size_t)(end - e));
			e = nl != NULL ? nl + 1 : end;
		} while (e < end && (*e == ' ' || *e == '\t'));
		if (strncasecmp(h, "Content-", 8) == 0)
			ret = buf_add(content, h, (size_t)(e - h));
		else if (strncasecmp(h, "MIME-Version:", 13) != 0)
			ret = buf_add(rest, h, (size_t)(e - h));
		h = e;
	}
	return ret;
}

/* "Name: value\r\n" for each header a job lists. */
static int
add_listed(buf_t *b, size_t n, const char *(*name)(const void *, size_t),
    const char *(*value)(const void *, size_t), const void *job)
{
	for (size_t i = 0; i < n; i++) {
		const char *nm = name(job, i), *v = value(job, i);

		if (buf_add(b, nm, strlen(nm)) != 0 || buf_add(b, ": ", 2) != 0
		    || buf_add(b, v, strlen(v)) != 0 || buf_add(b, "\r\n", 2) != 0)
			return -1;
	}
	return 0;
}

static const char *s_name(const void *j, size_t i) { return smime_sign_header_name(j, i); }
static const char *s_value(const void *j, size_t i) { return smime_sign_header_value(j, i); }
static const char *e_name(const void *j, size_t i) { return smime_encrypt_header_name(j, i); }
static const char *e_value(const void *j, size_t i) { return smime_encrypt_header_value(j, i); }

/* Signs content headers + body into *signed_ (its headers in *sh). */
static int
seal_sign(const buf_t *content, const smime_body_t *body, EVP_PKEY *key, X509 *signer,
    STACK_OF(X509) *chain, buf_t *sh, buf_t *out, char *why, size_t size)
{
	smime_sign_t *s = smime_sign_new();
	smime_status_t st = SMIME_ERR_NOMEM;

	if (s != NULL && (st = smime_sign_set_signer(s, key, signer, chain)) == SMIME_OK)
		st = smime_sign_run(s, content->p, body, buf_write, out);
	if (st == SMIME_OK && add_listed(sh, smime_sign_nheaders(s), s_name, s_value, s) != 0)
		st = SMIME_ERR_NOMEM;
	if (st != SMIME_OK)
		snprintf(why, size, "signing: %s", s ? smime_sign_error(s) : "out of memory");
	smime_sign_free(s);
	return st == SMIME_OK ? 0 : -1;
}

char *
enroll_seal(const char *msg, X509 *to, EVP_PKEY *key, X509 *signer,
    STACK_OF(X509) *chain, char *why, size_t size)
{
	const char *sep = strstr(msg, "\r\n\r\n");
	buf_t content = { 0 }, rest = { 0 }, sh = { 0 }, sig = { 0 }, out = { 0 }, enc = { 0 };
	smime_body_t body = { NULL, 0, -1 };
	smime_encrypt_t *e = NULL;
	smime_status_t st = SMIME_ERR_NOMEM;
	char *res = NULL;
	int sign = key != NULL && signer != NULL;

	if (sep == NULL) {
		snprintf(why, size, "no header block");
		return NULL;
	}
	body.mem = (const unsigned char *)sep + 4;
	body.len = strlen(sep + 4);
	if (split_headers(msg, sep + 2, &content, &rest) != 0 || buf_add(&content, "", 0) != 0) {
		snprintf(why, size, "out of memory");
		goto done;
	}
	if (sign && seal_sign(&content, &body, key, signer, chain, &sh, &sig, why, size) != 0)
		goto done;
	if (sign) {
		body.mem = (const unsigned char *)sig.p;
		body.len = sig.len;
	}
	if ((e = smime_encrypt_new()) != NULL
	    && (st = smime_encrypt_add_recipient(e, to)) == SMIME_OK)
		st = smime_encrypt_run(e, sign ? sh.p : content.p, &body, sign, buf_write, &enc);
	if (st != SMIME_OK) {
		snprintf(why, size, "encryption: %s", e ? smime_encrypt_error(e) : "out of memory");
		goto done;
	}
	if (buf_add(&out, rest.p ? rest.p : "", rest.len) == 0
	    && add_listed(&out, smime_encrypt_nheaders(e), e_name, e_value, e) == 0
	    && buf_add(&out, "\r\n", 2) == 0 && buf_add(&out, enc.p ? enc.p : "", enc.len) == 0) {
		res = strdup(out.p);
	}
	if (res == NULL)
		snprintf(why, size, "out of memory");
done:
	smime_encrypt_free(e);
	buf_clear(&content);
	buf_clear(&rest);
	buf_clear(&sh);
	buf_clear(&sig);
	buf_clear(&out);
	buf_clear(&enc);
	return res;
}

char *
enroll_sign(const char *msg, EVP_PKEY *key, X509 *signer, STACK_OF(X509) *chain,
    char *why, size_t size)
{
	const char *sep = strstr(msg, "\r\n\r\n");
	buf_t content = { 0 }, rest = { 0 }, sh = { 0 }, sig = { 0 }, out = { 0 };
	smime_body_t body = { NULL, 0, -1 };
	char *res = NULL;

	if (sep == NULL) {
		snprintf(why, size, "no header block");
		return NULL;
	}
	body.mem = (const unsigned char *)sep + 4;
	body.len = strlen(sep + 4);
	if (split_headers(msg, sep + 2, &content, &rest) != 0 || buf_add(&content, "", 0) != 0)
		snprintf(why, size, "out of memory");
	else if (seal_sign(&content, &body, key, signer, chain, &sh, &sig, why, size) == 0
	    && (buf_add(&out, rest.p ? rest.p : "", rest.len) != 0
	    || buf_add(&out, sh.p ? sh.p : "", sh.len) != 0 || buf_add(&out, "\r\n", 2) != 0
	    || buf_add(&out, sig.p ? sig.p : "", sig.len) != 0 || (res = strdup(out.p)) == NULL))
		snprintf(why, size, "out of memory");
	buf_clear(&content);
	buf_clear(&rest);
	buf_clear(&sh);
	buf_clear(&sig);
	buf_clear(&out);
	return res;
}
