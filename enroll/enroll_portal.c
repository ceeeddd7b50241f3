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
#include "enroll/enroll_text.h"

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
	/* The templates' configuration: conf_fn's (the one in force), else conf. */
	conf_t *conf;
	conf_t *(*conf_fn)(void *);
	void *conf_arg;
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

/* The configuration whose templates the pages use now (one reference),
 * or NULL: plain text pages. */
static conf_t *
portal_conf(enroll_portal_t *h)
{
	if (h->conf_fn != NULL)
		return h->conf_fn(h->conf_arg);
	return h->conf != NULL ? conf_ref(h->conf) : NULL;
}

/* A page of the templates as the reply (text: the plain text one when
 * there are no templates). */
static void
portal_page(struct evhttp_request *req, enroll_portal_t *h, int code, const char *reason,
    enum conf_tmpl_id id, const char **v, const char *text)
{
	conf_t *c = portal_conf(h);
	char *page = c != NULL ? conf_tmpl_render(c, v[CONF_TF_LANG], id, v) : NULL;
	struct evkeyvalq *hs = evhttp_request_get_output_headers(req);

	conf_unref(c);
	if (page == NULL) {
		portal_text(req, code, reason, text);
		return;
	}
	evhttp_add_header(hs, "Content-Type", "text/html; charset=utf-8");
	evhttp_add_header(hs, "Cache-Control", "no-store");
	evhttp_add_header(hs, "Content-Security-Policy", "default-src 'none'; style-src "
	    "'unsafe-inline'; img-src 'self'; form-action 'self'; base-uri 'none'; "
	    "frame-ancestors 'none'");
	evhttp_add_header(hs, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(hs, "Referrer-Policy", "no-referrer");
	evbuffer_add(evhttp_request_get_output_buffer(req), page, strlen(page));
	free(page);
	evhttp_send_reply(req, code, reason, NULL);
}

/* An error page: what went wrong and what to do next (lang: the
 * visitor's; token: for the way back to the form, or NULL). */
static void
portal_error(struct evhttp_request *req, enroll_portal_t *h, int code, const char *reason,
    enum conf_tmpl_id id, const char *lang, const char *token, const char *text)
{
	const char *v[CONF_TF_N] = { 0 };
	char link[ENROLL_PICKUP_TOKEN_LEN + 64];
	conf_t *c = portal_conf(h);

	lang = c != NULL ? conf_tmpl_language(c, lang) : NULL;
	if (token != NULL) {
		snprintf(link, sizeof(link), "/pickup?t=%s%s%s", token, lang ? "&l=" : "",
		    lang ? lang : "");
		v[CONF_TF_LINK] = link;
	}
	v[CONF_TF_LANG] = lang;
	portal_page(req, h, code, reason, id, v, text);
	conf_unref(c);
}

static int
token_ok(const char *t)
{
	return t != NULL && strlen(t) == ENROLL_PICKUP_TOKEN_LEN
	    && strspn(t, "0123456789abcdef") == ENROLL_PICKUP_TOKEN_LEN;
}

/*
 * The visitor's platform, from the User-Agent: its name, whether it needs
 * the legacy PKCS#12 (3DES, SHA-1 MAC: Apple's keychains and Android's
 * installer before their recent versions, Windows before 10; the user
 * agent does not tell those versions apart any more, so all of them get
 * it, which every version reads), and the import instructions that come
 * first (bits of CONF_TMPL_HOWTO_* - CONF_TMPL_HOWTO_OUTLOOK_WINDOWS).
 */
struct platform {
	const char *ua;             /* in the User-Agent */
	const char *name;
	int legacy;
	unsigned first;
};
#define HOWTO(x) (1u << (CONF_TMPL_HOWTO_##x - CONF_TMPL_HOWTO_OUTLOOK_WINDOWS))
static const struct platform platforms[] = {
	{ "iPhone", "iOS", 1, HOWTO(APPLE_MAIL_IOS) },
	{ "iPad", "iPadOS", 1, HOWTO(APPLE_MAIL_IOS) },
	{ "Android", "Android", 1, HOWTO(ANDROID) },
	{ "Windows NT 10", "Windows", 0, HOWTO(OUTLOOK_WINDOWS) },
	{ "Windows", "Windows", 1, HOWTO(OUTLOOK_WINDOWS) },
	{ "Macintosh", "macOS", 1, HOWTO(OUTLOOK_MAC) | HOWTO(APPLE_MAIL_MACOS) },
	{ "CrOS", "ChromeOS", 0, HOWTO(ANDROID) },
	{ "Linux", "Linux", 0, HOWTO(THUNDERBIRD) },
	{ "", "\u2014", 0, 0 },       /* unknown: the modern form, the usual order */
};
#define HOWTO_N (CONF_TMPL_HOWTO_ANDROID - CONF_TMPL_HOWTO_OUTLOOK_WINDOWS + 1)

static const struct platform *
portal_platform(struct evhttp_request *req)
{
	const char *ua = evhttp_find_header(evhttp_request_get_input_headers(req), "User-Agent");
	size_t i = 0;

	while (ua != NULL && *platforms[i].ua != '\0' && strstr(ua, platforms[i].ua) == NULL)
		i++;
	return ua != NULL ? &platforms[i] : &platforms[sizeof(platforms) / sizeof(platforms[0]) - 1];
}

/* The import instructions, the platform's first, each in the usual order. */
static char *
portal_howto(const conf_t *c, const char *lang, const struct platform *pf, const char **v)
{
	char *out = NULL, *sec;
	size_t len = 0;

	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < HOWTO_N; i++) {
			if (((pf->first >> i) & 1) != (pass == 0))
				continue;
			if ((sec = conf_tmpl_render(c, lang, CONF_TMPL_HOWTO_OUTLOOK_WINDOWS + i, v))
			    == NULL) {
				free(out);
				return NULL;
			}
			char *grown = realloc(out, len + strlen(sec) + 1);

			if (grown == NULL) {
				free(sec);
				free(out);
				return NULL;
			}
			out = grown;
			memcpy(out + len, sec, strlen(sec) + 1);
			len += strlen(sec);
			free(sec);
		}
	return out;
}

