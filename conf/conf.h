/*
 * conf.h: smimegate's configuration, one table of typed keys.
 *
 * The file has "Key value" lines in the style of opendkim.conf; '#' starts
 * a comment; keys are case-insensitive.  Every key has a type, a default
 * (which may name other keys: KeystoreDirectory is under StateDirectory),
 * bounds and flags in the table of conf_table.c.  A configuration comes in
 * two steps:
 *   conf_parse()   the file, the overrides (-o Key=Value), the derived
 *                  defaults and the checks across keys: data only, no file
 *                  but the configuration is opened, nothing is written;
 *   conf_build()   the objects the values name: the certificate lookup,
 *                  the trust store, the policy, the signer map, the
 *                  re-injection key (files read, none written).
 * conf_load() is both, what the start, a SIGHUP reload, smimegate -n and
 * smimectl use.  Only the start calls conf_prepare(), which makes
 * StateDirectory and the re-injection key.  A problem is reported as
 * "file:line: what is wrong" (or "-o Key=Value: ...").
 *
 * Ownership and threads: conf_parse() and conf_load() return a
 * configuration with one reference.  It is never changed after loading
 * (but by conf_prepare() and conf_trust_ca() at start, before it is
 * shared); a connection pins the one in force with conf_ref() and drops it
 * with conf_unref(), so a reload can publish a new one while old
 * connections keep theirs.
 */
#ifndef CONF_H
#define CONF_H

#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

struct dir_map;
struct smime_trust;
struct dir_verdict;
struct policy;
struct conf_templates;

enum conf_on_error { CONF_ON_TEMPFAIL = 0, CONF_ON_ACCEPT, CONF_ON_REJECT };
enum conf_unauth { CONF_UNAUTH_PASS = 0, CONF_UNAUTH_REJECT };
enum conf_sigmode { CONF_SIGN_DETACHED = 0, CONF_SIGN_OPAQUE };

/* One network of InternalHosts. */
typedef struct conf_net {
	int family;                    /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned prefix;
} conf_net_t;

/* A list of networks (InternalHosts, PickupTrustedProxies). */
typedef struct conf_netlist {
	conf_net_t *v;
	size_t n;
} conf_netlist_t;

/* KeystoreBackend's values. */
enum { CONF_KEYSTORE_FILE = 0, CONF_KEYSTORE_LDAP = 1 };

struct conf_src;

