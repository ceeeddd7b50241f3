/*
 * ca_serve.c: the embedded CA in the gateway (see ca_serve.h): settings,
 * first-start creation, and the handlers of the CAHTTPListen server
 * (net_http.h) for the CRL and the issuer certificate.  Everything the
 * handlers and the CRL timer touch (the CRL buffer) belongs to that
 * server's loop thread.
 */
#include "ca/ca_serve.h"
#include "keystore/keystore_cmp.h"
#include "enroll/enroll_pickup.h"
#include "directory/dir_harvest.h"
#include "directory/dir_lookup.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/queue.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#define PORTAL_CLIENTS 1024           /* addresses remembered at once */

struct ca_serve_http {
	keystore_ca_t *ca;
	net_httplimit_t *limit;        /* ca_serve_portal_attach()'s only */
	struct event *timer;           /* the CRL's, on the server's loop */
	unsigned char *crl, *crt;      /* DER */
	size_t crl_len, crt_len;
	char crl_path[4096];           /* CADirectory/crl.der */
	/* The pickup portal. */
	keystore_t *ks;
	char pickup_dir[4096];
	int max_failures;
	/* PickupTrustedProxies (a copy): their X-Forwarded-For names the client. */
	conf_netlist_t proxies;
	/* Failed pickups per client address, over all links. */
	struct portal_client {
		char addr[64];
		int failures;
		time_t since;          /* start of its window; 0: free slot */
	} clients[PORTAL_CLIENTS];
	int client_max;
	long client_window;
};

void
ca_serve_settings(const conf_t *c, keystore_ca_settings_t *s)
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
ca_serve_open(const conf_t *conf, keystore_t *ks, char *why, size_t size)
{
	keystore_ca_settings_t s;
	keystore_err_t err;
	keystore_ca_t *ca;

	ca_serve_settings(conf, &s);
	if ((ca = keystore_ca_open(ks, &s, &err)) == NULL && err.code == KEYSTORE_NOTFOUND
	    && keystore_ca_init(ks, &s, &err) == KEYSTORE_OK)
		ca = keystore_ca_open(ks, &s, &err);
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

/* The shared secret from CMPSecretFile: its first line, read by
 * util_secret_read_line() (no symbolic link, owner us or root, 0600). */
static int
cmp_secret(const char *path, char *buf, size_t size, char *why, size_t wsize)
{
	char *line = NULL, msg[600];
	size_t n;

	if (util_secret_read_line(path, size - 1, &line, msg, sizeof(msg)) != 0) {
		snprintf(why, wsize, "CMPSecretFile %s", msg);
		return -1;
	}
	n = strlen(line);
	memcpy(buf, line, n + 1);
	util_secret_free(line, n);
	return 0;
}

int
ca_serve_issue(const conf_t *conf, keystore_ca_t *ca, keystore_t *ks,
    const char *address, keystore_ca_profile_t profile, EVP_PKEY *key, X509 **cert,
    char *why, size_t size)
{
	keystore_err_t err;
	char secret[512];
	keystore_cmp_settings_t s = { conf->cmp_server, conf->cmp_path, conf->cmp_reference,
		secret, conf->ca_subject, (keystore_ca_keytype_t)conf->ca_key_type,
		(int)conf->cmp_timeout };
	keystore_status_t rc;

	if (*conf->cmp_server == '\0') {
		if (ca == NULL) {
			snprintf(why, size, "no CA");
			return -1;
		}
		rc = keystore_ca_issue(ca, address, profile, cert, &err);
	} else {
		if (cmp_secret(conf->cmp_secret_file, secret, sizeof(secret), why, size) != 0)
			return -1;
		rc = keystore_cmp_enroll(ks, &s, address, key, cert, &err);
		OPENSSL_cleanse(secret, sizeof(secret));
	}
	if (rc != KEYSTORE_OK)
		snprintf(why, size, "%s", err.msg);
	return rc == KEYSTORE_OK ? 0 : -1;
}

/* Re-issues the CRL (timer callback; also at start). */
static void
http_crl(evutil_socket_t fd, short what, void *arg)
{
	ca_serve_http_t *h = arg;
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

/* ---- the pickup portal ---- */

static void
portal_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; charset=utf-8");
	evbuffer_add_printf(evhttp_request_get_output_buffer(req), "%s\n", text);
	evhttp_send_reply(req, code, reason, NULL);
}

static int
token_ok(const char *t)
{
	return t != NULL && strlen(t) == ENROLL_PICKUP_TOKEN_LEN
	    && strspn(t, "0123456789abcdef") == ENROLL_PICKUP_TOKEN_LEN;
}

/* GET /pickup?t=TOKEN: the form. */
static void
portal_form(struct evhttp_request *req)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *q = evhttp_uri_get_query(u);
	struct evkeyvalq kv;
	const char *t;

	TAILQ_INIT(&kv);
	if (q == NULL || evhttp_parse_query_str(q, &kv) != 0
	    || !token_ok(t = evhttp_find_header(&kv, "t"))) {
		evhttp_clear_headers(&kv);
		portal_text(req, HTTP_NOTFOUND, "Not Found", "No such pickup link.");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/html; charset=utf-8");
	evbuffer_add_printf(evhttp_request_get_output_buffer(req),
	    "<!DOCTYPE html>\n<html><head><title>Certificate pickup</title></head><body>\n"
	    "<h1>Your S/MIME key and certificate</h1>\n"
	    "<form method=\"post\" action=\"/pickup\">\n"
	    "<input type=\"hidden\" name=\"t\" value=\"%s\">\n"
	    "<label>Password <input type=\"password\" name=\"password\"></label>\n"
	    "<label><input type=\"checkbox\" name=\"legacy\" value=\"1\"> legacy format "
	    "(GnuPG gpgsm, older Windows and macOS)</label>\n"
	    "<button>Download (once)</button>\n</form></body></html>\n", t);
	evhttp_clear_headers(&kv);
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

/* The PKCS#12 of address under password, as the reply. */
static int
portal_p12(struct evhttp_request *req, ca_serve_http_t *h, const char *address,
    const char *password, int legacy)
{
	keystore_err_t err;
	unsigned char *der = NULL;
	size_t len = 0;

	if (keystore_export_p12(h->ks, address, password, legacy, &der, &len, &err)
	    != KEYSTORE_OK)
		return -1;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "application/x-pkcs12");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Disposition",
	    "attachment; filename=\"smime.p12\"");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	evbuffer_add(evhttp_request_get_output_buffer(req), der, len);
	OPENSSL_clear_free(der, len);
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
	return 0;
}

