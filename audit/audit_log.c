/*
 * audit_log.c: the writer.  Appends records and checkpoints to audit.log,
 * each line with the hash of the one before, each on disk (write(2) then
 * fdatasync(2)) before the call returns; rotates the file without
 * breaking the chain; picks the chain up again from the last line on
 * open.
 *
 * Group commit: records are queued, and whichever appending thread finds
 * nobody writing becomes the writer: it takes every record queued so far,
 * gives each its seq and prev in queue order, writes them with one
 * write(2) and one fdatasync(2), and answers each.  Records queued while
 * it writes wait for the next writer (one of their own threads), so one
 * fdatasync covers every record that arrived during the one before.  A
 * failed write or sync fails every record of its batch and cuts the file
 * back to where the batch began: no caller is told "on disk" unless its
 * own line is.
 *
 * Ownership: audit_open() returns a handle that owns the file, the lock
 * file and the audit key; audit_close() writes a last checkpoint and
 * frees it all.
 * Threads: the handle's mutex guards the queue and the "busy" token only;
 * the thread holding the token (a batch writer, a checkpoint, rotation)
 * alone touches the file and the chain state, without the mutex.  Any
 * number of threads may append through one handle; the JSON of a record
 * is built before it is queued.
 * Processes: every write (a batch, a checkpoint, rotation) takes an
 * exclusive flock(2) on audit.lock for its duration (up to its sync), and
 * first reads the tail again when audit.log is not where this handle left
 * it (another process appended or rotated): so the daemon and smimectl
 * append to one chain, each line's "prev" the hash of the line really
 * before it.
 */
#include "audit/audit_int.h"
#include "audit/audit_json.h"
#include "audit/audit_key.h"
#include "audit/audit_lines.h"
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

/* A record waiting to be written: the thread appending it owns it, in
 * the queue until a writer takes it; st and err are the writer's
 * answer, read by the owner once done is set (both under the mutex). */
typedef struct pending {
	struct pending *next;
	json_object *o;
	audit_status_t st;
	audit_err_t err;
	int done;
} pending_t;

struct audit {
	pthread_mutex_t mu;         /* guards busy and the queue */
	pthread_cond_t cv;          /* busy cleared or a record answered */
	int busy;                   /* a thread owns everything below */
	pending_t *queue;           /* oldest first */
	pending_t **queue_end;
	char *dir;
	char *path;                 /* dir/audit.log */
	int fd;                     /* -1 after a failed rotation */
	int lockfd;
	off_t size;                 /* where the next line starts */
	dev_t dev;                  /* of the file fd is open on */
	ino_t ino;
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
	char *head_path;            /* NULL: no head file */
	char *gap_note;             /* the gap record written at open, or NULL */
	int key_created;
	audit_checkpoint_fn on_cp;
	void *on_cp_arg;
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

/* ---- writing lines (token held) ---- */

/*
 * Appends len octets (whole lines) at a->size and syncs them.  A failed
 * write or sync is cut off again; when even that fails the handle
 * refuses every later write (the file ends in a partial line, which
 * audit_open() will not continue without AUDIT_RECOVER).
 */
static audit_status_t
commit(audit_t *a, const char *data, size_t len, audit_err_t *err)
{
	int e;

	if (a->broken)
		return util_err_set(err, AUDIT_ERR_IO, "%s: a failed write could not "
		    "be undone; the log must be reopened", a->path);
	if (util_write_all(a->fd, data, len) < 0 || fdatasync(a->fd) < 0) {
		e = errno;
		a->broken = ftruncate(a->fd, a->size) < 0;
		return util_err_set(err, AUDIT_ERR_IO, "cannot write %s: %s",
		    a->path, strerror(e));
	}
	a->size += (off_t)len;
	return AUDIT_OK;
}

/* Appends line (len octets, with room for one more) and a newline. */
static audit_status_t
write_line(audit_t *a, char *line, size_t len, audit_err_t *err)
{
	audit_status_t st;

	line[len] = '\n';
	st = commit(a, line, len + 1, err);
	line[len] = '\0';
	if (st != AUDIT_OK)
		return st;
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
		return util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
	}
	st = write_line(a, room, len, err);
	free(room);
	return st;
}

/* ---- the head file ---- */

