/*
 * smime_canon.c: the entity to sign, made canonical and 7-bit safe.
 *
 * The message's Content-* headers, a blank line and the body are copied
 * through GMime's dos2unix filter into a spool (memory, then an unlinked
 * file), which a persistent GMimeParser parses: part contents stay
 * substreams of the spool and are never loaded into memory.  (The parser
 * cannot persist on a filter stream, which is not seekable, so the input
 * is normalised into the spool first.)
 *
 * Every leaf part, inside multiparts and message/rfc822 parts alike, whose
 * transfer encoding is 8bit or binary, or whose encoded content has 8-bit
 * or NUL octets, a bare CR or a line longer than 998 octets, is
 * re-encoded: GMime picks quoted-printable or base64 for text
 * (g_mime_part_get_best_content_encoding, 7-bit constraint; leaves such as
 * message/delivery-status count as text), base64 for anything else; text
 * going to base64 gets CRLF line ends first.  Clean parts are left as they
 * are, whatever their encoding (GMime's QP encoder does not escape "From "
 * lines either, so re-encoding for them would protect nothing).
 * Headers with 8-bit octets, bare CRs or overlong lines are re-encoded by
 * GMime (RFC 2047 / RFC 2231); such a multipart preamble or epilogue,
 * which no reader shows, is dropped.  Multipart/signed and
 * multipart/encrypted subtrees are left alone so as not to break what
 * they protect.  More parts or deeper nesting than the job's limits
 * (smime_sign_set_limits; CANON_DEPTH_MAX at most) is refused, the parts
 * counted once cheaply before parsing (smime_mime_prescan) and exactly after.
 *
 * The body is read from its descriptor in large chunks, and the parts are
 * counted (smime_mime_prescan's count) as it is copied, not in a pass of
 * their own.
 *
 * The result is written with CRLF line ends everywhere (GMime's DOS
 * newline format, then a unix2dos filter for what GMime writes verbatim,
 * such as epilogues) to the caller's stream: smime_canon_prepare() parses
 * and fixes, smime_canon_write() writes the tree straight into whatever
 * consumes it (the signature's digest and the output: nothing of it is
 * copied to a spool first); smime_canon_build() writes it to a new spool.
 *
 * Ownership: smime_canon_prepare() returns a handle (the tree and the spool
 * its parts are read from) that smime_canon_free() frees;
 * smime_canon_build() returns a spool the caller unrefs, all intermediate
 * objects freed before it returns.  Threads: no state.
 */
#include "smime/smime_canon.h"
#include "smime/smime_hp.h"
#include "smime/smime_hp_mark.h"
#include "smime/smime_int.h"
#include "smime/smime_spool.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CANON_LINE_MAX   998     /* RFC 5322 2.1.1, without the CRLF */
#define CANON_DEPTH_MAX  64      /* nesting of multiparts and messages */
#define CANON_CHUNK      65536

/* ---- counting the parts: lines that begin "Content-Type:" ---- */

typedef struct canon_prescan {
	size_t match;           /* octets of "content-type" matched at line start */
	int at_start, in_name;
	unsigned long n;
	unsigned max_parts;
} canon_prescan_t;

static void
prescan_init(canon_prescan_t *ps, unsigned max_parts)
{
	memset(ps, 0, sizeof(*ps));
	ps->at_start = ps->in_name = 1;
	ps->max_parts = max_parts;
}

/* 0, or -1 once more than max_parts were counted.  CRLF or LF line ends
 * count the same (a CR only ever stops a match, as the LF after it does). */
static int
prescan_feed(canon_prescan_t *ps, const char *buf, size_t len)
{
	static const char ct[] = "content-type";

	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		const char *nl;

		if (!ps->in_name) {             /* on to the next line */
			if ((nl = memchr(buf + i, '\n', len - i)) == NULL)
				break;
			i = (size_t)(nl - buf);
			c = '\n';
		}
		if (c == '\n') {
			ps->at_start = ps->in_name = 1;
			ps->match = 0;
			continue;
		}
		if (ps->match < sizeof(ct) - 1) {
			if ((char)tolower((unsigned char)c) == ct[ps->match] &&
			    (ps->at_start || ps->match))
				ps->match++;
			else
				ps->in_name = 0;
		} else if (c == ':') {
			if (++ps->n > ps->max_parts)
				return -1;
			ps->in_name = 0;
		} else if (c != ' ' && c != '\t') {
			ps->in_name = 0;
		}
		ps->at_start = 0;
	}
	return 0;
}

