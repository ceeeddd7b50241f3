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

#endif
