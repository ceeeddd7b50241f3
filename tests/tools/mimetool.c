/*
 * tests/tools/mimetool.c: takes delivered messages apart for the
 * integration tests (tests/lib/mime.sh), with GMime rather than hand-made
 * parsers.  Test-only: built by `make check`, never installed, never linked
 * into smimegate or smimectl.
 *
 *   mimetool split MSG DIR     a multipart (multipart/signed) into what
 *                              detached-signature verifiers take:
 *                              DIR/ctype     the top-level Content-Type
 *                              DIR/boundary
 *                              DIR/nparts
 *                              DIR/content   part 1, its exact bytes
 *                              DIR/sig.hdr   part 2's headers, one a line
 *                              DIR/sig.b64   part 2's body, exact bytes
 *                              DIR/sig.der   part 2's body decoded (DER)
 *   mimetool leaves ENTITY DIR every leaf part of a message or entity:
 *                              DIR/structure one line per entity: depth,
 *                                 media type, charset (text; us-ascii when
 *                                 none is named) or "-"
 *                              DIR/leaves    how many
 *                              DIR/N.hdr, N.type, N.cte, N.body (the body
 *                                 with its transfer encoding undone)
 *   mimetool header MSG NAME   the first NAME header's value, unfolded
 *   mimetool tamper MSG OUT    MSG with one byte of part 1 changed: the
 *                              first byte of the middle non-empty line
 *                              ("A", or "B" when it was "A")
 *
 * Exit status: 0 done; 1 the input is not what was asked for (not a
 * multipart, fewer than two parts, no such header, nothing to tamper
 * with); 2 usage or I/O error.  Messages go to stderr.
 *
 * Exact bytes of a part.  RFC 1847 signs part 1 exactly as it lies between
 * the boundary delimiter lines: from after the line break that ends the
 * first delimiter line up to, not including, the line break before the
 * next one (RFC 2046: that line break belongs to the delimiter).  GMime
 * re-serialises a part rather than handing back its bytes, and its parser
 * reports offsets only for header fields (g_mime_header_get_offset) and
 * for the content of leaf parts (the bounds of the content stream), not
 * where a multipart child ends.  So the tool slices the file's own bytes
 * at the delimiter lines of the boundary GMime parsed, starting where
 * GMime says the top-level headers end, and then checks the slices against
 * every offset GMime does report: as many parts as GMime found, each
 * part's first header field where the slice starts, each leaf's content
 * ending where the slice ends.  A disagreement is an error, so a slice
 * cannot silently differ from what a MIME parser sees.  Nothing is
 * converted: a CRLF message gives CRLF parts.
 *
 * Everything is read into memory: test messages are small.
 */

#include <gmime/gmime.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_PARTS 64

struct slice {
	gint64 start;
	gint64 end;
};

/* A parsed file: its bytes and GMime's tree over them. */
struct input {
	char *buf;
	gsize len;
	GMimeObject *top;
	gint64 headers_end;
};

static void fail_io(const char *what, const char *path, GError *err)
{
	fprintf(stderr, "mimetool: %s %s: %s\n", what, path,
	    err ? err->message : "failed");
	if (err)
		g_error_free(err);
}

static int input_load(struct input *in, const char *path)
{
	GError *err = NULL;
	GMimeStream *st;
	GMimeParser *parser;

	memset(in, 0, sizeof(*in));
	if (!g_file_get_contents(path, &in->buf, &in->len, &err)) {
		fail_io("reading", path, err);
		return -1;
	}
	/* A memory stream over a copy: seekable, so the parser keeps
	 * offsets into it, which are offsets into the file. */
	st = g_mime_stream_mem_new_with_buffer(in->buf, in->len);
	parser = g_mime_parser_new_with_stream(st);
	in->top = g_mime_parser_construct_part(parser, NULL);
	in->headers_end = g_mime_parser_get_headers_end(parser);
	g_object_unref(parser);
	g_object_unref(st);
	if (in->top == NULL) {
		fprintf(stderr, "mimetool: %s: GMime cannot parse it\n", path);
		g_free(in->buf);
		return -1;
	}
	return 0;
}

static void input_free(struct input *in)
{
	if (in->top)
		g_object_unref(in->top);
	g_free(in->buf);
}

