/*
 * enroll_pickup.c: the one-time pickup links (see enroll_pickup.h).
 * File format, one value per line: address, salt (hex), PBKDF2-SHA256
 * hash (hex), expiry (Unix time), wrong passwords so far.  The shared
 * record (enroll_pickup_share()) holds the same lines, sealed, as the
 * record "pickup" named by the token's SHA-256.
 */
#include "enroll/enroll_pickup.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define PBKDF2_ITER 100000
#define SHARED_TRIES 4        /* conditional updates lost to other gateways */

/* The keystore whose directory keeps the records; NULL: files in dir.
 * Set once at start (enroll_pickup_share()). */
static keystore_t *shared_ks;

/* One link's record. */
typedef struct pickup_rec {
	char addr[400], salt[80], hash[80];
	long expires;
	int failures;
} pickup_rec_t;

void
enroll_pickup_share(keystore_t *ks)
{
	shared_ks = ks != NULL && keystore_shared(ks) ? ks : NULL;
}

/* sha256(token) in hex; -1 when token is not 64 hex digits. */
static int
token_name(const char *token, char h[65])
{
	unsigned char md[32];

	if (strlen(token) != ENROLL_PICKUP_TOKEN_LEN
	    || strspn(token, "0123456789abcdef") != ENROLL_PICKUP_TOKEN_LEN)
		return -1;
	EVP_Digest(token, strlen(token), md, NULL, EVP_sha256(), NULL);
	util_hex(h, md, sizeof(md));
	return 0;
}

/* dir/sha256(token) into path; -1 when token is not 64 hex digits. */
static int
pickup_path(const char *dir, const char *token, char *path, size_t size)
{
	char h[65];

	if (token_name(token, h) != 0)
		return -1;
	return snprintf(path, size, "%s/%s", dir, h) < (int)size ? 0 : -1;
}

/* ---- the shared record ---- */

static int
rec_parse(const char *text, pickup_rec_t *r)
{
	return sscanf(text, "%399s %79s %79s %ld %d", r->addr, r->salt, r->hash,
	    &r->expires, &r->failures) == 5 ? 0 : -1;
}

/* Writes r as the record name: added (version 0) or updated from version.
 * 0, 1 another gateway changed it first (or made it), -1 error. */
static int
shared_write(const char *name, const pickup_rec_t *r, long version)
{
	char text[800];
	int n = snprintf(text, sizeof(text), "%s\n%s\n%s\n%ld\n%d\n", r->addr, r->salt,
	    r->hash, r->expires, r->failures), lost = 0;
	keystore_err_t err;
	keystore_status_t rc;

	if (n <= 0 || (size_t)n >= sizeof(text))
		return -1;
	if (version == 0)
		rc = keystore_record_add(shared_ks, "pickup", name, text, (size_t)n, &lost, &err);
	else
		rc = keystore_record_update(shared_ks, "pickup", name, version, text, (size_t)n,
		    &lost, &err);
	OPENSSL_cleanse(text, sizeof(text));
	return rc != KEYSTORE_OK ? -1 : lost;
}

/* The record name: 0, 1 none (or one that does not open: forged), -1
 * the directory cannot say. */
static int
shared_read(const char *name, pickup_rec_t *r, long *version)
{
	unsigned char *data = NULL;
	size_t len = 0;
	keystore_err_t err;
	keystore_status_t rc = keystore_record_get(shared_ks, "pickup", name, &data, &len,
	    version, &err);
	int ret;

	if (rc == KEYSTORE_NOTFOUND || rc == KEYSTORE_ERR_CORRUPT)
		return 1;
	if (rc != KEYSTORE_OK)
		return -1;
	ret = rec_parse((const char *)data, r) == 0 ? 0 : 1;
	OPENSSL_clear_free(data, len + 1);
	return ret;
}

/* Removes the record: 0 removed now, 1 gone already, -1 error. */
static int
shared_take(const char *name)
{
	keystore_err_t err;
	int gone = 0;

	if (keystore_record_delete(shared_ks, "pickup", name, &gone, &err) != KEYSTORE_OK)
		return -1;
	return gone;
}

