/*
 * ca_serve.c: the embedded CA in the gateway (see ca_serve.h): settings,
 * first-start creation, issuing (the CA or CMP) and publishing, and the
 * handlers of the CAHTTPListen server (net_http.h) for the CRL, the
 * issuer certificate and OCSP (POST /ocsp, GET /ocsp/BASE64: RFC 6960
 * appendix A; the answer is ca_ocsp_respond()'s), with the handler the
 * gateway adds (the pickup portal).  Everything the handlers and the CRL timer touch (the CRL
 * buffer, the added handler's state) belongs to that server's loop
 * thread.
 */
#include "ca/ca_serve.h"
#include "ca/ca_cmp.h"
#include "ops/ops_audit.h"
#include "directory/dir_harvest.h"
#include "directory/dir_lookup.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#define CMP_SECRET_MAX 511            /* octets: CMPSecretFile */

struct ca_serve_http {
	ca_t *ca;
	net_httplimit_t *limit;        /* ca_serve_attach()'s only */
	struct event *timer;           /* the CRL's, on the server's loop */
	unsigned char *crl, *crt, *root; /* DER: CRL, issuing CA, root */
	size_t crl_len, crt_len, root_len;
	char crl_path[4096];           /* CADirectory/crl.der */
	long ocsp_next;                /* seconds: an OCSP answer's nextUpdate */
	ca_serve_handler_t handler;    /* the gateway's (the pickup portal) */
	void *handler_arg;
};

void
ca_serve_settings(const conf_t *c, ca_settings_t *s)
{
	memset(s, 0, sizeof(*s));
	s->dir = c->ca_dir;
	s->key_type = (ca_keytype_t)c->ca_key_type;
	s->days = (long)c->ca_days;
	s->ca_days = (long)c->ca_root_days;
	s->crl_days = (long)c->ca_crl_days;
	s->subject = c->ca_subject;
	s->crl_url = c->ca_crl_url;
	s->issuer_url = c->ca_issuer_url;
	s->ocsp_url = c->ca_ocsp_url;
}

ca_t *
ca_serve_open(const conf_t *conf, keystore_t *ks, char *why, size_t size)
{
	ca_settings_t s;
	keystore_err_t err;
	ca_t *ca;

	keystore_err_t ierr;
	keystore_status_t irc;

	ca_serve_settings(conf, &s);
	/* Two gateways of one directory starting at once both find no CA:
	 * one makes it, the other's ca_init() says it exists and it opens
	 * the first one's. */
	if ((ca = ca_open(ks, &s, &err)) == NULL && err.code == KEYSTORE_NOTFOUND) {
		irc = ca_init(ks, &s, &ierr);
		if ((irc == KEYSTORE_OK || (irc == KEYSTORE_ERR_INPUT && keystore_shared(ks)))
		    && (ca = ca_open(ks, &s, &err)) == NULL && irc != KEYSTORE_OK)
			err = ierr;
		else if (irc != KEYSTORE_OK && ca == NULL)
			err = ierr;
	}
	if (ca == NULL)
		snprintf(why, size, "CA: %s", err.msg);
	return ca;
}

int
ca_serve_publish(const conf_t *conf, const char *address, X509 *cert,
    char *why, size_t size)
{
	struct dir_harvest *h = conf->lookup ? dir_lookup_harvest(conf->lookup) : NULL;

	if (h == NULL) {
		snprintf(why, size, "no harvest store to publish to");
		return -1;
	}
	if (dir_harvest_put(h, address, cert, NULL, 0, time(NULL), why, size) != 0)
		return -1;
	return dir_lookup_flush(conf->lookup, address, why, size);
}

/* The audit record of a certificate just issued (*cert, which is
 * dropped when the record cannot be written: the caller fails). */
static int
issued_audit(const conf_t *conf, const char *address, ca_profile_t profile,
    X509 **cert, char *why, size_t size)
{
	static const char *const names[] = { "sign", "encrypt", "external" };
	char reason[600];

	if (*conf->cmp_server != '\0')
		snprintf(reason, sizeof(reason), "issued over CMP by %s", conf->cmp_server);
	else
		snprintf(reason, sizeof(reason), "issued by the embedded CA, profile %s",
		    names[profile]);
	if (ca_serve_key_event(conf, AUDIT_CERT_ISSUED, address, cert ? *cert : NULL,
	    reason, why, size) == 0)
		return 0;
	if (cert != NULL) {
		X509_free(*cert);
		*cert = NULL;
	}
	return -1;
}

int
ca_serve_key_event(const conf_t *conf, audit_action_t action,
    const char *address, X509 *cert, const char *reason, char *why, size_t size)
{
	ops_key_event_t ev = { action, address, cert, NULL, NULL, NULL, reason };

	return ops_audit_key_event(conf, &ev, why, size);
}

