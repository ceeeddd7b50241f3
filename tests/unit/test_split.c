/*
 * test_split.c: the split of mixed recipients and the spool entries it
 * writes (mail/mail_queue.c): which group stays in the
 * transaction, which recipients leave it, what each spool entry holds
 * (envelope, form, the original or the marked copy, the notice), the
 * whole-message hold and notice, the null sender (no notice, at the split
 * and after HoldTime), and the runner releasing a held copy and giving one
 * up; a message sent again (a client's retry after a crash) makes no
 * second copy, neither while the first is in the spool nor after it was
 * handed on; mail from the null sender leaving from inside is decided
 * like other outbound mail (never signed, never in clear when a rule
 * says encrypt=always, no notice to it); a copy whose handing on a crash cut short is not handed on
 * again once it came back through the MTA, and only after a grace time
 * when it did not; a mark is honoured once, while its copy is out, and on its
 * own body only; every copy records its submitter (login, client class) and a
 * held copy is decided again for it (never signed for a submitter who may not
 * sign as its From, nor for one not recorded).  Sign is off (on, without a
 * key, where the signer check is tested) and no directory is configured, so no keystore is
 * needed; ReinjectCommand is a script that appends what it gets to a file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"
#include "mail/mail_msg.h"
#include "mail/mail_queue.h"
#include "queue/queue.h"
#include "tests/unit/unit_util.h"

static const char rules[] =
    "to review.test action=hold\n"
    "to rival.test action=reject\n"
    "to partner.test encrypt=always fallback=hold\n"
    "to notify.test encrypt=always fallback=notice\n"
    "to plain.test sign=no\n";

static char *tmp, *outfile, *argsfile;
static conf_t *conf;

static int
setup(void **state)
{
	char err[512], *ov[6], *path, *script, *text;

	tmp = unit_tmpdir();
	assert_true(asprintf(&path, "%s/policy", tmp) > 0);
	assert_int_equal(unit_write_file(path, rules, strlen(rules), 0644), 0);
	assert_true(asprintf(&outfile, "%s/submitted", tmp) > 0);
	assert_true(asprintf(&argsfile, "%s/args", tmp) > 0);
	assert_true(asprintf(&script, "%s/reinject", tmp) > 0);
	assert_true(asprintf(&text, "#!/bin/sh\necho \"$*\" >>%s\ncat >>%s\n", argsfile,
	    outfile) > 0);
	assert_int_equal(unit_write_file(script, text, strlen(text), 0755), 0);
	assert_true(asprintf(&ov[0], "StateDirectory=%s", tmp) > 0);
	assert_true(asprintf(&ov[1], "PolicyFile=%s", path) > 0);
	ov[2] = "LocalDomains=example.com";
	ov[3] = "Sign=no";
	assert_true(asprintf(&ov[4], "ReinjectCommand=%s", script) > 0);
	ov[5] = "HoldTime=3600";
	if ((conf = conf_load(NULL, ov, 6, err, sizeof(err))) == NULL)
		fail_msg("conf: %s", err);
	if (conf_prepare(conf, err, sizeof(err)) != 0)
		fail_msg("prepare: %s", err);
	mkdir(conf->spool_dir, 0700);
	assert_true(conf->reinject_keylen > 0);
	free(ov[0]);
	free(ov[1]);
	free(ov[4]);
	free(path);
	free(script);
	free(text);
	return 0;
}

static int
teardown(void **state)
{
	conf_unref(conf);
	unit_rmtree(tmp);
	free(tmp);
	free(outfile);
	free(argsfile);
	return 0;
}

/* ---- the spool, as a test sees it ---- */

