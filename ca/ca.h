/*
 * ca.h: the embedded certificate authority, a library-like part of the
 * daemon's ca/ that keeps its keys through keystore's public API.
 *
 * A CA is a directory (0700): a self-signed root and an issuing
 * intermediate (root.crt, root.key, issuing.crt, issuing.key), their keys
 * encrypted PKCS#8 (AES-256) under a password derived from the keystore's
 * master key; issued/SERIAL.pem, one per certificate issued; revoked.txt,
 * "SERIAL UNIXTIME" lines; crl.der, the latest CRL.  When the keystore
 * is in a directory (KeystoreBackend ldap, keystore_shared()), the CA is
 * kept there instead, for every gateway of that directory (ca_shared.c):
 * its certificates and keys, what it issued and revoked; the CA
 * directory then holds copies of the two certificates and this gateway's
 * latest CRL only.  Serial numbers are random (127 bits) and CRL numbers
 * the time of signing in microseconds, so that gateways sharing the CA
 * never give one number twice.  Certificates issued
 * with a new key have that key escrowed in the keystore (an entry like an
 * imported one), which is what lets a profile carry keyEncipherment.
 *
 * Ownership: ca_open() returns a handle freed with ca_free(); it borrows
 * ks, which must outlive it.  Certificates and buffers handed out are the
 * caller's.
 * Threads: calls on one handle are serialized by its mutex.
 * Errors: keystore_status_t and a keystore_err_t, as keystore.h; never
 * logs, never exits.
 */
#ifndef CA_H
#define CA_H

#include "keystore/keystore.h"

typedef enum ca_keytype {
	CA_RSA2048 = 0, CA_RSA3072, CA_P256
} ca_keytype_t;

typedef enum ca_profile {
	CA_SIGN = 0,                /* employee: digitalSignature, nonRepudiation */
	CA_ENCRYPT,                 /* employee: keyEncipherment (keyAgreement for EC) */
	CA_EXTERNAL                 /* external recipient: both */
} ca_profile_t;

typedef struct ca_settings {
	const char *dir;            /* the CA directory */
	ca_keytype_t key_type;
	long days;                  /* validity of issued certificates */
	long ca_days;               /* validity of the root and intermediate */
	long crl_days;              /* a CRL's nextUpdate, from now */
	const char *subject;        /* "O=Example,C=DE": fields of every name */
	const char *crl_url;        /* crlDistributionPoints, "" = none */
	const char *issuer_url;     /* authorityInfoAccess caIssuers, "" = none */
	const char *ocsp_url;       /* authorityInfoAccess OCSP, "" or NULL = none */
} ca_settings_t;

typedef struct ca ca_t;

/* One issued certificate, for ca_foreach(). */
typedef struct ca_cert {
	const char *serial;         /* upper-case hex */
	const char *address;
	const char *not_after;      /* "YYYY-MM-DD HH:MM:SS UTC" */
	long revoked;               /* 0, or when (Unix time) */
} ca_cert_t;

/* Makes the root and the intermediate; KEYSTORE_ERR_INPUT when the CA
 * exists already. */
keystore_status_t ca_init(keystore_t *ks, const ca_settings_t *s,
    keystore_err_t *err);
/* KEYSTORE_NOTFOUND when the CA has not been made. */
ca_t *ca_open(keystore_t *ks, const ca_settings_t *s,
    keystore_err_t *err);
void ca_free(ca_t *ca);

/* Generates a key, issues a certificate for address under profile and
 * escrows the key in the keystore.  *cert (may be NULL) gets it.  Both
 * issuing calls refuse a retired address (KEYSTORE_RETIRED). */
keystore_status_t ca_issue(ca_t *ca, const char *address,
    ca_profile_t profile, X509 **cert, keystore_err_t *err);
/* Issues a certificate for address under profile to the key of an
 * external PKCS#10 request (DER or PEM in req, len octets): its signature
 * (proof of possession) must verify, an RSA key have 2048 bits at least;
 * the request's subject and extensions are ignored (the CA names it as
 * for ca_issue).  No key is escrowed.  *cert (may be NULL). */
