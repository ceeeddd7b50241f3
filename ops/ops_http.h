/*
 * ops_http.h: the daemon's HTTP endpoints, as handlers on the HTTPListen
 * server (net_http.h; GET and HEAD): GET /healthz (the state of the
 * directory, the cache, the keystore, the spool and the audit log; 200
 * when every one in use is up, 503 otherwise) and GET /metrics
 * (ops_metrics.h).  The checks read the configuration in force through the
 * getter, which returns a reference the caller drops (NULL: none, 503).
 *
 * Ownership and threads: the handlers run on the server's loop thread.
 * ops_http_free() after that loop ended; ks (may be NULL) is the daemon's
 * keystore, checked by /healthz, borrowed.
 */
#ifndef OPS_HTTP_H
#define OPS_HTTP_H

#include <stddef.h>
#include "conf/conf.h"
#include "net/net_http.h"
#include "keystore/keystore.h"

/* Octets: the largest request body on HTTPListen. */
#define OPS_HTTP_MAX_BODY 1024

typedef conf_t *(*conf_get_fn)(void);
typedef struct ops_http ops_http_t;

/* Routes /healthz and /metrics of srv here; NULL when out of memory. */
ops_http_t *ops_http_attach(net_http_t *srv, conf_get_fn get, keystore_t *ks,
    int audit_open);
/* NULL is fine. */
void ops_http_free(ops_http_t *h);

#endif
