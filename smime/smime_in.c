/*
 * smime_in.c: what decryption and verification share: the inbound entity
 * (content headers and body) in a spool (memory up to SMIME_MEM_DEFAULT,
 * then an unlinked file) parsed by GMime with the stream persisted, so
 * that the parts' contents stay in the spool; the decoded content of one
 * part, into a spool too; an entity in a stream checked and split into
 * its header fields and the offset of its body; lists of header fields.
 *
 * Ownership: smime_in_clear() frees what smime_in_load() made;
 * smime_hdrs_clear() frees a list.  Threads: no state.
 */
#include "smime/smime_in.h"
#include "smime/smime_canon.h"
#include "smime/smime_int.h"
#include "smime/smime_spool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IN_CHUNK 65536

/* Appends the body (memory, or the file from offset 0) to s. */
static int
in_copy_body(const smime_body_t *body, GMimeStream *s)
{
	GMimeStream *src;
	gint64 n;

	if (body->mem != NULL)
		return body->len == 0 || g_mime_stream_write(s, (const char *)body->mem,
		    body->len) == (ssize_t)body->len ? 0 : -1;
	if (body->fd < 0)
		return 0;
	if (lseek(body->fd, 0, SEEK_SET) != 0)
		return -1;
	src = g_mime_stream_fs_new_with_bounds(body->fd, 0, -1);
	g_mime_stream_fs_set_owner(GMIME_STREAM_FS(src), FALSE);
	n = g_mime_stream_write_to_stream(src, s);
	g_object_unref(src);
	return n < 0 ? -1 : 0;
}

smime_status_t
smime_in_load(const char *content_headers, const smime_body_t *body,
    const smime_limits_t *limits, smime_in_t *in, smime_err_t *err)
{
	return smime_in_load_at(NULL, content_headers, body, limits, in, err);
}

/*
 * Headers, the blank line, the body: one spool (a file past
 * SMIME_MEM_DEFAULT), which GMime parses with the stream persisted: the
 * parts' contents stay in the spool (substreams), not in memory.
 */
smime_status_t
smime_in_load_at(const char *tmpdir, const char *content_headers,
    const smime_body_t *body, const smime_limits_t *limits, smime_in_t *in,
    smime_err_t *err)
{
	GMimeParser *p;
	size_t hlen = content_headers != NULL ? strlen(content_headers) : 0;
	const char *what;
	int e;

	memset(in, 0, sizeof(*in));
	in->tmpdir = tmpdir;
	in->all = smime_spool_new(tmpdir, SMIME_MEM_DEFAULT);
	if ((hlen > 0 && g_mime_stream_write(in->all, content_headers, hlen) != (ssize_t)hlen)
	    || g_mime_stream_write(in->all, "\n", 1) != 1
	    || (in->body_off = g_mime_stream_tell(in->all)) < 0
	    || in_copy_body(body, in->all) != 0) {
		e = smime_spool_error(in->all, &what);
		return e != 0 ? util_err_set(err, SMIME_ERR_IO, "%s: %s", what, strerror(e))
		    : util_err_set(err, SMIME_ERR_IO, "cannot read the body: %s",
		    strerror(errno));
	}
	/* GMime's parser costs lines times nesting: bound the nesting first
	 * (20,000 levels took seconds, 50 MB of them would take hours). */
	if (smime_mime_prescan(in->all, limits != NULL && limits->max_parts != 0
	    ? limits->max_parts : SMIME_PARTS_DEFAULT, err) != SMIME_OK)
		return err->code;
	p = g_mime_parser_new_with_stream(in->all);
	g_mime_parser_set_persist_stream(p, TRUE);
	in->entity = g_mime_parser_construct_part(p, NULL);
	g_object_unref(p);
	if (in->entity == NULL)
		return util_err_set(err, SMIME_ERR_INPUT, "the MIME entity does not parse");
	return smime_mime_check_tree(in->entity, limits, err);
}

void
smime_in_clear(smime_in_t *in)
{
	if (in->entity != NULL)
		g_object_unref(in->entity);
	if (in->all != NULL)
		g_object_unref(in->all);
	memset(in, 0, sizeof(*in));
}

GMimeStream *
smime_in_part_decoded(GMimePart *part, const char *tmpdir, smime_err_t *err)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeStream *s;
	const char *what;
	int e;

	if (w == NULL) {
		util_err_set(err, SMIME_ERR_INPUT, "the part has no content");
		return NULL;
	}
	s = smime_spool_new(tmpdir, SMIME_MEM_DEFAULT);
	if (g_mime_data_wrapper_write_to_stream(w, s) < 0 || g_mime_stream_reset(s) != 0) {
		if ((e = smime_spool_error(s, &what)) != 0)
			util_err_set(err, SMIME_ERR_IO, "%s: %s", what, strerror(e));
		else
			util_err_set(err, SMIME_ERR_INPUT, "cannot decode the part");
		g_object_unref(s);
		return NULL;
	}
	return s;
}