/* Copies the request body (n < size of body) out of libevent's buffer,
 * cleansing every chunk of it before it is drained and freed. */
static int
take_body(struct evbuffer *in, char *body, size_t n)
{
	struct evbuffer_iovec v[16];
	int k = evbuffer_peek(in, (ev_ssize_t)n, NULL, v, 16);
	size_t off = 0;

	if (k < 0 || k > 16)
		return -1;
	for (int i = 0; i < k && off < n; i++) {
		size_t c = v[i].iov_len < n - off ? v[i].iov_len : n - off;

		memcpy(body + off, v[i].iov_base, c);
		OPENSSL_cleanse(v[i].iov_base, c);
		off += c;
	}
	evbuffer_drain(in, n);
	return off == n ? 0 : -1;
}

/* Frees the parsed form, its values (the password) cleansed first. */
static void
kv_clear(struct evkeyvalq *kv)
{
	struct evkeyval *e;

	TAILQ_FOREACH(e, kv, next)
		if (e->value != NULL)
			OPENSSL_cleanse(e->value, strlen(e->value));
	evhttp_clear_headers(kv);
}

/* The last address of the last X-Forwarded-For header (the one the
 * proxy in front of us appended) into buf; 0, or -1 when there is none
 * or it is not an IPv4 or IPv6 address. */
static int
forwarded_for(struct evhttp_request *req, char *buf, size_t size)
{
	struct evkeyvalq *hs = evhttp_request_get_input_headers(req);
	struct evkeyval *e;
	const char *last = NULL, *p;
	unsigned char bin[16];
	size_t len;

	TAILQ_FOREACH(e, hs, next)
		if (strcasecmp(e->key, "X-Forwarded-For") == 0)
			last = e->value;
	if (last == NULL)
		return -1;
	p = strrchr(last, ',') != NULL ? strrchr(last, ',') + 1 : last;
	p += strspn(p, " \t");
	len = strcspn(p, " \t");
	if (len == 0 || len >= size)
		return -1;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return inet_pton(AF_INET, buf, bin) == 1 || inet_pton(AF_INET6, buf, bin) == 1
	    ? 0 : -1;
}

/* The client's address: the peer's, or behind a trusted proxy the one
 * it forwards for. */