typedef struct conf {
	int refs;
	char *file;                    /* where it was read from, or NULL */
	struct conf_src *src;          /* where each key was set (conf_int.h) */

	char *socket;                  /* Socket */
	char *socket_group;            /* SocketGroup ("" = UserID's group) */
	char *state_dir;               /* StateDirectory */
	char *keystore_dir;            /* KeystoreDirectory */
	char *master_key_file;         /* MasterKeyFile */
	int create_master_key;         /* CreateMasterKey */
	long long key_cache_time;      /* KeyCacheTime, seconds; 0: keys not kept */
	long long key_cache_size;      /* KeyCacheSize, decrypted keys kept at most */
	char *spool_dir;               /* SpoolDirectory */
	char **local_domains;          /* LocalDomains, lower case, NULL-terminated */
	conf_netlist_t internal_hosts; /* InternalHosts */
	int local_submission_internal; /* LocalSubmissionInternal */
	char *user;                    /* UserID ("" = keep the user we run as) */
	char *pid_file;                /* PidFile ("" = none) */
	int background;                /* Background */
	long long max_message_size;    /* MaximumMessageSize, octets */
	long long spool_memory;        /* SpoolMemoryLimit, octets */
	int syslog;                    /* Syslog */
	int syslog_facility;           /* SyslogFacility, LOG_* value */
	int log_stderr;                /* LogStderr */
	int on_internal_error;         /* OnInternalError: enum conf_on_error */
	int on_unauthorized_sender;    /* UnauthorizedSender: enum conf_unauth */
	char *signer_map_file;         /* SignerMap ("" = none) */
	struct dir_map *signer_map;    /* loaded from signer_map_file */
	int signing_mode;              /* SigningMode: enum conf_sigmode */
	int sign_outbound;             /* Sign */

	int audit;                     /* AuditLog */
	char *audit_dir;               /* AuditDirectory */
	char *audit_key_file;          /* AuditKeyFile */
	long long audit_checkpoint_records; /* AuditCheckpointRecords */
	long long audit_checkpoint_seconds; /* AuditCheckpointInterval */
	long long audit_rotate_size;   /* AuditRotateSize, 0 = never */
	int audit_subject;             /* AuditSubject */
	int audit_syslog;              /* AuditSyslog */
	int audit_syslog_checkpoints;  /* AuditSyslogCheckpoints */
	char *audit_key_fingerprint;   /* AuditKeyFingerprint: hex, "" = none */
	char *audit_head_file;         /* AuditHeadFile */
	int on_audit_error;            /* OnAuditError: CONF_ON_TEMPFAIL or _ACCEPT */

	/* Outbound encryption and the certificate lookup. */
	int encryption_cipher;         /* EncryptionCipher: enum conf_cipher */
	int rsa_key_transport;         /* RSAKeyTransport: 0 pkcs1, 1 oaep */
	int split_key_agreement;       /* SplitKeyAgreement */
	char *ldap_directories;        /* LDAPDirectories: URLs, white space between */
	char *ldap_filter;             /* LDAPFilter */
	long long ldap_connect_timeout; /* LDAPConnectTimeout, seconds */
	long long ldap_search_timeout; /* LDAPSearchTimeout, seconds */
	long long ldap_pool_size;      /* LDAPPoolSize */
	char *publish_directory;       /* PublishDirectory, an LDAP URL */
	char *publish_branch;          /* PublishBranch, a DN */
	int publish_outsiders;         /* PublishOutsiders */
	long long publish_timeout;     /* PublishTimeout, seconds */
	long long retire_retention;    /* RetireRetention, seconds */
	char *partner_lookup;          /* PartnerLookup: DOMAIN URL pairs */
	long long partner_lookup_timeout; /* PartnerLookupTimeout, seconds */
	int crl_check;                 /* CRLCheck */
	int crl_unavailable;           /* CRLUnavailable: enum dir_crl_policy */
	long long crl_timeout;         /* CRLTimeout, seconds */
	long long crl_cache_time;      /* CRLCacheTime, seconds */
	int ocsp_check;                /* OCSPCheck */
	int ocsp_unavailable;          /* OCSPUnavailable: enum dir_ocsp_policy */
	int ocsp_unknown;              /* OCSPUnknown: enum dir_ocsp_unknown */
	long long ocsp_timeout;        /* OCSPTimeout, seconds */
	long long ocsp_cache_time;     /* OCSPCacheTime, seconds */
	char *redis_server;            /* RedisServer ("" = in-process cache) */
	char *redis_prefix;            /* RedisPrefix */
	long long redis_timeout;       /* RedisTimeout, milliseconds */
	long long redis_pool_wait;     /* RedisPoolWait, milliseconds */
	char *redis_password_file;     /* RedisPasswordFile ("" = no AUTH) */
	char *redis_user;              /* RedisUser (ACL user for AUTH) */
	char *redis_key_file;          /* RedisKeyFile (seals cached values) */
	long long cache_positive_ttl;  /* CachePositiveTTL, seconds */
	long long cache_negative_ttl;  /* CacheNegativeTTL, seconds */
	long long cache_size;          /* CacheSize, entries (in-process cache) */
	long long verdict_cache_size;  /* VerdictCacheSize, checks' verdicts kept */
	long long cache_tier_size;     /* CacheTierSize, entries (before Redis) */
	long long cache_tier_ttl;      /* CacheTierTTL, seconds */
	long long cache_stale_time;    /* CacheStaleTime, seconds */
	struct dir_lookup *lookup;     /* built from the keys above, with
	                                  TrustAnchorFile and TrustSystemStore */
	/* Inbound: decryption, verification, harvesting. */
	char *result_header;           /* ResultHeader */
	int decrypt_inbound;           /* Decrypt */
	int unprotected_content;       /* UnprotectedContent: enum conf_unprotected */
	int verify_inbound;            /* Verify */
	int convert_opaque;            /* ConvertOpaqueSigned */
	int harvest;                   /* HarvestCertificates */
	char *trust_anchor_file;       /* TrustAnchorFile ("" = none) */
	int trust_system;              /* TrustSystemStore */
	char *crl_file;                /* CRLFile ("" = none) */
	char *crl_dir;                 /* CRLDirectory ("" = none) */
	struct smime_trust *trust;     /* loaded from the four above */
	struct dir_verdict *signer_verdicts; /* signers' good chain checks
	                                  against trust (VerdictCacheSize) */
	/* The policy rules. */
	char *policy_file;             /* PolicyFile ("" = the built-in rules) */
	struct policy *policy;         /* loaded from policy_file; never NULL */
	/* The durable spool, re-injection, hold. */
	char *queue_dir;               /* QueueDirectory */
	char *reinject_command;        /* ReinjectCommand */
	char *reinject_key_file;       /* ReinjectKeyFile */
	long long queue_run_interval;  /* QueueRunInterval, seconds */
	long long hold_time;           /* HoldTime, seconds */
	long long queue_dedup_time;    /* QueueDedupTime, seconds */
	unsigned char reinject_key[32]; /* read from reinject_key_file (conf_build) */
	size_t reinject_keylen;        /* 0: no key, mail is not split */
	/* The operations endpoints. */
	char *http_listen;             /* HTTPListen ("" = no endpoints) */
	long long http_max_header_size; /* HTTPMaxHeaderSize, octets (both listeners) */
	long long http_max_headers;    /* HTTPMaxHeaders */
	long long http_max_connections; /* HTTPMaxConnections, per listener */
	long long http_request_timeout; /* HTTPRequestTimeout, seconds */
	/* Limits on what a sender sizes. */
	long long max_mime_parts;      /* MaximumMimeParts */
	long long max_mime_depth;      /* MaximumMimeDepth */
	long long max_header_length;   /* MaximumHeaderLength, octets of one field */
	long long max_headers;         /* MaximumHeaders, fields */
	long long max_recipients;      /* MaximumRecipients */
	/* The embedded CA, CMP, enrollment and the pickup portal. */
	int ca_enable;                 /* CertificateAuthority */
	char *ca_dir;                  /* CADirectory */
	int ca_key_type;               /* CAKeyType: ca_keytype_t */
	long long ca_days;             /* CAValidityDays */
	long long ca_root_days;        /* CARootValidityDays */
	char *ca_subject;              /* CASubject */
	char *ca_crl_url;              /* CACRLURL (default on CAHTTPListen) */
	char *ca_issuer_url;           /* CAIssuerURL (default on CAHTTPListen) */
	char *ca_ocsp_url;             /* CAOCSPURL ("" = none) */
	long long ca_crl_interval;     /* CACRLInterval, seconds */
	long long ca_crl_days;         /* CACRLDays */
	char *ca_http_listen;          /* CAHTTPListen ("" = no CA endpoint, portal) */
	int ca_enroll_employees;       /* CAEnrollEmployees */
	long long renew_before_days;   /* RenewBefore, days (0: no renewal) */
	long long renew_interval;      /* RenewInterval, seconds between checks */
	char *cmp_server;              /* CMPServer ("" = the embedded CA issues) */
	char *cmp_path;                /* CMPPath */
	char *cmp_reference;           /* CMPReference */
	char *cmp_secret_file;         /* CMPSecretFile */
	long long cmp_timeout;         /* CMPTimeout, seconds */
	int cmp_renewal;               /* CMPRenewal: 0 kur, 1 ir (ca_cmp.h) */
	char *enroll_smtp;             /* EnrollmentSMTP ("" = through the spool) */
	char *enroll_sender;           /* EnrollmentSender */
	long long enroll_timeout;      /* EnrollmentTimeout, seconds */
	char *portal_url;              /* PortalURL (default http://CAHTTPListen) */
	char *pickup_dir;              /* PickupDirectory */
	long long pickup_lifetime;     /* PickupLifetime, seconds */
	long long pickup_max_failures; /* PickupMaxFailures */
	long long pickup_client_max_failures; /* PickupClientMaxFailures */
	long long pickup_client_window; /* PickupClientWindow (seconds) */
	conf_netlist_t pickup_proxies; /* PickupTrustedProxies */
	int lookup_service;            /* LookupService: GET /certs on CAHTTPListen */
	long long lookup_client_max;   /* LookupClientMaxRequests a PickupClientWindow */
	long long enroll_max_per_sender; /* EnrollmentMaxPerSender (a day; 0: none) */
	char **enroll_allow_domains;   /* EnrollmentAllowDomains (NULL/empty: all) */
	char **enroll_deny_domains;    /* EnrollmentDenyDomains */
	long long enroll_pending_time; /* EnrollmentPendingTime, seconds */
	/* Several gateways sharing state. */
	int keystore_backend;          /* KeystoreBackend: CONF_KEYSTORE_* */
	char *keystore_ldap;           /* KeystoreLDAP, the directory's URL */
	char *keystore_ldap_attr;      /* KeystoreLDAPAttribute */
	long long keystore_ldap_refresh; /* KeystoreLDAPRefresh, seconds */
	long long keystore_ldap_timeout; /* KeystoreLDAPTimeout, seconds */
	long long keystore_ldap_max_stale; /* KeystoreLDAPMaxStale, seconds (0: none) */
	long long shared_lease_time;   /* SharedLeaseTime, seconds */
	long long shared_lease_wait;   /* SharedLeaseWait, seconds */
	int harvest_store;             /* HarvestStore: 0 file, 1 redis */
	char *redis_harvest_prefix;    /* RedisHarvestPrefix */
	/* The texts of the gateway's own mails and pages. */
	char *template_dir;            /* TemplateDirectory */
	char *template_language;       /* TemplateLanguage */
	char *company_name;            /* CompanyName */
	struct conf_templates *templates; /* loaded from template_dir (conf_tmpl.c) */
} conf_t;

