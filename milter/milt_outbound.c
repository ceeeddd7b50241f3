/*
 * milt_outbound.c: what happens to outbound mail: the signing-oracle check
 * (may this login sign as the From address?), the signer's key from the
 * keystore, and signing through smime/.  Fills the message's result.
 */
#include "milter/milt_outbound.h"
#include "milter/milt_policy.h"
#include "directory/dir_map.h"
#include "smime/smime.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <gmime/gmime.h>
#include <openssl/bn.h>
#include <openssl/x509.h>

/* The one mailbox of the From header, malloc'ed, or NULL. */
static char *
from_address(const milt_msg_t *m)
{
	const char *value = milt_msg_header(m, "From");
	InternetAddressList *list;
	InternetAddress *ia;
	char *addr = NULL;

	if (value == NULL)
		return NULL;
	list = internet_address_list_parse(NULL, value);
	if (list == NULL)
		return NULL;
	if (internet_address_list_length(list) == 1) {
		ia = internet_address_list_get_address(list, 0);
		if (INTERNET_ADDRESS_IS_MAILBOX(ia))
			addr = strdup(internet_address_mailbox_get_addr(
			    INTERNET_ADDRESS_MAILBOX(ia)));
	}
	g_object_unref(list);
	return addr;
}

/* The signing-oracle check: may this client have mail signed as addr? */
static int
signer_authorized(const milt_msg_t *m, const char *addr)
{
	const dir_map_t *map = m->conf->signer_map;

	if (m->auth == NULL)
		return m->client_internal;
	if (map != NULL && dir_map_has_login(map, m->auth))
		return dir_map_allows(map, m->auth, addr);
	return keystore_addr_equal(m->auth, addr);
}

/* Joins the Content-* headers (not MIME-Version) as "Name: value\n" lines. */
static char *
content_headers(const milt_msg_t *m)
{
	size_t len = 1, off = 0;
	char *s;

	for (size_t i = 0; i < m->nhdrs; i++)
		if (strncasecmp(m->hdrs[i].name, "Content-", 8) == 0)
			len += strlen(m->hdrs[i].name) + strlen(m->hdrs[i].value) + 3;
	if ((s = malloc(len)) == NULL)
		return NULL;
	for (size_t i = 0; i < m->nhdrs; i++)
		if (strncasecmp(m->hdrs[i].name, "Content-", 8) == 0)
			off += (size_t)sprintf(s + off, "%s: %s\n", m->hdrs[i].name,
			    m->hdrs[i].value);
	s[off] = '\0';
	return s;
}

static int
result_take_headers(milt_result_t *r, const smime_sign_t *s)
{
	size_t n = smime_sign_nheaders(s);

	r->add_name = calloc(n ? n : 1, sizeof(char *));
	r->add_value = calloc(n ? n : 1, sizeof(char *));
	if (r->add_name == NULL || r->add_value == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		r->add_name[i] = strdup(smime_sign_header_name(s, i));
		r->add_value[i] = strdup(smime_sign_header_value(s, i));
		r->nadd = i + 1;
		if (r->add_name[i] == NULL || r->add_value[i] == NULL)
			return -1;
	}
	return 0;
}

/* What the audit log records of the signer's certificate. */
static void
result_cert_facts(milt_result_t *r, EVP_PKEY *key, X509 *cert)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;

	if (X509_digest(cert, EVP_sha256(), md, &mdlen))
		for (unsigned i = 0; i < mdlen && i < 32; i++)
			sprintf(r->signer_sha256 + 2 * i, "%02x", md[i]);
	snprintf(r->signer_serial, sizeof(r->signer_serial), "%s", hex ? hex : "");
	snprintf(r->sig_alg, sizeof(r->sig_alg), "%s",
	    EVP_PKEY_get_base_id(key) == EVP_PKEY_EC ? "ecdsa-with-SHA256"
	    : "sha256WithRSAEncryption");
	OPENSSL_free(hex);
	BN_free(bn);
}

