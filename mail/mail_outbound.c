/*
 * mail_outbound.c: what happens to outbound mail: the policy (mail_policy.c,
 * which looks the recipients' certificates up), the signing-oracle check
 * (may this login sign as the From address?), the signer's key from the
 * keystore, signing, then encryption through smime/.  Fills the message's
 * result.  A message that must be encrypted never leaves in clear: a
 * lookup that cannot be answered or an encryption that fails is a tempfail.
 */
#include "ops/ops_keystore.h"
#include "enroll/enroll.h"
#include "mail/mail_outbound.h"
#include "directory/dir_lookup.h"
#include "mail/mail_policy.h"
#include "directory/dir_map.h"
#include "ops/ops_log.h"
#include "smime/smime.h"
#include "util/util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <gmime/gmime.h>
#include <openssl/bn.h>
#include <openssl/x509.h>

/* The signing-oracle check: may this client have mail signed as addr? */
static int
signer_authorized(const mail_msg_t *m, const char *addr)
{
	const dir_map_t *map = m->conf->signer_map;

	if (m->auth == NULL)
		return m->client_internal;
	if (map != NULL && dir_map_has_login(map, m->auth))
		return dir_map_allows(map, m->auth, addr);
	return util_addr_equal(m->auth, addr);
}

/* A client the gateway may sign for at all: a login, or InternalHosts
 * (a sendmail(1) submission only with LocalSubmissionInternal).  Mail of
 * any other client is outbound when it leaves (mail_msg_outbound()),
 * never signed, and not refused by UnauthorizedSender reject: it claims
 * nothing. */
static int
client_trusted(const mail_msg_t *m)
{
	return m->auth != NULL || m->client_internal;
}

/* Why the check refused: the login, or the client without one. */
static void
unauthorized_why(const mail_msg_t *m, const char *addr, char *why, size_t len)
{
	if (m->auth != NULL)
		snprintf(why, len, "login %s may not sign as <%s>", m->auth, addr);
	else
		snprintf(why, len, "not signed: the client (no login, not in "
		    "InternalHosts) is not trusted to sign as <%s>", addr);
}

/* UnauthorizedSender reject applies to a trusted client claiming an
 * address it may not sign as, never to an untrusted one. */
static int
unauthorized_rejects(const mail_msg_t *m)
{
	return m->conf->on_unauthorized_sender == CONF_UNAUTH_REJECT && client_trusted(m);
}

int
mail_outbound_signer(mail_msg_t *m)
{
	smime_kind_t kind = smime_classify(mail_msg_header(m, "Content-Type"));
	char *addr, why[512];
	int rc = 0;

	m->sign_denied = 0;
	if (!m->conf->sign_outbound || m->sender == NULL || m->sender[0] == '\0'
	    || kind == SMIME_KIND_SIGNED || mail_msg_encrypted(m) == 1
	    || (addr = mail_msg_from_address(m)) == NULL)
		return 0;
	if (conf_is_local_domain(m->conf, util_addr_domain(addr))
	    && !signer_authorized(m, addr)) {
		m->sign_denied = 1;
		if (unauthorized_rejects(m)) {
			unauthorized_why(m, addr, why, sizeof(why));
			mail_msg_fail(m, MAIL_FAIL_UNAUTHORIZED, why);
			rc = 1;
		}
	}
	free(addr);
	return rc;
}

static int
result_take_headers(mail_result_t *r, const smime_sign_t *s)
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
result_cert_facts(mail_result_t *r, EVP_PKEY *key, X509 *cert)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;

	if (X509_digest(cert, util_alg_sha256(), md, &mdlen))
		util_hex(r->signer_sha256, md, mdlen < 32 ? mdlen : 32);
	snprintf(r->signer_serial, sizeof(r->signer_serial), "%s", hex ? hex : "");
	snprintf(r->sig_alg, sizeof(r->sig_alg), "%s",
	    EVP_PKEY_get_base_id(key) == EVP_PKEY_EC ? "ecdsa-with-SHA256"
	    : "sha256WithRSAEncryption");
	OPENSSL_free(hex);
	BN_free(bn);
}

/* ---- header protection (RFC 9788) ---- */

