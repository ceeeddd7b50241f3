/*
 * enroll_lookup.c: GET /certs, the public-key retrieval service (see
 * enroll_lookup.h): the query read with evhttp's parser, the
 * certificates chosen by the keystore (keystore_public_certs()), the
 * revoked ones left out (ca_revoked()), the answer written as PEM or as
 * a certs-only PKCS#7 (smime_certs_only()).
 *
 * Threads: the server's thread only; no state of its own.
 */
#include "enroll/enroll_lookup.h"
#include "smime/smime.h"

#include <stdio.h>
#include <string.h>
#include <sys/queue.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/pem.h>

#define LOOKUP_MAX_ADDRESS 320         /* RFC 5321's path limits */

enum lookup_format { LOOKUP_PEM, LOOKUP_P7C };

static void
lookup_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);

	/* Nothing of a body begun before a failure goes out. */
	evbuffer_drain(out, evbuffer_get_length(out));
	evhttp_remove_header(oh, "Content-Type");
	evhttp_add_header(oh, "Content-Type", "text/plain; charset=utf-8");
	evbuffer_add_printf(out, "%s\n", text);
	evhttp_send_reply(req, code, reason, NULL);
}

/* mail and format from the query into addr; 0, or -1 when unusable. */
static int
lookup_query(struct evhttp_request *req, char *addr, size_t size,
    enum lookup_format *fmt)
{
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	const char *m, *f;
	struct evkeyvalq kv;
	int rc = -1;

	TAILQ_INIT(&kv);
	if (q == NULL || evhttp_parse_query_str(q, &kv) != 0)
		goto out;
	m = evhttp_find_header(&kv, "mail");
	f = evhttp_find_header(&kv, "format");
	if (f == NULL || strcmp(f, "pem") == 0)
		*fmt = LOOKUP_PEM;
	else if (strcmp(f, "p7c") == 0)
		*fmt = LOOKUP_P7C;
	else
		goto out;
	if (m == NULL || strlen(m) > LOOKUP_MAX_ADDRESS || strchr(m, '@') == NULL)
		goto out;
	for (const unsigned char *p = (const unsigned char *)m; *p; p++)
		if (*p < 0x21 || *p == 0x7f)
			goto out;
	snprintf(addr, size, "%s", m);
	rc = 0;
out:
	evhttp_clear_headers(&kv);
	return rc;
}

/* Drops the certificates ca revoked; 0, or -1 when it cannot tell. */
static int
drop_revoked(ca_t *ca, STACK_OF(X509) *certs)
{
	for (int i = sk_X509_num(certs) - 1; ca != NULL && i >= 0; i--) {
		int r = ca_revoked(ca, sk_X509_value(certs, i));

		if (r < 0)
			return -1;
		if (r > 0)
			X509_free(sk_X509_delete(certs, i));
	}
	return 0;
}

/* certs then chain, as the body in fmt; 0 or -1. */
static int
lookup_body(struct evhttp_request *req, STACK_OF(X509) *certs,
    STACK_OF(X509) *chain, enum lookup_format fmt)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	unsigned char *der = NULL;
	size_t len = 0;
	BIO *b;
	char *p;
	long n;

	for (int i = 0; i < sk_X509_num(chain); i++)
		if (!sk_X509_push(certs, sk_X509_value(chain, i)))
			return -1;
		else
			X509_up_ref(sk_X509_value(chain, i));
	if (fmt == LOOKUP_P7C) {
		if (smime_certs_only(certs, &der, &len) != 0)
			return -1;
		evhttp_add_header(oh, "Content-Type",
		    "application/pkcs7-mime; smime-type=certs-only; name=\"smime.p7c\"");
		evbuffer_add(out, der, len);
		OPENSSL_free(der);
		return 0;
	}
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return -1;
	for (int i = 0; i < sk_X509_num(certs); i++)
		if (!PEM_write_bio_X509(b, sk_X509_value(certs, i))) {
			BIO_free(b);
			return -1;
		}
	n = BIO_get_mem_data(b, &p);
	evhttp_add_header(oh, "Content-Type", "application/pem-certificate-chain");
	evbuffer_add(out, p, (size_t)n);
	BIO_free(b);
	return 0;
}

void
enroll_lookup_answer(struct evhttp_request *req, keystore_t *ks, ca_t *ca)
{
	STACK_OF(X509) *certs = NULL, *chain = NULL;
	char addr[LOOKUP_MAX_ADDRESS + 1];
	enum lookup_format fmt;
	keystore_err_t err;
	keystore_status_t rc;

	if (lookup_query(req, addr, sizeof(addr), &fmt) != 0) {
		lookup_text(req, HTTP_BADREQUEST, "Bad Request",
		    "Ask for /certs?mail=ADDRESS (format=pem or format=p7c).");
		return;
	}
	rc = ks != NULL ? keystore_public_certs(ks, addr, &certs, &chain, &err)
	    : KEYSTORE_NOTFOUND;
	if (rc == KEYSTORE_OK && drop_revoked(ca, certs) != 0)
		rc = KEYSTORE_ERR_IO;
	if (rc == KEYSTORE_OK && sk_X509_num(certs) == 0)
		rc = KEYSTORE_NOTFOUND;
	if (rc == KEYSTORE_NOTFOUND)
		lookup_text(req, HTTP_NOTFOUND, "Not Found", "No certificate for that address.");
	else if (rc != KEYSTORE_OK || lookup_body(req, certs, chain, fmt) != 0)
		lookup_text(req, 503, "Service Unavailable", "Please try again later.");
	else
		evhttp_send_reply(req, HTTP_OK, "OK", NULL);
	sk_X509_pop_free(certs, X509_free);
	sk_X509_pop_free(chain, X509_free);
}
