/*
 * mail_queue.c: mixed recipients, re-injection and hold (see mail_queue.h).
 *
 * Submission runs ReinjectCommand (Postfix's sendmail(1) by default), so
 * the MTA's own submission path queues the copy: no SMTP client of ours.
 * Its standard input is the spool entry's file (no pipe: a command that
 * exits early cannot kill the gateway, a gateway that dies cannot cut the
 * copy short).  A copy is recorded as being handed on before the command
 * runs (queue_sent()) and as back when it returns through the MTA with its
 * mark (queue_back_claim()): after a crash in between, it is not handed on
 * again, and a mark is honoured once, only while its copy is out.  Every
 * copy made of a client's message records the submitter (login, client
 * class); a held copy decided again is decided for that submitter.
 */
#include "mail/mail_queue.h"
#include "ops/ops_log.h"
#include "mail/mail_policy.h"
#include "queue/queue.h"

#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

extern char **environ;

/* What a copy is. */
enum copy_kind {
	COPY_SEND,                  /* made in its form, marked, to re-inject */
	COPY_HOLD,                  /* the original, in hold/, decided again later */
	COPY_REFUSED,               /* refused by policy: nothing written; the
	                               recipients are named in the notice */
	COPY_NOTICE                 /* to the sender, from <>: who was refused */
};

typedef struct copy {
	char id[QUEUE_ID_MAX];
	enum copy_kind kind;
	char **rcpts;               /* borrowed (del[], m->rcpts), or owned (NOTICE) */
	size_t n;
	int written;
	int dropped;                /* its recipients left the transaction */
	mail_msg_t *sub;            /* SEND: the copy's message and result (its
	                               bodies in spool files past SpoolMemoryLimit),
	                               streamed into the entry at commit */
	int again;                  /* SEND: made by an earlier attempt of the
	                               same message (queue_seen()): not again */
	char mark[QUEUE_ID_MAX + 70];
	char *data;                 /* NOTICE: the whole entry (small) */
	char form[64];
	char reason[512];
} copy_t;

struct mail_split {
	char **del;                 /* recipients the MTA drops */
	size_t ndel;
	copy_t *c;
	size_t nc;
};

/* ---- the mark ---- */

/* 1 when copy id was released unencrypted by an operator (its record
 * QueueDirectory/clear/ID, made by smimectl spool release --clear). */
static int
released_clear(const mail_msg_t *m, const char *id)
{
	char err[QUEUE_ERR_MAX];
	queue_t *q;
	int r = 0;

	if (queue_open(m->conf->queue_dir, &q, NULL, err, sizeof(err)) == QUEUE_OK)
		r = queue_noted(q, "clear", id);
	queue_close(q);
	return r;
}

/* The digest a mark covers (queue_digest_*()) of body b.  0 or -1. */
static int
spool_digest(mail_spool_t *b, unsigned char out[32])
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

/* The body a result r of m delivers (r NULL: as received). */
static mail_spool_t *
result_body(mail_msg_t *m, const mail_result_t *r)
{
	return r != NULL && r->what == MAIL_DO_REPLACE ? r->new_body : m->body;
}

/* Claims copy id as come back through the MTA (queue_back_claim()): 1
 * claimed (the MTA has it; a crash before the runner removed it does not
 * make it go out again), 0 not out or back already, -1 cannot be told. */
static int
claim(const mail_msg_t *m, const char *id, char *err, size_t errlen)
{
	queue_t *q;
	int r = -1;

	if (queue_open(m->conf->queue_dir, &q, NULL, err, errlen) == QUEUE_OK)
		r = queue_back_claim(q, id, err, errlen);
	queue_close(q);
	return r;
}

/* Gives back the claim of the copy m is (the message was tempfailed:
 * the MTA brings it again, and its mark must then be honoured). */
static void
unclaim(const mail_msg_t *m)
{
	char err[QUEUE_ERR_MAX];
	queue_t *q;

	if (queue_open(m->conf->queue_dir, &q, NULL, err, sizeof(err)) != QUEUE_OK
	    || queue_back_unclaim(q, m->result.marked, err, sizeof(err)) != QUEUE_OK)
		ops_log(LOG_WARNING, m->qid, "spool: copy %s: its mark stays used: %s",
		    m->result.marked, err);
	queue_close(q);
}

/* Issue 14: a copy made in its form carries the result header of its
 * own processing (an inbound copy: decrypted, or no-key), rendered after
 * every incoming one was dropped; it stays when the copy comes back (the
 * header is deleted from all mail and set again). */
static void
keep_result(mail_msg_t *m)
{
	const char *v = mail_msg_header(m, m->conf->result_header);

	if (v != NULL && mail_result_set(&m->result, m->conf->result_header, v) != 0)
		ops_log(LOG_WARNING, m->qid, "spool copy: its %s not kept (out of memory)",
		    m->conf->result_header);
}

int
mail_queue_mark(mail_msg_t *m)
{
	const char *v = mail_msg_header(m, MAIL_QUEUE_MARK);
	char id[QUEUE_ID_MAX], mac[65], err[QUEUE_ERR_MAX];
	unsigned char digest[32];

	if (mail_result_strip(&m->result, MAIL_QUEUE_MARK) != 0 || v == NULL
	    || m->conf->reinject_keylen == 0)
		return 0;
	if (sscanf(v, "%47s %64s", id, mac) != 2 || spool_digest(m->body, digest) != 0
	    || !queue_mark_check(m->conf->reinject_key, m->conf->reinject_keylen, mac, id,
	    m->sender ? m->sender : "", (const char *const *)m->rcpts, m->nrcpts, digest)) {
		ops_log(LOG_WARNING, m->qid, "%s: a mark that does not verify (not ours, or "
		    "on another envelope or body): not honoured", MAIL_QUEUE_MARK);
		return 0;
	}
	switch (claim(m, id, err, sizeof(err))) {
	case 0:
		ops_log(LOG_WARNING, m->qid, "%s: spool copy %s is not out, or came back "
		    "already (a replay): its mark is not honoured", MAIL_QUEUE_MARK, id);
		return 0;
	case -1:
		mail_msg_tempfail(m, err);
		return 1;
	}
	snprintf(m->result.marked, sizeof(m->result.marked), "%s", id);
	if (released_clear(m, id))
		mail_msg_pass(m, "reinjected", "spool copy %s, released unencrypted by the "
		    "operator (smimectl spool release --clear)", id);
	else {
		mail_msg_pass(m, "reinjected", "spool copy %s", id);
		keep_result(m);
	}
	return 1;
}