/* The message's header fields as they would leave (the result's
 * strips and sets applied: a Subject tag the policy took out), for the
 * payload; the fields point into m and its result. */
typedef struct hp_plan {
	smime_hp_out_t out;         /* mode NONE: no header protection */
	smime_hp_field_t *fields;
} hp_plan_t;

/* 1 when every recipient's form says header-protection=on. */
static int
hp_wanted(const mail_msg_t *m)
{
	const mail_policy_res_t *pol = m->result.policy;

	if (pol == NULL || pol->forms == NULL || pol->res.n == 0)
		return 0;
	for (size_t i = 0; i < pol->res.n; i++)
		if (!pol->forms[i].hp)
			return 0;
	return 1;
}

/* Our own fields (the result header, the re-injection mark) are not
 * the sender's: they never go inside. */
static int
hp_ours(const mail_msg_t *m, const char *name)
{
	return strcasecmp(name, m->conf->result_header) == 0
	    || strcasecmp(name, QUEUE_MARK_HEADER) == 0;
}

/* 0, or -1 out of memory. */
static int
hp_prepare(mail_msg_t *m, int encrypt, hp_plan_t *p)
{
	const mail_result_t *r = &m->result;
	size_t n = 0;

	memset(p, 0, sizeof(*p));
	if (!hp_wanted(m))
		return 0;
	if ((p->fields = calloc(m->nhdrs + r->nset + 1, sizeof(*p->fields))) == NULL)
		return -1;
	for (size_t i = 0; i < m->nhdrs; i++)
		if (!mail_result_strips(r, m->hdrs[i].name) && !hp_ours(m, m->hdrs[i].name)) {
			p->fields[n].name = m->hdrs[i].name;
			p->fields[n++].value = m->hdrs[i].value;
		}
	for (size_t i = 0; i < r->nset; i++)
		if (!hp_ours(m, r->set_name[i])) {
			p->fields[n].name = r->set_name[i];
			p->fields[n++].value = r->set_value[i];
		}
	p->out.mode = encrypt ? SMIME_HP_CIPHER : SMIME_HP_CLEAR;
	p->out.fields = p->fields;
	p->out.n = n;
	p->out.legacy_display = 1;
	return 0;
}

/* The outer field name becomes value (NULL: removed), after whatever
 * the result already did to it.  0, or -1 out of memory. */
static int
hp_outer_set(mail_result_t *r, const char *name, const char *value)
{
	if (!mail_result_strips(r, name) && mail_result_strip(r, name) != 0)
		return -1;
	for (size_t i = 0; i < r->nset; i++) {
		char *v;

		if (strcasecmp(r->set_name[i], name) != 0)
			continue;
		if (value != NULL) {
			if ((v = strdup(value)) == NULL)
				return -1;
			free(r->set_value[i]);
			r->set_value[i] = v;
			return 0;
		}
		free(r->set_name[i]);
		free(r->set_value[i]);
		memmove(&r->set_name[i], &r->set_name[i + 1], (r->nset - i - 1) * sizeof(char *));
		memmove(&r->set_value[i], &r->set_value[i + 1], (r->nset - i - 1) * sizeof(char *));
		r->nset--;
		return 0;
	}
	return value != NULL ? mail_result_set(r, name, value) : 0;
}

/* After the payload was encrypted with its fields inside: the outer
 * ones obscured by the baseline policy (smime_hp_baseline()).  The new
 * values are copied first: hp_outer_set() frees what fields point to. */
static int
hp_obscure(mail_msg_t *m, const hp_plan_t *p)
{
	for (size_t i = 0; i < p->out.n; i++) {
		const char *name = p->out.fields[i].name, *v = p->out.fields[i].value;
		const char *outer = smime_hp_baseline(name, v);
		char nm[128];

		if (outer == v || !smime_hp_protectable(name))
			continue;
		snprintf(nm, sizeof(nm), "%s", name);
		if (hp_outer_set(&m->result, nm, outer) != 0)
			return -1;
	}
	return 0;
}