static int write_bytes(const char *dir, const char *name, const char *p, gsize n)
{
	char *path = g_build_filename(dir, name, NULL);
	GError *err = NULL;
	int rc = 0;

	if (!g_file_set_contents(path, p, (gssize)n, &err)) {
		fail_io("writing", path, err);
		rc = -1;
	}
	g_free(path);
	return rc;
}

static int write_line(const char *dir, const char *name, const char *s)
{
	char *l = g_strconcat(s, "\n", NULL);
	int rc = write_bytes(dir, name, l, strlen(l));

	g_free(l);
	return rc;
}

/* Opens DIR/NAME as a GMime stream for writing. */
static GMimeStream *open_out(const char *dir, const char *name)
{
	char *path = g_build_filename(dir, name, NULL);
	GError *err = NULL;
	GMimeStream *st = g_mime_stream_fs_open(path, O_WRONLY | O_CREAT | O_TRUNC,
	    0644, &err);

	if (st == NULL)
		fail_io("writing", path, err);
	g_free(path);
	return st;
}

/* The headers of an entity, "Name: value" a line, values unfolded. */
static int write_headers(GMimeObject *o, const char *dir, const char *name)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(o);
	GString *s = g_string_new(NULL);
	int i, n = g_mime_header_list_get_count(hl), rc;

	for (i = 0; i < n; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		const char *v = g_mime_header_get_value(h);

		g_string_append_printf(s, "%s: %s\n", g_mime_header_get_name(h),
		    v ? v : "");
	}
	rc = write_bytes(dir, name, s->str, s->len);
	g_string_free(s, TRUE);
	return rc;
}

/* --- slicing a multipart at its delimiter lines ------------------------ */

/*
 * Delimiter line at buf[pos..eol) (eol: the '\n' or the end)?  Returns 1
 * for "--boundary", 2 for "--boundary--", either followed by transport
 * padding (spaces, tabs) only; else 0.
 */
static int delimiter(const char *buf, gsize pos, gsize eol, const char *b, gsize blen)
{
	gsize p = pos, e = eol;
	int kind = 1;

	if (e > p && buf[e - 1] == '\r')
		e--;
	if (e - p < blen + 2 || buf[p] != '-' || buf[p + 1] != '-' ||
	    memcmp(buf + p + 2, b, blen) != 0)
		return 0;
	p += blen + 2;
	if (e - p >= 2 && buf[p] == '-' && buf[p + 1] == '-') {
		kind = 2;
		p += 2;
	}
	for (; p < e; p++)
		if (buf[p] != ' ' && buf[p] != '\t')
			return 0;
	return kind;
}

/*
 * Slices the body of IN (a multipart) into its parts; returns how many
 * parts, or -1 when the close delimiter is missing or there are too many.
 */
static int slice_parts(const struct input *in, const char *b, struct slice *parts)
{
	gsize blen = strlen(b), pos, eol;
	int n = 0, open = 0;

	pos = in->headers_end > 0 ? (gsize)in->headers_end : 0;
	while (pos < in->len) {
		const char *nl = memchr(in->buf + pos, '\n', in->len - pos);
		int kind;

		eol = nl ? (gsize)(nl - in->buf) : in->len;
		kind = delimiter(in->buf, pos, eol, b, blen);
		if (kind) {
			if (open) {
				/* The line break before a delimiter is the
				 * delimiter's. */
				gsize end = pos;

				if (end > 0 && in->buf[end - 1] == '\n')
					end--;
				if (end > 0 && in->buf[end - 1] == '\r')
					end--;
				if ((gint64)end < parts[n - 1].start)
					end = (gsize)parts[n - 1].start;
				parts[n - 1].end = (gint64)end;
				open = 0;
			}
			if (kind == 2)
				return n;
			if (n == MAX_PARTS)
				return -1;
			parts[n].start = nl ? (gint64)eol + 1 : (gint64)in->len;
			parts[n].end = -1;
			n++;
			open = 1;
		}
		pos = nl ? eol + 1 : in->len;
	}
	fprintf(stderr, "mimetool: no close delimiter --%s--\n", b);
	return -1;
}

/* Where GMime puts a child's first header field and a leaf's content end
 * must be where the slice says. */
