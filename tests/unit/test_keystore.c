/*
 * test_keystore.c: cmocka tests of keystore/: import, listing, signer
 * choice, address rules, refusals (password, input, permissions,
 * tampering), PKCS#12 export round trips and index refresh between two
 * handles.  Every test works in its own temporary directory with a test
 * PKI made at run time (unit_util.h).
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
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

#include "keystore/keystore.h"
#include "keystore/keystore_retire.h"
#include "tests/unit/unit_util.h"

#define PASS "correct horse"

static EVP_PKEY *ca_key;
static X509 *ca_cert;

typedef struct fx {
	char *tmp;                 /* the test's temporary directory */
	char dir[512];             /* tmp/ks, the keystore */
	char *master;              /* tmp/ks/master.key */
	keystore_t *ks;            /* opened with KEYSTORE_CREATE */
	keystore_err_t err;
} fx_t;

static const char *
status_name(keystore_status_t s)
{
	static const char *const names[] = {
		"OK", "NOTFOUND", "ERR_PERM", "ERR_IO", "ERR_CORRUPT",
		"ERR_PASSWORD", "ERR_INPUT", "ERR_CRYPTO", "ERR_NOMEM", "RETIRED",
	};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

#define WANT_RC(what, got, want, err) do {                                  \
	keystore_status_t g_ = (got), w_ = (want);                          \
	if (g_ != w_)                                                       \
		fail_msg("%s: got %s%s%s%s, want %s", (what), status_name(g_), \
		    g_ == KEYSTORE_OK ? "" : " (",                           \
		    g_ == KEYSTORE_OK ? "" : (err)->msg,                     \
		    g_ == KEYSTORE_OK ? "" : ")", status_name(w_));          \
} while (0)

#define WANT_INT(what, got, want) do {                                      \
	long long g_ = (got), w_ = (want);                                  \
	if (g_ != w_)                                                       \
		fail_msg("%s: got %lld, want %lld", (what), g_, w_);        \
} while (0)

#define WANT_SUBSTR(what, hay, needle) do {                                 \
	if (strstr((hay), (needle)) == NULL)                                \
		fail_msg("%s: got \"%s\", want it to contain \"%s\"", (what), \
		    (hay), (needle));                                       \
} while (0)

/* ---- fixtures ---- */

static int
group_setup(void **state)
{
	unit_group_ca("smimegate test CA", &ca_key, &ca_cert);
	return 0;
}

static int
group_teardown(void **state)
{
	unit_group_ca_free(ca_key, ca_cert);
	return 0;
}

static char *
path2(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);

	assert_non_null(p);
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

static int
setup(void **state)
{
	fx_t *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->ks = unit_keystore_new(&f->tmp, f->dir, sizeof(f->dir), &f->err);
	f->master = path2(f->dir, "master.key");
	if (f->ks == NULL)
		fail_msg("keystore_open(%s): %s", f->dir, f->err.msg);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fx_t *f = *state;

	unit_keystore_free(f->ks, f->tmp);
	free(f->master);
	free(f);
	return 0;
}

/* ---- helpers ---- */

/* One key with its certificate for email, as a PKCS#12 under password. */
typedef struct ident {
	EVP_PKEY *key;
	X509 *cert;
	unsigned char *p12;
	size_t len;
	char fp[65];
} ident_t;

static void
fingerprint(X509 *cert, char hex[65])
{
	unsigned char md[32];
	unsigned int n, i;

	assert_true(X509_digest(cert, EVP_sha256(), md, &n));
	for (i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void
ident_from_cert(ident_t *id, EVP_PKEY *key, X509 *cert, const char *password)
{
	id->key = key;
	id->cert = cert;
	id->p12 = unit_p12(key, cert, ca_cert, password, &id->len);
	fingerprint(cert, id->fp);
}

static void
ident_make(ident_t *id, const char *email, int from_days, int to_days)
{
	EVP_PKEY *key = unit_key(UNIT_P256);

	ident_from_cert(id, key, unit_cert(key, ca_cert, ca_key, email, from_days,
	    to_days), PASS);
}

static void
ident_free(ident_t *id)
{
	EVP_PKEY_free(id->key);
	X509_free(id->cert);
	free(id->p12);
	memset(id, 0, sizeof(*id));
}

static void
import_ok(keystore_t *ks, const ident_t *id)
{
	keystore_err_t err;

	WANT_RC("import", keystore_import_p12(ks, id->p12, id->len, PASS, NULL,
	    &err), KEYSTORE_OK, &err);
}

/* The signer for address must be id (its certificate and its key). */
static void
want_signer(keystore_t *ks, const char *address, const ident_t *id)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *chain = NULL;
	keystore_err_t err;
	char fp[65];

	WANT_RC(address, keystore_signer(ks, address, &key, &cert, &chain, &err),
	    KEYSTORE_OK, &err);
	fingerprint(cert, fp);
	if (strcmp(fp, id->fp) != 0)
		fail_msg("signer for %s: got certificate %.16s, want %.16s", address,
		    fp, id->fp);
	WANT_INT("signer key matches the original", EVP_PKEY_eq(key, id->key), 1);
	WANT_INT("chain length", sk_X509_num(chain), 1);
	WANT_INT("chain is the CA", X509_cmp(sk_X509_value(chain, 0), ca_cert), 0);
	EVP_PKEY_free(key);
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
}

/* keystore_signer must give want, with msg_part in the message. */
static void
want_no_signer(keystore_t *ks, const char *address, keystore_status_t want,
    const char *msg_part)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *chain = NULL;
	keystore_err_t err;

	WANT_RC(address, keystore_signer(ks, address, &key, &cert, &chain, &err),
	    want, &err);
	assert_null(key);
	assert_null(cert);
	assert_null(chain);
	if (msg_part != NULL)
		WANT_SUBSTR(address, err.msg, msg_part);
}

static mode_t
file_mode(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		fail_msg("stat %s failed", path);
	return st.st_mode & 07777;
}

static char *
entry_path(const fx_t *f, const ident_t *id)
{
	char name[80];

	snprintf(name, sizeof(name), "%s.pem", id->fp);
	return path2(f->dir, name);
}

/* What keystore_foreach() showed. */
typedef struct seen {
	int n;
	char line[16][512];
} seen_t;

static int
collect(const keystore_info_t *info, void *arg)
{
	seen_t *s = arg;
	size_t i, n;
	char *l;

	if (s->n >= 16)
		return 1;
	l = s->line[s->n++];
	l[0] = '\0';
	for (i = 0; info->addresses[i] != NULL; i++) {
		n = strlen(l);
		snprintf(l + n, 512 - n, "%s%s", i ? "," : "", info->addresses[i]);
	}
	n = strlen(l);
	snprintf(l + n, 512 - n, " %s %s%s", info->fingerprint,
	    info->can_sign ? "S" : "-", info->can_encrypt ? "E" : "-");
	return 0;
}

static seen_t
list(keystore_t *ks)
{
	seen_t s = { 0 };
	keystore_err_t err;
	int r = keystore_foreach(ks, collect, &s, &err);

	if (r != 0)
		fail_msg("keystore_foreach: got %d (%s), want 0", r, err.msg);
	return s;
}

/* ---- tests ---- */

