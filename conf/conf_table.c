/*
 * conf_table.c: the configuration's keys, one row each (see conf_int.h):
 * name, type, default, where the value goes, bounds, allowed names, flags.
 *
 * A default is parsed by the same code as the file, so a bad default
 * cannot hide.  A default with a '$' names other keys and is expanded by
 * conf_derive() after the file and the overrides, when the key is empty:
 *   $Key, ${Key}   Key's value (a list's first element)
 *   ${Key?text}    text, expanded, when Key is not empty; else nothing
 *   ${Key:text}    text, expanded, when Key is empty; else nothing
 * Flags: R (CONF_RESTART) the daemon reads the key at start only, so a
 * reload that changes it logs a warning; S (CONF_SECRET) the key names a
 * file that holds a secret (the secret is never a value here).
 *
 * Also here: where each key got its value, for messages.
 */
#include "conf/conf_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

static const char *const on_error_names[] = { "tempfail", "accept", "reject", NULL };
static const char *const unauth_names[] = { "pass", "reject", NULL };
static const char *const sigmode_names[] = { "detached", "opaque", NULL };
static const char *const on_audit_names[] = { "tempfail", "accept", NULL };
/* The order is enum conf_cipher's. */
static const char *const cipher_names[] = { "auto", "aes-256-cbc", "aes-256-gcm", NULL };
static const char *const keytransport_names[] = { "pkcs1", "oaep", NULL };
/* The order is enum dir_crl_policy's. */
static const char *const crl_names[] = { "tempfail", "refuse", "accept", NULL };
/* The orders are enum dir_ocsp_policy's and enum dir_ocsp_unknown's. */
static const char *const ocsp_names[] = { "crl", "tempfail", "refuse", "accept", NULL };
static const char *const ocsp_unknown_names[] = { "refuse", "crl", NULL };
/* The order is ca_keytype_t's. */
static const char *const ca_keytype_names[] = { "rsa-2048", "rsa-3072", "p-256", NULL };
/* Where the keystore's entries and harvested certificates live. */
static const char *const ks_backend_names[] = { "file", "ldap", NULL };
static const char *const harvest_store_names[] = { "file", "redis", NULL };
/* Content without integrity protection; the order is enum conf_unprotected's. */
static const char *const unprotected_names[] = { "signed", "decrypt", "keep", NULL };
static const char *const facility_names[] = {
	"mail", "daemon", "user", "local0", "local1", "local2", "local3",
	"local4", "local5", "local6", "local7", NULL
};
static const int facility_values[] = {
	LOG_MAIL, LOG_DAEMON, LOG_USER, LOG_LOCAL0, LOG_LOCAL1, LOG_LOCAL2,
	LOG_LOCAL3, LOG_LOCAL4, LOG_LOCAL5, LOG_LOCAL6, LOG_LOCAL7
};

/* TemplateDirectory's default: the build names it (make TEMPLATEDIR=...);
 * a build from the tree uses the tree's conf/templates. */
#ifndef SMIMEGATE_TEMPLATEDIR
#define SMIMEGATE_TEMPLATEDIR "/etc/smimegate/templates"
#endif

#define OFF(f) offsetof(conf_t, f)
#define KB 1024LL
#define MB (1024LL * 1024)
#define GB (1024LL * 1024 * 1024)
#define R CONF_RESTART
#define S CONF_SECRET

