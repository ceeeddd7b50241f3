/*
 * net_redis_pool.c: a few Redis contexts shared by threads (see
 * net_redis.h).  Idle connected contexts are kept on a stack; "out"
 * counts the places taken (a context in use, or one being connected).
 * A thread that finds every place taken waits on the condition variable,
 * at most the pool's wait (CLOCK_MONOTONIC), for a context given back.
 *
 * Down: a connection that failed, or a context given back as failed,
 * marks the server down; while it is, a new connection is tried at most
 * every retry seconds and take answers DOWN at once in between (idle
 * contexts are still handed out: a live one is the best test).  A
 * context given back working marks it up again.
 *
 * Threads: one mutex guards everything; connecting and freeing happen
 * outside it.
 */
#include "net/net_redis.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <hiredis/hiredis.h>

struct net_redis_pool {
	const net_redis_t *r;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int size, wait_ms, retry;
	redisContext **idle;        /* size places */
	int nidle;
	int out;                    /* places in use or connecting */
	int down;
	time_t last_try;
	unsigned long waits, timeouts;
};

net_redis_pool_t *
net_redis_pool_new(const net_redis_t *r, int size, int wait_ms, int retry)
{
	net_redis_pool_t *p = calloc(1, sizeof(*p));
	pthread_condattr_t ca;

	if (p == NULL || (p->idle = calloc((size_t)(size > 0 ? size : 1),
	    sizeof(*p->idle))) == NULL) {
		free(p);
		return NULL;
	}
	p->r = r;
	p->size = size > 0 ? size : 1;
	p->wait_ms = wait_ms > 0 ? wait_ms : 0;
	p->retry = retry;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	return p;
}

void
net_redis_pool_free(net_redis_pool_t *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < p->nidle; i++)
		redisFree(p->idle[i]);
	free(p->idle);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static void
deadline_set(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Under the lock, a place free: connect in it (unlocking meanwhile). */
static enum net_redis_take
pool_connect(net_redis_pool_t *p, redisContext **ctx, int *changed, char *err,
    size_t errlen)
{
	time_t now = time(NULL);

	if (p->down && now - p->last_try < p->retry) {
		snprintf(err, errlen, "%s: down (tried %lds ago)", net_redis_name(p->r),
		    (long)(now - p->last_try));
		pthread_mutex_unlock(&p->lock);
		return NET_REDIS_DOWN;
	}
	p->out++;
	p->last_try = now;
	pthread_mutex_unlock(&p->lock);
	if ((*ctx = net_redis_connect(p->r, err, errlen)) != NULL)
		return NET_REDIS_TAKEN;
	pthread_mutex_lock(&p->lock);
	p->out--;
	*changed = !p->down;
	p->down = 1;
	p->last_try = time(NULL);
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return NET_REDIS_DOWN;
}

enum net_redis_take
net_redis_pool_take(net_redis_pool_t *p, redisContext **ctx, int *changed,
    char *err, size_t errlen)
{
	struct timespec deadline;
	int waited = 0, late = 0;

	*ctx = NULL;
	*changed = 0;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		if (p->nidle > 0) {
			*ctx = p->idle[--p->nidle];
			p->out++;
			pthread_mutex_unlock(&p->lock);
			return NET_REDIS_TAKEN;
		}
		if (p->out < p->size)
			return pool_connect(p, ctx, changed, err, errlen);
		if (late)
			break;
		if (!waited) {
			waited = 1;
			p->waits++;
			deadline_set(&deadline, p->wait_ms);
		}
		/* After the time ran out: one more look, then give up. */
		late = p->wait_ms == 0 || pthread_cond_timedwait(&p->cond, &p->lock,
		    &deadline) == ETIMEDOUT;
	}
	p->timeouts++;
	pthread_mutex_unlock(&p->lock);
	snprintf(err, errlen, "%s: every connection busy for %d ms", net_redis_name(p->r),
	    p->wait_ms);
	return NET_REDIS_BUSY;
}

int
net_redis_pool_give(net_redis_pool_t *p, redisContext *ctx, int failed)
{
	int changed;

	pthread_mutex_lock(&p->lock);
	p->out--;
	changed = p->down != failed;
	p->down = failed;
	if (failed)
		p->last_try = time(NULL);
	else
		p->idle[p->nidle++] = ctx;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	if (failed && ctx != NULL)
		redisFree(ctx);
	return changed;
}

void
net_redis_pool_stats(net_redis_pool_t *p, unsigned long *waits,
    unsigned long *timeouts)
{
	pthread_mutex_lock(&p->lock);
	*waits = p->waits;
	*timeouts = p->timeouts;
	pthread_mutex_unlock(&p->lock);
}
