/*
 * test_verdict.c: cmocka tests of the kept verdicts of the certificate
 * check (directory/dir_verdict.c through dir_check.c).  A warm
 * certificate is answered from the table (its CRL and responder not
 * asked, the chain not built); then the attacks, each a verdict that must
 * not be believed: a newer CRL revoking a certificate kept good (after
 * the old CRL's nextUpdate, and fetched early after an eviction), a trust
 * anchor gone after a reload, an intermediate and a certificate that
 * expire while kept, an OCSP "good" past its nextUpdate, the same
 * certificate checked for another purpose, and a forged certificate with
 * the same issuer, subject and serial but other bytes.  Then the bound,
 * VerdictCacheSize 0, and threads.  Then the inbound signers' chain
 * checks (smime_verify.c with dir_verdict_chain_cache()): a warm signer
 * is not built again, but a signer with the same names and serial from
 * another CA, a tampered content, a CRL that revokes it, another trust
 * store, an anchor added, a time past the chain's validity or the CRL's
 * nextUpdate, and a check that let a stale CRL pass are each decided
 * anew.  The clock is the real one: the
 * certificates and answers that run out do so a few seconds from now,
 * and one sleep covers them all.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/cms.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "directory/dir_int.h"
#include "directory/dir_lookup.h"
#include "directory/dir_verdict.h"
#include "smime/smime.h"
#include "tests/unit/unit_util.h"

#define SHORT 3                 /* seconds before the short-lived things end */

static struct {
	EVP_PKEY *ca_key, *other_key, *key;
	X509 *ca, *other_ca;
	char *dir;
	char ca_file[512], other_file[512];
} pki;

static int
write_pem(const char *path, X509 *x)
{
	FILE *fp = fopen(path, "w");
	int ok = fp != NULL && PEM_write_X509(fp, x);

	if (fp != NULL)
		fclose(fp);
	return ok ? 0 : -1;
}

static int
group_setup(void **state)
{
	(void)state;
	smime_init();
	pki.ca_key = unit_key(UNIT_RSA2048);
	pki.ca = unit_ca(pki.ca_key, "verdict test CA");
	pki.other_key = unit_key(UNIT_RSA2048);
	pki.other_ca = unit_ca(pki.other_key, "verdict test CA");  /* the same name */
	pki.key = unit_key(UNIT_P256);
	pki.dir = unit_tmpdir();
	snprintf(pki.ca_file, sizeof(pki.ca_file), "%s/ca.pem", pki.dir);
	snprintf(pki.other_file, sizeof(pki.other_file), "%s/other.pem", pki.dir);
	return write_pem(pki.ca_file, pki.ca) || write_pem(pki.other_file, pki.other_ca);
}

static int
group_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(pki.ca_key);
	EVP_PKEY_free(pki.other_key);
	EVP_PKEY_free(pki.key);
	X509_free(pki.ca);
	X509_free(pki.other_ca);
	unit_rmtree(pki.dir);
	free(pki.dir);
	return 0;
}

/* ---- certificates, CRLs and OCSP answers made here ---- */

typedef struct cert_spec {
	X509 *issuer;
	EVP_PKEY *issuer_key;
	const char *email;          /* NULL: a CA certificate */
	long serial;                /* 0: a random one */
	long from, to;              /* seconds from now */
	const char *crl_url, *ocsp_url;  /* NULL: none */
} cert_spec_t;

static void
ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(e);
	assert_true(X509_add_ext(x, e, -1));
	X509_EXTENSION_free(e);
}

static X509 *
mk(const cert_spec_t *s, EVP_PKEY *key)
{
	X509 *x = X509_new();
	char buf[300];

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), s->serial ? s->serial
	    : (long)(random() & 0x7fffffff) + 1);
	X509_gmtime_adj(X509_getm_notBefore(x), s->from);
	X509_gmtime_adj(X509_getm_notAfter(x), s->to);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)(s->email ? s->email : "verdict intermediate"), -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(s->issuer));
	if (s->email == NULL) {
		ext(x, s->issuer, NID_basic_constraints, "critical,CA:TRUE");
		ext(x, s->issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		ext(x, s->issuer, NID_basic_constraints, "critical,CA:FALSE");
		ext(x, s->issuer, NID_key_usage, "critical,digitalSignature,keyAgreement");
		ext(x, s->issuer, NID_ext_key_usage, "emailProtection");
		snprintf(buf, sizeof(buf), "email:%s", s->email);
		ext(x, s->issuer, NID_subject_alt_name, buf);
	}
	ext(x, s->issuer, NID_subject_key_identifier, "hash");
	ext(x, s->issuer, NID_authority_key_identifier, "keyid");
	if (s->crl_url != NULL) {
		snprintf(buf, sizeof(buf), "URI:%s", s->crl_url);
		ext(x, s->issuer, NID_crl_distribution_points, buf);
	}
	if (s->ocsp_url != NULL) {
		snprintf(buf, sizeof(buf), "OCSP;URI:%s", s->ocsp_url);
		ext(x, s->issuer, NID_info_access, buf);
	}
	assert_true(X509_sign(x, s->issuer_key, EVP_sha256()));
	return x;
}

