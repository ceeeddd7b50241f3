/*
 * ca_renew.h: employees' certificates renewed before they expire.
 *
 * An employee (an address in LocalDomains) whose newest signing or
 * encryption certificate (keystore_expiring()) was issued by the embedded
 * CA, is not revoked there, and expires within RenewBefore days (or has
 * expired) gets a new certificate of the same use with a new key from
 * that CA, escrowed; the old entries stay and still decrypt.  Every
 * renewal is an audit record (cert-renewed, ops_audit.h), and a new
 * encryption certificate is published (renew_publish in ca_renew.c).
 *
 * Several gateways sharing the keystore (KeystoreBackend ldap): each
 * renewal is done under a lease in the directory named by the old
 * certificate's serial (keystore_lease.h, SharedLeaseTime), so that one
 * gateway renews it while the others skip it; once the lease is held the
 * keystore is read again, and a certificate that is no longer the
 * address's newest (renewed by another gateway meanwhile) is skipped,
 * smimectl keystore renew's too.
 *
 * Threads: ca serializes issuing; the caller's keystore handle may be
 * shared.  Nothing here logs: each outcome goes to the caller's fn.
 */
#ifndef CA_RENEW_H
#define CA_RENEW_H

#include "ca/ca.h"
#include "conf/conf.h"

/* One outcome: the certificate renewed (old, from keystore_expiring())
 * and the new one (NULL when it failed or was skipped), with why (a
 * failure, or "renewed by another gateway"...). */
typedef void (*ca_renew_fn)(void *arg, const keystore_expiry_t *old,
    X509 *renewed, const char *why);

/* Renews every due certificate now; returns how many were renewed, or -1
 * when the keystore cannot be read (why says so). */
int ca_renew_due(const conf_t *conf, ca_t *ca, keystore_t *ks, ca_renew_fn fn,
    void *arg, char *why, size_t len);

/* Renews address's newest signing and encryption certificates of the
 * embedded CA now, due or not (smimectl keystore renew); returns how many
 * were renewed (0: none of the CA's; -1: the keystore unreadable). */
int ca_renew_address(const conf_t *conf, ca_t *ca, keystore_t *ks,
    const char *address, ca_renew_fn fn, void *arg, char *why, size_t len);

#endif
