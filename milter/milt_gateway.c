/*
 * milt_gateway.c: the running gateway (see milt_gateway.h): what the
 * daemon opens at start, every thread it runs, and the order in which
 * they stop.
 *
 * Threads, each started here and joined in milt_gateway_stop():
 *   - the audit log's checkpoint timer (mail_audit_start/close);
 *   - the spool runner (runner_loop: mail_runner_run on every kick and
 *     every QueueRunInterval, ended by queue_stop; it also destroys the
 *     keys of leavers past RetireRetention, ops_keystore_purge, and drops
 *     decrypted keys kept past KeyCacheTime);
 *   - the renewal of employees' certificates (renew_loop: ca_renew_due
 *     every RenewInterval, with the embedded CA only, ended by renew_stop);
 *   - one loop per HTTP server (net_http_run, ended by net_http_stop);
 *     the CA's CRL timer is an event on its server's loop;
 *   - the reload thread (SIGHUP; reload_loop), woken by the main thread;
 *   - libmilter's (milt_mfapi_run), which ends on SIGTERM or SIGINT.
 * Each run of the runner and each HTTP request reads the configuration in
 * force (a SIGHUP's), held by a reference for that run or request.
 */
#include "milter/milt_gateway.h"
#include "milter/milt_mfapi.h"
#include "ca/ca_renew.h"
#include "ca/ca_serve.h"
#include "enroll/enroll.h"
#include "enroll/enroll_portal.h"
#include "audit/audit.h"
#include "mail/mail_runner.h"
#include "queue/queue_wake.h"
#include "net/net_http.h"
#include "ops/ops_audit.h"
#include "ops/ops_http.h"
#include "ops/ops_keystore.h"
#include "ops/ops_log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

/* An HTTP server and the thread that runs its loop. */
struct http_loop {
	net_http_t *srv;
	pthread_t thread;
	int running;
};

struct milt_gateway {
	conf_t *conf;                  /* the start's */
	milt_gateway_src_t src;
	keystore_t *ks;
	mail_audit_t *audit;           /* NULL: AuditLog no */
	ca_t *ca;                      /* the embedded CA, when enabled */
	int listening;                 /* milt_mfapi_listen() took conf */
	struct http_loop ops_loop, ca_loop;
	ops_http_t *ops;
	ca_serve_http_t *ca_http;
	enroll_portal_t *portal;       /* the pickup portal, on ca_http's server */
	pthread_t runner;
	int runner_running;
	struct {
		pthread_mutex_t lock;
		pthread_cond_t cond;
		int stop, running;
		pthread_t thread;
	} renew;
	struct {
		pthread_mutex_t lock;
		pthread_cond_t cond;
		int asked, stop, running;
		pthread_t thread;
	} reload;
	pthread_t main;                /* milt_gateway_serve()'s, for SIGUSR2 */
	int milter_rc;
	size_t secure_heap;            /* OpenSSL's, octets; 0: not in use */
};

/* The configuration in force, else the start's; one reference. */
static conf_t *
conf_now(milt_gateway_t *gw)
{
	conf_t *c = milt_mfapi_conf();

	return c != NULL ? c : conf_ref(gw->conf);
}

/* The HTTP limits of conf, with max_body for one listener. */
static void
http_limits(const conf_t *conf, long max_body, net_httplimit_conf_t *lim)
{
	lim->max_header_size = (long)conf->http_max_header_size;
	lim->max_headers = (int)conf->http_max_headers;
	lim->max_body = max_body;
	lim->max_connections = (int)conf->http_max_connections;
	lim->timeout = (int)conf->http_request_timeout;
}

/*
 * An audit key that root owns is read now, as root, so that the service
 * user (who writes the log) cannot read it and re-sign a rewritten chain
 * with it; any other key is read by the audit log as that user.
 */
