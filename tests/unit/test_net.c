/*
 * test_net.c: cmocka tests of the backend clients in net/ without a
 * server: the LDAP URL forms (ldap://, ldaps://, the extensions, the
 * scope and filter the caller gets), the bind password file's checks
 * (mode, link), the errno each refusal gives, a search against nothing
 * (unavailable after one reconnect, never a hang); the Redis server and
 * AUTH settings and a connection to nothing.  Table-driven; failures say
 * got and want.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <hiredis/hiredis.h>

#include "net/net_ldap.h"
#include "net/net_redis.h"
#include "tests/unit/unit_util.h"

static char *tmp;
static char pw_ok[512], pw_open[512], pw_link[512];

static int
setup(void **state)
{
	(void)state;
	if ((tmp = unit_tmpdir()) == NULL)
		return -1;
	snprintf(pw_ok, sizeof(pw_ok), "%s/bind.pw", tmp);
	snprintf(pw_open, sizeof(pw_open), "%s/open.pw", tmp);
	snprintf(pw_link, sizeof(pw_link), "%s/link.pw", tmp);
	if (unit_write_file(pw_ok, "secret\n", 7, 0600) != 0 ||
	    unit_write_file(pw_open, "secret\n", 7, 0644) != 0 ||
	    symlink(pw_ok, pw_link) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unit_rmtree(tmp);
	free(tmp);
	return 0;
}

/* ---- LDAP ---- */

typedef struct url_case {
	const char *what;
	const char *url;            /* @PW@: pwfile */
	const char *pwfile;
	int want_errno;
	const char *want_name, *want_base, *want_filter;   /* when 0 */
	int want_scope;
	const char *want_in_err;    /* when not 0 */
} url_case_t;

