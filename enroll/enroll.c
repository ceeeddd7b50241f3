/*
 * enroll.c: enrollment of recipients without a certificate (see
 * enroll.h).  The order keeps a failure harmless: issue and escrow,
 * make the pickup link, send (or queue in the spool) both mails, and only
 * then publish the certificate, so that a message tempfailed on the way
 * enrolls again on its retry instead of being encrypted to a key nobody
 * was told about.
 */
#include "enroll/enroll.h"
#include "ca/ca_serve.h"
#include "ops/ops_log.h"
#include "ops/ops_publish.h"
#include "enroll/enroll_pending.h"
#include "enroll/enroll_pickup.h"
#include "enroll/enroll_outbox.h"
#include "enroll/enroll_seal.h"
#include "enroll/enroll_text.h"
#include "keystore/keystore_lease.h"
#include "net/net_smtp.h"
#include "util/util_addr.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static ca_t *enroll_ca;      /* set once before the milter starts */
/* Held from looking up a pending enrollment to storing a new one, so two
 * messages to one recipient at once do not both issue. */
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;

/* Enrollments per envelope sender today (UTC), for EnrollmentMaxPerSender;
 * in memory (a restart starts the day's counts again), under the lock. */
#define QUOTA_MAX 100000
static struct {
	pthread_mutex_t lock;
	long day;
	struct quota { char *sender; int n; } *t;
	size_t n, cap;
} quota = { PTHREAD_MUTEX_INITIALIZER, 0, NULL, 0, 0 };

void
enroll_install(ca_t *ca)
{
	keystore_t *ks = ca != NULL ? ca_keystore(ca) : NULL;

	enroll_ca = ca;
	enroll_pickup_share(ks);      /* in the directory when the keystore is */
	enroll_pending_share(ks);
}

/* The count of sender today; with add, one more first.  -1: the table is
 * full (or out of memory), counted as over the limit. */
static int
quota_count(const char *sender, int add)
{
	long today = (long)(time(NULL) / 86400);
	struct quota *q = NULL;
	int n = -1;

	pthread_mutex_lock(&quota.lock);
	if (quota.day != today) {
		for (size_t i = 0; i < quota.n; i++)
			free(quota.t[i].sender);
		quota.n = 0;
		quota.day = today;
	}
	for (size_t i = 0; i < quota.n && q == NULL; i++)
		if (strcasecmp(quota.t[i].sender, sender) == 0)
			q = &quota.t[i];
	if (q == NULL && add && quota.n < QUOTA_MAX) {
		if (quota.n == quota.cap) {
			size_t cap = quota.cap ? quota.cap * 2 : 64;
			struct quota *t = realloc(quota.t, cap * sizeof(*t));

			if (t != NULL) {
				quota.t = t;
				quota.cap = cap;
			}
		}
		if (quota.n < quota.cap && (quota.t[quota.n].sender = strdup(sender)) != NULL) {
			q = &quota.t[quota.n++];
			q->n = 0;
		}
	}
	if (q != NULL)
		n = add ? ++q->n : q->n;
	else if (!add)
		n = quota.n < QUOTA_MAX ? 0 : -1;
	pthread_mutex_unlock(&quota.lock);
	return n;
}

/* 1 when domain, or a domain above it, is in list. */
static int
domain_in(char *const *list, const char *domain)
{
	for (; list != NULL && *list != NULL; list++) {
		size_t n = strlen(domain), k = strlen(*list);

		if (strcasecmp(domain, *list) == 0
		    || (n > k && domain[n - k - 1] == '.' && strcasecmp(domain + n - k, *list) == 0))
			return 1;
	}
	return 0;
}

/* The abuse limits: 0 may enroll rcpt, or -1 with why. */
static int
enroll_allowed(const enroll_req_t *r, const char *rcpt, char *why, size_t size)
{
	const conf_t *c = r->conf;
	const char *dom = util_addr_domain(rcpt), *sender = r->sender ? r->sender : "";
	int n;

	if (dom == NULL || domain_in(c->enroll_deny_domains, dom)
	    || (c->enroll_allow_domains != NULL && *c->enroll_allow_domains != NULL
	    && !domain_in(c->enroll_allow_domains, dom))) {
		snprintf(why, size, "domain %s not allowed (EnrollmentAllowDomains, "
		    "EnrollmentDenyDomains)", dom ? dom : "(none)");
		return -1;
	}
	if (c->enroll_max_per_sender > 0
	    && ((n = quota_count(sender, 0)) < 0 || n >= c->enroll_max_per_sender)) {
		snprintf(why, size, "<%s> has reached EnrollmentMaxPerSender (%lld) today",
		    sender, c->enroll_max_per_sender);
		return -1;
	}
	return 0;
}