static void
test_import_list_signer(void **state)
{
	fx_t *f = *state;
	ident_t alice, bob;
	keystore_info_t info;
	keystore_err_t err;
	char *entry, want[512];
	seen_t s;

	ident_make(&alice, "alice@example.com", -1, 365);
	ident_make(&bob, "bob@example.com", -1, 365);
	WANT_RC("import alice", keystore_import_p12(f->ks, alice.p12, alice.len,
	    PASS, &info, &err), KEYSTORE_OK, &err);
	assert_string_equal(info.fingerprint, alice.fp);
	assert_string_equal(info.addresses[0], "alice@example.com");
	assert_null(info.addresses[1]);
	import_ok(f->ks, &bob);

	s = list(f->ks);
	WANT_INT("entries listed", s.n, 2);
	snprintf(want, sizeof(want), "alice@example.com %s SE", alice.fp);
	assert_string_equal(s.line[0], want);
	snprintf(want, sizeof(want), "bob@example.com %s SE", bob.fp);
	assert_string_equal(s.line[1], want);

	want_signer(f->ks, "alice@example.com", &alice);
	want_signer(f->ks, "bob@example.com", &bob);
	want_no_signer(f->ks, "carol@example.com", KEYSTORE_NOTFOUND,
	    "no key for carol@example.com");

	entry = entry_path(f, &alice);
	WANT_INT("entry file mode", file_mode(entry), 0600);
	WANT_INT("master key mode", file_mode(f->master), 0600);
	WANT_INT("keystore directory mode", file_mode(f->dir), 0700);
	free(entry);
	ident_free(&alice);
	ident_free(&bob);
}

static void
test_entry_format(void **state)
{
	fx_t *f = *state;
	ident_t alice;
	char *entry, *text, *der;
	size_t len;

	ident_make(&alice, "alice@example.com", -1, 365);
	import_ok(f->ks, &alice);
	entry = entry_path(f, &alice);
	text = unit_read_file(entry, &len);
	assert_non_null(text);
	/* Certificate, chain, then the sealed key; no plaintext key. */
	assert_true(strncmp(text, "-----BEGIN CERTIFICATE-----", 27) == 0);
	WANT_SUBSTR("entry", text, "-----BEGIN SMIMEGATE ENCRYPTED PRIVATE KEY-----");
	assert_null(strstr(text, "BEGIN PRIVATE KEY"));
	assert_true(strstr(text, "CERTIFICATE-----") < strstr(text, "SMIMEGATE"));
	der = unit_read_file(f->master, &len);
	WANT_INT("master key length", len, 32);
	free(der);
	free(text);
	free(entry);
	ident_free(&alice);
}

static void
test_addr_case_lookup(void **state)
{
	static const struct { const char *query; int found; } cases[] = {
		{ "Alice@example.com", 1 },
		{ "Alice@EXAMPLE.com", 1 },
		{ "Alice@Example.COM", 1 },
		{ "alice@example.com", 0 },   /* the local part is exact */
		{ "ALICE@example.com", 0 },
		{ "Alice@example.org", 0 },
		{ "Alice", 0 },
	};
	fx_t *f = *state;
	ident_t alice;
	size_t i;

	ident_make(&alice, "Alice@Example.com", -1, 365);
	import_ok(f->ks, &alice);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].found)
			want_signer(f->ks, cases[i].query, &alice);
		else
			want_no_signer(f->ks, cases[i].query, KEYSTORE_NOTFOUND,
			    "no key for");
	}
	ident_free(&alice);
}

static void
test_wrong_password(void **state)
{
	fx_t *f = *state;
	ident_t alice;
	keystore_err_t err;
	static const char *const bad[] = { "wrong", "", NULL, PASS "x" };
	size_t i;

	ident_make(&alice, "alice@example.com", -1, 365);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		WANT_RC(bad[i] ? bad[i] : "(null)", keystore_import_p12(f->ks,
		    alice.p12, alice.len, bad[i], NULL, &err),
		    KEYSTORE_ERR_PASSWORD, &err);
		WANT_SUBSTR("message", err.msg, "password");
	}
	WANT_INT("entries after failed imports", list(f->ks).n, 0);
	WANT_INT("OpenSSL error queue left empty", ERR_peek_error(), 0);
	ident_free(&alice);
}

static void
test_empty_password(void **state)
{
	fx_t *f = *state;
	ident_t alice;
	keystore_err_t err;
	EVP_PKEY *key = unit_key(UNIT_P256);

	ident_from_cert(&alice, key, unit_cert(key, ca_cert, ca_key,
	    "alice@example.com", -1, 365), "");
	WANT_RC("import, empty password", keystore_import_p12(f->ks, alice.p12,
	    alice.len, "", NULL, &err), KEYSTORE_OK, &err);
	WANT_RC("import, NULL password", keystore_import_p12(f->ks, alice.p12,
	    alice.len, NULL, NULL, &err), KEYSTORE_OK, &err);
	want_signer(f->ks, "alice@example.com", &alice);
	ident_free(&alice);
}

static void
test_bad_input(void **state)
{
	fx_t *f = *state;
	EVP_PKEY *key = unit_key(UNIT_P256), *other = unit_key(UNIT_P256);
	X509 *noaddr = unit_cert(key, ca_cert, ca_key, NULL, -1, 365);
	X509 *foreign = unit_cert(other, ca_cert, ca_key, "eve@example.com", -1, 365);
	STACK_OF(X509) *cas = sk_X509_new_null();
	unsigned char *der, *p, junk[64] = "not a PKCS#12 file at all";
	keystore_err_t err;
	PKCS12 *p12;
	size_t len;
	int n;

	/* A certificate without any address. */
	der = unit_p12(key, noaddr, ca_cert, PASS, &len);
	WANT_RC("no address", keystore_import_p12(f->ks, der, len, PASS, NULL,
	    &err), KEYSTORE_ERR_INPUT, &err);
	WANT_SUBSTR("no address", err.msg, "no mail address");
	free(der);

	/* A key whose certificate is not in the file: only a foreign one. */
	sk_X509_push(cas, foreign);
	p12 = PKCS12_create(PASS, "x", key, NULL, cas, 0, 0, 0, 0, 0);
	assert_non_null(p12);
	n = i2d_PKCS12(p12, NULL);
	p = der = malloc((size_t)n);
	i2d_PKCS12(p12, &p);
	PKCS12_free(p12);
	WANT_RC("key/cert mismatch", keystore_import_p12(f->ks, der, (size_t)n, PASS,
	    NULL, &err), KEYSTORE_ERR_INPUT, &err);
	WANT_SUBSTR("key/cert mismatch", err.msg, "matches");
	free(der);

	/* Certificates only, no key. */
	p12 = PKCS12_create(PASS, "x", NULL, foreign, NULL, 0, 0, 0, 0, 0);
	assert_non_null(p12);
	n = i2d_PKCS12(p12, NULL);
	p = der = malloc((size_t)n);
	i2d_PKCS12(p12, &p);
	PKCS12_free(p12);
	WANT_RC("no key", keystore_import_p12(f->ks, der, (size_t)n, PASS, NULL,
	    &err), KEYSTORE_ERR_INPUT, &err);
	WANT_SUBSTR("no key", err.msg, "no private key");
	free(der);

	WANT_RC("junk", keystore_import_p12(f->ks, junk, sizeof(junk), PASS, NULL,
	    &err), KEYSTORE_ERR_INPUT, &err);
	WANT_INT("entries after failed imports", list(f->ks).n, 0);
	sk_X509_free(cas);
	X509_free(noaddr);
	X509_free(foreign);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

static void
test_subject_email(void **state)
{
	fx_t *f = *state;
	ident_t bob;
	EVP_PKEY *key = unit_key(UNIT_RSA2048);
	seen_t s;
	char want[256];

	/* No subjectAltName: the subject's emailAddress names the address;
	 * no keyUsage and no EKU: both usages allowed. */
	ident_from_cert(&bob, key, unit_cert_ext(key, ca_cert, ca_key,
	    "bob@example.com", -1, 365, NULL, NULL, 1), PASS);
	import_ok(f->ks, &bob);
	s = list(f->ks);
	WANT_INT("entries", s.n, 1);
	snprintf(want, sizeof(want), "bob@example.com %s SE", bob.fp);
	assert_string_equal(s.line[0], want);
	want_signer(f->ks, "bob@EXAMPLE.COM", &bob);
	ident_free(&bob);
}

static void
test_usage(void **state)
{
	static const struct {
		const char *ku, *eku;
		int sign;
		const char *flags, *why;
	} cases[] = {
		{ "critical,digitalSignature", "emailProtection", 1, "S-", NULL },
		{ "critical,digitalSignature,keyEncipherment", NULL, 1, "SE", NULL },
		{ NULL, "clientAuth,emailProtection", 1, "SE", NULL },
		{ "critical,keyEncipherment", "emailProtection", 0, "-E",
		  "keyUsage does not allow digitalSignature" },
		{ "nonRepudiation", NULL, 0, "--",
		  "keyUsage does not allow digitalSignature" },
		{ "digitalSignature", "serverAuth,clientAuth", 0, "S-",
		  "extendedKeyUsage lacks emailProtection" },
	};
	fx_t *f = *state;
	ident_t id;
	EVP_PKEY *key;
	size_t i;
	seen_t s;
	char want[256];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		key = unit_key(UNIT_P256);
		ident_from_cert(&id, key, unit_cert_ext(key, ca_cert, ca_key,
		    "u@example.com", -1, 365, cases[i].ku, cases[i].eku, 0), PASS);
		keystore_free(f->ks);
		unit_rmtree(f->dir);
		f->ks = keystore_open(f->dir, NULL, KEYSTORE_CREATE, &f->err);
		assert_non_null(f->ks);
		import_ok(f->ks, &id);
		s = list(f->ks);
		snprintf(want, sizeof(want), "u@example.com %s %s", id.fp,
		    cases[i].flags);
		if (s.n != 1 || strcmp(s.line[0], want) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, s.line[0], want);
		if (cases[i].sign)
			want_signer(f->ks, "u@example.com", &id);
		else
			want_no_signer(f->ks, "u@example.com", KEYSTORE_NOTFOUND,
			    cases[i].why);
		ident_free(&id);
	}
}

