/*
 * keystore_record.c: records the gateways share in the directory next to
 * the keystore's entries (see keystore_record_add() in keystore.h): the
 * embedded CA, what it issued and revoked, pending enrollments, pickup
 * links and retirements (keystore_retire.c).
 *
 * A record KIND/NAME is the entry
 *   cn=KIND-NAME,ou=smimegate,BASE    (BASE: the KeystoreLDAP URL's)
 *   objectClass: inetOrgPerson, sn: KIND, employeeType: smimegate-record,
 *   employeeNumber: VERSION, userPKCS12: the sealed data
 * so that the ACL that keeps userPKCS12 to the gateways' bind DN keeps
 * the records too, and the keystore's own reading (userPKCS12 of every
 * person) leaves them out by employeeType.  The data is sealed with
 * AES-256-GCM under a key derived from the master key: "SGR1", IV (12),
 * tag (16), ciphertext; the additional data is "KIND-NAME" and the
 * version, so a value moved to another record or another version does not
 * open.  Who can write the directory can still delete a record or put an
 * older one back; who reads it learns nothing but the names.
 *
 * Conditions: an add fails when the entry exists (LDAP_ALREADY_EXISTS: the
 * other gateway was first); an update deletes the old version's value and
 * adds the new one in one modify, which fails when another gateway
 * changed it first; a delete succeeds once.  The container ou=smimegate
 * is made on the first add that needs it.
 *
 * A rekey (keystore_rekey.c) seals every record again under the next
 * master key; until it ends, readers open a record with either key.
 *
 * Threads: the LDAP client guards its handles; nothing else is shared.
 */
#include "keystore/keystore_int.h"
#include "keystore/keystore_ldap.h"
#include "keystore/keystore_record.h"
#include "net/net_ldap.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define REC_MAGIC "SGR1"
#define REC_IV 12
#define REC_TAG 16
#define REC_HEAD (4 + REC_IV + REC_TAG)
#define REC_MAX (1024 * 1024)
#define REC_CONTAINER "ou=smimegate"
#define REC_TYPE "smimegate-record"

int
keystore_shared(const keystore_t *ks)
{
	return ks != NULL && ks->ldap != NULL;
}

/* ---- sealing ---- */

/* The records' key under a master key: HMAC-SHA256 of a label. */
static void
rec_key_of(const unsigned char master[KEYSTORE_MASTER_LEN], unsigned char key[32])
{
	static const char label[] = "smimegate shared record";
	unsigned int n = 0;

	HMAC(EVP_sha256(), master, KEYSTORE_MASTER_LEN, (const unsigned char *)label,
	    sizeof(label) - 1, key, &n);
}

/* Under the current master key (which = 0), or the next one of an
 * unfinished rekey (1; -1 when there is none). */
static int
rec_key(keystore_t *ks, int which, unsigned char key[32])
{
	unsigned char master[KEYSTORE_MASTER_LEN];
	int have = 1;

	pthread_mutex_lock(&ks->master_lock);
	if (which == 0)
		memcpy(master, ks->master, sizeof(master));
	else if ((have = ks->has_next))
		memcpy(master, ks->next, sizeof(master));
	pthread_mutex_unlock(&ks->master_lock);
	if (have)
		rec_key_of(master, key);
	OPENSSL_cleanse(master, sizeof(master));
	return have ? 0 : -1;
}

static int
rec_aad(char *aad, size_t size, const char *cn, long version)
{
	int n = snprintf(aad, size, "%s\n%ld", cn, version);

	return n > 0 && (size_t)n < size ? n : -1;
}

