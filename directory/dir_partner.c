/*
 * dir_partner.c: partner gateways' lookup services (PartnerLookup), one
 * more source of certificates for the recipients of their domains: the
 * partner's URL asked, with OpenSSL's HTTP client (OSSL_HTTP_transfer, a
 * timeout, a size limit, no redirection followed), for
 * URL?mail=ADDRESS&format=p7c, the address percent-encoded by libevent
 * (evhttp_uriencode).  An https:// partner is asked over TLS (1.2 at
 * least): its server certificate must chain to the lookup's trust anchors
 * (TrustAnchorFile and/or the system store) and name the URL's host (a
 * DNS name, or the IP address written in the URL); no proxy is used for
 * it.  What comes back is a
 * certs-only PKCS#7 (or one DER certificate); dir_lookup.c checks every
 * certificate in it as any other candidate (dir_check.c: the address,
 * the chain to our trust anchors, revocation), so a partner can make us
 * encrypt to nothing it could not have put in a directory.  404: no
 * certificate; any other failure: the partner is unavailable, and is
 * not asked again for PARTNER_RETRY_AFTER seconds.
 *
 * Threads: the table is immutable after dir_partner_new() but for each
 * partner's "down until", which one mutex guards; fetching happens
 * without it.
 */
#include "directory/dir_int.h"
#include "util/util_addr.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/httperr.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define PARTNER_MAX          64
#define PARTNER_MAX_SIZE     (256L * 1024)  /* octets of an answer */
#define PARTNER_MAX_CERTS    32
#define PARTNER_RETRY_AFTER  30             /* seconds after a failure */

struct partner {
	char *domain;               /* lower case */
	char *url;                  /* http://host[:port]/path */
	char *host, *port, *path;   /* its parts (OSSL_HTTP_parse_url) */
	int tls;                    /* https:// */
	time_t down_until;
	char why[200];
};

struct dir_partner {
	pthread_mutex_t lock;
	int timeout;
	SSL_CTX *tls;               /* for https:// partners, else NULL */
	struct partner p[PARTNER_MAX];
	size_t n;
};

void
dir_partner_free(dir_partner_t *dp)
{
	if (dp == NULL)
		return;
	for (size_t i = 0; i < dp->n; i++) {
		free(dp->p[i].domain);
		free(dp->p[i].url);
		OPENSSL_free(dp->p[i].host);
		OPENSSL_free(dp->p[i].port);
		OPENSSL_free(dp->p[i].path);
	}
	SSL_CTX_free(dp->tls);
	pthread_mutex_destroy(&dp->lock);
	free(dp);
}

