/*
 * enroll_pickup.h: one-time pickup links for enrolled recipients' PKCS#12
 * (the portal, enroll_portal.h, checks them).  A link carries a random
 * token; the store (a 0700 directory) keeps, per token, a file named by
 * the token's SHA-256 holding the address, a PBKDF2 hash of the
 * password, the expiry and the count of wrong passwords: neither token
 * nor password is stored.  The password goes to the sender, the link to
 * the recipient.
 *
 * Several gateways: once enroll_pickup_share() names a keystore kept in
 * a directory (KeystoreBackend ldap), the records are the keystore's
 * shared records there instead (keystore.h, keystore_record_add(): sealed
 * under the master key, in userPKCS12 of entries only the gateways' bind
 * DN reads), so that a link made on one gateway works on any: the wrong
 * passwords are counted in the record (a conditional update, retried
 * when another gateway counted at the same time), and the download is
 * handed out only by the gateway whose enroll_pickup_used() removed the
 * record (an LDAP delete succeeds once): a link serves once across all
 * of them.  Not in Redis: whoever can write Redis could put back a record
 * taken, and the download needs the escrowed key, which is in the
 * directory anyway.  dir is then unused.
 *
 * Threads: the portal's one thread checks and uses links; new links are
 * written atomically (temporary file, rename; an LDAP add) from any thread.
 */
#ifndef ENROLL_PICKUP_H
#define ENROLL_PICKUP_H

#include <stddef.h>
#include <time.h>

#define ENROLL_PICKUP_TOKEN_LEN 64        /* hex */
#define ENROLL_PICKUP_PASSWORD_LEN 20

enum enroll_pickup_status {
	ENROLL_PICKUP_OK = 0,
	ENROLL_PICKUP_GONE,         /* unknown, or used already */
	ENROLL_PICKUP_EXPIRED,
	ENROLL_PICKUP_WRONG,        /* wrong password (counted) */
	ENROLL_PICKUP_LOCKED,       /* too many wrong passwords */
	ENROLL_PICKUP_ERROR
};

#include "keystore/keystore.h"

/* Keeps the records in ks's directory from now on (NULL: in dir again);
 * once at start, before any thread uses links. */
void enroll_pickup_share(keystore_t *ks);

/* A new link for address valid lifetime seconds: token and password are
 * filled (NUL-terminated).  0, or -1 with why. */
int enroll_pickup_new(const char *dir, const char *address, long lifetime,
    char token[ENROLL_PICKUP_TOKEN_LEN + 1], char password[ENROLL_PICKUP_PASSWORD_LEN + 1],
    char *why, size_t size);

/* Checks token and password; on ENROLL_PICKUP_OK *address is malloc'ed (the
 * caller frees it) and the link stays until enroll_pickup_used(). */
enum enroll_pickup_status enroll_pickup_check(const char *dir, const char *token,
    const char *password, int max_failures, time_t now, char **address);
/* 1 when token names a link in dir (used, expired or locked ones
 * included until removed), else 0; nothing is counted. */
int enroll_pickup_live(const char *dir, const char *token);
/* The link has served: it is removed.  0 when this call removed it, -1
 * when it was gone already (another download, on this gateway or,
 * shared, on another, took it first) or cannot be removed: the caller
 * must not hand out what the link gives then. */
int enroll_pickup_used(const char *dir, const char *token);

#endif
