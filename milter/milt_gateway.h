/*
 * milt_gateway.h: the running gateway, one object that owns every thread
 * of the daemon and what those threads use.
 *
 * It holds the keystore, the audit log, the embedded CA, the two HTTP
 * servers (HTTPListen's /healthz and /metrics, CAHTTPListen's CA files
 * and pickup portal) and the configuration of the start.  Its threads:
 * the audit log's timer, the spool runner, one loop per HTTP server (the
 * CA's CRL timer runs on its loop), the reload thread and libmilter's.
 *
 *   milt_gateway_open()   as root: the state opened as the service user,
 *                         HTTPListen bound (before privileges are dropped)
 *   milt_gateway_listen() the milter socket opened (still as root)
 *   milt_gateway_start()  after going to the background (threads do not
 *                         survive fork): the threads but libmilter's and
 *                         the reload thread, CAHTTPListen bound
 *   milt_gateway_serve()  libmilter until SIGTERM or SIGINT; SIGHUP in
 *                         the meantime reloads the configuration
 *   milt_gateway_stop()   stops and joins every thread, HTTP loops first,
 *                         then the runner and the audit timer, and only
 *                         then frees what they used
 *
 * Threads: all four from the main thread, which milt_gateway_serve()
 * keeps waiting for signals (milt_mfapi_listen() blocked them).
 */
#ifndef MILT_GATEWAY_H
#define MILT_GATEWAY_H

#include <pwd.h>
#include <stddef.h>
#include "conf/conf.h"

typedef struct milt_gateway milt_gateway_t;

/* Where a reload reads the configuration again: the file and the -o
 * options (borrowed; they must outlive the gateway). */
typedef struct milt_gateway_src {
	const char *conf_file;
	char *const *overrides;
	size_t noverrides;
} milt_gateway_src_t;

/* Opens the keystore, the audit log and the CA (as pw when we run as
 * root; pw may be NULL) and binds HTTPListen.  conf gets one more
 * reference.  NULL with err on failure. */
milt_gateway_t *milt_gateway_open(conf_t *conf, const milt_gateway_src_t *src,
    const struct passwd *pw, char *err, size_t errlen);
/* Opens the milter socket (milt_mfapi_listen(), which blocks SIGHUP,
 * SIGTERM, SIGINT and SIGUSR2 in the calling thread); 0 or -1 with err. */
int milt_gateway_listen(milt_gateway_t *gw, char *err, size_t errlen);

/* Starts the threads; 0, or -1 with err (milt_gateway_stop() then stops
 * those already started). */
int milt_gateway_start(milt_gateway_t *gw, char *err, size_t errlen);
/* Serves the milter socket (milt_gateway_listen() opened it) until SIGTERM
 * or SIGINT; 0, or -1 when libmilter failed. */
int milt_gateway_serve(milt_gateway_t *gw);
/* Stops and joins every thread, then frees; NULL is fine. */
void milt_gateway_stop(milt_gateway_t *gw);

#endif
