/*
 * dir_crl.c: CRLs from certificates' distribution points, fetched over
 * HTTP with OpenSSL's client (OSSL_HTTP_get, a timeout, a size limit) and
 * kept in memory until their nextUpdate or the configured time, whichever
 * comes first.  A failed fetch is remembered for a short while too, so
 * that a dead CRL server does not cost a timeout per message.
 *
 * The table's generation grows whenever it takes in a fetch's outcome
 * (a CRL, or a failure), so that a verdict built on an older CRL
 * (dir_verdict.c) is not believed after a newer one came in, even one
 * fetched before the older one's time was up (after an eviction).
 *
 * Threads: one mutex guards the table; fetching happens without it; the
 * generation is atomic.
 */
#include "directory/dir_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/http.h>

#define CRL_MAX_ENTRIES 64
#define CRL_MAX_SIZE    (8L * 1024 * 1024)
#define CRL_RETRY_AFTER 30              /* seconds before retrying a failure */

typedef struct crl_entry {
	char *url;
	X509_CRL *crl;                  /* NULL: the last fetch failed */
	char why[200];
	time_t expires;
} crl_entry_t;

struct dir_crl {
	pthread_mutex_t lock;
	int timeout;
	long cache_seconds;
	dir_crl_fetch_fn fetch;         /* NULL: OSSL_HTTP_get */
	void *fetch_arg;
	crl_entry_t e[CRL_MAX_ENTRIES];
	size_t n;
	unsigned long gen;
};

dir_crl_t *
dir_crl_new(int timeout, long cache_seconds, dir_crl_fetch_fn fetch, void *fetch_arg)
{
	dir_crl_t *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	c->timeout = timeout;
	c->cache_seconds = cache_seconds;
	c->fetch = fetch;
	c->fetch_arg = fetch_arg;
	return c;
}

void
dir_crl_free(dir_crl_t *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->e[i].url);
		X509_CRL_free(c->e[i].crl);
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* When a CRL stops being used: nextUpdate or now + cache_seconds. */
static time_t
crl_expiry(const dir_crl_t *c, X509_CRL *crl, time_t now)
{
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
	time_t until = now + c->cache_seconds;
	struct tm tm;

	if (next != NULL && ASN1_TIME_to_tm(next, &tm)) {
		time_t t = timegm(&tm);
		if (t < until)
			until = t;
	}
	return until;
}

static X509_CRL *
crl_fetch(const dir_crl_t *c, const char *url, int timeout, char *why, size_t len)
{
	BIO *b;
	X509_CRL *crl = NULL;

	if (strncmp(url, "http://", 7) != 0) {
		snprintf(why, len, "%s: only http:// CRLs are fetched", url);
		return NULL;
	}
	if (c->fetch != NULL) {
		if ((b = c->fetch(c->fetch_arg, url, why, len)) == NULL)
			return NULL;
	} else {
		b = OSSL_HTTP_get(url, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL,
		    NULL, 1, CRL_MAX_SIZE, timeout < c->timeout ? timeout : c->timeout);
	}
	if (b == NULL) {
		unsigned long e = ERR_peek_last_error();
		snprintf(why, len, "cannot fetch the CRL %s: %s", url,
		    e ? ERR_reason_error_string(e) : "no answer");
		ERR_clear_error();
		return NULL;
	}
	crl = d2i_X509_CRL_bio(b, NULL);
	BIO_free(b);
	if (crl == NULL)
		snprintf(why, len, "%s: not a DER CRL", url);
	ERR_clear_error();
	return crl;
}

static crl_entry_t *
crl_slot(dir_crl_t *c, const char *url)
{
	size_t oldest = 0;

	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->e[i].url, url) == 0)
			return &c->e[i];
	if (c->n < CRL_MAX_ENTRIES) {
		if ((c->e[c->n].url = strdup(url)) == NULL)
			return NULL;
		return &c->e[c->n++];
	}
	for (size_t i = 1; i < c->n; i++)
		if (c->e[i].expires < c->e[oldest].expires)
			oldest = i;
	X509_CRL_free(c->e[oldest].crl);
	c->e[oldest].crl = NULL;
	free(c->e[oldest].url);
	if ((c->e[oldest].url = strdup(url)) == NULL) {
		c->e[oldest] = c->e[--c->n];
		return NULL;
	}
	return &c->e[oldest];
}

unsigned long
dir_crl_generation(dir_crl_t *c)
{
	return __atomic_load_n(&c->gen, __ATOMIC_SEQ_CST);
}

X509_CRL *
dir_crl_get(dir_crl_t *c, const char *url, int timeout, time_t *until, int *fetched,
    char *why, size_t len)
{
	time_t now = time(NULL), ignored;
	X509_CRL *crl;
	crl_entry_t *e;

	if (until == NULL)
		until = &ignored;
	*until = 0;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n; i++) {
		e = &c->e[i];
		if (strcmp(e->url, url) != 0 || e->expires <= now)
			continue;
		crl = e->crl;
		*until = e->expires;
		if (crl != NULL)
			X509_CRL_up_ref(crl);
		else
			snprintf(why, len, "%s", e->why);
		pthread_mutex_unlock(&c->lock);
		return crl;
	}
	pthread_mutex_unlock(&c->lock);

	crl = crl_fetch(c, url, timeout, why, len);
	pthread_mutex_lock(&c->lock);
	if ((e = crl_slot(c, url)) != NULL) {
		X509_CRL_free(e->crl);
		e->crl = crl;
		if (crl != NULL)
			X509_CRL_up_ref(crl);
		snprintf(e->why, sizeof(e->why), "%s", crl ? "" : why);
		e->expires = crl ? crl_expiry(c, crl, now) : now + CRL_RETRY_AFTER;
		*until = e->expires;
	}
	__atomic_add_fetch(&c->gen, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&c->lock);
	if (fetched != NULL)
		(*fetched)++;
	if (crl != NULL && *until == 0)
		*until = crl_expiry(c, crl, now);
	return crl;
}
