/*
 * mail_runner.c: one run of the durable spool (see mail_runner.h).
 *
 * Submission runs ReinjectCommand (Postfix's sendmail(1) by default), so
 * the MTA's own submission path queues the copy: no SMTP client of ours.
 * Its standard input is the spool entry's file (no pipe: a command that
 * exits early cannot kill the gateway, a gateway that dies cannot cut the
 * copy short).  A copy is recorded as being handed on before the command
 * runs (queue_sent()) and as back when it returns through the MTA with its
 * mark (queue_back_claim(), mail_split_mark()): after a crash in between,
 * it is not handed on again.  A held copy is decided again by the
 * pipeline for the submitter its entry records.
 */
#include "mail/mail_runner.h"
#include "mail/mail_entry.h"
#include "mail/mail_pipeline.h"
#include "ops/ops_log.h"
#include "queue/queue.h"
#include "queue/queue_wake.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

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
		m ? m->auth : NULL, m ? mail_entry_client(m) : NULL };
	mail_entry_src_t src = { m, m ? &m->result : NULL, mark, NULL };
	unsigned char body[32];
	int rc;

	if ((text != NULL ? queue_digest_message(text, strlen(text), body)
	    : mail_entry_digest(mail_entry_body(m, &m->result), body)) != 0
	    || queue_mark_make(conf->reinject_key, conf->reinject_keylen, id, sender, rcpts, n,
	    body, mac) != 0)
		return -1;
	snprintf(mark, sizeof(mark), "%s %s", id, mac);
	if (text != NULL) {
		if (asprintf(&data, "%s: %s\r\n%s", QUEUE_MARK_HEADER, mark, text) < 0)
			return -1;
		src.text = data;
	}
	rc = queue_succeed(q, id, &env, mail_entry_writer, &src, err, sizeof(err)) == QUEUE_OK ? 0 : -1;
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
		if (mail_entry_list_add(&list, e->rcpts[i], why) != 0)
			goto out;
	snprintf(ref, sizeof(ref), "queue ID %s, spool copy %s", e->origin, e->id);
	if ((text = mail_entry_notice(conf, CONF_TMPL_HOLD_TXT, e->sender, ref, "",
	    list ? list : "")) != NULL)
		r = put_successor(conf, q, e->id, "", to, 1, text, NULL, "notice", e->origin)
		    == 0 ? 1 : -1;
out:
	free(text);
	free(list);
	return r;
}

int
mail_runner_release(conf_t *conf, keystore_t *ks, const char *id, char *msg,
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
		r = mail_pipeline_process(m);
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
		r = mail_pipeline_process(m);
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
			ops_log(strcmp(e.form, MAIL_RUNNER_CLEAR_FORM) == 0 ? LOG_WARNING : LOG_INFO,
			    e.origin, "spool: to=<%s>, copy=%s, re-injected%s", e.rcpts[j], e.id,
			    strcmp(e.form, MAIL_RUNNER_CLEAR_FORM) == 0 ? ", released unencrypted "
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
mail_runner_run(conf_t *conf, keystore_t *ks, int recover)
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
		for (size_t i = 0; i < n && !queue_stopping(); i++)
			redecide(conf, ks, q, ids[i], time(NULL));
	queue_ids_free(ids, n);
	if (queue_list(q, QUEUE_ACTIVE, &ids, &n, err, sizeof(err)) != QUEUE_OK)
		ops_log(LOG_ERR, NULL, "spool: %s", err), n = 0;
	for (size_t i = 0; i < n && !queue_stopping(); i++)
		sent += hand_on(conf, q, ids[i], recover) == 1;
	queue_ids_free(ids, n);
	(void)queue_prune_sent(q, conf->queue_dedup_time, PRUNE_MAX);
	queue_close(q);
	return sent;
}
