/*
 * dir_ocsp.c: a certificate's revocation status from the OCSP responder
 * its authorityInfoAccess names (RFC 6960), with OpenSSL's OCSP API and
 * its HTTP client (OSSL_HTTP_transfer: a timeout, a size limit).
 *
 * Every request carries a nonce.  A response counts only when (in
 * dir_ocsp_response_check()): its status is successful; its nonce, when
 * it has one, is the request's; its signature verifies and the signer is
 * the certificate's issuer or a responder the issuer delegated to (an
 * id-kp-OCSPSigning certificate issued by it), chained to the trust
 * anchors (OCSP_basic_verify); it answers for this very certificate (the
 * CertID of issuer and serial); and thisUpdate/nextUpdate hold now,
 * within DIR_OCSP_SKEW seconds.  Anything else is "unavailable", never
 * "good": the caller falls back to the CRL (OCSPUnavailable).
 *
 * A checked answer is kept in the cache tier (dir_cache_blob_put: memory,
 * or Redis sealed like every value there) under "ocsp:" and the SHA-256
 * of the CertID, until its nextUpdate and at most OCSPCacheTime seconds;
 * a response without nextUpdate is kept OCSPCacheTime seconds.  The
 * value is the verdict's letter, why, and after a NUL the time it holds
 * until (decimal), which the caller's verdict may not outlive; a value
 * without it (an older gateway's) holds for no verdict.
 *
 * A responder that gives no answer at all (refused, timed out) is not
 * asked again for OCSP_RETRY_AFTER seconds (a table of OCSP_DOWN_MAX
 * URLs), so that a dead one does not cost OCSPTimeout per message.
 *
 * Threads: the settings are read-only after dir_ocsp_new(); one mutex
 * guards the table of silent responders; the cache has its own lock; each
 * check has its own request and response.
 */
#include "directory/dir_int.h"
#include "util/util_alg.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/http.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#define OCSP_MAX_SIZE   (64L * 1024)     /* octets of a response */
#define OCSP_KEY_PREFIX "ocsp:"
#define OCSP_RETRY_AFTER 30              /* seconds a silent responder rests */
#define OCSP_DOWN_MAX    16

typedef struct ocsp_down {
	char url[256];
	char why[200];
	time_t until;
} ocsp_down_t;

struct dir_ocsp {
	pthread_mutex_t lock;       /* down[] */
	ocsp_down_t down[OCSP_DOWN_MAX];
	int timeout;                /* seconds per request */
	long cache_seconds;         /* keep an answer at most this long */
	dir_cache_t *cache;         /* borrowed; NULL: nothing kept */
	dir_ocsp_fetch_fn fetch;    /* NULL: HTTP */
	void *fetch_arg;
};

dir_ocsp_t *
dir_ocsp_new(const dir_settings_t *s)
{
	dir_ocsp_t *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	pthread_mutex_init(&o->lock, NULL);
	o->timeout = s->ocsp_timeout > 0 ? s->ocsp_timeout : 10;
	o->cache_seconds = s->ocsp_cache_seconds;
	o->fetch = s->ocsp_fetch;
	o->fetch_arg = s->ocsp_fetch_arg;
	return o;
}

void
dir_ocsp_free(dir_ocsp_t *o)
{
	if (o == NULL)
		return;
	pthread_mutex_destroy(&o->lock);
	free(o);
}

/* 1 (why filled) when url gave no answer less than OCSP_RETRY_AFTER ago. */
static int
down_get(dir_ocsp_t *o, const char *url, char *why, size_t len)
{
	time_t now = time(NULL);
	int down = 0;

	pthread_mutex_lock(&o->lock);
	for (int i = 0; !down && i < OCSP_DOWN_MAX; i++)
		if (o->down[i].until > now && strcmp(o->down[i].url, url) == 0) {
			snprintf(why, len, "%s (not asked again until %lds from now)",
			    o->down[i].why, (long)(o->down[i].until - now));
			down = 1;
		}
	pthread_mutex_unlock(&o->lock);
	return down;
}

/* Remembers that url gave no answer (the slot of url, else the oldest). */
static void
down_put(dir_ocsp_t *o, const char *url, const char *why)
{
	int slot = 0;

	if (strlen(url) >= sizeof(o->down[0].url))
		return;
	pthread_mutex_lock(&o->lock);
	for (int i = 0; i < OCSP_DOWN_MAX; i++) {
		if (strcmp(o->down[i].url, url) == 0) {
			slot = i;
			break;
		}
		if (o->down[i].until < o->down[slot].until)
			slot = i;
	}
	snprintf(o->down[slot].url, sizeof(o->down[slot].url), "%s", url);
	snprintf(o->down[slot].why, sizeof(o->down[slot].why), "%s", why);
	o->down[slot].until = time(NULL) + OCSP_RETRY_AFTER;
	pthread_mutex_unlock(&o->lock);
}