/* Seals data for cn at version: malloc'ed *out of *olen octets. */
static keystore_status_t
rec_seal_with(const unsigned char key[32], const char *cn, long version, const void *data,
    size_t len, unsigned char **out, size_t *olen, keystore_err_t *err)
{
	unsigned char *o = malloc(REC_HEAD + len + 1);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	char aad[300];
	int n = 0, f = 0, alen = rec_aad(aad, sizeof(aad), cn, version);
	int ok = o != NULL && c != NULL && alen > 0 && len < REC_MAX;

	if (ok) {
		memcpy(o, REC_MAGIC, 4);
		ok = RAND_bytes(o + 4, REC_IV) == 1
		    && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, o + 4) == 1
		    && EVP_EncryptUpdate(c, NULL, &n, (unsigned char *)aad, alen) == 1
		    && EVP_EncryptUpdate(c, o + REC_HEAD, &n, data, (int)len) == 1
		    && EVP_EncryptFinal_ex(c, o + REC_HEAD + n, &f) == 1
		    && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, REC_TAG, o + 4 + REC_IV) == 1;
	}
	EVP_CIPHER_CTX_free(c);
	if (!ok) {
		free(o);
		return util_err_ssl(err, KEYSTORE_ERR_CRYPTO, "record %s: cannot seal it", cn);
	}
	*out = o;
	*olen = REC_HEAD + (size_t)n + (size_t)f;
	return KEYSTORE_OK;
}

/* Seals under the current master key. */
static keystore_status_t
rec_seal(keystore_t *ks, const char *cn, long version, const void *data,
    size_t len, unsigned char **out, size_t *olen, keystore_err_t *err)
{
	unsigned char key[32];
	keystore_status_t rc;

	(void)rec_key(ks, 0, key);
	rc = rec_seal_with(key, cn, version, data, len, out, olen, err);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* Opens a sealed value of cn at version with key: *out (OPENSSL_malloc'ed,
 * NUL after the *olen octets; OPENSSL_clear_free()). */
static keystore_status_t
rec_open_with(const unsigned char key[32], const char *cn, long version,
    const unsigned char *in, size_t len, unsigned char **out, size_t *olen,
    keystore_err_t *err)
{
	unsigned char *o;
	EVP_CIPHER_CTX *c;
	char aad[300];
	int n = 0, f = 0, ok, alen = rec_aad(aad, sizeof(aad), cn, version);

	if (len < REC_HEAD || len > REC_MAX || memcmp(in, REC_MAGIC, 4) != 0 || alen < 0)
		return util_err_set(err, KEYSTORE_ERR_CORRUPT, "record %s: not sealed", cn);
	if ((o = OPENSSL_malloc(len - REC_HEAD + 1)) == NULL
	    || (c = EVP_CIPHER_CTX_new()) == NULL) {
		OPENSSL_free(o);
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	}
	ok = EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, in + 4) == 1
	    && EVP_DecryptUpdate(c, NULL, &n, (unsigned char *)aad, alen) == 1
	    && EVP_DecryptUpdate(c, o, &n, in + REC_HEAD, (int)(len - REC_HEAD)) == 1
	    && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, REC_TAG,
	    (void *)(in + 4 + REC_IV)) == 1
	    && EVP_DecryptFinal_ex(c, o + n, &f) == 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok) {
		OPENSSL_clear_free(o, len - REC_HEAD + 1);
		return util_err_set(err, KEYSTORE_ERR_CORRUPT,
		    "record %s: does not open (forged, moved, or another master key)", cn);
	}
	o[n + f] = '\0';
	*out = o;
	*olen = (size_t)(n + f);
	return KEYSTORE_OK;
}

/* Opens with the current master key, else the next one of a rekey. */
static keystore_status_t
rec_open(keystore_t *ks, const char *cn, long version, const unsigned char *in,
    size_t len, unsigned char **out, size_t *olen, keystore_err_t *err)
{
	unsigned char key[32];
	keystore_status_t rc;

	(void)rec_key(ks, 0, key);
	rc = rec_open_with(key, cn, version, in, len, out, olen, err);
	if (rc == KEYSTORE_ERR_CORRUPT && rec_key(ks, 1, key) == 0)
		rc = rec_open_with(key, cn, version, in, len, out, olen, err);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* ---- names ---- */

static int
name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	return n > 0 && n <= max && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.") == n;
}