/* The gateway's mail goes out over EnrollmentSMTP, or else through the
 * spool and ReinjectCommand (with the mark), which needs the key. */
int
enroll_possible(const conf_t *c)
{
	return (enroll_ca != NULL || *c->cmp_server != '\0')
	    && (*c->enroll_smtp != '\0' || (c->reinject_keylen > 0 && *c->reinject_command != '\0'));
}

/* Hands msg (a whole message) to "to" over EnrollmentSMTP or the spool. */
static int
submit(const enroll_req_t *r, const char *to, const char *msg, char *why, size_t size)
{
	if (*r->conf->enroll_smtp != '\0')
		return net_smtp_send(r->conf->enroll_smtp, r->conf->enroll_sender, to, msg,
		    (int)r->conf->enroll_timeout, why, size);
	return enroll_outbox_put(r->conf, r->conf->enroll_sender, to, msg, r->qid, why, size);
}

/* One text mail to "to": text, then secret (NULL: none) and after. */
static int
send_one(const enroll_req_t *r, const char *to, const char *subject, const char *text,
    const char *secret, const char *after, char *why, size_t size)
{
	char *msg = net_smtp_compose(r->conf->enroll_sender, to, subject, text, secret, after);
	int rc;

	if (msg == NULL) {
		snprintf(why, size, "cannot compose the message to <%s>", to);
		return -1;
	}
	rc = submit(r, to, msg, why, size);
	OPENSSL_clear_free(msg, strlen(msg));
	return rc;
}

/*
 * The key EnrollmentSender signs the gateway's mails with: the keystore's,
 * or, when it has none and the embedded CA issues, one issued now (once:
 * escrowed like an employee's).  0 with the key, or -1: none.
 */
static int
sender_key(const enroll_req_t *r, EVP_PKEY **key, X509 **cert, STACK_OF(X509) **chain)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	const char *from = r->conf->enroll_sender;
	keystore_err_t err;
	int rc;

	if (r->ks == NULL)
		return -1;
	pthread_mutex_lock(&lock);
	if ((rc = keystore_signer(r->ks, from, key, cert, chain, &err)) != KEYSTORE_OK
	    && enroll_ca != NULL && *r->conf->cmp_server == '\0') {
		if (ca_issue(enroll_ca, from, CA_SIGN, NULL, &err) == KEYSTORE_OK) {
			ops_log(LOG_INFO, r->qid, "enroll: EnrollmentSender <%s> had no signing "
			    "key: one issued by the embedded CA, escrowed", from);
			rc = keystore_signer(r->ks, from, key, cert, chain, &err);
		} else
			ops_log(LOG_WARNING, r->qid, "enroll: no signing key for EnrollmentSender "
			    "<%s>: %s", from, err.msg);
	}
	pthread_mutex_unlock(&lock);
	return rc == KEYSTORE_OK ? 0 : -1;
}

/*
 * The notice with the password to the sender: S/MIME-encrypted to the
 * sender's certificate in the keystore (an employee's), signed with
 * EnrollmentSender's key when the keystore has one, so that the password
 * is neither spooled nor sent in clear.  A sender without a certificate
 * gets it in clear (logged at notice level, without the password).
 */
