/*
 * dir_cache.c: lookup answers kept for a while: positive entries (the
 * chosen certificate, DER, with where it came from) for the positive TTL,
 * negative ones ("no certificate") for the negative TTL.  In Redis
 * (hiredis, SET key value EX ttl, keys = prefix + normalised address)
 * when one is configured, else in a bounded in-process table.
 *
 * Other answers kept under a key of their own (dir_cache_blob_get/put:
 * OCSP answers of dir_ocsp.c, keys "ocsp:" + hex, which no normalised
 * address equals) live in the same table or Redis, sealed the same way,
 * for the time their caller gives.
 *
 * Value: "P" gcm('0'|'1') source "\n" DER, or "N"; in Redis sealed by
 * dir_redis_seal() for its key until its TTL ends: a value whose seal does
 * not open (forged, copied from another address, replayed past its time)
 * is a miss, so the directories are asked.
 *
 * Redis is never needed: a context that fails is dropped, the cache is
 * "down" and answers miss at once; a reconnect is tried at most every
 * CACHE_RETRY seconds.  The first failure and the recovery each leave one
 * note for the caller to log, so an outage is logged once.
 *
 * Threads: one mutex guards the table, the down state and the Redis
 * contexts' busy flags; a context is used by one thread at a time, and a
 * thread that finds every context busy treats it as a miss (no waiting).
 */
#include "directory/dir_int.h"
#include "net/net_redis.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <hiredis/hiredis.h>
#include <openssl/err.h>

#define CACHE_REDIS_SLOTS 4
#define CACHE_RETRY       5          /* seconds between reconnect attempts */
#define CACHE_MAX_VALUE   (64 * 1024)
#define CACHE_SCAN_MAX    100000     /* SCAN rounds of a full flush */

typedef struct mem_entry {
	char *addr;
	unsigned char *val;
	size_t len;
	time_t expires, used;
} mem_entry_t;

typedef struct redis_slot {
	redisContext *ctx;
	int busy;
} redis_slot_t;

struct dir_cache {
	pthread_mutex_t lock;
	char name[300];
	long ttl_pos, ttl_neg;
	/* in-process */
	mem_entry_t *mem;
	size_t nmem, maxmem;
	/* Redis */
	const dir_redis_t *redis;   /* borrowed; NULL: in-process */
	char *prefix;
	redis_slot_t slots[CACHE_REDIS_SLOTS];
	int down;
	time_t last_try;
};

dir_cache_t *
dir_cache_new(const dir_settings_t *s, const dir_redis_t *r, char *err,
    size_t errlen)
{
	dir_cache_t *c = calloc(1, sizeof(*c));

	if (c == NULL || (c->prefix = strdup(s->redis_prefix ? s->redis_prefix : "")) == NULL) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	c->ttl_pos = s->ttl_positive;
	c->ttl_neg = s->ttl_negative;
	c->maxmem = s->mem_cache_size;
	c->redis = r;
	if (r != NULL)
		snprintf(c->name, sizeof(c->name), "redis %s", dir_redis_name(r));
	else
		snprintf(c->name, sizeof(c->name), "memory");
	return c;
}

void
dir_cache_free(dir_cache_t *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nmem; i++) {
		free(c->mem[i].addr);
		free(c->mem[i].val);
	}
	free(c->mem);
	for (int i = 0; i < CACHE_REDIS_SLOTS; i++)
		if (c->slots[i].ctx != NULL)
			redisFree(c->slots[i].ctx);
	free(c->prefix);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

const char *
dir_cache_name(const dir_cache_t *c)
{
	return c->name;
}

/* ---- values ---- */

#define CACHE_MAX_CHAIN 8           /* intermediates kept with a certificate */

/* "N", or "P", '0'|'1', the source, "\n", the certificate's DER, then the
 * DER of each certificate of chain (at most CACHE_MAX_CHAIN): what came
 * with it, so that checking it again needs no source (a reader that knows
 * no chain reads the certificate and ignores the rest). */