int
smime_in_stream_out(GMimeStream *s, gint64 from, smime_write_fn fn, void *arg)
{
	char buf[IN_CHUNK];
	ssize_t n;

	if (g_mime_stream_seek(s, from, GMIME_STREAM_SEEK_SET) != from)
		return -1;
	while ((n = g_mime_stream_read(s, buf, sizeof(buf))) > 0)
		if (fn(arg, buf, (size_t)n) != 0)
			return -1;
	return n < 0 ? -1 : 0;
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

/* ---- an entity in a stream: checked, split ---- */

/* smime_header_block_check() over a stream, in chunks. */
smime_status_t
smime_in_header_check(GMimeStream *s, size_t max, smime_err_t *err)
{
	char buf[IN_CHUNK];
	size_t field = 0, l = 0;    /* l: octets of the current line so far */
	char c0 = 0, last = 0;
	ssize_t n;

	if (max == 0)
		return SMIME_OK;
	if (g_mime_stream_reset(s) != 0)
		return util_err_set(err, SMIME_ERR_IO, "cannot read a temporary file");
	while ((n = g_mime_stream_read(s, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			char c = buf[i];
			size_t base;

			if (l++ == 0)
				c0 = c;
			base = c0 == ' ' || c0 == '\t' ? field : 0;
			if (c != '\n') {
				last = c;
				if (base + l > max)
					goto over;
				continue;
			}
			if (l == 1 || (l == 2 && c0 == '\r'))
				return SMIME_OK;        /* the empty line */
			field = base + (l >= 2 && last == '\r' ? l - 1 : l);
			if (field > max)
				goto over;
			l = 0;
		}
	}
	if (n < 0)
		return util_err_set(err, SMIME_ERR_IO, "cannot read a temporary file");
	if (l > 0 && (c0 == ' ' || c0 == '\t' ? field : 0) + l > max)
		goto over;
	return SMIME_OK;
over:
	return util_err_set(err, SMIME_ERR_LIMIT, "a header field longer than %zu octets", max);
}

/* The header fields of a parsed entity: Content-* and MIME-Version into
 * h, the others into others (the first SMIME_IN_HEADERS_MAX; NULL:
 * dropped). */
static smime_status_t
in_entity_headers(GMimeObject *obj, smime_hdrs_t *h, smime_hdrs_t *others,
    smime_err_t *err)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(obj);
	smime_status_t rc = SMIME_OK;

	for (int i = 0; rc == SMIME_OK && i < g_mime_header_list_get_count(hl); i++) {
		GMimeHeader *hd = g_mime_header_list_get_header_at(hl, i);
		int content = hdrs_is_content(g_mime_header_get_name(hd));
		char *v;

		if (!content && (others == NULL || others->n == SMIME_IN_HEADERS_MAX))
			continue;
		if ((v = smime_hdrs_raw_value(g_mime_header_get_raw_value(hd))) == NULL)
			rc = util_err_set(err, SMIME_ERR_NOMEM, "out of memory");
		else
			rc = smime_hdrs_add(content ? h : others, g_mime_header_get_name(hd), v, err);
		free(v);
	}
	return rc;
}

smime_status_t
smime_in_entity_split(GMimeStream *s, const smime_limits_t *limits, smime_hdrs_t *h,
    smime_hdrs_t *others, gint64 *body_off, smime_err_t *err)
{
	GMimeParser *p;
	GMimeObject *obj;
	smime_status_t rc;
	char two[2];
	gint64 end;
	ssize_t n = 0;

	if ((rc = smime_mime_prescan(s, limits != NULL && limits->max_parts != 0
	    ? limits->max_parts : SMIME_PARTS_DEFAULT, err)) != SMIME_OK)
		return rc;
	p = g_mime_parser_new_with_stream(s);
	g_mime_parser_set_persist_stream(p, TRUE);
	if ((obj = g_mime_parser_construct_part(p, NULL)) == NULL) {
		g_object_unref(p);
		return util_err_set(err, SMIME_ERR_INPUT, "the inner entity does not parse");
	}
	rc = smime_mime_check_tree(obj, limits, err);
	if (rc == SMIME_OK)
		rc = in_entity_headers(obj, h, others, err);
	end = g_mime_parser_get_headers_end(p);
	g_object_unref(obj);
	g_object_unref(p);
	if (rc != SMIME_OK)
		return rc;
	if (end < 0 || g_mime_stream_seek(s, end, GMIME_STREAM_SEEK_SET) != end)
		end = 0;
	else
		n = g_mime_stream_read(s, two, sizeof(two));
	if (n >= 1 && two[0] == '\n')
		end++;
	else if (n == 2 && two[0] == '\r' && two[1] == '\n')
		end += 2;
	*body_off = end;
	return SMIME_OK;
}