static int
send_notice(const enroll_req_t *r, const char *to, const char *subject, const char *text,
    const char *password, const char *after, char *why, size_t size)
{
	char *msg = NULL, *sealed = NULL;
	EVP_PKEY *key = NULL;
	X509 *rcert = NULL, *scert = NULL;
	STACK_OF(X509) *chain = NULL;
	keystore_err_t err;
	int rc = -1, sign;

	if (r->ks == NULL || keystore_recipient(r->ks, to, &rcert, &err) != KEYSTORE_OK) {
		ops_log(LOG_NOTICE, r->qid, "enroll: password notice to <%s> sent in clear: "
		    "no certificate for the sender in the keystore", to);
		return send_one(r, to, subject, text, password, after, why, size);
	}
	if (sender_key(r, &key, &scert, &chain) != 0) {
		key = NULL;
		scert = NULL;
		chain = NULL;
	}
	sign = key != NULL;
	if ((msg = net_smtp_compose(r->conf->enroll_sender, to, subject, text, password, after))
	    == NULL)
		snprintf(why, size, "cannot compose the message to <%s>", to);
	else if ((sealed = enroll_seal(msg, rcert, key, scert, chain, why, size)) != NULL)
		rc = submit(r, to, sealed, why, size);
	if (msg != NULL)
		OPENSSL_clear_free(msg, strlen(msg));
	free(sealed);
	EVP_PKEY_free(key);
	X509_free(scert);
	X509_free(rcert);
	sk_X509_pop_free(chain, X509_free);
	if (rc == 0)
		ops_log(LOG_INFO, r->qid, "enroll: password notice to <%s> encrypted%s", to,
		    sign ? " and signed" : "");
	return rc;
}

/* A rendered mail template into its subject (the first line's, without
 * "Subject:") and *body (what follows the empty line, in place). */
static int
mail_split(char *msg, char *subject, size_t size, char **body)
{
	char *nl = strchr(msg, '\n');
	const char *s = msg + 8;

	if (nl == NULL || strncasecmp(msg, "Subject:", 8) != 0)
		return -1;
	*nl = '\0';
	s += strspn(s, " \t");
	snprintf(subject, size, "%.*s", (int)strcspn(s, "\r"), s);
	*body = nl + 1 + (nl[1] == '\r');
	*body += **body == '\n';
	return 0;
}

/* The template fields of both mails about rcpt's enrollment. */
static void
mail_fields(const enroll_req_t *r, const char *rcpt, const char *sender,
    const char **v, char *until, size_t size, char *fp)
{
	enroll_text_time(time(NULL) + (time_t)r->conf->pickup_lifetime, until, size);
	enroll_text_fingerprint(r->conf, fp);
	v[CONF_TF_SENDER] = sender;
	v[CONF_TF_RECIPIENT] = rcpt;
	v[CONF_TF_EXPIRY] = until;
	v[CONF_TF_ROOT_FINGERPRINT] = fp;
}

/* The password notice to sender, from its template (TemplateLanguage:
 * it goes to an employee); the password stands where {{password}} is. */
static int
notice_mail(const enroll_req_t *r, const char *sender, const char **v,
    const char *password, char *why, size_t size)
{
	char *msg, *body, *at, subject[600];
	int rc = -1;

	v[CONF_TF_PASSWORD] = "\x01";    /* a template holds no control character */
	msg = conf_tmpl_render(r->conf, NULL, CONF_TMPL_PASSWORD_TXT, v);
	v[CONF_TF_PASSWORD] = NULL;
	if (msg == NULL || mail_split(msg, subject, sizeof(subject), &body) != 0
	    || (at = strchr(body, '\x01')) == NULL || strchr(at + 1, '\x01') != NULL)
		snprintf(why, size, "password notice: the template %s has no {{password}} "
		    "(or out of memory)", conf_tmpl_file(CONF_TMPL_PASSWORD_TXT));
	else {
		*at = '\0';
		rc = send_notice(r, sender, subject, body, password, at + 1, why, size);
	}
	free(msg);
	return rc;
}

/* The invitation to rcpt: text and HTML, signed as EnrollmentSender when
 * the keystore has its key. */