/* The IDs in state st (at most 8); how many. */
static size_t
spool_ids(queue_state_t st, char ids[8][QUEUE_ID_MAX])
{
	char err[QUEUE_ERR_MAX], **list;
	size_t n;
	queue_t *q;

	assert_int_equal(queue_open(conf->queue_dir, &q, NULL, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(queue_list(q, st, &list, &n, err, sizeof(err)), QUEUE_OK);
	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++)
		snprintf(ids[i], QUEUE_ID_MAX, "%s", list[i]);
	queue_ids_free(list, n);
	queue_close(q);
	return n;
}

/* Entry id: its envelope into e (the caller frees it) and its message
 * (malloc'ed, NUL-terminated). */
static char *
spool_get(const char *id, queue_entry_t *e)
{
	char err[QUEUE_ERR_MAX], *data;
	queue_t *q;

	assert_int_equal(queue_open(conf->queue_dir, &q, NULL, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(queue_get(q, id, e, err, sizeof(err)), QUEUE_OK);
	queue_close(q);
	assert_non_null(data = malloc((size_t)e->body_len + 1));
	assert_int_equal(queue_entry_read(e, 0, data, (size_t)e->body_len), e->body_len);
	data[e->body_len] = '\0';
	return data;
}

static void
spool_clear(void)
{
	char ids[8][QUEUE_ID_MAX], err[QUEUE_ERR_MAX];
	queue_t *q;

	for (int st = QUEUE_ACTIVE; st <= QUEUE_HOLD; st++) {
		size_t n = spool_ids((queue_state_t)st, ids);

		assert_int_equal(queue_open(conf->queue_dir, &q, NULL, err, sizeof(err)), QUEUE_OK);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(queue_remove(q, ids[i], err, sizeof(err)), QUEUE_OK);
		queue_close(q);
	}
	unlink(outfile);
	unlink(argsfile);
}

/* The mark line at the start of data verifies for the entry's envelope
 * and the body that follows. */
static void
assert_marked(const char *data, const queue_entry_t *e)
{
	char id[QUEUE_ID_MAX], mac[65];
	unsigned char body[32];

	assert_int_equal(sscanf(data, MAIL_QUEUE_MARK ": %47s %64s", id, mac), 2);
	assert_string_equal(id, e->id);
	assert_int_equal(queue_digest_message(data, strlen(data), body), 0);
	assert_true(queue_mark_check(conf->reinject_key, conf->reinject_keylen, mac, id,
	    e->sender, (const char *const *)e->rcpts, e->nrcpts, body));
}

static mail_msg_t *
message(const char *sender, const char *const *rcpts, size_t n)
{
	mail_msg_t *m = mail_msg_new(conf, NULL);

	assert_non_null(m);
	m->client_internal = 1;
	snprintf(m->qid, sizeof(m->qid), "TESTQID");
	assert_int_equal(mail_msg_set_sender(m, sender), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(mail_msg_add_rcpt(m, rcpts[i]), 0);
	assert_int_equal(mail_msg_add_header(m, "From", "a@example.com"), 0);
	assert_int_equal(mail_msg_add_header(m, "Subject", "quarterly figures"), 0);
	assert_int_equal(mail_msg_add_body(m, "body-marker\r\n", 13), 0);
	return m;
}

static void
assert_dropped(const mail_msg_t *m, const char *const *want, size_t nwant)
{
	size_t n;
	char *const *del = mail_queue_delrcpts(m, &n);

	if (n != nwant)
		fail_msg("got %zu recipients dropped, want %zu", n, nwant);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(del[i], want[i]);
}

/* ---- the split ---- */

/* Four recipients, three forms: the deliverable group stays (both of
 * its recipients), the held one goes to hold/ as the original, the
 * refused one is named in a notice to the sender. */
static void
test_three_forms(void **state)
{
	const char *to[] = { "b@other.test", "c@partner.test", "d@rival.test", "e@other.test" };
	const char *gone[] = { "c@partner.test", "d@rival.test" };
	mail_msg_t *m = message("<a@example.com>", to, 4);
	const mail_result_t *r = mail_msg_process(m);
	char ids[8][QUEUE_ID_MAX], *data;
	queue_entry_t e;

	assert_int_equal(r->what, MAIL_DO_PASS);
	assert_int_equal(m->nrcpts, 2);
	assert_string_equal(m->rcpts[0], "b@other.test");
	assert_string_equal(m->rcpts[1], "e@other.test");
	assert_dropped(m, gone, 2);
	/* What the audit records of the dropped: c held, d refused. */
	{
		const char *rc, *why;
		int held;

		assert_int_equal(mail_queue_dropped(m, 0, &rc, &held, &why), 1);
		assert_string_equal(rc, "c@partner.test");
		assert_int_equal(held, 1);
		assert_int_equal(mail_queue_dropped(m, 1, &rc, &held, &why), 1);
		assert_string_equal(rc, "d@rival.test");
		assert_int_equal(held, 0);
		assert_non_null(strstr(why, "action=reject"));
		assert_int_equal(mail_queue_dropped(m, 2, &rc, &held, &why), 0);
	}

	assert_int_equal(spool_ids(QUEUE_HOLD, ids), 1);
	data = spool_get(ids[0], &e);
	assert_string_equal(e.sender, "a@example.com");
	assert_int_equal(e.nrcpts, 1);
	assert_string_equal(e.rcpts[0], "c@partner.test");
	assert_string_equal(e.origin, "TESTQID");
	assert_non_null(strstr(e.reason, "fallback=hold"));
	assert_non_null(strstr(data, "Subject: quarterly figures\r\n"));
	assert_non_null(strstr(data, "\r\n\r\nbody-marker\r\n"));
	assert_null(strstr(data, MAIL_QUEUE_MARK));     /* decided again, not marked */
	queue_entry_free(&e);
	free(data);

	assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 1);
	data = spool_get(ids[0], &e);
	assert_string_equal(e.sender, "");              /* a notice comes from <> */
	assert_int_equal(e.nrcpts, 1);
	assert_string_equal(e.rcpts[0], "a@example.com");
	assert_string_equal(e.form, "notice");
	assert_marked(data, &e);
	assert_non_null(strstr(data, "Subject: Undelivered Mail"));
	assert_non_null(strstr(data, "<d@rival.test>: "));
	assert_non_null(strstr(data, "action=reject"));
	assert_non_null(strstr(data, "TESTQID"));
	assert_non_null(strstr(data, "quarterly figures"));
	assert_null(strstr(data, "c@partner.test"));    /* held, not refused */
	assert_null(strstr(data, "body-marker"));       /* the content stays private */
	queue_entry_free(&e);
	free(data);
	mail_msg_free(m);
	spool_clear();
}

/* The group kept is the first deliverable one, wherever it is. */
static void
test_keep_deliverable(void **state)
{
	const char *to[] = { "c@partner.test", "b@other.test" };
	const char *gone[] = { "c@partner.test" };
	mail_msg_t *m = message("<a@example.com>", to, 2);
	const mail_result_t *r = mail_msg_process(m);
	char ids[8][QUEUE_ID_MAX];

	assert_int_equal(r->what, MAIL_DO_PASS);
	assert_int_equal(m->nrcpts, 1);
	assert_string_equal(m->rcpts[0], "b@other.test");
	assert_dropped(m, gone, 1);
	assert_int_equal(spool_ids(QUEUE_HOLD, ids), 1);
	assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 0);
	mail_msg_free(m);
	spool_clear();
}

/* Two deliverable forms: the second group's copy is made in its own form
 * and written marked, bound to its envelope. */
static void
test_send_copy(void **state)
{
	const char *to[] = { "b@other.test", "p@plain.test", "q@plain.test" };
	const char *gone[] = { "p@plain.test", "q@plain.test" };
	mail_msg_t *m = message("<a@example.com>", to, 3);
	const mail_result_t *r = mail_msg_process(m);
	char ids[8][QUEUE_ID_MAX], *data;
	queue_entry_t e;

	assert_int_equal(r->what, MAIL_DO_PASS);
	assert_dropped(m, gone, 2);
	assert_int_equal(spool_ids(QUEUE_HOLD, ids), 0);
	assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 1);
	data = spool_get(ids[0], &e);
	assert_string_equal(e.sender, "a@example.com");
	assert_int_equal(e.nrcpts, 2);
	assert_string_equal(e.rcpts[0], "p@plain.test");
	assert_string_equal(e.rcpts[1], "q@plain.test");
	assert_marked(data, &e);
	assert_non_null(strstr(data, "\r\nSubject: quarterly figures\r\n"));
	assert_non_null(strstr(data, "\r\n\r\nbody-marker\r\n"));
	queue_entry_free(&e);
	free(data);
	mail_msg_free(m);
	spool_clear();
}

/* Every recipient refused: 550 naming who and why; nothing written. */
static void
test_all_refused(void **state)
{
	const char *to[] = { "d@rival.test", "n@notify.test" };
	mail_msg_t *m = message("<a@example.com>", to, 2);
	const mail_result_t *r = mail_msg_process(m);
	char ids[8][QUEUE_ID_MAX];

	assert_int_equal(r->what, MAIL_DO_REJECT);
	assert_string_equal(r->rcode, "550");
	assert_string_equal(r->xcode, "5.7.1");
	assert_non_null(strstr(r->reply, "Delivery refused by policy: <d@rival.test>"));
	assert_null(strchr(r->reply, '\n'));
	assert_int_equal(spool_ids(QUEUE_HOLD, ids), 0);
	assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 0);
	mail_msg_free(m);
}

