/*
 * ops_audit.c: key events in the audit log (see ops_audit.h).  State: the
 * daemon's installed log, set at start and cleared at stop.
 */
#include "ops/ops_audit.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

static audit_t *installed;

void
ops_audit_install(audit_t *log)
{
	installed = log;
}

/* The SHA-256 (hex) and serial (hex) of cert into c. */
static void
cert_facts(X509 *cert, char sha[65], char serial[80], audit_cert_t *c)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;

	sha[0] = '\0';
	if (X509_digest(cert, EVP_sha256(), md, &mdlen) && mdlen == 32)
		util_hex(sha, md, 32);
	snprintf(serial, 80, "%s", hex != NULL ? hex : "");
	OPENSSL_free(hex);
	BN_free(bn);
	c->sha256 = sha;
	c->serial = serial;
}

/* Without the daemon's log: the log of conf, opened for this record and
 * closed (sealed by a checkpoint) after it. */
static audit_status_t
append_alone(const conf_t *conf, const audit_record_t *rec, audit_err_t *aerr)
{
	audit_options_t opts = { conf->audit_key_file, NULL, NULL, NULL, NULL };
	audit_t *log = audit_open_ex(conf->audit_dir, &opts, 0, aerr);
	audit_status_t st;

	if (log == NULL)
		return aerr->code;
	st = audit_append(log, rec, aerr);
	if (st == AUDIT_OK)
		st = audit_close(log, aerr);
	else
		(void)audit_close(log, NULL);
	return st;
}

int
ops_audit_key_event(const conf_t *conf, const ops_key_event_t *ev,
    char *err, size_t errlen)
{
	char sha[65], serial[80];
	audit_record_t rec;
	audit_cert_t c = { ev->sha256, ev->serial };
	audit_err_t aerr;
	audit_status_t st;

	if (!conf->audit)
		return 0;
	memset(&rec, 0, sizeof(rec));
	rec.qid = ev->qid;
	rec.sender = ev->address;
	rec.action = ev->action;
	rec.reason = ev->reason;
	if (ev->cert != NULL)
		cert_facts(ev->cert, sha, serial, &c);
	if (c.sha256 != NULL || c.serial != NULL) {
		rec.certs = &c;
		rec.ncerts = 1;
	}
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (installed == NULL && access(conf->audit_key_file, F_OK) != 0 && errno == ENOENT) {
		/* The daemon makes the audit key (and says its fingerprint) at
		 * its first start; before it, there is no log to write to. */
		snprintf(err, errlen, "not in the audit log: it has no key yet "
		    "(%s; made at the gateway's first start)", conf->audit_key_file);
		return 0;
	}
	st = installed != NULL ? audit_append(installed, &rec, &aerr)
	    : append_alone(conf, &rec, &aerr);
	if (st != AUDIT_OK) {
		snprintf(err, errlen, "audit log: %s", aerr.msg);
		return -1;
	}
	return 0;
}
