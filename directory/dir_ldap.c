/*
 * dir_ldap.c: one LDAP directory (see dir_lookup.h for its URL): a small
 * pool of libldap handles, each used by one thread at a time, connected
 * on first use, with connect and search timeouts; a search that fails
 * for want of the server reconnects once, then answers unavailable.
 * The address goes into the filter only through libldap's
 * ldap_bv2escaped_filter_value().
 *
 * Ownership: the bind password read from x-bindpwfile is cleansed when
 * the directory is freed.  Threads: the pool's mutex and condition
 * variable guard the handles' busy flags; a thread waits for a free
 * handle at most the search timeout.
 */
#include "directory/dir_int.h"
#include "util/util_ldap.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <ldap.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>

#define LDAP_POOL_MAX     32
#define LDAP_SIZELIMIT    16    /* entries per search */
#define LDAP_MAX_CERTS    64    /* certificates per search */
#define LDAP_PW_MAX       1024

typedef struct ldap_slot {
	LDAP *ld;
	int busy;
} ldap_slot_t;

struct dir_ldap {
	char *uri;                  /* scheme://host:port for ldap_initialize */
	char *name;                 /* uri/base for messages */
	char *base;
	int scope;
	char *filter;
	char **attrs;
	char *binddn;
	char *bindpw;
	int starttls;
	int connect_timeout, search_timeout;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	ldap_slot_t slots[LDAP_POOL_MAX];
	int nslots;
};

static const char *const default_attrs[] = {
	"userSMIMECertificate", "userCertificate;binary", NULL
};

char *
dir_ldap_filter(const char *tmpl, const char *address)
{
	struct berval in, out = { 0, NULL };
	size_t len = 1, off = 0, elen;
	char *f;

	in.bv_val = (char *)address;
	in.bv_len = strlen(address);
	if (ldap_bv2escaped_filter_value(&in, &out) != 0)
		return NULL;
	elen = out.bv_len;
	for (const char *p = tmpl; *p; p++)
		len += (p[0] == '%' && p[1] == 's') ? elen : 1;
	if ((f = malloc(len)) != NULL) {
		for (const char *p = tmpl; *p; p++) {
			if (p[0] == '%' && p[1] == 's') {
				memcpy(f + off, out.bv_val, elen);
				off += elen;
				p++;
			} else if (p[0] == '%' && p[1] == '%') {
				f[off++] = '%';
				p++;
			} else {
				f[off++] = *p;
			}
		}
		f[off] = '\0';
	}
	ber_memfree(out.bv_val);
	return f;
}

static char *
read_password(const char *file, char *err, size_t errlen)
{
	FILE *fp = fopen(file, "r");
	char buf[LDAP_PW_MAX], *pw = NULL;

	if (fp == NULL) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return NULL;
	}
	if (fgets(buf, sizeof(buf), fp) == NULL) {
		snprintf(err, errlen, "%s: empty", file);
	} else {
		buf[strcspn(buf, "\r\n")] = '\0';
		if ((pw = strdup(buf)) == NULL)
			snprintf(err, errlen, "out of memory");
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	fclose(fp);
	return pw;
}

/* bindname=, x-bindpwfile=, x-starttls; 0 or -1 with err. */
static int
ldap_exts(dir_ldap_t *d, char **exts, char *err, size_t errlen)
{
	for (size_t i = 0; exts != NULL && exts[i] != NULL; i++) {
		const char *e = exts[i] + (exts[i][0] == '!');

		if (strncasecmp(e, "bindname=", 9) == 0) {
			free(d->binddn);
			d->binddn = strdup(e + 9);
		} else if (strncasecmp(e, "x-bindpwfile=", 13) == 0) {
			if ((d->bindpw = read_password(e + 13, err, errlen)) == NULL)
				return -1;
		} else if (strcasecmp(e, "x-starttls") == 0) {
			d->starttls = 1;
		} else {
			snprintf(err, errlen, "%s: unknown extension \"%s\"", d->name, e);
			return -1;
		}
	}
	return 0;
}

/* 1 when field n (1 attrs, 2 scope, 3 filter) of the URL is not empty. */
static int
url_has_field(const char *url, int n)
{
	const char *p = strchr(url, '?');

	for (int i = 1; p != NULL && i < n; i++)
		p = strchr(p + 1, '?');
	return p != NULL && p[1] != '\0' && p[1] != '?';
}

