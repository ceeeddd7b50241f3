/*
 * dir_harvest.c: the harvested-certificates store (see dir_harvest.h).
 *
 * A record is a sequence of PEM blocks, written and read by OpenSSL's
 * PEM code: CERTIFICATE, then SMIME CAPABILITIES (the DER as announced,
 * when there was one), SMIMEGATE SIGNING TIME (decimal seconds),
 * SMIMEGATE PURPOSE ("sign", "encrypt" or "sign,encrypt", what its
 * keyUsage allows) and, when the signature's key preference named it,
 * SMIMEGATE KEY PREFERENCE ("yes").  Records written before these two
 * existed read as purpose from the certificate, not preferred.
 *
 * Files: one per (address, certificate), AH/CH.pem, where AH is the hex
 * SHA-256 of the normalised address (a subdirectory, so a lookup reads
 * only that address's files) and CH the hex SHA-256 of the certificate's
 * DER.  A put keeps the record there when it holds the same certificate
 * (its DER hashes to CH; not decoded) with a signing time as recent or
 * more, else writes it anew.  Writes go to a temporary file, fsync'ed,
 * then renamed.  Files of
 * the old flat layout (AH-CH.pem) are moved into place on open.
 *
 * Redis: one hash per address, key PREFIX + AH, field CH, value the
 * record sealed by dir_redis_seal() for that key and field (HSET /
 * HGETALL); a value whose seal does not open is skipped like a malformed
 * file, so a record written by someone else (without the capabilities
 * the sender announced, say) is never believed.  One context of the
 * Redis client (net/net_redis.h), used under h->lock; a command that
 * fails reconnects once (net_redis_command()), then the call fails (the lookup then says
 * "unavailable": a certificate that may be there is never ignored).
 *
 * Threads: files are replaced atomically, so readers see the old or the
 * new file; the Redis context is guarded by h->lock.
 */
#include "util/util_addr.h"
#include "directory/dir_harvest.h"
#include "directory/dir_int.h"
#include "net/net_redis.h"
#include "util/util.h"

#include <dirent.h>
#include <pthread.h>
#include <hiredis/hiredis.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define HARVEST_MAX_FILES 64          /* per address: a bound, not a quota */
#define HARVEST_FLAT_MAX  100000      /* old-layout files moved on open */
#define HARVEST_MAX_FILE  (256 * 1024)
#define PEM_CAPS "SMIME CAPABILITIES"
#define PEM_TIME "SMIMEGATE SIGNING TIME"
#define PEM_PURPOSE "SMIMEGATE PURPOSE"
#define PEM_PREF "SMIMEGATE KEY PREFERENCE"

struct dir_harvest {
	char *dir;                  /* the file store, or NULL for Redis */
	const dir_redis_t *redis;   /* borrowed: outlives the store */
	char *prefix;
	pthread_mutex_t lock;       /* guards ctx */
	redisContext *ctx;
};

/* hex SHA-256 of the normalised address (65 octets). */
static int
addr_hash(const char *address, char out[65])
{
	unsigned char md[32];
	char *n = util_addr_normalize(address);
	int ok;

	if (n == NULL)
		return -1;
	ok = EVP_Digest(n, strlen(n), md, NULL, util_alg_sha256(), NULL);
	free(n);
	if (!ok)
		return -1;
	util_hex(out, md, 32);
	return 0;
}

/* Moves the old flat layout's AH-CH.pem files to AH/CH.pem. */
static void
migrate_flat(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char *from, *sub, *to;
	int n = 0;

	while (d != NULL && n++ < HARVEST_FLAT_MAX && (de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != 64 + 1 + 64 + 4 || de->d_name[64] != '-')
			continue;
		from = sub = to = NULL;
		if (asprintf(&from, "%s/%s", dir, de->d_name) >= 0
		    && asprintf(&sub, "%s/%.64s", dir, de->d_name) >= 0
		    && asprintf(&to, "%s/%s", sub, de->d_name + 65) >= 0
		    && (mkdir(sub, 0700) == 0 || errno == EEXIST))
			(void)rename(from, to);
		free(from);
		free(sub);
		free(to);
	}
	if (d != NULL)
		closedir(d);
}

