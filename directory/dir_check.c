/*
 * dir_check.c: may this certificate be encrypted to, for this address,
 * now?  In the order the reasons are given: it names the address in
 * subjectAltName (rfc822Name; local part exact, domain case-insensitive),
 * is within its validity period, allows keyEncipherment or keyAgreement
 * (or has no keyUsage), carries emailProtection (or no extendedKeyUsage),
 * and chains to the trust anchors (the CA file and/or the system store)
 * without being revoked: when it chains, names an http:// CRL
 * distribution point and CRLCheck is on, that CRL (dir_crl.c) is part of
 * a second verification.  Before the CRL, with OCSPCheck on, a
 * certificate that names an http:// OCSP responder (authorityInfoAccess)
 * is asked about there (dir_ocsp.c): good, revoked and unknown decide
 * (unknown as OCSPUnknown says); no usable answer falls back to the CRL
 * (fetched then even under CRLCheck no) or as OCSPUnavailable says.
 * Nothing is fetched for a certificate that does not chain.  A CRL that
 * cannot be had is handled as the policy says.
 *
 * The trust store is smime_trust_new()'s (the one builder), with the
 * anchors only: the revocation source here is the CRL fetched for each
 * certificate, handed to its verification.
 *
 * A good verdict is kept (dir_verdict.c, VerdictCacheSize) with what it
 * rested on: the trust generation (grows with each anchor added) and the
 * CRL table's (dir_crl.c), both read before the check starts, and the
 * window from the built chain's latest notBefore to the earliest of its
 * notAfter, the CRL's expiry and the OCSP answer's.  A verdict that rests
 * on no answer (CRLUnavailable or OCSPUnavailable accept) is not kept.
 * The cheap checks before the chain (address, validity, usage) run on
 * every call; the key holds the purpose, the policy settings, the whole
 * DER of the certificate and of the untrusted ones offered with it.
 *
 * Threads: the X509_STORE is read-only after dir_check_new(); each check
 * has its own X509_STORE_CTX; the verdicts have their own lock.
 */
#include "directory/dir_int.h"
#include "smime/smime.h"
#include "util/util_addr.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#define CHECK_MAX_CDP 4
#define CHECK_OCSP_RETRY 30     /* dir_ocsp.c asks a silent responder again */

struct dir_check {
	smime_trust_t *trust;       /* anchors only: CRLs come per check */
	dir_crl_t *crls;
	dir_ocsp_t *ocsp;           /* NULL: OCSPCheck no */
	int ocsp_unavailable, ocsp_unknown;
	int crl_check;
	int crl_policy;
	int crl_timeout;            /* seconds for all of a certificate's CRLs */
	dir_verdict_t *verdicts;    /* NULL: VerdictCacheSize 0 */
	unsigned long trust_gen;    /* grows with each anchor added */
	unsigned policy;            /* the settings a verdict depends on */
};

/* What a verdict rested on: the window it holds in; keep 0 when it rests
 * on no answer. */
typedef struct check_deps {
	time_t from, until;
	int keep;
	int fetches;                /* CRLs this check fetched */
} check_deps_t;

dir_check_t *
dir_check_new(const dir_settings_t *s, char *err, size_t errlen)
{
	dir_check_t *chk = calloc(1, sizeof(*chk));

	if (chk == NULL || (chk->crls = dir_crl_new(s->crl_timeout, s->crl_cache_seconds,
	    s->crl_fetch, s->crl_fetch_arg)) == NULL) {
		snprintf(err, errlen, "out of memory");
		dir_check_free(chk);
		return NULL;
	}
	if (s->ocsp_check && (chk->ocsp = dir_ocsp_new(s)) == NULL) {
		snprintf(err, errlen, "out of memory");
		dir_check_free(chk);
		return NULL;
	}
	chk->ocsp_unavailable = s->ocsp_unavailable;
	chk->ocsp_unknown = s->ocsp_unknown;
	chk->crl_check = s->crl_check;
	chk->crl_policy = s->crl_policy;
	chk->crl_timeout = s->crl_timeout > 0 ? s->crl_timeout : 10;
	chk->policy = (unsigned)(s->crl_check != 0) | (unsigned)(s->ocsp_check != 0) << 1
	    | (unsigned)(s->crl_policy & 7) << 2 | (unsigned)(s->ocsp_unavailable & 7) << 5
	    | (unsigned)(s->ocsp_unknown & 7) << 8;
	chk->verdicts = dir_verdict_new(s->verdict_cache_size);
	/* The revocation source is dir_crl.c's, per certificate: no CRL files. */
	if ((chk->trust = smime_trust_new(s->ca_file, s->system_store, NULL, NULL,
	    err, errlen)) == NULL) {
		dir_check_free(chk);
		return NULL;
	}
	return chk;
}