/* What the lookup service may show of an address: its valid encryption
 * certificates (newest first) and their chains, nothing that only signs,
 * has expired or is a CA. */
static void
test_public_certs(void **state)
{
	static const struct {
		const char *ku, *eku;
		int from, to;
		int shown;
	} cases[] = {
		{ "critical,digitalSignature,keyEncipherment", "emailProtection", -3, 30, 1 },
		{ "critical,keyAgreement", "emailProtection", -2, 30, 1 },
		{ NULL, NULL, -1, 30, 1 },                           /* no usages: any */
		{ "critical,digitalSignature", "emailProtection", -1, 30, 0 },
		{ "critical,keyEncipherment", "serverAuth", -1, 30, 0 },
		{ "critical,keyEncipherment", "emailProtection", -30, -1, 0 }, /* expired */
		{ "critical,keyEncipherment", "emailProtection", 2, 30, 0 },   /* not yet */
	};
	fx_t *f = *state;
	X509 *certs[sizeof(cases) / sizeof(cases[0])];
	STACK_OF(X509) *out = NULL, *chain = NULL;
	STACK_OF(X509) *with = sk_X509_new_null();
	keystore_err_t err;
	size_t i;

	assert_non_null(with);
	assert_true(sk_X509_push(with, ca_cert));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EVP_PKEY *key = unit_key(UNIT_P256);

		certs[i] = unit_cert_ext(key, ca_cert, ca_key, "pub@example.com",
		    cases[i].from, cases[i].to, cases[i].ku, cases[i].eku, 0);
		assert_non_null(certs[i]);
		if (keystore_escrow(f->ks, certs[i], with, key, &err) != KEYSTORE_OK)
			fail_msg("case %zu: escrow: %s", i, err.msg);
		EVP_PKEY_free(key);
	}
	assert_int_equal(keystore_public_certs(f->ks, "pub@example.com", &out, &chain,
	    &err), KEYSTORE_OK);
	assert_int_equal(sk_X509_num(out), 3);
	/* Newest (latest notBefore) first. */
	assert_int_equal(X509_cmp(sk_X509_value(out, 0), certs[2]), 0);
	assert_int_equal(X509_cmp(sk_X509_value(out, 1), certs[1]), 0);
	assert_int_equal(X509_cmp(sk_X509_value(out, 2), certs[0]), 0);
	assert_int_equal(sk_X509_num(chain), 1);              /* the CA, once */
	assert_int_equal(X509_cmp(sk_X509_value(chain, 0), ca_cert), 0);
	sk_X509_pop_free(out, X509_free);
	sk_X509_pop_free(chain, X509_free);
	assert_int_equal(keystore_public_certs(f->ks, "PUB@example.com", &out, &chain,
	    &err), KEYSTORE_NOTFOUND);
	assert_null(out);
	assert_null(chain);
	assert_int_equal(keystore_public_certs(f->ks, "nobody@example.com", &out, &chain,
	    &err), KEYSTORE_NOTFOUND);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		X509_free(certs[i]);
	sk_X509_free(with);
}

/* An entry's origin (keystore_escrow_origin()): shown by
 * keystore_expiring(), kept by a rekey, bound to the sealed key (changed
 * or taken out: the key does not open); a bad origin is refused. */
static void
test_origin(void **state)
{
	static const char *const origin = "cmp 127.0.0.1:8829 pkix/ ref1";
	fx_t *f = *state;
	EVP_PKEY *key = unit_key(UNIT_P256), *got = NULL;
	X509 *cert = unit_cert_ext(key, ca_cert, ca_key, "orig@example.com", -1, 10,
	    NULL, NULL, 0);
	STACK_OF(X509) *chain = sk_X509_new_null();
	keystore_expiry_t *v = NULL;
	keystore_info_t info;
	keystore_err_t err;
	keystore_t *ks;
	char first[8], *path, *data, *at, name[80];
	size_t n = 0, len;

	assert_non_null(cert);
	assert_true(sk_X509_push(chain, ca_cert));
	WANT_RC("origin with a line end", keystore_escrow_origin(f->ks, cert, chain, key,
	    "cmp x\nInjected: y", &err), KEYSTORE_ERR_INPUT, &err);
	WANT_RC("escrow with origin", keystore_escrow_origin(f->ks, cert, chain, key, origin,
	    &err), KEYSTORE_OK, &err);
	assert_int_equal(keystore_expiring(f->ks, time(NULL) + 30 * 86400, &v, &n, &err), 0);
	WANT_INT("expiring entries", n, 1);
	WANT_SUBSTR("expiring: origin", v[0].origin, origin);
	WANT_RC("escrowed by fingerprint", keystore_escrowed(f->ks, "orig@example.com",
	    v[0].fingerprint, &got, NULL, NULL, &err), KEYSTORE_OK, &err);
	assert_int_equal(EVP_PKEY_eq(got, key), 1);
	EVP_PKEY_free(got);
	got = NULL;
	free(v);
	v = NULL;
	WANT_RC("rekey", keystore_rekey(f->ks, NULL, &err), KEYSTORE_OK, &err);
	assert_int_equal(keystore_expiring(f->ks, time(NULL) + 30 * 86400, &v, &n, &err), 0);
	WANT_SUBSTR("origin after a rekey", n == 1 ? v[0].origin : "", origin);
	free(v);
	/* The origin changed in the file: the key no longer opens. */
	assert_int_equal(keystore_cert_describe(cert, &info, first, sizeof(first)), 0);
	snprintf(name, sizeof(name), "%s.pem", info.fingerprint);
	path = path2(f->dir, name);
	data = unit_read_file(path, &len);
	assert_non_null(data);
	assert_non_null(at = strstr(data, "ref1"));
	at[3] = '2';
	assert_int_equal(unit_write_file(path, data, len, 0600), 0);
	ks = keystore_open(f->dir, NULL, 0, &err);
	assert_non_null(ks);
	WANT_RC("origin changed", keystore_escrowed(ks, "orig@example.com", info.fingerprint,
	    &got, NULL, NULL, &err), KEYSTORE_ERR_CORRUPT, &err);
	keystore_free(ks);
	free(data);
	free(path);
	sk_X509_free(chain);
	X509_free(cert);
	EVP_PKEY_free(key);
}

