/*
 * ca_cmp.c: certificates from an external CA over CMP (see ca_cmp.h);
 * the key is escrowed through keystore's public API, with the origin
 * (keystore_escrow_origin()) that lets the renewal find its way back.
 */
#include "ca/ca_cmp.h"
#include "ca/ca_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/cmp.h>
#include <openssl/x509v3.h>

/* What the answer must be (ca_cmp_answer_ok()); the certConf callback's
 * argument. */
typedef struct cmp_want {
	const char *address;
	EVP_PKEY *key;              /* the new key */
	X509 *issuer;               /* renewal: the old certificate's issuer */
	char why[200];
} cmp_want_t;

int
ca_cmp_origin(const ca_cmp_settings_t *s, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s%s %s %s", CA_CMP_ORIGIN, s->server,
	    *s->path ? s->path : "-", s->reference && *s->reference ? s->reference : "-");

	return n > 0 && (size_t)n < size && n <= KEYSTORE_ORIGIN_MAX
	    && strpbrk(buf, "\r\n") == NULL ? 0 : -1;
}

/* The subjectAltName rfc822Name (openssl cmp -sans would make a DNS name). */
static int
cmp_san(OSSL_CMP_CTX *ctx, const char *address)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
	int ok = gn != NULL && ia5 != NULL && ASN1_STRING_set(ia5, address, -1);

	if (ok) {
		GENERAL_NAME_set0_value(gn, GEN_EMAIL, ia5);
		ia5 = NULL;
		ok = OSSL_CMP_CTX_push1_subjectAltName(ctx, gn);
	}
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(gn);
	return ok;
}

/* 1 when every address x names (rfc822Name, emailAddress) is address,
 * and it names one at least. */
static int
names_only(X509 *x, const char *address)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	X509_NAME *subj = X509_get_subject_name(x);
	int n = 0, ok = 1, i = -1;
	ASN1_STRING *v;

	for (int k = 0; ok && k < sk_GENERAL_NAME_num(gens); k++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, k);

		if (g->type != GEN_EMAIL)
			continue;
		v = g->d.rfc822Name;
		ok = (size_t)v->length == strlen(address)
		    && strncasecmp((const char *)v->data, address, strlen(address)) == 0;
		n++;
	}
	GENERAL_NAMES_free(gens);
	while (ok && (i = X509_NAME_get_index_by_NID(subj, NID_pkcs9_emailAddress, i)) >= 0) {
		v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
		ok = (size_t)v->length == strlen(address)
		    && strncasecmp((const char *)v->data, address, strlen(address)) == 0;
		n++;
	}
	return ok && n > 0;
}

/* 0 when x is what w asked for, else -1 with w->why. */
static int
answer_check(X509 *x, cmp_want_t *w)
{
	EVP_PKEY *ik = w->issuer != NULL ? X509_get0_pubkey(w->issuer) : NULL;

	if (!names_only(x, w->address))
		snprintf(w->why, sizeof(w->why), "the certificate names another address than %s",
		    w->address);
	else if (X509_check_private_key(x, w->key) != 1)
		snprintf(w->why, sizeof(w->why), "the certificate is for another key than ours");
	else if (w->issuer != NULL && (X509_check_issued(w->issuer, x) != X509_V_OK
	    || ik == NULL || X509_verify(x, ik) != 1))
		snprintf(w->why, sizeof(w->why), "the certificate is not from the CA that "
		    "issued the old one");
	else
		return 0;
	return -1;
}

/* OpenSSL's certConf callback: a wrong answer is refused in the
 * certConf, so that the server knows too. */
static int
cmp_confirm(OSSL_CMP_CTX *ctx, X509 *cert, int fail_info, const char **text)
{
	cmp_want_t *w = OSSL_CMP_CTX_get_certConf_cb_arg(ctx);

	if (fail_info != 0 || w == NULL)
		return fail_info;
	if (answer_check(cert, w) != 0) {
		*text = w->why;
		return 1 << OSSL_CMP_PKIFAILUREINFO_badCertTemplate;
	}
	return 0;
}

