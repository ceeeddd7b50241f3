/*
 * milt_http.c: /healthz and /metrics over evhttp (see milt_http.h).
 * One event base, one thread; milt_http_close() breaks its loop.
 */
#include "milter/milt_http.h"
#include "milter/milt_metrics.h"
#include "directory/dir_lookup.h"

#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

struct milt_http {
	struct event_base *base;
	struct evhttp *http;
	struct event *tick;
	pthread_t thread;
	int started, stop;
	milt_conf_get_fn get;
	int audit_open;
};

/* 1 when host:port accepts a TCP connection within 300 ms. */
static int
tcp_up(const char *hostport)
{
	char host[256], *colon;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	struct pollfd pfd;
	int fd, ok = 0, soerr = 0;
	socklen_t len = sizeof(soerr);

	snprintf(host, sizeof(host), "%s", hostport);
	if ((colon = strrchr(host, ':')) == NULL)
		return 0;
	*colon = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return 0;
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0)) >= 0) {
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			ok = 1;
		else if (errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			ok = poll(&pfd, 1, 300) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0;
		}
		close(fd);
	}
	freeaddrinfo(ai);
	return ok;
}

static long
spool_depth(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	long n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* One component: name, state, and whether it counts against health. */
static int
part(struct evbuffer *b, int *first, const char *name, const char *state, int needed_down)
{
	evbuffer_add_printf(b, "%s\"%s\":\"%s\"", *first ? "" : ",", name, state);
	*first = 0;
	return needed_down;
}

static void
on_healthz(struct evhttp_request *req, void *arg)
{
	milt_http_t *h = arg;
	milt_conf_t *c = h->get();
	struct evbuffer *b = evbuffer_new();
	int bad = 0, first = 1, ks, sp, au;

	if (b == NULL || c == NULL) {
		evhttp_send_error(req, 503, "no configuration");
		if (b != NULL)
			evbuffer_free(b);
		return;
	}
	evbuffer_add_printf(b, "{");
	if (c->lookup == NULL || dir_lookup_ndirs(c->lookup) == 0)
		part(b, &first, "directory", "none", 0);
	else
		bad |= part(b, &first, "directory", milt_metrics_directory_down() ? "down" : "up",
		    milt_metrics_directory_down());
	if (*c->redis_server == '\0')
		part(b, &first, "cache", "in-process", 0);
	else {
		int up = tcp_up(c->redis_server);
		bad |= part(b, &first, "cache", up ? "up" : "down", !up);
	}
	ks = access(c->keystore_dir, R_OK | X_OK) == 0;
	bad |= part(b, &first, "keystore", ks ? "up" : "down", !ks);
	sp = access(c->spool_dir, W_OK | X_OK) == 0;
	bad |= part(b, &first, "spool", sp ? "up" : "down", !sp);
	if (!c->audit)
		part(b, &first, "audit", "disabled", 0);
	else {
		au = h->audit_open && access(c->audit_dir, W_OK | X_OK) == 0;
		bad |= part(b, &first, "audit", au ? "up" : "down", !au);
	}
	evbuffer_add_printf(b, ",\"status\":\"%s\"}\n", bad ? "unhealthy" : "ok");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "application/json");
	evhttp_send_reply(req, bad ? 503 : 200, bad ? "Service Unavailable" : "OK", b);
	evbuffer_free(b);
	milt_conf_unref(c);
}

static void
on_metrics(struct evhttp_request *req, void *arg)
{
	milt_http_t *h = arg;
	milt_conf_t *c = h->get();
	struct evbuffer *b = evbuffer_new();
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	if (b == NULL || fp == NULL) {
		evhttp_send_error(req, 500, "out of memory");
	} else {
		milt_metrics_write(fp, c != NULL ? spool_depth(c->spool_dir) : -1);
		fclose(fp);
		fp = NULL;
		evbuffer_add(b, text, len);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		    "text/plain; version=0.0.4");
		evhttp_send_reply(req, 200, "OK", b);
	}
	if (fp != NULL)
		fclose(fp);
	free(text);
	if (b != NULL)
		evbuffer_free(b);
	milt_conf_unref(c);
}

/* Stopping without libevent_pthreads: the loop looks at a flag 5 times a second. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	milt_http_t *h = arg;

	if (__atomic_load_n(&h->stop, __ATOMIC_SEQ_CST))
		event_base_loopbreak(h->base);
}

milt_http_t *
milt_http_open(const char *listen, milt_conf_get_fn get, int audit_open,
    char *err, size_t errlen)
{
	char host[256] = "127.0.0.1", *colon;
	const char *port = listen;
	milt_http_t *h;

	if ((colon = strrchr(listen, ':')) != NULL) {
		snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
		port = colon + 1;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, errlen, "HTTPListen: out of memory");
		return NULL;
	}
	h->get = get;
	h->audit_open = audit_open;
	if ((h->base = event_base_new()) == NULL || (h->http = evhttp_new(h->base)) == NULL) {
		snprintf(err, errlen, "HTTPListen: cannot set up libevent");
		goto fail;
	}
	{
		struct timeval tv = { 0, 200000 };

		if ((h->tick = event_new(h->base, -1, EV_PERSIST, on_tick, h)) == NULL ||
		    event_add(h->tick, &tv) != 0) {
			snprintf(err, errlen, "HTTPListen: cannot set up libevent");
			goto fail;
		}
	}
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(h->http, 10);
	evhttp_set_cb(h->http, "/healthz", on_healthz, h);
	evhttp_set_cb(h->http, "/metrics", on_metrics, h);
	if (evhttp_bind_socket(h->http, host, (unsigned short)atoi(port)) != 0) {
		snprintf(err, errlen, "HTTPListen %s: cannot listen: %s", listen, strerror(errno));
		goto fail;
	}
	return h;
fail:
	milt_http_close(h);
	return NULL;
}

static void *
http_thread(void *arg)
{
	milt_http_t *h = arg;

	event_base_dispatch(h->base);
	return NULL;
}

int
milt_http_start(milt_http_t *h)
{
	if (pthread_create(&h->thread, NULL, http_thread, h) != 0)
		return -1;
	h->started = 1;
	return 0;
}

void
milt_http_close(milt_http_t *h)
{
	if (h == NULL)
		return;
	if (h->started) {
		__atomic_store_n(&h->stop, 1, __ATOMIC_SEQ_CST);
		pthread_join(h->thread, NULL);
	}
	if (h->tick != NULL)
		event_free(h->tick);
	if (h->http != NULL)
		evhttp_free(h->http);
	if (h->base != NULL)
		event_base_free(h->base);
	free(h);
}
