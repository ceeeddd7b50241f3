/*
 * queue.c: the durable spool (see queue.h): write, list, read, move,
 * remove, recovery of what a crash left half written, the records of
 * copies handed on (sent/, back/).
 */
#include "queue/queue.h"
#include "util/util.h"
#include "util/util_buf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "smimegate-spool 1\n"
#define HDR_MAX 65536           /* an envelope's lines, at most */

struct queue {
	char *dir;
};

static const char *const state_dir[] = { "active", "hold" };

const char *
queue_state_name(queue_state_t st)
{
	return st == QUEUE_HOLD ? "hold" : "active";
}

static queue_status_t
fail(char *err, size_t errlen, queue_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static queue_status_t
fail(char *err, size_t errlen, queue_status_t st, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return st;
}

/* An ID is what queue_put() makes: hex digits and dots. */
static int
id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n >= QUEUE_ID_MAX)
		return 0;
	return strspn(id, "0123456789abcdef.") == n && id[0] != '.';
}

static char *
path_of(const queue_t *q, const char *sub, const char *id)
{
	char *p;

	if (asprintf(&p, "%s/%s%s%s", q->dir, sub, id ? "/" : "", id ? id : "") < 0)
		return NULL;
	return p;
}

static int
dir_sync(const queue_t *q, const char *sub)
{
	char *p = path_of(q, sub, NULL);
	int fd, rc = -1;

	if (p != NULL && (fd = open(p, O_RDONLY | O_DIRECTORY)) >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(p);
	return rc;
}

/* Recovery: a held entry whose successor (queue_succeed(), the same ID)
 * is already in active/ was replaced when the crash came; it goes. */
static size_t
drop_succeeded(queue_t *q)
{
	char *p = path_of(q, state_dir[QUEUE_HOLD], NULL), *held, *active;
	DIR *d = p ? opendir(p) : NULL;
	struct dirent *de;
	struct stat sb;
	size_t n = 0;

	while (d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		held = path_of(q, state_dir[QUEUE_HOLD], de->d_name);
		active = path_of(q, state_dir[QUEUE_ACTIVE], de->d_name);
		if (held != NULL && active != NULL && stat(active, &sb) == 0)
			n += unlink(held) == 0;
		free(held);
		free(active);
	}
	if (d != NULL)
		closedir(d);
	free(p);
	if (n > 0)
		(void)dir_sync(q, state_dir[QUEUE_HOLD]);
	return n;
}

queue_status_t
queue_open(const char *dir, queue_t **qp, size_t *nrecovered, char *err, size_t errlen)
{
	static const char *const subs[] = { "tmp", "active", "hold", "sent", "back", "clear" };
	queue_t *q = calloc(1, sizeof(*q));
	DIR *d;
	struct dirent *de;
	size_t n = 0;

	*qp = NULL;
	if (nrecovered != NULL)
		*nrecovered = 0;
	if (q == NULL || (q->dir = strdup(dir)) == NULL) {
		free(q);
		return fail(err, errlen, QUEUE_ERR_NOMEM, "out of memory");
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		queue_close(q);
		return fail(err, errlen, QUEUE_ERR_IO, "%s: %s", dir, strerror(errno));
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		char *p = path_of(q, subs[i], NULL);

		if (p == NULL || (mkdir(p, 0700) != 0 && errno != EEXIST)) {
			queue_status_t st = fail(err, errlen, p ? QUEUE_ERR_IO : QUEUE_ERR_NOMEM,
			    "%s: %s", p ? p : dir, p ? strerror(errno) : "out of memory");
			free(p);
			queue_close(q);
			return st;
		}
		free(p);
	}
	/* Half-written entries: the milter never answered for them. */
	if (nrecovered != NULL) {
		char *p = path_of(q, "tmp", NULL);

		d = p ? opendir(p) : NULL;
		while (d != NULL && (de = readdir(d)) != NULL) {
			char *f;

			if (de->d_name[0] == '.' || (f = path_of(q, "tmp", de->d_name)) == NULL)
				continue;
			n += unlink(f) == 0;
			free(f);
		}
		if (d != NULL)
			closedir(d);
		free(p);
	}
	if (n > 0)
		(void)dir_sync(q, "tmp");
	if (nrecovered != NULL)
		n += drop_succeeded(q);
	if (nrecovered != NULL)
		*nrecovered = n;
	*qp = q;
	return QUEUE_OK;
}

void
queue_close(queue_t *q)
{
	if (q == NULL)
		return;
	free(q->dir);
	free(q);
}

void
queue_new_id(char id[QUEUE_ID_MAX])
{
	unsigned char r[6] = { 0 };
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		memset(r, 0, sizeof(r));
	snprintf(id, QUEUE_ID_MAX, "%010llx.%08lx.%02x%02x%02x%02x%02x%02x",
	    (unsigned long long)ts.tv_sec, (unsigned long)ts.tv_nsec,
	    r[0], r[1], r[2], r[3], r[4], r[5]);
}

static int
bad_value(const char *v)
{
	return v != NULL && strpbrk(v, "\r\n") != NULL;
}

/* Appends "name: value\n" when value is not NULL. */
static void
env_put(util_buf_t *b, const char *name, const char *value)
{
	if (value != NULL)
		util_buf_printf(b, "%s: %s\n", name, value);
}

/* The envelope lines into b (at most HDR_MAX octets, what queue_open()
 * reads back); 0, or -1 with errno ENOMEM or EMSGSIZE. */
static int
env_text(const queue_env_t *env, util_buf_t *b)
{
	util_buf_init(b, HDR_MAX);
	util_buf_printf(b, "%sCreated: %lld\n", MAGIC, (long long)time(NULL));
	env_put(b, "Sender", env->sender ? env->sender : "");
	for (size_t i = 0; i < env->nrcpts; i++)
		env_put(b, "Rcpt", env->rcpts[i]);
	env_put(b, "Form", env->form);
	env_put(b, "Reason", env->reason);
	env_put(b, "Origin", env->origin);
	env_put(b, "Login", env->login);
	env_put(b, "Client", env->client);
	return util_buf_addc(b, '\n');
}

/* queue_put's writer: the data from memory. */
struct mem_data { const void *data; size_t len; };

static int
mem_writer(int fd, void *arg)
{
	const struct mem_data *d = arg;

	return util_write_all(fd, d->data, d->len);
}

queue_status_t
queue_put(queue_t *q, const queue_env_t *env, const void *data, size_t len,
    queue_state_t st, char id[QUEUE_ID_MAX], char *err, size_t errlen)
{
	struct mem_data d = { data, len };

	return queue_put_with(q, env, mem_writer, &d, st, id, err, errlen);
}

/* Writes tmp/ID (envelope, then what fn writes), fsyncs it and renames it
 * to state st; *dst gets the final path. */
static queue_status_t
put_file(queue_t *q, const queue_env_t *env, queue_writer_fn fn, void *arg,
    queue_state_t st, const char *id, char *err, size_t errlen)
{
	char *tmp = NULL, *dst = NULL;
	util_buf_t hdr;
	queue_status_t rc = QUEUE_OK;
	int fd;

	if (bad_value(env->sender) || bad_value(env->form) || bad_value(env->reason)
	    || bad_value(env->origin) || bad_value(env->login) || bad_value(env->client)
	    || env->nrcpts == 0 || (st != QUEUE_ACTIVE && st != QUEUE_HOLD))
		return fail(err, errlen, QUEUE_ERR_ARG, "an envelope value with a line break, "
		    "or no recipient");
	for (size_t i = 0; i < env->nrcpts; i++)
		if (env->rcpts[i] == NULL || env->rcpts[i][0] == '\0' || bad_value(env->rcpts[i]))
			return fail(err, errlen, QUEUE_ERR_ARG, "a bad recipient");
	if (!id_ok(id))
		return fail(err, errlen, QUEUE_ERR_ARG, "%.60s: not a spool ID", id);
	if (env_text(env, &hdr) != 0) {
		util_buf_free(&hdr);
		if (errno == EMSGSIZE)
			return fail(err, errlen, QUEUE_ERR_ARG, "an envelope of more than "
			    "%d octets", HDR_MAX);
		return fail(err, errlen, QUEUE_ERR_NOMEM, "out of memory");
	}
	tmp = path_of(q, "tmp", id);
	dst = path_of(q, state_dir[st], id);
	if (tmp == NULL || dst == NULL) {
		rc = fail(err, errlen, QUEUE_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		rc = fail(err, errlen, QUEUE_ERR_IO, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (util_write_all(fd, hdr.data, hdr.len) != 0 || fn(fd, arg) != 0 || fsync(fd) != 0) {
		rc = fail(err, errlen, QUEUE_ERR_IO, "%s: %s", tmp, errno ? strerror(errno)
		    : "the data could not be made");
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) != 0 || rename(tmp, dst) != 0 || dir_sync(q, state_dir[st]) != 0) {
		rc = fail(err, errlen, QUEUE_ERR_IO, "%s: %s", dst, strerror(errno));
		unlink(tmp);
	}
out:
	util_buf_free(&hdr);
	free(tmp);
	free(dst);
	return rc;
}

queue_status_t
queue_put_with(queue_t *q, const queue_env_t *env, queue_writer_fn fn, void *arg,
    queue_state_t st, char id[QUEUE_ID_MAX], char *err, size_t errlen)
{
	if (id[0] == '\0')
		queue_new_id(id);
	errno = 0;
	return put_file(q, env, fn, arg, st, id, err, errlen);
}

queue_status_t
queue_succeed(queue_t *q, const char *id, const queue_env_t *env, queue_writer_fn fn,
    void *arg, char *err, size_t errlen)
{
	char *held;
	queue_status_t rc;
	struct stat sb;

	if (!id_ok(id))
		return fail(err, errlen, QUEUE_ERR_ARG, "%.60s: not a spool ID", id);
	if ((held = path_of(q, state_dir[QUEUE_HOLD], id)) == NULL)
		return fail(err, errlen, QUEUE_ERR_NOMEM, "out of memory");
	if (stat(held, &sb) != 0) {
		free(held);
		return fail(err, errlen, QUEUE_ERR_NOENT, "%s: not held", id);
	}
	errno = 0;
	rc = put_file(q, env, fn, arg, QUEUE_ACTIVE, id, err, errlen);
	if (rc == QUEUE_OK && (unlink(held) != 0 || dir_sync(q, state_dir[QUEUE_HOLD]) != 0))
		rc = fail(err, errlen, QUEUE_ERR_IO, "%s: %s", held, strerror(errno));
	free(held);
	return rc;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
queue_ids_free(char **ids, size_t n)
{
	for (size_t i = 0; ids != NULL && i < n; i++)
		free(ids[i]);
	free(ids);
}

queue_status_t
queue_list(queue_t *q, queue_state_t st, char ***ids, size_t *n, char *err, size_t errlen)
{
	char *p = path_of(q, state_dir[st == QUEUE_HOLD], NULL);
	DIR *d = p ? opendir(p) : NULL;
	struct dirent *de;
	char **v = NULL;
	size_t cnt = 0, cap = 0;

	*ids = NULL;
	*n = 0;
	if (d == NULL) {
		queue_status_t rc = fail(err, errlen, QUEUE_ERR_IO, "%s: %s", p ? p : q->dir,
		    strerror(errno));
		free(p);
		return rc;
	}
	free(p);
	while ((de = readdir(d)) != NULL) {
		if (!id_ok(de->d_name))
			continue;
		if (cnt == cap) {
			char **nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));

			if (nv == NULL)
				goto nomem;
			v = nv;
		}
		if ((v[cnt] = strdup(de->d_name)) == NULL)
			goto nomem;
		cnt++;
	}
	closedir(d);
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), cmp_str);
	*ids = v;
	*n = cnt;
	return QUEUE_OK;
nomem:
	closedir(d);
	queue_ids_free(v, cnt);
	return fail(err, errlen, QUEUE_ERR_NOMEM, "out of memory");
}

