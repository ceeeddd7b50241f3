/*
 * test_directory.c: cmocka tests of the certificate lookup in directory/:
 * filter escaping, attribute values, the certificate checks (one row per
 * refusal reason), the harvested-certificates store, the in-process
 * cache's bound, Redis down, and dir_lookup_find() over the harvest store
 * and an unreachable directory.  Table-driven; failures say got and want.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/cms.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>
#include <openssl/x509.h>

#include "directory/dir_harvest.h"
#include "directory/dir_int.h"
#include "directory/dir_lookup.h"
#include "directory/dir_publish.h"
#include "net/net_ldap.h"
#include "tests/unit/unit_util.h"

static struct {
	EVP_PKEY *ca_key, *other_key, *key, *ec_key;
	X509 *ca, *other_ca;
	char *dir;
	char ca_file[512];
	char key_file[512];         /* a Redis value key, mode 0600 */
} pki;

static int
group_setup(void **state)
{
	(void)state;
	pki.ca_key = unit_key(UNIT_RSA2048);
	pki.ca = unit_ca(pki.ca_key, "dir test CA");
	pki.other_key = unit_key(UNIT_RSA2048);
	pki.other_ca = unit_ca(pki.other_key, "untrusted CA");
	pki.key = unit_key(UNIT_RSA2048);
	pki.ec_key = unit_key(UNIT_P256);
	pki.dir = unit_tmpdir();
	snprintf(pki.ca_file, sizeof(pki.ca_file), "%s/ca.pem", pki.dir);
	FILE *fp = fopen(pki.ca_file, "w");
	if (fp == NULL || !PEM_write_X509(fp, pki.ca))
		return -1;
	fclose(fp);
	snprintf(pki.key_file, sizeof(pki.key_file), "%s/redis.key", pki.dir);
	if (unit_write_file(pki.key_file, "0123456789abcdef0123456789abcdef\n", 33, 0600) != 0)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(pki.ca_key);
	EVP_PKEY_free(pki.other_key);
	EVP_PKEY_free(pki.key);
	EVP_PKEY_free(pki.ec_key);
	X509_free(pki.ca);
	X509_free(pki.other_ca);
	unit_rmtree(pki.dir);
	free(pki.dir);
	return 0;
}

static dir_settings_t
settings(void)
{
	dir_settings_t s = {
		.filter = "(mail=%s)", .connect_timeout = 1, .search_timeout = 1,
		.pool_size = 2, .ca_file = pki.ca_file, .system_store = 0,
		.crl_check = 1, .crl_policy = DIR_CRL_TEMPFAIL, .crl_timeout = 1,
		.crl_cache_seconds = 60, .redis = "", .redis_prefix = "t:",
		.redis_timeout_ms = 200, .ttl_positive = 60, .ttl_negative = 60,
		.mem_cache_size = 8, .harvest_dir = "", .redis_key_file = pki.key_file,
	};
	return s;
}

/* ---- filter escaping ---- */

