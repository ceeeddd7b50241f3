/*
 * ops_http.h: the daemon's HTTP endpoints (libevent's evhttp), on one
 * thread of their own: GET /healthz (the state of the directory, the
 * cache, the keystore, the spool and the audit log; 200 when every one in
 * use is up, 503 otherwise) and GET /metrics (ops_metrics.h).
 * HTTPListen names the address ("" = no endpoints; "PORT" alone binds
 * 127.0.0.1).  The checks read the configuration in force through the
 * getter, which returns a reference the caller drops.
 */
#ifndef OPS_HTTP_H
#define OPS_HTTP_H

#include <stddef.h>
#include "conf/conf.h"
#include "net/net_httplimit.h"
#include "keystore/keystore.h"

typedef conf_t *(*conf_get_fn)(void);
typedef struct ops_http ops_http_t;

/* Binds (call before dropping privileges); NULL with err on failure.  lim:
 * the listener's limits (net_httplimit.h).  ks (may be NULL) is the
 * daemon's keystore, checked by /healthz; it must outlive the endpoints. */
ops_http_t *ops_http_open(const char *listen, const net_httplimit_conf_t *lim,
    conf_get_fn get, keystore_t *ks, int audit_open, char *err, size_t errlen);
/* Starts the serving thread; 0 or -1. */
int ops_http_start(ops_http_t *h);
/* Stops the thread and frees; NULL is fine. */
void ops_http_close(ops_http_t *h);

#endif