static int
invite_mail(const enroll_req_t *r, const char *rcpt, const char **v, char *why, size_t size)
{
	char *txt = conf_tmpl_render(r->conf, r->lang, CONF_TMPL_INVITE_TXT, v);
	char *html = conf_tmpl_render(r->conf, r->lang, CONF_TMPL_INVITE_HTML, v);
	char *body, *msg = NULL, *sig = NULL, subject[600];
	EVP_PKEY *key = NULL;
	X509 *scert = NULL;
	STACK_OF(X509) *chain = NULL;
	int rc = -1;

	if (txt == NULL || html == NULL || mail_split(txt, subject, sizeof(subject), &body) != 0
	    || (msg = net_smtp_compose_alt(r->conf->enroll_sender, rcpt, subject, body, html))
	    == NULL)
		snprintf(why, size, "cannot compose the invitation to <%s>", rcpt);
	else if (sender_key(r, &key, &scert, &chain) != 0) {
		ops_log(LOG_NOTICE, r->qid, "enroll: invitation to <%s> not signed: no key for "
		    "EnrollmentSender <%s> in the keystore", rcpt, r->conf->enroll_sender);
		rc = submit(r, rcpt, msg, why, size);
	} else if ((sig = enroll_sign(msg, key, scert, chain, why, size)) != NULL)
		rc = submit(r, rcpt, sig, why, size);
	free(txt);
	free(html);
	free(msg);
	free(sig);
	EVP_PKEY_free(key);
	X509_free(scert);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

/*
 * The notice with the password to the sender, then the invitation to rcpt
 * (in this order: no invitation goes out whose password nobody has); the
 * password is only in what net_smtp_compose() returns.  Their texts come
 * from the templates (TemplateDirectory), the invitation's in the
 * policy's language for rcpt.
 */
static int
send_mails(const enroll_req_t *r, const char *rcpt, const char *token,
    const char *password, char *why, size_t size)
{
	const conf_t *c = r->conf;
	const char *sender = r->sender != NULL && *r->sender != '\0' ? r->sender : c->enroll_sender;
	const char *v[CONF_TF_N] = { 0 };
	const char *lang = conf_tmpl_language(c, r->lang);
	char until[64], nwhy[400], fp[ENROLL_TEXT_FP_MAX], link[4400];

	mail_fields(r, rcpt, sender, v, until, sizeof(until), fp);
	if (notice_mail(r, sender, v, password, nwhy, sizeof(nwhy)) != 0) {
		snprintf(why, size, "password notice to <%s> not sent (so no invitation): %s",
		    sender, nwhy);
		return -1;
	}
	snprintf(link, sizeof(link), "%s/pickup?t=%s%s%s", c->portal_url, token,
	    strcmp(lang, c->template_language) != 0 ? "&l=" : "",
	    strcmp(lang, c->template_language) != 0 ? lang : "");
	v[CONF_TF_LINK] = link;
	return invite_mail(r, rcpt, v, why, size);
}

/*
 * A certificate issued for rcpt that will not be used (its pending time
 * is over, or it could not be kept for the retry): it must not stay valid
 * unknown to anyone.  The embedded CA revokes it (a new CRL at once);
 * one from CMPServer, which this gateway cannot revoke, is recorded in
 * StateDirectory/orphans.txt ("SERIAL TIME ADDRESS ISSUER") and logged
 * for the CA's operator.
 */
static void
orphan(const conf_t *c, const char *qid, const char *rcpt, X509 *x)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL, *issuer = NULL, path[4200];
	keystore_err_t err;
	FILE *fp;

	if (hex == NULL)
		ops_log(LOG_ERR, qid, "enroll <%s>: an unused certificate: out of memory", rcpt);
	else if (*c->cmp_server == '\0' && enroll_ca != NULL) {
		if (ca_revoke(enroll_ca, hex, &err) == KEYSTORE_OK) {
			ops_log(LOG_WARNING, qid, "enroll <%s>: certificate %s revoked: "
			    "never used", rcpt, hex);
			if (ca_serve_key_event(c, AUDIT_CERT_REVOKED, rcpt, x, "never used "
			    "(enrollment given up)", path, sizeof(path)) != 0)
				ops_log(LOG_ERR, qid, "enroll <%s>: %s", rcpt, path);
		}
		else
			ops_log(LOG_ERR, qid, "enroll <%s>: certificate %s never used, "
			    "cannot revoke it: %s", rcpt, hex, err.msg);
	} else {
		issuer = X509_NAME_oneline(X509_get_issuer_name(x), NULL, 0);
		snprintf(path, sizeof(path), "%s/orphans.txt", c->state_dir);
		if ((fp = fopen(path, "a")) != NULL) {
			fprintf(fp, "%s %ld %s %s\n", hex, (long)time(NULL), rcpt,
			    issuer ? issuer : "?");
			fclose(fp);
		}
		ops_log(LOG_ERR, qid, "enroll <%s>: certificate %s from %s never used: "
		    "revoke it at that CA (recorded in %s)", rcpt, hex, c->cmp_server, path);
	}
	OPENSSL_free(issuer);
	OPENSSL_free(hex);
	BN_free(bn);
}

static void
orphan_expired(const conf_t *c, const char *rcpt, X509 *x)
{
	ops_log(LOG_INFO, NULL, "enroll <%s>: pending certificate not used within "
	    "EnrollmentPendingTime", rcpt);
	orphan(c, NULL, rcpt, x);
}

