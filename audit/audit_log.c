/*
 * audit_log.c: the writer.  Appends records and checkpoints to audit.log,
 * each line with the hash of the one before, each on disk (write(2) then
 * fdatasync(2)) before the call returns; rotates the file without
 * breaking the chain; picks the chain up again from the last line on
 * open.
 *
 * Ownership: audit_open() returns a handle that owns the file, the lock
 * file and the audit key; audit_close() writes a last checkpoint and
 * frees it all.
 * Threads: every entry point except open and close takes the handle's
 * mutex, so any number of threads may append through one handle; the
 * JSON of a record is built before the lock is taken.
 */
#include "audit/audit_int.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>

struct audit {
	pthread_mutex_t mu;
	char *dir;
	char *path;                 /* dir/audit.log */
	int fd;                     /* -1 after a failed rotation */
	int lockfd;
	off_t size;                 /* where the next line starts */
	EVP_PKEY *key;
	char keyid[65];
	int flags;
	uint64_t seq;               /* of the next line */
	char prev[65];              /* hash of the last line */
	int last_is_cp;
	int broken;                 /* a failed write could not be undone */
	uint64_t since_cp;          /* records since the last checkpoint */
	unsigned every;
	time_t (*now)(void *);
	void *now_arg;
};

static time_t
clock_now(void *arg)
{
	return time(NULL);
}

static void
sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* ---- writing lines (mutex held) ---- */

/*
 * Appends line (len octets, with room for one more) and a newline.  A
 * failed write is cut off again; when even that fails the handle refuses
 * every later write (the file ends in a partial line, which audit_open()
 * will not continue without AUDIT_RECOVER).
 */
static audit_status_t
write_line(audit_t *a, char *line, size_t len, audit_err_t *err)
{
	int e;

	if (a->broken)
		return audit_err_set(err, AUDIT_ERR_IO, "%s: a failed write could not "
		    "be undone; the log must be reopened", a->path);
	line[len] = '\n';
	if (util_write_all(a->fd, line, len + 1) < 0 || fdatasync(a->fd) < 0) {
		e = errno;
		line[len] = '\0';
		a->broken = ftruncate(a->fd, a->size) < 0;
		return audit_err_set(err, AUDIT_ERR_IO, "cannot write %s: %s",
		    a->path, strerror(e));
	}
	line[len] = '\0';
	a->size += (off_t)len + 1;
	audit_sha256_hex(line, len, a->prev);
	a->seq++;
	return AUDIT_OK;
}

/* The object as a line with one octet of room, then written. */
static audit_status_t
write_obj(audit_t *a, json_object *o, audit_err_t *err)
{
	audit_status_t st;
	size_t len;
	char *line = audit_json_line(o, &len, err), *room;

	if (line == NULL)
		return AUDIT_ERR_NOMEM;
	room = realloc(line, len + 2);
	if (room == NULL) {
		free(line);
		return audit_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
	}
	st = write_line(a, room, len, err);
	free(room);
	return st;
}

static audit_status_t
write_checkpoint(audit_t *a, audit_err_t *err)
{
	char when[AUDIT_TIME_LEN];
	audit_status_t st;
	json_object *o;
	char *sig;

	audit_time_format(a->now(a->now_arg), when, sizeof(when));
	sig = audit_key_sign(a->key, a->seq, when, a->prev, err);
	if (sig == NULL)
		return AUDIT_ERR_CRYPTO;
	o = audit_json_checkpoint(a->seq, when, a->prev, sig, a->keyid, err);
	free(sig);
	if (o == NULL)
		return AUDIT_ERR_NOMEM;
	st = write_obj(a, o, err);
	json_object_put(o);
	if (st == AUDIT_OK) {
		a->last_is_cp = 1;
		a->since_cp = 0;
	}
	return st;
}

static void
close_log(audit_t *a)
{
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
}

/* Opens (creating) audit.log; a new file begins with a checkpoint, and
 * stays closed (to be tried again) until it has one. */
static audit_status_t
open_log(audit_t *a, audit_err_t *err)
{
	audit_status_t rc;
	struct stat st;

	a->fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (a->fd < 0 || fstat(a->fd, &st) < 0) {
		rc = audit_err_set(err, AUDIT_ERR_IO, "cannot open %s: %s",
		    a->path, strerror(errno));
		close_log(a);
		return rc;
	}
	a->size = st.st_size;
	if (a->size > 0)
		return AUDIT_OK;
	sync_dir(a->dir);
	rc = write_checkpoint(a, err);
	if (rc != AUDIT_OK)
		close_log(a);
	return rc;
}

