/*
 * test_tier.c: cmocka tests of the in-process cache tier (directory/
 * dir_tier.c) and its use by the cache and the lookup: the bound (least
 * recently used goes), fresh and stale times on a fixed clock, negative
 * answers never served stale, and a stale certificate never outliving its
 * validity or hiding its revocation (the directory down).  Also the Redis
 * pool's bounded wait (net_redis_pool_*) against an address that takes no
 * connection.  Table-driven; failures say got and want.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "directory/dir_int.h"
#include "directory/dir_lookup.h"
#include "net/net_redis.h"
#include "tests/unit/unit_util.h"

static struct {
	EVP_PKEY *ca_key, *key;
	X509 *ca;
	char *dir;
	char ca_file[512];
} pki;

static int
group_setup(void **state)
{
	FILE *fp;
	(void)state;

	pki.ca_key = unit_key(UNIT_RSA2048);
	pki.ca = unit_ca(pki.ca_key, "tier test CA");
	pki.key = unit_key(UNIT_RSA2048);
	pki.dir = unit_tmpdir();
	snprintf(pki.ca_file, sizeof(pki.ca_file), "%s/ca.pem", pki.dir);
	if ((fp = fopen(pki.ca_file, "w")) == NULL || !PEM_write_X509(fp, pki.ca))
		return -1;
	fclose(fp);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(pki.ca_key);
	EVP_PKEY_free(pki.key);
	X509_free(pki.ca);
	unit_rmtree(pki.dir);
	free(pki.dir);
	return 0;
}

/* ---- the table ---- */

static enum dir_tier_hit
get(dir_tier_t *t, const char *key, int stale_ok, time_t now, const char *want_val)
{
	unsigned char *v;
	size_t len;
	enum dir_tier_hit hit = dir_tier_get(t, key, stale_ok, now, &v, &len);

	if (hit != DIR_TIER_NONE && want_val != NULL &&
	    (len != strlen(want_val) || memcmp(v, want_val, len) != 0))
		fail_msg("%s: got value %.*s, want %s", key, (int)len, v, want_val);
	free(v);
	return hit;
}

/* At most max entries; the least recently used goes, a get counts as a
 * use; a put of a known key replaces it. */
static void
test_tier_bound(void **state)
{
	const time_t now = 1000000;
	dir_tier_t *t = dir_tier_new(3);
	static const struct { const char *key; enum dir_tier_hit want; } after[] = {
		{ "a@x", DIR_TIER_FRESH },      /* used, so kept */
		{ "b@x", DIR_TIER_NONE },       /* the least recently used: gone */
		{ "c@x", DIR_TIER_FRESH },
		{ "d@x", DIR_TIER_FRESH },
	};
	(void)state;

	assert_non_null(t);
	assert_int_equal(dir_tier_put(t, "a@x", (const unsigned char *)"A", 1, now + 60, 0,
	    now), 0);
	assert_int_equal(dir_tier_put(t, "b@x", (const unsigned char *)"B", 1, now + 60, 0,
	    now), 0);
	assert_int_equal(dir_tier_put(t, "c@x", (const unsigned char *)"C", 1, now + 60, 0,
	    now), 0);
	assert_int_equal(get(t, "a@x", 0, now, "A"), DIR_TIER_FRESH);
	assert_int_equal(dir_tier_put(t, "d@x", (const unsigned char *)"D", 1, now + 60, 0,
	    now), 0);
	assert_int_equal(dir_tier_count(t), 3);
	for (size_t i = 0; i < sizeof(after) / sizeof(after[0]); i++) {
		enum dir_tier_hit got = get(t, after[i].key, 1, now, NULL);
		if (got != after[i].want)
			fail_msg("%s: got %d, want %d", after[i].key, got, after[i].want);
	}
	assert_int_equal(dir_tier_put(t, "c@x", (const unsigned char *)"C2", 2, now + 60, 0,
	    now), 0);
	assert_int_equal(get(t, "c@x", 0, now, "C2"), DIR_TIER_FRESH);
	assert_int_equal(dir_tier_count(t), 3);
	/* Many more keys than places: never more than the bound. */
	for (int i = 0; i < 1000; i++) {
		char k[32];
		snprintf(k, sizeof(k), "k%d@x", i);
		assert_int_equal(dir_tier_put(t, k, (const unsigned char *)k, strlen(k),
		    now + 60, 0, now), 0);
		assert_true(dir_tier_count(t) <= 3);
	}
	assert_int_equal(get(t, "k999@x", 0, now, "k999@x"), DIR_TIER_FRESH);
	assert_int_equal(get(t, "k996@x", 0, now, NULL), DIR_TIER_NONE);
	dir_tier_del(t, "k999@x");
	assert_int_equal(get(t, "k999@x", 0, now, NULL), DIR_TIER_NONE);
	dir_tier_del(t, NULL);
	assert_int_equal(dir_tier_count(t), 0);
	dir_tier_free(t);

	/* Size 0 holds nothing. */
	t = dir_tier_new(0);
	assert_non_null(t);
	assert_int_equal(dir_tier_put(t, "a@x", (const unsigned char *)"A", 1, now + 60, 0,
	    now), 0);
	assert_int_equal(get(t, "a@x", 1, now, NULL), DIR_TIER_NONE);
	assert_int_equal(dir_tier_count(t), 0);
	dir_tier_free(t);
}

