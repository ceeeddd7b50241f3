/*
 * test_keycache.c: cmocka tests of the decrypted keys the keystore keeps
 * in memory (keystore_keycache_set(), keystore/keystore_keycache.c): the
 * attacks first (two employees, address spellings, aliases shared and
 * not, a retired address, a refused (revoked) certificate, a rekeyed
 * keystore, an entry replaced under a running handle, decryption for
 * another address), then the bounds (count, time, off), the secure heap
 * and threads.  Every test works in its own temporary keystore.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/x509v3.h>

#include "keystore/keystore.h"
#include "keystore/keystore_retire.h"
#include "tests/unit/unit_util.h"

#define PASS "pw"
#define HEAP (1 << 20)

static EVP_PKEY *ca_key;
static X509 *ca_cert;

typedef struct fx {
	char *tmp;
	char dir[512];
	keystore_t *ks;
} fx_t;

typedef struct ident {
	EVP_PKEY *key;
	X509 *cert;
} ident_t;

#define WANT_INT(what, got, want) do {                                      \
	long long g_ = (long long)(got), w_ = (long long)(want);            \
	if (g_ != w_)                                                       \
		fail_msg("%s: got %lld, want %lld", (what), g_, w_);        \
} while (0)

static int
group_setup(void **state)
{
	unit_group_ca("keycache test CA", &ca_key, &ca_cert);
	return 0;
}

static int
group_teardown(void **state)
{
	unit_group_ca_free(ca_key, ca_cert);
	return 0;
}

static int
setup(void **state)
{
	fx_t *f = calloc(1, sizeof(*f));
	keystore_err_t err;

	assert_non_null(f);
	if ((f->ks = unit_keystore_new(&f->tmp, f->dir, sizeof(f->dir), &err)) == NULL)
		fail_msg("keystore_open: %s", err.msg);
	keystore_keycache_set(f->ks, 300, 16, 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fx_t *f = *state;

	unit_keystore_free(f->ks, f->tmp);
	free(f);
	return 0;
}

/* A key and certificate for email (SAN; "a,email:b" names two), valid
 * from from_days, imported into ks. */
static void
ident_add(keystore_t *ks, ident_t *id, enum unit_keytype type,
    const char *email, int from_days)
{
	keystore_err_t err;
	unsigned char *p12;
	size_t len;

	id->key = unit_key(type);
	id->cert = unit_cert(id->key, ca_cert, ca_key, email, from_days, 365);
	p12 = unit_p12(id->key, id->cert, ca_cert, PASS, &len);
	if (keystore_import_p12(ks, p12, len, PASS, NULL, &err) != KEYSTORE_OK)
		fail_msg("import %s: %s", email, err.msg);
	free(p12);
}

static void
ident_free(ident_t *id)
{
	EVP_PKEY_free(id->key);
	X509_free(id->cert);
}

/* The signing key for address: must be want's (want NULL: none, the
 * status then must be rc). */
static void
want_key(keystore_t *ks, const char *address, const ident_t *want,
    keystore_status_t rc)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	keystore_err_t err;
	keystore_status_t got = keystore_signer(ks, address, &key, &cert, NULL, &err);

	if (want == NULL) {
		if (got != rc)
			fail_msg("%s: got status %d (%s), want %d", address, got,
			    got == KEYSTORE_OK ? "a key" : err.msg, rc);
		assert_null(key);
		return;
	}
	if (got != KEYSTORE_OK)
		fail_msg("%s: got status %d (%s), want a key", address, got, err.msg);
	if (EVP_PKEY_eq(key, want->key) != 1 || X509_cmp(cert, want->cert) != 0)
		fail_msg("%s: got another person's (or another) key", address);
	EVP_PKEY_free(key);
	X509_free(cert);
}

static keystore_keycache_stats_t
stats(keystore_t *ks)
{
	keystore_keycache_stats_t st;

	keystore_keycache_stats(ks, &st);
	return st;
}

/* ---- without a secure heap, nothing is kept (first group) ---- */

static void
test_off_without_secure_heap(void **state)
{
	fx_t *f = *state;
	ident_t a;

	assert_false(CRYPTO_secure_malloc_initialized());
	ident_add(f->ks, &a, UNIT_P256, "alice@example.com", -1);
	want_key(f->ks, "alice@example.com", &a, 0);
	want_key(f->ks, "alice@example.com", &a, 0);
	WANT_INT("keys kept without a secure heap", stats(f->ks).keys, 0);
	WANT_INT("hits without a secure heap", stats(f->ks).hits, 0);
	WANT_INT("keeping reported on", stats(f->ks).kept, 0);
	ident_free(&a);
}