void
dir_check_free(dir_check_t *chk)
{
	if (chk == NULL)
		return;
	smime_trust_free(chk->trust);
	dir_crl_free(chk->crls);
	dir_verdict_free(chk->verdicts);
	dir_ocsp_free(chk->ocsp);
	free(chk);
}

/* One more trust anchor; before the store is shared (dir_lookup.h). */
int
dir_check_trust_add(dir_check_t *chk, X509 *cert)
{
	__atomic_add_fetch(&chk->trust_gen, 1, __ATOMIC_SEQ_CST);
	dir_verdict_clear(chk->verdicts);
	return smime_trust_add(chk->trust, cert);
}

dir_verdict_t *
dir_check_verdicts(dir_check_t *chk)
{
	return chk->verdicts;
}

/* The generation a verdict is kept for: anchors and CRLs (both grow). */
static unsigned long
check_gen(dir_check_t *chk)
{
	return __atomic_load_n(&chk->trust_gen, __ATOMIC_SEQ_CST)
	    + dir_crl_generation(chk->crls);
}

static time_t
asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	return t != NULL && ASN1_TIME_to_tm(t, &tm) ? timegm(&tm) : 0;
}

/* The window narrowed to end at until (0: unknown, nothing kept). */
static void
deps_until(check_deps_t *d, time_t until)
{
	if (d == NULL)
		return;
	if (until <= 0)
		d->keep = 0;
	else if (until < d->until)
		d->until = until;
}

/* The window narrowed to the validity of every certificate of chain. */
static void
deps_chain(check_deps_t *d, STACK_OF(X509) *chain)
{
	for (int i = 0; d != NULL && i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);
		time_t from = asn1_time(X509_get0_notBefore(x));

		if (from == 0)
			d->keep = 0;
		else if (from > d->from)
			d->from = from;
		deps_until(d, asn1_time(X509_get0_notAfter(x)));
	}
}

void
dir_check_cache_set(dir_check_t *chk, dir_cache_t *c)
{
	if (chk->ocsp != NULL)
		dir_ocsp_cache_set(chk->ocsp, c);
}

int
dir_check_is_ca(X509 *cert)
{
	return X509_check_ca(cert) != 0;
}

static int
names_address(X509 *cert, const char *address)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int found = 0;

	for (int i = 0; gens != NULL && !found && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *d;
		char *s;
		int len;

		if (g->type != GEN_EMAIL)
			continue;
		d = ASN1_STRING_get0_data(g->d.rfc822Name);
		len = ASN1_STRING_length(g->d.rfc822Name);
		if (len <= 0 || memchr(d, '\0', (size_t)len) != NULL)
			continue;
		if ((s = strndup((const char *)d, (size_t)len)) == NULL)
			break;
		found = util_addr_equal(s, address);
		free(s);
	}
	GENERAL_NAMES_free(gens);
	return found;
}

/* The http:// URIs of the CRL distribution points, up to CHECK_MAX_CDP. */
static int
cdp_urls(X509 *cert, char *urls[CHECK_MAX_CDP])
{
	STACK_OF(DIST_POINT) *dps = X509_get_ext_d2i(cert, NID_crl_distribution_points,
	    NULL, NULL);
	int n = 0;

	for (int i = 0; dps != NULL && i < sk_DIST_POINT_num(dps); i++) {
		DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
		GENERAL_NAMES *names;

		if (dp->distpoint == NULL || dp->distpoint->type != 0)
			continue;
		names = dp->distpoint->name.fullname;
		for (int j = 0; j < sk_GENERAL_NAME_num(names) && n < CHECK_MAX_CDP; j++) {
			GENERAL_NAME *g = sk_GENERAL_NAME_value(names, j);
			const unsigned char *d;
			int len;

			if (g->type != GEN_URI)
				continue;
			d = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
			len = ASN1_STRING_length(g->d.uniformResourceIdentifier);
			if (len > 7 && memchr(d, '\0', (size_t)len) == NULL &&
			    (urls[n] = strndup((const char *)d, (size_t)len)) != NULL)
				n++;
		}
	}
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
	return n;
}

