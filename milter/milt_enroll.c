/*
 * milt_enroll.c: enrollment of recipients without a certificate (see
 * milt_enroll.h).  The order keeps a failure harmless: issue and escrow,
 * make the pickup link, send (or queue, see milt_queue_outbox()) both
 * mails, and only then publish the
 * certificate, so that a message tempfailed on the way enrolls again on
 * its retry instead of being encrypted to a key nobody was told about.
 */
#include "milter/milt_enroll.h"
#include "milter/milt_ca.h"
#include "milter/milt_log.h"
#include "milter/milt_pickup.h"
#include "milter/milt_queue.h"
#include "milter/milt_smtp.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

static keystore_ca_t *enroll_ca;      /* set once before the milter starts */

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
milt_enroll_install(keystore_ca_t *ca)
{
	enroll_ca = ca;
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
enroll_allowed(const milt_msg_t *m, const char *rcpt, char *why, size_t size)
{
	const milt_conf_t *c = m->conf;
	const char *dom = milt_addr_domain(rcpt), *sender = m->sender ? m->sender : "";
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
milt_enroll_possible(const milt_msg_t *m)
{
	const milt_conf_t *c = m->conf;

	return (enroll_ca != NULL || *c->cmp_server != '\0')
	    && (*c->enroll_smtp != '\0' || (c->reinject_keylen > 0 && *c->reinject_command != '\0'));
}

/* One mail to "to": text, then secret (NULL: none) and after. */
static int
send_one(const milt_msg_t *m, const char *to, const char *subject, const char *text,
    const char *secret, const char *after, char *why, size_t size)
{
	char *msg = milt_smtp_compose(m->conf->enroll_sender, to, subject, text, secret, after);
	int rc;

	if (msg == NULL) {
		snprintf(why, size, "cannot compose the message to <%s>", to);
		return -1;
	}
	if (*m->conf->enroll_smtp != '\0')
		rc = milt_smtp_send(m->conf->enroll_smtp, m->conf->enroll_sender, to, msg,
		    (int)m->conf->enroll_timeout, why, size);
	else
		rc = milt_queue_outbox(m->conf, m->conf->enroll_sender, to, msg, m->qid,
		    why, size);
	OPENSSL_clear_free(msg, strlen(msg));
	return rc;
}

/* The invitation to rcpt and the notice with the password to the sender;
 * the password is only in what milt_smtp_compose() returns. */
static int
send_mails(const milt_msg_t *m, const char *rcpt, const char *token,
    const char *password, char *why, size_t size)
{
	const milt_conf_t *c = m->conf;
	const char *sender = m->sender != NULL && *m->sender != '\0' ? m->sender : c->enroll_sender;
	char text[4096], subject[600], until[64];
	time_t exp = time(NULL) + (time_t)c->pickup_lifetime;
	struct tm tm;

	strftime(until, sizeof(until), "%Y-%m-%d %H:%M UTC", gmtime_r(&exp, &tm));
	snprintf(subject, sizeof(subject), "Encrypted mail from %s: your certificate", sender);
	snprintf(text, sizeof(text),
	    "%s has sent you a message that must be encrypted.  You had no\n"
	    "S/MIME certificate, so our gateway issued one for %s and encrypted\n"
	    "the message to it.\n\n"
	    "Download your key and certificate (PKCS#12) once, before %s:\n\n"
	    "    %s/pickup?t=%s\n\n"
	    "The password comes from %s by another way (phone, in person).\n"
	    "The link works once; after a few wrong passwords it is locked.\n"
	    "Import the file into your mail program; for GnuPG's gpgsm or older\n"
	    "Windows and macOS choose the legacy format on the download page.\n",
	    sender, rcpt, until, c->portal_url, token, sender);
	if (send_one(m, rcpt, subject, text, NULL, NULL, why, size) != 0)
		return -1;
	snprintf(subject, sizeof(subject), "Certificate issued for %s: the password", rcpt);
	snprintf(text, sizeof(text),
	    "Your message to %s had to be encrypted, and they had no certificate.\n"
	    "The gateway issued one, encrypted your message to it and sent them a\n"
	    "one-time download link, valid until %s.\n\n"
	    "Give them this password by another way than e-mail (phone, in person):\n\n"
	    "    ", rcpt, until);
	return send_one(m, sender, subject, text, password, "\n", why, size);
}

/*
 * A certificate issued for rcpt that will not be used (the invitation
 * could not be queued, or publishing failed): it must not stay valid
 * unknown to anyone.  The embedded CA revokes it (a new CRL at once);
 * one from CMPServer, which this gateway cannot revoke, is recorded in
 * StateDirectory/orphans.txt ("SERIAL TIME ADDRESS ISSUER") and logged
 * for the CA's operator.
 */
static void
orphan(const milt_msg_t *m, const char *rcpt, X509 *x)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL, *issuer = NULL, path[4200];
	keystore_err_t err;
	FILE *fp;

	if (hex == NULL)
		milt_log(LOG_ERR, m->qid, "enroll <%s>: an unused certificate: out of memory", rcpt);
	else if (*m->conf->cmp_server == '\0' && enroll_ca != NULL) {
		if (keystore_ca_revoke(enroll_ca, hex, &err) == KEYSTORE_OK)
			milt_log(LOG_WARNING, m->qid, "enroll <%s>: certificate %s revoked: "
			    "never used", rcpt, hex);
		else
			milt_log(LOG_ERR, m->qid, "enroll <%s>: certificate %s never used, "
			    "cannot revoke it: %s", rcpt, hex, err.msg);
	} else {
		issuer = X509_NAME_oneline(X509_get_issuer_name(x), NULL, 0);
		snprintf(path, sizeof(path), "%s/orphans.txt", m->conf->state_dir);
		if ((fp = fopen(path, "a")) != NULL) {
			fprintf(fp, "%s %ld %s %s\n", hex, (long)time(NULL), rcpt,
			    issuer ? issuer : "?");
			fclose(fp);
		}
		milt_log(LOG_ERR, m->qid, "enroll <%s>: certificate %s from %s never used: "
		    "revoke it at that CA (recorded in %s)", rcpt, hex, m->conf->cmp_server, path);
	}
	OPENSSL_free(issuer);
	OPENSSL_free(hex);
	BN_free(bn);
}

int
milt_enroll_rcpt(const milt_msg_t *m, const char *rcpt, X509 **cert)
{
	char token[MILT_PICKUP_TOKEN_LEN + 1], password[MILT_PICKUP_PASSWORD_LEN + 1];
	char why[512];
	int local = milt_conf_is_local_domain(m->conf, milt_addr_domain(rcpt));
	X509 *x = NULL;
	int rc = -1;

	*cert = NULL;
	if (enroll_allowed(m, rcpt, why, sizeof(why)) != 0) {
		milt_log(LOG_WARNING, m->qid, "enroll <%s>: refused: %s", rcpt, why);
		return 1;
	}
	if (milt_ca_issue(m->conf, enroll_ca, m->keystore, rcpt, local ? KEYSTORE_CA_ENCRYPT
	    : KEYSTORE_CA_EXTERNAL, NULL, &x, why, sizeof(why)) != 0)
		milt_log(LOG_ERR, m->qid, "enroll <%s>: CA: %s", rcpt, why);
	else if (milt_pickup_new(m->conf->pickup_dir, rcpt, (long)m->conf->pickup_lifetime,
	    token, password, why, sizeof(why)) != 0)
		milt_log(LOG_ERR, m->qid, "enroll <%s>: %s", rcpt, why);
	else if (send_mails(m, rcpt, token, password, why, sizeof(why)) != 0) {
		milt_pickup_used(m->conf->pickup_dir, token);
		milt_log(LOG_ERR, m->qid, "enroll <%s>: invitation: %s", rcpt, why);
	} else if (milt_ca_publish(m->conf, rcpt, x, why, sizeof(why)) != 0) {
		milt_pickup_used(m->conf->pickup_dir, token);
		milt_log(LOG_ERR, m->qid, "enroll <%s>: publish: %s", rcpt, why);
	} else
		rc = 0;
	if (rc != 0 && x != NULL)
		orphan(m, rcpt, x);
	OPENSSL_cleanse(password, sizeof(password));
	OPENSSL_cleanse(token, sizeof(token));
	if (rc == 0) {
		(void)quota_count(m->sender ? m->sender : "", 1);
		milt_log(LOG_INFO, m->qid, "enroll <%s>: certificate issued, key escrowed, "
		    "invitation %s, password %s to <%s>", rcpt,
		    *m->conf->enroll_smtp ? "sent" : "queued", *m->conf->enroll_smtp ? "sent"
		    : "queued", m->sender);
		*cert = x;
	} else
		X509_free(x);
	return rc;
}

int
milt_enroll_employee_possible(const milt_msg_t *m)
{
	return enroll_ca != NULL && m->conf->ca_enroll_employees;
}

int
milt_enroll_employee(const milt_msg_t *m, const char *addr)
{
	keystore_err_t err;
	X509 *enc = NULL;
	char why[512];

	if (keystore_ca_issue(enroll_ca, addr, KEYSTORE_CA_SIGN, NULL, &err) != KEYSTORE_OK
	    || keystore_ca_issue(enroll_ca, addr, KEYSTORE_CA_ENCRYPT, &enc, &err) != KEYSTORE_OK) {
		milt_log(LOG_ERR, m->qid, "enroll employee <%s>: CA: %s", addr, err.msg);
		return -1;
	}
	if (milt_ca_publish(m->conf, addr, enc, why, sizeof(why)) != 0)
		milt_log(LOG_WARNING, m->qid, "enroll employee <%s>: publish: %s", addr, why);
	X509_free(enc);
	milt_log(LOG_INFO, m->qid, "enroll employee <%s>: signing and encryption "
	    "certificates issued, keys escrowed", addr);
	return 0;
}