static void
test_ldap_url(void **state)
{
	static const url_case_t t[] = {
		{ "plain, no scope: sub", "ldap://127.0.0.1:1/dc=x", NULL, 0,
		  "ldap://127.0.0.1:1/dc=x", "dc=x", NULL, LDAP_SCOPE_SUBTREE, NULL },
		{ "ldaps, scope one, filter", "ldaps://h:636/dc=x??one?(uid=%25s)", NULL, 0,
		  "ldaps://h:636/dc=x", "dc=x", "(uid=%s)", LDAP_SCOPE_ONELEVEL, NULL },
		{ "StartTLS and a bind", "ldap://h:389/dc=x????bindname=cn=a%2cdc=x,"
		  "x-bindpwfile=@PW@,!x-starttls", pw_ok, 0,
		  "ldap://h:389/dc=x", "dc=x", NULL, LDAP_SCOPE_SUBTREE, NULL },
		{ "no base", "ldap://h:389/", NULL, 0, "ldap://h:389/", "", NULL,
		  LDAP_SCOPE_SUBTREE, NULL },
		{ "not LDAP", "http://h/dc=x", NULL, EINVAL, 0, 0, 0, 0, "not an LDAP URL" },
		{ "no host", "ldap:///dc=x", NULL, EINVAL, 0, 0, 0, 0, "with a host" },
		{ "unknown extension", "ldap://h/dc=x????x-unknown", NULL, EINVAL,
		  0, 0, 0, 0, "x-unknown" },
		{ "password file 0644", "ldap://h/dc=x????x-bindpwfile=@PW@", pw_open, EPERM,
		  0, 0, 0, 0, "mode 0644" },
		{ "password file a link", "ldap://h/dc=x????x-bindpwfile=@PW@", pw_link, ELOOP,
		  0, 0, 0, 0, "symbolic link" },
		{ "password file absent", "ldap://h/dc=x????x-bindpwfile=/nonexistent/pw",
		  NULL, ENOENT, 0, 0, 0, 0, "/nonexistent/pw" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char url[1024], err[512] = "";
		net_ldap_settings_t s = { url, 1, 1, 2 };
		net_ldap_t *l = NULL;
		int got;

		const char *at = strstr(t[i].url, "@PW@");

		if (at != NULL)
			snprintf(url, sizeof(url), "%.*s%s%s", (int)(at - t[i].url), t[i].url,
			    t[i].pwfile, at + 4);
		else
			snprintf(url, sizeof(url), "%s", t[i].url);
		got = net_ldap_new(&s, &l, err, sizeof(err));
		if (got != t[i].want_errno)
			fail_msg("%s: got errno %d (%s), want %d", t[i].what, got, err,
			    t[i].want_errno);
		if (got != 0) {
			assert_null(l);
			if (strstr(err, t[i].want_in_err) == NULL)
				fail_msg("%s: got \"%s\", want \"...%s...\"", t[i].what, err,
				    t[i].want_in_err);
			continue;
		}
		if (strcmp(net_ldap_name(l), t[i].want_name) != 0 ||
		    strcmp(net_ldap_base(l), t[i].want_base) != 0 ||
		    net_ldap_scope(l) != t[i].want_scope)
			fail_msg("%s: got %s, base %s, scope %d; want %s, %s, %d", t[i].what,
			    net_ldap_name(l), net_ldap_base(l), net_ldap_scope(l),
			    t[i].want_name, t[i].want_base, t[i].want_scope);
		if ((net_ldap_url_filter(l) == NULL) != (t[i].want_filter == NULL) ||
		    (t[i].want_filter != NULL &&
		    strcmp(net_ldap_url_filter(l), t[i].want_filter) != 0))
			fail_msg("%s: got filter %s, want %s", t[i].what,
			    net_ldap_url_filter(l) ? net_ldap_url_filter(l) : "none",
			    t[i].want_filter ? t[i].want_filter : "none");
		net_ldap_free(l);
	}
}

static void
test_ldap_filter(void **state)
{
	static const struct { const char *tmpl, *value, *want; } t[] = {
		{ "(mail=%s)", "a@b", "(mail=a@b)" },
		{ "(mail=%s)", "*)(uid=*", "(mail=\\2A\\29\\28uid=\\2A)" },
		{ "(&(o=100%%)(mail=%s))", "c@d", "(&(o=100%)(mail=c@d))" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *got = net_ldap_filter(t[i].tmpl, t[i].value);

		if (got == NULL || strcmp(got, t[i].want) != 0)
			fail_msg("%s with %s: got %s, want %s", t[i].tmpl, t[i].value,
			    got ? got : "NULL", t[i].want);
		free(got);
	}
}

/* Nobody listens on port 1: every search is an error that names the
 * server, for the directory and for the keystore alike. */
static void
test_ldap_down(void **state)
{
	net_ldap_settings_t s = { "ldap://127.0.0.1:1/dc=x", 1, 1, 1 };
	char *attrs[] = { LDAP_NO_ATTRS, NULL }, why[512] = "";
	net_ldap_query_t q = {
		.base = "dc=x", .scope = LDAP_SCOPE_BASE, .filter = "(objectClass=*)",
		.attrs = attrs, .sizelimit = 1, .flags = NET_LDAP_NOOBJECT,
	};
	net_ldap_value_t v = { "x", 1 };
	net_ldap_t *l;
	int got;

	assert_int_equal(net_ldap_new(&s, &l, why, sizeof(why)), 0);
	got = net_ldap_search(l, &q, why, sizeof(why));
	if (got != LDAP_SERVER_DOWN || strstr(why, "127.0.0.1:1") == NULL)
		fail_msg("search: got %d (%s), want %d naming the server", got, why,
		    LDAP_SERVER_DOWN);
	why[0] = '\0';
	got = net_ldap_replace(l, "cn=a,dc=x", "description", &v, 1, why, sizeof(why));
	if (got != LDAP_SERVER_DOWN || strstr(why, "127.0.0.1:1") == NULL)
		fail_msg("replace: got %d (%s), want %d naming the server", got, why,
		    LDAP_SERVER_DOWN);
	net_ldap_free(l);
}

/* ---- Redis ---- */

static void
test_redis_settings(void **state)
{
	static const struct {
		const char *what, *server, *pwfile, *user, *want_in_err;
	} t[] = {
		{ "no port", "nonsense", NULL, NULL, "HOST:PORT" },
		{ "empty host", ":1", NULL, NULL, "HOST:PORT" },
		{ "port 0", "h:0", NULL, NULL, "HOST:PORT" },
		{ "port too large", "h:65536", NULL, NULL, "HOST:PORT" },
		{ "port not a number", "h:1x", NULL, NULL, "HOST:PORT" },
		{ "a user without a password", "h:1", NULL, "gw", "password file" },
		{ "password file 0644", "h:1", pw_open, NULL, "mode 0644" },
		{ "password file a link", "h:1", pw_link, NULL, "symbolic link" },
		{ "good", "127.0.0.1:1", pw_ok, "gw", NULL },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		net_redis_settings_t s = { t[i].server, 500, t[i].pwfile, t[i].user };
		char err[512] = "";
		net_redis_t *r = net_redis_new(&s, err, sizeof(err));

		if (t[i].want_in_err == NULL && r == NULL)
			fail_msg("%s: got \"%s\", want a client", t[i].what, err);
		if (t[i].want_in_err != NULL && (r != NULL ||
		    strstr(err, t[i].want_in_err) == NULL))
			fail_msg("%s: got %s \"%s\", want \"...%s...\"", t[i].what,
			    r ? "a client" : "NULL", err, t[i].want_in_err);
		if (r != NULL)
			assert_string_equal(net_redis_name(r), "127.0.0.1:1");
		net_redis_free(r);
	}
}

static void
test_redis_down(void **state)
{
	net_redis_settings_t s = { "127.0.0.1:1", 500, NULL, NULL };
	char err[512] = "";
	net_redis_t *r = net_redis_new(&s, err, sizeof(err));
	redisContext *ctx = NULL;
	redisReply *rep;

	(void)state;
	assert_non_null(r);
	assert_null(net_redis_connect(r, err, sizeof(err)));
	if (strstr(err, "127.0.0.1:1") == NULL)
		fail_msg("connect: got \"%s\", want the server named", err);
	err[0] = '\0';
	rep = net_redis_command(r, &ctx, err, sizeof(err), "PING");
	assert_null(rep);
	assert_null(ctx);
	if (strstr(err, "127.0.0.1:1") == NULL)
		fail_msg("command: got \"%s\", want the server named", err);
	net_redis_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ldap_url),
		cmocka_unit_test(test_ldap_filter),
		cmocka_unit_test(test_ldap_down),
		cmocka_unit_test(test_redis_settings),
		cmocka_unit_test(test_redis_down),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
