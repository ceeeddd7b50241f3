/*
 * dir_int.h: what the certificate-lookup files of directory/ share.
 *
 *   dir_lookup.c   the handle of dir_lookup.h: sources in order, the choice
 *   dir_check.c    is this certificate usable for this address now?
 *                  (trust anchors, validity, CRL, usage, EKU, SAN)
 *   dir_crl.c      CRLs fetched over HTTP (OSSL_HTTP_get) and cached
 *   dir_verdict.c  the checks' good verdicts kept with what they depended on
 *   dir_ocsp.c     OCSP: asked, the answer checked, kept in the cache tier
 *   dir_ldap.c     one LDAP directory: filter, attributes, certificates
 *                  (the client, its pool and URL: net/net_ldap.h)
 *   dir_partner.c  partner gateways' lookup services (PartnerLookup)
 *   dir_cache.c    Redis cache (hiredis) or the in-process table
 *   dir_tier.c     the in-process table (alone, or the tier before Redis)
 *   dir_redis.c    the Redis server (net/net_redis.h) and its sealed values
 *   dir_harvest.c  the harvested-certificates store (dir_harvest.h)
 *
 * Threads: every object here may be shared; each guards its own state.
 * Errors: a dir_status_t and a message in a caller's buffer.
 */
#ifndef DIR_INT_H
#define DIR_INT_H

#include "directory/dir_lookup.h"
#include "directory/dir_verdict.h"

#include <openssl/ocsp.h>
#include <openssl/x509.h>

/* ---- dir_crl.c ---- */
typedef struct dir_crl dir_crl_t;
dir_crl_t *dir_crl_new(int timeout, long cache_seconds, dir_crl_fetch_fn fetch,
    void *fetch_arg);
void dir_crl_free(dir_crl_t *c);
/* The CRL at url (http:// only), from the cache or fetched within
 * timeout seconds (and the handle's own timeout; at most CRL_MAX_SIZE
 * octets).  A new reference, or NULL with why.  until (may be NULL): when
 * the table stops using it (its nextUpdate, at most cache_seconds);
 * fetched (may be NULL): incremented when this call fetched (and so
 * moved the generation by one). */
X509_CRL *dir_crl_get(dir_crl_t *c, const char *url, int timeout, time_t *until,
    int *fetched, char *why, size_t len);
/* Grows by one whenever the table takes in a fetch (a CRL or a failure). */
unsigned long dir_crl_generation(dir_crl_t *c);

/* ---- dir_verdict.c: directory/dir_verdict.h ---- */

/* ---- dir_ocsp.c ---- */
typedef struct dir_cache dir_cache_t;
typedef struct dir_ocsp dir_ocsp_t;
typedef enum dir_ocsp_result {
	DIR_OCSP_NONE = 0,          /* the certificate names no http:// responder */
	DIR_OCSP_GOOD,
	DIR_OCSP_REVOKED,
	DIR_OCSP_UNKNOWN,
	DIR_OCSP_UNAVAILABLE        /* no answer, or one that fails a check */
} dir_ocsp_result_t;
/* Seconds a response's thisUpdate/nextUpdate may be off. */
#define DIR_OCSP_SKEW 300
dir_ocsp_t *dir_ocsp_new(const dir_settings_t *s);
void dir_ocsp_free(dir_ocsp_t *o);
/* Where answers are kept (borrowed; before the handle is shared). */
void dir_ocsp_cache_set(dir_ocsp_t *o, dir_cache_t *c);
const char *dir_ocsp_result_name(dir_ocsp_result_t r);
/* The first http:// OCSP URL of cert's authorityInfoAccess (malloc'ed),
 * or NULL. */
char *dir_ocsp_url(X509 *cert);
/* cert's status from its responder (issuer: the certificate that issued
 * it; store: the trust anchors; untrusted: intermediates, may be NULL),
 * from the cache when an answer is kept.  why says what, always.  until
 * (may be NULL): how long the answer holds (its nextUpdate, at most
 * OCSPCacheTime), 0 when that is not known. */
