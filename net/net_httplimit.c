/*
 * net_httplimit.c: limits on an evhttp listener (see net_httplimit.h).
 *
 * libevent 2.1 (Debian 12) bounds header and body sizes itself but has
 * no connection limit, no header count and only a timeout that starts
 * again at each read.  So each connection gets a record here: evhttp asks
 * this file for the connection's bufferevent (evhttp_set_bevcb), this
 * file keeps a reference to it and, on the loop's next turn, finds the
 * evhttp connection behind it (the bufferevent's callback argument) and
 * asks to hear when it closes.  A timer per connection then closes it at
 * its deadline; one over the limit is closed at once.  The reference
 * makes every look at the bufferevent safe, even after evhttp freed its
 * side of it.
 */
#include "net/net_httplimit.h"

#include <stdlib.h>
#include <sys/queue.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

struct conn {
	net_httplimit_t *owner;
	struct bufferevent *bev;          /* our reference, while it is open */
	struct evhttp_connection *evcon;  /* NULL until adopted */
	struct event *timer;
	int refused;                      /* over max_connections */
	LIST_ENTRY(conn) link;
};

struct net_httplimit {
	net_httplimit_conf_t lim;
	net_httplimit_cb cb;
	void *arg;
	LIST_HEAD(, conn) conns;
	int open;
};

static void
conn_forget(struct conn *c)
{
	LIST_REMOVE(c, link);
	c->owner->open--;
	event_free(c->timer);
	bufferevent_decref(c->bev);
	free(c);
}

/* evhttp frees the connection (its close callback). */
static void
conn_closed(struct evhttp_connection *evcon, void *arg)
{
	conn_forget(arg);
}

/* evhttp's callbacks are on the bufferevent while it uses it; freeing it
 * clears them. */
static struct evhttp_connection *
conn_evcon(struct conn *c)
{
	bufferevent_event_cb ecb = NULL;
	void *cbarg = NULL;

	bufferevent_getcb(c->bev, NULL, NULL, &ecb, &cbarg);
	return ecb != NULL ? cbarg : NULL;
}

static void
conn_arm(struct conn *c)
{
	struct timeval tv = { c->owner->lim.timeout, 0 };

	evtimer_add(c->timer, &tv);
}

/* First run: adopt the connection (or close it, over the limit); then:
 * its deadline has come. */
static void
conn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct evhttp_connection *evcon = conn_evcon(c);

	if (evcon == NULL) {           /* evhttp is done with it */
		conn_forget(c);
		return;
	}
	if (c->evcon == NULL) {
		c->evcon = evcon;
		evhttp_connection_set_closecb(evcon, conn_closed, c);
		if (!c->refused) {
			conn_arm(c);
			return;
		}
	}
	evhttp_connection_free(evcon); /* conn_closed() forgets c */
}

/* evhttp's new connection (its fd is set after this returns). */
static struct bufferevent *
conn_new(struct event_base *base, void *arg)
{
	static const struct timeval now = { 0, 0 };
	net_httplimit_t *l = arg;
	struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	struct conn *c = bev != NULL ? calloc(1, sizeof(*c)) : NULL;

	if (c == NULL || (c->timer = evtimer_new(base, conn_timer, c)) == NULL
	    || evtimer_add(c->timer, &now) != 0) {
		if (c != NULL && c->timer != NULL)
			event_free(c->timer);
		free(c);
		if (bev != NULL)
			bufferevent_free(bev);
		return NULL;           /* evhttp makes its own or gives up */
	}
	bufferevent_incref(bev);
	c->bev = bev;
	c->owner = l;
	c->refused = l->open >= l->lim.max_connections;
	LIST_INSERT_HEAD(&l->conns, c, link);
	l->open++;
	return bev;
}

static int
header_count(struct evhttp_request *req)
{
	struct evkeyvalq *hs = evhttp_request_get_input_headers(req);
	struct evkeyval *h;
	int n = 0;

	TAILQ_FOREACH(h, hs, next)
		n++;
	return n;
}

/* A whole request: the deadline starts again (for the next one on this
 * connection) and the header count is checked before the handler. */
static void
on_request(struct evhttp_request *req, void *arg)
{
	net_httplimit_t *l = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct conn *c;

	LIST_FOREACH(c, &l->conns, link) {
		if (evcon != NULL && c->evcon == evcon) {
			conn_arm(c);
			break;
		}
	}
	if (header_count(req) > l->lim.max_headers) {
		evhttp_send_error(req, 431, "Request Header Fields Too Large");
		return;
	}
	l->cb(req, l->arg);
}

net_httplimit_t *
net_httplimit_attach(struct evhttp *http, const net_httplimit_conf_t *lim,
    net_httplimit_cb cb, void *arg)
{
	net_httplimit_t *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->lim = *lim;
	l->cb = cb;
	l->arg = arg;
	LIST_INIT(&l->conns);
	evhttp_set_max_headers_size(http, (ev_ssize_t)lim->max_header_size);
	evhttp_set_max_body_size(http, (ev_ssize_t)lim->max_body);
	evhttp_set_timeout(http, lim->timeout);
	evhttp_set_bevcb(http, conn_new, l);
	evhttp_set_gencb(http, on_request, l);
	return l;
}

void
net_httplimit_free(net_httplimit_t *l)
{
	if (l == NULL)
		return;
	while (!LIST_EMPTY(&l->conns))
		conn_forget(LIST_FIRST(&l->conns));
	free(l);
}