/* Held as a whole: the original in hold/, the MTA discards its copy. */
static void
test_hold_whole(void **state)
{
	const char *to[] = { "c@partner.test", "c2@partner.test" };
	mail_msg_t *m = message("<a@example.com>", to, 2);
	const mail_result_t *r = mail_msg_process(m);
	char ids[8][QUEUE_ID_MAX], *data;
	queue_entry_t e;

	assert_int_equal(r->what, MAIL_DO_DISCARD);
	assert_string_equal(r->action, "held");
	assert_non_null(strstr(r->reason, "in the gateway's spool"));
	assert_int_equal(spool_ids(QUEUE_HOLD, ids), 1);
	data = spool_get(ids[0], &e);
	assert_int_equal(e.nrcpts, 2);
	assert_string_equal(e.rcpts[1], "c2@partner.test");
	assert_non_null(strstr(data, "body-marker"));
	queue_entry_free(&e);
	free(data);
	assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 0);
	mail_msg_free(m);
	spool_clear();
}

/* fallback=notice for the only recipient: discarded, the sender told. */
static void
test_notice_whole(void **state)
{
	const char *to[] = { "n@notify.test" };
	mail_msg_t *m = message("<a@example.com>", to, 1);
	const mail_result_t *r = mail_msg_process(m);
	char ids[8][QUEUE_ID_MAX], *data;
	queue_entry_t e;

	assert_int_equal(r->what, MAIL_DO_DISCARD);
	assert_string_equal(r->action, "rejected");
	assert_int_equal(spool_ids(QUEUE_HOLD, ids), 0);
	assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 1);
	data = spool_get(ids[0], &e);
	assert_string_equal(e.rcpts[0], "a@example.com");
	assert_non_null(strstr(data, "<n@notify.test>: "));
	assert_non_null(strstr(data, "fallback=notice"));
	queue_entry_free(&e);
	free(data);
	mail_msg_free(m);
	spool_clear();
}

