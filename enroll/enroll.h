/*
 * enroll.h: enrollment by the embedded CA in the outbound path
 * (issue 5).  A recipient the policy wants encrypted (encrypt=always, or
 * enroll=yes) without a usable certificate gets one on the spot: a key
 * generated and escrowed, a certificate issued and published (harvest
 * store, cache), an invitation with a one-time pickup link (enroll_pickup.h)
 * and, to the sender, a notice with the PKCS#12 password, both through
 * EnrollmentSMTP (net_smtp.h) or, when that is empty, queued in the
 * durable spool for ReinjectCommand (mail_queue_outbox()).  Any failure
 * is the caller's tempfail:
 * the message is never delivered in clear.
 *
 * The CA is the daemon's, installed once at start (enroll_install);
 * without it nothing is enrolled.  Thread-safe (the CA serializes issuing).
 */
#ifndef ENROLL_H
#define ENROLL_H

#include <openssl/x509.h>
#include "keystore/keystore_ca.h"
#include "mail/mail_msg.h"

void enroll_install(keystore_ca_t *ca);

/* 1 when recipients of m can be enrolled now (CA installed or CMPServer,
 * and EnrollmentSMTP or a re-injection key to send the invitation). */
int enroll_possible(const mail_msg_t *m);

/* Enrolls rcpt: 0 with *cert (the caller's); -1 failed (logged: the
 * caller tempfails); 1 refused by the abuse limits (logged:
 * EnrollmentMaxPerSender a day per envelope sender, counted in memory;
 * EnrollmentAllowDomains, EnrollmentDenyDomains): as if there were no CA,
 * the policy's fallback applies. */
int enroll_rcpt(const mail_msg_t *m, const char *rcpt, X509 **cert);

/* Revokes pending enrollments older than EnrollmentPendingTime (also
 * done by each enroll_rcpt()); at start, after enroll_install(). */
void enroll_sweep(const conf_t *conf);

/* Employees (LocalDomains) without a key, when CAEnrollEmployees: 1 when
 * possible; enroll_employee() issues them a signing and an encryption
 * certificate, keys escrowed: 0, or -1 (logged). */
int enroll_employee_possible(const mail_msg_t *m);
int enroll_employee(const mail_msg_t *m, const char *addr);

#endif