/* ---- input: headers + blank line + body, LF line ends, into a spool ---- */

/* 1 when the header block has an empty line, which would end it early. */
static int
canon_headers_have_blank(const char *h)
{
	const char *p;

	if (h[0] == '\n' || (h[0] == '\r' && h[1] == '\n'))
		return 1;
	for (p = h; (p = strchr(p, '\n')) != NULL; p++)
		if (p[1] == '\n' || (p[1] == '\r' && p[2] == '\n'))
			return 1;
	return 0;
}

/* Writes to the normalising stream and counts the parts: 0, -1 (write)
 * or -2 (too many parts). */
static int
canon_write_all(GMimeStream *s, canon_prescan_t *ps, const char *buf, size_t len)
{
	size_t n;

	for (; len > 0; buf += n, len -= n) {
		n = len < CANON_CHUNK ? len : CANON_CHUNK;
		if (prescan_feed(ps, buf, n) != 0)
			return -2;
		if (g_mime_stream_write(s, buf, n) != (ssize_t)n)
			return -1;
	}
	return 0;
}

/* Copies the body from a file descriptor, read from offset 0 in large
 * chunks (pread: no seek per read); as canon_write_all. */
static int
canon_copy_fd(int fd, GMimeStream *dst, canon_prescan_t *ps, int *read_errno)
{
	char *buf = malloc(CANON_CHUNK);
	off_t off = 0;
	ssize_t n;
	int rc = 0;

	if (buf == NULL) {
		*read_errno = ENOMEM;
		return -1;
	}
	for (;;) {
		do
			n = pread(fd, buf, CANON_CHUNK, off);
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			break;
		off += n;
		if ((rc = canon_write_all(dst, ps, buf, (size_t)n)) != 0)
			break;
	}
	if (n < 0) {
		*read_errno = errno;
		rc = -1;
	}
	free(buf);
	return rc;
}

static smime_status_t
canon_io_error(GMimeStream *spool, int read_errno, smime_err_t *err)
{
	const char *what;
	int e = smime_spool_error(spool, &what);

	if (e != 0)
		return util_err_set(err, SMIME_ERR_IO, "%s: %s", what, strerror(e));
	return util_err_set(err, SMIME_ERR_IO, "cannot read the message body: %s",
	    strerror(read_errno != 0 ? read_errno : EIO));
}

/* Copies headers, blank line and body into spool with LF line ends,
 * counting the parts on the way (SMIME_ERR_LIMIT past max_parts). */
static smime_status_t
canon_normalise(const char *headers, const smime_body_t *body, GMimeStream *spool,
    unsigned max_parts, smime_err_t *err)
{
	GMimeStream *f = g_mime_stream_filter_new(spool);
	GMimeFilter *d2u = g_mime_filter_dos2unix_new(FALSE);
	size_t hlen = strlen(headers);
	int rc = 0, read_errno = 0;
	canon_prescan_t ps;

	prescan_init(&ps, max_parts);
	g_mime_stream_filter_add(GMIME_STREAM_FILTER(f), d2u);
	g_object_unref(d2u);
	rc = canon_write_all(f, &ps, headers, hlen);
	if (rc == 0 && hlen > 0 && headers[hlen - 1] != '\n')
		rc = canon_write_all(f, &ps, "\n", 1);
	if (rc == 0)
		rc = canon_write_all(f, &ps, "\n", 1);
	if (rc == 0 && body->mem != NULL)
		rc = canon_write_all(f, &ps, (const char *)body->mem, body->len);
	else if (rc == 0 && body->fd >= 0)
		rc = canon_copy_fd(body->fd, f, &ps, &read_errno);
	if (rc == 0 && g_mime_stream_flush(f) != 0)
		rc = -1;
	g_object_unref(f);
	if (rc == -2)
		return util_err_set(err, SMIME_ERR_LIMIT, "more than %u MIME parts", max_parts);
	if (rc != 0 || smime_spool_error(spool, NULL) != 0)
		return canon_io_error(spool, read_errno, err);
	g_mime_stream_reset(spool);
	return SMIME_OK;
}