dir_ocsp_result_t dir_ocsp_status(dir_ocsp_t *o, X509 *cert, X509 *issuer,
    X509_STORE *store, STACK_OF(X509) *untrusted, time_t *until, char *why,
    size_t len);
/* The checks of one response (der, derlen) to req about id: successful,
 * nonce (when it has one) equal to req's, signed by the issuer or its
 * delegated responder chained to store (certs: the issuer and
 * intermediates), for id, thisUpdate/nextUpdate within skew seconds
 * (without nextUpdate: thisUpdate at most max_age old).  GOOD, REVOKED or
 * UNKNOWN with *until (keep it until then: nextUpdate, at most max_age
 * from now), else UNAVAILABLE; why says what. */
dir_ocsp_result_t dir_ocsp_response_check(const unsigned char *der, size_t derlen,
    OCSP_REQUEST *req, OCSP_CERTID *id, X509_STORE *store, STACK_OF(X509) *certs,
    long skew, long max_age, time_t *until, char *why, size_t len);

/* ---- dir_check.c ---- */
typedef struct dir_check dir_check_t;
dir_check_t *dir_check_new(const dir_settings_t *s, char *err, size_t errlen);
void dir_check_free(dir_check_t *chk);
int dir_check_trust_add(dir_check_t *chk, X509 *cert);
/* Where OCSP answers are kept (dir_ocsp_cache_set()). */
void dir_check_cache_set(dir_check_t *chk, dir_cache_t *c);
/*
 * DIR_OK when cert may be encrypted to for address now; DIR_NOTFOUND with
 * why when it is refused; DIR_ERR_UNAVAILABLE when its CRL cannot be had
 * and the policy says tempfail.  untrusted: intermediates (may be NULL).
 */
dir_status_t dir_check_cert(dir_check_t *chk, X509 *cert,
    STACK_OF(X509) *untrusted, const char *address, char *why, size_t len);
/* 1 when cert chains to the anchors and its CRL lists it; else 0 (see
 * dir_lookup_revoked()). */
int dir_check_revoked(dir_check_t *chk, X509 *cert, STACK_OF(X509) *untrusted,
    char *why, size_t len);
/* 1 when cert is a CA certificate (basicConstraints CA:TRUE). */
int dir_check_is_ca(X509 *cert);
/* The kept verdicts (dir_verdict.c; NULL when VerdictCacheSize is 0). */
dir_verdict_t *dir_check_verdicts(dir_check_t *chk);

/* ---- dir_ldap.c ---- */
typedef struct dir_ldap dir_ldap_t;
dir_ldap_t *dir_ldap_new(const char *url, const dir_settings_t *s,
    char *err, size_t errlen);
void dir_ldap_free(dir_ldap_t *d);
/* scheme://host:port/base, for messages (never a password). */
const char *dir_ldap_name(const dir_ldap_t *d);
/*
 * Every certificate the entries for address hold (userSMIMECertificate
 * as a PKCS#7 certs-only or DER, userCertificate;binary as DER), in a new
 * stack.  DIR_OK (maybe an empty stack), DIR_ERR_UNAVAILABLE after one
 * reconnect, or another error; why says what.
 */
dir_status_t dir_ldap_search(dir_ldap_t *d, const char *address,
    STACK_OF(X509) **certs, char *why, size_t len);
/* One round trip (a base search of the base DN); DIR_OK when the server
 * answers, else DIR_ERR_UNAVAILABLE with why. */
dir_status_t dir_ldap_ping(dir_ldap_t *d, char *why, size_t len);
/* Certificates of one attribute value (DER certificate or PKCS#7
 * certs-only, DER), pushed onto certs; the number pushed, or -1. */
int dir_ldap_parse_value(const unsigned char *der, size_t len,
    STACK_OF(X509) *certs);

/* ---- dir_partner.c ---- */
typedef struct dir_partner dir_partner_t;
/* pairs: DOMAIN URL DOMAIN URL ... (NULL-terminated; NULL: none); each
 * URL http:// or https:// without a query; https:// servers verified
 * against ca_file ("" or NULL: none) and/or the system's store.  NULL
 * with err. */