static void
test_filter(void **state)
{
	static const struct { const char *tmpl, *addr, *want; } t[] = {
		{ "(mail=%s)", "bob@example.net", "(mail=bob@example.net)" },
		{ "(mail=%s)", "*", "(mail=\\2A)" },
		{ "(mail=%s)", "*)(mail=*", "(mail=\\2A\\29\\28mail=\\2A)" },
		{ "(mail=%s)", "a\\b", "(mail=a\\5Cb)" },
		{ "(|(mail=%s)(x=%s))", "a(b", "(|(mail=a\\28b)(x=a\\28b))" },
		{ "(&(o=100%%)(mail=%s))", "c@d", "(&(o=100%)(mail=c@d))" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *got = net_ldap_filter(t[i].tmpl, t[i].addr);
		if (got == NULL || strcmp(got, t[i].want) != 0)
			fail_msg("filter %s with %s: got %s, want %s", t[i].tmpl,
			    t[i].addr, got ? got : "NULL", t[i].want);
		free(got);
	}
}

/* ---- attribute values ---- */

static void
test_parse_value(void **state)
{
	X509 *c = unit_cert(pki.key, pki.ca, pki.ca_key, "v@example.net", -1, 30);
	unsigned char *der = NULL, *p7der = NULL;
	int len = i2d_X509(c, &der), p7len;
	STACK_OF(X509) *in = sk_X509_new_null(), *out = sk_X509_new_null();
	PKCS7 *p7;
	(void)state;

	sk_X509_push(in, c);
	sk_X509_push(in, pki.ca);
	p7 = PKCS7_sign(NULL, NULL, in, NULL, PKCS7_PARTIAL);
	assert_non_null(p7);
	p7len = i2d_PKCS7(p7, &p7der);
	struct { const unsigned char *d; size_t n; int want; const char *what; } t[] = {
		{ der, (size_t)len, 1, "DER certificate" },
		{ p7der, (size_t)p7len, 2, "PKCS#7 certs-only with its root" },
		{ (const unsigned char *)"garbage", 7, -1, "garbage" },
		{ der, (size_t)len - 10, -1, "truncated DER" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int got = dir_ldap_parse_value(t[i].d, t[i].n, out);
		if (got != t[i].want)
			fail_msg("%s: got %d certificates, want %d", t[i].what, got, t[i].want);
	}
	assert_int_equal(sk_X509_num(out), 3);
	sk_X509_pop_free(out, X509_free);
	sk_X509_free(in);
	PKCS7_free(p7);
	OPENSSL_free(der);
	OPENSSL_free(p7der);
	X509_free(c);
}

/* ---- certificate checks ---- */

static void
test_check(void **state)
{
	struct {
		const char *what, *email, *ask, *ku, *eku;
		int from, to, untrusted;
		dir_status_t want;
		const char *why;
	} t[] = {
		{ "good", "a@example.net", "a@example.net", "keyEncipherment",
		  "emailProtection", -1, 30, 0, DIR_OK, "" },
		{ "domain case-insensitive", "a@example.net", "a@EXAMPLE.Net",
		  "keyEncipherment", "emailProtection", -1, 30, 0, DIR_OK, "" },
		{ "local part exact", "a@example.net", "A@example.net",
		  "keyEncipherment", "emailProtection", -1, 30, 0, DIR_NOTFOUND, "does not name" },
		{ "another address", "b@example.net", "a@example.net",
		  "keyEncipherment", "emailProtection", -1, 30, 0, DIR_NOTFOUND, "does not name" },
		{ "no EKU is fine", "a@example.net", "a@example.net",
		  "keyEncipherment", NULL, -1, 30, 0, DIR_OK, "" },
		{ "expired", "a@example.net", "a@example.net", "keyEncipherment",
		  "emailProtection", -30, -1, 0, DIR_NOTFOUND, "expired" },
		{ "not yet valid", "a@example.net", "a@example.net", "keyEncipherment",
		  "emailProtection", 2, 30, 0, DIR_NOTFOUND, "not valid yet" },
		{ "serverAuth only", "a@example.net", "a@example.net", "keyEncipherment",
		  "serverAuth", -1, 30, 0, DIR_NOTFOUND, "lacks emailProtection" },
		{ "signing only", "a@example.net", "a@example.net", "digitalSignature",
		  "emailProtection", -1, 30, 0, DIR_NOTFOUND, "keyUsage" },
		{ "untrusted issuer", "a@example.net", "a@example.net", "keyEncipherment",
		  "emailProtection", -1, 30, 1, DIR_NOTFOUND, "(untrusted)" },
	};
	dir_settings_t s = settings();
	char err[256];
	dir_check_t *chk = dir_check_new(&s, err, sizeof(err));
	(void)state;

	assert_non_null(chk);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		X509 *c = unit_cert_ext(pki.key, t[i].untrusted ? pki.other_ca : pki.ca,
		    t[i].untrusted ? pki.other_key : pki.ca_key, t[i].email, t[i].from,
		    t[i].to, t[i].ku, t[i].eku, 0);
		char why[256] = "";
		dir_status_t got = dir_check_cert(chk, c, NULL, t[i].ask, why, sizeof(why));

		if (got != t[i].want || strstr(why, t[i].why) == NULL)
			fail_msg("%s: got %d \"%s\", want %d \"%s\"", t[i].what, got, why,
			    t[i].want, t[i].why);
		X509_free(c);
	}
	dir_check_free(chk);
}

/* A CRL distribution point nobody answers: the policy decides. */
static void
test_crl_policy(void **state)
{
	static const struct { int policy; dir_status_t want; } t[] = {
		{ DIR_CRL_TEMPFAIL, DIR_ERR_UNAVAILABLE },
		{ DIR_CRL_REFUSE, DIR_NOTFOUND },
		{ DIR_CRL_ACCEPT, DIR_OK },
	};
	char ext[] = "URI:http://127.0.0.1:1/none.crl";
	X509 *c = unit_cert(pki.key, pki.ca, pki.ca_key, "a@example.net", -1, 30);
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	(void)state;

	X509V3_set_ctx(&ctx, pki.ca, c, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_crl_distribution_points, ext);
	assert_non_null(e);
	X509_add_ext(c, e, -1);
	X509_EXTENSION_free(e);
	X509_sign(c, pki.ca_key, EVP_sha256());
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		dir_settings_t s = settings();
		char err[256], why[256] = "";
		dir_check_t *chk;

		s.crl_policy = t[i].policy;
		chk = dir_check_new(&s, err, sizeof(err));
		dir_status_t got = dir_check_cert(chk, c, NULL, "a@example.net", why, sizeof(why));
		if (got != t[i].want)
			fail_msg("CRL policy %d: got %d (%s), want %d", t[i].policy, got, why,
			    t[i].want);
		dir_check_free(chk);
	}
	X509_free(c);
}

/* Counts the CRL fetches it is asked for, and answers none. */
static BIO *
count_fetch(void *arg, const char *url, char *why, size_t len)
{
	(*(int *)arg)++;
	snprintf(why, len, "%s: no answer (test)", url);
	return NULL;
}

/* A certificate that does not chain names a distribution point: nothing
 * is fetched, whatever CRLUnavailable says, and it is refused as
 * untrusted; the same from the trusted CA fetches once. */
