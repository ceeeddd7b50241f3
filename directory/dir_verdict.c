/*
 * dir_verdict.c: the verdicts of dir_check.c kept in process, so that a
 * certificate checked good a moment ago costs a hash lookup, not a chain
 * build, a CRL or an OCSP answer.
 *
 * A verdict is filed under the SHA-256 of everything the check was given
 * (dir_verdict_key(): the purpose, the policy inputs, the certificate's
 * whole DER and the DER of every untrusted certificate offered with it),
 * never under issuer and serial: another certificate with the same names
 * and serial but other bytes is another key.  With it are kept what it
 * depended on: a generation (the trust anchors' and the CRL table's,
 * dir_check.c adds them up; both only grow, so an equal sum means neither
 * moved) and the window it holds in: from the latest notBefore of the
 * chain it was built with, until the earliest of the chain's notAfter,
 * the CRL's expiry in dir_crl.c (its nextUpdate, at most CRLCacheTime) or
 * the OCSP answer's (its nextUpdate, at most OCSPCacheTime).  Outside the
 * window, or with another generation, it is not there.  Only good
 * verdicts that rest on definite answers are filed (dir_check.c decides).
 *
 * The table is bounded (VerdictCacheSize entries, 0: none is kept): sets
 * of VERDICT_WAYS entries picked by the key, the entry that ends soonest
 * replaced when a set is full.  It belongs to one dir_check_t, so a
 * reload (which builds a new lookup) drops it.
 *
 * dir_verdict_chain_cache() lends a table to smime_verify.c for the
 * chain checks of inbound signers (purpose DIR_VERDICT_SIGNER): the
 * generation is then the trust's (smime_trust_generation(): another
 * trust, a reload or an anchor added is another generation) and the
 * window the verification times the check holds for (smime_verify.c:
 * the chain's validity, and the loaded CRLs' thisUpdate and nextUpdate).
 *
 * Threads: one mutex guards the table; the counters are atomic.
 */
#include "directory/dir_int.h"
#include "util/util_alg.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#define VERDICT_WAYS 4

typedef struct verdict_entry {
	unsigned char key[DIR_VERDICT_KEYLEN];
	unsigned long gen;
	time_t from, until;         /* until 0: an empty slot */
} verdict_entry_t;

struct dir_verdict {
	pthread_mutex_t lock;
	verdict_entry_t *e;
	size_t nsets, ways;
	unsigned long hits, misses;
};

dir_verdict_t *
dir_verdict_new(size_t max)
{
	dir_verdict_t *v;

	if (max == 0 || (v = calloc(1, sizeof(*v))) == NULL)
		return NULL;
	v->ways = max < VERDICT_WAYS ? max : VERDICT_WAYS;
	v->nsets = max / v->ways;
	if ((v->e = calloc(v->nsets * v->ways, sizeof(*v->e))) == NULL) {
		free(v);
		return NULL;
	}
	pthread_mutex_init(&v->lock, NULL);
	return v;
}

void
dir_verdict_free(dir_verdict_t *v)
{
	if (v == NULL)
		return;
	pthread_mutex_destroy(&v->lock);
	free(v->e);
	free(v);
}

size_t
dir_verdict_capacity(const dir_verdict_t *v)
{
	return v != NULL ? v->nsets * v->ways : 0;
}

/* Adds the DER of x to the digest; 0 or -1. */
static int
digest_cert(EVP_MD_CTX *md, X509 *x)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der), ok = n > 0 && EVP_DigestUpdate(md, der, (size_t)n);

	OPENSSL_free(der);
	return ok ? 0 : -1;
}