/* The CRLs of cert; -1 when it names some and none could be had.  All
 * its distribution points together get CRLTimeout seconds. */
static int
crls_for(dir_check_t *chk, X509 *cert, STACK_OF(X509_CRL) *crls, check_deps_t *deps,
    char *why, size_t len)
{
	char *urls[CHECK_MAX_CDP];
	int n = cdp_urls(cert, urls), got = 0;
	time_t end = time(NULL) + chk->crl_timeout;

	for (int i = 0; i < n; i++) {
		long left = (long)(end - time(NULL));
		time_t until = 0;
		X509_CRL *crl = got || left <= 0 ? NULL
		    : dir_crl_get(chk->crls, urls[i], (int)left, &until,
		    deps != NULL ? &deps->fetches : NULL, why, len);

		if (crl != NULL && sk_X509_CRL_push(crls, crl)) {
			got = 1;
			deps_until(deps, until);
		} else
			X509_CRL_free(crl);
		free(urls[i]);
	}
	return n > 0 && !got ? -1 : got;
}

/* X509_verify_cert() of cert, with crls when not NULL: 1 good, 0 not
 * (why says so), -1 out of memory.  issuer (may be NULL): the certificate
 * that issued cert in the chain built (a new reference) when good. */
static int
verify_with(dir_check_t *chk, X509 *cert, STACK_OF(X509) *untrusted,
    STACK_OF(X509_CRL) *crls, X509 **issuer, check_deps_t *deps, char *why, size_t len)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok, e;

	if (ctx == NULL || !X509_STORE_CTX_init(ctx, smime_trust_store(chk->trust), cert, untrusted)) {
		X509_STORE_CTX_free(ctx);
		snprintf(why, len, "cannot set up the verification");
		return -1;
	}
	if (crls != NULL) {
		X509_STORE_CTX_set0_crls(ctx, crls);
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_CRL_CHECK);
	}
	if ((ok = X509_verify_cert(ctx) == 1) == 0) {
		e = X509_STORE_CTX_get_error(ctx);
		snprintf(why, len, "%s%s", X509_verify_cert_error_string(e),
		    e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
		    e == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
		    e == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ? " (untrusted)" : "");
	}
	if (ok)
		deps_chain(deps, X509_STORE_CTX_get0_chain(ctx));
	if (ok && issuer != NULL) {
		STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
		*issuer = sk_X509_num(chain) > 1 ? sk_X509_value(chain, 1) : NULL;
		if (*issuer != NULL)
			X509_up_ref(*issuer);
	}
	X509_STORE_CTX_free(ctx);
	return ok;
}

/* What OCSP says about cert (issued by issuer): DIR_OK or DIR_NOTFOUND
 * decided, DIR_ERR_UNAVAILABLE under OCSPUnavailable tempfail; -1: the
 * CRL decides (no responder named, or the fallback: *fallback set). */
static int
check_ocsp(dir_check_t *chk, X509 *cert, X509 *issuer, STACK_OF(X509) *untrusted,
    int *fallback, check_deps_t *deps, char *why, size_t len)
{
	dir_ocsp_result_t r;
	time_t until = 0;

	*fallback = 0;
	if (chk->ocsp == NULL || issuer == NULL)
		return -1;
	r = dir_ocsp_status(chk->ocsp, cert, issuer, smime_trust_store(chk->trust),
	    untrusted, &until, why, len);
	switch (r) {
	case DIR_OCSP_NONE:
		return -1;
	case DIR_OCSP_GOOD:
		deps_until(deps, until);
		return DIR_OK;
	case DIR_OCSP_REVOKED:
		return DIR_NOTFOUND;
	case DIR_OCSP_UNKNOWN:
		if (chk->ocsp_unknown == DIR_OCSP_UNKNOWN_REFUSE)
			return DIR_NOTFOUND;
		deps_until(deps, until);
		break;
	default:
		/* The CRL may decide, until the responder is asked again. */
		deps_until(deps, time(NULL) + CHECK_OCSP_RETRY);
		if (chk->ocsp_unavailable == DIR_OCSP_TEMPFAIL)
			return DIR_ERR_UNAVAILABLE;
		if (chk->ocsp_unavailable == DIR_OCSP_REFUSE)
			return DIR_NOTFOUND;
		if (chk->ocsp_unavailable == DIR_OCSP_ACCEPT) {
			deps_until(deps, 0);        /* rests on no answer */
			return DIR_OK;
		}
		break;
	}
	*fallback = 1;
	return -1;
}

