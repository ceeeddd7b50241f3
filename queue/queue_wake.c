/*
 * queue_wake.c: waking the spool's runner (see queue_wake.h): a mutex,
 * a condition variable, a kick flag and a stop flag.
 */
#include "queue/queue_wake.h"

#include <pthread.h>
#include <time.h>

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int kicked;
	int stopping;               /* queue_stop(): the runner ends */
} wake = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };

void
queue_kick(void)
{
	pthread_mutex_lock(&wake.lock);
	wake.kicked = 1;
	pthread_cond_signal(&wake.cond);
	pthread_mutex_unlock(&wake.lock);
}

void
queue_stop(void)
{
	pthread_mutex_lock(&wake.lock);
	wake.stopping = 1;
	pthread_cond_signal(&wake.cond);
	pthread_mutex_unlock(&wake.lock);
}

int
queue_stopping(void)
{
	int stop;

	pthread_mutex_lock(&wake.lock);
	stop = wake.stopping;
	pthread_mutex_unlock(&wake.lock);
	return stop;
}

int
queue_wait(long long secs)
{
	struct timespec ts;
	int stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)secs;
	pthread_mutex_lock(&wake.lock);
	while (!wake.kicked && !wake.stopping)
		if (pthread_cond_timedwait(&wake.cond, &wake.lock, &ts) != 0)
			break;
	wake.kicked = 0;
	stop = wake.stopping;
	pthread_mutex_unlock(&wake.lock);
	return stop;
}