/*
 * Signs the message as addr with the given key; fills the result.  enc
 * (may be NULL) is the signer's encryption certificate (keyUsage
 * keyEncipherment or keyAgreement, never a signing-only one, from the
 * same keystore lookup as the key), carried in the signature and named by
 * its key preference, so that partners reply to it.  None in the
 * keystore: the signature names none.
 */
static void
sign_with(mail_msg_t *m, const char *addr, EVP_PKEY *key, X509 *cert,
    STACK_OF(X509) *chain, X509 *enc, const hp_plan_t *hp)
{
	mail_result_t *r = &m->result;
	smime_sign_t *s = smime_sign_new();
	char *chdrs = mail_msg_content_headers(m);
	smime_body_t body = { NULL, 0, -1 };
	smime_status_t st;

	r->new_body = mail_spool_new(m->conf->spool_dir, (size_t)m->conf->spool_memory,
	    LLONG_MAX);
	if (s == NULL || chdrs == NULL || r->new_body == NULL) {
		mail_msg_fail(m, MAIL_FAIL_INTERNAL, "out of memory");
		goto done;
	}
	body.mem = mail_spool_mem(m->body, &body.len);
	body.fd = mail_spool_fd(m->body);
	smime_sign_set_opaque(s, m->conf->signing_mode == CONF_SIGN_OPAQUE);
	smime_sign_set_tmpdir(s, m->conf->spool_dir, (size_t)m->conf->spool_memory);
	smime_sign_set_limits(s, (unsigned)m->conf->max_mime_parts,
	    (unsigned)m->conf->max_mime_depth);
	smime_sign_set_hp(s, &hp->out);
	st = smime_sign_set_signer(s, key, cert, chain);
	if (st == SMIME_OK && enc != NULL)
		st = smime_sign_set_encryption_cert(s, enc);
	if (st == SMIME_OK)
		st = smime_sign_run(s, chdrs, &body, mail_spool_writer, r->new_body);
	if (st != SMIME_OK) {
		char why[512];
		snprintf(why, sizeof(why), "signing failed: %s", smime_sign_error(s));
		if (st == SMIME_ERR_LIMIT)
			m->over_limit = MAIL_LIMIT_MIME;
		mail_msg_fail(m, st == SMIME_ERR_LIMIT ? MAIL_FAIL_LIMIT : MAIL_FAIL_INTERNAL, why);
		goto done;
	}
	if (result_take_headers(r, s) != 0) {
		mail_msg_fail(m, MAIL_FAIL_INTERNAL, "out of memory");
		goto done;
	}
	r->what = MAIL_DO_REPLACE;
	r->action = "signed";
	if (hp->out.mode != SMIME_HP_NONE)
		snprintf(r->hp, sizeof(r->hp), "%s", smime_hp_mode_name(hp->out.mode));
	snprintf(r->signer, sizeof(r->signer), "%s", addr);
	result_cert_facts(r, key, cert);
done:
	if (r->what != MAIL_DO_REPLACE) {
		mail_spool_free(r->new_body);
		r->new_body = NULL;
	}
	free(chdrs);
	smime_sign_free(s);
}

/* What may not sign although the keystore would take it: a certificate
 * revoked at the embedded CA (its record), or else known revoked by its
 * CRL (CRLCheck; the lookup's cache).  revoked is set when one was. */
struct signer_check {
	const conf_t *conf;
	int revoked;
	char why[256];
};

static const char *
signer_refused(X509 *cert, STACK_OF(X509) *chain, void *arg)
{
	struct signer_check *c = arg;
	int r = enroll_ca_revoked(cert);

	if (r < 0 && c->conf->lookup != NULL)
		r = dir_lookup_revoked(c->conf->lookup, cert, chain, c->why,
		    sizeof(c->why)) == 1 ? 2 : 0;
	if (r > 0)
		c->revoked = 1;
	return r == 1 ? "revoked at the embedded CA" : r == 2 ? "revoked (CRL)" : NULL;
}

/* Signing: fills the result (REPLACE when signed).  *signer gets the
 * signer's certificate (a new reference) when it signed, *signer_enc its
 * address's encryption certificate (a new reference, or NULL: none). */