/* cn ("KIND-NAME") and dn of a record; -1 when a name is not allowed. */
static int
rec_names(keystore_t *ks, const char *kind, const char *name, char *cn,
    size_t cnsize, char *dn, size_t dnsize)
{
	const char *base = net_ldap_base(keystore_ldap_client(ks->ldap));

	if (!name_ok(kind, 32) || !name_ok(name, 160))
		return -1;
	snprintf(cn, cnsize, "%s-%s", kind, name);
	return snprintf(dn, dnsize, "cn=%s,%s,%s", cn, REC_CONTAINER, base)
	    < (int)dnsize ? 0 : -1;
}

static keystore_status_t
rec_need(keystore_t *ks, keystore_err_t *err)
{
	if (ks->ldap == NULL)
		return util_err_set(err, KEYSTORE_ERR_INPUT,
		    "shared records need the keystore in a directory");
	return KEYSTORE_OK;
}

/* ---- adding ---- */

keystore_status_t
keystore_record_add(keystore_t *ks, const char *kind, const char *name,
    const void *data, size_t len, int *exists, keystore_err_t *err)
{
	char cn[200], dn[1400], why[sizeof(err->msg)], *kindv[] = { (char *)kind, NULL };
	char *oc[] = { "inetOrgPerson", NULL }, *type[] = { REC_TYPE, NULL };
	char *ver[] = { "1", NULL }, *cnv[] = { cn, NULL };
	unsigned char *sealed = NULL;
	size_t slen = 0;
	struct berval bv, *bvs[] = { &bv, NULL };
	LDAPMod m[] = {
		{ LDAP_MOD_ADD, "objectClass", { oc } }, { LDAP_MOD_ADD, "cn", { cnv } },
		{ LDAP_MOD_ADD, "sn", { kindv } }, { LDAP_MOD_ADD, "employeeType", { type } },
		{ LDAP_MOD_ADD, "employeeNumber", { ver } },
		{ LDAP_MOD_ADD | LDAP_MOD_BVALUES, "userPKCS12", { NULL } },
	};
	LDAPMod *mods[] = { &m[0], &m[1], &m[2], &m[3], &m[4], &m[5], NULL };
	net_ldap_t *l;
	keystore_status_t rc;
	int lrc;

	*exists = 0;
	if ((rc = rec_need(ks, err)) != KEYSTORE_OK)
		return rc;
	l = keystore_ldap_client(ks->ldap);
	if (rec_names(ks, kind, name, cn, sizeof(cn), dn, sizeof(dn)) != 0)
		return util_err_set(err, KEYSTORE_ERR_INPUT, "record %s/%s: bad name", kind, name);
	if ((rc = rec_seal(ks, cn, 1, data, len, &sealed, &slen, err)) != KEYSTORE_OK)
		return rc;
	bv.bv_val = (char *)sealed;
	bv.bv_len = slen;
	m[5].mod_bvalues = bvs;
	lrc = net_ldap_add_mods(l, dn, mods, why, sizeof(why));
	if (lrc == LDAP_NO_SUCH_OBJECT
	    && keystore_ldap_container(ks->ldap, why, sizeof(why)) == LDAP_SUCCESS)
		lrc = net_ldap_add_mods(l, dn, mods, why, sizeof(why));
	free(sealed);
	if (lrc == LDAP_ALREADY_EXISTS) {
		*exists = 1;
		return KEYSTORE_OK;
	}
	if (lrc != LDAP_SUCCESS)
		return util_err_set(err, KEYSTORE_ERR_IO, "%s", why);
	return KEYSTORE_OK;
}

/* ---- reading ---- */

/* One entry as the search gave it (still sealed). */
struct rec_raw {
	char cn[200];
	long version;
	unsigned char *val;
	size_t vlen;
};