static int
pw_hash(const char *password, const char *salt_hex, char out[65])
{
	unsigned char md[32];

	if (!PKCS5_PBKDF2_HMAC(password, (int)strlen(password),
	    (const unsigned char *)salt_hex, (int)strlen(salt_hex), PBKDF2_ITER,
	    EVP_sha256(), sizeof(md), md))
		return -1;
	util_hex(out, md, sizeof(md));
	OPENSSL_cleanse(md, sizeof(md));
	return 0;
}

/* Writes the record atomically. */
static int
pickup_write(const char *path, const char *addr, const char *salt, const char *hash,
    long expires, int failures)
{
	char tmp[4200];
	FILE *fp;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600)) < 0)
		return -1;
	if ((fp = fdopen(fd, "w")) == NULL) {
		close(fd);
		return -1;
	}
	fprintf(fp, "%s\n%s\n%s\n%ld\n%d\n", addr, salt, hash, expires, failures);
	if (fflush(fp) != 0 || fsync(fd) != 0 || fclose(fp) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int
shared_new(const char *token, const char *address, const char *salt, const char *hash,
    long expires)
{
	pickup_rec_t r;
	char name[65];

	if (token_name(token, name) != 0 || strlen(address) >= sizeof(r.addr))
		return -1;
	memset(&r, 0, sizeof(r));
	snprintf(r.addr, sizeof(r.addr), "%s", address);
	snprintf(r.salt, sizeof(r.salt), "%s", salt);
	snprintf(r.hash, sizeof(r.hash), "%s", hash);
	r.expires = expires;
	return shared_write(name, &r, 0) == 0 ? 0 : -1;
}

int
enroll_pickup_new(const char *dir, const char *address, long lifetime,
    char token[ENROLL_PICKUP_TOKEN_LEN + 1], char password[ENROLL_PICKUP_PASSWORD_LEN + 1],
    char *why, size_t size)
{
	/* No 0/O, 1/l/I: the sender reads it out to the recipient. */
	static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	unsigned char rnd[32], prnd[ENROLL_PICKUP_PASSWORD_LEN], salt[16];
	char salt_hex[33], hash[65], path[4096];
	int rc = -1;

	if (shared_ks == NULL && mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(why, size, "%s: cannot create: %s", dir, strerror(errno));
		return -1;
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1 || RAND_bytes(prnd, sizeof(prnd)) != 1
	    || RAND_bytes(salt, sizeof(salt)) != 1) {
		snprintf(why, size, "no randomness");
		return -1;
	}
	util_hex(token, rnd, sizeof(rnd));
	for (size_t i = 0; i < sizeof(prnd); i++)
		password[i] = alphabet[prnd[i] % (sizeof(alphabet) - 1)];
	password[ENROLL_PICKUP_PASSWORD_LEN] = '\0';
	util_hex(salt_hex, salt, sizeof(salt));
	if (pickup_path(dir, token, path, sizeof(path)) != 0 || pw_hash(password, salt_hex, hash) != 0)
		snprintf(why, size, "pickup link: cannot make it");
	else if (shared_ks != NULL) {
		if (shared_new(token, address, salt_hex, hash, (long)time(NULL) + lifetime) == 0)
			rc = 0;
		else
			snprintf(why, size, "pickup link: cannot keep it in the directory");
	} else if (pickup_write(path, address, salt_hex, hash, (long)time(NULL) + lifetime, 0) != 0)
		snprintf(why, size, "%s: cannot write: %s", path, strerror(errno));
	else
		rc = 0;
	OPENSSL_cleanse(prnd, sizeof(prnd));
	if (rc != 0)
		OPENSSL_cleanse(password, ENROLL_PICKUP_PASSWORD_LEN + 1);
	return rc;
}

/* One try at checking the shared record name; *again when another
 * gateway changed it meanwhile. */
static enum enroll_pickup_status
shared_check_once(const char *name, const char *password, int max_failures, time_t now,
    char **address, int *again)
{
	pickup_rec_t r;
	long version = 0;
	char got[65];
	int rc;

	*again = 0;
	if ((rc = shared_read(name, &r, &version)) != 0)
		return rc > 0 ? ENROLL_PICKUP_GONE : ENROLL_PICKUP_ERROR;
	if (now > r.expires) {
		(void)shared_take(name);
		return ENROLL_PICKUP_EXPIRED;
	}
	if (r.failures >= max_failures)
		return ENROLL_PICKUP_LOCKED;
	if (pw_hash(password, r.salt, got) != 0)
		return ENROLL_PICKUP_ERROR;
	if (CRYPTO_memcmp(got, r.hash, 64) != 0) {
		r.failures++;
		if ((rc = shared_write(name, &r, version)) != 0) {
			*again = rc > 0;
			return ENROLL_PICKUP_ERROR;
		}
		return r.failures >= max_failures ? ENROLL_PICKUP_LOCKED : ENROLL_PICKUP_WRONG;
	}
	*address = strdup(r.addr);
	return *address != NULL ? ENROLL_PICKUP_OK : ENROLL_PICKUP_ERROR;
}

static enum enroll_pickup_status
shared_check(const char *token, const char *password, int max_failures, time_t now,
    char **address)
{
	enum enroll_pickup_status st = ENROLL_PICKUP_GONE;
	char name[65];
	int again = 1;

	if (token_name(token, name) != 0)
		return ENROLL_PICKUP_GONE;
	for (int i = 0; i < SHARED_TRIES && again; i++)
		st = shared_check_once(name, password, max_failures, now, address, &again);
	return st;
}

enum enroll_pickup_status
enroll_pickup_check(const char *dir, const char *token, const char *password,
    int max_failures, time_t now, char **address)
{
	char path[4096], addr[400], salt[80], want[80], got[65];
	long expires;
	int failures;
	FILE *fp;
	enum enroll_pickup_status st;

	*address = NULL;
	if (shared_ks != NULL)
		return shared_check(token, password, max_failures, now, address);
	if (pickup_path(dir, token, path, sizeof(path)) != 0 || (fp = fopen(path, "r")) == NULL)
		return ENROLL_PICKUP_GONE;
	if (fscanf(fp, "%399s %79s %79s %ld %d", addr, salt, want, &expires, &failures) != 5) {
		fclose(fp);
		return ENROLL_PICKUP_ERROR;
	}
	fclose(fp);
	if (now > expires) {
		unlink(path);
		return ENROLL_PICKUP_EXPIRED;
	}
	if (failures >= max_failures)
		return ENROLL_PICKUP_LOCKED;
	if (pw_hash(password, salt, got) != 0)
		return ENROLL_PICKUP_ERROR;
	if (CRYPTO_memcmp(got, want, 64) != 0) {
		st = failures + 1 >= max_failures ? ENROLL_PICKUP_LOCKED : ENROLL_PICKUP_WRONG;
		return pickup_write(path, addr, salt, want, expires, failures + 1) == 0
		    ? st : ENROLL_PICKUP_ERROR;
	}
	*address = strdup(addr);
	return *address != NULL ? ENROLL_PICKUP_OK : ENROLL_PICKUP_ERROR;
}

int
enroll_pickup_live(const char *dir, const char *token)
{
	char path[4096], name[65];
	pickup_rec_t r;

	if (shared_ks != NULL)
		return token_name(token, name) == 0 && shared_read(name, &r, NULL) == 0;
	return pickup_path(dir, token, path, sizeof(path)) == 0 && access(path, F_OK) == 0;
}

int
enroll_pickup_used(const char *dir, const char *token)
{
	char path[4096], name[65];

	if (shared_ks != NULL)
		return token_name(token, name) == 0 && shared_take(name) == 0 ? 0 : -1;
	return pickup_path(dir, token, path, sizeof(path)) == 0 && unlink(path) == 0 ? 0 : -1;
}