/* ---- re-encoding what is not 7-bit safe ---- */

static int
canon_text_is_dirty(const char *s)
{
	size_t line = 0;

	for (; s != NULL && *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80 || *s == '\r')
			return 1;
		line = *s == '\n' ? 0 : line + 1;
		if (line > CANON_LINE_MAX)
			return 1;
	}
	return 0;
}

/* What the encoded content of a part holds. */
struct canon_scan {
	int dirty;              /* NUL or 8-bit octets, a line over 998 */
	int cr;                 /* a CR (CRLF became LF on input: a bare one) */
	size_t line;            /* octets since the last LF */
};

/* 1 when buf holds a NUL or an octet with the high bit set: eight octets
 * at a time (a zero octet: (v - 0x01..) & ~v & 0x80.. is non-zero). */
static int
canon_has_nul_or_8bit(const unsigned char *buf, size_t len)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	uint64_t v, acc = 0;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&v, buf + i, 8);
		acc |= v | ((v - ones) & ~v);
	}
	if (acc & highs)
		return 1;
	for (; i < len; i++)
		if (buf[i] == 0 || buf[i] >= 0x80)
			return 1;
	return 0;
}

/* One chunk of the content into sc: what GMime's GMimeFilterBest counts
 * for the transfer encoding (NUL and 8-bit octets, the longest line, LF
 * ending a line), found with memchr and word-wide tests instead of its
 * octet-at-a-time loop (which also looks for charsets and "From " lines,
 * not needed here). */
static void
canon_scan_chunk(struct canon_scan *sc, const unsigned char *buf, size_t len)
{
	const unsigned char *p = buf, *end = buf + len, *nl;

	sc->cr |= memchr(buf, '\r', len) != NULL;
	if (!sc->dirty && canon_has_nul_or_8bit(buf, len))
		sc->dirty = 1;
	while (!sc->dirty && p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		sc->line += (size_t)((nl != NULL ? nl : end) - p);
		if (sc->line > CANON_LINE_MAX)
			sc->dirty = 1;
		if (nl == NULL)
			break;
		sc->line = 0;
		p = nl + 1;
	}
}

/* Reads stream from its start for what canon_scan_chunk() looks for. */
static void
canon_scan(GMimeStream *stream, struct canon_scan *sc)
{
	char buf[CANON_CHUNK];
	ssize_t n;

	memset(sc, 0, sizeof(*sc));
	g_mime_stream_reset(stream);
	while (!g_mime_stream_eos(stream) &&
	    (n = g_mime_stream_read(stream, buf, sizeof(buf))) > 0)
		canon_scan_chunk(sc, (const unsigned char *)buf, (size_t)n);
	g_mime_stream_reset(stream);
}

/* Does the part's content, as it stands (encoded), need re-encoding? */
static int
canon_part_needs_encoding(GMimePart *part, const struct canon_scan *sc)
{
	switch (g_mime_part_get_content_encoding(part)) {
	case GMIME_CONTENT_ENCODING_DEFAULT:
	case GMIME_CONTENT_ENCODING_7BIT:
	case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
	case GMIME_CONTENT_ENCODING_BASE64:
	case GMIME_CONTENT_ENCODING_UUENCODE:
		return sc->dirty || sc->cr;
	default:                        /* 8bit, binary */
		return 1;
	}
}

/*
 * Replaces the part's content with its decoded form, so that GMime encodes
 * it anew even when the target encoding is the one it had (GMime copies
 * content verbatim when the encodings match).  Text gets canonical line
 * ends: CRLF inside base64; LF before quoted-printable (whose encoder would
 * turn the CR of a CRLF into =0D) and 7bit, which GMime's newline filter
 * makes CRLF.
 */
