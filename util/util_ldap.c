/*
 * util_ldap.c: one way to open an LDAP connection (see util_ldap.h).
 */
#include "util/util_ldap.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

/* what failed, with the server's or libldap's diagnostic when there is one. */
static int
fail(LDAP **ld, const util_ldap_conn_t *c, const char *what, int rc, char *why,
    size_t len)
{
	char *diag = NULL;

	ldap_get_option(*ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	if (diag != NULL && *diag != '\0')
		snprintf(why, len, "%s: %s: %s (%s)", c->name, what, ldap_err2string(rc), diag);
	else
		snprintf(why, len, "%s: %s: %s", c->name, what, ldap_err2string(rc));
	ldap_memfree(diag);
	ldap_unbind_ext_s(*ld, NULL, NULL);
	*ld = NULL;
	return rc;
}

int
util_ldap_open(const util_ldap_conn_t *c, LDAP **ld, char *why, size_t len)
{
	struct timeval ct = { c->connect_timeout, 0 }, ot = { c->timeout, 0 };
	int v3 = LDAP_VERSION3, rc;
	struct berval cred;
	char what[300];

	*ld = NULL;
	if ((rc = ldap_initialize(ld, c->uri)) != LDAP_SUCCESS) {
		*ld = NULL;
		snprintf(why, len, "%s: %s", c->name, ldap_err2string(rc));
		return rc;
	}
	ldap_set_option(*ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	ldap_set_option(*ld, LDAP_OPT_NETWORK_TIMEOUT, &ct);
	ldap_set_option(*ld, LDAP_OPT_TIMEOUT, &ot);
	ldap_set_option(*ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	if (c->starttls && (rc = ldap_start_tls_s(*ld, NULL, NULL)) != LDAP_SUCCESS)
		return fail(ld, c, "StartTLS", rc, why, len);
	if (c->binddn == NULL)
		return LDAP_SUCCESS;
	cred.bv_val = (char *)(c->bindpw != NULL ? c->bindpw : "");
	cred.bv_len = strlen(cred.bv_val);
	rc = ldap_sasl_bind_s(*ld, c->binddn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (rc != LDAP_SUCCESS) {
		snprintf(what, sizeof(what), "bind as %s", c->binddn);
		return fail(ld, c, what, rc, why, len);
	}
	return LDAP_SUCCESS;
}
