/*
 * conf.c: the configuration table and its loader (see conf.h).
 *
 * Every key is one row of conf_keys[]: name, type, default, bounds and
 * where the value goes.  Defaults are parsed by the same code as the file,
 * so a bad default cannot hide.  Keys whose default depends on another
 * (KeystoreDirectory under StateDirectory) are derived in conf_finish().
 */
#include "conf/conf.h"
#include "directory/dir_map.h"
#include "directory/dir_lookup.h"
#include "smime/smime.h"
#include "policy/policy.h"
#include "util/util.h"
#include "audit/audit.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sys/stat.h>

enum conf_type { T_STR, T_PATH, T_BOOL, T_SIZE, T_INT, T_ENUM, T_DOMAINS, T_NETS, T_SOCKET };

typedef struct conf_key {
	const char *name;
	enum conf_type type;
	const char *def;
	size_t off;
	long long min, max;         /* T_SIZE bounds */
	const char *const *enums;   /* T_ENUM names, value = index */
} conf_key_t;

static const char *const on_error_names[] = { "tempfail", "accept", "reject", NULL };
static const char *const unauth_names[] = { "pass", "reject", NULL };
static const char *const sigmode_names[] = { "detached", "opaque", NULL };
static const char *const on_audit_names[] = { "tempfail", "accept", NULL };
/* Encryption (issue 3). */
static const char *const cipher_names[] = { "auto", "aes-256-cbc", "aes-256-gcm", NULL };
static const char *const keytransport_names[] = { "pkcs1", "oaep", NULL };
static const char *const crl_names[] = { "tempfail", "refuse", "accept", NULL };
/* CAKeyType; the order is ca_keytype_t's. */
static const char *const ca_keytype_names[] = { "rsa-2048", "rsa-3072", "p-256", NULL };
/* Where the keystore's entries live (issue 10). */
static const char *const ks_backend_names[] = { "file", "ldap", NULL };
static const char *const harvest_store_names[] = { "file", "redis", NULL };
/* Content without integrity protection (issue 14); the order is
 * enum conf_unprotected's. */
static const char *const unprotected_names[] = { "signed", "decrypt", "keep", NULL };
static const char *const facility_names[] = {
	"mail", "daemon", "user", "local0", "local1", "local2", "local3",
	"local4", "local5", "local6", "local7", NULL
};
static const int facility_values[] = {
	LOG_MAIL, LOG_DAEMON, LOG_USER, LOG_LOCAL0, LOG_LOCAL1, LOG_LOCAL2,
	LOG_LOCAL3, LOG_LOCAL4, LOG_LOCAL5, LOG_LOCAL6, LOG_LOCAL7
};

#define OFF(f) offsetof(conf_t, f)
#define KB 1024LL
#define MB (1024LL * 1024)
#define GB (1024LL * 1024 * 1024)