static void
test_perm_master(void **state)
{
	static const struct { mode_t mode; keystore_status_t want; } cases[] = {
		{ 0600, KEYSTORE_OK }, { 0400, KEYSTORE_OK },
		{ 0644, KEYSTORE_ERR_PERM }, { 0640, KEYSTORE_ERR_PERM },
		{ 0604, KEYSTORE_ERR_PERM }, { 0610, KEYSTORE_ERR_PERM },
		{ 0601, KEYSTORE_ERR_PERM },
	};
	fx_t *f = *state;
	keystore_t *ks;
	keystore_err_t err;
	char what[64];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(chmod(f->master, cases[i].mode), 0);
		ks = keystore_open(f->dir, NULL, 0, &err);
		snprintf(what, sizeof(what), "master key mode 0%o", cases[i].mode);
		WANT_RC(what, ks ? KEYSTORE_OK : err.code, cases[i].want, &err);
		if (ks == NULL) {
			WANT_SUBSTR(what, err.msg, f->master);
			snprintf(what, sizeof(what), "mode 0%o", cases[i].mode);
			WANT_SUBSTR("message", err.msg, what);
		}
		keystore_free(ks);
	}
}

static void
test_perm_entry(void **state)
{
	fx_t *f = *state;
	ident_t alice;
	keystore_t *ks;
	keystore_err_t err;
	char *entry;

	ident_make(&alice, "alice@example.com", -1, 365);
	import_ok(f->ks, &alice);
	entry = entry_path(f, &alice);
	assert_int_equal(chmod(entry, 0644), 0);
	ks = keystore_open(f->dir, NULL, 0, &err);
	assert_null(ks);
	WANT_RC("entry mode 0644", err.code, KEYSTORE_ERR_PERM, &err);
	WANT_SUBSTR("message", err.msg, alice.fp);
	WANT_SUBSTR("message", err.msg, "mode 0644");
	assert_int_equal(chmod(entry, 0600), 0);
	ks = keystore_open(f->dir, NULL, 0, &err);
	assert_non_null(ks);
	keystore_free(ks);
	free(entry);
	ident_free(&alice);
}

static void
test_perm_dir(void **state)
{
	static const struct { mode_t mode; keystore_status_t want; } cases[] = {
		{ 0700, KEYSTORE_OK }, { 0750, KEYSTORE_OK }, { 0755, KEYSTORE_OK },
		{ 0770, KEYSTORE_ERR_PERM }, { 0707, KEYSTORE_ERR_PERM },
		{ 0777, KEYSTORE_ERR_PERM },
	};
	fx_t *f = *state;
	keystore_t *ks;
	keystore_err_t err;
	char what[64];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(chmod(f->dir, cases[i].mode), 0);
		ks = keystore_open(f->dir, NULL, 0, &err);
		snprintf(what, sizeof(what), "directory mode 0%o", cases[i].mode);
		WANT_RC(what, ks ? KEYSTORE_OK : err.code, cases[i].want, &err);
		keystore_free(ks);
		/* An open handle notices too. */
		WANT_RC(what, keystore_signer(f->ks, "a@b", NULL, NULL, NULL, &err),
		    cases[i].want == KEYSTORE_OK ? KEYSTORE_NOTFOUND : cases[i].want,
		    &err);
	}
	assert_int_equal(chmod(f->dir, 0700), 0);
}

static void
test_create(void **state)
{
	fx_t *f = *state;
	char *dir = path2(f->tmp, "new"), *mk = path2(f->tmp, "elsewhere.key");
	keystore_err_t err;
	keystore_t *ks;
	ident_t alice;

	/* Without KEYSTORE_CREATE nothing is made. */
	assert_null(keystore_open(dir, NULL, 0, &err));
	WANT_RC("open missing", err.code, KEYSTORE_ERR_IO, &err);
	WANT_SUBSTR("message", err.msg, dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_null(keystore_open(dir, mk, 0, &err));
	WANT_RC("open without master key", err.code, KEYSTORE_ERR_IO, &err);
	WANT_SUBSTR("message", err.msg, mk);

	/* A master key elsewhere; entries survive reopening. */
	ks = keystore_open(dir, mk, KEYSTORE_CREATE, &err);
	assert_non_null(ks);
	WANT_INT("master key mode", file_mode(mk), 0600);
	ident_make(&alice, "alice@example.com", -1, 365);
	import_ok(ks, &alice);
	keystore_free(ks);
	ks = keystore_open(dir, mk, 0, &err);
	assert_non_null(ks);
	want_signer(ks, "alice@example.com", &alice);
	keystore_free(ks);

	/* A lost master key is not silently replaced while entries exist. */
	assert_int_equal(unlink(mk), 0);
	assert_null(keystore_open(dir, mk, KEYSTORE_CREATE, &err));
	WANT_RC("lost master key", err.code, KEYSTORE_ERR_IO, &err);
	assert_int_equal(access(mk, F_OK), -1);

	/* A master key of the wrong size. */
	assert_int_equal(unit_write_file(mk, "short", 5, 0600), 0);
	assert_null(keystore_open(dir, mk, 0, &err));
	WANT_RC("short master key", err.code, KEYSTORE_ERR_CORRUPT, &err);
	ident_free(&alice);
	free(dir);
	free(mk);
}

/* Replaces the first character of the index'th base64 quantum after the
 * line "-----BEGIN <block>-----" (counted from the block's end when index
 * is negative): the first character of a quantum always carries 6 bits. */
static void
flip_in_block(const char *path, const char *block, int index)
{
	size_t len;
	char *text = unit_read_file(path, &len), *begin, *end, *p, *q[4096];
	char marker[128];
	int n = 0, k = 0;

	assert_non_null(text);
	snprintf(marker, sizeof(marker), "-----BEGIN %s-----\n", block);
	assert_non_null(begin = strstr(text, marker));
	begin += strlen(marker);
	assert_non_null(end = strstr(begin, "-----END"));
	for (p = begin; p < end && n < 4096; p++) {
		if (*p == '\n' || *p == '=')
			continue;
		if (k++ % 4 == 0)
			q[n++] = p;
	}
	assert_true(n > 8);
	p = q[index >= 0 ? index : n + index];
	*p = *p == 'A' ? 'B' : 'A';
	assert_int_equal(unit_write_file(path, text, len, 0600), 0);
	free(text);
}

static void
test_tampered(void **state)
{
	static const struct {
		const char *block;
		int quantum;
		int at_open;             /* refused when opened, not when used */
	} cases[] = {
		{ "SMIMEGATE ENCRYPTED PRIVATE KEY", 0, 0 },    /* version */
		{ "SMIMEGATE ENCRYPTED PRIVATE KEY", 2, 0 },    /* nonce */
		{ "SMIMEGATE ENCRYPTED PRIVATE KEY", 10, 0 },   /* ciphertext */
		{ "SMIMEGATE ENCRYPTED PRIVATE KEY", -2, 0 },   /* tag */
		{ "CERTIFICATE", 40, 1 },                       /* its certificate */
	};
	fx_t *f = *state;
	ident_t alice;
	keystore_t *ks;
	keystore_err_t err;
	unsigned char *der = NULL;
	size_t len, i, orig_len;
	char *entry, *orig, what[96];

	ident_make(&alice, "alice@example.com", -1, 365);
	import_ok(f->ks, &alice);
	entry = entry_path(f, &alice);
	orig = unit_read_file(entry, &orig_len);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(what, sizeof(what), "%s quantum %d", cases[i].block,
		    cases[i].quantum);
		assert_int_equal(unit_write_file(entry, orig, orig_len, 0600), 0);
		flip_in_block(entry, cases[i].block, cases[i].quantum);
		ks = keystore_open(f->dir, NULL, 0, &err);
		if (cases[i].at_open) {
			keystore_free(ks);
			WANT_RC(what, ks ? KEYSTORE_OK : err.code, KEYSTORE_ERR_CORRUPT,
			    &err);
			continue;
		}
		if (ks == NULL)
			fail_msg("%s: open: %s", what, err.msg);
		want_no_signer(ks, "alice@example.com", KEYSTORE_ERR_CORRUPT,
		    alice.fp);
		WANT_RC(what, keystore_export_p12(ks, "alice@example.com", "x", 0,
		    &der, &len, &err), KEYSTORE_ERR_CORRUPT, &err);
		keystore_free(ks);
	}
	/* Restored, it works again: the failures were the flips. */
	assert_int_equal(unit_write_file(entry, orig, orig_len, 0600), 0);
	ks = keystore_open(f->dir, NULL, 0, &err);
	assert_non_null(ks);
	want_signer(ks, "alice@example.com", &alice);
	keystore_free(ks);
	free(orig);
	free(entry);
	ident_free(&alice);
}