static void
canon_decode_content(GMimePart *part, GMimeDataWrapper *content, int text,
    GMimeContentEncoding target)
{
	GMimeContentEncoding from = g_mime_data_wrapper_get_encoding(content);
	GMimeStream *f = g_mime_stream_filter_new(g_mime_data_wrapper_get_stream(content));
	GMimeDataWrapper *w;
	GMimeFilter *filter;

	/* Trailing white space on quoted-printable lines is transport padding,
	 * not content (RFC 2045 6.7(3)): strip it before decoding. */
	if (from == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE) {
		filter = g_mime_filter_strip_new();
		g_mime_stream_filter_add(GMIME_STREAM_FILTER(f), filter);
		g_object_unref(filter);
	}
	if (from == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
	    from == GMIME_CONTENT_ENCODING_BASE64 ||
	    from == GMIME_CONTENT_ENCODING_UUENCODE) {
		filter = g_mime_filter_basic_new(from, FALSE);
		g_mime_stream_filter_add(GMIME_STREAM_FILTER(f), filter);
		g_object_unref(filter);
	}
	if (text) {
		filter = target == GMIME_CONTENT_ENCODING_BASE64
		    ? g_mime_filter_unix2dos_new(FALSE)
		    : g_mime_filter_dos2unix_new(FALSE);
		g_mime_stream_filter_add(GMIME_STREAM_FILTER(f), filter);
		g_object_unref(filter);
	}
	w = g_mime_data_wrapper_new_with_stream(f, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(part, w);
	g_object_unref(w);
	g_object_unref(f);
}

static void
canon_fix_part(GMimePart *part)
{
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(part));
	int text = ct != NULL && (g_mime_content_type_is_type(ct, "text", "*") ||
	    g_mime_content_type_is_type(ct, "message", "*"));
	GMimeContentEncoding target;
	struct canon_scan sc;

	if (content == NULL)
		return;
	canon_scan(g_mime_data_wrapper_get_stream(content), &sc);
	if (!canon_part_needs_encoding(part, &sc))
		return;
	target = g_mime_part_get_best_content_encoding(part, GMIME_ENCODING_CONSTRAINT_7BIT);
	if (target == GMIME_CONTENT_ENCODING_DEFAULT && !sc.cr)
		target = GMIME_CONTENT_ENCODING_7BIT;
	else if (target == GMIME_CONTENT_ENCODING_DEFAULT && text)
		target = GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;   /* CR: =0D */
	else if (!text)
		target = GMIME_CONTENT_ENCODING_BASE64;
	canon_decode_content(part, content, text, target);
	g_mime_part_set_content_encoding(part, target);
}

/* Headers with 8-bit octets, CRs or overlong lines: GMime encodes them anew. */
static void
canon_fix_headers(GMimeObject *obj)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(obj);
	int i, n = list != NULL ? g_mime_header_list_get_count(list) : 0;
	GMimeHeader *h;
	char *value;

	for (i = 0; i < n; i++) {
		h = g_mime_header_list_get_header_at(list, i);
		if (h == NULL || !canon_text_is_dirty(g_mime_header_get_raw_value(h)) ||
		    g_mime_header_get_value(h) == NULL)
			continue;
		value = g_strdup(g_mime_header_get_value(h));
		g_mime_header_set_value(h, NULL, value, "utf-8");
		g_free(value);
	}
}

/* A multipart or message/rfc822 may only say 7bit, 8bit or binary. */
static void
canon_fix_composite_encoding(GMimeObject *obj)
{
	const char *cte = g_mime_object_get_header(obj, "Content-Transfer-Encoding");

	if (cte != NULL && g_mime_content_encoding_from_string(cte) !=
	    GMIME_CONTENT_ENCODING_7BIT)
		g_mime_object_set_header(obj, "Content-Transfer-Encoding", "7bit", NULL);
}

/* The walk over the parsed tree: the limits and what was counted. */
typedef struct canon_walk {
	unsigned max_parts, max_depth, nparts;
	smime_err_t *err;
} canon_walk_t;

static smime_status_t canon_fix_object(GMimeObject *obj, int depth, canon_walk_t *w);

static smime_status_t
canon_fix_multipart(GMimeMultipart *mp, int depth, canon_walk_t *w)
{
	smime_status_t st = SMIME_OK;
	int i, n = g_mime_multipart_get_count(mp);

	if (canon_text_is_dirty(g_mime_multipart_get_prologue(mp)))
		g_mime_multipart_set_prologue(mp, NULL);
	if (canon_text_is_dirty(g_mime_multipart_get_epilogue(mp)))
		g_mime_multipart_set_epilogue(mp, NULL);
	canon_fix_composite_encoding(GMIME_OBJECT(mp));
	for (i = 0; i < n && st == SMIME_OK; i++)
		st = canon_fix_object(g_mime_multipart_get_part(mp, i), depth + 1, w);
	return st;
}

