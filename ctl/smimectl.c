/*
 * smimectl.c: the admin tool's main(): global options (-c, -o, --help,
 * --version), then one command of the table in ctl_cmd.c, whose --help
 * and options are checked there before any work; then the configuration
 * and the command.  The keystore commands (import, list, export, rekey,
 * expiring, renew) and config are here; the others are in ctl_audit.c,
 * ctl_ca.c, ctl_lookup.c, ctl_policy.c, ctl_publish.c (keystore publish,
 * retire, purge-retired) and ctl_spool.c.
 *
 * main() only dispatches; each command is one function that returns the
 * exit status: 0 done, 1 failed (a message "smimectl: ..." on stderr), 2
 * usage (a message, then main() prints the command's usage on stderr).
 * Passwords come from a file, SMIMEGATE_P12_PASSWORD or the terminal,
 * never from the command line, and are cleansed after use.
 * Single-threaded; exiting is done by main() alone.
 */
#include "conf/conf.h"
#include "keystore/keystore.h"
#include "ops/ops_audit.h"
#include "ops/ops_keystore.h"
#include "ca/ca_renew.h"
#include "ca/ca_serve.h"
#include "ctl/ctl_audit.h"
#include "ctl/ctl_lookup.h"
#include "ctl/ctl_policy.h"
#include "ctl/ctl_publish.h"
#include "ctl/ctl_spool.h"
#include "ctl/ctl_ca.h"
#include "ctl/ctl_cmd.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>

#define EXIT_FAIL      1
#define EXIT_USAGE     2
#define MAX_OVERRIDES  256
#define PASSWORD_MAX   1024
#define P12_MAX        (16L * 1024 * 1024)
#define PASSWORD_ENV   "SMIMEGATE_P12_PASSWORD"

typedef struct ctl {
	const char *conf_file;         /* -c */
	char *overrides[MAX_OVERRIDES];/* -o */
	size_t noverrides;
} ctl_t;

#ifndef SMIMEGATE_VERSION
#error "SMIMEGATE_VERSION: the Makefile passes debian/changelog's version"
#endif