static void
sign_step(mail_msg_t *m, smime_kind_t kind, int sign, X509 **signer,
    X509 **signer_enc, const hp_plan_t *hp)
{
	char *addr = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL, *enc = NULL;
	STACK_OF(X509) *chain = NULL;
	keystore_err_t kerr;
	keystore_status_t ks;
	struct signer_check chk = { m->conf, 0, "" };

	if (!m->conf->sign_outbound)
		return mail_msg_pass(m, "pass", "signing disabled (Sign no)");
	if (kind == SMIME_KIND_SIGNED)
		return mail_msg_pass(m, "pass", "already signed");
	if (m->sender == NULL || m->sender[0] == '\0')
		return mail_msg_pass(m, "unsigned", "the null sender is not signed for");
	if (!sign)
		return mail_msg_pass(m, "unsigned", "policy: sign=no for every recipient");
	if ((addr = mail_msg_from_address(m)) == NULL)
		return mail_msg_pass(m, "unsigned", "no single From address");
	if (!conf_is_local_domain(m->conf, util_addr_domain(addr))) {
		mail_msg_pass(m, "unsigned", "From <%s> is not in LocalDomains", addr);
	} else if (m->sign_denied || !signer_authorized(m, addr)) {
		char why[512];
		unauthorized_why(m, addr, why, sizeof(why));
		if (unauthorized_rejects(m))
			mail_msg_fail(m, MAIL_FAIL_UNAUTHORIZED, why);
		else
			mail_msg_pass(m, "unsigned", "%s", why);
	} else if ((ks = keystore_signer_enc(m->keystore, addr, signer_refused,
	    &chk, &key, &cert, &chain, &enc, &kerr)) == KEYSTORE_NOTFOUND && !chk.revoked
	    && enroll_employee_possible(m->conf)) {
		/* An employee without a key: one from the embedded CA. */
		if (enroll_employee(m->conf, m->qid, addr) != 0)
			mail_msg_tempfail(m, "no key for the sender, and the CA failed");
		else if (keystore_signer_enc(m->keystore, addr, signer_refused,
		    &chk, &key, &cert, &chain, &enc, &kerr) != KEYSTORE_OK)
			mail_msg_fail(m, MAIL_FAIL_INTERNAL, kerr.msg);
		else
			sign_with(m, addr, key, cert, chain, enc, hp);
		if (m->result.what == MAIL_DO_REPLACE && signer != NULL) {
			X509_up_ref(cert);
			*signer = cert;
			*signer_enc = enc;
			enc = NULL;
		}
	} else if (ks == KEYSTORE_NOTFOUND) {
		/* No key that may sign (expired, revoked): what the policy does
		 * without one (unsigned; an employee whose certificate was
		 * revoked is not given a new one on the spot). */
		if (chk.revoked)
			ops_log(LOG_WARNING, m->qid, "not signed as <%s>: %s", addr, kerr.msg);
		mail_msg_pass(m, "unsigned", "%s", kerr.msg);
	} else if (ks == KEYSTORE_RETIRED) {
		/* A leaver (smimectl keystore retire): never signed as, no new
		 * key; the message goes on unsigned, as for no key. */
		mail_msg_pass(m, "unsigned", "not signed: %s", kerr.msg);
	} else if (ks != KEYSTORE_OK) {
		mail_msg_fail(m, MAIL_FAIL_INTERNAL, kerr.msg);
	} else {
		sign_with(m, addr, key, cert, chain, enc, hp);
		if (m->result.what == MAIL_DO_REPLACE && signer != NULL) {
			X509_up_ref(cert);
			*signer = cert;
			*signer_enc = enc;
			enc = NULL;
		}
	}
	ops_keystore_report(m->keystore, m->qid);
	EVP_PKEY_free(key);
	X509_free(cert);
	X509_free(enc);
	sk_X509_pop_free(chain, X509_free);
	free(addr);
}

/* ---- encryption ---- */

typedef struct enc_plan {
	STACK_OF(X509) *certs;      /* one per recipient */
	int gcm_all;                /* every recipient announced AES-256-GCM */
	char missing[300];          /* recipients whose form is not encrypted */
} enc_plan_t;

