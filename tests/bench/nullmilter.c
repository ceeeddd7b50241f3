/*
 * nullmilter.c: a milter that does nothing, for `make bench` only.
 *
 * The benchmark's row (t): it registers the same callbacks as smimegate
 * (connect, envfrom, envrcpt, header, eoh, body, eom, abort, close) and
 * answers "continue" to each, so that the difference between (t) and
 * smimegate's rows is our work, not the milter protocol.  It is built by
 * `make bench` (tests/bench/nullmilter) and never installed.
 *
 *   nullmilter SOCKET [stock]
 *
 * SOCKET is libmilter's spelling (inet:PORT@127.0.0.1, unix:/path).  By
 * default it has smimegate's two fixes for TCP (milt_mfapi.c): a DATA
 * callback, so that Postfix never sends the DATA macros alone, and
 * TCP_NODELAY on the listening socket, which accepted connections
 * inherit.  "stock" leaves both out: libmilter's defaults, with the 40 ms
 * delayed-ACK stall per message over TCP.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libmilter/mfapi.h>

static sfsistat
nm_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
	return SMFIS_CONTINUE;
}

static sfsistat
nm_args(SMFICTX *ctx, char **argv)
{
	return SMFIS_CONTINUE;
}

static sfsistat
nm_header(SMFICTX *ctx, char *name, char *value)
{
	return SMFIS_CONTINUE;
}

static sfsistat
nm_ctx(SMFICTX *ctx)
{
	return SMFIS_CONTINUE;
}

static sfsistat
nm_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	return SMFIS_CONTINUE;
}

static struct smfiDesc nm_desc = {
	"nullmilter", SMFI_VERSION, 0,
	nm_connect, NULL, nm_args, nm_args, nm_header, nm_ctx, nm_body,
	nm_ctx, nm_ctx, nm_ctx, NULL, NULL, NULL
};

/* Nagle off on every listening TCP socket we hold (libmilter's). */
static int
nodelay_listeners(void)
{
	int on = 1, n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		int acc = 0;
		socklen_t len = sizeof(acc);
		struct sockaddr_storage ss;
		socklen_t slen = sizeof(ss);

		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) != 0 || !acc)
			continue;
		if (getsockname(fd, (struct sockaddr *)&ss, &slen) != 0 ||
		    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
			continue;
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == 0)
			n++;
	}
	return n;
}

int
main(int argc, char **argv)
{
	int stock = argc > 2 && strcmp(argv[2], "stock") == 0;

	if (argc < 2) {
		fprintf(stderr, "usage: nullmilter SOCKET [stock]\n");
		return 2;
	}
	if (!stock)
		nm_desc.xxfi_data = nm_ctx;
	if (smfi_setconn(argv[1]) != MI_SUCCESS || smfi_register(nm_desc) != MI_SUCCESS ||
	    smfi_opensocket(1) != MI_SUCCESS) {
		fprintf(stderr, "nullmilter: cannot open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (strncmp(argv[1], "unix:", 5) == 0 || strncmp(argv[1], "local:", 6) == 0)
		(void)chmod(strchr(argv[1], ':') + 1, 0666);
	if (!stock && strncmp(argv[1], "inet", 4) == 0 && nodelay_listeners() == 0)
		fprintf(stderr, "nullmilter: no TCP listener to set TCP_NODELAY on\n");
	return smfi_main() == MI_SUCCESS ? 0 : 1;
}
