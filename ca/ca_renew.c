/*
 * ca_renew.c: employees' certificates renewed before they expire (see
 * ca_renew.h).
 */
#include "ca/ca_renew.h"
#include "ca/ca_serve.h"
#include "keystore/keystore_lease.h"
#include "ops/ops_audit.h"
#include "ops/ops_publish.h"
#include "util/util_addr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <limits.h>
#include <time.h>

#define DAY 86400LL

/* 1 when this CA's record of e's serial is e's certificate (issued here,
 * not by another CA of the same name) and is not revoked. */
static int
issued_here_unrevoked(ca_t *ca, const keystore_expiry_t *e)
{
	keystore_info_t info;
	keystore_err_t err;
	X509 *x = NULL;
	char first[8];
	int r = 0;

	if (ca_issued_cert(ca, e->serial, &x, &err) == KEYSTORE_OK
	    && keystore_cert_describe(x, &info, first, sizeof(first)) == 0)
		r = strcmp(info.fingerprint, e->fingerprint) == 0 && ca_issued_here(ca, x)
		    && ca_revoked(ca, x) == 0;
	X509_free(x);
	return r;
}

/* e is an employee's, from this CA, and not revoked there. */
static int
renewable(const conf_t *conf, ca_t *ca, const keystore_expiry_t *e)
{
	return conf_is_local_domain(conf, util_addr_domain(e->address))
	    && issued_here_unrevoked(ca, e);
}

/* Still the address's newest of its use, still due (before), after the
 * keystore was read again: else another gateway renewed it meanwhile. */
static int
still_due(keystore_t *ks, const keystore_expiry_t *old, time_t before)
{
	keystore_expiry_t *v;
	keystore_err_t err;
	size_t n;
	int found = 0;

	keystore_reread(ks);
	if (keystore_expiring(ks, before, &v, &n, &err) != 0)
		return 0;
	for (size_t i = 0; i < n && !found; i++)
		found = strcasecmp(v[i].address, old->address) == 0
		    && strcmp(v[i].fingerprint, old->fingerprint) == 0
		    && v[i].sign == old->sign && v[i].encrypt == old->encrypt;
	free(v);
	return found;
}

/*
 * After a successful renewal, the one call point of publication: the new
 * encryption certificate in the harvest store and the cache
 * (ca_serve_publish()), and with the CA's chain in PublishDirectory
 * (ops_publish(), which logs its own failure).  why: the harvest store's
 * failure, left to the caller to report.
 */
static int
renew_publish(const conf_t *conf, ca_t *ca, const char *address, X509 *cert,
    char *why, size_t len)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509 *x;

	if (chain != NULL) {
		if ((x = ca_issuer(ca)) != NULL && !sk_X509_push(chain, x))
			X509_free(x);
		if ((x = ca_root(ca)) != NULL && !sk_X509_push(chain, x))
			X509_free(x);
	}
	(void)ops_publish(conf, NULL, address, cert, chain, 0);
	sk_X509_pop_free(chain, X509_free);
	return ca_serve_publish(conf, address, cert, why, len);
}

/* The audit record of a renewal. */
static int
renew_audit(const conf_t *conf, const keystore_expiry_t *old, X509 *cert,
    char *why, size_t len)
{
	char reason[300];
	ops_key_event_t ev = { AUDIT_CERT_RENEWED, old->address, cert, NULL, NULL,
		NULL, reason };

	snprintf(reason, sizeof(reason), "renews serial %s (%s, expires %s)",
	    old->serial, old->sign && old->encrypt ? "sign,encrypt"
	    : old->sign ? "sign" : "encrypt", old->not_after);
	return ops_audit_key_event(conf, &ev, why, len);
}

/* A new certificate for old's address and use(s), key escrowed. */
static void
renew_one(const conf_t *conf, ca_t *ca, keystore_t *ks,
    const keystore_expiry_t *old, ca_renew_fn fn, void *arg)
{
	ca_profile_t p = old->sign && old->encrypt ? CA_EXTERNAL
	    : old->sign ? CA_SIGN : CA_ENCRYPT;
	keystore_err_t err;
	X509 *x = NULL;
	char why[600] = "";

	if (ca_issue(ca, old->address, p, &x, &err) != KEYSTORE_OK) {
		fn(arg, old, NULL, err.msg);
		return;
	}
	if (renew_audit(conf, old, x, why, sizeof(why)) != 0)
		fn(arg, old, x, why);
	else if (old->encrypt && renew_publish(conf, ca, old->address, x, why,
	    sizeof(why)) != 0) {
		char msg[700];

		snprintf(msg, sizeof(msg), "renewed, not published: %s", why);
		fn(arg, old, x, msg);
	} else
		fn(arg, old, x, NULL);
	X509_free(x);
}