static const conf_key_t conf_keys[] = {
	{ "Socket", T_SOCKET, "unix:/run/smimegate/smimegate.sock", OFF(socket), 0, 0, NULL },
	{ "SocketGroup", T_STR, "", OFF(socket_group), 0, 0, NULL },
	{ "StateDirectory", T_PATH, "/var/lib/smimegate", OFF(state_dir), 0, 0, NULL },
	{ "KeystoreDirectory", T_PATH, "", OFF(keystore_dir), 0, 0, NULL },
	{ "MasterKeyFile", T_PATH, "", OFF(master_key_file), 0, 0, NULL },
	{ "CreateMasterKey", T_BOOL, "yes", OFF(create_master_key), 0, 0, NULL },
	{ "SpoolDirectory", T_PATH, "", OFF(spool_dir), 0, 0, NULL },
	{ "LocalDomains", T_DOMAINS, "", OFF(local_domains), 0, 0, NULL },
	{ "InternalHosts", T_NETS, "", OFF(internal_hosts), 0, 0, NULL },
	{ "LocalSubmissionInternal", T_BOOL, "no", OFF(local_submission_internal), 0, 0, NULL },
	{ "UserID", T_STR, "", OFF(user), 0, 0, NULL },
	{ "PidFile", T_PATH, "", OFF(pid_file), 0, 0, NULL },
	{ "Background", T_BOOL, "yes", OFF(background), 0, 0, NULL },
	{ "MaximumMessageSize", T_SIZE, "50M", OFF(max_message_size), 1 * KB, 4 * GB, NULL },
	{ "SpoolMemoryLimit", T_SIZE, "256K", OFF(spool_memory), 0, 1 * GB, NULL },
	{ "Syslog", T_BOOL, "yes", OFF(syslog), 0, 0, NULL },
	{ "SyslogFacility", T_ENUM, "mail", OFF(syslog_facility), 0, 0, facility_names },
	{ "LogStderr", T_BOOL, "no", OFF(log_stderr), 0, 0, NULL },
	{ "OnInternalError", T_ENUM, "tempfail", OFF(on_internal_error), 0, 0, on_error_names },
	{ "UnauthorizedSender", T_ENUM, "pass", OFF(on_unauthorized_sender), 0, 0, unauth_names },
	{ "SignerMap", T_PATH, "", OFF(signer_map_file), 0, 0, NULL },
	{ "SigningMode", T_ENUM, "detached", OFF(signing_mode), 0, 0, sigmode_names },
	{ "Sign", T_BOOL, "yes", OFF(sign_outbound), 0, 0, NULL },
	{ "AuditLog", T_BOOL, "yes", OFF(audit), 0, 0, NULL },
	{ "AuditDirectory", T_PATH, "", OFF(audit_dir), 0, 0, NULL },
	{ "AuditKeyFile", T_PATH, "", OFF(audit_key_file), 0, 0, NULL },
	{ "AuditCheckpointRecords", T_INT, "1000", OFF(audit_checkpoint_records), 0, 1000000, NULL },
	{ "AuditCheckpointInterval", T_INT, "60", OFF(audit_checkpoint_seconds), 1, 86400, NULL },
	{ "AuditRotateSize", T_SIZE, "100M", OFF(audit_rotate_size), 0, 64 * GB, NULL },
	{ "AuditSubject", T_BOOL, "no", OFF(audit_subject), 0, 0, NULL },
	{ "AuditSyslog", T_BOOL, "no", OFF(audit_syslog), 0, 0, NULL },
	{ "AuditSyslogCheckpoints", T_BOOL, "yes", OFF(audit_syslog_checkpoints), 0, 0, NULL },
	{ "AuditKeyFingerprint", T_STR, "", OFF(audit_key_fingerprint), 0, 0, NULL },
	{ "AuditHeadFile", T_PATH, "", OFF(audit_head_file), 0, 0, NULL },
	{ "OnAuditError", T_ENUM, "tempfail", OFF(on_audit_error), 0, 0, on_audit_names },
	/* Outbound encryption and certificate lookup (issue 3). */
	{ "EncryptionCipher", T_ENUM, "auto", OFF(encryption_cipher), 0, 0, cipher_names },
	{ "RSAKeyTransport", T_ENUM, "pkcs1", OFF(rsa_key_transport), 0, 0, keytransport_names },
	/* Issue 16: ECDH recipients apart from RSA ones (NSS refuses the mix). */
	{ "SplitKeyAgreement", T_BOOL, "yes", OFF(split_key_agreement), 0, 0, NULL },
	{ "LDAPDirectories", T_STR, "", OFF(ldap_directories), 0, 0, NULL },
	{ "LDAPFilter", T_STR, "(mail=%s)", OFF(ldap_filter), 0, 0, NULL },
	{ "LDAPConnectTimeout", T_INT, "5", OFF(ldap_connect_timeout), 1, 300, NULL },
	{ "LDAPSearchTimeout", T_INT, "10", OFF(ldap_search_timeout), 1, 300, NULL },
	{ "LDAPPoolSize", T_INT, "4", OFF(ldap_pool_size), 1, 32, NULL },
	{ "CRLCheck", T_BOOL, "yes", OFF(crl_check), 0, 0, NULL },
	{ "CRLUnavailable", T_ENUM, "tempfail", OFF(crl_unavailable), 0, 0, crl_names },
	{ "CRLTimeout", T_INT, "10", OFF(crl_timeout), 1, 300, NULL },
	{ "CRLCacheTime", T_INT, "3600", OFF(crl_cache_time), 0, 604800, NULL },
	{ "RedisServer", T_STR, "", OFF(redis_server), 0, 0, NULL },
	{ "RedisPrefix", T_STR, "smimegate:cert:", OFF(redis_prefix), 0, 0, NULL },
	{ "RedisTimeout", T_INT, "500", OFF(redis_timeout), 10, 60000, NULL },
	{ "RedisPasswordFile", T_PATH, "", OFF(redis_password_file), 0, 0, NULL },
	{ "RedisUser", T_STR, "", OFF(redis_user), 0, 0, NULL },
	{ "RedisKeyFile", T_PATH, "", OFF(redis_key_file), 0, 0, NULL },
	{ "CachePositiveTTL", T_INT, "86400", OFF(cache_positive_ttl), 0, 31536000, NULL },
	{ "CacheNegativeTTL", T_INT, "3600", OFF(cache_negative_ttl), 0, 31536000, NULL },
	{ "CacheSize", T_INT, "10000", OFF(cache_size), 0, 10000000, NULL },
	/* Inbound: decryption, verification, harvesting (issue 4). */
	{ "ResultHeader", T_STR, "X-Smimegate-Result", OFF(result_header), 0, 0, NULL },
	{ "Decrypt", T_BOOL, "yes", OFF(decrypt_inbound), 0, 0, NULL },
	{ "UnprotectedContent", T_ENUM, "signed", OFF(unprotected_content), 0, 0, unprotected_names },
	{ "Verify", T_BOOL, "yes", OFF(verify_inbound), 0, 0, NULL },
	{ "ConvertOpaqueSigned", T_BOOL, "yes", OFF(convert_opaque), 0, 0, NULL },
	{ "HarvestCertificates", T_BOOL, "yes", OFF(harvest), 0, 0, NULL },
	{ "TrustAnchorFile", T_PATH, "", OFF(trust_anchor_file), 0, 0, NULL },
	{ "TrustSystemStore", T_BOOL, "yes", OFF(trust_system), 0, 0, NULL },
	{ "CRLFile", T_PATH, "", OFF(crl_file), 0, 0, NULL },
	{ "CRLDirectory", T_PATH, "", OFF(crl_dir), 0, 0, NULL },
	/* Policy (issue 6) */
	{ "PolicyFile", T_PATH, "", OFF(policy_file), 0, 0, NULL },
	/* The durable spool, re-injection, hold (issue 6b) */
	{ "QueueDirectory", T_PATH, "", OFF(queue_dir), 0, 0, NULL },
	{ "ReinjectCommand", T_STR, "/usr/sbin/sendmail -G -i", OFF(reinject_command), 0, 0, NULL },
	{ "ReinjectKeyFile", T_PATH, "", OFF(reinject_key_file), 0, 0, NULL },
	{ "QueueRunInterval", T_INT, "30", OFF(queue_run_interval), 1, 3600, NULL },
	{ "HoldTime", T_INT, "432000", OFF(hold_time), 1, 31536000, NULL },
	{ "QueueDedupTime", T_INT, "86400", OFF(queue_dedup_time), 0, 31536000, NULL },
	/* Operations (issue 10) */
	{ "HTTPListen", T_STR, "", OFF(http_listen), 0, 0, NULL },
	/* Limits of both HTTP listeners (issue 15) */
	{ "HTTPMaxHeaderSize", T_SIZE, "16K", OFF(http_max_header_size), 1 * KB, 1 * MB, NULL },
	{ "HTTPMaxHeaders", T_INT, "100", OFF(http_max_headers), 10, 10000, NULL },
	{ "HTTPMaxConnections", T_INT, "100", OFF(http_max_connections), 1, 100000, NULL },
	{ "HTTPRequestTimeout", T_INT, "20", OFF(http_request_timeout), 1, 3600, NULL },
	/* Limits (issue 9). */
	{ "MaximumMimeParts", T_INT, "1000", OFF(max_mime_parts), 1, 100000, NULL },
	{ "MaximumMimeDepth", T_INT, "32", OFF(max_mime_depth), 1, 64, NULL },
	{ "MaximumHeaderLength", T_SIZE, "64K", OFF(max_header_length), 1 * KB, 10 * MB, NULL },
	{ "MaximumHeaders", T_INT, "1000", OFF(max_headers), 10, 100000, NULL },
	{ "MaximumRecipients", T_INT, "1000", OFF(max_recipients), 1, 100000, NULL },
	/* Embedded CA and its HTTP endpoint (issue 5) */
	{ "CertificateAuthority", T_BOOL, "yes", OFF(ca_enable), 0, 0, NULL },
	{ "CADirectory", T_PATH, "", OFF(ca_dir), 0, 0, NULL },
	{ "CAKeyType", T_ENUM, "rsa-2048", OFF(ca_key_type), 0, 0, ca_keytype_names },
	{ "CAValidityDays", T_INT, "365", OFF(ca_days), 1, 3650, NULL },
	{ "CARootValidityDays", T_INT, "3650", OFF(ca_root_days), 1, 36500, NULL },
	{ "CASubject", T_STR, "O=smimegate", OFF(ca_subject), 0, 0, NULL },
	{ "CACRLURL", T_STR, "", OFF(ca_crl_url), 0, 0, NULL },
	{ "CAIssuerURL", T_STR, "", OFF(ca_issuer_url), 0, 0, NULL },
	{ "CACRLInterval", T_INT, "3600", OFF(ca_crl_interval), 60, 604800, NULL },
	{ "CACRLDays", T_INT, "7", OFF(ca_crl_days), 1, 365, NULL },
	{ "CAHTTPListen", T_STR, "127.0.0.1:8896", OFF(ca_http_listen), 0, 0, NULL },
	{ "CMPServer", T_STR, "", OFF(cmp_server), 0, 0, NULL },
	{ "CMPPath", T_STR, "pkix/", OFF(cmp_path), 0, 0, NULL },
	{ "CMPReference", T_STR, "", OFF(cmp_reference), 0, 0, NULL },
	{ "CMPSecretFile", T_PATH, "", OFF(cmp_secret_file), 0, 0, NULL },
	{ "CMPTimeout", T_INT, "30", OFF(cmp_timeout), 1, 300, NULL },
	{ "CAEnrollEmployees", T_BOOL, "no", OFF(ca_enroll_employees), 0, 0, NULL },
	{ "EnrollmentSMTP", T_STR, "", OFF(enroll_smtp), 0, 0, NULL },
	{ "EnrollmentSender", T_STR, "", OFF(enroll_sender), 0, 0, NULL },
	{ "EnrollmentTimeout", T_INT, "30", OFF(enroll_timeout), 1, 300, NULL },
	{ "PortalURL", T_STR, "", OFF(portal_url), 0, 0, NULL },
	{ "PickupDirectory", T_PATH, "", OFF(pickup_dir), 0, 0, NULL },
	{ "PickupLifetime", T_INT, "604800", OFF(pickup_lifetime), 1, 31536000, NULL },
	{ "PickupMaxFailures", T_INT, "5", OFF(pickup_max_failures), 1, 100, NULL },
	{ "PickupClientMaxFailures", T_INT, "20", OFF(pickup_client_max_failures), 1, 100000, NULL },
	{ "PickupClientWindow", T_INT, "3600", OFF(pickup_client_window), 1, 604800, NULL },
	{ "PickupTrustedProxies", T_NETS, "", OFF(pickup_proxies), 0, 0, NULL },
	{ "EnrollmentMaxPerSender", T_INT, "20", OFF(enroll_max_per_sender), 0, 1000000, NULL },
	{ "EnrollmentAllowDomains", T_DOMAINS, "", OFF(enroll_allow_domains), 0, 0, NULL },
	{ "EnrollmentDenyDomains", T_DOMAINS, "", OFF(enroll_deny_domains), 0, 0, NULL },
	{ "EnrollmentPendingTime", T_INT, "86400", OFF(enroll_pending_time), 1, 2592000, NULL },
	/* Several gateways sharing state (issue 10): the keystore in LDAP */
	{ "KeystoreBackend", T_ENUM, "file", OFF(keystore_backend), 0, 0, ks_backend_names },
	{ "KeystoreLDAP", T_STR, "", OFF(keystore_ldap), 0, 0, NULL },
	{ "KeystoreLDAPAttribute", T_STR, "userPKCS12", OFF(keystore_ldap_attr), 0, 0, NULL },
	{ "KeystoreLDAPRefresh", T_INT, "60", OFF(keystore_ldap_refresh), 1, 86400, NULL },
	{ "KeystoreLDAPTimeout", T_INT, "10", OFF(keystore_ldap_timeout), 1, 300, NULL },
	{ "HarvestStore", T_ENUM, "file", OFF(harvest_store), 0, 0, harvest_store_names },
	{ "RedisHarvestPrefix", T_STR, "smimegate:harvest:", OFF(redis_harvest_prefix), 0, 0, NULL },
};
#define NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

