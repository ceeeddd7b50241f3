/*
 * conf_check.c: the checks that involve more than one key's type and
 * bounds, or a value's form beyond its type, made after the file, the
 * overrides and the derived defaults.  Nothing is opened: the files a
 * configuration names are read by the build step (conf_build.c).
 */
#include "conf/conf_int.h"
#include "audit/audit.h"

#include <stdio.h>
#include <string.h>

/* ResultHeader: a header field name (printable ASCII, no colon). */
static int
check_result_header(const conf_t *c, char *err, size_t errlen)
{
	char buf[128];
	const char *where = conf_where(c, conf_key_index("ResultHeader"), buf, sizeof(buf));

	if (*c->result_header == '\0' || strcspn(c->result_header,
	    ": \t\r\n") != strlen(c->result_header))
		return conf_errf(err, errlen, where, "ResultHeader: \"%s\" is not "
		    "a header field name", c->result_header), -1;
	for (const char *p = c->result_header; *p != '\0'; p++)
		if (*p < 33 || *p > 126)
			return conf_errf(err, errlen, where, "ResultHeader: not "
			    "printable ASCII"), -1;
	return 0;
}

static int
check_audit(const conf_t *c, char *err, size_t errlen)
{
	char fp[65], buf[128];

	if (*c->audit_key_fingerprint == '\0'
	    || audit_fingerprint_parse(c->audit_key_fingerprint, fp) == 0)
		return 0;
	conf_errf(err, errlen, conf_where(c, conf_key_index("AuditKeyFingerprint"), buf,
	    sizeof(buf)), "AuditKeyFingerprint: \"%s\" is not a SHA-256 fingerprint "
	    "(64 hex digits, colons allowed)", c->audit_key_fingerprint);
	return -1;
}

/* The backends: what one key's value needs of another. */
static int
check_backends(const conf_t *c, char *err, size_t errlen)
{
	char buf[128];

	if (c->harvest_store == 1 && *c->redis_server == '\0')
		return conf_errf(err, errlen, conf_where(c, conf_key_index("HarvestStore"),
		    buf, sizeof(buf)), "HarvestStore: redis needs RedisServer"), -1;
	if (strstr(c->ldap_filter, "%s") == NULL)
		return snprintf(err, errlen, "LDAPFilter: \"%s\" has no %%s",
		    c->ldap_filter), -1;
	if (c->keystore_backend == CONF_KEYSTORE_LDAP && *c->keystore_ldap == '\0')
		return conf_errf(err, errlen, conf_where(c, conf_key_index("KeystoreBackend"),
		    buf, sizeof(buf)), "KeystoreBackend: ldap needs KeystoreLDAP "
		    "(the directory's URL)"), -1;
	return 0;
}

int
conf_check(const conf_t *c, char *err, size_t errlen)
{
	if (check_audit(c, err, errlen) != 0 || check_result_header(c, err, errlen) != 0)
		return -1;
	if (*c->ca_http_listen != '\0' && strchr(c->ca_http_listen, ':') == NULL)
		return snprintf(err, errlen, "CAHTTPListen: want HOST:PORT, not \"%s\"",
		    c->ca_http_listen), -1;
	return check_backends(c, err, errlen);
}