/* On a fixed clock: fresh until fresh_until, then stale (only to who asks
 * for it) until stale_until, then gone; nothing kept already past its
 * time; a stale time before the fresh one means no stale use. */
static void
test_tier_expiry(void **state)
{
	const time_t t0 = 2000000;
	dir_tier_t *t = dir_tier_new(8);
	static const struct { time_t at; int stale_ok; enum dir_tier_hit want; } rows[] = {
		{ 0, 0, DIR_TIER_FRESH },
		{ 9, 0, DIR_TIER_FRESH },
		{ 10, 0, DIR_TIER_NONE },       /* fresh time over */
		{ 10, 1, DIR_TIER_STALE },
		{ 29, 1, DIR_TIER_STALE },
		{ 30, 1, DIR_TIER_NONE },       /* stale time over: dropped */
		{ 0, 1, DIR_TIER_NONE },        /* dropped stays dropped */
	};
	(void)state;

	assert_non_null(t);
	assert_int_equal(dir_tier_put(t, "p@x", (const unsigned char *)"P", 1, t0 + 10,
	    t0 + 30, t0), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum dir_tier_hit got = get(t, "p@x", rows[i].stale_ok, t0 + rows[i].at, "P");
		if (got != rows[i].want)
			fail_msg("row %zu (t0+%lld, stale_ok %d): got %d, want %d", i,
			    (long long)rows[i].at, rows[i].stale_ok, got, rows[i].want);
	}
	assert_int_equal(dir_tier_count(t), 0);
	/* Already past its time: not kept. */
	assert_int_equal(dir_tier_put(t, "old@x", (const unsigned char *)"O", 1, t0, t0 + 99,
	    t0), 0);
	assert_int_equal(dir_tier_count(t), 0);
	/* stale_until before fresh_until: no stale use. */
	assert_int_equal(dir_tier_put(t, "n@x", (const unsigned char *)"N", 1, t0 + 10, 0,
	    t0), 0);
	assert_int_equal(get(t, "n@x", 1, t0 + 10, NULL), DIR_TIER_NONE);
	dir_tier_free(t);
}

/* ---- the certificates a tier entry holds ---- */

/* Counts the certificates freed that carry the marker (ex_data), so a
 * test sees the tier let go of its references. */
static int freed_idx = -1;
static int nfreed;
static char marker;

static void
count_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	if (ptr == &marker)
		nfreed++;
}

/* A certificate for email whose last free is counted. */
static X509 *
marked_cert(const char *email)
{
	X509 *c = unit_cert(pki.key, pki.ca, pki.ca_key, email, -1, 30);

	if (freed_idx < 0)
		freed_idx = X509_get_ex_new_index(0, NULL, NULL, NULL, count_free);
	assert_true(freed_idx >= 0);
	assert_int_equal(X509_set_ex_data(c, freed_idx, &marker), 1);
	return c;
}

/* A put of key with cert and a one-certificate chain (ca); the caller's
 * references stay the caller's. */
static void
put_certs(dir_tier_t *t, const char *key, X509 *cert, X509 *ca, time_t fresh,
    time_t stale, time_t now)
{
	STACK_OF(X509) *chain = sk_X509_new_null();

	assert_non_null(chain);
	assert_int_equal(sk_X509_push(chain, ca), 1);
	assert_int_equal(dir_tier_put_certs(t, key, (const unsigned char *)key,
	    strlen(key), cert, chain, fresh, stale, now), 0);
	sk_X509_free(chain);
}

