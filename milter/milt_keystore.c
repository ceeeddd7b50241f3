/*
 * milt_keystore.c: opens the keystore the configuration names (see
 * milt_keystore.h).  No state.
 */
#include "milter/milt_keystore.h"

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
