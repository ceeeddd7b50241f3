/*
 * dir_lookup.c: the dir_lookup_t of dir_lookup.h: harvested certificates,
 * then the cache, then each LDAP directory in order, then the partner
 * gateway of the recipient's domain; every candidate
 * checked by dir_check.c, the newest usable one chosen, the answer
 * cached (positive or negative; never an "unavailable").
 *
 * Threads: the handle is shared; the harvest store is opened (once, under
 * a mutex) when its directory first exists; the search counter is atomic.
 */
#include "util/util_addr.h"
#include "directory/dir_int.h"
#include "directory/dir_harvest.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/bn.h>
#include <openssl/err.h>

#define LOOKUP_MAX_ADDR  320
#define LOOKUP_MAX_DIRS  16

struct dir_lookup {
	dir_check_t *chk;
	dir_cache_t *cache;
	dir_redis_t *redis;         /* the Redis server of cache and harvest */
	dir_ldap_t *dirs[LOOKUP_MAX_DIRS];
	size_t ndirs;
	dir_partner_t *partners;
	char *harvest_dir;
	dir_harvest_t *harvest;
	pthread_mutex_t hlock;
	time_t harvest_tried;
	unsigned long searches;
};

dir_lookup_t *
dir_lookup_new(const dir_settings_t *s, char *err, size_t errlen)
{
	dir_lookup_t *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&l->hlock, NULL);
	if ((l->chk = dir_check_new(s, err, errlen)) == NULL)
		goto fail;
	if (s->redis != NULL && *s->redis != '\0' &&
	    (l->redis = dir_redis_new(s, err, errlen)) == NULL)
		goto fail;
	if ((l->cache = dir_cache_new(s, l->redis, err, errlen)) == NULL)
		goto fail;
	dir_check_cache_set(l->chk, l->cache);
	for (size_t i = 0; s->ldap_urls != NULL && s->ldap_urls[i] != NULL; i++) {
		if (l->ndirs == LOOKUP_MAX_DIRS) {
			snprintf(err, errlen, "more than %d directories", LOOKUP_MAX_DIRS);
			goto fail;
		}
		if ((l->dirs[l->ndirs] = dir_ldap_new(s->ldap_urls[i], s, err, errlen)) == NULL)
			goto fail;
		l->ndirs++;
	}
	if ((l->partners = dir_partner_new(s->partners, s->partner_timeout, s->ca_file,
	    s->system_store, err, errlen)) == NULL)
		goto fail;
	if (s->harvest_dir != NULL && *s->harvest_dir != '\0' &&
	    (l->harvest_dir = strdup(s->harvest_dir)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (l->harvest_dir != NULL && s->harvest_redis && l->redis == NULL) {
		snprintf(err, errlen, "a harvest store in Redis needs a Redis server");
		goto fail;
	}
	if (l->harvest_dir != NULL && s->harvest_redis && (l->harvest =
	    dir_harvest_open_redis(l->redis, s->harvest_prefix, err, errlen)) == NULL)
		goto fail;
	return l;
fail:
	dir_lookup_free(l);
	return NULL;
}

int
dir_lookup_trust_add(dir_lookup_t *l, X509 *cert)
{
	return dir_check_trust_add(l->chk, cert);
}

int
dir_lookup_revoked(dir_lookup_t *l, X509 *cert, STACK_OF(X509) *chain,
    char *why, size_t len)
{
	return dir_check_revoked(l->chk, cert, chain, why, len);
}

void
dir_lookup_free(dir_lookup_t *l)
{
	if (l == NULL)
		return;
	dir_check_free(l->chk);
	dir_cache_free(l->cache);
	for (size_t i = 0; i < l->ndirs; i++)
		dir_ldap_free(l->dirs[i]);
	dir_partner_free(l->partners);
	dir_harvest_free(l->harvest);
	dir_redis_free(l->redis);
	free(l->harvest_dir);
	pthread_mutex_destroy(&l->hlock);
	free(l);
}

dir_harvest_t *
dir_lookup_harvest(dir_lookup_t *l)
{
	char err[256];
	time_t now = time(NULL);
	dir_harvest_t *h;

	if (l->harvest_dir == NULL)
		return NULL;
	pthread_mutex_lock(&l->hlock);
	if (l->harvest == NULL && now - l->harvest_tried >= 60) {
		l->harvest_tried = now;
		l->harvest = dir_harvest_open(l->harvest_dir, err, sizeof(err));
	}
	h = l->harvest;
	pthread_mutex_unlock(&l->hlock);
	return h;
}

void
dir_lookup_health(dir_lookup_t *l, dir_health_t *h)
{
	char why[256] = "";
	dir_harvest_t *hv;

	memset(h, 0, sizeof(*h));
	h->directories = (int)l->ndirs;
	for (size_t i = 0; i < l->ndirs; i++) {
		if (dir_ldap_ping(l->dirs[i], why, sizeof(why)) == DIR_OK)
			h->directories_up++;
		else if (h->dir_why[0] == '\0')
			snprintf(h->dir_why, sizeof(h->dir_why), "%s", why);
	}
	h->cache = dir_cache_ping(l->cache, h->cache_why, sizeof(h->cache_why));
	hv = dir_lookup_harvest(l);
	if (hv == NULL)
		h->harvest = 2;
	else if (!dir_harvest_is_redis(hv))
		h->harvest = 1;
	else
		h->harvest = dir_harvest_ping(hv, h->harvest_why, sizeof(h->harvest_why));
}

size_t
dir_lookup_ndirs(const dir_lookup_t *l)
{
	return l->ndirs;
}

const char *
dir_lookup_partner(const dir_lookup_t *l, const char *address)
{
	return dir_partner_url(l->partners, address);
}

dir_cache_t *
dir_lookup_cache_of(dir_lookup_t *l)
{
	return l->cache;
}

void
dir_lookup_cache_stats(const dir_lookup_t *l, dir_cache_stats_t *st)
{
	dir_cache_stats(l->cache, st);
}

unsigned long
dir_lookup_searches(const dir_lookup_t *l)
{
	return __atomic_load_n(&l->searches, __ATOMIC_SEQ_CST);
}

void
dir_answer_clear(dir_answer_t *a)
{
	X509_free(a->cert);
	sk_X509_pop_free(a->chain, X509_free);
	free(a->cands);
	memset(a, 0, sizeof(*a));
}

static dir_candidate_t *
cand_add(dir_answer_t *a, X509 *cert, const char *source)
{
	dir_candidate_t *c = realloc(a->cands, (a->ncands + 1) * sizeof(*c));
	BIGNUM *bn;
	char *hex;
	struct tm tm;

	if (c == NULL)
		return NULL;
	a->cands = c;
	c = &a->cands[a->ncands++];
	memset(c, 0, sizeof(*c));
	snprintf(c->source, sizeof(c->source), "%s", source);
	X509_NAME_oneline(X509_get_subject_name(cert), c->subject, sizeof(c->subject));
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	hex = bn ? BN_bn2hex(bn) : NULL;
	snprintf(c->serial, sizeof(c->serial), "%s", hex ? hex : "?");
	OPENSSL_free(hex);
	BN_free(bn);
	if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm))
		strftime(c->not_after, sizeof(c->not_after), "%Y-%m-%d %H:%M:%S UTC", &tm);
	return c;
}