/* A context for address's request with key: server, timeouts, name. */
static OSSL_CMP_CTX *
cmp_ctx(const ca_cmp_settings_t *s, const char *address, EVP_PKEY *key,
    cmp_want_t *w)
{
	OSSL_CMP_CTX *ctx = OSSL_CMP_CTX_new(NULL, NULL);
	char host[256];
	const char *colon = strrchr(s->server, ':');
	X509_NAME *name = ca_make_name(s->subject, address, NULL);
	int ok = ctx != NULL && name != NULL && colon != NULL
	    && (size_t)(colon - s->server) < sizeof(host);

	if (ok) {
		snprintf(host, sizeof(host), "%.*s", (int)(colon - s->server), s->server);
		ok = OSSL_CMP_CTX_set1_server(ctx, host)
		    && OSSL_CMP_CTX_set_serverPort(ctx, atoi(colon + 1))
		    && OSSL_CMP_CTX_set1_serverPath(ctx, s->path)
		    && OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_MSG_TIMEOUT, s->timeout)
		    && OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_TOTAL_TIMEOUT, s->timeout)
		    && OSSL_CMP_CTX_set1_subjectName(ctx, name) && cmp_san(ctx, address)
		    && OSSL_CMP_CTX_set_certConf_cb(ctx, cmp_confirm)
		    && OSSL_CMP_CTX_set_certConf_cb_arg(ctx, w)
		    && EVP_PKEY_up_ref(key);
		if (ok && !OSSL_CMP_CTX_set0_newPkey(ctx, 1, key)) {
			EVP_PKEY_free(key);
			ok = 0;
		}
	}
	X509_NAME_free(name);
	if (!ok) {
		OSSL_CMP_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* The shared secret's protection (PBM): ir. */
static int
cmp_secret(OSSL_CMP_CTX *ctx, const ca_cmp_settings_t *s)
{
	return s->secret != NULL
	    && OSSL_CMP_CTX_set1_referenceValue(ctx, (const unsigned char *)s->reference,
	    (int)strlen(s->reference))
	    && OSSL_CMP_CTX_set1_secretValue(ctx, (const unsigned char *)s->secret,
	    (int)strlen(s->secret));
}

/* The status the server gave, for the message. */
static void
cmp_why(OSSL_CMP_CTX *ctx, char *buf, size_t size)
{
	if (OSSL_CMP_CTX_get_status(ctx) < 0 || OSSL_CMP_CTX_snprint_PKIStatus(ctx, buf, size) == NULL)
		snprintf(buf, size, "no answer");
}

/* The CA certificates that came with the answer: extraCerts and caPubs. */
static STACK_OF(X509) *
cmp_chain(OSSL_CMP_CTX *ctx)
{
	STACK_OF(X509) *chain = OSSL_CMP_CTX_get1_extraCertsIn(ctx);
	STACK_OF(X509) *pubs = OSSL_CMP_CTX_get1_caPubs(ctx);
	X509 *x;

	if (chain == NULL && (chain = sk_X509_new_null()) == NULL) {
		sk_X509_pop_free(pubs, X509_free);
		return NULL;
	}
	while ((x = sk_X509_shift(pubs)) != NULL)
		if (X509_check_ca(x) == 0 || !sk_X509_push(chain, x))
			X509_free(x);
	sk_X509_free(pubs);
	return chain;
}

static keystore_status_t
cmp_escrow(keystore_t *ks, const ca_cmp_settings_t *s, OSSL_CMP_CTX *ctx, X509 *cert,
    EVP_PKEY *key, keystore_err_t *err)
{
	STACK_OF(X509) *chain = cmp_chain(ctx);
	char origin[KEYSTORE_ORIGIN_MAX + 1];
	keystore_status_t rc;

	if (chain == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	if (ca_cmp_origin(s, origin, sizeof(origin)) != 0)
		rc = util_err_set(err, KEYSTORE_ERR_INPUT, "CMP %s: the server's name is too "
		    "long to record", s->server);
	else
		rc = keystore_escrow_origin(ks, cert, chain, key, origin, err);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

/* Runs the request (OSSL_CMP_IR or OSSL_CMP_KUR) set up in ctx and
 * escrows the answer's certificate with k: *out. */
static keystore_status_t
cmp_exec(keystore_t *ks, const ca_cmp_settings_t *s, OSSL_CMP_CTX *ctx, int type,
    cmp_want_t *w, X509 **out, keystore_err_t *err)
{
	char status[300];
	X509 *x;

	*out = NULL;
	if ((x = OSSL_CMP_exec_certreq(ctx, type, NULL)) == NULL) {
		cmp_why(ctx, status, sizeof(status));
		return util_err_ssl(err, KEYSTORE_ERR_IO, "CMP %s: no certificate for %s (%s%s%s)",
		    s->server, w->address, status, *w->why ? "; refused: " : "", w->why);
	}
	if (answer_check(x, w) != 0)       /* as the certConf said; never installed */
		return util_err_set(err, KEYSTORE_ERR_INPUT, "CMP %s: answer for %s refused: %s",
		    s->server, w->address, w->why);
	if ((*out = X509_dup(x)) == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	return cmp_escrow(ks, s, ctx, *out, w->key, err);
}

keystore_status_t
ca_cmp_enroll(keystore_t *ks, const ca_cmp_settings_t *s,
    const char *address, EVP_PKEY *key, X509 **cert, keystore_err_t *err)
{
	EVP_PKEY *k = key;
	OSSL_CMP_CTX *ctx = NULL;
	cmp_want_t w = { address, NULL, NULL, "" };
	X509 *x = NULL;
	keystore_status_t rc;

	if (k == NULL)
		k = ca_new_key(s->key_type);
	else
		EVP_PKEY_up_ref(k);
	w.key = k;
	if (k == NULL || (ctx = cmp_ctx(s, address, k, &w)) == NULL || !cmp_secret(ctx, s))
		rc = util_err_ssl(err, KEYSTORE_ERR_INPUT, "CMP %s: cannot set up the request",
		    s->server);
	else
		rc = cmp_exec(ks, s, ctx, OSSL_CMP_IR, &w, &x, err);
	OSSL_CMP_CTX_free(ctx);
	EVP_PKEY_free(k);
	if (rc == KEYSTORE_OK && cert != NULL)
		*cert = x;
	else
		X509_free(x);
	return rc;
}

/* ---- renewal ---- */

/* The certificate of chain that issued x (its signature verifies), or NULL. */
static X509 *
issuer_in(STACK_OF(X509) *chain, X509 *x)
{
	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *c = sk_X509_value(chain, i);
		EVP_PKEY *k = X509_get0_pubkey(c);

		if (X509_check_issued(c, x) == X509_V_OK && k != NULL && X509_verify(x, k) == 1)
			return c;
	}
	return NULL;
}

/* The old certificate's issuer and those above it, from its chain: what
 * the server's signature on a kur answer must chain to.  *issuer
 * (borrowed from chain) is the first; NULL when the chain lacks it. */
static X509_STORE *
issuer_store(X509 *old, STACK_OF(X509) *chain, X509 **issuer)
{
	X509_STORE *st = X509_STORE_new();
	X509 *cur = old, *up;

	*issuer = NULL;
	for (int depth = 0; st != NULL && depth < 8; depth++) {
		if ((up = issuer_in(chain, cur)) == NULL || !X509_STORE_add_cert(st, up))
			break;
		if (*issuer == NULL)
			*issuer = up;
		if (X509_check_issued(up, up) == X509_V_OK)
			break;
		cur = up;
	}
	if (*issuer == NULL) {
		X509_STORE_free(st);
		return NULL;
	}
	X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
	return st;
}

/* A kur: signed with the old key, the answer signed by the old
 * certificate's CA. */
static int
cmp_kur(OSSL_CMP_CTX *ctx, const ca_cmp_old_t *old, cmp_want_t *w)
{
	X509_STORE *st = issuer_store(old->cert, old->chain, &w->issuer);

	if (st == NULL)
		return 0;
	if (!OSSL_CMP_CTX_set0_trustedStore(ctx, st)) {
		X509_STORE_free(st);
		return 0;
	}
	return OSSL_CMP_CTX_set1_untrusted(ctx, old->chain)
	    && OSSL_CMP_CTX_set1_cert(ctx, old->cert) && OSSL_CMP_CTX_set1_pkey(ctx, old->key)
	    && OSSL_CMP_CTX_set1_oldCert(ctx, old->cert);
}

keystore_status_t
ca_cmp_renew(keystore_t *ks, const ca_cmp_settings_t *s, const char *address,
    const ca_cmp_old_t *old, int kur, X509 **cert, keystore_err_t *err)
{
	EVP_PKEY *k = ca_new_key(s->key_type);
	OSSL_CMP_CTX *ctx = NULL;
	cmp_want_t w = { address, k, NULL, "" };
	X509 *x = NULL;
	keystore_status_t rc;

	if (!kur)
		w.issuer = issuer_in(old->chain, old->cert);   /* when the chain has it */
	if (k == NULL || (ctx = cmp_ctx(s, address, k, &w)) == NULL)
		rc = util_err_ssl(err, KEYSTORE_ERR_INPUT, "CMP %s: cannot set up the request",
		    s->server);
	else if (kur && !cmp_kur(ctx, old, &w))
		rc = util_err_ssl(err, KEYSTORE_ERR_INPUT, "CMP %s: cannot set up the key update "
		    "(the old certificate's CA is not in its chain: CMPRenewal ir?)", s->server);
	else if (!kur && !cmp_secret(ctx, s))
		rc = util_err_ssl(err, KEYSTORE_ERR_INPUT, "CMP %s: cannot set up the request "
		    "(CMPSecretFile?)", s->server);
	else
		rc = cmp_exec(ks, s, ctx, kur ? OSSL_CMP_KUR : OSSL_CMP_IR, &w, &x, err);
	OSSL_CMP_CTX_free(ctx);
	EVP_PKEY_free(k);
	if (rc == KEYSTORE_OK && cert != NULL)
		*cert = x;
	else
		X509_free(x);
	return rc;
}