audit_status_t
audit_head_read(const char *path, audit_head_t *h, audit_err_t *err)
{
	unsigned long long seq;
	unsigned char *data;
	char msg[AUDIT_ERR_MAX], hash[65];
	size_t len;
	int n = 0;

	memset(h, 0, sizeof(*h));
	if (util_secret_read(path, AUDIT_HEAD_MAX, &data, &len, msg, sizeof(msg)) != 0)
		return errno == ENOENT ? AUDIT_END : util_err_set(err, AUDIT_ERR_IO,
		    "audit head file %s", msg);
	if (sscanf((char *)data, "seq=%llu hash=%64[0-9a-f]\n%n", &seq, hash, &n) != 2
	    || strlen(hash) != 64 || (size_t)n != len) {
		util_secret_free(data, len);
		return util_err_set(err, AUDIT_ERR_CORRUPT, "%s: not an audit head "
		    "file (want \"seq=N hash=HEX\")", path);
	}
	util_secret_free(data, len);
	h->seq = seq;
	memcpy(h->hash, hash, sizeof(h->hash));
	return AUDIT_OK;
}

/* Replaces the head file with the last line's seq and hash (token held). */
static audit_status_t
write_head(audit_t *a, audit_err_t *err)
{
	char *tmp = NULL, *dir = NULL, line[128];
	int fd = -1, n, ok = 0;

	if (a->head_path == NULL)
		return AUDIT_OK;
	n = snprintf(line, sizeof(line), "seq=%llu hash=%s\n",
	    (unsigned long long)(a->seq - 1), a->prev);
	if (asprintf(&tmp, "%s.tmp", a->head_path) >= 0 && (dir = strdup(a->head_path)) != NULL
	    && (fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0600)) >= 0)
		ok = util_write_all(fd, line, (size_t)n) == 0 && fsync(fd) == 0;
	if (fd >= 0 && close(fd) != 0)
		ok = 0;
	if (ok && rename(tmp, a->head_path) == 0)
		sync_dir(dirname(dir));
	else {
		util_err_set(err, AUDIT_ERR_IO, "cannot write the audit head file %s: %s",
		    a->head_path, strerror(errno));
		if (tmp != NULL)
			unlink(tmp);
		ok = 0;
	}
	free(tmp);
	free(dir);
	return ok ? AUDIT_OK : AUDIT_ERR_IO;
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
		if (a->on_cp != NULL)
			a->on_cp(a->on_cp_arg, a->seq - 1, when, a->prev);
		st = write_head(a, err);
	}
	return st;
}

/* A file root made just now in the log directory goes to the directory's
 * owner (the service user the daemon writes as), else the daemon could
 * not open it after smimectl made it.  AUDIT_OK, or an error naming path. */
static audit_status_t
give_to_dir_owner(const char *dir, int fd, const struct stat *fst, const char *path,
    audit_err_t *err)
{
	struct stat dst;

	if (geteuid() == 0 && stat(dir, &dst) == 0
	    && (fst->st_uid != dst.st_uid || fst->st_gid != dst.st_gid)
	    && fchown(fd, dst.st_uid, dst.st_gid) != 0)
		return util_err_set(err, AUDIT_ERR_IO, "cannot give %s to the owner of %s: %s",
		    path, dir, strerror(errno));
	return AUDIT_OK;
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
		rc = util_err_set(err, AUDIT_ERR_IO, "cannot open %s: %s",
		    a->path, strerror(errno));
		close_log(a);
		return rc;
	}
	a->size = st.st_size;
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	if (a->size > 0)
		return AUDIT_OK;
	if ((rc = give_to_dir_owner(a->dir, a->fd, &st, a->path, err)) != AUDIT_OK) {
		close_log(a);
		return rc;
	}
	sync_dir(a->dir);
	rc = write_checkpoint(a, err);
	if (rc != AUDIT_OK)
		close_log(a);
	return rc;
}

static audit_status_t find_chain(audit_t *a, audit_err_t *err);

/* 1 when audit.log is still the file fd is open on, ending where this
 * handle last wrote. */
static int
tail_unchanged(const audit_t *a)
{
	struct stat st;

	return a->fd >= 0 && stat(a->path, &st) == 0 && st.st_dev == a->dev
	    && st.st_ino == a->ino && st.st_size == a->size;
}

