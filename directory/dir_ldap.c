/*
 * dir_ldap.c: one LDAP directory of the certificate lookups (see
 * dir_lookup.h for its URL), through the LDAP client net/net_ldap.h (the
 * URL, the bind, StartTLS, the pool of handles, timeouts, one reconnect):
 * the filter with the address escaped by libldap, the attributes asked
 * for, and the certificates the values hold.
 *
 * Threads: a dir_ldap_t is immutable after dir_ldap_new(); the client
 * guards its handles.
 */
#include "directory/dir_int.h"
#include "net/net_ldap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>

#define LDAP_SIZELIMIT    16    /* entries per search */
#define LDAP_MAX_CERTS    64    /* certificates per search */

struct dir_ldap {
	net_ldap_t *client;
	const char *filter;         /* the URL's, or s->filter (below) */
	char *default_filter;
	char **attrs;               /* the URL's, or default_attrs */
};

static char *default_attrs[] = {
	"userSMIMECertificate", "userCertificate;binary", NULL
};

dir_ldap_t *
dir_ldap_new(const char *url, const dir_settings_t *s, char *err, size_t errlen)
{
	net_ldap_settings_t ns = {
		.url = url, .connect_timeout = s->connect_timeout,
		.timeout = s->search_timeout, .pool_size = s->pool_size,
	};
	dir_ldap_t *d = calloc(1, sizeof(*d));

	if (d == NULL || (d->default_filter = strdup(s->filter)) == NULL) {
		free(d);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (net_ldap_new(&ns, &d->client, err, errlen) != 0) {
		dir_ldap_free(d);
		return NULL;
	}
	d->filter = net_ldap_url_filter(d->client) != NULL ?
	    net_ldap_url_filter(d->client) : d->default_filter;
	d->attrs = net_ldap_url_attrs(d->client) != NULL ?
	    (char **)net_ldap_url_attrs(d->client) : default_attrs;
	if (strstr(d->filter, "%s") == NULL) {
		snprintf(err, errlen, "%s: the filter \"%s\" has no %%s",
		    net_ldap_name(d->client), d->filter);
		dir_ldap_free(d);
		return NULL;
	}
	return d;
}

void
dir_ldap_free(dir_ldap_t *d)
{
	if (d == NULL)
		return;
	net_ldap_free(d->client);
	free(d->default_filter);
	free(d);
}

const char *
dir_ldap_name(const dir_ldap_t *d)
{
	return net_ldap_name(d->client);
}

int
dir_ldap_parse_value(const unsigned char *der, size_t len, STACK_OF(X509) *certs)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	PKCS7 *p7;
	STACK_OF(X509) *in = NULL;
	int n = 0;

	if (x != NULL && p == der + len) {
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			return -1;
		}
		return 1;
	}
	X509_free(x);
	p = der;
	if ((p7 = d2i_PKCS7(NULL, &p, (long)len)) == NULL) {
		ERR_clear_error();
		return -1;
	}
	if (PKCS7_type_is_signed(p7) && p7->d.sign != NULL)
		in = p7->d.sign->cert;
	for (int i = 0; in != NULL && i < sk_X509_num(in); i++) {
		x = sk_X509_value(in, i);
		X509_up_ref(x);
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			break;
		}
		n++;
	}
	PKCS7_free(p7);
	ERR_clear_error();
	return n;
}

/* Each value's certificates onto the stack, up to LDAP_MAX_CERTS. */
static int
take_value(const char *dn, const char *attr, const unsigned char *val,
    size_t len, void *arg)
{
	STACK_OF(X509) *certs = arg;

	if (attr != NULL && sk_X509_num(certs) < LDAP_MAX_CERTS)
		dir_ldap_parse_value(val, len, certs);
	return 0;
}

dir_status_t
dir_ldap_search(dir_ldap_t *d, const char *address, STACK_OF(X509) **certs,
    char *why, size_t len)
{
	net_ldap_query_t q = {
		.base = net_ldap_base(d->client), .scope = net_ldap_scope(d->client),
		.attrs = d->attrs, .sizelimit = LDAP_SIZELIMIT,
		.flags = NET_LDAP_PARTIAL | NET_LDAP_NOOBJECT, .visit = take_value,
	};
	char *filter;
	int rc;

	*certs = NULL;
	if ((filter = net_ldap_filter(d->filter, address)) == NULL ||
	    (*certs = sk_X509_new_null()) == NULL) {
		free(filter);
		snprintf(why, len, "out of memory");
		return DIR_ERR_NOMEM;
	}
	q.filter = filter;
	q.arg = *certs;
	rc = net_ldap_search(d->client, &q, why, len);
	free(filter);
	return rc == LDAP_SUCCESS ? DIR_OK : DIR_ERR_UNAVAILABLE;
}

dir_status_t
dir_ldap_ping(dir_ldap_t *d, char *why, size_t len)
{
	char *attrs[] = { LDAP_NO_ATTRS, NULL };
	/* An answer, even "no such object" or "insufficient access", is a
	 * round trip. */
	net_ldap_query_t q = {
		.base = net_ldap_base(d->client), .scope = LDAP_SCOPE_BASE,
		.filter = "(objectClass=*)", .attrs = attrs, .sizelimit = 1,
		.flags = NET_LDAP_PARTIAL | NET_LDAP_NOOBJECT | NET_LDAP_DENIED,
	};

	return net_ldap_search(d->client, &q, why, len) == LDAP_SUCCESS ? DIR_OK
	    : DIR_ERR_UNAVAILABLE;
}