static void
strlist_add(char *buf, size_t size, const char *addr)
{
	size_t off = strlen(buf);

	if (off < size)
		snprintf(buf + off, size - off, "%s<%s>", off ? ", " : "", addr);
}

/*
 * What the policy's forms (mail_policy.c, which looked the certificates
 * up) mean for the message as a whole, while one copy per form is not
 * there: 1 encrypt to p->certs (every recipient's form says encrypt);
 * 0 do not (none does, or some do not and none of them must: p->missing
 * names who has none); -1 the result is set: some recipient's rule says
 * encrypt=always while another cannot be encrypted to, so the message is
 * refused rather than sent in clear (fail closed).
 */
static int
encrypt_plan(mail_msg_t *m, enc_plan_t *p)
{
	const mail_policy_res_t *pol = m->result.policy;
	char must[300] = "", never[300] = "";
	size_t n_enc = 0;

	memset(p, 0, sizeof(*p));
	p->gcm_all = 1;
	if (pol == NULL || pol->res.n == 0 || pol->certs == NULL)
		return 0;
	for (size_t i = 0; i < pol->res.n; i++) {
		if (pol->forms[i].encrypt && pol->certs[i] != NULL) {
			n_enc++;
			if (pol->res.d[i].v[POLICY_ENCRYPT] == POLICY_ENC_ALWAYS)
				strlist_add(must, sizeof(must), m->rcpts[i]);
		} else if (pol->res.d[i].v[POLICY_ENCRYPT] != POLICY_ENC_NEVER &&
		    !pol->forms[i].passthrough) {
			strlist_add(p->missing, sizeof(p->missing), m->rcpts[i]);
		} else {
			strlist_add(never, sizeof(never), m->rcpts[i]);
		}
	}
	if (n_enc == 0)
		return 0;
	if (n_enc < pol->res.n) {
		char why[700];
		if (must[0] == '\0')
			return 0;
		if (p->missing[0] == '\0')
			snprintf(p->missing, sizeof(p->missing), "%s", never);
		snprintf(why, sizeof(why), "policy: %s must be encrypted, %s cannot be, "
		    "and mixed recipients are not split yet", must, p->missing);
		mail_msg_fail(m, MAIL_FAIL_POLICY, why);
		return -1;
	}
	if ((p->certs = sk_X509_new_null()) == NULL) {
		mail_msg_fail(m, MAIL_FAIL_INTERNAL, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < pol->res.n; i++) {
		if (!sk_X509_push(p->certs, pol->certs[i])) {
			mail_msg_fail(m, MAIL_FAIL_INTERNAL, "out of memory");
			return -1;
		}
		X509_up_ref(pol->certs[i]);
		p->gcm_all &= pol->gcm[i];
	}
	return 1;
}

static void
result_drop_replacement(mail_result_t *r)
{
	for (size_t i = 0; i < r->nadd; i++) {
		free(r->add_name[i]);
		free(r->add_value[i]);
	}
	free(r->add_name);
	free(r->add_value);
	r->add_name = r->add_value = NULL;
	r->nadd = 0;
	mail_spool_free(r->new_body);
	r->new_body = NULL;
}

/* The signed result's Content-* headers as "Name: value\n" lines. */
static char *
result_content_headers(const mail_result_t *r)
{
	size_t len = 1, off = 0;
	char *s;

	for (size_t i = 0; i < r->nadd; i++)
		len += strlen(r->add_name[i]) + strlen(r->add_value[i]) + 3;
	if ((s = malloc(len)) == NULL)
		return NULL;
	for (size_t i = 0; i < r->nadd; i++)
		if (strncasecmp(r->add_name[i], "Content-", 8) == 0)
			off += (size_t)sprintf(s + off, "%s: %s\n", r->add_name[i],
			    r->add_value[i]);
	s[off] = '\0';
	return s;
}

static int
result_take_enc_headers(mail_result_t *r, const smime_encrypt_t *e)
{
	size_t n = smime_encrypt_nheaders(e);

	r->add_name = calloc(n ? n : 1, sizeof(char *));
	r->add_value = calloc(n ? n : 1, sizeof(char *));
	if (r->add_name == NULL || r->add_value == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		r->add_name[i] = strdup(smime_encrypt_header_name(e, i));
		r->add_value[i] = strdup(smime_encrypt_header_value(e, i));
		r->nadd = i + 1;
		if (r->add_name[i] == NULL || r->add_value[i] == NULL)
			return -1;
	}
	return 0;
}

/* The sender's own certificate for the sent copy: the keystore's
 * encryption certificate (keyEncipherment or keyAgreement; never a
 * signing-only one) of the signer's address when we signed (signer_enc,
 * found with the signing key: not looked up again), else of the envelope
 * sender; NULL when there is none. */
static X509 *
sender_cert(mail_msg_t *m, X509 *signer, X509 *signer_enc)
{
	const char *addr = m->sender;
	X509 *cert = NULL;
	keystore_err_t kerr;

	if (signer != NULL && m->result.signer[0] != '\0') {
		if (signer_enc != NULL)
			X509_up_ref(signer_enc);
		return signer_enc;
	}
	if (addr != NULL && addr[0] != '\0' && keystore_recipient(m->keystore,
	    addr, &cert, &kerr) == KEYSTORE_OK)
		return cert;
	return NULL;
}

/* 1 when the sender's own certificate would put an ECDH RecipientInfo
 * into a copy for RSA recipients only, which their clients (NSS) refuse
 * whole (SplitKeyAgreement). */
static int
own_breaks_copy(const mail_msg_t *m, const enc_plan_t *p, X509 *own)
{
	if (!m->conf->split_key_agreement || !mail_cert_key_agreement(own))
		return 0;
	for (int i = 0; i < sk_X509_num(p->certs); i++)
		if (mail_cert_key_agreement(sk_X509_value(p->certs, i)))
			return 0;
	return sk_X509_num(p->certs) > 0;
}

/*
 * Encrypts what the result holds (the signed entity), or the message as
 * received (PASS), to every recipient and the sender.  Any failure is a
 * tempfail, whatever OnInternalError says: never in clear.
 */
static void
encrypt_with(mail_msg_t *m, enc_plan_t *p, X509 *signer, X509 *signer_enc,
    smime_kind_t kind, const hp_plan_t *hp)
{
	mail_result_t *r = &m->result;
	int signed_now = r->what == MAIL_DO_REPLACE;
	smime_encrypt_t *e = smime_encrypt_new();
	X509 *own = sender_cert(m, signer, signer_enc);
	char *hdrs = signed_now ? result_content_headers(r) : mail_msg_content_headers(m);
	mail_spool_t *in = signed_now ? r->new_body : m->body;
	mail_spool_t *out = mail_spool_new(m->conf->spool_dir,
	    (size_t)m->conf->spool_memory, LLONG_MAX);
	smime_body_t body = { NULL, 0, -1 };
	int gcm = m->conf->encryption_cipher == CONF_CIPHER_GCM ||
	    (m->conf->encryption_cipher == CONF_CIPHER_AUTO && p->gcm_all);
	smime_status_t st = SMIME_ERR_NOMEM;
	char why[600], prior[300];
	int left_out = 0;

	/* Why it was not signed stays in the reason (the log, the audit). */
	snprintf(prior, sizeof(prior), "%.*s", (int)sizeof(prior) - 1, signed_now ? "" : r->reason);
	if (own != NULL && own_breaks_copy(m, p, own)) {
		X509_free(own);
		own = NULL;
		left_out = 1;
	}
	if (e != NULL && hdrs != NULL && out != NULL) {
		for (int i = 0; i < sk_X509_num(p->certs); i++)
			smime_encrypt_add_recipient(e, sk_X509_value(p->certs, i));
		if (own != NULL)
			smime_encrypt_add_recipient(e, own);
		smime_encrypt_set_cipher(e, gcm ? SMIME_CIPHER_AES256_GCM : SMIME_CIPHER_AES256_CBC);
		smime_encrypt_set_oaep(e, m->conf->rsa_key_transport == 1);
		smime_encrypt_set_tmpdir(e, m->conf->spool_dir, (size_t)m->conf->spool_memory);
		if (!signed_now && kind != SMIME_KIND_SIGNED) {
			smime_encrypt_set_hp(e, &hp->out);
			if (hp->out.mode != SMIME_HP_NONE)
				snprintf(r->hp, sizeof(r->hp), "%s",
				    smime_hp_mode_name(hp->out.mode));
		}
		body.mem = mail_spool_mem(in, &body.len);
		body.fd = mail_spool_fd(in);
		st = smime_encrypt_run(e, hdrs, &body, signed_now || kind == SMIME_KIND_SIGNED,
		    mail_spool_writer, out);
	}
	if (st != SMIME_OK) {
		snprintf(why, sizeof(why), "encryption failed: %s",
		    e ? smime_encrypt_error(e) : "out of memory");
		mail_spool_free(out);
		mail_msg_tempfail(m, why);
	} else {
		result_drop_replacement(r);
		r->new_body = out;
		if (result_take_enc_headers(r, e) != 0 || (strcmp(r->hp, "cipher") == 0
		    && hp_obscure(m, hp) != 0)) {
			mail_msg_tempfail(m, "out of memory");
		} else {
			r->what = MAIL_DO_REPLACE;
			r->action = signed_now ? "signed+encrypted" : "encrypted";
			snprintf(r->enc_alg, sizeof(r->enc_alg), "%s",
			    gcm ? "aes-256-gcm" : "aes-256-cbc");
			r->enc_ncerts = smime_encrypt_nrecipients(e);
			snprintf(why, sizeof(why), "%s%s%s to %zu certificates%s", prior,
			    prior[0] ? "; " : "", r->enc_alg, r->enc_ncerts,
			    own ? " (the sender's included)" : left_out
			    ? " (the sender's EC certificate left out: RSA recipients' "
			    "clients refuse ECDH next to RSA, SplitKeyAgreement)" : "");
			snprintf(r->reason, sizeof(r->reason), "%.500s", why);
		}
	}
	X509_free(own);
	free(hdrs);
	smime_encrypt_free(e);
}

/* An outbound message: the policy (which looks up the recipients'
 * certificates), signing when we may and can, then encryption when every
 * recipient's form says so.  Only a body that really is encrypted passes
 * as it is; one merely labelled so is signed and encrypted as the rules
 * say, like any other. */
void
mail_outbound_process(mail_msg_t *m)
{
	smime_kind_t kind = smime_classify(mail_msg_header(m, "Content-Type"));
	X509 *signer = NULL, *signer_enc = NULL;
	enc_plan_t plan;
	hp_plan_t hp = { { SMIME_HP_NONE, NULL, 0, 0 }, NULL };
	int enc, sign;

	if (mail_policy_outbound(m, &sign))
		return;
	if ((enc = mail_msg_encrypted(m)) < 0)
		return mail_msg_fail(m, MAIL_FAIL_INTERNAL, "the body cannot be read");
	if (enc == 1)
		return mail_msg_pass(m, "pass", "already encrypted");
	if (kind == SMIME_KIND_ENCRYPTED)
		kind = SMIME_KIND_PLAIN;    /* labelled encrypted, and is not */
	if ((enc = encrypt_plan(m, &plan)) >= 0 && hp_prepare(m, enc > 0, &hp) != 0) {
		mail_msg_fail(m, MAIL_FAIL_INTERNAL, "out of memory");
		enc = -1;
	} else if (enc >= 0) {
		sign_step(m, kind, sign, &signer, &signer_enc, &hp);
	}
	if (enc > 0 && (m->result.what == MAIL_DO_PASS || m->result.what == MAIL_DO_REPLACE))
		encrypt_with(m, &plan, signer, signer_enc, kind, &hp);
	else if (enc == 0 && plan.missing[0] != '\0' &&
	    (m->result.what == MAIL_DO_PASS || m->result.what == MAIL_DO_REPLACE)) {
		mail_result_t *r = &m->result;
		size_t off = strlen(r->reason);
		snprintf(r->reason + off, sizeof(r->reason) - off, "%snot encrypted: "
		    "no certificate for recipient %s", off ? "; " : "", plan.missing);
	}
	X509_free(signer);
	X509_free(signer_enc);
	sk_X509_pop_free(plan.certs, X509_free);
	free(hp.fields);
}