/* ---- attacks ---- */

static void
test_two_employees(void **state)
{
	fx_t *f = *state;
	ident_t a, b;

	ident_add(f->ks, &a, UNIT_P256, "alice@example.com", -1);
	ident_add(f->ks, &b, UNIT_P256, "bob@example.com", -1);
	for (int i = 0; i < 3; i++) {
		want_key(f->ks, "alice@example.com", &a, 0);
		want_key(f->ks, "bob@example.com", &b, 0);
	}
	WANT_INT("misses", stats(f->ks).misses, 2);
	WANT_INT("hits", stats(f->ks).hits, 4);
	WANT_INT("keys kept", stats(f->ks).keys, 2);
	want_key(f->ks, "carol@example.com", NULL, KEYSTORE_NOTFOUND);
	ident_free(&a);
	ident_free(&b);
}

static void
test_address_spellings(void **state)
{
	fx_t *f = *state;
	ident_t a;

	ident_add(f->ks, &a, UNIT_P256, "alice@example.com", -1);
	want_key(f->ks, "alice@example.com", &a, 0);
	/* the domain's case does not matter; the local part's does */
	want_key(f->ks, "alice@EXAMPLE.com", &a, 0);
	WANT_INT("the domain's case is the same address", stats(f->ks).hits, 1);
	want_key(f->ks, "Alice@example.com", NULL, KEYSTORE_NOTFOUND);
	want_key(f->ks, "alice+news@example.com", NULL, KEYSTORE_NOTFOUND);
	want_key(f->ks, "alice@example.com.evil", NULL, KEYSTORE_NOTFOUND);
	want_key(f->ks, "alice", NULL, KEYSTORE_NOTFOUND);
	want_key(f->ks, "", NULL, KEYSTORE_NOTFOUND);
	ident_free(&a);
}

static void
test_aliases(void **state)
{
	fx_t *f = *state;
	ident_t carol, dave;

	/* carol's certificate names her alias and a shared one; dave's newer
	 * one names the shared one too: it is his (the newest) to sign with. */
	ident_add(f->ks, &carol, UNIT_P256,
	    "carol@example.com,email:c.smith@example.com,email:team@example.com", -2);
	want_key(f->ks, "carol@example.com", &carol, 0);
	want_key(f->ks, "c.smith@example.com", &carol, 0);
	want_key(f->ks, "team@example.com", &carol, 0);
	ident_add(f->ks, &dave, UNIT_P256, "dave@example.com,email:team@example.com", -1);
	want_key(f->ks, "team@example.com", &dave, 0);
	want_key(f->ks, "carol@example.com", &carol, 0);
	want_key(f->ks, "dave@example.com", &dave, 0);
	want_key(f->ks, "team@example.com", &dave, 0);
	ident_free(&carol);
	ident_free(&dave);
}

static void
test_retired(void **state)
{
	fx_t *f = *state;
	keystore_err_t err;
	keystore_t *other;
	ident_t a, b;

	ident_add(f->ks, &a, UNIT_P256, "alice@example.com,email:a.smith@example.com", -1);
	ident_add(f->ks, &b, UNIT_P256, "bob@example.com", -1);
	want_key(f->ks, "a.smith@example.com", &a, 0);
	want_key(f->ks, "alice@example.com", &a, 0);
	want_key(f->ks, "bob@example.com", &b, 0);
	WANT_INT("keys kept", stats(f->ks).keys, 3);
	/* retired by another process (smimectl), as the daemon runs */
	other = keystore_open(f->dir, NULL, 0, &err);
	assert_non_null(other);
	if (keystore_retire(other, "alice@example.com", time(NULL), NULL, &err) != KEYSTORE_OK)
		fail_msg("retire: %s", err.msg);
	keystore_free(other);
	want_key(f->ks, "alice@example.com", NULL, KEYSTORE_RETIRED);
	WANT_INT("alice's keys dropped, her alias's too", stats(f->ks).keys, 1);
	want_key(f->ks, "a.smith@example.com", NULL, KEYSTORE_RETIRED);
	want_key(f->ks, "bob@example.com", &b, 0);
	/* retired through this handle: dropped at once */
	if (keystore_retire(f->ks, "bob@example.com", time(NULL), NULL, &err) != KEYSTORE_OK)
		fail_msg("retire: %s", err.msg);
	WANT_INT("bob's key dropped on retirement", stats(f->ks).keys, 0);
	ident_free(&a);
	ident_free(&b);
}