/* Checks one candidate; records the verdict.  1 usable, 0 not, -1 the CRL
 * cannot be had (tempfail policy). */
static int
judge(dir_lookup_t *l, dir_answer_t *a, X509 *cert, STACK_OF(X509) *chain,
    const char *addr, const char *source)
{
	dir_candidate_t *c = cand_add(a, cert, source);
	char why[256] = "";
	dir_status_t st = dir_check_cert(l->chk, cert, chain, addr, why, sizeof(why));

	if (c != NULL) {
		snprintf(c->verdict, sizeof(c->verdict), "%s",
		    st == DIR_OK ? "usable" : why);
		c->usable = st == DIR_OK;
	}
	return st == DIR_OK ? 1 : st == DIR_ERR_UNAVAILABLE ? -1 : 0;
}

/* The later notBefore: the newer certificate. */
static int
newer(X509 *a, X509 *b)
{
	return b == NULL || ASN1_TIME_compare(X509_get0_notBefore(a),
	    X509_get0_notBefore(b)) > 0;
}

/* The CA certificates of chain (may be NULL), in a new stack (NULL when
 * there are none or out of memory). */
static STACK_OF(X509) *
chain_cas(STACK_OF(X509) *chain)
{
	STACK_OF(X509) *out = NULL;

	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);

		if (!dir_check_is_ca(x))
			continue;
		if ((out == NULL && (out = sk_X509_new_null()) == NULL) || !sk_X509_push(out, x))
			break;
		X509_up_ref(x);
	}
	return out;
}