/* Where a value came from, for messages: "file:line" or "-o Key=Value". */
typedef struct conf_src {
	char where[512];
	unsigned char seen[NKEYS];
	char set_at[NKEYS][512];    /* where each key got its value */
} conf_src_t;

static void
errf(char *err, size_t errlen, const char *where, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s: %s", where, msg);
}

static const conf_key_t *
conf_key_find(const char *name, size_t *idx)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcasecmp(conf_keys[i].name, name) == 0) {
			*idx = i;
			return &conf_keys[i];
		}
	}
	return NULL;
}

static void
free_list(char **list)
{
	if (list == NULL)
		return;
	for (char **p = list; *p != NULL; p++)
		free(*p);
	free(list);
}

static char **split_list(const char *value);

/* Splits on white space only (LDAP URLs hold commas). */
static char **
split_ws(const char *value)
{
	char *copy = strdup(value), **list;

	if (copy == NULL)
		return NULL;
	for (char *p = copy; *p; p++)
		if (*p == ',')
			*p = '\x01';
	list = split_list(copy);
	free(copy);
	for (char **l = list; l != NULL && *l != NULL; l++)
		for (char *p = *l; *p; p++)
			if (*p == '\x01')
				*p = ',';
	return list;
}

/* Splits on commas and white space; returns a NULL-terminated list. */
static char **
split_list(const char *value)
{
	size_t n = 0, cap = 4;
	char **list = calloc(cap, sizeof(*list));
	const char *p = value;

	if (list == NULL)
		return NULL;
	while (*p != '\0') {
		size_t len;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		len = strcspn(p, ", \t\r\n");
		if (len == 0)
			break;
		if (n + 2 > cap) {
			char **nl = realloc(list, (cap *= 2) * sizeof(*list));
			if (nl == NULL)
				goto fail;
			list = nl;
		}
		if ((list[n] = strndup(p, len)) == NULL)
			goto fail;
		list[++n] = NULL;
		p += len;
	}
	return list;
fail:
	free_list(list);
	return NULL;
}