/* What a search collects: every entry first, opened and handed to the
 * caller's function after the search, so that the function may use the
 * directory itself (the client's handle is free again by then). */
struct rec_found {
	struct rec_raw cur, *all;
	size_t n, cap;
	int have_cn, nomem;
};

static void
found_flush(struct rec_found *f)
{
	struct rec_raw *t;

	if (f->cur.val != NULL && f->have_cn && !f->nomem) {
		if (f->n == f->cap) {
			size_t cap = f->cap ? f->cap * 2 : 16;

			if ((t = realloc(f->all, cap * sizeof(*t))) == NULL) {
				f->nomem = 1;
				free(f->cur.val);
				goto reset;
			}
			f->all = t;
			f->cap = cap;
		}
		f->all[f->n++] = f->cur;
	} else
		free(f->cur.val);
reset:
	memset(&f->cur, 0, sizeof(f->cur));
	f->have_cn = 0;
}

static void
found_free(struct rec_found *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->all[i].val);
	free(f->all);
	free(f->cur.val);
}

static int
found_value(const char *dn, const char *attr, const unsigned char *val,
    size_t len, void *arg)
{
	struct rec_found *f = arg;

	(void)dn;
	if (attr == NULL) {
		found_flush(f);
		return f->nomem;
	}
	if (strcasecmp(attr, "cn") == 0 && len < sizeof(f->cur.cn)) {
		memcpy(f->cur.cn, val, len);
		f->cur.cn[len] = '\0';
		f->have_cn = 1;
	} else if (strcasecmp(attr, "employeeNumber") == 0 && len < 20) {
		char v[24];

		memcpy(v, val, len);
		v[len] = '\0';
		f->cur.version = atol(v);
	} else if (strncasecmp(attr, "userPKCS12", 10) == 0 && f->cur.val == NULL
	    && len <= REC_MAX) {
		if ((f->cur.val = malloc(len > 0 ? len : 1)) == NULL) {
			f->nomem = 1;
			return 1;
		}
		memcpy(f->cur.val, val, len);
		f->cur.vlen = len;
	}
	return 0;
}

/* One search for the records of kind (name NULL: every one; kind NULL:
 * every record) under the container, collected in f. */
static keystore_status_t
rec_search(keystore_t *ks, const char *kind, const char *name,
    struct rec_found *f, keystore_err_t *err)
{
	char base[1200], filter[300], why[sizeof(err->msg)];
	char *attrs[] = { "cn", "employeeNumber", "userPKCS12", NULL };
	net_ldap_t *l = keystore_ldap_client(ks->ldap);
	net_ldap_query_t q = {
		.base = base, .scope = LDAP_SCOPE_ONELEVEL, .filter = filter, .attrs = attrs,
		.flags = NET_LDAP_NOOBJECT, .visit = found_value, .arg = f,
	};
	int rc;

	if ((kind != NULL && !name_ok(kind, 32)) || (name != NULL && !name_ok(name, 160)))
		return util_err_set(err, KEYSTORE_ERR_INPUT, "record %s: bad name", kind);
	snprintf(base, sizeof(base), "%s,%s", REC_CONTAINER, net_ldap_base(l));
	if (kind == NULL)
		snprintf(filter, sizeof(filter), "(employeeType=%s)", REC_TYPE);
	else if (name != NULL)
		snprintf(filter, sizeof(filter), "(&(employeeType=%s)(cn=%s-%s))", REC_TYPE,
		    kind, name);
	else
		snprintf(filter, sizeof(filter), "(&(employeeType=%s)(sn=%s))", REC_TYPE, kind);
	rc = net_ldap_search(l, &q, why, sizeof(why));
	found_flush(f);
	if (rc != LDAP_SUCCESS)
		return util_err_set(err, KEYSTORE_ERR_IO, "%s", why);
	if (f->nomem)
		return util_err_set(err, KEYSTORE_ERR_NOMEM, "out of memory");
	return KEYSTORE_OK;
}