/*
 * The chain first, without revocation: a certificate that does not chain
 * to a trust anchor is refused before anything it names is fetched (its
 * distribution points are anyone's choice).  Then OCSP (check_ocsp());
 * then, with CRLCheck or as OCSP's fallback, the CRL of its distribution
 * point, and the chain again with it.  A fallback to a certificate
 * without a CRL is handled as CRLUnavailable says.
 */
static dir_status_t
verify_chain(dir_check_t *chk, X509 *cert, STACK_OF(X509) *untrusted,
    check_deps_t *deps, char *why, size_t len)
{
	STACK_OF(X509_CRL) *crls = NULL;
	dir_status_t st = DIR_NOTFOUND;
	X509 *issuer = NULL;
	char owhy[256] = "";
	int r = verify_with(chk, cert, untrusted, NULL, &issuer, deps, why, len), have;
	int fallback = 0, o = r > 0 ? check_ocsp(chk, cert, issuer, untrusted, &fallback,
	    deps, owhy, sizeof(owhy)) : -1;

	if (o >= 0) {
		st = (dir_status_t)o;
		if (st != DIR_OK)
			snprintf(why, len, "%s", owhy);
		goto done;
	}
	if (r <= 0 || (!chk->crl_check && !fallback)) {
		st = r < 0 ? DIR_ERR_NOMEM : r > 0 ? DIR_OK : DIR_NOTFOUND;
		goto done;
	}
	if ((crls = sk_X509_CRL_new_null()) == NULL) {
		snprintf(why, len, "out of memory");
		st = DIR_ERR_NOMEM;
		goto done;
	}
	if ((have = crls_for(chk, cert, crls, deps, why, len)) < 0
	    || (have == 0 && fallback)) {
		if (have == 0)
			snprintf(why, len, "%s; no CRL to fall back to", owhy);
		deps_until(deps, 0);            /* rests on no answer */
		st = chk->crl_policy == DIR_CRL_TEMPFAIL ? DIR_ERR_UNAVAILABLE
		    : chk->crl_policy == DIR_CRL_REFUSE ? DIR_NOTFOUND : DIR_OK;
		goto done;
	}
	if (have == 0) {
		st = DIR_OK;            /* no http:// distribution point */
		goto done;
	}
	r = verify_with(chk, cert, untrusted, crls, NULL, deps, why, len);
	st = r < 0 ? DIR_ERR_NOMEM : r > 0 ? DIR_OK : DIR_NOTFOUND;
	if (fallback && st == DIR_NOTFOUND)
		snprintf(why + strlen(why), len - strlen(why), " (CRL; OCSP: %s)", owhy);
done:
	X509_free(issuer);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	ERR_clear_error();
	return st;
}

/*
 * The chain check of purpose, from a kept verdict when one holds; else
 * check() (verify_chain() or revoked_check()), its good verdict (DIR_OK)
 * kept when it rests on answers.  The generation is read before the
 * check; when it moved meanwhile by exactly the fetches this check made,
 * nobody else's CRL came in and the verdict is kept for the new one;
 * otherwise for the old one (stale at once: another CRL may have come in
 * after this check read its own).
 */