int
dir_verdict_key(int purpose, unsigned policy, X509 *cert, STACK_OF(X509) *untrusted,
    unsigned char key[DIR_VERDICT_KEYLEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char head[5] = { (unsigned char)purpose, (unsigned char)(policy >> 24),
		(unsigned char)(policy >> 16), (unsigned char)(policy >> 8),
		(unsigned char)policy };
	unsigned char count[4];
	unsigned int len = 0;
	int n = sk_X509_num(untrusted), rc = -1;

	if (n < 0)
		n = 0;
	count[0] = (unsigned char)(n >> 24);
	count[1] = (unsigned char)(n >> 16);
	count[2] = (unsigned char)(n >> 8);
	count[3] = (unsigned char)n;
	if (md == NULL || !EVP_DigestInit_ex(md, util_alg_sha256(), NULL)
	    || !EVP_DigestUpdate(md, head, sizeof(head)) || digest_cert(md, cert) != 0
	    || !EVP_DigestUpdate(md, count, sizeof(count)))
		goto done;
	for (int i = 0; i < n; i++)
		if (digest_cert(md, sk_X509_value(untrusted, i)) != 0)
			goto done;
	if (EVP_DigestFinal_ex(md, key, &len) && len == DIR_VERDICT_KEYLEN)
		rc = 0;
done:
	EVP_MD_CTX_free(md);
	return rc;
}

/* The first entry of the set key falls in. */
static verdict_entry_t *
set_of(dir_verdict_t *v, const unsigned char *key)
{
	size_t h = (size_t)key[0] | (size_t)key[1] << 8 | (size_t)key[2] << 16
	    | (size_t)key[3] << 24;

	return &v->e[(h % v->nsets) * v->ways];
}

static int
holds(const verdict_entry_t *e, unsigned long gen, time_t now)
{
	return e->until != 0 && e->gen == gen && e->from <= now && now < e->until;
}

int
dir_verdict_get(dir_verdict_t *v, const unsigned char key[DIR_VERDICT_KEYLEN],
    unsigned long gen, time_t now)
{
	verdict_entry_t *s;
	int hit = 0;

	if (v == NULL)
		return 0;
	pthread_mutex_lock(&v->lock);
	s = set_of(v, key);
	for (size_t i = 0; i < v->ways; i++) {
		if (s[i].until == 0 || memcmp(s[i].key, key, DIR_VERDICT_KEYLEN) != 0)
			continue;
		if (holds(&s[i], gen, now))
			hit = 1;
		else
			s[i].until = 0;     /* a dependency moved or passed */
		break;
	}
	pthread_mutex_unlock(&v->lock);
	__atomic_add_fetch(hit ? &v->hits : &v->misses, 1, __ATOMIC_RELAXED);
	return hit;
}

void
dir_verdict_put(dir_verdict_t *v, const unsigned char key[DIR_VERDICT_KEYLEN],
    unsigned long gen, time_t from, time_t until)
{
	verdict_entry_t *s, *slot = NULL;

	if (v == NULL || until <= from || until <= 0)
		return;
	pthread_mutex_lock(&v->lock);
	s = set_of(v, key);
	for (size_t i = 0; slot == NULL && i < v->ways; i++)
		if (s[i].until != 0 && memcmp(s[i].key, key, DIR_VERDICT_KEYLEN) == 0)
			slot = &s[i];
	/* Else an empty slot (until 0), else the one that ends soonest. */
	for (size_t i = 0, soonest = 0; slot == NULL && i < v->ways; i++) {
		if (s[i].until < s[soonest].until)
			soonest = i;
		if (i + 1 == v->ways)
			slot = &s[soonest];
	}
	memcpy(slot->key, key, DIR_VERDICT_KEYLEN);
	slot->gen = gen;
	slot->from = from;
	slot->until = until;
	pthread_mutex_unlock(&v->lock);
}

void
dir_verdict_clear(dir_verdict_t *v)
{
	if (v == NULL)
		return;
	pthread_mutex_lock(&v->lock);
	memset(v->e, 0, v->nsets * v->ways * sizeof(*v->e));
	pthread_mutex_unlock(&v->lock);
}

size_t
dir_verdict_count(dir_verdict_t *v)
{
	size_t n = 0;

	if (v == NULL)
		return 0;
	pthread_mutex_lock(&v->lock);
	for (size_t i = 0; i < v->nsets * v->ways; i++)
		n += v->e[i].until != 0;
	pthread_mutex_unlock(&v->lock);
	return n;
}

void
dir_verdict_stats(const dir_verdict_t *v, unsigned long *hits, unsigned long *misses)
{
	*hits = v != NULL ? __atomic_load_n(&v->hits, __ATOMIC_RELAXED) : 0;
	*misses = v != NULL ? __atomic_load_n(&v->misses, __ATOMIC_RELAXED) : 0;
}

/* ---- the chain checks of inbound signers (smime_chain_cache_t) ---- */

static int
chain_get(void *arg, X509 *cert, STACK_OF(X509) *untrusted, unsigned long gen,
    time_t when)
{
	unsigned char key[DIR_VERDICT_KEYLEN];

	return dir_verdict_key(DIR_VERDICT_SIGNER, 0, cert, untrusted, key) == 0
	    && dir_verdict_get(arg, key, gen, when);
}

static void
chain_put(void *arg, X509 *cert, STACK_OF(X509) *untrusted, unsigned long gen,
    time_t from, time_t until)
{
	unsigned char key[DIR_VERDICT_KEYLEN];

	if (dir_verdict_key(DIR_VERDICT_SIGNER, 0, cert, untrusted, key) == 0)
		dir_verdict_put(arg, key, gen, from, until);
}

void
dir_verdict_chain_cache(dir_verdict_t *v, smime_chain_cache_t *c)
{
	c->get = v != NULL ? chain_get : NULL;
	c->put = v != NULL ? chain_put : NULL;
	c->arg = v;
}
