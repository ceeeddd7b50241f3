/*
 * net_redis.h: smimegate's one Redis client (hiredis), used by the
 * lookup cache (directory/dir_cache.c) and the harvest store
 * (directory/dir_harvest.c): the server, the timeouts and AUTH.
 *
 * A connection: redisConnectWithTimeout, redisSetTimeout (every command
 * bounded by the same timeout), then AUTH with the first line of the
 * password file (read by util_secret_read_line(): no symbolic link, owner
 * us or root, mode 0600 or 0400) and, for Redis 6 ACLs, the user ("AUTH
 * user password") before any other command; a server that refuses the
 * password gives no context.
 *
 * Ownership and threads: a net_redis_t is immutable after net_redis_new()
 * and may be shared; its password is cleansed when it is freed.  A
 * context is used by one thread at a time and belongs to the caller
 * (redisFree()).  No logging; errors in the caller's buffer, never with
 * the password.
 *
 * A pool (net_redis_pool_*) shares a few contexts between threads: each
 * context is used by one thread at a time; a thread that finds them all
 * busy waits for one, at most the pool's wait, instead of going without.
 * The pool has its own lock and condition variable; it may be shared.
 */
#ifndef SMIMEGATE_NET_REDIS_H
#define SMIMEGATE_NET_REDIS_H

#include <stdarg.h>
#include <stddef.h>

struct redisContext;
struct redisReply;

#define NET_REDIS_SECRET_MAX 1024       /* octets of a password file */

typedef struct net_redis net_redis_t;

typedef struct net_redis_settings {
	const char *server;         /* "host:port" */
	int timeout_ms;             /* connect, and each command */
	const char *password_file;  /* NULL or "": no AUTH */
	const char *user;           /* ACL user, NULL or "": none (needs a
	                               password file) */
} net_redis_settings_t;

/* Parses the server and reads the password file; connects to nothing.
 * NULL with err. */
net_redis_t *net_redis_new(const net_redis_settings_t *s, char *err,
    size_t errlen);
void net_redis_free(net_redis_t *r);
/* "host:port" */
const char *net_redis_name(const net_redis_t *r);

/* A new connection, timeouts set and AUTH done; NULL with err ("host:port:
 * why").  The caller frees it with redisFree(). */
struct redisContext *net_redis_connect(const net_redis_t *r, char *err,
    size_t errlen);

/*
 * One command (redisCommand's format, %b for binary) on *ctx, connected first when NULL;
 * a context that fails is freed and connected again once.  The reply (the
 * caller's, freeReplyObject()), or NULL with err ("host:port: why") when
 * Redis is down or answers an error (*ctx is kept then: it still works).
 */
struct redisReply *net_redis_command(const net_redis_t *r,
    struct redisContext **ctx, char *err, size_t errlen, const char *fmt, ...);
struct redisReply *net_redis_vcommand(const net_redis_t *r,
    struct redisContext **ctx, char *err, size_t errlen, const char *fmt,
    va_list ap);

/* ---- a pool of contexts ---- */
typedef struct net_redis_pool net_redis_pool_t;

enum net_redis_take {
	NET_REDIS_TAKEN = 0,        /* *ctx is a connected context, ours */
	NET_REDIS_BUSY,             /* every context stayed busy for the wait */
	NET_REDIS_DOWN              /* no connection (err says why) */
};

/* At most size contexts to r's server (borrowed: it outlives the pool);
 * a thread waits at most wait_ms for a busy one; after a failure a new
 * connection is tried at most every retry seconds (meanwhile take
 * answers DOWN at once).  NULL when out of memory. */
net_redis_pool_t *net_redis_pool_new(const net_redis_t *r, int size,
    int wait_ms, int retry);
/* Every context must have been given back. */
void net_redis_pool_free(net_redis_pool_t *p);
/* A context for this thread: an idle one, else a new connection in a
 * free place, else (all busy) the first given back within the wait.
 * *changed: 1 when this call found the server down (it was up). */
enum net_redis_take net_redis_pool_take(net_redis_pool_t *p,
    struct redisContext **ctx, int *changed, char *err, size_t errlen);
/* Gives ctx back; failed: it must not be used again (freed here), and
 * the server counts as down.  1 when the server's state changed by this
 * (went down, or came back), else 0. */
int net_redis_pool_give(net_redis_pool_t *p, struct redisContext *ctx,
    int failed);
/* Takes that had to wait, and those that waited in vain (since made). */
void net_redis_pool_stats(net_redis_pool_t *p, unsigned long *waits,
    unsigned long *timeouts);

#endif
