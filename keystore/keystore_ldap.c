/*
 * keystore_ldap.c: the keystore's entries kept in an LDAP directory
 * (see keystore_open_ex() in keystore.h).  Each value of the attribute
 * (default userPKCS12) of an employee's entry is one keystore entry, the
 * bytes the file backend writes; the master key never leaves the gateway.
 *
 * Reading: one subtree search for (attribute=*) under the base (less the
 * gateways' shared records, keystore_record.c), every
 * value parsed by keystore_entry_parse(); a value that does not parse is
 * skipped (reported to the caller, who counts it), not fatal.  The
 * connection is the LDAP client's (net/net_ldap.h: the URL, bind, StartTLS,
 * timeouts, one reconnect; one handle).  Writing: the employee's entry
 * is found by the filter with the entry's address (exactly one entry),
 * and the attribute replaced by its old values less any for the same
 * certificate, plus the new one (the Binary syntax of userPKCS12 has no
 * equality rule, so single values cannot be deleted).  An address with
 * no entry (an outsider the CA enrolled) gets one of its own under
 * ou=smimegate (add_contact()).  Two gateways
 * importing for the same person at the same instant: the last write wins.
 *
 * Threads: the client guards its handle; a call that finds the server
 * gone reconnects once, then answers KEYSTORE_ERR_IO.  kl->lock makes a
 * write (read the values, replace them) one step for this gateway.
 */
#include "keystore/keystore_ldap.h"
#include "keystore/keystore_entry.h"
#include "net/net_ldap.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#define KS_LDAP_MAX_VALS 256          /* entries per employee */

struct keystore_ldap {
	net_ldap_t *client;
	const char *filter;         /* template, %s = the address */
	char *attr;
	long refresh;
	long max_stale;
	pthread_mutex_t lock;       /* one write at a time */
};

/* ---- settings ---- */

/* The keystore's status for what net_ldap_new() said. */
static keystore_status_t
new_status(int e)
{
	switch (e) {
	case EINVAL: return KEYSTORE_ERR_INPUT;
	case ENOENT: return KEYSTORE_NOTFOUND;
	case ELOOP: case EPERM: return KEYSTORE_ERR_PERM;
	case EFBIG: return KEYSTORE_ERR_CORRUPT;
	case ENOMEM: return KEYSTORE_ERR_NOMEM;
	default: return KEYSTORE_ERR_IO;
	}
}

static keystore_status_t
take_url(keystore_ldap_t *kl, const keystore_ldap_settings_t *s,
    keystore_err_t *err)
{
	net_ldap_settings_t ns = {
		.url = s->url, .connect_timeout = s->timeout > 0 ? s->timeout : 10,
		.timeout = s->timeout > 0 ? s->timeout : 10, .pool_size = 1,
	};
	char msg[sizeof(err->msg)];
	int e;

	if (s->url == NULL)
		return util_err_set(err, KEYSTORE_ERR_INPUT, "no KeystoreLDAP URL");
	if ((e = net_ldap_new(&ns, &kl->client, msg, sizeof(msg))) != 0)
		return util_err_set(err, new_status(e), "%s", msg);
	if (*net_ldap_base(kl->client) == '\0')
		return util_err_set(err, KEYSTORE_ERR_INPUT,
		    "%s: not an LDAP URL with a host and a base DN", s->url);
	kl->filter = net_ldap_url_filter(kl->client) != NULL ?
	    net_ldap_url_filter(kl->client) : "(mail=%s)";
	return KEYSTORE_OK;
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
	kl->refresh = s->refresh > 0 ? s->refresh : 60;
	kl->max_stale = s->max_stale > 0 ? s->max_stale : 0;
	if ((kl->attr = strdup(attr)) == NULL)
		rc = util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	else
		rc = take_url(kl, s, err);
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
	net_ldap_free(kl->client);
	pthread_mutex_destroy(&kl->lock);
	free(kl->attr);
	free(kl);
}

long
keystore_ldap_refresh(const keystore_ldap_t *kl)
{
	return kl->refresh;
}

long
keystore_ldap_max_stale(const keystore_ldap_t *kl)
{
	return kl->max_stale;
}

const char *
keystore_ldap_name(const keystore_ldap_t *kl)
{
	return net_ldap_name(kl->client);
}

net_ldap_t *
keystore_ldap_client(const keystore_ldap_t *kl)
{
	return kl->client;
}

/* A search under the URL's base (only an answer with LDAP_SUCCESS
 * counts); KEYSTORE_OK or KEYSTORE_ERR_IO with err. */
static keystore_status_t
search(keystore_ldap_t *kl, net_ldap_query_t *q, keystore_err_t *err)
{
	char why[sizeof(err->msg)];

	q->base = net_ldap_base(kl->client);
	if (net_ldap_search(kl->client, q, why, sizeof(why)) != LDAP_SUCCESS)
		return util_err_set(err, KEYSTORE_ERR_IO, "%s", why);
	return KEYSTORE_OK;
}