enum conf_cipher { CONF_CIPHER_AUTO = 0, CONF_CIPHER_CBC, CONF_CIPHER_GCM };
/* UnprotectedContent: enveloped-data (CBC) is decrypted only
 * when the plaintext is signed by the From address, always, or never. */
enum conf_unprotected { CONF_UNPROT_SIGNED = 0, CONF_UNPROT_DECRYPT, CONF_UNPROT_KEEP };

/* The built-in defaults, and where the stock file lives. */
#define CONF_DEFAULT_FILE "/etc/smimegate/smimegate.conf"

/*
 * Reads file (NULL: defaults only), applies overrides, each "Key=Value",
 * derives and checks: data only.  NULL with a message in err on any problem.
 */
conf_t *conf_parse(const char *file, char *const *overrides,
    size_t noverrides, char *err, size_t errlen);
/* Builds the objects of a parsed configuration (once): 0, or -1 with err
 * naming the key's file:line where it helps. */
int conf_build(conf_t *conf, char *err, size_t errlen);
/* conf_parse() then conf_build(). */
conf_t *conf_load(const char *file, char *const *overrides,
    size_t noverrides, char *err, size_t errlen);
/* The start's files: StateDirectory (0700) and the re-injection key when
 * missing, which is then read into conf.  0, or -1 with err (an unsafe key
 * file).  Call before conf is shared, as the user who will own them. */