static unsigned char *
value_make(X509 *cert, STACK_OF(X509) *chain, int gcm, const char *source, size_t *len)
{
	unsigned char *v = NULL, *d;
	BIO *b = cert ? BIO_new(BIO_s_mem()) : NULL;
	size_t slen = source ? strcspn(source, "\n") : 0;
	long dlen = 0;
	int ok = b != NULL && i2d_X509_bio(b, cert);

	for (int i = 0; ok && i < sk_X509_num(chain) && i < CACHE_MAX_CHAIN; i++)
		ok = i2d_X509_bio(b, sk_X509_value(chain, i));
	if (cert != NULL && (!ok || (dlen = BIO_get_mem_data(b, (char **)&d)) <= 0)) {
		BIO_free(b);
		return NULL;
	}
	*len = cert ? 3 + slen + (size_t)dlen : 1;
	if ((v = malloc(*len)) != NULL) {
		if (cert == NULL) {
			v[0] = 'N';
		} else {
			v[0] = 'P';
			v[1] = gcm ? '1' : '0';
			memcpy(v + 2, source, slen);
			v[2 + slen] = '\n';
			memcpy(v + 3 + slen, d, (size_t)dlen);
		}
	}
	BIO_free(b);
	return v;
}

/* The certificates after the first of a positive value, in a new stack
 * (maybe empty); NULL when out of memory or the value is not positive. */
static STACK_OF(X509) *
value_chain(const unsigned char *v, size_t len)
{
	const unsigned char *nl, *p, *end = v + len;
	STACK_OF(X509) *chain;
	X509 *x;

	if (len < 4 || v[0] != 'P' || (nl = memchr(v + 2, '\n', len - 2)) == NULL)
		return NULL;
	p = nl + 1;
	if ((x = d2i_X509(NULL, &p, (long)(end - p))) == NULL)
		return NULL;
	X509_free(x);
	if ((chain = sk_X509_new_null()) == NULL)
		return NULL;
	while (p < end && sk_X509_num(chain) < CACHE_MAX_CHAIN
	    && (x = d2i_X509(NULL, &p, (long)(end - p))) != NULL)
		if (!sk_X509_push(chain, x)) {
			X509_free(x);
			break;
		}
	ERR_clear_error();
	return chain;
}

enum dir_cache_hit
dir_cache_value_parse(const unsigned char *v, size_t len, X509 **cert, int *gcm,
    char *source, size_t srclen)
{
	const unsigned char *nl, *p;

	if (len == 1 && v[0] == 'N')
		return DIR_CACHE_NEGATIVE;
	if (len < 4 || v[0] != 'P' || (nl = memchr(v + 2, '\n', len - 2)) == NULL)
		return DIR_CACHE_MISS;
	p = nl + 1;
	if ((*cert = d2i_X509(NULL, &p, (long)(len - (size_t)(p - v)))) == NULL)
		return DIR_CACHE_MISS;
	*gcm = v[1] == '1';
	snprintf(source, srclen, "%.*s", (int)(nl - (v + 2)), (const char *)v + 2);
	return DIR_CACHE_POSITIVE;
}

/* ---- in-process ---- */

static mem_entry_t *
mem_find(dir_cache_t *c, const char *addr)
{
	for (size_t i = 0; i < c->nmem; i++)
		if (strcmp(c->mem[i].addr, addr) == 0)
			return &c->mem[i];
	return NULL;
}

static void
mem_drop(dir_cache_t *c, mem_entry_t *e)
{
	free(e->addr);
	free(e->val);
	*e = c->mem[--c->nmem];
}