/* A null sender (never outbound through the milter, so called directly):
 * the refused recipient still leaves, and no notice is written. */
static void
test_null_sender_no_notice(void **state)
{
	const char *to[] = { "b@other.test", "d@rival.test" };
	const char *gone[] = { "d@rival.test" };
	mail_msg_t *m = message("<>", to, 2);
	char ids[8][QUEUE_ID_MAX];

	assert_int_equal(mail_queue_split(m), 0);
	assert_dropped(m, gone, 1);
	m->result.what = MAIL_DO_PASS;
	mail_queue_commit(m);
	assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 0);
	assert_int_equal(spool_ids(QUEUE_HOLD, ids), 0);
	mail_msg_free(m);
}

/* A message that must not be split (offline -t, a copy) is held in the
 * MTA's queue as before, and nothing is written. */
static void
test_no_split(void **state)
{
	const char *to[] = { "b@other.test", "c@partner.test" };
	mail_msg_t *m = message("<a@example.com>", to, 2);
	const mail_result_t *r;
	char ids[8][QUEUE_ID_MAX];

	m->no_split = 1;
	r = mail_msg_process(m);
	assert_int_equal(r->what, MAIL_DO_HOLD);
	assert_int_equal(spool_ids(QUEUE_HOLD, ids), 0);
	mail_msg_free(m);
}

/* ---- the runner ---- */

/* A held entry, its submitter login (authenticated) or client class
 * (internal, other), or none recorded (login and client NULL: an entry of
 * an older version). */
static void
put_held_by(const char *sender, const char *rcpt, const char *login, const char *client,
    char id[QUEUE_ID_MAX])
{
	static const char msg[] = "From: a@example.com\r\nSubject: held one\r\n\r\nheld-body\r\n";
	const char *rcpts[1] = { rcpt };
	queue_env_t env = { sender, rcpts, 1, "held", "test", "ORIGQID", login, client };
	char err[QUEUE_ERR_MAX];
	queue_t *q;

	id[0] = '\0';
	assert_int_equal(queue_open(conf->queue_dir, &q, NULL, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(queue_put(q, &env, msg, sizeof(msg) - 1, QUEUE_HOLD, id, err,
	    sizeof(err)), QUEUE_OK);
	queue_close(q);
}

static void
put_held(const char *sender, const char *rcpt, char id[QUEUE_ID_MAX])
{
	put_held_by(sender, rcpt, NULL, QUEUE_CLIENT_INTERNAL, id);
}

/* A held copy whose recipient can now be served is released: its
 * successor (same ID, marked) submitted with ReinjectCommand, and both
 * gone from the spool. */
static void
test_run_releases(void **state)
{
	char ids[8][QUEUE_ID_MAX], *out, *args, id[QUEUE_ID_MAX], *want;

	put_held("a@example.com", "b@other.test", id);
	assert_int_equal(mail_queue_run(conf, NULL, 0), 1);
	assert_int_equal(spool_ids(QUEUE_HOLD, ids), 0);
	assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 0);
	assert_non_null(out = unit_read_file(outfile, NULL));
	assert_non_null(args = unit_read_file(argsfile, NULL));
	assert_true(asprintf(&want, "%s: %s ", MAIL_QUEUE_MARK, id) > 0);
	assert_int_equal(strncmp(out, want, strlen(want)), 0);
	free(want);
	assert_non_null(strstr(out, "held-body"));
	assert_non_null(strstr(args, "-f a@example.com -- b@other.test"));
	free(out);
	free(args);
	spool_clear();
}

/* After HoldTime: given up; a notice to a real sender, none to <>. */
static void
test_run_holdtime(void **state)
{
	char ids[8][QUEUE_ID_MAX], *out, *args, id[QUEUE_ID_MAX];
	long long saved = conf->hold_time;

	put_held("a@example.com", "c@partner.test", id);
	put_held("", "c@partner.test", id);
	conf->hold_time = 1;
	sleep(2);
	assert_int_equal(mail_queue_run(conf, NULL, 0), 1);    /* the one notice */
	conf->hold_time = saved;
	assert_int_equal(spool_ids(QUEUE_HOLD, ids), 0);
	assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 0);
	assert_non_null(out = unit_read_file(outfile, NULL));
	assert_non_null(args = unit_read_file(argsfile, NULL));
	assert_non_null(strstr(args, "-f <> -- a@example.com\n"));
	assert_null(strstr(strstr(args, "\n") + 1, "--"));   /* one submission only */
	assert_non_null(strstr(out, "<c@partner.test>: held longer than HoldTime"));
	assert_non_null(strstr(out, "ORIGQID"));
	assert_null(strstr(out, "held-body"));
	free(out);
	free(args);
	spool_clear();
}