int conf_prepare(conf_t *conf, char *err, size_t errlen);

conf_t *conf_ref(conf_t *conf);
void conf_unref(conf_t *conf);

/* 1 when domain (case-insensitive) is one of LocalDomains. */
int conf_is_local_domain(const conf_t *conf, const char *domain);
/* 1 when the address is in InternalHosts. */
int conf_is_internal(const conf_t *conf, const struct sockaddr *sa);
/* The same for a textual IPv4 or IPv6 address ("127.0.0.1", "::1"). */
int conf_is_internal_text(const conf_t *conf, const char *addr);
/* 1 when the textual address is in one of list's networks. */
int conf_netlist_match_text(const conf_netlist_t *list, const char *addr);

/* Prints every key with its value as "Key = value" (postconf style). */
void conf_print(const conf_t *conf, FILE *fp);
/* Prints the value of one key; -1 when there is no such key. */
int conf_print_key(const conf_t *conf, const char *name, FILE *fp);
/* The embedded CA: with CertificateAuthority, its root and
 * issuing certificates in CADirectory, when there, become trust anchors of
 * the certificate lookup and of inbound verification, so that what it
 * issues is trusted without TrustAnchorFile.  conf_build() does it;
 * smimegate calls it again after making the CA on its first start, before
 * the configuration is shared.  How many certificates were added. */