int
ca_serve_cmp_settings(const conf_t *conf, int secret, ca_cmp_settings_t *s,
    char *why, size_t size)
{
	char *sec = NULL, msg[600];

	memset(s, 0, sizeof(*s));
	s->server = conf->cmp_server;
	s->path = conf->cmp_path;
	s->reference = conf->cmp_reference;
	s->subject = conf->ca_subject;
	s->key_type = (ca_keytype_t)conf->ca_key_type;
	s->timeout = (int)conf->cmp_timeout;
	/* CMPSecretFile's first line (no symbolic link, owner us or root, 0600). */
	if (secret && util_secret_read_line(conf->cmp_secret_file, CMP_SECRET_MAX, &sec,
	    msg, sizeof(msg)) != 0) {
		snprintf(why, size, "CMPSecretFile %s", msg);
		return -1;
	}
	s->secret = sec;
	return 0;
}

void
ca_serve_cmp_done(ca_cmp_settings_t *s)
{
	if (s->secret != NULL)
		util_secret_free((char *)s->secret, strlen(s->secret));
	s->secret = NULL;
}

int
ca_serve_issue(const conf_t *conf, ca_t *ca, keystore_t *ks,
    const char *address, ca_profile_t profile, EVP_PKEY *key, X509 **cert,
    char *why, size_t size)
{
	keystore_err_t err;
	ca_cmp_settings_t s;
	keystore_status_t rc;

	if (*conf->cmp_server == '\0') {
		if (ca == NULL) {
			snprintf(why, size, "no CA");
			return -1;
		}
		rc = ca_issue(ca, address, profile, cert, &err);
	} else {
		if (ca_serve_cmp_settings(conf, 1, &s, why, size) != 0)
			return -1;
		rc = ca_cmp_enroll(ks, &s, address, key, cert, &err);
		ca_serve_cmp_done(&s);
	}
	if (rc != KEYSTORE_OK) {
		snprintf(why, size, "%s", err.msg);
		return -1;
	}
	return issued_audit(conf, address, profile, cert, why, size);
}

/* Re-issues the CRL (timer callback; also at start). */
static void
http_crl(evutil_socket_t fd, short what, void *arg)
{
	ca_serve_http_t *h = arg;
	keystore_err_t err;
	unsigned char *der;
	size_t len;

	if (ca_crl(h->ca, &der, &len, &err) != KEYSTORE_OK)
		return;                /* keep serving the last one until nextUpdate */
	OPENSSL_free(h->crl);
	h->crl = der;
	h->crl_len = len;
}

/* The CRL as stored last (smimectl ca revoke writes one too); keeps the
 * one in memory when the file cannot be read.  0 when there is one. */
static int
http_crl_file(ca_serve_http_t *h)
{
	FILE *fp = fopen(h->crl_path, "rb");
	unsigned char *buf = NULL;
	long n = -1;

	if (fp != NULL && fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) > 0
	    && n < 64L * 1024 * 1024 && fseek(fp, 0, SEEK_SET) == 0
	    && (buf = OPENSSL_malloc((size_t)n)) != NULL
	    && fread(buf, 1, (size_t)n, fp) == (size_t)n) {
		OPENSSL_free(h->crl);
		h->crl = buf;
		h->crl_len = (size_t)n;
		buf = NULL;
	}
	OPENSSL_free(buf);
	if (fp != NULL)
		fclose(fp);
	return h->crl != NULL ? 0 : -1;
}

static void
http_send(struct evhttp_request *req, const char *type, const unsigned char *der,
    size_t len)
{
	struct evbuffer *b = evhttp_request_get_output_buffer(req);

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	evbuffer_add(b, der, len);
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

/* The request of GET /ocsp/BASE64 (URL-encoded base64 of the DER) in
 * *der (malloc'ed); its length, or 0. */
static size_t
ocsp_get_request(const char *uri, unsigned char **der)
{
	size_t n = 0, len = 0;
	char *b64 = evhttp_uridecode(uri + strlen("/ocsp/"), 0, &n);
	int got;

	*der = NULL;
	if (b64 != NULL && n > 0 && n % 4 == 0 && n <= 4 * (CA_OCSP_MAX_REQUEST / 3 + 1)
	    && strlen(b64) == n && (*der = malloc(n)) != NULL
	    && (got = EVP_DecodeBlock(*der, (unsigned char *)b64, (int)n)) > 0) {
		len = (size_t)got - (b64[n - 1] == '=') - (b64[n - 2] == '=');
	}
	free(b64);
	return len;
}

/* POST /ocsp or GET /ocsp/...: 1 when answered. */
static int
http_ocsp(ca_serve_http_t *h, struct evhttp_request *req, const char *uri,
    enum evhttp_cmd_type cmd)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Content-Type");
	unsigned char *der = NULL, *resp = NULL;
	size_t len = 0, rlen = 0;

	if (cmd == EVHTTP_REQ_POST && strcmp(uri, "/ocsp") == 0) {
		if (ct == NULL || strcasecmp(ct, "application/ocsp-request") != 0) {
			evhttp_send_error(req, 415, NULL);
			return 1;
		}
		len = evbuffer_get_length(in);
		if (len > CA_OCSP_MAX_REQUEST) {
			evhttp_send_error(req, 413, NULL);
			return 1;
		}
		der = len > 0 ? malloc(len) : NULL;
		if (der != NULL && evbuffer_copyout(in, der, len) != (ev_ssize_t)len)
			len = 0;
	} else if (cmd == EVHTTP_REQ_GET && strncmp(uri, "/ocsp/", 6) == 0) {
		len = ocsp_get_request(uri, &der);
	} else {
		return 0;
	}
	if (ca_ocsp_respond(h->ca, der, der != NULL ? len : 0, h->ocsp_next, &resp,
	    &rlen) == 0)
		http_send(req, "application/ocsp-response", resp, rlen);
	else
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
	OPENSSL_free(resp);
	free(der);
	return 1;
}