keystore_status_t
keystore_ldap_ping(keystore_ldap_t *kl, keystore_err_t *err)
{
	char *attrs[] = { LDAP_NO_ATTRS, NULL };
	net_ldap_query_t q = {
		.scope = LDAP_SCOPE_BASE, .filter = "(objectClass=*)", .attrs = attrs,
		.sizelimit = 1,
	};

	return search(kl, &q, err);
}

/* ---- reading ---- */

struct scan {
	keystore_ldap_t *kl;
	const keystore_ldap_scan_t *cb;
	keystore_err_t *err;
	keystore_status_t rc;
};

/* Every value of the attribute parsed and handed to add; a value that
 * does not parse is handed to skip (with its entry's DN and why) and left
 * out: one damaged value must not take every key with it. */
static int
scan_value(const char *dn, const char *attr, const unsigned char *val,
    size_t len, void *arg)
{
	struct scan *sc = arg;
	keystore_ldap_t *kl = sc->kl;
	keystore_err_t why = { KEYSTORE_OK, "" };
	keystore_entry_t *e;
	keystore_status_t one;
	const char *where = dn != NULL ? dn : keystore_ldap_name(kl);

	if (attr == NULL || strcasecmp(attr, kl->attr) != 0)
		return 0;
	one = keystore_entry_parse(val, len, where, &e, &why);
	if (one == KEYSTORE_ERR_NOMEM)
		sc->rc = util_err_set(sc->err, one, "%s", why.msg);
	else if (one != KEYSTORE_OK)
		sc->cb->skip(where, why.msg, sc->cb->arg);
	else if (sc->cb->add(e, sc->cb->arg) != 0) {
		keystore_entry_free(e);
		sc->rc = util_err_set(sc->err, KEYSTORE_ERR_NOMEM, "out of memory");
	}
	return sc->rc != KEYSTORE_OK;
}

keystore_status_t
keystore_ldap_scan(keystore_ldap_t *kl, const keystore_ldap_scan_t *cb,
    keystore_err_t *err)
{
	char filter[160], *attrs[] = { kl->attr, NULL };
	struct scan sc = { kl, cb, err, KEYSTORE_OK };
	net_ldap_query_t q = {
		.scope = net_ldap_scope(kl->client), .filter = filter, .attrs = attrs,
		.visit = scan_value, .arg = &sc,
	};
	keystore_status_t rc;

	/* keystore_record.c's shared records are not people's entries */
	snprintf(filter, sizeof(filter), "(&(%s=*)(!(employeeType=smimegate-record)))",
	    kl->attr);
	if ((rc = search(kl, &q, err)) != KEYSTORE_OK)
		return rc;
	return sc.rc;
}

/* ---- one employee's entry ---- */

/* What the search for one employee's entry found. */
typedef struct person {
	const char *attr;
	int copy;                   /* keep the values (else count them) */
	size_t nentries;
	char *dn;                   /* the first entry's */
	net_ldap_value_t vals[KS_LDAP_MAX_VALS];   /* its values of attr */
	size_t nvals;
	int toomany, nomem;
} person_t;

static void
person_clear(person_t *p)
{
	for (size_t i = 0; i < p->nvals; i++)
		free((void *)p->vals[i].data);
	free(p->dn);
	p->nvals = 0;
	p->dn = NULL;
}

static int
person_value(const char *dn, const char *attr, const unsigned char *val,
    size_t len, void *arg)
{
	person_t *p = arg;
	void *copy = NULL;

	if (attr == NULL) {
		if (++p->nentries == 1 && dn != NULL && (p->dn = strdup(dn)) == NULL)
			p->nomem = 1;
		return p->nomem;
	}
	if (p->nentries != 1 || strcasecmp(attr, p->attr) != 0)
		return 0;
	if (p->nvals == KS_LDAP_MAX_VALS) {
		p->toomany = 1;
		return 0;
	}
	if (p->copy && (copy = malloc(len > 0 ? len : 1)) == NULL) {
		p->nomem = 1;
		return 1;
	}
	if (copy != NULL)
		memcpy(copy, val, len);
	p->vals[p->nvals].data = copy;
	p->vals[p->nvals++].len = len;
	return 0;
}

/* The employee's entry for address: 1 found (p holds it), 0 none,
 * -1 error. */
