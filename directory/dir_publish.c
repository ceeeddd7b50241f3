/*
 * dir_publish.c: writing our people's certificates to PublishDirectory
 * and taking them away again (see dir_publish.h), through the LDAP
 * client net/net_ldap.h.  The certs-only PKCS#7 is OpenSSL's.
 *
 * Threads: no state; each call has its own connection.
 */
#include "directory/dir_publish.h"
#include "net/net_ldap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#define ATTR_P7   "userSMIMECertificate"
#define ATTR_CERT "userCertificate;binary"
#define NAME_MAX_LEN 256

int
dir_publish_enabled(const dir_publish_settings_t *s)
{
	return s != NULL && s->url != NULL && *s->url != '\0';
}

int
dir_publish_check(const dir_publish_settings_t *s, char *why, size_t len)
{
	net_ldap_settings_t ns = { s->url, s->timeout, s->timeout, 1 };
	net_ldap_t *l = NULL;

	if (!dir_publish_enabled(s))
		return 0;
	if (net_ldap_new(&ns, &l, why, len) != 0)
		return -1;
	net_ldap_free(l);
	return 0;
}

/* ---- the values ---- */

int
dir_publish_p7(X509 *cert, STACK_OF(X509) *chain, unsigned char **der,
    size_t *len)
{
	PKCS7 *p7 = PKCS7_new();
	unsigned char *p;
	int ok, n = -1;

	*der = NULL;
	ok = p7 != NULL && PKCS7_set_type(p7, NID_pkcs7_signed)
	    && (p7->d.sign->contents->type = OBJ_nid2obj(NID_pkcs7_data)) != NULL
	    && PKCS7_add_certificate(p7, cert);
	for (int i = 0; ok && i < sk_X509_num(chain); i++)
		if (X509_cmp(sk_X509_value(chain, i), cert) != 0)
			ok = PKCS7_add_certificate(p7, sk_X509_value(chain, i));
	if (ok && (n = i2d_PKCS7(p7, NULL)) > 0 && (*der = OPENSSL_malloc((size_t)n)) != NULL) {
		p = *der;
		*len = (size_t)i2d_PKCS7(p7, &p);
	}
	PKCS7_free(p7);
	return *der != NULL ? 0 : -1;
}

static int
cert_der(X509 *cert, unsigned char **der, size_t *len)
{
	int n = i2d_X509(cert, der);

	if (n <= 0) {
		*der = NULL;
		return -1;
	}
	*len = (size_t)n;
	return 0;
}

/* The certificate's common name, else the address, for a new entry. */
static void
cert_name(X509 *cert, const char *address, char *name, size_t size)
{
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName,
	    name, (int)size) <= 0 || *name == '\0')
		snprintf(name, size, "%s", address);
}

/* ---- the entry ---- */

struct found {
	char *dn;                   /* the first entry's */
	int entries;
	const unsigned char *want;  /* a certificate (DER) to look for */
	size_t want_len;
	int has;                    /* the entry holds it */
};

static int
found_visit(const char *dn, const char *attr, const unsigned char *val,
    size_t len, void *arg)
{
	struct found *f = arg;

	if (attr == NULL) {
		if (f->entries++ == 0 && dn != NULL)
			f->dn = strdup(dn);
		return 0;
	}
	if (f->want != NULL && f->entries == 1 && len == f->want_len
	    && memcmp(val, f->want, len) == 0)
		f->has = 1;
	return 0;
}

/* Searches the entry of address; f->dn NULL when none.  0, or -1. */
static int
find_entry(net_ldap_t *l, const char *address, struct found *f, char *why,
    size_t len)
{
	const char *tmpl = net_ldap_url_filter(l);
	char *attrs[] = { ATTR_CERT, NULL }, *none[] = { LDAP_NO_ATTRS, NULL };
	char *filter = net_ldap_filter(tmpl != NULL ? tmpl : "(mail=%s)", address);
	net_ldap_query_t q = {
		.base = net_ldap_base(l), .scope = net_ldap_scope(l), .filter = filter,
		.attrs = f->want != NULL ? attrs : none, .sizelimit = 2,
		.flags = NET_LDAP_PARTIAL | NET_LDAP_NOOBJECT, .visit = found_visit,
		.arg = f,
	};
	int rc;

	if (filter == NULL) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	rc = net_ldap_search(l, &q, why, len);
	free(filter);
	if (rc != LDAP_SUCCESS)
		return -1;
	if (f->entries > 1) {
		snprintf(why, len, "%s: more than one entry for %s", net_ldap_name(l),
		    address);
		return -1;
	}
	if (f->entries == 1 && f->dn == NULL) {
		snprintf(why, len, "%s: the entry of %s has no DN", net_ldap_name(l),
		    address);
		return -1;
	}
	return 0;
}

