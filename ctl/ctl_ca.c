/*
 * ctl_ca.c: smimectl's commands for the embedded CA (see ctl_ca.h).
 *
 *   ca init                      make the root and the issuing CA
 *   ca issue [--profile P] ADDR  P: sign, encrypt or external (default);
 *                                the key is generated and escrowed; encrypt
 *                                (and external, PublishOutsiders) published
 *   ca issue [--profile P] --csr FILE ADDR
 *                                to the key of a PKCS#10 request (not
 *                                escrowed, not published)
 *   ca revoke SERIAL [--reason R] and a new CRL; out of PublishDirectory
 *                                when it is the certificate published
 *   ca list                      serial, address, not after, status
 *   ca crl [--out FILE]          a new CRL (DER) now
 *   ca cmp [--key FILE] ADDR     a certificate from CMPServer over CMP,
 *                                the key (new, or FILE) escrowed
 *
 * The usage smimectl prints is in ctl_cmd.c.  Single-threaded command code.
 */
#include "ctl/ctl_ca.h"
#include "ca/ca_serve.h"
#include "ops/ops_publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/pem.h>

static int
ca_fail(const char *what, const keystore_err_t *err)
{
	fprintf(stderr, "smimectl: ca %s: %s\n", what, err->msg);
	return 1;
}

static int
list_one(const ca_cert_t *c, void *arg)
{
	printf("%s\t%s\t%s\t%s\n", c->serial, c->address, c->not_after,
	    c->revoked ? "revoked" : "valid");
	return 0;
}

/* The whole file (a PKCS#10 request), malloc'ed; NULL when unreadable. */
static unsigned char *
read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *buf = fp != NULL ? malloc(1024 * 1024) : NULL;

	*len = buf != NULL ? fread(buf, 1, 1024 * 1024, fp) : 0;
	if (fp != NULL)
		fclose(fp);
	if (buf != NULL && (*len == 0 || *len == 1024 * 1024)) {
		free(buf);
		buf = NULL;
	}
	return buf;
}

/* PublishDirectory: an employee's encryption certificate (CA_ENCRYPT),
 * an outsider's (CA_EXTERNAL) when PublishOutsiders says so; with the
 * CA's chain.  A failure is a warning: the certificate stands. */
static void
dir_publish_issued(ca_t *ca, const conf_t *conf, const char *address, X509 *x,
    int outsider)
{
	dir_publish_settings_t s;
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509 *c;
	char why[512];

	ops_publish_settings(conf, &s);
	if (!dir_publish_enabled(&s) || (outsider && !conf->publish_outsiders)) {
		sk_X509_free(chain);
		return;
	}
	if (chain != NULL && (c = ca_issuer(ca)) != NULL && !sk_X509_push(chain, c))
		X509_free(c);
	if (chain != NULL && (c = ca_root(ca)) != NULL && !sk_X509_push(chain, c))
		X509_free(c);
	if (dir_publish(&s, address, x, chain, why, sizeof(why)) != 0)
		fprintf(stderr, "smimectl: warning: ca issue: issued, but not in the "
		    "directory: %s; run smimectl keystore publish %s when it answers\n",
		    why, address);
	sk_X509_pop_free(chain, X509_free);
}

/* ca revoke SERIAL: revoked, a new CRL, and out of PublishDirectory when
 * that certificate is what the directory shows. */
static int
revoke_unpublish(ca_t *ca, const char *serial, const conf_t *conf)
{
	dir_publish_settings_t s;
	keystore_err_t err;
	X509 *x = NULL;
	char why[512], addr[320];

	ops_publish_settings(conf, &s);
	if (!dir_publish_enabled(&s) || ca_issued_cert(ca, serial, &x, &err) != KEYSTORE_OK
	    || keystore_cert_describe(x, &(keystore_info_t){ 0 }, addr, sizeof(addr)) != 0
	    || *addr == '\0') {
		X509_free(x);
		return 0;
	}
	if (dir_unpublish(&s, addr, x, why, sizeof(why)) < 0)
		fprintf(stderr, "smimectl: warning: ca revoke: revoked, but still in the "
		    "directory: %s\n", why);
	X509_free(x);
	return 0;
}

static int
cmd_issue(ca_t *ca, int argc, char **argv, const conf_t *conf)
{
	ca_profile_t p = CA_EXTERNAL;
	keystore_err_t err;
	keystore_status_t st;
	X509 *x = NULL;
	const char *csr = NULL;
	unsigned char *req = NULL;
	size_t len = 0;
	char why[512];
	int i;

	for (i = 1; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (strcmp(argv[i], "--csr") == 0)
			csr = argv[i + 1];
		else if (strcmp(argv[i], "--profile") != 0)
			break;
		else if (strcmp(argv[i + 1], "sign") == 0)
			p = CA_SIGN;
		else if (strcmp(argv[i + 1], "encrypt") == 0)
			p = CA_ENCRYPT;
		else if (strcmp(argv[i + 1], "external") != 0) {
			fprintf(stderr, "smimectl: ca issue: profile sign, encrypt or external\n");
			return 2;
		}
	}
	if (argc != i + 1 || argv[i][0] == '-') {
		fprintf(stderr, "smimectl: ca issue: want [--profile P] [--csr FILE] ADDRESS\n");
		return 2;
	}
	if (csr != NULL && (req = read_file(csr, &len)) == NULL) {
		fprintf(stderr, "smimectl: ca issue: cannot read %s\n", csr);
		return 1;
	}
	st = csr != NULL ? ca_issue_csr(ca, argv[i], p, req, len, &x, &err)
	    : ca_issue(ca, argv[i], p, &x, &err);
	free(req);
	if (st != KEYSTORE_OK)
		return ca_fail("issue", &err);
	/* Published when the key is escrowed here: the gateway can decrypt. */
	if (p != CA_SIGN && csr == NULL
	    && ca_serve_publish(conf, argv[i], x, why, sizeof(why)) != 0)
		fprintf(stderr, "smimectl: ca issue: issued, not published: %s\n", why);
	if (p != CA_SIGN && csr == NULL)
		dir_publish_issued(ca, conf, argv[i], x, p == CA_EXTERNAL);
	PEM_write_X509(stdout, x);
	X509_free(x);
	return 0;
}