/* A CRL of the test CA listing revoked (may be NULL), nextUpdate next
 * seconds from now. */
static X509_CRL *
mk_crl(X509 *revoked, long next)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = X509_gmtime_adj(NULL, -60);

	assert_non_null(crl);
	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(pki.ca));
	X509_CRL_set1_lastUpdate(crl, t);
	X509_gmtime_adj(t, next);
	X509_CRL_set1_nextUpdate(crl, t);
	ASN1_TIME_free(t);
	if (revoked != NULL) {
		X509_REVOKED *r = X509_REVOKED_new();
		ASN1_TIME *when = X509_gmtime_adj(NULL, -1);

		X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(revoked));
		X509_REVOKED_set_revocationDate(r, when);
		X509_CRL_add0_revoked(crl, r);
		ASN1_TIME_free(when);
	}
	X509_CRL_sort(crl);
	assert_true(X509_CRL_sign(crl, pki.ca_key, EVP_sha256()));
	return crl;
}

/* What the stand-in CRL server serves (every URL the same) and counts. */
typedef struct crl_server {
	X509_CRL *crl;
	int fetches;
} crl_server_t;

static BIO *
crl_serve(void *arg, const char *url, char *why, size_t len)
{
	crl_server_t *srv = arg;
	BIO *b = BIO_new(BIO_s_mem());

	(void)url;
	(void)why;
	(void)len;
	srv->fetches++;
	assert_true(b != NULL && i2d_X509_CRL_bio(b, srv->crl));
	return b;
}

static void
crl_serve_set(crl_server_t *srv, X509_CRL *crl)
{
	X509_CRL_free(srv->crl);
	srv->crl = crl;
}

/* The stand-in OCSP responder: the CA itself answers status for any
 * certificate asked about, nextUpdate next seconds from now. */
typedef struct ocsp_server {
	int status;                 /* V_OCSP_CERTSTATUS_* */
	long next;
	int asked;
} ocsp_server_t;

static BIO *
ocsp_serve(void *arg, const char *url, const unsigned char *reqder, size_t reqlen,
    char *why, size_t len)
{
	ocsp_server_t *srv = arg;
	const unsigned char *p = reqder;
	OCSP_REQUEST *req = d2i_OCSP_REQUEST(NULL, &p, (long)reqlen);
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	OCSP_CERTID *id;
	ASN1_TIME *thisupd = X509_gmtime_adj(NULL, -10);
	ASN1_TIME *nextupd = X509_gmtime_adj(NULL, srv->next);
	ASN1_TIME *rev = X509_gmtime_adj(NULL, -5);
	OCSP_RESPONSE *resp;
	BIO *b = BIO_new(BIO_s_mem());

	(void)url;
	(void)why;
	(void)len;
	srv->asked++;
	assert_non_null(req);
	id = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, 0));
	assert_non_null(OCSP_basic_add1_status(bs, id, srv->status,
	    srv->status == V_OCSP_CERTSTATUS_REVOKED ? OCSP_REVOKED_STATUS_KEYCOMPROMISE : -1,
	    srv->status == V_OCSP_CERTSTATUS_REVOKED ? rev : NULL, thisupd, nextupd));
	assert_true(OCSP_copy_nonce(bs, req));
	assert_true(OCSP_basic_sign(bs, pki.ca, pki.ca_key, EVP_sha256(), NULL, 0));
	resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
	assert_true(b != NULL && i2d_OCSP_RESPONSE_bio(b, resp));
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	OCSP_REQUEST_free(req);
	ASN1_TIME_free(thisupd);
	ASN1_TIME_free(nextupd);
	ASN1_TIME_free(rev);
	return b;
}

/* ---- the handle under test ---- */

typedef struct bench {
	dir_settings_t s;
	crl_server_t crls;
	ocsp_server_t ocsp;
	dir_check_t *chk;
	dir_cache_t *cache;         /* where OCSP answers are kept */
} bench_t;