static const char *
refuse_all(X509 *cert, STACK_OF(X509) *chain, void *arg)
{
	return "revoked";
}

static void
test_revoked(void **state)
{
	fx_t *f = *state;
	keystore_err_t err;
	EVP_PKEY *key = NULL;
	ident_t a;

	ident_add(f->ks, &a, UNIT_P256, "alice@example.com", -1);
	want_key(f->ks, "alice@example.com", &a, 0);
	WANT_INT("status for a revoked certificate", keystore_signer_checked(f->ks,
	    "alice@example.com", refuse_all, NULL, &key, NULL, NULL, &err),
	    KEYSTORE_NOTFOUND);
	assert_null(key);
	WANT_INT("the revoked certificate's key dropped", stats(f->ks).keys, 0);
	ident_free(&a);
}

static void
test_rekeyed(void **state)
{
	fx_t *f = *state;
	keystore_err_t err;
	keystore_t *other;
	unsigned long long misses;
	ident_t a;

	ident_add(f->ks, &a, UNIT_P256, "alice@example.com", -1);
	want_key(f->ks, "alice@example.com", &a, 0);
	misses = stats(f->ks).misses;
	/* rekeyed by another process: the entry sealed again is another
	 * entry; its key is decrypted again, under the new master key */
	other = keystore_open(f->dir, NULL, 0, &err);
	assert_non_null(other);
	if (keystore_rekey(other, NULL, &err) != KEYSTORE_OK)
		fail_msg("rekey: %s", err.msg);
	keystore_free(other);
	want_key(f->ks, "alice@example.com", &a, 0);
	WANT_INT("the resealed entry is not answered from memory",
	    stats(f->ks).misses, misses + 1);
	/* rekeyed through this handle: everything dropped */
	if (keystore_rekey(f->ks, NULL, &err) != KEYSTORE_OK)
		fail_msg("rekey: %s", err.msg);
	WANT_INT("keys kept after a rekey", stats(f->ks).keys, 0);
	want_key(f->ks, "alice@example.com", &a, 0);
	ident_free(&a);
}

/* Replaces the sealed key block of entry file path by the one of the
 * entry file from (written atomically: the handle sees a new file). */
static void
graft_sealed(const char *dir, const char *path, const char *from)
{
	static const char mark[] = "-----BEGIN SMIMEGATE ENCRYPTED PRIVATE KEY-----";
	size_t la, lb;
	char *a = unit_read_file(path, &la), *b = unit_read_file(from, &lb);
	char *pa, *pb, tmp[600];
	FILE *fp;

	assert_non_null(a);
	assert_non_null(b);
	pa = strstr(a, mark);
	pb = strstr(b, mark);
	assert_non_null(pa);
	assert_non_null(pb);
	snprintf(tmp, sizeof(tmp), "%s/graft.tmp", dir);
	fp = fopen(tmp, "w");
	assert_non_null(fp);
	fwrite(a, 1, (size_t)(pa - a), fp);
	fputs(pb, fp);
	fclose(fp);
	assert_int_equal(chmod(tmp, 0600), 0);
	assert_int_equal(rename(tmp, path), 0);
	free(a);
	free(b);
}

static char *
entry_file(const char *dir, X509 *cert)
{
	unsigned char md[32];
	unsigned int n;
	char *p = malloc(600);
	int off;

	assert_true(X509_digest(cert, EVP_sha256(), md, &n));
	off = snprintf(p, 600, "%s/", dir);
	for (unsigned int i = 0; i < n; i++)
		off += snprintf(p + off, 600 - (size_t)off, "%02x", md[i]);
	snprintf(p + off, 600 - (size_t)off, ".pem");
	return p;
}

static void
test_entry_replaced(void **state)
{
	fx_t *f = *state;
	char *pa, *pb;
	ident_t a, b, a2;

	ident_add(f->ks, &a, UNIT_P256, "alice@example.com", -2);
	ident_add(f->ks, &b, UNIT_P256, "bob@example.com", -1);
	want_key(f->ks, "alice@example.com", &a, 0);
	/* someone who can write the directory puts bob's sealed key under
	 * alice's certificate: no key at all, never the one kept */
	pa = entry_file(f->dir, a.cert);
	pb = entry_file(f->dir, b.cert);
	graft_sealed(f->dir, pa, pb);
	want_key(f->ks, "alice@example.com", NULL, KEYSTORE_ERR_CORRUPT);
	/* a newer key for alice: that one signs, not the one kept */
	ident_add(f->ks, &a2, UNIT_P256, "alice@example.com", -1);
	want_key(f->ks, "alice@example.com", &a2, 0);
	/* her newer entry removed: the older (broken) one, not a2's kept key */
	free(pb);
	pb = entry_file(f->dir, a2.cert);
	assert_int_equal(unlink(pb), 0);
	want_key(f->ks, "alice@example.com", NULL, KEYSTORE_ERR_CORRUPT);
	free(pa);
	free(pb);
	ident_free(&a);
	ident_free(&b);
	ident_free(&a2);
}