/* One DOMAIN URL pair; 0, or -1 with err. */
static int
partner_add(dir_partner_t *dp, const char *domain, const char *url, char *err,
    size_t errlen)
{
	struct partner *p = &dp->p[dp->n < PARTNER_MAX ? dp->n : 0];
	int port = 0, ssl = 0;

	if (dp->n == PARTNER_MAX) {
		snprintf(err, errlen, "PartnerLookup: more than %d partners", PARTNER_MAX);
		return -1;
	}
	if (*domain == '\0' || strpbrk(domain, "@/:") != NULL) {
		snprintf(err, errlen, "PartnerLookup: \"%s\" is not a domain", domain);
		return -1;
	}
	if ((strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
	    || strpbrk(url, "?#") != NULL
	    || !OSSL_HTTP_parse_url(url, &ssl, NULL, &p->host, &p->port, &port, &p->path,
	    NULL, NULL)) {
		ERR_clear_error();
		snprintf(err, errlen, "PartnerLookup %s: \"%s\" is not an http:// or "
		    "https:// URL without query", domain, url);
		return -1;
	}
	p->tls = ssl;
	dp->n++;                    /* freed with the rest from here on */
	if ((p->domain = strdup(domain)) == NULL || (p->url = strdup(url)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	util_addr_lower(p->domain);
	return 0;
}

/* The TLS client of https:// partners: peers verified against ca_file
 * and/or the system's store.  0, or -1 with err. */
static int
partner_tls(dir_partner_t *dp, const char *ca_file, int system_store, char *err,
    size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int ok = ctx != NULL && SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);

	if (ok && ca_file != NULL && *ca_file != '\0')
		ok = SSL_CTX_load_verify_locations(ctx, ca_file, NULL);
	if (ok && system_store)
		ok = SSL_CTX_set_default_verify_paths(ctx);
	if (!ok) {
		unsigned long e = ERR_peek_last_error();

		snprintf(err, errlen, "PartnerLookup: TLS client: %s",
		    e ? ERR_reason_error_string(e) : "out of memory");
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return -1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	dp->tls = ctx;
	return 0;
}

dir_partner_t *
dir_partner_new(char *const *pairs, int timeout, const char *ca_file,
    int system_store, char *err, size_t errlen)
{
	dir_partner_t *dp = calloc(1, sizeof(*dp));
	size_t i;

	if (dp == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&dp->lock, NULL);
	dp->timeout = timeout > 0 ? timeout : 10;
	for (i = 0; pairs != NULL && pairs[i] != NULL; i += 2) {
		if (pairs[i + 1] == NULL) {
			snprintf(err, errlen, "PartnerLookup: %s has no URL", pairs[i]);
			break;
		}
		if (partner_add(dp, pairs[i], pairs[i + 1], err, errlen) != 0)
			break;
	}
	if (pairs != NULL && pairs[i] != NULL)
		goto fail;
	for (size_t j = 0; j < dp->n; j++)
		if (dp->p[j].tls && dp->tls == NULL
		    && partner_tls(dp, ca_file, system_store, err, errlen) != 0)
			goto fail;
	return dp;
fail:
	dir_partner_free(dp);
	return NULL;
}

size_t
dir_partner_count(const dir_partner_t *dp)
{
	return dp != NULL ? dp->n : 0;
}

/* The partner of address's domain, or NULL. */
static struct partner *
partner_of(const dir_partner_t *dp, const char *address)
{
	const char *dom = util_addr_domain(address);

	for (size_t i = 0; dom != NULL && dp != NULL && i < dp->n; i++)
		if (strcasecmp(dp->p[i].domain, dom) == 0)
			return (struct partner *)&dp->p[i];
	return NULL;
}

const char *
dir_partner_url(const dir_partner_t *dp, const char *address)
{
	struct partner *p = partner_of(dp, address);

	return p != NULL ? p->url : NULL;
}

/* 1 when the error queue says the server answered 404. */
static int
answered_404(void)
{
	const char *data = NULL;
	int flags = 0;
	unsigned long e;
	int found = 0;

	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0)
		if (ERR_GET_LIB(e) == ERR_LIB_HTTP && ERR_GET_REASON(e) == HTTP_R_RECEIVED_ERROR
		    && (flags & ERR_TXT_STRING) && data != NULL
		    && strncmp(data, "code=404", 8) == 0 && (data[8] == '\0' || data[8] == ','))
			found = 1;
	return found;
}

/* What the TLS callback needs: the client and the host to verify. */
struct tls_arg {
	SSL_CTX *ctx;
	const char *host;
};

/* The host name (or IP address) the peer's certificate must name, and
 * SNI for a name; 1, or 0. */
static int
tls_peer_name(SSL *ssl, const char *host)
{
	unsigned char ip[16];

	if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	return SSL_set_tlsext_host_name(ssl, host) && SSL_set1_host(ssl, host);
}

/* OSSL_HTTP_transfer()'s bio_update_fn: TLS on the connection when it
 * opens (detail: use_ssl), taken off when it closes (as OpenSSL's own
 * applications do). */
static BIO *
tls_cb(BIO *bio, void *arg, int connect, int detail)
{
	const struct tls_arg *t = arg;
	BIO *sbio, *cbio;
	SSL *ssl;

	if (connect && detail) {
		if ((sbio = BIO_new(BIO_f_ssl())) == NULL)
			return NULL;
		if ((ssl = SSL_new(t->ctx)) == NULL || !tls_peer_name(ssl, t->host)) {
			SSL_free(ssl);
			BIO_free(sbio);
			return NULL;
		}
		SSL_set_connect_state(ssl);
		BIO_set_ssl(sbio, ssl, BIO_CLOSE);
		return BIO_push(sbio, bio);
	}
	if (!connect && BIO_method_type(bio) == BIO_TYPE_SSL) {
		(void)ERR_set_mark();
		BIO_ssl_shutdown(bio);
		cbio = BIO_pop(bio);
		BIO_free(bio);
		(void)ERR_pop_to_mark();
		return cbio;
	}
	return bio;
}

/* The answer to URL?mail=ADDRESS&format=p7c: a BIO, or NULL with *notfound
 * set for a 404, else with why. */
static BIO *
partner_get(const dir_partner_t *dp, const struct partner *p, const char *address,
    int *notfound, char *why, size_t len)
{
	char *enc = evhttp_uriencode(address, -1, 0), *path = NULL;
	struct tls_arg t = { dp->tls, p->host };
	unsigned long e;
	BIO *b = NULL;

	*notfound = 0;
	if (enc == NULL || asprintf(&path, "%s?mail=%s&format=p7c", p->path, enc) < 0) {
		free(enc);
		snprintf(why, len, "out of memory");
		return NULL;
	}
	free(enc);
	ERR_clear_error();
	/* A redirection is an error here: the partner's URL is the one asked.
	 * https://: no proxy ("": none), since none is tunnelled. */
	b = OSSL_HTTP_transfer(NULL, p->host, p->port, path, p->tls, p->tls ? "" : NULL,
	    NULL, NULL, NULL, p->tls ? tls_cb : NULL, p->tls ? &t : NULL, 0, NULL, NULL,
	    NULL, NULL, 1, PARTNER_MAX_SIZE, dp->timeout, 0);
	free(path);
	if (b != NULL)
		return b;
	e = ERR_peek_last_error();
	snprintf(why, len, "partner %s (%s): %s", p->domain, p->url,
	    e ? ERR_reason_error_string(e) : "no answer");
	*notfound = answered_404();
	ERR_clear_error();
	return NULL;
}

/* The answer's octets (at most PARTNER_MAX_SIZE) into *der (malloc'ed);
 * their number, or -1. */
static long
read_all(BIO *b, unsigned char **der)
{
	long n = 0;
	int r;

	if ((*der = malloc(PARTNER_MAX_SIZE)) == NULL)
		return -1;
	while (n < PARTNER_MAX_SIZE
	    && (r = BIO_read(b, *der + n, (int)(PARTNER_MAX_SIZE - n))) > 0)
		n += r;
	return n;
}

dir_status_t
dir_partner_fetch(dir_partner_t *dp, const char *address, STACK_OF(X509) **certs,
    char *why, size_t len)
{
	struct partner *p = partner_of(dp, address);
	time_t now = time(NULL);
	unsigned char *der = NULL;
	int notfound = 0, n;
	long dlen;
	BIO *b;

	*certs = NULL;
	if (p == NULL)
		return DIR_NOTFOUND;
	pthread_mutex_lock(&dp->lock);
	if (p->down_until > now) {
		snprintf(why, len, "%s (not asked again before %lds)", p->why,
		    (long)(p->down_until - now));
		pthread_mutex_unlock(&dp->lock);
		return DIR_ERR_UNAVAILABLE;
	}
	pthread_mutex_unlock(&dp->lock);
	if ((*certs = sk_X509_new_null()) == NULL) {
		snprintf(why, len, "out of memory");
		return DIR_ERR_NOMEM;
	}
	if ((b = partner_get(dp, p, address, &notfound, why, len)) == NULL) {
		if (notfound)
			return DIR_OK;          /* no certificate: an empty stack */
		pthread_mutex_lock(&dp->lock);
		p->down_until = now + PARTNER_RETRY_AFTER;
		snprintf(p->why, sizeof(p->why), "%s", why);
		pthread_mutex_unlock(&dp->lock);
		return DIR_ERR_UNAVAILABLE;
	}
	dlen = read_all(b, &der);
	n = dlen > 0 ? dir_ldap_parse_value(der, (size_t)dlen, *certs) : -1;
	free(der);
	BIO_free(b);
	while (sk_X509_num(*certs) > PARTNER_MAX_CERTS)
		X509_free(sk_X509_pop(*certs));
	if (n < 0)
		snprintf(why, len, "partner %s (%s): the answer is neither a certificate nor "
		    "a certs-only PKCS#7", p->domain, p->url);
	return DIR_OK;
}