static int
find_person(keystore_ldap_t *kl, const char *address, person_t *p,
    keystore_err_t *err)
{
	char *attrs[] = { kl->attr, NULL }, *f = net_ldap_filter(kl->filter, address);
	net_ldap_query_t q = {
		.scope = net_ldap_scope(kl->client), .filter = f, .attrs = attrs,
		.sizelimit = 2, .visit = person_value, .arg = p,
	};
	keystore_status_t rc;

	p->attr = kl->attr;
	if (f == NULL) {
		util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
		return -1;
	}
	rc = search(kl, &q, err);
	free(f);
	if (rc != KEYSTORE_OK)
		return -1;
	if (p->nomem) {
		util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
		return -1;
	}
	if (p->nentries > 1) {
		util_err_set(err, KEYSTORE_ERR_INPUT,
		    "%s: more than one entry for %s", keystore_ldap_name(kl), address);
		return -1;
	}
	return p->nentries == 1;
}

int
keystore_ldap_has(keystore_ldap_t *kl, const char *address, keystore_err_t *err)
{
	person_t *p = calloc(1, sizeof(*p));
	int r;

	if (p == NULL) {
		util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
		return -1;
	}
	if ((r = find_person(kl, address, p, err)) == 1)
		r = p->nvals > 0;
	person_clear(p);
	free(p);
	return r;
}

/* ---- writing ---- */

/* Length of the first PEM block (the certificate) in data. */
static size_t
cert_pem_len(const char *data, size_t len)
{
	static const char end[] = "-----END CERTIFICATE-----\n";
	const char *p = memmem(data, len, end, sizeof(end) - 1);

	return p != NULL ? (size_t)(p - data) + sizeof(end) - 1 : len;
}

/* The entry's values less any for the same certificate (their first PEM
 * block is the same), plus val unless drop; *removed (may be NULL) counts
 * the values left out. */
static keystore_status_t
values_write(keystore_ldap_t *kl, person_t *p, const net_ldap_value_t *val,
    int drop, size_t *removed, keystore_err_t *err)
{
	size_t certlen = cert_pem_len(val->data, val->len), k = 0;
	net_ldap_value_t *v;
	char why[sizeof(err->msg)];
	keystore_status_t rc = KEYSTORE_OK;

	if (p->dn == NULL || p->toomany || (v = calloc(p->nvals + 1, sizeof(*v))) == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM,
		    "%s: out of memory or too many entries", keystore_ldap_name(kl));
	for (size_t i = 0; i < p->nvals; i++)
		if (p->vals[i].len < certlen
		    || memcmp(p->vals[i].data, val->data, certlen) != 0)
			v[k++] = p->vals[i];
	if (removed != NULL)
		*removed = p->nvals - k;
	if (drop && k == p->nvals) {          /* nothing of it here */
		free(v);
		return KEYSTORE_OK;
	}
	if (!drop)
		v[k++] = *val;
	if (net_ldap_replace(kl->client, p->dn, kl->attr, v, k, why, sizeof(why))
	    != LDAP_SUCCESS)
		rc = util_err_set(err, KEYSTORE_ERR_IO, "%s", why);
	free(v);
	return rc;
}

static keystore_status_t
replace_values(keystore_ldap_t *kl, person_t *p, const net_ldap_value_t *val,
    keystore_err_t *err)
{
	return values_write(kl, p, val, 0, NULL, err);
}

int
keystore_ldap_container(keystore_ldap_t *kl, char *why, size_t len)
{
	char dn[1200], *oc[] = { "organizationalUnit", NULL }, *ou[] = { "smimegate", NULL };
	LDAPMod m1 = { LDAP_MOD_ADD, "objectClass", { oc } };
	LDAPMod m2 = { LDAP_MOD_ADD, "ou", { ou } };
	LDAPMod *mods[] = { &m1, &m2, NULL };
	int rc;

	snprintf(dn, sizeof(dn), "ou=smimegate,%s", net_ldap_base(kl->client));
	rc = net_ldap_add_mods(kl->client, dn, mods, why, len);
	return rc == LDAP_ALREADY_EXISTS ? LDAP_SUCCESS : rc;
}

/*
 * An address without a person's entry (an outsider the CA enrolled): an
 * entry of its own under ou=smimegate, uid the SHA-256 of the address,
 * so that every gateway finds the escrowed key as it finds an employee's.
 */