/* Opens the collected records of kind and hands each to fn until it says
 * stop; *skipped counts those that do not open, handed to fn with data
 * NULL when all.  fn's answer. */
static int
found_each(keystore_t *ks, const char *kind, struct rec_found *f,
    int (*fn)(const char *, const unsigned char *, size_t, long, void *), void *arg,
    size_t *skipped, int all)
{
	size_t kl = strlen(kind);
	unsigned char *data;
	size_t len;
	int stop = 0;

	for (size_t i = 0; i < f->n && !stop; i++) {
		struct rec_raw *r = &f->all[i];

		if (strncasecmp(r->cn, kind, kl) != 0 || r->cn[kl] != '-')
			continue;
		if (rec_open(ks, r->cn, r->version, r->val, r->vlen, &data, &len, NULL)
		    != KEYSTORE_OK) {
			(*skipped)++;
			if (all)
				stop = fn(r->cn + kl + 1, NULL, 0, r->version, arg);
			continue;
		}
		stop = fn(r->cn + kl + 1, data, len, r->version, arg);
		OPENSSL_clear_free(data, len + 1);
	}
	return stop;
}

struct rec_one {
	unsigned char *data;
	size_t len;
	long version;
};

static int
one_take(const char *name, const unsigned char *data, size_t len, long version,
    void *arg)
{
	struct rec_one *o = arg;

	(void)name;
	if ((o->data = OPENSSL_malloc(len + 1)) == NULL)
		return 1;
	memcpy(o->data, data, len);
	o->data[len] = '\0';
	o->len = len;
	o->version = version;
	return 1;
}

keystore_status_t
keystore_record_get(keystore_t *ks, const char *kind, const char *name,
    unsigned char **data, size_t *len, long *version, keystore_err_t *err)
{
	struct rec_one o = { NULL, 0, 0 };
	struct rec_found f;
	size_t skipped = 0;
	keystore_status_t rc;

	memset(&f, 0, sizeof(f));
	if ((rc = rec_need(ks, err)) == KEYSTORE_OK
	    && (rc = rec_search(ks, kind, name, &f, err)) == KEYSTORE_OK)
		(void)found_each(ks, kind, &f, one_take, &o, &skipped, 0);
	found_free(&f);
	if (rc != KEYSTORE_OK)
		return rc;
	if (o.data == NULL && skipped > 0)
		return util_err_set(err, KEYSTORE_ERR_CORRUPT, "record %s-%s: does not open "
		    "(forged, moved, or another master key)", kind, name);
	if (o.data == NULL)
		return util_err_set(err, KEYSTORE_NOTFOUND, "no record %s-%s", kind, name);
	*data = o.data;
	*len = o.len;
	if (version != NULL)
		*version = o.version;
	return KEYSTORE_OK;
}

static int
record_each(keystore_t *ks, const char *kind,
    int (*fn)(const char *name, const unsigned char *data, size_t len,
    long version, void *arg), void *arg, int all, keystore_err_t *err)
{
	struct rec_found f;
	size_t skipped = 0;
	int rc = -1;

	memset(&f, 0, sizeof(f));
	if (rec_need(ks, err) == KEYSTORE_OK && rec_search(ks, kind, NULL, &f, err)
	    == KEYSTORE_OK)
		rc = found_each(ks, kind, &f, fn, arg, &skipped, all);
	found_free(&f);
	return rc;
}

int
keystore_record_foreach(keystore_t *ks, const char *kind,
    int (*fn)(const char *name, const unsigned char *data, size_t len,
    long version, void *arg), void *arg, keystore_err_t *err)
{
	return record_each(ks, kind, fn, arg, 0, err);
}

int
keystore_record_foreach_all(keystore_t *ks, const char *kind,
    int (*fn)(const char *name, const unsigned char *data, size_t len,
    long version, void *arg), void *arg, keystore_err_t *err)
{
	return record_each(ks, kind, fn, arg, 1, err);
}