void
queue_entry_free(queue_entry_t *e)
{
	if (e == NULL)
		return;
	if (e->fd >= 0)
		close(e->fd);
	free(e->sender);
	for (size_t i = 0; i < e->nrcpts; i++)
		free(e->rcpts[i]);
	free(e->rcpts);
	free(e->form);
	free(e->reason);
	free(e->origin);
	free(e->login);
	free(e->client);
	memset(e, 0, sizeof(*e));
	e->fd = -1;
}

/* Takes one "Key: value" line of the envelope. */
static int
env_line(queue_entry_t *e, const char *line)
{
	const char *v = strchr(line, ':');
	char *dup;

	if (v == NULL || v[1] != ' ')
		return -1;
	v += 2;
	if (strncmp(line, "Created:", 8) == 0) {
		e->created = (time_t)strtoll(v, NULL, 10);
		return 0;
	}
	if ((dup = strdup(v)) == NULL)
		return -1;
	if (strncmp(line, "Rcpt:", 5) == 0) {
		char **nv = realloc(e->rcpts, (e->nrcpts + 1) * sizeof(*nv));

		if (nv == NULL)
			return free(dup), -1;
		e->rcpts = nv;
		e->rcpts[e->nrcpts++] = dup;
		return 0;
	}
	char **slot = strncmp(line, "Sender:", 7) == 0 ? &e->sender
	    : strncmp(line, "Form:", 5) == 0 ? &e->form
	    : strncmp(line, "Reason:", 7) == 0 ? &e->reason
	    : strncmp(line, "Origin:", 7) == 0 ? &e->origin
	    : strncmp(line, "Login:", 6) == 0 ? &e->login
	    : strncmp(line, "Client:", 7) == 0 ? &e->client : NULL;
	if (slot == NULL) {
		free(dup);              /* a later version's key: ignored */
		return 0;
	}
	free(*slot);
	*slot = dup;
	return 0;
}