static void
bench_open(bench_t *b, const char *ca_file, size_t verdicts, int ocsp)
{
	char err[256];

	memset(b, 0, sizeof(*b));
	b->crls.crl = mk_crl(NULL, 3600);
	b->ocsp.status = V_OCSP_CERTSTATUS_GOOD;
	b->ocsp.next = 3600;
	b->s = (dir_settings_t){
		.ca_file = ca_file, .crl_check = 1, .crl_policy = DIR_CRL_TEMPFAIL,
		.crl_timeout = 2, .crl_cache_seconds = 3600, .ocsp_check = ocsp,
		.ocsp_unavailable = DIR_OCSP_CRL, .ocsp_unknown = DIR_OCSP_UNKNOWN_REFUSE,
		.ocsp_timeout = 2, .ocsp_cache_seconds = 3600, .redis = "",
		.ttl_positive = 60, .ttl_negative = 60, .mem_cache_size = 64,
		.harvest_dir = "", .verdict_cache_size = verdicts,
		.crl_fetch = crl_serve, .crl_fetch_arg = &b->crls,
		.ocsp_fetch = ocsp_serve, .ocsp_fetch_arg = &b->ocsp,
	};
	b->chk = dir_check_new(&b->s, err, sizeof(err));
	if (b->chk == NULL)
		fail_msg("dir_check_new: %s", err);
	b->cache = dir_cache_new(&b->s, NULL, err, sizeof(err));
	assert_non_null(b->cache);
	dir_check_cache_set(b->chk, b->cache);
}

static void
bench_close(bench_t *b)
{
	dir_check_free(b->chk);
	dir_cache_free(b->cache);
	X509_CRL_free(b->crls.crl);
}

static unsigned long
hits(bench_t *b)
{
	unsigned long h, m;

	dir_verdict_stats(dir_check_verdicts(b->chk), &h, &m);
	return h;
}

/* dir_check_cert() for email, with the intermediates in chain. */
static dir_status_t
check(bench_t *b, X509 *x, STACK_OF(X509) *chain, const char *email, char *why,
    size_t len)
{
	why[0] = '\0';
	return dir_check_cert(b->chk, x, chain, email, why, len);
}

#define WANT(b, x, chain, email, want, what) do {                              \
	char why_[256];                                                        \
	dir_status_t got_ = check(b, x, chain, email, why_, sizeof(why_));     \
	if (got_ != (want))                                                    \
		fail_msg("%s: got %d (%s), want %d", what, got_, why_, want);  \
} while (0)

/* ---- a warm certificate ---- */

static void
test_warm(void **state)
{
	cert_spec_t sp = { pki.ca, pki.ca_key, "warm@example.net", 0, -60, 86400,
		"http://crl.test/ca.crl", "http://ocsp.test/" };
	X509 *x = mk(&sp, pki.key);
	bench_t b;
	(void)state;

	bench_open(&b, pki.ca_file, 64, 1);
	for (int i = 0; i < 5; i++)
		WANT(&b, x, NULL, "warm@example.net", DIR_OK, "warm");
	if (hits(&b) != 4 || b.ocsp.asked != 1)
		fail_msg("five checks: %lu hits, responder asked %d times; want 4 and 1",
		    hits(&b), b.ocsp.asked);
	/* The cheap checks still run: another address is refused. */
	WANT(&b, x, NULL, "other@example.net", DIR_NOTFOUND, "another address");
	bench_close(&b);

	/* CRL only: fetched once, the chain built once. */
	sp.ocsp_url = NULL;
	X509_free(x);
	x = mk(&sp, pki.key);
	bench_open(&b, pki.ca_file, 64, 1);
	for (int i = 0; i < 3; i++)
		WANT(&b, x, NULL, "warm@example.net", DIR_OK, "warm (CRL)");
	if (hits(&b) != 2 || b.crls.fetches != 1)
		fail_msg("three checks: %lu hits, %d fetches; want 2 and 1", hits(&b),
		    b.crls.fetches);
	bench_close(&b);

	/* VerdictCacheSize 0: nothing kept, nothing answered from it. */
	bench_open(&b, pki.ca_file, 0, 1);
	assert_null(dir_check_verdicts(b.chk));
	for (int i = 0; i < 3; i++)
		WANT(&b, x, NULL, "warm@example.net", DIR_OK, "no verdicts kept");
	assert_int_equal(hits(&b), 0);
	bench_close(&b);
	X509_free(x);
}

/* ---- attacks: time passes ---- */

/*
 * Three certificates kept good, each on something that runs out within
 * SHORT seconds while the certificate itself stays valid longer: the
 * CRL's nextUpdate (a newer CRL then revokes it), the intermediate's
 * notAfter, the OCSP answer's nextUpdate (the responder then says
 * revoked).  And one whose own notAfter comes.  Within the time each is
 * answered from the table; after it none is usable.
 */
