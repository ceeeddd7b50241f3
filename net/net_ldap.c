/*
 * net_ldap.c: the LDAP client (see net_ldap.h): the URL and its
 * extensions, opening a handle (StartTLS, bind), the pool, search and
 * modify with one reconnect.
 *
 * Threads: l->lock and l->cond guard the slots' busy flags; a slot's
 * handle is touched only by the thread that holds the slot.
 */
#include "net/net_ldap.h"
#include "util/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/time.h>

typedef struct ldap_slot {
	LDAP *ld;
	int busy;
} ldap_slot_t;

struct net_ldap {
	char *uri;                  /* scheme://host:port for ldap_initialize */
	char *name;                 /* uri/base for messages */
	char *base;
	int scope;
	char *filter;               /* NULL: none in the URL */
	char **attrs;               /* NULL: none in the URL */
	char *binddn;               /* NULL: anonymous */
	char *bindpw;
	int starttls;
	int connect_timeout, timeout;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	ldap_slot_t slots[NET_LDAP_POOL_MAX];
	int nslots;
};

/* ---- the URL ---- */

/* 1 when field n (1 attrs, 2 scope, 3 filter) of the URL is not empty:
 * ldap_url_parse() says base when no scope is given, RFC 4516's default
 * for a URL, but a search for a person wants sub. */
static int
url_has_field(const char *url, int n)
{
	const char *p = strchr(url, '?');

	for (int i = 1; p != NULL && i < n; i++)
		p = strchr(p + 1, '?');
	return p != NULL && p[1] != '\0' && p[1] != '?';
}

/* bindname=, x-bindpwfile=, x-starttls; 0 or an errno value with err. */
static int
take_exts(net_ldap_t *l, char **exts, char *err, size_t errlen)
{
	for (size_t i = 0; exts != NULL && exts[i] != NULL; i++) {
		const char *e = exts[i] + (exts[i][0] == '!');

		if (strncasecmp(e, "bindname=", 9) == 0) {
			free(l->binddn);
			if ((l->binddn = strdup(e + 9)) == NULL)
				return snprintf(err, errlen, "out of memory"), ENOMEM;
		} else if (strncasecmp(e, "x-bindpwfile=", 13) == 0) {
			if (l->bindpw != NULL)
				util_secret_free(l->bindpw, strlen(l->bindpw));
			if (util_secret_read_line(e + 13, NET_LDAP_PW_MAX, &l->bindpw,
			    err, errlen) != 0)
				return errno != 0 ? errno : EIO;
		} else if (strcasecmp(e, "x-starttls") == 0) {
			l->starttls = 1;
		} else {
			snprintf(err, errlen, "%s: unknown URL extension \"%s\"", l->name, e);
			return EINVAL;
		}
	}
	return 0;
}

