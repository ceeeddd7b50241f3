/*
 * dir_harvest.c: the harvested-certificates store (see dir_harvest.h).
 *
 * One file per (address, certificate): NAME = hex SHA-256 of the
 * normalised address, '-', hex SHA-256 of the certificate's DER, ".pem".
 * The file is a sequence of PEM blocks, written and read by OpenSSL's
 * PEM code: CERTIFICATE, then SMIME CAPABILITIES (the DER as announced,
 * when there was one) and SMIMEGATE SIGNING TIME (decimal seconds).
 * Writes go to a temporary file in the store, fsync'ed, then renamed.
 *
 * Threads: no state but the directory's name; files are replaced
 * atomically, so readers see the old or the new file.
 */
#include "directory/dir_harvest.h"
#include "directory/dir_lookup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#define HARVEST_MAX_FILES 64          /* per address: a bound, not a quota */
#define HARVEST_MAX_FILE  (256 * 1024)
#define PEM_CAPS "SMIME CAPABILITIES"
#define PEM_TIME "SMIMEGATE SIGNING TIME"

struct dir_harvest {
	char *dir;
};

static void
hex(const unsigned char *md, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

/* hex SHA-256 of the normalised address (65 octets). */
static int
addr_hash(const char *address, char out[65])
{
	unsigned char md[32];
	char *n = dir_addr_normalize(address);
	int ok;

	if (n == NULL)
		return -1;
	ok = EVP_Digest(n, strlen(n), md, NULL, EVP_sha256(), NULL);
	free(n);
	if (!ok)
		return -1;
	hex(md, 32, out);
	return 0;
}

dir_harvest_t *
dir_harvest_open(const char *dir, char *err, size_t errlen)
{
	dir_harvest_t *h;
	struct stat st;

	if (dir == NULL || *dir == '\0') {
		snprintf(err, errlen, "no harvest directory");
		return NULL;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", dir);
		return NULL;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL || (h->dir = strdup(dir)) == NULL) {
		free(h);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return h;
}

void
dir_harvest_free(dir_harvest_t *h)
{
	if (h == NULL)
		return;
	free(h->dir);
	free(h);
}

static void
entry_clear(dir_harvest_entry_t *e)
{
	X509_free(e->cert);
	OPENSSL_free(e->caps);
	memset(e, 0, sizeof(*e));
}

/* Reads one file; 0 with e filled, -1 when unreadable or malformed. */
static int
read_entry(const char *path, dir_harvest_entry_t *e)
{
	BIO *b = BIO_new_file(path, "rb");
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long len;
	int bad = 0;

	memset(e, 0, sizeof(*e));
	if (b == NULL)
		return -1;
	while (!bad && PEM_read_bio(b, &name, &header, &data, &len) == 1) {
		const unsigned char *p = data;

		if (strcmp(name, PEM_STRING_X509) == 0 && e->cert == NULL) {
			e->cert = d2i_X509(NULL, &p, len);
			bad = e->cert == NULL;
		} else if (strcmp(name, PEM_CAPS) == 0 && e->caps == NULL && len > 0) {
			e->caps = data;
			e->caps_len = (size_t)len;
			data = NULL;
		} else if (strcmp(name, PEM_TIME) == 0 && len > 0 && len < 24) {
			char buf[24];
			memcpy(buf, data, (size_t)len);
			buf[len] = '\0';
			e->signing_time = (time_t)strtoll(buf, NULL, 10);
		}
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		name = header = NULL;
		data = NULL;
	}
	ERR_clear_error();
	BIO_free(b);
	if (bad || e->cert == NULL) {
		entry_clear(e);
		return -1;
	}
	return 0;
}

static int
write_entry(BIO *b, X509 *cert, const unsigned char *caps, size_t caps_len,
    time_t t)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%lld", (long long)t);

	if (!PEM_write_bio_X509(b, cert))
		return -1;
	if (caps != NULL && caps_len > 0 &&
	    !PEM_write_bio(b, PEM_CAPS, "", caps, (long)caps_len))
		return -1;
	if (!PEM_write_bio(b, PEM_TIME, "", (unsigned char *)buf, n))
		return -1;
	return BIO_flush(b) == 1 ? 0 : -1;
}

int
dir_harvest_put(dir_harvest_t *h, const char *address, X509 *cert,
    const unsigned char *caps, size_t caps_len, time_t signing_time,
    char *err, size_t errlen)
{
	char ah[65], ch[65], *path = NULL, *tmp = NULL;
	unsigned char md[32];
	unsigned int mdlen;
	dir_harvest_entry_t old;
	BIO *b = NULL;
	int fd = -1, rc = -1;

	if (h == NULL || address == NULL || cert == NULL ||
	    strchr(address, '@') == NULL) {
		snprintf(err, errlen, "harvest: needs an address and a certificate");
		return -1;
	}
	if (addr_hash(address, ah) != 0 || !X509_digest(cert, EVP_sha256(), md, &mdlen)) {
		snprintf(err, errlen, "harvest: cannot hash");
		return -1;
	}
	hex(md, 32, ch);
	if (asprintf(&path, "%s/%s-%s.pem", h->dir, ah, ch) < 0) {
		path = NULL;
		goto nomem;
	}
	if (read_entry(path, &old) == 0) {
		int keep = old.signing_time >= signing_time;
		entry_clear(&old);
		if (keep) {
			free(path);
			return 0;
		}
	}
	if (asprintf(&tmp, "%s/.tmp-%s-XXXXXX", h->dir, ah) < 0) {
		tmp = NULL;
		goto nomem;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		snprintf(err, errlen, "harvest: %s: %s", tmp, strerror(errno));
		goto done;
	}
	if ((b = BIO_new_fd(fd, BIO_NOCLOSE)) == NULL ||
	    write_entry(b, cert, caps, caps_len, signing_time) != 0 ||
	    fsync(fd) != 0) {
		snprintf(err, errlen, "harvest: cannot write %s", tmp);
		goto done;
	}
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "harvest: rename to %s: %s", path, strerror(errno));
		goto done;
	}
	rc = 0;
	goto done;