const conf_key_t conf_keys[] = {
	{ "Socket", T_SOCKET, "unix:/run/smimegate/smimegate.sock", OFF(socket), 0, 0, NULL, R },
	{ "SocketGroup", T_STR, "", OFF(socket_group), 0, 0, NULL, R },
	{ "StateDirectory", T_PATH, "/var/lib/smimegate", OFF(state_dir), 0, 0, NULL, R },
	{ "KeystoreDirectory", T_PATH, "$StateDirectory/keystore", OFF(keystore_dir), 0, 0, NULL, R },
	{ "MasterKeyFile", T_PATH, "$KeystoreDirectory/master.key", OFF(master_key_file), 0, 0, NULL, R | S },
	{ "CreateMasterKey", T_BOOL, "yes", OFF(create_master_key), 0, 0, NULL, R },
	{ "SpoolDirectory", T_PATH, "$StateDirectory/spool", OFF(spool_dir), 0, 0, NULL, 0 },
	{ "LocalDomains", T_DOMAINS, "", OFF(local_domains), 0, 0, NULL, 0 },
	{ "InternalHosts", T_NETS, "", OFF(internal_hosts), 0, 0, NULL, 0 },
	{ "LocalSubmissionInternal", T_BOOL, "no", OFF(local_submission_internal), 0, 0, NULL, 0 },
	{ "UserID", T_STR, "", OFF(user), 0, 0, NULL, R },
	{ "PidFile", T_PATH, "", OFF(pid_file), 0, 0, NULL, R },
	{ "Background", T_BOOL, "yes", OFF(background), 0, 0, NULL, R },
	{ "MaximumMessageSize", T_SIZE, "50M", OFF(max_message_size), 1 * KB, 4 * GB, NULL, 0 },
	{ "SpoolMemoryLimit", T_SIZE, "256K", OFF(spool_memory), 0, 1 * GB, NULL, 0 },
	{ "Syslog", T_BOOL, "yes", OFF(syslog), 0, 0, NULL, R },
	{ "SyslogFacility", T_ENUM, "mail", OFF(syslog_facility), 0, 0, facility_names, R },
	{ "LogStderr", T_BOOL, "no", OFF(log_stderr), 0, 0, NULL, R },
	{ "OnInternalError", T_ENUM, "tempfail", OFF(on_internal_error), 0, 0, on_error_names, 0 },
	{ "UnauthorizedSender", T_ENUM, "pass", OFF(on_unauthorized_sender), 0, 0, unauth_names, 0 },
	{ "SignerMap", T_PATH, "", OFF(signer_map_file), 0, 0, NULL, 0 },
	{ "SigningMode", T_ENUM, "detached", OFF(signing_mode), 0, 0, sigmode_names, 0 },
	{ "Sign", T_BOOL, "yes", OFF(sign_outbound), 0, 0, NULL, 0 },
	{ "AuditLog", T_BOOL, "yes", OFF(audit), 0, 0, NULL, R },
	{ "AuditDirectory", T_PATH, "$StateDirectory/audit", OFF(audit_dir), 0, 0, NULL, R },
	{ "AuditKeyFile", T_PATH, "$AuditDirectory/audit.key", OFF(audit_key_file), 0, 0, NULL, R | S },
	{ "AuditCheckpointRecords", T_INT, "1000", OFF(audit_checkpoint_records), 0, 1000000, NULL, R },
	{ "AuditCheckpointInterval", T_INT, "60", OFF(audit_checkpoint_seconds), 1, 86400, NULL, R },
	{ "AuditRotateSize", T_SIZE, "100M", OFF(audit_rotate_size), 0, 64 * GB, NULL, R },
	{ "AuditSubject", T_BOOL, "no", OFF(audit_subject), 0, 0, NULL, 0 },
	{ "AuditSyslog", T_BOOL, "no", OFF(audit_syslog), 0, 0, NULL, R },
	{ "AuditSyslogCheckpoints", T_BOOL, "yes", OFF(audit_syslog_checkpoints), 0, 0, NULL, R },
	{ "AuditKeyFingerprint", T_STR, "", OFF(audit_key_fingerprint), 0, 0, NULL, 0 },
	{ "AuditHeadFile", T_PATH, "$StateDirectory/audit.head", OFF(audit_head_file), 0, 0, NULL, R },
	{ "OnAuditError", T_ENUM, "tempfail", OFF(on_audit_error), 0, 0, on_audit_names, 0 },
	/* Outbound encryption and the certificate lookup. */
	{ "EncryptionCipher", T_ENUM, "auto", OFF(encryption_cipher), 0, 0, cipher_names, 0 },
	{ "RSAKeyTransport", T_ENUM, "pkcs1", OFF(rsa_key_transport), 0, 0, keytransport_names, 0 },
	/* ECDH recipients apart from RSA ones (NSS refuses the mix). */
	{ "SplitKeyAgreement", T_BOOL, "yes", OFF(split_key_agreement), 0, 0, NULL, 0 },
	{ "LDAPDirectories", T_STR, "", OFF(ldap_directories), 0, 0, NULL, 0 },
	{ "LDAPFilter", T_STR, "(mail=%s)", OFF(ldap_filter), 0, 0, NULL, 0 },
	{ "LDAPConnectTimeout", T_INT, "5", OFF(ldap_connect_timeout), 1, 300, NULL, 0 },
	{ "LDAPSearchTimeout", T_INT, "10", OFF(ldap_search_timeout), 1, 300, NULL, 0 },
	{ "LDAPPoolSize", T_INT, "4", OFF(ldap_pool_size), 1, 32, NULL, 0 },
	/* Our people's certificates published in a directory; leavers. */
	{ "PublishDirectory", T_STR, "", OFF(publish_directory), 0, 0, NULL, 0 },
	{ "PublishBranch", T_STR, "", OFF(publish_branch), 0, 0, NULL, 0 },
	{ "PublishOutsiders", T_BOOL, "no", OFF(publish_outsiders), 0, 0, NULL, 0 },
	{ "PublishTimeout", T_INT, "10", OFF(publish_timeout), 1, 300, NULL, 0 },
	{ "RetireRetention", T_INT, "31536000", OFF(retire_retention), 0, 3153600000LL, NULL, 0 },
	/* Partner gateways' lookup services, per recipient domain. */
	{ "PartnerLookup", T_STR, "", OFF(partner_lookup), 0, 0, NULL, 0 },
	{ "PartnerLookupTimeout", T_INT, "10", OFF(partner_lookup_timeout), 1, 300, NULL, 0 },
	{ "CRLCheck", T_BOOL, "yes", OFF(crl_check), 0, 0, NULL, 0 },
	{ "CRLUnavailable", T_ENUM, "tempfail", OFF(crl_unavailable), 0, 0, crl_names, 0 },
	{ "CRLTimeout", T_INT, "10", OFF(crl_timeout), 1, 300, NULL, 0 },
	{ "CRLCacheTime", T_INT, "3600", OFF(crl_cache_time), 0, 604800, NULL, 0 },
	{ "OCSPCheck", T_BOOL, "yes", OFF(ocsp_check), 0, 0, NULL, 0 },
	{ "OCSPUnavailable", T_ENUM, "crl", OFF(ocsp_unavailable), 0, 0, ocsp_names, 0 },
	{ "OCSPUnknown", T_ENUM, "refuse", OFF(ocsp_unknown), 0, 0, ocsp_unknown_names, 0 },
	{ "OCSPTimeout", T_INT, "10", OFF(ocsp_timeout), 1, 300, NULL, 0 },
	{ "OCSPCacheTime", T_INT, "3600", OFF(ocsp_cache_time), 0, 604800, NULL, 0 },
	{ "RedisServer", T_STR, "", OFF(redis_server), 0, 0, NULL, 0 },
	{ "RedisPrefix", T_STR, "smimegate:cert:", OFF(redis_prefix), 0, 0, NULL, 0 },
	{ "RedisTimeout", T_INT, "500", OFF(redis_timeout), 10, 60000, NULL, 0 },
	{ "RedisPoolWait", T_INT, "200", OFF(redis_pool_wait), 0, 60000, NULL, 0 },
	{ "RedisPasswordFile", T_PATH, "", OFF(redis_password_file), 0, 0, NULL, S },
	{ "RedisUser", T_STR, "", OFF(redis_user), 0, 0, NULL, 0 },
	{ "RedisKeyFile", T_PATH, "", OFF(redis_key_file), 0, 0, NULL, S },
	{ "CachePositiveTTL", T_INT, "86400", OFF(cache_positive_ttl), 0, 31536000, NULL, 0 },
	{ "CacheNegativeTTL", T_INT, "3600", OFF(cache_negative_ttl), 0, 31536000, NULL, 0 },
	{ "CacheSize", T_INT, "10000", OFF(cache_size), 0, 10000000, NULL, 0 },
	{ "CacheTierSize", T_INT, "1000", OFF(cache_tier_size), 0, 1000000, NULL, 0 },
	{ "CacheTierTTL", T_INT, "60", OFF(cache_tier_ttl), 1, 86400, NULL, 0 },
	{ "CacheStaleTime", T_INT, "3600", OFF(cache_stale_time), 0, 604800, NULL, 0 },
	/* Inbound: decryption, verification, harvesting. */
	{ "ResultHeader", T_STR, "X-Smimegate-Result", OFF(result_header), 0, 0, NULL, 0 },
	{ "Decrypt", T_BOOL, "yes", OFF(decrypt_inbound), 0, 0, NULL, 0 },
	{ "UnprotectedContent", T_ENUM, "signed", OFF(unprotected_content), 0, 0, unprotected_names, 0 },
	{ "Verify", T_BOOL, "yes", OFF(verify_inbound), 0, 0, NULL, 0 },
	{ "ConvertOpaqueSigned", T_BOOL, "yes", OFF(convert_opaque), 0, 0, NULL, 0 },
	{ "HarvestCertificates", T_BOOL, "yes", OFF(harvest), 0, 0, NULL, 0 },
	{ "TrustAnchorFile", T_PATH, "", OFF(trust_anchor_file), 0, 0, NULL, 0 },
	{ "TrustSystemStore", T_BOOL, "yes", OFF(trust_system), 0, 0, NULL, 0 },
	{ "CRLFile", T_PATH, "", OFF(crl_file), 0, 0, NULL, 0 },
	{ "CRLDirectory", T_PATH, "", OFF(crl_dir), 0, 0, NULL, 0 },
	/* The policy rules. */
	{ "PolicyFile", T_PATH, "", OFF(policy_file), 0, 0, NULL, 0 },
	/* The durable spool, re-injection, hold. */
	{ "QueueDirectory", T_PATH, "$StateDirectory/queue", OFF(queue_dir), 0, 0, NULL, 0 },
	{ "ReinjectCommand", T_STR, "/usr/sbin/sendmail -G -i", OFF(reinject_command), 0, 0, NULL, 0 },
	{ "ReinjectKeyFile", T_PATH, "$StateDirectory/reinject.key", OFF(reinject_key_file), 0, 0, NULL, S },
	{ "QueueRunInterval", T_INT, "30", OFF(queue_run_interval), 1, 3600, NULL, 0 },
	{ "HoldTime", T_INT, "432000", OFF(hold_time), 1, 31536000, NULL, 0 },
	{ "QueueDedupTime", T_INT, "86400", OFF(queue_dedup_time), 0, 31536000, NULL, 0 },
	/* The operations endpoints (/healthz, /metrics). */
	{ "HTTPListen", T_STR, "", OFF(http_listen), 0, 0, NULL, R },
	/* Limits of both HTTP listeners. */
	{ "HTTPMaxHeaderSize", T_SIZE, "16K", OFF(http_max_header_size), 1 * KB, 1 * MB, NULL, R },
	{ "HTTPMaxHeaders", T_INT, "100", OFF(http_max_headers), 10, 10000, NULL, R },
	{ "HTTPMaxConnections", T_INT, "100", OFF(http_max_connections), 1, 100000, NULL, R },
	{ "HTTPRequestTimeout", T_INT, "20", OFF(http_request_timeout), 1, 3600, NULL, R },
	/* Limits on what a sender sizes. */
	{ "MaximumMimeParts", T_INT, "1000", OFF(max_mime_parts), 1, 100000, NULL, 0 },
	{ "MaximumMimeDepth", T_INT, "32", OFF(max_mime_depth), 1, 64, NULL, 0 },
	{ "MaximumHeaderLength", T_SIZE, "64K", OFF(max_header_length), 1 * KB, 10 * MB, NULL, 0 },
	{ "MaximumHeaders", T_INT, "1000", OFF(max_headers), 10, 100000, NULL, 0 },
	{ "MaximumRecipients", T_INT, "1000", OFF(max_recipients), 1, 100000, NULL, 0 },
	/* The embedded CA, CMP, enrollment and the pickup portal. */
	{ "CertificateAuthority", T_BOOL, "yes", OFF(ca_enable), 0, 0, NULL, R },
	{ "CADirectory", T_PATH, "$StateDirectory/ca", OFF(ca_dir), 0, 0, NULL, R },
	{ "CAKeyType", T_ENUM, "rsa-2048", OFF(ca_key_type), 0, 0, ca_keytype_names, R },
	{ "CAValidityDays", T_INT, "365", OFF(ca_days), 1, 3650, NULL, R },
	{ "CARootValidityDays", T_INT, "3650", OFF(ca_root_days), 1, 36500, NULL, R },
	{ "CASubject", T_STR, "O=smimegate", OFF(ca_subject), 0, 0, NULL, R },
	{ "CACRLURL", T_STR, "${CAHTTPListen?http://$CAHTTPListen/ca.crl}", OFF(ca_crl_url), 0, 0, NULL, R },
	{ "CAIssuerURL", T_STR, "${CAHTTPListen?http://$CAHTTPListen/ca.crt}", OFF(ca_issuer_url), 0, 0, NULL, R },
	{ "CAOCSPURL", T_STR, "", OFF(ca_ocsp_url), 0, 0, NULL, R },
	{ "CACRLInterval", T_INT, "3600", OFF(ca_crl_interval), 60, 604800, NULL, R },
	{ "CACRLDays", T_INT, "7", OFF(ca_crl_days), 1, 365, NULL, R },
	{ "CAHTTPListen", T_STR, "127.0.0.1:8896", OFF(ca_http_listen), 0, 0, NULL, R },
	{ "CMPServer", T_STR, "", OFF(cmp_server), 0, 0, NULL, 0 },
	{ "CMPPath", T_STR, "pkix/", OFF(cmp_path), 0, 0, NULL, 0 },
	{ "CMPReference", T_STR, "", OFF(cmp_reference), 0, 0, NULL, 0 },
	{ "CMPSecretFile", T_PATH, "", OFF(cmp_secret_file), 0, 0, NULL, S },
	{ "CMPTimeout", T_INT, "30", OFF(cmp_timeout), 1, 300, NULL, 0 },
	{ "CAEnrollEmployees", T_BOOL, "no", OFF(ca_enroll_employees), 0, 0, NULL, 0 },
	{ "RenewBefore", T_INT, "30", OFF(renew_before_days), 0, 3650, NULL, 0 },
	{ "RenewInterval", T_INT, "3600", OFF(renew_interval), 1, 604800, NULL, 0 },
	{ "EnrollmentSMTP", T_STR, "", OFF(enroll_smtp), 0, 0, NULL, 0 },
	{ "EnrollmentSender", T_STR, "postmaster@${LocalDomains?$LocalDomains}${LocalDomains:localhost}", OFF(enroll_sender), 0, 0, NULL, 0 },
	{ "EnrollmentTimeout", T_INT, "30", OFF(enroll_timeout), 1, 300, NULL, 0 },
	{ "PortalURL", T_STR, "${CAHTTPListen?http://$CAHTTPListen}", OFF(portal_url), 0, 0, NULL, 0 },
	{ "PickupDirectory", T_PATH, "$StateDirectory/pickup", OFF(pickup_dir), 0, 0, NULL, R },
	{ "PickupLifetime", T_INT, "604800", OFF(pickup_lifetime), 1, 31536000, NULL, 0 },
	{ "PickupMaxFailures", T_INT, "5", OFF(pickup_max_failures), 1, 100, NULL, R },
	{ "PickupClientMaxFailures", T_INT, "20", OFF(pickup_client_max_failures), 1, 100000, NULL, R },
	{ "PickupClientWindow", T_INT, "3600", OFF(pickup_client_window), 1, 604800, NULL, R },
	{ "PickupTrustedProxies", T_NETS, "", OFF(pickup_proxies), 0, 0, NULL, R },
	/* The public-key retrieval service (GET /certs) on the same server. */
	{ "LookupService", T_BOOL, "no", OFF(lookup_service), 0, 0, NULL, R },
	{ "LookupClientMaxRequests", T_INT, "100", OFF(lookup_client_max), 1, 1000000, NULL, R },
	{ "EnrollmentMaxPerSender", T_INT, "20", OFF(enroll_max_per_sender), 0, 1000000, NULL, 0 },
	{ "EnrollmentAllowDomains", T_DOMAINS, "", OFF(enroll_allow_domains), 0, 0, NULL, 0 },
	{ "EnrollmentDenyDomains", T_DOMAINS, "", OFF(enroll_deny_domains), 0, 0, NULL, 0 },
	{ "EnrollmentPendingTime", T_INT, "86400", OFF(enroll_pending_time), 1, 2592000, NULL, 0 },
	/* The texts of the invitation, the notices and the pickup pages. */
	{ "TemplateDirectory", T_PATH, SMIMEGATE_TEMPLATEDIR, OFF(template_dir), 0, 0, NULL, 0 },
	{ "TemplateLanguage", T_STR, "en", OFF(template_language), 0, 0, NULL, 0 },
	{ "CompanyName", T_STR, "${LocalDomains?$LocalDomains}${LocalDomains:smimegate}", OFF(company_name), 0, 0, NULL, 0 },
	/* Several gateways sharing state: the keystore in LDAP, harvest in Redis. */
	{ "KeystoreBackend", T_ENUM, "file", OFF(keystore_backend), 0, 0, ks_backend_names, R },
	{ "KeystoreLDAP", T_STR, "", OFF(keystore_ldap), 0, 0, NULL, R },
	{ "KeystoreLDAPAttribute", T_STR, "userPKCS12", OFF(keystore_ldap_attr), 0, 0, NULL, R },
	{ "KeystoreLDAPRefresh", T_INT, "60", OFF(keystore_ldap_refresh), 1, 86400, NULL, R },
	{ "KeystoreLDAPTimeout", T_INT, "10", OFF(keystore_ldap_timeout), 1, 300, NULL, R },
	{ "KeystoreLDAPMaxStale", T_INT, "900", OFF(keystore_ldap_max_stale), 0, 86400, NULL, R },
	{ "SharedLeaseTime", T_INT, "300", OFF(shared_lease_time), 5, 86400, NULL, 0 },
	{ "SharedLeaseWait", T_INT, "10", OFF(shared_lease_wait), 0, 120, NULL, 0 },
	{ "HarvestStore", T_ENUM, "file", OFF(harvest_store), 0, 0, harvest_store_names, 0 },
	{ "RedisHarvestPrefix", T_STR, "smimegate:harvest:", OFF(redis_harvest_prefix), 0, 0, NULL, 0 },
};
const size_t conf_nkeys = sizeof(conf_keys) / sizeof(conf_keys[0]);