static int
copy_attrs(net_ldap_t *l, char **attrs)
{
	size_t n = 0;

	while (attrs != NULL && attrs[n] != NULL)
		n++;
	if (n == 0)
		return 0;
	if ((l->attrs = calloc(n + 1, sizeof(char *))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((l->attrs[i] = strdup(attrs[i])) == NULL)
			return -1;
	return 0;
}

static int
take_url(net_ldap_t *l, const char *url, char *err, size_t errlen)
{
	LDAPURLDesc *lud = NULL;
	const char *dn;
	int rc;

	if (url == NULL || ldap_url_parse(url, &lud) != LDAP_URL_SUCCESS ||
	    lud->lud_host == NULL) {
		if (lud != NULL)
			ldap_free_urldesc(lud);
		snprintf(err, errlen, "\"%s\" is not an LDAP URL with a host",
		    url != NULL ? url : "(none)");
		return EINVAL;
	}
	dn = lud->lud_dn != NULL ? lud->lud_dn : "";
	if (asprintf(&l->uri, "%s://%s:%d", lud->lud_scheme, lud->lud_host,
	    lud->lud_port) < 0 || asprintf(&l->name, "%s/%s", l->uri, dn) < 0) {
		l->uri = l->name = NULL;
		rc = ENOMEM;
		goto done;
	}
	l->scope = url_has_field(url, 2) && lud->lud_scope != LDAP_SCOPE_DEFAULT ?
	    lud->lud_scope : LDAP_SCOPE_SUBTREE;
	rc = (l->base = strdup(dn)) == NULL ? ENOMEM : 0;
	if (rc == 0 && url_has_field(url, 3) && lud->lud_filter != NULL &&
	    *lud->lud_filter != '\0' && (l->filter = strdup(lud->lud_filter)) == NULL)
		rc = ENOMEM;
	if (rc == 0 && copy_attrs(l, lud->lud_attrs) != 0)
		rc = ENOMEM;
	if (rc == 0)
		rc = take_exts(l, lud->lud_exts, err, errlen);
done:
	if (rc == ENOMEM)
		snprintf(err, errlen, "out of memory");
	ldap_free_urldesc(lud);
	return rc;
}

int
net_ldap_new(const net_ldap_settings_t *s, net_ldap_t **out, char *err,
    size_t errlen)
{
	net_ldap_t *l = calloc(1, sizeof(*l));
	int rc;

	*out = NULL;
	if (l == NULL) {
		snprintf(err, errlen, "out of memory");
		return ENOMEM;
	}
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	l->connect_timeout = s->connect_timeout;
	l->timeout = s->timeout;
	l->nslots = s->pool_size < 1 ? 1 : s->pool_size > NET_LDAP_POOL_MAX ?
	    NET_LDAP_POOL_MAX : s->pool_size;
	if ((rc = take_url(l, s->url, err, errlen)) != 0) {
		net_ldap_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

void
net_ldap_free(net_ldap_t *l)
{
	if (l == NULL)
		return;
	for (int i = 0; i < l->nslots; i++)
		if (l->slots[i].ld != NULL)
			ldap_unbind_ext_s(l->slots[i].ld, NULL, NULL);
	for (char **a = l->attrs; a != NULL && *a != NULL; a++)
		free(*a);
	free(l->attrs);
	if (l->bindpw != NULL)
		util_secret_free(l->bindpw, strlen(l->bindpw));
	free(l->binddn);
	free(l->filter);
	free(l->base);
	free(l->name);
	free(l->uri);
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

const char *
net_ldap_name(const net_ldap_t *l)
{
	return l->name;
}

const char *
net_ldap_base(const net_ldap_t *l)
{
	return l->base;
}

int
net_ldap_scope(const net_ldap_t *l)
{
	return l->scope;
}

const char *
net_ldap_url_filter(const net_ldap_t *l)
{
	return l->filter;
}

char *const *
net_ldap_url_attrs(const net_ldap_t *l)
{
	return l->attrs;
}

char *
net_ldap_filter(const char *tmpl, const char *value)
{
	struct berval in, out = { 0, NULL };
	size_t len = 1, off = 0;
	char *f;

	in.bv_val = (char *)value;
	in.bv_len = strlen(value);
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

/* ---- a handle ---- */

/* What failed, with the server's or libldap's diagnostic when there is
 * one; closes the handle and returns rc. */
static int
open_fail(LDAP **ld, const net_ldap_t *l, const char *what, int rc, char *why,
    size_t len)
{
	char *diag = NULL;

	ldap_get_option(*ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	if (diag != NULL && *diag != '\0')
		snprintf(why, len, "%s: %s: %s (%s)", l->name, what, ldap_err2string(rc), diag);
	else
		snprintf(why, len, "%s: %s: %s", l->name, what, ldap_err2string(rc));
	ldap_memfree(diag);
	ldap_unbind_ext_s(*ld, NULL, NULL);
	*ld = NULL;
	return rc;
}

/* A connected (and bound) handle in *ld; an LDAP result code
 * (LDAP_CONNECT_ERROR for a failed StartTLS, LDAP_INVALID_CREDENTIALS...). */
static int
handle_open(const net_ldap_t *l, LDAP **ld, char *why, size_t len)
{
	struct timeval ct = { l->connect_timeout, 0 }, ot = { l->timeout, 0 };
	int v3 = LDAP_VERSION3, rc;
	struct berval cred;
	char what[300];

	*ld = NULL;
	if ((rc = ldap_initialize(ld, l->uri)) != LDAP_SUCCESS) {
		*ld = NULL;
		snprintf(why, len, "%s: %s", l->name, ldap_err2string(rc));
		return rc;
	}
	ldap_set_option(*ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	ldap_set_option(*ld, LDAP_OPT_NETWORK_TIMEOUT, &ct);
	ldap_set_option(*ld, LDAP_OPT_TIMEOUT, &ot);
	ldap_set_option(*ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	if (l->starttls && (rc = ldap_start_tls_s(*ld, NULL, NULL)) != LDAP_SUCCESS)
		return open_fail(ld, l, "StartTLS", rc, why, len);
	if (l->binddn == NULL)
		return LDAP_SUCCESS;
	cred.bv_val = l->bindpw != NULL ? l->bindpw : (char *)"";
	cred.bv_len = strlen(cred.bv_val);
	rc = ldap_sasl_bind_s(*ld, l->binddn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (rc != LDAP_SUCCESS) {
		snprintf(what, sizeof(what), "bind as %s", l->binddn);
		return open_fail(ld, l, what, rc, why, len);
	}
	return LDAP_SUCCESS;
}

static void
handle_close(ldap_slot_t *slot)
{
	if (slot->ld != NULL)
		ldap_unbind_ext_s(slot->ld, NULL, NULL);
	slot->ld = NULL;
}

/* ---- the pool ---- */

/* A free slot, waiting at most the operation timeout; NULL when none. */
static ldap_slot_t *
pool_take(net_ldap_t *l)
{
	struct timespec until;
	ldap_slot_t *slot = NULL;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += l->timeout;
	pthread_mutex_lock(&l->lock);
	while (slot == NULL) {
		for (int i = 0; i < l->nslots && slot == NULL; i++)
			if (!l->slots[i].busy)
				slot = &l->slots[i];
		if (slot == NULL && pthread_cond_timedwait(&l->cond, &l->lock, &until) != 0)
			break;
	}
	if (slot != NULL)
		slot->busy = 1;
	pthread_mutex_unlock(&l->lock);
	return slot;
}

static void
pool_give(net_ldap_t *l, ldap_slot_t *slot)
{
	pthread_mutex_lock(&l->lock);
	slot->busy = 0;
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

/* The server went away (or cannot serve now): worth one reconnect. */
static int
down(int rc)
{
	return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR ||
	    rc == LDAP_TIMEOUT || rc == LDAP_UNAVAILABLE || rc == LDAP_BUSY;
}

/* One operation on a slot (its handle open); an LDAP result code. */
typedef int (*slot_op_fn)(net_ldap_t *l, LDAP *ld, const void *op, char *why,
    size_t len);

/* op on a pooled handle, opened (again) where needed and tried a second
 * time after the server went away. */
static int
pool_run(net_ldap_t *l, slot_op_fn fn, const void *op, char *why, size_t len)
{
	ldap_slot_t *slot;
	int rc = LDAP_OTHER;

	if ((slot = pool_take(l)) == NULL) {
		snprintf(why, len, "%s: every handle busy for %d s", l->name, l->timeout);
		return LDAP_BUSY;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		if (slot->ld == NULL && (rc = handle_open(l, &slot->ld, why, len)) != LDAP_SUCCESS) {
			if (!down(rc))
				break;
			continue;
		}
		if ((rc = fn(l, slot->ld, op, why, len)) == LDAP_SUCCESS)
			break;
		handle_close(slot);
		if (!down(rc))
			break;
	}
	pool_give(l, slot);
	return rc;
}

/* ---- search ---- */

/* Every entry and value of res to q->visit, until it says stop. */
static void
walk(LDAP *ld, LDAPMessage *res, const net_ldap_query_t *q)
{
	int stop = 0;

	for (LDAPMessage *e = ldap_first_entry(ld, res); e != NULL && !stop;
	    e = ldap_next_entry(ld, e)) {
		BerElement *ber = NULL;
		char *dn = ldap_get_dn(ld, e);

		stop = q->visit(dn, NULL, NULL, 0, q->arg);
		for (char *a = stop ? NULL : ldap_first_attribute(ld, e, &ber);
		    a != NULL; a = stop ? NULL : ldap_next_attribute(ld, e, ber)) {
			struct berval **vals = ldap_get_values_len(ld, e, a);

			for (int i = 0; vals != NULL && vals[i] != NULL && !stop; i++)
				stop = q->visit(dn, a, (const unsigned char *)vals[i]->bv_val,
				    vals[i]->bv_len, q->arg);
			ldap_value_free_len(vals);
			ldap_memfree(a);
		}
		ber_free(ber, 0);
		ldap_memfree(dn);
	}
}

static int
answered(int rc, int flags)
{
	return rc == LDAP_SUCCESS ||
	    (rc == LDAP_SIZELIMIT_EXCEEDED && (flags & NET_LDAP_PARTIAL)) ||
	    (rc == LDAP_NO_SUCH_OBJECT && (flags & NET_LDAP_NOOBJECT)) ||
	    (rc == LDAP_INSUFFICIENT_ACCESS && (flags & NET_LDAP_DENIED));
}

static int
search_op(net_ldap_t *l, LDAP *ld, const void *op, char *why, size_t len)
{
	const net_ldap_query_t *q = op;
	struct timeval tv = { l->timeout, 0 };
	LDAPMessage *res = NULL;
	int rc = ldap_search_ext_s(ld, q->base, q->scope, q->filter, q->attrs, 0,
	    NULL, NULL, &tv, q->sizelimit, &res);

	if (answered(rc, q->flags)) {
		if (q->visit != NULL && res != NULL)
			walk(ld, res, q);
		rc = LDAP_SUCCESS;
	} else {
		snprintf(why, len, "%s: search %s: %s", l->name, q->filter,
		    ldap_err2string(rc));
	}
	ldap_msgfree(res);
	return rc;
}

int
net_ldap_search(net_ldap_t *l, const net_ldap_query_t *q, char *why, size_t len)
{
	return pool_run(l, search_op, q, why, len);
}

/* ---- modify ---- */

struct replace_op {
	const char *dn, *attr;
	const net_ldap_value_t *vals;
	size_t n;
};

static int
replace_one(net_ldap_t *l, LDAP *ld, const void *op, char *why, size_t len)
{
	const struct replace_op *r = op;
	struct berval *bv = calloc(r->n + 1, sizeof(*bv)), **v = calloc(r->n + 1, sizeof(*v));
	LDAPMod mod = { LDAP_MOD_REPLACE | LDAP_MOD_BVALUES, (char *)r->attr, { NULL } };
	LDAPMod *mods[] = { &mod, NULL };
	int rc = LDAP_NO_MEMORY;

	if (bv != NULL && v != NULL) {
		for (size_t i = 0; i < r->n; i++) {
			bv[i].bv_val = (char *)r->vals[i].data;
			bv[i].bv_len = r->vals[i].len;
			v[i] = &bv[i];
		}
		mod.mod_bvalues = v;
		rc = ldap_modify_ext_s(ld, r->dn, mods, NULL, NULL);
	}
	if (rc != LDAP_SUCCESS)
		snprintf(why, len, "%s: modify %s: %s", l->name, r->dn, ldap_err2string(rc));
	free(v);
	free(bv);
	return rc;
}

int
net_ldap_replace(net_ldap_t *l, const char *dn, const char *attr,
    const net_ldap_value_t *vals, size_t n, char *why, size_t len)
{
	struct replace_op op = { dn, attr, vals, n };

	return pool_run(l, replace_one, &op, why, len);
}

/* ---- modify and add with several attributes ---- */

struct mods_op {
	const char *dn;
	const net_ldap_attr_t *attrs;
	size_t n;
	int add;                    /* 1: add the entry, 0: replace values */
};

/* The LDAPMod array for attrs (one allocation each; free with mods_free). */
static LDAPMod **
mods_make(const net_ldap_attr_t *attrs, size_t n, int op)
{
	LDAPMod **mods = calloc(n + 1, sizeof(*mods));

	for (size_t i = 0; mods != NULL && i < n; i++) {
		const net_ldap_attr_t *a = &attrs[i];
		/* The mod, then its value pointers, then the bervals. */
		size_t size = sizeof(LDAPMod) + (a->n + 1) * sizeof(struct berval *)
		    + a->n * sizeof(struct berval);
		char *p = calloc(1, size);
		struct berval **v, *bv;

		if ((mods[i] = (LDAPMod *)p) == NULL) {
			for (size_t k = 0; k < i; k++)
				free(mods[k]);
			free(mods);
			return NULL;
		}
		v = (struct berval **)(p + sizeof(LDAPMod));
		bv = (struct berval *)(p + sizeof(LDAPMod) + (a->n + 1) * sizeof(*v));
		for (size_t k = 0; k < a->n; k++) {
			bv[k].bv_val = (char *)a->vals[k].data;
			bv[k].bv_len = a->vals[k].len;
			v[k] = &bv[k];
		}
		mods[i]->mod_op = op | LDAP_MOD_BVALUES;
		mods[i]->mod_type = (char *)a->name;
		mods[i]->mod_bvalues = a->n > 0 || op == LDAP_MOD_REPLACE ? v : NULL;
	}
	return mods;
}

static void
mods_free(LDAPMod **mods)
{
	for (size_t i = 0; mods != NULL && mods[i] != NULL; i++)
		free(mods[i]);
	free(mods);
}

static int
mods_one(net_ldap_t *l, LDAP *ld, const void *op, char *why, size_t len)
{
	const struct mods_op *m = op;
	LDAPMod **mods = mods_make(m->attrs, m->n, m->add ? LDAP_MOD_ADD
	    : LDAP_MOD_REPLACE);
	int rc = LDAP_NO_MEMORY;

	if (mods != NULL)
		rc = m->add ? ldap_add_ext_s(ld, m->dn, mods, NULL, NULL)
		    : ldap_modify_ext_s(ld, m->dn, mods, NULL, NULL);
	if (rc != LDAP_SUCCESS)
		snprintf(why, len, "%s: %s %s: %s", l->name, m->add ? "add" : "modify",
		    m->dn, ldap_err2string(rc));
	mods_free(mods);
	return rc;
}

int
net_ldap_modify(net_ldap_t *l, const char *dn, const net_ldap_attr_t *attrs,
    size_t n, char *why, size_t len)
{
	struct mods_op op = { dn, attrs, n, 0 };

	return pool_run(l, mods_one, &op, why, len);
}

int
net_ldap_add(net_ldap_t *l, const char *dn, const net_ldap_attr_t *attrs,
    size_t n, char *why, size_t len)
{
	struct mods_op op = { dn, attrs, n, 1 };

	return pool_run(l, mods_one, &op, why, len);
}

char *
net_ldap_dn_child(const char *attr, const char *value, const char *parent)
{
	LDAPAVA ava, *avas[2] = { &ava, NULL };
	char *rdn = NULL, *dn = NULL;

	memset(&ava, 0, sizeof(ava));
	ava.la_attr.bv_val = (char *)attr;
	ava.la_attr.bv_len = strlen(attr);
	ava.la_value.bv_val = (char *)value;
	ava.la_value.bv_len = strlen(value);
	ava.la_flags = LDAP_AVA_STRING;
	if (ldap_rdn2str(avas, &rdn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
		return NULL;
	if (asprintf(&dn, "%s%s%s", rdn, *parent != '\0' ? "," : "", parent) < 0)
		dn = NULL;
	ldap_memfree(rdn);
	return dn;
}

/* ---- add, modify, delete with the caller's LDAPMods ---- */

struct lmods_op {
	const char *dn;
	LDAPMod **mods;
	int what;                   /* 'a' add, 'm' modify, 'd' delete */
	int *verdict;               /* the answer about the entry, if any */
	const char *assertion;      /* RFC 4528 filter the entry must match, or NULL */
};

/* Answers that are the caller's to judge, not a broken connection. */
static int
is_verdict(int rc)
{
	return rc == LDAP_ALREADY_EXISTS || rc == LDAP_NO_SUCH_OBJECT
	    || rc == LDAP_NO_SUCH_ATTRIBUTE || rc == LDAP_TYPE_OR_VALUE_EXISTS
	    || rc == LDAP_ASSERTION_FAILED;
}

/* The critical assertion control for m (NULL in *ctrl when m has none). */
static int
lmods_assert(LDAP *ld, const struct lmods_op *m, LDAPControl **ctrl)
{
	*ctrl = NULL;
	if (m->assertion == NULL)
		return LDAP_SUCCESS;
	return ldap_create_assertion_control(ld, (char *)m->assertion, 1, ctrl);
}

/* One operation; a verdict is handed back in *m->verdict with
 * LDAP_SUCCESS, so that the pool keeps the handle and does not retry. */
static int
lmods_one(net_ldap_t *l, LDAP *ld, const void *op, char *why, size_t len)
{
	const struct lmods_op *m = op;
	const char *verb = m->what == 'a' ? "add" : m->what == 'm' ? "modify" : "delete";
	LDAPControl *ctrl = NULL, *ctrls[] = { NULL, NULL };
	int rc;

	if ((rc = lmods_assert(ld, m, &ctrl)) != LDAP_SUCCESS) {
		snprintf(why, len, "%s: %s %s: assertion control: %s", l->name, verb, m->dn,
		    ldap_err2string(rc));
		*m->verdict = rc;
		return LDAP_SUCCESS;        /* the handle is sound; nothing to retry */
	}
	ctrls[0] = ctrl;
	if (m->what == 'a')
		rc = ldap_add_ext_s(ld, m->dn, m->mods, ctrls, NULL);
	else if (m->what == 'm')
		rc = ldap_modify_ext_s(ld, m->dn, m->mods, ctrls, NULL);
	else
		rc = ldap_delete_ext_s(ld, m->dn, ctrls, NULL);
	ldap_control_free(ctrl);
	if (rc != LDAP_SUCCESS)
		snprintf(why, len, "%s: %s %s: %s", l->name, verb, m->dn, ldap_err2string(rc));
	*m->verdict = rc;
	return is_verdict(rc) ? LDAP_SUCCESS : rc;
}

static int
lmods_pool_if(net_ldap_t *l, const char *dn, LDAPMod **mods, int what,
    const char *assertion, char *why, size_t len)
{
	int verdict = LDAP_SUCCESS;
	struct lmods_op op = { dn, mods, what, &verdict, assertion };
	int rc = pool_run(l, lmods_one, &op, why, len);

	return rc == LDAP_SUCCESS ? verdict : rc;
}

static int
lmods_pool(net_ldap_t *l, const char *dn, LDAPMod **mods, int what, char *why,
    size_t len)
{
	return lmods_pool_if(l, dn, mods, what, NULL, why, len);
}

int
net_ldap_add_mods(net_ldap_t *l, const char *dn, LDAPMod **mods, char *why, size_t len)
{
	return lmods_pool(l, dn, mods, 'a', why, len);
}

int
net_ldap_modify_mods(net_ldap_t *l, const char *dn, LDAPMod **mods, char *why, size_t len)
{
	return lmods_pool(l, dn, mods, 'm', why, len);
}

int
net_ldap_delete(net_ldap_t *l, const char *dn, char *why, size_t len)
{
	return lmods_pool(l, dn, NULL, 'd', why, len);
}

int
net_ldap_delete_if(net_ldap_t *l, const char *dn, const char *assertion, char *why,
    size_t len)
{
	return lmods_pool_if(l, dn, NULL, 'd', assertion, why, len);
}
