/*
 * smime_in.c: what decryption and verification share: the inbound entity
 * (content headers and body) read into memory and parsed by GMime, the
 * decoded content of one part, and lists of header fields split off a
 * MIME entity.
 *
 * Ownership: smime_in_clear() frees what smime_in_load() made;
 * smime_hdrs_clear() frees a list.  Threads: no state.
 */
#include "smime/smime_in.h"
#include "smime/smime_canon.h"
#include "smime/smime_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IN_CHUNK 65536

static int
in_read_fd(int fd, GByteArray *a)
{
	unsigned char buf[IN_CHUNK];
	ssize_t n;

	if (lseek(fd, 0, SEEK_SET) != 0)
		return -1;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return (int)n;
		g_byte_array_append(a, buf, (guint)n);
	}
}

smime_status_t
smime_in_load(const char *content_headers, const smime_body_t *body,
    const smime_limits_t *limits, smime_in_t *in, smime_err_t *err)
{
	GMimeStream *st;
	GMimeParser *p;
	GByteArray *all;

	memset(in, 0, sizeof(*in));
	in->body = g_byte_array_new();
	if (body->mem != NULL)
		g_byte_array_append(in->body, body->mem, (guint)body->len);
	else if (body->fd >= 0 && in_read_fd(body->fd, in->body) != 0)
		return util_err_set(err, SMIME_ERR_IO, "cannot read the body: %s",
		    strerror(errno));
	/* headers, the blank line, the body: one stream GMime parses */
	all = g_byte_array_new();
	if (content_headers != NULL)
		g_byte_array_append(all, (const guint8 *)content_headers,
		    (guint)strlen(content_headers));
	g_byte_array_append(all, (const guint8 *)"\n", 1);
	g_byte_array_append(all, in->body->data, in->body->len);
	st = g_mime_stream_mem_new_with_byte_array(all);   /* owns all */
	/* GMime's parser costs lines times nesting: bound the nesting first
	 * (20,000 levels took seconds, 50 MB of them would take hours). */
	if (smime_mime_prescan(st, limits != NULL && limits->max_parts != 0
	    ? limits->max_parts : SMIME_PARTS_DEFAULT, err) != SMIME_OK) {
		g_object_unref(st);
		return err->code;
	}
	p = g_mime_parser_new_with_stream(st);
	in->entity = g_mime_parser_construct_part(p, NULL);
	g_object_unref(p);
	g_object_unref(st);
	if (in->entity == NULL)
		return util_err_set(err, SMIME_ERR_INPUT, "the MIME entity does not parse");
	return smime_mime_check_tree(in->entity, limits, err);
}

void
smime_in_clear(smime_in_t *in)
{
	if (in->entity != NULL)
		g_object_unref(in->entity);
	if (in->body != NULL)
		g_byte_array_free(in->body, TRUE);
	memset(in, 0, sizeof(*in));
}

BIO *
smime_in_part_bio(GMimePart *part, smime_err_t *err)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeStream *mem;
	GByteArray *a;
	BIO *b;

	if (w == NULL) {
		util_err_set(err, SMIME_ERR_INPUT, "the part has no content");
		return NULL;
	}
	mem = g_mime_stream_mem_new();
	if (g_mime_data_wrapper_write_to_stream(w, mem) < 0) {
		g_object_unref(mem);
		util_err_set(err, SMIME_ERR_INPUT, "cannot decode the part");
		return NULL;
	}
	a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	b = BIO_new(BIO_s_mem());
	if (b == NULL || (a->len > 0 && BIO_write(b, a->data, (int)a->len) != (int)a->len)) {
		BIO_free(b);
		g_object_unref(mem);
		util_err_set(err, SMIME_ERR_NOMEM, "out of memory");
		return NULL;
	}
	g_object_unref(mem);
	return b;
}

/* ---- header lists ---- */