/* The log open and this handle's seq and prev those of its last line,
 * read again when another process wrote since (flock held). */
static audit_status_t
ensure_open(audit_t *a, audit_err_t *err)
{
	audit_status_t st;

	if (tail_unchanged(a))
		return AUDIT_OK;
	close_log(a);
	if ((st = find_chain(a, err)) != AUDIT_OK)
		return st;
	return open_log(a, err);
}

/* The token: waits until no other thread writes, then owns the file
 * and the chain state. */
static void
take(audit_t *a)
{
	pthread_mutex_lock(&a->mu);
	while (a->busy)
		pthread_cond_wait(&a->cv, &a->mu);
	a->busy = 1;
	pthread_mutex_unlock(&a->mu);
}

static void
give(audit_t *a)
{
	pthread_mutex_lock(&a->mu);
	a->busy = 0;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

static void
flock_log(audit_t *a)
{
	while (flock(a->lockfd, LOCK_EX) < 0 && errno == EINTR)
		;
}

/* The token, then the log directory's lock (every writing process takes
 * it around each write). */
static void
lock_log(audit_t *a)
{
	take(a);
	flock_log(a);
}

static void
unlock_log(audit_t *a)
{
	(void)flock(a->lockfd, LOCK_UN);
	give(a);
}

/* ---- group commit ---- */

/* p's record with the chain's next seq and prev, as a line and a newline
 * at the end of b; the chain moves past it.  AUDIT_OK, or NOMEM. */
static audit_status_t
batch_add(audit_t *a, util_buf_t *b, pending_t *p)
{
	json_object *v;
	size_t len;
	char *line;

	if (!json_object_object_get_ex(p->o, "seq", &v) ||
	    !json_object_set_int64(v, (int64_t)a->seq) ||
	    !json_object_object_get_ex(p->o, "prev", &v) ||
	    !json_object_set_string(v, a->prev) ||
	    (line = audit_json_line(p->o, &len, &p->err)) == NULL)
		return util_err_set(&p->err, AUDIT_ERR_NOMEM, "out of memory");
	if (util_buf_add(b, line, len) < 0 || util_buf_addc(b, '\n') < 0) {
		free(line);
		return util_err_set(&p->err, AUDIT_ERR_NOMEM, "out of memory");
	}
	audit_sha256_hex(line, len, a->prev);
	a->seq++;
	free(line);
	return AUDIT_OK;
}

/* Every record of the batch whose line was made fails with err. */
static void
batch_fail(pending_t *batch, const audit_err_t *err)
{
	pending_t *p;

	for (p = batch; p != NULL; p = p->next)
		if (p->st == AUDIT_OK) {
			p->st = (audit_status_t)err->code;
			p->err = *err;
		}
}

/* Writes the batch (token held): one write, one sync for all its lines.
 * Each record's st and err say how it went. */
static void
batch_write(audit_t *a, pending_t *batch)
{
	char prev[65];
	uint64_t seq, n = 0;
	audit_err_t err;
	util_buf_t b;
	pending_t *p;

	util_err_clear(&err);
	flock_log(a);
	err.code = ensure_open(a, &err);
	if (err.code != AUDIT_OK) {
		batch_fail(batch, &err);
		(void)flock(a->lockfd, LOCK_UN);
		return;
	}
	seq = a->seq;
	memcpy(prev, a->prev, sizeof(prev));
	util_buf_init(&b, (size_t)-1);
	for (p = batch; p != NULL; p = p->next)
		if ((p->st = batch_add(a, &b, p)) == AUDIT_OK)
			n++;
	if (n > 0 && commit(a, b.data, b.len, &err) != AUDIT_OK) {
		a->seq = seq;
		memcpy(a->prev, prev, sizeof(prev));
		batch_fail(batch, &err);
	} else if (n > 0) {
		a->last_is_cp = 0;
		a->since_cp += n;
		if (a->since_cp >= a->every && a->every > 0)
			(void)write_checkpoint(a, NULL);
	}
	util_buf_free(&b);
	(void)flock(a->lockfd, LOCK_UN);
}

/* Answers the batch (mutex held): its owners may return from now on. */
static void
batch_done(pending_t *batch)
{
	pending_t *p, *next;

	for (p = batch; p != NULL; p = next) {
		next = p->next;
		p->done = 1;
	}
}

/* Queues the records first..last (linked by next) at once and waits for
 * their answer, writing a batch (theirs and whatever else is queued)
 * whenever nobody else is.  A batch takes the whole queue, so they are
 * answered together: last done means all are. */
static void
queue_and_wait(audit_t *a, pending_t *first, pending_t *last)
{
	pending_t *batch;

	pthread_mutex_lock(&a->mu);
	*a->queue_end = first;
	a->queue_end = &last->next;
	while (!last->done) {
		if (a->busy) {
			pthread_cond_wait(&a->cv, &a->mu);
			continue;
		}
		a->busy = 1;
		batch = a->queue;
		a->queue = NULL;
		a->queue_end = &a->queue;
		pthread_mutex_unlock(&a->mu);
		batch_write(a, batch);
		pthread_mutex_lock(&a->mu);
		batch_done(batch);
		a->busy = 0;
		pthread_cond_broadcast(&a->cv);
	}
	pthread_mutex_unlock(&a->mu);
}

/* ---- entry points ---- */

/* The records' JSON in p[0..n-1], linked in order.  0, or -1 with err
 * set (the ones made are freed by pending_free). */
static int
pending_make(audit_t *a, const audit_record_t *recs, size_t n, pending_t *p,
    audit_err_t *err)
{
	for (size_t i = 0; i < n; i++) {
		p[i].o = audit_json_record(&recs[i], a->now(a->now_arg), a->flags, 1,
		    AUDIT_ZERO_HASH, err);
		if (p[i].o == NULL)
			return -1;
		p[i].next = i + 1 < n ? &p[i + 1] : NULL;
	}
	return 0;
}

static void
pending_free(pending_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_object_put(p[i].o);
}

/* Queues p[0..n-1] (made), waits, and gives the first failure. */
static audit_status_t
pending_append(audit_t *a, pending_t *p, size_t n, audit_err_t *err)
{
	size_t i;

	queue_and_wait(a, &p[0], &p[n - 1]);
	for (i = 0; i < n - 1 && p[i].st == AUDIT_OK; i++)
		;
	if (err != NULL)
		*err = p[i].err;
	return p[i].st;
}

audit_status_t
audit_append(audit_t *a, const audit_record_t *rec, audit_err_t *err)
{
	return audit_append_all(a, rec, rec != NULL ? 1 : 0, err);
}

audit_status_t
audit_append_all(audit_t *a, const audit_record_t *recs, size_t n,
    audit_err_t *err)
{
	pending_t one, *p = &one;
	audit_status_t st;

	if (a == NULL || recs == NULL)
		return util_err_set(err, AUDIT_ERR_USAGE, "audit_append without a log or record");
	if (n == 0)
		return AUDIT_OK;
	memset(&one, 0, sizeof(one));
	if (n > 1 && (p = calloc(n, sizeof(*p))) == NULL)
		return util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
	if (pending_make(a, recs, n, p, err) != 0)
		st = err ? (audit_status_t)err->code : AUDIT_ERR_NOMEM;
	else
		st = pending_append(a, p, n, err);
	pending_free(p, n);
	if (p != &one)
		free(p);
	return st;
}

audit_status_t
audit_checkpoint(audit_t *a, audit_err_t *err)
{
	audit_status_t st;

	if (a == NULL)
		return util_err_set(err, AUDIT_ERR_USAGE, "audit_checkpoint without a log");
	lock_log(a);
	st = ensure_open(a, err);
	if (st == AUDIT_OK && !a->last_is_cp)
		st = write_checkpoint(a, err);
	unlock_log(a);
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
			return util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
		r = renameat2(AT_FDCWD, path, AT_FDCWD, to, RENAME_NOREPLACE);
		free(to);
		if (r == 0) {
			sync_dir(dir);
			return AUDIT_OK;
		}
		if (errno != EEXIST)
			break;
	}
	return util_err_set(err, AUDIT_ERR_IO, "cannot rename %s: %s", path,
	    strerror(errno));
}