static void
choose(dir_answer_t *a, X509 *cert, STACK_OF(X509) *chain, const char *source,
    size_t cand)
{
	for (size_t i = 0; i < a->ncands; i++)
		if (strcmp(a->cands[i].verdict, "chosen") == 0)
			snprintf(a->cands[i].verdict, sizeof(a->cands[i].verdict), "usable");
	X509_up_ref(cert);
	X509_free(a->cert);
	a->cert = cert;
	sk_X509_pop_free(a->chain, X509_free);
	a->chain = chain_cas(chain);
	snprintf(a->source, sizeof(a->source), "%s", source);
	if (cand < a->ncands)
		snprintf(a->cands[cand].verdict, sizeof(a->cands[cand].verdict), "chosen");
}

static int
caps_have_gcm(const unsigned char *caps, size_t len)
{
	const unsigned char *p = caps;
	STACK_OF(X509_ALGOR) *algs = caps ? d2i_X509_ALGORS(NULL, &p, (long)len) : NULL;
	int gcm = 0;

	for (int i = 0; algs != NULL && i < sk_X509_ALGOR_num(algs); i++) {
		const ASN1_OBJECT *obj;
		X509_ALGOR_get0(&obj, NULL, NULL, sk_X509_ALGOR_value(algs, i));
		gcm |= OBJ_obj2nid(obj) == NID_aes_256_gcm;
	}
	sk_X509_ALGOR_pop_free(algs, X509_ALGOR_free);
	ERR_clear_error();
	return gcm;
}

/* Harvested certificates: 1 chosen, 0 none, -1 a CRL could not be had. */
static int
from_harvest(dir_lookup_t *l, const char *addr, dir_answer_t *a)
{
	dir_harvest_entry_t *v = NULL;
	dir_harvest_t *h;
	size_t n = 0, best = 0;
	char err[256];
	int crl_down = 0, pref = 0;
	struct stat st;

	if (l->harvest_dir == NULL)
		return 0;
	pthread_mutex_lock(&l->hlock);
	if (l->harvest == NULL && stat(l->harvest_dir, &st) == 0)
		l->harvest = dir_harvest_open(l->harvest_dir, err, sizeof(err));
	h = l->harvest;
	pthread_mutex_unlock(&l->hlock);
	if (h == NULL)
		return 0;
	if (dir_harvest_get(h, addr, &v, &n, err, sizeof(err)) != 0) {
		/* A store that cannot answer may hold the certificate. */
		snprintf(a->err, sizeof(a->err), "%s", err);
		return -1;
	}
	/* Newest signing time first: the latest key preference wins, then
	 * (no usable preferred one) the newest certificate. */
	for (size_t i = 0; i < n; i++) {
		int r = judge(l, a, v[i].cert, NULL, addr, v[i].preferred
		    ? "harvested (the signer's key preference)" : "harvested");
		if (r < 0)
			crl_down = 1;
		if (r > 0 && v[i].preferred && !pref) {
			choose(a, v[i].cert, NULL, "harvested from a signed message "
			    "(the signer's key preference)", a->ncands - 1);
			best = i;
			pref = 1;
		} else if (r > 0 && !pref && newer(v[i].cert, a->cert)) {
			choose(a, v[i].cert, NULL, "harvested from a signed message",
			    a->ncands - 1);
			best = i;
		}
	}
	if (a->cert != NULL)
		a->gcm = caps_have_gcm(v[best].caps, v[best].caps_len);
	dir_harvest_list_free(v, n);
	return a->cert != NULL ? 1 : crl_down ? -1 : 0;
}