/* A hit hands out the very objects put under that key (a reference of
 * the caller's own, the chain a stack of its own), never another key's;
 * a key that differs in any way is a miss. */
static void
test_tier_certs_same_object(void **state)
{
	const time_t now = 3000000;
	dir_tier_t *t = dir_tier_new(8);
	X509 *a = marked_cert("a@example.net"), *b = marked_cert("b@example.net");
	static const struct { const char *key; int want; } rows[] = {
		{ "a@example.net", 'a' }, { "b@example.net", 'b' },
		{ "A@example.net", 0 }, { "a@example.ne", 0 }, { "a@example.net ", 0 },
		{ "", 0 },
	};
	(void)state;

	assert_non_null(t);
	put_certs(t, "a@example.net", a, pki.ca, now + 60, 0, now);
	put_certs(t, "b@example.net", b, pki.ca, now + 60, 0, now);
	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			X509 *got = (X509 *)1, *want = rows[i].want == 'a' ? a
			    : rows[i].want == 'b' ? b : NULL;
			STACK_OF(X509) *chain = (STACK_OF(X509) *)1;
			unsigned char *v;
			size_t len;
			enum dir_tier_hit hit = dir_tier_get_certs(t, rows[i].key, 0, now, &v,
			    &len, &got, &chain);

			if (got != want || hit != (want ? DIR_TIER_FRESH : DIR_TIER_NONE))
				fail_msg("%s: got %p (hit %d), want %p", rows[i].key, (void *)got,
				    hit, (void *)want);
			if (want != NULL && (sk_X509_num(chain) != 1 ||
			    sk_X509_value(chain, 0) != pki.ca || len != strlen(rows[i].key)
			    || memcmp(v, rows[i].key, len) != 0))
				fail_msg("%s: not its chain or value", rows[i].key);
			if (want == NULL && chain != NULL)
				fail_msg("%s: a chain on a miss", rows[i].key);
			X509_free(got);
			sk_X509_pop_free(chain, X509_free);
			free(v);
		}
	/* Not asked for: none handed out; the plain get still works. */
	assert_int_equal(get(t, "a@example.net", 0, now, "a@example.net"), DIR_TIER_FRESH);
	nfreed = 0;
	X509_free(a);
	X509_free(b);
	assert_int_equal(nfreed, 0);            /* the tier holds them */
	dir_tier_free(t);
	assert_int_equal(nfreed, 2);
}

/* The tier's references go with the entry: evicted, expired (fresh and
 * stale time over, met by a get), replaced, deleted, flushed. */
static void
test_tier_certs_freed(void **state)
{
	const time_t now = 4000000;
	dir_tier_t *t = dir_tier_new(2);
	X509 *c[6];
	X509 *got;
	unsigned char *v;
	size_t len;
	(void)state;

	assert_non_null(t);
	for (int i = 0; i < 6; i++) {
		char email[32];

		snprintf(email, sizeof(email), "k%d@example.net", i);
		c[i] = marked_cert(email);
	}
	put_certs(t, "k0", c[0], pki.ca, now + 10, now + 20, now);
	put_certs(t, "k1", c[1], pki.ca, now + 60, 0, now);
	nfreed = 0;
	for (int i = 0; i < 6; i++)
		X509_free(c[i]);                /* c[2..5] freed now: not put yet */
	assert_int_equal(nfreed, 4);
	nfreed = 0;
	/* Stale: the same object; then past its stale time: dropped. */
	assert_int_equal(dir_tier_get_certs(t, "k0", 1, now + 15, &v, &len, &got, NULL),
	    DIR_TIER_STALE);
	assert_ptr_equal(got, c[0]);
	X509_free(got);
	free(v);
	assert_int_equal(dir_tier_get_certs(t, "k0", 1, now + 20, &v, &len, &got, NULL),
	    DIR_TIER_NONE);
	assert_null(got);
	assert_int_equal(nfreed, 1);            /* k0 expired */
	/* Replaced by a value without certificates. */
	assert_int_equal(dir_tier_put(t, "k1", (const unsigned char *)"N", 1, now + 60, 0,
	    now), 0);
	assert_int_equal(nfreed, 2);
	assert_int_equal(dir_tier_get_certs(t, "k1", 0, now, &v, &len, &got, NULL),
	    DIR_TIER_FRESH);
	assert_null(got);                       /* not the certificate it had */
	free(v);
	/* Evicted: the tier holds two. */
	c[0] = marked_cert("e0@example.net");
	c[1] = marked_cert("e1@example.net");
	put_certs(t, "e0", c[0], pki.ca, now + 60, 0, now);
	put_certs(t, "e1", c[1], pki.ca, now + 60, 0, now);    /* k1 goes */
	X509_free(c[0]);
	X509_free(c[1]);
	assert_int_equal(nfreed, 2);
	c[2] = marked_cert("e2@example.net");
	put_certs(t, "e2", c[2], pki.ca, now + 60, 0, now);    /* e0 goes */
	X509_free(c[2]);
	assert_int_equal(nfreed, 3);
	assert_int_equal(dir_tier_get_certs(t, "e0", 1, now, &v, &len, &got, NULL),
	    DIR_TIER_NONE);
	/* Deleted, then flushed. */
	dir_tier_del(t, "e1");
	assert_int_equal(nfreed, 4);
	dir_tier_del(t, NULL);
	assert_int_equal(nfreed, 5);
	assert_int_equal(dir_tier_count(t), 0);
	dir_tier_free(t);
}

