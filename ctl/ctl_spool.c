/*
 * ctl_spool.c: the durable spool for operators (see ctl_spool.h and
 * queue/queue.h).  list: one line per copy; show ID: its envelope and
 * message (of the gateway's own mail the header only, without --body);
 * release ID: a held copy is decided again with its action=hold
 * rules met (mail_queue_release(): encrypted to the certificates now
 * known; refused while a recipient under encrypt=always has none);
 * release ID --clear: handed on as it is (the original, neither signed
 * nor encrypted), recorded (clear/ID) so that its audit record says so;
 * either way marked so that the gateway passes it, by the running
 * gateway's next spool run; drop ID: removed.
 */
#include "ctl/ctl_spool.h"
#include "mail/mail_queue.h"
#include "queue/queue.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>

static int
err_out(const char *msg)
{
	fprintf(stderr, "smimectl: spool: %s\n", msg);
	return 1;
}

static void
list_one(queue_t *q, const char *id)
{
	char err[QUEUE_ERR_MAX], when[32];
	queue_entry_t e;
	struct tm tm;

	if (queue_get(q, id, &e, err, sizeof(err)) != QUEUE_OK) {
		fprintf(stderr, "smimectl: spool: %s\n", err);
		return;
	}
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&e.created, &tm));
	printf("%s %s %s from=<%s> size=%lld to=", e.id, queue_state_name(e.state), when,
	    e.sender, e.body_len);
	for (size_t i = 0; i < e.nrcpts; i++)
		printf("%s<%s>", i ? "," : "", e.rcpts[i]);
	printf(" form=%s", e.form[0] ? e.form : "-");
	if (e.reason[0] != '\0')
		printf(" reason=%s", e.reason);
	putchar('\n');
	queue_entry_free(&e);
}

static int
cmd_list(queue_t *q)
{
	char err[QUEUE_ERR_MAX], **ids;
	size_t n;

	for (int st = QUEUE_ACTIVE; st <= QUEUE_HOLD; st++) {
		if (queue_list(q, (queue_state_t)st, &ids, &n, err, sizeof(err)) != QUEUE_OK)
			return err_out(err);
		for (size_t i = 0; i < n; i++)
			list_one(q, ids[i]);
		queue_ids_free(ids, n);
	}
	return 0;
}

/* Of the gateway's own mail (invitations, password notices: form "own
 * mail"), show prints the header only unless asked for the body: it may
 * hold a pickup link or a password.  k: bytes of buf[0..n) to print;
 * *nl counts the line ends in a row, 2 at the end of the header. */
static size_t
header_part(const char *buf, size_t n, int *nl)
{
	size_t k;

	for (k = 0; k < n && *nl < 2; k++) {
		if (buf[k] == '\n')
			(*nl)++;
		else if (buf[k] != '\r')
			*nl = 0;
	}
	return k;
}

