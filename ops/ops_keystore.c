/*
 * ops_keystore.c: opens the keystore the configuration names (see
 * ops_keystore.h), and reports the entries it had to leave out.  No
 * state.
 */
#include "ops/ops_keystore.h"
#include "ops/ops_audit.h"
#include "ops/ops_log.h"
#include "ops/ops_metrics.h"
#include "keystore/keystore_retire.h"

#include <pthread.h>
#include <time.h>

keystore_t *
ops_keystore_open(const conf_t *conf, int flags, keystore_err_t *err)
{
	keystore_ldap_settings_t s = {
		.url = conf->keystore_ldap,
		.attribute = conf->keystore_ldap_attr,
		.timeout = (int)conf->keystore_ldap_timeout,
		.refresh = (long)conf->keystore_ldap_refresh,
		.max_stale = (long)conf->keystore_ldap_max_stale,
	};

	return keystore_open_ex(conf->keystore_dir, conf->master_key_file, flags,
	    conf->keystore_backend == CONF_KEYSTORE_LDAP ? &s : NULL, err);
}

void
ops_keystore_report(keystore_t *ks, const char *qid)
{
	char why[256];
	int fresh;
	size_t n;

	if (ks == NULL)
		return;
	n = keystore_skipped(ks, &fresh, why, sizeof(why));
	ops_metrics_keystore_skipped(n);
	if (fresh)
		ops_log(LOG_WARNING, qid, "keystore: %zu entr%s of the directory "
		    "skipped (cannot be read; the others are used): %s", n,
		    n == 1 ? "y" : "ies", why);
}

static void
log_destroyed(const char *address, const keystore_info_t *info, void *arg)
{
	ops_key_event_t ev = { AUDIT_KEY_DESTROYED, address, NULL, info->fingerprint,
		info->serial, NULL, "RetireRetention over (the gateway)" };
	char why[600];

	ops_log(LOG_NOTICE, NULL, "keystore: retired <%s>: key of certificate %s "
	    "destroyed (RetireRetention over)", address, info->fingerprint);
	if (ops_audit_key_event(arg, &ev, why, sizeof(why)) != 0)
		ops_log(LOG_ERR, NULL, "keystore: retired <%s>: key destroyed, not in the "
		    "audit log: %s", address, why);
}

void
ops_keystore_purge(const conf_t *conf, keystore_t *ks)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static time_t last;
	time_t now = time(NULL);
	keystore_err_t err;
	size_t n = 0;
	int skip;

	if (ks == NULL)
		return;
	pthread_mutex_lock(&lock);
	skip = keystore_shared(ks) && now >= last && now - last < conf->keystore_ldap_refresh;
	if (!skip)
		last = now;
	pthread_mutex_unlock(&lock);
	if (skip)
		return;
	if (keystore_retire_purge(ks, conf->retire_retention, time(NULL), log_destroyed,
	    (void *)conf, &n, &err) != KEYSTORE_OK)
		ops_log(LOG_ERR, NULL, "keystore: retired keys not destroyed: %s (%zu "
		    "destroyed before)", err.msg, n);
}
