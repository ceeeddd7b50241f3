/*
 * dir_redis.c: what every Redis connection of directory/ shares (the
 * lookup cache, dir_cache.c, and the harvest store, dir_harvest.c): the
 * server, the timeouts, AUTH, and the key values are authenticated with.
 *
 * Connections: redisConnectWithTimeout, redisSetTimeout, then AUTH with
 * the password of RedisPasswordFile (and the ACL user RedisUser, Redis 6
 * and later: "AUTH user password") before any other command; a server
 * that refuses the password gives no context.
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
 * and may be shared; the password and key are cleansed when it is freed.
 * A context from dir_redis_connect() is the caller's (redisFree()).
 */
#include "directory/dir_int.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define REDIS_SECRET_MAX  1024
#define REDIS_KEY_MIN     32          /* octets of the value key */
#define SEAL_TAG          "v1:"
#define SEAL_MAC_HEX      64

struct dir_redis {
	char host[256];
	int port;
	char name[300];             /* "host:port" */
	struct timeval tv;
	char *user;                 /* ACL user, or NULL */
	char *password;             /* NULL: no AUTH */
	unsigned char *key;
	size_t keylen;
	EVP_MAC *mac;               /* HMAC, fetched once */
};

/*
 * The first line of a secret file (a password, a key), read by the one
 * reader of secret files (util_secret_read_line(): no symbolic link, a
 * regular file of ours or root's, no access for group or others).
 * malloc'ed, or NULL with err naming the file.  The one place directory/
 * reads a secret.
 */
char *
dir_secret_read(const char *path, char *err, size_t errlen)
{
	char *s = NULL;

	if (util_secret_read_line(path, REDIS_SECRET_MAX, &s, err, errlen) != 0)
		return NULL;
	return s;
}

static void
secret_free(char *s)
{
	if (s != NULL)
		util_secret_free(s, strlen(s));
}

static int
parse_server(dir_redis_t *r, const char *server, char *err, size_t errlen)
{
	const char *colon = strrchr(server, ':');
	char *end;
	long port = colon ? strtol(colon + 1, &end, 10) : 0;

	if (colon == NULL || colon == server || *end != '\0' || port < 1 ||
	    port > 65535 || (size_t)(colon - server) >= sizeof(r->host)) {
		snprintf(err, errlen, "Redis server \"%s\" is not HOST:PORT", server);
		return -1;
	}
	memcpy(r->host, server, (size_t)(colon - server));
	r->port = (int)port;
	snprintf(r->name, sizeof(r->name), "%s:%d", r->host, r->port);
	return 0;
}

static int
load_secrets(dir_redis_t *r, const dir_settings_t *s, char *err, size_t errlen)
{
	char *k;

	if (s->redis_user != NULL && *s->redis_user != '\0' &&
	    (s->redis_password_file == NULL || *s->redis_password_file == '\0')) {
		snprintf(err, errlen, "RedisUser needs RedisPasswordFile");
		return -1;
	}
	if (s->redis_user != NULL && *s->redis_user != '\0' &&
	    (r->user = strdup(s->redis_user)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (s->redis_password_file != NULL && *s->redis_password_file != '\0' &&
	    (r->password = dir_secret_read(s->redis_password_file, err, errlen)) == NULL)
		return -1;
	if (s->redis_key_file == NULL || *s->redis_key_file == '\0') {
		snprintf(err, errlen, "Redis needs RedisKeyFile (the key its values are "
		    "authenticated with, the same on every gateway)");
		return -1;
	}
	if ((k = dir_secret_read(s->redis_key_file, err, errlen)) == NULL)
		return -1;
	r->keylen = strlen(k);
	r->key = (unsigned char *)k;
	if (r->keylen < REDIS_KEY_MIN) {
		snprintf(err, errlen, "%s: the key is shorter than %d characters",
		    s->redis_key_file, REDIS_KEY_MIN);
		return -1;
	}
	return 0;
}

dir_redis_t *
dir_redis_new(const dir_settings_t *s, char *err, size_t errlen)
{
	dir_redis_t *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->tv.tv_sec = s->redis_timeout_ms / 1000;
	r->tv.tv_usec = (s->redis_timeout_ms % 1000) * 1000;
	if ((r->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		snprintf(err, errlen, "OpenSSL has no HMAC");
	if (r->mac == NULL ||
	    parse_server(r, s->redis != NULL ? s->redis : "", err, errlen) != 0 ||
	    load_secrets(r, s, err, errlen) != 0) {
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
	EVP_MAC_free(r->mac);
	free(r->user);
	secret_free(r->password);
	secret_free((char *)r->key);
	free(r);
}

const char *
dir_redis_name(const dir_redis_t *r)
{
	return r->name;
}

/* AUTH on a new context: 0, or -1 with err (the server's answer, never
 * the password). */
static int
redis_auth(const dir_redis_t *r, redisContext *ctx, char *err, size_t errlen)
{
	redisReply *rep;
	int ok;

	if (r->password == NULL)
		return 0;
	rep = r->user != NULL ? redisCommand(ctx, "AUTH %s %s", r->user, r->password)
	    : redisCommand(ctx, "AUTH %s", r->password);
	ok = rep != NULL && rep->type == REDIS_REPLY_STATUS;
	if (!ok)
		snprintf(err, errlen, "%s: AUTH%s%s refused: %.120s", r->name,
		    r->user ? " as " : "", r->user ? r->user : "",
		    rep == NULL ? (ctx->errstr[0] ? ctx->errstr : "no reply")
		    : rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
	freeReplyObject(rep);
	return ok ? 0 : -1;
}

redisContext *
dir_redis_connect(const dir_redis_t *r, char *err, size_t errlen)
{
	redisContext *ctx = redisConnectWithTimeout(r->host, r->port, r->tv);

	if (ctx == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (ctx->err != 0 || redisSetTimeout(ctx, r->tv) != REDIS_OK) {
		snprintf(err, errlen, "%s: %s", r->name, ctx->errstr);
		redisFree(ctx);
		return NULL;
	}
	if (redis_auth(r, ctx, err, errlen) != 0) {
		redisFree(ctx);
		return NULL;
	}
	return ctx;
}

/* HMAC-SHA256 over the key, the field, the expiry and the data, as 64 hex
 * digits.  0, or -1. */
static int
seal_mac(const dir_redis_t *r, const char *key, const char *field,
    const char *expiry, const unsigned char *data, size_t len, char hex[65])
{
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(r->mac);
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string("digest", "SHA256", 0), OSSL_PARAM_END
	};
	unsigned char md[32];
	size_t mdlen = 0;
	int ok = ctx != NULL && EVP_MAC_init(ctx, r->key, r->keylen, params)
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
