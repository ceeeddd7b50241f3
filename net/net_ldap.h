/*
 * net_ldap.h: smimegate's one LDAP client, used by the certificate
 * lookups (directory/dir_ldap.c) and the keystore kept in a directory
 * (keystore/keystore_ldap.c).
 *
 * A server is an RFC 4516 URL, parsed by libldap:
 *   ldap://host:port/BASE?ATTRS?SCOPE?FILTER?EXTENSIONS
 * (ldaps:// for TLS from the first octet).  Extensions, each may carry
 * the critical mark '!':
 *   bindname=DN       a simple bind as DN (%2c for a comma in a URL);
 *   x-bindpwfile=FILE its password: the first line of FILE, read by
 *                     util_secret_read_line() (no symbolic link, owner us
 *                     or root, mode 0600 or 0400);
 *   x-starttls        StartTLS before the bind.
 * Any other extension is refused.  The client itself uses the host, the
 * bind and StartTLS; the base, scope, filter and attributes are for the
 * caller (net_ldap_base() and the others).
 *
 * Connections: LDAPv3, no referrals, a connect timeout and a timeout for
 * each operation.  TLS (ldaps:// and StartTLS) is libldap's: the server's
 * certificate must chain to the CA that ldap.conf's TLS_CACERT (or
 * LDAPTLS_CACERT in the environment) names and name the host (TLS_REQCERT
 * demand, libldap's default); a server that refuses StartTLS or whose
 * certificate does not verify gives no connection, never one in clear.
 *
 * A small pool of handles, each used by one thread at a time and
 * connected on first use; a thread waits for a free handle at most the
 * operation timeout.  An operation that finds the server gone (down,
 * timed out, busy, unavailable) reconnects once, then fails.
 *
 * Ownership and threads: a net_ldap_t may be shared by any number of
 * threads; its mutex guards the handles' busy flags.  The bind password
 * is cleansed when it is freed.  No logging; errors are LDAP result
 * codes (or errno values for net_ldap_new()) and a message in the
 * caller's buffer, never with a password in it.
 */
#ifndef SMIMEGATE_NET_LDAP_H
#define SMIMEGATE_NET_LDAP_H

#include <stddef.h>
#include <ldap.h>

#define NET_LDAP_POOL_MAX 32
#define NET_LDAP_PW_MAX   1024          /* octets of a bind password file */

typedef struct net_ldap net_ldap_t;

typedef struct net_ldap_settings {
	const char *url;
	int connect_timeout;        /* seconds */
	int timeout;                /* seconds: each operation, and the wait
	                               for a free handle */
	int pool_size;              /* handles, 1 to NET_LDAP_POOL_MAX */
} net_ldap_settings_t;

/*
 * Parses s->url and reads its bind password file; connects to nothing.
 * 0 with *out, or an errno value with err: EINVAL (not an LDAP URL with a
 * host, an unknown extension), ENOMEM, or what util_secret_read_line()
 * said of the password file (ENOENT, ELOOP, EPERM, EFBIG, EINVAL...).
 */
int net_ldap_new(const net_ldap_settings_t *s, net_ldap_t **out, char *err,
    size_t errlen);
void net_ldap_free(net_ldap_t *l);

/* scheme://host:port/BASE, for messages (never a password). */
const char *net_ldap_name(const net_ldap_t *l);
/* What the URL says for the caller's searches: the base DN ("" when
 * none); the scope (LDAP_SCOPE_SUBTREE when the URL names none, not
 * libldap's base); the filter (NULL when none); the attributes
 * (NULL-terminated, NULL when none). */
const char *net_ldap_base(const net_ldap_t *l);
int net_ldap_scope(const net_ldap_t *l);
const char *net_ldap_url_filter(const net_ldap_t *l);
char *const *net_ldap_url_attrs(const net_ldap_t *l);

/* The filter for value from template tmpl: %s replaced by value escaped
 * by ldap_bv2escaped_filter_value(), %% by %.  malloc'ed, or NULL. */
char *net_ldap_filter(const char *tmpl, const char *value);

/*
 * What a search hands its caller, entry by entry: once per entry with
 * attr and val NULL (the entry itself, even one without values), then
 * once per value of each attribute returned (attr as the server names it,
 * "userCertificate;binary" say).  dn is NULL when libldap cannot give it.
 * Return 0 to go on; anything else ends the walk (the search still
 * answers LDAP_SUCCESS: the caller's arg says why it stopped).
 */