/* Signs the message as addr with the given key; fills the result. */
static void
sign_with(milt_msg_t *m, const char *addr, EVP_PKEY *key, X509 *cert,
    STACK_OF(X509) *chain)
{
	milt_result_t *r = &m->result;
	smime_sign_t *s = smime_sign_new();
	char *chdrs = content_headers(m);
	smime_body_t body = { NULL, 0, -1 };
	smime_status_t st;

	r->new_body = milt_spool_new(m->conf->spool_dir, (size_t)m->conf->spool_memory,
	    LLONG_MAX);
	if (s == NULL || chdrs == NULL || r->new_body == NULL) {
		milt_msg_fail(m, MILT_FAIL_INTERNAL, "out of memory");
		goto done;
	}
	body.mem = milt_spool_mem(m->body, &body.len);
	body.fd = milt_spool_fd(m->body);
	smime_sign_set_opaque(s, m->conf->signing_mode == MILT_SIGN_OPAQUE);
	smime_sign_set_tmpdir(s, m->conf->spool_dir, (size_t)m->conf->spool_memory);
	smime_sign_set_limits(s, (unsigned)m->conf->max_mime_parts,
	    (unsigned)m->conf->max_mime_depth);
	st = smime_sign_set_signer(s, key, cert, chain);
	if (st == SMIME_OK)
		st = smime_sign_run(s, chdrs, &body, milt_spool_writer, r->new_body);
	if (st != SMIME_OK) {
		char why[512];
		snprintf(why, sizeof(why), "signing failed: %s", smime_sign_error(s));
		if (st == SMIME_ERR_LIMIT)
			m->over_limit = MILT_LIMIT_MIME;
		milt_msg_fail(m, st == SMIME_ERR_LIMIT ? MILT_FAIL_LIMIT : MILT_FAIL_INTERNAL, why);
		goto done;
	}
	if (result_take_headers(r, s) != 0) {
		milt_msg_fail(m, MILT_FAIL_INTERNAL, "out of memory");
		goto done;
	}
	r->what = MILT_DO_REPLACE;
	r->action = "signed";
	snprintf(r->signer, sizeof(r->signer), "%s", addr);
	result_cert_facts(r, key, cert);
done:
	if (r->what != MILT_DO_REPLACE) {
		milt_spool_free(r->new_body);
		r->new_body = NULL;
	}
	free(chdrs);
	smime_sign_free(s);
}

/* An outbound message: sign it when we may and can. */
void
milt_outbound_process(milt_msg_t *m)
{
	smime_kind_t kind = smime_classify(milt_msg_header(m, "Content-Type"));
	char *addr = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *chain = NULL;
	keystore_err_t kerr;
	keystore_status_t ks;
	int sign;

	if (milt_policy_outbound(m, &sign))
		return;
	if (!m->conf->sign_outbound)
		return milt_msg_pass(m, "pass", "signing disabled (Sign no)");
	if (kind == SMIME_KIND_SIGNED)
		return milt_msg_pass(m, "pass", "already signed");
	if (kind == SMIME_KIND_ENCRYPTED)
		return milt_msg_pass(m, "pass", "already encrypted");
	if (!sign)
		return milt_msg_pass(m, "unsigned", "policy: sign=no for every recipient");
	if ((addr = from_address(m)) == NULL)
		return milt_msg_pass(m, "unsigned", "no single From address");
	if (!milt_conf_is_local_domain(m->conf, milt_addr_domain(addr))) {
		milt_msg_pass(m, "unsigned", "From <%s> is not in LocalDomains", addr);
	} else if (!signer_authorized(m, addr)) {
		char why[512];
		snprintf(why, sizeof(why), "login %s may not sign as <%s>", m->auth, addr);
		if (m->conf->on_unauthorized_sender == MILT_UNAUTH_REJECT)
			milt_msg_fail(m, MILT_FAIL_UNAUTHORIZED, why);
		else
			milt_msg_pass(m, "unsigned", "%s", why);
	} else if ((ks = keystore_signer(m->keystore, addr, &key, &cert, &chain,
	    &kerr)) == KEYSTORE_NOTFOUND) {
		milt_msg_pass(m, "unsigned", "%s", kerr.msg);
	} else if (ks != KEYSTORE_OK) {
		milt_msg_fail(m, MILT_FAIL_INTERNAL, kerr.msg);
	} else {
		sign_with(m, addr, key, cert, chain);
	}
	EVP_PKEY_free(key);
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	free(addr);
}

