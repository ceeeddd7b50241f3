/*
 * mail_entry.c: what the gateway writes into a spool entry (see
 * mail_entry.h).  Our result header never travels in a copy from what
 * came in (a held copy released --clear goes out without us), nor does
 * a mark that came in.
 */
#include "mail/mail_entry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <gmime/gmime.h>

mail_spool_t *
mail_entry_body(mail_msg_t *m, const mail_result_t *r)
{
	return r != NULL && r->what == MAIL_DO_REPLACE ? r->new_body : m->body;
}

int
mail_entry_digest(mail_spool_t *b, unsigned char out[32])
{
	queue_digest_t *d = queue_digest_new(0);
	char chunk[8192];
	long long off = 0;
	ssize_t n = 0;
	int rc = d != NULL ? 0 : -1;

	while (rc == 0 && (n = mail_spool_read(b, off, chunk, sizeof(chunk))) > 0) {
		rc = queue_digest_add(d, chunk, (size_t)n);
		off += n;
	}
	if (rc == 0 && (n < 0 || queue_digest_final(d, out) != 0))
		rc = -1;
	queue_digest_free(d);
	return rc;
}

const char *
mail_entry_client(const mail_msg_t *m)
{
	return m->auth != NULL ? QUEUE_CLIENT_AUTH : m->client_internal ? QUEUE_CLIENT_INTERNAL
	    : QUEUE_CLIENT_OTHER;
}

/* Writes a header value with every bare LF made CRLF. */
static void
put_value(FILE *fp, const char *v)
{
	for (const char *p = v; *p != '\0'; p++) {
		if (*p == '\n' && (p == v || p[-1] != '\r'))
			fputc('\r', fp);
		fputc(*p, fp);
	}
}

/* Writes the message m as the result r makes it (r NULL: as received),
 * with the mark line first when mark is not NULL, CRLF line ends, to fp,
 * the body in chunks (never whole in memory).  0, or -1. */
static int
render_fp(FILE *fp, mail_msg_t *m, const mail_result_t *r, const char *mark)
{
	char chunk[8192];
	mail_spool_t *body;
	long long off = 0;
	ssize_t n;

	if (mark != NULL)
		fprintf(fp, "%s: %s\r\n", QUEUE_MARK_HEADER, mark);
	for (size_t i = 0; i < m->nhdrs; i++) {
		const char *name = m->hdrs[i].name;

		if (strcasecmp(name, QUEUE_MARK_HEADER) == 0
		    || strcasecmp(name, m->conf->result_header) == 0 || (r != NULL &&
		    (mail_result_strips(r, name) || (r->what == MAIL_DO_REPLACE &&
		    mail_msg_is_content_header(name)))))
			continue;
		fprintf(fp, "%s: ", name);
		put_value(fp, m->hdrs[i].value);
		fputs("\r\n", fp);
	}
	for (size_t i = 0; r != NULL && r->what == MAIL_DO_REPLACE && i < r->nadd; i++) {
		fprintf(fp, "%s: ", r->add_name[i]);
		put_value(fp, r->add_value[i]);
		fputs("\r\n", fp);
	}
	for (size_t i = 0; r != NULL && i < r->nset; i++) {
		fprintf(fp, "%s: ", r->set_name[i]);
		put_value(fp, r->set_value[i]);
		fputs("\r\n", fp);
	}
	fputs("\r\n", fp);
	body = mail_entry_body(m, r);
	while ((n = mail_spool_read(body, off, chunk, sizeof(chunk))) > 0) {
		if (fwrite(chunk, 1, (size_t)n, fp) != (size_t)n)
			return -1;
		off += n;
	}
	return n < 0 || ferror(fp) ? -1 : 0;
}

int
mail_entry_writer(int fd, void *arg)
{
	const mail_entry_src_t *a = arg;
	int d = dup(fd), rc;
	FILE *fp = d >= 0 ? fdopen(d, "w") : NULL;

	if (fp == NULL) {
		if (d >= 0)
			close(d);
		return -1;
	}
	rc = a->text != NULL ? (fputs(a->text, fp) == EOF ? -1 : 0)
	    : render_fp(fp, a->m, a->r, a->mark);
	if (fclose(fp) != 0)
		rc = -1;
	return rc;
}

/* text with every line end made CRLF (malloc'ed), or NULL. */
static char *
crlf(const char *text)
{
	size_t n = 0;
	char *out, *o;

	for (const char *p = text; *p != '\0'; p++)
		n += *p == '\n' ? 2 : *p != '\r';
	if ((out = o = malloc(n + 1)) == NULL)
		return NULL;
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '\n')
			*o++ = '\r';
		if (*p != '\r')
			*o++ = *p;
	}
	*o = '\0';
	return out;
}

char *
mail_entry_notice(const conf_t *conf, enum conf_tmpl_id id, const char *sender,
    const char *ref, const char *subject, const char *list)
{
	const char *v[CONF_TF_N] = { 0 };
	char *t, *nl, *body = NULL, *subj = NULL, *text = NULL;

	v[CONF_TF_SENDER] = sender;
	v[CONF_TF_REFERENCE] = ref;
	v[CONF_TF_SUBJECT] = subject;
	v[CONF_TF_LIST] = list;
	if ((t = conf_tmpl_render(conf, NULL, id, v)) == NULL || (nl = strchr(t, '\n')) == NULL)
		goto out;
	*nl = '\0';
	nl[-(nl > t && nl[-1] == '\r')] = '\0';
	subj = g_mime_utils_header_encode_text(NULL, t + 8 + strspn(t + 8, " \t"), "utf-8");
	if (subj == NULL || (body = crlf(nl + 1 + strspn(nl + 1, "\r\n"))) == NULL
	    || asprintf(&text, "From: Mail Delivery System <MAILER-DAEMON>\r\n"
	    "To: <%s>\r\nSubject: %s\r\nAuto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n%s", sender, subj, body) < 0)
		text = NULL;
out:
	g_free(subj);
	free(body);
	free(t);
	return text;
}

int
mail_entry_list_add(char **list, const char *rcpt, const char *why)
{
	char *n;

	if (asprintf(&n, "%s    <%s>: %s\r\n", *list ? *list : "", rcpt, why) < 0)
		return -1;
	free(*list);
	*list = n;
	return 0;
}
