/*
 * dir_lookup.h: the certificate to encrypt to, for one recipient address.
 *
 * Sources, in order: the harvested-certificates store (dir_harvest.h),
 * the cache (Redis when configured, its values sealed with a key the
 * gateways share and believed only when the seal opens; else a bounded
 * in-process table),
 * then the LDAP directories in their configured order, then the lookup
 * service of the partner gateway that serves the recipient's domain
 * (PartnerLookup, dir_partner.c), if any.  Every candidate
 * is checked (dir_check.c): it chains to the trust anchors (the system
 * store and/or a CA file), is within its validity period, is not revoked
 * (what the OCSP responder it names answers, checked and cached; else,
 * or as the fallback, the CRL of its distribution point, fetched over
 * HTTP and cached), allows keyEncipherment or keyAgreement, carries
 * emailProtection or no extendedKeyUsage, and names the address in subjectAltName (local part
 * exact, domain case-insensitive).  Of the usable ones the newest
 * (latest notBefore) wins.  Among harvested certificates, the one the
 * latest signature's SMIMEEncryptionKeyPreference named wins first.  A cached certificate is checked again on use.
 *
 * Each LDAP directory is an RFC 4516 URL, parsed by libldap:
 *   ldap://host:port/BASE?ATTRS?SCOPE?FILTER?EXTENSIONS
 * ATTRS default userSMIMECertificate,userCertificate;binary; SCOPE sub;
 * FILTER the template (default the settings' filter), where %s stands for
 * the address escaped by ldap_bv2escaped_filter_value() (in a URL, write
 * %25s).  Extensions: bindname=DN (RFC 4516), x-bindpwfile=FILE (the
 * password, first line, read once when the handle is made), x-starttls.
 * ldaps:// works as libldap makes it work.
 *
 * Ownership and threads: dir_lookup_new() returns a handle the caller
 * frees with dir_lookup_free(); it may be shared by threads (LDAP handles
 * and Redis contexts come from small pools, each used by one thread at a
 * time; the caches have their own locks).  An answer belongs to the
 * caller, who releases it with dir_answer_clear().  Nothing here logs:
 * what should be logged once (the cache went down or came back) is in
 * answer->note.
 */
#ifndef DIR_LOOKUP_H
#define DIR_LOOKUP_H

#include <stddef.h>
#include <time.h>
#include <openssl/x509.h>

typedef enum dir_status {
	DIR_OK = 0,
	DIR_NOTFOUND,           /* no usable certificate */
	DIR_ERR_UNAVAILABLE,    /* a source that might hold one is down */
	DIR_ERR_CONFIG,         /* bad settings or files they name */
	DIR_ERR_NOMEM,
	DIR_ERR_INPUT           /* an unusable address */
} dir_status_t;

/* When a certificate's CRL cannot be had. */
enum dir_crl_policy { DIR_CRL_TEMPFAIL = 0, DIR_CRL_REFUSE, DIR_CRL_ACCEPT };

/* When a certificate's OCSP responder gives no usable answer (none,
 * tryLater, internalError, or one that fails a check). */
enum dir_ocsp_policy { DIR_OCSP_CRL = 0, DIR_OCSP_TEMPFAIL, DIR_OCSP_REFUSE,
	DIR_OCSP_ACCEPT };
/* When it answers "unknown". */
enum dir_ocsp_unknown { DIR_OCSP_UNKNOWN_REFUSE = 0, DIR_OCSP_UNKNOWN_CRL };

/* What asks an OCSP responder (dir_settings_t.ocsp_fetch): a BIO with the
 * DER response to the DER request req at url, or NULL with why (tests). */
typedef BIO *(*dir_ocsp_fetch_fn)(void *arg, const char *url,
    const unsigned char *req, size_t reqlen, char *why, size_t len);

/* What fetches a CRL (dir_settings_t.crl_fetch): a BIO with the DER
 * answer for an http:// url, or NULL with why.  Tests and fuzzers stand in
 * for the network with one; NULL in the settings: HTTP (OSSL_HTTP_get). */
typedef BIO *(*dir_crl_fetch_fn)(void *arg, const char *url, char *why, size_t len);

typedef struct dir_settings {
	char *const *ldap_urls;     /* NULL-terminated, in order; NULL: none */
	const char *filter;         /* the default filter template */
	int connect_timeout;        /* seconds */
	int search_timeout;         /* seconds */
	int pool_size;              /* LDAP handles per directory */
	const char *ca_file;        /* trust anchors ("": none) */
	int system_store;           /* trust the system's store too */
	int crl_check;
	int crl_policy;             /* enum dir_crl_policy */
	int crl_timeout;            /* seconds */
	long crl_cache_seconds;     /* keep a CRL at most this long */
	int ocsp_check;             /* ask the responder a certificate names */
	int ocsp_unavailable;       /* enum dir_ocsp_policy */
	int ocsp_unknown;           /* enum dir_ocsp_unknown */
	int ocsp_timeout;           /* seconds */
	long ocsp_cache_seconds;    /* keep an answer at most this long */
	dir_ocsp_fetch_fn ocsp_fetch; /* NULL: HTTP */
	void *ocsp_fetch_arg;
	const char *redis;          /* "host:port", "" = in-process cache */
	const char *redis_prefix;
	int redis_timeout_ms;
	const char *redis_password_file; /* AUTH with its first line ("": none) */
	const char *redis_user;     /* ACL user for AUTH ("": none) */
	const char *redis_key_file; /* the key Redis values are sealed with
	                               (dir_redis.c); needed with redis */
	long ttl_positive, ttl_negative;   /* seconds */
	size_t mem_cache_size;      /* entries of the in-process cache */
	size_t tier_size;           /* with redis: entries of the tier before it */
	long tier_ttl;              /* seconds in the tier at most (never past
	                               the Redis entry's own time) */
	int redis_pool_wait_ms;     /* wait for a busy Redis connection */
	long stale_seconds;         /* positive answers served this long past
	                               their time while the directories are down */
	const char *harvest_dir;    /* the harvest store ("": none) */
	int harvest_redis;          /* keep it in Redis (redis) instead */
	const char *harvest_prefix; /* its Redis keys' prefix */
	dir_crl_fetch_fn crl_fetch; /* NULL: HTTP */
	void *crl_fetch_arg;
	char *const *partners;      /* PartnerLookup: DOMAIN URL ..., NULL-
	                               terminated; NULL: none */
	int partner_timeout;        /* seconds for a partner's answer */
} dir_settings_t;