static dir_status_t
verdict_checked(dir_check_t *chk, int purpose, X509 *cert, STACK_OF(X509) *untrusted,
    dir_status_t (*check)(dir_check_t *, X509 *, STACK_OF(X509) *, check_deps_t *,
    char *, size_t), char *why, size_t len)
{
	unsigned char key[DIR_VERDICT_KEYLEN];
	unsigned long gen = check_gen(chk);
	int keyed = chk->verdicts != NULL
	    && dir_verdict_key(purpose, chk->policy, cert, untrusted, key) == 0;
	check_deps_t deps = { 0, LONG_MAX, 1, 0 };
	dir_status_t st;

	if (keyed && dir_verdict_get(chk->verdicts, key, gen, time(NULL))) {
		why[0] = '\0';
		return DIR_OK;
	}
	st = check(chk, cert, untrusted, &deps, why, len);
	if (deps.fetches > 0 && check_gen(chk) == gen + (unsigned long)deps.fetches)
		gen += (unsigned long)deps.fetches;
	if (keyed && st == DIR_OK && deps.keep)
		dir_verdict_put(chk->verdicts, key, gen, deps.from, deps.until);
	return st;
}

/*
 * Not known revoked (DIR_OK) when trusted (the chain first, as
 * verify_chain() does, so that nothing an untrusted certificate names is
 * fetched), a CRL to be had, and the chain with it holds; DIR_NOTFOUND
 * when it fails as revoked; else DIR_ERR_UNAVAILABLE (cannot be told).
 */
static dir_status_t
revoked_check(dir_check_t *chk, X509 *cert, STACK_OF(X509) *untrusted,
    check_deps_t *deps, char *why, size_t len)
{
	STACK_OF(X509_CRL) *crls;
	dir_status_t st = DIR_ERR_UNAVAILABLE;
	int r;

	if (verify_with(chk, cert, untrusted, NULL, NULL, deps, why, len) != 1)
		return DIR_ERR_UNAVAILABLE;
	if ((crls = sk_X509_CRL_new_null()) == NULL)
		return DIR_ERR_UNAVAILABLE;
	if ((r = crls_for(chk, cert, crls, deps, why, len)) == 0) {
		st = DIR_OK;                /* names no http:// CRL */
	} else if (r > 0) {
		r = verify_with(chk, cert, untrusted, crls, NULL, deps, why, len);
		if (r == 1)
			st = DIR_OK;
		else if (r == 0 && strstr(why, X509_verify_cert_error_string(
		    X509_V_ERR_CERT_REVOKED)) != NULL)
			st = DIR_NOTFOUND;
	}
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	ERR_clear_error();
	return st;
}

int
dir_check_revoked(dir_check_t *chk, X509 *cert, STACK_OF(X509) *untrusted,
    char *why, size_t len)
{
	why[0] = '\0';
	if (!chk->crl_check)
		return 0;
	return verdict_checked(chk, DIR_VERDICT_NOT_REVOKED, cert, untrusted,
	    revoked_check, why, len) == DIR_NOTFOUND;
}

dir_status_t
dir_check_cert(dir_check_t *chk, X509 *cert, STACK_OF(X509) *untrusted,
    const char *address, char *why, size_t len)
{
	uint32_t flags;

	if (!names_address(cert, address)) {
		snprintf(why, len, "does not name <%s> in subjectAltName", address);
		return DIR_NOTFOUND;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0) {
		snprintf(why, len, "not valid yet");
		return DIR_NOTFOUND;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
		snprintf(why, len, "expired");
		return DIR_NOTFOUND;
	}
	flags = X509_get_extension_flags(cert);
	if (flags & EXFLAG_INVALID) {
		snprintf(why, len, "malformed extensions");
		return DIR_NOTFOUND;
	}
	if ((flags & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(cert) & (KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT))) {
		snprintf(why, len, "keyUsage allows neither keyEncipherment nor keyAgreement");
		return DIR_NOTFOUND;
	}
	if ((flags & EXFLAG_XKUSAGE) && !(X509_get_extended_key_usage(cert) & XKU_SMIME)) {
		snprintf(why, len, "extendedKeyUsage lacks emailProtection");
		return DIR_NOTFOUND;
	}
	if (X509_get0_pubkey(cert) == NULL) {
		snprintf(why, len, "unusable public key");
		return DIR_NOTFOUND;
	}
	return verdict_checked(chk, DIR_VERDICT_ENCRYPT, cert, untrusted, verify_chain,
	    why, len);
}