static void
mem_put(dir_cache_t *c, const char *addr, unsigned char *val, size_t len, long ttl)
{
	time_t now = time(NULL);
	mem_entry_t *e = mem_find(c, addr);

	if (e == NULL && c->maxmem == 0) {
		free(val);
		return;
	}
	if (e == NULL && c->nmem == c->maxmem) {   /* evict: expired, else LRU */
		size_t victim = 0;
		for (size_t i = 0; i < c->nmem; i++) {
			if (c->mem[i].expires <= now) {
				victim = i;
				break;
			}
			if (c->mem[i].used < c->mem[victim].used)
				victim = i;
		}
		mem_drop(c, &c->mem[victim]);
	}
	if (e == NULL) {
		if (c->mem == NULL && (c->mem = calloc(c->maxmem, sizeof(*c->mem))) == NULL) {
			free(val);
			return;
		}
		e = &c->mem[c->nmem];
		if ((e->addr = strdup(addr)) == NULL) {
			free(val);
			return;
		}
		c->nmem++;
	} else {
		free(e->val);
	}
	e->val = val;
	e->len = len;
	e->expires = now + ttl;
	e->used = now;
}

/* ---- Redis ---- */

static void
redis_note(dir_cache_t *c, int down, const char *why, char *note, size_t notelen)
{
	if (down && !c->down)
		snprintf(note, notelen, "cache %.80s unavailable (%.80s): looking up "
		    "in the directories until it is back", c->name, why);
	else if (!down && c->down)
		snprintf(note, notelen, "cache %.200s is back", c->name);
	c->down = down;
}

/* A connected context, or NULL (down, busy, or cannot connect). */
static redis_slot_t *
redis_take(dir_cache_t *c, char *note, size_t notelen)
{
	redis_slot_t *slot = NULL;
	time_t now = time(NULL);
	char why[256];

	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < CACHE_REDIS_SLOTS && slot == NULL; i++)
		if (!c->slots[i].busy)
			slot = &c->slots[i];
	if (slot != NULL && slot->ctx == NULL && c->down && now - c->last_try < CACHE_RETRY)
		slot = NULL;
	if (slot != NULL)
		slot->busy = 1;
	if (slot != NULL && slot->ctx == NULL)
		c->last_try = now;
	pthread_mutex_unlock(&c->lock);
	if (slot == NULL || slot->ctx != NULL)
		return slot;
	if ((slot->ctx = net_redis_connect(dir_redis_client(c->redis), why, sizeof(why))) != NULL)
		return slot;
	pthread_mutex_lock(&c->lock);
	redis_note(c, 1, why, note, notelen);
	slot->busy = 0;
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* Gives the slot back; reply NULL means the context failed. */
static void
redis_give(dir_cache_t *c, redis_slot_t *slot, redisReply *reply, char *note,
    size_t notelen)
{
	pthread_mutex_lock(&c->lock);
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		redis_note(c, 1, reply != NULL ? reply->str : slot->ctx->errstr[0] ?
		    slot->ctx->errstr : "no reply", note, notelen);
		redisFree(slot->ctx);
		slot->ctx = NULL;
	} else {
		redis_note(c, 0, "", note, notelen);
	}
	slot->busy = 0;
	pthread_mutex_unlock(&c->lock);
	freeReplyObject(reply);
}

static redisReply *
redis_cmd(redis_slot_t *slot, const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	va_start(ap, fmt);
	r = redisvCommand(slot->ctx, fmt, ap);
	va_end(ap);
	return r;
}

/* The answer a GET returned, when its seal opens for this key. */
static enum dir_cache_hit
redis_value(dir_cache_t *c, const char *addr, const redisReply *r, X509 **cert,
    STACK_OF(X509) **chain, int *gcm, char *source, size_t srclen)
{
	const unsigned char *data;
	size_t len;
	char *key;
	enum dir_cache_hit hit = DIR_CACHE_MISS;

	if (asprintf(&key, "%s%s", c->prefix, addr) < 0)
		return DIR_CACHE_MISS;
	data = dir_redis_open(c->redis, key, NULL, (const unsigned char *)r->str, r->len,
	    &len);
	if (data != NULL)
		hit = dir_cache_value_parse(data, len, cert, gcm, source, srclen);
	if (hit == DIR_CACHE_POSITIVE && chain != NULL)
		*chain = value_chain(data, len);
	free(key);
	return hit;
}