void
dir_ocsp_cache_set(dir_ocsp_t *o, dir_cache_t *c)
{
	o->cache = c;
}

const char *
dir_ocsp_result_name(dir_ocsp_result_t r)
{
	switch (r) {
	case DIR_OCSP_GOOD: return "good";
	case DIR_OCSP_REVOKED: return "revoked";
	case DIR_OCSP_UNKNOWN: return "unknown";
	case DIR_OCSP_UNAVAILABLE: return "unavailable";
	default: return "none";
	}
}

/* The first http:// OCSP URL of cert's authorityInfoAccess, or NULL. */
char *
dir_ocsp_url(X509 *cert)
{
	STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(cert);
	char *url = NULL;

	for (int i = 0; url == NULL && i < sk_OPENSSL_STRING_num(urls); i++) {
		const char *u = sk_OPENSSL_STRING_value(urls, i);
		if (strncmp(u, "http://", 7) == 0)
			url = strdup(u);
	}
	X509_email_free(urls);
	return url;
}

static time_t
asn1_time_t(const ASN1_GENERALIZEDTIME *t)
{
	struct tm tm;

	return t != NULL && ASN1_TIME_to_tm(t, &tm) ? timegm(&tm) : 0;
}

static void
revoked_why(int reason, const ASN1_GENERALIZEDTIME *when, char *why, size_t len)
{
	struct tm tm;
	char at[40] = "?";

	if (when != NULL && ASN1_TIME_to_tm(when, &tm))
		strftime(at, sizeof(at), "%Y-%m-%d %H:%M:%S UTC", &tm);
	snprintf(why, len, "revoked (OCSP: since %s, reason %s)", at,
	    reason >= 0 ? OCSP_crl_reason_str(reason) : "not given");
}

dir_ocsp_result_t
dir_ocsp_response_check(const unsigned char *der, size_t derlen, OCSP_REQUEST *req,
    OCSP_CERTID *id, X509_STORE *store, STACK_OF(X509) *certs, long skew,
    long max_age, time_t *until, char *why, size_t len)
{
	const unsigned char *p = der;
	OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)derlen);
	OCSP_BASICRESP *bs = NULL;
	ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
	dir_ocsp_result_t r = DIR_OCSP_UNAVAILABLE;
	int st, status = -1, reason = -1, n;
	time_t now = time(NULL), next;

	*until = 0;
	if (resp == NULL) {
		snprintf(why, len, "not an OCSP response");
		goto done;
	}
	if ((st = OCSP_response_status(resp)) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		snprintf(why, len, "the responder answered %s", OCSP_response_status_str(st));
		goto done;
	}
	if ((bs = OCSP_response_get1_basic(resp)) == NULL) {
		snprintf(why, len, "not a basic OCSP response");
		goto done;
	}
	/* 1 equal, -1 none in the response (pre-produced): fine; 0 differ. */
	if ((n = OCSP_check_nonce(req, bs)) == 0 || n == 3) {
		snprintf(why, len, "the response's nonce is not the request's (a replay?)");
		goto done;
	}
	if (OCSP_basic_verify(bs, certs, store, 0) <= 0) {
		unsigned long e = ERR_peek_last_error();
		snprintf(why, len, "the response's signature or signer does not verify (%s)",
		    e ? ERR_reason_error_string(e) : "?");
		goto done;
	}
	if (!OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisupd, &nextupd)) {
		snprintf(why, len, "the response does not answer for this certificate");
		goto done;
	}
	if (!OCSP_check_validity(thisupd, nextupd, skew, nextupd ? -1 : max_age)) {
		snprintf(why, len, "the response is out of date (thisUpdate/nextUpdate)");
		goto done;
	}
	next = nextupd != NULL ? asn1_time_t(nextupd) : now + max_age;
	*until = next < now + max_age ? next : now + max_age;
	if (status == V_OCSP_CERTSTATUS_GOOD) {
		r = DIR_OCSP_GOOD;
		snprintf(why, len, "good (OCSP)");
	} else if (status == V_OCSP_CERTSTATUS_REVOKED) {
		r = DIR_OCSP_REVOKED;
		revoked_why(reason, rev, why, len);
	} else {
		r = DIR_OCSP_UNKNOWN;
		snprintf(why, len, "unknown to its OCSP responder");
	}