dir_harvest_t *
dir_harvest_open(const char *dir, char *err, size_t errlen)
{
	dir_harvest_t *h;
	struct stat st;

	if (dir == NULL || *dir == '\0') {
		snprintf(err, errlen, "no harvest directory");
		return NULL;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", dir);
		return NULL;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL || (h->dir = strdup(dir)) == NULL) {
		free(h);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	migrate_flat(dir);
	return h;
}

dir_harvest_t *
dir_harvest_open_redis(const struct dir_redis *redis, const char *prefix,
    char *err, size_t errlen)
{
	dir_harvest_t *h = calloc(1, sizeof(*h));

	if (h == NULL || (h->prefix = strdup(prefix != NULL ? prefix : "")) == NULL) {
		free(h);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->redis = redis;
	return h;
}

void
dir_harvest_free(dir_harvest_t *h)
{
	if (h == NULL)
		return;
	if (h->ctx != NULL)
		redisFree(h->ctx);
	pthread_mutex_destroy(&h->lock);
	free(h->prefix);
	free(h->dir);
	free(h);
}

/* ---- Redis (h->lock held) ---- */

/* A command's reply, reconnecting once (net_redis_vcommand()); NULL with
 * err when Redis is down or answers an error. */
static redisReply *
redis_run(dir_harvest_t *h, char *err, size_t errlen, const char *fmt, ...)
{
	redisReply *r;
	char why[400];
	va_list ap;

	va_start(ap, fmt);
	r = net_redis_vcommand(dir_redis_client(h->redis), &h->ctx, why, sizeof(why),
	    fmt, ap);
	va_end(ap);
	if (r == NULL)
		snprintf(err, errlen, "harvest: Redis %s", why);
	return r;
}

int
dir_harvest_ping(dir_harvest_t *h, char *err, size_t errlen)
{
	redisReply *r;

	if (h == NULL || h->dir != NULL)
		return 0;
	pthread_mutex_lock(&h->lock);
	r = redis_run(h, err, errlen, "PING");
	pthread_mutex_unlock(&h->lock);
	freeReplyObject(r);
	return r != NULL ? 0 : -1;
}

int
dir_harvest_is_redis(const dir_harvest_t *h)
{
	return h != NULL && h->dir == NULL;
}

static void
entry_clear(dir_harvest_entry_t *e)
{
	X509_free(e->cert);
	OPENSSL_free(e->caps);
	memset(e, 0, sizeof(*e));
}

/* A record's signing time (decimal seconds) into *t: 0, or -1 when the
 * item is empty or too long to be one. */
static int
pem_time(const unsigned char *data, long len, time_t *t)
{
	char buf[24];

	if (len <= 0 || len >= (long)sizeof(buf))
		return -1;
	memcpy(buf, data, (size_t)len);
	buf[len] = '\0';
	*t = (time_t)strtoll(buf, NULL, 10);
	return 0;
}

/* Frees what PEM_read_bio() gave for one item, ready for the next. */
static void
pem_item_free(char **name, char **header, unsigned char **data)
{
	OPENSSL_free(*name);
	OPENSSL_free(*header);
	OPENSSL_free(*data);
	*name = *header = NULL;
	*data = NULL;
}

/* Reads one record; 0 with e filled, -1 when unreadable or malformed. */
static int
read_bio(BIO *b, dir_harvest_entry_t *e)
{
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long len;
	int bad = 0;

	memset(e, 0, sizeof(*e));
	if (b == NULL)
		return -1;
	while (!bad && PEM_read_bio(b, &name, &header, &data, &len) == 1) {
		const unsigned char *p = data;

		if (strcmp(name, PEM_STRING_X509) == 0 && e->cert == NULL) {
			e->cert = d2i_X509(NULL, &p, len);
			bad = e->cert == NULL;
		} else if (strcmp(name, PEM_CAPS) == 0 && e->caps == NULL && len > 0) {
			e->caps = data;
			e->caps_len = (size_t)len;
			data = NULL;
		} else if (strcmp(name, PEM_PREF) == 0) {
			e->preferred = len == 3 && memcmp(data, "yes", 3) == 0;
		} else if (strcmp(name, PEM_TIME) == 0) {
			(void)pem_time(data, len, &e->signing_time);
		}
		pem_item_free(&name, &header, &data);
	}
	ERR_clear_error();
	BIO_free(b);
	if (bad || e->cert == NULL) {
		entry_clear(e);
		return -1;
	}
	e->purpose = dir_harvest_purpose(e->cert);
	return 0;
}

/*
 * The signing time of a record, without decoding its certificate (a
 * record is replaced only by a newer signature, and a put happens for
 * every verified message): 0 when the record holds a CERTIFICATE whose
 * DER hashes to ch (the certificate being put, as its name says) and a
 * signing time; else -1, and the record is written anew.
 */
static int
read_time(BIO *b, const char *ch, time_t *t)
{
	char *name = NULL, *header = NULL, hex[65];
	unsigned char *data = NULL, md[32];
	unsigned int mdlen = 0;
	long len;
	int cert_ok = 0, time_ok = 0;

	if (b == NULL)
		return -1;
	while (PEM_read_bio(b, &name, &header, &data, &len) == 1) {
		if (strcmp(name, PEM_STRING_X509) == 0 && !cert_ok && len > 0
		    && EVP_Digest(data, (size_t)len, md, &mdlen, util_alg_sha256(), NULL)
		    && mdlen == 32) {
			util_hex(hex, md, 32);
			cert_ok = strcmp(hex, ch) == 0;
		} else if (strcmp(name, PEM_TIME) == 0 && pem_time(data, len, t) == 0) {
			time_ok = 1;
		}
		pem_item_free(&name, &header, &data);
	}
	ERR_clear_error();
	BIO_free(b);
	return cert_ok && time_ok ? 0 : -1;
}

static int
read_entry(const char *path, dir_harvest_entry_t *e)
{
	return read_bio(BIO_new_file(path, "rb"), e);
}

static int
read_mem(const char *data, size_t len, dir_harvest_entry_t *e)
{
	return len > HARVEST_MAX_FILE ? -1 : read_bio(BIO_new_mem_buf(data, (int)len), e);
}

unsigned
dir_harvest_purpose(X509 *cert)
{
	/* X509_get_key_usage() gives all bits when there is no keyUsage. */
	uint32_t ku = X509_get_key_usage(cert);

	return ((ku & KU_DIGITAL_SIGNATURE) ? DIR_HARVEST_SIGN : 0)
	    | ((ku & (KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT)) ? DIR_HARVEST_ENCRYPT : 0);
}

static int
write_purpose(BIO *b, X509 *cert, int preferred)
{
	static const char *const names[] = { "", "sign", "encrypt", "sign,encrypt" };
	const char *p = names[dir_harvest_purpose(cert) & 3];

	if (*p != '\0' && !PEM_write_bio(b, PEM_PURPOSE, "", (const unsigned char *)p,
	    (long)strlen(p)))
		return -1;
	if (preferred && !PEM_write_bio(b, PEM_PREF, "", (const unsigned char *)"yes", 3))
		return -1;
	return 0;
}

static int
write_entry(BIO *b, X509 *cert, const unsigned char *caps, size_t caps_len,
    time_t t, int preferred)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%lld", (long long)t);

	if (!PEM_write_bio_X509(b, cert))
		return -1;
	if (caps != NULL && caps_len > 0 &&
	    !PEM_write_bio(b, PEM_CAPS, "", caps, (long)caps_len))
		return -1;
	if (!PEM_write_bio(b, PEM_TIME, "", (unsigned char *)buf, n))
		return -1;
	if (write_purpose(b, cert, preferred) != 0)
		return -1;
	return BIO_flush(b) == 1 ? 0 : -1;
}

/* The record for cert, in a new memory BIO. */
static BIO *
record_make(X509 *cert, const unsigned char *caps, size_t caps_len, time_t t,
    int preferred)
{
	BIO *b = BIO_new(BIO_s_mem());

	if (b != NULL && write_entry(b, cert, caps, caps_len, t, preferred) != 0) {
		BIO_free(b);
		b = NULL;
	}
	return b;
}

static int
put_file(dir_harvest_t *h, const char *ah, const char *ch, BIO *rec,
    time_t signing_time, char *err, size_t errlen)
{
	char *sub = NULL, *path = NULL, *tmp = NULL, *data;
	long len = BIO_get_mem_data(rec, &data);
	time_t old;
	int fd = -1, rc = -1;

	if (asprintf(&sub, "%s/%s", h->dir, ah) < 0 || (sub != NULL
	    && (asprintf(&path, "%s/%s.pem", sub, ch) < 0
	    || asprintf(&tmp, "%s/.tmp-%s-XXXXXX", sub, ch) < 0))) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	if (mkdir(sub, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "harvest: %s: %s", sub, strerror(errno));
		goto done;
	}
	if (read_time(BIO_new_file(path, "rb"), ch, &old) == 0 && old >= signing_time) {
		rc = 0;
		goto done;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		snprintf(err, errlen, "harvest: %s: %s", tmp, strerror(errno));
		goto done;
	}
	if (len <= 0 || util_write_all(fd, data, (size_t)len) != 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "harvest: cannot write %s", tmp);
		goto done;
	}
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "harvest: rename to %s: %s", path, strerror(errno));
		goto done;
	}
	rc = 0;
