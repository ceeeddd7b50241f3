/*
 * enroll_pickup.h: one-time pickup links for enrolled recipients' PKCS#12
 * (the portal, enroll_portal.h, checks them).  A link carries a random
 * token; the store (a 0700 directory) keeps, per token, a file named by
 * the token's SHA-256 holding the address, a PBKDF2 hash of the
 * password, the expiry and the count of wrong passwords: neither token
 * nor password is stored.  The password goes to the sender, the link to
 * the recipient.
 *
 * Threads: the portal's one thread checks and uses links; new links are
 * written atomically (temporary file, rename) from any thread.
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
/* The link has served: it is removed. */
void enroll_pickup_used(const char *dir, const char *token);

#endif
