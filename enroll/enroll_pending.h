/*
 * enroll_pending.h: pending enrollments.  A certificate issued for
 * a recipient whose message was then tempfailed is kept here, one file per
 * recipient in StateDirectory/enroll-pending, so that the retry uses it
 * again instead of issuing (and revoking) another; its key is in escrow
 * (keystore) already.  Entries older than EnrollmentPendingTime are handed
 * to the caller's expire function (which revokes) and removed.
 *
 * Files are written whole (temporary file, fsync, rename); the callers
 * serialize per process (enroll.c holds a lock around get/issue/put).
 * Several gateways: once enroll_pending_share() names a keystore kept in
 * a directory (KeystoreBackend ldap), the entries are its shared records
 * there ("pending", named as the files are; keystore.h), so that a retry
 * reaching another gateway uses the same certificate; of two gateways
 * sweeping one expired entry, the one whose delete succeeds revokes it.
 * Nothing here logs; errors are returned with a reason.
 */
#ifndef ENROLL_PENDING_H
#define ENROLL_PENDING_H

#include <stddef.h>
#include <openssl/x509.h>
#include "conf/conf.h"

#include "keystore/keystore.h"

/* Keeps the entries in ks's directory from now on (NULL: files again);
 * once at start, before any thread enrolls. */
void enroll_pending_share(keystore_t *ks);

/* The pending certificate for rcpt, younger than EnrollmentPendingTime
 * and valid now (a new reference), or NULL. */
X509 *enroll_pending_get(const conf_t *conf, const char *rcpt);

/* Keeps x as rcpt's pending certificate (replacing one).  0, or -1 with why. */
int enroll_pending_put(const conf_t *conf, const char *rcpt, X509 *x,
    char *why, size_t size);

/* Forgets rcpt's pending certificate (the enrollment is complete). */
void enroll_pending_drop(const conf_t *conf, const char *rcpt);

/* Every entry older than EnrollmentPendingTime: expire(conf, rcpt, x) and
 * the file removed.  Returns how many expired. */
int enroll_pending_sweep(const conf_t *conf,
    void (*expire)(const conf_t *conf, const char *rcpt, X509 *x));

#endif