/* Returns the PEM text of block in the file at path (malloc'ed). */
static char *
block_text(const char *path, const char *block)
{
	char *text = unit_read_file(path, NULL), *b, *e, *out, marker[128];

	assert_non_null(text);
	snprintf(marker, sizeof(marker), "-----BEGIN %s-----", block);
	assert_non_null(b = strstr(text, marker));
	snprintf(marker, sizeof(marker), "-----END %s-----\n", block);
	assert_non_null(e = strstr(b, marker));
	out = strndup(b, (size_t)(e + strlen(marker) - b));
	free(text);
	return out;
}

static void
test_key_bound_to_cert(void **state)
{
	fx_t *f = *state;
	ident_t alice, bob;
	char *a_path, *b_path, *a_key, *b_text, *p;
	keystore_t *ks;
	keystore_err_t err;
	size_t len;
	static const char *const key_block = "SMIMEGATE ENCRYPTED PRIVATE KEY";

	ident_make(&alice, "alice@example.com", -1, 365);
	ident_make(&bob, "bob@example.com", -1, 365);
	import_ok(f->ks, &alice);
	import_ok(f->ks, &bob);
	a_path = entry_path(f, &alice);
	b_path = entry_path(f, &bob);
	/* Bob's file with Alice's sealed key in place of his. */
	a_key = block_text(a_path, key_block);
	b_text = unit_read_file(b_path, &len);
	assert_non_null(p = strstr(b_text, "-----BEGIN SMIMEGATE"));
	*p = '\0';
	len = strlen(b_text) + strlen(a_key) + 1;
	assert_non_null(p = malloc(len));
	snprintf(p, len, "%s%s", b_text, a_key);
	assert_int_equal(unit_write_file(b_path, p, strlen(p), 0600), 0);
	ks = keystore_open(f->dir, NULL, 0, &err);
	if (ks == NULL)
		fail_msg("open: %s", err.msg);
	want_no_signer(ks, "bob@example.com", KEYSTORE_ERR_CORRUPT, bob.fp);
	want_signer(ks, "alice@example.com", &alice);
	keystore_free(ks);

	/* Another master key opens nothing. */
	assert_int_equal(unit_write_file(f->master, "0123456789abcdef0123456789abcdef",
	    32, 0600), 0);
	ks = keystore_open(f->dir, NULL, 0, &err);
	assert_non_null(ks);
	want_no_signer(ks, "alice@example.com", KEYSTORE_ERR_CORRUPT, "master key");
	keystore_free(ks);
	free(p);
	free(a_key);
	free(b_text);
	free(a_path);
	free(b_path);
	ident_free(&alice);
	ident_free(&bob);
}

static void
test_corrupt_files(void **state)
{
	static const char *const bodies[] = {
		"",
		"garbage\n",
		"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
		"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
	};
	fx_t *f = *state;
	ident_t alice;
	keystore_t *ks;
	keystore_err_t err;
	char *entry, *text, *cut, what[128];
	size_t i, len;

	ident_make(&alice, "alice@example.com", -1, 365);
	import_ok(f->ks, &alice);
	entry = entry_path(f, &alice);
	text = unit_read_file(entry, &len);
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		assert_int_equal(unit_write_file(entry, bodies[i], strlen(bodies[i]),
		    0600), 0);
		ks = keystore_open(f->dir, NULL, 0, &err);
		if (ks != NULL)
			fail_msg("body %zu: got an open keystore, want ERR_CORRUPT", i);
		WANT_RC(bodies[i], err.code, KEYSTORE_ERR_CORRUPT, &err);
		WANT_SUBSTR("message", err.msg, alice.fp);
	}
	/* Truncated in the middle of the key block. */
	cut = strstr(text, "-----END SMIMEGATE");
	assert_non_null(cut);
	assert_int_equal(unit_write_file(entry, text, (size_t)(cut - text) - 10,
	    0600), 0);
	assert_null(keystore_open(f->dir, NULL, 0, &err));
	WANT_RC("truncated", err.code, KEYSTORE_ERR_CORRUPT, &err);
	/* Under a name that is not its certificate's fingerprint. */
	assert_int_equal(unlink(entry), 0);
	free(entry);
	entry = path2(f->dir, "00000000000000000000000000000000"
	    "00000000000000000000000000000000.pem");
	assert_int_equal(unit_write_file(entry, text, len, 0600), 0);
	assert_null(keystore_open(f->dir, NULL, 0, &err));
	WANT_RC("renamed", err.code, KEYSTORE_ERR_CORRUPT, &err);
	WANT_SUBSTR("renamed", err.msg, alice.fp);
	/* Files not named like entries (notes, temporary files) are not read. */
	assert_int_equal(unlink(entry), 0);
	free(entry);
	entry = path2(f->dir, "README");
	assert_int_equal(unit_write_file(entry, "x", 1, 0644), 0);
	free(entry);
	snprintf(what, sizeof(what), ".%s.pem.Ab12Cd", alice.fp);
	entry = path2(f->dir, what);
	assert_int_equal(unit_write_file(entry, "x", 1, 0644), 0);
	ks = keystore_open(f->dir, NULL, 0, &err);
	if (ks == NULL)
		fail_msg("open with stray files: %s", err.msg);
	WANT_INT("entries", list(ks).n, 0);
	keystore_free(ks);
	free(text);
	free(entry);
	ident_free(&alice);
}