static smime_status_t
canon_fix_message_part(GMimeMessagePart *mpart, int depth, canon_walk_t *w)
{
	GMimeMessage *msg = g_mime_message_part_get_message(mpart);
	GMimeObject *body;

	canon_fix_composite_encoding(GMIME_OBJECT(mpart));
	if (msg == NULL)
		return SMIME_OK;
	canon_fix_headers(GMIME_OBJECT(msg));
	body = g_mime_message_get_mime_part(msg);
	return body != NULL ? canon_fix_object(body, depth + 1, w) : SMIME_OK;
}

static smime_status_t
canon_fix_object(GMimeObject *obj, int depth, canon_walk_t *w)
{
	if ((unsigned)depth >= w->max_depth)
		return util_err_set(w->err, SMIME_ERR_LIMIT,
		    "MIME structure nested deeper than %u levels", w->max_depth);
	if (++w->nparts > w->max_parts)
		return util_err_set(w->err, SMIME_ERR_LIMIT,
		    "more than %u MIME parts", w->max_parts);
	canon_fix_headers(obj);
	if (GMIME_IS_MULTIPART_SIGNED(obj) || GMIME_IS_MULTIPART_ENCRYPTED(obj))
		return SMIME_OK;
	if (GMIME_IS_MULTIPART(obj))
		return canon_fix_multipart(GMIME_MULTIPART(obj), depth, w);
	if (GMIME_IS_MESSAGE_PART(obj))
		return canon_fix_message_part(GMIME_MESSAGE_PART(obj), depth, w);
	if (GMIME_IS_PART(obj))
		canon_fix_part(GMIME_PART(obj));
	return SMIME_OK;
}

/*
 * Before parsing: every entity GMime can make a multipart or message of
 * has a "Content-Type:" line (a digest's parts default to message/rfc822,
 * but their bodies need one to nest further), so more such lines than
 * max_parts is refused at once.  This bounds the parser's boundary stack,
 * whose cost grows with lines times depth (a 7 MB message nested 100,000
 * deep took GMime over ten minutes).
 */
smime_status_t
smime_mime_prescan(GMimeStream *in, unsigned max_parts, smime_err_t *err)
{
	char buf[CANON_CHUNK];
	canon_prescan_t ps;
	ssize_t got;

	prescan_init(&ps, max_parts);
	if (g_mime_stream_reset(in) != 0)
		return canon_io_error(in, 0, err);
	while ((got = g_mime_stream_read(in, buf, sizeof(buf))) > 0)
		if (prescan_feed(&ps, buf, (size_t)got) != 0)
			return util_err_set(err, SMIME_ERR_LIMIT,
			    "more than %u MIME parts", max_parts);
	if (got < 0 || g_mime_stream_reset(in) != 0)
		return canon_io_error(in, 0, err);
	return SMIME_OK;
}

/* ---- limits of an entity that is only read (inbound) ---- */

static smime_status_t
check_object(GMimeObject *obj, unsigned depth, canon_walk_t *w)
{
	GMimeMessage *msg;

	if (depth >= w->max_depth)
		return util_err_set(w->err, SMIME_ERR_LIMIT,
		    "MIME structure nested deeper than %u levels", w->max_depth);
	if (++w->nparts > w->max_parts)
		return util_err_set(w->err, SMIME_ERR_LIMIT,
		    "more than %u MIME parts", w->max_parts);
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int n = g_mime_multipart_get_count(mp);

		for (int i = 0; i < n; i++)
			if (check_object(g_mime_multipart_get_part(mp, i), depth + 1, w) != SMIME_OK)
				return w->err->code;
	} else if (GMIME_IS_MESSAGE_PART(obj)
	    && (msg = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj))) != NULL
	    && g_mime_message_get_mime_part(msg) != NULL) {
		return check_object(g_mime_message_get_mime_part(msg), depth + 1, w);
	}
	return SMIME_OK;
}

