/*
 * test_secret.c: cmocka tests of util_secret_read() and
 * util_secret_read_line(): what is read, and every refusal (symbolic
 * link, FIFO, group or other access, another owner, too large, absent)
 * with its errno and a message naming the path.  Table-driven, in a
 * temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "util/util.h"

static char tmp[64];

static void
put(const char *name, const char *content, mode_t mode, char *path, size_t size)
{
	int fd;

	snprintf(path, size, "%s/%s", tmp, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

typedef struct read_case {
	const char *what;
	const char *content;
	mode_t mode;
	size_t max;
	int want_errno;         /* 0: read */
	const char *want_msg;   /* in the message besides the path */
} read_case_t;

static void
test_read_table(void **state)
{
	static const read_case_t cases[] = {
		{ "0600 read", "k3y\n", 0600, 64, 0, NULL },
		{ "0400 read", "k3y", 0400, 64, 0, NULL },
		{ "group-readable refused", "k3y", 0640, 64, EPERM, "mode 0640" },
		{ "other-readable refused", "k3y", 0604, 64, EPERM, "mode 0604" },
		{ "group-writable refused", "k3y", 0620, 64, EPERM, "mode 0620" },
		{ "larger than max refused", "0123456789", 0600, 9, EFBIG, "more than 9" },
		{ "exactly max read", "0123456789", 0600, 10, 0, NULL },
		{ "empty read", "", 0600, 10, 0, NULL },
	};
	char path[256], err[512];
	unsigned char *data;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const read_case_t *c = &cases[i];
		int rc;

		put("s", c->content, c->mode, path, sizeof(path));
		err[0] = '\0';
		errno = 0;
		rc = util_secret_read(path, c->max, &data, &len, err, sizeof(err));
		if (c->want_errno == 0) {
			if (rc != 0)
				fail_msg("%s: got -1 (%s), want 0", c->what, err);
			assert_int_equal(len, strlen(c->content));
			assert_memory_equal(data, c->content, len);
			assert_int_equal(data[len], '\0');
			util_secret_free(data, len);
			continue;
		}
		if (rc != -1 || errno != c->want_errno)
			fail_msg("%s: got %d errno %d, want -1 errno %d", c->what, rc,
			    errno, c->want_errno);
		assert_null(data);
		if (strstr(err, path) == NULL || strstr(err, c->want_msg) == NULL)
			fail_msg("%s: message \"%s\" lacks the path or \"%s\"", c->what,
			    err, c->want_msg);
	}
}

static void
test_symlink_refused(void **state)
{
	char target[256], link[256], err[512];
	unsigned char *data = (unsigned char *)"x";
	size_t len = 1;
	struct stat before, after;

	(void)state;
	put("target", "secret", 0600, target, sizeof(target));
	snprintf(link, sizeof(link), "%s/link", tmp);
	unlink(link);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(stat(target, &before), 0);
	assert_int_equal(util_secret_read(link, 64, &data, &len, err, sizeof(err)), -1);
	assert_int_equal(errno, ELOOP);
	assert_null(data);
	assert_non_null(strstr(err, link));
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(stat(target, &after), 0);
	assert_int_equal(before.st_mode, after.st_mode);
	assert_int_equal(before.st_uid, after.st_uid);
}

static void
test_not_regular_refused(void **state)
{
	char path[256], err[512];
	unsigned char *data;
	size_t len;

	(void)state;
	snprintf(path, sizeof(path), "%s/fifo", tmp);
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	/* No writer: a blocking open would hang; the reader must not. */
	assert_int_equal(util_secret_read(path, 64, &data, &len, err, sizeof(err)), -1);
	assert_int_equal(errno, EPERM);
	assert_non_null(strstr(err, "not a regular file"));
	snprintf(path, sizeof(path), "%s/absent", tmp);
	assert_int_equal(util_secret_read(path, 64, &data, &len, err, sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(err, path));
}

static void
test_owner(void **state)
{
	char path[256], err[512], sub[256];
	unsigned char *data;
	size_t len;

	(void)state;
	if (geteuid() != 0)
		skip();
	/* Root reading a file of another user in root's directory: refused. */
	put("other", "k", 0600, path, sizeof(path));
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(util_secret_read(path, 64, &data, &len, err, sizeof(err)), -1);
	assert_int_equal(errno, EPERM);
	assert_non_null(strstr(err, "owned by uid 65534"));
	/* In a directory of that user (a service user's state): accepted. */
	snprintf(sub, sizeof(sub), "%s/state", tmp);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(chown(sub, 65534, 65534), 0);
	snprintf(path, sizeof(path), "%s/state/key", tmp);
	put("state/key", "k", 0600, path, sizeof(path));
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(util_secret_read(path, 64, &data, &len, err, sizeof(err)), 0);
	util_secret_free(data, len);
}

static void
test_read_line(void **state)
{
	static const struct { const char *content; const char *want; int want_errno; } cases[] = {
		{ "secret\n", "secret", 0 },
		{ "secret\r\nsecond line\n", "secret", 0 },
		{ "no newline", "no newline", 0 },
		{ "\nsecret\n", NULL, EINVAL },
		{ "", NULL, EINVAL },
	};
	char path[256], err[512], *line;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		put("pw", cases[i].content, 0600, path, sizeof(path));
		if (cases[i].want != NULL) {
			assert_int_equal(util_secret_read_line(path, 64, &line, err,
			    sizeof(err)), 0);
			assert_string_equal(line, cases[i].want);
			util_secret_free(line, strlen(line));
		} else {
			assert_int_equal(util_secret_read_line(path, 64, &line, err,
			    sizeof(err)), -1);
			assert_int_equal(errno, cases[i].want_errno);
			assert_null(line);
		}
	}
	put("pw", "pw\n", 0644, path, sizeof(path));
	assert_int_equal(util_secret_read_line(path, 64, &line, err, sizeof(err)), -1);
	assert_int_equal(errno, EPERM);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/test_secret.XXXXXX");
	return mkdtemp(tmp) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_table),
		cmocka_unit_test(test_symlink_refused),
		cmocka_unit_test(test_not_regular_refused),
		cmocka_unit_test(test_owner),
		cmocka_unit_test(test_read_line),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
