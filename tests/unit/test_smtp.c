/*
 * test_smtp.c: the gateway's own mails (milter/net_smtp.c): a message
 * with a secret (the PKCS#12 password) holds it exactly once, where it
 * belongs, in a 7-bit body GMime rendered around a stand-in; a secret
 * that is not letters and digits is refused rather than mangled.  A
 * server that sends its replies ahead is understood; one whose reply
 * never ends (continuation lines without end) is given up on after a
 * bounded number of lines.
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
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/crypto.h>

#include "net/net_smtp.h"
#include "smime/smime.h"

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void
test_secret_in_place(void **state)
{
	static const struct {
		const char *text, *secret, *after, *want;  /* want: NULL = refused */
	} t[] = {
		{ "Password:\n\n    ", "Ab3dEf6hJk9mNp2rSt5v", "\n", "\r\n    Ab3dEf6hJk9mNp2rSt5v\r\n" },
		{ "Grüße, the password: ", "xyz789", " (once)\n", "xyz789 (once)" },
		{ "100% sure: %s ", "Zz1", "\n", "100% sure: %s Zz1" },
		{ "bad: ", "has space", "\n", NULL },
		{ "bad: ", "pa%ss", "\n", NULL },
		{ "bad: ", "", "\n", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *m = net_smtp_compose("pki@example.com", "bob@example.net", "Subject",
		    t[i].text, t[i].secret, t[i].after);

		if (t[i].want == NULL) {
			if (m != NULL)
				fail_msg("case %zu: secret \"%s\" accepted", i, t[i].secret);
			continue;
		}
		if (m == NULL)
			fail_msg("case %zu: no message", i);
		if (strstr(m, t[i].want) == NULL)
			fail_msg("case %zu: got\n%s\nwant it to contain \"%s\"", i, m, t[i].want);
		assert_int_equal(count(m, t[i].secret), 1);
		assert_non_null(strstr(m, "To: bob@example.net\r\n"));
		OPENSSL_clear_free(m, strlen(m));
	}
}

static void
test_no_secret(void **state)
{
	char *m = net_smtp_compose("pki@example.com", "bob@example.net", "Hello",
	    "Just text.\n", NULL, NULL);

	(void)state;
	assert_non_null(m);
	assert_non_null(strstr(m, "Subject: Hello\r\n"));
	assert_non_null(strstr(m, "\r\n\r\nJust text.\r\n"));
	free(m);
}

/* A server on 127.0.0.1 that sends its script at once, then reads until
 * the client closes. */
struct script {
	int lfd;
	const char *text;           /* NULL: a server in lockstep */
};

/* A server that answers each command (and the message after its final
 * dot) only once it has read it. */
static void
lockstep(int fd)
{
	FILE *in = fdopen(dup(fd), "r");
	char line[2048];
	int data = 0;

	if (in == NULL || write(fd, "220 ok\r\n", 8) != 8) {
		if (in != NULL)
			fclose(in);
		return;
	}
	while (fgets(line, sizeof(line), in) != NULL) {
		const char *r = data ? (strcmp(line, ".\r\n") == 0 ? "250 queued\r\n" : NULL)
		    : strncmp(line, "DATA", 4) == 0 ? "354 go\r\n" : "250 ok\r\n";

		if (data && r == NULL)
			continue;
		data = !data && strncmp(line, "DATA", 4) == 0;
		if (write(fd, r, strlen(r)) != (ssize_t)strlen(r))
			break;
	}
	fclose(in);
}

static void *
serve(void *arg)
{
	struct script *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	char buf[4096];
	size_t off = 0, len = s->text != NULL ? strlen(s->text) : 0;
	ssize_t n;

	if (fd >= 0 && s->text == NULL)
		lockstep(fd);
	while (fd >= 0 && off < len && (n = send(fd, s->text + off, len - off, MSG_NOSIGNAL)) > 0)
		off += (size_t)n;
	while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0)
		;
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* net_smtp_send() against script; its return, why in why. */
static int
send_to(const char *script, char *why, size_t size)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	struct script s = { socket(AF_INET, SOCK_STREAM, 0), script };
	char hostport[64];
	pthread_t t;
	int rc;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(s.lfd >= 0);
	assert_int_equal(bind(s.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s.lfd, 1), 0);
	assert_int_equal(getsockname(s.lfd, (struct sockaddr *)&a, &alen), 0);
	assert_int_equal(pthread_create(&t, NULL, serve, &s), 0);
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", ntohs(a.sin_port));
	rc = net_smtp_send(hostport, "pki@example.com", "bob@example.net",
	    "Subject: x\r\n\r\nbody\r\n", 5, why, size);
	pthread_join(t, NULL);
	close(s.lfd);
	return rc;
}

static const char dialogue[] = "220 ok\r\n250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n"
    "250 queued\r\n";

/* A server that waits for each command, and for the whole message. */
static void
test_server_lockstep(void **state)
{
	char why[512] = "";

	(void)state;
	if (send_to(NULL, why, sizeof(why)) != 0)
		fail_msg("one reply at a time: %s", why);
}

/* A server that sends its replies ahead (pipelining, an early banner):
 * read-ahead on the socket must not break the next write (one "r+"
 * stream did: "cannot send: Illegal seek"). */
static void
test_server_ahead(void **state)
{
	char why[512] = "";

	(void)state;
	if (send_to(dialogue, why, sizeof(why)) != 0)
		fail_msg("all replies at once: %s", why);
}

static void
test_reply_lines_bounded(void **state)
{
	static const char *rest = dialogue;
	size_t n = 5000, len = n * 8 + sizeof(dialogue);
	char *script = malloc(len), why[512] = "";

	(void)state;
	assert_non_null(script);
	for (size_t i = 0; i < n; i++)
		memcpy(script + i * 8, "220-xx\r\n", 8);
	memcpy(script + n * 8, rest, sizeof(dialogue));
	assert_int_equal(send_to(script, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "greeting"));
	free(script);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_in_place),
		cmocka_unit_test(test_no_secret),
		cmocka_unit_test(test_server_lockstep),
		cmocka_unit_test(test_server_ahead),
		cmocka_unit_test(test_reply_lines_bounded),
	};

	smime_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