static keystore_status_t
add_contact(keystore_ldap_t *kl, const char *address, const net_ldap_value_t *val,
    keystore_err_t *err)
{
	unsigned char md[32];
	char uid[65], dn[1400], why[sizeof(err->msg)];
	char *oc[] = { "inetOrgPerson", NULL }, *uidv[] = { uid, NULL };
	char *addr[] = { (char *)address, NULL };
	struct berval bv = { val->len, (char *)val->data }, *bvs[] = { &bv, NULL };
	LDAPMod m[] = {
		{ LDAP_MOD_ADD, "objectClass", { oc } }, { LDAP_MOD_ADD, "uid", { uidv } },
		{ LDAP_MOD_ADD, "cn", { addr } }, { LDAP_MOD_ADD, "sn", { addr } },
		{ LDAP_MOD_ADD, "mail", { addr } },
		{ LDAP_MOD_ADD | LDAP_MOD_BVALUES, kl->attr, { NULL } },
	};
	LDAPMod *mods[] = { &m[0], &m[1], &m[2], &m[3], &m[4], &m[5], NULL };
	int rc;

	m[5].mod_bvalues = bvs;
	if (EVP_Digest(address, strlen(address), md, NULL, util_alg_sha256(), NULL) != 1)
		return util_err_ssl(err, KEYSTORE_ERR_CRYPTO, "cannot hash %s", address);
	util_hex(uid, md, sizeof(md));
	snprintf(dn, sizeof(dn), "uid=%s,ou=smimegate,%s", uid, net_ldap_base(kl->client));
	rc = net_ldap_add_mods(kl->client, dn, mods, why, sizeof(why));
	if (rc == LDAP_NO_SUCH_OBJECT && keystore_ldap_container(kl, why, sizeof(why))
	    == LDAP_SUCCESS)
		rc = net_ldap_add_mods(kl->client, dn, mods, why, sizeof(why));
	if (rc != LDAP_SUCCESS)
		return util_err_set(err, KEYSTORE_ERR_IO, "%s: no entry for %s, and cannot "
		    "make one: %s", keystore_ldap_name(kl), address, why);
	return KEYSTORE_OK;
}

/* What put and remove work with: an entry's value and the entry found. */
typedef struct value_job {
	net_ldap_value_t val;       /* the entry encoded (points into b) */
	BIO *b;
	person_t *p;                /* keeps the values it finds */
} value_job_t;

/* j made for e; value_end() frees it.  On failure nothing is left to free. */
static keystore_status_t
value_begin(const keystore_entry_t *e, value_job_t *j, keystore_err_t *err)
{
	keystore_status_t rc;
	char *data;
	long len;

	j->b = NULL;
	if ((j->p = calloc(1, sizeof(*j->p))) == NULL)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	if ((rc = keystore_entry_encode(e, &j->b, err)) != KEYSTORE_OK) {
		free(j->p);
		return rc;
	}
	len = BIO_get_mem_data(j->b, &data);
	j->val.data = data;
	j->val.len = len > 0 ? (size_t)len : 0;
	j->p->copy = 1;
	return KEYSTORE_OK;
}

/* find_person() with p emptied first (what it found for another address). */
static int
find_person_again(keystore_ldap_t *kl, const char *address, person_t *p,
    keystore_err_t *err)
{
	person_clear(p);
	p->nentries = 0;
	return find_person(kl, address, p, err);
}

static void
value_end(value_job_t *j)
{
	person_clear(j->p);
	free(j->p);
	BIO_free(j->b);
}

keystore_status_t
keystore_ldap_put(keystore_ldap_t *kl, const keystore_entry_t *e,
    keystore_err_t *err)
{
	value_job_t j;
	keystore_status_t rc;
	int found = 0;

	if ((rc = value_begin(e, &j, err)) != KEYSTORE_OK)
		return rc;
	pthread_mutex_lock(&kl->lock);
	for (size_t i = 0; found == 0 && e->addresses[i] != NULL; i++)
		found = find_person_again(kl, e->addresses[i], j.p, err);
	if (found == 1)
		rc = replace_values(kl, j.p, &j.val, err);
	else if (found == 0)
		rc = add_contact(kl, e->addresses[0], &j.val, err);
	else
		rc = err != NULL && err->code != KEYSTORE_OK ? err->code : KEYSTORE_ERR_IO;
	pthread_mutex_unlock(&kl->lock);
	value_end(&j);
	return rc;
}

/*
 * The value of e removed from the directory entry of each of its
 * addresses that holds it (the rest of the values stay): the key is gone
 * from the directory.  *removed: how many values went (0: none held it).
 */
keystore_status_t
keystore_ldap_remove(keystore_ldap_t *kl, const keystore_entry_t *e,
    size_t *removed, keystore_err_t *err)
{
	value_job_t j;
	keystore_status_t rc;
	size_t n = 0;

	*removed = 0;
	if ((rc = value_begin(e, &j, err)) != KEYSTORE_OK)
		return rc;
	pthread_mutex_lock(&kl->lock);
	for (size_t i = 0; rc == KEYSTORE_OK && e->addresses[i] != NULL; i++) {
		if (find_person_again(kl, e->addresses[i], j.p, err) < 0)
			rc = err != NULL && err->code != KEYSTORE_OK ? err->code : KEYSTORE_ERR_IO;
		else if (j.p->nentries == 1 && (rc = values_write(kl, j.p, &j.val, 1, &n, err))
		    == KEYSTORE_OK)
			*removed += n;
	}
	pthread_mutex_unlock(&kl->lock);
	value_end(&j);
	return rc;
}