void
enroll_sweep(const conf_t *c)
{
	(void)enroll_pending_sweep(c, orphan_expired);
}

/*
 * The certificate for rcpt: the pending one of an earlier try (its key
 * is in escrow), or a new one, kept as pending at once so that a retry
 * uses it again.  0 with *x and *kept (1: on disk), or -1 with why.
 */
static int
enroll_cert(const enroll_req_t *r, const char *rcpt, X509 **x, int *kept, int *reused,
    char *why, size_t size)
{
	int local = conf_is_local_domain(r->conf, util_addr_domain(rcpt));
	char pwhy[512];
	int rc = 0;

	*kept = *reused = 0;
	pthread_mutex_lock(&pending_lock);
	if ((*x = enroll_pending_get(r->conf, rcpt)) != NULL)
		*kept = *reused = 1;
	else if ((rc = ca_serve_issue(r->conf, enroll_ca, r->ks, rcpt, local
	    ? CA_ENCRYPT : CA_EXTERNAL, NULL, x, why, size)) == 0) {
		if (enroll_pending_put(r->conf, rcpt, *x, pwhy, sizeof(pwhy)) == 0)
			*kept = 1;
		else
			ops_log(LOG_WARNING, r->qid, "enroll <%s>: cannot keep it pending: %s",
			    rcpt, pwhy);
	}
	pthread_mutex_unlock(&pending_lock);
	return rc;
}

/* PublishDirectory: cert with the embedded CA's chain (none over CMP);
 * a failure is logged by ops_publish() and changes nothing here. */
static void
publish(const conf_t *conf, const char *qid, const char *addr, X509 *cert,
    int outsider)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509 *x;

	if (enroll_ca != NULL && chain != NULL) {
		if ((x = ca_issuer(enroll_ca)) != NULL && !sk_X509_push(chain, x))
			X509_free(x);
		if ((x = ca_root(enroll_ca)) != NULL && !sk_X509_push(chain, x))
			X509_free(x);
	}
	(void)ops_publish(conf, qid, addr, cert, chain, outsider);
	sk_X509_pop_free(chain, X509_free);
}

/* The enrollment of rcpt by this gateway (its lease held): 0 with *cert,
 * or -1 (logged). */
static int
enroll_held(const enroll_req_t *r, const char *rcpt, X509 **cert)
{
	char token[ENROLL_PICKUP_TOKEN_LEN + 1], password[ENROLL_PICKUP_PASSWORD_LEN + 1];
	char why[512];
	X509 *x = NULL;
	int rc = -1, kept = 0, reused = 0;

	if (enroll_cert(r, rcpt, &x, &kept, &reused, why, sizeof(why)) != 0)
		ops_log(LOG_ERR, r->qid, "enroll <%s>: CA: %s", rcpt, why);
	else if (enroll_pickup_new(r->conf->pickup_dir, rcpt, (long)r->conf->pickup_lifetime,
	    token, password, why, sizeof(why)) != 0)
		ops_log(LOG_ERR, r->qid, "enroll <%s>: %s", rcpt, why);
	else if (send_mails(r, rcpt, token, password, why, sizeof(why)) != 0) {
		(void)enroll_pickup_used(r->conf->pickup_dir, token);
		ops_log(LOG_ERR, r->qid, "enroll <%s>: invitation: %s", rcpt, why);
	} else if (ca_serve_publish(r->conf, rcpt, x, why, sizeof(why)) != 0) {
		(void)enroll_pickup_used(r->conf->pickup_dir, token);
		ops_log(LOG_ERR, r->qid, "enroll <%s>: publish: %s", rcpt, why);
	} else
		rc = 0;
	if (rc != 0 && x != NULL && kept)
		ops_log(LOG_WARNING, r->qid, "enroll <%s>: certificate kept pending for the "
		    "retry (EnrollmentPendingTime %llds)", rcpt, r->conf->enroll_pending_time);
	else if (rc != 0 && x != NULL)
		orphan(r->conf, r->qid, rcpt, x);
	if (rc == 0)
		enroll_pending_drop(r->conf, rcpt);
	OPENSSL_cleanse(password, sizeof(password));
	OPENSSL_cleanse(token, sizeof(token));
	if (rc == 0) {
		(void)quota_count(r->sender ? r->sender : "", 1);
		ops_log(LOG_INFO, r->qid, "enroll <%s>: certificate %s, key escrowed, "
		    "invitation %s, password %s to <%s>", rcpt,
		    reused ? "of the earlier try used" : "issued",
		    *r->conf->enroll_smtp ? "sent" : "queued", *r->conf->enroll_smtp ? "sent"
		    : "queued", r->sender);
		publish(r->conf, r->qid, rcpt, x, 1);
		*cert = x;
	} else
		X509_free(x);
	return rc;
}