/* Parses the envelope at the start of buf (n octets). */
static int
env_parse(queue_entry_t *e, char *buf, size_t n)
{
	size_t off = strlen(MAGIC);

	if (n < off || memcmp(buf, MAGIC, off) != 0)
		return -1;
	while (off < n) {
		char *nl = memchr(buf + off, '\n', n - off);

		if (nl == NULL)
			return -1;
		if (nl == buf + off) {
			e->body_off = (long long)(off + 1);
			break;
		}
		*nl = '\0';
		if (env_line(e, buf + off) != 0)
			return -1;
		off = (size_t)(nl - buf) + 1;
	}
	if (e->body_off == 0 || e->nrcpts == 0)
		return -1;
	if (e->sender == NULL && (e->sender = strdup("")) == NULL)
		return -1;
	if ((e->form == NULL && (e->form = strdup("")) == NULL)
	    || (e->reason == NULL && (e->reason = strdup("")) == NULL)
	    || (e->origin == NULL && (e->origin = strdup("")) == NULL)
	    || (e->login == NULL && (e->login = strdup("")) == NULL)
	    || (e->client == NULL && (e->client = strdup("")) == NULL))
		return -1;
	return 0;
}

queue_status_t
queue_get(queue_t *q, const char *id, queue_entry_t *e, char *err, size_t errlen)
{
	char *buf;
	struct stat sb;
	ssize_t n;

	memset(e, 0, sizeof(*e));
	e->fd = -1;
	if (!id_ok(id))
		return fail(err, errlen, QUEUE_ERR_ARG, "%.60s: not a spool ID", id);
	for (int st = QUEUE_ACTIVE; st <= QUEUE_HOLD && e->fd < 0; st++) {
		char *p = path_of(q, state_dir[st], id);

		if (p == NULL)
			return fail(err, errlen, QUEUE_ERR_NOMEM, "out of memory");
		e->fd = open(p, O_RDONLY | O_CLOEXEC);
		e->state = (queue_state_t)st;
		free(p);
	}
	if (e->fd < 0)
		return fail(err, errlen, QUEUE_ERR_NOENT, "%s: no such spool entry", id);
	snprintf(e->id, sizeof(e->id), "%s", id);
	if (fstat(e->fd, &sb) != 0 || (buf = malloc(HDR_MAX)) == NULL) {
		queue_entry_free(e);
		return fail(err, errlen, QUEUE_ERR_IO, "%s: %s", id, strerror(errno));
	}
	n = pread(e->fd, buf, HDR_MAX, 0);
	if (n <= 0 || env_parse(e, buf, (size_t)n) != 0) {
		free(buf);
		queue_entry_free(e);
		return fail(err, errlen, QUEUE_ERR_FORMAT, "%s: not a spool entry", id);
	}
	free(buf);
	e->body_len = (long long)sb.st_size - e->body_off;
	return QUEUE_OK;
}