static void
test_validity(void **state)
{
	fx_t *f = *state;
	ident_t expired, current, future;
	char why[128];

	ident_make(&expired, "alice@example.com", -400, -30);
	ident_make(&current, "alice@example.com", -10, 365);
	ident_make(&future, "alice@example.com", 10, 400);

	import_ok(f->ks, &expired);
	snprintf(why, sizeof(why), "alice@example.com: certificate %.16s..: expired ",
	    expired.fp);
	want_no_signer(f->ks, "alice@example.com", KEYSTORE_NOTFOUND, why);
	import_ok(f->ks, &future);
	snprintf(why, sizeof(why), "certificate %.16s..: not valid before ",
	    future.fp);
	want_no_signer(f->ks, "alice@example.com", KEYSTORE_NOTFOUND, why);
	import_ok(f->ks, &current);
	want_signer(f->ks, "alice@example.com", &current);
	WANT_INT("entries", list(f->ks).n, 3);
	ident_free(&expired);
	ident_free(&current);
	ident_free(&future);
}

static void
test_newest(void **state)
{
	fx_t *f = *state;
	ident_t k[4];
	int i;
	seen_t s;

	/* Imported in a shuffled order; k[2] became valid last. */
	ident_make(&k[0], "alice@example.com", -700, 400);
	ident_make(&k[1], "alice@example.com", -300, 400);
	ident_make(&k[2], "alice@example.com", -2, 400);
	ident_make(&k[3], "alice@example.com", -100, 400);
	import_ok(f->ks, &k[1]);
	import_ok(f->ks, &k[2]);
	import_ok(f->ks, &k[0]);
	import_ok(f->ks, &k[3]);
	want_signer(f->ks, "alice@example.com", &k[2]);
	/* Listed oldest first. */
	s = list(f->ks);
	WANT_INT("entries", s.n, 4);
	WANT_SUBSTR("line 0", s.line[0], k[0].fp);
	WANT_SUBSTR("line 1", s.line[1], k[1].fp);
	WANT_SUBSTR("line 2", s.line[2], k[3].fp);
	WANT_SUBSTR("line 3", s.line[3], k[2].fp);
	for (i = 0; i < 4; i++)
		ident_free(&k[i]);
}

static void
test_reimport(void **state)
{
	fx_t *f = *state;
	ident_t alice;

	ident_make(&alice, "alice@example.com", -1, 365);
	import_ok(f->ks, &alice);
	import_ok(f->ks, &alice);
	WANT_INT("entries after importing twice", list(f->ks).n, 1);
	want_signer(f->ks, "alice@example.com", &alice);
	ident_free(&alice);
}

/* The algorithm OIDs of a PKCS#12: MAC digest, key bag and cert bag PBE. */
static void
p12_algs(const unsigned char *der, size_t len, int *mac, int *keyalg,
    int *certalg)
{
	const unsigned char *p = der;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
	STACK_OF(PKCS7) *safes;
	STACK_OF(PKCS12_SAFEBAG) *bags;
	const X509_ALGOR *alg;
	const ASN1_OBJECT *obj;
	PKCS7 *p7;
	int i, j;

	assert_non_null(p12);
	PKCS12_get0_mac(NULL, &alg, NULL, NULL, p12);
	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	*mac = OBJ_obj2nid(obj);
	*keyalg = *certalg = NID_undef;
	assert_non_null(safes = PKCS12_unpack_authsafes(p12));
	for (i = 0; i < sk_PKCS7_num(safes); i++) {
		p7 = sk_PKCS7_value(safes, i);
		if (OBJ_obj2nid(p7->type) == NID_pkcs7_encrypted) {
			X509_ALGOR_get0(&obj, NULL, NULL,
			    p7->d.encrypted->enc_data->algorithm);
			*certalg = OBJ_obj2nid(obj);
			continue;
		}
		bags = PKCS12_unpack_p7data(p7);
		for (j = 0; j < sk_PKCS12_SAFEBAG_num(bags); j++) {
			const PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, j);
			if (PKCS12_SAFEBAG_get_nid(bag) == NID_pkcs8ShroudedKeyBag) {
				X509_SIG_get0(PKCS12_SAFEBAG_get0_pkcs8(bag), &alg, NULL);
				X509_ALGOR_get0(&obj, NULL, NULL, alg);
				*keyalg = OBJ_obj2nid(obj);
			}
		}
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	}
	sk_PKCS7_pop_free(safes, PKCS7_free);
	PKCS12_free(p12);
}

static void
test_export_roundtrip(void **state)
{
	static const struct {
		int legacy;
		int mac, keyalg, certalg;
	} cases[] = {
		{ 0, NID_sha256, NID_pbes2, NID_pbes2 },
		{ 1, NID_sha1, NID_pbe_WithSHA1And3_Key_TripleDES_CBC,
		  NID_pbe_WithSHA1And3_Key_TripleDES_CBC },
	};
	fx_t *f = *state;
	ident_t alice, old;
	keystore_err_t err;
	keystore_t *ks2;
	char *dir2;
	unsigned char *der;
	size_t len, i;
	int mac, keyalg, certalg;
	EVP_PKEY *key = unit_key(UNIT_RSA2048);

	ident_from_cert(&alice, key, unit_cert(key, ca_cert, ca_key,
	    "alice@example.com", -1, 365), PASS);
	ident_make(&old, "alice@example.com", -30, 365);
	import_ok(f->ks, &old);
	import_ok(f->ks, &alice);
	WANT_RC("export unknown", keystore_export_p12(f->ks, "nobody@example.com",
	    "pw", 0, &der, &len, &err), KEYSTORE_NOTFOUND, &err);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		WANT_RC("export", keystore_export_p12(f->ks, "alice@EXAMPLE.com",
		    "export pw", cases[i].legacy, &der, &len, &err), KEYSTORE_OK, &err);
		p12_algs(der, len, &mac, &keyalg, &certalg);
		WANT_INT(cases[i].legacy ? "legacy MAC" : "MAC", mac, cases[i].mac);
		WANT_INT("key bag PBE", keyalg, cases[i].keyalg);
		WANT_INT("certificate bag PBE", certalg, cases[i].certalg);

		dir2 = path2(f->tmp, cases[i].legacy ? "ks-legacy" : "ks-modern");
		ks2 = keystore_open(dir2, NULL, KEYSTORE_CREATE, &err);
		assert_non_null(ks2);
		WANT_RC("re-import, wrong password", keystore_import_p12(ks2, der, len,
		    PASS, NULL, &err), KEYSTORE_ERR_PASSWORD, &err);
		WANT_RC("re-import", keystore_import_p12(ks2, der, len, "export pw",
		    NULL, &err), KEYSTORE_OK, &err);
		/* The newest entry went out, with the key and the chain. */
		want_signer(ks2, "alice@example.com", &alice);
		WANT_INT("entries re-imported", list(ks2).n, 1);
		keystore_free(ks2);
		OPENSSL_clear_free(der, len);
		free(dir2);
	}
	ident_free(&alice);
	ident_free(&old);
}