static int
cmd_show(queue_t *q, const char *id, int body)
{
	char err[QUEUE_ERR_MAX], buf[16384];
	queue_entry_t e;
	long long off = 0, n = 0;
	int redact, nl = 0;

	if (queue_get(q, id, &e, err, sizeof(err)) != QUEUE_OK)
		return err_out(err);
	redact = !body && strcmp(e.form, "own mail") == 0;
	printf("ID: %s\nState: %s\nCreated: %lld\nSender: %s\n", e.id,
	    queue_state_name(e.state), (long long)e.created, e.sender);
	for (size_t i = 0; i < e.nrcpts; i++)
		printf("Rcpt: %s\n", e.rcpts[i]);
	printf("Form: %s\nReason: %s\nOrigin: %s\n", e.form, e.reason, e.origin);
	printf("Login: %s\nClient: %s\n\n", e.login, e.client[0] ? e.client : "(not recorded)");
	while (nl < 2 && (n = queue_entry_read(&e, off, buf, sizeof(buf))) > 0) {
		fwrite(buf, 1, redact ? header_part(buf, (size_t)n, &nl) : (size_t)n, stdout);
		off += n;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	if (redact)
		printf("[body not shown: the gateway's own mail may hold a pickup link or a "
		    "password; spool show --body %s shows it]\n", e.id);
	queue_entry_free(&e);
	return n < 0 ? err_out("read error") : 0;
}

/* The released entry's data: the mark line, then the held message,
 * copied in chunks. */
struct release_arg {
	const queue_entry_t *e;
	const char *mark;
};

static int
release_writer(int fd, void *arg)
{
	const struct release_arg *a = arg;
	char buf[16384];
	long long off = 0, n;
	int len = snprintf(buf, sizeof(buf), "%s: %s\r\n", MAIL_QUEUE_MARK, a->mark);

	if (util_write_all(fd, buf, (size_t)len) != 0)
		return -1;
	while ((n = queue_entry_read(a->e, off, buf, sizeof(buf))) > 0) {
		if (util_write_all(fd, buf, (size_t)n) != 0)
			return -1;
		off += n;
	}
	return n < 0 || off != a->e->body_len ? -1 : 0;
}

/* --clear: a held copy is replaced by its marked successor in active/,
 * the original, under the same ID (queue_succeed(): a crash in between
 * cannot send it twice), recorded first as released unencrypted. */
static int
cmd_release_clear(queue_t *q, const conf_t *conf, const char *id)
{
	char err[QUEUE_ERR_MAX], mac[65], mark[QUEUE_ID_MAX + 70];
	unsigned char body[32];
	queue_entry_t e;
	int rc = 1;

	if (conf->reinject_keylen == 0)
		return err_out("no re-injection key (ReinjectKeyFile)");
	if (queue_get(q, id, &e, err, sizeof(err)) != QUEUE_OK)
		return err_out(err);
	if (e.state != QUEUE_HOLD) {
		queue_entry_free(&e);
		return err_out("not held; the gateway hands active copies on by itself");
	}
	snprintf(err, sizeof(err), "%s: no mark", id);
	if (queue_digest_entry(&e, body) == 0 && queue_mark_make(conf->reinject_key,
	    conf->reinject_keylen, id, e.sender, (const char *const *)e.rcpts, e.nrcpts,
	    body, mac) == 0) {
		queue_env_t env = { e.sender, (const char *const *)e.rcpts, e.nrcpts,
			MAIL_QUEUE_CLEAR_FORM, "released unencrypted by the operator (--clear)",
			e.origin, e.login[0] ? e.login : NULL, e.client[0] ? e.client : NULL };
		struct release_arg ra = { &e, mark };

		snprintf(mark, sizeof(mark), "%s %s", id, mac);
		if (queue_note(q, "clear", id, err, sizeof(err)) == QUEUE_OK
		    && queue_succeed(q, id, &env, release_writer, &ra, err, sizeof(err)) == QUEUE_OK)
			rc = 0;
	}
	queue_entry_free(&e);
	if (rc != 0)
		return err_out(err);
	printf("%s: released unencrypted, as it was received (--clear)\n", id);
	return 0;
}

/* Decided again (mail_queue_release()). */
static int
cmd_release(conf_t *conf, keystore_t *ks, const char *id)
{
	char msg[1024];
	int rc = mail_queue_release(conf, ks, id, msg, sizeof(msg));

	if (rc != 0)
		return err_out(msg), 1;
	printf("%s: %s\n", id, msg);
	return 0;
}

/* release ID [--clear]: 1 with --clear, 0 without, -1 not that. */
static int
release_clear(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[0], "release") != 0)
		return -1;
	if (argc == 2)
		return strcmp(argv[1], "--clear") == 0 ? -1 : 0;
	if (argc == 3 && strcmp(argv[1], "--clear") == 0)
		return 1;
	return argc == 3 && strcmp(argv[2], "--clear") == 0 ? 1 : -1;
}

int
ctl_spool_needs_keystore(int argc, char **argv)
{
	return release_clear(argc, argv) == 0;
}

int
ctl_spool(int argc, char **argv, conf_t *conf, keystore_t *ks)
{
	char err[QUEUE_ERR_MAX];
	queue_t *q;
	int rc, clear = release_clear(argc, argv);

	int body = argc == 3 && strcmp(argv[0], "show") == 0 && strcmp(argv[1], "--body") == 0;

	if (body) {             /* spool show --body ID */
		argv[1] = argv[2];
		argc = 2;
	}
	if (argc < 1 || (strcmp(argv[0], "list") == 0 ? argc != 1
	    : strcmp(argv[0], "release") == 0 ? clear < 0 : argc != 2)) {
		fprintf(stderr, "smimectl: spool: want list, show [--body]|drop ID, or release ID [--clear]\n");
		return 2;
	}
	if (queue_open(conf->queue_dir, &q, NULL, err, sizeof(err)) != QUEUE_OK)
		return err_out(err);
	if (strcmp(argv[0], "list") == 0)
		rc = cmd_list(q);
	else if (strcmp(argv[0], "show") == 0)
		rc = cmd_show(q, argv[1], body);
	else if (clear == 1)
		rc = cmd_release_clear(q, conf, strcmp(argv[1], "--clear") == 0 ? argv[2] : argv[1]);
	else if (clear == 0)
		rc = cmd_release(conf, ks, argv[1]);
	else if (strcmp(argv[0], "drop") == 0) {
		rc = queue_remove(q, argv[1], err, sizeof(err)) == QUEUE_OK ? 0 : err_out(err);
		if (rc == 0)
			printf("%s: dropped\n", argv[1]);
	} else {
		fprintf(stderr, "smimectl: spool: unknown command %s\n", argv[0]);
		rc = 2;
	}
	queue_close(q);
	return rc;
}