audit_status_t
audit_rotate(audit_t *a, audit_err_t *err)
{
	audit_status_t st;

	if (a == NULL)
		return util_err_set(err, AUDIT_ERR_USAGE, "audit_rotate without a log");
	lock_log(a);
	st = ensure_open(a, err);
	if (st == AUDIT_OK && !a->last_is_cp)
		st = write_checkpoint(a, err);
	if (st == AUDIT_OK)
		st = rename_aside(a->dir, a->path, a->now(a->now_arg), "", err);
	if (st == AUDIT_OK) {
		close_log(a);
		st = open_log(a, err);
	}
	unlock_log(a);
	return st;
}

void
audit_set_checkpoint_every(audit_t *a, unsigned n)
{
	take(a);
	a->every = n;
	give(a);
}

void
audit_set_clock(audit_t *a, time_t (*now)(void *arg), void *arg)
{
	take(a);
	a->now = now ? now : clock_now;
	a->now_arg = arg;
	give(a);
}

static void
audit_free(audit_t *a)
{
	if (a->fd >= 0)
		close(a->fd);
	if (a->lockfd >= 0)
		close(a->lockfd);
	EVP_PKEY_free(a->key);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a->dir);
	free(a->path);
	free(a->head_path);
	free(a->gap_note);
	free(a);
}

