/*
 * fuzz_http.c: the CA and pickup portal's HTTP endpoint (ca_serve.c with
 * enroll_portal.c's handler, the same evhttp settings and handlers as
 * CAHTTPListen, through ca_serve_attach): a whole request from any client, its request
 * line, path and query (GET /pickup?t=...), headers and form body (POST
 * /pickup: t, password, legacy).  Each input is one connection over
 * loopback TCP to a socket evhttp listens on (evhttp_accept_socket), run
 * by this thread's event loop until the server closes it or a bound is reached.
 * The pickup directory holds one live link, token LIVE_TOKEN (the seeds
 * use it; its password is random, so its wrong-password path runs), put
 * back as new before each input; every other token is unknown.  The
 * client limits are high enough never to answer 429 by themselves, and
 * 127.0.0.1 is a trusted proxy, so X-Forwarded-For is parsed too.  The
 * listener's limits are the defaults' (net_httplimit.h).
 *
 * Input: the octets the client sends (then it shuts down its side).
 */
#include "ca/ca_serve.h"
#include "enroll/enroll_portal.h"
#include "enroll/enroll_pickup.h"
#include "tests/fuzz/fuzz_util.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/evp.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define ROUNDS_MAX 2000         /* event loop rounds per input */
#define LIVE_TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct event_base *base;
static struct evhttp *http;
static ca_serve_http_t *server;
static enroll_portal_t *portal;
static int lfd = -1;           /* evhttp's, closed by evhttp_free() */
static struct sockaddr_in laddr;
static int debug;               /* FUZZ_HTTP_DEBUG set: the answers to stderr */
static char live_path[4200];    /* the live link's record */
static char live_record[1024];  /* as new */
static size_t live_len;

static void
fuzz_http_free(void)
{
	evhttp_free(http);
	ca_serve_free(server);
	enroll_portal_free(portal);
	event_base_free(base);
}

/* The record of a new link, moved to LIVE_TOKEN's name (the file is
 * named by the token's SHA-256) and kept to be put back. */
static void
live_link(const char *dir)
{
	char token[ENROLL_PICKUP_TOKEN_LEN + 1], pw[ENROLL_PICKUP_PASSWORD_LEN + 1];
	char why[256], from[4200], hex[65];
	unsigned char md[32];
	FILE *fp;

	if (enroll_pickup_new(dir, "alice@example.com", 86400, token, pw, why, sizeof(why)) != 0)
		abort();
	EVP_Digest(token, strlen(token), md, NULL, EVP_sha256(), NULL);
	util_hex(hex, md, sizeof(md));
	snprintf(from, sizeof(from), "%s/%s", dir, hex);
	EVP_Digest(LIVE_TOKEN, strlen(LIVE_TOKEN), md, NULL, EVP_sha256(), NULL);
	util_hex(hex, md, sizeof(md));
	snprintf(live_path, sizeof(live_path), "%s/%s", dir, hex);
	if (rename(from, live_path) != 0 || (fp = fopen(live_path, "r")) == NULL)
		abort();
	live_len = fread(live_record, 1, sizeof(live_record), fp);
	fclose(fp);
}

static void
live_reset(void)
{
	FILE *fp = fopen(live_path, "w");

	if (fp == NULL || fwrite(live_record, 1, live_len, fp) != live_len)
		abort();
	fclose(fp);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	socklen_t len = sizeof(laddr);
	conf_net_t loop = { AF_INET, { 127, 0, 0, 1 }, 32 };
	conf_netlist_t proxies = { &loop, 1 };
	/* The lookup service on too (no keystore: every lookup is a 404). */
	enroll_portal_limits_t pl = { 5, 1000000000, 3600, &proxies, 1, 1000000000 };
	net_httplimit_conf_t lim = { 16384, 100, 2000, 100, 20 };
	char *pickup;

	(void)argc;
	(void)argv;
	if (asprintf(&pickup, "%s/pickup", fuzz_dir()) < 0 || mkdir(pickup, 0700) != 0
	    || (base = event_base_new()) == NULL || (http = evhttp_new(base)) == NULL
	    || (portal = enroll_portal_new(NULL, pickup, &pl)) == NULL
	    || (server = ca_serve_attach(http, &lim, enroll_portal_handle, portal)) == NULL)
		abort();
	live_link(pickup);
	free(pickup);
	laddr.sin_family = AF_INET;
	laddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0
	    || bind(lfd, (struct sockaddr *)&laddr, sizeof(laddr)) != 0
	    || listen(lfd, 16) != 0 || getsockname(lfd, (struct sockaddr *)&laddr, &len) != 0
	    || fcntl(lfd, F_SETFL, O_NONBLOCK) != 0 || evhttp_accept_socket(http, lfd) != 0)
		abort();
	debug = getenv("FUZZ_HTTP_DEBUG") != NULL;
	atexit(fuzz_http_free);
	return 0;
}

/*
 * A client connection, non-blocking.  Closed with an RST (SO_LINGER 0),
 * so that hundreds of thousands of them leave no TIME_WAIT behind to use
 * up the loopback ports (a run of 190,000 did: connect failed).  When
 * connect fails all the same, the loop runs and it is tried again, a
 * bounded number of times.
 */
static int
client(void)
{
	struct linger lg = { 1, 0 };

	for (int tries = 0; tries < 100; tries++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0)
			return -1;
		if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0
		    && connect(fd, (struct sockaddr *)&laddr, sizeof(laddr)) == 0
		    && fcntl(fd, F_SETFL, O_NONBLOCK) == 0)
			return fd;
		close(fd);
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(10000);
	}
	return -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	char buf[65536];
	int cfd, closed = 0;

	live_reset();
	if ((cfd = client()) < 0)
		abort();
	for (int round = 0; round < ROUNDS_MAX && !closed; round++) {
		ssize_t n;

		if (off < size) {
			n = send(cfd, data + off, size - off, MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
				off = size;     /* the server closed: stop sending */
			if (off == size)
				shutdown(cfd, SHUT_WR);
		} else if (size == 0 && round == 0) {
			shutdown(cfd, SHUT_WR);
		}
		event_base_loop(base, EVLOOP_NONBLOCK);
		while ((n = read(cfd, buf, sizeof(buf))) > 0)
			if (debug)
				fwrite(buf, 1, (size_t)n, stderr);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			closed = 1;
	}
	close(cfd);
	/* let the server see the close and free the connection */
	for (int round = 0; round < 10; round++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	return 0;
}
