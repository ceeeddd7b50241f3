/*
 * test_conf.c: the configuration loader (milter/conf.c) and the
 * SignerMap file (directory/dir_map.c): good files, every kind of bad
 * line reported as file:line, -o overrides, derived defaults, and the
 * InternalHosts and LocalDomains matches.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "directory/dir_map.h"
#include "tests/unit/unit_util.h"

static char *tmp;

static int
setup(void **state)
{
	tmp = unit_tmpdir();
	return 0;
}

static int
teardown(void **state)
{
	unit_rmtree(tmp);
	free(tmp);
	return 0;
}

static char *
write_conf(const char *name, const char *text)
{
	char *path;

	assert_true(asprintf(&path, "%s/%s", tmp, name) > 0);
	assert_int_equal(unit_write_file(path, text, strlen(text), 0644), 0);
	return path;
}

static void
test_defaults(void **state)
{
	char err[512];
	conf_t *c = conf_load(NULL, NULL, 0, err, sizeof(err));

	assert_non_null(c);
	assert_string_equal(c->socket, "unix:/run/smimegate/smimegate.sock");
	assert_string_equal(c->socket_group, "");
	assert_int_equal(c->local_submission_internal, 0);
	assert_string_equal(c->keystore_dir, "/var/lib/smimegate/keystore");
	assert_string_equal(c->spool_dir, "/var/lib/smimegate/spool");
	assert_string_equal(c->master_key_file, "/var/lib/smimegate/keystore/master.key");
	assert_int_equal(c->max_message_size, 50LL * 1024 * 1024);
	assert_int_equal(c->on_internal_error, CONF_ON_TEMPFAIL);
	assert_int_equal(c->signing_mode, CONF_SIGN_DETACHED);
	/* No host is internal by default, loopback included. */
	assert_int_equal(c->internal_hosts.n, 0);
	assert_false(conf_is_internal_text(c, "127.0.0.1"));
	assert_false(conf_is_internal_text(c, "::1"));
	assert_false(conf_is_internal_text(c, "192.0.2.1"));
	conf_unref(c);
}

static void
test_good_file(void **state)
{
	char err[512];
	char *path = write_conf("good.conf",
	    "# a comment\n"
	    "Socket            unix:/run/smimegate/milter.sock\n"
	    "statedirectory    /srv/smg   # keys are case-insensitive\n"
	    "LocalDomains      Example.COM, example.org  sub.example.net\n"
	    "InternalHosts     10.0.0.0/8, 2001:db8::/32, 192.0.2.7\n"
	    "\n"
	    "MaximumMessageSize  10M\n"
	    "SpoolMemoryLimit  64k\n"
	    "OnInternalError   accept\n"
	    "SigningMode       opaque\n"
	    "Background        no\n");
	conf_t *c = conf_load(path, NULL, 0, err, sizeof(err));

	if (c == NULL)
		fail_msg("load: %s", err);
	assert_string_equal(c->socket, "unix:/run/smimegate/milter.sock");
	assert_string_equal(c->keystore_dir, "/srv/smg/keystore");
	assert_true(conf_is_local_domain(c, "example.com"));
	assert_true(conf_is_local_domain(c, "EXAMPLE.org"));
	assert_true(conf_is_local_domain(c, "sub.example.net"));
	assert_false(conf_is_local_domain(c, "example.net"));
	assert_false(conf_is_local_domain(c, NULL));
	assert_int_equal(c->max_message_size, 10LL * 1024 * 1024);
	assert_int_equal(c->spool_memory, 64LL * 1024);
	assert_int_equal(c->on_internal_error, CONF_ON_ACCEPT);
	assert_int_equal(c->signing_mode, CONF_SIGN_OPAQUE);
	assert_int_equal(c->background, 0);
	assert_true(conf_is_internal_text(c, "10.200.3.4"));
	assert_true(conf_is_internal_text(c, "192.0.2.7"));
	assert_false(conf_is_internal_text(c, "192.0.2.8"));
	assert_true(conf_is_internal_text(c, "2001:db8:1::5"));
	assert_true(conf_is_internal_text(c, "::ffff:10.1.1.1"));
	assert_false(conf_is_internal_text(c, "127.0.0.1"));
	conf_unref(c);
	free(path);
}