/* The submitter's class, as an entry records it (Client:). */
static const char *
client_class(const mail_msg_t *m)
{
	return m->auth != NULL ? QUEUE_CLIENT_AUTH : m->client_internal ? QUEUE_CLIENT_INTERNAL
	    : QUEUE_CLIENT_OTHER;
}

/* Takes the submitter an entry records: a login (authenticated), an
 * internal host, or neither (other, or not recorded: an entry of an
 * older version), which may sign as nobody.  0 or -1. */
static int
client_from_entry(mail_msg_t *m, const queue_entry_t *e)
{
	m->from_spool = 1;
	m->client_internal = 0;
	if (strcmp(e->client, QUEUE_CLIENT_AUTH) == 0 && e->login[0] != '\0')
		return (m->auth = strdup(e->login)) == NULL ? -1 : 0;
	m->client_internal = strcmp(e->client, QUEUE_CLIENT_INTERNAL) == 0;
	return 0;
}

/* ---- rendering a message ---- */

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
		fprintf(fp, "%s: %s\r\n", MAIL_QUEUE_MARK, mark);
	for (size_t i = 0; i < m->nhdrs; i++) {
		const char *name = m->hdrs[i].name;

		/* Our result header never travels in a copy from what came
		 * in (a held copy released --clear goes out without us). */
		if (strcasecmp(name, MAIL_QUEUE_MARK) == 0
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
	body = result_body(m, r);
	while ((n = mail_spool_read(body, off, chunk, sizeof(chunk))) > 0) {
		if (fwrite(chunk, 1, (size_t)n, fp) != (size_t)n)
			return -1;
		off += n;
	}
	return n < 0 || ferror(fp) ? -1 : 0;
}

/* What a spool entry's writer (queue_put_with()) writes: text, or m
 * rendered as r makes it with the mark. */
struct render_arg {
	mail_msg_t *m;
	const mail_result_t *r;
	const char *mark;
	const char *text;
};

static int
render_writer(int fd, void *arg)
{
	const struct render_arg *a = arg;
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

/* ---- notices ---- */

/*
 * The text of a notice to sender (the whole message, CRLF line ends,
 * malloc'ed): what (one line) about the message (ref: the MTA's queue ID
 * or a spool copy), then list (one "    <rcpt>: why" line per recipient).
 */
static char *
notice_text(const char *sender, const char *ref, const char *subject,
    const char *what, const char *list)
{
	char *text = NULL;

	if (asprintf(&text, "From: Mail Delivery System <MAILER-DAEMON>\r\n"
	    "To: <%s>\r\nSubject: Undelivered Mail: %s\r\nAuto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
	    "Your message (%s%s%.200s%s) %s:\r\n\r\n%s\r\n"
	    "This notice comes from the S/MIME gateway; do not reply to it.\r\n",
	    sender, what, ref, *subject ? ", subject \"" : "", subject, *subject ? "\"" : "",
	    what, list) < 0)
		return NULL;
	return text;
}

/* Appends "    <rcpt>: why\r\n" to *list (malloc'ed); 0 or -1. */
static int
list_add(char **list, const char *rcpt, const char *why)
{
	char *n;

	if (asprintf(&n, "%s    <%s>: %s\r\n", *list ? *list : "", rcpt, why) < 0)
		return -1;
	free(*list);
	*list = n;
	return 0;
}

/* A header value on one line, for the notice's text (bounded). */
static void
one_line(char *out, size_t size, const char *v)
{
	size_t k = 0;

	for (; v != NULL && *v != '\0' && k + 1 < size; v++)
		out[k++] = (*v == '\r' || *v == '\n' || *v == '\t') ? ' ' : *v;
	out[k] = '\0';
}

/* ---- splitting ---- */

void
mail_queue_split_free(struct mail_split *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->ndel; i++)
		free(s->del[i]);
	free(s->del);
	for (size_t i = 0; i < s->nc; i++) {
		if (s->c[i].kind == COPY_NOTICE)
			for (size_t j = 0; j < s->c[i].n; j++)
				free(s->c[i].rcpts[j]);
		free(s->c[i].rcpts);    /* else the strings are in del or m */
		free(s->c[i].data);
		mail_msg_free(s->c[i].sub);
	}
	free(s->c);
	free(s);
}

char *const *
mail_queue_delrcpts(const mail_msg_t *m, size_t *n)
{
	const struct mail_split *s = m->result.split;

	*n = s ? s->ndel : 0;
	return s ? s->del : NULL;
}

/* 1 when mail may be split and held in the spool (a key to mark copies). */
static int
spool_usable(const mail_msg_t *m)
{
	return m->conf->reinject_keylen > 0 && !m->no_split;
}

/* A message like m for some of its recipients (those i with pick[i]). */
static mail_msg_t *
msg_clone(const mail_msg_t *m, const size_t *group, size_t g)
{
	mail_msg_t *c = mail_msg_new(m->conf, m->keystore);
	char chunk[8192];
	long long off = 0;
	ssize_t n;
	int bad = c == NULL;

	if (bad)
		return NULL;
	snprintf(c->qid, sizeof(c->qid), "%s", m->qid);
	c->no_split = 1;            /* one group already */
	snprintf(c->client_addr, sizeof(c->client_addr), "%s", m->client_addr);
	c->client_internal = m->client_internal;
	bad |= m->auth != NULL && (c->auth = strdup(m->auth)) == NULL;
	bad |= (c->sender = strdup(m->sender ? m->sender : "")) == NULL;
	for (size_t i = 0; !bad && i < m->nrcpts; i++)
		if (group == NULL || group[i] == g)
			bad |= mail_msg_add_rcpt(c, m->rcpts[i]) != 0;
	for (size_t i = 0; !bad && i < m->nhdrs; i++)
		bad |= mail_msg_add_header(c, m->hdrs[i].name, m->hdrs[i].value) != 0;
	while (!bad && (n = mail_spool_read(m->body, off, chunk, sizeof(chunk))) > 0) {
		bad |= mail_msg_add_body(c, chunk, (size_t)n) != 0;
		off += n;
	}
	if (bad) {
		mail_msg_free(c);
		return NULL;
	}
	return c;
}

/* 1 for the headers that differ each time the same message is received
 * (trace headers the MTA adds, our mark): not part of its digest. */
static int
hdr_varies(const char *name)
{
	return strcasecmp(name, "Received") == 0 || strcasecmp(name, "Return-Path") == 0
	    || strcasecmp(name, MAIL_QUEUE_MARK) == 0;
}

/* SHA-256 of m as received: its headers (but those of hdr_varies()), then
 * its body; what a copy's ID is made from (queue_dedup_id()).  0 or -1. */
static int
msg_digest(const mail_msg_t *m, unsigned char out[32])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int len = 0;
	char chunk[8192];
	long long off = 0;
	ssize_t n = 0;
	int ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;

	for (size_t i = 0; ok && i < m->nhdrs; i++)
		if (!hdr_varies(m->hdrs[i].name))
			ok = EVP_DigestUpdate(c, m->hdrs[i].name, strlen(m->hdrs[i].name) + 1) == 1
			    && EVP_DigestUpdate(c, m->hdrs[i].value, strlen(m->hdrs[i].value) + 1) == 1;
	ok = ok && EVP_DigestUpdate(c, "", 1) == 1;
	while (ok && (n = mail_spool_read(m->body, off, chunk, sizeof(chunk))) > 0) {
		ok = EVP_DigestUpdate(c, chunk, (size_t)n) == 1;
		off += n;
	}
	ok = ok && n == 0 && EVP_DigestFinal_ex(c, out, &len) == 1 && len == 32;
	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

/*
 * Makes group g's copy into cp, the group's policy outcome being o: the
 * copy in its form (SEND), the original (HOLD), or, for a recipient the
 * policy refuses (reject, or a fallback=notice), nothing but the reason
 * (REFUSED).  0, or -1 with m's result final (tempfail, out of memory).
 */
static int
copy_make(mail_msg_t *m, const size_t *group, size_t g, enum policy_outcome o,
    const unsigned char digest[32], copy_t *cp)
{
	mail_msg_t *sub = msg_clone(m, group, g);
	const mail_result_t *r;
	unsigned char body[32];
	char mac[65];
	char why[900];

	if (sub == NULL)
		return mail_msg_fail(m, MAIL_FAIL_INTERNAL, "split: out of memory"), -1;
	r = mail_msg_process(sub);
	queue_new_id(cp->id);
	snprintf(cp->form, sizeof(cp->form), "%s", r->action ? r->action : "");
	snprintf(cp->reason, sizeof(cp->reason), "%.*s", (int)sizeof(cp->reason) - 1, r->reason);
	if (o == POLICY_REJECT || o == POLICY_NOTICE || r->what == MAIL_DO_REJECT) {
		cp->kind = COPY_REFUSED;
	} else if (r->what == MAIL_DO_HOLD) {
		cp->kind = COPY_HOLD;   /* the original, from m at commit */
	} else if (r->what == MAIL_DO_PASS || r->what == MAIL_DO_REPLACE) {
		cp->kind = COPY_SEND;
		/* Its ID from what it is made of: a message sent again (after
		 * a crash, a tempfail) makes the same ID, not a second copy. */
		if (queue_dedup_id(sub->sender, (const char *const *)sub->rcpts, sub->nrcpts,
		    mail_msg_header(m, "Message-ID"), digest, cp->id) != 0) {
			mail_msg_free(sub);
			return mail_msg_fail(m, MAIL_FAIL_INTERNAL, "split: no copy ID"), -1;
		}
		if (spool_digest(result_body(sub, r), body) != 0
		    || queue_mark_make(m->conf->reinject_key, m->conf->reinject_keylen, cp->id,
		    sub->sender, (const char *const *)sub->rcpts, sub->nrcpts, body, mac) != 0) {
			mail_msg_free(sub);
			return mail_msg_fail(m, MAIL_FAIL_INTERNAL, "split: no mark"), -1;
		}
		snprintf(cp->mark, sizeof(cp->mark), "%s %s", cp->id, mac);
		cp->sub = sub;          /* written at commit, streamed */
		return 0;
	} else {
		snprintf(why, sizeof(why), "copy for <%s>: %s", sub->rcpts[0], r->reason);
		mail_msg_tempfail(m, why);
		mail_msg_free(sub);
		return -1;
	}
	mail_msg_free(sub);
	return 0;
}

/* Moves the recipients not in group keep from m to s->del, and those of
 * each copy's group to the copy.  0, or -1 out of memory. */
static int
take_rcpts(mail_msg_t *m, struct mail_split *s, const size_t *group, size_t keep,
    const size_t *copy_of)
{
	size_t k = 0;

	if ((s->del = calloc(m->nrcpts, sizeof(*s->del))) == NULL)
		return -1;
	for (size_t i = 0; i < s->nc; i++)
		if ((s->c[i].rcpts = calloc(m->nrcpts, sizeof(char *))) == NULL)
			return -1;
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (group[i] == keep) {
			m->rcpts[k++] = m->rcpts[i];
			continue;
		}
		copy_t *cp = &s->c[copy_of[group[i]]];

		cp->rcpts[cp->n++] = m->rcpts[i];
		cp->dropped = 1;
		s->del[s->ndel++] = m->rcpts[i];
	}
	m->nrcpts = k;
	return 0;
}

