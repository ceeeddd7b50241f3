/*
 * keystore_ldap.c: the keystore's entries kept in an LDAP directory
 * (see keystore_open_ex() in keystore.h).  Each value of the attribute
 * (default userPKCS12) of an employee's entry is one keystore entry, the
 * bytes the file backend writes; the master key never leaves the gateway.
 *
 * Reading: one subtree search for (attribute=*) under the base, every
 * value parsed by keystore_entry_parse(); a value that does not parse is
 * skipped (reported to the caller, who counts it), not fatal.  The
 * connection: util_ldap_open() (StartTLS with x-starttls).  Writing: the employee's entry
 * is found by the filter with the entry's address (exactly one entry),
 * and the attribute replaced by its old values less any for the same
 * certificate, plus the new one (the Binary syntax of userPKCS12 has no
 * equality rule, so single values cannot be deleted).  Two gateways
 * importing for the same person at the same instant: the last write wins.
 *
 * Ownership: the bind password is cleansed when the handle is freed.
 * Threads: one LDAP handle, used under kl->lock; a call that finds the
 * server gone reconnects once, then answers KEYSTORE_ERR_IO.
 */
#include "keystore/keystore_ldap.h"
#include "keystore/keystore_entry.h"
#include "keystore/keystore_file.h"
#include "util/util_ldap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ldap.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#define KS_LDAP_PW_MAX   1024
#define KS_LDAP_MAX_VALS 256          /* entries per employee */

struct keystore_ldap {
	char *uri;                  /* scheme://host:port */
	char *name;                 /* uri/base, for messages */
	char *base;
	int scope;
	char *filter;               /* template, %s = the address */
	char *attr;
	char *binddn;
	char *bindpw;
	int starttls;               /* x-starttls */
	int timeout;
	long refresh;
	pthread_mutex_t lock;
	LDAP *ld;
};

/* ---- settings ---- */

static char *
read_pw(const char *file, keystore_err_t *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	char *pw;

	if (keystore_file_read(file, KS_LDAP_PW_MAX, &data, &len, err) != KEYSTORE_OK)
		return NULL;
	if ((pw = calloc(1, len + 1)) == NULL) {
		OPENSSL_clear_free(data, len);
		util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
		return NULL;
	}
	memcpy(pw, data, len);
	pw[strcspn(pw, "\r\n")] = '\0';
	OPENSSL_clear_free(data, len);
	return pw;
}

static keystore_status_t
take_exts(keystore_ldap_t *kl, char **exts, keystore_err_t *err)
{
	for (size_t i = 0; exts != NULL && exts[i] != NULL; i++) {
		const char *e = exts[i] + (exts[i][0] == '!');

		if (strncasecmp(e, "bindname=", 9) == 0) {
			if ((kl->binddn = strdup(e + 9)) == NULL)
				return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
		} else if (strncasecmp(e, "x-bindpwfile=", 13) == 0) {
			if ((kl->bindpw = read_pw(e + 13, err)) == NULL)
				return err != NULL ? err->code : KEYSTORE_ERR_IO;
		} else if (strcasecmp(e, "x-starttls") == 0) {
			kl->starttls = 1;
		} else
			return util_err_set(err, KEYSTORE_ERR_INPUT,
			    "%s: unknown URL extension \"%s\"", kl->name, e);
	}
	return KEYSTORE_OK;
}

/* 1 when the URL names a scope (its second '?' field is not empty):
 * ldap_url_parse() says base when none is given, RFC 4516's default for
 * a URL, but an employee search wants sub. */
static int
url_has_scope(const char *url)
{
	const char *p = strchr(url, '?');

	p = p != NULL ? strchr(p + 1, '?') : NULL;
	return p != NULL && p[1] != '\0' && p[1] != '?';
}

