/*
 * test_net_http.c: the HTTP server base (net/net_http.c).  Listen
 * addresses in every form both listeners take (host:port, [v6]:port, a
 * port alone on 127.0.0.1), table-driven, and the ones refused; [::1]
 * bound through its brackets; a bind failure comes back as an error
 * naming the address; a server answers by path (a route, the default,
 * 404) on its loop in a thread, and net_http_stop() from another thread
 * ends that loop, also when it is called before the loop runs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/http.h>

#include "net/net_http.h"

static const net_httplimit_conf_t lim = { 16384, 100, 1024, 10, 5 };

static void
test_listen_parse(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *host;
		unsigned short port;
	} t[] = {
		{ "127.0.0.1:8080", 0, "127.0.0.1", 8080 },
		{ "localhost:1", 0, "localhost", 1 },
		{ "8080", 0, "127.0.0.1", 8080 },
		{ "[::1]:8896", 0, "::1", 8896 },
		{ "::1:8896", 0, "::1", 8896 },
		{ "0.0.0.0:65535", 0, "0.0.0.0", 65535 },
		{ "127.0.0.1:65536", -1, NULL, 0 },
		{ "127.0.0.1:", -1, NULL, 0 },
		{ ":8080", -1, NULL, 0 },
		{ "127.0.0.1:80x", -1, NULL, 0 },
		{ "127.0.0.1:-1", -1, NULL, 0 },
		{ "[::1]", -1, NULL, 0 },
		{ "[::1:80", -1, NULL, 0 },
		{ "[]:80", -1, NULL, 0 },
		{ "http", -1, NULL, 0 },
		{ "", -1, NULL, 0 },
	};
	char host[64];
	unsigned short port;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = net_http_listen_parse(t[i].in, host, sizeof(host), &port);

		if (rc != t[i].rc)
			fail_msg("%s: got %d, want %d", t[i].in, rc, t[i].rc);
		if (rc == 0 && (strcmp(host, t[i].host) != 0 || port != t[i].port))
			fail_msg("%s: got %s %u, want %s %u", t[i].in, host, port, t[i].host,
			    t[i].port);
	}
	assert_int_equal(net_http_listen_parse("a-long-host-name:1", host, 8, &port), -1);
}

/* A free port on 127.0.0.1 (bound, read, closed). */
static unsigned short
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void
test_bind_error(void **state)
{
	char listen[64], err[256];
	net_http_t *a, *b;

	snprintf(listen, sizeof(listen), "127.0.0.1:%u", free_port());
	a = net_http_new(listen, &lim, err, sizeof(err));
	assert_non_null(a);
	b = net_http_new(listen, &lim, err, sizeof(err));
	assert_null(b);
	assert_non_null(strstr(err, listen));
	assert_null(net_http_new("nonsense:port", &lim, err, sizeof(err)));
	assert_non_null(strstr(err, "nonsense:port"));
	net_http_free(a);
}

static void
answer(struct evhttp_request *req, void *arg)
{
	evbuffer_add_printf(evhttp_request_get_output_buffer(req), "%s", (char *)arg);
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void *
run(void *arg)
{
	return (void *)(intptr_t)net_http_run(arg);
}

/* GET path over a fresh connection: the whole answer into buf. */
static void
get(unsigned short port, const char *path, char *buf, size_t size)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t off = 0;
	ssize_t n;
	char req[256];

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", path);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (off + 1 < size && (n = read(fd, buf + off, size - 1 - off)) > 0)
		off += (size_t)n;
	buf[off] = '\0';
	close(fd);
}

static void
test_routes_and_stop(void **state)
{
	unsigned short port = free_port();
	char listen[64], err[256], buf[2048];
	net_http_t *h;
	pthread_t t;
	void *rc;

	snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
	assert_non_null(h = net_http_new(listen, &lim, err, sizeof(err)));
	assert_int_equal(net_http_route(h, "/a", answer, "route-a"), 0);
	assert_int_equal(pthread_create(&t, NULL, run, h), 0);
	get(port, "/a?x=1", buf, sizeof(buf));
	assert_non_null(strstr(buf, "200 OK"));
	assert_non_null(strstr(buf, "route-a"));
	get(port, "/b", buf, sizeof(buf));
	assert_non_null(strstr(buf, " 404 "));
	net_http_stop(h);
	assert_int_equal(pthread_join(t, &rc), 0);
	assert_int_equal((intptr_t)rc, 0);
	net_http_free(h);

	/* A port alone: 127.0.0.1; a default route behind the exact ones. */
	port = free_port();
	snprintf(listen, sizeof(listen), "%u", port);
	assert_non_null(h = net_http_new(listen, &lim, err, sizeof(err)));
	assert_int_equal(net_http_route(h, NULL, answer, "default"), 0);
	assert_int_equal(net_http_route(h, "/a", answer, "route-a"), 0);
	assert_int_equal(pthread_create(&t, NULL, run, h), 0);
	get(port, "/zzz", buf, sizeof(buf));
	assert_non_null(strstr(buf, "default"));
	get(port, "/a", buf, sizeof(buf));
	assert_non_null(strstr(buf, "route-a"));
	net_http_stop(h);
	assert_int_equal(pthread_join(t, NULL), 0);
	net_http_free(h);
}

/* An IPv6 address in brackets binds that address (skipped without ::1). */
static void
test_bind_v6(void **state)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6,
		.sin6_addr = IN6ADDR_LOOPBACK_INIT };
	socklen_t len = sizeof(a);
	char listen[64], err[256];
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	net_http_t *h;

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0
	    || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		if (fd >= 0)
			close(fd);
		skip();
	}
	close(fd);
	snprintf(listen, sizeof(listen), "[::1]:%u", ntohs(a.sin6_port));
	h = net_http_new(listen, &lim, err, sizeof(err));
	if (h == NULL)
		fail_msg("%s: %s", listen, err);
	net_http_free(h);
}

/* Stopped before its loop runs: the loop ends at its first turn. */
static void
test_stop_first(void **state)
{
	char listen[64], err[256];
	net_http_t *h;
	pthread_t t;

	snprintf(listen, sizeof(listen), "127.0.0.1:%u", free_port());
	assert_non_null(h = net_http_new(listen, &lim, err, sizeof(err)));
	net_http_stop(h);
	assert_int_equal(pthread_create(&t, NULL, run, h), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	net_http_free(h);
	net_http_stop(NULL);
	net_http_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_parse),
		cmocka_unit_test(test_bind_error),
		cmocka_unit_test(test_routes_and_stop),
		cmocka_unit_test(test_bind_v6),
		cmocka_unit_test(test_stop_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