/* Each bad line must be refused, naming the file, line and problem. */
static void
test_bad_files(void **state)
{
	static const struct {
		const char *text;
		const char *want;   /* in the message, after "file:" */
	} cases[] = {
		{ "Bogus yes\n", ":1: unknown key \"Bogus\"" },
		{ "# c\nBackground maybe\n", ":2: Background: \"maybe\" is not yes or no" },
		{ "MaximumMessageSize 12Q\n", ":1: MaximumMessageSize: \"12Q\"" },
		{ "MaximumMessageSize 10\n", ":1: MaximumMessageSize: \"10\" is not a size" },
		{ "Socket 8895\n", ":1: Socket: \"8895\" is not inet:PORT@HOST" },
		{ "Socket inet:99999@127.0.0.1\n", ":1: Socket:" },
		{ "Socket unix:relative\n", ":1: Socket:" },
		{ "InternalHosts 10.0.0.0/33\n", ":1: InternalHosts: \"10.0.0.0/33\"" },
		{ "InternalHosts nothost\n", ":1: InternalHosts: \"nothost\"" },
		{ "LocalDomains user@example.com\n", ":1: LocalDomains: \"user@example.com\"" },
		{ "OnInternalError explode\n", ":1: OnInternalError: \"explode\"" },
		{ "Sign yes\nSign no\n", ":2: Sign is set twice" },
		{ "Socket\n", ":1: \"Socket\": expected a key and a value" },
		{ "SignerMap /nonexistent/map\n", ":1: SignerMap: /nonexistent/map: No such file" },
		/* Several gateways. */
		{ "# k\nKeystoreBackend ldap\n", ":2: KeystoreBackend: ldap needs KeystoreLDAP" },
		{ "KeystoreBackend nfs\n", ":1: KeystoreBackend: \"nfs\"" },
		{ "HarvestStore redis\n", ":1: HarvestStore: redis needs RedisServer" },
		{ "KeystoreLDAPRefresh 0\n", ":1: KeystoreLDAPRefresh: \"0\"" },
	};
	char err[512], name[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path;
		conf_t *c;

		snprintf(name, sizeof(name), "bad%zu.conf", i);
		path = write_conf(name, cases[i].text);
		err[0] = '\0';
		c = conf_load(path, NULL, 0, err, sizeof(err));
		if (c != NULL)
			fail_msg("case %zu (%s): loaded, want error %s", i, cases[i].text,
			    cases[i].want);
		if (strstr(err, cases[i].want) == NULL || strncmp(err, path, strlen(path)) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s%s\"", i, err, path,
			    cases[i].want);
		free(path);
	}
}

static void
test_relative_paths(void **state)
{
	char err[512], cwd[4096], want[4200];
	char *ov[] = { "StateDirectory=./var", "SignerMap=" };
	conf_t *c = conf_load(NULL, ov, 2, err, sizeof(err));

	assert_non_null(c);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/var", cwd);
	assert_string_equal(c->state_dir, want);
	snprintf(want, sizeof(want), "%s/var/keystore/master.key", cwd);
	assert_string_equal(c->master_key_file, want);
	assert_string_equal(c->signer_map_file, "");
	conf_unref(c);
}