/*
 * Adds to s the notice to m's sender naming the recipients of its REFUSED
 * copies (none for the null sender: a notice about a notice could loop).
 * what: the notice's first line.  0, or -1 out of memory.
 */
static int
add_notice(const mail_msg_t *m, struct mail_split *s, const char *what)
{
	char *list = NULL, *text = NULL, mac[65], mark[QUEUE_ID_MAX + 70], subj[201];
	unsigned char body[32];
	copy_t cp = { .kind = COPY_NOTICE };
	copy_t *grown;
	int rc = -1;

	if (m->sender == NULL || m->sender[0] == '\0')
		return 0;
	for (size_t i = 0; i < s->nc; i++)
		for (size_t j = 0; s->c[i].kind == COPY_REFUSED && j < s->c[i].n; j++)
			if (list_add(&list, s->c[i].rcpts[j], s->c[i].reason) != 0)
				goto out;
	if (list == NULL)
		return 0;
	one_line(subj, sizeof(subj), mail_msg_header(m, "Subject"));
	queue_new_id(cp.id);
	snprintf(cp.form, sizeof(cp.form), "notice");
	snprintf(cp.reason, sizeof(cp.reason), "recipients refused by policy");
	if ((cp.rcpts = calloc(1, sizeof(char *))) == NULL
	    || (cp.rcpts[0] = strdup(m->sender)) == NULL)
		goto out;
	cp.n = 1;
	if ((text = notice_text(m->sender, m->qid, subj, what, list)) == NULL
	    || queue_digest_message(text, strlen(text), body) != 0
	    || queue_mark_make(m->conf->reinject_key, m->conf->reinject_keylen, cp.id, "",
	    (const char *const *)cp.rcpts, 1, body, mac) != 0)
		goto out;
	snprintf(mark, sizeof(mark), "%s %s", cp.id, mac);
	if (asprintf(&cp.data, "%s: %s\r\n%s", MAIL_QUEUE_MARK, mark, text) < 0)
		cp.data = NULL;
	if (cp.data == NULL || (grown = realloc(s->c, (s->nc + 1) * sizeof(*s->c))) == NULL)
		goto out;
	s->c = grown;
	s->c[s->nc++] = cp;
	memset(&cp, 0, sizeof(cp));
	rc = 0;
out:
	free(text);
	free(list);
	if (cp.rcpts != NULL)
		free(cp.rcpts[0]);
	free(cp.rcpts);
	free(cp.data);
	return rc;
}