long long
queue_entry_read(const queue_entry_t *e, long long off, void *buf, size_t len)
{
	ssize_t n;

	if (off >= e->body_len)
		return 0;
	if ((long long)len > e->body_len - off)
		len = (size_t)(e->body_len - off);
	do
		n = pread(e->fd, buf, len, e->body_off + off);
	while (n < 0 && errno == EINTR);
	return n;
}

queue_status_t
queue_move(queue_t *q, const char *id, queue_state_t to, char *err, size_t errlen)
{
	queue_state_t from = to == QUEUE_HOLD ? QUEUE_ACTIVE : QUEUE_HOLD;
	char *src, *dst;
	queue_status_t rc = QUEUE_OK;

	if (!id_ok(id))
		return fail(err, errlen, QUEUE_ERR_ARG, "%.60s: not a spool ID", id);
	src = path_of(q, state_dir[from], id);
	dst = path_of(q, state_dir[to], id);
	if (src == NULL || dst == NULL)
		rc = fail(err, errlen, QUEUE_ERR_NOMEM, "out of memory");
	else if (rename(src, dst) != 0)
		rc = fail(err, errlen, errno == ENOENT ? QUEUE_ERR_NOENT : QUEUE_ERR_IO,
		    "%s: not in %s: %s", id, state_dir[from], strerror(errno));
	else if (dir_sync(q, state_dir[to]) != 0 || dir_sync(q, state_dir[from]) != 0)
		rc = fail(err, errlen, QUEUE_ERR_IO, "%s: fsync: %s", id, strerror(errno));
	free(src);
	free(dst);
	return rc;
}

