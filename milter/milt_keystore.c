/*
 * milt_keystore.c: opens the keystore the configuration names (see
 * milt_keystore.h), and reports the entries it had to leave out.  No
 * state.
 */
#include "milter/milt_keystore.h"
#include "milter/milt_log.h"
#include "milter/milt_metrics.h"

keystore_t *
milt_keystore_open(const milt_conf_t *conf, int flags, keystore_err_t *err)
{
	keystore_ldap_settings_t s = {
		.url = conf->keystore_ldap,
		.attribute = conf->keystore_ldap_attr,
		.timeout = (int)conf->keystore_ldap_timeout,
		.refresh = (long)conf->keystore_ldap_refresh,
	};

	return keystore_open_ex(conf->keystore_dir, conf->master_key_file, flags,
	    conf->keystore_backend == MILT_KEYSTORE_LDAP ? &s : NULL, err);
}

void
milt_keystore_report(keystore_t *ks, const char *qid)
{
	char why[256];
	int fresh;
	size_t n;

	if (ks == NULL)
		return;
	n = keystore_skipped(ks, &fresh, why, sizeof(why));
	milt_metrics_keystore_skipped(n);
	if (fresh)
		milt_log(LOG_WARNING, qid, "keystore: %zu entr%s of the directory "
		    "skipped (cannot be read; the others are used): %s", n,
		    n == 1 ? "y" : "ies", why);
}