/* ---- changing ---- */

static keystore_status_t rec_modify(keystore_t *ks, const char *dn, long version,
    unsigned char *sealed, size_t slen, int *conflict, keystore_err_t *err);

keystore_status_t
keystore_record_update(keystore_t *ks, const char *kind, const char *name,
    long version, const void *data, size_t len, int *conflict, keystore_err_t *err)
{
	char cn[200], dn[1400];
	unsigned char *sealed = NULL;
	size_t slen = 0;
	keystore_status_t rc;

	*conflict = 0;
	if ((rc = rec_need(ks, err)) != KEYSTORE_OK)
		return rc;
	if (rec_names(ks, kind, name, cn, sizeof(cn), dn, sizeof(dn)) != 0)
		return util_err_set(err, KEYSTORE_ERR_INPUT, "record %s/%s: bad name", kind, name);
	if ((rc = rec_seal(ks, cn, version + 1, data, len, &sealed, &slen, err)) != KEYSTORE_OK)
		return rc;
	rc = rec_modify(ks, dn, version, sealed, slen, conflict, err);
	free(sealed);
	return rc;
}

/* The record dn at version gets the sealed value of version + 1, if no
 * other gateway changed it first (else *conflict). */
static keystore_status_t
rec_modify(keystore_t *ks, const char *dn, long version, unsigned char *sealed,
    size_t slen, int *conflict, keystore_err_t *err)
{
	char why[sizeof(err->msg)], oldv[24], newv[24];
	char *ov[] = { oldv, NULL }, *nv[] = { newv, NULL };
	struct berval bv, *bvs[] = { &bv, NULL };
	LDAPMod m[] = {
		{ LDAP_MOD_DELETE, "employeeNumber", { ov } },
		{ LDAP_MOD_ADD, "employeeNumber", { nv } },
		{ LDAP_MOD_REPLACE | LDAP_MOD_BVALUES, "userPKCS12", { NULL } },
	};
	LDAPMod *mods[] = { &m[0], &m[1], &m[2], NULL };
	int lrc;

	*conflict = 0;
	snprintf(oldv, sizeof(oldv), "%ld", version);
	snprintf(newv, sizeof(newv), "%ld", version + 1);
	bv.bv_val = (char *)sealed;
	bv.bv_len = slen;
	m[2].mod_bvalues = bvs;
	lrc = net_ldap_modify_mods(keystore_ldap_client(ks->ldap), dn, mods, why, sizeof(why));
	if (lrc == LDAP_NO_SUCH_ATTRIBUTE || lrc == LDAP_NO_SUCH_OBJECT
	    || lrc == LDAP_TYPE_OR_VALUE_EXISTS) {
		*conflict = 1;
		return KEYSTORE_OK;
	}
	if (lrc != LDAP_SUCCESS)
		return util_err_set(err, KEYSTORE_ERR_IO, "%s", why);
	return KEYSTORE_OK;
}

keystore_status_t
keystore_record_delete(keystore_t *ks, const char *kind, const char *name,
    int *gone, keystore_err_t *err)
{
	char cn[200], dn[1400], why[sizeof(err->msg)];
	keystore_status_t rc;
	int lrc;

	*gone = 0;
	if ((rc = rec_need(ks, err)) != KEYSTORE_OK)
		return rc;
	if (rec_names(ks, kind, name, cn, sizeof(cn), dn, sizeof(dn)) != 0)
		return util_err_set(err, KEYSTORE_ERR_INPUT, "record %s/%s: bad name", kind, name);
	lrc = net_ldap_delete(keystore_ldap_client(ks->ldap), dn, why, sizeof(why));
	if (lrc == LDAP_NO_SUCH_OBJECT) {
		*gone = 1;
		return KEYSTORE_OK;
	}
	if (lrc != LDAP_SUCCESS)
		return util_err_set(err, KEYSTORE_ERR_IO, "%s", why);
	return KEYSTORE_OK;
}