/* value sealed for prefix + addr until now + ttl; NULL when out of memory. */
static unsigned char *
redis_seal(dir_cache_t *c, const char *addr, const unsigned char *v, size_t len,
    long ttl, size_t *outlen)
{
	unsigned char *sealed;
	char *key;

	if (asprintf(&key, "%s%s", c->prefix, addr) < 0)
		return NULL;
	sealed = dir_redis_seal(c->redis, key, NULL, time(NULL) + ttl, v, len, outlen);
	free(key);
	return sealed;
}

/* ---- the interface ---- */

enum dir_cache_hit
dir_cache_get(dir_cache_t *c, const char *addr, X509 **cert,
    STACK_OF(X509) **chain, int *gcm, char *source, size_t srclen, char *note,
    size_t notelen)
{
	enum dir_cache_hit hit = DIR_CACHE_MISS;

	*cert = NULL;
	if (chain != NULL)
		*chain = NULL;
	*gcm = 0;
	if (c->redis) {
		redis_slot_t *slot = redis_take(c, note, notelen);
		redisReply *r;

		if (slot == NULL)
			return DIR_CACHE_MISS;
		r = redis_cmd(slot, "GET %s%s", c->prefix, addr);
		if (r != NULL && r->type == REDIS_REPLY_STRING && r->len <= CACHE_MAX_VALUE)
			hit = redis_value(c, addr, r, cert, chain, gcm, source, srclen);
		redis_give(c, slot, r, note, notelen);
		return hit;
	}
	pthread_mutex_lock(&c->lock);
	mem_entry_t *e = mem_find(c, addr);
	if (e != NULL && e->expires <= time(NULL)) {
		mem_drop(c, e);
		e = NULL;
	}
	if (e != NULL) {
		e->used = time(NULL);
		hit = dir_cache_value_parse(e->val, e->len, cert, gcm, source, srclen);
		if (hit == DIR_CACHE_POSITIVE && chain != NULL)
			*chain = value_chain(e->val, e->len);
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

void
dir_cache_put(dir_cache_t *c, const char *addr, X509 *cert, STACK_OF(X509) *chain,
    int gcm, const char *source, char *note, size_t notelen)
{
	size_t len;
	unsigned char *v = value_make(cert, chain, gcm, source, &len);
	long ttl = cert ? c->ttl_pos : c->ttl_neg;

	if (v == NULL || ttl <= 0) {
		free(v);
		return;
	}
	if (c->redis) {
		unsigned char *sealed = redis_seal(c, addr, v, len, ttl, &len);
		redis_slot_t *slot = sealed ? redis_take(c, note, notelen) : NULL;

		if (slot != NULL)
			redis_give(c, slot, redis_cmd(slot, "SET %s%s %b EX %ld", c->prefix,
			    addr, sealed, len, ttl), note, notelen);
		free(sealed);
		free(v);
		return;
	}
	pthread_mutex_lock(&c->lock);
	mem_put(c, addr, v, len, ttl);
	pthread_mutex_unlock(&c->lock);
}

int
dir_cache_blob_get(dir_cache_t *c, const char *key, unsigned char **v, size_t *len,
    char *note, size_t notelen)
{
	const unsigned char *data;
	int hit = 0;

	*v = NULL;
	if (c->redis) {
		redis_slot_t *slot = redis_take(c, note, notelen);
		redisReply *r;
		char *full;

		if (slot == NULL)
			return 0;
		r = redis_cmd(slot, "GET %s%s", c->prefix, key);
		if (r != NULL && r->type == REDIS_REPLY_STRING && r->len <= CACHE_MAX_VALUE
		    && asprintf(&full, "%s%s", c->prefix, key) >= 0) {
			data = dir_redis_open(c->redis, full, NULL, (const unsigned char *)r->str,
			    r->len, len);
			if (data != NULL && (*v = malloc(*len ? *len : 1)) != NULL) {
				memcpy(*v, data, *len);
				hit = 1;
			}
			free(full);
		}
		redis_give(c, slot, r, note, notelen);
		return hit;
	}
	pthread_mutex_lock(&c->lock);
	mem_entry_t *e = mem_find(c, key);
	if (e != NULL && e->expires <= time(NULL)) {
		mem_drop(c, e);
		e = NULL;
	}
	if (e != NULL && (*v = malloc(e->len ? e->len : 1)) != NULL) {
		e->used = time(NULL);
		memcpy(*v, e->val, e->len);
		*len = e->len;
		hit = 1;
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

void
dir_cache_blob_put(dir_cache_t *c, const char *key, const unsigned char *v,
    size_t len, long ttl, char *note, size_t notelen)
{
	unsigned char *copy;

	if (ttl <= 0 || len > CACHE_MAX_VALUE / 2)
		return;
	if (c->redis) {
		size_t slen;
		unsigned char *sealed = redis_seal(c, key, v, len, ttl, &slen);
		redis_slot_t *slot = sealed ? redis_take(c, note, notelen) : NULL;

		if (slot != NULL)
			redis_give(c, slot, redis_cmd(slot, "SET %s%s %b EX %ld", c->prefix,
			    key, sealed, slen, ttl), note, notelen);
		free(sealed);
		return;
	}
	if ((copy = malloc(len ? len : 1)) == NULL)
		return;
	memcpy(copy, v, len);
	pthread_mutex_lock(&c->lock);
	mem_put(c, key, copy, len, ttl);
	pthread_mutex_unlock(&c->lock);
}

static int
redis_flush_all(dir_cache_t *c, redis_slot_t *slot, char *note, size_t notelen)
{
	char cursor[32] = "0";
	redisReply *r = NULL;

	for (int round = 0; round < CACHE_SCAN_MAX; round++) {
		r = redis_cmd(slot, "SCAN %s MATCH %s* COUNT 1000", cursor, c->prefix);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING)
			break;
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			redisReply *d = redis_cmd(slot, "DEL %b", r->element[1]->element[i]->str,
			    r->element[1]->element[i]->len);
			freeReplyObject(d);
		}
		if (strcmp(cursor, "0") == 0) {
			redis_give(c, slot, r, note, notelen);
			return 0;
		}
		freeReplyObject(r);
		r = NULL;
	}
	if (r != NULL && r->type == REDIS_REPLY_ERROR) {
		freeReplyObject(r);
		r = NULL;
	}
	redis_give(c, slot, r, note, notelen);
	return -1;
}

int
dir_cache_del(dir_cache_t *c, const char *addr, char *err, size_t errlen)
{
	char note[256] = "";

	if (c->redis) {
		redis_slot_t *slot = redis_take(c, note, sizeof(note));

		if (slot == NULL) {
			snprintf(err, errlen, "%s", note[0] ? note : "cache unavailable");
			return -1;
		}
		if (addr == NULL)
			return redis_flush_all(c, slot, note, sizeof(note)) == 0 ? 0 :
			    (snprintf(err, errlen, "SCAN/DEL failed"), -1);
		redisReply *r = redis_cmd(slot, "DEL %s%s", c->prefix, addr);
		int ok = r != NULL && r->type == REDIS_REPLY_INTEGER;
		redis_give(c, slot, r, note, sizeof(note));
		if (!ok)
			snprintf(err, errlen, "DEL failed");
		return ok ? 0 : -1;
	}
	pthread_mutex_lock(&c->lock);
	for (size_t i = c->nmem; i-- > 0;)
		if (addr == NULL || strcmp(c->mem[i].addr, addr) == 0)
			mem_drop(c, &c->mem[i]);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int
dir_cache_ping(dir_cache_t *c, char *err, size_t errlen)
{
	struct redisContext *ctx;
	redisReply *r = NULL;
	char why[256];
	int up;

	if (!c->redis)
		return 1;
	if ((ctx = net_redis_connect(dir_redis_client(c->redis), why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "%s: %s", c->name, why);
		return -1;
	}
	r = redisCommand(ctx, "PING");
	up = r != NULL && r->type == REDIS_REPLY_STATUS;
	if (!up)
		snprintf(err, errlen, "%s: %s", c->name, ctx->errstr[0] ? ctx->errstr
		    : r != NULL && r->str ? r->str : "no reply");
	freeReplyObject(r);
	redisFree(ctx);
	return up ? 0 : -1;
}