/* The same message received again (another Received line) makes the copy of the same ID, and none is
 * written while the first is in the spool or after it was handed on;
 * other content makes another copy. */
static void
test_sent_again(void **state)
{
	const char *to[] = { "b@other.test", "p@plain.test", "q@plain.test" };
	char ids[8][QUEUE_ID_MAX], first[QUEUE_ID_MAX], *args;
	mail_msg_t *m;

	for (int round = 0; round < 4; round++) {
		m = message("<a@example.com>", to, 3);
		assert_int_equal(mail_msg_add_header(m, "Received", round % 2 ? "from x by y; 1"
		    : "from x by y; 2"), 0);
		assert_int_equal(mail_msg_add_header(m, "Message-ID", "<again@example.com>"), 0);
		if (round == 3)
			assert_int_equal(mail_msg_add_body(m, "changed\r\n", 9), 0);
		assert_int_equal(mail_msg_process(m)->what, MAIL_DO_PASS);
		assert_int_equal(m->nrcpts, 1);         /* the kept group: as before */
		mail_msg_free(m);
		switch (round) {
		case 0:         /* the first copy */
			assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 1);
			snprintf(first, sizeof(first), "%s", ids[0]);
			assert_int_equal(strlen(first), QUEUE_DEDUP_ID_LEN);
			break;
		case 1:         /* sent again while in the spool: still one */
			assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 1);
			assert_string_equal(ids[0], first);
			assert_int_equal(mail_queue_run(conf, NULL, 0), 1);
			assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 0);
			break;
		case 2:         /* sent again after it was handed on: none */
			assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 0);
			assert_int_equal(mail_queue_run(conf, NULL, 0), 0);
			break;
		case 3:         /* another message: another copy */
			assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 1);
			assert_string_not_equal(ids[0], first);
			break;
		}
	}
	assert_non_null(args = unit_read_file(argsfile, NULL));
	assert_null(strstr(strstr(args, "\n") + 1, "--"));   /* one submission only */
	free(args);
	spool_clear();
}

/* The null sender (a bounce) to the outside: the policy decides, nothing
 * leaves in clear for encrypt=always, no notice is made, whoever the
 * client is (from an untrusted client too); to inside only it
 * is inbound as before. */
static void
test_null_sender_outbound(void **state)
{
	const char *held[] = { "c@partner.test" }, *rival[] = { "d@rival.test" };
	const char *notify[] = { "n@notify.test" }, *plain[] = { "b@other.test" };
	const char *local[] = { "x@example.com" };
	char ids[8][QUEUE_ID_MAX];
	const mail_result_t *r;
	mail_msg_t *m;

	m = message("<>", held, 1);             /* always, hold: held in the spool */
	r = mail_msg_process(m);
	assert_string_equal(r->direction, "outbound");
	assert_int_equal(r->what, MAIL_DO_DISCARD);
	assert_string_equal(r->action, "held");
	assert_int_equal(spool_ids(QUEUE_HOLD, ids), 1);
	assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 0);
	mail_msg_free(m);
	spool_clear();

	m = message("<>", rival, 1);            /* reject: 550 */
	r = mail_msg_process(m);
	assert_int_equal(r->what, MAIL_DO_REJECT);
	assert_string_equal(r->rcode, "550");
	assert_string_equal(r->xcode, "5.7.1");
	mail_msg_free(m);

	m = message("<>", notify, 1);           /* always, notice: nobody to tell: 550 */
	r = mail_msg_process(m);
	assert_int_equal(r->what, MAIL_DO_REJECT);
	assert_string_equal(r->rcode, "550");
	assert_string_equal(r->xcode, "5.7.1");
	assert_non_null(strstr(r->reply, "Delivery refused by policy: <n@notify.test>"));
	assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 0);
	assert_int_equal(spool_ids(QUEUE_HOLD, ids), 0);
	mail_msg_free(m);

	m = message("<>", plain, 1);            /* no rule against it: passes */
	r = mail_msg_process(m);
	assert_string_equal(r->direction, "outbound");
	assert_int_equal(r->what, MAIL_DO_PASS);
	mail_msg_free(m);

	m = message("<>", local, 1);            /* to inside: inbound */
	assert_string_equal(mail_msg_process(m)->direction, "inbound");
	mail_msg_free(m);
	m = message("<>", local, 1);            /* untrusted, to inside: inbound */
	m->client_internal = 0;
	assert_string_equal(mail_msg_process(m)->direction, "inbound");
	mail_msg_free(m);
	m = message("<>", held, 1);             /* untrusted, leaving: held */
	m->client_internal = 0;
	r = mail_msg_process(m);
	assert_string_equal(r->direction, "outbound");
	assert_string_equal(r->action, "held");
	assert_int_equal(spool_ids(QUEUE_HOLD, ids), 1);
	mail_msg_free(m);
	spool_clear();
}