static int
audit_key_as_root(const conf_t *conf, int as_user, EVP_PKEY **key, char *err,
    size_t errlen)
{
	struct stat st;
	audit_err_t aerr;

	*key = NULL;
	if (!as_user || !conf->audit || lstat(conf->audit_key_file, &st) != 0
	    || st.st_uid != 0)
		return 0;
	if ((*key = audit_key_load(conf->audit_key_file, &aerr)) == NULL) {
		snprintf(err, errlen, "audit log: %s", aerr.msg);
		return -1;
	}
	return 0;
}

/* LeakSanitizer's, present in a SANITIZE=address build only. */
extern void __lsan_register_root_region(const void *p, size_t size)
    __attribute__((weak));

/* Under LeakSanitizer: the secure heap (an mmap of its own, which it does
 * not scan) holds the only pointers to some of OpenSSL's objects (the
 * DRBGs' cipher contexts), so it is a root region: [p - size, p + size)
 * around a chunk of it covers it (only readable pages are scanned). */
static void
secure_heap_lsan(size_t size)
{
	unsigned char *p;

	if (__lsan_register_root_region == NULL || (p = OPENSSL_secure_malloc(1)) == NULL)
		return;
	__lsan_register_root_region(p - size, 2 * size);
	OPENSSL_secure_free(p);
}

/*
 * OpenSSL's secure heap, where it decodes private keys' numbers: pages
 * locked (mlock) and left out of core dumps (MADV_DONTDUMP), made once,
 * as root, before the keys are read.  Sized for KeyCacheSize keys (8 KB
 * each, twice over: keys in use need room too), 1 to 64 MB; the keystore
 * keeps keys in half of it at most.  When the pages cannot be locked
 * (RLIMIT_MEMLOCK) it is not used, and no decrypted key is kept.
 */
static size_t
secure_heap_init(const conf_t *conf)
{
	size_t want = (size_t)conf->key_cache_size * 8192 * 2, size = 1 << 20;
	struct rlimit rl;
	int rc;

	while (size < want && size < (64 << 20))
		size <<= 1;
	if ((rc = CRYPTO_secure_malloc_init(size, 32)) == 1) {
		secure_heap_lsan(size);
		return size;
	}
	if (rc == 2)
		CRYPTO_secure_malloc_done();
	if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0)
		rl.rlim_cur = 0;
	ops_log(LOG_WARNING, NULL, "cannot lock %zu KB of memory for private keys "
	    "(RLIMIT_MEMLOCK %llu KB): decrypted keys are not kept (KeyCacheTime "
	    "has no effect)", size >> 10, rl.rlim_cur == RLIM_INFINITY ? 0ULL
	    : (unsigned long long)rl.rlim_cur >> 10);
	return 0;
}

/* The keystore, the audit log and the embedded CA (made on first start,
 * and trusted), as the user they belong to. */
static int
open_as_user(milt_gateway_t *gw, EVP_PKEY *akey, char *err, size_t errlen)
{
	conf_t *conf = gw->conf;
	keystore_err_t kerr;

	gw->ks = ops_keystore_open(conf, conf->create_master_key ? KEYSTORE_CREATE : 0,
	    &kerr);
	if (gw->ks == NULL) {
		snprintf(err, errlen, "keystore: %s", kerr.msg);
		return -1;
	}
	ops_keystore_report(gw->ks, NULL);
	ops_keystore_keycache(gw->ks, conf, gw->secure_heap / 2, NULL);
	if (conf->audit && (gw->audit = mail_audit_open(conf, akey, err, errlen)) == NULL)
		return -1;
	ops_audit_install(mail_audit_log(gw->audit));
	if (conf->ca_enable && (gw->ca = ca_serve_open(conf, gw->ks, err, errlen)) == NULL)
		return -1;
	if (gw->ca != NULL)
		(void)conf_trust_ca(conf);
	return 0;
}