/* The cache keeps the objects an entry was made of: every hit on an
 * address hands out the certificate put (the very object), its chain,
 * gcm and source; another address gets its own; a deleted entry is
 * gone, the references handed out stay good. */
static void
test_cache_certs_parsed_once(void **state)
{
	dir_settings_t s = {
		.ca_file = pki.ca_file, .redis = "", .redis_prefix = "t:",
		.ttl_positive = 60, .ttl_negative = 60, .mem_cache_size = 8,
		.harvest_dir = "",
	};
	X509 *a = unit_cert(pki.key, pki.ca, pki.ca_key, "a@example.net", -1, 30);
	X509 *b = unit_cert(pki.key, pki.ca, pki.ca_key, "b@example.net", -1, 30);
	STACK_OF(X509) *chain = sk_X509_new_null(), *got_chain;
	char err[256], note[256] = "", src[64];
	dir_cache_t *cache = dir_cache_new(&s, NULL, err, sizeof(err));
	X509 *first = NULL, *got;
	int gcm;
	(void)state;

	assert_non_null(cache);
	assert_int_equal(sk_X509_push(chain, pki.ca), 1);
	dir_cache_put(cache, "a@example.net", a, chain, 1, "ldap://a", note, sizeof(note));
	dir_cache_put(cache, "b@example.net", b, NULL, 0, "ldap://b", note, sizeof(note));
	for (int i = 0; i < 3; i++) {
		assert_int_equal(dir_cache_get(cache, "a@example.net", &got, &got_chain, &gcm,
		    src, sizeof(src), note, sizeof(note)), DIR_CACHE_POSITIVE);
		assert_ptr_equal(got, a);
		if (first == NULL)
			first = got;
		assert_int_equal(sk_X509_num(got_chain), 1);
		assert_ptr_equal(sk_X509_value(got_chain, 0), pki.ca);
		assert_ptr_not_equal(got_chain, chain);
		assert_int_equal(gcm, 1);
		assert_string_equal(src, "ldap://a");
		sk_X509_pop_free(got_chain, X509_free);
		if (i > 0)
			X509_free(got);
	}
	assert_int_equal(dir_cache_get(cache, "b@example.net", &got, NULL, &gcm, src,
	    sizeof(src), note, sizeof(note)), DIR_CACHE_POSITIVE);
	assert_ptr_equal(got, b);
	assert_int_equal(gcm, 0);
	assert_string_equal(src, "ldap://b");
	X509_free(got);
	assert_int_equal(dir_cache_del(cache, "a@example.net", err, sizeof(err)), 0);
	assert_int_equal(dir_cache_get(cache, "a@example.net", &got, NULL, &gcm, src,
	    sizeof(src), note, sizeof(note)), DIR_CACHE_MISS);
	assert_null(got);
	/* The references handed out outlive the entry and the cache. */
	dir_cache_free(cache);
	sk_X509_free(chain);
	X509_free(a);
	X509_free(b);
	assert_int_equal(X509_check_email(first, "a@example.net", 0, 0), 1);
	X509_free(first);
}