const conf_key_t *
conf_key_find(const char *name, size_t *idx)
{
	for (size_t i = 0; i < conf_nkeys; i++) {
		if (strcasecmp(conf_keys[i].name, name) == 0) {
			*idx = i;
			return &conf_keys[i];
		}
	}
	return NULL;
}

size_t
conf_key_index(const char *name)
{
	size_t idx = 0;

	(void)conf_key_find(name, &idx);
	return idx;
}

int
conf_enum_value(const conf_key_t *k, int i)
{
	return k->enums == facility_names ? facility_values[i] : i;
}

int
conf_key_derived(const conf_key_t *k)
{
	return strchr(k->def, '$') != NULL;
}

const char *const *
conf_key_names(void)
{
	static const char *names[sizeof(conf_keys) / sizeof(conf_keys[0]) + 1];

	/* Filled on every call with the same values: no lock needed. */
	for (size_t i = 0; i < conf_nkeys; i++)
		names[i] = conf_keys[i].name;
	names[conf_nkeys] = NULL;
	return names;
}

int
conf_key_restart(const char *name)
{
	size_t idx;
	const conf_key_t *k = conf_key_find(name, &idx);

	return k != NULL && (k->flags & CONF_RESTART) != 0;
}

const char *
conf_where(const conf_t *c, size_t idx, char *buf, size_t len)
{
	if (c->src != NULL && c->src->set_at[idx] != NULL)
		return c->src->set_at[idx];
	snprintf(buf, len, "default of %s", conf_keys[idx].name);
	return buf;
}

void
conf_errf(char *err, size_t errlen, const char *where, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s: %s", where, msg);
}