/* The state, opened as the service user who owns it. */
static int
open_state(milt_gateway_t *gw, const struct passwd *pw, char *err, size_t errlen)
{
	int as_user = pw != NULL && geteuid() == 0;
	EVP_PKEY *akey;
	int rc;

	if (audit_key_as_root(gw->conf, as_user, &akey, err, errlen) != 0)
		return -1;
	if (as_user && (setegid(pw->pw_gid) != 0 || seteuid(pw->pw_uid) != 0)) {
		snprintf(err, errlen, "cannot switch to %s: %s", pw->pw_name, strerror(errno));
		EVP_PKEY_free(akey);
		return -1;
	}
	rc = open_as_user(gw, akey, err, errlen);
	EVP_PKEY_free(akey);
	if (as_user && (seteuid(0) != 0 || setegid(0) != 0)) {
		snprintf(err, errlen, "cannot switch back to root: %s", strerror(errno));
		return -1;
	}
	return rc;
}

/* HTTPListen: bound now, served from milt_gateway_start() on. */
static int
ops_open(milt_gateway_t *gw, char *err, size_t errlen)
{
	net_httplimit_conf_t lim;
	char why[512];

	if (*gw->conf->http_listen == '\0')
		return 0;
	http_limits(gw->conf, OPS_HTTP_MAX_BODY, &lim);
	if ((gw->ops_loop.srv = net_http_new(gw->conf->http_listen, &lim, why,
	    sizeof(why))) == NULL) {
		snprintf(err, errlen, "HTTPListen: %s", why);
		return -1;
	}
	gw->ops = ops_http_attach(gw->ops_loop.srv, milt_mfapi_conf, gw->ks,
	    gw->audit != NULL);
	if (gw->ops == NULL) {
		snprintf(err, errlen, "HTTPListen: out of memory");
		return -1;
	}
	return 0;
}

milt_gateway_t *
milt_gateway_open(conf_t *conf, const milt_gateway_src_t *src,
    const struct passwd *pw, char *err, size_t errlen)
{
	milt_gateway_t *gw = calloc(1, sizeof(*gw));

	if (gw == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	gw->conf = conf_ref(conf);
	gw->src = *src;
	pthread_mutex_init(&gw->reload.lock, NULL);
	pthread_cond_init(&gw->reload.cond, NULL);
	pthread_mutex_init(&gw->renew.lock, NULL);
	pthread_cond_init(&gw->renew.cond, NULL);
	if (!CRYPTO_secure_malloc_initialized())
		gw->secure_heap = secure_heap_init(conf);
	if (open_state(gw, pw, err, errlen) != 0 || ops_open(gw, err, errlen) != 0) {
		milt_gateway_stop(gw);
		return NULL;
	}
	return gw;
}

int
milt_gateway_listen(milt_gateway_t *gw, char *err, size_t errlen)
{
	if (milt_mfapi_listen(gw->conf, gw->ks, gw->audit, err, errlen) != 0)
		return -1;
	gw->listening = 1;
	return 0;
}

/* ---- the spool runner ---- */

/* Replays the spool at start, then runs it on every kick (a copy
 * written) and every QueueRunInterval. */
static void *
runner_loop(void *arg)
{
	milt_gateway_t *gw = arg;
	conf_t *c = conf_now(gw);
	size_t n = mail_runner_run(c, gw->ks, 1);
	long long wait = c->queue_run_interval;

	conf_unref(c);
	if (n > 0)
		ops_log(LOG_INFO, NULL, "spool: %zu copies replayed at start", n);
	while (queue_wait(wait) == 0) {
		c = conf_now(gw);
		(void)mail_runner_run(c, gw->ks, 0);
		ops_keystore_purge(c, gw->ks);     /* leavers' keys past retention */
		keystore_keycache_expire(gw->ks);  /* kept keys past KeyCacheTime */
		wait = c->queue_run_interval;
		conf_unref(c);
	}
	return NULL;
}

/* ---- renewal of employees' certificates ---- */

static void
renew_logged(void *arg, const keystore_expiry_t *old, X509 *renewed,
    const char *why)
{
	keystore_info_t info;
	char first[8];

	if (renewed != NULL && keystore_cert_describe(renewed, &info, first,
	    sizeof(first)) != 0)
		snprintf(info.serial, sizeof(info.serial), "?");
	if (renewed != NULL && why == NULL)
		ops_log(LOG_INFO, NULL, "renew <%s>: certificate %s (expires %s) "
		    "renewed: new certificate %s, new key escrowed, the old one kept "
		    "for decryption", old->address, old->serial, old->not_after,
		    info.serial);
	else
		ops_log(renewed != NULL ? LOG_WARNING : LOG_ERR, NULL, "renew <%s>: "
		    "certificate %s (expires %s)%s%s: %s", old->address, old->serial,
		    old->not_after, renewed != NULL ? " renewed as " : " not renewed",
		    renewed != NULL ? info.serial : "", why);
}

/* Waits seconds, or until asked to stop: 1 when asked. */
static int
renew_wait(milt_gateway_t *gw, long long seconds)
{
	struct timespec until;
	int stop;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)seconds;
	pthread_mutex_lock(&gw->renew.lock);
	while (!gw->renew.stop
	    && pthread_cond_timedwait(&gw->renew.cond, &gw->renew.lock, &until) != ETIMEDOUT)
		;
	stop = gw->renew.stop;
	pthread_mutex_unlock(&gw->renew.lock);
	return stop;
}