/* ---- the cache (in-process) and the lookup ---- */

static dir_settings_t
settings(void)
{
	dir_settings_t s = {
		.filter = "(mail=%s)", .connect_timeout = 1, .search_timeout = 1,
		.pool_size = 1, .ca_file = pki.ca_file, .system_store = 0,
		.crl_check = 1, .crl_policy = DIR_CRL_TEMPFAIL, .crl_timeout = 1,
		.crl_cache_seconds = 60, .redis = "", .redis_prefix = "t:",
		.redis_timeout_ms = 200, .ttl_positive = 1, .ttl_negative = 1,
		.mem_cache_size = 8, .harvest_dir = "", .stale_seconds = 3600,
	};
	return s;
}

/* Waits until time(NULL) has moved past t0 + n. */
static void
wait_past(time_t t0, int n)
{
	for (int i = 0; i < 40 && time(NULL) <= t0 + n; i++)
		usleep(100000);
}

/* A negative answer is an answer while fresh and never served stale; a
 * positive one is served stale only through dir_cache_get_stale(). */
static void
test_cache_negative_never_stale(void **state)
{
	dir_settings_t s = settings();
	X509 *c = unit_cert(pki.key, pki.ca, pki.ca_key, "p@example.net", -1, 30), *got;
	char err[256], note[256] = "", src[64];
	dir_cache_t *cache = dir_cache_new(&s, NULL, err, sizeof(err));
	time_t t0 = time(NULL);
	int gcm;
	(void)state;

	assert_non_null(cache);
	dir_cache_put(cache, "n@example.net", NULL, NULL, 0, NULL, note, sizeof(note));
	dir_cache_put(cache, "p@example.net", c, NULL, 0, "ldap://d", note, sizeof(note));
	assert_int_equal(dir_cache_get(cache, "n@example.net", &got, NULL, &gcm, src,
	    sizeof(src), note, sizeof(note)), DIR_CACHE_NEGATIVE);
	assert_int_equal(dir_cache_get_stale(cache, "n@example.net", &got, NULL, &gcm, src,
	    sizeof(src)), DIR_CACHE_MISS);
	wait_past(t0, 1);
	assert_int_equal(dir_cache_get(cache, "n@example.net", &got, NULL, &gcm, src,
	    sizeof(src), note, sizeof(note)), DIR_CACHE_MISS);
	assert_int_equal(dir_cache_get_stale(cache, "n@example.net", &got, NULL, &gcm, src,
	    sizeof(src)), DIR_CACHE_MISS);
	assert_int_equal(dir_cache_get(cache, "p@example.net", &got, NULL, &gcm, src,
	    sizeof(src), note, sizeof(note)), DIR_CACHE_MISS);
	assert_int_equal(dir_cache_get_stale(cache, "p@example.net", &got, NULL, &gcm, src,
	    sizeof(src)), DIR_CACHE_POSITIVE);
	assert_int_equal(X509_cmp(got, c), 0);
	assert_string_equal(src, "ldap://d");
	X509_free(got);
	/* A flush drops stale entries too. */
	assert_int_equal(dir_cache_del(cache, "p@example.net", err, sizeof(err)), 0);
	assert_int_equal(dir_cache_get_stale(cache, "p@example.net", &got, NULL, &gcm, src,
	    sizeof(src)), DIR_CACHE_MISS);
	dir_cache_stats_t st;
	dir_cache_stats(cache, &st);
	assert_int_equal(st.stale_served, 1);
	assert_int_equal(st.tier_hits, 1);
	assert_int_equal(st.tier_misses, 2);
	dir_cache_free(cache);
	X509_free(c);
}

/* The CRL the stub fetcher answers (DER, in a new BIO), or none. */
static X509_CRL *stub_crl;

static BIO *
crl_stub(void *arg, const char *url, char *why, size_t len)
{
	BIO *b;
	(void)arg;

	if (stub_crl == NULL || (b = BIO_new(BIO_s_mem())) == NULL ||
	    !i2d_X509_CRL_bio(b, stub_crl)) {
		snprintf(why, len, "%s: no answer (test)", url);
		return NULL;
	}
	return b;
}

/* A certificate naming a CRL distribution point, valid from from_days
 * to to_days. */