static void
test_refresh(void **state)
{
	fx_t *f = *state;
	ident_t alice, bob;
	keystore_t *other;
	keystore_err_t err;
	struct timespec past[2] = { { time(NULL) - 3600, 0 }, { time(NULL) - 3600, 0 } };
	struct timespec same[2];
	struct stat st;
	char *entry;

	ident_make(&alice, "alice@example.com", -1, 365);
	ident_make(&bob, "bob@example.com", -1, 365);
	other = keystore_open(f->dir, NULL, 0, &err);
	assert_non_null(other);

	/* Right after a change (the racy case). */
	want_no_signer(f->ks, "alice@example.com", KEYSTORE_NOTFOUND, "no key");
	import_ok(other, &alice);
	want_signer(f->ks, "alice@example.com", &alice);

	/* A change in the same timestamp tick as the last scan: the mtime
	 * says nothing changed, so only the racy rule finds bob. */
	assert_int_equal(stat(f->dir, &st), 0);
	want_signer(f->ks, "alice@example.com", &alice);     /* scan at mtime m */
	import_ok(other, &bob);
	same[0].tv_nsec = UTIME_OMIT;
	same[1] = st.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, f->dir, same, 0), 0);
	want_signer(f->ks, "bob@example.com", &bob);
	entry = entry_path(f, &bob);
	assert_int_equal(unlink(entry), 0);
	free(entry);

	/* An index scanned long after the last change is kept while the
	 * directory does not change... */
	assert_int_equal(utimensat(AT_FDCWD, f->dir, past, 0), 0);
	want_signer(f->ks, "alice@example.com", &alice);     /* rescans */
	entry = entry_path(f, &alice);
	assert_int_equal(chmod(entry, 0644), 0);              /* no dir change */
	want_signer(f->ks, "alice@example.com", &alice);     /* cached */
	assert_int_equal(chmod(entry, 0600), 0);
	/* ...and rebuilt when it does. */
	import_ok(other, &bob);
	want_signer(f->ks, "bob@example.com", &bob);
	WANT_INT("entries seen", list(f->ks).n, 2);
	assert_int_equal(unlink(entry), 0);
	want_no_signer(f->ks, "alice@example.com", KEYSTORE_NOTFOUND, "no key");
	keystore_free(other);
	free(entry);
	ident_free(&alice);
	ident_free(&bob);
}

/* Lookups from several threads while another handle imports. */
typedef struct worker {
	keystore_t *ks;
	const char *fp;
	int bad;
} worker_t;

