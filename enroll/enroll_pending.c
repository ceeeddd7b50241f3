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

static void
pending_dir(const conf_t *c, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", c->state_dir, PENDING_DIR);
}

/* DIR/HEX for rcpt; 0, or -1 (too long, no digest). */
static int
pending_path(const conf_t *c, const char *rcpt, char *buf, size_t size)
{
	char norm[1024], dir[4096];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	const char *at = strrchr(rcpt, '@');
	size_t len = strlen(rcpt), k;
	int off;

	if (len >= sizeof(norm))
		return -1;
	for (k = 0; k < len; k++)
		norm[k] = at != NULL && rcpt + k > at ? (char)tolower((unsigned char)rcpt[k]) : rcpt[k];
	norm[len] = '\0';
	if (EVP_Digest(norm, len, md, &n, EVP_sha256(), NULL) != 1)
		return -1;
	pending_dir(c, dir, sizeof(dir));
	off = snprintf(buf, size, "%s/", dir);
	if (off <= 0 || (size_t)off + 2 * n + 1 > size)
		return -1;
	util_hex(buf + off, md, n);
	return 0;
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

	if (pending_path(c, rcpt, path, sizeof(path)) != 0
	    || (x = pending_read(path, addr, sizeof(addr), &mtime)) == NULL)
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
	char path[4200];

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