queue_status_t
queue_remove(queue_t *q, const char *id, char *err, size_t errlen)
{
	if (!id_ok(id))
		return fail(err, errlen, QUEUE_ERR_ARG, "%.60s: not a spool ID", id);
	for (int st = QUEUE_ACTIVE; st <= QUEUE_HOLD; st++) {
		char *p = path_of(q, state_dir[st], id);
		int r;

		if (p == NULL)
			return fail(err, errlen, QUEUE_ERR_NOMEM, "out of memory");
		r = unlink(p);
		free(p);
		if (r == 0)
			return dir_sync(q, state_dir[st]) == 0 ? QUEUE_OK
			    : fail(err, errlen, QUEUE_ERR_IO, "%s: fsync: %s", id, strerror(errno));
		if (errno != ENOENT)
			return fail(err, errlen, QUEUE_ERR_IO, "%s: %s", id, strerror(errno));
	}
	return fail(err, errlen, QUEUE_ERR_NOENT, "%s: no such spool entry", id);
}

/* ---- records of copies handed on (sent/) ---- */

/* stat() of sub/id: 1 there, 0 absent, -1 error; *mtime when there. */
static int
there(const queue_t *q, const char *sub, const char *id, time_t *mtime)
{
	char *p = path_of(q, sub, id);
	struct stat sb;
	int r;

	if (p == NULL)
		return errno = ENOMEM, -1;
	r = stat(p, &sb) == 0 ? 1 : errno == ENOENT ? 0 : -1;
	free(p);
	if (r == 1 && mtime != NULL)
		*mtime = sb.st_mtime;
	return r;
}

int
queue_seen(queue_t *q, const char *id, long long max_age, char *err, size_t errlen)
{
	time_t when = 0;
	int r;

	if (!id_ok(id))
		return fail(err, errlen, QUEUE_ERR_ARG, "%.60s: not a spool ID", id), -1;
	for (int st = QUEUE_ACTIVE; st <= QUEUE_HOLD; st++)
		if ((r = there(q, state_dir[st], id, NULL)) != 0)
			goto out;
	if ((r = there(q, "sent", id, &when)) == 1 && (long long)(time(NULL) - when) >= max_age)
		r = 0;          /* too old to count; queue_prune_sent() removes it */
out:
	if (r < 0)
		fail(err, errlen, QUEUE_ERR_IO, "%s: %s", id, strerror(errno));
	return r;
}

/* Makes (or renews the time of) the empty file sub/id, durably. */
static queue_status_t
record(queue_t *q, const char *sub, const char *id, char *err, size_t errlen)
{
	char *p;
	int fd;

	if (!id_ok(id))
		return fail(err, errlen, QUEUE_ERR_ARG, "%.60s: not a spool ID", id);
	if ((p = path_of(q, sub, id)) == NULL)
		return fail(err, errlen, QUEUE_ERR_NOMEM, "out of memory");
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || futimens(fd, NULL) != 0 || close(fd) != 0 || dir_sync(q, sub) != 0) {
		queue_status_t rc = fail(err, errlen, QUEUE_ERR_IO, "%s: %s", p, strerror(errno));

		if (fd >= 0)
			close(fd);
		free(p);
		return rc;
	}
	free(p);
	return QUEUE_OK;
}