/* Every RenewInterval (the first time at a random moment within the first
 * minute, so that gateways sharing a keystore rarely check together):
 * the due certificates renewed. */
static void *
renew_loop(void *arg)
{
	milt_gateway_t *gw = arg;
	conf_t *c = conf_now(gw);
	long long first = c->renew_interval < 60 ? c->renew_interval : 60;
	unsigned char r = 0;
	char why[600];

	conf_unref(c);
	(void)RAND_bytes(&r, 1);
	for (long long wait = 1 + r % first; !renew_wait(gw, wait);) {
		c = conf_now(gw);
		if (ca_renew_due(c, gw->ca, gw->ks, renew_logged, NULL, why, sizeof(why)) < 0)
			ops_log(LOG_ERR, NULL, "renew: %s", why);
		wait = c->renew_interval;
		conf_unref(c);
	}
	return NULL;
}

static int
renew_start(milt_gateway_t *gw)
{
	int rc;

	if (gw->ca == NULL)
		return 0;
	if ((rc = pthread_create(&gw->renew.thread, NULL, renew_loop, gw)) != 0)
		return rc;
	gw->renew.running = 1;
	return 0;
}

static void
renew_stop(milt_gateway_t *gw)
{
	if (!gw->renew.running)
		return;
	pthread_mutex_lock(&gw->renew.lock);
	gw->renew.stop = 1;
	pthread_cond_signal(&gw->renew.cond);
	pthread_mutex_unlock(&gw->renew.lock);
	pthread_join(gw->renew.thread, NULL);
	gw->renew.running = 0;
}

/* ---- the HTTP servers ---- */

static void *
http_loop_run(void *arg)
{
	struct http_loop *l = arg;

	if (net_http_run(l->srv) != 0)
		ops_log(LOG_ERR, NULL, "an HTTP server's event loop failed");
	return NULL;
}

static int
http_loop_start(struct http_loop *l)
{
	int rc;

	if (l->srv == NULL)
		return 0;
	if ((rc = pthread_create(&l->thread, NULL, http_loop_run, l)) != 0)
		return rc;
	l->running = 1;
	return 0;
}

static void
http_loop_stop(struct http_loop *l)
{
	if (!l->running)
		return;
	net_http_stop(l->srv);
	pthread_join(l->thread, NULL);
	l->running = 0;
}

/* The configuration in force, for the portal's pages. */
static conf_t *
portal_conf(void *arg)
{
	return conf_now(arg);
}

/* CAHTTPListen, for the CA, for enrollment over CMP (the portal) or for
 * the lookup service (on the portal). */
