/*
 * ctl_spool.c: the durable spool for operators (see ctl_spool.h and
 * queue/queue.h).  list: one line per copy; show ID: its envelope and
 * message; release ID: a held copy is handed on as it is (the operator's
 * decision overrides the hold: the original, neither signed nor
 * encrypted), marked so that the gateway passes it, by the running
 * gateway's next spool run; drop ID: removed.
 */
#include "milter/ctl_spool.h"
#include "milter/milt_queue.h"
#include "queue/queue.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static int
cmd_show(queue_t *q, const char *id)
{
	char err[QUEUE_ERR_MAX], buf[16384];
	queue_entry_t e;
	long long off = 0, n;

	if (queue_get(q, id, &e, err, sizeof(err)) != QUEUE_OK)
		return err_out(err);
	printf("ID: %s\nState: %s\nCreated: %lld\nSender: %s\n", e.id,
	    queue_state_name(e.state), (long long)e.created, e.sender);
	for (size_t i = 0; i < e.nrcpts; i++)
		printf("Rcpt: %s\n", e.rcpts[i]);
	printf("Form: %s\nReason: %s\nOrigin: %s\n\n", e.form, e.reason, e.origin);
	while ((n = queue_entry_read(&e, off, buf, sizeof(buf))) > 0) {
		fwrite(buf, 1, (size_t)n, stdout);
		off += n;
	}
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
	int len = snprintf(buf, sizeof(buf), "%s: %s\r\n", MILT_QUEUE_MARK, a->mark);

	if (util_write_all(fd, buf, (size_t)len) != 0)
		return -1;
	while ((n = queue_entry_read(a->e, off, buf, sizeof(buf))) > 0) {
		if (util_write_all(fd, buf, (size_t)n) != 0)
			return -1;
		off += n;
	}
	return n < 0 || off != a->e->body_len ? -1 : 0;
}

/* A held copy is replaced by its marked successor in active/, under the
 * same ID (queue_succeed(): a crash in between cannot send it twice). */
static int
cmd_release(queue_t *q, const milt_conf_t *conf, const char *id)
{
	char err[QUEUE_ERR_MAX], mac[65], mark[QUEUE_ID_MAX + 70];
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
	if (queue_mark_make(conf->reinject_key, conf->reinject_keylen, id, e.sender,
	    (const char *const *)e.rcpts, e.nrcpts, mac) == 0) {
		queue_env_t env = { e.sender, (const char *const *)e.rcpts, e.nrcpts,
			"released", "released by the operator", e.origin };
		struct release_arg ra = { &e, mark };

		snprintf(mark, sizeof(mark), "%s %s", id, mac);
		if (queue_succeed(q, id, &env, release_writer, &ra, err, sizeof(err)) == QUEUE_OK)
			rc = 0;
	}
	queue_entry_free(&e);
	if (rc != 0)
		return err_out(err);
	printf("%s: released\n", id);
	return 0;
}

int
ctl_spool(int argc, char **argv, const milt_conf_t *conf)
{
	char err[QUEUE_ERR_MAX];
	queue_t *q;
	int rc;

	if (argc < 1 || (strcmp(argv[0], "list") == 0 ? argc != 1 : argc != 2)) {
		fprintf(stderr, "smimectl: spool: want list, or show|release|drop ID\n");
		return 2;
	}
	if (queue_open(conf->queue_dir, &q, NULL, err, sizeof(err)) != QUEUE_OK)
		return err_out(err);
	if (strcmp(argv[0], "list") == 0)
		rc = cmd_list(q);
	else if (strcmp(argv[0], "show") == 0)
		rc = cmd_show(q, argv[1]);
	else if (strcmp(argv[0], "release") == 0)
		rc = cmd_release(q, conf, argv[1]);
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
