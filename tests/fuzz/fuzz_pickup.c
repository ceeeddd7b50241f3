/*
 * fuzz_pickup.c: the enrollment records the portal and the enrollment
 * code read back from StateDirectory: a pickup link's record
 * (enroll_pickup.c: address, salt, hash, expiry, failures; read by
 * enroll_pickup_check(), rewritten on a wrong password) and a pending
 * enrollment (enroll_pending.c: the address and a certificate in PEM; read by
 * enroll_pending_get() and enroll_pending_sweep()).  A damaged or planted file
 * must never be believed beyond what it says, nor crash the daemon.
 *
 * Input: byte 0: mode; bit 0 clear: 8 octets of password (NUL ends it),
 * then a pickup record, checked (each check costs a PBKDF2); set: a
 * pending file for xena@example.net.
 *
 * FUZZ_PICKUP_SEEDS=DIR writes seeds to DIR (a fresh record from
 * enroll_pickup_new(), its password random, and a pending file of the fuzz
 * certificate) and exits.
 */
#include "conf/conf.h"
#include "enroll/enroll_pending.h"
#include "enroll/enroll_pickup.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/unit/unit_util.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define RCPT "xena@example.net"

static conf_t *conf;
static char pickup_dir[4200], record_path[4300], pending_path[4300];

/* dir/hex(sha256(s)) into out. */
static void
hashed(const char *dir, const char *s, char *out, size_t size)
{
	unsigned char md[32];
	char hex[65];

	EVP_Digest(s, strlen(s), md, NULL, EVP_sha256(), NULL);
	util_hex(hex, md, sizeof(md));
	snprintf(out, size, "%s/%s", dir, hex);
}

static void
seeds_write(const char *out)
{
	char token[ENROLL_PICKUP_TOKEN_LEN + 1], pw[ENROLL_PICKUP_PASSWORD_LEN + 1];
	char why[256], path[4300], *rec;
	EVP_PKEY *k;
	X509 *c;
	size_t len;
	FILE *fp;

	if (enroll_pickup_new(pickup_dir, "alice@example.com", 3600, token, pw, why,
	    sizeof(why)) != 0)
		abort();
	hashed(pickup_dir, token, path, sizeof(path));
	if ((rec = unit_read_file(path, &len)) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/record", out);
	if ((fp = fopen(path, "wb")) == NULL || fwrite("\0wrongpw", 1, 9, fp) != 9
	    || fwrite(rec, 1, len, fp) != len)
		abort();
	fclose(fp);
	free(rec);
	fuzz_signer(&k, &c, NULL, NULL);
	snprintf(path, sizeof(path), "%s/pending", out);
	if ((fp = fopen(path, "wb")) == NULL || fprintf(fp, "\001%s\n", RCPT) < 0
	    || !PEM_write_X509(fp, c))
		abort();
	fclose(fp);
	exit(0);
}

static void
expired(const conf_t *c, const char *rcpt, X509 *x)
{
	(void)c;
	(void)rcpt;
	(void)x;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char state[4200], dir[4300], err[512];
	char *ov[] = { state, "AuditLog=no", "Syslog=no", "CertificateAuthority=no" };

	(void)argc;
	(void)argv;
	snprintf(state, sizeof(state), "StateDirectory=%s", fuzz_dir());
	if ((conf = conf_load(NULL, ov, 4, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fuzz_pickup: %s\n", err);
		abort();
	}
	snprintf(pickup_dir, sizeof(pickup_dir), "%s/pickup", fuzz_dir());
	snprintf(dir, sizeof(dir), "%s/enroll-pending", fuzz_dir());
	if (mkdir(pickup_dir, 0700) != 0 || mkdir(dir, 0700) != 0)
		abort();
	hashed(pickup_dir, TOKEN, record_path, sizeof(record_path));
	hashed(dir, RCPT, pending_path, sizeof(pending_path));
	if (getenv("FUZZ_PICKUP_SEEDS") != NULL)
		seeds_write(getenv("FUZZ_PICKUP_SEEDS"));
	return 0;
}

static void
pickup(const uint8_t *data, size_t size)
{
	char pw[9] = "", *addr = NULL;
	size_t n = size < 8 ? size : 8;

	if (unit_write_file(record_path, data + n, size - n, 0600) != 0)
		abort();
	memcpy(pw, data, n);
	pw[n] = '\0';
	if (enroll_pickup_check(pickup_dir, TOKEN, pw, 5, 1764000000, &addr) == ENROLL_PICKUP_OK
	    && addr == NULL)
		abort();
	free(addr);
	(void)enroll_pickup_live(pickup_dir, TOKEN);
	enroll_pickup_used(pickup_dir, TOKEN);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	X509 *x;

	if (size < 1)
		return 0;
	if ((data[0] & 1) == 0) {
		pickup(data + 1, size - 1);
		return 0;
	}
	if (unit_write_file(pending_path, data + 1, size - 1, 0600) != 0)
		abort();
	if ((x = enroll_pending_get(conf, RCPT)) != NULL)
		X509_free(x);
	(void)enroll_pending_sweep(conf, expired);
	ERR_clear_error();
	return 0;
}