static int
cmd_crl(ca_t *ca, int argc, char **argv)
{
	keystore_err_t err;
	unsigned char *der = NULL;
	size_t len = 0;
	FILE *fp;

	if (ca_crl(ca, &der, &len, &err) != KEYSTORE_OK)
		return ca_fail("crl", &err);
	if (argc == 3 && strcmp(argv[1], "--out") == 0) {
		if ((fp = fopen(argv[2], "wb")) == NULL || fwrite(der, 1, len, fp) != len
		    || fclose(fp) != 0) {
			fprintf(stderr, "smimectl: ca crl: cannot write %s\n", argv[2]);
			OPENSSL_free(der);
			return 1;
		}
	}
	OPENSSL_free(der);
	return 0;
}

static int
ca_cmp(int argc, char **argv, const conf_t *conf, keystore_t *ks)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	FILE *fp;
	char why[512];
	int i = 1;

	if (argc == 4 && strcmp(argv[1], "--key") == 0) {
		if ((fp = fopen(argv[2], "r")) == NULL
		    || (key = PEM_read_PrivateKey(fp, NULL, NULL, NULL)) == NULL) {
			fprintf(stderr, "smimectl: ca cmp: cannot read the key %s\n", argv[2]);
			if (fp != NULL)
				fclose(fp);
			return 1;
		}
		fclose(fp);
		i = 3;
	}
	if (argc != i + 1 || *conf->cmp_server == '\0') {
		fprintf(stderr, "smimectl: ca cmp: want [--key FILE] ADDRESS, and CMPServer\n");
		EVP_PKEY_free(key);
		return 2;
	}
	if (ca_serve_issue(conf, NULL, ks, argv[i], CA_EXTERNAL, key, &x, why,
	    sizeof(why)) != 0) {
		fprintf(stderr, "smimectl: ca cmp: %s\n", why);
		EVP_PKEY_free(key);
		return 1;
	}
	PEM_write_X509(stdout, x);
	X509_free(x);
	EVP_PKEY_free(key);
	return 0;
}

/* ca revoke SERIAL [--reason NAME] */
static int
cmd_revoke(ca_t *ca, int argc, char **argv, const conf_t *conf)
{
	const char *serial = NULL, *name = NULL;
	keystore_err_t err;
	int reason = -1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc)
			name = argv[++i];
		else if (strncmp(argv[i], "--reason=", 9) == 0)
			name = argv[i] + 9;
		else if (serial == NULL && argv[i][0] != '-')
			serial = argv[i];
		else
			serial = name = "";
	}
	if (serial == NULL || *serial == '\0' || (name != NULL
	    && (reason = ca_reason_code(name)) < 0)) {
		fprintf(stderr, "smimectl: ca revoke: want SERIAL [--reason keyCompromise|"
		    "cACompromise|affiliationChanged|superseded|cessationOfOperation|"
		    "certificateHold|removeFromCRL|privilegeWithdrawn|aACompromise|"
		    "unspecified]\n");
		return 2;
	}
	if (ca_revoke_reason(ca, serial, reason, &err) != KEYSTORE_OK)
		return ca_fail("revoke", &err);
	return revoke_unpublish(ca, serial, conf);
}

int
ctl_ca(int argc, char **argv, const conf_t *conf, keystore_t *ks)
{
	ca_settings_t s;
	ca_t *ca;
	keystore_err_t err;
	int rc;

	ca_serve_settings(conf, &s);
	if (strcmp(argv[0], "cmp") == 0)
		return ca_cmp(argc, argv, conf, ks);
	if (strcmp(argv[0], "init") == 0) {
		if (argc != 1) {
			fprintf(stderr, "smimectl: ca init: no arguments\n");
			return 2;
		}
		if (ca_init(ks, &s, &err) != KEYSTORE_OK)
			return ca_fail("init", &err);
		printf("CA made in %s\n", s.dir);
		return 0;
	}
	if ((ca = ca_open(ks, &s, &err)) == NULL)
		return ca_fail(argv[0], &err);
	if (strcmp(argv[0], "issue") == 0)
		rc = cmd_issue(ca, argc, argv, conf);
	else if (strcmp(argv[0], "revoke") == 0)
		rc = cmd_revoke(ca, argc, argv, conf);
	else if (strcmp(argv[0], "list") == 0 && argc == 1)
		rc = ca_foreach(ca, list_one, NULL, &err) < 0
		    ? ca_fail("list", &err) : 0;
	else if (strcmp(argv[0], "crl") == 0)
		rc = cmd_crl(ca, argc, argv);
	else {
		fprintf(stderr, "smimectl: ca: want init, issue, revoke SERIAL, list or crl\n");
		rc = 2;
	}
	ca_free(ca);
	return rc;
}
