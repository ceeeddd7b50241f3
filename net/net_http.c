/*
 * net_http.c: the HTTP server base (see net_http.h).
 *
 * One evhttp on one event base.  Every request passes the listener's
 * limits first (net_httplimit.c, which calls dispatch() for those within
 * them), then goes to the handler of its path.  The loop ends through a
 * pipe: net_http_stop() writes a byte, and the pipe's read event, on the
 * loop's own thread, breaks the loop; a byte written before the loop runs
 * waits in the pipe and ends it at its first turn.
 */
#include "net/net_http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/event.h>
#include <event2/http.h>

struct route {
	char *path;                    /* NULL: the default */
	net_http_cb cb;
	void *arg;
};

struct net_http {
	struct event_base *base;
	struct evhttp *http;
	net_httplimit_t *limit;
	struct event *wake;
	int pipe[2];
	int methods;                   /* allowed: EVHTTP_REQ_* */
	struct route *routes;
	size_t nroutes;
};

int
net_http_listen_parse(const char *listen, char *host, size_t hostlen,
    unsigned short *port)
{
	const char *p = listen, *colon = strrchr(listen, ':');
	size_t n = 0;
	char *end;
	unsigned long v;

	if (colon == NULL)
		p = "127.0.0.1";
	else if (*listen == '[') {
		p = listen + 1;
		if (colon == listen || colon[-1] != ']')
			return -1;
		n = (size_t)(colon - 1 - p);
	} else
		n = (size_t)(colon - listen);
	if (colon == NULL)
		n = strlen(p);
	if (n == 0 || n >= hostlen)
		return -1;
	memcpy(host, p, n);
	host[n] = '\0';
	p = colon != NULL ? colon + 1 : listen;
	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	v = strtoul(p, &end, 10);
	if (*end != '\0' || errno != 0 || v > 65535)
		return -1;
	*port = (unsigned short)v;
	return 0;
}

static void
dispatch(struct evhttp_request *req, void *arg)
{
	net_http_t *h = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	const struct route *dflt = NULL;

	for (size_t i = 0; i < h->nroutes; i++) {
		const struct route *r = &h->routes[i];

		if (r->path == NULL)
			dflt = r;
		else if (path != NULL && strcmp(r->path, path) == 0) {
			r->cb(req, r->arg);
			return;
		}
	}
	if (dflt != NULL)
		dflt->cb(req, dflt->arg);
	else
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* The base, the evhttp, the limits and the wake pipe; 0 or -1. */
static int
http_setup(net_http_t *h, const net_httplimit_conf_t *lim)
{
	if (pipe2(h->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		h->pipe[0] = h->pipe[1] = -1;
		return -1;
	}
	if ((h->base = event_base_new()) == NULL || (h->http = evhttp_new(h->base)) == NULL
	    || (h->wake = event_new(h->base, h->pipe[0], EV_READ, on_wake, h->base)) == NULL
	    || event_add(h->wake, NULL) != 0
	    || (h->limit = net_httplimit_attach(h->http, lim, dispatch, h)) == NULL)
		return -1;
	h->methods = EVHTTP_REQ_GET | EVHTTP_REQ_HEAD;
	evhttp_set_allowed_methods(h->http, (ev_uint16_t)h->methods);
	return 0;
}

net_http_t *
net_http_new(const char *listen, const net_httplimit_conf_t *lim, char *err,
    size_t errlen)
{
	net_http_t *h = calloc(1, sizeof(*h));
	unsigned short port;
	char host[256];

	if (h == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->pipe[0] = h->pipe[1] = -1;
	if (net_http_listen_parse(listen, host, sizeof(host), &port) != 0)
		snprintf(err, errlen, "\"%s\": want host:port, [address]:port or port",
		    listen);
	else if (http_setup(h, lim) != 0)
		snprintf(err, errlen, "cannot set up libevent: %s", strerror(errno));
	else if (evhttp_bind_socket(h->http, host, port) != 0)
		snprintf(err, errlen, "cannot listen on %s: %s", listen, strerror(errno));
	else
		return h;
	net_http_free(h);
	return NULL;
}

int
net_http_route(net_http_t *h, const char *path, net_http_cb cb, void *arg)
{
	struct route *r = realloc(h->routes, (h->nroutes + 1) * sizeof(*r));

	if (r == NULL)
		return -1;
	h->routes = r;
	r = &h->routes[h->nroutes];
	r->cb = cb;
	r->arg = arg;
	r->path = NULL;
	if (path != NULL && (r->path = strdup(path)) == NULL)
		return -1;
	h->nroutes++;
	return 0;
}

void
net_http_allow(net_http_t *h, int methods)
{
	h->methods |= methods;
	evhttp_set_allowed_methods(h->http, (ev_uint16_t)h->methods);
}

struct event_base *
net_http_base(net_http_t *h)
{
	return h->base;
}

int
net_http_run(net_http_t *h)
{
	return event_base_dispatch(h->base) < 0 ? -1 : 0;
}

void
net_http_stop(net_http_t *h)
{
	ssize_t n;

	if (h == NULL || h->pipe[1] < 0)
		return;
	do
		n = write(h->pipe[1], "x", 1);
	while (n < 0 && errno == EINTR);
}

void
net_http_free(net_http_t *h)
{
	if (h == NULL)
		return;
	if (h->wake != NULL)
		event_free(h->wake);
	if (h->http != NULL)
		evhttp_free(h->http);
	net_httplimit_free(h->limit);  /* after the connections, before the base */
	if (h->base != NULL)
		event_base_free(h->base);
	if (h->pipe[0] >= 0) {
		close(h->pipe[0]);
		close(h->pipe[1]);
	}
	for (size_t i = 0; i < h->nroutes; i++)
		free(h->routes[i].path);
	free(h->routes);
	free(h);
}