audit_status_t
audit_close(audit_t *a, audit_err_t *err)
{
	audit_status_t st = AUDIT_OK;

	if (a == NULL)
		return AUDIT_OK;
	if (a->fd >= 0) {
		lock_log(a);
		st = ensure_open(a, err);
		if (st == AUDIT_OK && !a->last_is_cp)
			st = write_checkpoint(a, err);
		unlock_log(a);
	}
	audit_free(a);
	return st;
}

/* ---- opening ---- */

static audit_status_t
check_dir(const char *dir, int create, audit_err_t *err)
{
	struct stat st;

	if (create && mkdir(dir, 0700) < 0 && errno != EEXIST)
		return util_err_set(err, AUDIT_ERR_IO, "cannot create %s: %s",
		    dir, strerror(errno));
	if (stat(dir, &st) < 0)
		return util_err_set(err, AUDIT_ERR_IO, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return util_err_set(err, AUDIT_ERR_IO, "%s: not a directory", dir);
	if (st.st_mode & 022)
		return util_err_set(err, AUDIT_ERR_PERM,
		    "%s: the audit directory is writable by others (mode %03o)",
		    dir, (unsigned)(st.st_mode & 0777));
	return AUDIT_OK;
}

static audit_status_t
take_lock(audit_t *a, audit_err_t *err)
{
	struct stat st;
	char *path;
	audit_status_t rc;

	if (asprintf(&path, "%s/%s", a->dir, AUDIT_LOCK_NAME) < 0)
		return util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
	a->lockfd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (a->lockfd < 0 || fstat(a->lockfd, &st) < 0) {
		util_err_set(err, AUDIT_ERR_IO, "cannot open %s: %s", path, strerror(errno));
		free(path);
		return AUDIT_ERR_IO;
	}
	rc = give_to_dir_owner(a->dir, a->lockfd, &st, path, err);
	free(path);
	return rc;
}

static audit_status_t
open_key(audit_t *a, const char *key_file, EVP_PKEY *given, int create,
    audit_err_t *err)
{
	char *kf = NULL, *pub = NULL, *tmp = NULL;
	audit_status_t st = AUDIT_ERR_NOMEM;

	if ((key_file ? (kf = strdup(key_file)) == NULL :
	    asprintf(&kf, "%s/%s", a->dir, AUDIT_KEY_NAME) < 0) ||
	    (tmp = strdup(kf)) == NULL ||
	    asprintf(&pub, "%s/%s", dirname(tmp), AUDIT_PUB_NAME) < 0) {
		pub = NULL;
		util_err_set(err, st, "out of memory");
	} else
		st = audit_key_open(kf, pub, create, given, &a->key, &a->key_created, err);
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
		return util_err_set(err, AUDIT_ERR_CORRUPT,
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
			st = util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
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
		return util_err_set(err, AUDIT_ERR_CORRUPT,
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

/*
 * Compares the head file with where the files end (a->seq - 1, a->prev):
 * fewer lines than it sealed, or another line at its seq, is a gap, its
 * words kept in a->gap_note.  More lines is fine (records after the last
 * checkpoint, or a crash before the head was written).
 */
static audit_status_t
check_head(audit_t *a, audit_err_t *err)
{
	audit_head_t h;
	audit_status_t st;
	uint64_t last = a->seq - 1;
	int r = 0;

	if (a->head_path == NULL || (st = audit_head_read(a->head_path, &h, err)) == AUDIT_END)
		return AUDIT_OK;
	if (st != AUDIT_OK)
		return st;
	if (last < h.seq)
		r = asprintf(&a->gap_note, "lines the gateway wrote are gone: the log "
		    "ends at seq %llu, but it had sealed seq %llu (hash %.16s...) "
		    "before it last stopped (%s removed or cut)", (unsigned long long)last,
		    (unsigned long long)h.seq, h.hash, AUDIT_LOG_NAME);
	else if (last == h.seq && strcmp(a->prev, h.hash) != 0)
		r = asprintf(&a->gap_note, "the log was replaced: its last line, seq "
		    "%llu, is not the one the gateway wrote (hash %.16s...)",
		    (unsigned long long)last, h.hash);
	if (r < 0) {
		a->gap_note = NULL;
		return util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
	}
	return AUDIT_OK;
}

/* The gap found at open, as a record, sealed at once. */
static audit_status_t
record_gap(audit_t *a, audit_err_t *err)
{
	audit_record_t rec;
	audit_status_t st;

	if (a->gap_note == NULL)
		return AUDIT_OK;
	memset(&rec, 0, sizeof(rec));
	rec.action = AUDIT_GAP;
	rec.reason = a->gap_note;
	st = audit_append(a, &rec, err);
	return st == AUDIT_OK ? audit_checkpoint(a, err) : st;
}

audit_t *
audit_open(const char *dir, const char *key_file, int flags, audit_err_t *err)
{
	audit_options_t o = { key_file, NULL, NULL, NULL, NULL };

	return audit_open_ex(dir, &o, flags, err);
}

const char *
audit_gap_note(const audit_t *a)
{
	return a->gap_note;
}

const char *
audit_key_fingerprint(const audit_t *a)
{
	return a->keyid;
}

int
audit_key_created(const audit_t *a)
{
	return a->key_created;
}

audit_t *
audit_open_ex(const char *dir, const audit_options_t *opts, int flags,
    audit_err_t *err)
{
	static const audit_options_t none = { NULL, NULL, NULL, NULL, NULL };
	audit_t *a;
	audit_status_t st;

	if (opts == NULL)
		opts = &none;
	if (dir == NULL) {
		util_err_set(err, AUDIT_ERR_USAGE, "no audit directory");
		return NULL;
	}
	st = check_dir(dir, flags & AUDIT_CREATE, err);
	if (st != AUDIT_OK || (a = calloc(1, sizeof(*a))) == NULL) {
		if (st == AUDIT_OK)
			util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	a->queue_end = &a->queue;
	a->fd = a->lockfd = -1;
	a->flags = flags;
	a->every = AUDIT_CHECKPOINT_EVERY;
	a->now = clock_now;
	a->on_cp = opts->on_checkpoint;
	a->on_cp_arg = opts->arg;
	if ((a->dir = strdup(dir)) == NULL ||
	    asprintf(&a->path, "%s/%s", dir, AUDIT_LOG_NAME) < 0) {
		a->path = NULL;
		st = util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
	} else if (opts->head_file != NULL && (a->head_path = strdup(opts->head_file)) == NULL)
		st = util_err_set(err, AUDIT_ERR_NOMEM, "out of memory");
	if (st == AUDIT_OK)
		st = take_lock(a, err);
	if (st == AUDIT_OK)
		st = open_key(a, opts->key_file, opts->key, flags & AUDIT_CREATE, err);
	if (st == AUDIT_OK) {
		lock_log(a);
		st = find_chain(a, err);
		if (st == AUDIT_OK)
			st = check_head(a, err);
		if (st == AUDIT_OK)
			st = open_log(a, err);
		unlock_log(a);
	}
	if (st == AUDIT_OK)
		st = record_gap(a, err);
	if (st != AUDIT_OK) {
		audit_free(a);
		return NULL;
	}
	return a;
}
