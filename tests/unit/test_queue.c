/*
 * test_queue.c: the durable spool (queue/): an entry written is read back
 * whole, listed oldest first, moved between hold and active, removed; the
 * states a crash can leave (a half-written file in tmp/, a complete entry
 * not yet removed) recover to "absent" and "replayed"; and the
 * re-injection mark verifies only for its own envelope, body and key, and
 * is claimed once while its copy is out; the body digest ignores what the
 * MTA does to line ends and the header; an entry records its submitter
 * (login, client class); a copy's
 * dedup ID depends on its input only (not on the recipients' order), and
 * a copy handed on is seen (sent/) until QueueDedupTime, then pruned.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue/queue.h"
#include "tests/unit/unit_util.h"

static char *tmp, *qdir;

static int
setup(void **state)
{
	tmp = unit_tmpdir();
	assert_true(asprintf(&qdir, "%s/q", tmp) > 0);
	return 0;
}

static int
teardown(void **state)
{
	unit_rmtree(tmp);
	free(tmp);
	free(qdir);
	return 0;
}

static const char *const rcpts[] = { "b@example.net", "c@example.org" };
static const char body[] = "From: a@example.com\r\nSubject: x\r\n\r\nhello\r\n";

static queue_t *
open_q(size_t *rec)
{
	char err[QUEUE_ERR_MAX];
	queue_t *q;

	if (queue_open(qdir, &q, rec, err, sizeof(err)) != QUEUE_OK)
		fail_msg("open: %s", err);
	return q;
}

static void
put(queue_t *q, queue_state_t st, char id[QUEUE_ID_MAX])
{
	queue_env_t env = { "a@example.com", rcpts, 2, "sign,encrypt", "split", "4XyZ",
		"bob", QUEUE_CLIENT_AUTH };
	char err[QUEUE_ERR_MAX];

	id[0] = '\0';
	if (queue_put(q, &env, body, strlen(body), st, id, err, sizeof(err)) != QUEUE_OK)
		fail_msg("put: %s", err);
}

static void
test_write_read(void **state)
{
	queue_t *q = open_q(NULL);
	char id[QUEUE_ID_MAX], buf[256], err[QUEUE_ERR_MAX];
	queue_entry_t e;
	long long n;

	put(q, QUEUE_ACTIVE, id);
	assert_int_equal(queue_get(q, id, &e, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(e.state, QUEUE_ACTIVE);
	assert_string_equal(e.sender, "a@example.com");
	assert_int_equal(e.nrcpts, 2);
	assert_string_equal(e.rcpts[1], "c@example.org");
	assert_string_equal(e.form, "sign,encrypt");
	assert_string_equal(e.origin, "4XyZ");
	assert_string_equal(e.login, "bob");
	assert_string_equal(e.client, QUEUE_CLIENT_AUTH);
	assert_int_equal(e.body_len, (long long)strlen(body));
	n = queue_entry_read(&e, 0, buf, sizeof(buf));
	assert_int_equal(n, (long long)strlen(body));
	assert_memory_equal(buf, body, strlen(body));
	queue_entry_free(&e);
	queue_close(q);
}

static void
test_list_move_remove(void **state)
{
	queue_t *q = open_q(NULL);
	char a[QUEUE_ID_MAX], b[QUEUE_ID_MAX], err[QUEUE_ERR_MAX];
	char **ids;
	size_t n;

	put(q, QUEUE_ACTIVE, a);
	put(q, QUEUE_HOLD, b);
	assert_int_equal(queue_list(q, QUEUE_ACTIVE, &ids, &n, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], a);
	queue_ids_free(ids, n);
	/* release: hold -> active, then both listed oldest first */
	assert_int_equal(queue_move(q, b, QUEUE_ACTIVE, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(queue_move(q, b, QUEUE_ACTIVE, err, sizeof(err)), QUEUE_ERR_NOENT);
	assert_int_equal(queue_list(q, QUEUE_ACTIVE, &ids, &n, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(ids[0], a);
	assert_string_equal(ids[1], b);
	queue_ids_free(ids, n);
	assert_int_equal(queue_remove(q, a, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(queue_remove(q, a, err, sizeof(err)), QUEUE_ERR_NOENT);
	assert_int_equal(queue_remove(q, "../x", err, sizeof(err)), QUEUE_ERR_ARG);
	assert_int_equal(queue_list(q, QUEUE_HOLD, &ids, &n, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(n, 0);
	queue_ids_free(ids, n);
	queue_close(q);
}

/* A crash while writing leaves tmp/ID: recovered as absent.  A crash after
 * the rename but before the copy was handed on: still there, replayed. */
static void
test_crash_states(void **state)
{
	queue_t *q = open_q(NULL);
	char id[QUEUE_ID_MAX], *half, **ids, err[QUEUE_ERR_MAX];
	size_t n, rec;

	put(q, QUEUE_ACTIVE, id);
	assert_true(asprintf(&half, "%s/tmp/00000001.00000000.000000000000", qdir) > 0);
	assert_int_equal(unit_write_file(half, "smimegate-spool 1\nSender: a", 27, 0600), 0);
	queue_close(q);
	q = open_q(&rec);
	assert_int_equal(rec, 1);
	struct stat sb;
	assert_int_not_equal(stat(half, &sb), 0);
	assert_int_equal(queue_list(q, QUEUE_ACTIVE, &ids, &n, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], id);
	queue_ids_free(ids, n);
	free(half);
	queue_close(q);
}

static void
test_refuses_bad_values(void **state)
{
	queue_t *q = open_q(NULL);
	const char *evil[] = { "b@example.net\nRcpt: c@evil" };
	queue_env_t env = { "a@example.com", evil, 1, NULL, NULL, NULL, NULL, NULL };
	queue_env_t none = { "a@example.com", rcpts, 0, NULL, NULL, NULL, NULL, NULL };
	queue_env_t login = { "a@example.com", rcpts, 2, NULL, NULL, NULL,
		"bob\nClient: internal", QUEUE_CLIENT_AUTH };
	char id[QUEUE_ID_MAX] = "", err[QUEUE_ERR_MAX];
	queue_entry_t e;

	assert_int_equal(queue_put(q, &env, "x", 1, QUEUE_ACTIVE, id, err, sizeof(err)),
	    QUEUE_ERR_ARG);
	assert_int_equal(queue_put(q, &none, "x", 1, QUEUE_ACTIVE, id, err, sizeof(err)),
	    QUEUE_ERR_ARG);
	assert_int_equal(queue_put(q, &login, "x", 1, QUEUE_ACTIVE, id, err, sizeof(err)),
	    QUEUE_ERR_ARG);
	assert_int_equal(queue_get(q, "abc", &e, err, sizeof(err)), QUEUE_ERR_NOENT);
	queue_close(q);
}

static void
test_mark(void **state)
{
	const unsigned char key[32] = "0123456789abcdef0123456789abcdef";
	const unsigned char other[32] = "fedcba9876543210fedcba9876543210";
	const char *one[] = { "b@example.net" };
	unsigned char d[32], d2[32];
	char mark[65];

	memset(d, 1, sizeof(d));
	memset(d2, 2, sizeof(d2));
	assert_int_equal(queue_mark_make(key, 32, "id1", "a@example.com", rcpts, 2, d, mark), 0);
	assert_int_equal(strlen(mark), 64);
	assert_true(queue_mark_check(key, 32, mark, "id1", "a@example.com", rcpts, 2, d));
	assert_false(queue_mark_check(other, 32, mark, "id1", "a@example.com", rcpts, 2, d));
	assert_false(queue_mark_check(key, 32, mark, "id2", "a@example.com", rcpts, 2, d));
	assert_false(queue_mark_check(key, 32, mark, "id1", "x@example.com", rcpts, 2, d));
	assert_false(queue_mark_check(key, 32, mark, "id1", "a@example.com", one, 1, d));
	assert_false(queue_mark_check(key, 32, mark, "id1", "a@example.com", rcpts, 2, d2));
	assert_false(queue_mark_check(key, 32, "00", "id1", "a@example.com", rcpts, 2, d));
	assert_false(queue_mark_check(key, 32, NULL, "id1", "a@example.com", rcpts, 2, d));
	assert_int_equal(queue_mark_make(key, 8, "id1", "a", rcpts, 2, d, mark), -1);
}

/* The digest of text fed in pieces of n octets (0: whole) as a body
 * (whole 0) or a message (whole 1). */
static void
digest_of(const char *text, int whole, size_t n, unsigned char out[32])
{
	queue_digest_t *d = queue_digest_new(whole);
	size_t len = strlen(text);

	assert_non_null(d);
	for (size_t off = 0; off < len; off += n ? n : len)
		assert_int_equal(queue_digest_add(d, text + off, n && len - off > n ? n
		    : len - off), 0);
	assert_int_equal(queue_digest_final(d, out), 0);
	queue_digest_free(d);
}

/* The body digest: what the MTA may do to line ends and the header does
 * not change it; any change of the content does, wherever it is. */
static void
test_digest(void **state)
{
	static const char *const same[] = {
		"line one\r\n\r\nline .three\r\n",
		"line one\n\nline .three\n",
		"line one\r\n\nline .three",
		"line one\n\r\nline .three\r\n\r\n\n\r\n",
	};
	static const char *const other[] = {
		"line one\r\n\r\nline .three \r\n",
		"line one\r\nline .three\r\n",
		"\r\nline one\r\n\r\nline .three\r\n",
		"line one\r\n\r\nline .thre\r\n",
		"line one\r\r\n\r\nline .three\r\n",
		"",
	};
	unsigned char want[32], got[32];
	char *msg;

	digest_of(same[0], 0, 0, want);
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		for (size_t n = 0; n < 4; n++) {
			digest_of(same[i], 0, n, got);
			if (memcmp(got, want, 32) != 0)
				fail_msg("body %zu in pieces of %zu: another digest", i, n);
		}
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		digest_of(other[i], 0, 1, got);
		if (memcmp(got, want, 32) == 0)
			fail_msg("changed body %zu: the same digest", i);
	}
	/* A whole message: its header block is skipped, whatever it holds. */
	assert_true(asprintf(&msg, "Received: from x\r\n\tby y\r\nSubject: s\r\n\r\n%s",
	    same[0]) > 0);
	for (size_t n = 0; n < 4; n++) {
		digest_of(msg, 1, n, got);
		assert_memory_equal(got, want, 32);
	}
	assert_int_equal(queue_digest_message(msg, strlen(msg), got), 0);
	assert_memory_equal(got, want, 32);
	free(msg);
	digest_of("Subject: s\n\nline one\n\nline .three\n", 1, 1, got);
	assert_memory_equal(got, want, 32);
	digest_of("Subject: s\r\n\r\nline one\r\n\r\nline .three\r\nX", 1, 0, got);
	assert_memory_not_equal(got, want, 32);
}

/* A mark is honoured once, while its copy is out: claimed only when sent/
 * records it and back/ does not; a claim given back may be made again; a
 * new handing on of the same ID starts afresh. */
static void
test_back_claim(void **state)
{
	queue_t *q = open_q(NULL);
	char id[QUEUE_ID_MAX], err[QUEUE_ERR_MAX];
	long long age;

	put(q, QUEUE_ACTIVE, id);
	assert_int_equal(queue_back_claim(q, id, err, sizeof(err)), 0);     /* not out */
	assert_int_equal(queue_sent(q, id, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(queue_back_claim(q, id, err, sizeof(err)), 1);
	assert_int_equal(queue_handed(q, id, &age), QUEUE_HANDED_BACK);
	assert_int_equal(queue_back_claim(q, id, err, sizeof(err)), 0);     /* a replay */
	assert_int_equal(queue_back_unclaim(q, id, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(queue_handed(q, id, &age), QUEUE_HANDED_STARTED);
	assert_int_equal(queue_back_claim(q, id, err, sizeof(err)), 1);
	assert_int_equal(queue_sent(q, id, err, sizeof(err)), QUEUE_OK);    /* again */
	assert_int_equal(queue_handed(q, id, &age), QUEUE_HANDED_STARTED);
	assert_int_equal(queue_back_claim(q, id, err, sizeof(err)), 1);
	assert_int_equal(queue_back_claim(q, "../x", err, sizeof(err)), -1);
	queue_close(q);
}

/* The writer of queue_succeed()'s successor. */
static int
succ_writer(int fd, void *arg)
{
	const char *text = arg;

	return write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -1;
}

static int
fail_writer(int fd, void *arg)
{
	errno = 0;
	return -1;
}

/* A held entry's successor takes its ID in active/, the held one goes; a
 * failing writer leaves the held entry alone and nothing half made. */
static void
test_succeed(void **state)
{
	queue_t *q = open_q(NULL);
	queue_env_t env = { "", rcpts, 1, "notice", NULL, "4XyZ", NULL, NULL };
	char id[QUEUE_ID_MAX], err[QUEUE_ERR_MAX], buf[64], **ids;
	queue_entry_t e;
	size_t n;

	put(q, QUEUE_HOLD, id);
	assert_int_equal(queue_succeed(q, id, &env, fail_writer, NULL, err, sizeof(err)),
	    QUEUE_ERR_IO);
	assert_int_equal(queue_get(q, id, &e, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(e.state, QUEUE_HOLD);
	queue_entry_free(&e);
	assert_int_equal(queue_succeed(q, id, &env, succ_writer, "successor\r\n", err,
	    sizeof(err)), QUEUE_OK);
	assert_int_equal(queue_get(q, id, &e, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(e.state, QUEUE_ACTIVE);
	assert_string_equal(e.sender, "");
	assert_int_equal(queue_entry_read(&e, 0, buf, sizeof(buf)), 11);
	assert_memory_equal(buf, "successor\r\n", 11);
	queue_entry_free(&e);
	assert_int_equal(queue_list(q, QUEUE_HOLD, &ids, &n, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(n, 0);
	queue_ids_free(ids, n);
	/* Not held (any more): refused. */
	assert_int_equal(queue_succeed(q, id, &env, succ_writer, "x", err, sizeof(err)),
	    QUEUE_ERR_NOENT);
	queue_close(q);
}

/* A crash between the successor's rename and the held entry's removal
 * leaves both; recovery keeps the successor only. */
static void
test_succeed_crash(void **state)
{
	queue_t *q = open_q(NULL);
	char id[QUEUE_ID_MAX], id2[QUEUE_ID_MAX], err[QUEUE_ERR_MAX], **ids;
	queue_env_t env = { "a@example.com", rcpts, 2, NULL, NULL, NULL, NULL, NULL };
	size_t n, rec;

	put(q, QUEUE_HOLD, id);
	put(q, QUEUE_HOLD, id2);            /* an unrelated held entry stays */
	assert_int_equal(queue_put(q, &env, "x", 1, QUEUE_ACTIVE, id, err, sizeof(err)),
	    QUEUE_OK);
	queue_close(q);
	q = open_q(&rec);
	assert_int_equal(rec, 1);
	assert_int_equal(queue_list(q, QUEUE_HOLD, &ids, &n, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], id2);
	queue_ids_free(ids, n);
	assert_int_equal(queue_list(q, QUEUE_ACTIVE, &ids, &n, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], id);
	queue_ids_free(ids, n);
	queue_close(q);
}

/* The dedup ID: from the input only, recipients in any order; any other
 * sender, recipient set, Message-ID or digest makes another. */
static void
test_dedup_id(void **state)
{
	const char *ab[] = { "a@x.test", "b@x.test" }, *ba[] = { "b@x.test", "a@x.test" };
	const char *a[] = { "a@x.test" }, *abc[] = { "a@x.test", "b@x.test", "c@x.test" };
	unsigned char d[32] = { 1 }, d2[32] = { 2 };
	char id[QUEUE_ID_MAX], id2[QUEUE_ID_MAX];
	const struct { const char *sender; const char *const *r; size_t n; const char *mid;
	    const unsigned char *dg; } other[] = {
		{ "s@y.test", ab, 2, "<m@y>", d2 },             /* another digest */
		{ "t@y.test", ab, 2, "<m@y>", d },              /* another sender */
		{ "s@y.test", a, 1, "<m@y>", d },               /* fewer recipients */
		{ "s@y.test", abc, 3, "<m@y>", d },             /* more */
		{ "s@y.test", ab, 2, "<n@y>", d },              /* another Message-ID */
		{ "s@y.test", ab, 2, NULL, d },                 /* none */
		{ "", ab, 2, "<m@y>", d },                      /* the null sender */
	};

	assert_int_equal(queue_dedup_id("s@y.test", ab, 2, "<m@y>", d, id), 0);
	assert_int_equal(strlen(id), QUEUE_DEDUP_ID_LEN);
	assert_int_equal(strspn(id, "0123456789abcdef"), QUEUE_DEDUP_ID_LEN);
	assert_int_equal(queue_dedup_id("s@y.test", ba, 2, "<m@y>", d, id2), 0);
	assert_string_equal(id, id2);
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		assert_int_equal(queue_dedup_id(other[i].sender, other[i].r, other[i].n,
		    other[i].mid, other[i].dg, id2), 0);
		if (strcmp(id, id2) == 0)
			fail_msg("case %zu: got the same ID %s, want another", i, id2);
	}
	/* An ID the spool takes. */
	{
		queue_t *q = open_q(NULL);
		queue_env_t env = { "s@y.test", rcpts, 2, NULL, NULL, NULL, NULL, NULL };
		char err[QUEUE_ERR_MAX];

		assert_int_equal(queue_put(q, &env, "x", 1, QUEUE_ACTIVE, id, err, sizeof(err)),
		    QUEUE_OK);
		assert_int_equal(queue_seen(q, id, 60, err, sizeof(err)), 1);
		queue_close(q);
	}
}

/* Ages the record sent/id by secs. */
static void
age_sent(const char *id, long secs)
{
	char *p;
	struct timespec ts[2];

	assert_true(asprintf(&p, "%s/sent/%s", qdir, id) > 0);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= secs;
	ts[1] = ts[0];
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	free(p);
}

/* seen: in active/, in hold/, handed on (sent/) within max_age; not when
 * never written, nor when the record is older; prune removes only those. */
static void
test_seen_sent_prune(void **state)
{
	queue_t *q = open_q(NULL);
	char a[QUEUE_ID_MAX], h[QUEUE_ID_MAX], old[QUEUE_ID_MAX], err[QUEUE_ERR_MAX];
	char none[QUEUE_ID_MAX];
	struct stat sb;
	char *p;

	put(q, QUEUE_ACTIVE, a);
	put(q, QUEUE_HOLD, h);
	put(q, QUEUE_ACTIVE, old);
	queue_new_id(none);
	assert_int_equal(queue_seen(q, a, 3600, err, sizeof(err)), 1);
	assert_int_equal(queue_seen(q, h, 3600, err, sizeof(err)), 1);
	assert_int_equal(queue_seen(q, none, 3600, err, sizeof(err)), 0);
	assert_int_equal(queue_seen(q, "../x", 3600, err, sizeof(err)), -1);
	/* Handed on: recorded, then removed; still seen. */
	assert_int_equal(queue_sent(q, a, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(queue_remove(q, a, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(queue_seen(q, a, 3600, err, sizeof(err)), 1);
	assert_int_equal(queue_seen(q, a, 0, err, sizeof(err)), 0);    /* QueueDedupTime=0 */
	assert_int_equal(queue_sent(q, old, err, sizeof(err)), QUEUE_OK);
	assert_int_equal(queue_remove(q, old, err, sizeof(err)), QUEUE_OK);
	age_sent(old, 7200);
	assert_int_equal(queue_seen(q, old, 3600, err, sizeof(err)), 0);
	/* Not a spool entry: list, get and recovery do not see records. */
	{
		char **ids;
		size_t n, rec;

		assert_int_equal(queue_list(q, QUEUE_ACTIVE, &ids, &n, err, sizeof(err)), QUEUE_OK);
		assert_int_equal(n, 0);
		queue_ids_free(ids, n);
		queue_close(q);
		q = open_q(&rec);
		assert_int_equal(rec, 0);
	}
	/* Prune: the old one goes, the recent stays; limit 0 looks at none. */
	assert_int_equal(queue_prune_sent(q, 3600, 0), 0);
	assert_int_equal(queue_prune_sent(q, 3600, 100), 1);
	assert_true(asprintf(&p, "%s/sent/%s", qdir, old) > 0);
	assert_int_equal(stat(p, &sb), -1);
	free(p);
	assert_true(asprintf(&p, "%s/sent/%s", qdir, a) > 0);
	assert_int_equal(stat(p, &sb), 0);
	free(p);
	assert_int_equal(queue_seen(q, a, 3600, err, sizeof(err)), 1);
	assert_int_equal(queue_prune_sent(q, 3600, 100), 0);
	queue_close(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_move_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_states, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_bad_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_succeed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_succeed_crash, setup, teardown),
		cmocka_unit_test(test_mark),
		cmocka_unit_test(test_digest),
		cmocka_unit_test_setup_teardown(test_back_claim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedup_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seen_sent_prune, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