nomem:
	snprintf(err, errlen, "out of memory");
done:
	BIO_free(b);
	if (fd >= 0) {
		close(fd);
		if (rc != 0)
			unlink(tmp);
	}
	ERR_clear_error();
	free(tmp);
	free(path);
	return rc;
}

static int
newest_first(const void *a, const void *b)
{
	const dir_harvest_entry_t *x = a, *y = b;

	return (x->signing_time < y->signing_time) - (x->signing_time > y->signing_time);
}

int
dir_harvest_get(dir_harvest_t *h, const char *address,
    dir_harvest_entry_t **entries, size_t *n, char *err, size_t errlen)
{
	char ah[65], *path;
	dir_harvest_entry_t *v;
	struct dirent *de;
	DIR *d;

	*entries = NULL;
	*n = 0;
	if (h == NULL || address == NULL || addr_hash(address, ah) != 0) {
		snprintf(err, errlen, "harvest: bad arguments");
		return -1;
	}
	if ((d = opendir(h->dir)) == NULL) {
		snprintf(err, errlen, "harvest: %s: %s", h->dir, strerror(errno));
		return -1;
	}
	if ((v = calloc(HARVEST_MAX_FILES, sizeof(*v))) == NULL) {
		closedir(d);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while (*n < HARVEST_MAX_FILES && (de = readdir(d)) != NULL) {
		struct stat st;

		if (strncmp(de->d_name, ah, 64) != 0 || de->d_name[64] != '-')
			continue;
		if (asprintf(&path, "%s/%s", h->dir, de->d_name) < 0)
			continue;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_size <= HARVEST_MAX_FILE && read_entry(path, &v[*n]) == 0)
			(*n)++;
		free(path);
	}
	closedir(d);
	if (*n == 0) {
		free(v);
		return 0;
	}
	qsort(v, *n, sizeof(*v), newest_first);
	*entries = v;
	return 0;
}

void
dir_harvest_list_free(dir_harvest_entry_t *entries, size_t n)
{
	for (size_t i = 0; entries != NULL && i < n; i++)
		entry_clear(&entries[i]);
	free(entries);
}
