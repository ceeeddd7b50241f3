/*
 * enroll_portal.c: the pickup portal's pages (see enroll_portal.h): the
 * form, the one download, and the failure limits per link
 * (enroll_pickup.c counts those) and per client address (here).
 * Everything in the handle but the borrowed keystore is the server
 * thread's; the password is cleansed from every buffer it passed through.
 */
#include "enroll/enroll_portal.h"
#include "enroll/enroll_lookup.h"
#include "enroll/enroll_pickup.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/queue.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>

#define PORTAL_CLIENTS 1024           /* addresses remembered at once */

struct enroll_portal {
	keystore_t *ks;
	ca_t *ca;                      /* borrowed (may be NULL): revocations */
	char pickup_dir[4096];
	int max_failures;
	/* PickupTrustedProxies (a copy): their X-Forwarded-For names the client. */
	conf_netlist_t proxies;
	/* Failed pickups per client address, over all links. */
	struct enroll_portal_client {
		char addr[64];
		int failures;
		int lookups;           /* GET /certs in this window */
		time_t since;          /* start of its window; 0: free slot */
	} clients[PORTAL_CLIENTS];
	int client_max;
	long client_window;
	int lookup_on;                 /* LookupService */
	int lookup_max;                /* LookupClientMaxRequests */
};

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

/* The PKCS#12 of address under password, as the reply, once the link
 * t is taken (removed by this call: no other download, here or on another
 * gateway, got it first).  0 sent, -1 not made, 1 the link was gone. */
static int
portal_p12(struct evhttp_request *req, enroll_portal_t *h, const char *t,
    const char *address, const char *password, int legacy)
{
	keystore_err_t err;
	unsigned char *der = NULL;
	size_t len = 0;

	if (keystore_export_p12(h->ks, address, password, legacy, &der, &len, &err)
	    != KEYSTORE_OK)
		return -1;
	if (enroll_pickup_used(h->pickup_dir, t) != 0) {
		OPENSSL_clear_free(der, len);
		return 1;
	}
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
client_address(enroll_portal_t *h, struct evhttp_request *req, char *buf, size_t size)
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
 * the oldest window makes room.  Only the server's thread touches it.
 */
static struct enroll_portal_client *
portal_client(enroll_portal_t *h, struct evhttp_request *req, time_t now)
{
	struct enroll_portal_client *c, *oldest = &h->clients[0];
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
	oldest->lookups = 0;
	oldest->since = now;
	return oldest;
}

/* POST /pickup: t, password, legacy. */
static void
portal_pickup(struct evhttp_request *req, enroll_portal_t *h)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	char body[2048], *addr = NULL;
	struct evkeyvalq kv;
	const char *t, *pw, *legacy;
	enum enroll_pickup_status st = ENROLL_PICKUP_GONE;
	struct enroll_portal_client *client = portal_client(h, req, time(NULL));

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
			int sent = portal_p12(req, h, t, addr, pw, legacy != NULL && *legacy == '1');

			st = sent == 0 ? ENROLL_PICKUP_OK : sent > 0 ? ENROLL_PICKUP_GONE
			    : ENROLL_PICKUP_ERROR;
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

/* GET /certs: the lookup service (enroll_lookup.h), within the
 * client's LookupClientMaxRequests a PickupClientWindow (the same table of
 * clients as the failed pickups). */
static void
portal_lookup(struct evhttp_request *req, enroll_portal_t *h)
{
	struct enroll_portal_client *client = portal_client(h, req, time(NULL));

	if (client->lookups >= h->lookup_max) {
		portal_text(req, 429, "Too Many Requests",
		    "Too many lookups from your address: try again later.");
		return;
	}
	client->lookups++;
	enroll_lookup_answer(req, h->ks, h->ca);
}

int
enroll_portal_handle(struct evhttp_request *req, void *arg)
{
	enroll_portal_t *h = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	if (path != NULL && strcmp(path, "/certs") == 0 && h->lookup_on
	    && cmd == EVHTTP_REQ_GET) {
		portal_lookup(req, h);
		return 1;
	}
	if (path == NULL || strcmp(path, "/pickup") != 0)
		return 0;
	if (cmd == EVHTTP_REQ_POST)
		portal_pickup(req, h);
	else if (cmd == EVHTTP_REQ_GET)
		portal_form(req);
	else
		return 0;
	return 1;
}

/* The portal's limits (a copy of the proxies). */
static int
portal_limits(enroll_portal_t *h, const enroll_portal_limits_t *pl)
{
	h->max_failures = pl->max_failures;
	h->client_max = pl->client_max;
	h->client_window = pl->client_window;
	h->lookup_on = pl->lookup_on;
	h->lookup_max = pl->lookup_max;
	if (pl->proxies == NULL || pl->proxies->n == 0)
		return 0;
	if ((h->proxies.v = calloc(pl->proxies->n, sizeof(*h->proxies.v))) == NULL)
		return -1;
	memcpy(h->proxies.v, pl->proxies->v, pl->proxies->n * sizeof(*h->proxies.v));
	h->proxies.n = pl->proxies->n;
	return 0;
}

void
enroll_portal_limits(const conf_t *conf, enroll_portal_limits_t *pl)
{
	pl->max_failures = (int)conf->pickup_max_failures;
	pl->client_max = (int)conf->pickup_client_max_failures;
	pl->client_window = (long)conf->pickup_client_window;
	pl->proxies = &conf->pickup_proxies;
	pl->lookup_on = conf->lookup_service;
	pl->lookup_max = (int)conf->lookup_client_max;
}

enroll_portal_t *
enroll_portal_new(keystore_t *ks, const char *pickup_dir, const enroll_portal_limits_t *pl)
{
	enroll_portal_t *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->ks = ks;
	snprintf(h->pickup_dir, sizeof(h->pickup_dir), "%s", pickup_dir);
	if (portal_limits(h, pl) != 0) {
		free(h);
		return NULL;
	}
	return h;
}

enroll_portal_t *
enroll_portal_open(const conf_t *conf, keystore_t *ks)
{
	enroll_portal_limits_t pl;

	enroll_portal_limits(conf, &pl);
	return enroll_portal_new(ks, conf->pickup_dir, &pl);
}

void
enroll_portal_ca(enroll_portal_t *h, ca_t *ca)
{
	h->ca = ca;
}

void
enroll_portal_free(enroll_portal_t *h)
{
	if (h == NULL)
		return;
	free(h->proxies.v);
	free(h);
}
