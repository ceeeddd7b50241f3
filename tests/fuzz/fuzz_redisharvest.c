/*
 * fuzz_redisharvest.c: harvested certificates as Redis holds them
 * (HarvestStore redis): the reply to HGETALL, parsed by hiredis, and each
 * value parsed as a harvest record (dir_harvest.c, through
 * dir_harvest_get()).  Whoever can write to Redis chooses them.  The
 * Redis server is the fuzz responder on 127.0.0.1 (fuzz_util.h), which
 * answers the one command of each connection (the store connects again
 * after the server closed).
 *
 * Input: byte 0 bit 0 set: the rest is the whole reply (RESP); clear: the
 * rest is one record, sealed with the store's value key (dir_redis_seal(),
 * RedisKeyFile: a fixed fuzz key) and sent as the reply [field, value],
 * so that the record parser behind the seal is fuzzed too.
 *
 * FUZZ_REDISHARVEST_SEEDS=DIR writes seeds to DIR (a record of the fuzz
 * certificate, with capabilities and a signing time, as dir_harvest_put()
 * writes it) and exits.
 */
#include "directory/dir_harvest.h"
#include "directory/dir_int.h"
#include "directory/dir_lookup.h"
#include "tests/fuzz/fuzz_util.h"
#include "util/util.h"
#include "tests/unit/unit_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/err.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static dir_harvest_t *store;
static dir_redis_t *redis;
static char hkey[80];           /* the hash of alice@example.com's records */

/* The one file under dir (two levels at most) into *data. */
static int
only_file(const char *dir, char **data, size_t *len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4200];
	struct stat st;
	int rc = -1;

	while (d != NULL && rc != 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			rc = only_file(path, data, len);
		else if ((*data = unit_read_file(path, len)) != NULL)
			rc = 0;
	}
	if (d != NULL)
		closedir(d);
	return rc;
}

static void
seeds_write(const char *out)
{
	static const unsigned char caps[] = { 0x30, 0x0d, 0x30, 0x0b, 0x06, 0x09, 0x60,
		0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a };
	char dir[4200], path[4200], err[256], *rec;
	dir_harvest_t *h;
	EVP_PKEY *k;
	X509 *c;
	size_t len;

	fuzz_signer(&k, &c, NULL, NULL);
	snprintf(dir, sizeof(dir), "%s/seedstore", fuzz_dir());
	if ((h = dir_harvest_open(dir, err, sizeof(err))) == NULL
	    || dir_harvest_put(h, "alice@example.com", c, caps, sizeof(caps), 1700000000,
	    err, sizeof(err)) != 0 || only_file(dir, &rec, &len) != 0)
		abort();
	snprintf(path, sizeof(path), "%s/record", out);
	if (unit_write_file(path, "\0", 1, 0644) != 0)
		abort();
	{
		FILE *fp = fopen(path, "ab");

		if (fp == NULL || fwrite(rec, 1, len, fp) != len)
			abort();
		fclose(fp);
	}
	free(rec);
	dir_harvest_free(h);
	exit(0);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char key[] = "fuzz value key: fuzzing only, it protects nothing at all\n";
	char server[64], err[256], *keyfile;
	dir_settings_t s;
	unsigned char md[32];
	char hex[65];

	(void)argc;
	(void)argv;
	memset(&s, 0, sizeof(s));
	snprintf(server, sizeof(server), "127.0.0.1:%d", fuzz_responder_start());
	keyfile = fuzz_file("redis.key", key, sizeof(key) - 1);
	s.redis = server;
	s.redis_timeout_ms = 2000;
	s.redis_password_file = "";
	s.redis_user = "";
	s.redis_key_file = keyfile;
	EVP_Digest("alice@example.com", 17, md, NULL, EVP_sha256(), NULL);
	util_hex(hex, md, sizeof(md));
	snprintf(hkey, sizeof(hkey), "fuzz:%s", hex);
	redis = dir_redis_new(&s, err, sizeof(err));
	free(keyfile);             /* read by dir_redis_new() */
	if (redis == NULL
	    || (store = dir_harvest_open_redis(redis, "fuzz:", err, sizeof(err))) == NULL) {
		fprintf(stderr, "fuzz_redisharvest: %s\n", err);
		abort();
	}
	if (getenv("FUZZ_REDISHARVEST_SEEDS") != NULL)
		seeds_write(getenv("FUZZ_REDISHARVEST_SEEDS"));
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char field[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	dir_harvest_entry_t *v = NULL;
	char err[256], *reply;
	unsigned char *sealed;
	size_t n = 0, slen;
	int len;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		fuzz_responder_set(data + 1, size - 1);
	} else {
		if ((sealed = dir_redis_seal(redis, hkey, field, 0, data + 1, size - 1, &slen))
		    == NULL)
			abort();
		len = asprintf(&reply, "*2\r\n$%zu\r\n%s\r\n$%zu\r\n", sizeof(field) - 1, field,
		    slen);
		if (len < 0 || (reply = realloc(reply, (size_t)len + slen + 2)) == NULL)
			abort();
		memcpy(reply + len, sealed, slen);
		memcpy(reply + len + slen, "\r\n", 2);
		fuzz_responder_set(reply, (size_t)len + slen + 2);
		free(reply);
		free(sealed);
	}
	if (dir_harvest_get(store, "alice@example.com", &v, &n, err, sizeof(err)) == 0)
		dir_harvest_list_free(v, n);
	ERR_clear_error();
	return 0;
}