/* ---- one enrollment of a recipient among several gateways ---- */

/* The lease of rcpt's enrollment (keystore_lease.h): "enroll.HEX", HEX the
 * SHA-256 of the normalized address. */
static int
lease_name(const char *rcpt, char *name, size_t size)
{
	unsigned char md[32];
	char hex[65], *norm = util_addr_normalize(rcpt);
	int ok = norm != NULL && EVP_Digest(norm, strlen(norm), md, NULL, EVP_sha256(),
	    NULL) == 1;

	free(norm);
	if (!ok)
		return -1;
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(name, size, "enroll.%s", hex);
	return 0;
}

/* The certificate a winner's note holds ("cert" and its PEM), or NULL. */
static X509 *
note_cert(const char *note)
{
	BIO *b;
	X509 *x = NULL;

	if (strncmp(note, "cert\n", 5) != 0
	    || (b = BIO_new_mem_buf(note + 5, -1)) == NULL)
		return NULL;
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	return x;
}

/*
 * Another gateway (or thread) holds rcpt's lease: its outcome awaited for
 * SharedLeaseWait seconds.  1 with *x (the certificate it enrolled rcpt
 * with, from its note); 0 the lease given back (its try failed) or
 * expired, and now held here; -1 nothing known in time, or the directory
 * cannot say (the caller tempfails).
 */
static int
lease_wait(const enroll_req_t *r, keystore_t *ks, keystore_lease_t *l, X509 **x)
{
	const struct timespec pause = { 0, 250000000L };
	time_t until = time(NULL) + (time_t)r->conf->shared_lease_wait;
	char name[sizeof(l->name)];
	keystore_err_t err;

	snprintf(name, sizeof(name), "%s", l->name);
	for (;;) {
		if (l->held)
			return 0;
		if (l->note[0] != '\0')
			return (*x = note_cert(l->note)) != NULL ? 1 : -1;
		if (time(NULL) >= until)
			return -1;
		nanosleep(&pause, NULL);
		if (keystore_lease_take(ks, name, r->conf->shared_lease_time, time(NULL), l,
		    &err) != KEYSTORE_OK) {
			ops_log(LOG_ERR, r->qid, "enroll: lease %s: %s", name, err.msg);
			return -1;
		}
	}
}

/* The lease of rcpt taken, or awaited (lease_wait()'s answer). */
static int
lease_get(const enroll_req_t *r, keystore_t *ks, const char *rcpt,
    keystore_lease_t *l, X509 **x)
{
	char name[sizeof(l->name)];
	keystore_err_t err;

	if (lease_name(rcpt, name, sizeof(name)) != 0) {
		ops_log(LOG_ERR, r->qid, "enroll <%s>: not an address", rcpt);
		return -1;
	}
	if (keystore_lease_take(ks, name, r->conf->shared_lease_time, time(NULL), l, &err)
	    != KEYSTORE_OK) {
		ops_log(LOG_ERR, r->qid, "enroll <%s>: lease: %s", rcpt, err.msg);
		return -1;
	}
	return lease_wait(r, ks, l, x);
}

/* The outcome in the lease: x (enrolled) kept SharedLeaseTime for the
 * others to read; NULL (failed) the lease given back for the retry. */
static void
lease_done(const enroll_req_t *r, keystore_t *ks, const char *rcpt,
    keystore_lease_t *l, X509 *x)
{
	keystore_err_t err;
	BIO *b = x != NULL ? BIO_new(BIO_s_mem()) : NULL;
	char *pem, *note = NULL;
	long n;
	int lost = 0;

	if (b != NULL && PEM_write_bio_X509(b, x) && (n = BIO_get_mem_data(b, &pem)) > 0
	    && (note = malloc((size_t)n + 6)) != NULL) {
		snprintf(note, (size_t)n + 6, "cert\n%.*s", (int)n, pem);
		if (keystore_lease_note(ks, l, note, time(NULL), r->conf->shared_lease_time,
		    &lost, &err) != KEYSTORE_OK)
			ops_log(LOG_WARNING, r->qid, "enroll <%s>: lease: %s", rcpt, err.msg);
	} else if (keystore_lease_release(ks, l, &err) != KEYSTORE_OK)
		ops_log(LOG_WARNING, r->qid, "enroll <%s>: lease: %s", rcpt, err.msg);
	free(note);
	BIO_free(b);
}