/* The form's page for token t, in lang. */
static void
portal_form_page(struct evhttp_request *req, enroll_portal_t *h, const char *t,
    const char *lang)
{
	const struct platform *pf = portal_platform(req);
	const char *v[CONF_TF_N] = { 0 };
	char fp[ENROLL_TEXT_FP_MAX], *howto = NULL, *note = NULL;
	conf_t *c = portal_conf(h);

	if (c != NULL) {
		enroll_text_fingerprint(c, fp);
		v[CONF_TF_ROOT_FINGERPRINT] = fp;
		v[CONF_TF_PLATFORM] = pf->name;
		v[CONF_TF_LANG] = lang = conf_tmpl_language(c, lang);
		howto = portal_howto(c, lang, pf, v);
		note = conf_tmpl_render(c, lang, pf->legacy ? CONF_TMPL_FORMAT_LEGACY
		    : CONF_TMPL_FORMAT_MODERN, v);
	}
	v[CONF_TF_TOKEN] = t;
	v[CONF_TF_HOWTO] = howto;
	v[CONF_TF_FORMAT_NOTE] = note;
	v[CONF_TF_MODERN_CHECKED] = pf->legacy ? "" : "checked";
	v[CONF_TF_LEGACY_CHECKED] = pf->legacy ? "checked" : "";
	portal_page(req, h, HTTP_OK, "OK", CONF_TMPL_PICKUP_HTML, v,
	    "Your S/MIME key and certificate: POST t, password and format (modern, legacy) "
	    "to /pickup.");
	free(howto);
	free(note);
	conf_unref(c);
}

/* GET /pickup?t=TOKEN[&l=LANG]: the form; a link that is not there any
 * more (used) says so at once. */
static void
portal_form(struct evhttp_request *req, enroll_portal_t *h)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *q = evhttp_uri_get_query(u);
	struct evkeyvalq kv;
	const char *t = NULL, *lang = NULL;

	TAILQ_INIT(&kv);
	if (q != NULL && evhttp_parse_query_str(q, &kv) == 0) {
		t = evhttp_find_header(&kv, "t");
		lang = evhttp_find_header(&kv, "l");
	}
	if (!token_ok(t))
		portal_error(req, h, HTTP_NOTFOUND, "Not Found", CONF_TMPL_ERROR_USED, lang, NULL,
		    "No such pickup link.");
	else if (!enroll_pickup_live(h->pickup_dir, t))
		portal_error(req, h, 410, "Gone", CONF_TMPL_ERROR_USED, lang, NULL,
		    "This link has expired or has been used.");
	else
		portal_form_page(req, h, t, lang);
	evhttp_clear_headers(&kv);
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

