/*
 * net_http.h: the HTTP server base of the daemon's listeners (HTTPListen's
 * /healthz and /metrics, CAHTTPListen's CA files and pickup portal), over
 * libevent's evhttp: one listen address, parsed one way; the listener's
 * limits and request deadline (net_httplimit.h); handlers by path; one
 * event loop, run by a thread its owner starts, and one clean stop.
 *
 * Listen addresses: "host:port", "[v6-address]:port" (the brackets are
 * taken off), or "port" alone, which binds 127.0.0.1.  An address with
 * more than one colon and no brackets ("::1:8080") is split at the last
 * colon.  The port is a decimal number up to 65535.
 *
 * Ownership and threads: net_http_new() binds (call it before dropping
 * privileges when the port needs it) and returns the handle its caller
 * owns.  Routes and timers (net_http_base()) are set up before the loop
 * runs.  The owner runs the loop with net_http_run() in a thread of its
 * own; handlers run on that thread only.  net_http_stop() may be called
 * from any thread, before the loop runs too: net_http_run() then returns
 * at once.  After net_http_run() returned (the thread joined), free what
 * the handlers use and its events on the base, then net_http_free().
 * Never logs; errors come back in err.
 */
#ifndef NET_HTTP_H
#define NET_HTTP_H

#include <stddef.h>
#include "net/net_httplimit.h"

struct event_base;
struct evhttp_request;

typedef struct net_http net_http_t;
typedef void (*net_http_cb)(struct evhttp_request *req, void *arg);

/* Splits listen into host (hostlen bytes) and *port.  0, or -1 when it is
 * not one of the forms above. */
int net_http_listen_parse(const char *listen, char *host, size_t hostlen,
    unsigned short *port);

/* Binds listen, allowing GET and HEAD.  NULL with err ("cannot listen on
 * ADDRESS: why") on failure. */
net_http_t *net_http_new(const char *listen, const net_httplimit_conf_t *lim,
    char *err, size_t errlen);

/* Allows methods (evhttp's EVHTTP_REQ_* bits) too; evhttp answers a
 * method allowed by no one with 501. */
void net_http_allow(net_http_t *h, int methods);

/* Requests for path (exact, without the query) go to cb; path NULL: every
 * path without a route of its own.  A path that nothing answers gets 404.
 * 0, or -1 out of memory. */
int net_http_route(net_http_t *h, const char *path, net_http_cb cb, void *arg);

/* The loop's event base, for the owner's timers. */
struct event_base *net_http_base(net_http_t *h);

/* Runs the loop until net_http_stop(); 0, or -1 when the loop failed. */
int net_http_run(net_http_t *h);
/* Asks the loop to end; any thread. */
void net_http_stop(net_http_t *h);
/* Frees (NULL is fine); the loop must not be running. */
void net_http_free(net_http_t *h);

#endif