smime_status_t
smime_header_block_check(const unsigned char *p, size_t len, size_t max, smime_err_t *err)
{
	size_t field = 0, i = 0;

	while (max != 0 && i < len) {
		const unsigned char *nl = memchr(p + i, '\n', len - i);
		size_t l = nl != NULL ? (size_t)(nl - (p + i)) + 1 : len - i, n;

		if (p[i] == '\n' || (p[i] == '\r' && l == 2 && p[i + 1] == '\n'))
			break;                  /* the empty line: the body follows */
		/* counted as the milter counts: line ends as LF */
		n = l >= 2 && p[i + l - 2] == '\r' && p[i + l - 1] == '\n' ? l - 1 : l;
		field = p[i] == ' ' || p[i] == '\t' ? field + n : n;
		if (field > max)
			return util_err_set(err, SMIME_ERR_LIMIT,
			    "a header field longer than %zu octets", max);
		i += l;
	}
	return SMIME_OK;
}

static void
limits_get(const smime_limits_t *limits, unsigned *parts, unsigned *depth)
{
	*parts = SMIME_PARTS_DEFAULT;
	*depth = CANON_DEPTH_MAX;
	if (limits != NULL && limits->max_parts != 0)
		*parts = limits->max_parts;
	if (limits != NULL && limits->max_depth != 0 && limits->max_depth < CANON_DEPTH_MAX)
		*depth = limits->max_depth;
}

smime_status_t
smime_mime_check_tree(GMimeObject *obj, const smime_limits_t *limits, smime_err_t *err)
{
	canon_walk_t w = { 0, 0, 0, err };

	limits_get(limits, &w.max_parts, &w.max_depth);
	return obj != NULL ? check_object(obj, 0, &w) : SMIME_OK;
}

smime_status_t
smime_mime_check_mem(const unsigned char *p, size_t len, const smime_limits_t *limits,
    smime_err_t *err)
{
	GByteArray *a = g_byte_array_sized_new((guint)len);
	GMimeStream *st;
	GMimeParser *parser;
	GMimeObject *obj = NULL;
	unsigned parts, depth;
	smime_status_t rc;

	limits_get(limits, &parts, &depth);
	g_byte_array_append(a, p, (guint)len);
	st = g_mime_stream_mem_new_with_byte_array(a);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(st), FALSE);
	rc = smime_mime_prescan(st, parts, err);
	if (rc == SMIME_OK) {
		parser = g_mime_parser_new_with_stream(st);
		obj = g_mime_parser_construct_part(parser, NULL);
		g_object_unref(parser);
		rc = smime_mime_check_tree(obj, limits, err);
	}
	if (obj != NULL)
		g_object_unref(obj);
	g_object_unref(st);
	OPENSSL_cleanse(a->data, a->len);       /* it may be decrypted content */
	g_byte_array_free(a, TRUE);
	return rc;
}

/* ---- parse, write ---- */

static smime_status_t
canon_parse(GMimeStream *in, GMimeObject **objp, smime_err_t *err)
{
	GMimeParser *parser = g_mime_parser_new_with_stream(in);
	GMimeObject *obj;

	g_mime_parser_set_persist_stream(parser, TRUE);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	obj = g_mime_parser_construct_part(parser, NULL);
	g_object_unref(parser);
	if (obj == NULL)
		return util_err_set(err, SMIME_ERR_INPUT,
		    "the message cannot be parsed as MIME");
	/* No Content-Type: RFC 2045 5.2 says what it is; say it explicitly. */
	if (!g_mime_header_list_contains(g_mime_object_get_header_list(obj),
	    "Content-Type"))
		g_mime_object_prepend_header(obj, "Content-Type",
		    "text/plain; charset=us-ascii", NULL);
	*objp = obj;
	return SMIME_OK;
}

struct smime_canon {
	GMimeStream *in;        /* the normalised input; the parts read from it */
	GMimeObject *obj;
};

void
smime_canon_free(smime_canon_t *c)
{
	if (c == NULL)
		return;
	if (c->obj != NULL)
		g_object_unref(c->obj);     /* its substreams share in's storage */
	if (c->in != NULL)
		g_object_unref(c->in);
	free(c);
}

