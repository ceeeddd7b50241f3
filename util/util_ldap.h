/*
 * util_ldap.h: opening an LDAP connection the one way smimegate does it,
 * for its two LDAP clients (directory/dir_ldap.c, the certificate
 * lookups, and keystore/keystore_ldap.c, the keystore in a directory):
 * LDAPv3, no referrals, connect and operation timeouts, StartTLS when
 * asked (the URL extension x-starttls), then a simple bind.
 *
 * TLS (ldaps:// and StartTLS) is libldap's: the server's certificate must
 * chain to the CA that ldap.conf's TLS_CACERT (or LDAPTLS_CACERT in the
 * environment) names, and name the host (libldap's default, TLS_REQCERT
 * demand); a server that refuses StartTLS or whose certificate does not
 * verify gives no connection, never a connection in clear.
 *
 * Threads: the handle is the caller's; nothing is shared.  No logging.
 */
#ifndef SMIMEGATE_UTIL_LDAP_H
#define SMIMEGATE_UTIL_LDAP_H

#include <stddef.h>
#include <ldap.h>

typedef struct util_ldap_conn {
	const char *uri;            /* scheme://host:port for ldap_initialize */
	const char *name;           /* for messages (never a password) */
	int starttls;
	const char *binddn;         /* NULL: no bind (anonymous) */
	const char *bindpw;         /* NULL: "" */
	int connect_timeout;        /* seconds */
	int timeout;                /* seconds, each operation */
} util_ldap_conn_t;

/*
 * A connected (and bound) handle in *ld, or NULL with why; an LDAP result
 * code (LDAP_SUCCESS, or what failed: LDAP_SERVER_DOWN, LDAP_CONNECT_ERROR
 * for a failed StartTLS, LDAP_INVALID_CREDENTIALS...).
 */
int util_ldap_open(const util_ldap_conn_t *c, LDAP **ld, char *why, size_t len);

#endif