static void
test_time_passes(void **state)
{
	EVP_PKEY *ikey = unit_key(UNIT_P256);
	cert_spec_t isp = { pki.ca, pki.ca_key, NULL, 0, -60, SHORT, NULL, NULL };
	X509 *inter = mk(&isp, ikey);
	cert_spec_t s_crl = { pki.ca, pki.ca_key, "crl@example.net", 0, -60, 86400,
		"http://crl.test/ca.crl", NULL };
	cert_spec_t s_int = { inter, ikey, "inter@example.net", 0, -60, 86400, NULL, NULL };
	cert_spec_t s_ocsp = { pki.ca, pki.ca_key, "ocsp@example.net", 0, -60, 86400,
		NULL, "http://ocsp.test/" };
	cert_spec_t s_own = { pki.ca, pki.ca_key, "own@example.net", 0, -60, SHORT,
		NULL, NULL };
	X509 *c_crl = mk(&s_crl, pki.key), *c_int = mk(&s_int, pki.key);
	X509 *c_ocsp = mk(&s_ocsp, pki.key), *c_own = mk(&s_own, pki.key);
	STACK_OF(X509) *chain = sk_X509_new_null();
	bench_t b, o;               /* b: a CRL; o: OCSP, and no CRL fetched */
	(void)state;

	sk_X509_push(chain, inter);
	bench_open(&b, pki.ca_file, 64, 0);
	bench_open(&o, pki.ca_file, 64, 1);
	crl_serve_set(&b.crls, mk_crl(NULL, SHORT));
	o.ocsp.next = SHORT;
	for (int i = 0; i < 2; i++) {
		WANT(&b, c_crl, NULL, "crl@example.net", DIR_OK, "CRL, before nextUpdate");
		WANT(&o, c_int, chain, "inter@example.net", DIR_OK, "intermediate, valid");
		WANT(&o, c_own, NULL, "own@example.net", DIR_OK, "own, valid");
		WANT(&o, c_ocsp, NULL, "ocsp@example.net", DIR_OK, "OCSP, before nextUpdate");
	}
	if (hits(&b) != 1 || hits(&o) != 3)
		fail_msg("second round: %lu and %lu hits, want 1 and 3", hits(&b), hits(&o));
	/* Revoked now; the answers given before hold until their time. */
	crl_serve_set(&b.crls, mk_crl(c_crl, 3600));
	o.ocsp.status = V_OCSP_CERTSTATUS_REVOKED;
	WANT(&b, c_crl, NULL, "crl@example.net", DIR_OK, "CRL, its nextUpdate not reached");
	WANT(&o, c_ocsp, NULL, "ocsp@example.net", DIR_OK, "OCSP, its nextUpdate not reached");
	sleep(SHORT + 1);
	WANT(&b, c_crl, NULL, "crl@example.net", DIR_NOTFOUND,
	    "revoked by the CRL that followed the kept one");
	WANT(&o, c_int, chain, "inter@example.net", DIR_NOTFOUND,
	    "its intermediate expired while kept");
	WANT(&o, c_own, NULL, "own@example.net", DIR_NOTFOUND, "expired while kept");
	WANT(&o, c_ocsp, NULL, "ocsp@example.net", DIR_NOTFOUND,
	    "the OCSP good answer past its nextUpdate (now revoked)");
	bench_close(&b);
	bench_close(&o);
	sk_X509_free(chain);
	X509_free(inter);
	X509_free(c_crl);
	X509_free(c_int);
	X509_free(c_ocsp);
	X509_free(c_own);
	EVP_PKEY_free(ikey);
}

/*
 * A newer CRL fetched before the kept one's nextUpdate: the table of
 * CRLs is full, the kept one is evicted, and the next check fetches the
 * newer one (which revokes the certificate).  The verdict kept on the
 * older CRL must not answer.
 */
static void
test_crl_evicted(void **state)
{
	cert_spec_t sp = { pki.ca, pki.ca_key, "evict@example.net", 0, -60, 86400,
		"http://crl.test/0.crl", NULL };
	X509 *x = mk(&sp, pki.key);
	char url[64];
	bench_t b;
	(void)state;

	bench_open(&b, pki.ca_file, 256, 0);
	WANT(&b, x, NULL, "evict@example.net", DIR_OK, "before");
	WANT(&b, x, NULL, "evict@example.net", DIR_OK, "before, kept");
	assert_int_equal(hits(&b), 1);
	crl_serve_set(&b.crls, mk_crl(x, 3600));
	for (int i = 1; i <= 64; i++) {      /* 64 other distribution points */
		X509 *y;

		snprintf(url, sizeof(url), "http://crl.test/%d.crl", i);
		sp.crl_url = url;
		sp.email = "filler@example.net";
		y = mk(&sp, pki.key);
		WANT(&b, y, NULL, "filler@example.net", DIR_OK, "filler");
		X509_free(y);
	}
	WANT(&b, x, NULL, "evict@example.net", DIR_NOTFOUND,
	    "revoked by a newer CRL fetched after an eviction");
	bench_close(&b);
	X509_free(x);
}

