/*
 * enroll_pickup.c: the one-time pickup links (see enroll_pickup.h).
 * File format, one value per line: address, salt (hex), PBKDF2-SHA256
 * hash (hex), expiry (Unix time), wrong passwords so far.
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

/* dir/sha256(token) into path; -1 when token is not 64 hex digits. */
static int
pickup_path(const char *dir, const char *token, char *path, size_t size)
{
	unsigned char md[32];
	char h[65];

	if (strlen(token) != ENROLL_PICKUP_TOKEN_LEN
	    || strspn(token, "0123456789abcdef") != ENROLL_PICKUP_TOKEN_LEN)
		return -1;
	EVP_Digest(token, strlen(token), md, NULL, EVP_sha256(), NULL);
	util_hex(h, md, sizeof(md));
	return snprintf(path, size, "%s/%s", dir, h) < (int)size ? 0 : -1;
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

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
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
	else if (pickup_write(path, address, salt_hex, hash, (long)time(NULL) + lifetime, 0) != 0)
		snprintf(why, size, "%s: cannot write: %s", path, strerror(errno));
	else
		rc = 0;
	OPENSSL_cleanse(prnd, sizeof(prnd));
	if (rc != 0)
		OPENSSL_cleanse(password, ENROLL_PICKUP_PASSWORD_LEN + 1);
	return rc;
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
	char path[4096];

	return pickup_path(dir, token, path, sizeof(path)) == 0 && access(path, F_OK) == 0;
}

void
enroll_pickup_used(const char *dir, const char *token)
{
	char path[4096];

	if (pickup_path(dir, token, path, sizeof(path)) == 0)
		unlink(path);
}
