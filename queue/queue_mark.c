/*
 * queue_mark.c: the re-injection mark (see queue.h), an HMAC-SHA256 bound
 * to one copy's ID, envelope and body, and the body digest it covers.
 */
#include "queue/queue.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

/* Feeds n octets to the MAC; *ok stays 0 once an update failed. */
static void
mac_add(EVP_MAC_CTX *c, const void *p, size_t n, int *ok)
{
	if (*ok && !EVP_MAC_update(c, p, n))
		*ok = 0;
}

/* The MAC covers, each NUL-terminated: the label, the ID, the sender and
 * each recipient; then the 32 octets of the body digest.  It is computed
 * as they come, without a copy of them. */
int
queue_mark_make(const unsigned char *key, size_t keylen, const char *id,
    const char *sender, const char *const *rcpts, size_t nrcpts,
    const unsigned char digest[32], char out[65])
{
	static const char label[] = "smimegate-reinject-v2";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end()
	};
	unsigned char tag[EVP_MAX_MD_SIZE];
	size_t taglen = 0;
	EVP_MAC *mac;
	EVP_MAC_CTX *c;
	int ok;

	out[0] = '\0';
	if (keylen < 16 || digest == NULL)
		return -1;
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	c = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
	ok = c != NULL && EVP_MAC_init(c, key, keylen, params);
	mac_add(c, label, sizeof(label), &ok);
	mac_add(c, id, strlen(id) + 1, &ok);
	mac_add(c, sender, strlen(sender) + 1, &ok);
	for (size_t i = 0; i < nrcpts; i++)
		mac_add(c, rcpts[i], strlen(rcpts[i]) + 1, &ok);
	mac_add(c, digest, 32, &ok);
	ok = ok && EVP_MAC_final(c, tag, &taglen, sizeof(tag)) && taglen == 32;
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(mac);
	if (!ok)
		return -1;
	util_hex(out, tag, 32);
	return 0;
}

int
queue_mark_check(const unsigned char *key, size_t keylen, const char *mark,
    const char *id, const char *sender, const char *const *rcpts, size_t nrcpts,
    const unsigned char digest[32])
{
	char want[65];

	if (mark == NULL || strlen(mark) != 64 ||
	    queue_mark_make(key, keylen, id, sender, rcpts, nrcpts, digest, want) != 0)
		return 0;
	return CRYPTO_memcmp(want, mark, 64) == 0;
}

/* ---- the body digest ---- */

struct queue_digest {
	EVP_MD_CTX *md;
	int header;                 /* still in the header block (whole) */
	int cr;                     /* a CR seen, its meaning not yet known */
	size_t linelen;             /* octets of the line so far */
	size_t nempty;              /* empty lines not yet hashed */
	size_t nout;
	int bad;
	unsigned char out[4096];    /* canonical octets not yet hashed */
};

queue_digest_t *
queue_digest_new(int whole)
{
	queue_digest_t *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	d->header = whole;
	if ((d->md = EVP_MD_CTX_new()) == NULL
	    || EVP_DigestInit_ex(d->md, EVP_sha256(), NULL) != 1) {
		queue_digest_free(d);
		return NULL;
	}
	return d;
}

void
queue_digest_free(queue_digest_t *d)
{
	if (d == NULL)
		return;
	EVP_MD_CTX_free(d->md);
	free(d);
}

static void
flush(queue_digest_t *d)
{
	if (d->nout > 0 && EVP_DigestUpdate(d->md, d->out, d->nout) != 1)
		d->bad = 1;
	d->nout = 0;
}

static void
emit(queue_digest_t *d, unsigned char c)
{
	if (d->nout == sizeof(d->out))
		flush(d);
	d->out[d->nout++] = c;
}

/* An octet of a line's content: the empty lines before it count now. */
static void
content(queue_digest_t *d, unsigned char c)
{
	if (d->linelen == 0)
		for (; d->nempty > 0; d->nempty--) {
			emit(d, '\r');
			emit(d, '\n');
		}
	emit(d, c);
	d->linelen++;
}

static void
line_end(queue_digest_t *d)
{
	if (d->linelen == 0) {
		d->nempty++;            /* hashed only if content follows */
		return;
	}
	emit(d, '\r');
	emit(d, '\n');
	d->linelen = 0;
}

/* The header block: up to and with the first empty line. */
static void
header_octet(queue_digest_t *d, unsigned char c)
{
	if (c == '\n') {
		if (d->linelen == 0)
			d->header = 0;
		d->linelen = 0;
	} else if (c != '\r') {
		d->linelen++;
	}
}

int
queue_digest_add(queue_digest_t *d, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];

		if (d->header) {
			header_octet(d, c);
			continue;
		}
		if (d->cr) {
			d->cr = 0;
			if (c == '\n') {
				line_end(d);
				continue;
			}
			content(d, '\r');
		}
		if (c == '\r')
			d->cr = 1;
		else if (c == '\n')
			line_end(d);
		else
			content(d, c);
	}
	return d->bad ? -1 : 0;
}

int
queue_digest_final(queue_digest_t *d, unsigned char out[32])
{
	unsigned int len = 0;

	if (d->cr)
		content(d, '\r');
	d->cr = 0;
	if (d->linelen > 0)
		line_end(d);
	flush(d);
	if (d->bad || EVP_DigestFinal_ex(d->md, out, &len) != 1 || len != 32)
		return -1;
	return 0;
}

int
queue_digest_message(const void *msg, size_t len, unsigned char out[32])
{
	queue_digest_t *d = queue_digest_new(1);
	int rc = d != NULL && queue_digest_add(d, msg, len) == 0
	    && queue_digest_final(d, out) == 0 ? 0 : -1;

	queue_digest_free(d);
	return rc;
}

int
queue_digest_entry(const queue_entry_t *e, unsigned char out[32])
{
	queue_digest_t *d = queue_digest_new(1);
	char buf[16384];
	long long off = 0, n = 0;
	int rc = d != NULL ? 0 : -1;

	while (rc == 0 && (n = queue_entry_read(e, off, buf, sizeof(buf))) > 0) {
		rc = queue_digest_add(d, buf, (size_t)n);
		off += n;
	}
	if (rc == 0 && (n < 0 || queue_digest_final(d, out) != 0))
		rc = -1;
	queue_digest_free(d);
	return rc;
}