done:
	ERR_clear_error();
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	return r;
}

/* The response's DER for req at url (http:// only), malloc'ed, or NULL. */
static unsigned char *
ocsp_fetch(const dir_ocsp_t *o, const char *url, OCSP_REQUEST *req, size_t *outlen,
    char *why, size_t len)
{
	BIO *in = NULL, *rsp = NULL;
	char *host = NULL, *port = NULL, *path = NULL;
	unsigned char *der = NULL, *reqder = NULL, buf[4096];
	int ssl = 1, n, reqlen = i2d_OCSP_REQUEST(req, &reqder);
	size_t got = 0;

	if (reqlen <= 0)
		snprintf(why, len, "cannot encode the OCSP request");
	else if (o->fetch != NULL)
		rsp = o->fetch(o->fetch_arg, url, reqder, (size_t)reqlen, why, len);
	else if (!OSSL_HTTP_parse_url(url, &ssl, NULL, &host, &port, NULL, &path, NULL,
	    NULL) || ssl)
		snprintf(why, len, "%s: only http:// responders are asked", url);
	else if ((in = BIO_new_mem_buf(reqder, reqlen)) == NULL)
		snprintf(why, len, "out of memory");
	else if ((rsp = OSSL_HTTP_transfer(NULL, host, port, path, 0, NULL, NULL, NULL,
	    NULL, NULL, NULL, 0, NULL, "application/ocsp-request", in,
	    "application/ocsp-response", 1, OCSP_MAX_SIZE, o->timeout, 0)) == NULL) {
		unsigned long e = ERR_peek_last_error();
		snprintf(why, len, "OCSP responder %s: %s", url,
		    e ? ERR_reason_error_string(e) : "no answer");
	}
	while (rsp != NULL && (n = BIO_read(rsp, buf, sizeof(buf))) > 0
	    && got + (size_t)n <= (size_t)OCSP_MAX_SIZE) {
		unsigned char *d = realloc(der, got + (size_t)n);
		if (d == NULL)
			break;
		der = d;
		memcpy(der + got, buf, (size_t)n);
		got += (size_t)n;
	}
	*outlen = got;
	BIO_free(in);
	BIO_free(rsp);
	OPENSSL_free(reqder);
	OPENSSL_free(host);
	OPENSSL_free(port);
	OPENSSL_free(path);
	ERR_clear_error();
	return der;
}

/* "ocsp:" + hex SHA-256 of the CertID's DER, or NULL. */
static char *
cache_key(OCSP_CERTID *id)
{
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int n = i2d_OCSP_CERTID(id, &der);
	char *key = NULL;

	if (n > 0 && EVP_Digest(der, (size_t)n, md, &mdlen, util_alg_sha256(), NULL)
	    && (key = malloc(sizeof(OCSP_KEY_PREFIX) + 2 * mdlen)) != NULL) {
		strcpy(key, OCSP_KEY_PREFIX);
		for (unsigned int i = 0; i < mdlen; i++)
			snprintf(key + strlen(OCSP_KEY_PREFIX) + 2 * i, 3, "%02x", md[i]);
	}
	OPENSSL_free(der);
	return key;
}

/* A cached answer: 'G', 'R' or 'U', then why, then NUL and until.  1
 * when there is one; *until 0 when the value does not say. */
static int
cache_read(dir_ocsp_t *o, const char *key, dir_ocsp_result_t *r, time_t *until,
    char *why, size_t len)
{
	unsigned char *v = NULL;
	size_t vlen = 0, wlen;
	char note[256], num[24];
	int hit = o->cache != NULL && key != NULL
	    && dir_cache_blob_get(o->cache, key, &v, &vlen, note, sizeof(note));
	const unsigned char *nul;

	*until = 0;
	if (hit && vlen >= 1 && (v[0] == 'G' || v[0] == 'R' || v[0] == 'U')) {
		*r = v[0] == 'G' ? DIR_OCSP_GOOD : v[0] == 'R' ? DIR_OCSP_REVOKED
		    : DIR_OCSP_UNKNOWN;
		nul = memchr(v + 1, '\0', vlen - 1);
		wlen = nul != NULL ? (size_t)(nul - v) - 1 : vlen - 1;
		snprintf(why, len, "%.*s (cached)", (int)wlen, (const char *)v + 1);
		if (nul != NULL && (size_t)(v + vlen - nul - 1) < sizeof(num)) {
			memcpy(num, nul + 1, (size_t)(v + vlen - nul - 1));
			num[v + vlen - nul - 1] = '\0';
			*until = (time_t)strtoll(num, NULL, 10);
		}
	} else {
		hit = 0;
	}
	free(v);
	return hit;
}