static keystore_status_t
decrypter(keystore_t *ks, const char *address, X509 *named, EVP_PKEY **key)
{
	keystore_err_t err;

	*key = NULL;
	return keystore_decrypter(ks, address, X509_get_issuer_name(named),
	    X509_get0_serialNumber(named), NULL, key, NULL, &err);
}

static void
test_decrypter(void **state)
{
	fx_t *f = *state;
	EVP_PKEY *key;
	ident_t a, b;

	ident_add(f->ks, &a, UNIT_P256, "alice@example.com", -1);
	ident_add(f->ks, &b, UNIT_P256, "bob@example.com", -1);
	for (int i = 0; i < 2; i++) {
		WANT_INT("alice's key for alice", decrypter(f->ks, "alice@example.com",
		    a.cert, &key), KEYSTORE_OK);
		WANT_INT("the key is alice's", EVP_PKEY_eq(key, a.key), 1);
		EVP_PKEY_free(key);
		/* mail for bob that names alice's certificate */
		WANT_INT("alice's key for bob", decrypter(f->ks, "bob@example.com",
		    a.cert, &key), KEYSTORE_NOTFOUND);
		assert_null(key);
		WANT_INT("alice's key for Alice", decrypter(f->ks, "Alice@example.com",
		    a.cert, &key), KEYSTORE_NOTFOUND);
		assert_null(key);
	}
	WANT_INT("hits", stats(f->ks).hits, 1);
	ident_free(&a);
	ident_free(&b);
}

/* ---- bounds ---- */

static void
test_bound_count(void **state)
{
	fx_t *f = *state;
	ident_t id[4];
	char addr[64];

	keystore_keycache_set(f->ks, 300, 2, 0);
	for (int i = 0; i < 4; i++) {
		snprintf(addr, sizeof(addr), "user%d@example.com", i);
		ident_add(f->ks, &id[i], UNIT_P256, addr, -1);
		want_key(f->ks, addr, &id[i], 0);
		WANT_INT("keys kept", stats(f->ks).keys, i < 2 ? i + 1 : 2);
	}
	want_key(f->ks, "user3@example.com", &id[3], 0);
	WANT_INT("the newest is kept", stats(f->ks).hits, 1);
	want_key(f->ks, "user0@example.com", &id[0], 0);
	WANT_INT("the oldest went", stats(f->ks).hits, 1);
	for (int i = 0; i < 4; i++)
		ident_free(&id[i]);
}

static void
test_bound_time(void **state)
{
	fx_t *f = *state;
	ident_t a;

	ident_add(f->ks, &a, UNIT_P256, "alice@example.com", -1);
	keystore_keycache_set(f->ks, 1, 16, 0);
	want_key(f->ks, "alice@example.com", &a, 0);
	WANT_INT("kept", stats(f->ks).keys, 1);
	sleep(2);
	keystore_keycache_expire(f->ks);
	WANT_INT("kept after the time to live", stats(f->ks).keys, 0);
	want_key(f->ks, "alice@example.com", &a, 0);
	sleep(2);
	want_key(f->ks, "alice@example.com", &a, 0);
	WANT_INT("hits after the time to live", stats(f->ks).hits, 0);
	ident_free(&a);
}

static void
test_off(void **state)
{
	fx_t *f = *state;
	ident_t a;

	ident_add(f->ks, &a, UNIT_P256, "alice@example.com", -1);
	want_key(f->ks, "alice@example.com", &a, 0);
	WANT_INT("dropped by KeyCacheTime 0", keystore_keycache_set(f->ks, 0, 16, 0), 1);
	for (int i = 0; i < 3; i++)
		want_key(f->ks, "alice@example.com", &a, 0);
	WANT_INT("keys kept when off", stats(f->ks).keys, 0);
	WANT_INT("keeping reported on", stats(f->ks).kept, 0);
	keystore_keycache_set(f->ks, 300, 0, 0);
	want_key(f->ks, "alice@example.com", &a, 0);
	WANT_INT("keys kept with max 0", stats(f->ks).keys, 0);
	ident_free(&a);
}