done:
	if (fd >= 0) {
		close(fd);
		if (rc != 0)
			unlink(tmp);
	}
	free(sub);
	free(path);
	free(tmp);
	return rc;
}

/* The record in a Redis reply, its seal opened for key and field (NULL
 * when the reply is not a string or the seal does not open). */
static const unsigned char *
open_sealed(dir_harvest_t *h, const char *key, const char *field,
    const redisReply *r, size_t *len)
{
	if (r->type != REDIS_REPLY_STRING)
		return NULL;
	return dir_redis_open(h->redis, key, field, (const unsigned char *)r->str,
	    r->len, len);
}

/* A record as Redis returned it, its seal opened for key and field;
 * 0 with e filled, -1 when it does not open or does not parse. */
static int
read_sealed(dir_harvest_t *h, const char *key, const char *field,
    const redisReply *r, dir_harvest_entry_t *e)
{
	const unsigned char *data;
	size_t len;

	if ((data = open_sealed(h, key, field, r, &len)) == NULL)
		return -1;
	return read_mem((const char *)data, len, e);
}

/* The signing time of a record as Redis returned it (read_time()), its
 * seal opened for key and field; 0, or -1. */
static int
read_sealed_time(dir_harvest_t *h, const char *key, const char *field,
    const redisReply *r, time_t *t)
{
	const unsigned char *data;
	size_t len;

	if ((data = open_sealed(h, key, field, r, &len)) == NULL || len > HARVEST_MAX_FILE)
		return -1;
	return read_time(BIO_new_mem_buf(data, (int)len), field, t);
}

