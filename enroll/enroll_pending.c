/*
 * enroll_pending.c: pending enrollments on disk (see enroll_pending.h).  A
 * file, named by the SHA-256 of the recipient's address (domain in lower
 * case), holds "ADDRESS\n" and the certificate in PEM; its mtime is when
 * it was issued.  No secret is stored: the key stays in the keystore.
 */
#include "enroll/enroll_pending.h"
#include "util/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#define PENDING_DIR "enroll-pending"
#define PENDING_MAX 10000             /* entries looked at by one sweep */
#define KIND "pending"

/* The keystore whose directory keeps the entries; NULL: files.  Set once
 * at start (enroll_pending_share()). */
static keystore_t *shared_ks;

void
enroll_pending_share(keystore_t *ks)
{
	shared_ks = ks != NULL && keystore_shared(ks) ? ks : NULL;
}

static void
pending_dir(const conf_t *c, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", c->state_dir, PENDING_DIR);
}

/* HEX, the SHA-256 of rcpt (domain in lower case); 0, or -1. */
static int
pending_name(const char *rcpt, char hex[65])
{
	char norm[1024];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	const char *at = strrchr(rcpt, '@');
	size_t len = strlen(rcpt), k;

	if (len >= sizeof(norm))
		return -1;
	for (k = 0; k < len; k++)
		norm[k] = at != NULL && rcpt + k > at ? (char)tolower((unsigned char)rcpt[k]) : rcpt[k];
	norm[len] = '\0';
	if (EVP_Digest(norm, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return -1;
	util_hex(hex, md, n);
	return 0;
}

/* DIR/HEX for rcpt; 0, or -1 (too long, no digest). */
static int
pending_path(const conf_t *c, const char *rcpt, char *buf, size_t size)
{
	char dir[4096], hex[65];

	if (pending_name(rcpt, hex) != 0)
		return -1;
	pending_dir(c, dir, sizeof(dir));
	return snprintf(buf, size, "%s/%s", dir, hex) < (int)size ? 0 : -1;
}

/* ---- the shared records: "ADDRESS\nISSUED\n" and the certificate ---- */

/* The record's certificate, address (when addr) and time of issue. */
static X509 *
shared_parse(const unsigned char *data, size_t len, char *addr, size_t asize,
    time_t *when)
{
	BIO *b = BIO_new_mem_buf(data, (int)len);
	char line[1024];
	X509 *x = NULL;

	if (b != NULL && BIO_gets(b, line, sizeof(line)) > 0) {
		line[strcspn(line, "\r\n")] = '\0';
		if (addr != NULL)
			snprintf(addr, asize, "%s", line);
		if (BIO_gets(b, line, sizeof(line)) > 0) {
			*when = (time_t)atol(line);
			x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		}
	}
	BIO_free(b);
	return x;
}

static X509 *
shared_get(const char *rcpt, time_t *when)
{
	unsigned char *data = NULL;
	size_t len = 0;
	char name[65];
	X509 *x;

	if (pending_name(rcpt, name) != 0
	    || keystore_record_get(shared_ks, KIND, name, &data, &len, NULL, NULL) != KEYSTORE_OK)
		return NULL;
	x = shared_parse(data, len, NULL, 0, when);
	OPENSSL_clear_free(data, len + 1);
	return x;
}

static int
shared_put(const char *rcpt, X509 *x, char *why, size_t size)
{
	BIO *b = BIO_new(BIO_s_mem());
	char name[65], *data;
	long len, version = 0;
	int exists = 0, lost = 0;
	keystore_err_t err = { KEYSTORE_OK, "" };
	keystore_status_t rc = KEYSTORE_ERR_NOMEM;
	unsigned char *old = NULL;
	size_t olen = 0;

	if (pending_name(rcpt, name) == 0 && b != NULL
	    && BIO_printf(b, "%s\n%ld\n", rcpt, (long)time(NULL)) > 0 && PEM_write_bio_X509(b, x)
	    && (len = BIO_get_mem_data(b, &data)) > 0) {
		rc = keystore_record_add(shared_ks, KIND, name, data, (size_t)len, &exists, &err);
		for (int i = 0; rc == KEYSTORE_OK && exists && i < 3; i++) {
			if ((rc = keystore_record_get(shared_ks, KIND, name, &old, &olen, &version,
			    &err)) != KEYSTORE_OK)
				break;
			OPENSSL_clear_free(old, olen + 1);
			rc = keystore_record_update(shared_ks, KIND, name, version, data, (size_t)len,
			    &lost, &err);
			exists = lost;
		}
	}
	BIO_free(b);
	if (rc != KEYSTORE_OK || exists) {
		snprintf(why, size, "pending enrollment of <%s> not kept in the directory: %s",
		    rcpt, err.msg[0] ? err.msg : "out of memory or lost to other gateways");
		return -1;
	}
	return 0;
}

/* 0 when this call removed the record, else -1 (gone, or an error). */
static int
shared_drop(const char *name)
{
	int gone = 0;

	return keystore_record_delete(shared_ks, KIND, name, &gone, NULL) == KEYSTORE_OK
	    && !gone ? 0 : -1;
}

/* Expired records, collected first: the sweep acts after the reading. */
typedef struct swept {
	char name[65], addr[1024];
	X509 *x;
} swept_t;

typedef struct sweep {
	swept_t *t;
	size_t n, cap;
	time_t now, max_age;
} sweep_t;

static int
sweep_one(const char *name, const unsigned char *data, size_t len, long version, void *arg)
{
	sweep_t *s = arg;
	time_t when = s->now;
	swept_t *t;
	X509 *x = NULL;
	char addr[1024];

	(void)version;
	if (s->n >= PENDING_MAX || (x = shared_parse(data, len, addr, sizeof(addr), &when))
	    == NULL || s->now - when < s->max_age) {
		X509_free(x);
		return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;

		if ((t = realloc(s->t, cap * sizeof(*t))) == NULL) {
			X509_free(x);
			return 1;
		}
		s->t = t;
		s->cap = cap;
	}
	snprintf(s->t[s->n].name, sizeof(s->t[s->n].name), "%s", name);
	snprintf(s->t[s->n].addr, sizeof(s->t[s->n].addr), "%s", addr);
	s->t[s->n++].x = x;
	return 0;
}

static int
shared_sweep(const conf_t *c, void (*expire)(const conf_t *, const char *, X509 *))
{
	sweep_t s = { NULL, 0, 0, time(NULL), (time_t)c->enroll_pending_time };
	int n = 0;

	(void)keystore_record_foreach(shared_ks, KIND, sweep_one, &s, NULL);
	for (size_t i = 0; i < s.n; i++) {
		if (shared_drop(s.t[i].name) == 0) {      /* this gateway's to expire */
			expire(c, s.t[i].addr, s.t[i].x);
			n++;
		}
		X509_free(s.t[i].x);
	}
	free(s.t);
	return n;
}

/* Reads a pending file: its certificate (and address, when addr). */
static X509 *
pending_read(const char *path, char *addr, size_t asize, time_t *mtime)
{
	FILE *fp = fopen(path, "r");
	char line[1024];
	struct stat st;
	X509 *x = NULL;

	if (fp == NULL)
		return NULL;
	if (fstat(fileno(fp), &st) == 0 && fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (addr != NULL)
			snprintf(addr, asize, "%s", line);
		*mtime = st.st_mtime;
		x = PEM_read_X509(fp, NULL, NULL, NULL);
	}
	fclose(fp);
	return x;
}

X509 *
enroll_pending_get(const conf_t *c, const char *rcpt)
{
	char path[4200], addr[1024];
	time_t mtime = 0, now = time(NULL);
	X509 *x;

	if (shared_ks != NULL)
		x = shared_get(rcpt, &mtime);
	else if (pending_path(c, rcpt, path, sizeof(path)) != 0)
		x = NULL;
	else
		x = pending_read(path, addr, sizeof(addr), &mtime);
	if (x == NULL)
		return NULL;
	if (now - mtime >= (time_t)c->enroll_pending_time || X509_cmp_time(X509_get0_notAfter(x),
	    &now) <= 0 || X509_cmp_time(X509_get0_notBefore(x), &now) > 0) {
		X509_free(x);             /* the sweep revokes it */
		return NULL;
	}
	return x;
}

int
enroll_pending_put(const conf_t *c, const char *rcpt, X509 *x, char *why, size_t size)
{
	char dir[4096], path[4200], tmp[4300];
	FILE *fp = NULL;
	int fd, ok;

	if (shared_ks != NULL)
		return shared_put(rcpt, x, why, size);
	pending_dir(c, dir, sizeof(dir));
	if ((mkdir(dir, 0700) != 0 && errno != EEXIST)
	    || pending_path(c, rcpt, path, sizeof(path)) != 0) {
		snprintf(why, size, "%s: cannot make it: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ok = (fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0
	    && (fp = fdopen(fd, "w")) != NULL
	    && fprintf(fp, "%s\n", rcpt) > 0 && PEM_write_X509(fp, x) == 1
	    && fflush(fp) == 0 && fsync(fd) == 0;
	if (fp != NULL)
		ok = fclose(fp) == 0 && ok;
	else if (fd >= 0)
		close(fd);
	if (!ok || rename(tmp, path) != 0) {
		snprintf(why, size, "%s: cannot write it: %s", path, strerror(errno));
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}

void
enroll_pending_drop(const conf_t *c, const char *rcpt)
{
	char path[4200], name[65];

	if (shared_ks != NULL) {
		if (pending_name(rcpt, name) == 0)
			(void)shared_drop(name);
		return;
	}
	if (pending_path(c, rcpt, path, sizeof(path)) == 0)
		(void)unlink(path);
}

int
enroll_pending_sweep(const conf_t *c,
    void (*expire)(const conf_t *, const char *, X509 *))
{
	char dir[4096], path[4400], addr[1024];
	time_t now = time(NULL), mtime;
	struct dirent *de;
	DIR *d;
	int n = 0, seen = 0;
	X509 *x;

	if (shared_ks != NULL)
		return shared_sweep(c, expire);
	pending_dir(c, dir, sizeof(dir));
	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && seen++ < PENDING_MAX) {
		if (strlen(de->d_name) != 64 || strspn(de->d_name, "0123456789abcdef") != 64)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		mtime = now;
		x = pending_read(path, addr, sizeof(addr), &mtime);
		if (x == NULL || now - mtime < (time_t)c->enroll_pending_time) {
			X509_free(x);
			continue;
		}
		expire(c, addr, x);
		X509_free(x);
		(void)unlink(path);
		n++;
	}
	closedir(d);
	return n;
}