static void
test_flush(void **state)
{
	fx_t *f = *state;
	ident_t a, b;

	ident_add(f->ks, &a, UNIT_P256, "alice@example.com", -1);
	ident_add(f->ks, &b, UNIT_P256, "bob@example.com", -1);
	want_key(f->ks, "alice@example.com", &a, 0);
	want_key(f->ks, "bob@example.com", &b, 0);
	WANT_INT("dropped by a reload", keystore_keycache_set(f->ks, 300, 16, 0), 2);
	want_key(f->ks, "alice@example.com", &a, 0);
	WANT_INT("dropped by a flush", keystore_keycache_flush(f->ks), 1);
	WANT_INT("hits", stats(f->ks).hits, 0);
	ident_free(&a);
	ident_free(&b);
}

/* The key's numbers are in the secure heap, and leave it when dropped. */
static void
test_secure_heap(void **state)
{
	fx_t *f = *state;
	size_t before, kept;
	ident_t a, e;

	assert_true(CRYPTO_secure_malloc_initialized());
	ident_add(f->ks, &a, UNIT_RSA2048, "alice@example.com", -1);
	ident_add(f->ks, &e, UNIT_P256, "eve@example.com", -1);
	before = CRYPTO_secure_used();
	want_key(f->ks, "alice@example.com", &a, 0);
	want_key(f->ks, "eve@example.com", &e, 0);
	kept = CRYPTO_secure_used();
	/* RSA-2048's d, p, q, dP, dQ, qInv: 896 octets; P-256's: 32 */
	if (kept < before + 896 + 32)
		fail_msg("secure heap: %zu octets before, %zu with an RSA-2048 and "
		    "a P-256 key kept; want their numbers there", before, kept);
	keystore_keycache_flush(f->ks);
	WANT_INT("secure heap after the keys were dropped", CRYPTO_secure_used(), before);
	/* a heap limit already reached: nothing more kept */
	keystore_keycache_set(f->ks, 300, 16, before);
	want_key(f->ks, "alice@example.com", &a, 0);
	WANT_INT("kept beyond the heap limit", stats(f->ks).keys, 0);
	ident_free(&a);
	ident_free(&e);
}

/* ---- threads ---- */

struct worker {
	keystore_t *ks;
	ident_t *ids;
	int n, bad, flusher;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	char addr[64];
	keystore_err_t err;

	for (int i = 0; i < 300; i++) {
		int who = (i + w->n) % 3;
		EVP_PKEY *key = NULL;

		if (w->flusher && i % 7 == 0)
			keystore_keycache_flush(w->ks);
		snprintf(addr, sizeof(addr), "u%d@example.com", who);
		if (keystore_signer(w->ks, addr, &key, NULL, NULL, &err) != KEYSTORE_OK
		    || EVP_PKEY_eq(key, w->ids[who].key) != 1)
			w->bad++;
		EVP_PKEY_free(key);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	fx_t *f = *state;
	ident_t ids[3];
	struct worker w[4];
	pthread_t t[4];
	char addr[64];

	keystore_keycache_set(f->ks, 300, 2, 0);     /* smaller than the people */
	for (int i = 0; i < 3; i++) {
		snprintf(addr, sizeof(addr), "u%d@example.com", i);
		ident_add(f->ks, &ids[i], UNIT_P256, addr, -1);
	}
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ f->ks, ids, i, 0, i == 0 };
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		WANT_INT("wrong or no key in a thread", w[i].bad, 0);
	}
	assert_true(stats(f->ks).hits > 0);
	for (int i = 0; i < 3; i++)
		ident_free(&ids[i]);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest plain[] = {
		T(test_off_without_secure_heap),
	};
	const struct CMUnitTest tests[] = {
		T(test_two_employees),
		T(test_address_spellings),
		T(test_aliases),
		T(test_retired),
		T(test_revoked),
		T(test_rekeyed),
		T(test_entry_replaced),
		T(test_decrypter),
		T(test_bound_count),
		T(test_bound_time),
		T(test_off),
		T(test_flush),
		T(test_secure_heap),
		T(test_threads),
	};
	int rc = cmocka_run_group_tests_name("keycache, no secure heap", plain,
	    group_setup, group_teardown);

	/* the daemon's start (milt_gateway.c) */
	if (CRYPTO_secure_malloc_init(HEAP, 32) != 1)
		fail_msg("CRYPTO_secure_malloc_init failed (RLIMIT_MEMLOCK?)");
	rc |= cmocka_run_group_tests_name("keycache", tests, group_setup, group_teardown);
	return rc;
}
