/*
 * ctl_publish.c: smimectl's publication and leavers' commands (see
 * ctl_publish.h): PublishDirectory written from the keystore, an address
 * retired (its record, its certificates revoked at the embedded CA, its
 * entry in the directory emptied, the lookup cache told), and the keys of
 * retired addresses destroyed after RetireRetention.
 *
 * Single-threaded command code; messages on stdout, failures on stderr.
 */
#include "ctl/ctl_publish.h"
#include "ca/ca.h"
#include "ca/ca_serve.h"
#include "directory/dir_lookup.h"
#include "keystore/keystore_retire.h"
#include "ops/ops_publish.h"
#include "util/util_addr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- publishing ---- */

/* address's encryption certificate written to the directory, or, when it
 * is retired, taken away.  0, 1 (nothing to publish), -1 failed (said). */
static int
publish_one(keystore_t *ks, const dir_publish_settings_t *s, const char *address)
{
	STACK_OF(X509) *chain = NULL;
	X509 *cert = NULL;
	keystore_err_t kerr;
	keystore_status_t st;
	char why[512];
	int rc = -1;

	st = keystore_recipient_chain(ks, address, &cert, &chain, &kerr);
	if (st == KEYSTORE_RETIRED) {
		if ((rc = dir_unpublish(s, address, NULL, why, sizeof(why))) >= 0)
			printf("%s: retired, %s\n", address, rc == 0 ? "removed from the "
			    "directory" : "not in the directory");
		rc = rc < 0 ? -1 : 0;
	} else if (st != KEYSTORE_OK) {
		snprintf(why, sizeof(why), "%s", kerr.msg);
		rc = st == KEYSTORE_NOTFOUND ? 1 : -1;
	} else if ((rc = dir_publish(s, address, cert, chain, why, sizeof(why))) == 0)
		printf("%s: published\n", address);
	if (rc != 0)
		fprintf(stderr, "smimectl: %s: not published: %s\n", address, why);
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

void
ctl_publish_imported(const conf_t *conf, keystore_t *ks, const keystore_info_t *info)
{
	dir_publish_settings_t s;

	ops_publish_settings(conf, &s);
	if (!dir_publish_enabled(&s))
		return;
	for (size_t i = 0; info->addresses[i] != NULL; i++)
		if (publish_one(ks, &s, info->addresses[i]) < 0)
			fprintf(stderr, "smimectl: warning: imported, but %s is not in the "
			    "directory; run smimectl keystore publish %s when it answers\n",
			    info->addresses[i], info->addresses[i]);
}

/* The addresses of every entry, each once. */
struct addr_list {
	char **v;
	size_t n;
	int nomem;
};

static int
list_add(struct addr_list *l, const char *address)
{
	char **nv;

	for (size_t i = 0; i < l->n; i++)
		if (util_addr_equal(l->v[i], address))
			return 0;
	if ((nv = realloc(l->v, (l->n + 1) * sizeof(*nv))) == NULL
	    || (nv[l->n] = strdup(address)) == NULL) {
		if (nv != NULL)
			l->v = nv;
		l->nomem = 1;
		return -1;
	}
	l->v = nv;
	l->n++;
	return 0;
}

static int
collect(const keystore_info_t *info, void *arg)
{
	for (size_t i = 0; info->addresses[i] != NULL; i++)
		if (list_add(arg, info->addresses[i]) != 0)
			return 1;
	return 0;
}

static void
list_free(struct addr_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

int
ctl_publish(const conf_t *conf, keystore_t *ks, const char *address)
{
	struct addr_list l = { NULL, 0, 0 };
	dir_publish_settings_t s;
	keystore_err_t kerr;
	int failed = 0;

	ops_publish_settings(conf, &s);
	if (!dir_publish_enabled(&s)) {
		fprintf(stderr, "smimectl: keystore publish: no PublishDirectory\n");
		return 1;
	}
	if (address != NULL)
		return publish_one(ks, &s, address) == 0 ? 0 : 1;
	if (keystore_foreach(ks, collect, &l, &kerr) != 0 || l.nomem) {
		fprintf(stderr, "smimectl: keystore publish: %s\n", l.nomem ? "out of memory"
		    : kerr.msg);
		list_free(&l);
		return 1;
	}
	for (size_t i = 0; i < l.n; i++)
		failed |= publish_one(ks, &s, l.v[i]) < 0;
	list_free(&l);
	return failed ? 1 : 0;
}

/* ---- retiring ---- */

/* The CA's certificates of the retired addresses, not revoked yet. */
struct to_revoke {
	char *const *who;
	struct addr_list serials;
};

static int
pick_serial(const ca_cert_t *c, void *arg)
{
	struct to_revoke *r = arg;

	for (size_t i = 0; !c->revoked && r->who[i] != NULL; i++)
		if (util_addr_equal(c->address, r->who[i]))
			return list_add(&r->serials, c->serial) != 0;
	return 0;
}

/* Step 2: every certificate the embedded CA issued to them revoked (and
 * a new CRL).  0, or -1 (said). */
static int
retire_revoke(const conf_t *conf, keystore_t *ks, char *const *who)
{
	struct to_revoke r = { who, { NULL, 0, 0 } };
	ca_settings_t s;
	keystore_err_t err;
	ca_t *ca;
	int rc = 0;

	if (!conf->ca_enable) {
		printf("no embedded CA (CertificateAuthority no): nothing revoked here\n");
		return 0;
	}
	ca_serve_settings(conf, &s);
	if ((ca = ca_open(ks, &s, &err)) == NULL) {
		if (err.code == KEYSTORE_NOTFOUND) {
			printf("no embedded CA made: nothing revoked here\n");
			return 0;
		}
		fprintf(stderr, "smimectl: keystore retire: CA: %s\n", err.msg);
		return -1;
	}
	if (ca_foreach(ca, pick_serial, &r, &err) < 0 || r.serials.nomem) {
		fprintf(stderr, "smimectl: keystore retire: CA: %s\n", r.serials.nomem
		    ? "out of memory" : err.msg);
		rc = -1;
	}
	for (size_t i = 0; rc == 0 && i < r.serials.n; i++) {
		if (ca_revoke(ca, r.serials.v[i], &err) != KEYSTORE_OK) {
			fprintf(stderr, "smimectl: keystore retire: revoke %s: %s\n",
			    r.serials.v[i], err.msg);
			rc = -1;
		} else
			printf("revoked %s at the embedded CA\n", r.serials.v[i]);
	}
	list_free(&r.serials);
	ca_free(ca);
	return rc;
}

/* Step 3: each address out of PublishDirectory and the lookup cache.
 * 0, or -1 (said). */
static int
retire_unpublish(const conf_t *conf, char *const *who)
{
	dir_publish_settings_t s;
	char why[512];
	int rc = 0, r;

	ops_publish_settings(conf, &s);
	for (size_t i = 0; who[i] != NULL; i++) {
		if (conf->lookup != NULL)
			(void)dir_lookup_flush(conf->lookup, who[i], why, sizeof(why));
		if (!dir_publish_enabled(&s))
			continue;
		if ((r = dir_unpublish(&s, who[i], NULL, why, sizeof(why))) < 0) {
			fprintf(stderr, "smimectl: keystore retire: %s still in the directory: "
			    "%s\n", who[i], why);
			rc = -1;
		} else
			printf("%s: %s\n", who[i], r == 0 ? "removed from the directory"
			    : "not in the directory");
	}
	return rc;
}

int
ctl_retire(const conf_t *conf, keystore_t *ks, const char *address)
{
	keystore_err_t kerr;
	char **who = NULL, until[40];
	time_t now = time(NULL), end;
	struct tm tm;
	int rc;

	/* Step 1: the record; from here on nothing signs as them. */
	if (keystore_retire(ks, address, now, &who, &kerr) != KEYSTORE_OK) {
		fprintf(stderr, "smimectl: keystore retire: %s\n", kerr.msg);
		return 1;
	}
	for (size_t i = 0; who[i] != NULL; i++)
		printf("retired %s: no longer signed as nor encrypted to\n", who[i]);
	rc = retire_revoke(conf, ks, who);
	rc |= retire_unpublish(conf, who);
	end = now + (time_t)conf->retire_retention;
	if (gmtime_r(&end, &tm) == NULL || strftime(until, sizeof(until), "%Y-%m-%d", &tm) == 0)
		snprintf(until, sizeof(until), "RetireRetention");
	printf("decryption keys kept until %s (RetireRetention), then destroyed\n", until);
	keystore_retire_list_free(who);
	if (rc != 0)
		fprintf(stderr, "smimectl: keystore retire: %s is retired, but a step "
		    "failed; run it again to finish\n", address);
	return rc != 0 ? 1 : 0;
}

/* ---- destroying keys ---- */

static void
say_destroyed(const char *address, const keystore_info_t *info, void *arg)
{
	printf("destroyed the key of %s, certificate %s\n", address, info->fingerprint);
}

int
ctl_purge_retired(const conf_t *conf, keystore_t *ks)
{
	keystore_err_t kerr;
	size_t n = 0;

	if (keystore_retire_purge(ks, conf->retire_retention, time(NULL), say_destroyed,
	    NULL, &n, &kerr) != KEYSTORE_OK) {
		fprintf(stderr, "smimectl: keystore purge-retired: %s (%zu keys destroyed "
		    "before)\n", kerr.msg, n);
		return 1;
	}
	printf("%zu keys destroyed\n", n);
	return 0;
}
