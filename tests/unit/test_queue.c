/*
 * test_queue.c: the durable spool (queue/): an entry written is read back
 * whole, listed oldest first, moved between hold and active, removed; the
 * states a crash can leave (a half-written file in tmp/, a complete entry
 * not yet removed) recover to "absent" and "replayed"; and the
 * re-injection mark verifies only for its own envelope and key.
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
#include <sys/stat.h>
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
	queue_env_t env = { "a@example.com", rcpts, 2, "sign,encrypt", "split", "4XyZ" };
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
	queue_env_t env = { "a@example.com", evil, 1, NULL, NULL, NULL };
	queue_env_t none = { "a@example.com", rcpts, 0, NULL, NULL, NULL };
	char id[QUEUE_ID_MAX] = "", err[QUEUE_ERR_MAX];
	queue_entry_t e;

	assert_int_equal(queue_put(q, &env, "x", 1, QUEUE_ACTIVE, id, err, sizeof(err)),
	    QUEUE_ERR_ARG);
	assert_int_equal(queue_put(q, &none, "x", 1, QUEUE_ACTIVE, id, err, sizeof(err)),
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
	char mark[65];

	assert_int_equal(queue_mark_make(key, 32, "id1", "a@example.com", rcpts, 2, mark), 0);
	assert_int_equal(strlen(mark), 64);
	assert_true(queue_mark_check(key, 32, mark, "id1", "a@example.com", rcpts, 2));
	assert_false(queue_mark_check(other, 32, mark, "id1", "a@example.com", rcpts, 2));
	assert_false(queue_mark_check(key, 32, mark, "id2", "a@example.com", rcpts, 2));
	assert_false(queue_mark_check(key, 32, mark, "id1", "x@example.com", rcpts, 2));
	assert_false(queue_mark_check(key, 32, mark, "id1", "a@example.com", one, 1));
	assert_false(queue_mark_check(key, 32, "00", "id1", "a@example.com", rcpts, 2));
	assert_false(queue_mark_check(key, 32, NULL, "id1", "a@example.com", rcpts, 2));
	assert_int_equal(queue_mark_make(key, 8, "id1", "a", rcpts, 2, mark), -1);
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
	queue_env_t env = { "", rcpts, 1, "notice", NULL, "4XyZ" };
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
	queue_env_t env = { "a@example.com", rcpts, 2, NULL, NULL, NULL };
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