/* An operator's release decides the copy again: action=hold is met (the
 * copy goes, in its form, under the same ID); encrypt=always without a
 * certificate still holds it (refused, the copy stays); an active copy
 * or an unknown ID is an error. */
static void
test_release(void **state)
{
	char ids[8][QUEUE_ID_MAX], id[QUEUE_ID_MAX], id2[QUEUE_ID_MAX], msg[1024], *data;
	queue_entry_t e;

	put_held("a@example.com", "r@review.test", id);
	put_held("a@example.com", "c@partner.test", id2);
	assert_int_equal(mail_queue_release(conf, NULL, id, msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "released: "));
	assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 1);
	assert_string_equal(ids[0], id);
	data = spool_get(id, &e);
	assert_marked(data, &e);
	assert_non_null(strstr(data, "held-body"));
	queue_entry_free(&e);
	free(data);
	assert_int_equal(mail_queue_release(conf, NULL, id, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "not held"));

	assert_int_equal(mail_queue_release(conf, NULL, id2, msg, sizeof(msg)), 1);
	assert_non_null(strstr(msg, "not released: "));
	assert_non_null(strstr(msg, "encrypt=always"));
	assert_non_null(strstr(msg, "--clear"));
	assert_int_equal(spool_ids(QUEUE_HOLD, ids), 1);
	assert_string_equal(ids[0], id2);
	assert_int_equal(mail_queue_release(conf, NULL, "0000000000.00000000.000000000000",
	    msg, sizeof(msg)), -1);
	spool_clear();
}

/* A split's one copy, written (its ID into id); its data (malloc'ed). */
static char *
one_copy(const char *msgid, char id[QUEUE_ID_MAX])
{
	const char *to[] = { "b@other.test", "p@plain.test" };
	mail_msg_t *m = message("<a@example.com>", to, 2);
	char ids[8][QUEUE_ID_MAX], *data;
	queue_entry_t e;

	assert_int_equal(mail_msg_add_header(m, "Message-ID", msgid), 0);
	assert_int_equal(mail_msg_process(m)->what, MAIL_DO_PASS);
	mail_msg_free(m);
	assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 1);
	snprintf(id, QUEUE_ID_MAX, "%s", ids[0]);
	data = spool_get(id, &e);
	queue_entry_free(&e);
	return data;
}