/* The cache: 1 usable positive, 2 negative, 0 miss, -1 CRL down. */
static int
from_cache(dir_lookup_t *l, const char *addr, dir_answer_t *a)
{
	char source[200], src[240], err[128];
	X509 *cert = NULL;
	STACK_OF(X509) *chain = NULL;
	int gcm = 0, r;
	enum dir_cache_hit hit = dir_cache_get(l->cache, addr, &cert, &chain, &gcm,
	    source, sizeof(source), a->note, sizeof(a->note));

	if (hit == DIR_CACHE_NEGATIVE) {
		snprintf(a->source, sizeof(a->source), "cache (%s)", dir_cache_name(l->cache));
		snprintf(a->err, sizeof(a->err), "no certificate (cached answer of %s)",
		    dir_cache_name(l->cache));
		return 2;
	}
	if (hit != DIR_CACHE_POSITIVE)
		return 0;
	snprintf(src, sizeof(src), "cache (%s) of %s", dir_cache_name(l->cache), source);
	r = judge(l, a, cert, chain, addr, src);
	if (r > 0) {
		choose(a, cert, chain, src, a->ncands - 1);
		a->gcm = gcm;
	} else {
		dir_cache_del(l->cache, addr, err, sizeof(err));
	}
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	return r;
}

/* When the sources that could answer cannot: a positive cached answer
 * past its time (dir_cache_get_stale()), checked again as any cached
 * certificate (validity, revocation).  1 chosen, 0 none or refused. */
static int
from_stale(dir_lookup_t *l, const char *addr, dir_answer_t *a)
{
	char source[200], src[300];
	X509 *cert = NULL;
	STACK_OF(X509) *chain = NULL;
	int gcm = 0, r = 0;

	if (dir_cache_get_stale(l->cache, addr, &cert, &chain, &gcm, source,
	    sizeof(source)) != DIR_CACHE_POSITIVE)
		return 0;
	snprintf(src, sizeof(src), "cache (%s) of %s, kept past its time: the "
	    "directories cannot answer", dir_cache_name(l->cache), source);
	if ((r = judge(l, a, cert, chain, addr, src)) > 0) {
		choose(a, cert, chain, src, a->ncands - 1);
		a->gcm = gcm;
		if (a->note[0] == '\0')
			snprintf(a->note, sizeof(a->note), "<%s>: a cached certificate used "
			    "past its time (CacheStaleTime): %.160s", addr, a->err);
	}
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	return r > 0;
}

/* One directory: 1 chosen, 0 none, -1 unavailable. */
static int
from_ldap(dir_lookup_t *l, dir_ldap_t *d, const char *addr, dir_answer_t *a)
{
	STACK_OF(X509) *certs = NULL;
	char why[512] = "";
	int crl_down = 0;
	dir_status_t st;

	__atomic_add_fetch(&l->searches, 1, __ATOMIC_SEQ_CST);
	st = dir_ldap_search(d, addr, &certs, why, sizeof(why));
	if (st != DIR_OK) {
		snprintf(a->err, sizeof(a->err), "%s", why);
		sk_X509_pop_free(certs, X509_free);
		return -1;
	}
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		int r;

		if (dir_check_is_ca(x)) {
			dir_candidate_t *c = cand_add(a, x, dir_ldap_name(d));
			if (c != NULL)
				snprintf(c->verdict, sizeof(c->verdict),
				    "a CA certificate (taken as an intermediate)");
			continue;
		}
		r = judge(l, a, x, certs, addr, dir_ldap_name(d));
		if (r < 0)
			crl_down = 1;
		if (r > 0 && newer(x, a->cert))
			choose(a, x, certs, dir_ldap_name(d), a->ncands - 1);
	}
	sk_X509_pop_free(certs, X509_free);
	if (a->cert == NULL && crl_down)
		snprintf(a->err, sizeof(a->err), "%s: a certificate's CRL cannot be had",
		    dir_ldap_name(d));
	return a->cert != NULL ? 1 : crl_down ? -1 : 0;
}

/* The partner gateway of addr's domain: 1 chosen, 0 none (or no
 * partner), -1 unavailable.  Its answer is checked as a directory's, its
 * certificates the untrusted intermediates of each other. */
