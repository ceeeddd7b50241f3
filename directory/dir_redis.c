/*
 * dir_redis.c: the directory's Redis server (the lookup cache,
 * dir_cache.c, and the harvest store, dir_harvest.c): the client of
 * net/net_redis.h (the server, timeouts, AUTH with RedisPasswordFile and
 * RedisUser), and the key the values are authenticated with.
 *
 * Values: whoever can write to Redis can put any bytes there, so each
 * value is sealed with HMAC-SHA256 under a key the gateways share
 * (RedisKeyFile), over the Redis key, the hash field ("" for a plain
 * key), the time the value stops being good and the data:
 *
 *   "v1:" 64 hex digits of the MAC ":" expiry (decimal, 0 never) ":" data
 *
 * The MAC binds a value to its key, so one address's "no certificate"
 * cannot be copied to another's, and carries its expiry, so an old value
 * written back is not believed past its time.  A value that does not
 * verify is not a value: callers treat it as absent.  Nothing stops
 * whoever can write to Redis from deleting values (AUTH is the guard).
 *
 * Ownership and threads: a dir_redis_t is immutable after dir_redis_new()
 * and may be shared; the key is cleansed when it is freed.  The HMAC
 * context is made and keyed once (proto); each seal works on a copy of
 * it (EVP_MAC_CTX_dup only reads the original), so no call fetches or
 * keys HMAC again.
 */
#include "directory/dir_int.h"
#include "net/net_redis.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define REDIS_KEY_MAX     1024        /* octets of the key file */
#define REDIS_KEY_MIN     32          /* octets of the value key */
#define SEAL_TAG          "v1:"
#define SEAL_MAC_HEX      64

struct dir_redis {
	net_redis_t *client;
	unsigned char *key;
	size_t keylen;
	EVP_MAC *mac;               /* HMAC, fetched once */
	EVP_MAC_CTX *proto;         /* keyed with key, HMAC-SHA256; only read */
};

/* The value key: the first line of RedisKeyFile, read by the one reader
 * of secret files (no symbolic link, owner us or root, mode 0600). */
static int
load_key(dir_redis_t *r, const char *file, char *err, size_t errlen)
{
	char *k = NULL;

	if (file == NULL || *file == '\0') {
		snprintf(err, errlen, "Redis needs RedisKeyFile (the key its values are "
		    "authenticated with, the same on every gateway)");
		return -1;
	}
	if (util_secret_read_line(file, REDIS_KEY_MAX, &k, err, errlen) != 0)
		return -1;
	r->keylen = strlen(k);
	r->key = (unsigned char *)k;
	if (r->keylen < REDIS_KEY_MIN) {
		snprintf(err, errlen, "%s: the key is shorter than %d characters",
		    file, REDIS_KEY_MIN);
		return -1;
	}
	return 0;
}

/* The keyed HMAC-SHA256 context every seal copies.  0, or -1. */
static int
proto_new(dir_redis_t *r, char *err, size_t errlen)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string("digest", "SHA256", 0), OSSL_PARAM_END
	};

	if ((r->proto = EVP_MAC_CTX_new(r->mac)) == NULL ||
	    !EVP_MAC_init(r->proto, r->key, r->keylen, params)) {
		snprintf(err, errlen, "cannot key HMAC-SHA256 for the Redis values");
		return -1;
	}
	return 0;
}