static void
test_crl_untrusted_not_fetched(void **state)
{
	static const int policies[] = { DIR_CRL_TEMPFAIL, DIR_CRL_REFUSE, DIR_CRL_ACCEPT };
	char ext[] = "URI:http://127.0.0.1:1/planted.crl";
	X509 *bad = unit_cert(pki.key, pki.other_ca, pki.other_key, "a@example.net", -1, 30);
	X509 *good = unit_cert(pki.key, pki.ca, pki.ca_key, "a@example.net", -1, 30);
	X509 *v[] = { bad, good };
	EVP_PKEY *signers[] = { pki.other_key, pki.ca_key };
	X509 *issuers[] = { pki.other_ca, pki.ca };
	(void)state;

	for (size_t k = 0; k < 2; k++) {
		X509V3_CTX ctx;
		X509_EXTENSION *e;

		X509V3_set_ctx(&ctx, issuers[k], v[k], NULL, NULL, 0);
		e = X509V3_EXT_conf_nid(NULL, &ctx, NID_crl_distribution_points, ext);
		assert_non_null(e);
		X509_add_ext(v[k], e, -1);
		X509_EXTENSION_free(e);
		X509_sign(v[k], signers[k], EVP_sha256());
	}
	for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
		dir_settings_t s = settings();
		char err[256], why[256] = "";
		int fetches = 0;
		dir_check_t *chk;
		dir_status_t got;

		s.crl_policy = policies[i];
		s.crl_fetch = count_fetch;
		s.crl_fetch_arg = &fetches;
		chk = dir_check_new(&s, err, sizeof(err));
		assert_non_null(chk);
		got = dir_check_cert(chk, bad, NULL, "a@example.net", why, sizeof(why));
		if (got != DIR_NOTFOUND || fetches != 0 || strstr(why, "untrusted") == NULL)
			fail_msg("policy %d, untrusted: got %d (%s) after %d fetches, want "
			    "refused as untrusted after none", policies[i], got, why, fetches);
		(void)dir_check_cert(chk, good, NULL, "a@example.net", why, sizeof(why));
		if (fetches != 1)
			fail_msg("policy %d, trusted: %d fetches, want 1", policies[i], fetches);
		dir_check_free(chk);
	}
	X509_free(bad);
	X509_free(good);
}

/* ---- the harvest store ---- */

/* Replaces the record named for cert in the one address directory of
 * the store dir by one holding inside (signing time t). */
static void
harvest_plant(const char *dir, X509 *cert, X509 *inside, long t)
{
	char sub[1024] = "", path[1200], hex[65], tbuf[24];
	unsigned char md[32];
	unsigned int mdlen;
	struct dirent *de;
	DIR *d = opendir(dir);
	FILE *fp;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
	closedir(d);
	assert_true(X509_digest(cert, EVP_sha256(), md, &mdlen));
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(path, sizeof(path), "%s/%s.pem", sub, hex);
	snprintf(tbuf, sizeof(tbuf), "%ld", t);
	assert_non_null(fp = fopen(path, "w"));
	assert_true(PEM_write_X509(fp, inside));
	assert_true(PEM_write(fp, "SMIMEGATE SIGNING TIME", "", (unsigned char *)tbuf,
	    (long)strlen(tbuf)));
	fclose(fp);
}