static int
ldap_from_url(dir_ldap_t *d, const char *url, const dir_settings_t *s,
    char *err, size_t errlen)
{
	LDAPURLDesc *lud = NULL;
	int rc = -1;
	size_t na = 0;
	char **attrs;

	if (ldap_url_parse(url, &lud) != LDAP_URL_SUCCESS || lud->lud_host == NULL) {
		snprintf(err, errlen, "\"%s\" is not an LDAP URL with a host", url);
		return -1;
	}
	if (asprintf(&d->uri, "%s://%s:%d", lud->lud_scheme, lud->lud_host,
	    lud->lud_port) < 0 || asprintf(&d->name, "%s/%s", d->uri,
	    lud->lud_dn ? lud->lud_dn : "") < 0) {
		d->uri = d->name = NULL;
		goto nomem;
	}
	d->base = strdup(lud->lud_dn ? lud->lud_dn : "");
	d->scope = url_has_field(url, 2) && lud->lud_scope != LDAP_SCOPE_DEFAULT ?
	    lud->lud_scope : LDAP_SCOPE_SUBTREE;
	d->filter = strdup(url_has_field(url, 3) && lud->lud_filter && *lud->lud_filter ?
	    lud->lud_filter : s->filter);
	if (lud->lud_attrs != NULL)
		while (lud->lud_attrs[na] != NULL)
			na++;
	attrs = calloc((na ? na : 2) + 1, sizeof(char *));
	if (attrs == NULL || d->base == NULL || d->filter == NULL)
		goto nomem;
	d->attrs = attrs;
	for (size_t i = 0; i < (na ? na : 2); i++)
		if ((attrs[i] = strdup(na ? lud->lud_attrs[i] : default_attrs[i])) == NULL)
			goto nomem;
	if (strstr(d->filter, "%s") == NULL) {
		snprintf(err, errlen, "%s: the filter \"%s\" has no %%s", d->name, d->filter);
		goto done;
	}
	rc = ldap_exts(d, lud->lud_exts, err, errlen);
	goto done;
nomem:
	snprintf(err, errlen, "out of memory");
done:
	ldap_free_urldesc(lud);
	return rc;
}