static keystore_status_t
take_url(keystore_ldap_t *kl, const char *url, keystore_err_t *err)
{
	LDAPURLDesc *lud = NULL;
	keystore_status_t rc = KEYSTORE_OK;
	char buf[512];

	if (url == NULL || ldap_url_parse(url, &lud) != LDAP_URL_SUCCESS
	    || lud->lud_host == NULL || lud->lud_dn == NULL || *lud->lud_dn == '\0') {
		if (lud != NULL)
			ldap_free_urldesc(lud);
		return util_err_set(err, KEYSTORE_ERR_INPUT,
		    "%s: not an LDAP URL with a host and a base DN",
		    url != NULL ? url : "(none)");
	}
	snprintf(buf, sizeof(buf), "%s://%s:%d", lud->lud_scheme, lud->lud_host,
	    lud->lud_port);
	kl->uri = strdup(buf);
	snprintf(buf, sizeof(buf), "%s://%s:%d/%s", lud->lud_scheme, lud->lud_host,
	    lud->lud_port, lud->lud_dn);
	kl->name = strdup(buf);
	kl->base = strdup(lud->lud_dn);
	kl->scope = url_has_scope(url) && lud->lud_scope != LDAP_SCOPE_DEFAULT
	    ? lud->lud_scope : LDAP_SCOPE_SUBTREE;
	kl->filter = strdup(lud->lud_filter != NULL ? lud->lud_filter : "(mail=%s)");
	if (kl->uri == NULL || kl->name == NULL || kl->base == NULL || kl->filter == NULL)
		rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	else
		rc = take_exts(kl, lud->lud_exts, err);
	ldap_free_urldesc(lud);
	return rc;
}

keystore_status_t
keystore_ldap_new(const keystore_ldap_settings_t *s, keystore_ldap_t **out,
    keystore_err_t *err)
{
	keystore_ldap_t *kl = calloc(1, sizeof(*kl));
	const char *attr = s->attribute != NULL && *s->attribute ? s->attribute
	    : "userPKCS12";
	keystore_status_t rc;

	if (kl == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&kl->lock, NULL);
	kl->timeout = s->timeout > 0 ? s->timeout : 10;
	kl->refresh = s->refresh > 0 ? s->refresh : 60;
	if ((kl->attr = strdup(attr)) == NULL)
		rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	else
		rc = take_url(kl, s->url, err);
	if (rc != KEYSTORE_OK) {
		keystore_ldap_free(kl);
		return rc;
	}
	*out = kl;
	return KEYSTORE_OK;
}

void
keystore_ldap_free(keystore_ldap_t *kl)
{
	if (kl == NULL)
		return;
	if (kl->ld != NULL)
		ldap_unbind_ext_s(kl->ld, NULL, NULL);
	if (kl->bindpw != NULL) {
		OPENSSL_cleanse(kl->bindpw, strlen(kl->bindpw));
		free(kl->bindpw);
	}
	pthread_mutex_destroy(&kl->lock);
	free(kl->uri);
	free(kl->name);
	free(kl->base);
	free(kl->filter);
	free(kl->attr);
	free(kl->binddn);
	free(kl);
}

long
keystore_ldap_refresh(const keystore_ldap_t *kl)
{
	return kl->refresh;
}

const char *
keystore_ldap_name(const keystore_ldap_t *kl)
{
	return kl->name;
}

/* ---- the connection (kl->lock held) ---- */

static void
conn_close(keystore_ldap_t *kl)
{
	if (kl->ld != NULL)
		ldap_unbind_ext_s(kl->ld, NULL, NULL);
	kl->ld = NULL;
}

static keystore_status_t
conn_open(keystore_ldap_t *kl, keystore_err_t *err)
{
	util_ldap_conn_t c = {
		.uri = kl->uri, .name = kl->name, .starttls = kl->starttls,
		.binddn = kl->binddn, .bindpw = kl->bindpw,
		.connect_timeout = kl->timeout, .timeout = kl->timeout,
	};
	char why[256];

	if (kl->ld != NULL)
		return KEYSTORE_OK;
	if (util_ldap_open(&c, &kl->ld, why, sizeof(why)) != LDAP_SUCCESS)
		return util_err_set(err, KEYSTORE_ERR_IO, "%s", why);
	return KEYSTORE_OK;
}

/* A search, reconnecting once when the server went away. */
static int
search(keystore_ldap_t *kl, const char *base, int scope, const char *filter,
    char **attrs, int sizelimit, LDAPMessage **res, keystore_err_t *err)
{
	struct timeval tv = { kl->timeout, 0 };
	int rc = LDAP_SERVER_DOWN;

	for (int tries = 0; tries < 2 && (rc == LDAP_SERVER_DOWN
	    || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT); tries++) {
		*res = NULL;
		if (conn_open(kl, err) != KEYSTORE_OK)
			return -1;
		rc = ldap_search_ext_s(kl->ld, base, scope, filter, attrs, 0, NULL,
		    NULL, &tv, sizelimit, res);
		if (rc != LDAP_SUCCESS) {
			ldap_msgfree(*res);
			*res = NULL;
		}
		if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT)
			conn_close(kl);
	}
	if (rc != LDAP_SUCCESS) {
		util_err_set(err, KEYSTORE_ERR_IO, "%s: search %s: %s", kl->name,
		    filter, ldap_err2string(rc));
		return -1;
	}
	return 0;
}

