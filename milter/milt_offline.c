/*
 * milt_offline.c: the offline mode (see milt_offline.h).  GMime splits the
 * file into its header fields and body, which are handed to the message
 * context one by one, as the milter does; the result is written as a whole
 * message: kept headers, added headers, the blank line, the body.
 */
#include "milter/milt_offline.h"
#include "ops/ops_log.h"
#include "mail/mail_msg.h"
#include "mail/mail_pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <gmime/gmime.h>

#define CHUNK 65536

/* A raw header value as the milter would see it: no leading white space,
 * no final line end. */
static char *
milter_value(const char *raw)
{
	size_t len;

	while (*raw == ' ' || *raw == '\t')
		raw++;
	len = strlen(raw);
	while (len > 0 && (raw[len - 1] == '\n' || raw[len - 1] == '\r'))
		len--;
	return strndup(raw, len);
}

/*
 * Before GMime sees the header block: a field longer than
 * MaximumHeaderLength is refused at once, as Postfix's header_size_limit
 * would cut it (GMime grows its header buffer step by step: a 10 MB field
 * took minutes under AddressSanitizer).  1 when one is too long.
 * *block_end: an offset past the blank line that ends the header block
 * (GMime then parses the header block only, not the whole message), or -1.
 */
static int
header_field_too_long(int fd, long long max, long long *block_end)
{
	FILE *fp = fdopen(dup(fd), "r");
	long long field = 0;
	int c, bol = 1, too_long = 0;

	*block_end = -1;
	if (fp == NULL)
		return 0;
	while (!too_long && (c = getc(fp)) != EOF) {
		if (bol && (c == '\n' || c == '\r')) {
			*block_end = ftell(fp) + 1;     /* the LF of a CRLF too */
			break;                      /* the blank line ends the block */
		}
		if (bol && c != ' ' && c != '\t')
			field = 0;                  /* a new field, not a continuation */
		bol = c == '\n';
		too_long = ++field > max;
	}
	fclose(fp);
	lseek(fd, 0, SEEK_SET);     /* the duplicate shares the offset */
	return too_long;
}

/* Feeds the header fields; returns the body offset in the file, or -1. */
static long long
feed_headers(mail_msg_t *m, int fd, char *err, size_t errlen)
{
	GMimeStream *st;
	GMimeParser *p;
	GMimeObject *obj;
	long long end = -1, block_end;

	if (header_field_too_long(fd, m->conf->max_header_length, &block_end)) {
		m->too_big = 1;
		m->over_limit = MAIL_LIMIT_HEADER_LENGTH;
		return 0;
	}
	st = block_end > 0 ? g_mime_stream_fs_new_with_bounds(dup(fd), 0, block_end)
	    : g_mime_stream_fs_new(dup(fd));
	p = g_mime_parser_new_with_stream(st);
	obj = g_mime_parser_construct_part(p, NULL);

	if (obj == NULL) {
		snprintf(err, errlen, "cannot parse the message's header");
		goto done;
	}
	GMimeHeaderList *hl = g_mime_object_get_header_list(obj);
	for (int i = 0; i < g_mime_header_list_get_count(hl); i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		char *v = milter_value(g_mime_header_get_raw_value(h));
		int rc = v ? mail_msg_add_header(m, g_mime_header_get_name(h), v) : -1;

		free(v);
		if (rc != 0 && !m->too_big) {
			snprintf(err, errlen, "out of memory");
			goto done;
		}
	}
	end = g_mime_parser_get_headers_end(p);
done:
	if (obj != NULL)
		g_object_unref(obj);
	g_object_unref(p);
	g_object_unref(st);
	return end;
}

/* Skips the blank line at off; feeds the rest of the file as the body. */
static int
feed_body(mail_msg_t *m, int fd, long long off, char *err, size_t errlen)
{
	unsigned char *buf = malloc(CHUNK);
	char nl[2];
	ssize_t n;

	if (buf == NULL)
		return snprintf(err, errlen, "out of memory"), -1;
	n = pread(fd, nl, 2, off);
	if (n >= 1 && nl[0] == '\n')
		off += 1;
	else if (n == 2 && nl[0] == '\r' && nl[1] == '\n')
		off += 2;
	while ((n = pread(fd, buf, CHUNK, off)) > 0) {
		if (mail_msg_add_body(m, buf, (size_t)n) != 0 && !m->too_big) {
			snprintf(err, errlen, "%s", mail_spool_error(m->body));
			free(buf);
			return -1;
		}
		off += n;
	}
	free(buf);
	if (n < 0)
		return snprintf(err, errlen, "read: %s", strerror(errno)), -1;
	return 0;
}

