/*
 * dir_publish.h: publication of our people's encryption certificates in a
 * directory that partners and mail programs use as an address book
 * (PublishDirectory), and their removal.
 *
 * The entry is the one a mail program finds: the URL's filter (default
 * (mail=%s), the address escaped by libldap) under the URL's base and
 * scope.  Written there: userSMIMECertificate, a certs-only PKCS#7
 * (SignedData, DER) holding the certificate and its chain, and
 * userCertificate;binary, the certificate (DER); each replaces what the
 * attribute held.  No entry: one is made under branch, "mail=ADDRESS,
 * BRANCH", an inetOrgPerson (cn and sn from the certificate's common
 * name, else the address).  Removal takes both attributes away (the
 * entry stays).
 *
 * Each call opens its own connection (net/net_ldap.h: bind from the URL,
 * StartTLS, timeouts) and closes it: publication is rare, and a
 * directory that is down fails the call with why, never silently.
 *
 * Threads: no state; any thread.  Never logs.
 */
#ifndef DIR_PUBLISH_H
#define DIR_PUBLISH_H

#include <stddef.h>
#include <openssl/x509.h>

typedef struct dir_publish_settings {
	const char *url;            /* PublishDirectory; "" or NULL: none */
	const char *branch;         /* PublishBranch; "" or NULL: no new entries */
	int timeout;                /* seconds: connect and each operation */
} dir_publish_settings_t;

/* 1 when s names a directory to publish to. */
int dir_publish_enabled(const dir_publish_settings_t *s);

/* Checks the URL (an LDAP URL with a host, known extensions) and reads
 * its bind password file, as a publication would; connects to nothing.
 * 0 (also when none is set), or -1 with why. */
int dir_publish_check(const dir_publish_settings_t *s, char *why, size_t len);

/*
 * Publishes cert (with chain, may be NULL; a copy of cert in it is left
 * out) for address.  0 done, or -1 with why (no directory, it cannot be
 * reached, several entries match, no entry and no branch...).
 */
int dir_publish(const dir_publish_settings_t *s, const char *address,
    X509 *cert, STACK_OF(X509) *chain, char *why, size_t len);

/*
 * Removes what is published for address: always when cert is NULL, else
 * only when the entry's userCertificate;binary holds cert (a renewed
 * certificate published since stays).  0 removed, 1 nothing there to
 * remove (no entry, or another certificate), -1 with why.
 */
int dir_unpublish(const dir_publish_settings_t *s, const char *address,
    X509 *cert, char *why, size_t len);

/* The certs-only PKCS#7 (DER, OPENSSL_malloc'ed) of cert and chain, as
 * userSMIMECertificate holds it.  0, or -1. */
int dir_publish_p7(X509 *cert, STACK_OF(X509) *chain, unsigned char **der,
    size_t *len);

#endif