static int slices_agree(GMimeMultipart *mp, const struct slice *parts, int n)
{
	int i;

	if (g_mime_multipart_get_count(mp) != n) {
		fprintf(stderr, "mimetool: GMime finds %d parts, the delimiter lines %d\n",
		    g_mime_multipart_get_count(mp), n);
		return -1;
	}
	for (i = 0; i < n; i++) {
		GMimeObject *c = g_mime_multipart_get_part(mp, i);
		GMimeHeaderList *hl = g_mime_object_get_header_list(c);

		if (g_mime_header_list_get_count(hl) > 0) {
			gint64 off = g_mime_header_get_offset(
			    g_mime_header_list_get_header_at(hl, 0));

			if (off >= 0 && off != parts[i].start) {
				fprintf(stderr, "mimetool: part %d: GMime's first header at %lld, "
				    "the slice starts at %lld\n", i + 1, (long long)off,
				    (long long)parts[i].start);
				return -1;
			}
		}
		if (GMIME_IS_PART(c) && g_mime_part_get_content((GMimePart *)c)) {
			GMimeStream *s = g_mime_data_wrapper_get_stream(
			    g_mime_part_get_content((GMimePart *)c));

			if (s && s->bound_end >= 0 && s->bound_end != parts[i].end) {
				fprintf(stderr, "mimetool: part %d: GMime's content ends at %lld, "
				    "the slice at %lld\n", i + 1, (long long)s->bound_end,
				    (long long)parts[i].end);
				return -1;
			}
		}
	}
	return 0;
}

/* The parts of IN as slices; 1 (with a message) when IN is not a
 * multipart with at least MIN parts that GMime agrees with. */
static int multipart_slices(const struct input *in, struct slice *parts, int *n, int min)
{
	const char *b;

	if (!GMIME_IS_MULTIPART(in->top)) {
		fprintf(stderr, "mimetool: not a multipart\n");
		return 1;
	}
	b = g_mime_multipart_get_boundary((GMimeMultipart *)in->top);
	if (b == NULL || *b == '\0') {
		fprintf(stderr, "mimetool: multipart without a boundary\n");
		return 1;
	}
	*n = slice_parts(in, b, parts);
	if (*n < 0 || slices_agree((GMimeMultipart *)in->top, parts, *n) != 0)
		return 1;
	if (*n < min) {
		fprintf(stderr, "mimetool: %d part(s), fewer than %d\n", *n, min);
		return 1;
	}
	return 0;
}

/* --- split -------------------------------------------------------------- */

static int cmd_split(const char *msg, const char *dir)
{
	struct input in;
	struct slice parts[MAX_PARTS];
	GMimeObject *sig;
	GMimeDataWrapper *w;
	GMimeStream *raw, *out;
	const char *ct;
	char num[16];
	int n = 0, rc = 1;

	if (input_load(&in, msg) != 0)
		return 2;
	ct = g_mime_object_get_header(in.top, "Content-Type");
	if (write_line(dir, "ctype", ct ? ct : "") != 0) {
		rc = 2;
		goto done;
	}
	if (multipart_slices(&in, parts, &n, 2) != 0)
		goto done;
	snprintf(num, sizeof(num), "%d", n);
	if (write_line(dir, "boundary", g_mime_multipart_get_boundary((GMimeMultipart *)in.top)) ||
	    write_line(dir, "nparts", num) ||
	    write_bytes(dir, "content", in.buf + parts[0].start,
		(gsize)(parts[0].end - parts[0].start))) {
		rc = 2;
		goto done;
	}

	sig = g_mime_multipart_get_part((GMimeMultipart *)in.top, 1);
	if (!GMIME_IS_PART(sig) || (w = g_mime_part_get_content((GMimePart *)sig)) == NULL) {
		fprintf(stderr, "mimetool: part 2 is not a leaf part with content\n");
		goto done;
	}
	if (write_headers(sig, dir, "sig.hdr") != 0) {
		rc = 2;
		goto done;
	}
	/* The body as it lies in the message, and decoded. */
	raw = g_mime_data_wrapper_get_stream(w);
	if (raw == NULL || raw->bound_start < 0 || raw->bound_end < raw->bound_start) {
		fprintf(stderr, "mimetool: GMime gives no offsets for part 2's body\n");
		goto done;
	}
	if (write_bytes(dir, "sig.b64", in.buf + raw->bound_start,
	    (gsize)(raw->bound_end - raw->bound_start)) != 0 ||
	    (out = open_out(dir, "sig.der")) == NULL) {
		rc = 2;
		goto done;
	}
	rc = 0;
	if (g_mime_data_wrapper_write_to_stream(w, out) < 0 || g_mime_stream_flush(out) != 0) {
		fprintf(stderr, "mimetool: decoding part 2 failed\n");
		rc = 2;
	}
	g_object_unref(out);
done:
	input_free(&in);
	return rc;
}