/* ---- messages ---- */

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "smimectl: ..." on standard error; returns code. */
static int
say(int code, const char *fmt, va_list ap)
{
	fputs("smimectl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	return code;
}

/* Prints "smimectl: ..." and returns EXIT_FAIL. */
static int
fail(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = say(EXIT_FAIL, fmt, ap);
	va_end(ap);
	return rc;
}

/* Prints "smimectl: ..." and returns EXIT_USAGE; main() then prints the
 * command's usage. */
static int
usage_error(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = say(EXIT_USAGE, fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- configuration and keystore ---- */

/* The configuration: -c FILE, else the stock file if it exists, else the
 * built-in defaults; then the -o overrides. */
static conf_t *
ctl_conf(const ctl_t *c)
{
	const char *file = c->conf_file;
	conf_t *conf;
	char err[1024];

	if (file == NULL && access(CONF_DEFAULT_FILE, F_OK) == 0)
		file = CONF_DEFAULT_FILE;
	conf = conf_load(file, c->overrides, c->noverrides, err, sizeof(err));
	if (conf == NULL)
		fail("%s", err);
	return conf;
}

/*
 * The state, keystore, CA and audit directories, as the daemon makes them on its
 * first start: mode 0700 and, when root runs us and UserID is set, owned
 * by that user, so that the daemon can read what we write.
 */
static int
ctl_make_state(const conf_t *conf)
{
	const char *dirs[] = { conf->state_dir, conf->keystore_dir, conf->ca_dir,
		conf->audit ? conf->audit_dir : conf->ca_dir };
	struct passwd *pw = NULL;
	char err[PATH_MAX + 100];

	if (geteuid() == 0 && *conf->user != '\0' && (pw = getpwnam(conf->user)) == NULL)
		return fail("UserID %s: no such user", conf->user);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (mkdir(dirs[i], 0700) != 0) {
			if (errno == EEXIST)
				continue;
			return fail("cannot create %s: %s", dirs[i], strerror(errno));
		}
		/* Made just now inside a directory the service user may own:
		 * never follow a link it may have put there since. */
		if (pw != NULL && util_chown_nofollow(dirs[i], pw->pw_uid, pw->pw_gid,
		    err, sizeof(err)) != 0)
			return fail("%s", err);
	}
	return 0;
}

static keystore_t *
ctl_keystore(const conf_t *conf, int flags)
{
	keystore_err_t kerr;
	keystore_t *ks;

	if ((flags & KEYSTORE_CREATE) && ctl_make_state(conf) != 0)
		return NULL;
	ks = ops_keystore_open(conf, flags, &kerr);
	if (ks == NULL)
		fail("keystore: %s", kerr.msg);
	return ks;
}

/* ---- files and passwords ---- */

/* Reads the first line of path into buf (without its end of line). */
static int
password_from_file(const char *path, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r = 0;
	char *nl;
	int e, fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return fail("%s: %s", path, strerror(errno));
	/* read(2) into buf itself: no stdio buffer keeps a copy. */
	while (n < size - 1 && memchr(buf, '\n', n) == NULL) {
		if ((r = read(fd, buf + n, size - 1 - n)) < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	e = errno;
	close(fd);
	if ((nl = memchr(buf, '\n', n)) != NULL)
		n = (size_t)(nl - buf);
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	OPENSSL_cleanse(buf + n, size - n);        /* zeros: also terminates */
	if (r < 0 || (nl == NULL && n == size - 1)) {
		OPENSSL_cleanse(buf, size);
		return r < 0 ? fail("%s: %s", path, strerror(e))
		    : fail("%s: password longer than %zu characters", path, size - 2);
	}
	return 0;
}

/* The password: --password-file, else the environment, else the terminal
 * (asked twice when verify). */
static int
ctl_password(const char *file, const char *prompt, int verify, char *buf,
    size_t size)
{
	const char *env = getenv(PASSWORD_ENV);

	memset(buf, 0, size);
	if (file != NULL)
		return password_from_file(file, buf, size);
	if (env != NULL) {
		if (strlen(env) >= size)
			return fail("$%s: password longer than %zu characters",
			    PASSWORD_ENV, size - 1);
		memcpy(buf, env, strlen(env));
		/* Wipe it where it was too: /proc/PID/environ shows that memory. */
		OPENSSL_cleanse((char *)env, strlen(env));
		return 0;
	}
	if (EVP_read_pw_string(buf, (int)size, prompt, verify) != 0) {
		OPENSSL_cleanse(buf, size);
		ERR_clear_error();
		return fail("no password from the terminal (none there, or the "
		    "two entries differ); use --password-file or $%s",
		    PASSWORD_ENV);
	}
	return 0;
}

/* Reads a whole file of at most P12_MAX bytes (malloc'ed). */
static int
read_file(const char *path, unsigned char **data, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t n;

	if (fp == NULL)
		return fail("%s: %s", path, strerror(errno));
	if ((buf = malloc(P12_MAX + 1)) == NULL) {
		fclose(fp);
		return fail("%s: out of memory", path);
	}
	n = fread(buf, 1, P12_MAX + 1, fp);
	if (ferror(fp) || n > P12_MAX) {
		fclose(fp);
		free(buf);
		return n > P12_MAX ? fail("%s: larger than %ld bytes", path, P12_MAX)
		    : fail("%s: read error", path);
	}
	fclose(fp);
	*data = buf;
	*len = n;
	return 0;
}

/* Writes der to path (mode 0600), or to stdout when path is NULL. */
static int
write_output(const char *path, const unsigned char *der, size_t len)
{
	int fd;

	if (path == NULL) {
		if (isatty(STDOUT_FILENO))
			return fail("not writing a PKCS#12 to a terminal (use --out FILE)");
		if (util_write_all(STDOUT_FILENO, der, len) != 0)
			return fail("standard output: %s", strerror(errno));
		return 0;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail("%s: %s", path, strerror(errno));
	if (fchmod(fd, 0600) != 0 || util_write_all(fd, der, len) != 0) {
		fail("%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return EXIT_FAIL;
	}
	if (close(fd) != 0) {
		unlink(path);
		return fail("%s: %s", path, strerror(errno));
	}
	return 0;
}

/* ---- sub-command options ---- */

typedef struct subopts {
	const char *password_file;
	const char *out;
	const char *days;              /* keystore expiring --days */
	int legacy;
	int defaults;                  /* config -d */
} subopts_t;

/*
 * Parses the options of command name (argv[0] is its last word); allowed
 * lists the ones it takes ("p" password-file, "o" out, "l" legacy, "d" -d,
 * "D" days).
 * Returns the index of the first operand, or -1 after a usage message.
 */
static int
parse_subopts(const char *name, int argc, char **argv, const char *allowed,
    subopts_t *o)
{
	static const struct option longopts[] = {
		{ "password-file", required_argument, NULL, 'p' },
		{ "out", required_argument, NULL, 'o' },
		{ "legacy", no_argument, NULL, 'l' },
		{ "days", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	memset(o, 0, sizeof(*o));
	optind = 0;                    /* GNU: start afresh at argv[1] */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "d", longopts, NULL)) != -1) {
		if (ch == '?' || strchr(allowed, ch) == NULL) {
			usage_error("%s: unknown option or missing value: %s", name,
			    argv[optind - 1]);
			return -1;
		}
		if (ch == 'p')
			o->password_file = optarg;
		else if (ch == 'o')
			o->out = optarg;
		else if (ch == 'l')
			o->legacy = 1;
		else if (ch == 'D')
			o->days = optarg;
		else if (ch == 'd')
			o->defaults = 1;
	}
	return optind;
}

/* ---- key events ---- */

/* Records a key event done by this command (ops_audit_key_event); 0, or
 * a message and EXIT_FAIL. */
static int
ctl_key_event(const conf_t *conf, audit_action_t action, const char *address,
    X509 *cert, const keystore_info_t *info, const char *what)
{
	char reason[400], err[700];
	ops_key_event_t ev = { action, address, cert, info ? info->fingerprint : NULL,
		info ? info->serial : NULL, NULL, reason };

	snprintf(reason, sizeof(reason), "smimectl %s (uid %ld)", what, (long)getuid());
	if (conf->audit && ctl_make_state(conf) != 0)
		return EXIT_FAIL;
	if (ops_audit_key_event(conf, &ev, err, sizeof(err)) != 0)
		return fail("%s", err);
	if (err[0] != '\0')
		fprintf(stderr, "smimectl: warning: %s %s\n", what, err);
	return 0;
}

/* ---- commands ---- */

static void
print_addresses(const keystore_info_t *info, FILE *fp)
{
	size_t i;

	for (i = 0; info->addresses[i] != NULL; i++)
		fprintf(fp, "%s%s", i ? "," : "", info->addresses[i]);
}

/* keystore import FILE.p12 [--password-file F] */
static int
cmd_import(const ctl_t *c, int argc, char **argv)
{
	char pw[PASSWORD_MAX], prompt[300];
	unsigned char *der = NULL;
	size_t len = 0;
	keystore_info_t info;
	keystore_err_t kerr;
	keystore_status_t st;
	conf_t *conf;
	keystore_t *ks = NULL;
	OSSL_PROVIDER *legacy;
	subopts_t o;
	int i = parse_subopts("keystore import", argc, argv, "p", &o), rc = EXIT_FAIL;

	if (i < 0)
		return EXIT_USAGE;
	if (argc - i != 1)
		return usage_error("keystore import: want one FILE.p12");
	snprintf(prompt, sizeof(prompt), "Password for %s:", argv[i]);
	/* Old PKCS#12 files use RC2 or RC4, which OpenSSL 3 keeps there. */
	legacy = OSSL_PROVIDER_try_load(NULL, "legacy", 1);
	ERR_clear_error();
	if ((conf = ctl_conf(c)) == NULL
	    || (ks = ctl_keystore(conf, conf->create_master_key ? KEYSTORE_CREATE : 0))
	    == NULL || read_file(argv[i], &der, &len) != 0
	    || ctl_password(o.password_file, prompt, 0, pw, sizeof(pw)) != 0)
		goto out;
	st = keystore_import_p12(ks, der, len, pw, &info, &kerr);
	OPENSSL_cleanse(pw, sizeof(pw));
	if (st != KEYSTORE_OK) {
		fail("%s: %s", argv[i], kerr.msg);
		goto out;
	}
	printf("imported ");
	print_addresses(&info, stdout);
	printf(": %s\n", info.fingerprint);
	ctl_publish_imported(conf, ks, &info);
	rc = ctl_key_event(conf, AUDIT_KEY_IMPORTED, info.addresses[0], NULL, &info,
	    "keystore import");
out:
	OPENSSL_clear_free(der, len);
	keystore_free(ks);
	conf_unref(conf);
	if (legacy != NULL)
		OSSL_PROVIDER_unload(legacy);
	return rc;
}

static int
list_one(const keystore_info_t *info, void *arg)
{
	FILE *fp = arg;

	print_addresses(info, fp);
	fprintf(fp, "\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", info->fingerprint,
	    info->serial, info->not_after,
	    info->can_sign && info->can_encrypt ? "sign,encrypt"
	    : info->can_sign ? "sign" : info->can_encrypt ? "encrypt" : "-",
	    info->not_before, info->subject, info->issuer);
	return 0;
}

/* keystore list: one line per entry, tab-separated: addresses,
 * fingerprint, serial, not after, usage, not before, subject, issuer. */
static int
cmd_list(const ctl_t *c, int argc, char **argv)
{
	keystore_err_t kerr;
	conf_t *conf;
	keystore_t *ks = NULL;
	subopts_t o;
	int i = parse_subopts("keystore list", argc, argv, "", &o), rc = EXIT_FAIL;

	if (i < 0)
		return EXIT_USAGE;
	if (argc - i != 0)
		return usage_error("keystore list: unexpected argument %s", argv[i]);
	if ((conf = ctl_conf(c)) != NULL && (ks = ctl_keystore(conf, 0)) != NULL) {
		if (keystore_foreach(ks, list_one, stdout, &kerr) != 0)
			fail("keystore: %s", kerr.msg);
		else if (fflush(stdout) != 0)
			fail("standard output: %s", strerror(errno));
		else
			rc = 0;
	}
	keystore_free(ks);
	conf_unref(conf);
	return rc;
}

/* The certificate of an exported PKCS#12, for the audit record; NULL
 * when it cannot be read (the record then names the address only). */
static X509 *
exported_cert(const unsigned char *der, size_t len, const char *pw)
{
	const unsigned char *p = der;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;

	if (p12 == NULL || !PKCS12_parse(p12, pw, &key, &cert, NULL))
		cert = NULL;
	EVP_PKEY_free(key);
	PKCS12_free(p12);
	ERR_clear_error();
	return cert;
}

/* keystore export ADDRESS [--out FILE] [--legacy] [--password-file F] */
static int
cmd_export(const ctl_t *c, int argc, char **argv)
{
	char pw[PASSWORD_MAX];
	unsigned char *der = NULL;
	size_t len = 0;
	keystore_err_t kerr;
	keystore_status_t st;
	conf_t *conf;
	keystore_t *ks = NULL;
	X509 *cert = NULL;
	subopts_t o;
	int i = parse_subopts("keystore export", argc, argv, "pol", &o), rc = EXIT_FAIL;

	if (i < 0)
		return EXIT_USAGE;
	if (argc - i != 1)
		return usage_error("keystore export: want one ADDRESS");
	if ((conf = ctl_conf(c)) == NULL || (ks = ctl_keystore(conf, 0)) == NULL
	    || ctl_password(o.password_file, "Password for the exported file:", 1,
	    pw, sizeof(pw)) != 0)
		goto out;
	st = keystore_export_p12(ks, argv[i], pw, o.legacy, &der, &len, &kerr);
	if (st == KEYSTORE_OK)
		cert = exported_cert(der, len, pw);
	OPENSSL_cleanse(pw, sizeof(pw));
	/* On record before the key leaves. */
	if (st != KEYSTORE_OK)
		fail("%s", kerr.msg);
	else if (ctl_key_event(conf, AUDIT_KEY_EXPORTED, argv[i], cert, NULL,
	    "keystore export") == 0 && write_output(o.out, der, len) == 0)
		rc = 0;
out:
	X509_free(cert);
	OPENSSL_clear_free(der, len);
	keystore_free(ks);
	conf_unref(conf);
	return rc;
}

/* keystore rekey: every entry sealed again under a new master key. */
static int
cmd_rekey(const ctl_t *c, int argc, char **argv)
{
	keystore_err_t kerr;
	conf_t *conf;
	keystore_t *ks = NULL;
	subopts_t o;
	size_t n = 0;
	int i = parse_subopts("keystore rekey", argc, argv, "", &o), rc = EXIT_FAIL;

	if (i < 0)
		return EXIT_USAGE;
	if (argc - i != 0)
		return usage_error("keystore rekey: unexpected argument %s", argv[i]);
	if ((conf = ctl_conf(c)) != NULL && (ks = ctl_keystore(conf, 0)) != NULL) {
		if (keystore_rekey(ks, &n, &kerr) != KEYSTORE_OK)
			fail("keystore rekey: %s (run it again to finish; every entry "
			    "still opens)", kerr.msg);
		else {
			printf("rekeyed %zu entries under a new master key\n", n);
			rc = fflush(stdout) == 0 ? 0 : EXIT_FAIL;
		}
	}
	keystore_free(ks);
	conf_unref(conf);
	return rc;
}

/* keystore expiring [--days N]: each address's newest signing and
 * encryption certificates expiring within N days (default RenewBefore)
 * or expired, soonest first, tab-separated: address, serial, not after,
 * use, "expired" or "in N days", fingerprint, issuer. */
static int
cmd_expiring(const ctl_t *c, int argc, char **argv)
{
	keystore_expiry_t *v = NULL;
	keystore_err_t kerr;
	conf_t *conf;
	keystore_t *ks = NULL;
	subopts_t o;
	long long days = 0;
	char *end;
	size_t n = 0;
	time_t now = time(NULL);
	int i = parse_subopts("keystore expiring", argc, argv, "D", &o), rc = EXIT_FAIL;

	if (i < 0)
		return EXIT_USAGE;
	if (argc - i != 0)
		return usage_error("keystore expiring: unexpected argument %s", argv[i]);
	if (o.days != NULL && ((days = strtoll(o.days, &end, 10)) < 0 || *end != '\0'
	    || end == o.days || days > 36500))
		return usage_error("keystore expiring: --days wants 0 to 36500");
	if ((conf = ctl_conf(c)) == NULL || (ks = ctl_keystore(conf, 0)) == NULL)
		goto out;
	if (o.days == NULL)
		days = conf->renew_before_days;
	if (keystore_expiring(ks, now + (time_t)days * 86400, &v, &n, &kerr) != 0) {
		fail("keystore: %s", kerr.msg);
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		printf("%s\t%s\t%s\t%s\t", v[k].address, v[k].serial, v[k].not_after,
		    v[k].sign && v[k].encrypt ? "sign,encrypt" : v[k].sign ? "sign" : "encrypt");
		if (v[k].expires <= now)
			printf("expired");
		else
			printf("in %lld days", (long long)(v[k].expires - now) / 86400);
		printf("\t%s\t%s\n", v[k].fingerprint, v[k].issuer);
	}
	rc = fflush(stdout) == 0 ? 0 : fail("standard output: %s", strerror(errno));
out:
	free(v);
	keystore_free(ks);
	conf_unref(conf);
	return rc;
}

static void
renew_printed(void *arg, const keystore_expiry_t *old, X509 *renewed,
    const char *why)
{
	keystore_info_t info;
	char first[8];
	int *failed = arg;

	if (renewed == NULL || why != NULL)
		*failed = 1;
	if (renewed == NULL) {
		fprintf(stderr, "smimectl: keystore renew: %s: certificate %s not "
		    "renewed: %s\n", old->address, old->serial, why);
		return;
	}
	(void)keystore_cert_describe(renewed, &info, first, sizeof(first));
	printf("renewed %s: certificate %s (%s) replaced by %s, expires %s\n",
	    old->address, old->serial, old->sign && old->encrypt ? "sign,encrypt"
	    : old->sign ? "sign" : "encrypt", info.serial, info.not_after);
	if (why != NULL)
		fprintf(stderr, "smimectl: keystore renew: %s: %s\n", old->address, why);
}

/* keystore renew ADDRESS: the address's newest signing and encryption
 * certificates of the embedded CA issued again, with new keys. */
static int
cmd_renew(const ctl_t *c, int argc, char **argv)
{
	keystore_err_t kerr;
	ca_settings_t s;
	conf_t *conf;
	keystore_t *ks = NULL;
	ca_t *ca = NULL;
	subopts_t o;
	char why[600];
	int n, failed = 0, i = parse_subopts("keystore renew", argc, argv, "", &o);
	int rc = EXIT_FAIL;

	if (i < 0)
		return EXIT_USAGE;
	if (argc - i != 1)
		return usage_error("keystore renew: want one ADDRESS");
	if ((conf = ctl_conf(c)) == NULL || (ks = ctl_keystore(conf, 0)) == NULL)
		goto out;
	ca_serve_settings(conf, &s);
	if ((ca = ca_open(ks, &s, &kerr)) == NULL) {
		fail("CA: %s", kerr.msg);
		goto out;
	}
	n = ca_renew_address(conf, ca, ks, argv[i], renew_printed, &failed, why,
	    sizeof(why));
	if (n < 0)
		fail("%s", why);
	else if (n == 0 && !failed)        /* else renew_printed() said why */
		fail("%s: no certificate of the embedded CA to renew (not in "
		    "LocalDomains, revoked, or of another CA)", argv[i]);
	else
		rc = failed ? EXIT_FAIL : 0;
out:
	ca_free(ca);
	keystore_free(ks);
	conf_unref(conf);
	return rc;
}

/* keystore publish|retire|purge-retired ...: PublishDirectory and
 * leavers (ctl_publish.c). */
static int
cmd_leavers(const ctl_t *c, int argc, char **argv)
{
	conf_t *conf;
	keystore_t *ks = NULL;
	int rc = EXIT_FAIL;

	if ((conf = ctl_conf(c)) != NULL && (ks = ctl_keystore(conf, 0)) != NULL) {
		if (strcmp(argv[1], "publish") == 0)
			rc = ctl_publish(conf, ks, argc > 2 ? argv[2] : NULL);
		else if (strcmp(argv[1], "retire") == 0)
			rc = ctl_retire(conf, ks, argv[2]);
		else
			rc = ctl_purge_retired(conf, ks);
	}
	keystore_free(ks);
	conf_unref(conf);
	return fflush(stdout) == 0 ? rc : EXIT_FAIL;
}

/* keystore import|list|export|rekey ...: argv[1] names one (main() found
 * it in the table of commands). */
static int
cmd_keystore(const ctl_t *c, int argc, char **argv)
{
	if (strcmp(argv[1], "publish") == 0 || strcmp(argv[1], "retire") == 0
	    || strcmp(argv[1], "purge-retired") == 0)
		return cmd_leavers(c, argc, argv);
	if (strcmp(argv[1], "rekey") == 0)
		return cmd_rekey(c, argc - 1, argv + 1);
	if (strcmp(argv[1], "import") == 0)
		return cmd_import(c, argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return cmd_list(c, argc - 1, argv + 1);
	if (strcmp(argv[1], "export") == 0)
		return cmd_export(c, argc - 1, argv + 1);
	if (strcmp(argv[1], "expiring") == 0)
		return cmd_expiring(c, argc - 1, argv + 1);
	if (strcmp(argv[1], "renew") == 0)
		return cmd_renew(c, argc - 1, argv + 1);
	return usage_error("keystore: unknown command %s", argv[1]);
}

/* config [-d]: the configuration in force, or the built-in defaults. */
static int
cmd_config(const ctl_t *c, int argc, char **argv)
{
	conf_t *conf;
	subopts_t o;
	char err[1024];
	int i = parse_subopts("config", argc, argv, "d", &o);

	if (i < 0)
		return EXIT_USAGE;
	if (argc - i != 0)
		return usage_error("config: unexpected argument %s", argv[i]);
	if (o.defaults)             /* values only: nothing to build */
		conf = conf_parse(NULL, NULL, 0, err, sizeof(err));
	else
		conf = ctl_conf(c);
	if (conf == NULL)
		return o.defaults ? fail("%s", err) : EXIT_FAIL;
	conf_print(conf, stdout);
	conf_unref(conf);
	if (fflush(stdout) != 0)
		return fail("standard output: %s", strerror(errno));
	return 0;
}

/* audit verify|report|fingerprint: the audit log (ctl_audit.c) */
static int
cmd_audit(const ctl_t *c, int argc, char **argv)
{
	conf_t *conf;
	int rc;

	if ((conf = ctl_conf(c)) == NULL)
		return EXIT_FAIL;
	rc = ctl_audit(argc - 1, argv + 1, conf->audit_dir,
	    conf->audit_key_fingerprint, conf->audit_head_file);
	conf_unref(conf);
	return rc;
}

/* lookup ADDRESS... / cache flush: the certificate lookup (ctl_lookup.c) */
static int
cmd_lookup(const ctl_t *c, int argc, char **argv, int cache)
{
	conf_t *conf;
	int rc;

	if ((conf = ctl_conf(c)) == NULL)
		return EXIT_FAIL;
	rc = cache ? ctl_cache(conf->lookup, argc, argv) : ctl_lookup(conf->lookup, argc, argv);
	conf_unref(conf);
	return rc;
}

/* policy explain ...: the decision per recipient (ctl_policy.c) */
static int
cmd_policy(const ctl_t *c, int argc, char **argv)
{
	conf_t *conf;
	int rc;

	if ((conf = ctl_conf(c)) == NULL)
		return EXIT_FAIL;
	rc = ctl_policy(argc - 1, argv + 1, conf);
	conf_unref(conf);
	return rc;
}

/* spool list|show|release|drop: the durable spool (ctl_spool.c) */
static int
cmd_spool(const ctl_t *c, int argc, char **argv)
{
	conf_t *conf;
	keystore_t *ks = NULL;
	int rc;

	if ((conf = ctl_conf(c)) == NULL)
		return EXIT_FAIL;
	/* A release decides the copy again: it may be signed. */
	if (ctl_spool_needs_keystore(argc - 1, argv + 1) && (ks = ctl_keystore(conf, 0)) == NULL) {
		conf_unref(conf);
		return EXIT_FAIL;
	}
	rc = ctl_spool(argc - 1, argv + 1, conf, ks);
	keystore_free(ks);
	conf_unref(conf);
	return rc;
}

/* ca init|issue|revoke|list|crl|cmp: the embedded CA (ctl_ca.c) */
static int
cmd_ca(const ctl_t *c, int argc, char **argv)
{
	conf_t *conf;
	keystore_t *ks = NULL;
	int rc = EXIT_FAIL;

	if ((conf = ctl_conf(c)) != NULL && ctl_make_state(conf) == 0
	    && (ks = ctl_keystore(conf, conf->create_master_key ? KEYSTORE_CREATE : 0)) != NULL)
		rc = ctl_ca(argc - 1, argv + 1, conf, ks);
	keystore_free(ks);
	if (conf != NULL)
		conf_unref(conf);
	return rc;
}

/* ---- main ---- */

/* -c, -o, -h, --help, --version; returns the index of the command, or -1
 * with *rc set. */
static int
parse_global(int argc, char **argv, ctl_t *c, int *rc)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+c:o:h", longopts, NULL)) != -1) {
		if (ch == 'c') {
			c->conf_file = optarg;
		} else if (ch == 'o' && c->noverrides < MAX_OVERRIDES) {
			c->overrides[c->noverrides++] = optarg;
		} else if (ch == 'h' || ch == 'V') {
			if (ch == 'h')
				ctl_cmd_usage(stdout, NULL);
			else
				printf("smimectl %s\n", SMIMEGATE_VERSION);
			*rc = fflush(stdout) == 0 ? 0 : EXIT_FAIL;
			return -1;
		} else {
			*rc = ch == 'o' ? usage_error("too many -o options")
			    : usage_error("unknown option or missing value: %s",
			    argv[optind - 1]);
			ctl_cmd_usage(stderr, NULL);
			return -1;
		}
	}
	if (optind >= argc) {
		*rc = usage_error("no command");
		ctl_cmd_usage(stderr, NULL);
		return -1;
	}
	return optind;
}

/* A group's word alone ("keystore", "keystore --help") or an unknown
 * command: the group's usage or the whole usage. */
static int
no_command(int argc, char **argv)
{
	if (!ctl_cmd_is_group(argv[0])) {
		usage_error("unknown command %s", argv[0]);
		ctl_cmd_usage(stderr, NULL);
		return EXIT_USAGE;
	}
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		ctl_cmd_usage(stdout, argv[0]);
		return fflush(stdout) == 0 ? 0 : EXIT_FAIL;
	}
	if (argc > 1)
		usage_error("%s: unknown command %s", argv[0], argv[1]);
	else
		usage_error("%s: which command?", argv[0]);
	ctl_cmd_usage(stderr, argv[0]);
	return EXIT_USAGE;
}

/* The command of argv[0..], its options already checked. */
static int
dispatch(const ctl_t *c, int argc, char **argv)
{
	if (strcmp(argv[0], "keystore") == 0)
		return cmd_keystore(c, argc, argv);
	if (strcmp(argv[0], "config") == 0)
		return cmd_config(c, argc, argv);
	if (strcmp(argv[0], "audit") == 0)
		return cmd_audit(c, argc, argv);
	if (strcmp(argv[0], "lookup") == 0 || strcmp(argv[0], "cache") == 0)
		return cmd_lookup(c, argc, argv, argv[0][0] == 'c');
	if (strcmp(argv[0], "policy") == 0)
		return cmd_policy(c, argc, argv);
	if (strcmp(argv[0], "spool") == 0)
		return cmd_spool(c, argc, argv);
	if (strcmp(argv[0], "ca") == 0)
		return cmd_ca(c, argc, argv);
	return usage_error("%s: not dispatched", argv[0]);
}

int
main(int argc, char **argv)
{
	const ctl_cmd_t *cmd;
	char why[300];
	ctl_t c;
	int i, words, rc = 0;

	memset(&c, 0, sizeof(c));
	umask(077);
	if ((i = parse_global(argc, argv, &c, &rc)) < 0)
		return rc;
	argc -= i;
	argv += i;
	if ((cmd = ctl_cmd_find(argc, argv, &words)) == NULL)
		return no_command(argc, argv);
	switch (ctl_cmd_check(cmd, argc - words, argv + words, why, sizeof(why))) {
	case CTL_CMD_HELP:
		ctl_cmd_usage(stdout, ctl_cmd_name(cmd));
		return fflush(stdout) == 0 ? 0 : EXIT_FAIL;
	case CTL_CMD_BAD:
		rc = usage_error("%s", why);
		break;
	case CTL_CMD_RUN:
		rc = dispatch(&c, argc, argv);
		break;
	}
	if (rc == EXIT_USAGE)
		ctl_cmd_usage(stderr, ctl_cmd_name(cmd));
	return rc;
}