static void
test_missing_file(void **state)
{
	char err[512];

	assert_null(conf_load("/nonexistent/smimegate.conf", NULL, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/smimegate.conf: No such file"));
}

static void
test_overrides(void **state)
{
	char err[512];
	char *path = write_conf("ov.conf", "LocalDomains example.com\nSign no\n");
	char *ov[] = { "Sign=yes", "statedirectory=/tmp/x", "LocalDomains = example.org" };
	char *bad[] = { "Nope=1" };
	char *noeq[] = { "Sign" };
	conf_t *c = conf_load(path, ov, 3, err, sizeof(err));

	if (c == NULL)
		fail_msg("load: %s", err);
	assert_int_equal(c->sign_outbound, 1);
	assert_string_equal(c->state_dir, "/tmp/x");
	assert_string_equal(c->spool_dir, "/tmp/x/spool");
	assert_false(conf_is_local_domain(c, "example.com"));
	assert_true(conf_is_local_domain(c, "example.org"));
	conf_unref(c);

	assert_null(conf_load(path, bad, 1, err, sizeof(err)));
	assert_string_equal(err, "-o Nope=1: unknown key \"Nope\"");
	assert_null(conf_load(path, noeq, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "-o Sign: \"Sign\": expected Key=Value"));
	free(path);
}

static void
test_print_and_keys(void **state)
{
	char err[512], *buf = NULL;
	size_t len = 0;
	conf_t *c = conf_load(NULL, NULL, 0, err, sizeof(err));
	FILE *fp = open_memstream(&buf, &len);
	const char *const *keys = conf_key_names();
	size_t n = 0;

	assert_non_null(c);
	conf_print(c, fp);
	fclose(fp);
	for (; keys[n] != NULL; n++) {
		char want[128];
		snprintf(want, sizeof(want), "%s = ", keys[n]);
		if (strstr(buf, want) == NULL)
			fail_msg("key %s missing from conf_print output", keys[n]);
	}
	assert_true(n >= 20);
	assert_non_null(strstr(buf, "InternalHosts = \n"));
	assert_non_null(strstr(buf, "SyslogFacility = mail\n"));
	free(buf);
	conf_unref(c);
}

/* The HTTP limits and PickupTrustedProxies. */
static void
test_http_limits(void **state)
{
	char err[512];
	char *ov[] = { "PickupTrustedProxies=192.0.2.0/24, 2001:db8::7",
	    "HTTPMaxHeaderSize=8K", "HTTPRequestTimeout=5" };
	conf_t *c = conf_load(NULL, NULL, 0, err, sizeof(err));

	(void)state;
	if (c == NULL)
		fail_msg("defaults: %s", err);
	assert_int_equal(c->http_max_header_size, 16384);
	assert_int_equal(c->http_max_headers, 100);
	assert_int_equal(c->http_max_connections, 100);
	assert_int_equal(c->http_request_timeout, 20);
	assert_int_equal(c->pickup_proxies.n, 0);
	assert_false(conf_netlist_match_text(&c->pickup_proxies, "127.0.0.1"));
	conf_unref(c);
	if ((c = conf_load(NULL, ov, 3, err, sizeof(err))) == NULL)
		fail_msg("overrides: %s", err);
	assert_int_equal(c->http_max_header_size, 8192);
	assert_int_equal(c->http_request_timeout, 5);
	assert_int_equal(c->pickup_proxies.n, 2);
	assert_true(conf_netlist_match_text(&c->pickup_proxies, "192.0.2.200"));
	assert_true(conf_netlist_match_text(&c->pickup_proxies, "::ffff:192.0.2.1"));
	assert_true(conf_netlist_match_text(&c->pickup_proxies, "2001:db8::7"));
	assert_false(conf_netlist_match_text(&c->pickup_proxies, "2001:db8::8"));
	assert_false(conf_netlist_match_text(&c->pickup_proxies, "198.51.100.1"));
	assert_false(conf_netlist_match_text(&c->pickup_proxies, "not an address"));
	/* InternalHosts keeps its own list. */
	assert_false(conf_is_internal_text(c, "192.0.2.200"));
	conf_unref(c);
	ov[0] = "PickupTrustedProxies=192.0.2.0/40";
	assert_null(conf_load(NULL, ov, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "PickupTrustedProxies"));
	ov[0] = "HTTPMaxHeaders=5";
	assert_null(conf_load(NULL, ov, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "HTTPMaxHeaders"));
}

static void
test_signer_map(void **state)
{
	char err[512];
	char *path = write_conf("signers",
	    "# login  addresses\n"
	    "alice    alice@example.com, a.smith@Example.COM\n"
	    "Bob      bob@example.com\n"
	    "alice    sales@example.com\n");
	char *bad = write_conf("signers.bad", "alice alice@example.com\ncarol\n");
	char *bad2 = write_conf("signers.bad2", "dave dave.example.com\n");
	dir_map_t *map = dir_map_load(path, err, sizeof(err));

	if (map == NULL)
		fail_msg("load: %s", err);
	assert_true(dir_map_has_login(map, "ALICE"));
	assert_true(dir_map_allows(map, "alice", "alice@example.com"));
	assert_true(dir_map_allows(map, "alice", "a.smith@example.com"));
	assert_true(dir_map_allows(map, "alice", "sales@EXAMPLE.com"));
	assert_false(dir_map_allows(map, "alice", "A.Smith@example.com"));
	assert_false(dir_map_allows(map, "alice", "bob@example.com"));
	assert_true(dir_map_allows(map, "bob", "bob@example.com"));
	assert_false(dir_map_has_login(map, "mallory"));
	assert_false(dir_map_allows(map, "mallory", "alice@example.com"));
	dir_map_free(map);

	assert_null(dir_map_load(bad, err, sizeof(err)));
	assert_non_null(strstr(err, "signers.bad:2: a login needs at least one address"));
	assert_null(dir_map_load(bad2, err, sizeof(err)));
	assert_non_null(strstr(err, "signers.bad2:1: an address must be"));
	free(path);
	free(bad);
	free(bad2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_print_and_keys),
		cmocka_unit_test(test_signer_map),
		cmocka_unit_test(test_http_limits),
	};

	return cmocka_run_group_tests_name("conf", tests, setup, teardown);
}