/* ---- attacks: trust, purpose, bytes ---- */

/* A reload that drops the trust anchor: the new lookup's check refuses
 * what the old one kept good; one that adds an anchor starts afresh. */
static void
test_trust_reload(void **state)
{
	cert_spec_t sp = { pki.ca, pki.ca_key, "t@example.net", 0, -60, 86400, NULL, NULL };
	X509 *x = mk(&sp, pki.key);
	bench_t b;
	(void)state;

	bench_open(&b, pki.ca_file, 64, 0);
	WANT(&b, x, NULL, "t@example.net", DIR_OK, "trusted");
	WANT(&b, x, NULL, "t@example.net", DIR_OK, "trusted, kept");
	assert_int_equal(hits(&b), 1);
	bench_close(&b);
	/* The reload: the anchors are another CA's now. */
	bench_open(&b, pki.other_file, 64, 0);
	WANT(&b, x, NULL, "t@example.net", DIR_NOTFOUND, "the anchor removed on reload");
	/* An anchor added: nothing kept survives it. */
	WANT(&b, x, NULL, "t@example.net", DIR_NOTFOUND, "still untrusted");
	assert_int_equal(dir_check_trust_add(b.chk, pki.ca), 0);
	WANT(&b, x, NULL, "t@example.net", DIR_OK, "trusted after the anchor is added");
	assert_int_equal(hits(&b), 0);
	bench_close(&b);
	X509_free(x);
}

/*
 * The same certificate, kept "not revoked" for the signing key's check
 * (dir_check_revoked: the CRL only), then asked about for encryption,
 * where its OCSP responder says revoked: refused.
 */
static void
test_purpose(void **state)
{
	cert_spec_t sp = { pki.ca, pki.ca_key, "p@example.net", 0, -60, 86400,
		"http://crl.test/ca.crl", "http://ocsp.test/" };
	X509 *x = mk(&sp, pki.key);
	char why[256];
	bench_t b;
	(void)state;

	bench_open(&b, pki.ca_file, 64, 1);
	b.ocsp.status = V_OCSP_CERTSTATUS_REVOKED;
	for (int i = 0; i < 2; i++)
		if (dir_check_revoked(b.chk, x, NULL, why, sizeof(why)) != 0)
			fail_msg("the CRL does not list it, got revoked (%s)", why);
	assert_int_equal(hits(&b), 1);
	WANT(&b, x, NULL, "p@example.net", DIR_NOTFOUND,
	    "kept for another purpose, revoked by OCSP for encryption");
	bench_close(&b);
	X509_free(x);
}

/*
 * Another certificate with the issuer's name, the same subject and
 * serial, but other bytes (signed by another key with the same name):
 * not the kept one, refused.  And the kept one with one signature bit
 * flipped.
 */
static void
test_same_serial(void **state)
{
	cert_spec_t sp = { pki.ca, pki.ca_key, "s@example.net", 4242, -60, 86400,
		NULL, NULL };
	cert_spec_t fp = { pki.other_ca, pki.other_key, "s@example.net", 4242, -60, 86400,
		NULL, NULL };
	X509 *x = mk(&sp, pki.key), *forged = mk(&fp, pki.key), *flipped;
	unsigned char *der = NULL;
	const unsigned char *p;
	int n;
	bench_t b;
	(void)state;

	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x),
	    X509_get_issuer_name(forged)), 0);
	assert_int_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(x),
	    X509_get0_serialNumber(forged)), 0);
	n = i2d_X509(x, &der);
	assert_true(n > 10);
	der[n - 5] ^= 0x01;         /* inside the signature */
	p = der;
	flipped = d2i_X509(NULL, &p, n);
	assert_non_null(flipped);
	bench_open(&b, pki.ca_file, 64, 0);
	WANT(&b, x, NULL, "s@example.net", DIR_OK, "the real one");
	WANT(&b, x, NULL, "s@example.net", DIR_OK, "the real one, kept");
	WANT(&b, forged, NULL, "s@example.net", DIR_NOTFOUND,
	    "same issuer and serial, other bytes");
	WANT(&b, flipped, NULL, "s@example.net", DIR_NOTFOUND, "a signature bit flipped");
	assert_int_equal(hits(&b), 1);
	bench_close(&b);
	OPENSSL_free(der);
	X509_free(x);
	X509_free(forged);
	X509_free(flipped);
}

/* The intermediates offered are part of the key: kept with its
 * intermediate, asked about without it: checked anew (and refused). */