static int
ca_endpoint_open(milt_gateway_t *gw, char *err, size_t errlen)
{
	const conf_t *conf = gw->conf;
	net_httplimit_conf_t lim;
	char why[512];

	if ((gw->ca == NULL && *conf->cmp_server == '\0' && !conf->lookup_service)
	    || *conf->ca_http_listen == '\0')
		return 0;
	http_limits(conf, CA_SERVE_MAX_BODY, &lim);
	if ((gw->ca_loop.srv = net_http_new(conf->ca_http_listen, &lim, why,
	    sizeof(why))) == NULL) {
		snprintf(err, errlen, "CAHTTPListen: %s", why);
		return -1;
	}
	if ((gw->portal = enroll_portal_open(gw->conf, gw->ks)) == NULL) {
		snprintf(err, errlen, "pickup portal: out of memory");
		return -1;
	}
	enroll_portal_follow(gw->portal, portal_conf, gw);  /* its texts follow reloads */
	enroll_portal_ca(gw->portal, gw->ca);
	gw->ca_http = ca_serve_http_open(gw->ca_loop.srv, conf, gw->ca, enroll_portal_handle,
	    gw->portal, err, errlen);
	return gw->ca_http != NULL ? 0 : -1;
}

int
milt_gateway_start(milt_gateway_t *gw, char *err, size_t errlen)
{
	int rc;

	if (gw->audit != NULL && mail_audit_start(gw->audit) != 0) {
		snprintf(err, errlen, "cannot start the audit timer: %s", strerror(errno));
		return -1;
	}
	if ((rc = pthread_create(&gw->runner, NULL, runner_loop, gw)) != 0) {
		snprintf(err, errlen, "cannot start the spool runner: %s", strerror(rc));
		return -1;
	}
	gw->runner_running = 1;
	if ((rc = renew_start(gw)) != 0) {
		snprintf(err, errlen, "cannot start the renewal thread: %s", strerror(rc));
		return -1;
	}
	if (ca_endpoint_open(gw, err, errlen) != 0)
		return -1;
	enroll_install(gw->ca);
	enroll_sweep(gw->conf);
	if ((rc = http_loop_start(&gw->ca_loop)) != 0
	    || (rc = http_loop_start(&gw->ops_loop)) != 0) {
		snprintf(err, errlen, "cannot start an HTTP thread: %s", strerror(rc));
		return -1;
	}
	ops_log(LOG_INFO, NULL, "starting: socket %s, state %s", gw->conf->socket,
	    gw->conf->state_dir);
	return 0;
}

/* ---- reload (SIGHUP) ---- */

/*
 * The file and the -o options read again, validated fully (rules, trust
 * anchors, CRLs, directories); NULL keeps the configuration in force and
 * logs why ("file:line: ...").  What is opened once at start-up (the
 * socket, the user, the state, the keystore, the audit log, the HTTP
 * listeners) stays: each key the table flags as read at start only that
 * changed is logged as a warning.
 */
static conf_t *
gateway_reload(milt_gateway_t *gw)
{
	const char *key;
	conf_t *c;
	char err[1024];

	c = conf_load(gw->src.conf_file, gw->src.overrides, gw->src.noverrides, err,
	    sizeof(err));
	if (c == NULL) {
		ops_log(LOG_ERR, NULL, "reload failed, keeping the configuration in "
		    "force: %s", err);
		return NULL;
	}
	for (size_t i = 0; (key = conf_restart_changed(gw->conf, c, &i)) != NULL;)
		ops_log(LOG_WARNING, NULL, "reload: %s changed; takes effect after a "
		    "restart", key);
	ops_log(LOG_INFO, NULL, "reloaded %s", c->file != NULL ? c->file : "the defaults");
	return c;
}

/* The reload thread: the main thread asks, this thread does the work. */
static void *
reload_loop(void *arg)
{
	milt_gateway_t *gw = arg;
	conf_t *c;

	pthread_mutex_lock(&gw->reload.lock);
	for (;;) {
		while (!gw->reload.asked && !gw->reload.stop)
			pthread_cond_wait(&gw->reload.cond, &gw->reload.lock);
		if (gw->reload.stop)
			break;
		gw->reload.asked = 0;
		pthread_mutex_unlock(&gw->reload.lock);
		if ((c = gateway_reload(gw)) != NULL) {
			ops_keystore_keycache(gw->ks, c, gw->secure_heap / 2, "reload");
			milt_mfapi_swap(c);
		}
		pthread_mutex_lock(&gw->reload.lock);
	}
	pthread_mutex_unlock(&gw->reload.lock);
	return NULL;
}