dir_partner_t *dir_partner_new(char *const *pairs, int timeout,
    const char *ca_file, int system_store, char *err, size_t errlen);
void dir_partner_free(dir_partner_t *dp);
size_t dir_partner_count(const dir_partner_t *dp);
/* The URL asked for address's domain, or NULL when no partner serves it. */
const char *dir_partner_url(const dir_partner_t *dp, const char *address);
/*
 * The certificates address's partner answers (a new stack, maybe empty:
 * it has none, or its answer did not parse, why then saying so): DIR_OK;
 * DIR_NOTFOUND (*certs NULL) when no partner serves its domain;
 * DIR_ERR_UNAVAILABLE with why when the partner did not answer (a
 * timeout, a refused connection, an answer over the size limit, a status
 * other than 200 and 404), and then for PARTNER_RETRY_AFTER seconds
 * without asking.  Nothing is checked here (dir_check.c does).
 */
dir_status_t dir_partner_fetch(dir_partner_t *dp, const char *address,
    STACK_OF(X509) **certs, char *why, size_t len);

/* ---- dir_redis.c ---- */
typedef struct dir_redis dir_redis_t;
struct net_redis;
/* s->redis ("host:port"), RedisTimeout, the password file and user (the
 * client of net/net_redis.h), and the value key (required).  NULL with
 * err. */
dir_redis_t *dir_redis_new(const dir_settings_t *s, char *err, size_t errlen);
void dir_redis_free(dir_redis_t *r);
/* "host:port" */
const char *dir_redis_name(const dir_redis_t *r);
/* The Redis client (net_redis_connect(), net_redis_command()). */
const struct net_redis *dir_redis_client(const dir_redis_t *r);
/* data sealed for Redis key (and hash field, NULL for none) until expires
 * (0: no end), malloc'ed, *outlen octets; NULL when out of memory. */
unsigned char *dir_redis_seal(const dir_redis_t *r, const char *key,
    const char *field, time_t expires, const unsigned char *data, size_t len,
    size_t *outlen);
/* The data of a sealed value (a pointer into v, *datalen octets) when its
 * MAC verifies for key and field and it has not expired; else NULL. */
const unsigned char *dir_redis_open(const dir_redis_t *r, const char *key,
    const char *field, const unsigned char *v, size_t len, size_t *datalen);
/* The expiry of a sealed value that dir_redis_open() opened (0: none). */
time_t dir_redis_expiry(const unsigned char *v, size_t len);

/* ---- dir_tier.c ---- */
typedef struct dir_tier dir_tier_t;
enum dir_tier_hit { DIR_TIER_NONE = 0, DIR_TIER_FRESH, DIR_TIER_STALE };
/* At most max entries (0: holds nothing).  NULL when out of memory. */
dir_tier_t *dir_tier_new(size_t max);
void dir_tier_free(dir_tier_t *t);
/* A copy of len octets of v under key, an answer until fresh_until, then
 * kept for a stale use until stale_until (not after fresh_until: never);
 * replaces key's entry; when full, the least recently used goes.  Nothing
 * is kept when fresh_until <= now.  0, or -1 when out of memory. */
int dir_tier_put(dir_tier_t *t, const char *key, const unsigned char *v,
    size_t len, time_t fresh_until, time_t stale_until, time_t now);
/* FRESH, or STALE (only when stale_ok: past fresh_until, before
 * stale_until), with *v (malloc'ed, the caller's) and *len; else NONE. */
enum dir_tier_hit dir_tier_get(dir_tier_t *t, const char *key, int stale_ok,
    time_t now, unsigned char **v, size_t *len);
/* As dir_tier_put(), the entry holding a reference to cert and to each
 * certificate of chain (either may be NULL): what v was parsed into, so
 * that readers need not parse it again.  Dropped with the entry. */
int dir_tier_put_certs(dir_tier_t *t, const char *key, const unsigned char *v,
    size_t len, X509 *cert, STACK_OF(X509) *chain, time_t fresh_until,
    time_t stale_until, time_t now);