static void
client_address(ca_serve_http_t *h, struct evhttp_request *req, char *buf, size_t size)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	char *peer = NULL;
	ev_uint16_t port = 0;

	if (conn != NULL)
		evhttp_connection_get_peer(conn, &peer, &port);
	if (peer != NULL && conf_netlist_match_text(&h->proxies, peer)
	    && forwarded_for(req, buf, size) == 0)
		return;
	snprintf(buf, size, "%s", peer != NULL ? peer : "?");
}

/*
 * Failed pickups (wrong password, a locked, used or unknown link) per
 * client address (client_address()), over all links: with
 * PickupClientMaxFailures within PickupClientWindow that address may try
 * no more links that do not exist (429) until its window ends; a live
 * link it names is still checked, its own counter (PickupMaxFailures)
 * limiting wrong passwords.  So junk from any number of clients never
 * locks out a recipient holding a live link.  A fixed table; when full,
 * the oldest window makes room.  Only the HTTP thread touches it.
 */
static struct portal_client *
portal_client(ca_serve_http_t *h, struct evhttp_request *req, time_t now)
{
	struct portal_client *c, *oldest = &h->clients[0];
	char addr[INET6_ADDRSTRLEN + 1];

	client_address(h, req, addr, sizeof(addr));
	for (size_t i = 0; i < PORTAL_CLIENTS; i++) {
		c = &h->clients[i];
		if (c->since != 0 && now - c->since >= h->client_window)
			c->since = 0;      /* its window is over */
		if (c->since != 0 && strcmp(c->addr, addr) == 0)
			return c;
		if (c->since < oldest->since)
			oldest = c;
	}
	snprintf(oldest->addr, sizeof(oldest->addr), "%s", addr);
	oldest->failures = 0;
	oldest->since = now;
	return oldest;
}

/* POST /pickup: t, password, legacy. */
static void
portal_pickup(struct evhttp_request *req, ca_serve_http_t *h)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	char body[2048], *addr = NULL;
	struct evkeyvalq kv;
	const char *t, *pw, *legacy;
	enum enroll_pickup_status st = ENROLL_PICKUP_GONE;
	struct portal_client *client = portal_client(h, req, time(NULL));

	TAILQ_INIT(&kv);
	if (n >= sizeof(body) || take_body(in, body, n) != 0) {
		portal_text(req, 413, "Too Large", "Request too large.");
		return;
	}
	body[n] = '\0';
	t = evhttp_parse_query_str(body, &kv) == 0 ? evhttp_find_header(&kv, "t") : NULL;
	if (client->failures >= h->client_max
	    && !(token_ok(t) && enroll_pickup_live(h->pickup_dir, t))) {
		OPENSSL_cleanse(body, sizeof(body));
		kv_clear(&kv);
		portal_text(req, 429, "Too Many Requests",
		    "Too many failed attempts from your address: try again later.");
		return;
	}
	if (token_ok(t) && (pw = evhttp_find_header(&kv, "password")) != NULL) {
		legacy = evhttp_find_header(&kv, "legacy");
		st = enroll_pickup_check(h->pickup_dir, t, pw, h->max_failures, time(NULL), &addr);
		if (st == ENROLL_PICKUP_OK) {
			if (portal_p12(req, h, addr, pw, legacy != NULL && *legacy == '1') == 0)
				enroll_pickup_used(h->pickup_dir, t);
			else
				st = ENROLL_PICKUP_ERROR;
		}
	}
	OPENSSL_cleanse(body, sizeof(body));
	kv_clear(&kv);
	free(addr);
	if (st == ENROLL_PICKUP_WRONG || st == ENROLL_PICKUP_LOCKED || st == ENROLL_PICKUP_GONE)
		client->failures++;
	switch (st) {
	case ENROLL_PICKUP_OK:
		return;
	case ENROLL_PICKUP_WRONG:
		portal_text(req, 403, "Forbidden", "Wrong password.");
		return;
	case ENROLL_PICKUP_LOCKED:
		portal_text(req, 429, "Too Many Requests",
		    "Too many wrong passwords: this link is locked. Ask the sender.");
		return;
	case ENROLL_PICKUP_EXPIRED:
	case ENROLL_PICKUP_GONE:
		portal_text(req, 410, "Gone", "This link has expired or has been used.");
		return;
	default:
		portal_text(req, HTTP_INTERNAL, "Internal Error", "Please try again later.");
	}
}