int conf_trust_ca(conf_t *conf);
/*
 * The templates of the gateway's own mails and pages (TemplateDirectory:
 * a directory per language, each with every file below; style.css beside
 * them), loaded and checked by conf_build().  A mail's text template
 * starts with a "Subject: ..." line and an empty line.
 */
enum conf_tmpl_id {
	CONF_TMPL_INVITE_TXT, CONF_TMPL_INVITE_HTML, CONF_TMPL_PASSWORD_TXT,
	CONF_TMPL_HOLD_TXT, CONF_TMPL_REFUSAL_TXT, CONF_TMPL_PICKUP_HTML,
	CONF_TMPL_HOWTO_OUTLOOK_WINDOWS, CONF_TMPL_HOWTO_OUTLOOK_MAC,
	CONF_TMPL_HOWTO_APPLE_MAIL_MACOS, CONF_TMPL_HOWTO_APPLE_MAIL_IOS,
	CONF_TMPL_HOWTO_THUNDERBIRD, CONF_TMPL_HOWTO_ANDROID,
	CONF_TMPL_FORMAT_MODERN, CONF_TMPL_FORMAT_LEGACY,
	CONF_TMPL_ERROR_WRONG_PASSWORD, CONF_TMPL_ERROR_USED, CONF_TMPL_ERROR_EXPIRED,
	CONF_TMPL_ERROR_LOCKED, CONF_TMPL_ERROR_OTHER,
	CONF_TMPL_N
};
/* The named fields, {{name}} in a template (conf_tmpl.c says which
 * template may use which). */
enum conf_tmpl_field {
	CONF_TF_SENDER, CONF_TF_RECIPIENT, CONF_TF_LINK, CONF_TF_EXPIRY, CONF_TF_COMPANY,
	CONF_TF_ROOT_FINGERPRINT, CONF_TF_LANG, CONF_TF_PASSWORD, CONF_TF_PORTAL,
	CONF_TF_TOKEN, CONF_TF_HOWTO, CONF_TF_FORMAT_NOTE, CONF_TF_MODERN_CHECKED,
	CONF_TF_LEGACY_CHECKED, CONF_TF_PLATFORM, CONF_TF_STYLE, CONF_TF_SUBJECT,
	CONF_TF_REFERENCE, CONF_TF_LIST, CONF_TF_N
};
/* The file name of a template ("invite.html"). */
const char *conf_tmpl_file(enum conf_tmpl_id id);
/* The language of the templates used for want (a language tag, NULL or
 * "": TemplateLanguage): want when TemplateDirectory has it, else
 * TemplateLanguage. */
const char *conf_tmpl_language(const conf_t *conf, const char *want);
/* Template id in language want (conf_tmpl_language()) with values[f] for
 * each field f (NULL: empty; CONF_TF_COMPANY, CONF_TF_LANG and
 * CONF_TF_STYLE are filled when NULL); HTML templates get their values
 * escaped, but for {{howto}}, {{format_note}} and {{style}}, which are
 * made of other templates.  Malloc'ed, or NULL when out of memory or no
 * templates are loaded. */
char *conf_tmpl_render(const conf_t *conf, const char *want, enum conf_tmpl_id id,
    const char *const *values);
/* The names of all keys, NULL-terminated (for docs checks). */
const char *const *conf_key_names(void);
/* 1 when the daemon reads the key at start only (a reload cannot change it). */
int conf_key_restart(const char *name);
/* The next key read at start only whose value differs between a and b,
 * from *pos on (start with 0), or NULL when there is none left:
 *   for (size_t i = 0; (k = conf_restart_changed(a, b, &i)) != NULL;) ... */
const char *conf_restart_changed(const conf_t *a, const conf_t *b, size_t *pos);

#endif
