/*
 * dir_cache.c: lookup answers kept for a while: positive entries (the
 * chosen certificate, DER, with where it came from) for the positive TTL,
 * negative ones ("no certificate") for the negative TTL.  In Redis
 * (hiredis, SET key value EX ttl, keys = prefix + normalised address)
 * when one is configured, else in a bounded in-process table (dir_tier.c).
 *
 * The tier: with Redis, a small in-process table (CacheTierSize entries)
 * stands in front of it for hot entries: an entry read from or written to
 * Redis is kept there at most CacheTierTTL seconds and never past the end
 * of the Redis entry's own time (its seal's expiry), so a warm recipient
 * costs no round trip.  A reload makes a new cache, so a new empty tier.
 * A positive entry's certificate and chain are kept in the tier next to
 * its value, as objects: those it was made of (put), or parsed from it
 * once (read from Redis); a hit hands out references to them
 * (dir_tier_put_certs, dir_tier_get_certs), so a warm recipient costs no
 * decoding either.
 *
 * Stale answers: a positive entry stays in the in-process table
 * CacheStaleTime seconds past the end of its time (Redis's, or its TTL
 * without Redis), served only by dir_cache_get_stale(): the lookup asks
 * for it when the directories cannot answer, and checks the certificate
 * again as for any cached one (validity, revocation).  Negative entries
 * are never served stale.
 *
 * Other answers kept under a key of their own (dir_cache_blob_get/put:
 * OCSP answers of dir_ocsp.c, keys "ocsp:" + hex, which no normalised
 * address equals) live in the same table or Redis, sealed the same way,
 * for the time their caller gives (in the tier: never stale).
 *
 * Value: "P" gcm('0'|'1') source "\n" DER, or "N"; in Redis sealed by
 * dir_redis_seal() for its key until its TTL ends: a value whose seal does
 * not open (forged, copied from another address, replayed past its time)
 * is a miss, so the directories are asked.
 *
 * Redis is never needed: its connections come from a pool
 * (net_redis_pool_*, CACHE_REDIS_SLOTS of them); a thread that finds them
 * all busy waits at most RedisPoolWait, then counts a miss.  When Redis
 * fails the cache is "down" and answers miss at once; a reconnect is
 * tried at most every CACHE_RETRY seconds.  The first failure and the
 * recovery each leave one note for the caller to log, so an outage is
 * logged once.
 *
 * Threads: the tier and the pool each have their own lock; the counters
 * are atomic.
 */
#include "directory/dir_int.h"
#include "net/net_redis.h"

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

#define ADD(x) __atomic_add_fetch(&(x), 1, __ATOMIC_RELAXED)
#define GET(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

struct dir_cache {
	char name[300];
	long ttl_pos, ttl_neg;
	long tier_ttl;              /* with Redis: at most this long in the tier */
	long stale;                 /* positives kept this long past their time */
	dir_tier_t *tier;           /* the whole cache without Redis, else the tier */
	const dir_redis_t *redis;   /* borrowed; NULL: in-process */
	char *prefix;
	net_redis_pool_t *pool;
	unsigned long tier_hits, tier_misses, stale_served;
};