static void
http_request(struct evhttp_request *req, void *arg)
{
	ca_serve_http_t *h = arg;
	const char *uri = evhttp_request_get_uri(req);
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	if (path != NULL && strcmp(path, "/pickup") == 0 && cmd == EVHTTP_REQ_POST)
		portal_pickup(req, h);
	else if (path != NULL && strcmp(path, "/pickup") == 0 && cmd == EVHTTP_REQ_GET)
		portal_form(req);
	else if (cmd != EVHTTP_REQ_GET)
		evhttp_send_error(req, 405, NULL);
	else if (strcmp(uri, "/ca.crl") == 0 && h->ca != NULL && http_crl_file(h) == 0)
		http_send(req, "application/pkix-crl", h->crl, h->crl_len);
	else if (strcmp(uri, "/ca.crt") == 0 && h->crt_len > 0)
		http_send(req, "application/pkix-cert", h->crt, h->crt_len);
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
	free(h->proxies.v);
	OPENSSL_free(h->crl);
	OPENSSL_free(h->crt);
	free(h);
}

/* The limits and handler on the caller's evhttp (ca_serve_portal_attach);
 * 0 or -1. */
static int
http_setup(ca_serve_http_t *h, struct evhttp *http, const net_httplimit_conf_t *lim)
{
	net_httplimit_conf_t l = *lim;

	l.max_body = CA_SERVE_MAX_BODY;
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	h->limit = net_httplimit_attach(http, &l, http_request, h);
	return h->limit != NULL ? 0 : -1;
}

/* The portal's limits (a copy of the proxies). */
static int
portal_limits(ca_serve_http_t *h, const ca_portal_limits_t *pl)
{
	h->max_failures = pl->max_failures;
	h->client_max = pl->client_max;
	h->client_window = pl->client_window;
	if (pl->proxies == NULL || pl->proxies->n == 0)
		return 0;
	if ((h->proxies.v = calloc(pl->proxies->n, sizeof(*h->proxies.v))) == NULL)
		return -1;
	memcpy(h->proxies.v, pl->proxies->v, pl->proxies->n * sizeof(*h->proxies.v));
	h->proxies.n = pl->proxies->n;
	return 0;
}

ca_serve_http_t *
ca_serve_portal_attach(struct evhttp *http, keystore_t *ks, const char *pickup_dir,
    const ca_portal_limits_t *pl, const net_httplimit_conf_t *lim)
{
	ca_serve_http_t *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->ks = ks;
	snprintf(h->pickup_dir, sizeof(h->pickup_dir), "%s", pickup_dir);
	if (portal_limits(h, pl) != 0 || http_setup(h, http, lim) != 0) {
		free(h->proxies.v);
		free(h);
		return NULL;
	}
	return h;
}

void
ca_serve_portal_limits(const conf_t *conf, ca_portal_limits_t *pl)
{
	pl->max_failures = (int)conf->pickup_max_failures;
	pl->client_max = (int)conf->pickup_client_max_failures;
	pl->client_window = (long)conf->pickup_client_window;
	pl->proxies = &conf->pickup_proxies;
}

/* The issuer certificate (DER) and the CRL timer, first run now; 0 or -1
 * with why. */
static int
http_ca(ca_serve_http_t *h, net_http_t *srv, long interval, char *why, size_t size)
{
	struct timeval tv = { (time_t)interval, 0 };
	X509 *x = keystore_ca_issuer(h->ca);
	int n = x != NULL ? i2d_X509(x, &h->crt) : 0;

	X509_free(x);
	h->crt_len = n > 0 ? (size_t)n : 0;
	if (n < 0 || (h->timer = event_new(net_http_base(srv), -1, EV_PERSIST, http_crl, h))
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
ca_serve_http_open(net_http_t *srv, const conf_t *conf, keystore_ca_t *ca,
    keystore_t *ks, char *why, size_t size)
{
	ca_serve_http_t *h = calloc(1, sizeof(*h));
	ca_portal_limits_t pl;

	if (h == NULL) {
		snprintf(why, size, "HTTP endpoint: out of memory");
		return NULL;
	}
	h->ca = ca;
	h->ks = ks;
	snprintf(h->crl_path, sizeof(h->crl_path), "%s/crl.der", conf->ca_dir);
	snprintf(h->pickup_dir, sizeof(h->pickup_dir), "%s", conf->pickup_dir);
	ca_serve_portal_limits(conf, &pl);
	if (ca != NULL && http_ca(h, srv, (long)conf->ca_crl_interval, why, size) != 0)
		goto fail;
	if (portal_limits(h, &pl) != 0 || net_http_route(srv, NULL, http_request, h) != 0) {
		snprintf(why, size, "HTTP endpoint: out of memory");
		goto fail;
	}
	net_http_allow(srv, EVHTTP_REQ_POST);
	return h;
fail:
	ca_serve_free(h);
	return NULL;
}