/* Removes the record sub/id, durably; absent is fine. */
static queue_status_t
unrecord(queue_t *q, const char *sub, const char *id, char *err, size_t errlen)
{
	char *p;

	if (!id_ok(id))
		return fail(err, errlen, QUEUE_ERR_ARG, "%.60s: not a spool ID", id);
	if ((p = path_of(q, sub, id)) == NULL)
		return fail(err, errlen, QUEUE_ERR_NOMEM, "out of memory");
	if ((unlink(p) != 0 && errno != ENOENT) || dir_sync(q, sub) != 0) {
		queue_status_t rc = fail(err, errlen, QUEUE_ERR_IO, "%s: %s", p, strerror(errno));

		free(p);
		return rc;
	}
	free(p);
	return QUEUE_OK;
}

queue_status_t
queue_sent(queue_t *q, const char *id, char *err, size_t errlen)
{
	queue_status_t rc = unrecord(q, "back", id, err, errlen);

	return rc == QUEUE_OK ? record(q, "sent", id, err, errlen) : rc;
}

/* The records a caller may make with queue_note(). */
static int
note_kind_ok(const char *kind)
{
	return strcmp(kind, "clear") == 0;
}

queue_status_t
queue_note(queue_t *q, const char *kind, const char *id, char *err, size_t errlen)
{
	if (!note_kind_ok(kind))
		return fail(err, errlen, QUEUE_ERR_ARG, "%.20s: not a kind of record", kind);
	return record(q, kind, id, err, errlen);
}

int
queue_noted(queue_t *q, const char *kind, const char *id)
{
	return note_kind_ok(kind) && id_ok(id) && there(q, kind, id, NULL) == 1;
}

queue_status_t
queue_unsent(queue_t *q, const char *id, char *err, size_t errlen)
{
	return unrecord(q, "sent", id, err, errlen);
}

int
queue_back_claim(queue_t *q, const char *id, char *err, size_t errlen)
{
	char *p;
	int fd, r;

	if (!id_ok(id))
		return fail(err, errlen, QUEUE_ERR_ARG, "%.60s: not a spool ID", id), -1;
	if ((r = there(q, "sent", id, NULL)) != 1) {
		if (r < 0)
			fail(err, errlen, QUEUE_ERR_IO, "%s: %s", id, strerror(errno));
		return r;
	}
	if ((p = path_of(q, "back", id)) == NULL)
		return fail(err, errlen, QUEUE_ERR_NOMEM, "out of memory"), -1;
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	r = fd >= 0 ? 1 : errno == EEXIST ? 0 : -1;
	if (fd >= 0 && (close(fd) != 0 || dir_sync(q, "back") != 0)) {
		(void)unlink(p);
		r = -1;
	}
	if (r < 0)
		fail(err, errlen, QUEUE_ERR_IO, "%s: %s", p, strerror(errno));
	free(p);
	return r;
}

queue_status_t
queue_back_unclaim(queue_t *q, const char *id, char *err, size_t errlen)
{
	return unrecord(q, "back", id, err, errlen);
}

int
queue_handed(queue_t *q, const char *id, long long *age)
{
	time_t when = 0;

	*age = 0;
	if (!id_ok(id) || there(q, "sent", id, &when) != 1)
		return QUEUE_HANDED_NONE;
	*age = (long long)(time(NULL) - when);
	return there(q, "back", id, NULL) == 1 ? QUEUE_HANDED_BACK : QUEUE_HANDED_STARTED;
}

/* Prunes one records directory (see queue_prune_sent()). */
static size_t
prune(queue_t *q, const char *sub, long long max_age, size_t limit)
{
	char *p = path_of(q, sub, NULL);
	DIR *d = p ? opendir(p) : NULL;
	struct dirent *de;
	time_t now = time(NULL), when;
	size_t seen = 0, n = 0;

	while (d != NULL && seen < limit && (de = readdir(d)) != NULL) {
		char *f;

		if (!id_ok(de->d_name))
			continue;
		seen++;
		if (there(q, sub, de->d_name, &when) == 1 && (long long)(now - when) >= max_age
		    && there(q, state_dir[QUEUE_ACTIVE], de->d_name, NULL) == 0
		    && (f = path_of(q, sub, de->d_name)) != NULL) {
			n += unlink(f) == 0;
			free(f);
		}
	}
	if (d != NULL)
		closedir(d);
	free(p);
	if (n > 0)
		(void)dir_sync(q, sub);
	return n;
}

size_t
queue_prune_sent(queue_t *q, long long max_age, size_t limit)
{
	return prune(q, "sent", max_age, limit) + prune(q, "back", max_age, limit)
	    + prune(q, "clear", max_age, limit);
}