keystore_status_t
keystore_record_delete_at(keystore_t *ks, const char *kind, const char *name,
    long version, int *conflict, keystore_err_t *err)
{
	char cn[200], dn[1400], why[sizeof(err->msg)], assertion[64];
	keystore_status_t rc;
	int lrc;

	*conflict = 0;
	if ((rc = rec_need(ks, err)) != KEYSTORE_OK)
		return rc;
	if (rec_names(ks, kind, name, cn, sizeof(cn), dn, sizeof(dn)) != 0)
		return util_err_set(err, KEYSTORE_ERR_INPUT, "record %s/%s: bad name", kind, name);
	snprintf(assertion, sizeof(assertion), "(employeeNumber=%ld)", version);
	lrc = net_ldap_delete_if(keystore_ldap_client(ks->ldap), dn, assertion, why,
	    sizeof(why));
	if (lrc == LDAP_NO_SUCH_OBJECT || lrc == LDAP_ASSERTION_FAILED) {
		*conflict = 1;
		return KEYSTORE_OK;
	}
	if (lrc != LDAP_SUCCESS)
		return util_err_set(err, KEYSTORE_ERR_IO, "%s", why);
	return KEYSTORE_OK;
}

/* ---- the master key's rotation ---- */

/* One record sealed again under next (unless next opens it already). */
static keystore_status_t
rekey_one(keystore_t *ks, const struct rec_raw *r, const unsigned char nkey[32],
    size_t *done, keystore_err_t *err)
{
	char dn[1400];
	unsigned char *data = NULL, *sealed = NULL;
	size_t len = 0, slen = 0;
	int conflict = 0;
	keystore_status_t rc;

	if (rec_open_with(nkey, r->cn, r->version, r->val, r->vlen, &data, &len, NULL)
	    == KEYSTORE_OK) {
		OPENSSL_clear_free(data, len + 1);
		return KEYSTORE_OK;
	}
	/* One that no key opens (forged, or sealed under a lost key) is of
	 * no use to any gateway: left as it is, as a scan leaves it out. */
	if ((rc = rec_open(ks, r->cn, r->version, r->val, r->vlen, &data, &len, NULL))
	    != KEYSTORE_OK)
		return rc == KEYSTORE_ERR_CORRUPT ? KEYSTORE_OK
		    : util_err_set(err, rc, "record %s: cannot open it", r->cn);
	rc = rec_seal_with(nkey, r->cn, r->version + 1, data, len, &sealed, &slen, err);
	OPENSSL_clear_free(data, len + 1);
	snprintf(dn, sizeof(dn), "cn=%s,%s,%s", r->cn, REC_CONTAINER,
	    net_ldap_base(keystore_ldap_client(ks->ldap)));
	if (rc == KEYSTORE_OK)
		rc = rec_modify(ks, dn, r->version, sealed, slen, &conflict, err);
	free(sealed);
	if (rc == KEYSTORE_OK && conflict)
		rc = util_err_set(err, KEYSTORE_ERR_IO, "record %s changed during the rekey: "
		    "run it again", r->cn);
	if (rc == KEYSTORE_OK)
		(*done)++;
	return rc;
}

keystore_status_t
keystore_record_rekey(keystore_t *ks, const unsigned char next[KEYSTORE_MASTER_LEN],
    size_t *done, keystore_err_t *err)
{
	struct rec_found f;
	unsigned char nkey[32];
	keystore_status_t rc;

	if (ks->ldap == NULL)
		return KEYSTORE_OK;
	memset(&f, 0, sizeof(f));
	rec_key_of(next, nkey);
	rc = rec_search(ks, NULL, NULL, &f, err);
	for (size_t i = 0; rc == KEYSTORE_OK && i < f.n; i++)
		rc = rekey_one(ks, &f.all[i], nkey, done, err);
	OPENSSL_cleanse(nkey, sizeof(nkey));
	found_free(&f);
	return rc;
}