dir_redis_t *
dir_redis_new(const dir_settings_t *s, char *err, size_t errlen)
{
	net_redis_settings_t ns = {
		.server = s->redis, .timeout_ms = s->redis_timeout_ms,
		.password_file = s->redis_password_file, .user = s->redis_user,
	};
	dir_redis_t *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (s->redis_user != NULL && *s->redis_user != '\0' &&
	    (s->redis_password_file == NULL || *s->redis_password_file == '\0'))
		snprintf(err, errlen, "RedisUser needs RedisPasswordFile");
	else if ((r->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		snprintf(err, errlen, "OpenSSL has no HMAC");
	if (r->mac == NULL || (r->client = net_redis_new(&ns, err, errlen)) == NULL ||
	    load_key(r, s->redis_key_file, err, errlen) != 0 ||
	    proto_new(r, err, errlen) != 0) {
		dir_redis_free(r);
		return NULL;
	}
	return r;
}

void
dir_redis_free(dir_redis_t *r)
{
	if (r == NULL)
		return;
	EVP_MAC_CTX_free(r->proto);     /* cleanses the keyed state */
	EVP_MAC_free(r->mac);
	net_redis_free(r->client);
	if (r->key != NULL)
		util_secret_free(r->key, r->keylen);
	free(r);
}

const char *
dir_redis_name(const dir_redis_t *r)
{
	return net_redis_name(r->client);
}

const net_redis_t *
dir_redis_client(const dir_redis_t *r)
{
	return r->client;
}

/* HMAC-SHA256 over the key, the field, the expiry and the data, as 64 hex
 * digits.  0, or -1. */
static int
seal_mac(const dir_redis_t *r, const char *key, const char *field,
    const char *expiry, const unsigned char *data, size_t len, char hex[65])
{
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(r->proto);
	unsigned char md[32];
	size_t mdlen = 0;
	int ok = ctx != NULL
	    && EVP_MAC_update(ctx, (const unsigned char *)SEAL_TAG, sizeof(SEAL_TAG))
	    && EVP_MAC_update(ctx, (const unsigned char *)key, strlen(key) + 1)
	    && EVP_MAC_update(ctx, (const unsigned char *)field, strlen(field) + 1)
	    && EVP_MAC_update(ctx, (const unsigned char *)expiry, strlen(expiry) + 1)
	    && EVP_MAC_update(ctx, data, len)
	    && EVP_MAC_final(ctx, md, &mdlen, sizeof(md)) && mdlen == sizeof(md);

	EVP_MAC_CTX_free(ctx);
	if (ok)
		util_hex(hex, md, sizeof(md));
	return ok ? 0 : -1;
}

unsigned char *
dir_redis_seal(const dir_redis_t *r, const char *key, const char *field,
    time_t expires, const unsigned char *data, size_t len, size_t *outlen)
{
	char expiry[24], hex[SEAL_MAC_HEX + 1];
	unsigned char *v;
	int n = snprintf(expiry, sizeof(expiry), "%lld", (long long)expires);

	if (seal_mac(r, key, field ? field : "", expiry, data, len, hex) != 0)
		return NULL;
	*outlen = sizeof(SEAL_TAG) - 1 + SEAL_MAC_HEX + 1 + (size_t)n + 1 + len;
	if ((v = malloc(*outlen)) == NULL)
		return NULL;
	snprintf((char *)v, *outlen, SEAL_TAG "%s:%s:", hex, expiry);
	memcpy(v + *outlen - len, data, len);
	return v;
}

const unsigned char *
dir_redis_open(const dir_redis_t *r, const char *key, const char *field,
    const unsigned char *v, size_t len, size_t *datalen)
{
	const size_t head = sizeof(SEAL_TAG) - 1 + SEAL_MAC_HEX + 1;
	char expiry[24], hex[SEAL_MAC_HEX + 1];
	const unsigned char *colon;
	size_t elen;
	long long t;
	char *end;

	if (len <= head || memcmp(v, SEAL_TAG, sizeof(SEAL_TAG) - 1) != 0 ||
	    v[head - 1] != ':' || (colon = memchr(v + head, ':', len - head)) == NULL ||
	    (elen = (size_t)(colon - (v + head))) == 0 || elen >= sizeof(expiry))
		return NULL;
	memcpy(expiry, v + head, elen);
	expiry[elen] = '\0';
	t = strtoll(expiry, &end, 10);
	if (*end != '\0' || t < 0 || (t != 0 && t <= (long long)time(NULL)))
		return NULL;
	*datalen = len - head - elen - 1;
	if (seal_mac(r, key, field ? field : "", expiry, colon + 1, *datalen, hex) != 0 ||
	    CRYPTO_memcmp(hex, v + sizeof(SEAL_TAG) - 1, SEAL_MAC_HEX) != 0)
		return NULL;
	return colon + 1;
}

time_t
dir_redis_expiry(const unsigned char *v, size_t len)
{
	const size_t head = sizeof(SEAL_TAG) - 1 + SEAL_MAC_HEX + 1;
	long long t = 0;

	for (size_t i = head; i < len && v[i] >= '0' && v[i] <= '9' && i < head + 20; i++)
		t = t * 10 + (v[i] - '0');
	return (time_t)t;
}