/* --- leaves ------------------------------------------------------------- */

struct walk {
	const char *dir;
	GString *structure;
	int leaves;
	int error;
};

/*
 * A leaf's body with its transfer encoding undone, by GMime's data
 * wrapper; for quoted-printable through GMime's filters instead, because
 * RFC 2045 6.7 (3) says trailing white space on an encoded line is
 * transport padding and must be deleted before decoding, and GMime's
 * decoder keeps it: strip filter, then the quoted-printable decoder.
 */
static int write_decoded(GMimePart *part, GMimeStream *out)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeStream *raw, *f;
	GMimeFilter *strip, *qp;
	int rc = 0;

	if (w == NULL)
		return 0;
	if (g_mime_data_wrapper_get_encoding(w) != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE)
		return g_mime_data_wrapper_write_to_stream(w, out) < 0 ? -1 : 0;
	raw = g_mime_data_wrapper_get_stream(w);
	if (raw == NULL || g_mime_stream_reset(raw) != 0)
		return -1;
	f = g_mime_stream_filter_new(out);
	strip = g_mime_filter_strip_new();
	qp = g_mime_filter_basic_new(GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE, FALSE);
	g_mime_stream_filter_add((GMimeStreamFilter *)f, strip);
	g_mime_stream_filter_add((GMimeStreamFilter *)f, qp);
	if (g_mime_stream_write_to_stream(raw, f) < 0 || g_mime_stream_flush(f) != 0)
		rc = -1;
	g_object_unref(strip);
	g_object_unref(qp);
	g_object_unref(f);
	return rc;
}

static int write_leaf(struct walk *wk, GMimeObject *o, const char *type)
{
	char name[32];
	const char *cte = "7bit";
	GMimeStream *out;
	int rc = 0;

	wk->leaves++;
	if (GMIME_IS_PART(o)) {
		const char *e = g_mime_content_encoding_to_string(
		    g_mime_part_get_content_encoding((GMimePart *)o));

		if (e)
			cte = e;
	} else {
		const char *e = g_mime_object_get_header(o, "Content-Transfer-Encoding");

		if (e)
			cte = e;
	}
	snprintf(name, sizeof(name), "%d.hdr", wk->leaves);
	if (write_headers(o, wk->dir, name) != 0)
		return -1;
	snprintf(name, sizeof(name), "%d.type", wk->leaves);
	if (write_line(wk->dir, name, type) != 0)
		return -1;
	snprintf(name, sizeof(name), "%d.cte", wk->leaves);
	{
		char *l = g_ascii_strdown(cte, -1);

		g_strstrip(l);
		rc = write_line(wk->dir, name, l);
		g_free(l);
		if (rc != 0)
			return -1;
	}
	snprintf(name, sizeof(name), "%d.body", wk->leaves);
	if ((out = open_out(wk->dir, name)) == NULL)
		return -1;
	if (GMIME_IS_PART(o)) {
		if (write_decoded((GMimePart *)o, out) != 0)
			rc = -1;
	} else if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *m = g_mime_message_part_get_message((GMimeMessagePart *)o);

		if (m && g_mime_object_write_to_stream((GMimeObject *)m, NULL, out) < 0)
			rc = -1;
	}
	if (g_mime_stream_flush(out) != 0)
		rc = -1;
	g_object_unref(out);
	if (rc != 0)
		fprintf(stderr, "mimetool: writing leaf %d failed\n", wk->leaves);
	return rc;
}