static void
http_request(struct evhttp_request *req, void *arg)
{
	ca_serve_http_t *h = arg;
	const char *uri = evhttp_request_get_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	if (h->handler != NULL && h->handler(req, h->handler_arg))
		return;
	if (h->ca != NULL && http_ocsp(h, req, uri, cmd))
		return;
	if (cmd != EVHTTP_REQ_GET)
		evhttp_send_error(req, 405, NULL);
	else if (strcmp(uri, "/ca.crl") == 0 && h->ca != NULL && http_crl_file(h) == 0)
		http_send(req, "application/pkix-crl", h->crl, h->crl_len);
	else if (strcmp(uri, "/ca.crt") == 0 && h->crt_len > 0)
		http_send(req, "application/pkix-cert", h->crt, h->crt_len);
	else if (strcmp(uri, "/root.crt") == 0 && h->root_len > 0)
		http_send(req, "application/pkix-cert", h->root, h->root_len);
	else
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
}

void
ca_serve_free(ca_serve_http_t *h)
{
	if (h == NULL)
		return;
	if (h->timer)
		event_free(h->timer);
	net_httplimit_free(h->limit);
	OPENSSL_free(h->crl);
	OPENSSL_free(h->crt);
	OPENSSL_free(h->root);
	free(h);
}

/* The limits and handler on the caller's evhttp (ca_serve_attach); 0 or
 * -1. */
static int
http_setup(ca_serve_http_t *h, struct evhttp *http, const net_httplimit_conf_t *lim)
{
	net_httplimit_conf_t l = *lim;

	l.max_body = CA_SERVE_MAX_BODY;
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	h->limit = net_httplimit_attach(http, &l, http_request, h);
	return h->limit != NULL ? 0 : -1;
}

ca_serve_http_t *
ca_serve_attach(struct evhttp *http, const net_httplimit_conf_t *lim,
    ca_serve_handler_t handler, void *arg)
{
	ca_serve_http_t *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->handler = handler;
	h->handler_arg = arg;
	if (http_setup(h, http, lim) != 0) {
		free(h);
		return NULL;
	}
	return h;
}

/* The issuer and root certificates (DER: /ca.crt is the issuer that
 * issued certificates name, /root.crt the anchor people are asked to
 * trust) and the CRL timer, first run now; 0 or -1 with why. */
static int
http_ca(ca_serve_http_t *h, net_http_t *srv, long interval, char *why, size_t size)
{
	struct timeval tv = { (time_t)interval, 0 };
	X509 *x = ca_issuer(h->ca), *r = ca_root(h->ca);
	int n = x != NULL ? i2d_X509(x, &h->crt) : 0;
	int m = r != NULL ? i2d_X509(r, &h->root) : 0;

	X509_free(x);
	X509_free(r);
	h->crt_len = n > 0 ? (size_t)n : 0;
	h->root_len = m > 0 ? (size_t)m : 0;
	if (n < 0 || m < 0 || (h->timer = event_new(net_http_base(srv), -1, EV_PERSIST, http_crl, h))
	    == NULL || event_add(h->timer, &tv) != 0) {
		snprintf(why, size, "HTTP endpoint: out of resources");
		return -1;
	}
	http_crl(-1, 0, h);
	if (h->crl == NULL) {
		snprintf(why, size, "CA: cannot make a CRL");
		return -1;
	}
	return 0;
}

ca_serve_http_t *
ca_serve_http_open(net_http_t *srv, const conf_t *conf, ca_t *ca,
    ca_serve_handler_t handler, void *arg, char *why, size_t size)
{
	ca_serve_http_t *h = calloc(1, sizeof(*h));

	if (h == NULL) {
		snprintf(why, size, "HTTP endpoint: out of memory");
		return NULL;
	}
	h->ca = ca;
	h->handler = handler;
	h->handler_arg = arg;
	snprintf(h->crl_path, sizeof(h->crl_path), "%s/crl.der", conf->ca_dir);
	h->ocsp_next = (long)conf->ca_crl_interval;
	if (ca != NULL && http_ca(h, srv, (long)conf->ca_crl_interval, why, size) != 0)
		goto fail;
	if (net_http_route(srv, NULL, http_request, h) != 0) {
		snprintf(why, size, "HTTP endpoint: out of memory");
		goto fail;
	}
	net_http_allow(srv, EVHTTP_REQ_POST);
	return h;
fail:
	ca_serve_free(h);
	return NULL;
}