static audit_status_t
ensure_open(audit_t *a, audit_err_t *err)
{
	if (a->fd >= 0)
		return AUDIT_OK;
	return open_log(a, err);
}

/* ---- entry points ---- */

audit_status_t
audit_append(audit_t *a, const audit_record_t *rec, audit_err_t *err)
{
	audit_status_t st;
	json_object *o, *v;

	if (a == NULL || rec == NULL)
		return audit_err_set(err, AUDIT_ERR_USAGE, "audit_append without a log or record");
	o = audit_json_record(rec, a->now(a->now_arg), a->flags, 1,
	    AUDIT_ZERO_HASH, err);
	if (o == NULL)
		return err ? err->code : AUDIT_ERR_NOMEM;
	pthread_mutex_lock(&a->mu);
	st = ensure_open(a, err);
	if (st == AUDIT_OK && (!json_object_object_get_ex(o, "seq", &v) ||
	    !json_object_set_int64(v, (int64_t)a->seq) ||
	    !json_object_object_get_ex(o, "prev", &v) ||
	    !json_object_set_string(v, a->prev)))
		st = audit_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
	if (st == AUDIT_OK)
		st = write_obj(a, o, err);
	if (st == AUDIT_OK) {
		a->last_is_cp = 0;
		if (++a->since_cp >= a->every && a->every > 0)
			(void)write_checkpoint(a, NULL);
	}
	pthread_mutex_unlock(&a->mu);
	json_object_put(o);
	return st;
}

audit_status_t
audit_checkpoint(audit_t *a, audit_err_t *err)
{
	audit_status_t st;

	if (a == NULL)
		return audit_err_set(err, AUDIT_ERR_USAGE, "audit_checkpoint without a log");
	pthread_mutex_lock(&a->mu);
	st = ensure_open(a, err);
	if (st == AUDIT_OK && !a->last_is_cp)
		st = write_checkpoint(a, err);
	pthread_mutex_unlock(&a->mu);
	return st;
}

/* Renames audit.log to audit.log.<time>[.N], never over another file. */
static audit_status_t
rename_aside(const char *dir, const char *path, time_t now, const char *suffix,
    audit_err_t *err)
{
	char stamp[32];
	struct tm tm;
	char *to;
	int i, r;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (i = 0; i < 1000; i++) {
		if ((i ? asprintf(&to, "%s/%s.%s.%d%s", dir, AUDIT_LOG_NAME, stamp, i, suffix) :
		    asprintf(&to, "%s/%s.%s%s", dir, AUDIT_LOG_NAME, stamp, suffix)) < 0)
			return audit_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
		r = renameat2(AT_FDCWD, path, AT_FDCWD, to, RENAME_NOREPLACE);
		free(to);
		if (r == 0) {
			sync_dir(dir);
			return AUDIT_OK;
		}
		if (errno != EEXIST)
			break;
	}
	return audit_err_set(err, AUDIT_ERR_IO, "cannot rename %s: %s", path,
	    strerror(errno));
}

audit_status_t
audit_rotate(audit_t *a, audit_err_t *err)
{
	audit_status_t st;

	if (a == NULL)
		return audit_err_set(err, AUDIT_ERR_USAGE, "audit_rotate without a log");
	pthread_mutex_lock(&a->mu);
	st = ensure_open(a, err);
	if (st == AUDIT_OK && !a->last_is_cp)
		st = write_checkpoint(a, err);
	if (st == AUDIT_OK)
		st = rename_aside(a->dir, a->path, a->now(a->now_arg), "", err);
	if (st == AUDIT_OK) {
		close_log(a);
		st = open_log(a, err);
	}
	pthread_mutex_unlock(&a->mu);
	return st;
}

void
audit_set_checkpoint_every(audit_t *a, unsigned n)
{
	pthread_mutex_lock(&a->mu);
	a->every = n;
	pthread_mutex_unlock(&a->mu);
}