keystore_status_t
keystore_ldap_ping(keystore_ldap_t *kl, keystore_err_t *err)
{
	char *attrs[] = { LDAP_NO_ATTRS, NULL };
	LDAPMessage *res = NULL;
	int r;

	pthread_mutex_lock(&kl->lock);
	r = search(kl, kl->base, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 1,
	    &res, err);
	pthread_mutex_unlock(&kl->lock);
	ldap_msgfree(res);
	return r == 0 ? KEYSTORE_OK : KEYSTORE_ERR_IO;
}

/* ---- reading ---- */

/* Every value of every entry parsed and handed to add; a value that does
 * not parse is handed to skip (with its entry's DN and why) and left out:
 * one damaged value must not take every key with it. */
static keystore_status_t
scan_values(keystore_ldap_t *kl, LDAPMessage *res, const keystore_ldap_scan_t *cb,
    keystore_err_t *err)
{
	keystore_entry_t *e;
	keystore_status_t rc = KEYSTORE_OK, one;
	keystore_err_t why = { KEYSTORE_OK, "" };

	for (LDAPMessage *m = ldap_first_entry(kl->ld, res);
	    rc == KEYSTORE_OK && m != NULL; m = ldap_next_entry(kl->ld, m)) {
		struct berval **vals = ldap_get_values_len(kl->ld, m, kl->attr);
		char *dn = ldap_get_dn(kl->ld, m);

		for (size_t i = 0; rc == KEYSTORE_OK && vals != NULL && vals[i] != NULL;
		    i++) {
			one = keystore_entry_parse((unsigned char *)vals[i]->bv_val,
			    vals[i]->bv_len, dn != NULL ? dn : kl->name, &e, &why);
			if (one == KEYSTORE_ERR_NOMEM)
				rc = util_err_set(err, one, "%s", why.msg);
			else if (one != KEYSTORE_OK)
				cb->skip(dn != NULL ? dn : kl->name, why.msg, cb->arg);
			else if (cb->add(e, cb->arg) != 0) {
				keystore_entry_free(e);
				rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
			}
		}
		ldap_value_free_len(vals);
		ldap_memfree(dn);
	}
	return rc;
}

keystore_status_t
keystore_ldap_scan(keystore_ldap_t *kl, const keystore_ldap_scan_t *cb,
    keystore_err_t *err)
{
	char filter[160], *attrs[] = { kl->attr, NULL };
	LDAPMessage *res = NULL;
	keystore_status_t rc = KEYSTORE_ERR_IO;

	snprintf(filter, sizeof(filter), "(%s=*)", kl->attr);
	pthread_mutex_lock(&kl->lock);
	if (search(kl, kl->base, kl->scope, filter, attrs, 0, &res, err) == 0)
		rc = scan_values(kl, res, cb, err);
	pthread_mutex_unlock(&kl->lock);
	ldap_msgfree(res);
	return rc;
}

/* ---- writing ---- */

/* The filter for address, escaped by libldap; malloc'ed. */
static char *
make_filter(const char *tmpl, const char *address)
{
	struct berval in = { strlen(address), (char *)address }, out = { 0, NULL };
	size_t len = 1, off = 0;
	char *f;

	if (ldap_bv2escaped_filter_value(&in, &out) != 0)
		return NULL;
	for (const char *p = tmpl; *p; p++)
		len += (p[0] == '%' && p[1] == 's') ? out.bv_len : 1;
	if ((f = malloc(len)) != NULL) {
		for (const char *p = tmpl; *p; p++) {
			if (p[0] == '%' && p[1] == 's') {
				memcpy(f + off, out.bv_val, out.bv_len);
				off += out.bv_len;
				p++;
			} else
				f[off++] = *p;
		}
		f[off] = '\0';
	}
	ber_memfree(out.bv_val);
	return f;
}

/* The employee's entry for address: 1 found (res holds it), 0 none,
 * -1 error. */
static int
find_person(keystore_ldap_t *kl, const char *address, LDAPMessage **res,
    keystore_err_t *err)
{
	char *attrs[] = { kl->attr, NULL }, *f = make_filter(kl->filter, address);
	int n, r;

	if (f == NULL) {
		util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
		return -1;
	}
	r = search(kl, kl->base, kl->scope, f, attrs, 2, res, err);
	free(f);
	if (r != 0)
		return -1;
	if ((n = ldap_count_entries(kl->ld, *res)) > 1) {
		util_err_set(err, KEYSTORE_ERR_INPUT,
		    "%s: more than one entry for %s", kl->name, address);
		return -1;
	}
	return n == 1;
}