static int
parse_bool(const char *v, int *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1", NULL };
	static const char *const no[] = { "no", "false", "off", "0", NULL };

	for (int i = 0; yes[i] != NULL; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return (*out = 1), 0;
		if (strcasecmp(v, no[i]) == 0)
			return (*out = 0), 0;
	}
	return -1;
}

static int
parse_size(const char *v, long long *out)
{
	char *end;
	long long n, mult = 1;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || n < 0)
		return -1;
	switch (tolower((unsigned char)*end)) {
	case '\0': break;
	case 'k': mult = KB; end++; break;
	case 'm': mult = MB; end++; break;
	case 'g': mult = GB; end++; break;
	default: return -1;
	}
	if (*end != '\0' || n > LLONG_MAX / mult)
		return -1;
	*out = n * mult;
	return 0;
}

static int
parse_net(const char *text, conf_net_t *net)
{
	char buf[INET6_ADDRSTRLEN + 8];
	char *slash, *end;
	unsigned maxp;
	long p;

	if (strlen(text) >= sizeof(buf))
		return -1;
	strcpy(buf, text);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash++ = '\0';
	memset(net, 0, sizeof(*net));
	if (inet_pton(AF_INET, buf, net->addr) == 1) {
		net->family = AF_INET;
		maxp = 32;
	} else if (inet_pton(AF_INET6, buf, net->addr) == 1) {
		net->family = AF_INET6;
		maxp = 128;
	} else {
		return -1;
	}
	net->prefix = maxp;
	if (slash != NULL) {
		errno = 0;
		p = strtol(slash, &end, 10);
		if (errno != 0 || end == slash || *end != '\0' || p < 0 || p > (long)maxp)
			return -1;
		net->prefix = (unsigned)p;
	}
	return 0;
}

static int
valid_socket(const char *v)
{
	const char *at;
	char *end;
	long port;

	if (strncmp(v, "unix:", 5) == 0 || strncmp(v, "local:", 6) == 0)
		return v[strcspn(v, ":") + 1] == '/';
	if (strncmp(v, "inet:", 5) != 0 && strncmp(v, "inet6:", 6) != 0)
		return 0;
	v += strcspn(v, ":") + 1;
	port = strtol(v, &end, 10);
	if (end == v || port < 1 || port > 65535)
		return 0;
	at = end;
	return *at == '\0' || (*at == '@' && at[1] != '\0');
}