static int
put_redis(dir_harvest_t *h, const char *ah, const char *ch, BIO *rec,
    time_t signing_time, char *err, size_t errlen)
{
	redisReply *r;
	time_t old;
	char *data, *key;
	unsigned char *sealed = NULL;
	long len = BIO_get_mem_data(rec, &data);
	size_t slen = 0;
	int rc = -1;

	if (asprintf(&key, "%s%s", h->prefix, ah) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((sealed = dir_redis_seal(h->redis, key, ch, 0, (unsigned char *)data,
	    (size_t)(len > 0 ? len : 0), &slen)) == NULL) {
		free(key);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_lock(&h->lock);
	r = redis_run(h, err, errlen, "HGET %s %s", key, ch);
	if (r != NULL && read_sealed_time(h, key, ch, r, &old) == 0 && old >= signing_time) {
		freeReplyObject(r);
		r = NULL;
		rc = 0;
	}
	if (r != NULL) {
		freeReplyObject(r);
		r = redis_run(h, err, errlen, "HSET %s %s %b", key, ch, sealed, slen);
		rc = r != NULL ? 0 : -1;
		freeReplyObject(r);
	}
	pthread_mutex_unlock(&h->lock);
	free(sealed);
	free(key);
	return rc;
}

int
dir_harvest_put(dir_harvest_t *h, const char *address, X509 *cert,
    const unsigned char *caps, size_t caps_len, time_t signing_time,
    char *err, size_t errlen)
{
	return dir_harvest_put_pref(h, address, cert, caps, caps_len, signing_time, 0,
	    err, errlen);
}

int
dir_harvest_put_pref(dir_harvest_t *h, const char *address, X509 *cert,
    const unsigned char *caps, size_t caps_len, time_t signing_time,
    int preferred, char *err, size_t errlen)
{
	char ah[65], ch[65];
	unsigned char md[32];
	unsigned int mdlen;
	BIO *rec;
	int rc;

	if (h == NULL || address == NULL || cert == NULL ||
	    strchr(address, '@') == NULL) {
		snprintf(err, errlen, "harvest: needs an address and a certificate");
		return -1;
	}
	if (addr_hash(address, ah) != 0 || !X509_digest(cert, util_alg_sha256(), md, &mdlen)) {
		snprintf(err, errlen, "harvest: cannot hash");
		return -1;
	}
	util_hex(ch, md, 32);
	if ((rec = record_make(cert, caps, caps_len, signing_time, preferred)) == NULL) {
		ERR_clear_error();
		snprintf(err, errlen, "harvest: cannot encode the certificate");
		return -1;
	}
	rc = h->dir != NULL ? put_file(h, ah, ch, rec, signing_time, err, errlen)
	    : put_redis(h, ah, ch, rec, signing_time, err, errlen);
	BIO_free(rec);
	ERR_clear_error();
	return rc;
}

static int
newest_first(const void *a, const void *b)
{
	const dir_harvest_entry_t *x = a, *y = b;

	return (x->signing_time < y->signing_time) - (x->signing_time > y->signing_time);
}

/* The files in the address's subdirectory. */
static int
get_file(dir_harvest_t *h, const char *ah, dir_harvest_entry_t *v, size_t *n,
    char *err, size_t errlen)
{
	char *sub, *path;
	struct dirent *de;
	DIR *d;

	if (asprintf(&sub, "%s/%s", h->dir, ah) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((d = opendir(sub)) == NULL) {
		int e = errno;

		free(sub);
		if (e == ENOENT)
			return 0;
		snprintf(err, errlen, "harvest: %s/%s: %s", h->dir, ah, strerror(e));
		return -1;
	}
	while (*n < HARVEST_MAX_FILES && (de = readdir(d)) != NULL) {
		struct stat st;

		if (strlen(de->d_name) != 64 + 4 || strcmp(de->d_name + 64, ".pem") != 0)
			continue;
		if (asprintf(&path, "%s/%s", sub, de->d_name) < 0)
			continue;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_size <= HARVEST_MAX_FILE && read_entry(path, &v[*n]) == 0)
			(*n)++;
		free(path);
	}
	closedir(d);
	free(sub);
	return 0;
}

static int
get_redis(dir_harvest_t *h, const char *ah, dir_harvest_entry_t *v, size_t *n,
    char *err, size_t errlen)
{
	redisReply *r;
	char *key;

	if (asprintf(&key, "%s%s", h->prefix, ah) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_lock(&h->lock);
	r = redis_run(h, err, errlen, "HGETALL %s", key);
	pthread_mutex_unlock(&h->lock);
	for (size_t i = 1; r != NULL && r->type == REDIS_REPLY_ARRAY && i < r->elements
	    && *n < HARVEST_MAX_FILES; i += 2)
		if (r->element[i - 1]->type == REDIS_REPLY_STRING
		    && r->element[i - 1]->len == 64 && strlen(r->element[i - 1]->str) == 64
		    && read_sealed(h, key, r->element[i - 1]->str, r->element[i], &v[*n]) == 0)
			(*n)++;
	free(key);
	if (r == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

int
dir_harvest_get(dir_harvest_t *h, const char *address,
    dir_harvest_entry_t **entries, size_t *n, char *err, size_t errlen)
{
	char ah[65];
	dir_harvest_entry_t *v;
	int rc;

	*entries = NULL;
	*n = 0;
	if (h == NULL || address == NULL || addr_hash(address, ah) != 0) {
		snprintf(err, errlen, "harvest: bad arguments");
		return -1;
	}
	if ((v = calloc(HARVEST_MAX_FILES, sizeof(*v))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = h->dir != NULL ? get_file(h, ah, v, n, err, errlen)
	    : get_redis(h, ah, v, n, err, errlen);
	if (rc != 0 || *n == 0) {
		dir_harvest_list_free(v, *n);
		*n = 0;
		return rc;
	}
	qsort(v, *n, sizeof(*v), newest_first);
	*entries = v;
	return 0;
}

void
dir_harvest_list_free(dir_harvest_entry_t *entries, size_t n)
{
	for (size_t i = 0; entries != NULL && i < n; i++)
		entry_clear(&entries[i]);
	free(entries);
}