static void *
lookup_loop(void *arg)
{
	worker_t *w = arg;
	EVP_PKEY *key;
	X509 *cert;
	STACK_OF(X509) *chain;
	keystore_err_t err;
	int i;

	for (i = 0; i < 200; i++) {
		key = NULL;
		cert = NULL;
		chain = NULL;
		if (keystore_signer(w->ks, "alice@example.com", &key, &cert, &chain,
		    &err) != KEYSTORE_OK)
			w->bad++;
		EVP_PKEY_free(key);
		X509_free(cert);
		sk_X509_pop_free(chain, X509_free);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	fx_t *f = *state;
	ident_t alice, more[3];
	keystore_t *other;
	keystore_err_t err;
	pthread_t t[4];
	worker_t w[4];
	int i;

	ident_make(&alice, "alice@example.com", -1, 365);
	import_ok(f->ks, &alice);
	other = keystore_open(f->dir, NULL, 0, &err);
	assert_non_null(other);
	for (i = 0; i < 4; i++) {
		w[i] = (worker_t){ f->ks, alice.fp, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, lookup_loop, &w[i]), 0);
	}
	for (i = 0; i < 3; i++) {
		ident_make(&more[i], "other@example.com", -1 - i, 365);
		import_ok(other, &more[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		WANT_INT("failed lookups", w[i].bad, 0);
	}
	want_signer(f->ks, "other@example.com", &more[0]);
	for (i = 0; i < 3; i++)
		ident_free(&more[i]);
	keystore_free(other);
	ident_free(&alice);
}

/* The LDAP backend with no server: bad URLs refused, no master key made
 * while the directory cannot say whether entries exist, and with one a
 * handle whose lookups say ERR_IO (a tempfail), never NOTFOUND (unsigned). */
static void
test_ldap_down(void **state)
{
	fx_t *f = *state;
	char *dir = path2(f->tmp, "ldapks"), *mk = path2(f->tmp, "ldapks/master.key");
	keystore_ldap_settings_t s = { "http://127.0.0.1:1/dc=x", NULL, 1, 60, 0 };
	keystore_health_t h;
	keystore_err_t err;
	keystore_t *ks;
	X509 *cert = NULL;

	assert_null(keystore_open_ex(dir, NULL, KEYSTORE_CREATE, &s, &err));
	WANT_RC("http URL", err.code, KEYSTORE_ERR_INPUT, &err);
	s.url = "ldap://127.0.0.1:1/";
	assert_null(keystore_open_ex(dir, NULL, KEYSTORE_CREATE, &s, &err));
	WANT_RC("no base DN", err.code, KEYSTORE_ERR_INPUT, &err);
	s.url = "ldap://127.0.0.1:1/dc=x????x-unknown";
	assert_null(keystore_open_ex(dir, NULL, KEYSTORE_CREATE, &s, &err));
	WANT_RC("unknown extension", err.code, KEYSTORE_ERR_INPUT, &err);

	s.url = "ldap://127.0.0.1:1/dc=x";
	assert_null(keystore_open_ex(dir, NULL, KEYSTORE_CREATE, &s, &err));
	WANT_RC("down, no master key", err.code, KEYSTORE_ERR_IO, &err);
	if (access(mk, F_OK) == 0)
		fail_msg("%s made while the directory could not be read", mk);

	/* With a master key the gateway starts, and its lookups fail. */
	assert_int_equal(unit_write_file(mk, "0123456789abcdef0123456789abcdef", 32,
	    0600), 0);
	ks = keystore_open_ex(dir, NULL, 0, &s, &err);
	if (ks == NULL)
		fail_msg("open with a master key: %s", err.msg);
	WANT_RC("signer while down", keystore_signer(ks, "a@example.com", NULL, &cert,
	    NULL, &err), KEYSTORE_ERR_IO, &err);
	assert_null(cert);
	keystore_health(ks, &h);
	assert_string_equal(h.backend, "ldap");
	assert_true(h.master_loaded);
	assert_false(h.readable);
	WANT_SUBSTR("health", h.why, "127.0.0.1:1");
	keystore_free(ks);

	/* The file backend's health. */
	keystore_health(f->ks, &h);
	assert_string_equal(h.backend, "file");
	assert_true(h.master_loaded);
	assert_true(h.readable);
	free(dir);
	free(mk);
}

/* keystore_recipient(): the newest valid certificate that allows
 * encryption, not a newer signing-only one nor an expired one. */
static void
test_recipient(void **state)
{
	static const struct {
		const char *email, *ku;
		int from, to;
	} certs[] = {
		{ "u@example.com", "critical,keyEncipherment", -400, -30 },   /* expired */
		{ "u@example.com", "critical,keyEncipherment", -10, 365 },    /* the one */
		{ "u@example.com", "critical,digitalSignature", -1, 365 },    /* newest */
		{ "v@example.com", "critical,digitalSignature", -1, 365 },
	};
	fx_t *f = *state;
	ident_t id[4];
	keystore_err_t err;
	X509 *x = NULL;
	char fp[65];

	for (size_t i = 0; i < 4; i++) {
		EVP_PKEY *key = unit_key(UNIT_P256);

		ident_from_cert(&id[i], key, unit_cert_ext(key, ca_cert, ca_key, certs[i].email,
		    certs[i].from, certs[i].to, certs[i].ku, "emailProtection", 0), PASS);
		import_ok(f->ks, &id[i]);
	}
	WANT_RC("u", keystore_recipient(f->ks, "u@EXAMPLE.com", &x, &err), KEYSTORE_OK, &err);
	fingerprint(x, fp);
	if (strcmp(fp, id[1].fp) != 0)
		fail_msg("recipient: got certificate %.16s, want %.16s", fp, id[1].fp);
	X509_free(x);
	WANT_RC("v (signing only)", keystore_recipient(f->ks, "v@example.com", &x, &err),
	    KEYSTORE_NOTFOUND, &err);
	assert_null(x);
	WANT_RC("w (none)", keystore_recipient(f->ks, "w@example.com", &x, &err),
	    KEYSTORE_NOTFOUND, &err);
	for (size_t i = 0; i < 4; i++)
		ident_free(&id[i]);
}


/* ---- leavers ---- */

static keystore_status_t
decrypter(keystore_t *ks, const char *address, const ident_t *id,
    keystore_err_t *err)
{
	EVP_PKEY *key = NULL;
	keystore_status_t rc = keystore_decrypter(ks, address,
	    X509_get_issuer_name(id->cert), X509_get0_serialNumber(id->cert), NULL,
	    &key, NULL, err);

	if (rc == KEYSTORE_OK)
		WANT_INT("the decryption key is the original", EVP_PKEY_eq(key, id->key), 1);
	EVP_PKEY_free(key);
	return rc;
}

static void
on_destroyed(const char *address, const keystore_info_t *info, void *arg)
{
	(*(int *)arg)++;
}

/*
 * Retired: no signer, no recipient, no new import; the key still
 * decrypts until the retention is over, then the entry file is gone and
 * the decrypter says the keys were destroyed.  The others are untouched.
 */
static void
test_retire(void **state)
{
	fx_t *f = *state;
	ident_t alice, bob;
	keystore_retired_t r;
	keystore_err_t err;
	X509 *x = NULL;
	char **who = NULL, *entry;
	size_t n = 99;
	int seen = 0;
	const time_t t0 = 1700000000;

	ident_make(&alice, "alice@example.com", -1, 365);
	ident_make(&bob, "bob@example.com", -1, 365);
	import_ok(f->ks, &alice);
	import_ok(f->ks, &bob);
	WANT_RC("not retired yet", keystore_retired_get(f->ks, "alice@example.com", &r,
	    &err), KEYSTORE_NOTFOUND, &err);
	WANT_RC("retire", keystore_retire(f->ks, "alice@example.com", t0, &who, &err),
	    KEYSTORE_OK, &err);
	assert_string_equal(who[0], "alice@example.com");
	assert_null(who[1]);
	keystore_retire_list_free(who);
	want_no_signer(f->ks, "alice@example.com", KEYSTORE_RETIRED, "retired on");
	want_signer(f->ks, "bob@example.com", &bob);
	WANT_RC("no recipient", keystore_recipient(f->ks, "alice@example.com", &x, &err),
	    KEYSTORE_RETIRED, &err);
	assert_null(x);
	WANT_RC("no new import", keystore_import_p12(f->ks, alice.p12, alice.len, PASS,
	    NULL, &err), KEYSTORE_RETIRED, &err);
	WANT_RC("still decrypts", decrypter(f->ks, "alice@example.com", &alice, &err),
	    KEYSTORE_OK, &err);
	WANT_RC("retire again keeps the date", keystore_retire(f->ks, "alice@example.com",
	    t0 + 50, NULL, &err), KEYSTORE_OK, &err);
	WANT_RC("record", keystore_retired_get(f->ks, "alice@example.com", &r, &err),
	    KEYSTORE_OK, &err);
	WANT_INT("retired at", r.retired, (long long)t0);

	WANT_RC("purge within the retention", keystore_retire_purge(f->ks, 3600,
	    t0 + 3599, on_destroyed, &seen, &n, &err), KEYSTORE_OK, &err);
	WANT_INT("nothing destroyed yet", (long long)n, 0);
	entry = entry_path(f, &alice);
	WANT_INT("entry still there", access(entry, F_OK), 0);
	WANT_RC("purge after it", keystore_retire_purge(f->ks, 3600, t0 + 3600,
	    on_destroyed, &seen, &n, &err), KEYSTORE_OK, &err);
	WANT_INT("one destroyed", (long long)n, 1);
	WANT_INT("callback heard of it", seen, 1);
	WANT_INT("entry file gone", access(entry, F_OK), -1);
	WANT_RC("decrypter: destroyed", decrypter(f->ks, "alice@example.com", &alice,
	    &err), KEYSTORE_RETIRED, &err);
	WANT_SUBSTR("decrypter", err.msg, "keys destroyed on");
	WANT_RC("record says destroyed", keystore_retired_get(f->ks, "alice@example.com",
	    &r, &err), KEYSTORE_OK, &err);
	WANT_INT("destroyed at", r.destroyed, (long long)t0 + 3600);
	want_signer(f->ks, "bob@example.com", &bob);
	WANT_RC("bob still decrypts", decrypter(f->ks, "bob@example.com", &bob, &err),
	    KEYSTORE_OK, &err);
	free(entry);
	ident_free(&alice);
	ident_free(&bob);
}

/* An entry file replaced by a symbolic link: the purge fails and never
 * writes through the link. */
static void
test_retire_symlink(void **state)
{
	fx_t *f = *state;
	ident_t bob;
	keystore_err_t err;
	char *entry, *victim = path2(f->tmp, "victim"), *got;
	size_t n = 0, len = 0;

	ident_make(&bob, "bob@example.com", -1, 365);
	import_ok(f->ks, &bob);
	WANT_RC("retire", keystore_retire(f->ks, "bob@example.com", 1000, NULL, &err),
	    KEYSTORE_OK, &err);
	entry = entry_path(f, &bob);
	assert_int_equal(unit_write_file(victim, "precious\n", 9, 0600), 0);
	assert_int_equal(unlink(entry), 0);
	assert_int_equal(symlink(victim, entry), 0);
	if (keystore_retire_purge(f->ks, 0, 2000, NULL, NULL, &n, &err) == KEYSTORE_OK)
		fail_msg("purge through a symbolic link succeeded");
	got = unit_read_file(victim, &len);
	assert_non_null(got);
	assert_string_equal(got, "precious\n");
	free(got);
	free(entry);
	free(victim);
	ident_free(&bob);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_import_list_signer),
		T(test_entry_format),
		T(test_addr_case_lookup),
		T(test_wrong_password),
		T(test_empty_password),
		T(test_bad_input),
		T(test_subject_email),
		T(test_usage),
		T(test_public_certs),
		T(test_origin),
		T(test_perm_master),
		T(test_perm_entry),
		T(test_perm_dir),
		T(test_create),
		T(test_tampered),
		T(test_key_bound_to_cert),
		T(test_corrupt_files),
		T(test_validity),
		T(test_newest),
		T(test_reimport),
		T(test_export_roundtrip),
		T(test_refresh),
		T(test_threads),
		T(test_ldap_down),
		T(test_recipient),
		T(test_retire),
		T(test_retire_symlink),
#undef T
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
