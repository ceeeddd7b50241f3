/*
 * smime_init.c: the library's one-time set-up.  GMime needs g_mime_init()
 * once per process (it fills charset tables and registers the MIME object
 * types); OpenSSL 3 initialises itself.
 *
 * Threads: safe to call from any number of threads, any number of times.
 */
#include "smime/smime_int.h"

#include <pthread.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void
init_gmime(void)
{
	g_mime_init();
}

void
smime_init(void)
{
	pthread_once(&init_once, init_gmime);
}
