/*
 * net_httplimit.h: the limits every HTTP listener of the daemon keeps
 * (HTTPListen's /healthz and /metrics, CAHTTPListen's CA and pickup
 * portal), over libevent's evhttp: the size of a request's first line and
 * headers, the number of header lines, the body, the connections open at
 * once, and a deadline for a whole request that a client cannot stretch
 * by sending a byte at a time (evhttp's own timeout starts again at every
 * read).
 *
 * A connection over HTTPMaxConnections is closed unanswered; one whose
 * request is not in whole HTTPRequestTimeout seconds after it opened (or
 * after the answer before) is closed; headers over HTTPMaxHeaderSize end
 * the connection with 413 (evhttp), more than HTTPMaxHeaders lines are
 * answered 431 before any handler runs.
 *
 * The limits come as plain numbers (net_httplimit_conf_t); the daemon
 * fills them from its configuration keys of those names.
 *
 * Ownership and threads: net_httplimit_attach() sets the evhttp's
 * request callback and limits and returns a handle used by the loop's
 * thread only; free it with net_httplimit_free() after evhttp_free() and
 * before event_base_free().
 */
#ifndef NET_HTTPLIMIT_H
#define NET_HTTPLIMIT_H

#include <stddef.h>

struct evhttp;
struct evhttp_request;

typedef struct net_httplimit_conf {
	long max_header_size;          /* octets: first line and headers */
	int max_headers;               /* header lines */
	long max_body;                 /* octets */
	int max_connections;           /* open at once */
	int timeout;                   /* seconds for a whole request */
} net_httplimit_conf_t;

typedef struct net_httplimit net_httplimit_t;
typedef void (*net_httplimit_cb)(struct evhttp_request *req, void *arg);

/* Sets lim on http and cb as its only request callback,
 * called for requests within the limits.  NULL when out of memory. */
net_httplimit_t *net_httplimit_attach(struct evhttp *http,
    const net_httplimit_conf_t *lim, net_httplimit_cb cb, void *arg);
/* NULL is fine. */
void net_httplimit_free(net_httplimit_t *l);

#endif