static void walk_entity(struct walk *wk, GMimeObject *o, int depth)
{
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	char *mt = ct ? g_mime_content_type_get_mime_type(ct) : g_strdup("text/plain");
	char *type = g_ascii_strdown(mt, -1);
	int i;

	g_free(mt);

	if (g_str_has_prefix(type, "text/")) {
		const char *cs = g_mime_content_type_get_parameter(ct, "charset");
		char *l = g_ascii_strdown(cs && *cs ? cs : "us-ascii", -1);

		g_string_append_printf(wk->structure, "%d %s %s\n", depth, type, l);
		g_free(l);
	} else {
		g_string_append_printf(wk->structure, "%d %s -\n", depth, type);
	}
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = (GMimeMultipart *)o;

		for (i = 0; i < g_mime_multipart_get_count(mp) && !wk->error; i++)
			walk_entity(wk, g_mime_multipart_get_part(mp, i), depth + 1);
	} else if (write_leaf(wk, o, type) != 0) {
		wk->error = 1;
	}
	g_free(type);
}

static int cmd_leaves(const char *entity, const char *dir)
{
	struct input in;
	struct walk wk = { dir, g_string_new(NULL), 0, 0 };
	char num[16];
	int rc = 0;

	if (input_load(&in, entity) != 0) {
		g_string_free(wk.structure, TRUE);
		return 2;
	}
	walk_entity(&wk, in.top, 0);
	snprintf(num, sizeof(num), "%d", wk.leaves);
	if (wk.error ||
	    write_bytes(dir, "structure", wk.structure->str, wk.structure->len) != 0 ||
	    write_line(dir, "leaves", num) != 0)
		rc = 2;
	g_string_free(wk.structure, TRUE);
	input_free(&in);
	return rc;
}

/* --- header, tamper ----------------------------------------------------- */

static int cmd_header(const char *msg, const char *name)
{
	struct input in;
	const char *v;
	int rc = 1;

	if (input_load(&in, msg) != 0)
		return 2;
	if ((v = g_mime_object_get_header(in.top, name)) != NULL) {
		printf("%s\n", v);
		rc = 0;
	}
	input_free(&in);
	return rc;
}

/* Counts the non-empty lines of a slice; with WANT > 0, sets *AT to
 * where the WANT-th one (from 1) starts. */
static int part_lines(const struct input *in, const struct slice *sl, int want, gint64 *at)
{
	gint64 pos = sl->start;
	int n = 0;

	while (pos < sl->end) {
		const char *nl = memchr(in->buf + pos, '\n', (gsize)(sl->end - pos));
		gint64 eol = nl ? nl - in->buf : sl->end;

		if (eol > pos && !(eol - pos == 1 && in->buf[pos] == '\r')) {
			n++;
			if (n == want && at)
				*at = pos;
		}
		pos = eol + 1;
	}
	return n;
}

static int cmd_tamper(const char *msg, const char *outpath)
{
	struct input in;
	struct slice parts[MAX_PARTS];
	gint64 target = -1;
	GError *err = NULL;
	int n = 0, nc = 0, i, rc = 1;

	if (input_load(&in, msg) != 0)
		return 2;
	if (multipart_slices(&in, parts, &n, 1) != 0)
		goto done;
	/* The non-empty lines of part 1 (headers and body alike): count
	 * them, then find the middle one. */
	nc = part_lines(&in, &parts[0], -1, NULL);
	if (nc == 0) {
		fprintf(stderr, "mimetool: part 1 has no line to change\n");
		goto done;
	}
	part_lines(&in, &parts[0], (nc + 1) / 2, &target);
	i = (int)target;
	in.buf[i] = in.buf[i] == 'A' ? 'B' : 'A';
	if (!g_file_set_contents(outpath, in.buf, (gssize)in.len, &err)) {
		fail_io("writing", outpath, err);
		rc = 2;
		goto done;
	}
	rc = 0;
done:
	input_free(&in);
	return rc;
}

static int usage(void)
{
	fprintf(stderr, "usage: mimetool split MSG DIR | leaves ENTITY DIR | "
	    "header MSG NAME | tamper MSG OUT\n");
	return 2;
}

int main(int argc, char **argv)
{
	int rc;

	if (argc != 4)
		return usage();
	g_mime_init();
	if (strcmp(argv[1], "split") == 0)
		rc = cmd_split(argv[2], argv[3]);
	else if (strcmp(argv[1], "leaves") == 0)
		rc = cmd_leaves(argv[2], argv[3]);
	else if (strcmp(argv[1], "header") == 0)
		rc = cmd_header(argv[2], argv[3]);
	else if (strcmp(argv[1], "tamper") == 0)
		rc = cmd_tamper(argv[2], argv[3]);
	else
		rc = usage();
	g_mime_shutdown();
	return rc;
}