static X509 *
cert_with_cdp(const char *email, int from_days, int to_days, long serial)
{
	X509 *c = unit_cert(pki.key, pki.ca, pki.ca_key, email, from_days, to_days);
	char ext[] = "URI:http://127.0.0.1:1/tier.crl";
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
	X509V3_set_ctx(&ctx, pki.ca, c, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_crl_distribution_points, ext);
	assert_non_null(e);
	X509_add_ext(c, e, -1);
	X509_EXTENSION_free(e);
	X509_sign(c, pki.ca_key, EVP_sha256());
	return c;
}

/* A CRL of the CA listing serial (0: none). */
static X509_CRL *
crl_listing(long serial)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *now = ASN1_TIME_set(NULL, time(NULL) - 60);
	ASN1_TIME *next = ASN1_TIME_set(NULL, time(NULL) + 3600);

	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(pki.ca));
	X509_CRL_set1_lastUpdate(crl, now);
	X509_CRL_set1_nextUpdate(crl, next);
	if (serial != 0) {
		X509_REVOKED *r = X509_REVOKED_new();
		ASN1_INTEGER *sn = ASN1_INTEGER_new();
		ASN1_INTEGER_set(sn, serial);
		X509_REVOKED_set_serialNumber(r, sn);
		X509_REVOKED_set_revocationDate(r, now);
		X509_CRL_add0_revoked(crl, r);
		ASN1_INTEGER_free(sn);
	}
	X509_CRL_sort(crl);
	X509_CRL_sign(crl, pki.ca_key, EVP_sha256());
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	return crl;
}

/*
 * The directory down (nothing listens on port 1), the cache's entries
 * past their time: a valid, unrevoked certificate is used stale (and
 * says so); one that expired meanwhile, or that the CRL now lists, is
 * not (unavailable: tempfail); without CacheStaleTime nothing is.
 */
static void
test_lookup_stale(void **state)
{
	char *urls[] = { "ldap://127.0.0.1:1/ou=people,dc=example,dc=net", NULL };
	X509 *good = cert_with_cdp("good@example.net", -1, 30, 101);
	X509 *expired = cert_with_cdp("old@example.net", -30, -1, 102);
	X509 *revoked = cert_with_cdp("rev@example.net", -1, 30, 103);
	static const struct {
		const char *addr; long stale; dir_status_t want; const char *in;
	} rows[] = {
		{ "good@example.net", 3600, DIR_OK, "kept past its time" },
		{ "old@example.net", 3600, DIR_ERR_UNAVAILABLE, "expired" },
		{ "rev@example.net", 3600, DIR_ERR_UNAVAILABLE, "revoked" },
		{ "good@example.net", 0, DIR_ERR_UNAVAILABLE, "" },
	};
	X509 *certs[] = { good, expired, revoked, good };
	(void)state;

	stub_crl = crl_listing(103);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		dir_settings_t s = settings();
		char err[256], note[256] = "";
		dir_lookup_t *l;
		dir_answer_t a;
		dir_status_t got;
		time_t t0;
		const char *said;

		s.ldap_urls = urls;
		s.stale_seconds = rows[i].stale;
		s.crl_fetch = crl_stub;
		l = dir_lookup_new(&s, err, sizeof(err));
		assert_non_null(l);
		t0 = time(NULL);
		dir_cache_put(dir_lookup_cache_of(l), rows[i].addr, certs[i], NULL, 0,
		    "ldap://earlier", note, sizeof(note));
		wait_past(t0, 1);
		got = dir_lookup_find(l, rows[i].addr, &a);
		said = a.ncands > 0 ? a.cands[0].verdict : a.err;
		if (got != rows[i].want || strstr(got == DIR_OK ? a.source : said,
		    rows[i].in) == NULL)
			fail_msg("%s (stale %ld): got %d (%s; %s), want %d with \"%s\"",
			    rows[i].addr, rows[i].stale, got, a.source, said, rows[i].want,
			    rows[i].in);
		if (got == DIR_OK && (X509_cmp(a.cert, good) != 0 || a.note[0] == '\0'))
			fail_msg("%s: not the cached certificate, or no note", rows[i].addr);
		assert_int_equal(dir_lookup_searches(l), 1);
		dir_answer_clear(&a);
		dir_lookup_free(l);
	}
	X509_CRL_free(stub_crl);
	stub_crl = NULL;
	X509_free(good);
	X509_free(expired);
	X509_free(revoked);
}