/* POST /pickup: t, password, format (modern, legacy; or legacy=1), l. */
static void
portal_pickup(struct evhttp_request *req, enroll_portal_t *h)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	char body[2048], *addr = NULL, tok[ENROLL_PICKUP_TOKEN_LEN + 1] = "";
	struct evkeyvalq kv;
	const char *t, *pw, *legacy, *format, *lang = NULL;
	char lbuf[16] = "";
	enum enroll_pickup_status st = ENROLL_PICKUP_GONE;
	struct enroll_portal_client *client = portal_client(h, req, time(NULL));

	TAILQ_INIT(&kv);
	if (n >= sizeof(body) || take_body(in, body, n) != 0) {
		portal_error(req, h, 413, "Too Large", CONF_TMPL_ERROR_OTHER, NULL, NULL,
		    "Request too large.");
		return;
	}
	body[n] = '\0';
	t = evhttp_parse_query_str(body, &kv) == 0 ? evhttp_find_header(&kv, "t") : NULL;
	if ((lang = evhttp_find_header(&kv, "l")) != NULL)
		snprintf(lbuf, sizeof(lbuf), "%s", lang);
	lang = *lbuf != '\0' ? lbuf : NULL;
	if (client->failures >= h->client_max
	    && !(token_ok(t) && enroll_pickup_live(h->pickup_dir, t))) {
		OPENSSL_cleanse(body, sizeof(body));
		kv_clear(&kv);
		portal_error(req, h, 429, "Too Many Requests", CONF_TMPL_ERROR_OTHER, lang, NULL,
		    "Too many failed attempts from your address: try again later.");
		return;
	}
	if (token_ok(t) && (pw = evhttp_find_header(&kv, "password")) != NULL) {
		legacy = evhttp_find_header(&kv, "legacy");
		format = evhttp_find_header(&kv, "format");
		st = enroll_pickup_check(h->pickup_dir, t, pw, h->max_failures, time(NULL), &addr);
		if (st == ENROLL_PICKUP_OK) {
			int sent = portal_p12(req, h, t, addr, pw, (legacy != NULL && *legacy == '1')
			    || (format != NULL && strcmp(format, "legacy") == 0));

			st = sent == 0 ? ENROLL_PICKUP_OK : sent > 0 ? ENROLL_PICKUP_GONE
			    : ENROLL_PICKUP_ERROR;
		}
	}
	if (token_ok(t))
		snprintf(tok, sizeof(tok), "%s", t);
	OPENSSL_cleanse(body, sizeof(body));
	kv_clear(&kv);
	free(addr);
	if (st == ENROLL_PICKUP_WRONG || st == ENROLL_PICKUP_LOCKED || st == ENROLL_PICKUP_GONE)
		client->failures++;
	switch (st) {
	case ENROLL_PICKUP_OK:
		return;
	case ENROLL_PICKUP_WRONG:
		portal_error(req, h, 403, "Forbidden", CONF_TMPL_ERROR_WRONG_PASSWORD, lang, tok,
		    "Wrong password.");
		return;
	case ENROLL_PICKUP_LOCKED:
		portal_error(req, h, 429, "Too Many Requests", CONF_TMPL_ERROR_LOCKED, lang, NULL,
		    "Too many wrong passwords: this link is locked. Ask the sender.");
		return;
	case ENROLL_PICKUP_EXPIRED:
		portal_error(req, h, 410, "Gone", CONF_TMPL_ERROR_EXPIRED, lang, NULL,
		    "This link has expired.");
		return;
	case ENROLL_PICKUP_GONE:
		portal_error(req, h, 410, "Gone", CONF_TMPL_ERROR_USED, lang, NULL,
		    "This link has been used, or does not exist.");
		return;
	default:
		portal_error(req, h, HTTP_INTERNAL, "Internal Error", CONF_TMPL_ERROR_OTHER, lang,
		    NULL, "Please try again later.");
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
		portal_form(req, h);
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
enroll_portal_open(conf_t *conf, keystore_t *ks)
{
	enroll_portal_limits_t pl;

	enroll_portal_t *h;

	enroll_portal_limits(conf, &pl);
	if ((h = enroll_portal_new(ks, conf->pickup_dir, &pl)) != NULL)
		h->conf = conf_ref(conf);
	return h;
}

void
enroll_portal_follow(enroll_portal_t *h, conf_t *(*fn)(void *), void *arg)
{
	h->conf_fn = fn;
	h->conf_arg = arg;
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
	conf_unref(h->conf);
	free(h->proxies.v);
	free(h);
}