/* Sets one key from its textual value; 0 or -1 with err filled. */
static int
conf_set(conf_t *c, const conf_key_t *k, const char *v, const char *where,
    char *err, size_t errlen)
{
	char *base = (char *)c + k->off;

	switch (k->type) {
	case T_SOCKET:
		if (!valid_socket(v)) {
			errf(err, errlen, where, "%s: \"%s\" is not inet:PORT@HOST or unix:/PATH",
			    k->name, v);
			return -1;
		}
		/* FALLTHROUGH */
	case T_STR:
	case T_PATH: {
		char *s = strdup(v);
		if (s == NULL)
			return errf(err, errlen, where, "out of memory"), -1;
		free(*(char **)base);
		*(char **)base = s;
		return 0;
	}
	case T_BOOL:
		if (parse_bool(v, (int *)base) != 0) {
			errf(err, errlen, where, "%s: \"%s\" is not yes or no", k->name, v);
			return -1;
		}
		return 0;
	case T_SIZE: {
		long long n;
		if (parse_size(v, &n) != 0 || n < k->min || n > k->max) {
			errf(err, errlen, where, "%s: \"%s\" is not a size from %lld to %lld "
			    "(suffixes K, M, G)", k->name, v, k->min, k->max);
			return -1;
		}
		*(long long *)base = n;
		return 0;
	}
	case T_INT: {
		long long n;
		char *end;

		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0' || n < k->min || n > k->max) {
			errf(err, errlen, where, "%s: \"%s\" is not a number from %lld to %lld",
			    k->name, v, k->min, k->max);
			return -1;
		}
		*(long long *)base = n;
		return 0;
	}
	case T_ENUM:
		for (int i = 0; k->enums[i] != NULL; i++) {
			if (strcasecmp(v, k->enums[i]) == 0) {
				*(int *)base = k->enums == facility_names ? facility_values[i] : i;
				return 0;
			}
		}
		errf(err, errlen, where, "%s: \"%s\" is not one of the allowed values",
		    k->name, v);
		return -1;
	case T_DOMAINS: {
		char **list = split_list(v);
		if (list == NULL)
			return errf(err, errlen, where, "out of memory"), -1;
		for (char **p = list; *p != NULL; p++) {
			for (char *q = *p; *q != '\0'; q++)
				*q = (char)tolower((unsigned char)*q);
			if (strchr(*p, '@') != NULL || **p == '.') {
				errf(err, errlen, where, "%s: \"%s\" is not a domain name",
				    k->name, *p);
				free_list(list);
				return -1;
			}
		}
		free_list(*(char ***)base);
		*(char ***)base = list;
		return 0;
	}
	case T_NETS: {
		char **list = split_list(v);
		size_t n = 0;
		conf_net_t *nets;

		if (list == NULL)
			return errf(err, errlen, where, "out of memory"), -1;
		while (list[n] != NULL)
			n++;
		nets = calloc(n ? n : 1, sizeof(*nets));
		for (size_t i = 0; nets != NULL && i < n; i++) {
			if (parse_net(list[i], &nets[i]) != 0) {
				errf(err, errlen, where, "%s: \"%s\" is not an address or "
				    "address/prefix", k->name, list[i]);
				free(nets);
				free_list(list);
				return -1;
			}
		}
		free_list(list);
		if (nets == NULL)
			return errf(err, errlen, where, "out of memory"), -1;
		free(((conf_netlist_t *)base)->v);
		((conf_netlist_t *)base)->v = nets;
		((conf_netlist_t *)base)->n = n;
		return 0;
	}
	}
	return -1;
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* One "Key value" line (or "Key=Value" override). */
static int
conf_line(conf_t *c, conf_src_t *src, char *line, int is_override,
    char *err, size_t errlen)
{
	const conf_key_t *k;
	size_t idx;
	char *key = line, *val;

	val = key + strcspn(key, is_override ? "=" : " \t=");
	if (*val == '\0') {
		errf(err, errlen, src->where, "\"%s\": expected %s", key,
		    is_override ? "Key=Value" : "a key and a value");
		return -1;
	}
	*val++ = '\0';
	key = trim(key);
	val = trim(val);
	if (!is_override && *val == '=')
		val = trim(val + 1);
	if ((k = conf_key_find(key, &idx)) == NULL) {
		errf(err, errlen, src->where, "unknown key \"%s\"", key);
		return -1;
	}
	if (!is_override && src->seen[idx]) {
		errf(err, errlen, src->where, "%s is set twice", k->name);
		return -1;
	}
	src->seen[idx] = 1;
	memcpy(src->set_at[idx], src->where, sizeof(src->where));
	return conf_set(c, k, val, src->where, err, errlen);
}