static void
test_chain_in_key(void **state)
{
	EVP_PKEY *ikey = unit_key(UNIT_P256);
	cert_spec_t isp = { pki.ca, pki.ca_key, NULL, 0, -60, 86400, NULL, NULL };
	X509 *inter = mk(&isp, ikey);
	cert_spec_t sp = { inter, ikey, "c@example.net", 0, -60, 86400, NULL, NULL };
	X509 *x = mk(&sp, pki.key);
	STACK_OF(X509) *chain = sk_X509_new_null();
	bench_t b;
	(void)state;

	sk_X509_push(chain, inter);
	bench_open(&b, pki.ca_file, 64, 0);
	WANT(&b, x, chain, "c@example.net", DIR_OK, "with its intermediate");
	WANT(&b, x, NULL, "c@example.net", DIR_NOTFOUND, "without it");
	assert_int_equal(hits(&b), 0);
	bench_close(&b);
	sk_X509_free(chain);
	X509_free(inter);
	X509_free(x);
	EVP_PKEY_free(ikey);
}

/* ---- bound, threads ---- */

static void
test_bound(void **state)
{
	static const size_t sizes[] = { 1, 3, 8, 10 };
	cert_spec_t sp = { pki.ca, pki.ca_key, "b@example.net", 0, -60, 86400, NULL, NULL };
	X509 *certs[24];
	(void)state;

	for (size_t i = 0; i < 24; i++)
		certs[i] = mk(&sp, pki.key);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		bench_t b;
		size_t kept;

		bench_open(&b, pki.ca_file, sizes[k], 0);
		for (size_t i = 0; i < 24; i++)
			WANT(&b, certs[i], NULL, "b@example.net", DIR_OK, "bound");
		kept = dir_verdict_count(dir_check_verdicts(b.chk));
		if (kept > sizes[k] || kept == 0
		    || dir_verdict_capacity(dir_check_verdicts(b.chk)) > sizes[k])
			fail_msg("VerdictCacheSize %zu: %zu kept (capacity %zu)", sizes[k], kept,
			    dir_verdict_capacity(dir_check_verdicts(b.chk)));
		/* The last one is kept. */
		WANT(&b, certs[23], NULL, "b@example.net", DIR_OK, "the last");
		if (hits(&b) != 1)
			fail_msg("VerdictCacheSize %zu: the last one not kept", sizes[k]);
		bench_close(&b);
	}
	for (size_t i = 0; i < 24; i++)
		X509_free(certs[i]);
}

typedef struct worker {
	bench_t *b;
	X509 **certs;
	int bad;
} worker_t;

static void *
work(void *arg)
{
	worker_t *w = arg;
	char why[256];

	for (int i = 0; i < 200; i++)
		if (dir_check_cert(w->b->chk, w->certs[i % 6], NULL, "w@example.net", why,
		    sizeof(why)) != DIR_OK)
			w->bad++;
	return NULL;
}

/* Four threads on one table of four entries (six certificates). */
static void
test_threads(void **state)
{
	cert_spec_t sp = { pki.ca, pki.ca_key, "w@example.net", 0, -60, 86400, NULL, NULL };
	X509 *certs[6];
	pthread_t t[4];
	worker_t w[4];
	bench_t b;
	(void)state;

	for (int i = 0; i < 6; i++)
		certs[i] = mk(&sp, pki.key);
	bench_open(&b, pki.ca_file, 4, 0);
	for (int i = 0; i < 4; i++) {
		w[i] = (worker_t){ &b, certs, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].bad, 0);
	}
	assert_true(hits(&b) > 0);
	bench_close(&b);
	for (int i = 0; i < 6; i++)
		X509_free(certs[i]);
}

/* ---- inbound signers (smime_verify.c, dir_verdict_chain_cache()) ---- */

/* A multipart/signed body of text, signed by x (pki.key), with the
 * content replaced by other when not NULL; its header in *hdrs. */
