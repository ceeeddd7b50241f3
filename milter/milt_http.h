/*
 * milt_http.h: the daemon's HTTP endpoints (libevent's evhttp), on one
 * thread of their own: GET /healthz (the state of the directory, the
 * cache, the keystore, the spool and the audit log; 200 when every one in
 * use is up, 503 otherwise) and GET /metrics (milt_metrics.h).
 * HTTPListen names the address ("" = no endpoints; "PORT" alone binds
 * 127.0.0.1).  The checks read the configuration in force through the
 * getter, which returns a reference the caller drops.
 */
#ifndef MILT_HTTP_H
#define MILT_HTTP_H

#include <stddef.h>
#include "milter/milt_conf.h"
#include "milter/milt_httplimit.h"
#include "keystore/keystore.h"

typedef milt_conf_t *(*milt_conf_get_fn)(void);
typedef struct milt_http milt_http_t;

/* Binds (call before dropping privileges); NULL with err on failure.  lim:
 * the listener's limits (milt_httplimit.h).  ks (may be NULL) is the
 * daemon's keystore, checked by /healthz; it must outlive the endpoints. */
milt_http_t *milt_http_open(const char *listen, const milt_httplimit_conf_t *lim,
    milt_conf_get_fn get, keystore_t *ks, int audit_open, char *err, size_t errlen);
/* Starts the serving thread; 0 or -1. */
int milt_http_start(milt_http_t *h);
/* Stops the thread and frees; NULL is fine. */
void milt_http_close(milt_http_t *h);

#endif