static void
write_header(FILE *out, const char *name, const char *value)
{
	/* Folded values carry bare LF (as from the MTA): end lines in CRLF. */
	fprintf(out, "%s: ", name);
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '\n' && (p == value || p[-1] != '\r'))
			fputc('\r', out);
		fputc(*p, out);
	}
	fputs("\r\n", out);
}

static int
write_result(const mail_msg_t *m, FILE *out)
{
	const mail_result_t *r = &m->result;
	mail_spool_t *body = r->what == MAIL_DO_REPLACE ? r->new_body : m->body;
	unsigned char *buf = malloc(CHUNK);
	long long off = 0;
	ssize_t n;

	if (buf == NULL)
		return -1;
	for (size_t i = 0; i < m->nhdrs; i++)
		if ((r->what != MAIL_DO_REPLACE || !mail_msg_is_content_header(m->hdrs[i].name))
		    && !mail_result_strips(r, m->hdrs[i].name))
			write_header(out, m->hdrs[i].name, m->hdrs[i].value);
	for (size_t i = 0; r->what == MAIL_DO_REPLACE && i < r->nadd; i++)
		write_header(out, r->add_name[i], r->add_value[i]);
	for (size_t i = 0; i < r->nset; i++)
		write_header(out, r->set_name[i], r->set_value[i]);
	fputs("\r\n", out);
	while ((n = mail_spool_read(body, off, buf, CHUNK)) > 0) {
		fwrite(buf, 1, (size_t)n, out);
		off += n;
	}
	free(buf);
	return fflush(out) == 0 && n == 0 ? 0 : -1;
}

int
milt_offline_run(conf_t *conf, keystore_t *ks, const milt_offline_args_t *a,
    FILE *out, char *err, size_t errlen)
{
	mail_msg_t *m = mail_msg_new(conf, ks);
	const mail_result_t *r;
	long long off;
	int fd = -1, rc = -1;

	if (m == NULL)
		return snprintf(err, errlen, "cannot set up the message (spool %s)",
		    conf->spool_dir), -1;
	m->no_split = 1;            /* -t shows one result; no copies sent */
	if ((fd = open(a->input, O_RDONLY)) < 0) {
		snprintf(err, errlen, "%s: %s", a->input, strerror(errno));
		goto done;
	}
	if (!a->inbound && a->client != NULL) {
		snprintf(m->client_addr, sizeof(m->client_addr), "%s", a->client);
		m->client_internal = conf_is_internal_text(conf, a->client);
	}
	if ((!a->inbound && a->auth != NULL && (m->auth = strdup(a->auth)) == NULL) ||
	    mail_msg_set_sender(m, a->from) != 0) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < a->nrcpts; i++) {
		int rrc = mail_msg_add_rcpt(m, a->rcpts[i]);

		if (rrc == 1)   /* as the milter: this recipient refused, the rest go on */
			ops_log(LOG_WARNING, m->qid, "to=<%s>: refused %s %s %s (MaximumRecipients)",
			    a->rcpts[i], MAIL_RCPT_LIMIT_RCODE, MAIL_RCPT_LIMIT_XCODE,
			    MAIL_RCPT_LIMIT_REPLY);
		else if (rrc != 0) {
			snprintf(err, errlen, "out of memory");
			goto done;
		}
	}
	if ((off = feed_headers(m, fd, err, errlen)) < 0 ||
	    feed_body(m, fd, off, err, errlen) != 0)
		goto done;
	r = mail_pipeline_process(m);
	mail_msg_log(m);
	if (r->what == MAIL_DO_HOLD) {
		snprintf(err, errlen, "the message would be held: %s", r->reason);
		rc = 1;
		goto done;
	}
	if (r->what == MAIL_DO_REJECT || r->what == MAIL_DO_TEMPFAIL) {
		snprintf(err, errlen, "the message would be answered %s %s %s",
		    r->rcode, r->xcode, r->reply);
		rc = 1;
		goto done;
	}
	if (write_result(m, out) != 0) {
		snprintf(err, errlen, "write: %s", strerror(errno));
		goto done;
	}
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	mail_msg_free(m);
	return rc;
}