/* The group m keeps in the transaction: the first that is delivered, else
 * the first held; *keep, or -1 when every group is refused. */
static int
keep_group(const size_t *group, const enum policy_outcome *out, size_t n, size_t *keep)
{
	for (size_t i = 0; i < n; i++)
		if (out[i] == POLICY_DELIVER)
			return *keep = group[i], 0;
	for (size_t i = 0; i < n; i++)
		if (out[i] == POLICY_HOLD)
			return *keep = group[i], 0;
	return -1;
}

/* The outcome of group g. */
static enum policy_outcome
group_outcome(const size_t *group, const enum policy_outcome *out, size_t n, size_t g)
{
	for (size_t i = 0; i < n; i++)
		if (group[i] == g)
			return out[i];
	return POLICY_DELIVER;
}

int
mail_queue_split(mail_msg_t *m)
{
	size_t n = m->nrcpts, ng = 0, keep = 0, *group, *copy_of;
	unsigned char digest[32];
	enum policy_outcome *out;
	struct mail_split *s;
	int rc = 0;

	if (!spool_usable(m) || n < 2)
		return 0;
	group = calloc(n, sizeof(*group));
	out = calloc(n, sizeof(*out));
	copy_of = calloc(n, sizeof(*copy_of));
	s = calloc(1, sizeof(*s));
	if (group == NULL || out == NULL || copy_of == NULL || s == NULL
	    || (s->c = calloc(n, sizeof(*s->c))) == NULL
	    || mail_policy_groups(m, group, out, &ng) != 0) {
		rc = (mail_msg_fail(m, MAIL_FAIL_INTERNAL, "split: out of memory"), 1);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (out[i] == POLICY_TEMPFAIL)
			ng = 1;         /* a directory down: the whole message waits */
	if (ng < 2 || keep_group(group, out, n, &keep) != 0)
		goto out;       /* one form, or every recipient refused: as a whole */
	if (msg_digest(m, digest) != 0) {
		rc = (mail_msg_fail(m, MAIL_FAIL_INTERNAL, "split: no digest"), 1);
		goto out;
	}
	for (size_t g = 0; g < ng; g++) {
		if (g == keep)
			continue;
		copy_of[g] = s->nc;
		if (copy_make(m, group, g, group_outcome(group, out, n, g), digest,
		    &s->c[s->nc++]) != 0) {
			rc = 1;
			goto out;
		}
	}
	if (take_rcpts(m, s, group, keep, copy_of) != 0
	    || add_notice(m, s, "was not delivered to these recipients; "
	    "any others were not affected") != 0) {
		rc = (mail_msg_fail(m, MAIL_FAIL_INTERNAL, "split: out of memory"), 1);
		goto out;
	}
	m->result.split = s;
	s = NULL;
out:
	mail_queue_split_free(s);
	free(group);
	free(out);
	free(copy_of);
	return rc;
}

int
mail_queue_can_split(const mail_msg_t *m)
{
	return spool_usable(m);
}

int
mail_queue_split_groups(mail_msg_t *m, const size_t *group, size_t ng)
{
	size_t n = m->nrcpts, *copy_of;
	unsigned char digest[32];
	struct mail_split *s;
	int rc = 1;

	if (!spool_usable(m) || n < 2 || ng < 2)
		return 0;
	copy_of = calloc(ng, sizeof(*copy_of));
	s = calloc(1, sizeof(*s));
	if (copy_of == NULL || s == NULL || (s->c = calloc(ng, sizeof(*s->c))) == NULL) {
		mail_msg_fail(m, MAIL_FAIL_INTERNAL, "split: out of memory");
		goto out;
	}
	if (msg_digest(m, digest) != 0) {
		mail_msg_fail(m, MAIL_FAIL_INTERNAL, "split: no digest");
		goto out;
	}
	for (size_t g = 0; g < ng; g++) {
		if (g == group[0])
			continue;
		copy_of[g] = s->nc;
		if (copy_make(m, group, g, POLICY_DELIVER, digest, &s->c[s->nc++]) != 0)
			goto out;
		if (s->c[s->nc - 1].kind != COPY_SEND) {
			/* a whole-message refusal or hold comes before any split */
			mail_msg_tempfail(m, "split: an inbound copy was not made");
			goto out;
		}
	}
	if (take_rcpts(m, s, group, group[0], copy_of) != 0) {
		mail_msg_fail(m, MAIL_FAIL_INTERNAL, "split: out of memory");
		goto out;
	}
	m->result.split = s;
	s = NULL;
	rc = 0;
out:
	mail_queue_split_free(s);
	free(copy_of);
	return rc;
}

/* 1 when some recipient of m is held (not only refused with a notice). */
static int
any_held(const mail_msg_t *m)
{
	const mail_policy_res_t *p = m->result.policy;

	for (size_t i = 0; p != NULL && p->forms != NULL && i < p->res.n; i++)
		if (p->forms[i].outcome == POLICY_HOLD)
			return 1;
	return p == NULL || p->forms == NULL;
}

/* Adds an empty copy to s (grown by one); NULL out of memory. */
static copy_t *
copy_add(struct mail_split *s)
{
	copy_t *grown = realloc(s->c, (s->nc + 1) * sizeof(*s->c));

	if (grown == NULL)
		return NULL;
	s->c = grown;
	memset(&s->c[s->nc], 0, sizeof(*s->c));
	return &s->c[s->nc++];
}

void
mail_queue_respool(mail_msg_t *m)
{
	mail_result_t *r = &m->result;
	struct mail_split *s = r->split;
	copy_t *cp;
	char why[sizeof(r->reason)];
	int held = any_held(m);

	if (r->what != MAIL_DO_HOLD || !spool_usable(m) || m->nrcpts == 0)
		return;
	/* A notice to the null sender is never sent: refused instead of
	 * discarded, so the MTA's bounce (to its postmaster) says what
	 * happened and nothing vanishes. */
	if (!held && (m->sender == NULL || m->sender[0] == '\0')) {
		snprintf(why, sizeof(why), "%s", r->reason);
		return mail_msg_fail(m, MAIL_FAIL_POLICY, why);
	}
	if (s == NULL && (s = r->split = calloc(1, sizeof(*s))) == NULL)
		return mail_msg_tempfail(m, "spool: out of memory");
	if ((cp = copy_add(s)) == NULL || (cp->rcpts = calloc(m->nrcpts, sizeof(char *))) == NULL)
		return mail_msg_tempfail(m, "spool: out of memory");
	queue_new_id(cp->id);
	for (size_t i = 0; i < m->nrcpts; i++)
		cp->rcpts[cp->n++] = m->rcpts[i];
	snprintf(cp->reason, sizeof(cp->reason), "%s", r->reason);
	cp->kind = held ? COPY_HOLD : COPY_REFUSED;
	snprintf(cp->form, sizeof(cp->form), "%s", held ? "held" : "");
	/* add_notice() grows s->c: cp is not used after it. */
	if (!held && add_notice(m, s, "was not delivered") != 0)
		return mail_msg_tempfail(m, "spool: out of memory");
	r->what = MAIL_DO_DISCARD;
	snprintf(why, sizeof(why), "%s", r->reason);
	snprintf(r->reason, sizeof(r->reason), "%.440s (in the gateway's spool%s)", why,
	    held ? ", held" : ", the sender notified");
	r->action = held ? "held" : "rejected";
}

int
mail_queue_dropped(const mail_msg_t *m, size_t k, const char **rcpt, int *held,
    const char **reason)
{
	const struct mail_split *s = m->result.split;

	for (size_t i = 0; s != NULL && i < s->nc; i++) {
		const copy_t *cp = &s->c[i];

		if (!cp->dropped || (cp->kind != COPY_HOLD && cp->kind != COPY_REFUSED))
			continue;
		if (k < cp->n) {
			*rcpt = cp->rcpts[k];
			*held = cp->kind == COPY_HOLD;
			*reason = cp->reason;
			return 1;
		}
		k -= cp->n;
	}
	return 0;
}

/* Issue 16: copies handed on in their own form, for the audit. */
const mail_msg_t *
mail_queue_copy(const mail_msg_t *m, size_t k)
{
	const struct mail_split *s = m->result.split;

	for (size_t i = 0; s != NULL && i < s->nc; i++)
		if (s->c[i].kind == COPY_SEND && s->c[i].written && s->c[i].sub != NULL
		    && k-- == 0)
			return s->c[i].sub;
	return NULL;
}

void
mail_queue_cancel(mail_msg_t *m)
{
	struct mail_split *s = m->result.split;
	char err[QUEUE_ERR_MAX];
	queue_t *q;

	if (m->result.marked[0] != '\0') {
		unclaim(m);
		m->result.marked[0] = '\0';
	}
	if (s == NULL || queue_open(m->conf->queue_dir, &q, NULL, err, sizeof(err)) != QUEUE_OK)
		return;
	for (size_t i = 0; i < s->nc; i++)
		if (s->c[i].written && queue_remove(q, s->c[i].id, err, sizeof(err)) == QUEUE_OK)
			s->c[i].written = 0;
	queue_close(q);
}

/* The log lines of a copy written (or, REFUSED, of recipients dropped). */
static void
copy_log(const mail_msg_t *m, const copy_t *cp, const char *notice_id)
{
	for (size_t j = 0; j < cp->n; j++) {
		if (cp->kind == COPY_REFUSED)
			ops_log(LOG_INFO, m->qid, "split: to=<%s>, refused: %s; %s%s", cp->rcpts[j],
			    cp->reason, notice_id ? "notice=" : "no notice (null sender)",
			    notice_id ? notice_id : "");
		else if (cp->again)
			ops_log(LOG_INFO, m->qid, "split: to=<%s>, copy=%s, made by an earlier "
			    "attempt of this message (in the spool or handed on): not again",
			    cp->rcpts[j], cp->id);
		else if (cp->kind == COPY_NOTICE)
			ops_log(LOG_INFO, m->qid, "split: to=<%s>, copy=%s, notice of refused "
			    "recipients", cp->rcpts[j], cp->id);
		else
			ops_log(LOG_INFO, m->qid, "split: to=<%s>, copy=%s, %s, form=%s",
			    cp->rcpts[j], cp->id, cp->kind == COPY_HOLD ? "held" : "to re-inject",
			    cp->form);
	}
}

void
mail_queue_commit(mail_msg_t *m)
{
	struct mail_split *s = m->result.split;
	mail_do_t what = m->result.what;
	const char *notice_id = NULL;
	char err[QUEUE_ERR_MAX];
	queue_t *q;

	if (s == NULL || (what != MAIL_DO_PASS && what != MAIL_DO_REPLACE &&
	    what != MAIL_DO_HOLD && what != MAIL_DO_DISCARD))
		return;
	if (queue_open(m->conf->queue_dir, &q, NULL, err, sizeof(err)) != QUEUE_OK) {
		mail_msg_tempfail(m, err);
		return;
	}
	for (size_t i = 0; i < s->nc; i++) {
		copy_t *cp = &s->c[i];
		int own = cp->kind == COPY_NOTICE;      /* the gateway's: no submitter */
		queue_env_t env = { own ? "" : m->sender ? m->sender : "",
			(const char *const *)cp->rcpts, cp->n, cp->form, cp->reason, m->qid,
			own ? NULL : m->auth, own ? NULL : client_class(m) };

		struct render_arg ra = { cp->sub ? cp->sub : m, cp->sub ? &cp->sub->result : NULL,
			cp->sub ? cp->mark : NULL, cp->data };

		if (cp->kind == COPY_REFUSED)
			continue;
		if (cp->kind == COPY_SEND && (cp->again = queue_seen(q, cp->id,
		    m->conf->queue_dedup_time, err, sizeof(err))) != 0) {
			if (cp->again == 1)
				continue;
			cp->again = 0;
			queue_close(q);
			mail_msg_tempfail(m, err);     /* cancels what was written */
			return;
		}
		if (queue_put_with(q, &env, render_writer, &ra, cp->kind == COPY_HOLD ? QUEUE_HOLD
		    : QUEUE_ACTIVE, cp->id, err, sizeof(err)) != QUEUE_OK) {
			queue_close(q);
			mail_msg_tempfail(m, err);     /* cancels what was written */
			return;
		}
		cp->written = 1;
		if (cp->kind == COPY_NOTICE)
			notice_id = cp->id;
	}
	queue_close(q);
	for (size_t i = 0; i < s->nc; i++)
		copy_log(m, &s->c[i], notice_id);
	mail_queue_kick();
}

/* ---- the gateway's own mail ---- */

int
mail_queue_outbox(const conf_t *conf, const char *sender, const char *rcpt,
    const char *msg, const char *origin, char *err, size_t errlen)
{
	const char *rcpts[1] = { rcpt };
	queue_env_t env = { sender, rcpts, 1, "own mail", "enrollment", origin, NULL, NULL };
	char id[QUEUE_ID_MAX], mac[65];
	unsigned char body[32];
	char *data = NULL;
	queue_t *q = NULL;
	int len, rc = -1;

	if (conf->reinject_keylen == 0) {
		snprintf(err, errlen, "no re-injection key (ReinjectKeyFile): cannot mark it");
		return -1;
	}
	queue_new_id(id);
	if (queue_digest_message(msg, strlen(msg), body) != 0
	    || queue_mark_make(conf->reinject_key, conf->reinject_keylen, id, sender, rcpts, 1,
	    body, mac) != 0 || (len = asprintf(&data, "%s: %s %s\r\n%s", MAIL_QUEUE_MARK, id, mac,
	    msg)) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (queue_open(conf->queue_dir, &q, NULL, err, errlen) == QUEUE_OK
	    && queue_put(q, &env, data, (size_t)len, QUEUE_ACTIVE, id, err, errlen) == QUEUE_OK)
		rc = 0;
	queue_close(q);
	OPENSSL_clear_free(data, (size_t)len);    /* may hold a password */
	if (rc == 0)
		mail_queue_kick();
	return rc;
}

/* ---- the runner ---- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int kicked;
	int stopping;               /* mail_queue_stop(): the runner ends */
} runner = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };

void
mail_queue_kick(void)
{
	pthread_mutex_lock(&runner.lock);
	runner.kicked = 1;
	pthread_cond_signal(&runner.cond);
	pthread_mutex_unlock(&runner.lock);
}

void
mail_queue_stop(void)
{
	pthread_mutex_lock(&runner.lock);
	runner.stopping = 1;
	pthread_cond_signal(&runner.cond);
	pthread_mutex_unlock(&runner.lock);
}

/* 1 once mail_queue_stop() was called. */
static int
runner_stopping(void)
{
	int stop;

	pthread_mutex_lock(&runner.lock);
	stop = runner.stopping;
	pthread_mutex_unlock(&runner.lock);
	return stop;
}

int
mail_queue_wait(long long secs)
{
	struct timespec ts;
	int stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)secs;
	pthread_mutex_lock(&runner.lock);
	while (!runner.kicked && !runner.stopping)
		if (pthread_cond_timedwait(&runner.cond, &runner.lock, &ts) != 0)
			break;
	runner.kicked = 0;
	stop = runner.stopping;
	pthread_mutex_unlock(&runner.lock);
	return stop;
}

/* Runs ReinjectCommand for e, its standard input the entry's file from
 * where the message begins: the command reads the whole copy even when
 * the gateway dies meanwhile (never a truncated copy).  0 when it exited 0. */