/* As dir_tier_get(), and on a hit: *cert a new reference to the entry's
 * certificate, *chain a new stack holding a new reference to each of its
 * chain's (each NULL when the entry has none; cert, chain NULL: not
 * asked).  The very objects put under key, never another key's. */
enum dir_tier_hit dir_tier_get_certs(dir_tier_t *t, const char *key, int stale_ok,
    time_t now, unsigned char **v, size_t *len, X509 **cert, STACK_OF(X509) **chain);
/* Drops key's entry, or every entry (key NULL). */
void dir_tier_del(dir_tier_t *t, const char *key);
size_t dir_tier_count(dir_tier_t *t);

/* ---- dir_cache.c ---- */
enum dir_cache_hit { DIR_CACHE_MISS = 0, DIR_CACHE_POSITIVE, DIR_CACHE_NEGATIVE };
/* In Redis when r is not NULL (borrowed: it outlives the cache), else in
 * process. */
dir_cache_t *dir_cache_new(const dir_settings_t *s, const dir_redis_t *r,
    char *err, size_t errlen);
void dir_cache_free(dir_cache_t *c);
/* "redis 127.0.0.1:6379" or "memory". */
const char *dir_cache_name(const dir_cache_t *c);
/* The entry for addr (normalised).  POSITIVE: *cert (new reference) and
 * source filled.  note: an outage began or ended (else left alone). */
/* A value as Redis holds it once its seal is opened (dir_redis_open()),
 * or as the in-process table holds it; never trusted further than that:
 * DIR_CACHE_POSITIVE with *cert (the caller's), *gcm and source, NEGATIVE,
 * or MISS when it does not parse. */
enum dir_cache_hit dir_cache_value_parse(const unsigned char *v, size_t len,
    X509 **cert, int *gcm, char *source, size_t srclen);
/* chain (may be NULL): the intermediates kept with the certificate (a new
 * stack, maybe empty, or NULL). */
enum dir_cache_hit dir_cache_get(dir_cache_t *c, const char *addr, X509 **cert,
    STACK_OF(X509) **chain, int *gcm, char *source, size_t srclen, char *note,
    size_t notelen);
/* A positive entry kept past its time for a stale use (the in-process
 * table, CacheStaleTime), or a fresh one: POSITIVE as dir_cache_get(),
 * else MISS (never NEGATIVE).  Only when the directories cannot answer;
 * the certificate must be checked again as any cached one. */
enum dir_cache_hit dir_cache_get_stale(dir_cache_t *c, const char *addr,
    X509 **cert, STACK_OF(X509) **chain, int *gcm, char *source, size_t srclen);
/* The counters since the cache was made. */
void dir_cache_stats(dir_cache_t *c, dir_cache_stats_t *st);
/* cert NULL: a negative answer; chain (may be NULL): intermediates kept
 * with it (at most 8). */
void dir_cache_put(dir_cache_t *c, const char *addr, X509 *cert,
    STACK_OF(X509) *chain, int gcm, const char *source, char *note, size_t notelen);
/* Another answer under key (no normalised address equals it): 1 with *v
 * (malloc'ed, *len octets) when one is kept and, in Redis, its seal
 * opens; else 0.  put keeps len octets of v for ttl seconds. */
int dir_cache_blob_get(dir_cache_t *c, const char *key, unsigned char **v,
    size_t *len, char *note, size_t notelen);
void dir_cache_blob_put(dir_cache_t *c, const char *key, const unsigned char *v,
    size_t len, long ttl, char *note, size_t notelen);
/* 0, or -1 with err. */
int dir_cache_del(dir_cache_t *c, const char *addr, char *err, size_t errlen);
/* The cache a lookup keeps its answers in (tests). */
dir_cache_t *dir_lookup_cache_of(dir_lookup_t *l);
/* Redis: a PING on a connection of its own (the pool's state aside):
 * 0 up, -1 down with err; 1 for the in-process cache. */
int dir_cache_ping(dir_cache_t *c, char *err, size_t errlen);

#endif