static int
from_partner(dir_lookup_t *l, const char *addr, dir_answer_t *a)
{
	STACK_OF(X509) *certs = NULL;
	char why[512] = "", source[200];
	const char *url = dir_partner_url(l->partners, addr);
	int crl_down = 0;
	dir_status_t st;

	if (url == NULL)
		return 0;
	snprintf(source, sizeof(source), "partner %s", url);
	st = dir_partner_fetch(l->partners, addr, &certs, why, sizeof(why));
	if (st != DIR_OK) {
		snprintf(a->err, sizeof(a->err), "%s", why);
		sk_X509_pop_free(certs, X509_free);
		return st == DIR_NOTFOUND ? 0 : -1;
	}
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		int r;

		if (dir_check_is_ca(x))
			continue;
		r = judge(l, a, x, certs, addr, source);
		crl_down |= r < 0;
		if (r > 0 && newer(x, a->cert))
			choose(a, x, certs, source, a->ncands - 1);
	}
	sk_X509_pop_free(certs, X509_free);
	if (a->cert == NULL && crl_down)
		snprintf(a->err, sizeof(a->err), "%s: a certificate's CRL cannot be had",
		    source);
	return a->cert != NULL ? 1 : crl_down ? -1 : 0;
}

/* Usable candidates that were not chosen say so. */
static void
verdicts_final(dir_answer_t *a)
{
	for (size_t i = 0; i < a->ncands; i++)
		if (a->cands[i].usable && strcmp(a->cands[i].verdict, "chosen") != 0)
			snprintf(a->cands[i].verdict, sizeof(a->cands[i].verdict),
			    "usable, but not chosen (a newer one or an earlier source won)");
}

static int
addr_ok(const char *address)
{
	size_t n = address ? strlen(address) : 0;

	if (n == 0 || n > LOOKUP_MAX_ADDR)
		return 0;
	for (const unsigned char *p = (const unsigned char *)address; *p; p++)
		if (*p < 0x21 || *p == 0x7f)
			return 0;
	return 1;
}

dir_status_t
dir_lookup_find(dir_lookup_t *l, const char *address, dir_answer_t *a)
{
	char *addr;
	int r, unavailable = 0;

	memset(a, 0, sizeof(*a));
	if (!addr_ok(address)) {
		snprintf(a->err, sizeof(a->err), "not a usable address");
		return DIR_ERR_INPUT;
	}
	if ((addr = util_addr_normalize(address)) == NULL) {
		snprintf(a->err, sizeof(a->err), "out of memory");
		return DIR_ERR_NOMEM;
	}
	if ((r = from_harvest(l, addr, a)) > 0)
		goto found;
	unavailable |= r < 0;
	if ((r = from_cache(l, addr, a)) == 1)
		goto found;
	if (r == 2) {
		free(addr);
		return DIR_NOTFOUND;
	}
	unavailable |= r < 0;
	for (size_t i = 0; i < l->ndirs; i++) {
		if ((r = from_ldap(l, l->dirs[i], addr, a)) > 0) {
			dir_cache_put(l->cache, addr, a->cert, a->chain, a->gcm, a->source,
			    a->note, sizeof(a->note));
			goto found;
		}
		unavailable |= r < 0;
	}
	if ((r = from_partner(l, addr, a)) > 0) {
		dir_cache_put(l->cache, addr, a->cert, a->chain, a->gcm, a->source,
		    a->note, sizeof(a->note));
		goto found;
	}
	unavailable |= r < 0;
	if (unavailable && from_stale(l, addr, a))
		goto found;
	verdicts_final(a);
	if (unavailable) {
		free(addr);
		return DIR_ERR_UNAVAILABLE;
	}
	snprintf(a->err, sizeof(a->err), "no usable certificate for <%s>%s",
	    address, a->ncands ? "" : " in any source");
	dir_cache_put(l->cache, addr, NULL, NULL, 0, NULL, a->note, sizeof(a->note));
	free(addr);
	return DIR_NOTFOUND;
found:
	free(addr);
	verdicts_final(a);
	a->err[0] = '\0';
	return DIR_OK;
}

int
dir_lookup_flush(dir_lookup_t *l, const char *address, char *err, size_t errlen)
{
	char *addr = address ? util_addr_normalize(address) : NULL;
	int rc;

	if (address != NULL && addr == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = dir_cache_del(l->cache, addr, err, errlen);
	free(addr);
	return rc;
}
