/*
 * dir_harvest.h: certificates harvested from valid signatures on inbound
 * mail, kept durably so that the next outbound mail to that person is
 * encrypted, with the algorithms they announced.
 *
 * The store is a directory (StateDirectory/harvest, mode 0700), or Redis
 * when gateways share it.  Each certificate is one record, found by the
 * SHA-256 of the normalised address (local part as is, domain
 * lower-cased) and the certificate's own SHA-256, holding the certificate
 * and, when the signature carried them, the sender's SMIMECapabilities
 * (DER) and the signing time.  In the directory, a subdirectory per
 * address hash and a file per certificate, written atomically (temporary
 * file, fsync, rename); in Redis, a hash per address.  The same
 * certificate harvested again replaces its record when its signing time
 * is newer.
 *
 * A signed message may carry more than its signer's certificate: a
 * separate encryption certificate, named by the signer's
 * SMIMEEncryptionKeyPreference.  Each is a record of its own, with its
 * purpose (from keyUsage) and whether that signature preferred it for
 * encryption; dir_lookup.c chooses the preferred one.
 *
 * The store keeps what valid signatures carried; whoever uses a harvested
 * certificate still checks it (chain, validity, revocation, usage) at the
 * time of use, as for any other source.
 *
 * Ownership and threads: dir_harvest_open() returns a handle freed with
 * dir_harvest_free(); one handle may be shared by threads (each call
 * works on files, or on the Redis context under the handle's lock).  Returned objects are new: the caller frees them
 * with dir_harvest_list_free().
 */
#ifndef DIR_HARVEST_H
#define DIR_HARVEST_H

#include <stddef.h>
#include <time.h>
#include <openssl/x509.h>

typedef struct dir_harvest dir_harvest_t;

/* One harvested certificate. */
typedef struct dir_harvest_entry {
	X509 *cert;
	unsigned char *caps;        /* SMIMECapabilities DER, or NULL */
	size_t caps_len;
	time_t signing_time;        /* 0 when the signature had none */
	unsigned purpose;           /* DIR_HARVEST_SIGN | DIR_HARVEST_ENCRYPT */
	int preferred;              /* the signature's key preference named it */
} dir_harvest_entry_t;

/* A certificate's purpose, from its keyUsage (all when it has none). */
#define DIR_HARVEST_SIGN    0x1     /* digitalSignature */
#define DIR_HARVEST_ENCRYPT 0x2     /* keyEncipherment or keyAgreement */
unsigned dir_harvest_purpose(X509 *cert);

/* Opens (creating, mode 0700) the store in dir.  NULL with err on failure. */
dir_harvest_t *dir_harvest_open(const char *dir, char *err, size_t errlen);
/* The store in the Redis server of redis (dir_int.h: the connection,
 * AUTH, the key records are sealed with; borrowed, it must outlive the
 * store), hashes under key prefix; connects on first use.  NULL with err
 * when out of memory. */
struct dir_redis;
dir_harvest_t *dir_harvest_open_redis(const struct dir_redis *redis,
    const char *prefix, char *err, size_t errlen);
void dir_harvest_free(dir_harvest_t *h);
/* 1 when the store is in Redis. */
int dir_harvest_is_redis(const dir_harvest_t *h);
/* For a Redis store, a PING: 0 when it answers, -1 with err.  0 for a
 * directory. */
int dir_harvest_ping(dir_harvest_t *h, char *err, size_t errlen);

/*
 * Stores cert for address with the capabilities it announced (caps may be
 * NULL).  0, or -1 with err.
 */
int dir_harvest_put(dir_harvest_t *h, const char *address, X509 *cert,
    const unsigned char *caps, size_t caps_len, time_t signing_time,
    char *err, size_t errlen);

/* dir_harvest_put() of a certificate the signature's key preference named
 * (preferred 1) or did not (0). */
int dir_harvest_put_pref(dir_harvest_t *h, const char *address, X509 *cert,
    const unsigned char *caps, size_t caps_len, time_t signing_time,
    int preferred, char *err, size_t errlen);

/*
 * Every certificate stored for address, newest signing time first, in a
 * new array of *n entries (NULL and 0 when there is none).  0, or -1
 * with err when the store cannot be read (Redis down; an unreadable or
 * malformed record is skipped, not an error).
 */
int dir_harvest_get(dir_harvest_t *h, const char *address,
    dir_harvest_entry_t **entries, size_t *n, char *err, size_t errlen);
void dir_harvest_list_free(dir_harvest_entry_t *entries, size_t n);

#endif