static net_ldap_t *
open_dir(const dir_publish_settings_t *s, char *why, size_t len)
{
	net_ldap_settings_t ns = { s->url, s->timeout, s->timeout, 1 };
	net_ldap_t *l = NULL;

	if (!dir_publish_enabled(s)) {
		snprintf(why, len, "no PublishDirectory");
		return NULL;
	}
	if (net_ldap_new(&ns, &l, why, len) != 0)
		return NULL;
	return l;
}

/* A new entry under the branch with the two values. */
static int
add_entry(net_ldap_t *l, const dir_publish_settings_t *s, const char *address,
    X509 *cert, net_ldap_value_t *vals, char *why, size_t len)
{
	char name[NAME_MAX_LEN], *dn;
	net_ldap_value_t oc[] = { { "top", 3 }, { "inetOrgPerson", 13 } };
	net_ldap_value_t cn = { name, 0 }, mail = { address, strlen(address) };
	net_ldap_attr_t attrs[] = {
		{ "objectClass", oc, 2 }, { "cn", &cn, 1 }, { "sn", &cn, 1 },
		{ "mail", &mail, 1 }, { ATTR_P7, &vals[0], 1 }, { ATTR_CERT, &vals[1], 1 },
	};
	int rc;

	if (s->branch == NULL || *s->branch == '\0') {
		snprintf(why, len, "%s: no entry (mail=%s), and no PublishBranch to make "
		    "one in", net_ldap_name(l), address);
		return -1;
	}
	cert_name(cert, address, name, sizeof(name));
	cn.len = strlen(name);
	if ((dn = net_ldap_dn_child("mail", address, s->branch)) == NULL) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	rc = net_ldap_add(l, dn, attrs, sizeof(attrs) / sizeof(attrs[0]), why, len);
	if (rc == LDAP_ALREADY_EXISTS)  /* there, but out of the search's reach */
		rc = net_ldap_modify(l, dn, &attrs[4], 2, why, len);
	free(dn);
	return rc == LDAP_SUCCESS ? 0 : -1;
}

int
dir_publish(const dir_publish_settings_t *s, const char *address, X509 *cert,
    STACK_OF(X509) *chain, char *why, size_t len)
{
	unsigned char *p7 = NULL, *der = NULL;
	size_t p7len = 0, derlen = 0;
	net_ldap_value_t vals[2];
	net_ldap_attr_t attrs[2];
	struct found f = { NULL, 0, NULL, 0, 0 };
	net_ldap_t *l = open_dir(s, why, len);
	int rc = -1;

	if (l == NULL)
		return -1;
	if (dir_publish_p7(cert, chain, &p7, &p7len) != 0 || cert_der(cert, &der, &derlen) != 0) {
		snprintf(why, len, "cannot encode the certificate of %s", address);
		goto done;
	}
	vals[0] = (net_ldap_value_t){ p7, p7len };
	vals[1] = (net_ldap_value_t){ der, derlen };
	attrs[0] = (net_ldap_attr_t){ ATTR_P7, &vals[0], 1 };
	attrs[1] = (net_ldap_attr_t){ ATTR_CERT, &vals[1], 1 };
	if (find_entry(l, address, &f, why, len) != 0)
		goto done;
	if (f.dn == NULL)
		rc = add_entry(l, s, address, cert, vals, why, len);
	else
		rc = net_ldap_modify(l, f.dn, attrs, 2, why, len) == LDAP_SUCCESS ? 0 : -1;
done:
	free(f.dn);
	OPENSSL_free(p7);
	OPENSSL_free(der);
	net_ldap_free(l);
	return rc;
}

int
dir_unpublish(const dir_publish_settings_t *s, const char *address, X509 *cert,
    char *why, size_t len)
{
	net_ldap_attr_t attrs[2] = { { ATTR_P7, NULL, 0 }, { ATTR_CERT, NULL, 0 } };
	unsigned char *der = NULL;
	size_t derlen = 0;
	struct found f = { NULL, 0, NULL, 0, 0 };
	net_ldap_t *l = open_dir(s, why, len);
	int rc = -1;

	if (l == NULL)
		return -1;
	if (cert != NULL) {
		if (cert_der(cert, &der, &derlen) != 0) {
			snprintf(why, len, "cannot encode the certificate of %s", address);
			goto done;
		}
		f.want = der;
		f.want_len = derlen;
	}
	if (find_entry(l, address, &f, why, len) != 0)
		goto done;
	if (f.dn == NULL || (cert != NULL && !f.has))
		rc = 1;
	else
		rc = net_ldap_modify(l, f.dn, attrs, 2, why, len) == LDAP_SUCCESS ? 0 : -1;
done:
	free(f.dn);
	OPENSSL_free(der);
	net_ldap_free(l);
	return rc;
}
