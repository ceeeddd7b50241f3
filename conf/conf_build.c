/*
 * conf_build.c: the objects a parsed configuration names, built once
 * before it is shared: the certificate lookup, the trust store of inbound
 * verification, the policy rules, the signer map, the re-injection key and
 * the embedded CA's certificates as trust anchors.  It reads the files the
 * values name and writes none.  The same step serves the start, a SIGHUP
 * reload and smimegate -n (through conf_load()).  The templates of the
 * gateway's mails and pages are loaded and checked here too (conf_tmpl.c).
 */
#include "conf/conf_int.h"
#include "directory/dir_map.h"
#include "directory/dir_publish.h"
#include "directory/dir_lookup.h"
#include "directory/dir_verdict.h"
#include "smime/smime.h"
#include "policy/policy.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>

static char *
path_under(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

/* The certificate lookup of the encryption keys. */
static int
build_lookup(conf_t *c, char *err, size_t errlen)
{
	char **urls = conf_list_split_ws(c->ldap_directories);
	char **partners = conf_list_split(c->partner_lookup);
	char *harvest = path_under(c->state_dir, "harvest");
	char why[512];
	dir_settings_t s = {
		.ldap_urls = urls, .filter = c->ldap_filter,
		.connect_timeout = (int)c->ldap_connect_timeout,
		.search_timeout = (int)c->ldap_search_timeout,
		.pool_size = (int)c->ldap_pool_size,
		.ca_file = c->trust_anchor_file, .system_store = c->trust_system,
		.crl_check = c->crl_check, .crl_policy = c->crl_unavailable,
		.crl_timeout = (int)c->crl_timeout, .crl_cache_seconds = (long)c->crl_cache_time,
		.ocsp_check = c->ocsp_check, .ocsp_unavailable = c->ocsp_unavailable,
		.ocsp_unknown = c->ocsp_unknown, .ocsp_timeout = (int)c->ocsp_timeout,
		.ocsp_cache_seconds = (long)c->ocsp_cache_time,
		.redis = c->redis_server, .redis_prefix = c->redis_prefix,
		.redis_timeout_ms = (int)c->redis_timeout,
		.redis_password_file = c->redis_password_file,
		.redis_user = c->redis_user, .redis_key_file = c->redis_key_file,
		.ttl_positive = (long)c->cache_positive_ttl,
		.ttl_negative = (long)c->cache_negative_ttl,
		.mem_cache_size = (size_t)c->cache_size, .harvest_dir = harvest,
		.verdict_cache_size = (size_t)c->verdict_cache_size,
		.tier_size = (size_t)c->cache_tier_size, .tier_ttl = (long)c->cache_tier_ttl,
		.redis_pool_wait_ms = (int)c->redis_pool_wait,
		.stale_seconds = (long)c->cache_stale_time,
		.harvest_redis = c->harvest_store == 1,
		.harvest_prefix = c->redis_harvest_prefix,
		.partners = partners, .partner_timeout = (int)c->partner_lookup_timeout,
	};

	if (urls == NULL || harvest == NULL || partners == NULL)
		snprintf(err, errlen, "out of memory");
	else if ((c->lookup = dir_lookup_new(&s, why, sizeof(why))) == NULL)
		snprintf(err, errlen, "certificate lookup: %s", why);
	conf_list_free(urls);
	conf_list_free(partners);
	free(harvest);
	return c->lookup ? 0 : -1;
}

/* Inbound verification: the trust anchors and CRLs loaded, and the table
 * of the signers' good chain checks against them. */
static int
build_trust(conf_t *c, char *err, size_t errlen)
{
	char why[512];

	if (!c->verify_inbound)
		return 0;
	smime_init();
	c->trust = smime_trust_new(c->trust_anchor_file, c->trust_system, c->crl_file,
	    c->crl_dir, why, sizeof(why));
	if (c->trust == NULL)
		return snprintf(err, errlen, "%s", why), -1;
	/* NULL (none kept) when VerdictCacheSize is 0 or out of memory */
	c->signer_verdicts = dir_verdict_new((size_t)c->verdict_cache_size);
	return 0;
}

/* The policy rules file (PolicyFile), or the built-in rules. */
static int
build_policy(conf_t *c, char *err, size_t errlen)
{
	policy_err_t perr;
	char buf[128];

	if (*c->policy_file == '\0')
		c->policy = policy_builtin();
	else
		c->policy = policy_load(c->policy_file, &perr);
	if (c->policy != NULL)
		return 0;
	if (*c->policy_file == '\0')
		return snprintf(err, errlen, "out of memory"), -1;
	conf_errf(err, errlen, conf_where(c, conf_key_index("PolicyFile"), buf,
	    sizeof(buf)), "PolicyFile: %s", perr.msg);
	return -1;
}

static int
build_signer_map(conf_t *c, char *err, size_t errlen)
{
	char why[512], buf[128];

	if (*c->signer_map_file == '\0')
		return 0;
	if ((c->signer_map = dir_map_load(c->signer_map_file, why, sizeof(why))) != NULL)
		return 0;
	conf_errf(err, errlen, conf_where(c, conf_key_index("SignerMap"), buf,
	    sizeof(buf)), "SignerMap: %s", why);
	return -1;
}

/*
 * The re-injection key: without one, mail is not split (reinject_keylen
 * 0).  It is read with util_secret_read(): a symbolic link, another owner,
 * group or other access or a wrong size is refused with the path.  Absent,
 * or not ours to read: no key, as before the start made it.
 */
int
conf_reinject_key_read(conf_t *c, char *err, size_t errlen)
{
	unsigned char *k = NULL;
	size_t klen = 0;
	char why[600];
	int e;

	e = util_secret_read(c->reinject_key_file, sizeof(c->reinject_key), &k, &klen,
	    why, sizeof(why)) == 0 ? 0 : errno;
	if (e != 0 && e != ENOENT && e != EACCES)
		return snprintf(err, errlen, "ReinjectKeyFile %s", why), -1;
	if (k != NULL && klen != sizeof(c->reinject_key)) {
		util_secret_free(k, klen);
		return snprintf(err, errlen, "ReinjectKeyFile %s: %zu bytes, want %zu",
		    c->reinject_key_file, klen, sizeof(c->reinject_key)), -1;
	}
	if (k != NULL)
		memcpy(c->reinject_key, k, klen);
	c->reinject_keylen = k != NULL ? klen : 0;
	util_secret_free(k, klen);
	return 0;
}

int
conf_trust_ca(conf_t *c)
{
	static const char *const names[] = { "root.crt", "issuing.crt" };
	int n = 0;

	if (!c->ca_enable || c->ca_dir == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *path = path_under(c->ca_dir, names[i]);
		FILE *fp = path != NULL ? fopen(path, "r") : NULL;
		X509 *x = fp != NULL ? PEM_read_X509(fp, NULL, NULL, NULL) : NULL;

		if (x != NULL && (c->lookup == NULL || dir_lookup_trust_add(c->lookup, x) == 0)
		    && (c->trust == NULL || smime_trust_add(c->trust, x) == 0))
			n++;
		X509_free(x);
		if (fp != NULL)
			fclose(fp);
		free(path);
	}
	ERR_clear_error();
	return n;
}

/* PublishDirectory: its URL and bind password file (dir_publish.h). */
static int
build_publish(const conf_t *c, char *err, size_t errlen)
{
	dir_publish_settings_t s = { c->publish_directory, c->publish_branch,
		(int)c->publish_timeout };
	char why[512];

	if (dir_publish_check(&s, why, sizeof(why)) == 0)
		return 0;
	snprintf(err, errlen, "PublishDirectory: %s", why);
	return -1;
}

int
conf_build(conf_t *c, char *err, size_t errlen)
{
	if (c->lookup != NULL || c->policy != NULL) {
		snprintf(err, errlen, "configuration built twice");
		return -1;
	}
	if (build_trust(c, err, errlen) != 0 || build_signer_map(c, err, errlen) != 0
	    || build_lookup(c, err, errlen) != 0 || build_publish(c, err, errlen) != 0)
		return -1;
	(void)conf_trust_ca(c);
	if (conf_reinject_key_read(c, err, errlen) != 0 || conf_tmpl_build(c, err, errlen) != 0)
		return -1;
	return build_policy(c, err, errlen);
}

conf_t *
conf_load(const char *file, char *const *overrides, size_t noverrides,
    char *err, size_t errlen)
{
	conf_t *c = conf_parse(file, overrides, noverrides, err, errlen);

	if (c != NULL && conf_build(c, err, errlen) != 0) {
		conf_unref(c);
		return NULL;
	}
	return c;
}