keystore_status_t ca_issue_csr(ca_t *ca, const char *address,
    ca_profile_t profile, const unsigned char *req, size_t len, X509 **cert,
    keystore_err_t *err);
/* Marks the certificate with that serial (hex) revoked and makes a CRL. */
keystore_status_t ca_revoke(ca_t *ca, const char *serial,
    keystore_err_t *err);
/* 1 when cert was issued by this CA's issuing certificate. */
int ca_issued_here(ca_t *ca, X509 *cert);
/* The certificate issued with that serial (hex), a new reference;
 * KEYSTORE_NOTFOUND when the CA issued none. */
keystore_status_t ca_issued_cert(ca_t *ca, const char *serial, X509 **cert,
    keystore_err_t *err);
/* 1 when this CA issued cert and has revoked it, 0 when it did not
 * revoke it (or did not issue it: not its to say), -1 when its list of
 * revoked certificates cannot be read. */
int ca_revoked(ca_t *ca, X509 *cert);
/* The same with a CRL reason code (RFC 5280: 0 unspecified, 1
 * keyCompromise, ... 10 aACompromise; -1 none), kept with the revocation
 * and given in the CRL and OCSP answers. */
keystore_status_t ca_revoke_reason(ca_t *ca, const char *serial, int reason,
    keystore_err_t *err);
/* The code of a reason name as RFC 5280 spells it ("keyCompromise",
 * "superseded", ...; case-insensitive), or -1. */
int ca_reason_code(const char *name);
/* Calls fn per issued certificate; stops when it returns non-zero. */
int ca_foreach(ca_t *ca,
    int (*fn)(const ca_cert_t *c, void *arg), void *arg,
    keystore_err_t *err);
/* What the CA's record says of the certificate with serial (hex, as
 * ca_cert_t's): issued and not revoked, revoked (*when, Unix time;
 * *reason, a CRL reason code or -1), or not issued by this CA (also for a
 * malformed serial). */
typedef enum ca_status { CA_STATUS_UNKNOWN = 0, CA_STATUS_GOOD, CA_STATUS_REVOKED }
    ca_status_t;
ca_status_t ca_cert_status(ca_t *ca, const char *serial, long *when, int *reason);
/* Octets: the largest OCSP request ca_ocsp_respond() reads. */
#define CA_OCSP_MAX_REQUEST 2000
/* The DER OCSP response (RFC 6960) to the DER request (req, len): per
 * certificate asked about, good, revoked (with its time) or unknown
 * (another issuer, or a serial this CA did not issue) from
 * ca_cert_status(), the revocation's reason when one was given;
 * thisUpdate now, nextUpdate in next seconds; the
 * request's nonce echoed; signed by the issuing CA's key.  A request that
 * does not parse, is larger than CA_OCSP_MAX_REQUEST or asks about more
 * than a few certificates gets malformedRequest.  *resp is
 * OPENSSL_malloc'ed; 0, or -1 when out of memory. */
int ca_ocsp_respond(ca_t *ca, const unsigned char *req, size_t len, long next,
    unsigned char **resp, size_t *resplen);
/* Signs a new CRL, stores it as crl.der and gives its DER (*der is
 * OPENSSL_malloc'ed; der may be NULL when not wanted). */
keystore_status_t ca_crl(ca_t *ca, unsigned char **der,
    size_t *len, keystore_err_t *err);
/* The certificate the CA issued with serial (hex, any case): a new
 * reference in *cert (may be NULL when not wanted) and in *revoked when
 * it was revoked (Unix time), else 0.  KEYSTORE_NOTFOUND when the CA
 * issued no such certificate.  Both backends (files, directory). */
keystore_status_t ca_lookup(ca_t *ca, const char *serial, X509 **cert,
    long *revoked, keystore_err_t *err);
/* The keystore the CA was opened with (borrowed). */
keystore_t *ca_keystore(ca_t *ca);
/* The issuing and root certificates (new references). */
X509 *ca_issuer(ca_t *ca);
X509 *ca_root(ca_t *ca);

#endif