static int
submit(const conf_t *conf, const queue_entry_t *e, char *err, size_t errlen)
{
	char *cmd = strdup(conf->reinject_command), *save = NULL, *tok;
	char **argv = calloc(e->nrcpts + 64, sizeof(char *));
	posix_spawn_file_actions_t fa;
	size_t argc = 0;
	int status = -1, rc = -1;
	pid_t pid;

	if (cmd == NULL || argv == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (tok = strtok_r(cmd, " \t", &save); tok != NULL && argc < 56;
	    tok = strtok_r(NULL, " \t", &save))
		argv[argc++] = tok;
	argv[argc++] = "-f";
	argv[argc++] = e->sender[0] != '\0' ? e->sender : "<>";
	argv[argc++] = "--";
	for (size_t i = 0; i < e->nrcpts; i++)
		argv[argc++] = e->rcpts[i];
	if (argv[0] == NULL || lseek(e->fd, e->body_off, SEEK_SET) != e->body_off) {
		snprintf(err, errlen, "ReinjectCommand: %s", argv[0] ? strerror(errno) : "empty");
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, e->fd, 0);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", argv[0], strerror(rc));
		rc = -1;
		goto out;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	rc = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
	if (rc != 0)
		snprintf(err, errlen, "%s exited %d", argv[0],
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
out:
	free(argv);
	free(cmd);
	return rc;
}

/* The header block of entry e (up to and without the empty line),
 * malloc'ed and NUL-terminated; *body_off: where the body begins.  Read
 * in chunks up to the configured header limits; NULL when longer, or not
 * a message. */
static char *
entry_headers(const conf_t *conf, const queue_entry_t *e, long long *body_off)
{
	long long cap = conf->max_header_length * (conf->max_headers + 1), got = 0, n;
	char *buf = NULL, *grown, *end;
	size_t size = 0;

	for (;;) {
		if ((long long)size - got < 8193) {
			if ((long long)size > cap || (grown = realloc(buf, size + 65536)) == NULL)
				break;
			buf = grown;
			size += 65536;
		}
		if ((n = queue_entry_read(e, got, buf + got, 8192)) <= 0)
			break;
		got += n;
		buf[got] = '\0';
		if ((end = strstr(buf + (got - n > 3 ? got - n - 3 : 0), "\r\n\r\n")) != NULL) {
			*body_off = end - buf + 4;
			end[2] = '\0';             /* keep the last header's CRLF */
			return buf;
		}
	}
	free(buf);
	return NULL;
}

/* Adds the headers of block hdrs ("Name: value\r\n" lines, folded lines
 * kept in their value) to m; 0 or -1. */
static int
add_headers(mail_msg_t *m, char *hdrs)
{
	char *p = hdrs, *end, *colon, *v;

	for (; *p != '\0'; p = end + 2) {
		end = strstr(p, "\r\n");
		while (end != NULL && (end[2] == ' ' || end[2] == '\t'))
			end = strstr(end + 2, "\r\n");
		if (end == NULL)
			return 0;
		*end = '\0';
		if ((colon = strchr(p, ':')) == NULL)
			continue;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if (mail_msg_add_header(m, p, v) != 0)
			return -1;
	}
	return 0;
}

/* Parses a held copy back into a message: the headers, then the body in
 * chunks into the message's spool (memory bounded like received mail). */
static mail_msg_t *
msg_from_entry(conf_t *conf, keystore_t *ks, const queue_entry_t *e)
{
	mail_msg_t *m = mail_msg_new(conf, ks);
	long long off = 0, n = 0;
	char *hdrs = m ? entry_headers(conf, e, &off) : NULL, chunk[16384];
	int bad = hdrs == NULL;

	if (!bad) {
		bad |= client_from_entry(m, e) != 0;
		m->no_split = 1;        /* decided as a whole; stays held as a whole */
		snprintf(m->qid, sizeof(m->qid), "%s", e->id);
		bad |= mail_msg_set_sender(m, e->sender) != 0;
		for (size_t i = 0; !bad && i < e->nrcpts; i++)
			bad |= mail_msg_add_rcpt(m, e->rcpts[i]) != 0;
		bad |= add_headers(m, hdrs) != 0;
		while (!bad && (n = queue_entry_read(e, off, chunk, sizeof(chunk))) > 0) {
			bad |= mail_msg_add_body(m, chunk, (size_t)n) != 0;
			off += n;
		}
		bad |= n < 0;
	}
	free(hdrs);
	if (bad) {
		mail_msg_free(m);
		return NULL;
	}
	return m;
}

/*
 * The successor of held entry id (queue_succeed(): same ID, in active/),
 * marked for its envelope: m as its result makes it, or text.  0 or -1.
 */
static int
put_successor(conf_t *conf, queue_t *q, const char *id, const char *sender,
    const char *const *rcpts, size_t n, const char *text, mail_msg_t *m,
    const char *form, const char *origin)
{
	char mac[65], mark[QUEUE_ID_MAX + 70], err[QUEUE_ERR_MAX], *data = NULL;
	queue_env_t env = { sender, rcpts, n, form, NULL, origin,
		m ? m->auth : NULL, m ? client_class(m) : NULL };
	struct render_arg ra = { m, m ? &m->result : NULL, mark, NULL };
	unsigned char body[32];
	int rc;

	if ((text != NULL ? queue_digest_message(text, strlen(text), body)
	    : spool_digest(result_body(m, &m->result), body)) != 0
	    || queue_mark_make(conf->reinject_key, conf->reinject_keylen, id, sender, rcpts, n,
	    body, mac) != 0)
		return -1;
	snprintf(mark, sizeof(mark), "%s %s", id, mac);
	if (text != NULL) {
		if (asprintf(&data, "%s: %s\r\n%s", MAIL_QUEUE_MARK, mark, text) < 0)
			return -1;
		ra.text = data;
	}
	rc = queue_succeed(q, id, &env, render_writer, &ra, err, sizeof(err)) == QUEUE_OK ? 0 : -1;
	if (rc != 0)
		ops_log(LOG_ERR, origin, "spool: %s", err);
	free(data);
	return rc;
}

/* The fallback after HoldTime (or a refusal when decided again): a
 * notice to the sender replaces the held entry (1); none for the null
 * sender (0: no loops); -1 it could not be written. */
static int
notice(conf_t *conf, queue_t *q, const queue_entry_t *e, const char *why)
{
	const char *to[1] = { e->sender };
	char *list = NULL, *text = NULL, ref[QUEUE_ID_MAX + 80];
	int r = -1;

	if (e->sender[0] == '\0')
		return 0;               /* no one to tell */
	for (size_t i = 0; i < e->nrcpts; i++)
		if (list_add(&list, e->rcpts[i], why) != 0)
			goto out;
	snprintf(ref, sizeof(ref), "queue ID %s, spool copy %s", e->origin, e->id);
	if ((text = notice_text(e->sender, ref, "", "waited for an encryption certificate "
	    "and was not delivered", list ? list : "")) != NULL)
		r = put_successor(conf, q, e->id, "", to, 1, text, NULL, "notice", e->origin)
		    == 0 ? 1 : -1;
out:
	free(text);
	free(list);
	return r;
}

int
mail_queue_release(conf_t *conf, keystore_t *ks, const char *id, char *msg,
    size_t msglen)
{
	char err[QUEUE_ERR_MAX];
	queue_entry_t e;
	mail_msg_t *m = NULL;
	const mail_result_t *r;
	queue_t *q;
	int rc = -1;

	if (conf->reinject_keylen == 0)
		return snprintf(msg, msglen, "no re-injection key (ReinjectKeyFile)"), -1;
	if (queue_open(conf->queue_dir, &q, NULL, err, sizeof(err)) != QUEUE_OK)
		return snprintf(msg, msglen, "%s", err), -1;
	if (queue_get(q, id, &e, err, sizeof(err)) != QUEUE_OK) {
		snprintf(msg, msglen, "%s", err);
		queue_close(q);
		return -1;
	}
	if (e.state != QUEUE_HOLD)
		snprintf(msg, msglen, "not held; the gateway hands active copies on by itself");
	else if ((m = msg_from_entry(conf, ks, &e)) == NULL)
		snprintf(msg, msglen, "the held copy cannot be read back");
	if (m != NULL) {
		m->released = 1;
		r = mail_msg_process(m);
		if (r->what != MAIL_DO_PASS && r->what != MAIL_DO_REPLACE) {
			snprintf(msg, msglen, "not released: %s: %.600s; the held copy stays "
			    "(--clear sends it unencrypted)", r->action ? r->action : "?", r->reason);
			rc = 1;
		} else if (put_successor(conf, q, id, m->sender, (const char *const *)m->rcpts,
		    m->nrcpts, NULL, m, r->action, e.origin) != 0) {
			snprintf(msg, msglen, "the released copy could not be written");
		} else {
			snprintf(msg, msglen, "released: %s (%.600s)", r->action, r->reason);
			rc = 0;
		}
		mail_msg_free(m);
	}
	queue_entry_free(&e);
	queue_close(q);
	return rc;
}

/*
 * Decides a held copy again.  Released (its successor, the copy in its
 * form, replaces it under the same ID), refused or past HoldTime (a
 * notice replaces it; with the null sender it is removed), or left held.
 */
static void
redecide(conf_t *conf, keystore_t *ks, queue_t *q, const char *id, time_t now)
{
	char err[QUEUE_ERR_MAX];
	queue_entry_t e;
	mail_msg_t *m;
	const mail_result_t *r;
	int done = -1;              /* 1 replaced, 0 to remove, -1 stays */

	if (queue_get(q, id, &e, err, sizeof(err)) != QUEUE_OK) {
		ops_log(LOG_ERR, NULL, "spool: %s", err);
		return;
	}
	if (e.state != QUEUE_HOLD) {
		queue_entry_free(&e);   /* succeeded already: the runner sends it */
		return;
	}
	if (now - e.created >= conf->hold_time) {
		done = notice(conf, q, &e, "held longer than HoldTime");
		ops_log(LOG_INFO, e.origin, "spool: copy %s given up after HoldTime%s", id,
		    done == 1 ? ", sender notified" : done == 0 ? ", no notice (null sender)" : "");
	} else if ((m = msg_from_entry(conf, ks, &e)) != NULL) {
		r = mail_msg_process(m);
		if (r->what == MAIL_DO_PASS || r->what == MAIL_DO_REPLACE)
			done = put_successor(conf, q, id, m->sender, (const char *const *)m->rcpts,
			    m->nrcpts, NULL, m, r->action, e.origin) == 0 ? 1 : -1;
		else if (r->what == MAIL_DO_REJECT)
			done = notice(conf, q, &e, "refused by policy");
		if (done >= 0)
			ops_log(LOG_INFO, e.origin, "spool: copy %s released: %s (%s)", id, r->action,
			    r->reason);
		mail_msg_free(m);
	} else {
		ops_log(LOG_ERR, e.origin, "spool: copy %s cannot be read back", id);
	}
	queue_entry_free(&e);
	if (done == 0 && queue_remove(q, id, err, sizeof(err)) != QUEUE_OK)
		ops_log(LOG_ERR, NULL, "spool: %s", err);
}

/* Records of copies handed on looked at per run, at most (queue_prune_sent()). */
#define PRUNE_MAX 1000

/* How long a copy whose handing on a crash interrupted waits to come back
 * through the MTA (Postfix's pickup retries a maildrop file the milter
 * could not take within a minute) before it is handed on again. */
static long long
handed_grace(const conf_t *conf)
{
	return conf->queue_run_interval * 2 > 120 ? conf->queue_run_interval * 2 : 120;
}

/* After a crash: 1 when copy e must not be handed on (again) now (it came
 * back through the MTA: removed; or it may be in the MTA: it waits). */
static int
interrupted(const conf_t *conf, queue_t *q, const queue_entry_t *e, int recover)
{
	char err[QUEUE_ERR_MAX];
	long long age;
	int h = queue_handed(q, e->id, &age);

	if (h == QUEUE_HANDED_BACK) {
		if (queue_remove(q, e->id, err, sizeof(err)) == QUEUE_OK)
			ops_log(LOG_INFO, e->origin, "spool: copy %s was handed on before a restart "
			    "and came back through the MTA: not again", e->id);
		else
			ops_log(LOG_ERR, e->origin, "spool: copy %s handed on, not removed: %s",
			    e->id, err);
		return 1;
	}
	if (h == QUEUE_HANDED_STARTED && age < handed_grace(conf)) {
		if (recover)
			ops_log(LOG_INFO, e->origin, "spool: copy %s: its handing on was cut short; "
			    "it goes again if it has not come back through the MTA in %llds",
			    e->id, handed_grace(conf) - age);
		return 1;
	}
	if (h == QUEUE_HANDED_STARTED)
		ops_log(LOG_WARNING, e->origin, "spool: copy %s: handing on cut short %llds ago, "
		    "not seen back through the MTA: handed on again", e->id, age);
	return 0;
}

/* Hands the active copy id on: 1 handed on (and removed), 0 not now,
 * -1 failed (tried again later). */
static int
hand_on(const conf_t *conf, queue_t *q, const char *id, int recover)
{
	char err[QUEUE_ERR_MAX];
	queue_entry_t e;
	int ok, rc;

	if (queue_get(q, id, &e, err, sizeof(err)) != QUEUE_OK) {
		ops_log(LOG_ERR, NULL, "spool: %s", err);
		return -1;
	}
	if (interrupted(conf, q, &e, recover)) {
		queue_entry_free(&e);
		return 0;
	}
	/* Recorded as being handed on (queue_seen(), queue_handed()) first;
	 * then a crash before the removal is the window of smimegate(8),
	 * CRASHES AND DUPLICATES. */
	ok = queue_sent(q, id, err, sizeof(err)) == QUEUE_OK
	    && submit(conf, &e, err, sizeof(err)) == 0;
	if (ok && queue_remove(q, id, err, sizeof(err)) != QUEUE_OK)
		ops_log(LOG_ERR, e.origin, "spool: copy %s handed on, not removed: %s", e.id, err);
	if (ok)
		for (size_t j = 0; j < e.nrcpts; j++)
			ops_log(strcmp(e.form, MAIL_QUEUE_CLEAR_FORM) == 0 ? LOG_WARNING : LOG_INFO,
			    e.origin, "spool: to=<%s>, copy=%s, re-injected%s", e.rcpts[j], e.id,
			    strcmp(e.form, MAIL_QUEUE_CLEAR_FORM) == 0 ? ", released unencrypted "
			    "by the operator" : "");
	else
		ops_log(LOG_WARNING, e.origin, "spool: copy %s: %s; tried again later", e.id, err);
	rc = ok ? 1 : -1;
	if (!ok && queue_unsent(q, id, err, sizeof(err)) != QUEUE_OK)
		ops_log(LOG_ERR, e.origin, "spool: copy %s: %s", e.id, err);
	queue_entry_free(&e);
	return rc;
}

size_t
mail_queue_run(conf_t *conf, keystore_t *ks, int recover)
{
	char err[QUEUE_ERR_MAX], **ids = NULL;
	size_t n = 0, nrec = 0, sent = 0;
	queue_t *q;

	if (queue_open(conf->queue_dir, &q, recover ? &nrec : NULL, err, sizeof(err)) != QUEUE_OK) {
		ops_log(LOG_ERR, NULL, "spool: %s", err);
		return 0;
	}
	if (nrec > 0)
		ops_log(LOG_WARNING, NULL, "spool: %zu half-written copies removed", nrec);
	if (queue_list(q, QUEUE_HOLD, &ids, &n, err, sizeof(err)) == QUEUE_OK)
		for (size_t i = 0; i < n && !runner_stopping(); i++)
			redecide(conf, ks, q, ids[i], time(NULL));
	queue_ids_free(ids, n);
	if (queue_list(q, QUEUE_ACTIVE, &ids, &n, err, sizeof(err)) != QUEUE_OK)
		ops_log(LOG_ERR, NULL, "spool: %s", err), n = 0;
	for (size_t i = 0; i < n && !runner_stopping(); i++)
		sent += hand_on(conf, q, ids[i], recover) == 1;
	queue_ids_free(ids, n);
	(void)queue_prune_sent(q, conf->queue_dedup_time, PRUNE_MAX);
	queue_close(q);
	return sent;
}