dir_ldap_t *
dir_ldap_new(const char *url, const dir_settings_t *s, char *err, size_t errlen)
{
	dir_ldap_t *d = calloc(1, sizeof(*d));

	if (d == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	d->connect_timeout = s->connect_timeout;
	d->search_timeout = s->search_timeout;
	d->nslots = s->pool_size < 1 ? 1 : s->pool_size > LDAP_POOL_MAX ?
	    LDAP_POOL_MAX : s->pool_size;
	if (ldap_from_url(d, url, s, err, errlen) != 0) {
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
	for (int i = 0; i < d->nslots; i++)
		if (d->slots[i].ld != NULL)
			ldap_unbind_ext_s(d->slots[i].ld, NULL, NULL);
	for (char **a = d->attrs; a != NULL && *a != NULL; a++)
		free(*a);
	free(d->attrs);
	if (d->bindpw != NULL) {
		OPENSSL_cleanse(d->bindpw, strlen(d->bindpw));
		free(d->bindpw);
	}
	free(d->binddn);
	free(d->filter);
	free(d->base);
	free(d->name);
	free(d->uri);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

const char *
dir_ldap_name(const dir_ldap_t *d)
{
	return d->name;
}

/* A free slot, waiting at most the search timeout; NULL when none. */
static ldap_slot_t *
pool_take(dir_ldap_t *d)
{
	struct timespec until;
	ldap_slot_t *slot = NULL;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += d->search_timeout;
	pthread_mutex_lock(&d->lock);
	while (slot == NULL) {
		for (int i = 0; i < d->nslots && slot == NULL; i++)
			if (!d->slots[i].busy)
				slot = &d->slots[i];
		if (slot == NULL && pthread_cond_timedwait(&d->cond, &d->lock, &until) != 0)
			break;
	}
	if (slot != NULL)
		slot->busy = 1;
	pthread_mutex_unlock(&d->lock);
	return slot;
}

static void
pool_give(dir_ldap_t *d, ldap_slot_t *slot)
{
	pthread_mutex_lock(&d->lock);
	slot->busy = 0;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static void
slot_close(ldap_slot_t *slot)
{
	if (slot->ld != NULL)
		ldap_unbind_ext_s(slot->ld, NULL, NULL);
	slot->ld = NULL;
}

/* Connects (and binds) the slot's handle; an LDAP result code. */
static int
slot_open(dir_ldap_t *d, ldap_slot_t *slot, char *why, size_t len)
{
	util_ldap_conn_t c = {
		.uri = d->uri, .name = d->name, .starttls = d->starttls,
		.binddn = d->binddn, .bindpw = d->bindpw,
		.connect_timeout = d->connect_timeout, .timeout = d->search_timeout,
	};

	return util_ldap_open(&c, &slot->ld, why, len);
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

static void
take_entries(LDAP *ld, LDAPMessage *res, STACK_OF(X509) *certs)
{
	for (LDAPMessage *e = ldap_first_entry(ld, res); e != NULL;
	    e = ldap_next_entry(ld, e)) {
		BerElement *ber = NULL;

		for (char *a = ldap_first_attribute(ld, e, &ber); a != NULL;
		    a = ldap_next_attribute(ld, e, ber)) {
			struct berval **vals = ldap_get_values_len(ld, e, a);

			for (int i = 0; vals != NULL && vals[i] != NULL &&
			    sk_X509_num(certs) < LDAP_MAX_CERTS; i++)
				dir_ldap_parse_value((unsigned char *)vals[i]->bv_val,
				    vals[i]->bv_len, certs);
			ldap_value_free_len(vals);
			ldap_memfree(a);
		}
		ber_free(ber, 0);
	}
}

static int
down(int rc)
{
	return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR ||
	    rc == LDAP_TIMEOUT || rc == LDAP_UNAVAILABLE || rc == LDAP_BUSY;
}

/*
 * One search on a pooled handle, opened (again) where needed and tried a
 * second time after the server went away.  An answer, even "no such
 * object" or a size limit reached (and, with denied_answers, "insufficient
 * access"), is LDAP_SUCCESS; entries go to certs when given.  With
 * show_filter, why names the filter.
 */
static int
pool_search(dir_ldap_t *d, const char *base, int scope, const char *filter,
    char **attrs, int sizelimit, int denied_answers, STACK_OF(X509) *certs,
    int show_filter, char *why, size_t len)
{
	struct timeval tv = { d->search_timeout, 0 };
	ldap_slot_t *slot;
	int rc = LDAP_OTHER;

	if ((slot = pool_take(d)) == NULL) {
		snprintf(why, len, "%s: every handle busy for %d s", d->name,
		    d->search_timeout);
		return LDAP_BUSY;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		LDAPMessage *res = NULL;

		if (slot->ld == NULL && (rc = slot_open(d, slot, why, len)) != LDAP_SUCCESS) {
			if (!down(rc))
				break;
			continue;
		}
		rc = ldap_search_ext_s(slot->ld, base, scope, filter, attrs, 0,
		    NULL, NULL, &tv, sizelimit, &res);
		if (rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED ||
		    rc == LDAP_NO_SUCH_OBJECT ||
		    (denied_answers && rc == LDAP_INSUFFICIENT_ACCESS)) {
			if (certs != NULL && res != NULL)
				take_entries(slot->ld, res, certs);
			ldap_msgfree(res);
			rc = LDAP_SUCCESS;
			break;
		}
		ldap_msgfree(res);
		if (show_filter)
			snprintf(why, len, "%s: search %s: %s", d->name, filter,
			    ldap_err2string(rc));
		else
			snprintf(why, len, "%s: %s", d->name, ldap_err2string(rc));
		slot_close(slot);
		if (!down(rc))
			break;
	}
	pool_give(d, slot);
	return rc;
}

dir_status_t
dir_ldap_search(dir_ldap_t *d, const char *address, STACK_OF(X509) **certs,
    char *why, size_t len)
{
	char *filter;
	int rc;

	*certs = NULL;
	if ((filter = dir_ldap_filter(d->filter, address)) == NULL ||
	    (*certs = sk_X509_new_null()) == NULL) {
		free(filter);
		snprintf(why, len, "out of memory");
		return DIR_ERR_NOMEM;
	}
	rc = pool_search(d, d->base, d->scope, filter, d->attrs, LDAP_SIZELIMIT, 0,
	    *certs, 1, why, len);
	free(filter);
	return rc == LDAP_SUCCESS ? DIR_OK : DIR_ERR_UNAVAILABLE;
}

dir_status_t
dir_ldap_ping(dir_ldap_t *d, char *why, size_t len)
{
	char *attrs[] = { LDAP_NO_ATTRS, NULL };

	/* An answer, even "no such object" or "insufficient access", is a
	 * round trip. */
	return pool_search(d, d->base, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 1, 1,
	    NULL, 0, why, len) == LDAP_SUCCESS ? DIR_OK : DIR_ERR_UNAVAILABLE;
}