static void
test_harvest(void **state)
{
	char dir[600], err[256];
	dir_harvest_t *h;
	dir_harvest_entry_t *v;
	size_t n;
	X509 *c1 = unit_cert(pki.key, pki.ca, pki.ca_key, "h@example.net", -2, 30);
	X509 *c2 = unit_cert(pki.ec_key, pki.ca, pki.ca_key, "h@example.net", -1, 30);
	const unsigned char caps[] = { 0x30, 0x00 };
	struct stat st;
	(void)state;

	snprintf(dir, sizeof(dir), "%s/harvest", pki.dir);
	assert_null(dir_harvest_open("", err, sizeof(err)));
	h = dir_harvest_open(dir, err, sizeof(err));
	assert_non_null(h);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(dir_harvest_put(h, "h@example.net", c1, NULL, 0, 100, err, sizeof(err)), 0);
	assert_int_equal(dir_harvest_put(h, "h@EXAMPLE.net", c2, caps, sizeof(caps), 200,
	    err, sizeof(err)), 0);
	/* The same certificate with an older signing time changes nothing. */
	assert_int_equal(dir_harvest_put(h, "h@example.net", c2, NULL, 0, 50, err, sizeof(err)), 0);
	assert_int_equal(dir_harvest_put(h, "no-at-sign", c1, NULL, 0, 1, err, sizeof(err)), -1);

	assert_int_equal(dir_harvest_get(h, "h@Example.NET", &v, &n, err, sizeof(err)), 0);
	if (n != 2)
		fail_msg("got %zu entries, want 2", n);
	if (v[0].signing_time != 200 || v[1].signing_time != 100)
		fail_msg("order: got %lld, %lld, want 200, 100", (long long)v[0].signing_time,
		    (long long)v[1].signing_time);
	assert_int_equal(X509_cmp(v[0].cert, c2), 0);
	assert_int_equal(v[0].caps_len, sizeof(caps));
	assert_memory_equal(v[0].caps, caps, sizeof(caps));
	assert_null(v[1].caps);
	dir_harvest_list_free(v, n);

	/* Local parts are exact. */
	assert_int_equal(dir_harvest_get(h, "H@example.net", &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_null(v);

	/* A record named for c2 that holds another certificate (and a later
	 * time) is not kept on its time: the next put of c2 replaces it. */
	harvest_plant(dir, c2, c1, 999);
	assert_int_equal(dir_harvest_put(h, "h@example.net", c2, NULL, 0, 300, err, sizeof(err)), 0);
	assert_int_equal(dir_harvest_get(h, "h@example.net", &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	if (v[0].signing_time != 300 || X509_cmp(v[0].cert, c2) != 0)
		fail_msg("a record holding another certificate was kept (time %lld)",
		    (long long)v[0].signing_time);
	dir_harvest_list_free(v, n);
	dir_harvest_free(h);
	X509_free(c1);
	X509_free(c2);
}

/* The store reads only the address's subdirectory, and moves files of the
 * old flat layout (AH-CH.pem) there when opened. */
static void
test_harvest_layout(void **state)
{
	char dir[600], sub[900], flat[2200], moved[1200], err[256];
	dir_harvest_t *h;
	dir_harvest_entry_t *v;
	size_t n;
	X509 *c = unit_cert(pki.key, pki.ca, pki.ca_key, "l@example.net", -1, 30);
	struct stat st;
	FILE *fp;
	(void)state;

	snprintf(dir, sizeof(dir), "%s/harvest-layout", pki.dir);
	h = dir_harvest_open(dir, err, sizeof(err));
	assert_non_null(h);
	assert_int_equal(dir_harvest_put(h, "l@example.net", c, NULL, 0, 5, err, sizeof(err)), 0);
	dir_harvest_free(h);
	/* Exactly one subdirectory holding one file: move it back flat. */
	{
		DIR *d = opendir(dir);
		struct dirent *de;
		int nsub = 0;

		assert_non_null(d);
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.') {
				snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
				nsub++;
			}
		closedir(d);
		if (nsub != 1)
			fail_msg("got %d entries in the store, want 1 subdirectory", nsub);
		assert_int_equal(stat(sub, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		d = opendir(sub);
		assert_non_null(d);
		moved[0] = '\0';
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				snprintf(moved, sizeof(moved), "%s/%s", sub, de->d_name);
		closedir(d);
		assert_true(moved[0] != '\0');
		snprintf(flat, sizeof(flat), "%s-%s", sub, strrchr(moved, '/') + 1);
		assert_int_equal(rename(moved, flat), 0);
	}
	/* A stray file that is not a record is left alone. */
	snprintf(moved, sizeof(moved), "%s/README", dir);
	assert_non_null(fp = fopen(moved, "w"));
	fclose(fp);
	h = dir_harvest_open(dir, err, sizeof(err));
	assert_non_null(h);
	if (stat(flat, &st) == 0)
		fail_msg("%s: still there after open, want it moved", flat);
	assert_int_equal(dir_harvest_get(h, "l@example.net", &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(X509_cmp(v[0].cert, c), 0);
	dir_harvest_list_free(v, n);
	assert_int_equal(stat(moved, &st), 0);
	dir_harvest_free(h);
	X509_free(c);
}

/* A harvest store in Redis that does not answer: the lookup says
 * unavailable (never "no certificate"), and put fails. */
static void
test_harvest_redis_down(void **state)
{
	dir_settings_t s = settings();
	char err[256];
	dir_harvest_entry_t *v;
	dir_harvest_t *h;
	dir_lookup_t *l;
	dir_answer_t a;
	size_t n;
	X509 *c = unit_cert(pki.key, pki.ca, pki.ca_key, "r@example.net", -1, 30);
	(void)state;

	dir_redis_t *r;

	s.redis = "nonsense";
	assert_null(dir_redis_new(&s, err, sizeof(err)));
	s.redis = "127.0.0.1:1";
	r = dir_redis_new(&s, err, sizeof(err));
	assert_non_null(r);
	h = dir_harvest_open_redis(r, "h:", err, sizeof(err));
	assert_non_null(h);
	assert_true(dir_harvest_is_redis(h));
	assert_int_equal(dir_harvest_ping(h, err, sizeof(err)), -1);
	assert_int_equal(dir_harvest_put(h, "r@example.net", c, NULL, 0, 1, err, sizeof(err)), -1);
	assert_int_equal(dir_harvest_get(h, "r@example.net", &v, &n, err, sizeof(err)), -1);
	dir_harvest_free(h);
	dir_redis_free(r);

	s.harvest_dir = "unused";
	s.harvest_redis = 1;
	s.harvest_prefix = "h:";
	l = dir_lookup_new(&s, err, sizeof(err));
	assert_non_null(l);
	assert_true(dir_harvest_is_redis(dir_lookup_harvest(l)));
	{
		dir_status_t got = dir_lookup_find(l, "r@example.net", &a);
		if (got != DIR_ERR_UNAVAILABLE)
			fail_msg("got %d (%s), want unavailable", got, a.err);
	}
	dir_answer_clear(&a);
	dir_lookup_free(l);
	X509_free(c);
}

/* ---- the caches ---- */

static void
test_mem_cache_bound(void **state)
{
	dir_settings_t s = settings();
	char err[256], note[256] = "", src[64];
	X509 *cert;
	int gcm;
	dir_cache_t *c;
	static const struct { const char *addr; enum dir_cache_hit want; } t[] = {
		{ "a@x", DIR_CACHE_MISS },      /* the oldest, evicted */
		{ "b@x", DIR_CACHE_NEGATIVE },
		{ "c@x", DIR_CACHE_NEGATIVE },
		{ "d@x", DIR_CACHE_MISS },      /* never put */
	};
	(void)state;

	s.mem_cache_size = 2;
	c = dir_cache_new(&s, NULL, err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(dir_cache_name(c), "memory");
	dir_cache_put(c, "a@x", NULL, NULL, 0, NULL, note, sizeof(note));
	dir_cache_put(c, "b@x", NULL, NULL, 0, NULL, note, sizeof(note));
	dir_cache_put(c, "c@x", NULL, NULL, 0, NULL, note, sizeof(note));
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		enum dir_cache_hit got = dir_cache_get(c, t[i].addr, &cert, NULL, &gcm, src,
		    sizeof(src), note, sizeof(note));
		if (got != t[i].want)
			fail_msg("%s: got %d, want %d", t[i].addr, got, t[i].want);
		X509_free(cert);
	}
	assert_int_equal(dir_cache_del(c, NULL, err, sizeof(err)), 0);
	assert_int_equal(dir_cache_get(c, "b@x", &cert, NULL, &gcm, src, sizeof(src), note,
	    sizeof(note)), DIR_CACHE_MISS);
	dir_cache_free(c);
}

/* A certificate cached with the CA certificates that came with it gets
 * them back; a reader that wants no chain still reads the certificate. */
static void
test_mem_cache_chain(void **state)
{
	dir_settings_t s = settings();
	char err[256], note[256] = "", src[64];
	X509 *c = unit_cert(pki.key, pki.ca, pki.ca_key, "k@example.net", -1, 30), *got;
	STACK_OF(X509) *chain = sk_X509_new_null(), *back = NULL;
	int gcm;
	dir_cache_t *cache;
	(void)state;

	assert_non_null(c);
	assert_true(sk_X509_push(chain, pki.ca));
	cache = dir_cache_new(&s, NULL, err, sizeof(err));
	assert_non_null(cache);
	dir_cache_put(cache, "k@example.net", c, chain, 1, "partner http://p/certs", note,
	    sizeof(note));
	assert_int_equal(dir_cache_get(cache, "k@example.net", &got, &back, &gcm, src,
	    sizeof(src), note, sizeof(note)), DIR_CACHE_POSITIVE);
	assert_int_equal(X509_cmp(got, c), 0);
	assert_int_equal(gcm, 1);
	assert_string_equal(src, "partner http://p/certs");
	assert_non_null(back);
	assert_int_equal(sk_X509_num(back), 1);
	assert_int_equal(X509_cmp(sk_X509_value(back, 0), pki.ca), 0);
	X509_free(got);
	sk_X509_pop_free(back, X509_free);
	assert_int_equal(dir_cache_get(cache, "k@example.net", &got, NULL, &gcm, src,
	    sizeof(src), note, sizeof(note)), DIR_CACHE_POSITIVE);
	assert_int_equal(X509_cmp(got, c), 0);
	X509_free(got);
	dir_cache_free(cache);
	sk_X509_free(chain);
	X509_free(c);
}

/* ---- partners (PartnerLookup) ---- */

static void
test_partner_settings(void **state)
{
	static const struct { const char *pairs[5]; int ok; } t[] = {
		{ { NULL }, 1 },
		{ { "a.example", "http://127.0.0.1:8896/certs", NULL }, 1 },
		{ { "a.example", "http://h/certs", "B.Example", "http://h:81/x", NULL }, 1 },
		{ { "a.example", NULL }, 0 },                         /* no URL */
		{ { "a.example", "https://h/certs", NULL }, 1 },
		{ { "a.example", "https://h:8443/certs", "b.example", "http://h/c", NULL }, 1 },
		{ { "a.example", "ftp://h/certs", NULL }, 0 },
		{ { "a.example", "http://h/certs?mail=x", NULL }, 0 }, /* a query */
		{ { "a.example", "http://h/certs#f", NULL }, 0 },
		{ { "a.example", "not a url", NULL }, 0 },
		{ { "x@a.example", "http://h/certs", NULL }, 0 },     /* not a domain */
		{ { "a.example/x", "http://h/certs", NULL }, 0 },
	};
	char err[256];
	(void)state;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		dir_partner_t *dp = dir_partner_new((char *const *)t[i].pairs, 5, NULL,
		    0, err, sizeof(err));

		if ((dp != NULL) != t[i].ok)
			fail_msg("case %zu (%s %s): got %s, want %s", i,
			    t[i].pairs[0] ? t[i].pairs[0] : "-", t[i].pairs[1] ? t[i].pairs[1] : "-",
			    dp ? "accepted" : err, t[i].ok ? "accepted" : "refused");
		dir_partner_free(dp);
	}
}

static void
test_partner_url(void **state)
{
	char *const pairs[] = { "A.Example", "http://h/certs", NULL };
	char err[256];
	dir_partner_t *dp = dir_partner_new(pairs, 5, NULL, 0, err, sizeof(err));
	static const struct { const char *addr; int found; } t[] = {
		{ "anna@a.example", 1 },
		{ "anna@A.EXAMPLE", 1 },
		{ "anna@sub.a.example", 0 },   /* the domain exactly */
		{ "anna@a.example.org", 0 },
		{ "anna@b.example", 0 },
		{ "a.example", 0 },            /* no @ */
	};
	(void)state;

	assert_non_null(dp);
	assert_int_equal(dir_partner_count(dp), 1);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *u = dir_partner_url(dp, t[i].addr);

		if ((u != NULL) != t[i].found)
			fail_msg("%s: got %s, want %s", t[i].addr, u ? u : "none",
			    t[i].found ? "http://h/certs" : "none");
	}
	dir_partner_free(dp);
}

/* A partner that does not answer is unavailable, and is not asked again
 * at once; a domain without a partner is not found. */
static void
test_partner_down(void **state)
{
	char *const pairs[] = { "a.example", "http://127.0.0.1:1/certs", NULL };
	char err[256], why[512] = "";
	dir_partner_t *dp = dir_partner_new(pairs, 2, NULL, 0, err, sizeof(err));
	STACK_OF(X509) *certs = NULL;
	(void)state;

	assert_non_null(dp);
	assert_int_equal(dir_partner_fetch(dp, "x@b.example", &certs, why, sizeof(why)),
	    DIR_NOTFOUND);
	assert_null(certs);
	assert_int_equal(dir_partner_fetch(dp, "x@a.example", &certs, why, sizeof(why)),
	    DIR_ERR_UNAVAILABLE);
	sk_X509_pop_free(certs, X509_free);
	if (strstr(why, "partner a.example") == NULL)
		fail_msg("why: got \"%s\", want it to name the partner", why);
	assert_int_equal(dir_partner_fetch(dp, "y@a.example", &certs, why, sizeof(why)),
	    DIR_ERR_UNAVAILABLE);
	sk_X509_pop_free(certs, X509_free);
	if (strstr(why, "not asked again") == NULL)
		fail_msg("second try: got \"%s\", want \"...not asked again...\"", why);
	dir_partner_free(dp);
}

static void
test_redis_down(void **state)
{
	dir_settings_t s = settings();
	char err[256], note[256] = "", src[64];
	X509 *cert;
	int gcm;
	dir_cache_t *c;
	dir_redis_t *r;
	(void)state;

	s.redis = "127.0.0.1:1";
	r = dir_redis_new(&s, err, sizeof(err));
	assert_non_null(r);
	c = dir_cache_new(&s, r, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(dir_cache_get(c, "a@x", &cert, NULL, &gcm, src, sizeof(src), note,
	    sizeof(note)), DIR_CACHE_MISS);
	if (strstr(note, "unavailable") == NULL)
		fail_msg("first failure: got note \"%s\", want \"...unavailable...\"", note);
	note[0] = '\0';
	assert_int_equal(dir_cache_get(c, "a@x", &cert, NULL, &gcm, src, sizeof(src), note,
	    sizeof(note)), DIR_CACHE_MISS);
	if (note[0] != '\0')
		fail_msg("second failure: got note \"%s\", want none (logged once)", note);
	dir_cache_free(c);
	dir_redis_free(r);
}

/* Redis settings: the value key is required, read from a private file. */
static void
test_redis_settings(void **state)
{
	dir_settings_t s = settings();
	char err[256], open_key[512];
	static const char *const bad_server[] = { "nonsense", ":1", "h:0", "h:65536", "h:1x" };
	(void)state;

	for (size_t i = 0; i < sizeof(bad_server) / sizeof(bad_server[0]); i++) {
		s.redis = bad_server[i];
		if (dir_redis_new(&s, err, sizeof(err)) != NULL)
			fail_msg("server \"%s\": got a handle, want an error", bad_server[i]);
	}
	s.redis = "127.0.0.1:1";
	s.redis_key_file = "";
	assert_null(dir_redis_new(&s, err, sizeof(err)));
	assert_non_null(strstr(err, "RedisKeyFile"));
	snprintf(open_key, sizeof(open_key), "%s/open.key", pki.dir);
	assert_int_equal(unit_write_file(open_key, "0123456789abcdef0123456789abcdef", 32,
	    0644), 0);
	s.redis_key_file = open_key;
	assert_null(dir_redis_new(&s, err, sizeof(err)));
	assert_non_null(strstr(err, "0600"));
	s.redis_key_file = pki.key_file;
	s.redis_user = "gw";
	assert_null(dir_redis_new(&s, err, sizeof(err)));
	assert_non_null(strstr(err, "RedisPasswordFile"));
}

/* Sealed values: what opens and what does not. */
static void
test_redis_seal(void **state)
{
	dir_settings_t s = settings();
	char err[256], other_key[512];
	dir_redis_t *r, *other;
	unsigned char *v, *w;
	const unsigned char *d;
	size_t len, wlen, dlen;
	(void)state;

	s.redis = "127.0.0.1:1";
	r = dir_redis_new(&s, err, sizeof(err));
	snprintf(other_key, sizeof(other_key), "%s/other.key", pki.dir);
	assert_int_equal(unit_write_file(other_key, "ffffffffffffffffffffffffffffffffff", 34,
	    0600), 0);
	s.redis_key_file = other_key;
	other = dir_redis_new(&s, err, sizeof(err));
	assert_non_null(r);
	assert_non_null(other);
	v = dir_redis_seal(r, "t:a@x", NULL, time(NULL) + 60, (const unsigned char *)"N", 1,
	    &len);
	assert_non_null(v);
	d = dir_redis_open(r, "t:a@x", NULL, v, len, &dlen);
	assert_non_null(d);
	assert_int_equal(dlen, 1);
	assert_memory_equal(d, "N", 1);
	/* Another address, another field, another key, a changed byte, a
	 * short value, the bare old format: none opens. */
	assert_null(dir_redis_open(r, "t:b@x", NULL, v, len, &dlen));
	assert_null(dir_redis_open(r, "t:a@x", "f", v, len, &dlen));
	assert_null(dir_redis_open(other, "t:a@x", NULL, v, len, &dlen));
	for (size_t i = 0; i < len; i++) {
		v[i] ^= 1;
		if (dir_redis_open(r, "t:a@x", NULL, v, len, &dlen) != NULL)
			fail_msg("octet %zu changed: the value still opens", i);
		v[i] ^= 1;
	}
	for (size_t i = 0; i < len; i++)
		if (dir_redis_open(r, "t:a@x", NULL, v, i, &dlen) != NULL)
			fail_msg("cut to %zu octets: the value still opens", i);
	assert_null(dir_redis_open(r, "t:a@x", NULL, (const unsigned char *)"N", 1, &dlen));
	/* Expired: not believed. */
	w = dir_redis_seal(r, "t:a@x", NULL, time(NULL) - 1, (const unsigned char *)"N", 1,
	    &wlen);
	assert_null(dir_redis_open(r, "t:a@x", NULL, w, wlen, &dlen));
	free(w);
	/* No end (harvest records), with a field. */
	w = dir_redis_seal(r, "h:k", "f", 0, (const unsigned char *)"rec", 3, &wlen);
	assert_non_null(dir_redis_open(r, "h:k", "f", w, wlen, &dlen));
	assert_int_equal(dlen, 3);
	free(w);
	free(v);
	dir_redis_free(r);
	dir_redis_free(other);
}

/* The seal is HMAC-SHA256 under the key file's first line over
 * "v1:", key, field, expiry (each with its NUL) and the data, as the
 * other gateways sharing the cache compute it; the same every time the
 * handle's prepared context is copied. */
static void
test_redis_seal_mac(void **state)
{
	dir_settings_t s = settings();
	char err[256], keyline[256], want[65], exp[24];
	unsigned char msg[128], md[32];
	unsigned int mdlen = 0;
	size_t len, klen, n = 0;
	unsigned char *v;
	dir_redis_t *r;
	FILE *f;
	(void)state;

	s.redis = "127.0.0.1:1";
	assert_non_null(r = dir_redis_new(&s, err, sizeof(err)));
	assert_non_null(f = fopen(pki.key_file, "r"));
	assert_non_null(fgets(keyline, sizeof(keyline), f));
	fclose(f);
	klen = strcspn(keyline, "\r\n");
	snprintf(exp, sizeof(exp), "%lld", (long long)time(NULL) + 600);
	memcpy(msg + n, "v1:", 4), n += 4;
	memcpy(msg + n, "t:a@x", 6), n += 6;
	memcpy(msg + n, "f", 2), n += 2;
	memcpy(msg + n, exp, strlen(exp) + 1), n += strlen(exp) + 1;
	memcpy(msg + n, "data", 4), n += 4;
	assert_non_null(HMAC(EVP_sha256(), keyline, (int)klen, msg, n, md, &mdlen));
	for (unsigned i = 0; i < 32; i++)
		snprintf(want + 2 * i, 3, "%02x", md[i]);
	for (int round = 0; round < 3; round++) {
		v = dir_redis_seal(r, "t:a@x", "f", (time_t)atoll(exp),
		    (const unsigned char *)"data", 4, &len);
		assert_non_null(v);
		assert_memory_equal(v, "v1:", 3);
		assert_memory_equal(v + 3, want, 64);
		free(v);
	}
	dir_redis_free(r);
}

/* ---- dir_lookup_find ---- */

/* Harvested certificates by purpose; the signer's key
 * preference wins over a newer certificate; the latest preference wins;
 * a signing-only certificate is never chosen. */
static void
test_lookup_harvest_pref(void **state)
{
	dir_settings_t s = settings();
	char hdir[600], err[256];
	X509 *sign = unit_cert_ext(pki.key, pki.ca, pki.ca_key, "p@example.net", -1, 30,
	    "critical, digitalSignature", "emailProtection", 0);
	X509 *a = unit_cert_ext(pki.key, pki.ca, pki.ca_key, "p@example.net", -3, 30,
	    "critical, keyEncipherment", "emailProtection", 0);
	X509 *b = unit_cert_ext(pki.key, pki.ca, pki.ca_key, "p@example.net", -2, 30,
	    "critical, keyEncipherment", "emailProtection", 0);
	dir_harvest_entry_t *v;
	dir_harvest_t *h;
	dir_lookup_t *l;
	dir_answer_t ans;
	size_t n;
	(void)state;

	snprintf(hdir, sizeof(hdir), "%s/harvest-pref", pki.dir);
	h = dir_harvest_open(hdir, err, sizeof(err));
	assert_non_null(h);
	assert_int_equal(dir_harvest_put_pref(h, "p@example.net", sign, NULL, 0, 10, 0, err,
	    sizeof(err)), 0);
	assert_int_equal(dir_harvest_put_pref(h, "p@example.net", a, NULL, 0, 10, 1, err,
	    sizeof(err)), 0);
	assert_int_equal(dir_harvest_put_pref(h, "p@example.net", b, NULL, 0, 5, 0, err,
	    sizeof(err)), 0);
	assert_int_equal(dir_harvest_get(h, "p@example.net", &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		unsigned want = X509_cmp(v[i].cert, sign) == 0 ? DIR_HARVEST_SIGN : DIR_HARVEST_ENCRYPT;
		if (v[i].purpose != want)
			fail_msg("record %zu: got purpose %u, want %u", i, v[i].purpose, want);
		assert_int_equal(v[i].preferred, X509_cmp(v[i].cert, a) == 0);
	}
	dir_harvest_list_free(v, n);

	s.harvest_dir = hdir;
	l = dir_lookup_new(&s, err, sizeof(err));
	assert_non_null(l);
	assert_int_equal(dir_lookup_find(l, "p@example.net", &ans), DIR_OK);
	if (X509_cmp(ans.cert, a) != 0)
		fail_msg("got %s, want the preferred certificate", ans.source);
	assert_non_null(strstr(ans.source, "key preference"));
	dir_answer_clear(&ans);
	/* A later signature prefers b. */
	assert_int_equal(dir_harvest_put_pref(h, "p@example.net", b, NULL, 0, 20, 1, err,
	    sizeof(err)), 0);
	assert_int_equal(dir_lookup_find(l, "p@example.net", &ans), DIR_OK);
	assert_int_equal(X509_cmp(ans.cert, b), 0);
	dir_answer_clear(&ans);
	dir_lookup_free(l);
	dir_harvest_free(h);
	X509_free(sign);
	X509_free(a);
	X509_free(b);
}

static void
test_lookup_harvest_and_down(void **state)
{
	dir_settings_t s = settings();
	char hdir[600], err[256];
	char *urls[] = { "ldap://127.0.0.1:1/ou=people,dc=example,dc=net", NULL };
	X509 *good = unit_cert(pki.key, pki.ca, pki.ca_key, "g@example.net", -1, 30);
	X509 *old = unit_cert(pki.key, pki.ca, pki.ca_key, "g@example.net", -20, -1);
	STACK_OF(X509_ALGOR) *algs = NULL;
	unsigned char *caps = NULL;
	int caps_len;
	dir_harvest_t *h;
	dir_lookup_t *l;
	dir_answer_t a;
	(void)state;

	snprintf(hdir, sizeof(hdir), "%s/harvest2", pki.dir);
	h = dir_harvest_open(hdir, err, sizeof(err));
	assert_non_null(h);
	CMS_add_simple_smimecap(&algs, NID_aes_256_gcm, -1);
	caps_len = i2d_X509_ALGORS(algs, &caps);
	assert_true(caps_len > 0);
	assert_int_equal(dir_harvest_put(h, "g@example.net", good, caps, (size_t)caps_len,
	    10, err, sizeof(err)), 0);
	assert_int_equal(dir_harvest_put(h, "g@example.net", old, NULL, 0, 20, err,
	    sizeof(err)), 0);
	dir_harvest_free(h);

	s.harvest_dir = hdir;
	s.ldap_urls = urls;
	l = dir_lookup_new(&s, err, sizeof(err));
	assert_non_null(l);

	/* Harvested: the valid one, GCM announced, no directory search. */
	assert_int_equal(dir_lookup_find(l, "g@example.net", &a), DIR_OK);
	assert_int_equal(X509_cmp(a.cert, good), 0);
	assert_true(a.gcm);
	assert_int_equal(a.ncands, 2);
	assert_int_equal(dir_lookup_searches(l), 0);
	dir_answer_clear(&a);

	/* Not harvested: the directory is down, so unavailable, not cached. */
	for (int i = 0; i < 2; i++) {
		dir_status_t got = dir_lookup_find(l, "x@example.net", &a);
		if (got != DIR_ERR_UNAVAILABLE)
			fail_msg("round %d: got %d (%s), want unavailable", i, got, a.err);
		dir_answer_clear(&a);
	}
	assert_int_equal(dir_lookup_searches(l), 2);
	/* Bad input never reaches a directory. */
	assert_int_equal(dir_lookup_find(l, "", &a), DIR_ERR_INPUT);
	dir_answer_clear(&a);
	assert_int_equal(dir_lookup_find(l, "a b@example.net", &a), DIR_ERR_INPUT);
	dir_answer_clear(&a);
	dir_lookup_free(l);

	/* Bad settings are refused. */
	urls[0] = "http://not-ldap";
	assert_null(dir_lookup_new(&s, err, sizeof(err)));
	urls[0] = "ldap://127.0.0.1:1/dc=x????x-bindpwfile=/nonexistent/pw";
	assert_null(dir_lookup_new(&s, err, sizeof(err)));
	urls[0] = "ldap://127.0.0.1:1/dc=x????x-unknown";
	assert_null(dir_lookup_new(&s, err, sizeof(err)));

	sk_X509_ALGOR_pop_free(algs, X509_ALGOR_free);
	OPENSSL_free(caps);
	X509_free(good);
	X509_free(old);
}


/* userSMIMECertificate's value: a certs-only PKCS#7 with the certificate
 * first and the chain, a copy of the certificate in the chain left out;
 * a publication without a directory fails, never silently. */
static void
test_publish_p7(void **state)
{
	X509 *cert = unit_cert(pki.key, pki.ca, pki.ca_key, "pub@example.net", -1, 30);
	STACK_OF(X509) *chain = sk_X509_new_null();
	dir_publish_settings_t none = { "", "", 5 }, bad = { "http://x/", "", 5 };
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	PKCS7 *p7;
	char why[256] = "";

	assert_non_null(cert);
	assert_true(sk_X509_push(chain, cert) && X509_up_ref(cert));
	assert_true(sk_X509_push(chain, pki.ca) && X509_up_ref(pki.ca));
	assert_int_equal(dir_publish_p7(cert, chain, &der, &len), 0);
	p = der;
	p7 = d2i_PKCS7(NULL, &p, (long)len);
	assert_non_null(p7);
	assert_true(PKCS7_type_is_signed(p7));
	assert_int_equal(sk_X509_num(p7->d.sign->cert), 2);
	assert_int_equal(X509_cmp(sk_X509_value(p7->d.sign->cert, 0), cert), 0);
	assert_int_equal(X509_cmp(sk_X509_value(p7->d.sign->cert, 1), pki.ca), 0);
	assert_int_equal(sk_PKCS7_SIGNER_INFO_num(p7->d.sign->signer_info), 0);
	PKCS7_free(p7);
	OPENSSL_free(der);
	assert_int_equal(dir_publish_enabled(&none), 0);
	assert_int_equal(dir_publish(&none, "pub@example.net", cert, chain, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "no PublishDirectory"));
	assert_int_equal(dir_publish_check(&none, why, sizeof(why)), 0);
	assert_int_equal(dir_publish_check(&bad, why, sizeof(why)), -1);
	sk_X509_pop_free(chain, X509_free);
	X509_free(cert);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_parse_value),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_crl_policy),
		cmocka_unit_test(test_harvest),
		cmocka_unit_test(test_harvest_layout),
		cmocka_unit_test(test_harvest_redis_down),
		cmocka_unit_test(test_mem_cache_bound),
		cmocka_unit_test(test_mem_cache_chain),
		cmocka_unit_test(test_partner_settings),
		cmocka_unit_test(test_partner_url),
		cmocka_unit_test(test_partner_down),
		cmocka_unit_test(test_crl_untrusted_not_fetched),
		cmocka_unit_test(test_redis_down),
		cmocka_unit_test(test_redis_settings),
		cmocka_unit_test(test_redis_seal),
		cmocka_unit_test(test_redis_seal_mac),
		cmocka_unit_test(test_lookup_harvest_and_down),
		cmocka_unit_test(test_lookup_harvest_pref),
		cmocka_unit_test(test_publish_p7),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
