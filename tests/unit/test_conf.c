/*
 * test_conf.c: the configuration (conf/) and the SignerMap file
 * (directory/dir_map.c): good files, every kind of bad line reported as
 * file:line, -o overrides, derived defaults, the table's flags, loading
 * that writes nothing while the start's conf_prepare() makes the
 * re-injection key, and the InternalHosts and LocalDomains matches.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "conf/conf.h"
#include "conf/conf_int.h"
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
		/* Several gateways sharing state. */
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


/* Entries in dir, "." and ".." aside; -1 when it cannot be read. */
static int
dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* Loading writes nothing (smimegate -n, smimectl, a reload); the start's
 * conf_prepare() makes StateDirectory and the re-injection key. */
static void
test_load_writes_nothing(void **state)
{
	char err[512], *state_ov, *absent_ov, *absent, *key;
	char *ov[2];
	struct stat st;
	conf_t *c;

	assert_true(asprintf(&state_ov, "StateDirectory=%s/state", tmp) > 0);
	assert_true(asprintf(&absent, "%s/absent", tmp) > 0);
	assert_true(asprintf(&absent_ov, "StateDirectory=%s", absent) > 0);
	assert_true(asprintf(&key, "%s/state/reinject.key", tmp) > 0);
	assert_int_equal(mkdir(state_ov + strlen("StateDirectory="), 0700), 0);
	ov[0] = state_ov;
	ov[1] = "TrustSystemStore=no";
	if ((c = conf_load(NULL, ov, 2, err, sizeof(err))) == NULL)
		fail_msg("load: %s", err);
	assert_int_equal(dir_entries(c->state_dir), 0);
	assert_int_equal(c->reinject_keylen, 0);
	if (conf_prepare(c, err, sizeof(err)) != 0)
		fail_msg("prepare: %s", err);
	assert_int_equal(c->reinject_keylen, 32);
	assert_int_equal(lstat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	conf_unref(c);
	/* The next load reads the key the start made. */
	if ((c = conf_load(NULL, ov, 2, err, sizeof(err))) == NULL)
		fail_msg("load again: %s", err);
	assert_int_equal(c->reinject_keylen, 32);
	conf_unref(c);

	ov[0] = absent_ov;
	if ((c = conf_load(NULL, ov, 2, err, sizeof(err))) == NULL)
		fail_msg("load: %s", err);
	assert_int_equal(c->reinject_keylen, 0);
	conf_unref(c);
	assert_int_not_equal(lstat(absent, &st), 0);
	free(state_ov);
	free(absent_ov);
	free(absent);
	free(key);
}

/* Defaults that name other keys, expanded when the key is empty. */
static void
test_derived_defaults(void **state)
{
	char err[512];
	char *ov[] = { "StateDirectory=/s", "AuditDirectory=/a", "CAHTTPListen=",
	    "LocalDomains=b.example, c.example", "CACRLURL=http://crl.example/x.crl",
	    "QueueDirectory=" };
	conf_t *c = conf_parse(NULL, ov, 6, err, sizeof(err));

	if (c == NULL)
		fail_msg("parse: %s", err);
	assert_string_equal(c->keystore_dir, "/s/keystore");
	assert_string_equal(c->master_key_file, "/s/keystore/master.key");
	assert_string_equal(c->audit_key_file, "/a/audit.key");
	assert_string_equal(c->audit_head_file, "/s/audit.head");
	assert_string_equal(c->queue_dir, "/s/queue");
	assert_string_equal(c->reinject_key_file, "/s/reinject.key");
	assert_string_equal(c->ca_dir, "/s/ca");
	assert_string_equal(c->pickup_dir, "/s/pickup");
	assert_string_equal(c->ca_crl_url, "http://crl.example/x.crl");
	assert_string_equal(c->ca_issuer_url, "");
	assert_string_equal(c->portal_url, "");
	assert_string_equal(c->enroll_sender, "postmaster@b.example");
	assert_null(c->lookup);          /* parsing builds nothing */
	assert_null(c->policy);
	conf_unref(c);

	ov[2] = "CAHTTPListen=ca.example:8080";
	ov[3] = "LocalDomains=";
	if ((c = conf_parse(NULL, ov, 4, err, sizeof(err))) == NULL)
		fail_msg("parse: %s", err);
	assert_string_equal(c->ca_crl_url, "http://ca.example:8080/ca.crl");
	assert_string_equal(c->ca_issuer_url, "http://ca.example:8080/ca.crt");
	assert_string_equal(c->portal_url, "http://ca.example:8080");
	assert_string_equal(c->enroll_sender, "postmaster@localhost");
	conf_unref(c);
}

/* The rows' flags: derived defaults are strings or paths, a secret is
 * never a value (the key names a file), and the keys read at start only. */
static void
test_flags(void **state)
{
	static const char *const restart[] = { "Socket", "UserID", "StateDirectory",
	    "HTTPListen", "CAHTTPListen", "PickupDirectory", "PickupMaxFailures",
	    "PickupClientMaxFailures", "PickupClientWindow", "PickupTrustedProxies",
	    "KeystoreBackend", "AuditLog", NULL };
	static const char *const reload[] = { "LocalDomains", "PolicyFile",
	    "ReinjectCommand", "HoldTime", "PickupLifetime", NULL };
	char err[512];
	char *ov[] = { "HTTPListen=127.0.0.1:9999", "LocalDomains=example.net",
	    "PickupTrustedProxies=192.0.2.1", "PolicyFile=" };
	conf_t *a, *b;
	const char *k;
	size_t i = 0;

	for (size_t n = 0; n < conf_nkeys; n++) {
		if (conf_key_derived(&conf_keys[n]) && conf_keys[n].type != T_STR
		    && conf_keys[n].type != T_PATH)
			fail_msg("%s: a derived default that is not a string", conf_keys[n].name);
		if ((conf_keys[n].flags & CONF_SECRET) && conf_keys[n].type != T_PATH)
			fail_msg("%s: a secret that is not a file name", conf_keys[n].name);
	}
	for (const char *const *p = restart; *p != NULL; p++)
		if (!conf_key_restart(*p))
			fail_msg("%s is read at start only", *p);
	for (const char *const *p = reload; *p != NULL; p++)
		if (conf_key_restart(*p))
			fail_msg("%s takes effect at a reload", *p);
	assert_false(conf_key_restart("NoSuchKey"));

	a = conf_parse(NULL, NULL, 0, err, sizeof(err));
	b = conf_parse(NULL, ov, 4, err, sizeof(err));
	assert_non_null(a);
	assert_non_null(b);
	assert_null(conf_restart_changed(a, a, &i));
	i = 0;
	assert_string_equal(conf_restart_changed(a, b, &i), "HTTPListen");
	k = conf_restart_changed(a, b, &i);
	assert_non_null(k);
	assert_string_equal(k, "PickupTrustedProxies");
	assert_null(conf_restart_changed(a, b, &i));
	conf_unref(a);
	conf_unref(b);
}

/* Docs track code: smimegate.conf(5)'s RELOADING lists exactly the keys
 * the table flags as read at start only (run from the top of the tree). */
static void
test_flags_documented(void **state)
{
	FILE *fp = fopen("docs/smimegate.conf.5", "r");
	char line[512], key[128];
	int in = 0, listed = 0;
	size_t nflagged = 0;

	if (fp == NULL)
		skip();
	for (size_t n = 0; n < conf_nkeys; n++)
		nflagged += (conf_keys[n].flags & CONF_RESTART) != 0;
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (strncmp(line, ".SH ", 4) == 0)
			in = strncmp(line, ".SH RELOADING", 13) == 0;
		if (!in || (sscanf(line, ".BR %127[A-Za-z0-9]", key) != 1
		    && sscanf(line, ".B %127[A-Za-z0-9]", key) != 1))
			continue;
		if (strcmp(key, "SIGHUP") == 0 || strcmp(key, "smimegate") == 0)
			continue;
		if (!conf_key_restart(key))
			fail_msg("%s is listed in RELOADING but not flagged CONF_RESTART", key);
		listed++;
	}
	fclose(fp);
	assert_int_equal(listed, (int)nflagged);
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
		cmocka_unit_test(test_load_writes_nothing),
		cmocka_unit_test(test_derived_defaults),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_flags_documented),
	};

	return cmocka_run_group_tests_name("conf", tests, setup, teardown);
}