static char *
signed_body(X509 *x, const char *text, const char *other, char **hdrs)
{
	BIO *in = BIO_new_mem_buf(text, -1), *mem = BIO_new(BIO_s_mem());
	BIO *b64 = BIO_push(BIO_new(BIO_f_base64()), mem);
	CMS_ContentInfo *cms = CMS_sign(x, pki.key, NULL, in, CMS_BINARY | CMS_DETACHED);
	char *p, *sig, *body;
	long n, o = 0;

	assert_non_null(cms);
	assert_true(i2d_CMS_bio(b64, cms));
	(void)BIO_flush(b64);
	n = BIO_get_mem_data(mem, &p);
	sig = calloc(1, (size_t)n * 2 + 1);
	assert_non_null(sig);
	for (long i = 0; i < n; i++) {
		if (p[i] == '\n')
			sig[o++] = '\r';
		sig[o++] = p[i];
	}
	assert_true(asprintf(&body, "--b\r\n%s\r\n--b\r\nContent-Type: "
	    "application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	    "%s--b--\r\n", other != NULL ? other : text, sig) > 0);
	*hdrs = strdup("Content-Type: multipart/signed; protocol=\"application/"
	    "pkcs7-signature\"; micalg=sha-256; boundary=b\n");
	free(sig);
	BIO_free_all(b64);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	return body;
}

static const char signed_text[] = "Content-Type: text/plain\r\n\r\nHello.\r\n";

/* The verdict of body against trust, the signers' chains kept in vt;
 * when: the verification time (0: the signing time). */
static smime_verdict_t
verify_signed(smime_trust_t *trust, dir_verdict_t *vt, const char *hdrs,
    const char *body, time_t when, const char *from)
{
	smime_verify_t *v = smime_verify_new(trust);
	smime_body_t b = { (const unsigned char *)body, strlen(body), -1 };
	smime_chain_cache_t c;
	smime_verdict_t got;

	assert_non_null(v);
	dir_verdict_chain_cache(vt, &c);
	smime_verify_set_chain_cache(v, &c);
	smime_verify_set_from(v, from);
	smime_verify_set_time(v, when);
	assert_int_equal(smime_verify_run(v, hdrs, &b, NULL, NULL), SMIME_OK);
	got = smime_verify_verdict(v);
	smime_verify_free(v);
	return got;
}

#define WANT_SIGNED(trust, vt, x, other, when, want, what) do {                 \
	char *h_, *b_ = signed_body(x, signed_text, other, &h_);                \
	smime_verdict_t got_ = verify_signed(trust, vt, h_, b_, when,            \
	    "s@example.net");                                                    \
	if (got_ != (want))                                                      \
		fail_msg("%s: got %s, want %s", what, smime_verdict_name(got_),  \
		    smime_verdict_name(want));                                   \
	free(h_);                                                                \
	free(b_);                                                                \
} while (0)

static smime_trust_t *
trust_of(const char *ca_file, X509_CRL *crl)
{
	char path[600], err[256];
	smime_trust_t *t;
	FILE *fp;

	if (crl != NULL) {
		snprintf(path, sizeof(path), "%s/crl-%ld.pem", pki.dir, random());
		assert_non_null(fp = fopen(path, "w"));
		assert_true(PEM_write_X509_CRL(fp, crl));
		fclose(fp);
	}
	t = smime_trust_new(ca_file, 0, crl != NULL ? path : NULL, NULL, err, sizeof(err));
	if (t == NULL)
		fail_msg("smime_trust_new: %s", err);
	return t;
}

static void
stats(dir_verdict_t *vt, unsigned long *h, unsigned long *m)
{
	dir_verdict_stats(vt, h, m);
}

/* A warm signer costs a lookup; another certificate with the same
 * issuer name, subject and serial from another CA is not trusted on its
 * verdict; a tampered content is still FAIL with the verdict warm. */
static void
test_signer_warm(void **state)
{
	cert_spec_t sp = { pki.ca, pki.ca_key, "s@example.net", 4242, -60, 86400, NULL, NULL };
	cert_spec_t fp = { pki.other_ca, pki.other_key, "s@example.net", 4242, -60, 86400,
		NULL, NULL };
	X509 *x = mk(&sp, pki.key), *forged = mk(&fp, pki.key), *altered;
	const ASN1_BIT_STRING *sig;
	smime_trust_t *t = trust_of(pki.ca_file, NULL);
	dir_verdict_t *vt = dir_verdict_new(64);
	unsigned long h, m;
	(void)state;

	WANT_SIGNED(t, vt, x, NULL, 0, SMIME_VERDICT_PASS, "cold");
	assert_int_equal(dir_verdict_count(vt), 1);
	WANT_SIGNED(t, vt, x, NULL, 0, SMIME_VERDICT_PASS, "warm");
	stats(vt, &h, &m);
	assert_int_equal(h, 1);
	WANT_SIGNED(t, vt, forged, NULL, 0, SMIME_VERDICT_UNTRUSTED,
	    "same names and serial, another CA");
	WANT_SIGNED(t, vt, x, "Content-Type: text/plain\r\n\r\nHello, Mallory.\r\n", 0,
	    SMIME_VERDICT_FAIL, "tampered content, signer warm");
	WANT_SIGNED(t, vt, x, NULL, 0, SMIME_VERDICT_PASS, "warm again");
	assert_int_equal(dir_verdict_count(vt), 1);
	/* The same certificate but one octet of its CA's signature: neither
	 * the decoded certificate (smime_certcache.c) nor the verdict of the
	 * good one may stand in for it. */
	assert_non_null(altered = X509_dup(x));
	X509_get0_signature(&sig, NULL, altered);
	((ASN1_BIT_STRING *)sig)->data[8] ^= 0x01;
	WANT_SIGNED(t, vt, altered, NULL, 0, SMIME_VERDICT_UNTRUSTED,
	    "the warm certificate with its CA's signature broken");
	WANT_SIGNED(t, vt, x, NULL, 0, SMIME_VERDICT_PASS, "and the good one after it");
	dir_verdict_free(vt);
	smime_trust_free(t);
	X509_free(x);
	X509_free(altered);
	X509_free(forged);
}

/* New CRLs come with a new trust (a reload): the same table then
 * decides the signer anew and says revoked.  So does another anchor
 * set, and one anchor more in the same trust. */
static void
test_signer_trust_moves(void **state)
{
	cert_spec_t sp = { pki.ca, pki.ca_key, "s@example.net", 0, -60, 86400, NULL, NULL };
	X509 *x = mk(&sp, pki.key);
	X509_CRL *revoking = mk_crl(x, 3600);
	smime_trust_t *t = trust_of(pki.ca_file, NULL), *t2 = trust_of(pki.ca_file, revoking);
	smime_trust_t *t3 = trust_of(pki.other_file, NULL);
	dir_verdict_t *vt = dir_verdict_new(64);
	unsigned long h, m, h2, m2;
	(void)state;

	WANT_SIGNED(t, vt, x, NULL, 0, SMIME_VERDICT_PASS, "kept good");
	WANT_SIGNED(t, vt, x, NULL, 0, SMIME_VERDICT_PASS, "warm");
	WANT_SIGNED(t2, vt, x, NULL, 0, SMIME_VERDICT_REVOKED, "a CRL revoking it");
	WANT_SIGNED(t3, vt, x, NULL, 0, SMIME_VERDICT_UNTRUSTED, "its CA not an anchor");
	stats(vt, &h, &m);
	assert_int_equal(smime_trust_add(t, pki.other_ca), 0);
	WANT_SIGNED(t, vt, x, NULL, 0, SMIME_VERDICT_PASS, "an anchor added");
	stats(vt, &h2, &m2);
	assert_int_equal(h2, h);
	assert_int_equal(m2, m + 1);
	dir_verdict_free(vt);
	smime_trust_free(t);
	smime_trust_free(t2);
	smime_trust_free(t3);
	X509_CRL_free(revoking);
	X509_free(x);
}

/* A verdict holds for the verification times its chain and CRLs hold:
 * a time past the signer's notAfter is EXPIRED, a time past the CRL's
 * nextUpdate is checked anew; a check that let a stale CRL pass (no
 * answer) is not kept. */
static void
test_signer_times(void **state)
{
	cert_spec_t sp = { pki.ca, pki.ca_key, "s@example.net", 0, -60, 86400, NULL, NULL };
	X509 *x = mk(&sp, pki.key);
	X509_CRL *crl = mk_crl(NULL, 600), *stale = mk_crl(NULL, -10);
	smime_trust_t *t = trust_of(pki.ca_file, crl), *ts = trust_of(pki.ca_file, stale);
	dir_verdict_t *vt = dir_verdict_new(64);
	time_t now = time(NULL);
	unsigned long h, m, h2, m2;
	(void)state;

	WANT_SIGNED(t, vt, x, NULL, now, SMIME_VERDICT_PASS, "with a current CRL");
	assert_int_equal(dir_verdict_count(vt), 1);
	WANT_SIGNED(t, vt, x, NULL, now + 86400 + 60, SMIME_VERDICT_EXPIRED,
	    "past notAfter, verdict warm");
	stats(vt, &h, &m);
	WANT_SIGNED(t, vt, x, NULL, now + 1200, SMIME_VERDICT_PASS, "past the CRL's nextUpdate");
	stats(vt, &h2, &m2);
	assert_int_equal(h2, h);
	assert_int_equal(dir_verdict_count(vt), 0);     /* rested on a stale CRL */
	WANT_SIGNED(ts, vt, x, NULL, 0, SMIME_VERDICT_PASS, "a stale CRL");
	WANT_SIGNED(ts, vt, x, NULL, 0, SMIME_VERDICT_PASS, "a stale CRL again");
	assert_int_equal(dir_verdict_count(vt), 0);
	dir_verdict_free(vt);
	smime_trust_free(t);
	smime_trust_free(ts);
	X509_CRL_free(crl);
	X509_CRL_free(stale);
	X509_free(x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_warm),
		cmocka_unit_test(test_time_passes),
		cmocka_unit_test(test_crl_evicted),
		cmocka_unit_test(test_trust_reload),
		cmocka_unit_test(test_purpose),
		cmocka_unit_test(test_same_serial),
		cmocka_unit_test(test_chain_in_key),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_signer_warm),
		cmocka_unit_test(test_signer_trust_moves),
		cmocka_unit_test(test_signer_times),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
