/*
 * enroll.h: enrolling outsiders in the outbound path.  A recipient the
 * policy wants encrypted (encrypt=always, or enroll=yes) without a usable
 * certificate gets one on the spot: a key generated and escrowed, a
 * certificate issued (the embedded CA, or CMPServer) and published
 * (harvest store, cache), an invitation with a one-time pickup link
 * (enroll_pickup.h) and, to the sender, a notice with the PKCS#12
 * password, both through EnrollmentSMTP (net_smtp.h) or, when that is
 * empty, queued in the durable spool for ReinjectCommand.  Any failure is
 * the caller's tempfail: the message is never delivered in clear.
 * Employees without a key may get theirs the same way (CAEnrollEmployees).
 *
 * The callers hand in plain data (enroll_req_t), not their message.
 * The CA is the daemon's, installed once at start (enroll_install);
 * without it nothing is enrolled.  Thread-safe (the CA serializes issuing).
 */
#ifndef ENROLL_H
#define ENROLL_H

#include <openssl/x509.h>
#include "ca/ca.h"
#include "conf/conf.h"
#include "keystore/keystore.h"

/* What an enrollment needs of the message that asks for it (borrowed). */
typedef struct enroll_req {
	const conf_t *conf;
	keystore_t *ks;             /* for the sealed notice; may be NULL */
	const char *qid;            /* for the log lines; may be NULL */
	const char *sender;         /* the envelope sender; may be NULL */
	const char *lang;           /* the policy's language for the recipient
	                               (TemplateDirectory); NULL or "": TemplateLanguage */
} enroll_req_t;

/* Installs the CA (NULL: none).  When its keystore is kept in a
 * directory, pending enrollments and pickup links are kept there too
 * (enroll_pending_share(), enroll_pickup_share()): any gateway of that
 * directory then serves them. */
void enroll_install(ca_t *ca);

/* 1 when recipients can be enrolled now under conf (CA installed or
 * CMPServer, and EnrollmentSMTP or a re-injection key to send the
 * invitation). */
int enroll_possible(const conf_t *conf);

/* Enrolls rcpt for r: 0 with *cert (the caller's); -1 failed (logged:
 * the caller tempfails); 1 refused by the abuse limits (logged:
 * EnrollmentMaxPerSender a day per envelope sender, counted in memory;
 * EnrollmentAllowDomains, EnrollmentDenyDomains): as if there were no CA,
 * the policy's fallback applies.  Several gateways sharing the keystore
 * (KeystoreBackend ldap): one enrolls rcpt at a time, under a lease in the
 * directory (keystore_lease.h); one that finds it held waits up to
 * SharedLeaseWait and then answers 0 with the winner's certificate (no
 * second certificate, no second invitation), or -1 (tempfail). */
int enroll_rcpt(const enroll_req_t *r, const char *rcpt, X509 **cert);

/* Revokes pending enrollments older than EnrollmentPendingTime (also
 * done by each enroll_rcpt()); at start, after enroll_install(). */
void enroll_sweep(const conf_t *conf);

/* Employees (LocalDomains) without a key, when CAEnrollEmployees: 1 when
 * possible; enroll_employee() issues addr a signing and an encryption
 * certificate, keys escrowed: 0, or -1 (logged with qid). */
int enroll_employee_possible(const conf_t *conf);
/* What the installed CA's record says of cert: 1 revoked there, 0 issued
 * there and not revoked, -1 not the CA's (or no CA installed). */
int enroll_ca_revoked(X509 *cert);
int enroll_employee(const conf_t *conf, const char *qid, const char *addr);

#endif