smime_status_t
smime_hdrs_add(smime_hdrs_t *h, const char *name, const char *value,
    smime_err_t *err)
{
	if (h->n == SMIME_IN_HEADERS_MAX)
		return util_err_set(err, SMIME_ERR_INPUT, "more than %d header fields",
		    SMIME_IN_HEADERS_MAX);
	h->name[h->n] = strdup(name);
	h->value[h->n] = strdup(value);
	if (h->name[h->n] == NULL || h->value[h->n] == NULL) {
		free(h->name[h->n]);
		free(h->value[h->n]);
		return util_err_set(err, SMIME_ERR_NOMEM, "out of memory");
	}
	h->n++;
	return SMIME_OK;
}

void
smime_hdrs_clear(smime_hdrs_t *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->name[i]);
		free(h->value[i]);
	}
	h->n = 0;
}

/* A raw value as a milter hands it over: no leading white space, CRLF
 * folds as LF, no final line end. */
char *
smime_hdrs_raw_value(const char *raw)
{
	size_t len, i, o = 0;
	char *v;

	while (*raw == ' ' || *raw == '\t')
		raw++;
	len = strlen(raw);
	while (len > 0 && (raw[len - 1] == '\n' || raw[len - 1] == '\r'))
		len--;
	if ((v = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++)
		if (!(raw[i] == '\r' && i + 1 < len && raw[i + 1] == '\n'))
			v[o++] = raw[i];
	v[o] = '\0';
	return v;
}

static int
hdrs_is_content(const char *name)
{
	return g_ascii_strncasecmp(name, "Content-", 8) == 0
	    || g_ascii_strcasecmp(name, "MIME-Version") == 0;
}

smime_status_t
smime_hdrs_split(const unsigned char *data, size_t len, smime_hdrs_t *h,
    smime_hdrs_t *others, size_t *body_off, smime_err_t *err)
{
	GMimeStream *st = g_mime_stream_mem_new_with_buffer((const char *)data, len);
	GMimeParser *p = g_mime_parser_new_with_stream(st);
	GMimeObject *obj = g_mime_parser_construct_part(p, NULL);
	smime_status_t rc = SMIME_OK;
	gint64 end;
	size_t off;

	if (obj == NULL) {
		g_object_unref(p);
		g_object_unref(st);
		return util_err_set(err, SMIME_ERR_INPUT, "the inner entity does not parse");
	}
	GMimeHeaderList *hl = g_mime_object_get_header_list(obj);
	for (int i = 0; rc == SMIME_OK && i < g_mime_header_list_get_count(hl); i++) {
		GMimeHeader *hd = g_mime_header_list_get_header_at(hl, i);
		char *v;

		int content = hdrs_is_content(g_mime_header_get_name(hd));

		if (!content && (others == NULL || others->n == SMIME_IN_HEADERS_MAX))
			continue;
		if ((v = smime_hdrs_raw_value(g_mime_header_get_raw_value(hd))) == NULL)
			rc = util_err_set(err, SMIME_ERR_NOMEM, "out of memory");
		else
			rc = smime_hdrs_add(content ? h : others,
			    g_mime_header_get_name(hd), v, err);
		free(v);
	}
	end = g_mime_parser_get_headers_end(p);
	g_object_unref(obj);
	g_object_unref(p);
	g_object_unref(st);
	if (rc != SMIME_OK)
		return rc;
	off = end > 0 && (size_t)end <= len ? (size_t)end : 0;
	if (off < len && data[off] == '\n')
		off++;
	else if (off + 1 < len && data[off] == '\r' && data[off + 1] == '\n')
		off += 2;
	*body_off = off;
	return SMIME_OK;
}

int
smime_write_all(smime_write_fn fn, void *arg, const unsigned char *p, size_t len)
{
	size_t n;

	for (; len > 0; p += n, len -= n) {
		n = len < IN_CHUNK ? len : IN_CHUNK;
		if (fn(arg, p, n) != 0)
			return -1;
	}
	return 0;
}