typedef int (*net_ldap_visit_fn)(const char *dn, const char *attr,
    const unsigned char *val, size_t len, void *arg);

/* Other answers than LDAP_SUCCESS that count as an answer (without
 * entries, or with those that came) rather than an error: */
#define NET_LDAP_PARTIAL  0x1   /* the size limit was reached */
#define NET_LDAP_NOOBJECT 0x2   /* no such object (the base) */
#define NET_LDAP_DENIED   0x4   /* insufficient access */

typedef struct net_ldap_query {
	const char *base;
	int scope;
	const char *filter;
	char **attrs;               /* NULL: all; { LDAP_NO_ATTRS, NULL }: none */
	int sizelimit;              /* entries, 0: the server's */
	int flags;                  /* NET_LDAP_PARTIAL... */
	net_ldap_visit_fn visit;    /* NULL: only the round trip matters */
	void *arg;
} net_ldap_query_t;

/*
 * One search on a pooled handle.  LDAP_SUCCESS when the server answered
 * (q->visit saw every entry), else the LDAP result code with why
 * ("NAME: search FILTER: reason", or the connection's failure; LDAP_BUSY
 * when every handle stayed busy).
 */
int net_ldap_search(net_ldap_t *l, const net_ldap_query_t *q, char *why,
    size_t len);

/* A value to write. */
typedef struct net_ldap_value {
	const void *data;
	size_t len;
} net_ldap_value_t;

/* Replaces every value of attr of the entry dn by the n values vals.
 * LDAP_SUCCESS, or the result code with why ("NAME: modify DN: ..."). */
int net_ldap_replace(net_ldap_t *l, const char *dn, const char *attr,
    const net_ldap_value_t *vals, size_t n, char *why, size_t len);

/* One attribute and its values, for net_ldap_modify() and net_ldap_add(). */
typedef struct net_ldap_attr {
	const char *name;
	const net_ldap_value_t *vals;
	size_t n;                   /* 0: (replace) the attribute removed */
} net_ldap_attr_t;

/* Replaces every value of each of the n attributes of the entry dn, in
 * one modify operation (all or nothing); an attribute with no values is
 * removed (nothing happens when the entry has none).  LDAP_SUCCESS, or
 * the result code with why. */
int net_ldap_modify(net_ldap_t *l, const char *dn, const net_ldap_attr_t *attrs,
    size_t n, char *why, size_t len);

/* Adds the entry dn with the n attributes.  LDAP_SUCCESS, or the result
 * code with why ("NAME: add DN: ..."). */
int net_ldap_add(net_ldap_t *l, const char *dn, const net_ldap_attr_t *attrs,
    size_t n, char *why, size_t len);

/* "ATTR=VALUE,PARENT", VALUE escaped as RFC 4514 says (libldap's
 * ldap_rdn2str()); malloc'ed, or NULL. */
char *net_ldap_dn_child(const char *attr, const char *value, const char *parent);

/*
 * One add (mods: the entry's attributes, LDAP_MOD_ADD), modify (any
 * LDAPMod: a delete of one value and an add of another make a condition)
 * or delete of dn.  LDAP_SUCCESS, or the result code with why ("NAME: add DN: ...").
 * The answers that say something of the entry rather than of the
 * connection (LDAP_ALREADY_EXISTS, LDAP_NO_SUCH_OBJECT,
 * LDAP_NO_SUCH_ATTRIBUTE, LDAP_TYPE_OR_VALUE_EXISTS) are never retried:
 * an add that finds the entry made, or a modify whose delete of a value
 * finds it gone, is how two gateways learn which of them won.
 */
int net_ldap_add_mods(net_ldap_t *l, const char *dn, LDAPMod **mods, char *why,
    size_t len);
int net_ldap_modify_mods(net_ldap_t *l, const char *dn, LDAPMod **mods, char *why,
    size_t len);
int net_ldap_delete(net_ldap_t *l, const char *dn, char *why, size_t len);
/* net_ldap_delete() only while the entry matches the filter assertion
 * (the RFC 4528 assertion control, critical): LDAP_ASSERTION_FAILED, never
 * retried, when another gateway changed it first. */
int net_ldap_delete_if(net_ldap_t *l, const char *dn, const char *assertion,
    char *why, size_t len);

#endif