smime_status_t
smime_canon_write(smime_canon_t *c, GMimeStream *out, smime_err_t *err)
{
	GMimeFormatOptions *fmt = g_mime_format_options_new();
	GMimeStream *f = g_mime_stream_filter_new(out);
	GMimeFilter *u2d = g_mime_filter_unix2dos_new(FALSE);
	ssize_t n;
	int rc;

	g_mime_format_options_set_newline_format(fmt, GMIME_NEWLINE_FORMAT_DOS);
	g_mime_stream_filter_add(GMIME_STREAM_FILTER(f), u2d);
	g_object_unref(u2d);
	n = g_mime_object_write_to_stream(c->obj, fmt, f);
	rc = n < 0 ? -1 : g_mime_stream_flush(f);
	g_object_unref(f);
	g_mime_format_options_free(fmt);
	if (smime_spool_error(c->in, NULL) != 0)
		return canon_io_error(c->in, 0, err);
	if (n < 0 || rc != 0)
		return util_err_set(err, SMIME_ERR_IO,
		    "cannot write the canonical entity");
	return SMIME_OK;
}

/* The protected header block in front of the content headers (*block,
 * freed by the caller), or the content headers as they are. */
static smime_status_t
canon_headers(const char *content_headers, const smime_hp_out_t *hp,
    char **block, const char **headers, smime_err_t *err)
{
	*block = NULL;
	*headers = content_headers != NULL ? content_headers : "";
	if (canon_headers_have_blank(*headers))
		return util_err_set(err, SMIME_ERR_USAGE,
		    "the content headers contain an empty line");
	if (hp == NULL || hp->mode == SMIME_HP_NONE)
		return SMIME_OK;
	if ((*block = smime_hp_block(hp, *headers)) == NULL)
		return util_err_set(err, SMIME_ERR_NOMEM, "out of memory");
	if (canon_headers_have_blank(*block))
		return util_err_set(err, SMIME_ERR_USAGE,
		    "a protected header field contains an empty line");
	*headers = *block;
	return SMIME_OK;
}

smime_status_t
smime_canon_prepare(const char *content_headers, const smime_body_t *body,
    const char *dir, size_t mem_max, const smime_limits_t *limits,
    const smime_hp_out_t *hp, smime_canon_t **cp, smime_err_t *err)
{
	canon_walk_t w = { SMIME_PARTS_DEFAULT, CANON_DEPTH_MAX, 0, err };
	smime_canon_t *c;
	const char *headers;
	char *block;
	smime_status_t st;

	*cp = NULL;
	st = canon_headers(content_headers, hp, &block, &headers, err);
	if (st != SMIME_OK) {
		free(block);
		return st;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		free(block);
		return util_err_set(err, SMIME_ERR_NOMEM, "out of memory");
	}
	c->in = smime_spool_new(dir, mem_max);
	if (limits != NULL && limits->max_parts != 0)
		w.max_parts = limits->max_parts;
	if (limits != NULL && limits->max_depth != 0 && limits->max_depth < CANON_DEPTH_MAX)
		w.max_depth = limits->max_depth;
	st = canon_normalise(headers, body, c->in, w.max_parts, err);
	free(block);
	if (st == SMIME_OK)
		st = canon_parse(c->in, &c->obj, err);
	if (st == SMIME_OK && hp != NULL)
		smime_hp_mark(c->obj, hp);  /* before the fix: it encodes what it adds */
	if (st == SMIME_OK)
		st = canon_fix_object(c->obj, 0, &w);
	if (st != SMIME_OK)
		smime_canon_free(c);
	else
		*cp = c;
	return st;
}

smime_status_t
smime_canon_build(const char *content_headers, const smime_body_t *body,
    const char *dir, size_t mem_max, const smime_limits_t *limits,
    const smime_hp_out_t *hp, GMimeStream **canon, smime_err_t *err)
{
	smime_canon_t *c = NULL;
	GMimeStream *out = NULL;
	smime_status_t st;

	*canon = NULL;
	st = smime_canon_prepare(content_headers, body, dir, mem_max, limits, hp,
	    &c, err);
	if (st == SMIME_OK) {
		out = smime_spool_new(dir, mem_max);
		st = smime_canon_write(c, out, err);
		if (smime_spool_error(out, NULL) != 0)
			st = canon_io_error(out, 0, err);
	}
	smime_canon_free(c);
	if (st != SMIME_OK) {
		if (out != NULL)
			g_object_unref(out);
		return st;
	}
	g_mime_stream_reset(out);
	*canon = out;
	return SMIME_OK;
}