void
audit_set_clock(audit_t *a, time_t (*now)(void *arg), void *arg)
{
	pthread_mutex_lock(&a->mu);
	a->now = now ? now : clock_now;
	a->now_arg = arg;
	pthread_mutex_unlock(&a->mu);
}

static void
audit_free(audit_t *a)
{
	if (a->fd >= 0)
		close(a->fd);
	if (a->lockfd >= 0)
		close(a->lockfd);
	EVP_PKEY_free(a->key);
	pthread_mutex_destroy(&a->mu);
	free(a->dir);
	free(a->path);
	free(a);
}

audit_status_t
audit_close(audit_t *a, audit_err_t *err)
{
	audit_status_t st = AUDIT_OK;

	if (a == NULL)
		return AUDIT_OK;
	if (a->fd >= 0 && !a->last_is_cp)
		st = write_checkpoint(a, err);
	audit_free(a);
	return st;
}

/* ---- opening ---- */

static audit_status_t
check_dir(const char *dir, int create, audit_err_t *err)
{
	struct stat st;

	if (create && mkdir(dir, 0700) < 0 && errno != EEXIST)
		return audit_err_set(err, AUDIT_ERR_IO, "cannot create %s: %s",
		    dir, strerror(errno));
	if (stat(dir, &st) < 0)
		return audit_err_set(err, AUDIT_ERR_IO, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return audit_err_set(err, AUDIT_ERR_IO, "%s: not a directory", dir);
	if (st.st_mode & 022)
		return audit_err_set(err, AUDIT_ERR_PERM,
		    "%s: the audit directory is writable by others (mode %03o)",
		    dir, (unsigned)(st.st_mode & 0777));
	return AUDIT_OK;
}

static audit_status_t
take_lock(audit_t *a, audit_err_t *err)
{
	char *path;

	if (asprintf(&path, "%s/%s", a->dir, AUDIT_LOCK_NAME) < 0)
		return audit_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
	a->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (a->lockfd < 0) {
		audit_err_set(err, AUDIT_ERR_IO, "cannot open %s: %s", path, strerror(errno));
		free(path);
		return AUDIT_ERR_IO;
	}
	if (flock(a->lockfd, LOCK_EX | LOCK_NB) < 0) {
		audit_err_set(err, AUDIT_ERR_BUSY, "%s: another process writes this audit log",
		    path);
		free(path);
		return AUDIT_ERR_BUSY;
	}
	free(path);
	return AUDIT_OK;
}

static audit_status_t
open_key(audit_t *a, const char *key_file, int create, audit_err_t *err)
{
	char *kf = NULL, *pub = NULL, *tmp = NULL;
	audit_status_t st = AUDIT_ERR_NOMEM;

	if ((key_file ? (kf = strdup(key_file)) == NULL :
	    asprintf(&kf, "%s/%s", a->dir, AUDIT_KEY_NAME) < 0) ||
	    (tmp = strdup(kf)) == NULL ||
	    asprintf(&pub, "%s/%s", dirname(tmp), AUDIT_PUB_NAME) < 0) {
		pub = NULL;
		audit_err_set(err, st, "out of memory");
	} else
		st = audit_key_open(kf, pub, create, &a->key, err);
	if (st == AUDIT_OK)
		st = audit_key_id(a->key, a->keyid, err);
	free(kf);
	free(tmp);
	free(pub);
	return st;
}

/* The chain continues after line (len octets) of file. */
static audit_status_t
continue_after(audit_t *a, const char *file, const char *line, size_t len,
    audit_err_t *err)
{
	audit_line_t pl;
	const char *why;

	if (audit_json_parse(line, len, &pl, &why) < 0)
		return audit_err_set(err, AUDIT_ERR_CORRUPT,
		    "%s: the last line is %s; run smimectl audit verify", file, why);
	a->seq = pl.seq + 1;
	a->last_is_cp = pl.checkpoint;
	audit_sha256_hex(line, len, a->prev);
	audit_line_free(&pl);
	return AUDIT_OK;
}

/* The last complete line of path that parses (damaged files). */
static audit_status_t
last_good_line(const char *path, char **out, size_t *outlen, audit_err_t *err)
{
	const char *const files[1] = { path };
	audit_lines_t *ls = audit_lines_open(files, 1, err);
	audit_status_t st = ls ? AUDIT_OK : AUDIT_ERR_NOMEM;
	audit_rawline_t l;
	audit_line_t pl;
	const char *why;

	*out = NULL;
	while (st == AUDIT_OK && (st = audit_lines_next(ls, &l, err)) == AUDIT_OK) {
		if (!l.newline || audit_json_parse(l.data, l.len, &pl, &why) < 0)
			continue;
		audit_line_free(&pl);
		free(*out);
		if ((*out = strndup(l.data, l.len)) == NULL)
			st = audit_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
		*outlen = l.len;
	}
	audit_lines_free(ls);
	return st == AUDIT_END ? AUDIT_OK : st;
}

/* The chain goes on after the last good line of file (none: from the
 * beginning). */
static audit_status_t
after_last_good(audit_t *a, const char *file, audit_err_t *err)
{
	audit_status_t st;
	char *line;
	size_t len = 0;

	st = last_good_line(file, &line, &len, err);
	if (st == AUDIT_OK && line != NULL)
		st = continue_after(a, file, line, len, err);
	free(line);
	return st;
}

/*
 * The last line of file is partial or not a record.  audit.log is then
 * refused, or with AUDIT_RECOVER renamed aside (the verifier will report
 * the damage) and the chain goes on after its last good line; the newest
 * rotated file (no audit.log) is simply continued after its last good line.
 */
static audit_status_t
damaged(audit_t *a, const char *file, int partial, audit_err_t *err)
{
	const char *why = partial ? "ends in a partial line" :
	    "ends in a line that is not a record";
	audit_status_t st;

	if (strcmp(file, a->path) != 0)
		return after_last_good(a, file, err);
	if (!(a->flags & AUDIT_RECOVER))
		return audit_err_set(err, AUDIT_ERR_CORRUPT,
		    "%s %s; run smimectl audit verify, then start with the recover option",
		    file, why);
	st = after_last_good(a, file, err);
	if (st == AUDIT_OK)
		st = rename_aside(a->dir, a->path, a->now(a->now_arg), ".damaged", err);
	return st;
}

/* Where the chain goes on: after the last line of the last non-empty log
 * file (audit.log, else the newest rotated one), else at the beginning. */
static audit_status_t
find_chain(audit_t *a, audit_err_t *err)
{
	char **files = NULL, *line = NULL;
	size_t n = 0, i, len = 0;
	audit_status_t st;
	int partial = 0;

	a->seq = 1;
	memcpy(a->prev, AUDIT_ZERO_HASH, sizeof(a->prev));
	st = audit_files(a->dir, &files, &n, err);
	i = n;
	while (st == AUDIT_OK && i > 0 && line == NULL)
		st = audit_lines_last(files[--i], &line, &len, &partial, err);
	if (st == AUDIT_OK && line != NULL) {
		st = partial ? AUDIT_ERR_CORRUPT :
		    continue_after(a, files[i], line, len, NULL);
		if (st == AUDIT_ERR_CORRUPT)
			st = damaged(a, files[i], partial, err);
	}
	free(line);
	audit_files_free(files, n);
	return st;
}

audit_t *
audit_open(const char *dir, const char *key_file, int flags, audit_err_t *err)
{
	audit_t *a;
	audit_status_t st;

	if (dir == NULL) {
		audit_err_set(err, AUDIT_ERR_USAGE, "no audit directory");
		return NULL;
	}
	st = check_dir(dir, flags & AUDIT_CREATE, err);
	if (st != AUDIT_OK || (a = calloc(1, sizeof(*a))) == NULL) {
		if (st == AUDIT_OK)
			audit_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&a->mu, NULL);
	a->fd = a->lockfd = -1;
	a->flags = flags;
	a->every = AUDIT_CHECKPOINT_EVERY;
	a->now = clock_now;
	if ((a->dir = strdup(dir)) == NULL ||
	    asprintf(&a->path, "%s/%s", dir, AUDIT_LOG_NAME) < 0) {
		a->path = NULL;
		st = audit_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
	}
	if (st == AUDIT_OK)
		st = take_lock(a, err);
	if (st == AUDIT_OK)
		st = open_key(a, key_file, flags & AUDIT_CREATE, err);
	if (st == AUDIT_OK)
		st = find_chain(a, err);
	if (st == AUDIT_OK)
		st = open_log(a, err);
	if (st != AUDIT_OK) {
		audit_free(a);
		return NULL;
	}
	return a;
}