static void
reload_tell(milt_gateway_t *gw, int stop)
{
	pthread_mutex_lock(&gw->reload.lock);
	if (stop)
		gw->reload.stop = 1;
	else
		gw->reload.asked = 1;
	pthread_cond_signal(&gw->reload.cond);
	pthread_mutex_unlock(&gw->reload.lock);
}

/* ---- serving and stopping ---- */

static void *
milter_run(void *arg)
{
	milt_gateway_t *gw = arg;

	gw->milter_rc = milt_mfapi_run();
	pthread_kill(gw->main, SIGUSR2);
	return NULL;
}

/*
 * libmilter's signal thread stops it on SIGTERM and SIGINT, and would on
 * SIGHUP too: so libmilter runs in a thread of its own and this thread
 * waits in sigwait() for SIGHUP, which Linux then hands to it (a process
 * signal goes to the main thread first when it waits for it), and for
 * SIGUSR2, libmilter's thread telling that it ended.  On SIGHUP it only
 * wakes the reload thread, so it is back in sigwait() at once.
 */
int
milt_gateway_serve(milt_gateway_t *gw)
{
	pthread_t milter;
	sigset_t wait;
	int sig = 0, rc;

	gw->main = pthread_self();
	if ((rc = pthread_create(&gw->reload.thread, NULL, reload_loop, gw)) != 0) {
		ops_log(LOG_ERR, NULL, "cannot start the reload thread: %s", strerror(rc));
		return -1;
	}
	gw->reload.running = 1;
	if ((rc = pthread_create(&milter, NULL, milter_run, gw)) != 0) {
		ops_log(LOG_ERR, NULL, "cannot start the milter thread: %s", strerror(rc));
		return -1;
	}
	sigemptyset(&wait);
	sigaddset(&wait, SIGHUP);
	sigaddset(&wait, SIGUSR2);
	while (sigwait(&wait, &sig) == 0 && sig == SIGHUP)
		reload_tell(gw, 0);
	pthread_join(milter, NULL);
	ops_log(LOG_INFO, NULL, "stopping");
	return gw->milter_rc;
}

/* Every thread stopped and joined (a spool run ends after the copy it is
 * at), before anything they use is freed. */
static void
threads_stop(milt_gateway_t *gw)
{
	if (gw->reload.running) {
		reload_tell(gw, 1);
		pthread_join(gw->reload.thread, NULL);
		gw->reload.running = 0;
	}
	http_loop_stop(&gw->ops_loop);
	http_loop_stop(&gw->ca_loop);
	if (gw->runner_running) {
		queue_stop();
		pthread_join(gw->runner, NULL);
		gw->runner_running = 0;
	}
	renew_stop(gw);
	ops_audit_install(NULL);
	mail_audit_close(gw->audit);   /* joins its timer */
	gw->audit = NULL;
}

void
milt_gateway_stop(milt_gateway_t *gw)
{
	if (gw == NULL)
		return;
	threads_stop(gw);
	ops_http_free(gw->ops);
	ca_serve_free(gw->ca_http);    /* its CRL timer, before its server */
	net_http_free(gw->ops_loop.srv);
	net_http_free(gw->ca_loop.srv);
	enroll_portal_free(gw->portal);  /* after the server that calls it */
	if (gw->listening)
		milt_mfapi_swap(NULL);
	enroll_install(NULL);
	ca_free(gw->ca);
	keystore_free(gw->ks);
	pthread_cond_destroy(&gw->reload.cond);
	pthread_mutex_destroy(&gw->reload.lock);
	pthread_cond_destroy(&gw->renew.cond);
	pthread_mutex_destroy(&gw->renew.lock);
	conf_unref(gw->conf);
	free(gw);
}