/* The new value set: old values not for the same certificate (their
 * first PEM block differs), then new; borrowed pointers, NULL-terminated. */
static struct berval **
merge_values(struct berval **old, struct berval *new, size_t certlen)
{
	size_t n = 0, k = 0;
	struct berval **v;

	while (old != NULL && old[n] != NULL)
		n++;
	if (n >= KS_LDAP_MAX_VALS || (v = calloc(n + 2, sizeof(*v))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (old[i]->bv_len < certlen
		    || memcmp(old[i]->bv_val, new->bv_val, certlen) != 0)
			v[k++] = old[i];
	v[k] = new;
	return v;
}

/* Length of the first PEM block (the certificate) in data. */
static size_t
cert_pem_len(const char *data, size_t len)
{
	static const char end[] = "-----END CERTIFICATE-----\n";
	const char *p = memmem(data, len, end, sizeof(end) - 1);

	return p != NULL ? (size_t)(p - data) + sizeof(end) - 1 : len;
}

int
keystore_ldap_has(keystore_ldap_t *kl, const char *address, keystore_err_t *err)
{
	LDAPMessage *res = NULL;
	struct berval **vals;
	int r;

	pthread_mutex_lock(&kl->lock);
	if ((r = find_person(kl, address, &res, err)) == 1) {
		vals = ldap_get_values_len(kl->ld, ldap_first_entry(kl->ld, res), kl->attr);
		r = vals != NULL && vals[0] != NULL;
		ldap_value_free_len(vals);
	}
	pthread_mutex_unlock(&kl->lock);
	ldap_msgfree(res);
	return r;
}

static keystore_status_t
replace_values(keystore_ldap_t *kl, LDAPMessage *res, struct berval *val,
    keystore_err_t *err)
{
	LDAPMessage *m = ldap_first_entry(kl->ld, res);
	struct berval **old = ldap_get_values_len(kl->ld, m, kl->attr), **v;
	char *dn = ldap_get_dn(kl->ld, m);
	LDAPMod mod = { LDAP_MOD_REPLACE | LDAP_MOD_BVALUES, kl->attr, { NULL } };
	LDAPMod *mods[] = { &mod, NULL };
	keystore_status_t rc = KEYSTORE_OK;
	int r;

	if (dn == NULL || (v = merge_values(old, val,
	    cert_pem_len(val->bv_val, val->bv_len))) == NULL)
		rc = util_err_set(err, KEYSTORE_ERR_NOMEM,
		    "%s: out of memory or too many entries", kl->name);
	else {
		mod.mod_bvalues = v;
		if ((r = ldap_modify_ext_s(kl->ld, dn, mods, NULL, NULL)) != LDAP_SUCCESS)
			rc = util_err_set(err, KEYSTORE_ERR_IO, "%s: modify %s: %s",
			    kl->name, dn, ldap_err2string(r));
		free(v);
	}
	ldap_value_free_len(old);
	ldap_memfree(dn);
	return rc;
}

keystore_status_t
keystore_ldap_put(keystore_ldap_t *kl, const keystore_entry_t *e,
    keystore_err_t *err)
{
	LDAPMessage *res = NULL;
	struct berval val;
	keystore_status_t rc;
	BIO *b = NULL;
	char *data;
	long len;
	int found = 0;

	if ((rc = keystore_entry_encode(e, &b, err)) != KEYSTORE_OK)
		return rc;
	len = BIO_get_mem_data(b, &data);
	val.bv_val = data;
	val.bv_len = len > 0 ? (ber_len_t)len : 0;
	pthread_mutex_lock(&kl->lock);
	for (size_t i = 0; found == 0 && e->addresses[i] != NULL; i++) {
		ldap_msgfree(res);
		res = NULL;
		found = find_person(kl, e->addresses[i], &res, err);
	}
	if (found == 1)
		rc = replace_values(kl, res, &val, err);
	else if (found == 0)
		rc = util_err_set(err, KEYSTORE_ERR_INPUT,
		    "%s: no directory entry for %s to keep the key in", kl->name,
		    e->addresses[0]);
	else
		rc = err != NULL && err->code != KEYSTORE_OK ? err->code : KEYSTORE_ERR_IO;
	pthread_mutex_unlock(&kl->lock);
	ldap_msgfree(res);
	BIO_free(b);
	return rc;
}