/* ---- the Redis pool ---- */

/* A listening socket on a loopback port that never accepts: a connection
 * to it succeeds (the kernel's backlog), which is all a context without
 * AUTH needs.  The port, or -1. */
static int
listener(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 8) != 0
	    || getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
		return -1;
	*port = ntohs(sa.sin_port);
	return fd;
}

static double
ms_since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

struct giver { net_redis_pool_t *p; struct redisContext *ctx; };

static void *
give_later(void *arg)
{
	struct giver *g = arg;

	usleep(100000);
	net_redis_pool_give(g->p, g->ctx, 0);
	return NULL;
}

/* Every place taken: a take waits the pool's wait, then BUSY (counted);
 * a context given back during a wait is had at once; nothing listening:
 * DOWN, noted once, then DOWN at once until the retry time. */
static void
test_pool_wait(void **state)
{
	char err[256], server[64];
	int port = 0, fd = listener(&port), changed;
	net_redis_settings_t ns = { .server = server, .timeout_ms = 200 };
	net_redis_t *r;
	net_redis_pool_t *p;
	struct redisContext *ctx, *ctx2;
	struct timespec t;
	unsigned long waits, timeouts;
	struct giver g;
	pthread_t th;
	double ms;
	(void)state;

	assert_true(fd >= 0);
	snprintf(server, sizeof(server), "127.0.0.1:%d", port);
	r = net_redis_new(&ns, err, sizeof(err));
	assert_non_null(r);
	p = net_redis_pool_new(r, 1, 300, 5);
	assert_non_null(p);
	assert_int_equal(net_redis_pool_take(p, &ctx, &changed, err, sizeof(err)),
	    NET_REDIS_TAKEN);
	clock_gettime(CLOCK_MONOTONIC, &t);
	assert_int_equal(net_redis_pool_take(p, &ctx2, &changed, err, sizeof(err)),
	    NET_REDIS_BUSY);
	ms = ms_since(&t);
	if (ms < 250 || ms > 3000)
		fail_msg("a busy pool: gave up after %.0f ms, want about 300", ms);
	net_redis_pool_stats(p, &waits, &timeouts);
	assert_int_equal(waits, 1);
	assert_int_equal(timeouts, 1);
	/* Given back while another waits: that one has it. */
	g.p = p;
	g.ctx = ctx;
	assert_int_equal(pthread_create(&th, NULL, give_later, &g), 0);
	assert_int_equal(net_redis_pool_take(p, &ctx2, &changed, err, sizeof(err)),
	    NET_REDIS_TAKEN);
	pthread_join(th, NULL);
	assert_ptr_equal(ctx2, ctx);
	net_redis_pool_stats(p, &waits, &timeouts);
	assert_int_equal(waits, 2);
	assert_int_equal(timeouts, 1);
	/* Given back failed: the server is down (state changed). */
	assert_int_equal(net_redis_pool_give(p, ctx2, 1), 1);
	net_redis_pool_free(p);
	net_redis_free(r);
	close(fd);

	/* Nothing listens. */
	ns.server = "127.0.0.1:1";
	r = net_redis_new(&ns, err, sizeof(err));
	assert_non_null(r);
	p = net_redis_pool_new(r, 2, 300, 5);
	assert_int_equal(net_redis_pool_take(p, &ctx, &changed, err, sizeof(err)),
	    NET_REDIS_DOWN);
	assert_int_equal(changed, 1);
	clock_gettime(CLOCK_MONOTONIC, &t);
	assert_int_equal(net_redis_pool_take(p, &ctx, &changed, err, sizeof(err)),
	    NET_REDIS_DOWN);
	assert_int_equal(changed, 0);
	assert_true(ms_since(&t) < 100);
	net_redis_pool_free(p);
	net_redis_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tier_bound),
		cmocka_unit_test(test_tier_expiry),
		cmocka_unit_test(test_tier_certs_same_object),
		cmocka_unit_test(test_tier_certs_freed),
		cmocka_unit_test(test_cache_certs_parsed_once),
		cmocka_unit_test(test_cache_negative_never_stale),
		cmocka_unit_test(test_lookup_stale),
		cmocka_unit_test(test_pool_wait),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