typedef struct dir_candidate {
	char source[200];
	char subject[256];
	char serial[80];
	char not_after[32];
	char verdict[256];          /* "usable", "chosen", or why refused */
	int usable;
} dir_candidate_t;

typedef struct dir_answer {
	X509 *cert;                 /* the chosen certificate, or NULL */
	STACK_OF(X509) *chain;      /* the CA certificates that came with it
	                               (kept with it in the cache), or NULL */
	int gcm;                    /* its holder announced AES-256-GCM */
	char source[200];           /* where it came from */
	dir_candidate_t *cands;     /* every candidate seen, and its verdict */
	size_t ncands;
	char note[256];             /* to be logged (cache outage), or "" */
	char err[512];              /* why not found / unavailable */
} dir_answer_t;

typedef struct dir_lookup dir_lookup_t;

/* Reads the CA file, the bind password files and the Redis password and
 * key files (dir_redis.c); connects to nothing yet. */
dir_lookup_t *dir_lookup_new(const dir_settings_t *s, char *err, size_t errlen);
void dir_lookup_free(dir_lookup_t *l);
/* Adds a trust anchor for the certificate checks (the embedded CA's
 * root); only before the lookup is shared with other threads. 0 or -1. */
int dir_lookup_trust_add(dir_lookup_t *l, X509 *cert);

/* The certificate for address; DIR_OK, DIR_NOTFOUND or an error; the
 * answer is filled in every case (release it with dir_answer_clear()). */
dir_status_t dir_lookup_find(dir_lookup_t *l, const char *address,
    dir_answer_t *a);
void dir_answer_clear(dir_answer_t *a);

/*
 * 1 when cert is known revoked: it chains to the trust anchors (with the
 * intermediates in chain, may be NULL) and the CRL of its distribution
 * point lists it (CRLCheck; the CRL fetched and cached as for the
 * lookup); 0 otherwise, also when that cannot be told (untrusted, no
 * CRL to be had: why then says so).  For the signing key's certificate.
 */
int dir_lookup_revoked(dir_lookup_t *l, X509 *cert, STACK_OF(X509) *chain,
    char *why, size_t len);

/* Drops the cache entry of address, or every entry (address NULL).
 * 0, or -1 with err (the cache cannot be reached). */
int dir_lookup_flush(dir_lookup_t *l, const char *address, char *err,
    size_t errlen);

/* The harvest store (dir_harvest.h) the lookup reads, opened (and its
 * directory created, mode 0700) on the first call; NULL when there is
 * none or it cannot be opened (then retried at most once a minute).
 * Owned by the lookup; shared by threads. */
struct dir_harvest;
struct dir_harvest *dir_lookup_harvest(dir_lookup_t *l);

/* What dir_lookup_health() found, for /healthz. */
typedef struct dir_health {
	int directories;            /* configured */
	int directories_up;         /* answered a round trip now */
	int cache;                  /* 1 in-process, 0 Redis up, -1 Redis down */
	int harvest;                /* 1 file store, 0 Redis up, -1 Redis down,
	                               2 none */
	char dir_why[256];          /* why a directory is down (the first) */
	char cache_why[256];
	char harvest_why[256];
} dir_health_t;

/* Checks every LDAP directory (a round trip each), the cache (Redis PING)
 * and a harvest store in Redis (PING), each bounded by its timeouts. */
void dir_lookup_health(dir_lookup_t *l, dir_health_t *h);

/* How many LDAP directories are configured. */
size_t dir_lookup_ndirs(const dir_lookup_t *l);
/* The partner lookup service (PartnerLookup) asked for address's
 * domain, or NULL when there is none. */
const char *dir_lookup_partner(const dir_lookup_t *l, const char *address);

/* The cache's counters (since the handle was made: a reload starts
 * again). */
typedef struct dir_cache_stats {
	unsigned long tier_hits;    /* answered by the in-process table */
	unsigned long tier_misses;  /* not there (asked of Redis, if any) */
	unsigned long stale_served; /* positive answers used past their time */
	unsigned long pool_waits;   /* Redis connections waited for */
	unsigned long pool_timeouts; /* ... in vain (counted as misses) */
	size_t tier_entries;        /* in the table now */
} dir_cache_stats_t;
void dir_lookup_cache_stats(const dir_lookup_t *l, dir_cache_stats_t *st);

/* How many LDAP searches this handle made (for tests and statistics). */
unsigned long dir_lookup_searches(const dir_lookup_t *l);

#endif