static int
conf_read_file(conf_t *c, conf_src_t *src, const char *file,
    char *err, size_t errlen)
{
	FILE *fp = fopen(file, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;
	int rc = 0;
	struct stat st;

	if (fp == NULL) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	/* The file names the keys and who may sign: only its owner writes it. */
	if (fstat(fileno(fp), &st) != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) ||
	    (st.st_uid != 0 && st.st_uid != geteuid())) {
		snprintf(err, errlen, "%s: writable by group or others, or owned by "
		    "another user (chmod go-w; owner root or the user we run as)", file);
		fclose(fp);
		return -1;
	}
	while (rc == 0 && (n = getline(&line, &cap, fp)) != -1) {
		char *p;

		lineno++;
		snprintf(src->where, sizeof(src->where), "%s:%u", file, lineno);
		if (memchr(line, '\0', (size_t)n) != NULL) {
			errf(err, errlen, src->where, "NUL character in line");
			rc = -1;
			break;
		}
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		p = trim(line);
		if (*p != '\0')
			rc = conf_line(c, src, p, 0, err, errlen);
	}
	if (rc == 0 && ferror(fp)) {
		snprintf(err, errlen, "%s: read error: %s", file, strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(fp);
	return rc;
}

static char *
path_under(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

/* Derived defaults and checks across keys, and the files named. */
/*
 * Relative path names are taken relative to the directory the program was
 * started in, and made absolute at once, so that a daemon that changes
 * to / when it goes to the background still finds its files.
 */
static int
conf_absolute_paths(conf_t *c)
{
	char cwd[4096];

	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -1;
	for (size_t i = 0; i < NKEYS; i++) {
		char **p = (char **)((char *)c + conf_keys[i].off), *abs;

		if (conf_keys[i].type != T_PATH || **p == '\0' || **p == '/')
			continue;
		if (asprintf(&abs, "%s/%s", cwd, strncmp(*p, "./", 2) == 0 ? *p + 2 : *p) < 0)
			return -1;
		free(*p);
		*p = abs;
	}
	return 0;
}

/* The certificate lookup of the encryption keys (issue 3). */
static int
conf_finish_lookup(conf_t *c, char *err, size_t errlen)
{
	char **urls = split_ws(c->ldap_directories);
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
		.redis = c->redis_server, .redis_prefix = c->redis_prefix,
		.redis_timeout_ms = (int)c->redis_timeout,
		.redis_password_file = c->redis_password_file,
		.redis_user = c->redis_user, .redis_key_file = c->redis_key_file,
		.ttl_positive = (long)c->cache_positive_ttl,
		.ttl_negative = (long)c->cache_negative_ttl,
		.mem_cache_size = (size_t)c->cache_size, .harvest_dir = harvest,
		.harvest_redis = c->harvest_store == 1,
		.harvest_prefix = c->redis_harvest_prefix,
	};

	if (urls == NULL || harvest == NULL)
		snprintf(err, errlen, "out of memory");
	else if (strstr(c->ldap_filter, "%s") == NULL)
		snprintf(err, errlen, "LDAPFilter: \"%s\" has no %%s", c->ldap_filter);
	else if ((c->lookup = dir_lookup_new(&s, why, sizeof(why))) == NULL)
		snprintf(err, errlen, "certificate lookup: %s", why);
	free_list(urls);
	free(harvest);
	return c->lookup ? 0 : -1;
}

/* Inbound: a valid header name, and the trust anchors and CRLs loaded. */
static int
conf_inbound_finish(conf_t *c, const conf_src_t *src, char *err, size_t errlen)
{
	char why[512];
	size_t idx = 0;

	conf_key_find("ResultHeader", &idx);
	if (*c->result_header == '\0' || strcspn(c->result_header,
	    ": \t\r\n") != strlen(c->result_header))
		return errf(err, errlen, src->set_at[idx], "ResultHeader: \"%s\" is not "
		    "a header field name", c->result_header), -1;
	for (const char *p = c->result_header; *p != '\0'; p++)
		if (*p < 33 || *p > 126)
			return errf(err, errlen, src->set_at[idx], "ResultHeader: not "
			    "printable ASCII"), -1;
	if (!c->verify_inbound)
		return 0;
	smime_init();
	c->trust = smime_trust_new(c->trust_anchor_file, c->trust_system, c->crl_file,
	    c->crl_dir, why, sizeof(why));
	if (c->trust == NULL)
		return snprintf(err, errlen, "%s", why), -1;
	return 0;
}

/* The policy rules file (PolicyFile), or the built-in rules. */
static int
conf_load_policy(conf_t *c, const conf_src_t *src, char *err, size_t errlen)
{
	policy_err_t perr;
	size_t idx = 0;

	if (*c->policy_file == '\0')
		c->policy = policy_builtin();
	else
		c->policy = policy_load(c->policy_file, &perr);
	if (c->policy != NULL)
		return 0;
	if (*c->policy_file == '\0')
		return snprintf(err, errlen, "out of memory"), -1;
	conf_key_find("PolicyFile", &idx);
	errf(err, errlen, src->set_at[idx], "PolicyFile: %s", perr.msg);
	return -1;
}

/*
 * The durable spool's directory and the re-injection key (issue 6b): the
 * key is read, or made (32 random octets, 0600) when StateDirectory can
 * hold it; without one, mail is not split (reinject_keylen 0).  It is
 * read with util_secret_read(): a symbolic link, another owner, group or
 * other access or a wrong size is refused with the path (issue 15).
 */
static int
conf_finish_queue(conf_t *c, char *err, size_t errlen)
{
	unsigned char *k = NULL;
	size_t klen = 0;
	char why[600];
	int fd, e;

	if (*c->queue_dir == '\0') {
		free(c->queue_dir);
		c->queue_dir = path_under(c->state_dir, "queue");
	}
	if (*c->reinject_key_file == '\0') {
		free(c->reinject_key_file);
		c->reinject_key_file = path_under(c->state_dir, "reinject.key");
	}
	if (c->queue_dir == NULL || c->reinject_key_file == NULL)
		return snprintf(err, errlen, "out of memory"), -1;
	(void)mkdir(c->state_dir, 0700);     /* the first start: the key goes there */
	e = util_secret_read(c->reinject_key_file, sizeof(c->reinject_key), &k, &klen,
	    why, sizeof(why)) == 0 ? 0 : errno;
	if (e == ENOENT && (fd = open(c->reinject_key_file,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) >= 0) {
		unsigned char nk[sizeof(c->reinject_key)];
		int ok = RAND_bytes(nk, sizeof(nk)) == 1
		    && util_write_all(fd, nk, sizeof(nk)) == 0 && fsync(fd) == 0;

		OPENSSL_cleanse(nk, sizeof(nk));
		if (close(fd) != 0 || !ok)
			unlink(c->reinject_key_file);
		else
			e = util_secret_read(c->reinject_key_file, sizeof(c->reinject_key),
			    &k, &klen, why, sizeof(why)) == 0 ? 0 : errno;
	}
	/* Absent and not creatable, or not ours to read: no splitting, as
	 * before; anything unsafe about the file stops the load. */
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

/* The embedded CA's derived defaults: CADirectory under StateDirectory,
 * the CRL and issuer URLs on CAHTTPListen. */
static int
conf_ca_finish(conf_t *c, char *err, size_t errlen)
{
	char url[300];

	if (*c->ca_dir == '\0') {
		free(c->ca_dir);
		c->ca_dir = path_under(c->state_dir, "ca");
	}
	if (*c->ca_http_listen != '\0' && strchr(c->ca_http_listen, ':') == NULL)
		return snprintf(err, errlen, "CAHTTPListen: want HOST:PORT, not \"%s\"",
		    c->ca_http_listen), -1;
	if (*c->ca_crl_url == '\0' && *c->ca_http_listen != '\0') {
		snprintf(url, sizeof(url), "http://%s/ca.crl", c->ca_http_listen);
		free(c->ca_crl_url);
		c->ca_crl_url = strdup(url);
	}
	if (*c->ca_issuer_url == '\0' && *c->ca_http_listen != '\0') {
		snprintf(url, sizeof(url), "http://%s/ca.crt", c->ca_http_listen);
		free(c->ca_issuer_url);
		c->ca_issuer_url = strdup(url);
	}
	if (*c->portal_url == '\0' && *c->ca_http_listen != '\0') {
		snprintf(url, sizeof(url), "http://%s", c->ca_http_listen);
		free(c->portal_url);
		c->portal_url = strdup(url);
	}
	if (*c->pickup_dir == '\0') {
		free(c->pickup_dir);
		c->pickup_dir = path_under(c->state_dir, "pickup");
	}
	if (*c->enroll_sender == '\0') {
		snprintf(url, sizeof(url), "postmaster@%s", c->local_domains && c->local_domains[0]
		    ? c->local_domains[0] : "localhost");
		free(c->enroll_sender);
		c->enroll_sender = strdup(url);
	}
	if (!c->ca_dir || !c->ca_crl_url || !c->ca_issuer_url || !c->portal_url
	    || !c->pickup_dir || !c->enroll_sender)
		return snprintf(err, errlen, "out of memory"), -1;
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

static int
conf_finish(conf_t *c, const conf_src_t *src, char *err, size_t errlen)
{
	size_t idx = 0;
	char fp[65];

	if (conf_absolute_paths(c) != 0)
		return snprintf(err, errlen, "cannot make paths absolute: %s",
		    strerror(errno)), -1;

	if (*c->keystore_dir == '\0') {
		free(c->keystore_dir);
		c->keystore_dir = path_under(c->state_dir, "keystore");
	}
	if (*c->spool_dir == '\0') {
		free(c->spool_dir);
		c->spool_dir = path_under(c->state_dir, "spool");
	}
	if (*c->audit_dir == '\0') {
		free(c->audit_dir);
		c->audit_dir = path_under(c->state_dir, "audit");
	}
	if (c->audit_dir && *c->audit_key_file == '\0') {
		free(c->audit_key_file);
		c->audit_key_file = path_under(c->audit_dir, "audit.key");
	}
	if (*c->audit_key_fingerprint != '\0'
	    && audit_fingerprint_parse(c->audit_key_fingerprint, fp) != 0) {
		conf_key_find("AuditKeyFingerprint", &idx);
		errf(err, errlen, src->set_at[idx], "AuditKeyFingerprint: \"%s\" is not "
		    "a SHA-256 fingerprint (64 hex digits, colons allowed)",
		    c->audit_key_fingerprint);
		return -1;
	}
	if (*c->audit_head_file == '\0') {
		free(c->audit_head_file);
		c->audit_head_file = path_under(c->state_dir, "audit.head");
	}
	if (!c->audit_dir || !c->audit_key_file || !c->audit_head_file)
		return snprintf(err, errlen, "out of memory"), -1;
	if (c->keystore_dir && *c->master_key_file == '\0') {
		free(c->master_key_file);
		c->master_key_file = path_under(c->keystore_dir, "master.key");
	}
	if (!c->keystore_dir || !c->spool_dir || !c->master_key_file)
		return snprintf(err, errlen, "out of memory"), -1;
	if (conf_inbound_finish(c, src, err, errlen) != 0
	    || conf_ca_finish(c, err, errlen) != 0)
		return -1;
	if (*c->signer_map_file != '\0') {
		char why[512];

		c->signer_map = dir_map_load(c->signer_map_file, why, sizeof(why));
		if (c->signer_map == NULL) {
			conf_key_find("SignerMap", &idx);
			errf(err, errlen, src->set_at[idx], "SignerMap: %s", why);
			return -1;
		}
	}
	if (c->harvest_store == 1 && *c->redis_server == '\0') {
		conf_key_find("HarvestStore", &idx);
		errf(err, errlen, src->set_at[idx], "HarvestStore: redis needs RedisServer");
		return -1;
	}
	if (conf_finish_lookup(c, err, errlen) != 0)
		return -1;
	(void)conf_trust_ca(c);
	if (conf_finish_queue(c, err, errlen) != 0)
		return -1;
	if (c->keystore_backend == CONF_KEYSTORE_LDAP && *c->keystore_ldap == '\0') {
		conf_key_find("KeystoreBackend", &idx);
		errf(err, errlen, src->set_at[idx],
		    "KeystoreBackend: ldap needs KeystoreLDAP (the directory's URL)");
		return -1;
	}
	return conf_load_policy(c, src, err, errlen);
}

conf_t *
conf_load(const char *file, char *const *overrides, size_t noverrides,
    char *err, size_t errlen)
{
	conf_t *c = calloc(1, sizeof(*c));
	conf_src_t *src = calloc(1, sizeof(*src));

	if (c == NULL || src == NULL)
		goto nomem;
	c->refs = 1;
	for (size_t i = 0; i < NKEYS; i++) {
		snprintf(src->where, sizeof(src->where), "default of %s", conf_keys[i].name);
		memcpy(src->set_at[i], src->where, sizeof(src->where));
		if (conf_set(c, &conf_keys[i], conf_keys[i].def, src->where, err, errlen) != 0)
			goto fail;
	}
	if (file != NULL) {
		if ((c->file = strdup(file)) == NULL)
			goto nomem;
		if (conf_read_file(c, src, file, err, errlen) != 0)
			goto fail;
	}
	for (size_t i = 0; i < noverrides; i++) {
		char *line = strdup(overrides[i]);

		if (line == NULL)
			goto nomem;
		snprintf(src->where, sizeof(src->where), "-o %s", overrides[i]);
		if (conf_line(c, src, line, 1, err, errlen) != 0) {
			free(line);
			goto fail;
		}
		free(line);
	}
	if (conf_finish(c, src, err, errlen) != 0)
		goto fail;
	free(src);
	return c;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	free(src);
	conf_unref(c);
	return NULL;
}

conf_t *
conf_ref(conf_t *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_SEQ_CST);
	return c;
}

void
conf_unref(conf_t *c)
{
	if (c == NULL || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_SEQ_CST) > 0)
		return;
	for (size_t i = 0; i < NKEYS; i++) {
		char *base = (char *)c + conf_keys[i].off;

		switch (conf_keys[i].type) {
		case T_STR: case T_PATH: case T_SOCKET:
			free(*(char **)base);
			break;
		case T_DOMAINS:
			free_list(*(char ***)base);
			break;
		case T_NETS:
			free(((conf_netlist_t *)base)->v);
			break;
		default:
			break;
		}
	}
	dir_map_free(c->signer_map);
	dir_lookup_free(c->lookup);
	smime_trust_free(c->trust);
	policy_unref(c->policy);
	OPENSSL_cleanse(c->reinject_key, sizeof(c->reinject_key));
	free(c->file);
	free(c);
}

int
conf_is_local_domain(const conf_t *c, const char *domain)
{
	if (domain == NULL || c->local_domains == NULL)
		return 0;
	for (char **p = c->local_domains; *p != NULL; p++) {
		if (strcasecmp(*p, domain) == 0)
			return 1;
	}
	return 0;
}

static int
net_match(const conf_net_t *n, int family, const unsigned char *addr)
{
	unsigned full = n->prefix / 8, rest = n->prefix % 8;

	if (n->family != family)
		return 0;
	if (memcmp(n->addr, addr, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((n->addr[full] ^ addr[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

static int
netlist_match(const conf_netlist_t *l, int family, const unsigned char *addr)
{
	unsigned char v4[4];

	/* An IPv4-mapped IPv6 address is matched as the IPv4 address. */
	if (family == AF_INET6 && memcmp(addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
		memcpy(v4, addr + 12, 4);
		family = AF_INET;
		addr = v4;
	}
	for (size_t i = 0; i < l->n; i++) {
		if (net_match(&l->v[i], family, addr))
			return 1;
	}
	return 0;
}

static int
is_internal(const conf_t *c, int family, const unsigned char *addr)
{
	return netlist_match(&c->internal_hosts, family, addr);
}

int
conf_is_internal(const conf_t *c, const struct sockaddr *sa)
{
	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET)
		return is_internal(c, AF_INET,
		    (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
	if (sa->sa_family == AF_INET6)
		return is_internal(c, AF_INET6,
		    (const unsigned char *)&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return 0;
}

int
conf_is_internal_text(const conf_t *c, const char *text)
{
	return conf_netlist_match_text(&c->internal_hosts, text);
}

int
conf_netlist_match_text(const conf_netlist_t *l, const char *text)
{
	unsigned char addr[16];

	if (text == NULL)
		return 0;
	if (inet_pton(AF_INET, text, addr) == 1)
		return netlist_match(l, AF_INET, addr);
	if (inet_pton(AF_INET6, text, addr) == 1)
		return netlist_match(l, AF_INET6, addr);
	return 0;
}

static void
print_value(const conf_t *c, const conf_key_t *k, FILE *fp)
{
	const char *base = (const char *)c + k->off;

	switch (k->type) {
	case T_STR: case T_PATH: case T_SOCKET:
		fputs(*(char *const *)base, fp);
		break;
	case T_BOOL:
		fputs(*(const int *)base ? "yes" : "no", fp);
		break;
	case T_SIZE:
	case T_INT:
		fprintf(fp, "%lld", *(const long long *)base);
		break;
	case T_ENUM:
		for (int i = 0; k->enums[i] != NULL; i++) {
			int v = k->enums == facility_names ? facility_values[i] : i;
			if (v == *(const int *)base) {
				fputs(k->enums[i], fp);
				break;
			}
		}
		break;
	case T_DOMAINS:
		for (char *const *p = *(char **const *)base; p && *p; p++)
			fprintf(fp, "%s%s", p == *(char **const *)base ? "" : ", ", *p);
		break;
	case T_NETS:
		for (size_t i = 0; i < ((const conf_netlist_t *)base)->n; i++) {
			char buf[INET6_ADDRSTRLEN];
			const conf_net_t *n = &((const conf_netlist_t *)base)->v[i];

			inet_ntop(n->family, n->addr, buf, sizeof(buf));
			fprintf(fp, "%s%s/%u", i ? ", " : "", buf, n->prefix);
		}
		break;
	}
}

void
conf_print(const conf_t *c, FILE *fp)
{
	for (size_t i = 0; i < NKEYS; i++) {
		fprintf(fp, "%s = ", conf_keys[i].name);
		print_value(c, &conf_keys[i], fp);
		fputc('\n', fp);
	}
}

const char *const *
conf_key_names(void)
{
	static const char *names[NKEYS + 1];

	/* Filled on every call with the same values: no lock needed. */
	for (size_t i = 0; i < NKEYS; i++)
		names[i] = conf_keys[i].name;
	names[NKEYS] = NULL;
	return names;
}

int
conf_print_key(const conf_t *c, const char *name, FILE *fp)
{
	size_t idx;
	const conf_key_t *k = conf_key_find(name, &idx);

	if (k == NULL)
		return -1;
	print_value(c, k, fp);
	fputc('\n', fp);
	return 0;
}