static void
cache_write(dir_ocsp_t *o, const char *key, dir_ocsp_result_t r, const char *why,
    time_t until)
{
	char v[300], note[256];
	long ttl = (long)(until - time(NULL));
	int n;

	if (o->cache == NULL || key == NULL || ttl <= 0 || o->cache_seconds <= 0)
		return;
	n = snprintf(v, sizeof(v), "%c%.200s%c%lld", r == DIR_OCSP_GOOD ? 'G'
	    : r == DIR_OCSP_REVOKED ? 'R' : 'U', why, '\0', (long long)until);
	if (n > 0 && (size_t)n < sizeof(v))
		dir_cache_blob_put(o->cache, key, (const unsigned char *)v, (size_t)n, ttl,
		    note, sizeof(note));
}

/* A request for id with a nonce; NULL when out of memory. */
static OCSP_REQUEST *
request_new(OCSP_CERTID *id)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_CERTID *copy = OCSP_CERTID_dup(id);

	if (req == NULL || copy == NULL || OCSP_request_add0_id(req, copy) == NULL) {
		OCSP_CERTID_free(copy);
		OCSP_REQUEST_free(req);
		return NULL;
	}
	if (!OCSP_request_add1_nonce(req, NULL, -1)) {
		OCSP_REQUEST_free(req);
		return NULL;
	}
	return req;
}

/* Asks url about id: the checked answer. */
static dir_ocsp_result_t
ask(dir_ocsp_t *o, const char *url, OCSP_CERTID *id, X509 *issuer, X509_STORE *store,
    STACK_OF(X509) *untrusted, time_t *until, char *why, size_t len)
{
	OCSP_REQUEST *req = request_new(id);
	STACK_OF(X509) *certs = untrusted ? sk_X509_dup(untrusted) : sk_X509_new_null();
	unsigned char *der = NULL;
	size_t derlen = 0;
	dir_ocsp_result_t r = DIR_OCSP_UNAVAILABLE;

	if (req == NULL || certs == NULL || !sk_X509_push(certs, issuer))
		snprintf(why, len, "out of memory");
	else if (down_get(o, url, why, len))
		;
	else if ((der = ocsp_fetch(o, url, req, &derlen, why, len)) != NULL)
		r = dir_ocsp_response_check(der, derlen, req, id, store, certs, DIR_OCSP_SKEW,
		    o->cache_seconds > 0 ? o->cache_seconds : DIR_OCSP_SKEW, until, why, len);
	else {
		if (why[0] == '\0')
			snprintf(why, len, "OCSP responder %s: no answer", url);
		down_put(o, url, why);
	}
	free(der);
	sk_X509_free(certs);
	OCSP_REQUEST_free(req);
	return r;
}

dir_ocsp_result_t
dir_ocsp_status(dir_ocsp_t *o, X509 *cert, X509 *issuer, X509_STORE *store,
    STACK_OF(X509) *untrusted, time_t *until_out, char *why, size_t len)
{
	char *url = dir_ocsp_url(cert), *key = NULL, msg[256] = "";
	OCSP_CERTID *id = NULL;
	dir_ocsp_result_t r = DIR_OCSP_NONE;
	time_t until = 0;

	if (until_out != NULL)
		*until_out = 0;
	if (url == NULL)
		return DIR_OCSP_NONE;
	r = DIR_OCSP_UNAVAILABLE;
	if ((id = OCSP_cert_to_id(NULL, cert, issuer)) == NULL) {
		snprintf(why, len, "cannot make the OCSP CertID");
		goto done;
	}
	key = cache_key(id);
	if (cache_read(o, key, &r, &until, why, len))
		goto done;
	r = ask(o, url, id, issuer, store, untrusted, &until, msg, sizeof(msg));
	snprintf(why, len, "%s", msg);
	if (r == DIR_OCSP_GOOD || r == DIR_OCSP_REVOKED || r == DIR_OCSP_UNKNOWN)
		cache_write(o, key, r, msg, until);
	if (o->cache_seconds <= 0 || !(r == DIR_OCSP_GOOD || r == DIR_OCSP_REVOKED
	    || r == DIR_OCSP_UNKNOWN))
		until = 0;              /* OCSPCacheTime 0: no answer is kept */
done:
	if (until_out != NULL)
		*until_out = until;
	ERR_clear_error();
	OCSP_CERTID_free(id);
	free(key);
	free(url);
	return r;
}