/* A crash after the copy id was recorded as being handed on. */
static void
crash_while_handing_on(const char *id, long ago)
{
	char err[QUEUE_ERR_MAX], *p;
	struct timespec ts[2];
	queue_t *q;

	assert_int_equal(queue_open(conf->queue_dir, &q, NULL, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(queue_sent(q, id, err, sizeof(err)), QUEUE_OK);
	queue_close(q);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= ago;
	ts[1] = ts[0];
	assert_true(asprintf(&p, "%s/sent/%s", conf->queue_dir, id) > 0);
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	free(p);
}

/* The copy with mark mark, for p@plain.test, as it comes back with body. */
static mail_msg_t *
marked_copy(const char *mark, const char *body)
{
	mail_msg_t *m = mail_msg_new(conf, NULL);

	assert_non_null(m);
	m->client_internal = 1;
	assert_int_equal(mail_msg_set_sender(m, "<a@example.com>"), 0);
	assert_int_equal(mail_msg_add_rcpt(m, "p@plain.test"), 0);
	assert_int_equal(mail_msg_add_header(m, "Received", "from localhost by mta; now"), 0);
	assert_int_equal(mail_msg_add_header(m, MAIL_QUEUE_MARK, mark), 0);
	assert_int_equal(mail_msg_add_header(m, "Subject", "quarterly figures"), 0);
	assert_int_equal(mail_msg_add_body(m, body, strlen(body)), 0);
	return m;
}

/* 1 when m, processed, was honoured as a re-injected copy. */
static int
honoured(mail_msg_t *m)
{
	const mail_result_t *r = mail_msg_process(m);
	int yes = r->action != NULL && strcmp(r->action, "reinjected") == 0;

	assert_true(mail_result_strips(r, MAIL_QUEUE_MARK));    /* never passed on */
	mail_msg_free(m);
	return yes;
}

/* A mark is honoured once, while its copy is out, on its own body (line
 * ends as the MTA gives them back): not before the copy was handed on, not
 * on another body, not a second time; a tempfail after it was honoured
 * gives it back (the MTA brings the copy again). */
static void
test_mark_once(void **state)
{
	char id[QUEUE_ID_MAX], mark[200], *data, *nl, err[QUEUE_ERR_MAX];
	mail_msg_t *m;
	queue_t *q;

	data = one_copy("<once@example.com>", id);
	assert_non_null(nl = strstr(data, "\r\n"));
	*nl = '\0';
	snprintf(mark, sizeof(mark), "%s", data + strlen(MAIL_QUEUE_MARK) + 2);
	free(data);
	assert_false(honoured(marked_copy(mark, "body-marker\r\n")));  /* not out yet */
	assert_int_equal(mail_queue_run(conf, NULL, 0), 1);             /* handed on */
	assert_false(honoured(marked_copy(mark, "body-marker, changed\r\n")));
	assert_false(honoured(marked_copy(mark, "body-marker\r\nmore\r\n")));
	m = marked_copy(mark, "body-marker\r\n");
	assert_string_equal(mail_msg_process(m)->action, "reinjected");
	mail_msg_tempfail(m, "the audit log cannot be written");      /* given back */
	mail_msg_free(m);
	assert_true(honoured(marked_copy(mark, "body-marker\n")));      /* LF, as Postfix may */
	assert_false(honoured(marked_copy(mark, "body-marker\r\n")));  /* a replay */
	assert_false(honoured(marked_copy(mark, "other\r\n")));
	/* Refused marks are unmarked mail: decided by the policy (here, as
	 * from an internal host: outbound, delivered, Sign no). */
	m = marked_copy(mark, "body-marker\r\n");
	assert_int_equal(mail_msg_process(m)->what, MAIL_DO_PASS);
	assert_string_equal(m->result.direction, "outbound");
	mail_msg_free(m);
	assert_int_equal(queue_open(conf->queue_dir, &q, NULL, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(queue_back_unclaim(q, id, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(queue_unsent(q, id, err, sizeof(err)), QUEUE_OK);
	queue_close(q);
	spool_clear();
}

/* ---- the submitter travels with the copy ---- */

/* A held copy records who submitted the message: the login, the class. */
static void
test_identity_recorded(void **state)
{
	const char *to[] = { "c@partner.test" }, *to2[] = { "b@other.test", "p@plain.test" };
	char ids[8][QUEUE_ID_MAX], *data;
	queue_entry_t e;
	mail_msg_t *m;

	m = message("<a@example.com>", to, 1);
	assert_non_null(m->auth = strdup("bob"));
	assert_int_equal(mail_msg_process(m)->what, MAIL_DO_DISCARD);
	mail_msg_free(m);
	assert_int_equal(spool_ids(QUEUE_HOLD, ids), 1);
	data = spool_get(ids[0], &e);
	assert_string_equal(e.login, "bob");
	assert_string_equal(e.client, QUEUE_CLIENT_AUTH);
	queue_entry_free(&e);
	free(data);
	spool_clear();

	m = message("<a@example.com>", to, 1);          /* internal, no login */
	assert_int_equal(mail_msg_process(m)->what, MAIL_DO_DISCARD);
	mail_msg_free(m);
	assert_int_equal(spool_ids(QUEUE_HOLD, ids), 1);
	data = spool_get(ids[0], &e);
	assert_string_equal(e.login, "");
	assert_string_equal(e.client, QUEUE_CLIENT_INTERNAL);
	queue_entry_free(&e);
	free(data);
	spool_clear();

	m = message("<a@example.com>", to2, 2);         /* a copy to hand on, too */
	assert_non_null(m->auth = strdup("bob"));
	assert_int_equal(mail_msg_process(m)->what, MAIL_DO_PASS);
	mail_msg_free(m);
	assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 1);
	data = spool_get(ids[0], &e);
	assert_string_equal(e.login, "bob");
	assert_string_equal(e.client, QUEUE_CLIENT_AUTH);
	queue_entry_free(&e);
	free(data);
	spool_clear();
}

/*
 * With signing on: a login that may not sign as From is refused before
 * any hold under UnauthorizedSender reject (nothing held); a held copy of
 * such a login, or one whose submitter is not recorded (an older entry),
 * is decided again for that submitter: released unsigned, or, under
 * reject, not released (release) and given up with a notice (runner).
 * No keystore: signing as a@example.com for anyone would crash the test.
 */
static void
test_identity_decided(void **state)
{
	const char *to[] = { "c@partner.test" };
	char ids[8][QUEUE_ID_MAX], id[QUEUE_ID_MAX], msg[1024], *out;
	int saved_sign = conf->sign_outbound, saved_unauth = conf->on_unauthorized_sender;
	mail_msg_t *m;

	conf->sign_outbound = 1;
	conf->on_unauthorized_sender = CONF_UNAUTH_REJECT;
	m = message("<a@example.com>", to, 1);
	assert_non_null(m->auth = strdup("bob"));
	assert_int_equal(mail_msg_process(m)->what, MAIL_DO_REJECT);
	assert_string_equal(m->result.rcode, "550");
	assert_non_null(strstr(m->result.reason, "login bob may not sign as <a@example.com>"));
	mail_msg_free(m);
	assert_int_equal(spool_ids(QUEUE_HOLD, ids), 0);

	put_held_by("a@example.com", "r@review.test", "bob", QUEUE_CLIENT_AUTH, id);
	assert_int_equal(mail_queue_release(conf, NULL, id, msg, sizeof(msg)), 1);
	assert_non_null(strstr(msg, "login bob may not sign as <a@example.com>"));
	/* A copy of a client trusted with neither (or an older entry that
	 * records none) claims nothing: reject does not apply,
	 * it is released unsigned. */
	put_held_by("a@example.com", "r@review.test", NULL, NULL, id);   /* older entry */
	assert_int_equal(mail_queue_release(conf, NULL, id, msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "released: unsigned"));
	assert_non_null(strstr(msg, "not trusted to sign"));
	spool_clear();
	put_held_by("a@example.com", "r@review.test", "bob", QUEUE_CLIENT_AUTH, id);
	assert_int_equal(spool_ids(QUEUE_HOLD, ids), 1);
	assert_int_equal(mail_queue_run(conf, NULL, 0), 1);    /* a notice */
	assert_int_equal(spool_ids(QUEUE_HOLD, ids), 0);
	assert_non_null(out = unit_read_file(outfile, NULL));
	assert_null(strstr(out, "held-body"));
	free(out);
	spool_clear();

	conf->on_unauthorized_sender = CONF_UNAUTH_PASS;
	put_held_by("a@example.com", "r@review.test", "bob", QUEUE_CLIENT_AUTH, id);
	assert_int_equal(mail_queue_release(conf, NULL, id, msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "released: unsigned"));
	assert_non_null(strstr(msg, "login bob may not sign"));
	put_held_by("a@example.com", "r@review.test", NULL, QUEUE_CLIENT_OTHER, id);
	assert_int_equal(mail_queue_release(conf, NULL, id, msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "released: unsigned"));
	put_held_by("a@example.com", "b@other.test", NULL, NULL, id);
	assert_int_equal(mail_queue_run(conf, NULL, 0), 3);    /* unsigned, all three */
	spool_clear();
	conf->sign_outbound = saved_sign;
	conf->on_unauthorized_sender = saved_unauth;
}

static void
test_interrupted(void **state)
{
	char ids[8][QUEUE_ID_MAX], id[QUEUE_ID_MAX], mark[200], *data, *nl, *args;
	struct stat sb;
	mail_msg_t *m;

	/* Cut short, not yet back: it waits (not submitted, still there). */
	data = one_copy("<cut@example.com>", id);
	crash_while_handing_on(id, 0);
	assert_int_equal(mail_queue_run(conf, NULL, 1), 0);
	assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 1);
	assert_int_equal(stat(argsfile, &sb), -1);
	/* It comes back through the MTA with its mark: honoured, recorded,
	 * and the next run removes it without submitting it again. */
	assert_non_null(nl = strstr(data, "\r\n"));
	*nl = '\0';
	snprintf(mark, sizeof(mark), "%s", data + strlen(MAIL_QUEUE_MARK) + 2);
	free(data);
	m = marked_copy(mark, "body-marker\r\n");
	assert_int_equal(mail_msg_process(m)->what, MAIL_DO_PASS);
	assert_string_equal(m->result.action, "reinjected");
	mail_msg_free(m);
	assert_int_equal(mail_queue_run(conf, NULL, 0), 0);
	assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 0);
	assert_int_equal(stat(argsfile, &sb), -1);          /* never submitted twice */

	/* Cut short longer ago than the grace time, never back: again. */
	free(one_copy("<cut2@example.com>", id));
	crash_while_handing_on(id, 100000);
	assert_int_equal(mail_queue_run(conf, NULL, 1), 1);
	assert_int_equal(spool_ids(QUEUE_ACTIVE, ids), 0);
	assert_non_null(args = unit_read_file(argsfile, NULL));
	assert_non_null(strstr(args, "-- p@plain.test"));
	free(args);
	spool_clear();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_three_forms),
		cmocka_unit_test(test_keep_deliverable),
		cmocka_unit_test(test_send_copy),
		cmocka_unit_test(test_all_refused),
		cmocka_unit_test(test_hold_whole),
		cmocka_unit_test(test_notice_whole),
		cmocka_unit_test(test_null_sender_no_notice),
		cmocka_unit_test(test_no_split),
		cmocka_unit_test(test_run_releases),
		cmocka_unit_test(test_run_holdtime),
		cmocka_unit_test(test_sent_again),
		cmocka_unit_test(test_interrupted),
		cmocka_unit_test(test_mark_once),
		cmocka_unit_test(test_identity_recorded),
		cmocka_unit_test(test_identity_decided),
		cmocka_unit_test(test_null_sender_outbound),
		cmocka_unit_test(test_release),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