dir_cache_t *
dir_cache_new(const dir_settings_t *s, const dir_redis_t *r, char *err,
    size_t errlen)
{
	dir_cache_t *c = calloc(1, sizeof(*c));

	if (c == NULL || (c->prefix = strdup(s->redis_prefix ? s->redis_prefix : "")) == NULL
	    || (c->tier = dir_tier_new(r != NULL ? s->tier_size : s->mem_cache_size)) == NULL
	    || (r != NULL && (c->pool = net_redis_pool_new(dir_redis_client(r),
	    CACHE_REDIS_SLOTS, s->redis_pool_wait_ms, CACHE_RETRY)) == NULL)) {
		dir_cache_free(c);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->ttl_pos = s->ttl_positive;
	c->ttl_neg = s->ttl_negative;
	c->tier_ttl = s->tier_ttl;
	c->stale = s->stale_seconds;
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
	dir_tier_free(c->tier);
	net_redis_pool_free(c->pool);
	free(c->prefix);
	free(c);
}

const char *
dir_cache_name(const dir_cache_t *c)
{
	return c->name;
}

void
dir_cache_stats(dir_cache_t *c, dir_cache_stats_t *st)
{
	memset(st, 0, sizeof(*st));
	st->tier_hits = GET(c->tier_hits);
	st->tier_misses = GET(c->tier_misses);
	st->stale_served = GET(c->stale_served);
	st->tier_entries = dir_tier_count(c->tier);
	if (c->pool != NULL)
		net_redis_pool_stats(c->pool, &st->pool_waits, &st->pool_timeouts);
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

/* What a value says besides its certificates: NEGATIVE, POSITIVE with
 * *gcm and source and *der (where the certificate's DER begins), or MISS
 * when it is neither. */
static enum dir_cache_hit
value_head(const unsigned char *v, size_t len, int *gcm, char *source, size_t srclen,
    const unsigned char **der)
{
	const unsigned char *nl;

	if (len == 1 && v[0] == 'N')
		return DIR_CACHE_NEGATIVE;
	if (len < 4 || v[0] != 'P' || (nl = memchr(v + 2, '\n', len - 2)) == NULL)
		return DIR_CACHE_MISS;
	*gcm = v[1] == '1';
	snprintf(source, srclen, "%.*s", (int)(nl - (v + 2)), (const char *)v + 2);
	*der = nl + 1;
	return DIR_CACHE_POSITIVE;
}

enum dir_cache_hit
dir_cache_value_parse(const unsigned char *v, size_t len, X509 **cert, int *gcm,
    char *source, size_t srclen)
{
	const unsigned char *p;
	int g = 0;
	enum dir_cache_hit hit = value_head(v, len, &g, source, srclen, &p);

	if (hit != DIR_CACHE_POSITIVE)
		return hit;
	if ((*cert = d2i_X509(NULL, &p, (long)(len - (size_t)(p - v)))) == NULL)
		return DIR_CACHE_MISS;
	*gcm = g;
	return DIR_CACHE_POSITIVE;
}

/* A value's answer, with its chain when asked. */
static enum dir_cache_hit
value_decode(const unsigned char *v, size_t len, X509 **cert, STACK_OF(X509) **chain,
    int *gcm, char *source, size_t srclen)
{
	enum dir_cache_hit hit = dir_cache_value_parse(v, len, cert, gcm, source, srclen);

	if (hit == DIR_CACHE_POSITIVE && chain != NULL)
		*chain = value_chain(v, len);
	return hit;
}

/* ---- the in-process table ---- */

/* Keeps v for key (with cert and chain, what v was parsed into, when not
 * NULL): until (the end of its time; 0: none known, then the tier's
 * own), at most the tier's time with Redis; a positive one kept for
 * stale use after. */
static void
tier_keep(dir_cache_t *c, const char *key, const unsigned char *v, size_t len,
    X509 *cert, STACK_OF(X509) *chain, time_t until, int may_stale)
{
	time_t now = time(NULL), fresh = until;

	if (c->redis != NULL && (fresh == 0 || fresh > now + c->tier_ttl))
		fresh = now + c->tier_ttl;
	(void)dir_tier_put_certs(c->tier, key, v, len, cert, chain, fresh,
	    may_stale && until != 0 && c->stale > 0 ? until + c->stale : 0, now);
}

/*
 * A tier entry's answer: the certificates it holds, parsed when it was
 * kept (*cert and *chain: the caller's references), or, for an entry
 * that holds none, parsed now.  The head (gcm, source) is read from the
 * value itself.
 */
static enum dir_cache_hit
tier_answer(const unsigned char *v, size_t len, X509 **cert, STACK_OF(X509) **chain,
    int *gcm, char *source, size_t srclen)
{
	const unsigned char *der;
	enum dir_cache_hit hit;

	if (*cert == NULL) {
		sk_X509_pop_free(*chain, X509_free);
		*chain = NULL;
		return value_decode(v, len, cert, chain, gcm, source, srclen);
	}
	if ((hit = value_head(v, len, gcm, source, srclen, &der)) != DIR_CACHE_POSITIVE) {
		X509_free(*cert);
		sk_X509_pop_free(*chain, X509_free);
		*cert = NULL;
		*chain = NULL;
		*gcm = 0;
	}
	return hit;
}

/* ---- Redis ---- */

static void
redis_note(dir_cache_t *c, int down, const char *why, char *note, size_t notelen)
{
	if (down)
		snprintf(note, notelen, "cache %.80s unavailable (%.80s): looking up "
		    "in the directories until it is back", c->name, why);
	else
		snprintf(note, notelen, "cache %.200s is back", c->name);
}

/* A connected context from the pool, or NULL (down, or busy past the
 * wait). */
static redisContext *
redis_take(dir_cache_t *c, char *note, size_t notelen)
{
	redisContext *ctx;
	char why[256];
	int changed;

	if (net_redis_pool_take(c->pool, &ctx, &changed, why, sizeof(why)) == NET_REDIS_TAKEN)
		return ctx;
	if (changed)
		redis_note(c, 1, why, note, notelen);
	return NULL;
}

/* Gives the context back; reply NULL (or an error) means it failed. */
static void
redis_give(dir_cache_t *c, redisContext *ctx, redisReply *reply, char *note,
    size_t notelen)
{
	int failed = reply == NULL || reply->type == REDIS_REPLY_ERROR;
	char why[256] = "";

	if (failed)
		snprintf(why, sizeof(why), "%s", reply != NULL ? reply->str
		    : ctx->errstr[0] ? ctx->errstr : "no reply");
	if (net_redis_pool_give(c->pool, ctx, failed))
		redis_note(c, failed, why, note, notelen);
	freeReplyObject(reply);
}

static redisReply *
redis_cmd(redisContext *ctx, const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	va_start(ap, fmt);
	r = redisvCommand(ctx, fmt, ap);
	va_end(ap);
	return r;
}

/* GET prefix + key: the data of its value (malloc'ed, *len octets) when
 * its seal opens, and the end of its time; NULL otherwise. */
static unsigned char *
redis_get(dir_cache_t *c, const char *key, size_t *len, time_t *until, char *note,
    size_t notelen)
{
	redisContext *ctx = redis_take(c, note, notelen);
	const unsigned char *data;
	unsigned char *v = NULL;
	redisReply *r;
	char *full;

	if (ctx == NULL)
		return NULL;
	r = redis_cmd(ctx, "GET %s%s", c->prefix, key);
	if (r != NULL && r->type == REDIS_REPLY_STRING && r->len <= CACHE_MAX_VALUE
	    && asprintf(&full, "%s%s", c->prefix, key) >= 0) {
		data = dir_redis_open(c->redis, full, NULL, (const unsigned char *)r->str,
		    r->len, len);
		if (data != NULL && (v = malloc(*len ? *len : 1)) != NULL) {
			memcpy(v, data, *len);
			*until = dir_redis_expiry((const unsigned char *)r->str, r->len);
		}
		free(full);
	}
	redis_give(c, ctx, r, note, notelen);
	return v;
}

/* SET prefix + key, sealed until now + ttl. */
static void
redis_set(dir_cache_t *c, const char *key, const unsigned char *v, size_t len,
    long ttl, char *note, size_t notelen)
{
	unsigned char *sealed;
	redisContext *ctx;
	size_t slen;
	char *full;

	if (asprintf(&full, "%s%s", c->prefix, key) < 0)
		return;
	sealed = dir_redis_seal(c->redis, full, NULL, time(NULL) + ttl, v, len, &slen);
	if (sealed != NULL && (ctx = redis_take(c, note, notelen)) != NULL)
		redis_give(c, ctx, redis_cmd(ctx, "SET %s %b EX %ld", full, sealed, slen,
		    ttl), note, notelen);
	free(sealed);
	free(full);
}

/* ---- the interface ---- */

/* The caller's chain when asked (want), else none. */
static void
chain_give(STACK_OF(X509) *got, STACK_OF(X509) **want)
{
	if (want != NULL)
		*want = got;
	else
		sk_X509_pop_free(got, X509_free);
}

enum dir_cache_hit
dir_cache_get(dir_cache_t *c, const char *addr, X509 **cert,
    STACK_OF(X509) **chain, int *gcm, char *source, size_t srclen, char *note,
    size_t notelen)
{
	enum dir_cache_hit hit = DIR_CACHE_MISS;
	STACK_OF(X509) *ch = NULL;
	unsigned char *v;
	size_t len;
	time_t until = 0;

	*cert = NULL;
	if (chain != NULL)
		*chain = NULL;
	*gcm = 0;
	if (dir_tier_get_certs(c->tier, addr, 0, time(NULL), &v, &len, cert,
	    chain != NULL ? &ch : NULL) == DIR_TIER_FRESH) {
		ADD(c->tier_hits);
		hit = tier_answer(v, len, cert, &ch, gcm, source, srclen);
	} else {
		ADD(c->tier_misses);
		if (c->redis == NULL || (v = redis_get(c, addr, &len, &until, note,
		    notelen)) == NULL)
			return DIR_CACHE_MISS;
		/* Parsed once here; the tier keeps what it was parsed into. */
		hit = value_decode(v, len, cert, &ch, gcm, source, srclen);
		tier_keep(c, addr, v, len, *cert, ch, until, 1);
	}
	chain_give(ch, chain);
	free(v);
	return hit;
}

enum dir_cache_hit
dir_cache_get_stale(dir_cache_t *c, const char *addr, X509 **cert,
    STACK_OF(X509) **chain, int *gcm, char *source, size_t srclen)
{
	enum dir_cache_hit hit = DIR_CACHE_MISS;
	STACK_OF(X509) *ch = NULL;
	unsigned char *v;
	size_t len;

	*cert = NULL;
	if (chain != NULL)
		*chain = NULL;
	*gcm = 0;
	if (dir_tier_get_certs(c->tier, addr, 1, time(NULL), &v, &len, cert,
	    chain != NULL ? &ch : NULL) == DIR_TIER_NONE)
		return DIR_CACHE_MISS;
	if (len > 0 && v[0] == 'P')
		hit = tier_answer(v, len, cert, &ch, gcm, source, srclen);
	if (hit == DIR_CACHE_POSITIVE) {
		ADD(c->stale_served);
		chain_give(ch, chain);
	} else {
		X509_free(*cert);
		*cert = NULL;
		*gcm = 0;
		sk_X509_pop_free(ch, X509_free);
	}
	free(v);
	return hit;
}

/* The first CACHE_MAX_CHAIN certificates of chain (may be NULL) in a
 * new stack that holds no references: what value_make() keeps of it. */
static STACK_OF(X509) *
chain_kept(STACK_OF(X509) *chain)
{
	int n = sk_X509_num(chain) < CACHE_MAX_CHAIN ? sk_X509_num(chain) : CACHE_MAX_CHAIN;
	STACK_OF(X509) *out = sk_X509_new_reserve(NULL, n > 0 ? n : 1);

	for (int i = 0; out != NULL && i < n; i++)
		(void)sk_X509_push(out, sk_X509_value(chain, i));
	return out;
}

void
dir_cache_put(dir_cache_t *c, const char *addr, X509 *cert, STACK_OF(X509) *chain,
    int gcm, const char *source, char *note, size_t notelen)
{
	size_t len = 0;
	unsigned char *v = value_make(cert, chain, gcm, source, &len);
	long ttl = cert ? c->ttl_pos : c->ttl_neg;
	STACK_OF(X509) *kept = cert != NULL ? chain_kept(chain) : NULL;

	if (v != NULL && ttl > 0) {
		/* The tier holds the objects the value was made of (a value
		 * that parses into them: no parse needed); without a chain
		 * (out of memory) none, and a reader parses the value. */
		tier_keep(c, addr, v, len, kept ? cert : NULL, kept, time(NULL) + ttl,
		    cert != NULL);
		if (c->redis != NULL)
			redis_set(c, addr, v, len, ttl, note, notelen);
	}
	sk_X509_free(kept);
	free(v);
}

int
dir_cache_blob_get(dir_cache_t *c, const char *key, unsigned char **v, size_t *len,
    char *note, size_t notelen)
{
	time_t until = 0;

	if (dir_tier_get(c->tier, key, 0, time(NULL), v, len) == DIR_TIER_FRESH)
		return 1;
	if (c->redis == NULL || (*v = redis_get(c, key, len, &until, note, notelen)) == NULL)
		return 0;
	tier_keep(c, key, *v, *len, NULL, NULL, until, 0);
	return 1;
}

void
dir_cache_blob_put(dir_cache_t *c, const char *key, const unsigned char *v,
    size_t len, long ttl, char *note, size_t notelen)
{
	if (ttl <= 0 || len > CACHE_MAX_VALUE / 2)
		return;
	tier_keep(c, key, v, len, NULL, NULL, time(NULL) + ttl, 0);
	if (c->redis != NULL)
		redis_set(c, key, v, len, ttl, note, notelen);
}

static int
redis_flush_all(dir_cache_t *c, redisContext *ctx, char *note, size_t notelen)
{
	char cursor[32] = "0";
	redisReply *r = NULL;

	for (int round = 0; round < CACHE_SCAN_MAX; round++) {
		r = redis_cmd(ctx, "SCAN %s MATCH %s* COUNT 1000", cursor, c->prefix);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING)
			break;
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			redisReply *d = redis_cmd(ctx, "DEL %b", r->element[1]->element[i]->str,
			    r->element[1]->element[i]->len);
			freeReplyObject(d);
		}
		if (strcmp(cursor, "0") == 0) {
			redis_give(c, ctx, r, note, notelen);
			return 0;
		}
		freeReplyObject(r);
		r = NULL;
	}
	if (r != NULL && r->type == REDIS_REPLY_ERROR) {
		freeReplyObject(r);
		r = NULL;
	}
	redis_give(c, ctx, r, note, notelen);
	return -1;
}

int
dir_cache_del(dir_cache_t *c, const char *addr, char *err, size_t errlen)
{
	char note[256] = "";
	redisContext *ctx;
	redisReply *r;
	int ok;

	dir_tier_del(c->tier, addr);
	if (c->redis == NULL)
		return 0;
	if ((ctx = redis_take(c, note, sizeof(note))) == NULL) {
		snprintf(err, errlen, "%s", note[0] ? note : "cache unavailable");
		return -1;
	}
	if (addr == NULL)
		return redis_flush_all(c, ctx, note, sizeof(note)) == 0 ? 0 :
		    (snprintf(err, errlen, "SCAN/DEL failed"), -1);
	r = redis_cmd(ctx, "DEL %s%s", c->prefix, addr);
	ok = r != NULL && r->type == REDIS_REPLY_INTEGER;
	redis_give(c, ctx, r, note, sizeof(note));
	if (!ok)
		snprintf(err, errlen, "DEL failed");
	return ok ? 0 : -1;
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