/*
 * Of several gateways (KeystoreBackend ldap) enrolling rcpt at once, one
 * issues, under the lease of rcpt's enrollment; the others wait up to
 * SharedLeaseWait for it and encrypt to its certificate (no invitation of
 * their own: the winner's went out), or tempfail.
 */
int
enroll_rcpt(const enroll_req_t *r, const char *rcpt, X509 **cert)
{
	keystore_t *ks = enroll_ca != NULL ? ca_keystore(enroll_ca) : r->ks;
	keystore_lease_t *l;
	char why[512];
	int rc;

	*cert = NULL;
	enroll_sweep(r->conf);
	if (enroll_allowed(r, rcpt, why, sizeof(why)) != 0) {
		ops_log(LOG_WARNING, r->qid, "enroll <%s>: refused: %s", rcpt, why);
		return 1;
	}
	if ((l = malloc(sizeof(*l))) == NULL) {
		ops_log(LOG_ERR, r->qid, "enroll <%s>: out of memory", rcpt);
		return -1;
	}
	if ((rc = lease_get(r, ks, rcpt, l, cert)) == 0) {
		rc = enroll_held(r, rcpt, cert);
		lease_done(r, ks, rcpt, l, rc == 0 ? *cert : NULL);
	} else if (rc > 0) {
		ops_log(LOG_INFO, r->qid, "enroll <%s>: enrolled by another gateway "
		    "meanwhile: its certificate used, no second one issued", rcpt);
		rc = 0;
	} else
		ops_log(LOG_ERR, r->qid, "enroll <%s>: another gateway is enrolling it and "
		    "said nothing within SharedLeaseWait (%llds): tempfail", rcpt,
		    r->conf->shared_lease_wait);
	free(l);
	return rc;
}

int
enroll_ca_revoked(X509 *cert)
{
	if (enroll_ca == NULL || !ca_issued_here(enroll_ca, cert))
		return -1;
	return ca_revoked(enroll_ca, cert) != 0;   /* unreadable: as revoked */
}

int
enroll_employee_possible(const conf_t *conf)
{
	return enroll_ca != NULL && conf->ca_enroll_employees;
}

int
enroll_employee(const conf_t *conf, const char *qid, const char *addr)
{
	keystore_err_t err;
	X509 *enc = NULL;
	char why[512];

	X509 *sig = NULL;

	if (ca_issue(enroll_ca, addr, CA_SIGN, &sig, &err) != KEYSTORE_OK
	    || ca_issue(enroll_ca, addr, CA_ENCRYPT, &enc, &err) != KEYSTORE_OK) {
		ops_log(LOG_ERR, qid, "enroll employee <%s>: CA: %s", addr, err.msg);
		X509_free(sig);
		return -1;
	}
	if (ca_serve_key_event(conf, AUDIT_CERT_ISSUED, addr, sig, "issued by the "
	    "embedded CA, profile sign (CAEnrollEmployees)", why, sizeof(why)) != 0
	    || ca_serve_key_event(conf, AUDIT_CERT_ISSUED, addr, enc, "issued by the "
	    "embedded CA, profile encrypt (CAEnrollEmployees)", why, sizeof(why)) != 0) {
		ops_log(LOG_ERR, qid, "enroll employee <%s>: %s", addr, why);
		X509_free(sig);
		X509_free(enc);
		return -1;
	}
	X509_free(sig);
	if (ca_serve_publish(conf, addr, enc, why, sizeof(why)) != 0)
		ops_log(LOG_WARNING, qid, "enroll employee <%s>: publish: %s", addr, why);
	publish(conf, qid, addr, enc, 0);
	X509_free(enc);
	ops_log(LOG_INFO, qid, "enroll employee <%s>: signing and encryption "
	    "certificates issued, keys escrowed", addr);
	return 0;
}
