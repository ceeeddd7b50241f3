/*
 * milt_ca.c: the embedded CA in the gateway (see milt_ca.h): settings,
 * first-start creation, and the HTTP endpoint for the CRL and the issuer
 * certificate.  The endpoint runs one libevent loop in its own thread;
 * everything it touches (the CRL buffer) belongs to that thread, and
 * milt_ca_stop() wakes it through a pipe.
 */
#include "milter/milt_ca.h"
#include "directory/dir_harvest.h"
#include "directory/dir_lookup.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

struct milt_ca_http {
	keystore_ca_t *ca;
	struct event_base *base;
	struct evhttp *http;
	struct event *timer, *wake;
	int pipe[2];
	pthread_t thread;
	unsigned char *crl, *crt;      /* DER */
	size_t crl_len, crt_len;
	char crl_path[4096];           /* CADirectory/crl.der */
};

void
milt_ca_settings(const milt_conf_t *c, keystore_ca_settings_t *s)
{
	memset(s, 0, sizeof(*s));
	s->dir = c->ca_dir;
	s->key_type = (keystore_ca_keytype_t)c->ca_key_type;
	s->days = (long)c->ca_days;
	s->ca_days = (long)c->ca_root_days;
	s->crl_days = (long)c->ca_crl_days;
	s->subject = c->ca_subject;
	s->crl_url = c->ca_crl_url;
	s->issuer_url = c->ca_issuer_url;
}

keystore_ca_t *
milt_ca_open(const milt_conf_t *conf, keystore_t *ks, char *why, size_t size)
{
	keystore_ca_settings_t s;
	keystore_err_t err;
	keystore_ca_t *ca;

	milt_ca_settings(conf, &s);
	if ((ca = keystore_ca_open(ks, &s, &err)) == NULL && err.code == KEYSTORE_NOTFOUND
	    && keystore_ca_init(ks, &s, &err) == KEYSTORE_OK)
		ca = keystore_ca_open(ks, &s, &err);
	if (ca == NULL)
		snprintf(why, size, "CA: %s", err.msg);
	return ca;
}

int
milt_ca_publish(const milt_conf_t *conf, const char *address, X509 *cert,
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

/* Re-issues the CRL (timer callback; also at start). */
static void
http_crl(evutil_socket_t fd, short what, void *arg)
{
	milt_ca_http_t *h = arg;
	keystore_err_t err;
	unsigned char *der;
	size_t len;

	if (keystore_ca_crl(h->ca, &der, &len, &err) != KEYSTORE_OK)
		return;                /* keep serving the last one until nextUpdate */
	OPENSSL_free(h->crl);
	h->crl = der;
	h->crl_len = len;
}

/* The CRL as stored last (smimectl ca revoke writes one too); keeps the
 * one in memory when the file cannot be read.  0 when there is one. */
static int
http_crl_file(milt_ca_http_t *h)
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

static void
http_request(struct evhttp_request *req, void *arg)
{
	milt_ca_http_t *h = arg;
	const char *uri = evhttp_request_get_uri(req);

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET)
		evhttp_send_error(req, 405, NULL);
	else if (strcmp(uri, "/ca.crl") == 0 && http_crl_file(h) == 0)
		http_send(req, "application/pkix-crl", h->crl, h->crl_len);
	else if (strcmp(uri, "/ca.crt") == 0)
		http_send(req, "application/pkix-cert", h->crt, h->crt_len);
	else
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
}

static void
http_wake(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

static void *
http_run(void *arg)
{
	milt_ca_http_t *h = arg;

	event_base_dispatch(h->base);
	return NULL;
}

static void
http_free(milt_ca_http_t *h)
{
	if (h->timer)
		event_free(h->timer);
	if (h->wake)
		event_free(h->wake);
	if (h->http)
		evhttp_free(h->http);
	if (h->base)
		event_base_free(h->base);
	if (h->pipe[0] >= 0) {
		close(h->pipe[0]);
		close(h->pipe[1]);
	}
	OPENSSL_free(h->crl);
	OPENSSL_free(h->crt);
	free(h);
}

milt_ca_http_t *
milt_ca_start(const milt_conf_t *conf, keystore_ca_t *ca, char *why, size_t size)
{
	milt_ca_http_t *h = calloc(1, sizeof(*h));
	struct timeval tv = { (time_t)conf->ca_crl_interval, 0 };
	char host[256];
	const char *colon = strrchr(conf->http_listen, ':');
	X509 *x = keystore_ca_issuer(ca);
	int n;

	if (h == NULL || colon == NULL) {
		snprintf(why, size, "HTTPListen: cannot start");
		free(h);
		X509_free(x);
		return NULL;
	}
	h->ca = ca;
	snprintf(h->crl_path, sizeof(h->crl_path), "%s/crl.der", conf->ca_dir);
	h->pipe[0] = h->pipe[1] = -1;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - conf->http_listen), conf->http_listen);
	n = i2d_X509(x, &h->crt);
	X509_free(x);
	h->crt_len = n > 0 ? (size_t)n : 0;
	if (n <= 0 || pipe(h->pipe) != 0 || (h->base = event_base_new()) == NULL
	    || (h->http = evhttp_new(h->base)) == NULL)
		snprintf(why, size, "HTTP endpoint: out of resources");
	else if (evhttp_bind_socket(h->http, host, (ev_uint16_t)atoi(colon + 1)) != 0)
		snprintf(why, size, "HTTPListen %s: cannot bind: %s", conf->http_listen,
		    strerror(errno));
	else if ((h->timer = event_new(h->base, -1, EV_PERSIST, http_crl, h)) == NULL
	    || (h->wake = event_new(h->base, h->pipe[0], EV_READ, http_wake, h->base)) == NULL
	    || event_add(h->timer, &tv) != 0 || event_add(h->wake, NULL) != 0)
		snprintf(why, size, "HTTP endpoint: out of resources");
	else {
		evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
		evhttp_set_gencb(h->http, http_request, h);
		http_crl(-1, 0, h);
		if (h->crl == NULL)
			snprintf(why, size, "CA: cannot make a CRL");
		else if (pthread_create(&h->thread, NULL, http_run, h) == 0)
			return h;
		else
			snprintf(why, size, "HTTP endpoint: cannot start a thread");
	}
	http_free(h);
	return NULL;
}

void
milt_ca_stop(milt_ca_http_t *h)
{
	if (h == NULL)
		return;
	if (write(h->pipe[1], "x", 1) == 1)
		pthread_join(h->thread, NULL);
	http_free(h);
}