/*
 * renew_one() for old by this gateway only: under the lease
 * "renew.SERIAL" in the shared directory (keystore_lease.h), and only if
 * old is, read again once the lease is ours, still the address's newest
 * of its use and due by before; else another gateway renewed it (or is
 * renewing it) and fn hears so.  The lease is given back after: the new
 * certificate is in the keystore by then, so whoever takes it next finds
 * old renewed.  1 when renew_one() ran.
 */
static int
renew_leased(const conf_t *conf, ca_t *ca, keystore_t *ks,
    const keystore_expiry_t *old, time_t before, ca_renew_fn fn, void *arg)
{
	keystore_lease_t *l = malloc(sizeof(*l));
	keystore_err_t err;
	char name[100], msg[600];
	int ran = 0;

	snprintf(name, sizeof(name), "renew.%s", old->serial);
	if (l == NULL)
		fn(arg, old, NULL, "out of memory");
	else if (keystore_lease_take(ks, name, conf->shared_lease_time, time(NULL), l, &err)
	    != KEYSTORE_OK) {
		snprintf(msg, sizeof(msg), "cannot take the renewal lease: %s", err.msg);
		fn(arg, old, NULL, msg);
	} else if (!l->held)
		fn(arg, old, NULL, "being renewed by another gateway (lease held)");
	else if (!still_due(ks, old, before))
		fn(arg, old, NULL, "renewed meanwhile (another gateway)");
	else {
		renew_one(conf, ca, ks, old, fn, arg);
		ran = 1;
	}
	if (l != NULL && l->held)
		(void)keystore_lease_release(ks, l, &err);
	free(l);
	return ran;
}

/* Renews the items of v that match (address NULL: every due one). */
static int
renew_list(const conf_t *conf, ca_t *ca, keystore_t *ks, keystore_expiry_t *v,
    size_t n, const char *address, time_t before, ca_renew_fn fn, void *arg)
{
	int count = 0;

	for (size_t i = 0; i < n; i++) {
		if (address != NULL && strcasecmp(v[i].address, address) != 0)
			continue;
		if (!renewable(conf, ca, &v[i]))
			continue;
		count += renew_leased(conf, ca, ks, &v[i], before, fn, arg);
	}
	return count;
}

static int
renew(const conf_t *conf, ca_t *ca, keystore_t *ks, const char *address,
    time_t before, ca_renew_fn fn, void *arg, char *why, size_t len)
{
	keystore_expiry_t *v;
	keystore_err_t err;
	size_t n;
	int count;

	if (keystore_expiring(ks, before, &v, &n, &err) != 0) {
		snprintf(why, len, "keystore: %s", err.msg);
		return -1;
	}
	count = renew_list(conf, ca, ks, v, n, address, before, fn, arg);
	free(v);
	return count;
}

int
ca_renew_due(const conf_t *conf, ca_t *ca, keystore_t *ks, ca_renew_fn fn,
    void *arg, char *why, size_t len)
{
	if (conf->renew_before_days <= 0)
		return 0;
	if (conf->renew_before_days >= conf->ca_days) {
		snprintf(why, len, "RenewBefore (%lld days) is not shorter than "
		    "CAValidityDays (%lld): nothing renewed", conf->renew_before_days,
		    conf->ca_days);
		return -1;
	}
	keystore_reread(ks);
	return renew(conf, ca, ks, NULL, time(NULL) + conf->renew_before_days * DAY,
	    fn, arg, why, len);
}

int
ca_renew_address(const conf_t *conf, ca_t *ca, keystore_t *ks,
    const char *address, ca_renew_fn fn, void *arg, char *why, size_t len)
{
	return renew(conf, ca, ks, address, (time_t)LLONG_MAX, fn, arg, why, len);
}
