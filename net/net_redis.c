/*
 * net_redis.c: the Redis client (see net_redis.h): the server, the
 * password, connecting with AUTH, one command with one reconnect.
 *
 * Threads: a net_redis_t is only read after net_redis_new(); contexts are
 * the callers'.
 */
#include "net/net_redis.h"
#include "util/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <hiredis/hiredis.h>

struct net_redis {
	char host[256];
	int port;
	char name[300];             /* "host:port" */
	struct timeval tv;
	char *user;                 /* ACL user, or NULL */
	char *password;             /* NULL: no AUTH */
};

static int
parse_server(net_redis_t *r, const char *server, char *err, size_t errlen)
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
load_auth(net_redis_t *r, const net_redis_settings_t *s, char *err, size_t errlen)
{
	int user = s->user != NULL && *s->user != '\0';
	int pwfile = s->password_file != NULL && *s->password_file != '\0';

	if (user && !pwfile) {
		snprintf(err, errlen, "%s: a Redis user needs a password file", r->name);
		return -1;
	}
	if (user && (r->user = strdup(s->user)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (pwfile && util_secret_read_line(s->password_file, NET_REDIS_SECRET_MAX,
	    &r->password, err, errlen) != 0)
		return -1;
	return 0;
}

net_redis_t *
net_redis_new(const net_redis_settings_t *s, char *err, size_t errlen)
{
	net_redis_t *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->tv.tv_sec = s->timeout_ms / 1000;
	r->tv.tv_usec = (s->timeout_ms % 1000) * 1000;
	if (parse_server(r, s->server != NULL ? s->server : "", err, errlen) != 0 ||
	    load_auth(r, s, err, errlen) != 0) {
		net_redis_free(r);
		return NULL;
	}
	return r;
}

void
net_redis_free(net_redis_t *r)
{
	if (r == NULL)
		return;
	free(r->user);
	if (r->password != NULL)
		util_secret_free(r->password, strlen(r->password));
	free(r);
}

const char *
net_redis_name(const net_redis_t *r)
{
	return r->name;
}

/* AUTH on a new context: 0, or -1 with err (the server's answer, never
 * the password). */
static int
redis_auth(const net_redis_t *r, redisContext *ctx, char *err, size_t errlen)
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
net_redis_connect(const net_redis_t *r, char *err, size_t errlen)
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

redisReply *
net_redis_vcommand(const net_redis_t *r, redisContext **ctx, char *err,
    size_t errlen, const char *fmt, va_list ap)
{
	redisReply *rep = NULL;
	va_list aq;

	for (int tries = 0; tries < 2 && rep == NULL; tries++) {
		if (*ctx == NULL && (*ctx = net_redis_connect(r, err, errlen)) == NULL)
			return NULL;
		va_copy(aq, ap);
		rep = redisvCommand(*ctx, fmt, aq);
		va_end(aq);
		if (rep == NULL) {
			snprintf(err, errlen, "%s: %s", r->name,
			    (*ctx)->errstr[0] ? (*ctx)->errstr : "no reply");
			redisFree(*ctx);
			*ctx = NULL;
		}
	}
	if (rep != NULL && rep->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "%s: %.200s", r->name, rep->str);
		freeReplyObject(rep);
		return NULL;
	}
	return rep;
}

redisReply *
net_redis_command(const net_redis_t *r, redisContext **ctx, char *err,
    size_t errlen, const char *fmt, ...)
{
	redisReply *rep;
	va_list ap;

	va_start(ap, fmt);
	rep = net_redis_vcommand(r, ctx, err, errlen, fmt, ap);
	va_end(ap);
	return rep;
}
